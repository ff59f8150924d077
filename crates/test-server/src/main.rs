//! `test-server`: runs the loopback MCP test server for other processes (Python tests, the
//! README demo).
//!
//! ```text
//! test-server [--tls] [--mtls] [--sessions] [--listen-stream] [--modern] [--lifetime-secs N]
//!             [--cert-dir DIR]
//! ```
//!
//! Prints exactly `LISTENING <port>` on stdout once ready, then serves on `127.0.0.1` until
//! stdin reaches end of file or the lifetime (default 600 s) ends, and exits 0. `--mtls`
//! requires client certificates (implies `--tls`). `--cert-dir` writes `ca.pem`,
//! `client.pem` and `client-key.pem` there before `LISTENING` is printed. `--modern` serves
//! the 2026-07-28 era too (`Scenario::modern`). Logs go to stderr.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Duration;

use test_server::{Scenario, TestServer};

const USAGE: &str = "usage: test-server [--tls] [--mtls] [--sessions] [--listen-stream] \
                     [--modern] [--lifetime-secs N] [--cert-dir DIR]";

struct Options {
    scenario: Scenario,
    lifetime: Duration,
    cert_dir: Option<PathBuf>,
}

fn parse(args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut scenario = Scenario::default();
    let mut lifetime = Duration::from_secs(600);
    let mut cert_dir = None;
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--tls" => scenario = scenario.tls(true),
            "--mtls" => scenario = scenario.tls(true).require_client_cert(true),
            "--sessions" => scenario = scenario.sessions(true),
            "--listen-stream" => scenario = scenario.listen_stream(true),
            "--modern" => scenario = scenario.modern(true),
            "--lifetime-secs" => {
                let value = args.next().ok_or("--lifetime-secs needs a value")?;
                let secs = value
                    .parse()
                    .map_err(|e| format!("--lifetime-secs {value}: {e}"))?;
                lifetime = Duration::from_secs(secs);
            }
            "--cert-dir" => {
                cert_dir = Some(PathBuf::from(
                    args.next().ok_or("--cert-dir needs a value")?,
                ));
            }
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    Ok(Options {
        scenario: scenario.lifetime(lifetime),
        lifetime,
        cert_dir,
    })
}

fn write_certs(server: &TestServer, dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("ca.pem"), server.ca_pem())?;
    std::fs::write(dir.join("client.pem"), server.client_cert_pem())?;
    std::fs::write(dir.join("client-key.pem"), server.client_key_pem())
}

fn main() -> ExitCode {
    let options = match parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("test-server: {message}");
            return ExitCode::from(2);
        }
    };
    let server = match TestServer::start(options.scenario) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("test-server: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(dir) = &options.cert_dir {
        if !server.url().starts_with("https") {
            eprintln!("test-server: --cert-dir needs --tls");
            return ExitCode::from(2);
        }
        if let Err(e) = write_certs(&server, dir) {
            eprintln!(
                "test-server: writing certificates to {}: {e}",
                dir.display()
            );
            return ExitCode::FAILURE;
        }
    }
    let mut stdout = std::io::stdout().lock();
    if writeln!(stdout, "LISTENING {}", server.addr().port())
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return ExitCode::FAILURE;
    }
    eprintln!("test-server: serving {}", server.url());

    // Serve until stdin ends (the parent went away or closed it) or the lifetime is over.
    let (eof_tx, eof_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut sink = [0u8; 4096];
        let mut stdin = std::io::stdin().lock();
        while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
        let _ = eof_tx.send(());
    });
    if eof_rx.recv_timeout(options.lifetime).is_err() {
        eprintln!("test-server: lifetime over");
    }
    drop(server);
    ExitCode::SUCCESS
}
