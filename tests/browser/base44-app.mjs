// A Base44 app of the 2026 template (examples/base44-app: React + Vite, @base44/sdk and
// @base44/vite-plugin, a base44/ folder with entities and a Deno function) deployed by ferry,
// used in headless Chromium the way its users use it: two people sign up on ferry's sign-in
// pages, one signs out and in again, they write notes (one with an uploaded picture that must
// display), edit and delete them through the app's own UI, see each other's notes arrive live
// (socket.io `subscribe`, no reload), and call the `noteStats` backend function. Every step is
// screenshotted. The last line on stdout is a JSON summary the Rust driver checks against the
// database with plain SQL.
//
// Usage: node base44-app.mjs <edge-url> <screenshot-dir>
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { deflateSync } from "node:zlib";

const [base, shots] = process.argv.slice(2);
if (!base || !shots) {
  console.error("usage: node base44-app.mjs <edge-url> <screenshot-dir>");
  process.exit(2);
}
mkdirSync(shots, { recursive: true });
const origin = new URL(base).origin;
const run = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
const people = {
  alice: { email: `alice.${run}@example.test`, name: "Alice Liddell", password: `alice-${run}-Pw1` },
  bob: { email: `bob.${run}@example.test`, name: "Bob Builder", password: `bob-${run}-Pw1` },
};

/** A failed check. */
class Failure extends Error {}
function check(ok, message) {
  if (!ok) throw new Failure(message);
}

