//! The GET stream and `resources/subscribe` of a 2025-era host, emulated on a 2026-07-28
//! server's `subscriptions/listen` (research notes `protocol-2026.md` §1.6, §4.2 item 7,
//! §4.6).
//!
//! A 2026 server has no GET stream and answers `resources/subscribe` with `-32601`; what it
//! has is one POST, `subscriptions/listen`, whose SSE answer stays open. A [`Listener`]
//! keeps one such stream open for the bridge, under a bridge id `"mwr:listen:<n>"`:
//!
//! - The filter ([`ListenFilter`]) is what the host may hear about: the list changes the
//!   server's capabilities promise, and the URIs the host subscribed to. A filter that asks
//!   nothing opens no stream. A changed filter closes the stream and opens another (closing
//!   is how a 2026 client ends a listen, §1.5).
//! - The stream opens with `notifications/subscriptions/acknowledged`: it is consumed, and
//!   what was asked but not granted is logged at INFO. Every other notification goes to the
//!   host unchanged, `_meta` and its `subscriptionId` included (2025 notifications allow
//!   `_meta`). The listen's own answer never reaches the host: the host asked for nothing.
//! - A graceful close (the result `{"resultType":"complete"}`) or a drop reopens the stream
//!   after a backoff of 1 s that doubles up to 30 s while streams keep ending young; after
//!   5 streams in a row that each lived under 30 s the listener gives up with a WARN (§4.6).
//!   Failed opens (no connection, 5xx, 429) are retried on the same backoff, without limit:
//!   a server that is down comes back, and its other requests fail loudly meanwhile.
//! - After a drop (or failed opens that followed a stream), the first ack of the new stream
//!   is followed by a synthetic
//!   `notifications/{tools,prompts,resources}/list_changed` (for what the filter asks) and
//!   `notifications/resources/updated` for each subscribed URI, so that the host re-lists
//!   and re-reads what it may have missed while no stream was open (our inference).
//! - A server that refuses the listen (a JSON-RPC error before any ack, or a 4xx) is logged
//!   once and not asked again: retrying would only repeat the refusal.
//! - The stream has no idle timeout and no total timeout: a quiet server is not a broken one,
//!   and keep-alive comments are only "encouraged" (§1.6, §4.6).

// The bridge wires this in (issue 16); until then only the tests use it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::HeaderMap;
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::sync::watch;
use tokio::task::AbortHandle;

use crate::client::Client;
use crate::error::{Error, display_chain};
use crate::forwarded::HeaderSource;
use crate::headers::RequestHeaders;
use crate::message::{JsonLine, Outgoing};
use crate::stdio::Output;

/// The notification that opens every listen stream (§1.6).
const ACKNOWLEDGED: &str = "notifications/subscriptions/acknowledged";

/// What the host hears about: the `params.notifications` filter of `subscriptions/listen`
/// (§1.6).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ListenFilter {
    /// `toolsListChanged`.
    pub(crate) tools: bool,
    /// `promptsListChanged`.
    pub(crate) prompts: bool,
    /// `resourcesListChanged`.
    pub(crate) resources: bool,
    /// `resourceSubscriptions`: the URIs of the host's `resources/subscribe`.
    pub(crate) resource_uris: Vec<String>,
}

impl ListenFilter {
    /// Whether the filter asks for nothing (then no stream is opened).
    pub(crate) fn is_empty(&self) -> bool {
        !self.tools && !self.prompts && !self.resources && self.resource_uris.is_empty()
    }

    /// The same filter with its URIs sorted and without repeats, so that two filters that
    /// ask the same compare equal and a repeated subscribe reopens nothing.
    fn normalized(mut self) -> Self {
        self.resource_uris.sort_unstable();
        self.resource_uris.dedup();
        self
    }
}

/// The `params.notifications` object of a listen request for `filter`, as JSON text:
/// `{"toolsListChanged":true,...,"resourceSubscriptions":[...]}`, naming only what is asked.
pub(crate) fn notifications_param(filter: &ListenFilter) -> String {
    let mut members = Vec::with_capacity(4);
    for (asked, key) in [
        (filter.tools, "toolsListChanged"),
        (filter.prompts, "promptsListChanged"),
        (filter.resources, "resourcesListChanged"),
    ] {
        if asked {
            members.push(format!("\"{key}\":true"));
        }
    }
    if !filter.resource_uris.is_empty() {
        // A string list always serialises.
        let uris = serde_json::to_string(&filter.resource_uris).unwrap_or_else(|_| "[]".into());
        members.push(format!("\"resourceSubscriptions\":{uris}"));
    }
    format!("{{{}}}", members.join(","))
}

