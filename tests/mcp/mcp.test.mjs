// The MCP server of ferry driven by the official MCP client SDK (@modelcontextprotocol/sdk):
// `ferry mcp` over stdio (the machine's owner) and `/mcp` over streamable HTTP (a bearer token).
// Started by crates/ferry/tests/mcp.rs, which runs a ferry server and passes, in the
// environment: FERRY_BIN, FERRY_HOME, MCP_URL, EDGE, TOKEN_A (admin of the org owning
// APP_HTTP), TOKEN_B (admin of another org), APP_STDIO / APP_HTTP (app names), DIR_STDIO /
// DIR_HTTP (their folders), OUTSIDE (a folder outside FERRY_MCP_ROOTS), SECRET (a value set
// with `ferry env set` on both apps that must never come back), EMPTY_HOME (no server there).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import http from 'node:http';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const env = (name) => {
  const value = process.env[name];
  assert.ok(value, `${name} is set (run through crates/ferry/tests/mcp.rs)`);
  return value;
};
const SECRET = env('SECRET');

// Every answer any client got, checked for the planted secret at the end of each test.
const seen = [];
const record = (what, value) => {
  seen.push([what, JSON.stringify(value)]);
  return value;
};
const noSecret = () => {
  for (const [what, text] of seen) {
    assert.ok(!text.includes(SECRET), `the planted secret appears in the answer of ${what}`);
  }
};

async function connect(kind, token, home = env('FERRY_HOME')) {
  const client = new Client({ name: 'ferry-mcp-test', version: '1.0.0' });
  let transport;
  if (kind === 'stdio') {
    transport = new StdioClientTransport({
      command: env('FERRY_BIN'),
      args: ['mcp'],
      env: Object.fromEntries(
        Object.entries({ ...process.env, FERRY_HOME: home }).filter(
          ([k]) => k !== 'FERRY_SERVER' && k !== 'FERRY_TOKEN',
        ),
      ),
      stderr: 'pipe',
    });
  } else {
    transport = new StreamableHTTPClientTransport(new URL(env('MCP_URL')), {
      requestInit: { headers: { Authorization: `Bearer ${token}` } },
    });
  }
  await client.connect(transport);
  return client;
}

async function call(client, name, args = {}) {
  const result = await client.callTool({ name, arguments: args });
  record(`${name}(${JSON.stringify(args)})`, result);
  return result;
}

async function ok(client, name, args = {}) {
  const result = await call(client, name, args);
  assert.ok(!result.isError, `${name} failed: ${JSON.stringify(result.content)}`);
  assert.ok(result.structuredContent, `${name} answers structured content`);
  return result.structuredContent;
}

async function refused(client, name, args = {}) {
  const result = await call(client, name, args);
  assert.equal(result.isError, true, `${name} must fail: ${JSON.stringify(result.content)}`);
  const error = result.structuredContent?.error;
  assert.ok(error?.code && error?.message && error?.hint, `{code, message, hint}: ${JSON.stringify(result)}`);
  return error;
}

