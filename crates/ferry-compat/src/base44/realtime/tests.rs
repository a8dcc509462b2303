//! The in-memory matcher against SQLite on the same records and filters, the RLS decision per
//! subscriber, and the events a write publishes.

use serde_json::{Map, Value, json};

use super::matcher::matches;
use super::*;
use crate::base44::model::Entity;
use crate::base44::query::{ListQuery, parse_filter, select_sql};
use crate::base44::record::{Author, insert_sql, public_columns, row_to_record};
use crate::base44::rls::{self, Access, Operation};
use crate::base44::schema::parse_entities;
use crate::base44::store::Db;

fn entity(rls: Value) -> Entity {
    let schema = json!({
        "name": "Item",
        "type": "object",
        "properties": {
            "title": {"type": "string"},
            "n": {"type": "number"},
            "k": {"type": "integer"},
            "done": {"type": "boolean"},
            "due": {"type": "string", "format": "date"},
            "at": {"type": "string", "format": "date-time"},
            "status": {"type": "string", "enum": ["open", "closed"]},
            "tags": {"type": "array", "items": {"type": "string"}},
            "meta": {"type": "object"},
            "owner": {"type": "string"}
        },
        "rls": rls
    });
    let mut parsed =
        parse_entities([("Item.jsonc".to_string(), schema.to_string())]).expect("schema");
    parsed.remove(0)
}

fn records() -> Vec<Value> {
    vec![
        json!({"title": "alpha", "n": 1, "k": 10, "done": true, "due": "2024-01-05", "at": "2024-01-05T10:00:00Z",
               "status": "open", "tags": ["a", "b"], "meta": {"level": 3, "who": {"name": "ann"}}, "owner": "ann@x.test",
               "extra_s": "x", "extra_n": 5, "extra_arr": [1, 2, 3], "nested": [{"q": 1, "name": "p"}, {"q": 5, "name": "r"}]}),
        json!({"title": "beta", "n": 2.5, "k": -3, "done": false, "due": "2024-02-01", "at": "2024-02-01T00:00:00+02:00",
               "status": "closed", "tags": ["b"], "meta": {"level": "3"}, "owner": "bob@x.test",
               "extra_s": 5, "extra_n": "5", "nested": [{"q": 2}]}),
        json!({"title": "Gamma", "n": null, "tags": [], "meta": {}, "owner": "ann@x.test", "extra_null": null}),
        json!({"title": "delta", "n": 1.0, "k": 7, "done": true, "tags": ["c", "a"], "meta": {"level": 1, "list": [3, 4]},
               "extra_arr": [[1, 2], 4], "extra_obj": {"a": 1}}),
        json!({}),
    ]
}

/// Filters covering every operator on typed columns, JSON fields and undeclared fields.
fn filters() -> Vec<Value> {
    vec![
        json!({}),
        json!({"title": "alpha"}),
        json!({"title": {"$ne": "alpha"}}),
        json!({"title": {"$gt": "beta"}}),
        json!({"title": {"$lte": "Gamma"}}),
        json!({"title": {"$in": ["alpha", "delta", "zzz"]}}),
        json!({"title": {"$nin": ["alpha"]}}),
        json!({"title": {"$regex": "^[a-d]", "$options": "i"}}),
        json!({"title": {"$regex": "^g", "$options": "i"}}),
        json!({"title": {"$not": {"$regex": "a$"}}}),
        json!({"n": 1}),
        json!({"n": {"$gte": 1, "$lt": 2.5}}),
        json!({"n": null}),
        json!({"n": {"$ne": null}}),
        json!({"n": {"$exists": true}}),
        json!({"n": {"$exists": false}}),
        json!({"n": "1"}),
        json!({"k": {"$mod": [5, 0]}}),
        json!({"k": {"$mod": [2, -1]}}),
        json!({"k": {"$lt": 0}}),
        json!({"done": true}),
        json!({"done": {"$ne": true}}),
        json!({"due": {"$gte": "2024-01-10"}}),
        json!({"due": "2024-01-05"}),
        json!({"at": {"$gt": "2024-01-31T21:00:00Z"}}),
        json!({"at": "2024-01-05T11:00:00+01:00"}),
        json!({"at": {"$lt": "not a date"}}),
        json!({"created_date": {"$gt": "2000-01-01"}}),
        json!({"status": {"$in": ["closed"]}}),
        json!({"owner": "ann@x.test"}),
        json!({"$or": [{"owner": "bob@x.test"}, {"done": true}]}),
        json!({"$and": [{"owner": "ann@x.test"}, {"n": {"$exists": true}}]}),
        json!({"$nor": [{"owner": "ann@x.test"}, {"k": 7}]}),
        json!({"tags": "a"}),
        json!({"tags": ["a", "b"]}),
        json!({"tags": {"$all": ["a", "b"]}}),
        json!({"tags": {"$all": []}}),
        json!({"tags": {"$size": 0}}),
        json!({"tags": {"$size": 2}}),
        json!({"tags": {"$ne": "b"}}),
        json!({"tags": {"$nin": ["c", "b"]}}),
        json!({"tags": {"$gt": "b"}}),
        json!({"tags.0": "c"}),
        json!({"tags": {"$elemMatch": {"$gte": "b"}}}),
        json!({"meta.level": 3}),
        json!({"meta.level": {"$gte": 1}}),
        json!({"meta.level": "3"}),
        json!({"meta.who.name": "ann"}),
        json!({"meta.level": {"$exists": false}}),
        json!({"meta": {}}),
        json!({"meta.list": 4}),
        json!({"meta.list.1": 4}),
        json!({"extra_s": "x"}),
        json!({"extra_s": {"$gt": 1}}),
        json!({"extra_n": 5}),
        json!({"extra_arr": 2}),
        json!({"extra_arr": [1, 2]}),
        json!({"extra_arr": {"$size": 3}}),
        json!({"extra_null": null}),
        json!({"extra_null": {"$exists": true}}),
        json!({"extra_obj": {"a": 1}}),
        json!({"extra_obj.a": {"$in": [1, 2]}}),
        json!({"nested": {"$elemMatch": {"q": {"$gt": 1}, "name": "r"}}}),
        json!({"nested": {"$elemMatch": {"q": 2}}}),
        json!({"nested.q": 1}),
        json!({"nested.0.q": 1}),
        json!({"missing": {"$exists": false}}),
        json!({"missing": null}),
        json!({"missing": {"$ne": 1}}),
        json!({"title.x": "a"}),
        json!({"id": {"$exists": true}}),
        json!({"extra_n": {"$mod": [2, 1]}}),
    ]
}

