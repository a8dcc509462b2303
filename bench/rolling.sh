#!/usr/bin/env bash
# Rolling deploys of a server unit under load, then ferry's edge proxy against nginx proxying
# to the same backend. Loopback only, never in CI; run by hand (as root: it installs what is
# missing from Debian's packages).
#
# The app (generated in a temp folder): a Node `http` server, no npm packages (`node
# server.js`, ferry.toml `kind = "server"`, `install = ""`, `build = ""`, `health =
# "/healthz"`), answering `GET /` with its version (`rolling vN`) and `GET /events` with an SSE
# stream, one event every 100 ms, forever. Each deploy writes a new version.txt, so each
# deploy is a new release.
#
# ferry serve runs under `taskset -c 0` with a temp FERRY_HOME and FERRY_WARM_SECS=5 (WARM),
# so each superseded release drains and stops during the run; the Node processes it starts
# inherit core 0. Every load generator, and the `ferry deploy` commands, run on core 1.
#
# Phase 1, switches under load. `ferry deploy` v0, then on core 1, all the time:
#   - a fresh-connection loop (Python, one connection per request, `Connection: close`,
#     every non-200, wrong body or socket error counted as a failure, each answer's version
#     and time recorded);
#   - one SSE client on /events (Python), counting events, recording how each stream ends
#     (clean chunked end, close without it, error) and reconnecting at once;
# and then `wrk -t1 -c16 -dDURATIONs --latency` keep-alive on `/` twice: a quiet baseline,
# then the switching run, during which DEPLOYS consecutive `ferry deploy` (v1…v20) are paced
# evenly (one every DURATION/(DEPLOYS+1) s, the next at once if one overruns its slot). Each
# deploy's total and activate time (from `ferry deploy --json`) and its switch as seen from
# outside (deploy start → the first fresh-connection answer from the new version) are
# printed. After the last deploy the loaders keep going TAIL s (default WARM+35: a superseded
# release drains WARM s after its switch, and its drain waits up to 30 s for in-flight requests,
# an open SSE stream being one, before it ends the streams), so the SSE client sees how its
# stream ends. Added p99 = p99 of the switching run − p99 of the baseline.
#
# Phase 2, proxy throughput. The same live backend process (its pid and port from `ferry ps
# --json`), pinned to core 0 with `taskset -a -p` (ferry and nginx on core 0 too: proxy and
# backend share that core in both rows); nginx runs the committed bench/nginx-proxy.conf
# (worker_processes 1, keep-alive upstream pool). `wrk -t1 -cCONNECTIONS -dPROXY_DURATIONs
# --latency` on core 1 against ferry's edge, then nginx, then the backend directly
# (reference: no proxy), each after a 2 s warm-up, ROUNDS times alternating. Ratio of the mean
# requests/s ferry/nginx, goal ≥ 1.0×. PERF=1 adds one more ferry run under `perf record -g`
# and prints where ferry serve's time goes.
#
# Exits 1 when any request failed (wrk non-2xx or socket errors, a fresh-connection failure,
# an SSE reconnect not answered 200) or a deploy failed.
#
#   bench/rolling.sh                 # DURATION=42 DEPLOYS=20 WARM=5 CONNECTIONS=16 PROXY_DURATION=20 ROUNDS=2
#   DURATION=12 DEPLOYS=5 PROXY_DURATION=5 bench/rolling.sh    # a quick try
#   KEEP_LOGS=/tmp/rolling-logs bench/rolling.sh                  # keep wrk outputs, deploy JSON, logs
#   PHASES=proxy PROXY_DURATION=10 bench/rolling.sh                # phase 2 only (v0 live, no deploys)
#   PHASES=deploys bench/rolling.sh                                # phase 1 only
#   FERRY_BIN=/tmp/ferry bench/rolling.sh                          # a prebuilt ferry, no cargo build
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-42}"
DEPLOYS="${DEPLOYS:-20}"
WARM="${WARM:-5}"
CONNECTIONS="${CONNECTIONS:-16}"
PROXY_DURATION="${PROXY_DURATION:-20}"
ROUNDS="${ROUNDS:-2}"
TAIL="${TAIL:-$((WARM + 35))}"
PERF="${PERF:-0}"
PHASES="${PHASES:-all}"
case "$PHASES" in all | proxy | deploys) ;; *) echo "PHASES must be all, proxy or deploys, not '$PHASES'" >&2; exit 2 ;; esac
for v in DURATION DEPLOYS WARM CONNECTIONS PROXY_DURATION ROUNDS TAIL; do
  case "${!v}" in '' | *[!0-9]* | 0) echo "$v must be a positive integer, not '${!v}'" >&2; exit 2 ;; esac
done
APP=rolling
HOST="$APP.localhost"
WARMUP=2

