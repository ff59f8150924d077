//! The reach rows of the matrix: can a bridge get to a server that is not set up the way it
//! expects, as a user starts it?
//!
//! - `reach_legacy_sse`: a server that speaks only the legacy HTTP+SSE transport (protocol
//!   2024-11-05): the MCP Python SDK 1.x server of `python-tests/legacy/legacy_server.py`, run
//!   by the Python of `$E2E_LEGACY_PYTHON`, else `.venvs/legacy/bin/python` (made from
//!   `python-tests/requirements-legacy.txt`). Each bridge gets the SSE URL with its default
//!   transport: a `--transport` its matrix command sets (to measure Streamable HTTP) is
//!   dropped, since the question is whether it finds the legacy transport by itself.
//! - `reach_env_header`: a header whose value is `${E2E_PROBE}`, given through the bridge's
//!   own header option as argv (no shell expands it), with `E2E_PROBE` in its environment:
//!   the form mcp-remote documents for Windows, where a host's config cannot interpolate.
//!   What arrived is read from the test-server's record of each POST.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use test_server::Scenario;

use super::{ANSWER_WAIT, Cell, Peer, call, describe, is_result, lost, start};
use crate::bridge::{BridgeSpec, initialize_request};

/// The rows: (key, title).
pub(super) const SCENARIOS: [(&str, &str); 2] = [
    (
        "reach_legacy_sse",
        "server that speaks only the legacy HTTP+SSE transport (2024-11-05): list and call answered?",
    ),
    (
        "reach_env_header",
        "`${VAR}` in a header option (mcp-remote's Windows-safe form): expanded from the environment?",
    ),
];

/// The variable the header names, and its value in the bridge's environment.
const PROBE_VAR: &str = "E2E_PROBE";
const PROBE_VALUE: &str = "probe-value-123";
const PROBE_LITERAL: &str = "${E2E_PROBE}";

/// The repository root (this crate is `benches/`).
pub(super) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

pub(super) fn legacy_python() -> PathBuf {
    std::env::var_os("E2E_LEGACY_PYTHON")
        .map_or_else(|| root().join(".venvs/legacy/bin/python"), PathBuf::from)
}

/// `legacy_server.py`: the SDK 1.x server, and the file where it logs each request.
struct LegacyServer {
    child: Child,
    dir: PathBuf,
    sse_url: String,
}

impl LegacyServer {
    fn start() -> Result<Self, String> {
        let python = legacy_python();
        if !python.exists() {
            return Err(format!(
                "no Python with the MCP SDK 1.x at {} (set E2E_LEGACY_PYTHON)",
                python.display()
            ));
        }
        static COUNT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "e2e-matrix-legacy-{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut child = Command::new(&python)
            .arg(root().join("python-tests/legacy/legacy_server.py"))
            .arg("--request-log")
            .arg(dir.join("requests.jsonl"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting legacy_server.py: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut line = String::new();
        // The server prints `READY <port>` once it listens, or nothing and exits.
        let read = BufReader::new(stdout).read_line(&mut line);
        let port = line
            .trim()
            .strip_prefix("READY ")
            .and_then(|p| p.parse::<u16>().ok());
        // Built before the checks, so that a failed start is killed and cleaned up too.
        let mut server = Self {
            child,
            dir,
            sse_url: String::new(),
        };
        match (read, port) {
            (Ok(_), Some(port)) => {
                server.sse_url = format!("http://127.0.0.1:{port}/sse");
                Ok(server)
            }
            (Err(e), _) => Err(format!("reading legacy_server.py: {e}")),
            (Ok(_), None) => Err(format!("legacy_server.py said {line:?}")),
        }
    }

    /// The requests the server logged: (method, path, status).
    fn requests(&self) -> Vec<(String, String, u64)> {
        let log = std::fs::read_to_string(self.dir.join("requests.jsonl")).unwrap_or_default();
        log.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .map(|r| {
                (
                    r["method"].as_str().unwrap_or_default().to_owned(),
                    r["path"].as_str().unwrap_or_default().to_owned(),
                    r["status"].as_u64().unwrap_or_default(),
                )
            })
            .collect()
    }

    /// How the bridge got there, from the request log: the POSTs it made elsewhere than the
    /// legacy message endpoint (its Streamable HTTP tries: "1 POST to /mcp/ (404), then
    /// SSE"), and whether it then used the legacy transport (a POST to `/messages/`). The
    /// `GET /sse`s say little: some bridges GET the URL while probing, before any POST.
    fn route(&self) -> String {
        let requests = self.requests();
        let mut groups: Vec<(&str, u64, usize)> = Vec::new();
        for (_, path, status) in requests
            .iter()
            .filter(|(method, path, _)| method == "POST" && path != "/messages/")
        {
            match groups.last_mut() {
                Some((p, s, n)) if p == path && s == status => *n += 1,
                _ => groups.push((path, *status, 1)),
            }
        }
        let tried = groups
            .iter()
            .map(|(path, status, n)| format!("{n} POST to {path} ({status})"))
            .collect::<Vec<_>>()
            .join(", ");
        let used_sse = requests
            .iter()
            .any(|(method, path, _)| method == "POST" && path == "/messages/");
        match (used_sse, tried.is_empty()) {
            (true, true) => "SSE from the start".to_owned(),
            (true, false) => format!("{tried}, then SSE"),
            (false, true) if requests.is_empty() => "no request reached the server".to_owned(),
            (false, true) => "never posted a message".to_owned(),
            (false, false) => format!("{tried}; never used the SSE transport"),
        }
    }
}

impl Drop for LegacyServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Sends `initialize`, `tools/list` and a `tools/call`; `Err` names the first that was not
/// answered with a result.
pub(super) fn list_and_call(peer: &mut Peer) -> Result<(), String> {
    peer.send(initialize_request(0).trim_end())?;
    match peer.answer(&json!(0), Instant::now() + Duration::from_secs(30)) {
        Ok(answer) if answer.get("result").is_some() => {}
        Ok(answer) => return Err(format!("initialize: {}", describe(&answer))),
        Err(ended) => {
            return Err(format!(
                "initialize {}",
                lost(ended, Duration::from_secs(30)).text
            ));
        }
    }
    peer.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)?;
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).to_string();
    let requests = [
        ("tools/list", 1, list),
        ("tools/call", 2, call(2, "echo", &json!({"text": "reach"}))),
    ];
    for (what, id, line) in requests {
        peer.send(&line)?;
        match peer.answer(&json!(id), Instant::now() + ANSWER_WAIT) {
            Ok(answer) if is_result(&answer) => {}
            Ok(answer) => return Err(format!("{what}: {}", describe(&answer))),
            Err(ended) => return Err(format!("{what} {}", lost(ended, ANSWER_WAIT).text)),
        }
    }
    Ok(())
}

