//! Postgres expressions SQLite can hold: column defaults (constants and the current time)
//! and simple generation expressions.

use crate::catalog::{Column, Table, ValueKind, quote_ident, quote_literal};

/// `'…'` content of a Postgres string literal at the start of `s`, and the rest.
fn string_literal(s: &str) -> Option<(String, &str)> {
    let body = s.strip_prefix('\'')?;
    let mut out = String::new();
    let mut chars = body.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '\'' {
            if matches!(chars.peek(), Some((_, '\''))) {
                chars.next();
                out.push('\'');
            } else {
                return Some((out, &body[i + 1..]));
            }
        } else {
            out.push(c);
        }
    }
    None
}

/// Removes parentheses around the whole of `s`.
fn strip_parens(mut s: &str) -> &str {
    loop {
        s = s.trim();
        let Some(inner) = s.strip_prefix('(').and_then(|r| r.strip_suffix(')')) else {
            return s;
        };
        // Only when the first parenthesis closes at the end.
        let mut depth = 0i32;
        let mut in_string = false;
        for (i, c) in s.char_indices() {
            match c {
                '\'' => in_string = !in_string,
                '(' if !in_string => depth += 1,
                ')' if !in_string => {
                    depth -= 1;
                    if depth == 0 && i != s.len() - 1 {
                        return s;
                    }
                }
                _ => {}
            }
        }
        s = inner;
    }
}

/// A constant as Postgres prints a default: `'text'::type`, `42`, `(-1.5)::numeric`, `true`.
#[derive(Debug, PartialEq)]
enum Constant {
    Str(String),
    Num(String),
    Word(String),
}

fn constant(expr: &str) -> Option<Constant> {
    let s = strip_parens(expr);
    let (value, rest) = if s.starts_with('\'') {
        let (text, rest) = string_literal(s)?;
        (Constant::Str(text), rest)
    } else {
        let end = s.find("::").unwrap_or(s.len());
        let core = strip_parens(&s[..end]);
        let number = core.strip_prefix('-').unwrap_or(core);
        if !number.is_empty() && number.chars().all(|c| c.is_ascii_digit() || c == '.') {
            (Constant::Num(core.to_string()), &s[end..])
        } else {
            (
                Constant::Word(
                    s.to_ascii_lowercase()
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" "),
                ),
                "",
            )
        }
    };
    // Only casts may follow the value.
    let rest = rest.trim();
    if rest.is_empty() || only_casts(rest) {
        Some(value)
    } else {
        None
    }
}

/// Whether `s` is a chain of casts (`::text`, `::numeric(10,2)`, `::public."Todo Status"[]`)
/// and nothing else.
fn only_casts(s: &str) -> bool {
    let mut in_quotes = false;
    s.starts_with("::")
        && s.chars().all(|c| {
            if c == '"' {
                in_quotes = !in_quotes;
            }
            in_quotes || c.is_ascii_alphanumeric() || " _.\"()[],:".contains(c)
        })
}

