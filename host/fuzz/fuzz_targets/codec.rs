//! Feeds arbitrary bytes to every parser in the directory codec: none may panic, however
//! malformed the control value, DN, filter or time a server or an admin hands it.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../src/directory/codec.rs"]
mod codec;

fuzz_target!(|data: &[u8]| {
    let _ = codec::parse_sync_state(data);
    let _ = codec::parse_sync_done(data);
    let _ = codec::parse_sync_info(data);
    let _ = codec::parse_dirsync_response(data);
    let _ = codec::guid_string(data);
    let _ = codec::sid_string(data);
    let text = String::from_utf8_lossy(data);
    let _ = codec::guid_bytes(&text);
    let _ = codec::parse_dn(&text);
    let _ = codec::normalize_dn(&text);
    let _ = codec::dn_is_under(&text, "DC=example,DC=com");
    let _ = codec::rdn_value(&text);
    let _ = codec::parse_ranged_attribute(&text);
    let _ = codec::incremental_value_change(&text);
    let _ = codec::generalized_time_rfc3339(&text);
    let _ = codec::rfc3339_to_generalized(&text);
    let _ = codec::filetime_rfc3339(&text);
    let _ = codec::account_expired(&text, time::OffsetDateTime::UNIX_EPOCH);
    let _ = codec::check_filter(&text);
    let _ = codec::UacFlags::parse(&text);
});
