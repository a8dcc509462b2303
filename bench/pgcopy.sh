#!/usr/bin/env bash
# Times `ferry db pull` copying a Supabase-like database (schema + data: 7 tables — auth.users,
# and profiles, projects, todos, comments, events, attachments in public — about 3.7 million
# rows, about 1.2 GB on disk, with identity and serial sequences, an enum, text[], jsonb, bytea,
# a table without a primary key, unique constraints, 9 foreign keys, 19 indexes including a
# GIN) from one PostgreSQL 15 cluster to another, against `pg_dump -Fd -j2` then
# `pg_restore -j2`, `pgcopydb clone` and `pgloader`, on the same two clusters in the same run.
# An untimed warm-up copy runs first (a new cluster makes its WAL segments on first write), then
# the runs interleave across tools (run 1 of each, then run 2…).
# Every tool copies into a fresh empty database (CREATE DATABASE) on the target cluster, with two
# jobs; times are wall clock, printed as ratios to ferry's (> 1.0 means ferry is faster).
# Each target is then checked against the source: exact count(*) of every table, every
# column's type, NOT NULL, default and identity and the CHECK constraints, the number
# of indexes in every schema (pg_indexes), the foreign keys (pg_constraint contype 'f',
# compared by table and definition) and every sequence's last_value (pg_sequences: the next
# insert must not collide). `ferry db verify` is timed against ferry's target, then
# run once more after one row of that target was changed (it must answer 1).
# Goal: ferry faster than all three; verify faster than the copy itself.
#
# Both clusters are throwaway (initdb in a temp dir, run as the postgres OS user when root,
# TCP on free 127.0.0.1 ports, trust auth) with the same settings, printed with the table;
# fsync and synchronous_commit keep their defaults. Nothing is pinned: the two servers and
# the client of each tool share the machine's cores. The source is vacuumed (FREEZE, ANALYZE)
# and both clusters checkpointed before each run, so no tool pays for hint bits or for an
# earlier tool's dirty buffers. Installs postgresql-15, pgcopydb and pgloader from Debian's
# packages if missing (run as root). A tool that fails (or a ferry without `db pull` yet)
# gets a failure row; the script goes on.
#
#   bench/pgcopy.sh                      # SCALE=1 (≈3.7 M rows, ≈1.2 GB), RUNS=1
#   SCALE=0.05 bench/pgcopy.sh           # a quick run on 5 % of the rows
#   RUNS=3 bench/pgcopy.sh               # the median of 3 runs per tool
#   FERRY_BIN=/path/to/ferry bench/pgcopy.sh   # that binary instead of cargo build --release
#   bench/pgcopy.sh --peers-only         # pg_dump/pg_restore, pgcopydb and pgloader only
#   TOOL_TIMEOUT=1800                    # seconds before one tool's run is killed (a failure row)
#   KEEP_LOGS=/tmp/pgcopy-logs           # keep every tool's log there (the work dir is removed)
set -euo pipefail
cd "$(dirname "$0")/.."
SCALE="${SCALE:-1}"
RUNS="${RUNS:-1}"
TOOL_TIMEOUT="${TOOL_TIMEOUT:-1800}"
JOBS=2
PEERS_ONLY=0
for arg in "$@"; do
  case "$arg" in
    --peers-only) PEERS_ONLY=1 ;;
    -h | --help) sed -n '2,/^set -euo pipefail/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $arg (see --help)" >&2; exit 2 ;;
  esac
done
case "$RUNS" in '' | *[!0-9]* | 0) echo "RUNS must be a positive integer, not '$RUNS'" >&2; exit 2 ;; esac
PGBIN=/usr/lib/postgresql/15/bin
export PATH="$PGBIN:$PATH"   # pg_dump, pg_restore, psql of 15 first: pgcopydb runs the ones on PATH
SQL_DIR="$PWD/bench/pgcopy"
IS_ROOT=0; [ "$(id -u)" = 0 ] && IS_ROOT=1

