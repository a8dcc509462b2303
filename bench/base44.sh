#!/usr/bin/env bash
# The Base44 entities API under load: requests/s and p50/p99 of the SDK's filtered, sorted
# list of 50 — `GET /api/apps/{id}/entities/Order?q={"status":"paid","amount":{"$gte":100}}
# &sort=-placed_at&limit=50` — over 100,000 records, on the embedded SQLite and on PostgreSQL
# 15, each beside the same SQL run directly (the floor). Goal: p99 under 10 ms on SQLite.
# Then the import rate of `ferry db pull --from base44-export:` against plain INSERTs through
# psql (bench/base44-import.sh; IMPORT=0 skips it).
# Never in CI; run by hand (as root: it installs what is missing from Debian's packages and
# runs PostgreSQL as the postgres user).
#
# What it does:
# - builds ferry (`cargo build --release -p ferry`) and the floor
#   (`crates/ferry-compat/examples/base44_floor.rs`); starts `ferry serve` itself under
#   `taskset -c 0` with a temp FERRY_HOME (`ferry up` would daemonise it unpinned) and checks
#   that every thread of it is pinned to core 0; deploys a generated app (`builder = "base44"`,
#   one static unit, `base44/entities/Order.jsonc`: status enum, amount number, customer
#   string, placed_at date-time, tags array).
# - RLS=owner (default): Order's rules are `read`/`write` `{"created_by": "{{user.email}}"}`
#   and the caller is signed in (`POST …/auth/register` gives the bearer token wrk sends), so
#   every request also resolves the caller (ferry reads the `User` record again) and the list
#   carries the rule as `AND created_by = ?`. OWNERS users own the records (round-robin by
#   batch); the reader is the first, so with OWNERS=1 (default) the rule matches all 100,000
#   and the filter and sort run over every record. RLS=public: `read: true`, anonymous reads
#   and loads.
# - loads RECORDS records (fixed seed, the same for both databases) through the bulk route
#   `POST …/entities/Order/bulk`, BATCH per request, one request at a time (the loader pinned
#   to core 1); the load time is wall clock over all batches.
# - curls the list once and checks it: 200, 50 records, all `paid` with amount ≥ 100, owned by
#   the reader, placed_at descending; and the same ids, in the same order, as the floor's
#   first call.
# - wrk (`wrk -tTHREADS -cCONNECTIONS -dDURATIONs --latency`, after a 2 s warm-up) on core 1;
#   any non-2xx answer fails the script. SINGLE=1 (default) adds a run with one connection
#   (`-t1 -c1`): with CONNECTIONS callers, ferry's one SQLite connection runs their statements
#   one at a time, so p50 is about CONNECTIONS / (requests/s) — the single-connection row shows
#   one request's own latency.
# - the floor: base44_floor opens the same database, builds the same statement with ferry's own
#   translator (`parse_list`, the read rule through `rls::access`/`rls::combine`, `select_sql`,
#   as `api/read.rs` does) and runs it through ferry's store (`Db::query`) from CONNECTIONS
#   concurrent tasks for DURATION seconds (after a 2 s warm-up), with exact p50/p99 over every
#   recorded latency. On SQLite it runs on core 0 (the database engine is in-process, as in
#   ferry); on PostgreSQL the client runs on core 1 and the server on core 0, as with wrk.
#   BREAKDOWN=1 (default) adds a row with what ferry runs per request minus HTTP: the caller's
#   `User` read, the list, and the rows turned into the JSON answer.
# - PostgreSQL: a throwaway cluster (initdb in a temp dir as the postgres user, trust auth,
#   127.0.0.1, a free port, default settings) started under `taskset -c 0`;
#   `ferry env set FERRY_BASE44_DATABASE_URL=postgres://…` then `ferry deploy` again moves the
#   backend there; the users are registered and the records loaded again, then `ANALYZE
#   "order"` (what autovacuum does within a minute of such a load; SQLite gets no ANALYZE, as
#   ferry runs none).
# - prints the machine, the configuration, each database's plan, the SQL, the table and
#   `goal: p99 < 10 ms on SQLite: MET|NOT MET`. Everything stops on exit.
#
#   bench/base44.sh                       # DURATION=20 CONNECTIONS=16 THREADS=2 RECORDS=100000
#   DURATION=5 TARGETS=sqlite bench/base44.sh
#   KEEP_LOGS=/tmp/b44-logs bench/base44.sh   # keep wrk outputs, server and postgres logs
#   OWNERS=10 bench/base44.sh             # the reader owns 10,000 of the 100,000
#   RLS=public bench/base44.sh            # read: true, anonymous
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-20}"
CONNECTIONS="${CONNECTIONS:-16}"
THREADS="${THREADS:-2}"
RECORDS="${RECORDS:-100000}"
BATCH="${BATCH:-1000}"
OWNERS="${OWNERS:-1}"
RLS="${RLS:-owner}"
TARGETS="${TARGETS:-sqlite postgres}"
BREAKDOWN="${BREAKDOWN:-1}"
SINGLE="${SINGLE:-1}"
WARMUP=2
for v in DURATION CONNECTIONS THREADS RECORDS BATCH OWNERS; do
  case "${!v}" in '' | *[!0-9]* | 0) echo "$v must be a positive integer (seconds for DURATION), not '${!v}'" >&2; exit 2 ;; esac
