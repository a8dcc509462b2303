//! Table and column names (rules in `docs/base44.md`, "Schema").
//!
//! A property keeps its name as its column when it is a safe identifier and not reserved;
//! anything else gets a sanitised name with a hash suffix, so two different property names
//! never share a column. The hash is FNV-1a 64 of the UTF-8 name: fixed forever, since
//! column names live on in databases.

use std::collections::HashSet;

use crate::base44::model::{BUILTIN_FIELDS, EXTRA_COLUMN, USER_PRIVATE_COLUMNS};

/// The longest identifier Postgres keeps (NAMEDATALEN − 1 bytes).
pub(crate) const MAX_IDENT: usize = 63;

/// How many bytes of the sanitised name precede a hash suffix.
const HASHED_PREFIX: usize = 40;

/// Column names no field may take (compared without regard to ASCII case, as SQLite does):
/// the built-ins, `extra`, Postgres' system columns and SQLite's rowid aliases.
const RESERVED_COLUMNS: &[&str] = &[
    "tableoid", "xmin", "cmin", "xmax", "cmax", "ctid", "oid", "rowid", "_rowid_",
];

/// Whether `name` matches `^[A-Za-z_][A-Za-z0-9_]{0,62}$`.
pub fn is_safe_identifier(name: &str) -> bool {
    let bytes = name.as_bytes();
    bytes.len() <= MAX_IDENT
        && bytes
            .first()
            .is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_')
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'_')
}

/// FNV-1a, 64 bits.
fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// The top 32 bits of FNV-1a 64 of `text`, as 8 lowercase hex digits.
pub(crate) fn hash8(text: &str) -> String {
    format!("{:08x}", fnv1a64(text.as_bytes()) >> 32)
}

/// `text` with every byte outside `[A-Za-z0-9_]` replaced by `_`, runs of `_` collapsed,
/// `_` trimmed at both ends, cut to `max` bytes, `f` when nothing is left, `f_` before a
/// leading digit.
fn sanitise(text: &str, max: usize) -> String {
    let mut out = String::new();
    for c in text.chars() {
        let c = if c.is_ascii_alphanumeric() { c } else { '_' };
        if c == '_' && (out.is_empty() || out.ends_with('_')) {
            continue;
        }
        out.push(c);
    }
    while out.ends_with('_') {
        out.pop();
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "f_");
    }
    out.truncate(max);
    while out.ends_with('_') {
        out.pop();
    }
    if out.is_empty() {
        out.push('f');
    }
    out
}

/// The hashed form of `name`: `<sanitised name, ≤ 40 bytes>_<hash8>`; `salt` > 0 (a second
/// name already produced the same form) hashes `name` + NUL + salt instead.
pub(crate) fn hashed(name: &str, salt: u64) -> String {
    let hash = if salt == 0 {
        hash8(name)
    } else {
        hash8(&format!("{name}\0{salt}"))
    };
    format!("{}_{hash}", sanitise(name, HASHED_PREFIX))
}

/// `base` + `suffix` when it fits in [`MAX_IDENT`] bytes; else `base` cut short, `_`, the
/// hash of `base` + `suffix`, then `suffix`.
pub(crate) fn fitted(base: &str, suffix: &str) -> String {
    if base.len() + suffix.len() <= MAX_IDENT {
        return format!("{base}{suffix}");
    }
    let hash = hash8(&format!("{base}{suffix}"));
    let mut cut = MAX_IDENT.saturating_sub(suffix.len() + 9);
    while !base.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}_{hash}{suffix}", base.get(..cut).unwrap_or_default())
}

/// The columns already taken in a table, compared without regard to ASCII case.
#[derive(Debug, Clone, Default)]
pub(crate) struct Taken(HashSet<String>);

impl Taken {
    /// The built-in columns, `extra`, the reserved names, and for `User` its private columns.
    pub(crate) fn for_table(user: bool) -> Taken {
        let mut taken = Taken::default();
        for name in BUILTIN_FIELDS
            .iter()
            .chain([EXTRA_COLUMN].iter())
            .chain(RESERVED_COLUMNS)
        {
            taken.insert(name);
        }
        if user {
            for name in USER_PRIVATE_COLUMNS {
                taken.insert(name);
            }
        }
        taken
    }

    /// Whether `column` is taken.
    pub(crate) fn contains(&self, column: &str) -> bool {
        self.0.contains(&column.to_ascii_lowercase())
    }

    /// Marks `column` taken.
    pub(crate) fn insert(&mut self, column: &str) {
        self.0.insert(column.to_ascii_lowercase());
    }

    /// The column for property `name`: the name itself when it is a safe identifier and free,
    /// else its hashed form (salted until free). Marks the result taken.
    pub(crate) fn assign(&mut self, name: &str) -> String {
        let column = if is_safe_identifier(name) && !self.contains(name) {
            name.to_string()
        } else {
            let mut salt = 0;
            loop {
                let candidate = hashed(name, salt);
                if !self.contains(&candidate) {
                    break candidate;
                }
                salt += 1;
            }
        };
        self.insert(&column);
        column
    }

