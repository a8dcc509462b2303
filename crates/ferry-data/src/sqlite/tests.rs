//! The target end to end on temporary files: DDL of a hand-built catalog, chunks, redo.

use super::*;
use crate::canon::{sqlite_hash, sqlite_row};
use crate::catalog::{Column, Constraint, EnumType, Index, ValueKind};

fn column(name: &str, sql_type: &str, kind: ValueKind) -> Column {
    Column {
        name: name.into(),
        sql_type: sql_type.into(),
        kind,
        not_null: false,
        default: None,
        identity: None,
        generated: None,
        oid_bound: false,
    }
}

fn constraint(name: &str, kind: char, columns: &[&str]) -> Constraint {
    Constraint {
        name: name.into(),
        kind,
        definition: String::new(),
        references: None,
        columns: columns.iter().map(|c| c.to_string()).collect(),
        ref_columns: vec![],
        on_delete: "NO ACTION".into(),
        on_update: "NO ACTION".into(),
        index: None,
    }
}

fn table(schema: &str, name: &str, columns: Vec<Column>) -> Table {
    Table {
        name: QualifiedName::new(schema, name),
        columns,
        primary_key: vec![],
        unique_key: vec![],
        constraints: vec![],
        indexes: vec![],
        rls: (false, false),
        policies: vec![],
        grants: vec![],
        triggers: vec![],
        estimated_rows: 0,
        bytes: 0,
    }
}

/// `public.projects` (composite key), `public.todos` (enum, json, array, bytea, float,
/// generated, FK), `app.Notes` (another schema, FK to a table outside the copy).
fn catalog() -> Catalog {
    let mut projects = table(
        "public",
        "projects",
        vec![
            column("org", "integer", ValueKind::Int),
            column("slug", "text", ValueKind::Text),
        ],
    );
    projects.columns[0].not_null = true;
    projects.columns[1].not_null = true;
    projects.primary_key = vec!["org".into(), "slug".into()];
    projects
        .constraints
        .push(constraint("projects_pkey", 'p', &["org", "slug"]));

    let mut todos = table(
        "public",
        "todos",
        vec![
            column("id", "bigint", ValueKind::Int),
            column("org", "integer", ValueKind::Int),
            column("slug", "text", ValueKind::Text),
            column("status", "public.\"Todo Status\"", ValueKind::Enum),
            column("meta", "jsonb", ValueKind::Jsonb),
            column(
                "tags",
                "text[]",
                ValueKind::Array(Box::new(ValueKind::Text)),
            ),
            column("done", "boolean", ValueKind::Bool),
            column("score", "double precision", ValueKind::Float),
            column("amount", "numeric(10,2)", ValueKind::Numeric),
            column("blob", "bytea", ValueKind::Bytea),
            column("at", "timestamp with time zone", ValueKind::TimestampTz),
            column("title", "text", ValueKind::Text),
            column("title_lower", "text", ValueKind::Text),
            column("search", "tsvector", ValueKind::Other),
        ],
    );
    todos.columns[0].not_null = true;
    todos.columns[3].default = Some("'todo'::public.\"Todo Status\"".into());
    todos.columns[6].default = Some("false".into());
    todos.columns[10].default = Some("now()".into());
    todos.columns[12].generated = Some("lower(title)".into());
    todos.columns[13].generated = Some("to_tsvector('english'::regconfig, title)".into());
    todos.primary_key = vec!["id".into()];
    todos
        .constraints
        .push(constraint("todos_pkey", 'p', &["id"]));
    let mut fk = constraint("todos_project_fkey", 'f', &["org", "slug"]);
    fk.references = Some(QualifiedName::new("public", "projects"));
    fk.ref_columns = vec!["org".into(), "slug".into()];
    fk.on_delete = "CASCADE".into();
    todos.constraints.push(fk);
    todos
        .constraints
        .push(constraint("todos_score_check", 'c', &["score"]));
    todos.indexes = vec![
        Index {
            name: "todos_title_idx".into(),
            definition: "CREATE INDEX todos_title_idx ON public.todos USING btree (title)".into(),
            unique: false,
            columns: vec!["title".into()],
        },
        Index {
            name: "todos_meta_idx".into(),
            definition: "CREATE INDEX todos_meta_idx ON public.todos USING gin (meta)".into(),
            unique: false,
            columns: vec!["meta".into()],
        },
        Index {
            name: "todos_open_idx".into(),
            definition:
                "CREATE INDEX todos_open_idx ON public.todos USING btree (id) WHERE (NOT done)"
                    .into(),
            unique: false,
            columns: vec!["id".into()],
        },
    ];

    let mut notes = table(
        "app",
        "Notes",
        vec![
            column("id", "integer", ValueKind::Int),
            column("user_id", "uuid", ValueKind::Uuid),
        ],
    );
    let mut fk = constraint("notes_user_fkey", 'f', &["user_id"]);
    fk.references = Some(QualifiedName::new("auth", "users"));
    fk.ref_columns = vec!["id".into()];
    notes.constraints.push(fk);
    notes.indexes.push(Index {
        name: "todos_title_idx".into(),
        definition: "CREATE UNIQUE INDEX todos_title_idx ON app.\"Notes\" USING btree (id)".into(),
        unique: true,
        columns: vec!["id".into()],
    });
    notes.indexes.push(Index {
        name: "Todos_Title_Idx".into(),
        definition: "CREATE INDEX \"Todos_Title_Idx\" ON app.\"Notes\" USING btree (user_id)"
            .into(),
        unique: false,
        columns: vec!["user_id".into()],
    });

    Catalog {
        enums: vec![EnumType {
            name: QualifiedName::new("public", "Todo Status"),
            labels: vec!["todo".into(), "doing".into(), "it's done".into()],
        }],
        tables: vec![projects, todos, notes],
        ..Catalog::default()
    }
}

