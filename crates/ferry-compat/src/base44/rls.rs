//! Base44 row-level security: an entity schema's `rls` rules, compiled for one caller into
//! "every record", "no record" or a [`Filter`] the records must match.
//!
//! ```jsonc
//! "rls": {
//!   "read":   {"$or": [{"created_by": "{{user.email}}"}, {"user_condition": {"role": "admin"}}]},
//!   "create": {"tenant_id": "{{user.tenant_id}}"},
//!   "write":  {"created_by": "{{user.email}}"},   // create/update/delete without their own key
//!   "delete": false
//! }
//! ```
//!
//! [`access`] gives an operation's [`Access`] for a [`Caller`]; [`validate`] checks every rule
//! of a schema once, at deploy time; [`combine`] ANDs a client's filter with the read access.
//! The semantics (what each rule means, the admin and service bypasses, how templates
//! resolve) and the enforcement model the HTTP layer follows are in `docs/base44.md`, section
//! "Row-level security".
//!
//! Record conditions are not interpreted here: after the user's values are substituted, each
//! one is parsed by [`parse_filter`], so an operator means exactly what it means in a query
//! and runs as the same parameterised SQL ([`super::query::where_sql`]).

use serde_json::{Map, Value};

use super::model::Entity;
use super::query::{Filter, MAX_DEPTH, parse_filter};

/// An entities-API operation an `rls` rule governs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// `create` (and `bulkCreate`): the new record must satisfy the rule.
    Create,
    /// `list`, `filter`, `get`: only records satisfying the rule are seen.
    Read,
    /// `update`: the record, before and after the change, must satisfy the rule.
    Update,
    /// `delete`: only records satisfying the rule can be deleted.
    Delete,
}

impl Operation {
    /// Every operation, in the order `create`, `read`, `update`, `delete`.
    pub const ALL: [Operation; 4] = [
        Operation::Create,
        Operation::Read,
        Operation::Update,
        Operation::Delete,
    ];

    /// The operation's key in `rls` (`create`, `read`, `update`, `delete`).
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::Read => "read",
            Operation::Update => "update",
            Operation::Delete => "delete",
        }
    }

    /// Whether `write` stands in for this operation's rule when its own key is absent
    /// (every operation but `read`).
    pub fn falls_back_to_write(self) -> bool {
        self != Operation::Read
    }
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The keys an `rls` object may have.
const RULE_KEYS: &[&str] = &["create", "read", "update", "delete", "write"];

/// Who is asking.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Caller {
    /// The signed-in user's attributes as the API returns the `User` record (`id`, `email`,
    /// `full_name`, `role`, custom fields such as `tenant_id`; a nested `data` object is read
    /// too). `None` is an anonymous caller.
    pub user: Option<Map<String, Value>>,
    /// The service role (a backend function's service client, or ferry itself): no rule
    /// applies.
    pub service: bool,
}

impl Caller {
    /// An anonymous caller (no user, not the service role).
    pub fn anonymous() -> Caller {
        Caller::default()
    }

    /// A signed-in user with these attributes.
    pub fn user(attributes: Map<String, Value>) -> Caller {
        Caller {
            user: Some(attributes),
            service: false,
        }
    }

    /// The service role.
    pub fn service() -> Caller {
        Caller {
            user: None,
            service: true,
        }
    }

    /// Whether the caller is a signed-in user whose `role` is `"admin"` (admins bypass RLS).
    pub fn is_admin(&self) -> bool {
        self.user
            .as_ref()
            .and_then(|u| u.get("role"))
            .is_some_and(|r| r == "admin")
    }
}

/// What a caller may do with an entity's records for one operation.
#[derive(Debug, Clone, PartialEq)]
pub enum Access {
    /// Every record: no restriction.
    All,
    /// No record: the operation is refused.
    Denied,
    /// Only the records matching this filter (never [`Filter::Always`] or [`Filter::Never`]:
    /// those are [`Access::All`] and [`Access::Denied`]).
    Rows(Filter),
}

