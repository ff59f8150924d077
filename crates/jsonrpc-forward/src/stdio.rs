//! The bridge's two pipes: a reader that frames input into lines and a writer that owns the
//! output, each talking to the bridge through a channel.
//!
//! The reader frames input with [`NdjsonDecoder`] (blank lines skipped, an over-long line
//! reported and skipped without being buffered) and hands lines over as long as the lines
//! not yet taken stay within a byte budget ([`crate::budget`]), so a fast client waits
//! rather than filling memory. The writer writes one line per message, buffered, flushed
//! whenever its queue runs empty, so lines never interleave and a burst costs one write; its
//! queue too is bounded by bytes ([`Output`]).
//!
//! Each comes in two kinds. When stdin or stdout is a pipe or a socket (as MCP clients spawn
//! servers: pipes, or socketpairs from Node's libuv), it is made non-blocking and served by a
//! task on the bridge's own runtime ([`async_stdin`], [`async_stdout`]): a request then wakes
//! no other thread on its way in or out, and on a VM each thread wake-up costs ~10 µs of CPU.
//! Anything else (a file, a terminal, the `Read`/`Write` values of [`Bridge::run`]) gets a
//! blocking thread ([`spawn_reader`], [`spawn_writer`]), because epoll cannot wait on files
//! and a terminal must not be left non-blocking for the shell.
//!
//! [`Bridge::run`]: crate::Bridge::run

