//! `e2e`: end-to-end benchmark of stdio MCP bridges against a direct HTTP client.
//!
//! ```sh
//! cargo run --release -p benches --bin e2e                      # mcp-wrapper, every case
//! cargo run --release -p benches --bin e2e -- --cases latency,throughput
//! cargo run --release -p benches --bin e2e -- \
//!     --bridge 'py=python -m mcpgateway.wrapper' --bridge 'ours=target/release/mcp-wrapper --url {url}'
//! ```
//!
//! One loopback `test-server` (this executable re-run as `e2e serve`, its own process, so
//! its CPU is never counted in a client's) serves, in the same run: (a) the floor, a direct
//! keep-alive `reqwest` client in this process; (b) each bridge, a subprocess started from a
//! command line and driven over real pipes by this process, which writes request lines and
//! reads answer lines. Cases (see `--cases`):
//!
//! - `startup`: spawn to the answer of the first request (`initialize`), `--spawns` times,
//!   beside the floor of spawning a process that prints one line (`e2e hello`);
//! - `latency`: sequential round trips of a small `tools/call` of `echo`, contenders taking
//!   turns batch by batch; p50/p90/p99, the overhead over the floor, CPU per round trip;
//! - `eras`: the same round trips, each bridge run twice with `--protocol` added: case A
//!   (`--protocol legacy` against this server, the floor a direct 2025-era client) and
//!   case B (`--protocol auto` against a second server, `e2e serve --modern`, that speaks
//!   2026-07-28: the host still sends `initialize`, the bridge probes, answers it itself
//!   and translates each call; the floor a direct client that sends the `_meta` envelope
//!   and the 2026 headers). Each run gets a fresh `MCP_WRAPPER_AUTH_DIR`, so no cached era
//!   verdict is used; before case B is measured, a run against an in-process recording
//!   server checks that the bridge really translates (no `initialize` upstream). Not in
//!   the default case list;
//! - `throughput`: `--in-flight` requests in flight (32 tasks on one pooled client for the
//!   floor, on a 2-worker and on a current-thread runtime; a sliding window over the pipes
//!   for a bridge), req/s per round, CPU per request of the client and of the server;
//! - `stream[:EVENTSxBYTES]`: test-server's `stream` tool, 1 Mi progress notifications of
//!   1 KiB by default (1 GiB of messages over SSE); the driver counts and discards lines;
//!   peak RSS (`VmHWM`) of the bridge just before its stdin closes, time, CPU;
//! - `message[:FORMAT:BYTES]`: one answer of BYTES (default `json:256M`; `sse`, `ndjson`),
//!   the bridge's message size limit raised above it; the same figures.
//!
//! A bridge is `--bridge 'NAME=COMMAND'` (repeatable; `--bridge-cmd COMMAND` is the same
//! with the name taken from the program): the command is split on whitespace, `{url}`,
//! `{concurrency}` and `{max_message_bytes}` are filled in, and the environment carries
//! `MCP_SERVER_URL`, `CONCURRENCY` and `MCP_WRAPPER_LOG_LEVEL=OFF`. Default: the
//! `mcp-wrapper` next to this executable (built first with `cargo build` when run under
//! `cargo run`).
//!
//! `e2e matrix` runs the behaviour matrix instead (see `matrix.rs`): what each bridge does
//! under faults, observed against scripted test-servers.

mod bridge;
mod direct;
mod latency;
mod matrix;
mod report;

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use benches::{
    echo_request, message_request, pid_context_switches, proc_cpu_seconds, sse_stream_request,
};
use bytes::Bytes;

use crate::bridge::{BridgeProcess, BridgeSpec, Launch};
use crate::direct::Direct;
use crate::report::{Failure, Pass, Report, StartupRow, ThroughputRow, TransferRow, cpu_delta};

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;
/// The bridge's own message size limit unless a case needs more (the design's default).
const DEFAULT_MAX_MESSAGE_BYTES: usize = 64 * MIB;

