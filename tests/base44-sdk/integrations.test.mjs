// base44.integrations with @base44/sdk 0.8.50 (and 0.1.2 for an upload):
// `POST /apps/{appId}/integration-endpoints/Core/{Endpoint}` (multipart when a param is a
// File), other packages under `…/installable/{pkg}/integration-endpoints/{Endpoint}`.
// Files: UploadFile → {file_url} served by ferry with the same bytes and type; UploadPrivateFile
// → {file_uri} not readable as such; CreateFileSignedUrl → {signed_url} readable until it
// expires (then 403), tampered → 403. SendEmail → the app's outbox. InvokeLLM without an
// endpoint → 501; with FERRY_LLM_URL pointing at a fake OpenAI-compatible server started here
// (needs FERRY_BIN, FERRY_APP, FERRY_APP_DIR to set the secret and redeploy; skipped without
// them) → the parsed answer, and the request the server received is checked. GenerateImage
// and ExtractDataFromUploadedFile through the same server. Unknown integrations → 501.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createServer } from "node:http";
import { after, before, describe, test } from "node:test";

import { FERRY_URL, RUN, client, client01, freshEmail, rejects, signUp, withMail } from "./helpers.mjs";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// A 1×1 PNG.
const PNG = Buffer.from(
  "89504e470d0a1a0a0000000d4948445200000001000000010806000000" +
    "1f15c4890000000d49444154789c6360f8ffff3f0005fe02fea7d6a4a10000000049454e44ae426082",
  "hex",
);

let user;

before(async () => {
  user = await signUp("integrations");
});

async function fetchBytes(url) {
  const res = await fetch(url);
  return { res, bytes: Buffer.from(await res.arrayBuffer()) };
}

describe("files", () => {
  test("UploadFile: the file_url serves the same bytes and content type", async () => {
    const file = new File([PNG], "pixel.png", { type: "image/png" });
    const { file_url } = await user.client.integrations.Core.UploadFile({ file });
    assert.equal(typeof file_url, "string");
    assert.ok(file_url.startsWith(`${FERRY_URL}/_ferry/base44/files/public/`), file_url);
    assert.ok(file_url.endsWith("/pixel.png"), file_url);
    const { res, bytes } = await fetchBytes(file_url);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "image/png");
    assert.equal(res.headers.get("x-content-type-options"), "nosniff");
    assert.deepEqual(bytes, PNG);
  });

  test("UploadFile with SDK 0.1.2, a text file whose type is sniffed from its name", async () => {
    const c = client01(user.token);
    const text = `hello ${RUN}\n`;
    const { file_url } = await c.integrations.Core.UploadFile({
      file: new File([text], "../../notes.txt"),
    });
    assert.ok(file_url.endsWith("/notes.txt"), file_url);
    const { res, bytes } = await fetchBytes(file_url);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type"), /^text\/plain/);
    assert.equal(bytes.toString(), text);
  });

  test("UploadFile without a file part is a 400", async () => {
    await rejects(user.client.integrations.Core.UploadFile({ file: "not a file" }), 400, "bad-params");
  });

  test("UploadPrivateFile, CreateFileSignedUrl: signed, expiring, tamper-proof", async () => {
    const secret = Buffer.from(`private ${RUN}`);
    const { file_uri } = await user.client.integrations.Core.UploadPrivateFile({
      file: new File([secret], "secret.txt", { type: "text/plain" }),
    });
    assert.match(file_uri, /^private\/[0-9a-f]{32}\/secret\.txt$/);
    // The uri is not a URL, and the file's path without a signature is refused.
    assert.equal((await fetch(new URL(file_uri, `${FERRY_URL}/`))).ok, false);
    const bare = await fetch(`${FERRY_URL}/_ferry/base44/files/${file_uri}`);
    assert.equal(bare.status, 403);

    const { signed_url } = await user.client.integrations.Core.CreateFileSignedUrl({ file_uri });
    assert.ok(signed_url.startsWith(`${FERRY_URL}/_ferry/base44/files/private/`), signed_url);
    const url = new URL(signed_url);
    const expires = Number(url.searchParams.get("expires"));
    const now = Date.now() / 1000;
    assert.ok(expires > now + 290 && expires < now + 310, `default lifetime 300 s: ${expires}`);
    const { res, bytes } = await fetchBytes(signed_url);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "text/plain");
    assert.deepEqual(bytes, secret);

    // Tampered: a later expiry, another signature.
    const later = new URL(signed_url);
    later.searchParams.set("expires", String(expires + 1000));
    assert.equal((await fetch(later)).status, 403);
    const forged = new URL(signed_url);
    forged.searchParams.set("signature", "A".repeat(43));
    assert.equal((await fetch(forged)).status, 403);

    // A tiny lifetime: readable now, 403 once expired.
    const short = await user.client.integrations.Core.CreateFileSignedUrl({
      file_uri,
      expires_in: 2,
    });
    assert.equal((await fetch(short.signed_url)).status, 200);
    await sleep(3100);
    const expired = await fetch(short.signed_url);
    assert.equal(expired.status, 403);
    assert.equal((await expired.json()).code, "link-expired");

    // Unknown files and malformed uris.
    await rejects(
      user.client.integrations.Core.CreateFileSignedUrl({
        file_uri: "private/0123456789abcdef0123456789abcdef/x.txt",
      }),
      404,
    );
    await rejects(
      user.client.integrations.Core.CreateFileSignedUrl({ file_uri: "../../etc/passwd" }),
      400,
      "bad-file-uri",
    );
  });
});

