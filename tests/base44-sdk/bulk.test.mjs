// The 0.8.x calls beyond CRUD, with @base44/sdk 0.8.50: updateMany ($set $unset $inc $push
// $pull $addToSet), upsert by a key, aggregate (group-by with count, sum, avg, min, max,
// countDistinct, dateBucket, having, sort, limit) and cursor pages (list/filter with an
// options object → v2/list).

import assert from "node:assert/strict";
import { before, describe, test } from "node:test";

import { RUN, pluck, rejects, signUp, stripServerFields } from "./helpers.mjs";

let alice;
let bob;

before(async () => {
  alice = await signUp("bulk-alice");
  bob = await signUp("bulk-bob");
});

describe("updateMany", () => {
  let Task;
  const id = {};

  /** The record titled `title`, without the server's fields. */
  const fields = async (title) => stripServerFields(await Task.get(id[title]));

  before(async () => {
    Task = alice.client.entities.Task;
    const made = await Task.bulkCreate([
      { title: "one", status: "todo", counter: 1, tags: ["a"], priority: 1, color: "red" },
      { title: "two", status: "todo", counter: 5, tags: ["a", "b"], priority: 2 },
      { title: "three", status: "done", counter: 0, tags: [], priority: 3 },
    ]);
    for (const record of made) id[record.title] = record.id;
  });

  test("$set and $inc on the records matching the query", async () => {
    const result = await Task.updateMany(
      { status: "todo" },
      { $set: { status: "doing" }, $inc: { counter: 2 } },
    );
    assert.deepEqual(result, { success: true, updated: 2, has_more: false });
    assert.equal((await fields("one")).status, "doing");
    assert.equal((await fields("one")).counter, 3);
    assert.equal((await fields("two")).counter, 7);
    assert.deepEqual(await fields("three"), {
      title: "three",
      status: "done",
      counter: 0,
      tags: [],
      priority: 3,
      done: false,
    });
  });

  test("$unset and $push", async () => {
    const result = await Task.updateMany(
      { title: "one" },
      { $unset: { priority: "" }, $push: { tags: "c" } },
    );
    assert.deepEqual(result, { success: true, updated: 1, has_more: false });
    assert.deepEqual(await fields("one"), {
      title: "one",
      status: "doing",
      counter: 3,
      tags: ["a", "c"],
      done: false,
      color: "red",
    });
  });

  test("$addToSet skips values already there", async () => {
    const result = await Task.updateMany(
      { title: { $in: ["one", "two"] } },
      { $addToSet: { tags: "b" } },
    );
    assert.equal(result.success, true);
    assert.equal(result.has_more, false);
    assert.deepEqual((await fields("one")).tags, ["a", "c", "b"]);
    assert.deepEqual((await fields("two")).tags, ["a", "b"]);
  });

  test("$pull removes every equal element", async () => {
    const result = await Task.updateMany({}, { $pull: { tags: "a" } });
    assert.equal(result.success, true);
    assert.deepEqual((await fields("one")).tags, ["c", "b"]);
    assert.deepEqual((await fields("two")).tags, ["b"]);
    assert.deepEqual((await fields("three")).tags, []);
  });

  test("$push with $each, and $inc/$set on undeclared fields", async () => {
    await Task.updateMany({ title: "three" }, { $push: { tags: { $each: ["x", "y"] } } });
    assert.deepEqual((await fields("three")).tags, ["x", "y"]);
    await Task.updateMany({ title: "one" }, { $set: { color: "blue" }, $inc: { views: 1 } });
    await Task.updateMany({ title: "one" }, { $inc: { views: 2 } });
    const one = await fields("one");
    assert.equal(one.color, "blue");
    assert.equal(one.views, 3);
  });

  test("refused updates are 400 and change nothing", async () => {
    await rejects(
      Task.updateMany({ title: "two" }, { $frobnicate: { title: "name" } }),
      400,
      "bad-record",
    );
    await rejects(
      Task.updateMany({ title: "two" }, { $set: { created_by: bob.email } }),
      400,
      "bad-record",
    );
    await rejects(
      Task.updateMany({ title: "two" }, { $set: { priority: "high" } }),
      400,
      "bad-value",
    );
    assert.deepEqual(await fields("two"), {
      title: "two",
      status: "doing",
      counter: 7,
      tags: ["b"],
      priority: 2,
      done: false,
    });
  });

  test("another user's updateMany does not reach these records", async () => {
    const result = await bob.client.entities.Task.updateMany({}, { $set: { status: "done" } });
    assert.deepEqual(result, { success: true, updated: 0, has_more: false });
    assert.equal((await fields("two")).status, "doing");
  });

  test("list() and filter() without a limit answer up to 5000 records (the SDK's default)", async () => {
    const many = Array.from({ length: 520 }, (_, i) => ({ title: `batch-${i}`, status: "todo" }));
    assert.equal((await Task.bulkCreate(many)).length, 520);
    assert.equal(await Task.count({ title: { $regex: "^batch-" } }), 520);
    assert.equal((await Task.filter({ title: { $regex: "^batch-" } })).length, 520);
    assert.equal((await Task.list()).length, 523);
  });

  test("batches of 500: has_more until the query matches nothing", async () => {
    const first = await Task.updateMany(
      { title: { $regex: "^batch-" }, status: "todo" },
      { $set: { status: "done" } },
    );
    assert.deepEqual(first, { success: true, updated: 500, has_more: true });
    const second = await Task.updateMany(
      { title: { $regex: "^batch-" }, status: "todo" },
      { $set: { status: "done" } },
    );
    assert.deepEqual(second, { success: true, updated: 20, has_more: false });
    assert.equal(await Task.count({ title: { $regex: "^batch-" }, status: "done" }), 520);
    assert.deepEqual(await Task.deleteMany({ title: { $regex: "^batch-" } }), {
      success: true,
      deleted: 520,
    });
  });
});

