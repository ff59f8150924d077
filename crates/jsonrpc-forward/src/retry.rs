//! When a failed request is sent again.
//!
//! **Retries never run a tool twice.** A request is resent for every method only when the
//! server cannot have acted on it: the connection failed before the request was sent, or the
//! server answered 429 or 503 (it refused the work). 502, 504, 408 and a connection that broke
//! after sending are retried only for read-only methods (`initialize`, `ping`, `*/list`,
//! `resources/read`, `prompts/get`, `completion/complete`) and notifications (they run
//! nothing), and only while nothing of the answer has been handed on. A `tools/call` that met a 502 is answered with the error.
//!
//! The policy is a pure function of the error, the attempt and the method, so it is tested
//! without sleeping; the caller draws the jitter and keeps the total within the request's
//! time budget (the idle timeout, counted from the first attempt). A server's `Retry-After`
//! is taken as it is, of any size; one that does not fit in what is left of the budget ends
//! the retries at once (no arithmetic on it can overflow).

use std::time::Duration;

use crate::error::{Error, RetryClass};
use crate::message::is_safe_to_resend;

/// How often and how long to wait before resending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Most resends after the first attempt (default 5).
    pub max_retries: u32,
    /// Wait before the first resend (default 250 ms); it doubles each time.
    pub initial_backoff: Duration,
    /// Longest wait between attempts (default 8 s).
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 5,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(8),
        }
    }
}

impl RetryPolicy {
    /// A policy that never resends.
    #[must_use]
    pub fn never() -> Self {
        Self {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// How long to wait before resending after `error`, or `None` to give up.
    ///
    /// `attempt` counts the resends already made (0 after the first failure). `method` is the
    /// request's method (`None` for a batch or a response, never resent after it may have arrived). `jitter`, drawn
    /// by the caller from `[0, 1)`, spreads the backoff over its upper half. A server's
    /// `Retry-After` replaces the backoff.
    #[must_use]
    pub fn delay(
        &self,
        error: &Error,
        attempt: u32,
        method: Option<&str>,
        jitter: f64,
    ) -> Option<Duration> {
        if attempt >= self.max_retries {
            return None;
        }
        match error.retry_class() {
            RetryClass::Never => return None,
            RetryClass::SafeToResend if !method.is_some_and(is_safe_to_resend) => return None,
            RetryClass::Always | RetryClass::SafeToResend => {}
        }
        if let Some(after) = error.retry_after() {
            return Some(after);
        }
        let backoff = self
            .initial_backoff
            .saturating_mul(2u32.saturating_pow(attempt))
            .min(self.max_backoff);
        Some(backoff.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0)))
    }
}
