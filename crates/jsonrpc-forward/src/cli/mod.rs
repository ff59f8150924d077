//! The `mcp-wrapper` command line: the names of `mcpgateway.wrapper`, and a few more.
//!
//! Every option also reads an environment variable; a flag wins over its variable, which
//! wins over the default. The URL is normalised exactly as `mcpgateway.wrapper.convert_url`
//! does it (see [`convert_url`]).

mod auth;
pub mod expand;
mod header_file;
mod logging;

use std::path::PathBuf;
use std::time::Duration;

pub use auth::{AuthCommand, Command, OAuthArgs};
pub use expand::ExpandError;
pub use logging::LogFormat;

use clap::Parser;

use crate::bridge::DEFAULT_CONCURRENCY;
use crate::config::ClientConfig;
use crate::era::Protocol;
use crate::legacy::Transport;
use crate::redact::{header_name_shown, redact_url};

/// Stdio MCP client <-> Streamable HTTP MCP server bridge.
// (Not a doc comment: clap would print it in `--help`.) `Debug` is written by hand below:
// it shows the URL without userinfo and query, the `--header` names without their values,
// and `--auth` as `<redacted>`.
#[derive(Clone, Parser)]
#[command(
    name = "mcp-wrapper",
    version,
    about = "Bridge a stdio MCP client (Claude Desktop, Cline, any MCP SDK) to a Streamable HTTP MCP server",
    after_help = "Examples:\n  \
        mcp-wrapper --url http://localhost:4444/servers/UUID --auth \"Bearer $TOKEN\"\n  \
        MCP_SERVER_URL=https://gw.example/servers/UUID/mcp MCP_AUTH=\"Bearer $TOKEN\" mcp-wrapper\n  \
        mcp-wrapper --url https://mcp.internal/mcp --ca-bundle ca.pem --header 'X-Tenant: blue'\n  \
        mcp-wrapper --url https://mcp.internal/mcp --header \"Authorization:${AUTH_HEADER}\"\n\n\
        ${VAR} in --auth, --header values and header files is read from the environment\n\
        (an unset variable is an error); $${ is a literal ${, a lone $ is itself.\n\
        Each stdin line is one JSON-RPC message; each stdout line is one answer or server message.\n\
        Logs go to stderr (or --log-file) only."
)]
pub struct Args {
    /// `login`, `logout`, `auth status`; none: run the bridge.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// MCP server URL, normalised as `mcpgateway.wrapper` does (see `--help`).
    ///
    /// As `mcpgateway.wrapper.convert_url`, for drop-in compatibility: a URL ending in
    /// `/mcp/` is used as is, one ending in `/mcp` gets a trailing `/`, a final `/sse` turns
    /// every `/sse` into `/mcp/`, and anything else gets `/mcp/` appended. A server that redirects `/mcp/` to `/mcp` (307/308, same origin) is followed once;
    /// later requests go to `/mcp` directly. That rewrite is for Streamable HTTP only: the
    /// legacy HTTP+SSE transport (`--transport sse`, or the fallback of `auto`) uses the URL
    /// exactly as given, `/sse` and all.
    #[arg(long, env = "MCP_SERVER_URL", hide_env_values = true, global = true)]
    pub url: Option<String>,

    /// Transport to the server: auto, streamable-http or sse.
    ///
    /// `auto` speaks Streamable HTTP to the normalised URL and, when the first `initialize`
    /// is answered 400, 404 or 405 without a JSON-RPC body (a server that only offers the
    /// legacy transport), falls back for the bridge's life to the legacy HTTP+SSE transport
    /// (protocol 2024-11-05) on the URL exactly as given. `streamable-http` never falls back.
    /// `sse` speaks only HTTP+SSE: the URL, used as given (a final `/sse` is NOT rewritten to
    /// `/mcp/`), is the event stream, and messages go to the endpoint it names.
    #[arg(long, env = "MCP_TRANSPORT", default_value = "auto", value_parser = parse_transport)]
    pub transport: Transport,

