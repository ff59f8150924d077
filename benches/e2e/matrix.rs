//! `e2e matrix`: what each bridge does when something goes wrong, observed against scripted
//! test-server scenarios (every cell is what happened, not what a bridge's docs say).
//!
//! Each scenario starts a fresh server and a fresh bridge process, sends `initialize` and
//! `notifications/initialized` as an MCP client does, provokes one situation and records
//! what came out of the bridge's stdout (with a deadline) and what reached the server.
//! In-process `TestServer`s record every request; the "server killed" scenario uses a server
//! process (`e2e serve --record`) so that it can really be killed with `SIGKILL`, once it
//! says both calls have arrived. Every wait is for something observed, with a deadline that
//! only a bridge that loses a message runs into.

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use test_server::{Scenario, TestServer};

mod era;
mod oauth;
mod reach;

use crate::Options;
use crate::bridge::{BridgeSpec, Launch, initialize_request};

/// How long a scenario waits for an answer before calling it lost.
const ANSWER_WAIT: Duration = Duration::from_secs(10);

/// One observation: the text of a cell, and whether it is what a user would want.
#[derive(Debug, Clone)]
struct Cell {
    text: String,
    good: bool,
}

impl Cell {
    fn good(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            good: true,
        }
    }

    fn bad(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            good: false,
        }
    }
}

/// The scenarios, in table order: (key, row title).
const SCENARIOS: [(&str, &str); 16] = [
    ("session_id", "session id echoed on every later request"),
    ("session_404", "404 for an expired session: recovered?"),
    (
        "server_killed",
        "server killed mid-call: is every request answered?",
    ),
    ("invalid_stdin", "invalid JSON on stdin"),
    (
        "retry_after_429",
        "429 with `Retry-After: 1` on `tools/call`",
    ),
    (
        "status_502",
        "502 on `tools/call`: how often did the call reach the server?",
    ),
    ("sse_cr", "SSE answer with CR-only line ends"),
    ("ndjson", "NDJSON answer body (`application/x-ndjson`)"),
    (
        "eof_in_flight",
        "stdin EOF with a call in flight: answered or lost?",
    ),
    (
        "elicitation",
        "tool call that asks the client (elicitation), 1 request in flight: answered?",
    ),
    (
        "batch_split",
        "batch answered as separate SSE events: one answer per id?",
    ),
    (
        "pretty_error",
        "400 with a pretty-printed JSON-RPC error body: one JSON line?",
    ),
    (
        "sse_other_events",
        "SSE events of another type (`event: ping`) before the answer",
    ),
    (
        "recovery_fails_once",
        "404, then the re-`initialize` fails once (500): does the next call work?",
    ),
    (
        "listen_reopen",
        "GET stream closed empty 6 times (an idle proxy): events still delivered?",
    ),
    (
        "redirect_other_origin",
        "307 to another origin: followed (with the headers and the call)?",
    ),
];

/// A bridge process with a reader thread, so that every wait has a deadline.
struct Peer {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    /// Messages read while waiting for another one, in arrival order (a batch answer counts
    /// as its elements).
    early: Vec<Value>,
    /// Lines on stdout that were not JSON (a broken framing).
    not_json: usize,
}

impl Peer {
    fn spawn(spec: &BridgeSpec, url: &str, options: &Options) -> Result<Self, String> {
        Self::spawn_with(spec, url, options.in_flight)
    }

    /// A bridge allowed `concurrency` requests in flight (if it takes such a setting).
    fn spawn_with(spec: &BridgeSpec, url: &str, concurrency: usize) -> Result<Self, String> {
        Self::spawn_full(spec, url, concurrency, &[])
    }

    /// A bridge with `env` added to its environment (a sign-in's home and browser).
    fn spawn_env(spec: &BridgeSpec, url: &str, env: &[(String, String)]) -> Result<Self, String> {
        Self::spawn_full(spec, url, 10, env)
    }

