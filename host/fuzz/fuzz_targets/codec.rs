//! Feeds arbitrary bytes to every parser in the directory codec: none may panic, however
//! malformed the control value, DN, filter or time a server or an admin hands it.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../src/directory/codec.rs"]
mod codec;

fuzz_target!(|data: &[u8]| codec::fuzz_one(data));