    /// MCP protocol era spoken to the server: auto, legacy or modern.
    ///
    /// `auto` asks the server once with `server/discover` (the 2026-07-28 way) and keeps the
    /// answer in `eras.json` next to the sign-in credentials, so later starts cost no round
    /// trip (a 2025-era verdict is re-checked after a day). A host that opens with
    /// `initialize` (2025 era) is then translated when the server speaks 2026-07-28: the
    /// bridge answers `initialize`, `ping`, `logging/setLevel` and `resources/subscribe`
    /// itself, adds the 2026 `_meta` and headers to each request, turns the server's
    /// requests for input into ordinary requests to the host and listens for changes with
    /// `subscriptions/listen`. A host that opens with `server/discover` (2026 era) is passed
    /// through to a 2026 server; against a 2025-era server its `server/discover` gets
    /// `-32601`, so that it falls back to `initialize`. `legacy`: no probe, the 2025 wire as
    /// the host speaks it. `modern`: always translate; a server that is not 2026-07-28 is an
    /// error.
    #[arg(long, env = "MCP_PROTOCOL", default_value = "auto", value_parser = parse_protocol)]
    pub protocol: Protocol,

    /// Authorization header value, e.g. `"Bearer <token>"` or `"Bearer ${TOKEN}"` (never logged).
    #[arg(long, env = "MCP_AUTH", hide_env_values = true)]
    pub auth: Option<String>,

    /// Longest silence on a pending request, in seconds (any byte or progress restarts it).
    #[arg(long, env = "MCP_TOOL_CALL_TIMEOUT", default_value_t = 60.0, value_parser = parse_seconds)]
    pub timeout: f64,

    /// Log level (stderr, or --log-file): DEBUG, INFO, WARNING, ERROR; OFF/NONE/DISABLE/FALSE/0 silence it.
    #[arg(
        long,
        env = "MCP_WRAPPER_LOG_LEVEL",
        default_value = "INFO",
        global = true
    )]
    pub log_level: String,

    /// Log line format: text, or json (one object per line: timestamp, level, message, fields).
    #[arg(
        long,
        env = "MCP_WRAPPER_LOG_FORMAT",
        value_enum,
        ignore_case = true,
        default_value_t = LogFormat::Text,
        global = true
    )]
    pub log_format: LogFormat,

    /// Write logs to this file instead of stderr (appended; created readable by its owner only).
    #[arg(long, env = "MCP_WRAPPER_LOG_FILE", value_name = "PATH", global = true)]
    pub log_file: Option<PathBuf>,

    /// Requests in flight at once; more wait, nothing is dropped.
    #[arg(long, env = "CONCURRENCY", default_value_t = DEFAULT_CONCURRENCY, value_parser = at_least_one)]
    pub concurrency: usize,

    /// Connection timeout in seconds (TCP and TLS).
    #[arg(long, default_value_t = 15.0, value_parser = parse_seconds, global = true)]
    pub connect_timeout: f64,

    /// Extra request header, "Name: value" (repeatable); ${VAR} in the value is expanded.
    #[arg(long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,

    /// File of "Name: value" lines sent as headers (# comments; ${VAR} expanded; repeatable).
    #[arg(long = "header-file", env = "MCP_HEADER_FILE", value_name = "PATH")]
    pub header_files: Vec<PathBuf>,

    /// Trust only the CA certificates in this PEM file.
    #[arg(long, value_name = "PEM", global = true)]
    pub ca_bundle: Option<PathBuf>,

    /// Accept any server certificate (testing only); also `SKIP_SSL_VERIFY=true`.
    #[arg(long, env = "SKIP_SSL_VERIFY", action = clap::ArgAction::SetTrue, value_parser = parse_flag, global = true)]
    pub insecure: bool,

    /// Client certificate (PEM) for mutual TLS; needs --client-key.
    #[arg(long, value_name = "PEM", requires = "client_key", global = true)]
    pub client_cert: Option<PathBuf>,

    /// Private key (PEM) of --client-cert.
    #[arg(long, value_name = "PEM", requires = "client_cert", global = true)]
    pub client_key: Option<PathBuf>,

    /// Proxy for every request, `http://[user:password@]host:port`; `none` connects directly.
    ///
    /// https goes through a CONNECT tunnel; the user name and password become
    /// `Proxy-Authorization` and are never logged. Wins over `HTTPS_PROXY`, `HTTP_PROXY` and
    /// `ALL_PROXY` (read when this is unset, lower-case names first); `none` (or '') ignores
    /// them. `NO_PROXY` (hosts reached directly, e.g. `127.0.0.1,localhost,.internal`)
    /// applies either way.
    #[arg(
        long,
        env = "MCP_PROXY",
        hide_env_values = true,
        value_name = "URL",
        global = true
    )]
    pub proxy: Option<String>,

    /// Largest message accepted in either direction, in bytes.
    #[arg(long, default_value_t = crate::config::DEFAULT_MAX_MESSAGE_BYTES, value_parser = at_least_one)]
    pub max_message_bytes: usize,

    /// Show the host only tools whose name matches this glob (repeatable; `*`, `?`, `[a-z]`).
    ///
    /// A tool is shown when it matches some --allow-tool (or none is given) and no
    /// --deny-tool. Hidden tools are left out of every `tools/list` answer, and a
    /// `tools/call` of one is answered `-32602` by the bridge without reaching the server.
    /// Values are split at commas, in the variable and the flag alike, so a glob cannot hold
    /// one: repeat the flag rather than use `{a,b}`.
    #[arg(
        long = "allow-tool",
        env = "MCP_ALLOW_TOOLS",
        value_name = "GLOB",
        value_delimiter = ','
    )]
    pub allow_tools: Vec<String>,

    /// Hide tools whose name matches this glob (repeatable; wins over --allow-tool).
    #[arg(
        long = "deny-tool",
        visible_alias = "ignore-tool",
        env = "MCP_DENY_TOOLS",
        value_name = "GLOB",
        value_delimiter = ','
    )]
    pub deny_tools: Vec<String>,

    /// Ping the server after this many idle seconds (no message either way), so that
    /// proxies keep the session; off by default. The pings' answers never reach the host.
    #[arg(long, env = "MCP_KEEP_ALIVE", value_name = "SECONDS", value_parser = parse_seconds)]
    pub keep_alive: Option<f64>,

    /// Sign-in (OAuth 2.1) when the server asks for it.
    #[command(
        flatten,
        next_help_heading = "Sign-in (OAuth 2.1, when the server asks for it)"
    )]
    pub oauth: OAuthArgs,
}

