//! The figures of one run: markdown tables on stdout, targets checked, and a JSON file for
//! plots (`--json`).

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{Value, json};

use crate::Options;

/// `after - before` when both were read.
pub(crate) fn cpu_delta(before: Option<f64>, after: Option<f64>) -> Option<f64> {
    Some(after? - before?)
}

/// Sorted samples, ns.
#[derive(Debug, Clone)]
pub(crate) struct Dist {
    sorted_ns: Vec<u64>,
}

impl Dist {
    pub(crate) fn new(mut samples_ns: Vec<u64>) -> Self {
        samples_ns.sort_unstable();
        Self {
            sorted_ns: samples_ns,
        }
    }

    /// The `p`-th percentile (nearest rank), µs.
    pub(crate) fn pct_us(&self, p: f64) -> f64 {
        let n = self.sorted_ns.len();
        if n == 0 {
            return f64::NAN;
        }
        let rank = (p / 100.0 * n as f64).ceil();
        // `rank` is in 0..=n: a valid index after the clamp.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let index = (rank as usize).clamp(1, n) - 1;
        self.sorted_ns[index] as f64 / 1e3
    }

    fn mean_us(&self) -> f64 {
        let sum: u64 = self.sorted_ns.iter().sum();
        sum as f64 / self.sorted_ns.len().max(1) as f64 / 1e3
    }

    /// 1001 quantiles (0 %, 0.1 %, …, 100 %), µs: a CDF to plot.
    fn cdf_us(&self) -> Vec<f64> {
        (0..=1000)
            .map(|i| self.pct_us(f64::from(i) / 10.0))
            .collect()
    }
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => f64::midpoint(sorted[n / 2 - 1], sorted[n / 2]),
    }
}

/// Start-up times of one process kind.
#[derive(Debug, Clone)]
pub(crate) struct StartupRow {
    name: String,
    first_ms: Vec<f64>,
    exit_ms: Option<Vec<f64>>,
}

impl StartupRow {
    pub(crate) fn new(name: &str, first_ms: &[f64], exit_ms: Option<&[f64]>) -> Self {
        let sorted = |values: &[f64]| {
            let mut values = values.to_vec();
            values.sort_by(f64::total_cmp);
            values
        };
        Self {
            name: name.to_owned(),
            first_ms: sorted(first_ms),
            exit_ms: exit_ms.map(sorted),
        }
    }

    fn median(&self) -> f64 {
        median(&self.first_ms)
    }
}

/// Sequential round trips of one contender.
#[derive(Debug, Clone)]
pub(crate) struct LatencyRow {
    pub(crate) name: String,
    /// The name of the row this one is compared with (its direct floor); `None` for a floor.
    pub(crate) floor: Option<String>,
    pub(crate) dist: Dist,
    /// CPU of this (driver) process per round trip, µs.
    pub(crate) driver_cpu_us: f64,
    /// CPU of the client per round trip, µs: the bridge process, or the driver for the floor.
    pub(crate) process_cpu_us: Option<f64>,
    /// Context switches of the client's threads per round trip (the bridge's, or this
    /// process's for the floor).
    pub(crate) switches: Option<f64>,
}

/// One timed pass of the throughput case.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pass {
    pub(crate) took: Duration,
    /// CPU seconds of the client: the bridge, or this process for the floor.
    pub(crate) process_cpu: Option<f64>,
    pub(crate) driver_cpu: Option<f64>,
    pub(crate) server_cpu: Option<f64>,
    /// Context switches of the client's threads.
    pub(crate) switches: Option<u64>,
}

/// Rounds of the throughput case for one contender.
#[derive(Debug, Clone)]
pub(crate) struct ThroughputRow {
    name: String,
    rates: Vec<f64>,
    requests: u64,
    /// Sums over the rounds, seconds (`None` once one round could not be read).
    process_cpu: Option<f64>,
    driver_cpu: Option<f64>,
    server_cpu: Option<f64>,
    switches: Option<u64>,
}

