#!/usr/bin/env bash
# The Base44 import rate: `ferry db pull --from base44-export:DIR --to postgres://…` against
# loading the same rows into the same tables with plain SQL through psql, in the same run on
# the same machine (issue 11, "Data in"). Never in CI; run by hand as root (PostgreSQL runs as
# the postgres OS user).
#
# What it does:
# - generates an export folder (fixed seed, python3): RECORDS records (default 100,000) across
#   5 entities — Task 40 %, Comment 30 %, Tag 15 %, Invoice 10 %, Project 5 % — as JSON arrays
#   (`<entity>.json`, what `base44 data pull` writes) with a schema folder `entities/`;
# - one throwaway PostgreSQL 15 cluster (fsync and synchronous_commit at their defaults), its
#   postmaster pinned to core 0; ferry, psql and this script on core 1;
# - ferry: `ferry db pull --from base44-export:DIR --to …/ferry` — wall clock of the whole
#   command: reading the files, the migration, the load and the verification (every record
#   read back and checksummed); the load alone (the report's per-entity seconds) is shown too;
# - the same tables for the peers: `pg_dump -s` of ferry's database restored into `floor`,
#   `peer` and `copy` (same columns, checks, indexes), and the same rows as SQL files generated
#   beforehand (not timed):
#   floor = one INSERT per row, all in one transaction (`psql -f`);
#   peer  = multi-row INSERTs of 1,000 rows, in one transaction (`psql -f`);
#   copy  = `COPY … FROM STDIN` per table, in one transaction (`psql -f`);
# - checks each database holds RECORDS rows, then prints a markdown table: tool, records,
#   seconds, records/s, ratio to ferry (their time / ferry's: above 1 means ferry is faster).
#
#   bench/base44-import.sh                    # RECORDS=100000
#   RECORDS=20000 bench/base44-import.sh      # a quick run
#   FERRY_BIN=target/release/ferry bench/base44-import.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RECORDS="${RECORDS:-100000}"
for arg in "$@"; do
  case "$arg" in
    -h | --help) sed -n '2,/^set -euo pipefail/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $arg (see --help)" >&2; exit 2 ;;
  esac
