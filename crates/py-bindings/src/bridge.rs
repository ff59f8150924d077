//! `run_bridge` and `run_bridge_cli`: the whole stdio bridge of `jsonrpc-forward`, on this
//! process's stdin and stdout, with the interpreter detached while it runs.

use std::collections::HashMap;
use std::path::PathBuf;

use clap::Parser;
use jsonrpc_forward::cli::expand::escape;
use jsonrpc_forward::cli::{Args, LogFormat, OAuthArgs, run};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::signals;

/// Runs the bridge with the `mcp-wrapper` command line (`argv` without the program name) and
/// returns its exit status. `--help` and `--version` print and return 0; a bad argument
/// prints clap's message and returns 2. Private (`_run_bridge_cli`): `python -m
/// mcp_wrapper_rs` is its public face.
#[pyfunction(name = "_run_bridge_cli")]
pub(crate) fn run_bridge_cli(py: Python<'_>, argv: Vec<String>) -> i32 {
    let args = match Args::try_parse_from(std::iter::once("mcp-wrapper".to_owned()).chain(argv)) {
        Ok(args) => args,
        Err(e) => {
            let _ = e.print();
            return e.exit_code();
        }
    };
    run_detached(py, &args)
}

/// Runs the bridge on this process's stdin and stdout until stdin ends, SIGINT or SIGTERM
/// arrives, or stdout closes, and returns the exit status (0 on a normal end, 2 for an invalid
/// setting). The arguments are those of the `mcp-wrapper` command line; `url` is normalised
/// as it is (`/mcp/` appended unless present); `auth` and `headers` values are sent as given
/// (no `${NAME}` expansion). `log_format` is `"text"` or `"json"`; `log_file` takes the logs
/// instead of stderr (appended). The environment is not read, but for
/// `insecure=None`, which follows `SKIP_SSL_VERIFY`, and the OAuth client secret, which comes
/// only from `MCP_OAUTH_CLIENT_SECRET` or `oauth_client_secret_file` (never an argument that
/// could end up in a log): an argument given always wins. `oauth=False` is `--no-oauth`;
/// the other `oauth_*` arguments are the `--oauth-*` options (`oauth_resource=False` is
/// `--oauth-no-resource`, `oauth_browser=False` is `--oauth-no-browser`). `proxy` is
/// `--proxy` (`"none"`: direct); with `proxy=None` the proxy variables (`HTTPS_PROXY`,
/// `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`) are read, as `--proxy` unset does. `transport` is
/// `--transport`: `"auto"`, `"streamable-http"` or `"sse"`. `protocol` is `--protocol`:
/// `"auto"`, `"legacy"` or `"modern"`.
///
/// Raises `ValueError` naming the argument for an unknown `transport` or `protocol`, a timeout that is not a positive finite
/// number of seconds, a zero `concurrency` or `max_message_bytes`, or `client_cert` without
/// `client_key` (or the reverse), before stdin is touched.
#[pyfunction]
#[pyo3(signature = (
    url,
    *,
    auth = None,
    timeout = jsonrpc_forward::DEFAULT_IDLE_TIMEOUT.as_secs_f64(),
    concurrency = jsonrpc_forward::bridge::DEFAULT_CONCURRENCY,
    headers = None,
    connect_timeout = jsonrpc_forward::DEFAULT_CONNECT_TIMEOUT.as_secs_f64(),
    insecure = None,
    ca_bundle = None,
    client_cert = None,
    client_key = None,
    max_message_bytes = jsonrpc_forward::DEFAULT_MAX_MESSAGE_BYTES,
    proxy = None,
    log_level = "INFO",
    log_format = "text",
    log_file = None,
    oauth = true,
    oauth_client_id = None,
    oauth_client_secret_file = None,
    oauth_client_metadata_url = None,
    oauth_scope = None,
    oauth_params = None,
    oauth_resource = true,
    oauth_callback_port = None,
    oauth_browser = true,
    oauth_client_credentials = false,
    oauth_timeout = jsonrpc_forward::auth::DEFAULT_TIMEOUT.as_secs_f64(),
    allow_tools = None,
    deny_tools = None,
    keep_alive = None,
    transport = "auto",
    protocol = "auto",
), text_signature = "(url, *, auth=None, timeout=60.0, concurrency=10, headers=None, \
                     connect_timeout=15.0, insecure=None, ca_bundle=None, client_cert=None, \
                     client_key=None, max_message_bytes=67108864, proxy=None, log_level='INFO', \
                     log_format='text', log_file=None, oauth=True, oauth_client_id=None, \
                     oauth_client_secret_file=None, \
                     oauth_client_metadata_url=None, oauth_scope=None, oauth_params=None, \
                     oauth_resource=True, oauth_callback_port=None, oauth_browser=True, \
                     oauth_client_credentials=False, oauth_timeout=300.0, \
                     allow_tools=None, deny_tools=None, keep_alive=None, transport='auto', \
                     protocol='auto')")]
