//! A local measurement of the follow's apply rate against native logical replication
//! (`CREATE SUBSCRIPTION`), in the same run, under a pgbench write load. Ignored by default
//! (it runs for about a minute); `bench/follow.sh` is the full benchmark of the CLI.
//!
//! ```text
//! cargo test --release -p ferry-data --test follow_bench -- --ignored --nocapture
//! FOLLOW_BENCH_SCALE=5 FOLLOW_BENCH_SECS=20 FOLLOW_BENCH_CLIENTS=4 cargo test …   # defaults
//! ```
//!
//! Three throwaway clusters (ferry_test's: fsync off, synchronous_commit off): the source
//! (`wal_level=logical`, `pgbench -i -s SCALE`, `pgbench_history` given a bigserial key),
//! target A (ferry: `prepare`, `pull`, then `follow`) and target B (native: the schema and a
//! subscription to ferry's publication, `copy_data`). Live phase: `pgbench -N` while both
//! follow, the lag in WAL bytes of each slot sampled twice a second. Backlog phase: both
//! paused during the same load, then each drains alone (ferry first), timed until its target
//! has the last heartbeat; the apply rate is the row changes the load made / drain time.

use std::process::Command;
use std::time::{Duration, Instant};

use ferry_data::{Cancel, Endpoint, FollowOptions, MemoryCheckpoints, PullOptions, Quiet};
use ferry_test::pg::{Cluster, Options, skip_if_unavailable};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn q(c: &Cluster, sql: &str) -> String {
    c.psql("app", sql).expect("query").trim().to_string()
}

