//! Round trip of one small `tools/call` through `jsonrpc_forward::Client::forward`, next to
//! bare HTTP clients sending the same bytes to the same loopback test-server in the same run.
//!
//! - `ours`: `Client::forward(message, &RequestHeaders::default())`, then every message of
//!   `Forwarded::messages()` drained (peek of the request, headers built per message, body
//!   decoded by content type, the answer checked as JSON and put on one line).
//! - `reqwest`: a bare `reqwest::Client` (same crate and version as ours) sending the same
//!   bytes with `Content-Type: application/json` and `Accept: application/json,
//!   text/event-stream`, the whole body read with `bytes()`.
//! - `hyper`: hyper-util's legacy pooled client, same headers, body collected.
//!
//! One test-server (its own thread and 2-worker runtime, `record_requests(false)`) serves all
//! three. Each contender runs on a client runtime of two flavours: `multi_thread` (2 workers,
//! what a bridge uses) and `current_thread`; every iteration is one `block_on`, for all
//! contenders alike.
//!
//! Before criterion's timing, a latency pass times single round trips (10 000 per contender,
//! in batches of 200, contenders taking turns batch by batch) and prints their p50, p90 and
//! p99, and the CPU time the client threads used per round trip (the median over batches, from
//! `/proc/self/task/*/schedstat`, test-server's threads left out), and the differences: the
//! CPU figure is hardly moved by other load on the machine, the wall-clock one is.
//! See `benches/README.md` for the results.

use std::hint::black_box;
use std::time::{Duration, Instant};

use benches::{echo_request, threads_cpu_ns};
use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use jsonrpc_forward::{Client, ClientConfig, RequestHeaders};
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use test_server::{Scenario, TestServer};
use tokio::runtime::Runtime;

const JSON: &str = "application/json";
const ACCEPT_JSON_SSE: &str = "application/json, text/event-stream";

/// Round trips per contender in the latency pass, unless `FORWARD_LATENCY_CALLS` says
/// otherwise (0 skips the pass, e.g. when profiling).
const LATENCY_CALLS: usize = 10_000;
/// The pass runs in batches of this many round trips, contenders taking turns batch by batch.
const BATCH: usize = 200;
/// Batches per contender run first and not kept.
const WARM_UP_BATCHES: usize = 5;

/// The three clients, each with its own connection pool to the same server.
struct Contenders {
    message: Bytes,
    ours: Client,
    ctx: RequestHeaders,
    reqwest: reqwest::Client,
    reqwest_url: reqwest::Url,
    hyper: HyperClient<HttpConnector, Full<Bytes>>,
    hyper_uri: hyper::Uri,
}

#[derive(Debug, Clone, Copy)]
enum Which {
    Ours,
    Reqwest,
    Hyper,
}

const ALL: [(Which, &str); 3] = [
    (Which::Ours, "ours"),
    (Which::Reqwest, "reqwest"),
    (Which::Hyper, "hyper"),
];

impl Contenders {
    /// Clients must be made inside a runtime: hyper-util's executor spawns on the current one.
    fn new(url: &str) -> Self {
        let ours = Client::new(ClientConfig::new(url)).expect("jsonrpc-forward client");
        let reqwest = reqwest::Client::builder()
            .tcp_nodelay(true)
            .build()
            .expect("reqwest client");
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let hyper = HyperClient::builder(TokioExecutor::new()).build(connector);
        Self {
            message: Bytes::from(echo_request(1)),
            ours,
            ctx: RequestHeaders::default(),
            reqwest,
            reqwest_url: reqwest::Url::parse(url).expect("URL"),
            hyper,
            hyper_uri: url.parse().expect("URI"),
        }
    }

    /// One round trip; returns what was received (the answer, or the whole body).
    async fn call(&self, which: Which) -> Bytes {
        match which {
            Which::Ours => {
                let mut forwarded = self
                    .ours
                    .forward(self.message.clone(), &self.ctx)
                    .await
                    .expect("forward");
                let mut answer = Bytes::new();
                while let Some(message) = forwarded.messages().next().await {
                    answer = message.expect("a valid answer");
                }
                answer
            }
            Which::Reqwest => self
                .reqwest
                .post(self.reqwest_url.clone())
                .header(CONTENT_TYPE, JSON)
                .header(ACCEPT, ACCEPT_JSON_SSE)
                .body(self.message.clone())
                .send()
                .await
                .and_then(reqwest::Response::error_for_status)
                .expect("reqwest send")
                .bytes()
                .await
                .expect("reqwest body"),
            Which::Hyper => {
                let request = hyper::Request::post(self.hyper_uri.clone())
                    .header(CONTENT_TYPE, JSON)
                    .header(ACCEPT, ACCEPT_JSON_SSE)
                    .body(Full::new(self.message.clone()))
                    .expect("request");
                let response = self.hyper.request(request).await.expect("hyper send");
                assert!(response.status().is_success(), "{}", response.status());
                response
                    .into_body()
                    .collect()
                    .await
                    .expect("hyper body")
                    .to_bytes()
            }
        }
    }
}

