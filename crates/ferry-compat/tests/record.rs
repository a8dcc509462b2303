//! The record layer against real databases: the fixture entities' tables (from the schema
//! mapper), hand-written records written with `insert_sql`/`insert_many_sql`/`update_sql`/
//! `delete_sql`, read back with `get_sql` and `query::select_sql`, decoded with
//! `row_to_record`, and compared with hand-written JSON on SQLite and on PostgreSQL (the two
//! outputs must also be identical).

use std::path::PathBuf;

use ferry_compat::base44::model::{Dialect, Entity, Field, FieldType};
use ferry_compat::base44::query::{
    ListQuery, Sql, count_sql, parse_filter, register_sqlite_functions, select_sql,
};
use ferry_compat::base44::record::{
    Author, Cell, MAX_BULK, RecordError, delete_sql, get_sql, insert_many_sql, insert_sql, new_id,
    public_columns, row_to_record, update_sql,
};
use ferry_compat::base44::schema::{create_table_sql, load_entities};
use serde_json::{Map, Value, json};

const LONG: &str = "a_very_long_property_name_a_very_long_property_name_a_very_long_property_name_a_very_long_property_n";

fn entities() -> Vec<Entity> {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/base44/entities");
    load_entities(&dir).expect("fixtures load")
}

fn entity(name: &str) -> Entity {
    entities()
        .into_iter()
        .find(|e| e.name == name)
        .expect("fixture entity")
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

fn ann() -> Author {
    Author {
        email: Some("ann@example.com".into()),
        id: Some("u-ann".into()),
    }
}

// ---- the two databases ------------------------------------------------------------------

trait Db {
    fn dialect(&self) -> Dialect;
    fn rows(&mut self, sql: &Sql) -> Vec<Vec<Cell>>;
    fn batch(&mut self, sql: &str);
}

struct Lite(rusqlite::Connection);

impl Db for Lite {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn rows(&mut self, sql: &Sql) -> Vec<Vec<Cell>> {
        let mut stmt = self
            .0
            .prepare(&sql.text)
            .unwrap_or_else(|e| panic!("{e}\n{}", sql.text));
        let n = stmt.column_count();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(&sql.params))
            .expect("query");
        let mut out = Vec::new();
        while let Some(row) = rows.next().expect("row") {
            out.push(
                (0..n)
                    .map(|i| row.get::<_, Cell>(i).expect("cell"))
                    .collect(),
            );
        }
        out
    }

    fn batch(&mut self, sql: &str) {
        self.0.execute_batch(sql).expect("batch");
    }
}

fn sqlite() -> Lite {
    let conn = rusqlite::Connection::open_in_memory().expect("open");
    register_sqlite_functions(&conn).expect("functions");
    let mut db = Lite(conn);
    for e in entities() {
        for stmt in create_table_sql(&e, Dialect::Sqlite) {
            db.batch(&stmt);
        }
    }
    db
}

struct Pg {
    rt: tokio::runtime::Runtime,
    client: tokio_postgres::Client,
    _cluster: ferry_test::pg::Cluster,
}

/// PostgreSQL's binary `date`: days since 2000-01-01.
struct PgDate(i32);

impl<'a> tokio_postgres::types::FromSql<'a> for PgDate {
    fn from_sql(
        _: &tokio_postgres::types::Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(PgDate(i32::from_be_bytes(raw.try_into()?)))
    }

    fn accepts(ty: &tokio_postgres::types::Type) -> bool {
        *ty == tokio_postgres::types::Type::DATE
    }
}