use std::io::{self, BufWriter, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use bytes::BytesMut;
use stream_parse::NdjsonDecoder;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::sync::{mpsc, oneshot, watch};

use crate::budget::{Budget, Charge};
use crate::keepalive::Activity;
use crate::message::JsonLine;

/// One framed line of input.
#[derive(Debug)]
pub(crate) enum Line {
    /// A non-blank line, trimmed, and its share of the read-ahead budget.
    Message(bytes::Bytes, Charge),
    /// A line over the limit, skipped.
    TooLong { limit: usize },
}

/// What the writer is asked to do.
#[derive(Debug)]
pub(crate) enum Out {
    /// Write this message and a newline, then give its bytes back to the budget.
    Line(JsonLine, Charge),
    /// Flush, say so, and stop.
    Finish(oneshot::Sender<()>),
}

const READ_CHUNK: usize = 64 * 1024;

/// How many messages of the largest size the read-ahead and the output queue each hold at
/// most: with the default 64 MiB limit, 128 MiB each.
const QUEUED_MESSAGES: usize = 2;
/// The least either holds, whatever the message size limit: requests that wait for a permit
/// stay in the read-ahead, and the client's replies to the server must still be read past
/// them (tens of thousands of small requests).
const MIN_QUEUE_BYTES: usize = 16 * 1024 * 1024;

/// The byte bound of the read-ahead and of the output queue, for messages of at most
/// `max_message_bytes`.
pub(crate) fn queue_bytes(max_message_bytes: usize) -> usize {
    QUEUED_MESSAGES
        .saturating_mul(max_message_bytes)
        .max(MIN_QUEUE_BYTES)
}

/// The output side of the bridge: a queue of lines for the writer, bounded by bytes. Cheap
/// to clone.
#[derive(Debug, Clone)]
pub(crate) struct Output {
    tx: mpsc::UnboundedSender<Out>,
    budget: Budget,
    /// Set once stdout was first found too slow (logged once).
    stalled: Arc<AtomicBool>,
    /// Told of every line written, when the bridge keeps the session alive.
    activity: Option<Arc<Activity>>,
}

impl Output {
    fn new(tx: mpsc::UnboundedSender<Out>, budget_bytes: usize) -> Self {
        Self {
            tx,
            budget: Budget::new(budget_bytes),
            stalled: Arc::default(),
            activity: None,
        }
    }

    /// This output, telling `activity` of every line written (before it is cloned).
    pub(crate) fn with_activity(mut self, activity: Arc<Activity>) -> Self {
        self.activity = Some(activity);
        self
    }

    /// Queues a line, waiting while the queue is full. False once the writer is gone.
    pub(crate) async fn write(&self, line: JsonLine) -> bool {
        let charge = self.reserve(line.len()).await;
        self.write_now(line, charge)
    }

    /// Draws room for a line of `len` bytes, waiting while the queue is full: the caller
    /// (a server stream) waits, and TCP holds the server back.
    pub(crate) async fn reserve(&self, len: usize) -> Charge {
        if let Some(charge) = self.budget.try_charge(len) {
            return charge;
        }
        if !self.stalled.swap(true, Ordering::Relaxed) {
            tracing::debug!("stdout is not keeping up; holding server streams back");
        }
        self.budget.charge(len).await
    }

    /// Queues a small line of the bridge's own (an error) at once: room if there is some,
    /// else none, so that the bridge never waits on stdout to answer a line of stdin.
    pub(crate) fn write_small(&self, line: JsonLine) -> bool {
        let charge = self
            .budget
            .try_charge(line.len())
            .unwrap_or_else(Charge::none);
        self.write_now(line, charge)
    }

    /// Queues a line at once, with room already drawn (or none, for the small answers of a
    /// shutdown). False once the writer is gone.
    pub(crate) fn write_now(&self, line: JsonLine, charge: Charge) -> bool {
        if let Some(activity) = &self.activity {
            activity.touch();
        }
        self.tx.send(Out::Line(line, charge)).is_ok()
    }

    /// Flushes what is queued, waiting at most `deadline`.
    pub(crate) async fn finish(&self, deadline: Duration) {
        let (done_tx, done_rx) = oneshot::channel();
        if self.tx.send(Out::Finish(done_tx)).is_ok() {
            let _ = tokio::time::timeout(deadline, done_rx).await;
        }
    }
}

/// The next framed line of `buf` (at the end of input when `eof`), if a whole one is there.
/// Its charge is drawn by the caller.
fn next_line(
    decoder: &mut NdjsonDecoder,
    buf: &mut BytesMut,
    eof: bool,
) -> Option<Result<bytes::Bytes, usize>> {
    let framed = if eof {
        decoder.decode_eof(buf)
    } else {
        decoder.decode(buf)
    };
    match framed {
        Ok(Some(line)) => Some(Ok(line)),
        Ok(None) => None,
        Err(stream_parse::Error::TooLong { limit }) => Some(Err(limit)),
        Err(e) => {
            tracing::warn!(error = %e, "stdin framing failed");
            None
        }
    }
}

/// What a failed read means: the end of input, after a warning (EINTR is retried).
fn read_failed(e: &io::Error) {
    tracing::warn!(error = %e, "reading stdin failed; treating it as its end");
}

/// Starts the reader thread. The channel closes at end of input (or on a read error). Lines
/// read and not yet sent hold at most [`queue_bytes`].
pub(crate) fn spawn_reader<R: Read + Send + 'static>(
    mut input: R,
    max_line_bytes: usize,
) -> io::Result<mpsc::UnboundedReceiver<Line>> {
    let (tx, rx) = mpsc::unbounded_channel();
    let budget = Budget::new(queue_bytes(max_line_bytes));
    let runtime = tokio::runtime::Handle::current();
    thread::Builder::new()
        .name("mcp-wrapper-stdin".into())
        .spawn(move || {
            let mut decoder = NdjsonDecoder::new().with_max_line_bytes(max_line_bytes);
            let mut buf = BytesMut::new();
            let mut chunk = vec![0u8; READ_CHUNK];
            loop {
                let n = match input.read(&mut chunk) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        read_failed(&e);
                        0
                    }
                };
                let eof = n == 0;
                buf.extend_from_slice(&chunk[..n]);
                while let Some(item) = next_line(&mut decoder, &mut buf, eof) {
                    let line = match item {
                        Ok(line) => {
                            let charge = runtime.block_on(budget.charge(line.len()));
                            Line::Message(line, charge)
                        }
                        Err(limit) => Line::TooLong { limit },
                    };
                    if tx.send(line).is_err() {
                        return; // The bridge stopped.
                    }
                }
                if eof {
                    return;
                }
            }
        })?;
    Ok(rx)
}

