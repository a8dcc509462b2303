// Sign-in with @base44/sdk 0.8.50 (`base44.auth`, `base44.users`): register, verify-otp,
// resend-otp, loginViaEmailPassword, me, updateMe, reset-password-request, reset-password,
// change-password, invite-user (both paths), and logout as far as Node allows (the SDK
// drops its token; the browser redirect does not exist here). Codes and links are read from
// the outbox (OUTBOX_CMD).

import assert from "node:assert/strict";
import { before, describe, test } from "node:test";

import {
  HEX24,
  PASSWORD,
  client,
  codeFrom,
  freshEmail,
  linkTokenFrom,
  mailTo,
  rejects,
  signUp,
  signUpAdmin,
  withMail,
} from "./helpers.mjs";

const NEW_PASSWORD = "another fine passphrase 2";

/** A user record as the API must show it: public fields only. */
function assertPublicUser(user, email) {
  assert.match(user.id, HEX24);
  assert.equal(user.email, email);
  assert.equal(user.password_hash, undefined);
  assert.equal(user.email_verified, undefined);
}

describe("register, verify-otp, resend-otp", () => {
  const email = freshEmail("register");
  const c = client();
  let verifying = false;
  let firstCode;

  test("register answers a session, or asks for the emailed code", async () => {
    const { result, mail } = await withMailOrSession(email, () =>
      c.auth.register({
        email: email.toUpperCase(),
        password: PASSWORD,
        full_name: "Reg Ister",
        role: "admin",
        referral_code: "ignored",
      }),
    );
    if (result.access_token) {
      // The app does not confirm emails: register signs the user in at once.
      assertPublicUser(result.user, email);
      assert.equal(result.user.role, "user");
      assert.equal(result.user.full_name, "Reg Ister");
    } else {
      verifying = true;
      assert.equal(result.email, email);
      assert.equal(typeof result.message, "string");
      assert.equal(typeof result.expires_in, "number");
      assert.ok(result.expires_in > 0);
      firstCode = codeFrom(mail);
    }
  });

  test("login waits for the code when the app confirms emails", async () => {
    if (verifying) {
      await rejects(c.auth.loginViaEmailPassword(email, PASSWORD), 403, "email-not-verified");
    } else {
      const session = await client().auth.loginViaEmailPassword(email, PASSWORD);
      assertPublicUser(session.user, email);
    }
  });

  test("a wrong code is 400 invalid-otp with the attempts left", async () => {
    // Without confirmation the new user is still unverified, so resend-otp mails a code.
    if (!verifying) firstCode = await resendCode(c, email);
    const wrong = firstCode === "000000" ? "111111" : "000000";
    const error = await rejects(c.auth.verifyOtp({ email, otpCode: wrong }), 400, "invalid-otp");
    assert.equal(error.data.detail.attempts_left, 4);
  });

  test("resend-otp mails a new code that replaces the old one", async () => {
    const { result, mail } = await withMail(email, () => c.auth.resendOtp(email));
    assert.equal(typeof result.message, "string");
    assert.equal(typeof result.expires_in, "number");
    const second = codeFrom(mail);
    if (second !== firstCode) {
      await rejects(c.auth.verifyOtp({ email, otpCode: firstCode }), 400, "invalid-otp");
    }
    const session = await c.auth.verifyOtp({ email, otpCode: second });
    assert.equal(typeof session.access_token, "string");
    assertPublicUser(session.user, email);
    assert.equal(session.user.role, "user");
    await rejects(c.auth.verifyOtp({ email, otpCode: second }), 400, "invalid-otp");
  });

  test("resend-otp answers the same for unknown and verified emails, and mails nothing", async () => {
    const unknown = freshEmail("nobody");
    const result = await c.auth.resendOtp(unknown);
    assert.equal(typeof result.message, "string");
    const before = mailTo(email).length;
    const again = await c.auth.resendOtp(email);
    assert.equal(again.message, result.message);
    assert.equal(mailTo(unknown).length, 0);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(mailTo(email).length, before);
  });

  test("the account signs in with its password once confirmed", async () => {
    const session = await c.auth.loginViaEmailPassword(email, PASSWORD);
    assertPublicUser(session.user, email);
    const me = await c.auth.me();
    assert.equal(me.email, email);
    assert.equal(me.full_name, "Reg Ister");
    assert.equal(me.role, "user");
  });

  test("a taken email, a weak password and a bad email are refused", async () => {
    await rejects(client().auth.register({ email, password: PASSWORD }), 409, "email-taken");
    await rejects(
      client().auth.register({ email: freshEmail("weak"), password: "short" }),
      400,
      "weak-password",
    );
    await rejects(
      client().auth.register({ email: "not-an-email", password: PASSWORD }),
      400,
      "bad-email",
    );
  });
});

/** Register's mail when it sends one, else none. */
async function withMailOrSession(email, action) {
  const before = mailTo(email).length;
  const result = await action();
  if (result.access_token) return { result };
  for (let i = 0; i < 100; i += 1) {
    const now = mailTo(email);
    if (now.length > before) return { result, mail: now[before] };
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`register asked for a code but nothing was mailed to ${email}`);
}

