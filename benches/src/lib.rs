//! Shared helpers for the benchmarks of mcp-wrapper-rs: payload generators, the requests the
//! forwarding benches send to `test-server`, and readers of `/proc` for memory and CPU.
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

/// A `tools/call` of test-server's `echo` tool: a small request (≈ 90 bytes) whose answer is
/// a small `application/json` result, the round trip the forwarding overhead is measured on.
#[must_use]
pub fn echo_request(id: u64) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"echo","arguments":{{"text":"hello"}}}}}}"#
    )
}

/// A `tools/call` of `echo` that asks test-server (through its `test-server/fault` `_meta`)
/// for one `application/json` answer of exactly `message_bytes` bytes, with a
/// `Content-Length`.
#[must_use]
pub fn large_json_request(id: u64, message_bytes: usize) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"echo","arguments":{{}},"_meta":{{"test-server/fault":{{"message_bytes":{message_bytes},"content_length":true}}}}}}}}"#
    )
}

/// A `tools/call` of test-server's `stream` tool: an SSE answer of `count` progress
/// notifications of exactly `event_bytes` bytes each, sent with no pause, then the result.
#[must_use]
pub fn sse_stream_request(id: u64, count: u64, event_bytes: usize) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"stream","arguments":{{"count":{count},"interval_ms":0,"event_bytes":{event_bytes}}}}}}}"#
    )
}

/// The bytes on the wire of one SSE event as test-server sends it for a message of `len`
/// bytes: `event: message\ndata: <message>\n\n`.
#[must_use]
pub fn test_server_sse_event_bytes(len: usize) -> usize {
    "event: message\ndata: \n\n".len() + len
}

/// A `kB` field of `/proc/self/status` (`VmHWM`, `VmRSS`, …) in KiB; `None` off Linux.
#[must_use]
pub fn proc_status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.trim().strip_suffix("kB")?.trim().parse().ok()
    })
}

/// The CPU time (user + system) a process has used so far, in seconds, from
/// `/proc/<pid>/stat` (`/proc/self/stat` for `None`); `None` off Linux.
#[must_use]
pub fn proc_cpu_seconds(pid: Option<u32>) -> Option<f64> {
    /// `USER_HZ`: the unit of `/proc/*/stat` times, 100 on every Linux ABI.
    const TICKS_PER_SECOND: f64 = 100.0;
    let path = pid.map_or_else(
        || "/proc/self/stat".to_owned(),
        |pid| format!("/proc/{pid}/stat"),
    );
    let stat = std::fs::read_to_string(path).ok()?;
    // The command name may hold spaces: fields are counted after its closing parenthesis.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
    // Fields 14 and 15 of stat(5) (utime, stime) are the 12th and 13th after the name.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    #[allow(clippy::cast_precision_loss)] // ticks stay far below 2^52
    Some((utime + stime) as f64 / TICKS_PER_SECOND)
}

/// The CPU time, in nanoseconds, used so far by the threads of this process whose name does
/// not start with `exclude_prefix` (`/proc/self/task/*/schedstat`, exact to the
/// nanosecond); `None` off Linux. With `"test-server"` it is the client side of a bench that
/// runs a `TestServer` in the same process.
#[must_use]
pub fn threads_cpu_ns(exclude_prefix: &str) -> Option<u64> {
    let mut total = 0;
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let path = task.path();
        let Ok(comm) = std::fs::read_to_string(path.join("comm")) else {
            continue; // the thread has just exited
        };
        if comm.starts_with(exclude_prefix) {
            continue;
        }
        let Ok(schedstat) = std::fs::read_to_string(path.join("schedstat")) else {
            continue;
        };
        total += schedstat
            .split_whitespace()
            .next()
            .and_then(|ns| ns.parse::<u64>().ok())?;
    }
    Some(total)
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

    #[test]
    fn requests_are_json_rpc_calls() {
        for (json, tool) in [
            (echo_request(1), "echo"),
            (large_json_request(2, 1 << 28), "echo"),
            (sse_stream_request(3, 1 << 20, 1024), "stream"),
        ] {
            let value: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
            assert_eq!(value["method"], "tools/call");
            assert_eq!(value["params"]["name"], tool);
        }
        let value: serde_json::Value =
            serde_json::from_str(&large_json_request(2, 1 << 28)).expect("valid JSON");
        assert_eq!(
            value["params"]["_meta"]["test-server/fault"]["message_bytes"],
            1 << 28
        );
    }

    #[test]
    fn proc_readers_see_this_process() {
        if cfg!(target_os = "linux") {
            assert!(proc_status_kib("VmHWM").is_some_and(|kib| kib > 0));
            assert!(proc_cpu_seconds(None).is_some());
            assert!(proc_cpu_seconds(Some(std::process::id())).is_some());
            let spin = std::time::Instant::now();
            let before = threads_cpu_ns("no-such-thread").expect("schedstat");
            while spin.elapsed() < std::time::Duration::from_millis(5) {}
            let after = threads_cpu_ns("no-such-thread").expect("schedstat");
            assert!(after - before >= 1_000_000, "{before} -> {after}");
        }
    }
}