impl ThroughputRow {
    pub(crate) fn new(name: String) -> Self {
        Self {
            name,
            rates: Vec::new(),
            requests: 0,
            process_cpu: Some(0.0),
            driver_cpu: Some(0.0),
            server_cpu: Some(0.0),
            switches: Some(0),
        }
    }

    pub(crate) fn add(&mut self, requests: u64, pass: &Pass) {
        self.rates.push(requests as f64 / pass.took.as_secs_f64());
        self.requests += requests;
        let add = |sum: Option<f64>, more: Option<f64>| Some(sum? + more?);
        self.process_cpu = add(self.process_cpu, pass.process_cpu);
        self.driver_cpu = add(self.driver_cpu, pass.driver_cpu);
        self.server_cpu = add(self.server_cpu, pass.server_cpu);
        self.switches = self.switches.zip(pass.switches).map(|(a, b)| a + b);
    }

    fn rate(&self) -> f64 {
        median(&self.rates)
    }

    /// A sum over the rounds per request, µs.
    fn per_request_us(&self, seconds: Option<f64>) -> Option<f64> {
        seconds.map(|s| s * 1e6 / self.requests.max(1) as f64)
    }

    fn switches_per_request(&self) -> Option<f64> {
        self.switches
            .map(|n| n as f64 / self.requests.max(1) as f64)
    }

    fn is_direct(&self) -> bool {
        self.name.starts_with("direct")
    }
}

/// One large answer through one contender.
#[derive(Debug, Clone)]
pub(crate) struct TransferRow {
    pub(crate) case: String,
    pub(crate) name: String,
    /// From writing the request to the end of the answer.
    pub(crate) time: Duration,
    /// Lines read, the answer included (bridges only).
    pub(crate) lines: Option<u64>,
    /// Bytes read: lines without their LF for a bridge, the HTTP body for the floor.
    pub(crate) bytes: u64,
    /// `VmHWM` once started and initialized, KiB.
    pub(crate) rss_ready_kib: Option<u64>,
    /// `VmHWM` after the answer, just before stdin closes, KiB.
    pub(crate) rss_peak_kib: Option<u64>,
    /// CPU seconds of the client (the bridge, or this process for the floor).
    pub(crate) cpu: Option<f64>,
    pub(crate) server_cpu: Option<f64>,
}

/// A bridge that failed a case: it is left out of that case's table.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub(crate) case: String,
    pub(crate) bridge: String,
    pub(crate) error: String,
}

/// Everything one run measured.
#[derive(Debug)]
pub(crate) struct Report {
    command: String,
    server_url: String,
    bridges: Vec<(String, String)>,
    machine: Machine,
    load_start: String,
    load_end: String,
    spawns: usize,
    requests: usize,
    warmup: usize,
    batch: usize,
    throughput_requests: u64,
    in_flight: usize,
    rounds: usize,
    pub(crate) startup: Vec<StartupRow>,
    pub(crate) latency: Vec<LatencyRow>,
    /// The `eras` case: each bridge in case A and in case B, beside their floors.
    pub(crate) eras: Vec<LatencyRow>,
    pub(crate) throughput: Vec<ThroughputRow>,
    pub(crate) transfers: Vec<TransferRow>,
    pub(crate) failures: Vec<Failure>,
}

#[derive(Debug)]
struct Machine {
    nproc: usize,
    cpu: String,
    kernel: String,
    rustc: String,
    mem: String,
}

impl Machine {
    fn read() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
            .map_or("?", |(_, model)| model.trim())
            .to_owned();
        let rustc = std::process::Command::new(std::env::var("RUSTC").unwrap_or("rustc".into()))
            .arg("--version")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map_or_else(|| "?".to_owned(), |v| v.trim().to_owned());
        let mem = std::fs::read_to_string("/proc/meminfo")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|kb| kb.trim().strip_suffix("kB")?.trim().parse::<u64>().ok())
            .map_or_else(
                || "? RAM".to_owned(),
                |kib| format!("{:.0} GiB RAM", kib as f64 / 1024.0 / 1024.0),
            );
        Self {
            nproc: std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
            cpu,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map_or_else(|_| "?".to_owned(), |k| k.trim().to_owned()),
            rustc,
            mem,
        }
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or_else(|| "—".to_owned(), |k| format!("{:.1}", k as f64 / 1024.0))
}

