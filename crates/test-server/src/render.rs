//! Turns planned steps into body bytes: JSON, SSE or NDJSON, with the text-level faults
//! (line endings, multi-line data, comments, event ids, invalid JSON, padding) applied.

use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;

use crate::body::Segment;
use crate::fault::{BodyFormat, Fault, LineEnding};
use crate::mcp::{Step, Steps, is_response, pad};

/// The text-level part of a [`Fault`], for one response body.
#[derive(Debug, Clone)]
pub(crate) struct Renderer {
    format: BodyFormat,
    eol: LineEnding,
    multiline: bool,
    comments: bool,
    event_ids: bool,
    event_id_prefix: String,
    invalid_json: bool,
    message_bytes: Option<usize>,
    drop_responses: bool,
    ping_events: bool,
    unwrap_batch: bool,
    nest_depth: Option<usize>,
    /// The last `id:` given by `event_ids`.
    last_event_id: u64,
    /// No event has been rendered yet (for the leading comment).
    first: bool,
}

impl Renderer {
    pub(crate) fn new(format: BodyFormat, fault: &Fault) -> Self {
        Self {
            format,
            eol: fault.line_ending,
            multiline: fault.multiline_data,
            comments: fault.sse_comments,
            event_ids: fault.event_ids,
            event_id_prefix: fault.event_id_prefix.clone(),
            invalid_json: fault.invalid_json,
            message_bytes: fault.message_bytes,
            drop_responses: fault.end_without_response,
            ping_events: fault.ping_events,
            unwrap_batch: fault.unwrap_batch,
            nest_depth: fault.nest_depth,
            last_event_id: 0,
            first: true,
        }
    }

    /// The text of one message, or `None` when the fault leaves it out.
    pub(crate) fn message_text(&self, mut message: Value) -> Option<String> {
        if !is_response(&message) {
            return Some(self.to_text(&message));
        }
        if self.drop_responses {
            return None;
        }
        if self.invalid_json {
            let id = message.get("id").cloned().unwrap_or(Value::Null);
            return Some(format!(
                r#"{{"jsonrpc":"2.0","id":{id},"result":{{"content":[{{"type":"text","text":"trunc"#
            ));
        }
        if let Some(target) = self.message_bytes {
            pad(&mut message, target);
        }
        let Some(depth) = self.nest_depth else {
            return Some(self.to_text(&message));
        };
        // Built as text: a `Value` that deep would overflow the stack when dropped.
        const SLOT: &str = "test-server/nested";
        if let Some(result) = message.get_mut("result").and_then(Value::as_object_mut) {
            result.insert("nested".to_owned(), Value::from(SLOT));
        }
        let nested = "[".repeat(depth) + &"]".repeat(depth);
        Some(
            self.to_text(&message)
                .replacen(&format!("\"{SLOT}\""), &nested, 1),
        )
    }

    fn to_text(&self, message: &Value) -> String {
        if self.multiline && !self.ndjson_like() {
            serde_json::to_string_pretty(message).expect("a Value always serialises")
        } else {
            message.to_string()
        }
    }

    fn ndjson_like(&self) -> bool {
        matches!(
            self.format,
            BodyFormat::Ndjson | BodyFormat::TextPlain | BodyFormat::NoContentType
        )
    }

    /// A whole `application/json` body: the responses among `messages`, as one object, or
    /// as an array when the request was a batch. Empty when there is none.
    pub(crate) fn json_body(&self, messages: Vec<Value>, batch: bool) -> Vec<u8> {
        let texts: Vec<String> = messages
            .into_iter()
            .filter(is_response)
            .filter_map(|m| self.message_text(m))
            .collect();
        if batch && !(self.unwrap_batch && texts.len() == 1) {
            let sep = if self.multiline { ",\n" } else { "," };
            format!("[{}]", texts.join(sep)).into_bytes()
        } else {
            texts.into_iter().next().unwrap_or_default().into_bytes()
        }
    }

