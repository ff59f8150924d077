//! The loopback redirect of a sign-in: a listener on 127.0.0.1 only, path
//! `/oauth/callback`, that waits for the authorization server to send the browser back with
//! a code for the expected `state`.
//!
//! The port is stable per server (derived from its URL, so a registration's redirect URI
//! stays valid across runs), with a few fallbacks when it is busy, or exactly the one the
//! user gives. A request with another `state` is answered 400 and the wait goes on: a stale
//! tab cannot end a sign-in, and nothing in it reaches the token endpoint.

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use reqwest::Url;
use sha2::{Digest as _, Sha256};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// The path the authorization server redirects to.
pub const PATH: &str = "/oauth/callback";

/// Ports tried after the preferred one when it is busy.
const FALLBACKS: u16 = 4;

const CLOSE_PAGE: &str = "<!doctype html><title>Signed in</title>\
    <p>Signed in. You can close this tab and return to your MCP client.</p>";
const ERROR_PAGE: &str = "<!doctype html><title>Sign-in failed</title>\
    <p>The sign-in did not complete; see the MCP client's log.</p>";
const STALE_PAGE: &str = "<!doctype html><title>Unknown sign-in</title>\
    <p>This page belongs to another sign-in attempt; nothing was done.</p>";

/// Why no code came back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallbackError {
    /// The authorization server sent the user back with an error (`access_denied`, ...).
    #[error("the authorization server refused the sign-in: {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Refused {
        /// `error`.
        error: String,
        /// `error_description`.
        description: Option<String>,
    },
    /// The redirect's `iss` is not the authorization server's (RFC 9207: a mix-up).
    #[error("the redirect came from issuer {found:?}, not {expected:?}")]
    WrongIssuer {
        /// The issuer signed in with.
        expected: String,
        /// The redirect's `iss`, if any.
        found: Option<String>,
    },
    /// Nobody came back in time.
    #[error("no sign-in within {0:?}")]
    TimedOut(Duration),
}

/// The preferred port for `server`: in 49152..=65535 (the dynamic range), the same for the
/// same server URL on every run.
#[must_use]
pub fn preferred_port(server: &Url) -> u16 {
    let digest = Sha256::digest(super::metadata::canonical_resource(server).as_bytes());
    let spread = u16::from_be_bytes([digest[0], digest[1]]) % 16_000;
    49_152 + spread
}

/// A bound listener, waiting to be used.
#[derive(Debug)]
pub struct Callback {
    listener: TcpListener,
    port: u16,
}

/// What the redirect carried.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Redirect {
    state: Option<String>,
    code: Option<String>,
    iss: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

