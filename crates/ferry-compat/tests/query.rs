//! The Base44 query translator against real databases: a hand-written `Task` table (created
//! here as the storage contract says, not by the schema mapper), 30 hand-written records, and
//! hand-derived answers for filters, sorts and paging, on SQLite and on PostgreSQL.

use ferry_compat::base44::model::{Dialect, Entity, Field, FieldType};
use ferry_compat::base44::query::{
    ListQuery, Pattern, Sql, SqlValue, count_sql, parse_filter, parse_list,
    register_sqlite_functions, select_sql,
};
use serde_json::{Value, json};

fn field(name: &str, ty: FieldType) -> Field {
    Field {
        name: name.into(),
        column: name.into(),
        ty,
        required: false,
        default: None,
    }
}

fn task() -> Entity {
    Entity {
        name: "Task".into(),
        table: "tasks".into(),
        fields: vec![
            field("title", FieldType::String),
            field(
                "status",
                FieldType::Enum(vec!["todo".into(), "doing".into(), "done".into()]),
            ),
            field("priority", FieldType::Integer),
            field("score", FieldType::Number),
            field("done", FieldType::Boolean),
            field("due", FieldType::DateTime),
            field("tags", FieldType::Array),
            field("meta", FieldType::Object),
        ],
        rls: None,
    }
}

const SQLITE_DDL: &str = r#"CREATE TABLE "tasks" (
    "id" TEXT PRIMARY KEY, "created_date" TEXT NOT NULL, "updated_date" TEXT NOT NULL,
    "created_by" TEXT, "created_by_id" TEXT,
    "title" TEXT, "status" TEXT, "priority" INTEGER, "score" REAL, "done" INTEGER,
    "due" TEXT, "tags" TEXT, "meta" TEXT, "extra" TEXT NOT NULL DEFAULT '{}')"#;

const PG_DDL: &str = r#"CREATE TABLE "tasks" (
    "id" text PRIMARY KEY, "created_date" timestamptz NOT NULL, "updated_date" timestamptz NOT NULL,
    "created_by" text, "created_by_id" text,
    "title" text, "status" text, "priority" bigint, "score" double precision, "done" boolean,
    "due" timestamptz, "tags" jsonb, "meta" jsonb, "extra" jsonb NOT NULL DEFAULT '{}')"#;

const INSERT_SQLITE: &str =
    r#"INSERT INTO "tasks" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"#;
const INSERT_PG: &str = r#"INSERT INTO "tasks" VALUES ($1, $2::text::timestamptz,
    $3::text::timestamptz, $4, $5, $6, $7, $8::text::int8, $9::text::float8, $10::text::bool,
    $11::text::timestamptz, $12::text::jsonb, $13::text::jsonb, $14::text::jsonb)"#;