describe("SendEmail", () => {
  test("goes to the app's outbox", async () => {
    const to = freshEmail("mailto");
    const subject = `Hello ${RUN}`;
    const { result, mail } = await withMail(to, () =>
      user.client.integrations.Core.SendEmail({
        to,
        subject,
        body: "Line one\nLine two",
        from_name: "The app",
      }),
    );
    assert.equal(result.status, "queued");
    assert.equal(mail.subject, subject);
    assert.equal(mail.text, "Line one\nLine two");
  });

  test("a bad address is a 400", async () => {
    await rejects(
      user.client.integrations.Core.SendEmail({ to: "a@b.c\r\nBcc: x@y.z", subject: "x", body: "y" }),
      400,
      "bad-email",
    );
  });
});

describe("unsupported integrations", () => {
  test("an unknown Core endpoint is a 501 naming it", async () => {
    const e = await rejects(
      user.client.integrations.Core.SendSMS({ to: "+1555", body: "x" }),
      501,
      "integration-not-supported",
    );
    assert.match(e.message, /Core\.SendSMS/);
  });

  test("an installable package is a 501 naming it", async () => {
    const e = await rejects(
      client().integrations.Slack.PostMessage({ channel: "#x" }),
      501,
      "integration-not-supported",
    );
    assert.match(e.message, /Slack\.PostMessage/);
  });
});

// ---- the LLM integrations ---------------------------------------------------------------

const { FERRY_BIN, FERRY_APP, FERRY_APP_DIR } = process.env;
const canConfigure = Boolean(FERRY_BIN && FERRY_APP && FERRY_APP_DIR);

function ferry(...args) {
  execFileSync(FERRY_BIN, args, { stdio: "pipe", env: process.env });
}

