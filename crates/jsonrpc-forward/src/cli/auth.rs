//! The sign-in options of `mcp-wrapper` and its commands `login`, `logout` and
//! `auth status` (see [`crate::auth`]).

use std::path::PathBuf;
use std::time::Duration;

use crate::auth::{OAuthOptions, SignIn, Status, store::Store};

use super::{parse_flag, parse_seconds};

/// `--oauth-*`: how to sign in when the server asks. Global: they go before or after a
/// command (`mcp-wrapper login --url URL --oauth-scope read`).
#[derive(Clone, Debug, clap::Args)]
pub struct OAuthArgs {
    /// Never sign in: a 401 is answered as an error (also `MCP_NO_OAUTH=1`). `--auth` turns
    /// sign-in off too.
    #[arg(long, env = "MCP_NO_OAUTH", action = clap::ArgAction::SetTrue, value_parser = parse_flag, global = true)]
    pub no_oauth: bool,

    /// A client registered by hand with the authorization server (no dynamic
    /// registration). Its secret, if any, comes from `MCP_OAUTH_CLIENT_SECRET` or
    /// --oauth-client-secret-file, never from the command line.
    #[arg(long, env = "MCP_OAUTH_CLIENT_ID", value_name = "ID", global = true)]
    pub oauth_client_id: Option<String>,

    /// File holding the client secret of --oauth-client-id (trailing newline ignored).
    #[arg(
        long,
        env = "MCP_OAUTH_CLIENT_SECRET_FILE",
        value_name = "PATH",
        global = true
    )]
    pub oauth_client_secret_file: Option<PathBuf>,

    /// A Client ID Metadata Document URL, used as `client_id` where the authorization server
    /// accepts one (else dynamic registration).
    #[arg(
        long,
        env = "MCP_OAUTH_CLIENT_METADATA_URL",
        value_name = "URL",
        global = true
    )]
    pub oauth_client_metadata_url: Option<String>,

    /// Scopes to ask for, space-separated (default: the server's challenge, else its
    /// metadata's `scopes_supported`, else none).
    #[arg(long, env = "MCP_OAUTH_SCOPE", value_name = "SCOPES", global = true)]
    pub oauth_scope: Option<String>,

    /// Extra authorization request parameter (repeatable), e.g. `prompt=consent`.
    #[arg(long = "oauth-param", value_name = "NAME=VALUE", global = true)]
    pub oauth_params: Vec<String>,

    /// Do not send the RFC 8707 `resource` parameter (for authorization servers that
    /// reject it).
    #[arg(long, global = true)]
    pub oauth_no_resource: bool,

    /// Callback port on 127.0.0.1, exactly (default: one derived from the server URL, with
    /// a few fallbacks when busy).
    #[arg(
        long,
        env = "MCP_OAUTH_CALLBACK_PORT",
        value_name = "PORT",
        global = true
    )]
    pub oauth_callback_port: Option<u16>,

    /// Do not open a browser: use the device flow where the server has it, else only print
    /// the sign-in URL.
    #[arg(long, global = true)]
    pub oauth_no_browser: bool,

    /// Machine-to-machine: the client credentials grant with --oauth-client-id and its
    /// secret (no user, no browser).
    #[arg(long, global = true)]
    pub oauth_client_credentials: bool,

    /// How long requests wait for a sign-in, in seconds; then each is answered with an
    /// error that names the sign-in URL.
    #[arg(long, env = "MCP_OAUTH_TIMEOUT", default_value_t = 300.0, value_parser = parse_seconds, global = true)]
    pub oauth_timeout: f64,
}

impl Default for OAuthArgs {
    fn default() -> Self {
        Self {
            no_oauth: false,
            oauth_client_id: None,
            oauth_client_secret_file: None,
            oauth_client_metadata_url: None,
            oauth_scope: None,
            oauth_params: Vec::new(),
            oauth_no_resource: false,
            oauth_callback_port: None,
            oauth_no_browser: false,
            oauth_client_credentials: false,
            oauth_timeout: crate::auth::DEFAULT_TIMEOUT.as_secs_f64(),
        }
    }
}

impl OAuthArgs {
    /// The sign-in options, reading the client secret from `MCP_OAUTH_CLIENT_SECRET` or
    /// the secret file.
    ///
    /// # Errors
    ///
    /// A line for stderr: an unreadable secret file, an `--oauth-param` without `=`, or a
    /// secret without a client id.
    pub fn options(&self) -> Result<OAuthOptions, String> {
        let client_id = self
            .oauth_client_id
            .clone()
            .filter(|id| !id.trim().is_empty());
        let client_secret = match &self.oauth_client_secret_file {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| {
                        format!(
                            "cannot read --oauth-client-secret-file {}: {e}",
                            path.display()
                        )
                    })?
                    .trim_end_matches(['\r', '\n'])
                    .to_owned(),
            ),
            None => std::env::var("MCP_OAUTH_CLIENT_SECRET")
                .ok()
                .filter(|s| !s.is_empty()),
        };
        if client_secret.is_some() && client_id.is_none() {
            return Err("a client secret was given without --oauth-client-id".to_owned());
        }
        if self.oauth_client_credentials && client_id.is_none() {
            return Err(
                "--oauth-client-credentials needs --oauth-client-id and a secret".to_owned(),
            );
        }
        let mut params = Vec::with_capacity(self.oauth_params.len());
        for (index, param) in self.oauth_params.iter().enumerate() {
            let (name, value) = param
                .split_once('=')
                .filter(|(name, _)| !name.is_empty())
                .ok_or_else(|| {
                    format!("invalid --oauth-param #{}: expected NAME=VALUE", index + 1)
                })?;
            params.push((name.to_owned(), value.to_owned()));
        }
        let options = OAuthOptions {
            client_id,
            client_secret,
            client_metadata_url: self.oauth_client_metadata_url.clone(),
            scope: self.oauth_scope.clone(),
            params,
            resource: !self.oauth_no_resource,
            callback_port: self.oauth_callback_port,
            browser: !self.oauth_no_browser,
            client_credentials: self.oauth_client_credentials,
            timeout: Duration::from_secs_f64(self.oauth_timeout),
            ..OAuthOptions::default()
        };
        Ok(options)
    }
}

