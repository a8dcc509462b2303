// Shared setup of the acceptance suite: the env contract, SDK clients of both versions,
// users signed up through the real auth calls, the outbox and the admin command.
//
// Env (all required):
//   FERRY_URL      the server, e.g. http://127.0.0.1:8080 (the SDK's `serverUrl`)
//   BASE44_APP_ID  the app's id (tests/base44-sdk/app/base44/.app.jsonc)
//   OUTBOX_CMD     a shell command printing {"messages": [{"to", "subject", "text", …}]},
//                  oldest first: every mail the server sent
//   ADMIN_CMD      a shell command run as `sh -c "$ADMIN_CMD \"\$1\"" sh <email>` that makes
//                  that user an admin

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";

import { createClient } from "@base44/sdk";
// 0.1.x declares `"type": "module"` but its `main` is a CommonJS build, which Node cannot
// load; apps got its `module` entry from their bundler (Vite), and so does the suite.
import { createClient as createClient01 } from "base44-sdk-01/dist/index.esm.js";

// Both SDK versions log every failed call to the console unless NODE_ENV is "production";
// most of those failures are expected here.
if (!process.env.NODE_ENV) process.env.NODE_ENV = "production";

function env(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(
      `${name} is not set: the suite needs FERRY_URL, BASE44_APP_ID, OUTBOX_CMD and ADMIN_CMD (see tests/base44-sdk/README.md)`,
    );
  }
  return value;
}

export const FERRY_URL = env("FERRY_URL").replace(/\/+$/, "");
export const APP_ID = env("BASE44_APP_ID");
const OUTBOX_CMD = env("OUTBOX_CMD");
const ADMIN_CMD = env("ADMIN_CMD");

/** A suffix unique to this run, so runs against the same database never meet. */
export const RUN = `${Date.now().toString(36)}${randomBytes(4).toString("hex")}`;

/** A password that passes ferry's rule (8–256 characters). */
export const PASSWORD = "correct horse battery 1";

let counter = 0;
/** A fresh, lower-case email address for this run. */
export function freshEmail(tag) {
  counter += 1;
  return `${tag}.${counter}.${RUN}@example.test`;
}

/** A @base44/sdk 0.8.50 client, anonymous unless `token` is given. */
export function client(token) {
  return createClient({ serverUrl: FERRY_URL, appId: APP_ID, ...(token ? { token } : {}) });
}

/** A @base44/sdk 0.1.x client, anonymous unless `token` is given. */
export function client01(token) {
  return createClient01({ serverUrl: FERRY_URL, appId: APP_ID, ...(token ? { token } : {}) });
}

// ---- mail --------------------------------------------------------------------------------

/** Every message of the outbox, oldest first. */
export function outbox() {
  const out = execFileSync("sh", ["-c", OUTBOX_CMD], { encoding: "utf8" });
  const parsed = JSON.parse(out);
  assert.ok(Array.isArray(parsed.messages), `OUTBOX_CMD printed no messages array: ${out}`);
  return parsed.messages;
}