fn opt(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "?".to_owned(), |v| format!("{v:.decimals$}"))
}

fn verdict(met: bool) -> &'static str {
    if met { "**met**" } else { "**not met**" }
}

/// The overhead of `row` over its floor in `rows` at percentile `p`, µs.
fn overhead(rows: &[LatencyRow], row: &LatencyRow, p: f64) -> Option<f64> {
    let floor = rows.iter().find(|r| Some(&r.name) == row.floor.as_ref())?;
    Some(row.dist.pct_us(p) - floor.dist.pct_us(p))
}

/// One latency table: every row, with its overhead over its floor.
fn latency_table(out: &mut String, rows: &[LatencyRow]) {
    let _ = writeln!(
        out,
        "| contender | p50 µs | p90 µs | p99 µs | mean µs | overhead p50 µs | overhead p99 µs | client CPU µs/rt | client context switches/rt | driver CPU µs/rt |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for row in rows {
        let d = &row.dist;
        let shown =
            |p: f64| overhead(rows, row, p).map_or_else(|| "—".to_owned(), |o| format!("{o:+.1}"));
        let _ = writeln!(
            out,
            "| {} | {:.1} | {:.1} | {:.1} | {:.1} | {} | {} | {} | {} | {:.1} |",
            row.name,
            d.pct_us(50.0),
            d.pct_us(90.0),
            d.pct_us(99.0),
            d.mean_us(),
            shown(50.0),
            shown(99.0),
            opt(row.process_cpu_us, 1),
            opt(row.switches, 1),
            row.driver_cpu_us
        );
    }
}

fn latency_json(rows: &[LatencyRow]) -> Vec<Value> {
    rows.iter()
        .map(|r| {
            json!({
                "name": r.name, "floor": r.floor,
                "p50_us": r.dist.pct_us(50.0), "p90_us": r.dist.pct_us(90.0),
                "p99_us": r.dist.pct_us(99.0), "mean_us": r.dist.mean_us(),
                "overhead_p50_us": overhead(rows, r, 50.0),
                "overhead_p99_us": overhead(rows, r, 99.0),
                "client_cpu_us": r.process_cpu_us, "driver_cpu_us": r.driver_cpu_us,
                "client_context_switches": r.switches, "cdf_us": r.dist.cdf_us(),
            })
        })
        .collect()
}

/// 40 MB (decimal, as the target says) in KiB.
const RSS_TARGET_KIB: f64 = 40e6 / 1024.0;

impl Report {
    pub(crate) fn new(server_url: &str, options: &Options) -> Self {
        Self {
            command: std::env::args().collect::<Vec<_>>().join(" "),
            server_url: server_url.to_owned(),
            bridges: options
                .bridges
                .iter()
                .map(|b| (b.name.clone(), b.to_string()))
                .collect(),
            machine: Machine::read(),
            load_start: load_average(),
            load_end: String::new(),
            spawns: options.spawns,
            requests: options.requests,
            warmup: options.warmup,
            batch: options.batch,
            throughput_requests: options.throughput_requests,
            in_flight: options.in_flight,
            rounds: options.rounds,
            startup: Vec::new(),
            latency: Vec::new(),
            eras: Vec::new(),
            throughput: Vec::new(),
            transfers: Vec::new(),
            failures: Vec::new(),
        }
    }

    pub(crate) fn finish(&mut self) {
        self.load_end = load_average();
    }

    fn best_direct_rate(&self) -> Option<f64> {
        self.throughput
            .iter()
            .filter(|r| r.is_direct())
            .map(ThroughputRow::rate)
            .max_by(f64::total_cmp)
    }