/// One record as the app sees it: `(n, title, status, priority, score, done, due, tags, meta,
/// extra properties)`; `created_date` is 2024-01-nn, `created_by` alternates ann/bob.
#[allow(clippy::type_complexity)]
fn records() -> Vec<(
    u32,
    Value,
    Value,
    Value,
    Value,
    Value,
    Value,
    Value,
    Value,
    Value,
)> {
    let n = Value::Null;
    let t = |s: &str| json!(format!("2024-{s}.000Z"));
    vec![
        (
            1,
            json!("Alpha"),
            json!("todo"),
            json!(1),
            json!(1.5),
            json!(false),
            t("01-10T09:00:00"),
            json!(["red", "blue"]),
            json!({"owner": {"name": "ann"}, "n": 1}),
            json!({"color": "red"}),
        ),
        (
            2,
            json!("beta"),
            json!("doing"),
            json!(2),
            json!(2.0),
            json!(false),
            t("01-15T12:00:00"),
            json!(["blue"]),
            json!({"owner": {"name": "bob"}, "n": 2}),
            json!({"color": "blue", "rank": 3}),
        ),
        (
            3,
            json!("Gamma"),
            json!("done"),
            json!(3),
            json!(3.25),
            json!(true),
            t("02-01T00:00:00"),
            json!(["green", "red"]),
            json!({"owner": {"name": "ann"}, "n": 3}),
            json!({"rank": 1}),
        ),
        (
            4,
            json!("delta"),
            json!("todo"),
            json!(5),
            json!(10),
            json!(false),
            n.clone(),
            json!([]),
            json!({}),
            json!({}),
        ),
        (
            5,
            json!("Epsilon"),
            json!("doing"),
            n.clone(),
            n.clone(),
            n.clone(),
            t("03-01T10:30:00"),
            n.clone(),
            n.clone(),
            json!({"color": null}),
        ),
        (
            6,
            json!("zeta"),
            json!("done"),
            json!(4),
            json!(-1),
            json!(true),
            json!("2023-12-31T23:59:59.999Z"),
            json!(["red"]),
            json!({"owner": {"name": "cy"}, "n": 4, "flags": [1, 2, 3]}),
            json!({"rank": "2"}),
        ),
        (
            7,
            n.clone(),
            json!("todo"),
            json!(2),
            json!(0),
            json!(false),
            t("01-10T09:00:00"),
            json!(["blue", "blue"]),
            json!({"n": 2.0}),
            json!({"rank": 2}),
        ),
        (
            8,
            json!("eta"),
            n.clone(),
            json!(3),
            json!(99.5),
            json!(true),
            t("06-01T00:00:00"),
            json!(["a", "b", "c"]),
            json!({"owner": {"name": "Ann"}}),
            json!({"color": "RED"}),
        ),
        (
            9,
            json!("Theta"),
            json!("todo"),
            json!(1),
            json!(1),
            json!(false),
            n.clone(),
            json!(["x"]),
            json!({"items": [{"name": "pen", "qty": 2}, {"name": "ink", "qty": 10}]}),
            json!({"nested": {"deep": {"v": 5}}}),
        ),
        (
            10,
            json!("iota"),
            json!("done"),
            json!(5),
            json!(7.75),
            json!(true),
            t("01-20T00:00:00"),
            json!(["red", "green", "blue"]),
            json!({"items": [{"name": "pen", "qty": 1}]}),
            json!({"nested": {"deep": {"v": "5"}}}),
        ),
        (
            11,
            json!("kappa"),
            json!("doing"),
            json!(3),
            json!(3),
            json!(false),
            t("01-15T12:00:00"),
            json!(["blue", "red"]),
            json!({"owner": {"name": "dee"}}),
            json!({"list": [1, 2, 3]}),
        ),
        (
            12,
            json!("lambda"),
            json!("todo"),
            json!(4),
            json!(4.5),
            json!(false),
            t("02-29T08:00:00"),
            json!([1, 2, 3]),
            json!({"n": 5}),
            json!({"list": [5]}),
        ),
        (
            13,
            json!("mu"),
            json!("done"),
            json!(2),
            json!(2.5),
            json!(true),
            t("05-05T05:05:05"),
            json!(["red"]),
            json!({"owner": {"name": "eve"}}),
            json!({"color": "green", "rank": 5}),
        ),
        (
            14,
            json!("nu"),
            json!("doing"),
            json!(1),
            json!(8),
            json!(false),
            t("01-10T08:59:59"),
            json!([["red"]]),
            json!({"n": 0}),
            json!({"flag": true}),
        ),
        (
            15,
            json!("xi"),
            json!("todo"),
            json!(3),
            json!(6),
            json!(true),
            t("04-01T00:00:00"),
            json!(["blue"]),
            json!({"owner": null}),
            json!({"flag": false}),
        ),
        (
            16,
            json!("omicron"),
            json!("done"),
            json!(5),
            json!(9.5),
            json!(false),
            t("01-31T23:00:00"),
            json!(["Red"]),
            json!({"n": "5"}),
            json!({"flag": "true"}),
        ),
        (
            17,
            json!("pi"),
            json!("todo"),
            json!(0),
            json!(0.5),
            json!(false),
            t("07-04T00:00:00"),
            json!([null, "red"]),
            json!({}),
            json!({"rank": 10, "note": "it's; DROP TABLE tasks; --"}),
        ),
        (
            18,
            json!("rho"),
            json!("doing"),
            json!(2),
            json!(5),
            json!(true),
            n.clone(),
            json!(["green"]),
            json!({"owner": {"name": "bob"}}),
            json!({"weird key": "yes"}),
        ),
        (
            19,
            json!("sigma"),
            json!("done"),
            json!(4),
            json!(4),
            json!(false),
            t("01-10T09:00:00"),
            json!(["blue", "green"]),
            json!({"n": 7}),
            json!({"rank": 3.5}),
        ),
        (
            20,
            json!("tau"),
            json!("todo"),
            json!(1),
            json!(2),
            json!(true),
            t("03-15T00:00:00"),
            json!(["red", "red"]),
            json!({"owner": {"name": "ann"}, "n": 8}),
            json!({}),
        ),
        (
            21,
            json!("upsilon"),
            json!("doing"),
            json!(3),
            json!(1.25),
            json!(false),
            t("02-01T00:00:00"),
            json!([]),
            json!({"n": 9}),
            json!({"color": "blue"}),
        ),
        (
            22,
            json!("phi"),
            json!("done"),
            json!(2),
            json!(3.5),
            json!(true),
            t("01-01T00:00:00"),
            json!(["green"]),
            json!({"n": 10}),
            json!({"rank": -1}),
        ),
        (
            23,
            json!("chi"),
            json!("todo"),
            json!(5),
            json!(100),
            json!(false),
            json!("2025-01-01T00:00:00.000Z"),
            json!(["blue"]),
            json!({"n": 11}),
            json!({"color": ["red", "blue"]}),
        ),
        (
            24,
            json!("psi"),
            json!("doing"),
            json!(4),
            json!(7),
            json!(true),
            t("08-08T08:08:08"),
            json!(["red", "blue", "green", "x"]),
            json!({"n": 12}),
            json!({"items": [{"k": "a", "v": 1}, {"k": "b", "v": 2}]}),
        ),
        (
            25,
            json!("omega"),
            json!("done"),
            json!(1),
            json!(0.1),
            json!(false),
            t("01-05T00:00:00"),
            json!(["x", "y"]),
            json!({"n": 13}),
            json!({"items": [{"k": "a", "v": 3}]}),
        ),
        (
            26,
            json!("Alpha"),
            json!("todo"),
            json!(2),
            json!(2),
            json!(false),
            t("01-10T10:00:00"),
            json!(["red"]),
            json!({"n": 14}),
            json!({"color": "red", "rank": 4}),
        ),
        (
            27,
            json!(""),
            json!("todo"),
            json!(3),
            json!(3),
            json!(false),
            t("01-11T00:00:00"),
            json!(["blue"]),
            json!({"n": 15}),
            json!({}),
        ),
        (
            28,
            json!("alpha beta"),
            json!("doing"),
            json!(2),
            json!(2),
            json!(true),
            t("01-12T00:00:00"),
            json!(["red"]),
            json!({"n": 16}),
            json!({"rank": 0}),
        ),
        (
            29,
            json!("ALPHA"),
            json!("done"),
            json!(3),
            json!(3),
            json!(false),
            t("01-13T00:00:00"),
            json!(["blue"]),
            json!({"n": 17}),
            json!({"rank": null}),
        ),
        (
            30,
            json!("last"),
            json!("todo"),
            json!(9),
            json!(1000),
            json!(true),
            t("12-31T23:59:59"),
            json!(["red", "blue"]),
            json!({"n": 18}),
            json!({"rank": "ten"}),
        ),
    ]
}

