//! Base44 row-level security: hand-written entity schemas and users, the access each caller
//! gets (checked by hand), then the same rules enforced on real SQLite and PostgreSQL tables
//! with hand-derived answers for which records each caller sees.

use ferry_compat::base44::model::{Dialect, Entity};
use ferry_compat::base44::query::{
    Filter, ListQuery, Sql, SqlValue, count_sql, parse_filter, register_sqlite_functions,
    select_sql,
};
use ferry_compat::base44::rls::{Access, Caller, Operation, access, combine, validate};
use ferry_compat::base44::schema::{create_table_sql, parse_entity};
use serde_json::{Map, Value, json};

// ---- entities and callers ---------------------------------------------------------------

fn entity(file: &str, text: &str) -> Entity {
    parse_entity(file, text).expect("parses")
}

fn task() -> Entity {
    entity(
        "task.jsonc",
        r#"{
        "name": "Task", "type": "object",
        "properties": { "title": { "type": "string" } },
        "rls": {
            // owner or admin reads; only the owner writes
            "read": { "$or": [ { "created_by": "{{user.email}}" },
                               { "user_condition": { "role": "admin" } } ] },
            "write": { "created_by": "{{user.email}}" },
        }
    }"#,
    )
}

fn team_member() -> Entity {
    entity(
        "team-member.jsonc",
        r#"{
        "properties": { "name": { "type": "string" }, "tenant_id": { "type": "string" } },
        "rls": {
            "read": { "tenant_id": "{{user.tenant_id}}" },
            "create": { "tenant_id": "{{user.tenant_id}}" },
            "delete": false
        }
    }"#,
    )
}

fn note() -> Entity {
    entity(
        "note.jsonc",
        r#"{ "properties": { "body": { "type": "string" } } }"#,
    )
}

fn announcement() -> Entity {
    entity(
        "announcement.jsonc",
        r#"{ "properties": { "text": { "type": "string" } },
             "rls": { "read": true, "write": false } }"#,
    )
}

/// A number-typed template and an embedded one, `data.` prefixes on both sides.
fn doc() -> Entity {
    entity(
        "doc.jsonc",
        r#"{ "properties": { "slug": { "type": "string" }, "level": { "type": "integer" } },
             "rls": { "read": { "$or": [
                 { "level": { "$lte": "{{user.clearance}}" } },
                 { "data.slug": "pub-{{user.data.id}}" } ] } } }"#,
    )
}

/// A template on an attribute no user has.
fn project() -> Entity {
    entity(
        "project.jsonc",
        r#"{ "properties": { "org_id": { "type": "string" } },
             "rls": { "read": { "org_id": "{{user.org_id}}" } } }"#,
    )
}

fn attrs(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => panic!("object"),
    }
}

fn anonymous() -> Caller {
    Caller::anonymous()
}

fn alice() -> Caller {
    Caller::user(attrs(json!({
        "id": "u_alice", "email": "alice@example.com", "full_name": "Alice", "role": "user",
        "tenant_id": "t1", "clearance": 2
    })))
}

fn bob() -> Caller {
    Caller::user(attrs(json!({
        "id": "u_bob", "email": "bob@example.com", "full_name": "Bob", "role": "user",
        "tenant_id": "t2"
    })))
}

fn admin() -> Caller {
    Caller::user(attrs(json!({
        "id": "u_admin", "email": "admin@example.com", "full_name": "Ada", "role": "admin",
        "tenant_id": "t3"
    })))
}

/// Custom fields kept under `data`, as Base44 returns them.
fn carol() -> Caller {
    Caller::user(attrs(json!({
        "id": "u_carol", "email": "carol@example.com", "role": "user",
        "data": { "tenant_id": "t1" }
    })))
}

fn service() -> Caller {
    Caller::service()
}

fn rows(q: Value) -> Access {
    Access::Rows(parse_filter(&q).expect("filter"))
}

fn check(entity: &Entity, op: Operation, caller: &Caller) -> Access {
    access(entity, op, caller).expect("access")
}

