//! The Base44 query translator never panics on any `q`, `sort` or `fields`, and what it
//! accepts becomes SQL that (a) never carries client text (the SQL is ASCII and every
//! placeholder has a parameter) and (b) runs without error on SQLite over a table with a few
//! awkward records; PostgreSQL SQL is built too.
#![no_main]
use std::cell::RefCell;

use ferry_compat::base44::model::{Dialect, Entity, Field, FieldType};
use ferry_compat::base44::query::{
    ListQuery, Sql, count_sql, parse_filter, parse_list, register_sqlite_functions, select_sql,
};

fn field(name: &str, ty: FieldType) -> Field {
    Field {
        name: name.into(),
        column: name.into(),
        ty,
        required: false,
        default: None,
    }
}

fn entity() -> Entity {
    Entity {
        name: "Task".into(),
        table: "tasks".into(),
        fields: vec![
            field("title", FieldType::String),
            field(
                "status",
                FieldType::Enum(vec!["todo".into(), "done".into()]),
            ),
            field("priority", FieldType::Integer),
            field("score", FieldType::Number),
            field("done", FieldType::Boolean),
            field("due", FieldType::DateTime),
            field("day", FieldType::Date),
            field("tags", FieldType::Array),
            field("meta", FieldType::Object),
        ],
        rls: None,
    }
}

fn connection() -> rusqlite::Connection {
    let conn = rusqlite::Connection::open_in_memory().expect("open");
    register_sqlite_functions(&conn).expect("functions");
    conn.execute_batch(
        r#"CREATE TABLE "tasks" ("id" TEXT PRIMARY KEY, "created_date" TEXT, "updated_date" TEXT,
            "created_by" TEXT, "created_by_id" TEXT, "title" TEXT, "status" TEXT,
            "priority" INTEGER, "score" REAL, "done" INTEGER, "due" TEXT, "day" TEXT,
            "tags" TEXT, "meta" TEXT, "extra" TEXT NOT NULL DEFAULT '{}');
        INSERT INTO "tasks" VALUES
          ('a', '2024-01-01T00:00:00.000Z', '2024-01-01T00:00:00.000Z', 'u', 'u1', 'x', 'todo',
           1, 1.5, 1, '2024-01-02T03:04:05.000Z', '2024-01-02', '["a",1,null,[2],{"k":"v"}]',
           '{"a":{"b":[1,"2",true]},"0":"zero"}', '{"k":[{"a":1},"s",3.5,false,null],"n":"7"}'),
          ('b', '2024-01-02T00:00:00.000Z', '2024-01-02T00:00:00.000Z', NULL, NULL, NULL, NULL,
           NULL, NULL, NULL, NULL, NULL, NULL, NULL, '{}'),
          ('c', '2024-01-03T00:00:00.000Z', '2024-01-03T00:00:00.000Z', '', '', '', 'done',
           -9223372036854775808, -0.0, 0, '0001-01-01T00:00:00.000Z', '9999-12-31', '[]', '{}',
           '{"k":"","a":{"b":{"c":[[[]]]}}, "weird key":1e308}');"#,
    )
    .expect("table");
    conn
}

thread_local! {
    static CONN: RefCell<Option<rusqlite::Connection>> = const { RefCell::new(None) };
}

fn check(sql: &Sql, run: bool) {
    assert!(
        sql.text.is_ascii(),
        "client text leaked into SQL: {}",
        sql.text
    );
    let n = sql.params.len();
    assert!(
        !sql.text.contains(&format!("?{}", n + 1)) && !sql.text.contains(&format!("${}", n + 1))
    );
    if !run {
        return;
    }
    CONN.with(|cell| {
        let mut slot = cell.borrow_mut();
        let conn = slot.get_or_insert_with(connection);
        let mut stmt = conn
            .prepare(&sql.text)
            .unwrap_or_else(|e| panic!("{e}: {}", sql.text));
        let mut rows = stmt
            .query(rusqlite::params_from_iter(sql.params.iter()))
            .unwrap_or_else(|e| panic!("{e}: {}", sql.text));
        loop {
            match rows.next() {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => panic!("{e}: {}", sql.text),
            }
        }
    });
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let entity = entity();
    let text = String::from_utf8_lossy(data);
    let mut queries: Vec<ListQuery> = Vec::new();
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data)
        && let Ok(filter) = parse_filter(&value)
    {
        queries.push(ListQuery {
            filter: Some(filter),
            ..ListQuery::default()
        });
    }
    // The same bytes as each HTTP parameter; `sort` and `fields` split at the first newline.
    let (a, b) = text.split_once('\n').unwrap_or((&text, ""));
    let params = vec![
        ("q".to_string(), text.to_string()),
        ("sort".to_string(), a.to_string()),
        ("fields".to_string(), b.to_string()),
        ("limit".to_string(), b.to_string()),
    ];
    for attempt in [&params[..1], &params[1..2], &params[2..3], &params[3..]] {
        if let Ok(query) = parse_list(attempt) {
            queries.push(query);
        }
    }
    for query in &queries {
        for dialect in [Dialect::Postgres, Dialect::Sqlite] {
            let run = dialect == Dialect::Sqlite;
            if let Ok(sql) = select_sql(&entity, query, dialect) {
                check(&sql, run);
            }
            if let Ok(sql) = count_sql(&entity, query.filter.as_ref(), dialect) {
                check(&sql, run);
            }
        }
    }
});