    /// Keeps `preferred` when it is free (the column chosen when the schema was parsed), else
    /// assigns one for `name`. Marks the result taken.
    pub(crate) fn keep_or_assign(&mut self, preferred: &str, name: &str) -> String {
        if is_safe_identifier(preferred) && !self.contains(preferred) {
            self.insert(preferred);
            return preferred.to_string();
        }
        self.assign(name)
    }
}

/// `TeamMember` → `team_member`, `HTTPRequest` → `http_request`, `Task2` → `task2`: ASCII
/// letters lowercased, `_` before an upper-case letter that follows a lower-case letter or a
/// digit, or that starts a word after an acronym; other characters become `_` (collapsed).
pub(crate) fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            let prev = chars.get(i - 1).copied().unwrap_or('_');
            let next = chars.get(i + 1).copied().unwrap_or('_');
            if prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next.is_ascii_lowercase())
            {
                out.push('_');
            }
        }
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else {
            out.push('_');
        }
    }
    sanitise(&out, usize::MAX)
}

/// The table of entity `name`: its snake_case when the name is ASCII, the result a safe
/// identifier and not reserved (`_ferry…`, `sqlite_…`); else the snake_case cut to 40 bytes
/// (`t_` in front when it is empty, starts with a digit or with `sqlite`), `_`, and the hash
/// of the entity name.
pub fn table_name(name: &str) -> String {
    let snake = snake_case(name);
    let reserved = snake.starts_with("_ferry") || snake.starts_with("sqlite_");
    if name.is_ascii() && is_safe_identifier(&snake) && !reserved {
        return snake;
    }
    let mut prefix = snake;
    prefix.truncate(HASHED_PREFIX);
    while prefix.ends_with('_') {
        prefix.pop();
    }
    if prefix.is_empty()
        || prefix.starts_with(|c: char| c.is_ascii_digit())
        || prefix.starts_with("sqlite")
    {
        prefix.insert_str(0, "t_");
    }
    format!("{prefix}_{}", hash8(name))
}

/// The entity name a file name gives when the schema has no `name`: the stem (without
/// `.jsonc`/`.json`) split at `-`, `_`, `.` and spaces, each part's first letter upper-cased
/// (`team-member.jsonc` → `TeamMember`, `Task.jsonc` → `Task`).
pub(crate) fn name_from_file(file_name: &str) -> String {
    let base = file_name.rsplit('/').next().unwrap_or(file_name);
    let stem = base
        .strip_suffix(".jsonc")
        .or_else(|| base.strip_suffix(".json"))
        .unwrap_or(base);
    let mut out = String::new();
    for part in stem.split(['-', '_', '.', ' ']).filter(|p| !p.is_empty()) {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.extend(first.to_uppercase());
            out.push_str(chars.as_str());
        }
    }
    out
}

/// Quotes an identifier for either dialect.
pub(crate) fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// A SQL string literal (standard quoting: `'` doubled; Postgres needs
/// `standard_conforming_strings=on`, its default since 9.1).
pub(crate) fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_and_tables() {
        assert_eq!(snake_case("TeamMember"), "team_member");
        assert_eq!(snake_case("HTTPRequest"), "http_request");
        assert_eq!(snake_case("Task2"), "task2");
        assert_eq!(snake_case("V2Task"), "v2_task");
        assert_eq!(table_name("User"), "user");
        assert_eq!(table_name("Task"), "task");
        assert!(table_name("SqliteMaster").starts_with("t_sqlite_master_"));
        assert!(table_name("Tâche").starts_with("t_che_"));
        assert!(table_name(&"A".repeat(100)).len() <= MAX_IDENT);
    }

    #[test]
    fn file_names() {
        assert_eq!(name_from_file("team-member.jsonc"), "TeamMember");
        assert_eq!(name_from_file("TeamMember.jsonc"), "TeamMember");
        assert_eq!(name_from_file("task.json"), "Task");
    }

    #[test]
    fn columns() {
        let mut taken = Taken::for_table(false);
        assert_eq!(taken.assign("title"), "title");
        assert_eq!(taken.assign("dueDate"), "dueDate");
        assert_eq!(taken.assign("Title"), hashed("Title", 0));
        assert_eq!(taken.assign("EXTRA"), hashed("EXTRA", 0));
        assert_eq!(taken.assign("xmin"), hashed("xmin", 0));
        assert_eq!(
            taken.assign("due date"),
            format!("due_date_{}", hash8("due date"))
        );
        assert_eq!(
            taken.assign("9lives"),
            format!("f_9lives_{}", hash8("9lives"))
        );
        assert_eq!(taken.assign("ü"), format!("f_{}", hash8("ü")));
        let long = "x".repeat(100);
        assert_eq!(
            taken.assign(&long),
            format!("{}_{}", "x".repeat(40), hash8(&long))
        );
        assert!(fitted(&"y".repeat(63), "_idx").len() <= MAX_IDENT);
        // FNV-1a 64 test vector.
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
