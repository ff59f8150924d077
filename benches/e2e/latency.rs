//! Sequential round trips: the `latency` case (the direct floor and each bridge) and the
//! `eras` case (each bridge in case A, a 2025-era host and server, and in case B, the same
//! host against a 2026-07-28 server the bridge translates for; research notes
//! `protocol-2026.md` §4.1, §4.2), each beside its own direct floor.

use std::time::{Duration, Instant};

use benches::{echo_request, modern_echo_request, pid_context_switches};
use bytes::Bytes;
use serde_json::Value;
use test_server::{Scenario, TestServer};

use crate::bridge::{BridgeProcess, BridgeSpec, Launch};
use crate::direct::Direct;
use crate::report::{Dist, Failure, LatencyRow, cpu_delta};
use crate::{DEFAULT_MAX_MESSAGE_BYTES, Options, Server, close_bridges, driver_cpu_ns, fail, line};

/// The name of the floor of the `latency` case.
const FLOOR: &str = "direct (reqwest, current_thread)";
/// The floors of the `eras` case.
const FLOOR_A: &str = "direct, 2025 (reqwest → test-server)";
const FLOOR_B: &str = "direct, 2026-07-28 (reqwest, `_meta` + headers → test-server --modern)";
/// The headers a 2026-07-28 client derives from the echo call (§1.1).
const MODERN_ECHO_HEADERS: [(&str, &str); 3] = [
    ("mcp-protocol-version", "2026-07-28"),
    ("mcp-method", "tools/call"),
    ("mcp-name", "echo"),
];

/// Who makes round trips in a table.
enum Who {
    Direct(Direct),
    /// `None` once it failed (it is then left out of the table).
    Bridge(Option<BridgeProcess>),
}

/// One row of a latency table.
struct Contender {
    name: String,
    /// The name of the floor this row is compared with; `None` for a floor.
    floor: Option<String>,
    who: Who,
    /// The request of a round trip with this id.
    request: fn(u64) -> String,
}

impl Contender {
    fn direct(name: &str, direct: Direct, request: fn(u64) -> String) -> Self {
        Self {
            name: name.to_owned(),
            floor: None,
            who: Who::Direct(direct),
            request,
        }
    }

    fn bridge(name: String, floor: &str, process: Option<BridgeProcess>) -> Self {
        Self {
            name,
            floor: Some(floor.to_owned()),
            who: Who::Bridge(process),
            // A bridge is a 2025-era host's: it adds any envelope itself.
            request: echo_request,
        }
    }

    fn live(&self) -> bool {
        !matches!(self.who, Who::Bridge(None))
    }

    fn process(&self) -> Option<&BridgeProcess> {
        match &self.who {
            Who::Bridge(process) => process.as_ref(),
            Who::Direct(_) => None,
        }
    }
}

fn current_thread() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))
}

/// The `latency` case: the floor, then every bridge, against one server.
pub(crate) fn latency(
    options: &Options,
    server: &Server,
    failures: &mut Vec<Failure>,
) -> Result<Vec<LatencyRow>, String> {
    let direct = Direct::new(&server.url, options.deadline)?;
    let launch = options.launch(&server.url, DEFAULT_MAX_MESSAGE_BYTES);
    let processes = crate::start_bridges(options, &launch, "latency", failures);
    let mut contenders = vec![Contender::direct(FLOOR, direct, echo_request)];
    contenders.extend(
        options
            .bridges
            .iter()
            .zip(processes)
            .map(|(spec, process)| Contender::bridge(spec.name.clone(), FLOOR, process)),
    );
    let rows = measure(options, &[server], &mut contenders, "latency", failures)?;
    close_bridges(
        processes_of(contenders),
        "latency",
        &options.bridges,
        failures,
    );
    Ok(rows)
}

/// The bridge processes of a table, floors left out.
fn processes_of(contenders: Vec<Contender>) -> Vec<Option<BridgeProcess>> {
    contenders
        .into_iter()
        .filter_map(|contender| match contender.who {
            Who::Bridge(process) => Some(process),
            Who::Direct(_) => None,
        })
        .collect()
}

/// A fresh directory for one bridge run's era verdicts (`MCP_WRAPPER_AUTH_DIR`), so that no
/// verdict cached by an earlier run is used (the probe is then part of `initialize`, outside
/// the measured round trips).
fn fresh_auth_dir(tag: &str) -> Result<String, String> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "e2e-eras-{}-{tag}-{}",
        std::process::id(),
        COUNT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir.to_string_lossy().into_owned())
}

