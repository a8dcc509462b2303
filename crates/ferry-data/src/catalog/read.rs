//! Reads the model from a Postgres catalog. The queries use only catalog columns present in
//! Postgres 13 to 17; the session runs with `search_path = pg_catalog`, so every expression
//! Postgres prints back (defaults, policies, index and view definitions) is schema-qualified.

use std::collections::{BTreeSet, HashMap};

use tokio_postgres::GenericClient;

use super::model::*;
use crate::error::{DataError, Result};
use crate::select::Scope;

const FIRST_USER_OID: u32 = 16384;

/// Roles whose grants a pull carries over (Supabase's API roles and everyone).
pub const CARRIED_ROLES: &[&str] = &["PUBLIC", "anon", "authenticated", "service_role"];

fn sql_err(context: &str) -> impl Fn(tokio_postgres::Error) -> DataError + '_ {
    move |e| crate::pg::sql_error("source", context, &e)
}

/// User schemas of the database (not system, not owned by an extension).
pub async fn schemas(client: &impl GenericClient) -> Result<Vec<String>> {
    let rows = client
        .query(
            "SELECT n.nspname::text FROM pg_namespace n
             WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
               AND n.nspname NOT LIKE 'pg\\_%'
               AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_namespace'::regclass
                               AND d.objid = n.oid AND d.deptype = 'e')
             ORDER BY 1",
            &[],
        )
        .await
        .map_err(sql_err("listing schemas"))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Whether the database looks like a Supabase project: `auth.users` and the API roles.
pub async fn is_supabase(client: &impl GenericClient) -> Result<bool> {
    let row = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                            WHERE n.nspname = 'auth' AND c.relname = 'users' AND c.relkind = 'r')
                AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname IN ('authenticated', 'service_role'))",
            &[],
        )
        .await
        .map_err(sql_err("detecting Supabase"))?;
    Ok(row.get(0))
}

struct TypeInfo {
    typtype: char,
    category: char,
    elem: u32,
    base: u32,
    name: String,
    extension_owned: bool,
}

fn as_char(s: &str) -> char {
    s.chars().next().unwrap_or(' ')
}

async fn types(client: &impl GenericClient) -> Result<HashMap<u32, TypeInfo>> {
    let rows = client
        .query(
            "SELECT t.oid, t.typtype::text, t.typcategory::text, t.typelem, t.typbasetype, t.typname::text,
                    EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass
                            AND d.objid = t.oid AND d.deptype = 'e')
             FROM pg_type t",
            &[],
        )
        .await
        .map_err(sql_err("reading types"))?;
    Ok(rows
        .iter()
        .map(|r| {
            let oid: u32 = r.get(0);
            let typtype: String = r.get(1);
            let category: String = r.get(2);
            (
                oid,
                TypeInfo {
                    typtype: as_char(&typtype),
                    category: as_char(&category),
                    elem: r.get(3),
                    base: r.get(4),
                    name: r.get(5),
                    extension_owned: r.get(6),
                },
            )
        })
        .collect())
}

