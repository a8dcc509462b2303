// Records with @base44/sdk 0.8.50: create, get, update, delete, list (sort, limit, skip,
// fields), count, bulkCreate, bulkUpdate, deleteMany, client ids, and the error answers the
// SDK turns into Base44Error. On `Task`, whose rules keep each user to their own records, so
// a fresh user sees exactly what this file creates.

import assert from "node:assert/strict";
import { before, describe, test } from "node:test";

import { createClient } from "@base44/sdk";

import {
  FERRY_URL,
  HEX24,
  ISO_MS,
  MISSING_ID,
  RUN,
  client,
  pluck,
  rejects,
  signUp,
  stripServerFields,
  tick,
} from "./helpers.mjs";

let alice;
let Task;

before(async () => {
  alice = await signUp("crud");
  Task = alice.client.entities.Task;
});

describe("create, get, update, delete", () => {
  let created;

  test("create answers the stored record with the server's fields and the defaults", async () => {
    created = await Task.create({
      title: "Write the report",
      priority: 2,
      estimate: 1.5,
      due_date: "2026-03-01",
      remind_at: "2026-03-01T10:30:00+01:00",
      tags: ["work", "urgent"],
      meta: { owner: { name: "Ann" }, points: 3 },
      checklist: [{ item: "outline", done: true }],
      color: "red",
    });
    assert.match(created.id, HEX24);
    assert.match(created.created_date, ISO_MS);
    assert.equal(created.updated_date, created.created_date);
    assert.equal(created.created_by, alice.email);
    assert.equal(created.created_by_id, alice.user.id);
    assert.deepEqual(stripServerFields(created), {
      title: "Write the report",
      status: "todo",
      priority: 2,
      estimate: 1.5,
      done: false,
      due_date: "2026-03-01",
      remind_at: "2026-03-01T09:30:00.000Z",
      tags: ["work", "urgent"],
      meta: { owner: { name: "Ann" }, points: 3 },
      checklist: [{ item: "outline", done: true }],
      counter: 0,
      color: "red",
    });
  });

  test("get answers the same record", async () => {
    assert.deepEqual(await Task.get(created.id), created);
  });

  test("update is partial: given fields change, null clears, the rest is kept", async () => {
    await tick();
    const updated = await Task.update(created.id, {
      status: "doing",
      priority: null,
      color: null,
      note: "half done",
    });
    assert.equal(updated.id, created.id);
    assert.equal(updated.created_date, created.created_date);
    assert.equal(updated.created_by, alice.email);
    assert.ok(updated.updated_date > created.updated_date, "updated_date moves forward");
    assert.deepEqual(stripServerFields(updated), {
      title: "Write the report",
      status: "doing",
      estimate: 1.5,
      done: false,
      due_date: "2026-03-01",
      remind_at: "2026-03-01T09:30:00.000Z",
      tags: ["work", "urgent"],
      meta: { owner: { name: "Ann" }, points: 3 },
      checklist: [{ item: "outline", done: true }],
      counter: 0,
      note: "half done",
    });
    assert.deepEqual(await Task.get(created.id), updated);
  });

  test("update ignores the server's fields", async () => {
    const updated = await Task.update(created.id, {
      created_by: "someone@example.test",
      created_date: "2020-01-01T00:00:00.000Z",
      title: "Write the final report",
    });
    assert.equal(updated.created_by, alice.email);
    assert.equal(updated.created_date, created.created_date);
    assert.equal(updated.title, "Write the final report");
  });

  test("delete answers {success: true}; the record is gone", async () => {
    assert.deepEqual(await Task.delete(created.id), { success: true });
    await rejects(Task.get(created.id), 404, "not-found");
    await rejects(Task.delete(created.id), 404, "not-found");
    await rejects(Task.update(created.id, { title: "x" }), 404, "not-found");
  });
});

