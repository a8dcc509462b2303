//! ISO 8601 dates and times as query values: validated and normalised in Rust so that SQL never
//! casts a string the database could refuse (queries must not fail because of their values).

/// Parses `YYYY-MM-DD` with a valid calendar date (years 0001–9999); returns
/// `(year, month, day)`.
fn parse_date(s: &[u8]) -> Option<(i64, u32, u32)> {
    if s.len() != 10 || s[4] != b'-' || s[7] != b'-' {
        return None;
    }
    let year = digits(&s[0..4])?;
    let month = u32::try_from(digits(&s[5..7])?).ok()?;
    let day = u32::try_from(digits(&s[8..10])?).ok()?;
    // Year 0 does not exist for PostgreSQL's `date`.
    if year < 1 || !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    Some((year, month, day))
}

/// Whether `s` is exactly a valid `YYYY-MM-DD` date.
pub(crate) fn is_date(s: &str) -> bool {
    parse_date(s.as_bytes()).is_some()
}

/// Normalises an ISO 8601 date or date-time to UTC `YYYY-MM-DDTHH:MM:SS.fffZ` (the stored
/// SQLite form; PostgreSQL casts it to `timestamptz`). Accepts `YYYY-MM-DD` (midnight UTC) and
/// `YYYY-MM-DD[T| ]HH:MM[:SS[.fraction]][Z|±HH:MM|±HHMM]`; no offset means UTC. Fractions are
/// truncated to milliseconds. `None` for anything else or a result outside years 0001–9999.
pub(crate) fn normalize_datetime(s: &str) -> Option<String> {
    let b = s.as_bytes();
    if b.len() < 10 {
        return None;
    }
    let (year, month, day) = parse_date(&b[0..10])?;
    let mut rest = &b[10..];
    let (mut hour, mut minute, mut second, mut millis) = (0i64, 0i64, 0i64, 0i64);
    let mut offset_minutes = 0i64;
    if !rest.is_empty() {
        if !matches!(rest[0], b'T' | b't' | b' ') || rest.len() < 6 || rest[3] != b':' {
            return None;
        }
        hour = digits(&rest[1..3])?;
        minute = digits(&rest[4..6])?;
        rest = &rest[6..];
        if rest.first() == Some(&b':') {
            if rest.len() < 3 {
                return None;
            }
            second = digits(&rest[1..3])?;
            rest = &rest[3..];
            if rest.first() == Some(&b'.') {
                let count = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
                if count == 0 || count > 9 {
                    return None;
                }
                let mut ms = 0i64;
                for i in 0..3 {
                    ms = ms * 10
                        + rest
                            .get(1 + i)
                            .filter(|_| i < count)
                            .map_or(0, |c| i64::from(c - b'0'));
                }
                millis = ms;
                rest = &rest[1 + count..];
            }
        }
        match rest {
            [] | [b'Z' | b'z'] => {}
            [sign @ (b'+' | b'-'), tail @ ..] => {
                let (h, m) = match tail {
                    [h1, h2, b':', m1, m2] | [h1, h2, m1, m2] => {
                        (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?)
                    }
                    [h1, h2] => (digits(&[*h1, *h2])?, 0),
                    _ => return None,
                };
                if h > 23 || m > 59 {
                    return None;
                }
                offset_minutes = (h * 60 + m) * if *sign == b'+' { 1 } else { -1 };
            }
            _ => return None,
        }
        if hour > 23 || minute > 59 || second > 59 {
            return None;
        }
    }
    let days = days_from_civil(year, month, day);
    let total_ms =
        (((days * 24 + hour) * 60 + minute - offset_minutes) * 60 + second) * 1000 + millis;
    let days = total_ms.div_euclid(86_400_000);
    let in_day = total_ms.rem_euclid(86_400_000);
    let (y, mo, d) = civil_from_days(days);
    if !(1..=9999).contains(&y) {
        return None;
    }
    Some(format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000
    ))
}

/// ASCII digits as a number; `None` if any byte is not a digit.
fn digits(s: &[u8]) -> Option<i64> {
    s.iter().try_fold(0i64, |acc, c| {
        c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
    })
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_iso_forms() {
        let n = |s: &str| normalize_datetime(s);
        assert_eq!(n("2024-03-05").as_deref(), Some("2024-03-05T00:00:00.000Z"));
        assert_eq!(
            n("2024-03-05T10:20").as_deref(),
            Some("2024-03-05T10:20:00.000Z")
        );
        assert_eq!(
            n("2024-03-05T10:20:30Z").as_deref(),
            Some("2024-03-05T10:20:30.000Z")
        );
        assert_eq!(
            n("2024-03-05T10:20:30.1234567Z").as_deref(),
            Some("2024-03-05T10:20:30.123Z")
        );
        assert_eq!(
            n("2024-03-05T00:30:00+01:00").as_deref(),
            Some("2024-03-04T23:30:00.000Z")
        );
        assert_eq!(
            n("2024-02-29t23:30:00-0100").as_deref(),
            Some("2024-03-01T00:30:00.000Z")
        );
        assert_eq!(
            n("1969-12-31T23:59:59.999Z").as_deref(),
            Some("1969-12-31T23:59:59.999Z")
        );
        for bad in [
            "",
            "2024",
            "2023-02-29",
            "2024-13-01",
            "2024-01-01T24:00",
            "2024-01-01T10:60",
            "2024-01-01T10:00:00.",
            "2024-01-01T10:00:00+25:00",
            "2024-01-01X",
            "0001-01-01T00:00+01:00",
            "２０２４-01-01",
            "2024-01-01T10:00:00Zjunk",
        ] {
            assert_eq!(n(bad), None, "{bad}");
        }
        assert!(is_date("2000-02-29"));
        assert!(!is_date("1900-02-29"));
        assert!(!is_date("0000-01-01"));
        assert!(is_date("0001-01-01"));
        assert!(!is_date("2000-02-29T00:00"));
    }
}