/** The release the edge serves for `app` (its `x-ferry-release` header). */
function edgeRelease(app) {
  const [host, port] = env('EDGE').split(':');
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host, port, path: '/', method: 'GET', headers: { host: `${app}.localhost` } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.headers['x-ferry-release']));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function waitForJob(client, jobId) {
  const started = Date.now();
  for (;;) {
    const job = await ok(client, 'job_status', { job_id: jobId });
    assert.equal(job.id, jobId);
    if (job.state !== 'running') return job;
    assert.ok(Date.now() - started < 180_000, `job ${jobId} still running after 180 s`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

const TOOLS = {
  list_apps: { readOnlyHint: true, destructiveHint: false },
  inspect: { readOnlyHint: true, destructiveHint: false },
  plan: { readOnlyHint: true, destructiveHint: false },
  deploy: { readOnlyHint: false, destructiveHint: false, idempotentHint: false },
  job_status: { readOnlyHint: true },
  releases: { readOnlyHint: true },
  rollback: { readOnlyHint: false, destructiveHint: true },
  promote: { readOnlyHint: false, destructiveHint: true },
  logs: { readOnlyHint: true },
  env_names: { readOnlyHint: true },
  data_jobs: { readOnlyHint: true },
  data_verify: { readOnlyHint: false, destructiveHint: false, idempotentHint: true },
  data_job: { readOnlyHint: true },
  audit_tail: { readOnlyHint: true },
};

/** The whole flow of an agent deploying and rolling back `app` from `dir`. */
async function flow(kind, client, app, dir) {
  // Tools, annotated, each with a description and an object input schema.
  const { tools } = record('tools/list', await client.listTools());
  const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
  for (const [name, hints] of Object.entries(TOOLS)) {
    const tool = byName[name];
    assert.ok(tool, `tool ${name} is listed`);
    assert.ok(tool.description.length > 40, `${name} has a description`);
    assert.equal(tool.inputSchema.type, 'object', `${name} has an object input schema`);
    for (const [hint, value] of Object.entries(hints)) {
      assert.equal(tool.annotations?.[hint], value, `${name}.${hint}`);
    }
  }
  assert.match(byName.list_apps.description, /first/i, 'list_apps says to call it first');
  assert.ok(byName.rollback.inputSchema.properties.confirm, 'rollback takes confirm');

  const apps = await ok(client, 'list_apps');
  assert.ok(apps.apps.some((a) => a.name === app), `${app} is listed: ${JSON.stringify(apps)}`);

  // Inspect and plan the folder.
  const report = await ok(client, 'inspect', { path: dir });
  assert.equal(report.app, app);
  assert.ok(Array.isArray(report.findings), 'findings');
  assert.ok(report.units.length >= 1, 'units');
  const plan = await ok(client, 'plan', { path: dir });
  assert.equal(plan.app, app);
  assert.equal(plan.plans[0].kind, 'static');
  const badInput = await refused(client, 'inspect', { path: 'relative/path' });
  assert.equal(badInput.code, 'invalid-input');

  // Deploy twice: each a job that answers at once.
  const deploy = async (label) => {
    fs.writeFileSync(path.join(dir, 'index.html'), `<h1>${app} ${label}</h1>\n`);
    const started = Date.now();
    const job = await ok(client, 'deploy', { path: dir });
    assert.match(job.job_id, /^dep_[0-9a-f]{16}$/);
    assert.equal(job.state, 'running');
    assert.ok(Date.now() - started < 5_000, 'deploy answers at once');
    const answered = Date.now() - started;
    const done = await waitForJob(client, job.job_id);
    assert.equal(done.state, 'succeeded', `deploy job: ${JSON.stringify(done)}`);
    console.log(`${kind} deploy ${label}: job id in ${answered} ms, live after ${Date.now() - started} ms`);
    assert.equal(done.result.app, app);
    return done.result.release_id;
  };
  const first = await deploy('v1');
  const second = await deploy('v2');
  assert.notEqual(first, second);
  assert.equal(await edgeRelease(app), second);

  const releases = await ok(client, 'releases', { app });
  assert.equal(releases.live.release_id, second);
  const ids = releases.releases.map((r) => r.id);
  assert.ok(ids.includes(first) && ids.includes(second), `both releases: ${ids}`);
  assert.equal(releases.releases.find((r) => r.id === second).live, true, 'the live one is marked');

  // Rollback without confirm: refused, nothing changed, and it says what would change.
  const dry = await ok(client, 'rollback', { app });
  assert.equal(dry.done, false);
  assert.equal(dry.would_change.from.release_id, second);
  assert.equal(dry.would_change.to.release_id, first);
  assert.ok(dry.would_change.to.age, 'the target release\'s age');
  assert.match(dry.message, /confirm/);
  assert.equal((await ok(client, 'releases', { app })).live.release_id, second, 'still live');
  assert.equal(await edgeRelease(app), second, 'the edge still serves it');

  // With confirm: the previous release is live, on the API and at the edge.
  const switchStarted = Date.now();
  const rolled = await ok(client, 'rollback', { app, confirm: true });
  console.log(`${kind} rollback with confirm: ${Date.now() - switchStarted} ms`);
  assert.equal(rolled.done, true);
  assert.equal(rolled.live.release_id, first);
  assert.equal(await edgeRelease(app), first);

  // Promote: the same two steps.
  const wouldPromote = await ok(client, 'promote', { app, release_id: second });
  assert.equal(wouldPromote.done, false);
  assert.equal(await edgeRelease(app), first);
  const promoted = await ok(client, 'promote', { app, release_id: second, confirm: true });
  assert.equal(promoted.live.release_id, second);
  assert.equal(await edgeRelease(app), second);
  const missing = await refused(client, 'promote', { app, release_id: 'r0000000000000000', confirm: true });
  assert.equal(missing.code, 'release-not-found');

  // Env names, never values.
  const names = await ok(client, 'env_names', { app });
  const secret = names.vars.find((v) => v.name === 'SECRET_X');
  assert.ok(secret, `SECRET_X is listed: ${JSON.stringify(names)}`);
  assert.match(secret.fingerprint, /^[0-9a-f]+$/);
  assert.deepEqual(Object.keys(secret).sort(), ['fingerprint', 'name', 'scope', 'updated_at']);

  // Logs are bounded; a static app has none.
  assert.equal((await refused(client, 'logs', { app, lines: 5000 })).code, 'invalid-input');
  assert.equal((await refused(client, 'logs', { app })).code, 'no-processes');

  // The audit tail: bounded, filtered.
  const audit = await ok(client, 'audit_tail', { app, limit: 3 });
  assert.ok(audit.entries.length >= 1 && audit.entries.length <= 3, `3 at most: ${audit.entries.length}`);
  const activations = await ok(client, 'audit_tail', { app, action: 'activate', limit: 500 });
  assert.ok(activations.entries.length >= 4, 'two deploys, a rollback, a promote');
  assert.ok(activations.entries.every((e) => e.action === 'activate'));

  // Resources: listed per app, templates, readable.
  const { resources } = record('resources/list', await client.listResources());
  const uris = resources.map((r) => r.uri);
  assert.ok(uris.includes(`ferry://apps/${app}/profile`), `${uris}`);
  assert.ok(uris.includes(`ferry://apps/${app}/releases/latest`), `${uris}`);
  const { resourceTemplates } = record('resources/templates/list', await client.listResourceTemplates());
  assert.deepEqual(
    resourceTemplates.map((t) => t.uriTemplate).sort(),
    ['ferry://apps/{app}/profile', 'ferry://apps/{app}/releases/latest'],
  );
  const profile = record('profile', await client.readResource({ uri: `ferry://apps/${app}/profile` }));
  const profileDoc = JSON.parse(profile.contents[0].text);
  assert.equal(profileDoc.live.release_id, second);
  assert.ok(profileDoc.env.some((v) => v.name === 'SECRET_X'));
  const latest = record('latest', await client.readResource({ uri: `ferry://apps/${app}/releases/latest` }));
  assert.equal(JSON.parse(latest.contents[0].text).latest.id, second);

  noSecret();
  return { first, second };
}

test('stdio: `ferry mcp` as the machine\'s owner', async () => {
  const client = await connect('stdio');
  try {
    await flow('stdio', client, env('APP_STDIO'), env('DIR_STDIO'));
    // The owner sees the data jobs, and verifies the finished Base44 pull by its id alone.
    const pull = env('PULL_JOB');
    const jobs = await ok(client, 'data_jobs');
    const listed = jobs.jobs.find((j) => j.id === pull);
    assert.ok(listed, `the pull ${pull} is listed`);
    assert.equal(listed.reverifiable, true);
    const started = Date.now();
    const verify = await ok(client, 'data_verify', { job_id: pull });
    const answered = Date.now() - started;
    assert.equal(verify.kind, 'verify');
    assert.equal(verify.status, 'running');
    assert.equal(verify.of, pull);
    assert.match(verify.id, /^job_[0-9a-f]{12}$/);
    let job;
    for (;;) {
      job = await ok(client, 'data_job', { job_id: verify.id });
      if (job.status !== 'running') break;
      assert.ok(Date.now() - started < 60_000, `verify ${verify.id} still running after 60 s`);
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(job.status, 'succeeded', JSON.stringify(job));
    assert.equal(job.kind, 'verify');
    const [task] = job.summary.entities;
    assert.equal(task.entity, 'Task');
    assert.equal(task.records, 2);
    assert.equal(task.target_records, 2);
    assert.equal(task.checksum, task.target_checksum);
    assert.equal(task.ok, true);
    assert.equal(job.progress.Task.rows, 2);
    console.log(`# data_verify answered in ${answered} ms, succeeded after ${Date.now() - started} ms`);
    // Without a pull or URLs: the API's own refusal.
    assert.equal((await refused(client, 'data_verify', {})).code, 'verify-needs-job-or-urls');
  } finally {
    await client.close();
  }
});

test('stdio without a running server: a clear error naming how to start one', async () => {
  const client = await connect('stdio', null, env('EMPTY_HOME'));
  try {
    const error = await refused(client, 'list_apps');
    assert.equal(error.code, 'server-not-running');
    assert.match(error.hint, /ferry up/);
    assert.ok(!fs.existsSync(path.join(env('EMPTY_HOME'), 'ferry.db')), 'ferry mcp never opens ferry.db');
  } finally {
    await client.close();
  }
});

test('streamable HTTP: `/mcp` with a bearer token', async () => {
  const client = await connect('http', env('TOKEN_A'));
  let jobId;
  try {
    const { first, second } = await flow('http', client, env('APP_HTTP'), env('DIR_HTTP'));
    // Folders outside FERRY_MCP_ROOTS are not read.
    assert.equal((await refused(client, 'inspect', { path: env('OUTSIDE') })).code, 'path-not-allowed');
    assert.equal((await refused(client, 'deploy', { path: env('OUTSIDE') })).code, 'path-not-allowed');
    // Data jobs belong to the machine's owner.
    assert.equal((await refused(client, 'data_jobs')).status, 403);
    assert.equal((await refused(client, 'data_verify', { job_id: env('PULL_JOB') })).status, 403);
    assert.equal((await refused(client, 'data_job', { job_id: env('PULL_JOB') })).status, 403);
    const jobs = await ok(client, 'job_status');
    jobId = jobs.jobs[0].id;
    assert.ok(first && second);
  } finally {
    await client.close();
  }

  // Another organisation's token sees nothing of it.
  const other = await connect('http', env('TOKEN_B'));
  try {
    const app = env('APP_HTTP');
    const apps = await ok(other, 'list_apps');
    assert.deepEqual(apps.apps, [], 'no app of the other organisation');
    const releases = await refused(other, 'releases', { app });
    assert.equal(releases.status, 404);
    const live = await edgeRelease(app);
    const rollback = await refused(other, 'rollback', { app, confirm: true });
    assert.equal(rollback.status, 404);
    assert.equal(await edgeRelease(app), live, 'nothing changed');
    assert.equal((await refused(other, 'env_names', { app })).status, 404);
    assert.equal((await refused(other, 'job_status', { job_id: jobId })).code, 'job-not-found');
    const { resources } = record('resources/list B', await other.listResources());
    assert.deepEqual(resources, []);
    await assert.rejects(other.readResource({ uri: `ferry://apps/${app}/profile` }));
  } finally {
    await other.close();
  }
  noSecret();
});

test('streamable HTTP: no token or a bad one is 401', async () => {
  const body = JSON.stringify({
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } },
  });
  const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
  for (const auth of [null, 'Bearer fy_nope_nope']) {
    const res = await fetch(env('MCP_URL'), {
      method: 'POST',
      body,
      headers: auth ? { ...headers, authorization: auth } : headers,
    });
    assert.equal(res.status, 401, `${auth}`);
    assert.equal(res.headers.get('www-authenticate'), 'Bearer');
  }
  await assert.rejects(connect('http', 'fy_bad_token'));
});
