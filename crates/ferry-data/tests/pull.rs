//! `pull` and `verify` against real throwaway PostgreSQL clusters and a Supabase-shaped
//! source (`tests/fixtures/db/supabase.sql`, facts in `supabase.expected.toml`).

use std::path::PathBuf;

use ferry_data::{
    Cancel, DiffKind, Event, MemoryCheckpoints, Observer, PullOptions, Quiet, Selection,
    VerifyOptions, pull, verify,
};
use ferry_test::pg::{Cluster, Options, skip_if_unavailable};

fn fixture(name: &str) -> PathBuf {
    ferry_test::workspace_root()
        .join("tests/fixtures/db")
        .join(name)
}

#[derive(serde::Deserialize)]
struct Expected {
    counts: std::collections::BTreeMap<String, i64>,
    skipped_schemas: Vec<String>,
    policies: std::collections::BTreeMap<String, Vec<String>>,
    user: Vec<User>,
    value: Vec<Value>,
}

#[derive(serde::Deserialize)]
struct User {
    id: String,
    email: String,
    todos_visible: i64,
}

#[derive(serde::Deserialize)]
struct Value {
    sql: String,
    text: String,
}

fn expected() -> Expected {
    let text = std::fs::read_to_string(fixture("supabase.expected.toml")).expect("expected.toml");
    toml::from_str(&text).expect("expected.toml parses")
}

fn source() -> Cluster {
    let c = Cluster::start().expect("source cluster");
    c.create_database("src").expect("create src");
    c.psql_file("src", &fixture("supabase.sql"))
        .expect("load fixture");
    c
}

fn options() -> PullOptions {
    PullOptions {
        jobs: 2,
        ..Default::default()
    }
}

