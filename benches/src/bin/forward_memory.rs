//! Peak RSS of a process that forwards huge answers with `jsonrpc_forward::Client::forward`.
//!
//! ```sh
//! cargo run --release -p benches --bin forward_memory            # both cases
//! cargo run --release -p benches --bin forward_memory -- sse     # one case: json | sse
//! cargo run --release -p benches --bin forward_memory -- --client reqwest --runtime current
//! ```
//!
//! The process that is measured must hold nothing but the client, so the work is split in
//! three processes, all this executable:
//! - `forward_memory serve` starts a `TestServer`, prints its URL, and serves until its stdin
//!   closes;
//! - `forward_memory case <json|sse> <url> [options]` runs one case on a fresh process, so
//!   the peaks of two cases never mix: it prints `VmHWM` at start, once its runtime and
//!   client exist, and after the answer was consumed and dropped, with the time, throughput
//!   and CPU time;
//! - `forward_memory [json|sse]… [options]` (the default) starts the server, runs each case
//!   in its own child, and prints the server's CPU time per case.
//!
//! Cases:
//! - `json`: one `application/json` answer of 256 MiB with a `Content-Length` (test-server's
//!   `message_bytes` fault), `max_message_bytes` raised to 257 MiB;
//! - `sse`: the `stream` tool with 1 Mi progress notifications of 1 KiB each and no pause,
//!   1 GiB of messages as SSE, each message dropped as it arrives;
//! - `slow`: the whole bridge (`jsonrpc_forward::Bridge` over pipes, in this process) between
//!   a client that reads stdout at about 100 MB/s and a server that streams 256
//!   notifications of 1 MiB as fast as it can: what the bridge holds is bounded by its
//!   output queue's byte budget (2 x the message limit, at least 16 MiB), not by a count of
//!   messages.
//!
//! Options: `--client ours|reqwest` (a bare reqwest read of the body's chunks, the floor of
//! the same HTTP stack) and `--runtime spawn|block_on|current` (see [`Flavour`]).

use std::io::{Read as _, Write as _};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use benches::{
    large_json_request, proc_cpu_seconds, proc_status_kib, sse_stream_request,
    test_server_sse_event_bytes,
};
use bytes::Bytes;
use jsonrpc_forward::{Client, ClientConfig, RequestHeaders, display_chain};
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use test_server::{Scenario, TestServer};

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

/// The size of the one JSON answer of the `json` case.
const JSON_MESSAGE_BYTES: usize = 256 * MIB;
/// The number and size of the SSE messages of the `sse` case: 1 GiB of messages.
const SSE_EVENTS: u64 = 1024 * 1024;
const SSE_EVENT_BYTES: usize = KIB;

/// The `slow` case: notifications, their size, and how long the client takes per line.
const SLOW_EVENTS: u64 = 256;
const SLOW_EVENT_BYTES: usize = MIB;
const SLOW_READ_PAUSE: Duration = Duration::from_millis(10);

