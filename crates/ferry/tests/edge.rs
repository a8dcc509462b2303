//! The edge's HTTP semantics against a real socket: conditional requests, ranges, HEAD,
//! precompressed variants with `Vary`, custom 404, security headers, h2c, hostile requests.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Served {
    dir: tempfile::TempDir,
    child: Child,
    edge: String,
    control: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn app(dir: &Path) {
    std::fs::create_dir_all(dir).expect("mkdir");
    std::fs::write(dir.join("ferry.toml"), "version = 1\nname = \"site\"\n[[unit]]\nname = \"web\"\npath = \".\"\nkind = \"static\"\ninstall = \"\"\nbuild = \"sh build.sh\"\noutput = \"dist\"\nspa = true\n").expect("write");
    std::fs::write(
        dir.join("build.sh"),
        "set -e\nrm -rf dist; mkdir -p dist/assets\ni=0; while [ $i -lt 3000 ]; do echo \"export function component$i(props){return props.value+$i}\"; i=$((i+1)); done > dist/assets/app-1.js\nprintf '<!doctype html><script src=\"/assets/app-1.js\"></script><h1>home</h1>' > dist/index.html\nprintf '<h1>custom not found</h1>' > dist/404.html\nprintf 'PNGDATA' > dist/assets/logo.png\n",
    )
    .expect("write");
}

fn serve() -> Served {
    serve_with(&[])
}

fn serve_with(extra: &[&str]) -> Served {
    let dir = tempfile::tempdir().expect("tmp");
    let home: PathBuf = dir.path().join("home");
    let src = dir.path().join("site");
    app(&src);
    let log = dir.path().join("access.log");
    let mut args = vec!["--access-log", log.to_str().expect("utf-8")];
    args.extend_from_slice(extra);
    let (child, info) = spawn_server(&home, &args);
    let edge = info["edge"].as_str().expect("edge").to_string();
    let control = info["control"].as_str().expect("control").to_string();
    let served = Served {
        dir,
        child,
        edge,
        control,
    };
    deploy(&home, &src);
    served
}