// ---- access() -----------------------------------------------------------------------------

#[test]
fn every_hand_written_schema_validates() {
    for e in [
        task(),
        team_member(),
        note(),
        announcement(),
        doc(),
        project(),
    ] {
        validate(&e).expect("valid");
    }
}

#[test]
fn task_owner_or_admin() {
    let t = task();
    let alice_rows = rows(json!({"created_by": "alice@example.com"}));
    let bob_rows = rows(json!({"created_by": "bob@example.com"}));
    assert_eq!(check(&t, Operation::Read, &anonymous()), Access::Denied);
    assert_eq!(check(&t, Operation::Read, &alice()), alice_rows);
    assert_eq!(check(&t, Operation::Read, &bob()), bob_rows);
    assert_eq!(check(&t, Operation::Read, &admin()), Access::All);
    assert_eq!(check(&t, Operation::Read, &service()), Access::All);
    // `write` stands in for create, update and delete.
    for op in [Operation::Create, Operation::Update, Operation::Delete] {
        assert_eq!(check(&t, op, &anonymous()), Access::Denied, "{op}");
        assert_eq!(check(&t, op, &alice()), alice_rows, "{op}");
        assert_eq!(check(&t, op, &bob()), bob_rows, "{op}");
        assert_eq!(check(&t, op, &admin()), Access::All, "{op}");
        assert_eq!(check(&t, op, &service()), Access::All, "{op}");
    }
}

#[test]
fn team_member_tenant_isolation() {
    let m = team_member();
    for op in [Operation::Read, Operation::Create] {
        assert_eq!(check(&m, op, &anonymous()), Access::Denied, "{op}");
        assert_eq!(check(&m, op, &alice()), rows(json!({"tenant_id": "t1"})));
        assert_eq!(check(&m, op, &bob()), rows(json!({"tenant_id": "t2"})));
        assert_eq!(check(&m, op, &carol()), rows(json!({"tenant_id": "t1"})));
        assert_eq!(check(&m, op, &admin()), Access::All);
        assert_eq!(check(&m, op, &service()), Access::All);
    }
    // `delete: false`; admins and the service role bypass it.
    assert_eq!(check(&m, Operation::Delete, &alice()), Access::Denied);
    assert_eq!(check(&m, Operation::Delete, &anonymous()), Access::Denied);
    assert_eq!(check(&m, Operation::Delete, &admin()), Access::All);
    assert_eq!(check(&m, Operation::Delete, &service()), Access::All);
    // No `update` rule and no `write`: Base44's default, no restriction.
    assert_eq!(check(&m, Operation::Update, &anonymous()), Access::All);
    assert_eq!(check(&m, Operation::Update, &bob()), Access::All);
}

#[test]
fn no_rls_and_constant_rules() {
    for op in Operation::ALL {
        for caller in [anonymous(), alice(), admin(), service()] {
            assert_eq!(check(&note(), op, &caller), Access::All, "{op}");
        }
    }
    let a = announcement();
    for caller in [anonymous(), alice(), bob()] {
        assert_eq!(check(&a, Operation::Read, &caller), Access::All);
        for op in [Operation::Create, Operation::Update, Operation::Delete] {
            assert_eq!(check(&a, op, &caller), Access::Denied, "{op}");
        }
    }
    for op in Operation::ALL {
        assert_eq!(check(&a, op, &admin()), Access::All, "{op}");
        assert_eq!(check(&a, op, &service()), Access::All, "{op}");
    }
}

