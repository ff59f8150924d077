//! Text-line framing rules (httpx `aiter_lines`), one test each, through the public API.

mod support;

use bytes::{Bytes, BytesMut};
use stream_parse::{Error, LineDecoder};
use support::{decode_chunks, decode_framed, decode_one_byte_at_a_time, feed_an_over_long_record};

fn lines(input: &[u8]) -> Vec<Bytes> {
    decode_chunks(&mut LineDecoder::new(), &[input])
}

/// What successive calls return until `Ok(None)`: lines and errors in order, lines as text.
fn steps(decoder: &mut LineDecoder, buf: &mut BytesMut, eof: bool) -> Vec<Result<String, Error>> {
    let mut out = Vec::new();
    loop {
        let step = if eof {
            decoder.decode_eof(buf)
        } else {
            decoder.decode(buf)
        };
        match step {
            Ok(Some(line)) => out.push(Ok(String::from_utf8_lossy(&line).into_owned())),
            Ok(None) => return out,
            Err(e) => out.push(Err(e)),
        }
    }
}

fn line(text: &str) -> Result<String, Error> {
    Ok(text.to_owned())
}

#[test]
fn line_decoder_ends_lines_at_lf_cr_and_crlf() {
    assert_eq!(lines(b"a\nb\r\nc\rd\n"), ["a", "b", "c", "d"]);
}

#[test]
fn line_decoder_yields_empty_lines() {
    // CR CRLF is two line ends; LF CR is two as well.
    assert_eq!(lines(b"\na\n\r\r\n\n\rb\n"), ["", "a", "", "", "", "", "b"]);
}

#[test]
fn line_decoder_keeps_whitespace_and_bytes_that_are_not_line_ends() {
    // No trimming and no UTF-8 decoding: the caller decodes. Only CR and LF end lines, not
    // the other characters Python's `str.splitlines` knows (VT, FF, U+2028).
    let input = b" a\t\x0b\x0c\xe2\x80\xa8\xff \n";
    assert_eq!(lines(input), [&input[..input.len() - 1]]);
}

#[test]
fn line_decoder_joins_a_crlf_split_across_chunks() {
    let out = decode_chunks(
        &mut LineDecoder::new(),
        &[b"a\r", b"\nb\r", b"\n", b"\r", b"\nc"],
    );
    assert_eq!(out, ["a", "b", "", "c"]);
}

#[test]
fn line_decoder_ends_a_line_at_a_lone_cr_followed_by_other_bytes() {
    let out = decode_chunks(&mut LineDecoder::new(), &[b"a\r", b"b\r", b"\r", b"c"]);
    assert_eq!(out, ["a", "b", "", "c"]);
}

#[test]
fn line_decoder_yields_a_line_ended_by_cr_at_a_chunk_end_without_waiting() {
    // The next chunk may be long in coming (a streamed log): the line is complete already,
    // and an LF that follows is dropped when it arrives.
    let mut decoder = LineDecoder::new();
    let mut buf = BytesMut::from(&b"first\r"[..]);
    assert_eq!(steps(&mut decoder, &mut buf, false), [line("first")]);
    buf.extend_from_slice(b"\n");
    assert_eq!(steps(&mut decoder, &mut buf, false), []);
    assert!(buf.is_empty(), "the LF of the CRLF is consumed");
    buf.extend_from_slice(b"\nsecond\n");
    assert_eq!(
        steps(&mut decoder, &mut buf, false),
        [line(""), line("second")]
    );
}

#[test]
fn line_decoder_yields_an_unterminated_last_line_at_eof_only() {
    let mut decoder = LineDecoder::new();
    let mut buf = BytesMut::from(&b"a\nlast"[..]);
    assert_eq!(steps(&mut decoder, &mut buf, false), [line("a")]);
    assert_eq!(steps(&mut decoder, &mut buf, true), [line("last")]);
}