/// Classifies a type: its value kind, whether binary COPY embeds a database-specific OID, and
/// why it cannot be carried (if so).
fn classify(
    types: &HashMap<u32, TypeInfo>,
    oid: u32,
    depth: u8,
) -> (ValueKind, bool, Option<String>) {
    let kind = match oid {
        16 => ValueKind::Bool,
        20 | 21 | 23 | 26 => ValueKind::Int,
        700 | 701 => ValueKind::Float,
        1700 => ValueKind::Numeric,
        25 | 1043 | 1042 | 19 | 18 => ValueKind::Text,
        2950 => ValueKind::Uuid,
        114 => ValueKind::Json,
        3802 => ValueKind::Jsonb,
        17 => ValueKind::Bytea,
        1082 => ValueKind::Date,
        1114 => ValueKind::Timestamp,
        1184 => ValueKind::TimestampTz,
        _ => {
            let Some(t) = types.get(&oid) else {
                return (
                    ValueKind::Other,
                    false,
                    Some(format!("type oid {oid} not found")),
                );
            };
            if depth > 8 {
                return (ValueKind::Other, false, Some("nested too deep".into()));
            }
            return match t.typtype {
                'e' => (ValueKind::Enum, false, None),
                'd' => classify(types, t.base, depth + 1),
                'c' => (
                    ValueKind::Other,
                    true,
                    Some(format!("composite type {}", t.name)),
                ),
                'p' => (
                    ValueKind::Other,
                    false,
                    Some(format!("pseudo-type {}", t.name)),
                ),
                _ if t.category == 'A' && t.elem != 0 => {
                    let (elem, bound, why) = classify(types, t.elem, depth + 1);
                    let elem_info = types.get(&t.elem);
                    let user_elem = t.elem >= FIRST_USER_OID
                        || elem_info.is_some_and(|e| {
                            e.typtype == 'e' || e.typtype == 'c' || e.typtype == 'd'
                        });
                    (ValueKind::Array(Box::new(elem)), bound || user_elem, why)
                }
                _ if t.name == "citext" && t.extension_owned => (ValueKind::Text, false, None),
                _ => (ValueKind::Other, false, None),
            };
        }
    };
    (kind, false, None)
}

fn oids(tables: &[(u32, Table)]) -> Vec<u32> {
    tables.iter().map(|(o, _)| *o).collect()
}

/// Resolves a selection against the source (its schemas, whether it is Supabase-shaped) and
/// reads the catalog of what it selects; an empty selection is an error. Shared by pull and
/// verify, so both see the same tables.
pub async fn selected(
    client: &impl GenericClient,
    selection: &crate::select::Selection,
) -> Result<(Scope, Catalog)> {
    let schemas = schemas(client).await?;
    let supabase = is_supabase(client).await?;
    let mut scope = Scope::resolve(selection, &schemas, supabase);
    let catalog = read(client, &mut scope).await?;
    if catalog.tables.is_empty() {
        return Err(DataError::EmptySelection {
            what: format!("no table in schemas {:?}", scope.schemas),
        });
    }
    Ok((scope, catalog))
}