fn pg_cell(row: &tokio_postgres::Row, i: usize) -> Cell {
    use tokio_postgres::types::Type;
    let ty = row.columns()[i].type_().clone();
    let cell = if ty == Type::TEXT {
        row.get::<_, Option<String>>(i).map(Cell::Text)
    } else if ty == Type::INT8 {
        row.get::<_, Option<i64>>(i).map(Cell::Int)
    } else if ty == Type::FLOAT8 {
        row.get::<_, Option<f64>>(i).map(Cell::Float)
    } else if ty == Type::BOOL {
        row.get::<_, Option<bool>>(i).map(Cell::Bool)
    } else if ty == Type::JSONB {
        row.get::<_, Option<Value>>(i).map(Cell::Json)
    } else if ty == Type::TIMESTAMPTZ {
        row.get::<_, Option<std::time::SystemTime>>(i)
            .map(Cell::timestamp)
    } else if ty == Type::DATE {
        row.get::<_, Option<PgDate>>(i)
            .map(|d| Cell::Int(i64::from(d.0) + 10_957))
    } else {
        panic!("unexpected column type {ty}");
    };
    cell.unwrap_or(Cell::Null)
}

impl Db for Pg {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn rows(&mut self, sql: &Sql) -> Vec<Vec<Cell>> {
        use tokio_postgres::types::ToSql;
        let boxed = ferry_compat::base44::store::bind_postgres(&sql.params);
        let refs: Vec<&(dyn ToSql + Sync)> = boxed
            .iter()
            .map(|b| b.as_ref() as &(dyn ToSql + Sync))
            .collect();
        let rows = self
            .rt
            .block_on(self.client.query(sql.text.as_str(), &refs))
            .unwrap_or_else(|e| panic!("{e:?}\n{}", sql.text));
        rows.iter()
            .map(|r| (0..r.len()).map(|i| pg_cell(r, i)).collect())
            .collect()
    }

    fn batch(&mut self, sql: &str) {
        self.rt
            .block_on(self.client.batch_execute(sql))
            .unwrap_or_else(|e| panic!("{e:?}\n{sql}"));
    }
}

fn postgres() -> Pg {
    let cluster = ferry_test::pg::Cluster::start().expect("cluster");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (client, connection) = rt
        .block_on(tokio_postgres::connect(
            &cluster.url("postgres"),
            tokio_postgres::NoTls,
        ))
        .expect("connect");
    rt.spawn(connection);
    let mut db = Pg {
        rt,
        client,
        _cluster: cluster,
    };
    for e in entities() {
        for stmt in create_table_sql(&e, Dialect::Postgres) {
            db.batch(&stmt);
        }
    }
    db
}

// ---- helpers ----------------------------------------------------------------------------

/// Decodes the rows of a statement into records.
fn records(db: &mut dyn Db, entity: &Entity, sql: &Sql) -> Vec<Value> {
    let dialect = db.dialect();
    db.rows(sql)
        .iter()
        .map(|cells| row_to_record(entity, cells, dialect).expect("decodes"))
        .collect()
}

fn get(db: &mut dyn Db, entity: &Entity, id: &str) -> Option<Value> {
    let sql = get_sql(entity, id, db.dialect(), None).expect("get sql");
    let mut rows = records(db, entity, &sql);
    assert!(rows.len() <= 1);
    rows.pop()
}

fn count(db: &mut dyn Db, entity: &Entity) -> i64 {
    let sql = count_sql(entity, None, db.dialect()).expect("count sql");
    match db.rows(&sql)[0][0] {
        Cell::Int(n) => n,
        ref other => panic!("count: {other:?}"),
    }
}

fn is_iso_ms(v: &Value) -> bool {
    let Some(s) = v.as_str() else { return false };
    let b = s.as_bytes();
    b.len() == 24
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'.',
            23 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

/// Checks the built-in dates' format (and `updated_date >= created_date`), then replaces
/// them with `"<date>"` so records compare with hand-written ones; a generated id (24 hex)
/// becomes `"<id>"`.
fn masked(mut record: Value) -> Value {
    let created = record["created_date"].clone();
    let updated = record["updated_date"].clone();
    assert!(is_iso_ms(&created), "created_date {created}");
    assert!(is_iso_ms(&updated), "updated_date {updated}");
    assert!(updated.as_str() >= created.as_str());
    record["created_date"] = json!("<date>");
    record["updated_date"] = json!("<date>");
    let id = record["id"].as_str().unwrap_or_default();
    if id.len() == 24
        && id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        record["id"] = json!("<id>");
    }
    record
}

