//! `peek` reads the same id, method and names as a full parse, and rejects what it rejects;
//! the input nested deep inside a request (up to 255 × 64 levels, far past `serde_json`'s
//! limit of 128; its first byte says how deep) changes neither.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    jsonrpc_forward::peek::testing::check(data);
    if let Some((&depth, rest)) = data.split_first() {
        jsonrpc_forward::peek::testing::check_nested(rest, usize::from(depth) * 64);
    }
});
