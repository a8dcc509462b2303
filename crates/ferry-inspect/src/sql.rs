//! A small, bounded reader of the PostgreSQL DDL found in Supabase migrations.
//!
//! [`SqlSchema::apply`] splits a file into statements and applies, in order, the few that
//! matter for row-level security and storage: `CREATE TABLE`, `ALTER TABLE … ENABLE/DISABLE/
//! FORCE ROW LEVEL SECURITY`, `ALTER TABLE … RENAME TO`, `DROP TABLE`, `CREATE POLICY`,
//! `ALTER POLICY`, `DROP POLICY` and `INSERT INTO storage.buckets`. Everything else is skipped.
//!
//! The reader never fails and never panics: unterminated strings, comments and dollar quotes
//! run to the end of the file, and malformed statements are ignored. Its work is linear in the
//! size of the input (no recursion, hashed look-ups), and it reads at most 100,000 statements
//! per file.

use std::collections::HashMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Statements read from one file at most; the rest of the file is ignored.
const MAX_STATEMENTS: usize = 100_000;

/// Schemas managed by Supabase itself: a policy or RLS change on a table of theirs that the
/// migrations never created is about Supabase's table, not the app's, and is ignored.
const SYSTEM_SCHEMAS: [&str; 4] = ["storage", "auth", "realtime", "extensions"];

/// The schema state built from a project's SQL files.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SqlSchema {
    /// Tables, in creation order.
    pub tables: Vec<SqlTable>,
    /// Storage buckets created by `INSERT INTO storage.buckets`, in insertion order.
    pub buckets: Vec<SqlBucket>,
}

/// A table and its row-level security.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SqlTable {
    /// The schema (`public` when the name is not qualified).
    pub schema: String,
    /// The table name (unquoted names lowercased).
    pub name: String,
    /// Whether row-level security is enabled.
    pub rls: bool,
    /// `file:line` of the statement that made the table known.
    pub at: String,
    /// Policies, in creation order.
    pub policies: Vec<SqlPolicy>,
}

/// A row-level security policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SqlPolicy {
    /// The policy name (quoted names keep their case).
    pub name: String,
    /// The command the policy applies to.
    pub command: PolicyCommand,
    /// The roles (`TO …`), lowercased unless quoted; empty means `PUBLIC`.
    pub roles: Vec<String>,
    /// The `USING` expression, whitespace collapsed and redundant parentheses removed.
    pub using: Option<String>,
    /// The `WITH CHECK` expression, normalised like `using`.
    pub with_check: Option<String>,
    /// `AS PERMISSIVE` (the default) rather than `AS RESTRICTIVE`.
    pub permissive: bool,
    /// `file:line` of the `CREATE POLICY`.
    pub at: String,
}

/// The command a policy applies to (`FOR …`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyCommand {
    /// Every command (the default).
    All,
    /// `SELECT`.
    Select,
    /// `INSERT`.
    Insert,
    /// `UPDATE`.
    Update,
    /// `DELETE`.
    Delete,
}

/// A storage bucket inserted into `storage.buckets`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SqlBucket {
    /// The bucket name (the `name` column, else `id`).
    pub name: String,
    /// The `public` column when it is a `true`/`false` literal.
    pub public: Option<bool>,
    /// `file:line` of the `INSERT`.
    pub at: String,
}

impl SqlSchema {
    /// Applies every statement of `sql` (the text of `file`) in order.
    pub fn apply(&mut self, file: &str, sql: &str) {
        let mut work = Work::from(std::mem::take(self));
        let mut lines = LineCounter::default();
        // The tokens of the current statement; only its head when it cannot matter.
        let mut stmt: Vec<Token> = Vec::new();
        let mut skipping = false;
        let mut after_begin = false;
        let mut atomic_depth = 0usize;
        let mut count = 0usize;
        for tok in Lexer::new(sql) {
            if tok.kind == Kind::Punct(b';') && atomic_depth == 0 {
                after_begin = false;
                if !stmt.is_empty() {
                    count += 1;
                    if !skipping {
                        work.statement(file, sql, &stmt, &mut lines);
                    }
                    stmt.clear();
                    skipping = false;
                    if count >= MAX_STATEMENTS {
                        break;
                    }
                }
                continue;
            }
            if tok.kind == Kind::Word {
                atomic_depth = track_atomic(sql, &stmt, after_begin, &tok, atomic_depth);
                after_begin = tok.text(sql).eq_ignore_ascii_case("begin");
            } else {
                after_begin = false;
            }
            if !skipping {
                stmt.push(tok);
                skipping = stmt.len() == HEAD
                    && !relevant(&Stmt {
                        src: sql,
                        toks: &stmt,
                    });
            }
        }
        if !stmt.is_empty() && !skipping && count < MAX_STATEMENTS {
            work.statement(file, sql, &stmt, &mut lines);
        }
        *self = work.into();
    }

    /// The table `schema.name`, if it exists.
    pub fn table(&self, schema: &str, name: &str) -> Option<&SqlTable> {
        self.tables
            .iter()
            .find(|t| t.schema == schema && t.name == name)
    }
}

/// Tokens kept of a statement that cannot matter: enough to know that it cannot, and to
/// recognise `CREATE [OR REPLACE] FUNCTION`.
const HEAD: usize = 8;

/// Whether a statement whose first [`HEAD`] tokens are `s` may change the schema.
fn relevant(s: &Stmt<'_>) -> bool {
    if s.kw(0, "create") || s.kw(0, "alter") || s.kw(0, "drop") {
        return true;
    }
    s.kws(0, &["insert", "into"])
        && s.name(2)
            .is_some_and(|(schema, table, _)| schema == "storage" && table == "buckets")
}

/// Tracks `BEGIN ATOMIC … END` bodies of SQL-standard routines, whose `;` do not end the
/// `CREATE FUNCTION`/`CREATE PROCEDURE` statement (`stmt` holds at least its first tokens;
/// `after_begin` says whether the previous token was `BEGIN`). Returns the new depth.
fn track_atomic(src: &str, stmt: &[Token], after_begin: bool, tok: &Token, depth: usize) -> usize {
    let word = tok.text(src);
    if word.eq_ignore_ascii_case("atomic") {
        let s = Stmt { src, toks: stmt };
        let routine = s.kw(0, "create")
            && (s.kw(1, "function")
                || s.kw(1, "procedure")
                || (s.kws(1, &["or", "replace"]) && (s.kw(3, "function") || s.kw(3, "procedure"))));
        if after_begin && routine {
            return depth + 1;
        }
    } else if depth > 0 {
        if word.eq_ignore_ascii_case("case") {
            return depth + 1;
        }
        if word.eq_ignore_ascii_case("end") {
            return depth - 1;
        }
    }
    depth
}

/// Turns byte offsets into 1-based line numbers; offsets must be asked in increasing order.
#[derive(Default)]
struct LineCounter {
    pos: usize,
    line: usize,
}

impl LineCounter {
    fn line_at(&mut self, src: &str, offset: usize) -> usize {
        if offset > self.pos {
            let newlines = src
                .as_bytes()
                .get(self.pos..offset)
                .map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count());
            self.line += newlines;
            self.pos = offset;
        }
        self.line + 1
    }
}

// ---------------------------------------------------------------------------------------------
// Lexer

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// An unquoted identifier or keyword.
    Word,
    /// A double-quoted identifier.
    Ident,
    /// A string constant.
    Str(Quote),
    /// A number (digits and the letters glued to them).
    Num,
    /// Any other single byte.
    Punct(u8),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quote {
    /// `'…'`, with `''` for a quote.
    Plain,
    /// `E'…'`, with backslash escapes.
    Escape,
    /// `$tag$…$tag$`, verbatim.
    Dollar,
}