const USAGE: &str = "usage: e2e [--bridge NAME=COMMAND]... [--bridge-cmd COMMAND] \
    [--cases startup,latency,eras,throughput,stream[:EVENTSxBYTES],message[:json|sse|ndjson:BYTES]] \
    [--requests N] [--warmup N] [--batch N] [--throughput-requests N] [--in-flight N] \
    [--rounds N] [--spawns N] [--server-url URL] [--json FILE] [--deadline-secs N] [--no-build]
       e2e matrix [--bridge NAME=COMMAND]... [--json FILE] [--no-build]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("serve") => serve(&args[1..]),
        Some("hello") => {
            println!("hello");
            Ok(())
        }
        Some("matrix") => Options::parse(&args[1..]).and_then(|options| {
            if options.default_bridge && options.build {
                build_default_bridge()?;
            }
            matrix::run(&options)
        }),
        Some("-h" | "--help") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Options::parse(&args).and_then(|options| run(&options)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("e2e: {message}");
            ExitCode::FAILURE
        }
    }
}

/// What one run measures.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Case {
    Startup,
    Latency,
    /// Case A and case B of each bridge, each beside its direct floor.
    Eras,
    Throughput,
    Stream {
        events: u64,
        event_bytes: usize,
    },
    Message {
        format: String,
        bytes: usize,
    },
}

impl Case {
    fn parse(spec: &str) -> Result<Self, String> {
        let bad = || format!("unknown case {spec:?}\n{USAGE}");
        let mut parts = spec.split(':');
        let case = match (parts.next(), parts.next(), parts.next()) {
            (Some("startup"), None, _) => Case::Startup,
            (Some("latency"), None, _) => Case::Latency,
            (Some("eras"), None, _) => Case::Eras,
            (Some("throughput"), None, _) => Case::Throughput,
            (Some("stream"), None, _) => Case::Stream {
                events: 1 << 20,
                event_bytes: KIB,
            },
            (Some("stream"), Some(size), None) => {
                let (events, bytes) = size.split_once(['x', 'X']).ok_or_else(bad)?;
                Case::Stream {
                    events: parse_size(events).ok_or_else(bad)? as u64,
                    event_bytes: parse_size(bytes).ok_or_else(bad)?,
                }
            }
            (Some("message"), None, _) => Case::Message {
                format: "json".to_owned(),
                bytes: 256 * MIB,
            },
            (Some("message"), Some(format @ ("json" | "sse" | "ndjson")), Some(bytes)) => {
                Case::Message {
                    format: format.to_owned(),
                    bytes: parse_size(bytes).ok_or_else(bad)?,
                }
            }
            _ => return Err(bad()),
        };
        Ok(case)
    }

    fn label(&self) -> String {
        match self {
            Case::Startup => "startup".to_owned(),
            Case::Latency => "latency".to_owned(),
            Case::Eras => {
                "eras: latency in case A (2025 server) and case B (2026-07-28)".to_owned()
            }
            Case::Throughput => "throughput".to_owned(),
            Case::Stream {
                events,
                event_bytes,
            } => format!(
                "stream {} × {} over SSE",
                size_label(usize::try_from(*events).unwrap_or(usize::MAX)),
                size_label(*event_bytes)
            ),
            Case::Message { format, bytes } => {
                format!("one {} message over {format}", size_label(*bytes))
            }
        }
    }
}

/// `123`, `4K`, `256M`, `1G`, `1Mi`, `1MiB` (binary multiples).
fn parse_size(text: &str) -> Option<usize> {
    let text = text.trim();
    let text = text
        .strip_suffix("iB")
        .or_else(|| text.strip_suffix('i'))
        .or_else(|| text.strip_suffix('B'))
        .unwrap_or(text);
    let (digits, shift) = match text.as_bytes().last()? {
        b'k' | b'K' => (&text[..text.len() - 1], 10),
        b'm' | b'M' => (&text[..text.len() - 1], 20),
        b'g' | b'G' => (&text[..text.len() - 1], 30),
        _ => (text, 0),
    };
    digits.parse::<usize>().ok()?.checked_mul(1 << shift)
}

/// `1 GiB`, `256 MiB`, `1 KiB`, `1 Mi`-style labels for exact binary multiples.
fn size_label(n: usize) -> String {
    for (shift, unit) in [(30, "Gi"), (20, "Mi"), (10, "Ki")] {
        if n >= 1 << shift && n.is_multiple_of(1 << shift) {
            return format!("{} {unit}", n >> shift);
        }
    }
    n.to_string()
}

