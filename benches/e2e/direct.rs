//! The floor: a direct keep-alive HTTP client (a bare pooled `reqwest::Client`, the crate
//! the bridge is built on) posting the same bytes to the same server.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};

use crate::bridge::{answer_id, is_error};

/// A pooled client and the endpoint.
#[derive(Debug, Clone)]
pub(crate) struct Direct {
    client: reqwest::Client,
    url: Arc<str>,
    /// Sent on every POST besides `Content-Type` and `Accept`.
    headers: HeaderMap,
}

impl Direct {
    pub(crate) fn new(url: &str, deadline: Duration) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .tcp_nodelay(true)
            .timeout(deadline)
            .build()
            .map_err(|e| format!("reqwest client: {e}"))?;
        Ok(Self {
            client,
            url: url.into(),
            headers: HeaderMap::new(),
        })
    }

    /// The same client with `headers` on every POST: a 2026-07-28 client's
    /// `MCP-Protocol-Version`, `Mcp-Method` and `Mcp-Name` (research notes
    /// `protocol-2026.md` §1.1), for the floor of a translated bridge.
    pub(crate) fn with_headers(mut self, headers: &[(&'static str, &'static str)]) -> Self {
        for (name, value) in headers {
            self.headers.insert(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        self
    }

    async fn send(&self, body: Bytes) -> Result<reqwest::Response, String> {
        self.client
            .post(&*self.url)
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json, text/event-stream")
            .headers(self.headers.clone())
            .body(body)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| format!("direct client: {}", jsonrpc_forward::display_chain(&e)))
    }

    /// One request whose answer is one small `application/json` message with id `id`.
    pub(crate) async fn call(&self, id: u64, body: Bytes) -> Result<(), String> {
        let answer = self
            .send(body)
            .await?
            .bytes()
            .await
            .map_err(|e| format!("direct client body: {e}"))?;
        match answer_id(&answer) {
            Some(got) if got == id && !is_error(&answer) => Ok(()),
            _ => Err(format!(
                "direct client: unexpected answer to {id}: {}",
                String::from_utf8_lossy(&answer[..answer.len().min(200)])
            )),
        }
    }

    /// Reads a whole response as chunks, nothing decoded or kept: the floor of the time a
    /// large answer takes. Returns the body bytes and the time to its end.
    pub(crate) async fn drain(&self, body: Bytes) -> Result<(u64, Duration), String> {
        let start = Instant::now();
        let mut response = self.send(body).await?;
        let mut bytes = 0u64;
        // Ends with the body (bounded by the client's timeout).
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("direct client body: {e}"))?
        {
            bytes += chunk.len() as u64;
        }
        Ok((bytes, start.elapsed()))
    }

    /// `total` echo calls, `in_flight` tasks each taking the next id, ids from `first_id`.
    pub(crate) async fn pump(
        &self,
        first_id: u64,
        total: u64,
        in_flight: usize,
        request: fn(u64) -> String,
    ) -> Result<(), String> {
        let next = Arc::new(AtomicU64::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..in_flight {
            let (client, next) = (self.clone(), Arc::clone(&next));
            tasks.spawn(async move {
                // Each pass takes a fresh index; the loop ends once they reach `total`.
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= total {
                        return Ok::<(), String>(());
                    }
                    let id = first_id + n;
                    client.call(id, Bytes::from(request(id))).await?;
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.map_err(|e| format!("direct task: {e}"))??;
        }
        Ok(())
    }
}