/// Commands other than bridging.
#[derive(Clone, Debug, clap::Subcommand)]
pub enum Command {
    /// Sign in to the server at --url now, before a host starts the bridge (hosts give up
    /// on a bridge that does not answer `initialize` quickly).
    Login {
        /// Sign in again even if tokens are stored.
        #[arg(long)]
        force: bool,
    },
    /// Forget the stored sign-in of --url, or of every server with --all.
    Logout {
        /// Every server.
        #[arg(long)]
        all: bool,
    },
    /// What is stored.
    Auth {
        /// What to do.
        #[command(subcommand)]
        command: AuthCommand,
    },
}

/// `mcp-wrapper auth ...`.
#[derive(Clone, Debug, clap::Subcommand)]
pub enum AuthCommand {
    /// Each stored sign-in: issuer, resource, client, scopes, expiry. Never a token.
    Status,
}

/// Runs `command`; returns the exit status (0 done, 1 failed, 2 bad arguments).
pub(super) fn run_command(
    command: &Command,
    args: &super::Args,
    runtime: &tokio::runtime::Runtime,
) -> i32 {
    match command {
        Command::Login { force } => login(args, *force, runtime),
        Command::Logout { all } => logout(args, *all),
        Command::Auth {
            command: AuthCommand::Status,
        } => status(),
    }
}

fn store() -> Result<Store, i32> {
    Store::from_env().map_err(|e| {
        eprintln!("mcp-wrapper: error: {e}");
        1
    })
}

fn login(args: &super::Args, force: bool, runtime: &tokio::runtime::Runtime) -> i32 {
    let (config, options) = match args
        .client_config()
        .map_err(|e| e.to_string())
        .and_then(|config| args.oauth.options().map(|options| (config, options)))
    {
        Ok(pair) => pair,
        Err(e) => {
            eprintln!("mcp-wrapper: error: {e}");
            return 2;
        }
    };
    let url = match reqwest::Url::parse(&config.url) {
        Ok(url) => url,
        Err(e) => {
            eprintln!("mcp-wrapper: error: {e}");
            return 2;
        }
    };
    let result = SignIn::new(&config, url, options)
        .and_then(|sign_in| runtime.block_on(sign_in.login(force)));
    match result {
        Ok(status) => {
            println!("signed in: {}", describe(&status));
            0
        }
        Err(e) => {
            eprintln!("mcp-wrapper: sign-in failed: {}", crate::display_chain(&e));
            1
        }
    }
}

fn logout(args: &super::Args, all: bool) -> i32 {
    let store = match store() {
        Ok(store) => store,
        Err(code) => return code,
    };
    let resource = if all {
        None
    } else {
        match args
            .client_config()
            .map_err(|e| e.to_string())
            .and_then(|c| reqwest::Url::parse(&c.url).map_err(|e| e.to_string()))
        {
            Ok(url) => Some(crate::auth::metadata::canonical_resource(&url)),
            Err(e) => {
                eprintln!("mcp-wrapper: error: {e} (or use --all)");
                return 2;
            }
        }
    };
    let stored = match store.all() {
        Ok(stored) => stored,
        Err(e) => {
            eprintln!("mcp-wrapper: error: {e}");
            return 1;
        }
    };
    let mut removed = 0;
    for credentials in stored
        .iter()
        .filter(|c| resource.as_ref().is_none_or(|r| &c.resource == r))
    {
        if let Err(e) = store.remove(&credentials.issuer, &credentials.resource) {
            eprintln!("mcp-wrapper: error: {e}");
            return 1;
        }
        println!(
            "signed out: {} ({})",
            credentials.resource, credentials.issuer
        );
        removed += 1;
    }
    if removed == 0 {
        println!(
            "nothing stored{}",
            resource.map(|r| format!(" for {r}")).unwrap_or_default()
        );
    }
    0
}

fn status() -> i32 {
    let store = match store() {
        Ok(store) => store,
        Err(code) => return code,
    };
    match store.all() {
        Ok(stored) => {
            println!("credentials in {}", store.dir().display());
            if stored.is_empty() {
                println!("  (none)");
            }
            for credentials in &stored {
                println!("  {}", describe(&Status::from(credentials)));
            }
            0
        }
        Err(e) => {
            eprintln!("mcp-wrapper: error: {e}");
            1
        }
    }
}

/// One line about a sign-in, without any token.
fn describe(status: &Status) -> String {
    let expiry = match status.expires_at {
        Some(at) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            if at <= now {
                "access token expired".to_owned()
            } else {
                format!("access token expires in {} s", at - now)
            }
        }
        None => "access token without expiry".to_owned(),
    };
    format!(
        "{} via {} (client {}, scopes {:?}, {expiry}{})",
        status.resource,
        status.issuer,
        status.client_id.as_deref().unwrap_or("-"),
        status.scope.as_deref().unwrap_or(""),
        if status.refreshable {
            ", refreshable"
        } else {
            ""
        }
    )
}
