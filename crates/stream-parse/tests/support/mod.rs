//! Drivers shared by the decoder tests. Every decoder has tokio-util's `Decoder` shape (the
//! crate's own tests build with `tokio-codec`), so one driver serves them all.

use std::fmt::Debug;

use bytes::BytesMut;
use stream_parse::Error;
use stream_parse::codec::CodecError;
use tokio_util::codec::{Decoder, FramedRead};

/// Feeds `chunks` in order, then ends the stream; collects the items (errors panic).
pub(crate) fn decode_chunks<D>(decoder: &mut D, chunks: &[&[u8]]) -> Vec<D::Item>
where
    D: Decoder,
    D::Error: Debug,
{
    let mut buf = BytesMut::new();
    let mut items = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        while let Some(item) = decoder.decode(&mut buf).expect("no error") {
            items.push(item);
        }
    }
    while let Some(item) = decoder.decode_eof(&mut buf).expect("no error") {
        items.push(item);
    }
    items
}

/// Reads `body` through a `FramedRead` over `decoder`; collects the items (errors panic).
pub(crate) fn decode_framed<D>(body: &[u8], decoder: D) -> Vec<D::Item>
where
    D: Decoder,
    D::Error: Debug,
{
    use futures_util::StreamExt;

    let frames = FramedRead::new(body, decoder);
    let items = futures_executor::block_on(frames.collect::<Vec<_>>());
    items.into_iter().map(|r| r.expect("no error")).collect()
}

/// Appends 16 MiB of `x` to `buf` in 4 KiB chunks, decoding after each: one record far over
/// `limit`. Asserts that it is reported once and never buffered (`buf` stays near `limit`).
pub(crate) fn feed_an_over_long_record<D>(decoder: &mut D, limit: usize, buf: &mut BytesMut)
where
    D: Decoder<Error = CodecError>,
    D::Item: Debug,
{
    let chunk = [b'x'; 4096];
    let mut errors = 0;
    for _ in 0..4096 {
        buf.extend_from_slice(&chunk);
        match decoder.decode(buf) {
            Err(CodecError::Decode(Error::TooLong { limit: reported })) => {
                assert_eq!(reported, limit);
                errors += 1;
            }
            Ok(None) => {}
            other => panic!("unexpected {other:?}"),
        }
        assert!(
            buf.len() <= limit + chunk.len(),
            "retained {} bytes",
            buf.len()
        );
        assert!(
            buf.capacity() <= 2 * (limit + chunk.len()),
            "capacity {}",
            buf.capacity()
        );
    }
    assert_eq!(errors, 1, "the error is reported once");
}

/// Feeds `prefix`, then `len` bytes of `x` one per call, then `end`; returns the item that
/// `end` completes.
///
/// Not a timing assertion (benches/ measures the linearity): each call looks only at the new
/// byte, where a decoder that re-scanned its buffer would need about `len² / 2` steps.
pub(crate) fn decode_one_byte_at_a_time<D>(
    decoder: &mut D,
    prefix: &[u8],
    len: usize,
    end: &[u8],
) -> D::Item
where
    D: Decoder,
    D::Item: Debug,
    D::Error: Debug,
{
    let mut buf = BytesMut::with_capacity(prefix.len() + len + end.len());
    buf.extend_from_slice(prefix);
    for _ in 0..len {
        buf.extend_from_slice(b"x");
        let decoded = decoder.decode(&mut buf);
        assert!(matches!(decoded, Ok(None)), "{decoded:?}");
    }
    buf.extend_from_slice(end);
    decoder
        .decode(&mut buf)
        .expect("no error")
        .expect("an item")
}