#[tokio::test]
async fn matcher_agrees_with_sqlite() {
    let item = entity(json!(null));
    let db = Db::open("sqlite::memory:").await.expect("open");
    let item = db
        .migrate(vec![item])
        .await
        .expect("migrate")
        .remove(0)
        .entity;
    let author = Author {
        email: Some("ann@x.test".into()),
        id: Some("u1".into()),
    };
    for record in records() {
        let Value::Object(record) = record else {
            unreachable!()
        };
        let (_, sql) = insert_sql(&item, &record, &author, db.dialect()).expect("insert");
        db.query(&sql, public_columns(&item).len())
            .await
            .expect("insert row");
    }
    let all_sql = select_sql(&item, &ListQuery::default(), db.dialect()).expect("select");
    let stored: Vec<Map<String, Value>> = db
        .query(&all_sql, public_columns(&item).len())
        .await
        .expect("all")
        .iter()
        .map(
            |row| match row_to_record(&item, row, db.dialect()).expect("decode") {
                Value::Object(m) => m,
                _ => unreachable!(),
            },
        )
        .collect();
    assert_eq!(stored.len(), 5);
    let mut nonempty = 0;
    for q in filters() {
        let filter = parse_filter(&q).unwrap_or_else(|e| panic!("{q}: {e}"));
        let query = ListQuery {
            filter: Some(filter.clone()),
            ..ListQuery::default()
        };
        let sql = select_sql(&item, &query, db.dialect()).expect("select");
        let mut in_sql: Vec<String> = db
            .query(&sql, public_columns(&item).len())
            .await
            .unwrap_or_else(|e| panic!("{q}: {e}"))
            .iter()
            .map(|row| {
                row_to_record(&item, row, db.dialect()).expect("decode")["id"]
                    .as_str()
                    .expect("id")
                    .to_string()
            })
            .collect();
        let mut in_memory: Vec<String> = stored
            .iter()
            .filter(|r| matches(&item, &filter, r))
            .map(|r| r["id"].as_str().expect("id").to_string())
            .collect();
        in_sql.sort();
        in_memory.sort();
        assert_eq!(in_memory, in_sql, "filter {q}");
        if !in_sql.is_empty() && in_sql.len() < stored.len() {
            nonempty += 1;
        }
    }
    // The cases discriminate: most select some records but not all.
    assert!(nonempty > 40, "only {nonempty} filters split the records");
}

fn user(email: &str, role: &str) -> Caller {
    let Value::Object(attrs) = json!({"id": "u", "email": email, "role": role, "tenant": "t1"})
    else {
        unreachable!()
    };
    Caller::user(attrs)
}

fn visible(entity: &Entity, caller: &Caller, record: &Value) -> bool {
    let Value::Object(record) = record else {
        return false;
    };
    match rls::access(entity, Operation::Read, caller).expect("rule") {
        Access::All => true,
        Access::Denied => false,
        Access::Rows(f) => matches(entity, &f, record),
    }
}

