#!/usr/bin/env bash
# ferry's edge (`ferry serve`) against nginx serving the same static single-page app on
# loopback: requests/s and p99 latency of wrk for four rows — (a) the ~1 KB HTML page `/`,
# (b) the 200 KB JS bundle uncompressed (Accept-Encoding: identity), (c) the same bundle with
# Accept-Encoding: br (both servers send precompressed bytes when they can: nginx reads the
# .br sibling via brotli_static, ferry its release's variant), (d) an SPA fallback route.
# Also the idle RSS of each server. Each server runs alone on core 0, wrk on core 1
# (`wrk -t1 -c32 -d10s --latency`, after a 2 s warm-up), one server loaded at a time.
# nginx runs the committed production-style bench/nginx.conf (rendered config printed at
# the end; access_log off, like ferry, which logs nothing per request). Before each row,
# curl checks that both servers answer 200 with the expected bytes. Goal: ferry ≥ 1.0×
# nginx on every row. Installs nginx, its brotli static module, wrk, brotli and curl from
# Debian's packages if missing (run as root).
#
#   bench/static.sh                       # DURATION=10s CONNECTIONS=32 JS_BYTES=200000
#   DURATION=30s CONNECTIONS=64 bench/static.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-32}"
JS_BYTES="${JS_BYTES:-200000}"
BROTLI_MODULE=/usr/lib/nginx/modules/ngx_http_brotli_static_module.so

# --- tools ------------------------------------------------------------------------------------
need() { command -v "$1" >/dev/null 2>&1; }
missing=()
need nginx || missing+=(nginx)
need wrk || missing+=(wrk)
need brotli || missing+=(brotli)
need curl || missing+=(curl)
need envsubst || missing+=(gettext-base)
if [ ! -e "$BROTLI_MODULE" ]; then
  missing+=(libnginx-mod-http-brotli-static)
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing ${missing[*]} (Debian packages)…" >&2
  apt-get update -qq >/dev/null
  for pkg in "${missing[@]}"; do
    if [ "$pkg" = libnginx-mod-http-brotli-static ] &&
       ! apt-cache policy "$pkg" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
      echo "note: $pkg has no install candidate here; nginx serves the br row with gzip_static only" >&2
      continue
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null
  done
fi
HAVE_BROTLI=0; [ -e "$BROTLI_MODULE" ] && HAVE_BROTLI=1

cargo build --release -q -p ferry
FERRY="$PWD/target/release/ferry"

