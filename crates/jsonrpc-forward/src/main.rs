//! `mcp-wrapper`: bridges a stdio MCP client to a Streamable HTTP MCP server.

use std::process::ExitCode;

use clap::Parser;
use jsonrpc_forward::cli::{Args, run};

fn main() -> ExitCode {
    let args = Args::parse();
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
    match run(&args, &runtime) {
        // The stdin thread may still be blocked in `read`: leave without waiting for it.
        0 => std::process::exit(0),
        code => ExitCode::from(u8::try_from(code).unwrap_or(1)),
    }
}