done
case "$RLS" in owner | public) ;; *) echo "RLS must be owner or public, not '$RLS'" >&2; exit 2 ;; esac
for t in $TARGETS; do
  case "$t" in sqlite | postgres) ;; *) echo "TARGETS holds sqlite and/or postgres, not '$t'" >&2; exit 2 ;; esac
done
PGBIN=/usr/lib/postgresql/15/bin
APP=bench
APP_ID=be44c4b3e5c4a1f00d0c0ffe
HOST="$APP.localhost"
PASSWORD=bench-password-0123
# shellcheck disable=SC2016 # a JSON query, not an expansion
Q='{"status":"paid","amount":{"$gte":100}}'
SORT=-placed_at
LIMIT=50

# --- tools ------------------------------------------------------------------------------------
need() { command -v "$1" >/dev/null 2>&1; }
missing=()
need wrk || missing+=(wrk)
need curl || missing+=(curl)
need python3 || missing+=(python3)
need sqlite3 || missing+=(sqlite3)
need taskset || missing+=(util-linux)
need runuser || missing+=(util-linux)
if [[ " $TARGETS " == *" postgres "* ]]; then
  [ -x "$PGBIN/initdb" ] || missing+=(postgresql-15)
  need psql || missing+=(postgresql-client-15)
fi
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then echo "missing ${missing[*]}: run as root to install them (Debian packages)" >&2; exit 1; fi
  echo "installing ${missing[*]} (Debian packages)…" >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [ "$(nproc)" -lt 2 ]; then echo "needs 2 cores (server on core 0, load generator on core 1)" >&2; exit 1; fi

