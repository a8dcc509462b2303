//! Whether a server's code listens on the port ferry assigns, or binds a fixed one.
//!
//! ferry runs every release of a server unit on a port of its own, given in `$PORT` (or the
//! process's `port_env`), so the next release can start beside the live one (blue/green). Code
//! that ignores it — the Replit template's `const port = 5000; server.listen({ port, … })` —
//! cannot. This module finds, in text alone, whether some file reads the variable, and the
//! literal bindings of a fixed port in JavaScript/TypeScript that can be rewritten safely:
//!
//! - `const|let|var <name> = 5000` (also `"5000"`, `parseInt("5000", 10)`, `Number(5000)`,
//!   an optional `: number`), where `<name>` ends in `port` (any case), is assigned nowhere
//!   else, and is what a `.listen(` / `serve(` call receives (`listen(port, …)`,
//!   `listen({ port, … })`, `listen({ port: PORT })`);
//! - `.listen(5000, …)`;
//! - `.listen({ port: 5000, … })` and `serve({ port: 5000, … })`.
//!
//! Comments are ignored. Python is only searched for reads of the variable: its bindings
//! (`uvicorn.run(app, port=8000)`, `app.run(port=5000)`) usually sit under
//! `if __name__ == "__main__":`, which the start commands ferry detects (`uvicorn main:app
//! --port $PORT`) never run, so they are not patched. `ferry_compat::port` turns the single
//! binding of [`analyse`] into a patch of the build copy; `fixed-port` reports it.

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

use crate::scan::line_at;

/// Extensions of JavaScript/TypeScript files searched for bindings.
pub const JS_EXTENSIONS: &[&str] = &["js", "mjs", "cjs", "jsx", "ts", "mts", "cts", "tsx"];

/// Extensions of files searched for reads of the port variable.
pub const CODE_EXTENSIONS: &[&str] = &["js", "mjs", "cjs", "jsx", "ts", "mts", "cts", "tsx", "py"];

/// How a fixed port is bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `const port = 5000;` then `listen(port…)` or `listen({ port… })`.
    Variable,
    /// `.listen(5000, …)`.
    ListenArgument,
    /// `.listen({ port: 5000, … })` or `serve({ port: 5000, … })`.
    ListenOption,
}

/// A literal port binding that can be rewritten in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// Byte range of the value expression in the file's text (`5000`, `"5000"`,
    /// `parseInt("5000", 10)`): replacing exactly this changes where the code listens.
    pub value: Range<usize>,
    /// The port.
    pub port: u16,
    /// The shape.
    pub shape: Shape,
    /// 1-based line of the value.
    pub line: usize,
}

/// What a unit's code does with the port variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortUse {
    /// Some file reads the variable (`file:line` of the first).
    ReadsEnv(String),
    /// No file reads it and exactly one literal binding exists: it can be patched.
    Fixed {
        /// The file, as given to [`analyse`].
        file: String,
        /// The binding in it.
        binding: Binding,
    },
    /// No file reads it and several literal bindings exist (`file:line` each): which one
    /// runs cannot be told from the text, so none is patched.
    Ambiguous(Vec<String>),
    /// No file reads it and no literal binding was found.
    Unknown,
}

/// What `files` (`(path, text)`; paths are only compared by extension and carried into the
/// result) do with the variable `port_env`. Files of other extensions are ignored.
pub fn analyse<'a>(files: impl IntoIterator<Item = (&'a str, &'a str)>, port_env: &str) -> PortUse {
    let mut sites = Vec::new();
    for (path, text) in files {
        let ext = extension(path);
        if !CODE_EXTENSIONS.contains(&ext) {
            continue;
        }
        let js = JS_EXTENSIONS.contains(&ext);
        let code = if js {
            Code::lex(text)
        } else {
            Code::plain(text)
        };
        if let Some(at) = env_read(&code, port_env) {
            return PortUse::ReadsEnv(format!("{path}:{}", line_at(text, at)));
        }
        if js {
            sites.extend(
                bindings_in(&code)
                    .into_iter()
                    .map(|b| (path.to_string(), b)),
            );
        }
    }
    match sites.len() {
        0 => PortUse::Unknown,
        1 => {
            let (file, binding) = sites.remove(0);
            PortUse::Fixed { file, binding }
        }
        _ => PortUse::Ambiguous(
            sites
                .iter()
                .map(|(file, b)| format!("{file}:{}", b.line))
                .collect(),
        ),
    }
}