    /// The tables, in markdown.
    #[allow(clippy::too_many_lines)]
    pub(crate) fn markdown(&self) -> String {
        let mut out = String::new();
        let m = &self.machine;
        let _ = writeln!(out, "\n## e2e results\n");
        let _ = writeln!(out, "- command: `{}`", self.command);
        let _ = writeln!(
            out,
            "- machine: nproc {}, {}, {}, Linux {}, {}; load average {} at start, {} at end",
            m.nproc, m.cpu, m.mem, m.kernel, m.rustc, self.load_start, self.load_end
        );
        let _ = writeln!(
            out,
            "- server: test-server at {} (own process)",
            self.server_url
        );
        for (name, command) in &self.bridges {
            let _ = writeln!(out, "- bridge {name}: `{command}`");
        }

        if !self.startup.is_empty() {
            let _ = writeln!(
                out,
                "\n### Start-up: spawn to the answer of `initialize` ({} spawns)\n",
                self.spawns
            );
            let _ = writeln!(
                out,
                "| process | median ms | min ms | max ms | exit after stdin EOF, median ms |\n| --- | ---: | ---: | ---: | ---: |"
            );
            for row in &self.startup {
                let _ = writeln!(
                    out,
                    "| {} | {:.2} | {:.2} | {:.2} | {} |",
                    row.name,
                    row.median(),
                    row.first_ms.first().copied().unwrap_or(f64::NAN),
                    row.first_ms.last().copied().unwrap_or(f64::NAN),
                    row.exit_ms
                        .as_ref()
                        .map_or_else(|| "—".to_owned(), |e| format!("{:.2}", median(e)))
                );
            }
        }

        if !self.latency.is_empty() {
            let _ = writeln!(
                out,
                "\n### Sequential round trip: `tools/call` of `echo` ({} per contender after {} \
                 warm-up, batches of {} taking turns)\n",
                self.requests, self.warmup, self.batch
            );
            latency_table(&mut out, &self.latency);
        }

        if !self.eras.is_empty() {
            let _ = writeln!(
                out,
                "\n### Protocol eras: the same round trip in case A (2025 host and server) and \
                 case B (2025 host, 2026-07-28 server: translated) ({} per contender after {} \
                 warm-up, batches of {} taking turns)\n",
                self.requests, self.warmup, self.batch
            );
            latency_table(&mut out, &self.eras);
            let _ = writeln!(
                out,
                "\nEach overhead is over the row's own floor: case A over a direct 2025-era client \
                 against test-server; case B over a direct client that sends what a 2026-07-28 \
                 client sends (the `_meta` envelope, `MCP-Protocol-Version`, `Mcp-Method`, \
                 `Mcp-Name`) to test-server `--modern`. The host of both is the same 2025-era \
                 driver (`initialize`, then `tools/call`); in case B the bridge probed with \
                 `server/discover` (a fresh `MCP_WRAPPER_AUTH_DIR`), answered `initialize` \
                 itself, and splices the envelope into each call."
            );
        }

        if let Some(best) = self.best_direct_rate() {
            let _ = writeln!(
                out,
                "\n### Throughput: {} requests in flight ({} rounds of {} requests per contender, \
                 contenders taking turns, after {} warm-up)\n",
                self.in_flight, self.rounds, self.throughput_requests, self.warmup
            );
            let _ = writeln!(
                out,
                "| contender | req/s, slowest–fastest round | **median req/s** | vs best direct | client CPU µs/req | client context switches/req | driver CPU µs/req | server CPU µs/req |\n| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
            );
            for row in &self.throughput {
                let low = row.rates.iter().copied().fold(f64::INFINITY, f64::min);
                let high = row.rates.iter().copied().fold(0.0, f64::max);
                let _ = writeln!(
                    out,
                    "| {} | {low:.0}–{high:.0} | **{:.0}** | {:.0} % | {} | {} | {} | {} |",
                    row.name,
                    row.rate(),
                    row.rate() / best * 100.0,
                    opt(row.per_request_us(row.process_cpu), 1),
                    opt(row.switches_per_request(), 2),
                    opt(row.per_request_us(row.driver_cpu), 1),
                    opt(row.per_request_us(row.server_cpu), 1)
                );
            }
            let _ = writeln!(
                out,
                "\nCPU per request over all rounds (utime+stime of `/proc/<pid>/stat`, 10 ms \
                 ticks). Client: the bridge process, or for the direct rows this process, which \
                 is then only the client. Driver: this process. Context switches: of the \
                 client's live threads (`/proc/<pid>/task/*/status`)."
            );
        }

        if !self.transfers.is_empty() {
            let _ = writeln!(out, "\n### Large answers\n");
            let _ = writeln!(
                out,
                "| case | contender | time s | MiB/s | lines | peak RSS once initialized MiB | **peak RSS MiB** | client CPU s | server CPU s |\n| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
            );
            for row in &self.transfers {
                let _ = writeln!(
                    out,
                    "| {} | {} | {:.2} | {:.0} | {} | {} | **{}** | {} | {} |",
                    row.case,
                    row.name,
                    row.time.as_secs_f64(),
                    row.bytes as f64 / 1024.0 / 1024.0 / row.time.as_secs_f64(),
                    row.lines.map_or_else(|| "—".to_owned(), |l| l.to_string()),
                    mib(row.rss_ready_kib),
                    mib(row.rss_peak_kib),
                    opt(row.cpu, 2),
                    opt(row.server_cpu, 2)
                );
            }
        }

        if !self.failures.is_empty() {
            let _ = writeln!(
                out,
                "\n### Failures (the bridge is left out of that case)\n\n| case | bridge | error |\n| --- | --- | --- |"
            );
            for f in &self.failures {
                let error: String = f.error.replace('|', "\\|").replace('\n', " ");
                let _ = writeln!(out, "| {} | {} | {error} |", f.case, f.bridge);
            }
        }

        let targets = self.targets();
        if !targets.is_empty() {
            let _ = writeln!(
                out,
                "\n### Targets\n\n| bridge | target | measured | verdict |\n| --- | --- | --- | --- |"
            );
            for (bridge, target, measured, met) in targets {
                let _ = writeln!(
                    out,
                    "| {bridge} | {target} | {measured} | {} |",
                    verdict(met)
                );
            }
        }
        out
    }

