//! The statements that recreate a catalog on a Postgres target, in dependency order: roles,
//! schemas, extensions, the `auth` stand-in, types, sequences, functions and tables before the
//! data; keys and indexes, foreign keys, views, row-level security, grants, triggers and
//! sequence values after it. Every statement is idempotent, so a resumed pull reruns them.

use crate::catalog::{Catalog, Column, Constraint, Sequence, Table, quote_ident, quote_literal};

/// Supabase's helpers, defined as Supabase defines them (they read the claims the API layer
/// sets with `set_config('request.jwt.claims', …, true)`), so copied policies keep their
/// meaning on a plain Postgres.
pub const AUTH_STAND_IN: &str = r#"
CREATE SCHEMA IF NOT EXISTS auth;
CREATE OR REPLACE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $$
  SELECT coalesce(nullif(current_setting('request.jwt.claim.sub', true), ''),
                  (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub'))::uuid
$$;
CREATE OR REPLACE FUNCTION auth.role() RETURNS text LANGUAGE sql STABLE AS $$
  SELECT coalesce(nullif(current_setting('request.jwt.claim.role', true), ''),
                  (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role'))::text
$$;
CREATE OR REPLACE FUNCTION auth.email() RETURNS text LANGUAGE sql STABLE AS $$
  SELECT coalesce(nullif(current_setting('request.jwt.claim.email', true), ''),
                  (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email'))::text
$$;
CREATE OR REPLACE FUNCTION auth.jwt() RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT coalesce(nullif(current_setting('request.jwt.claim', true), ''),
                  nullif(current_setting('request.jwt.claims', true), ''))::jsonb
$$;
GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role;
"#;

/// Extensions that belong to Supabase's platform, not to the app: never created.
const PLATFORM_EXTENSIONS: &[&str] = &[
    "pg_graphql",
    "pg_net",
    "pgsodium",
    "supabase_vault",
    "pg_stat_statements",
    "pg_cron",
    "pgjwt",
    "plpgsql",
];

fn role_sql(role: &str) -> String {
    let attrs = if role == "service_role" {
        "NOLOGIN NOINHERIT BYPASSRLS"
    } else {
        "NOLOGIN NOINHERIT"
    };
    format!(
        "DO $ferry$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {}) THEN CREATE ROLE {} {attrs}; END IF; END $ferry$",
        quote_literal(role),
        quote_ident(role)
    )
}

/// Runs a statement and ignores "already exists" (used for ALTER … ADD CONSTRAINT and
/// CREATE TYPE, which have no IF NOT EXISTS).
fn tolerant(statement: &str) -> String {
    format!(
        "DO $ferry$ BEGIN {statement}; EXCEPTION WHEN duplicate_object OR duplicate_table OR invalid_table_definition THEN NULL; END $ferry$"
    )
}

/// Statements before the data. `available` lists the extensions the target can install.
pub fn pre_data(
    catalog: &Catalog,
    auth_stand_in: bool,
    available: &[String],
    warnings: &mut Vec<String>,
) -> Vec<String> {
    let mut out = vec!["SET check_function_bodies = off".to_string()];
    let mut roles: Vec<String> = catalog.roles.clone();
    if auth_stand_in {
        for r in ["anon", "authenticated", "service_role"] {
            if !roles.iter().any(|x| x == r) {
                roles.push(r.into());
            }
        }
    }
    out.extend(roles.iter().map(|r| role_sql(r)));
    for schema in &catalog.schemas {
        out.push(format!(
            "CREATE SCHEMA IF NOT EXISTS {}",
            quote_ident(schema)
        ));
    }
    for ext in &catalog.extensions {
        if PLATFORM_EXTENSIONS.contains(&ext.name.as_str()) {
            continue;
        }
        if !available.iter().any(|a| a == &ext.name) {
            warnings.push(format!(
                "extension {} is not available on the target; not installed",
                ext.name
            ));
            continue;
        }
        out.push(format!(
            "CREATE SCHEMA IF NOT EXISTS {}",
            quote_ident(&ext.schema)
        ));
        out.push(format!(
            "CREATE EXTENSION IF NOT EXISTS {} WITH SCHEMA {}",
            quote_ident(&ext.name),
            quote_ident(&ext.schema)
        ));
    }
    if auth_stand_in {
        out.push(AUTH_STAND_IN.to_string());
    }
    for e in &catalog.enums {
        let labels: Vec<String> = e.labels.iter().map(|l| quote_literal(l)).collect();
        out.push(tolerant(&format!(
            "CREATE TYPE {} AS ENUM ({})",
            e.name.sql(),
            labels.join(", ")
        )));
    }
    for d in &catalog.domains {
        let mut s = format!("CREATE DOMAIN {} AS {}", d.name.sql(), d.base_type);
        if let Some(def) = &d.default {
            s.push_str(&format!(" DEFAULT {def}"));
        }
        if d.not_null {
            s.push_str(" NOT NULL");
        }
        for (name, check) in &d.checks {
            s.push_str(&format!(" CONSTRAINT {} {check}", quote_ident(name)));
        }
        out.push(tolerant(&s));
    }
    for s in catalog.sequences.iter().filter(|s| !s.identity) {
        out.push(sequence_sql(s));
    }
    for f in &catalog.functions {
        out.push(f.definition.clone());
    }
    for t in &catalog.tables {
        out.push(create_table(t));
    }
    out
}

fn sequence_sql(s: &Sequence) -> String {
    format!(
        "CREATE SEQUENCE IF NOT EXISTS {} AS {} INCREMENT BY {} MINVALUE {} MAXVALUE {} START WITH {} CACHE {} {}",
        s.name.sql(),
        s.data_type,
        s.increment,
        s.min,
        s.max,
        s.start,
        s.cache,
        if s.cycle { "CYCLE" } else { "NO CYCLE" }
    )
}

fn column_sql(c: &Column) -> String {
    let mut s = format!("{} {}", quote_ident(&c.name), c.sql_type);
    if let Some(expr) = &c.generated {
        s.push_str(&format!(" GENERATED ALWAYS AS ({expr}) STORED"));
    } else if let Some(kind) = c.identity {
        s.push_str(if kind == 'a' {
            " GENERATED ALWAYS AS IDENTITY"
        } else {
            " GENERATED BY DEFAULT AS IDENTITY"
        });
    } else if let Some(def) = &c.default {
        s.push_str(&format!(" DEFAULT {def}"));
    }
    if c.not_null {
        s.push_str(" NOT NULL");
    }
    s
}

/// `CREATE TABLE IF NOT EXISTS` with columns and CHECK constraints (checked while loading is
/// cheaper than a second scan); keys, indexes and foreign keys come after the data.
pub fn create_table(t: &Table) -> String {
    let mut parts: Vec<String> = t.columns.iter().map(column_sql).collect();
    for c in t.constraints.iter().filter(|c| c.kind == 'c') {
        parts.push(format!(
            "CONSTRAINT {} {}",
            quote_ident(&c.name),
            c.definition
        ));
    }
    format!(
        "CREATE TABLE IF NOT EXISTS {} (\n  {}\n)",
        t.name.sql(),
        parts.join(",\n  ")
    )
}

fn add_constraint(t: &Table, c: &Constraint) -> String {
    tolerant(&format!(
        "ALTER TABLE {} ADD CONSTRAINT {} {}",
        t.name.sql(),
        quote_ident(&c.name),
        c.definition
    ))
}

fn if_not_exists(index_def: &str) -> String {
    if let Some(rest) = index_def.strip_prefix("CREATE UNIQUE INDEX ") {
        format!("CREATE UNIQUE INDEX IF NOT EXISTS {rest}")
    } else if let Some(rest) = index_def.strip_prefix("CREATE INDEX ") {
        format!("CREATE INDEX IF NOT EXISTS {rest}")
    } else {
        index_def.to_string()
    }
}

/// Whether a key can be built as a plain unique index first and attached afterwards (the
/// way to build all of a table's indexes in parallel).
fn attachable(c: &Constraint) -> Option<&(String, String)> {
    let plain = (c.definition.starts_with("PRIMARY KEY (") || c.definition.starts_with("UNIQUE ("))
        && !c.definition.contains("DEFERRABLE")
        && !c.definition.contains("NULLS NOT DISTINCT");
    c.index
        .as_ref()
        .filter(|_| plain && matches!(c.kind, 'p' | 'u'))
}

/// Per table: every index to build after the data — the backing indexes of keys and the
/// other indexes. Independent statements: they run in parallel, across tables and within one.
pub fn index_builds(t: &Table) -> Vec<String> {
    let mut out: Vec<String> = t
        .constraints
        .iter()
        .filter_map(attachable)
        .map(|(_, def)| if_not_exists(def))
        .collect();
    out.extend(t.indexes.iter().map(|i| if_not_exists(&i.definition)));
    out
}

/// Per table, after [`index_builds`]: keys attached to their built index (instant), and keys
/// that cannot be attached (deferrable, exclusion) created whole.
pub fn key_attachments(t: &Table) -> Vec<String> {
    t.constraints
        .iter()
        .filter(|c| matches!(c.kind, 'p' | 'u' | 'x'))
        .map(|c| match attachable(c) {
            Some((index, _)) => tolerant(&format!(
                "ALTER TABLE {} ADD CONSTRAINT {} {} USING INDEX {}",
                t.name.sql(),
                quote_ident(&c.name),
                if c.kind == 'p' {
                    "PRIMARY KEY"
                } else {
                    "UNIQUE"
                },
                quote_ident(index)
            )),
            None => add_constraint(t, c),
        })
        .collect()
}

/// Foreign keys whose referenced table was copied (the others are reported): statements that
/// add them `NOT VALID` (instant), and the validations to run after them, largest tables first.
pub fn foreign_keys(catalog: &Catalog, warnings: &mut Vec<String>) -> (Vec<String>, Vec<String>) {
    let mut adds = Vec::new();
    let mut validations = Vec::new();
    let mut tables: Vec<&Table> = catalog.tables.iter().collect();
    tables.sort_by_key(|t| std::cmp::Reverse(t.bytes));
    for t in tables {
        for c in t.constraints.iter().filter(|c| c.kind == 'f') {
            match &c.references {
                Some(r) if catalog.table(r).is_some() => {
                    let already_not_valid = c.definition.ends_with("NOT VALID");
                    let definition = if already_not_valid {
                        c.definition.clone()
                    } else {
                        format!("{} NOT VALID", c.definition)
                    };
                    adds.push(tolerant(&format!(
                        "ALTER TABLE {} ADD CONSTRAINT {} {definition}",
                        t.name.sql(),
                        quote_ident(&c.name)
                    )));
                    if !already_not_valid {
                        validations.push(format!(
                            "ALTER TABLE {} VALIDATE CONSTRAINT {}",
                            t.name.sql(),
                            quote_ident(&c.name)
                        ));
                    }
                }
                Some(r) => warnings.push(format!(
                    "foreign key {} on {} references {r}, which was not copied",
                    c.name, t.name
                )),
                None => {}
            }
        }
    }
    (adds, validations)
}

/// Views (in catalog order; the caller retries those whose dependencies come later),
/// row-level security, policies, grants, triggers, sequence ownership and values.
pub fn finish(catalog: &Catalog) -> (Vec<String>, Vec<String>) {
    let views = catalog
        .views
        .iter()
        .map(|v| {
            if v.materialized {
                format!(
                    "CREATE MATERIALIZED VIEW IF NOT EXISTS {} AS {}",
                    v.name.sql(),
                    v.definition.trim_end_matches(';')
                )
            } else {
                format!(
                    "CREATE OR REPLACE VIEW {} AS {}",
                    v.name.sql(),
                    v.definition.trim_end_matches(';')
                )
            }
        })
        .collect();
    let mut out = Vec::new();
    for t in &catalog.tables {
        if t.rls.0 {
            out.push(format!(
                "ALTER TABLE {} ENABLE ROW LEVEL SECURITY",
                t.name.sql()
            ));
        }
        if t.rls.1 {
            out.push(format!(
                "ALTER TABLE {} FORCE ROW LEVEL SECURITY",
                t.name.sql()
            ));
        }
        for p in &t.policies {
            out.push(format!(
                "DROP POLICY IF EXISTS {} ON {}",
                quote_ident(&p.name),
                t.name.sql()
            ));
            let roles: Vec<String> = p
                .roles
                .iter()
                .map(|r| {
                    if r == "public" {
                        "PUBLIC".to_string()
                    } else {
                        quote_ident(r)
                    }
                })
                .collect();
            let mut s = format!(
                "CREATE POLICY {} ON {} AS {} FOR {} TO {}",
                quote_ident(&p.name),
                t.name.sql(),
                if p.permissive {
                    "PERMISSIVE"
                } else {
                    "RESTRICTIVE"
                },
                p.command,
                roles.join(", ")
            );
            if let Some(u) = &p.using {
                s.push_str(&format!(" USING ({u})"));
            }
            if let Some(w) = &p.with_check {
                s.push_str(&format!(" WITH CHECK ({w})"));
            }
            out.push(s);
        }
    }
    let grantee = |g: &str| {
        if g == "PUBLIC" {
            "PUBLIC".to_string()
        } else {
            quote_ident(g)
        }
    };
    for (schema, g) in &catalog.schema_grants {
        out.push(format!(
            "GRANT {} ON SCHEMA {} TO {}",
            g.privilege,
            quote_ident(schema),
            grantee(&g.grantee)
        ));
    }
    for t in &catalog.tables {
        for g in &t.grants {
            out.push(format!(
                "GRANT {} ON TABLE {} TO {}",
                g.privilege,
                t.name.sql(),
                grantee(&g.grantee)
            ));
        }
    }
    for v in &catalog.views {
        for g in &v.grants {
            out.push(format!(
                "GRANT {} ON TABLE {} TO {}",
                g.privilege,
                v.name.sql(),
                grantee(&g.grantee)
            ));
        }
    }
    for t in &catalog.tables {
        for trigger in &t.triggers {
            let replaced = trigger.replacen("CREATE TRIGGER", "CREATE OR REPLACE TRIGGER", 1);
            out.push(if catalog.server_version >= 140000 {
                replaced
            } else {
                tolerant(trigger)
            });
        }
    }
    for s in &catalog.sequences {
        let Some(value) = s.last_value else { continue };
        if s.identity {
            if let Some((table, column)) = &s.owned_by {
                out.push(format!(
                    "SELECT setval(pg_get_serial_sequence({}, {}), {value}, {})",
                    quote_literal(&table.sql()),
                    quote_literal(column),
                    s.is_called
                ));
            }
        } else {
            if let Some((table, column)) = &s.owned_by {
                out.push(format!(
                    "ALTER SEQUENCE {} OWNED BY {}.{}",
                    s.name.sql(),
                    table.sql(),
                    quote_ident(column)
                ));
            }
            out.push(format!(
                "SELECT setval({}, {value}, {})",
                quote_literal(&s.name.sql()),
                s.is_called
            ));
        }
    }
    (views, out)
}