/// The lowercase extension of `path` (`""` when none).
fn extension(path: &str) -> &str {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.rsplit_once('.').map_or("", |(_, e)| e)
}

/// Whether `text` reads the environment variable `name` (`process.env.NAME`,
/// `process.env["NAME"]`, `const { NAME } = process.env`, `Deno.env.get("NAME")`,
/// `os.environ.get("NAME")`, `os.getenv("NAME")`…). Comments count: mask them first for JS.
pub fn reads_env(text: &str, name: &str) -> bool {
    env_read(&Code::plain(text), name).is_some()
}

/// Byte offset of the first read of `name` in `code`.
fn env_read(code: &Code, name: &str) -> Option<usize> {
    let n = regex::escape(name);
    let pattern = format!(
        concat!(
            r#"env\??\.{n}\b|env\[\s*["'`]{n}["'`]\s*\]|env\.get\(\s*["']{n}["']"#,
            r#"|getenv\(\s*["']{n}["']|environ(?:\.get\(\s*|\[\s*)["']{n}["']"#,
            r#"|\{{[^{{}}]*\b{n}\b[^{{}}]*\}}\s*=\s*(?:process\.)?env\b"#,
        ),
        n = n
    );
    let re = Regex::new(&pattern).ok()?;
    re.find_iter(&code.text)
        .map(|m| m.start())
        .find(|at| !code.in_string(*at))
}

/// Whether a start command hands the variable to the program itself (`--port $PORT`,
/// `--bind 0.0.0.0:${PORT}`): then the code needs not read it.
pub fn command_reads_env(command: &str, name: &str) -> bool {
    let n = regex::escape(name);
    Regex::new(&format!(r"\$(?:\{{{n}\b|{n}\b)")).is_ok_and(|re| re.is_match(command))
}

/// Whether the start command `run`, or the package script it runs (`npm run start`,
/// `yarn dev`…; `script` looks a script up by name in the package.json of the command's
/// folder), hands the variable `name` to the program (`--port $PORT`).
pub fn start_passes_env(run: &str, name: &str, script: impl Fn(&str) -> Option<String>) -> bool {
    if command_reads_env(run, name) {
        return true;
    }
    static SCRIPT: LazyLock<Option<Regex>> =
        LazyLock::new(|| Regex::new(r"^(?:npm|yarn|pnpm|bun)\s+(?:run\s+)?([\w:.-]+)\s*$").ok());
    SCRIPT
        .as_ref()
        .and_then(|re| re.captures(run.trim()).map(|c| c[1].to_string()))
        .and_then(|s| script(&s))
        .is_some_and(|text| command_reads_env(&text, name))
}

/// The literal port bindings of a JavaScript/TypeScript file, in order.
pub fn bindings(text: &str) -> Vec<Binding> {
    bindings_in(&Code::lex(text))
}

/// `value` matches one port value; its groups hold the digits.
const VALUE: &str = concat!(
    r#"(?:(?:parseInt|Number)\(\s*(?:"([1-9]\d{0,4})"|'([1-9]\d{0,4})'|([1-9]\d{0,4}))"#,
    r#"\s*(?:,\s*10\s*)?\)|"([1-9]\d{0,4})"|'([1-9]\d{0,4})'|([1-9]\d{0,4}))"#,
);

static VARIABLE: LazyLock<Regex> = LazyLock::new(|| {
    let pattern = format!(
        r"\b(?:const|let|var)\s+([A-Za-z_$][\w$]*)\s*(?::\s*number\s*)?=\s*(?P<value>{VALUE})"
    );
    Regex::new(&pattern).expect("built-in regex")
});

static LISTEN_ARGUMENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r"\.listen\(\s*(?P<value>{VALUE})")).expect("built-in regex")
});

static LISTEN_OPTION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"(?:\.listen|\bserve)\(\s*\{{[^{{}}]*?\bport\s*:\s*(?P<value>{VALUE})"
    ))
    .expect("built-in regex")
});

static REUSE_PORT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\breusePort\s*:\s*(true)\b").expect("built-in regex"));

