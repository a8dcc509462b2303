//! The floor of `bench/base44.sh`: the list statement ferry's `GET …/entities/{Name}?q=…`
//! runs, run directly against the same database, with no HTTP in between.
//!
//! It opens the database (`Db::open`), reads the entities as applied (`Db::applied`), parses
//! the same `q`/`sort`/`limit` with `query::parse_list`, ANDs the entity's read rule for the
//! caller (`rls::access` + `rls::combine`, as `api/read.rs` does) and builds the statement with
//! `query::select_sql`. Then `--concurrency` tasks run it in a loop through `Db::query` (the
//! store ferry itself uses: one SQLite connection behind a mutex, or a pool of PostgreSQL
//! connections) for `--warmup` seconds (not recorded), then `--duration` seconds, recording
//! every latency. It prints one JSON object on stdout: requests, requests/s, exact p50/p90/
//! p99/max (nearest rank over all recorded latencies), rows per call, and the SQL text with its
//! parameters.
//!
//! ```text
//! cargo run --release -p ferry-compat --example base44_floor -- \
//!     --db sqlite:///abs/base44.sqlite3|postgres://… --entity Order \
//!     --q '{"status":"paid"}' --sort=-placed_at --limit 50 [--user EMAIL] \
//!     [--caller-lookup] [--decode] [--concurrency 16] [--duration 20] [--warmup 2]
//! ```
//!
//! - `--user EMAIL`: the caller is that signed-in user (its current `User` record, as ferry
//!   reads it), so a read rule with `{{user.…}}` becomes the same filter; without it the
//!   caller is anonymous.
//! - `--caller-lookup`: each call first reads the caller's `User` record by id, as ferry does
//!   for every signed-in request, then runs the list (two statements per call).
//! - `--decode`: each call also turns the rows into records (`row_to_record`) and serialises
//!   the JSON array, as ferry does before answering.
//! - `--explain`: print the database's plan of the statement (SQLite `EXPLAIN QUERY PLAN`,
//!   PostgreSQL `EXPLAIN ANALYZE`) and exit.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry_compat::base44::model::{Dialect, Entity, USER_ENTITY};
use ferry_compat::base44::query::{Sql, parse_filter, parse_list, select_sql};
use ferry_compat::base44::record::{Cell, get_sql, public_columns, row_to_record};
use ferry_compat::base44::rls::{self, Caller, Operation};
use ferry_compat::base44::store::Db;
use serde_json::{Value, json};

type Error = Box<dyn std::error::Error + Send + Sync>;

const USAGE: &str = "usage: base44_floor --db URL --entity NAME [--q JSON] [--sort KEYS] \
[--limit N] [--user EMAIL] [--caller-lookup] [--decode] [--explain] [--concurrency N] \
[--duration SECS] [--warmup SECS]";

/// The command line, parsed by hand.
#[derive(Debug)]
struct Args {
    db: String,
    entity: String,
    q: Option<String>,
    sort: Option<String>,
    limit: Option<String>,
    user: Option<String>,
    caller_lookup: bool,
    decode: bool,
    explain: bool,
    concurrency: usize,
    duration: f64,
    warmup: f64,
}

fn parse_args() -> Result<Args, Error> {
    let mut db = None;
    let mut entity = None;
    let mut args = Args {
        db: String::new(),
        entity: String::new(),
        q: None,
        sort: None,
        limit: None,
        user: None,
        caller_lookup: false,
        decode: false,
        explain: false,
        concurrency: 16,
        duration: 20.0,
        warmup: 2.0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        // `--sort=-placed_at` as well as `--sort -placed_at`.
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = || -> Result<String, Error> {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or_else(|| format!("{name} needs a value\n{USAGE}").into())
        };
        match name.as_str() {
            "--db" => db = Some(value()?),
            "--entity" => entity = Some(value()?),
            "--q" => args.q = Some(value()?),
            "--sort" => args.sort = Some(value()?),
            "--limit" => args.limit = Some(value()?),
            "--user" => args.user = Some(value()?),
            "--caller-lookup" => args.caller_lookup = true,
            "--decode" => args.decode = true,
            "--explain" => args.explain = true,
            "--concurrency" => args.concurrency = value()?.parse()?,
            "--duration" => args.duration = value()?.parse()?,
            "--warmup" => args.warmup = value()?.parse()?,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}\n{USAGE}").into()),
        }
    }
    args.db = db.ok_or(USAGE)?;
    args.entity = entity.ok_or(USAGE)?;
    if args.concurrency == 0 || args.duration <= 0.0 || args.warmup < 0.0 {
        return Err("--concurrency must be ≥ 1, --duration > 0, --warmup ≥ 0".into());
    }
    Ok(args)
}

/// What one call runs.
struct Work {
    db: Db,
    entity: Entity,
    list: Sql,
    /// The caller's `User` read, when `--caller-lookup`.
    lookup: Option<(Entity, Sql)>,
    decode: bool,
}

impl Work {
    /// One call: the optional `User` read, the list, the optional decoding; the list's rows.
    async fn call(&self) -> Result<Vec<Vec<Cell>>, Error> {
        if let Some((users, sql)) = &self.lookup {
            let rows = self.db.query(sql, public_columns(users).len()).await?;
            if rows.len() != 1 {
                return Err("the caller's User record is gone".into());
            }
        }
        let columns = public_columns(&self.entity).len();
        let rows = self.db.query(&self.list, columns).await?;
        if self.decode {
            let dialect = self.db.dialect();
            let records = rows
                .iter()
                .map(|cells| row_to_record(&self.entity, cells, dialect))
                .collect::<Result<Vec<Value>, _>>()?;
            let body = serde_json::to_vec(&records)?;
            std::hint::black_box(body);
        }
        Ok(rows)
    }
}