describe("list: sort, limit, skip, fields", () => {
  const made = [];

  before(async () => {
    // One by one, a few milliseconds apart: the default order is -created_date.
    for (const [title, priority] of [
      ["list-b", 2],
      ["list-d", 4],
      ["list-a", 1],
      ["list-c", 3],
    ]) {
      made.push(await Task.create({ title, priority, tags: [RUN] }));
      await tick();
    }
  });

  test("list() is newest first by default", async () => {
    const records = await Task.filter({ tags: RUN });
    assert.deepEqual(pluck(records, "title"), ["list-c", "list-a", "list-d", "list-b"]);
    const all = await Task.list();
    assert.deepEqual(pluck(all, "id"), pluck(records, "id"));
  });

  test("sort by a field, ascending and descending", async () => {
    assert.deepEqual(pluck(await Task.list("priority"), "title"), [
      "list-a",
      "list-b",
      "list-c",
      "list-d",
    ]);
    assert.deepEqual(pluck(await Task.list("-priority"), "title"), [
      "list-d",
      "list-c",
      "list-b",
      "list-a",
    ]);
    assert.deepEqual(pluck(await Task.list("title"), "title"), [
      "list-a",
      "list-b",
      "list-c",
      "list-d",
    ]);
    assert.deepEqual(pluck(await Task.list("created_date"), "title"), [
      "list-b",
      "list-d",
      "list-a",
      "list-c",
    ]);
  });

  test("limit and skip page through the sorted records", async () => {
    assert.deepEqual(pluck(await Task.list("priority", 2), "title"), ["list-a", "list-b"]);
    assert.deepEqual(pluck(await Task.list("priority", 2, 2), "title"), ["list-c", "list-d"]);
    assert.deepEqual(pluck(await Task.list("priority", 3, 3), "title"), ["list-d"]);
    assert.deepEqual(await Task.list("priority", 2, 4), []);
  });

  test("fields projects each record (the id is kept)", async () => {
    const records = await Task.list("priority", 2, 0, ["title", "priority"]);
    assert.deepEqual(records, [
      { id: made[2].id, title: "list-a", priority: 1 },
      { id: made[0].id, title: "list-b", priority: 2 },
    ]);
  });

  test("count() and count(query)", async () => {
    assert.equal(await Task.count(), 4);
    assert.equal(await Task.count({ priority: { $gte: 3 } }), 2);
    assert.equal(await Task.count({ title: "nothing like this" }), 0);
  });

  test("deleteMany removes the matching records and answers how many", async () => {
    assert.deepEqual(await Task.deleteMany({ priority: { $lte: 2 } }), {
      success: true,
      deleted: 2,
    });
    assert.deepEqual(pluck(await Task.list("priority"), "title"), ["list-c", "list-d"]);
    assert.deepEqual(await Task.deleteMany({ title: "nothing like this" }), {
      success: true,
      deleted: 0,
    });
    assert.deepEqual(await Task.deleteMany({ tags: RUN }), { success: true, deleted: 2 });
    assert.equal(await Task.count(), 0);
  });
});

