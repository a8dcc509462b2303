//! Entity schemas to tables: the fixtures against a hand-written expectation, the DDL run on
//! real SQLite and Postgres, migrations, and hostile inputs.

use std::path::{Path, PathBuf};

use ferry_compat::base44::model::{Dialect, Entity, FieldType};
use ferry_compat::base44::schema::{
    self, Applied, SchemaError, applied_select_sql, create_table_sql, decode_applied,
    load_entities, migrate_sql, parse_entity, plan_deploy, plan_migration, rls_fields, type_name,
};
use ferry_test::pg::{Cluster, skip_if_unavailable};
use rusqlite::types::Value as SqlValue;
use serde::Deserialize;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/base44")
}

fn fixture_entities() -> Vec<Entity> {
    load_entities(&fixtures().join("entities")).expect("fixtures load")
}

#[derive(Debug, Deserialize)]
struct ExpectedEntity {
    file: String,
    table: String,
    rls_fields: Vec<String>,
    fields: Vec<ExpectedField>,
}

#[derive(Debug, Deserialize)]
struct ExpectedField {
    name: String,
    column: String,
    #[serde(rename = "type")]
    ty: String,
    #[serde(default)]
    values: Vec<String>,
    #[serde(default)]
    required: bool,
}

#[test]
fn fixtures_match_expected_toml() {
    let text = std::fs::read_to_string(fixtures().join("expected.toml")).expect("expected.toml");
    let expected: std::collections::BTreeMap<String, ExpectedEntity> =
        toml::from_str(&text).expect("expected.toml parses");
    let entities = fixture_entities();
    let names: Vec<&str> = entities.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        expected.keys().map(String::as_str).collect::<Vec<_>>()
    );
    for entity in &entities {
        let want = &expected[&entity.name];
        assert_eq!(entity.table, want.table, "{}", entity.name);
        assert_eq!(rls_fields(entity), want.rls_fields, "{}", entity.name);
        let got: Vec<(String, String, String, Vec<String>, bool)> = entity
            .fields
            .iter()
            .map(|f| {
                let values = match &f.ty {
                    FieldType::Enum(values) => values.clone(),
                    _ => Vec::new(),
                };
                let ty = type_name(&f.ty).to_string();
                (f.name.clone(), f.column.clone(), ty, values, f.required)
            })
            .collect();
        let want_fields: Vec<(String, String, String, Vec<String>, bool)> = want
            .fields
            .iter()
            .map(|f| {
                let t = (f.name.clone(), f.column.clone(), f.ty.clone());
                (t.0, t.1, t.2, f.values.clone(), f.required)
            })
            .collect();
        assert_eq!(got, want_fields, "{} ({})", entity.name, want.file);
        // Each file parses alone to the same entity.
        let file = fixtures().join("entities").join(&want.file);
        let text = std::fs::read_to_string(&file).expect("fixture");
        assert_eq!(&parse_entity(&want.file, &text).expect("parses"), entity);
    }
    let task = entities.iter().find(|e| e.name == "Task").expect("Task");
    assert_eq!(
        task.field("status").and_then(|f| f.default.clone()),
        Some(serde_json::json!("todo"))
    );
    let weird = entities.iter().find(|e| e.name == "Weird").expect("Weird");
    assert_eq!(
        weird.field("first-name").and_then(|f| f.default.clone()),
        Some(serde_json::json!("http://x.y/z"))
    );
    assert!(weird.field("created_date").is_none());
}

#[test]
fn builtin_user_without_a_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("note.jsonc"),
        r#"{"properties": {"body": {"type": "string"}}}"#,
    )
    .expect("write");
    std::fs::write(dir.path().join("README.md"), "not a schema").expect("write");
    let entities = load_entities(dir.path()).expect("loads");
    let names: Vec<&str> = entities.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["Note", "User"]);
    assert_eq!(entities[1], schema::builtin_user());
}