# --- tools ------------------------------------------------------------------------------------
need() { command -v "$1" >/dev/null 2>&1; }
missing=()
[ -x "$PGBIN/initdb" ] || missing+=(postgresql-15)
need pgcopydb || missing+=(pgcopydb)
need pgloader || missing+=(pgloader)
need runuser || missing+=(util-linux)
need python3 || missing+=(python3)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$IS_ROOT" != 1 ]; then
    echo "missing ${missing[*]}: run as root to install them (Debian packages)" >&2
    exit 1
  fi
  echo "installing ${missing[*]} (Debian packages)…" >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# --- ferry: built here unless FERRY_BIN is given; a failed build is a failure row ---------------
WORK="$(mktemp -d "${TMPDIR:-/tmp}/ferry-pgcopy.XXXXXX")"
chmod 755 "$WORK"
mkdir -p "$WORK/logs"
FERRY=""; FERRY_FAIL=""; VERIFY_FAIL=""
if [ "$PEERS_ONLY" = 1 ]; then
  FERRY_FAIL="skipped (--peers-only)"
elif [ -n "${FERRY_BIN:-}" ]; then
  case "$FERRY_BIN" in
    /*) FERRY="$FERRY_BIN" ;;
    */*) FERRY="$OLDPWD/$FERRY_BIN" ;;   # relative to where the script was started
    *) FERRY="$(command -v "$FERRY_BIN" || echo "$FERRY_BIN")" ;;
  esac
elif cargo build --release -q -p ferry 2>"$WORK/logs/cargo-build.log"; then
  TARGET_DIR="${CARGO_TARGET_DIR:-target}"
  case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$PWD/$TARGET_DIR" ;; esac
  FERRY="$TARGET_DIR/release/ferry"
else
  FERRY_FAIL="cargo build --release -p ferry failed: $(grep -m1 '^error' "$WORK/logs/cargo-build.log" || echo see log)"
  tail -30 "$WORK/logs/cargo-build.log" >&2
fi
if [ -n "$FERRY" ]; then
  if [ ! -x "$FERRY" ]; then
    FERRY_FAIL="no ferry binary at $FERRY"; FERRY=""
  elif ! "$FERRY" db pull --help >/dev/null 2>&1; then
    FERRY_FAIL="ferry binary has no db pull yet"
  fi
  if [ -n "$FERRY" ] && ! "$FERRY" db verify --help >/dev/null 2>&1; then
    VERIFY_FAIL="ferry binary has no db verify yet"
  fi
fi
[ -n "$FERRY_FAIL" ] && VERIFY_FAIL="${VERIFY_FAIL:-no ferry target to verify ($FERRY_FAIL)}"
export FERRY_HOME="$WORK/ferry-home"