WORK="$(mktemp -d)"
chmod 755 "$WORK"   # nginx's worker (www-data) reads the site from here
export FERRY_HOME="$WORK/home"
FERRY_PID=""; NGINX_PID=""
cleanup() {
  "$FERRY" down >/dev/null 2>&1 || true
  for pid in $FERRY_PID $NGINX_PID; do kill "$pid" 2>/dev/null || true; done
  for pid in $FERRY_PID $NGINX_PID; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- the site: one copy for ferry's build, one with .gz/.br siblings for nginx -----------------
SITE="$WORK/site"
JS="$(python3 bench/static_site.py "$SITE" "$JS_BYTES")"
CSS="$(cd "$SITE" && ls assets/*.css)"
NGINX_ROOT="$WORK/nginx-root"
cp -R "$SITE" "$NGINX_ROOT"
for f in "$NGINX_ROOT/index.html" "$NGINX_ROOT/$JS" "$NGINX_ROOT/$CSS"; do
  gzip -k -9 "$f"
  brotli -k -q 11 "$f"
done

# --- nginx: render bench/nginx.conf, run it in the foreground on core 0 -------------------------
NGINX_PORT="$(free_port)"
NGINX_CONF="$WORK/nginx.conf"
mkdir -p "$WORK/nginx-tmp"
NGINX_USER=www-data; id www-data >/dev/null 2>&1 || NGINX_USER=root
NGINX_ROOT="$NGINX_ROOT" NGINX_PORT="$NGINX_PORT" NGINX_PID="$WORK/nginx.pid" \
NGINX_TMP="$WORK/nginx-tmp" NGINX_USER="$NGINX_USER" \
  envsubst '${NGINX_ROOT} ${NGINX_PORT} ${NGINX_PID} ${NGINX_TMP} ${NGINX_USER}' \
  < bench/nginx.conf > "$NGINX_CONF"
if [ "$HAVE_BROTLI" = 0 ]; then
  sed -i -E 's/^(\s*)(load_module .*brotli.*|brotli_static on;)/\1# brotli static module not installed: \2/' "$NGINX_CONF"
fi
nginx -t -q -e "$WORK/nginx-tmp/error.log" -c "$NGINX_CONF"
taskset -c 0 nginx -e "$WORK/nginx-tmp/error.log" -c "$NGINX_CONF" -g 'daemon off;' &
NGINX_PID=$!

# --- ferry: serve on core 0, deploy the same files as a static SPA unit ------------------------
FERRY_PORT="$(free_port)"; CONTROL_PORT="$(free_port)"
taskset -c 0 "$FERRY" serve --listen "127.0.0.1:$FERRY_PORT" --control-listen "127.0.0.1:$CONTROL_PORT" \
  2>"$WORK/ferry-server.log" &
FERRY_PID=$!
for _ in $(seq 100); do [ -S "$FERRY_HOME/ferry.sock" ] && break; sleep 0.05; done
APP="$WORK/app"
mkdir -p "$APP"
cp -R "$SITE" "$APP/site"
cat > "$APP/ferry.toml" <<'TOML'
version = 1
name = "site"
[[unit]]
name = "web"
path = "."
kind = "static"
install = ""
build = "sh build.sh"
output = "dist"
spa = true
TOML
printf 'set -e\nrm -rf dist\ncp -R site dist\n' > "$APP/build.sh"
RELEASE="$("$FERRY" deploy --json "$APP" | python3 -c 'import json,sys;print(json.load(sys.stdin)["release_id"])')"
HOST=site.localhost
for _ in $(seq 100); do
  curl -fso /dev/null "http://127.0.0.1:$NGINX_PORT/" && break; sleep 0.05
done

echo "machine: $(nproc) cores; ferry $("$FERRY" --version | cut -d' ' -f2) (release $RELEASE); $(nginx -v 2>&1 | sed 's/.*: //'); $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
echo "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg) (anything else running on core 0 or 1 skews both servers)"
echo "ferry pid $FERRY_PID on 127.0.0.1:$FERRY_PORT, nginx pid $NGINX_PID on 127.0.0.1:$NGINX_PORT, both on core 0; wrk on core 1"
if [ "$HAVE_BROTLI" = 1 ]; then
  echo "nginx brotli: libnginx-mod-http-brotli-static installed, brotli_static on"
else
  echo "nginx brotli: module NOT available; brotli lines commented out, gzip_static only"
fi
echo "site: index.html $(wc -c < "$SITE/index.html") B, $JS $(wc -c < "$SITE/$JS") B (.br $(wc -c < "$NGINX_ROOT/$JS.br") B, .gz $(wc -c < "$NGINX_ROOT/$JS.gz") B), $CSS, favicon.ico"

# --- idle RSS, before any load (ferry has served its deploy probe, nothing else) ----------------
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
FERRY_RSS="$(rss "$FERRY_PID")"
NGINX_RSS="$(rss "$NGINX_PID")"
NGINX_WORKERS="$(pgrep -P "$NGINX_PID" || true)"
for w in $NGINX_WORKERS; do NGINX_RSS=$((NGINX_RSS + $(rss "$w"))); done

# --- checks: both servers answer 200 with the expected bytes ------------------------------------
# check NAME PORT PATH ACCEPT_ENCODING EXPECTED_FILE → prints the content-encoding it got
check() {
  local name="$1" port="$2" path="$3" ae="$4" expected="$5" out="$WORK/check" code enc
  local args=(-s -o "$out.body" -D "$out.head" -w '%{http_code}' -H "Host: $HOST")
  [ -n "$ae" ] && args+=(-H "Accept-Encoding: $ae")
  code="$(curl "${args[@]}" "http://127.0.0.1:$port$path")"
  enc="$(tr -d '\r' < "$out.head" | awk -F': ' 'tolower($1)=="content-encoding" {print $2}')"
  case "$enc" in
    br) brotli -d -c "$out.body" > "$out.plain" ;;
    gzip) gzip -d -c "$out.body" > "$out.plain" ;;
    "") cp "$out.body" "$out.plain" ;;
    *) echo "check failed: $name $path answered unknown content-encoding $enc" >&2; exit 1 ;;
  esac
  if [ "$code" != 200 ] || ! cmp -s "$out.plain" "$expected"; then
    echo "check failed: $name $path (Accept-Encoding: ${ae:-none}) answered $code, body $(wc -c < "$out.body") B" >&2
    tr -d '\r' < "$out.head" >&2
    exit 1
  fi
  local cc; cc="$(tr -d '\r' < "$out.head" | awk -F': ' 'tolower($1)=="cache-control" {print $2}')"
  echo "  check $name $path (Accept-Encoding: ${ae:-none}): 200, ${enc:-identity}, $(wc -c < "$out.body") B, cache-control: ${cc:-none}" >&2
  echo "${enc:-identity}"
}