/// Starts the reader as a task on the current runtime (see [`async_stdin`]), with the same
/// byte bound as [`spawn_reader`].
///
/// Unlike a thread blocked in `read`, the task can be stopped: the returned handle aborts
/// it, so that nothing keeps reading stdin once the bridge is done.
pub(crate) fn spawn_async_reader(
    mut input: Box<dyn AsyncRead + Send + Unpin>,
    max_line_bytes: usize,
) -> (mpsc::UnboundedReceiver<Line>, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let budget = Budget::new(queue_bytes(max_line_bytes));
    let task = tokio::spawn(async move {
        let mut decoder = NdjsonDecoder::new().with_max_line_bytes(max_line_bytes);
        let mut buf = BytesMut::new();
        loop {
            buf.reserve(READ_CHUNK);
            let n = match input.read_buf(&mut buf).await {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    read_failed(&e);
                    0
                }
            };
            let eof = n == 0;
            while let Some(item) = next_line(&mut decoder, &mut buf, eof) {
                let line = match item {
                    Ok(line) => {
                        let charge = budget.charge(line.len()).await;
                        Line::Message(line, charge)
                    }
                    Err(limit) => Line::TooLong { limit },
                };
                if tx.send(line).is_err() {
                    return; // The bridge stopped.
                }
            }
            if eof {
                return;
            }
        }
    });
    (rx, task)
}

/// Starts the writer thread, its queue bounded by `budget_bytes`. The watch turns `true` when
/// output failed (stdout closed).
pub(crate) fn spawn_writer<W: Write + Send + 'static>(
    output: W,
    budget_bytes: usize,
) -> io::Result<(Output, watch::Receiver<bool>)> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Out>();
    let (closed_tx, closed_rx) = watch::channel(false);
    thread::Builder::new()
        .name("mcp-wrapper-stdout".into())
        .spawn(move || {
            let mut out = BufWriter::with_capacity(READ_CHUNK, output);
            while let Some(item) = rx.blocking_recv() {
                match item {
                    Out::Line(line, charge) => {
                        let line = line.bytes();
                        let written = out.write_all(line).and_then(|()| out.write_all(b"\n"));
                        let flushed =
                            written.and_then(|()| if rx.is_empty() { out.flush() } else { Ok(()) });
                        drop(charge);
                        if let Err(e) = flushed {
                            tracing::debug!(error = %e, "stdout is closed");
                            let _ = closed_tx.send(true);
                            return;
                        }
                    }
                    Out::Finish(done) => {
                        if out.flush().is_err() {
                            let _ = closed_tx.send(true);
                        }
                        let _ = done.send(());
                        return;
                    }
                }
            }
            let _ = out.flush();
        })?;
    Ok((Output::new(tx, budget_bytes), closed_rx))
}

/// Starts the writer as a task on the current runtime (see [`async_stdout`]), its queue
/// bounded by `budget_bytes`. The watch turns `true` when output failed.
pub(crate) fn spawn_async_writer(
    output: Box<dyn AsyncWrite + Send + Unpin>,
    budget_bytes: usize,
) -> (Output, watch::Receiver<bool>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<Out>();
    let (closed_tx, closed_rx) = watch::channel(false);
    tokio::spawn(async move {
        let mut out = tokio::io::BufWriter::with_capacity(READ_CHUNK, output);
        while let Some(item) = rx.recv().await {
            match item {
                Out::Line(line, charge) => {
                    let mut written = out.write_all(line.bytes()).await;
                    if written.is_ok() {
                        written = out.write_all(b"\n").await;
                    }
                    if written.is_ok() && rx.is_empty() {
                        written = out.flush().await;
                    }
                    drop(charge);
                    if let Err(e) = written {
                        tracing::debug!(error = %e, "stdout is closed");
                        let _ = closed_tx.send(true);
                        return;
                    }
                }
                Out::Finish(done) => {
                    if out.flush().await.is_err() {
                        let _ = closed_tx.send(true);
                    }
                    let _ = done.send(());
                    return;
                }
            }
        }
        let _ = out.flush().await;
    });
    (Output::new(tx, budget_bytes), closed_rx)
}

/// A stream served on the runtime, and what puts its descriptor back as it was.
pub(crate) type OnRuntime<T> = (T, Restore);

