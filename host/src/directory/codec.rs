//! Wire and text codecs for LDAP and Active Directory sync, pure and panic-free.
//!
//! Why this module exists: `ldap3` 0.12 carries the LDAP protocol, but it has no Active
//! Directory DirSync or Show Deleted control, and its RFC 4533 (syncrepl) control parsers index
//! and unwrap their way through the BER, so one malformed control value from a server would
//! panic the sync task. Everything a sync needs to decode or build by hand is here instead:
//!
//! - a minimal BER (X.690) reader, [`Ber`], and writer helpers ([`tlv`], [`ber_integer`], …);
//! - the RFC 4533 controls: [`encode_sync_request`], [`parse_sync_state`], [`parse_sync_done`]
//!   and the Sync Info intermediate response, [`parse_sync_info`];
//! - Active Directory: the DirSync control ([`encode_dirsync_request`],
//!   [`parse_dirsync_response`]), objectGUID ([`guid_string`], [`guid_bytes`]), objectSid
//!   ([`sid_string`]), FILETIME and GeneralizedTime ([`filetime_rfc3339`],
//!   [`generalized_time_rfc3339`]) and userAccountControl ([`UacFlags`]);
//! - search filters (RFC 4515), DNs (RFC 4514) and ranged attributes (`member;range=0-1499`).
//!
//! Everything is bytes or text in, a value or a [`CodecError`] out: no I/O, no state. No
//! function here panics on any input: there is no indexing, slicing or arithmetic that could
//! fail unchecked (the module was held to clippy's `indexing_slicing` and
//! `arithmetic_side_effects` lints outside its tests), and the tests feed 200,000 random and
//! mutated inputs to every parser.
//!
//! Coverage-guided fuzzing, for longer runs than the tests: the libFuzzer target `codec` in
//! `host/fuzz/` (its own workspace, never built by the workspace or CI) includes this file by
//! path and feeds every parser here. `RUSTC_BOOTSTRAP=1` lets stable rustc take the nightly
//! sanitizer flags cargo-fuzz passes. Last run, 2026-12-03, rustc 1.95, cargo-fuzz 0.13.2,
//! AddressSanitizer, from the 15 seeds in `host/fuzz/corpus/codec` (one valid input of each kind):
//!
//! ```text
//! cd host && RUSTC_BOOTSTRAP=1 cargo fuzz run codec -- -max_total_time=300 -max_len=1024
//! Done 2486381 runs in 301 second(s)   (cov: 1759 ft: 4415 corp: 1342/162Kb, ~8,300 exec/s)
//! ```
//!
//! No crash, leak or timeout.

use std::fmt;
use std::fmt::Write as _;

use time::format_description::well_known::Rfc3339;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

// ---------------------------------------------------------------------------------------------
// Errors

/// Why a value could not be decoded. The text names the field and the problem, for a log line:
/// the callers treat every codec error the same way (skip the control, fail the page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecError(pub String);

impl CodecError {
    fn new(message: impl Into<String>) -> Self {
        CodecError(message.into())
    }
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CodecError {}

fn fail<T>(message: impl Into<String>) -> Result<T, CodecError> {
    Err(CodecError::new(message))
}

// ---------------------------------------------------------------------------------------------
// BER reader

/// Universal tag of BOOLEAN.
pub const TAG_BOOLEAN: u8 = 0x01;
/// Universal tag of INTEGER.
pub const TAG_INTEGER: u8 = 0x02;
/// Universal tag of OCTET STRING (primitive: LDAP allows no other form, RFC 4511 §5.1).
pub const TAG_OCTET_STRING: u8 = 0x04;
/// Universal tag of ENUMERATED.
pub const TAG_ENUMERATED: u8 = 0x0a;
/// Universal tag of SEQUENCE / SEQUENCE OF (constructed).
pub const TAG_SEQUENCE: u8 = 0x30;
/// Universal tag of SET / SET OF (constructed).
pub const TAG_SET: u8 = 0x31;

/// How many constructed values a reader descends into. The controls here nest three deep at
/// most; the cap bounds any walk over hostile input that descends generically.
pub const MAX_DEPTH: u8 = 8;

/// The longest long-form length field, in octets after the first: 4 octets say up to 4 GiB,
/// more than any control value, and a longer field can only be hostile or broken.
const MAX_LENGTH_OCTETS: usize = 4;

/// One tag-length-value element, the value borrowed from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    pub tag: u8,
    pub value: &'a [u8],
}

/// A forward reader over BER elements, definite lengths only.
///
/// LDAP (RFC 4511 §5.1) allows only definite lengths and single-octet tags, so the reader
/// refuses indefinite lengths and multi-octet tags rather than half-supporting them. Lengths
/// are checked against the bytes left before anything is sliced.
#[derive(Debug, Clone)]
pub struct Ber<'a> {
    rest: &'a [u8],
    depth: u8,
}

impl<'a> Ber<'a> {
    /// A reader over a whole encoding, at nesting depth 0.
    pub fn new(data: &'a [u8]) -> Self {
        Ber { rest: data, depth: 0 }
    }

    /// Whether every element has been read.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The bytes not read yet.
    pub fn remaining(&self) -> &'a [u8] {
        self.rest
    }

    /// The tag of the next element, without reading it: how OPTIONAL and DEFAULT fields are told apart.
    pub fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// Reads the next element whatever its tag.
    pub fn read_tlv(&mut self) -> Result<Tlv<'a>, CodecError> {
        let (&tag, after_tag) = self.rest.split_first().ok_or_else(|| CodecError::new("BER: no more elements"))?;
        if tag & 0x1f == 0x1f {
            return fail(format!("BER: multi-octet tag {tag:#04x} not supported"));
        }
        let (length, after_length) = read_length(after_tag)?;
        let (value, rest) = after_length.split_at_checked(length).ok_or_else(|| {
            CodecError::new(format!("BER: length {length} is past the {} bytes left", after_length.len()))
        })?;
        self.rest = rest;
        Ok(Tlv { tag, value })
    }

    /// Reads the next element, which must carry `tag`, and returns its contents.
    pub fn read_expect(&mut self, tag: u8) -> Result<&'a [u8], CodecError> {
        let element = self.read_tlv()?;
        if element.tag != tag {
            return fail(format!("BER: expected tag {tag:#04x}, found {:#04x}", element.tag));
        }
        Ok(element.value)
    }

    /// Reads the next element if it carries `tag` (an OPTIONAL or DEFAULT field), else nothing.
    pub fn read_optional(&mut self, tag: u8) -> Result<Option<&'a [u8]>, CodecError> {
        if self.peek_tag() == Some(tag) {
            self.read_expect(tag).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Reads a constructed element carrying `tag` and returns a reader over its contents, one level deeper.
    pub fn read_constructed(&mut self, tag: u8) -> Result<Ber<'a>, CodecError> {
        let depth = self
            .depth
            .checked_add(1)
            .filter(|depth| *depth <= MAX_DEPTH)
            .ok_or_else(|| CodecError::new(format!("BER: nested deeper than {MAX_DEPTH}")))?;
        let value = self.read_expect(tag)?;
        Ok(Ber { rest: value, depth })
    }

    /// Reads a SEQUENCE and returns a reader over its elements.
    pub fn read_sequence(&mut self) -> Result<Ber<'a>, CodecError> {
        self.read_constructed(TAG_SEQUENCE)
    }

    /// Reads an INTEGER that fits in 64 bits.
    pub fn read_integer(&mut self) -> Result<i64, CodecError> {
        decode_integer(self.read_expect(TAG_INTEGER)?)
    }

    /// Reads an ENUMERATED (encoded like an INTEGER).
    pub fn read_enumerated(&mut self) -> Result<i64, CodecError> {
        decode_integer(self.read_expect(TAG_ENUMERATED)?)
    }

    /// Reads an OCTET STRING.
    pub fn read_octet_string(&mut self) -> Result<&'a [u8], CodecError> {
        self.read_expect(TAG_OCTET_STRING)
    }

    /// Reads a BOOLEAN.
    pub fn read_boolean(&mut self) -> Result<bool, CodecError> {
        decode_boolean(self.read_expect(TAG_BOOLEAN)?)
    }

    /// Reads a BOOLEAN if one comes next (a `BOOLEAN DEFAULT …` field), else nothing.
    pub fn read_optional_boolean(&mut self) -> Result<Option<bool>, CodecError> {
        self.read_optional(TAG_BOOLEAN)?.map(decode_boolean).transpose()
    }

    /// Fails if anything is left: a value with trailing bytes is not the value we were told about.
    pub fn finish(&self) -> Result<(), CodecError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            fail(format!("BER: {} unexpected trailing bytes", self.rest.len()))
        }
    }
}

/// Splits a definite length (short or long form) off the front of `data`.
fn read_length(data: &[u8]) -> Result<(usize, &[u8]), CodecError> {
    let (&first, rest) = data.split_first().ok_or_else(|| CodecError::new("BER: no length after the tag"))?;
    if first < 0x80 {
        return Ok((usize::from(first), rest));
    }
    if first == 0x80 {
        return fail("BER: indefinite length not allowed");
    }
    let count = usize::from(first & 0x7f);
    if count > MAX_LENGTH_OCTETS {
        return fail(format!("BER: length field of {count} octets"));
    }
    let (octets, rest) = rest.split_at_checked(count).ok_or_else(|| CodecError::new("BER: length field cut short"))?;
    let length = octets
        .iter()
        .try_fold(0usize, |acc, &octet| acc.checked_mul(256)?.checked_add(usize::from(octet)))
        .ok_or_else(|| CodecError::new("BER: length overflows"))?;
    Ok((length, rest))
}

/// Two's complement, big-endian, sign-extended. Non-minimal encodings are accepted (BER
/// readers should be lenient) as long as the whole encoding fits in 8 bytes.
fn decode_integer(content: &[u8]) -> Result<i64, CodecError> {
    let first = content.first().ok_or_else(|| CodecError::new("BER: empty INTEGER"))?;
    if content.len() > 8 {
        return fail(format!("BER: INTEGER of {} bytes does not fit 64 bits", content.len()));
    }
    let start: i64 = if first & 0x80 == 0 { 0 } else { -1 };
    content
        .iter()
        .try_fold(start, |acc, &byte| acc.checked_mul(256)?.checked_add(i64::from(byte)))
        .ok_or_else(|| CodecError::new("BER: INTEGER overflows"))
}

/// One content byte; any non-zero byte is TRUE in BER (DER would insist on 0xff).
fn decode_boolean(content: &[u8]) -> Result<bool, CodecError> {
    match content {
        [byte] => Ok(*byte != 0),
        _ => fail(format!("BER: BOOLEAN of {} bytes", content.len())),
    }
}

/// A reader over the elements of the one SEQUENCE that makes up a control value.
fn single_sequence(value: &[u8]) -> Result<Ber<'_>, CodecError> {
    let mut outer = Ber::new(value);
    let sequence = outer.read_sequence()?;
    outer.finish()?;
    Ok(sequence)
}

// ---------------------------------------------------------------------------------------------
// BER writer

/// One element: `tag`, the definite length of `content` in its shortest form, then `content`.
pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len().saturating_add(10));
    out.push(tag);
    push_length(&mut out, content.len());
    out.extend_from_slice(content);
    out
}

/// Short form below 128, else 0x80 | number of octets, then the octets, big-endian.
fn push_length(out: &mut Vec<u8>, length: usize) {
    match u8::try_from(length) {
        Ok(short) if short < 0x80 => out.push(short),
        _ => {
            let octets = length.to_be_bytes();
            let significant = strip_leading(&octets, 0);
            let count = u8::try_from(significant.len()).unwrap_or(0x7f);
            out.push(0x80 | count);
            out.extend_from_slice(significant);
        }
    }
}

/// `bytes` without its leading `byte`s.
fn strip_leading(bytes: &[u8], byte: u8) -> &[u8] {
    let skip = bytes.iter().take_while(|b| **b == byte).count();
    bytes.get(skip..).unwrap_or_default()
}

