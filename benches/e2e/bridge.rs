//! A bridge under test: any command that speaks JSON-RPC lines on stdin/stdout, spawned
//! with real pipes, with a watchdog that kills it if a case overruns its deadline.

use std::fmt;
use std::io::{self, Read, Write as _};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use benches::{tree_context_switches, tree_cpu_seconds, tree_status_kib};

/// How a bridge is started: a name for the tables and a command template.
///
/// The template is split on whitespace (no shell quoting); in each word `{url}`,
/// `{concurrency}` and `{max_message_bytes}` are replaced. The environment also carries
/// the names `mcpgateway.wrapper` reads: `MCP_SERVER_URL`, `CONCURRENCY` and
/// `MCP_WRAPPER_LOG_LEVEL=OFF`, so a bridge configured by environment needs no `{url}`.
#[derive(Debug, Clone)]
pub(crate) struct BridgeSpec {
    pub(crate) name: String,
    pub(crate) words: Vec<String>,
    /// Added to the environment (after the variables above).
    pub(crate) env: Vec<(String, String)>,
}

impl BridgeSpec {
    /// `NAME=COMMAND`, or a bare command (its first word holds no `=`) named after its
    /// program's file name.
    pub(crate) fn parse(spec: &str) -> Result<Self, String> {
        match spec.split_once('=') {
            Some((name, command)) if !name.contains(char::is_whitespace) && !name.is_empty() => {
                Self::with_name(Some(name.to_owned()), command)
            }
            _ => Self::with_name(None, spec),
        }
    }

    /// A bare command, named after its program's file name.
    pub(crate) fn command_only(command: &str) -> Result<Self, String> {
        Self::with_name(None, command)
    }

    fn with_name(name: Option<String>, command: &str) -> Result<Self, String> {
        let words: Vec<String> = command.split_whitespace().map(str::to_owned).collect();
        let program = words
            .first()
            .ok_or_else(|| format!("empty bridge command {command:?}"))?;
        let name = name.unwrap_or_else(|| {
            std::path::Path::new(program)
                .file_name()
                .map_or_else(|| program.clone(), |n| n.to_string_lossy().into_owned())
        });
        Ok(Self {
            name,
            words,
            env: Vec::new(),
        })
    }

    /// This command with sign-in on where its matrix command turned it off: `--auth none`
    /// (fastmcp-remote) becomes `--auth oauth`.
    pub(crate) fn for_sign_in(&self) -> Self {
        let mut words = self.words.clone();
        for at in 1..words.len() {
            if words[at - 1] == "--auth" && words[at] == "none" {
                words[at] = "oauth".to_owned();
            }
        }
        Self {
            name: self.name.clone(),
            words,
            env: self.env.clone(),
        }
    }

    /// This command with its `--transport VALUE` dropped: the bridge's default transport
    /// (the matrix commands of `benches/compare/run.sh` pin Streamable HTTP, and the
    /// legacy-SSE row asks what a bridge finds by itself).
    pub(crate) fn with_default_transport(&self) -> Self {
        let mut words = Vec::with_capacity(self.words.len());
        let mut rest = self.words.iter();
        while let Some(word) = rest.next() {
            if word == "--transport" {
                rest.next();
            } else if !word.starts_with("--transport=") {
                words.push(word.clone());
            }
        }
        Self {
            name: self.name.clone(),
            words,
            env: self.env.clone(),
        }
    }

    /// This command with `extra` words appended, each one argument as it is (a word may hold
    /// spaces: no splitting, no shell).
    pub(crate) fn with_words(&self, extra: &[String]) -> Self {
        Self {
            name: self.name.clone(),
            words: self.words.iter().chain(extra).cloned().collect(),
            env: self.env.clone(),
        }
    }