/// What is wrong with the command line, in one line for stderr.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// No URL given.
    #[error("MCP server URL must be provided via --url or MCP_SERVER_URL")]
    MissingUrl,
    /// The URL is not an http(s) URL.
    #[error("invalid MCP server URL {0}: expected http:// or https://")]
    InvalidUrl(String),
    /// A `--header` is not `Name: value`. It is named by its position (from 1), never by
    /// its text: a malformed header may be a token with its colon missing.
    #[error("invalid --header #{position}: expected \"Name: value\"")]
    InvalidHeader {
        /// Which `--header` it is, counting from 1.
        position: usize,
    },
    /// A sign-in option is wrong (the message names it, never a secret).
    #[error("{0}")]
    InvalidOAuth(String),
    /// An --allow-tool or --deny-tool glob does not parse.
    #[error("invalid --allow-tool/--deny-tool: {0}")]
    InvalidToolGlob(String),
    /// A `${NAME}` in `--auth`, a `--header` or a header file cannot be expanded. `place`
    /// says which (`--header #2`); the variable is named, never a value.
    #[error("{place}: {reason}")]
    Expand {
        /// Where the reference is: `--auth`, `--header #N`, `header file PATH line N`.
        place: String,
        /// What is wrong with it.
        reason: ExpandError,
    },
    /// A `--header-file` cannot be read.
    #[error("cannot read header file {}: {reason}", .path.display())]
    HeaderFile {
        /// The file.
        path: PathBuf,
        /// Why (the operating system's words, or "not UTF-8 text").
        reason: String,
    },
    /// A line of a `--header-file` is not a valid `Name: value`. Named by file and line
    /// number, never by its text (it may be a token with its colon missing).
    #[error("header file {} line {line}: {reason}", .path.display())]
    HeaderFileLine {
        /// The file.
        path: PathBuf,
        /// The line, counting from 1.
        line: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The `--log-file` cannot be opened for appending.
    #[error("cannot open log file {}: {reason}", .path.display())]
    LogFile {
        /// The file.
        path: PathBuf,
        /// The operating system's words.
        reason: String,
    },
}