/// The SQLite default of a column, when the Postgres default is a constant or the current
/// time; `None` drops it.
pub(super) fn translate_default(column: &Column, expr: &str) -> Option<String> {
    let value = constant(expr)?;
    let now = matches!(
        &value,
        Constant::Word(w) if [
            "now()",
            "current_timestamp",
            "transaction_timestamp()",
            "statement_timestamp()",
            "clock_timestamp()",
            "localtimestamp",
            "timezone('utc'::text, now())",
            "now() at time zone 'utc'::text",
        ].contains(&w.as_str())
    );
    match (&column.kind, value) {
        (ValueKind::Bool, Constant::Word(w)) if w == "true" => Some("1".into()),
        (ValueKind::Bool, Constant::Word(w)) if w == "false" => Some("0".into()),
        (ValueKind::Int, Constant::Num(n) | Constant::Str(n)) => {
            n.parse::<i64>().ok().map(|v| v.to_string())
        }
        (ValueKind::Float, Constant::Num(n) | Constant::Str(n)) => n
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .map(|v| format!("{v:?}")),
        (ValueKind::Numeric, Constant::Num(n) | Constant::Str(n)) => {
            numeric_default(&n, &column.sql_type)
        }
        (ValueKind::TimestampTz, _) if now => {
            Some("(strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z')".into())
        }
        (ValueKind::Timestamp, _) if now => {
            Some("(strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000')".into())
        }
        (ValueKind::Date, Constant::Word(w)) if now || w == "current_date" => {
            Some("(date('now'))".into())
        }
        (ValueKind::TimestampTz, Constant::Str(s)) => {
            timestamp_default(&s, true).map(|t| quote_literal(&t))
        }
        (ValueKind::Timestamp, Constant::Str(s)) => {
            timestamp_default(&s, false).map(|t| quote_literal(&t))
        }
        (ValueKind::Bytea, Constant::Str(s)) => {
            let hex = s.strip_prefix("\\x")?;
            let mut bytes = Vec::new();
            super::copy_text::decode_hex(hex.as_bytes(), &mut bytes).ok()?;
            Some(format!("X'{hex}'"))
        }
        (ValueKind::Array(_), Constant::Str(s)) if s == "{}" => Some("'[]'".into()),
        (
            ValueKind::Text
            | ValueKind::Uuid
            | ValueKind::Enum
            | ValueKind::Json
            | ValueKind::Jsonb
            | ValueKind::Date
            | ValueKind::Other,
            Constant::Str(s),
        ) => Some(quote_literal(&s)),
        _ => None,
    }
}

/// A numeric default as the stored text, padded to the column's scale (`numeric(10,2)`:
/// `0` → `'0.00'`, as Postgres stores it).
fn numeric_default(number: &str, sql_type: &str) -> Option<String> {
    let digits = number.strip_prefix('-').unwrap_or(number);
    if digits.is_empty()
        || !digits.chars().all(|c| c.is_ascii_digit() || c == '.')
        || digits.starts_with('.')
        || digits.ends_with('.')
        || digits.matches('.').count() > 1
    {
        return None;
    }
    // `numeric(p,s)`: scale s; `numeric(p)`: scale 0; `numeric`: any scale.
    let scale = match sql_type.split_once('(') {
        None => None,
        Some((_, args)) => match args.split_once(',') {
            Some((_, s)) => Some(s.trim_end_matches(')').trim().parse::<usize>().ok()?),
            None => Some(0),
        },
    };
    let have = number.split_once('.').map_or(0, |(_, f)| f.len());
    let text = match scale {
        Some(scale) if scale < have => return None,
        Some(scale) if scale > 0 => {
            let dot = if have == 0 { "." } else { "" };
            format!("{number}{dot}{}", "0".repeat(scale - have))
        }
        _ => number.to_string(),
    };
    Some(quote_literal(&text))
}

/// Postgres' ISO output of a timestamp constant (session in UTC) in the stored form
/// (`YYYY-MM-DDTHH:MI:SS.ffffff`, `Z` when `tz`).
fn timestamp_default(text: &str, tz: bool) -> Option<String> {
    if text == "infinity" || text == "-infinity" {
        return Some(text.to_string());
    }
    let (date, time) = text.split_once(' ')?;
    let time = if tz {
        time.strip_suffix("+00:00")
            .or_else(|| time.strip_suffix("+00"))?
    } else {
        time
    };
    let (hms, fraction) = time.split_once('.').unwrap_or((time, ""));
    let date_ok = date.len() == 10
        && date.chars().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                c == '-'
            } else {
                c.is_ascii_digit()
            }
        });
    let time_ok = hms.len() == 8
        && hms.chars().enumerate().all(|(i, c)| {
            if i == 2 || i == 5 {
                c == ':'
            } else {
                c.is_ascii_digit()
            }
        });
    if !date_ok || !time_ok || fraction.len() > 6 || !fraction.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some(format!(
        "{date}T{hms}.{fraction:0<6}{}",
        if tz { "Z" } else { "" }
    ))
}

// ---------------------------------------------------------------------------------------
// Generated columns.

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Quoted(String),
    Str(String),
    Int(String),
    Cast,
    Op(&'static str),
    Open,
    Close,
    Comma,
}

