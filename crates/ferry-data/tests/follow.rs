//! `prepare`, `follow` and `cutover` against throwaway clusters (`wal_level=logical` source):
//! changes made around and after a pull reach Postgres and SQLite targets exactly once.

use std::time::Duration;

use ferry_data::follow::slot_name;
use ferry_data::{
    Cancel, CutoverOptions, Endpoint, FollowOptions, MemoryCheckpoints, PullOptions, Quiet,
    VerifyOptions, cutover, follow, prepare, pull, verify,
};
use ferry_test::pg::{Cluster, Options, skip_if_unavailable};

const SCHEMA: &str = "
CREATE TABLE orders (id bigserial PRIMARY KEY, customer text NOT NULL, total integer,
                     note text, paid boolean DEFAULT false, at timestamptz DEFAULT now());
CREATE TABLE items (order_id bigint, sku text, qty int, price numeric(10,2), weight real,
                    ratio double precision, tags int[], meta jsonb, blob bytea,
                    PRIMARY KEY (order_id, sku));
CREATE TABLE log (msg text, at timestamp);
ALTER TABLE log REPLICA IDENTITY FULL;
INSERT INTO orders (customer, total, note) SELECT 'c' || g, g, 'n' || g FROM generate_series(1, 300) g;
INSERT INTO items SELECT g, 's' || g, g % 7, g * 1.25, g / 3.0, g / 7.0, ARRAY[g, g + 1],
                         jsonb_build_object('g', g), decode(md5(g::text), 'hex')
  FROM generate_series(1, 100) g;
INSERT INTO log SELECT 'm' || g, '2024-01-01 00:00:00'::timestamp + g * interval '1 second'
  FROM generate_series(1, 50) g;
";

/// Changes of every kind: inserts, updates (a key change, an unchanged TOAST value), deletes,
/// keyless rows, a truncate.
const CHANGES: &str = "
INSERT INTO orders (customer, total, note) SELECT 'd' || g, g, 'later' FROM generate_series(1, 40) g;
UPDATE orders SET total = total + 1000, paid = true WHERE id % 10 = 0;
UPDATE orders SET id = 100000 + id WHERE id IN (3, 4, 5);
DELETE FROM orders WHERE id BETWEEN 20 AND 29;
UPDATE orders SET note = (SELECT string_agg(md5(g::text), '') FROM generate_series(1, 300) g) WHERE id = 7;
UPDATE orders SET total = -7 WHERE id = 7;
UPDATE items SET qty = 99, meta = '{\"changed\": true}', tags = '{}' WHERE order_id < 10;
UPDATE items SET sku = sku || '-b' WHERE order_id = 50;
DELETE FROM items WHERE order_id BETWEEN 60 AND 65;
INSERT INTO log VALUES ('m1', '2024-01-01 00:00:01'), ('late', '2024-02-02 12:00:00.5');
UPDATE log SET msg = 'm2-changed' WHERE msg = 'm2';
DELETE FROM log WHERE msg = 'm3';
";

fn logical() -> Cluster {
    let c = Cluster::start_with(Options {
        logical: true,
        ..Default::default()
    })
    .expect("logical cluster");
    c.create_database("src").expect("create src");
    c.psql("src", SCHEMA).expect("schema");
    c
}

fn pg_target() -> Cluster {
    let c = Cluster::start().expect("target cluster");
    c.create_database("dst").expect("create dst");
    c
}

fn endpoints(src: &str, dst: &str) -> (ferry_data::endpoint::PgEndpoint, Endpoint) {
    (
        Endpoint::parse_source(src).expect("source url"),
        Endpoint::parse(dst).expect("target url"),
    )
}

async fn pull_into(src: &str, dst: &str) {
    let store = MemoryCheckpoints::default();
    let options = PullOptions {
        jobs: 2,
        ..Default::default()
    };
    pull(src, dst, &options, &store, &Quiet)
        .await
        .expect("pull");
}

async fn catch_up(src: &str, dst: &str, store: &MemoryCheckpoints) -> ferry_data::FollowReport {
    let (source, target) = endpoints(src, dst);
    let opts = FollowOptions {
        until_caught_up: true,
        ..Default::default()
    };
    follow(&source, &target, &opts, store, &Print, &Cancel::default())
        .await
        .expect("follow")
}

/// Prints events (shown for failing tests).
struct Print;