/** The messages sent to `to` so far. */
export function mailTo(to) {
  return outbox().filter((m) => String(m.to).toLowerCase() === to.toLowerCase());
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs `action`, then waits (up to 10 s) for a new message to `to` and returns it with the
 * action's result: `{result, mail}`.
 */
export async function withMail(to, action) {
  const before = mailTo(to).length;
  const result = await action();
  for (let i = 0; i < 100; i += 1) {
    const now = mailTo(to);
    if (now.length > before) return { result, mail: now[before] };
    await sleep(100);
  }
  assert.fail(`no mail reached ${to}`);
}

/** The 6-digit code of a verification mail. */
export function codeFrom(mail) {
  const match = /(?<![\w-])(\d{6})(?![\w-])/.exec(mail.text);
  assert.ok(match, `no 6-digit code in mail: ${mail.text}`);
  return match[1];
}

/** The `token` parameter of the first link of a reset or invitation mail. */
export function linkTokenFrom(mail) {
  const link = /https?:\/\/\S+/.exec(mail.text);
  assert.ok(link, `no link in mail: ${mail.text}`);
  const token = new URL(link[0]).searchParams.get("token");
  assert.ok(token, `no token in link ${link[0]}`);
  return token;
}

// ---- users -------------------------------------------------------------------------------

/**
 * Registers a new user through `auth.register`, confirms the email code when the server asks
 * for one (`verify-otp`), and answers a 0.8.50 client signed in as that user with
 * `{client, token, user, email}`.
 */
export async function signUp(tag, { fullName } = {}) {
  const email = freshEmail(tag);
  const c = client();
  const full_name = fullName ?? `${tag} ${RUN}`;
  const { result: registered, mail } = await withMailIfAny(email, () =>
    c.auth.register({ email, password: PASSWORD, full_name }),
  );
  let session;
  if (registered.access_token) {
    session = registered;
  } else {
    assert.equal(registered.email, email);
    assert.ok(mail, "register asked for a code but no mail was sent");
    session = await c.auth.verifyOtp({ email, otpCode: codeFrom(mail) });
  }
  assert.equal(typeof session.access_token, "string");
  assert.equal(session.user.email, email);
  c.auth.setToken(session.access_token);
  return { client: c, token: session.access_token, user: session.user, email };
}

/** Like `withMail`, but a missing mail is not an error (answers `mail: undefined`). */
async function withMailIfAny(to, action) {
  const before = mailTo(to).length;
  const result = await action();
  if (result && result.access_token) return { result, mail: undefined };
  for (let i = 0; i < 100; i += 1) {
    const now = mailTo(to);
    if (now.length > before) return { result, mail: now[before] };
    await sleep(100);
  }
  return { result, mail: undefined };
}

/** Makes `email` an admin through ADMIN_CMD. */
export function makeAdmin(email) {
  execFileSync("sh", ["-c", `${ADMIN_CMD} "$1"`, "sh", email], { stdio: "pipe" });
}

/** A signed-up user made admin (the role applies to their existing token at once). */
export async function signUpAdmin(tag = "admin") {
  const admin = await signUp(tag);
  makeAdmin(admin.email);
  const me = await admin.client.auth.me();
  assert.equal(me.role, "admin", "ADMIN_CMD did not make the user an admin");
  return admin;
}

// ---- assertions --------------------------------------------------------------------------

/**
 * Awaits `promise`, expecting the SDK to reject it with a `Base44Error` of HTTP `status` and,
 * when given, error `code`; answers the error.
 */
export async function rejects(promise, status, code) {
  let error;
  try {
    const value = await promise;
    assert.fail(`expected HTTP ${status}${code ? ` ${code}` : ""}, got ${JSON.stringify(value)}`);
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    error = e;
  }
  assert.equal(error.name, "Base44Error", `not a Base44Error: ${error.stack ?? error}`);
  assert.equal(error.status, status, `status of ${JSON.stringify(error.data)}`);
  if (code !== undefined) assert.equal(error.code, code, `code of ${JSON.stringify(error.data)}`);
  assert.equal(typeof error.message, "string");
  return error;
}

/** A 24-hex id that no record has. */
export const MISSING_ID = "0000000000000000000000ff";

/** Records without the server's fields (`id`, dates, creator). */
export function stripServerFields(record) {
  const {
    id: _id,
    created_date: _c,
    updated_date: _u,
    created_by: _b,
    created_by_id: _bi,
    ...rest
  } = record;
  return rest;
}

/** The `key` of each record, in order. */
export const pluck = (records, key) => records.map((r) => r[key]);

/** Waits a few milliseconds, so records created one after the other get distinct dates. */
export const tick = () => sleep(5);

export const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
export const HEX24 = /^[0-9a-f]{24}$/;
