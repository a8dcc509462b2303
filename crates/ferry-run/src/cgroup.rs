//! cgroup v2 limits, when the machine offers them.
//!
//! Detection reads `/proc/self/mountinfo` (a `cgroup2` mount) and `/proc/self/cgroup` (the
//! `0::/path` line: ferry's own cgroup), then that cgroup's `cgroup.controllers`,
//! `cgroup.subtree_control` and `cgroup.procs`. It is usable when `memory`, `pids` and `cpu` are
//! offered to ferry's cgroup, the cgroup is writable, and the controllers are enabled for its
//! children or can be:
//!
//! - already enabled in its `cgroup.subtree_control` (or it is the hierarchy's root, which may
//!   enable them while it holds processes);
//! - or ferry's own process is the only one in it (a systemd service with `Delegate=yes`, a
//!   container): ferry then moves itself into the leaf `<cgroup>/supervisor` first, because
//!   cgroup v2 lets a cgroup hand controllers to its children only while it holds no process
//!   itself (the "no internal processes" rule).
//!
//! Each process then runs in `<cgroup>/ferry/<app>-<release>-<name>` with `memory.max`,
//! `pids.max` and `cpu.max` written before it starts. The process joins it itself: the first
//! line of its `sh -c` script writes `$$` into the cgroup's `cgroup.procs`, before anything else
//! runs, so nothing it starts can escape (the crate forbids `unsafe`, which `pre_exec` would
//! need; a write from ferry after the spawn would race the script's first fork). The cgroup is
//! removed once the process has stopped.
//!
//! Detection runs once per ferry process (its outcome depends on where ferry itself runs, and
//! moving ferry is not something to do twice).

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::spec::Limits;
use crate::{RunError, procfs};

/// The controllers ferry needs.
const REQUIRED: [&str; 3] = ["memory", "pids", "cpu"];
/// The `cpu.max` period in microseconds.
const CPU_PERIOD_US: u64 = 100_000;
/// How long a cgroup whose processes were just killed is given to become removable.
const REMOVE_WAIT: Duration = Duration::from_secs(2);

/// Whether cgroup v2 limits apply to the processes a [`crate::Supervisor`] starts, and why (or
/// why not). When they do not, only rlimits apply (see [`crate::Limits`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CgroupSupport {
    /// Whether each process runs in its own cgroup with `memory.max`, `pids.max`, `cpu.max`.
    pub usable: bool,
    /// `cgroup v2 at <folder>` when usable, else `not usable: <why>`.
    pub reason: String,
}

/// The cgroup the processes' cgroups are created in (`<ferry's cgroup>/ferry`).
#[derive(Debug, Clone)]
pub(crate) struct Cgroups {
    parent: PathBuf,
}

impl Cgroups {
    /// The folder of a process's cgroup (`base` is the state files' base name).
    pub(crate) fn dir_for(&self, base: &str) -> PathBuf {
        self.parent.join(base)
    }

    /// Creates (or reuses) a process's cgroup and writes its limits; `None` limits are `max`.
    pub(crate) fn create(&self, base: &str, limits: &Limits) -> Result<PathBuf, RunError> {
        let dir = self.dir_for(base);
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(RunError::io(&dir, e)),
        }
        let memory = limits
            .memory_bytes
            .map_or_else(|| "max".to_owned(), |b| b.to_string());
        let pids = limits
            .processes
            .map_or_else(|| "max".to_owned(), |n| n.to_string());
        let cpu = cpu_max(limits.cpu_percent);
        for (file, value) in [("memory.max", memory), ("pids.max", pids), ("cpu.max", cpu)] {
            let path = dir.join(file);
            if let Err(e) = write_file(&path, &value) {
                let _ = std::fs::remove_dir(&dir);
                return Err(RunError::io(&path, e));
            }
        }
        Ok(dir)
    }
}

