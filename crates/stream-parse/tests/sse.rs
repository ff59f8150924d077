//! The WHATWG event-stream rules, one test each, through the public API.

mod support;

use bytes::BytesMut;
use stream_parse::{Error, SseDecoder, SseEvent};
use support::{decode_chunks, decode_framed, decode_one_byte_at_a_time, feed_an_over_long_record};

fn decode_all(input: &[u8]) -> Vec<SseEvent> {
    decode_chunks(&mut SseDecoder::new(), &[input])
}

/// `(event type, data)` of each event, for short assertions.
fn summary(events: &[SseEvent]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| (e.event_type().to_owned(), e.data_str().into_owned()))
        .collect()
}

fn msg(data: &str) -> (String, String) {
    ("message".to_owned(), data.to_owned())
}

#[test]
fn sse_decoder_dispatches_on_blank_line() {
    let events = decode_all(b"data: hello\n\n");
    assert_eq!(summary(&events), [msg("hello")]);
}

#[test]
fn sse_decoder_returns_none_until_the_blank_line_arrives() {
    let mut decoder = SseDecoder::new();
    let mut buf = BytesMut::from(&b"data: a\n"[..]);
    assert_eq!(decoder.decode(&mut buf), Ok(None));
    buf.extend_from_slice(b"\n");
    let event = decoder.decode(&mut buf).expect("ok").expect("event");
    assert_eq!(event.data_str(), "a");
    assert!(buf.is_empty(), "consumed bytes are split off the buffer");
}

#[test]
fn sse_decoder_drops_one_leading_bom_only() {
    let events = decode_all(b"\xEF\xBB\xBFdata: a\n\n");
    assert_eq!(summary(&events), [msg("a")]);
    // A second BOM is content: it makes the first line's field name unknown.
    let events = decode_all(b"\xEF\xBB\xBF\xEF\xBB\xBFdata: a\n\ndata: b\n\n");
    assert_eq!(summary(&events), [msg("b")]);
}

#[test]
fn sse_decoder_drops_a_bom_split_across_chunks() {
    let mut decoder = SseDecoder::new();
    let events = decode_chunks(&mut decoder, &[b"\xEF", b"\xBB", b"\xBFdata: a\n\n"]);
    assert_eq!(summary(&events), [msg("a")]);
}

#[test]
fn sse_decoder_keeps_a_bom_prefix_that_is_not_a_bom() {
    // "\xEF" then "d": not a BOM, so the first line is "\xEFdata: a", an unknown field.
    let events = decode_chunks(
        &mut SseDecoder::new(),
        &[b"\xEF", b"data: a\n\ndata: b\n\n"],
    );
    assert_eq!(summary(&events), [msg("b")]);
}

#[test]
fn sse_decoder_accepts_lf_crlf_and_cr_line_ends() {
    for input in [
        &b"data: a\n\n"[..],
        b"data: a\r\n\r\n",
        b"data: a\r\r",
        b"data: a\r\n\n",
        b"data: a\n\r",
    ] {
        assert_eq!(summary(&decode_all(input)), [msg("a")], "{input:?}");
    }
}