/// Stdin as a non-blocking stream on the current runtime, when it is a pipe or a socket;
/// `None` otherwise (a file, a terminal), or off Unix.
///
/// The flag lands on the open file description that stdin shares with whoever else holds
/// that pipe end; the [`Restore`] puts it back when the bridge is done (it matters when the
/// bridge runs inside a bigger program: `run_bridge` from Python).
pub(crate) fn async_stdin() -> Option<OnRuntime<Box<dyn AsyncRead + Send + Unpin>>> {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd as _;
        let fd = io::stdin().as_fd().try_clone_to_owned().ok()?;
        let kind = unix::Kind::of(&fd)?;
        let restore = unix::set_nonblocking(&fd)?;
        let stream: Box<dyn AsyncRead + Send + Unpin> = match kind {
            unix::Kind::Fifo => Box::new(tokio::net::unix::pipe::Receiver::from_owned_fd(fd).ok()?),
            unix::Kind::Socket => Box::new(unix::socket(fd)?),
        };
        Some((stream, restore))
    }
    #[cfg(not(unix))]
    None
}

/// Stdout as a non-blocking stream on the current runtime, when it is a pipe or a socket
/// that stderr does not share (`2>&1`: a non-blocking stderr could drop log lines); `None`
/// otherwise, or off Unix. See [`async_stdin`].
pub(crate) fn async_stdout() -> Option<OnRuntime<Box<dyn AsyncWrite + Send + Unpin>>> {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd as _;
        let fd = io::stdout().as_fd().try_clone_to_owned().ok()?;
        if unix::same_file(fd.as_fd(), io::stderr().as_fd())? {
            return None;
        }
        let kind = unix::Kind::of(&fd)?;
        let restore = unix::set_nonblocking(&fd)?;
        let stream: Box<dyn AsyncWrite + Send + Unpin> = match kind {
            unix::Kind::Fifo => Box::new(tokio::net::unix::pipe::Sender::from_owned_fd(fd).ok()?),
            unix::Kind::Socket => Box::new(unix::socket(fd)?),
        };
        Some((stream, restore))
    }
    #[cfg(not(unix))]
    None
}

#[cfg(unix)]
pub(crate) use unix::Restore;

/// Off Unix nothing is served on the runtime, so there is nothing to restore.
#[cfg(not(unix))]
#[derive(Debug)]
pub(crate) struct Restore;

#[cfg(unix)]
mod unix {
    use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

    use rustix::fs::{FileType, OFlags, fcntl_getfl, fcntl_setfl, fstat};

    /// The descriptors served by a task rather than a thread.
    pub(super) enum Kind {
        Fifo,
        Socket,
    }

    impl Kind {
        pub(super) fn of(fd: &OwnedFd) -> Option<Self> {
            match FileType::from_raw_mode(fstat(fd).ok()?.st_mode) {
                FileType::Fifo => Some(Self::Fifo),
                FileType::Socket => Some(Self::Socket),
                _ => None,
            }
        }
    }

    /// Whether two descriptors are the same file (`2>&1`). `None` when one cannot be read.
    pub(super) fn same_file(a: BorrowedFd<'_>, b: BorrowedFd<'_>) -> Option<bool> {
        let (a, b) = (fstat(a).ok()?, fstat(b).ok()?);
        Some(a.st_dev == b.st_dev && a.st_ino == b.st_ino)
    }

    /// Puts the file status flags of a descriptor back as they were, when dropped.
    #[derive(Debug)]
    pub(crate) struct Restore {
        fd: OwnedFd,
        flags: OFlags,
    }

    impl Drop for Restore {
        fn drop(&mut self) {
            let _ = fcntl_setfl(&self.fd, self.flags);
        }
    }

    /// Sets `O_NONBLOCK` on `fd`'s open file description.
    pub(super) fn set_nonblocking(fd: &OwnedFd) -> Option<Restore> {
        let flags = fcntl_getfl(fd).ok()?;
        let restore = Restore {
            fd: fd.try_clone().ok()?,
            flags,
        };
        fcntl_setfl(fd.as_fd(), flags | OFlags::NONBLOCK).ok()?;
        Some(restore)
    }

    /// A socket (a socketpair end from a Node parent; or TCP from inetd: reads and writes
    /// are the same system calls, which is all a `UnixStream` makes of it), already
    /// non-blocking.
    pub(super) fn socket(fd: OwnedFd) -> Option<tokio::net::UnixStream> {
        tokio::net::UnixStream::from_std(std::os::unix::net::UnixStream::from(fd)).ok()
    }
}