fn tokenize(expr: &str) -> Option<Vec<Token>> {
    let mut tokens = Vec::new();
    let mut rest = expr;
    loop {
        rest = rest.trim_start();
        let Some(c) = rest.chars().next() else {
            return Some(tokens);
        };
        let (token, len) = match c {
            '\'' => {
                let (text, after) = string_literal(rest)?;
                (Token::Str(text), rest.len() - after.len())
            }
            '"' => {
                let mut name = String::new();
                let mut chars = rest.char_indices().skip(1).peekable();
                let mut end = None;
                while let Some((i, c)) = chars.next() {
                    if c == '"' {
                        if matches!(chars.peek(), Some((_, '"'))) {
                            chars.next();
                            name.push('"');
                        } else {
                            end = Some(i + 1);
                            break;
                        }
                    } else {
                        name.push(c);
                    }
                }
                (Token::Quoted(name), end?)
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let len = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(rest.len());
                if rest[len..].starts_with(['\'', '$']) {
                    return None; // E'…', U&'…', $-quoting
                }
                (Token::Word(rest[..len].to_ascii_lowercase()), len)
            }
            c if c.is_ascii_digit() => {
                let len = rest
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(rest.len());
                if rest[len..].starts_with(['.', 'e', 'E']) {
                    return None; // decimals are numeric in Postgres, REAL in SQLite
                }
                (Token::Int(rest[..len].to_string()), len)
            }
            _ if rest.starts_with("::") => (Token::Cast, 2),
            _ if rest.starts_with("->>") => (Token::Op("->>"), 3),
            _ if rest.starts_with("||") => (Token::Op("||"), 2),
            '+' => (Token::Op("+"), 1),
            '-' => (Token::Op("-"), 1),
            '*' => (Token::Op("*"), 1),
            '/' => (Token::Op("/"), 1),
            '%' => (Token::Op("%"), 1),
            '(' => (Token::Open, 1),
            ')' => (Token::Close, 1),
            ',' => (Token::Comma, 1),
            _ => return None,
        };
        tokens.push(token);
        rest = &rest[len..];
    }
}

/// Functions that mean the same in both databases over the kinds allowed below (`lower`
/// and `upper` fold only ASCII letters in SQLite: documented).
const SAME_FUNCTIONS: &[&str] = &[
    "lower", "upper", "length", "coalesce", "nullif", "replace", "abs",
];