/// Byte ranges of the `true` in each `reusePort: true` of `text` (comments ignored).
pub fn reuse_port_true(text: &str) -> Vec<Range<usize>> {
    let code = Code::lex(text);
    REUSE_PORT
        .captures_iter(&code.text)
        .filter(|c| c.get(0).is_some_and(|m| !code.in_string(m.start())))
        .filter_map(|c| c.get(1).map(|m| m.range()))
        .collect()
}

fn bindings_in(code: &Code) -> Vec<Binding> {
    let masked = code.text.as_str();
    let mut out: Vec<Binding> = Vec::new();
    let mut push = |c: regex::Captures, shape: Shape, ends: &[u8], newline: bool| {
        let Some(value) = c.name("value") else {
            return;
        };
        if c.get(0).is_some_and(|m| code.in_string(m.start())) {
            return;
        }
        let digits = value
            .as_str()
            .trim_start_matches(|ch: char| !ch.is_ascii_digit());
        let digits = &digits[..digits
            .find(|ch: char| !ch.is_ascii_digit())
            .unwrap_or(digits.len())];
        let Some(port) = digits.parse::<u16>().ok().filter(|p| *p > 0) else {
            return;
        };
        if !ends_cleanly(masked, value.end(), ends, newline) {
            return;
        }
        if out.iter().any(|b| b.value == value.range()) {
            return;
        }
        out.push(Binding {
            value: value.range(),
            port,
            shape,
            line: line_at(masked, value.start()),
        });
    };
    for c in VARIABLE.captures_iter(masked) {
        let name = &c[1];
        if name.to_ascii_lowercase().ends_with("port") && listened_on(code, name) {
            push(c, Shape::Variable, b";,", true);
        }
    }
    for c in LISTEN_ARGUMENT.captures_iter(masked) {
        push(c, Shape::ListenArgument, b",)", false);
    }
    for c in LISTEN_OPTION.captures_iter(masked) {
        push(c, Shape::ListenOption, b",}", true);
    }
    out.sort_by_key(|b| b.value.start);
    out
}

/// Whether the variable `name` is assigned once (its declaration) and handed to a
/// `.listen(` or `serve(` call.
fn listened_on(code: &Code, name: &str) -> bool {
    let masked = code.text.as_str();
    let n = regex::escape(name);
    let assigned = Regex::new(&format!(
        r"(?:^|[^\w$.]){n}\s*(?::\s*number\s*)?(?:=[^=>]|\+=|-=|\+\+|--)"
    ))
    .map(|re| {
        re.find_iter(masked)
            .filter(|m| !code.in_string(m.start()))
            .count()
    });
    if !matches!(assigned, Ok(1)) {
        return false;
    }
    let shorthand = if name == "port" {
        r"|\bport\s*[,}]".to_string()
    } else {
        String::new()
    };
    let listen = format!(
        r"\.listen\(\s*{n}\s*[,)]|(?:\.listen|\bserve)\(\s*\{{[^{{}}]*?(?:\bport\s*:\s*{n}\b{shorthand})"
    );
    Regex::new(&listen).is_ok_and(|re| re.find_iter(masked).any(|m| !code.in_string(m.start())))
}

/// Whether the expression ending at `end` ends there: the next character (after spaces) is
/// one of `ends`, or, when `newline` is allowed, a line break not followed by a continuation
/// of the expression.
fn ends_cleanly(text: &str, end: usize, ends: &[u8], newline: bool) -> bool {
    let bytes = text.as_bytes();
    let mut i = end;
    while i < bytes.len() && matches!(bytes[i], b' ' | b'\t' | b'\r') {
        i += 1;
    }
    let Some(&c) = bytes.get(i) else {
        return newline;
    };
    if ends.contains(&c) {
        return true;
    }
    if c != b'\n' || !newline {
        return false;
    }
    let next = bytes[i..].iter().find(|b| !b.is_ascii_whitespace());
    !next.is_some_and(|b| b"+-*/%?.|&^<>=,([`".contains(b))
}

#[derive(Clone, Copy, PartialEq)]
enum Frame {
    /// A `{` of code.
    Brace,
    /// The `${` of a template literal: its `}` returns into the template.
    Template,
}

