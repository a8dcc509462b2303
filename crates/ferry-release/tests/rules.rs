//! Routing rules: Netlify `_redirects` / `_headers`, `vercel.json`, matching and precedence.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;

use ferry_release::rules::{Action, HeaderRule, MAX_RULES, Redirect, Rewrite};
use ferry_release::{BlobHash, FileEntry, ReleaseError, Routes, Rules, release_id};

/// A `file_exists` over a fixed set of release paths.
fn files(paths: &[&str]) -> impl Fn(&str) -> bool {
    let set: BTreeSet<String> = paths.iter().map(|p| p.to_string()).collect();
    move |p: &str| set.contains(p)
}

fn netlify(text: &str) -> Rules {
    let (redirects, rewrites) = Rules::parse_netlify_redirects(text).expect("parse");
    Rules {
        redirects,
        rewrites,
        ..Rules::default()
    }
}

fn redirect(location: &str, status: u16) -> Option<Action> {
    Some(Action::Redirect {
        location: location.into(),
        status,
    })
}

fn rewrite(path: &str) -> Option<Action> {
    Some(Action::Rewrite {
        path: path.into(),
        status: 200,
    })
}

fn rules_error(result: Result<impl std::fmt::Debug, ReleaseError>) -> ReleaseError {
    let err = result.expect_err("an error");
    assert_eq!(err.code(), "invalid-rules", "{err}");
    assert!(err.is_bad_input());
    assert!(!err.hint().is_empty());
    assert!(!err.to_string().contains('\n'), "{err}");
    err
}

// ---------------------------------------------------------------------------------------
// Netlify _redirects

#[test]
fn netlify_exact_redirect_default_status() {
    let r = netlify("/home /\n/old /new 302\n");
    assert_eq!(
        r.redirects[0],
        Redirect {
            from: "/home".into(),
            to: "/".into(),
            status: 301,
            force: false,
        }
    );
    let none = files(&[]);
    assert_eq!(r.route("/home", None, &none), redirect("/", 301));
    assert_eq!(r.route("/home/", None, &none), redirect("/", 301));
    assert_eq!(r.route("/old", None, &none), redirect("/new", 302));
    assert_eq!(r.route("/older", None, &none), None);
    assert_eq!(r.route("/OLD", None, &none), None, "case-sensitive");
}

#[test]
fn netlify_splat_and_placeholders() {
    let r = netlify(
        "/blog/* /posts/:splat 301\n\
         /news/:year/:month/:slug /articles/:year-:month/:slug 302\n\
         /u/:id /users/:id/profile 301\n",
    );
    let none = files(&[]);
    assert_eq!(
        r.route("/blog/2024/hello", None, &none),
        redirect("/posts/2024/hello", 301)
    );
    assert_eq!(r.route("/blog", None, &none), redirect("/posts/", 301));
    assert_eq!(
        r.route("/news/2024/05/launch", None, &none),
        redirect("/articles/2024-05/launch", 302)
    );
    assert_eq!(r.route("/news/2024/05", None, &none), None);
    assert_eq!(
        r.route("/u/ada", None, &none),
        redirect("/users/ada/profile", 301)
    );
    assert_eq!(r.route("/u/ada/x", None, &none), None);
}

#[test]
fn netlify_force_versus_shadowing() {
    let r = netlify(
        "/about /team 301\n\
         /pricing /plans 301!\n\
         /app/* /app/index.html 200!\n",
    );
    let exists = files(&["about", "pricing", "app/index.html", "app/logo.png"]);
    // A non-forced rule does not apply when the file exists…
    assert_eq!(r.route("/about", None, &exists), None);
    // …and does when it does not.
    assert_eq!(r.route("/about", None, &files(&[])), redirect("/team", 301));
    // A forced rule applies either way.
    assert_eq!(r.route("/pricing", None, &exists), redirect("/plans", 301));
    assert_eq!(
        r.route("/app/logo.png", None, &exists),
        rewrite("/app/index.html")
    );
    // A folder's index.html counts as a file.
    let r = netlify("/docs /manual 301\n");
    assert_eq!(r.route("/docs", None, &files(&["docs/index.html"])), None);
}