#[test]
fn sse_decoder_joins_crlf_split_across_chunks() {
    // The CR ends one chunk and the LF starts the next: one line end, not two (two would be
    // a blank line and dispatch "a" without "b").
    let mut decoder = SseDecoder::new();
    let events = decode_chunks(
        &mut decoder,
        &[b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"],
    );
    assert_eq!(summary(&events), [msg("a\nb")]);
}

#[test]
fn sse_decoder_dispatches_cr_cr_without_waiting_for_more_input() {
    let mut decoder = SseDecoder::new();
    let mut buf = BytesMut::from(&b"data: a\r\r"[..]);
    let event = decoder.decode(&mut buf).expect("ok").expect("event");
    assert_eq!(event.data_str(), "a");
}

#[test]
fn sse_decoder_ignores_comment_lines() {
    let events = decode_all(b": ping\ndata: a\n: another\n\n:\n\n");
    assert_eq!(summary(&events), [msg("a")]);
}

#[test]
fn sse_decoder_removes_exactly_one_space_after_the_colon() {
    let events = decode_all(b"data:a\n\ndata: a\n\ndata:  a\n\n");
    assert_eq!(summary(&events), [msg("a"), msg("a"), msg(" a")]);
}

#[test]
fn sse_decoder_splits_at_the_first_colon_only() {
    let events = decode_all(b"data: {\"a\":\"b:c\"}\n\n");
    assert_eq!(summary(&events), [msg("{\"a\":\"b:c\"}")]);
}

#[test]
fn sse_decoder_treats_a_line_without_colon_as_a_field_with_empty_value() {
    // WHATWG spec example: "data\n\ndata\ndata\n\ndata:" gives "" then "\n", last dropped.
    let events = decode_all(b"data\n\ndata\ndata\n\ndata:");
    assert_eq!(summary(&events), [msg(""), msg("\n")]);
}

#[test]
fn sse_decoder_joins_multiple_data_lines_with_lf() {
    // WHATWG spec example.
    let events = decode_all(b"data: YHOO\ndata: +2\ndata: 10\n\n");
    assert_eq!(summary(&events), [msg("YHOO\n+2\n10")]);
}

#[test]
fn sse_decoder_removes_one_trailing_lf_only() {
    let events = decode_all(b"data: a\ndata:\n\n");
    assert_eq!(summary(&events), [msg("a\n")]);
}

#[test]
fn sse_decoder_sets_event_type_and_resets_it_after_dispatch() {
    let events = decode_all(b"event: add\ndata: 1\n\ndata: 2\n\nevent:\ndata: 3\n\n");
    assert_eq!(
        summary(&events),
        [("add".into(), "1".into()), msg("2"), msg("3")]
    );
}

#[test]
fn sse_decoder_dispatches_nothing_for_an_empty_data_buffer_and_resets_type() {
    let events = decode_all(b"event: x\n\ndata: a\n\n");
    assert_eq!(summary(&events), [msg("a")]);
    assert!(decode_all(b"id: 1\nretry: 5\n\n: c\n\n").is_empty());
}

#[test]
fn sse_decoder_keeps_last_event_id_across_events() {
    let mut decoder = SseDecoder::new();
    let events = decode_chunks(
        &mut decoder,
        &[b"id: 1\ndata: a\n\ndata: b\n\nid\ndata: c\n\n"],
    );
    let ids: Vec<_> = events.iter().map(SseEvent::last_event_id).collect();
    // WHATWG: the last event ID persists; an `id` field with no value resets it to "".
    assert_eq!(ids, ["1", "1", ""]);
    assert_eq!(decoder.last_event_id(), "");
}

#[test]
fn sse_decoder_commits_an_id_from_a_block_without_data() {
    // MCP servers prime a resumable stream with an event that has an id and no data.
    let mut decoder = SseDecoder::new();
    let events = decode_chunks(&mut decoder, &[b"id: prime-1\ndata\n\nid: 2\n\n"]);
    assert_eq!(events.len(), 1);
    assert_eq!(decoder.last_event_id(), "2");
}

#[test]
fn sse_decoder_ignores_an_id_containing_nul() {
    let mut decoder = SseDecoder::new();
    let events = decode_chunks(&mut decoder, &[b"id: 1\n\nid: 2\x003\ndata: a\n\n"]);
    assert_eq!(events[0].last_event_id(), "1");
    assert_eq!(decoder.last_event_id(), "1");
}

#[test]
fn sse_decoder_accepts_retry_of_ascii_digits_only() {
    let mut decoder = SseDecoder::new();
    let events = decode_chunks(
        &mut decoder,
        &[b"retry: 1500\ndata: a\n\nretry: 1.5\ndata: b\n\nretry: x\nretry:\ndata: c\n\n"],
    );
    let retries: Vec<_> = events.iter().map(SseEvent::retry).collect();
    assert_eq!(retries, [Some(1500), None, None]);
    assert_eq!(decoder.retry(), Some(1500));
}

#[test]
fn sse_decoder_updates_retry_from_a_block_without_data() {
    let mut decoder = SseDecoder::new();
    assert!(decode_chunks(&mut decoder, &[b"retry: 3000\n\n"]).is_empty());
    assert_eq!(decoder.retry(), Some(3000));
}

#[test]
fn sse_decoder_ignores_unknown_fields_and_is_case_sensitive() {
    let events = decode_all(b"foo: bar\nData: x\nDATA: y\ndata: a\n\n");
    assert_eq!(summary(&events), [msg("a")]);
}

#[test]
fn sse_decoder_drops_an_unterminated_event_at_eof_by_default() {
    let mut decoder = SseDecoder::new();
    let events = decode_chunks(&mut decoder, &[b"data: a\n\nid: 9\ndata: b\n"]);
    assert_eq!(summary(&events), [msg("a")]);
    assert_eq!(
        decoder.last_event_id(),
        "",
        "the dropped block's id is not committed"
    );
    assert!(decode_all(b"data: a").is_empty());
}

#[test]
fn sse_decoder_dispatches_an_unterminated_event_at_eof_when_lenient() {
    for input in [
        &b"data: a\n\ndata: b"[..],
        b"data: a\n\ndata: b\n",
        b"data: a\r\rdata: b\r",
    ] {
        let mut decoder = SseDecoder::new().lenient_eof(true);
        let events = decode_chunks(&mut decoder, &[input]);
        assert_eq!(summary(&events), [msg("a"), msg("b")], "{input:?}");
    }
    let mut decoder = SseDecoder::new().lenient_eof(true);
    assert!(decode_chunks(&mut decoder, &[b"data: a\n\n: comment"]).len() == 1);
}

#[test]
fn sse_decoder_is_ready_for_a_new_stream_after_eof_and_keeps_the_id() {
    let mut decoder = SseDecoder::new();
    assert_eq!(
        decode_chunks(&mut decoder, &[b"id: 5\ndata: a\n\ndata: x"]).len(),
        1
    );
    // The next stream (a reconnection) may start with a BOM and sees nothing of "data: x".
    let events = decode_chunks(&mut decoder, &[b"\xEF\xBB\xBFdata: b\n\n"]);
    assert_eq!(summary(&events), [msg("b")]);
    assert_eq!(events[0].last_event_id(), "5");
}

#[test]
fn sse_decoder_decodes_utf8_split_across_chunks() {
    let text = "data: h\u{e9}llo \u{1F600}\n\n".as_bytes();
    // Cut inside the two-byte é and inside the four-byte emoji.
    let cut_e = text.iter().position(|&b| b == 0xC3).expect("é") + 1;
    let cut_emoji = text.iter().position(|&b| b == 0xF0).expect("emoji") + 2;
    let chunks = [&text[..cut_e], &text[cut_e..cut_emoji], &text[cut_emoji..]];
    let events = decode_chunks(&mut SseDecoder::new(), &chunks);
    assert_eq!(summary(&events), [msg("h\u{e9}llo \u{1F600}")]);
}

#[test]
fn sse_event_data_str_replaces_invalid_utf8_like_browsers() {
    let events = decode_all(b"data: a\xFFb\xE2\x82\n\n");
    assert_eq!(events[0].data().as_ref(), b"a\xFFb\xE2\x82");
    assert_eq!(events[0].data_str(), "a\u{FFFD}b\u{FFFD}");
}

#[test]
fn sse_decoder_hands_out_single_line_data_without_copying() {
    let mut decoder = SseDecoder::new();
    let mut buf = BytesMut::from(&b"data: payload\n\n"[..]);
    let start = buf.as_ptr() as usize;
    let event = decoder.decode(&mut buf).expect("ok").expect("event");
    assert_eq!(event.data().as_ptr() as usize, start + b"data: ".len());
}

#[test]
fn sse_decoder_reports_an_over_long_event_once_and_resumes_after_it() {
    let mut decoder = SseDecoder::new().with_max_event_bytes(16);
    let mut buf = BytesMut::from(&b"data: 0123456789abcdef\nid: 1\ndata: more\n\ndata: ok\n\n"[..]);
    assert_eq!(decoder.decode(&mut buf), Err(Error::TooLong { limit: 16 }));
    let event = decoder.decode(&mut buf).expect("ok").expect("event");
    assert_eq!(event.data_str(), "ok");
    assert_eq!(
        event.last_event_id(),
        "",
        "fields of the skipped event are ignored"
    );
}

#[test]
fn sse_decoder_counts_data_already_buffered_towards_the_limit() {
    let mut decoder = SseDecoder::new().with_max_event_bytes(20);
    let mut buf = BytesMut::from(&b"data: 0123456789\ndata: 0123456789\n\ndata: ok\n\n"[..]);
    assert_eq!(decoder.decode(&mut buf), Err(Error::TooLong { limit: 20 }));
    assert_eq!(
        decoder
            .decode(&mut buf)
            .expect("ok")
            .expect("event")
            .data_str(),
        "ok"
    );
}

#[test]
fn sse_decoder_skips_an_over_long_event_without_buffering_it() {
    const LIMIT: usize = 64 * 1024;
    let mut decoder = SseDecoder::new().with_max_event_bytes(LIMIT);
    let mut buf = BytesMut::from(&b"data: "[..]);
    feed_an_over_long_record(&mut decoder, LIMIT, &mut buf);
    buf.extend_from_slice(b"\n\ndata: next\n\n");
    let event = decoder.decode(&mut buf).expect("ok").expect("event");
    assert_eq!(event.data_str(), "next");
}

#[test]
fn sse_decoder_does_not_end_a_skipped_event_at_the_end_of_a_dropped_partial_line() {
    let mut decoder = SseDecoder::new().with_max_event_bytes(8);
    let mut buf = BytesMut::from(&b"data: 0123456789"[..]);
    assert!(decoder.decode(&mut buf).is_err());
    // This LF ends the over-long line; it is not a blank line, so "data: lost" is skipped.
    buf.extend_from_slice(b"\ndata: lost\n\ndata: ok\n\n");
    let event = decoder.decode(&mut buf).expect("ok").expect("event");
    assert_eq!(event.data_str(), "ok");
}

#[test]
fn sse_decoder_reports_an_over_long_unterminated_last_line_at_eof() {
    let mut decoder = SseDecoder::new().with_max_event_bytes(8).lenient_eof(true);
    // Under the BOM-wait rule the decoder has not looked at these bytes before EOF.
    let mut buf = BytesMut::from(&b"\xEF\xBB"[..]);
    assert_eq!(decoder.decode(&mut buf), Ok(None));
    buf.extend_from_slice(b"data: 0123456789");
    assert_eq!(
        decoder.decode_eof(&mut buf),
        Err(Error::TooLong { limit: 8 })
    );
    assert_eq!(decoder.decode_eof(&mut buf), Ok(None));
}

#[test]
fn sse_decoder_keeps_keep_alive_comments_out_of_the_limit() {
    // A long-lived stream of `: ping` lines with no blank line never grows an event.
    let mut decoder = SseDecoder::new().with_max_event_bytes(16);
    let mut buf = BytesMut::new();
    for _ in 0..10_000 {
        buf.extend_from_slice(b": ping\n");
        assert_eq!(decoder.decode(&mut buf), Ok(None));
    }
    buf.extend_from_slice(b"data: ok\n\n");
    assert_eq!(
        decoder
            .decode(&mut buf)
            .expect("ok")
            .expect("event")
            .data_str(),
        "ok"
    );
}

#[test]
fn sse_decoder_works_as_a_tokio_codec() {
    let body: &[u8] = b"data: a\n\nevent: e\ndata: b\r\n\r\n";
    let events = decode_framed(body, SseDecoder::new());
    assert_eq!(summary(&events), [msg("a"), ("e".into(), "b".into())]);
}

#[test]
fn sse_decoder_takes_a_long_line_in_one_byte_chunks() {
    // A decoder that re-scanned its buffer would need 3.5e13 steps here.
    let event = decode_one_byte_at_a_time(&mut SseDecoder::new(), b"data: ", 8 << 20, b"\n\n");
    assert_eq!(event.data().len(), 8 << 20);
}