echo "building ferry and the floor (release)…" >&2
cargo build --release -q -p ferry
cargo build --release -q -p ferry-compat --example base44_floor
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$PWD/$TARGET_DIR" ;; esac
FERRY="$TARGET_DIR/release/ferry"
FLOOR="$TARGET_DIR/release/examples/base44_floor"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/ferry-base44.XXXXXX")"
chmod 755 "$WORK"   # the postgres user reaches its cluster in here
export FERRY_HOME="$WORK/home"
FERRY_PID=""; PGDATA=""
cleanup() {
  if [ -n "$FERRY_PID" ]; then kill "$FERRY_PID" 2>/dev/null || true; wait "$FERRY_PID" 2>/dev/null || true; fi
  if [ -n "$PGDATA" ]; then runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null 2>&1 || true; fi
  if [ -n "${KEEP_LOGS:-}" ]; then { mkdir -p "$KEEP_LOGS" && cp -R "$WORK/logs/." "$KEEP_LOGS/"; } || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$WORK/logs"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# every thread of PID (and, with "tree", of its children) allowed on core 0 only, or exit
check_pinned() {
  local pid="$1" what="$2" pids="$1" lists
  [ "${3:-}" = tree ] && pids="$pid $(pgrep -P "$pid" | tr '\n' ' ')"
  lists="$(for p in $pids; do cat /proc/"$p"/task/*/status 2>/dev/null; done | awk '/^Cpus_allowed_list:/ {print $2}' | sort -u | paste -sd' ')"
  if [ "$lists" != 0 ]; then echo "$what (pid $pid) is not pinned to core 0: Cpus_allowed_list $lists" >&2; exit 1; fi
  echo "  $what: pid $pid, $(for p in $pids; do ls /proc/"$p"/task; done | wc -l) threads, all on core 0" >&2
}

# --- helpers (data, loader, checks, wrk output) -------------------------------------------------
HELPER="$WORK/helper.py"
cat >"$HELPER" <<'PY'
import http.client, json, random, re, sys, time

def gen(folder, records, batch):
    """Deterministic orders in files of `batch` records."""
    records, batch = int(records), int(batch)
    rnd = random.Random(44)
    statuses = ["pending", "paid", "shipped", "cancelled"]
    tags = ["gift", "express", "b2b", "promo", "repeat", "intl"]
    start = 1704067200  # 2024-01-01T00:00:00Z
    n = 0
    for b in range(0, records, batch):
        out = []
        for _ in range(min(batch, records - b)):
            t = start + rnd.randrange(2 * 365 * 86400)
            out.append({
                "status": rnd.choice(statuses),
                "amount": round(rnd.uniform(0, 1000), 2),
                "customer": "customer-%05d" % rnd.randrange(20000),
                "placed_at": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % rnd.randrange(1000),
                "tags": rnd.sample(tags, rnd.randint(0, 3)),
            })
        with open(f"{folder}/batch-{n:05d}.json", "w") as f:
            json.dump(out, f, separators=(",", ":"))
        n += 1

def load(port, app_id, host, tokens_file, folder, batches):
    """POSTs every batch to the bulk route, one at a time on one connection; prints seconds."""
    tokens = [t for t in open(tokens_file).read().split() if t]
    conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=120)
    path = f"/api/apps/{app_id}/entities/Order/bulk"
    bodies = [open(f"{folder}/batch-{i:05d}.json", "rb").read() for i in range(int(batches))]
    t0 = time.monotonic()
    for i, body in enumerate(bodies):
        headers = {"Host": host, "Content-Type": "application/json"}
        if tokens:
            headers["Authorization"] = "Bearer " + tokens[i % len(tokens)]
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        answer = resp.read()
        if resp.status != 200:
            sys.exit(f"bulk batch {i}: HTTP {resp.status}: {answer[:300]!r}")
        got = json.loads(answer)
        if len(got) != len(json.loads(body)):
            sys.exit(f"bulk batch {i}: {len(got)} records created, sent {len(json.loads(body))}")
    print(f"{time.monotonic() - t0:.2f}")

def check(port, path, host, token, reader, ids_out):
    """The list answers 200 with 50 paid orders of ≥ 100, the reader's, newest first."""
    conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=30)
    headers = {"Host": host}
    if token:
        headers["Authorization"] = "Bearer " + token
    conn.request("GET", path, headers=headers)
    resp = conn.getresponse()
    body = resp.read()
    if resp.status != 200:
        sys.exit(f"list: HTTP {resp.status}: {body[:300]!r}")
    got = json.loads(body)
    problems = []
    if len(got) != 50:
        problems.append(f"{len(got)} records, expected 50")
    for r in got:
        if r.get("status") != "paid" or not r.get("amount", -1) >= 100:
            problems.append(f"record {r.get('id')} does not match q: {r.get('status')} {r.get('amount')}")
        if reader and r.get("created_by") != reader:
            problems.append(f"record {r.get('id')} belongs to {r.get('created_by')}, not {reader}")
    placed = [r.get("placed_at") for r in got]
    if placed != sorted(placed, reverse=True):
        problems.append("not sorted by placed_at descending")
    if problems:
        sys.exit("list check failed: " + "; ".join(problems[:5]))
    json.dump([r["id"] for r in got], open(ids_out, "w"))
    print(f"200, {len(got)} records, {len(body)} bytes, placed_at {placed[0]} … {placed[-1]}")

def same_ids(http_ids, floor_json):
    a = json.load(open(http_ids))
    b = json.load(open(floor_json))["ids"]
    if a != b:
        sys.exit(f"ferry's answer and the floor's first call differ: {a[:3]}… vs {b[:3]}…")

def wrk(path):
    """wrk --latency output → 'rps p50_ms p99_ms non2xx socket_errors'."""
    text = open(path).read()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    def pct(p):
        v, unit = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M).groups()
        return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    errors = re.search(r"Socket errors:(.*)", text)
    print(f"{rps:.1f} {pct(50):.3f} {pct(99):.3f} {non2xx.group(1) if non2xx else 0} "
          f"{errors.group(1).strip().replace(' ', '') if errors else 'none'}")