# --- tools ------------------------------------------------------------------------------------
need() { command -v "$1" >/dev/null 2>&1; }
missing=()
need node || missing+=(nodejs)
need nginx || missing+=(nginx)
need wrk || missing+=(wrk)
need curl || missing+=(curl)
need python3 || missing+=(python3)
need taskset || missing+=(util-linux)
need envsubst || missing+=(gettext-base)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then echo "missing ${missing[*]}: run as root to install them (Debian packages)" >&2; exit 1; fi
  echo "installing ${missing[*]} (Debian packages)…" >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [ "$(nproc)" -lt 2 ]; then echo "needs 2 cores (ferry, nginx and the backend on core 0, load on core 1)" >&2; exit 1; fi

if [ -n "${FERRY_BIN:-}" ]; then
  FERRY="$(realpath "$FERRY_BIN")"   # a prebuilt binary: no cargo build
else
  echo "building ferry (release)…" >&2
  cargo build --release -q -p ferry
  TARGET_DIR="${CARGO_TARGET_DIR:-target}"
  case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$PWD/$TARGET_DIR" ;; esac
  FERRY="$TARGET_DIR/release/ferry"
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/ferry-rolling.XXXXXX")"
chmod 755 "$WORK"
export FERRY_HOME="$WORK/home"
mkdir -p "$WORK/logs"
FERRY_PID=""; NGINX_PID=""; FRESH_PID=""; SSE_PID=""; WRK_PID=""; PERF_PID=""; NODE_PIDS=""
cleanup() {
  local pid
  for pid in $WRK_PID $FRESH_PID $SSE_PID $PERF_PID; do kill "$pid" 2>/dev/null || true; done
  for pid in $WRK_PID $FRESH_PID $SSE_PID $PERF_PID; do wait "$pid" 2>/dev/null || true; done
  if [ -n "$NGINX_PID" ]; then kill "$NGINX_PID" 2>/dev/null || true; wait "$NGINX_PID" 2>/dev/null || true; fi
  if [ -n "$FERRY_PID" ]; then
    "$FERRY" down >/dev/null 2>&1 || true
    kill "$FERRY_PID" 2>/dev/null || true
    wait "$FERRY_PID" 2>/dev/null || true
  fi
  # Backend processes ferry should have stopped: only those still running our server.js.
  for pid in $NODE_PIDS; do
    if grep -qs "server.js" "/proc/$pid/cmdline"; then kill "$pid" 2>/dev/null || true; fi
  done
  if [ -n "${KEEP_LOGS:-}" ]; then { mkdir -p "$KEEP_LOGS" && cp -R "$WORK/logs/." "$KEEP_LOGS/"; } || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
# every thread of each PID allowed on core 0 only, or exit
check_pinned() {
  local what="$1" lists p
  shift
  lists="$(for p in "$@"; do cat /proc/"$p"/task/*/status 2>/dev/null; done | awk '/^Cpus_allowed_list:/ {print $2}' | sort -u | paste -sd' ')"
  if [ "$lists" != 0 ]; then echo "$what (pids $*) not pinned to core 0: Cpus_allowed_list $lists" >&2; exit 1; fi
  echo "  $what: pid(s) $*, $(for p in "$@"; do ls /proc/"$p"/task; done | wc -l) threads, all on core 0" >&2
}

# --- helpers: the load generators and the report -----------------------------------------------
HELPER="$WORK/helper.py"
cat >"$HELPER" <<'PY'
import json, re, signal, socket, statistics, sys, time

stop = False
def _stop(*_):
    global stop
    stop = True

def fresh(port, host, out):
    """One connection per request, Connection: close, until SIGTERM. Lines: t_end latency_ms status version|error."""
    signal.signal(signal.SIGTERM, _stop)
    req = f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
    rows = []
    while not stop:
        t0 = time.time()
        try:
            s = socket.create_connection(("127.0.0.1", int(port)), timeout=10)
            try:
                s.sendall(req)
                chunks = []
                while True:
                    b = s.recv(65536)
                    if not b:
                        break
                    chunks.append(b)
            finally:
                s.close()
            data = b"".join(chunks)
            t1 = time.time()
            head, _, body = data.partition(b"\r\n\r\n")
            m = re.match(rb"HTTP/1\.[01] (\d{3})", head)
            status = m.group(1).decode() if m else "none"
            words = body.split()
            ok_body = len(words) == 2 and words[0] == b"rolling"
            version = words[1].decode() if ok_body else "bad-body:" + body[:40].decode(errors="replace").replace(" ", "_").replace("\n", "_")
            if status != "200":
                err = [l for l in head.split(b"\r\n") if l.lower().startswith(b"x-ferry-error")]
                version = (err[0].decode().replace(" ", "") if err else "") or version
            rows.append(f"{t1:.6f} {(t1 - t0) * 1000:.3f} {status} {version}")
        except OSError as e:
            t1 = time.time()
            rows.append(f"{t1:.6f} {(t1 - t0) * 1000:.3f} error {type(e).__name__}:{e.errno}")
    with open(out, "w") as f:
        f.write("\n".join(rows) + "\n")

def sse(port, host, out):
    """One SSE client on /events, reconnecting at once whenever a stream ends, until SIGTERM."""
    signal.signal(signal.SIGTERM, _stop)
    conns = []
    req = f"GET /events HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n\r\n".encode()
    while not stop:
        c = {"start": time.time(), "status": None, "events": [], "version": None, "end": None, "how": None}
        conns.append(c)
        try:
            s = socket.create_connection(("127.0.0.1", int(port)), timeout=30)
        except OSError as e:
            c["end"], c["how"] = time.time(), f"connect error {type(e).__name__}"
            time.sleep(0.05)
            continue
        buf, head, chunked, text = b"", None, False, b""
        try:
            s.sendall(req)
            while not stop:
                b = s.recv(65536)
                if not b:
                    c["how"] = "closed without the chunked end" if chunked else "closed (close-delimited body)"
                    break
                buf += b
                if head is None:
                    if b"\r\n\r\n" not in buf:
                        continue
                    head, _, buf = buf.partition(b"\r\n\r\n")
                    c["status"] = head.split(b" ", 2)[1].decode()
                    chunked = b"transfer-encoding: chunked" in head.lower()
                    if c["status"] != "200":
                        c["how"] = "status " + c["status"]
                        break
                ended = False
                if chunked:
                    while True:
                        line, sep, rest = buf.partition(b"\r\n")
                        if not sep:
                            break
                        size = int(line.split(b";")[0], 16)
                        if size == 0:
                            ended = True
                            break
                        if len(rest) < size + 2:
                            break
                        text += rest[:size]
                        buf = rest[size + 2:]
                else:
                    text, buf = text + buf, b""
                while b"\n\n" in text:
                    ev, _, text = text.partition(b"\n\n")
                    data = [l[5:].strip() for l in ev.split(b"\n") if l.startswith(b"data:")]
                    if data:
                        c["events"].append(time.time())
                        c["version"] = data[0].split()[0].decode()
                if ended:
                    c["how"] = "clean end (zero-length chunk)"
                    break
            else:
                c["how"] = "stopped by the bench"
        except OSError as e:
            c["how"] = f"error {type(e).__name__}:{e.errno}"
        finally:
            s.close()
        c["end"] = time.time()
    json.dump(conns, open(out, "w"))

def wrk(path):
    """wrk --latency output → 'rps p50_ms p99_ms max_ms requests non2xx socket_errors_total socket_errors'."""
    text = open(path).read()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    def ms(v, unit):
        return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]
    def pct(p):
        return ms(*re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M).groups())
    mx = ms(*re.search(r"^\s+Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s|m)", text, re.M).groups())
    reqs = re.search(r"(\d+) requests in", text).group(1)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    total = sum(int(x) for x in errors.groups()) if errors else 0
    desc = ("connect/read/write/timeout=" + "/".join(errors.groups())) if errors else "none"
    print(f"{rps:.1f} {pct(50):.3f} {pct(99):.3f} {mx:.3f} {reqs} {non2xx.group(1) if non2xx else 0} {total} {desc}")