fn builtins(id: &str, by: Option<&str>, by_id: Option<&str>) -> Map<String, Value> {
    obj(json!({
        "id": id, "created_date": "<date>", "updated_date": "<date>",
        "created_by": by, "created_by_id": by_id,
    }))
}

fn with(mut base: Map<String, Value>, rest: Value) -> Value {
    base.extend(obj(rest));
    Value::Object(base)
}

// ---- the scenario, run on both dialects -------------------------------------------------

/// Runs every write and read of the scenario, asserting the hand-written expectations;
/// returns every record read (masked), for comparing the two dialects.
fn scenario(db: &mut dyn Db) -> Vec<Value> {
    let dialect = db.dialect();
    let task = entity("Task");
    let weird = entity("Weird");
    let mut seen = Vec::new();

    // -- Task: declared and undeclared fields, nulls, nested JSON, unicode, built-ins sent
    let first = obj(json!({
        "id": "task-1",
        "title": "Écrire ✍️ 日本語 \"quoted\" 'single'",
        "status": "doing",
        "due": "2024-03-05T00:30:00+01:00",
        "priority": 2.0,
        "done": true,
        "tags": ["a", "ü", ""],
        "meta": {"source": "x", "estimate": 1.5, "deep": {"n": null, "list": [1, {"z": true}]}},
        "color": "red",
        "nested": {"a": [1, 2.5, {"b": null}], "emoji": "🦀"},
        "gone": null,
        "created_date": "1999-01-01T00:00:00Z",
        "updated_date": "nonsense",
        "created_by": "mallory@example.com",
        "created_by_id": "mallory",
    }));
    let (id, sql) = insert_sql(&task, &first, &ann(), dialect).expect("insert");
    assert_eq!(id, "task-1");
    let returned = records(db, &task, &sql);
    let want_first = with(
        builtins("task-1", Some("ann@example.com"), Some("u-ann")),
        json!({
            "title": "Écrire ✍️ 日本語 \"quoted\" 'single'",
            "status": "doing",
            "due": "2024-03-04T23:30:00.000Z",
            "priority": 2,
            "done": true,
            "tags": ["a", "ü", ""],
            "meta": {"source": "x", "estimate": 1.5, "deep": {"n": null, "list": [1, {"z": true}]}},
            "color": "red",
            "nested": {"a": [1, 2.5, {"b": null}], "emoji": "🦀"},
        }),
    );
    assert_eq!(returned.len(), 1);
    assert_eq!(masked(returned[0].clone()), want_first);
    let got = get(db, &task, "task-1").expect("found");
    assert_eq!(got, returned[0], "RETURNING and SELECT agree");
    assert_eq!(
        got["created_date"], got["updated_date"],
        "one clock per insert"
    );
    seen.push(masked(got.clone()));

    // -- defaults for absent declared fields; an anonymous author; a generated id
    let (id2, sql) = insert_sql(
        &task,
        &obj(json!({"title": "second"})),
        &Author::default(),
        dialect,
    )
    .expect("insert");
    assert_eq!(id2.len(), 24);
    assert_eq!(records(db, &task, &sql).len(), 1);
    let got2 = get(db, &task, &id2).expect("found");
    assert_eq!(got2["id"], json!(id2));
    assert_eq!(
        masked(got2),
        with(
            builtins("<id>", None, None),
            json!({"title": "second", "status": "todo", "priority": 3, "done": false}),
        )
    );

    // -- explicit nulls win over defaults and are left out when read
    let (id3, sql) = insert_sql(
        &task,
        &obj(json!({"id": "task-3", "title": null, "status": null, "priority": null, "extra": {"x": 1}})),
        &ann(),
        dialect,
    )
    .expect("insert");
    db.rows(&sql);
    let got3 = masked(get(db, &task, &id3).expect("found"));
    assert_eq!(
        got3,
        with(
            builtins("task-3", Some("ann@example.com"), Some("u-ann")),
            json!({"done": false, "extra": {"x": 1}}),
        )
    );
    seen.push(got3);

    // -- a partial update: declared, undeclared, null removal, built-ins ignored
    let changes = obj(json!({
        "title": "renamed",
        "priority": null,
        "tags": [],
        "color": null,
        "size": "L",
        "nested": {"x": 1},
        "id": "hijack",
        "created_by": "mallory@example.com",
        "created_by_id": "mallory",
        "created_date": "2000-01-01T00:00:00Z",
        "updated_date": "2000-01-01T00:00:00Z",
    }));
    let sql = update_sql(&task, "task-1", &changes, dialect, None).expect("update");
    let updated = records(db, &task, &sql);
    assert_eq!(updated.len(), 1);
    let want_updated = with(
        builtins("task-1", Some("ann@example.com"), Some("u-ann")),
        json!({
            "title": "renamed",
            "status": "doing",
            "due": "2024-03-04T23:30:00.000Z",
            "done": true,
            "tags": [],
            "meta": {"source": "x", "estimate": 1.5, "deep": {"n": null, "list": [1, {"z": true}]}},
            "nested": {"x": 1},
            "size": "L",
        }),
    );
    assert_eq!(masked(updated[0].clone()), want_updated);
    assert_eq!(updated[0]["created_date"], got["created_date"]);
    assert_eq!(get(db, &task, "task-1").as_ref(), Some(&updated[0]));
    assert!(get(db, &task, "hijack").is_none());
    seen.push(masked(updated[0].clone()));

    // -- an update with nothing but built-ins only touches updated_date
    let sql = update_sql(&task, "task-1", &obj(json!({"id": "x"})), dialect, None).expect("sql");
    assert_eq!(masked(records(db, &task, &sql)[0].clone()), want_updated);

    // -- an extra filter (row-level security) that hides the record: nothing happens
    let other = parse_filter(&json!({"created_by": "bob@example.com"})).expect("filter");
    let mine =
        parse_filter(&json!({"created_by": "ann@example.com", "size": "L"})).expect("filter");
    let sql = update_sql(
        &task,
        "task-1",
        &obj(json!({"title": "by bob"})),
        dialect,
        Some(&other),
    )
    .expect("sql");
    assert!(db.rows(&sql).is_empty());
    let sql = get_sql(&task, "task-1", dialect, Some(&other)).expect("sql");
    assert!(db.rows(&sql).is_empty());
    let sql = get_sql(&task, "task-1", dialect, Some(&mine)).expect("sql");
    assert_eq!(masked(records(db, &task, &sql)[0].clone()), want_updated);
    let sql = delete_sql(&task, "task-1", dialect, Some(&other)).expect("sql");
    assert!(db.rows(&sql).is_empty());
    assert_eq!(
        masked(get(db, &task, "task-1").expect("kept")),
        want_updated
    );

    // -- select_sql rows decode too (same columns, same order)
    let list = ListQuery {
        filter: Some(parse_filter(&json!({"done": {"$ne": true}})).expect("filter")),
        // By id, as the expected records are listed.
        sort: Vec::new(),
        ..ListQuery::default()
    };
    let sql = select_sql(&task, &list, dialect).expect("select");
    let listed = records(db, &task, &sql);
    let mut listed_ids: Vec<&str> = listed.iter().filter_map(|r| r["id"].as_str()).collect();
    listed_ids.sort_unstable();
    let mut want_ids = vec![id2.as_str(), "task-3"];
    want_ids.sort_unstable();
    assert_eq!(listed_ids, want_ids);
    for r in &listed {
        assert_eq!(
            Some(r),
            get(db, &task, r["id"].as_str().expect("id")).as_ref()
        );
    }
    let sql = select_sql(&task, &ListQuery::default(), dialect).expect("select");
    assert_eq!(db.rows(&sql)[0].len(), public_columns(&task).len());

    // -- delete
    let sql = delete_sql(&task, "task-1", dialect, Some(&mine)).expect("sql");
    let deleted = records(db, &task, &sql);
    assert_eq!(deleted.len(), 1);
    assert_eq!(masked(deleted[0].clone()), want_updated);
    assert!(get(db, &task, "task-1").is_none());
    assert!(
        db.rows(&delete_sql(&task, "task-1", dialect, None).expect("sql"))
            .is_empty()
    );

    // -- bulk insert of 3 (different key sets, one generated id)
    let bulk = vec![
        obj(json!({"id": "b1", "title": "one", "priority": 5, "label": "x"})),
        obj(json!({"title": "two", "tags": ["t"], "due": "2024-12-31T23:59:59.999Z"})),
        obj(json!({"id": "b3", "status": "done", "done": true, "meta": {}, "label": null})),
    ];
    let (ids, sql) = insert_many_sql(&task, &bulk, &ann(), dialect).expect("bulk");
    assert_eq!(ids.len(), 3);
    assert_eq!((ids[0].as_str(), ids[2].as_str()), ("b1", "b3"));
    assert_eq!(db.rows(&sql).len(), 3);
    let who = || builtins("", Some("ann@example.com"), Some("u-ann"));
    let want_bulk = [
        with(
            who(),
            json!({"id": "b1", "title": "one", "status": "todo", "priority": 5, "done": false, "label": "x"}),
        ),
        with(
            who(),
            json!({"id": "<id>", "title": "two", "status": "todo", "priority": 3, "done": false,
                   "tags": ["t"], "due": "2024-12-31T23:59:59.999Z"}),
        ),
        with(
            who(),
            json!({"id": "b3", "status": "done", "priority": 3, "done": true, "meta": {}}),
        ),
    ];
    for (id, want) in ids.iter().zip(&want_bulk) {
        let got = masked(get(db, &task, id).expect("bulk row"));
        assert_eq!(&got, want);
        seen.push(got);
    }

    // -- Weird: hostile property names, a declared `extra`, a hashed-name date, big integers
    let record = obj(json!({
        "due date": "2024-02-29",
        "say \"hi\"": "hi \"there\"",
        LONG: 9_007_199_254_740_993_i64,
        "extra": {"k": "declared, not the extra column"},
        "Title": "Upper",
        "title": "lower",
        "xmin": 10.0,
        "2fa": false,
        "nested": {"a": "x"},
        "list": [1, [2, [3]]],
        "untyped": "ok",
        "maybe": null,
        "When": "2024-01-10T09:00:00.123456Z",
        "no_labels": "anything",
        "undeclared key with spaces": "u",
        "ünï.cødé": 1.25,
        "created_date": 5,
    }));
    let (wid, sql) = insert_sql(&weird, &record, &ann(), dialect).expect("insert weird");
    db.rows(&sql);
    let want_weird = with(
        builtins("<id>", Some("ann@example.com"), Some("u-ann")),
        json!({
            "due date": "2024-02-29",
            "first-name": "http://x.y/z",
            "say \"hi\"": "hi \"there\"",
            LONG: 9_007_199_254_740_993_i64,
            "extra": {"k": "declared, not the extra column"},
            "Title": "Upper",
            "title": "lower",
            "xmin": 10,
            "2fa": false,
            "nested": {"a": "x"},
            "list": [1, [2, [3]]],
            "untyped": "ok",
            "When": "2024-01-10T09:00:00.123Z",
            "no_labels": "anything",
            "undeclared key with spaces": "u",
            "ünï.cødé": 1.25,
        }),
    );
    let got = masked(get(db, &weird, &wid).expect("weird"));
    assert_eq!(got, want_weird);
    seen.push(got);
    let changes = obj(json!({
        "xmin": 0.1,
        "2fa": true,
        "extra": {"k2": [null]},
        "ünï.cødé": null,
        "due date": null,
        "When": "2024-06-30T23:00:00-02:00",
        "another one": {"deep": {"er": [true]}},
    }));
    let sql = update_sql(&weird, &wid, &changes, dialect, None).expect("update weird");
    let got = masked(records(db, &weird, &sql).pop().expect("updated"));
    let want = with(
        builtins("<id>", Some("ann@example.com"), Some("u-ann")),
        json!({
            "first-name": "http://x.y/z",
            "say \"hi\"": "hi \"there\"",
            LONG: 9_007_199_254_740_993_i64,
            "extra": {"k2": [null]},
            "Title": "Upper",
            "title": "lower",
            "xmin": 0.1,
            "2fa": true,
            "nested": {"a": "x"},
            "list": [1, [2, [3]]],
            "untyped": "ok",
            "When": "2024-07-01T01:00:00.000Z",
            "no_labels": "anything",
            "undeclared key with spaces": "u",
            "another one": {"deep": {"er": [true]}},
        }),
    );
    assert_eq!(got, want);
    seen.push(got);
    let list = ListQuery {
        filter: Some(parse_filter(&json!({"another one.deep.er": true})).expect("filter")),
        ..ListQuery::default()
    };
    let sql = select_sql(&weird, &list, dialect).expect("select");
    assert_eq!(
        records(db, &weird, &sql)
            .into_iter()
            .map(masked)
            .collect::<Vec<_>>(),
        vec![want]
    );

    // -- refused writes leave the tables alone
    let before = (count(db, &task), count(db, &weird));
    for (entity, record, code) in bad_records() {
        let e = if entity == "Task" { &task } else { &weird };
        let err = insert_sql(e, &record, &ann(), dialect).expect_err("refused");
        assert_eq!(err.code(), code, "{record:?}: {err}");
        let err = insert_many_sql(e, &[obj(json!({})), record.clone()], &ann(), dialect)
            .expect_err("refused");
        assert_eq!(err.code(), code);
        assert!(
            matches!(err, RecordError::InRecord { index: 1, .. }),
            "{err:?}"
        );
        if code != "bad-id" {
            let err = update_sql(e, "b1", &record, dialect, None).expect_err("refused");
            assert_eq!(err.code(), code, "{record:?}: {err}");
        }
    }
    assert_eq!((count(db, &task), count(db, &weird)), before);
    assert_eq!(
        masked(get(db, &task, "b1").expect("b1")),
        want_bulk[0],
        "untouched"
    );
    seen
}