    /// This command under another name, with `extra` words appended and `env` added to its
    /// environment (the e2e era case: `--protocol legacy` or `--protocol auto` and a fresh
    /// `MCP_WRAPPER_AUTH_DIR`, so that no cached era verdict is reused).
    pub(crate) fn variant(&self, name: String, extra: &[&str], env: &[(&str, String)]) -> Self {
        let mut variant = self.with_words(&extra.iter().map(|&w| w.to_owned()).collect::<Vec<_>>());
        variant.name = name;
        variant
            .env
            .extend(env.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
        variant
    }

    pub(crate) fn command(&self, launch: &Launch<'_>) -> Command {
        let fill = |word: &str| {
            word.replace("{url}", launch.url)
                .replace("{concurrency}", &launch.concurrency.to_string())
                .replace("{max_message_bytes}", &launch.max_message_bytes.to_string())
        };
        let mut words = self.words.iter().map(|w| fill(w));
        let program = words.next().unwrap_or_default();
        let mut command = Command::new(program);
        command
            .args(words)
            .env("MCP_SERVER_URL", launch.url)
            .env("CONCURRENCY", launch.concurrency.to_string())
            .env("MCP_WRAPPER_LOG_LEVEL", "OFF")
            // Our bridges keep server-era verdicts (and sign-ins) in a directory of this run's
            // own, never the user's: a verdict for one loopback port would outlive the server
            // the run started there. A spec's own env (a fresh directory) wins.
            .env("MCP_WRAPPER_AUTH_DIR", run_auth_dir())
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }
}

/// The credentials and era-cache directory of this harness process (see
/// [`BridgeSpec::command`]).
fn run_auth_dir() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("e2e-mcp-wrapper-auth-{}", std::process::id()))
}

impl fmt::Display for BridgeSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.words.join(" "))
    }
}

/// What a bridge process is started with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Launch<'a> {
    pub(crate) url: &'a str,
    pub(crate) concurrency: usize,
    pub(crate) max_message_bytes: usize,
    /// Longest life of the process; the watchdog kills it after that.
    pub(crate) deadline: Duration,
}

/// The first request an MCP client sends, and the notification after its answer.
pub(crate) fn initialize_request(id: u64) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"initialize","params":{{"protocolVersion":"{}","capabilities":{{"elicitation":{{}}}},"clientInfo":{{"name":"e2e","version":"0"}}}}}}"#,
        test_server::LATEST_PROTOCOL_VERSION
    ) + "\n"
}

const INITIALIZED: &str = "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n";

/// A running bridge.
pub(crate) struct BridgeProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    out: LineReader<ChildStdout>,
    /// Dropping it stops the watchdog.
    _watchdog: mpsc::Sender<()>,
    stderr_log: PathBuf,
    name: String,
    /// Just before the process was spawned.
    started: Instant,
}