def live(ps_json):
    """`ferry ps --json` → 'pid port release' of the live process."""
    d = json.load(open(ps_json))
    rows = [p for p in d["processes"] if p.get("live")]
    if len(rows) != 1:
        sys.exit(f"expected one live process, got {len(rows)}: {d}")
    p = rows[0]
    print(p["pid"], p["port"], p["release"])

def deploy_ms(path):
    """`ferry deploy --json` → 'release_id total_ms activate_ms'."""
    d = json.load(open(path))
    phases = dict(d["phases"])
    print(d["release_id"], d["total_ms"], phases.get("activate", 0))

def pcts(xs):
    if not xs:
        return (0.0, 0.0, 0.0)
    xs = sorted(xs)
    at = lambda q: xs[min(len(xs) - 1, int(q * len(xs)))]
    return (at(0.50), at(0.99), xs[-1])

def phase1(work, warm):
    """The phase-1 table; exit status 1 when a request failed."""
    marks = dict(l.split() for l in open(f"{work}/marks.txt"))
    b0, b1, s0, s1 = (float(marks[k]) for k in ("base_start", "base_end", "switch_start", "switch_end"))
    base = open(f"{work}/wrk-baseline.parsed").read().split()
    sw = open(f"{work}/wrk-switching.parsed").read().split()
    deploys = [l.split("\t") for l in open(f"{work}/deploys.tsv") if l.strip()]
    rows = []
    for l in open(f"{work}/fresh.txt"):
        p = l.split()
        if len(p) == 4:
            rows.append((float(p[0]), float(p[1]), p[2], p[3]))
    conns = json.load(open(f"{work}/sse.json"))

    failures = []
    fails = [r for r in rows if r[2] != "200" or r[3].startswith("bad-body")]
    for r in fails[:10]:
        failures.append(f"fresh connection at +{r[0] - b0:.3f} s: {r[2]} {r[3]}")
    for name, w in (("baseline", base), ("switching", sw)):
        if w[5] != "0" or w[6] != "0":
            failures.append(f"wrk {name}: {w[5]} non-2xx, socket errors {w[7]}")
    bad_sse = [c for c in conns if (c["status"] or "none") != "200" and c["how"] != "stopped by the bench"]
    for c in bad_sse[:5]:
        failures.append(f"SSE connection at +{c['start'] - b0:.3f} s: status {c['status']}, {c['how']}")

    # each deploy's switch, seen from outside: deploy start → first fresh answer from its version
    per_deploy, observed = [], []
    for i, version, t0, t1, rel, total_ms, act_ms in deploys:
        t0, t1 = float(t0), float(t1)
        first = next((r[0] for r in rows if r[0] >= t0 and r[3] == version), None)
        obs = (first - t0) * 1000 if first else None
        if obs is not None:
            observed.append(obs)
        per_deploy.append((i, version, rel, t0 - s0, float(total_ms), float(act_ms), obs, t1 > s1))
    in_window = sum(1 for d in per_deploy if not d[7])

    fb = [r[1] for r in rows if b0 <= r[0] - r[1] / 1000 and r[0] <= b1]
    fs = [r[1] for r in rows if s0 <= r[0] - r[1] / 1000 and r[0] <= s1]
    fbp, fsp = pcts(fb), pcts(fs)
    versions_seen = len({r[3] for r in rows if r[2] == "200"})

    events = sum(len(c["events"]) for c in conns)
    t_first, t_last = conns[0]["start"], conns[-1]["end"]
    all_ev = sorted(t for c in conns for t in c["events"])
    gaps = [b - a for a, b in zip(all_ev, all_ev[1:])]
    ends = {}
    for c in conns[:-1]:
        ends[c["how"]] = ends.get(c["how"], 0) + 1
    reconnect_gaps = [(conns[k + 1]["events"][0] - conns[k]["events"][-1]) * 1000
                      for k in range(len(conns) - 1) if conns[k]["events"] and conns[k + 1]["events"]]

    print(f"phase 1: {len(deploys)} consecutive deploys under load (switching run {s1 - s0:.1f} s, "
          f"{in_window} deploys finished inside it; superseded releases drain {warm} s after their switch)")
    print()
    print("| deploy | release | at (s into the switching run) | ferry deploy total | activate (start + health + switch) | switch seen from outside |")
    print("|---:|:---|---:|---:|---:|---:|")
    for i, version, rel, at, total, act, obs, late in per_deploy:
        o = f"{obs:.0f} ms" if obs is not None else "never seen"
        print(f"| {i} ({version}) | {rel} | {at:.2f}{' (after wrk ended)' if late else ''} | {total:.0f} ms | {act:.0f} ms | {o} |")
    print()
    tot = [d[4] for d in per_deploy]; act = [d[5] for d in per_deploy]
    print("| metric | quiet baseline | during switches | added / goal |")
    print("|:---|---:|---:|---:|")
    print(f"| wrk keep-alive -c{base[8]} on /: requests | {int(base[4]):,} | {int(sw[4]):,} | |")
    print(f"| wrk requests/s | {float(base[0]):,.0f} | {float(sw[0]):,.0f} | |")
    print(f"| wrk p50 | {float(base[1]):.2f} ms | {float(sw[1]):.2f} ms | {float(sw[1]) - float(base[1]):+.2f} ms |")
    print(f"| wrk p99 | {float(base[2]):.2f} ms | {float(sw[2]):.2f} ms | **{float(sw[2]) - float(base[2]):+.2f} ms added p99** |")
    print(f"| wrk max | {float(base[3]):.2f} ms | {float(sw[3]):.2f} ms | |")
    print(f"| wrk non-2xx / socket errors | {base[5]} / {base[6]} | {sw[5]} / {sw[6]} | 0 / 0 |")
    print(f"| fresh connections (Connection: close): requests | {len(fb):,} | {len(fs):,} | |")
    print(f"| fresh connections p50 / p99 / max | {fbp[0]:.2f} / {fbp[1]:.2f} / {fbp[2]:.2f} ms | {fsp[0]:.2f} / {fsp[1]:.2f} / {fsp[2]:.2f} ms | {fsp[1] - fbp[1]:+.2f} ms added p99 |")
    print(f"| fresh connections failed (whole run, {len(rows):,} requests, {versions_seen} versions seen) | | | {len(fails)} (goal 0) |")
    print(f"| deploy time p50 / max (`ferry deploy --json` total) | | {statistics.median(tot):.0f} / {max(tot):.0f} ms | |")
    print(f"| activate p50 / max | | {statistics.median(act):.0f} / {max(act):.0f} ms | |")
    if observed:
        print(f"| switch seen from outside p50 / max (deploy start → first answer from the new version) | | {statistics.median(observed):.0f} / {max(observed):.0f} ms | |")
    print()
    print(f"SSE (/events, one event per 100 ms): {events:,} events in {t_last - t_first:.1f} s "
          f"(~{(t_last - t_first) * 10:,.0f} expected), {len(conns)} connections = {len(conns) - 1} reconnects; "
          f"how the streams ended: " + (", ".join(f"{v}× {k}" for k, v in ends.items()) or "never ended") +
          f"; the last one {conns[-1]['how']}")
    for c in conns:
        print(f"  stream on {c['version'] or '?'}: +{c['start'] - b0:.2f} s → +{c['end'] - b0:.2f} s, "
              f"{len(c['events'])} events, status {c['status']}, {c['how']}")
    if gaps:
        print(f"  longest gap between two events: {max(gaps) * 1000:.0f} ms"
              + (f"; across a reconnect (last event of one stream → first of the next): max {max(reconnect_gaps):.0f} ms" if reconnect_gaps else ""))
    print()
    if failures:
        print("FAILED requests:")
        for f in failures:
            print("  " + f)
        print("\nzero failed requests: NOT MET")
        sys.exit(1)
    print("zero failed requests (wrk, fresh connections, SSE reconnects): MET")