const CASES: [&str; 3] = ["json", "sse", "slow"];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("serve") => serve(),
        Some("case") => match args.get(1..) {
            Some([case, url, rest @ ..]) => {
                Options::parse(rest).and_then(|o| run_case(case, url, o))
            }
            _ => Err(USAGE.to_owned()),
        },
        _ => orchestrate(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("forward_memory: {message}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "usage: forward_memory [json|sse|slow]... [--client ours|reqwest] \
                     [--runtime spawn|block_on|current]";

/// Who reads the answer, and on which runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Options {
    /// `jsonrpc_forward::Client::forward` (default), or a bare `reqwest` read of the body's
    /// chunks, no decoding: the floor of the same HTTP stack.
    reqwest: bool,
    runtime: Flavour,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavour {
    /// Multi-thread runtime (2 workers), the reading task spawned on it (default; as the
    /// bridge runs).
    Spawn,
    /// Multi-thread runtime (2 workers), read with `block_on` from the main thread.
    BlockOn,
    /// Current-thread runtime.
    Current,
}

impl Options {
    fn parse(args: &[String]) -> Result<Self, String> {
        let mut options = Options {
            reqwest: false,
            runtime: Flavour::Spawn,
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match (arg.as_str(), args.next().map(String::as_str)) {
                ("--client", Some("ours")) => options.reqwest = false,
                ("--client", Some("reqwest")) => options.reqwest = true,
                ("--runtime", Some("spawn")) => options.runtime = Flavour::Spawn,
                ("--runtime", Some("block_on")) => options.runtime = Flavour::BlockOn,
                ("--runtime", Some("current")) => options.runtime = Flavour::Current,
                _ => return Err(USAGE.to_owned()),
            }
        }
        Ok(options)
    }

    fn to_args(self) -> [&'static str; 4] {
        let runtime = match self.runtime {
            Flavour::Spawn => "spawn",
            Flavour::BlockOn => "block_on",
            Flavour::Current => "current",
        };
        let client = if self.reqwest { "reqwest" } else { "ours" };
        ["--client", client, "--runtime", runtime]
    }
}

/// Starts the server, runs each case in a child of its own, stops the server.
fn orchestrate(args: &[String]) -> Result<(), String> {
    let split = args
        .iter()
        .position(|a| a.starts_with("--"))
        .unwrap_or(args.len());
    let options = Options::parse(&args[split..])?;
    let cases: Vec<&str> = if split == 0 {
        CASES.to_vec()
    } else {
        args[..split].iter().map(String::as_str).collect()
    };
    if let Some(bad) = cases.iter().find(|c| !CASES.contains(c)) {
        return Err(format!("unknown case {bad:?}: expected json, sse or slow"));
    }
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let (mut server, url) = benches::spawn_server_process()?;
    println!(
        "server: pid {} at {url}; client: fresh process per case",
        server.id()
    );
    let mut result = Ok(());
    for case in cases {
        let server_cpu = proc_cpu_seconds(Some(server.id()));
        let status = Command::new(&exe)
            .args(["case", case, &url])
            .args(options.to_args())
            .status()
            .map_err(|e| format!("starting case {case}: {e}"))?;
        if let (Some(before), Some(after)) = (server_cpu, proc_cpu_seconds(Some(server.id()))) {
            println!("{case}: server process CPU {:.2} s", after - before);
        }
        if !status.success() {
            result = Err(format!("case {case} failed: {status}"));
            break;
        }
    }
    // Closing its stdin stops the server.
    drop(server.stdin.take());
    let _ = server.wait();
    result
}

/// Serves until stdin closes.
fn serve() -> Result<(), String> {
    let scenario = Scenario::default()
        .record_requests(false)
        .lifetime(Duration::from_secs(3600));
    let server = TestServer::start(scenario).map_err(|e| format!("test-server: {e}"))?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{}", server.url())
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("printing the URL: {e}"))?;
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    drop(server);
    Ok(())
}

fn mib(kib: Option<u64>) -> String {
    #[allow(clippy::cast_precision_loss)] // KiB counts stay far below 2^52
    kib.map_or_else(
        || "?".to_owned(),
        |k| format!("{:.1} MiB", k as f64 / 1024.0),
    )
}

fn hwm() -> String {
    mib(proc_status_kib("VmHWM"))
}

#[allow(clippy::cast_precision_loss)] // byte counts stay far below 2^52
fn per_second(bytes: usize, took: Duration) -> String {
    let rate = bytes as f64 / took.as_secs_f64();
    format!("{:.0} MiB/s ({:.2} GB/s)", rate / MIB as f64, rate / 1e9)
}

/// One case, in this (fresh) process.
fn run_case(case: &str, url: &str, options: Options) -> Result<(), String> {
    let request = match case {
        "json" => large_json_request(1, JSON_MESSAGE_BYTES),
        "sse" => sse_stream_request(1, SSE_EVENTS, SSE_EVENT_BYTES),
        "slow" => return run_slow_reader(url),
        _ => return Err(USAGE.to_owned()),
    };
    println!("{case}: {options:?}; VmHWM at start {}", hwm());
    let runtime = match options.runtime {
        Flavour::Current => tokio::runtime::Builder::new_current_thread(),
        Flavour::Spawn | Flavour::BlockOn => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(2);
            builder
        }
    }
    .enable_all()
    .build()
    .map_err(|e| format!("runtime: {e}"))?;
    let reader = if options.reqwest {
        let client = reqwest::Client::builder()
            .tcp_nodelay(true)
            .build()
            .map_err(|e| format!("reqwest client: {e}"))?;
        Reader::Reqwest(client, url.to_owned())
    } else {
        let config = ClientConfig::new(url).max_message_bytes(JSON_MESSAGE_BYTES + MIB);
        Reader::Ours(Client::new(config).map_err(|e| format!("client: {e}"))?)
    };
    println!("{case}: VmHWM with runtime and client {}", hwm());
    let cpu_before = proc_cpu_seconds(None);
    let request = Bytes::from(request);
    let tally = match options.runtime {
        Flavour::Spawn => {
            let task = runtime.spawn(async move { reader.consume(request).await });
            runtime
                .block_on(task)
                .map_err(|e| format!("reading task: {e}"))??
        }
        Flavour::BlockOn | Flavour::Current => runtime.block_on(reader.consume(request))?,
    };
    let cpu = proc_cpu_seconds(None)
        .zip(cpu_before)
        .map(|(after, before)| after - before);
    println!(
        "{case}: {} {}, {} bytes (largest {}); headers after {:.3} s, body in {:.3} s",
        tally.items,
        if options.reqwest {
            "chunks"
        } else {
            "messages"
        },
        tally.bytes,
        tally.largest,
        tally.headers.as_secs_f64(),
        tally.body.as_secs_f64()
    );
    let wire = match (case, options.reqwest) {
        ("json", _) | (_, true) => tally.bytes,
        _ => tally.items * test_server_sse_event_bytes(SSE_EVENT_BYTES),
    };
    println!(
        "{case}: body throughput {} on the wire (≈); client CPU {}",
        per_second(wire, tally.body),
        cpu.map_or_else(|| "?".to_owned(), |s| format!("{s:.2} s")),
    );
    println!(
        "{case}: VmHWM (peak RSS) {}; VmRSS after {}",
        hwm(),
        mib(proc_status_kib("VmRSS"))
    );
    drop(runtime);
    Ok(())
}

