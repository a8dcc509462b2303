//! The entities API's `v2/list` keyset pages and `upsert` through the router
//! (`tower::ServiceExt::oneshot`), on SQLite and on a real PostgreSQL: walking every record with
//! a cursor returns each once in order (typed columns and JSON `extra` keys, both directions,
//! NULLs and mixed JSON types), the read rule applies, bad or foreign cursors are 400
//! `bad-cursor`, `distinct` pages answer values, and `upsert` creates then updates under the create/update rules, all or
//! nothing.

mod common;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use common::{ALICE, Api, BOB, NOTE, SERVICE, check_error, entities};

/// One page: (ids of the items, next_cursor, has_more).
fn page(value: &Value) -> (Vec<String>, Option<String>, bool) {
    let ids = value["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items: {value}"))
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_string())
        .collect();
    let next = value["next_cursor"].as_str().map(str::to_string);
    let more = value["has_more"].as_bool().expect("has_more");
    assert_eq!(next.is_some(), more, "{value}");
    (ids, next, more)
}

impl Api {
    async fn v2(&self, who: Option<&str>, params: &[(&str, &str)]) -> (StatusCode, Value) {
        // `list` builds `GET Task/v2/list?…` with the pairs percent-encoded.
        self.list("Task/v2/list", who, params).await
    }

    /// Walks every page (`limit` each) and returns the ids in order and the page count.
    async fn walk(
        &self,
        who: Option<&str>,
        first: &[(&str, &str)],
        limit: &str,
    ) -> (Vec<String>, usize) {
        let mut params = first.to_vec();
        params.push(("limit", limit));
        let (status, value) = self.v2(who, &params).await;
        assert_eq!(status, StatusCode::OK, "{value}");
        let (mut all, mut next, _) = page(&value);
        let mut pages = 1;
        while let Some(cursor) = next {
            let (status, value) = self
                .v2(who, &[("cursor", cursor.as_str()), ("limit", limit)])
                .await;
            assert_eq!(status, StatusCode::OK, "{value}");
            let (ids, n, _) = page(&value);
            assert!(ids.len() <= limit.parse().expect("limit"));
            all.extend(ids);
            next = n;
            pages += 1;
            assert!(pages < 100, "the walk does not end");
        }
        (all, pages)
    }
}

