#!/usr/bin/env bash
# Times `ferry inspect` on a generated 5,000-file repository against `rg --files` on the same
# tree (the floor for walking it), warm cache, same machine, same run. Goal: ferry < 1 s.
# `ferry plan` (Scope::Units: no file contents read for the audit, no git log -p) is timed too.
#
#   bench/inspect.sh            # 5,000 files
#   FILES=20000 bench/inspect.sh
set -euo pipefail
cd "$(dirname "$0")/.."
FILES="${FILES:-5000}"

need() { command -v "$1" >/dev/null 2>&1; }
if ! need hyperfine || ! need rg; then
  echo "installing hyperfine and ripgrep (Debian packages)…" >&2
  apt-get update -qq >/dev/null && apt-get install -y -qq hyperfine ripgrep >/dev/null
fi

if ! need detect-secrets; then
  echo "installing detect-secrets (PyPI)…" >&2
  pip install -q detect-secrets >/dev/null 2>&1
fi

cargo build --release -q -p ferry
FERRY="$PWD/target/release/ferry"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
REPO="$WORK/generated-app"
python3 - "$REPO" "$FILES" <<'PY'
import json, os, sys
root, total = sys.argv[1], int(sys.argv[2])
os.makedirs(root)
def write(rel, text):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
write("package.json", json.dumps({
    "name": "vite_react_shadcn_ts", "private": True, "type": "module",
    "scripts": {"dev": "vite", "build": "vite build", "preview": "vite preview"},
    "dependencies": {"react": "^18.3.1", "react-dom": "^18.3.1", "@supabase/supabase-js": "^2.50.0"},
    "devDependencies": {"vite": "^5.4.1", "lovable-tagger": "^1.1.7", "typescript": "^5.5.3"},
}, indent=2))
write("vite.config.ts", 'import { componentTagger } from "lovable-tagger";\nexport default { build: { outDir: "dist" } };\n')
write("index.html", '<!doctype html><html><head><meta name="author" content="Lovable" /></head><body><div id="root"></div></body></html>\n')
write("src/integrations/supabase/client.ts", 'const SUPABASE_URL = "https://abcdefghijklmnopqrst.supabase.co";\n')
import base64, hashlib, random
rng = random.Random(42)
alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
def rand(n, alphabet=alnum):
    return "".join(rng.choice(alphabet) for _ in range(n))
def b64url(obj):
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")
def jwt(role):
    head = b64url({"alg": "HS256", "typ": "JWT"})
    body = b64url({"iss": "supabase", "ref": "abcdefghijklmnopqrst", "role": role, "iat": 1700000000, "exp": 2000000000})
    return f"{head}.{body}.{rand(43, alnum + '-_')}"
pem_body = "\n".join(rand(64, alnum + "+/") for _ in range(6))
planted = {
    "server/payments.ts": ("stripe-live-secret-key", f'export const stripe = "sk_live_{rand(32)}";\n'),
    "server/ai.ts": ("openai-api-key", f'const openai = "sk-proj-{rand(48)}";\n'),
    "server/claude.py": ("anthropic-api-key", f'KEY = "sk-ant-api03-{rand(80, alnum + "-_")}"\n'),
    "deploy/aws.cfg": ("aws-access-key-id", f"aws_access_key_id = AKIA{rand(16, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567')}\n"),
    "deploy/id_rsa": ("private-key", f"-----BEGIN RSA PRIVATE KEY-----\n{pem_body}\n-----END RSA PRIVATE KEY-----\n"),
    "scripts/release.sh": ("github-token", f"export GH_TOKEN=ghp_{rand(36)}\n"),
    "src/lib/admin.ts": ("supabase-service-role-key", f'export const serviceKey = "{jwt("service_role")}";\n'),
    "server/db.ts": ("database-url-password", f'const url = "postgres://app:{rand(20)}@db.prod-cluster-7.net:5432/app";\n'),
    "server/mail.ts": ("sendgrid-api-key", f'const key = "SG.{rand(22, alnum + "-_")}.{rand(43, alnum + "-_")}";\n'),
    "server/slack.ts": ("slack-token", f'const slack = "xoxb-{rand(12, "0123456789")}-{rand(12, "0123456789")}-{rand(24)}";\n'),
}
decoys = {
    "src/integrations/supabase/client.ts": f'const SUPABASE_URL = "https://abcdefghijklmnopqrst.supabase.co";\nconst KEY = "{jwt("anon")}";\n',
    "src/config/stripe.ts": 'export const test = "sk_test_xxxxxxxxxxxxxxxxxxxxxxxx";\nexport const pk = "pk_live_' + rand(24) + '";\n',
    "src/config/openai.ts": 'const OPENAI_API_KEY = "your-api-key-here";\n',
    "src/config/local.ts": 'const DATABASE_URL = "postgres://postgres:postgres@localhost:5432/dev";\n',
    "docs/SETUP.md": "Set `STRIPE_SECRET_KEY=sk_live_51HxExampleExampleExample` and `sk-proj-" + rand(48) + "` in your env.\n",
    ".env.example": "STRIPE_SECRET_KEY=sk_live_your_key_here\nOPENAI_API_KEY=sk-...your-key...\n",
    "package-lock.json": json.dumps({"lockfileVersion": 3, "packages": {f"node_modules/p{k}": {"version": "1.0.0", "integrity": "sha512-" + base64.b64encode(hashlib.sha512(str(k).encode()).digest()).decode()} for k in range(400)}}, indent=2),
}
for rel, (kind, text) in planted.items():
    write(rel, text)
