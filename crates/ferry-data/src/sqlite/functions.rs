//! The SQL functions the canonical encoding needs inside SQLite ([`crate::canon`]).

use rusqlite::functions::{Aggregate, Context, FunctionFlags};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, Error};

/// Registers on `conn` (all deterministic):
/// - `ferry_f64hex(x)`: NULL → NULL; a REAL or INTEGER → the 16 lowercase hex digits of its
///   IEEE-754 binary64 bits, big-endian — Postgres' `encode(float8send(v::float8), 'hex')`
///   (`-0.0` → `8000000000000000`, infinity → `7ff0000000000000`). Text or a blob is an
///   error. SQLite stores a NaN as NULL, so a Postgres NaN never reaches this function; and a
///   column of REAL affinity stores `-0.0` as the integer 0, read back as `+0.0`.
/// - `ferry_md5_64(text)`: NULL → NULL; the first 64 bits of the MD5 of the text's UTF-8
///   bytes (or a blob's bytes) as a signed big-endian integer ([`crate::canon::hash64`]).
/// - `ferry_sum64(i64)`: aggregate, the wrapping 64-bit sum of its non-NULL arguments (0 over
///   no rows).
pub fn register_functions(conn: &Connection) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    conn.create_scalar_function("ferry_f64hex", 1, flags, f64hex)?;
    conn.create_scalar_function("ferry_md5_64", 1, flags, md5_64)?;
    conn.create_aggregate_function("ferry_sum64", 1, flags, Sum64)?;
    Ok(())
}

fn f64hex(ctx: &Context<'_>) -> rusqlite::Result<Option<String>> {
    let value = match ctx.get_raw(0) {
        ValueRef::Null => return Ok(None),
        ValueRef::Real(v) => v,
        // Exact for |i| ≤ 2^53; larger integers round as Postgres' int8 → float8 cast does.
        ValueRef::Integer(i) => i as f64,
        ValueRef::Text(_) | ValueRef::Blob(_) => {
            return Err(Error::UserFunctionError(
                "ferry_f64hex: the argument is not a number".into(),
            ));
        }
    };
    Ok(Some(format!("{:016x}", value.to_bits())))
}

fn md5_64(ctx: &Context<'_>) -> rusqlite::Result<Option<i64>> {
    Ok(match ctx.get_raw(0) {
        ValueRef::Null => None,
        ValueRef::Text(bytes) | ValueRef::Blob(bytes) => Some(crate::canon::hash64(bytes)),
        ValueRef::Integer(i) => Some(crate::canon::hash64(i.to_string().as_bytes())),
        ValueRef::Real(_) => {
            return Err(Error::UserFunctionError(
                "ferry_md5_64: the argument is a REAL; cast it to TEXT".into(),
            ));
        }
    })
}

struct Sum64;

impl Aggregate<i64, i64> for Sum64 {
    fn init(&self, _ctx: &mut Context<'_>) -> rusqlite::Result<i64> {
        Ok(0)
    }

    fn step(&self, ctx: &mut Context<'_>, sum: &mut i64) -> rusqlite::Result<()> {
        match ctx.get_raw(0) {
            ValueRef::Null => Ok(()),
            ValueRef::Integer(i) => {
                *sum = sum.wrapping_add(i);
                Ok(())
            }
            _ => Err(Error::UserFunctionError(
                "ferry_sum64: the argument is not an integer".into(),
            )),
        }
    }

    fn finalize(&self, _ctx: &mut Context<'_>, sum: Option<i64>) -> rusqlite::Result<i64> {
        Ok(sum.unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> Connection {
        let conn = Connection::open_in_memory().expect("open");
        register_functions(&conn).expect("register");
        conn
    }

    fn hex_of(conn: &Connection, sql: &str) -> Option<String> {
        conn.query_row(&format!("SELECT ferry_f64hex({sql})"), [], |r| r.get(0))
            .expect(sql)
    }

    #[test]
    fn sqlite_f64hex_matches_float8send() {
        let conn = conn();
        assert_eq!(hex_of(&conn, "NULL"), None);
        assert_eq!(hex_of(&conn, "1.0").as_deref(), Some("3ff0000000000000"));
        assert_eq!(hex_of(&conn, "1").as_deref(), Some("3ff0000000000000"));
        assert_eq!(hex_of(&conn, "-2").as_deref(), Some("c000000000000000"));
        assert_eq!(hex_of(&conn, "0.1").as_deref(), Some("3fb999999999999a"));
        assert_eq!(hex_of(&conn, "9e999").as_deref(), Some("7ff0000000000000"));
        assert_eq!(hex_of(&conn, "-9e999").as_deref(), Some("fff0000000000000"));
        let bound = |v: f64| -> String {
            conn.query_row("SELECT ferry_f64hex(?1)", [v], |r| r.get(0))
                .expect("bound")
        };
        assert_eq!(bound(-0.0), "8000000000000000");
        assert_eq!(bound(0.0), "0000000000000000");
        assert_eq!(bound(5e-324), "0000000000000001");
        assert_eq!(bound(f64::MAX), "7fefffffffffffff");
        assert_eq!(bound(f64::INFINITY), "7ff0000000000000");
        assert!(
            conn.query_row("SELECT ferry_f64hex('1')", [], |r| r.get::<_, String>(0))
                .is_err()
        );
    }

    #[test]
    fn sqlite_md5_64_matches_canon_hash() {
        let conn = conn();
        let got: i64 = conn
            .query_row("SELECT ferry_md5_64('')", [], |r| r.get(0))
            .expect("md5");
        assert_eq!(got, crate::canon::hash64(b""));
        let got: i64 = conn
            .query_row("SELECT ferry_md5_64('3:été' || '~')", [], |r| r.get(0))
            .expect("md5");
        assert_eq!(got, crate::canon::hash64("3:été~".as_bytes()));
        let null: Option<i64> = conn
            .query_row("SELECT ferry_md5_64(NULL)", [], |r| r.get(0))
            .expect("null");
        assert_eq!(null, None);
    }

    #[test]
    fn sqlite_sum64_wraps() {
        let conn = conn();
        conn.execute_batch("CREATE TABLE h (v INTEGER)")
            .expect("table");
        let sum = |conn: &Connection| -> i64 {
            conn.query_row("SELECT ferry_sum64(v) FROM h", [], |r| r.get(0))
                .expect("sum")
        };
        assert_eq!(sum(&conn), 0, "no rows");
        conn.execute("INSERT INTO h VALUES (?1), (?2), (NULL)", (i64::MAX, 2i64))
            .expect("insert");
        assert_eq!(sum(&conn), i64::MIN + 1);
        conn.execute("INSERT INTO h VALUES (?1), (?1)", [i64::MIN])
            .expect("insert");
        assert_eq!(sum(&conn), i64::MIN + 1);
        // The same reduction as Postgres' numeric sum through canon::wrap_sum.
        let exact = i128::from(i64::MAX) + 2 + 2 * i128::from(i64::MIN);
        assert_eq!(
            crate::canon::wrap_sum(Some(&exact.to_string())) as i64,
            sum(&conn)
        );
    }
}