/// The record's columns as text (or NULL), in table order.
fn row_texts(
    r: &(
        u32,
        Value,
        Value,
        Value,
        Value,
        Value,
        Value,
        Value,
        Value,
        Value,
    ),
) -> Vec<Option<String>> {
    let (n, title, status, priority, score, done, due, tags, meta, extra) = r;
    let created = format!("2024-01-{n:02}T00:00:00.000Z");
    let text = |v: &Value| match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    };
    let json_text = |v: &Value| (!v.is_null()).then(|| v.to_string());
    let who = if n % 2 == 1 { "ann@x.io" } else { "bob@x.io" };
    vec![
        Some(format!("t{n:02}")),
        Some(created.clone()),
        Some(created),
        Some(who.to_string()),
        Some(if n % 2 == 1 { "u1" } else { "u2" }.to_string()),
        text(title),
        text(status),
        text(priority),
        text(score),
        text(done),
        text(due),
        json_text(tags),
        json_text(meta),
        Some(extra.to_string()),
    ]
}

/// Hand-derived: filter → matching ids (in id order).
fn cases() -> Vec<(Value, &'static str)> {
    vec![
        (
            json!({"status": "done"}),
            "t03 t06 t10 t13 t16 t19 t22 t25 t29",
        ),
        (
            json!({"status": {"$ne": "todo"}}),
            "t02 t03 t05 t06 t08 t10 t11 t13 t14 t16 t18 t19 t21 t22 t24 t25 t28 t29",
        ),
        (
            json!({"priority": {"$gte": 4}}),
            "t04 t06 t10 t12 t16 t19 t23 t24 t30",
        ),
        (
            json!({"priority": {"$in": [0, 1]}}),
            "t01 t09 t14 t17 t20 t25",
        ),
        (
            json!({"priority": {"$nin": [1, 2, 3]}}),
            "t04 t05 t06 t10 t12 t16 t17 t19 t23 t24 t30",
        ),
        (
            json!({"score": {"$gt": 2, "$lte": 4}}),
            "t03 t11 t13 t19 t22 t27 t29",
        ),
        (json!({"score": 2}), "t02 t20 t26 t28"),
        (
            json!({"done": true}),
            "t03 t06 t08 t10 t13 t15 t18 t20 t22 t24 t28 t30",
        ),
        (
            json!({"done": {"$ne": true}}),
            "t01 t02 t04 t05 t07 t09 t11 t12 t14 t16 t17 t19 t21 t23 t25 t26 t27 t29",
        ),
        (json!({"title": {"$exists": false}}), "t07"),
        (
            json!({"title": {"$regex": "^alpha", "$options": "i"}}),
            "t01 t26 t28 t29",
        ),
        (json!({"title": {"$regex": "^a"}}), "t28"),
        (
            json!({"tags": "red"}),
            "t01 t03 t06 t10 t11 t13 t17 t20 t24 t26 t28 t30",
        ),
        (
            json!({"tags": {"$all": ["red", "blue"]}}),
            "t01 t10 t11 t24 t30",
        ),
        (json!({"tags": {"$size": 0}}), "t04 t21"),
        (
            json!({"tags": {"$size": 2}}),
            "t01 t03 t07 t11 t17 t19 t20 t25 t30",
        ),
        (
            json!({"tags": {"$nin": ["red", "blue"]}}),
            "t04 t05 t08 t09 t12 t14 t16 t18 t21 t22 t25",
        ),
        (json!({"tags": 2}), "t12"),
        (json!({"tags": null}), "t05 t17"),
        // t14's first element is ["red"], an array holding "red": MongoDB matches it too.
        (
            json!({"tags.0": "red"}),
            "t01 t06 t10 t13 t14 t20 t24 t26 t28 t30",
        ),
        (json!({"meta.owner.name": "ann"}), "t01 t03 t20"),
        (
            json!({"meta.owner.name": {"$regex": "^a", "$options": "i"}}),
            "t01 t03 t08 t20",
        ),
        (
            json!({"meta.owner": null}),
            "t04 t05 t07 t09 t10 t12 t14 t15 t16 t17 t19 t21 t22 t23 t24 t25 t26 t27 t28 t29 t30",
        ),
        (
            json!({"meta.owner": {"$exists": true}}),
            "t01 t02 t03 t06 t08 t11 t13 t15 t18 t20",
        ),
        (
            json!({"meta.n": {"$gt": 3}}),
            "t06 t12 t19 t20 t21 t22 t23 t24 t25 t26 t27 t28 t29 t30",
        ),
        (json!({"meta.n": 2}), "t02 t07"),
        (json!({"meta.n": "5"}), "t16"),
        (json!({"color": "red"}), "t01 t23 t26"),
        (
            json!({"color": {"$exists": true}}),
            "t01 t02 t05 t08 t13 t21 t23 t26",
        ),
        (
            json!({"color": {"$ne": "red"}}),
            "t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19 t20 t21 t22 t24 t25 t27 t28 t29 t30",
        ),
        (json!({"rank": {"$gte": 3}}), "t02 t13 t17 t19 t26"),
        (json!({"rank": {"$lt": "3"}}), "t06"),
        (
            json!({"rank": null}),
            "t01 t04 t05 t08 t09 t10 t11 t12 t14 t15 t16 t18 t20 t21 t23 t24 t25 t27 t29",
        ),
        (json!({"nested.deep.v": 5}), "t09"),
        (
            json!({"items": {"$elemMatch": {"k": "a", "v": {"$gte": 2}}}}),
            "t25",
        ),
        (
            json!({"meta.items": {"$elemMatch": {"name": "pen", "qty": {"$gt": 1}}}}),
            "t09",
        ),
        (json!({"list": {"$elemMatch": {"$gt": 2, "$lt": 5}}}), "t11"),
        (
            json!({"$or": [{"status": "doing"}, {"priority": 5}]}),
            "t02 t04 t05 t10 t11 t14 t16 t18 t21 t23 t24 t28",
        ),
        (
            json!({"$and": [{"done": false}, {"tags": "blue"}], "priority": {"$lt": 3}}),
            "t01 t02 t07",
        ),
        (
            json!({"$nor": [{"status": "todo"}, {"done": true}]}),
            "t02 t05 t11 t14 t16 t19 t21 t25 t29",
        ),
        (
            json!({"due": {"$gte": "2024-01-10T09:00:00Z", "$lt": "2024-01-15"}}),
            "t01 t07 t19 t26 t27 t28 t29",
        ),
        (json!({"due": "2024-01-10T10:00:00+01:00"}), "t01 t07 t19"),
        (json!({"due": {"$gt": "not a date"}}), ""),
        (json!({"due": {"$ne": "garbage"}}), ALL),
        (json!({"created_date": {"$gt": "2024-01-28"}}), "t29 t30"),
        (
            json!({"created_by": "ann@x.io", "priority": 1}),
            "t01 t09 t25",
        ),
        (
            json!({"priority": {"$mod": [2, 1]}}),
            "t01 t03 t04 t08 t09 t10 t11 t14 t15 t16 t20 t21 t23 t25 t27 t29 t30",
        ),
        (
            json!({"title": {"$in": ["Alpha", "", null]}}),
            "t01 t07 t26 t27",
        ),
        (
            json!({"title": {"$gt": "Z"}}),
            "t02 t04 t06 t08 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19 t20 t21 t22 t23 t24 t25 t28 t30",
        ),
        (json!({"meta.flags": {"$all": [3, 1]}}), "t06"),
        (json!({"weird key": "yes"}), "t18"),
        (json!({"note": {"$regex": "DROP TABLE"}}), "t17"),
        (json!({"flag": true}), "t14"),
        (json!({"flag": {"$lt": true}}), "t15"),
        (json!({"tags": {"$elemMatch": {"$eq": "Red"}}}), "t16"),
        (
            json!({"title": {"$not": {"$regex": "a"}}}),
            "t05 t07 t13 t14 t15 t16 t17 t18 t21 t22 t23 t24 t27 t29",
        ),
        (json!({"title.x": {"$exists": false}}), ALL),
        (json!({}), ALL),
    ]
}