/// The `slow` case: the bridge on a current-thread runtime (as `mcp-wrapper` runs it),
/// stdin and stdout pipes, a client thread that reads one line every [`SLOW_READ_PAUSE`]
/// and closes stdin once the answer came.
fn run_slow_reader(url: &str) -> Result<(), String> {
    use std::io::BufRead as _;

    println!("slow: VmHWM at start {}", hwm());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    let limit = SLOW_EVENT_BYTES + 64 * KIB;
    let client = Client::new(ClientConfig::new(url).max_message_bytes(limit))
        .map_err(|e| format!("client: {e}"))?;
    let bridge = jsonrpc_forward::Bridge::new(client, 10);
    let (input, mut feed) = std::io::pipe().map_err(|e| format!("pipe: {e}"))?;
    let (from_bridge, output) = std::io::pipe().map_err(|e| format!("pipe: {e}"))?;
    writeln!(
        feed,
        "{}",
        sse_stream_request(1, SLOW_EVENTS, SLOW_EVENT_BYTES)
    )
    .map_err(|e| format!("writing the request: {e}"))?;
    println!(
        "slow: VmHWM with runtime and bridge {}; output queue bound {} MiB",
        hwm(),
        (2 * limit).max(16 * MIB) / MIB
    );
    let started = Instant::now();
    let client = std::thread::spawn(move || {
        let mut reader = std::io::BufReader::with_capacity(64 * KIB, from_bridge);
        let mut line = Vec::new();
        let (mut lines, mut bytes) = (0usize, 0usize);
        let mut feed = Some(feed);
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    lines += 1;
                    bytes += n;
                }
            }
            // The answer's id comes early (test-server writes keys in order); progress
            // notifications have none.
            let head = &line[..line.len().min(64)];
            if head.windows(7).any(|w| w == br#""id":1,"#) {
                drop(feed.take()); // The answer: end of input.
            }
            std::thread::sleep(SLOW_READ_PAUSE);
        }
        (lines, bytes)
    });
    let exit = runtime
        .block_on(bridge.run(input, output, std::future::pending()))
        .map_err(|e| format!("bridge: {e}"))?;
    let peak = hwm();
    let (lines, bytes) = client.join().map_err(|_| "the client thread panicked")?;
    println!(
        "slow: {exit:?} after {lines} lines, {bytes} bytes in {:.2} s ({})",
        started.elapsed().as_secs_f64(),
        per_second(bytes, started.elapsed())
    );
    println!("slow: VmHWM (peak RSS) {peak}");
    Ok(())
}

/// The client that reads the answer.
enum Reader {
    Ours(Client),
    /// A bare reqwest client and the URL: the body's chunks are counted, nothing decoded.
    Reqwest(reqwest::Client, String),
}

/// What one response brought, each message (or chunk) dropped as soon as it was counted.
#[derive(Debug, Default)]
struct Tally {
    items: usize,
    bytes: usize,
    largest: usize,
    /// From the POST to the response headers (includes building the answer on the server).
    headers: Duration,
    /// From the response headers to the end of the stream.
    body: Duration,
}

impl Tally {
    fn add(&mut self, len: usize) {
        self.items += 1;
        self.bytes += len;
        self.largest = self.largest.max(len);
    }
}

impl Reader {
    async fn consume(self, request: Bytes) -> Result<Tally, String> {
        let start = Instant::now();
        let mut tally = Tally::default();
        let body_start;
        match self {
            Reader::Ours(client) => {
                let mut forwarded = client
                    .forward(request, &RequestHeaders::default())
                    .await
                    .map_err(|e| format!("forward: {}", display_chain(&e)))?;
                tally.headers = start.elapsed();
                body_start = Instant::now();
                while let Some(message) = forwarded.messages().next().await {
                    let message = message.map_err(|e| format!("message: {}", display_chain(&e)))?;
                    tally.add(message.len());
                }
            }
            Reader::Reqwest(client, url) => {
                let mut response = client
                    .post(url)
                    .header(CONTENT_TYPE, "application/json")
                    .header(ACCEPT, "application/json, text/event-stream")
                    .body(request)
                    .send()
                    .await
                    .and_then(reqwest::Response::error_for_status)
                    .map_err(|e| format!("reqwest: {}", display_chain(&e)))?;
                tally.headers = start.elapsed();
                body_start = Instant::now();
                while let Some(chunk) = response
                    .chunk()
                    .await
                    .map_err(|e| format!("reqwest body: {}", display_chain(&e)))?
                {
                    tally.add(chunk.len());
                }
            }
        }
        tally.body = body_start.elapsed();
        Ok(tally)
    }
}
