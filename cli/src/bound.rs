//! Where a replay starts or ends: the beginning or end of the log, an offset (in every
//! partition read), or a moment given as RFC 3339, a date, `now`, or relative to now.

use chrono::{DateTime, Duration, NaiveDate, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    Beginning,
    End,
    Offset(i64),
    Time(DateTime<Utc>),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{input}` is not a time or offset: use beginning, end, now, an offset like 1200, RFC 3339 like 2026-11-23T08:00:00Z, a date like 2026-11-23, or relative like -24h, -30m, -7d"
)]
pub struct BoundError {
    input: String,
}

impl Bound {
    /// Parses `input`, resolving relative times against `now`.
    pub fn parse(input: &str, now: DateTime<Utc>) -> Result<Self, BoundError> {
        let error = || BoundError {
            input: input.to_owned(),
        };
        let text = input.trim();
        match text {
            "beginning" | "earliest" | "start" => return Ok(Bound::Beginning),
            "end" | "latest" => return Ok(Bound::End),
            "now" => return Ok(Bound::Time(now)),
            _ => {}
        }
        if let Some(relative) = text.strip_prefix('-') {
            return relative_duration(relative)
                .map(|d| Bound::Time(now - d))
                .ok_or_else(error);
        }
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            return text.parse().map(Bound::Offset).map_err(|_| error());
        }
        if let Ok(time) = DateTime::parse_from_rfc3339(text) {
            return Ok(Bound::Time(time.with_timezone(&Utc)));
        }
        if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            return Ok(Bound::Time(
                day.and_hms_opt(0, 0, 0).ok_or_else(error)?.and_utc(),
            ));
        }
        Err(error())
    }

    pub fn time(&self) -> Option<DateTime<Utc>> {
        match self {
            Bound::Time(time) => Some(*time),
            _ => None,
        }
    }
}

/// `90s`, `30m`, `24h`, `7d`, `2w`.
fn relative_duration(text: &str) -> Option<Duration> {
    let unit_at = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(unit_at);
    let n: i64 = number.parse().ok()?;
    match unit {
        "s" => Duration::try_seconds(n),
        "m" => Duration::try_minutes(n),
        "h" => Duration::try_hours(n),
        "d" => Duration::try_days(n),
        "w" => Duration::try_weeks(n),
        _ => None,
    }
}

/// Refuses a range that can hold nothing, when both ends are of the same kind.
pub fn check_range(from: Bound, to: Bound) -> Result<(), String> {
    let empty = match (from, to) {
        (Bound::Time(from), Bound::Time(to)) => from >= to,
        (Bound::Offset(from), Bound::Offset(to)) => from >= to,
        (Bound::End, Bound::Beginning) => true,
        _ => false,
    };
    if empty {
        Err("the range is empty: --from must come before --to".to_owned())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-23T12:00:00Z")
            .expect("time")
            .with_timezone(&Utc)
    }

    fn at(text: &str) -> Bound {
        Bound::Time(
            DateTime::parse_from_rfc3339(text)
                .expect("time")
                .with_timezone(&Utc),
        )
    }

    #[test]
    fn parses_every_form() {
        assert_eq!(Bound::parse("beginning", now()), Ok(Bound::Beginning));
        assert_eq!(Bound::parse("end", now()), Ok(Bound::End));
        assert_eq!(Bound::parse("1200", now()), Ok(Bound::Offset(1200)));
        assert_eq!(Bound::parse("now", now()), Ok(at("2026-11-23T12:00:00Z")));
        assert_eq!(Bound::parse("-24h", now()), Ok(at("2026-11-22T12:00:00Z")));
        assert_eq!(Bound::parse("-30m", now()), Ok(at("2026-11-23T11:30:00Z")));
        assert_eq!(Bound::parse("-7d", now()), Ok(at("2026-11-16T12:00:00Z")));
        assert_eq!(
            Bound::parse("2026-11-20", now()),
            Ok(at("2026-11-20T00:00:00Z"))
        );
        assert_eq!(
            Bound::parse("2026-11-20T10:00:00+01:00", now()),
            Ok(at("2026-11-20T09:00:00Z"))
        );
    }

    #[test]
    fn refuses_what_is_not_a_bound() {
        for bad in ["", "yesterday", "-24", "-5y", "2026-13-01", "12:00", "-h"] {
            assert!(Bound::parse(bad, now()).is_err(), "{bad}");
        }
        let message = Bound::parse("soon", now()).expect_err("bad").to_string();
        assert!(
            message.starts_with("`soon` is not a time or offset"),
            "{message}"
        );
    }

    #[test]
    fn an_empty_range_is_refused() {
        assert!(check_range(at("2026-11-23T12:00:00Z"), at("2026-11-23T12:00:00Z")).is_err());
        assert!(check_range(Bound::Offset(5), Bound::Offset(2)).is_err());
        assert!(check_range(Bound::End, Bound::Beginning).is_err());
        assert!(check_range(Bound::Beginning, Bound::End).is_ok());
        assert!(check_range(at("2026-11-22T12:00:00Z"), Bound::End).is_ok());
    }
}