fn open(dir: &tempfile::TempDir) -> SqliteTarget {
    SqliteTarget::open(&dir.path().join("t.db")).expect("open")
}

fn count(target: &SqliteTarget, table: &str) -> i64 {
    target
        .connection()
        .query_row(
            &format!("SELECT count(*) FROM {}", quote_ident(table)),
            [],
            |r| r.get(0),
        )
        .expect("count")
}

fn write(
    target: &mut SqliteTarget,
    table: &Table,
    delete_where: Option<&str>,
    data: &[u8],
) -> Result<u64> {
    let mut chunk = target.begin_chunk(table, delete_where)?;
    chunk.write_copy_text(data)?;
    chunk.commit()
}

#[test]
fn sqlite_table_names() {
    assert_eq!(table_name(&QualifiedName::new("public", "todos")), "todos");
    assert_eq!(
        table_name(&QualifiedName::new("auth", "users")),
        "auth.users"
    );
}

#[test]
fn sqlite_target_and_chunk_writer_are_send() {
    fn send<T: Send>() {}
    send::<SqliteTarget>();
    send::<ChunkWriter<'static>>();
}

#[test]
fn sqlite_open_needs_the_folder() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("no/such/t.db");
    assert!(matches!(
        SqliteTarget::open(&missing),
        Err(DataError::Sqlite { .. })
    ));
    assert!(open_read_only(&dir.path().join("absent.db")).is_err());
    let target = open(&dir);
    let mode: String = target
        .connection()
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("mode");
    assert_eq!(mode, "wal");
}

