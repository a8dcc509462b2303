//! `aggregate` through the router on SQLite and on a real PostgreSQL: groups, counts, sums,
//! averages, min/max over numbers, dates, date-times and JSON values, `having`, `sort`,
//! `limit`/`truncated`, `dateBucket`, `countDistinct`, the read rule (a user aggregates only
//! the rows they can read) and hostile specs (400, the table untouched). Expectations are
//! derived by hand from the records below.

mod common;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use common::{ALICE, Api, BOB, SERVICE, check_error, entities};

/// `Sale`, which each user reads only their own records of: (file name, source).
const SALE: (&str, &str) = (
    "Sale.jsonc",
    r#"{"name": "Sale", "properties": {
                  "agent": {"type": "string"}, "amount": {"type": "number"},
                  "qty": {"type": "integer"}, "day": {"type": "string", "format": "date"},
                  "at": {"type": "string", "format": "date-time"}, "paid": {"type": "boolean"}},
                "rls": {"create": {}, "read": {"created_by": "{{user.email}}"}}}"#,
);

impl Api {
    async fn agg(&self, who: Option<&str>, spec: Value) -> (StatusCode, Value) {
        self.call(Method::POST, "Sale/aggregate", who, Some(spec))
            .await
    }

    async fn rows(&self, who: Option<&str>, spec: Value) -> Value {
        let (status, value) = self.agg(who, spec.clone()).await;
        assert_eq!(status, StatusCode::OK, "{spec}: {value}");
        assert_eq!(value["truncated"], false, "{spec}: {value}");
        value["rows"].clone()
    }
}