#[derive(Debug, Clone, Copy)]
struct Token {
    kind: Kind,
    /// Byte range of the whole token.
    start: usize,
    end: usize,
    /// Byte range of the content of a string or quoted identifier (without the quotes).
    body_start: usize,
    body_end: usize,
}

impl Token {
    fn text<'a>(&self, src: &'a str) -> &'a str {
        src.get(self.start..self.end).unwrap_or("")
    }

    fn body<'a>(&self, src: &'a str) -> &'a str {
        src.get(self.body_start..self.body_end).unwrap_or("")
    }
}

/// Splits SQL into tokens, skipping whitespace and comments. Every range it returns starts
/// and ends on a character boundary: it only ever stops at ASCII bytes or at the end.
struct Lexer<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn new(src: &'a str) -> Self {
        Self {
            src,
            bytes: src.as_bytes(),
            pos: 0,
        }
    }

    fn at(&self, i: usize) -> u8 {
        self.bytes.get(i).copied().unwrap_or(0)
    }

    fn token(&mut self, kind: Kind, start: usize, end: usize, body: (usize, usize)) -> Token {
        self.pos = end;
        Token {
            kind,
            start,
            end,
            body_start: body.0,
            body_end: body.1,
        }
    }

    /// Skips a `/* … */` comment (they nest) starting at `self.pos`.
    fn skip_block_comment(&mut self) {
        let mut depth = 1usize;
        let mut i = self.pos + 2;
        while i < self.bytes.len() {
            match (self.at(i), self.at(i + 1)) {
                (b'/', b'*') => {
                    depth += 1;
                    i += 2;
                }
                (b'*', b'/') => {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                }
                _ => i += 1,
            }
        }
        self.pos = i.min(self.bytes.len());
    }

    /// Finds the end of a quoted run whose content starts at `i`: returns the index of the
    /// closing `quote` (or the end of the input), where a doubled `quote` stands for itself
    /// and, with `backslash`, `\` escapes the next byte.
    fn closing(&self, mut i: usize, quote: u8, backslash: bool) -> usize {
        while i < self.bytes.len() {
            let b = self.at(i);
            if backslash && b == b'\\' {
                i += 2;
            } else if b == quote {
                if self.at(i + 1) == quote {
                    i += 2;
                } else {
                    return i;
                }
            } else {
                i += 1;
            }
        }
        self.bytes.len()
    }

    fn quoted(&mut self, kind: Kind, start: usize, open: usize, quote: u8, bs: bool) -> Token {
        let close = self.closing(open + 1, quote, bs);
        let end = (close + 1).min(self.bytes.len());
        self.token(kind, start, end, (open + 1, close))
    }

    /// A dollar quote at `start`, if one starts there: `$$` or `$tag$`.
    fn dollar(&mut self, start: usize) -> Option<Token> {
        let mut i = start + 1;
        let first = self.at(i);
        if first != b'$' {
            if !(first.is_ascii_alphabetic() || first == b'_' || first >= 0x80) {
                return None;
            }
            while {
                let b = self.at(i);
                b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
            } {
                i += 1;
            }
            if self.at(i) != b'$' {
                return None;
            }
        }
        let open_end = i + 1;
        let tag = self.src.get(start..open_end)?;
        let rest = self.src.get(open_end..)?;
        Some(match rest.find(tag) {
            Some(k) => {
                let close = open_end + k;
                self.token(
                    Kind::Str(Quote::Dollar),
                    start,
                    close + tag.len(),
                    (open_end, close),
                )
            }
            None => {
                let len = self.bytes.len();
                self.token(Kind::Str(Quote::Dollar), start, len, (open_end, len))
            }
        })
    }

    fn run_while(&self, mut i: usize, f: impl Fn(u8) -> bool) -> usize {
        while i < self.bytes.len() && f(self.at(i)) {
            i += 1;
        }
        i
    }
}

impl Iterator for Lexer<'_> {
    type Item = Token;

    fn next(&mut self) -> Option<Token> {
        loop {
            self.pos = self.run_while(self.pos, |b| {
                matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
            });
            let start = self.pos;
            if start >= self.bytes.len() {
                return None;
            }
            let b = self.at(start);
            let next = self.at(start + 1);
            return Some(match b {
                b'-' if next == b'-' => {
                    self.pos = self.run_while(start, |c| c != b'\n');
                    continue;
                }
                b'/' if next == b'*' => {
                    self.skip_block_comment();
                    continue;
                }
                b'\'' => self.quoted(Kind::Str(Quote::Plain), start, start, b'\'', false),
                b'e' | b'E' if next == b'\'' => {
                    self.quoted(Kind::Str(Quote::Escape), start, start + 1, b'\'', true)
                }
                b'"' => self.quoted(Kind::Ident, start, start, b'"', false),
                b'$' => match self.dollar(start) {
                    Some(tok) => tok,
                    None => self.token(Kind::Punct(b), start, start + 1, (start, start)),
                },
                b'0'..=b'9' => {
                    let end = self.run_while(start, |c| c.is_ascii_alphanumeric() || c == b'_');
                    self.token(Kind::Num, start, end, (start, start))
                }
                _ if b.is_ascii_alphabetic() || b == b'_' || b >= 0x80 => {
                    let end = self.run_while(start, |c| {
                        c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80
                    });
                    self.token(Kind::Word, start, end, (start, start))
                }
                _ => self.token(Kind::Punct(b), start, start + 1, (start, start)),
            });
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Statements

/// One statement's tokens, with helpers to read them.
struct Stmt<'a> {
    src: &'a str,
    toks: &'a [Token],
}

impl Stmt<'_> {
    fn len(&self) -> usize {
        self.toks.len()
    }

    fn kw(&self, i: usize, word: &str) -> bool {
        self.toks
            .get(i)
            .is_some_and(|t| t.kind == Kind::Word && t.text(self.src).eq_ignore_ascii_case(word))
    }

    fn kws(&self, i: usize, words: &[&str]) -> bool {
        words.iter().enumerate().all(|(k, w)| self.kw(i + k, w))
    }

    fn punct(&self, i: usize, c: u8) -> bool {
        self.toks.get(i).is_some_and(|t| t.kind == Kind::Punct(c))
    }

    /// The identifier at `i`: unquoted ones lowercased, quoted ones unescaped. Empty quoted
    /// identifiers are invalid in PostgreSQL and give `None`.
    fn ident(&self, i: usize) -> Option<String> {
        let t = self.toks.get(i)?;
        let name = match t.kind {
            Kind::Word => t.text(self.src).to_ascii_lowercase(),
            Kind::Ident => t.body(self.src).replace("\"\"", "\""),
            _ => return None,
        };
        (!name.is_empty()).then_some(name)
    }

    /// A possibly qualified name at `i`: `(schema, name, index after it)`. Of `a.b.c` the last
    /// two parts are kept (the first names the database).
    fn name(&self, i: usize) -> Option<(String, String, usize)> {
        let mut name = self.ident(i)?;
        let mut schema = None;
        let mut j = i + 1;
        while self.punct(j, b'.') {
            let Some(part) = self.ident(j + 1) else { break };
            schema = Some(std::mem::replace(&mut name, part));
            j += 2;
        }
        Some((schema.unwrap_or_else(|| "public".into()), name, j))
    }

    /// The string value of the string constant at `i`.
    fn string(&self, i: usize) -> Option<String> {
        let t = self.toks.get(i)?;
        let body = t.body(self.src);
        match t.kind {
            Kind::Str(Quote::Plain) => Some(body.replace("''", "'")),
            Kind::Str(Quote::Escape) => Some(unescape(body)),
            Kind::Str(Quote::Dollar) => Some(body.to_string()),
            _ => None,
        }
    }

    /// For each `(`, the index of its `)` (`None` when unclosed: it runs to the end).
    fn parens(&self) -> Vec<Option<usize>> {
        let mut matches = vec![None; self.len()];
        let mut open = Vec::new();
        for (i, t) in self.toks.iter().enumerate() {
            match t.kind {
                Kind::Punct(b'(') => open.push(i),
                Kind::Punct(b')') => {
                    if let Some(o) = open.pop()
                        && let Some(slot) = matches.get_mut(o)
                    {
                        *slot = Some(i);
                    }
                }
                _ => {}
            }
        }
        matches
    }

    /// The parenthesised group at `i`: `(first inner, end of inner, index after the group)`.
    fn group(&self, i: usize, parens: &[Option<usize>]) -> Option<(usize, usize, usize)> {
        if !self.punct(i, b'(') {
            return None;
        }
        Some(match parens.get(i).copied().flatten() {
            Some(close) => (i + 1, close, close + 1),
            None => (i + 1, self.len(), self.len()),
        })
    }

    /// The text of tokens `s..e`, without redundant enclosing parentheses, with every run of
    /// whitespace and comments between tokens turned into one space.
    fn expr(&self, mut s: usize, mut e: usize, parens: &[Option<usize>]) -> String {
        while s + 1 < e && self.punct(s, b'(') && parens.get(s).copied().flatten() == Some(e - 1) {
            s += 1;
            e -= 1;
        }
        let mut out = String::new();
        let mut prev_end = None;
        for t in self.toks.get(s..e).unwrap_or_default() {
            if prev_end.is_some_and(|p| t.start > p) {
                out.push(' ');
            }
            out.push_str(t.text(self.src));
            prev_end = Some(t.end);
        }
        out
    }
}