done
case "$RECORDS" in '' | *[!0-9]* | 0) echo "RECORDS must be a positive integer" >&2; exit 2 ;; esac
[ "$(id -u)" = 0 ] || { echo "run as root (the cluster runs as the postgres OS user)" >&2; exit 1; }
PGBIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
[ -x "$PGBIN/initdb" ] || { echo "no initdb in /usr/lib/postgresql/*/bin: apt-get install postgresql" >&2; exit 1; }
export PATH="$PGBIN:$PATH"
command -v taskset >/dev/null || { echo "taskset missing (util-linux)" >&2; exit 1; }
[ "$(nproc)" -ge 2 ] || { echo "needs two cores to pin" >&2; exit 1; }
DB_CORE=0
CLIENT_CORE=1
taskset -cp "$CLIENT_CORE" $$ >/dev/null
PYTHON="$(command -v /usr/bin/python3 || command -v python3)"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/ferry-b44import.XXXXXX")"
chmod 755 "$WORK"
chown postgres: "$WORK"
if [ -n "${FERRY_BIN:-}" ]; then
  case "$FERRY_BIN" in /*) FERRY="$FERRY_BIN" ;; *) FERRY="$PWD/$FERRY_BIN" ;; esac
else
  echo "building ferry (cargo build --release -p ferry)…" >&2
  cargo build --release -q -p ferry
  TARGET_DIR="${CARGO_TARGET_DIR:-target}"
  case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$PWD/$TARGET_DIR" ;; esac
  FERRY="$TARGET_DIR/release/ferry"
fi
export FERRY_HOME="$WORK/ferry-home"

as_pg() { runuser -u postgres -- "$@"; }
STARTED=""
cleanup() {
  if [ -n "$STARTED" ]; then as_pg "$PGBIN/pg_ctl" -D "$STARTED" -m immediate -w stop >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
PORT="$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
as_pg "$PGBIN/initdb" -D "$WORK/pg" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync >"$WORK/initdb.log"
{
  echo "listen_addresses = '127.0.0.1'"
  echo "port = $PORT"
  echo "unix_socket_directories = '$WORK'"
  echo "shared_buffers = 256MB"
  echo "max_wal_size = 4GB"
} | as_pg tee -a "$WORK/pg/postgresql.conf" >/dev/null
taskset -c "$DB_CORE" runuser -u postgres -- "$PGBIN/pg_ctl" -D "$WORK/pg" -l "$WORK/pg.log" -w -t 120 start >/dev/null
STARTED="$WORK/pg"
url() { echo "postgres://postgres@127.0.0.1:$PORT/$1"; }
q() { psql -X -A -t -q -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }
for db in ferry floor peer copy; do q "$(url postgres)" "CREATE DATABASE $db"; done

# --- the export and the peers' SQL (not timed) -------------------------------------------------
echo "generating $RECORDS records…" >&2
"$PYTHON" - "$WORK" "$RECORDS" <<'PY'
import json, os, random, sys, datetime
work, total = sys.argv[1], int(sys.argv[2])
rnd = random.Random(44)
exp = os.path.join(work, "export"); os.makedirs(os.path.join(exp, "entities"))
schemas = {
  "Task": {"title": "string", "done": "boolean", "priority": "integer", "estimate": "number", "due": "date", "tags": "array", "meta": "object"},
  "Comment": {"task_id": "string", "body": "string", "likes": "integer"},
  "Tag": {"label": "string", "weight": "number", "color": "string"},
  "Invoice": {"amount": "number", "issued": "date", "paid_at": "date-time", "lines": "array", "customer": "object"},
  "Project": {"name": "string", "budget": "number", "active": "boolean"},
}
shares = {"Task": 0.40, "Comment": 0.30, "Tag": 0.15, "Invoice": 0.10, "Project": 0.05}
def prop(t):
  return {"type": "string", "format": t} if t in ("date", "date-time") else {"type": t}
counts = {k: int(total * v) for k, v in shares.items()}
counts["Task"] += total - sum(counts.values())
base = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
def iso(i): return (base + datetime.timedelta(seconds=i * 7)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
def value(t, i):
  if t == "string": return "text %d %s" % (i, rnd.choice(["alpha", "beta", "gamma ✓", "δέλτα"]))
  if t == "boolean": return rnd.random() < 0.5
  if t == "integer": return rnd.randrange(0, 1000)
  if t == "number": return round(rnd.random() * 1000, 2)
  if t == "date": return "2024-%02d-%02d" % (rnd.randrange(1, 13), rnd.randrange(1, 29))
  if t == "date-time": return iso(i + 1000)
  if t == "array": return ["t%d" % rnd.randrange(20) for _ in range(rnd.randrange(0, 4))]
  if t == "object": return {"n": i, "k": rnd.choice(["x", "y"])}
data = {}
for name, fields in schemas.items():
  with open(os.path.join(exp, "entities", name + ".jsonc"), "w") as f:
    json.dump({"name": name, "type": "object", "properties": {k: prop(t) for k, t in fields.items()}}, f)
  recs = []
  for i in range(counts[name]):
    r = {"id": "%08x%016x" % (list(schemas).index(name) + 1, i), "created_date": iso(i), "updated_date": iso(i), "created_by": "user%d@example.com" % (i % 50)}
    for k, t in fields.items(): r[k] = value(t, i)
    recs.append(r)
  data[name] = recs
  with open(os.path.join(exp, name.lower() + ".json"), "w") as f: json.dump(recs, f)
def lit(v, t):
  if v is None: return "NULL"
  if t in ("array", "object"): s = json.dumps(v, ensure_ascii=False); return "'" + s.replace("'", "''") + "'::jsonb"
  if t == "boolean": return "true" if v else "false"
  if t in ("integer", "number"): return repr(v)
  return "'" + str(v).replace("'", "''") + "'"
cols = lambda fields: ["id", "created_date", "updated_date", "created_by", "created_by_id"] + list(fields) + ["extra"]
def row(r, fields):
  vals = [lit(r["id"], "s"), lit(r["created_date"], "s"), lit(r["updated_date"], "s"), lit(r["created_by"], "s"), "NULL"]
  vals += [lit(r[k], t) for k, t in fields.items()]
  vals.append("'{}'::jsonb")
  return "(" + ", ".join(vals) + ")"
def table(name): return '"%s"' % name.lower()
with open(os.path.join(work, "floor.sql"), "w") as f:
  f.write("BEGIN;\n")
  for name, fields in schemas.items():
    head = "INSERT INTO %s (%s) VALUES " % (table(name), ", ".join('"%s"' % c for c in cols(fields)))
    for r in data[name]: f.write(head + row(r, fields) + ";\n")
  f.write("COMMIT;\n")
with open(os.path.join(work, "peer.sql"), "w") as f:
  f.write("BEGIN;\n")
  for name, fields in schemas.items():
    head = "INSERT INTO %s (%s) VALUES\n" % (table(name), ", ".join('"%s"' % c for c in cols(fields)))
    recs = data[name]
    for s in range(0, len(recs), 1000):
      f.write(head + ",\n".join(row(r, fields) for r in recs[s:s + 1000]) + ";\n")
  f.write("COMMIT;\n")
def copyval(v, t):
  if v is None: return "\\N"
  if t in ("array", "object"): s = json.dumps(v, ensure_ascii=False)
  elif t == "boolean": s = "t" if v else "f"
  else: s = str(v)
  return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
with open(os.path.join(work, "copy.sql"), "w") as f:
  f.write("BEGIN;\n")
  for name, fields in schemas.items():
    f.write("COPY %s (%s) FROM STDIN;\n" % (table(name), ", ".join('"%s"' % c for c in cols(fields))))
    for r in data[name]:
      vals = [r["id"], r["created_date"], r["updated_date"], r["created_by"], None]
      f.write("\t".join([copyval(v, "s") for v in vals] + [copyval(r[k], t) for k, t in fields.items()] + ["{}"]) + "\n")
    f.write("\\.\n")
  f.write("COMMIT;\n")
PY

now() { date +%s.%N; }
calc() { "$PYTHON" -c "print($1)"; }

# --- ferry ---------------------------------------------------------------------------------------
echo "ferry db pull…" >&2
t0="$(now)"
"$FERRY" db pull --json --from "base44-export:$WORK/export" --to "$(url ferry)" >"$WORK/ferry.json" 2>"$WORK/ferry.err" \
  || { cat "$WORK/ferry.err" >&2; tail -1 "$WORK/ferry.json" >&2; exit 1; }
FERRY_SECS="$(calc "$(now) - $t0")"
LOAD_SECS="$(tail -1 "$WORK/ferry.json" | "$PYTHON" -c 'import json,sys; r=json.load(sys.stdin)["report"]; assert r["ok"], r; print(sum(e["seconds"] for e in r["entities"]))')"

# --- the peers, into the same table layout ---------------------------------------------------------
pg_dump -s -d "$(url ferry)" >"$WORK/schema.sql"
declare -A SECS
for peer in floor peer copy; do
  psql -X -q -v ON_ERROR_STOP=1 -d "$(url "$peer")" -f "$WORK/schema.sql" >/dev/null
  echo "psql -f $peer.sql…" >&2
  t0="$(now)"
  psql -X -q -v ON_ERROR_STOP=1 -d "$(url "$peer")" -f "$WORK/$peer.sql" >/dev/null
  SECS[$peer]="$(calc "$(now) - $t0")"
done
for db in ferry floor peer copy; do
  n="$(q "$(url "$db")" "SELECT (SELECT count(*) FROM task) + (SELECT count(*) FROM comment) + (SELECT count(*) FROM tag) + (SELECT count(*) FROM invoice) + (SELECT count(*) FROM project)")"
  [ "$n" = "$RECORDS" ] || { echo "$db holds $n records, not $RECORDS" >&2; exit 1; }
done

row() { printf '| %s | %s | %.2f | %s | %s |\n' "$1" "$RECORDS" "$2" "$(calc "round($RECORDS / $2)")" "$(calc "round($2 / $FERRY_SECS, 2)")"; }
echo
echo "| tool | records | seconds | records/s | ratio to ferry |"
echo "|---|---|---|---|---|"
row "ferry db pull (files → migrate → load → verify)" "$FERRY_SECS"
row "ferry, load only (report's per-entity seconds)" "$LOAD_SECS"
row "floor: one INSERT per row, one transaction (psql -f)" "${SECS[floor]}"
row "peer: INSERTs of 1,000 rows, one transaction (psql -f)" "${SECS[peer]}"
row "COPY FROM STDIN per table, one transaction (psql -f)" "${SECS[copy]}"
