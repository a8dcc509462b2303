//! What `/proc` says about a process: state, group, start time, memory.

use std::fs;

/// The fields of `/proc/<pid>/stat` the supervisor needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stat {
    /// `R`, `S`, `D`, `Z`…
    pub state: char,
    /// The process group.
    pub pgrp: u32,
    /// Start time in clock ticks after boot: with the boot id, it tells a process from a later
    /// one that reuses its pid.
    pub start_ticks: u64,
}

impl Stat {
    /// Whether the process has exited (a zombie not yet reaped counts as exited).
    pub fn is_dead(&self) -> bool {
        matches!(self.state, 'Z' | 'X' | 'x')
    }
}

/// Reads `/proc/<pid>/stat`; `None` when there is no such process.
pub(crate) fn stat(pid: u32) -> Option<Stat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// Parses a `stat` line. The command name may hold spaces and parentheses, so fields are
/// counted after its last `)`.
fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3 of the line, pgrp 5, starttime 22.
    let state = fields.first()?.chars().next()?;
    let pgrp = fields.get(2)?.parse().ok()?;
    let start_ticks = fields.get(19)?.parse().ok()?;
    Some(Stat {
        state,
        pgrp,
        start_ticks,
    })
}

/// The kernel's boot id, so that start times recorded before a reboot never match.
pub(crate) fn boot_id() -> String {
    fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// Live (non-zombie) members of process group `pgid`.
pub(crate) fn group_members(pgid: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some(s) = stat(pid)
            && s.pgrp == pgid
            && !s.is_dead()
        {
            out.push(pid);
        }
    }
    out.sort_unstable();
    out
}

/// Resident memory of one process in bytes (`VmRSS`).
pub(crate) fn rss_bytes(pid: u32) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_vm_rss(&text)
}

/// The `VmRSS:  1234 kB` line, in bytes.
fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line
        .trim_start_matches("VmRSS:")
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// Resident memory summed over the live members of a process group.
pub(crate) fn group_rss_bytes(pgid: u32) -> Option<u64> {
    let members = group_members(pgid);
    if members.is_empty() {
        return None;
    }
    Some(members.iter().filter_map(|&p| rss_bytes(p)).sum())
}

/// Who listens on a TCP port, best effort: `pid 1234 (node)`, or `a process of uid 1000` when
/// the socket is listed in `/proc/net/tcp{,6}` but its process is not visible to ferry (another
/// user's, when ferry is not root), or `None` when not even the socket is found.
pub(crate) fn port_owner(port: u16) -> Option<String> {
    let mut sockets = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Ok(text) = fs::read_to_string(table) {
            sockets.extend(listening_sockets(&text, port));
        }
    }
    let (_, uid) = *sockets.first()?;
    let wanted: Vec<String> = sockets
        .iter()
        .map(|(inode, _)| format!("socket:[{inode}]"))
        .collect();
    for entry in fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(target) = fs::read_link(fd.path()) else {
                continue;
            };
            if wanted.iter().any(|w| target.as_os_str() == w.as_str()) {
                let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                return Some(format!("pid {pid} ({})", comm.trim()));
            }
        }
    }
    Some(format!("a process of uid {uid}"))
}

/// The (inode, uid) of each socket listening on `port` in a `/proc/net/tcp` table.
fn listening_sockets(table: &str, port: u16) -> Vec<(u64, u32)> {
    const LISTEN: &str = "0A";
    let mut out = Vec::new();
    for line in table.lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (Some(local), Some(state), Some(uid), Some(inode)) =
            (fields.get(1), fields.get(3), fields.get(7), fields.get(9))
        else {
            continue;
        };
        let local_port = local
            .rsplit_once(':')
            .and_then(|(_, p)| u16::from_str_radix(p, 16).ok());
        if local_port != Some(port) || *state != LISTEN {
            continue;
        }
        if let (Ok(inode), Ok(uid)) = (inode.parse::<u64>(), uid.parse::<u32>())
            && inode != 0
        {
            out.push((inode, uid));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_sockets_are_found_by_port() {
        let table = "\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 51234 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:D2A4 01 00000000:00000000 00:00000000 00000000  1000        0 51299 1 0000000000000000 20 4 30 10 -1
   2: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 777 1 0000000000000000 100 0 0 10 0
";
        assert_eq!(listening_sockets(table, 8080), vec![(51234, 1000)]);
        assert_eq!(listening_sockets(table, 80), vec![(777, 0)]);
        assert!(listening_sockets(table, 81).is_empty());
        assert!(listening_sockets("header only\n", 80).is_empty());
    }

    #[test]
    fn the_owner_of_a_port_is_named() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let owner = port_owner(port).expect("found");
        assert!(
            owner.starts_with(&format!("pid {} (", std::process::id())),
            "{owner}"
        );
    }

    #[test]
    fn parses_stat_with_odd_names() {
        let line = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 200";
        let s = parse_stat(line).expect("parses");
        assert_eq!(s.state, 'S');
        assert_eq!(s.pgrp, 4242);
        assert_eq!(s.start_ticks, 987654);
        assert!(parse_stat("garbage").is_none());
    }

    #[test]
    fn reads_own_process() {
        let me = std::process::id();
        let s = stat(me).expect("own stat");
        assert!(!s.is_dead());
        assert!(rss_bytes(me).expect("rss") > 0);
        assert!(group_members(s.pgrp).contains(&me));
        assert_eq!(parse_vm_rss("Name: x\nVmRSS:\t  12 kB\n"), Some(12 * 1024));
    }
}
