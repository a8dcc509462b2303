//! The control state against real SQLite files in temporary folders.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};

use ferry_control::{
    ActivationKind, Applied, Control, ControlError, DEFAULT_ENV, DEFAULT_ORG, Mutation, NewRelease,
    Principal,
};
use rusqlite::Connection;
use tempfile::TempDir;

const PROD: &str = DEFAULT_ENV;
fn actor() -> Principal {
    Principal::system("test")
}

fn home() -> TempDir {
    tempfile::tempdir().expect("temp dir")
}

fn open(home: &Path) -> Control {
    Control::open(home).expect("open")
}

fn raw(home: &Path) -> Connection {
    Connection::open(home.join("ferry.db")).expect("raw open")
}

fn count(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).expect(sql)
}

fn create(c: &mut Control, name: &str) {
    let applied = c
        .apply(
            &actor(),
            Mutation::CreateApp {
                name: name.into(),
                source_path: Some(format!("/src/{name}")),
                org: None,
            },
        )
        .expect("create app");
    assert_eq!(applied, Applied::Created);
}

fn release(id: &str, created_at: u64) -> NewRelease {
    NewRelease {
        id: id.into(),
        created_at,
        source_commit: Some(format!("commit-{id}")),
        files: 3,
        bytes: 300,
        new_bytes: 100,
    }
}

fn record(c: &mut Control, app: &str, id: &str, created_at: u64) -> Applied {
    c.apply(
        &actor(),
        Mutation::RecordRelease {
            app: app.into(),
            env: PROD.into(),
            release: release(id, created_at),
        },
    )
    .expect("record")
}

fn activate(c: &mut Control, app: &str, id: &str, action: ActivationKind) -> Applied {
    c.apply(
        &actor(),
        Mutation::Activate {
            app: app.into(),
            env: PROD.into(),
            release_id: id.into(),
            action,
        },
    )
    .expect("activate")
}

fn deploy(c: &mut Control, app: &str, id: &str, created_at: u64) -> Applied {
    record(c, app, id, created_at);
    activate(c, app, id, ActivationKind::Deploy)
}

fn set_secret(c: &mut Control, app: &str, name: &str, value: &str) -> Applied {
    c.apply(
        &actor(),
        Mutation::SetSecret {
            app: app.into(),
            env: PROD.into(),
            name: name.into(),
            value: value.into(),
            scope: ferry_control::SecretScope::Both,
        },
    )
    .expect("set secret")
}

fn live_id(c: &Control, app: &str) -> Option<String> {
    c.live(app, PROD).expect("live").map(|l| l.release_id)
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}

