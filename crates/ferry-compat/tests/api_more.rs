//! The entities API's bulk write routes through the router (`tower::ServiceExt::oneshot`), on
//! SQLite and on a real PostgreSQL: `updateMany` (`$set $unset $inc $push $pull $addToSet` on
//! declared columns and `extra` keys, batches and `has_more`, RLS on old and new values,
//! hostile updates refused with the table untouched) and `bulkUpdate` (all or nothing).

mod common;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use common::{ADMIN, ALICE, Api, BOB, NOTE, SERVICE, entities};

/// The record of `all` whose `title` is `title`.
fn by_title<'a>(all: &'a [Value], title: &str) -> &'a Value {
    all.iter()
        .find(|r| r["title"] == title)
        .unwrap_or_else(|| panic!("no task {title}"))
}

async fn scenario(url: &str) {
    let api = Api::migrated(url, entities(&[NOTE])).await;
    use Method as M;
    api.ok(
        M::POST,
        "User/bulk",
        SERVICE,
        Some(json!([
            {"email": "alice@example.com", "tenant_id": "t1"},
            {"email": "bob@example.com", "tenant_id": "t2"},
            {"email": "root@example.com", "role": "admin"},
        ])),
    )
    .await;
    for (who, task) in [
        (
            ALICE,
            json!({"title": "a", "priority": 1, "tags": ["x"], "views": 5, "labels": ["p", "q"], "flag": true}),
        ),
        (
            ALICE,
            json!({"title": "b", "priority": 2, "tags": ["x", "y"]}),
        ),
        (ALICE, json!({"title": "c", "priority": null})),
        (BOB, json!({"title": "d", "priority": 1, "tags": ["x"]})),
    ] {
        api.ok(M::POST, "Task", who, Some(task)).await;
    }
    let um = "Task/update-many";

    // ---- $set, $inc, $push on columns and extra keys; only alice's rows --------------------
    let res = api
        .ok(
            M::PATCH,
            um,
            ALICE,
            Some(json!({"query": {}, "data": {
                "$set": {"status": "doing", "note": "n"},
                "$inc": {"priority": 10, "views": 1},
                "$push": {"tags": {"$each": ["z", "x"]}},
            }})),
        )
        .await;
    assert_eq!(
        res,
        json!({"success": true, "updated": 3, "has_more": false})
    );
    let all = api.all("Task").await;
    let (a, b, c, d) = (
        by_title(&all, "a"),
        by_title(&all, "b"),
        by_title(&all, "c"),
        by_title(&all, "d"),
    );
    assert_eq!(
        (&a["status"], &a["note"], &a["priority"], &a["views"]),
        (&json!("doing"), &json!("n"), &json!(11), &json!(6))
    );
    assert_eq!(a["tags"], json!(["x", "z", "x"]));
    assert_eq!(a["flag"], true, "other extra keys kept");
    assert_eq!(a["labels"], json!(["p", "q"]));
    assert_eq!(
        (&b["priority"], &b["views"]),
        (&json!(12), &json!(1)),
        "missing counts from 0"
    );
    assert_eq!(b["tags"], json!(["x", "y", "z", "x"]));
    assert_eq!(c["priority"], 10, "NULL counts from 0");
    assert_eq!(
        c["tags"],
        json!(["z", "x"]),
        "push on NULL creates the array"
    );
    assert_eq!(
        (&d["status"], &d["priority"], &d["tags"]),
        (&json!("todo"), &json!(1), &json!(["x"]))
    );
    assert!(d.get("note").is_none() && d.get("views").is_none());
    assert_eq!(d["updated_date"], d["created_date"], "bob's task untouched");
    assert_ne!(
        a["updated_date"],
        a["created_date"].clone(),
        "updated_date set"
    );

    // ---- $addToSet, $unset, $pull ------------------------------------------------------------
    let res = api
        .ok(
            M::PATCH,
            um,
            ALICE,
            Some(json!({"query": {"title": "a"}, "data": {
                "$addToSet": {"tags": {"$each": ["x", "w", "w"]}, "labels": "q"},
                "$unset": {"note": "", "due": ""},
                "$pull": {"flags_missing": 1},
                "$inc": {"views": 0.5},
            }})),
        )
        .await;
    assert_eq!(res["updated"], 1);
    let res = api
        .ok(
            M::PATCH,
            um,
            ALICE,
            Some(json!({"query": {"title": {"$in": ["b", "a"]}}, "data": {
                "$pull": {"tags": {"$in": ["x", "y"]}, "labels": "p"},
                "$push": {"hist": 1},
            }})),
        )
        .await;
    assert_eq!(res["updated"], 2);
    let res = api
        .ok(
            M::PATCH,
            um,
            ALICE,
            Some(json!({"query": {"title": "b"}, "data": {"$addToSet": {"hist": {"$each": [1, 2, {"k": [true, null]}]}}}})),
        )
        .await;
    assert_eq!(res["updated"], 1);
    let all = api.all("Task").await;
    let (a, b) = (by_title(&all, "a"), by_title(&all, "b"));
    assert_eq!(a["tags"], json!(["z", "w"]));
    assert_eq!(a["labels"], json!(["q"]));
    assert_eq!(a["views"], 6.5);
    assert_eq!(a["hist"], json!([1]));
    assert!(a.get("note").is_none() && a.get("due").is_none());
    assert!(
        a.get("flags_missing").is_none(),
        "$pull on a missing key leaves it missing"
    );
    assert_eq!(b["tags"], json!(["z"]));
    assert_eq!(b["hist"], json!([1, 2, {"k": [true, null]}]));
    assert!(b.get("labels").is_none());

    // ---- RLS: bob's task is out of alice's reach; the admin reaches all ----------------------
    let res = api
        .ok(
            M::PATCH,
            um,
            ALICE,
            Some(json!({"query": {"title": "d"}, "data": {"$set": {"title": "hacked"}}})),
        )
        .await;
    assert_eq!(
        res,
        json!({"success": true, "updated": 0, "has_more": false})
    );
    let res = api
        .ok(
            M::PATCH,
            um,
            ADMIN,
            Some(json!({"query": {}, "data": {"$set": {"done": true}}})),
        )
        .await;
    assert_eq!(res["updated"], 4);
    api.err(
        M::PATCH,
        um,
        None,
        Some(json!({"query": {}, "data": {"$set": {"done": false}}})),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;

    // ---- the new values are re-checked against the rule (Note: write owner = me) -----------
    for body in ["one", "two"] {
        api.ok(
            M::POST,
            "Note",
            ALICE,
            Some(json!({"owner": "alice@example.com", "body": body})),
        )
        .await;
    }
    let notes = api.all("Note").await;
    api.err(
        M::PATCH,
        "Note/update-many",
        ALICE,
        Some(json!({"query": {}, "data": {"$set": {"owner": "bob@example.com"}}})),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_eq!(api.all("Note").await, notes, "rolled back");
    let res = api
        .ok(
            M::PATCH,
            "Note/update-many",
            ALICE,
            Some(json!({"query": {"body": "one"}, "data": {"$set": {"body": "uno"}}})),
        )
        .await;
    assert_eq!(res["updated"], 1);

    // ---- hostile updates: 400, nothing written -----------------------------------------------
    let before = api.all("Task").await;
    let huge: Vec<u32> = (0..1001).collect();
    for (data, code) in [
        (json!({"$rename": {"title": "name"}}), "bad-record"),
        (json!({"$where": {"title": "x"}}), "bad-record"),
        (json!({"$set": {"id": "x"}}), "bad-record"),
        (
            json!({"$set": {"created_by": "bob@example.com"}}),
            "bad-record",
        ),
        (
            json!({"$set": {"created_date": "2020-01-01"}}),
            "bad-record",
        ),
        (json!({"$set": {"meta.source": "x"}}), "bad-record"),
        (
            json!({"$set": {"title": "x"}, "$unset": {"title": ""}}),
            "bad-record",
        ),
        (json!({"title": "x"}), "bad-record"),
        (json!({}), "bad-record"),
        (json!({"$set": []}), "bad-record"),
        (json!({"$set": {"status": "nope"}}), "bad-value"),
        (json!({"$inc": {"priority": 1.5}}), "bad-value"),
        (json!({"$inc": {"title": 1}}), "bad-value"),
        (json!({"$inc": {"views": "1"}}), "bad-value"),
        (json!({"$push": {"title": "x"}}), "bad-value"),
        (json!({"$push": {"tags": {"$each": huge}}}), "too-large"),
        (
            json!({"$push": {"tags": {"$each": [1], "$slice": 2}}}),
            "bad-record",
        ),
        (json!({"$pull": {"tags": {"$gte": 1}}}), "bad-record"),
        (json!({"$pull": {"tags": {"k": 1}}}), "bad-record"),
        (json!({"$set": {"$x": 1}}), "bad-record"),
    ] {
        api.err(
            M::PATCH,
            um,
            ALICE,
            Some(json!({"query": {}, "data": data.clone()})),
            StatusCode::BAD_REQUEST,
            code,
        )
        .await;
    }
    api.err(
        M::PATCH,
        um,
        ALICE,
        Some(json!({"query": {"$where": "1"}, "data": {"$set": {"title": "x"}}})),
        StatusCode::BAD_REQUEST,
        "forbidden-operator",
    )
    .await;
    api.err(
        M::PATCH,
        um,
        ALICE,
        Some(json!({"query": []})),
        StatusCode::BAD_REQUEST,
        "bad-query",
    )
    .await;
    api.err(
        M::PATCH,
        um,
        ALICE,
        Some(json!([1])),
        StatusCode::BAD_REQUEST,
        "bad-record",
    )
    .await;
    api.err(
        M::PATCH,
        um,
        ALICE,
        None,
        StatusCode::BAD_REQUEST,
        "bad-record",
    )
    .await;
    assert_eq!(api.all("Task").await, before, "table untouched");

    // ---- User: a user cannot raise their role through updateMany ------------------------------
    let res = api
        .ok(
            M::PATCH,
            "User/update-many",
            ALICE,
            Some(json!({"query": {}, "data": {"$set": {"role": "admin", "nick": "al"}}})),
        )
        .await;
    assert_eq!(res["updated"], 1);
    let me = api.list("User", ALICE, &[]).await.1;
    assert_eq!(
        (&me[0]["role"], &me[0]["nick"]),
        (&json!("user"), &json!("al"))
    );

    // ---- batches of 500 and has_more ------------------------------------------------------------
    let many: Vec<Value> = (0..502)
        .map(|i| json!({"owner": "svc", "body": format!("b{i}")}))
        .collect();
    api.ok(M::POST, "Note/bulk", SERVICE, Some(Value::Array(many)))
        .await;
    let q = json!({"query": {"owner": "svc"}, "data": {"$set": {"owner": "done"}}});
    let res = api
        .ok(M::PATCH, "Note/update-many", SERVICE, Some(q.clone()))
        .await;
    assert_eq!(
        res,
        json!({"success": true, "updated": 500, "has_more": true})
    );
    let res = api.ok(M::PATCH, "Note/update-many", SERVICE, Some(q)).await;
    assert_eq!(
        res,
        json!({"success": true, "updated": 2, "has_more": false})
    );

    // ---- bulkUpdate -----------------------------------------------------------------------------
    let all = api.all("Task").await;
    let id = |t: &str| by_title(&all, t)["id"].as_str().expect("id").to_string();
    let (ia, ib, id_d) = (id("a"), id("b"), id("d"));
    let out = api
        .ok(
            M::PUT,
            "Task/bulk",
            ALICE,
            Some(json!([{"id": ib, "priority": 7, "created_by": "x@y.z"}, {"id": ia, "title": "a2", "extra_key": 1}])),
        )
        .await;
    assert_eq!(out[0]["id"], ib.as_str());
    assert_eq!(
        (&out[0]["priority"], &out[0]["created_by"]),
        (&json!(7), &json!("alice@example.com"))
    );
    assert_eq!(
        (&out[1]["title"], &out[1]["extra_key"]),
        (&json!("a2"), &json!(1))
    );
    let before = api.all("Task").await;
    let e = api
        .err(
            M::PUT,
            "Task/bulk",
            ALICE,
            Some(json!([{"id": ia, "title": "a3"}, {"id": id_d, "title": "d2"}])),
            StatusCode::NOT_FOUND,
            "not-found",
        )
        .await;
    assert_eq!(e["detail"]["index"], 1);
    for (body, status, code) in [
        (
            json!([{"title": "no id"}]),
            StatusCode::BAD_REQUEST,
            "bad-id",
        ),
        (
            json!([{"id": ia, "priority": "high"}]),
            StatusCode::BAD_REQUEST,
            "bad-value",
        ),
        (
            json!([{"id": ia}, {"id": ia}]),
            StatusCode::BAD_REQUEST,
            "bad-record",
        ),
        (json!([1]), StatusCode::BAD_REQUEST, "bad-record"),
        (json!({"id": ia}), StatusCode::BAD_REQUEST, "bad-record"),
    ] {
        api.err(M::PUT, "Task/bulk", ALICE, Some(body), status, code)
            .await;
    }
    let over: Vec<Value> = (0..501).map(|i| json!({"id": format!("x{i}")})).collect();
    api.err(
        M::PUT,
        "Task/bulk",
        ALICE,
        Some(Value::Array(over)),
        StatusCode::BAD_REQUEST,
        "too-large",
    )
    .await;
    assert_eq!(api.all("Task").await, before, "all or nothing");
    let notes = api.all("Note").await;
    let mine: Vec<String> = notes
        .iter()
        .filter(|n| n["owner"] == "alice@example.com")
        .map(|n| n["id"].as_str().expect("id").to_string())
        .collect();
    let e = api
        .err(
            M::PUT,
            "Note/bulk",
            ALICE,
            Some(
                json!([{"id": mine[0], "body": "ok"}, {"id": mine[1], "owner": "bob@example.com"}]),
            ),
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
    assert_eq!(e["detail"]["index"], 1);
    assert_eq!(api.all("Note").await, notes, "rolled back");
    let _ = BOB;
}

#[test]
fn api_more_on_sqlite() {
    common::on_sqlite(scenario);
}

#[test]
fn api_more_on_postgres() {
    common::on_postgres("api_more_on_postgres", scenario);
}
