//! The sign-in rows of the matrix: each bridge against a real OAuth 2.1 setup, the MCP
//! Python SDK's authorization server and resource server (`python-tests/oauth/sdk_servers.py`,
//! run by the Python of `$E2E_OAUTH_PYTHON`, else `.venvs/test/bin/python`, where
//! `scripts/test-all.sh` installs the SDK). `BROWSER` is `python-tests/oauth/browser.py`: it
//! follows the authorization URL to the bridge's loopback callback and logs each opening, so
//! a cell counts browser tabs. Each bridge gets a fresh `HOME` (and config directories), so
//! no sign-in leaks from one cell to another.
//!
//! A bridge whose matrix command turns sign-in off (`fastmcp-remote --auth none`) is run with
//! it on (`--auth oauth`): these rows ask what it does when it signs in.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{ANSWER_WAIT, Cell, Peer, call, describe, is_result, lost};
use crate::bridge::{BridgeSpec, initialize_request};

/// The rows: (key, title).
pub(super) const SCENARIOS: [(&str, &str); 5] = [
    (
        "oauth_sign_in",
        "401 with an OAuth challenge (MCP SDK auth server): signs in, call answered?",
    ),
    (
        "oauth_restart",
        "restart after a sign-in: stored tokens reused (no second browser)?",
    ),
    (
        "oauth_refresh",
        "access token expired: refreshed without a browser?",
    ),
    (
        "oauth_revoked",
        "refresh token revoked: exactly one new sign-in?",
    ),
    (
        "oauth_two_bridges",
        "two bridges started together for one server: one browser?",
    ),
];

/// The repository root (this crate is `benches/`).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn python() -> PathBuf {
    std::env::var_os("E2E_OAUTH_PYTHON")
        .map_or_else(|| root().join(".venvs/test/bin/python"), PathBuf::from)
}

/// `sdk_servers.py`: the authorization server and the resource server, with their records.
struct Servers {
    child: Child,
    as_url: String,
    rs_url: String,
    runtime: tokio::runtime::Runtime,
}

impl Servers {
    fn start() -> Result<Self, String> {
        let python = python();
        if !python.exists() {
            return Err(format!(
                "no Python with the MCP SDK at {} (set E2E_OAUTH_PYTHON)",
                python.display()
            ));
        }
        let mut child = Command::new(&python)
            .arg(root().join("python-tests/oauth/sdk_servers.py"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting sdk_servers.py: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| format!("reading sdk_servers.py: {e}"))?;
        let ready: Value = serde_json::from_str(&line)
            .map_err(|e| format!("sdk_servers.py said {line:?}: {e}"))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("runtime: {e}"))?;
        Ok(Self {
            as_url: ready["as"].as_str().unwrap_or_default().to_owned(),
            rs_url: ready["rs"].as_str().unwrap_or_default().to_owned(),
            child,
            runtime,
        })
    }

    fn test_api(&self, method: reqwest::Method, name: &str) -> Result<Value, String> {
        let url = format!("{}/_test/{name}", self.as_url);
        self.runtime.block_on(async {
            let response = reqwest::Client::new()
                .request(method, &url)
                .send()
                .await
                .map_err(|e| format!("{url}: {e}"))?;
            let body = response.bytes().await.map_err(|e| format!("{url}: {e}"))?;
            serde_json::from_slice::<Value>(&body).map_err(|e| format!("{url}: {e}"))
        })
    }

    fn records(&self) -> Result<Value, String> {
        self.test_api(reqwest::Method::GET, "records")
    }

    fn control(&self, name: &str) -> Result<(), String> {
        self.test_api(reqwest::Method::POST, name).map(drop)
    }

