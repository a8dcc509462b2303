// The subset the 2025 template generation uses, with @base44/sdk 0.1.x (installed as the
// alias `base44-sdk-01`): CRUD, filter, and auth. 0.1.x has no sign-in calls (apps got their
// token from Base44's login page through `?access_token=`), so each user signs up through
// 0.8.50 and hands the token to a 0.1.x client, as that page did. 0.1.x sends
// `X-Environment: prod` and always a `q` on filter.

import assert from "node:assert/strict";
import { before, describe, test } from "node:test";

import {
  HEX24,
  ISO_MS,
  MISSING_ID,
  RUN,
  client01,
  pluck,
  rejects,
  signUp,
  stripServerFields,
} from "./helpers.mjs";

let alice;
let bob;
let base44;

before(async () => {
  alice = await signUp("sdk01-alice");
  bob = await signUp("sdk01-bob");
  base44 = client01(alice.token);
});

describe("auth with 0.1.x", () => {
  test("getConfig reflects the client", () => {
    assert.equal(base44.getConfig().requiresAuth, false);
    assert.equal(base44.getConfig().env, "prod");
  });

  test("me() answers the signed-in user", async () => {
    const me = await base44.auth.me();
    assert.equal(me.id, alice.user.id);
    assert.equal(me.email, alice.email);
    assert.equal(me.role, "user");
    assert.equal(me.password_hash, undefined);
    assert.equal(await base44.auth.isAuthenticated(), true);
  });

  test("updateMe() changes the user's own fields, not the role", async () => {
    const updated = await base44.auth.updateMe({ full_name: "Alice Old SDK", role: "admin" });
    assert.equal(updated.full_name, "Alice Old SDK");
    assert.equal(updated.role, "user");
    assert.equal((await base44.auth.me()).full_name, "Alice Old SDK");
  });

  test("logout() then setToken()", async () => {
    const c = client01(alice.token);
    await c.auth.logout();
    await rejects(c.auth.me(), 401);
    assert.equal(await c.auth.isAuthenticated(), false);
    c.auth.setToken(alice.token);
    assert.equal((await c.auth.me()).email, alice.email);
    const late = client01();
    late.setToken(bob.token);
    assert.equal((await late.auth.me()).email, bob.email);
  });

  test("an anonymous client is 401 on me(); a bad token too", async () => {
    await rejects(client01().auth.me(), 401);
    await rejects(client01("garbage").auth.me(), 401, "token-invalid");
  });
});

describe("CRUD with 0.1.x", () => {
  let task;

  test("create", async () => {
    task = await base44.entities.Task.create({
      title: "old sdk task",
      priority: 3,
      tags: ["legacy"],
      meta: { owner: { name: "alice" } },
      legacy_flag: true,
    });
    assert.match(task.id, HEX24);
    assert.match(task.created_date, ISO_MS);
    assert.equal(task.created_by, alice.email);
    assert.deepEqual(stripServerFields(task), {
      title: "old sdk task",
      status: "todo",
      priority: 3,
      done: false,
      counter: 0,
      tags: ["legacy"],
      meta: { owner: { name: "alice" } },
      legacy_flag: true,
    });
  });

  test("get", async () => {
    assert.deepEqual(await base44.entities.Task.get(task.id), task);
    await rejects(base44.entities.Task.get(MISSING_ID), 404, "not-found");
  });

  test("update", async () => {
    const updated = await base44.entities.Task.update(task.id, { status: "done", legacy_flag: null });
    assert.equal(updated.status, "done");
    assert.equal(updated.priority, 3);
    assert.equal(updated.legacy_flag, undefined);
  });

  test("list with sort, limit, skip and fields", async () => {
    const more = await base44.entities.Task.bulkCreate([
      { title: "old-b", priority: 2 },
      { title: "old-c", priority: 1 },
    ]);
    assert.deepEqual(pluck(more, "title"), ["old-b", "old-c"]);
    assert.deepEqual(pluck(await base44.entities.Task.list("priority"), "title"), [
      "old-c",
      "old-b",
      "old sdk task",
    ]);
    assert.deepEqual(pluck(await base44.entities.Task.list("-priority", 2, 1), "title"), [
      "old-b",
      "old-c",
    ]);
    assert.deepEqual(await base44.entities.Task.list("priority", 1, 0, ["title"]), [
      { id: more[1].id, title: "old-c" },
    ]);
  });

  test("delete and deleteMany", async () => {
    assert.deepEqual(await base44.entities.Task.delete(task.id), { success: true });
    await rejects(base44.entities.Task.get(task.id), 404, "not-found");
    assert.deepEqual(await base44.entities.Task.deleteMany({ title: { $regex: "^old-" } }), {
      success: true,
      deleted: 2,
    });
    assert.deepEqual(await base44.entities.Task.list(), []);
  });
});

describe("filter with 0.1.x", () => {
  before(async () => {
    await base44.entities.Task.bulkCreate([
      { title: "f1", status: "todo", priority: 1, tags: ["a"], meta: { owner: { name: "x" } } },
      { title: "f2", status: "doing", priority: 2, tags: ["a", "b"] },
      { title: "f3", status: "done", priority: 3, tags: ["b"], meta: { owner: { name: "y" } } },
    ]);
  });

  const titles = async (query, ...rest) =>
    pluck(await base44.entities.Task.filter(query, ...(rest.length ? rest : ["title"])), "title");

  test("equality and comparison operators", async () => {
    assert.deepEqual(await titles({ status: "todo" }), ["f1"]);
    assert.deepEqual(await titles({ priority: { $gte: 2 } }), ["f2", "f3"]);
    assert.deepEqual(await titles({ status: { $in: ["todo", "done"] } }), ["f1", "f3"]);
    assert.deepEqual(await titles({ status: { $ne: "todo" } }), ["f2", "f3"]);
  });

  test("logic, arrays, nested fields, regex", async () => {
    assert.deepEqual(await titles({ $or: [{ priority: 1 }, { tags: "b", status: "done" }] }), [
      "f1",
      "f3",
    ]);
    assert.deepEqual(await titles({ tags: { $all: ["a", "b"] } }), ["f2"]);
    assert.deepEqual(await titles({ "meta.owner.name": "y" }), ["f3"]);
    assert.deepEqual(await titles({ title: { $regex: "^f[12]$" } }), ["f1", "f2"]);
  });

  test("sort, limit, skip and fields", async () => {
    assert.deepEqual(await titles({}, "-priority", 2), ["f3", "f2"]);
    assert.deepEqual(await titles({}, "-priority", 2, 2), ["f1"]);
    const projected = await base44.entities.Task.filter({ status: "doing" }, "title", 10, 0, [
      "status",
    ]);
    assert.equal(projected.length, 1);
    assert.deepEqual(Object.keys(projected[0]).sort(), ["id", "status"]);
  });

  test("another user's 0.1.x client sees none of these records", async () => {
    const theirs = client01(bob.token);
    assert.deepEqual(await theirs.entities.Task.filter({ title: { $in: ["f1", "f2", "f3"] } }), []);
    assert.deepEqual(await theirs.entities.Task.list(), []);
  });

  test("an anonymous 0.1.x client reads public records", async () => {
    const post = await base44.entities.Announcement.create({ body: "from 0.1", run: RUN });
    const anonymous = client01();
    assert.deepEqual(pluck(await anonymous.entities.Announcement.filter({ run: RUN }), "id"), [
      post.id,
    ]);
    await rejects(anonymous.entities.Announcement.create({ body: "x", run: RUN }), 403, "forbidden");
  });
});
