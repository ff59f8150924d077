//! `--keep-alive`: the bridge's own `ping` when the session has been idle that long.
//!
//! Proxies and load balancers reap HTTP connections, and some servers sessions, that carry
//! nothing for a while; a host that sits idle between two prompts would then find its
//! session gone. So when no message has gone either way (a line read from the host or
//! written to it) for the keep-alive period, the bridge sends an MCP `ping` of its own, with
//! a string id under [`PING_ID_PREFIX`]. Its answer is dropped (the host never asked);
//! anything else the server sends on that stream (its own requests, notifications) goes to
//! the host as usual. A ping that fails is logged at WARN; a 404 to it means the server
//! forgot the session, which is recovered at once, as for any message (see `session`).
//!
//! Pings start once the host has sent `notifications/initialized`: before that there is no
//! session to keep, and a server may refuse requests.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::bridge::Context;
use crate::error::display_chain;
use crate::message::Outgoing;

/// The prefix of the ids of the bridge's own pings: a host's ids never look like this in
/// practice, and the ping's answer is read from the ping's own stream in any case.
pub(crate) const PING_ID_PREFIX: &str = "mcp-wrapper-keep-alive-";

/// When a message last went either way, as milliseconds since `start`.
#[derive(Debug)]
pub(crate) struct Activity {
    start: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    pub(crate) fn new() -> Self {
        Self {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    /// A message went one way or the other now.
    pub(crate) fn touch(&self) {
        let now = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(now, Ordering::Relaxed);
    }

    /// How long no message has gone either way.
    fn idle_for(&self) -> Duration {
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last)
    }
}

/// Pings the server whenever the session has been idle for `every`, until aborted.
pub(crate) async fn run(ctx: Context, every: Duration, activity: std::sync::Arc<Activity>) {
    let mut sent: u64 = 0;
    loop {
        let idle = activity.idle_for();
        if idle < every {
            tokio::time::sleep(every.saturating_sub(idle)).await;
            continue;
        }
        // The ping counts as traffic: the next one comes a whole period later.
        activity.touch();
        if !ctx.session.is_initialized() {
            continue;
        }
        sent += 1;
        ping(&ctx, sent).await;
    }
}

/// Sends ping number `n` and drains its stream; its answer is dropped.
async fn ping(ctx: &Context, n: u64) {
    let text = format!(r#"{{"jsonrpc":"2.0","id":"{PING_ID_PREFIX}{n}","method":"ping"}}"#);
    let Ok(message) = Outgoing::new(Bytes::from(text)) else {
        return; // Made above: always a valid message.
    };
    tracing::debug!(n, "session idle; sending a keep-alive ping");
    let mut response = match ctx.send(&message, &mut 0).await {
        Ok(response) => response,
        Err(e) => {
            tracing::warn!(error = %display_chain(&e), "keep-alive ping failed");
            return;
        }
    };
    let messages = response.messages();
    while let Some(item) = messages.next_routed().await {
        match item {
            Ok(routed) if routed.answers.is_empty() => {
                if !ctx.output.write(routed.line).await {
                    return;
                }
            }
            Ok(routed) => {
                if is_error(routed.line.bytes()) {
                    tracing::warn!("keep-alive ping answered with an error");
                }
            }
            Err(e) => {
                tracing::warn!(error = %display_chain(&e), "keep-alive ping failed");
                return;
            }
        }
    }
}

/// Whether a response is an error response.
fn is_error(response: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Response<'a> {
        #[serde(borrow)]
        error: Option<&'a serde_json::value::RawValue>,
    }
    serde_json::from_slice::<Response<'_>>(response).is_ok_and(|r| r.error.is_some())
}