describe("bulkCreate and bulkUpdate", () => {
  let bulk;

  test("bulkCreate answers the created records in input order", async () => {
    bulk = await Task.bulkCreate([
      { title: "bulk-1", priority: 1 },
      { title: "bulk-2", status: "doing", tags: ["b"] },
      { title: "bulk-3", done: true, extra_note: "kept" },
    ]);
    assert.equal(bulk.length, 3);
    assert.deepEqual(pluck(bulk, "title"), ["bulk-1", "bulk-2", "bulk-3"]);
    for (const record of bulk) {
      assert.match(record.id, HEX24);
      assert.equal(record.created_by, alice.email);
      assert.equal(record.created_by_id, alice.user.id);
    }
    assert.deepEqual(stripServerFields(bulk[0]), {
      title: "bulk-1",
      priority: 1,
      status: "todo",
      done: false,
      counter: 0,
    });
    assert.deepEqual(stripServerFields(bulk[1]), {
      title: "bulk-2",
      status: "doing",
      tags: ["b"],
      done: false,
      counter: 0,
    });
    assert.deepEqual(stripServerFields(bulk[2]), {
      title: "bulk-3",
      status: "todo",
      done: true,
      counter: 0,
      extra_note: "kept",
    });
    assert.equal(await Task.count({ title: { $regex: "^bulk-" } }), 3);
  });

  test("bulkUpdate applies each record's own changes, in input order", async () => {
    const updated = await Task.bulkUpdate([
      { id: bulk[2].id, status: "done", extra_note: null },
      { id: bulk[0].id, priority: 9, tags: ["x"] },
    ]);
    assert.deepEqual(pluck(updated, "id"), [bulk[2].id, bulk[0].id]);
    assert.deepEqual(stripServerFields(updated[0]), {
      title: "bulk-3",
      status: "done",
      done: true,
      counter: 0,
    });
    assert.deepEqual(stripServerFields(updated[1]), {
      title: "bulk-1",
      priority: 9,
      tags: ["x"],
      status: "todo",
      done: false,
      counter: 0,
    });
    assert.deepEqual(await Task.get(bulk[0].id), updated[1]);
    assert.equal((await Task.get(bulk[1].id)).status, "doing");
  });

  test("bulkUpdate with a missing record writes nothing (404, detail.index)", async () => {
    const error = await rejects(
      Task.bulkUpdate([
        { id: bulk[1].id, title: "should not stick" },
        { id: MISSING_ID, title: "nobody" },
      ]),
      404,
      "not-found",
    );
    assert.deepEqual(error.data.detail, { index: 1 });
    assert.equal((await Task.get(bulk[1].id)).title, "bulk-2");
  });

  test("bulkCreate with a bad record creates nothing (400, detail.index)", async () => {
    const error = await rejects(
      Task.bulkCreate([{ title: "fine" }, { title: "bad", priority: "high" }]),
      400,
      "bad-value",
    );
    assert.deepEqual(error.data.detail, { index: 1 });
    assert.equal(await Task.count({ title: "fine" }), 0);
  });
});

describe("client ids and refused records", () => {
  test("a record created with its own id keeps it; the same id again is 409", async () => {
    const id = `imported-${RUN}`;
    const record = await Task.create({ id, title: "imported" });
    assert.equal(record.id, id);
    assert.equal((await Task.get(id)).title, "imported");
    await rejects(Task.create({ id, title: "again" }), 409, "conflict");
  });

  test("values that do not fit the schema are 400 bad-value", async () => {
    await rejects(Task.create({ title: "x", status: "archived" }), 400, "bad-value");
    await rejects(Task.create({ title: "x", priority: "high" }), 400, "bad-value");
    await rejects(Task.create({ title: "x", priority: 1.5 }), 400, "bad-value");
    await rejects(Task.create({ title: "x", done: "yes" }), 400, "bad-value");
    await rejects(Task.create({ title: "x", due_date: "2026-02-30" }), 400, "bad-value");
    await rejects(Task.create({ title: "x", tags: "not-an-array" }), 400, "bad-value");
    assert.equal(await Task.count({ title: "x" }), 0);
  });

  test("an id that does not exist is 404", async () => {
    await rejects(Task.get(MISSING_ID), 404, "not-found");
  });

  test("an entity the app does not have is 404 unknown-entity", async () => {
    await rejects(alice.client.entities.NoSuchThing.list(), 404, "unknown-entity");
  });

  test("another app id is 404 unknown-app", async () => {
    const other = createClient({ serverUrl: FERRY_URL, appId: "ffffffffffffffffffffffff" });
    await rejects(other.entities.Task.list(), 404, "unknown-app");
  });

  test("an anonymous caller cannot create a Task (its create rule needs a user)", async () => {
    await rejects(client().entities.Task.create({ title: "anon" }), 403, "forbidden");
  });
});
