//! What the bridge learns about the conversation: the session id and protocol version.
//!
//! The `initialize` response carries the `Mcp-Session-Id` header and, in its result, the
//! negotiated `protocolVersion`; every later request carries both. They are recorded before
//! the `initialize` answer is written to stdout, so the client's next message already has them.

use std::sync::RwLock;

use crate::client::Forwarded;
use crate::headers::RequestHeaders;
use crate::message::Outgoing;

/// The conversation's headers, shared by all requests of a bridge.
#[derive(Debug, Default)]
pub(crate) struct Session {
    headers: RwLock<RequestHeaders>,
}

impl Session {
    /// The headers for the next request.
    pub(crate) fn headers(&self) -> RequestHeaders {
        self.headers
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Notes the session id of an `initialize` response.
    pub(crate) fn on_response(&self, message: &Outgoing, response: &Forwarded) {
        if message.method() != Some("initialize") {
            return;
        }
        let session_id = response.session_id().map(str::to_owned);
        let mut headers = self
            .headers
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if headers.session_id != session_id {
            tracing::debug!(session = session_id.as_deref(), "session started");
            headers.session_id = session_id;
        }
    }

    /// Notes the negotiated protocol version from the answer to `initialize`.
    pub(crate) fn on_answer(&self, message: &Outgoing, answer: &[u8]) {
        #[derive(serde::Deserialize)]
        struct Answer {
            result: Option<InitResult>,
        }
        #[derive(serde::Deserialize)]
        struct InitResult {
            #[serde(rename = "protocolVersion")]
            protocol_version: Option<String>,
        }
        if message.method() != Some("initialize") {
            return;
        }
        let version = serde_json::from_slice::<Answer>(answer)
            .ok()
            .and_then(|a| a.result)
            .and_then(|r| r.protocol_version);
        if let Some(version) = version {
            self.headers
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .protocol_version = Some(version);
        }
    }
}