async fn scenario(url: &str) {
    let api = Api::migrated(url, entities(&[SALE])).await;
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
    // `score` is an undeclared property (JSON in `extra`) of mixed types.
    api.ok(
        M::POST,
        "Sale/bulk",
        ALICE,
        Some(json!([
            {"agent": "a", "amount": 10.5, "qty": 2, "day": "2026-01-05",
             "at": "2026-01-05T10:00:00Z", "paid": true, "score": 3},
            {"agent": "a", "amount": 4.5, "qty": 1, "day": "2026-01-20",
             "at": "2026-01-20T23:30:00Z", "paid": false, "score": "x"},
            {"agent": "b", "amount": 100, "qty": 5, "day": "2026-02-01",
             "at": "2026-02-01T00:00:00Z", "paid": true, "score": 7},
            {"agent": "b", "qty": 3, "day": "2025-12-31",
             "at": "2025-12-31T12:00:00Z", "paid": true, "score": 1.5},
            {"amount": 1, "qty": 1, "day": "2026-02-10",
             "at": "2026-02-10T08:00:00Z", "score": {"a": 1}},
        ])),
    )
    .await;
    api.ok(
        M::POST,
        "Sale/bulk",
        BOB,
        Some(json!([
            {"agent": "a", "amount": 1000, "qty": 9, "day": "2027-03-01",
             "at": "2027-03-01T00:00:00Z", "paid": false, "score": 1000},
        ])),
    )
    .await;

    // Group by a text column: NULL group first, then "a", "b"; Bob's sale is not Alice's.
    let rows = api
        .rows(
            ALICE,
            json!({"groupBy": "agent", "sum": ["amount", "score", "qty"], "avg": "amount",
                   "min": ["amount", "day", "score"], "max": ["amount", "at", "score", "qty"]}),
        )
        .await;
    assert_eq!(
        rows,
        json!([
            {"agent": null, "count": 1, "sum_amount": 1, "sum_score": null, "sum_qty": 1,
             "avg_amount": 1, "min_amount": 1, "min_day": "2026-02-10", "min_score": null,
             "max_amount": 1, "max_at": "2026-02-10T08:00:00.000Z", "max_score": null,
             "max_qty": 1},
            {"agent": "a", "count": 2, "sum_amount": 15, "sum_score": 3, "sum_qty": 3,
             "avg_amount": 7.5, "min_amount": 4.5, "min_day": "2026-01-05", "min_score": 3,
             "max_amount": 10.5, "max_at": "2026-01-20T23:30:00.000Z", "max_score": "x",
             "max_qty": 2},
            {"agent": "b", "count": 2, "sum_amount": 100, "sum_score": 8.5, "sum_qty": 8,
             "avg_amount": 100, "min_amount": 100, "min_day": "2025-12-31", "min_score": 1.5,
             "max_amount": 100, "max_at": "2026-02-01T00:00:00.000Z", "max_score": 7,
             "max_qty": 5},
        ])
    );
    // The service role reads every sale: Bob's joins group "a".
    let rows = api
        .rows(
            SERVICE,
            json!({"groupBy": "agent", "sum": "amount", "count": false}),
        )
        .await;
    assert_eq!(
        rows,
        json!([
            {"agent": null, "sum_amount": 1},
            {"agent": "a", "sum_amount": 1015},
            {"agent": "b", "sum_amount": 100},
        ])
    );
    // Bob sees only his own sale.
    let rows = api
        .rows(
            BOB,
            json!({"sum": "amount", "max": "day", "countDistinct": "agent"}),
        )
        .await;
    assert_eq!(
        rows,
        json!([{"count": 1, "sum_amount": 1000, "max_day": "2027-03-01",
                "count_distinct_agent": 1}])
    );
    // One total row (no groupBy); avg ignores the sale without an amount; JSON min/max put
    // numbers before strings and skip objects.
    let rows = api
        .rows(
            ALICE,
            json!({"sum": "amount", "avg": ["amount", "qty"], "min": ["score", "at"],
                   "max": "score", "countDistinct": "agent"}),
        )
        .await;
    assert_eq!(
        rows,
        json!([{"count": 5, "sum_amount": 116, "avg_amount": 29, "avg_qty": 2.4,
                "min_score": 1.5, "min_at": "2025-12-31T12:00:00.000Z", "max_score": "x",
                "count_distinct_agent": 2}])
    );
    // A filter before grouping, sorting by a measure, `having` after grouping.
    let rows = api
        .rows(
            ALICE,
            json!({"query": {"qty": {"$gte": 2}}, "groupBy": "agent", "sum": "qty",
                   "sort": "-sum_qty"}),
        )
        .await;
    assert_eq!(
        rows,
        json!([
            {"agent": "b", "count": 2, "sum_qty": 8},
            {"agent": "a", "count": 1, "sum_qty": 2},
        ])
    );
    let rows = api
        .rows(
            ALICE,
            json!({"groupBy": "agent", "having": {"count": {"$gt": 1}, "sum_amount": 15},
                   "sum": "amount"}),
        )
        .await;
    assert_eq!(rows, json!([{"agent": "a", "count": 2, "sum_amount": 15}]));
    // Group by a boolean and by two fields; sort by a group field descending.
    let rows = api.rows(ALICE, json!({"groupBy": "paid"})).await;
    assert_eq!(
        rows,
        json!([
            {"paid": null, "count": 1},
            {"paid": false, "count": 1},
            {"paid": true, "count": 3},
        ])
    );
    let rows = api
        .rows(
            ALICE,
            json!({"groupBy": ["paid", "agent"], "sort": "-agent", "count": true}),
        )
        .await;
    assert_eq!(
        rows,
        json!([
            {"paid": true, "agent": "b", "count": 2},
            {"paid": false, "agent": "a", "count": 1},
            {"paid": true, "agent": "a", "count": 1},
            {"paid": null, "agent": null, "count": 1},
        ])
    );
    // Group by a JSON value (numbers only, here).
    let rows = api
        .rows(
            ALICE,
            json!({"query": {"score": {"$gte": 2}}, "groupBy": "score", "sort": "-score"}),
        )
        .await;
    assert_eq!(
        rows,
        json!([{"score": 7, "count": 1}, {"score": 3, "count": 1}])
    );
    // dateBucket: months of a date-time field, years of a date field, days of created_date.
    let rows = api
        .rows(
            ALICE,
            json!({"dateBucket": {"field": "at", "unit": "month"}, "sum": "qty"}),
        )
        .await;
    assert_eq!(
        rows,
        json!([
            {"at": "2025-12-01", "count": 1, "sum_qty": 3},
            {"at": "2026-01-01", "count": 2, "sum_qty": 3},
            {"at": "2026-02-01", "count": 2, "sum_qty": 6},
        ])
    );
    let rows = api
        .rows(
            ALICE,
            json!({"dateBucket": {"field": "day", "unit": "year"}}),
        )
        .await;
    assert_eq!(
        rows,
        json!([{"day": "2025-01-01", "count": 1}, {"day": "2026-01-01", "count": 4}])
    );
    for unit in ["day", "week"] {
        let rows = api
            .rows(
                ALICE,
                json!({"dateBucket": {"field": "created_date", "unit": unit}}),
            )
            .await;
        let rows = rows.as_array().expect("rows");
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(rows[0]["count"], 5);
        assert_eq!(rows[0]["created_date"].as_str().map(str::len), Some(10));
    }
    // `limit` and `truncated`.
    let (status, value) = api
        .agg(ALICE, json!({"groupBy": "agent", "limit": 2}))
        .await;
    assert_eq!(status, StatusCode::OK, "{value}");
    assert_eq!(value["truncated"], true);
    assert_eq!(
        value["rows"],
        json!([{"agent": null, "count": 1}, {"agent": "a", "count": 2}])
    );
    // Anonymous callers read no sale.
    let (status, value) = api.agg(None, json!({"groupBy": "agent"})).await;
    assert!(
        status == StatusCode::FORBIDDEN || value["rows"] == json!([]),
        "{status} {value}"
    );

    // Hostile specs: 400, nothing read or written.
    let hostile = [
        (
            json!([{"$match": {}}, {"$group": {"_id": "$agent"}}]),
            "bad-query",
        ),
        (json!({"$group": {"_id": "$agent"}}), "bad-query"),
        (json!({"groupBy": "agent", "$out": "Sale"}), "bad-query"),
        (json!({"groupBy": 5}), "bad-query"),
        (json!({"groupBy": ["a", "b", "c", "d", "e"]}), "bad-query"),
        (json!({"groupBy": ["agent", "agent"]}), "bad-query"),
        (json!({"groupBy": "count"}), "bad-query"),
        (json!({"groupBy": ""}), "bad-field"),
        (json!({"groupBy": "a..b"}), "bad-field"),
        (json!({"sum": "agent"}), "bad-field"),
        (json!({"avg": "day"}), "bad-field"),
        (json!({"sum": {"$sum": "amount"}}), "bad-query"),
        (json!({"countDistinct": ["agent", "qty"]}), "bad-query"),
        (
            json!({"having": {"count": {"$expr": "1"}}}),
            "unknown-operator",
        ),
        (json!({"having": {"agent": "a"}}), "bad-query"),
        (json!({"having": {"count": "1 OR 1=1"}}), "bad-query"),
        (json!({"sort": "-nope"}), "bad-sort"),
        (json!({"sort": "agent; DROP TABLE sale"}), "bad-sort"),
        (json!({"limit": 0}), "limit"),
        (json!({"limit": 1001}), "limit"),
        (json!({"limit": "10"}), "limit"),
        (json!({"count": "yes"}), "bad-query"),
        (json!({"count": false}), "bad-query"),
        (
            json!({"dateBucket": {"field": "at", "unit": "hour"}}),
            "bad-query",
        ),
        (
            json!({"dateBucket": {"field": "at", "unit": "week"}}),
            "bad-field",
        ),
        (
            json!({"dateBucket": {"field": "agent", "unit": "day"}}),
            "bad-field",
        ),
        (json!({"query": {"$where": "1"}}), "forbidden-operator"),
    ];
    for (spec, code) in hostile {
        let (status, value) = api.agg(ALICE, spec.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{spec}: {value}");
        check_error(&value, code);
    }
    // A field name with a double quote is refused.
    let (status, value) = api
        .agg(
            ALICE,
            json!({"groupBy": "agent\"); DROP TABLE \"sale\"; --"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{value}");
    check_error(&value, "bad-field");
    // Field names are identifiers: SQL in one is refused, not looked up as a JSON key.
    let (status, value) = api
        .agg(
            ALICE,
            json!({"groupBy": "agent'); DROP TABLE sale; --", "sum": "x') --"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{value}");
    check_error(&value, "bad-field");
    assert_eq!(api.all("Sale").await.len(), 6, "the table is untouched");
    let (status, value) = api.list("Sale", ALICE, &[("q", r#"{"agent": "a"}"#)]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(value.as_array().map(Vec::len), Some(2), "{value}");
}

#[test]
fn api_aggregate_on_sqlite() {
    common::on_sqlite(scenario);
}

#[test]
fn api_aggregate_on_postgres() {
    common::on_postgres("api_aggregate_on_postgres", scenario);
}
