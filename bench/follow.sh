#!/usr/bin/env bash
# Measures `ferry db follow` (logical replication applied by ferry) against PostgreSQL's native
# logical replication (`CREATE SUBSCRIPTION`) in the same run, under a pgbench write load.
#
# Three throwaway clusters on loopback: the source (wal_level=logical), target A (ferry) and
# target B (native). The source gets `pgbench -i -s $SCALE` (pgbench_history gets a bigserial
# primary key: ferry applies changes by key, and native replication of its inserts needs none
# but the same table is compared) and a one-row heartbeat table, bench_beat.
# 1. `ferry db pull --follow` copies the source into A and keeps following; B gets the schema
#    (pg_dump -s) and a subscription to ferry's own publication (copy_data = true), so both
#    apply exactly the same changes.
# 2. Live phase: `pgbench -c$CLIENTS -j2 -N -T$DURATION` on the source while both follow. Twice
#    a second the sampler bumps the heartbeat and reads each slot's lag in bytes
#    (pg_current_wal_lsn() − confirmed_flush_lsn) and the heartbeat each target has; the lag in
#    seconds is the age of the oldest heartbeat a target does not have yet. After the load, the
#    time until each target has the last heartbeat.
# 3. Backlog phase (the apply rate): ferry stopped (SIGTERM) and the subscription disabled, the
#    same load runs for $DURATION s, then each follower drains the backlog alone — ferry first
#    (`ferry db follow --until-caught-up`), then native (ALTER SUBSCRIPTION … ENABLE) — and is
#    timed until its target has the last heartbeat. Apply rate = the row changes the load made
#    (the source's n_tup_ins + n_tup_upd + n_tup_del of the pgbench tables) / drain time.
# Goal: ferry's apply rate ≥ 1.0× native's.
#
# Pinning (taskset): the three postmasters — so every backend, the native apply workers and
# the target backends ferry's statements run in — on core 0; pgbench, ferry and the sampler on
# core 1. fsync and synchronous_commit keep their defaults on every cluster.
# Run by hand, as root (the clusters run as the postgres OS user); not in CI.
#
#   bench/follow.sh                         # SCALE=10, DURATION=30, CLIENTS=4
#   SCALE=2 DURATION=10 bench/follow.sh     # a quick run
#   FERRY_BIN=target/release/ferry bench/follow.sh   # that binary instead of cargo build --release
#   KEEP_LOGS=/tmp/follow-logs              # keep every log there (the work dir is removed)
#   PERF=1                                  # perf record both cores while ferry drains; print where the time went
set -euo pipefail
cd "$(dirname "$0")/.."
SCALE="${SCALE:-10}"
DURATION="${DURATION:-30}"
CLIENTS="${CLIENTS:-4}"
for arg in "$@"; do
  case "$arg" in
    -h | --help) sed -n '2,/^set -euo pipefail/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $arg (see --help)" >&2; exit 2 ;;
  esac
done
for v in SCALE DURATION CLIENTS; do
  case "${!v}" in '' | *[!0-9]* | 0) echo "$v must be a positive integer, not '${!v}'" >&2; exit 2 ;; esac
done
[ "$(id -u)" = 0 ] || { echo "run as root (the clusters run as the postgres OS user)" >&2; exit 1; }
PGBIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
[ -x "$PGBIN/initdb" ] && [ -x "$PGBIN/pgbench" ] || { echo "no initdb/pgbench in /usr/lib/postgresql/*/bin: apt-get install postgresql" >&2; exit 1; }
export PATH="$PGBIN:$PATH"
command -v taskset >/dev/null || { echo "taskset missing (util-linux)" >&2; exit 1; }
CORES="$(nproc)"
[ "$CORES" -ge 2 ] || { echo "needs two cores to pin (has $CORES)" >&2; exit 1; }
DB_CORE=0
CLIENT_CORE=1
taskset -cp "$CLIENT_CORE" $$ >/dev/null   # this script and all it runs (psql, pgbench, ferry): core 1