/// A value for a column of type `ty`: the SQL literal, Postgres' text of it (TimeZone UTC),
/// and what SQLite hands back.
fn sample(ty: &FieldType) -> (String, String, SqlValue) {
    let text = |s: &str| {
        (
            format!("'{}'", s.replace('\'', "''")),
            s.to_string(),
            SqlValue::Text(s.into()),
        )
    };
    match ty {
        FieldType::String => text("it's // here"),
        FieldType::Enum(values) => text(&values[values.len() - 1]),
        FieldType::Date => text("2025-01-31"),
        FieldType::DateTime => (
            "'2025-01-31T12:34:56.000Z'".into(),
            "2025-01-31 12:34:56+00".into(),
            SqlValue::Text("2025-01-31T12:34:56.000Z".into()),
        ),
        FieldType::Number => ("2.5".into(), "2.5".into(), SqlValue::Real(2.5)),
        FieldType::Integer => (
            "9007199254740993".into(),
            "9007199254740993".into(),
            SqlValue::Integer(9_007_199_254_740_993),
        ),
        FieldType::Boolean => ("true".into(), "t".into(), SqlValue::Integer(1)),
        FieldType::Array => (
            "'[\"a\",\"b\"]'".into(),
            "[\"a\", \"b\"]".into(),
            SqlValue::Text("[\"a\",\"b\"]".into()),
        ),
        FieldType::Object => (
            "'{\"k\": 1}'".into(),
            "{\"k\": 1}".into(),
            SqlValue::Text("{\"k\": 1}".into()),
        ),
    }
}