def phase2(rows_path, connections, duration):
    rows = [l.rstrip("\n").split("\t") for l in open(rows_path) if l.strip()]
    print(f"phase 2: proxy throughput, wrk -t1 -c{connections} -d{duration}s on core 1; proxy and backend on core 0")
    print()
    print("| target | requests/s | p50 | p99 | max | non-2xx / socket errors |")
    print("|:---|---:|---:|---:|---:|---:|")
    got, bad, seen = {}, [], {}
    for name, w in rows:
        rps, p50, p99, mx, reqs, non2xx, errs, desc = w.split()
        got.setdefault(name, []).append(float(rps))
        seen[name] = seen.get(name, 0) + 1
        label = f"{name} (run {seen[name]})"
        if non2xx != "0" or errs != "0":
            bad.append(f"{name}: {non2xx} non-2xx, socket errors {desc}")
        print(f"| {label} | {float(rps):,.0f} | {float(p50):.2f} ms | {float(p99):.2f} ms | {float(mx):.2f} ms | {non2xx} / {errs} |")
    mean = {k: sum(v) / len(v) for k, v in got.items()}
    print()
    for k, v in mean.items():
        print(f"mean {k}: {v:,.0f} requests/s")
    f, n = mean["ferry edge → node"], mean["nginx → node"]
    print(f"ferry/nginx requests/s (means): {f / n:.2f}× — goal ≥ 1.0×: {'MET' if f / n >= 1.0 else 'NOT MET'}")
    if bad:
        print("FAILED requests: " + "; ".join(bad))
        sys.exit(1)