async function resendCode(c, email) {
  const { mail } = await withMail(email, () => c.auth.resendOtp(email));
  return codeFrom(mail);
}

describe("login, me, updateMe, logout", () => {
  let user;

  before(async () => {
    user = await signUp("login", { fullName: "Lo Gin" });
  });

  test("loginViaEmailPassword answers {access_token, user} and signs the client in", async () => {
    const c = client();
    assert.equal(c.auth.hasToken(), false);
    const session = await c.auth.loginViaEmailPassword(user.email, PASSWORD);
    assert.equal(typeof session.access_token, "string");
    assertPublicUser(session.user, user.email);
    assert.equal(session.user.id, user.user.id);
    assert.equal(c.auth.hasToken(), true);
    assert.equal((await c.auth.me()).id, user.user.id);
    assert.equal(await c.auth.isAuthenticated(), true);
  });

  test("the email is matched without regard to case", async () => {
    const session = await client().auth.loginViaEmailPassword(user.email.toUpperCase(), PASSWORD);
    assert.equal(session.user.id, user.user.id);
  });

  test("a wrong password and an unknown email give the same 401", async () => {
    const c = client();
    const wrong = await rejects(
      c.auth.loginViaEmailPassword(user.email, "wrong password!"),
      401,
      "invalid-credentials",
    );
    const unknown = await rejects(
      c.auth.loginViaEmailPassword(freshEmail("ghost"), PASSWORD),
      401,
      "invalid-credentials",
    );
    assert.equal(wrong.message, unknown.message);
    assert.equal(c.auth.hasToken(), false);
  });

  test("me() without a token is 401; a forged token is 401", async () => {
    await rejects(client().auth.me(), 401);
    assert.equal(await client().auth.isAuthenticated(), false);
    await rejects(client("not.a.token").auth.me(), 401, "token-invalid");
    const [head, body] = user.token.split(".");
    await rejects(client(`${head}.${body}.AAAA`).auth.me(), 401, "token-invalid");
  });

  test("a token passed to createClient signs the client in", async () => {
    const me = await client(user.token).auth.me();
    assert.equal(me.email, user.email);
    assert.equal(me.full_name, "Lo Gin");
  });

  test("updateMe changes the caller's own fields, never role or email", async () => {
    const updated = await user.client.auth.updateMe({
      full_name: "Lo Gin Jr",
      bio: "hello",
      role: "admin",
      email: "hijack@example.test",
    });
    assert.equal(updated.id, user.user.id);
    assert.equal(updated.full_name, "Lo Gin Jr");
    assert.equal(updated.bio, "hello");
    assert.equal(updated.role, "user");
    assert.equal(updated.email, user.email);
    const me = await user.client.auth.me();
    assert.equal(me.full_name, "Lo Gin Jr");
    assert.equal(me.bio, "hello");
    await rejects(client().auth.updateMe({ full_name: "anon" }), 401);
  });

  test("logout drops the client's token: calls are anonymous again", async () => {
    const c = client();
    await c.auth.loginViaEmailPassword(user.email, PASSWORD);
    await c.entities.Task.create({ title: "before logout" });
    assert.equal((await c.entities.Task.list()).length, 1);
    c.auth.logout();
    assert.equal(c.auth.hasToken(), false);
    await rejects(c.auth.me(), 401);
    assert.equal(await c.auth.isAuthenticated(), false);
    assert.deepEqual(await c.entities.Task.list(), []);
    await rejects(c.entities.Task.create({ title: "after logout" }), 403, "forbidden");
    await c.auth.loginViaEmailPassword(user.email, PASSWORD);
    assert.equal((await c.entities.Task.list()).length, 1);
  });
});

describe("reset-password-request, reset-password", () => {
  let user;

  before(async () => {
    user = await signUp("reset");
  });

  test("a reset link sets a new password; the old one stops working", async () => {
    const c = client();
    const { result, mail } = await withMail(user.email, () =>
      c.auth.resetPasswordRequest(user.email),
    );
    assert.equal(typeof result.message, "string");
    const resetToken = linkTokenFrom(mail);
    const done = await c.auth.resetPassword({ resetToken, newPassword: NEW_PASSWORD });
    assert.equal(typeof done.message, "string");
    await rejects(c.auth.loginViaEmailPassword(user.email, PASSWORD), 401, "invalid-credentials");
    const session = await c.auth.loginViaEmailPassword(user.email, NEW_PASSWORD);
    assert.equal(session.user.id, user.user.id);
    await rejects(
      c.auth.resetPassword({ resetToken, newPassword: "yet another one 3" }),
      400,
      "invalid-reset-token",
    );
  });

  test("an unknown email gets the same answer and no mail", async () => {
    const ghost = freshEmail("ghost");
    const known = await client().auth.resetPasswordRequest(user.email);
    const unknown = await client().auth.resetPasswordRequest(ghost);
    assert.equal(unknown.message, known.message);
    assert.equal(mailTo(ghost).length, 0);
  });

  test("only the latest link works; a weak password does not spend it", async () => {
    const c = client();
    const { mail: first } = await withMail(user.email, () => c.auth.resetPasswordRequest(user.email));
    const { mail: second } = await withMail(user.email, () =>
      c.auth.resetPasswordRequest(user.email),
    );
    await rejects(
      c.auth.resetPassword({ resetToken: linkTokenFrom(first), newPassword: PASSWORD }),
      400,
      "invalid-reset-token",
    );
    const latest = linkTokenFrom(second);
    await rejects(c.auth.resetPassword({ resetToken: latest, newPassword: "short" }), 400, "weak-password");
    await c.auth.resetPassword({ resetToken: latest, newPassword: PASSWORD });
    await c.auth.loginViaEmailPassword(user.email, PASSWORD);
    await rejects(
      c.auth.resetPassword({ resetToken: "garbage", newPassword: PASSWORD }),
      400,
      "invalid-reset-token",
    );
  });
});

