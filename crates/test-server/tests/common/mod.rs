//! A plain hyper client for the tests: one connection (HTTP/1.1, or HTTP/2 when TLS ALPN
//! picks it), whole responses, and a minimal SSE reader.
#![allow(dead_code, unreachable_pub)] // Each test file uses a different part.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode, Version};
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::Value;
use tokio::net::TcpStream;

pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// The bound on every test.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(15);

/// Runs a test body with [`TEST_TIMEOUT`].
pub async fn bounded<F: std::future::Future>(future: F) -> F::Output {
    tokio::time::timeout(TEST_TIMEOUT, future)
        .await
        .expect("test took too long")
}

enum Sender {
    H1(http1::SendRequest<Full<Bytes>>),
    H2(http2::SendRequest<Full<Bytes>>),
}

/// One client connection.
pub struct Client {
    sender: Sender,
    authority: String,
}

/// A whole response.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub version: Version,
    /// How many body frames arrived.
    pub frames: usize,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("a UTF-8 body")
    }

    /// The SSE events of the body, as `(id, data)`.
    pub fn sse(&self) -> Vec<(Option<String>, String)> {
        parse_sse(&self.text())
    }

    /// The SSE data of the body, each parsed as JSON.
    pub fn sse_json(&self) -> Vec<Value> {
        self.sse()
            .into_iter()
            .map(|(_, data)| serde_json::from_str(&data).expect("JSON data"))
            .collect()
    }
}

/// A minimal SSE reader: any line ending, comments skipped, `data` lines joined.
pub fn parse_sse(text: &str) -> Vec<(Option<String>, String)> {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut events = Vec::new();
    for block in text.split("\n\n") {
        let mut id = None;
        let mut data: Vec<&str> = Vec::new();
        for line in block.lines() {
            if let Some(value) = line.strip_prefix("data:") {
                data.push(value.strip_prefix(' ').unwrap_or(value));
            } else if let Some(value) = line.strip_prefix("id:") {
                id = Some(value.trim_start().to_owned());
            }
        }
        if !data.is_empty() {
            events.push((id, data.join("\n")));
        }
    }
    events
}

impl Client {
    /// A plain HTTP/1.1 connection.
    pub async fn connect(addr: SocketAddr) -> Result<Self, Error> {
        let stream = TcpStream::connect(addr).await?;
        let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        Ok(Self {
            sender: Sender::H1(sender),
            authority: addr.to_string(),
        })
    }

    /// A TLS connection trusting `config`'s roots; HTTP/2 when ALPN selects it.
    pub async fn connect_tls(
        addr: SocketAddr,
        config: rustls::ClientConfig,
    ) -> Result<Self, Error> {
        let stream = TcpStream::connect(addr).await?;
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        // The certificate names the IP address too, as `TestServer::url` uses it.
        let name = ServerName::from(addr.ip());
        let stream = connector.connect(name, stream).await?;
        let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
        let io = TokioIo::new(stream);
        let sender = if h2 {
            let (sender, conn) = http2::handshake(TokioExecutor::new(), io).await?;
            tokio::spawn(conn);
            Sender::H2(sender)
        } else {
            let (sender, conn) = http1::handshake(io).await?;
            tokio::spawn(conn);
            Sender::H1(sender)
        };
        Ok(Self {
            sender,
            authority: addr.to_string(),
        })
    }

    /// Sends a request to `/mcp/` and reads the whole response.
    pub async fn request(
        &mut self,
        method: Method,
        body: &str,
        headers: &[(&str, &str)],
    ) -> Result<Reply, Error> {
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("https://{}/mcp/", self.authority));
        if matches!(self.sender, Sender::H1(_)) {
            builder = builder.uri("/mcp/").header("host", &self.authority);
        }
        builder = builder
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = builder.body(Full::new(Bytes::from(body.to_owned())))?;
        let response = match &mut self.sender {
            Sender::H1(sender) => {
                sender.ready().await?;
                sender.send_request(request).await?
            }
            Sender::H2(sender) => {
                sender.ready().await?;
                sender.send_request(request).await?
            }
        };
        let (parts, mut incoming) = response.into_parts();
        let mut body = Vec::new();
        let mut frames = 0;
        while let Some(frame) = incoming.frame().await {
            if let Ok(data) = frame?.into_data() {
                frames += 1;
                body.extend_from_slice(&data);
            }
        }
        Ok(Reply {
            status: parts.status,
            headers: parts.headers,
            body,
            version: parts.version,
            frames,
        })
    }

    /// POSTs a body to `/mcp/`.
    pub async fn post(&mut self, body: &str) -> Result<Reply, Error> {
        self.request(Method::POST, body, &[]).await
    }
}

/// A fresh connection and one POST.
pub async fn post(addr: SocketAddr, body: &str) -> Result<Reply, Error> {
    Client::connect(addr).await?.post(body).await
}

/// POSTs `body` over a raw TCP connection (`Connection: close`) and returns every byte of
/// the response, or the error that ended the read (e.g. a reset) with the bytes before it.
pub async fn raw_post(addr: SocketAddr, body: &str) -> (Vec<u8>, Option<std::io::Error>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST /mcp/ HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("send head");
    stream.write_all(body.as_bytes()).await.expect("send body");
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) => return (received, None),
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(e) => return (received, Some(e)),
        }
    }
}

/// Splits a raw HTTP/1.1 response with a chunked body into its head, the size of each
/// chunk as the server framed it, and the reassembled body.
pub fn dechunk(raw: &[u8]) -> (String, Vec<usize>, Vec<u8>) {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    assert!(
        head.to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "{head}"
    );
    let mut rest = &raw[split + 4..];
    let mut sizes = Vec::new();
    let mut body = Vec::new();
    loop {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size line");
        let size_text = std::str::from_utf8(&rest[..line_end]).expect("ASCII size");
        let size = usize::from_str_radix(size_text.trim(), 16).expect("hex size");
        rest = &rest[line_end + 2..];
        if size == 0 {
            return (head, sizes, body);
        }
        sizes.push(size);
        body.extend_from_slice(&rest[..size]);
        assert_eq!(&rest[size..size + 2], b"\r\n");
        rest = &rest[size + 2..];
    }
}

/// A JSON-RPC request as text.
pub fn request(id: Value, method: &str, params: Value) -> String {
    let mut message = serde_json::Map::new();
    message.insert("jsonrpc".to_owned(), "2.0".into());
    message.insert("id".to_owned(), id);
    message.insert("method".to_owned(), method.into());
    message.insert("params".to_owned(), params);
    Value::Object(message).to_string()
}

/// A rustls client configuration trusting `ca_pem`, with an optional client certificate.
pub fn client_config(ca_pem: &str, identity: Option<(&str, &str)>) -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots
            .add(cert.expect("a PEM certificate"))
            .expect("a CA certificate");
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("default versions")
        .with_root_certificates(roots);
    let mut config = match identity {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = CertificateDer::pem_slice_iter(cert.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .expect("a PEM certificate");
            let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("a PEM key");
            builder
                .with_client_auth_cert(chain, key)
                .expect("a usable client certificate")
        }
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config
}