/// Starts `ferry serve` on port 0 with `extra` arguments; returns it and its `server.json`.
/// The caller owns the child (every caller wraps it in `Served`, whose Drop kills and reaps it).
#[allow(clippy::zombie_processes)]
fn spawn_server(home: &Path, extra: &[&str]) -> (Child, serde_json::Value) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--control-listen",
            "127.0.0.1:0",
        ])
        .args(extra)
        .env("FERRY_HOME", home)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("server");
    let started = Instant::now();
    loop {
        let info = std::fs::read_to_string(home.join("server.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .filter(|i| i["pid"].as_u64() == Some(u64::from(child.id())));
        let ready = std::os::unix::net::UnixStream::connect(home.join("ferry.sock")).is_ok();
        if let (Some(info), true) = (info, ready) {
            return (child, info);
        }
        if started.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("server did not start");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn deploy(home: &Path, src: &Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["deploy", "--json", src.to_str().expect("utf-8")])
        .env("FERRY_HOME", home)
        .output()
        .expect("deploy");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

struct Answer {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }
}

fn raw(edge: &str, request: &str) -> Answer {
    let mut s = std::net::TcpStream::connect(edge).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s.write_all(request.as_bytes()).expect("write");
    let mut bytes = Vec::new();
    let _ = s.read_to_end(&mut bytes);
    let split = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(bytes.len(), |i| i + 4);
    let head = String::from_utf8_lossy(&bytes[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Answer {
        status,
        head,
        body: bytes[split..].to_vec(),
    }
}

fn get(edge: &str, path: &str, extra: &str) -> Answer {
    raw(
        edge,
        &format!("GET {path} HTTP/1.1\r\nhost: site.localhost\r\nconnection: close\r\n{extra}\r\n"),
    )
}

#[test]
fn conditional_requests_ranges_and_head() {
    let s = serve();
    let full = get(&s.edge, "/assets/app-1.js", "");
    assert_eq!(full.status, 200);
    let etag = full.header("etag").expect("etag");
    assert!(
        full.header("last-modified")
            .is_some_and(|d| d.ends_with("GMT"))
    );
    assert_eq!(
        full.header("cache-control").as_deref(),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(full.header("accept-ranges").as_deref(), Some("bytes"));
    assert_eq!(
        full.header("x-content-type-options").as_deref(),
        Some("nosniff")
    );
    assert_eq!(
        full.header("referrer-policy").as_deref(),
        Some("strict-origin-when-cross-origin")
    );
    let len = full.body.len();
    assert!(len > 100_000);

    let not_modified = get(
        &s.edge,
        "/assets/app-1.js",
        &format!("if-none-match: {etag}\r\n"),
    );
    assert_eq!(not_modified.status, 304);
    assert!(not_modified.body.is_empty());
    assert_eq!(
        get(&s.edge, "/assets/app-1.js", "if-none-match: \"other\"\r\n").status,
        200
    );

    let part = get(&s.edge, "/assets/app-1.js", "range: bytes=10-19\r\n");
    assert_eq!(part.status, 206);
    assert_eq!(
        part.header("content-range"),
        Some(format!("bytes 10-19/{len}"))
    );
    assert_eq!(part.body, full.body[10..20]);
    let tail = get(&s.edge, "/assets/app-1.js", "range: bytes=-5\r\n");
    assert_eq!(
        (tail.status, tail.body.as_slice()),
        (206, &full.body[len - 5..])
    );
    let beyond = get(
        &s.edge,
        "/assets/app-1.js",
        &format!("range: bytes={len}-\r\n"),
    );
    assert_eq!(beyond.status, 416);
    assert_eq!(
        beyond.header("content-range"),
        Some(format!("bytes */{len}"))
    );

    let head = raw(
        &s.edge,
        "HEAD /assets/app-1.js HTTP/1.1\r\nhost: site.localhost\r\nconnection: close\r\n\r\n",
    );
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some(len.to_string()));
    assert!(head.body.is_empty());

    let html = get(&s.edge, "/", "");
    assert_eq!(html.header("cache-control").as_deref(), Some("no-cache"));
    assert_eq!(
        html.header("content-type").as_deref(),
        Some("text/html; charset=utf-8")
    );
    assert!(
        full.header("content-type")
            .is_some_and(|t| t.contains("javascript") && t.ends_with("charset=utf-8")),
        "{:?}",
        full.header("content-type")
    );
    assert_eq!(
        get(&s.edge, "/assets/logo.png", "")
            .header("content-type")
            .as_deref(),
        Some("image/png")
    );
    assert_eq!(raw(&s.edge, "POST / HTTP/1.1\r\nhost: site.localhost\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").status, 405);
}

#[test]
fn precompressed_variants_are_negotiated() {
    let s = serve();
    let plain = get(&s.edge, "/assets/app-1.js", "accept-encoding: identity\r\n");
    assert_eq!(plain.header("content-encoding"), None);
    assert_eq!(plain.header("vary").as_deref(), Some("accept-encoding"));
    let br = get(
        &s.edge,
        "/assets/app-1.js",
        "accept-encoding: gzip, deflate, br\r\n",
    );
    assert_eq!(br.header("content-encoding").as_deref(), Some("br"));
    assert!(
        br.body.len() * 5 < plain.body.len(),
        "brotli made it much smaller"
    );
    let mut decoded = Vec::new();
    brotli_decompress(&br.body, &mut decoded);
    assert!(decoded == plain.body, "brotli variant decodes to the file");
    assert_ne!(
        br.header("etag"),
        plain.header("etag"),
        "each representation has its own etag"
    );
    let gz = get(&s.edge, "/assets/app-1.js", "accept-encoding: gzip\r\n");
    assert_eq!(gz.header("content-encoding").as_deref(), Some("gzip"));
    let mut unzipped = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(gz.body.as_slice()),
        &mut unzipped,
    )
    .expect("valid gzip");
    assert!(unzipped == plain.body, "gzip variant decodes to the file");
    let png = get(&s.edge, "/assets/logo.png", "accept-encoding: br\r\n");
    assert_eq!(
        png.header("content-encoding"),
        None,
        "images are not recompressed"
    );
    assert_eq!(png.header("vary"), None);
}

fn brotli_decompress(input: &[u8], out: &mut Vec<u8>) {
    brotli::BrotliDecompress(&mut std::io::Cursor::new(input), out).expect("valid brotli");
}

#[test]
fn custom_404_and_hostile_paths() {
    let s = serve();
    let missing = get(&s.edge, "/assets/nope.js", "");
    assert_eq!(missing.status, 404);
    assert!(String::from_utf8_lossy(&missing.body).contains("custom not found"));
    for path in [
        "/../etc/passwd",
        "/%2e%2e/etc/passwd",
        "/a/%2E%2E/%2e%2e/x",
        "/a%00b",
        "/a\\b",
        "/%c0%ae%c0%ae/x",
        "/%zz",
    ] {
        let a = get(&s.edge, path, "");
        assert_eq!(a.status, 400, "{path}");
    }
    let huge = format!(
        "GET / HTTP/1.1\r\nhost: site.localhost\r\nx-big: {}\r\n\r\n",
        "a".repeat(100 * 1024)
    );
    let a = raw(&s.edge, &huge);
    assert_eq!(a.status, 431, "oversized head refused");
    assert_eq!(get(&s.edge, "/healthz", "").status, 200);
}

#[test]
fn http2_prior_knowledge_is_served() {
    let s = serve();
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_version} %{http_code}",
            "--http2-prior-knowledge",
            "-H",
            "host: site.localhost",
        ])
        .arg(format!("http://{}/", s.edge))
        .output();
    let Ok(out) = out else {
        panic!("curl is needed for the h2c test")
    };
    assert_eq!(String::from_utf8_lossy(&out.stdout), "2 200");
}