#[test]
fn templates_keep_types_embed_and_never_match_when_missing() {
    let d = doc();
    // `clearance` stays the number 2; the embedded template builds "pub-u_alice".
    assert_eq!(
        check(&d, Operation::Read, &alice()),
        rows(json!({"$or": [{"level": {"$lte": 2}}, {"slug": "pub-u_alice"}]}))
    );
    let Access::Rows(Filter::Or(branches)) = check(&d, Operation::Read, &alice()) else {
        panic!("rows");
    };
    assert_eq!(
        branches[0],
        parse_filter(&json!({"level": {"$lte": 2}})).expect("f")
    );
    // Bob has no clearance: that branch can never hold and folds away.
    assert_eq!(
        check(&d, Operation::Read, &bob()),
        rows(json!({"slug": "pub-u_bob"}))
    );
    assert_eq!(check(&d, Operation::Read, &anonymous()), Access::Denied);
    // Nobody has `org_id`.
    for caller in [alice(), bob(), carol(), anonymous()] {
        assert_eq!(check(&project(), Operation::Read, &caller), Access::Denied);
    }
    // A null or object attribute never matches (an object could be read as an operator).
    let m = team_member();
    for tenant in [json!(null), json!({"$ne": null}), json!({"$exists": true})] {
        let caller = Caller::user(attrs(
            json!({"id": "u", "role": "user", "tenant_id": tenant}),
        ));
        assert_eq!(
            check(&m, Operation::Read, &caller),
            Access::Denied,
            "{tenant}"
        );
    }
    // An array attribute fills `$in`; a scalar there cannot match.
    let teams = with_rls(json!({"read": {"team": {"$in": "{{user.teams}}"}}}));
    validate(&teams).expect("valid");
    let caller = Caller::user(attrs(json!({"id": "u", "teams": ["a", "b"]})));
    assert_eq!(
        check(&teams, Operation::Read, &caller),
        rows(json!({"team": {"$in": ["a", "b"]}}))
    );
    let caller = Caller::user(attrs(json!({"id": "u", "teams": "a"})));
    assert_eq!(check(&teams, Operation::Read, &caller), Access::Denied);
}

fn with_rls(rls: Value) -> Entity {
    let mut e = entity(
        "thing.jsonc",
        r#"{ "properties": { "team": { "type": "string" }, "owner": { "type": "string" } } }"#,
    );
    e.rls = Some(rls);
    e
}

#[test]
fn user_condition_and_folding() {
    let cases = [
        // (rls read, caller, expected)
        (
            json!({"user_condition": {"role": {"$in": ["user", "editor"]}}}),
            alice(),
            Access::All,
        ),
        (
            json!({"user_condition": {"role": {"$in": ["user", "editor"]}}}),
            anonymous(),
            Access::Denied,
        ),
        (
            json!({"user_condition": {"department": {"$ne": "sales"}}}),
            alice(),
            Access::All,
        ),
        (
            json!({"user_condition": {"tenant_id": {"$nin": ["t1"]}}}),
            alice(),
            Access::Denied,
        ),
        (
            json!({"user_condition": {"data.tenant_id": "t2"}}),
            bob(),
            Access::All,
        ),
        (
            json!({"user_condition": {"tenant_id": "t1"}}),
            carol(),
            Access::All,
        ),
        (
            json!({"user_condition": {"clearance": 2.0}}),
            alice(),
            Access::All,
        ),
        (
            json!({"user_condition": {"role": "user", "tenant_id": "t2"}}),
            alice(),
            Access::Denied,
        ),
        // $nor of a false user condition is true; of a true one, false.
        (
            json!({"$nor": [{"user_condition": {"tenant_id": "t9"}}]}),
            alice(),
            Access::All,
        ),
        (
            json!({"$nor": [{"user_condition": {"tenant_id": "t1"}}, {"owner": "x"}]}),
            alice(),
            Access::Denied,
        ),
        (
            json!({"$nor": [{"user_condition": {"tenant_id": "t9"}}, {"owner": "x"}]}),
            alice(),
            rows(json!({"$nor": [{"owner": "x"}]})),
        ),
        // $and drops true parts; a false part makes all false.
        (
            json!({"$and": [{"user_condition": {"role": "user"}}, {"owner": "{{user.id}}"}]}),
            alice(),
            rows(json!({"owner": "u_alice"})),
        ),
        (
            json!({"$and": [{"user_condition": {"role": "editor"}}, {"owner": "{{user.id}}"}]}),
            alice(),
            Access::Denied,
        ),
        (
            json!({"owner": "{{user.id}}", "team": {"$ne": "{{ user.tenant_id }}"}}),
            alice(),
            rows(json!({"owner": "u_alice", "team": {"$ne": "t1"}})),
        ),
        (json!({}), anonymous(), Access::All),
    ];
    for (rule, caller, want) in cases {
        let e = with_rls(json!({ "read": rule }));
        validate(&e).expect("valid");
        assert_eq!(check(&e, Operation::Read, &caller), want, "{rule}");
    }
}

