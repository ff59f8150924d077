//! Any split of any stream decodes exactly as the whole-input reference (text lines).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| stream_parse::testing::fuzz_lines(data));