/// By hand, because the derived output would print the secrets: `--auth`, the `--header`
/// values and the URL's userinfo and query.
impl std::fmt::Debug for Args {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let header_names: Vec<&str> = self
            .headers
            .iter()
            .map(|header| match header.split_once(':') {
                Some((name, _)) => header_name_shown(name),
                None => "<malformed>",
            })
            .collect();
        f.debug_struct("Args")
            .field("url", &self.url.as_deref().map(redact_url))
            .field("transport", &self.transport)
            .field("protocol", &self.protocol)
            .field("auth", &self.auth.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .field("log_level", &self.log_level)
            .field("log_format", &self.log_format)
            .field("log_file", &self.log_file)
            .field("concurrency", &self.concurrency)
            .field("connect_timeout", &self.connect_timeout)
            .field("headers", &header_names)
            .field("header_files", &self.header_files)
            .field("ca_bundle", &self.ca_bundle)
            .field("insecure", &self.insecure)
            .field("client_cert", &self.client_cert)
            .field("client_key", &self.client_key)
            .field("max_message_bytes", &self.max_message_bytes)
            .field("proxy", &self.proxy.as_deref().map(redact_url))
            .field("allow_tools", &self.allow_tools)
            .field("deny_tools", &self.deny_tools)
            .field("keep_alive", &self.keep_alive)
            .field("oauth", &self.oauth)
            .field("command", &self.command)
            .finish()
    }
}

impl Args {
    /// The normalised endpoint URL.
    ///
    /// # Errors
    ///
    /// [`CliError`] when the URL is missing or not an http(s) URL.
    pub fn endpoint(&self) -> Result<String, CliError> {
        if self.transport == Transport::Sse {
            return self.sse_url();
        }
        let url = self.url.as_deref().map(str::trim).unwrap_or_default();
        if url.is_empty() {
            return Err(CliError::MissingUrl);
        }
        let normalised = convert_url(url);
        match reqwest::Url::parse(&normalised) {
            Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.has_host() => {
                Ok(normalised)
            }
            _ => Err(CliError::InvalidUrl(redact_url(url))),
        }
    }

    /// The URL of the legacy HTTP+SSE stream: `--url` as given (trimmed), not normalised.
    ///
    /// # Errors
    ///
    /// [`CliError`] when the URL is missing or not an http(s) URL.
    pub fn sse_url(&self) -> Result<String, CliError> {
        let url = self.url.as_deref().map(str::trim).unwrap_or_default();
        if url.is_empty() {
            return Err(CliError::MissingUrl);
        }
        match reqwest::Url::parse(url) {
            Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.has_host() => {
                Ok(url.to_owned())
            }
            _ => Err(CliError::InvalidUrl(redact_url(url))),
        }
    }

    /// The client settings these arguments describe (the environment was read when the
    /// command line was parsed: what is set here wins).
    ///
    /// # Errors
    ///
    /// [`CliError`] for a missing or invalid URL, a malformed `--header`, a header file
    /// that cannot be read or has a wrong line, or a `${NAME}` that cannot be expanded.
    pub(crate) fn client_config(&self) -> Result<ClientConfig, CliError> {
        let mut config = ClientConfig::new(self.endpoint()?)
            .idle_timeout(Duration::from_secs_f64(self.timeout))
            .connect_timeout(Duration::from_secs_f64(self.connect_timeout))
            .max_message_bytes(self.max_message_bytes)
            .insecure(self.insecure);
        for (index, header) in self.headers.iter().enumerate() {
            let (name, value) = header
                .split_once(':')
                .filter(|(name, _)| !name.trim().is_empty())
                .ok_or(CliError::InvalidHeader {
                    position: index + 1,
                })?;
            let value = expanded(value.trim(), || format!("--header #{}", index + 1))?;
            config = config.header(name.trim(), value.trim());
        }
        for path in &self.header_files {
            for (name, value) in header_file::read(path)? {
                config = config.header(name, value);
            }
        }
        if let Some(auth) = self.auth.as_deref().filter(|a| !a.trim().is_empty()) {
            let auth = expanded(auth, || "--auth".to_owned())?;
            config = config.authorization(auth);
        }
        if let Some(ca) = &self.ca_bundle {
            config = config.ca_bundle(ca);
        }
        if let (Some(cert), Some(key)) = (&self.client_cert, &self.client_key) {
            config = config.client_identity(cert, key);
        }
        if let Some(proxy) = &self.proxy {
            config = config.proxy(proxy);
        }
        if !self.oauth.no_oauth {
            config = config.sign_in(self.oauth.options().map_err(CliError::InvalidOAuth)?);
        }
        Ok(config)
    }