describe("the LLM integrations", () => {
  // What the fake endpoint received, and what it answers next.
  const received = [];
  let nextContent = "";
  let server;

  before(async () => {
    server = createServer((req, res) => {
      let body = "";
      req.on("data", (chunk) => (body += chunk));
      req.on("end", () => {
        let json = null;
        try {
          json = JSON.parse(body);
        } catch {}
        received.push({ method: req.method, url: req.url, headers: req.headers, body: json });
        res.setHeader("content-type", "application/json");
        if (req.url === "/v1/chat/completions") {
          res.end(
            JSON.stringify({
              id: "x",
              object: "chat.completion",
              choices: [{ index: 0, message: { role: "assistant", content: nextContent } }],
            }),
          );
        } else if (req.url === "/v1/images/generations") {
          res.end(JSON.stringify({ data: [{ b64_json: PNG.toString("base64") }] }));
        } else {
          res.statusCode = 404;
          res.end(JSON.stringify({ error: { message: "no such route" } }));
        }
      });
    });
    await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  });

  after(() => server?.close());

  test("without FERRY_LLM_URL: 501 with the message", async () => {
    for (const [endpoint, params] of [
      ["InvokeLLM", { prompt: "hi" }],
      ["GenerateImage", { prompt: "a cat" }],
      ["ExtractDataFromUploadedFile", { file_url: "x", json_schema: { type: "object" } }],
    ]) {
      const e = await rejects(user.client.integrations.Core[endpoint](params), 501, "llm-not-configured");
      assert.ok(
        e.message.startsWith(`${endpoint} needs an OpenAI-compatible endpoint: set FERRY_LLM_URL`),
        e.message,
      );
    }
  });

  test("with FERRY_LLM_URL: forwarded, schema honoured, answer parsed", { skip: !canConfigure }, async () => {
    const { port } = server.address();
    ferry(
      "env",
      "set",
      "--app",
      FERRY_APP,
      `FERRY_LLM_URL=http://127.0.0.1:${port}`,
      "FERRY_LLM_MODEL=test-model",
      "FERRY_LLM_API_KEY=sk-test-key",
    );
    ferry("deploy", FERRY_APP_DIR);

    const schema = {
      type: "object",
      properties: { city: { type: "string" }, population: { type: "number" } },
      required: ["city"],
    };
    nextContent = JSON.stringify({ city: "Lyon", population: 522000 });
    received.length = 0;
    const answer = await user.client.integrations.Core.InvokeLLM({
      prompt: `Biggest city near ${RUN}?`,
      response_json_schema: schema,
    });
    assert.deepEqual(answer, { city: "Lyon", population: 522000 });
    assert.equal(received.length, 1);
    const [req] = received;
    assert.equal(req.method, "POST");
    assert.equal(req.url, "/v1/chat/completions");
    assert.equal(req.headers.authorization, "Bearer sk-test-key");
    assert.equal(req.body.model, "test-model");
    assert.deepEqual(req.body.messages, [{ role: "user", content: `Biggest city near ${RUN}?` }]);
    assert.equal(req.body.response_format.type, "json_schema");
    assert.deepEqual(req.body.response_format.json_schema.schema, schema);
    assert.equal(typeof req.body.response_format.json_schema.name, "string");

    // Without a schema: the text as it came.
    nextContent = "Just text.";
    assert.equal(await user.client.integrations.Core.InvokeLLM({ prompt: "Say something" }), "Just text.");

    // An answer that is not JSON of the schema's type: 502.
    nextContent = "Sorry, I cannot do that.";
    await rejects(
      user.client.integrations.Core.InvokeLLM({ prompt: "x", response_json_schema: schema }),
      502,
      "llm-bad-json",
    );
    nextContent = "[1, 2]";
    await rejects(
      user.client.integrations.Core.InvokeLLM({ prompt: "x", response_json_schema: schema }),
      502,
      "llm-bad-json",
    );

    // GenerateImage: stored as a public file.
    const { url } = await user.client.integrations.Core.GenerateImage({ prompt: "a pixel" });
    const { res, bytes } = await fetchBytes(url);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "image/png");
    assert.deepEqual(bytes, PNG);
    assert.equal(received.at(-1).url, "/v1/images/generations");
    assert.equal(received.at(-1).body.prompt, "a pixel");

    // ExtractDataFromUploadedFile: a CSV's text goes to the model with the schema.
    const csv = `name,qty\nwidget-${RUN},3\n`;
    const { file_url } = await user.client.integrations.Core.UploadFile({
      file: new File([csv], "items.csv", { type: "text/csv" }),
    });
    const listSchema = { type: "object", properties: { items: { type: "array" } } };
    nextContent = JSON.stringify({ items: [{ name: `widget-${RUN}`, qty: 3 }] });
    const extracted = await user.client.integrations.Core.ExtractDataFromUploadedFile({
      file_url,
      json_schema: listSchema,
    });
    assert.equal(extracted.status, "success");
    assert.deepEqual(extracted.output, { items: [{ name: `widget-${RUN}`, qty: 3 }] });
    const sent = received.at(-1).body;
    assert.ok(sent.messages[0].content.includes(`widget-${RUN},3`), "the file's text was sent");
    assert.deepEqual(sent.response_format.json_schema.schema, listSchema);

    // A file the model cannot read as text: 501 naming the integration.
    const { file_url: png_url } = await user.client.integrations.Core.UploadFile({
      file: new File([PNG], "p.png", { type: "image/png" }),
    });
    const e = await rejects(
      user.client.integrations.Core.ExtractDataFromUploadedFile({ file_url: png_url, json_schema: listSchema }),
      501,
      "integration-not-supported",
    );
    assert.match(e.message, /ExtractDataFromUploadedFile/);
  });
});