/// `text` with every JavaScript comment blanked (each byte a space, line breaks kept), so
/// offsets still point into `text`. Strings, template literals (with their `${…}`) and
/// regular-expression literals are skipped, so a `//` inside them starts no comment.
pub fn mask_comments(text: &str) -> String {
    Code::lex(text).text
}

/// A file's text with its comments blanked, and where its string literals lie.
struct Code {
    /// The text, comments blanked (same length).
    text: String,
    /// Byte ranges of string, template and regular-expression literal text (sorted).
    strings: Vec<Range<usize>>,
}

impl Code {
    /// Text taken as it is (Python, or a plain search).
    fn plain(text: &str) -> Code {
        Code {
            text: text.to_string(),
            strings: Vec::new(),
        }
    }

    /// Whether byte `at` lies inside a literal's text.
    fn in_string(&self, at: usize) -> bool {
        let i = self.strings.partition_point(|r| r.end <= at);
        self.strings.get(i).is_some_and(|r| r.contains(&at))
    }

    /// Lexes JavaScript/TypeScript just enough to tell comments, literals and code apart.
    fn lex(text: &str) -> Code {
        let mut out = text.as_bytes().to_vec();
        let b = text.as_bytes();
        let mut strings = Vec::new();
        let mut stack: Vec<Frame> = Vec::new();
        let mut template: Option<usize> = None; // start of the current template text
        let mut last: Option<usize> = None; // last significant byte of code
        let mut i = 0;
        while i < b.len() {
            if let Some(from) = template {
                match b[i] {
                    b'\\' => i += 2,
                    b'`' => {
                        strings.push(from..i);
                        template = None;
                        last = Some(i);
                        i += 1;
                    }
                    b'$' if b.get(i + 1) == Some(&b'{') => {
                        strings.push(from..i);
                        stack.push(Frame::Template);
                        template = None;
                        last = Some(i + 1);
                        i += 2;
                    }
                    _ => i += 1,
                }
                continue;
            }
            match b[i] {
                b'/' if b.get(i + 1) == Some(&b'/') => {
                    while i < b.len() && b[i] != b'\n' {
                        out[i] = b' ';
                        i += 1;
                    }
                }
                b'/' if b.get(i + 1) == Some(&b'*') => {
                    let end = text[i + 2..].find("*/").map_or(b.len(), |e| i + 2 + e + 2);
                    for o in &mut out[i..end] {
                        if *o != b'\n' {
                            *o = b' ';
                        }
                    }
                    i = end;
                }
                b'/' if regex_may_start(b, last) => {
                    let end = skip_regex(b, i);
                    strings.push(i..end);
                    last = Some(end - 1);
                    i = end;
                }
                q @ (b'"' | b'\'') => {
                    let from = i;
                    i += 1;
                    while i < b.len() && b[i] != q && b[i] != b'\n' {
                        i += if b[i] == b'\\' { 2 } else { 1 };
                    }
                    let end = (i + 1).min(b.len());
                    strings.push(from..end);
                    last = Some(end - 1);
                    i = end;
                }
                b'`' => {
                    template = Some(i);
                    i += 1;
                }
                b'{' => {
                    stack.push(Frame::Brace);
                    last = Some(i);
                    i += 1;
                }
                b'}' => {
                    if stack.pop() == Some(Frame::Template) {
                        template = Some(i);
                    }
                    last = Some(i);
                    i += 1;
                }
                c if c.is_ascii_whitespace() => i += 1,
                _ => {
                    last = Some(i);
                    i += 1;
                }
            }
        }
        if let Some(from) = template {
            strings.push(from..b.len());
        }
        // Only ASCII bytes were replaced (by spaces), whole comments at a time.
        let text = String::from_utf8(out).unwrap_or_else(|_| text.to_string());
        Code { text, strings }
    }
}

