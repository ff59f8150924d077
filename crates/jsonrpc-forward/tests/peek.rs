//! `peek`: routing facts in one pass, tolerant of odd shapes, strict about JSON.

use std::borrow::Cow;

use jsonrpc_forward::peek::{Peek, PeekError, Peeked, peek};

fn single(json: &str) -> Peek<'_> {
    match peek(json.as_bytes()).expect("valid") {
        Peeked::Single(p) => p,
        Peeked::Batch(_) => panic!("not a batch"),
    }
}

#[test]
fn peek_reads_id_method_and_name_of_a_tool_call() {
    let p = single(
        r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"arguments":{"name":"inner"},"name":"echo"}}"#,
    );
    assert_eq!(p.id, Some("7"));
    assert_eq!(p.method.as_deref(), Some("tools/call"));
    assert_eq!(
        p.name.as_deref(),
        Some("echo"),
        "params.name, not arguments.name"
    );
    assert!(p.is_request());
}

#[test]
fn peek_keeps_the_raw_id_text_of_every_id_type() {
    assert_eq!(single(r#"{"id":"a b","method":"x"}"#).id, Some(r#""a b""#));
    assert_eq!(single(r#"{"id":null,"result":{}}"#).id, Some("null"));
    assert_eq!(single(r#"{"id":-1.5e3,"result":{}}"#).id, Some("-1.5e3"));
    assert_eq!(single(r#"{"method":"notifications/initialized"}"#).id, None);
}

#[test]
fn peek_borrows_strings_without_escapes() {
    let p = single(r#"{"id":1,"method":"resources/read","params":{"uri":"file:///x"}}"#);
    assert!(matches!(p.method, Some(Cow::Borrowed(_))));
    assert_eq!(
        p.name.as_deref(),
        Some("file:///x"),
        "params.uri when there is no name"
    );
    let p = single(r#"{"id":1,"method":"tools\/call"}"#);
    assert_eq!(p.method.as_deref(), Some("tools/call"));
}

#[test]
fn peek_prefers_name_over_uri_in_any_order() {
    let p = single(r#"{"id":1,"method":"m","params":{"uri":"u","name":"n"}}"#);
    assert_eq!(p.name.as_deref(), Some("n"));
}

#[test]
fn peek_reads_the_2026_protocol_version_from_meta() {
    let p = single(
        r#"{"id":1,"method":"tools/list","params":{"_meta":{"progressToken":3,"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#,
    );
    assert_eq!(p.protocol_version.as_deref(), Some("2026-07-28"));
}

#[test]
fn peek_tells_requests_notifications_and_responses_apart() {
    assert!(single(r#"{"method":"n"}"#).is_notification());
    assert!(single(r#"{"id":1,"result":{}}"#).is_response());
    assert!(single(r#"{"id":1,"error":{"code":1,"message":"m"}}"#).is_response());
}

#[test]
fn peek_reads_odd_member_types_as_absent() {
    let p = single(r#"{"id":1,"method":5,"params":[1,2,{"name":"x"}]}"#);
    assert_eq!(p.method, None);
    assert_eq!(p.name, None);
    let p = single(r#"{"id":1,"method":"m","params":{"name":{"a":1},"_meta":"x"}}"#);
    assert_eq!(p.name, None);
    assert_eq!(p.protocol_version, None);
}

#[test]
fn peek_recognises_batches() {
    match peek(br#"[{"id":1,"method":"a"}, {"method":"b"}, 3]"#).expect("valid") {
        Peeked::Batch(items) => {
            assert_eq!(items.len(), 3);
            assert_eq!(items[0].id, Some("1"));
            assert!(items[1].is_notification());
            assert_eq!(items[2], Peek::default());
        }
        Peeked::Single(_) => panic!("a batch"),
    }
}

#[test]
fn peek_rejects_what_is_not_a_utf8_json_message() {
    assert!(matches!(
        peek(b"{\"id\":1,\"method\":\"\xff\"}"),
        Err(PeekError::Utf8 { offset: 18 })
    ));
    assert!(matches!(peek(b"{\"id\":1,"), Err(PeekError::Json(_))));
    assert!(
        matches!(peek(b"{\"id\":1} x"), Err(PeekError::Json(_))),
        "trailing text"
    );
    assert!(
        matches!(peek(b"{\"a\":\"\x01\"}"), Err(PeekError::Json(_))),
        "raw control byte"
    );
    assert!(matches!(peek(b"42"), Err(PeekError::NotAMessage)));
    assert!(matches!(peek(b""), Err(PeekError::Json(_))));
}

#[test]
fn peek_agrees_with_a_parsed_tree_on_tricky_inputs() {
    use jsonrpc_forward::peek::testing::check;
    for input in [
        &br#"{"id":1,"params":{"name":"a"},"params":{"uri":"b"}}"#[..],
        br#"{"id":1,"id":"two","method":"m","method":3}"#,
        br#"{"params":{"name":"n","name":5,"uri":"u"}}"#,
        br#"{"params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"x"},"_meta":{}}}"#,
        br#"[{"id":1},[],2,{"method":"\u0041"}]"#,
        br#"{"id":1e400}"#,
        b"{\"id\":\"\\ud800\"}",
        br#"{"a":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}"#,
        b"\xEF\xBB\xBF{}",
        // Found by the `peek` fuzz target: a lone surrogate escape in a member peek reads.
        br#"{"id":"\u0041\n","method":"toll","params":{"name":"`\ud59d\ude00"}}"#,
        br#"{"id":1,"method":"\ud800","params":{"uri":"\udfff"}}"#,
        br#"{"id":"\u0082\n","md\ude00:1,":{"name":"\ud83d\ude00"}}"#,
        b"{\"id\":1,\"argumen\x00ts\":{}}",
        b"[611111111111111111666E664]",
        b"{\"id\":1,\"a\\u0000b\\n\x01\":{}}",
        b"{\"id\":1,\"a\\u0000b\\n\":{}}",
        b"  null ",
    ] {
        check(input);
    }
}

/// Issue 12 B.10: nesting deeper than `serde_json`'s default limit of 128 is valid JSON; it is
/// read (and checked) without a stack overflow up to the message size limit, both ways.
#[test]
fn peek_reads_messages_nested_millions_deep() {
    use bytes::Bytes;
    use jsonrpc_forward::Outgoing;
    use jsonrpc_forward::message::inbound;

    let depth = 4_000_000;
    let nested = "[".repeat(depth) + &"]".repeat(depth);
    let request = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"echo","arguments":{{"a":{nested}}}}}}}"#
    );
    let outgoing = Outgoing::new(Bytes::from(request)).expect("valid");
    assert_eq!(outgoing.id(), Some("1"));
    assert_eq!(outgoing.name(), Some("echo"));
    let response = format!(r#"{{"jsonrpc":"2.0","id":1,"result":{{"a":{nested}}}}}"#);
    let checked = inbound(Bytes::from(response))
        .expect("valid")
        .expect("a message");
    assert_eq!(checked.answers.len(), 1);
    let unbalanced = format!(r#"{{"jsonrpc":"2.0","id":1,"result":{nested}]}}"#);
    assert!(inbound(Bytes::from(unbalanced)).is_err());
}

#[test]
fn peek_nested_oracle_agrees_at_depth() {
    for depth in [0, 1, 200, 100_000] {
        jsonrpc_forward::peek::testing::check_nested(br#"{"x":[1,"\n"]}"#, depth);
        jsonrpc_forward::peek::testing::check_nested(br#"{"x":[1,}"#, depth);
        jsonrpc_forward::peek::testing::check_nested(b"", depth);
    }
}

#[test]
fn peek_reads_the_request_id_that_a_cancellation_names() {
    let p = single(
        r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"a\/b"}}"#,
    );
    assert_eq!(p.request_id, Some(r#""a\/b""#));
}

/// Fuzz finding (issue 12 part E): a number out of `f64` range is valid JSON syntax, and
/// `params` or `_meta` holding one must not make a valid message unreadable.
#[test]
fn peek_accepts_numbers_out_of_range_where_it_descends() {
    for input in [
        r#"{"i":2,"params":56.8E55555}"#,
        r#"{"id":"\u0402/call","params":9.999e11111111111012}"#,
        r#"{"id":1,"method":"m","params":{"_meta":-1e400,"name":"n"}}"#,
        r#"[{"id":1,"method":"m","params":1e999}]"#,
    ] {
        jsonrpc_forward::peek::testing::check(input.as_bytes());
    }
    let p = single(r#"{"id":1,"method":"m","params":{"_meta":-1e400,"name":"n"}}"#);
    assert_eq!(p.name.as_deref(), Some("n"));
    assert!(
        peek(br#"{"id":1,"params":1e999,}"#).is_err(),
        "still strict about syntax"
    );
}