/// Builds one listen request: the JSON-RPC request for the raw JSON id given, carrying the
/// 2026 `_meta` envelope and `params.notifications` ([`notifications_param`]), and its
/// extra headers (`Mcp-Method` and the rest of §1.1). Supplied by the bridge.
pub(crate) type MakeListen =
    Arc<dyn Fn(&ListenFilter, &str) -> (Outgoing, HeaderMap) + Send + Sync>;

/// How a [`Listener`] paces its reopens (§4.6); [`Default`] is the research's policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ListenTiming {
    /// The wait before the first reopen (1 s); it doubles while streams end young.
    pub(crate) backoff: Duration,
    /// The longest wait (30 s).
    pub(crate) max_backoff: Duration,
    /// A stream that ends before this age (30 s) ended young.
    pub(crate) short_lived: Duration,
    /// After this many young streams in a row (5) the listener gives up.
    pub(crate) max_short_lived: u32,
}

impl Default for ListenTiming {
    fn default() -> Self {
        Self {
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            short_lived: Duration::from_secs(30),
            max_short_lived: 5,
        }
    }
}

impl ListenTiming {
    /// The wait before the next open after `streak` young streams or failed opens in a row
    /// (0 after a stream that lived long): `backoff`, doubled per step, at most
    /// `max_backoff`.
    fn delay(&self, streak: u32) -> Duration {
        let doublings = streak.saturating_sub(1).min(16);
        self.backoff
            .saturating_mul(2u32.saturating_pow(doublings))
            .min(self.max_backoff)
    }
}

/// The bridge's listen stream (see the module docs): a task, ended when this handle is
/// dropped or [`stop`](Self::stop)ped.
#[derive(Debug)]
pub(crate) struct Listener {
    filter: watch::Sender<ListenFilter>,
    task: AbortHandle,
    /// Turns `true` when the task has ended, for whatever reason.
    done: watch::Receiver<bool>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Marks the listener done when the task ends, returns or is aborted.
struct DoneGuard(watch::Sender<bool>);

impl Drop for DoneGuard {
    fn drop(&mut self) {
        self.0.send_replace(true);
    }
}

impl Listener {
    /// Starts listening with `filter` (nothing is opened while it asks nothing), writing what
    /// the server sends to `output`, with the default [`ListenTiming`].
    pub(crate) fn spawn(
        client: Client,
        output: Output,
        make: MakeListen,
        filter: ListenFilter,
    ) -> Self {
        Self::spawn_with(client, output, make, filter, ListenTiming::default())
    }

    /// As [`spawn`](Self::spawn), paced by `timing`.
    pub(crate) fn spawn_with(
        client: Client,
        output: Output,
        make: MakeListen,
        filter: ListenFilter,
        timing: ListenTiming,
    ) -> Self {
        let (filter, filters) = watch::channel(filter.normalized());
        let (done_tx, done) = watch::channel(false);
        let task = tokio::spawn(async move {
            let _done = DoneGuard(done_tx);
            run(
                Run {
                    client,
                    output,
                    make,
                    timing,
                },
                filters,
            )
            .await;
        });
        Self {
            filter,
            task: task.abort_handle(),
            done,
        }
    }

    /// Listens for `filter` from now on: a filter that differs from the current one closes
    /// the stream and opens a new one (none if it asks nothing); the same filter changes
    /// nothing. A listener that has stopped stays stopped.
    pub(crate) fn set_filter(&self, filter: ListenFilter) {
        let filter = filter.normalized();
        self.filter.send_if_modified(|current| {
            if *current == filter {
                return false;
            }
            *current = filter;
            true
        });
    }

    /// Ends the task and closes its stream.
    pub(crate) fn stop(&self) {
        self.task.abort();
    }

    /// Whether the listener has stopped: stopped, given up, refused, or its output closed.
    pub(crate) fn is_stopped(&self) -> bool {
        *self.done.borrow()
    }