#[derive(Debug, Clone)]
struct Options {
    bridges: Vec<BridgeSpec>,
    /// Whether the default bridge (the sibling `mcp-wrapper`) is used.
    default_bridge: bool,
    cases: Vec<Case>,
    requests: usize,
    warmup: usize,
    batch: usize,
    throughput_requests: u64,
    in_flight: usize,
    rounds: usize,
    spawns: usize,
    server_url: Option<String>,
    json: Option<PathBuf>,
    deadline: Duration,
    build: bool,
}

impl Options {
    fn parse(args: &[String]) -> Result<Self, String> {
        let mut options = Options {
            bridges: Vec::new(),
            default_bridge: false,
            cases: ["startup", "latency", "throughput", "stream", "message"]
                .iter()
                .map(|c| Case::parse(c))
                .collect::<Result<_, _>>()?,
            requests: 5000,
            warmup: 1000,
            batch: 100,
            throughput_requests: 4000,
            in_flight: 32,
            rounds: 10,
            spawns: 20,
            server_url: None,
            json: None,
            deadline: Duration::from_secs(600),
            build: true,
        };
        let mut args = args.iter();
        while let Some(flag) = args.next() {
            if flag == "--no-build" {
                options.build = false;
                continue;
            }
            let value = args
                .next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
            let number = || {
                value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("{flag} {value}: expected a positive number"))
            };
            match flag.as_str() {
                "--bridge" => options.bridges.push(BridgeSpec::parse(value)?),
                "--bridge-cmd" => options.bridges.push(BridgeSpec::command_only(value)?),
                "--cases" => {
                    options.cases = value
                        .split(',')
                        .map(Case::parse)
                        .collect::<Result<_, _>>()?;
                }
                "--requests" => options.requests = number()?,
                "--warmup" => options.warmup = number()?,
                "--batch" => options.batch = number()?,
                "--throughput-requests" => options.throughput_requests = number()? as u64,
                "--in-flight" => options.in_flight = number()?,
                "--rounds" => options.rounds = number()?,
                "--spawns" => options.spawns = number()?,
                "--server-url" => options.server_url = Some(value.clone()),
                "--json" => options.json = Some(PathBuf::from(value)),
                "--deadline-secs" => options.deadline = Duration::from_secs(number()? as u64),
                _ => return Err(format!("unknown argument {flag}\n{USAGE}")),
            }
        }
        if options.bridges.is_empty() {
            let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
            let wrapper = exe.with_file_name("mcp-wrapper");
            options.bridges.push(BridgeSpec::parse(&format!(
                "mcp-wrapper={} --url {{url}} --log-level OFF --concurrency {{concurrency}} \
                 --max-message-bytes {{max_message_bytes}}",
                wrapper.display()
            ))?);
            options.default_bridge = true;
        }
        Ok(options)
    }

    fn launch<'a>(&self, url: &'a str, max_message_bytes: usize) -> Launch<'a> {
        Launch {
            url,
            concurrency: self.in_flight,
            max_message_bytes,
            deadline: self.deadline,
        }
    }
}

/// Builds the sibling `mcp-wrapper` with the profile of this executable when run by cargo
/// (`cargo run` sets `CARGO`), so the default run measures the current sources.
fn build_default_bridge() -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let wrapper = exe.with_file_name("mcp-wrapper");
    let profile = exe
        .parent()
        .and_then(Path::file_name)
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_owned();
    if let Some(cargo) = std::env::var_os("CARGO") {
        let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml");
        let mut build = Command::new(cargo);
        build.args([
            "build",
            "--manifest-path",
            manifest,
            "-p",
            "jsonrpc-forward",
            "--bin",
            "mcp-wrapper",
        ]);
        if profile == "release" {
            build.arg("--release");
        }
        eprintln!("e2e: building mcp-wrapper ({profile})");
        let status = build
            .status()
            .map_err(|e| format!("running cargo build: {e}"))?;
        if !status.success() {
            return Err(format!("cargo build of mcp-wrapper failed: {status}"));
        }
    }
    if profile != "release" {
        eprintln!("e2e: warning: not a release build; the figures mean little");
    }
    if wrapper.is_file() {
        Ok(())
    } else {
        Err(format!(
            "{} not found: run `cargo build --release -p jsonrpc-forward --bin mcp-wrapper` \
             or pass --bridge",
            wrapper.display()
        ))
    }
}