describe("change-password", () => {
  let user;
  let other;
  let admin;

  before(async () => {
    user = await signUp("change");
    other = await signUp("change-other");
    admin = await signUpAdmin("change-admin");
  });

  test("a user changes their own password with the current one", async () => {
    const result = await user.client.auth.changePassword({
      userId: user.user.id,
      currentPassword: PASSWORD,
      newPassword: NEW_PASSWORD,
    });
    assert.equal(typeof result.message, "string");
    await rejects(client().auth.loginViaEmailPassword(user.email, PASSWORD), 401, "invalid-credentials");
    await client().auth.loginViaEmailPassword(user.email, NEW_PASSWORD);
  });

  test("a wrong current password is 400 (the app keeps the user signed in)", async () => {
    await rejects(
      user.client.auth.changePassword({
        userId: user.user.id,
        currentPassword: "not my password",
        newPassword: PASSWORD,
      }),
      400,
      "invalid-credentials",
    );
    assert.equal((await user.client.auth.me()).id, user.user.id);
  });

  test("another user's password: 403 for users, 401 anonymous, allowed for admins", async () => {
    await rejects(
      user.client.auth.changePassword({
        userId: other.user.id,
        currentPassword: PASSWORD,
        newPassword: NEW_PASSWORD,
      }),
      403,
      "forbidden",
    );
    await rejects(
      client().auth.changePassword({
        userId: other.user.id,
        currentPassword: PASSWORD,
        newPassword: NEW_PASSWORD,
      }),
      401,
    );
    await admin.client.auth.changePassword({ userId: other.user.id, newPassword: NEW_PASSWORD });
    await client().auth.loginViaEmailPassword(other.email, NEW_PASSWORD);
  });
});

describe("invite-user", () => {
  let admin;
  let member;

  before(async () => {
    admin = await signUpAdmin("invite-admin");
    member = await signUp("invite-member");
  });

  test("only admins invite: 401 anonymous, 403 users", async () => {
    await rejects(client().auth.inviteUser(freshEmail("x"), "user"), 401);
    await rejects(member.client.auth.inviteUser(freshEmail("x"), "user"), 403, "forbidden");
    await rejects(member.client.users.inviteUser(freshEmail("x"), "user"), 403, "forbidden");
  });

  test("auth.inviteUser creates the user and mails a link to choose a password", async () => {
    const email = freshEmail("invitee");
    const { result, mail } = await withMail(email, () => admin.client.auth.inviteUser(email, "user"));
    assert.equal(typeof result.message, "string");
    assertPublicUser(result.user, email);
    assert.equal(result.user.role, "user");
    assert.equal(result.user.created_by, admin.email);
    // No password yet: the distinct answer ferry's sign-in page turns into "set your password".
    await rejects(client().auth.loginViaEmailPassword(email, PASSWORD), 403, "password-not-set");

    const c = client();
    await c.auth.resetPassword({ resetToken: linkTokenFrom(mail), newPassword: PASSWORD });
    const session = await c.auth.loginViaEmailPassword(email, PASSWORD);
    assert.equal(session.user.id, result.user.id);
    assert.equal((await c.auth.me()).role, "user");
  });

  test("users.inviteUser (runtime path) can invite an admin", async () => {
    const email = freshEmail("invitee-admin");
    const { result, mail } = await withMail(email, () => admin.client.users.inviteUser(email, "admin"));
    assert.equal(result.user.role, "admin");
    const c = client();
    await c.auth.resetPassword({ resetToken: linkTokenFrom(mail), newPassword: PASSWORD });
    await c.auth.loginViaEmailPassword(email, PASSWORD);
    assert.equal((await c.auth.me()).role, "admin");
  });

  test("an existing email is 409; a bad role is 400", async () => {
    await rejects(admin.client.auth.inviteUser(member.email, "user"), 409);
    await rejects(admin.client.auth.inviteUser(freshEmail("x"), "owner"), 400, "bad-role");
  });

  test("an invited email cannot be registered over (409)", async () => {
    const email = freshEmail("invitee-taken");
    await admin.client.auth.inviteUser(email, "user");
    await rejects(client().auth.register({ email, password: PASSWORD }), 409, "email-taken");
  });
});