    /// Waits until the listener has stopped (see [`is_stopped`](Self::is_stopped)).
    #[cfg(test)]
    pub(crate) async fn stopped(&self) {
        let mut done = self.done.clone();
        // An error means the task is gone, which is stopped too.
        let _ = done.wait_for(|done| *done).await;
    }
}

/// What the task works with.
struct Run {
    client: Client,
    output: Output,
    make: MakeListen,
    timing: ListenTiming,
}

/// How one stream ended.
#[derive(Debug)]
enum Ended {
    /// The listen's result came: the server closed the stream gracefully.
    Closed,
    /// The stream broke, or ended without the result (or an error came after the ack): why,
    /// for the log.
    Dropped(String),
    /// No stream: the open failed in a way worth retrying (no connection, 5xx, 429).
    OpenFailed(Error),
    /// The server refused the listen: an error answer before any ack, or a 4xx.
    Refused(Refusal),
    /// The host's output is gone: nothing to listen for.
    OutputClosed,
}

/// Why the server refused the listen, for the log.
#[derive(Debug)]
struct Refusal {
    status: Option<u16>,
    code: Option<i64>,
    message: Option<String>,
}

/// Keeps a stream open for the current filter (see the module docs).
async fn run(run: Run, mut filters: watch::Receiver<ListenFilter>) {
    let mut opens: u64 = 0;
    // Young streams in a row, and failed opens in a row: each paces its own backoff.
    let mut young: u32 = 0;
    let mut failures: u32 = 0;
    // A stream dropped (or a stream was open before opens began to fail): the next ack is
    // followed by the synthetic notifications.
    let mut missed = false;
    let mut streamed = false;
    loop {
        let filter = filters.borrow_and_update().clone();
        if filter.is_empty() {
            tracing::debug!("nothing to listen for; no subscriptions/listen stream");
            if filters.changed().await.is_err() {
                return;
            }
            continue;
        }
        opens = opens.saturating_add(1);
        let id = format!("\"mwr:listen:{opens}\"");
        let opened = Instant::now();
        let ended = tokio::select! {
            ended = stream(&run, &filter, &id, &mut missed) => ended,
            changed = filters.changed() => {
                if changed.is_err() {
                    return;
                }
                tracing::debug!("the listen filter changed; reopening subscriptions/listen");
                (young, failures) = (0, 0);
                continue;
            }
        };
        let lived = opened.elapsed();
        let wait = match ended {
            Ended::OutputClosed => return,
            Ended::Refused(refusal) => {
                tracing::warn!(
                    status = refusal.status,
                    code = refusal.code,
                    message = refusal.message.as_deref(),
                    "the server refused subscriptions/listen; the host gets no list_changed or resources/updated notifications"
                );
                return;
            }
            Ended::OpenFailed(e) => {
                // No stream while the server is unreachable: what changed meanwhile is missed.
                missed |= streamed;
                failures = failures.saturating_add(1);
                let wait = run.timing.delay(failures);
                if failures == 1 {
                    tracing::warn!(error = %display_chain(&e), ?wait, "opening subscriptions/listen failed; retrying");
                } else {
                    tracing::debug!(error = %display_chain(&e), attempt = failures, ?wait, "opening subscriptions/listen failed");
                }
                wait
            }
            Ended::Closed | Ended::Dropped(_) => {
                streamed = true;
                failures = 0;
                young = if lived < run.timing.short_lived {
                    young.saturating_add(1)
                } else {
                    0
                };
                if young >= run.timing.max_short_lived {
                    tracing::warn!(
                        streams = young,
                        "subscriptions/listen ended {young} times in a row, each within {:?}; giving up on it",
                        run.timing.short_lived
                    );
                    return;
                }
                let wait = run.timing.delay(young);
                match ended {
                    Ended::Dropped(why) => {
                        missed = true;
                        tracing::info!(error = %why, ?wait, "the subscriptions/listen stream dropped; reopening");
                    }
                    _ => {
                        tracing::debug!(?wait, "the server closed subscriptions/listen; reopening");
                    }
                }
                wait
            }
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            changed = filters.changed() => {
                if changed.is_err() {
                    return;
                }
                (young, failures) = (0, 0);
            }
        }
    }
}

/// Opens one stream for `filter` under `id` and serves it until it ends.
async fn stream(run: &Run, filter: &ListenFilter, id: &str, missed: &mut bool) -> Ended {
    let (message, extra) = (run.make)(filter, id);
    let ctx = RequestHeaders::default().with_extra(extra);
    let headers: HeaderSource = Arc::new(move || ctx.clone());
    let mut response = match run.client.forward_long_lived(message, headers).await {
        Ok(response) => response,
        Err(e) => return open_failed(e),
    };
    let messages = response.messages();
    let mut acked = false;
    while let Some(item) = messages.next_routed().await {
        let routed = match item {
            Ok(routed) => routed,
            Err(e) => return Ended::Dropped(display_chain(&e)),
        };
        let peeked = Peeked::of(routed.line.bytes());
        if !routed.answers.is_empty() {
            // The listen's own answer: the host asked for nothing, so it never sees it.
            return match peeked.as_ref().and_then(Peeked::error) {
                None => Ended::Closed,
                Some(error) if !acked => Ended::Refused(Refusal {
                    status: None,
                    code: Some(error.code),
                    message: error.message,
                }),
                Some(error) => Ended::Dropped(format!(
                    "subscriptions/listen ended with error {}",
                    error.code
                )),
            };
        }
        match &peeked {
            Some(p) if p.method.as_deref() == Some(ACKNOWLEDGED) => {
                if acked {
                    tracing::debug!("dropping a second subscriptions/acknowledged");
                    continue;
                }
                acked = true;
                log_grant(filter, p.grant());
                if std::mem::take(missed) && !catch_up(&run.output, filter).await {
                    return Ended::OutputClosed;
                }
                continue;
            }
            Some(Peeked { id: Some(_), .. }) => {
                // 2026 servers send no requests (§1.3); the host's answer would have nowhere
                // to go.
                tracing::warn!("dropping a server request on subscriptions/listen");
                continue;
            }
            _ => {}
        }
        if !acked {
            tracing::debug!("a notification came before subscriptions/acknowledged");
        }
        if !run.output.write(routed.line).await {
            return Ended::OutputClosed;
        }
    }
    Ended::Dropped(display_chain(&Error::StreamEnded))
}

/// What a failed open means: a refusal for a 4xx other than 408 and 429 (asking again
/// would be refused again), else a failure to retry.
fn open_failed(error: Error) -> Ended {
    let Error::Status(status) = &error else {
        return Ended::OpenFailed(error);
    };
    let code = status.status.as_u16();
    if !status.status.is_client_error() || matches!(code, 408 | 429) {
        return Ended::OpenFailed(error);
    }
    let answer = Peeked::of(&status.body).and_then(|p| p.error());
    Ended::Refused(Refusal {
        status: Some(code),
        code: answer.as_ref().map(|e| e.code),
        message: answer.and_then(|e| e.message),
    })
}

/// Logs what the ack granted, at INFO when something asked was not granted.
fn log_grant(filter: &ListenFilter, granted: Option<Grant>) {
    let granted = granted.unwrap_or_default();
    let (refused, uris) = not_granted(filter, &granted);
    if refused.is_empty() && uris == 0 {
        tracing::debug!("subscriptions/listen acknowledged in full");
    } else {
        // URIs are counted, never named: one may carry a token in its query.
        tracing::info!(
            not_granted = refused.join(", "),
            resource_subscriptions_not_granted = uris,
            "subscriptions/listen acknowledged; the server does not send everything asked"
        );
    }
}

/// The filter kinds asked but not granted, and how many asked URIs were not granted.
fn not_granted(filter: &ListenFilter, granted: &Grant) -> (Vec<&'static str>, usize) {
    let mut refused = Vec::new();
    for (asked, granted, key) in [
        (filter.tools, granted.tools, "toolsListChanged"),
        (filter.prompts, granted.prompts, "promptsListChanged"),
        (filter.resources, granted.resources, "resourcesListChanged"),
    ] {
        if asked && granted != Some(true) {
            refused.push(key);
        }
    }
    let uris = filter
        .resource_uris
        .iter()
        .filter(|uri| !granted.resource_uris.contains(uri))
        .count();
    (refused, uris)
}

/// Writes the host the notifications that make it re-list and re-read what it may have
/// missed while no stream was open (§4.2 item 7). False once the output is gone.
async fn catch_up(output: &Output, filter: &ListenFilter) -> bool {
    for line in catch_up_lines(filter) {
        if !output.write(JsonLine::new(line)).await {
            return false;
        }
    }
    true
}

/// The lines [`catch_up`] writes for `filter`.
fn catch_up_lines(filter: &ListenFilter) -> Vec<Bytes> {
    let mut lines = Vec::new();
    for (asked, kind) in [
        (filter.tools, "tools"),
        (filter.prompts, "prompts"),
        (filter.resources, "resources"),
    ] {
        if asked {
            lines.push(Bytes::from(format!(
                r#"{{"jsonrpc":"2.0","method":"notifications/{kind}/list_changed"}}"#
            )));
        }
    }
    for uri in &filter.resource_uris {
        let message = serde_json::json!({"jsonrpc": "2.0",
            "method": "notifications/resources/updated", "params": {"uri": uri}});
        lines.push(Bytes::from(message.to_string()));
    }
    lines
}

/// The parts of a message on the listen stream that decide what to do with it; `params`
/// and `error` are read only when needed, so that an odd shape there hides nothing else.
#[derive(Deserialize)]
struct Peeked<'a> {
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(default)]
    method: Option<String>,
    #[serde(borrow, default)]
    params: Option<&'a RawValue>,
    #[serde(borrow, default)]
    error: Option<&'a RawValue>,
}