/// The loopback server in a process of its own.
struct Server {
    url: String,
    child: Option<Child>,
}

impl Server {
    fn start(options: &Options) -> Result<Self, String> {
        if let Some(url) = &options.server_url {
            return Ok(Self {
                url: url.clone(),
                child: None,
            });
        }
        let (child, url) = benches::spawn_server_process()?;
        Ok(Self {
            url,
            child: Some(child),
        })
    }

    /// A test-server that serves the 2026-07-28 era too (`e2e serve --modern`), in a
    /// process of its own, for case B of the `eras` case.
    fn start_modern() -> Result<Self, String> {
        let (child, url) = benches::spawn_server_process_with(&["--modern"])?;
        Ok(Self {
            url,
            child: Some(child),
        })
    }

    fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    fn cpu_seconds(&self) -> Option<f64> {
        self.pid().and_then(|pid| proc_cpu_seconds(Some(pid)))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Closing its stdin stops it.
            drop(child.stdin.take());
            let _ = child.wait();
        }
    }
}

/// `e2e serve [--record] [--modern]`: a test-server until stdin closes (with `--modern` it
/// serves the 2026-07-28 era too: `Scenario::modern`). Prints its URL on the first
/// line. With `--record` it keeps every request, and a line `count <method>` on stdin is
/// answered with a line holding how many JSON-RPC messages with that method have arrived, so
/// that a process that cannot see the server's memory can wait for its requests (other
/// lines are ignored). Without it nothing is kept, as a benchmark's server should.
fn serve(args: &[String]) -> Result<(), String> {
    let (mut record, mut modern) = (false, false);
    for arg in args {
        match arg.as_str() {
            "--record" => record = true,
            "--modern" => modern = true,
            _ => {
                return Err(format!(
                    "usage: e2e serve [--record] [--modern], not {args:?}"
                ));
            }
        }
    }
    let scenario = test_server::Scenario::default()
        .record_requests(record)
        .modern(modern)
        .lifetime(Duration::from_secs(3600));
    let server =
        test_server::TestServer::start(scenario).map_err(|e| format!("test-server: {e}"))?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{}", server.url())
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("printing the URL: {e}"))?;
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let Some(method) = line.strip_prefix("count ") else {
            continue;
        };
        let count = server
            .requests()
            .iter()
            .filter_map(test_server::RecordedRequest::json)
            .flat_map(|body| match body {
                serde_json::Value::Array(batch) => batch,
                one => vec![one],
            })
            .filter(|message| message["method"] == method.trim())
            .count();
        if writeln!(stdout, "{count}")
            .and_then(|()| stdout.flush())
            .is_err()
        {
            break;
        }
    }
    drop(server);
    Ok(())
}