/// The value of an `E'…'` string body: `\n`, `\t`… and `\x` for any other `x`; `''` is `'`.
/// (Octal, hexadecimal and Unicode escapes are kept as written.)
fn unescape(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some('b') => out.push('\u{8}'),
                Some('f') => out.push('\u{c}'),
                Some(d @ ('0'..='7' | 'x' | 'u' | 'U')) => {
                    out.push('\\');
                    out.push(d);
                }
                Some(other) => out.push(other),
                None => {}
            },
            '\'' if chars.peek() == Some(&'\'') => {
                chars.next();
                out.push('\'');
            }
            _ => out.push(c),
        }
    }
    out
}

/// The clauses of a `CREATE POLICY` or `ALTER POLICY` after the table name.
#[derive(Default)]
struct Clauses {
    permissive: Option<bool>,
    command: Option<PolicyCommand>,
    roles: Option<Vec<String>>,
    using: Option<String>,
    with_check: Option<String>,
}

fn clauses(s: &Stmt<'_>, mut i: usize, parens: &[Option<usize>]) -> Clauses {
    let mut c = Clauses::default();
    while i < s.len() {
        if s.kw(i, "as") {
            if s.kw(i + 1, "permissive") {
                c.permissive = Some(true);
            } else if s.kw(i + 1, "restrictive") {
                c.permissive = Some(false);
            }
            i += 2;
        } else if s.kw(i, "for") {
            c.command = [
                ("all", PolicyCommand::All),
                ("select", PolicyCommand::Select),
                ("insert", PolicyCommand::Insert),
                ("update", PolicyCommand::Update),
                ("delete", PolicyCommand::Delete),
            ]
            .into_iter()
            .find(|(w, _)| s.kw(i + 1, w))
            .map(|(_, cmd)| cmd)
            .or(c.command);
            i += 2;
        } else if s.kw(i, "to") {
            let mut roles = Vec::new();
            i += 1;
            while let Some(role) = s.ident(i) {
                roles.push(role);
                i += 1;
                if !s.punct(i, b',') {
                    break;
                }
                i += 1;
            }
            c.roles = Some(roles);
        } else if s.kw(i, "using")
            && let Some((a, b, next)) = s.group(i + 1, parens)
        {
            c.using = Some(s.expr(a, b, parens));
            i = next;
        } else if s.kws(i, &["with", "check"])
            && let Some((a, b, next)) = s.group(i + 2, parens)
        {
            c.with_check = Some(s.expr(a, b, parens));
            i = next;
        } else if let Some((_, _, next)) = s.group(i, parens) {
            i = next;
        } else {
            i += 1;
        }
    }
    c
}

/// Index after `IF EXISTS` at `i`, or `i`.
fn skip_if_exists(s: &Stmt<'_>, i: usize) -> usize {
    if s.kws(i, &["if", "exists"]) {
        i + 2
    } else {
        i
    }
}

// ---------------------------------------------------------------------------------------------
// Schema state while applying a file

/// A table being worked on: dropped policies leave a hole until the end of the file, so that
/// every change is a hashed look-up.
struct WorkTable {
    table: SqlTable,
    policies: Vec<Option<SqlPolicy>>,
    policy_index: HashMap<String, usize>,
}

impl WorkTable {
    fn new(table: SqlTable) -> Self {
        let mut work = Self {
            policies: Vec::with_capacity(table.policies.len()),
            policy_index: HashMap::new(),
            table: SqlTable {
                policies: Vec::new(),
                ..table
            },
        };
        for policy in table.policies {
            work.add_policy(policy);
        }
        work
    }

    /// Adds a policy unless one of that name exists (PostgreSQL would reject it).
    fn add_policy(&mut self, policy: SqlPolicy) {
        if !self.policy_index.contains_key(&policy.name) {
            self.policy_index
                .insert(policy.name.clone(), self.policies.len());
            self.policies.push(Some(policy));
        }
    }

    fn policy_mut(&mut self, name: &str) -> Option<&mut SqlPolicy> {
        let i = *self.policy_index.get(name)?;
        self.policies.get_mut(i)?.as_mut()
    }

    fn drop_policy(&mut self, name: &str) {
        if let Some(i) = self.policy_index.remove(name)
            && let Some(slot) = self.policies.get_mut(i)
        {
            *slot = None;
        }
    }

    fn rename_policy(&mut self, old: &str, new: String) {
        if self.policy_index.contains_key(&new) {
            return;
        }
        if let Some(i) = self.policy_index.remove(old) {
            if let Some(Some(policy)) = self.policies.get_mut(i) {
                policy.name = new.clone();
            }
            self.policy_index.insert(new, i);
        }
    }
}

impl From<WorkTable> for SqlTable {
    fn from(work: WorkTable) -> Self {
        SqlTable {
            policies: work.policies.into_iter().flatten().collect(),
            ..work.table
        }
    }
}

/// The schema while a file is applied: dropped tables leave a hole until the end.
struct Work {
    tables: Vec<Option<WorkTable>>,
    index: HashMap<(String, String), usize>,
    buckets: Vec<SqlBucket>,
    bucket_index: HashMap<String, usize>,
}

impl From<SqlSchema> for Work {
    fn from(schema: SqlSchema) -> Self {
        let mut work = Work {
            tables: Vec::with_capacity(schema.tables.len()),
            index: HashMap::new(),
            buckets: Vec::with_capacity(schema.buckets.len()),
            bucket_index: HashMap::new(),
        };
        for table in schema.tables {
            work.index
                .entry((table.schema.clone(), table.name.clone()))
                .or_insert(work.tables.len());
            work.tables.push(Some(WorkTable::new(table)));
        }
        for bucket in schema.buckets {
            work.bucket_index
                .entry(bucket.name.clone())
                .or_insert(work.buckets.len());
            work.buckets.push(bucket);
        }
        work
    }
}