/// The bridge in case A (`--protocol legacy`) or case B (`--protocol auto`), with a fresh
/// verdict directory.
fn era_variant(spec: &BridgeSpec, modern: bool) -> Result<BridgeSpec, String> {
    let (case, protocol) = if modern {
        ("B", "auto")
    } else {
        ("A", "legacy")
    };
    let dir = fresh_auth_dir(case)?;
    Ok(spec.variant(
        format!("{}, case {case} (`--protocol {protocol}`)", spec.name),
        &["--protocol", protocol],
        &[("MCP_WRAPPER_AUTH_DIR", dir)],
    ))
}

/// Whether the bridge really translates in case B: against an in-process `--modern`
/// test-server that records every request, `initialize` and one call must send no
/// `initialize` upstream, a `server/discover` (mcp-remote sends two), and the call with the
/// 2026-07-28 header and envelope. A bridge that does not translate would otherwise be
/// measured on the 2025 side of the dual-era server and pass for a translator.
fn check_translates(spec: &BridgeSpec, options: &Options) -> Result<(), String> {
    let server = TestServer::start(
        Scenario::default()
            .modern(true)
            .lifetime(Duration::from_secs(120)),
    )
    .map_err(|e| format!("test-server: {e}"))?;
    let url = server.url();
    let launch = Launch {
        url: &url,
        concurrency: options.in_flight,
        max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
        deadline: Duration::from_secs(60),
    };
    let mut process = BridgeProcess::spawn(&era_variant(spec, true)?, &launch)?;
    process.initialize(0)?;
    process.send(&line(&echo_request(1)))?;
    process.read_answer(1, 16)?;
    let _ = process.close();
    let posts: Vec<(Option<String>, Value)> = server
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .filter_map(|r| {
            let version = r.header("mcp-protocol-version").map(str::to_owned);
            r.json().map(|body| (version, body))
        })
        .collect();
    let count = |method: &str| posts.iter().filter(|(_, m)| m["method"] == method).count();
    let call = posts.iter().find(|(_, m)| m["method"] == "tools/call");
    let enveloped = call.is_some_and(|(version, m)| {
        version.as_deref() == Some("2026-07-28")
            && m.pointer("/params/_meta/io.modelcontextprotocol~1protocolVersion")
                == Some(&Value::from("2026-07-28"))
    });
    if count("initialize") == 0 && count("server/discover") >= 1 && enveloped {
        Ok(())
    } else {
        Err(format!(
            "does not translate to a 2026-07-28 server: {} initialize, {} server/discover \
             upstream, the call {}",
            count("initialize"),
            count("server/discover"),
            if enveloped {
                "enveloped"
            } else {
                "without the 2026 header and envelope"
            }
        ))
    }
}

/// The `eras` case: case A and case B of every bridge, each beside its floor, in one run.
/// Case A: `--protocol legacy` against the usual test-server, floor a direct 2025-era
/// client. Case B: `--protocol auto` against a test-server `--modern` (the host sends
/// `initialize`; the bridge probes, answers it itself and translates each call), floor a
/// direct client that sends what a 2026-07-28 client sends: the envelope in `_meta` and
/// the headers.
pub(crate) fn eras(
    options: &Options,
    server: &Server,
    failures: &mut Vec<Failure>,
) -> Result<Vec<LatencyRow>, String> {
    let modern = Server::start_modern()?;
    let mut contenders = vec![
        Contender::direct(
            FLOOR_A,
            Direct::new(&server.url, options.deadline)?,
            echo_request,
        ),
        Contender::direct(
            FLOOR_B,
            Direct::new(&modern.url, options.deadline)?.with_headers(&MODERN_ECHO_HEADERS),
            modern_echo_request,
        ),
    ];
    let mut specs = Vec::new();
    for spec in &options.bridges {
        for (is_modern, target, floor) in [(false, server, FLOOR_A), (true, &modern, FLOOR_B)] {
            let variant = era_variant(spec, is_modern)?;
            let checked = if is_modern {
                check_translates(spec, options)
            } else {
                Ok(())
            };
            let launch = options.launch(&target.url, DEFAULT_MAX_MESSAGE_BYTES);
            let process = checked
                .and_then(|()| BridgeProcess::spawn(&variant, &launch))
                .and_then(|mut process| {
                    process.initialize(0)?;
                    Ok(process)
                })
                .map_err(|error| fail(failures, "eras", &variant.name, error))
                .ok();
            contenders.push(Contender::bridge(variant.name.clone(), floor, process));
            specs.push(variant);
        }
    }
    let rows = measure(
        options,
        &[server, &modern],
        &mut contenders,
        "eras",
        failures,
    )?;
    close_bridges(processes_of(contenders), "eras", &specs, failures);
    Ok(rows)
}