#[test]
fn netlify_spa_rewrite() {
    let r = netlify("/* /index.html 200\n");
    assert_eq!(
        r.rewrites,
        [Rewrite {
            from: "/*".into(),
            to: "/index.html".into(),
            status: 200,
            force: false,
        }]
    );
    let exists = files(&["index.html", "assets/app.js"]);
    assert_eq!(r.route("/", None, &exists), None);
    assert_eq!(r.route("/assets/app.js", None, &exists), None);
    assert_eq!(
        r.route("/dashboard/settings", Some("tab=1"), &exists),
        rewrite("/index.html")
    );
}

#[test]
fn netlify_redirects_before_rewrites_and_custom_404() {
    let r = netlify(
        "/* /index.html 200\n\
         /old /new 301\n\
         /en/* /en/404.html 404\n",
    );
    let exists = files(&["index.html", "en/404.html"]);
    assert_eq!(r.route("/old", None, &exists), redirect("/new", 301));
    assert_eq!(r.route("/x", None, &exists), rewrite("/index.html"));
    let r = netlify("/en/* /en/404.html 404\n");
    assert_eq!(
        r.route("/en/missing", None, &exists),
        Some(Action::Rewrite {
            path: "/en/404.html".into(),
            status: 404,
        })
    );
}

#[test]
fn netlify_external_redirect() {
    let r = netlify("/docs/* https://docs.example.com/:splat 302\n/gh https://github.com/x\n");
    let none = files(&[]);
    assert_eq!(
        r.route("/docs/a/b", None, &none),
        redirect("https://docs.example.com/a/b", 302)
    );
    assert_eq!(
        r.route("/gh", Some("ref=1"), &none),
        redirect("https://github.com/x?ref=1", 301)
    );
}

#[test]
fn netlify_comments_blank_lines_and_skipped_rules() {
    let text = "# a comment\n\n   \r\n/a /b 301 # trailing comment\n\
                /admin/* /admin 200! Role=admin\n\
                / /fr 302 Country=fr\n\
                /store id=:id /blog/:id 301\n\
                /api/* https://api.example.com/:splat 200\n\
                https://old.example.com/* https://new.example.com/:splat 301!\n\
                /gone /tombstone 410\n\
                /*/x /y 301\n";
    let (redirects, rewrites) = Rules::parse_netlify_redirects(text).expect("parse");
    assert_eq!(redirects.len(), 1);
    assert_eq!(redirects[0].to, "/b");
    assert!(rewrites.is_empty());

    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(dir.path().join("_redirects"), text).expect("write");
    let (_, notes) = Rules::collect_with_notes(dir.path(), dir.path()).expect("collect");
    assert_eq!(notes.len(), 7, "{notes:#?}");
    assert!(notes.iter().all(|n| n.contains("`_redirects` line")));
    assert!(notes[0].contains("line 5"), "{notes:?}");
}

#[test]
fn netlify_malformed_lines_name_the_line() {
    for (text, line) in [
        ("/a /b\nold /new\n", "line 2"),
        ("# c\n/only-a-source\n", "line 2"),
        ("/a /b 30x\n", "line 1"),
        ("/a /b 301 extra\n", "line 1"),
        ("/a relative 301\n", "line 1"),
        ("/a /b 999\n", "line 1"),
        ("\n\n/a /b\u{1}c 301\n", "line 3"),
        ("/a /../../etc/passwd 200\n", "line 1"),
        ("/a /b?x=1 200\n", "line 1"),
    ] {
        let err = rules_error(Rules::parse_netlify_redirects(text));
        assert!(err.to_string().contains(line), "{text:?}: {err}");
        assert!(err.to_string().contains("`_redirects`"), "{err}");
    }
}

#[test]
fn netlify_too_many_rules() {
    let ok: String = (0..MAX_RULES).map(|i| format!("/a{i} /b{i}\n")).collect();
    assert_eq!(
        Rules::parse_netlify_redirects(&ok).expect("1000").0.len(),
        MAX_RULES
    );
    let too_many = format!("{ok}/x /y\n");
    let err = rules_error(Rules::parse_netlify_redirects(&too_many));
    assert!(err.to_string().contains("1000"), "{err}");
    let huge = format!("# {}\n", "x".repeat(70 * 1024));
    rules_error(Rules::parse_netlify_redirects(&huge));
}

// ---------------------------------------------------------------------------------------
// Netlify _headers

