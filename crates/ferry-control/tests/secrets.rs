//! Env scopes, frozen release environments and master-key rotation, against real files.

use std::fs;
use std::path::Path;

use ferry_control::{
    ActivationKind, Applied, Control, DEFAULT_ENV, Mutation, NewRelease, Principal, SecretScope,
};

const PROD: &str = DEFAULT_ENV;

fn owner() -> Principal {
    Principal::local()
}

fn setup(home: &Path, key: Option<&str>) -> Control {
    let mut c = Control::open_with_key(home, key).expect("open");
    c.apply(
        &owner(),
        Mutation::CreateApp {
            name: "web".into(),
            source_path: None,
            org: None,
        },
    )
    .expect("app");
    for (id, at) in [("r1", 1), ("r2", 2)] {
        c.apply(
            &owner(),
            Mutation::RecordRelease {
                app: "web".into(),
                env: PROD.into(),
                release: NewRelease {
                    id: id.into(),
                    created_at: at,
                    source_commit: None,
                    files: 1,
                    bytes: 1,
                    new_bytes: 1,
                },
            },
        )
        .expect("release");
    }
    c
}

fn set(c: &mut Control, name: &str, value: &str, scope: SecretScope) {
    let applied = c
        .apply(
            &owner(),
            Mutation::SetSecret {
                app: "web".into(),
                env: PROD.into(),
                name: name.into(),
                value: value.into(),
                scope,
            },
        )
        .expect("set");
    assert_eq!(applied, Applied::SecretSet);
}

fn write_private(path: &Path, bytes: &[u8]) {
    use std::os::unix::fs::PermissionsExt;
    fs::write(path, bytes).expect("write");
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).expect("chmod");
}

fn files_contain(home: &Path, needle: &str) -> bool {
    let mut found = false;
    for entry in fs::read_dir(home).expect("home") {
        let bytes = fs::read(entry.expect("entry").path()).unwrap_or_default();
        found |= bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
    }
    found
}

#[test]
fn scopes_split_the_build_and_the_runtime_and_listings_show_no_value() {
    let home = tempfile::tempdir().expect("tmp");
    let mut c = setup(home.path(), None);
    set(&mut c, "BUILD_TOKEN", "b-value-1", SecretScope::Build);
    set(&mut c, "RUNTIME_TOKEN", "r-value-1", SecretScope::Runtime);
    set(&mut c, "SHARED", "s-value-1", SecretScope::Both);
    set(
        &mut c,
        "FERRY_DATABASE_URL",
        "sqlite://x",
        SecretScope::Both,
    );
    let build = c.build_env("web", PROD).expect("build");
    assert_eq!(
        build.keys().collect::<Vec<_>>(),
        ["BUILD_TOKEN", "SHARED"],
        "ferry's own settings never reach a build"
    );
    let runtime = c.runtime_env("web", PROD).expect("runtime");
    assert_eq!(
        runtime.keys().collect::<Vec<_>>(),
        ["RUNTIME_TOKEN", "SHARED"]
    );
    let list = c.secret_list("web", PROD).expect("list");
    assert_eq!(list.len(), 4);
    let json = serde_json::to_string(&list).expect("json");
    for value in ["b-value-1", "r-value-1", "s-value-1"] {
        assert!(!json.contains(value), "{json}");
    }
    let build_token = list
        .iter()
        .find(|s| s.name == "BUILD_TOKEN")
        .expect("listed");
    assert_eq!(build_token.scope, SecretScope::Build);
    assert_eq!(build_token.fingerprint.len(), 12);
    // Same value, same fingerprint; another value, another one.
    set(&mut c, "SHARED", "b-value-1", SecretScope::Both);
    let list = c.secret_list("web", PROD).expect("list");
    let fp = |n: &str| {
        list.iter()
            .find(|s| s.name == n)
            .expect(n)
            .fingerprint
            .clone()
    };
    assert_eq!(fp("SHARED"), fp("BUILD_TOKEN"));
    assert_ne!(fp("RUNTIME_TOKEN"), fp("BUILD_TOKEN"));
}