/// A malformed `rls` rule. A deploy-time error: [`validate`] reports it when the schema is
/// deployed, and [`access`] reports it (instead of guessing) if an unvalidated rule reaches it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RlsError {
    /// A rule that is not `true`, `false`, `null`, `""` or a well-formed condition object, an
    /// unknown key in `rls`, or `rls` itself not an object.
    #[error("{}", bad_rule_message(entity, rule, operation, reason))]
    BadRule {
        /// The entity's name.
        entity: String,
        /// The key of `rls` holding the rule (`read`, `write`…), or `rls` for the object itself.
        rule: String,
        /// The operation the rule was compiled for, when there is one.
        operation: Option<Operation>,
        /// What is wrong.
        reason: String,
    },
}

fn bad_rule_message(
    entity: &str,
    rule: &str,
    operation: &Option<Operation>,
    reason: &str,
) -> String {
    let used = match operation {
        Some(op) if op.as_str() != rule => format!(" (used for {op})"),
        _ => String::new(),
    };
    format!("entity `{entity}`: rls rule `{rule}`{used} is malformed: {reason}")
}

impl RlsError {
    /// The stable code: `bad-rls`.
    pub fn code(&self) -> &'static str {
        match self {
            RlsError::BadRule { .. } => "bad-rls",
        }
    }

    /// The entity whose rule is malformed.
    pub fn entity(&self) -> &str {
        match self {
            RlsError::BadRule { entity, .. } => entity,
        }
    }

    /// The operation the malformed rule governs, when there is one.
    pub fn operation(&self) -> Option<Operation> {
        match self {
            RlsError::BadRule { operation, .. } => *operation,
        }
    }

    /// How to fix it.
    pub fn hint(&self) -> &'static str {
        "a rule is true, false, null, \"\" or a condition object such as \
         {\"created_by\": \"{{user.email}}\"}; see docs/base44.md, \"Row-level security\""
    }
}

/// The access `caller` has to `entity`'s records for `op`.
///
/// In order: the rule is looked up (`op`'s key, else `write` for create/update/delete; `null`
/// and `""` count as absent) and compiled with the caller's attributes, so a malformed rule
/// is an error for every caller; then the service role and admins get [`Access::All`]; then
/// no rule or `true` is [`Access::All`], `false` is [`Access::Denied`], and a condition folds
/// to one of those or to [`Access::Rows`].
pub fn access(entity: &Entity, op: Operation, caller: &Caller) -> Result<Access, RlsError> {
    let Some((key, rule)) = rule_for(entity, op)? else {
        return Ok(Access::All);
    };
    let folded = compile_rule(rule, &Attrs::Caller(caller.user.as_ref()))
        .map_err(|reason| bad(entity, key, Some(op), reason))?;
    if caller.service || caller.is_admin() {
        return Ok(Access::All);
    }
    Ok(match folded {
        Folded::Always => Access::All,
        Folded::Never => Access::Denied,
        Folded::Rows(f) => Access::Rows(f),
    })
}

