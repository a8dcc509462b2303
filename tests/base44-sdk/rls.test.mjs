// Row-level security as the app's schemas declare it (tests/base44-sdk/app/base44/entities),
// seen through @base44/sdk 0.8.50 with real tokens:
// - Task: owner only (created_by = {{user.email}}) — another user cannot read or change it;
// - Project: tenant isolation through {{user.tenant_id}}, the User record's custom field;
// - Ticket: creator or admin ($or with user_condition), delete by admins only;
// - Announcement: public reading (read: true), author-only edits;
// - GuestBook: no rules at all;
// - User: the built-in defaults (each user their own record; admins everyone).

import assert from "node:assert/strict";
import { before, describe, test } from "node:test";

import { RUN, client, makeAdmin, pluck, rejects, signUp, signUpAdmin } from "./helpers.mjs";

let alice;
let bob;
let carol;
let admin;
const anonymous = client();

before(async () => {
  alice = await signUp("rls-alice");
  bob = await signUp("rls-bob");
  carol = await signUp("rls-carol");
  admin = await signUpAdmin("rls-admin");
});

describe("owner-only records (Task)", () => {
  let task;

  before(async () => {
    task = await alice.client.entities.Task.create({ title: `secret-${RUN}`, priority: 1 });
  });

  test("the owner reads it", async () => {
    assert.equal((await alice.client.entities.Task.get(task.id)).title, `secret-${RUN}`);
    assert.deepEqual(pluck(await alice.client.entities.Task.list(), "id"), [task.id]);
  });

  test("another user cannot read it, whatever the query", async () => {
    const Task = bob.client.entities.Task;
    assert.deepEqual(await Task.list(), []);
    assert.deepEqual(await Task.filter({ id: task.id }), []);
    assert.deepEqual(await Task.filter({ created_by: alice.email }), []);
    assert.deepEqual(await Task.filter({ $or: [{ title: `secret-${RUN}` }, { priority: 1 }] }), []);
    assert.equal(await Task.count(), 0);
    await rejects(Task.get(task.id), 404, "not-found");
  });

  test("another user cannot change or delete it", async () => {
    const Task = bob.client.entities.Task;
    await rejects(Task.update(task.id, { title: "mine now" }), 404, "not-found");
    await rejects(Task.delete(task.id), 404, "not-found");
    assert.deepEqual(await Task.deleteMany({}), { success: true, deleted: 0 });
    assert.deepEqual(await Task.updateMany({}, { $set: { title: "mine now" } }), {
      success: true,
      updated: 0,
      has_more: false,
    });
    const error = await rejects(
      Task.bulkUpdate([{ id: task.id, title: "mine now" }]),
      404,
      "not-found",
    );
    assert.deepEqual(error.data.detail, { index: 0 });
    const still = await alice.client.entities.Task.get(task.id);
    assert.equal(still.title, `secret-${RUN}`);
    assert.equal(still.updated_date, task.updated_date);
  });

  test("the creator cannot be rewritten by the client", async () => {
    const mine = await bob.client.entities.Task.create({
      title: "forged",
      created_by: alice.email,
      created_by_id: alice.user.id,
    });
    assert.equal(mine.created_by, bob.email);
    assert.equal(mine.created_by_id, bob.user.id);
    assert.deepEqual(await alice.client.entities.Task.filter({ title: "forged" }), []);
  });

  test("anonymous callers read nothing and cannot create", async () => {
    assert.deepEqual(await anonymous.entities.Task.list(), []);
    await rejects(anonymous.entities.Task.get(task.id), 404, "not-found");
    await rejects(anonymous.entities.Task.create({ title: "anon" }), 403, "forbidden");
    await rejects(anonymous.entities.Task.delete(task.id), 403, "forbidden");
  });

  test("an admin bypasses the owner rule", async () => {
    const Task = admin.client.entities.Task;
    assert.equal((await Task.get(task.id)).title, `secret-${RUN}`);
    assert.deepEqual(pluck(await Task.filter({ title: `secret-${RUN}` }), "id"), [task.id]);
  });
});

