//! Shared helpers for the benchmarks of mcp-wrapper-rs: payload generators.
//!
//! The generators build what an MCP server streams back for `tools/call`: a JSON-RPC result
//! whose one text content item is padded so the whole message has an exact byte length. They
//! are deterministic, so every decoder in a run (ours and the peers) sees the same bytes, and
//! the decode benches and the end-to-end harness reuse the same messages.
//!
//! ```
//! let corpus = benches::sse_corpus(64 * 1024, benches::MESSAGE_BYTES);
//! assert_eq!(corpus.data_bytes, corpus.records * benches::MESSAGE_BYTES);
//! assert!(corpus.bytes.len() <= 64 * 1024);
//! assert!(corpus.bytes.starts_with(b"event: message\nid: 0\ndata: {\"jsonrpc\":\"2.0\""));
//! ```
#![deny(missing_docs)]

use std::fmt::Write as _;

/// The size of one benchmark message in bytes: a 1 KiB JSON-RPC response.
pub const MESSAGE_BYTES: usize = 1024;

/// Words the padding text is made of. Each is kept whole (so a JSON escape is never cut in
/// two); it has JSON escapes and a two-byte UTF-8 character, as real tool output does.
const WORDS: &[&str] = &[
    "The",
    " quick",
    " brown",
    " fox",
    " jumps",
    " over",
    " the",
    " lazy",
    " dog.",
    "\\n",
    "Résumé",
    " of",
    " \\\"results\\\":",
    " 42",
    " files,",
    " 7",
    " matches;",
    " see",
    " ./src",
    "\\n",
];

