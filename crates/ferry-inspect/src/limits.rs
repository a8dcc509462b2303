//! Resource limits of a server process, from `[[unit.process]]` in `ferry.toml` (`memory`,
//! `cpus`, `pids`, `open_files`), checked when the manifest is parsed and carried by the plan.
//! Schema: docs/formats/ferry-toml.md ("Resource limits").

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Smallest `memory` accepted (1 MiB): anything less is a unit left out (`memory = 512`).
pub const MIN_MEMORY_BYTES: u64 = 1 << 20;
/// Largest `memory` accepted (16 TiB).
pub const MAX_MEMORY_BYTES: u64 = 16 << 40;
/// Largest `cpus` accepted.
pub const MAX_CPUS: f64 = 1024.0;
/// Largest `pids` accepted (the kernel's own ceiling of `pid_max`).
pub const MAX_PIDS: u64 = 4_194_304;
/// Smallest `open_files` accepted: stdin, stdout, stderr and a listening socket need more.
pub const MIN_OPEN_FILES: u64 = 16;
/// Largest `open_files` accepted (Linux's default `fs.nr_open`).
pub const MAX_OPEN_FILES: u64 = 1 << 20;

/// The limits one process runs under; each one absent means none (the default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProcessLimits {
    /// Memory in bytes (`memory`): the cgroup's `memory.max`, else `RLIMIT_DATA`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    /// CPU time as a share of one CPU in percent (`cpus = 1.5` is 150): the cgroup's
    /// `cpu.max`; no rlimit can share CPU, so without cgroup v2 it is not enforced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_percent: Option<u32>,
    /// Processes and threads at once (`pids`): the cgroup's `pids.max`; not enforced without
    /// cgroup v2 (`RLIMIT_NPROC` counts every process of the user).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids: Option<u64>,
    /// Open file descriptors per process (`open_files`): `RLIMIT_NOFILE`, always enforced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_files: Option<u64>,
}

impl ProcessLimits {
    /// Whether no limit is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// A rejected limit: the key, the value as written and what would be accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitError {
    /// `memory`, `cpus`, `pids` or `open_files`.
    pub field: &'static str,
    /// The value as written in TOML.
    pub value: String,
    /// Why it is refused and what to write instead.
    pub hint: String,
}

