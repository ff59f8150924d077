//! The era rows of the matrix (issue 16, research notes `protocol-2026.md` §4, §5.1): a
//! 2025-era host (raw `initialize`, `tools/list`, `tools/call` lines) or a 2026-era host (a
//! raw `server/discover`) through each bridge, against real servers of the other era.
//!
//! - `era_dual`: the dual-era server of `python-tests/era/era_server.py` (the MCP Python
//!   SDK 2.3, which serves both eras and routes each POST by its headers);
//! - `era_modern_only`: the same behind its `--gate modern-only` (a POST without
//!   `MCP-Protocol-Version: 2026-07-28` gets `400` `-32022`, GET and DELETE `405`): only a
//!   bridge that translates (case B, §4.2) gets through;
//! - `era_mrtr`: the tool `who` on that gate, which asks for the caller's name with an
//!   `input_required` result (MRTR, §1.7): does the host get an ordinary
//!   `elicitation/create`, and does its reply reach the tool (§4.7)?
//! - `era_discover_legacy`: a 2026-era host's `server/discover` against the 2025-only server
//!   of `python-tests/era/legacy_http_server.py` (SDK 1.x): `-32601` (case D, §4.4), or any
//!   JSON-RPC error outside the 2026 era's own `-32020…-32022`, on which every SDK client
//!   falls back to `initialize` (§2.2); then do that `initialize` and a call work?
//!
//! Each cell says how many POSTs reached the server and which methods, from the servers'
//! request log (`wire_recorder.py`). The servers run under the Python of `$E2E_ERA_PYTHON`,
//! else `.venvs/test/bin/python` (the SDK 2.3), and `$E2E_LEGACY_PYTHON`, else
//! `.venvs/legacy/bin/python` (SDK 1.x). mcp-remote gets `--protocol auto` for these rows
//! (its default is `legacy`, §2.3); our bridge's default is `auto`; the others run as they
//! are. Each run gets a fresh `MCP_WRAPPER_AUTH_DIR`, so no cached era verdict is used.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::reach::{legacy_python, list_and_call, root};
use super::{ANSWER_WAIT, Cell, Peer, call, describe, is_result, lost, read_lines};
use crate::bridge::{BridgeSpec, initialize_request};

/// The rows: (key, title).
pub(super) const SCENARIOS: [(&str, &str); 4] = [
    (
        "era_dual",
        "2025-era host, dual-era server (MCP SDK 2.3): list and call answered? POSTs",
    ),
    (
        "era_modern_only",
        "2025-era host, 2026-07-28-only server: list and call answered (translated)? POSTs",
    ),
    (
        "era_mrtr",
        "elicitation on a 2026-07-28-only server (MRTR): asked as `elicitation/create`, answered?",
    ),
    (
        "era_discover_legacy",
        "2026-era host's `server/discover`, 2025-only server: an error it falls back on (`-32601`), then `initialize` works?",
    ),
];

fn era_python() -> PathBuf {
    std::env::var_os("E2E_ERA_PYTHON")
        .map_or_else(|| root().join(".venvs/test/bin/python"), PathBuf::from)
}

/// A Python server of `python-tests/era/` with its request log.
struct PyServer {
    child: Child,
    dir: PathBuf,
    url: String,
}