fn quoted(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

fn insert_sql(entity: &Entity, id: &str) -> String {
    let mut columns = vec!["\"id\"".to_string(), "\"created_by\"".to_string()];
    let mut values = vec![format!("'{id}'"), "'ann@example.com'".to_string()];
    for field in &entity.fields {
        columns.push(quoted(&field.column));
        values.push(sample(&field.ty).0);
    }
    format!(
        "INSERT INTO {} ({}) VALUES ({})",
        quoted(&entity.table),
        columns.join(", "),
        values.join(", ")
    )
}

fn select_sql(entity: &Entity, id: &str) -> String {
    let columns: Vec<String> = entity.fields.iter().map(|f| quoted(&f.column)).collect();
    format!(
        "SELECT {}, \"created_date\", \"extra\" FROM {} WHERE \"id\" = '{id}'",
        columns.join(", "),
        quoted(&entity.table)
    )
}

fn sqlite_deploy(conn: &rusqlite::Connection, entities: Vec<Entity>) -> Vec<Applied> {
    let applied = sqlite_applied(conn);
    let deploy = plan_deploy(&applied, entities, Dialect::Sqlite).expect("plan");
    let tx = conn.unchecked_transaction().expect("begin");
    for statement in &deploy.statements {
        tx.execute_batch(statement)
            .unwrap_or_else(|e| panic!("{e}: {statement}"));
    }
    tx.commit().expect("commit");
    deploy.applied
}

fn sqlite_applied(conn: &rusqlite::Connection) -> Vec<Applied> {
    let Ok(mut stmt) = conn.prepare(&applied_select_sql(Dialect::Sqlite)) else {
        return Vec::new(); // no _ferry_entities yet
    };
    stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .expect("query")
        .map(|r| r.expect("row"))
        .map(|(name, json)| decode_applied(&name, &json).expect("decodes"))
        .collect()
}

#[test]
fn sqlite_tables_hold_a_row_of_every_type() {
    let conn = rusqlite::Connection::open_in_memory().expect("sqlite");
    let entities = fixture_entities();
    sqlite_deploy(&conn, entities.clone());
    for entity in &entities {
        conn.execute_batch(&insert_sql(entity, "0123456789abcdef01234567"))
            .unwrap_or_else(|e| panic!("{}: {e}", entity.name));
        let n = entity.fields.len();
        let row: Vec<SqlValue> = conn
            .query_row(&select_sql(entity, "0123456789abcdef01234567"), [], |r| {
                (0..n + 2).map(|i| r.get::<_, SqlValue>(i)).collect()
            })
            .expect("read back");
        for (field, got) in entity.fields.iter().zip(&row) {
            assert_eq!(got, &sample(&field.ty).2, "{}.{}", entity.name, field.name);
        }
        let SqlValue::Text(created) = &row[n] else {
            panic!("created_date: {:?}", row[n]);
        };
        assert!(
            created.len() == 24 && created.ends_with('Z') && created.as_bytes()[10] == b'T',
            "{created}"
        );
        assert_eq!(row[n + 1], SqlValue::Text("{}".into()));
    }
    // The checks bite.
    let refused = |sql: &str| assert!(conn.execute_batch(sql).is_err(), "accepted: {sql}");
    refused("INSERT INTO \"task\" (\"id\", \"done\") VALUES ('b', 2)");
    refused("INSERT INTO \"task\" (\"id\", \"tags\") VALUES ('b', 'not json')");
    refused("INSERT INTO \"task\" (\"id\", \"extra\") VALUES ('b', '[1]')");
    refused("INSERT INTO \"task\" (\"id\", \"priority\") VALUES ('b', 'high')"); // STRICT
    refused("INSERT INTO \"user\" (\"id\", \"email\") VALUES ('u2', 'IT''S // HERE')");
    refused("INSERT INTO \"user\" (\"id\", \"email\", \"role\") VALUES ('u3', 'b@x', 'boss')");
    conn.execute_batch("INSERT INTO \"user\" (\"id\", \"email\") VALUES ('u4', 'c@x')")
        .expect("role defaults");
    let (role, verified, hash): (String, i64, Option<String>) = conn
        .query_row(
            "SELECT \"role\", \"email_verified\", \"password_hash\" FROM \"user\" WHERE \"id\" = 'u4'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .expect("user");
    assert_eq!((role.as_str(), verified, hash), ("user", 0, None));
    // Enums are not checked by SQLite (the API layer does): see docs/base44.md.
    conn.execute_batch("INSERT INTO \"task\" (\"id\", \"status\") VALUES ('c', 'other')")
        .expect("no enum CHECK on SQLite");
    // A second deploy of the same schemas changes nothing.
    let again = plan_deploy(&sqlite_applied(&conn), entities, Dialect::Sqlite).expect("plan");
    assert_eq!(again.statements.len(), 1, "{:#?}", again.statements);
}

fn task_v1() -> Entity {
    parse_entity(
        "Task.jsonc",
        r#"{"name": "Task", "properties": {
            "title": {"type": "string"},
            "status": {"type": "string", "enum": ["todo", "done"]},
            "old": {"type": "integer"}
        }}"#,
    )
    .expect("v1")
}

fn task_v2() -> Entity {
    parse_entity(
        "Task.jsonc",
        r#"{"name": "Task", "properties": {
            "title": {"type": "string"},
            "status": {"type": "string", "enum": ["todo", "doing", "done"]},
            "owner": {"type": "string"},
            "Title": {"type": "string"}
        }, "rls": {"read": {"owner": "{{user.email}}"}}}"#,
    )
    .expect("v2")
}

fn task_v3() -> Entity {
    parse_entity(
        "Task.jsonc",
        r#"{"name": "Task", "properties": {
            "title": {"type": "string"},
            "status": {"type": "string", "enum": ["archived"]},
            "old": {"type": "integer"}
        }}"#,
    )
    .expect("v3")
}