#[test]
fn sqlite_ddl_carries_keys_checks_and_warnings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut target = open(&dir);
    let catalog = catalog();
    let warnings = target.create_tables(&catalog, false).expect("create");
    let joined = warnings.join("\n");
    assert!(joined.contains("generated column search"), "{joined}");
    assert!(
        joined.contains("CHECK constraints not carried to SQLite: todos_score_check"),
        "{joined}"
    );
    assert!(
        joined.contains("notes_user_fkey not carried") && joined.contains("auth.users"),
        "{joined}"
    );
    assert!(!joined.contains("todos_project_fkey"), "{joined}");

    let sql: String = target
        .connection()
        .query_row(
            "SELECT sql FROM sqlite_schema WHERE name = 'todos'",
            [],
            |r| r.get(0),
        )
        .expect("sql");
    assert!(
        sql.contains("CHECK (\"status\" IN ('todo', 'doing', 'it''s done'))"),
        "{sql}"
    );
    assert!(
        sql.contains("\"title_lower\" TEXT GENERATED ALWAYS AS (lower(\"title\")) STORED"),
        "{sql}"
    );
    assert!(!sql.contains("\"search\""), "{sql}");
    assert!(
        sql.contains("REFERENCES \"projects\" (\"org\", \"slug\") ON DELETE CASCADE"),
        "{sql}"
    );

    let conn = target.connection();
    conn.execute_batch("INSERT INTO projects VALUES (1, 'a')")
        .expect("parent");
    let insert = |sql: &str| conn.execute_batch(sql);
    assert!(
        insert("INSERT INTO projects VALUES (1, 'a')").is_err(),
        "composite primary key"
    );
    assert!(
        insert("INSERT INTO todos (id, status) VALUES (1, 'nope')").is_err(),
        "enum check"
    );
    assert!(
        insert("INSERT INTO todos (id, meta) VALUES (1, '{bad')").is_err(),
        "json check"
    );
    assert!(
        insert("INSERT INTO todos (id, tags) VALUES (1, '[1,')").is_err(),
        "array check"
    );
    assert!(
        insert("INSERT INTO todos (id, done) VALUES (1, 2)").is_err(),
        "bool check"
    );
    assert!(
        insert("INSERT INTO projects (org) VALUES (5)").is_err(),
        "not null"
    );
    insert("INSERT INTO todos (id, org, slug, title) VALUES (1, 1, 'a', 'Hello')")
        .expect("defaults");
    let (status, done, at, lower): (String, i64, String, String) = conn
        .query_row(
            "SELECT status, done, at, title_lower FROM todos WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .expect("row");
    assert_eq!(
        (status.as_str(), done, lower.as_str()),
        ("todo", 0, "hello")
    );
    assert!(
        at.len() == 27 && at.ends_with('Z') && at.as_bytes()[10] == b'T',
        "{at}"
    );

    // Foreign keys hold once enforced.
    conn.execute_batch("PRAGMA foreign_keys = ON")
        .expect("fk on");
    assert!(
        insert("INSERT INTO todos (id, org, slug) VALUES (2, 9, 'zz')").is_err(),
        "foreign key"
    );
    conn.execute_batch("DELETE FROM projects; PRAGMA foreign_keys = OFF")
        .expect("cascade");
    assert_eq!(count(&target, "todos"), 0, "ON DELETE CASCADE");

    // The catalog is kept for later readers.
    let (version, json): (i64, String) = target
        .connection()
        .query_row("SELECT version, catalog FROM _ferry_schema", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .expect("meta");
    assert_eq!(version, SCHEMA_VERSION);
    let back: Catalog = serde_json::from_str(&json).expect("catalog json");
    assert_eq!(back.tables.len(), 3);

    // Indexes: plain btree carried, gin and partial not; the clashing name is prefixed.
    let warnings = target.create_indexes(&catalog).expect("indexes").join("\n");
    assert!(
        warnings.contains("todos_meta_idx not carried"),
        "{warnings}"
    );
    assert!(
        warnings.contains("todos_open_idx not carried"),
        "{warnings}"
    );
    let mut names: Vec<String> = target
        .connection()
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<rusqlite::Result<_>>()
        .expect("names");
    names.sort();
    assert_eq!(
        names,
        [
            "app.Notes_Todos_Title_Idx",
            "app.todos_title_idx",
            "todos_title_idx"
        ]
    );
    // Idempotent (a resumed pull runs it again).
    target.create_indexes(&catalog).expect("indexes again");

    // A resumed pull keeps rows; a replacing one drops them.
    target
        .connection()
        .execute_batch("INSERT INTO projects VALUES (2, 'b')")
        .expect("row");
    target.create_tables(&catalog, false).expect("again");
    assert_eq!(
        target.existing_rows(&catalog).expect("existing")[0],
        ("public.projects".to_string(), 1)
    );
    target.create_tables(&catalog, true).expect("replace");
    let existing = target.existing_rows(&catalog).expect("existing");
    assert_eq!(
        existing,
        [
            ("public.projects".to_string(), 0),
            ("public.todos".to_string(), 0),
            ("app.Notes".to_string(), 0)
        ]
    );
}

#[test]
fn sqlite_ddl_refuses_names_sqlite_confuses() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut target = open(&dir);
    let mut catalog = catalog();
    catalog.tables.push(table(
        "public",
        "Projects",
        vec![column("x", "integer", ValueKind::Int)],
    ));
    assert!(matches!(
        target.create_tables(&catalog, false),
        Err(DataError::UnsupportedType { .. })
    ));
    let mut catalog = self::catalog();
    catalog.tables[0]
        .columns
        .push(column("ORG", "integer", ValueKind::Int));
    assert!(matches!(
        target.create_tables(&catalog, false),
        Err(DataError::UnsupportedType { .. })
    ));
}