const ALL: &str = "t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19 t20 t21 t22 t23 t24 t25 t26 t27 t28 t29 t30";

/// Hand-derived: (sort, limit, skip) → ids in order.
fn sort_cases() -> Vec<(&'static str, &'static str, &'static str, &'static str)> {
    vec![
        ("-priority", "5", "0", "t30 t04 t10 t16 t23"),
        ("score", "4", "0", "t05 t06 t07 t25"),
        (
            "rank",
            "30",
            "0",
            "t01 t04 t05 t08 t09 t10 t11 t12 t14 t15 t16 t18 t20 t21 t23 t24 t25 t27 t29 t22 t28 t03 t07 t02 t19 t26 t13 t17 t06 t30",
        ),
        (
            "-rank",
            "30",
            "0",
            "t30 t06 t17 t13 t26 t19 t02 t07 t03 t28 t22 t01 t04 t05 t08 t09 t10 t11 t12 t14 t15 t16 t18 t20 t21 t23 t24 t25 t27 t29",
        ),
        ("title", "6", "0", "t07 t27 t29 t01 t26 t05"),
        ("-done, title", "4", "0", "t03 t28 t08 t10"),
        ("-created_date", "3", "1", "t29 t28 t27"),
    ]
}

fn ids(list: &str) -> Vec<String> {
    list.split_whitespace().map(str::to_string).collect()
}