# run_wrk PORT PATH ACCEPT_ENCODING → "req/s p99_ms non2xx errors"
run_wrk() {
  local port="$1" path="$2" ae="$3" out="$WORK/wrk.out"
  local args=(-t1 "-c$CONNECTIONS" --latency -H "Host: $HOST")
  [ -n "$ae" ] && args+=(-H "Accept-Encoding: $ae")
  taskset -c 1 wrk "${args[@]}" -d2s "http://127.0.0.1:$port$path" >/dev/null
  taskset -c 1 wrk "${args[@]}" "-d$DURATION" "http://127.0.0.1:$port$path" > "$out"
  python3 - "$out" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
v, unit = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", text, re.M).groups()
p99 = float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
errors = re.search(r"Socket errors:.*", text)
print(f"{rps:.0f} {p99:.3f} {non2xx.group(1) if non2xx else 0} {'yes' if errors else 'no'}")
PY
}

echo
echo "checks and load (each row: ferry then nginx, ${DURATION} after a 2 s warm-up, -c$CONNECTIONS):"
ROWS="$WORK/rows.tsv"; : > "$ROWS"
row() {
  local label="$1" path="$2" ae="$3" expected="$4" fenc nenc note=""
  fenc="$(check ferry "$FERRY_PORT" "$path" "$ae" "$expected")"
  nenc="$(check nginx "$NGINX_PORT" "$path" "$ae" "$expected")"
  if [ "$ae" = br ]; then
    [ "$fenc" != br ] && note+=" (identity: ferry does not negotiate br yet)"
    [ "$nenc" != br ] && note+=" (nginx answered $nenc: brotli module unavailable, gzip_static only)"
  fi
  local f n
  f="$(run_wrk "$FERRY_PORT" "$path" "$ae")"
  n="$(run_wrk "$NGINX_PORT" "$path" "$ae")"
  printf '%s\t%s\t%s\n' "$label$note" "$f" "$n" >> "$ROWS"
  echo "  $label: ferry $(cut -d' ' -f1 <<<"$f") req/s, nginx $(cut -d' ' -f1 <<<"$n") req/s" >&2
}
row "(a) HTML page / ($(wc -c < "$SITE/index.html") B)" / "" "$SITE/index.html"
row "(b) JS asset, Accept-Encoding: identity ($(wc -c < "$SITE/$JS") B)" "/$JS" identity "$SITE/$JS"
row "(c) JS asset, Accept-Encoding: br (.br $(wc -c < "$NGINX_ROOT/$JS.br") B)" "/$JS" br "$SITE/$JS"
row "(d) SPA fallback /dashboard/settings" /dashboard/settings "" "$SITE/index.html"

echo
python3 - "$ROWS" "$FERRY_RSS" "$NGINX_RSS" "$(wc -w <<<"$NGINX_WORKERS")" <<'PY'
import sys
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1])]
ferry_rss, nginx_rss, workers = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
print("| row | ferry req/s | nginx req/s | ferry/nginx | ferry p99 | nginx p99 |")
print("|:---|---:|---:|---:|---:|---:|")
met, trouble = True, []
for label, f, n in rows:
    frps, fp99, fbad, ferr = f.split()
    nrps, np99, nbad, nerr = n.split()
    ratio = float(frps) / float(nrps)
    met &= ratio >= 1.0
    for who, bad, err in (("ferry", fbad, ferr), ("nginx", nbad, nerr)):
        if bad != "0" or err != "no":
            trouble.append(f"{who} on {label}: {bad} non-2xx, socket errors: {err}")
    print(f"| {label} | {float(frps):,.0f} | {float(nrps):,.0f} | {ratio:.2f}× | {float(fp99):.2f} ms | {float(np99):.2f} ms |")
print(f"| idle RSS (one app deployed / master + {workers} worker) | {ferry_rss:,} kB | {nginx_rss:,} kB | {ferry_rss / nginx_rss:.2f}× | | |")
for t in trouble:
    print("warning:", t)
print("\nferry ≥ 1.0× nginx on every row:", "MET" if met and not trouble else "NOT MET")
PY

echo
echo "nginx config used (rendered bench/nginx.conf; access_log off):"
echo '```nginx'
cat "$NGINX_CONF"
echo '```'