/// The shortest two's complement encoding: a leading 0x00 or 0xff octet is dropped while the
/// next octet's top bit still gives the same sign (X.690 §8.3.2 requires this, in BER too).
fn minimal_twos_complement(value: i64) -> Vec<u8> {
    let octets = value.to_be_bytes();
    let redundant = octets
        .windows(2)
        .take_while(|pair| {
            matches!(pair, [0x00, next] if next & 0x80 == 0) || matches!(pair, [0xff, next] if next & 0x80 != 0)
        })
        .count();
    octets.get(redundant..).unwrap_or_default().to_vec()
}

/// An INTEGER.
pub fn ber_integer(value: i64) -> Vec<u8> {
    tlv(TAG_INTEGER, &minimal_twos_complement(value))
}

/// An ENUMERATED.
pub fn ber_enumerated(value: i64) -> Vec<u8> {
    tlv(TAG_ENUMERATED, &minimal_twos_complement(value))
}

/// An OCTET STRING.
pub fn ber_octet_string(content: &[u8]) -> Vec<u8> {
    tlv(TAG_OCTET_STRING, content)
}

/// A BOOLEAN, TRUE as 0xff (the DER form, which every server reads).
pub fn ber_boolean(value: bool) -> Vec<u8> {
    tlv(TAG_BOOLEAN, &[if value { 0xff } else { 0x00 }])
}

/// A SEQUENCE of already-encoded elements.
pub fn ber_sequence(elements: &[Vec<u8>]) -> Vec<u8> {
    tlv(TAG_SEQUENCE, &elements.concat())
}

/// A SET of already-encoded elements, in the order given.
pub fn ber_set(elements: &[Vec<u8>]) -> Vec<u8> {
    tlv(TAG_SET, &elements.concat())
}

// ---------------------------------------------------------------------------------------------
// RFC 4533: Content Synchronization Operation (syncrepl)

/// The Sync Request control, sent with the search.
pub const SYNC_REQUEST_OID: &str = "1.3.6.1.4.1.4203.1.9.1.1";
/// The Sync State control, on each search result entry and reference.
pub const SYNC_STATE_OID: &str = "1.3.6.1.4.1.4203.1.9.1.2";
/// The Sync Done control, on the search result done message.
pub const SYNC_DONE_OID: &str = "1.3.6.1.4.1.4203.1.9.1.3";
/// The Sync Info Message, an intermediate response (its responseName).
pub const SYNC_INFO_OID: &str = "1.3.6.1.4.1.4203.1.9.1.4";

/// The sync request's mode (RFC 4533 §2.2; 0 is unused and 2 reserved).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    /// One refresh, ended by a Sync Done control.
    RefreshOnly = 1,
    /// A refresh, then changes as they happen until the search is abandoned.
    RefreshAndPersist = 3,
}

impl SyncMode {
    /// The ENUMERATED value on the wire.
    pub fn code(self) -> i64 {
        match self {
            SyncMode::RefreshOnly => 1,
            SyncMode::RefreshAndPersist => 3,
        }
    }
}

/// The Sync Request control value:
/// `SEQUENCE { mode ENUMERATED, cookie OCTET STRING OPTIONAL, reloadHint BOOLEAN DEFAULT FALSE }`.
///
/// A FALSE reload hint is left out, as DER requires for a DEFAULT value.
pub fn encode_sync_request(mode: SyncMode, cookie: Option<&[u8]>, reload_hint: bool) -> Vec<u8> {
    let mut elements = vec![ber_enumerated(mode.code())];
    if let Some(cookie) = cookie {
        elements.push(ber_octet_string(cookie));
    }
    if reload_hint {
        elements.push(ber_boolean(true));
    }
    ber_sequence(&elements)
}

/// What happened to an entry (RFC 4533 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncStateKind {
    /// The entry is unchanged and still in the content (refresh present phase).
    Present = 0,
    Add = 1,
    Modify = 2,
    Delete = 3,
}

impl SyncStateKind {
    fn from_code(code: i64) -> Result<Self, CodecError> {
        match code {
            0 => Ok(SyncStateKind::Present),
            1 => Ok(SyncStateKind::Add),
            2 => Ok(SyncStateKind::Modify),
            3 => Ok(SyncStateKind::Delete),
            other => fail(format!("sync state: unknown state {other}")),
        }
    }
}

/// A decoded Sync State control.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncStateValue {
    pub state: SyncStateKind,
    /// The entry's entryUUID, the key that survives renames; see [`uuid_string`].
    pub entry_uuid: [u8; 16],
    pub cookie: Option<Vec<u8>>,
}

/// The Sync State control value:
/// `SEQUENCE { state ENUMERATED, entryUUID OCTET STRING (SIZE(16)), cookie OCTET STRING OPTIONAL }`.
pub fn parse_sync_state(value: &[u8]) -> Result<SyncStateValue, CodecError> {
    let mut sequence = single_sequence(value)?;
    let state = SyncStateKind::from_code(sequence.read_enumerated()?)?;
    let entry_uuid = sync_uuid(sequence.read_octet_string()?)?;
    let cookie = sequence.read_optional(TAG_OCTET_STRING)?.map(<[u8]>::to_vec);
    sequence.finish()?;
    Ok(SyncStateValue { state, entry_uuid, cookie })
}

/// A syncUUID: exactly 16 octets (RFC 4533 §2.1).
fn sync_uuid(bytes: &[u8]) -> Result<[u8; 16], CodecError> {
    <[u8; 16]>::try_from(bytes).map_err(|_| CodecError::new(format!("syncUUID of {} bytes, not 16", bytes.len())))
}

/// A decoded Sync Done control.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncDoneValue {
    pub cookie: Option<Vec<u8>>,
    /// TRUE: entries not named during the refresh were sent as deletes; FALSE: the refresh was
    /// a present phase, and every entry not reported present must be deleted by the client.
    pub refresh_deletes: bool,
}

/// The Sync Done control value:
/// `SEQUENCE { cookie OCTET STRING OPTIONAL, refreshDeletes BOOLEAN DEFAULT FALSE }`
/// (an empty SEQUENCE is valid).
pub fn parse_sync_done(value: &[u8]) -> Result<SyncDoneValue, CodecError> {
    let mut sequence = single_sequence(value)?;
    let cookie = sequence.read_optional(TAG_OCTET_STRING)?.map(<[u8]>::to_vec);
    let refresh_deletes = sequence.read_optional_boolean()?.unwrap_or(false);
    sequence.finish()?;
    Ok(SyncDoneValue { cookie, refresh_deletes })
}

/// A decoded Sync Info Message (RFC 4533 §2.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncInfo {
    /// `[0] syncCookie`: a new cookie, nothing else.
    NewCookie(Vec<u8>),
    /// `[1]`: the refresh deletes phase ends (`refresh_done`) or goes on.
    RefreshDelete { cookie: Option<Vec<u8>>, refresh_done: bool },
    /// `[2]`: the refresh present phase ends (`refresh_done`) or goes on.
    RefreshPresent { cookie: Option<Vec<u8>>, refresh_done: bool },
    /// `[3]`: many entries at once, by entryUUID: deleted if `refresh_deletes`, else present.
    SyncIdSet { cookie: Option<Vec<u8>>, refresh_deletes: bool, uuids: Vec<[u8; 16]> },
}

/// `[0] syncCookie`: context tag 0, primitive, IMPLICIT (the RFC 4533 module is IMPLICIT TAGS).
const SYNC_INFO_NEW_COOKIE: u8 = 0x80;
/// `[1] SEQUENCE`: context tag 1, constructed.
const SYNC_INFO_REFRESH_DELETE: u8 = 0xa1;
/// `[2] SEQUENCE`: context tag 2, constructed.
const SYNC_INFO_REFRESH_PRESENT: u8 = 0xa2;
/// `[3] SEQUENCE`: context tag 3, constructed.
const SYNC_INFO_SYNC_ID_SET: u8 = 0xa3;

/// The Sync Info Message value, a CHOICE told apart by its context tag:
///
/// ```text
/// syncInfoValue ::= CHOICE {
///     newcookie      [0] syncCookie,
///     refreshDelete  [1] SEQUENCE { cookie syncCookie OPTIONAL, refreshDone BOOLEAN DEFAULT TRUE },
///     refreshPresent [2] SEQUENCE { cookie syncCookie OPTIONAL, refreshDone BOOLEAN DEFAULT TRUE },
///     syncIdSet      [3] SEQUENCE { cookie syncCookie OPTIONAL, refreshDeletes BOOLEAN DEFAULT FALSE,
///                                   syncUUIDs SET OF syncUUID } }
/// ```
pub fn parse_sync_info(value: &[u8]) -> Result<SyncInfo, CodecError> {
    let mut outer = Ber::new(value);
    let info = match outer.peek_tag() {
        Some(SYNC_INFO_NEW_COOKIE) => SyncInfo::NewCookie(outer.read_expect(SYNC_INFO_NEW_COOKIE)?.to_vec()),
        Some(SYNC_INFO_REFRESH_DELETE) => {
            let (cookie, refresh_done) = refresh_phase(outer.read_constructed(SYNC_INFO_REFRESH_DELETE)?)?;
            SyncInfo::RefreshDelete { cookie, refresh_done }
        }
        Some(SYNC_INFO_REFRESH_PRESENT) => {
            let (cookie, refresh_done) = refresh_phase(outer.read_constructed(SYNC_INFO_REFRESH_PRESENT)?)?;
            SyncInfo::RefreshPresent { cookie, refresh_done }
        }
        Some(SYNC_INFO_SYNC_ID_SET) => sync_id_set(outer.read_constructed(SYNC_INFO_SYNC_ID_SET)?)?,
        Some(other) => return fail(format!("sync info: unknown choice tag {other:#04x}")),
        None => return fail("sync info: empty value"),
    };
    outer.finish()?;
    Ok(info)
}

/// The body of refreshDelete and refreshPresent.
fn refresh_phase(mut body: Ber<'_>) -> Result<(Option<Vec<u8>>, bool), CodecError> {
    let cookie = body.read_optional(TAG_OCTET_STRING)?.map(<[u8]>::to_vec);
    let refresh_done = body.read_optional_boolean()?.unwrap_or(true);
    body.finish()?;
    Ok((cookie, refresh_done))
}

/// The body of syncIdSet; its SET OF may be empty but not missing.
fn sync_id_set(mut body: Ber<'_>) -> Result<SyncInfo, CodecError> {
    let cookie = body.read_optional(TAG_OCTET_STRING)?.map(<[u8]>::to_vec);
    let refresh_deletes = body.read_optional_boolean()?.unwrap_or(false);
    let mut set = body.read_constructed(TAG_SET)?;
    body.finish()?;
    let mut uuids = Vec::new();
    while !set.is_empty() {
        uuids.push(sync_uuid(set.read_octet_string()?)?);
    }
    Ok(SyncInfo::SyncIdSet { cookie, refresh_deletes, uuids })
}

/// A UUID as RFC 4122 text, lower case and hyphenated, as OpenLDAP prints entryUUID.
pub fn uuid_string(bytes: &[u8; 16]) -> String {
    let mut text = String::with_capacity(36);
    for (position, byte) in bytes.iter().enumerate() {
        if matches!(position, 4 | 6 | 8 | 10) {
            text.push('-');
        }
        push_hex(&mut text, *byte);
    }
    text
}

fn push_hex(text: &mut String, byte: u8) {
    // Writing to a String cannot fail.
    let _ = write!(text, "{byte:02x}");
}

// ---------------------------------------------------------------------------------------------
// Active Directory controls

