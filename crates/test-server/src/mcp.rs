//! The MCP side: what the server answers to each JSON-RPC message, as a lazy plan of steps
//! (messages to send and pauses), independent of the body format.

use std::time::Duration;

use serde_json::{Value, json};

use crate::Fault;

/// Protocol versions the server accepts in `initialize`, oldest first.
pub const PROTOCOL_VERSIONS: [&str; 3] = ["2025-03-26", "2025-06-18", "2025-11-25"];

/// The version `initialize` answers with when the client asks for one it does not know.
pub const LATEST_PROTOCOL_VERSION: &str = "2025-11-25";

/// One thing to do while answering: the body renderers turn these into bytes.
#[derive(Debug)]
pub(crate) enum Step {
    /// Send a message; `event_id` forces an SSE `id:` field.
    Send {
        message: Value,
        event_id: Option<u64>,
    },
    /// Wait before the next step.
    Sleep(Duration),
    /// An SSE `retry:` field (milliseconds).
    Retry(u64),
    /// An SSE comment line (`: text`).
    Comment(&'static str),
    /// Send a message as it is, untouched by the fault's text-level changes.
    SendAsIs(Value),
}

impl Step {
    fn send(message: Value) -> Self {
        Self::Send {
            message,
            event_id: None,
        }
    }
}

/// A lazy sequence of steps (a `stream` call may be long: nothing is built in advance).
pub(crate) type Steps = Box<dyn Iterator<Item = Step> + Send>;

/// The answer to one POST: steps plus what the server must know before choosing headers.
pub(crate) struct Plan {
    pub(crate) steps: Steps,
    /// Some request asks to be answered as a stream (the `stream` tool).
    pub(crate) streams: bool,
    /// The POST holds at least one request, so it gets a response body.
    pub(crate) has_requests: bool,
    /// The POST holds an `initialize` request.
    pub(crate) initialize: bool,
}

/// Whether a message is a request: it has both `method` and `id`.
pub(crate) fn is_request(message: &Value) -> bool {
    message.get("method").is_some() && message.get("id").is_some()
}

/// Whether a message is a response: it has an `id` and no `method`.
pub(crate) fn is_response(message: &Value) -> bool {
    message.get("id").is_some() && message.get("method").is_none()
}

/// The JSON text of a request id: `1` for the number 1, `"a"` (with quotes) for the string.
pub(crate) fn id_text(id: &Value) -> String {
    id.to_string()
}

/// A JSON-RPC error response.
pub(crate) fn error(id: Value, code: i64, message: &str) -> Value {
    response(id, "error", json!({ "code": code, "message": message }))
}

fn result(id: Value, result: Value) -> Value {
    response(id, "result", result)
}

fn response(id: Value, key: &str, value: Value) -> Value {
    let mut object = serde_json::Map::new();
    object.insert("jsonrpc".to_owned(), Value::from("2.0"));
    object.insert("id".to_owned(), id);
    object.insert(key.to_owned(), value);
    Value::Object(object)
}

/// Whether the client has answered the server request with this id (its JSON text).
pub(crate) type Replied = std::sync::Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// Plans the answer to every message of a POST, in order. `fault` adds its progress
/// notifications (and elicitation) in front of each answer, its extra messages before the
/// first and after the last, and its keep-open pings at the end; `replied` tells when the
/// client answered an elicitation.
pub(crate) fn plan(messages: &[Value], fault: &Fault, replied: &Replied) -> Plan {
    let before = fault.before_answer.clone().into_iter().map(Step::SendAsIs);
    let mut steps: Steps = Box::new(before);
    let mut streams = false;
    let mut has_requests = false;
    let mut initialize = false;
    for message in messages {
        let Some(answer) = answer(message, fault) else {
            continue;
        };
        has_requests = true;
        initialize |= message.get("method").and_then(Value::as_str) == Some("initialize");
        streams |= matches!(answer, Answer::Stream { .. });
        let token = progress_token(message);
        if fault.elicit {
            let id = message.get("id").cloned().unwrap_or(Value::Null);
            steps = Box::new(steps.chain(elicit(&id, std::sync::Arc::clone(replied))));
        }
        let progress = fault
            .progress_every_ms
            .map(|every| slow_progress(token.clone(), every, fault.progress_total_ms));
        if let Some(progress) = progress {
            steps = Box::new(steps.chain(progress));
        }
        steps = Box::new(steps.chain(answer.into_steps(token)));
    }
    let after = fault.after_answer.clone().into_iter().map(Step::SendAsIs);
    steps = Box::new(steps.chain(after));
    if fault.keep_open_ms > 0 {
        let pings =
            usize::try_from(fault.keep_open_ms.div_ceil(KEEP_OPEN_PING_MS)).unwrap_or(usize::MAX);
        let ping = || {
            [
                Step::Sleep(Duration::from_millis(KEEP_OPEN_PING_MS)),
                Step::Comment("ping"),
            ]
        };
        steps = Box::new(steps.chain(std::iter::repeat_with(ping).take(pings).flatten()));
    }
    Plan {
        steps,
        streams,
        has_requests,
        initialize,
    }
}

/// How one message is answered, before it becomes steps.
enum Answer {
    Now(Value),
    After(Duration, Value),
    Stream {
        count: u64,
        interval: Duration,
        event_bytes: Option<usize>,
        result: Value,
    },
}

impl Answer {
    fn into_steps(self, token: Value) -> Steps {
        match self {
            Self::Now(message) => Box::new(std::iter::once(Step::send(message))),
            Self::After(delay, message) => {
                Box::new([Step::Sleep(delay), Step::send(message)].into_iter())
            }
            Self::Stream {
                count,
                interval,
                event_bytes,
                result,
            } => {
                let progress = (1..=count).flat_map(move |n| {
                    let mut note = progress(&token, n, Some(count));
                    if let Some(size) = event_bytes {
                        pad(&mut note, size);
                    }
                    [Step::Sleep(interval), Step::send(note)]
                });
                Box::new(progress.chain(std::iter::once(Step::send(result))))
            }
        }
    }
}

/// The progress token of a request: `params._meta.progressToken`, else its id.
fn progress_token(message: &Value) -> Value {
    message
        .pointer("/params/_meta/progressToken")
        .or_else(|| message.get("id"))
        .cloned()
        .unwrap_or(Value::Null)
}

/// The pings of [`Fault::keep_open_ms`], this far apart.
const KEEP_OPEN_PING_MS: u64 = 100;
/// How often a stream waiting for an elicitation's response says it is alive.
const ELICIT_KEEP_ALIVE_MS: u64 = 50;
/// How long a stream waits for an elicitation's response: 30 s.
const ELICIT_MAX_WAITS: u64 = 30_000 / ELICIT_KEEP_ALIVE_MS;

/// `elicitation/create` for the request `id`, then keep-alive comments until the client
/// answers it (bounded).
fn elicit(id: &Value, replied: Replied) -> impl Iterator<Item = Step> + Send + use<> {
    let elicit_id = format!("elicit-{}", id_text(id).trim_matches('"'));
    let key = Value::String(elicit_id.clone()).to_string();
    let request = json!({
        "jsonrpc": "2.0",
        "id": elicit_id,
        "method": "elicitation/create",
        "params": {
            "message": "Which colour?",
            "requestedSchema": { "type": "object", "properties": { "colour": { "type": "string" } } },
        },
    });
    let mut waits = 0;
    let wait = std::iter::from_fn(move || {
        waits += 1;
        (waits <= ELICIT_MAX_WAITS && !replied(&key)).then(|| {
            [
                Step::Sleep(Duration::from_millis(ELICIT_KEEP_ALIVE_MS)),
                Step::Comment("keep-alive"),
            ]
        })
    })
    .flatten();
    std::iter::once(Step::send(request)).chain(wait)
}

/// Pads a message to exactly `target` bytes of compact JSON, when it is shorter. The padding
/// goes where a real message carries bulk, so that bridges which rebuild messages from a
/// schema (SDK-based proxies) keep it: the text of a tool result's first content item, or
/// the `message` of a progress notification; else a `padding` string inside its `result` or
/// `params` object (else at the top level).
pub(crate) fn pad(message: &mut Value, target: usize) {
    if !message.is_object() {
        return;
    }
    let has_text = |m: &Value| {
        m.pointer("/result/content/0/text")
            .or_else(|| m.pointer("/params/message"))
            .is_some_and(Value::is_string)
    };
    if !has_text(message) {
        padding_slot(message)["padding"] = Value::String(String::new());
    }
    let base = message.to_string().len();
    let Some(extra) = target.checked_sub(base).filter(|n| *n > 0) else {
        return;
    };
    // An ASCII letter adds exactly one byte to the compact JSON of a string.
    let slot = if has_text(message) {
        let path = if message.pointer("/result/content/0/text").is_some() {
            "/result/content/0/text"
        } else {
            "/params/message"
        };
        message.pointer_mut(path)
    } else {
        padding_slot(message).get_mut("padding")
    };
    if let Some(Value::String(text)) = slot {
        // `repeat` fills by doubling copies: a 32 MiB pad costs memcpy, not 32 Mi pushes.
        text.push_str(&"x".repeat(extra));
    }
}

fn padding_slot(message: &mut Value) -> &mut Value {
    let key = ["result", "params"]
        .into_iter()
        .find(|key| message.get(key).is_some_and(Value::is_object));
    match key {
        Some(key) => &mut message[key],
        None => message,
    }
}

fn progress(token: &Value, n: u64, total: Option<u64>) -> Value {
    let mut params =
        json!({ "progressToken": token, "progress": n, "message": format!("step {n}") });
    if let Some(total) = total {
        params["total"] = json!(total);
    }
    json!({ "jsonrpc": "2.0", "method": "notifications/progress", "params": params })
}

/// Progress notifications every `every_ms` for `total_ms` (a slow but alive server).
fn slow_progress(token: Value, every_ms: u64, total_ms: u64) -> impl Iterator<Item = Step> {
    let count = total_ms.checked_div(every_ms).unwrap_or(0);
    (1..=count).flat_map(move |n| {
        [
            Step::Sleep(Duration::from_millis(every_ms)),
            Step::send(progress(&token, n, None)),
        ]
    })
}

/// The events of a GET listen stream: ids `after + 1 ..= total`, one every `interval`, each
/// a `notifications/message`; after `per_stream` events the stream ends, and once all events
/// are sent it idles with a `: keep-alive` comment every second.
pub(crate) fn listen_steps(
    after: u64,
    total: u64,
    per_stream: Option<u64>,
    interval: Duration,
) -> Steps {
    let end = per_stream.map_or(total, |n| total.min(after.saturating_add(n)));
    let events = (after.saturating_add(1)..=end).flat_map(move |seq| {
        let message = json!({
            "jsonrpc": "2.0",
            "method": "notifications/message",
            "params": { "level": "info", "logger": "test-server", "data": { "seq": seq } },
        });
        [
            Step::Sleep(interval),
            Step::Send {
                message,
                event_id: Some(seq),
            },
        ]
    });
    let steps = std::iter::once(Step::Retry(LISTEN_RETRY_MS)).chain(events);
    if end < total {
        return Box::new(steps);
    }
    let idle = std::iter::repeat_with(|| {
        [
            Step::Sleep(Duration::from_secs(1)),
            Step::Comment("keep-alive"),
        ]
    })
    .flatten();
    Box::new(steps.chain(idle))
}

/// The `retry:` the GET stream announces, in milliseconds.
const LISTEN_RETRY_MS: u64 = 100;

/// The answer to one message, or `None` for notifications and client responses.
fn answer(message: &Value, fault: &Fault) -> Option<Answer> {
    let Some(object) = message.as_object() else {
        return Some(Answer::Now(error(Value::Null, -32600, "Invalid Request")));
    };
    let id = object.get("id").cloned();
    let Some(method) = object.get("method") else {
        if object.contains_key("result") || object.contains_key("error") {
            return None;
        }
        return Some(Answer::Now(error(
            id.unwrap_or(Value::Null),
            -32600,
            "Invalid Request",
        )));
    };
    let id = id?;
    let Some(method) = method.as_str() else {
        return Some(Answer::Now(error(id, -32600, "Invalid Request")));
    };
    let params = object.get("params").cloned().unwrap_or(Value::Null);
    Some(match method {
        "initialize" => Answer::Now(result(id, initialize_result(&params))),
        "ping" | "logging/setLevel" => Answer::Now(result(id, json!({}))),
        "tools/list" => Answer::Now(result(id, tools_list(&params, fault.tools_page_size))),
        "tools/call" => call_tool(id, &params),
        _ => Answer::Now(error(id, -32601, &format!("Method not found: {method}"))),
    })
}

fn initialize_result(params: &Value) -> Value {
    let asked = params.get("protocolVersion").and_then(Value::as_str);
    let version = asked
        .filter(|v| PROTOCOL_VERSIONS.contains(v))
        .unwrap_or(LATEST_PROTOCOL_VERSION);
    json!({
        "protocolVersion": version,
        "capabilities": { "tools": { "listChanged": false }, "logging": {} },
        "serverInfo": { "name": "test-server", "version": env!("CARGO_PKG_VERSION") },
    })
}

/// The `tools/list` result: every tool, or one page of `page_size` from `params.cursor`.
fn tools_list(params: &Value, page_size: Option<usize>) -> Value {
    let Some(size) = page_size else {
        return json!({ "tools": tools() });
    };
    let Value::Array(all) = tools() else {
        return json!({ "tools": [] });
    };
    let start = params
        .get("cursor")
        .and_then(Value::as_str)
        .and_then(|c| c.parse::<usize>().ok())
        .unwrap_or(0)
        .min(all.len());
    let end = start.saturating_add(size.max(1)).min(all.len());
    let mut page = json!({ "tools": all[start..end] });
    if end < all.len() {
        page["nextCursor"] = Value::String(end.to_string());
    }
    page
}

fn tools() -> Value {
    json!([
        {
            "name": "echo",
            "description": "Returns its arguments, as JSON text.",
            "inputSchema": { "type": "object", "additionalProperties": true },
        },
        {
            "name": "stream",
            "description": "Answers with an SSE stream: `count` progress notifications, \
                            `interval_ms` apart (each padded to `event_bytes` bytes of JSON \
                            if given), then the result.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "count": { "type": "integer", "minimum": 0 },
                    "interval_ms": { "type": "integer", "minimum": 0 },
                    "event_bytes": { "type": "integer", "minimum": 0 },
                },
            },
        },
        {
            "name": "sleep",
            "description": "Answers after `ms` milliseconds.",
            "inputSchema": {
                "type": "object",
                "properties": { "ms": { "type": "integer", "minimum": 0 } },
                "required": ["ms"],
            },
        },
        {
            "name": "fault",
            "description": "Its arguments are a test-server Fault, applied to this answer.",
            "inputSchema": { "type": "object", "additionalProperties": true },
        },
    ])
}