impl std::fmt::Display for LimitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{} = {}` {}", self.field, self.value, self.hint)
    }
}

fn refuse(field: &'static str, value: &toml::Value, hint: impl Into<String>) -> LimitError {
    let written = value.to_string();
    // One line whatever was written: control characters escaped, quotes kept.
    let written: String = written
        .chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect();
    let written = if written.chars().count() > 40 {
        format!("{}…", written.chars().take(40).collect::<String>())
    } else {
        written
    };
    LimitError {
        field,
        value: written,
        hint: hint.into(),
    }
}

/// `memory`: a number of bytes, or a string with a unit: `"512MiB"`, `"1GiB"`, `"1.5GiB"`,
/// `"300M"` (`K`/`M`/`G`/`T` are powers of 1000, `Ki`/`Mi`/`Gi`/`Ti` of 1024; a trailing `B`
/// is optional).
pub fn parse_memory(value: &toml::Value) -> Result<u64, LimitError> {
    const HINT: &str =
        "is not a size: write bytes or a number with a unit, e.g. \"512MiB\", \"1GiB\", \"300M\"";
    let bytes = match value {
        toml::Value::Integer(n) => u64::try_from(*n).map_err(|_| refuse("memory", value, HINT))?,
        toml::Value::String(s) => size_bytes(s).ok_or_else(|| refuse("memory", value, HINT))?,
        _ => return Err(refuse("memory", value, HINT)),
    };
    if bytes < MIN_MEMORY_BYTES {
        return Err(refuse(
            "memory",
            value,
            "is below 1 MiB; a bare number is bytes (did you mean \"…MiB\"?)",
        ));
    }
    if bytes > MAX_MEMORY_BYTES {
        return Err(refuse("memory", value, "is above 16 TiB"));
    }
    Ok(bytes)
}

/// `"512MiB"` → 536870912; `None` for anything else.
fn size_bytes(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit = unit.trim();
    let unit = unit
        .strip_suffix('B')
        .filter(|u| !u.is_empty())
        .unwrap_or(unit);
    let scale: u64 = match unit {
        "" | "B" => 1,
        "k" | "K" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        "T" => 1_000_000_000_000,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "Ti" => 1 << 40,
        _ => return None,
    };
    if number.is_empty() || number.starts_with('.') || number.ends_with('.') {
        return None;
    }
    match number.split_once('.') {
        None => number.parse::<u64>().ok()?.checked_mul(scale),
        Some((whole, fraction)) => {
            if fraction.contains('.') || fraction.len() > 6 {
                return None;
            }
            let whole = whole.parse::<u64>().ok()?.checked_mul(scale)?;
            let digits = fraction.parse::<u64>().ok()?;
            let denominator = 10u64.pow(u32::try_from(fraction.len()).ok()?);
            let part = u128::from(digits) * u128::from(scale) / u128::from(denominator);
            whole.checked_add(u64::try_from(part).ok()?)
        }
    }
}

/// `cpus`: a number of CPUs, `0.01` to `1024` (`1.5` is one and a half CPUs), in percent.
pub fn parse_cpus(value: &toml::Value) -> Result<u32, LimitError> {
    const HINT: &str = "is not a number of CPUs: write e.g. 0.5, 1 or 1.5 (0.01 to 1024)";
    let cpus = match value {
        toml::Value::Integer(n) => *n as f64,
        toml::Value::Float(f) => *f,
        _ => return Err(refuse("cpus", value, HINT)),
    };
    if !cpus.is_finite() || !(0.01..=MAX_CPUS).contains(&cpus) {
        return Err(refuse("cpus", value, HINT));
    }
    // In range, so the rounded percentage fits a u32.
    Ok((cpus * 100.0).round() as u32)
}

/// `pids` or `open_files`: a whole number within `min..=max`.
pub fn parse_count(
    field: &'static str,
    value: &toml::Value,
    min: u64,
    max: u64,
) -> Result<u64, LimitError> {
    let hint = || format!("is not a whole number from {min} to {max}");
    match value {
        toml::Value::Integer(n) => u64::try_from(*n)
            .ok()
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| refuse(field, value, hint())),
        _ => Err(refuse(field, value, hint())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> toml::Value {
        toml::Value::String(text.into())
    }

    #[test]
    fn memory_sizes_in_every_accepted_spelling() {
        let cases = [
            ("512MiB", 512 << 20),
            ("512Mi", 512 << 20),
            ("1GiB", 1 << 30),
            ("1.5GiB", 3 << 29),
            ("300M", 300_000_000),
            ("300MB", 300_000_000),
            ("2048k", 2_048_000),
            ("64 MiB", 64 << 20),
            ("1048576", 1 << 20),
        ];
        for (text, bytes) in cases {
            assert_eq!(parse_memory(&s(text)), Ok(bytes), "{text}");
        }
        assert_eq!(
            parse_memory(&toml::Value::Integer(1 << 30)),
            Ok(1 << 30),
            "a bare integer is bytes"
        );
    }

    #[test]
    fn memory_refusals_name_the_value_and_the_fix() {
        for bad in [
            "12XB",
            "MiB",
            "",
            "1\n5",
            "1..5GiB",
            ".5GiB",
            "5.GiB",
            "-1GiB",
            "1e9",
            "1 GB B",
            "99999999TiB",
        ] {
            let err = parse_memory(&s(bad)).expect_err(bad);
            assert_eq!(err.field, "memory");
            assert!(err.hint.contains("\"512MiB\""), "{bad}: {err}");
            assert!(err.to_string().starts_with("`memory = \""), "{err}");
            assert!(!err.to_string().contains('\n'), "one line: {err}");
        }
        let small = parse_memory(&toml::Value::Integer(512)).expect_err("512 bytes");
        assert!(small.hint.contains("below 1 MiB"), "{small}");
        assert!(parse_memory(&toml::Value::Integer(-5)).is_err());
        assert!(parse_memory(&toml::Value::Boolean(true)).is_err());
        let huge = parse_memory(&s("17TiB")).expect_err("too big");
        assert!(huge.hint.contains("16 TiB"), "{huge}");
    }

    #[test]
    fn cpus_become_percent_of_one_cpu() {
        assert_eq!(parse_cpus(&toml::Value::Float(1.5)), Ok(150));
        assert_eq!(parse_cpus(&toml::Value::Integer(2)), Ok(200));
        assert_eq!(parse_cpus(&toml::Value::Float(0.25)), Ok(25));
        for bad in [
            toml::Value::Float(0.0),
            toml::Value::Float(-1.0),
            toml::Value::Float(f64::NAN),
            toml::Value::Float(f64::INFINITY),
            toml::Value::Integer(2000),
            s("1.5"),
        ] {
            let err = parse_cpus(&bad).expect_err("refused");
            assert!(err.hint.contains("CPUs"), "{err}");
        }
    }

    #[test]
    fn counts_are_whole_numbers_in_range() {
        let count = |v: toml::Value| parse_count("open_files", &v, MIN_OPEN_FILES, MAX_OPEN_FILES);
        assert_eq!(count(toml::Value::Integer(4096)), Ok(4096));
        for bad in [
            toml::Value::Integer(3),
            toml::Value::Integer(-1),
            toml::Value::Integer(1 << 30),
            toml::Value::Float(64.0),
            s("64"),
        ] {
            let err = count(bad).expect_err("refused");
            assert_eq!(
                err.hint, "is not a whole number from 16 to 1048576",
                "{err}"
            );
        }
    }
}