/// Checks every rule of `entity`'s `rls` (once per schema, at deploy time): `rls` is an
/// object with only `create`, `read`, `update`, `delete` and `write`, and each rule is
/// well-formed. Templates are checked for syntax and stand for a dummy user whose every
/// attribute is tried as a string, a number and an array of strings, so a condition is
/// accepted when it parses for one of them.
pub fn validate(entity: &Entity) -> Result<(), RlsError> {
    let Some(rls) = &entity.rls else {
        return Ok(());
    };
    let Value::Object(map) = rls else {
        return Err(bad(entity, "rls", None, "`rls` must be an object".into()));
    };
    for key in map.keys() {
        if !RULE_KEYS.contains(&key.as_str()) {
            return Err(bad(
                entity,
                key,
                None,
                format!(
                    "unknown key (expected {})",
                    RULE_KEYS
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }
    for key in RULE_KEYS {
        let Some(rule) = map.get(*key) else {
            continue;
        };
        if is_absent(rule) {
            continue;
        }
        let op = Operation::ALL.into_iter().find(|op| {
            op.as_str() == *key
                || (*key == "write"
                    && op.falls_back_to_write()
                    && map.get(op.as_str()).is_none_or(is_absent))
        });
        compile_rule(rule, &Attrs::Dummy).map_err(|reason| bad(entity, key, op, reason))?;
    }
    Ok(())
}

/// The filter a read runs with: the client's `query` AND the access filter. [`Access::All`]
/// leaves `query` as it is, [`Access::Denied`] gives [`Filter::Never`] (no record), and
/// [`Access::Rows`] is ANDed with `query` (or stands alone).
pub fn combine(query: Option<Filter>, access: &Access) -> Option<Filter> {
    match access {
        Access::All => query,
        Access::Denied => Some(Filter::Never),
        Access::Rows(rows) => Some(match query {
            None => rows.clone(),
            Some(q) => Filter::And(vec![q, rows.clone()]),
        }),
    }
}

// ---- rules ------------------------------------------------------------------------------

fn bad(entity: &Entity, rule: &str, operation: Option<Operation>, reason: String) -> RlsError {
    RlsError::BadRule {
        entity: entity.name.clone(),
        rule: rule.to_string(),
        operation,
        reason,
    }
}

/// `null` and `""` count as an absent rule.
fn is_absent(rule: &Value) -> bool {
    match rule {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        _ => false,
    }
}

/// The rule governing `op`, with its key: the operation's own, else `write` (not for read).
fn rule_for(entity: &Entity, op: Operation) -> Result<Option<(&'static str, &Value)>, RlsError> {
    let Some(rls) = &entity.rls else {
        return Ok(None);
    };
    let Value::Object(map) = rls else {
        return Err(bad(
            entity,
            "rls",
            Some(op),
            "`rls` must be an object".into(),
        ));
    };
    let own = map.get(op.as_str()).filter(|r| !is_absent(r));
    if let Some(rule) = own {
        return Ok(Some((op.as_str(), rule)));
    }
    if op.falls_back_to_write()
        && let Some(rule) = map.get("write").filter(|r| !is_absent(r))
    {
        return Ok(Some(("write", rule)));
    }
    Ok(None)
}

/// Where template values come from.
#[derive(Clone, Copy)]
enum Attrs<'a> {
    /// The caller's attributes (`None`: anonymous).
    Caller(Option<&'a Map<String, Value>>),
    /// Validation: a dummy user (see [`validate`]).
    Dummy,
}

/// A rule or condition after constant folding.
#[derive(Debug, Clone, PartialEq)]
enum Folded {
    Always,
    Never,
    Rows(Filter),
}

type Reason = String;

/// A present rule: `true`, `false` or a condition object.
fn compile_rule(rule: &Value, attrs: &Attrs<'_>) -> Result<Folded, Reason> {
    match rule {
        Value::Bool(true) => Ok(Folded::Always),
        Value::Bool(false) => Ok(Folded::Never),
        Value::Object(map) => condition(map, attrs, 1),
        Value::String(s) => Err(format!(
            "a rule is true, false, null, \"\" or an object, not the string {}",
            short(s)
        )),
        Value::Number(_) => {
            Err("a rule is true, false, null, \"\" or an object, not a number".into())
        }
        Value::Array(_) => {
            Err("a rule is true, false, null, \"\" or an object, not an array".into())
        }
        Value::Null => Ok(Folded::Always),
    }
}

/// A condition object: its keys ANDed.
fn condition(map: &Map<String, Value>, attrs: &Attrs<'_>, depth: usize) -> Result<Folded, Reason> {
    if depth > MAX_DEPTH {
        return Err(format!("conditions nest deeper than {MAX_DEPTH} levels"));
    }
    let mut parts = Vec::with_capacity(map.len());
    for (key, value) in map {
        match key.as_str() {
            "$and" | "$or" | "$nor" => {
                let items = match value {
                    Value::Array(items) if !items.is_empty() => items,
                    _ => return Err(format!("{key} needs a non-empty array of conditions")),
                };
                let mut branches = Vec::with_capacity(items.len());
                for item in items {
                    let Value::Object(m) = item else {
                        return Err(format!("each branch of {key} must be a condition object"));
                    };
                    branches.push(condition(m, attrs, depth + 1)?);
                }
                parts.push(match key.as_str() {
                    "$and" => fold_and(branches),
                    "$or" => fold_or(branches),
                    _ => fold_nor(branches),
                });
            }
            "$comment" => {}
            "user_condition" => parts.push(user_condition(value, attrs)?),
            k if k.starts_with('$') => {
                return Err(format!(
                    "unknown operator {} (conditions combine with $and, $or, $nor)",
                    short(k)
                ));
            }
            _ => parts.push(record_condition(key, value, attrs)?),
        }
    }
    Ok(fold_and(parts))
}

fn fold_and(parts: Vec<Folded>) -> Folded {
    let mut filters = Vec::with_capacity(parts.len());
    for part in parts {
        match part {
            Folded::Never => return Folded::Never,
            Folded::Always => {}
            Folded::Rows(f) => filters.push(f),
        }
    }
    match filters.len() {
        0 => Folded::Always,
        1 => filters.pop().map_or(Folded::Always, Folded::Rows),
        _ => Folded::Rows(Filter::And(filters)),
    }
}

fn fold_or(parts: Vec<Folded>) -> Folded {
    let mut filters = Vec::with_capacity(parts.len());
    for part in parts {
        match part {
            Folded::Always => return Folded::Always,
            Folded::Never => {}
            Folded::Rows(f) => filters.push(f),
        }
    }
    match filters.len() {
        0 => Folded::Never,
        1 => filters.pop().map_or(Folded::Never, Folded::Rows),
        _ => Folded::Rows(Filter::Or(filters)),
    }
}

fn fold_nor(parts: Vec<Folded>) -> Folded {
    let mut filters = Vec::with_capacity(parts.len());
    for part in parts {
        match part {
            Folded::Always => return Folded::Never,
            Folded::Never => {}
            Folded::Rows(f) => filters.push(f),
        }
    }
    if filters.is_empty() {
        Folded::Always
    } else {
        Folded::Rows(Filter::Nor(filters))
    }
}

/// The dummy attribute values [`validate`] tries, in order.
fn dummies() -> [Value; 3] {
    [
        Value::String("x".into()),
        Value::from(1),
        Value::Array(vec![Value::String("x".into())]),
    ]
}

/// `{"<field>": <value>}` on the record: templates substituted, then parsed as a query.
fn record_condition(key: &str, value: &Value, attrs: &Attrs<'_>) -> Result<Folded, Reason> {
    let name = key.strip_prefix("data.").unwrap_or(key);
    let parse = |v: Value| {
        let mut doc = Map::new();
        doc.insert(name.to_string(), v);
        parse_filter(&Value::Object(doc))
    };
    match attrs {
        Attrs::Dummy => {
            let mut first_error = None;
            for dummy in dummies() {
                let v = substitute(value, &|_| Some(dummy.clone()))?.unwrap_or(Value::Null);
                match parse(v) {
                    Ok(_) => return Ok(Folded::Always),
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
            }
            Err(match first_error {
                Some(e) => format!("condition on {}: {}", short(key), e.message()),
                None => format!("condition on {} is invalid", short(key)),
            })
        }
        Attrs::Caller(user) => {
            let templated = has_template(value);
            let Some(v) = substitute(value, &|path| lookup(*user, path))? else {
                return Ok(Folded::Never);
            };
            match parse(v) {
                Ok(f) => Ok(Folded::Rows(f)),
                // The user's value does not fit the operator (an array for `$gt`…): the
                // comparison cannot be true.
                Err(_) if templated => Ok(Folded::Never),
                Err(e) => Err(format!("condition on {}: {}", short(key), e.message())),
            }
        }
    }
}

/// `{"user_condition": {...}}`: tested in Rust against the caller's attributes.
fn user_condition(value: &Value, attrs: &Attrs<'_>) -> Result<Folded, Reason> {
    let Value::Object(map) = value else {
        return Err("user_condition needs an object of user attributes".into());
    };
    let user = match attrs {
        Attrs::Caller(user) => *user,
        Attrs::Dummy => None,
    };
    let mut holds = user.is_some();
    for (attr, expected) in map {
        let path = attr_path(attr)
            .ok_or_else(|| format!("user_condition: bad attribute name {}", short(attr)))?;
        let test = UserTest::parse(expected)?;
        // Templates in the expected value: syntax is checked even for an anonymous caller.
        let resolved = match test {
            UserTest::Eq(v) | UserTest::Ne(v) => {
                substitute(v, &|p| lookup(user, p))?.map(|v| vec![v])
            }
            UserTest::In(vs) | UserTest::Nin(vs) => {
                let mut out = Some(Vec::with_capacity(vs.len()));
                for v in vs {
                    let v = substitute(v, &|p| lookup(user, p))?;
                    match (&mut out, v) {
                        (Some(out), Some(v)) => out.push(v),
                        _ => out = None,
                    }
                }
                out
            }
        };
        let (Some(user), Some(values)) = (user, resolved) else {
            holds = false;
            continue;
        };
        let actual = lookup_raw(user, &path);
        let any = values.iter().any(|v| attr_matches(actual, v));
        let ok = match test {
            UserTest::Eq(_) | UserTest::In(_) => any,
            UserTest::Ne(_) | UserTest::Nin(_) => !any,
        };
        holds &= ok;
    }
    Ok(if holds { Folded::Always } else { Folded::Never })
}

/// One `user_condition` test on an attribute.
enum UserTest<'a> {
    Eq(&'a Value),
    Ne(&'a Value),
    In(&'a [Value]),
    Nin(&'a [Value]),
}

impl<'a> UserTest<'a> {
    fn parse(expected: &'a Value) -> Result<UserTest<'a>, Reason> {
        let Value::Object(m) = expected else {
            return Ok(UserTest::Eq(expected));
        };
        let ops = m.keys().filter(|k| k.starts_with('$')).count();
        if ops == 0 {
            return Ok(UserTest::Eq(expected));
        }
        if ops != 1 || m.len() != 1 {
            return Err(
                "user_condition: an attribute takes a value or one of $eq, $ne, $in, $nin".into(),
            );
        }
        let Some((op, v)) = m.iter().next() else {
            return Ok(UserTest::Eq(expected));
        };
        match (op.as_str(), v) {
            ("$eq", v) => Ok(UserTest::Eq(v)),
            ("$ne", v) => Ok(UserTest::Ne(v)),
            ("$in", Value::Array(vs)) => Ok(UserTest::In(vs)),
            ("$nin", Value::Array(vs)) => Ok(UserTest::Nin(vs)),
            ("$in" | "$nin", _) => Err(format!("user_condition: {op} needs an array")),
            _ => Err(format!(
                "user_condition: unknown operator {} (only $eq, $ne, $in, $nin)",
                short(op)
            )),
        }
    }
}

/// Whether the user's attribute (`None`: missing) matches `expected` as MongoDB equality
/// does: `null` matches missing and null; an array attribute matches when it or one of its
/// elements equals the value; numbers compare numerically.
fn attr_matches(actual: Option<&Value>, expected: &Value) -> bool {
    match actual {
        None | Some(Value::Null) => expected.is_null(),
        Some(a) => {
            json_eq(a, expected)
                || matches!(a, Value::Array(items) if items.iter().any(|i| json_eq(i, expected)))
        }
    }
}

fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_eq(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

// ---- templates --------------------------------------------------------------------------

/// A user attribute path (`tenant_id`, `data.tenant_id`): non-empty dot-separated segments of
/// letters, digits, `_` and `-`.
fn attr_path(text: &str) -> Option<Vec<&str>> {
    let segments: Vec<&str> = text.split('.').collect();
    let ok = segments.iter().all(|s| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
    });
    ok.then_some(segments)
}

/// The attribute at `path` in `user`, as stored (JSON null included).
fn lookup_raw<'u>(user: &'u Map<String, Value>, path: &[&str]) -> Option<&'u Value> {
    fn walk<'u>(map: &'u Map<String, Value>, path: &[&str]) -> Option<&'u Value> {
        let (first, rest) = path.split_first()?;
        let v = map.get(*first)?;
        if rest.is_empty() {
            return Some(v);
        }
        match v {
            Value::Object(m) => walk(m, rest),
            _ => None,
        }
    }
    // Base44 keeps custom user fields under `data`, ferry's users at the top: each form also
    // finds the other.
    walk(user, path).or_else(|| match path.split_first() {
        Some((&"data", rest)) if !rest.is_empty() => walk(user, rest),
        Some(_) => match user.get("data") {
            Some(Value::Object(data)) => walk(data, path),
            _ => None,
        },
        None => None,
    })
}

/// A template's value: missing, JSON null and objects (which a condition could read as
/// operators) have none.
fn lookup(user: Option<&Map<String, Value>>, path: &[&str]) -> Option<Value> {
    match lookup_raw(user?, path)? {
        Value::Null | Value::Object(_) => None,
        v => Some(v.clone()),
    }
}

fn has_template(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains("{{"),
        Value::Array(items) => items.iter().any(has_template),
        Value::Object(m) => m.values().any(has_template),
        _ => false,
    }
}

/// The user attributes (top-level names) a rule depends on: every `{{user.<name>…}}` template
/// and every key of a `user_condition`. A user who could change these on their own record
/// could move across the rule's boundary (another tenant), so `updateMe` leaves them alone.
pub fn user_attributes(rule: &Value) -> std::collections::BTreeSet<String> {
    fn walk(v: &Value, out: &mut std::collections::BTreeSet<String>) {
        match v {
            Value::String(s) if s.contains("{{") => {
                for piece in pieces(s).unwrap_or_default() {
                    if let Piece::Attr(path) = piece
                        && let Some(first) = path.first()
                    {
                        out.insert((*first).to_owned());
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|x| walk(x, out)),
            Value::Object(map) => {
                for (k, x) in map {
                    if k == "user_condition"
                        && let Value::Object(cond) = x
                    {
                        out.extend(cond.keys().map(|k| {
                            k.strip_prefix("data.")
                                .unwrap_or(k)
                                .split('.')
                                .next()
                                .unwrap_or(k)
                                .to_owned()
                        }));
                    }
                    walk(x, out);
                }
            }
            _ => {}
        }
    }
    let mut out = std::collections::BTreeSet::new();
    walk(rule, &mut out);
    out
}

/// One piece of a string holding templates.
enum Piece<'s> {
    Text(&'s str),
    Attr(Vec<&'s str>),
}

/// Splits a string into text and `{{user.<path>}}` templates (spaces inside the braces are
/// allowed). `{{` without `}}`, or a template not of that form, is an error.
fn pieces(s: &str) -> Result<Vec<Piece<'_>>, Reason> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            out.push(Piece::Text(&rest[..start]));
        }
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err(format!("unclosed template in {}", short(s)));
        };
        let inner = after[..end].trim();
        let path = inner
            .strip_prefix("user.")
            .and_then(attr_path)
            .ok_or_else(|| {
                format!(
                    "bad template {} (expected {{{{user.<attribute>}}}})",
                    short(&format!("{{{{{}}}}}", &after[..end]))
                )
            })?;
        out.push(Piece::Attr(path));
        rest = &after[end + 2..];
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest));
    }
    Ok(out)
}

/// `value` with every template replaced. A whole-string template takes the attribute's JSON
/// value (a number stays a number); an embedded one its text (strings, numbers, booleans
/// only). `Ok(None)` when some template has no usable value: the condition cannot hold.
fn substitute(
    value: &Value,
    resolve: &dyn Fn(&[&str]) -> Option<Value>,
) -> Result<Option<Value>, Reason> {
    Ok(match value {
        Value::String(s) if s.contains("{{") => {
            let pieces = pieces(s)?;
            if let [Piece::Attr(path)] = pieces.as_slice() {
                return Ok(resolve(path));
            }
            let mut text = String::new();
            for piece in &pieces {
                match piece {
                    Piece::Text(t) => text.push_str(t),
                    Piece::Attr(path) => match resolve(path) {
                        Some(Value::String(v)) => text.push_str(&v),
                        Some(v @ (Value::Number(_) | Value::Bool(_))) => {
                            text.push_str(&v.to_string());
                        }
                        _ => return Ok(None),
                    },
                }
            }
            Some(Value::String(text))
        }
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match substitute(item, resolve)? {
                    Some(v) => out.push(v),
                    None => return Ok(None),
                }
            }
            Some(Value::Array(out))
        }
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                match substitute(v, resolve)? {
                    Some(v) => {
                        out.insert(k.clone(), v);
                    }
                    None => return Ok(None),
                }
            }
            Some(Value::Object(out))
        }
        other => Some(other.clone()),
    })
}

/// User-written text quoted in a message: at most 64 characters, escaped.
fn short(text: &str) -> String {
    let mut out: String = text.chars().take(64).flat_map(char::escape_debug).collect();
    if text.chars().count() > 64 {
        out.push('…');
    }
    format!("\"{out}\"")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn user_attributes_names_what_rules_read_from_the_user() {
        let rule = json!({
            "read": {"$or": [
                {"tenant_id": "{{user.tenant_id}}"},
                {"user_condition": {"role": "admin", "data.team": "x"}}
            ]},
            "update": {"owner": "{{ user.profile.handle }}", "note": "id {{user.id}}"},
            "delete": false
        });
        let names: Vec<String> = user_attributes(&rule).into_iter().collect();
        assert_eq!(names, ["id", "profile", "role", "team", "tenant_id"]);
        assert!(user_attributes(&json!(true)).is_empty());
    }
}