/** A 24×16 PNG of one colour, made here (no file on disk, no network). */
function png(r, g, b) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const byte of buf) c = crcTable[(c ^ byte) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    out.write(type, 4, "ascii");
    data.copy(out, 8);
    out.writeUInt32BE(crc(out.subarray(4, 8 + data.length)), 8 + data.length);
    return out;
  };
  const [w, h] = [24, 16];
  const header = Buffer.alloc(13);
  header.writeUInt32BE(w, 0);
  header.writeUInt32BE(h, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // RGB
  const rows = Buffer.alloc(h * (1 + w * 3));
  for (let y = 0; y < h; y += 1) {
    for (let x = 0; x < w; x += 1) rows.set([r, g, b], y * (1 + w * 3) + 1 + x * 3);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", deflateSync(rows)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});

const problems = [];
const done = [];
let step = "setup";
let shotNo = 0;
const summary = { people: {}, notes: [], stats: null, attachment_url: null };

/** A browser session of one person, with its own cookies and storage. */
async function session(who) {
  const context = await browser.newContext({ viewport: { width: 900, height: 900 } });
  const page = await context.newPage();
  page.on("pageerror", (e) => problems.push(`[${step}] ${who}: page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" && !/status of 40[134]/.test(m.text())) {
      problems.push(`[${step}] ${who}: console error: ${m.text()}`);
    }
  });
  page.on("request", (r) => {
    const url = new URL(r.url());
    if (url.origin !== origin && url.protocol !== "data:" && url.protocol !== "blob:") {
      problems.push(`[${step}] ${who}: a request left the origin: ${r.url()}`);
    }
  });
  return page;
}

async function shot(page, name) {
  shotNo += 1;
  await page.screenshot({ path: join(shots, `${String(shotNo).padStart(2, "0")}-${name}.png`), fullPage: true });
}

const noteTitles = async (page) => (await page.getByTestId("note-title").allTextContents()).map((t) => t.trim());

async function waitForTitles(page, want, what) {
  try {
    await page.waitForFunction(
      (expected) => {
        const seen = [...document.querySelectorAll('[data-testid="note-title"]')].map((e) => e.textContent.trim());
        return expected.every((t) => (t.startsWith("!") ? !seen.includes(t.slice(1)) : seen.includes(t)));
      },
      want,
      { timeout: 10_000 },
    );
  } catch {
    throw new Failure(`${what}: wanted ${JSON.stringify(want)}, the list shows ${JSON.stringify(await noteTitles(page))}`);
  }
}

/** From the app's "Sign in" button through ferry's sign-up page back into the app. */
async function signUp(page, who) {
  const p = people[who];
  await page.goto(`${origin}/`, { waitUntil: "networkidle" });
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL((u) => u.pathname.endsWith("/login"), { timeout: 10_000 });
  await page.getByRole("link", { name: "Create an account" }).click();
  const form = page.locator("section[data-view]").filter({ has: page.getByRole("heading", { name: /Create your/ }) });
  await form.getByLabel("Full name").fill(p.name);
  await form.getByLabel("Email", { exact: true }).fill(p.email);
  await form.getByLabel("Password", { exact: true }).fill(p.password);
  await form.getByRole("button", { name: "Create account" }).click();
  await page.getByTestId("whoami").filter({ hasText: p.email }).waitFor({ timeout: 15_000 });
  check(new URL(page.url()).origin === origin, `${who} landed on ${page.url()}`);
  check(!new URL(page.url()).searchParams.has("access_token"), "the token stayed in the address bar");
}

async function addNote(page, title, body, file) {
  await page.getByLabel("Title", { exact: true }).fill(title);
  await page.getByLabel("Note", { exact: true }).fill(body);
  if (file) await page.getByLabel("Attachment").setInputFiles(file);
  await page.getByRole("button", { name: "Add note" }).click();
  await waitForTitles(page, [title], `after adding "${title}"`);
}

try {
  // 1. Alice signs up through the app's own "Sign in" button.
  step = "1. alice signs up";
  const alice = await session("alice");
  await alice.goto(`${origin}/`, { waitUntil: "networkidle" });
  check(await alice.getByRole("heading", { name: "Team Notes" }).isVisible(), "the app did not render");
  await shot(alice, "signed-out");
  await signUp(alice, "alice");
  await shot(alice, "alice-signed-up");
  done.push("1. sign-up from the app's button through ferry's page, back in the app as alice");

  // 2. Sign out, then sign in with the password.
  step = "2. alice signs out and in";
  await alice.getByRole("button", { name: "Sign out" }).click();
  await alice.getByRole("button", { name: "Sign in" }).waitFor({ timeout: 10_000 });
  await alice.getByRole("button", { name: "Sign in" }).click();
  await alice.waitForURL((u) => u.pathname.endsWith("/login"), { timeout: 10_000 });
  const login = alice.locator("section[data-view]").filter({ has: alice.getByRole("heading", { name: /Sign in/ }) });
  await login.getByLabel("Email", { exact: true }).fill(people.alice.email);
  await login.getByLabel("Password", { exact: true }).fill(people.alice.password);
  await login.getByRole("button", { name: "Sign in" }).click();
  await alice.getByTestId("whoami").filter({ hasText: people.alice.email }).waitFor({ timeout: 15_000 });
  done.push("2. sign-out, then sign-in with the password");

  // 3. A note with an uploaded picture: it lists, and the picture loads from ferry.
  step = "3. create with upload";
  await addNote(alice, "Alpha plan", "first things first", { name: "alpha.png", mimeType: "image/png", buffer: png(91, 33, 182) });
  const img = alice.getByRole("img", { name: "Attachment of Alpha plan" });
  await img.waitFor({ timeout: 10_000 });
  await alice.waitForFunction(
    () => [...document.querySelectorAll("img.attachment")].some((i) => i.complete && i.naturalWidth === 24),
    null,
    { timeout: 10_000 },
  ).catch(() => {
    throw new Failure("the uploaded picture did not display (naturalWidth 24 expected)");
  });
  summary.attachment_url = await img.getAttribute("src");
  check(new URL(summary.attachment_url, origin).origin === origin, `the picture is not served by ferry: ${summary.attachment_url}`);
  await shot(alice, "alice-note-with-picture");
  done.push(`3. create with an upload; the picture displays from ${new URL(summary.attachment_url, origin).pathname}`);

  // 4. Bob signs up in his own session and sees Alice's note.
  step = "4. bob signs up";
  const bob = await session("bob");
  await signUp(bob, "bob");
  await waitForTitles(bob, ["Alpha plan"], "bob's list");
  await bob.getByText(", live)").waitFor({ timeout: 10_000 });
  await bob.evaluate(() => { window.__sameDocument = true; });
  await shot(bob, "bob-sees-alpha");
  done.push("4. a second person signs up and lists the team's notes");

  // 5. Live: what Alice writes appears on Bob's open page without a reload.
  step = "5. live create";
  await addNote(alice, "Beta idea", "seen live by bob");
  await waitForTitles(bob, ["Beta idea"], "bob's live list after alice's create");
  check(await bob.evaluate(() => window.__sameDocument === true), "bob's page reloaded instead of updating live");
  await shot(bob, "bob-live-beta");
  done.push("5. a record created in another session appears live");

  // 6. Edit through the UI (and live on Bob's page); Bob gets no edit button on Alice's notes.
  step = "6. edit";
  await alice.getByRole("button", { name: "Edit Alpha plan" }).click();
  await alice.getByLabel("New title").fill("Alpha plan v2");
  await alice.getByRole("button", { name: "Save" }).click();
  await waitForTitles(alice, ["Alpha plan v2", "!Alpha plan"], "alice's list after the edit");
  await waitForTitles(bob, ["Alpha plan v2", "!Alpha plan"], "bob's live list after the edit");
  check((await bob.getByRole("button", { name: /^Edit / }).count()) === 0, "bob is offered to edit alice's notes");
  await shot(alice, "alice-edited");
  done.push("6. edit through the UI, seen live by the other session");

  // 7. Bob writes one; delete Alice's Beta: gone on both pages.
  step = "7. delete";
  await addNote(bob, "Gamma from Bob", "bob's own");
  await waitForTitles(alice, ["Gamma from Bob"], "alice's live list after bob's create");
  await alice.getByRole("button", { name: "Delete Beta idea" }).click();
  await waitForTitles(alice, ["!Beta idea"], "alice's list after the delete");
  await waitForTitles(bob, ["!Beta idea"], "bob's live list after the delete");
  await shot(bob, "bob-after-delete");
  done.push("7. delete through the UI, gone live on the other page");

  // 8. The backend function: the caller's own notes through `entities`, all through asServiceRole.
  step = "8. function";
  await alice.getByRole("button", { name: "Team statistics" }).click();
  const stats = alice.getByTestId("stats");
  await stats.waitFor({ timeout: 60_000 });
  const text = (await stats.textContent()).trim();
  const want = `${people.alice.email}: 1 of 2 notes are yours; latest: Gamma from Bob`;
  check(text === want, `the function answered ${JSON.stringify(text)}, expected ${JSON.stringify(want)}`);
  summary.stats = text;
  await shot(alice, "alice-stats");
  done.push(`8. the noteStats function: "${text}"`);

  // 9. Reload: the data is really stored.
  step = "9. reload";
  await alice.reload({ waitUntil: "networkidle" });
  await waitForTitles(alice, ["Alpha plan v2", "Gamma from Bob", "!Beta idea"], "after a reload");
  summary.notes = await noteTitles(alice);
  await shot(alice, "alice-reloaded");
  done.push("9. a reload shows the same notes");
  summary.people = { alice: people.alice.email, bob: people.bob.email };
} catch (err) {
  problems.push(`[${step}] ${err instanceof Failure ? err.message : err.stack || err}`);
} finally {
  await browser.close();
}
for (const line of done) console.log(`ok: ${line}`);
if (problems.length) {
  console.error(`base44 app: FAILED (screenshots in ${shots})\n${problems.join("\n")}`);
  process.exit(1);
}
console.log(JSON.stringify(summary));
