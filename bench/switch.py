#!/usr/bin/env python3
"""Alternates `ferry rollback` / `ferry promote` N times. For each switch it records the time
the command printed (command start to server answer) and, from outside, the time from starting
the command until the edge answers with the target release (polling `x-ferry-release`)."""
import http.client, json, subprocess, sys, time

ferry, app, addr, host, id_a, id_b, n = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6], int(sys.argv[7])
h, p = addr.rsplit(":", 1)
conn = http.client.HTTPConnection(h, int(p), timeout=5)

def live():
    global conn
    try:
        conn.request("HEAD", "/", headers={"Host": host})
        r = conn.getresponse(); r.read()
        return r.getheader("x-ferry-release")
    except (http.client.HTTPException, OSError):
        conn.close(); conn = http.client.HTTPConnection(h, int(p), timeout=5)
        return None

printed, observed = [], []
for i in range(n):
    target = id_a if i % 2 == 0 else id_b
    args = [ferry, "rollback", "--json", "--app", app] if i % 2 == 0 else [ferry, "promote", "--json", "--app", app, target]
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen = None
    while time.perf_counter() - t0 < 5:
        if live() == target:
            seen = time.perf_counter() - t0
            break
    out, err = proc.communicate()
    if proc.returncode != 0:
        sys.exit(f"switch {i} failed: {err.decode()}")
    printed.append(json.loads(out)["elapsed_ms"])
    observed.append(seen * 1000 if seen is not None else float("inf"))
    time.sleep(0.02)

def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]
print(json.dumps({"switches": n, "printed_p50": pct(printed, .5), "printed_p99": pct(printed, .99),
                  "observed_p50": pct(observed, .5), "observed_p99": pct(observed, .99), "observed_max": max(observed)}))
