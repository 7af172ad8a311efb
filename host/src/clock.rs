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
