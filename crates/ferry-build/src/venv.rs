//! Relocatable virtualenvs: a Python server unit's `.venv` is built in a temporary copy and runs
//! from a release tree somewhere else, so nothing in it may name the build folder. The venv is
//! made with `--copies` (its interpreter is a file, not a link leaving the release), and each
//! console script in `bin/` (`uvicorn`, `gunicorn`…) whose first line names the build's
//! interpreter gets a launcher header instead: `sh` runs the `python` next to the script, and
//! Python reads the same lines as a string literal, so the rest of the script is unchanged.

use std::fs;
use std::path::Path;

use crate::BuildError;
use crate::error::io;

/// The header that replaces a console script's `#!…/python` line: valid shell and valid
/// Python (a string expression statement) at once.
pub(crate) const LAUNCHER: &str =
    "#!/bin/sh\n'''exec' \"$(dirname -- \"$0\")/python\" \"$0\" \"$@\"\n' '''\n";

/// Makes the virtualenv at `venv` relocatable and reproducible: rewrites the console scripts of
/// its `bin/` (returning how many changed; files that are not scripts of this venv's
/// interpreter are left alone), drops the bytecode caches (`__pycache__`, written with
/// timestamps by pip's own install: Python writes its cache elsewhere at run time, see
/// `PYTHONPYCACHEPREFIX`) and the `command` line of `pyvenv.cfg`, which names the build folder.
pub(crate) fn relocate(venv: &Path) -> Result<usize, BuildError> {
    let bin = venv.join("bin");
    let Ok(entries) = fs::read_dir(&bin) else {
        return Ok(0);
    };
    drop_bytecode(venv)?;
    let cfg = venv.join("pyvenv.cfg");
    if let Ok(text) = fs::read_to_string(&cfg) {
        let kept: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("command"))
            .map(|l| format!("{l}\n"))
            .collect();
        if kept != text {
            let _ = fs::remove_file(&cfg);
            fs::write(&cfg, kept).map_err(io(&cfg))?;
        }
    }
    let mut changed = 0;
    for entry in entries {
        let entry = entry.map_err(io(&bin))?;
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if !kind.is_file() {
            continue;
        }
        let Ok(bytes) = fs::read(&path) else {
            continue;
        };
        if let Some(text) = relocated(&bytes, &bin) {
            // Replace, never write through: keep the mode, drop any hard link.
            let mode = fs::metadata(&path).map_err(io(&path))?.permissions();
            let _ = fs::remove_file(&path);
            fs::write(&path, text).map_err(io(&path))?;
            fs::set_permissions(&path, mode).map_err(io(&path))?;
            changed += 1;
        }
    }
    Ok(changed)
}

/// Removes every `__pycache__` folder below `dir` (links are not followed).
fn drop_bytecode(dir: &Path) -> Result<(), BuildError> {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let path = entry.path();
            if entry.file_name() == "__pycache__" {
                fs::remove_dir_all(&path).map_err(io(&path))?;
            } else {
                stack.push(path);
            }
        }
    }
    Ok(())
}

/// The script with the launcher header, when `bytes` starts with a shebang naming a Python
/// interpreter inside `bin` (the absolute build path).
fn relocated(bytes: &[u8], bin: &Path) -> Option<Vec<u8>> {
    let first_end = bytes.iter().position(|&b| b == b'\n')?;
    let first = std::str::from_utf8(&bytes[..first_end]).ok()?;
    let interpreter = first.strip_prefix("#!")?.trim();
    let program = interpreter.split_whitespace().next()?;
    let named = Path::new(program);
    let in_venv = named.parent() == Some(bin)
        && named
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("python"));
    if !in_venv {
        return None;
    }
    let mut out = LAUNCHER.as_bytes().to_vec();
    out.extend_from_slice(&bytes[first_end + 1..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_scripts_of_this_venv_change() {
        let bin = Path::new("/tmp/build-x/src/backend/.venv/bin");
        let script =
            b"#!/tmp/build-x/src/backend/.venv/bin/python3.11\nimport sys\nprint(sys.argv)\n";
        let out = relocated(script, bin).expect("relocated");
        let text = String::from_utf8(out).expect("utf-8");
        assert!(text.starts_with("#!/bin/sh\n'''exec'"), "{text}");
        assert!(
            text.ends_with("' '''\nimport sys\nprint(sys.argv)\n"),
            "{text}"
        );
        assert!(relocated(b"#!/usr/bin/env python3\nx\n", bin).is_none());
        assert!(relocated(b"#!/tmp/other/.venv/bin/python\nx\n", bin).is_none());
        assert!(relocated(b"\x7fELF\x02\x01", bin).is_none());
        assert!(relocated(b"# activate this file\n", bin).is_none());
    }

    /// The header really runs the script with the `python` beside it, from any folder and
    /// through any path, and Python ignores it.
    #[test]
    fn the_launcher_runs_under_sh_and_python() {
        let Ok(python) = which("python3") else {
            panic!("the venv test needs python3");
        };
        let dir = tempfile::tempdir().expect("tmp");
        let bin = dir.path().join("moved/.venv/bin");
        fs::create_dir_all(&bin).expect("mkdir");
        std::os::unix::fs::symlink(&python, bin.join("python")).expect("link");
        let script = bin.join("hello");
        let body = format!(
            "#!{}/python\nimport sys\nprint('hi', sys.argv[1])\n",
            bin.display()
        );
        fs::write(&script, body).expect("write");
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).expect("chmod");
        assert_eq!(
            relocate(&dir.path().join("moved/.venv")).expect("relocate"),
            1
        );
        let out = std::process::Command::new(&script)
            .arg("there")
            .current_dir("/")
            .output()
            .expect("runs");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "hi there\n",
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn which(name: &str) -> Result<std::path::PathBuf, ()> {
        let path = std::env::var_os("PATH").ok_or(())?;
        std::env::split_paths(&path)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
            .ok_or(())
    }
}