#[test]
fn migrations_are_additive() {
    let v1 = Applied::new(task_v1());
    let plan = plan_migration(Some(&v1), task_v2(), Dialect::Postgres).expect("v1 -> v2");
    let joined = plan.statements.join(";\n");
    assert!(
        joined.contains("ADD COLUMN IF NOT EXISTS \"owner\" text"),
        "{joined}"
    );
    assert!(
        joined.contains("DROP CONSTRAINT IF EXISTS \"status_enum\""),
        "{joined}"
    );
    assert!(
        joined.contains("CHECK (\"status\" IN ('todo', 'done', 'doing'))"),
        "{joined}"
    );
    assert!(joined.contains("\"task__owner_idx\""), "{joined}");
    assert_eq!(plan.applied.retired.len(), 1);
    assert_eq!(plan.applied.retired[0].name, "old");
    // Idempotent: planning the same schema again over the result does nothing.
    let again = plan_migration(Some(&plan.applied), task_v2(), Dialect::Postgres).expect("again");
    assert!(again.statements.is_empty(), "{:#?}", again.statements);
    assert_eq!(again.applied, plan.applied);

    // A removed field comes back with its column; narrowed enums keep every value allowed.
    let v3 = plan_migration(Some(&plan.applied), task_v3(), Dialect::Postgres).expect("v3");
    assert!(
        v3.statements.iter().all(|s| !s.contains("\"old\" bigint")),
        "{:#?}",
        v3.statements
    );
    assert_eq!(
        v3.applied.enum_checks["status"],
        ["todo", "done", "doing", "archived"]
    );
    assert_eq!(
        v3.applied
            .retired
            .iter()
            .map(|f| f.name.as_str())
            .collect::<Vec<_>>(),
        ["owner", "Title"]
    );

    // migrate_sql: the same, from entities.
    let sql = migrate_sql(Some(&task_v1()), &task_v1(), Dialect::Sqlite).expect("same");
    assert!(sql.is_empty(), "{sql:#?}");
    let sql = migrate_sql(None, &task_v1(), Dialect::Sqlite).expect("new");
    assert!(sql[0].starts_with("CREATE TABLE IF NOT EXISTS \"task\""));
}

#[test]
fn a_type_change_is_refused() {
    let v1 = Applied::new(task_v1());
    let changed = parse_entity(
        "Task.jsonc",
        r#"{"name": "Task", "properties": {"title": {"type": "number"}}}"#,
    )
    .expect("parses");
    let err = plan_migration(Some(&v1), changed.clone(), Dialect::Sqlite).expect_err("refused");
    assert!(matches!(
        &err,
        SchemaError::TypeChanged { entity, field, old: "string", new: "number" }
            if entity == "Task" && field == "title"
    ));
    assert_eq!(err.code(), "type-changed");
    assert!(err.hint().contains("new field"));
    assert!(migrate_sql(Some(&task_v1()), &changed, Dialect::Postgres).is_err());
    // Removed then re-added with another type: also refused (its column still holds data).
    let v2 = plan_migration(Some(&v1), task_v2(), Dialect::Sqlite).expect("v2");
    let back = parse_entity(
        "Task.jsonc",
        r#"{"name": "Task", "properties": {"old": {"type": "string"}}}"#,
    )
    .expect("parses");
    let err = plan_migration(Some(&v2.applied), back, Dialect::Sqlite).expect_err("refused");
    assert_eq!(err.code(), "type-changed");
}

#[test]
fn migrate_sql_refuses_moved_columns() {
    // v1 has `title`; a new schema lists `Title` before `title`, so a fresh parse gives
    // `title` a hashed column: migrate_sql refuses, plan_migration keeps `title`'s column.
    let old = parse_entity(
        "T.jsonc",
        r#"{"properties": {"title": {"type": "string"}}}"#,
    )
    .expect("old");
    let new = parse_entity(
        "T.jsonc",
        r#"{"properties": {"Title": {"type": "string"}, "title": {"type": "string"}}}"#,
    )
    .expect("new");
    assert_eq!(
        migrate_sql(Some(&old), &new, Dialect::Sqlite)
            .expect_err("moved")
            .code(),
        "column-moved"
    );
    let plan = plan_migration(Some(&Applied::new(old)), new, Dialect::Sqlite).expect("plan");
    let columns: Vec<&str> = plan
        .applied
        .entity
        .fields
        .iter()
        .map(|f| f.column.as_str())
        .collect();
    assert_eq!(columns[1], "title");
    assert!(columns[0].starts_with("Title_"), "{columns:?}");
}

