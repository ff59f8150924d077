//! [`TestServer`]: the listener, its thread and runtime, and the state tests read.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::BuildHasher as _;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_rustls::TlsAcceptor;

use crate::listen::{ListenEnd, Listens};
use crate::record::RecordedRequest;
use crate::tls::{self, TlsMaterial};
use crate::{Fault, Scenario, conn};

/// The stack of the server's threads (reserved, not committed, until used).
const DEEP_STACK: usize = 256 << 20;

/// How long [`Drop`] waits for the server thread before leaving it behind.
const STOP_TIMEOUT: Duration = Duration::from_secs(3);

/// A loopback MCP server on its own thread and tokio runtime; it stops when dropped.
///
/// [`TestServer::start`] is synchronous, so it works the same from plain `#[test]`s,
/// `#[tokio::test]`s and benchmarks.
#[derive(Debug)]
pub struct TestServer {
    addr: SocketAddr,
    tls: Option<TlsMaterial>,
    state: Arc<State>,
    stop: Option<oneshot::Sender<()>>,
    /// In a mutex only so that `TestServer` is `Sync` (benches share it).
    stopped: Mutex<mpsc::Receiver<()>>,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Binds `127.0.0.1:0` and starts serving `scenario` on a new thread. TLS certificates,
    /// when asked for, are made here.
    ///
    /// # Errors
    ///
    /// When the port cannot be bound, the certificates cannot be made, or the thread or
    /// runtime cannot be started.
    pub fn start(scenario: Scenario) -> io::Result<Self> {
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let tls = if scenario.tls || scenario.require_client_cert {
            Some(tls::make(scenario.require_client_cert)?)
        } else {
            None
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("test-server-worker")
            // Messages nested far deeper than serde_json's default limit are parsed, dropped
            // and printed recursively: room for some hundred thousand levels.
            .thread_stack_size(DEEP_STACK)
            .enable_all()
            .build()?;
        let state = Arc::new(State::new(scenario));
        let (stop, stop_rx) = oneshot::channel();
        let (stopped_tx, stopped) = mpsc::channel();
        let acceptor = tls.as_ref().map(|t| t.acceptor.clone());
        let thread = std::thread::Builder::new()
            .name("test-server".to_owned())
            .spawn({
                let state = Arc::clone(&state);
                move || {
                    runtime.block_on(accept_loop(listener, state, acceptor, stop_rx));
                    runtime.shutdown_timeout(Duration::from_secs(1));
                    // The receiver is gone when the server was dropped without waiting.
                    let _ = stopped_tx.send(());
                }
            })?;
        Ok(Self {
            addr,
            tls,
            state,
            stop: Some(stop),
            stopped: Mutex::new(stopped),
            thread: Some(thread),
        })
    }

    /// The listening address (`127.0.0.1` and the port chosen at start).
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The MCP endpoint: `http://127.0.0.1:PORT/mcp/`, or `https://...` with TLS.
    #[must_use]
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}/mcp/", self.addr)
    }

    /// How many times a JSON-RPC request with this id reached the server, counted on arrival
    /// before any fault or session check (so a test can prove a tool never ran twice).
    ///
    /// The id is given as its JSON text: `"1"` for the number `1`, `"\"a\""` for the string
    /// `"a"`. Requests inside a batch count one each; notifications and responses do not
    /// count.
    #[must_use]
    pub fn hits(&self, id: &str) -> usize {
        self.state.hits(id)
    }

    /// How many TCP connections the server accepted (before any TLS handshake).
    #[must_use]
    pub fn accepts(&self) -> usize {
        self.state.accepts.load(Ordering::SeqCst)
    }

    /// Every request received so far, in arrival order (unless
    /// [`Scenario::record_requests`] turned recording off).
    #[must_use]
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.state.requests).clone()
    }

    /// Forgets every session id, so the next request that carries one gets 404.
    pub fn expire_sessions(&self) {
        lock(&self.state.sessions).clear();
    }

    /// Adds a fault at the end of the script (see [`Scenario::script`]).
    pub fn push_script(&self, fault: Fault) {
        lock(&self.state.script).push_back(fault);
    }

    /// Sends every open `subscriptions/listen` stream the notifications it was granted:
    /// `notifications/{tools,prompts,resources}/list_changed` and one
    /// `notifications/resources/updated` per subscribed URI, each carrying the
    /// `io.modelcontextprotocol/subscriptionId`. Returns how many streams were open.
    pub fn listen_bump(&self) -> usize {
        self.state.listens.bump()
    }

    /// Ends every open `subscriptions/listen` stream as `how` says; returns how many were
    /// open.
    pub fn listen_end(&self, how: ListenEnd) -> usize {
        self.state.listens.end(how)
    }

    /// Every `subscriptions/listen` POST received, in arrival order (kept even when
    /// [`Scenario::record_requests`] is off). A listen is recorded once its stream is open:
    /// a [`TestServer::listen_bump`] after it is seen here reaches that stream, after its
    /// ack.
    #[must_use]
    pub fn listen_requests(&self) -> Vec<RecordedRequest> {
        self.state.listens.requests()
    }

    /// Answers the next `n` `subscriptions/listen` POSTs with `503` (a `-32000` body): a
    /// server that is briefly unavailable.
    pub fn listen_fail_next(&self, n: u64) {
        self.state.listens.fail_next(n);
    }

    /// How many `subscriptions/listen` streams are being served now: answered, and neither
    /// ended by the server nor closed by the client.
    #[must_use]
    pub fn live_listens(&self) -> u64 {
        self.state.listens.live()
    }

    /// The test CA's certificate (PEM), to verify the server with.
    ///
    /// # Panics
    ///
    /// If the scenario has no TLS.
    #[must_use]
    pub fn ca_pem(&self) -> String {
        self.tls_material().ca_pem.clone()
    }

    /// A client certificate (PEM) issued by the test CA, for mutual TLS.
    ///
    /// # Panics
    ///
    /// If the scenario has no TLS.
    #[must_use]
    pub fn client_cert_pem(&self) -> String {
        self.tls_material().client_cert_pem.clone()
    }

    /// The private key (PKCS#8 PEM) of [`TestServer::client_cert_pem`].
    ///
    /// # Panics
    ///
    /// If the scenario has no TLS.
    #[must_use]
    pub fn client_key_pem(&self) -> String {
        self.tls_material().client_key_pem.clone()
    }

    fn tls_material(&self) -> &TlsMaterial {
        self.tls
            .as_ref()
            .expect("TLS material exists only for a Scenario with tls(true)")
    }
}