#[test]
fn netlify_headers_blocks_wildcards_and_repeats() {
    let text = "# security\n\
                /*\n  X-Frame-Options: DENY\n  X-Content-Type-Options: nosniff\n\n\
                /assets/*\n  Cache-Control: public, max-age=31536000, immutable\n\
                /*.svg\n  Content-Security-Policy: default-src 'none'\n\
                /templates/index.html\n  # a comment inside\n\
                \x20 Link: </style.css>; rel=preload; as=style\n\
                \x20 Link: </app.js>; rel=preload; as=script\n\
                /empty-block\n";
    let rules = Rules {
        headers: Rules::parse_netlify_headers(text).expect("parse"),
        ..Rules::default()
    };
    assert_eq!(rules.headers.len(), 4, "empty blocks are dropped");
    assert_eq!(
        rules.headers[0],
        HeaderRule {
            pattern: "/*".into(),
            headers: vec![
                ("X-Frame-Options".into(), "DENY".into()),
                ("X-Content-Type-Options".into(), "nosniff".into()),
            ],
        }
    );
    let names = |path: &str| -> Vec<String> {
        rules
            .headers_for(path)
            .into_iter()
            .map(|(n, _)| n)
            .collect()
    };
    assert_eq!(names("/"), ["X-Frame-Options", "X-Content-Type-Options"]);
    assert_eq!(
        names("/assets/app.js"),
        ["X-Frame-Options", "X-Content-Type-Options", "Cache-Control"]
    );
    assert_eq!(
        names("/img/a/logo.svg").last().map(String::as_str),
        Some("Content-Security-Policy")
    );
    let links: Vec<String> = rules
        .headers_for("/templates/index.html")
        .into_iter()
        .filter(|(n, _)| n == "Link")
        .map(|(_, v)| v)
        .collect();
    assert_eq!(
        links,
        [
            "</style.css>; rel=preload; as=style",
            "</app.js>; rel=preload; as=script"
        ]
    );
}

#[test]
fn netlify_headers_errors() {
    for (text, line) in [
        ("X-Frame-Options: DENY\n", "line 1"),
        ("/*\n  not a header\n", "line 2"),
        ("/*\n  Bad Name: x\n", "line 2"),
        ("/*\n  X-A: ok\n  X-B: a\u{7}b\n", "line 3"),
    ] {
        let err = rules_error(Rules::parse_netlify_headers(text));
        assert!(err.to_string().contains(line), "{text:?}: {err}");
    }
    // A host-specific block is skipped, its headers with it.
    let rules = Rules::parse_netlify_headers("https://x.example/*\n  X-A: 1\n/*\n  X-B: 2\n")
        .expect("parse");
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].headers[0].0, "X-B");
}

// ---------------------------------------------------------------------------------------
// vercel.json

#[test]
fn vercel_redirects_permanent_and_status_code() {
    let rules = Rules::parse_vercel_json(
        r#"{
          "$schema": "https://openapi.vercel.sh/vercel.json",
          "framework": "vite",
          "buildCommand": "npm run build",
          "outputDirectory": "dist",
          "redirects": [
            { "source": "/me", "destination": "/profile" },
            { "source": "/user", "destination": "/users/me", "permanent": false },
            { "source": "/old/:slug", "destination": "/new/:slug", "permanent": true },
            { "source": "/legacy", "destination": "https://example.com", "statusCode": 301 },
            { "source": "/teapot", "destination": "/", "statusCode": 418 },
            { "source": "/uk/:path*", "destination": "/gb/:path*",
              "has": [{ "type": "header", "key": "x-vercel-ip-country", "value": "GB" }] },
            { "source": "/modules/:path((?!_x).*)", "destination": "/m/:path*" },
            { "source": "/docs/(.*)", "destination": "/manual/$1" }
          ]
        }"#,
    )
    .expect("parse");
    let statuses: Vec<(String, u16, bool)> = rules
        .redirects
        .iter()
        .map(|r| (r.from.clone(), r.status, r.force))
        .collect();
    assert_eq!(
        statuses,
        [
            ("/me".to_string(), 308, true),
            ("/user".to_string(), 307, true),
            ("/old/:slug".to_string(), 308, true),
            ("/legacy".to_string(), 301, true),
        ]
    );
    // Vercel redirects apply before files.
    let exists = files(&["me", "old/a"]);
    assert_eq!(rules.route("/me", None, &exists), redirect("/profile", 308));
    assert_eq!(
        rules.route("/old/a", None, &exists),
        redirect("/new/a", 308)
    );
    assert_eq!(
        rules.route("/legacy", None, &exists),
        redirect("https://example.com", 301)
    );
}