impl<'a> Peeked<'a> {
    /// `bytes` read as one message; `None` when it is not one (a batch, say).
    fn of(bytes: &'a [u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }

    /// The error of an error response, if it has the JSON-RPC shape.
    fn error(&self) -> Option<ErrorObject> {
        serde_json::from_str(self.error?.get()).ok()
    }

    /// The granted filter of an ack (`params.notifications`), if it has the expected shape.
    fn grant(&self) -> Option<Grant> {
        #[derive(Deserialize)]
        struct AckParams {
            notifications: Grant,
        }
        let params: AckParams = serde_json::from_str(self.params?.get()).ok()?;
        Some(params.notifications)
    }
}

/// The granted filter of an ack.
#[derive(Deserialize, Default)]
struct Grant {
    #[serde(default, rename = "toolsListChanged")]
    tools: Option<bool>,
    #[serde(default, rename = "promptsListChanged")]
    prompts: Option<bool>,
    #[serde(default, rename = "resourcesListChanged")]
    resources: Option<bool>,
    #[serde(default, rename = "resourceSubscriptions")]
    resource_uris: Vec<String>,
}

#[derive(Deserialize)]
struct ErrorObject {
    code: i64,
    #[serde(default)]
    message: Option<String>,
}

#[cfg(test)]
mod tests {
    use std::future::Future;

