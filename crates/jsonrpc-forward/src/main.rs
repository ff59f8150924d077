//! `mcp-wrapper`: bridges a stdio MCP client to a Streamable HTTP MCP server.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use jsonrpc_forward::cli::Args;
use jsonrpc_forward::{Bridge, Client, redact_url};

fn main() -> ExitCode {
    let args = Args::parse();
    let config = match args.client_config() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("mcp-wrapper: error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(level) = args.log_filter() {
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_max_level(level)
            .with_target(false)
            .with_ansi(std::io::stderr().is_terminal())
            .init();
    }
    let client = match Client::new(config) {
        Ok(client) => client,
        Err(e) => {
            eprintln!("mcp-wrapper: error: {}", jsonrpc_forward::display_chain(&e));
            return ExitCode::from(2);
        }
    };
    tracing::info!(url = %redact_url(client.url().as_str()), "starting mcp-wrapper");
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("mcp-wrapper: error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let bridge = Bridge::new(client, args.concurrency);
    let result = runtime.block_on(bridge.run_stdio());
    match result {
        Ok(exit) => {
            tracing::info!(?exit, "shutdown complete");
            // The stdin thread may still be blocked in `read`: leave without waiting for it.
            std::process::exit(0);
        }
        Err(e) => {
            eprintln!("mcp-wrapper: error: {e}");
            ExitCode::FAILURE
        }
    }
}
