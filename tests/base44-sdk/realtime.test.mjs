// Realtime subscriptions through @base44/sdk 0.8.50's own socket.io client
// (`entities.X.subscribe(cb)`: socket.io at /ws-user-apps/socket.io/, websocket transport,
// room `entities:{appId}:{Entity}`, event `update_model`), with writes made by other clients:
// - create/update/delete events carry {type, data, id, timestamp} with the record as the API
//   answered it; bulkCreate, updateMany, deleteMany and upsert publish theirs too;
// - unsubscribing stops the callback;
// - RLS per subscriber: another user subscribed to the owner-only Task receives nothing of
//   alice's records (not even the id of a delete) while alice and an admin receive them; an
//   anonymous subscriber (or one with an invalid token) receives the public Announcement's
//   events and nothing of Task;
// - a client whose serverUrl carries a path (a socket.io namespace, as ferry's own build env
//   sets `/_ferry/base44`) receives them too;
// - 1,000 sequential writes arrive complete and in order;
// - the polling transport is refused with a JSON 400.
//
// "Receives nothing" is checked without sleeping: every subscriber also listens to the public
// Announcement, and after the writes under test a fence announcement is created; one socket
// receives events in the order they were published, so once the fence has arrived, anything
// published before it would have arrived too.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { createClient } from "@base44/sdk";

