// Loads the Express example (examples/express-app) served by ferry in headless Chromium: the
// page fetches /api/items from the app's process and renders the items and the release; fails
// on any console error, page error, failed request or HTTP error, and saves a screenshot.
// Usage: node express.mjs <edge-url> <screenshot-dir> [expected-release-name]
import { mkdirSync } from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";

const [base, shots, expected = "v1"] = process.argv.slice(2);
if (!base || !shots) {
  console.error("usage: node express.mjs <edge-url> <screenshot-dir> [release-name]");
  process.exit(2);
}
mkdirSync(shots, { recursive: true });
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const browser = await chromium.launch({
  executablePath,
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
const problems = [];
let rendered = [];
try {
  const page = await browser.newPage();
  page.on("console", (m) => { if (m.type() === "error") problems.push(`console: ${m.text()}`); });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("requestfailed", (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
  page.on("response", (r) => { if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`); });

  const api = page.waitForResponse((r) => new URL(r.url()).pathname === "/api/items");
  const home = await page.goto(base, { waitUntil: "networkidle" });
  if (home.status() !== 200) problems.push(`home answered ${home.status()}`);
  if (!home.headers()["x-ferry-release"]) problems.push("home has no x-ferry-release header");
  const items = await api;
  if (items.status() !== 200) problems.push(`/api/items answered ${items.status()}`);
  if (!(items.headers()["content-type"] || "").includes("application/json")) {
    problems.push(`/api/items is ${items.headers()["content-type"]}`);
  }

  await page.locator('#items[data-loaded="true"] li').first().waitFor();
  rendered = await page.locator("#items li").allTextContents();
  const want = ["Write the server", "Run ferry up", "Roll back in a blink"];
  if (JSON.stringify(rendered) !== JSON.stringify(want)) {
    problems.push(`the list shows ${JSON.stringify(rendered)}, expected ${JSON.stringify(want)}`);
  }
  const release = await page.getByTestId("release").textContent();
  if (release !== expected) problems.push(`the page shows release ${JSON.stringify(release)}, expected ${expected}`);
  await page.screenshot({ path: path.join(shots, "express-items.png"), fullPage: true });
} finally {
  await browser.close();
}
if (problems.length) {
  console.error(problems.join("\n"));
  process.exit(1);
}
console.log(`ok: / rendered ${rendered.length} items from /api/items, release ${expected}; no console errors`);
