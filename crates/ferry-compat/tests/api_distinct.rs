//! The entities API's distinct pages (`list({distinct})`, `filter(q, {distinct})`: `GET
//! …/v2/list?distinct=<field>`) through the router (`tower::ServiceExt::oneshot`), on SQLite and
//! on a real PostgreSQL: every column type, array elements, undeclared and nested JSON keys with
//! mixed types in their hand-derived order, `q`, the read rule hiding other users' values,
//! cursor walks of every page size, and refused parameters and cursors.

mod common;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use common::{ALICE, Api, BOB, SERVICE, check_error, entities};

/// `Item`: one field of each type; each user reads and writes only their own items.
const ITEM: (&str, &str) = (
    "Item.jsonc",
    r#"{"name": "Item", "properties": {
        "category": {"type": "string"},
        "price": {"type": "number"},
        "qty": {"type": "integer"},
        "ok": {"type": "boolean"},
        "day": {"type": "string", "format": "date"},
        "at": {"type": "string", "format": "date-time"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "meta": {"type": "object"}},
       "rls": {"create": {}, "read": {"created_by": "{{user.email}}"}}}"#,
);

impl Api {
    /// `GET Item/v2/list?distinct=…` with the pairs percent-encoded.
    async fn distinct(&self, who: Option<&str>, params: &[(&str, &str)]) -> (StatusCode, Value) {
        self.list("Item/v2/list", who, params).await
    }

    /// The one page of `field`'s distinct values (with `more` params); asserts it is the last.
    async fn values(&self, who: Option<&str>, field: &str, more: &[(&str, &str)]) -> Value {
        let mut params = vec![("distinct", field)];
        params.extend_from_slice(more);
        let (status, value) = self.distinct(who, &params).await;
        assert_eq!(status, StatusCode::OK, "{field}: {value}");
        assert_eq!(value["has_more"], false, "{value}");
        assert_eq!(value["next_cursor"], Value::Null, "{value}");
        value["items"].clone()
    }

    /// Walks `field`'s distinct values `limit` at a time; answers them in order and the number
    /// of pages.
    async fn walk_distinct(&self, who: Option<&str>, field: &str, limit: &str) -> (Value, usize) {
        let (status, value) = self
            .distinct(who, &[("distinct", field), ("limit", limit)])
            .await;
        assert_eq!(status, StatusCode::OK, "{value}");
        let mut all = value["items"].as_array().expect("items").clone();
        let mut next = value["next_cursor"].as_str().map(str::to_string);
        assert_eq!(next.is_some(), value["has_more"] == true, "{value}");
        let mut pages = 1;
        while let Some(cursor) = next {
            let (status, value) = self
                .distinct(
                    who,
                    &[("distinct", field), ("cursor", &cursor), ("limit", limit)],
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{value}");
            let items = value["items"].as_array().expect("items");
            assert!(items.len() <= limit.parse().expect("limit"), "{value}");
            all.extend(items.iter().cloned());
            next = value["next_cursor"].as_str().map(str::to_string);
            assert_eq!(next.is_some(), value["has_more"] == true, "{value}");
            pages += 1;
            assert!(pages < 50, "the walk does not end");
        }
        (Value::Array(all), pages)
    }
}

/// A cursor as the server writes one, from its JSON.
fn forged(cursor: Value) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(cursor.to_string())
}