describe("tenant isolation (Project, {{user.tenant_id}})", () => {
  const t1 = `t1-${RUN}`;
  const t2 = `t2-${RUN}`;
  let project;

  test("without a tenant, a user can neither read nor create projects", async () => {
    await rejects(
      alice.client.entities.Project.create({ name: "early", tenant_id: t1 }),
      403,
      "forbidden",
    );
    assert.deepEqual(await alice.client.entities.Project.list(), []);
  });

  test("an admin assigns tenants (User.update of another user); users cannot", async () => {
    // Tenants are given by an admin, as an app would. (A user may still set custom fields of
    // their own User record with updateMe: ferry enforces rules per record, not per field.)
    const User = admin.client.entities.User;
    assert.equal((await User.update(alice.user.id, { tenant_id: t1 })).tenant_id, t1);
    assert.equal((await User.update(carol.user.id, { tenant_id: t1 })).tenant_id, t1);
    assert.equal((await User.update(bob.user.id, { tenant_id: t2 })).tenant_id, t2);
    await rejects(
      bob.client.entities.User.update(alice.user.id, { tenant_id: t2 }),
      404,
      "not-found",
    );
    assert.equal((await alice.client.auth.me()).tenant_id, t1);
  });

  test("a user creates projects in their own tenant only", async () => {
    project = await alice.client.entities.Project.create({
      name: "apollo",
      tenant_id: t1,
      budget: 100,
    });
    assert.equal(project.tenant_id, t1);
    await rejects(
      alice.client.entities.Project.create({ name: "intrusion", tenant_id: t2 }),
      403,
      "forbidden",
    );
    await rejects(
      alice.client.entities.Project.bulkCreate([
        { name: "fine", tenant_id: t1 },
        { name: "intrusion", tenant_id: t2 },
      ]),
      403,
      "forbidden",
    );
    assert.deepEqual(pluck(await alice.client.entities.Project.list(), "name"), ["apollo"]);
  });

  test("the same tenant reads and updates; another tenant sees nothing", async () => {
    assert.deepEqual(pluck(await carol.client.entities.Project.list(), "id"), [project.id]);
    const updated = await carol.client.entities.Project.update(project.id, { budget: 150 });
    assert.equal(updated.budget, 150);

    const Project = bob.client.entities.Project;
    assert.deepEqual(await Project.list(), []);
    assert.deepEqual(await Project.filter({ tenant_id: t1 }), []);
    assert.equal(await Project.count(), 0);
    await rejects(Project.get(project.id), 404, "not-found");
    await rejects(Project.update(project.id, { budget: 0 }), 404, "not-found");
    await rejects(Project.delete(project.id), 404, "not-found");
    assert.deepEqual(await Project.deleteMany({ tenant_id: t1 }), { success: true, deleted: 0 });
    assert.equal((await alice.client.entities.Project.get(project.id)).budget, 150);
  });

  test("a record cannot be moved out of the tenant (rolled back, 403)", async () => {
    await rejects(
      alice.client.entities.Project.update(project.id, { tenant_id: t2 }),
      403,
      "forbidden",
    );
    await rejects(
      alice.client.entities.Project.updateMany({ name: "apollo" }, { $set: { tenant_id: t2 } }),
      403,
      "forbidden",
    );
    const stored = await alice.client.entities.Project.get(project.id);
    assert.equal(stored.tenant_id, t1);
    assert.deepEqual(await bob.client.entities.Project.list(), []);
  });

  test("an admin sees every tenant", async () => {
    const both = await admin.client.entities.Project.filter({ tenant_id: { $in: [t1, t2] } });
    assert.deepEqual(pluck(both, "id"), [project.id]);
  });

  test("a tenant change applies at once, with the same token", async () => {
    await admin.client.entities.User.update(bob.user.id, { tenant_id: t1 });
    assert.deepEqual(pluck(await bob.client.entities.Project.list(), "id"), [project.id]);
    await admin.client.entities.User.update(bob.user.id, { tenant_id: t2 });
    assert.deepEqual(await bob.client.entities.Project.list(), []);
  });
});

describe("admin bypass through $or + user_condition (Ticket)", () => {
  let ticket;

  before(async () => {
    ticket = await alice.client.entities.Ticket.create({ subject: "broken", severity: 2, run: RUN });
  });

  test("the creator reads and updates; other users do not see it", async () => {
    assert.equal((await alice.client.entities.Ticket.get(ticket.id)).subject, "broken");
    await alice.client.entities.Ticket.update(ticket.id, { severity: 3 });
    assert.deepEqual(await bob.client.entities.Ticket.filter({ run: RUN }), []);
    await rejects(bob.client.entities.Ticket.update(ticket.id, { severity: 1 }), 404, "not-found");
  });

  test("nobody but an admin deletes, not even the creator", async () => {
    await rejects(alice.client.entities.Ticket.delete(ticket.id), 403, "forbidden");
    await rejects(bob.client.entities.Ticket.delete(ticket.id), 403, "forbidden");
    await rejects(alice.client.entities.Ticket.deleteMany({ run: RUN }), 403, "forbidden");
  });

  test("an admin reads, updates and deletes every ticket", async () => {
    const bobs = await bob.client.entities.Ticket.create({ subject: "slow", run: RUN });
    const Ticket = admin.client.entities.Ticket;
    assert.deepEqual(pluck(await Ticket.filter({ run: RUN }, "subject"), "subject"), [
      "broken",
      "slow",
    ]);
    assert.equal((await Ticket.update(ticket.id, { severity: 5 })).severity, 5);
    assert.deepEqual(await Ticket.delete(ticket.id), { success: true });
    assert.deepEqual(await Ticket.deleteMany({ run: RUN }), { success: true, deleted: 1 });
    await rejects(bob.client.entities.Ticket.get(bobs.id), 404, "not-found");
  });

  test("a role granted while signed in applies at once", async () => {
    const promoted = await signUp("rls-promoted");
    const mine = await alice.client.entities.Ticket.create({ subject: "later", run: `${RUN}-2` });
    assert.deepEqual(await promoted.client.entities.Ticket.filter({ run: `${RUN}-2` }), []);
    makeAdmin(promoted.email);
    assert.deepEqual(
      pluck(await promoted.client.entities.Ticket.filter({ run: `${RUN}-2` }), "id"),
      [mine.id],
    );
  });
});

