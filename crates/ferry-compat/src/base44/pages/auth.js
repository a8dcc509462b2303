// ferry's sign-in pages for Base44 apps. They call the app's own auth API on this origin and
// hand the access token back the way @base44/sdk expects: `?access_token=` on the page the
// visitor came from (only pages of this origin are accepted as `from_url`).
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="ferry-app-id"]');
  var appId = meta ? meta.getAttribute("content") : "";
  var api = "/api/apps/" + encodeURIComponent(appId) + "/auth/";
  var params = new URLSearchParams(window.location.search);

  function sameOrigin(raw) {
    try {
      var u = new URL(raw || "/", window.location.origin);
      if (u.origin !== window.location.origin || u.pathname.indexOf("/_ferry/") === 0) {
        return new URL("/", window.location.origin);
      }
      return u;
    } catch (e) {
      return new URL("/", window.location.origin);
    }
  }

  function show(id) {
    document.querySelectorAll("section[data-view]").forEach(function (s) {
      s.hidden = s.id !== id;
    });
    var first = document.querySelector("#" + id + " input");
    if (first) first.focus();
  }

  function say(form, text, ok) {
    var box = form.querySelector('[role="alert"]');
    box.textContent = text || "";
    box.classList.toggle("ok", !!ok);
  }

  function post(route, body) {
    return fetch(api + route, {
      method: "POST",
      headers: { "content-type": "application/json", "x-app-id": appId },
      body: JSON.stringify(body),
      credentials: "same-origin",
    }).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (data) {
        if (!res.ok) {
          var err = new Error(data.message || "Something went wrong (" + res.status + ")");
          err.code = data.code || "";
          throw err;
        }
        return data;
      });
    });
  }

  function signedIn(token) {
    var to = sameOrigin(params.get("from_url"));
    to.searchParams.set("access_token", token);
    window.location.assign(to.toString());
  }

  function handle(form, run) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var button = form.querySelector("button");
      button.disabled = true;
      say(form, "");
      var data = {};
      new FormData(form).forEach(function (v, k) { data[k] = String(v); });
      Promise.resolve()
        .then(function () { return run(data); })
        .catch(function (err) { say(form, err.message); })
        .then(function () { button.disabled = false; });
    });
  }

  var pendingEmail = "";
  var movedEmail = "";
  // The emailed-code view for `email`, with `note` in its alert region.
  function verify(email, note) {
    pendingEmail = email;
    document.getElementById("otp-email").textContent = email;
    show("verify");
    say(document.getElementById("verify-form"), note, true);
  }

  var login = document.getElementById("login-form");
  if (login) {
    handle(login, function (d) {
      return post("login", { email: d.email, password: d.password }).then(function (r) {
        signedIn(r.access_token);
      }, function (err) {
        // Moved from Base44 without a password (none could be exported): offer to mail a
        // set-password link.
        if (err.code === "password-not-set") {
          movedEmail = d.email;
          document.getElementById("moved-email").textContent = d.email;
          show("moved");
          var first = document.querySelector("#moved button");
          if (first) first.focus();
          return;
        }
        // Signed up but never confirmed (the app wants the emailed code): send a fresh code
        // and ask for it, rather than a dead end.
        if (err.code !== "email-not-verified") throw err;
        return post("resend-otp", { email: d.email }).then(function () {
          verify(d.email, "Your email is not confirmed yet: we sent you a new code.");
        });
      });
    });
    handle(document.getElementById("register-form"), function (d) {
      return post("register", { email: d.email, password: d.password, full_name: d.full_name }).then(function (r) {
        if (r.access_token) return signedIn(r.access_token);
        verify(d.email, "");
      });
    });
    var verifyForm = document.getElementById("verify-form");
    handle(verifyForm, function (d) {
      return post("verify-otp", { email: pendingEmail, otp_code: d.otp_code }).then(function (r) {
        signedIn(r.access_token);
      });
    });
    var resend = document.getElementById("resend-code");
    resend.addEventListener("click", function () {
      resend.disabled = true;
      post("resend-otp", { email: pendingEmail })
        .then(function () { say(verifyForm, "A new code is on its way.", true); })
        .catch(function (err) { say(verifyForm, err.message); })
        .then(function () { resend.disabled = false; });
    });
    var movedForm = document.getElementById("moved-form");
    handle(movedForm, function () {
      return post("reset-password-request", { email: movedEmail }).then(function () {
        say(movedForm, "If this account is yours, a link to set your password is on its way to your email.", true);
      });
    });
    handle(document.getElementById("forgot-form"), function (d) {
      return post("reset-password-request", { email: d.email }).then(function (r) {
        say(document.getElementById("forgot-form"), r.message || "If the address has an account, a link is on its way.", true);
      });
    });
    document.querySelectorAll("a[data-show]").forEach(function (a) {
      a.addEventListener("click", function (event) {
        event.preventDefault();
        show(a.getAttribute("data-show"));
      });
    });
  }

  var reset = document.getElementById("reset-form");
  if (reset) {
    handle(reset, function (d) {
      if (d.new_password !== d.confirm) throw new Error("The two passwords differ.");
      return post("reset-password", { reset_token: params.get("token") || "", new_password: d.new_password }).then(function (r) {
        // The link proved the email: the answer signs the user in; back to the app.
        if (r.access_token) return signedIn(r.access_token);
        say(reset, "Your password is set. You can sign in now.", true);
        document.getElementById("to-login").hidden = false;
      });
    });
  }
})();