impl Drop for TestServer {
    /// Stops the server: its runtime shuts down (dropping every connection) and the thread
    /// is joined, waiting a few seconds at most.
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            // Fails only when the server already stopped (its lifetime ended).
            let _ = stop.send(());
        }
        let stopped = self
            .stopped
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        match stopped.recv_timeout(STOP_TIMEOUT) {
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                if let Some(thread) = self.thread.take() {
                    let _ = thread.join();
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                eprintln!("test-server: did not stop in {STOP_TIMEOUT:?}; leaving it behind");
            }
        }
    }
}

async fn accept_loop(
    listener: std::net::TcpListener,
    state: Arc<State>,
    tls: Option<TlsAcceptor>,
    mut stop: oneshot::Receiver<()>,
) {
    let listener = match TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("test-server: listener: {e}");
            return;
        }
    };
    let lifetime = tokio::time::sleep(state.scenario.lifetime);
    tokio::pin!(lifetime);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            () = &mut lifetime => {
                eprintln!("test-server: lifetime over, stopping");
                break;
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    state.accepts.fetch_add(1, Ordering::SeqCst);
                    tokio::spawn(conn::serve(stream, Arc::clone(&state), tls.clone()));
                }
                Err(e) => {
                    // E.g. out of file descriptors: wait instead of spinning.
                    eprintln!("test-server: accept: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What the connections share with the [`TestServer`] handle.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) scenario: Scenario,
    /// Arrivals per request id (its JSON text).
    hits: Mutex<HashMap<String, usize>>,
    /// Arrivals per [`Fault::times_key`].
    keyed_hits: Mutex<HashMap<String, usize>>,
    accepts: AtomicUsize,
    requests: Mutex<Vec<RecordedRequest>>,
    sessions: Mutex<HashSet<String>>,
    next_session: AtomicU64,
    script: Mutex<VecDeque<Fault>>,
    /// Randomly keyed, so that session ids differ between servers and runs.
    session_hasher: RandomState,
    /// Ids (JSON text) of the client responses received.
    replies: Mutex<HashSet<String>>,
    /// [`Fault::poll_closes`] streams by event id: resumptions left, and the answers.
    polls: Mutex<HashMap<String, (u32, Vec<serde_json::Value>)>>,
    next_poll: AtomicU64,
    /// GETs of the listen stream answered so far.
    listen_opens: AtomicU64,
    /// The 2026-07-28 `subscriptions/listen` streams.
    pub(crate) listens: Listens,
}

impl State {
    fn new(scenario: Scenario) -> Self {
        let script = scenario.script.iter().cloned().collect();
        Self {
            scenario,
            hits: Mutex::default(),
            keyed_hits: Mutex::default(),
            accepts: AtomicUsize::new(0),
            requests: Mutex::default(),
            sessions: Mutex::default(),
            next_session: AtomicU64::new(1),
            script: Mutex::new(script),
            session_hasher: RandomState::new(),
            replies: Mutex::default(),
            polls: Mutex::default(),
            next_poll: AtomicU64::new(1),
            listen_opens: AtomicU64::new(0),
            listens: Listens::default(),
        }
    }

    /// Counts one more GET of the listen stream; returns how many came before it.
    pub(crate) fn listen_open(&self) -> u64 {
        self.listen_opens.fetch_add(1, Ordering::SeqCst)
    }

    /// Notes a client response (to an elicitation, say) by its id's JSON text.
    pub(crate) fn replied(&self, id: &str) {
        lock(&self.replies).insert(id.to_owned());
    }

    pub(crate) fn has_replied(&self, id: &str) -> bool {
        lock(&self.replies).contains(id)
    }

    /// Keeps the answers of a polled stream; returns the event id that resumes it.
    pub(crate) fn start_poll(&self, closes: u32, answers: Vec<serde_json::Value>) -> String {
        let id = format!("poll-{}", self.next_poll.fetch_add(1, Ordering::SeqCst));
        lock(&self.polls).insert(id.clone(), (closes, answers));
        id
    }

    /// One resumption of a polled stream: nothing yet (an empty list), or at the last one
    /// its answers; `None` for an event id that is not a polled stream's.
    pub(crate) fn resume_poll(&self, event_id: &str) -> Option<Vec<serde_json::Value>> {
        let mut polls = lock(&self.polls);
        let (left, _) = polls.get_mut(event_id)?;
        *left = left.saturating_sub(1);
        if *left > 0 {
            return Some(Vec::new());
        }
        polls.remove(event_id).map(|(_, answers)| answers)
    }

    pub(crate) fn hit(&self, id: &str) {
        *lock(&self.hits).entry(id.to_owned()).or_default() += 1;
    }

    pub(crate) fn hits(&self, id: &str) -> usize {
        lock(&self.hits).get(id).copied().unwrap_or(0)
    }

    /// Counts one more arrival of a fault with this [`Fault::times_key`]; returns the count.
    pub(crate) fn hit_key(&self, key: &str) -> usize {
        let mut hits = lock(&self.keyed_hits);
        let count = hits.entry(key.to_owned()).or_default();
        *count += 1;
        *count
    }

    pub(crate) fn record(&self, request: RecordedRequest) {
        lock(&self.requests).push(request);
    }

    pub(crate) fn pop_script(&self) -> Option<Fault> {
        lock(&self.script).pop_front()
    }

    pub(crate) fn new_session(&self) -> String {
        let n = self.next_session.fetch_add(1, Ordering::SeqCst);
        let id = format!("{:016x}{n:08x}", self.session_hasher.hash_one(n));
        lock(&self.sessions).insert(id.clone());
        id
    }

    pub(crate) fn has_session(&self, id: &str) -> bool {
        lock(&self.sessions).contains(id)
    }

    pub(crate) fn end_session(&self, id: &str) -> bool {
        lock(&self.sessions).remove(id)
    }
}