fn run(options: &Options) -> Result<(), String> {
    if options.default_bridge && options.build {
        build_default_bridge()?;
    }
    let server = Server::start(options)?;
    let mut report = Report::new(&server.url, options);
    eprintln!(
        "e2e: server {} (pid {}); bridges: {}",
        server.url,
        server
            .pid()
            .map_or_else(|| "external".to_owned(), |p| p.to_string()),
        options
            .bridges
            .iter()
            .map(|b| format!("{} = `{b}`", b.name))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for case in &options.cases {
        eprintln!("e2e: case {}", case.label());
        match case {
            Case::Startup => report.startup = startup(options, &server, &mut report.failures)?,
            Case::Latency => {
                report.latency = latency::latency(options, &server, &mut report.failures)?;
            }
            Case::Eras => report.eras = latency::eras(options, &server, &mut report.failures)?,
            Case::Throughput => {
                report.throughput = throughput(options, &server, &mut report.failures)?;
            }
            Case::Stream {
                events,
                event_bytes,
            } => {
                let request = sse_stream_request(1, *events, *event_bytes);
                let rows = transfer(
                    options,
                    &server,
                    &case.label(),
                    &request,
                    (*events, 0),
                    DEFAULT_MAX_MESSAGE_BYTES,
                    &mut report.failures,
                )?;
                report.transfers.extend(rows);
            }
            Case::Message { format, bytes } => {
                let request = message_request(1, format, *bytes);
                let limit = DEFAULT_MAX_MESSAGE_BYTES.max(bytes + MIB);
                let rows = transfer(
                    options,
                    &server,
                    &case.label(),
                    &request,
                    (0, *bytes as u64),
                    limit,
                    &mut report.failures,
                )?;
                report.transfers.extend(rows);
            }
        }
    }
    report.finish();
    print!("{}", report.markdown());
    if let Some(path) = &options.json {
        std::fs::write(path, report.json().to_string())
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
        eprintln!("e2e: wrote {}", path.display());
    }
    Ok(())
}

fn line(request: &str) -> Vec<u8> {
    let mut line = Vec::with_capacity(request.len() + 1);
    line.extend_from_slice(request.as_bytes());
    line.push(b'\n');
    line
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Spawn to first answer, for each bridge and for the floor (`e2e hello`), interleaved.
fn startup(
    options: &Options,
    server: &Server,
    failures: &mut Vec<Failure>,
) -> Result<Vec<StartupRow>, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let launch = options.launch(&server.url, DEFAULT_MAX_MESSAGE_BYTES);
    let mut floor = Vec::with_capacity(options.spawns);
    let mut first = vec![Vec::with_capacity(options.spawns); options.bridges.len()];
    let mut exits = vec![Vec::with_capacity(options.spawns); options.bridges.len()];
    for _ in 0..options.spawns {
        let start = Instant::now();
        let mut hello = Command::new(&exe)
            .arg("hello")
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("spawning e2e hello: {e}"))?;
        let mut said = String::new();
        if let Some(out) = hello.stdout.take() {
            BufReader::new(out)
                .read_line(&mut said)
                .map_err(|e| format!("e2e hello: {e}"))?;
        }
        floor.push(ms(start.elapsed()));
        let _ = hello.wait();
        for (i, spec) in options.bridges.iter().enumerate() {
            if failed(failures, "startup", &spec.name) {
                continue;
            }
            let once = || {
                let mut process = BridgeProcess::spawn(spec, &launch)?;
                process.send(&bridge::initialize_request(0).into_bytes())?;
                process.read_answer(0, 16)?;
                let first = ms(process.started().elapsed());
                let (status, took) = process.close()?;
                if !status.success() {
                    eprintln!("e2e: {} exited with {status}", spec.name);
                }
                Ok::<_, String>((first, ms(took)))
            };
            match once() {
                Ok((first_ms, exit_ms)) => {
                    first[i].push(first_ms);
                    exits[i].push(exit_ms);
                }
                Err(error) => fail(failures, "startup", &spec.name, error),
            }
        }
    }
    let mut rows = vec![StartupRow::new(
        "floor: spawn `e2e hello`, read its line",
        &floor,
        None,
    )];
    for ((spec, first), exits) in options.bridges.iter().zip(first).zip(exits) {
        if !failed(failures, "startup", &spec.name) {
            rows.push(StartupRow::new(&spec.name, &first, Some(&exits)));
        }
    }
    Ok(rows)
}

/// CPU time of this process's live threads, ns (exact; the driver is single-threaded
/// while it runs the latency case, but for idle watchdog threads).
fn driver_cpu_ns() -> u64 {
    benches::threads_cpu_ns("\0").unwrap_or(0)
}