globals()[sys.argv[1]](*sys.argv[2:])
PY
helper() { python3 "$HELPER" "$@"; }

# --- the app ----------------------------------------------------------------------------------
SRC="$WORK/app"
mkdir -p "$SRC"
cat >"$SRC/ferry.toml" <<TOML
version = 1
name = "$APP"

[[unit]]
name = "web"
path = "."
kind = "server"
install = ""
build = ""

[[unit.process]]
name = "web"
command = "node server.js"
health = "/healthz"
TOML
cat >"$SRC/server.js" <<'JS'
// bench/rolling.sh: GET / answers the version, GET /events streams one event per 100 ms.
const http = require("http");
const fs = require("fs");
const version = fs.readFileSync(__dirname + "/version.txt", "utf8").trim();
const body = `rolling ${version}\n`;
const streams = new Set();
const server = http.createServer((req, res) => {
  if (req.url === "/healthz") {
    res.writeHead(200, { "content-type": "text/plain" });
    res.end("ok\n");
  } else if (req.url === "/events") {
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    let n = 0;
    const timer = setInterval(() => res.write(`id: ${n}\ndata: ${version} ${n++}\n\n`), 100);
    streams.add(res);
    res.on("close", () => { clearInterval(timer); streams.delete(res); });
  } else {
    res.writeHead(200, { "content-type": "text/plain", "content-length": Buffer.byteLength(body) });
    res.end(body);
  }
});
server.listen(Number(process.env.PORT), "127.0.0.1");
// Graceful stop: end open streams, finish in-flight requests, then exit.
process.on("SIGTERM", () => {
  for (const res of streams) res.end();
  server.close(() => process.exit(0));
  server.closeIdleConnections();
  setTimeout(() => process.exit(0), 5000).unref();
});
JS
echo v0 >"$SRC/version.txt"