/// `cpu.max` for a share of one CPU in percent (200 = two CPUs); `max` when unlimited.
pub(crate) fn cpu_max(percent: Option<u32>) -> String {
    match percent {
        None => format!("max {CPU_PERIOD_US}"),
        Some(p) => {
            // The kernel refuses a quota under 1 ms.
            let quota = (u64::from(p) * CPU_PERIOD_US / 100).max(1000);
            format!("{quota} {CPU_PERIOD_US}")
        }
    }
}

/// The outcome of detection for this ferry process: computed once.
pub(crate) fn detected() -> &'static Result<Cgroups, String> {
    static DETECTED: OnceLock<Result<Cgroups, String>> = OnceLock::new();
    DETECTED.get_or_init(|| {
        let outcome = detect_and_prepare();
        match &outcome {
            Ok(c) => tracing::info!(cgroup = %c.parent.display(), "cgroup v2 limits apply"),
            Err(reason) => tracing::info!(%reason, "cgroup v2 limits do not apply; rlimits only"),
        }
        outcome
    })
}

/// What [`detected`] says, as the public answer.
pub(crate) fn support(outcome: &Result<Cgroups, String>) -> CgroupSupport {
    match outcome {
        Ok(c) => CgroupSupport {
            usable: true,
            reason: format!(
                "cgroup v2 at {} ({})",
                c.parent.display(),
                REQUIRED.join(", ")
            ),
        },
        Err(why) => CgroupSupport {
            usable: false,
            reason: format!("not usable: {why}"),
        },
    }
}

/// Reads the machine, decides, and prepares `<cgroup>/ferry`. `Err` is why not.
fn detect_and_prepare() -> Result<Cgroups, String> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| format!("cannot read /proc/self/mountinfo: {e}"))?;
    let own = std::fs::read_to_string("/proc/self/cgroup")
        .map_err(|e| format!("cannot read /proc/self/cgroup: {e}"))?;
    let located = locate(&mountinfo, &own)?;
    let read = |name: &str| std::fs::read_to_string(located.dir.join(name)).unwrap_or_default();
    let facts = Facts {
        controllers: read("cgroup.controllers"),
        subtree_control: read("cgroup.subtree_control"),
        procs: read("cgroup.procs"),
        self_pid: std::process::id(),
        writable: rustix::fs::access(
            located.dir.join("cgroup.procs"),
            rustix::fs::Access::WRITE_OK,
        )
        .is_ok()
            && rustix::fs::access(&located.dir, rustix::fs::Access::WRITE_OK).is_ok(),
    };
    let plan = plan(&located, &facts, &mountinfo)?;
    prepare(&located.dir, plan)
}

/// A `cgroup2` mount: where it is and which part of the hierarchy it shows.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mount {
    root: String,
    mount_point: PathBuf,
    read_only: bool,
}

/// Ferry's own cgroup, found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Located {
    /// The cgroup's folder.
    pub(crate) dir: PathBuf,
    /// The mount it was found under.
    mount_point: PathBuf,
    /// Whether it is the root of the hierarchy ferry sees (`0::/`).
    at_root: bool,
}

/// What the files of ferry's cgroup say.
#[derive(Debug, Clone, Default)]
pub(crate) struct Facts {
    /// `cgroup.controllers`: what the parent offers.
    pub(crate) controllers: String,
    /// `cgroup.subtree_control`: what is enabled for the children.
    pub(crate) subtree_control: String,
    /// `cgroup.procs`: who is in it.
    pub(crate) procs: String,
    /// Ferry's pid.
    pub(crate) self_pid: u32,
    /// Whether ferry may write `cgroup.procs` and create folders there.
    pub(crate) writable: bool,
}

/// How to get the controllers enabled below ferry's cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plan {
    /// Already enabled in its `cgroup.subtree_control`.
    Ready,
    /// Enable them there (the hierarchy's root, or a cgroup without processes).
    Enable,
    /// Move ferry (alone in its cgroup) into `<cgroup>/supervisor`, then enable them.
    MoveSelfThenEnable,
}