async fn scenario(url: &str) {
    let api = Api::migrated(url, entities(&[ITEM])).await;
    use Method as M;
    api.ok(
        M::POST,
        "User/bulk",
        SERVICE,
        Some(json!([{"email": "alice@example.com"}, {"email": "bob@example.com"}])),
    )
    .await;
    let alice = json!([
        {"category": "b", "price": 2.5, "qty": 3, "ok": true, "day": "2024-03-01",
         "at": "2024-03-01T10:00:00Z", "tags": ["x", "y"], "meta": {"source": "web"},
         "color": "red", "sizes": [2, "m"]},
        {"category": "a", "price": 1, "qty": 3, "ok": false, "day": "2024-01-15",
         "at": "2024-03-01T10:00:00.000Z", "tags": ["y"], "meta": {"source": "app"},
         "color": "blue", "sizes": 2},
        {"category": "b", "qty": 1, "tags": [], "meta": {"source": "web", "n": 1},
         "color": null, "sizes": [[1], {"k": 1}, true]},
        {"category": "Z", "price": 10, "tags": ["z", "x"], "color": "red", "sizes": "s"},
        {"category": "é", "price": 1.0, "at": "2023-12-31T23:59:59.999+01:00"},
    ]);
    api.ok(M::POST, "Item/bulk", ALICE, Some(alice)).await;
    let bob = json!([
        {"category": "c", "price": 7, "qty": 9, "ok": true, "tags": ["q"], "color": "green",
         "sizes": [3]},
        {"category": "a", "tags": ["w", "y"], "sizes": "m"},
    ]);
    api.ok(M::POST, "Item/bulk", BOB, Some(bob)).await;

    // ---- each type, in ascending order; the read rule hides the other user's values ---------
    assert_eq!(
        api.values(ALICE, "category", &[]).await,
        json!(["Z", "a", "b", "é"]),
        "bytewise order, Bob's \"c\" hidden"
    );
    assert_eq!(api.values(BOB, "category", &[]).await, json!(["a", "c"]));
    assert_eq!(
        api.values(SERVICE, "category", &[]).await,
        json!(["Z", "a", "b", "c", "é"])
    );
    assert_eq!(api.values(None, "category", &[]).await, json!([]));
    assert_eq!(
        api.values(ALICE, "price", &[]).await,
        json!([1, 2.5, 10]),
        "1 and 1.0 are one number; the missing price is left out"
    );
    assert_eq!(api.values(ALICE, "qty", &[]).await, json!([1, 3]));
    assert_eq!(api.values(ALICE, "ok", &[]).await, json!([false, true]));
    assert_eq!(
        api.values(ALICE, "day", &[]).await,
        json!(["2024-01-15", "2024-03-01"])
    );
    assert_eq!(
        api.values(ALICE, "at", &[]).await,
        json!(["2023-12-31T22:59:59.999Z", "2024-03-01T10:00:00.000Z"]),
        "instants, one per point in time"
    );
    assert_eq!(
        api.values(SERVICE, "created_by", &[]).await,
        json!(["alice@example.com", "bob@example.com"])
    );
    // Arrays contribute each element; an empty array nothing.
    assert_eq!(api.values(ALICE, "tags", &[]).await, json!(["x", "y", "z"]));
    assert_eq!(api.values(BOB, "tags", &[]).await, json!(["q", "w", "y"]));
    // Undeclared properties (`extra`), JSON null left out.
    assert_eq!(
        api.values(ALICE, "color", &[]).await,
        json!(["blue", "red"])
    );
    // Mixed JSON types: numbers, strings, objects, arrays, booleans.
    let mixed = json!([2, "m", "s", {"k": 1}, [1], true]);
    assert_eq!(api.values(ALICE, "sizes", &[]).await, mixed);
    assert_eq!(api.values(BOB, "sizes", &[]).await, json!([3, "m"]));
    // Nested paths.
    assert_eq!(
        api.values(ALICE, "meta.source", &[]).await,
        json!(["app", "web"])
    );
    assert_eq!(api.values(ALICE, "meta.n", &[]).await, json!([1]));
    assert_eq!(api.values(ALICE, "nothing", &[]).await, json!([]));
    assert_eq!(api.values(ALICE, "category.x", &[]).await, json!([]));

    // ---- q selects the records ------------------------------------------------------------
    assert_eq!(
        api.values(ALICE, "category", &[("q", r#"{"qty": 3}"#)])
            .await,
        json!(["a", "b"])
    );
    assert_eq!(
        api.values(ALICE, "category", &[("q", r#"{"tags": "x"}"#)])
            .await,
        json!(["Z", "b"])
    );
    assert_eq!(
        api.values(SERVICE, "tags", &[("q", r#"{"category": "a"}"#)])
            .await,
        json!(["w", "y"])
    );
    assert_eq!(
        api.values(BOB, "category", &[("q", r#"{"qty": 3}"#)]).await,
        json!([]),
        "Alice's matching items stay hidden"
    );

    // ---- cursor walks: every page size gives every value once, in order ---------------------
    let all_categories = json!(["Z", "a", "b", "c", "é"]);
    for limit in ["1", "2", "4", "5", "1000"] {
        let (got, pages) = api.walk_distinct(SERVICE, "category", limit).await;
        assert_eq!(got, all_categories, "limit {limit}");
        let n: usize = limit.parse().expect("limit");
        assert_eq!(pages, 5usize.div_ceil(n).max(1), "limit {limit}");
    }
    for limit in ["1", "2", "3", "6"] {
        let (got, _) = api.walk_distinct(ALICE, "sizes", limit).await;
        assert_eq!(got, mixed, "limit {limit}");
    }
    let (prices, pages) = api.walk_distinct(SERVICE, "price", "1").await;
    assert_eq!((prices, pages), (json!([1, 2.5, 7, 10]), 4));
    let (days, _) = api.walk_distinct(ALICE, "day", "1").await;
    assert_eq!(days, json!(["2024-01-15", "2024-03-01"]));
    let (instants, _) = api.walk_distinct(ALICE, "at", "1").await;
    assert_eq!(
        instants,
        json!(["2023-12-31T22:59:59.999Z", "2024-03-01T10:00:00.000Z"])
    );
    let (flags, _) = api.walk_distinct(SERVICE, "ok", "1").await;
    assert_eq!(flags, json!([false, true]));
    let (tags, _) = api.walk_distinct(SERVICE, "tags", "2").await;
    assert_eq!(tags, json!(["q", "w", "x", "y", "z"]));
    // The first page of a walk with `q`; the cursor carries it.
    let (status, first) = api
        .distinct(
            SERVICE,
            &[
                ("distinct", "category"),
                ("q", r#"{"qty": {"$gte": 1}}"#),
                ("limit", "2"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(
        (&first["items"], &first["has_more"]),
        (&json!(["a", "b"]), &json!(true))
    );
    let cursor = first["next_cursor"].as_str().expect("cursor").to_string();
    let (status, second) = api
        .distinct(
            SERVICE,
            &[
                ("distinct", "category"),
                ("cursor", &cursor),
                ("limit", "2"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(second["items"], json!(["c"]));
    assert_eq!(second["has_more"], false);
    // The read rule applies on every page: with the service's cursor (after "b"), Alice has
    // no value of her own left.
    let (status, value) = api
        .distinct(
            ALICE,
            &[
                ("distinct", "category"),
                ("cursor", &cursor),
                ("limit", "2"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{value}");
    assert_eq!(value["items"], json!([]));
    assert_eq!(value["has_more"], false);

    // ---- refused parameters and cursors ---------------------------------------------------
    let refuse = async |params: &[(&str, &str)], code: &str| {
        let (status, value) = api.distinct(ALICE, params).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{params:?}: {value}");
        check_error(&value, code);
    };
    refuse(&[("distinct", "category"), ("limit", "1001")], "limit").await;
    refuse(&[("distinct", "category"), ("limit", "0")], "limit").await;
    refuse(
        &[("distinct", "category"), ("sort", "category")],
        "bad-query",
    )
    .await;
    refuse(
        &[("distinct", "category"), ("fields", "category")],
        "bad-query",
    )
    .await;
    refuse(&[("distinct", "category"), ("skip", "1")], "bad-query").await;
    refuse(&[("distinct", "")], "bad-field").await;
    refuse(&[("distinct", "$where")], "bad-field").await;
    refuse(&[("distinct", "a\"b")], "bad-field").await;
    refuse(&[("distinct", "category"), ("q", "{")], "bad-query").await;
    refuse(
        &[("distinct", "category"), ("cursor", "garbage!")],
        "bad-cursor",
    )
    .await;
    refuse(&[("distinct", "qty"), ("cursor", &cursor)], "bad-cursor").await;
    refuse(
        &[
            ("distinct", "category"),
            ("cursor", &cursor),
            ("q", r#"{"qty": 1}"#),
        ],
        "bad-cursor",
    )
    .await;
    let wrong_type = forged(json!({"v": 1, "q": null, "distinct": "qty", "after": true}));
    refuse(
        &[("distinct", "qty"), ("cursor", &wrong_type)],
        "bad-cursor",
    )
    .await;
    let not_json = forged(json!({"v": 1, "q": null, "distinct": "sizes", "after": "{x"}));
    refuse(
        &[("distinct", "sizes"), ("cursor", &not_json)],
        "bad-cursor",
    )
    .await;
    let nul = forged(json!({"v": 1, "q": null, "distinct": "sizes", "after": "\"a\\u0000\""}));
    refuse(&[("distinct", "sizes"), ("cursor", &nul)], "bad-cursor").await;
    let extra_key =
        forged(json!({"v": 1, "q": null, "distinct": "sizes", "after": "1", "sort": "x"}));
    refuse(
        &[("distinct", "sizes"), ("cursor", &extra_key)],
        "bad-cursor",
    )
    .await;
    // A records cursor is not a distinct cursor, nor the other way round.
    let (status, records) = api.list("Item/v2/list", SERVICE, &[("limit", "1")]).await;
    assert_eq!(status, StatusCode::OK, "{records}");
    let records_cursor = records["next_cursor"].as_str().expect("cursor").to_string();
    refuse(
        &[("distinct", "category"), ("cursor", &records_cursor)],
        "bad-cursor",
    )
    .await;
    let (status, value) = api
        .list("Item/v2/list", ALICE, &[("cursor", &cursor)])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{value}");
    check_error(&value, "bad-cursor");
    // Client text is never SQL: a name that is not an identifier is refused.
    let (status, value) = api
        .list("Item/v2/list", ALICE, &[("distinct", "x') OR 1=1 --")])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{value}");
    check_error(&value, "bad-field");
    assert_eq!(
        api.values(ALICE, "password_hash", &[]).await,
        json!([]),
        "User's private columns are not fields"
    );
    let (status, value) = api
        .list("User/v2/list", SERVICE, &[("distinct", "password_hash")])
        .await;
    assert_eq!(status, StatusCode::OK, "{value}");
    assert_eq!(value["items"], json!([]));
}

#[test]
fn api_distinct_on_sqlite() {
    common::on_sqlite(scenario);
}

#[test]
fn api_distinct_on_postgres() {
    common::on_postgres("api_distinct_on_postgres", scenario);
}
