//! `tokio_util::codec::Decoder` impls, behind the `tokio-codec` feature.
//!
//! The decoders' own error carries no IO; a codec's error must also hold the IO error of the
//! reader under it, so the impls use [`CodecError`].

use bytes::{Bytes, BytesMut};

use crate::{Error, LineDecoder, NdjsonDecoder, SseDecoder, SseEvent};

/// The error of a `FramedRead` over one of our decoders.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The stream held a record over the decoder's limit.
    #[error(transparent)]
    Decode(#[from] Error),
    /// Reading the underlying stream failed.
    #[error("reading the stream failed")]
    Io(#[from] std::io::Error),
}

/// One `Decoder` impl: each method calls the decoder's inherent method of the same name.
macro_rules! codec {
    ($decoder:ty => $item:ty) => {
        impl tokio_util::codec::Decoder for $decoder {
            type Item = $item;
            type Error = CodecError;

            fn decode(&mut self, src: &mut BytesMut) -> Result<Option<$item>, CodecError> {
                <$decoder>::decode(self, src).map_err(CodecError::from)
            }

            fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<$item>, CodecError> {
                <$decoder>::decode_eof(self, src).map_err(CodecError::from)
            }
        }
    };
}

codec!(SseDecoder => SseEvent);
codec!(NdjsonDecoder => Bytes);
codec!(LineDecoder => Bytes);
