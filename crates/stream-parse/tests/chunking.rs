//! Chunking invariance: any split of any input decodes exactly as the whole-input reference.
//!
//! The same oracle (`stream_parse::testing`) backs the fuzz targets in `fuzz/`.

use bytes::Bytes;
use proptest::prelude::*;
use stream_parse::testing::{
    Decoded, check_lines, check_ndjson, check_sse, chunks, incremental_lines, incremental_ndjson,
    incremental_sse, reference_lines, reference_sse,
};

/// Bytes drawn mostly from the characters that matter to the grammars, so that short inputs
/// reach every rule: line ends, colons, spaces, field names, NUL, a BOM, UTF-8 pieces.
fn stream_bytes() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        Just(b"\n".to_vec()),
        Just(b"\r".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b":".to_vec()),
        Just(b" ".to_vec()),
        Just(b"data".to_vec()),
        Just(b"event".to_vec()),
        Just(b"id".to_vec()),
        Just(b"retry".to_vec()),
        Just(b"message".to_vec()),
        Just(b"\0".to_vec()),
        Just(b"\xEF\xBB\xBF".to_vec()),
        Just("\u{e9}\u{1F600}".as_bytes().to_vec()),
        Just(b"{\"a\":1}".to_vec()),
        proptest::collection::vec(b'0'..=b'9', 1..4),
        proptest::collection::vec(any::<u8>(), 1..4),
    ];
    proptest::collection::vec(token, 0..40).prop_map(|t| t.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn sse_decoder_matches_reference_for_any_split(
        input in stream_bytes(),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
        max in prop_oneof![Just(usize::MAX), 0usize..64],
        lenient in any::<bool>(),
    ) {
        check_sse(&input, &cuts, max, lenient);
    }

    #[test]
    fn sse_decoder_matches_reference_for_arbitrary_bytes(
        input in proptest::collection::vec(any::<u8>(), 0..200),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
        lenient in any::<bool>(),
    ) {
        check_sse(&input, &cuts, 64, lenient);
    }

    #[test]
    fn sse_decoder_matches_reference_in_one_byte_chunks(
        input in stream_bytes(),
        max in prop_oneof![Just(usize::MAX), 0usize..64],
        lenient in any::<bool>(),
    ) {
        let cuts: Vec<usize> = (0..input.len()).collect();
        check_sse(&input, &cuts, max, lenient);
    }

    #[test]
    fn sse_decoder_is_chunking_invariant(
        input in stream_bytes(),
        cuts_a in proptest::collection::vec(any::<usize>(), 0..12),
        cuts_b in proptest::collection::vec(any::<usize>(), 0..12),
        max in prop_oneof![Just(usize::MAX), 0usize..64],
    ) {
        let a = incremental_sse(&chunks(&input, &cuts_a), max, true);
        let b = incremental_sse(&chunks(&input, &cuts_b), max, true);
        prop_assert_eq!(a, b);
    }

    // NDJSON and text lines are one framing with other line ends (LF only; LF, CR, CRLF):
    // each case checks both.

    #[test]
    fn ndjson_and_line_decoders_match_reference_for_any_split(
        input in stream_bytes(),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
        max in prop_oneof![Just(usize::MAX), 0usize..32],
    ) {
        check_ndjson(&input, &cuts, max);
        check_lines(&input, &cuts, max);
    }

    #[test]
    fn ndjson_and_line_decoders_match_reference_in_one_byte_chunks(
        input in proptest::collection::vec(any::<u8>(), 0..200),
        max in prop_oneof![Just(usize::MAX), 0usize..32],
    ) {
        let cuts: Vec<usize> = (0..input.len()).collect();
        check_ndjson(&input, &cuts, max);
        check_lines(&input, &cuts, max);
    }

    #[test]
    fn ndjson_and_line_decoders_are_chunking_invariant(
        input in stream_bytes(),
        cuts_a in proptest::collection::vec(any::<usize>(), 0..12),
        cuts_b in proptest::collection::vec(any::<usize>(), 0..12),
        max in prop_oneof![Just(usize::MAX), 0usize..32],
    ) {
        let (a, b) = (chunks(&input, &cuts_a), chunks(&input, &cuts_b));
        prop_assert_eq!(incremental_ndjson(&a, max), incremental_ndjson(&b, max));
        prop_assert_eq!(incremental_lines(&a, max), incremental_lines(&b, max));
    }

    #[test]
    fn line_decoder_matches_reference_when_every_cr_ends_a_chunk(
        input in stream_bytes(),
        max in prop_oneof![Just(usize::MAX), 0usize..32],
    ) {
        // The case httpx handles apart: a CRLF split between two chunks is one line end.
        let cuts: Vec<usize> = input
            .iter()
            .enumerate()
            .filter(|&(_, &b)| b == b'\r')
            .map(|(i, _)| i + 1)
            .collect();
        check_lines(&input, &cuts, max);
    }
}

#[test]
fn reference_sse_follows_the_whatwg_example_streams() {
    // The reference itself is checked against the standard's worked examples.
    let out = reference_sse(
        b"data: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n",
        usize::MAX,
        false,
    );
    let data: Vec<_> = out
        .items
        .iter()
        .map(|d| match d {
            stream_parse::testing::Decoded::Item(e) => e.data_str().into_owned(),
            stream_parse::testing::Decoded::TooLong => "TooLong".to_owned(),
        })
        .collect();
    assert_eq!(data, ["first event", "second event"]);
    assert_eq!(out.last_event_id, "");
}

#[test]
fn reference_lines_splits_as_python_bytes_splitlines() {
    // The reference itself, checked against `bytes.splitlines()` (CPython 3: for bytes only
    // LF, CR and CRLF end lines, and no empty line follows a final line end).
    let cases: [(&[u8], &[&[u8]]); 6] = [
        (b"", &[]),
        (b"a", &[b"a"]),
        (b"a\n", &[b"a"]),
        (b"\r", &[b""]),
        (b"a\r\r\nb\n\rc", &[b"a", b"", b"b", b"", b"c"]),
        (b"\x0b\x0c\x1c\n", &[b"\x0b\x0c\x1c"]),
    ];
    for (input, expected) in cases {
        let expected: Vec<_> = expected
            .iter()
            .map(|line| Decoded::Item(Bytes::copy_from_slice(line)))
            .collect();
        assert_eq!(reference_lines(input, usize::MAX), expected, "{input:?}");
    }
    assert_eq!(
        reference_lines(b"12\r\n123\r12", 2),
        [
            Decoded::Item(Bytes::from_static(b"12")),
            Decoded::TooLong,
            Decoded::Item(Bytes::from_static(b"12")),
        ]
    );
}
