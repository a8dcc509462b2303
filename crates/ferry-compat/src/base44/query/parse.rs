//! From the SDK's HTTP parameters and `q` JSON to a validated [`Filter`] / [`ListQuery`].

use serde_json::{Map, Value};

use super::error::{QueryError, QueryErrorKind, quote};
use super::pattern::Pattern;
use super::{
    Cond, ElemMatch, FieldPath, Filter, ListQuery, MAX_DEPTH, MAX_FIELDS, MAX_IN, MAX_LIMIT,
    MAX_NODES, MAX_PATH_DEPTH, MAX_Q_LEN, MAX_SEGMENT_LEN, MAX_SORT_KEYS, MAX_VALUES, SortKey,
};

type Result<T> = std::result::Result<T, QueryError>;

fn err(kind: QueryErrorKind, message: impl Into<String>) -> QueryError {
    QueryError::new(kind, message)
}

/// Operators refused on purpose: they run server-side code, need indexes ferry does not build,
/// or have no SQL meaning here.
const FORBIDDEN: &[&str] = &[
    "$where",
    "$function",
    "$accumulator",
    "$expr",
    "$jsonSchema",
    "$text",
    "$search",
    "$geometry",
    "$box",
    "$center",
    "$centerSphere",
    "$polygon",
    "$maxDistance",
    "$minDistance",
    "$uniqueDocs",
];

/// The error for an operator that is not accepted where it appears.
fn refuse(op: &str, place: &str) -> QueryError {
    if FORBIDDEN.contains(&op) || op.starts_with("$near") || op.starts_with("$geo") {
        err(
            QueryErrorKind::ForbiddenOperator,
            format!("operator {} is not allowed", quote(op)),
        )
    } else {
        err(
            QueryErrorKind::UnknownOperator,
            format!("unknown {place} operator {}", quote(op)),
        )
    }
}

/// Validates a dotted field name into a [`FieldPath`] (`bad-field` on any violation).
pub(super) fn field_path(name: &str) -> Result<FieldPath> {
    let bad = |m: String| err(QueryErrorKind::BadField, m);
    if name.is_empty() {
        return Err(bad("empty field name".into()));
    }
    if name.len() > MAX_PATH_DEPTH * (MAX_SEGMENT_LEN + 1) {
        return Err(bad(format!("field name {} is too long", quote(name))));
    }
    let mut segments = Vec::new();
    for segment in name.split('.') {
        if segments.len() == MAX_PATH_DEPTH {
            return Err(bad(format!(
                "field name {} has more than {MAX_PATH_DEPTH} segments",
                quote(name)
            )));
        }
        if segment.is_empty() {
            return Err(bad(format!(
                "field name {} has an empty segment",
                quote(name)
            )));
        }
        if segment.len() > MAX_SEGMENT_LEN {
            return Err(bad(format!(
                "field name {} has a segment longer than {MAX_SEGMENT_LEN} bytes",
                quote(name)
            )));
        }
        if segment.contains(['\0', '"', '\\']) {
            return Err(bad(format!(
                "field name {} contains a NUL, a double quote or a backslash",
                quote(name)
            )));
        }
        if segment.starts_with('$') {
            return Err(bad(format!("field name {} starts with $", quote(name))));
        }
        // Field names are words: letters of any script, digits, `_`, `-` and inner spaces
        // (keys imported from spreadsheets, such as "First name"). Anything else (quotes,
        // `;`, parentheses, `=`…) is refused, never looked up.
        if segment.starts_with(' ')
            || segment.ends_with(' ')
            || !segment
                .chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '-' || c == ' ')
        {
            return Err(bad(format!(
                "field name {} may only hold letters, digits, spaces, `_` and `-`",
                quote(name)
            )));
        }
        segments.push(segment.to_string());
    }
    Ok(FieldPath { segments })
}

/// Parses and validates a `q` filter object: at most [`MAX_DEPTH`] levels, [`MAX_NODES`]
/// nodes, [`MAX_IN`] values per list, [`MAX_VALUES`] values in total; regex patterns checked.
pub fn parse_filter(q: &Value) -> Result<Filter> {
    Parser::default().filter(q, 1)
}

#[derive(Default)]
struct Parser {
    nodes: usize,
    values: usize,
}

fn check_depth(depth: usize) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(err(
            QueryErrorKind::TooDeep,
            format!("the filter nests deeper than {MAX_DEPTH} levels"),
        ));
    }
    Ok(())
}

