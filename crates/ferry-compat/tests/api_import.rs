//! The entities API's `import` (`importEntities(file)`: `POST …/{Name}/import`, a
//! `multipart/form-data` body with a `file` field) through the router
//! (`tower::ServiceExt::oneshot`), on SQLite and on a real PostgreSQL: CSV files (quoted commas,
//! quotes and newlines, CRLF, a BOM, every field type converted, empty cells absent, unknown
//! columns in `extra`, client built-ins ignored) and JSON files create exactly the hand-written
//! records; a bad row, a record outside the create rule, a denied create, an oversize file or
//! too many rows are refused with nothing written.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

use common::{ALICE, APP, Api, SERVICE, check_error, entities};

/// `Product`: one field of each type; anyone reads, a user creates only their own products.
const PRODUCT: (&str, &str) = (
    "Product.jsonc",
    r#"{"name": "Product", "properties": {
        "name": {"type": "string"},
        "price": {"type": "number"},
        "stock": {"type": "integer"},
        "active": {"type": "boolean"},
        "launch": {"type": "string", "format": "date"},
        "seen": {"type": "string", "format": "date-time"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "dims": {"type": "object"},
        "owner": {"type": "string"},
        "kind": {"type": "string", "enum": ["a", "b"]}},
       "rls": {"read": true, "create": {"owner": "{{user.email}}"}, "update": false,
               "delete": false}}"#,
);

/// `Locked`: nobody but admins and the service role creates.
const LOCKED: (&str, &str) = (
    "Locked.jsonc",
    r#"{"name": "Locked", "properties": {"x": {"type": "string"}},
       "rls": {"read": true, "create": false}}"#,
);

const BOUNDARY: &str = "ferry-test-boundary-7f3a";