#[test]
fn a_release_keeps_the_env_it_was_frozen_with() {
    let home = tempfile::tempdir().expect("tmp");
    let mut c = setup(home.path(), None);
    assert_eq!(c.frozen_env("web", PROD, "r1").expect("frozen"), None);
    set(&mut c, "TOKEN", "old-value", SecretScope::Runtime);
    set(&mut c, "BUILD_ONLY", "build-value", SecretScope::Build);
    let frozen = c.freeze_env(&owner(), "web", PROD, "r1").expect("freeze");
    assert_eq!((frozen.vars, frozen.changed), (1, true));
    set(&mut c, "TOKEN", "new-value", SecretScope::Runtime);
    c.freeze_env(&owner(), "web", PROD, "r2").expect("freeze");
    let r1 = c
        .frozen_env("web", PROD, "r1")
        .expect("r1")
        .expect("frozen");
    let r2 = c
        .frozen_env("web", PROD, "r2")
        .expect("r2")
        .expect("frozen");
    assert_eq!(r1["TOKEN"], "old-value");
    assert_eq!(r2["TOKEN"], "new-value");
    assert!(
        !r1.contains_key("BUILD_ONLY"),
        "build-only values are not frozen"
    );
    // Freezing again with the same values changes nothing; with new ones it does.
    let again = c.freeze_env(&owner(), "web", PROD, "r2").expect("freeze");
    assert!(!again.changed);
    let refrozen = c.freeze_env(&owner(), "web", PROD, "r1").expect("freeze");
    assert!(refrozen.changed);
    assert_eq!(
        c.frozen_env("web", PROD, "r1")
            .expect("r1")
            .expect("frozen")["TOKEN"],
        "new-value"
    );
    // An empty env is frozen too (a row says so).
    c.apply(
        &owner(),
        Mutation::UnsetSecret {
            app: "web".into(),
            env: PROD.into(),
            name: "TOKEN".into(),
        },
    )
    .expect("unset");
    c.freeze_env(&owner(), "web", PROD, "r2").expect("freeze");
    assert_eq!(
        c.frozen_env("web", PROD, "r2").expect("r2"),
        Some(Default::default())
    );
    assert!(!files_contain(home.path(), "old-value"));
    assert!(!files_contain(home.path(), "new-value"));
    // Unknown releases are refused; a read-only principal may not freeze.
    assert_eq!(
        c.freeze_env(&owner(), "web", PROD, "nope")
            .expect_err("unknown")
            .code(),
        "release-not-found"
    );
    assert!(c.audit_verify().expect("verify").ok);
    let entries = c
        .audit_entries(&owner(), &Default::default())
        .expect("audit");
    assert!(entries.iter().any(|e| e.action == "freeze-env"));
}