#[test]
fn metrics_and_access_log_record_each_request() {
    let s = serve();
    assert_eq!(get(&s.edge, "/", "").status, 200);
    assert_eq!(get(&s.edge, "/assets/nope.js", "").status, 404);
    let metrics = raw(
        &s.control,
        "GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    );
    assert_eq!(metrics.status, 200);
    let text = String::from_utf8_lossy(&metrics.body);
    assert!(
        text.contains("ferry_edge_requests_total{app=\"site\",status=\"200\"}"),
        "{text}"
    );
    assert!(
        text.contains("ferry_edge_requests_total{app=\"site\",status=\"404\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("ferry_edge_request_duration_seconds_bucket{app=\"site\",le=\"+Inf\"}"),
        "{text}"
    );
    assert!(
        text.contains("ferry_edge_live_release{app=\"site\",release=\"r"),
        "{text}"
    );
    // The control listener's API wants a bearer token.
    let api = raw(
        &s.control,
        "GET /api/v1/status HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    );
    assert_eq!(api.status, 401);
    let started = Instant::now();
    let lines = loop {
        let log = std::fs::read_to_string(s.dir.path().join("access.log")).unwrap_or_default();
        let lines: Vec<serde_json::Value> = log
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        // The deploy's own probe is logged too: wait for the line this test caused.
        let ours = lines.iter().any(|l| l["path"] == "/assets/nope.js");
        if ours || started.elapsed() > Duration::from_secs(5) {
            break lines;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let notfound = lines
        .iter()
        .find(|l| l["path"] == "/assets/nope.js")
        .expect("logged");
    assert_eq!(notfound["status"], 404);
    assert_eq!(notfound["app"], "site");
    assert!(notfound["us"].as_u64().is_some());
}

fn make_cert(dir: &Path, cn: &str) {
    std::fs::create_dir_all(dir).expect("mkdir");
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
        ])
        .arg("-keyout")
        .arg(dir.join("key.pem.new"))
        .arg("-out")
        .arg(dir.join("cert.pem.new"))
        .args([
            "-subj",
            &format!("/CN={cn}"),
            "-addext",
            &format!("subjectAltName=DNS:{cn}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(status.success());
    std::fs::rename(dir.join("key.pem.new"), dir.join("key.pem")).expect("rename");
    std::fs::rename(dir.join("cert.pem.new"), dir.join("cert.pem")).expect("rename");
}

fn fingerprint(addr: &str) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("openssl s_client -connect {addr} -servername site.localhost </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256"))
        .output()
        .expect("openssl");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn tls_serves_http2_and_reloads_certificates_without_a_restart() {
    let dir = tempfile::tempdir().expect("tmp");
    let home = dir.path().join("home");
    make_cert(&home.join("tls/site.localhost"), "site.localhost");
    let src = dir.path().join("site");
    app(&src);
    let (child, info) = spawn_server(&home, &["--tls-listen", "127.0.0.1:0"]);
    let pid = child.id();
    let tls = info["tls"].as_str().expect("tls address").to_string();
    let served = Served {
        dir,
        child,
        edge: String::new(),
        control: String::new(),
    };
    deploy(&home, &src);

    let port = tls
        .rsplit_once(':')
        .map(|(_, p)| p.to_string())
        .expect("port");
    let curl = |extra: &[&str]| {
        let out = Command::new("curl")
            .args([
                "-sk",
                "--resolve",
                &format!("site.localhost:{port}:127.0.0.1"),
            ])
            .args(extra)
            .arg(format!("https://site.localhost:{port}/"))
            .output()
            .expect("curl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(
        curl(&[
            "--http2",
            "-o",
            "/dev/null",
            "-w",
            "%{http_version} %{http_code}"
        ]),
        "2 200"
    );
    assert_eq!(
        curl(&[
            "--http1.1",
            "-o",
            "/dev/null",
            "-w",
            "%{http_version} %{http_code}"
        ]),
        "1.1 200"
    );
    assert!(
        curl(&["-D", "-", "-o", "/dev/null"])
            .to_ascii_lowercase()
            .contains("strict-transport-security: max-age=31536000")
    );
    let plain = get(&served_edge(&home), "/", "");
    assert_eq!(
        plain.header("strict-transport-security"),
        None,
        "HSTS only under TLS"
    );

    // An open connection survives the reload; new handshakes see the new certificate.
    let mut keep = Command::new("openssl")
        .args([
            "s_client",
            "-quiet",
            "-connect",
            &tls,
            "-servername",
            "site.localhost",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("s_client");
    let mut stdin = keep.stdin.take().expect("stdin");
    let stdout = keep.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let request = b"GET / HTTP/1.1\r\nhost: site.localhost\r\n\r\n";
    let await_ok = |rx: &std::sync::mpsc::Receiver<String>| {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(line) = rx.recv_timeout(Duration::from_millis(200))
                && line.contains("HTTP/1.1 200")
            {
                return true;
            }
        }
        false
    };
    stdin.write_all(request).expect("write");
    assert!(await_ok(&rx), "first request on the kept connection");

    let before = fingerprint(&tls);
    assert!(before.contains("Fingerprint"), "{before}");
    std::thread::sleep(Duration::from_millis(1100));
    make_cert(
        &served.dir.path().join("home/tls/site.localhost"),
        "site.localhost",
    );
    let started = Instant::now();
    let after = loop {
        let now = fingerprint(&tls);
        if now != before || started.elapsed() > Duration::from_secs(6) {
            break now;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_ne!(
        after, before,
        "the new certificate is served without a restart"
    );
    stdin.write_all(request).expect("write again");
    assert!(
        await_ok(&rx),
        "the kept connection still answers after the reload"
    );
    let _ = keep.kill();
    let _ = keep.wait();
    assert_eq!(
        std::fs::read_to_string(served.dir.path().join("home/server.json"))
            .map(|t| t.contains(&format!("\"pid\": {pid}")))
            .ok(),
        Some(true),
        "same server process"
    );
}

fn served_edge(home: &Path) -> String {
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(home.join("server.json")).expect("info"))
            .expect("json");
    info["edge"].as_str().expect("edge").to_string()
}

#[test]
fn netlify_and_vercel_rules_apply() {
    let dir = tempfile::tempdir().expect("tmp");
    let home = dir.path().join("home");
    let src = dir.path().join("site");
    app(&src);
    // The build adds Netlify's files to the output; vercel.json sits in the unit's folder.
    std::fs::write(
        src.join("build.sh"),
        "set -e\nrm -rf dist; mkdir -p dist/assets dist/posts\nprintf '<h1>home</h1>' > dist/index.html\nprintf '<h1>about</h1>' > dist/about.html\nprintf '<h1>hello</h1>' > dist/posts/hello.html\nprintf 'js' > dist/assets/app-1.js\nprintf '# moved pages\\n/old /new 301\\n/blog/* /posts/:splat 302\\n/app/* /index.html 200\\n' > dist/_redirects\nprintf '/assets/*\\n  X-Frame-Options: DENY\\n  X-Test: one\\n' > dist/_headers\n",
    )
    .expect("write");
    std::fs::write(
        src.join("vercel.json"),
        r#"{"cleanUrls": true, "framework": "vite"}"#,
    )
    .expect("write");
    let (child, _) = spawn_server(&home, &[]);
    let served = Served {
        dir,
        child,
        edge: String::new(),
        control: String::new(),
    };
    deploy(&home, &src);
    let edge = served_edge(&home);

    let moved = get(&edge, "/old", "");
    assert_eq!(
        (moved.status, moved.header("location").as_deref()),
        (301, Some("/new"))
    );
    let blog = get(&edge, "/blog/hello?ref=mail", "");
    assert_eq!(
        (blog.status, blog.header("location").as_deref()),
        (302, Some("/posts/hello?ref=mail"))
    );
    let rewritten = get(&edge, "/app/settings", "");
    assert_eq!(rewritten.status, 200);
    assert!(String::from_utf8_lossy(&rewritten.body).contains("home"));
    let asset = get(&edge, "/assets/app-1.js", "");
    assert_eq!(asset.header("x-frame-options").as_deref(), Some("DENY"));
    assert_eq!(asset.header("x-test").as_deref(), Some("one"));
    let rules_file = get(&edge, "/_redirects", "");
    assert!(
        !String::from_utf8_lossy(&rules_file.body).contains("/old /new"),
        "rule files are not served (the SPA page answers instead)"
    );
    let clean = get(&edge, "/about", "");
    assert_eq!(clean.status, 200);
    assert!(String::from_utf8_lossy(&clean.body).contains("about"));
    let dirty = get(&edge, "/about.html", "");
    assert_eq!(
        (dirty.status, dirty.header("location").as_deref()),
        (308, Some("/about"))
    );
    drop(served);
}

#[test]
fn slowloris_connection_cap_and_header_count_are_bounded() {
    let s = serve_with(&["--max-connections", "3", "--header-timeout", "1"]);
    // Three idle connections take every slot: a fourth is closed at once.
    let idle: Vec<std::net::TcpStream> = (0..3)
        .map(|_| std::net::TcpStream::connect(&s.edge).expect("connect"))
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut extra = std::net::TcpStream::connect(&s.edge).expect("connect");
    extra
        .set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    let _ = extra.write_all(b"GET / HTTP/1.1\r\nhost: site.localhost\r\n\r\n");
    let mut buf = [0u8; 64];
    let n = extra.read(&mut buf).unwrap_or(0);
    assert_eq!(
        n, 0,
        "over the limit, the connection is closed without an answer"
    );

    // A client that never finishes its headers is cut off after the header timeout.
    let started = Instant::now();
    let mut slow = idle.into_iter().next().expect("one");
    slow.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let _ = slow.write_all(b"GET / HTTP/1.1\r\nhost: site.localhost\r\nx-slow: ");
    let mut rest = Vec::new();
    let _ = slow.read_to_end(&mut rest);
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(4),
        "slowloris connection closed after the 1 s timeout, took {waited:?}"
    );
    assert!(
        String::from_utf8_lossy(&rest).starts_with("HTTP/1.1 408"),
        "a slow head gets 408: {}",
        String::from_utf8_lossy(&rest)
    );

    // The slots freed, a normal request works again.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(get(&s.edge, "/", "").status, 200);

    // Too many header fields: refused.
    let many: String = (0..150).map(|i| format!("x-h{i}: v\r\n")).collect();
    let a = raw(
        &s.edge,
        &format!("GET / HTTP/1.1\r\nhost: site.localhost\r\n{many}connection: close\r\n\r\n"),
    );
    assert_eq!(a.status, 431, "too many header fields refused");
}