# --- two throwaway clusters: source and target ------------------------------------------------
as_pg() { if [ "$IS_ROOT" = 1 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$IS_ROOT" = 1 ] && chown postgres: "$WORK"
STARTED=()
cleanup() {
  if [ -n "${KEEP_LOGS:-}" ]; then { mkdir -p "$KEEP_LOGS" && cp -R "$WORK/logs/." "$KEEP_LOGS/"; } || true; fi
  for dir in "${STARTED[@]}"; do as_pg "$PGBIN/pg_ctl" -D "$dir" -m immediate -w stop >/dev/null 2>&1 || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM   # so that EXIT runs cleanup on ^C or kill too
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
SETTINGS=(
  "shared_buffers = 512MB"
  "maintenance_work_mem = 256MB"
  "max_wal_size = 4GB"
  "wal_level = logical"
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
  as_pg "$PGBIN/pg_ctl" -D "$dir" -l "$WORK/$1.log" -w -t 120 start >/dev/null
  STARTED+=("$dir")
}
SRC_PORT="$(free_port)"; start_cluster source "$SRC_PORT"
DST_PORT="$(free_port)"; start_cluster target "$DST_PORT"
SRC_ADMIN="postgres://postgres@127.0.0.1:$SRC_PORT/postgres"
DST_ADMIN="postgres://postgres@127.0.0.1:$DST_PORT/postgres"
SRC="postgres://postgres@127.0.0.1:$SRC_PORT/app"
dst_url() { echo "postgres://postgres@127.0.0.1:$DST_PORT/$1"; }
q() { psql -X -A -t -q -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }
drop_db() { psql -X -q -v ON_ERROR_STOP=1 -d "$DST_ADMIN" -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $1"; }
now() { date +%s.%N; }
secs() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$1" "$2"; }

# --- the source dataset -----------------------------------------------------------------------
echo "generating the source dataset (SCALE=$SCALE)…" >&2
q "$SRC_ADMIN" "CREATE DATABASE app"
T0="$(now)"
psql -X -q -v ON_ERROR_STOP=1 -v scale="$SCALE" -d "$SRC" \
  -f "$SQL_DIR/schema.sql" -f "$SQL_DIR/data.sql" >"$WORK/logs/generate.log"
T1="$(now)"
psql -X -q -v ON_ERROR_STOP=1 -d "$SRC" -f "$SQL_DIR/constraints.sql" >>"$WORK/logs/generate.log"
T2="$(now)"
q "$SRC" "VACUUM (FREEZE, ANALYZE)"
q "$SRC" "CHECKPOINT"
T3="$(now)"
GEN_NOTE="generation: load $(secs "$T0" "$T1") s, keys + indexes $(secs "$T1" "$T2") s, VACUUM (FREEZE, ANALYZE) + CHECKPOINT $(secs "$T2" "$T3") s"
echo "$GEN_NOTE" >&2

mapfile -t TABLES < <(q "$SRC" "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables
                                 WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1")
# row_counts URL → "table count" per source table ("table missing" when it can't be counted)
row_counts() {
  local t n
  for t in "${TABLES[@]}"; do
    n="$(q "$1" "SELECT count(*) FROM $t" 2>/dev/null)" || n=missing
    echo "$t $n"
  done
}
index_counts() { q "$1" "SELECT schemaname || ' ' || count(*) FROM pg_indexes GROUP BY schemaname ORDER BY schemaname"; }
fk_defs() {
  q "$1" "SELECT conrelid::regclass || ' ' || pg_get_constraintdef(oid) FROM pg_constraint
          WHERE contype = 'f' ORDER BY 1"
}
# sequences: every sequence's last_value (serial, identity), as a copy must leave them for inserts
seq_values() { q "$1" "SELECT format('%I.%I %s', schemaname, sequencename, last_value) FROM pg_sequences ORDER BY 1"; }
SRC_ROWS="$(row_counts "$SRC")"
SRC_SEQS="$(seq_values "$SRC")"
SRC_INDEXES="$(index_counts "$SRC")"
# columns: type, NOT NULL, default and identity of every column, and the CHECK constraints
col_defs() {
  q "$1" "SELECT format('%I.%I.%I %s', n.nspname, c.relname, a.attname, concat_ws(' ', format_type(a.atttypid, a.atttypmod),
                  CASE WHEN a.attnotnull THEN 'not null' END, 'default ' || pg_get_expr(d.adbin, d.adrelid),
                  CASE a.attidentity WHEN 'a' THEN 'identity always' WHEN 'd' THEN 'identity by default' END))
          FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
          LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
          WHERE c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
            AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
          UNION ALL
          SELECT format('%I.%I.check %s', n.nspname, c.relname, pg_get_constraintdef(k.oid))
          FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE k.contype = 'c' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
          ORDER BY 1"
}
SRC_COLS="$(col_defs "$SRC")"
SRC_FKS="$(fk_defs "$SRC")"
SRC_FK_N="$(grep -c . <<<"$SRC_FKS" || true)"
TOTAL_ROWS="$(awk '{s += $2} END {print s}' <<<"$SRC_ROWS")"
user_indexes() { grep -Ev '^(pg_catalog|information_schema) ' <<<"$1" | paste -sd, - | sed 's/,/, /g'; }

# check URL → "rows<TAB>columns<TAB>indexes<TAB>fks<TAB>sequences" cells with ✓/✗
check_target() {
  local rows cols idx fks seqs bad ok=0 n=0 nbad=0 t want got first
  rows="$(row_counts "$1")"
  bad=""
  while read -r t want; do
    n=$((n + 1))
    got="$(awk -v t="$t" '$1 == t {print $2}' <<<"$rows")"
    if [ "$got" = "$want" ]; then
      ok=$((ok + 1))
    else
      nbad=$((nbad + 1))
      if [ "$nbad" -le 2 ]; then bad+=" $t ${got:-missing}≠$want"; elif [ "$nbad" = 3 ]; then bad+=" …"; fi
    fi
  done <<<"$SRC_ROWS"
  if [ -z "$bad" ]; then rows="✓ $n/$n tables"; else rows="✗ $ok/$n tables:$bad"; fi
  cols="$(col_defs "$1" 2>/dev/null || true)"
  if [ "$cols" = "$SRC_COLS" ]; then
    cols="✓ $(grep -vc '\.check ' <<<"$cols") columns, $(grep -c '\.check ' <<<"$cols" || true) CHECK"
  else
    # source lines the target lacks: how many, and the first one beside the target's line for it
    bad="$(comm -23 <(echo "$SRC_COLS") <(echo "$cols"))"
    first="$(head -1 <<<"$bad")"
    got="$(awk -v k="${first%% *}" '$1 == k {sub(/^[^ ]+ /, ""); print; exit}' <<<"$cols")"
    cols="✗ $(grep -c . <<<"$bad") of $(grep -c . <<<"$SRC_COLS") differ, e.g. ${first%% *}: ${got:-missing} ≠ ${first#* }"
  fi
  idx="$(index_counts "$1" 2>/dev/null || true)"
  if [ "$idx" = "$SRC_INDEXES" ]; then
    idx="✓ $(user_indexes "$idx")"
  else
    idx="✗ $(user_indexes "$idx") (source: $(user_indexes "$SRC_INDEXES"))"
  fi
  fks="$(fk_defs "$1" 2>/dev/null || true)"
  n="$(grep -c . <<<"$fks" || true)"
  if [ "$fks" = "$SRC_FKS" ]; then
    fks="✓ $n"
  elif [ "$n" = "$SRC_FK_N" ]; then
    fks="✗ $n, definitions differ"
  else
    fks="✗ $n/$SRC_FK_N"
  fi
  seqs="$(seq_values "$1" 2>/dev/null || true)"
  n="$(grep -c . <<<"$seqs" || true)"
  if [ "$seqs" = "$SRC_SEQS" ]; then
    seqs="✓ $n"
  else
    # each source sequence whose target differs: "name target≠source"
    seqs="✗ $(awk 'NR == FNR {got[$1] = $2; next}
                   {v = ($1 in got) ? got[$1] : "missing"}
                   v != $2 {printf "%s%s %s≠%s", sep, $1, v, $2; sep = ", "}' \
                <(echo "$seqs") <(echo "$SRC_SEQS"))"
  fi
  printf '%s\t%s\t%s\t%s\t%s' "$rows" "$cols" "$idx" "$fks" "$seqs"
}

# --- the tools --------------------------------------------------------------------------------
DUMP_DIR="$WORK/dump"
PGCOPYDB_DIR="$WORK/pgcopydb"
PGLOADER_DIR="$WORK/pgloader"
mkdir -p "$PGLOADER_DIR"
ferry_cmd() { echo "$FERRY db pull --from $SRC --to $1 --jobs $JOBS"; }
dump_cmd() { echo "pg_dump -Fd -j$JOBS -f $DUMP_DIR $SRC"; }
restore_cmd() { echo "pg_restore -j$JOBS -d $1 $DUMP_DIR"; }
pgcopydb_cmd() { echo "pgcopydb clone --source $SRC --target $1 --table-jobs $JOBS --index-jobs $JOBS --dir $PGCOPYDB_DIR"; }
pgloader_load() {   # DST → the command file's text
  cat <<EOF
LOAD DATABASE
  FROM ${SRC/#postgres:/pgsql:}
  INTO ${1/#postgres:/pgsql:}
  WITH workers = $JOBS, concurrency = 1, prefetch rows = 10000,
       create tables, create indexes, foreign keys, reset sequences
;
EOF
}
pgloader_cmd() { echo "pgloader --root-dir $PGLOADER_DIR $PGLOADER_DIR/clone.load"; }

# limit LOGFILE CMD... : the command under TOOL_TIMEOUT, its output appended to LOGFILE
limit() {
  local log="$1"; shift
  echo "\$ $*" >>"$log"
  timeout -k 30 "$TOOL_TIMEOUT" "$@" </dev/null >>"$log" 2>&1
}
# failure LOGFILE RC → one line saying why (the tool's own last error line)
failure() {
  local line
  if [ "$2" = 124 ] || [ "$2" = 137 ]; then echo "killed after TOOL_TIMEOUT=${TOOL_TIMEOUT}s"; return; fi
  line="$(grep -E 'ERROR|FATAL|[Ee]rror:|panicked|Heap exhausted' "$1" | tail -1 || true)"
  [ -n "$line" ] || line="$(grep -v '^\$ ' "$1" | grep . | tail -1 || true)"
  echo "exit $2: $(cut -c1-160 <<<"$line" | tr '|\t' '/ ')"
}

# run_tool NAME DB: one run of tool NAME into the (empty) database DB; sets RUN_SECS, RUN_DETAIL,
# RUN_FAIL
run_tool() {
  local name="$1" db="$2" dst log t0 t1 t2 rc=0
  dst="$(dst_url "$db")"; log="$WORK/logs/$name.log"
  RUN_SECS=""; RUN_DETAIL=""; RUN_FAIL=""
  case "$name" in
    ferry)
      t0="$(now)"
      # shellcheck disable=SC2046 # the printed command, word-split as printed
      limit "$log" $(ferry_cmd "$dst") || rc=$?
      t1="$(now)"
      [ "$rc" = 0 ] && RUN_SECS="$(secs "$t0" "$t1")" ;;
    pg_dump)
      rm -rf "$DUMP_DIR"
      t0="$(now)"
      # shellcheck disable=SC2046
      limit "$log" $(dump_cmd) || rc=$?
      t1="$(now)"
      if [ "$rc" = 0 ]; then
        # shellcheck disable=SC2046
        limit "$log" $(restore_cmd "$dst") || rc=$?
      fi
      t2="$(now)"
      if [ "$rc" = 0 ]; then
        RUN_SECS="$(secs "$t0" "$t2")"
        RUN_DETAIL="pg_dump $(secs "$t0" "$t1") s + pg_restore $(secs "$t1" "$t2") s; dump dir $(du -sh "$DUMP_DIR" | cut -f1)"
      fi
      rm -rf "$DUMP_DIR" ;;
    pgcopydb)
      rm -rf "$PGCOPYDB_DIR"
      t0="$(now)"
      # shellcheck disable=SC2046
      limit "$log" $(pgcopydb_cmd "$dst") || rc=$?
      t1="$(now)"
      [ "$rc" = 0 ] && RUN_SECS="$(secs "$t0" "$t1")"
      rm -rf "$PGCOPYDB_DIR" ;;
    pgloader)
      pgloader_load "$dst" >"$PGLOADER_DIR/clone.load"
      t0="$(now)"
      # shellcheck disable=SC2046
      limit "$log" $(pgloader_cmd) || rc=$?
      t1="$(now)"
      # pgloader can exit 0 without finishing (SIGTERM, say): its summary's last line is the sign
      if [ "$rc" = 0 ] && ! grep -q 'Total import time' "$log"; then
        RUN_FAIL="failed: exit 0 without its summary: $(failure "$log" 0 | sed 's/^exit 0: //')"
      elif [ "$rc" = 0 ]; then
        RUN_SECS="$(secs "$t0" "$t1")"
        # pgloader exits 0 after errors it logged and skipped: say so next to the time
        if grep -qE ' (ERROR|FATAL) ' "$log"; then RUN_DETAIL="logged errors: $(failure "$log" 0 | sed 's/^exit 0: //')"; fi
      fi ;;
  esac
  [ "$rc" = 0 ] || RUN_FAIL="failed: $(failure "$log" "$rc")"
  return 0
}

ROWS="$WORK/rows.tsv"; : >"$ROWS"
VERIFY_LINE=""; VERIFY_NEG=""
# One run of tool NAME into a fresh database; on the last run, its target is checked (and, for
# ferry, verified) before it is dropped. Results accumulate in TIMES/FAILS/DETAILS/CHECKS.
declare -A TIMES=() FAILS=() DETAILS=() CHECKS=() LABELS=()
TOOLS=(ferry pg_dump pgcopydb pgloader)
bench_run() {
  local name="$1" r="$2" db="t_$1"
  local label="${LABELS[$name]}"
  if [ "$name" = ferry ] && [ -n "$FERRY_FAIL" ]; then FAILS[$name]="$FERRY_FAIL"; return; fi
  [ -z "${FAILS[$name]:-}" ] || return 0
  drop_db "$db"
  q "$DST_ADMIN" "CREATE DATABASE $db"
  q "$SRC_ADMIN" "CHECKPOINT"; q "$DST_ADMIN" "CHECKPOINT"
  echo "  $label: run $r/$RUNS…" >&2
  run_tool "$name" "$db"
  if [ -n "$RUN_FAIL" ]; then
    FAILS[$name]="$RUN_FAIL"
    [ "$name" != ferry ] || VERIFY_FAIL="${VERIFY_FAIL:-no ferry target to verify (db pull failed)}"
  else
    TIMES[$name]+="$RUN_SECS "; DETAILS[$name]="$RUN_DETAIL"
    echo "  $label: $RUN_SECS s${RUN_DETAIL:+ ($RUN_DETAIL)}" >&2
    if [ "$r" = "$RUNS" ]; then
      CHECKS[$name]="$(check_target "$(dst_url "$db")")"
      echo "  $label checks: $(tr '\t' ' ' <<<"${CHECKS[$name]}")" >&2
      if [ "$name" = ferry ] && [ -z "$VERIFY_FAIL" ]; then verify "$db"; fi
    fi
  fi
  drop_db "$db"
}
# The first tool to write on a new cluster pays for creating its WAL segments and for a cold page
# cache: one untimed pull into a scratch database first, then the runs interleaved across tools
# (run 1 of every tool, then run 2…), so no tool is favoured by its place in the order.
warm_up() {
  echo "  warm-up (untimed): one copy into a scratch database…" >&2
  drop_db t_warmup; q "$DST_ADMIN" "CREATE DATABASE t_warmup"
  if [ -n "$FERRY" ]; then
    limit "$WORK/logs/warmup.log" "$FERRY" db pull --from "$SRC" --to "$(dst_url t_warmup)" --jobs "$JOBS" || true
  else
    rm -rf "$DUMP_DIR"
    limit "$WORK/logs/warmup.log" pg_dump -Fd -j"$JOBS" -f "$DUMP_DIR" "$SRC" || true
    limit "$WORK/logs/warmup.log" pg_restore -j"$JOBS" -d "$(dst_url t_warmup)" "$DUMP_DIR" || true
    rm -rf "$DUMP_DIR"
  fi
  drop_db t_warmup
}
# verify DB: time `ferry db verify` against ferry's own target, then again after changing a row
verify() {
  local dst t0 t1 rc=0 log="$WORK/logs/verify.log"
  dst="$(dst_url "$1")"
  q "$SRC_ADMIN" "CHECKPOINT"; q "$DST_ADMIN" "CHECKPOINT"
  echo "  ferry db verify…" >&2
  t0="$(now)"
  limit "$log" "$FERRY" db verify --from "$SRC" --to "$dst" || rc=$?
  t1="$(now)"
  if [ "$rc" = 0 ]; then
    VERIFY_LINE="$(secs "$t0" "$t1")"
  else
    VERIFY_FAIL="$(failure "$log" "$rc") (expected exit 0: ferry's copy should equal the source)"
    return
  fi
  if ! q "$dst" "UPDATE public.comments SET body = body || '!' WHERE id = (SELECT max(id) FROM public.comments)"; then
    VERIFY_NEG="✗ could not change a row of public.comments in the target"; return
  fi
  rc=0; limit "$WORK/logs/verify-changed.log" "$FERRY" db verify --from "$SRC" --to "$dst" || rc=$?
  if [ "$rc" = 1 ]; then VERIFY_NEG="✓ exit 1"; else VERIFY_NEG="✗ exit $rc, expected 1"; fi
}

# --- configuration, then the runs -------------------------------------------------------------
pg_setting() { q "$1" "SELECT current_setting('$2')"; }
echo
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(free -g | awk '/^Mem:/ {print $2}') GiB; load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "versions: $(postgres --version) (both clusters); $(pg_dump --version); $(pg_restore --version);"
# sed -n 1p, not head: pgloader (SBCL) dies loudly when its stdout closes early
echo "  $(pgcopydb --version 2>/dev/null | sed -n 1p) (Debian $(dpkg-query -W -f '${Version}' pgcopydb 2>/dev/null || echo '?'));" \
     "$(pgloader --version 2>/dev/null | sed -n 1p) (Debian $(dpkg-query -W -f '${Version}' pgloader 2>/dev/null || echo '?'))"
if [ -n "$FERRY" ]; then echo "  $("$FERRY" --version) at $FERRY"; else echo "  ferry: $FERRY_FAIL"; fi
echo "clusters: source 127.0.0.1:$SRC_PORT, target 127.0.0.1:$DST_PORT, same settings:"
for s in shared_buffers maintenance_work_mem max_wal_size wal_level fsync synchronous_commit full_page_writes \
         checkpoint_timeout max_parallel_maintenance_workers work_mem; do
  printf '  %s = %s (target: %s)\n' "$s" "$(pg_setting "$SRC" "$s")" "$(pg_setting "$DST_ADMIN" "$s")"
done
echo "no taskset: both servers and each tool's processes share the same $(nproc) cores and disk (no isolation)"
echo "dataset (SCALE=$SCALE): $TOTAL_ROWS rows in ${#TABLES[@]} tables, $(q "$SRC" "SELECT pg_size_pretty(pg_database_size('app'))") (pg_database_size), $SRC_FK_N foreign keys, indexes $(user_indexes "$SRC_INDEXES")"
while read -r t n; do
  printf '  %-20s %9s rows %10s with its indexes\n' "$t" "$n" \
    "$(q "$SRC" "SELECT pg_size_pretty(pg_total_relation_size('$t'))")"
done <<<"$SRC_ROWS"
echo "$GEN_NOTE"
echo "commands (each into a fresh empty database, CREATE DATABASE just before; $JOBS jobs each; RUNS=$RUNS):"
echo "  ferry:    $(if [ -n "$FERRY" ]; then ferry_cmd "$(dst_url t_ferry)"; else echo "—"; fi)"
echo "  pg_dump:  $(dump_cmd)"
echo "            then $(restore_cmd "$(dst_url t_pg_dump)")"
echo "  pgcopydb: $(pgcopydb_cmd "$(dst_url t_pgcopydb)")"
echo "            (its time includes the VACUUM ANALYZE it runs on every copied table: 0.10 has no switch to skip it)"
echo "  pgloader: $(pgloader_cmd), the command file below"
echo "            (prefetch rows = 10000, not the default 100000: with the default, Debian's pgloader, whose"
echo "            SBCL heap is 1 GB, died of heap exhaustion or hung in some runs at SCALE=1):"
pgloader_load "$(dst_url t_pgloader)" | sed 's/^/            /'
echo
echo "running (one untimed warm-up copy; then runs interleaved across tools; checkpoint of both clusters before each run)…" >&2
echo "order: warm-up, then for each run: ${TOOLS[*]}"
LABELS=([ferry]="ferry db pull --jobs $JOBS" [pg_dump]="pg_dump -Fd -j$JOBS + pg_restore -j$JOBS"
        [pgcopydb]="pgcopydb clone (table/index jobs $JOBS)" [pgloader]="pgloader (workers $JOBS, concurrency 1)")
warm_up
for r in $(seq "$RUNS"); do
  for name in "${TOOLS[@]}"; do bench_run "$name" "$r"; done
done
for name in "${TOOLS[@]}"; do
  checks="${CHECKS[$name]:-$(printf '—\t—\t—\t—\t—')}"
  printf '%s\t%s\t%s\t%s\t%s\n' "${LABELS[$name]}" "${TIMES[$name]:-}" "${FAILS[$name]:-}" "${DETAILS[$name]:-}" "$checks" >>"$ROWS"
done

python3 - "$ROWS" "$VERIFY_LINE" "$VERIFY_FAIL" "$VERIFY_NEG" <<'PY'
import statistics, sys
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1])]
verify, verify_fail, verify_neg = sys.argv[2:5]
def median(times):
    return statistics.median(float(t) for t in times.split()) if times.strip() else None