    fn grants(&self, grant_type: &str) -> Result<Vec<Value>, String> {
        let records = self.records()?;
        Ok(records["tokens"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|t| t["grant_type"] == grant_type)
            .cloned()
            .collect())
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One user's machine: a fresh home, and the browser's log.
struct Desk {
    home: PathBuf,
}

impl Desk {
    fn new(name: &str) -> Result<Self, String> {
        static COUNT: AtomicU64 = AtomicU64::new(0);
        let home = std::env::temp_dir().join(format!(
            "e2e-matrix-oauth-{}-{}-{name}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&home);
        std::fs::create_dir_all(&home).map_err(|e| format!("{}: {e}", home.display()))?;
        Ok(Self { home })
    }

    fn env(&self) -> Vec<(String, String)> {
        let home = self.home.display().to_string();
        let browser = format!(
            "{} {} %s",
            python().display(),
            root().join("python-tests/oauth/browser.py").display()
        );
        vec![
            ("HOME".into(), home.clone()),
            ("XDG_CONFIG_HOME".into(), format!("{home}/.config")),
            (
                "MCP_WRAPPER_AUTH_DIR".into(),
                format!("{home}/mcp-wrapper-auth"),
            ),
            ("MCP_REMOTE_CONFIG_DIR".into(), format!("{home}/.mcp-auth")),
            ("BROWSER".into(), browser),
            ("BROWSER_LOG".into(), format!("{home}/browser.log")),
            // Return at once, as xdg-open does: Python's webbrowser (fastmcp) waits for a
            // BROWSER command before it listens for the callback.
            ("BROWSER_DETACH".into(), "1".into()),
        ]
    }

    /// How many times a browser was opened (browser.py logs each opening before it fetches
    /// anything).
    fn openings(&self) -> usize {
        std::fs::read_to_string(self.home.join("browser.log")).map_or(0, |log| {
            log.lines()
                .filter(|l| l.contains(r#""event": "opened""#))
                .count()
        })
    }
}

impl Drop for Desk {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

/// A bridge on the resource server, signed in as it does it; `Err` names what failed.
fn signed_in(spec: &BridgeSpec, servers: &Servers, desk: &Desk) -> Result<Peer, String> {
    let mut peer = Peer::spawn_env(spec, &servers.rs_url, &desk.env())?;
    peer.initialize()?;
    Ok(peer)
}

/// `whoami`, answered with a result?
fn whoami(peer: &mut Peer, id: u64) -> Result<(), String> {
    peer.send(&call(id, "whoami", &json!({})))?;
    match peer.answer(&json!(id), Instant::now() + ANSWER_WAIT) {
        Ok(answer) if is_result(&answer) => Ok(()),
        Ok(answer) => Err(describe(&answer)),
        Err(ended) => Err(lost(ended, ANSWER_WAIT).text),
    }
}

/// Runs one sign-in row against one bridge.
pub(super) fn observe(key: &str, spec: &BridgeSpec) -> Result<Cell, String> {
    let spec = &spec.for_sign_in();
    let servers = Servers::start()?;
    let desk = Desk::new(key)?;
    let first = signed_in(spec, &servers, &desk).and_then(|mut peer| {
        whoami(&mut peer, 1)?;
        Ok(peer)
    });
    let mut peer = match first {
        Ok(peer) => peer,
        Err(e) => {
            return Ok(Cell::bad(format!(
                "no sign-in: {e} ({} browser openings)",
                desk.openings()
            )));
        }
    };
    let tabs = |desk: &Desk| match desk.openings() {
        1 => "1 browser opening".to_owned(),
        n => format!("{n} browser openings"),
    };
    match key {
        "oauth_sign_in" => Ok(Cell::good(format!("answered; {}", tabs(&desk)))),
        "oauth_restart" => {
            drop(peer);
            let again = signed_in(spec, &servers, &desk).and_then(|mut p| whoami(&mut p, 2));
            let text = match &again {
                Ok(()) => format!("answered; {} in all", tabs(&desk)),
                Err(e) => format!("{e}; {} in all", tabs(&desk)),
            };
            Ok(if again.is_ok() && desk.openings() == 1 {
                Cell::good(text)
            } else {
                Cell::bad(text)
            })
        }
        "oauth_refresh" => {
            servers.control("expire-access")?;
            let answered = whoami(&mut peer, 2);
            let refreshes = servers
                .grants("refresh_token")?
                .iter()
                .filter(|g| g["ok"] == true)
                .count();
            let text = match &answered {
                Ok(()) => format!("answered; {refreshes} refreshes; {}", tabs(&desk)),
                Err(e) => format!("{e}; {refreshes} refreshes; {}", tabs(&desk)),
            };
            Ok(
                if answered.is_ok() && refreshes >= 1 && desk.openings() == 1 {
                    Cell::good(text)
                } else {
                    Cell::bad(text)
                },
            )
        }
        "oauth_revoked" => {
            servers.control("revoke-refresh")?;
            servers.control("expire-access")?;
            let answered = whoami(&mut peer, 2);
            // Give a looping bridge the time to show it: a second call after the answer.
            let second = answered.as_ref().ok().map(|()| whoami(&mut peer, 3));
            let codes = servers.grants("authorization_code")?.len();
            let text = match (&answered, &second) {
                (Ok(()), Some(Ok(()))) => {
                    format!("answered; {codes} sign-ins; {}", tabs(&desk))
                }
                (Ok(()), Some(Err(e))) | (Err(e), _) => {
                    format!("{e}; {codes} sign-ins; {}", tabs(&desk))
                }
                (Ok(()), None) => unreachable!("a second call follows an answer"),
            };
            Ok(
                if answered.is_ok() && matches!(second, Some(Ok(()))) && codes == 2 {
                    Cell::good(text)
                } else {
                    Cell::bad(text)
                },
            )
        }
        "oauth_two_bridges" => {
            // A fresh desk: both start before either has signed in.
            drop(peer);
            let desk = Desk::new("two")?;
            let mut one = Peer::spawn_env(spec, &servers.rs_url, &desk.env())?;
            let mut two = Peer::spawn_env(spec, &servers.rs_url, &desk.env())?;
            // Both ask before either is answered, as hosts that start several bridges do.
            let initialize = initialize_request(0);
            one.send(initialize.trim_end())?;
            two.send(initialize.trim_end())?;
            let deadline = Instant::now() + Duration::from_secs(30);
            let answered = [
                one.answer(&json!(0), deadline),
                two.answer(&json!(0), deadline),
            ]
            .iter()
            .filter(|a| matches!(a, Ok(answer) if answer.get("result").is_some()))
            .count();
            let text = format!("{answered} of 2 initialized; {}", tabs(&desk));
            Ok(if answered == 2 && desk.openings() == 1 {
                Cell::good(text)
            } else {
                Cell::bad(text)
            })
        }
        _ => Err(format!("unknown scenario {key}")),
    }
}
