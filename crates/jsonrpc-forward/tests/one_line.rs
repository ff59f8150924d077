//! The one-line rule, as a property: whatever JSON the server sends, however it spreads it
//! over lines, every path that writes to stdout writes valid JSON on exactly one line and
//! keeps the message's value (issue 12 B.8).

use bytes::Bytes;
use jsonrpc_forward::message::inbound;
use jsonrpc_forward::{Error, StatusError, error_response};
use proptest::prelude::*;
use reqwest::StatusCode;
use serde_json::{Map, Value, json};

/// Arbitrary JSON values, a few levels deep, with strings that hold escaped line breaks.
fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "[a-z\n\r\t \"\\\\é]{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z\n]{0,6}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// `value` as JSON text with `spaces` (any mix of space, tab, CR, LF) between its tokens.
fn spread(value: &Value, spaces: &mut impl Iterator<Item = &'static str>, out: &mut String) {
    out.push_str(spaces.next().unwrap_or(""));
    match value {
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(spaces.next().unwrap_or(""));
                    out.push(',');
                }
                spread(item, spaces, out);
            }
            out.push_str(spaces.next().unwrap_or(""));
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(spaces.next().unwrap_or(""));
                out.push_str(&Value::from(key.as_str()).to_string());
                out.push_str(spaces.next().unwrap_or(""));
                out.push(':');
                spread(item, spaces, out);
            }
            out.push_str(spaces.next().unwrap_or(""));
            out.push('}');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
    out.push_str(spaces.next().unwrap_or(""));
}

fn whitespace() -> impl Strategy<Value = Vec<&'static str>> {
    prop::collection::vec(
        prop::sample::select(vec!["", " ", "\n", "\r\n", "\r", "\t", "\n  \t"]),
        0..64,
    )
}

fn text_of(value: &Value, spaces: &[&'static str]) -> String {
    let mut out = String::new();
    spread(value, &mut spaces.iter().copied().cycle(), &mut out);
    out
}

/// The value of JSON text, as the same (not always float-exact) parser reads it: the bridge
/// passes numbers on as written, so both sides are compared after the same parse.
fn parse(text: &str) -> Value {
    serde_json::from_str(text).expect("valid JSON")
}

/// Valid JSON on one line, equal to `expected`.
fn assert_one_line(line: &[u8], expected: &Value) {
    assert!(
        !line.contains(&b'\n') && !line.contains(&b'\r'),
        "several lines: {:?}",
        String::from_utf8_lossy(line)
    );
    let parsed: Value = serde_json::from_slice(line).expect("valid JSON");
    assert_eq!(&parsed, expected);
}

proptest! {
    #[test]
    fn server_messages_are_written_on_one_line(result in value(), spaces in whitespace()) {
        let message = json!({"jsonrpc": "2.0", "id": 1, "result": result});
        let batch = Value::Array(vec![message.clone(), message.clone()]);
        for sent in [message, batch] {
            let text = text_of(&sent, &spaces);
            let checked = inbound(Bytes::from(text.clone())).expect("valid").expect("not blank");
            assert_one_line(&checked.bytes, &parse(&text));
        }
    }

    #[test]
    fn error_bodies_are_readdressed_on_one_line(data in value(), spaces in whitespace()) {
        let error = json!({"code": -32602, "message": "bad\nthing", "data": data});
        let body = text_of(&json!({"jsonrpc": "2.0", "id": null, "error": error}), &spaces);
        let failed = Error::Status(Box::new(StatusError {
            status: StatusCode::BAD_REQUEST,
            body: Bytes::from(body.clone()),
            retry_after: None,
        }));
        let answer = failed.to_response(Some("\"x\""));
        let error = parse(&body)["error"].clone();
        assert_one_line(&answer, &json!({"jsonrpc": "2.0", "id": "x", "error": error}));
    }

    #[test]
    fn other_error_bodies_are_answered_on_one_line(body in value(), spaces in whitespace()) {
        let failed = Error::Status(Box::new(StatusError {
            status: StatusCode::BAD_GATEWAY,
            body: Bytes::from(text_of(&body, &spaces)),
            retry_after: None,
        }));
        let answer = failed.to_response(Some("3"));
        let parsed: Value = serde_json::from_slice(&answer).expect("valid JSON");
        assert!(!answer.contains(&b'\n') && !answer.contains(&b'\r'));
        assert_eq!(parsed["error"]["data"]["status"], 502);
    }

    #[test]
    fn bridge_errors_are_one_line(message in "[a-z\n\r\t ]{0,40}", id in value()) {
        let id_text = id.to_string();
        let line = error_response(Some(&id_text), -32000, &message, Some(&json!({"m": message})));
        let parsed: Value = serde_json::from_slice(&line).expect("valid JSON");
        assert!(!line.contains(&b'\n') && !line.contains(&b'\r'));
        assert_eq!(parsed["error"]["message"], Value::from(message));
    }
}