    /// (bridge, target, measured, met) for each bridge and each target measured.
    fn targets(&self) -> Vec<(String, &'static str, String, bool)> {
        let mut rows = Vec::new();
        for (name, _) in &self.bridges {
            if let Some((o50, o99)) =
                self.latency
                    .iter()
                    .find(|r| &r.name == name)
                    .and_then(|row| {
                        Some((
                            overhead(&self.latency, row, 50.0)?,
                            overhead(&self.latency, row, 99.0)?,
                        ))
                    })
            {
                rows.push((
                    name.clone(),
                    "overhead p50 ≤ 50 µs",
                    format!("{o50:+.1} µs"),
                    o50 <= 50.0,
                ));
                rows.push((
                    name.clone(),
                    "overhead p99 ≤ 250 µs",
                    format!("{o99:+.1} µs"),
                    o99 <= 250.0,
                ));
            }
            let era = |case: &str| {
                let prefix = format!("{name}, case {case} ");
                self.eras
                    .iter()
                    .find(|r| r.name.starts_with(&prefix))
                    .and_then(|row| overhead(&self.eras, row, 50.0))
            };
            if let (Some(a), Some(b)) = (era("A"), era("B")) {
                rows.push((
                    name.clone(),
                    "case B overhead p50 within 20 µs of case A's",
                    format!("{b:+.1} µs vs {a:+.1} µs ({:+.1} µs)", b - a),
                    b - a <= 20.0,
                ));
            }
            if let (Some(best), Some(row)) = (
                self.best_direct_rate(),
                self.throughput.iter().find(|r| &r.name == name),
            ) {
                let fraction = row.rate() / best;
                rows.push((
                    name.clone(),
                    "throughput ≥ 90 % of direct",
                    format!(
                        "{:.0} % ({:.0} / {best:.0} req/s)",
                        fraction * 100.0,
                        row.rate()
                    ),
                    fraction >= 0.9,
                ));
            }
            if let Some(row) = self.startup.iter().find(|r| &r.name == name) {
                rows.push((
                    name.clone(),
                    "start-up ≤ 10 ms",
                    format!("{:.2} ms (median)", row.median()),
                    row.median() <= 10.0,
                ));
            }
            for row in self
                .transfers
                .iter()
                .filter(|r| &r.name == name && r.case.starts_with("stream"))
            {
                let kib = row.rss_peak_kib.map_or(f64::NAN, |k| k as f64);
                rows.push((
                    name.clone(),
                    "peak RSS ≤ 40 MB while the stream flows",
                    format!(
                        "{:.1} MiB ({:.1} MB), {}",
                        kib / 1024.0,
                        kib * 1024.0 / 1e6,
                        row.case
                    ),
                    kib <= RSS_TARGET_KIB,
                ));
            }
        }
        rows
    }