import { APP_ID, FERRY_URL, RUN, client, signUp, signUpAdmin } from "./helpers.mjs";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits (up to `ms`) until `predicate()` holds. */
async function until(predicate, what, ms = 15000) {
  const end = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

const clients = [];
function track(c) {
  clients.push(c);
  return c;
}

/** A subscriber on `c` to `names` and to Announcement (the fence), events kept per entity. */
function subscribe(c, names) {
  const got = {};
  const unsubscribe = {};
  for (const name of [...names, "Announcement"]) {
    got[name] = [];
    unsubscribe[name] = c.entities[name].subscribe((event) => got[name].push(event));
  }
  return { client: c, got, unsubscribe };
}

let writer;
let fences = 0;

/**
 * Creates announcements (as `writer`) until each subscriber has received one: after it, every
 * event published earlier has reached them. Repeated at first, while the sockets connect and
 * join their rooms.
 */
async function fence(...subs) {
  for (;;) {
    fences += 1;
    const mark = await writer.client.entities.Announcement.create({ body: `fence ${fences}`, run: RUN });
    const end = Date.now() + 1000;
    while (Date.now() < end) {
      if (subs.every((s) => s.got.Announcement.some((e) => e.id === mark.id))) return mark;
      await sleep(10);
    }
  }
}

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

let alice;
let bob;
let admin;

before(async () => {
  writer = await signUp("rt-writer");
  alice = await signUp("rt-alice");
  bob = await signUp("rt-bob");
  admin = await signUpAdmin("rt-admin");
});

after(() => {
  for (const c of clients) c.cleanup();
  for (const u of [writer, alice, bob, admin]) u?.client.cleanup();
});

describe("events of one record", () => {
  test("create, update and delete arrive with {type, data, id, timestamp}", async () => {
    // Alice subscribes on one client and writes from another (same user, another socket).
    const sub = subscribe(track(client(alice.token)), ["Task"]);
    await fence(sub);
    const Task = track(client(alice.token)).entities.Task;
    const created = await Task.create({ title: `live-${RUN}`, priority: 3, tags: ["x"] });
    const updated = await Task.update(created.id, { title: `live2-${RUN}` });
    await Task.delete(created.id);
    await until(() => sub.got.Task.length >= 3, "three Task events");
    const [c, u, d] = sub.got.Task;
    assert.equal(c.type, "create");
    assert.equal(c.id, created.id);
    assert.deepEqual(c.data, created);
    assert.match(c.timestamp, ISO);
    assert.equal(u.type, "update");
    assert.equal(u.id, created.id);
    assert.deepEqual(u.data, updated);
    assert.equal(u.data.title, `live2-${RUN}`);
    assert.equal(d.type, "delete");
    assert.equal(d.id, created.id);
    assert.equal(d.data.id, created.id);
    assert.match(d.timestamp, ISO);
    await fence(sub);
    assert.equal(sub.got.Task.length, 3, "no other event");
  });

  test("bulkCreate, updateMany, upsert and deleteMany publish every record", async () => {
    const sub = subscribe(track(client(alice.token)), ["Task"]);
    await fence(sub);
    const Task = alice.client.entities.Task;
    const tag = `bulk-${RUN}`;
    const made = await Task.bulkCreate([1, 2, 3].map((priority) => ({ title: tag, priority })));
    await Task.updateMany({ title: tag }, { $set: { done: true } });
    await Task.deleteMany({ title: tag });
    await fence(sub);
    const ids = made.map((r) => r.id);
    const of = (type) => sub.got.Task.filter((e) => e.type === type && ids.includes(e.id));
    assert.deepEqual(of("create").map((e) => e.data.priority), [1, 2, 3]);
    assert.equal(of("update").length, 3);
    assert.ok(of("update").every((e) => e.data.done === true));
    assert.deepEqual(of("delete").map((e) => e.id).sort(), [...ids].sort());
  });

  test("unsubscribing stops the callback", async () => {
    const sub = subscribe(track(client(alice.token)), ["Task"]);
    await fence(sub);
    const Task = alice.client.entities.Task;
    const first = await Task.create({ title: `before-unsub-${RUN}` });
    await until(() => sub.got.Task.some((e) => e.id === first.id), "the first event");
    sub.unsubscribe.Task();
    const second = await Task.create({ title: `after-unsub-${RUN}` });
    await fence(sub);
    assert.ok(!sub.got.Task.some((e) => e.id === second.id), "an event after unsubscribe");
  });
});

describe("row-level security per subscriber", () => {
  test("another user receives nothing of the owner's Task records; the owner and an admin do", async () => {
    const owner = subscribe(track(client(alice.token)), ["Task"]);
    const other = subscribe(track(client(bob.token)), ["Task"]);
    const boss = subscribe(track(client(admin.token)), ["Task"]);
    await fence(owner, other, boss);
    const Task = alice.client.entities.Task;
    const task = await Task.create({ title: `private-${RUN}` });
    await Task.update(task.id, { title: `private2-${RUN}` });
    await Task.bulkCreate([{ title: `private3-${RUN}` }]);
    await Task.delete(task.id);
    // Bob's own record reaches him (his subscription works).
    const his = await bob.client.entities.Task.create({ title: `bobs-${RUN}` });
    await fence(owner, other, boss);
    assert.deepEqual(
      other.got.Task.map((e) => e.id),
      [his.id],
      "bob received alice's records",
    );
    assert.deepEqual(
      owner.got.Task.filter((e) => e.id === task.id).map((e) => e.type),
      ["create", "update", "delete"],
    );
    assert.ok(!owner.got.Task.some((e) => e.id === his.id), "alice received bob's record");
    assert.equal(boss.got.Task.length, 5, "the admin reads every Task");
  });

  test("an anonymous subscriber receives the public entity and nothing private", async () => {
    const anon = subscribe(track(client()), ["Task", "Project"]);
    // An invalid token is an anonymous subscriber, not a refused one.
    const forged = subscribe(track(client("not.a.token")), ["Task"]);
    await fence(anon, forged);
    const task = await alice.client.entities.Task.create({ title: `hidden-${RUN}` });
    await alice.client.entities.Task.delete(task.id);
    const note = await alice.client.entities.Announcement.create({ body: `public-${RUN}`, run: RUN });
    await fence(anon, forged);
    assert.deepEqual(anon.got.Task, []);
    assert.deepEqual(forged.got.Task, []);
    assert.deepEqual(anon.got.Project, []);
    const seen = anon.got.Announcement.find((e) => e.id === note.id);
    assert.ok(seen, "the public announcement reached the anonymous subscriber");
    assert.deepEqual(seen.data, note);
    assert.equal(seen.type, "create");
  });
});

test("a serverUrl with a path (a socket.io namespace) receives events", async () => {
  const prefixed = track(createClient({ serverUrl: `${FERRY_URL}/_ferry/base44`, appId: APP_ID, token: alice.token }));
  const sub = subscribe(prefixed, ["Task"]);
  await fence(sub);
  const task = await alice.client.entities.Task.create({ title: `ns-${RUN}` });
  await until(() => sub.got.Task.some((e) => e.id === task.id && e.type === "create"), "the namespaced event");
});

test("1,000 sequential writes arrive complete and in order", async () => {
  const sub = subscribe(track(client(alice.token)), ["Task"]);
  await fence(sub);
  const Task = track(client(alice.token)).entities.Task;
  const tag = `burst-${RUN}`;
  const started = Date.now();
  for (let i = 0; i < 1000; i += 1) {
    await Task.create({ title: tag, priority: i });
  }
  const written = Date.now();
  await until(() => sub.got.Task.filter((e) => e.data.title === tag).length >= 1000, "1,000 events");
  const received = Date.now();
  const got = sub.got.Task.filter((e) => e.data.title === tag);
  assert.equal(got.length, 1000);
  assert.deepEqual(
    got.map((e) => e.data.priority),
    Array.from({ length: 1000 }, (_, i) => i),
  );
  assert.ok(got.every((e) => e.type === "create"));
  console.log(
    `# realtime burst: 1000 creates in ${written - started} ms, last event ${received - written} ms after the last write`,
  );
  await Task.deleteMany({ title: tag });
});

test("the polling transport is refused with a JSON 400", async () => {
  const res = await fetch(`${FERRY_URL}/ws-user-apps/socket.io/?EIO=4&transport=polling`);
  assert.equal(res.status, 400);
  const body = await res.json();
  assert.equal(body.code, 0);
  assert.match(body.message, /websocket/);
  const old = await fetch(`${FERRY_URL}/ws-user-apps/socket.io/?EIO=3&transport=websocket`);
  assert.equal(old.status, 400);
  assert.equal((await old.json()).code, 5);
});