describe("public reading (Announcement, read: true)", () => {
  let post;

  before(async () => {
    post = await alice.client.entities.Announcement.create({ body: "hello", run: RUN });
  });

  test("anyone reads, signed in or not", async () => {
    assert.deepEqual(pluck(await anonymous.entities.Announcement.filter({ run: RUN }), "id"), [
      post.id,
    ]);
    assert.equal((await anonymous.entities.Announcement.get(post.id)).body, "hello");
    assert.deepEqual(pluck(await bob.client.entities.Announcement.filter({ run: RUN }), "id"), [
      post.id,
    ]);
    assert.equal(await anonymous.entities.Announcement.count({ run: RUN }), 1);
  });

  test("only signed-in users post; only the author edits or deletes", async () => {
    await rejects(anonymous.entities.Announcement.create({ body: "spam", run: RUN }), 403, "forbidden");
    await rejects(anonymous.entities.Announcement.update(post.id, { body: "x" }), 403, "forbidden");
    await rejects(bob.client.entities.Announcement.update(post.id, { body: "x" }), 404, "not-found");
    await rejects(bob.client.entities.Announcement.delete(post.id), 404, "not-found");
    assert.equal((await alice.client.entities.Announcement.update(post.id, { body: "hi" })).body, "hi");
    assert.deepEqual(await alice.client.entities.Announcement.delete(post.id), { success: true });
    assert.deepEqual(await anonymous.entities.Announcement.filter({ run: RUN }), []);
  });
});

describe("no rules (GuestBook)", () => {
  test("anonymous visitors create, read, update and delete", async () => {
    const GuestBook = anonymous.entities.GuestBook;
    const entry = await GuestBook.create({ visitor: "eve", message: "hi", run: RUN });
    assert.equal(entry.created_by, null);
    assert.equal(entry.created_by_id, null);
    assert.deepEqual(pluck(await GuestBook.filter({ run: RUN }), "id"), [entry.id]);
    assert.equal((await GuestBook.update(entry.id, { message: "bye" })).message, "bye");
    const signed = await alice.client.entities.GuestBook.create({ visitor: "alice", run: RUN });
    assert.equal(signed.created_by, alice.email);
    assert.deepEqual(pluck(await bob.client.entities.GuestBook.filter({ run: RUN }, "visitor"), "visitor"), [
      "alice",
      "eve",
    ]);
    assert.deepEqual(await GuestBook.deleteMany({ run: RUN }), { success: true, deleted: 2 });
  });
});

describe("User's default rules", () => {
  test("a user lists and reads only their own User record", async () => {
    const User = alice.client.entities.User;
    const me = await User.list();
    assert.deepEqual(pluck(me, "email"), [alice.email]);
    assert.equal((await User.get(alice.user.id)).email, alice.email);
    await rejects(User.get(bob.user.id), 404, "not-found");
    assert.deepEqual(await User.filter({ email: bob.email }), []);
  });

  test("a user updates only their own record, and never their role", async () => {
    const User = alice.client.entities.User;
    const updated = await User.update(alice.user.id, { bio: "hello", role: "admin" });
    assert.equal(updated.bio, "hello");
    assert.equal(updated.role, "user");
    await rejects(User.update(bob.user.id, { bio: "hacked" }), 404, "not-found");
  });

  test("users cannot create or delete User records", async () => {
    const User = alice.client.entities.User;
    await rejects(User.create({ email: `fake.${RUN}@example.test` }), 403, "forbidden");
    await rejects(User.delete(alice.user.id), 403, "forbidden");
    await rejects(anonymous.entities.User.create({ email: `anon.${RUN}@example.test` }), 403, "forbidden");
    assert.deepEqual(await anonymous.entities.User.list(), []);
  });

  test("an admin reads every user", async () => {
    const users = await admin.client.entities.User.filter(
      { email: { $in: [alice.email, bob.email] } },
      "email",
    );
    assert.deepEqual(pluck(users, "email"), [alice.email, bob.email].sort());
    for (const user of users) {
      assert.equal(user.password_hash, undefined);
      assert.equal(user.email_verified, undefined);
    }
  });
});