#[test]
fn vercel_rewrites_with_path_star_and_groups() {
    let rules = Rules::parse_vercel_json(
        r#"{
          "rewrites": [
            { "source": "/docs/:path*", "destination": "/manual/:path*" },
            { "source": "/api/:rest+", "destination": "/api.html" },
            { "source": "/files/:path(.*)", "destination": "/f/:path" },
            { "source": "/ingest/:path*", "destination": "https://eu.example.com/:path*" },
            { "source": "/(.*)", "destination": "/index.html" }
          ]
        }"#,
    )
    .expect("parse");
    assert_eq!(rules.rewrites.len(), 4);
    assert_eq!(rules.rewrites[0].from, "/docs/:path*");
    assert_eq!(rules.rewrites[0].to, "/manual/:path");
    assert_eq!(rules.rewrites[2].from, "/files/:path*");
    assert_eq!(rules.rewrites[3].from, "/*");
    assert!(rules.rewrites.iter().all(|r| !r.force && r.status == 200));

    let exists = files(&["index.html", "assets/app.js"]);
    assert_eq!(
        rules.route("/docs/a/b", None, &exists),
        rewrite("/manual/a/b")
    );
    assert_eq!(rules.route("/docs", None, &exists), rewrite("/manual/"));
    assert_eq!(rules.route("/api", None, &exists), rewrite("/index.html"));
    assert_eq!(rules.route("/api/v1", None, &exists), rewrite("/api.html"));
    assert_eq!(rules.route("/files/x/y", None, &exists), rewrite("/f/x/y"));
    // Files come before rewrites.
    assert_eq!(rules.route("/assets/app.js", None, &exists), None);
    assert_eq!(rules.route("/", None, &exists), None);
}

#[test]
fn vercel_headers() {
    let rules = Rules::parse_vercel_json(
        r#"{ "headers": [
            { "source": "/assets/(.*)",
              "headers": [ { "key": "Cache-Control", "value": "public, max-age=31536000, immutable" } ] },
            { "source": "/(.*)",
              "headers": [ { "key": "X-Frame-Options", "value": "DENY" },
                           { "key": "Referrer-Policy", "value": "no-referrer" } ] }
        ] }"#,
    )
    .expect("parse");
    assert_eq!(
        rules.headers_for("/assets/a.js"),
        [
            (
                "Cache-Control".to_string(),
                "public, max-age=31536000, immutable".to_string()
            ),
            ("X-Frame-Options".to_string(), "DENY".to_string()),
            ("Referrer-Policy".to_string(), "no-referrer".to_string()),
        ]
    );
    assert_eq!(rules.headers_for("/about").len(), 2);
    rules_error(Rules::parse_vercel_json(
        r#"{ "headers": [ { "source": "/(.*)", "headers": [ { "key": "X", "value": "a\r\nSet-Cookie: x" } ] } ] }"#,
    ));
}