# --- ferry: serve on core 0, deploy v0 ----------------------------------------------------------
PORT="$(free_port)"; CONTROL_PORT="$(free_port)"
FERRY_WARM_SECS="$WARM" taskset -c 0 "$FERRY" serve --listen "127.0.0.1:$PORT" --control-listen "127.0.0.1:$CONTROL_PORT" \
  2>"$WORK/logs/ferry-server.log" &
FERRY_PID=$!
for _ in $(seq 200); do [ -S "$FERRY_HOME/ferry.sock" ] && break; sleep 0.05; done
deploy() {  # deploy N → a line of deploys.tsv (N, version, start, end, release, total_ms, activate_ms)
  local i="$1" t0 t1
  echo "v$i" >"$SRC/version.txt"
  t0="$(now)"
  if ! taskset -c 1 "$FERRY" deploy --json "$SRC" >"$WORK/logs/deploy-$i.json" 2>"$WORK/logs/deploy-$i.log"; then
    echo "deploy v$i failed:" >&2; cat "$WORK/logs/deploy-$i.log" "$WORK/logs/deploy-$i.json" >&2; exit 1
  fi
  t1="$(now)"
  printf '%s\tv%s\t%s\t%s\t%s\n' "$i" "$i" "$t0" "$t1" "$(helper deploy_ms "$WORK/logs/deploy-$i.json" | tr ' ' '\t')"
}
deploy 0 >/dev/null
BASE="http://127.0.0.1:$PORT"
if [ "$(curl -s -H "Host: $HOST" "$BASE/")" != "rolling v0" ]; then
  echo "v0 does not answer 'rolling v0' through the edge" >&2; curl -si -H "Host: $HOST" "$BASE/" >&2; exit 1
fi
echo "ferry serve (edge 127.0.0.1:$PORT, control 127.0.0.1:$CONTROL_PORT, FERRY_WARM_SECS=$WARM):" >&2
check_pinned "ferry serve" "$FERRY_PID"
"$FERRY" ps --app "$APP" --json >"$WORK/ps0.json"
read -r NODE_PID _ _ <<<"$(helper live "$WORK/ps0.json")"
# shellcheck disable=SC2046 # a list of pids
check_pinned "backend v0 (inherits ferry's affinity)" "$NODE_PID" $(pgrep -P "$NODE_PID")
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"

# --- phase 1: baseline, then DEPLOYS switches, under wrk + fresh connections + SSE --------------
PHASE1_STATUS=0
SLOT="-"; NGINX_PORT="-"; NODE_PORT="-"; WRK2=(-t1 "-c$CONNECTIONS" --latency -H "Host: $HOST")
if [ "$PHASES" != proxy ]; then
WRK1=(-t1 "-c$CONNECTIONS" --latency -H "Host: $HOST" "-d${DURATION}s" "$BASE/")
MARKS="$WORK/marks.txt"; : >"$MARKS"
taskset -c 1 python3 "$HELPER" fresh "$PORT" "$HOST" "$WORK/fresh.txt" &
FRESH_PID=$!
taskset -c 1 python3 "$HELPER" sse "$PORT" "$HOST" "$WORK/sse.json" &
SSE_PID=$!
sleep 1
echo "phase 1: quiet baseline, wrk ${DURATION}s (fresh-connection loop and SSE client running)…" >&2
echo "base_start $(now)" >>"$MARKS"
taskset -c 1 wrk "${WRK1[@]}" >"$WORK/logs/wrk-baseline.txt"
echo "base_end $(now)" >>"$MARKS"
sleep 1
SLOT="$(python3 -c "print($DURATION / ($DEPLOYS + 1))")"
echo "phase 1: switching run, wrk ${DURATION}s, $DEPLOYS deploys, one every ${SLOT}s…" >&2
S0="$(now)"
echo "switch_start $S0" >>"$MARKS"
taskset -c 1 wrk "${WRK1[@]}" >"$WORK/logs/wrk-switching.txt" &
WRK_PID=$!
DEPLOYS_TSV="$WORK/deploys.tsv"; : >"$DEPLOYS_TSV"
for i in $(seq 1 "$DEPLOYS"); do
  wait_s="$(python3 -c "import time; print(max(0.0, $S0 + $i * $SLOT - time.time()))")"
  sleep "$wait_s"
  deploy "$i" >>"$DEPLOYS_TSV"
  echo "  deploy v$i: $(tail -1 "$DEPLOYS_TSV" | cut -f5-7 | tr '\t' ' ') (release, total ms, activate ms)" >&2