/// A `tools/call` result as one line of JSON, exactly `len` bytes long when `len` is at least
/// the size of the message with an empty text (about 100 bytes); the shortest valid message
/// otherwise.
///
/// The shape is `{"jsonrpc":"2.0","id":ID,"result":{"content":[{"type":"text","text":"…"}],
/// "isError":false}}`; the text is English-like words with `\n` and `\"` escapes and a
/// two-byte UTF-8 character, padded with `.` to the exact length.
#[must_use]
pub fn tool_result(id: u64, len: usize) -> String {
    let head =
        format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{"content":[{{"type":"text","text":""#);
    let tail = r#""}],"isError":false}}"#;
    let mut out = String::with_capacity(len.max(head.len() + tail.len()));
    out.push_str(&head);
    let text_len = len.saturating_sub(head.len() + tail.len());
    let mut written = 0;
    for word in WORDS.iter().cycle() {
        if written + word.len() > text_len {
            break;
        }
        out.push_str(word);
        written += word.len();
    }
    out.extend(std::iter::repeat_n('.', text_len - written));
    out.push_str(tail);
    out
}

/// One SSE event as an MCP Streamable HTTP server sends it:
/// `event: message\nid: ID\ndata: DATA\n\n`.
///
/// `data` must hold no line break (JSON from [`tool_result`] holds none).
#[must_use]
pub fn sse_event(id: u64, data: &str) -> String {
    format!("event: message\nid: {id}\ndata: {data}\n\n")
}

/// A generated stream and what a correct decoder must find in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corpus {
    /// The encoded stream.
    pub bytes: Vec<u8>,
    /// How many records (SSE events, NDJSON lines) it holds.
    pub records: usize,
    /// The total length of the records' payloads: SSE `data`, NDJSON lines without the LF.
    pub data_bytes: usize,
}

impl Corpus {
    fn with_capacity(capacity: usize) -> Self {
        Self {
            bytes: Vec::with_capacity(capacity),
            records: 0,
            data_bytes: 0,
        }
    }

    fn push(&mut self, encoded: &str, data_len: usize) {
        self.bytes.extend_from_slice(encoded.as_bytes());
        self.records += 1;
        self.data_bytes += data_len;
    }
}

/// An SSE stream of [`sse_event`]s, each carrying a [`tool_result`] of `message_len` bytes
/// with ids 0, 1, 2…, as many as fit in `total` bytes (at least one).
#[must_use]
pub fn sse_corpus(total: usize, message_len: usize) -> Corpus {
    let mut corpus = Corpus::with_capacity(total);
    for id in 0.. {
        let event = sse_event(id, &tool_result(id, message_len));
        if corpus.records > 0 && corpus.bytes.len() + event.len() > total {
            break;
        }
        corpus.push(&event, message_len);
    }
    corpus
}

/// An NDJSON stream of [`tool_result`]s of `message_len` bytes, one per LF-terminated line,
/// with ids 0, 1, 2…, as many as fit in `total` bytes (at least one).
#[must_use]
pub fn ndjson_corpus(total: usize, message_len: usize) -> Corpus {
    let mut corpus = Corpus::with_capacity(total);
    let mut line = String::new();
    for id in 0.. {
        line.clear();
        line.push_str(&tool_result(id, message_len));
        line.push('\n');
        if corpus.records > 0 && corpus.bytes.len() + line.len() > total {
            break;
        }
        corpus.push(&line, message_len);
    }
    corpus
}

/// One SSE event whose single `data:` line is a [`tool_result`] of `data_len` bytes: the
/// shape of one huge MCP response.
#[must_use]
pub fn sse_single_event(data_len: usize) -> Corpus {
    let mut encoded = String::with_capacity(data_len + 8);
    let _ = write!(encoded, "data: {}\n\n", tool_result(1, data_len));
    let mut corpus = Corpus::with_capacity(encoded.len());
    corpus.push(&encoded, data_len);
    corpus
}

/// One NDJSON line holding a [`tool_result`] of `len` bytes, LF-terminated.
#[must_use]
pub fn ndjson_single_line(len: usize) -> Corpus {
    let mut encoded = tool_result(1, len);
    encoded.push('\n');
    let mut corpus = Corpus::with_capacity(encoded.len());
    corpus.push(&encoded, len);
    corpus
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_tool_result(json: &str, id: u64) {
        let value: serde_json::Value = serde_json::from_str(json).expect("valid JSON");
        assert_eq!(value["jsonrpc"], "2.0");
        assert_eq!(value["id"], id);
        assert_eq!(value["result"]["content"][0]["type"], "text");
        assert_eq!(value["result"]["isError"], false);
    }

    #[test]
    fn tool_result_has_exact_length_and_is_valid_json() {
        for len in [0, 50, 100, 101, 128, 1000, 1024, 4096, 1 << 20] {
            for id in [0, 7, 123_456] {
                let json = tool_result(id, len);
                assert_tool_result(&json, id);
                if len >= 120 {
                    assert_eq!(json.len(), len, "len {len} id {id}");
                }
                assert!(!json.contains('\n'));
            }
        }
    }

    #[test]
    fn corpora_count_what_they_hold() {
        let sse = sse_corpus(64 * 1024, MESSAGE_BYTES);
        assert!(sse.bytes.len() <= 64 * 1024);
        assert_eq!(
            sse.records,
            sse.bytes.windows(2).filter(|w| w == b"\n\n").count()
        );
        assert_eq!(sse.data_bytes, sse.records * MESSAGE_BYTES);

        let ndjson = ndjson_corpus(64 * 1024, MESSAGE_BYTES);
        assert_eq!(ndjson.records, 63);
        assert_eq!(ndjson.bytes.len(), 63 * (MESSAGE_BYTES + 1));
        for (id, line) in ndjson.bytes.split(|&b| b == b'\n').take(63).enumerate() {
            let line = std::str::from_utf8(line).expect("UTF-8");
            assert_tool_result(line, u64::try_from(id).expect("small"));
        }

        let one = sse_single_event(4096);
        assert_eq!(one.bytes.len(), 4096 + 8);
        assert_tool_result(
            std::str::from_utf8(&one.bytes[6..one.bytes.len() - 2]).expect("UTF-8"),
            1,
        );
        assert_eq!(ndjson_single_line(4096).bytes.len(), 4097);
    }
}