/// Whether a `/` after the significant byte `last` starts a regular expression (rather than
/// dividing).
fn regex_may_start(b: &[u8], last: Option<usize>) -> bool {
    let Some(last) = last else {
        return true;
    };
    let c = b[last];
    if b"(,=:[!&|?{};+-*%<>~^".contains(&c) {
        return true;
    }
    if !(c.is_ascii_alphanumeric() || c == b'_' || c == b'$') {
        return false;
    }
    let mut start = last;
    while start > 0 && (b[start - 1].is_ascii_alphanumeric() || matches!(b[start - 1], b'_' | b'$'))
    {
        start -= 1;
    }
    matches!(
        &b[start..=last],
        b"return"
            | b"typeof"
            | b"case"
            | b"do"
            | b"else"
            | b"in"
            | b"of"
            | b"new"
            | b"delete"
            | b"void"
            | b"throw"
            | b"yield"
            | b"await"
    )
}

/// The index after the regular-expression literal starting at `start` (its flags included);
/// a line break ends it early.
fn skip_regex(b: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    let mut class = false;
    while i < b.len() && b[i] != b'\n' {
        match b[i] {
            b'\\' => i += 1,
            b'[' => class = true,
            b']' => class = false,
            b'/' if !class => {
                i += 1;
                while i < b.len() && b[i].is_ascii_alphabetic() {
                    i += 1;
                }
                return i;
            }
            _ => {}
        }
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The end of the Replit template's `server/index.ts`, as written.
    pub(crate) const TEMPLATE: &str = r#"(async () => {
  const server = await registerRoutes(app);

  // ALWAYS serve the app on port 5000: it serves both the API and the client.
  // It is the only port that is not firewalled.
  const port = 5000;
  server.listen({
    port,
    host: "0.0.0.0",
    reusePort: true,
  }, () => {
    log(`serving on port ${port}`);
  });
})();
"#;

    fn one(text: &str) -> Binding {
        let all = bindings(text);
        assert_eq!(all.len(), 1, "{all:?} in {text}");
        all[0].clone()
    }

    #[test]
    fn the_replit_template_binds_5000() {
        let b = one(TEMPLATE);
        assert_eq!((b.port, b.shape, b.line), (5000, Shape::Variable, 6));
        assert_eq!(&TEMPLATE[b.value.clone()], "5000");
        let r = reuse_port_true(TEMPLATE);
        assert_eq!(r.len(), 1);
        assert_eq!(&TEMPLATE[r[0].clone()], "true");
        assert_eq!(
            analyse([("server/index.ts", TEMPLATE)], "PORT"),
            PortUse::Fixed {
                file: "server/index.ts".into(),
                binding: b
            }
        );
    }

    #[test]
    fn literal_shapes() {
        let b = one("app.listen(3000, () => console.log('up'));\n");
        assert_eq!((b.port, b.shape), (3000, Shape::ListenArgument));
        let b = one("server.listen({ port: 8080, host: '0.0.0.0' });\n");
        assert_eq!((b.port, b.shape), (8080, Shape::ListenOption));
        let b = one("serve({ fetch: app.fetch, port: 8787 })\n");
        assert_eq!((b.port, b.shape), (8787, Shape::ListenOption));
        let text = "const PORT: number = parseInt(\"4000\", 10)\napp.listen(PORT, '0.0.0.0')\n";
        let b = one(text);
        assert_eq!((b.port, b.shape), (4000, Shape::Variable));
        assert_eq!(&text[b.value.clone()], "parseInt(\"4000\", 10)");
        let b = one("let serverPort = '5001';\nhttp.createServer(h).listen(serverPort);\n");
        assert_eq!(b.port, 5001);
        let b = one("const port = 5000;\nserver.listen({ port: port, host });\n");
        assert_eq!(b.port, 5000);
    }

    #[test]
    fn unsafe_or_unrelated_shapes_are_not_bindings() {
        for text in [
            // Not handed to listen.
            "const port = 5000;\nconsole.log(port);\n",
            "const dbPort = 5432;\nconnect({ port: dbPort });\n",
            // A port of 0 is a random one, not a fixed one.
            "app.listen(0);\n",
            // Part of a larger expression, or assigned again.
            "const port = 5000 + offset;\napp.listen(port);\n",
            "let port = 5000;\nif (dev) port = 5173;\napp.listen(port);\n",
            "app.listen(50000000);\n",
            // Commented out.
            "// app.listen(3000);\n/* const port = 5000; app.listen(port) */\n",
            // A string that merely looks like code.
            "const help = \"app.listen(3000)\";\n",
            // Vite's dev server port, not a listen.
            "export default defineConfig({ server: { port: 8080 } });\n",
        ] {
            assert!(bindings(text).is_empty(), "{text}: {:?}", bindings(text));
        }
    }

    #[test]
    fn code_reading_the_variable_is_never_fixed() {
        for text in [
            "const port = Number(process.env.PORT) || 5000;\napp.listen(port);\n",
            "app.listen(process.env.PORT || 3000);\n",
            "const { PORT = 3000 } = process.env;\napp.listen(PORT);\n",
            "const port = Deno.env.get(\"PORT\") ?? 8000;\n",
            "const p = process.env[\"PORT\"];\n",
        ] {
            assert!(
                matches!(analyse([("index.ts", text)], "PORT"), PortUse::ReadsEnv(_)),
                "{text}"
            );
        }
        // Another file of the unit reading it is enough; a commented read is not.
        let files = [
            ("server/index.ts", TEMPLATE),
            (
                "server/config.ts",
                "export const port = process.env.PORT;\n",
            ),
        ];
        assert_eq!(
            analyse(files, "PORT"),
            PortUse::ReadsEnv("server/config.ts:1".into())
        );
        let commented = "// app.listen(process.env.PORT)\napp.listen(5000);\n";
        assert!(matches!(
            analyse([("a.js", commented)], "PORT"),
            PortUse::Fixed { .. }
        ));
        // A name that merely starts with the variable's is another variable.
        assert!(!reads_env("process.env.PORTAL_URL", "PORT"));
        assert!(reads_env("os.environ.get('PORT', '8000')", "PORT"));
        assert!(reads_env("process.env.APP_PORT", "APP_PORT"));
        assert!(!reads_env("process.env.APP_PORT", "PORT"));
    }

    #[test]
    fn two_bindings_are_ambiguous() {
        let text = "const port = 5000;\nserver.listen({ port });\nadmin.listen(5001);\n";
        assert_eq!(
            analyse([("server/index.ts", text)], "PORT"),
            PortUse::Ambiguous(vec!["server/index.ts:1".into(), "server/index.ts:3".into()])
        );
        let files = [
            ("server/index.ts", "app.listen(5000);\n"),
            ("server/dev.ts", "app.listen(5000);\n"),
        ];
        assert!(matches!(analyse(files, "PORT"), PortUse::Ambiguous(_)));
    }

    #[test]
    fn python_is_searched_for_reads_only() {
        let main =
            "import uvicorn\n\nif __name__ == \"__main__\":\n    uvicorn.run(app, port=8000)\n";
        assert_eq!(analyse([("main.py", main)], "PORT"), PortUse::Unknown);
        let reads = "port = int(os.environ.get(\"PORT\", 8000))\n";
        assert!(matches!(
            analyse([("main.py", reads)], "PORT"),
            PortUse::ReadsEnv(_)
        ));
        // Other files are not code.
        assert_eq!(
            analyse([("README.md", "app.listen(3000)")], "PORT"),
            PortUse::Unknown
        );
    }

    #[test]
    fn start_commands_can_pass_the_port() {
        assert!(command_reads_env(
            "uvicorn main:app --host 0.0.0.0 --port $PORT",
            "PORT"
        ));
        assert!(command_reads_env(
            "gunicorn app:app --bind 0.0.0.0:${PORT}",
            "PORT"
        ));
        assert!(!command_reads_env("node dist/index.js", "PORT"));
        assert!(!command_reads_env("serve --port $PORTAL", "PORT"));
    }

    #[test]
    fn masking_keeps_offsets_and_strings() {
        let text =
            "const url = \"http://x\"; // note: app.listen(1)\nconst re = /\\/\\//g; /* é */ x";
        let masked = mask_comments(text);
        assert_eq!(masked.len(), text.len());
        assert!(masked.contains("\"http://x\""));
        assert!(!masked.contains("listen"));
        assert!(masked.contains("/\\/\\//g"));
        assert!(!masked.contains('é'));
        let template = "const s = `a ${ {b: 1}.b } // not a comment`; // gone\n";
        let masked = mask_comments(template);
        assert!(masked.contains("// not a comment`"));
        assert!(!masked.contains("gone"));
        let division = "const half = total / 2; // listen(1)\n";
        assert!(!mask_comments(division).contains("listen"));
    }
}
