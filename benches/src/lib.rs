//! Shared helpers for the benchmarks of mcp-wrapper-rs: payload generators, the requests the
//! forwarding benches send to `test-server`, and readers of `/proc` for memory and CPU
//! (of this process, of another one, or of a process and its descendants).
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

/// [`echo_request`] as a 2026-07-28 client sends it: the `_meta` envelope (protocol
/// version, client capabilities and info) a translating bridge splices in for the host of
/// the e2e harness, whose `initialize` declares `elicitation` and names itself `e2e`.
#[must_use]
pub fn modern_echo_request(id: u64) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"_meta":{{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{{"elicitation":{{}}}},"io.modelcontextprotocol/clientInfo":{{"name":"e2e","version":"0"}}}},"name":"echo","arguments":{{"text":"hello"}}}}}}"#
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

/// A `tools/call` of test-server's `fault` tool that asks for one answer of exactly
/// `message_bytes` bytes in the body format `format` (`json`, `sse` or `ndjson`: the names
/// of `test_server::BodyFormat`), with test-server's default framing (a `Content-Length` for
/// JSON, chunked for the streaming formats). The fault is in the tool's arguments, not in
/// `_meta`, so that it survives bridges that rebuild each request (SDK-based proxies).
#[must_use]
pub fn message_request(id: u64, format: &str, message_bytes: usize) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"fault","arguments":{{"message_bytes":{message_bytes},"format":"{format}"}}}}}}"#
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
    status_kib(&status, field)
}

/// A `kB` field of `/proc/<pid>/status` (`VmHWM`, `VmRSS`, …) in KiB; `None` off Linux or
/// once the process is gone.
#[must_use]
pub fn pid_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status_kib(&status, field)
}

fn status_kib(status: &str, field: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.trim().strip_suffix("kB")?.trim().parse().ok()
    })
}

/// `pid` and every live process descended from it (children, grandchildren, …), `pid`
/// first: the processes of a command that starts helpers (`npx`, a shell, a Python
/// launcher). Found by reading the parent pid of every process in `/proc`; empty off Linux.
#[must_use]
pub fn process_tree(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let parents: Vec<(u32, u32)> = entries
        .flatten()
        .filter_map(|entry| {
            let child: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            // The command name may hold spaces and parentheses: fields are counted after
            // its last closing parenthesis; the parent pid is the second of them.
            let parent = stat.rsplit_once(')')?.1.split_whitespace().nth(1)?;
            Some((child, parent.parse().ok()?))
        })
        .collect();
    let mut tree = vec![pid];
    // Breadth first; each pass over `parents` adds the children of one member, so the loop
    // ends after at most one pass per process.
    let mut next = 0;
    while next < tree.len() {
        let parent = tree[next];
        for &(child, of) in &parents {
            if of == parent && !tree.contains(&child) {
                tree.push(child);
            }
        }
        next += 1;
    }
    tree
}

/// The sum of a `kB` field of `/proc/<pid>/status` over [`process_tree`]`(pid)`, in KiB;
/// `None` when `pid` itself cannot be read. For `VmHWM` this is the sum of each process's
/// own peak, an upper bound of the tree's peak.
#[must_use]
pub fn tree_status_kib(pid: u32, field: &str) -> Option<u64> {
    let own = pid_status_kib(pid, field)?;
    let others: u64 = process_tree(pid)
        .into_iter()
        .skip(1)
        .filter_map(|member| pid_status_kib(member, field))
        .sum();
    Some(own + others)
}

/// Context switches (voluntary and not) of every live thread of [`process_tree`]`(pid)`,
/// from `/proc/<pid>/task/*/status`; `None` when `pid` itself cannot be read. Threads that
/// already ended are not counted. Each hop of a message from one thread to another costs
/// (at least) one.
#[must_use]
pub fn tree_context_switches(pid: u32) -> Option<u64> {
    let own = pid_context_switches(pid)?;
    let others: u64 = process_tree(pid)
        .into_iter()
        .skip(1)
        .filter_map(pid_context_switches)
        .sum();
    Some(own + others)
}

/// Context switches (voluntary and not) of every live thread of process `pid` alone, from
/// `/proc/<pid>/task/*/status`; `None` off Linux or once the process is gone.
#[must_use]
pub fn pid_context_switches(pid: u32) -> Option<u64> {
    let mut total = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
    {
        let Ok(status) = std::fs::read_to_string(task.path().join("status")) else {
            continue; // the thread has just exited
        };
        for field in ["voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"] {
            total += status
                .lines()
                .find_map(|line| {
                    line.strip_prefix(field)?
                        .strip_prefix(':')?
                        .trim()
                        .parse::<u64>()
                        .ok()
                })
                .unwrap_or(0);
        }
    }
    Some(total)
}

/// The CPU time (user + system) used so far by [`process_tree`]`(pid)`, in seconds, with
/// what each process has collected from its children that ended (`cutime`, `cstime`);
/// `None` when `pid` itself cannot be read. Resolution: one tick (10 ms).
#[must_use]
pub fn tree_cpu_seconds(pid: u32) -> Option<f64> {
    let own = stat_cpu_seconds(Some(pid), true)?;
    let others: f64 = process_tree(pid)
        .into_iter()
        .skip(1)
        .filter_map(|member| stat_cpu_seconds(Some(member), true))
        .sum();
    Some(own + others)
}

