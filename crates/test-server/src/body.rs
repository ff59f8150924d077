//! The wire-level part of a response body: gzip, cutting into chunks, pauses, resets, and
//! the `http_body::Body` that hyper sends.

use std::convert::Infallible;
use std::io::Write as _;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use http_body::{Frame, SizeHint};
use tokio::sync::mpsc;

use crate::conn::Killer;
use crate::fault::Fault;

/// Bytes to send after a delay.
#[derive(Debug)]
pub(crate) struct Segment {
    pub(crate) delay: Duration,
    pub(crate) bytes: Bytes,
}

impl Segment {
    pub(crate) fn new(delay: Duration, bytes: Bytes) -> Self {
        Self { delay, bytes }
    }
}

/// A lazy sequence of segments.
pub(crate) type SegmentIter = Box<dyn Iterator<Item = Segment> + Send>;

/// Gzips segments as they pass, with a sync flush after each, so that a stream stays
/// incremental (each segment decodes as soon as it arrives).
pub(crate) struct Gzip {
    inner: SegmentIter,
    encoder: Option<GzEncoder<Vec<u8>>>,
}

impl Gzip {
    pub(crate) fn new(inner: SegmentIter) -> Self {
        Self {
            inner,
            encoder: Some(GzEncoder::new(Vec::new(), Compression::fast())),
        }
    }
}

impl Iterator for Gzip {
    type Item = Segment;

    fn next(&mut self) -> Option<Segment> {
        let encoder = self.encoder.as_mut()?;
        if let Some(segment) = self.inner.next() {
            encoder
                .write_all(&segment.bytes)
                .and_then(|()| encoder.flush())
                .expect("writing to a Vec cannot fail");
            let out = std::mem::take(encoder.get_mut());
            return Some(Segment::new(segment.delay, out.into()));
        }
        let tail = self
            .encoder
            .take()?
            .finish()
            .expect("writing to a Vec cannot fail");
        Some(Segment::new(Duration::ZERO, tail.into()))
    }
}

/// Where the body is cut, paused or reset, from a [`Fault`]. Offsets are body bytes.
#[derive(Debug, Clone, Default)]
pub(crate) struct Cuts {
    chunk_size: Option<usize>,
    /// Sorted, without duplicates.
    split_at: Vec<usize>,
    chunk_delay: Duration,
    pause_after: Option<usize>,
    pause: Duration,
    reset_after: Option<usize>,
}

impl Cuts {
    pub(crate) fn new(fault: &Fault) -> Self {
        let mut split_at = fault.split_at.clone();
        split_at.sort_unstable();
        split_at.dedup();
        Self {
            chunk_size: fault.chunk_size.filter(|n| *n > 0),
            split_at,
            chunk_delay: Duration::from_millis(fault.chunk_delay_ms),
            pause_after: fault.pause_after_bytes,
            pause: Duration::from_millis(fault.pause_ms),
            reset_after: fault.reset_after_bytes,
        }
    }

    /// Nothing to cut, pause or reset: the body can go out as it is.
    pub(crate) fn is_plain(&self) -> bool {
        self.chunk_size.is_none()
            && self.split_at.is_empty()
            && self.pause_after.is_none()
            && self.reset_after.is_none()
    }

    fn is_split(&self, offset: usize) -> bool {
        offset > 0
            && (self.chunk_size.is_some_and(|n| offset.is_multiple_of(n))
                || self.split_at.binary_search(&offset).is_ok())
    }

    /// The first offset after `offset` where a chunk must end.
    fn next_cut(&self, offset: usize) -> usize {
        let chunk = self
            .chunk_size
            .map(|n| (offset / n).saturating_add(1).saturating_mul(n));
        let split = self.split_at.iter().copied().find(|&at| at > offset);
        let pause = self.pause_after.filter(|&at| at > offset);
        let reset = self.reset_after.filter(|&at| at > offset);
        [chunk, split, pause, reset]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(usize::MAX)
    }
}