#[allow(clippy::too_many_arguments)] // One keyword argument per CLI option.
pub(crate) fn run_bridge(
    py: Python<'_>,
    url: String,
    auth: Option<String>,
    timeout: f64,
    concurrency: usize,
    headers: Option<HashMap<String, String>>,
    connect_timeout: f64,
    insecure: Option<bool>,
    ca_bundle: Option<PathBuf>,
    client_cert: Option<PathBuf>,
    client_key: Option<PathBuf>,
    max_message_bytes: usize,
    proxy: Option<String>,
    log_level: &str,
    log_format: &str,
    log_file: Option<PathBuf>,
    oauth: bool,
    oauth_client_id: Option<String>,
    oauth_client_secret_file: Option<PathBuf>,
    oauth_client_metadata_url: Option<String>,
    oauth_scope: Option<String>,
    oauth_params: Option<HashMap<String, String>>,
    oauth_resource: bool,
    oauth_callback_port: Option<u16>,
    oauth_browser: bool,
    oauth_client_credentials: bool,
    oauth_timeout: f64,
    allow_tools: Option<Vec<String>>,
    deny_tools: Option<Vec<String>>,
    keep_alive: Option<f64>,
    transport: &str,
    protocol: &str,
) -> PyResult<i32> {
    let protocol: jsonrpc_forward::era::Protocol = protocol
        .parse()
        .map_err(|e: jsonrpc_forward::era::UnknownProtocol| PyValueError::new_err(e.to_string()))?;
    let transport: jsonrpc_forward::Transport = transport
        .parse()
        .map_err(|e: jsonrpc_forward::UnknownTransport| PyValueError::new_err(e.to_string()))?;
    for (name, seconds) in [
        ("timeout", timeout),
        ("connect_timeout", connect_timeout),
        ("oauth_timeout", oauth_timeout),
        ("keep_alive", keep_alive.unwrap_or(1.0)),
    ] {
        if !(seconds.is_finite() && seconds > 0.0 && seconds < MAX_SECONDS) {
            return Err(PyValueError::new_err(format!(
                "{name} must be a positive, finite number of seconds (below {MAX_SECONDS}), \
                 not {seconds}"
            )));
        }
    }
    for (name, value) in [
        ("concurrency", concurrency),
        ("max_message_bytes", max_message_bytes),
    ] {
        if value == 0 {
            return Err(PyValueError::new_err(format!("{name} must be at least 1")));
        }
    }
    if client_cert.is_some() != client_key.is_some() {
        return Err(PyValueError::new_err(
            "client_cert and client_key must be given together",
        ));
    }
    let insecure = insecure.unwrap_or_else(|| jsonrpc_forward::cli::env_flag("SKIP_SSL_VERIFY"));
    let log_format = <LogFormat as clap::ValueEnum>::from_str(log_format, true)
        .map_err(|_| PyValueError::new_err("log_format must be 'text' or 'json'"))?;
    let args = Args {
        url: Some(url),
        transport,
        protocol,
        // Values from Python are literal: `${NAME}` expansion is for the command line.
        auth: auth.map(|auth| escape(&auth)),
        timeout,
        log_level: log_level.to_owned(),
        log_format,
        log_file,
        concurrency,
        connect_timeout,
        headers: headers
            .unwrap_or_default()
            .into_iter()
            .map(|(name, value)| format!("{name}: {}", escape(&value)))
            .collect(),
        header_files: Vec::new(),
        ca_bundle,
        insecure,
        client_cert,
        client_key,
        max_message_bytes,
        proxy,
        allow_tools: allow_tools.unwrap_or_default(),
        deny_tools: deny_tools.unwrap_or_default(),
        keep_alive,
        oauth: OAuthArgs {
            no_oauth: !oauth,
            oauth_client_id,
            oauth_client_secret_file,
            oauth_client_metadata_url,
            oauth_scope,
            oauth_params: oauth_params
                .unwrap_or_default()
                .into_iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect(),
            oauth_no_resource: !oauth_resource,
            oauth_callback_port,
            oauth_no_browser: !oauth_browser,
            oauth_client_credentials,
            oauth_timeout,
        },
        command: None,
    };
    Ok(run_detached(py, &args))
}

/// The longest timeout accepted, as the command line has it.
const MAX_SECONDS: f64 = 1e9;

/// Runs the bridge on a current-thread runtime of its own, on this thread, as the
/// `mcp-wrapper` binary does: stdin and stdout pipes are served on that one thread, so a
/// request wakes no other (the shared multi-thread runtime would hand every exchange to a
/// worker). The calling thread is blocked for the whole run anyway.
fn run_detached(py: Python<'_>, args: &Args) -> i32 {
    let _dispositions = signals::Restore::save();
    py.detach(|| {
        match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => run(args, &runtime),
            Err(e) => {
                eprintln!("mcp-wrapper: error: cannot start the runtime: {e}");
                1
            }
        }
    })
}