describe("upsert", () => {
  let Sale;
  const sku = (name) => `${name}-${RUN}`;

  before(() => {
    Sale = alice.client.entities.Sale;
  });

  test("creates the records whose key is new", async () => {
    const result = await Sale.upsert(
      [
        { sku: sku("A"), amount: 10, units: 1 },
        { sku: sku("B"), amount: 20 },
      ],
      { key: "sku" },
    );
    assert.equal(result.created, 2);
    assert.equal(result.updated, 0);
    assert.deepEqual(result.records.map(stripServerFields), [
      { sku: sku("A"), amount: 10, units: 1 },
      { sku: sku("B"), amount: 20 },
    ]);
    for (const record of result.records) assert.equal(record.created_by, alice.email);
  });

  test("updates the record whose key exists, merging the fields; keeps its id", async () => {
    const [a] = await Sale.filter({ sku: sku("A") });
    const result = await Sale.upsert(
      [
        { sku: sku("A"), units: 5 },
        { sku: sku("C"), amount: 30 },
      ],
      { key: "sku" },
    );
    assert.equal(result.created, 1);
    assert.equal(result.updated, 1);
    assert.equal(result.records[0].id, a.id);
    assert.deepEqual(result.records.map(stripServerFields), [
      { sku: sku("A"), amount: 10, units: 5 },
      { sku: sku("C"), amount: 30 },
    ]);
    assert.equal(await Sale.count({ sku: { $in: [sku("A"), sku("B"), sku("C")] } }), 3);
  });

  test("a compound key", async () => {
    const first = await Sale.upsert(
      [
        { sku: sku("D"), warehouse: "north", units: 1 },
        { sku: sku("D"), warehouse: "south", units: 2 },
      ],
      { key: ["sku", "warehouse"] },
    );
    assert.equal(first.created, 2);
    assert.equal(first.updated, 0);
    const second = await Sale.upsert([{ sku: sku("D"), warehouse: "south", units: 7 }], {
      key: ["sku", "warehouse"],
    });
    assert.equal(second.created, 0);
    assert.equal(second.updated, 1);
    assert.deepEqual(pluck(await Sale.filter({ sku: sku("D") }, "warehouse"), "units"), [1, 7]);
  });

  test("of two records with one key, the last wins", async () => {
    const result = await Sale.upsert(
      [
        { sku: sku("E"), units: 1 },
        { sku: sku("E"), units: 2 },
      ],
      { key: "sku" },
    );
    assert.equal(result.created, 1);
    assert.equal(result.updated, 0);
    const stored = await Sale.filter({ sku: sku("E") });
    assert.equal(stored.length, 1);
    assert.equal(stored[0].units, 2);
  });

  test("a key held by a record the caller may not update is 403; nothing is written", async () => {
    const error = await rejects(
      bob.client.entities.Sale.upsert(
        [
          { sku: sku("bob-new"), units: 1 },
          { sku: sku("A"), units: 99 },
        ],
        { key: "sku" },
      ),
      403,
      "forbidden",
    );
    assert.deepEqual(error.data.detail, { index: 1 });
    assert.equal((await Sale.filter({ sku: sku("A") }))[0].units, 5);
    assert.equal(await bob.client.entities.Sale.count({ sku: sku("bob-new") }), 0);
  });

  test("a record without its key value, or a key that is not a field, is 400", async () => {
    const error = await rejects(
      Sale.upsert([{ sku: sku("F") }, { units: 1 }], { key: "sku" }),
      400,
    );
    assert.deepEqual(error.data.detail, { index: 1 });
    await rejects(Sale.upsert([{ sku: sku("F") }], { key: "nope" }), 400, "bad-record");
    assert.equal(await Sale.count({ sku: sku("F") }), 0);
  });
});

