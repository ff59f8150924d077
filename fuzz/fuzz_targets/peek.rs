//! `peek` reads the same id, method and names as a full parse, and rejects what it rejects.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| jsonrpc_forward::peek::testing::check(data));