/// `in_flight` requests in flight: the floor on two runtimes, each bridge over its pipes.
fn throughput(
    options: &Options,
    server: &Server,
    failures: &mut Vec<Failure>,
) -> Result<Vec<ThroughputRow>, String> {
    let multi = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    let current = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    // One client per runtime: a pooled connection belongs to the runtime that made it.
    let direct_multi = Direct::new(&server.url, options.deadline)?;
    let direct_current = Direct::new(&server.url, options.deadline)?;
    let launch = options.launch(&server.url, DEFAULT_MAX_MESSAGE_BYTES);
    let mut processes = start_bridges(options, &launch, "throughput", failures);
    let in_flight = options.in_flight;
    let total = options.throughput_requests;
    let warmup = options.warmup as u64;
    let mut next_id = 1u64;
    let mut rows: Vec<ThroughputRow> = [
        "direct (reqwest, 2 workers)".to_owned(),
        "direct (reqwest, current_thread)".to_owned(),
    ]
    .into_iter()
    .chain(options.bridges.iter().map(|b| b.name.clone()))
    .map(ThroughputRow::new)
    .collect();
    let me = std::process::id();
    // One pass of `count` requests by one contender; returns its time and what it cost.
    let mut pass = |contender: usize,
                    count: u64,
                    processes: &mut [Option<BridgeProcess>]|
     -> Result<Pass, String> {
        let first = next_id;
        next_id += count;
        let driver_before = proc_cpu_seconds(None);
        let start = Instant::now();
        let (process_cpu, switches) = match contender {
            0 | 1 => {
                let before = pid_context_switches(me);
                if contender == 0 {
                    multi.block_on(direct_multi.pump(first, count, in_flight, echo_request))?;
                } else {
                    current.block_on(direct_current.pump(first, count, in_flight, echo_request))?;
                }
                (None, before.zip(pid_context_switches(me)))
            }
            _ => {
                let process = processes[contender - 2].as_mut().ok_or("gone")?;
                let before = (process.cpu_seconds(), process.context_switches());
                process.pump(first, count, in_flight, echo_request)?;
                (
                    cpu_delta(before.0, process.cpu_seconds()),
                    before.1.zip(process.context_switches()),
                )
            }
        };
        let took = start.elapsed();
        let driver_cpu = cpu_delta(driver_before, proc_cpu_seconds(None));
        Ok(Pass {
            took,
            // The floor's process is this one: its CPU is the driver's.
            process_cpu: if contender < 2 {
                driver_cpu
            } else {
                process_cpu
            },
            driver_cpu,
            server_cpu: None,
            switches: switches.map(|(before, after)| after.saturating_sub(before)),
        })
    };
    // A bridge that fails is dropped (killed) and left out of the table.
    let mut drop_bridge = |contender: usize,
                           error: String,
                           processes: &mut [Option<BridgeProcess>]|
     -> Result<(), String> {
        if contender < 2 {
            return Err(error);
        }
        processes[contender - 2] = None;
        fail(
            failures,
            "throughput",
            &options.bridges[contender - 2].name,
            error,
        );
        Ok(())
    };
    let live = |contender: usize, processes: &[Option<BridgeProcess>]| {
        contender < 2 || processes[contender - 2].is_some()
    };
    for contender in 0..rows.len() {
        if live(contender, &processes)
            && let Err(error) = pass(contender, warmup, &mut processes)
        {
            drop_bridge(contender, error, &mut processes)?;
        }
    }
    for _ in 0..options.rounds {
        for (contender, row) in rows.iter_mut().enumerate() {
            if !live(contender, &processes) {
                continue;
            }
            let server_before = server.cpu_seconds();
            match pass(contender, total, &mut processes) {
                Ok(mut result) => {
                    result.server_cpu = cpu_delta(server_before, server.cpu_seconds());
                    row.add(total, &result);
                }
                Err(error) => drop_bridge(contender, error, &mut processes)?,
            }
        }
    }
    let rows = rows
        .into_iter()
        .enumerate()
        .filter(|(contender, _)| live(*contender, &processes))
        .map(|(_, row)| row)
        .collect();
    close_bridges(processes, "throughput", &options.bridges, failures);
    Ok(rows)
}

