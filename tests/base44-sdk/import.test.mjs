// importEntities(file) with @base44/sdk 0.8.50: `POST …/entities/{Name}/import`, multipart
// with one `file` part, answered by an ImportResult `{status, details, output}` whose output
// holds the created records (the SDK's documented behaviour, modules/entities.types.d.ts).
// CSV values are read by the schema's field types; JSON files hold an array of records. The
// records are created as the caller, under the entity's create rule.

import assert from "node:assert/strict";
import { before, describe, test } from "node:test";

import { RUN, client, pluck, rejects, signUp, stripServerFields } from "./helpers.mjs";

let seller;
let Sale;

before(async () => {
  seller = await signUp("import");
  Sale = seller.client.entities.Sale;
});

describe("importEntities", () => {
  test("a CSV file: one record per row, values typed by the schema", async () => {
    const csv = [
      "sku,region,product,amount,units,sold_on,paid",
      `I1-${RUN},north,apple,12.5,3,2026-04-01,true`,
      `I2-${RUN},"south, coast",pear,7,1,2026-04-02,false`,
      "",
    ].join("\n");
    const result = await Sale.importEntities(new File([csv], "sales.csv", { type: "text/csv" }));
    assert.equal(result.status, "success");
    assert.ok(result.details === null || typeof result.details === "string");
    assert.equal(result.output.length, 2);
    assert.deepEqual(result.output.map(stripServerFields), [
      {
        sku: `I1-${RUN}`,
        region: "north",
        product: "apple",
        amount: 12.5,
        units: 3,
        sold_on: "2026-04-01",
        paid: true,
      },
      {
        sku: `I2-${RUN}`,
        region: "south, coast",
        product: "pear",
        amount: 7,
        units: 1,
        sold_on: "2026-04-02",
        paid: false,
      },
    ]);
    for (const record of result.output) {
      assert.equal(record.created_by, seller.email);
      assert.equal(record.created_by_id, seller.user.id);
    }
    const stored = await Sale.filter({ sku: { $in: [`I1-${RUN}`, `I2-${RUN}`] } }, "sku");
    assert.deepEqual(pluck(stored, "id"), pluck(result.output, "id"));
  });

  test("a JSON file holding an array of records", async () => {
    const json = JSON.stringify([
      { sku: `J1-${RUN}`, region: "west", amount: 3, labels: ["a", "b"] },
      { sku: `J2-${RUN}`, units: 4, paid: true, note: "kept" },
    ]);
    const result = await Sale.importEntities(
      new File([json], "sales.json", { type: "application/json" }),
    );
    assert.equal(result.status, "success");
    assert.deepEqual(result.output.map(stripServerFields), [
      { sku: `J1-${RUN}`, region: "west", amount: 3, labels: ["a", "b"] },
      { sku: `J2-${RUN}`, units: 4, paid: true, note: "kept" },
    ]);
    assert.equal(await Sale.count({ sku: { $in: [`J1-${RUN}`, `J2-${RUN}`] } }), 2);
  });

  test("imported records follow the read rule like any other", async () => {
    const other = await signUp("import-other");
    assert.deepEqual(await other.client.entities.Sale.filter({ sku: `I1-${RUN}` }), []);
  });

  test("the create rule applies: an anonymous import is refused and creates nothing", async () => {
    const csv = `sku,units\nANON-${RUN},1\n`;
    await rejects(
      client().entities.Sale.importEntities(new File([csv], "anon.csv", { type: "text/csv" })),
      403,
      "forbidden",
    );
    assert.equal(await Sale.count({ sku: `ANON-${RUN}` }), 0);
  });

  test("a value that does not fit its field refuses the whole file", async () => {
    const csv = `sku,units\nBAD1-${RUN},2\nBAD2-${RUN},lots\n`;
    // Either form the SDK knows: an HTTP 400 (Base44Error), or an ImportResult whose status
    // is "error" and whose output is null.
    let answer;
    try {
      answer = await Sale.importEntities(new File([csv], "bad.csv", { type: "text/csv" }));
    } catch (error) {
      assert.equal(error.name, "Base44Error");
      assert.equal(error.status, 400, JSON.stringify(error.data));
    }
    if (answer !== undefined) {
      assert.equal(answer.status, "error", JSON.stringify(answer));
      assert.equal(answer.output, null);
      assert.equal(typeof answer.details, "string");
    }
    assert.equal(await Sale.count({ sku: { $in: [`BAD1-${RUN}`, `BAD2-${RUN}`] } }), 0);
  });
});