def floor(path):
    """base44_floor's JSON → 'rps p50_ms p99_ms'."""
    d = json.load(open(path))
    print(f"{d['rps']:.1f} {d['p50_ms']:.3f} {d['p99_ms']:.3f}")

def sql(path):
    d = json.load(open(path))
    print(d["sql"]["text"])
    print("  parameters: " + ", ".join(d["sql"]["params"]))
    if d.get("lookup_sql"):
        print("  caller lookup (BREAKDOWN row, and ferry per signed-in request): " + d["lookup_sql"]["text"])

def table(rows_path, records, connections):
    rows = [l.rstrip("\n").split("\t") for l in open(rows_path) if l.strip()]
    print(f"| target | path | requests/s | p50 ms | p99 ms | load {int(records):,} records |")
    print("|:---|:---|---:|---:|---:|---:|")
    goal_row = f"ferry HTTP (wrk, {connections} connection{'' if connections == '1' else 's'})"
    met, single = None, None
    for target, path, rps, p50, p99, load in rows:
        print(f"| {target} | {path} | {float(rps):,.0f} | {float(p50):.2f} | {float(p99):.2f} | {load} |")
        if target == "sqlite" and path == goal_row:
            met = float(p99) < 10.0
        if target == "sqlite" and path == "ferry HTTP (wrk, 1 connection)":
            single = float(p99)
    print()
    if met is None:
        print("goal: p99 < 10 ms on SQLite: NOT MEASURED (sqlite not in TARGETS)")
    else:
        print(f"goal: p99 < 10 ms on SQLite: {'MET' if met else 'NOT MET'} (at {connections} connections"
              + (f"; at 1 connection p99 is {single:.2f} ms)" if single is not None else ")"))

globals()[sys.argv[1]](*sys.argv[2:])
PY
helper() { python3 "$HELPER" "$@"; }

# --- the app ----------------------------------------------------------------------------------
SRC="$WORK/app"
mkdir -p "$SRC/base44/entities"
cat >"$SRC/ferry.toml" <<TOML
version = 1
name = "$APP"
builder = "base44"

[compat]
base44 = { app_id = "$APP_ID" }

[[unit]]
kind = "static"
install = ""
build = ""
output = "."
spa = true
TOML
echo '<!doctype html><html><head><meta charset="utf-8"><title>orders</title></head><body><div id="root"></div></body></html>' >"$SRC/index.html"
if [ "$RLS" = owner ]; then
  RULE='"read": { "created_by": "{{user.email}}" }, "write": { "created_by": "{{user.email}}" }'
else
  RULE='"read": true'
fi
cat >"$SRC/base44/entities/Order.jsonc" <<JSONC
// bench/base44.sh: orders, read by the SDK's filter(q, "-placed_at", 50).
{
  "name": "Order",
  "type": "object",
  "properties": {
    "status": { "type": "string", "enum": ["pending", "paid", "shipped", "cancelled"] },
    "amount": { "type": "number" },
    "customer": { "type": "string" },
    "placed_at": { "type": "string", "format": "date-time" },
    "tags": { "type": "array", "items": { "type": "string" } },
  },
  "rls": { $RULE },
}
JSONC
BATCHES=$(( (RECORDS + BATCH - 1) / BATCH ))
mkdir -p "$WORK/batches"
helper gen "$WORK/batches" "$RECORDS" "$BATCH"
BATCH_KB="$(du -sk "$WORK/batches" | cut -f1)"

# --- ferry: serve on core 0, deploy -------------------------------------------------------------
PORT="$(free_port)"; CONTROL_PORT="$(free_port)"
taskset -c 0 "$FERRY" serve --listen "127.0.0.1:$PORT" --control-listen "127.0.0.1:$CONTROL_PORT" \
  2>"$WORK/logs/ferry-server.log" &
FERRY_PID=$!
for _ in $(seq 200); do [ -S "$FERRY_HOME/ferry.sock" ] && break; sleep 0.05; done
"$FERRY" deploy --json "$SRC" >"$WORK/logs/deploy-sqlite.json" 2>"$WORK/logs/deploy-sqlite.log" ||
  { cat "$WORK/logs/deploy-sqlite.log" >&2; exit 1; }
