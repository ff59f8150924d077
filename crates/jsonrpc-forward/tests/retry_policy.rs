//! The retry policy as a pure function: no sleeping, no server.

use std::time::Duration;

use bytes::Bytes;
use jsonrpc_forward::retry::RetryPolicy;
use jsonrpc_forward::{Error, StatusError};
use reqwest::StatusCode;

fn status(code: u16, retry_after: Option<u64>) -> Error {
    Error::Status(Box::new(StatusError {
        status: StatusCode::from_u16(code).expect("valid"),
        body: Bytes::new(),
        retry_after: retry_after.map(Duration::from_secs),
    }))
}

const MS: fn(u64) -> Duration = Duration::from_millis;

#[test]
fn retry_resends_429_and_503_for_every_method() {
    let policy = RetryPolicy::default();
    for method in [Some("tools/call"), Some("tools/list"), None] {
        assert!(
            policy.delay(&status(429, None), 0, method, 0.0).is_some(),
            "{method:?}"
        );
        assert!(
            policy.delay(&status(503, None), 0, method, 0.0).is_some(),
            "{method:?}"
        );
    }
}

#[test]
fn retry_never_resends_a_tool_call_after_502_504_or_408() {
    let policy = RetryPolicy::default();
    for code in [502, 504, 408] {
        assert_eq!(
            policy.delay(&status(code, None), 0, Some("tools/call"), 0.5),
            None
        );
        assert!(
            policy
                .delay(&status(code, None), 0, Some("tools/list"), 0.5)
                .is_some()
        );
        assert!(
            policy
                .delay(
                    &status(code, None),
                    0,
                    Some("resources/templates/list"),
                    0.5
                )
                .is_some()
        );
        for read_only in [
            "initialize",
            "ping",
            "resources/read",
            "prompts/get",
            "completion/complete",
        ] {
            assert!(
                policy
                    .delay(&status(code, None), 0, Some(read_only), 0.5)
                    .is_some(),
                "{read_only}"
            );
        }
        assert_eq!(
            policy.delay(&status(code, None), 0, None, 0.5),
            None,
            "a batch"
        );
    }
}

#[test]
fn retry_never_resends_other_statuses_timeouts_or_bad_answers() {
    let policy = RetryPolicy::default();
    for code in [400, 401, 403, 404, 500] {
        assert_eq!(
            policy.delay(&status(code, None), 0, Some("ping"), 0.0),
            None,
            "{code}"
        );
    }
    assert_eq!(
        policy.delay(&Error::Timeout(MS(1)), 0, Some("ping"), 0.0),
        None
    );
    assert_eq!(
        policy.delay(&Error::StreamEnded, 0, Some("ping"), 0.0),
        None
    );
    assert_eq!(
        policy.delay(&Error::TooLarge { limit: 1 }, 0, Some("ping"), 0.0),
        None
    );
}

#[test]
fn retry_backoff_doubles_from_250_ms_to_8_s_with_jitter_in_its_upper_half() {
    let policy = RetryPolicy {
        max_retries: 10,
        ..RetryPolicy::default()
    };
    let e = status(503, None);
    let full: Vec<_> = (0..7)
        .map(|a| policy.delay(&e, a, Some("ping"), 1.0).expect("retry"))
        .collect();
    assert_eq!(
        full,
        [
            MS(250),
            MS(500),
            MS(1000),
            MS(2000),
            MS(4000),
            MS(8000),
            MS(8000)
        ]
    );
    assert_eq!(policy.delay(&e, 0, Some("ping"), 0.0), Some(MS(125)));
    assert_eq!(policy.delay(&e, 2, Some("ping"), 0.5), Some(MS(750)));
}

#[test]
fn retry_honours_retry_after_and_stops_after_max_retries() {
    let policy = RetryPolicy::default();
    assert_eq!(
        policy.delay(&status(429, Some(3)), 0, Some("tools/call"), 0.0),
        Some(Duration::from_secs(3))
    );
    assert!(
        policy
            .delay(&status(503, None), 4, Some("ping"), 0.0)
            .is_some()
    );
    assert_eq!(policy.delay(&status(503, None), 5, Some("ping"), 0.0), None);
    assert_eq!(
        RetryPolicy::never().delay(&status(503, None), 0, Some("ping"), 0.0),
        None
    );
}

#[test]
fn retry_resends_notifications_after_a_502_but_never_responses() {
    let policy = RetryPolicy::default();
    let e = status(502, None);
    assert!(
        policy
            .delay(&e, 0, Some("notifications/initialized"), 0.0)
            .is_some()
    );
    assert!(
        policy
            .delay(&e, 0, Some("notifications/cancelled"), 0.0)
            .is_some()
    );
    assert_eq!(
        policy.delay(&e, 0, None, 0.0),
        None,
        "a response or a batch"
    );
}