    /// The tool filter of --allow-tool and --deny-tool; `None` when neither is given.
    ///
    /// # Errors
    ///
    /// [`CliError::InvalidToolGlob`] for a glob that does not parse.
    pub fn tool_filter(&self) -> Result<Option<crate::ToolFilter>, CliError> {
        crate::ToolFilter::new(&self.allow_tools, &self.deny_tools)
            .map_err(|e| CliError::InvalidToolGlob(crate::display_chain(&e)))
    }

    /// The log level, or `None` when logging is off.
    #[must_use]
    pub(crate) fn log_filter(&self) -> Option<tracing::Level> {
        log_level(&self.log_level)
    }
}

/// Everything `mcp-wrapper` does once its arguments are parsed: logging to stderr, the
/// client, and the bridge on this process's stdin and stdout, on `runtime`. Returns the exit
/// status: 0 when the bridge ends normally (end of input, a signal, stdout closed), 2 for an
/// invalid configuration (with one line on stderr), 1 when the bridge cannot start.
///
/// Logging is set up once per process; a second call keeps the first call's level.
pub fn run(args: &Args, runtime: &tokio::runtime::Runtime) -> i32 {
    if let Some(level) = args.log_filter()
        && let Err(e) = logging::init(level, args.log_format, args.log_file.as_deref())
    {
        eprintln!("mcp-wrapper: error: {e}");
        return 2;
    }
    if let Some(command) = &args.command {
        return auth::run_command(command, args, runtime);
    }
    let (config, tools) = match args
        .client_config()
        .and_then(|c| Ok((c, args.tool_filter()?)))
    {
        Ok(config) => config,
        Err(e) => {
            eprintln!("mcp-wrapper: error: {e}");
            return 2;
        }
    };
    let client = match crate::Client::new(config) {
        Ok(client) => client,
        Err(e) => {
            eprintln!("mcp-wrapper: error: {}", crate::display_chain(&e));
            return 2;
        }
    };
    tracing::info!(url = %redact_url(client.url().as_str()), transport = %args.transport, protocol = %args.protocol, "starting mcp-wrapper");
    let era_cache = crate::auth::store::Store::from_env()
        .ok()
        .map(|store| store.dir().to_path_buf());
    let bridge = match args.sse_url() {
        Ok(sse_url) => crate::Bridge::new(client, args.concurrency)
            .tool_filter(tools)
            .keep_alive(args.keep_alive.map(Duration::from_secs_f64))
            .protocol(args.protocol, era_cache)
            .with_transport(args.transport, &sse_url),
        Err(e) => {
            eprintln!("mcp-wrapper: error: {e}");
            return 2;
        }
    };
    let bridge = match bridge {
        Ok(bridge) => bridge,
        Err(e) => {
            eprintln!("mcp-wrapper: error: {}", crate::display_chain(&e));
            return 2;
        }
    };
    match runtime.block_on(bridge.run_stdio()) {
        Ok(exit) => {
            tracing::info!(?exit, "shutdown complete");
            0
        }
        Err(e) => {
            eprintln!("mcp-wrapper: error: {e}");
            1
        }
    }
}

/// `text` with its `${NAME}`s expanded from the environment; `place` names it in the error.
fn expanded(text: &str, place: impl FnOnce() -> String) -> Result<String, CliError> {
    expand::expand_env(text)
        .map(std::borrow::Cow::into_owned)
        .map_err(|reason| CliError::Expand {
            place: place(),
            reason,
        })
}