/// A `multipart/form-data` body with one `file` part (and the content type to send).
fn multipart(file_name: &str, content_type: &str, bytes: &[u8]) -> Vec<u8> {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nignored\r\n\
         --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n\
         Content-Type: {content_type}\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

/// Sends `body` to `POST {entity}/import` as `content_type`, as `who`.
async fn post(
    api: &Api,
    entity: &str,
    who: Option<&str>,
    content_type: &str,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let mut req = Request::builder()
        .method(Method::POST)
        .uri(format!("/api/apps/{APP}/entities/{entity}/import"))
        .header("x-app-id", APP)
        .header("content-type", content_type);
    if let Some(token) = who {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    let response = api
        .router
        .clone()
        .oneshot(req.body(Body::from(body)).expect("request"))
        .await
        .expect("infallible");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| panic!("not JSON ({status}): {}", String::from_utf8_lossy(&bytes)));
    (status, value)
}

/// Imports `bytes` as the file `file_name` of `content_type` into `entity`.
async fn import(
    api: &Api,
    entity: &str,
    who: Option<&str>,
    file_name: &str,
    content_type: &str,
    bytes: &[u8],
) -> (StatusCode, Value) {
    let body = multipart(file_name, content_type, bytes);
    let ct = format!("multipart/form-data; boundary={BOUNDARY}");
    post(api, entity, who, &ct, body).await
}

/// The records of `output` without the server-made `id`, dates and `created_by_id`, for
/// comparison with hand-written ones.
fn stripped(output: &Value) -> Vec<Value> {
    output
        .as_array()
        .unwrap_or_else(|| panic!("no output: {output}"))
        .iter()
        .map(|r| {
            let mut r = r.as_object().expect("record").clone();
            for key in ["id", "created_date", "updated_date", "created_by_id"] {
                assert!(r.remove(key).is_some(), "{key} missing");
            }
            Value::Object(r)
        })
        .collect()
}

/// A `Product` as the API answers it (NULL fields are left out): Alice's, with `values`.
fn product(values: Value) -> Value {
    let mut record = json!({"created_by": "alice@example.com", "owner": "alice@example.com"});
    for (k, v) in values.as_object().expect("object") {
        record[k] = v.clone();
    }
    record
}

async fn scenario(url: &str) {
    let api = Api::migrated(url, entities(&[PRODUCT, LOCKED])).await;
    api.ok(
        Method::POST,
        "User/bulk",
        SERVICE,
        Some(json!([{"email": "alice@example.com"}, {"email": "bob@example.com"}])),
    )
    .await;

    // ---- CSV: quoting, types, empty cells, unknown columns, built-ins from the server ---------
    let csv = "\u{feff}name,price,stock,active,launch,seen,tags,dims,owner,kind,note,created_by\r\n\
        \"Widget, large\",9.5,3,true,2024-05-01,2024-05-01T10:00:00+02:00,\"[\"\"x\"\",\"\"y\"\"]\",\"{\"\"w\"\": 2}\",alice@example.com,a,\"line one\r\nline two\",mallory@example.com\r\n\
        Gadget,10,,FALSE,,,,,alice@example.com,b,,\r\n\
        \"He said \"\"hi\"\"\", -1.25e2 ,0,yes,2023-12-31,,[],{},alice@example.com,,plain,\r\n";
    let (status, value) = import(
        &api,
        "Product",
        ALICE,
        "products.csv",
        "text/csv",
        csv.as_bytes(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{value}");
    assert_eq!(value["status"], "success");
    assert_eq!(value["details"], "Imported 3 records");
    let want_csv = vec![
        product(json!({
            "name": "Widget, large", "price": 9.5, "stock": 3, "active": true,
            "launch": "2024-05-01", "seen": "2024-05-01T08:00:00.000Z", "tags": ["x", "y"],
            "dims": {"w": 2}, "kind": "a", "note": "line one\r\nline two",
        })),
        product(json!({"name": "Gadget", "price": 10, "active": false, "kind": "b"})),
        product(json!({
            "name": "He said \"hi\"", "price": -125, "stock": 0, "active": true,
            "launch": "2023-12-31", "tags": [], "dims": {}, "note": "plain",
        })),
    ];
    assert_eq!(stripped(&value["output"]), want_csv);
    let stored = api.all("Product").await;
    assert_eq!(stored.len(), 3);
    for record in value["output"].as_array().expect("output") {
        let id = record["id"].as_str().expect("id");
        assert_eq!(
            api.ok(Method::GET, &format!("Product/{id}"), ALICE, None)
                .await,
            *record
        );
    }

    // ---- JSON: an array of objects, by extension, content type or content -------------------
    let json_file = json!([
        {"name": "J1", "price": 1.5, "owner": "alice@example.com", "meta": {"a": [1, 2]}},
        {"name": "J2", "stock": 7, "tags": ["t"], "owner": "alice@example.com", "kind": null},
    ]);
    let want_json = vec![
        product(json!({"name": "J1", "price": 1.5, "meta": {"a": [1, 2]}})),
        product(json!({"name": "J2", "stock": 7, "tags": ["t"]})),
    ];
    for (file_name, content_type) in [
        ("data.json", "application/octet-stream"),
        ("upload", "application/json"),
        ("upload", "application/octet-stream"),
    ] {
        let bytes = format!("\n {json_file}");
        let (status, value) = import(
            &api,
            "Product",
            ALICE,
            file_name,
            content_type,
            bytes.as_bytes(),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{file_name} {content_type}: {value}"
        );
        assert_eq!(stripped(&value["output"]), want_json, "{file_name}");
    }
    assert_eq!(api.all("Product").await.len(), 9);
    // A CSV without a telling name or type is read as CSV.
    let (status, value) = import(
        &api,
        "Product",
        ALICE,
        "export",
        "application/octet-stream",
        b"name,owner\nplain,alice@example.com\n",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{value}");
    assert_eq!(
        stripped(&value["output"]),
        vec![product(json!({"name": "plain"}))]
    );
    let before = api.all("Product").await;
    assert_eq!(before.len(), 10);

    // ---- a bad row rejects the whole file: 400 naming the row and field ----------------------
    let refused = async |who: Option<&str>,
                         file_name: &str,
                         bytes: &[u8],
                         status: StatusCode,
                         code: &str|
           -> Value {
        let (got, value) = import(
            &api,
            "Product",
            who,
            file_name,
            "application/octet-stream",
            bytes,
        )
        .await;
        assert_eq!(got, status, "{file_name}: {value}");
        check_error(&value, code);
        assert_eq!(api.all("Product").await, before, "nothing written: {value}");
        value
    };
    let bad_cell = "name,stock,owner\nok,1,alice@example.com\n\"two\nlines\",2,alice@example.com\nbad,x1,alice@example.com\n";
    let value = refused(
        ALICE,
        "a.csv",
        bad_cell.as_bytes(),
        StatusCode::BAD_REQUEST,
        "bad-value",
    )
    .await;
    assert_eq!(
        value["detail"],
        json!({"row": 3, "line": 5, "field": "stock"})
    );
    assert!(
        value["message"]
            .as_str()
            .expect("message")
            .starts_with("row 3 (line 5)"),
        "{value}"
    );
    for (field, cell) in [
        ("price", "12abc"),
        ("active", "maybe"),
        ("tags", "\"{\"\"a\"\": 1}\""),
        ("dims", "[1]"),
        ("kind", "z"),
        ("launch", "2024-13-40"),
        ("seen", "yesterday"),
    ] {
        let file = format!("owner,{field}\nalice@example.com,{cell}\n");
        let value = refused(
            ALICE,
            "b.csv",
            file.as_bytes(),
            StatusCode::BAD_REQUEST,
            "bad-value",
        )
        .await;
        assert_eq!(
            value["detail"],
            json!({"row": 1, "line": 2, "field": field}),
            "{cell}"
        );
    }
    let bad_json = json!([
        {"name": "ok", "owner": "alice@example.com"},
        {"name": "bad", "price": "expensive", "owner": "alice@example.com"},
    ]);
    let value = refused(
        ALICE,
        "c.json",
        bad_json.to_string().as_bytes(),
        StatusCode::BAD_REQUEST,
        "bad-value",
    )
    .await;
    assert_eq!(value["detail"], json!({"row": 2, "field": "price"}));
    let value = refused(
        ALICE,
        "d.json",
        b"[{\"name\": \"ok\"}, 3]",
        StatusCode::BAD_REQUEST,
        "bad-record",
    )
    .await;
    assert_eq!(value["detail"], json!({"row": 2, "field": null}));
    let twice = json!([
        {"id": "p1", "owner": "alice@example.com"},
        {"id": "p1", "owner": "alice@example.com"},
    ]);
    let value = refused(
        ALICE,
        "e.json",
        twice.to_string().as_bytes(),
        StatusCode::BAD_REQUEST,
        "bad-record",
    )
    .await;
    assert_eq!(value["detail"]["row"], 2);
    let value = refused(
        ALICE,
        "f.json",
        b"[{\"id\": \"no spaces\"}]",
        StatusCode::BAD_REQUEST,
        "bad-id",
    )
    .await;
    assert_eq!(value["detail"], json!({"row": 1, "field": "id"}));
    // A client id that exists already: 409, nothing written.
    let existing = before[0]["id"].as_str().expect("id");
    let clash = json!([
        {"name": "new", "owner": "alice@example.com"},
        {"id": existing, "owner": "alice@example.com"},
    ]);
    refused(
        ALICE,
        "g.json",
        clash.to_string().as_bytes(),
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    // Files that cannot be read.
    for (file_name, bytes) in [
        ("h.csv", &b"name,owner\nx\n"[..]),
        ("i.csv", b"name,name\nx,y\n"),
        ("j.csv", b"name,,owner\nx,y,z\n"),
        ("k.csv", b"name\n"),
        ("l.csv", b""),
        ("m.csv", b"name\n\xff\xfe\n"),
        ("n.json", b"{\"name\": \"x\"}"),
        ("o.json", b"[{\"name\": "),
        ("p.json", b"[]"),
    ] {
        refused(
            ALICE,
            file_name,
            bytes,
            StatusCode::BAD_REQUEST,
            "bad-import",
        )
        .await;
    }

    // ---- the create rule: a record outside it, or a denied create, writes nothing ------------
    let others = "name,owner\nmine,alice@example.com\ntheirs,bob@example.com\n";
    refused(
        ALICE,
        "q.csv",
        others.as_bytes(),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    refused(
        None,
        "r.csv",
        b"name,owner\nx,alice@example.com\n",
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let (status, value) = import(&api, "Locked", ALICE, "s.csv", "text/csv", b"x\n1\n").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{value}");
    check_error(&value, "forbidden");
    assert!(api.all("Locked").await.is_empty());
    // The service role is under no rule.
    let (status, value) = import(&api, "Locked", SERVICE, "t.csv", "text/csv", b"x\n1\n").await;
    assert_eq!(status, StatusCode::OK, "{value}");
    assert_eq!(value["output"][0]["x"], "1", "text, as declared");

    // ---- caps: file size and row count ----------------------------------------------------
    let mut big = b"name,owner\n".to_vec();
    while big.len() <= ferry_compat::base44::api::MAX_IMPORT_BYTES {
        big.extend_from_slice(b"0123456789012345678901234567890123456789,alice@example.com\n");
    }
    refused(
        ALICE,
        "big.csv",
        &big,
        StatusCode::PAYLOAD_TOO_LARGE,
        "too-large",
    )
    .await;
    big.extend(std::iter::repeat_n(b'x', 1 << 20));
    refused(
        ALICE,
        "bigger.csv",
        &big,
        StatusCode::PAYLOAD_TOO_LARGE,
        "too-large",
    )
    .await;
    let max = ferry_compat::base44::api::MAX_IMPORT_ROWS;
    let mut many = String::from("name,stock,owner\n");
    for i in 0..=max {
        many.push_str(&format!("n{i},{i},alice@example.com\n"));
    }
    refused(
        ALICE,
        "many.csv",
        many.as_bytes(),
        StatusCode::BAD_REQUEST,
        "too-large",
    )
    .await;
    // Exactly the cap: several statements and re-checks, one transaction, file order kept.
    let last = many.trim_end().rfind('\n').expect("a last line");
    let (status, value) = import(
        &api,
        "Product",
        ALICE,
        "max.csv",
        "text/csv",
        &many.as_bytes()[..last],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{}", value["message"]);
    let output = value["output"].as_array().expect("output");
    assert_eq!(output.len(), max);
    assert_eq!(
        (&output[0]["name"], &output[0]["stock"]),
        (&json!("n0"), &json!(0))
    );
    assert_eq!(output[max - 1]["stock"], json!(max - 1));
    let (status, count) = api.list("Product/count", ALICE, &[]).await;
    assert_eq!(
        (status, &count["count"]),
        (StatusCode::OK, &json!(10 + max))
    );

    // ---- not a file upload ------------------------------------------------------------------
    let (status, value) = post(&api, "Product", ALICE, "application/json", b"[{}]".to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{value}");
    check_error(&value, "bad-body");
    let no_file = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nx\r\n--{BOUNDARY}--\r\n"
    );
    let ct = format!("multipart/form-data; boundary={BOUNDARY}");
    let (status, value) = post(&api, "Product", ALICE, &ct, no_file.into_bytes()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{value}");
    check_error(&value, "bad-import");
    let (status, value) = import(&api, "Nope", ALICE, "x.csv", "text/csv", b"a\n1\n").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{value}");
    check_error(&value, "unknown-entity");
}

#[test]
fn api_import_on_sqlite() {
    common::on_sqlite(scenario);
}

#[test]
fn api_import_on_postgres() {
    common::on_postgres("api_import_on_postgres", scenario);
}