#[test]
fn null_and_empty_rules_are_absent_and_fall_back_to_write() {
    let e = with_rls(json!({"create": null, "update": "", "read": "", "write": false}));
    validate(&e).expect("valid");
    assert_eq!(check(&e, Operation::Read, &alice()), Access::All);
    for op in [Operation::Create, Operation::Update, Operation::Delete] {
        assert_eq!(check(&e, op, &alice()), Access::Denied, "{op}");
    }
}

#[test]
fn combine_ands_the_client_filter() {
    let q = parse_filter(&json!({"title": "x"})).expect("q");
    let r = parse_filter(&json!({"created_by": "a"})).expect("r");
    assert_eq!(combine(None, &Access::All), None);
    assert_eq!(combine(Some(q.clone()), &Access::All), Some(q.clone()));
    assert_eq!(combine(None, &Access::Denied), Some(Filter::Never));
    assert_eq!(
        combine(Some(q.clone()), &Access::Denied),
        Some(Filter::Never)
    );
    assert_eq!(combine(None, &Access::Rows(r.clone())), Some(r.clone()));
    assert_eq!(
        combine(Some(q.clone()), &Access::Rows(r.clone())),
        Some(Filter::And(vec![q, r]))
    );
}

#[test]
fn malformed_rules_are_bad_rls() {
    let cases = [
        (json!({"read": 1}), Some(Operation::Read)),
        (json!({"read": "yes"}), Some(Operation::Read)),
        (json!({"read": [true]}), Some(Operation::Read)),
        (json!({"write": {"$where": "1"}}), Some(Operation::Create)),
        (
            json!({"create": true, "write": {"$foo": 1}}),
            Some(Operation::Update),
        ),
        (
            json!({"read": {"created_by": "{{user.}}"}}),
            Some(Operation::Read),
        ),
        (
            json!({"read": {"created_by": "{{other.x}}"}}),
            Some(Operation::Read),
        ),
        (
            json!({"read": {"created_by": "{{user.email"}}),
            Some(Operation::Read),
        ),
        (
            json!({"read": {"created_by": "a-{{ }}"}}),
            Some(Operation::Read),
        ),
        (
            json!({"delete": {"owner": {"$foo": 1}}}),
            Some(Operation::Delete),
        ),
        (
            json!({"read": {"owner": {"$gt": [1]}}}),
            Some(Operation::Read),
        ),
        (json!({"read": {"$or": []}}), Some(Operation::Read)),
        (
            json!({"read": {"$or": {"owner": "x"}}}),
            Some(Operation::Read),
        ),
        (json!({"read": {"$or": ["x"]}}), Some(Operation::Read)),
        (
            json!({"read": {"$not": {"owner": "x"}}}),
            Some(Operation::Read),
        ),
        (
            json!({"read": {"user_condition": {"role": {"$gt": "a"}}}}),
            Some(Operation::Read),
        ),
        (
            json!({"read": {"user_condition": {"role": {"$in": "admin"}}}}),
            Some(Operation::Read),
        ),
        (
            json!({"read": {"user_condition": "admin"}}),
            Some(Operation::Read),
        ),
        (
            json!({"read": {"user_condition": {"role": "{{user.}}"}}}),
            Some(Operation::Read),
        ),
        (json!({"reed": true}), None),
        (json!(true), None),
    ];
    for (rls, op) in cases {
        let e = with_rls(rls.clone());
        let err = validate(&e).expect_err("malformed");
        assert_eq!(err.code(), "bad-rls", "{rls}");
        assert_eq!(err.entity(), "Thing", "{rls}");
        assert_eq!(err.operation(), op, "{rls}: {err}");
        assert!(err.to_string().contains("Thing"), "{err}");
        // access() refuses it too, for every caller, when it governs the operation.
        if let Some(op) = op {
            for caller in [anonymous(), alice(), admin(), service()] {
                let err = access(&e, op, &caller).expect_err("malformed");
                assert_eq!(err.code(), "bad-rls", "{rls}");
                assert_eq!(err.operation(), Some(op));
            }
        }
    }
    let err = validate(&with_rls(json!({"write": {"$foo": 1}}))).expect_err("bad");
    assert!(
        err.to_string().contains("`write` (used for create)"),
        "{err}"
    );
}