/// LDAP_SERVER_DIRSYNC_OID: the changes since a cookie, per naming context.
pub const DIRSYNC_OID: &str = "1.2.840.113556.1.4.841";
/// LDAP_SERVER_SHOW_DELETED_OID: include tombstones (isDeleted=TRUE) in a search; no value.
pub const SHOW_DELETED_OID: &str = "1.2.840.113556.1.4.417";
/// LDAP_MATCHING_RULE_IN_CHAIN: transitive group membership in a filter,
/// `(memberOf:1.2.840.113556.1.4.1941:=CN=…)`.
pub const MATCHING_RULE_IN_CHAIN: &str = "1.2.840.113556.1.4.1941";
/// The Simple Paged Results control (RFC 2696).
pub const PAGED_RESULTS_OID: &str = "1.2.840.113556.1.4.319";

/// DirSync flag LDAP_DIRSYNC_OBJECT_SECURITY: return only what the caller may read, without
/// needing the "Replicating Directory Changes" right.
pub const DIRSYNC_OBJECT_SECURITY: u32 = 0x1;
/// DirSync flag LDAP_DIRSYNC_ANCESTORS_FIRST_ORDER: parents before their children.
pub const DIRSYNC_ANCESTORS_FIRST_ORDER: u32 = 0x800;
/// DirSync flag LDAP_DIRSYNC_PUBLIC_DATA_ONLY: no secret attributes (passwords and keys).
pub const DIRSYNC_PUBLIC_DATA_ONLY: u32 = 0x2000;
/// DirSync flag LDAP_DIRSYNC_INCREMENTAL_VALUES: linked attributes (member) as added and
/// removed values, see [`incremental_value_change`], rather than the whole value list.
pub const DIRSYNC_INCREMENTAL_VALUES: u32 = 0x8000_0000;

/// The DirSync request control value:
/// `SEQUENCE { flags INTEGER, maxAttributeCount INTEGER, cookie OCTET STRING }`.
///
/// AD reads `flags` as a signed 32-bit INTEGER, so the bits are reinterpreted, not widened:
/// INCREMENTAL_VALUES (0x80000000) goes out as -2147483648 (`02 04 80 00 00 00`), not as the
/// five-octet positive 2147483648 that AD would refuse. `max_bytes` 0 lets the server choose.
pub fn encode_dirsync_request(flags: u32, max_bytes: i32, cookie: &[u8]) -> Vec<u8> {
    let signed_flags = i32::from_be_bytes(flags.to_be_bytes());
    ber_sequence(&[ber_integer(i64::from(signed_flags)), ber_integer(i64::from(max_bytes)), ber_octet_string(cookie)])
}

/// A decoded DirSync response control.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirSyncResponse {
    /// More changes are waiting: search again at once with [`DirSyncResponse::cookie`].
    pub more_results: bool,
    /// The cookie for the next search; store it once the page is applied.
    pub cookie: Vec<u8>,
}

/// The DirSync response control value:
/// `SEQUENCE { moreResults INTEGER, unused INTEGER, cookie OCTET STRING }`.
pub fn parse_dirsync_response(value: &[u8]) -> Result<DirSyncResponse, CodecError> {
    let mut sequence = single_sequence(value)?;
    let more_results = sequence.read_integer()? != 0;
    let _unused = sequence.read_integer()?;
    let cookie = sequence.read_octet_string()?.to_vec();
    sequence.finish()?;
    Ok(DirSyncResponse { more_results, cookie })
}

// ---------------------------------------------------------------------------------------------
// Active Directory values: objectGUID, objectSid

/// objectGUID bytes to text, e.g. `3f2504e0-4f89-11d3-9a0c-0305e82c3301`.
///
/// The bytes are a Windows GUID struct: the first three groups (Data1 u32, Data2 u16,
/// Data3 u16) are little-endian, the last eight bytes as they are. Reading them as an RFC 4122
/// UUID, as a naive hex dump does, gives a string that matches nothing in AD's own tools.
pub fn guid_string(bytes: &[u8]) -> Result<String, CodecError> {
    let raw = <[u8; 16]>::try_from(bytes)
        .map_err(|_| CodecError::new(format!("objectGUID of {} bytes, not 16", bytes.len())))?;
    Ok(uuid_string(&swap_guid_order(raw)))
}

/// GUID text (with or without braces, any case) to the objectGUID bytes, e.g. for an
/// `(objectGUID=\e0\04…)` filter built with [`escape_binary_filter`].
pub fn guid_bytes(text: &str) -> Result<[u8; 16], CodecError> {
    let trimmed = text.trim();
    let inner = trimmed.strip_prefix('{').and_then(|rest| rest.strip_suffix('}')).unwrap_or(trimmed);
    let groups: Vec<&str> = inner.split('-').collect();
    let lengths: Vec<usize> = groups.iter().map(|group| group.len()).collect();
    if lengths != [8, 4, 4, 4, 12] {
        return fail(format!("GUID {text:?} is not xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"));
    }
    let canonical = <[u8; 16]>::try_from(decode_hex(&groups.concat())?)
        .map_err(|_| CodecError::new(format!("GUID {text:?} is not 16 bytes")))?;
    Ok(swap_guid_order(canonical))
}

/// Swaps between GUID struct order and RFC 4122 order; its own inverse.
fn swap_guid_order(bytes: [u8; 16]) -> [u8; 16] {
    let [a0, a1, a2, a3, b0, b1, c0, c1, rest @ ..] = bytes;
    let [d0, d1, d2, d3, d4, d5, d6, d7] = rest;
    [a3, a2, a1, a0, b1, b0, c1, c0, d0, d1, d2, d3, d4, d5, d6, d7]
}

/// Hex text (even length, any case) to bytes.
fn decode_hex(text: &str) -> Result<Vec<u8>, CodecError> {
    let digits = text.as_bytes();
    if digits.len() % 2 != 0 {
        return fail(format!("odd number of hex digits in {text:?}"));
    }
    digits
        .chunks_exact(2)
        .map(|pair| match pair {
            [high, low] => hex_pair(*high, *low),
            _ => None,
        })
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(|| CodecError::new(format!("not hex: {text:?}")))
}

/// Two hex digits to their byte.
fn hex_pair(high: u8, low: u8) -> Option<u8> {
    let high = hex_digit(high)?;
    let low = hex_digit(low)?;
    high.checked_mul(16)?.checked_add(low)
}

fn hex_digit(digit: u8) -> Option<u8> {
    char::from(digit).to_digit(16).and_then(|value| u8::try_from(value).ok())
}

/// Bytes as an RFC 4515 filter value, every byte escaped (`\3f\25…`): the only safe form for
/// binary attributes such as objectGUID and objectSid.
pub fn escape_binary_filter(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len().saturating_mul(3));
    for byte in bytes {
        text.push('\\');
        push_hex(&mut text, *byte);
    }
    text
}

/// Most sub-authorities a SID may have (SID_MAX_SUB_AUTHORITIES).
const SID_MAX_SUB_AUTHORITIES: u8 = 15;

/// objectSid bytes to the `S-1-5-21-…` string form.
///
/// Layout: revision (must be 1), sub-authority count (at most 15), a 48-bit big-endian
/// identifier authority, then that many little-endian u32 sub-authorities, and nothing more.
/// An authority of 2^32 or more is written in hex (`0x…`), as Windows does.
pub fn sid_string(bytes: &[u8]) -> Result<String, CodecError> {
    let (header, sub_authorities) =
        bytes.split_at_checked(8).ok_or_else(|| CodecError::new(format!("objectSid of {} bytes", bytes.len())))?;
    let [revision, count, authority @ ..] = <[u8; 8]>::try_from(header).unwrap_or_default();
    if revision != 1 {
        return fail(format!("objectSid revision {revision}, not 1"));
    }
    if count > SID_MAX_SUB_AUTHORITIES {
        return fail(format!("objectSid with {count} sub-authorities"));
    }
    if Some(sub_authorities.len()) != usize::from(count).checked_mul(4) {
        return fail(format!("objectSid: {count} sub-authorities in {} bytes", sub_authorities.len()));
    }
    let [a0, a1, a2, a3, a4, a5] = authority;
    let authority = u64::from_be_bytes([0, 0, a0, a1, a2, a3, a4, a5]);
    let mut text = if authority >> 32 == 0 { format!("S-1-{authority}") } else { format!("S-1-0x{authority:012X}") };
    for chunk in sub_authorities.chunks_exact(4) {
        let sub_authority = u32::from_le_bytes(<[u8; 4]>::try_from(chunk).unwrap_or_default());
        let _ = write!(text, "-{sub_authority}");
    }
    Ok(text)
}

// ---------------------------------------------------------------------------------------------
// Times

/// Seconds from 1601-01-01 (the FILETIME epoch) to 1970-01-01 (the Unix epoch).
const FILETIME_UNIX_OFFSET_SECONDS: i128 = 11_644_473_600;
const NANOS_PER_SECOND: i128 = 1_000_000_000;
/// A FILETIME tick is 100 ns.
const NANOS_PER_TICK: i128 = 100;

/// An AD FILETIME attribute (accountExpires, pwdLastSet, lastLogonTimestamp, …; decimal text
/// of 100-ns ticks since 1601-01-01 UTC) as RFC 3339 UTC, e.g. `2020-01-01T00:00:00Z`.
///
/// None for the two "never" values, 0 and 9223372036854775807, and for text that is not a
/// positive integer or is past year 9999 (which RFC 3339 cannot write).
pub fn filetime_rfc3339(value: &str) -> Option<String> {
    filetime_datetime(filetime_ticks(value)?)?.format(&Rfc3339).ok()
}

/// Whether accountExpires is in the past at `now`. "Never" (0 or i64::MAX), a date past
/// year 9999 and unreadable text are all "not expired": only a real date in the past expires
/// an account, so a value we do not understand never disables anybody.
pub fn account_expired(account_expires: &str, now: OffsetDateTime) -> bool {
    match filetime_ticks(account_expires).and_then(filetime_datetime) {
        Some(expires) => now >= expires,
        None => false,
    }
}

/// The ticks of a FILETIME text, None for "never" and anything not a positive integer.
fn filetime_ticks(value: &str) -> Option<i64> {
    let ticks: i64 = value.trim().parse().ok()?;
    (ticks > 0 && ticks != i64::MAX).then_some(ticks)
}

fn filetime_datetime(ticks: i64) -> Option<OffsetDateTime> {
    let since_1601 = i128::from(ticks).checked_mul(NANOS_PER_TICK)?;
    let unix_nanos = since_1601.checked_sub(FILETIME_UNIX_OFFSET_SECONDS.checked_mul(NANOS_PER_SECOND)?)?;
    OffsetDateTime::from_unix_timestamp_nanos(unix_nanos).ok()
}

/// LDAP GeneralizedTime (RFC 4517 §3.3.13) as RFC 3339 UTC:
/// `20261203061902Z` and `20261203061902.0Z` → `2026-12-03T06:19:02Z`,
/// `20261203071902.5+0100` → `2026-12-03T06:19:02.5Z`.
///
/// Minutes and seconds may be left out; a fraction (`.` or `,`) is a fraction of the last
/// component given, as the RFC says; the time zone (`Z`, `±hh` or `±hhmm`) is required. A leap
/// second (60) is read as 59. None for anything else.
pub fn generalized_time_rfc3339(value: &str) -> Option<String> {
    let unix_nanos = generalized_unix_nanos(value.trim())?;
    OffsetDateTime::from_unix_timestamp_nanos(unix_nanos).ok()?.format(&Rfc3339).ok()
}