/// Sequential round trips, contenders taking turns batch by batch (after a warm-up each):
/// a bridge that fails is dropped (killed) and left out of the table; a floor failing ends
/// the case.
fn measure(
    options: &Options,
    servers: &[&Server],
    contenders: &mut [Contender],
    case: &str,
    failures: &mut Vec<Failure>,
) -> Result<Vec<LatencyRow>, String> {
    let runtime = current_thread()?;
    let mut next_id = 1u64;
    let mut round_trip = |contender: &mut Contender| -> Result<Duration, String> {
        let id = next_id;
        next_id += 1;
        let request = (contender.request)(id);
        match &mut contender.who {
            Who::Direct(direct) => {
                let body = Bytes::from(request);
                let start = Instant::now();
                runtime.block_on(direct.call(id, body))?;
                Ok(start.elapsed())
            }
            Who::Bridge(process) => {
                let line = line(&request);
                let process = process.as_mut().ok_or("gone")?;
                let start = Instant::now();
                process.send(&line)?;
                process.read_answer(id, 4)?;
                Ok(start.elapsed())
            }
        }
    };
    let mut drop_bridge = |contender: &mut Contender, error: String| -> Result<(), String> {
        match &mut contender.who {
            Who::Direct(_) => Err(error),
            Who::Bridge(process) => {
                *process = None;
                fail(failures, case, &contender.name, error);
                Ok(())
            }
        }
    };
    for contender in contenders.iter_mut() {
        for _ in 0..options.warmup {
            if !contender.live() {
                break;
            }
            if let Err(error) = round_trip(contender) {
                drop_bridge(contender, error)?;
            }
        }
    }
    let count = contenders.len();
    let mut samples = vec![Vec::with_capacity(options.requests); count];
    let mut driver_ns = vec![0u64; count];
    let mut switches = vec![Some(0u64); count];
    let me = std::process::id();
    let switches_of = |contender: &Contender| match &contender.who {
        Who::Direct(_) => pid_context_switches(me),
        Who::Bridge(process) => process.as_ref().and_then(BridgeProcess::context_switches),
    };
    let cpu_before: Vec<Option<f64>> = contenders
        .iter()
        .map(|c| c.process().and_then(BridgeProcess::cpu_seconds))
        .collect();
    let servers_cpu = || -> Option<f64> { servers.iter().map(|s| s.cpu_seconds()).sum() };
    let server_before = servers_cpu();
    for batch in 0..options.requests.div_ceil(options.batch) {
        let n = options.batch.min(options.requests - batch * options.batch);
        for (at, contender) in contenders.iter_mut().enumerate() {
            if !contender.live() {
                continue;
            }
            let switches_before = switches_of(contender);
            let before = driver_cpu_ns();
            for _ in 0..n {
                match round_trip(contender) {
                    Ok(took) => {
                        samples[at].push(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX));
                    }
                    Err(error) => {
                        drop_bridge(contender, error)?;
                        break;
                    }
                }
            }
            driver_ns[at] += driver_cpu_ns().saturating_sub(before);
            let switched = switches_of(contender)
                .zip(switches_before)
                .map(|(after, before)| after.saturating_sub(before));
            switches[at] = switches[at].zip(switched).map(|(a, b)| a + b);
        }
    }
    let server_cpu = cpu_delta(server_before, servers_cpu());
    let requests = options.requests as f64;
    let mut rows = Vec::with_capacity(count);
    for (at, samples) in samples.into_iter().enumerate() {
        let contender = &contenders[at];
        let driver_us = driver_ns[at] as f64 / 1e3 / requests;
        let process_us = match &contender.who {
            Who::Direct(_) => Some(driver_us),
            Who::Bridge(None) => continue,
            Who::Bridge(Some(process)) => {
                cpu_delta(cpu_before[at], process.cpu_seconds()).map(|s| s * 1e6 / requests)
            }
        };
        rows.push(LatencyRow {
            name: contender.name.clone(),
            floor: contender.floor.clone(),
            dist: Dist::new(samples),
            driver_cpu_us: driver_us,
            process_cpu_us: process_us,
            switches: switches[at].map(|n| n as f64 / requests),
        });
    }
    if let Some(total) = server_cpu {
        eprintln!(
            "e2e: {case}: server CPU {:.1} µs per round trip (all contenders)",
            total * 1e6 / (requests * count as f64)
        );
    }
    Ok(rows)
}