done
wait "$WRK_PID"; WRK_PID=""
echo "switch_end $(now)" >>"$MARKS"
# The switching run ends at wrk's end; its measured window is wrk's own (-d), so mark it from S0.
python3 - "$MARKS" "$S0" "$DURATION" <<'PY'
import sys
path, s0, d = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
lines = [l for l in open(path) if not l.startswith("switch_end")]
lines.append(f"switch_end {s0 + d:.6f}\n")
open(path, "w").writelines(lines)
PY
echo "phase 1: loaders go on ${TAIL}s so the superseded releases drain under them…" >&2
sleep "$TAIL"
kill -TERM "$FRESH_PID" "$SSE_PID"
wait "$FRESH_PID" "$SSE_PID"; FRESH_PID=""; SSE_PID=""
helper wrk "$WORK/logs/wrk-baseline.txt" | sed "s/\$/ $CONNECTIONS/" >"$WORK/wrk-baseline.parsed"
helper wrk "$WORK/logs/wrk-switching.txt" | sed "s/\$/ $CONNECTIONS/" >"$WORK/wrk-switching.parsed"
cp "$WORK/fresh.txt" "$WORK/sse.json" "$DEPLOYS_TSV" "$WORK/logs/"
helper phase1 "$WORK" "$WARM" >"$WORK/phase1.md" || PHASE1_STATUS=$?
else
  echo "phase 1 skipped (PHASES=$PHASES)" >"$WORK/phase1.md"
  DEPLOYS=0
fi

# --- phase 2: the same live backend behind ferry's edge and behind nginx ------------------------
PHASE2_STATUS=0
if [ "$PHASES" != deploys ]; then
"$FERRY" ps --app "$APP" --json >"$WORK/ps.json"
read -r NODE_PID NODE_PORT NODE_RELEASE <<<"$(helper live "$WORK/ps.json")"
NODE_PIDS="$NODE_PID $(pgrep -P "$NODE_PID" | tr '\n' ' ')"
echo "phase 2: live backend pid $NODE_PID ($(tr '\0\n' '  ' <"/proc/$NODE_PID/cmdline" | tr -s ' ')under ferry-run), port $NODE_PORT, release $NODE_RELEASE" >&2
for pid in $NODE_PIDS; do taskset -a -p -c 0 "$pid" >/dev/null; done
# shellcheck disable=SC2086 # a list of pids
check_pinned "backend (node)" $NODE_PIDS
check_pinned "ferry serve" "$FERRY_PID"
NGINX_PORT="$(free_port)"
NGINX_CONF="$WORK/nginx.conf"
mkdir -p "$WORK/nginx-tmp"
NGINX_USER=www-data; id www-data >/dev/null 2>&1 || NGINX_USER=root
# shellcheck disable=SC2016 # envsubst's list of variables, not expansions
NGINX_PORT="$NGINX_PORT" UPSTREAM_PORT="$NODE_PORT" NGINX_PID="$WORK/nginx.pid" \
NGINX_TMP="$WORK/nginx-tmp" NGINX_USER="$NGINX_USER" \
  envsubst '${NGINX_PORT} ${UPSTREAM_PORT} ${NGINX_PID} ${NGINX_TMP} ${NGINX_USER}' \
  <bench/nginx-proxy.conf >"$NGINX_CONF"
nginx -t -q -e "$WORK/nginx-tmp/error.log" -c "$NGINX_CONF"
taskset -c 0 nginx -e "$WORK/nginx-tmp/error.log" -c "$NGINX_CONF" -g 'daemon off;' &
NGINX_PID=$!
for _ in $(seq 100); do curl -fso /dev/null "http://127.0.0.1:$NGINX_PORT/" && break; sleep 0.05; done
# shellcheck disable=SC2046 # a list of pids
check_pinned "nginx (master + worker)" "$NGINX_PID" $(pgrep -P "$NGINX_PID")
EXPECT="rolling v$DEPLOYS"
for target in "ferry:$PORT" "nginx:$NGINX_PORT" "node:$NODE_PORT"; do
  got="$(curl -s -H "Host: $HOST" "http://127.0.0.1:${target#*:}/")"
  if [ "$got" != "$EXPECT" ]; then echo "${target%%:*} answered '$got', expected '$EXPECT'" >&2; exit 1; fi
done
echo "  ferry, nginx and the backend directly each answer '$EXPECT'" >&2
ROWS="$WORK/rows.tsv"; : >"$ROWS"
WRK2=(-t1 "-c$CONNECTIONS" --latency -H "Host: $HOST")
bench2() {  # bench2 NAME PORT ROUND
  local name="$1" port="$2" out="$WORK/logs/wrk-proxy-$2-$3.txt"
  taskset -c 1 wrk "${WRK2[@]}" "-d${WARMUP}s" "http://127.0.0.1:$port/" >/dev/null
  taskset -c 1 wrk "${WRK2[@]}" "-d${PROXY_DURATION}s" "http://127.0.0.1:$port/" >"$out"
  printf '%s\t%s\n' "$name" "$(helper wrk "$out")" >>"$ROWS"
  echo "  $name: $(helper wrk "$out" | cut -d' ' -f1) req/s" >&2
}
echo "phase 2: wrk ${PROXY_DURATION}s each after a ${WARMUP}s warm-up…" >&2
for round in $(seq 1 "$ROUNDS"); do
  bench2 "ferry edge → node" "$PORT" "$round"
  bench2 "nginx → node" "$NGINX_PORT" "$round"
  bench2 "node directly (reference, no proxy)" "$NODE_PORT" "$round"
