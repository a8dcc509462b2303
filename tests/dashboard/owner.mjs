// Drives the owner's sign-in to ferry's web dashboard in headless Chromium (playwright-core +
// the system chromium): opens the one-time link `ferry dashboard` printed, confirms on the page
// (the GET alone signs nobody in), sees "Signed in as the server's owner" and every
// organisation's app, then the data jobs page listing the real job with its status; its Verify
// button starts a verify job, listed as succeeded after a few reloads. Opening
// the same link again in a fresh browser context is refused as already used. Each page gets a
// screenshot, an axe-core run (no serious or critical violation) and a 375 px check; every
// response body is scanned for the planted secret.
//
// Usage: node owner.mjs  (configuration in the environment:)
//   OWNER_URL  the link (http://<control>/dashboard/owner?code=…)
//   JOB_ID, JOB_STATUS  the data job the jobs page must list
//   DASH_APP   an app of some organisation   SECRET  the planted secret   SHOTS  screenshot folder
import { chromium } from "playwright-core";
import { createRequire } from "node:module";
import { readFileSync, mkdirSync, writeFileSync } from "node:fs";

const env = (k) => {
  const v = process.env[k];
  if (!v) { console.error(`missing ${k}`); process.exit(2); }
  return v;
};
const [link, jobId, jobStatus, app, secret, shots] =
  ["OWNER_URL", "JOB_ID", "JOB_STATUS", "DASH_APP", "SECRET", "SHOTS"].map(env);
mkdirSync(shots, { recursive: true });
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

const problems = [];
const bodies = [];
const seen = [];

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});

// A browser context whose answers are all recorded and scanned; `allowed` lists the
// [status, path] pairs of 400 and above that are expected.
async function watchedPage(allowed) {
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  const page = await context.newPage();
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) problems.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("response", async (r) => {
    const path = new URL(r.url()).pathname;
    if (r.status() >= 400 && !allowed.some(([s, p]) => s === r.status() && p === path)) {
      problems.push(`HTTP ${r.status()}: ${r.url()}`);
    }
    try {
      const text = await r.text();
      bodies.push(`${r.status()} ${r.url()}\n${text}`);
      if (text.includes(secret)) problems.push(`the planted secret is in ${r.url()}`);
    } catch { /* redirects have no body */ }
  });
  return page;
}

// A screenshot, axe-core (serious and critical violations fail), lang, title, and no sideways
// scroll at 375 px.
async function check(page, name) {
  await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
  await page.evaluate(axeSource);
  const result = await page.evaluate(() =>
    window.axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] } }));
  for (const v of result.violations.filter((v) => v.impact === "serious" || v.impact === "critical")) {
    problems.push(`${name}: axe ${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join("; ")})`);
  }
  if ((await page.getAttribute("html", "lang")) !== "en") problems.push(`${name}: no lang="en"`);
  if (!(await page.title()).includes("ferry")) problems.push(`${name}: title ${await page.title()}`);
  await page.setViewportSize({ width: 375, height: 800 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (overflow > 0) problems.push(`${name}: ${overflow} px wider than a 375 px screen`);
  await page.screenshot({ path: `${shots}/${name}-375.png`, fullPage: true });
  await page.setViewportSize({ width: 1200, height: 900 });
  seen.push(`${name}(${result.violations.length} minor-or-moderate axe notes)`);
}

try {
  const page = await watchedPage([]);
  await page.goto(link);
  await page.getByRole("heading", { name: "Sign in as the server's owner", level: 1 }).waitFor();
  await check(page, "owner-confirm");
  // Keyboard only: Tab to the button, Enter.
  await page.getByRole("button", { name: "Sign in as the owner" }).focus();
  await page.keyboard.press("Enter");
  await page.getByRole("heading", { name: "Apps", level: 1 }).waitFor();
  const who = await page.textContent(".who");
  if (who !== "Signed in as the server's owner") problems.push(`the header says ${JSON.stringify(who)}`);
  // The owner sees every organisation's apps.
  if ((await page.getByRole("link", { name: app, exact: true }).count()) !== 1) problems.push(`the owner's apps page does not list ${app}`);
  await check(page, "owner-apps");

  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Data jobs" }).click();
  await page.getByRole("heading", { name: "Data jobs", level: 1 }).waitFor();
  const row = page.getByRole("row").filter({ hasText: jobId });
  if ((await row.count()) !== 1) {
    problems.push(`the jobs page does not list ${jobId}: ${await page.textContent("main")}`);
  } else {
    const text = await row.textContent();
    // Its update time is today's (jobs keep unix seconds, not milliseconds).
    const today = new Date().toISOString().slice(0, 10);
    for (const want of [jobStatus, "pull", "2 rows in 1 tables", today]) {
      if (!text.includes(want)) problems.push(`the job's row lacks ${want}: ${text}`);
    }
  }
  await check(page, "owner-jobs");

  // The finished pull's Verify button: a verify job appears and ends `succeeded` with the
  // target's rows (reloading like a person would until it is done).
  await row.getByRole("button", { name: /^Verify/ }).click();
  await page.getByRole("status").filter({ hasText: "Verify job" }).waitFor();
  const verifyRow = page.getByRole("row").filter({ hasText: "≟" }).filter({ hasText: jobId });
  let verifyText = "";
  for (let i = 0; i < 60; i++) {
    if ((await verifyRow.count()) === 1) {
      verifyText = await verifyRow.textContent();
      if (!verifyText.includes("running")) break;
    }
    await new Promise((r) => setTimeout(r, 250));
    await page.reload();
  }
  for (const want of ["verify", "succeeded", "2 rows in 1 tables"]) {
    if (!verifyText.includes(want)) problems.push(`the verify job's row lacks ${want}: ${verifyText}`);
  }
  if ((await verifyRow.getByRole("button", { name: /^Verify/ }).count()) !== 0) problems.push("a verify job offers Verify");
  await check(page, "owner-verify");

  // The same link in another browser: the confirmation shows, the POST is refused.
  const other = await watchedPage([[401, "/dashboard/owner"]]);
  await other.goto(link);
  await other.getByRole("button", { name: "Sign in as the owner" }).click();
  await other.getByRole("alert").filter({ hasText: "already used" }).waitFor();
  if ((await other.getByRole("button", { name: "Sign out" }).count()) !== 0) problems.push("a spent link signed in");
  await check(other, "owner-spent");
  await other.goto(link.replace(/owner\?code=.*/, "jobs"));
  if (!other.url().endsWith("/dashboard/login")) problems.push(`the refused browser reached ${other.url()}`);

  // Sign out ends the owner session.
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByRole("heading", { name: "Sign in" }).waitFor();
  await page.goto(link.replace(/owner\?code=.*/, "jobs"));
  if (!page.url().endsWith("/dashboard/login")) problems.push(`after sign-out the jobs page led to ${page.url()}`);
} catch (e) {
  problems.push(`script failed: ${e.stack || e}`);
} finally {
  await browser.close();
}
writeFileSync(`${shots}/bodies.txt`, bodies.join("\n\n"));
if (problems.length) {
  console.error(problems.join("\n"));
  process.exit(1);
}
console.log(`ok: ${seen.join(", ")}; ${bodies.length} responses without the secret`);
