// filter() with @base44/sdk 0.8.50: every query operator the SDK documents, nested fields,
// arrays, undeclared fields, dates, sorting (nulls, nested keys), limit, skip and fields,
// over six hand-made tasks whose expected matches are written out below.

import assert from "node:assert/strict";
import { before, describe, test } from "node:test";

import { pluck, rejects, signUp } from "./helpers.mjs";

let Task;
const ids = {};

// Titles sort alphabetically in this order; each test names the titles it expects.
const DATA = [
  {
    title: "alpha",
    status: "todo",
    priority: 1,
    estimate: 0.5,
    done: false,
    due_date: "2026-01-10",
    remind_at: "2026-01-10T08:00:00Z",
    tags: ["red", "blue"],
    meta: { owner: { name: "ann" }, points: 3 },
    checklist: [
      { item: "x", done: true },
      { item: "y", done: false },
    ],
    color: "red",
  },
  {
    title: "bravo",
    status: "doing",
    priority: 2,
    estimate: 1.5,
    done: false,
    due_date: "2026-02-10",
    tags: ["blue"],
    meta: { owner: { name: "bob" }, points: 5 },
    checklist: [{ item: "x", done: false }],
  },
  {
    title: "charlie",
    status: "done",
    priority: 3,
    estimate: 2.5,
    done: true,
    due_date: "2026-03-10",
    tags: ["red", "green", "blue"],
    meta: { owner: { name: "Ann Lee" }, points: 8 },
    checklist: [],
  },
  {
    title: "delta",
    status: "todo",
    priority: 4,
    estimate: 4,
    done: true,
    tags: [],
    meta: { owner: { name: "dan" } },
    color: "blue",
  },
  {
    title: "echo",
    status: "doing",
    priority: 5,
    done: false,
    due_date: "2026-05-10",
    tags: ["green"],
    size: 10,
  },
  {
    title: "foxtrot",
    status: "done",
    estimate: 10,
    done: false,
    due_date: "2026-06-10",
    tags: ["red"],
    meta: { points: 1 },
  },
];

/** The titles matching `query`, in title order. */
async function titles(query) {
  return pluck(await Task.filter(query, "title"), "title");
}

before(async () => {
  const user = await signUp("query");
  Task = user.client.entities.Task;
  for (const record of await Task.bulkCreate(DATA)) ids[record.title] = record.id;
  assert.equal(Object.keys(ids).length, 6);
});

