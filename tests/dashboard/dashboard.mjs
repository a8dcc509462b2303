// Drives ferry's web dashboard in headless Chromium (playwright-core + the system chromium):
// signs in with an API token, opens the app, rolls back with the confirmation page and sees
// the live release change on the page and in the edge's `x-ferry-release`; watches the live
// log pick up a new request; visits every page (apps, app, releases, logs, findings, env,
// audit filtered, jobs), saving a screenshot of each, running axe-core on each (no serious or
// critical violation) and checking a 375 px wide viewport needs no sideways scrolling. Every
// response body the browser receives is scanned for the planted secret.
//
// Usage: node dashboard.mjs  (configuration in the environment:)
//   DASH_URL     http://127.0.0.1:<control port>
//   DASH_TOKEN   an API token of the app's organisation (deploy or admin scope)
//   DASH_APP     the app's name          EDGE   127.0.0.1:<edge port>
//   FROM, TO     the live release and the one to roll back to
//   SECRET       the planted secret value  SHOTS  the screenshot folder
import { chromium } from "playwright-core";
import { createRequire } from "node:module";
import { readFileSync, mkdirSync, writeFileSync } from "node:fs";
import http from "node:http";

const env = (k) => {
  const v = process.env[k];
  if (!v) { console.error(`missing ${k}`); process.exit(2); }
  return v;
};
const [base, token, app, edge, from, to, secret, shots] =
  ["DASH_URL", "DASH_TOKEN", "DASH_APP", "EDGE", "FROM", "TO", "SECRET", "SHOTS"].map(env);
mkdirSync(shots, { recursive: true });
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

const problems = [];
const bodies = [];
const seen = [];