impl From<Work> for SqlSchema {
    fn from(work: Work) -> Self {
        SqlSchema {
            tables: work.tables.into_iter().flatten().map(Into::into).collect(),
            buckets: work.buckets,
        }
    }
}

impl Work {
    fn statement(&mut self, file: &str, src: &str, toks: &[Token], lines: &mut LineCounter) {
        let Some(first) = toks.first() else { return };
        let at = format!("{file}:{}", lines.line_at(src, first.start));
        let s = Stmt { src, toks };
        if s.kw(0, "create") {
            let mut i = 1;
            if s.kw(i, "global") || s.kw(i, "local") {
                i += 1;
            }
            if s.kw(i, "temp") || s.kw(i, "temporary") || s.kw(i, "unlogged") {
                i += 1;
            }
            if s.kw(i, "table") {
                self.create_table(&s, i + 1, at);
            } else if i == 1 && s.kw(1, "policy") {
                self.create_policy(&s, at);
            }
        } else if s.kw(0, "alter") {
            if s.kw(1, "table") {
                self.alter_table(&s, at);
            } else if s.kw(1, "policy") {
                self.alter_policy(&s);
            }
        } else if s.kw(0, "drop") {
            if s.kw(1, "table") {
                self.drop_tables(&s);
            } else if s.kw(1, "policy") {
                self.drop_policy(&s);
            }
        } else if s.kws(0, &["insert", "into"]) {
            self.insert_buckets(&s, at);
        }
    }

    fn find(&mut self, schema: &str, name: &str) -> Option<&mut WorkTable> {
        let i = *self.index.get(&(schema.to_string(), name.to_string()))?;
        self.tables.get_mut(i)?.as_mut()
    }

    /// Adds the table unless it exists.
    fn add_table(&mut self, schema: String, name: String, at: String) {
        let key = (schema, name);
        if self.index.contains_key(&key) {
            return;
        }
        self.index.insert(key.clone(), self.tables.len());
        let (schema, name) = key;
        self.tables.push(Some(WorkTable::new(SqlTable {
            schema,
            name,
            rls: false,
            at,
            policies: Vec::new(),
        })));
    }

    /// The table, created (without RLS) when the migrations never created it: Supabase
    /// projects often create tables in the dashboard. Not for Supabase's own schemas.
    fn known(&mut self, schema: &str, name: &str, at: &str) -> Option<&mut WorkTable> {
        let key = (schema.to_string(), name.to_string());
        if !self.index.contains_key(&key) {
            if SYSTEM_SCHEMAS.contains(&schema) {
                return None;
            }
            self.add_table(key.0, key.1, at.to_string());
        }
        self.find(schema, name)
    }

    fn create_table(&mut self, s: &Stmt<'_>, mut i: usize, at: String) {
        if s.kws(i, &["if", "not", "exists"]) {
            i += 3;
        }
        if let Some((schema, name, _)) = s.name(i) {
            self.add_table(schema, name, at);
        }
    }

    fn alter_table(&mut self, s: &Stmt<'_>, at: String) {
        let mut i = skip_if_exists(s, 2);
        if s.kw(i, "only") {
            i += 1;
        }
        let Some((schema, name, mut i)) = s.name(i) else {
            return;
        };
        if s.punct(i, b'*') {
            i += 1;
        }
        if s.kws(i, &["rename", "to"]) {
            let Some((_, new, _)) = s.name(i + 2) else {
                return;
            };
            self.rename_table(schema, name, new);
            return;
        }
        let mut rls = None;
        let mut depth = 0usize;
        for k in i..s.len() {
            if s.punct(k, b'(') {
                depth += 1;
            } else if s.punct(k, b')') {
                depth = depth.saturating_sub(1);
            } else if depth == 0 {
                if s.kws(k, &["enable", "row", "level", "security"]) {
                    rls = Some(true);
                } else if s.kws(k, &["disable", "row", "level", "security"]) {
                    rls = Some(false);
                } else if s.kws(k, &["force", "row", "level", "security"])
                    && !(k > 0 && s.kw(k - 1, "no"))
                {
                    rls = Some(true);
                }
            }
        }
        if let Some(rls) = rls
            && let Some(table) = self.known(&schema, &name, &at)
        {
            table.table.rls = rls;
        }
    }

    fn rename_table(&mut self, schema: String, name: String, new: String) {
        let new_key = (schema.clone(), new.clone());
        if self.index.contains_key(&new_key) {
            return;
        }
        let Some(i) = self.index.remove(&(schema, name)) else {
            return;
        };
        if let Some(Some(table)) = self.tables.get_mut(i) {
            table.table.name = new;
        }
        self.index.insert(new_key, i);
    }

    fn drop_tables(&mut self, s: &Stmt<'_>) {
        let mut i = skip_if_exists(s, 2);
        while let Some((schema, name, next)) = s.name(i) {
            if let Some(k) = self.index.remove(&(schema, name))
                && let Some(slot) = self.tables.get_mut(k)
            {
                *slot = None;
            }
            if !s.punct(next, b',') {
                break;
            }
            i = next + 1;
        }
    }

    /// `CREATE POLICY name ON table …`.
    fn create_policy(&mut self, s: &Stmt<'_>, at: String) {
        let Some(name) = s.ident(2) else { return };
        if !s.kw(3, "on") {
            return;
        }
        let Some((schema, table, i)) = s.name(4) else {
            return;
        };
        let parens = s.parens();
        let c = clauses(s, i, &parens);
        let policy = SqlPolicy {
            name,
            command: c.command.unwrap_or(PolicyCommand::All),
            roles: c.roles.unwrap_or_default(),
            using: c.using,
            with_check: c.with_check,
            permissive: c.permissive.unwrap_or(true),
            at,
        };
        if let Some(table) = self.known(&schema, &table, &policy.at) {
            table.add_policy(policy);
        }
    }

    /// `ALTER POLICY name ON table RENAME TO new`, or `… [TO roles] [USING (…)] [WITH CHECK
    /// (…)]`.
    fn alter_policy(&mut self, s: &Stmt<'_>) {
        let Some(name) = s.ident(2) else { return };
        if !s.kw(3, "on") {
            return;
        }
        let Some((schema, table, i)) = s.name(4) else {
            return;
        };
        let Some(table) = self.find(&schema, &table) else {
            return;
        };
        if s.kws(i, &["rename", "to"]) {
            if let Some(new) = s.ident(i + 2) {
                table.rename_policy(&name, new);
            }
            return;
        }
        let parens = s.parens();
        let c = clauses(s, i, &parens);
        if let Some(policy) = table.policy_mut(&name) {
            if let Some(roles) = c.roles {
                policy.roles = roles;
            }
            if c.using.is_some() {
                policy.using = c.using;
            }
            if c.with_check.is_some() {
                policy.with_check = c.with_check;
            }
        }
    }

    /// `DROP POLICY [IF EXISTS] name ON table`.
    fn drop_policy(&mut self, s: &Stmt<'_>) {
        let i = skip_if_exists(s, 2);
        let Some(name) = s.ident(i) else { return };
        if !s.kw(i + 1, "on") {
            return;
        }
        if let Some((schema, table, _)) = s.name(i + 2)
            && let Some(table) = self.find(&schema, &table)
        {
            table.drop_policy(&name);
        }
    }