    use serde_json::{Value, json};
    use test_server::{ListenEnd, RecordedRequest, Scenario, TestServer};
    use tokio::io::{AsyncBufReadExt as _, BufReader, DuplexStream, Lines};

    use super::*;
    use crate::config::ClientConfig;
    use crate::modern_headers::modern_headers;
    use crate::stdio::spawn_async_writer;

    /// The bound on every wait.
    const BOUND: Duration = Duration::from_secs(20);

    async fn bounded<F: Future>(what: &str, future: F) -> F::Output {
        match tokio::time::timeout(BOUND, future).await {
            Ok(output) => output,
            Err(_) => panic!("timed out waiting for {what}"),
        }
    }

    /// Waits until `done` holds (server state has no event to await, so it is polled).
    async fn until(what: &str, done: impl Fn() -> bool) {
        bounded(what, async {
            while !done() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
    }

    fn quick() -> ListenTiming {
        ListenTiming {
            backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(40),
            ..ListenTiming::default()
        }
    }

    /// What the bridge's `MakeListen` does: the envelope and the headers derived from it.
    fn make() -> MakeListen {
        Arc::new(|filter, id| {
            let json = format!(
                r#"{{"jsonrpc":"2.0","id":{id},"method":"subscriptions/listen","params":{{"_meta":{{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{{}}}},"notifications":{}}}}}"#,
                notifications_param(filter)
            );
            let message = Outgoing::new(Bytes::from(json)).expect("a valid request");
            let headers = modern_headers(&message, &[]).expect("modern headers");
            (message, headers)
        })
    }

    fn filter(tools: bool, prompts: bool, resources: bool, uris: &[&str]) -> ListenFilter {
        ListenFilter {
            tools,
            prompts,
            resources,
            resource_uris: uris.iter().map(ToString::to_string).collect(),
        }
    }

    /// The host's end of stdout.
    struct Host {
        lines: Lines<BufReader<DuplexStream>>,
    }

    impl Host {
        async fn next(&mut self) -> Value {
            let line = bounded("a line on stdout", self.lines.next_line())
                .await
                .expect("reading stdout")
                .expect("a line, not the end of stdout");
            serde_json::from_str(&line).expect("JSON on stdout")
        }

        /// Every line left, once the listener is gone (its output closes).
        async fn rest(mut self) -> Vec<Value> {
            let mut rest = Vec::new();
            while let Some(line) = bounded("the end of stdout", self.lines.next_line())
                .await
                .expect("reading stdout")
            {
                rest.push(serde_json::from_str(&line).expect("JSON on stdout"));
            }
            rest
        }
    }

    fn client(server: &TestServer, config: impl FnOnce(ClientConfig) -> ClientConfig) -> Client {
        Client::new(config(ClientConfig::new(server.url()))).expect("a client")
    }

    /// A listener with [`quick`] timing, and the host that reads its output.
    fn start(client: Client, filter: ListenFilter) -> (Listener, Host) {
        start_with(client, filter, Some(quick()))
    }

    /// As [`start`]; `None` takes the default timing ([`Listener::spawn`]).
    fn start_with(
        client: Client,
        filter: ListenFilter,
        timing: Option<ListenTiming>,
    ) -> (Listener, Host) {
        let (write, read) = tokio::io::duplex(1 << 16);
        let (output, _closed) = spawn_async_writer(Box::new(write), 1 << 20);
        let listener = match timing {
            Some(timing) => Listener::spawn_with(client, output, make(), filter, timing),
            None => Listener::spawn(client, output, make(), filter),
        };
        let host = Host {
            lines: BufReader::new(read).lines(),
        };
        (listener, host)
    }

    /// Waits until the server has opened its `n`th listen stream; returns the requests.
    async fn opened(server: &TestServer, n: usize) -> Vec<RecordedRequest> {
        until(&format!("listen stream {n}"), || {
            server.listen_requests().len() >= n
        })
        .await;
        let requests = server.listen_requests();
        assert_eq!(requests.len(), n, "no more opens than expected");
        requests
    }

    fn asked(request: &RecordedRequest) -> Value {
        request.json().expect("a JSON body")["params"]["notifications"].clone()
    }

    fn subscription(message: &Value) -> &Value {
        &message["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"]
    }

    #[test]
    fn notifications_param_names_what_is_asked() {
        assert_eq!(notifications_param(&ListenFilter::default()), "{}");
        assert_eq!(
            notifications_param(&filter(true, false, true, &["file:///a\"b"])),
            r#"{"toolsListChanged":true,"resourcesListChanged":true,"resourceSubscriptions":["file:///a\"b"]}"#
        );
        assert_eq!(
            notifications_param(&filter(false, true, false, &[])),
            r#"{"promptsListChanged":true}"#
        );
    }

    #[test]
    fn a_filter_is_empty_when_it_asks_nothing_and_compares_by_its_uri_set() {
        assert!(ListenFilter::default().is_empty());
        assert!(!filter(false, false, false, &["a"]).is_empty());
        assert_eq!(
            filter(true, false, false, &["b", "a", "b"]).normalized(),
            filter(true, false, false, &["a", "b"])
        );
    }

    #[test]
    fn the_backoff_doubles_from_its_base_up_to_its_cap() {
        let timing = ListenTiming::default();
        let waits: Vec<u64> = (0..8).map(|n| timing.delay(n).as_secs()).collect();
        assert_eq!(waits, [1, 1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(timing.delay(u32::MAX), Duration::from_secs(30));
    }

    #[test]
    fn what_was_asked_and_not_granted_is_named() {
        let asked = filter(true, true, true, &["a", "b"]);
        let ack = br#"{"jsonrpc":"2.0","method":"notifications/subscriptions/acknowledged","params":{"_meta":{"io.modelcontextprotocol/subscriptionId":"x"},"notifications":{"toolsListChanged":true,"promptsListChanged":false,"resourceSubscriptions":["b"]}}}"#;
        let grant = Peeked::of(ack).and_then(|p| p.grant()).expect("a grant");
        assert_eq!(
            not_granted(&asked, &grant),
            (vec!["promptsListChanged", "resourcesListChanged"], 1)
        );
        assert_eq!(not_granted(&asked, &Grant::default()).1, 2);
    }

    #[test]
    fn the_catch_up_asks_the_host_to_relist_and_reread_what_the_filter_names() {
        let lines: Vec<Value> = catch_up_lines(&filter(true, false, true, &["file:///a"]))
            .iter()
            .map(|l| serde_json::from_slice(l).expect("JSON"))
            .collect();
        assert_eq!(
            lines,
            [
                json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}),
                json!({"jsonrpc": "2.0", "method": "notifications/resources/list_changed"}),
                json!({"jsonrpc": "2.0", "method": "notifications/resources/updated",
                    "params": {"uri": "file:///a"}}),
            ]
        );
    }

    #[test]
    fn a_4xx_refuses_and_a_5xx_or_429_is_retried() {
        let status = |code: u16, body: &'static str| {
            Error::Status(Box::new(crate::error::StatusError {
                status: reqwest::StatusCode::from_u16(code).expect("a status"),
                body: Bytes::from_static(body.as_bytes()),
                retry_after: None,
            }))
        };
        let refused = open_failed(status(
            404,
            r#"{"jsonrpc":"2.0","id":"mwr:listen:1","error":{"code":-32601,"message":"Method not found","data":"x"}}"#,
        ));
        assert!(
            matches!(&refused, Ended::Refused(Refusal { status: Some(404), code: Some(-32601), message: Some(m) }) if m == "Method not found"),
            "{refused:?}"
        );
        assert!(matches!(
            open_failed(status(405, "")),
            Ended::Refused(Refusal { code: None, .. })
        ));
        for code in [429, 408, 500, 503] {
            assert!(matches!(
                open_failed(status(code, "")),
                Ended::OpenFailed(_)
            ));
        }
        assert!(matches!(
            open_failed(Error::StreamEnded),
            Ended::OpenFailed(_)
        ));
    }

    #[tokio::test]
    async fn the_ack_is_consumed_and_notifications_reach_the_host_in_order() {
        let server = TestServer::start(Scenario::default().sessions(true)).expect("a server");
        let asked_filter = filter(true, false, false, &["file:///b", "file:///a"]);
        let (_listener, mut host) = start(client(&server, |c| c), asked_filter);
        let requests = opened(&server, 1).await;
        assert_eq!(server.listen_bump(), 1);
        let tools = host.next().await;
        assert_eq!(
            tools["method"], "notifications/tools/list_changed",
            "the ack never reaches the host"
        );
        assert_eq!(subscription(&tools), "mwr:listen:1", "_meta is kept");
        let first = host.next().await;
        let second = host.next().await;
        assert_eq!(first["method"], "notifications/resources/updated");
        assert_eq!(
            (&first["params"]["uri"], &second["params"]["uri"]),
            (&json!("file:///a"), &json!("file:///b"))
        );

        let sent = &requests[0];
        assert_eq!(sent.method, "POST");
        assert_eq!(sent.header("mcp-method"), Some("subscriptions/listen"));
        assert_eq!(sent.header("mcp-protocol-version"), Some("2026-07-28"));
        assert_eq!(sent.header("mcp-session-id"), None);
        assert_eq!(sent.header("last-event-id"), None);
        let body = sent.json().expect("JSON");
        assert_eq!(body["id"], "mwr:listen:1");
        assert_eq!(
            asked(sent),
            json!({"toolsListChanged": true, "resourceSubscriptions": ["file:///a", "file:///b"]})
        );
    }

    #[tokio::test]
    async fn a_drop_reopens_and_the_host_is_told_to_relist() {
        let server = TestServer::start(Scenario::default()).expect("a server");
        let (_listener, mut host) = start(
            client(&server, |c| c),
            filter(true, true, false, &["file:///a"]),
        );
        opened(&server, 1).await;
        for (n, how) in [(2, ListenEnd::Eof), (3, ListenEnd::Reset)] {
            assert_eq!(server.listen_end(how), 1);
            opened(&server, n).await;
            let caught_up: Vec<Value> = [host.next().await, host.next().await, host.next().await]
                .into_iter()
                .collect();
            assert_eq!(
                caught_up,
                [
                    json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}),
                    json!({"jsonrpc": "2.0", "method": "notifications/prompts/list_changed"}),
                    json!({"jsonrpc": "2.0", "method": "notifications/resources/updated",
                        "params": {"uri": "file:///a"}}),
                ],
                "after {how:?}"
            );
            server.listen_bump();
            let live = host.next().await;
            assert_eq!(live["method"], "notifications/tools/list_changed");
            assert_eq!(subscription(&live), &json!(format!("mwr:listen:{n}")));
            host.next().await;
            host.next().await;
        }
    }