fn s(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

fn b64(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

async fn scenario(url: &str) {
    let api = Api::migrated(url, entities(&[NOTE])).await;
    let pg = url.starts_with("postgres");
    use Method as M;
    api.ok(
        M::POST,
        "User/bulk",
        SERVICE,
        Some(json!([
            {"email": "alice@example.com"},
            {"email": "bob@example.com"},
        ])),
    )
    .await;
    // Alice's tasks: `priority` is an Integer column, `rank` an `extra` key of mixed types.
    api.ok(
        M::POST,
        "Task/bulk",
        ALICE,
        Some(json!([
            {"id": "a01", "title": "t", "priority": 2, "rank": 5},
            {"id": "a02", "title": "t", "priority": null, "rank": "x"},
            {"id": "a03", "title": "t", "priority": 1, "rank": 2.5},
            {"id": "a04", "title": "t", "priority": 2},
            {"id": "a05", "title": "t", "priority": 3, "rank": 5},
            {"id": "a06", "title": "t", "priority": 1, "rank": true},
            {"id": "a07", "title": "t", "priority": null, "rank": 1},
            {"id": "a08", "title": "t", "priority": 2, "rank": "a"},
            {"id": "a09", "title": "t", "priority": 3, "rank": null},
            {"id": "a10", "title": "t", "priority": 1, "rank": 10},
        ])),
    )
    .await;
    api.ok(
        M::POST,
        "Task/bulk",
        BOB,
        Some(json!([
            {"id": "b01", "title": "t", "priority": 1},
            {"id": "b02", "title": "t", "priority": 2},
        ])),
    )
    .await;

    // priority ASC (NULLs first), then id.
    let by_priority = s(&[
        "a02", "a07", "a03", "a06", "a10", "a01", "a04", "a08", "a05", "a09",
    ]);
    for limit in ["1", "3", "4", "9", "10", "100"] {
        let (ids, pages) = api.walk(ALICE, &[("sort", "priority")], limit).await;
        assert_eq!(ids, by_priority, "limit {limit}");
        let want_pages = match limit {
            "1" => 10,
            "3" => 4,
            "4" => 3,
            "9" => 2,
            _ => 1,
        };
        assert_eq!(pages, want_pages, "limit {limit}");
    }
    // priority DESC (NULLs last), then id.
    let (ids, _) = api.walk(ALICE, &[("sort", "-priority")], "3").await;
    assert_eq!(
        ids,
        s(&[
            "a05", "a09", "a01", "a04", "a08", "a03", "a06", "a10", "a02", "a07"
        ])
    );
    // A JSON key: missing/null, then numbers, strings, booleans.
    let (ids, _) = api.walk(ALICE, &[("sort", "rank")], "2").await;
    assert_eq!(
        ids,
        s(&[
            "a04", "a09", "a07", "a03", "a01", "a05", "a10", "a08", "a02", "a06"
        ])
    );
    let (ids, _) = api.walk(ALICE, &[("sort", "-rank")], "1").await;
    assert_eq!(
        ids,
        s(&[
            "a06", "a02", "a08", "a10", "a01", "a05", "a03", "a07", "a04", "a09"
        ])
    );
    // Two keys.
    let (ids, _) = api.walk(ALICE, &[("sort", "priority,-rank")], "3").await;
    assert_eq!(
        ids,
        s(&[
            "a02", "a07", "a06", "a10", "a03", "a08", "a01", "a04", "a05", "a09"
        ])
    );
    // The default sort (-created_date): every record once.
    let (mut ids, _) = api.walk(ALICE, &[], "3").await;
    ids.sort();
    assert_eq!(ids, {
        let mut all = by_priority.clone();
        all.sort();
        all
    });
    // A filter, kept by the cursor.
    let (ids, pages) = api
        .walk(
            ALICE,
            &[("q", r#"{"priority": {"$gte": 2}}"#), ("sort", "priority")],
            "2",
        )
        .await;
    assert_eq!(ids, s(&["a01", "a04", "a08", "a05", "a09"]));
    assert_eq!(pages, 3);
    // The read rule: Bob sees his own; the service role everything; anonymous nothing.
    let (ids, _) = api.walk(BOB, &[("sort", "priority")], "1").await;
    assert_eq!(ids, s(&["b01", "b02"]));
    let (ids, _) = api.walk(SERVICE, &[("sort", "priority")], "5").await;
    assert_eq!(ids.len(), 12);
    let (ids, pages) = api.walk(None, &[("sort", "priority")], "5").await;
    assert!(ids.is_empty());
    assert_eq!(pages, 1);
    // fields project (id kept), on every page.
    let (status, first) = api
        .v2(
            ALICE,
            &[("sort", "priority"), ("fields", "priority"), ("limit", "2")],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first["items"], json!([{"id": "a02"}, {"id": "a07"}]));
    let cursor = first["next_cursor"].as_str().expect("cursor").to_string();
    let (status, second) = api.v2(ALICE, &[("cursor", &cursor), ("limit", "1")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        second,
        json!({"items": [{"id": "a03", "priority": 1}], "next_cursor": second["next_cursor"], "has_more": true})
    );
    // Alice's cursor given to Bob: his rule applies (only his rows after the boundary).
    let (status, value) = api.v2(BOB, &[("cursor", &cursor)]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page(&value).0, s(&["b01", "b02"]));

    // Refused cursors and parameters.
    let tampered_count =
        b64(r#"{"v":1,"q":null,"sort":"priority","fields":null,"after":[null,null],"id":"a02"}"#);
    let bad_id =
        b64(r#"{"v":1,"q":null,"sort":"priority","fields":null,"after":[null],"id":"a 02"}"#);
    let unknown =
        b64(r#"{"v":1,"q":null,"sort":"priority","fields":null,"after":[null],"id":"a02","x":1}"#);
    let version =
        b64(r#"{"v":2,"q":null,"sort":"priority","fields":null,"after":[null],"id":"a02"}"#);
    let object = b64(r#"{"v":1,"q":null,"sort":"priority","fields":null,"after":[{}],"id":"a02"}"#);
    let bad_q = b64(
        r#"{"v":1,"q":"{\"$where\": 1}","sort":"priority","fields":null,"after":[null],"id":"a02"}"#,
    );
    for (params, code) in [
        (vec![("cursor", "!!!not base64!!!")], "bad-cursor"),
        (vec![("cursor", "bm90IGpzb24")], "bad-cursor"),
        (vec![("cursor", tampered_count.as_str())], "bad-cursor"),
        (vec![("cursor", bad_id.as_str())], "bad-cursor"),
        (vec![("cursor", unknown.as_str())], "bad-cursor"),
        (vec![("cursor", version.as_str())], "bad-cursor"),
        (vec![("cursor", object.as_str())], "bad-cursor"),
        (vec![("cursor", bad_q.as_str())], "forbidden-operator"),
        (
            vec![("cursor", cursor.as_str()), ("sort", "-priority")],
            "bad-cursor",
        ),
        (vec![("cursor", cursor.as_str()), ("q", "{}")], "bad-cursor"),
        (
            vec![("cursor", cursor.as_str()), ("fields", "title")],
            "bad-cursor",
        ),
        (vec![("skip", "2")], "bad-query"),
        (vec![("limit", "0")], "limit"),
        (vec![("limit", "5001")], "limit"),
        (vec![("sort", "priority"), ("sort", "title")], "bad-query"),
    ] {
        let (status, value) = api.v2(ALICE, &params).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{params:?}: {value}");
        check_error(&value, code);
    }
    if pg {
        // A value PostgreSQL could not read as the sort key's type.
        let typed =
            b64(r#"{"v":1,"q":null,"sort":"priority","fields":null,"after":["abc"],"id":"a02"}"#);
        let (status, value) = api.v2(ALICE, &[("cursor", &typed)]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{value}");
        check_error(&value, "bad-cursor");
    }
    // `distinct` pages (the rest is in api_distinct.rs): Alice's values only, null and
    // missing left out, JSON values by type then value.
    let (status, value) = api.v2(ALICE, &[("distinct", "priority")]).await;
    assert_eq!(status, StatusCode::OK, "{value}");
    assert_eq!(
        value,
        json!({"items": [1, 2, 3], "next_cursor": null, "has_more": false})
    );
    let (status, value) = api.v2(ALICE, &[("distinct", "rank")]).await;
    assert_eq!(status, StatusCode::OK, "{value}");
    assert_eq!(value["items"], json!([1, 2.5, 5, 10, "a", "x", true]));

    // A record deleted between pages does not shift the next page.
    let (status, first) = api.v2(ALICE, &[("sort", "priority"), ("limit", "3")]).await;
    assert_eq!(status, StatusCode::OK);
    let (ids, next, _) = page(&first);
    assert_eq!(ids, s(&["a02", "a07", "a03"]));
    api.ok(M::DELETE, "Task/a03", ALICE, None).await;
    api.ok(M::DELETE, "Task/a06", ALICE, None).await;
    let next = next.expect("cursor");
    let (status, second) = api.v2(ALICE, &[("cursor", &next), ("limit", "3")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page(&second).0, s(&["a10", "a01", "a04"]));

    upserts(&api).await;
}

async fn upserts(api: &Api) {
    use Method as M;
    let upsert = |who: Option<&'static str>, entity: &'static str, body: Value| async move {
        api.call(M::POST, &format!("{entity}/upsert"), who, Some(body))
            .await
    };
    // Creates, then updates by the key (same id, fields merged).
    let (status, first) = upsert(
        ALICE,
        "Task",
        json!({"records": [{"title": "u1", "priority": 1, "note": "n"}, {"title": "u2", "priority": 2}], "key": "title"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(
        (first["created"].clone(), first["updated"].clone()),
        (json!(2), json!(0))
    );
    let u1 = first["records"][0]["id"].as_str().expect("id").to_string();
    assert_eq!(first["records"][0]["created_by"], "alice@example.com");
    assert_eq!(first["records"][1]["title"], "u2");
    let (status, second) = upsert(
        ALICE,
        "Task",
        json!({"records": [{"title": "u3"}, {"title": "u1", "priority": 5}], "key": ["title"]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(
        (second["created"].clone(), second["updated"].clone()),
        (json!(1), json!(1))
    );
    assert_eq!(second["records"][0]["title"], "u3");
    let updated = &second["records"][1];
    assert_eq!(updated["id"], u1.as_str());
    assert_eq!(updated["priority"], 5);
    assert_eq!(updated["note"], "n", "a partial update");
    // The last of a key wins; a compound key.
    let (status, third) = upsert(
        ALICE,
        "Task",
        json!({"records": [{"title": "u4", "priority": 1}, {"title": "u4", "priority": 4}], "key": ["title", "priority"]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{third}");
    assert_eq!(third["created"], 2, "different compound keys: {third}");
    let (status, fourth) = upsert(
        ALICE,
        "Task",
        json!({"records": [{"title": "u5", "priority": 1}, {"title": "u5", "priority": 4}], "key": "title"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{fourth}");
    assert_eq!(fourth["created"], 1);
    assert_eq!(fourth["records"].as_array().map(Vec::len), Some(1));
    assert_eq!(fourth["records"][0]["priority"], 4);

    let tasks = api.all("Task").await;
    // Bob's key matches Alice's record, which his update rule hides: 403, nothing written.
    let (status, value) = upsert(
        BOB,
        "Task",
        json!({"records": [{"title": "b9"}, {"title": "u1", "priority": 2}], "key": "title"}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{value}");
    check_error(&value, "forbidden");
    assert_eq!(value["detail"]["index"], 1);
    // A bad value in the second record rolls the first back.
    let (status, value) = upsert(
        ALICE,
        "Task",
        json!({"records": [{"title": "u6"}, {"title": "u1", "priority": "high"}], "key": "title"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{value}");
    check_error(&value, "bad-value");
    assert_eq!(value["detail"]["index"], 1);
    for (body, code) in [
        (
            json!({"records": [{"priority": 1}], "key": "title"}),
            "bad-record",
        ),
        (
            json!({"records": [{"title": {"a": 1}}], "key": "title"}),
            "bad-record",
        ),
        (
            json!({"records": [{"title": "x"}], "key": "nope"}),
            "bad-record",
        ),
        (
            json!({"records": [{"title": "x"}], "key": "tags"}),
            "bad-record",
        ),
        (
            json!({"records": [{"title": "x"}], "key": "id"}),
            "bad-record",
        ),
        (
            json!({"records": [{"title": "x"}], "key": []}),
            "bad-record",
        ),
        (
            json!({"records": [{"title": "x"}], "key": ["title", "title"]}),
            "bad-record",
        ),
        (json!({"records": [{"title": "x"}]}), "bad-record"),
        (
            json!({"records": {"title": "x"}, "key": "title"}),
            "bad-record",
        ),
        (json!({"records": [1], "key": "title"}), "bad-record"),
        (
            json!({"records": vec![json!({"title": "x"}); 501], "key": "title"}),
            "too-large",
        ),
    ] {
        let (status, value) = upsert(ALICE, "Task", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {value}");
        check_error(&value, code);
    }
    assert_eq!(api.all("Task").await, tasks, "nothing written");

    // Note: the write rule re-checks new and updated values.
    let notes = api.all("Note").await;
    let (status, value) = upsert(
        ALICE,
        "Note",
        json!({"records": [{"owner": "alice@example.com", "body": "k1"}, {"owner": "bob@example.com", "body": "k2"}], "key": "body"}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{value}");
    assert_eq!(value["detail"]["index"], 1);
    assert_eq!(api.all("Note").await, notes, "rolled back");
    let (status, value) = upsert(
        ALICE,
        "Note",
        json!({"records": [{"owner": "alice@example.com", "body": "k1"}], "key": "body"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{value}");
    let (status, value) = upsert(
        ALICE,
        "Note",
        json!({"records": [{"owner": "bob@example.com", "body": "k1"}], "key": "body"}),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "moving a note out of the rule: {value}"
    );
    let (status, value) = upsert(
        BOB,
        "Note",
        json!({"records": [{"owner": "bob@example.com", "body": "k1"}], "key": "body"}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "Alice's note: {value}");
    let notes = api.all("Note").await;
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["owner"], "alice@example.com");
    // Anonymous callers cannot write notes.
    let (status, _) = upsert(
        None,
        "Note",
        json!({"records": [{"owner": "x", "body": "k9"}], "key": "body"}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[test]
fn api_v2_on_sqlite() {
    common::on_sqlite(scenario);
}

#[test]
fn api_v2_on_postgres() {
    common::on_postgres("api_v2_on_postgres", scenario);
}