/// One large answer (or stream): the floor's time, then each bridge in a fresh process.
/// `expected`: the progress lines before the answer, and the answer's least size in bytes
/// (a bridge must deliver 90 % of it; 0 for no check).
fn transfer(
    options: &Options,
    server: &Server,
    label: &str,
    request: &str,
    expected: (u64, u64),
    max_message_bytes: usize,
    failures: &mut Vec<Failure>,
) -> Result<Vec<TransferRow>, String> {
    let mut rows = Vec::with_capacity(1 + options.bridges.len());
    {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| format!("runtime: {e}"))?;
        let direct = Direct::new(&server.url, options.deadline)?;
        let body = Bytes::from(request.to_owned());
        let server_before = server.cpu_seconds();
        let cpu_before = proc_cpu_seconds(None);
        let task = runtime.spawn(async move { direct.drain(body).await });
        let (bytes, took) = runtime
            .block_on(task)
            .map_err(|e| format!("direct task: {e}"))??;
        rows.push(TransferRow {
            case: label.to_owned(),
            name: "direct (reqwest, body chunks counted)".to_owned(),
            time: took,
            lines: None,
            bytes,
            rss_ready_kib: None,
            rss_peak_kib: None,
            cpu: cpu_delta(cpu_before, proc_cpu_seconds(None)),
            server_cpu: cpu_delta(server_before, server.cpu_seconds()),
        });
    }
    let launch = options.launch(&server.url, max_message_bytes);
    for spec in &options.bridges {
        match transfer_one(spec, &launch, label, request, expected, server) {
            Ok(row) => rows.push(row),
            Err(error) => fail(failures, label, &spec.name, error),
        }
    }
    Ok(rows)
}

/// One large answer through one bridge, in a fresh process.
fn transfer_one(
    spec: &BridgeSpec,
    launch: &Launch<'_>,
    label: &str,
    request: &str,
    (expected_lines, expected_bytes): (u64, u64),
    server: &Server,
) -> Result<TransferRow, String> {
    let mut process = BridgeProcess::spawn(spec, launch)?;
    process.initialize(0)?;
    let rss_ready = process.peak_rss_kib();
    let cpu_before = process.cpu_seconds();
    let server_before = server.cpu_seconds();
    let start = Instant::now();
    process.send(&line(request))?;
    let (before, bytes) = process.read_answer(1, expected_lines + 16)?;
    let took = start.elapsed();
    // Read just before stdin closes: the peak while the answer flowed through.
    let rss_peak = process.peak_rss_kib();
    let cpu = cpu_delta(cpu_before, process.cpu_seconds());
    let server_cpu = cpu_delta(server_before, server.cpu_seconds());
    if before != expected_lines {
        eprintln!(
            "e2e: {}: {before} lines before the answer, expected {expected_lines}",
            spec.name
        );
    }
    process.close()?;
    // A bridge that loses the request's fault arguments answers small: not a comparison.
    if bytes < expected_bytes / 10 * 9 {
        return Err(format!(
            "the answer had {bytes} bytes, expected about {expected_bytes}"
        ));
    }
    Ok(TransferRow {
        case: label.to_owned(),
        name: spec.name.clone(),
        time: took,
        lines: Some(before + 1),
        bytes,
        rss_ready_kib: rss_ready,
        rss_peak_kib: rss_peak,
        cpu,
        server_cpu,
    })
}

/// Starts and initializes every bridge for a case; one that fails is recorded and `None`.
fn start_bridges(
    options: &Options,
    launch: &Launch<'_>,
    case: &str,
    failures: &mut Vec<Failure>,
) -> Vec<Option<BridgeProcess>> {
    options
        .bridges
        .iter()
        .map(|spec| {
            let started = BridgeProcess::spawn(spec, launch).and_then(|mut process| {
                process.initialize(0)?;
                Ok(process)
            });
            started
                .map_err(|error| fail(failures, case, &spec.name, error))
                .ok()
        })
        .collect()
}

/// Closes the bridges still running at the end of a case.
fn close_bridges(
    processes: Vec<Option<BridgeProcess>>,
    case: &str,
    specs: &[BridgeSpec],
    failures: &mut Vec<Failure>,
) {
    for (spec, process) in specs.iter().zip(processes) {
        if let Some(Err(error)) = process.map(BridgeProcess::close) {
            fail(failures, &format!("{case} (exit)"), &spec.name, error);
        }
    }
}

/// Records that a bridge failed a case (it is then left out of that case's table).
fn fail(failures: &mut Vec<Failure>, case: &str, bridge: &str, error: String) {
    eprintln!("e2e: {bridge} failed {case}: {error}");
    failures.push(Failure {
        case: case.to_owned(),
        bridge: bridge.to_owned(),
        error,
    });
}

fn failed(failures: &[Failure], case: &str, bridge: &str) -> bool {
    failures
        .iter()
        .any(|f| f.case == case && f.bridge == bridge)
}
