//! Chunking invariance: any split of any input decodes exactly as the whole-input reference.
//!
//! The same oracle (`stream_parse::testing`) backs the fuzz targets in `fuzz/`.

use proptest::prelude::*;
use stream_parse::testing::{
    check_ndjson, check_sse, chunks, incremental_ndjson, incremental_sse, reference_sse,
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

    #[test]
    fn ndjson_decoder_matches_reference_for_any_split(
        input in stream_bytes(),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
        max in prop_oneof![Just(usize::MAX), 0usize..32],
    ) {
        check_ndjson(&input, &cuts, max);
    }

    #[test]
    fn ndjson_decoder_matches_reference_in_one_byte_chunks(
        input in proptest::collection::vec(any::<u8>(), 0..200),
        max in prop_oneof![Just(usize::MAX), 0usize..32],
    ) {
        let cuts: Vec<usize> = (0..input.len()).collect();
        check_ndjson(&input, &cuts, max);
    }

    #[test]
    fn ndjson_decoder_is_chunking_invariant(
        input in stream_bytes(),
        cuts_a in proptest::collection::vec(any::<usize>(), 0..12),
        cuts_b in proptest::collection::vec(any::<usize>(), 0..12),
        max in prop_oneof![Just(usize::MAX), 0usize..32],
    ) {
        let a = incremental_ndjson(&chunks(&input, &cuts_a), max);
        let b = incremental_ndjson(&chunks(&input, &cuts_b), max);
        prop_assert_eq!(a, b);
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
