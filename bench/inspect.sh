#!/usr/bin/env bash
# Times `ferry inspect` on a generated 5,000-file repository against `rg --files` on the same
# tree (the floor for walking it), warm cache, same machine, same run. Goal: ferry < 1 s.
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
write("package-lock.json", '{"lockfileVersion": 3, "packages": {}}')
write("vite.config.ts", 'import { componentTagger } from "lovable-tagger";\nexport default { build: { outDir: "dist" } };\n')
write("index.html", '<!doctype html><html><head><meta name="author" content="Lovable" /></head><body><div id="root"></div></body></html>\n')
write("src/integrations/supabase/client.ts", 'const SUPABASE_URL = "https://abcdefghijklmnopqrst.supabase.co";\n')
made = 6
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
  -n "rg --files (floor)" "rg --files --hidden --no-ignore -g !.git $REPO" >/dev/null

cat "$WORK/table.md"
python3 - "$WORK/result.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
ferry = r["ferry inspect --json"]["mean"]
rg = r["rg --files (floor)"]["mean"]
print(f"\nferry inspect: {ferry*1000:.1f} ms mean; rg --files: {rg*1000:.1f} ms; ratio {ferry/rg:.1f}x")
print("goal (< 1 s warm):", "MET" if ferry < 1.0 else "NOT MET")
PY