/// `(entity, record, code)` of writes that must be refused.
fn bad_records() -> Vec<(&'static str, Map<String, Value>, &'static str)> {
    let mut deep = json!(1);
    for _ in 0..100 {
        deep = json!([deep]);
    }
    let mut at_limit = json!(1);
    for _ in 0..31 {
        at_limit = json!([at_limit]);
    }
    let mut wide = Map::new();
    for i in 0..1001 {
        wide.insert(format!("k{i}"), json!(i));
    }
    vec![
        ("Task", obj(json!({"priority": "3"})), "bad-value"),
        ("Task", obj(json!({"priority": 1.5})), "bad-value"),
        ("Task", obj(json!({"priority": 1e19})), "bad-value"),
        ("Task", obj(json!({"priority": u64::MAX})), "bad-value"),
        ("Task", obj(json!({"status": "nope"})), "bad-value"),
        ("Task", obj(json!({"status": 1})), "bad-value"),
        ("Task", obj(json!({"title": 5})), "bad-value"),
        (
            "Task",
            obj(json!({"title": "nul \u{0} inside"})),
            "bad-value",
        ),
        (
            "Task",
            obj(json!({"meta": {"k": "nul \u{0}"}})),
            "bad-value",
        ),
        ("Task", obj(json!({"done": "true"})), "bad-value"),
        ("Task", obj(json!({"done": 1})), "bad-value"),
        ("Task", obj(json!({"tags": "a,b"})), "bad-value"),
        ("Task", obj(json!({"meta": []})), "bad-value"),
        ("Task", obj(json!({"due": "yesterday"})), "bad-value"),
        (
            "Task",
            obj(json!({"due": "2024-02-30T00:00:00Z"})),
            "bad-value",
        ),
        ("Weird", obj(json!({"due date": "2024-02-30"})), "bad-value"),
        (
            "Weird",
            obj(json!({"due date": "2024-02-03T00:00:00Z"})),
            "bad-value",
        ),
        (
            "Task",
            obj(json!({"blob": "x".repeat(2 << 20)})),
            "too-large",
        ),
        (
            "Task",
            Map::from_iter([("deep".to_string(), deep)]),
            "too-deep",
        ),
        ("Task", obj(json!({"tags": [at_limit]})), "too-deep"),
        ("Task", wide, "too-large"),
        ("Task", obj(json!({"$set": {"title": "x"}})), "bad-record"),
        ("Task", obj(json!({"": 1})), "bad-record"),
        ("Task", obj(json!({"a\"b": 1})), "bad-record"),
        ("Task", obj(json!({"id": "has space"})), "bad-id"),
        ("Task", obj(json!({"id": 5})), "bad-id"),
        ("Task", obj(json!({"id": "x".repeat(65)})), "bad-id"),
    ]
}