ferry = rows[0]
ferry_s = median(ferry[1]) if not ferry[2] else None
ferry_ok = ferry_s is not None and all(c.startswith("✓") for c in ferry[4:9])
print("| tool | seconds | tool / ferry | rows | columns | indexes | FKs | sequences |")
print("|:---|---:|---:|:---|:---|:---|:---|:---|")
notes, beaten = [], []
for i, (label, times, fail, detail, *checks) in enumerate(rows):
    s = median(times)
    if fail:
        secs, ratio = fail, "—"
    else:
        secs = f"{s:.2f}"
        if len(times.split()) > 1:
            secs += f" (median of {', '.join(times.split())})"
        ratio = f"{s / ferry_s:.2f}×" if ferry_s else "—"
    if i > 0:
        beaten.append(bool(fail) or (ferry_s is not None and s is not None and s > ferry_s)
                      or not all(c.startswith("✓") for c in checks))
    print(f"| {label} | {secs} | {ratio} | {' | '.join(checks)} |")
    if detail:
        notes.append(f"{label}: {detail}")
for n in notes:
    print(n)
print()
if verify:
    print(f"verify: {float(verify):.2f} s (copy {ferry_s:.2f} s); after changing one comment in the target: {verify_neg}")
else:
    print(f"verify: {verify_fail or 'not run'}")
print("goal (ferry correct on every check and faster than all three):", "MET" if ferry_ok and all(beaten) else "NOT MET",
      "(a peer that failed, or whose target failed a check, counts as slower)")
print("goal (verify faster than the copy):",
      "MET" if verify and ferry_s and float(verify) < ferry_s and verify_neg.startswith("✓") else "NOT MET")
PY

for name in ferry pg_dump pgcopydb pgloader verify; do
  log="$WORK/logs/$name.log"
  if [ -s "$log" ] && grep -qE 'ERROR|FATAL|[Ee]rror:|panicked|Heap exhausted' "$log"; then
    echo
    echo "$name: error lines of its log (last 15):"
    grep -E 'ERROR|FATAL|[Ee]rror:|panicked|Heap exhausted' "$log" | tail -15 | cut -c1-300 | sed 's/^/  /'
  fi
done
