// OUTBOX_CMD for the development server: prints the JSON-lines outbox file that
// `base44_serve --outbox FILE` appends to as {"messages": [...]}, oldest first.
// Usage: node tests/base44-sdk/dev/outbox.mjs FILE
import { existsSync, readFileSync } from "node:fs";

const file = process.argv[2];
if (!file) {
  console.error("usage: node outbox.mjs FILE.jsonl");
  process.exit(2);
}
const text = existsSync(file) ? readFileSync(file, "utf8") : "";
const messages = text
  .split("\n")
  .filter((line) => line.trim() !== "")
  .map((line) => JSON.parse(line));
process.stdout.write(JSON.stringify({ messages }));
