// Backend functions (base44/functions/*, run by ferry under Deno) called with the real SDK's
// `base44.functions.invoke`, against the fixture in functions-app/ (crates/ferry/tests/
// base44_functions.rs deploys it with a 3 s call limit and a 64 MiB heap, then runs this file
// with FUNCTIONS_APP=1 and BASE44_APP_ID set to its id). Skipped in the main suite's run.

import assert from "node:assert/strict";
import { test } from "node:test";

const enabled = process.env.FUNCTIONS_APP === "1";
const h = enabled ? await import("./helpers.mjs") : null;

/** Every answer a client got in this file: none may carry the service token. */
const answers = [];

/** `functions.invoke`, answering `{status, data, headers}` for any status (the functions
 *  client does not unwrap or convert answers: a non-2xx is axios's error with `.response`). */
async function invoke(client, name, data) {
  let res;
  try {
    res = await client.functions.invoke(name, data);
  } catch (e) {
    if (!e.response) throw e;
    res = e.response;
  }
  const out = { status: res.status, data: res.data, headers: res.headers };
  answers.push(JSON.stringify({ data: out.data, headers: out.headers }));
  return out;
}

test("functions", { skip: !enabled && "FUNCTIONS_APP is not set (see crates/ferry/tests/base44_functions.rs)" }, async (t) => {
  const alice = await h.signUp("fn-alice");
  const bob = await h.signUp("fn-bob");

  await t.test("a signed-in call reaches the function as that user", async () => {
    const me = await invoke(alice.client, "notes", { action: "me" });
    assert.equal(me.status, 200);
    assert.equal(me.data.email, alice.email);
    assert.equal(me.data.id, alice.user.id);
    const other = await invoke(bob.client, "notes", { action: "me" });
    assert.equal(other.data.email, bob.email);
  });

  await t.test("the function's entity calls run as the caller, RLS applied", async () => {
    const a = await invoke(alice.client, "notes", { action: "create", text: `alice ${h.RUN}` });
    assert.equal(a.status, 200);
    assert.equal(a.data.created_by, alice.email);
    const b = await invoke(bob.client, "notes", { action: "create", text: `bob ${h.RUN}` });
    assert.equal(b.data.created_by, bob.email);
    // The user may not write AuditLog: refused inside the function.
    const refused = await invoke(alice.client, "notes", { action: "forbidden" });
    assert.deepEqual(refused.data, { refused: true, status: 403 });
    // Alice's own client agrees: the note she made through the function is hers.
    const mine = await alice.client.entities.Note.list();
    assert.deepEqual(mine.map((n) => n.text), [`alice ${h.RUN}`]);
  });

  await t.test("asServiceRole sees every row and bypasses RLS", async () => {
    const all = await invoke(alice.client, "notes", { action: "all" });
    assert.equal(all.status, 200);
    assert.ok(all.data.all.includes(`alice ${h.RUN}`), JSON.stringify(all.data));
    assert.ok(all.data.all.includes(`bob ${h.RUN}`), JSON.stringify(all.data));
    assert.deepEqual(all.data.mine, [`alice ${h.RUN}`]);
    const audit = await invoke(bob.client, "notes", { action: "audit", event: `by service ${h.RUN}` });
    assert.equal(audit.status, 200);
    assert.equal(typeof audit.data.id, "string");
  });

  await t.test("status, headers and body reach the caller unchanged", async () => {
    const teapot = await invoke(alice.client, "notes", { action: "teapot" });
    assert.equal(teapot.status, 418);
    assert.deepEqual(teapot.data, { brewed: false, reason: "a teapot" });
    assert.equal(teapot.headers["x-function"], "notes");
  });

  await t.test("a multipart call (a File among the params) reaches the function", async () => {
    const file = new File([`hello ${h.RUN}`], "hello.txt", { type: "text/plain" });
    const up = await invoke(alice.client, "notes", { file, title: "greeting" });
    assert.equal(up.status, 200);
    assert.deepEqual(up.data, {
      action: "upload",
      title: "greeting",
      file_name: "hello.txt",
      file_text: `hello ${h.RUN}`,
    });
  });

  await t.test("an anonymous call works when the function needs no user", async () => {
    const anon = await invoke(h.client(), "notes", {});
    assert.equal(anon.status, 200);
    assert.deepEqual(anon.data, { hello: "world", signed_in: false, method: "POST", query: null });
    // A plain GET with a query string reaches it too, under ferry's prefix as well.
    for (const prefix of ["", "/_ferry/base44"]) {
      const res = await fetch(`${h.FERRY_URL}${prefix}/api/apps/${h.APP_ID}/functions/notes?q=42`);
      assert.equal(res.status, 200, prefix);
      assert.deepEqual(await res.json(), { hello: "world", signed_in: false, method: "GET", query: "42" });
    }
  });

  await t.test("an unknown function is a 404 naming it", async () => {
    const none = await invoke(alice.client, "nope", {});
    assert.equal(none.status, 404);
    assert.equal(none.data.code, "function-not-found");
  });

  await t.test("the service token never reaches a client", async () => {
    // A caller cannot pose as ferry: its forged headers are replaced before the function runs.
    const res = await fetch(`${h.FERRY_URL}/api/apps/${h.APP_ID}/functions/notes`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "base44-service-authorization": "Bearer forged",
        "base44-api-url": "http://evil.example",
      },
      body: JSON.stringify({ action: "leak" }),
    });
    const text = await res.text();
    answers.push(text + JSON.stringify([...res.headers]));
    const leak = JSON.parse(text);
    assert.equal(res.status, 200);
    assert.match(leak.service, /^Bearer \[redacted: service token\]$/);
    assert.notEqual(leak.api, "http://evil.example");
    assert.match(leak.api, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(leak.app, h.APP_ID);
    assert.equal(res.headers.get("x-echo"), null, "a header holding the token is dropped");
    // A made-up service token is refused by the API.
    const forged = await fetch(`${h.FERRY_URL}/api/apps/${h.APP_ID}/entities/Note`, {
      headers: { authorization: "Bearer b44svc.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" },
    });
    assert.equal(forged.status, 401);
  });

  await t.test("a call over the time limit gets 504 and a fresh process serves the next", async () => {
    const before = await invoke(h.client(), "limits", {});
    assert.equal(before.status, 200);
    const started = Date.now();
    const slow = await invoke(h.client(), "limits", { action: "sleep", ms: 20_000 });
    assert.equal(slow.status, 504);
    assert.equal(slow.data.code, "function-timeout");
    assert.equal(slow.data.function, "limits");
    assert.ok(Date.now() - started < 10_000, "answered at the limit, not after the sleep");
    const after = await invoke(h.client(), "limits", {});
    assert.equal(after.status, 200);
    assert.notEqual(after.data.pid, before.data.pid, "the stuck process was replaced");
    const quick = await invoke(h.client(), "limits", { action: "sleep", ms: 100 });
    assert.deepEqual(quick.data, { slept: 100 });
  });

  await t.test("a call over the memory limit fails clearly and the next one works", async () => {
    const before = await invoke(h.client(), "limits", {});
    const hog = await invoke(h.client(), "limits", { action: "hog" });
    assert.equal(hog.status, 502);
    assert.equal(hog.data.code, "function-out-of-memory");
    assert.match(hog.data.message, /64 MiB/);
    const after = await invoke(h.client(), "limits", {});
    assert.equal(after.status, 200);
    assert.notEqual(after.data.pid, before.data.pid);
  });

  await t.test("no answer carried the service token", () => {
    assert.ok(answers.length >= 15, `${answers.length} answers`);
    for (const a of answers) assert.ok(!a.includes("b44svc."), a);
  });
});