/// GeneralizedTime text to nanoseconds since the Unix epoch.
fn generalized_unix_nanos(text: &str) -> Option<i128> {
    let mut rest = text.as_bytes();
    let year = take_number(&mut rest, 4)?;
    let month = take_number(&mut rest, 2)?;
    let day = take_number(&mut rest, 2)?;
    let hour = take_number(&mut rest, 2)?;
    let (minute, second, unit_seconds) = match (take_number(&mut rest, 2), rest.first()) {
        (None, _) => (0, 0, 3600),
        (Some(minute), Some(digit)) if digit.is_ascii_digit() => (minute, take_number(&mut rest, 2)?, 1),
        (Some(minute), _) => (minute, 0, 60),
    };
    let fraction_nanos = take_fraction(&mut rest)?;
    let offset = take_zone(&mut rest)?;
    if !rest.is_empty() {
        return None;
    }
    let date = Date::from_calendar_date(
        i32::from(year),
        Month::try_from(u8::try_from(month).ok()?).ok()?,
        u8::try_from(day).ok()?,
    )
    .ok()?;
    let time = Time::from_hms(u8::try_from(hour).ok()?, u8::try_from(minute).ok()?, u8::try_from(second.min(59)).ok()?)
        .ok()?;
    let whole = PrimitiveDateTime::new(date, time).assume_offset(offset).unix_timestamp_nanos();
    whole.checked_add(fraction_nanos.checked_mul(unit_seconds)?)
}

/// Exactly `digits` ASCII digits as a number, consumed only if all are there.
fn take_number(rest: &mut &[u8], digits: usize) -> Option<u16> {
    let (head, tail) = rest.split_at_checked(digits)?;
    let value = head.iter().try_fold(0u16, |acc, &digit| {
        let value = char::from(digit).to_digit(10)?;
        acc.checked_mul(10)?.checked_add(u16::try_from(value).ok()?)
    })?;
    *rest = tail;
    Some(value)
}

/// An optional `.ddd` or `,ddd` fraction as nanoseconds of one unit (digits past the ninth
/// are read but ignored). Some(0) when there is none; None when the separator has no digits.
fn take_fraction(rest: &mut &[u8]) -> Option<i128> {
    let Some((b'.' | b',', after)) = rest.split_first() else {
        return Some(0);
    };
    let count = after.iter().take_while(|byte| byte.is_ascii_digit()).count();
    let (digits, tail) = after.split_at_checked(count)?;
    if digits.is_empty() {
        return None;
    }
    *rest = tail;
    let mut nanos: i128 = 0;
    for position in 0..9 {
        let digit = digits.get(position).map_or(Some(0), |digit| char::from(*digit).to_digit(10))?;
        nanos = nanos.checked_mul(10)?.checked_add(i128::from(digit))?;
    }
    Some(nanos)
}

/// `Z`, `+hh`, `+hhmm`, `-hh` or `-hhmm`.
fn take_zone(rest: &mut &[u8]) -> Option<UtcOffset> {
    let (&sign, after) = rest.split_first()?;
    *rest = after;
    let negative = match sign {
        b'Z' => return Some(UtcOffset::UTC),
        b'+' => false,
        b'-' => true,
        _ => return None,
    };
    let hours = i8::try_from(take_number(rest, 2)?).ok()?;
    let minutes = if rest.is_empty() { 0 } else { i8::try_from(take_number(rest, 2)?).ok()? };
    if hours > 23 || minutes > 59 {
        return None;
    }
    let (hours, minutes) = if negative { (hours.checked_neg()?, minutes.checked_neg()?) } else { (hours, minutes) };
    UtcOffset::from_hms(hours, minutes, 0).ok()
}

/// RFC 3339 text as GeneralizedTime in UTC, `YYYYMMDDHHMMSSZ`, for filters such as
/// `(modifyTimestamp>=20261203061902Z)` and `(whenChanged>=…)`.
///
/// The fraction is dropped (rounded down to the second): a `>=` filter then matches the same
/// second again rather than miss a change made within it, and both OpenLDAP and AD accept
/// this form. None for text that is not RFC 3339 or falls outside years 0000–9999 in UTC.
pub fn rfc3339_to_generalized(text: &str) -> Option<String> {
    let parsed = OffsetDateTime::parse(text.trim(), &Rfc3339).ok()?;
    let utc = OffsetDateTime::from_unix_timestamp(parsed.unix_timestamp()).ok()?;
    if !(0..=9999).contains(&utc.year()) {
        return None;
    }
    Some(format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}Z",
        utc.year(),
        u8::from(utc.month()),
        utc.day(),
        utc.hour(),
        utc.minute(),
        utc.second()
    ))
}

// ---------------------------------------------------------------------------------------------
// userAccountControl

/// The userAccountControl bits, with the names AD documents them by.
///
/// AD does not keep LOCKOUT and PASSWORD_EXPIRED in the stored userAccountControl: they are
/// only set in the constructed attribute msDS-User-Account-Control-Computed, which must be
/// requested by name. [`UacFlags::locked_out`] and [`UacFlags::password_expired`] mean
/// something only on a value read from that attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UacFlags(pub u32);

/// Every documented bit and its name, in bit order (for [`UacFlags::names`]).
const UAC_NAMES: [(u32, &str); 22] = [
    (0x0000_0001, "SCRIPT"),
    (0x0000_0002, "ACCOUNTDISABLE"),
    (0x0000_0008, "HOMEDIR_REQUIRED"),
    (0x0000_0010, "LOCKOUT"),
    (0x0000_0020, "PASSWD_NOTREQD"),
    (0x0000_0040, "PASSWD_CANT_CHANGE"),
    (0x0000_0080, "ENCRYPTED_TEXT_PWD_ALLOWED"),
    (0x0000_0100, "TEMP_DUPLICATE_ACCOUNT"),
    (0x0000_0200, "NORMAL_ACCOUNT"),
    (0x0000_0800, "INTERDOMAIN_TRUST_ACCOUNT"),
    (0x0000_1000, "WORKSTATION_TRUST_ACCOUNT"),
    (0x0000_2000, "SERVER_TRUST_ACCOUNT"),
    (0x0001_0000, "DONT_EXPIRE_PASSWORD"),
    (0x0002_0000, "MNS_LOGON_ACCOUNT"),
    (0x0004_0000, "SMARTCARD_REQUIRED"),
    (0x0008_0000, "TRUSTED_FOR_DELEGATION"),
    (0x0010_0000, "NOT_DELEGATED"),
    (0x0020_0000, "USE_DES_KEY_ONLY"),
    (0x0040_0000, "DONT_REQ_PREAUTH"),
    (0x0080_0000, "PASSWORD_EXPIRED"),
    (0x0100_0000, "TRUSTED_TO_AUTH_FOR_DELEGATION"),
    (0x0400_0000, "PARTIAL_SECRETS_ACCOUNT"),
];

impl UacFlags {
    pub const ACCOUNTDISABLE: u32 = 0x2;
    pub const LOCKOUT: u32 = 0x10;
    pub const NORMAL_ACCOUNT: u32 = 0x200;
    pub const DONT_EXPIRE_PASSWORD: u32 = 0x1_0000;
    pub const PASSWORD_EXPIRED: u32 = 0x80_0000;

    /// The attribute's decimal text. LDAP INTEGERs are signed, so a value with the top bit
    /// set may come as a negative number; both forms are read as the same 32 bits.
    pub fn parse(value: &str) -> Option<UacFlags> {
        let number: i64 = value.trim().parse().ok()?;
        match u32::try_from(number) {
            Ok(bits) => Some(UacFlags(bits)),
            Err(_) => i32::try_from(number).ok().map(|signed| UacFlags(u32::from_be_bytes(signed.to_be_bytes()))),
        }
    }

    /// Whether every bit of `bits` is set.
    pub fn contains(self, bits: u32) -> bool {
        self.0 & bits == bits
    }

    pub fn disabled(self) -> bool {
        self.contains(Self::ACCOUNTDISABLE)
    }

    /// See the type's note: only on msDS-User-Account-Control-Computed.
    pub fn locked_out(self) -> bool {
        self.contains(Self::LOCKOUT)
    }

    /// See the type's note: only on msDS-User-Account-Control-Computed.
    pub fn password_expired(self) -> bool {
        self.contains(Self::PASSWORD_EXPIRED)
    }

    pub fn dont_expire_password(self) -> bool {
        self.contains(Self::DONT_EXPIRE_PASSWORD)
    }

    pub fn normal_account(self) -> bool {
        self.contains(Self::NORMAL_ACCOUNT)
    }

    /// The names of the set bits, for display; undocumented bits are left out.
    pub fn names(self) -> Vec<&'static str> {
        UAC_NAMES.iter().filter(|(bit, _)| self.0 & bit != 0).map(|(_, name)| *name).collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Filters (RFC 4515)

/// A value for an RFC 4515 filter assertion: `*`, `(`, `)`, `\` and NUL escaped as `\2a`,
/// `\28`, `\29`, `\5c`, `\00`, so a user's name can never widen or break a filter. Other
/// characters, non-ASCII included, stay as UTF-8, which the RFC allows.
pub fn escape_filter_value(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '*' => escaped.push_str("\\2a"),
            '(' => escaped.push_str("\\28"),
            ')' => escaped.push_str("\\29"),
            '\\' => escaped.push_str("\\5c"),
            '\0' => escaped.push_str("\\00"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// The AND of filters. Blank parts are skipped and a part without its parentheses
/// (`objectClass=user`, as admins often type) gets them; one part is returned alone, and
/// none gives `(objectClass=*)`, the filter that matches every entry.
pub fn and_filter(parts: &[&str]) -> String {
    let parts: Vec<String> = parts
        .iter()
        .map(|part| part.trim())
        .filter(|part| !part.is_empty())
        .map(|part| if part.starts_with('(') { part.to_string() } else { format!("({part})") })
        .collect();
    match parts.as_slice() {
        [] => "(objectClass=*)".to_string(),
        [single] => single.clone(),
        many => format!("(&{})", many.concat()),
    }
}

/// An open parenthesis while [`check_filter`] scans: where it is and how many components it holds.
struct FilterFrame {
    start: usize,
    children: usize,
}

/// A cheap check of an admin-entered filter before it is sent, so a typo is reported where it
/// is typed rather than as a server error during a run. Not a full RFC 4515 parser; it checks:
/// the filter is not blank and is one parenthesised component; parentheses balance; no `()`;
/// `&` and `|` hold components (or are the absolute `(&)` / `(|)` of RFC 4526), `!` holds
/// exactly one; a simple component has an `=` and no unescaped `(`; every `\` is followed by
/// two hex digits.
pub fn check_filter(filter: &str) -> Result<(), CodecError> {
    let filter = filter.trim();
    if filter.is_empty() {
        return fail("filter: empty");
    }
    let mut open: Vec<FilterFrame> = Vec::new();
    let mut chars = filter.char_indices();
    while let Some((position, c)) = chars.next() {
        if position > 0 && open.is_empty() {
            return fail(format!("filter: text after the end of the filter at {position}"));
        }
        match c {
            '(' => {
                if let Some(parent) = open.last_mut() {
                    parent.children = parent.children.saturating_add(1);
                }
                open.push(FilterFrame { start: position, children: 0 });
            }
            ')' => {
                let frame =
                    open.pop().ok_or_else(|| CodecError::new(format!("filter: unbalanced ')' at {position}")))?;
                check_filter_component(filter, &frame, position)?;
            }
            '\\' => check_filter_escape(&mut chars, position)?,
            _ if open.is_empty() => return fail("filter: must start with '('"),
            _ => {}
        }
    }
    if open.is_empty() {
        Ok(())
    } else {
        fail(format!("filter: {} '(' not closed", open.len()))
    }
}

/// Two hex digits after a backslash.
fn check_filter_escape(chars: &mut std::str::CharIndices<'_>, position: usize) -> Result<(), CodecError> {
    let first = chars.next().map(|(_, c)| c);
    let second = chars.next().map(|(_, c)| c);
    match (first, second) {
        (Some(high), Some(low)) if high.is_ascii_hexdigit() && low.is_ascii_hexdigit() => Ok(()),
        _ => fail(format!("filter: '\\' at {position} is not followed by two hex digits")),
    }
}

/// The component that ends at `end` (its `)`).
fn check_filter_component(filter: &str, frame: &FilterFrame, end: usize) -> Result<(), CodecError> {
    let inner = frame.start.checked_add(1).and_then(|start| filter.get(start..end)).unwrap_or_default();
    let at = frame.start;
    match (inner.chars().next(), frame.children) {
        (None, _) => fail(format!("filter: empty '()' at {at}")),
        (Some('&' | '|'), 0) if inner.trim().len() == 1 => Ok(()),
        (Some(operator @ ('&' | '|')), 0) => fail(format!("filter: '{operator}' at {at} holds no component")),
        (Some('!'), 1) | (Some('&' | '|'), _) => Ok(()),
        (Some('!'), _) => fail(format!("filter: '!' at {at} must hold exactly one component")),
        (Some(_), 0) if inner.contains('=') => Ok(()),
        (Some(_), 0) => fail(format!("filter: no '=' in the component at {at}")),
        (Some(_), _) => fail(format!("filter: unescaped '(' in the value at {at} (write it as \\28)")),
    }
}

// ---------------------------------------------------------------------------------------------
// Distinguished names (RFC 4514)

/// One relative distinguished name: its attribute type and value pairs (more than one in a
/// multi-valued RDN such as `CN=Ann+UID=ann`), types as written, values unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rdn(pub Vec<(String, String)>);

/// A DN string to its RDNs, leaf first. The empty DN (the root) is no RDN.
///
/// Values are unescaped: `\,` `\+` `\"` `\\` `\#` `\ ` (and any other escaped character) stand
/// for themselves, `\xx` hex pairs for a byte, and the bytes must make UTF-8. Spaces around
/// `=`, `,` and `+` are dropped, escaped ones kept. A value in `#hex` form (the BER of the
/// value) is decoded when it is a string type, and else kept as the `#hex` text. Lenient
/// where RFC 4514 is strict but the meaning is clear: unescaped `"`, `;`, `<`, `>` and `=`
/// are taken as plain characters, since only `,` and `+` separate anything here.
pub fn parse_dn(dn: &str) -> Result<Vec<Rdn>, CodecError> {
    let mut scanner = DnScanner { rest: dn.as_bytes() };
    scanner.skip_spaces();
    let mut rdns = Vec::new();
    if scanner.rest.is_empty() {
        return Ok(rdns);
    }
    let mut pairs = Vec::new();
    loop {
        pairs.push(scanner.attribute_type_and_value()?);
        match scanner.bump() {
            None => break,
            Some(b'+') => {}
            Some(_) => rdns.push(Rdn(std::mem::take(&mut pairs))),
        }
    }
    rdns.push(Rdn(pairs));
    Ok(rdns)
}

/// A cursor over a DN's bytes. Every byte the syntax cares about is ASCII, and UTF-8 never
/// uses ASCII bytes inside a multi-byte character, so scanning bytes is safe.
struct DnScanner<'a> {
    rest: &'a [u8],
}

impl DnScanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let (&byte, rest) = self.rest.split_first()?;
        self.rest = rest;
        Some(byte)
    }