impl Callback {
    /// Binds 127.0.0.1 on `strict` if given (and only there), else on the preferred port for
    /// `server` or one of the next few.
    ///
    /// # Errors
    ///
    /// When no port could be bound.
    pub async fn bind(server: &Url, strict: Option<u16>) -> std::io::Result<Self> {
        let ports: Vec<u16> = match strict {
            Some(port) => vec![port],
            None => {
                let first = preferred_port(server);
                (0..=FALLBACKS).map(|i| first.wrapping_add(i)).collect()
            }
        };
        let mut last = None;
        for port in ports {
            match TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await {
                Ok(listener) => {
                    let port = listener.local_addr()?.port();
                    return Ok(Self { listener, port });
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| std::io::Error::other("no port to bind")))
    }

    /// The port bound.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>/oauth/callback`.
    #[must_use]
    pub fn redirect_uri(&self) -> String {
        format!("http://127.0.0.1:{}{PATH}", self.port)
    }

    /// Serves the redirect until one arrives with `state`, then returns its code. With
    /// `issuer` (the AS advertised `authorization_response_iss_parameter_supported`), the
    /// redirect's `iss` must equal it.
    ///
    /// # Errors
    ///
    /// [`CallbackError`]: the server's error, a wrong issuer, or no answer within
    /// `timeout`.
    pub async fn code(
        self,
        state: &str,
        issuer: Option<&str>,
        timeout: Duration,
    ) -> Result<String, CallbackError> {
        let (tx, mut rx) = mpsc::channel::<Redirect>(1);
        let expected = state.to_owned();
        let serve = async {
            loop {
                let Ok((stream, _)) = self.listener.accept().await else {
                    continue;
                };
                let tx = tx.clone();
                let expected = expected.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                        let tx = tx.clone();
                        let expected = expected.clone();
                        async move { Ok::<_, Infallible>(answer(&request, &expected, &tx).await) }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        };
        let redirect = tokio::select! {
            () = serve => return Err(CallbackError::TimedOut(timeout)),
            redirect = tokio::time::timeout(timeout, rx.recv()) => match redirect {
                Ok(Some(redirect)) => redirect,
                _ => return Err(CallbackError::TimedOut(timeout)),
            },
        };
        if let Some(error) = redirect.error {
            return Err(CallbackError::Refused {
                error,
                description: redirect.error_description,
            });
        }
        if let Some(issuer) = issuer
            && redirect.iss.as_deref() != Some(issuer)
        {
            return Err(CallbackError::WrongIssuer {
                expected: issuer.to_owned(),
                found: redirect.iss,
            });
        }
        redirect.code.ok_or(CallbackError::Refused {
            error: "invalid_request".to_owned(),
            description: Some("the redirect carried no code".to_owned()),
        })
    }
}

/// Answers one request: the page for the user, and the redirect for the waiting sign-in
/// when its `state` is the expected one.
async fn answer(
    request: &Request<Incoming>,
    expected: &str,
    tx: &mpsc::Sender<Redirect>,
) -> Response<Full<Bytes>> {
    if request.uri().path() != PATH {
        return page(StatusCode::NOT_FOUND, "not found");
    }
    let mut redirect = Redirect {
        state: None,
        code: None,
        iss: None,
        error: None,
        error_description: None,
    };
    for (name, value) in url::form_urlencoded::parse(request.uri().query().unwrap_or("").as_bytes())
    {
        let slot = match name.as_ref() {
            "state" => &mut redirect.state,
            "code" => &mut redirect.code,
            "iss" => &mut redirect.iss,
            "error" => &mut redirect.error,
            "error_description" => &mut redirect.error_description,
            _ => continue,
        };
        *slot = Some(value.into_owned());
    }
    if redirect.state.as_deref() != Some(expected) {
        tracing::warn!(
            "a redirect with another state was refused (a stale tab, or a forged redirect); still waiting"
        );
        return page(StatusCode::BAD_REQUEST, STALE_PAGE);
    }
    let failed = redirect.error.is_some() || redirect.code.is_none();
    let _ = tx.send(redirect).await;
    if failed {
        page(StatusCode::BAD_REQUEST, ERROR_PAGE)
    } else {
        page(StatusCode::OK, CLOSE_PAGE)
    }
}

fn page(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/html; charset=utf-8"),
    );
    // The page must not be kept: it follows a one-time code.
    response.headers_mut().insert(
        hyper::header::CACHE_CONTROL,
        hyper::header::HeaderValue::from_static("no-store"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> Url {
        Url::parse("https://mcp.example.com/mcp").expect("a URL")
    }

    #[test]
    fn the_preferred_port_is_stable_and_dynamic() {
        let a = preferred_port(&server());
        assert_eq!(
            a,
            preferred_port(&Url::parse("https://MCP.example.com/mcp/").expect("url"))
        );
        assert!(a >= 49_152);
        assert_ne!(
            a,
            preferred_port(&Url::parse("https://other.example.com/mcp").expect("url"))
        );
    }

    async fn get(url: &str) -> (u16, String) {
        let response = reqwest::get(url).await.expect("the listener answers");
        let status = response.status().as_u16();
        (status, response.text().await.expect("a body"))
    }

    #[tokio::test]
    async fn a_wrong_state_is_refused_and_the_right_one_gives_the_code() {
        let callback = Callback::bind(&server(), Some(0)).await.expect("bind");
        let uri = callback.redirect_uri();
        assert!(uri.starts_with("http://127.0.0.1:"), "{uri}");
        let waiting =
            tokio::spawn(callback.code("s-1", Some("https://as"), Duration::from_secs(60)));
        let (status, body) = get(&format!("{uri}?code=c-0&state=stale&iss=https%3A%2F%2Fas")).await;
        assert_eq!(status, 400);
        assert!(body.contains("another sign-in"), "{body}");
        assert!(!waiting.is_finished());
        let (status, body) = get(&format!("{uri}?code=c-1&state=s-1&iss=https%3A%2F%2Fas")).await;
        assert_eq!(status, 200);
        assert!(body.contains("close this tab"), "{body}");
        assert_eq!(waiting.await.expect("joined"), Ok("c-1".to_owned()));
    }

    #[tokio::test]
    async fn an_error_or_another_issuer_ends_the_wait_without_a_code() {
        let callback = Callback::bind(&server(), Some(0)).await.expect("bind");
        let uri = callback.redirect_uri();
        let waiting = tokio::spawn(callback.code("s", None, Duration::from_secs(60)));
        let (status, _) = get(&format!(
            "{uri}?state=s&error=access_denied&error_description=no"
        ))
        .await;
        assert_eq!(status, 400);
        assert_eq!(
            waiting.await.expect("joined"),
            Err(CallbackError::Refused {
                error: "access_denied".to_owned(),
                description: Some("no".to_owned())
            })
        );

        let callback = Callback::bind(&server(), Some(0)).await.expect("bind");
        let uri = callback.redirect_uri();
        let waiting = tokio::spawn(callback.code("s", Some("https://as"), Duration::from_secs(60)));
        get(&format!("{uri}?state=s&code=c&iss=https%3A%2F%2Fevil")).await;
        assert!(matches!(
            waiting.await.expect("joined"),
            Err(CallbackError::WrongIssuer { .. })
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn nobody_coming_back_times_out() {
        let callback = Callback::bind(&server(), Some(0)).await.expect("bind");
        let result = callback.code("s", None, Duration::from_secs(300)).await;
        assert_eq!(
            result,
            Err(CallbackError::TimedOut(Duration::from_secs(300)))
        );
    }

    #[tokio::test]
    async fn a_busy_preferred_port_falls_back_and_a_strict_one_fails() {
        let first = Callback::bind(&server(), None).await;
        let Ok(first) = first else {
            // Another program holds the whole range here: nothing to check.
            return;
        };
        let second = Callback::bind(&server(), None)
            .await
            .expect("a fallback port");
        assert_ne!(first.port(), second.port());
        assert!(Callback::bind(&server(), Some(first.port())).await.is_err());
    }
}