// ---- end to end -------------------------------------------------------------------------

/// One hand-written row: its id and the other columns it sets.
type Row = (&'static str, Vec<(&'static str, SqlValue)>);

/// Every table with its hand-written rows.
fn tables() -> Vec<(Entity, Vec<Row>)> {
    let t = |s: &str| SqlValue::Text(s.into());
    vec![
        (
            task(),
            vec![
                (
                    "t1",
                    vec![("created_by", t("alice@example.com")), ("title", t("a1"))],
                ),
                (
                    "t2",
                    vec![("created_by", t("bob@example.com")), ("title", t("b1"))],
                ),
                (
                    "t3",
                    vec![("created_by", t("alice@example.com")), ("title", t("a2"))],
                ),
                (
                    "t4",
                    vec![("created_by", t("bob@example.com")), ("title", t("b2"))],
                ),
                ("t5", vec![("title", t("orphan"))]),
                (
                    "t6",
                    vec![("created_by", t("ALICE@example.com")), ("title", t("case"))],
                ),
            ],
        ),
        (
            team_member(),
            vec![
                ("m1", vec![("tenant_id", t("t1")), ("name", t("x"))]),
                ("m2", vec![("tenant_id", t("t2")), ("name", t("y"))]),
                ("m3", vec![("tenant_id", t("t1")), ("name", t("z"))]),
                ("m4", vec![("name", t("no tenant"))]),
                ("m5", vec![("tenant_id", t("t3"))]),
            ],
        ),
        (
            doc(),
            vec![
                ("d1", vec![("slug", t("a")), ("level", SqlValue::Int(1))]),
                (
                    "d2",
                    vec![("slug", t("pub-u_bob")), ("level", SqlValue::Int(2))],
                ),
                (
                    "d3",
                    vec![("slug", t("pub-u_alice")), ("level", SqlValue::Int(3))],
                ),
                ("d4", vec![("slug", t("b"))]),
                ("d5", vec![("slug", t("c")), ("level", SqlValue::Int(5))]),
            ],
        ),
        (
            project(),
            vec![("p1", vec![("org_id", t("o1"))]), ("p2", vec![])],
        ),
        (note(), vec![("n1", vec![]), ("n2", vec![])]),
    ]
}

/// `(entity name, caller name, client filter, ids seen)`, derived by hand from the rows.
fn reads() -> Vec<(&'static str, &'static str, Option<Value>, &'static str)> {
    vec![
        ("Task", "anonymous", None, ""),
        ("Task", "alice", None, "t1 t3"),
        ("Task", "bob", None, "t2 t4"),
        ("Task", "carol", None, ""),
        ("Task", "admin", None, "t1 t2 t3 t4 t5 t6"),
        ("Task", "service", None, "t1 t2 t3 t4 t5 t6"),
        // Asking for someone else's records does not reveal them.
        (
            "Task",
            "alice",
            Some(json!({"created_by": "bob@example.com"})),
            "",
        ),
        ("Task", "alice", Some(json!({"title": {"$ne": "a1"}})), "t3"),
        (
            "Task",
            "admin",
            Some(json!({"title": {"$regex": "^b"}})),
            "t2 t4",
        ),
        ("TeamMember", "anonymous", None, ""),
        ("TeamMember", "alice", None, "m1 m3"),
        ("TeamMember", "bob", None, "m2"),
        ("TeamMember", "carol", None, "m1 m3"),
        ("TeamMember", "admin", None, "m1 m2 m3 m4 m5"),
        ("TeamMember", "service", None, "m1 m2 m3 m4 m5"),
        ("Doc", "anonymous", None, ""),
        ("Doc", "alice", None, "d1 d2 d3"),
        ("Doc", "bob", None, "d2"),
        ("Doc", "carol", None, ""),
        ("Doc", "admin", None, "d1 d2 d3 d4 d5"),
        ("Project", "anonymous", None, ""),
        ("Project", "alice", None, ""),
        ("Project", "bob", None, ""),
        ("Project", "admin", None, "p1 p2"),
        ("Note", "anonymous", None, "n1 n2"),
        ("Note", "bob", None, "n1 n2"),
    ]
}