done
PERF_NOTE=""
if [ "$PERF" = 1 ] && command -v perf >/dev/null 2>&1; then
  echo "phase 2: one more ferry run under perf record -g (${PROXY_DURATION}s)…" >&2
  perf record -q -F 999 -g -o "$WORK/logs/perf.data" -p "$FERRY_PID" -- sleep "$PROXY_DURATION" 2>/dev/null &
  PERF_PID=$!
  taskset -c 1 wrk "${WRK2[@]}" "-d${PROXY_DURATION}s" "http://127.0.0.1:$PORT/" >/dev/null
  wait "$PERF_PID" || true
  PERF_PID=""
  perf report -q -i "$WORK/logs/perf.data" --no-children --sort dso,symbol --percent-limit 1.5 --stdio -g none \
    2>/dev/null | sed -E 's/[[:space:]-]+$//' >"$WORK/logs/perf-ferry.txt" || true
  perf report -q -i "$WORK/logs/perf.data" --no-children --sort symbol --percent-limit 5 --stdio -G \
    >"$WORK/logs/perf-ferry-callers.txt" 2>/dev/null || true
  PERF_NOTE="$WORK/logs/perf-ferry.txt"
fi
helper phase2 "$ROWS" "$CONNECTIONS" "$PROXY_DURATION" >"$WORK/phase2.md" || PHASE2_STATUS=$?
else
  echo "phase 2 skipped (PHASES=$PHASES)" >"$WORK/phase2.md"
  NGINX_CONF=/dev/null
fi

# --- report -----------------------------------------------------------------------------------
echo
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(free -g | awk '/^Mem:/ {print $2}') GiB; load average at the start: $LOAD_BEFORE, at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "  (anything else running on core 0 or 1 skews every row)"
echo "versions: $("$FERRY" --version); node $(node --version); $(nginx -v 2>&1 | sed 's/.*: //'); $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
echo "pinning: ferry serve, the Node backend (inherited from ferry, and taskset -a -p -c 0 before phase 2) and nginx (master + 1 worker) on core 0;"
echo "  wrk, the fresh-connection loop, the SSE client and the ferry deploy commands on core 1"
echo "app: $SRC/server.js (Node http, no packages), ferry.toml kind = \"server\", install = \"\", build = \"\", command = \"node server.js\", health = \"/healthz\""
echo "commands:"
echo "  FERRY_WARM_SECS=$WARM taskset -c 0 ferry serve --listen 127.0.0.1:$PORT --control-listen 127.0.0.1:$CONTROL_PORT"
echo "  taskset -c 1 ferry deploy --json <app>      # v0, then v1…v$DEPLOYS one every ${SLOT}s during the switching run"
echo "  taskset -c 1 wrk $(printf '%q ' "${WRK1[@]}")   # baseline, then switching"
echo "  taskset -c 1 python3 helper.py fresh $PORT $HOST …   # GET / with Connection: close, one connection per request"
echo "  taskset -c 1 python3 helper.py sse $PORT $HOST …     # GET /events, reconnects at once"
echo "  ferry ps --app $APP --json; taskset -a -p -c 0 <backend pid>"
echo "  taskset -c 0 nginx -c nginx.conf -g 'daemon off;'    # bench/nginx-proxy.conf, UPSTREAM_PORT=$NODE_PORT"
echo "  taskset -c 1 wrk $(printf '%q ' "${WRK2[@]}")-d${PROXY_DURATION}s http://127.0.0.1:{$PORT ferry,$NGINX_PORT nginx,$NODE_PORT node}/   # each after -d${WARMUP}s, $ROUNDS rounds"
echo
cat "$WORK/phase1.md"
echo
cat "$WORK/phase2.md"
echo
echo "nginx config used (rendered bench/nginx-proxy.conf):"
echo '```nginx'
grep -v '^\s*#' "$NGINX_CONF" | sed '/^\s*$/d'
echo '```'
if [ -n "$PERF_NOTE" ]; then
  echo
  echo "where ferry serve's time goes (perf record -F 999 -g -p <ferry serve>, one ${PROXY_DURATION}s wrk run; self time by dso,symbol, ≥ 1.5 %):"
  grep -v '^#' "$PERF_NOTE" | sed '/^\s*$/d' | head -40
fi
if [ "$PHASE1_STATUS" != 0 ] || [ "$PHASE2_STATUS" != 0 ]; then exit 1; fi