    /// `INSERT INTO storage.buckets [(columns)] VALUES (…), (…) [ON CONFLICT …]`.
    fn insert_buckets(&mut self, s: &Stmt<'_>, at: String) {
        let Some((schema, table, mut i)) = s.name(2) else {
            return;
        };
        if schema != "storage" || table != "buckets" {
            return;
        }
        if s.kw(i, "as") {
            i += 2;
        }
        let parens = s.parens();
        let mut columns = vec!["id".to_string(), "name".into(), "public".into()];
        if let Some((a, b, next)) = s.group(i, &parens) {
            columns = (a..b).filter_map(|k| s.ident(k)).collect();
            i = next;
        }
        if !s.kw(i, "values") {
            return;
        }
        i += 1;
        let column = |c: &str| columns.iter().position(|n| n == c);
        let (name_col, id_col, public_col) = (column("name"), column("id"), column("public"));
        let mut rows = Vec::new();
        while let Some((a, b, next)) = s.group(i, &parens) {
            let values = split_values(s, a, b);
            let value = |col: Option<usize>| col.and_then(|c| values.get(c)).copied();
            let name = value(name_col)
                .and_then(|v| literal_string(s, v))
                .or_else(|| value(id_col).and_then(|v| literal_string(s, v)))
                .filter(|n| !n.is_empty());
            if let Some(name) = name {
                let public = value(public_col).and_then(|v| literal_bool(s, v));
                rows.push((name, public));
            }
            i = next;
            if !s.punct(i, b',') {
                break;
            }
            i += 1;
        }
        let update = (i..s.len()).any(|k| s.kws(k, &["do", "update"]));
        for (name, public) in rows {
            match self.bucket_index.get(&name).copied() {
                Some(k) => {
                    if update
                        && public.is_some()
                        && let Some(bucket) = self.buckets.get_mut(k)
                    {
                        bucket.public = public;
                    }
                }
                None => {
                    self.bucket_index.insert(name.clone(), self.buckets.len());
                    self.buckets.push(SqlBucket {
                        name,
                        public,
                        at: at.clone(),
                    });
                }
            }
        }
    }
}

/// The ranges of the comma-separated values of tokens `a..b`.
fn split_values(s: &Stmt<'_>, a: usize, b: usize) -> Vec<(usize, usize)> {
    let mut values = Vec::new();
    let mut depth = 0usize;
    let mut start = a;
    for k in a..b {
        if s.punct(k, b'(') || s.punct(k, b'[') {
            depth += 1;
        } else if s.punct(k, b')') || s.punct(k, b']') {
            depth = depth.saturating_sub(1);
        } else if depth == 0 && s.punct(k, b',') {
            values.push((start, k));
            start = k + 1;
        }
    }
    values.push((start, b));
    values
}

/// Whether the value `a..b` is one literal, possibly cast (`'x'::text`).
fn single_literal(s: &Stmt<'_>, (a, b): (usize, usize)) -> bool {
    b == a + 1 || (b > a + 1 && s.punct(a + 1, b':'))
}

fn literal_string(s: &Stmt<'_>, v: (usize, usize)) -> Option<String> {
    if single_literal(s, v) {
        s.string(v.0)
    } else {
        None
    }
}