BASE="http://127.0.0.1:$PORT"
QENC="$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$Q")"
LIST_PATH="/api/apps/$APP_ID/entities/Order?q=$QENC&sort=$SORT&limit=$LIMIT"
WRK_ARGS=("-t$THREADS" "-c$CONNECTIONS" --latency -H "Host: $HOST")
FLOOR_ARGS=(--entity Order --q "$Q" "--sort=$SORT" --limit "$LIMIT" --concurrency "$CONNECTIONS")

# --- one target: users, load, check, wrk, floor -------------------------------------------------
ROWS="$WORK/rows.tsv"; : >"$ROWS"
PLANS="$WORK/plans.txt"; : >"$PLANS"
SQLS="$WORK/sql.txt"; : >"$SQLS"
bench_target() {
  local target="$1" db_url="$2" floor_core="$3" tokens="$WORK/tokens-$1" reader="" token="" load_s
  : >"$tokens"
  if [ "$RLS" = owner ]; then
    for i in $(seq 0 $((OWNERS - 1))); do
      curl -sf -H "Host: $HOST" -H 'Content-Type: application/json' \
        -d "{\"email\":\"owner-$i@example.com\",\"password\":\"$PASSWORD\"}" \
        "$BASE/api/apps/$APP_ID/auth/register" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])' >>"$tokens"
    done
    reader=owner-0@example.com
    token="$(head -1 "$tokens")"
  fi
  echo "$target: loading $RECORDS records, $BATCHES bulk requests of $BATCH…" >&2
  load_s="$(taskset -c 1 python3 "$HELPER" load "$PORT" "$APP_ID" "$HOST" "$tokens" "$WORK/batches" "$BATCHES")"
  echo "  $load_s s ($(python3 -c "print(f'{$RECORDS / $load_s:,.0f}')") records/s)" >&2
  if [ "$target" = postgres ]; then
    psql -X -q -v ON_ERROR_STOP=1 -d "$db_url" -c 'ANALYZE "order"'
    echo "  rows: $(psql -X -A -t -d "$db_url" -c 'SELECT count(*) FROM "order"'), table + indexes $(psql -X -A -t -d "$db_url" -c "SELECT pg_size_pretty(pg_total_relation_size('\"order\"'))")" >&2
  else
    local file="${db_url#sqlite://}"
    echo "  tables: $(sqlite3 "$file" .tables | xargs); rows: $(sqlite3 "$file" 'SELECT count(*) FROM "order"'); file $(du -sh "$file" | cut -f1) (+ WAL $(du -sh "$file-wal" 2>/dev/null | cut -f1 || echo 0))" >&2
  fi
  echo "  check: $(helper check "$PORT" "$LIST_PATH" "$HOST" "$token" "$reader" "$WORK/ids-$target.json")" >&2
  local auth=() user=()
  [ -n "$token" ] && auth=(-H "Authorization: Bearer $token")
  [ -n "$reader" ] && user=(--user "$reader")

  echo "  wrk: ${DURATION}s after a ${WARMUP}s warm-up…" >&2
  taskset -c 1 wrk "${WRK_ARGS[@]}" "${auth[@]}" "-d${WARMUP}s" "$BASE$LIST_PATH" >"$WORK/logs/wrk-warmup-$target.txt"
  run_wrk "$target" "$CONNECTIONS" "$THREADS" "$load_s s ($BATCHES × $BATCH, bulk route)" "${auth[@]}"
  if [ "$SINGLE" = 1 ]; then
    echo "  wrk, one connection: ${DURATION}s…" >&2
    run_wrk "$target" 1 1 "" "${auth[@]}"
  fi

  {
    echo "$target:"
    taskset -c "$floor_core" "$FLOOR" --db "$db_url" "${FLOOR_ARGS[@]}" "${user[@]}" --explain | sed 's/^/  /'
  } >>"$PLANS"
  local rps p50 p99
  echo "  floor: ${DURATION}s after a ${WARMUP}s warm-up, $CONNECTIONS tasks on core $floor_core…" >&2
  taskset -c "$floor_core" "$FLOOR" --db "$db_url" "${FLOOR_ARGS[@]}" "${user[@]}" \
    --duration "$DURATION" --warmup "$WARMUP" >"$WORK/floor-$target.json"
  helper same_ids "$WORK/ids-$target.json" "$WORK/floor-$target.json"
  read -r rps p50 p99 <<<"$(helper floor "$WORK/floor-$target.json")"
  printf '%s\t%s\t%s\t%s\t%s\t\n' "$target" "direct SQL floor ($CONNECTIONS tasks, Db::query)" "$rps" "$p50" "$p99" >>"$ROWS"
  echo "  floor: $rps req/s, p50 $p50 ms, p99 $p99 ms (same 50 ids as ferry's answer)" >&2
  { echo "$target:"; helper sql "$WORK/floor-$target.json" | sed 's/^/  /'; } >>"$SQLS"

  if [ "$BREAKDOWN" = 1 ]; then
    local extra=(--decode) what="list + rows to JSON"
    if [ -n "$reader" ]; then extra+=(--caller-lookup); what="User read + list + rows to JSON"; fi
    echo "  breakdown: $what…" >&2
    taskset -c "$floor_core" "$FLOOR" --db "$db_url" "${FLOOR_ARGS[@]}" "${user[@]}" "${extra[@]}" \
      --duration "$DURATION" --warmup "$WARMUP" >"$WORK/breakdown-$target.json"
    read -r rps p50 p99 <<<"$(helper floor "$WORK/breakdown-$target.json")"
    printf '%s\t%s\t%s\t%s\t%s\t\n' "$target" "direct: $what (ferry's work minus HTTP)" "$rps" "$p50" "$p99" >>"$ROWS"
    echo "  breakdown: $rps req/s, p50 $p50 ms, p99 $p99 ms" >&2
  fi
}

LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
# run_wrk TARGET CONNECTIONS THREADS LOAD_CELL [HEADER ARGS…]: one measured wrk run → a row
run_wrk() {
  local target="$1" conns="$2" threads="$3" load_cell="$4" out="$WORK/logs/wrk-$1-c$2.txt" w rps p50 p99 bad errs
  shift 4
  taskset -c 1 wrk "-t$threads" "-c$conns" --latency -H "Host: $HOST" "$@" "-d${DURATION}s" "$BASE$LIST_PATH" >"$out"
  w="$(helper wrk "$out")"
  read -r rps p50 p99 bad errs <<<"$w"
  if [ "$bad" != 0 ]; then
    echo "wrk got $bad non-2xx answers on $target:" >&2; cat "$out" >&2; exit 1
  fi
  [ "$errs" = none ] || echo "  warning: wrk socket errors on $target: $errs" >&2
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$target" "ferry HTTP (wrk, $conns connection$([ "$conns" = 1 ] || echo s))" \
    "$rps" "$p50" "$p99" "$load_cell" >>"$ROWS"
  echo "  ferry: $rps req/s, p50 $p50 ms, p99 $p99 ms (socket errors: $errs)" >&2
}

echo "ferry serve (edge 127.0.0.1:$PORT, control 127.0.0.1:$CONTROL_PORT):" >&2
check_pinned "$FERRY_PID" "ferry serve"
if [[ " $TARGETS " == *" sqlite "* ]]; then
  bench_target sqlite "sqlite://$FERRY_HOME/data/$APP/base44.sqlite3" 0
fi

PG_NOTE=""
if [[ " $TARGETS " == *" postgres "* ]]; then
  PG_PORT="$(free_port)"
  mkdir -p "$WORK/pg-sock" "$WORK/logs/postgres" && chown postgres: "$WORK/pg-sock" "$WORK/logs/postgres"
  PGDATA="$WORK/pg"
  mkdir -p "$PGDATA" && chown postgres: "$PGDATA"
  runuser -u postgres -- "$PGBIN/initdb" -D "$PGDATA" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync \
    >"$WORK/logs/initdb.log"
  {
    echo "listen_addresses = '127.0.0.1'"
    echo "port = $PG_PORT"
    echo "unix_socket_directories = '$WORK/pg-sock'"
  } | runuser -u postgres -- tee -a "$PGDATA/postgresql.conf" >/dev/null
  taskset -c 0 runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA" -l "$WORK/logs/postgres/postgres.log" -w -t 120 start >/dev/null
  PG_ADMIN="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
  PG_URL="postgres://postgres@127.0.0.1:$PG_PORT/bench"
  psql -X -q -v ON_ERROR_STOP=1 -d "$PG_ADMIN" -c 'CREATE DATABASE bench'
  echo "postgres (127.0.0.1:$PG_PORT):" >&2
  check_pinned "$(head -1 "$PGDATA/postmaster.pid")" "postgres and its processes" tree
  "$FERRY" env set --app "$APP" "FERRY_BASE44_DATABASE_URL=$PG_URL" >/dev/null
  "$FERRY" deploy --json "$SRC" >"$WORK/logs/deploy-postgres.json" 2>"$WORK/logs/deploy-postgres.log" ||
    { cat "$WORK/logs/deploy-postgres.log" >&2; exit 1; }
  if [ "$(psql -X -A -t -d "$PG_URL" -c "SELECT count(*) FROM pg_tables WHERE tablename = 'order'")" != 1 ]; then
    echo "the deploy did not move the backend to PostgreSQL (no table \"order\" in $PG_URL)" >&2; exit 1
  fi
  bench_target postgres "$PG_URL" 1
  for s in shared_buffers work_mem effective_cache_size max_connections fsync synchronous_commit; do
    PG_NOTE+="$s=$(psql -X -A -t -d "$PG_ADMIN" -c "SELECT current_setting('$s')") "
  done
