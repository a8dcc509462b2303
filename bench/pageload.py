#!/usr/bin/env python3
"""Whole page loads against an edge while releases switch: fetch the HTML, then every asset
it references (keep-alive connections, several threads). Counts failures and 404s.
Runs until the stop file exists; prints one JSON line of totals."""
import http.client, json, os, re, sys, threading, time

addr, host, stop_file, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
h, p = addr.rsplit(":", 1)
asset_re = re.compile(r'(?:src|href)="(/[^"]+\.(?:js|css|svg|png))"')
lock = threading.Lock()
totals = {"page_loads": 0, "failed_page_loads": 0, "requests": 0, "not_found": 0, "errors": [], "releases": {}}

def worker():
    conn = http.client.HTTPConnection(h, int(p), timeout=5)
    def get(path):
        nonlocal conn
        for attempt in range(2):
            try:
                conn.request("GET", path, headers={"Host": host})
                r = conn.getresponse()
                body = r.read()
                return r.status, r.getheader("x-ferry-release"), body
            except (http.client.HTTPException, OSError):
                conn.close()
                conn = http.client.HTTPConnection(h, int(p), timeout=5)
                if attempt:
                    raise
    local = {"page_loads": 0, "failed": 0, "requests": 0, "not_found": 0, "errors": [], "releases": {}}
    while not os.path.exists(stop_file):
        ok = True
        try:
            status, release, body = get("/")
            local["requests"] += 1
            local["releases"][release] = local["releases"].get(release, 0) + 1
            if status != 200:
                ok = False
                local["errors"].append(f"/ -> {status}")
            for asset in asset_re.findall(body.decode("utf-8", "replace")):
                s, _, _ = get(asset)
                local["requests"] += 1
                if s == 404:
                    local["not_found"] += 1
                if s != 200:
                    ok = False
                    local["errors"].append(f"{asset} -> {s}")
        except Exception as e:  # a connection error is a failed page load
            ok = False
            local["errors"].append(repr(e))
        local["page_loads"] += 1
        local["failed"] += 0 if ok else 1
    with lock:
        totals["page_loads"] += local["page_loads"]
        totals["failed_page_loads"] += local["failed"]
        totals["requests"] += local["requests"]
        totals["not_found"] += local["not_found"]
        totals["errors"] += local["errors"][:5]
        for k, v in local["releases"].items():
            totals["releases"][k] = totals["releases"].get(k, 0) + v

start = time.time()
ts = [threading.Thread(target=worker) for _ in range(threads)]
for t in ts: t.start()
for t in ts: t.join()
totals["seconds"] = time.time() - start
print(json.dumps(totals))