fn verify_options() -> VerifyOptions {
    VerifyOptions {
        jobs: 2,
        max_keys: 10,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn supabase_to_postgres_over_tls_keeps_users_policies_and_exact_values() {
    if skip_if_unavailable("supabase_to_postgres") {
        return;
    }
    let facts = expected();
    let src = Cluster::start_with(Options {
        ssl: true,
        ..Default::default()
    })
    .expect("ssl cluster");
    src.create_database("src").expect("create src");
    src.psql_file("src", &fixture("supabase.sql"))
        .expect("load fixture");
    let dst = Cluster::start().expect("target cluster");
    dst.create_database("dst").expect("create dst");
    let ca = src.ca_cert().expect("ca").display().to_string();
    let from = format!("{}?sslmode=verify-full&sslrootcert={ca}", src.url("src"));
    let to = format!("{}?sslmode=disable", dst.url("dst"));
    let store = MemoryCheckpoints::default();

    // A self-signed server is refused when the certificate must be verified against the
    // public roots, and accepted with `require` (encrypted, unverified) as libpq does.
    let err = verify(
        &format!("{}?sslmode=verify-full", src.url("src")),
        &to,
        &verify_options(),
        &store,
        &Quiet,
    )
    .await
    .err()
    .map(|e| e.code());
    assert_eq!(err, Some("tls"));

    let report = pull(&from, &to, &options(), &store, &Quiet)
        .await
        .expect("pull");
    assert!(!report.resumed);
    let copied: Vec<&str> = report.tables.iter().map(|t| t.table.as_str()).collect();
    assert!(
        copied.contains(&"auth.users") && copied.contains(&"auth.identities"),
        "{copied:?}"
    );
    assert!(!copied.contains(&"auth.sessions"), "{copied:?}");
    for schema in &facts.skipped_schemas {
        assert!(
            report.skipped.iter().any(|s| &s.what == schema),
            "{schema} not reported skipped"
        );
    }
    let storage = report.storage.as_ref().expect("storage report");
    assert_eq!((storage.buckets, storage.objects), (2, 5));

    let check = verify(
        &format!("{}?sslmode=require", src.url("src")),
        &to,
        &verify_options(),
        &store,
        &Quiet,
    )
    .await
    .expect("verify");
    assert!(
        check.equal,
        "{:#?}",
        check.tables.iter().filter(|t| !t.equal).collect::<Vec<_>>()
    );

    // Row counts of every copied table, hand-written in the facts.
    for t in &report.tables {
        let want = facts.counts[&t.table];
        assert_eq!(t.rows as i64, want, "{}", t.table);
        let got: i64 = dst
            .psql("dst", &format!("select count(*) from {}", t.table))
            .expect("count")
            .parse()
            .expect("n");
        assert_eq!(got, want, "{}", t.table);
    }
    // Internal schemas are not on the target.
    assert_eq!(
        dst.psql(
            "dst",
            "select count(*) from pg_namespace where nspname = 'realtime'"
        )
        .expect("q"),
        "0"
    );
    // Users keep their bcrypt hashes: the same hash, and it still checks the password.
    for u in &facts.user {
        let q = format!(
            "select encrypted_password from auth.users where id = '{}'",
            u.id
        );
        assert_eq!(
            dst.psql("dst", &q).expect("hash"),
            src.psql("src", &q).expect("hash")
        );
        let email: String = dst
            .psql(
                "dst",
                &format!("select email from auth.users where id = '{}'", u.id),
            )
            .expect("email");
        assert_eq!(email, u.email);
    }
    let pw_ok = dst
        .psql(
            "dst",
            // pgcrypto was recreated in its Supabase schema, `extensions`.
            "select encrypted_password = extensions.crypt('password-alice', encrypted_password) \
             from auth.users where email = 'alice@example.com'",
        )
        .expect("crypt");
    assert!(pw_ok.ends_with('t'), "{pw_ok}");
    // Policies exist and still filter rows for given claims.
    for (table, names) in &facts.policies {
        let (schema, name) = table.split_once('.').expect("qualified");
        let got = dst
            .psql(
                "dst",
                &format!(
                    "select string_agg(policyname, ',' order by policyname) from pg_policies where schemaname = '{schema}' and tablename = '{name}'"
                ),
            )
            .expect("policies");
        assert_eq!(got, names.join(","), "{table}");
    }
    for u in &facts.user {
        let visible = dst
            .psql(
                "dst",
                &format!(
                    "begin; set local role authenticated; select set_config('request.jwt.claims', '{{\"sub\":\"{}\",\"role\":\"authenticated\"}}', true); \
                     select count(*) from public.todos; commit;",
                    u.id
                ),
            )
            .expect("rls");
        assert!(
            visible.ends_with(&format!("\n{}", u.todos_visible)),
            "{}: {visible}",
            u.email
        );
    }
    let anon = dst
        .psql(
            "dst",
            "begin; set local role anon; select count(*) from public.todos; commit;",
        )
        .expect("anon");
    assert!(anon.ends_with("\n0") || anon == "0", "{anon}");
    // Exact values, read back by the same SQL on both sides and against the facts.
    for v in &facts.value {
        assert_eq!(dst.psql("dst", &v.sql).expect(&v.sql), v.text, "{}", v.sql);
    }
    // Sequences continue after the copied ids; identity columns too.
    assert_eq!(
        dst.psql("dst", "select nextval('public.todos_id_seq')")
            .expect("seq"),
        "2501"
    );
    let next_project = dst
        .psql(
            "dst",
            "insert into public.projects (owner_id, name) values ('11111111-1111-4111-8111-111111111111', 'new') returning id",
        )
        .expect("identity");
    assert!(next_project.starts_with('5'), "{next_project}");
    dst.psql("dst", "delete from public.projects where name = 'new'")
        .expect("cleanup");
    dst.psql("dst", "select setval('public.todos_id_seq', 2500)")
        .expect("reset seq");
    // Indexes and foreign keys exist.
    let fks = dst.psql("dst", "select count(*) from pg_constraint where contype = 'f' and connamespace = 'public'::regnamespace").expect("fks");
    let src_fks = src.psql("src", "select count(*) from pg_constraint where contype = 'f' and connamespace = 'public'::regnamespace").expect("fks");
    assert_eq!(fks, src_fks);
    let idx = "select string_agg(indexname, ',' order by indexname) from pg_indexes where schemaname = 'public'";
    assert_eq!(
        dst.psql("dst", idx).expect("idx"),
        src.psql("src", idx).expect("idx")
    );

    // One changed row: verify names exactly that table and key.
    dst.psql(
        "dst",
        "update public.todos set title = 'tampered' where id = 42",
    )
    .expect("tamper");
    let check = verify(&from, &to, &verify_options(), &store, &Quiet)
        .await
        .expect("verify");
    assert!(!check.equal);
    let bad: Vec<_> = check.tables.iter().filter(|t| !t.equal).collect();
    assert_eq!(bad.len(), 1, "{bad:#?}");
    assert_eq!(bad[0].table, "public.todos");
    assert_eq!(bad[0].differences.len(), 1);
    assert_eq!(bad[0].differences[0].key, "id=42");
    assert_eq!(bad[0].differences[0].kind, DiffKind::Changed);

    // A second pull into the now non-empty target is refused; --force replaces it.
    let err = pull(
        &from,
        &to,
        &PullOptions {
            fresh: true,
            ..options()
        },
        &store,
        &Quiet,
    )
    .await
    .err()
    .map(|e| e.code());
    assert_eq!(err, Some("target-not-empty"));
    pull(
        &from,
        &to,
        &PullOptions {
            fresh: true,
            force: true,
            ..options()
        },
        &store,
        &Quiet,
    )
    .await
    .expect("forced pull");
    assert!(
        verify(&from, &to, &verify_options(), &store, &Quiet)
            .await
            .expect("verify")
            .equal
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn supabase_to_sqlite_round_trips_exact_values() {
    if skip_if_unavailable("supabase_to_sqlite") {
        return;
    }
    let src = source();
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("app.db");
    let to = format!("sqlite://{}", file.display());
    let from = src.url("src");
    let store = MemoryCheckpoints::default();
    let report = pull(&from, &to, &options(), &store, &Quiet)
        .await
        .expect("pull");
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.to_lowercase().contains("row-level security")
                || w.to_lowercase().contains("row level security")),
        "{:?}",
        report.warnings
    );
    let check = verify(&from, &to, &verify_options(), &store, &Quiet)
        .await
        .expect("verify");
    assert!(
        check.equal,
        "{:#?}",
        check.tables.iter().filter(|t| !t.equal).collect::<Vec<_>>()
    );

    let db = rusqlite::Connection::open(&file).expect("open");
    let text = |sql: &str| -> Option<String> { db.query_row(sql, [], |r| r.get(0)).expect(sql) };
    assert_eq!(
        text("select budget from projects where id = 1").as_deref(),
        Some("12345678901234567890.0123456789")
    );
    assert_eq!(
        text("select budget from projects where id = 2").as_deref(),
        Some("-0.0000000001")
    );
    assert_eq!(
        text("select created_at from projects where id = 1").as_deref(),
        Some("2024-03-09T20:45:00.123456Z")
    );
    assert_eq!(
        text("select inserted_at from todos where id = 2").as_deref(),
        Some("2000-01-01T07:59:59.000000Z")
    );
    let blob: Vec<u8> = db
        .query_row("select attachment from todos where id = 1", [], |r| {
            r.get(0)
        })
        .expect("blob");
    assert_eq!(blob, vec![0x00, 0xff]);
    let empty: Vec<u8> = db
        .query_row("select attachment from todos where id = 2", [], |r| {
            r.get(0)
        })
        .expect("blob");
    assert!(empty.is_empty());
    assert_eq!(
        text("select tags from profiles where username = 'alice'").as_deref(),
        Some(r#"["a,b", "c\"d", null, "{x}"]"#)
    );
    assert_eq!(
        text("select json_extract(payload, '$.greeting') from todos where id = 1").as_deref(),
        Some("émoji 🚀")
    );
    assert_eq!(
        text("select note from todos where id = 4").as_deref(),
        Some("line1\nline2\r\n\ttabbed \\ backslash \\N not a null")
    );
    let count = |sql: &str| -> i64 { db.query_row(sql, [], |r| r.get(0)).expect(sql) };
    assert_eq!(count("select count(*) from todos where note = ''"), 623);
    assert_eq!(count("select count(*) from todos where note is null"), 625);
    assert_eq!(count("select count(*) from todos"), 2500);
    assert_eq!(count(r#"select count(*) from "auth.users""#), 3);
    assert_eq!(count("select count(*) from audit_events"), 300);
    let hash: String = db
        .query_row(
            r#"select encrypted_password from "auth.users" where email = 'alice@example.com'"#,
            [],
            |r| r.get(0),
        )
        .expect("hash");
    assert_eq!(
        hash,
        src.psql(
            "src",
            "select encrypted_password from auth.users where email = 'alice@example.com'"
        )
        .expect("h")
    );
    let real: f64 = db
        .query_row("select 0.1 + 0.2", [], |r| r.get(0))
        .expect("real");
    assert!(real > 0.3);
    drop(db);

    // A changed row in SQLite is found and named.
    let db = rusqlite::Connection::open(&file).expect("open");
    db.execute(
        "update profiles set avatar_url = 'x' where username = 'alice'",
        [],
    )
    .expect("tamper");
    drop(db);
    let check = verify(&from, &to, &verify_options(), &store, &Quiet)
        .await
        .expect("verify");
    let bad: Vec<_> = check.tables.iter().filter(|t| !t.equal).collect();
    assert_eq!(bad.len(), 1, "{bad:#?}");
    assert_eq!(bad[0].table, "public.profiles");
    assert_eq!(
        bad[0].differences[0].key,
        "id=11111111-1111-4111-8111-111111111111"
    );
}

/// Cancels the pull after a number of committed chunks.
struct CancelAfter {
    cancel: Cancel,
    after: usize,
    seen: std::sync::atomic::AtomicUsize,
}

impl Observer for CancelAfter {
    fn event(&self, event: &Event) {
        if let Event::Chunk { .. } = event
            && self.seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1 >= self.after
        {
            self.cancel.cancel();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_refused_before_anything_is_written() {
    if skip_if_unavailable("bad_input") {
        return;
    }
    let src = source();
    src.create_database("dst").expect("dst");
    let store = MemoryCheckpoints::default();
    let to = src.url("dst");
    let code = |r: ferry_data::Result<ferry_data::PullReport>| r.err().map(|e| e.code());

    let wrong_password = src.url("src").replace(ferry_test::pg::PASSWORD, "wrong");
    assert_eq!(
        code(pull(&wrong_password, &to, &options(), &store, &Quiet).await),
        Some("auth-failed")
    );
    let unreachable = "postgres://postgres:pw@127.0.0.1:1/src?sslmode=disable";
    assert_eq!(
        code(pull(unreachable, &to, &options(), &store, &Quiet).await),
        Some("unreachable")
    );
    assert_eq!(
        code(
            pull(
                &src.url("src"),
                &to.replace("/dst", "/nope"),
                &options(),
                &store,
                &Quiet
            )
            .await
        ),
        Some("unreachable")
    );

    // An unsupported type (a composite column) is refused before the target is touched.
    src.psql("src", "create type public.money_pair as (a int, b int); create table public.odd (id int primary key, p public.money_pair)")
        .expect("odd");
    let err = pull(&src.url("src"), &to, &options(), &store, &Quiet)
        .await
        .expect_err("refused");
    assert_eq!(err.code(), "unsupported-type");
    assert!(err.to_string().contains("public.odd.p"), "{err}");
    assert_eq!(src.psql("dst", "select count(*) from pg_tables where schemaname <> 'pg_catalog' and schemaname <> 'information_schema'").expect("q"), "0");
    let sel = Selection {
        schemas: vec![],
        tables: vec!["public.todos".into()],
    };
    // Leaving it out works: only todos are copied (its foreign keys are reported).
    let report = pull(
        &src.url("src"),
        &to,
        &PullOptions {
            selection: sel,
            ..options()
        },
        &store,
        &Quiet,
    )
    .await
    .expect("todos only");
    assert_eq!(report.tables.len(), 1);
    assert!(
        report.warnings.iter().any(|w| w.contains("foreign key")),
        "{:?}",
        report.warnings
    );

    // Missing privileges are named.
    src.psql("src", "drop table public.odd").expect("drop odd");
    src.psql("src", "create role reader login password 'pw'; grant usage on schema public to reader; grant select on public.projects to reader")
        .expect("role");
    let reader = format!(
        "postgres://reader:pw@127.0.0.1:{}/src?sslmode=disable",
        src.port()
    );
    let sel = Selection {
        schemas: vec!["public".into()],
        tables: vec![],
    };
    let err = pull(
        &reader,
        &src.url("dst"),
        &PullOptions {
            selection: sel,
            fresh: true,
            ..options()
        },
        &store,
        &Quiet,
    )
    .await
    .expect_err("refused");
    assert_eq!(err.code(), "privilege", "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_pull_resumes_without_duplicates() {
    if skip_if_unavailable("resume") {
        return;
    }
    let src = source();
    src.psql("src", "insert into public.audit_events select now(), null, 'bulk', jsonb_build_object('n', g) from generate_series(1, 50000) g")
        .expect("bulk");
    src.psql(
        "src",
        "insert into public.todos (id, project_id, user_id, title, payload) select g, 1, '11111111-1111-4111-8111-111111111111', \
         'bulk ' || g, jsonb_build_object('n', g, 'pad', repeat('x', 200)) from generate_series(10001, 70000) g",
    )
    .expect("bulk todos");
    src.psql("src", "analyze").expect("analyze");
    src.create_database("dst").expect("dst");
    // Small chunks, so the tables are split and the cancel lands between two chunks of todos
    // (the largest table, copied first; keyed by id) .
    let store = MemoryCheckpoints::default();
    let from = src.url("src");
    let to = src.url("dst");
    let cancel = Cancel::default();
    let observer = CancelAfter {
        cancel: cancel.clone(),
        after: 6,
        seen: Default::default(),
    };
    let small = Some(256 << 10);
    let first = pull(
        &from,
        &to,
        &PullOptions {
            cancel,
            jobs: 1,
            chunk_bytes: small,
            ..options()
        },
        &store,
        &observer,
    )
    .await;
    let err = first.expect_err("interrupted");
    assert_eq!(err.code(), "interrupted");
    let second = pull(
        &from,
        &to,
        &PullOptions {
            chunk_bytes: small,
            ..options()
        },
        &store,
        &Quiet,
    )
    .await
    .expect("resumed");
    assert!(second.resumed);
    let todos = second
        .tables
        .iter()
        .find(|t| t.table == "public.todos")
        .expect("todos");
    assert!(todos.chunks > 6 && todos.chunks_kept >= 5, "{todos:?}");
    let check = verify(&from, &to, &verify_options(), &store, &Quiet)
        .await
        .expect("verify");
    assert!(
        check.equal,
        "{:#?}",
        check.tables.iter().filter(|t| !t.equal).collect::<Vec<_>>()
    );
    assert_eq!(
        src.psql("dst", "select count(*) from public.audit_events")
            .expect("n"),
        "50300"
    );
    assert_eq!(
        src.psql("dst", "select count(*) from public.todos")
            .expect("n"),
        "62500"
    );
    assert_eq!(
        src.psql(
            "dst",
            "select count(*) - count(distinct id) from public.todos"
        )
        .expect("n"),
        "0"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_resume_into_a_recreated_target_copies_the_lost_tables_again() {
    if skip_if_unavailable("resume_recreated") {
        return;
    }
    let src = source();
    src.create_database("dst").expect("dst");
    let store = MemoryCheckpoints::default();
    let (from, to) = (src.url("src"), src.url("dst"));
    let cancel = Cancel::default();
    let observer = CancelAfter {
        cancel: cancel.clone(),
        after: 3,
        seen: Default::default(),
    };
    let small = Some(64 << 10);
    let first = pull(
        &from,
        &to,
        &PullOptions {
            cancel,
            jobs: 1,
            chunk_bytes: small,
            ..options()
        },
        &store,
        &observer,
    )
    .await;
    assert_eq!(first.expect_err("interrupted").code(), "interrupted");
    // The target is thrown away and made again: the kept chunks are gone with it.
    src.psql("postgres", "drop database dst").expect("drop");
    src.create_database("dst").expect("dst again");
    let second = pull(
        &from,
        &to,
        &PullOptions {
            chunk_bytes: small,
            ..options()
        },
        &store,
        &Quiet,
    )
    .await
    .expect("resumed");
    assert!(second.resumed);
    let check = verify(&from, &to, &verify_options(), &store, &Quiet)
        .await
        .expect("verify");
    assert!(
        check.equal,
        "{:#?}",
        check.tables.iter().filter(|t| !t.equal).collect::<Vec<_>>()
    );
}
