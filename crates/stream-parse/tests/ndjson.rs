//! NDJSON framing rules, one test each, through the public API.

mod support;

use bytes::{Bytes, BytesMut};
use stream_parse::{Error, NdjsonDecoder};
use support::{decode_chunks, decode_framed, decode_one_byte_at_a_time, feed_an_over_long_record};

fn records(input: &[u8]) -> Vec<Bytes> {
    decode_chunks(&mut NdjsonDecoder::new(), &[input])
}

#[test]
fn ndjson_decoder_splits_records_at_lf() {
    assert_eq!(
        records(b"{\"a\":1}\n{\"b\":2}\n"),
        ["{\"a\":1}", "{\"b\":2}"]
    );
}

#[test]
fn ndjson_decoder_trims_cr_and_surrounding_ascii_whitespace() {
    assert_eq!(
        records(b" \t{\"a\":1} \r\n{\"b\":2}\r\n"),
        ["{\"a\":1}", "{\"b\":2}"]
    );
}

#[test]
fn ndjson_decoder_keeps_non_ascii_whitespace_and_inner_spaces() {
    // U+00A0 is not ASCII whitespace: it is part of the record (the JSON check rejects it).
    assert_eq!(
        records("\u{a0}{\"a\": 1}\n".as_bytes()),
        ["\u{a0}{\"a\": 1}"]
    );
}

#[test]
fn ndjson_decoder_skips_blank_records() {
    assert_eq!(records(b"\n\r\n  \n{}\n\t\n"), ["{}"]);
}

#[test]
fn ndjson_decoder_yields_an_unterminated_last_record_at_eof_only() {
    let mut decoder = NdjsonDecoder::new();
    let mut buf = BytesMut::from(&b"{\"a\":1}\n{\"b\""[..]);
    assert_eq!(
        decoder.decode(&mut buf).expect("ok").as_deref(),
        Some(&b"{\"a\":1}"[..])
    );
    assert_eq!(decoder.decode(&mut buf), Ok(None));
    buf.extend_from_slice(b":2}");
    assert_eq!(
        decoder.decode_eof(&mut buf).expect("ok").as_deref(),
        Some(&b"{\"b\":2}"[..])
    );
    assert_eq!(decoder.decode_eof(&mut buf), Ok(None));
}

#[test]
fn ndjson_decoder_joins_a_record_split_at_every_byte() {
    let input = "{\"text\":\"h\u{e9}llo \u{1F600}\"}\r\n{}\n".as_bytes();
    let chunks: Vec<&[u8]> = input.chunks(1).collect();
    let out = decode_chunks(&mut NdjsonDecoder::new(), &chunks);
    assert_eq!(
        out,
        ["{\"text\":\"h\u{e9}llo \u{1F600}\"}".as_bytes(), b"{}"]
    );
}

#[test]
fn ndjson_decoder_hands_out_records_without_copying() {
    let mut decoder = NdjsonDecoder::new();
    let mut buf = BytesMut::from(&b"  {}\n"[..]);
    let start = buf.as_ptr() as usize;
    let record = decoder.decode(&mut buf).expect("ok").expect("record");
    assert_eq!(record.as_ptr() as usize, start + 2);
}

#[test]
fn ndjson_decoder_counts_the_limit_before_trimming_and_without_the_lf() {
    let mut decoder = NdjsonDecoder::new().with_max_line_bytes(4);
    let mut buf = BytesMut::from(&b"1234\n 123\n12345\n"[..]);
    assert_eq!(
        decoder.decode(&mut buf).expect("ok").as_deref(),
        Some(&b"1234"[..])
    );
    assert_eq!(
        decoder.decode(&mut buf).expect("ok").as_deref(),
        Some(&b"123"[..])
    );
    assert_eq!(decoder.decode(&mut buf), Err(Error::TooLong { limit: 4 }));
    assert_eq!(decoder.decode(&mut buf), Ok(None));
}

#[test]
fn ndjson_decoder_skips_an_over_long_record_without_buffering_it() {
    const LIMIT: usize = 64 * 1024;
    let mut decoder = NdjsonDecoder::new().with_max_line_bytes(LIMIT);
    let mut buf = BytesMut::new();
    feed_an_over_long_record(&mut decoder, LIMIT, &mut buf);
    buf.extend_from_slice(b"tail of the long one\n{\"next\":1}\n");
    assert_eq!(
        decoder.decode(&mut buf).expect("ok").as_deref(),
        Some(&b"{\"next\":1}"[..])
    );
}

#[test]
fn ndjson_decoder_drops_an_over_long_tail_at_eof_after_one_error() {
    let mut decoder = NdjsonDecoder::new().with_max_line_bytes(4);
    let mut buf = BytesMut::from(&b"{}\n123456"[..]);
    assert_eq!(
        decoder.decode(&mut buf).expect("ok").as_deref(),
        Some(&b"{}"[..])
    );
    assert_eq!(decoder.decode(&mut buf), Err(Error::TooLong { limit: 4 }));
    assert_eq!(decoder.decode_eof(&mut buf), Ok(None));
}

#[test]
fn ndjson_decoder_works_as_a_tokio_codec() {
    let body: &[u8] = b"{\"a\":1}\n\n{\"b\":2}";
    let out = decode_framed(body, NdjsonDecoder::new());
    assert_eq!(out, ["{\"a\":1}", "{\"b\":2}"]);
}

#[test]
fn ndjson_decoder_takes_a_100_mb_line_in_one_byte_chunks() {
    // A re-scanning framer would need 5e15 steps here.
    const LEN: usize = 100_000_000;
    let mut decoder = NdjsonDecoder::new().with_max_line_bytes(LEN);
    let record = decode_one_byte_at_a_time(&mut decoder, b"", LEN, b"\n");
    assert_eq!(record.len(), LEN);
}