#[test]
fn sqlite_chunks_bind_every_storage_and_redo_without_duplicates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut target = open(&dir);
    let catalog = catalog();
    target.create_tables(&catalog, false).expect("create");
    let projects = &catalog.tables[0];
    let todos = &catalog.tables[1];
    write(&mut target, projects, None, b"1\ta\n").expect("parent");

    // id org slug status meta tags done score amount blob at title
    let rows: &[u8] = b"1\t1\ta\ttodo\t{\"k\": \"a\\\\tb\"}\t[\"x\", \"y\"]\t1\t0.1\t12.50\t\\\\x00ff\t2024-01-02T03:04:05.000006Z\tTab\\there\n\
2\t\\N\t\\N\t\\N\t\\N\t\\N\t0\t-0\t\\N\t\\\\x\t\\N\t\n\
3\t\\N\t\\N\tit's done\t\\N\t\\N\t\\N\t1e+308\t0.00\t\\N\tinfinity\t\\\\N\n\
4\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t5e-324\t\\N\t\\N\t\\N\tline\\nbreak\\r\\\\\n\
5\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t-Infinity\t\\N\t\\N\t\\N\t\\303\\251t\\303\\251\n\
6\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\tNaN\t\\N\t\\N\t\\N\t\\N\n";
    // Split at every byte position: the same rows land.
    for cut in 0..=rows.len() {
        let mut chunk = target.begin_chunk(todos, Some("TRUE")).expect("begin");
        let first = chunk.write_copy_text(&rows[..cut]).expect("first part");
        let second = chunk.write_copy_text(&rows[cut..]).expect("second part");
        assert_eq!(first + second, 6, "cut at {cut}");
        assert_eq!(chunk.commit().expect("commit"), 6);
    }
    assert_eq!(count(&target, "todos"), 6);

    let conn = target.connection();
    let text = |sql: &str| -> Option<String> { conn.query_row(sql, [], |r| r.get(0)).expect(sql) };
    assert_eq!(
        text("SELECT meta FROM todos WHERE id = 1").as_deref(),
        Some("{\"k\": \"a\\tb\"}")
    );
    assert_eq!(
        text("SELECT title FROM todos WHERE id = 1").as_deref(),
        Some("Tab\there")
    );
    assert_eq!(
        text("SELECT title FROM todos WHERE id = 2").as_deref(),
        Some(""),
        "empty string, not NULL"
    );
    assert_eq!(
        text("SELECT title FROM todos WHERE id = 3").as_deref(),
        Some("\\N"),
        "an escaped \\N is text"
    );
    assert_eq!(
        text("SELECT title FROM todos WHERE id = 4").as_deref(),
        Some("line\nbreak\r\\")
    );
    assert_eq!(
        text("SELECT title FROM todos WHERE id = 5").as_deref(),
        Some("été")
    );
    assert_eq!(text("SELECT title FROM todos WHERE id = 6"), None);
    assert_eq!(
        text("SELECT amount FROM todos WHERE id = 1").as_deref(),
        Some("12.50"),
        "numeric stays exact text"
    );
    assert_eq!(
        text("SELECT amount FROM todos WHERE id = 3").as_deref(),
        Some("0.00")
    );
    assert_eq!(
        text("SELECT typeof(done) FROM todos WHERE id = 1").as_deref(),
        Some("integer")
    );
    assert_eq!(
        text("SELECT lower(hex(blob)) FROM todos WHERE id = 1").as_deref(),
        Some("00ff")
    );
    assert_eq!(
        text("SELECT typeof(blob) || length(blob) FROM todos WHERE id = 2").as_deref(),
        Some("blob0")
    );
    assert_eq!(
        text("SELECT title_lower FROM todos WHERE id = 1").as_deref(),
        Some("tab\there")
    );
    let hex = |id: i64| -> Option<String> {
        conn.query_row(
            "SELECT ferry_f64hex(score) FROM todos WHERE id = ?1",
            [id],
            |r| r.get(0),
        )
        .expect("hex")
    };
    assert_eq!(hex(1).as_deref(), Some("3fb999999999999a"));
    // REAL affinity stores -0.0 as the integer 0: it reads back as +0.0 (docs/data-sqlite.md).
    assert_eq!(hex(2).as_deref(), Some("0000000000000000"));
    assert_eq!(hex(3).as_deref(), Some("7fe1ccf385ebc8a0"));
    assert_eq!(hex(4).as_deref(), Some("0000000000000001"));
    assert_eq!(hex(5).as_deref(), Some("fff0000000000000"));
    assert_eq!(hex(6), None, "NaN is stored as NULL");

    // The verify expressions of canon.rs run on the stored rows.
    let row = sqlite_hash(&sqlite_row(todos.copied_columns()));
    let sum: i64 = conn
        .query_row(&format!("SELECT ferry_sum64({row}) FROM todos"), [], |r| {
            r.get(0)
        })
        .expect("checksum");
    let again: i64 = conn
        .query_row(
            &format!("SELECT ferry_sum64({row}) FROM (SELECT * FROM todos ORDER BY id DESC)"),
            [],
            |r| r.get(0),
        )
        .expect("checksum");
    assert_eq!(sum, again);

    // Redo of a range: the rows of the range are replaced, never duplicated.
    let redo: &[u8] = b"2\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t2\t\\N\t\\N\t\\N\tredone\n3\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t3\t\\N\t\\N\t\\N\tredone\n";
    for _ in 0..2 {
        assert_eq!(
            write(&mut target, todos, Some("\"id\" >= 2 AND \"id\" < 4"), redo).expect("redo"),
            2
        );
    }
    assert_eq!(count(&target, "todos"), 6);
    let redone: i64 = target
        .connection()
        .query_row(
            "SELECT count(*) FROM todos WHERE title = 'redone'",
            [],
            |r| r.get(0),
        )
        .expect("redone");
    assert_eq!(redone, 2);

    // Without the delete, the redo collides with the primary key and changes nothing.
    assert!(write(&mut target, todos, None, redo).is_err());
    assert_eq!(count(&target, "todos"), 6);
}

