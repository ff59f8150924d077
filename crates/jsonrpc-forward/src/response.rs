//! [`StreamedResponse`]: the response to an [`HttpClient::send`](crate::HttpClient::send),
//! its body read chunk by chunk.

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::HeaderMap;
use reqwest::{Response, StatusCode, Url, Version};

use crate::error::Error;
use crate::redact::{redact_url, redacted};

/// A response whose head has arrived; its body streams in through [`chunk`](Self::chunk),
/// decompressed (gzip, brotli) as it comes. Dropping it closes the response.
pub struct StreamedResponse {
    response: Response,
    /// The longest silence between chunks.
    idle: Duration,
}

/// Shows the status, version, URL (without userinfo and query) and the header names, never
/// their values: `Set-Cookie` and session ids are secrets.
impl std::fmt::Debug for StreamedResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamedResponse")
            .field("status", &self.response.status())
            .field("version", &self.response.version())
            .field("url", &redact_url(self.response.url().as_str()))
            .field(
                "headers",
                &self.response.headers().keys().collect::<Vec<_>>(),
            )
            .field("idle_timeout", &self.idle)
            .finish_non_exhaustive()
    }
}

impl StreamedResponse {
    pub(crate) fn new(response: Response, idle: Duration) -> Self {
        Self { response, idle }
    }

    /// The HTTP status, whatever it is.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.response.status()
    }

    /// The HTTP version the response came over.
    #[must_use]
    pub fn version(&self) -> Version {
        self.response.version()
    }

    /// The response headers.
    #[must_use]
    pub fn headers(&self) -> &HeaderMap {
        self.response.headers()
    }

    /// The URL of the response: the request's, or where redirects led.
    #[must_use]
    pub fn url(&self) -> &Url {
        self.response.url()
    }

    /// The body's length as the server announced it, if it did and the body is not
    /// compressed.
    #[must_use]
    pub fn content_length(&self) -> Option<u64> {
        self.response.content_length()
    }

    /// The next piece of the body (decompressed), or `None` at its end.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if nothing arrives for the request's timeout (the idle timeout
    /// unless the request set one); [`Error::Read`] if the connection broke mid-body (a
    /// reset, a truncated chunked body) or the compressed body is corrupt.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, Error> {
        match tokio::time::timeout(self.idle, self.response.chunk()).await {
            Err(_) => Err(Error::Timeout(self.idle)),
            Ok(Err(e)) => Err(Error::Read(redacted(e))),
            Ok(Ok(chunk)) => Ok(chunk),
        }
    }
}