/// Unescapes mountinfo's octal escapes (`\040` is a space).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|b| (b'0'..=b'7').contains(b)))
            .map(|d| d.iter().fold(0u32, |v, b| v * 8 + u32::from(b - b'0')))
            .and_then(|v| u8::try_from(v).ok());
        if let Some(value) = octal {
            out.push(value);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One mountinfo line: (root, mount point, mount options, fs type, super options).
fn parse_mount_line(line: &str) -> Option<(String, PathBuf, String, String, String)> {
    let (left, right) = line.split_once(" - ")?;
    let fields: Vec<&str> = left.split_whitespace().collect();
    let root = unescape(fields.get(3)?);
    let mount_point = PathBuf::from(unescape(fields.get(4)?));
    let options = (*fields.get(5)?).to_owned();
    let mut right = right.split_whitespace();
    let fs_type = right.next()?.to_owned();
    let _source = right.next()?;
    let super_options = right.next().unwrap_or_default().to_owned();
    Some((root, mount_point, options, fs_type, super_options))
}

/// The `cgroup2` mounts of a mountinfo text.
fn cgroup2_mounts(mountinfo: &str) -> Vec<Mount> {
    mountinfo
        .lines()
        .filter_map(parse_mount_line)
        .filter(|(.., fs_type, _)| fs_type == "cgroup2")
        .map(|(root, mount_point, options, ..)| Mount {
            root,
            mount_point,
            read_only: options.split(',').any(|o| o == "ro"),
        })
        .collect()
}

/// Where cgroup v1 hierarchies carry the controllers ferry needs (`memory` → its mount).
fn v1_homes(mountinfo: &str) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for (_, mount_point, _, fs_type, super_options) in
        mountinfo.lines().filter_map(parse_mount_line)
    {
        if fs_type != "cgroup" {
            continue;
        }
        for c in REQUIRED {
            if super_options.split(',').any(|o| o == c) {
                out.push((c.to_owned(), mount_point.clone()));
            }
        }
    }
    out
}

/// The `0::/path` line of `/proc/self/cgroup`.
fn own_v2_path(self_cgroup: &str) -> Option<String> {
    self_cgroup
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(|p| p.trim_end_matches(" (deleted)").to_owned())
}

/// Finds ferry's cgroup on disk, or says why it cannot be used.
pub(crate) fn locate(mountinfo: &str, self_cgroup: &str) -> Result<Located, String> {
    let mounts = cgroup2_mounts(mountinfo);
    if mounts.is_empty() {
        return Err("no cgroup2 file system is mounted (cgroup v1 only)".into());
    }
    let Some(path) = own_v2_path(self_cgroup) else {
        return Err("/proc/self/cgroup has no cgroup v2 (`0::`) line".into());
    };
    let mut read_only = None;
    for mount in &mounts {
        let rel = if mount.root == "/" {
            Some(path.as_str())
        } else if path == mount.root {
            Some("/")
        } else {
            path.strip_prefix(&mount.root)
                .filter(|r| r.starts_with('/'))
        };
        let Some(rel) = rel else { continue };
        if mount.read_only {
            read_only.get_or_insert(mount.mount_point.clone());
            continue;
        }
        let rel = rel.trim_start_matches('/');
        if rel.split('/').any(|part| part == "..") {
            continue;
        }
        let dir = if rel.is_empty() {
            mount.mount_point.clone()
        } else {
            mount.mount_point.join(rel)
        };
        return Ok(Located {
            dir,
            mount_point: mount.mount_point.clone(),
            at_root: path == "/",
        });
    }
    Err(match read_only {
        Some(mount_point) => format!(
            "the cgroup2 mount at {} is read-only",
            mount_point.display()
        ),
        None => format!("ferry's cgroup {path} is outside every cgroup2 mount"),
    })
}