/// Whether an object is an operator expression (`{"$gt": 1}`) rather than a document value.
fn is_operator_object(map: &Map<String, Value>) -> Result<bool> {
    let ops = map.keys().filter(|k| k.starts_with('$')).count();
    if ops > 0 && ops < map.len() {
        return Err(err(
            QueryErrorKind::BadQuery,
            "an object mixes $operators and field names",
        ));
    }
    Ok(ops > 0)
}

impl Parser {
    fn node(&mut self) -> Result<()> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(err(
                QueryErrorKind::TooLarge,
                format!("the filter has more than {MAX_NODES} conditions"),
            ));
        }
        Ok(())
    }

    fn filter(&mut self, v: &Value, depth: usize) -> Result<Filter> {
        check_depth(depth)?;
        let Value::Object(map) = v else {
            return Err(err(
                QueryErrorKind::BadQuery,
                "a filter must be a JSON object",
            ));
        };
        let mut parts = Vec::with_capacity(map.len());
        for (key, val) in map {
            if key.starts_with('$') {
                let branches = match key.as_str() {
                    "$and" | "$or" | "$nor" => self.branches(key, val, depth)?,
                    "$comment" => continue,
                    _ => return Err(refuse(key, "top-level")),
                };
                parts.push(match key.as_str() {
                    "$and" => Filter::And(branches),
                    "$or" => Filter::Or(branches),
                    _ => Filter::Nor(branches),
                });
            } else {
                self.node()?;
                let path = field_path(key)?;
                let conds = self.field_value(val, depth + 1)?;
                parts.push(Filter::Field(path, conds));
            }
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Filter::And(parts)
        })
    }

    fn branches(&mut self, key: &str, val: &Value, depth: usize) -> Result<Vec<Filter>> {
        self.node()?;
        let items = match val {
            Value::Array(items) if !items.is_empty() => items,
            _ => {
                return Err(err(
                    QueryErrorKind::BadQuery,
                    format!("{key} needs a non-empty array of filters"),
                ));
            }
        };
        if items.len() > MAX_NODES {
            return Err(err(
                QueryErrorKind::TooLarge,
                format!("{key} has more than {MAX_NODES} branches"),
            ));
        }
        items
            .iter()
            .map(|item| self.filter(item, depth + 1))
            .collect()
    }

    fn field_value(&mut self, v: &Value, depth: usize) -> Result<Vec<Cond>> {
        check_depth(depth)?;
        if let Value::Object(map) = v
            && is_operator_object(map)?
        {
            return self.conds(map, depth);
        }
        // An array is shorthand for any of its values (`{"status": ["a", "b"]}` = `$in`), as
        // the SDK documents.
        if let Value::Array(_) = v {
            self.node()?;
            return Ok(vec![Cond::In(self.list("$in", v, depth + 1)?)]);
        }
        Ok(vec![Cond::Eq(self.value(v, depth)?)])
    }

    /// Counts and depth-checks an operand value; returns a copy.
    fn value(&mut self, v: &Value, depth: usize) -> Result<Value> {
        self.walk_value(v, depth)?;
        Ok(v.clone())
    }

    fn walk_value(&mut self, v: &Value, depth: usize) -> Result<()> {
        check_depth(depth)?;
        self.values += 1;
        if self.values > MAX_VALUES {
            return Err(err(
                QueryErrorKind::TooLarge,
                format!("the filter holds more than {MAX_VALUES} values"),
            ));
        }
        match v {
            Value::Array(items) => items.iter().try_for_each(|x| self.walk_value(x, depth + 1)),
            Value::Object(map) => map.values().try_for_each(|x| self.walk_value(x, depth + 1)),
            _ => Ok(()),
        }
    }

    fn list(&mut self, op: &str, v: &Value, depth: usize) -> Result<Vec<Value>> {
        let Value::Array(items) = v else {
            return Err(err(
                QueryErrorKind::BadQuery,
                format!("{op} needs an array"),
            ));
        };
        if items.len() > MAX_IN {
            return Err(err(
                QueryErrorKind::TooLarge,
                format!("{op} lists more than {MAX_IN} values"),
            ));
        }
        items.iter().map(|x| self.value(x, depth + 1)).collect()
    }

    fn scalar(&mut self, op: &str, v: &Value, depth: usize) -> Result<Value> {
        if v.is_array() || v.is_object() {
            return Err(err(
                QueryErrorKind::BadQuery,
                format!("{op} needs a string, number, boolean or null"),
            ));
        }
        self.value(v, depth)
    }

    fn conds(&mut self, map: &Map<String, Value>, depth: usize) -> Result<Vec<Cond>> {
        check_depth(depth)?;
        let mut out = Vec::with_capacity(map.len());
        let mut regex: Option<&str> = None;
        let mut options: Option<&str> = None;
        let inner = depth + 1;
        for (key, val) in map {
            self.node()?;
            let op = key.as_str();
            let cond = match op {
                "$eq" => Cond::Eq(self.value(val, inner)?),
                "$ne" => Cond::Ne(self.value(val, inner)?),
                "$gt" => Cond::Gt(self.scalar(op, val, inner)?),
                "$gte" => Cond::Gte(self.scalar(op, val, inner)?),
                "$lt" => Cond::Lt(self.scalar(op, val, inner)?),
                "$lte" => Cond::Lte(self.scalar(op, val, inner)?),
                "$in" => Cond::In(self.list(op, val, inner)?),
                "$nin" => Cond::Nin(self.list(op, val, inner)?),
                "$all" => Cond::All(self.list(op, val, inner)?),
                "$exists" => Cond::Exists(match val {
                    Value::Bool(b) => *b,
                    Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
                    _ => {
                        return Err(err(QueryErrorKind::BadQuery, "$exists needs a boolean"));
                    }
                }),
                "$regex" | "$options" => {
                    let Value::String(s) = val else {
                        return Err(err(
                            QueryErrorKind::BadRegex,
                            format!("{op} needs a string"),
                        ));
                    };
                    if op == "$regex" {
                        regex = Some(s);
                    } else {
                        options = Some(s);
                    }
                    continue;
                }
                "$not" => match val {
                    Value::Object(m) if !m.is_empty() && is_operator_object(m)? => {
                        Cond::Not(self.conds(m, inner)?)
                    }
                    _ => {
                        return Err(err(
                            QueryErrorKind::BadQuery,
                            "$not needs an operator object such as {\"$gt\": 1}",
                        ));
                    }
                },
                "$size" => Cond::Size(
                    val.as_u64()
                        .or_else(|| {
                            val.as_f64()
                                .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < 9.0e15)
                                .map(|f| f as u64)
                        })
                        .ok_or_else(|| {
                            err(
                                QueryErrorKind::BadQuery,
                                "$size needs a non-negative integer",
                            )
                        })?,
                ),
                "$elemMatch" => {
                    let Value::Object(m) = val else {
                        return Err(err(QueryErrorKind::BadQuery, "$elemMatch needs an object"));
                    };
                    let field_ops = m.keys().any(|k| {
                        k.starts_with('$') && !matches!(k.as_str(), "$and" | "$or" | "$nor")
                    });
                    if field_ops {
                        if !is_operator_object(m)? {
                            return Err(err(
                                QueryErrorKind::BadQuery,
                                "$elemMatch mixes $operators and field names",
                            ));
                        }
                        Cond::ElemMatch(ElemMatch::Conds(self.conds(m, inner)?))
                    } else {
                        Cond::ElemMatch(ElemMatch::Filter(Box::new(self.filter(val, inner)?)))
                    }
                }
                "$mod" => {
                    let pair = val.as_array().filter(|a| a.len() == 2);
                    let nums = pair.and_then(|a| Some((a[0].as_i64()?, a[1].as_i64()?)));
                    match nums {
                        Some((divisor, remainder)) if divisor != 0 => {
                            Cond::Mod { divisor, remainder }
                        }
                        _ => {
                            return Err(err(
                                QueryErrorKind::BadQuery,
                                "$mod needs [divisor, remainder]: two integers, divisor not 0",
                            ));
                        }
                    }
                }
                _ => return Err(refuse(op, "field")),
            };
            out.push(cond);
        }
        match (regex, options) {
            (Some(source), options) => {
                out.push(Cond::Regex(Pattern::new(source, options.unwrap_or(""))?))
            }
            (None, Some(_)) => {
                return Err(err(QueryErrorKind::BadRegex, "$options without $regex"));
            }
            (None, None) => {}
        }
        Ok(out)
    }
}