impl BridgeProcess {
    /// Spawns the bridge; its stderr goes to a file in the temporary directory.
    pub(crate) fn spawn(spec: &BridgeSpec, launch: &Launch<'_>) -> Result<Self, String> {
        let stderr_log = std::env::temp_dir().join(format!(
            "e2e-{}-{}.stderr",
            spec.name.replace(|c: char| !c.is_ascii_alphanumeric(), "_"),
            std::process::id()
        ));
        let stderr = std::fs::File::create(&stderr_log)
            .map_err(|e| format!("creating {}: {e}", stderr_log.display()))?;
        let mut command = spec.command(launch);
        let started = Instant::now();
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("starting bridge {} ({spec}): {e}", spec.name))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().ok_or("no bridge stdout")?;
        Ok(Self {
            _watchdog: watchdog(child.id(), launch.deadline, spec.name.clone()),
            child,
            stdin,
            out: LineReader::new(stdout),
            stderr_log,
            name: spec.name.clone(),
            started,
        })
    }

    /// When the process was spawned.
    pub(crate) fn started(&self) -> Instant {
        self.started
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    fn fail(&self, what: &str) -> String {
        format!(
            "bridge {}: {what} (its stderr: {})",
            self.name,
            self.stderr_log.display()
        )
    }

    /// Writes `bytes` (whole lines) to the bridge's stdin.
    pub(crate) fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        let stdin = self.stdin.as_mut().ok_or("stdin already closed")?;
        if let Err(e) = stdin.write_all(bytes) {
            return Err(self.fail(&format!("writing its stdin: {e}")));
        }
        Ok(())
    }

    /// Reads one line of its stdout; its first bytes are then in [`Self::head`].
    pub(crate) fn read_line(&mut self) -> Result<usize, String> {
        match self.out.next_line() {
            Ok(Some(len)) => Ok(len),
            Ok(None) => Err(self.fail("stdout ended")),
            Err(e) => Err(self.fail(&format!("reading its stdout: {e}"))),
        }
    }

    /// The first [`HEAD_BYTES`] bytes of the last line read.
    pub(crate) fn head(&self) -> &[u8] {
        self.out.head()
    }

    /// Whether a whole line is already buffered (the next read does not block).
    pub(crate) fn has_buffered_line(&self) -> bool {
        self.out.has_buffered_line()
    }

    /// Reads lines until the answer to request `id`, checking it is not an error. Returns
    /// the number of lines before it and the bytes of all lines read (newlines excluded).
    pub(crate) fn read_answer(&mut self, id: u64, max_lines: u64) -> Result<(u64, u64), String> {
        let mut bytes = 0u64;
        for before in 0..=max_lines {
            bytes += self.read_line()? as u64;
            match answer_id(self.head()) {
                Some(got) if got == id => {
                    if !is_response(self.head()) {
                        let head = String::from_utf8_lossy(self.head()).into_owned();
                        return Err(self.fail(&format!("line with id {id} is no answer: {head}")));
                    }
                    if is_error(self.head()) {
                        let head = String::from_utf8_lossy(self.head()).into_owned();
                        return Err(self.fail(&format!("answered {id} with an error: {head}")));
                    }
                    return Ok((before, bytes));
                }
                Some(got) => return Err(self.fail(&format!("answered {got}, expected {id}"))),
                None => {}
            }
        }
        Err(self.fail(&format!("no answer to {id} in {max_lines} lines")))
    }

    /// `total` requests made by `request(id)` with ids `first_id..`, `in_flight` of them in
    /// flight: each answer read is replaced by a new request, and the new requests are
    /// written together once no whole answer is left buffered (as a client that reads
    /// everything available, then writes, would). Checks every id is answered once.
    pub(crate) fn pump(
        &mut self,
        first_id: u64,
        total: u64,
        in_flight: usize,
        request: fn(u64) -> String,
    ) -> Result<(), String> {
        let mut seen = vec![false; usize::try_from(total).map_err(|e| e.to_string())?];
        let mut out = Vec::with_capacity(in_flight * 128);
        let mut sent = 0u64;
        let queue = |out: &mut Vec<u8>, sent: &mut u64| {
            out.extend_from_slice(request(first_id + *sent).as_bytes());
            out.push(b'\n');
            *sent += 1;
        };
        while sent < total && sent < in_flight as u64 {
            queue(&mut out, &mut sent);
        }
        self.send(&out)?;
        out.clear();
        for _ in 0..total {
            self.read_line()?;
            let index = answer_id(self.head())
                .and_then(|id| id.checked_sub(first_id))
                .filter(|i| *i < total && is_response(self.head()) && !is_error(self.head()))
                .and_then(|i| usize::try_from(i).ok());
            match index {
                Some(i) if !seen[i] => seen[i] = true,
                _ => {
                    let head = String::from_utf8_lossy(self.head()).into_owned();
                    return Err(self.fail(&format!("unexpected line {head}")));
                }
            }
            if sent < total {
                queue(&mut out, &mut sent);
            }
            if !out.is_empty() && !self.has_buffered_line() {
                self.send(&out)?;
                out.clear();
            }
        }
        Ok(())
    }

    /// Sends `initialize`, waits for its answer, sends `notifications/initialized`.
    pub(crate) fn initialize(&mut self, id: u64) -> Result<(), String> {
        self.send(initialize_request(id).as_bytes())?;
        self.read_answer(id, 16)?;
        self.send(INITIALIZED.as_bytes())
    }

    /// Peak RSS (`VmHWM`) of the bridge and its descendants, KiB.
    pub(crate) fn peak_rss_kib(&self) -> Option<u64> {
        tree_status_kib(self.pid(), "VmHWM")
    }

    /// CPU seconds used so far by the bridge and its descendants.
    pub(crate) fn cpu_seconds(&self) -> Option<f64> {
        tree_cpu_seconds(self.pid())
    }

    /// Context switches so far of the live threads of the bridge and its descendants.
    pub(crate) fn context_switches(&self) -> Option<u64> {
        tree_context_switches(self.pid())
    }

    /// Closes stdin, reads stdout to its end, waits for the exit (polled every 0.2 ms;
    /// killing the bridge if it has not exited 5 s after its stdout ended). Returns the
    /// exit status and how long it took from closing stdin.
    pub(crate) fn close(mut self) -> Result<(ExitStatus, Duration), String> {
        let start = Instant::now();
        drop(self.stdin.take());
        // Bounded by the watchdog, which kills the process (ending stdout) at its deadline.
        while let Ok(Some(_)) = self.out.next_line() {}
        for _ in 0..25_000 {
            if let Some(status) = self
                .child
                .try_wait()
                .map_err(|e| self.fail(&e.to_string()))?
            {
                return Ok((status, start.elapsed()));
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        let _ = self.child.kill();
        let status = self.child.wait().map_err(|e| self.fail(&e.to_string()))?;
        eprintln!(
            "e2e: bridge {} did not exit after stdin closed; killed",
            self.name
        );
        Ok((status, start.elapsed()))
    }
}

impl Drop for BridgeProcess {
    fn drop(&mut self) {
        // Only after an error (close() leaves an exited child): do not leave it running.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Kills `pid` (with `kill -KILL`, a process this harness started) unless the returned
/// sender is dropped within `deadline`.
fn watchdog(pid: u32, deadline: Duration, name: String) -> mpsc::Sender<()> {
    let (tx, rx) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(deadline) {
            eprintln!(
                "e2e: bridge {name} (pid {pid}) still running after {} s: killing it",
                deadline.as_secs()
            );
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    });
    tx
}

/// How many bytes of each line are kept for [`answer_id`] and [`is_error`].
pub(crate) const HEAD_BYTES: usize = 256;

/// Reads lines of any length without keeping them: only the length and the first
/// [`HEAD_BYTES`] bytes.
pub(crate) struct LineReader<R> {
    inner: R,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    head: Vec<u8>,
}

impl<R: Read> LineReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self {
            inner,
            buf: vec![0; 256 * 1024].into_boxed_slice(),
            start: 0,
            end: 0,
            head: Vec::with_capacity(HEAD_BYTES),
        }
    }

    pub(crate) fn head(&self) -> &[u8] {
        &self.head
    }

    pub(crate) fn has_buffered_line(&self) -> bool {
        memchr::memchr(b'\n', &self.buf[self.start..self.end]).is_some()
    }

    /// The length of the next line (without its LF), or `None` at the end of input. An
    /// unterminated last line counts as a line.
    pub(crate) fn next_line(&mut self) -> io::Result<Option<usize>> {
        self.head.clear();
        let mut len = 0;
        let mut interrupted = 0;
        // Each pass ends the line or consumes the whole buffer and reads more; it stops at
        // end of input (or after 100 EINTRs in a row).
        loop {
            let pending = &self.buf[self.start..self.end];
            if let Some(at) = memchr::memchr(b'\n', pending) {
                keep(&mut self.head, &pending[..at]);
                self.start += at + 1;
                return Ok(Some(len + at));
            }
            keep(&mut self.head, pending);
            len += pending.len();
            self.start = 0;
            self.end = 0;
            match self.inner.read(&mut self.buf) {
                Ok(0) => return Ok((len > 0).then_some(len)),
                Ok(n) => self.end = n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted && interrupted < 100 => {
                    interrupted += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// Appends to `head` what fits of `bytes` below [`HEAD_BYTES`].
fn keep(head: &mut Vec<u8>, bytes: &[u8]) {
    let room = HEAD_BYTES.saturating_sub(head.len());
    head.extend_from_slice(&bytes[..bytes.len().min(room)]);
}

/// The top-level `"id"` of a JSON-RPC answer when it is a number (a progress notification
/// has none). Looks only at the first bytes of the line; tolerates `"id": 1`.
pub(crate) fn answer_id(head: &[u8]) -> Option<u64> {
    let at = memchr::memmem::find(head, b"\"id\"")?;
    let rest = head[at + 4..].trim_ascii_start().strip_prefix(b":")?;
    let rest = rest.trim_ascii_start();
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

/// Whether the first bytes of a line hold a `"result"` or an `"error"` member (a request
/// echoed back holds neither).
pub(crate) fn is_response(head: &[u8]) -> bool {
    memchr::memmem::find(head, b"\"result\"").is_some() || is_error(head)
}

/// Whether the first bytes of an answer hold an `"error"` member.
pub(crate) fn is_error(head: &[u8]) -> bool {
    memchr::memmem::find(head, b"\"error\"").is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_found_in_any_spacing() {
        assert_eq!(
            answer_id(br#"{"jsonrpc":"2.0","id":17,"result":{}}"#),
            Some(17)
        );
        assert_eq!(answer_id(br#"{"id": 3, "jsonrpc": "2.0"}"#), Some(3));
        assert_eq!(
            answer_id(br#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1}}"#),
            None
        );
        assert!(is_error(br#"{"error":{"code":-32000},"id":1}"#));
    }

    #[test]
    fn bridge_specs_name_their_command() {
        let named = BridgeSpec::parse("py=python -m mcpgateway.wrapper --url {url}").ok();
        assert_eq!(named.as_ref().map(|b| b.name.as_str()), Some("py"));
        assert_eq!(named.map(|b| b.words.len()), Some(5));
        let bare = BridgeSpec::parse("/usr/bin/env X=1 mcp-wrapper").ok();
        assert_eq!(bare.map(|b| b.name), Some("env".to_owned()));
        let command = BridgeSpec::command_only("a=b c").ok();
        assert_eq!(command.map(|b| b.name), Some("a=b".to_owned()));
        assert!(BridgeSpec::parse(" ").is_err());
    }

    #[test]
    fn the_default_transport_drops_a_pinned_one_and_extra_words_stay_whole() {
        let pinned = BridgeSpec::parse(
            "mcp-proxy=mcp-proxy --transport streamablehttp --log-level ERROR {url}",
        )
        .ok();
        let default = pinned.map(|b| b.with_default_transport());
        assert_eq!(
            default.map(|b| b.to_string()),
            Some("mcp-proxy --log-level ERROR {url}".to_owned())
        );
        let eq = BridgeSpec::parse("r=mcp-remote {url} --transport=http-only --silent").ok();
        assert_eq!(
            eq.map(|b| b.with_default_transport().words),
            Some(vec![
                "mcp-remote".to_owned(),
                "{url}".to_owned(),
                "--silent".to_owned()
            ])
        );
        let extra = ["--header".to_owned(), "X-Probe: ${E2E_PROBE}".to_owned()];
        let with = BridgeSpec::parse("w=mcp-wrapper --url {url}")
            .ok()
            .map(|b| b.with_words(&extra));
        assert_eq!(with.as_ref().map(|b| b.name.as_str()), Some("w"));
        assert_eq!(
            with.map(|b| b.words),
            Some(
                [
                    "mcp-wrapper",
                    "--url",
                    "{url}",
                    "--header",
                    "X-Probe: ${E2E_PROBE}"
                ]
                .map(str::to_owned)
                .to_vec()
            )
        );
    }

    #[test]
    fn lines_of_any_length_are_measured() {
        let mut input = Vec::new();
        input.extend_from_slice(b"short\n");
        input.extend(std::iter::repeat_n(b'x', 600_000));
        input.extend_from_slice(b"\n\ntail");
        let mut reader = LineReader::new(&input[..]);
        assert_eq!(reader.next_line().ok(), Some(Some(5)));
        assert_eq!(reader.head(), b"short");
        assert_eq!(reader.next_line().ok(), Some(Some(600_000)));
        assert_eq!(reader.head().len(), HEAD_BYTES);
        assert_eq!(reader.next_line().ok(), Some(Some(0)));
        assert_eq!(reader.next_line().ok(), Some(Some(4)));
        assert_eq!(reader.head(), b"tail");
        assert_eq!(reader.next_line().ok(), Some(None));
    }
}