/// Decides how to get the controllers below ferry's cgroup, or says why it cannot.
pub(crate) fn plan(located: &Located, facts: &Facts, mountinfo: &str) -> Result<Plan, String> {
    let words = |s: &str| -> BTreeSet<String> { s.split_whitespace().map(str::to_owned).collect() };
    let offered = words(&facts.controllers);
    let missing: Vec<&str> = REQUIRED
        .into_iter()
        .filter(|c| !offered.contains(*c))
        .collect();
    if !missing.is_empty() {
        let mut why = format!(
            "the cgroup v2 hierarchy at {} does not offer {} to ferry's cgroup {}",
            located.mount_point.display(),
            missing.join(", "),
            located.dir.display()
        );
        let homes: Vec<String> = v1_homes(mountinfo)
            .into_iter()
            .filter(|(c, _)| missing.contains(&c.as_str()))
            .map(|(c, at)| format!("{c} at {}", at.display()))
            .collect();
        if !homes.is_empty() {
            why.push_str(&format!(
                " (a hybrid setup: they are bound to cgroup v1: {})",
                homes.join(", ")
            ));
        } else if located.at_root {
            why.push_str(" (the kernel or the container runtime does not provide them)");
        } else {
            why.push_str(" (not delegated: run ferry as a systemd service with Delegate=yes)");
        }
        return Err(why);
    }
    if !facts.writable {
        return Err(format!(
            "ferry's cgroup {} is not writable by ferry (not delegated: run ferry as a systemd service with Delegate=yes)",
            located.dir.display()
        ));
    }
    let enabled = words(&facts.subtree_control);
    if REQUIRED.iter().all(|c| enabled.contains(*c)) {
        return Ok(Plan::Ready);
    }
    let others: Vec<u32> = facts
        .procs
        .split_whitespace()
        .filter_map(|p| p.parse::<u32>().ok())
        .filter(|&p| p != facts.self_pid)
        .collect();
    if others.is_empty() {
        let ferry_inside = facts
            .procs
            .split_whitespace()
            .any(|p| p == facts.self_pid.to_string());
        return Ok(if ferry_inside {
            Plan::MoveSelfThenEnable
        } else {
            Plan::Enable
        });
    }
    if located.at_root {
        // The hierarchy's real root may enable controllers while it holds processes; the root
        // of a cgroup namespace may not, which `prepare` finds out.
        return Ok(Plan::Enable);
    }
    let shown: Vec<String> = others.iter().take(5).map(u32::to_string).collect();
    Err(format!(
        "ferry's cgroup {} holds other processes (pids {}{}), and cgroup v2 hands controllers to child cgroups only from a cgroup without processes; run ferry in a cgroup of its own (a systemd service with Delegate=yes)",
        located.dir.display(),
        shown.join(", "),
        if others.len() > shown.len() {
            ", …"
        } else {
            ""
        }
    ))
}

/// Carries out the plan: moves ferry if needed, enables the controllers, creates
/// `<cgroup>/ferry` with them enabled for its children.
fn prepare(dir: &Path, plan: Plan) -> Result<Cgroups, String> {
    let enable = format!("+{}", REQUIRED.join(" +"));
    let fail = |what: String, e: std::io::Error| {
        if e.raw_os_error() == Some(rustix::io::Errno::BUSY.raw_os_error()) {
            format!("{what}: {e} (the cgroup holds processes; run ferry in a cgroup of its own)")
        } else {
            format!("{what}: {e}")
        }
    };
    if plan == Plan::MoveSelfThenEnable {
        let leaf = dir.join("supervisor");
        mkdir(&leaf).map_err(|e| fail(format!("cannot create {}", leaf.display()), e))?;
        let procs = leaf.join("cgroup.procs");
        write_file(&procs, &std::process::id().to_string())
            .map_err(|e| fail(format!("cannot move ferry into {}", leaf.display()), e))?;
    }
    if plan != Plan::Ready {
        let control = dir.join("cgroup.subtree_control");
        write_file(&control, &enable).map_err(|e| {
            fail(
                format!("cannot enable {enable} in {}", control.display()),
                e,
            )
        })?;
    }
    let parent = dir.join("ferry");
    mkdir(&parent).map_err(|e| fail(format!("cannot create {}", parent.display()), e))?;
    let control = parent.join("cgroup.subtree_control");
    write_file(&control, &enable).map_err(|e| {
        fail(
            format!("cannot enable {enable} in {}", control.display()),
            e,
        )
    })?;
    Ok(Cgroups { parent })
}