    fn spawn_full(
        spec: &BridgeSpec,
        url: &str,
        concurrency: usize,
        env: &[(String, String)],
    ) -> Result<Self, String> {
        let launch = Launch {
            url,
            concurrency,
            max_message_bytes: 64 << 20,
            deadline: Duration::from_secs(120),
        };
        let stderr = std::fs::File::create(std::env::temp_dir().join(format!(
            "e2e-matrix-{}-{}.stderr",
            spec.name.replace(|c: char| !c.is_ascii_alphanumeric(), "_"),
            std::process::id()
        )))
        .map_err(|e| format!("stderr file: {e}"))?;
        let mut child = spec
            .command(&launch)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", spec.name))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let lines = read_lines(stdout);
        Ok(Self {
            stdin: child.stdin.take(),
            child,
            lines,
            early: Vec::new(),
            not_json: 0,
        })
    }

    fn send(&mut self, line: &str) -> Result<(), String> {
        let stdin = self.stdin.as_mut().ok_or("stdin closed")?;
        stdin
            .write_all(line.as_bytes())
            .and_then(|()| stdin.write_all(b"\n"))
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("writing stdin: {e}"))
    }

    fn close_stdin(&mut self) {
        drop(self.stdin.take());
    }

    /// The first message from stdout that `wanted` accepts, before `deadline`; `Err(true)`
    /// when stdout ended first, `Err(false)` on timeout. Others are kept for their turn.
    fn take(&mut self, deadline: Instant, wanted: impl Fn(&Value) -> bool) -> Result<Value, bool> {
        loop {
            if let Some(at) = self.early.iter().position(&wanted) {
                return Ok(self.early.remove(at));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => match serde_json::from_str::<Value>(&line) {
                    Ok(Value::Array(batch)) => self.early.extend(batch),
                    Ok(message) => self.early.push(message),
                    Err(_) => self.not_json += 1,
                },
                Err(mpsc::RecvTimeoutError::Timeout) => return Err(false),
                Err(mpsc::RecvTimeoutError::Disconnected) => return Err(true),
            }
        }
    }

    /// The next JSON-RPC answer (a message with an `id` and a `result` or an `error`) to
    /// `id` (`Value::Null` for an answer with a null id); see [`Peer::take`].
    fn answer(&mut self, id: &Value, deadline: Instant) -> Result<Value, bool> {
        self.take(deadline, |m| {
            let is_answer = m.get("result").is_some() || m.get("error").is_some();
            is_answer && m.get("id").unwrap_or(&Value::Null) == id
        })
    }

    /// The next request of the server (a message with `method` and an `id`).
    fn request(&mut self, method: &str, deadline: Instant) -> Result<Value, bool> {
        self.take(deadline, |m| m["method"] == method && m.get("id").is_some())
    }

    /// The next notification with this `method`.
    fn notification(&mut self, method: &str, deadline: Instant) -> Result<Value, bool> {
        self.take(deadline, |m| m["method"] == method && m.get("id").is_none())
    }

    /// Closes stdin and returns every message not taken yet, up to the end of stdout (or
    /// `deadline`).
    fn rest(&mut self, deadline: Instant) -> Vec<Value> {
        self.close_stdin();
        let _ = self.take(deadline, |_| false);
        std::mem::take(&mut self.early)
    }

    fn initialize(&mut self) -> Result<(), String> {
        self.send(initialize_request(0).trim_end())?;
        self.answer(&json!(0), Instant::now() + Duration::from_secs(30))
            .map_err(|ended| {
                if ended {
                    "stdout ended before the initialize answer".to_owned()
                } else {
                    "no initialize answer in 30 s".to_owned()
                }
            })?;
        self.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if !self.alive() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A test-server in a process of its own (`e2e serve --record`), so that it can really be
/// killed with `SIGKILL`; it answers `count <method>` on stdin (see `serve` in `main.rs`),
/// which is how a scenario waits for its calls to arrive.
struct ServerProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    url: String,
}

