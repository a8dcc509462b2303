#!/usr/bin/env bash
# Runs the @base44/sdk acceptance suite against the development server
# (`cargo run -p ferry-compat --example base44_serve`), on SQLite or on a throwaway
# PostgreSQL cluster, with the env contract the suite expects (README.md).
#
#   tests/base44-sdk/dev/run.sh sqlite|postgres [--verify-email on|off] [--keep] [FILE.test.mjs…]
#
# Builds the example, installs the suite's packages (npm ci) when node_modules is missing,
# starts the server on a free port (and PostgreSQL as the `postgres` user, trust auth, on a
# free loopback port), runs `node --test`, then stops everything it started. --keep leaves the
# temporary folder (database, outbox, server log) for a look.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
suite="$(dirname "$here")"
root="$(cd "$suite/../.." && pwd)"

target="${1:-}"
case "$target" in
  sqlite | postgres) shift ;;
  *)
    echo "usage: $0 sqlite|postgres [--verify-email on|off] [--keep] [FILE.test.mjs…]" >&2
    exit 2
    ;;
esac
verify=on
keep=0
files=()
while [ $# -gt 0 ]; do
  case "$1" in
    --verify-email) verify="$2"; shift 2 ;;
    --keep) keep=1; shift ;;
    *) files+=("$1"); shift ;;
  esac
done

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

(cd "$root" && cargo build -q -p ferry-compat --example base44_serve)
bin="${CARGO_TARGET_DIR:-$root/target}/debug/examples/base44_serve"
[ -d "$suite/node_modules" ] || (cd "$suite" && npm ci --no-audit --no-fund)

tmp="$(mktemp -d /tmp/ferry-base44-sdk.XXXXXX)"
server_pid=""
pg_data=""
pg_ctl=""
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [ -n "$pg_data" ]; then
    runuser -u postgres -- "$pg_ctl" -D "$pg_data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  if [ "$keep" = 1 ]; then
    echo "kept $tmp" >&2
  else
    rm -rf "$tmp"
  fi
}
trap cleanup EXIT

if [ "$target" = postgres ]; then
  pg_bin="${FERRY_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)}"
  pg_ctl="$pg_bin/pg_ctl"
  pg_data="$tmp/pg"
  port="$(free_port)"
  mkdir -p "$pg_data"
  chown -R postgres: "$tmp"
  runuser -u postgres -- "$pg_bin/initdb" -D "$pg_data" -U postgres --auth=trust -E UTF8 >/dev/null
  runuser -u postgres -- "$pg_ctl" -D "$pg_data" -w -l "$tmp/pg.log" \
    -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$tmp -c fsync=off" \
    start >/dev/null
  db="postgres://postgres@127.0.0.1:$port/postgres"
else
  db="sqlite://$tmp/app.db"
fi

app_id="$(node -e '
  const t = require("fs").readFileSync(process.argv[1], "utf8");
  console.log(t.match(/"id"\s*:\s*"([0-9a-f]{24})"/)[1]);
' "$suite/app/base44/.app.jsonc")"

"$bin" --entities "$suite/app/base44/entities" --db "$db" --listen 127.0.0.1:0 \
  --app-id "$app_id" --outbox "$tmp/outbox.jsonl" --verify-email "$verify" \
  >"$tmp/server.out" 2>"$tmp/server.log" &
server_pid=$!
for _ in $(seq 1 100); do
  grep -q '^listening on ' "$tmp/server.out" 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$tmp/server.log" >&2; exit 1; }
  sleep 0.1
done
url="$(sed -n 's/^listening on //p' "$tmp/server.out")"
[ -n "$url" ] || { echo "the server did not start" >&2; cat "$tmp/server.log" >&2; exit 1; }

export FERRY_URL="$url"
export BASE44_APP_ID="$app_id"
export OUTBOX_CMD="node '$here/outbox.mjs' '$tmp/outbox.jsonl'"
export ADMIN_CMD="'$bin' admin --db '$db'"
echo "suite: $target at $FERRY_URL (verify-email $verify)" >&2

cd "$suite"
if [ ${#files[@]} -eq 0 ]; then
  files=(*.test.mjs)
fi
status=0
node --test "${files[@]}" || status=$?
exit "$status"