#[test]
fn sqlite_records_round_trip() {
    scenario(&mut sqlite());
}

#[test]
fn postgres_records_round_trip_identically() {
    if ferry_test::pg::skip_if_unavailable("postgres_records_round_trip_identically") {
        return;
    }
    let pg = scenario(&mut postgres());
    let lite = scenario(&mut sqlite());
    assert_eq!(pg, lite, "both dialects return the same records");
}

#[test]
fn limits_and_ids_without_a_database() {
    let task = entity("Task");
    for dialect in [Dialect::Sqlite, Dialect::Postgres] {
        // the depth limit itself is allowed: the record is level 1, `[[…1…]]` 31 levels more
        let mut ok = json!(1);
        for _ in 0..30 {
            ok = json!([ok]);
        }
        insert_sql(&task, &obj(json!({"tags": [ok]})), &ann(), dialect).expect("31 deep is fine");
        let err = insert_many_sql(&task, &[], &ann(), dialect).expect_err("empty");
        assert_eq!(err.code(), "bad-record");
        let many = vec![obj(json!({})); MAX_BULK + 1];
        let err = insert_many_sql(&task, &many, &ann(), dialect).expect_err("too many");
        assert_eq!(err.code(), "too-large");
        let twice = vec![obj(json!({"id": "a"})), obj(json!({"id": "a"}))];
        let err = insert_many_sql(&task, &twice, &ann(), dialect).expect_err("twice");
        assert_eq!(err.code(), "bad-record");
        for id in ["", "a b", "é", "x;--"] {
            assert_eq!(
                get_sql(&task, id, dialect, None).expect_err("id").code(),
                "bad-id"
            );
            assert_eq!(
                delete_sql(&task, id, dialect, None).expect_err("id").code(),
                "bad-id"
            );
            let err = update_sql(&task, id, &Map::new(), dialect, None).expect_err("id");
            assert_eq!(err.code(), "bad-id");
        }
    }
    // over the parameter limit: 40 fields × 1000 records
    let wide = Entity {
        name: "Wide".into(),
        table: "wide".into(),
        fields: (0..40)
            .map(|i| Field {
                name: format!("f{i}"),
                column: format!("f{i}"),
                ty: FieldType::Integer,
                required: false,
                default: None,
            })
            .collect(),
        rls: None,
    };
    let record: Map<String, Value> = (0..40).map(|i| (format!("f{i}"), json!(i))).collect();
    let err = insert_many_sql(
        &wide,
        &vec![record.clone(); 1000],
        &ann(),
        Dialect::Postgres,
    )
    .expect_err("too many parameters");
    assert_eq!(err.code(), "too-large");
    let (_, sql) =
        insert_many_sql(&wide, &vec![record; 500], &ann(), Dialect::Sqlite).expect("fits");
    assert!(sql.params.len() < 32_766);
}

#[test]
fn new_ids_are_hex_unique_and_sorted_by_time() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let first = new_id();
    let ids: std::collections::HashSet<String> = (0..10_000).map(|_| new_id()).collect();
    assert_eq!(ids.len(), 10_000);
    for id in ids.iter().chain([&first]) {
        assert_eq!(id.len(), 24);
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "{id}"
        );
    }
    let secs = u64::from_str_radix(&first[..8], 16).expect("hex");
    assert!(secs.abs_diff(now) <= 2, "{secs} vs {now}");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let later = new_id();
    assert!(later[..8] > first[..8], "{later} after {first}");
}