WORK="$(mktemp -d "${TMPDIR:-/tmp}/ferry-follow.XXXXXX")"
chmod 755 "$WORK"
mkdir -p "$WORK/logs"
if [ -n "${FERRY_BIN:-}" ]; then
  case "$FERRY_BIN" in /*) FERRY="$FERRY_BIN" ;; *) FERRY="$PWD/$FERRY_BIN" ;; esac
else
  echo "building ferry (cargo build --release -p ferry)…" >&2
  cargo build --release -q -p ferry
  TARGET_DIR="${CARGO_TARGET_DIR:-target}"
  case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$PWD/$TARGET_DIR" ;; esac
  FERRY="$TARGET_DIR/release/ferry"
fi
"$FERRY" db follow --help >/dev/null 2>&1 || { echo "$FERRY has no \`db follow\`" >&2; exit 1; }
export FERRY_HOME="$WORK/ferry-home"

# --- three throwaway clusters, their postmasters pinned to $DB_CORE ------------------------------
as_pg() { runuser -u postgres -- "$@"; }
chown postgres: "$WORK" "$WORK/logs"
STARTED=()
FERRY_PID=""
cleanup() {
  if [ -n "$FERRY_PID" ]; then kill -s TERM "$FERRY_PID" 2>/dev/null || true; wait "$FERRY_PID" 2>/dev/null || true; fi
  if [ -n "${KEEP_LOGS:-}" ]; then { mkdir -p "$KEEP_LOGS" && cp -R "$WORK/logs/." "$KEEP_LOGS/"; } || true; fi
  for dir in "${STARTED[@]}"; do as_pg "$PGBIN/pg_ctl" -D "$dir" -m immediate -w stop >/dev/null 2>&1 || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
SETTINGS=(
  "shared_buffers = 256MB"
  "max_wal_size = 4GB"
  "wal_level = logical"
  "max_replication_slots = 10"
  "max_wal_senders = 10"
)
start_cluster() {   # NAME PORT
  local dir="$WORK/$1"
  as_pg "$PGBIN/initdb" -D "$dir" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync >"$WORK/logs/initdb-$1.log"
  {
    echo "listen_addresses = '127.0.0.1'"
    echo "port = $2"
    echo "unix_socket_directories = '$WORK'"
    printf '%s\n' "${SETTINGS[@]}"
  } | as_pg tee -a "$dir/postgresql.conf" >/dev/null
  taskset -c "$DB_CORE" runuser -u postgres -- "$PGBIN/pg_ctl" -D "$dir" -l "$WORK/logs/$1.log" -w -t 120 start >/dev/null
  STARTED+=("$dir")
}
SRC_PORT="$(free_port)"; start_cluster source "$SRC_PORT"
A_PORT="$(free_port)"; start_cluster ferry "$A_PORT"
B_PORT="$(free_port)"; start_cluster native "$B_PORT"
SRC="postgres://postgres@127.0.0.1:$SRC_PORT/app"
DST_A="postgres://postgres@127.0.0.1:$A_PORT/app"
DST_B="postgres://postgres@127.0.0.1:$B_PORT/app"
q() { psql -X -A -t -q -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }
for port in "$SRC_PORT" "$A_PORT" "$B_PORT"; do q "postgres://postgres@127.0.0.1:$port/postgres" "CREATE DATABASE app"; done
now() { date +%s.%N; }
# The interpreter itself, not a version manager's shell shim: `calc` runs many times a second.
PYTHON="$(command -v /usr/bin/python3 || command -v python3)"
calc() { "$PYTHON" -c "print($1)"; }

# --- the source: pgbench tables (history with a key) and the heartbeat -----------------------
echo "pgbench -i -s $SCALE…" >&2
pgbench -i -q -s "$SCALE" "$SRC" >"$WORK/logs/pgbench-init.log" 2>&1
q "$SRC" "ALTER TABLE pgbench_history ADD COLUMN hid bigserial PRIMARY KEY;
          CREATE TABLE bench_beat (id int PRIMARY KEY, n bigint NOT NULL, at timestamptz NOT NULL);
          INSERT INTO bench_beat VALUES (1, 0, clock_timestamp())"
q "$SRC" "VACUUM ANALYZE"
BEAT=0
declare -A BEAT_AT
# The heartbeat's number comes from the row itself, so beats made in the sampler's subshell
# and here never reuse a number.
beat() { BEAT="$(q "$SRC" "UPDATE bench_beat SET n = n + 1, at = clock_timestamp() RETURNING n")"; BEAT_AT[$BEAT]="$(now)"; }
has_beat() { q "$1" "SELECT n FROM bench_beat" 2>/dev/null || echo 0; }
changes() { q "$SRC" "SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_user_tables WHERE relname LIKE 'pgbench%'"; }
wait_beat() {   # URL N TIMEOUT → seconds waited (or "timeout"); one psql per 0.1 s, no python
  local t0 ns0; t0="$(now)"; ns0="$(date +%s%N)"
  while :; do
    [ "$(has_beat "$1")" -ge "$2" ] && { calc "$(now) - $t0"; return; }
    if (( ($(date +%s%N) - ns0) / 1000000000 > $3 )); then echo timeout; return; fi
    sleep 0.1
  done
}
wait_beat_both() {   # N TIMEOUT → "secondsA secondsB" (each "timeout" when it did not arrive)
  local t0 t a="" b=""; t0="$(now)"
  while [ -z "$a" ] || [ -z "$b" ]; do
    t="$(now)"
    [ -z "$a" ] && [ "$(has_beat "$DST_A")" -ge "$1" ] && a="$(calc "round($t - $t0, 2)")"
    [ -z "$b" ] && [ "$(has_beat "$DST_B")" -ge "$1" ] && b="$(calc "round($t - $t0, 2)")"
    if [ "$(calc "int($t - $t0 > $2)")" = 1 ]; then a="${a:-timeout}"; b="${b:-timeout}"; fi
    sleep 0.1
  done
  echo "$a $b"
}

# --- 1. ferry: pull + follow; native: schema + subscription to ferry's publication ----------
echo "ferry db pull --follow → A…" >&2
"$FERRY" --json db pull --follow --from "$SRC" --to "$DST_A" >"$WORK/logs/ferry-pull-follow.jsonl" 2>"$WORK/logs/ferry-pull-follow.err" &
FERRY_PID=$!
T0="$(now)"
until grep -q '"event":"lag"' "$WORK/logs/ferry-pull-follow.jsonl" 2>/dev/null; do
  kill -0 "$FERRY_PID" 2>/dev/null || { echo "ferry exited:" >&2; tail -5 "$WORK/logs/ferry-pull-follow.err" "$WORK/logs/ferry-pull-follow.jsonl" >&2; exit 1; }
  [ "$(calc "int($(now) - $T0 > 600)")" = 1 ] && { echo "ferry did not start following in 600 s" >&2; exit 1; }
  sleep 0.5
done
PULL_SECS="$(calc "round($(now) - $T0, 1)")"
PUB="$(q "$SRC" "SELECT pubname FROM pg_publication WHERE pubname LIKE 'ferry%' LIMIT 1")"
FERRY_SLOT="$(q "$SRC" "SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE 'ferry%' LIMIT 1")"
[ -n "$PUB" ] && [ -n "$FERRY_SLOT" ] || { echo "no ferry publication/slot on the source" >&2; exit 1; }
echo "native: schema + CREATE SUBSCRIPTION bench_native (publication $PUB) → B…" >&2
pg_dump -s -d "$SRC" | psql -X -q -v ON_ERROR_STOP=1 -d "$DST_B" >"$WORK/logs/schema-b.log" 2>&1
q "$DST_B" "CREATE SUBSCRIPTION bench_native CONNECTION 'host=127.0.0.1 port=$SRC_PORT dbname=app user=postgres'
            PUBLICATION $PUB WITH (copy_data = true)"
T0="$(now)"
until [ "$(q "$DST_B" "SELECT count(*) FROM pg_subscription_rel WHERE srsubstate <> 'r'")" = 0 ]; do
  [ "$(calc "int($(now) - $T0 > 600)")" = 1 ] && { echo "native initial copy did not finish in 600 s" >&2; exit 1; }
  sleep 0.5
done
SYNC_SECS="$(calc "round($(now) - $T0, 1)")"
beat
for url in "$DST_A" "$DST_B"; do
  [ "$(wait_beat "$url" "$BEAT" 120)" != timeout ] || { echo "a follower did not catch up before the load" >&2; exit 1; }
done

# --- 2. live phase: the load while both follow -------------------------------------------------
sample_lags() {   # → lines "t bytesA bytesB secsA secsB" every 0.5 s until $1 exists
  local t na nb la lb sa sb line
  while [ ! -e "$1" ]; do
    beat
    t="$(now)"
    line="$(q "$SRC" "SELECT coalesce(max(pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)) FILTER (WHERE slot_name = '$FERRY_SLOT'), -1)::bigint,
                             coalesce(max(pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)) FILTER (WHERE slot_name = 'bench_native'), -1)::bigint
                      FROM pg_replication_slots")"
    la="${line%%|*}"; lb="${line##*|}"
    na="$(has_beat "$DST_A")"; nb="$(has_beat "$DST_B")"
    sa=0; sb=0
    [ "$na" -lt "$BEAT" ] && sa="$(calc "round($t - ${BEAT_AT[$((na + 1))]}, 2)")"
    [ "$nb" -lt "$BEAT" ] && sb="$(calc "round($t - ${BEAT_AT[$((nb + 1))]}, 2)")"
    echo "$t $la $lb $sa $sb"
    sleep 0.5
  done
}
echo "live phase: pgbench -c$CLIENTS -N -T$DURATION while both follow…" >&2
C0="$(changes)"
rm -f "$WORK/stop-sampler"
sample_lags "$WORK/stop-sampler" >"$WORK/logs/live-lags.txt" &
SAMPLER=$!
pgbench -n -N -c "$CLIENTS" -j 2 -T "$DURATION" "$SRC" >"$WORK/logs/pgbench-live.log" 2>&1
touch "$WORK/stop-sampler"; wait "$SAMPLER"
LIVE_TPS="$(grep -oE 'tps = [0-9]+' "$WORK/logs/pgbench-live.log" | head -1 | cut -d' ' -f3)"
beat
read -r LIVE_A LIVE_B < <(wait_beat_both "$BEAT" 600)
LIVE_CHANGES=$(( $(changes) - C0 ))
stats() {   # COLUMN → "avg / p95 / max" of live-lags.txt's column
  python3 - "$WORK/logs/live-lags.txt" "$1" "$2" <<'EOF'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
vals = sorted(float(r[int(sys.argv[2])]) for r in rows if float(r[int(sys.argv[2])]) >= 0)
if not vals:
    print("—"); sys.exit()
unit = sys.argv[3]
def fmt(v):
    if unit == "bytes":
        for u in ["B", "kB", "MB", "GB"]:
            if v < 1000 or u == "GB":
                return f"{v:.0f} {u}" if u == "B" else f"{v:.1f} {u}"
            v /= 1000
    return f"{v:.2f} s"
p95 = vals[min(len(vals) - 1, int(0.95 * len(vals)))]
print(f"{fmt(sum(vals) / len(vals))} / {fmt(p95)} / {fmt(vals[-1])}")
EOF
}
LAG_BYTES_A="$(stats 1 bytes)"; LAG_BYTES_B="$(stats 2 bytes)"
LAG_SECS_A="$(stats 3 secs)"; LAG_SECS_B="$(stats 4 secs)"

# --- 3. backlog phase: both paused during the load, then each drains alone ---------------------
echo "backlog phase: ferry stopped, subscription disabled, pgbench -T$DURATION…" >&2
kill -s TERM "$FERRY_PID"; wait "$FERRY_PID" || true; FERRY_PID=""
q "$DST_B" "ALTER SUBSCRIPTION bench_native DISABLE"
sleep 1
C0="$(changes)"
pgbench -n -N -c "$CLIENTS" -j 2 -T "$DURATION" "$SRC" >"$WORK/logs/pgbench-backlog.log" 2>&1
BACKLOG_TPS="$(grep -oE 'tps = [0-9]+' "$WORK/logs/pgbench-backlog.log" | head -1 | cut -d' ' -f3)"
beat
sleep 1   # the stats of pgbench's backends reach pg_stat_user_tables
BACKLOG_CHANGES=$(( $(changes) - C0 ))
echo "draining with ferry db follow --until-caught-up…" >&2
T0="$(now)"
"$FERRY" --json db follow --until-caught-up --from "$SRC" --to "$DST_A" >"$WORK/logs/ferry-drain.jsonl" 2>"$WORK/logs/ferry-drain.err" &
FERRY_PID=$!
PERF_PID=""
if [ "${PERF:-0}" = 1 ] && command -v perf >/dev/null; then
  # Both cores during ferry's drain: the source's WAL decoding and the target's apply (core 0),
  # ferry itself (core 1).
  perf record -q -a -g -o "$WORK/logs/drain.perf" >/dev/null 2>&1 &
  PERF_PID=$!
fi
DRAIN_A="$(wait_beat "$DST_A" "$BEAT" 1800)"
if [ -n "$PERF_PID" ]; then
  kill -s INT "$PERF_PID" 2>/dev/null || true
  wait "$PERF_PID" 2>/dev/null || true
  perf report -q -i "$WORK/logs/drain.perf" --no-children -g none --sort comm >"$WORK/logs/perf-comm.txt" 2>/dev/null || true
  perf report -q -i "$WORK/logs/drain.perf" --no-children -g none --sort comm,dso,symbol >"$WORK/logs/perf-sym.txt" 2>/dev/null || true
  echo "--- where the drain's time went (perf, both cores; by process) ---"
  sed -n '1,10p' "$WORK/logs/perf-comm.txt"
  echo "--- by symbol (top 30) ---"
  sed -n '1,30p' "$WORK/logs/perf-sym.txt"
fi
[ "$DRAIN_A" = timeout ] || DRAIN_A="$(calc "round($DRAIN_A, 2)")"
wait "$FERRY_PID" || echo "ferry db follow --until-caught-up exited $? (see logs)" >&2
FERRY_PID=""
echo "draining with the native subscription…" >&2
q "$DST_B" "ALTER SUBSCRIPTION bench_native ENABLE"
DRAIN_B="$(wait_beat "$DST_B" "$BEAT" 1800)"
[ "$DRAIN_B" = timeout ] || DRAIN_B="$(calc "round($DRAIN_B, 2)")"
[ "$DRAIN_A" != timeout ] && [ "$DRAIN_B" != timeout ] || { echo "a drain timed out (A: $DRAIN_A, B: $DRAIN_B)" >&2; exit 1; }
RATE_A="$(calc "round($BACKLOG_CHANGES / $DRAIN_A)")"
RATE_B="$(calc "round($BACKLOG_CHANGES / $DRAIN_B)")"
RATIO="$(calc "round($RATE_A / $RATE_B, 2)")"
# Both targets equal to the source (row counts of every table).
counts() { q "$1" "SELECT string_agg(c, ' ' ORDER BY c) FROM (
                     SELECT 'accounts=' || count(*) c FROM pgbench_accounts UNION ALL
                     SELECT 'history=' || count(*) FROM pgbench_history UNION ALL
                     SELECT 'sum(abalance)=' || sum(abalance) FROM pgbench_accounts) x"; }
SRC_COUNTS="$(counts "$SRC")"
CHECK_A="$([ "$(counts "$DST_A")" = "$SRC_COUNTS" ] && echo "✓ equal" || echo "✗ $(counts "$DST_A")")"
CHECK_B="$([ "$(counts "$DST_B")" = "$SRC_COUNTS" ] && echo "✓ equal" || echo "✗ $(counts "$DST_B")")"

# --- the table ---------------------------------------------------------------------------------
PGVER="$(q "$SRC" "SHOW server_version")"
CPU="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
row() { printf '%-38s %-26s %-26s %s\n' "$@"; }
echo
echo "ferry db follow vs native logical replication — PostgreSQL $PGVER, pgbench -s $SCALE, -c$CLIENTS -N, ${DURATION} s per phase"
echo "machine: $CPU, $CORES cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo); $(uname -r)"
echo "pinning: postmasters (all backends, native apply workers) on core $DB_CORE; pgbench, ferry, sampler on core $CLIENT_CORE"
echo "clusters: ${SETTINGS[*]}; fsync and synchronous_commit default"
echo "initial copy: ferry db pull --follow ${PULL_SECS} s; native copy_data ${SYNC_SECS} s"
echo
row "" "ferry (target A)" "native (target B)" "ferry/native"
row "live: load (pgbench tps, changes)" "pgbench $LIVE_TPS tps, $LIVE_CHANGES changes" "(same load)" ""
row "live: lag bytes avg / p95 / max" "$LAG_BYTES_A" "$LAG_BYTES_B" ""
row "live: lag seconds avg / p95 / max" "$LAG_SECS_A" "$LAG_SECS_B" ""
row "live: caught up after the load" "${LIVE_A} s" "${LIVE_B} s" ""
row "backlog: changes to apply" "$BACKLOG_CHANGES (pgbench $BACKLOG_TPS tps)" "$BACKLOG_CHANGES" ""
row "backlog: drain time" "${DRAIN_A} s" "${DRAIN_B} s" ""
row "apply rate (row changes/s)" "$RATE_A" "$RATE_B" "${RATIO}×"
row "targets vs source (counts, balance sum)" "$CHECK_A" "$CHECK_B" ""