fn runtimes() -> [(&'static str, Runtime); 2] {
    let multi = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("multi-thread runtime");
    let current = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("current-thread runtime");
    [("multi_thread", multi), ("current_thread", current)]
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Times single round trips and the client's CPU time, contenders taking turns, and prints
/// percentiles of the wall time and the median CPU time per round trip.
fn latency_pass(flavour: &str, rt: &Runtime, contenders: &Contenders) {
    let calls = std::env::var("FORWARD_LATENCY_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(LATENCY_CALLS);
    if calls == 0 {
        return;
    }
    let batches = calls.div_ceil(BATCH);
    let mut wall: [Vec<Duration>; 3] = Default::default();
    // Nanoseconds of client CPU per round trip, one figure per batch.
    let mut cpu: [Vec<u64>; 3] = Default::default();
    rt.block_on(async {
        for batch in 0..WARM_UP_BATCHES + batches {
            for (i, (which, _)) in ALL.iter().enumerate() {
                let cpu_before = client_cpu_ns();
                let mut took = Vec::with_capacity(BATCH);
                for _ in 0..BATCH {
                    let start = Instant::now();
                    black_box(contenders.call(*which).await);
                    took.push(start.elapsed());
                }
                let cpu_used = client_cpu_ns() - cpu_before;
                if batch >= WARM_UP_BATCHES {
                    wall[i].extend(took);
                    cpu[i].push(cpu_used / BATCH as u64);
                }
            }
        }
    });
    let mut p50 = [0.0; 3];
    let mut cpu50 = [0.0; 3];
    for (i, (_, name)) in ALL.iter().enumerate() {
        wall[i].sort_unstable();
        cpu[i].sort_unstable();
        let w = &wall[i];
        p50[i] = micros(percentile(w, 50));
        #[allow(clippy::cast_precision_loss)] // nanoseconds per call stay far below 2^52
        let cpu_median = cpu[i][cpu[i].len() / 2] as f64 / 1e3;
        cpu50[i] = cpu_median;
        println!(
            "latency {flavour:<14} {name:<8} p50 {:6.1} µs  p90 {:6.1} µs  p99 {:6.1} µs  \
             client CPU {cpu_median:5.1} µs  ({} round trips)",
            p50[i],
            micros(percentile(w, 90)),
            micros(percentile(w, 99)),
            w.len(),
        );
    }
    println!(
        "latency {flavour:<14} ours minus reqwest: p50 {:+.1} µs, CPU {:+.1} µs; \
         ours minus hyper: p50 {:+.1} µs, CPU {:+.1} µs",
        p50[0] - p50[1],
        cpu50[0] - cpu50[1],
        p50[0] - p50[2],
        cpu50[0] - cpu50[2],
    );
}

/// CPU time of every thread of this process but test-server's.
fn client_cpu_ns() -> u64 {
    threads_cpu_ns("test-server").expect("/proc/self/task/*/schedstat")
}

fn forward(c: &mut Criterion) {
    let server =
        TestServer::start(Scenario::default().record_requests(false)).expect("test-server starts");
    let url = server.url();
    for (flavour, rt) in runtimes() {
        let contenders = rt.block_on(async { Contenders::new(&url) });
        // Equal work: ours hands on the answer exactly as the server sent it.
        let answers = ALL.map(|(which, _)| rt.block_on(contenders.call(which)));
        let answer: serde_json::Value = serde_json::from_slice(&answers[0]).expect("JSON");
        assert_eq!(answer["id"], 1);
        assert!(answer["result"]["content"].is_array(), "{answer}");
        assert_eq!(answers[0], answers[1], "ours and reqwest differ");
        assert_eq!(answers[1], answers[2], "reqwest and hyper differ");

        latency_pass(flavour, &rt, &contenders);

        let mut group = c.benchmark_group(format!("forward_echo/{flavour}"));
        for (which, name) in ALL {
            group.bench_function(name, |b| {
                b.iter(|| black_box(rt.block_on(contenders.call(which))));
            });
        }
        group.finish();
    }
}

criterion_group!(benches, forward);
criterion_main!(benches);