#[test]
fn sqlite_migrations_apply() {
    let conn = rusqlite::Connection::open_in_memory().expect("sqlite");
    sqlite_deploy(&conn, vec![task_v1()]);
    conn.execute_batch("INSERT INTO \"task\" (\"id\", \"title\", \"old\") VALUES ('a', 'x', 7)")
        .expect("insert v1");
    let applied = sqlite_deploy(&conn, vec![task_v2()]);
    conn.execute_batch(
        "INSERT INTO \"task\" (\"id\", \"owner\", \"status\") VALUES ('b', 'o', 'doing')",
    )
    .expect("insert v2");
    let again = plan_deploy(&applied, vec![task_v2()], Dialect::Sqlite).expect("plan");
    assert_eq!(again.statements.len(), 1);
    sqlite_deploy(&conn, vec![task_v3()]);
    let old: i64 = conn
        .query_row("SELECT \"old\" FROM \"task\" WHERE \"id\" = 'a'", [], |r| {
            r.get(0)
        })
        .expect("kept");
    assert_eq!(old, 7);
    let refused = plan_deploy(
        &sqlite_applied(&conn),
        vec![task_v1_retyped()],
        Dialect::Sqlite,
    );
    assert_eq!(refused.expect_err("refused").code(), "type-changed");
}

fn task_v1_retyped() -> Entity {
    parse_entity(
        "Task.jsonc",
        r#"{"properties": {"old": {"type": "boolean"}}}"#,
    )
    .expect("parses")
}

struct Pg<'a> {
    cluster: &'a Cluster,
    db: &'a str,
}

impl Pg<'_> {
    fn run(&self, sql: &str) -> String {
        self.cluster
            .psql(self.db, sql)
            .unwrap_or_else(|e| panic!("{e}: {sql}"))
    }

    fn applied(&self) -> Vec<Applied> {
        let out = self.run(&format!(
            "SELECT count(*) FROM pg_tables WHERE tablename = '{}'",
            schema::APPLIED_TABLE
        ));
        if out == "0" {
            return Vec::new();
        }
        // One row per line: name|json (JSON text never holds a raw newline).
        self.run(&applied_select_sql(Dialect::Postgres))
            .lines()
            .map(|line| {
                let (name, json) = line.split_once('|').expect("name|schema");
                decode_applied(name, json).expect("decodes")
            })
            .collect()
    }

    fn deploy(&self, entities: Vec<Entity>) -> Vec<Applied> {
        let deploy = plan_deploy(&self.applied(), entities, Dialect::Postgres).expect("plan");
        let script = format!("BEGIN;\n{};\nCOMMIT;", deploy.statements.join(";\n"));
        self.run(&script);
        deploy.applied
    }
}