fn mkdir(dir: &Path) -> std::io::Result<()> {
    match std::fs::create_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        other => other,
    }
}

/// Writes a control file in one `write` (cgroup files take one value per write).
fn write_file(path: &Path, value: &str) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new().write(true).open(path)?;
    file.write_all(value.as_bytes())
}

/// Live (non-zombie) processes in a cgroup.
pub(crate) fn members(dir: &Path) -> Vec<u32> {
    let Ok(text) = std::fs::read_to_string(dir.join("cgroup.procs")) else {
        return Vec::new();
    };
    text.split_whitespace()
        .filter_map(|p| p.parse::<u32>().ok())
        .filter(|&p| procfs::stat(p).is_some_and(|s| !s.is_dead()))
        .collect()
}

/// Kills everything in a cgroup: `cgroup.kill` where the kernel has it (5.14), else SIGKILL to
/// each member.
pub(crate) fn kill_all(dir: &Path) {
    if write_file(&dir.join("cgroup.kill"), "1").is_ok() {
        return;
    }
    for pid in members(dir) {
        signal(pid, rustix::process::Signal::KILL);
    }
}

/// Sends a signal to one member (listed in the cgroup, so ferry's own).
pub(crate) fn signal(pid: u32, signal: rustix::process::Signal) {
    if let Some(id) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process(id, signal);
    }
}