describe("comparison operators", () => {
  test("equality, $eq and $ne", async () => {
    assert.deepEqual(await titles({ status: "todo" }), ["alpha", "delta"]);
    assert.deepEqual(await titles({ status: { $eq: "doing" } }), ["bravo", "echo"]);
    assert.deepEqual(await titles({ status: { $ne: "done" } }), [
      "alpha",
      "bravo",
      "delta",
      "echo",
    ]);
    assert.deepEqual(await titles({ status: "todo", priority: 4 }), ["delta"]);
  });

  test("$ne also matches records without the field", async () => {
    assert.deepEqual(await titles({ priority: { $ne: 1 } }), [
      "bravo",
      "charlie",
      "delta",
      "echo",
      "foxtrot",
    ]);
  });

  test("$gt $gte $lt $lte on an integer field", async () => {
    assert.deepEqual(await titles({ priority: { $gt: 3 } }), ["delta", "echo"]);
    assert.deepEqual(await titles({ priority: { $gte: 3 } }), ["charlie", "delta", "echo"]);
    assert.deepEqual(await titles({ priority: { $lt: 2 } }), ["alpha"]);
    assert.deepEqual(await titles({ priority: { $lte: 2 } }), ["alpha", "bravo"]);
  });

  test("a range on a number field", async () => {
    assert.deepEqual(await titles({ estimate: { $gt: 1, $lt: 5 } }), [
      "bravo",
      "charlie",
      "delta",
    ]);
  });

  test("$in and $nin ($nin also matches a missing field)", async () => {
    assert.deepEqual(await titles({ status: { $in: ["todo", "done"] } }), [
      "alpha",
      "charlie",
      "delta",
      "foxtrot",
    ]);
    assert.deepEqual(await titles({ status: { $nin: ["todo", "done"] } }), ["bravo", "echo"]);
    assert.deepEqual(await titles({ priority: { $nin: [1, 2] } }), [
      "charlie",
      "delta",
      "echo",
      "foxtrot",
    ]);
  });

  test("an array value is shorthand for any of its values (the SDK's documented form)", async () => {
    assert.deepEqual(await titles({ status: ["todo", "doing"] }), [
      "alpha",
      "bravo",
      "delta",
      "echo",
    ]);
  });

  test("$exists and null", async () => {
    assert.deepEqual(await titles({ due_date: { $exists: false } }), ["delta"]);
    assert.deepEqual(await titles({ due_date: { $exists: true } }), [
      "alpha",
      "bravo",
      "charlie",
      "echo",
      "foxtrot",
    ]);
    assert.deepEqual(await titles({ estimate: null }), ["echo"]);
    assert.deepEqual(await titles({ color: { $exists: true } }), ["alpha", "delta"]);
  });

  test("booleans", async () => {
    assert.deepEqual(await titles({ done: true }), ["charlie", "delta"]);
    assert.deepEqual(await titles({ done: false }), ["alpha", "bravo", "echo", "foxtrot"]);
  });

  test("$regex, with and without $options", async () => {
    assert.deepEqual(await titles({ title: { $regex: "^[ab]" } }), ["alpha", "bravo"]);
    assert.deepEqual(await titles({ title: { $regex: "ha" } }), ["alpha", "charlie"]);
    assert.deepEqual(await titles({ "meta.owner.name": { $regex: "^ann" } }), ["alpha"]);
    assert.deepEqual(await titles({ "meta.owner.name": { $regex: "^ann", $options: "i" } }), [
      "alpha",
      "charlie",
    ]);
  });

  test("$not", async () => {
    assert.deepEqual(await titles({ priority: { $not: { $gt: 2 } } }), [
      "alpha",
      "bravo",
      "foxtrot",
    ]);
  });
});

describe("logical operators", () => {
  test("$and", async () => {
    assert.deepEqual(await titles({ $and: [{ status: "todo" }, { priority: { $gt: 1 } }] }), [
      "delta",
    ]);
  });

  test("$or", async () => {
    assert.deepEqual(await titles({ $or: [{ status: "doing" }, { priority: 1 }] }), [
      "alpha",
      "bravo",
      "echo",
    ]);
  });

  test("$nor", async () => {
    assert.deepEqual(await titles({ $nor: [{ status: "done" }, { done: true }] }), [
      "alpha",
      "bravo",
      "echo",
    ]);
  });

  test("nested logic", async () => {
    assert.deepEqual(
      await titles({
        $or: [
          { $and: [{ status: "done" }, { estimate: { $gte: 5 } }] },
          { $and: [{ status: "todo" }, { tags: { $size: 2 } }] },
        ],
      }),
      ["alpha", "foxtrot"],
    );
  });
});

describe("arrays and nested fields", () => {
  test("a value matches arrays holding it", async () => {
    assert.deepEqual(await titles({ tags: "red" }), ["alpha", "charlie", "foxtrot"]);
    assert.deepEqual(await titles({ tags: { $in: ["green"] } }), ["charlie", "echo"]);
  });

  test("$all", async () => {
    assert.deepEqual(await titles({ tags: { $all: ["red", "blue"] } }), ["alpha", "charlie"]);
  });

  test("$size", async () => {
    assert.deepEqual(await titles({ tags: { $size: 0 } }), ["delta"]);
    assert.deepEqual(await titles({ tags: { $size: 1 } }), ["bravo", "echo", "foxtrot"]);
    assert.deepEqual(await titles({ tags: { $size: 3 } }), ["charlie"]);
  });

  test("$elemMatch on an array of objects", async () => {
    assert.deepEqual(await titles({ checklist: { $elemMatch: { item: "x", done: false } } }), [
      "bravo",
    ]);
    assert.deepEqual(await titles({ checklist: { $elemMatch: { done: true } } }), ["alpha"]);
    assert.deepEqual(await titles({ checklist: { $elemMatch: { item: { $in: ["x", "y"] } } } }), [
      "alpha",
      "bravo",
    ]);
  });

  test("dotted paths into objects", async () => {
    assert.deepEqual(await titles({ "meta.owner.name": "bob" }), ["bravo"]);
    assert.deepEqual(await titles({ "meta.points": { $gte: 5 } }), ["bravo", "charlie"]);
    assert.deepEqual(await titles({ "meta.points": { $exists: false } }), ["delta", "echo"]);
  });

  test("dotted paths into arrays by position", async () => {
    assert.deepEqual(await titles({ "tags.0": "red" }), ["alpha", "charlie", "foxtrot"]);
    assert.deepEqual(await titles({ "checklist.1.item": "y" }), ["alpha"]);
  });

  test("fields the schema does not declare", async () => {
    assert.deepEqual(await titles({ color: "red" }), ["alpha"]);
    assert.deepEqual(await titles({ size: { $gt: 5 } }), ["echo"]);
  });
});