/// The CPU time (user + system) a process has used so far, in seconds, from
/// `/proc/<pid>/stat` (`/proc/self/stat` for `None`); `None` off Linux.
#[must_use]
pub fn proc_cpu_seconds(pid: Option<u32>) -> Option<f64> {
    stat_cpu_seconds(pid, false)
}

/// `utime + stime` (and `cutime + cstime` with `children`) of `/proc/<pid>/stat`, seconds.
fn stat_cpu_seconds(pid: Option<u32>, children: bool) -> Option<f64> {
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
    let mut ticks = utime + stime;
    if children {
        let cutime: u64 = fields.next()?.parse().ok()?;
        let cstime: u64 = fields.next()?.parse().ok()?;
        ticks += cutime + cstime;
    }
    #[allow(clippy::cast_precision_loss)] // ticks stay far below 2^52
    Some(ticks as f64 / TICKS_PER_SECOND)
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

/// Re-runs this executable as `<exe> serve` (a loopback server in a process of its own, so
/// that its CPU and memory are not counted as the client's) and returns the child and the
/// URL it prints as its first line. Closing the child's stdin stops it.
///
/// # Errors
///
/// When the process cannot be started or prints no URL.
pub fn spawn_server_process() -> Result<(std::process::Child, String), String> {
    spawn_server_process_with(&[])
}

/// [`spawn_server_process`] with more arguments after `serve` (e.g. `--modern`).
///
/// # Errors
///
/// As [`spawn_server_process`].
pub fn spawn_server_process_with(args: &[&str]) -> Result<(std::process::Child, String), String> {
    use std::io::BufRead as _;
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let mut child = std::process::Command::new(exe)
        .arg("serve")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting the server process: {e}"))?;
    let mut url = String::new();
    let stdout = child.stdout.take().ok_or("no server stdout")?;
    std::io::BufReader::new(stdout)
        .read_line(&mut url)
        .map_err(|e| format!("reading the server URL: {e}"))?;
    let url = url.trim().to_owned();
    if url.is_empty() {
        return Err("the server process printed no URL".to_owned());
    }
    Ok((child, url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_modern_echo_request_is_the_echo_request_with_the_2026_envelope() {
        let plain: serde_json::Value = serde_json::from_str(&echo_request(3)).expect("JSON");
        let mut modern: serde_json::Value =
            serde_json::from_str(&modern_echo_request(3)).expect("JSON");
        let meta = modern["params"]
            .as_object_mut()
            .and_then(|params| params.remove("_meta"))
            .expect("_meta");
        assert_eq!(
            meta["io.modelcontextprotocol/protocolVersion"],
            "2026-07-28"
        );
        assert_eq!(meta["io.modelcontextprotocol/clientInfo"]["name"], "e2e");
        assert!(meta["io.modelcontextprotocol/clientCapabilities"].is_object());
        assert_eq!(modern, plain);
    }

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
            (message_request(4, "sse", 1 << 25), "fault"),
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

    /// The `/proc` readers parse what the kernel writes: every value is there and plausible,
    /// and CPU time never goes backwards. (How much CPU a loop burns depends on the machine's
    /// load, so no amount is asserted. Memory figures are not compared with each other: the
    /// kernel keeps RSS in per-CPU counters that `VmHWM` catches up with lazily.)
    #[cfg(target_os = "linux")]
    #[test]
    fn proc_readers_parse_this_process() {
        let me = std::process::id();
        assert!(proc_status_kib("VmRSS").is_some_and(|kib| kib > 0));
        assert!(proc_status_kib("VmHWM").is_some_and(|kib| kib > 0));
        assert_eq!(proc_status_kib("NoSuchField"), None);
        assert!(pid_status_kib(me, "VmHWM").is_some_and(|kib| kib > 0));
        assert!(tree_status_kib(me, "VmHWM").is_some_and(|kib| kib > 0));
        assert_eq!(process_tree(me).first(), Some(&me));

        let cpu = proc_cpu_seconds(None).expect("/proc/self/stat");
        let own = proc_cpu_seconds(Some(me)).expect("/proc/<pid>/stat");
        let tree = tree_cpu_seconds(me).expect("/proc/<pid>/stat with children");
        assert!(
            tree >= own,
            "the tree holds this process: {tree} s < {own} s"
        );
        for seconds in [cpu, own, tree] {
            assert!(seconds.is_finite() && seconds >= 0.0, "{seconds} s");
        }
        // Summed over live threads only (the harness's threads come and go): no order.
        assert!(pid_context_switches(me).is_some_and(|n| n > 0));
        assert!(tree_context_switches(me).is_some_and(|n| n > 0));
        let threads = threads_cpu_ns("no-such-thread").expect("/proc/self/task/*/schedstat");
        assert!(threads > 0, "this thread is running, so it has run");
        // Every thread's name starts with "": none is counted.
        assert_eq!(threads_cpu_ns(""), Some(0));

        // Some work between two readings; whatever it cost, the process's CPU time (its
        // ended threads included) cannot shrink.
        let work: u64 = (0..100_000u64).map(|n| n.wrapping_mul(n)).sum();
        std::hint::black_box(work);
        assert!(proc_cpu_seconds(None).is_some_and(|s| s >= cpu));
        assert!(proc_cpu_seconds(Some(me)).is_some_and(|s| s >= own));
    }
}