#[test]
fn open_creates_the_database_and_a_private_key_and_reopening_is_idempotent() {
    let home = home();
    let dir = home.path().join("nested/ferry-home");
    let c = open(&dir);
    assert_eq!(c.db_path(), dir.join("ferry.db"));
    let key_path = dir.join("secret.key");
    assert_eq!(mode(&key_path), 0o600);
    assert_eq!(mode(&dir.join("ferry.db")), 0o600);
    for side in ["ferry.db-wal", "ferry.db-shm"] {
        assert_eq!(mode(&dir.join(side)), 0o600, "{side}");
    }
    assert_eq!(mode(&dir), 0o700);
    let key = fs::read(&key_path).expect("key");
    assert_eq!(key.len(), 32);
    assert!(c.apps().expect("apps").is_empty());
    drop(c);

    let c = open(&dir);
    assert_eq!(fs::read(&key_path).expect("key"), key, "the key is kept");
    drop(c);
    let db = raw(&dir);
    assert_eq!(count(&db, "SELECT count(*) FROM _ferry_migrations"), 3);
    assert_eq!(count(&db, "SELECT count(*) FROM orgs"), 1);
    assert_eq!(count(&db, "SELECT count(*) FROM environments"), 1);
    let (org, env): (String, String) = db
        .query_row(
            "SELECT o.name, e.name FROM orgs o JOIN environments e ON e.org_id = o.id",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("defaults");
    assert_eq!((org.as_str(), env.as_str()), (DEFAULT_ORG, DEFAULT_ENV));
    let journal: String = db
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("journal mode");
    assert_eq!(journal, "wal");
}

#[test]
fn a_modified_migration_is_refused() {
    let home = home();
    drop(open(home.path()));
    raw(home.path())
        .execute(
            "UPDATE _ferry_migrations SET checksum = 'edited' WHERE version = 1",
            [],
        )
        .expect("tamper");
    let err = Control::open(home.path()).expect_err("refused");
    assert_eq!(err.code(), "migration-modified");
    assert!(err.to_string().contains("migration 1"), "{err}");
    assert!(!err.hint().is_empty());
}

#[test]
fn creating_apps_validates_names_and_refuses_duplicates() {
    let home = home();
    let mut c = open(home.path());
    create(&mut c, "my-app");
    let app = c.app("my-app").expect("query").expect("exists");
    assert_eq!(app.org, DEFAULT_ORG);
    assert_eq!(app.source_path.as_deref(), Some("/src/my-app"));
    assert!(app.created_at > 0);

    for bad in [
        "",
        "My-App",
        "my_app",
        "-app",
        "app-",
        "a/b",
        &"a".repeat(64),
    ] {
        let err = c
            .apply(
                &actor(),
                Mutation::CreateApp {
                    name: bad.into(),
                    source_path: None,
                    org: None,
                },
            )
            .expect_err(bad);
        assert_eq!(err.code(), "invalid-name", "{bad}");
        assert!(err.is_bad_input());
    }
    let err = c
        .apply(
            &actor(),
            Mutation::CreateApp {
                name: "my-app".into(),
                source_path: None,
                org: None,
            },
        )
        .expect_err("duplicate");
    assert_eq!(err.code(), "app-exists");
    assert_eq!(c.apps().expect("apps").len(), 1);
    assert!(c.app("other").expect("query").is_none());
    let err = c.apply(
        &Principal::system(""),
        Mutation::DeleteApp {
            name: "my-app".into(),
        },
    );
    assert_eq!(err.expect_err("empty actor").code(), "invalid-value");
}

#[test]
fn deploy_rollback_promote() {
    let home = home();
    let mut c = open(home.path());
    create(&mut c, "web");
    assert_eq!(c.live("web", PROD).expect("live"), None);
    assert_eq!(c.previous_release("web", PROD).expect("previous"), None);

    assert_eq!(
        deploy(&mut c, "web", "a", 1_000),
        Applied::Activated { previous: None }
    );
    assert_eq!(c.previous_release("web", PROD).expect("previous"), None);
    assert_eq!(
        deploy(&mut c, "web", "b", 2_000),
        Applied::Activated {
            previous: Some("a".into())
        }
    );
    assert_eq!(live_id(&c, "web").as_deref(), Some("b"));
    assert_eq!(
        c.previous_release("web", PROD)
            .expect("previous")
            .as_deref(),
        Some("a")
    );

    // Rollback to the default target: the previous release.
    let target = c
        .previous_release("web", PROD)
        .expect("previous")
        .expect("some");
    assert_eq!(
        activate(&mut c, "web", &target, ActivationKind::Rollback),
        Applied::Activated {
            previous: Some("b".into())
        }
    );
    assert_eq!(live_id(&c, "web").as_deref(), Some("a"));
    assert_eq!(
        c.previous_release("web", PROD)
            .expect("previous")
            .as_deref(),
        Some("b")
    );

    // Promote undoes the rollback.
    assert_eq!(
        activate(&mut c, "web", "b", ActivationKind::Promote),
        Applied::Activated {
            previous: Some("a".into())
        }
    );
    let live = c.live("web", PROD).expect("live").expect("some");
    assert_eq!((live.app.as_str(), live.env.as_str()), ("web", PROD));
    assert_eq!(live.release_id, "b");
    assert!(live.activated_at > 0);
    // Activating what is already live changes nothing.
    assert_eq!(
        activate(&mut c, "web", "b", ActivationKind::Deploy),
        Applied::Unchanged
    );

    let history = c.activations("web", PROD, 10).expect("activations");
    let summary: Vec<_> = history
        .iter()
        .map(|a| {
            (
                a.release_id.as_str(),
                a.previous_release_id.as_deref(),
                a.action,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("b", Some("a"), ActivationKind::Promote),
            ("a", Some("b"), ActivationKind::Rollback),
            ("b", Some("a"), ActivationKind::Deploy),
            ("a", None, ActivationKind::Deploy),
        ]
    );
    assert!(
        history
            .iter()
            .all(|a| a.by == "test" && a.app == "web" && a.env == PROD)
    );
    assert_eq!(c.activations("web", PROD, 1).expect("limit").len(), 1);

    let releases = c.releases("web", PROD).expect("releases");
    let ids: Vec<_> = releases.iter().map(|r| (r.id.as_str(), r.live)).collect();
    assert_eq!(
        ids,
        [("b", true), ("a", false)],
        "newest first, live flagged"
    );
    assert_eq!(releases[0].created_by, "test");
    assert_eq!(releases[0].source_commit.as_deref(), Some("commit-b"));
    assert_eq!(
        (releases[0].files, releases[0].bytes, releases[0].new_bytes),
        (3, 300, 100)
    );
    let a = c.release("web", "a").expect("release").expect("some");
    assert!(!a.live);
    assert_eq!(a.created_at, 1_000);
    assert_eq!(c.release("web", "zzz").expect("release"), None);

    // Recording the same id again is idempotent.
    assert_eq!(record(&mut c, "web", "a", 9_999), Applied::Unchanged);
    assert_eq!(
        c.release("web", "a")
            .expect("release")
            .expect("some")
            .created_at,
        1_000
    );

    // The action is stored as its kebab-case name.
    drop(c);
    let actions: Vec<String> = raw(home.path())
        .prepare("SELECT action FROM activations ORDER BY seq")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(actions, ["deploy", "deploy", "rollback", "promote"]);
}

#[test]
fn activating_an_unrecorded_release_is_refused_and_changes_nothing() {
    let home = home();
    let mut c = open(home.path());
    create(&mut c, "web");
    deploy(&mut c, "web", "a", 1);
    let before = c.activations("web", PROD, 100).expect("activations");

    let err = c
        .apply(
            &actor(),
            Mutation::Activate {
                app: "web".into(),
                env: PROD.into(),
                release_id: "never-recorded".into(),
                action: ActivationKind::Deploy,
            },
        )
        .expect_err("refused");
    assert_eq!(err.code(), "release-not-found");
    assert_eq!(live_id(&c, "web").as_deref(), Some("a"));
    assert_eq!(
        c.activations("web", PROD, 100).expect("activations"),
        before
    );

    // A release of another app does not count.
    create(&mut c, "api");
    record(&mut c, "api", "api-1", 1);
    let err = c
        .apply(
            &actor(),
            Mutation::Activate {
                app: "web".into(),
                env: PROD.into(),
                release_id: "api-1".into(),
                action: ActivationKind::Deploy,
            },
        )
        .expect_err("refused");
    assert_eq!(err.code(), "release-not-found");
    assert_eq!(live_id(&c, "web").as_deref(), Some("a"));

    let err = c
        .apply(
            &actor(),
            Mutation::Activate {
                app: "nope".into(),
                env: PROD.into(),
                release_id: "a".into(),
                action: ActivationKind::Deploy,
            },
        )
        .expect_err("refused");
    assert_eq!(err.code(), "app-not-found");
}

#[test]
fn unknown_environments_are_refused_for_writes_and_empty_for_reads() {
    let home = home();
    let mut c = open(home.path());
    create(&mut c, "web");
    let err = c
        .apply(
            &actor(),
            Mutation::RecordRelease {
                app: "web".into(),
                env: "staging".into(),
                release: release("a", 1),
            },
        )
        .expect_err("refused");
    assert_eq!(err.code(), "environment-not-found");
    let err = c
        .apply(
            &actor(),
            Mutation::SetSecret {
                app: "web".into(),
                env: "Bad Env".into(),
                name: "X".into(),
                value: "v".into(),
                scope: ferry_control::SecretScope::Both,
            },
        )
        .expect_err("refused");
    assert_eq!(err.code(), "invalid-name");
    assert!(c.releases("web", "staging").expect("releases").is_empty());
    assert_eq!(
        c.releases("nope", PROD).expect_err("no app").code(),
        "app-not-found"
    );
}

#[test]
fn all_live_survives_a_reopen() {
    let home = home();
    {
        let mut c = open(home.path());
        for app in ["web", "api", "docs"] {
            create(&mut c, app);
        }
        deploy(&mut c, "web", "w1", 1);
        deploy(&mut c, "web", "w2", 2);
        deploy(&mut c, "api", "a1", 1);
        // `docs` has a release but nothing live.
        record(&mut c, "docs", "d1", 1);
    }
    let c = open(home.path());
    let live: Vec<_> = c
        .all_live()
        .expect("all live")
        .into_iter()
        .map(|l| (l.app, l.env, l.release_id))
        .collect();
    assert_eq!(
        live,
        [
            ("api".to_string(), PROD.to_string(), "a1".to_string()),
            ("web".to_string(), PROD.to_string(), "w2".to_string()),
        ]
    );
}

#[test]
fn recent_live_releases_are_distinct_and_most_recent_first() {
    let home = home();
    let mut c = open(home.path());
    create(&mut c, "web");
    assert!(
        c.recent_live_releases("web", PROD, 5)
            .expect("recent")
            .is_empty()
    );
    deploy(&mut c, "web", "a", 1);
    deploy(&mut c, "web", "b", 2);
    deploy(&mut c, "web", "c", 3);
    activate(&mut c, "web", "b", ActivationKind::Rollback);
    deploy(&mut c, "web", "d", 4);
    activate(&mut c, "web", "b", ActivationKind::Rollback);
    assert_eq!(
        c.recent_live_releases("web", PROD, 10).expect("recent"),
        ["b", "d", "c", "a"]
    );
    assert_eq!(
        c.recent_live_releases("web", PROD, 2).expect("recent"),
        ["b", "d"]
    );
    assert!(
        c.recent_live_releases("web", PROD, 0)
            .expect("recent")
            .is_empty()
    );
}

#[test]
fn secrets_set_list_values_unset() {
    let home = home();
    let mut c = open(home.path());
    create(&mut c, "web");
    assert_eq!(
        set_secret(&mut c, "web", "DATABASE_URL", "postgres://u:pw@h/db"),
        Applied::SecretSet
    );
    assert_eq!(
        set_secret(&mut c, "web", "API_KEY", "first"),
        Applied::SecretSet
    );
    assert_eq!(
        set_secret(&mut c, "web", "API_KEY", "second"),
        Applied::SecretSet
    );
    assert_eq!(names(&c, "web"), ["API_KEY", "DATABASE_URL"]);
    let values = c.secret_values("web", PROD).expect("values");
    assert_eq!(values.len(), 2);
    assert_eq!(values["API_KEY"], "second");
    assert_eq!(values["DATABASE_URL"], "postgres://u:pw@h/db");

    for bad in ["lower", "1ABC", "WITH-DASH", ""] {
        let err = c
            .apply(
                &actor(),
                Mutation::SetSecret {
                    app: "web".into(),
                    env: PROD.into(),
                    name: bad.into(),
                    value: "v".into(),
                    scope: ferry_control::SecretScope::Both,
                },
            )
            .expect_err(bad);
        assert_eq!(err.code(), "invalid-name");
    }
    let err = c
        .apply(
            &actor(),
            Mutation::SetSecret {
                app: "web".into(),
                env: PROD.into(),
                name: "HUGE".into(),
                value: "x".repeat(64 * 1024 + 1),
                scope: ferry_control::SecretScope::Both,
            },
        )
        .expect_err("too large");
    assert_eq!(err.code(), "invalid-value");

    let unset = |c: &mut Control, name: &str| {
        c.apply(
            &actor(),
            Mutation::UnsetSecret {
                app: "web".into(),
                env: PROD.into(),
                name: name.into(),
            },
        )
        .expect("unset")
    };
    assert_eq!(unset(&mut c, "API_KEY"), Applied::SecretUnset);
    assert_eq!(unset(&mut c, "API_KEY"), Applied::Unchanged);
    assert_eq!(names(&c, "web"), ["DATABASE_URL"]);
    assert_eq!(c.secret_values("web", PROD).expect("values").len(), 1);
}

#[test]
fn secret_values_are_not_in_the_database_files() {
    let home = home();
    let plaintext = "correct-horse-battery-staple-42";
    {
        let mut c = open(home.path());
        create(&mut c, "needle-app");
        set_secret(&mut c, "needle-app", "PASSPHRASE", plaintext);
        // Read the files while the connection is open, so the WAL is still there.
        let bytes = db_bytes(home.path());
        assert!(contains(&bytes, b"needle-app"), "the test would be vacuous");
        assert!(contains(&bytes, b"PASSPHRASE"));
        assert!(!contains(&bytes, plaintext.as_bytes()));
        let debug = format!(
            "{:?}",
            Mutation::SetSecret {
                app: "needle-app".into(),
                env: PROD.into(),
                name: "PASSPHRASE".into(),
                value: plaintext.into(),
                scope: ferry_control::SecretScope::Both,
            }
        );
        assert!(!debug.contains(plaintext), "{debug}");
        assert!(!format!("{c:?}").contains(plaintext));
    }
    // And after the last connection closed (checkpointed into ferry.db).
    let bytes = db_bytes(home.path());
    assert!(contains(&bytes, b"needle-app"));
    assert!(!contains(&bytes, plaintext.as_bytes()));
}

fn db_bytes(home: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for file in ["ferry.db", "ferry.db-wal"] {
        if let Ok(bytes) = fs::read(home.join(file)) {
            all.extend(bytes);
        }
    }
    all
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn a_different_key_fails_with_decrypt_failed() {
    let home = home();
    {
        let mut c = open(home.path());
        create(&mut c, "web");
        set_secret(&mut c, "web", "TOKEN", "t0ken-value");
    }
    let key_path = home.path().join("secret.key");
    fs::write(&key_path, [0x5a; 32]).expect("replace key");
    assert_eq!(mode(&key_path), 0o600, "fs::write keeps the mode");
    let c = open(home.path());
    assert_eq!(names(&c, "web"), ["TOKEN"]);
    let err = c.secret_values("web", PROD).expect_err("wrong key");
    assert_eq!(err.code(), "decrypt-failed");
    assert!(err.hint().contains("key"), "{}", err.hint());
    assert!(!err.to_string().contains("t0ken-value"));
}

#[test]
fn a_ciphertext_moved_to_another_name_does_not_decrypt() {
    let home = home();
    {
        let mut c = open(home.path());
        create(&mut c, "web");
        set_secret(&mut c, "web", "ADMIN_TOKEN", "admin");
        set_secret(&mut c, "web", "PUBLIC_TOKEN", "public");
    }
    raw(home.path())
        .execute(
            "UPDATE secrets SET (nonce, ciphertext) =
                (SELECT nonce, ciphertext FROM secrets WHERE name = 'ADMIN_TOKEN')
             WHERE name = 'PUBLIC_TOKEN'",
            [],
        )
        .expect("move ciphertext");
    let err = open(home.path())
        .secret_values("web", PROD)
        .expect_err("moved");
    assert_eq!(err.code(), "decrypt-failed");
    assert!(
        matches!(err, ControlError::DecryptFailed { ref name, .. } if name == "PUBLIC_TOKEN"),
        "{err:?}"
    );
}

#[test]
fn a_key_file_readable_by_others_is_refused() {
    let home = home();
    let key_path = home.path().join("secret.key");
    fs::write(&key_path, [7u8; 32]).expect("write key");
    fs::set_permissions(&key_path, fs::Permissions::from_mode(0o644)).expect("chmod");
    let err = Control::open(home.path()).expect_err("refused");
    assert_eq!(err.code(), "key-permissions");
    assert!(err.hint().contains("chmod 600"), "{}", err.hint());
    assert!(
        !home.path().join("ferry.db").exists(),
        "refused before the database was touched"
    );

    fs::set_permissions(&key_path, fs::Permissions::from_mode(0o600)).expect("chmod");
    drop(open(home.path()));
    assert_eq!(
        fs::read(&key_path).expect("key"),
        [7u8; 32],
        "the existing key is used"
    );

    fs::write(&key_path, [7u8; 16]).expect("truncate");
    let err = Control::open(home.path()).expect_err("short key");
    assert_eq!(err.code(), "key-invalid");
}

#[test]
fn deleting_an_app_removes_all_its_rows() {
    let home = home();
    let mut c = open(home.path());
    for app in ["doomed", "kept"] {
        create(&mut c, app);
        deploy(&mut c, app, "r1", 1);
        deploy(&mut c, app, "r2", 2);
        activate(&mut c, app, "r1", ActivationKind::Rollback);
        set_secret(&mut c, app, "TOKEN", "value");
    }
    assert_eq!(
        c.apply(
            &actor(),
            Mutation::DeleteApp {
                name: "doomed".into()
            }
        )
        .expect("delete"),
        Applied::Deleted
    );
    assert!(c.app("doomed").expect("app").is_none());
    assert_eq!(
        c.live("doomed", PROD).expect_err("gone").code(),
        "app-not-found"
    );
    let err = c
        .apply(
            &actor(),
            Mutation::DeleteApp {
                name: "doomed".into(),
            },
        )
        .expect_err("already gone");
    assert_eq!(err.code(), "app-not-found");

    let db = raw(home.path());
    for table in ["apps", "releases", "live", "activations", "secrets"] {
        let key = if table == "apps" { "id" } else { "app_id" };
        let rows = count(
            &db,
            &format!(
                "SELECT count(*) FROM {table} WHERE {key} NOT IN (SELECT id FROM apps WHERE name = 'kept')"
            ),
        );
        assert_eq!(rows, 0, "{table} still has rows of the deleted app");
    }
    // The other app is untouched.
    assert_eq!(live_id(&c, "kept").as_deref(), Some("r1"));
    assert_eq!(c.activations("kept", PROD, 10).expect("history").len(), 3);
    assert_eq!(
        c.secret_values("kept", PROD).expect("secrets")["TOKEN"],
        "value"
    );

    // The name can be used again, starting from nothing.
    create(&mut c, "doomed");
    assert!(c.releases("doomed", PROD).expect("releases").is_empty());
    assert!(names(&c, "doomed").is_empty());
}

#[test]
fn a_second_connection_reads_consistent_state_while_the_first_writes() {
    const ROUNDS: u64 = 200;
    let home = home();
    let mut writer = open(home.path());
    create(&mut writer, "web");
    for i in 0..ROUNDS {
        record(&mut writer, "web", &format!("r{i}"), i);
    }
    activate(&mut writer, "web", "r0", ActivationKind::Deploy);

    let reader = open(home.path());
    let done = Arc::new(AtomicBool::new(false));
    let start = Arc::new(Barrier::new(2));
    let writing = {
        let (done, start) = (Arc::clone(&done), Arc::clone(&start));
        std::thread::spawn(move || {
            start.wait();
            for i in 1..ROUNDS {
                activate(&mut writer, "web", &format!("r{i}"), ActivationKind::Deploy);
            }
            done.store(true, Ordering::SeqCst);
            writer
        })
    };
    start.wait();
    let mut last_seen = 0;
    let mut reads = 0;
    loop {
        let finished = done.load(Ordering::SeqCst);
        // One snapshot per call: exactly one release is live, and it is the newest activation.
        let releases = releases_of_web(&reader);
        let live: Vec<_> = releases.iter().filter(|r| r.live).collect();
        assert_eq!(live.len(), 1, "exactly one live release in every snapshot");
        let index: u64 = live[0].id[1..].parse().expect("index");
        assert!(index >= last_seen, "the live pointer never goes back");
        last_seen = index;
        let history = reader.activations("web", PROD, 1).expect("activations");
        let newest: u64 = history[0].release_id[1..].parse().expect("index");
        assert!(newest >= index);
        reads += 1;
        if finished {
            break;
        }
    }
    let writer = writing.join().expect("writer thread");
    assert!(reads > 0);
    assert_eq!(live_id(&reader, "web"), Some(format!("r{}", ROUNDS - 1)));
    assert_eq!(live_id(&writer, "web"), live_id(&reader, "web"));
    assert_eq!(
        reader
            .activations("web", PROD, usize::MAX)
            .expect("activations")
            .len() as u64,
        ROUNDS
    );
}

fn releases_of_web(c: &Control) -> Vec<ferry_control::ReleaseRecord> {
    c.releases("web", PROD).expect("releases")
}

#[test]
fn applied_and_records_serialise_as_json() {
    let json = serde_json::to_value(Applied::Activated {
        previous: Some("a".into()),
    })
    .expect("json");
    assert_eq!(
        json,
        serde_json::json!({"outcome": "activated", "previous": "a"})
    );
    assert_eq!(
        serde_json::to_value(ActivationKind::Rollback).expect("json"),
        "rollback"
    );
    let home = home();
    let mut c = open(home.path());
    create(&mut c, "web");
    deploy(&mut c, "web", "a", 5);
    let record = c.release("web", "a").expect("release").expect("some");
    let back: ferry_control::ReleaseRecord =
        serde_json::from_value(serde_json::to_value(&record).expect("json")).expect("parse");
    assert_eq!(back, record);
}

/// The names `secret_list` shows.
fn names(c: &Control, app: &str) -> Vec<String> {
    c.secret_list(app, PROD)
        .expect("list")
        .into_iter()
        .map(|s| s.name)
        .collect()
}