fn pgbench(c: &Cluster, args: &[&str]) -> String {
    let out = Command::new(c.bin_dir().join("pgbench"))
        .args(args)
        .arg(c.url("app"))
        .output()
        .expect("pgbench");
    assert!(
        out.status.success(),
        "pgbench {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn changes(src: &Cluster) -> u64 {
    q(
        src,
        "SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_user_tables WHERE relname LIKE 'pgbench%'",
    )
    .parse()
    .expect("changes")
}

fn beat(src: &Cluster, n: u64) {
    q(src, &format!("UPDATE bench_beat SET n = {n}"));
}

/// Seconds until `dst` has heartbeat `n`.
fn wait_beat(dst: &Cluster, n: u64, started: Instant) -> f64 {
    loop {
        let has: u64 = q(dst, "SELECT n FROM bench_beat").parse().unwrap_or(0);
        if has >= n {
            return started.elapsed().as_secs_f64();
        }
        assert!(started.elapsed() < Duration::from_secs(1800), "no catch-up");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn lag_bytes(src: &Cluster, slot: &str) -> i64 {
    q(
        src,
        &format!(
            "SELECT coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn), -1)::int8 FROM pg_replication_slots WHERE slot_name = '{slot}'"
        ),
    )
    .parse()
    .unwrap_or(-1)
}

fn stats(v: &mut [i64]) -> String {
    if v.is_empty() {
        return "—".into();
    }
    v.sort_unstable();
    let avg = v.iter().sum::<i64>() as f64 / v.len() as f64;
    let p95 = v[(v.len() * 95 / 100).min(v.len() - 1)];
    format!(
        "{:.0} kB / {:.0} kB / {:.0} kB",
        avg / 1e3,
        p95 as f64 / 1e3,
        v[v.len() - 1] as f64 / 1e3
    )
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "a benchmark: run with --ignored --nocapture"]
async fn follow_apply_rate_vs_native() {
    if skip_if_unavailable("follow_apply_rate_vs_native") {
        return;
    }
    let scale = env("FOLLOW_BENCH_SCALE", 5).to_string();
    let secs = env("FOLLOW_BENCH_SECS", 20).to_string();
    let clients = env("FOLLOW_BENCH_CLIENTS", 4).to_string();
    let src = Cluster::start_with(Options {
        logical: true,
        ..Default::default()
    })
    .expect("source");
    let a = Cluster::start().expect("target A");
    let b = Cluster::start().expect("target B");
    for c in [&src, &a, &b] {
        c.create_database("app").expect("create app");
    }
    pgbench(&src, &["-i", "-q", "-s", &scale]);
    q(
        &src,
        "ALTER TABLE pgbench_history ADD COLUMN hid bigserial PRIMARY KEY;
         CREATE TABLE bench_beat (id int PRIMARY KEY, n bigint NOT NULL);
         INSERT INTO bench_beat VALUES (1, 0)",
    );
    q(&src, "VACUUM ANALYZE");
    let (s, d) = (src.url("app"), a.url("app"));
    let source = Endpoint::parse_source(&s).expect("source url");
    let target = Endpoint::parse(&d).expect("target url");
    let opts = FollowOptions::default();
    let slot = ferry_data::follow::prepare(&source, &target, &opts)
        .await
        .expect("prepare");
    ferry_data::pull(
        &s,
        &d,
        &PullOptions {
            jobs: 2,
            ..Default::default()
        },
        &MemoryCheckpoints::default(),
        &Quiet,
    )
    .await
    .expect("pull");
    // Native: the schema, then a subscription to ferry's publication.
    let dump = Command::new(src.bin_dir().join("pg_dump"))
        .args(["-s", "-d", &s])
        .output()
        .expect("pg_dump");
    assert!(dump.status.success());
    let schema = std::env::temp_dir().join(format!("follow-bench-{}.sql", std::process::id()));
    std::fs::write(&schema, &dump.stdout).expect("schema file");
    b.psql_file("app", &schema).expect("schema on B");
    let _ = std::fs::remove_file(&schema);
    q(
        &b,
        &format!(
            "CREATE SUBSCRIPTION bench_native CONNECTION 'host=127.0.0.1 port={} dbname=app user=postgres password=ferry-test-pw' PUBLICATION {} WITH (copy_data = true)",
            src.port(),
            slot.slot
        ),
    );
    let t0 = Instant::now();
    while q(
        &b,
        "SELECT count(*) FROM pg_subscription_rel WHERE srsubstate <> 'r'",
    ) != "0"
    {
        assert!(t0.elapsed() < Duration::from_secs(600));
        std::thread::sleep(Duration::from_millis(200));
    }

    let store = std::sync::Arc::new(MemoryCheckpoints::default());
    let mut n = 1;
    beat(&src, n);
    let drain = |cancel: Cancel, until: bool| {
        let (source, target, store) = (source.clone(), target.clone(), store.clone());
        tokio::spawn(async move {
            let opts = FollowOptions {
                until_caught_up: until,
                ..Default::default()
            };
            ferry_data::follow(&source, &target, &opts, &*store, &Quiet, &cancel)
                .await
                .expect("follow")
        })
    };
    drain(Cancel::default(), true).await.expect("join");
    wait_beat(&b, n, Instant::now());

    // Live phase.
    let cancel = Cancel::default();
    let live = drain(cancel.clone(), false);
    let c0 = changes(&src);
    let started = Instant::now();
    let load = {
        let (bin, url, secs, clients) = (
            src.bin_dir().join("pgbench"),
            s.clone(),
            secs.clone(),
            clients.clone(),
        );
        std::thread::spawn(move || {
            Command::new(bin)
                .args(["-n", "-N", "-c", &clients, "-j", "2", "-T", &secs, &url])
                .output()
                .expect("pgbench")
        })
    };
    let (mut lag_a, mut lag_b) = (Vec::new(), Vec::new());
    while !load.is_finished() {
        lag_a.push(lag_bytes(&src, &slot.slot));
        lag_b.push(lag_bytes(&src, "bench_native"));
        std::thread::sleep(Duration::from_millis(500));
    }
    let live_out = String::from_utf8_lossy(&load.join().expect("load").stdout).into_owned();
    let load_secs = started.elapsed().as_secs_f64();
    n += 1;
    beat(&src, n);
    let t = Instant::now();
    let (after_a, after_b) = (wait_beat(&a, n, t), wait_beat(&b, n, t));
    let live_changes = changes(&src) - c0;
    cancel.cancel();
    live.await.expect("join");

    // Backlog phase.
    q(&b, "ALTER SUBSCRIPTION bench_native DISABLE");
    std::thread::sleep(Duration::from_secs(1));
    let c0 = changes(&src);
    let backlog_out = pgbench(&src, &["-n", "-N", "-c", &clients, "-j", "2", "-T", &secs]);
    n += 1;
    beat(&src, n);
    std::thread::sleep(Duration::from_secs(1));
    let backlog = changes(&src) - c0;
    let wal = q(
        &src,
        &format!(
            "SELECT pg_size_pretty(pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)) FROM pg_replication_slots WHERE slot_name = '{}'",
            slot.slot
        ),
    );
    let t = Instant::now();
    let report = drain(Cancel::default(), true).await.expect("join");
    let drain_a = wait_beat(&a, n, t);
    q(&b, "ALTER SUBSCRIPTION bench_native ENABLE");
    let drain_b = wait_beat(&b, n, Instant::now());
    let counts = "SELECT (SELECT count(*) || ' ' || sum(abalance) FROM pgbench_accounts) || ' ' || (SELECT count(*) FROM pgbench_history)";
    let (cs, ca, cb) = (q(&src, counts), q(&a, counts), q(&b, counts));
    q(&b, "DROP SUBSCRIPTION bench_native");

    let tps = |out: &str| {
        out.lines()
            .find(|l| l.starts_with("tps = "))
            .unwrap_or("")
            .to_string()
    };
    let (rate_a, rate_b) = (backlog as f64 / drain_a, backlog as f64 / drain_b);
    println!(
        "\nfollow vs native — pgbench -s {scale} -N -c{clients} -T{secs}; load average {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    println!(
        "live: {live_changes} changes in {load_secs:.1} s ({}); lag bytes avg / p95 / max: ferry {}, native {}; caught up after the load: ferry {after_a:.2} s, native {after_b:.2} s",
        tps(&live_out),
        stats(&mut lag_a),
        stats(&mut lag_b)
    );
    println!(
        "backlog: {backlog} changes ({}, {wal} WAL); drain: ferry {drain_a:.2} s ({} rows applied in {:.2} s), native {drain_b:.2} s",
        tps(&backlog_out),
        report.rows,
        report.secs
    );
    println!(
        "apply rate: ferry {rate_a:.0} rows/s, native {rate_b:.0} rows/s, ratio {:.2}×",
        rate_a / rate_b
    );
    assert_eq!(ca, cs, "ferry's target differs from the source");
    assert_eq!(cb, cs, "native's target differs from the source");
}
