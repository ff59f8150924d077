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

use std::future::Future;
use std::time::{Duration, Instant};

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

/// The policy's delay before resend number `attempt + 1`, if it ends within `budget` counted
/// from `started` (the first attempt). A delay the server asked for (`Retry-After`, any size)
/// that does not fit ends the retries at once: waiting out the budget could not succeed
/// sooner than the server allows, so the caller reports the last error now.
pub(crate) fn delay_within(
    policy: &RetryPolicy,
    error: &Error,
    attempt: u32,
    method: Option<&str>,
    started: Instant,
    budget: Duration,
) -> Option<Duration> {
    let delay = policy.delay(error, attempt, method, fastrand::f64())?;
    let remaining = budget.saturating_sub(started.elapsed());
    (delay < remaining).then_some(delay)
}

/// Runs `send` until it succeeds or [`delay_within`] gives up, sleeping the policy's delay
/// between attempts; returns the last error. `attempt` counts the resends made (it carries
/// over when a caller resends again later, as a broken answer stream does, so the policy's
/// `max_retries` bounds the whole request). This is the one retry loop of the crate: MCP
/// forwards and generic requests both go through it, so they back off alike.
pub(crate) async fn send_with_retries<T, F, Fut>(
    policy: &RetryPolicy,
    method: Option<&str>,
    started: Instant,
    budget: Duration,
    attempt: &mut u32,
    mut send: F,
) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    loop {
        let error = match send().await {
            Ok(done) => return Ok(done),
            Err(error) => error,
        };
        let Some(delay) = delay_within(policy, &error, *attempt, method, started, budget) else {
            return Err(error);
        };
        tracing::debug!(
            method,
            attempt = *attempt + 1,
            ?delay,
            error = %crate::error::display_chain(&error),
            "resending"
        );
        tokio::time::sleep(delay).await;
        *attempt += 1;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use bytes::Bytes;
    use reqwest::StatusCode;

    use super::*;
    use crate::error::StatusError;

    fn status(code: u16) -> Error {
        Error::Status(Box::new(StatusError {
            status: StatusCode::from_u16(code).expect("valid"),
            body: Bytes::new(),
            retry_after: None,
        }))
    }

    fn quick() -> RetryPolicy {
        RetryPolicy {
            max_retries: 3,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(2),
        }
    }

    #[tokio::test]
    async fn send_with_retries_resends_until_success_and_counts_attempts() {
        let calls = AtomicU32::new(0);
        let mut attempt = 0;
        let result = send_with_retries(
            &quick(),
            Some("tools/call"),
            Instant::now(),
            Duration::from_secs(60),
            &mut attempt,
            || async {
                if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                    Err(status(503))
                } else {
                    Ok(7)
                }
            },
        )
        .await;
        assert_eq!(result.ok(), Some(7));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert_eq!(attempt, 2);
    }

    #[tokio::test]
    async fn send_with_retries_stops_at_max_retries_and_on_errors_never_retried() {
        let calls = AtomicU32::new(0);
        let mut attempt = 0;
        let result: Result<(), Error> = send_with_retries(
            &quick(),
            None,
            Instant::now(),
            Duration::from_secs(60),
            &mut attempt,
            || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(status(429))
            },
        )
        .await;
        assert_eq!(
            result.err().and_then(|e| e.status()),
            Some(StatusCode::TOO_MANY_REQUESTS)
        );
        assert_eq!(
            calls.load(Ordering::SeqCst),
            4,
            "the first attempt and 3 resends"
        );

        let calls = AtomicU32::new(0);
        let result: Result<(), Error> = send_with_retries(
            &quick(),
            Some("tools/call"),
            Instant::now(),
            Duration::from_secs(60),
            &mut 0,
            || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(status(502))
            },
        )
        .await;
        assert!(result.is_err());
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "a tool call is not resent after a 502"
        );
    }

    #[test]
    fn delay_within_gives_up_when_the_budget_is_spent() {
        let policy = quick();
        let started = Instant::now();
        assert!(
            delay_within(
                &policy,
                &status(503),
                0,
                None,
                started,
                Duration::from_secs(60)
            )
            .is_some()
        );
        assert_eq!(
            delay_within(&policy, &status(503), 0, None, started, Duration::ZERO),
            None
        );
    }
}