    fn skip_spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.bump();
        }
    }

    /// `type = value`, with the spaces around it; stops before the `,` or `+` that follows.
    fn attribute_type_and_value(&mut self) -> Result<(String, String), CodecError> {
        self.skip_spaces();
        let attribute_type = self.attribute_type()?;
        self.skip_spaces();
        if self.bump() != Some(b'=') {
            return fail(format!("DN: no '=' after {attribute_type:?}"));
        }
        self.skip_spaces();
        let value = if self.peek() == Some(b'#') { self.hex_value()? } else { self.string_value()? };
        Ok((attribute_type, value))
    }

    /// A descr (`cn`, `msDS-x`) or a numericoid (`2.5.4.3`).
    fn attribute_type(&mut self) -> Result<String, CodecError> {
        let length = self.rest.iter().take_while(|b| b.is_ascii_alphanumeric() || **b == b'-' || **b == b'.').count();
        let (name, rest) = self.rest.split_at_checked(length).unwrap_or((self.rest, &[]));
        let name = std::str::from_utf8(name).unwrap_or_default();
        if !is_descr(name) && !is_numeric_oid(name) {
            return fail(format!("DN: bad attribute type {name:?}"));
        }
        self.rest = rest;
        Ok(name.to_string())
    }

    /// A string value up to the next unescaped `,` or `+`, unescaped, trailing unescaped spaces dropped.
    fn string_value(&mut self) -> Result<String, CodecError> {
        let mut bytes = Vec::new();
        let mut kept = 0;
        while let Some(byte) = self.peek() {
            match byte {
                b',' | b'+' => break,
                b'\\' => {
                    self.bump();
                    bytes.push(self.escaped()?);
                    kept = bytes.len();
                }
                _ => {
                    self.bump();
                    bytes.push(byte);
                    if byte != b' ' {
                        kept = bytes.len();
                    }
                }
            }
        }
        bytes.truncate(kept);
        String::from_utf8(bytes).map_err(|_| CodecError::new("DN: value is not UTF-8"))
    }

    /// The byte after a `\`: a hex pair's byte, or the character itself.
    fn escaped(&mut self) -> Result<u8, CodecError> {
        let first = self.bump().ok_or_else(|| CodecError::new("DN: ends inside an escape"))?;
        if !first.is_ascii_hexdigit() {
            return Ok(first);
        }
        self.bump()
            .and_then(|second| hex_pair(first, second))
            .ok_or_else(|| CodecError::new("DN: '\\' and one hex digit without a second"))
    }

    /// `#` and hex pairs, up to a separator or spaces.
    fn hex_value(&mut self) -> Result<String, CodecError> {
        self.bump();
        let length = self.rest.iter().take_while(|b| b.is_ascii_hexdigit()).count();
        let (digits, rest) = self.rest.split_at_checked(length).unwrap_or((self.rest, &[]));
        self.rest = rest;
        self.skip_spaces();
        if !matches!(self.peek(), None | Some(b',' | b'+')) {
            return fail("DN: junk after a #hex value");
        }
        let hex = std::str::from_utf8(digits).unwrap_or_default();
        if hex.is_empty() {
            return fail("DN: '#' without hex digits");
        }
        let ber = decode_hex(hex)?;
        Ok(ber_string_value(&ber).unwrap_or_else(|| format!("#{}", hex.to_ascii_lowercase())))
    }
}

/// The text of a BER-encoded string value (OCTET STRING, UTF8String, PrintableString,
/// IA5String, TeletexString), if it is one and is UTF-8.
fn ber_string_value(ber: &[u8]) -> Option<String> {
    let mut reader = Ber::new(ber);
    let element = reader.read_tlv().ok()?;
    reader.finish().ok()?;
    if !matches!(element.tag, 0x04 | 0x0c | 0x13 | 0x14 | 0x16) {
        return None;
    }
    String::from_utf8(element.value.to_vec()).ok()
}

/// `ALPHA *(ALPHA / DIGIT / "-")`.
fn is_descr(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|first| first.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// `number *("." number)`, no empty arcs.
fn is_numeric_oid(name: &str) -> bool {
    !name.is_empty() && name.split('.').all(|arc| !arc.is_empty() && arc.bytes().all(|b| b.is_ascii_digit()))
}

/// A value escaped for a DN string (RFC 4514 §2.4): `"` `+` `,` `;` `<` `>` `\` and NUL
/// everywhere, `#` and space at the start, space at the end.
pub fn escape_dn_value(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    let mut chars = value.chars().peekable();
    let mut first = true;
    while let Some(c) = chars.next() {
        let last = chars.peek().is_none();
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' => {
                escaped.push('\\');
                escaped.push(c);
            }
            '\0' => escaped.push_str("\\00"),
            '#' if first => escaped.push_str("\\#"),
            ' ' if first || last => escaped.push_str("\\ "),
            other => escaped.push(other),
        }
        first = false;
    }
    escaped
}

/// The first RDN's first value, unescaped: a group's name from its DN
/// (`CN=Domain Users,CN=Users,DC=x` → `Domain Users`). None for the empty DN or a bad one.
pub fn rdn_value(dn: &str) -> Option<String> {
    let rdns = parse_dn(dn).ok()?;
    let first = rdns.into_iter().next()?;
    first.0.into_iter().next().map(|(_, value)| value)
}

/// A DN in one canonical form, for case-insensitive equality: types and values lower-cased,
/// values re-escaped the one RFC 4514 way, the pairs of a multi-valued RDN sorted (their order
/// means nothing), no spaces around separators. `CN=Ann Lee, OU=Staff,DC=X` and
/// `cn=ann lee,ou=staff,dc=x` normalize alike. A DN that does not parse is only trimmed and
/// lower-cased, so it still equals itself. Types are not mapped (`2.5.4.3` stays apart from `cn`).
pub fn normalize_dn(dn: &str) -> String {
    match normalized_rdns(dn) {
        Ok(rdns) => rdns.join(","),
        Err(_) => dn.trim().to_lowercase(),
    }
}

fn normalized_rdns(dn: &str) -> Result<Vec<String>, CodecError> {
    Ok(parse_dn(dn)?.iter().map(normalize_rdn).collect())
}

fn normalize_rdn(rdn: &Rdn) -> String {
    let mut pairs: Vec<String> = rdn
        .0
        .iter()
        .map(|(attribute_type, value)| {
            format!("{}={}", attribute_type.to_ascii_lowercase(), escape_dn_value(&value.to_lowercase()))
        })
        .collect();
    pairs.sort();
    pairs.join("+")
}