/// Sends `segments` into `tx` as frames cut by `cuts`, sleeping where told; resets the
/// connection through `killer` at `cuts.reset_after` (or at the end of a shorter body).
/// Ends early, quietly, when the client goes away.
pub(crate) async fn pump(
    segments: SegmentIter,
    cuts: Cuts,
    tx: mpsc::Sender<Bytes>,
    killer: Arc<Killer>,
) {
    let mut offset = 0usize;
    let mut paused = false;
    for segment in segments {
        if !segment.delay.is_zero() {
            tokio::time::sleep(segment.delay).await;
        }
        let mut rest = segment.bytes;
        while !rest.is_empty() {
            if !paused && cuts.pause_after == Some(offset) {
                paused = true;
                tokio::time::sleep(cuts.pause).await;
            }
            if cuts.reset_after == Some(offset) {
                reset(&tx, &killer).await;
                return;
            }
            if cuts.is_split(offset) && !cuts.chunk_delay.is_zero() {
                tokio::time::sleep(cuts.chunk_delay).await;
            }
            let end = cuts.next_cut(offset).min(offset + rest.len());
            let piece = rest.split_to(end - offset);
            offset = end;
            if tx.send(piece).await.is_err() {
                return;
            }
        }
    }
    if !paused && cuts.pause_after == Some(offset) {
        tokio::time::sleep(cuts.pause).await;
    }
    if cuts.reset_after.is_some() {
        reset(&tx, &killer).await;
    }
}

/// Lets hyper take and write what was sent, then drops the connection with a TCP RST.
async fn reset(tx: &mpsc::Sender<Bytes>, killer: &Killer) {
    for _ in 0..200 {
        if tx.capacity() == tx.max_capacity() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // The bytes taken are in hyper's write buffer; give it time to reach the socket.
    tokio::time::sleep(Duration::from_millis(30)).await;
    killer.reset();
}

/// A response body: either all at once, or frames from a [`pump`] task.
#[derive(Debug)]
pub(crate) enum ResponseBody {
    /// The whole body; `None` once sent.
    Full(Option<Bytes>),
    /// Frames as they come; `len` is announced as `Content-Length` when known.
    Channel {
        rx: mpsc::Receiver<Bytes>,
        len: Option<u64>,
    },
}

impl ResponseBody {
    pub(crate) fn empty() -> Self {
        Self::Full(None)
    }

    pub(crate) fn full(bytes: impl Into<Bytes>) -> Self {
        Self::Full(Some(bytes.into()))
    }
}

impl http_body::Body for ResponseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Self::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Self::Channel { rx, .. } => rx.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Full(bytes) => bytes.as_ref().is_none_or(Bytes::is_empty),
            Self::Channel { .. } => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Self::Channel { len: Some(len), .. } => SizeHint::with_exact(*len),
            Self::Channel { len: None, .. } => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_cut_takes_the_nearest_of_every_rule() {
        let fault = Fault {
            chunk_size: Some(10),
            split_at: vec![7, 3, 7],
            reset_after_bytes: Some(25),
            ..Fault::default()
        };
        let cuts = Cuts::new(&fault);
        let mut offset = 0;
        let mut seen = Vec::new();
        while offset < 30 {
            offset = cuts.next_cut(offset);
            seen.push(offset);
        }
        assert_eq!(seen, [3, 7, 10, 20, 25, 30]);
        assert!(cuts.is_split(3) && cuts.is_split(20) && !cuts.is_split(25));
    }

    #[test]
    fn gzip_segments_decode_to_the_input() {
        use std::io::Read as _;
        let parts: Vec<Segment> = ["hello ", "world"]
            .into_iter()
            .map(|s| Segment::new(Duration::ZERO, Bytes::from(s)))
            .collect();
        let gz: Vec<u8> = Gzip::new(Box::new(parts.into_iter()))
            .flat_map(|s| s.bytes.to_vec())
            .collect();
        let mut out = String::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_string(&mut out)
            .expect("valid gzip");
        assert_eq!(out, "hello world");
    }
}
