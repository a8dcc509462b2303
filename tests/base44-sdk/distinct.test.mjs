// Distinct values with @base44/sdk 0.8.50: list({distinct}) and filter(query, {distinct})
// read `GET …/v2/list?distinct=<field>` and answer an EntityPage whose items are the field's
// values in ascending order, array fields contributing each element, at most `limit` (default
// 100, up to 1000) a page with a cursor for the next one (the SDK's documented behaviour,
// modules/entities.types.d.ts). Only records the caller may read count.

import assert from "node:assert/strict";
import { before, describe, test } from "node:test";

import { signUp } from "./helpers.mjs";

let Task;
let bob;

before(async () => {
  const user = await signUp("distinct");
  bob = await signUp("distinct-bob");
  Task = user.client.entities.Task;
  await Task.bulkCreate([
    { title: "d1", status: "todo", priority: 3, tags: ["red", "blue"] },
    { title: "d2", status: "doing", priority: 1, tags: ["blue"] },
    { title: "d3", status: "todo", priority: 2, tags: ["green", "red"] },
    { title: "d4", status: "done", priority: 3, tags: ["yellow"] },
  ]);
});

describe("distinct", () => {
  test("list({distinct}) answers each value once, ascending", async () => {
    assert.deepEqual(await Task.list({ distinct: "status" }), {
      items: ["doing", "done", "todo"],
      next_cursor: null,
      has_more: false,
    });
    assert.deepEqual(await Task.list({ distinct: "priority" }), {
      items: [1, 2, 3],
      next_cursor: null,
      has_more: false,
    });
  });

  test("an array field contributes each element", async () => {
    assert.deepEqual((await Task.list({ distinct: "tags" })).items, [
      "blue",
      "green",
      "red",
      "yellow",
    ]);
  });

  test("filter(query, {distinct}) counts only the matching records", async () => {
    assert.deepEqual(await Task.filter({ status: "todo" }, { distinct: "tags" }), {
      items: ["blue", "green", "red"],
      next_cursor: null,
      has_more: false,
    });
    assert.deepEqual((await Task.filter({ priority: { $lt: 3 } }, { distinct: "status" })).items, [
      "doing",
      "todo",
    ]);
  });

  test("pages of `limit` values with a cursor", async () => {
    const first = await Task.list({ distinct: "tags", limit: 3 });
    assert.deepEqual(first.items, ["blue", "green", "red"]);
    assert.equal(first.has_more, true);
    assert.equal(typeof first.next_cursor, "string");
    const second = await Task.list({ distinct: "tags", limit: 3, cursor: first.next_cursor });
    assert.deepEqual(second, { items: ["yellow"], next_cursor: null, has_more: false });
  });

  test("only the caller's readable records count", async () => {
    assert.deepEqual(await bob.client.entities.Task.list({ distinct: "status" }), {
      items: [],
      next_cursor: null,
      has_more: false,
    });
  });
});