/// How a bridge is given the probe header: the words to add to its command, the variables
/// to add to its environment, the header that should carry the value, and a note for the
/// cell when that is not a header option.
struct HeaderOption {
    words: Vec<String>,
    env: Vec<(String, String)>,
    header: &'static str,
    note: &'static str,
}

/// The header option of each bridge of `benches/compare/run.sh`, by its name there.
fn header_option(bridge: &str) -> Result<HeaderOption, String> {
    let words = |w: &[&str]| w.iter().map(|&w| w.to_owned()).collect();
    let probe = (PROBE_VAR.to_owned(), PROBE_VALUE.to_owned());
    let spaced = format!("X-Probe: {PROBE_LITERAL}");
    let option = |words: Vec<String>| HeaderOption {
        words,
        env: vec![probe.clone()],
        header: "x-probe",
        note: "",
    };
    match bridge {
        "mcp-wrapper" | "mcp_wrapper_rs" | "fastmcp-remote" => {
            Ok(option(words(&["--header", spaced.as_str()])))
        }
        "mcp-remote" => Ok(option(words(&[
            "--header",
            &format!("X-Probe:{PROBE_LITERAL}"),
        ]))),
        "mcp-proxy" => Ok(option(words(&["-H", "X-Probe", PROBE_LITERAL]))),
        // No header option: its one header setting is `MCP_AUTH`, the Authorization value.
        "mcpgateway.wrapper" => Ok(HeaderOption {
            words: Vec::new(),
            env: vec![probe.clone(), ("MCP_AUTH".into(), PROBE_LITERAL.into())],
            header: "authorization",
            note: "no header option; MCP_AUTH → Authorization: ",
        }),
        other => Err(format!("no header option known for a bridge named {other}")),
    }
}

/// Runs one reach row against one bridge.
pub(super) fn observe(key: &str, spec: &BridgeSpec) -> Result<Cell, String> {
    match key {
        "reach_legacy_sse" => {
            let server = LegacyServer::start()?;
            let spec = spec.with_default_transport();
            let mut peer = Peer::spawn_env(&spec, &server.sse_url, &[])?;
            let answered = list_and_call(&mut peer);
            drop(peer);
            let route = server.route();
            Ok(match answered {
                Ok(()) => Cell::good(format!("answered; {route}")),
                Err(e) => Cell::bad(format!("{e}; {route}")),
            })
        }
        "reach_env_header" => {
            let option = header_option(&spec.name)?;
            let spec = spec.with_words(&option.words);
            let server = start(Scenario::default())?;
            let mut peer = Peer::spawn_env(&spec, &server.url(), &option.env)?;
            let answered = list_and_call(&mut peer);
            drop(peer);
            let posts: Vec<_> = server
                .requests()
                .into_iter()
                .filter(|r| r.method == "POST")
                .collect();
            let count = |value: &str| {
                posts
                    .iter()
                    .filter(|r| {
                        r.header(option.header)
                            .is_some_and(|v| v.trim_start_matches("Bearer ").trim() == value)
                    })
                    .count()
            };
            let (expanded, literal, all) = (count(PROBE_VALUE), count(PROBE_LITERAL), posts.len());
            let note = option.note;
            let seen = if all > 0 && expanded == all {
                format!("{note}expanded on {all} of {all} POSTs")
            } else if literal > 0 {
                format!("{note}sent literally (`{PROBE_LITERAL}`) on {literal} of {all} POSTs")
            } else if expanded > 0 {
                format!("{note}expanded on {expanded} of {all} POSTs")
            } else {
                format!("{note}not sent ({all} POSTs)")
            };
            Ok(match answered {
                Ok(()) if all > 0 && expanded == all => Cell::good(seen),
                Ok(()) => Cell::bad(seen),
                Err(e) => Cell::bad(format!("{seen}; {e}")),
            })
        }
        _ => Err(format!("unknown scenario {key}")),
    }
}