#[test]
fn sqlite_chunk_errors_roll_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut target = open(&dir);
    let catalog = catalog();
    target.create_tables(&catalog, false).expect("create");
    let projects = &catalog.tables[0];
    write(&mut target, projects, None, b"1\ta\n").expect("row");

    let wrong = write(&mut target, projects, None, b"2\tb\n3\n").expect_err("field count");
    assert!(wrong.to_string().contains("public.projects"), "{wrong}");
    let extra = write(&mut target, projects, None, b"2\tb\tc\n").expect_err("field count");
    assert!(extra.to_string().contains("3 fields"), "{extra}");
    assert!(
        write(&mut target, projects, None, b"x\tb\n").is_err(),
        "not an integer"
    );
    assert!(
        write(&mut target, projects, None, b"2\tb").is_err(),
        "ends inside a row"
    );
    {
        let mut chunk = target.begin_chunk(projects, Some("TRUE")).expect("begin");
        chunk.write_copy_text(b"7\tz\n").expect("write");
        // Dropped without commit.
    }
    assert_eq!(
        count(&target, "projects"),
        1,
        "every failed or dropped chunk rolled back"
    );

    // NaN cannot be stored in a NOT NULL float column.
    let mut strict = table(
        "public",
        "m",
        vec![column("v", "double precision", ValueKind::Float)],
    );
    strict.columns[0].not_null = true;
    let only = Catalog {
        tables: vec![strict],
        ..Catalog::default()
    };
    target.create_tables(&only, false).expect("create");
    let nan = write(&mut target, &only.tables[0], None, b"NaN\n").expect_err("nan");
    assert!(matches!(nan, DataError::UnsupportedType { .. }), "{nan}");

    // The verifier's read-only connection sees the committed rows and has the functions.
    target.finish().expect("finish");
    let reader = open_read_only(target.path()).expect("read-only");
    let n: i64 = reader
        .query_row("SELECT ferry_sum64(org) FROM projects", [], |r| r.get(0))
        .expect("sum");
    assert_eq!(n, 1);
    assert!(
        reader.execute_batch("DELETE FROM projects").is_err(),
        "read-only"
    );
}
