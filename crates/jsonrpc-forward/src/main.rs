//! `mcp-wrapper`: bridges a stdio MCP client to a Streamable HTTP MCP server.

use std::process::ExitCode;

use clap::Parser;
use jsonrpc_forward::cli::{Args, run};

fn main() -> ExitCode {
    let args = Args::parse();
    // One runtime thread: stdin and stdout pipes are served on it too (see `stdio`), so a
    // request crosses no thread on its way; a second worker would be woken for every
    // exchange (twice the context switches, no gain for IO-bound work).
    let runtime = match tokio::runtime::Builder::new_current_thread()
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