#[test]
fn postgres_tables_and_migrations() {
    if skip_if_unavailable("postgres_tables_and_migrations") {
        return;
    }
    let cluster = Cluster::start().expect("cluster");
    cluster.create_database("fixtures").expect("create db");
    let pg = Pg {
        cluster: &cluster,
        db: "fixtures",
    };
    let entities = fixture_entities();
    pg.deploy(entities.clone());
    for entity in &entities {
        pg.run(&insert_sql(entity, "0123456789abcdef01234567"));
        let out = pg.run(&format!(
            "SET TimeZone = 'UTC'; {}",
            select_sql(entity, "0123456789abcdef01234567")
        ));
        let got: Vec<&str> = out.split('|').collect();
        let want: Vec<String> = entity.fields.iter().map(|f| sample(&f.ty).1).collect();
        assert_eq!(&got[..want.len()], &want[..], "{}", entity.name);
        assert_eq!(got[got.len() - 1], "{}", "{}", entity.name);
        assert_eq!(got.len(), entity.fields.len() + 2);
    }
    let refused = |sql: &str| {
        assert!(cluster.psql("fixtures", sql).is_err(), "accepted: {sql}");
    };
    refused("INSERT INTO \"task\" (\"id\", \"status\") VALUES ('b', 'other')");
    refused("INSERT INTO \"task\" (\"id\", \"extra\") VALUES ('b', '[1]')");
    refused("INSERT INTO \"user\" (\"id\", \"email\") VALUES ('u2', 'IT''S // HERE')");
    refused("INSERT INTO \"user\" (\"id\", \"email\", \"role\") VALUES ('u3', 'b@x', 'boss')");
    assert_eq!(
        pg.run("INSERT INTO \"user\" (\"id\", \"email\") VALUES ('u4', 'c@x') RETURNING \"role\", \"email_verified\""),
        "user|f"
    );
    let again = plan_deploy(&pg.applied(), entities, Dialect::Postgres).expect("plan");
    assert_eq!(again.statements.len(), 1, "{:#?}", again.statements);

    // Migrations on a second database.
    cluster.create_database("migrate").expect("create db");
    let pg = Pg {
        cluster: &cluster,
        db: "migrate",
    };
    pg.deploy(vec![task_v1()]);
    pg.run("INSERT INTO \"task\" (\"id\", \"title\", \"status\", \"old\") VALUES ('a', 'x', 'done', 7)");
    pg.deploy(vec![task_v2()]);
    pg.run("INSERT INTO \"task\" (\"id\", \"owner\", \"status\") VALUES ('b', 'o', 'doing')");
    let applied = pg.applied();
    let again = plan_deploy(&applied, vec![task_v2()], Dialect::Postgres).expect("plan");
    assert_eq!(again.statements.len(), 1, "{:#?}", again.statements);
    pg.run(&again.statements.join(";\n"));
    // v3 narrows the enum to `archived`: rows holding `done`/`doing` stay valid and writable.
    pg.deploy(vec![task_v3()]);
    pg.run("UPDATE \"task\" SET \"title\" = 'y' WHERE \"id\" = 'a'");
    pg.run("INSERT INTO \"task\" (\"id\", \"status\") VALUES ('c', 'archived')");
    assert_eq!(
        pg.run("SELECT \"old\" FROM \"task\" WHERE \"id\" = 'a'"),
        "7"
    );
    let refused = plan_deploy(&pg.applied(), vec![task_v1_retyped()], Dialect::Postgres);
    assert_eq!(refused.expect_err("refused").code(), "type-changed");
}