for rel, text in decoys.items():
    write(rel, text)
with open(os.path.join(os.path.dirname(root), "planted.json"), "w") as f:
    json.dump({"planted": {k: v[0] for k, v in planted.items()}, "decoys": sorted(decoys)}, f)
made = 6 + len(planted) + len(decoys)
i = 0
while made < total:
    area = ["components", "pages", "hooks", "lib", "features"][i % 5]
    group = f"group{(i // 50) % 40}"
    ext = [".tsx", ".ts", ".css", ".json", ".svg"][i % 5]
    body = f"// file {i}\nexport const value{i} = {i};\n" + ("x" * (i % 400)) + "\n"
    write(f"src/{area}/{group}/file{i}{ext}", body)
    made += 1
    i += 1
PY
git -C "$REPO" init -q -b main
git -C "$REPO" add -A
GIT_AUTHOR_NAME='gpt-engineer-app[bot]' GIT_AUTHOR_EMAIL='bot@example.invalid' \
GIT_COMMITTER_NAME='gpt-engineer-app[bot]' GIT_COMMITTER_EMAIL='bot@example.invalid' \
  git -C "$REPO" -c commit.gpgsign=false commit -q -m "Initial commit"
COUNT="$(rg --files --hidden --no-ignore -g '!.git' "$REPO" | wc -l)"

echo "tree: $COUNT files at $REPO (a git repository with history)"
echo "machine: $(nproc) cores; ferry $("$FERRY" --version | cut -d' ' -f2)"
"$FERRY" inspect "$REPO" | head -3
echo

hyperfine --warmup 5 --min-runs 20 -N --style basic \
  --export-markdown "$WORK/table.md" --export-json "$WORK/result.json" \
  -n "ferry inspect --json" "$FERRY inspect --json $REPO" \
  -n "ferry plan --json (units only)" "$FERRY plan --json $REPO" \
  -n "rg --files (floor)" "rg --files --hidden --no-ignore -g !.git $REPO" >/dev/null

cat "$WORK/table.md"
python3 - "$WORK/result.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
ferry = r["ferry inspect --json"]["mean"]
rg = r["rg --files (floor)"]["mean"]
plan = r["ferry plan --json (units only)"]["mean"]
print(f"\nferry inspect: {ferry*1000:.1f} ms mean; rg --files: {rg*1000:.1f} ms; ratio {ferry/rg:.1f}x")
print(f"ferry plan (builder and units, no audit): {plan*1000:.1f} ms mean")
print("goal (< 1 s warm):", "MET" if ferry < 1.0 else "NOT MET")
PY

echo
echo "## secret scan: ferry inspect vs detect-secrets $(detect-secrets --version) on the same tree"
echo "(planted: $(python3 -c "import json;print(len(json.load(open('$WORK/planted.json'))['planted']))") secrets; decoys: placeholders, public keys, lockfile hashes, doc examples)"
"$FERRY" inspect --json "$REPO" > "$WORK/ferry.json"
(cd "$REPO" && detect-secrets scan --all-files . > "$WORK/ds.json")
hyperfine --warmup 2 --min-runs 5 -N --style basic --export-json "$WORK/secrets.json" \
  -n "ferry inspect --json" "$FERRY inspect --json $REPO" \
  -n "detect-secrets scan --all-files" "sh -c 'cd $REPO && detect-secrets scan --all-files .'" >/dev/null
python3 - "$WORK" <<'PY'
import json, sys
work = sys.argv[1]
truth = json.load(open(f"{work}/planted.json"))
planted, decoys = truth["planted"], set(truth["decoys"])
ferry = json.load(open(f"{work}/ferry.json"))
ds = json.load(open(f"{work}/ds.json"))["results"]
times = {r["command"]: r["mean"] for r in json.load(open(f"{work}/secrets.json"))["results"]}
ferry_files = {s["at"].rsplit(":", 1)[0]: s["kind"] for s in ferry["secrets"]}
ds_files = set(ds)
def score(found):
    hit = sum(1 for f in planted if f in found)
    fp = sorted(f for f in found if f in decoys)
    other = sorted(f for f in found if f not in planted and f not in decoys)
    return hit, fp, other
rows = [("ferry inspect --json", times["ferry inspect --json"], *score(set(ferry_files))),
        ("detect-secrets scan --all-files", times["detect-secrets scan --all-files"], *score(ds_files))]
print("| tool | mean [ms] | planted found | decoys flagged | other files flagged |")
print("|:---|---:|---:|---:|---:|")
for name, t, hit, fp, other in rows:
    print(f"| {name} | {t*1000:.1f} | {hit}/{len(planted)} | {len(fp)} {fp if fp else ''} | {len(other)} |")
wrong = [f for f, kind in planted.items() if ferry_files.get(f) not in (kind, None)]
ok = rows[0][2] == len(planted) and not rows[0][3] and rows[0][1] < rows[1][1]
print("\nferry kinds match:", "yes" if not wrong else f"no: {wrong}")
print("goal (every planted secret, no decoy, faster than detect-secrets):", "MET" if ok and not wrong else "NOT MET")
PY