/// The SQLite expression of a simple Postgres generation expression, or `None`: columns,
/// string and integer literals, `||`, integer arithmetic, [`SAME_FUNCTIONS`] and no-op text
/// casts.
pub(super) fn translate_generated(expr: &str, table: &Table) -> Option<String> {
    let tokens = tokenize(expr)?;
    let mut out = String::new();
    let mut referenced: Vec<&Column> = Vec::new();
    let mut arithmetic = false;
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i] {
            Token::Word(w) if tokens.get(i + 1) == Some(&Token::Open) => {
                if !SAME_FUNCTIONS.contains(&w.as_str()) {
                    return None;
                }
                out.push_str(w);
            }
            Token::Word(name) | Token::Quoted(name) => {
                let column = table.column(name).filter(|c| c.generated.is_none())?;
                out.push_str(&quote_ident(&column.name));
                if matches!(column.kind, ValueKind::Json | ValueKind::Jsonb) {
                    // `col ->> 'key'`: the same text for a string member (SQLite reads a
                    // plain label as the path `$.key`, so only plain keys qualify).
                    let (Some(Token::Op("->>")), Some(Token::Str(key))) =
                        (tokens.get(i + 1), tokens.get(i + 2))
                    else {
                        return None;
                    };
                    if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    {
                        return None;
                    }
                    out.push_str(&format!(" ->> {}", quote_literal(key)));
                    i += 2;
                    // A `::text` cast on the key is a no-op.
                    if tokens.get(i + 1) == Some(&Token::Cast)
                        && tokens.get(i + 2) == Some(&Token::Word("text".into()))
                    {
                        i += 2;
                    }
                } else {
                    referenced.push(column);
                }
            }
            Token::Str(text) => out.push_str(&quote_literal(text)),
            Token::Int(n) => out.push_str(n),
            Token::Cast => {
                // `::text`, `::character varying`, `::varchar` (no length): no-ops here.
                match tokens.get(i + 1) {
                    Some(Token::Word(w)) if w == "text" || w == "varchar" => i += 1,
                    Some(Token::Word(w)) if w == "character" => {
                        if tokens.get(i + 2) != Some(&Token::Word("varying".into())) {
                            return None;
                        }
                        i += 2;
                    }
                    _ => return None,
                }
                if tokens.get(i + 1) == Some(&Token::Open) {
                    return None;
                }
            }
            Token::Op("->>") => return None,
            Token::Op(op) => {
                arithmetic |= *op != "||";
                out.push_str(&format!(" {op} "));
            }
            Token::Open => out.push('('),
            Token::Close => out.push(')'),
            Token::Comma => out.push_str(", "),
        }
        i += 1;
    }
    let same_text = |k: &ValueKind| {
        matches!(
            k,
            ValueKind::Int
                | ValueKind::Text
                | ValueKind::Uuid
                | ValueKind::Enum
                | ValueKind::Numeric
                | ValueKind::Date
        )
    };
    if referenced.iter().any(|c| !same_text(&c.kind)) {
        return None;
    }
    if arithmetic && referenced.iter().any(|c| c.kind != ValueKind::Int) {
        return None;
    }
    if out.is_empty() { None } else { Some(out) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::QualifiedName;

    fn column(name: &str, kind: ValueKind) -> Column {
        Column {
            name: name.into(),
            sql_type: "text".into(),
            kind,
            not_null: false,
            default: None,
            identity: None,
            generated: None,
            oid_bound: false,
        }
    }

    fn table(columns: Vec<Column>) -> Table {
        Table {
            name: QualifiedName::new("public", "t"),
            columns,
            primary_key: vec![],
            unique_key: vec![],
            constraints: vec![],
            indexes: vec![],
            rls: (false, false),
            policies: vec![],
            grants: vec![],
            triggers: vec![],
            estimated_rows: 0,
            bytes: 0,
        }
    }

    #[test]
    fn sqlite_defaults_translate() {
        let d = |kind: ValueKind, expr: &str| translate_default(&column("c", kind), expr);
        assert_eq!(d(ValueKind::Int, "0").as_deref(), Some("0"));
        assert_eq!(d(ValueKind::Int, "'-1'::integer").as_deref(), Some("-1"));
        assert_eq!(d(ValueKind::Int, "(-1)").as_deref(), Some("-1"));
        assert_eq!(
            d(ValueKind::Int, "nextval('public.t_id_seq'::regclass)"),
            None
        );
        assert_eq!(d(ValueKind::Bool, "true").as_deref(), Some("1"));
        assert_eq!(d(ValueKind::Bool, "false").as_deref(), Some("0"));
        assert_eq!(
            d(ValueKind::Float, "'1.5'::double precision").as_deref(),
            Some("1.5")
        );
        assert_eq!(d(ValueKind::Float, "'NaN'::double precision"), None);
        assert_eq!(
            d(ValueKind::Text, "'it''s'::text").as_deref(),
            Some("'it''s'")
        );
        assert_eq!(
            d(ValueKind::Text, "'a'::character varying"),
            Some("'a'".into())
        );
        assert_eq!(
            d(ValueKind::Enum, "'todo'::public.\"Status\"").as_deref(),
            Some("'todo'")
        );
        assert_eq!(d(ValueKind::Jsonb, "'{}'::jsonb").as_deref(), Some("'{}'"));
        assert_eq!(
            d(ValueKind::Array(Box::new(ValueKind::Text)), "'{}'::text[]").as_deref(),
            Some("'[]'")
        );
        assert_eq!(d(ValueKind::Uuid, "gen_random_uuid()"), None);
        assert_eq!(d(ValueKind::Text, "('a'::text || 'b'::text)"), None);
        assert_eq!(d(ValueKind::Text, "('a'::text || now())"), None);
        assert_eq!(d(ValueKind::Int, "(1 + 2)"), None);
        assert_eq!(
            d(ValueKind::Bytea, "'\\x00ff'::bytea").as_deref(),
            Some("X'00ff'")
        );
        let now = Some("(strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z')".to_string());
        assert_eq!(d(ValueKind::TimestampTz, "now()"), now);
        assert_eq!(d(ValueKind::TimestampTz, "CURRENT_TIMESTAMP"), now);
        assert_eq!(
            d(ValueKind::TimestampTz, "timezone('utc'::text, now())"),
            now
        );
        assert_eq!(
            d(ValueKind::Date, "CURRENT_DATE").as_deref(),
            Some("(date('now'))")
        );
        assert_eq!(
            d(
                ValueKind::TimestampTz,
                "'2024-01-02 03:04:05.5+00'::timestamp with time zone"
            )
            .as_deref(),
            Some("'2024-01-02T03:04:05.500000Z'")
        );
        assert_eq!(
            d(
                ValueKind::Timestamp,
                "'2024-01-02 03:04:05'::timestamp without time zone"
            )
            .as_deref(),
            Some("'2024-01-02T03:04:05.000000'")
        );
        assert_eq!(
            d(
                ValueKind::TimestampTz,
                "'2024-01-02 03:04:05+02'::timestamp with time zone"
            ),
            None
        );
        let mut money = column("m", ValueKind::Numeric);
        money.sql_type = "numeric(10,2)".into();
        assert_eq!(translate_default(&money, "0").as_deref(), Some("'0.00'"));
        assert_eq!(translate_default(&money, "1.5").as_deref(), Some("'1.50'"));
        assert_eq!(translate_default(&money, "1.555"), None);
        assert_eq!(translate_default(&money, "'NaN'::numeric"), None);
        money.sql_type = "numeric(10)".into();
        assert_eq!(translate_default(&money, "7").as_deref(), Some("'7'"));
        assert_eq!(translate_default(&money, "7.5"), None);
        assert_eq!(
            translate_default(&column("n", ValueKind::Numeric), "'1.50'::numeric").as_deref(),
            Some("'1.50'")
        );
    }

    #[test]
    fn sqlite_generated_expressions_translate_when_simple() {
        let mut t = table(vec![
            column("email", ValueKind::Text),
            column("Name", ValueKind::Text),
            column("qty", ValueKind::Int),
            column("price", ValueKind::Numeric),
            column("at", ValueKind::TimestampTz),
        ]);
        t.columns[1].sql_type = "character varying(20)".into();
        let g = |e: &str| translate_generated(e, &t);
        assert_eq!(g("lower(email)").as_deref(), Some("lower(\"email\")"));
        assert_eq!(
            g("upper((\"Name\")::text)").as_deref(),
            Some("upper((\"Name\"))")
        );
        assert_eq!(
            g("((email || ' '::text) || (\"Name\")::text)").as_deref(),
            Some("((\"email\" || ' ') || (\"Name\"))")
        );
        assert_eq!(g("(qty * 2)").as_deref(), Some("(\"qty\" * 2)"));
        assert_eq!(g("(price * (qty)::numeric)"), None);
        assert_eq!(g("(at)::text"), None);
        assert_eq!(g("to_tsvector('english'::regconfig, email)"), None);
        assert_eq!(g("(email)::character varying(5)"), None);
        assert_eq!(g("nosuch"), None);
        assert_eq!(g("(qty * 1.5)"), None);
        t.columns.push(column("data", ValueKind::Jsonb));
        let g = |e: &str| translate_generated(e, &t);
        assert_eq!(
            g("lower((data ->> 'email'::text))").as_deref(),
            Some("lower((\"data\" ->> 'email'))")
        );
        assert_eq!(g("(data ->> 'a.b'::text)"), None);
        assert_eq!(g("(data -> 'a'::text)"), None);
        assert_eq!(g("data"), None);
    }
}