fn text_content(text: String) -> Value {
    let content = json!([{ "type": "text", "text": Value::String(text) }]);
    json!({ "content": content, "isError": false })
}

fn call_tool(id: Value, params: &Value) -> Answer {
    let arguments = params.get("arguments").cloned().unwrap_or(json!({}));
    let number = |key: &str| arguments.get(key).and_then(Value::as_u64).unwrap_or(0);
    match params.get("name").and_then(Value::as_str) {
        Some("echo" | "fault") => Answer::Now(result(id, text_content(arguments.to_string()))),
        Some("stream") => {
            let count = number("count");
            let event_bytes = arguments.get("event_bytes").and_then(Value::as_u64);
            Answer::Stream {
                count,
                interval: Duration::from_millis(number("interval_ms")),
                event_bytes: event_bytes.and_then(|n| usize::try_from(n).ok()),
                result: result(id, text_content(format!("streamed {count} events"))),
            }
        }
        Some("sleep") => {
            let ms = number("ms");
            let answer = result(id, text_content(format!("slept {ms} ms")));
            Answer::After(Duration::from_millis(ms), answer)
        }
        Some(name) => Answer::Now(error(id, -32602, &format!("Unknown tool: {name}"))),
        None => Answer::Now(error(id, -32602, "Invalid params: missing tool name")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn never() -> Replied {
        std::sync::Arc::new(|_| false)
    }

    fn sends(plan: Plan) -> Vec<Value> {
        plan.steps
            .filter_map(|step| match step {
                Step::Send { message, .. } => Some(message),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn initialize_echoes_a_known_version_and_falls_back_to_the_latest() {
        let ask = |v: &str| {
            let msg = json!({"jsonrpc":"2.0","id":1,"method":"initialize",
                             "params":{"protocolVersion": v}});
            sends(plan(&[msg], &Fault::default(), &never()))[0]["result"]["protocolVersion"].clone()
        };
        assert_eq!(ask("2025-03-26"), "2025-03-26");
        assert_eq!(ask("1999-01-01"), LATEST_PROTOCOL_VERSION);
    }

    #[test]
    fn notifications_and_client_responses_get_no_answer() {
        let msgs = [
            json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
            json!({"jsonrpc":"2.0","id":7,"result":{}}),
        ];
        let plan = plan(&msgs, &Fault::default(), &never());
        assert!(!plan.has_requests);
        assert!(sends(plan).is_empty());
    }

    #[test]
    fn listen_steps_resume_after_the_last_event_id_and_close_per_stream() {
        let ids = |steps: Steps| -> Vec<u64> {
            steps
                .take(40)
                .filter_map(|s| match s {
                    Step::Send { event_id, .. } => event_id,
                    _ => None,
                })
                .collect()
        };
        assert_eq!(ids(listen_steps(3, 5, None, Duration::ZERO)), [4, 5]);
        assert_eq!(ids(listen_steps(0, 9, Some(2), Duration::ZERO)), [1, 2]);
        assert_eq!(listen_steps(0, 9, Some(2), Duration::ZERO).count(), 5);
    }

    #[test]
    fn pad_reaches_the_exact_size_in_result_or_params() {
        let mut response = json!({"jsonrpc":"2.0","id":1,"result":{"content":[]}});
        pad(&mut response, 1000);
        assert_eq!(response.to_string().len(), 1000);
        assert!(response["result"]["padding"].is_string());
        let mut note = json!({"jsonrpc":"2.0","method":"m","params":{}});
        pad(&mut note, 1024);
        assert_eq!(note.to_string().len(), 1024);
        assert!(note["params"]["padding"].is_string());
    }

    #[test]
    fn pad_grows_the_text_of_a_tool_result_or_a_progress_message() {
        let mut response = result(json!(1), text_content("{}".to_owned()));
        pad(&mut response, 4096);
        assert_eq!(response.to_string().len(), 4096);
        assert!(response["result"].get("padding").is_none());
        let text = response["result"]["content"][0]["text"]
            .as_str()
            .expect("text");
        assert!(text.starts_with("{}x") && text.ends_with('x'));
        let mut note = progress(&json!("t"), 1, Some(2));
        pad(&mut note, 777);
        assert_eq!(note.to_string().len(), 777);
        assert!(note["params"].get("padding").is_none());
        assert!(
            note["params"]["message"]
                .as_str()
                .expect("message")
                .starts_with("step 1x")
        );
        // Already long enough: left alone.
        let before = response.clone();
        pad(&mut response, 10);
        assert_eq!(response, before);
    }

    #[test]
    fn slow_progress_fault_sends_total_over_every_notifications_first() {
        let fault = Fault {
            progress_every_ms: Some(10),
            progress_total_ms: 35,
            ..Fault::default()
        };
        let msg = json!({"jsonrpc":"2.0","id":"a","method":"ping"});
        let sent = sends(plan(&[msg], &fault, &never()));
        assert_eq!(sent.len(), 4);
        assert_eq!(sent[0]["params"]["progressToken"], "a");
        assert_eq!(sent[3]["id"], "a");
    }
}
