//! The one error type of this crate.

/// What can go wrong while decoding a stream.
///
/// Every error is **recoverable**: after a decoder returns one, it discards the rest of the
/// offending record as it streams by (without buffering it) and the next call carries on at
/// the next record boundary. "Need more bytes" is never an error; it is `Ok(None)`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A record (an SSE event, an NDJSON line) grew past the decoder's limit.
    #[error("record exceeds the limit of {limit} bytes")]
    TooLong {
        /// The limit in force, in bytes.
        limit: usize,
    },
}