impl PyServer {
    /// `python script args…`; waits (30 s at most) for its `READY <port>` line.
    fn start(python: PathBuf, script: &str, args: &[&str]) -> Result<Self, String> {
        if !python.exists() {
            return Err(format!(
                "no Python at {} for {script} (set E2E_ERA_PYTHON / E2E_LEGACY_PYTHON)",
                python.display()
            ));
        }
        let path = root().join("python-tests/era").join(script);
        if !path.exists() {
            return Err(format!("{} is missing", path.display()));
        }
        static COUNT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "e2e-matrix-era-{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut child = Command::new(&python)
            .arg(&path)
            .args(args)
            .arg("--request-log")
            .arg(dir.join("requests.jsonl"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting {script}: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let lines = read_lines(stdout);
        // Built before the wait, so that a server that never gets ready is killed too.
        let mut server = Self {
            child,
            dir,
            url: String::new(),
        };
        let line = lines
            .recv_timeout(Duration::from_secs(30))
            .map_err(|e| format!("{script} printed nothing: {e}"))?;
        let port = line
            .trim()
            .strip_prefix("READY ")
            .and_then(|p| p.parse::<u16>().ok())
            .ok_or_else(|| format!("{script} said {line:?}"))?;
        server.url = format!("http://127.0.0.1:{port}/mcp/");
        Ok(server)
    }

    fn log(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.join("requests.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The POSTs that arrived, each with its JSON-RPC method (`?` for none).
    fn posts(&self) -> Vec<Value> {
        self.log()
            .into_iter()
            .filter(|e| e["kind"] == "http" && e["phase"] == "arrived" && e["http"] == "POST")
            .collect()
    }

    /// "5 POSTs: 1 server/discover, 1 tools/list, …" in arrival order of the methods.
    fn post_summary(&self) -> String {
        let posts = self.posts();
        let mut order: Vec<String> = Vec::new();
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for post in &posts {
            let method = post["rpc_method"].as_str().unwrap_or("?").to_owned();
            if !counts.contains_key(&method) {
                order.push(method.clone());
            }
            *counts.entry(method).or_default() += 1;
        }
        let methods = order
            .iter()
            .map(|m| format!("{} {m}", counts[m]))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "{} POST{}: {methods}",
            posts.len(),
            if posts.len() == 1 { "" } else { "s" }
        )
    }

    /// Which era the bridge's `tools/call`s spoke: `2026-07-28` when they carried the
    /// envelope, else `2025`.
    fn call_era(&self) -> &'static str {
        let modern = self
            .posts()
            .iter()
            .any(|p| p["rpc_method"] == "tools/call" && p["meta_version"] == "2026-07-28");
        if modern { "2026-07-28" } else { "2025" }
    }

    /// How often a tool's body started.
    fn runs(&self, tool: &str) -> usize {
        self.log()
            .iter()
            .filter(|e| e["kind"] == "tool" && e["tool"] == tool && e["event"] == "start")
            .count()
    }
}

impl Drop for PyServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The bridge as these rows run it: mcp-remote in `--protocol auto` (its default is
/// `legacy`, which cannot reach a 2026-07-28-only server by design); the others as they are.
fn era_spec(spec: &BridgeSpec) -> BridgeSpec {
    if spec.name == "mcp-remote" {
        spec.with_words(&["--protocol".to_owned(), "auto".to_owned()])
    } else {
        spec.clone()
    }
}

/// A fresh `MCP_WRAPPER_AUTH_DIR` for one run (no cached era verdict).
fn fresh_env() -> Result<Vec<(String, String)>, String> {
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "e2e-matrix-era-auth-{}-{}",
        std::process::id(),
        COUNT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(vec![(
        "MCP_WRAPPER_AUTH_DIR".to_owned(),
        dir.to_string_lossy().into_owned(),
    )])
}

fn spawn(spec: &BridgeSpec, url: &str) -> Result<Peer, String> {
    Peer::spawn_env(&era_spec(spec), url, &fresh_env()?)
}

/// Runs one era row against one bridge.
pub(super) fn observe(key: &str, spec: &BridgeSpec) -> Result<Cell, String> {
    match key {
        "era_dual" | "era_modern_only" => {
            let args: &[&str] = if key == "era_dual" {
                &[]
            } else {
                &["--gate", "modern-only"]
            };
            let server = PyServer::start(era_python(), "era_server.py", args)?;
            let mut peer = spawn(spec, &server.url)?;
            let answered = list_and_call(&mut peer);
            // Gone once it exits: every POST it made has arrived.
            drop(peer);
            let posts = server.post_summary();
            Ok(match answered {
                Ok(()) => Cell::good(format!("answered, calls as {}; {posts}", server.call_era())),
                Err(e) => Cell::bad(format!("{e}; {posts}")),
            })
        }
        "era_mrtr" => {
            let server =
                PyServer::start(era_python(), "era_server.py", &["--gate", "modern-only"])?;
            let mut peer = spawn(spec, &server.url)?;
            let outcome = mrtr(&mut peer);
            drop(peer);
            let posts = server.post_summary();
            let runs = server.runs("who");
            Ok(match outcome {
                Ok(text) if text == "hello Ada" && runs == 1 => Cell::good(format!(
                    "asked, replied, answered \"{text}\"; `who` ran once; {posts}"
                )),
                Ok(text) => Cell::bad(format!("answered \"{text}\"; `who` ran {runs}×; {posts}")),
                Err(e) => Cell::bad(format!("{e}; `who` ran {runs}×; {posts}")),
            })
        }
        "era_discover_legacy" => {
            let server = PyServer::start(legacy_python(), "legacy_http_server.py", &[])?;
            let mut peer = spawn(spec, &server.url)?;
            let outcome = discover_then_initialize(&mut peer);
            drop(peer);
            let posts = server.post_summary();
            Ok(match outcome {
                Ok(then) => Cell::good(format!("{then}; {posts}")),
                Err(then) => Cell::bad(format!("{then}; {posts}")),
            })
        }
        _ => Err(format!("unknown scenario {key}")),
    }
}

/// `initialize`, then `who`: the elicitation must come to the host as a request; the reply
/// is "Ada". Returns the text of the call's result.
fn mrtr(peer: &mut Peer) -> Result<String, String> {
    peer.initialize()?;
    peer.send(&call(1, "who", &json!({})))?;
    let deadline = Instant::now() + ANSWER_WAIT;
    let asked = peer.take(deadline, |m| {
        (m.get("method").is_some() && m.get("id").is_some()) || m["id"] == 1
    });
    let asked = match asked {
        Ok(asked) if asked["method"] == "elicitation/create" => asked,
        Ok(answer) => return Err(format!("not asked: the call got {}", describe(&answer))),
        Err(ended) => return Err(format!("not asked: {}", lost(ended, ANSWER_WAIT).text)),
    };
    let reply = json!({"jsonrpc": "2.0", "id": asked["id"],
                       "result": {"action": "accept", "content": {"name": "Ada"}}});
    peer.send(&reply.to_string())?;
    match peer.answer(&json!(1), Instant::now() + ANSWER_WAIT) {
        Ok(answer) if is_result(&answer) => Ok(answer["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned()),
        Ok(answer) => Err(format!("asked, replied, then {}", describe(&answer))),
        Err(ended) => Err(format!(
            "asked, replied, then {}",
            lost(ended, ANSWER_WAIT).text
        )),
    }
}

/// A 2026-era host's first line: `server/discover` with the envelope, as the MCP SDK 2.3
/// `Client` sends it (§3); then, as that client does after `-32601`, `initialize` and a
/// call. `Ok`: all three as a falling-back host wants them; `Err`: what went otherwise.
fn discover_then_initialize(peer: &mut Peer) -> Result<String, String> {
    let discover = json!({"jsonrpc": "2.0", "id": "d1", "method": "server/discover",
        "params": {"_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": {"name": "e2e", "version": "0"}}}});
    peer.send(&discover.to_string())?;
    let wait = || Instant::now() + ANSWER_WAIT;
    let got = |answer: &Result<Value, bool>| match answer {
        Ok(answer) => describe(answer),
        Err(ended) => lost(*ended, ANSWER_WAIT).text,
    };
    let discovered = peer.answer(&json!("d1"), wait());
    // Every SDK client falls back to `initialize` on a JSON-RPC error that is not one of
    // the 2026 era's own (§2.2); `-32601` is what §4.4 asks for.
    let fell_back = matches!(&discovered, Ok(a) if a["error"]["code"]
        .as_i64()
        .is_some_and(|code| !(-32022..=-32020).contains(&code)));
    let discovered = format!("discover: {}", got(&discovered));
    peer.send(initialize_request(0).trim_end())?;
    let initialized = peer.answer(&json!(0), wait());
    if !matches!(&initialized, Ok(a) if a.get("result").is_some()) {
        return Err(format!(
            "{discovered}; then initialize: {}",
            got(&initialized)
        ));
    }
    peer.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)?;
    peer.send(&call(2, "echo", &json!({"text": "after"})))?;
    let called = peer.answer(&json!(2), wait());
    match (&called, fell_back) {
        (Ok(answer), true) if is_result(answer) => {
            Ok(format!("{discovered}, then initialize and a call answered"))
        }
        _ => Err(format!(
            "{discovered}; then initialize answered, the call: {}",
            got(&called)
        )),
    }
}