// A GET on the app's edge: its status, `x-ferry-release` and body.
function edgeGet(path) {
  const [host, port] = edge.split(":");
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port: Number(port), path, headers: { host: `${app}.localhost` } }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c) => { body += c; });
      res.on("end", () => resolve({ status: res.statusCode, release: res.headers["x-ferry-release"], body }));
    });
    req.on("error", reject);
  });
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  const page = await context.newPage();
  // Failed loads are judged by their status below, not by Chromium's console line.
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) problems.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  // The only answers of 400 and above expected: the wrong token's sign-in (401) and the
  // data jobs a token may not list (403).
  const expected = [[401, "/dashboard/login"], [403, "/dashboard/jobs"]];
  page.on("response", async (r) => {
    const path = new URL(r.url()).pathname;
    if (r.status() >= 400 && !expected.some(([s, p]) => s === r.status() && p === path)) {
      problems.push(`HTTP ${r.status()}: ${r.url()}`);
    }
    try {
      const text = await r.text();
      bodies.push(`${r.status()} ${r.url()}\n${text}`);
      if (text.includes(secret)) problems.push(`the planted secret is in ${r.url()}`);
    } catch { /* redirects have no body */ }
  });

  // Every page: a screenshot, axe-core (serious and critical violations fail), and at 375 px
  // no sideways scroll of the page itself.
  async function check(name) {
    await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
    await page.evaluate(axeSource);
    const result = await page.evaluate(() =>
      window.axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] } }));
    const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
    for (const v of bad) {
      problems.push(`${name}: axe ${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join("; ")})`);
    }
    const lang = await page.getAttribute("html", "lang");
    if (lang !== "en") problems.push(`${name}: html lang is ${lang}`);
    if (!(await page.title()).includes("ferry")) problems.push(`${name}: title ${await page.title()}`);
    await page.setViewportSize({ width: 375, height: 800 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    if (overflow > 0) problems.push(`${name}: ${overflow} px wider than a 375 px screen`);
    await page.screenshot({ path: `${shots}/${name}-375.png`, fullPage: true });
    await page.setViewportSize({ width: 1200, height: 900 });
    seen.push(`${name}(${result.violations.length} minor-or-moderate axe notes)`);
  }

  // Sign in: a wrong token first, then the real one; keyboard only.
  await page.goto(`${base}/`);
  if (!page.url().endsWith("/dashboard/login")) problems.push(`/ led to ${page.url()}, not the sign-in page`);
  await check("login");
  await page.keyboard.press("Tab"); // the skip link
  const skip = await page.evaluate(() => document.activeElement?.textContent);
  if (skip !== "Skip to content") problems.push(`first Tab stop is ${JSON.stringify(skip)}`);
  await page.getByLabel("API token").fill("fy_nothere_wrongsecret");
  await page.getByLabel("API token").press("Enter");
  await page.getByRole("alert").filter({ hasText: "refused" }).waitFor();
  await page.getByLabel("API token").fill(token);
  await page.getByLabel("API token").press("Enter");
  await page.getByRole("heading", { name: "Apps", level: 1 }).waitFor();
  await check("apps");

  // The app, its releases, the rollback with its confirmation.
  await page.getByRole("link", { name: app, exact: true }).click();
  await page.getByRole("heading", { name: app, level: 1 }).waitFor();
  if ((await page.textContent("#live-release")) !== from) problems.push(`app page shows live ${await page.textContent("#live-release")}, expected ${from}`);
  await check("app");
  await page.getByRole("navigation", { name: "App" }).getByRole("link", { name: "Releases" }).click();
  await page.getByRole("table").waitFor();
  await check("releases");
  await page.getByRole("link", { name: `Roll back to ${to}` }).click();
  await page.getByRole("heading", { name: `Roll back ${app} from ${from} to ${to}?` }).waitFor();
  await check("confirm");
  await page.getByRole("button", { name: `Confirm: Roll back to ${to}` }).click();
  await page.getByRole("status").filter({ hasText: `Rolled back to ${to}` }).waitFor();
  const live = await page.textContent("#live-release");
  if (live !== to) problems.push(`after the rollback the page shows live ${live}, expected ${to}`);
  const served = await edgeGet("/");
  if (served.release !== to) problems.push(`after the rollback the edge serves ${served.release}, expected ${to}`);
  await check("releases-after-rollback");

  // Live logs: a request made while the page is open shows up without a reload.
  await page.getByRole("navigation", { name: "App" }).getByRole("link", { name: "Logs" }).click();
  await page.locator("#log").waitFor();
  await page.getByText("Live: new lines appear").waitFor();
  const marker = `dashboard-marker-${Date.now()}`;
  await edgeGet(`/${marker}`);
  await page.locator("#log").filter({ hasText: marker }).waitFor({ timeout: 20000 });
  const logText = await page.textContent("#log");
  if (!logText.includes("secret=")) problems.push("the log lacks the app's secret= lines");
  await check("logs");

  for (const [tab, heading] of [["Findings", "findings"], ["Env", "env"]]) {
    await page.getByRole("navigation", { name: "App" }).getByRole("link", { name: tab }).click();
    await page.getByRole("heading", { name: `${app} · ${heading}` }).waitFor();
    await check(heading);
  }
  if (!(await page.content()).includes("SECRET_X")) problems.push("the env page does not list SECRET_X");

  // The audit log, filtered to the app's rollbacks.
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Audit log" }).click();
  await page.getByLabel("App").fill(app);
  await page.getByLabel("Action contains").fill("activate");
  await page.getByLabel("Since").selectOption("1h");
  await page.getByRole("button", { name: "Filter" }).click();
  await page.waitForURL(/since=1h/);
  const rows = await page.locator("tbody tr").count();
  if (rows < 1) problems.push("the filtered audit log is empty");
  const audit = await page.locator("tbody").textContent();
  if (!audit.includes(to)) problems.push("the filtered audit log does not show the rollback's release");
  await check("audit");

  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Data jobs" }).click();
  await page.getByRole("heading", { name: "Data jobs" }).waitFor();
  await check("jobs");

  // Sign out: the session ends.
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByRole("heading", { name: "Sign in" }).waitFor();
  await page.goto(`${base}/dashboard/apps/${app}`);
  if (!page.url().endsWith("/dashboard/login")) problems.push(`after sign-out the app page led to ${page.url()}`);
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
