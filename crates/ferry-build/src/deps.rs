//! The dependency cache for Node units: `node_modules` keyed by the package manager, the
//! lockfile and package.json at the install folder.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use ferry_inspect::BuildPlan;
use ferry_inspect::profile::PackageManager;

use crate::error::{BuildError, io};
use crate::key::{field, hash_file};

/// Bumped whenever the entry layout or the key's inputs change.
const KEY_FORMAT: &[u8] = b"ferry-build deps key v1\0";
/// Every Node lockfile, in detection order.
const LOCKFILES: &[&str] = &[
    "package-lock.json",
    "npm-shrinkwrap.json",
    "pnpm-lock.yaml",
    "yarn.lock",
    "bun.lock",
    "bun.lockb",
];
/// The entry file listing the workspace members whose own `node_modules` were stored.
const MEMBERS_FILE: &str = "members.json";
/// How deep below the install folder workspace members' `node_modules` are looked for.
const MAX_MEMBER_DEPTH: usize = 6;

/// The warning for a Node install without a lockfile.
pub(crate) const NO_LOCKFILE: &str = "no lockfile: installing without one (versions may drift)";

/// What the build knows about a Node unit's install step.
#[derive(Debug, Clone)]
pub(crate) struct NodeInstall {
    /// Index of the install step in `plan.steps`.
    pub step: usize,
    /// The install folder relative to the source root (`None`: the root).
    pub cwd: Option<PathBuf>,
    /// The cache key; `None` without a lockfile (nothing is cached then).
    pub key: Option<String>,
}

/// The Node install of `plan`, if it has one.
pub(crate) fn node_install(
    source_root: &Path,
    plan: &BuildPlan,
) -> Result<Option<NodeInstall>, BuildError> {
    let pm = plan.toolchain.package_manager;
    let node_pm = matches!(
        pm,
        Some(
            PackageManager::Npm | PackageManager::Pnpm | PackageManager::Yarn | PackageManager::Bun
        )
    );
    let node_runtime = pm.is_none()
        && plan
            .toolchain
            .runtime
            .as_ref()
            .is_some_and(|r| r.name == "node");
    if !node_pm && !node_runtime {
        return Ok(None);
    }
    let Some((step, install)) = plan
        .steps
        .iter()
        .enumerate()
        .find(|(_, s)| s.name == "install")
    else {
        return Ok(None);
    };
    let cwd = crate::tree::relative("the install step's folder", &install.command.cwd)?;
    let dir = match &cwd {
        Some(rel) => source_root.join(rel),
        None => source_root.to_path_buf(),
    };
    let own: &[&str] = match pm {
        Some(PackageManager::Npm) => &LOCKFILES[..2],
        Some(PackageManager::Pnpm) => &LOCKFILES[2..3],
        Some(PackageManager::Yarn) => &LOCKFILES[3..4],
        Some(PackageManager::Bun) => &LOCKFILES[4..],
        _ => LOCKFILES,
    };
    if !own.iter().any(|name| dir.join(name).is_file()) {
        return Ok(Some(NodeInstall {
            step,
            cwd,
            key: None,
        }));
    }
    let mut h = blake3::Hasher::new();
    h.update(KEY_FORMAT);
    field(&mut h, pm.map_or("node", PackageManager::as_str).as_bytes());
    field(&mut h, install.command.run.as_bytes());
    for name in LOCKFILES.iter().chain(["package.json"].iter()) {
        let path = dir.join(name);
        if path.is_file() {
            field(&mut h, name.as_bytes());
            h.update(hash_file(&path)?.as_bytes());
        }
    }
    Ok(Some(NodeInstall {
        step,
        cwd,
        key: Some(h.finalize().to_hex().to_string()),
    }))
}

/// Copies a complete entry's `node_modules` folders into `install_dir`.
pub(crate) fn restore(entry: &Path, install_dir: &Path) -> Result<(), String> {
    let members: Vec<String> = match fs::read(entry.join(MEMBERS_FILE)) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| e.to_string())?,
        Err(_) => Vec::new(),
    };
    cp_a(
        &entry.join("node_modules"),
        &install_dir.join("node_modules"),
    )?;
    for member in members {
        let rel = match crate::tree::relative("member", &member) {
            Ok(Some(rel)) => rel,
            _ => {
                return Err(format!(
                    "unusable member path `{member}` in the cache entry"
                ));
            }
        };
        let target = install_dir.join(&rel);
        fs::create_dir_all(&target).map_err(|e| e.to_string())?;
        cp_a(
            &entry.join("members").join(&rel).join("node_modules"),
            &target.join("node_modules"),
        )?;
    }
    Ok(())
}

/// Copies the `node_modules` folders an install produced under `install_dir` into `staging`.
/// Returns false (nothing stored) when the install produced no root `node_modules`.
pub(crate) fn store(install_dir: &Path, staging: &Path) -> Result<bool, BuildError> {
    if !install_dir.join("node_modules").is_dir() {
        return Ok(false);
    }
    let mut members = Vec::new();
    find_members(install_dir, &PathBuf::new(), 0, &mut members);
    let to = staging.join("node_modules");
    cp_a(&install_dir.join("node_modules"), &to).map_err(|e| BuildError::Io {
        path: to.clone(),
        source: std::io::Error::other(e),
    })?;
    let mut names = Vec::new();
    for rel in members {
        let Some(name) = rel.to_str() else { continue };
        let parent = staging.join("members").join(&rel);
        fs::create_dir_all(&parent).map_err(io(&parent))?;
        let to = parent.join("node_modules");
        cp_a(&install_dir.join(&rel).join("node_modules"), &to).map_err(|e| BuildError::Io {
            path: to.clone(),
            source: std::io::Error::other(e),
        })?;
        names.push(name.to_string());
    }
    let list = staging.join(MEMBERS_FILE);
    let json = serde_json::to_vec(&names).map_err(|e| BuildError::Io {
        path: list.clone(),
        source: std::io::Error::other(e),
    })?;
    fs::write(&list, json).map_err(io(&list))?;
    Ok(true)
}

/// Folders below `base` (not the base itself) holding a `node_modules` folder: workspace
/// members whose package manager did not hoist everything to the root.
fn find_members(base: &Path, rel: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    if depth >= MAX_MEMBER_DEPTH {
        return;
    }
    let Ok(read) = fs::read_dir(base.join(rel)) else {
        return;
    };
    let mut names: Vec<_> = read
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.file_name())
        .collect();
    names.sort();
    for name in names {
        let skipped = name
            .to_str()
            .is_some_and(|n| ferry_inspect::tree::SKIPPED_DIRS.contains(&n) || n == ".ferry");
        if skipped {
            continue;
        }
        let child = rel.join(&name);
        if base.join(&child).join("node_modules").is_dir() {
            out.push(child.clone());
        }
        find_members(base, &child, depth + 1, out);
    }
}

/// `cp -a from to`: preserves modes, times and links, and is fast on large trees.
fn cp_a(from: &Path, to: &Path) -> Result<(), String> {
    let output = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("could not run `cp`: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        Err(stderr
            .lines()
            .last()
            .unwrap_or("`cp -a` failed")
            .to_string())
    }
}
