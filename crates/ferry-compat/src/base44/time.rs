//! Dates and date-times, validated and normalised in Rust — one parser for the values records
//! store and the values queries compare with, so both are read alike and SQL never casts a
//! string the database could refuse. Both dialects store and return the same text
//! (`YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SS.sssZ`).

/// Parses `YYYY-MM-DD` with a valid calendar date (years 0001–9999) into days since
/// 1970-01-01.
pub(crate) fn parse_date(s: &[u8]) -> Option<i64> {
    if s.len() != 10 || s[4] != b'-' || s[7] != b'-' {
        return None;
    }
    let year = digits(&s[0..4])?;
    let month = digits(&s[5..7])?;
    let day = digits(&s[8..10])?;
    if year < 1 || !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    Some(days_from_civil(year, month, day))
}

/// Parses an ISO 8601 date or date-time into milliseconds since 1970-01-01T00:00:00Z.
/// Accepts `YYYY-MM-DD` (midnight UTC) and
/// `YYYY-MM-DD[T| ]HH:MM[:SS[.fraction]][Z|±HH:MM|±HHMM|±HH]`; no offset means UTC; fractions
/// (up to 9 digits) are truncated to milliseconds. PostgreSQL's text output
/// (`2024-01-10 09:00:00.123456+00`) is one of these forms.
pub(crate) fn parse_datetime(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 10 {
        return None;
    }
    let days = parse_date(&b[0..10])?;
    let mut rest = &b[10..];
    let (mut hour, mut minute, mut second, mut millis, mut offset) = (0, 0, 0, 0, 0);
    if !rest.is_empty() {
        if !matches!(rest[0], b'T' | b't' | b' ') || rest.len() < 6 || rest[3] != b':' {
            return None;
        }
        hour = digits(&rest[1..3])?;
        minute = digits(&rest[4..6])?;
        rest = &rest[6..];
        if let [b':', s1, s2, tail @ ..] = rest {
            second = digits(&[*s1, *s2])?;
            rest = tail;
            if let [b'.', tail @ ..] = rest {
                let count = tail.iter().take_while(|c| c.is_ascii_digit()).count();
                if count == 0 || count > 9 {
                    return None;
                }
                millis = tail[..3.min(count)]
                    .iter()
                    .chain(std::iter::repeat(&b'0'))
                    .take(3)
                    .fold(0, |acc, c| acc * 10 + i64::from(c - b'0'));
                rest = &tail[count..];
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
                offset = (h * 60 + m) * if *sign == b'+' { 1 } else { -1 };
            }
            _ => return None,
        }
        if hour > 23 || minute > 59 || second > 59 {
            return None;
        }
    }
    let ms = (((days * 24 + hour) * 60 + minute - offset) * 60 + second) * 1000 + millis;
    let (year, _, _) = civil_from_days(ms.div_euclid(86_400_000));
    (1..=9999).contains(&year).then_some(ms)
}

/// Whether `s` is exactly a valid `YYYY-MM-DD` date.
pub(crate) fn is_date(s: &str) -> bool {
    s.len() == 10 && parse_date(s.as_bytes()).is_some()
}

/// Normalises an ISO 8601 date or date-time (see [`parse_datetime`]) to UTC
/// `YYYY-MM-DDTHH:MM:SS.sssZ`, the stored form.
pub(crate) fn normalize_datetime(s: &str) -> Option<String> {
    parse_datetime(s).and_then(format_datetime)
}

/// `YYYY-MM-DDTHH:MM:SS.sssZ` of milliseconds since 1970-01-01T00:00:00Z; `None` outside
/// years 0001–9999.
pub(crate) fn format_datetime(ms: i64) -> Option<String> {
    let (y, mo, d) = civil_from_days(ms.div_euclid(86_400_000));
    let in_day = ms.rem_euclid(86_400_000);
    (1..=9999).contains(&y).then(|| {
        format!(
            "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
            in_day / 3_600_000,
            in_day / 60_000 % 60,
            in_day / 1000 % 60,
            in_day % 1000
        )
    })
}

/// The current time as a record stores it (`YYYY-MM-DDTHH:MM:SS.sssZ`, UTC).
pub fn now_datetime() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    format_datetime(ms).unwrap_or_default()
}

/// `YYYY-MM-DD` of days since 1970-01-01; `None` outside years 0001–9999.
pub(crate) fn format_date(days: i64) -> Option<String> {
    let (y, mo, d) = civil_from_days(days);
    (1..=9999)
        .contains(&y)
        .then(|| format!("{y:04}-{mo:02}-{d:02}"))
}

/// ASCII digits as a number; `None` if any byte is not a digit.
fn digits(s: &[u8]) -> Option<i64> {
    s.iter().try_fold(0i64, |acc, c| {
        c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
    })
}

fn days_in_month(year: i64, month: i64) -> i64 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`]: `(year, month, day)`.
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

    fn norm(s: &str) -> Option<String> {
        parse_datetime(s).and_then(format_datetime)
    }

    #[test]
    fn normalises_iso_forms() {
        assert_eq!(
            norm("2024-03-05").as_deref(),
            Some("2024-03-05T00:00:00.000Z")
        );
        assert_eq!(
            norm("2024-03-05T10:20").as_deref(),
            Some("2024-03-05T10:20:00.000Z")
        );
        assert_eq!(
            norm("2024-03-05T10:20:30.1234567Z").as_deref(),
            Some("2024-03-05T10:20:30.123Z")
        );
        assert_eq!(
            norm("2024-03-05T00:30:00+01:00").as_deref(),
            Some("2024-03-04T23:30:00.000Z")
        );
        assert_eq!(
            norm("2024-01-10 09:00:00.123456+00").as_deref(),
            Some("2024-01-10T09:00:00.123Z")
        );
        assert_eq!(
            norm("1969-12-31T23:59:59.999Z").as_deref(),
            Some("1969-12-31T23:59:59.999Z")
        );
        for bad in [
            "",
            "2023-02-29",
            "2024-13-01",
            "2024-01-01T24:00",
            "2024-01-01T10:00:00.",
            "2024-01-01T10:00:00+25:00",
            "0001-01-01T00:00+01:00",
            "2024-01-01T10:00:00Zjunk",
            "10000-01-01",
        ] {
            assert_eq!(norm(bad), None, "{bad}");
        }
        assert_eq!(parse_date(b"1970-01-02"), Some(1));
        assert_eq!(format_date(-1).as_deref(), Some("1969-12-31"));
        assert_eq!(parse_date(b"1900-02-29"), None);
        assert_eq!(parse_date(b"0000-01-01"), None);
    }
}
