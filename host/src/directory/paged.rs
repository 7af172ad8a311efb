//! The Simple Paged Results control (RFC 2696), encoded and parsed with `codec`'s BER
//! reader rather than `ldap3`'s parser, which panics on a malformed value.

use super::codec::{ber_integer, ber_octet_string, ber_sequence, Ber, CodecError};

/// The request value: `SEQUENCE { size INTEGER, cookie OCTET STRING }`.
pub fn encode_request(page_size: u32, cookie: &[u8]) -> Vec<u8> {
    ber_sequence(&[ber_integer(i64::from(page_size)), ber_octet_string(cookie)])
}

/// The response value: the server's size estimate and the cookie of the next page (empty
/// on the last page).
///
/// # Errors
/// The value is not that sequence.
pub fn parse_response(value: &[u8]) -> Result<(i64, Vec<u8>), CodecError> {
    let mut outer = Ber::new(value);
    let mut seq = outer.read_sequence()?;
    let size = seq.read_integer()?;
    let cookie = seq.read_octet_string()?.to_vec();
    Ok((size, cookie))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_garbage() {
        let v = encode_request(500, b"abc");
        let (size, cookie) = parse_response(&v).unwrap();
        assert_eq!((size, cookie.as_slice()), (500, &b"abc"[..]));
        assert!(parse_response(&[0x30, 0x05, 0x02]).is_err());
        assert!(parse_response(&[]).is_err());
    }
}