impl ServerProcess {
    fn spawn() -> Result<Self, String> {
        let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
        let mut child = Command::new(exe)
            .args(["serve", "--record"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting the server process: {e}"))?;
        let stdout = child.stdout.take().ok_or("no server stdout")?;
        let lines = read_lines(stdout);
        let mut server = Self {
            stdin: child.stdin.take(),
            child,
            lines,
            url: String::new(),
        };
        server.url = server.line(Instant::now() + Duration::from_secs(30))?;
        Ok(server)
    }

    /// The next line the server prints, before `deadline`.
    fn line(&self, deadline: Instant) -> Result<String, String> {
        let left = deadline.saturating_duration_since(Instant::now());
        self.lines
            .recv_timeout(left)
            .map(|line| line.trim().to_owned())
            .map_err(|e| format!("the server process printed nothing: {e}"))
    }

    /// How many messages with this method reached the server (counted by the server as they
    /// arrive, whatever ids a bridge gives them).
    fn count(&mut self, method: &str) -> Result<usize, String> {
        let stdin = self.stdin.as_mut().ok_or("server stdin closed")?;
        writeln!(stdin, "count {method}")
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("asking the server: {e}"))?;
        let line = self.line(Instant::now() + Duration::from_secs(30))?;
        line.parse()
            .map_err(|e| format!("the server answered {line:?}: {e}"))
    }

    /// Waits until `n` messages with this method have reached the server; `Ok(false)` when
    /// `deadline` passed first.
    fn wait_for(&mut self, method: &str, n: usize, deadline: Instant) -> Result<bool, String> {
        loop {
            if self.count(method)? >= n {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// `SIGKILL`: the server goes away without a goodbye, as in a crash.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The lines of a child's stdout, read by a thread of their own, so that every wait on
/// them can have a deadline.
fn read_lines(stdout: std::process::ChildStdout) -> mpsc::Receiver<String> {
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    lines
}

/// A `tools/call` line.
fn call(id: u64, tool: &str, arguments: &Value) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": tool, "arguments": arguments}})
    .to_string()
}

/// How an answer reads in a cell: `result`, or the error's code and message.
fn describe(answer: &Value) -> String {
    match answer.get("error") {
        Some(error) => {
            // One line in a table cell, whatever the bridge put in its message.
            let message = error["message"]
                .as_str()
                .unwrap_or("")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            let message = message.as_str();
            let short: String = message.chars().take(60).collect();
            let ellipsis = if short.len() < message.len() {
                "…"
            } else {
                ""
            };
            format!("error {} \"{short}{ellipsis}\"", error["code"])
        }
        None if answer["result"]["isError"] == true => "result with isError".to_owned(),
        None => "result".to_owned(),
    }
}

fn is_result(answer: &Value) -> bool {
    answer.get("result").is_some() && answer["result"]["isError"] != true
}

/// The JSON-RPC messages of the POSTs the server received (a batch counts each).
fn posted(server: &TestServer) -> Vec<(test_server::RecordedRequest, Value)> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .flat_map(|r| {
            let messages = match r.json() {
                Some(Value::Array(batch)) => batch,
                Some(one) => vec![one],
                None => Vec::new(),
            };
            messages.into_iter().map(move |m| (r.clone(), m))
        })
        .collect()
}

fn count_method(server: &TestServer, method: &str) -> usize {
    posted(server)
        .iter()
        .filter(|(_, m)| m["method"] == method)
        .count()
}

fn start(scenario: Scenario) -> Result<TestServer, String> {
    TestServer::start(scenario.lifetime(Duration::from_secs(300)))
        .map_err(|e| format!("test-server: {e}"))
}

fn lost(ended: bool, waited: Duration) -> Cell {
    if ended {
        Cell::bad("lost: stdout ended with no answer")
    } else {
        Cell::bad(format!("lost: no answer in {} s", waited.as_secs()))
    }
}

/// Runs one scenario against one bridge.
fn observe(key: &str, spec: &BridgeSpec, options: &Options) -> Result<Cell, String> {
    let wait = || Instant::now() + ANSWER_WAIT;
    match key {
        "session_id" => {
            let server = start(Scenario::default().sessions(true))?;
            let mut peer = Peer::spawn(spec, &server.url(), options)?;
            peer.initialize()?;
            peer.send(&call(1, "echo", &json!({"text": "a"})))?;
            let first = peer.answer(&json!(1), wait());
            peer.send(&call(2, "echo", &json!({"text": "b"})))?;
            let second = peer.answer(&json!(2), wait());
            // `server/discover` (the 2026 handshake) comes before a session exists.
            let later: Vec<_> = posted(&server)
                .into_iter()
                .filter(|(_, m)| m["method"] != "initialize" && m["method"] != "server/discover")
                .collect();
            let with_id = later
                .iter()
                .filter(|(r, _)| r.header("mcp-session-id").is_some_and(|v| !v.is_empty()))
                .count();
            let sessions = later
                .iter()
                .filter_map(|(r, _)| r.header("mcp-session-id"))
                .collect::<std::collections::BTreeSet<_>>()
                .len();
            let answered =
                matches!((&first, &second), (Ok(a), Ok(b)) if is_result(a) && is_result(b));
            let text = format!(
                "{with_id} of {} later POSTs carry one ({sessions} session{}); calls {}",
                later.len(),
                if sessions == 1 { "" } else { "s" },
                if answered { "answered" } else { "failed" }
            );
            // test-server answers 400/404 to a missing or unknown id, so answered calls also
            // prove the ids were the ones it issued.
            Ok(if with_id == later.len() && answered {
                Cell::good(format!("yes: {text}"))
            } else {
                Cell::bad(format!("no: {text}"))
            })
        }
        "session_404" => {
            let server = start(Scenario::default().sessions(true))?;
            let mut peer = Peer::spawn(spec, &server.url(), options)?;
            peer.initialize()?;
            peer.send(&call(1, "echo", &json!({"text": "a"})))?;
            match peer.answer(&json!(1), wait()) {
                Ok(a) if is_result(&a) => {}
                Ok(a) => {
                    return Ok(Cell::bad(format!(
                        "sessions fail before any 404: the first call got {}",
                        describe(&a)
                    )));
                }
                Err(ended) => {
                    return Ok(Cell::bad(format!(
                        "sessions fail before any 404: the first call was {}",
                        lost(ended, ANSWER_WAIT).text
                    )));
                }
            }
            let initializes = count_method(&server, "initialize");
            server.expire_sessions();
            peer.send(&call(2, "echo", &json!({"text": "b"})))?;
            let answer = peer.answer(&json!(2), wait());
            let again = count_method(&server, "initialize") - initializes;
            let reinit = if again > 0 {
                format!("re-initialized ({again}×)")
            } else {
                "no new initialize".to_owned()
            };
            Ok(match answer {
                Ok(a) if is_result(&a) => Cell::good(format!("recovered: {reinit}, call answered")),
                Ok(a) => Cell::bad(format!("{}; {reinit}", describe(&a))),
                Err(ended) => Cell::bad(format!("{}; {reinit}", lost(ended, ANSWER_WAIT).text)),
            })
        }
        "server_killed" => {
            let mut server = ServerProcess::spawn()?;
            let mut peer = Peer::spawn(spec, &server.url, options)?;
            let outcome = (|| {
                peer.initialize()?;
                for id in 1..=2 {
                    // Longer than any wait below: only the kill can end these calls.
                    peer.send(&call(id, "sleep", &json!({"ms": 120_000})))?;
                }
                // Kill only once both calls are at the server.
                if !server.wait_for("tools/call", 2, wait())? {
                    return Ok(Cell::bad(format!(
                        "the calls did not reach the server in {} s",
                        ANSWER_WAIT.as_secs()
                    )));
                }
                server.kill();
                let killed = Instant::now();
                let deadline = killed + ANSWER_WAIT;
                let answers: Vec<_> = (1..=2)
                    .map(|id| peer.answer(&json!(id), deadline))
                    .collect();
                let answered: Vec<_> = answers.iter().filter_map(|a| a.as_ref().ok()).collect();
                let alive = peer.alive();
                let how = answered
                    .first()
                    .map(|a| format!(" ({})", describe(a)))
                    .unwrap_or_default();
                let text = format!(
                    "{} of 2 answered{how} within {:.1} s; bridge {}",
                    answered.len(),
                    killed.elapsed().as_secs_f64(),
                    if alive { "still running" } else { "exited" }
                );
                Ok::<_, String>(if answered.len() == 2 && alive {
                    Cell::good(text)
                } else {
                    Cell::bad(text)
                })
            })();
            server.kill();
            outcome
        }
        "invalid_stdin" => {
            let server = start(Scenario::default())?;
            let mut peer = Peer::spawn(spec, &server.url(), options)?;
            peer.initialize()?;
            peer.send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":"#)?;
            let reply = peer.answer(&Value::Null, wait());
            peer.send(&call(2, "echo", &json!({"text": "after"})))?;
            let next = peer.answer(&json!(2), wait());
            let reply = match &reply {
                Ok(a) => format!("{} with id null", describe(a)),
                Err(true) => "stdout ended".to_owned(),
                Err(false) => "no reply".to_owned(),
            };
            Ok(match next {
                Ok(a) if is_result(&a) => {
                    let text = format!("{reply}; next call answered");
                    if reply.contains("-32700") {
                        Cell::good(text)
                    } else {
                        Cell::bad(text)
                    }
                }
                Ok(a) => Cell::bad(format!("{reply}; next call: {}", describe(&a))),
                Err(ended) => Cell::bad(format!(
                    "{reply}; next call {}",
                    lost(ended, ANSWER_WAIT).text
                )),
            })
        }
        "retry_after_429" | "status_502" => {
            let server = start(Scenario::default())?;
            let mut peer = Peer::spawn(spec, &server.url(), options)?;
            peer.initialize()?;
            // The fault rides in the call's arguments, so it meets that call's POSTs only
            // (a scripted fault could meet a bridge's own requests first).
            let fault = if key == "status_502" {
                json!({"status": 502})
            } else {
                // Counted by key: a bridge may resend under a new request id.
                json!({"status": 429, "retry_after": "1", "times": 1, "times_key": "429"})
            };
            let sent = Instant::now();
            peer.send(&call(1, "fault", &fault))?;
            let answer = peer.answer(&json!(1), wait());
            let took = sent.elapsed().as_secs_f64();
            let posts = count_method(&server, "tools/call");
            Ok(match (key, answer) {
                ("status_502", Ok(a)) => {
                    let text = format!("{}; reached the server {posts}×", describe(&a));
                    if posts == 1 && !is_result(&a) {
                        Cell::good(text)
                    } else {
                        Cell::bad(text)
                    }
                }
                (_, Ok(a)) if is_result(&a) => {
                    let text = format!("retried, answered after {took:.1} s ({posts} POSTs)");
                    if took >= 0.9 {
                        Cell::good(text)
                    } else {
                        Cell::bad(format!("{text}: Retry-After ignored"))
                    }
                }
                (_, Ok(a)) => Cell::bad(format!(
                    "{} after {took:.1} s ({posts} POSTs)",
                    describe(&a)
                )),
                (_, Err(ended)) => {
                    Cell::bad(format!("{} ({posts} POSTs)", lost(ended, ANSWER_WAIT).text))
                }
            })
        }
        "sse_cr" | "ndjson" => {
            let server = start(Scenario::default())?;
            let mut peer = Peer::spawn(spec, &server.url(), options)?;
            peer.initialize()?;
            let fault = if key == "sse_cr" {
                json!({"format": "sse", "line_ending": "cr"})
            } else {
                json!({"format": "ndjson"})
            };
            peer.send(&call(1, "fault", &fault))?;
            Ok(match peer.answer(&json!(1), wait()) {
                Ok(a) if is_result(&a) => Cell::good("answered"),
                Ok(a) => Cell::bad(describe(&a)),
                Err(ended) => lost(ended, ANSWER_WAIT),
            })
        }
        "eof_in_flight" => {
            let server = start(Scenario::default())?;
            let mut peer = Peer::spawn(spec, &server.url(), options)?;
            peer.initialize()?;
            peer.send(&call(1, "sleep", &json!({"ms": 1000})))?;
            let closed = Instant::now();
            peer.close_stdin();
            let answer = peer.answer(&json!(1), Instant::now() + Duration::from_secs(15));
            let took = closed.elapsed().as_secs_f64();
            Ok(match answer {
                Ok(a) if is_result(&a) => Cell::good(format!("answered {took:.1} s after EOF")),
                Ok(a) => Cell::bad(format!("{} {took:.1} s after EOF", describe(&a))),
                Err(true) => Cell::bad(format!("lost: exited {took:.1} s after EOF, no answer")),
                Err(false) => Cell::bad("lost: no answer and still running 15 s after EOF"),
            })
        }
        "elicitation" => {
            let server = start(Scenario::default())?;
            let mut peer = Peer::spawn_with(spec, &server.url(), 1)?;
            peer.initialize()?;
            peer.send(&call(1, "fault", &json!({"elicit": true})))?;
            let asked = match peer.request("elicitation/create", wait()) {
                Ok(asked) => asked,
                Err(ended) => {
                    let how = lost(ended, ANSWER_WAIT).text;
                    return Ok(Cell::bad(format!("the question never came ({how})")));
                }
            };
            let reply = json!({"jsonrpc": "2.0", "id": asked["id"],
                               "result": {"action": "accept", "content": {"colour": "blue"}}});
            peer.send(&reply.to_string())?;
            Ok(match peer.answer(&json!(1), wait()) {
                Ok(a) if is_result(&a) => Cell::good("asked, replied, answered"),
                Ok(a) => Cell::bad(format!("asked, replied, then {}", describe(&a))),
                Err(ended) => Cell::bad(format!(
                    "asked, replied, then {} (the reply waited behind the call?)",
                    lost(ended, ANSWER_WAIT).text
                )),
            })
        }
        "batch_split" => {
            let server = start(Scenario::default())?;
            let mut peer = Peer::spawn(spec, &server.url(), options)?;
            peer.initialize()?;
            let batch = json!([
                {"jsonrpc": "2.0", "id": 1, "method": "ping",
                 "params": {"_meta": {"test-server/fault": {"format": "sse"}}}},
                {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
            ]);
            peer.send(&batch.to_string())?;
            let answers = [
                peer.answer(&json!(1), wait()),
                peer.answer(&json!(2), wait()),
            ];
            let extra = peer
                .rest(wait())
                .iter()
                .filter(|m| m.get("method").is_none() && (m["id"] == 1 || m["id"] == 2))
                .count();
            let results = answers
                .iter()
                .filter(|a| matches!(a, Ok(a) if is_result(a)))
                .count();
            let text = format!("{results} of 2 ids answered, {extra} extra answers");
            Ok(if results == 2 && extra == 0 {
                Cell::good(text)
            } else {
                Cell::bad(text)
            })
        }
        "pretty_error" => {
            let server = start(Scenario::default())?;
            let mut peer = Peer::spawn(spec, &server.url(), options)?;
            peer.initialize()?;
            let fault = json!({"status": 400, "multiline_data": true,
                "error_body": {"kind": "jsonrpc", "code": -32602, "message": "bad arguments"}});
            peer.send(&call(1, "fault", &fault))?;
            let answer = peer.answer(&json!(1), wait());
            let broken = peer.not_json;
            let lines = if broken == 0 {
                "stdout framing intact".to_owned()
            } else {
                format!("{broken} lines on stdout were not JSON")
            };
            Ok(match answer {
                Ok(a) if a["error"]["code"] == -32602 && broken == 0 => {
                    Cell::good(format!("the server's error, on one line; {lines}"))
                }
                Ok(a) => Cell::bad(format!("{}; {lines}", describe(&a))),
                Err(ended) => Cell::bad(format!("{}; {lines}", lost(ended, ANSWER_WAIT).text)),
            })
        }
        "sse_other_events" => {
            let server = start(Scenario::default())?;
            let mut peer = Peer::spawn(spec, &server.url(), options)?;
            peer.initialize()?;
            peer.send(&call(
                1,
                "fault",
                &json!({"format": "sse", "ping_events": true}),
            ))?;
            Ok(match peer.answer(&json!(1), wait()) {
                Ok(a) if is_result(&a) => Cell::good("skipped; answered"),
                Ok(a) => Cell::bad(describe(&a)),
                Err(ended) => lost(ended, ANSWER_WAIT),
            })
        }
        "recovery_fails_once" => {
            let server = start(Scenario::default().sessions(true))?;
            let mut peer = Peer::spawn(spec, &server.url(), options)?;
            peer.initialize()?;
            peer.send(&call(1, "echo", &json!({"text": "a"})))?;
            if !matches!(peer.answer(&json!(1), wait()), Ok(a) if is_result(&a)) {
                return Ok(Cell::bad("sessions fail before any 404"));
            }
            server.expire_sessions();
            // A 404 takes no scripted fault: the next POST that passes the session check
            // (a re-`initialize`) gets the 500.
            server.push_script(test_server::Fault::status(500));
            peer.send(&call(2, "echo", &json!({"text": "b"})))?;
            let second = peer.answer(&json!(2), wait());
            peer.send(&call(3, "echo", &json!({"text": "c"})))?;
            let third = peer.answer(&json!(3), wait());
            let reinit = count_method(&server, "initialize").saturating_sub(1);
            let second = match &second {
                Ok(a) => describe(a),
                Err(ended) => lost(*ended, ANSWER_WAIT).text,
            };
            Ok(match third {
                Ok(a) if is_result(&a) => Cell::good(format!(
                    "call 2: {second}; call 3 answered ({reinit} re-initialize)"
                )),
                Ok(a) => Cell::bad(format!("call 2: {second}; call 3: {}", describe(&a))),
                Err(ended) => Cell::bad(format!(
                    "call 2: {second}; call 3 {}",
                    lost(ended, ANSWER_WAIT).text
                )),
            })
        }
        "listen_reopen" => {
            let scenario = Scenario::default()
                .sessions(true)
                .listen_stream(true)
                .listen_empty_streams(6)
                .listen_interval(Duration::from_millis(1))
                .listen_events(3);
            let server = start(scenario)?;
            let mut peer = Peer::spawn(spec, &server.url(), options)?;
            peer.initialize()?;
            let deadline = Instant::now() + Duration::from_secs(20);
            let delivered = (0..3)
                .take_while(|_| peer.notification("notifications/message", deadline).is_ok())
                .count();
            let gets = server
                .requests()
                .iter()
                .filter(|r| r.method == "GET")
                .count();
            let text = format!("{delivered} of 3 events after {gets} GETs");
            Ok(if delivered == 3 {
                Cell::good(text)
            } else {
                Cell::bad(text)
            })
        }
        "redirect_other_origin" => {
            let elsewhere = start(Scenario::default())?;
            let server = start(Scenario::default())?;
            let mut peer = Peer::spawn(spec, &server.url(), options)?;
            peer.initialize()?;
            let fault = json!({"status": 307, "location": elsewhere.url()});
            peer.send(&call(1, "fault", &fault))?;
            let answer = peer.answer(&json!(1), wait());
            let leaked = posted(&elsewhere).len();
            let refused = matches!(&answer, Ok(a) if !is_result(a));
            let answer = match &answer {
                Ok(a) => describe(a),
                Err(ended) => lost(*ended, ANSWER_WAIT).text,
            };
            Ok(if leaked == 0 && refused {
                Cell::good(format!("not followed: {answer}"))
            } else {
                Cell::bad(format!("{leaked} POSTs reached the other origin; {answer}"))
            })
        }
        _ => Err(format!("unknown scenario {key}")),
    }
}

/// `e2e matrix`: every scenario for every bridge; a markdown table on stdout, JSON to
/// `--json`.
pub(crate) fn run(options: &Options) -> Result<(), String> {
    let mut cells = Vec::new();
    // `E2E_MATRIX_ONLY=oauth_,ndjson`: only the rows whose key starts with one of these;
    // `E2E_MATRIX_SKIP=oauth_,reach_legacy,era_`: all but those (the sign-in rows need the
    // Python of the tests, the legacy-SSE row the SDK 1.x venv, the era rows both and
    // python-tests/era).
    let prefixes = |name: &str| {
        std::env::var(name)
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let (only, skip) = (prefixes("E2E_MATRIX_ONLY"), prefixes("E2E_MATRIX_SKIP"));
    let wanted = |key: &str| {
        (only.is_empty() || only.iter().any(|p| key.starts_with(p.as_str())))
            && !skip.iter().any(|p| key.starts_with(p.as_str()))
    };
    for (key, title) in SCENARIOS
        .iter()
        .chain(oauth::SCENARIOS.iter())
        .chain(reach::SCENARIOS.iter())
        .chain(era::SCENARIOS.iter())
        .copied()
        .filter(|(key, _)| wanted(key))
    {
        let mut row = Vec::new();
        for spec in &options.bridges {
            eprintln!("e2e matrix: {key} / {}", spec.name);
            let cell = if key.starts_with("oauth_") {
                oauth::observe(key, spec)
            } else if key.starts_with("reach_") {
                reach::observe(key, spec)
            } else if key.starts_with("era_") {
                era::observe(key, spec)
            } else {
                observe(key, spec, options)
            }
            .unwrap_or_else(|e| Cell::bad(format!("scenario failed: {e}")));
            eprintln!("  {} {}", if cell.good { "ok " } else { "BAD" }, cell.text);
            row.push(cell);
        }
        cells.push((key, title, row));
    }
    let mut out = String::from("| situation |");
    for spec in &options.bridges {
        out.push_str(&format!(" {} |", spec.name));
    }
    out.push_str("\n| --- |");
    out.push_str(&" --- |".repeat(options.bridges.len()));
    out.push('\n');
    for (_, title, row) in &cells {
        out.push_str(&format!("| {title} |"));
        for cell in row {
            let mark = if cell.good { "✅" } else { "❌" };
            out.push_str(&format!(" {mark} {} |", cell.text.replace('|', "\\|")));
        }
        out.push('\n');
    }
    print!("{out}");
    if let Some(path) = &options.json {
        let value = json!({
            "bridges": options.bridges.iter().map(|b| json!({"name": b.name, "command": b.to_string()})).collect::<Vec<_>>(),
            "scenarios": cells.iter().map(|(key, title, row)| json!({
                "key": key, "title": title,
                "cells": row.iter().map(|c| json!({"text": c.text, "good": c.good})).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        });
        std::fs::write(path, value.to_string())
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
        eprintln!("e2e matrix: wrote {}", path.display());
    }
    Ok(())
}