fi

# --- report -----------------------------------------------------------------------------------
echo
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(free -g | awk '/^Mem:/ {print $2}') GiB; load average at the start: $LOAD_BEFORE, at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "  (anything else running on core 0 or 1 skews every row)"
echo "versions: $("$FERRY" --version); $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2); SQLite $(sqlite3 --version | cut -d' ' -f1) (CLI; ferry bundles its own via rusqlite)${PG_NOTE:+; $("$PGBIN/postgres" --version)}"
echo "pinning: ferry serve on core 0$([ -n "$PG_NOTE" ] && echo ", postgres (postmaster and backends) on core 0"); wrk and the loader on core 1;"
echo "  the floor on core 0 for SQLite (in-process engine), on core 1 for PostgreSQL (client; the server on core 0)"
echo "app: $APP (app id $APP_ID), entity Order (status enum, amount number, customer string, placed_at date-time, tags array)"
if [ "$RLS" = owner ]; then
  echo "rls: read/write {\"created_by\": \"{{user.email}}\"}; caller signed in as owner-0@example.com (bearer token from auth/register);"
  echo "  $OWNERS owner(s), batches round-robin: the reader owns $(( RECORDS / OWNERS )) of the $RECORDS records"
else
  echo "rls: read: true; anonymous caller (no token)"
fi
echo "data: $RECORDS records (seed 44, $BATCH_KB kB of JSON), status uniform over 4 values, amount uniform 0–1000, placed_at uniform over 2024–2025"
echo "request: GET $LIST_PATH"
echo "  (q=$Q, sort=$SORT, limit=$LIMIT)"
WRK_SHOWN="$(printf '%q ' "${WRK_ARGS[@]}")"; FLOOR_SHOWN="$(printf '%q ' "${FLOOR_ARGS[@]}")"
echo "wrk: taskset -c 1 wrk ${WRK_SHOWN% }$([ "$RLS" = owner ] && echo ' -H "Authorization: Bearer <token>"') -d${DURATION}s '$BASE$LIST_PATH' (after a ${WARMUP}s run, not counted)"
echo "floor: taskset -c <core> $FLOOR --db <url> ${FLOOR_SHOWN% }$([ "$RLS" = owner ] && echo ' --user owner-0@example.com') --duration $DURATION --warmup $WARMUP"
[ -n "$PG_NOTE" ] && echo "postgres settings (initdb defaults; ANALYZE \"order\" after the load): $PG_NOTE"
echo
echo "SQL (built by ferry-compat's translator; the floor runs exactly this, ferry's answer had the same 50 ids):"
cat "$SQLS"
echo
echo "plans (SQLite EXPLAIN QUERY PLAN; PostgreSQL EXPLAIN (ANALYZE, BUFFERS)):"
cat "$PLANS"
echo
helper table "$ROWS" "$RECORDS" "$CONNECTIONS"

# The import rate: `ferry db pull --from base44-export:DIR` in records/s against the same rows
# loaded with plain INSERTs through psql (floor: one row per INSERT; peer: 1,000-row INSERTs
# and COPY), in the same run. IMPORT=0 skips it; RECORDS_IMPORT sets its size.
if [ "${IMPORT:-1}" != 0 ]; then
  echo
  RECORDS="${RECORDS_IMPORT:-100000}" "$(dirname "$0")/base44-import.sh"
fi
