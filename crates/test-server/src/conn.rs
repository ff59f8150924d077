//! One accepted connection: optional TLS, HTTP/1.1 or HTTP/2 (hyper-util's auto builder),
//! and the [`Killer`] that lets a fault drop it abruptly.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio_rustls::TlsAcceptor;

use crate::handler;
use crate::server::State;

/// Drops a connection abruptly, with a TCP RST.
///
/// Holds a duplicate of the socket so that `SO_LINGER` can be set to zero after the stream
/// itself went into hyper; the duplicate is closed first, so that the close of hyper's stream
/// is the last one and sends the RST.
#[derive(Debug)]
pub(crate) struct Killer {
    socket: Mutex<Option<socket2::Socket>>,
    killed: Notify,
}

impl Killer {
    fn new(stream: &TcpStream) -> Self {
        let socket = socket2::SockRef::from(stream).try_clone().ok();
        Self {
            socket: Mutex::new(socket),
            killed: Notify::new(),
        }
    }

    /// Sets `SO_LINGER` 0 and makes the connection task drop the connection.
    pub(crate) fn reset(&self) {
        if let Some(socket) = self.take()
            && let Err(e) = socket.set_linger(Some(Duration::ZERO))
        {
            eprintln!("test-server: SO_LINGER: {e}");
        }
        self.killed.notify_one();
    }

    fn take(&self) -> Option<socket2::Socket> {
        self.socket
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves one connection until it ends, is reset by a fault, or the runtime stops.
pub(crate) async fn serve(stream: TcpStream, state: Arc<State>, tls: Option<TlsAcceptor>) {
    // Small frames must leave at once (Nagle plus delayed ACK would add 40 ms stalls).
    if let Err(e) = stream.set_nodelay(true) {
        eprintln!("test-server: TCP_NODELAY: {e}");
    }
    let killer = Arc::new(Killer::new(&stream));
    match tls {
        None => serve_io(stream, state, Arc::clone(&killer)).await,
        Some(acceptor) => {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(stream)) => serve_io(stream, state, Arc::clone(&killer)).await,
                Ok(Err(e)) => eprintln!("test-server: TLS handshake failed: {e}"),
                Err(_) => eprintln!("test-server: TLS handshake timed out"),
            }
        }
    }
    // Close the duplicate, so that the socket closes with hyper's stream.
    drop(killer.take());
}

async fn serve_io<I>(io: I, state: Arc<State>, killer: Arc<Killer>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = {
        let killer = Arc::clone(&killer);
        service_fn(move |request| handler::handle(request, Arc::clone(&state), Arc::clone(&killer)))
    };
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // No header read timeout: idle keep-alive connections stay open until the client or the
    // server's end closes them, so pooled clients never race an idle close.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(None);
    builder.http2().timer(TokioTimer::new());
    let connection = builder.serve_connection(TokioIo::new(io), service);
    // The kill is checked first: a fault's body ends right after it asks for the reset, and
    // hyper must not get to finish that body cleanly.
    tokio::select! {
        biased;
        () = killer.killed.notified() => {}
        result = connection => {
            if let Err(e) = result {
                eprintln!("test-server: connection ended: {e}");
            }
        }
    }
}