    #[tokio::test]
    async fn a_graceful_close_reopens_and_its_result_never_reaches_the_host() {
        let server = TestServer::start(Scenario::default()).expect("a server");
        let (_listener, mut host) = start(client(&server, |c| c), filter(true, false, false, &[]));
        opened(&server, 1).await;
        assert_eq!(server.listen_end(ListenEnd::Complete), 1);
        opened(&server, 2).await;
        server.listen_bump();
        let next = host.next().await;
        assert_eq!(
            subscription(&next),
            "mwr:listen:2",
            "no result and no catch-up before the new stream's notification: {next}"
        );
    }

    #[tokio::test]
    async fn failed_opens_after_a_stream_are_retried_and_the_host_told_to_relist() {
        let server = TestServer::start(Scenario::default()).expect("a server");
        let never = |c: ClientConfig| c.retry_policy(crate::retry::RetryPolicy::never());
        let (_listener, mut host) = start(client(&server, never), filter(true, false, false, &[]));
        opened(&server, 1).await;
        server.listen_fail_next(2);
        assert_eq!(server.listen_end(ListenEnd::Complete), 1);
        // Two opens refused with 503, then a stream.
        opened(&server, 4).await;
        assert_eq!(
            host.next().await,
            json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}),
            "no stream was open for a while"
        );
        server.listen_bump();
        assert_eq!(subscription(&host.next().await), "mwr:listen:4");
    }

    #[tokio::test]
    async fn five_young_streams_in_a_row_stop_it() {
        for how in [ListenEnd::Complete, ListenEnd::Eof] {
            let server = TestServer::start(Scenario::default().listen_end_after_ack(Some(how)))
                .expect("a server");
            let (listener, host) = start(client(&server, |c| c), filter(true, false, false, &[]));
            bounded("the listener to give up", listener.stopped()).await;
            assert!(listener.is_stopped());
            assert_eq!(server.listen_requests().len(), 5, "{how:?}");
            drop(listener);
            let rest = host.rest().await;
            let relists = match how {
                ListenEnd::Eof => 4,
                _ => 0,
            };
            assert_eq!(
                rest.len(),
                relists,
                "only catch-ups reach the host: {rest:?}"
            );
            assert!(
                rest.iter()
                    .all(|m| m["method"] == "notifications/tools/list_changed")
            );
        }
    }

    #[tokio::test]
    async fn set_filter_reopens_with_the_new_filter_and_an_empty_one_closes() {
        let server = TestServer::start(Scenario::default()).expect("a server");
        let (listener, mut host) = start(client(&server, |c| c), ListenFilter::default());
        listener.set_filter(filter(true, false, false, &[]));
        let requests = opened(&server, 1).await;
        assert_eq!(
            asked(&requests[0]),
            json!({"toolsListChanged": true}),
            "an empty filter opened nothing"
        );
        listener.set_filter(filter(true, false, false, &[]));
        listener.set_filter(filter(true, false, false, &["file:///x", "file:///w"]));
        let requests = opened(&server, 2).await;
        assert_eq!(
            asked(&requests[1]),
            json!({"toolsListChanged": true, "resourceSubscriptions": ["file:///w", "file:///x"]}),
            "the same filter again reopened nothing"
        );
        assert_eq!(requests[1].json().expect("JSON")["id"], "mwr:listen:2");
        server.listen_bump();
        let tools = host.next().await;
        assert_eq!(subscription(&tools), "mwr:listen:2");
        assert_eq!(host.next().await["params"]["uri"], "file:///w");
        assert_eq!(host.next().await["params"]["uri"], "file:///x");

        listener.set_filter(ListenFilter::default());
        listener.set_filter(filter(false, false, true, &[]));
        let requests = opened(&server, 3).await;
        assert_eq!(asked(&requests[2]), json!({"resourcesListChanged": true}));

        assert!(!listener.is_stopped());
        listener.stop();
        bounded("the listener to stop", listener.stopped()).await;
        listener.set_filter(filter(true, true, true, &[]));
        drop(listener);
        assert_eq!(host.rest().await, Vec::<Value>::new(), "nothing more");
        assert_eq!(
            server.listen_requests().len(),
            3,
            "a stopped listener stays stopped"
        );
    }

    #[tokio::test]
    async fn a_refused_listen_stops_without_a_retry() {
        let server = TestServer::start(Scenario::default().listen_refused(true)).expect("a server");
        let (listener, host) = start_with(
            client(&server, |c| c),
            filter(true, false, false, &[]),
            None,
        );
        bounded("the listener to stop", listener.stopped()).await;
        assert_eq!(server.listen_requests().len(), 1);
        drop(listener);
        assert_eq!(
            host.rest().await,
            Vec::<Value>::new(),
            "the error is not the host's"
        );
    }

    #[tokio::test]
    async fn the_idle_timeout_does_not_end_a_quiet_stream() {
        let server = TestServer::start(Scenario::default()).expect("a server");
        let idle = Duration::from_millis(100);
        let client = client(&server, |c| c.idle_timeout(idle));
        let (_listener, mut host) = start(client.clone(), filter(true, false, false, &[]));
        opened(&server, 1).await;
        // An ordinary request on the same client times out: the listen stream has been quiet
        // for longer than the idle timeout by then.
        let call = br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"sleep","arguments":{"ms":1000}}}"#;
        let error = client
            .forward(Bytes::from_static(call), &RequestHeaders::default())
            .await
            .expect_err("the call times out");
        assert!(error.is_timeout(), "{error}");
        server.listen_bump();
        let tools = host.next().await;
        assert_eq!(subscription(&tools), "mwr:listen:1", "the same stream");
        assert_eq!(server.listen_requests().len(), 1);
    }
}