#[test]
fn vercel_clean_urls_both_directions() {
    let rules = Rules::parse_vercel_json(r#"{ "cleanUrls": true }"#).expect("parse");
    assert!(rules.clean_urls);
    let exists = files(&["index.html", "about.html", "docs/index.html", "app.js"]);
    assert_eq!(rules.route("/about", None, &exists), rewrite("/about.html"));
    assert_eq!(
        rules.route("/about.html", Some("a=1"), &exists),
        redirect("/about?a=1", 308)
    );
    assert_eq!(
        rules.route("/index.html", None, &exists),
        redirect("/", 308)
    );
    assert_eq!(
        rules.route("/docs/index.html", None, &exists),
        redirect("/docs/", 308)
    );
    assert_eq!(rules.route("/missing.html", None, &exists), None);
    assert_eq!(rules.route("/app.js", None, &exists), None);
    assert_eq!(rules.route("/", None, &exists), None);

    // With trailingSlash, one hop: /about.html → /about/.
    let both =
        Rules::parse_vercel_json(r#"{ "cleanUrls": true, "trailingSlash": true }"#).expect("p");
    assert_eq!(
        both.route("/about.html", None, &exists),
        redirect("/about/", 308)
    );
    assert_eq!(both.route("/about/", None, &exists), rewrite("/about.html"));
    let no_slash =
        Rules::parse_vercel_json(r#"{ "cleanUrls": true, "trailingSlash": false }"#).expect("p");
    assert_eq!(
        no_slash.route("/docs/index.html", None, &exists),
        redirect("/docs", 308)
    );
}

#[test]
fn vercel_trailing_slash_true_and_false() {
    let exists = files(&["index.html", "about/index.html", "LICENSE", "style.css"]);
    let add = Rules::parse_vercel_json(r#"{ "trailingSlash": true }"#).expect("parse");
    assert_eq!(add.trailing_slash, Some(true));
    assert_eq!(
        add.route("/about", Some("x=1"), &exists),
        redirect("/about/?x=1", 308)
    );
    assert_eq!(add.route("/about/", None, &exists), None);
    assert_eq!(add.route("/style.css", None, &exists), None);
    assert_eq!(add.route("/LICENSE", None, &exists), None);
    assert_eq!(add.route("/", None, &exists), None);

    let remove = Rules::parse_vercel_json(r#"{ "trailingSlash": false }"#).expect("parse");
    assert_eq!(
        remove.route("/about/", None, &exists),
        redirect("/about", 308)
    );
    assert_eq!(remove.route("/about", None, &exists), None);
    assert_eq!(remove.route("/", None, &exists), None);

    let leave = Rules::parse_vercel_json("{}").expect("parse");
    assert!(leave.is_empty());
    assert_eq!(leave.route("/about/", None, &exists), None);
}

#[test]
fn vercel_invalid_json_and_unknown_keys() {
    let err = rules_error(Rules::parse_vercel_json("{ \"redirects\": [ }"));
    assert!(err.to_string().contains("`vercel.json` line 1"), "{err}");
    rules_error(Rules::parse_vercel_json(r#"{ "redirects": "nope" }"#));
    rules_error(Rules::parse_vercel_json(
        r#"{ "redirects": [ { "source": "/a" } ] }"#,
    ));
    rules_error(Rules::parse_vercel_json("[]"));
    let rules = Rules::parse_vercel_json(
        r#"{ "framework": "vite", "buildCommand": "vite build", "installCommand": "npm ci",
             "functions": { "api/*.js": { "memory": 1024 } }, "regions": ["iad1"],
             "crons": [], "github": { "silent": true }, "public": true,
             "routes": [ { "src": "/(.*)", "dest": "/index.html" } ] }"#,
    )
    .expect("unknown keys are ignored");
    assert!(rules.is_empty());
}

// ---------------------------------------------------------------------------------------
// Shared behaviour

#[test]
fn redirects_keep_the_query_unless_the_target_has_one() {
    let r = netlify("/a /b 301\n/c /d?from=c 302\n/e/* /f/:splat#top 301\n");
    let none = files(&[]);
    assert_eq!(
        r.route("/a", Some("x=1&y=2"), &none),
        redirect("/b?x=1&y=2", 301)
    );
    assert_eq!(r.route("/a", Some(""), &none), redirect("/b", 301));
    assert_eq!(
        r.route("/c", Some("x=1"), &none),
        redirect("/d?from=c", 302)
    );
    assert_eq!(
        r.route("/e/g", Some("q=a b"), &none),
        redirect("/f/g?q=a%20b#top", 301)
    );
}

#[test]
fn locations_are_header_safe_and_never_protocol_relative() {
    let r = netlify("/go/* /:splat 302\n/café /caf%C3%A9-new 301\n");
    let none = files(&[]);
    assert_eq!(
        r.route("/go//evil.example", None, &none),
        redirect("/evil.example", 302)
    );
    assert_eq!(
        r.route("/go/a b/é?#", None, &none),
        redirect("/a%20b/%C3%A9%3F%23", 302)
    );
    assert_eq!(
        r.route("/café", None, &none),
        redirect("/caf%C3%A9-new", 301)
    );
    // Patterns are written URL-encoded and match decoded request paths.
    let r = netlify("/caf%C3%A9 /coffee 301\n");
    assert_eq!(r.route("/café", None, &none), redirect("/coffee", 301));
}

#[test]
fn hand_edited_rules_are_skipped_not_trusted() {
    let rules = Rules {
        redirects: vec![
            Redirect {
                from: "/a".into(),
                to: "/b".into(),
                status: 200,
                force: true,
            },
            Redirect {
                from: "/a".into(),
                to: "javascript:alert(1)".into(),
                status: 301,
                force: true,
            },
        ],
        rewrites: vec![
            Rewrite {
                from: "/x/*".into(),
                to: "/:splat/../../secret".into(),
                status: 200,
                force: true,
            },
            Rewrite {
                from: "/y".into(),
                to: "https://proxy.example".into(),
                status: 200,
                force: true,
            },
        ],
        ..Rules::default()
    };
    assert!(rules.validate().is_err());
    let none = files(&[]);
    assert_eq!(rules.route("/a", None, &none), None);
    assert_eq!(rules.route("/x/y", None, &none), None);
    assert_eq!(rules.route("/y", None, &none), None);
    assert_eq!(rules.route("relative", None, &none), None);
}

#[test]
fn matching_is_bounded() {
    // 1,000 rules that almost match a 4 KiB path: each is rejected after a few segments.
    let deep: String = "/seg".repeat(1024);
    let text: String = (0..MAX_RULES)
        .map(|i| format!("/seg/seg/:a/:b/x{i}/* /t/:a/:b/:splat 301\n"))
        .collect();
    let r = netlify(&text);
    let none = files(&[]);
    assert_eq!(r.route(&deep, None, &none), None);
    // A rule whose expansion would be enormous does not apply.
    let r = netlify(&format!(
        "/s/* /{} 301\n",
        ":splat/".repeat(250).trim_end_matches('/')
    ));
    assert_eq!(r.route(&format!("/s{deep}"), None, &none), None);
    // The last of 1,000 rules, matched against a 4 KiB path.
    let text: String = (0..MAX_RULES)
        .map(|i| format!("/n{i}/* /m{i}/:splat 302\n"))
        .collect();
    let r = netlify(&text);
    let path = format!("/n999{deep}");
    let Some(Action::Redirect { location, status }) = r.route(&path, Some("q"), &none) else {
        panic!("the last rule applies");
    };
    assert_eq!(status, 302);
    assert!(location.starts_with("/m999/seg/seg/") && location.ends_with("seg?q"));
    assert_eq!(r.headers_for(&path), []);
}

#[test]
fn collect_reads_vercel_then_netlify_and_404() {
    let unit = tempfile::tempdir().expect("unit");
    let art = tempfile::tempdir().expect("artifact");
    fs::write(
        unit.path().join("vercel.json"),
        "\u{feff}{ \"cleanUrls\": true, \"redirects\": [ { \"source\": \"/old\", \"destination\": \"/v\" } ],\n\
           \"headers\": [ { \"source\": \"/(.*)\", \"headers\": [ { \"key\": \"X-From\", \"value\": \"vercel\" } ] } ] }",
    )
    .expect("write");
    fs::write(
        art.path().join("_redirects"),
        "/old /n 301!\n/* /index.html 200\n",
    )
    .expect("w");
    fs::write(art.path().join("_headers"), "/*\n  X-From: netlify\n").expect("w");
    fs::write(art.path().join("404.html"), "<h1>not found</h1>").expect("w");
    fs::write(art.path().join("index.html"), "<h1>hi</h1>").expect("w");

    let rules = Rules::collect(art.path(), unit.path()).expect("collect");
    assert!(rules.clean_urls);
    assert_eq!(rules.not_found.as_deref(), Some("404.html"));
    assert_eq!(rules.redirects.len(), 2);
    assert_eq!(rules.redirects[0].to, "/v", "vercel first");
    assert_eq!(rules.route("/old", None, &files(&[])), redirect("/v", 308));
    assert_eq!(
        rules.headers_for("/x"),
        [
            ("X-From".to_string(), "vercel".to_string()),
            ("X-From".to_string(), "netlify".to_string()),
        ]
    );
    rules.validate().expect("valid");
    // Round trip through JSON (as in a manifest).
    let json = serde_json::to_string(&rules).expect("json");
    assert_eq!(serde_json::from_str::<Rules>(&json).expect("parse"), rules);

    // Nothing there: empty rules.
    let empty = tempfile::tempdir().expect("empty");
    let rules = Rules::collect(empty.path(), empty.path()).expect("collect");
    assert!(rules.is_empty());
    // A missing artifact folder is an error; a bad file is an error naming it.
    let err = Rules::collect(&empty.path().join("nope"), empty.path()).expect_err("missing");
    assert_eq!(err.code(), "not-found");
    fs::write(empty.path().join("_redirects"), "/a\n").expect("w");
    let err = rules_error(Rules::collect(empty.path(), empty.path()));
    assert!(err.to_string().contains("`_redirects` line 1"), "{err}");
    fs::write(empty.path().join("_redirects"), vec![b'#'; 65 * 1024]).expect("w");
    let err = rules_error(Rules::collect(empty.path(), empty.path()));
    assert!(err.to_string().contains("64 KiB"), "{err}");
}

#[cfg(unix)]
#[test]
fn collect_refuses_links_leaving_the_folder() {
    let outside = tempfile::tempdir().expect("outside");
    let art = tempfile::tempdir().expect("artifact");
    fs::write(outside.path().join("secret"), "/* /x 301\n").expect("w");
    std::os::unix::fs::symlink(outside.path().join("secret"), art.path().join("_redirects"))
        .expect("link");
    let err = Rules::collect(art.path(), art.path()).expect_err("escapes");
    assert_eq!(err.code(), "link-escapes");
    // A link inside the folder is followed.
    fs::remove_file(art.path().join("_redirects")).expect("rm");
    fs::write(art.path().join("redirects.txt"), "/a /b 302\n").expect("w");
    std::os::unix::fs::symlink("redirects.txt", art.path().join("_redirects")).expect("link");
    let rules = Rules::collect(art.path(), art.path()).expect("collect");
    assert_eq!(rules.redirects.len(), 1);
}

#[test]
fn collect_limits_the_combined_rule_count() {
    let unit = tempfile::tempdir().expect("unit");
    let art = tempfile::tempdir().expect("artifact");
    let vercel: Vec<String> = (0..600)
        .map(|i| format!(r#"{{ "source": "/v{i}", "destination": "/w" }}"#))
        .collect();
    fs::write(
        unit.path().join("vercel.json"),
        format!(r#"{{ "redirects": [{}] }}"#, vercel.join(",")),
    )
    .expect("w");
    let netlify: String = (0..600).map(|i| format!("/n{i} /m\n")).collect();
    fs::write(art.path().join("_redirects"), netlify).expect("w");
    let err = rules_error(Rules::collect(art.path(), unit.path()));
    assert!(err.to_string().contains("together"), "{err}");
}

// ---------------------------------------------------------------------------------------
// Release ids

fn entry(content: &[u8], content_type: &str) -> FileEntry {
    FileEntry {
        hash: BlobHash::of_bytes(content),
        size: content.len() as u64,
        mode: 0o644,
        content_type: content_type.into(),
        link: None,
    }
}

#[test]
fn empty_rules_keep_release_ids_unchanged() {
    // The canonical form before rules existed, as pinned in `manifest.rs`.
    let mut files = BTreeMap::new();
    files.insert("index.html".to_string(), entry(b"x", "text/html"));
    let json = format!(
        r#"{{"app":"a","files":{{"index.html":{{"hash":"{}","size":1,"mode":420,"content_type":"text/html"}}}},"routes":{{"spa":false,"fallback":null,"headers":{{}}}},"env":[]}}"#,
        BlobHash::of_bytes(b"x")
    );
    let expected = format!("r{}", &blake3::hash(json.as_bytes()).to_hex()[..12]);
    assert_eq!(release_id("a", &files, &Routes::default(), &[]), expected);
    assert_eq!(
        serde_json::to_string(&Routes::default()).expect("json"),
        r#"{"spa":false,"fallback":null,"headers":{}}"#
    );
    // A manifest written before rules existed still reads.
    let routes: Routes =
        serde_json::from_str(r#"{"spa":true,"fallback":"index.html","headers":{}}"#)
            .expect("old routes");
    assert!(routes.spa);
    assert!(Rules::default().is_empty());
}