/// The caller's current `User` record (public fields), found by exact email.
async fn user_record(
    db: &Db,
    entities: &[Entity],
    email: &str,
) -> Result<(Entity, serde_json::Map<String, Value>), Error> {
    let users = entities
        .iter()
        .find(|e| e.name == USER_ENTITY)
        .ok_or("no User entity applied")?
        .clone();
    let mut query = parse_list(&[])?;
    query.filter = Some(parse_filter(&json!({ "email": email }))?);
    query.limit = 2;
    let sql = select_sql(&users, &query, db.dialect())?;
    let rows = db.query(&sql, public_columns(&users).len()).await?;
    let [row] = rows.as_slice() else {
        return Err(format!("{} User records with email {email}", rows.len()).into());
    };
    match row_to_record(&users, row, db.dialect())? {
        Value::Object(map) => Ok((users, map)),
        _ => Err("a User record is not an object".into()),
    }
}

/// The statement's text with `$n`/`?n` placeholders, and its parameters as JSON.
fn describe(sql: &Sql) -> Value {
    json!({
        "text": sql.text,
        "params": sql.params.iter().map(|p| format!("{p:?}")).collect::<Vec<_>>(),
    })
}

/// The nearest-rank percentile `p` (0–100) of sorted latencies, in milliseconds.
fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1000.0
}

async fn explain(work: &Work) -> Result<(), Error> {
    let (prefix, columns) = match work.db.dialect() {
        Dialect::Sqlite => ("EXPLAIN QUERY PLAN ", 4),
        Dialect::Postgres => ("EXPLAIN (ANALYZE, BUFFERS) ", 1),
    };
    let sql = Sql {
        text: format!("{prefix}{}", work.list.text),
        params: work.list.params.clone(),
    };
    for row in work.db.query(&sql, columns).await? {
        let line: Vec<String> = row
            .iter()
            .map(|c| match c {
                Cell::Text(t) => t.clone(),
                Cell::Int(i) => i.to_string(),
                other => format!("{other:?}"),
            })
            .collect();
        println!("{}", line.join(" | "));
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args = parse_args()?;
    let db = Db::open(&args.db).await?;
    let entities: Vec<Entity> = db.applied().await?.into_iter().map(|a| a.entity).collect();
    let entity = entities
        .iter()
        .find(|e| e.name == args.entity)
        .ok_or_else(|| format!("no entity {} applied in this database", args.entity))?
        .clone();

    // The caller, as ferry resolves it: anonymous, or the signed-in user's current record.
    let (caller, lookup) = match &args.user {
        None => (Caller::anonymous(), None),
        Some(email) => {
            let (users, record) = user_record(&db, &entities, email).await?;
            let id = record
                .get("id")
                .and_then(Value::as_str)
                .ok_or("the User record has no id")?
                .to_string();
            let lookup = get_sql(&users, &id, db.dialect(), None)?;
            (Caller::user(record), Some((users, lookup)))
        }
    };

    // The list statement, built as `api/read.rs` builds it.
    let mut pairs = Vec::new();
    for (name, value) in [("q", &args.q), ("sort", &args.sort), ("limit", &args.limit)] {
        if let Some(v) = value {
            pairs.push((name.to_string(), v.clone()));
        }
    }
    let mut query = parse_list(&pairs)?;
    let access = rls::access(&entity, Operation::Read, &caller)?;
    query.filter = rls::combine(query.filter.take(), &access);
    let list = select_sql(&entity, &query, db.dialect())?;

    let work = Arc::new(Work {
        db,
        entity,
        list,
        lookup: if args.caller_lookup { lookup } else { None },
        decode: args.decode,
    });
    if args.explain {
        return explain(&work).await;
    }
    // The first call's record ids, in order, so the script can compare them with ferry's answer.
    let first = work.call().await?;
    let rows = first.len();
    let ids: Vec<Value> = first
        .iter()
        .map(|row| match row.first() {
            Some(Cell::Text(id)) => Value::String(id.clone()),
            _ => Value::Null,
        })
        .collect();

    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(args.warmup);
    let end = measure_from + Duration::from_secs_f64(args.duration);
    let mut tasks = Vec::with_capacity(args.concurrency);
    for _ in 0..args.concurrency {
        let work = Arc::clone(&work);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(1 << 16);
            loop {
                let t0 = Instant::now();
                if t0 >= end {
                    break;
                }
                let n = work.call().await?.len();
                if n != rows {
                    return Err::<Vec<Duration>, Error>(
                        format!("a call returned {n} rows, the first {rows}").into(),
                    );
                }
                if t0 >= measure_from {
                    latencies.push(t0.elapsed());
                }
            }
            Ok(latencies)
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await??);
    }
    // The measured window: from the end of the warm-up to when the last call finished.
    let window = Instant::now().saturating_duration_since(measure_from);
    all.sort_unstable();
    let out = json!({
        "dialect": format!("{:?}", work.db.dialect()).to_lowercase(),
        "concurrency": args.concurrency,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "caller": args.user.as_deref().unwrap_or("anonymous"),
        "caller_lookup": args.caller_lookup,
        "decode": args.decode,
        "rows": rows,
        "ids": ids,
        "requests": all.len(),
        "rps": all.len() as f64 / window.as_secs_f64(),
        "p50_ms": percentile(&all, 50.0),
        "p90_ms": percentile(&all, 90.0),
        "p99_ms": percentile(&all, 99.0),
        "max_ms": percentile(&all, 100.0),
        "sql": describe(&work.list),
        "lookup_sql": work.lookup.as_ref().map(|(_, sql)| describe(sql)),
    });
    println!("{out}");
    Ok(())
}