describe("aggregate", () => {
  let Sale;

  before(async () => {
    const carol = await signUp("aggregate");
    Sale = carol.client.entities.Sale;
    await Sale.bulkCreate([
      { region: "north", product: "apple", amount: 10, units: 1, sold_on: "2026-01-05" },
      { region: "north", product: "pear", amount: 30, units: 3, sold_on: "2026-01-20" },
      { region: "south", product: "apple", amount: 5, units: 2, sold_on: "2026-02-01" },
      { region: "south", product: "apple", amount: 15, units: 4, sold_on: "2026-02-15" },
      { region: "east", product: "plum", amount: 8, units: 1, sold_on: "2026-03-03" },
      { product: "fig", amount: 2, units: 1, sold_on: "2026-03-30" },
    ]);
  });

  test("group by one field with $sum $avg $min $max and the count", async () => {
    const result = await Sale.aggregate({
      groupBy: "region",
      sum: "amount",
      avg: "amount",
      min: "amount",
      max: "amount",
    });
    assert.deepEqual(result, {
      rows: [
        {
          region: null,
          count: 1,
          sum_amount: 2,
          avg_amount: 2,
          min_amount: 2,
          max_amount: 2,
        },
        {
          region: "east",
          count: 1,
          sum_amount: 8,
          avg_amount: 8,
          min_amount: 8,
          max_amount: 8,
        },
        {
          region: "north",
          count: 2,
          sum_amount: 40,
          avg_amount: 20,
          min_amount: 10,
          max_amount: 30,
        },
        {
          region: "south",
          count: 2,
          sum_amount: 20,
          avg_amount: 10,
          min_amount: 5,
          max_amount: 15,
        },
      ],
      truncated: false,
    });
  });

  test("sort by a measure, limit, truncated", async () => {
    const result = await Sale.aggregate({ groupBy: "region", sum: "units", sort: "-sum_units", limit: 2 });
    assert.deepEqual(result, {
      rows: [
        { region: "south", count: 2, sum_units: 6 },
        { region: "north", count: 2, sum_units: 4 },
      ],
      truncated: true,
    });
  });

  test("having keeps the groups whose measure passes", async () => {
    const result = await Sale.aggregate({ groupBy: "product", having: { count: { $gt: 1 } } });
    assert.deepEqual(result, { rows: [{ product: "apple", count: 3 }], truncated: false });
  });

  test("two group fields", async () => {
    const result = await Sale.aggregate({
      query: { product: "apple" },
      groupBy: ["region", "product"],
      max: "units",
    });
    assert.deepEqual(result.rows, [
      { region: "north", product: "apple", count: 1, max_units: 1 },
      { region: "south", product: "apple", count: 2, max_units: 4 },
    ]);
  });

  test("a date bucket by month", async () => {
    const result = await Sale.aggregate({
      dateBucket: { field: "sold_on", unit: "month" },
      sum: "amount",
    });
    assert.deepEqual(result.rows, [
      { sold_on: "2026-01-01", count: 2, sum_amount: 40 },
      { sold_on: "2026-02-01", count: 2, sum_amount: 20 },
      { sold_on: "2026-03-01", count: 2, sum_amount: 10 },
    ]);
  });

  test("a query, countDistinct, and count: false", async () => {
    const result = await Sale.aggregate({
      query: { region: { $ne: "north" } },
      countDistinct: "product",
      count: false,
    });
    assert.deepEqual(result, { rows: [{ count_distinct_product: 3 }], truncated: false });
  });

  test("only the caller's readable records are grouped", async () => {
    const result = await bob.client.entities.Sale.aggregate({ groupBy: "region" });
    assert.deepEqual(result, { rows: [], truncated: false });
  });

  test("a Mongo pipeline is not a spec: 400 bad-query", async () => {
    await rejects(Sale.aggregate({ $group: { _id: "$region" } }), 400, "bad-query");
  });
});