describe("dates", () => {
  test("date fields compare as dates", async () => {
    assert.deepEqual(await titles({ due_date: { $gte: "2026-03-01", $lt: "2026-06-01" } }), [
      "charlie",
      "echo",
    ]);
    assert.deepEqual(await titles({ due_date: "2026-02-10" }), ["bravo"]);
  });

  test("date-time fields compare as instants, whatever the offset", async () => {
    assert.deepEqual(await titles({ remind_at: "2026-01-10T08:00:00.000Z" }), ["alpha"]);
    assert.deepEqual(await titles({ remind_at: { $lte: "2026-01-10T09:00:00+01:00" } }), [
      "alpha",
    ]);
    assert.deepEqual(await titles({ remind_at: { $lt: "2026-01-10T09:00:00+01:00" } }), []);
  });

  test("a created_date read back finds its record", async () => {
    const record = await Task.get(ids.charlie);
    assert.deepEqual(await titles({ created_date: record.created_date, title: "charlie" }), [
      "charlie",
    ]);
  });
});

describe("sort, limit, skip, fields", () => {
  test("descending puts missing values last, ascending first", async () => {
    assert.deepEqual(pluck(await Task.filter({}, "-priority"), "title"), [
      "echo",
      "delta",
      "charlie",
      "bravo",
      "alpha",
      "foxtrot",
    ]);
    assert.deepEqual(pluck(await Task.filter({}, "priority"), "title"), [
      "foxtrot",
      "alpha",
      "bravo",
      "charlie",
      "delta",
      "echo",
    ]);
  });

  test("sort by a nested field", async () => {
    assert.deepEqual(
      pluck(await Task.filter({ "meta.points": { $exists: true } }, "-meta.points"), "title"),
      ["charlie", "bravo", "alpha", "foxtrot"],
    );
  });

  test("limit and skip after the filter and the sort", async () => {
    assert.deepEqual(pluck(await Task.filter({}, "priority", 2, 1), "title"), [
      "alpha",
      "bravo",
    ]);
    assert.deepEqual(pluck(await Task.filter({ done: false }, "-estimate", 2, 1), "title"), [
      "bravo",
      "alpha",
    ]);
  });

  test("fields", async () => {
    const records = await Task.filter({ status: "todo" }, "title", 10, 0, ["title", "status"]);
    assert.deepEqual(records, [
      { id: ids.alpha, title: "alpha", status: "todo" },
      { id: ids.delta, title: "delta", status: "todo" },
    ]);
  });

  test("count with a query", async () => {
    assert.equal(await Task.count({ tags: "red" }), 3);
    assert.equal(await Task.count({ $or: [{ done: true }, { estimate: { $gt: 5 } }] }), 3);
  });
});

describe("refused queries", () => {
  test("operators ferry does not run are 400", async () => {
    await rejects(Task.filter({ $where: "this.priority > 1" }), 400, "forbidden-operator");
    await rejects(Task.filter({ priority: { $foo: 1 } }), 400, "unknown-operator");
  });

  test("a limit over 5000 is 400 limit", async () => {
    await rejects(Task.filter({}, "title", 5001), 400, "limit");
  });
});