#[test]
fn rotating_the_key_reencrypts_everything_and_keeps_the_audit_chain() {
    let home = tempfile::tempdir().expect("tmp");
    let mut c = setup(home.path(), None);
    set(&mut c, "TOKEN", "rotate-me-value", SecretScope::Both);
    c.freeze_env(&owner(), "web", PROD, "r1").expect("freeze");
    c.apply(
        &owner(),
        Mutation::Activate {
            app: "web".into(),
            env: PROD.into(),
            release_id: "r1".into(),
            action: ActivationKind::Deploy,
        },
    )
    .expect("activate");
    let key_path = home.path().join("secret.key");
    let old_key = fs::read(&key_path).expect("key");
    let old_hex: String = old_key.iter().map(|b| format!("{b:02x}")).collect();
    let db = home.path().join("ferry.db");
    let secret_row = |db: &Path| -> (Vec<u8>, Vec<u8>) {
        let conn = rusqlite::Connection::open(db).expect("raw");
        conn.query_row("SELECT nonce, ciphertext FROM secrets", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .expect("row")
    };
    let before = secret_row(&db);

    // Only the machine's owner rotates.
    let mut stranger = Principal::local();
    stranger.org = Some("default".into());
    assert_eq!(
        c.rotate_key(&stranger).expect_err("refused").code(),
        "forbidden"
    );

    let rotation = c.rotate_key(&owner()).expect("rotate");
    assert_eq!((rotation.secrets, rotation.frozen), (1, 1));
    assert!(rotation.new_key.is_none(), "the key file was replaced");
    assert!(rotation.audit_entries > 0);
    let new_key = fs::read(&key_path).expect("key");
    assert_eq!(new_key.len(), 32);
    assert_ne!(new_key, old_key);
    assert!(!home.path().join("secret.key.next").exists());
    assert_ne!(secret_row(&db), before, "re-encrypted with a fresh nonce");
    // Everything opens with the new key, in this handle and after a reopen.
    assert_eq!(
        c.runtime_env("web", PROD).expect("env")["TOKEN"],
        "rotate-me-value"
    );
    assert!(c.audit_verify().expect("verify").ok);
    drop(c);
    let c = Control::open(home.path()).expect("reopen");
    assert_eq!(
        c.runtime_env("web", PROD).expect("env")["TOKEN"],
        "rotate-me-value"
    );
    assert_eq!(
        c.frozen_env("web", PROD, "r1")
            .expect("frozen")
            .expect("some")["TOKEN"],
        "rotate-me-value"
    );
    let v = c.audit_verify().expect("verify");
    assert!(v.ok, "{}", v.problem);
    assert!(
        c.audit_entries(&owner(), &Default::default())
            .expect("audit")
            .iter()
            .any(|e| e.action == "rotate-key" && e.outcome == ferry_control::audit::Outcome::Ok)
    );
    drop(c);
    // The old key opens nothing any more, and the chain does not verify with it.
    let old = Control::open_with_key(home.path(), Some(&old_hex)).expect("open with old");
    assert_eq!(
        old.runtime_env("web", PROD).expect_err("old key").code(),
        "decrypt-failed"
    );
    assert_eq!(
        old.frozen_env("web", PROD, "r1")
            .expect_err("old key")
            .code(),
        "decrypt-failed"
    );
    assert!(!old.audit_verify().expect("verify").ok);
    assert!(!files_contain(home.path(), "rotate-me-value"));
}

#[test]
fn rotation_with_an_env_key_returns_the_new_key_once_and_an_interrupted_one_finishes() {
    let home = tempfile::tempdir().expect("tmp");
    let env_key = "42".repeat(32);
    let mut c = setup(home.path(), Some(&env_key));
    assert!(
        !home.path().join("secret.key").exists(),
        "no key file with FERRY_MASTER_KEY"
    );
    set(&mut c, "TOKEN", "env-key-value", SecretScope::Runtime);
    let rotation = c.rotate_key(&owner()).expect("rotate");
    let new_key = rotation.new_key.clone().expect("shown once");
    assert_eq!(new_key.len(), 64);
    assert!(!format!("{rotation:?}").contains(&new_key));
    assert!(!home.path().join("secret.key").exists());
    drop(c);
    let c = Control::open_with_key(home.path(), Some(&new_key)).expect("reopen");
    assert_eq!(
        c.runtime_env("web", PROD).expect("env")["TOKEN"],
        "env-key-value"
    );
    assert!(c.audit_verify().expect("verify").ok);
    drop(c);
    assert_eq!(
        Control::open_with_key(home.path(), Some("not-a-key"))
            .expect_err("malformed")
            .code(),
        "master-key-invalid"
    );

    // A key file home whose rotation committed but died before the rename.
    let home = tempfile::tempdir().expect("tmp");
    let mut c = setup(home.path(), None);
    set(&mut c, "TOKEN", "file-key-value", SecretScope::Both);
    let key_path = home.path().join("secret.key");
    let old = fs::read(&key_path).expect("key");
    c.rotate_key(&owner()).expect("rotate");
    drop(c);
    let new = fs::read(&key_path).expect("key");
    fs::rename(&key_path, home.path().join("secret.key.next")).expect("mv");
    write_private(&key_path, &old);
    let c = Control::open(home.path()).expect("reopen");
    assert_eq!(
        fs::read(&key_path).expect("key"),
        new,
        "the rotation finished"
    );
    assert!(!home.path().join("secret.key.next").exists());
    assert_eq!(
        c.build_env("web", PROD).expect("env")["TOKEN"],
        "file-key-value"
    );
    drop(c);
    // A leftover `.next` the database does not use is removed.
    write_private(&home.path().join("secret.key.next"), &[9u8; 32]);
    let c = Control::open(home.path()).expect("reopen");
    assert!(!home.path().join("secret.key.next").exists());
    assert_eq!(fs::read(&key_path).expect("key"), new);
    assert!(c.audit_verify().expect("verify").ok);
}

#[test]
fn a_tampered_audit_chain_is_not_resigned() {
    let home = tempfile::tempdir().expect("tmp");
    let mut c = setup(home.path(), None);
    set(&mut c, "TOKEN", "v", SecretScope::Both);
    let key_before = fs::read(home.path().join("secret.key")).expect("key");
    {
        let raw = rusqlite::Connection::open(home.path().join("ferry.db")).expect("raw");
        raw.execute("UPDATE audit SET actor = 'mallory' WHERE seq = 1", [])
            .expect("tamper");
    }
    let err = c.rotate_key(&owner()).expect_err("refused");
    assert_eq!(err.code(), "audit-broken");
    assert_eq!(
        fs::read(home.path().join("secret.key")).expect("key"),
        key_before
    );
    assert!(!home.path().join("secret.key.next").exists());
    assert_eq!(c.build_env("web", PROD).expect("env")["TOKEN"], "v");
}