impl ferry_data::Observer for Print {
    fn event(&self, event: &ferry_data::Event) {
        println!("{}", serde_json::to_string(event).unwrap_or_default());
    }
}

async fn assert_equal(src: &str, dst: &str) {
    let report = verify(
        src,
        dst,
        &VerifyOptions {
            jobs: 2,
            max_keys: 10,
            ..Default::default()
        },
        &MemoryCheckpoints::default(),
        &Quiet,
    )
    .await
    .expect("verify");
    assert!(report.equal, "differences: {:#?}", report.tables);
}

fn count(c: &Cluster, db: &str, sql: &str) -> String {
    c.psql(db, sql).expect("query").trim().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn pull_follow_cutover_to_postgres() {
    if skip_if_unavailable("pull_follow_cutover_to_postgres") {
        return;
    }
    let src = logical();
    let dst = pg_target();
    let (s, d) = (src.url("src"), dst.url("dst"));
    let (source, target) = endpoints(&s, &d);
    let slot = prepare(&source, &target, &FollowOptions::default())
        .await
        .expect("prepare");
    assert!(slot.created && slot.slot.starts_with("ferry_"));
    // Between the slot and the copy's snapshot: replayed over the copy, idempotently.
    src.psql("src", "INSERT INTO orders (customer) VALUES ('overlap'); UPDATE orders SET total = 0 WHERE id = 1; DELETE FROM orders WHERE id = 2;")
        .expect("overlap changes");
    pull_into(&s, &d).await;
    src.psql("src", CHANGES).expect("changes");
    let store = MemoryCheckpoints::default();
    let first = catch_up(&s, &d, &store).await;
    assert!(first.caught_up && first.transactions > 0, "{first:?}");
    assert_equal(&s, &d).await;

    src.psql("src", "TRUNCATE items; INSERT INTO items (order_id, sku, qty) VALUES (1, 'after-truncate', 1); INSERT INTO orders (customer) VALUES ('last');")
        .expect("truncate");
    let report = cutover(
        &source,
        &target,
        &CutoverOptions {
            timeout: Duration::from_secs(60),
            ..Default::default()
        },
        &store,
        &Quiet,
        &Cancel::default(),
    )
    .await
    .expect("cutover");
    assert!(report.verify.equal && report.dropped, "{report:#?}");
    assert!(report.steps.iter().any(|s| s.contains("stop writes")));
    assert_eq!(count(&dst, "dst", "SELECT count(*) FROM items"), "1");
    // The sequences continue after the source's values.
    assert!(
        report
            .sequences
            .iter()
            .any(|s| s.sequence == "public.orders_id_seq" && s.changed),
        "{:?}",
        report.sequences
    );
    let max_source: i64 = count(&src, "src", "SELECT last_value FROM orders_id_seq")
        .parse()
        .expect("last_value");
    let fresh: i64 = count(
        &dst,
        "dst",
        "INSERT INTO orders (customer) VALUES ('on target') RETURNING id",
    )
    .lines()
    .next()
    .and_then(|l| l.trim().parse().ok())
    .expect("new id");
    assert!(fresh > max_source, "{fresh} <= {max_source}");
    assert_eq!(
        count(
            &src,
            "src",
            &format!("SELECT count(*) FROM orders WHERE id = {fresh}")
        ),
        "0"
    );
    // Nothing left behind on the source, nor on the target.
    assert_eq!(
        count(&src, "src", "SELECT count(*) FROM pg_replication_slots"),
        "0"
    );
    assert_eq!(
        count(&src, "src", "SELECT count(*) FROM pg_publication"),
        "0"
    );
    assert_eq!(
        count(
            &dst,
            "dst",
            "SELECT count(*) FROM pg_namespace WHERE nspname = '_ferry'"
        ),
        "0"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_follower_resumes_without_loss_or_duplicates() {
    if skip_if_unavailable("a_killed_follower_resumes") {
        return;
    }
    let src = logical();
    let dst = pg_target();
    let (s, d) = (src.url("src"), dst.url("dst"));
    let (source, target) = endpoints(&s, &d);
    prepare(&source, &target, &FollowOptions::default())
        .await
        .expect("prepare");
    pull_into(&s, &d).await;
    // Many small transactions, keyless rows among them (a replay would duplicate those).
    let mut script = String::new();
    for i in 0..1500 {
        script.push_str(&format!(
            "INSERT INTO log VALUES ('k{i}', now()::timestamp); UPDATE orders SET total = {i} WHERE id = {};\n",
            i % 300 + 1
        ));
    }
    let file = tempfile::NamedTempFile::new().expect("script file");
    std::fs::write(file.path(), &script).expect("write script");
    std::fs::set_permissions(
        file.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .expect("chmod");
    src.psql_file("src", file.path()).expect("writes");

    let store = MemoryCheckpoints::default();
    let opts = FollowOptions {
        batch_changes: 40,
        ..Default::default()
    };
    let task = {
        let (source, target, opts) = (source.clone(), target.clone(), opts.clone());
        tokio::spawn(async move {
            let store = MemoryCheckpoints::default();
            follow(&source, &target, &opts, &store, &Quiet, &Cancel::default()).await
        })
    };
    // Killed as soon as the first batches are on the target.
    let started = std::time::Instant::now();
    while count(&dst, "dst", "SELECT count(*) FROM log") == "50" {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "nothing applied"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    task.abort();
    let _ = task.await;
    let partial = count(&dst, "dst", "SELECT count(*) FROM log");
    assert_ne!(
        partial, "1550",
        "the follower finished before it was killed"
    );

    let report = catch_up(&s, &d, &store).await;
    assert!(report.caught_up);
    assert_equal(&s, &d).await;
    assert_eq!(count(&dst, "dst", "SELECT count(*) FROM log"), "1550");
    assert_eq!(
        count(
            &dst,
            "dst",
            "SELECT count(*) FROM (SELECT msg FROM log GROUP BY msg HAVING count(*) > 1) d"
        ),
        "0"
    );
    ferry_data::drop_slot(&source, &report.slot)
        .await
        .expect("drop");
    assert_eq!(
        count(&src, "src", "SELECT count(*) FROM pg_replication_slots"),
        "0"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_column_type_change_stops_the_follow() {
    if skip_if_unavailable("a_column_type_change_stops_the_follow") {
        return;
    }
    let src = logical();
    let dst = pg_target();
    let (s, d) = (src.url("src"), dst.url("dst"));
    let (source, target) = endpoints(&s, &d);
    prepare(&source, &target, &FollowOptions::default())
        .await
        .expect("prepare");
    pull_into(&s, &d).await;
    let cancel = Cancel::default();
    let task = {
        let (source, target, cancel) = (source.clone(), target.clone(), cancel.clone());
        tokio::spawn(async move {
            let store = MemoryCheckpoints::default();
            follow(
                &source,
                &target,
                &FollowOptions::default(),
                &store,
                &Quiet,
                &cancel,
            )
            .await
        })
    };
    src.psql("src", "INSERT INTO orders (customer) VALUES ('before');")
        .expect("insert");
    src.psql(
        "src",
        "ALTER TABLE orders ALTER COLUMN total TYPE numeric; INSERT INTO orders (customer, total) VALUES ('after', 1.5);",
    )
    .expect("alter");
    let result = tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .expect("the follow stops")
        .expect("join");
    cancel.cancel();
    let err = result.expect_err("a schema change is an error");
    assert_eq!(err.code(), "schema-changed");
    assert!(
        err.to_string().contains("orders.total: integer → numeric"),
        "{err}"
    );
    // The change before it was applied; the one after was not.
    assert_eq!(
        count(
            &dst,
            "dst",
            "SELECT count(*) FROM orders WHERE customer IN ('before', 'after')"
        ),
        "1"
    );
    let name = slot_name(&source, &target, &FollowOptions::default());
    ferry_data::drop_slot(&source, &name).await.expect("drop");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_sources_are_typed_errors_and_leave_no_slot() {
    if skip_if_unavailable("bad_sources_are_typed_errors") {
        return;
    }
    let target = Endpoint::parse("sqlite:///tmp/ferry-follow-unused.db").expect("target");
    let opts = FollowOptions::default();

    // wal_level=replica.
    let plain = Cluster::start().expect("replica cluster");
    plain.create_database("src").expect("db");
    plain.psql("src", SCHEMA).expect("schema");
    let source = Endpoint::parse_source(&plain.url("src")).expect("url");
    let e = prepare(&source, &target, &opts)
        .await
        .expect_err("wal_level");
    assert_eq!(e.code(), "wal-level");
    assert!(
        e.hint().contains("ALTER SYSTEM SET wal_level = logical"),
        "{}",
        e.hint()
    );
    assert!(e.is_bad_input());

    let src = logical();
    let slots = |c: &Cluster| count(c, "src", "SELECT count(*) FROM pg_replication_slots");
    let pubs = |c: &Cluster| count(c, "src", "SELECT count(*) FROM pg_publication");

    // A role without REPLICATION.
    src.psql(
        "src",
        "CREATE ROLE app LOGIN PASSWORD 'app-pw'; GRANT SELECT ON ALL TABLES IN SCHEMA public TO app;",
    )
    .expect("role");
    let app = Endpoint::parse_source(&format!(
        "postgres://app:app-pw@127.0.0.1:{}/src?sslmode=disable",
        src.port()
    ))
    .expect("url");
    let e = prepare(&app, &target, &opts).await.expect_err("privilege");
    assert_eq!(e.code(), "replication-privilege");
    assert!(
        e.hint().contains("ALTER ROLE app WITH REPLICATION"),
        "{}",
        e.hint()
    );

    // A table without a key nor REPLICA IDENTITY FULL.
    src.psql("src", "CREATE TABLE nokey (a int);")
        .expect("nokey");
    let source = Endpoint::parse_source(&src.url("src")).expect("url");
    let e = prepare(&source, &target, &opts)
        .await
        .expect_err("identity");
    assert_eq!(e.code(), "no-replica-identity");
    assert!(
        e.hint()
            .contains("ALTER TABLE \"public\".\"nokey\" REPLICA IDENTITY FULL;"),
        "{}",
        e.hint()
    );
    assert_eq!((slots(&src), pubs(&src)), ("0".into(), "0".into()));
    src.psql("src", "DROP TABLE nokey;").expect("drop nokey");

    // A slot of the same name that is not ferry's.
    let name = slot_name(&source, &target, &opts);
    src.psql(
        "src",
        &format!("SELECT pg_create_logical_replication_slot('{name}', 'test_decoding');"),
    )
    .expect("foreign slot");
    let e = prepare(&source, &target, &opts).await.expect_err("foreign");
    assert_eq!(e.code(), "slot-conflict");
    assert_eq!((slots(&src), pubs(&src)), ("1".into(), "0".into()));
    src.psql(
        "src",
        &format!("SELECT pg_drop_replication_slot('{name}');"),
    )
    .expect("drop foreign");

    // No free slot: the publication made by the failed call is dropped again.
    src.psql(
        "src",
        "SELECT pg_create_logical_replication_slot('other_' || g, 'test_decoding') FROM generate_series(1, 10) g;",
    )
    .expect("fill the slots");
    let e = prepare(&source, &target, &opts)
        .await
        .expect_err("exhausted");
    assert_eq!(e.code(), "slots-exhausted");
    assert_eq!((slots(&src), pubs(&src)), ("10".into(), "0".into()));
    // drop_slot refuses what is not ferry's.
    assert_eq!(
        ferry_data::drop_slot(&source, "other_1")
            .await
            .expect_err("not ferry's")
            .code(),
        "slot-conflict"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn follow_into_sqlite() {
    if skip_if_unavailable("follow_into_sqlite") {
        return;
    }
    let src = logical();
    let dir = tempfile::tempdir().expect("tempdir");
    let s = src.url("src");
    let d = format!("sqlite://{}", dir.path().join("app.db").display());
    let (source, target) = endpoints(&s, &d);
    prepare(&source, &target, &FollowOptions::default())
        .await
        .expect("prepare");
    src.psql("src", "UPDATE orders SET total = 0 WHERE id = 1;")
        .expect("overlap");
    pull_into(&s, &d).await;
    src.psql("src", CHANGES).expect("changes");
    let store = MemoryCheckpoints::default();
    catch_up(&s, &d, &store).await;
    assert_equal(&s, &d).await;
    src.psql(
        "src",
        "TRUNCATE log; INSERT INTO log VALUES ('only', NULL);",
    )
    .expect("truncate");
    let report = cutover(
        &source,
        &target,
        &CutoverOptions::default(),
        &store,
        &Quiet,
        &Cancel::default(),
    )
    .await
    .expect("cutover");
    assert!(report.verify.equal && report.dropped, "{report:#?}");
    assert_eq!(
        count(&src, "src", "SELECT count(*) FROM pg_replication_slots"),
        "0"
    );
}

/// Changes that one batch holds together (applied as grouped statements on Postgres): a key
/// updated twice, an insert after a delete of the same key, an insert then a delete, a
/// truncate in the middle, a key change whose unchanged TOAST value comes from an earlier
/// change of the batch and one whose value is only on the target, unique values swapped
/// between rows (the grouped statements fail; the batch is applied change by change) and a
/// unique value moved to a new row.
const BATCH_EDGES: &str = "
BEGIN;
UPDATE orders SET total = 1 WHERE id = 1;
UPDATE orders SET total = 2, note = 'second' WHERE id = 1;
DELETE FROM orders WHERE id = 2;
INSERT INTO orders (id, customer, total) VALUES (2, 'again', 22);
INSERT INTO orders (id, customer, total) VALUES (5000, 'gone', 1);
DELETE FROM orders WHERE id = 5000;
COMMIT;
UPDATE orders SET note = (SELECT string_agg(md5(g::text), '') FROM generate_series(1, 300) g) WHERE id = 7;
UPDATE orders SET id = 7007 WHERE id = 7;
UPDATE orders SET id = 9009 WHERE id = 9;
UPDATE orders SET total = total + 1 WHERE id = 9009;
INSERT INTO log VALUES ('before the truncate', NULL);
UPDATE items SET qty = 1 WHERE order_id = 1;
TRUNCATE items;
INSERT INTO items (order_id, sku, qty) VALUES (1, 'after', 5);
UPDATE items SET qty = 6 WHERE order_id = 1;
INSERT INTO items (order_id, sku, qty) VALUES (2, 'after', 7);
DELETE FROM items WHERE order_id = 2;
INSERT INTO items (order_id, sku, qty) VALUES (2, 'after', 8);
UPDATE uniq SET email = 'tmp' WHERE id = 1;
UPDATE uniq SET email = 'e1' WHERE id = 2;
UPDATE uniq SET email = 'e2' WHERE id = 1;
DELETE FROM uniq WHERE id = 3;
INSERT INTO uniq VALUES (11, 'e3', 1);
";

async fn batch_edges(dst: &str) {
    let src = logical();
    src.psql(
        "src",
        "CREATE TABLE uniq (id int PRIMARY KEY, email text NOT NULL UNIQUE, n int);
         INSERT INTO uniq SELECT g, 'e' || g, 0 FROM generate_series(1, 10) g;
         UPDATE orders SET note = (SELECT string_agg(md5(g::text), '') FROM generate_series(1, 200) g) WHERE id = 9;",
    )
    .expect("uniq");
    let s = src.url("src");
    let (source, target) = endpoints(&s, dst);
    prepare(&source, &target, &FollowOptions::default())
        .await
        .expect("prepare");
    pull_into(&s, dst).await;
    src.psql("src", BATCH_EDGES).expect("changes");
    let store = MemoryCheckpoints::default();
    let report = catch_up(&s, dst, &store).await;
    assert!(report.caught_up, "{report:?}");
    assert_equal(&s, dst).await;
    ferry_data::drop_slot(&source, &report.slot)
        .await
        .expect("drop");
}

#[tokio::test(flavor = "multi_thread")]
async fn one_batch_keeps_the_order_of_its_changes_on_postgres() {
    if skip_if_unavailable("one_batch_keeps_the_order_of_its_changes_on_postgres") {
        return;
    }
    let dst = pg_target();
    let d = dst.url("dst");
    batch_edges(&d).await;
    assert_eq!(
        count(
            &dst,
            "dst",
            "SELECT total || ' ' || note FROM orders WHERE id = 1"
        ),
        "2 second"
    );
    assert_eq!(
        count(&dst, "dst", "SELECT customer FROM orders WHERE id = 2"),
        "again"
    );
    assert_eq!(
        count(
            &dst,
            "dst",
            "SELECT length(note) FROM orders WHERE id IN (7007, 9009) ORDER BY id"
        ),
        "9600\n6400"
    );
    assert_eq!(
        count(
            &dst,
            "dst",
            "SELECT string_agg(order_id || sku || qty, ',' ORDER BY order_id) FROM items"
        ),
        "1after6,2after8"
    );
    assert_eq!(
        count(
            &dst,
            "dst",
            "SELECT string_agg(id || email, ',' ORDER BY id) FROM uniq WHERE id IN (1, 2, 3, 11)"
        ),
        "1e2,2e1,11e3"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn one_batch_keeps_the_order_of_its_changes_on_sqlite() {
    if skip_if_unavailable("one_batch_keeps_the_order_of_its_changes_on_sqlite") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = format!("sqlite://{}", dir.path().join("app.db").display());
    batch_edges(&d).await;
}