fn caller(name: &str) -> Caller {
    match name {
        "anonymous" => anonymous(),
        "alice" => alice(),
        "bob" => bob(),
        "carol" => carol(),
        "admin" => admin(),
        "service" => service(),
        _ => panic!("caller {name}"),
    }
}

fn find(name: &str) -> Entity {
    tables()
        .into_iter()
        .map(|(e, _)| e)
        .find(|e| e.name == name)
        .expect("entity")
}

fn read_sql(
    entity_name: &str,
    caller_name: &str,
    q: &Option<Value>,
    dialect: Dialect,
) -> (Sql, String) {
    let entity = find(entity_name);
    let a = access(&entity, Operation::Read, &caller(caller_name)).expect("access");
    let query = ListQuery {
        filter: combine(q.as_ref().map(|q| parse_filter(q).expect("q")), &a),
        // By id: the expected rows are written in id order.
        sort: Vec::new(),
        ..ListQuery::default()
    };
    let label = format!("{entity_name} as {caller_name}, q = {q:?}");
    (select_sql(&entity, &query, dialect).expect("select"), label)
}

fn insert_sql(entity: &Entity, id: &str, cols: &[(&str, SqlValue)], dialect: Dialect) -> Sql {
    let mut names = vec!["\"id\"".to_string()];
    let mut params = vec![SqlValue::Text(id.into())];
    for (col, v) in cols {
        names.push(format!("\"{col}\""));
        params.push(v.clone());
    }
    let holders: Vec<String> = params
        .iter()
        .enumerate()
        .map(|(i, p)| match dialect {
            Dialect::Sqlite => format!("?{}", i + 1),
            Dialect::Postgres => format!("${}::{}", i + 1, p.postgres_type()),
        })
        .collect();
    Sql {
        text: format!(
            "INSERT INTO \"{}\" ({}) VALUES ({})",
            entity.table,
            names.join(", "),
            holders.join(", ")
        ),
        params,
    }
}

fn ids(list: &str) -> Vec<String> {
    list.split_whitespace().map(String::from).collect()
}

// ---- SQLite -----------------------------------------------------------------------------

fn sqlite() -> rusqlite::Connection {
    let conn = rusqlite::Connection::open_in_memory().expect("open");
    register_sqlite_functions(&conn).expect("functions");
    for (entity, rows) in tables() {
        for stmt in create_table_sql(&entity, Dialect::Sqlite) {
            conn.execute_batch(&stmt).expect("ddl");
        }
        for (id, cols) in rows {
            let sql = insert_sql(&entity, id, &cols, Dialect::Sqlite);
            conn.execute(&sql.text, rusqlite::params_from_iter(sql.params.iter()))
                .expect("insert");
        }
    }
    conn
}

fn sqlite_ids(conn: &rusqlite::Connection, sql: &Sql) -> Vec<String> {
    let mut stmt = conn
        .prepare(&sql.text)
        .unwrap_or_else(|e| panic!("{e}\n{}", sql.text));
    stmt.query_map(rusqlite::params_from_iter(sql.params.iter()), |row| {
        row.get::<_, String>(0)
    })
    .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
    .unwrap_or_else(|e| panic!("{e}\n{}", sql.text))
}