#[test]
fn hostile_inputs_give_typed_errors() {
    let code = |text: &str| parse_entity("X.jsonc", text).expect_err("refused").code();
    assert_eq!(code("{\"properties\": "), "malformed-schema");
    assert_eq!(code("{'a': 1}"), "malformed-schema");
    assert_eq!(code("/* never closed"), "malformed-schema");
    assert_eq!(code(""), "malformed-schema");
    assert_eq!(code("[1, 2]"), "not-an-object");
    assert_eq!(code("\"Task\""), "not-an-object");
    assert_eq!(
        code(&format!("{{\"a\": \"{}\"}}", "x".repeat(2 << 20))),
        "file-too-large"
    );
    let deep = format!(
        "{{\"properties\": {}1{}}}",
        "{\"a\": [".repeat(50),
        "]}".repeat(50)
    );
    assert_eq!(code(&deep), "too-deep");
    let many: Vec<String> = (0..10_000)
        .map(|i| format!("\"f{i}\": {{\"type\": \"string\"}}"))
        .collect();
    let many = format!("{{\"properties\": {{{}}}}}", many.join(","));
    let err = parse_entity("X.jsonc", &many).expect_err("refused");
    assert_eq!(err.code(), "too-many-fields");
    assert!(err.to_string().contains("10000"), "{err}");
    assert_eq!(code("{\"name\": \"Team Member\"}"), "invalid-entity-name");
    assert_eq!(code("{\"name\": 7}"), "invalid-entity-name");
    assert_eq!(code("{\"type\": \"array\"}"), "invalid-schema");
    assert_eq!(code("{\"properties\": []}"), "invalid-schema");
    assert_eq!(code("{\"required\": \"title\"}"), "invalid-schema");
    assert_eq!(
        code("{\"properties\": {\"a\": \"string\"}}"),
        "invalid-field"
    );
    assert_eq!(
        code("{\"properties\": {\"a\": {\"type\": \"string\", \"enum\": [1]}}}"),
        "invalid-field"
    );
    assert_eq!(
        code("{\"properties\": {\"a\\u0000\": {}}}"),
        "malformed-schema"
    );
    let err = parse_entity(
        "Task.jsonc",
        "{\"properties\": {\"due\": {\"type\": \"string\", \"enum\": {}}}}",
    )
    .expect_err("refused");
    let message = err.to_string();
    assert!(
        message.contains("Task.jsonc") && message.contains("`due`"),
        "{message}"
    );

    // The folder: a 2 MiB file, two files for one table, too many files.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("Big.jsonc"), vec![b' '; 2 << 20]).expect("write");
    let err = load_entities(dir.path()).expect_err("refused");
    assert_eq!(err.code(), "file-too-large");
    assert!(err.to_string().contains("Big.jsonc"), "{err}");
    std::fs::remove_file(dir.path().join("Big.jsonc")).expect("rm");
    std::fs::write(dir.path().join("Task.jsonc"), "{}").expect("write");
    std::fs::write(dir.path().join("task.json"), "{}").expect("write");
    assert_eq!(
        load_entities(dir.path()).expect_err("refused").code(),
        "duplicate-table"
    );
    for i in 0..=schema::MAX_ENTITIES {
        std::fs::write(dir.path().join(format!("E{i}.jsonc")), "{}").expect("write");
    }
    assert_eq!(
        load_entities(dir.path()).expect_err("refused").code(),
        "too-many-entities"
    );
    let err = load_entities(&dir.path().join("missing")).expect_err("refused");
    assert_eq!(err.code(), "io");
    assert!(!err.is_bad_input());
}

#[test]
fn decoding_applied_rows() {
    assert_eq!(
        decode_applied("Task", "nope").expect_err("bad").code(),
        "invalid-applied"
    );
    let applied = Applied::new(task_v1());
    let json = serde_json::to_string(&applied).expect("json");
    assert_eq!(decode_applied("Task", &json).expect("decodes"), applied);
    assert_eq!(
        decode_applied("Other", &json).expect_err("bad").code(),
        "invalid-applied"
    );
    let future = json.replace("\"format\":2", "\"format\":3");
    assert_eq!(
        decode_applied("Task", &future).expect_err("bad").code(),
        "invalid-applied"
    );
    // Format 1 (before the ordering indexes) still reads; its next migration makes them all.
    let old = decode_applied("Task", &json.replace("\"format\":2", "\"format\":1"))
        .expect("format 1 reads");
    assert_eq!(old.format, 1);
    let plan = plan_migration(Some(&old), task_v1(), Dialect::Sqlite).expect("plan");
    assert!(
        plan.statements
            .iter()
            .any(|s| s.contains("\"task__created_date_idx\"")),
        "{:#?}",
        plan.statements
    );
    assert_eq!(plan.applied.format, 2);
    let again = plan_migration(Some(&plan.applied), task_v1(), Dialect::Sqlite).expect("again");
    assert!(again.statements.is_empty(), "{:#?}", again.statements);
}

