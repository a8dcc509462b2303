//! Resource limits from `ferry.toml` through the real binary and a real server: a Node HTTP
//! server (no npm packages) declared with `memory`, `open_files`, `cpus` and `pids` runs under
//! them (read back from `/proc/<pid>/limits`, or its cgroup where the machine delegates one),
//! `ferry ps` reports each limit and how it is enforced, and the process outgrowing its memory
//! dies and is restarted by the supervisor, its last exit shown.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Env, need_node, wait_for};
use serde_json::Value;

/// 64 MiB, the app's `memory`.
const MEMORY: u64 = 64 << 20;

/// The app: `/pid` answers the Node process's own pid, `/grow` answers then allocates 4 MiB
/// buffers every few milliseconds until the memory limit kills it.
fn write_app(dir: &Path) {
    std::fs::create_dir_all(dir).expect("mkdir");
    std::fs::write(
        dir.join("ferry.toml"),
        "version = 1\nname = \"srv\"\n\n[[unit]]\nname = \"web\"\npath = \".\"\nkind = \"server\"\ninstall = \"\"\nbuild = \"\"\n\n[[unit.process]]\nname = \"web\"\ncommand = \"node server.js\"\nhealth = \"/healthz\"\nmemory = \"64MiB\"\nopen_files = 64\ncpus = 0.5\npids = 64\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("server.js"),
        "const http = require('http');\nconst held = [];\nhttp.createServer((req, res) => {\n  if (req.url === '/pid') return res.end(String(process.pid));\n  if (req.url === '/grow') {\n    res.end('growing');\n    setInterval(() => held.push(Buffer.alloc(4 << 20, 1)), 5);\n    return;\n  }\n  res.end('ok');\n}).listen(Number(process.env.PORT), '127.0.0.1');\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("package.json"),
        "{\"name\":\"srv\",\"private\":true}\n",
    )
    .expect("write");
}

/// `Max open files  64  64  files` → `(64, 64)`; `unlimited` is `u64::MAX`.
fn proc_limit(pid: u64, name: &str) -> (u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("limits");
    let line = text
        .lines()
        .find(|l| l.starts_with(name))
        .unwrap_or_else(|| panic!("{name} in {text}"));
    let mut values = line[name.len()..].split_whitespace().map(|v| {
        if v == "unlimited" {
            u64::MAX
        } else {
            v.parse().expect("a number")
        }
    });
    (values.next().expect("soft"), values.next().expect("hard"))
}

/// The app's one process in `ferry ps --json`, and whether cgroup v2 limits apply.
fn ps(env: &Env) -> (Value, Value) {
    let (code, doc, err) = env.ferry(&["ps", "--json", "--app", "srv"]);
    assert_eq!(code, 0, "{err}");
    let row = doc["processes"][0].clone();
    assert!(row.is_object(), "one process: {doc}");
    (row, doc)
}

#[test]
fn declared_limits_bind_the_process_and_ps_reports_them() {
    need_node();
    let env = Env::new();
    write_app(&env.app);
    let server = env.serve();
    env.deploy().expect("deploys");

    let (row, doc) = ps(&env);
    let cgroup = doc["limits"]["cgroup"].as_bool().expect("cgroup flag");
    let limits = row["limits"].as_array().expect("limits listed");
    let by = |limit: &str| -> (u64, String, String) {
        let l = limits
            .iter()
            .find(|l| l["limit"] == limit)
            .unwrap_or_else(|| panic!("{limit} listed: {row}"));
        (
            l["value"].as_u64().expect("value"),
            l["enforced_by"].as_str().expect("by").to_string(),
            l["detail"].as_str().expect("detail").to_string(),
        )
    };
    let (memory, memory_by, memory_how) = by("memory_bytes");
    assert_eq!(memory, MEMORY, "{row}");
    assert_eq!(
        by("open_files"),
        (64, "rlimit".into(), "RLIMIT_NOFILE".into())
    );
    let (cpu, cpu_by, _) = by("cpu_percent");
    assert_eq!(cpu, 50, "cpus = 0.5 is 50 % of one CPU: {row}");
    let (pids, pids_by, pids_how) = by("processes");
    assert_eq!(pids, 64, "{row}");

    // The Node process itself (not only the shell that started it) runs under them.
    let (status, _, body) = server.get("/pid");
    assert_eq!(status, 200, "{body}");
    let pid: u64 = body.trim().parse().expect("a pid");
    assert_eq!(proc_limit(pid, "Max open files"), (64, 64));
    if cgroup {
        assert_eq!(
            (memory_by.as_str(), memory_how.as_str()),
            ("cgroup", "memory.max")
        );
        assert_eq!((cpu_by.as_str(), pids_by.as_str()), ("cgroup", "cgroup"));
        let dir = row["cgroup"].as_str().expect("its cgroup");
        let read = |f: &str| std::fs::read_to_string(Path::new(dir).join(f)).expect(f);
        assert_eq!(read("memory.max").trim(), MEMORY.to_string());
        assert_eq!(read("pids.max").trim(), "64");
        assert_eq!(read("cpu.max").trim(), "50000 100000");
    } else {
        assert_eq!(
            (memory_by.as_str(), memory_how.as_str()),
            ("rlimit", "RLIMIT_DATA")
        );
        assert_eq!(proc_limit(pid, "Max data size"), (MEMORY, MEMORY));
        assert_eq!(
            (cpu_by.as_str(), pids_by.as_str()),
            ("none", "none"),
            "{row}"
        );
        assert!(pids_how.contains("needs cgroup v2"), "{pids_how}");
    }
    let (code, table, err) = env.ferry(&["ps", "--app", "srv"]);
    assert_eq!(code, 0, "{err}");
    let table = table.as_str().unwrap_or_default().to_string();
    let expected_memory = if cgroup {
        "memory 64 MiB (memory.max)"
    } else {
        "memory 64 MiB (RLIMIT_DATA)"
    };
    assert!(
        table.contains(&format!("  limits: {expected_memory}, "))
            && table.contains("open files 64 (RLIMIT_NOFILE)")
            && table.contains("cpus 0.5 (")
            && table.contains("pids 64 ("),
        "{table}"
    );

    // Outgrowing its memory kills it; the supervisor starts it again, and ps says why.
    assert_eq!(server.get("/grow").2, "growing");
    wait_for(
        "the process dies of its memory limit and is restarted",
        Duration::from_secs(15),
        || {
            let (row, _) = ps(&env);
            row["restarts"].as_u64().unwrap_or(0) >= 1 && row["status"] == "healthy"
        },
    );
    let (row, _) = ps(&env);
    let last_exit = row["last_exit"].as_str().unwrap_or_default();
    assert!(
        last_exit.contains("SIGABRT") || last_exit.contains("134") || last_exit.contains("SIGKILL"),
        "died of the limit (V8 aborts when an allocation fails; the OOM killer sends SIGKILL): {row}"
    );
    let (status, _, body) = server.get("/pid");
    assert_eq!(status, 200, "{body}");
    let new_pid: u64 = body.trim().parse().expect("a pid");
    assert_ne!(new_pid, pid, "a new process");
    assert_eq!(
        proc_limit(new_pid, "Max open files"),
        (64, 64),
        "limits again"
    );
    let (code, table, _) = env.ferry(&["ps", "--app", "srv"]);
    assert_eq!(code, 0);
    assert!(
        table.as_str().unwrap_or_default().contains("last exit: "),
        "{table}"
    );
}
