// ferry's Base44 sign-in pages (/_ferry/base44/…) in headless Chromium, against an app ferry
// serves: the login page's accessibility basics, creating an account, a wrong then a right
// password, a foreign `from_url` that must not be followed, the forgotten-password round trip
// through the outbox (the reset link from the mail, mismatched then matching passwords, the
// spent link refused, the new password signing in), and the logout redirect. Every page state
// is saved as a PNG in the output folder. Also: with JavaScript off, submitting the form must
// not put the password in a URL.
//
// With env BASE44_VERIFY_EMAIL=1 (the app deployed with FERRY_BASE44_VERIFY_EMAIL=true) it
// runs the emailed-code scenario instead: sign-up asks for the code from the outbox (a wrong
// one refused, the right one signs in), and a user who signed up but never confirmed is, at
// sign-in, sent a new code and asked for it ("Send a new code" works too).
//
// Usage: node base44-login.mjs <edge-url> <app-id> <screenshot-dir> [outbox-command]
// The outbox command (else env OUTBOX_CMD) is run by the shell and prints
// `{"messages":[{"to","text",…}]}`, e.g. `ferry outbox --app <name> --json`.
import { chromium } from "playwright-core";
import { execSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const [base, appId, shots, outboxArg] = process.argv.slice(2);
const outboxCmd = outboxArg || process.env.OUTBOX_CMD;
if (!base || !appId || !shots || !outboxCmd) {
  console.error(
    "usage: node base44-login.mjs <edge-url> <app-id> <screenshot-dir> [outbox-command]\n" +
      "(the outbox command may come from env OUTBOX_CMD instead)",
  );
  process.exit(2);
}
mkdirSync(shots, { recursive: true });
const origin = new URL(base).origin;
const pages = "/_ferry/base44";
const api = `/api/apps/${encodeURIComponent(appId)}`;
const verifyMode = process.env.BASE44_VERIFY_EMAIL === "1";
const run = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
const email = `ada.${run}@example.test`;
const fullName = `Ada ${run}`;
const password = `first-${run}-Passw0rd`;
const newPassword = `second-${run}-Passw0rd`;

/** A failed check: what was expected, what happened. */
class Failure extends Error {}
function check(ok, message) {
  if (!ok) throw new Failure(message);
}

const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const browser = await chromium.launch({
  executablePath,
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});

// Console errors and page errors on ferry's pages fail the run, except a failed-request line
// while a step that expects an HTTP error (a wrong password, a spent link) is running.
const problems = [];
let expectHttpError = null;
let shotNo = 0;
let step = "setup";
const done = [];

try {
  const context = await browser.newContext({ viewport: { width: 900, height: 760 } });
  const page = await context.newPage();
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    const where = page.url();
    if (!where.includes(`${pages}/`)) return; // the app's own page is not under test here
    if (expectHttpError && expectHttpError.test(m.text())) return;
    problems.push(`[${step}] console error on ${where}: ${m.text()}`);
  });
  page.on("pageerror", (e) => {
    if (page.url().includes(`${pages}/`)) problems.push(`[${step}] page error: ${e.message}`);
  });
  page.on("request", (r) => {
    const host = new URL(r.url()).hostname;
    if (host.endsWith("evil.example")) problems.push(`[${step}] a request left the origin: ${r.url()}`);
  });

  const shot = async (name) => {
    shotNo += 1;
    const file = join(shots, `${verifyMode ? "v" : ""}${String(shotNo).padStart(2, "0")}-${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
  };
  const loginUrl = (from) => `${origin}${pages}/login?from_url=${encodeURIComponent(from)}`;
  // The section (view) a visible heading belongs to.
  const view = (heading) =>
    page.locator("section[data-view]").filter({ has: page.getByRole("heading", { name: heading }) });
  // The text of the alert region in `scope`, once it says something.
  const alertText = async (scope) => {
    const box = scope.getByRole("alert");
    await box.filter({ hasText: /\S/ }).waitFor({ timeout: 10_000 });
    return (await box.textContent()).trim();
  };
  const signedInAt = async (pathname) => {
    await page.waitForURL((u) => u.searchParams.has("access_token"), { timeout: 15_000 });
    const url = new URL(page.url());
    check(url.origin === origin, `signed in but landed on ${url.origin}, not ${origin}`);
    check(url.pathname === pathname, `signed in but landed on ${url.pathname}, expected ${pathname}`);
    const token = url.searchParams.get("access_token");
    check(/^[\w-]+\.[\w-]+\.[\w-]+$/.test(token), `access_token is not a JWT: ${token}`);
    return { url, token };
  };
  const me = async (token) => {
    const res = await page.request.get(`${origin}${api}/entities/User/me`, {
      headers: { Authorization: `Bearer ${token}`, "X-App-Id": appId },
    });
    check(res.status() === 200, `User/me with the token answered ${res.status()}: ${await res.text()}`);
    return res.json();
  };
  const signIn = async (scope, who, secret) => {
    await scope.getByLabel("Email", { exact: true }).fill(who);
    await scope.getByLabel("Password", { exact: true }).fill(secret);
    await scope.getByRole("button", { name: "Sign in" }).click();
  };

  // The newest mail to `to` whose text matches `re`: the match, and how many such mails there are.
  const mail = async (to, re, after = 0) => {
    for (let i = 0; i < 40; i += 1) {
      const out = execSync(outboxCmd, { encoding: "utf8", shell: "/bin/sh" });
      const mine = (JSON.parse(out).messages || []).filter((m) => m.to === to && re.test(m.text || ""));
      if (mine.length > after) return { found: mine[mine.length - 1].text.match(re)[0], count: mine.length };
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Failure(`no new mail to ${to} matching ${re} in the outbox (${outboxCmd})`);
  };

  if (verifyMode) {
    await verifyScenario({ page, shot, loginUrl, view, alertText, signedInAt, me, signIn, mail });
  } else {
    await mainScenario({ page, shot, loginUrl, view, alertText, signedInAt, me, signIn, mail });
  }
} catch (err) {
  problems.push(`[${step}] ${err instanceof Failure ? err.message : err.stack || err}`);
} finally {
  await browser.close();
}
for (const line of done) console.log(`ok: ${line}`);
if (problems.length) {
  console.error(`base44 sign-in pages: FAILED (screenshots in ${shots})\n${problems.join("\n")}`);
  process.exit(1);
}
console.log(`ok: all steps as ${email}; ${shotNo} screenshots in ${shots}`);

async function mainScenario({ page, shot, loginUrl, view, alertText, signedInAt, me, signIn, mail }) {
  // a. The login page: a heading, labelled inputs, no console error, accessibility basics.
  step = "a. login page";
  const first = await page.goto(loginUrl("/after?x=1"), { waitUntil: "networkidle" });
  check(first.status() === 200, `the login page answered ${first.status()}`);
  const csp = first.headers()["content-security-policy"] || "";
  check(/script-src 'self'/.test(csp), `the login page has no strict CSP: ${JSON.stringify(csp)}`);
  const login = view(/Sign in/);
  const heading = page.getByRole("heading", { name: /Sign in/ });
  check(await heading.isVisible(), "no visible \"Sign in\" heading");
  check((await page.getByRole("heading", { level: 1 }).filter({ visible: true }).count()) === 1,
    "the login page shows more than one level-1 heading at once");
  const loginEmail = login.getByLabel("Email", { exact: true });
  const loginPassword = login.getByLabel("Password", { exact: true });
  check(await loginEmail.isVisible(), "no visible input labelled Email");
  check(await loginPassword.isVisible(), "no visible input labelled Password");
  check((await loginPassword.getAttribute("type")) === "password", "the password input is not type=password");
  check(await loginEmail.evaluate((el) => el === document.activeElement), "the email input does not have the focus");
  const a11y = await page.evaluate(() => {
    const issues = [];
    if (!document.documentElement.lang) issues.push("<html> has no lang");
    if (!document.title.trim()) issues.push("the page has no title");
    for (const el of document.querySelectorAll("input, select, textarea")) {
      if (el.type === "hidden") continue;
      const labelled = (el.labels && [...el.labels].some((l) => l.textContent.trim())) ||
        el.getAttribute("aria-label") || el.getAttribute("aria-labelledby");
      if (!labelled) issues.push(`input #${el.id || el.name} has no label`);
    }
    for (const b of document.querySelectorAll("button, a")) {
      if (!b.textContent.trim() && !b.getAttribute("aria-label")) issues.push(`a ${b.tagName} has no text`);
    }
    const ids = [...document.querySelectorAll("[id]")].map((e) => e.id);
    const dup = ids.filter((id, i) => ids.indexOf(id) !== i);
    if (dup.length) issues.push(`duplicate ids: ${dup.join(", ")}`);
    for (const l of document.querySelectorAll("label[for]")) {
      if (!document.getElementById(l.htmlFor)) issues.push(`label for=${l.htmlFor} points at nothing`);
    }
    for (const f of document.querySelectorAll("form")) {
      if (!f.querySelector('[role="alert"]')) issues.push(`form #${f.id} has no alert region`);
    }
    if (document.querySelector("script:not([src])")) issues.push("an inline <script>");
    return issues;
  });
  check(a11y.length === 0, `accessibility basics: ${a11y.join("; ")}`);
  await shot("login");
  done.push("a. login page: heading, labels, focus, CSP, lang/title/labels/ids, no console error");

  // Without the script (off, blocked, or not loaded yet), a submitted form must not put the
  // password in a URL: no request may carry it in its URL.
  step = "a. login page without JavaScript";
  {
    const bare = await browser.newContext({ javaScriptEnabled: false });
    try {
      const nojs = await bare.newPage();
      const secret = `nojs-${run}-secret`;
      const leaks = [];
      nojs.on("request", (r) => { if (r.url().includes(secret)) leaks.push(`${r.method()} ${r.url()}`); });
      await nojs.goto(loginUrl("/after?x=1"), { waitUntil: "networkidle" });
      // (Playwright's "JavaScript off" may still parse <noscript> as text, so the notice is
      // read from the markup rather than from the screen.)
      const notice = await nojs.evaluate(() => document.querySelector("noscript")?.textContent || "");
      const form = nojs.locator("section[data-view]:not([hidden])");
      await form.getByLabel("Email", { exact: true }).fill(email);
      await form.getByLabel("Password", { exact: true }).fill(secret);
      await form.getByRole("button", { name: "Sign in" }).click();
      await nojs.waitForLoadState("networkidle");
      check(leaks.length === 0 && !nojs.url().includes(secret), `the password went into a URL: ${leaks.join(", ") || nojs.url()}`);
      check(/needs JavaScript/.test(notice), "no <noscript> notice that the page needs JavaScript");
      await nojs.getByRole("heading", { name: /needs JavaScript/ }).waitFor({ timeout: 10_000 });
      const again = nojs.getByRole("link", { name: "Try again" });
      check(new URL(await again.getAttribute("href"), origin).search === "?from_url=%2Fafter%3Fx%3D1",
        `"Try again" lost from_url: ${await again.getAttribute("href")}`);
      await nojs.screenshot({ path: join(shots, "01b-login-without-javascript.png"), fullPage: true });
    } finally {
      await bare.close();
    }
  }
  done.push("a. without JavaScript: a <noscript> notice, and a submitted password never lands in a URL");

  // b. Create an account → back on /after?x=1 with a token that is the new user's.
  step = "b. create an account";
  await page.getByRole("link", { name: "Create an account" }).click();
  const register = view(/Create your/);
  await register.waitFor();
  check(!(await heading.isVisible()), "the sign-in view is still shown next to the sign-up one");
  await register.getByLabel("Full name").fill(fullName);
  await register.getByLabel("Email", { exact: true }).fill(email);
  await register.getByLabel("Password", { exact: true }).fill(password);
  await shot("register-filled");
  await register.getByRole("button", { name: "Create account" }).click();
  {
    const { url, token } = await signedInAt("/after");
    check(url.search.startsWith("?x=1&access_token="), `from_url's query was not kept: ${url.search}`);
    await shot("after-register");
    const user = await me(token);
    check(user.email === email, `User/me answered ${JSON.stringify(user.email)}, expected ${email}`);
    check(user.full_name === fullName, `User/me full_name is ${JSON.stringify(user.full_name)}`);
  }
  done.push("b. sign-up lands on /after?x=1&access_token=…, and User/me is the new user");

  // c. A wrong password: an error in the form's alert, still on the login page. Then the right one.
  step = "c. wrong then right password";
  await page.goto(loginUrl("/after?x=1"), { waitUntil: "networkidle" });
  expectHttpError = /status of 401/;
  await signIn(login, email, `${password}-wrong`);
  const error = await alertText(login);
  expectHttpError = null;
  check(/invalid|wrong|incorrect/i.test(error), `the alert says ${JSON.stringify(error)}`);
  check(new URL(page.url()).pathname === `${pages}/login`, `a wrong password left the login page: ${page.url()}`);
  check(await login.getByRole("button", { name: "Sign in" }).isEnabled(), "the button stays disabled after an error");
  await shot("login-wrong-password");
  await loginPassword.fill(password);
  await login.getByRole("button", { name: "Sign in" }).click();
  {
    const { token } = await signedInAt("/after");
    check((await me(token)).email === email, "the token from signing in is not the user's");
  }
  await shot("after-login");
  done.push("c. wrong password: alert, still on the login page; right password: redirected with a token");

  // d. A foreign from_url is not followed.
  step = "d. foreign from_url";
  for (const from of ["https://evil.example/x", "//evil.example/x"]) {
    await page.goto(loginUrl(from), { waitUntil: "networkidle" });
    await signIn(login, email, password);
    const { token } = await signedInAt("/");
    check((await me(token)).email === email, "the token is not the user's");
  }
  await shot("after-foreign-from-url");
  done.push("d. from_url on evil.example (absolute and protocol-relative): lands on this origin's /");

  // e. Forgot password → the mail's link → a new password → sign in with it.
  step = "e. forgotten password";
  await page.goto(loginUrl("/after?x=1"), { waitUntil: "networkidle" });
  await page.getByRole("link", { name: "Forgot your password?" }).click();
  const forgot = view(/Reset your password/);
  await forgot.waitFor();
  await forgot.getByLabel("Email", { exact: true }).fill(email);
  await forgot.getByRole("button", { name: /Send/ }).click();
  const sent = await alertText(forgot);
  check(/link|sent|email/i.test(sent), `the confirmation says ${JSON.stringify(sent)}`);
  await shot("forgot-sent");

  const { found: link } = await mail(email, /\S*\/_ferry\/base44\/reset-password\?token=[^\s"'<>]+/);
  const linkUrl = new URL(link, origin);
  check(linkUrl.port === new URL(origin).port, `the reset link points at another port: ${link}`);
  // The link names the app's public host (a *.localhost name for `ferry up`); Chromium resolves
  // those to loopback itself, so the link is opened as mailed.
  const resetPage = await page.goto(linkUrl.href, { waitUntil: "networkidle" });
  check(resetPage.status() === 200, `the reset page answered ${resetPage.status()}`);
  await page.getByRole("heading", { name: /Choose a password/ }).waitFor();
  const resetA11y = await page.evaluate(() =>
    [...document.querySelectorAll("input")].filter((el) => !el.labels || !el.labels.length).map((el) => el.id));
  check(resetA11y.length === 0, `reset page inputs without a label: ${resetA11y.join(", ")}`);
  await shot("reset-page");
  const resetForm = page.locator("form#reset-form");
  await page.getByLabel("New password").fill(newPassword);
  await page.getByLabel("Repeat it").fill(`${newPassword}-typo`);
  await page.getByRole("button", { name: "Set password" }).click();
  const differ = await alertText(resetForm);
  check(/differ|match/i.test(differ), `mismatched passwords: the alert says ${JSON.stringify(differ)}`);
  await shot("reset-mismatch");
  await page.getByLabel("Repeat it").fill(newPassword);
  await page.getByRole("button", { name: "Set password" }).click();
  // Setting the password signs the user in: back on the app with a token that is theirs.
  await page.waitForURL((u) => u.searchParams.has("access_token"), { timeout: 15_000 });
  {
    const url = new URL(page.url());
    check(url.origin === linkUrl.origin, `after setting the password, landed on ${url.origin}`);
    check((await me(url.searchParams.get("access_token"))).email === email, "the reset's token is not the user's");
  }
  await shot("reset-done");

  // The link is spent: using it again is refused in the form.
  await page.goto(linkUrl.href, { waitUntil: "networkidle" });
  expectHttpError = /status of 400/;
  await page.getByLabel("New password").fill(`${newPassword}-again`);
  await page.getByLabel("Repeat it").fill(`${newPassword}-again`);
  await page.getByRole("button", { name: "Set password" }).click();
  const spent = await alertText(resetForm);
  expectHttpError = null;
  check(!/password is set/i.test(spent), `a spent reset link was accepted: ${JSON.stringify(spent)}`);
  await shot("reset-link-spent");

  // The old password no longer works; the new one does, from the page's own "Sign in" link.
  const old = await page.request.post(`${origin}${api}/auth/login`, {
    headers: { "X-App-Id": appId },
    data: { email, password },
  });
  check(old.status() === 401, `the old password still signs in (${old.status()})`);
  await page.goto(`${linkUrl.origin}${pages}/login`, { waitUntil: "networkidle" });
  await signIn(login, email, newPassword);
  await page.waitForURL((u) => u.searchParams.has("access_token"), { timeout: 15_000 });
  {
    const url = new URL(page.url());
    check(url.origin === linkUrl.origin && url.pathname === "/", `signed in with the new password at ${url.href}`);
    check((await me(url.searchParams.get("access_token"))).email === email, "the new password's token is not the user's");
  }
  await shot("after-new-password");
  done.push("e. forgot → confirmation; the mailed link; mismatch refused; new password set and signed in; spent link refused; old password 401; new one signs in");

  // f. The SDK's logout redirect.
  step = "f. logout";
  const bye = await page.goto(`${origin}${pages}/api/apps/auth/logout?from_url=%2Fbye`, { waitUntil: "networkidle" });
  const hop = bye.request().redirectedFrom();
  check(hop && (await hop.response()).status() === 302, "logout did not answer a 302");
  check(new URL(page.url()).origin === origin && new URL(page.url()).pathname === "/bye", `logout went to ${page.url()}`);
  await shot("after-logout");
  await page.goto(`${origin}${pages}/api/apps/auth/logout?from_url=${encodeURIComponent("https://evil.example/x")}`,
    { waitUntil: "networkidle" });
  check(new URL(page.url()).origin === origin && new URL(page.url()).pathname === "/", `a foreign logout from_url went to ${page.url()}`);
  done.push("f. logout?from_url=/bye → 302 → /bye; a foreign from_url → /");
}

async function verifyScenario({ page, shot, loginUrl, view, alertText, signedInAt, me, signIn, mail }) {
  const codeRe = /\b\d{6}\b/;
  const enterCode = async (scope, code) => {
    await scope.getByLabel("Code").fill(code);
    await scope.getByRole("button", { name: /Verify/ }).click();
  };

  // g1. Sign-up asks for the emailed code; a wrong code is refused, the right one signs in.
  step = "g1. sign-up with the emailed code";
  await page.goto(loginUrl("/after?x=1"), { waitUntil: "networkidle" });
  await page.getByRole("link", { name: "Create an account" }).click();
  const register = view(/Create your/);
  await register.getByLabel("Full name").fill(fullName);
  await register.getByLabel("Email", { exact: true }).fill(email);
  await register.getByLabel("Password", { exact: true }).fill(password);
  await register.getByRole("button", { name: "Create account" }).click();
  const verify = view(/Check your email/);
  await verify.waitFor({ timeout: 10_000 });
  check((await verify.locator("#otp-email").textContent()) === email, "the code view does not name the email");
  check(await verify.getByLabel("Code").evaluate((el) => el === document.activeElement), "the code input does not have the focus");
  await shot("verify-code");
  const { found: code } = await mail(email, codeRe);
  expectHttpError = /status of 400/;
  await enterCode(verify, code === "000000" ? "111111" : "000000");
  const wrong = await alertText(verify);
  expectHttpError = null;
  check(/invalid|wrong|incorrect/i.test(wrong), `a wrong code: the alert says ${JSON.stringify(wrong)}`);
  check(new URL(page.url()).pathname === `${pages}/login`, `a wrong code left the page: ${page.url()}`);
  await shot("verify-wrong-code");
  await enterCode(verify, code);
  {
    const { url, token } = await signedInAt("/after");
    check(url.search.startsWith("?x=1&access_token="), `from_url's query was not kept: ${url.search}`);
    check((await me(token)).email === email, "the token after the code is not the user's");
  }
  await shot("verify-signed-in");
  done.push("g1. verify_email: sign-up shows the code view; a wrong code is refused; the mailed code signs in");

  // g2. Signed up, never confirmed, back later: signing in sends a new code and asks for it.
  step = "g2. sign in before confirming";
  const later = `bob.${run}@example.test`;
  await page.goto(loginUrl("/after?x=1"), { waitUntil: "networkidle" });
  await page.getByRole("link", { name: "Create an account" }).click();
  await register.getByLabel("Email", { exact: true }).fill(later);
  await register.getByLabel("Password", { exact: true }).fill(password);
  await register.getByRole("button", { name: "Create account" }).click();
  await verify.waitFor({ timeout: 10_000 });
  const { count: mailed } = await mail(later, codeRe);
  await page.goto(loginUrl("/after?x=1"), { waitUntil: "networkidle" });
  const login = view(/Sign in/);
  expectHttpError = /status of 403/;
  await signIn(login, later, password);
  await verify.waitFor({ timeout: 10_000 }).catch(async () => {
    const said = (await login.getByRole("alert").textContent()).trim();
    throw new Failure(`signing in before confirming did not ask for the code; the page says ${JSON.stringify(said)}`);
  });
  expectHttpError = null;
  const note = await alertText(verify);
  check(/new code/i.test(note), `signing in unconfirmed: the code view says ${JSON.stringify(note)}`);
  check((await verify.locator("#otp-email").textContent()) === later, "the code view does not name the email");
  await shot("verify-at-sign-in");
  const second = await mail(later, codeRe, mailed);
  await verify.getByRole("button", { name: "Send a new code" }).click();
  await verify.getByRole("alert").filter({ hasText: /on its way/i }).waitFor({ timeout: 10_000 });
  const third = await mail(later, codeRe, second.count);
  await shot("verify-resent");
  await enterCode(verify, third.found);
  {
    const { token } = await signedInAt("/after");
    check((await me(token)).email === later, "the token after the resent code is not the user's");
  }
  await page.goto(loginUrl("/after?x=1"), { waitUntil: "networkidle" });
  await signIn(login, later, password);
  await signedInAt("/after");
  done.push("g2. unconfirmed user signing in: a new code is sent and asked for; \"Send a new code\" sends another; it signs in, and later sign-ins need no code");
}