describe("cursor pages (list/filter with an options object)", () => {
  let Task;
  const id = {};

  before(async () => {
    const dave = await signUp("pages");
    Task = dave.client.entities.Task;
    const made = await Task.bulkCreate(
      [1, 2, 3, 4, 5, 6, 7].map((p) => ({ title: `p${p}`, priority: p })),
    );
    for (const record of made) id[record.priority] = record.id;
  });

  test("list({sort, limit}) then {cursor}: every record once, in order", async () => {
    const first = await Task.list({ sort: "priority", limit: 3 });
    assert.deepEqual(pluck(first.items, "priority"), [1, 2, 3]);
    assert.equal(first.has_more, true);
    assert.equal(typeof first.next_cursor, "string");
    const second = await Task.list({ cursor: first.next_cursor, limit: 3 });
    assert.deepEqual(pluck(second.items, "priority"), [4, 5, 6]);
    assert.equal(second.has_more, true);
    const third = await Task.list({ cursor: second.next_cursor, limit: 3 });
    assert.deepEqual(pluck(third.items, "priority"), [7]);
    assert.equal(third.has_more, false);
    assert.equal(third.next_cursor, null);
  });

  test("filter(query, {sort, limit, fields})", async () => {
    const first = await Task.filter(
      { priority: { $gt: 2 } },
      { sort: "-priority", limit: 4, fields: ["priority"] },
    );
    assert.deepEqual(first.items, [
      { id: id[7], priority: 7 },
      { id: id[6], priority: 6 },
      { id: id[5], priority: 5 },
      { id: id[4], priority: 4 },
    ]);
    assert.equal(first.has_more, true);
    const second = await Task.filter({ priority: { $gt: 2 } }, { cursor: first.next_cursor, limit: 4 });
    assert.deepEqual(second.items, [{ id: id[3], priority: 3 }]);
    assert.equal(second.has_more, false);
    assert.equal(second.next_cursor, null);
  });

  test("the default is newest first, 100 a page", async () => {
    const page = await Task.list({});
    assert.equal(page.items.length, 7);
    assert.equal(page.has_more, false);
    assert.equal(page.next_cursor, null);
    const dates = pluck(page.items, "created_date");
    assert.deepEqual(dates, [...dates].sort().reverse());
  });

  test("a record deleted between pages does not shift the next one", async () => {
    const first = await Task.list({ sort: "priority", limit: 2 });
    assert.deepEqual(pluck(first.items, "priority"), [1, 2]);
    await Task.delete(id[3]);
    const second = await Task.list({ cursor: first.next_cursor, limit: 2 });
    assert.deepEqual(pluck(second.items, "priority"), [4, 5]);
  });

  test("a cursor with another sort, or a garbage cursor, is 400 bad-cursor", async () => {
    const first = await Task.list({ sort: "priority", limit: 2 });
    await rejects(
      Task.list({ cursor: first.next_cursor, sort: "-priority", limit: 2 }),
      400,
      "bad-cursor",
    );
    await rejects(Task.list({ cursor: "not-a-cursor", limit: 2 }), 400, "bad-cursor");
  });

  test("pages hold only the caller's readable records", async () => {
    const page = await bob.client.entities.Task.list({ limit: 100 });
    assert.deepEqual(page, { items: [], next_cursor: null, has_more: false });
  });
});
