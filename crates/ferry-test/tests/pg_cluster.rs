//! Throwaway PostgreSQL clusters (`ferry_test::pg`) and the Supabase-shaped fixture
//! (`tests/fixtures/db/supabase.sql`) checked against its hand-written facts.
//!
//! Without PostgreSQL binaries these tests print a line and pass, unless `CI` is set.

use std::collections::BTreeMap;
use std::path::PathBuf;

use ferry_test::pg::{self, Cluster, Options};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Facts {
    description: String,
    skipped_schemas: Vec<String>,
    roles: Vec<String>,
    anon_todos_visible: u64,
    counts: BTreeMap<String, u64>,
    sequences: BTreeMap<String, i64>,
    #[serde(rename = "user")]
    users: Vec<User>,
    policies: BTreeMap<String, Vec<String>>,
    indexes: BTreeMap<String, Vec<String>>,
    enums: BTreeMap<String, Vec<String>>,
    #[serde(rename = "value")]
    values: Vec<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct User {
    name: String,
    id: String,
    email: String,
    password: String,
    todos_visible: u64,
    projects_visible: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Value {
    sql: String,
    text: String,
}

fn fixture(name: &str) -> PathBuf {
    ferry_test::workspace_root()
        .join("tests/fixtures/db")
        .join(name)
}

fn facts() -> Facts {
    let text = std::fs::read_to_string(fixture("supabase.expected.toml")).expect("facts file");
    toml::from_str(&text).expect("facts parse")
}

/// `'text'` as an SQL literal.
fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The last line of psql's output (earlier lines come from `set_config` and the like).
fn last_line(out: &str) -> &str {
    out.lines().last().unwrap_or_default()
}

/// Counts the rows of `sql` as `role` with the JWT claims of `sub` (if any), in one
/// transaction, the way PostgREST does.
fn count_as(cluster: &Cluster, db: &str, role: &str, sub: Option<&str>, table: &str) -> u64 {
    let claims = match sub {
        Some(sub) => format!(r#"{{"sub":"{sub}","role":"{role}"}}"#),
        None => format!(r#"{{"role":"{role}"}}"#),
    };
    let sql = format!(
        "begin; set local role {role}; \
         select set_config('request.jwt.claims', {}, true); \
         select count(*) from {table}; commit;",
        lit(&claims)
    );
    let out = cluster.psql(db, &sql).expect("rls query");
    last_line(&out).parse().expect("a count")
}

#[test]
fn supabase_fixture_loads_and_matches_its_facts() {
    if pg::skip_if_unavailable("supabase_fixture_loads_and_matches_its_facts") {
        return;
    }
    let facts = facts();
    assert!(!facts.description.is_empty());
    let cluster = Cluster::start().expect("cluster starts");
    cluster.create_database("src").expect("create src");
    cluster
        .psql_file("src", &fixture("supabase.sql"))
        .expect("fixture loads");
    // Roles are cluster-wide: loading again into another database must not fail.
    cluster.create_database("src again").expect("create db");
    cluster
        .psql_file("src again", &fixture("supabase.sql"))
        .expect("fixture loads twice on one cluster");

    for (table, want) in &facts.counts {
        let got = cluster
            .psql("src", &format!("select count(*) from {table}"))
            .expect("count");
        assert_eq!(got, want.to_string(), "rows in {table}");
    }
    for (seq, want) in &facts.sequences {
        let got = cluster
            .psql("src", &format!("select last_value from {seq}"))
            .expect("sequence");
        assert_eq!(got, want.to_string(), "last_value of {seq}");
    }
    for schema in &facts.skipped_schemas {
        let tables = cluster
            .psql(
                "src",
                &format!(
                    "select count(*) from pg_tables where schemaname = {}",
                    lit(schema)
                ),
            )
            .expect("tables");
        assert_ne!(tables, "0", "schema {schema} has tables");
        assert!(
            facts
                .counts
                .keys()
                .any(|t| t.starts_with(&format!("{schema}."))),
            "{schema} has a count"
        );
    }
    for role in &facts.roles {
        let got = cluster
            .psql(
                "postgres",
                &format!(
                    "select count(*) from pg_roles where rolname = {}",
                    lit(role)
                ),
            )
            .expect("roles");
        assert_eq!(got, "1", "role {role}");
    }

    let mut todos_total = 0;
    for user in &facts.users {
        let sql = format!(
            "select email, encrypted_password = extensions.crypt({}, encrypted_password) \
             from auth.users where id = {}",
            lit(&user.password),
            lit(&user.id)
        );
        let got = cluster.psql("src", &sql).expect("user");
        assert_eq!(
            got,
            format!("{}|t", user.email),
            "{}'s email and password",
            user.name
        );

        let owned = cluster
            .psql(
                "src",
                &format!(
                    "select count(*) from public.todos where user_id = {}",
                    lit(&user.id)
                ),
            )
            .expect("owned");
        assert_eq!(
            owned,
            user.todos_visible.to_string(),
            "{}'s todos",
            user.name
        );
        todos_total += user.todos_visible;

        let seen = count_as(
            &cluster,
            "src",
            "authenticated",
            Some(&user.id),
            "public.todos",
        );
        assert_eq!(
            seen, user.todos_visible,
            "todos {} sees under RLS",
            user.name
        );
        let seen = count_as(
            &cluster,
            "src",
            "authenticated",
            Some(&user.id),
            "public.projects",
        );
        assert_eq!(seen, user.projects_visible, "projects {} sees", user.name);
    }
    assert_eq!(Some(&todos_total), facts.counts.get("public.todos"));
    let anon = count_as(&cluster, "src", "anon", None, "public.todos");
    assert_eq!(anon, facts.anon_todos_visible, "todos anon sees");
    // The superuser (table owner) is not subject to RLS.
    let all = cluster
        .psql("src", "select count(*) from public.todos")
        .expect("count");
    assert_eq!(all, "2500");

    for (table, want) in &facts.policies {
        let (schema, name) = table.split_once('.').expect("schema.table");
        let sql = format!(
            "select coalesce(string_agg(policyname, '|' order by policyname), '') \
             from pg_policies where schemaname = {} and tablename = {}",
            lit(schema),
            lit(name)
        );
        assert_eq!(
            cluster.psql("src", &sql).expect("policies"),
            want.join("|"),
            "{table}"
        );
        let rls = cluster
            .psql(
                "src",
                &format!(
                    "select relrowsecurity from pg_class where oid = {}::regclass",
                    lit(table)
                ),
            )
            .expect("rls");
        assert_eq!(rls, "t", "row level security on {table}");
    }
    let tables_with_rls = cluster
        .psql(
            "src",
            "select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace \
             where c.relrowsecurity and n.nspname in ('public', 'storage')",
        )
        .expect("rls tables");
    assert_eq!(tables_with_rls, facts.policies.len().to_string());

    for (table, want) in &facts.indexes {
        let (schema, name) = table.split_once('.').expect("schema.table");
        let sql = format!(
            "select coalesce(string_agg(indexname, '|' order by indexname), '') \
             from pg_indexes where schemaname = {} and tablename = {}",
            lit(schema),
            lit(name)
        );
        assert_eq!(
            cluster.psql("src", &sql).expect("indexes"),
            want.join("|"),
            "{table}"
        );
    }
    for (ty, want) in &facts.enums {
        let sql = format!(
            "select string_agg(enumlabel, '|' order by enumsortorder) from pg_enum \
             where enumtypid = {}::regtype",
            lit(ty)
        );
        assert_eq!(
            cluster.psql("src", &sql).expect("enum"),
            want.join("|"),
            "{ty}"
        );
    }
    for value in &facts.values {
        let got = cluster.psql("src", &value.sql).expect("value");
        assert_eq!(got, value.text, "{}", value.sql);
    }

    // Errors carry psql's message.
    let err = cluster
        .psql("src", "select * from no_such_table")
        .expect_err("must fail");
    assert!(err.to_string().contains("no_such_table"), "{err}");
}

#[test]
fn ssl_cluster_refuses_plaintext() {
    if pg::skip_if_unavailable("ssl_cluster_refuses_plaintext") {
        return;
    }
    let cluster = Cluster::start_with(Options {
        ssl: true,
        ..Default::default()
    })
    .expect("ssl cluster starts");
    assert!(cluster.ssl());
    let ca = cluster.ca_cert().expect("a certificate").to_path_buf();
    assert!(ca.is_file());

    let tls = cluster
        .psql(
            "postgres",
            "select ssl from pg_stat_ssl where pid = pg_backend_pid()",
        )
        .expect("require works");
    assert_eq!(tls, "t");

    let out = cluster
        .psql_command("postgres")
        .env("PGSSLMODE", "disable")
        .args(["-c", "select 1"])
        .output()
        .expect("psql runs");
    assert!(!out.status.success(), "plaintext must be refused");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("pg_hba.conf"), "{stderr}");

    // The certificate is valid for 127.0.0.1, so full verification against ca.crt works.
    let out = cluster
        .psql_command("postgres")
        .env("PGSSLMODE", "verify-full")
        .env("PGSSLROOTCERT", &ca)
        .args(["-c", "select 1"])
        .output()
        .expect("psql runs");
    assert!(
        out.status.success(),
        "verify-full: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    assert!(Cluster::start().expect("plain").ca_cert().is_none());
}

#[test]
fn clusters_start_concurrently_and_clean_up() {
    if pg::skip_if_unavailable("clusters_start_concurrently_and_clean_up") {
        return;
    }
    let threads: Vec<_> = (0..2)
        .map(|i| {
            std::thread::spawn(move || {
                let cluster = Cluster::start().expect("cluster starts");
                let db = format!("db{i}");
                cluster.create_database(&db).expect("create db");
                cluster
                    .psql(
                        &db,
                        &format!("create table t (n int); insert into t values ({i})"),
                    )
                    .expect("write");
                assert_eq!(
                    cluster.psql(&db, "select n from t").expect("read"),
                    i.to_string()
                );
                assert!(
                    cluster
                        .url(&db)
                        .ends_with(&format!(":{}/{db}", cluster.port()))
                );
                cluster
            })
        })
        .collect();
    let clusters: Vec<Cluster> = threads
        .into_iter()
        .map(|t| t.join().expect("thread"))
        .collect();
    assert_ne!(clusters[0].port(), clusters[1].port());
    assert_ne!(clusters[0].data_dir(), clusters[1].data_dir());
    assert_eq!(
        clusters[0].url("x"),
        format!(
            "postgres://postgres:{}@127.0.0.1:{}/x",
            pg::PASSWORD,
            clusters[0].port()
        )
    );
    assert!(clusters[0].bin_dir().join("psql").is_file());

    let data_dirs: Vec<PathBuf> = clusters.iter().map(Cluster::data_dir).collect();
    drop(clusters);
    for dir in data_dirs {
        assert!(!dir.exists(), "{} removed on drop", dir.display());
    }
}