#[test]
fn read_rules_per_subscriber() {
    let owned = entity(json!({"read": {"created_by": "{{user.email}}"}}));
    let record = json!({"id": "r1", "created_by": "ann@x.test", "title": "t"});
    assert!(visible(&owned, &user("ann@x.test", "user"), &record));
    assert!(!visible(&owned, &user("bob@x.test", "user"), &record));
    assert!(visible(&owned, &user("boss@x.test", "admin"), &record));
    assert!(!visible(&owned, &Caller::anonymous(), &record));
    assert!(visible(&owned, &Caller::service(), &record));

    let tenant = entity(
        json!({"read": {"$or": [{"owner": "{{user.email}}"}, {"meta.tenant": "{{user.tenant}}"}]}}),
    );
    let theirs = json!({"id": "r2", "owner": "x@x.test", "meta": {"tenant": "t1"}});
    let other = json!({"id": "r3", "owner": "x@x.test", "meta": {"tenant": "t2"}});
    assert!(visible(&tenant, &user("bob@x.test", "user"), &theirs));
    assert!(!visible(&tenant, &user("bob@x.test", "user"), &other));
    assert!(!visible(&tenant, &Caller::anonymous(), &theirs));

    let public = entity(json!({"read": true, "write": false}));
    assert!(visible(&public, &Caller::anonymous(), &other));
    let closed = entity(json!({"read": false}));
    assert!(!visible(&closed, &user("bob@x.test", "user"), &other));
    assert!(visible(&closed, &user("bob@x.test", "admin"), &other));
    let by_role = entity(json!({"read": {"user_condition": {"role": "editor"}}}));
    assert!(visible(&by_role, &user("e@x.test", "editor"), &other));
    assert!(!visible(&by_role, &user("e@x.test", "user"), &other));
}

#[test]
fn publish_builds_the_sdk_payload_only_when_observed() {
    let item = entity(json!(null));
    let events = Events::new(8);
    let record = json!({"id": "abc", "title": "t", "updated_date": "2024-01-01T00:00:00.000Z"});
    // Nobody listens: nothing is queued.
    events.publish("app1", &item, ChangeKind::Create, [&record]);
    let mut rx = events.subscribe();
    assert!(rx.try_recv().is_err());
    events.publish(
        "app1",
        &item,
        ChangeKind::Update,
        [&record, &json!("not an object")],
    );
    let change = rx.try_recv().expect("one change");
    assert!(rx.try_recv().is_err(), "non-objects are skipped");
    assert_eq!(change.kind, ChangeKind::Update);
    let event: Value = serde_json::from_str(&change.event).expect("json");
    assert_eq!(event[0], "update_model");
    assert_eq!(event[1]["room"], "entities:app1:Item");
    let data: Value = serde_json::from_str(event[1]["data"].as_str().expect("data is a string"))
        .expect("data json");
    assert_eq!(
        data,
        json!({"type": "update", "data": record, "id": "abc", "timestamp": "2024-01-01T00:00:00.000Z"})
    );
}

#[test]
fn oversize_records_are_slimmed() {
    let item = entity(json!(null));
    let events = Events::new(8);
    let mut rx = events.subscribe();
    let big = "x".repeat(MAX_EVENT_BYTES);
    events.publish(
        "a",
        &item,
        ChangeKind::Create,
        [&json!({"id": "i1", "title": big, "n": 1})],
    );
    let change = rx.try_recv().expect("change");
    let event: Value = serde_json::from_str(&change.event).expect("json");
    let data: Value = serde_json::from_str(event[1]["data"].as_str().expect("str")).expect("json");
    assert_eq!(
        data["data"],
        json!({"id": "i1", "title": "", "n": 1, "_oversize": true})
    );
    assert_eq!(data["id"], "i1");
    // The full record stays available for the RLS check.
    assert_eq!(
        change.record["title"].as_str().map(str::len),
        Some(MAX_EVENT_BYTES)
    );
    let many: Map<String, Value> = (0..100)
        .map(|i| (format!("f{i}"), json!("y".repeat(5000))))
        .collect();
    let mut many = Value::Object(many);
    many["id"] = json!("i2");
    events.publish("a", &item, ChangeKind::Create, [&many]);
    let change = rx.try_recv().expect("change");
    let event: Value = serde_json::from_str(&change.event).expect("json");
    let data: Value = serde_json::from_str(event[1]["data"].as_str().expect("str")).expect("json");
    assert_eq!(data["data"], json!({"id": "i2", "_oversize": true}));
}

#[test]
fn socket_cap() {
    let events = Events::new(1);
    let a = events.reserve(2).expect("first");
    let b = events.reserve(2).expect("second");
    assert!(events.reserve(2).is_none());
    assert_eq!(events.sockets(), 2);
    drop(a);
    assert!(events.reserve(2).is_some());
    drop(b);
    assert_eq!(events.sockets(), 0);
}