/// Removes a process's cgroup once it is empty (waiting briefly for just-killed members).
pub(crate) async fn remove(dir: &Path) {
    let deadline = Instant::now() + REMOVE_WAIT;
    loop {
        match std::fs::remove_dir(dir) {
            Ok(()) => return,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(error) => {
                if Instant::now() >= deadline {
                    tracing::warn!(cgroup = %dir.display(), %error, "cannot remove a process's cgroup");
                    return;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `memory.current` of a cgroup (page cache included).
pub(crate) fn memory_current(dir: &Path) -> Option<u64> {
    std::fs::read_to_string(dir.join("memory.current"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Whether `pid` is in the cgroup `dir`.
pub(crate) fn contains(dir: &Path, pid: u32) -> bool {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .is_ok_and(|t| t.split_whitespace().any(|p| p == pid.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A systemd machine on cgroup v2 only: ferry as a service.
    const V2_MOUNTINFO: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
25 22 0:23 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
26 22 0:24 / /sys rw,nosuid,nodev,noexec,relatime shared:2 - sysfs sysfs rw
30 26 0:27 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
";
    const V2_CGROUP: &str = "0::/system.slice/ferry.service\n";

    /// This machine's kind: cgroup v1 controllers, and an empty cgroup2 mount beside them.
    const HYBRID_MOUNTINFO: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const HYBRID_CGROUP: &str = "\
9:name=systemd:/
8:pids:/
4:memory:/process_api/cf0b34032972b700e0424c685e225276
1:cpu:/
0::/
";

    /// Pure cgroup v1: no cgroup2 mount at all.
    const V1_MOUNTINFO: &str = "\
31 23 0:28 / /sys/fs/cgroup ro,nosuid,nodev,noexec - tmpfs tmpfs ro,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,pids
";
    const V1_CGROUP: &str = "\
11:pids:/system.slice/ferry.service
4:memory:/system.slice/ferry.service
2:cpu,cpuacct:/system.slice/ferry.service
";

    fn facts(controllers: &str, subtree: &str, procs: &str) -> Facts {
        Facts {
            controllers: controllers.into(),
            subtree_control: subtree.into(),
            procs: procs.into(),
            self_pid: 4242,
            writable: true,
        }
    }

    fn decide(mountinfo: &str, cgroup: &str, facts: &Facts) -> Result<Plan, String> {
        let located = locate(mountinfo, cgroup)?;
        plan(&located, facts, mountinfo)
    }

    #[test]
    fn a_v2_service_alone_in_its_cgroup_moves_itself_into_a_leaf() {
        let located = locate(V2_MOUNTINFO, V2_CGROUP).expect("located");
        assert_eq!(
            located.dir,
            Path::new("/sys/fs/cgroup/system.slice/ferry.service")
        );
        assert!(!located.at_root);
        let all = "cpuset cpu io memory hugetlb pids rdma misc";
        assert_eq!(
            plan(&located, &facts(all, "", "4242\n"), V2_MOUNTINFO),
            Ok(Plan::MoveSelfThenEnable)
        );
        assert_eq!(
            plan(
                &located,
                &facts(all, "cpu memory pids", "4242\n"),
                V2_MOUNTINFO
            ),
            Ok(Plan::Ready)
        );
    }

    #[test]
    fn a_v2_cgroup_shared_with_other_processes_or_not_delegated_is_refused() {
        let all = "cpu io memory pids";
        let why =
            decide(V2_MOUNTINFO, V2_CGROUP, &facts(all, "", "4242\n17\n18\n")).expect_err("shared");
        assert!(why.contains("holds other processes (pids 17, 18)"), "{why}");
        let why =
            decide(V2_MOUNTINFO, V2_CGROUP, &facts("cpu io", "", "4242\n")).expect_err("missing");
        assert!(why.contains("does not offer memory, pids"), "{why}");
        assert!(why.contains("Delegate=yes"), "{why}");
        let mut f = facts(all, "", "4242\n");
        f.writable = false;
        let why = decide(V2_MOUNTINFO, V2_CGROUP, &f).expect_err("read-only");
        assert!(why.contains("not writable"), "{why}");
    }

    #[test]
    fn the_root_cgroup_enables_its_controllers() {
        let plan = decide(
            V2_MOUNTINFO,
            "0::/\n",
            &facts("cpu memory pids", "", "1\n2\n4242\n"),
        );
        assert_eq!(plan, Ok(Plan::Enable));
    }

    #[test]
    fn a_hybrid_machine_is_not_usable_and_says_where_the_controllers_are() {
        let located = locate(HYBRID_MOUNTINFO, HYBRID_CGROUP).expect("located");
        assert_eq!(located.dir, Path::new("/sys/fs/cgroup/unified"));
        assert!(located.at_root);
        let why = plan(&located, &facts("hugetlb\n", "", "1\n"), HYBRID_MOUNTINFO)
            .expect_err("not usable");
        assert!(
            why.starts_with(
                "the cgroup v2 hierarchy at /sys/fs/cgroup/unified does not offer memory, pids, cpu"
            ),
            "{why}"
        );
        assert!(why.contains("hybrid"), "{why}");
        assert!(why.contains("memory at /sys/fs/cgroup/memory"), "{why}");
        let support = support(&Err(why));
        assert!(!support.usable);
        assert!(support.reason.starts_with("not usable: "));
    }

    #[test]
    fn a_v1_machine_is_not_usable() {
        let why = locate(V1_MOUNTINFO, V1_CGROUP).expect_err("v1");
        assert_eq!(why, "no cgroup2 file system is mounted (cgroup v1 only)");
        // A cgroup2 mount, but no `0::` line.
        let why = locate(V2_MOUNTINFO, V1_CGROUP).expect_err("no 0:: line");
        assert!(why.contains("no cgroup v2"), "{why}");
    }

    #[test]
    fn bind_mounted_subtrees_read_only_mounts_and_escapes() {
        // A container shown only its own subtree, at a path with a space.
        let mountinfo =
            "50 40 0:27 /machine/box /sys/fs/cgroup\\040x rw,relatime - cgroup2 cgroup2 rw\n";
        let located = locate(mountinfo, "0::/machine/box/app\n").expect("inside");
        assert_eq!(located.dir, Path::new("/sys/fs/cgroup x/app"));
        let located = locate(mountinfo, "0::/machine/box\n").expect("its root");
        assert_eq!(located.dir, Path::new("/sys/fs/cgroup x"));
        let why = locate(mountinfo, "0::/machine/other\n").expect_err("outside");
        assert!(why.contains("outside every cgroup2 mount"), "{why}");
        let why = locate(mountinfo, "0::/machine/boxer\n").expect_err("prefix, not parent");
        assert!(why.contains("outside"), "{why}");
        let ro = "30 26 0:27 / /sys/fs/cgroup ro,nosuid - cgroup2 cgroup2 ro\n";
        let why = locate(ro, V2_CGROUP).expect_err("read-only");
        assert!(why.contains("read-only"), "{why}");
        assert!(locate("garbage\n\n- -\n", V2_CGROUP).is_err());
    }

    /// The writes `prepare` and `create` make, against a folder standing in for a cgroup (the
    /// kernel creates a cgroup's files with it; here they are made by hand).
    #[test]
    fn preparing_and_creating_write_the_expected_files() {
        let root = tempfile::tempdir().expect("tmp");
        let dir = root.path();
        let touch = |p: &Path| std::fs::write(p, "").expect("touch");
        for sub in ["supervisor", "ferry", "ferry/shop-r1-web"] {
            std::fs::create_dir_all(dir.join(sub)).expect("mkdir");
        }
        touch(&dir.join("cgroup.subtree_control"));
        touch(&dir.join("supervisor/cgroup.procs"));
        touch(&dir.join("ferry/cgroup.subtree_control"));
        for f in ["memory.max", "pids.max", "cpu.max"] {
            touch(&dir.join("ferry/shop-r1-web").join(f));
        }
        let cgroups = prepare(dir, Plan::MoveSelfThenEnable).expect("prepared");
        let read = |p: &str| std::fs::read_to_string(dir.join(p)).expect("read");
        assert_eq!(
            read("supervisor/cgroup.procs"),
            std::process::id().to_string()
        );
        assert_eq!(read("cgroup.subtree_control"), "+memory +pids +cpu");
        assert_eq!(read("ferry/cgroup.subtree_control"), "+memory +pids +cpu");
        let limits = Limits {
            memory_bytes: Some(1 << 30),
            processes: Some(64),
            ..Limits::default()
        };
        let created = cgroups.create("shop-r1-web", &limits).expect("created");
        assert_eq!(created, dir.join("ferry/shop-r1-web"));
        assert_eq!(read("ferry/shop-r1-web/memory.max"), "1073741824");
        assert_eq!(read("ferry/shop-r1-web/pids.max"), "64");
        assert_eq!(read("ferry/shop-r1-web/cpu.max"), "max 100000");
        // A control file that cannot be written is an error naming it, and nothing is left.
        let err = cgroups.create("other", &limits).expect_err("no files");
        assert!(err.to_string().contains("other/memory.max"), "{err}");
        assert!(!dir.join("ferry/other").exists());
    }

    #[test]
    fn cpu_max_is_a_share_of_one_cpu() {
        assert_eq!(cpu_max(None), "max 100000");
        assert_eq!(cpu_max(Some(50)), "50000 100000");
        assert_eq!(cpu_max(Some(200)), "200000 100000");
        assert_eq!(cpu_max(Some(0)), "1000 100000");
    }

    #[test]
    fn this_machine_gets_a_clean_answer() {
        let answer = support(detected());
        if answer.usable {
            assert!(
                answer.reason.starts_with("cgroup v2 at "),
                "{}",
                answer.reason
            );
        } else {
            assert!(
                answer.reason.starts_with("not usable: "),
                "{}",
                answer.reason
            );
        }
        eprintln!("cgroup support here: {}", answer.reason);
    }
}
