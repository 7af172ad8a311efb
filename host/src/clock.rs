//! Wall-clock timestamps in the one format the service writes: RFC 3339, UTC, milliseconds.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Now, e.g. `2026-11-28T17:42:22.123Z`.
pub fn now_rfc3339() -> String {
    rfc3339(OffsetDateTime::now_utc())
}

/// A moment, in the same format.
pub fn system_time_rfc3339(at: std::time::SystemTime) -> String {
    rfc3339(OffsetDateTime::from(at))
}

fn rfc3339(at: OffsetDateTime) -> String {
    let at = at.replace_nanosecond(at.millisecond() as u32 * 1_000_000).unwrap_or(at);
    at.format(&Rfc3339).unwrap_or_else(|_| at.unix_timestamp().to_string())
}

/// A timestamp this service wrote (any RFC 3339 time), as a `SystemTime`; `None` when it
/// does not parse.
pub fn parse_rfc3339(text: &str) -> Option<std::time::SystemTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok().map(std::time::SystemTime::from)
}

#[cfg(test)]
mod tests {
    #[test]
    fn what_is_written_reads_back() {
        let at = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_764_000_000_123);
        assert_eq!(super::parse_rfc3339(&super::system_time_rfc3339(at)), Some(at));
        assert_eq!(super::parse_rfc3339("yesterday"), None);
    }
}