    /// Everything, for plots.
    pub(crate) fn json(&self) -> Value {
        let m = &self.machine;
        json!({
            "command": self.command,
            "machine": {
                "nproc": m.nproc, "cpu": m.cpu, "kernel": m.kernel, "rustc": m.rustc,
                "memory": m.mem, "load_start": self.load_start, "load_end": self.load_end,
            },
            "server_url": self.server_url,
            "bridges": self.bridges.iter().map(|(n, c)| json!({"name": n, "command": c})).collect::<Vec<_>>(),
            "startup": self.startup.iter().map(|r| json!({
                "name": r.name, "median_ms": r.median(), "samples_ms": r.first_ms,
                "exit_ms": r.exit_ms,
            })).collect::<Vec<_>>(),
            "latency": latency_json(&self.latency),
            "eras": latency_json(&self.eras),
            "throughput": self.throughput.iter().map(|r| json!({
                "name": r.name, "in_flight": self.in_flight, "rates": r.rates,
                "median_rate": r.rate(), "requests": r.requests,
                "client_cpu_us": r.per_request_us(r.process_cpu),
                "driver_cpu_us": r.per_request_us(r.driver_cpu),
                "server_cpu_us": r.per_request_us(r.server_cpu),
                "client_context_switches": r.switches_per_request(),
            })).collect::<Vec<_>>(),
            "transfers": self.transfers.iter().map(|r| json!({
                "case": r.case, "name": r.name, "seconds": r.time.as_secs_f64(),
                "lines": r.lines, "bytes": r.bytes, "rss_ready_kib": r.rss_ready_kib,
                "rss_peak_kib": r.rss_peak_kib, "client_cpu_s": r.cpu,
                "server_cpu_s": r.server_cpu,
            })).collect::<Vec<_>>(),
            "failures": self.failures.iter().map(|f| json!({
                "case": f.case, "bridge": f.bridge, "error": f.error,
            })).collect::<Vec<_>>(),
            "targets": self.targets().into_iter().map(|(b, t, v, met)| json!({
                "bridge": b, "target": t, "measured": v, "met": met,
            })).collect::<Vec<_>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, floor: Option<&str>, samples_us: &[u64]) -> LatencyRow {
        LatencyRow {
            name: name.to_owned(),
            floor: floor.map(str::to_owned),
            dist: Dist::new(samples_us.iter().map(|us| us * 1000).collect()),
            driver_cpu_us: 0.0,
            process_cpu_us: None,
            switches: None,
        }
    }

    #[test]
    fn each_row_is_compared_with_its_own_floor() {
        let rows = [
            row("floor A", None, &[100]),
            row("floor B", None, &[110]),
            row("A", Some("floor A"), &[130]),
            row("B", Some("floor B"), &[150]),
        ];
        assert_eq!(overhead(&rows, &rows[2], 50.0), Some(30.0));
        assert_eq!(overhead(&rows, &rows[3], 50.0), Some(40.0));
        assert_eq!(overhead(&rows, &rows[0], 50.0), None);
        let mut out = String::new();
        latency_table(&mut out, &rows);
        assert!(out.contains("| B | 150.0 |"), "{out}");
        assert!(out.contains("| +40.0 | +40.0 |"), "{out}");
    }
}