/// Parses the HTTP query string of a `list`/`filter` call (already percent-decoded pairs):
/// `q` (JSON filter), `sort` (`-created_date,title`), `limit` (1..=[`MAX_LIMIT`], default
/// [`super::DEFAULT_LIMIT`]), `skip` (default 0), `fields` (`a,b.c`). Empty values count as absent;
/// other parameters are ignored; a known parameter given twice is `bad-query`.
pub fn parse_list(params: &[(String, String)]) -> Result<ListQuery> {
    let mut slots: [Option<&str>; 5] = [None; 5];
    const NAMES: [&str; 5] = ["q", "sort", "limit", "skip", "fields"];
    for (key, value) in params {
        if let Some(i) = NAMES.iter().position(|n| n == key) {
            if slots[i].is_some() {
                return Err(err(
                    QueryErrorKind::BadQuery,
                    format!("parameter {} is given twice", quote(key)),
                ));
            }
            slots[i] = Some(value.as_str());
        }
    }
    let present = |i: usize| slots[i].map(str::trim).filter(|s| !s.is_empty());
    let mut query = ListQuery::default();
    if let Some(q) = present(0) {
        if q.len() > MAX_Q_LEN {
            return Err(err(
                QueryErrorKind::TooLarge,
                format!("q is longer than {MAX_Q_LEN} bytes"),
            ));
        }
        if nesting_exceeds(q, 4 * MAX_DEPTH) {
            return Err(err(
                QueryErrorKind::TooDeep,
                format!("the filter nests deeper than {MAX_DEPTH} levels"),
            ));
        }
        let value: Value = serde_json::from_str(q).map_err(|e| {
            err(
                QueryErrorKind::BadQuery,
                format!("q is not valid JSON: {e}"),
            )
        })?;
        query.filter = Some(parse_filter(&value)?);
    }
    if let Some(sort) = present(1) {
        query.sort = parse_sort(sort)?;
    }
    if let Some(limit) = present(2) {
        query.limit = limit
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                err(
                    QueryErrorKind::Limit,
                    format!("limit must be an integer from 1 to {MAX_LIMIT}"),
                )
            })?;
    }
    if let Some(skip) = present(3) {
        query.skip = skip
            .parse::<u64>()
            .ok()
            .filter(|n| i64::try_from(*n).is_ok())
            .ok_or_else(|| {
                err(
                    QueryErrorKind::BadSkip,
                    "skip must be a non-negative integer",
                )
            })?;
    }
    if let Some(fields) = present(4) {
        let mut names = Vec::new();
        for name in fields.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if names.len() == MAX_FIELDS {
                return Err(err(
                    QueryErrorKind::BadField,
                    format!("fields lists more than {MAX_FIELDS} names"),
                ));
            }
            field_path(name)?;
            names.push(name.to_string());
        }
        query.fields = Some(names);
    }
    Ok(query)
}