fn literal_bool(s: &Stmt<'_>, v: (usize, usize)) -> Option<bool> {
    if !single_literal(s, v) {
        return None;
    }
    let text = if s.kw(v.0, "true") || s.kw(v.0, "false") {
        s.toks.get(v.0)?.text(s.src).to_string()
    } else {
        s.string(v.0)?
    };
    if text.eq_ignore_ascii_case("true") {
        Some(true)
    } else if text.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(files: &[(&str, &str)]) -> SqlSchema {
        let mut schema = SqlSchema::default();
        for (file, sql) in files {
            schema.apply(file, sql);
        }
        schema
    }

    fn one(sql: &str) -> SqlSchema {
        schema(&[("m.sql", sql)])
    }

    fn names(schema: &SqlSchema) -> Vec<String> {
        schema
            .tables
            .iter()
            .map(|t| format!("{}.{}", t.schema, t.name))
            .collect()
    }

    fn policy<'a>(schema: &'a SqlSchema, table: &str, name: &str) -> &'a SqlPolicy {
        let (s, t) = table.split_once('.').expect("qualified");
        schema
            .table(s, t)
            .expect("table")
            .policies
            .iter()
            .find(|p| p.name == name)
            .expect("policy")
    }

    #[test]
    fn create_table_forms() {
        let s = one("create table a (id int);\n\
             CREATE TABLE IF NOT EXISTS public.b (id int);\n\
             create unlogged table c (x text);\n\
             CREATE TEMP TABLE d (x text);\n\
             create global temporary table e (x text);\n\
             create table app.\"MixedCase\" (x text);\n\
             create table f as select 1;\n\
             create table g partition of f for values in (1);\n\
             create table a (again int);\n\
             CREATE TABLE IF NOT EXISTS A (again int);");
        assert_eq!(
            names(&s),
            [
                "public.a",
                "public.b",
                "public.c",
                "public.d",
                "public.e",
                "app.MixedCase",
                "public.f",
                "public.g"
            ]
        );
        assert!(s.tables.iter().all(|t| !t.rls && t.policies.is_empty()));
        assert_eq!(s.table("public", "a").expect("a").at, "m.sql:1");
        assert!(s.table("app", "mixedcase").is_none());
    }

    #[test]
    fn three_part_names_keep_schema_and_table() {
        let s = one("create table postgres.app.items (id int);");
        assert_eq!(names(&s), ["app.items"]);
    }

    #[test]
    fn rls_enable_disable_force() {
        let s = one(
            "create table a (id int); create table b (id int); create table c (id int);\n\
             create table d (id int); create table e (id int);\n\
             ALTER TABLE public.a ENABLE ROW LEVEL SECURITY;\n\
             alter table if exists only b enable row level security;\n\
             alter table b disable row level security;\n\
             alter table c force row level security;\n\
             alter table d add column x int, enable row level security, alter column id set not null;\n\
             alter table e enable row level security, no force row level security;",
        );
        let rls = |n: &str| s.table("public", n).expect(n).rls;
        assert!(rls("a"));
        assert!(!rls("b"));
        assert!(rls("c"));
        assert!(rls("d"));
        assert!(rls("e"));
    }

    #[test]
    fn rls_on_unknown_table_makes_it_known_except_supabase_schemas() {
        let s = one("-- the table was created in the dashboard\n\
             alter table public.notes enable row level security;\n\
             alter table storage.objects enable row level security;\n\
             alter table auth.users disable row level security;");
        assert_eq!(names(&s), ["public.notes"]);
        let notes = s.table("public", "notes").expect("notes");
        assert!(notes.rls);
        assert_eq!(notes.at, "m.sql:2");
    }

    #[test]
    fn alter_table_without_rls_action_changes_nothing() {
        let s = one("create table a (id int);\n\
             alter table a add column note text default 'enable row level security';\n\
             alter table public.ghost add column x int;");
        assert_eq!(names(&s), ["public.a"]);
        assert!(!s.tables[0].rls);
    }

    #[test]
    fn rename_table_keeps_policies_and_rls() {
        let s = one("create table public.todo (id int);\n\
             alter table todo enable row level security;\n\
             create policy \"own\" on todo for select using (true);\n\
             alter table if exists public.todo rename to tasks;\n\
             alter table tasks rename column id to task_id;\n\
             alter table tasks rename constraint c to d;");
        assert_eq!(names(&s), ["public.tasks"]);
        let tasks = s.table("public", "tasks").expect("tasks");
        assert!(tasks.rls);
        assert_eq!(tasks.at, "m.sql:1");
        assert_eq!(tasks.policies.len(), 1);
    }

    #[test]
    fn rename_onto_existing_table_is_ignored() {
        let s = one("create table a (x int); create table b (x int); alter table a rename to b;");
        assert_eq!(names(&s), ["public.a", "public.b"]);
    }

    #[test]
    fn drop_tables() {
        let s = one(
            "create table a (x int); create table b (x int); create table c (x int);\n\
             create table app.d (x int);\n\
             drop table if exists a, public.b cascade;\n\
             drop table app.d restrict;\n\
             drop table nothing;",
        );
        assert_eq!(names(&s), ["public.c"]);
    }

    #[test]
    fn create_policy_forms() {
        let s = one("create table t (id int, user_id uuid);\n\
             CREATE POLICY p_all ON t USING (true);\n\
             create policy \"Users can read their own rows\" on public.t as permissive for select\n\
               to authenticated using ( auth.uid() = user_id );\n\
             create policy ins on t as restrictive for insert to Authenticated, \"Anon\", public\n\
               with check ( auth.uid() = user_id );\n\
             create policy upd on t for update using (auth.uid() = user_id)\n\
               with check (auth.uid() = user_id);\n\
             create policy del on t for delete to service_role using ((((true))));");
        let t = s.table("public", "t").expect("t");
        let got: Vec<_> = t.policies.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            got,
            [
                "p_all",
                "Users can read their own rows",
                "ins",
                "upd",
                "del"
            ]
        );
        assert_eq!(
            t.policies[0],
            SqlPolicy {
                name: "p_all".into(),
                command: PolicyCommand::All,
                roles: vec![],
                using: Some("true".into()),
                with_check: None,
                permissive: true,
                at: "m.sql:2".into(),
            }
        );
        let read = &t.policies[1];
        assert_eq!(read.command, PolicyCommand::Select);
        assert_eq!(read.roles, ["authenticated"]);
        assert_eq!(read.using.as_deref(), Some("auth.uid() = user_id"));
        assert_eq!(read.at, "m.sql:3");
        let ins = &t.policies[2];
        assert_eq!(ins.command, PolicyCommand::Insert);
        assert!(!ins.permissive);
        assert_eq!(ins.roles, ["authenticated", "Anon", "public"]);
        assert_eq!(ins.using, None);
        assert_eq!(ins.with_check.as_deref(), Some("auth.uid() = user_id"));
        let upd = &t.policies[3];
        assert_eq!(upd.command, PolicyCommand::Update);
        assert_eq!(upd.using, upd.with_check);
        let del = &t.policies[4];
        assert_eq!(del.command, PolicyCommand::Delete);
        assert_eq!(del.using.as_deref(), Some("true"));
    }

    #[test]
    fn policy_expressions_are_normalised() {
        let s = one("create policy a on t using ((true));\n\
             create policy b on t using (\n\
               (auth.uid() = user_id)   AND  /* owner */ (status <> 'x  y')\n\
               -- trailing comment\n\
             );\n\
             create policy c on t using ((a) = (b));\n\
             create policy d on t using (exists (select 1 from members m where m.id = auth.uid()));\n\
             create policy e on t with check (\"Owner\"   =   auth.uid());");
        let expr = |n: &str| policy(&s, "public.t", n).clone();
        assert_eq!(expr("a").using.as_deref(), Some("true"));
        assert_eq!(
            expr("b").using.as_deref(),
            Some("(auth.uid() = user_id) AND (status <> 'x  y')")
        );
        assert_eq!(expr("c").using.as_deref(), Some("(a) = (b)"));
        assert_eq!(
            expr("d").using.as_deref(),
            Some("exists (select 1 from members m where m.id = auth.uid())")
        );
        assert_eq!(
            expr("e").with_check.as_deref(),
            Some("\"Owner\" = auth.uid()")
        );
    }

    #[test]
    fn policy_on_unknown_table_creates_it_without_rls() {
        let s = one("\n\ncreate policy \"read\" on profiles for select using (true);");
        let t = s.table("public", "profiles").expect("profiles");
        assert!(!t.rls);
        assert_eq!(t.at, "m.sql:3");
        assert_eq!(t.policies[0].at, "m.sql:3");
    }

    #[test]
    fn policies_on_supabase_schemas_are_ignored() {
        let s = one(
            "CREATE POLICY \"Avatar images are publicly accessible\" ON storage.objects\n\
               FOR SELECT USING (bucket_id = 'avatars');\n\
             create policy \"Anyone can upload an avatar\" on storage.objects for insert\n\
               with check (bucket_id = 'avatars');\n\
             create policy x on auth.users using (true);\n\
             create policy y on realtime.messages using (true);\n\
             create policy z on extensions.thing using (true);",
        );
        assert_eq!(s, SqlSchema::default());
    }

    #[test]
    fn policies_on_created_tables_in_other_schemas_attach() {
        let s = one("create table auth.extra (id int);\n\
             create policy x on auth.extra using (true);\n\
             create policy y on app.items using (true);");
        assert_eq!(names(&s), ["auth.extra", "app.items"]);
        assert_eq!(s.tables[0].policies.len(), 1);
        assert_eq!(s.tables[1].policies.len(), 1);
    }

    #[test]
    fn duplicate_policy_name_keeps_the_first() {
        let s = one(
            "create policy p on t for select using (a);\ncreate policy p on t for delete using (b);",
        );
        let t = s.table("public", "t").expect("t");
        assert_eq!(t.policies.len(), 1);
        assert_eq!(t.policies[0].command, PolicyCommand::Select);
    }

    #[test]
    fn drop_and_rename_policies() {
        let s = one("create table t (x int);\n\
             create policy \"a b\" on t using (true);\n\
             create policy c on t using (true);\n\
             create policy d on t using (true);\n\
             drop policy \"a b\" on public.t;\n\
             drop policy if exists missing on t;\n\
             drop policy if exists c on t;\n\
             alter policy d on t rename to \"D 2\";\n\
             create policy c on t using (false);\n\
             drop policy d on t;");
        let t = s.table("public", "t").expect("t");
        let got: Vec<_> = t.policies.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(got, ["D 2", "c"]);
        assert_eq!(t.policies[1].using.as_deref(), Some("false"));
    }

    #[test]
    fn alter_policy_changes_roles_and_expressions() {
        let s = one(
            "create policy p on t for update to anon using (true) with check (true);\n\
             alter policy p on t to authenticated using (auth.uid() = owner);",
        );
        let p = policy(&s, "public.t", "p");
        assert_eq!(p.roles, ["authenticated"]);
        assert_eq!(p.using.as_deref(), Some("auth.uid() = owner"));
        assert_eq!(p.with_check.as_deref(), Some("true"));
        assert_eq!(p.command, PolicyCommand::Update);
    }

    #[test]
    fn buckets() {
        let s = one(
            "insert into storage.buckets (id, name, public) values ('avatars', 'avatars', true);\n\
             INSERT INTO storage.buckets (id, name)\n\
               VALUES ('docs', 'Documents'), ('private-x', 'private-x')\n\
               ON CONFLICT (id) DO NOTHING;\n\
             insert into storage.buckets (id, public, file_size_limit, allowed_mime_types)\n\
               values ('photos'::text, 'false', 5242880, array['image/png', 'image/jpeg']);\n\
             insert into storage.buckets values ('legacy', 'legacy', FALSE);\n\
             insert into storage.buckets (id, name, public) values ('odd', 'odd', coalesce(null, true));\n\
             insert into storage.buckets (id, name) select 'x', 'x';\n\
             insert into public.buckets (id, name) values ('not', 'storage');\n\
             insert into storage.buckets (id, name, public) values ('avatars', 'avatars', false);",
        );
        let got: Vec<_> = s
            .buckets
            .iter()
            .map(|b| (b.name.as_str(), b.public, b.at.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("avatars", Some(true), "m.sql:1"),
                ("Documents", None, "m.sql:2"),
                ("private-x", None, "m.sql:2"),
                ("photos", Some(false), "m.sql:5"),
                ("legacy", Some(false), "m.sql:7"),
                ("odd", None, "m.sql:8"),
            ]
        );
    }

    #[test]
    fn bucket_upsert_updates_public() {
        let s = schema(&[
            (
                "1.sql",
                "insert into storage.buckets (id, name, public) values ('a', 'a', false);",
            ),
            (
                "2.sql",
                "insert into storage.buckets (id, name, public) values ('a', 'a', true)\n\
                 on conflict (id) do update set public = excluded.public;",
            ),
        ]);
        assert_eq!(s.buckets.len(), 1);
        assert_eq!(s.buckets[0].public, Some(true));
        assert_eq!(s.buckets[0].at, "1.sql:1");
    }

    #[test]
    fn lovable_migration() {
        let sql = r#"-- Create profiles table
CREATE TABLE public.profiles (
  id UUID NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
  user_id UUID NOT NULL REFERENCES auth.users(id) ON DELETE CASCADE,
  display_name TEXT,
  avatar_url TEXT,
  created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
  updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
  UNIQUE(user_id)
);

CREATE TABLE public.posts (
  id UUID NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
  user_id UUID NOT NULL,
  title TEXT NOT NULL,
  body TEXT
);

-- Enable Row Level Security
ALTER TABLE public.profiles ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.posts ENABLE ROW LEVEL SECURITY;

-- Create policies for profiles
CREATE POLICY "Profiles are viewable by everyone" 
ON public.profiles 
FOR SELECT 
USING (true);

CREATE POLICY "Users can insert their own profile" 
ON public.profiles 
FOR INSERT 
TO authenticated
WITH CHECK (auth.uid() = user_id);

CREATE POLICY "Users can update their own profile" 
ON public.profiles 
FOR UPDATE 
TO authenticated
USING (auth.uid() = user_id);

CREATE POLICY "Users can create posts" ON public.posts FOR INSERT TO authenticated WITH CHECK (auth.uid() = user_id);

-- Create function to update timestamps
CREATE OR REPLACE FUNCTION public.update_updated_at_column()
RETURNS TRIGGER AS $$
BEGIN
  NEW.updated_at = now();
  RETURN NEW;
END;
$$ LANGUAGE plpgsql SET search_path = public;

-- Create trigger for automatic timestamp updates
CREATE TRIGGER update_profiles_updated_at
BEFORE UPDATE ON public.profiles
FOR EACH ROW
EXECUTE FUNCTION public.update_updated_at_column();

INSERT INTO storage.buckets (id, name, public) VALUES ('avatars', 'avatars', true);

CREATE POLICY "Avatar images are publicly accessible" 
ON storage.objects 
FOR SELECT 
USING (bucket_id = 'avatars');
"#;
        let s = schema(&[("supabase/migrations/20240101000000_init.sql", sql)]);
        assert_eq!(names(&s), ["public.profiles", "public.posts"]);
        let profiles = s.table("public", "profiles").expect("profiles");
        assert!(profiles.rls);
        assert_eq!(profiles.at, "supabase/migrations/20240101000000_init.sql:2");
        let got: Vec<_> = profiles
            .policies
            .iter()
            .map(|p| (p.name.as_str(), p.command, p.at.rsplit(':').next()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "Profiles are viewable by everyone",
                    PolicyCommand::Select,
                    Some("24")
                ),
                (
                    "Users can insert their own profile",
                    PolicyCommand::Insert,
                    Some("29")
                ),
                (
                    "Users can update their own profile",
                    PolicyCommand::Update,
                    Some("35")
                ),
            ]
        );
        let insert = &profiles.policies[1];
        assert_eq!(insert.roles, ["authenticated"]);
        assert_eq!(insert.using, None);
        assert_eq!(insert.with_check.as_deref(), Some("auth.uid() = user_id"));
        let posts = s.table("public", "posts").expect("posts");
        assert!(posts.rls);
        assert_eq!(posts.policies.len(), 1);
        assert_eq!(
            posts.policies[0].with_check.as_deref(),
            Some("auth.uid() = user_id")
        );
        assert_eq!(s.buckets.len(), 1);
        assert_eq!(s.buckets[0].public, Some(true));
    }

    #[test]
    fn bolt_migration() {
        let sql = r#"/*
  # Create todos table

  1. New Tables
    - `todos`
      - `id` (uuid, primary key)
      - `title` (text; required)
      - `user_id` (uuid, references auth.users)
  2. Security
    - Enable RLS on `todos` table
    - Add policies for authenticated users to manage their own todos
*/

CREATE TABLE IF NOT EXISTS todos (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  title text NOT NULL,
  completed boolean DEFAULT false,
  user_id uuid REFERENCES auth.users NOT NULL,
  created_at timestamptz DEFAULT now()
);

ALTER TABLE todos ENABLE ROW LEVEL SECURITY;

CREATE POLICY "Users can read own todos"
  ON todos
  FOR SELECT
  TO authenticated
  USING (auth.uid() = user_id);

CREATE POLICY "Users can delete own todos"
  ON todos
  FOR DELETE
  TO authenticated
  USING (auth.uid() = user_id);
"#;
        let s = schema(&[("supabase/migrations/20250101_todos.sql", sql)]);
        assert_eq!(names(&s), ["public.todos"]);
        let todos = &s.tables[0];
        assert!(todos.rls);
        assert_eq!(todos.at, "supabase/migrations/20250101_todos.sql:14");
        assert_eq!(todos.policies.len(), 2);
        assert_eq!(
            todos.policies[0].at,
            "supabase/migrations/20250101_todos.sql:24"
        );
        assert_eq!(todos.policies[1].command, PolicyCommand::Delete);
    }

    #[test]
    fn supabase_db_dump_style() {
        let sql = r#"SET statement_timeout = 0;
SELECT pg_catalog.set_config('search_path', '', false);
COMMENT ON SCHEMA "public" IS 'standard public schema';
CREATE TABLE IF NOT EXISTS "public"."profiles" (
    "id" "uuid" NOT NULL,
    "username" "text"
);
ALTER TABLE "public"."profiles" OWNER TO "postgres";
ALTER TABLE ONLY "public"."profiles"
    ADD CONSTRAINT "profiles_pkey" PRIMARY KEY ("id");
CREATE POLICY "Public profiles are viewable by everyone." ON "public"."profiles" FOR SELECT USING (true);
CREATE POLICY "Users can update own profile." ON "public"."profiles" FOR UPDATE USING (("auth"."uid"() = "id"));
ALTER TABLE "public"."profiles" ENABLE ROW LEVEL SECURITY;
GRANT ALL ON TABLE "public"."profiles" TO "anon";
"#;
        let s = schema(&[("supabase/schema.sql", sql)]);
        assert_eq!(names(&s), ["public.profiles"]);
        let t = &s.tables[0];
        assert!(t.rls);
        assert_eq!(t.at, "supabase/schema.sql:4");
        assert_eq!(t.policies[1].command, PolicyCommand::Update);
        assert_eq!(
            t.policies[1].using.as_deref(),
            Some("\"auth\".\"uid\"() = \"id\"")
        );
    }

    #[test]
    fn function_bodies_do_not_split_statements() {
        let s = one("create table a (id int);\n\
             create function public.handle_new_user() returns trigger\n\
             language plpgsql security definer set search_path = public as $$\n\
             begin\n\
               insert into public.a (id) values (1);\n\
               create table not_a_table (x int);\n\
               return new;\n\
             end;\n\
             $$;\n\
             create trigger on_auth_user_created after insert on auth.users\n\
               for each row execute procedure public.handle_new_user();\n\
             create table b (id int);\n\
             create function f() returns void as $body$ select 'x $$ y'; drop table a; $body$ language sql;\n\
             create function g() returns int language sql begin atomic select 1; drop table b; end;\n\
             create table c (id int);");
        assert_eq!(names(&s), ["public.a", "public.b", "public.c"]);
        assert_eq!(s.table("public", "c").expect("c").at, "m.sql:15");
    }

    #[test]
    fn do_blocks_are_skipped_whole() {
        let s = one("do $$ begin\n\
               if not exists (select 1) then create policy p on t using (true); end if;\n\
             end $$;\n\
             create table after_do (id int);");
        assert_eq!(names(&s), ["public.after_do"]);
        assert!(s.tables[0].policies.is_empty());
    }

    #[test]
    fn quoted_identifiers_and_strings_hide_semicolons() {
        let s = one(
            "create table \"odd;name\" (\"a\"\"b;\" text default 'x;y''z;');\n\
             create table e (v text default E'it\\'s; fine');\n\
             create table \"Upper\" (id int);",
        );
        assert_eq!(names(&s), ["public.odd;name", "public.e", "public.Upper"]);
        assert_eq!(s.tables[2].at, "m.sql:3");
    }

    #[test]
    fn nested_block_comments() {
        let s = one(
            "/* outer /* inner; create table hidden (x int); */ still a comment; */\n\
             create table visible (x int); -- create table hidden2 (x int);\n\
             /* unbalanced */ */ create table nope (x int);",
        );
        assert_eq!(names(&s), ["public.visible"]);
        assert_eq!(s.tables[0].at, "m.sql:2");
    }

    #[test]
    fn drop_and_recreate_across_files() {
        let s = schema(&[
            (
                "001.sql",
                "create table a (x int);\ncreate table b (x int);\nalter table a enable row level security;\n\
                 create policy p on a using (true);",
            ),
            ("002.sql", "drop table a;\n\ncreate table a (y int);"),
        ]);
        assert_eq!(names(&s), ["public.b", "public.a"]);
        let a = s.table("public", "a").expect("a");
        assert!(!a.rls);
        assert!(a.policies.is_empty());
        assert_eq!(a.at, "002.sql:3");
    }

    #[test]
    fn line_numbers_skip_leading_comments_and_blank_lines() {
        let s = one(
            "\n-- comment\n/* block\n comment */\n\n   create\n table t (x int); create policy p\non t using (true);\n",
        );
        assert_eq!(s.tables[0].at, "m.sql:6");
        assert_eq!(s.tables[0].policies[0].at, "m.sql:7");
    }

    #[test]
    fn seed_data_is_skipped_but_buckets_are_not() {
        let rows = "('a;b', 'create table x (y int)'), ".repeat(1000);
        let s = one(&format!(
            "insert into public.products (name, note) values {rows}('z', 'z');\n\
             INSERT INTO \"storage\".\"buckets\" (id) VALUES ('files');\n\
             insert into my_db.storage.buckets (id) values ('qualified');\n\
             update t set x = 1; select 1; create table after (id int);"
        ));
        assert_eq!(names(&s), ["public.after"]);
        assert_eq!(s.tables[0].at, "m.sql:4");
        let got: Vec<_> = s.buckets.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(got, ["files", "qualified"]);
    }

    #[test]
    fn statement_without_final_semicolon_is_applied() {
        let s = one("create table a (x int);\ncreate table b (x int)");
        assert_eq!(names(&s), ["public.a", "public.b"]);
    }

    #[test]
    fn escape_strings_unescape_bucket_names() {
        let s = one("insert into storage.buckets (id) values (E'a\\'b'), ($$c$$), ('d''e');");
        let got: Vec<_> = s.buckets.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(got, ["a'b", "c", "d'e"]);
    }

    #[test]
    fn serde_round_trip() {
        let s = one(
            "create table t (x int); create policy p on t for insert with check (true);\n\
             insert into storage.buckets (id, public) values ('b', true);",
        );
        let json = serde_json::to_value(&s).expect("serialize");
        assert_eq!(json["tables"][0]["policies"][0]["command"], "insert");
        let back: SqlSchema = serde_json::from_value(json).expect("deserialize");
        assert_eq!(back, s);
    }

    #[test]
    fn garbage_does_not_panic() {
        let inputs = [
            "",
            ";;;;",
            "create",
            "CREATE POLICY",
            "create policy \"p",
            "create policy p on",
            "create policy p on t using (",
            "create policy p on t using ((true)",
            "create policy p on t using ) with check (",
            "create table",
            "create table \"",
            "create table \"\" (x int)",
            "alter table",
            "alter table t rename to",
            "alter policy p on t rename to",
            "drop table ,,,",
            "drop policy if exists",
            "insert into storage.buckets (id, name) values (",
            "insert into storage.buckets values ((((",
            "insert into storage.buckets (",
            "select 'unterminated",
            "select E'unterminated\\",
            "select $tag$ never closed",
            "select $$",
            "select $",
            "select $1, $a",
            "/* never /* closed */",
            "-- only a comment",
            "\"unterminated identifier",
            "create table é日本 (x int); create table \"日本\"\"\" (y int);",
            "\u{0}\u{1}\u{7f}\u{feff}create\u{a0}table x",
            "create function f() begin atomic select 1;",
            ")))(((;",
        ];
        for input in inputs {
            let mut s = SqlSchema::default();
            s.apply("g.sql", input);
            s.apply("h.sql", input);
            for t in &s.tables {
                assert!(!t.name.is_empty() && !t.schema.is_empty(), "{input:?}");
            }
        }
        let bytes: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let text = String::from_utf8_lossy(&bytes);
        SqlSchema::default().apply("r.sql", &text);
    }

    #[test]
    fn unterminated_using_runs_to_the_end_of_the_statement() {
        let s = one("create policy p on t using ((auth.uid() = x) or y");
        assert_eq!(
            policy(&s, "public.t", "p").using.as_deref(),
            Some("(auth.uid() = x) or y")
        );
    }

    #[test]
    fn empty_quoted_names_are_ignored() {
        let s = one("create table \"\" (x int); create policy \"\" on t using (true);");
        assert_eq!(s, SqlSchema::default());
    }

    #[test]
    fn statements_are_capped() {
        let sql = "create table t (x int);".repeat(MAX_STATEMENTS + 5);
        let mut s = SqlSchema::default();
        s.apply("big.sql", &sql);
        assert_eq!(s.tables.len(), 1);
        let sql = format!(
            "{}create table late (x int);",
            ";select 1".repeat(MAX_STATEMENTS)
        );
        let mut s = SqlSchema::default();
        s.apply("big.sql", &sql);
        assert!(s.tables.is_empty());
    }

    #[test]
    fn many_policies_and_drops_stay_fast() {
        let mut sql = String::from("create table t (x int);\n");
        for i in 0..20_000 {
            sql.push_str(&format!("create policy p{i} on t using (true);\n"));
        }
        for i in 0..20_000 {
            sql.push_str(&format!("drop policy p{i} on t;\n"));
        }
        for i in 0..20_000 {
            sql.push_str(&format!("create table t{i} (x int); drop table t{i};\n"));
        }
        let deep = format!(
            "create policy deep on t using {}true{};",
            "(".repeat(50_000),
            ")".repeat(50_000)
        );
        sql.push_str(&deep);
        let started = std::time::Instant::now();
        let s = one(&sql);
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        assert_eq!(names(&s), ["public.t"]);
        assert_eq!(s.tables[0].policies.len(), 1);
        assert_eq!(s.tables[0].policies[0].using.as_deref(), Some("true"));
    }
}