#[test]
fn sqlite_each_caller_sees_exactly_its_records() {
    let conn = sqlite();
    let mut failures = Vec::new();
    for (entity, who, q, want) in reads() {
        let (sql, label) = read_sql(entity, who, &q, Dialect::Sqlite);
        let got = sqlite_ids(&conn, &sql);
        if got != ids(want) {
            failures.push(format!("{label}\n  want {want}\n  got  {}", got.join(" ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The enforcement model for writes: insert (or update) inside a transaction, re-select the
/// row with the RLS filter, roll back when it no longer matches.
#[test]
fn sqlite_create_check_rolls_back_rows_outside_the_rule() {
    let mut conn = sqlite();
    let members = team_member();
    let count_members = |conn: &rusqlite::Connection| -> i64 {
        let sql = count_sql(&members, None, Dialect::Sqlite).expect("count");
        conn.query_row(&sql.text, [], |r| r.get(0)).expect("count")
    };
    for (id, tenant, allowed) in [("m8", "t2", false), ("m9", "t1", true)] {
        let Access::Rows(rule) = check(&members, Operation::Create, &alice()) else {
            panic!("rows");
        };
        let tx = conn.transaction().expect("tx");
        let sql = insert_sql(
            &members,
            id,
            &[("tenant_id", SqlValue::Text(tenant.into()))],
            Dialect::Sqlite,
        );
        tx.execute(&sql.text, rusqlite::params_from_iter(sql.params.iter()))
            .expect("insert");
        let this_row = parse_filter(&json!({ "id": id })).expect("id");
        let check = count_sql(
            &members,
            Some(&Filter::And(vec![this_row, rule])),
            Dialect::Sqlite,
        )
        .expect("count");
        let n: i64 = tx
            .query_row(
                &check.text,
                rusqlite::params_from_iter(check.params.iter()),
                |r| r.get(0),
            )
            .expect("re-select");
        assert_eq!(n == 1, allowed, "{id}");
        if allowed {
            tx.commit().expect("commit");
        } else {
            tx.rollback().expect("rollback");
        }
    }
    assert_eq!(count_members(&conn), 6); // m1–m5 and m9; m8 was rolled back
}

// ---- PostgreSQL -------------------------------------------------------------------------

/// The parameters bound exactly as the store binds them.
fn pg_params(params: &[SqlValue]) -> Vec<Box<dyn tokio_postgres::types::ToSql + Sync + Send>> {
    ferry_compat::base44::store::bind_postgres(params)
}

async fn pg_run(
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

#[tokio::test(flavor = "multi_thread")]
async fn postgres_each_caller_sees_exactly_its_records() {
    if ferry_test::pg::skip_if_unavailable("postgres_each_caller_sees_exactly_its_records") {
        return;
    }
    let cluster = ferry_test::pg::Cluster::start().expect("cluster");
    let (client, connection) =
        tokio_postgres::connect(&cluster.url("postgres"), tokio_postgres::NoTls)
            .await
            .expect("connect");
    tokio::spawn(connection);
    for (entity, rows) in tables() {
        for stmt in create_table_sql(&entity, Dialect::Postgres) {
            client.batch_execute(&stmt).await.expect("ddl");
        }
        for (id, cols) in rows {
            let sql = insert_sql(&entity, id, &cols, Dialect::Postgres);
            pg_run(&client, &sql).await.expect("insert");
        }
    }
    let mut failures = Vec::new();
    for (entity, who, q, want) in reads() {
        let (sql, label) = read_sql(entity, who, &q, Dialect::Postgres);
        match pg_run(&client, &sql).await {
            Ok(rows) => {
                let got: Vec<String> = rows.iter().map(|r| r.get::<_, String>(0)).collect();
                if got != ids(want) {
                    failures.push(format!("{label}\n  want {want}\n  got  {}", got.join(" ")));
                }
            }
            Err(e) => failures.push(format!("{label}\n  error {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