#[test]
fn line_decoder_ends_a_line_at_a_trailing_cr_at_eof_and_adds_no_empty_line() {
    assert_eq!(lines(b"a\r"), ["a"]);
    assert_eq!(lines(b"a\n"), ["a"]);
    assert_eq!(lines(b"\r"), [""]);
    assert_eq!(lines(b""), Vec::<Bytes>::new());
}

#[test]
fn line_decoder_starts_a_new_stream_after_eof() {
    // A CR that ended the first stream must not swallow an LF that starts the second.
    let mut decoder = LineDecoder::new();
    assert_eq!(decode_chunks(&mut decoder, &[b"a\r"]), ["a"]);
    assert_eq!(decode_chunks(&mut decoder, &[b"\nb"]), ["", "b"]);
}

#[test]
fn line_decoder_hands_out_lines_without_copying() {
    let mut decoder = LineDecoder::new();
    let mut buf = BytesMut::from(&b"ab\r\ncd\n"[..]);
    let start = buf.as_ptr() as usize;
    let first = decoder.decode(&mut buf).expect("ok").expect("line");
    let second = decoder.decode(&mut buf).expect("ok").expect("line");
    assert_eq!(first.as_ptr() as usize, start);
    assert_eq!(second.as_ptr() as usize, start + 4);
}

#[test]
fn line_decoder_counts_the_limit_without_the_line_end() {
    let mut decoder = LineDecoder::new().with_max_line_bytes(4);
    let mut buf = BytesMut::from(&b"1234\r\n1234\r12345\nok\n"[..]);
    assert_eq!(
        steps(&mut decoder, &mut buf, false),
        [
            line("1234"),
            line("1234"),
            Err(Error::TooLong { limit: 4 }),
            line("ok")
        ]
    );
}

#[test]
fn line_decoder_with_a_limit_of_zero_yields_only_empty_lines() {
    let mut decoder = LineDecoder::new().with_max_line_bytes(0);
    let mut buf = BytesMut::from(&b"\nx\n\r"[..]);
    assert_eq!(
        steps(&mut decoder, &mut buf, false),
        [line(""), Err(Error::TooLong { limit: 0 }), line("")]
    );
}

#[test]
fn line_decoder_skips_an_over_long_line_without_buffering_it() {
    const LIMIT: usize = 64 * 1024;
    let mut decoder = LineDecoder::new().with_max_line_bytes(LIMIT);
    let mut buf = BytesMut::new();
    feed_an_over_long_record(&mut decoder, LIMIT, &mut buf);
    // The over-long line ends with a CR at a chunk end: its LF must not make an empty line.
    buf.extend_from_slice(b"tail of the long one\r");
    assert_eq!(steps(&mut decoder, &mut buf, false), []);
    buf.extend_from_slice(b"\nnext\n");
    assert_eq!(steps(&mut decoder, &mut buf, false), [line("next")]);
}

#[test]
fn line_decoder_reports_an_over_long_tail_at_eof_once() {
    let mut decoder = LineDecoder::new().with_max_line_bytes(4);
    let mut buf = BytesMut::from(&b"ok\n123456"[..]);
    assert_eq!(
        steps(&mut decoder, &mut buf, true),
        [line("ok"), Err(Error::TooLong { limit: 4 })]
    );
}

#[test]
fn line_decoder_works_as_a_tokio_codec() {
    let body: &[u8] = b"a\r\n\nb\rc";
    let out = decode_framed(body, LineDecoder::new());
    assert_eq!(out, ["a", "", "b", "c"]);
}

#[test]
fn line_decoder_takes_a_10_mb_line_in_one_byte_chunks() {
    // A re-scanning splitter would need 5e13 steps here.
    const LEN: usize = 10_000_000;
    let mut decoder = LineDecoder::new().with_max_line_bytes(LEN);
    let line = decode_one_byte_at_a_time(&mut decoder, b"", LEN, b"\r");
    assert_eq!(line.len(), LEN);
}
