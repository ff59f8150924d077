//! The bridge's two pipes, each owned by one thread.
//!
//! A reader thread frames stdin into lines with [`NdjsonDecoder`] (blank lines skipped, an
//! over-long line reported and skipped without being buffered) and hands them to the async
//! side through a bounded channel, so a fast client waits rather than filling memory. A writer
//! thread owns stdout: one line per message, buffered, flushed whenever its queue runs empty,
//! so lines never interleave and a burst costs one write. Blocking threads, not tokio's
//! async stdio, because tokio runs each stdio call on its blocking pool anyway, and a thread
//! that stays in `read` costs no hop per line.

use std::io::{self, BufWriter, Read, Write};
use std::thread;

use bytes::{Bytes, BytesMut};
use stream_parse::NdjsonDecoder;
use tokio::sync::{mpsc, oneshot, watch};

/// One framed line of input.
#[derive(Debug)]
pub(crate) enum Line {
    /// A non-blank line, trimmed.
    Message(Bytes),
    /// A line over the limit, skipped.
    TooLong { limit: usize },
}

/// What the writer thread is asked to do.
#[derive(Debug)]
pub(crate) enum Out {
    /// Write this message and a newline.
    Line(Bytes),
    /// Flush, say so, and stop.
    Finish(oneshot::Sender<()>),
}

const READ_CHUNK: usize = 64 * 1024;

/// Starts the reader thread. The channel closes at end of input (or on a read error).
pub(crate) fn spawn_reader<R: Read + Send + 'static>(
    mut input: R,
    max_line_bytes: usize,
) -> io::Result<mpsc::Receiver<Line>> {
    let (tx, rx) = mpsc::channel(64);
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
                        tracing::warn!(error = %e, "reading stdin failed; treating it as its end");
                        0
                    }
                };
                let eof = n == 0;
                buf.extend_from_slice(&chunk[..n]);
                loop {
                    let item = match if eof {
                        decoder.decode_eof(&mut buf)
                    } else {
                        decoder.decode(&mut buf)
                    } {
                        Ok(Some(line)) => Line::Message(line),
                        Ok(None) => break,
                        Err(stream_parse::Error::TooLong { limit }) => Line::TooLong { limit },
                        Err(e) => {
                            tracing::warn!(error = %e, "stdin framing failed");
                            break;
                        }
                    };
                    if tx.blocking_send(item).is_err() {
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

/// Starts the writer thread. The watch turns `true` when output failed (stdout closed).
pub(crate) fn spawn_writer<W: Write + Send + 'static>(
    output: W,
) -> io::Result<(mpsc::Sender<Out>, watch::Receiver<bool>)> {
    let (tx, mut rx) = mpsc::channel::<Out>(1024);
    let (closed_tx, closed_rx) = watch::channel(false);
    thread::Builder::new()
        .name("mcp-wrapper-stdout".into())
        .spawn(move || {
            let mut out = BufWriter::with_capacity(READ_CHUNK, output);
            while let Some(item) = rx.blocking_recv() {
                match item {
                    Out::Line(line) => {
                        let written = out.write_all(&line).and_then(|()| out.write_all(b"\n"));
                        let flushed =
                            written.and_then(|()| if rx.is_empty() { out.flush() } else { Ok(()) });
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
    Ok((tx, closed_rx))
}