/// Reads the catalog of everything the scope selects. Columns of types that cannot be
/// carried are refused here, before anything is written anywhere.
pub async fn read(client: &impl GenericClient, scope: &mut Scope) -> Result<Catalog> {
    let server_version: i32 = client
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .await
        .map_err(sql_err("reading the server version"))?
        .get(0);
    let schemas = scope.schemas.clone();
    let types = types(client).await?;

    // Tables.
    let rows = client
        .query(
            "SELECT c.oid, n.nspname::text, c.relname::text, c.relkind::text, c.relrowsecurity, c.relforcerowsecurity,
                    greatest(c.reltuples, 0)::int8, pg_relation_size(c.oid)
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND n.nspname = ANY($1)
               AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                               AND d.objid = c.oid AND d.deptype = 'e')
             ORDER BY 2, 3",
            &[&schemas],
        )
        .await
        .map_err(sql_err("listing tables"))?;
    let mut tables: Vec<(u32, Table)> = Vec::new();
    for r in &rows {
        let name = QualifiedName::new(r.get::<_, &str>(1), r.get::<_, &str>(2));
        if !scope.includes(&name) {
            continue;
        }
        if r.get::<_, &str>(3) == "p" {
            return Err(DataError::UnsupportedType {
                what: format!("{name} is a partitioned table"),
            });
        }
        tables.push((
            r.get(0),
            Table {
                name,
                columns: vec![],
                primary_key: vec![],
                unique_key: vec![],
                constraints: vec![],
                indexes: vec![],
                rls: (r.get(4), r.get(5)),
                policies: vec![],
                grants: vec![],
                triggers: vec![],
                estimated_rows: r.get(6),
                bytes: r.get(7),
            },
        ));
    }
    for wanted in scope.named_tables() {
        if !tables.iter().any(|(_, t)| &t.name == wanted) {
            return Err(DataError::EmptySelection {
                what: format!("table {wanted} does not exist on the source"),
            });
        }
    }
    let table_oids = oids(&tables);
    let index_of: HashMap<u32, usize> = tables
        .iter()
        .enumerate()
        .map(|(i, (o, _))| (*o, i))
        .collect();

    // Columns.
    let rows = client
        .query(
            "SELECT a.attrelid, a.attname::text, format_type(a.atttypid, a.atttypmod), a.atttypid, a.attnotnull,
                    CASE WHEN a.attgenerated = '' THEN pg_get_expr(d.adbin, d.adrelid) END,
                    a.attidentity::text,
                    CASE WHEN a.attgenerated <> '' THEN pg_get_expr(d.adbin, d.adrelid) END
             FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
             WHERE a.attrelid = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped
             ORDER BY a.attrelid, a.attnum",
            &[&table_oids],
        )
        .await
        .map_err(sql_err("reading columns"))?;
    for r in &rows {
        let Some(&i) = index_of.get(&r.get::<_, u32>(0)) else {
            continue;
        };
        let (kind, oid_bound, unsupported) = classify(&types, r.get(3), 0);
        let name: String = r.get(1);
        let sql_type: String = r.get(2);
        if let Some(why) = unsupported {
            return Err(DataError::UnsupportedType {
                what: format!("{}.{} is of {why} ({sql_type})", tables[i].1.name, name),
            });
        }
        let identity: String = r.get(6);
        tables[i].1.columns.push(Column {
            name,
            sql_type,
            kind,
            not_null: r.get(4),
            default: r.get(5),
            identity: identity.chars().next(),
            generated: r.get(7),
            oid_bound,
        });
    }

    // Constraints.
    let rows = client
        .query(
            "SELECT c.conrelid, c.conname::text, c.contype::text, pg_get_constraintdef(c.oid, true),
                    fn.nspname::text, fc.relname::text,
                    ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(n, i)
                          JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i),
                    ARRAY(SELECT a.attnotnull FROM unnest(c.conkey) k(n)
                          JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n),
                    ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(n, i)
                          JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.i),
                    c.confdeltype::text, c.confupdtype::text,
                    CASE WHEN c.contype IN ('p', 'u') THEN pg_get_indexdef(c.conindid) END,
                    CASE WHEN c.contype IN ('p', 'u') THEN (SELECT ic.relname::text FROM pg_class ic WHERE ic.oid = c.conindid) END
             FROM pg_constraint c
             LEFT JOIN pg_class fc ON fc.oid = c.confrelid
             LEFT JOIN pg_namespace fn ON fn.oid = fc.relnamespace
             WHERE c.conrelid = ANY($1) AND c.contype IN ('p', 'u', 'c', 'f', 'x')
             ORDER BY c.conrelid, c.contype, c.conname",
            &[&table_oids],
        )
        .await
        .map_err(sql_err("reading constraints"))?;
    for r in &rows {
        let Some(&i) = index_of.get(&r.get::<_, u32>(0)) else {
            continue;
        };
        let kind = as_char(r.get::<_, &str>(2));
        let columns: Vec<String> = r.get(6);
        let not_null: Vec<bool> = r.get(7);
        let table = &mut tables[i].1;
        if kind == 'p' {
            table.primary_key.clone_from(&columns);
        } else if kind == 'u' && table.unique_key.is_empty() && not_null.iter().all(|n| *n) {
            table.unique_key = columns.clone();
        }
        let references = match (r.get::<_, Option<String>>(4), r.get::<_, Option<String>>(5)) {
            (Some(s), Some(n)) => Some(QualifiedName { schema: s, name: n }),
            _ => None,
        };
        let action = |code: Option<String>| {
            match code.as_deref() {
                Some("c") => "CASCADE",
                Some("n") => "SET NULL",
                Some("d") => "SET DEFAULT",
                Some("r") => "RESTRICT",
                _ => "NO ACTION",
            }
            .to_string()
        };
        table.constraints.push(Constraint {
            name: r.get(1),
            kind,
            definition: r.get(3),
            references,
            columns,
            ref_columns: r.get(8),
            on_delete: action(r.get(9)),
            on_update: action(r.get(10)),
            index: match (
                r.get::<_, Option<String>>(11),
                r.get::<_, Option<String>>(12),
            ) {
                (Some(def), Some(name)) => Some((name, def)),
                _ => None,
            },
        });
    }

    // Indexes not backing a constraint.
    let rows = client
        .query(
            "SELECT i.indrelid, ic.relname::text, pg_get_indexdef(i.indexrelid), i.indisunique,
                    CASE WHEN i.indexprs IS NULL THEN ARRAY(SELECT a.attname::text FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(n, o)
                          JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n ORDER BY k.o) ELSE '{}'::text[] END
             FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
             WHERE i.indrelid = ANY($1)
               AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid
                               AND c.conrelid = i.indrelid AND c.contype IN ('p', 'u', 'x'))
             ORDER BY 1, 2",
            &[&table_oids],
        )
        .await
        .map_err(sql_err("reading indexes"))?;
    for r in &rows {
        let Some(&i) = index_of.get(&r.get::<_, u32>(0)) else {
            continue;
        };
        tables[i].1.indexes.push(Index {
            name: r.get(1),
            definition: r.get(2),
            unique: r.get(3),
            columns: r.get(4),
        });
    }

    // Policies.
    let mut roles: BTreeSet<String> = BTreeSet::new();
    let rows = client
        .query(
            "SELECT p.polrelid, p.polname::text, p.polcmd::text, p.polpermissive,
                    ARRAY(SELECT CASE WHEN r = 0 THEN 'public' ELSE pg_get_userbyid(r)::text END FROM unnest(p.polroles) r),
                    pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid)
             FROM pg_policy p WHERE p.polrelid = ANY($1) ORDER BY 1, 2",
            &[&table_oids],
        )
        .await
        .map_err(sql_err("reading policies"))?;
    for r in &rows {
        let Some(&i) = index_of.get(&r.get::<_, u32>(0)) else {
            continue;
        };
        let command = match as_char(r.get::<_, &str>(2)) {
            'r' => "SELECT",
            'a' => "INSERT",
            'w' => "UPDATE",
            'd' => "DELETE",
            _ => "ALL",
        };
        let policy_roles: Vec<String> = r.get(4);
        roles.extend(policy_roles.iter().filter(|r| *r != "public").cloned());
        tables[i].1.policies.push(Policy {
            name: r.get(1),
            command: command.into(),
            permissive: r.get(3),
            roles: policy_roles,
            using: r.get(5),
            with_check: r.get(6),
        });
    }

    // Triggers.
    let rows = client
        .query(
            "SELECT t.tgrelid, pg_get_triggerdef(t.oid, true) FROM pg_trigger t
             WHERE t.tgrelid = ANY($1) AND NOT t.tgisinternal ORDER BY 1, t.tgname",
            &[&table_oids],
        )
        .await
        .map_err(sql_err("reading triggers"))?;
    for r in &rows {
        if let Some(&i) = index_of.get(&r.get::<_, u32>(0)) {
            tables[i].1.triggers.push(r.get(1));
        }
    }

    // Views.
    let rows = client
        .query(
            "SELECT c.oid, n.nspname::text, c.relname::text, pg_get_viewdef(c.oid, true), c.relkind = 'm'
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind IN ('v', 'm') AND n.nspname = ANY($1)
               AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                               AND d.objid = c.oid AND d.deptype = 'e')
             ORDER BY c.oid",
            &[&schemas],
        )
        .await
        .map_err(sql_err("reading views"))?;
    let mut views: Vec<(u32, View)> = Vec::new();
    for r in &rows {
        let name = QualifiedName::new(r.get::<_, &str>(1), r.get::<_, &str>(2));
        if !scope.named_tables().is_empty() && !scope.named_tables().contains(&name) {
            continue;
        }
        views.push((
            r.get(0),
            View {
                name,
                definition: r.get(3),
                materialized: r.get(4),
                grants: vec![],
            },
        ));
    }

    // Grants on tables and views to the carried roles.
    let mut rel_oids = table_oids.clone();
    rel_oids.extend(views.iter().map(|(o, _)| *o));
    let rows = client
        .query(
            "SELECT c.oid, CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee)::text END, a.privilege_type
             FROM pg_class c, aclexplode(c.relacl) a
             WHERE c.oid = ANY($1) AND a.grantee <> c.relowner ORDER BY 1, 2, 3",
            &[&rel_oids],
        )
        .await
        .map_err(sql_err("reading grants"))?;
    for r in &rows {
        let grantee: String = r.get(1);
        if !CARRIED_ROLES.contains(&grantee.as_str()) {
            continue;
        }
        let oid: u32 = r.get(0);
        let grant = Grant {
            grantee: grantee.clone(),
            privilege: r.get(2),
        };
        if grantee != "PUBLIC" {
            roles.insert(grantee);
        }
        if let Some(&i) = index_of.get(&oid) {
            tables[i].1.grants.push(grant);
        } else if let Some((_, v)) = views.iter_mut().find(|(o, _)| *o == oid) {
            v.grants.push(grant);
        }
    }
    let rows = client
        .query(
            "SELECT n.nspname::text, CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee)::text END, a.privilege_type
             FROM pg_namespace n, aclexplode(n.nspacl) a
             WHERE n.nspname = ANY($1) AND a.grantee <> n.nspowner ORDER BY 1, 2, 3",
            &[&schemas],
        )
        .await
        .map_err(sql_err("reading schema grants"))?;
    let mut schema_grants = Vec::new();
    for r in &rows {
        let grantee: String = r.get(1);
        if CARRIED_ROLES.contains(&grantee.as_str()) {
            if grantee != "PUBLIC" {
                roles.insert(grantee.clone());
            }
            schema_grants.push((
                r.get(0),
                Grant {
                    grantee,
                    privilege: r.get(2),
                },
            ));
        }
    }

    // Enums and domains.
    let rows = client
        .query(
            "SELECT n.nspname::text, t.typname::text, ARRAY(SELECT e.enumlabel::text FROM pg_enum e
                    WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder)
             FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
             WHERE t.typtype = 'e' AND n.nspname = ANY($1)
               AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass
                               AND d.objid = t.oid AND d.deptype = 'e')
             ORDER BY t.oid",
            &[&schemas],
        )
        .await
        .map_err(sql_err("reading enums"))?;
    let enums = rows
        .iter()
        .map(|r| EnumType {
            name: QualifiedName::new(r.get::<_, &str>(0), r.get::<_, &str>(1)),
            labels: r.get(2),
        })
        .collect();
    let rows = client
        .query(
            "SELECT n.nspname::text, t.typname::text, format_type(t.typbasetype, t.typtypmod), t.typnotnull, t.typdefault,
                    ARRAY(SELECT c.conname::text FROM pg_constraint c WHERE c.contypid = t.oid ORDER BY c.conname),
                    ARRAY(SELECT pg_get_constraintdef(c.oid, true) FROM pg_constraint c WHERE c.contypid = t.oid ORDER BY c.conname)
             FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
             WHERE t.typtype = 'd' AND n.nspname = ANY($1)
               AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass
                               AND d.objid = t.oid AND d.deptype = 'e')
             ORDER BY t.oid",
            &[&schemas],
        )
        .await
        .map_err(sql_err("reading domains"))?;
    let domains = rows
        .iter()
        .map(|r| {
            let names: Vec<String> = r.get(5);
            let defs: Vec<String> = r.get(6);
            Domain {
                name: QualifiedName::new(r.get::<_, &str>(0), r.get::<_, &str>(1)),
                base_type: r.get(2),
                not_null: r.get(3),
                default: r.get(4),
                checks: names.into_iter().zip(defs).collect(),
            }
        })
        .collect();

    // Sequences (values read one by one: there are few).
    let rows = client
        .query(
            "SELECT n.nspname::text, c.relname::text, format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement,
                    s.seqmin, s.seqmax, s.seqcache, s.seqcycle, dn.nspname::text, dc.relname::text, da.attname::text,
                    d.deptype::text
             FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid
                  AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
             LEFT JOIN pg_class dc ON dc.oid = d.refobjid
             LEFT JOIN pg_namespace dn ON dn.oid = dc.relnamespace
             LEFT JOIN pg_attribute da ON da.attrelid = d.refobjid AND da.attnum = d.refobjsubid
             WHERE n.nspname = ANY($1)
               AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_class'::regclass
                               AND e.objid = c.oid AND e.deptype = 'e')
             ORDER BY 1, 2",
            &[&schemas],
        )
        .await
        .map_err(sql_err("reading sequences"))?;
    let mut sequences = Vec::new();
    for r in &rows {
        let name = QualifiedName::new(r.get::<_, &str>(0), r.get::<_, &str>(1));
        let owned_by = match (
            r.get::<_, Option<String>>(9),
            r.get::<_, Option<String>>(10),
            r.get::<_, Option<String>>(11),
        ) {
            (Some(s), Some(t), Some(c)) => Some((QualifiedName { schema: s, name: t }, c)),
            _ => None,
        };
        // A sequence owned by a table that is not copied is not copied either.
        if let Some((t, _)) = &owned_by
            && !tables.iter().any(|(_, x)| &x.name == t)
        {
            continue;
        }
        let value = client
            .query_one(
                &format!("SELECT last_value, is_called FROM {}", name.sql()),
                &[],
            )
            .await
            .map_err(sql_err("reading a sequence value"))?;
        sequences.push(Sequence {
            name,
            data_type: r.get(2),
            start: r.get(3),
            increment: r.get(4),
            min: r.get(5),
            max: r.get(6),
            cache: r.get(7),
            cycle: r.get(8),
            last_value: Some(value.get(0)),
            is_called: value.get(1),
            identity: r.get::<_, Option<String>>(12).as_deref() == Some("i"),
            owned_by,
        });
    }

    // Functions of the copied schemas (not the auth helpers ferry stands in for).
    let rows = client
        .query(
            "SELECT n.nspname::text, p.proname::text, pg_get_functiondef(p.oid)
             FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname = ANY($1) AND p.prokind IN ('f', 'p')
               AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                               AND d.objid = p.oid AND d.deptype = 'e')
             ORDER BY p.oid",
            &[&schemas],
        )
        .await
        .map_err(sql_err("reading functions"))?;
    let functions = rows
        .iter()
        .filter(|r| !(scope.auth_stand_in() && r.get::<_, &str>(0) == "auth"))
        .map(|r| Function {
            name: QualifiedName::new(r.get::<_, &str>(0), r.get::<_, &str>(1)),
            definition: r.get(2),
        })
        .collect();

    // Extensions.
    let rows = client
        .query(
            "SELECT e.extname::text, n.nspname::text FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
             WHERE e.extname <> 'plpgsql' ORDER BY 1",
            &[],
        )
        .await
        .map_err(sql_err("reading extensions"))?;
    let extensions = rows
        .iter()
        .map(|r| Extension {
            name: r.get(0),
            schema: r.get(1),
        })
        .collect();

    let mut used_schemas: BTreeSet<String> =
        tables.iter().map(|(_, t)| t.name.schema.clone()).collect();
    used_schemas.extend(views.iter().map(|(_, v)| v.name.schema.clone()));
    let schemas_kept: Vec<String> = schemas
        .into_iter()
        .filter(|s| used_schemas.contains(s) || scope.named_tables().is_empty())
        .collect();

    let schema_grants = schema_grants
        .into_iter()
        .filter(|(s, _)| schemas_kept.contains(s))
        .collect();
    Ok(Catalog {
        server_version,
        schemas: schemas_kept,
        schema_grants,
        extensions,
        enums,
        domains,
        sequences,
        functions,
        tables: tables.into_iter().map(|(_, t)| t).collect(),
        views: views.into_iter().map(|(_, v)| v).collect(),
        roles: roles.into_iter().collect(),
    })
}
