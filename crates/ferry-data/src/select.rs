//! Which schemas and tables a pull copies: user schemas by default, Supabase's internal
//! schemas reported and skipped, `auth` and `storage` reduced to the tables an app needs.

use serde::Serialize;

use crate::catalog::QualifiedName;

/// Schemas Supabase (and its extensions) own: never the app's data.
pub const INTERNAL_SCHEMAS: &[&str] = &[
    "realtime",
    "_realtime",
    "supabase_functions",
    "supabase_migrations",
    "graphql",
    "graphql_public",
    "vault",
    "pgsodium",
    "pgsodium_masks",
    "extensions",
    "pgbouncer",
    "net",
    "cron",
    "_analytics",
    "_supavisor",
    "pgtle",
    "repack",
    "topology",
];

/// The `auth` tables copied from a Supabase source: users keep their password hashes.
pub const AUTH_TABLES: &[&str] = &["users", "identities"];
/// The `storage` tables copied: bucket and object metadata (the files stay to fetch).
pub const STORAGE_TABLES: &[&str] = &["buckets", "objects"];

/// What the user asked for.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// `--schema`: exactly these schemas (empty: every user schema).
    pub schemas: Vec<String>,
    /// `--table`: only these tables (`schema.table`, or `table` in `public`).
    pub tables: Vec<String>,
}

/// Something left out, with the reason (reported, never silent).
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    /// `schema` or `schema.table`.
    pub what: String,
    /// Why.
    pub reason: String,
}

/// The resolved scope of a pull.
#[derive(Debug, Clone, Serialize)]
pub struct Scope {
    /// Schemas whose objects are copied.
    pub schemas: Vec<String>,
    /// The source looks like a Supabase project (`auth.users` and Supabase's roles).
    pub supabase: bool,
    /// Left out.
    pub skipped: Vec<Skipped>,
    #[serde(skip)]
    tables: Vec<QualifiedName>,
    #[serde(skip)]
    explicit_schemas: bool,
}

impl Scope {
    /// Resolves a selection against the source's schemas and whether it is Supabase-shaped.
    pub fn resolve(selection: &Selection, source_schemas: &[String], supabase: bool) -> Scope {
        let mut skipped = Vec::new();
        let explicit = !selection.schemas.is_empty();
        let schemas: Vec<String> = if explicit {
            source_schemas
                .iter()
                .filter(|s| selection.schemas.contains(s))
                .cloned()
                .collect()
        } else {
            source_schemas
                .iter()
                .filter(|s| {
                    let internal = INTERNAL_SCHEMAS.contains(&s.as_str())
                        || s.starts_with("timescaledb")
                        || s.starts_with("tiger");
                    if internal {
                        skipped.push(Skipped {
                            what: (*s).clone(),
                            reason: "Supabase-internal schema (pass --schema to copy it)".into(),
                        });
                    }
                    !internal
                })
                .cloned()
                .collect()
        };
        let tables = selection
            .tables
            .iter()
            .map(|t| match t.split_once('.') {
                Some((s, n)) => QualifiedName::new(s, n),
                None => QualifiedName::new("public", t),
            })
            .collect();
        Scope {
            schemas,
            supabase,
            skipped,
            tables,
            explicit_schemas: explicit,
        }
    }

    /// Whether a table is copied; records why not when it is left out.
    pub fn includes(&mut self, table: &QualifiedName) -> bool {
        if !self.schemas.contains(&table.schema) {
            return false;
        }
        if !self.tables.is_empty() {
            return self.tables.contains(table);
        }
        if self.supabase && !self.explicit_schemas {
            let kept = match table.schema.as_str() {
                "auth" => Some(AUTH_TABLES),
                "storage" => Some(STORAGE_TABLES),
                _ => None,
            };
            if let Some(kept) = kept
                && !kept.contains(&table.name.as_str())
            {
                self.skipped.push(Skipped {
                    what: table.to_string(),
                    reason: format!(
                        "Supabase-internal {} table (pass --schema {} to copy it)",
                        table.schema, table.schema
                    ),
                });
                return false;
            }
        }
        true
    }

    /// The tables named with `--table`.
    pub fn named_tables(&self) -> &[QualifiedName] {
        &self.tables
    }

    /// Whether ferry stands in for Supabase's `auth` functions on a Postgres target.
    pub fn auth_stand_in(&self) -> bool {
        self.supabase && self.schemas.iter().any(|s| s == "auth")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn supabase_defaults_skip_internal_schemas_and_tables() {
        let source = names(&[
            "auth",
            "extensions",
            "public",
            "realtime",
            "storage",
            "vault",
        ]);
        let mut scope = Scope::resolve(&Selection::default(), &source, true);
        assert_eq!(scope.schemas, names(&["auth", "public", "storage"]));
        assert!(scope.includes(&QualifiedName::new("auth", "users")));
        assert!(!scope.includes(&QualifiedName::new("auth", "sessions")));
        assert!(scope.includes(&QualifiedName::new("storage", "objects")));
        assert!(!scope.includes(&QualifiedName::new("storage", "migrations")));
        assert!(scope.includes(&QualifiedName::new("public", "todos")));
        let skipped: Vec<_> = scope.skipped.iter().map(|s| s.what.as_str()).collect();
        assert_eq!(
            skipped,
            [
                "extensions",
                "realtime",
                "vault",
                "auth.sessions",
                "storage.migrations"
            ]
        );
    }

    #[test]
    fn explicit_schema_and_table_selection() {
        let source = names(&["auth", "public", "realtime"]);
        let sel = Selection {
            schemas: names(&["realtime"]),
            tables: vec![],
        };
        let mut scope = Scope::resolve(&sel, &source, true);
        assert_eq!(scope.schemas, names(&["realtime"]));
        assert!(scope.includes(&QualifiedName::new("realtime", "subscription")));
        let sel = Selection {
            schemas: vec![],
            tables: names(&["todos", "auth.users"]),
        };
        let mut scope = Scope::resolve(&sel, &source, true);
        assert!(scope.includes(&QualifiedName::new("public", "todos")));
        assert!(scope.includes(&QualifiedName::new("auth", "users")));
        assert!(!scope.includes(&QualifiedName::new("public", "projects")));
    }
}