/// Whether `dn` is `base` or below it, compared RDN by RDN after normalizing (so
/// `CN=a,OU=Staffing,DC=x` is not under `OU=Staff,DC=x`). Everything is under the empty DN.
/// False if either does not parse.
pub fn dn_is_under(dn: &str, base: &str) -> bool {
    match (normalized_rdns(dn), normalized_rdns(base)) {
        (Ok(dn), Ok(base)) => dn.ends_with(&base),
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------
// Ranged attributes (AD range retrieval and DirSync incremental values)

/// An attribute description with a range option, as AD returns large multi-valued
/// attributes in chunks: `member;range=0-1499` → base `member`, low 0, high Some(1499);
/// `member;range=1500-*` → high None (the last chunk).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangedAttr {
    pub base: String,
    pub low: u32,
    pub high: Option<u32>,
}

/// The range option of an attribute description, found among its options case-insensitively;
/// the other options stay in `base`. None if there is none, or it is malformed, or high < low.
pub fn parse_ranged_attribute(name: &str) -> Option<RangedAttr> {
    let mut parts = name.split(';');
    let mut base = vec![parts.next()?];
    let mut range = None;
    for option in parts {
        match option.get(..6).filter(|prefix| prefix.eq_ignore_ascii_case("range=")).and(option.get(6..)) {
            Some(_) if range.is_some() => return None,
            Some(spec) => range = Some(parse_range(spec)?),
            None => base.push(option),
        }
    }
    let (low, high) = range?;
    let base = base.join(";");
    (!base.is_empty()).then_some(RangedAttr { base, low, high })
}

/// `low-high` or `low-*`.
fn parse_range(spec: &str) -> Option<(u32, Option<u32>)> {
    let (low, high) = spec.split_once('-')?;
    let low = parse_decimal(low)?;
    let high = if high == "*" { None } else { Some(parse_decimal(high)?) };
    match high {
        Some(high) if high < low => None,
        _ => Some((low, high)),
    }
}

/// Digits only (`u32::from_str` would also take a `+`).
fn parse_decimal(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// The attribute to ask for next after the chunk `last`: `member;range=1500-*` after
/// `member;range=0-1499`. None after the last chunk (`…-*`). Asking for `-*` lets the server
/// choose the chunk size, which it reports back in the next range.
pub fn next_range_request(base: &str, last: &RangedAttr) -> Option<String> {
    let next = last.high?.checked_add(1)?;
    Some(format!("{base};range={next}-*"))
}

/// A DirSync incremental-values change (flag [`DIRSYNC_INCREMENTAL_VALUES`]): AD names the
/// values added to a linked attribute `member;range=1-1` and those removed `member;range=0-0`.
/// Returns the base attribute and true for added, false for removed; None for any other name.
pub fn incremental_value_change(name: &str) -> Option<(String, bool)> {
    let ranged = parse_ranged_attribute(name)?;
    match (ranged.low, ranged.high) {
        (1, Some(1)) => Some((ranged.base, true)),
        (0, Some(0)) => Some((ranged.base, false)),
        _ => None,
    }
}

/// Every parser of this module on `data`: the fuzz target's body, and what the corpus
/// replay in `host/tests/all/fuzz_corpus.rs` runs each seed through. Must never panic.
pub fn fuzz_one(data: &[u8]) {
    let _ = parse_sync_state(data);
    let _ = parse_sync_done(data);
    let _ = parse_sync_info(data);
    let _ = parse_dirsync_response(data);
    let _ = guid_string(data);
    let _ = sid_string(data);
    let text = String::from_utf8_lossy(data);
    let _ = guid_bytes(&text);
    let _ = parse_dn(&text);
    let _ = normalize_dn(&text);
    let _ = dn_is_under(&text, "DC=example,DC=com");
    let _ = rdn_value(&text);
    let _ = parse_ranged_attribute(&text);
    let _ = incremental_value_change(&text);
    let _ = generalized_time_rfc3339(&text);
    let _ = rfc3339_to_generalized(&text);
    let _ = filetime_rfc3339(&text);
    let _ = account_expired(&text, time::OffsetDateTime::UNIX_EPOCH);
    let _ = check_filter(&text);
    let _ = UacFlags::parse(&text);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        let digits: String = text.split_whitespace().collect();
        decode_hex(&digits).unwrap()
    }

    // --- BER reader and writer

    #[test]
    fn lengths_short_long_and_refused() {
        assert_eq!(Ber::new(&hex("04 03 61 62 63")).read_octet_string().unwrap(), b"abc");
        assert_eq!(Ber::new(&hex("04 81 03 61 62 63")).read_octet_string().unwrap(), b"abc");
        assert_eq!(
            Ber::new(&hex("04 82 00 03 61 62 63")).read_octet_string().unwrap(),
            b"abc",
            "non-minimal length is BER"
        );
        assert!(Ber::new(&hex("04 80 61 00 00")).read_tlv().is_err(), "indefinite");
        assert!(Ber::new(&hex("04 85 00 00 00 00 03 61 62 63")).read_tlv().is_err(), "5 length octets");
        assert!(Ber::new(&hex("04 ff")).read_tlv().is_err(), "reserved 0xff");
        assert!(Ber::new(&hex("04 04 61 62 63")).read_tlv().is_err(), "past the end");
        assert!(Ber::new(&hex("04 84 ff ff ff ff 00")).read_tlv().is_err(), "huge");
        assert!(Ber::new(&hex("04 82 01")).read_tlv().is_err(), "length cut short");
        assert!(Ber::new(&hex("04")).read_tlv().is_err(), "no length");
        assert!(Ber::new(&[]).read_tlv().is_err(), "nothing");
        assert!(Ber::new(&hex("1f 01 00")).read_tlv().is_err(), "multi-octet tag");
    }

    #[test]
    fn long_lengths_round_trip() {
        for size in [0usize, 1, 127, 128, 255, 256, 65_535, 65_536, 70_000] {
            let content = vec![0x5a; size];
            let encoded = ber_octet_string(&content);
            let mut reader = Ber::new(&encoded);
            assert_eq!(reader.read_octet_string().unwrap(), content.as_slice(), "size {size}");
            reader.finish().unwrap();
        }
        assert_eq!(tlv(0x04, &[0; 128]).get(..3).unwrap(), &[0x04, 0x81, 0x80]);
        assert_eq!(tlv(0x04, &[0; 256]).get(..4).unwrap(), &[0x04, 0x82, 0x01, 0x00]);
    }

    #[test]
    fn integers_are_minimal_twos_complement() {
        let cases: [(i64, &str); 12] = [
            (0, "02 01 00"),
            (1, "02 01 01"),
            (127, "02 01 7f"),
            (128, "02 02 00 80"),
            (256, "02 02 01 00"),
            (-1, "02 01 ff"),
            (-128, "02 01 80"),
            (-129, "02 02 ff 7f"),
            (-2_147_483_648, "02 04 80 00 00 00"),
            (2_147_483_648, "02 05 00 80 00 00 00"),
            (i64::MAX, "02 08 7f ff ff ff ff ff ff ff"),
            (i64::MIN, "02 08 80 00 00 00 00 00 00 00"),
        ];
        for (value, encoding) in cases {
            assert_eq!(ber_integer(value), hex(encoding), "{value}");
            assert_eq!(Ber::new(&hex(encoding)).read_integer().unwrap(), value, "{value}");
        }
        assert_eq!(Ber::new(&hex("02 02 00 01")).read_integer().unwrap(), 1, "non-minimal read");
        assert!(Ber::new(&hex("02 00")).read_integer().is_err(), "empty");
        assert!(Ber::new(&hex("02 09 00 ff ff ff ff ff ff ff ff")).read_integer().is_err(), "too long");
        assert_eq!(ber_enumerated(3), hex("0a 01 03"));
    }

    #[test]
    fn booleans() {
        assert_eq!(ber_boolean(true), hex("01 01 ff"));
        assert_eq!(ber_boolean(false), hex("01 01 00"));
        assert!(Ber::new(&hex("01 01 01")).read_boolean().unwrap(), "any non-zero is TRUE");
        assert!(!Ber::new(&hex("01 01 00")).read_boolean().unwrap());
        assert!(Ber::new(&hex("01 02 00 00")).read_boolean().is_err());
        assert!(Ber::new(&hex("01 00")).read_boolean().is_err());
    }

    #[test]
    fn wrong_tag_and_trailing_bytes_are_errors() {
        assert!(Ber::new(&hex("04 01 00")).read_integer().is_err());
        let trailing = hex("02 01 00 00");
        let mut reader = Ber::new(&trailing);
        reader.read_integer().unwrap();
        assert!(reader.finish().is_err());
        assert!(single_sequence(&hex("30 00 00")).is_err());
    }

    #[test]
    fn nesting_is_capped() {
        let mut encoded = ber_integer(7);
        for _ in 0..20 {
            encoded = ber_sequence(&[encoded]);
        }
        let mut reader = Ber::new(&encoded);
        let mut levels = 0;
        while let Ok(inner) = reader.read_sequence() {
            reader = inner;
            levels += 1;
        }
        assert_eq!(levels, usize::from(MAX_DEPTH));
    }

    // --- RFC 4533

    #[test]
    fn sync_request_round_trips() {
        for (mode, cookie, reload) in [
            (SyncMode::RefreshOnly, None, false),
            (SyncMode::RefreshAndPersist, Some(&b"rid=000,csn=x"[..]), true),
            (SyncMode::RefreshOnly, Some(&b""[..]), false),
        ] {
            let encoded = encode_sync_request(mode, cookie, reload);
            let mut sequence = single_sequence(&encoded).unwrap();
            assert_eq!(sequence.read_enumerated().unwrap(), mode.code());
            assert_eq!(sequence.read_optional(TAG_OCTET_STRING).unwrap(), cookie);
            assert_eq!(sequence.read_optional_boolean().unwrap().unwrap_or(false), reload);
            sequence.finish().unwrap();
        }
        assert_eq!(encode_sync_request(SyncMode::RefreshOnly, None, false), hex("30 03 0a 01 01"));
        assert_eq!(
            encode_sync_request(SyncMode::RefreshAndPersist, Some(b"c"), true),
            hex("30 09 0a 01 03 04 01 63 01 01 ff")
        );
    }

    const UUID_A: [u8; 16] =
        [0x6e, 0x3b, 0x5a, 0x0e, 0x1f, 0x4c, 0x10, 0x3c, 0x8d, 0x3e, 0x2b, 0x1c, 0x6a, 0x64, 0x9f, 0x0a];
    const UUID_B: [u8; 16] =
        [0xf0, 0x0d, 0xca, 0xfe, 0x00, 0x01, 0x10, 0x3d, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01];
    const OPENLDAP_COOKIE: &[u8] = b"rid=000,csn=20261203061902.123456Z#000000#000#000000";

    /// A Sync State control value as OpenLDAP sends it with an add.
    fn openldap_sync_state() -> Vec<u8> {
        let cookie_element = [&[0x04, u8::try_from(OPENLDAP_COOKIE.len()).unwrap()][..], OPENLDAP_COOKIE].concat();
        let content = [&hex("0a 01 01 04 10")[..], &UUID_A, &cookie_element].concat();
        [&[0x30, u8::try_from(content.len()).unwrap()][..], &content].concat()
    }

    #[test]
    fn sync_state_as_openldap_sends_it() {
        let value = openldap_sync_state();
        assert_eq!(value.len(), 2 + 3 + 18 + 2 + OPENLDAP_COOKIE.len());
        let state = parse_sync_state(&value).unwrap();
        assert_eq!(state.state, SyncStateKind::Add);
        assert_eq!(state.entry_uuid, UUID_A);
        assert_eq!(state.cookie.as_deref(), Some(OPENLDAP_COOKIE));
        assert_eq!(uuid_string(&state.entry_uuid), "6e3b5a0e-1f4c-103c-8d3e-2b1c6a649f0a");
    }

    #[test]
    fn sync_state_refusals() {
        let without_cookie = ber_sequence(&[ber_enumerated(3), ber_octet_string(&UUID_A)]);
        let state = parse_sync_state(&without_cookie).unwrap();
        assert_eq!((state.state, state.cookie), (SyncStateKind::Delete, None));
        let short_uuid = ber_sequence(&[ber_enumerated(1), ber_octet_string(&UUID_A[..15])]);
        assert!(parse_sync_state(&short_uuid).is_err());
        let bad_state = ber_sequence(&[ber_enumerated(4), ber_octet_string(&UUID_A)]);
        assert!(parse_sync_state(&bad_state).is_err());
        let extra =
            ber_sequence(&[ber_enumerated(1), ber_octet_string(&UUID_A), ber_octet_string(b"c"), ber_integer(1)]);
        assert!(parse_sync_state(&extra).is_err());
        assert!(parse_sync_state(&[]).is_err());
    }

    #[test]
    fn sync_done_forms() {
        assert_eq!(parse_sync_done(&hex("30 00")).unwrap(), SyncDoneValue { cookie: None, refresh_deletes: false });
        assert_eq!(
            parse_sync_done(&hex("30 06 04 01 63 01 01 ff")).unwrap(),
            SyncDoneValue { cookie: Some(b"c".to_vec()), refresh_deletes: true }
        );
        assert_eq!(
            parse_sync_done(&hex("30 03 01 01 ff")).unwrap(),
            SyncDoneValue { cookie: None, refresh_deletes: true }
        );
        assert!(parse_sync_done(&hex("30 03 02 01 01")).is_err());
        assert!(parse_sync_done(&hex("30 06 01 01 ff 04 01 63")).is_err(), "fields out of order");
    }

    #[test]
    fn sync_info_new_cookie_and_refresh_phases() {
        assert_eq!(parse_sync_info(&hex("80 03 61 62 63")).unwrap(), SyncInfo::NewCookie(b"abc".to_vec()));
        assert_eq!(
            parse_sync_info(&hex("a1 00")).unwrap(),
            SyncInfo::RefreshDelete { cookie: None, refresh_done: true },
            "refreshDone defaults to TRUE"
        );
        assert_eq!(
            parse_sync_info(&hex("a2 06 04 01 63 01 01 00")).unwrap(),
            SyncInfo::RefreshPresent { cookie: Some(b"c".to_vec()), refresh_done: false }
        );
        assert!(parse_sync_info(&hex("a0 03 04 01 63")).is_err(), "constructed [0]");
        assert!(parse_sync_info(&hex("81 00")).is_err(), "primitive [1]");
        assert!(parse_sync_info(&hex("80 01 63 00")).is_err(), "trailing");
        assert!(parse_sync_info(&[]).is_err());
    }

    #[test]
    fn sync_info_sync_id_set_built_by_hand() {
        // [3] { cookie "ck", refreshDeletes TRUE, SET { uuid A, uuid B } }
        let set = [&hex("31 24 04 10")[..], &UUID_A, &hex("04 10"), &UUID_B].concat();
        let body = [&hex("04 02 63 6b 01 01 ff")[..], &set].concat();
        let value = [&[0xa3, u8::try_from(body.len()).unwrap()][..], &body].concat();
        assert_eq!(value.len(), 2 + 7 + 38);
        assert_eq!(
            parse_sync_info(&value).unwrap(),
            SyncInfo::SyncIdSet { cookie: Some(b"ck".to_vec()), refresh_deletes: true, uuids: vec![UUID_A, UUID_B] }
        );
        assert_eq!(
            parse_sync_info(&hex("a3 02 31 00")).unwrap(),
            SyncInfo::SyncIdSet { cookie: None, refresh_deletes: false, uuids: vec![] }
        );
        assert!(parse_sync_info(&hex("a3 00")).is_err(), "syncUUIDs is not optional");
        assert!(parse_sync_info(&hex("a3 05 31 03 04 01 00")).is_err(), "1-byte uuid");
    }

    // --- Active Directory

    #[test]
    fn dirsync_request_signs_the_flags() {
        let flags = DIRSYNC_OBJECT_SECURITY | DIRSYNC_ANCESTORS_FIRST_ORDER | DIRSYNC_INCREMENTAL_VALUES;
        let encoded = encode_dirsync_request(flags, 1_048_576, b"cookie");
        let mut sequence = single_sequence(&encoded).unwrap();
        assert_eq!(sequence.read_integer().unwrap(), -2_147_481_599);
        assert_eq!(sequence.read_integer().unwrap(), 1_048_576);
        assert_eq!(sequence.read_octet_string().unwrap(), b"cookie");
        sequence.finish().unwrap();
        assert_eq!(
            encode_dirsync_request(DIRSYNC_INCREMENTAL_VALUES, 0, b""),
            hex("30 0b 02 04 80 00 00 00 02 01 00 04 00")
        );
        assert_eq!(encode_dirsync_request(DIRSYNC_PUBLIC_DATA_ONLY, 0, b""), hex("30 09 02 02 20 00 02 01 00 04 00"));
    }

    #[test]
    fn dirsync_response() {
        let value = ber_sequence(&[ber_integer(1), ber_integer(0), ber_octet_string(b"next")]);
        assert_eq!(
            parse_dirsync_response(&value).unwrap(),
            DirSyncResponse { more_results: true, cookie: b"next".to_vec() }
        );
        let done = ber_sequence(&[ber_integer(0), ber_integer(1_048_576), ber_octet_string(b"")]);
        assert!(!parse_dirsync_response(&done).unwrap().more_results);
        assert!(parse_dirsync_response(&ber_sequence(&[ber_integer(0), ber_integer(0)])).is_err());
    }

    #[test]
    fn object_guid_vector_and_inverse() {
        let bytes = hex("e0 04 25 3f 89 4f d3 11 9a 0c 03 05 e8 2c 33 01");
        assert_eq!(guid_string(&bytes).unwrap(), "3f2504e0-4f89-11d3-9a0c-0305e82c3301");
        assert_eq!(guid_bytes("3f2504e0-4f89-11d3-9a0c-0305e82c3301").unwrap().to_vec(), bytes);
        assert_eq!(guid_bytes("{3F2504E0-4F89-11D3-9A0C-0305E82C3301}").unwrap().to_vec(), bytes);
        assert_eq!(escape_binary_filter(&bytes), "\\e0\\04\\25\\3f\\89\\4f\\d3\\11\\9a\\0c\\03\\05\\e8\\2c\\33\\01");
        assert!(guid_string(&bytes[..15]).is_err());
        assert!(guid_bytes("3f2504e04f8911d39a0c0305e82c3301").is_err());
        assert!(guid_bytes("3f2504e0-4f89-11d3-9a0c-0305e82c33zz").is_err());
        assert!(guid_bytes("3f2504e0-4f89-11d3-9a0c-0305e82c33é").is_err());
    }

    #[test]
    fn object_sid_vectors() {
        let sid = hex("01 05 00 00 00 00 00 05 15 00 00 00 c7 f7 fe d7 7c 77 55 c8 94 5a ce 01 f5 03 00 00");
        assert_eq!(sid_string(&sid).unwrap(), "S-1-5-21-3623811015-3361044348-30300820-1013");
        assert_eq!(sid_string(&hex("01 01 00 00 00 00 00 05 12 00 00 00")).unwrap(), "S-1-5-18");
        assert_eq!(sid_string(&hex("01 00 00 00 00 00 00 01")).unwrap(), "S-1-1");
        assert_eq!(sid_string(&hex("01 00 01 00 00 00 00 00")).unwrap(), "S-1-0x010000000000");
        assert!(sid_string(&sid[..27]).is_err(), "short");
        assert!(sid_string(&[sid.as_slice(), &[0]].concat()).is_err(), "long");
        assert!(sid_string(&hex("02 00 00 00 00 00 00 05")).is_err(), "revision");
        assert!(sid_string(&hex("01 10 00 00 00 00 00 05")).is_err(), "16 sub-authorities");
        assert!(sid_string(&hex("01 00 00 00 00 00 00")).is_err());
    }

    #[test]
    fn filetimes() {
        assert_eq!(filetime_rfc3339("132223104000000000").as_deref(), Some("2020-01-01T00:00:00Z"));
        assert_eq!(filetime_rfc3339(" 132223104000000001 ").as_deref(), Some("2020-01-01T00:00:00.0000001Z"));
        assert_eq!(filetime_rfc3339("116444736000000000").as_deref(), Some("1970-01-01T00:00:00Z"));
        assert_eq!(filetime_rfc3339("1").as_deref(), Some("1601-01-01T00:00:00.0000001Z"));
        assert_eq!(filetime_rfc3339("0"), None);
        assert_eq!(filetime_rfc3339("9223372036854775807"), None);
        assert_eq!(filetime_rfc3339("9223372036854775806"), None, "year 30828");
        assert_eq!(filetime_rfc3339("-36288000000000"), None);
        assert_eq!(filetime_rfc3339("abc"), None);
        assert_eq!(filetime_rfc3339(""), None);
    }

    #[test]
    fn account_expiry() {
        let now = OffsetDateTime::parse("2024-06-01T00:00:00Z", &Rfc3339).unwrap();
        assert!(account_expired("132223104000000000", now), "2020");
        assert!(!account_expired("0", now));
        assert!(!account_expired("9223372036854775807", now));
        assert!(!account_expired("9223372036854775806", now), "year 30828");
        assert!(!account_expired("not a number", now));
        let exactly_now = "133616736000000000";
        assert_eq!(filetime_rfc3339(exactly_now).as_deref(), Some("2024-06-01T00:00:00Z"));
        assert!(account_expired(exactly_now, now));
        assert!(!account_expired("133616736000000001", now));
    }

    #[test]
    fn generalized_times() {
        let cases = [
            ("20261203061902Z", Some("2026-12-03T06:19:02Z")),
            ("20261203061902.0Z", Some("2026-12-03T06:19:02Z")),
            ("20261203061902.123456Z", Some("2026-12-03T06:19:02.123456Z")),
            ("20261203061902,5Z", Some("2026-12-03T06:19:02.5Z")),
            ("20261203071902.5+0100", Some("2026-12-03T06:19:02.5Z")),
            ("20261203011902-0500", Some("2026-12-03T06:19:02Z")),
            ("20261203081902+02", Some("2026-12-03T06:19:02Z")),
            ("202612030619Z", Some("2026-12-03T06:19:00Z")),
            ("2026120306Z", Some("2026-12-03T06:00:00Z")),
            ("2026120306.5Z", Some("2026-12-03T06:30:00Z")),
            ("202612030619.5Z", Some("2026-12-03T06:19:30Z")),
            ("20261203061902.1234567891234Z", Some("2026-12-03T06:19:02.123456789Z")),
            ("20161231235960Z", Some("2016-12-31T23:59:59Z")),
            ("20261231233000-0100", Some("2027-01-01T00:30:00Z")),
            ("20261203061902", None),
            ("20261203061902.Z", None),
            ("20261303061902Z", None),
            ("20260230061902Z", None),
            ("20261203241902Z", None),
            ("20261203061902+2400", None),
            ("20261203061902z", None),
            ("20261203061902ZZ", None),
            ("2026120306190Z", None),
            ("99991231233000-0100", None),
            ("", None),
        ];
        for (input, expected) in cases {
            assert_eq!(generalized_time_rfc3339(input).as_deref(), expected, "{input}");
        }
    }

    #[test]
    fn rfc3339_to_generalized_times() {
        assert_eq!(rfc3339_to_generalized("2026-12-03T06:19:02Z").as_deref(), Some("20261203061902Z"));
        assert_eq!(rfc3339_to_generalized("2026-12-03T07:19:02.999+01:00").as_deref(), Some("20261203061902Z"));
        assert_eq!(rfc3339_to_generalized("0000-01-01T00:30:00+01:00"), None);
        assert_eq!(rfc3339_to_generalized("yesterday"), None);
        let round = generalized_time_rfc3339("20261203061902Z").unwrap();
        assert_eq!(rfc3339_to_generalized(&round).as_deref(), Some("20261203061902Z"));
    }

    #[test]
    fn user_account_control() {
        let normal_disabled = UacFlags::parse("514").unwrap();
        assert!(normal_disabled.disabled() && normal_disabled.normal_account());
        assert!(!normal_disabled.locked_out() && !normal_disabled.password_expired());
        assert_eq!(normal_disabled.names(), ["ACCOUNTDISABLE", "NORMAL_ACCOUNT"]);
        let never_expires = UacFlags::parse(" 66048 ").unwrap();
        assert!(never_expires.dont_expire_password() && !never_expires.disabled());
        assert_eq!(never_expires.names(), ["NORMAL_ACCOUNT", "DONT_EXPIRE_PASSWORD"]);
        let computed = UacFlags::parse("8388624").unwrap();
        assert!(computed.locked_out() && computed.password_expired());
        assert_eq!(UacFlags::parse("-2147483648"), Some(UacFlags(0x8000_0000)));
        assert_eq!(UacFlags::parse("4294967295"), Some(UacFlags(u32::MAX)));
        assert_eq!(UacFlags::parse("4294967296"), None);
        assert_eq!(UacFlags::parse("0x200"), None);
        assert!(UacFlags(0).names().is_empty());
    }

    // --- Filters

    #[test]
    fn filter_values_are_escaped() {
        assert_eq!(escape_filter_value("a*b(c)d\\e\0f"), "a\\2ab\\28c\\29d\\5ce\\00f");
        assert_eq!(escape_filter_value("Zoë Ström"), "Zoë Ström");
        assert_eq!(escape_filter_value(""), "");
    }

    #[test]
    fn and_filters() {
        assert_eq!(and_filter(&[]), "(objectClass=*)");
        assert_eq!(and_filter(&["", "  "]), "(objectClass=*)");
        assert_eq!(and_filter(&["(objectClass=user)"]), "(objectClass=user)");
        assert_eq!(and_filter(&["(objectClass=user)", " department=IT ", ""]), "(&(objectClass=user)(department=IT))");
        check_filter(&and_filter(&["(objectClass=user)", "(!(cn=x))"])).unwrap();
    }

    #[test]
    fn filter_checks() {
        for good in [
            "(objectClass=*)",
            "  (cn=a)  ",
            "(&(objectClass=user)(!(userAccountControl:1.2.840.113556.1.4.803:=2)))",
            "(|(cn=a\\28b\\29)(sn=Zoë))",
            "(memberOf:1.2.840.113556.1.4.1941:=CN=G,DC=x)",
            "(&)",
            "(|)",
            "(objectGUID=\\e0\\04\\25\\3f)",
            "(modifyTimestamp>=20261203061902Z)",
        ] {
            assert_eq!(check_filter(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "   ",
            "cn=a",
            "(cn=a",
            "(cn=a))",
            "(cn=a)(sn=b)",
            "()",
            "(&(cn=a)())",
            "(!(cn=a)(sn=b))",
            "(!)",
            "(cn)",
            "(cn=a(b))",
            "(cn=a\\2)",
            "(cn=a\\zz)",
            "(cn=a\\",
            "(&cn=a)",
            "x(cn=a)",
        ] {
            assert!(check_filter(bad).is_err(), "{bad:?} accepted");
        }
    }

    // --- DNs

    fn pairs(dn: &str) -> Vec<Vec<(String, String)>> {
        parse_dn(dn).unwrap().into_iter().map(|rdn| rdn.0).collect()
    }

    fn pair(attribute_type: &str, value: &str) -> (String, String) {
        (attribute_type.to_string(), value.to_string())
    }

    #[test]
    fn dns_parse() {
        assert_eq!(
            pairs("CN=Domain Users,CN=Users,DC=example,DC=com"),
            vec![
                vec![pair("CN", "Domain Users")],
                vec![pair("CN", "Users")],
                vec![pair("DC", "example")],
                vec![pair("DC", "com")]
            ]
        );
        assert_eq!(pairs(""), Vec::<Vec<(String, String)>>::new());
        assert_eq!(pairs("  cn = Ann Lee ,  ou=Staff "), vec![vec![pair("cn", "Ann Lee")], vec![pair("ou", "Staff")]]);
        assert_eq!(
            pairs("CN=Lee\\, Ann+UID=ann,O=x"),
            vec![vec![pair("CN", "Lee, Ann"), pair("UID", "ann")], vec![pair("O", "x")]]
        );
        assert_eq!(pairs("CN=a\\+b\\\"c\\\\d\\#e"), vec![vec![pair("CN", "a+b\"c\\d#e")]]);
        assert_eq!(pairs("CN=\\#1\\ ,O=x"), vec![vec![pair("CN", "#1 ")], vec![pair("O", "x")]]);
        assert_eq!(pairs("CN=\\ lead"), vec![vec![pair("CN", " lead")]]);
        assert_eq!(pairs("CN=Zo\\c3\\ab"), vec![vec![pair("CN", "Zoë")]]);
        assert_eq!(pairs("CN=Zoë Ström"), vec![vec![pair("CN", "Zoë Ström")]]);
        assert_eq!(pairs("2.5.4.3=x"), vec![vec![pair("2.5.4.3", "x")]]);
        assert_eq!(pairs("CN="), vec![vec![pair("CN", "")]]);
        assert_eq!(pairs("CN=a=b"), vec![vec![pair("CN", "a=b")]]);
        assert_eq!(pairs("CN=#0c0548656c6c6f,O=x"), vec![vec![pair("CN", "Hello")], vec![pair("O", "x")]]);
        assert_eq!(pairs("CN=#0203010001"), vec![vec![pair("CN", "#0203010001")]]);
        assert_eq!(pairs("CN=Del\\0ADEL:3f2504e0"), vec![vec![pair("CN", "Del\nDEL:3f2504e0")]]);
        for bad in [
            "CN",
            "CN=a,",
            ",CN=a",
            "CN=a,,O=b",
            "=a",
            "C N=a",
            "1CN=a",
            "2.5..4=x",
            "CN=a\\",
            "CN=a\\4",
            "CN=\\ff",
            "CN=#0",
            "CN=#zz",
            "CN=#04 x",
            "CN=a+",
        ] {
            assert!(parse_dn(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn rdn_values() {
        assert_eq!(rdn_value("CN=Domain Users,CN=Users,DC=x").as_deref(), Some("Domain Users"));
        assert_eq!(rdn_value("CN=Lee\\, Ann,OU=Staff").as_deref(), Some("Lee, Ann"));
        assert_eq!(rdn_value(""), None);
        assert_eq!(rdn_value("garbage"), None);
    }

    #[test]
    fn dn_normalization_and_containment() {
        assert_eq!(normalize_dn("CN=Ann Lee, OU=Staff,DC=X"), "cn=ann lee,ou=staff,dc=x");
        assert_eq!(normalize_dn("cn=ann lee,ou=staff,dc=x"), normalize_dn(" CN = Ann Lee ,OU=STAFF , DC=x"));
        assert_eq!(normalize_dn("UID=a+CN=B,O=x"), normalize_dn("cn=b+uid=A,o=X"));
        assert_eq!(normalize_dn("CN=Lee\\, Ann,O=x"), "cn=lee\\, ann,o=x");
        assert_eq!(normalize_dn("CN=Lee\\2C Ann,O=x"), normalize_dn("CN=Lee\\, Ann,O=x"));
        assert_eq!(normalize_dn("CN=\\ a\\ "), "cn=\\ a\\ ");
        assert_eq!(normalize_dn("not a dn"), "not a dn");
        assert!(dn_is_under("CN=a,OU=Staff,DC=x", "ou=staff, dc=X"));
        assert!(dn_is_under("OU=Staff,DC=x", "OU=Staff,DC=x"));
        assert!(dn_is_under("CN=a,DC=x", ""));
        assert!(!dn_is_under("CN=a,OU=Staffing,DC=x", "OU=Staff,DC=x"));
        assert!(!dn_is_under("DC=x", "OU=Staff,DC=x"));
        assert!(!dn_is_under("CN=a,,DC=x", "DC=x"));
    }

    #[test]
    fn dn_values_escape() {
        assert_eq!(escape_dn_value("Lee, Ann"), "Lee\\, Ann");
        assert_eq!(escape_dn_value("#1 a+b "), "\\#1 a\\+b\\ ");
        assert_eq!(escape_dn_value(" "), "\\ ");
        assert_eq!(escape_dn_value("a\0<>;\"\\"), "a\\00\\<\\>\\;\\\"\\\\");
        for value in ["Lee, Ann", "#1 a+b ", " x ", "a\0<>;\"\\=b", "Zoë"] {
            let dn = format!("CN={},O=x", escape_dn_value(value));
            assert_eq!(rdn_value(&dn).as_deref(), Some(value), "{dn}");
        }
    }

    // --- Ranges

    #[test]
    fn ranged_attributes() {
        assert_eq!(
            parse_ranged_attribute("member;range=0-1499"),
            Some(RangedAttr { base: "member".into(), low: 0, high: Some(1499) })
        );
        let last = parse_ranged_attribute("member;Range=1500-*").unwrap();
        assert_eq!(last, RangedAttr { base: "member".into(), low: 1500, high: None });
        assert_eq!(
            parse_ranged_attribute("member;binary;range=3-4"),
            Some(RangedAttr { base: "member;binary".into(), low: 3, high: Some(4) })
        );
        for bad in [
            "member",
            "member;range=",
            "member;range=5-4",
            "member;range=a-*",
            "member;range=+1-2",
            ";range=0-1",
            "member;range=0-1;range=2-3",
            "member;range=0-4294967296",
        ] {
            assert_eq!(parse_ranged_attribute(bad), None, "{bad}");
        }
        let first = parse_ranged_attribute("member;range=0-1499").unwrap();
        assert_eq!(next_range_request("member", &first).as_deref(), Some("member;range=1500-*"));
        assert_eq!(next_range_request("member", &last), None);
        let at_max = RangedAttr { base: "member".into(), low: 0, high: Some(u32::MAX) };
        assert_eq!(next_range_request("member", &at_max), None);
    }

    #[test]
    fn incremental_values() {
        assert_eq!(incremental_value_change("member;range=1-1"), Some(("member".to_string(), true)));
        assert_eq!(incremental_value_change("member;range=0-0"), Some(("member".to_string(), false)));
        assert_eq!(incremental_value_change("member;range=0-1499"), None);
        assert_eq!(incremental_value_change("member"), None);
    }

    // --- Fuzzing

    /// xorshift64*: deterministic, so a failure reproduces with the same seed.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: usize) -> usize {
            usize::try_from(self.next() % u64::try_from(n.max(1)).unwrap()).unwrap()
        }

        fn byte(&mut self) -> u8 {
            self.next().to_le_bytes()[0]
        }
    }

    /// Valid inputs of every kind, for the mutations to start from.
    fn seeds() -> Vec<Vec<u8>> {
        let mut seeds: Vec<Vec<u8>> = vec![
            openldap_sync_state(),
            encode_sync_request(SyncMode::RefreshAndPersist, Some(b"rid=1"), true),
            hex("30 06 04 01 63 01 01 ff"),
            hex("80 03 61 62 63"),
            hex("a2 06 04 01 63 01 01 00"),
            hex("a1 03 01 01 00"),
            ber_sequence(&[ber_integer(1), ber_integer(0), ber_octet_string(b"next")]),
            encode_dirsync_request(DIRSYNC_INCREMENTAL_VALUES | DIRSYNC_OBJECT_SECURITY, 0, b"ck"),
            hex("e0 04 25 3f 89 4f d3 11 9a 0c 03 05 e8 2c 33 01"),
            hex("01 05 00 00 00 00 00 05 15 00 00 00 c7 f7 fe d7 7c 77 55 c8 94 5a ce 01 f5 03 00 00"),
        ];
        let set = [&hex("31 24 04 10")[..], &UUID_A, &hex("04 10"), &UUID_B].concat();
        let body = [&hex("04 02 63 6b 01 01 ff")[..], &set].concat();
        seeds.push([&[0xa3, u8::try_from(body.len()).unwrap()][..], &body].concat());
        for text in [
            "CN=Lee\\, Ann+UID=ann,OU=Staff,DC=example,DC=com",
            "CN=#0c0548656c6c6f,O=x",
            "cn=\\ a\\c3\\ab\\ ,o=x",
            "member;range=0-1499",
            "member;binary;range=1500-*",
            "20261203071902.123456+0100",
            "2026120306.5Z",
            "132223104000000000",
            "9223372036854775807",
            "(&(objectClass=user)(!(cn=a\\28b\\29)))",
            "(|(&)(memberOf:1.2.840.113556.1.4.1941:=CN=G,DC=x))",
        ] {
            seeds.push(text.as_bytes().to_vec());
        }
        seeds
    }

    /// Bytes that break BER and text parsers most often.
    const INTERESTING: [u8; 16] =
        [0x00, 0x01, 0x04, 0x10, 0x30, 0x31, 0x7f, 0x80, 0x81, 0x84, 0xa3, 0xff, b'\\', b'(', b',', b'-'];

    fn mutate(rng: &mut Rng, input: &mut Vec<u8>) {
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(input.len() + 1);
            match rng.below(6) {
                0 if at < input.len() => input[at] ^= 1 << rng.below(8),
                1 if at < input.len() => input[at] = INTERESTING[rng.below(INTERESTING.len())],
                2 => input.insert(at, rng.byte()),
                3 if at < input.len() => {
                    input.remove(at);
                }
                4 => input.truncate(at),
                _ => {
                    let end = (at + rng.below(8)).min(input.len());
                    let copy = input[at..end].to_vec();
                    input.splice(at..at, copy);
                }
            }
        }
    }

    /// Every parser, on bytes and on the same bytes as text (the fuzz target's body).
    fn run_all_parsers(input: &[u8]) {
        fuzz_one(input);
    }

    const FUZZ_ITERATIONS: usize = 200_000;

    #[test]
    fn fuzz_every_parser_without_panics() {
        let seeds = seeds();
        let mut rng = Rng(0x05ee_d0fc_0dec);
        for iteration in 0..FUZZ_ITERATIONS {
            let input = if iteration % 3 == 0 {
                (0..rng.below(48)).map(|_| rng.byte()).collect()
            } else {
                let mut input = seeds[rng.below(seeds.len())].clone();
                mutate(&mut rng, &mut input);
                input
            };
            let outcome = std::panic::catch_unwind(|| run_all_parsers(&input));
            assert!(outcome.is_ok(), "iteration {iteration}: panic on input {}", escape_binary_filter(&input));
        }
    }
}