/// `mcpgateway.wrapper.convert_url`, to the letter: a URL ending in `/mcp` gets a `/`, one
/// ending in `/mcp/` is kept, one ending in `/sse` has **every** `/sse` replaced by `/mcp/`
/// (upstream uses `str.replace`; kept so that the same URL reaches the same endpoint), and
/// anything else gets `/mcp/` appended.
#[must_use]
pub fn convert_url(url: &str) -> String {
    if url.ends_with("/mcp/") {
        url.to_owned()
    } else if url.ends_with("/mcp") {
        format!("{url}/")
    } else if url.ends_with("/sse") {
        url.replace("/sse", "/mcp/")
    } else {
        format!("{url}/mcp/")
    }
}

/// Upstream's level names; OFF/NONE/DISABLE/FALSE/0 (any case) or empty turn logging off, an
/// unknown name means INFO.
#[must_use]
pub(crate) fn log_level(name: &str) -> Option<tracing::Level> {
    match name.trim().to_ascii_uppercase().as_str() {
        "" | "OFF" | "NONE" | "DISABLE" | "FALSE" | "0" => None,
        "TRACE" => Some(tracing::Level::TRACE),
        "DEBUG" => Some(tracing::Level::DEBUG),
        "WARNING" | "WARN" => Some(tracing::Level::WARN),
        "ERROR" | "CRITICAL" | "FATAL" => Some(tracing::Level::ERROR),
        _ => Some(tracing::Level::INFO),
    }
}

/// A count that must be positive: zero permits would leave every request waiting.
fn at_least_one(value: &str) -> Result<usize, String> {
    match value.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!(
            "expected a whole number of at least 1, got {value:?}"
        )),
    }
}

fn parse_protocol(value: &str) -> Result<Protocol, String> {
    value
        .parse()
        .map_err(|e: crate::era::UnknownProtocol| e.to_string())
}

fn parse_transport(value: &str) -> Result<Transport, String> {
    value
        .parse()
        .map_err(|e: crate::UnknownTransport| e.to_string())
}

fn parse_seconds(value: &str) -> Result<f64, String> {
    match value.trim().parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s < 1e9 => Ok(s),
        _ => Err(format!(
            "expected a positive number of seconds, got {value:?}"
        )),
    }
}

/// A yes/no setting from the environment: `1`, `true`, `yes` or `on` (any case) is yes;
/// anything else, or no variable, is no. `SKIP_SSL_VERIFY` is read this way.
#[must_use]
pub fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| flag_value(&v))
}

fn flag_value(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "yes" | "on"
    )
}

/// clap's parser for `--insecure` and its variable: the flag itself passes `"true"`.
#[allow(clippy::unnecessary_wraps)] // clap wants a `Result`.
fn parse_flag(value: &str) -> Result<bool, std::convert::Infallible> {
    Ok(flag_value(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn convert_url_matches_upstream() {
        let table = [
            (
                "http://localhost:4444/servers/uuid",
                "http://localhost:4444/servers/uuid/mcp/",
            ),
            (
                "http://localhost:4444/servers/uuid/sse",
                "http://localhost:4444/servers/uuid/mcp/",
            ),
            (
                "http://localhost:4444/servers/uuid/mcp",
                "http://localhost:4444/servers/uuid/mcp/",
            ),
            (
                "http://localhost:4444/servers/uuid/mcp/",
                "http://localhost:4444/servers/uuid/mcp/",
            ),
            ("http://h/", "http://h//mcp/"),
            ("http://h/sse/x/sse", "http://h/mcp//x/mcp/"),
            ("http://h/mcp/x", "http://h/mcp/x/mcp/"),
        ];
        for (input, expected) in table {
            assert_eq!(convert_url(input), expected, "{input}");
        }
    }

    #[test]
    fn log_level_follows_upstream_names() {
        assert_eq!(log_level("debug"), Some(tracing::Level::DEBUG));
        assert_eq!(log_level("INFO"), Some(tracing::Level::INFO));
        assert_eq!(log_level("warning"), Some(tracing::Level::WARN));
        assert_eq!(log_level("nonsense"), Some(tracing::Level::INFO));
        for off in ["OFF", "none", "Disable", "false", "0", ""] {
            assert_eq!(log_level(off), None, "{off}");
        }
    }
}
