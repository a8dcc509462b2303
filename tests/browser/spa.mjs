// Loads an app ferry serves in headless Chromium: the home page, a client-side route by
// clicking, a reload on that deep link, and a typed deep link; fails on any console error,
// page error or failed request. Usage: node spa.mjs <base-url> <expected-release-id>
import { chromium } from "playwright-core";

const [base, release] = process.argv.slice(2);
if (!base) {
  console.error("usage: node spa.mjs <base-url> [release-id]");
  process.exit(2);
}
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const browser = await chromium.launch({
  executablePath,
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
const problems = [];
try {
  const page = await browser.newPage();
  page.on("console", (m) => { if (m.type() === "error") problems.push(`console: ${m.text()}`); });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("requestfailed", (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
  page.on("response", (r) => { if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`); });

  const home = await page.goto(base, { waitUntil: "networkidle" });
  if (home.status() !== 200) problems.push(`home answered ${home.status()}`);
  if (release && home.headers()["x-ferry-release"] !== release) {
    problems.push(`home came from ${home.headers()["x-ferry-release"]}, expected ${release}`);
  }
  await page.getByRole("heading", { name: "Task Board" }).waitFor();

  await page.getByTestId("about-link").click();
  await page.getByTestId("about-title").waitFor();
  if (!page.url().endsWith("/about")) problems.push(`client route went to ${page.url()}`);

  const reloaded = await page.reload({ waitUntil: "networkidle" });
  if (reloaded.status() !== 200) problems.push(`reload on /about answered ${reloaded.status()}`);
  await page.getByTestId("about-title").waitFor();

  const deep = await page.goto(new URL("/tasks/2", base).href, { waitUntil: "networkidle" });
  if (deep.status() !== 200) problems.push(`deep link answered ${deep.status()}`);
  const title = await page.getByTestId("task-title").textContent();
  if (title !== "Run ferry up") problems.push(`deep link shows ${JSON.stringify(title)}`);
} finally {
  await browser.close();
}
if (problems.length) {
  console.error(problems.join("\n"));
  process.exit(1);
}
console.log("ok: home, client route, reload on /about, deep link /tasks/2; no console errors");
