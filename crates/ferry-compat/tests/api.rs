//! The HTTP entities API through its router (`tower::ServiceExt::oneshot`, no sockets), on
//! SQLite and on a real PostgreSQL: the fixture entities migrated with `Db::migrate`, then
//! CRUD, list/filter parameters, RLS per caller (owner-only tasks, tenant isolation, admin
//! bypass, the create/update re-check), hostile input, and the tables untouched after errors.

mod common;

use axum::http::{Method, StatusCode};
use ferry_compat::base44::store::Db;
use serde_json::json;

use common::{ADMIN, ALICE, APP, Api, BOB, NOTE, SERVICE, check_error, entities, ids, titles};

async fn scenario(url: &str) {
    let db = Db::open(url).await.expect("open");
    let applied = db.migrate(entities(&[NOTE])).await.expect("migrate");
    // A second deploy of the same schemas changes nothing and succeeds.
    let again = db.migrate(entities(&[NOTE])).await.expect("migrate again");
    assert_eq!(applied, again);
    assert_eq!(db.applied().await.expect("applied").len(), applied.len());
    let api = Api::new(db, applied.into_iter().map(|a| a.entity).collect());
    use Method as M;

    // ---- users (the service role seeds them; the API reads them back per request) ------
    let users = api
        .ok(
            M::POST,
            "User/bulk",
            SERVICE,
            Some(json!([
                {"email": "alice@example.com", "full_name": "Alice", "tenant_id": "t1"},
                {"email": "bob@example.com", "tenant_id": "t2"},
                {"email": "root@example.com", "role": "admin"},
            ])),
        )
        .await;
    assert_eq!(users.as_array().map(Vec::len), Some(3));
    assert_eq!(users[0]["role"], "user");
    assert_eq!(users[2]["role"], "admin");
    assert!(users[0].get("password_hash").is_none());
    let alice_id = users[0]["id"].as_str().expect("id").to_string();
    // A user sees only their own User record and cannot make themselves admin.
    let (_, mine) = api.list("User", ALICE, &[]).await;
    assert_eq!(ids(&mine), vec![alice_id.clone()]);
    let me = api
        .ok(
            M::PUT,
            &format!("User/{alice_id}"),
            ALICE,
            Some(json!({"role": "admin", "email": "x@example.com", "full_name": "Alice A."})),
        )
        .await;
    assert_eq!(
        (me["role"].as_str(), me["email"].as_str()),
        (Some("user"), Some("alice@example.com"))
    );
    assert_eq!(me["full_name"], "Alice A.");
    api.err(
        M::POST,
        "User",
        ALICE,
        Some(json!({"email": "e@x.io"})),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    // Unknown users and bad tokens are 401.
    api.err(
        M::GET,
        "Task",
        Some("test-nobody@example.com"),
        None,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    api.err(
        M::GET,
        "Task",
        Some("garbage"),
        None,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;

    // ---- Task CRUD as alice -------------------------------------------------------------
    let task = api
        .ok(
            M::POST,
            "Task",
            ALICE,
            Some(
                json!({"title": "write tests", "priority": 2, "tags": ["a"], "color": "red",
                        "created_by": "mallory@example.com"}),
            ),
        )
        .await;
    let id = task["id"].as_str().expect("id").to_string();
    assert_eq!(id.len(), 24);
    assert_eq!(task["created_by"], "alice@example.com");
    assert_eq!(task["created_by_id"], alice_id.as_str());
    assert_eq!(task["status"], "todo", "schema default");
    assert_eq!(task["done"], false);
    assert_eq!(task["color"], "red", "undeclared property kept");
    let got = api.ok(M::GET, &format!("Task/{id}"), ALICE, None).await;
    assert_eq!(got, task);
    let updated = api
        .ok(
            M::PUT,
            &format!("Task/{id}"),
            ALICE,
            Some(json!({"status": "done", "color": null})),
        )
        .await;
    assert_eq!(updated["status"], "done");
    assert_eq!(updated["title"], "write tests");
    assert!(updated.get("color").is_none());
    assert_eq!(
        api.ok(M::DELETE, &format!("Task/{id}"), ALICE, None).await,
        json!({"success": true})
    );
    api.err(
        M::GET,
        &format!("Task/{id}"),
        ALICE,
        None,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
    api.err(
        M::DELETE,
        &format!("Task/{id}"),
        ALICE,
        None,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
    api.err(
        M::PUT,
        &format!("Task/{id}"),
        ALICE,
        Some(json!({})),
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;

    // ---- list / filter ------------------------------------------------------------------
    let mut alice_tasks = Vec::new();
    for (title, priority) in [("a1", 1), ("a2", 2), ("a3", 3), ("a4", 4), ("a5", 5)] {
        let t = api
            .ok(
                M::POST,
                "Task",
                ALICE,
                Some(json!({"title": title, "priority": priority})),
            )
            .await;
        alice_tasks.push(t["id"].as_str().expect("id").to_string());
    }
    let bob_tasks = api
        .ok(
            M::POST,
            "Task/bulk",
            BOB,
            Some(json!([{"title": "b1", "priority": 5}, {"title": "b2", "priority": 1, "id": "bob-2"}])),
        )
        .await;
    assert_eq!(titles(&bob_tasks), ["b1", "b2"]);
    assert_eq!(bob_tasks[1]["id"], "bob-2");
    assert_eq!(bob_tasks[0]["created_by"], "bob@example.com");
    let bob1 = bob_tasks[0]["id"].as_str().expect("id").to_string();

    let (_, listed) = api.list("Task", ALICE, &[("sort", "title")]).await;
    assert_eq!(
        titles(&listed),
        ["a1", "a2", "a3", "a4", "a5"],
        "alice sees only hers"
    );
    let (_, listed) = api
        .list(
            "Task",
            ALICE,
            &[
                ("q", r#"{"priority": {"$gte": 2}}"#),
                ("sort", "-priority"),
                ("limit", "2"),
                ("skip", "1"),
            ],
        )
        .await;
    assert_eq!(titles(&listed), ["a4", "a3"]);
    let (_, listed) = api
        .list(
            "Task",
            ALICE,
            &[
                ("q", r#"{"title": {"$in": ["a1", "b1"]}}"#),
                ("fields", "title"),
            ],
        )
        .await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    let only = listed[0].as_object().expect("object");
    assert_eq!(only.keys().collect::<Vec<_>>(), ["id", "title"]);
    // A query asking for bob's tasks still only reads alice's.
    let (_, listed) = api
        .list(
            "Task",
            ALICE,
            &[("q", r#"{"created_by": "bob@example.com"}"#)],
        )
        .await;
    assert_eq!(listed, json!([]));
    assert_eq!(
        api.ok(M::GET, "Task/count", ALICE, None).await,
        json!({"count": 5})
    );
    let (_, c) = api
        .list("Task/count", BOB, &[("q", r#"{"priority": 5}"#)])
        .await;
    assert_eq!(c, json!({"count": 1}));
    // Anonymous callers read nothing (the rule needs a user's email).
    let (_, listed) = api.list("Task", None, &[]).await;
    assert_eq!(listed, json!([]));

    // ---- RLS: owner-only tasks, admin bypass ---------------------------------------------
    api.err(
        M::GET,
        &format!("Task/{bob1}"),
        ALICE,
        None,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
    api.err(
        M::PUT,
        &format!("Task/{bob1}"),
        ALICE,
        Some(json!({"title": "pwned"})),
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
    api.err(
        M::DELETE,
        &format!("Task/{bob1}"),
        ALICE,
        None,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
    let b = api.ok(M::GET, &format!("Task/{bob1}"), BOB, None).await;
    assert_eq!(b["title"], "b1", "bob's task untouched");
    let (_, everything) = api.list("Task", ADMIN, &[("sort", "title")]).await;
    assert_eq!(
        titles(&everything),
        ["a1", "a2", "a3", "a4", "a5", "b1", "b2"]
    );
    let fixed = api
        .ok(
            M::PUT,
            &format!("Task/{bob1}"),
            ADMIN,
            Some(json!({"priority": 4})),
        )
        .await;
    assert_eq!(fixed["priority"], 4);
    assert_eq!(fixed["created_by"], "bob@example.com");

    // ---- the create/update re-check (Note: write only with owner = your email) ---------
    let note = api
        .ok(
            M::POST,
            "Note",
            ALICE,
            Some(json!({"owner": "alice@example.com", "body": "hi"})),
        )
        .await;
    let note_id = note["id"].as_str().expect("id").to_string();
    api.err(
        M::POST,
        "Note",
        ALICE,
        Some(json!({"owner": "bob@example.com"})),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    api.err(
        M::POST,
        "Note/bulk",
        ALICE,
        Some(json!([{"owner": "alice@example.com"}, {"owner": "bob@example.com"}])),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    api.err(
        M::PUT,
        &format!("Note/{note_id}"),
        ALICE,
        Some(json!({"owner": "bob@example.com"})),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    api.err(
        M::PUT,
        &format!("Note/{note_id}"),
        BOB,
        Some(json!({"body": "x"})),
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
    let notes = api.all("Note").await;
    assert_eq!(notes.len(), 1, "the refused writes were rolled back");
    assert_eq!(notes[0], note, "the refused update was rolled back");
    let moved = api
        .ok(
            M::PUT,
            &format!("Note/{note_id}"),
            ALICE,
            Some(json!({"body": "edited"})),
        )
        .await;
    assert_eq!(moved["body"], "edited");

    // ---- tenant isolation on TeamMember (read by tenant, write by admins only) ---------
    api.ok(
        M::POST,
        "TeamMember/bulk",
        ADMIN,
        Some(json!([
            {"tenant_id": "t1", "member_email": "alice@example.com", "role": "owner", "joined_on": "2024-02-29"},
            {"tenant_id": "t1", "member_email": "carol@example.com", "role": "viewer", "rate": 1.5},
            {"tenant_id": "t2", "member_email": "bob@example.com", "role": "owner"},
        ])),
    )
    .await;
    let (_, t1) = api
        .list("TeamMember", ALICE, &[("sort", "member_email")])
        .await;
    let emails: Vec<&str> = t1
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|m| m["member_email"].as_str())
        .collect();
    assert_eq!(emails, ["alice@example.com", "carol@example.com"]);
    assert_eq!(t1[0]["joined_on"], "2024-02-29");
    assert_eq!(t1[1]["rate"], 1.5);
    let (_, t2) = api
        .list("TeamMember", BOB, &[("q", r#"{"tenant_id": "t1"}"#)])
        .await;
    assert_eq!(
        t2,
        json!([]),
        "bob cannot read tenant t1 even when asking for it"
    );
    assert_eq!(
        api.ok(M::GET, "TeamMember/count", BOB, None).await,
        json!({"count": 1})
    );
    let (_, anon) = api.list("TeamMember", None, &[]).await;
    assert_eq!(anon, json!([]));
    let (_, all) = api.list("TeamMember", ADMIN, &[]).await;
    assert_eq!(all.as_array().map(Vec::len), Some(3));
    api.err(
        M::POST,
        "TeamMember",
        ALICE,
        Some(json!({"tenant_id": "t1"})),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let carol = t1[1]["id"].as_str().expect("id").to_string();
    api.err(
        M::DELETE,
        &format!("TeamMember/{carol}"),
        ALICE,
        None,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    api.err(
        M::DELETE,
        "TeamMember",
        ALICE,
        Some(json!({})),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_eq!(api.all("TeamMember").await.len(), 3);

    // ---- hostile input ------------------------------------------------------------------
    let before = api.all("Task").await;
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("q", "{not json")], "bad-query"),
        (&[("q", "[1]")], "bad-query"),
        (&[("q", r#"{"$where": "sleep(10)"}"#)], "forbidden-operator"),
        (&[("q", r#"{"title": {"$foo": 1}}"#)], "unknown-operator"),
        (&[("q", r#"{"title": {"$regex": "(?=a)b"}}"#)], "bad-regex"),
        (&[("limit", "100000000")], "limit"),
        (&[("limit", "-1")], "limit"),
        (&[("limit", "1e999")], "limit"),
        (&[("skip", "-5")], "bad-skip"),
        (&[("sort", "title,,done")], "bad-sort"),
        (&[("fields", "\"; DROP TABLE task; --")], "bad-field"),
    ];
    for (params, code) in cases {
        let (status, value) = api.list("Task", ALICE, params).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{params:?}: {value}");
        check_error(&value, code);
    }
    let deep = format!("{}1{}", r#"{"a":"#.repeat(200), "}".repeat(200));
    let (status, value) = api.list("Task", ALICE, &[("q", &deep)]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{value}");
    // SQL in a sort key is a field name (a JSON path into `extra`), bound as a parameter.
    for sort in [
        "title; DROP TABLE task; --",
        "-\"id\") ; DELETE FROM task; --",
    ] {
        let (status, value) = api.list("Task", ALICE, &[("sort", sort)]).await;
        assert!(
            status == StatusCode::OK || status == StatusCode::BAD_REQUEST,
            "{sort}: {status} {value}"
        );
        if status == StatusCode::OK {
            assert_eq!(value.as_array().map(Vec::len), Some(5));
        }
    }
    // Bodies: malformed, of the wrong shape, invalid values, too large, a duplicate id.
    let (status, value) = api
        .raw(
            M::POST,
            &format!("/api/apps/{APP}/entities/Task"),
            ALICE,
            Some(b"{\"title\":".to_vec()),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    check_error(&value, "bad-json");
    api.err(
        M::POST,
        "Task",
        ALICE,
        Some(json!([1, 2])),
        StatusCode::BAD_REQUEST,
        "bad-record",
    )
    .await;
    api.err(
        M::POST,
        "Task",
        ALICE,
        Some(json!({"priority": "high"})),
        StatusCode::BAD_REQUEST,
        "bad-value",
    )
    .await;
    api.err(
        M::POST,
        "Task",
        ALICE,
        Some(json!({"status": "nope"})),
        StatusCode::BAD_REQUEST,
        "bad-value",
    )
    .await;
    api.err(
        M::POST,
        "Task",
        ALICE,
        Some(json!({"id": "../etc"})),
        StatusCode::BAD_REQUEST,
        "bad-id",
    )
    .await;
    api.err(
        M::POST,
        "Task",
        ALICE,
        Some(json!({"$set": 1})),
        StatusCode::BAD_REQUEST,
        "bad-record",
    )
    .await;
    let v = api
        .err(
            M::POST,
            "Task/bulk",
            ALICE,
            Some(json!([{"title": "ok"}, {"done": "yes"}])),
            StatusCode::BAD_REQUEST,
            "bad-value",
        )
        .await;
    assert_eq!(v["detail"], json!({"index": 1}));
    api.err(
        M::POST,
        "Task",
        ALICE,
        Some(json!({"id": "bob-2", "title": "dup"})),
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    let huge = json!({"title": "x".repeat(MAX_BODY_PLUS)});
    api.err(
        M::POST,
        "Task",
        ALICE,
        Some(huge),
        StatusCode::PAYLOAD_TOO_LARGE,
        "too-large",
    )
    .await;
    api.err(
        M::DELETE,
        "Task",
        ALICE,
        None,
        StatusCode::BAD_REQUEST,
        "bad-query",
    )
    .await;
    api.err(
        M::DELETE,
        "Task",
        ALICE,
        Some(json!({"$where": "1"})),
        StatusCode::BAD_REQUEST,
        "forbidden-operator",
    )
    .await;
    // Routing: unknown entity, wrong app, ids that cannot exist, unimplemented calls.
    api.err(
        M::GET,
        "Nope",
        ALICE,
        None,
        StatusCode::NOT_FOUND,
        "unknown-entity",
    )
    .await;
    api.err(
        M::GET,
        "task",
        ALICE,
        None,
        StatusCode::NOT_FOUND,
        "unknown-entity",
    )
    .await;
    api.err(
        M::GET,
        "Task/..%2F..%2Fetc",
        ALICE,
        None,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
    api.err(
        M::POST,
        "Task/import",
        ALICE,
        Some(json!({})),
        StatusCode::BAD_REQUEST,
        "bad-body",
    )
    .await;
    api.err(
        M::PATCH,
        "Task/update-many",
        ALICE,
        Some(json!({})),
        StatusCode::BAD_REQUEST,
        "bad-record",
    )
    .await;
    api.err(
        M::PATCH,
        "Task",
        ALICE,
        None,
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
    )
    .await;
    let (status, value) = api
        .raw(M::GET, "/api/apps/other/entities/Task", ALICE, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    check_error(&value, "unknown-app");
    let (status, value) = api.raw(M::GET, "/api/nothing", ALICE, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    check_error(&value, "not-found");
    assert_eq!(
        api.all("Task").await,
        before,
        "errors left the table as it was"
    );

    // ---- deleteMany ---------------------------------------------------------------------
    let done = api
        .ok(
            M::DELETE,
            "Task",
            ALICE,
            Some(json!({"priority": {"$gte": 4}})),
        )
        .await;
    assert_eq!(done, json!({"success": true, "deleted": 2}));
    let done = api.ok(M::DELETE, "Task", ALICE, Some(json!({}))).await;
    assert_eq!(done, json!({"success": true, "deleted": 3}), "only alice's");
    let left = api.all("Task").await;
    assert_eq!(left.len(), 2, "bob's tasks remain");
    assert!(left.iter().all(|t| t["created_by"] == "bob@example.com"));
    let _ = alice_tasks;
}

/// A little over the 1 MiB body limit.
const MAX_BODY_PLUS: usize = (1 << 20) + 16;

#[test]
fn api_on_sqlite() {
    common::on_sqlite(scenario);
}

#[test]
fn api_on_postgres() {
    common::on_postgres("api_on_postgres", scenario);
}

#[test]
fn bad_urls_are_refused() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        for url in [
            "mysql://x",
            "sqlite:relative.db",
            "sqlite://",
            "postgres://h:port/db",
        ] {
            let e = Db::open(url).await.expect_err(url);
            assert_eq!(e.code(), "bad-url", "{url}: {e}");
        }
        let db = Db::open("sqlite::memory:").await.expect("memory");
        assert!(db.applied().await.expect("applied").is_empty());
    });
}