#[test]
fn create_table_sql_shapes() {
    let entities = fixture_entities();
    let task = entities.iter().find(|e| e.name == "Task").expect("Task");
    let pg = create_table_sql(task, Dialect::Postgres).join(";\n");
    for part in [
        "\"created_date\" timestamptz NOT NULL DEFAULT now()",
        "\"status\" text CONSTRAINT \"status_enum\" CHECK (\"status\" IN ('todo', 'doing', 'done'))",
        "\"due\" timestamptz",
        "\"priority\" bigint",
        "\"done\" boolean",
        "\"tags\" jsonb",
        "\"extra\" jsonb NOT NULL DEFAULT '{}'",
        "CREATE INDEX IF NOT EXISTS \"task__created_by_idx\" ON \"task\" (\"created_by\")",
    ] {
        assert!(pg.contains(part), "missing {part} in\n{pg}");
    }
    assert!(
        !pg.contains("NOT NULL DEFAULT 'todo'"),
        "required is not NOT NULL"
    );
    let lite = create_table_sql(task, Dialect::Sqlite).join(";\n");
    for part in [
        "\"created_date\" TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))",
        "\"status\" TEXT,",
        "\"done\" INTEGER CHECK (\"done\" IN (0, 1))",
        "\"tags\" TEXT CHECK (json_valid(\"tags\"))",
        ") STRICT",
    ] {
        assert!(lite.contains(part), "missing {part} in\n{lite}");
    }
    let member = entities
        .iter()
        .find(|e| e.name == "TeamMember")
        .expect("TeamMember");
    let sql = create_table_sql(member, Dialect::Sqlite).join(";\n");
    assert!(sql.contains("\"team_member__tenant_id_idx\""), "{sql}");
}

/// The page a signed-in caller asks for most — their own rows, newest first or by a date of
/// the schema — is read from a `(rls field, ordering column)` index on SQLite: no full scan,
/// no sort of every matching row.
#[test]
fn sqlite_reads_a_callers_newest_rows_from_an_index() {
    use ferry_compat::base44::query::{
        ListQuery, parse_list, register_sqlite_functions, select_sql,
    };
    let order = parse_entity(
        "Order.jsonc",
        r#"{"name": "Order", "properties": {"status": {"type": "string", "enum": ["paid", "open"]},
            "amount": {"type": "number"}, "placed_at": {"type": "string", "format": "date-time"},
            "note": {"type": "string"}},
            "rls": {"read": {"created_by": "{{user.email}}"}}}"#,
    )
    .expect("parse");
    let conn = rusqlite::Connection::open_in_memory().expect("sqlite");
    register_sqlite_functions(&conn).expect("functions");
    for sql in create_table_sql(&order, Dialect::Sqlite) {
        conn.execute_batch(&sql).expect("ddl");
    }
    for (sort, index) in [
        ("-placed_at", "order__created_by__placed_at_ix2"),
        ("-created_date", "order__created_by__created_date_ix2"),
    ] {
        let params = vec![
            (
                "q".to_string(),
                r#"{"created_by": "a@example.com", "status": "paid", "amount": {"$gte": 100}}"#
                    .to_string(),
            ),
            ("sort".to_string(), sort.to_string()),
            ("limit".to_string(), "50".to_string()),
        ];
        let query: ListQuery = parse_list(&params).expect("list");
        let sql = select_sql(&order, &query, Dialect::Sqlite).expect("select");
        let mut stmt = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {}", sql.text))
            .expect("explain");
        let plan: Vec<String> = stmt
            .query_map(
                rusqlite::params_from_iter(sql.params.iter().map(|p| match p {
                    ferry_compat::base44::query::SqlValue::Text(t) => SqlValue::Text(t.clone()),
                    ferry_compat::base44::query::SqlValue::Int(i) => SqlValue::Integer(*i),
                    ferry_compat::base44::query::SqlValue::Float(f) => SqlValue::Real(*f),
                    _ => SqlValue::Null,
                })),
                |r| r.get::<_, String>(3),
            )
            .expect("plan")
            .map(|r| r.expect("row"))
            .collect();
        let plan = plan.join("\n");
        assert!(plan.contains(index), "{sort}: {plan}\n{}", sql.text);
        assert!(
            !plan.contains("USE TEMP B-TREE FOR ORDER BY"),
            "{sort}: {plan}"
        );
    }
}