fn query_for(q: &Value) -> ListQuery {
    ListQuery {
        filter: Some(parse_filter(q).unwrap_or_else(|e| panic!("{q}: {e}"))),
        limit: 5000,
        // No sort keys: the rows come by id, so the hand-derived answers compare as lists.
        sort: Vec::new(),
        ..ListQuery::default()
    }
}

fn list_params(sort: &str, limit: &str, skip: &str) -> ListQuery {
    let params = [("sort", sort), ("limit", limit), ("skip", skip)]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect::<Vec<_>>();
    parse_list(&params).expect("valid list params")
}

/// Hostile inputs that must be refused, with the code.
fn hostile() -> Vec<(Vec<(&'static str, String)>, &'static str)> {
    let deep = (0..100).fold("{\"a\":1}".to_string(), |acc, _| {
        format!("{{\"$and\":[{acc}]}}")
    });
    let many: Vec<u32> = (0..100_000).collect();
    let big_in = json!({"id": {"$in": many}}).to_string();
    vec![
        (vec![("q", "{\"status\": ".into())], "bad-query"),
        (vec![("q", "[1]".into())], "bad-query"),
        (
            vec![("q", r#"{"$where": "sleep(1)"}"#.into())],
            "forbidden-operator",
        ),
        (
            vec![("q", r#"{"a": {"$expr": {"$eq": 1}}}"#.into())],
            "forbidden-operator",
        ),
        (
            vec![("q", r#"{"a": {"$foo": 1}}"#.into())],
            "unknown-operator",
        ),
        (vec![("q", r#"{"$or": 5}"#.into())], "bad-query"),
        (vec![("q", r#"{"ti\"tle": 1}"#.into())], "bad-field"),
        (vec![("q", "{\"title\\u0000\": 1}".into())], "bad-field"),
        (vec![("q", r#"{"$title": 1}"#.into())], "unknown-operator"),
        (vec![("q", r#"{"meta.$x": 1}"#.into())], "bad-field"),
        (vec![("q", deep)], "too-deep"),
        (vec![("q", big_in)], "too-large"),
        (
            vec![("q", r#"{"title": {"$regex": "(?=x)"}}"#.into())],
            "bad-regex",
        ),
        (vec![("sort", "$natural".into())], "bad-sort"),
        (vec![("sort", "ti\"tle".into())], "bad-sort"),
        // Field names are words: SQL in one is refused, never looked up.
        (vec![("sort", "id; DROP TABLE tasks".into())], "bad-sort"),
        (
            vec![("q", r#"{"title'; DROP TABLE tasks; --": "x"}"#.into())],
            "bad-field",
        ),
        (
            vec![("q", r#"{"a;--": {"$exists": false}}"#.into())],
            "bad-field",
        ),
        (vec![("fields", "title,(select 1)".into())], "bad-field"),
        (vec![("limit", "1000000000".into())], "limit"),
        (vec![("limit", "-5".into())], "limit"),
        (vec![("skip", "-1".into())], "bad-skip"),
        (vec![("fields", "a,b\"".into())], "bad-field"),
    ]
}

/// Accepted hostile-looking filters: harmless, and they match what the data says.
fn harmless() -> Vec<(Value, &'static str)> {
    vec![
        (json!({"title": "x' OR '1'='1"}), ""),
        (
            json!({"title": {"$regex": "(a+)+$"}}),
            "t01 t02 t03 t04 t06 t08 t09 t10 t11 t12 t19 t25 t26 t28",
        ),
    ]
}

/// A second table with a Date column: `(DDL, rows, cases)` for one dialect.
fn events(dialect: Dialect) -> (Entity, String, Vec<(Value, &'static str)>) {
    let entity = Entity {
        name: "Event".into(),
        table: "events".into(),
        fields: vec![field("day", FieldType::Date)],
        rls: None,
    };
    let (ts, date, json) = match dialect {
        Dialect::Postgres => ("timestamptz", "date", "jsonb"),
        Dialect::Sqlite => ("TEXT", "TEXT", "TEXT"),
    };
    let sql = format!(
        r#"CREATE TABLE "events" ("id" TEXT PRIMARY KEY, "created_date" {ts}, "updated_date" {ts},
            "created_by" TEXT, "created_by_id" TEXT, "day" {date}, "extra" {json} NOT NULL);
        INSERT INTO "events" VALUES
          ('e1', '2024-01-01T00:00:00.000Z', '2024-01-01T00:00:00.000Z', NULL, NULL, '2024-01-01', '{{}}'),
          ('e2', '2024-02-01T12:30:00.000Z', '2024-02-01T12:30:00.000Z', NULL, NULL, '2024-01-02', '{{}}'),
          ('e3', '2024-03-01T00:00:00.000Z', '2024-03-01T00:00:00.000Z', NULL, NULL, '2024-01-03', '{{}}'),
          ('e4', '2024-01-01T00:00:00.000Z', '2024-01-01T00:00:00.000Z', NULL, NULL, NULL, '{{}}');"#
    );
    let cases = vec![
        (json!({"day": "2024-01-02"}), "e2"),
        (json!({"day": {"$gt": "2024-01-02"}}), "e3"),
        // Not a date: compared as the YYYY-MM-DD text, as MongoDB's stored strings would be.
        (json!({"day": {"$gte": "2024-01-02T10:00"}}), "e3"),
        (json!({"day": {"$lt": "2024-01-02"}}), "e1"),
        (json!({"day": {"$regex": "-0[12]$"}}), "e1 e2"),
        (json!({"day": {"$ne": "2024-01-02"}}), "e1 e3 e4"),
        (json!({"day": null}), "e4"),
        (json!({"day": 20240102}), ""),
        (
            json!({"created_date": {"$regex": "^2024-02-01T12:30:00\\.000Z$"}}),
            "e2",
        ),
        (
            json!({"created_date": {"$lt": "2024-02-01T13:30:00+01:00"}}),
            "e1 e4",
        ),
        (
            json!({"created_date": {"$lte": "2024-02-01T13:30:00+01:00"}}),
            "e1 e2 e4",
        ),
    ];
    (entity, sql, cases)
}

const SUBJECTS: [&str; 7] = ["abc", "a\nb", "", "ABC abc", "x.y-z", "aaa]", "ab\nc\n"];

/// Patterns near the edge of the portable subset (some are refused, which is fine).
fn tricky_patterns() -> Vec<(&'static str, &'static str)> {
    let mut out = Vec::new();
    for p in [
        "a**",
        "a+*",
        "a{2}{3}",
        "a??",
        "a*?",
        "a+?b",
        "^*",
        "$+",
        "\\b+",
        "(|a)",
        "a|",
        "()",
        "[[:word:]]",
        "[[:alpha:]]+",
        "x{0}",
        "a{2,}",
        "[a-]",
        "[-a]",
        "[^]]",
        "[]a]",
        ".",
        "\\.",
        "\\-",
        "(?:)",
        "[\\d]",
        "[a\\]]",
        "\\ba",
        "b\\b",
        "\\Bb",
        "^a.c$",
        "^b$",
        "a.b",
        "a$",
        "^$",
        "[^a]",
        "\\w+\\s\\w+",
        "\\D\\S",
        "[\\w.-]+",
        "a{1,2}?",
        "(a)(b)(c)",
        "a{255}",
        "\\n",
        "b\\nc$",
        "[[:upper:]]{3}",
        "z*",
        "\\]",
        "c\\n$",
    ] {
        for options in ["", "i", "m", "s", "ms", "x"] {
            out.push((p, options));
        }
    }
    out
}

// ---- SQLite -----------------------------------------------------------------------------

fn sqlite() -> rusqlite::Connection {
    let conn = rusqlite::Connection::open_in_memory().expect("open");
    register_sqlite_functions(&conn).expect("functions");
    conn.execute_batch(SQLITE_DDL).expect("ddl");
    for r in records() {
        let texts = row_texts(&r);
        let values: Vec<rusqlite::types::Value> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| match (i, t) {
                (_, None) => rusqlite::types::Value::Null,
                (7, Some(s)) => rusqlite::types::Value::Integer(s.parse().expect("int")),
                (8, Some(s)) => rusqlite::types::Value::Real(s.parse().expect("real")),
                (9, Some(s)) => rusqlite::types::Value::Integer(i64::from(s == "true")),
                (_, Some(s)) => rusqlite::types::Value::Text(s.clone()),
            })
            .collect();
        conn.execute(INSERT_SQLITE, rusqlite::params_from_iter(values))
            .expect("insert");
    }
    conn
}

fn sqlite_ids(conn: &rusqlite::Connection, sql: &Sql) -> Result<Vec<String>, String> {
    let mut stmt = conn
        .prepare(&sql.text)
        .map_err(|e| format!("{e}\n{}", sql.text))?;
    let rows = stmt
        .query_map(rusqlite::params_from_iter(sql.params.iter()), |row| {
            row.get::<_, String>(0)
        })
        .map_err(|e| e.to_string())?;
    rows.collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{e}\n{}", sql.text))
}

fn sqlite_count(conn: &rusqlite::Connection, sql: &Sql) -> i64 {
    conn.query_row(
        &sql.text,
        rusqlite::params_from_iter(sql.params.iter()),
        |r| r.get(0),
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", sql.text))
}

#[test]
fn sqlite_answers_match_the_hand_derived_ones() {
    let conn = sqlite();
    let entity = task();
    let mut failures = Vec::new();
    for (q, want) in cases().into_iter().chain(harmless()) {
        let query = query_for(&q);
        let sql = select_sql(&entity, &query, Dialect::Sqlite).expect("select");
        match sqlite_ids(&conn, &sql) {
            Ok(got) if got == ids(want) => {
                let count =
                    count_sql(&entity, query.filter.as_ref(), Dialect::Sqlite).expect("count");
                assert_eq!(
                    sqlite_count(&conn, &count),
                    got.len() as i64,
                    "count for {q}"
                );
            }
            Ok(got) => failures.push(format!("{q}\n  want {want}\n  got  {}", got.join(" "))),
            Err(e) => failures.push(format!("{q}\n  error {e}")),
        }
    }
    for (sort, limit, skip, want) in sort_cases() {
        let sql =
            select_sql(&entity, &list_params(sort, limit, skip), Dialect::Sqlite).expect("select");
        match sqlite_ids(&conn, &sql) {
            Ok(got) if got == ids(want) => {}
            Ok(got) => failures.push(format!(
                "sort {sort}\n  want {want}\n  got  {}",
                got.join(" ")
            )),
            Err(e) => failures.push(format!("sort {sort}\n  error {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let all = count_sql(&entity, None, Dialect::Sqlite).expect("count");
    assert_eq!(sqlite_count(&conn, &all), 30);
}

#[test]
fn sqlite_dates_compare_as_dates_and_text() {
    let conn = sqlite();
    let (entity, ddl, cases) = events(Dialect::Sqlite);
    conn.execute_batch(&ddl).expect("events");
    for (q, want) in cases {
        let sql = select_sql(&entity, &query_for(&q), Dialect::Sqlite).expect("select");
        assert_eq!(sqlite_ids(&conn, &sql).expect("runs"), ids(want), "{q}");
    }
}

#[test]
fn hostile_input_is_refused_with_its_code_and_leaves_the_table_alone() {
    for (params, code) in hostile() {
        let owned: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        let err = parse_list(&owned).expect_err("must be refused");
        let shown: String = format!("{params:?}").chars().take(80).collect();
        assert_eq!(err.code(), code, "{shown}: {err}");
        assert!(!err.message().is_empty());
    }
    let conn = sqlite();
    let count = count_sql(&task(), None, Dialect::Sqlite).expect("count");
    assert_eq!(sqlite_count(&conn, &count), 30);
}

#[test]
fn long_in_lists_and_wide_filters_run_on_sqlite() {
    // 1000 values: no expression-depth or parameter limit is hit.
    let conn = sqlite();
    let entity = task();
    let values: Vec<Value> = (0..1000).map(|i| json!(format!("t{i:02}"))).collect();
    for q in [
        json!({"id": {"$in": values.clone()}}),
        json!({"color": {"$in": values.clone()}}),
    ] {
        let sql = select_sql(&entity, &query_for(&q), Dialect::Sqlite).expect("select");
        sqlite_ids(&conn, &sql).expect("runs");
    }
    let branches: Vec<Value> = (0..500).map(|i| json!({"priority": i})).collect();
    let sql = select_sql(
        &entity,
        &query_for(&json!({"$or": branches})),
        Dialect::Sqlite,
    )
    .expect("select");
    assert_eq!(sqlite_ids(&conn, &sql).expect("runs").len(), 29);
}

// ---- PostgreSQL -------------------------------------------------------------------------

/// The parameters bound exactly as the store binds them.
fn pg_params(params: &[SqlValue]) -> Vec<Box<dyn tokio_postgres::types::ToSql + Sync + Send>> {
    ferry_compat::base44::store::bind_postgres(params)
}

async fn pg_rows(
    client: &tokio_postgres::Client,
    sql: &Sql,
) -> Result<Vec<tokio_postgres::Row>, String> {
    let boxed = pg_params(&sql.params);
    let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = boxed
        .iter()
        .map(|b| b.as_ref() as &(dyn tokio_postgres::types::ToSql + Sync))
        .collect();
    client
        .query(sql.text.as_str(), &refs)
        .await
        .map_err(|e| format!("{e:?}\n{}", sql.text))
}

async fn pg_ids(client: &tokio_postgres::Client, sql: &Sql) -> Result<Vec<String>, String> {
    Ok(pg_rows(client, sql)
        .await?
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect())
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_answers_match_the_hand_derived_ones() {
    if ferry_test::pg::skip_if_unavailable("postgres_answers_match_the_hand_derived_ones") {
        return;
    }
    let cluster = ferry_test::pg::Cluster::start().expect("cluster");
    let (client, connection) =
        tokio_postgres::connect(&cluster.url("postgres"), tokio_postgres::NoTls)
            .await
            .expect("connect");
    tokio::spawn(connection);
    client.batch_execute(PG_DDL).await.expect("ddl");
    for r in records() {
        let texts = row_texts(&r);
        let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = texts
            .iter()
            .map(|t| t as &(dyn tokio_postgres::types::ToSql + Sync))
            .collect();
        client.execute(INSERT_PG, &refs).await.expect("insert");
    }
    let entity = task();
    let mut failures = Vec::new();
    for (q, want) in cases().into_iter().chain(harmless()) {
        let query = query_for(&q);
        let sql = select_sql(&entity, &query, Dialect::Postgres).expect("select");
        match pg_ids(&client, &sql).await {
            Ok(got) if got == ids(want) => {
                let count =
                    count_sql(&entity, query.filter.as_ref(), Dialect::Postgres).expect("count");
                let rows = pg_rows(&client, &count).await.expect("count runs");
                assert_eq!(rows[0].get::<_, i64>(0), got.len() as i64, "count for {q}");
            }
            Ok(got) => failures.push(format!("{q}\n  want {want}\n  got  {}", got.join(" "))),
            Err(e) => failures.push(format!("{q}\n  error {e}")),
        }
    }
    for (sort, limit, skip, want) in sort_cases() {
        let sql = select_sql(&entity, &list_params(sort, limit, skip), Dialect::Postgres)
            .expect("select");
        match pg_ids(&client, &sql).await {
            Ok(got) if got == ids(want) => {}
            Ok(got) => failures.push(format!(
                "sort {sort}\n  want {want}\n  got  {}",
                got.join(" ")
            )),
            Err(e) => failures.push(format!("sort {sort}\n  error {e}")),
        }
    }
    let (events, ddl, date_cases) = events(Dialect::Postgres);
    client.batch_execute(&ddl).await.expect("events");
    for (q, want) in date_cases {
        let sql = select_sql(&events, &query_for(&q), Dialect::Postgres).expect("select");
        match pg_ids(&client, &sql).await {
            Ok(got) if got == ids(want) => {}
            Ok(got) => failures.push(format!("{q}\n  want {want}\n  got  {}", got.join(" "))),
            Err(e) => failures.push(format!("{q}\n  error {e}")),
        }
    }
    // Accepted patterns compile on PostgreSQL and agree with the regex crate (what SQLite runs).
    let mut accepted = 0;
    for (pattern, options) in tricky_patterns() {
        let Ok(p) = Pattern::new(pattern, options) else {
            continue;
        };
        accepted += 1;
        let re = regex::Regex::new(p.rust()).expect("accepted patterns compile");
        for subject in SUBJECTS {
            let row = client
                .query_one("SELECT $1::text ~ $2::text", &[&subject, &p.postgres()])
                .await;
            match row {
                Ok(row) if row.get::<_, bool>(0) == re.is_match(subject) => {}
                Ok(_) => failures.push(format!(
                    "regex {pattern:?}/{options} disagrees on {subject:?}"
                )),
                Err(e) => failures.push(format!("regex {pattern:?}/{options}: {e}")),
            }
        }
    }
    println!("{accepted} tricky patterns accepted and checked");
    assert!(accepted >= 150, "only {accepted} tricky patterns accepted");
    // Long lists and wide filters run too.
    let values: Vec<Value> = (0..1000).map(|i| json!(format!("t{i:02}"))).collect();
    for q in [
        json!({"id": {"$in": values.clone()}}),
        json!({"color": {"$in": values}}),
    ] {
        let sql = select_sql(&entity, &query_for(&q), Dialect::Postgres).expect("select");
        if let Err(e) = pg_ids(&client, &sql).await {
            failures.push(format!("long $in: {e}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let all = count_sql(&entity, None, Dialect::Postgres).expect("count");
    assert_eq!(
        pg_rows(&client, &all).await.expect("count")[0].get::<_, i64>(0),
        30
    );
}
