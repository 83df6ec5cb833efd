//! Engine timestamps: RFC 3339 times as Docker reports them, turned into the
//! `seconds.nanoseconds` form Docker's event filter `since` takes.

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` into nanoseconds since
/// the Unix epoch. Returns `None` for anything else.
pub fn rfc3339_to_unix_nanos(s: &str) -> Option<i128> {
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let d = s.get(r)?;
        if d.is_empty() || !d.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        d.parse().ok()
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, min, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=days_in_month(year, month)).contains(&day)
        || hour > 23
        || min > 59
        || sec > 60
    {
        return None;
    }
    let mut rest = &s[19..];
    let mut nanos: i128 = 0;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        for (i, c) in frac[..digits].bytes().enumerate().take(9) {
            nanos += i128::from(c - b'0') * 10i128.pow(8 - i as u32);
        }
        rest = &frac[digits..];
    }
    let offset_secs: i64 = match rest {
        "Z" | "z" => 0,
        _ => {
            let ob = rest.as_bytes();
            if ob.len() != 6 || !matches!(ob[0], b'+' | b'-') || ob[3] != b':' {
                return None;
            }
            let (oh, om) = (num_in(rest, 1..3)?, num_in(rest, 4..6)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let off = oh * 3600 + om * 60;
            if ob[0] == b'-' {
                -off
            } else {
                off
            }
        }
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + min * 60 + sec - offset_secs;
    Some(i128::from(secs) * 1_000_000_000 + nanos)
}

/// Parses an HTTP date (`Sun, 29 Nov 2026 22:15:30 GMT`, RFC 9110's
/// IMF-fixdate, which Go's and every current server's `Date` header is)
/// into nanoseconds since the Unix epoch. `None` for anything else.
pub fn http_date_to_unix_nanos(s: &str) -> Option<i128> {
    let b = s.as_bytes();
    if b.len() != 29 || b[3] != b',' || b[4] != b' ' || &s[25..] != " GMT" {
        return None;
    }
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let month = MONTHS.iter().position(|m| *m == s.get(8..11).unwrap_or(""))? as i64 + 1;
    let (day, year) = (num_in(s, 5..7)?, num_in(s, 12..16)?);
    let (hour, min, sec) = (num_in(s, 17..19)?, num_in(s, 20..22)?, num_in(s, 23..25)?);
    if b[7] != b' ' || b[11] != b' ' || b[16] != b' ' || b[19] != b':' || b[22] != b':' {
        return None;
    }
    if !(1..=days_in_month(year, month)).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + min * 60 + sec;
    Some(i128::from(secs) * 1_000_000_000)
}

/// Formats nanoseconds since the epoch as Docker's `since` filter value.
pub fn docker_since(unix_nanos: i128) -> String {
    let secs = unix_nanos.div_euclid(1_000_000_000);
    let nanos = unix_nanos.rem_euclid(1_000_000_000);
    format!("{secs}.{nanos:09}")
}

fn num_in(s: &str, r: std::ops::Range<usize>) -> Option<i64> {
    let d = s.get(r)?;
    if !d.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    d.parse().ok()
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates() {
        assert_eq!(
            http_date_to_unix_nanos("Sun, 29 Nov 2026 22:15:30 GMT"),
            rfc3339_to_unix_nanos("2026-11-29T22:15:30Z")
        );
        assert_eq!(http_date_to_unix_nanos("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        for bad in [
            "",
            "Sun, 29 Nov 2026 22:15:30 UTC",
            "Sun, 31 Feb 2026 22:15:30 GMT",
            "Sun, 29 Xyz 2026 22:15:30 GMT",
            "Sunday, 29-Nov-26 22:15:30 GMT",
            "Sun, 29 Nov 2026 24:15:30 GMT",
            "Sun, 29 Nov 2026 22:15:3x GMT",
        ] {
            assert_eq!(http_date_to_unix_nanos(bad), None, "{bad}");
        }
    }

    #[test]
    fn parses_docker_system_time() {
        assert_eq!(rfc3339_to_unix_nanos("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(rfc3339_to_unix_nanos("2026-11-26T11:20:33.123456789Z"), Some(1_795_692_033_123_456_789));
        assert_eq!(rfc3339_to_unix_nanos("2026-11-26T12:20:33.5+01:00"), Some(1_795_692_033_500_000_000));
        assert_eq!(rfc3339_to_unix_nanos("2000-02-29T00:00:00.0000000001Z"), Some(951_782_400_000_000_000));
    }

    #[test]
    fn refuses_garbage() {
        for bad in [
            "",
            "2026-11-26",
            "2026-13-01T00:00:00Z",
            "2026-02-30T00:00:00Z",
            "2026-11-26T11:20:33",
            "2026-11-26T11:20:33.Z",
            "2026-11-26T11:20:33+1:00",
            "2026-11-26T11:20:33Zjunk",
            "2026-11-26T11:20:33.5+24:00",
            "+026-11-26T11:20:33Z",
            "2026-11-26T11:20:33é",
        ] {
            assert_eq!(rfc3339_to_unix_nanos(bad), None, "{bad}");
        }
    }

    #[test]
    fn formats_since() {
        assert_eq!(docker_since(1_795_692_033_000_000_001), "1795692033.000000001");
        assert_eq!(docker_since(0), "0.000000000");
    }
}