/// Whether JSON text nests arrays/objects deeper than `limit` (checked before parsing, so a
/// deep filter is `too-deep` rather than the JSON parser's recursion error).
fn nesting_exceeds(text: &str, limit: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for b in text.bytes() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// `sort`: comma-separated field names, each optionally prefixed by `-` (descending) or `+`.
fn parse_sort(sort: &str) -> Result<Vec<SortKey>> {
    let mut keys = Vec::new();
    for item in sort.split(',').map(str::trim) {
        if keys.len() == MAX_SORT_KEYS {
            return Err(err(
                QueryErrorKind::BadSort,
                format!("sort lists more than {MAX_SORT_KEYS} keys"),
            ));
        }
        let (desc, name) = match item.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, item.strip_prefix('+').unwrap_or(item)),
        };
        if name.is_empty() {
            return Err(err(QueryErrorKind::BadSort, "empty sort key"));
        }
        let path = field_path(name).map_err(|e| e.with_kind(QueryErrorKind::BadSort))?;
        keys.push(SortKey { path, desc });
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn code(q: Value) -> &'static str {
        parse_filter(&q).expect_err("should fail").code()
    }

    #[test]
    fn parses_shapes() {
        let f = parse_filter(&json!({"status": "done", "priority": {"$gte": 2, "$lt": 5}}))
            .expect("valid");
        let Filter::And(parts) = f else { panic!("and") };
        assert_eq!(parts.len(), 2);
        assert_eq!(
            parse_filter(&json!({"meta": {"a": 1}})).expect("doc"),
            Filter::Field(
                field_path("meta").expect("p"),
                vec![Cond::Eq(json!({"a": 1}))]
            )
        );
        assert_eq!(
            parse_filter(&json!({})).expect("empty"),
            Filter::And(vec![])
        );
        // An array value is the SDK's shorthand for `$in`.
        assert_eq!(
            parse_filter(&json!({"status": ["todo", "doing"]})).expect("shorthand"),
            parse_filter(&json!({"status": {"$in": ["todo", "doing"]}})).expect("$in"),
        );
        let f = parse_filter(&json!({"items": {"$elemMatch": {"$or": [{"a": 1}]}}})).expect("em");
        assert!(
            matches!(f, Filter::Field(_, ref c) if matches!(c[0], Cond::ElemMatch(ElemMatch::Filter(_))))
        );
        let f = parse_filter(&json!({"t": {"$regex": "^a", "$options": "i"}})).expect("re");
        assert!(matches!(f, Filter::Field(_, ref c) if matches!(c[0], Cond::Regex(_))));
    }

    #[test]
    fn refuses_bad_filters() {
        assert_eq!(code(json!({"$where": "sleep(1)"})), "forbidden-operator");
        assert_eq!(
            code(json!({"a": {"$nearSphere": [0, 0]}})),
            "forbidden-operator"
        );
        assert_eq!(code(json!({"a": {"$foo": 1}})), "unknown-operator");
        assert_eq!(code(json!({"$eq": 1})), "unknown-operator");
        assert_eq!(code(json!({"$or": 5})), "bad-query");
        assert_eq!(code(json!({"$or": []})), "bad-query");
        assert_eq!(code(json!([1])), "bad-query");
        assert_eq!(code(json!({"a": {"$gt": 1, "b": 2}})), "bad-query");
        assert_eq!(code(json!({"a": {"$gt": [1]}})), "bad-query");
        assert_eq!(code(json!({"a": {"$mod": [0, 1]}})), "bad-query");
        assert_eq!(code(json!({"a": {"$options": "i"}})), "bad-regex");
        assert_eq!(code(json!({"a.$b": 1})), "bad-field");
        assert_eq!(code(json!({"a..b": 1})), "bad-field");
        assert_eq!(code(json!({"a\"b": 1})), "bad-field");
        assert_eq!(code(json!({"a\u{0}": 1})), "bad-field");
        assert_eq!(code(json!({"a\\": 1})), "bad-field");
        let deep = (0..16).fold(json!({"a": 1}), |acc, _| json!({"$and": [acc]}));
        assert_eq!(code(deep), "too-deep");
        let deep = (0..16).fold(json!(1), |acc, _| json!([acc]));
        assert_eq!(code(json!({"a": deep})), "too-deep");
        let ok = (0..14).fold(json!({"a": 1}), |acc, _| json!({"$and": [acc]}));
        parse_filter(&ok).expect("15 levels are fine");
        let deep = (0..16).fold(json!({"$gt": 1}), |acc, _| json!({"$not": acc}));
        assert_eq!(code(json!({"a": deep})), "too-deep");
        let many: Vec<Value> = (0..1001).map(Value::from).collect();
        assert_eq!(code(json!({"a": {"$in": many}})), "too-large");
    }

    #[test]
    fn parses_list_params() {
        let p = |pairs: &[(&str, &str)]| {
            parse_list(
                &pairs
                    .iter()
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .collect::<Vec<_>>(),
            )
        };
        let q = p(&[
            ("sort", "-created_date, +title,score"),
            ("limit", "10"),
            ("skip", "5"),
            ("fields", "title,meta.owner"),
        ])
        .expect("valid");
        assert_eq!(q.sort.len(), 3);
        assert!(q.sort[0].desc && !q.sort[1].desc && !q.sort[2].desc);
        assert_eq!((q.limit, q.skip), (10, 5));
        assert_eq!(q.fields, Some(vec!["title".into(), "meta.owner".into()]));
        assert_eq!(p(&[]).expect("defaults"), ListQuery::default());
        assert_eq!(p(&[("limit", "0")]).expect_err("0").code(), "limit");
        assert_eq!(p(&[("limit", "5001")]).expect_err("big").code(), "limit");
        assert_eq!(p(&[("skip", "-1")]).expect_err("neg").code(), "bad-skip");
        assert_eq!(p(&[("q", "{")]).expect_err("json").code(), "bad-query");
        let deep = format!("{}{}", "[".repeat(65), "]".repeat(65));
        assert_eq!(p(&[("q", &deep)]).expect_err("deep").code(), "too-deep");
        assert!(!nesting_exceeds(r#"{"a": "[[[[[\"[[[["}"#, 2));
        assert!(nesting_exceeds(r#"{"a": "\\", "b": [[[]]]}"#, 2));
        assert_eq!(
            p(&[("q", "{}"), ("q", "{}")]).expect_err("twice").code(),
            "bad-query"
        );
        assert_eq!(
            p(&[("sort", "a,,b")]).expect_err("empty").code(),
            "bad-sort"
        );
        assert_eq!(
            p(&[("sort", "$natural")]).expect_err("$").code(),
            "bad-sort"
        );
        assert_eq!(p(&[("fields", "a,$b")]).expect_err("$").code(), "bad-field");
    }
}