    /// The bytes of one streamed step (SSE or NDJSON); empty for a sleep or a left-out
    /// message.
    pub(crate) fn render(&mut self, step: Step) -> Vec<u8> {
        let eol = self.eol.as_bytes();
        let mut out = Vec::new();
        let sse = self.format == BodyFormat::Sse;
        match step {
            Step::Retry(ms) if sse => {
                out.extend_from_slice(format!("retry: {ms}").as_bytes());
                out.extend_from_slice(eol);
                out.extend_from_slice(eol);
            }
            Step::Comment(text) if sse => {
                out.extend_from_slice(format!(": {text}").as_bytes());
                out.extend_from_slice(eol);
            }
            Step::Sleep(_) | Step::Retry(_) | Step::Comment(_) => {}
            Step::Send { .. } | Step::SendAsIs(_) => {
                let (text, event_id) = match step {
                    Step::Send { message, event_id } => match self.message_text(message) {
                        Some(text) => (text, event_id),
                        None => return out,
                    },
                    Step::SendAsIs(message) => (message.to_string(), None),
                    _ => return out,
                };
                // Sized once: a message can be hundreds of MiB (no regrowth copies).
                out.reserve(text.len() + 64);
                if !sse {
                    out.extend_from_slice(text.as_bytes());
                    out.extend_from_slice(eol);
                    return out;
                }
                if self.comments && self.first {
                    out.extend_from_slice(b": ping");
                    out.extend_from_slice(eol);
                }
                self.first = false;
                if self.ping_events {
                    for line in [&b"event: ping"[..], b"data: ping", b""] {
                        out.extend_from_slice(line);
                        out.extend_from_slice(eol);
                    }
                }
                out.extend_from_slice(b"event: message");
                out.extend_from_slice(eol);
                let id = event_id.or_else(|| {
                    self.event_ids.then(|| {
                        self.last_event_id += 1;
                        self.last_event_id
                    })
                });
                if let Some(id) = id {
                    out.extend_from_slice(format!("id: {}{id}", self.event_id_prefix).as_bytes());
                    out.extend_from_slice(eol);
                }
                for line in text.split('\n') {
                    out.extend_from_slice(b"data: ");
                    out.extend_from_slice(line.as_bytes());
                    out.extend_from_slice(eol);
                }
                out.extend_from_slice(eol);
                if self.comments {
                    out.extend_from_slice(b": ping");
                    out.extend_from_slice(eol);
                }
            }
        }
        out
    }
}

/// Streams steps as body segments, rendering each one only when it is reached, and folding
/// sleeps into the delay before the next segment.
pub(crate) struct Segments {
    steps: Steps,
    renderer: Renderer,
    delay: Duration,
}

impl Segments {
    pub(crate) fn new(steps: Steps, renderer: Renderer) -> Self {
        Self {
            steps,
            renderer,
            delay: Duration::ZERO,
        }
    }
}

impl Iterator for Segments {
    type Item = Segment;

    fn next(&mut self) -> Option<Segment> {
        loop {
            match self.steps.next() {
                Some(Step::Sleep(d)) => self.delay += d,
                Some(step) => {
                    let bytes = self.renderer.render(step);
                    if !bytes.is_empty() {
                        let delay = std::mem::take(&mut self.delay);
                        return Some(Segment::new(delay, Bytes::from(bytes)));
                    }
                }
                // A trailing sleep still holds the stream open before it ends.
                None if !self.delay.is_zero() => {
                    let delay = std::mem::take(&mut self.delay);
                    return Some(Segment::new(delay, Bytes::new()));
                }
                None => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn sse(fault: &Fault, message: Value) -> String {
        let mut r = Renderer::new(BodyFormat::Sse, fault);
        let bytes = r.render(Step::Send {
            message,
            event_id: None,
        });
        String::from_utf8(bytes).expect("ascii")
    }

    #[test]
    fn sse_event_uses_the_fault_line_ending_and_multiline_data() {
        let fault = Fault {
            line_ending: LineEnding::CrLf,
            multiline_data: true,
            event_ids: true,
            ..Fault::default()
        };
        let text = sse(&fault, json!({"jsonrpc":"2.0","id":1,"result":{}}));
        assert!(text.starts_with("event: message\r\nid: 1\r\ndata: {\r\ndata: "));
        assert!(text.ends_with("}\r\n\r\n"));
        assert!(!text.replace("\r\n", "").contains('\n'));
    }

    #[test]
    fn json_body_of_a_batch_keeps_only_responses() {
        let r = Renderer::new(BodyFormat::Json, &Fault::default());
        let body = r.json_body(
            vec![
                json!({"jsonrpc":"2.0","method":"notifications/progress"}),
                json!({"jsonrpc":"2.0","id":1,"result":{}}),
            ],
            true,
        );
        let parsed: Value = serde_json::from_slice(&body).expect("valid JSON");
        assert_eq!(parsed, json!([{"jsonrpc":"2.0","id":1,"result":{}}]));
    }
}
