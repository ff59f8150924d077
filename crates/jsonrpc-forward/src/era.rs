//! Which MCP protocol era each side speaks: the host's from its own requests, the server's
//! from the answer to one `server/discover` probe.
//!
//! The 2025 era opens with `initialize` and keeps a session; the 2026-07-28 era has neither
//! and carries the protocol version in every request's `params._meta`
//! ([`PROTOCOL_VERSION_META`]). The bridge speaks both on both sides, so it has to tell them
//! apart before it can forward anything. Everything here is pure: the caller does the IO and
//! hands in what it read (research notes `protocol-2026.md` §2.5, §3, §4.0).

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::message::{IdKey, Outgoing};

/// The `params._meta` key that carries a 2026-era request's protocol version (§1.2).
pub const PROTOCOL_VERSION_META: &str = "io.modelcontextprotocol/protocolVersion";

/// The first protocol version of the era without `initialize`.
pub const MODERN_VERSION: &str = "2026-07-28";

/// The method that only the 2026 era has, and that every 2026-era server implements.
pub const DISCOVER: &str = "server/discover";

/// A protocol era.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Era {
    /// 2025-11-25 and before: `initialize`, a session id, the GET stream.
    Legacy,
    /// 2026-07-28 and after: no `initialize`, `_meta` and body-derived headers on every
    /// request.
    Modern,
}

/// Which era the bridge speaks to the server: `--protocol` (env `MCP_PROTOCOL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Protocol {
    /// Ask the server with one `server/discover` probe (its verdict cached on disk), then
    /// translate a 2025-era host to a 2026-era server, pass a 2026-era host through, and
    /// turn a 2026-era host back to `initialize` when the server is 2025-era.
    #[default]
    Auto,
    /// The server speaks the 2025 era: no probe; a 2026-era host's `server/discover` is
    /// answered `-32601`, so that it falls back to `initialize`.
    Legacy,
    /// The server speaks 2026-07-28: a 2025-era host is always translated; a server that
    /// turns out not to is an error, never a fallback.
    Modern,
}

impl Protocol {
    /// The name used on the command line and in `MCP_PROTOCOL`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Auto => "auto",
            Protocol::Legacy => "legacy",
            Protocol::Modern => "modern",
        }
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A protocol name that is none of `auto`, `legacy`, `modern`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown protocol {0:?}: expected auto, legacy or modern")]
#[non_exhaustive]
pub struct UnknownProtocol(pub String);

impl std::str::FromStr for Protocol {
    type Err = UnknownProtocol;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Protocol::Auto),
            "legacy" | "2025" | "2025-11-25" => Ok(Protocol::Legacy),
            "modern" | "2026" | "2026-07-28" => Ok(Protocol::Modern),
            _ => Err(UnknownProtocol(s.to_owned())),
        }
    }
}

/// The era a host's message shows, if it shows one: `initialize` is legacy; `server/discover`,
/// or any request whose `params._meta` carries [`PROTOCOL_VERSION_META`], is modern. A
/// notification, a response, or a request with neither (`ping`, say) shows nothing.
///
/// Only requests count: a host's answer or notification says nothing about how it opened.
/// A batch is judged by its `initialize`, if it has one (only the 2025 era had batches).
#[must_use]
pub fn shown_by(message: &Outgoing) -> Option<Era> {
    if message.initialize().is_some() {
        return Some(Era::Legacy);
    }
    if !message.is_request() {
        return None;
    }
    if message.method() == Some(DISCOVER) || message.protocol_version().is_some() {
        return Some(Era::Modern);
    }
    None
}

/// The host's era after `message`, given its era so far (`None`: not known yet).
///
/// The first message that shows an era decides it. One switch is allowed afterwards: a
/// host that probed with `server/discover` and then sends `initialize` anyway (Claude Code
/// 2.1.280, Copilot CLI 1.0.81-1, §3) is served as legacy from then on, so the bug costs the
/// user nothing. A legacy host never turns modern: once it has a session, a stray `_meta`
/// version in one of its requests is its own business and is forwarded as is.
#[must_use]
pub fn host_era_after(current: Option<Era>, message: &Outgoing) -> Option<Era> {
    match (current, shown_by(message)) {
        (None, shown) => shown,
        (Some(Era::Modern), Some(Era::Legacy)) => Some(Era::Legacy),
        (Some(era), _) => Some(era),
    }
}

/// The status line and body of the answer to one probe, or that none came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProbeAnswer<'a> {
    /// A response arrived. `body` is the JSON-RPC message it carried: the whole body of an
    /// `application/json` answer, the `data` of the first `message` event of an SSE one
    /// (the caller decodes the framing); empty when there was none. Bytes that are not a
    /// JSON-RPC response to the probe count as no body.
    Response {
        /// The HTTP status code.
        status: u16,
        /// The JSON-RPC message of the body.
        body: &'a [u8],
    },
    /// No response headers within the probe's time limit.
    Silence,
    /// The connection failed (refused, reset, TLS).
    Network,
}

/// What one probe says about the server's era (§2.5).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProbeVerdict {
    /// A `DiscoverResult` that lists one of our versions: speak the modern era at `version`
    /// (the first of ours, in our order of preference, that the server lists).
    Modern {
        /// The version both sides speak.
        version: String,
    },
    /// `-32022` (unsupported version) whose `data.supported` names one of ours: probe once
    /// more at `version`. A second `Reprobe` in a row is the caller's cue to give up as
    /// [`ProbeVerdict::Unavailable`], never to loop.
    Reprobe {
        /// The version to probe at.
        version: String,
    },
    /// Speak the 2025 era: send the host's `initialize`. Cache it, and re-check it at most
    /// once a day.
    Legacy(LegacyReason),
    /// `401` or `403`: sign in, then probe again. Never an era, never cached.
    SignIn {
        /// The HTTP status code.
        status: u16,
    },
    /// No verdict: 5xx, silence, a network error, or an answer that fits no rule (a `429`,
    /// a `200` with no JSON-RPC in it). The host's `initialize` gets one `-32603` error
    /// (its data carries `status`), nothing is cached, and the next start probes again.
    /// Falling back to legacy here would only spend a second timeout on a server that is
    /// down (the TS SDK's rule for HTTP).
    Unavailable {
        /// The HTTP status code, when a response came.
        status: Option<u16>,
    },
}

/// Why a probe gave [`ProbeVerdict::Legacy`]; worth a log line, since some of these are a
/// modern server that disliked our probe rather than a legacy one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LegacyReason {
    /// A `DiscoverResult` that lists none of our versions.
    NoCommonVersion,
    /// `-32022` whose `supported` list has none of our versions.
    UnsupportedVersion,
    /// `-32020` (header mismatch) or `-32021` (missing capability): a modern server that
    /// rejected the probe itself. Legacy, as the TS SDK does, since `initialize` may still
    /// work on a dual-era server; logged, because it points at a bug in our probe.
    ModernRejection {
        /// The JSON-RPC error code.
        code: i64,
    },
    /// Any other JSON-RPC error answering the probe (`-32601` method not found, `-32600`
    /// "missing session ID", ...): what a 2025 server says to a method it does not know.
    Error {
        /// The JSON-RPC error code.
        code: i64,
    },
    /// `400`, `404`, `405` or `406` with no JSON-RPC answer in the body.
    Status {
        /// The HTTP status code.
        status: u16,
    },
}

/// `-32603`: the server broke while answering (a crashing handler), which says nothing about
/// its era.
const INTERNAL_ERROR: i64 = -32603;

/// The JSON-RPC error codes the 2026 spec reserves for itself and that mean "a modern server
/// rejected this request" rather than "unknown method".
const HEADER_MISMATCH: i64 = -32020;
const MISSING_CAPABILITY: i64 = -32021;
const UNSUPPORTED_VERSION: i64 = -32022;

/// The parts of a probe answer that decide the verdict; everything else is skipped. `result`
/// and `error.data` are read only when needed, so that an odd shape there (`"data":"ping"`)
/// does not hide the error code.
#[derive(Deserialize)]
struct Answer<'a> {
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    result: Option<&'a RawValue>,
    #[serde(borrow, default)]
    error: Option<ErrorObject<'a>>,
}

#[derive(Deserialize)]
struct DiscoverResult {
    #[serde(rename = "supportedVersions")]
    supported_versions: Vec<String>,
}

#[derive(Deserialize)]
struct ErrorObject<'a> {
    code: i64,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct UnsupportedVersionData {
    supported: Vec<String>,
}

/// The verdict of one `server/discover` probe whose id was `probe_id` (raw JSON text),
/// sent with the modern headers (a probe without them is misread: §2.5), offering `ours` in
/// order of preference.
///
/// | answer | verdict |
/// |---|---|
/// | `DiscoverResult` sharing a version with `ours` | `Modern` |
/// | `DiscoverResult` sharing none | `Legacy(NoCommonVersion)` |
/// | `-32022` naming one of `ours` in `data.supported` | `Reprobe` |
/// | `-32022` naming none | `Legacy(UnsupportedVersion)` |
/// | `-32020` / `-32021` | `Legacy(ModernRejection)` |
/// | `-32603` (the server broke) | `Unavailable` |
/// | any other JSON-RPC error for the probe, with a 2xx, 400, 404, 405 or 406 | `Legacy(Error)` |
/// | 400/404/405/406 with no JSON-RPC answer | `Legacy(Status)` |
/// | 401/403 (whatever the body) | `SignIn` |
/// | 5xx, any other status (408, 409, 429…), silence, network error, anything else | `Unavailable` |
///
/// A JSON-RPC answer counts when its id is the probe's, `null` or missing (a 2025 server that
/// rejects a session-less POST before reading the id answers `null`). A 5xx is `Unavailable` even
/// with a JSON-RPC error in it: a gateway in trouble says nothing about the server behind it.
#[must_use]
pub fn classify_probe(answer: ProbeAnswer<'_>, probe_id: &str, ours: &[&str]) -> ProbeVerdict {
    let (status, body) = match answer {
        ProbeAnswer::Response { status, body } => (status, body),
        ProbeAnswer::Silence | ProbeAnswer::Network => {
            return ProbeVerdict::Unavailable { status: None };
        }
    };
    match status {
        401 | 403 => return ProbeVerdict::SignIn { status },
        500..=599 => {
            return ProbeVerdict::Unavailable {
                status: Some(status),
            };
        }
        _ => {}
    }
    let answer = serde_json::from_slice::<Answer<'_>>(body)
        .ok()
        .filter(|answer| answer_to(answer, probe_id));
    let first_of_ours = |theirs: &[String]| {
        ours.iter()
            .find(|v| theirs.iter().any(|t| t == *v))
            .map(|v| (*v).to_owned())
    };
    let Some(answer) = answer else {
        return no_answer(status);
    };
    // Only the statuses a 2025 server gives a request it does not know say anything about
    // the era; a 408, 409 or 429 (a gateway's rate limit with a JSON-RPC body) does not.
    if !matches!(status, 200..=299 | 400 | 404 | 405 | 406) {
        return ProbeVerdict::Unavailable {
            status: Some(status),
        };
    }
    if let Some(error) = answer.error {
        return match error.code {
            // The server failed to answer: an outage, not an era.
            INTERNAL_ERROR => ProbeVerdict::Unavailable {
                status: Some(status),
            },
            UNSUPPORTED_VERSION => {
                let theirs = error
                    .data
                    .and_then(|d| serde_json::from_str::<UnsupportedVersionData>(d.get()).ok())
                    .map(|d| d.supported)
                    .unwrap_or_default();
                match first_of_ours(&theirs) {
                    Some(version) => ProbeVerdict::Reprobe { version },
                    None => ProbeVerdict::Legacy(LegacyReason::UnsupportedVersion),
                }
            }
            code @ (HEADER_MISMATCH | MISSING_CAPABILITY) => {
                ProbeVerdict::Legacy(LegacyReason::ModernRejection { code })
            }
            code => ProbeVerdict::Legacy(LegacyReason::Error { code }),
        };
    }
    let discover = answer
        .result
        .filter(|_| (200..300).contains(&status))
        .and_then(|r| serde_json::from_str::<DiscoverResult>(r.get()).ok());
    match discover {
        Some(discover) => match first_of_ours(&discover.supported_versions) {
            Some(version) => ProbeVerdict::Modern { version },
            None => ProbeVerdict::Legacy(LegacyReason::NoCommonVersion),
        },
        None => no_answer(status),
    }
}

/// The verdict of a status whose body holds no JSON-RPC answer to the probe.
fn no_answer(status: u16) -> ProbeVerdict {
    match status {
        400 | 404 | 405 | 406 => ProbeVerdict::Legacy(LegacyReason::Status { status }),
        _ => ProbeVerdict::Unavailable {
            status: Some(status),
        },
    }
}

/// Whether `answer` answers the probe: its id is the probe's, `null`, or missing (serde
/// reads both of the latter as `None`; a server that cannot tell which request it rejects
/// has no id to give).
fn answer_to(answer: &Answer<'_>, probe_id: &str) -> bool {
    answer
        .id
        .is_none_or(|id| IdKey::new(id.get()) == IdKey::new(probe_id))
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use proptest::prelude::*;

    use super::*;

    fn outgoing(json: &str) -> Outgoing {
        Outgoing::new(Bytes::from(json.to_owned())).expect("valid message")
    }

    const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"h","version":"1"}}}"#;
    const DISCOVER_REQUEST: &str = r#"{"jsonrpc":"2.0","id":"d1","method":"server/discover","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#;
    const ENVELOPED_LIST: &str = r#"{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#;

    #[test]
    fn initialize_shows_a_legacy_host() {
        assert_eq!(shown_by(&outgoing(INITIALIZE)), Some(Era::Legacy));
        let batch = format!("[{INITIALIZE}]");
        assert_eq!(shown_by(&outgoing(&batch)), Some(Era::Legacy));
    }

    // §3: the mcp 2.3 `Client` in auto mode probes first; pinned to 2026-07-28 it opens with
    // an enveloped `tools/list`.
    #[test]
    fn discover_or_an_enveloped_request_shows_a_modern_host() {
        assert_eq!(shown_by(&outgoing(DISCOVER_REQUEST)), Some(Era::Modern));
        let bare_discover = r#"{"jsonrpc":"2.0","id":1,"method":"server/discover"}"#;
        assert_eq!(shown_by(&outgoing(bare_discover)), Some(Era::Modern));
        assert_eq!(shown_by(&outgoing(ENVELOPED_LIST)), Some(Era::Modern));
    }

    #[test]
    fn notifications_responses_and_bare_requests_show_nothing() {
        for json in [
            r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            r#"{"jsonrpc":"2.0","method":"server/discover"}"#,
            r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":{}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":7}}}"#,
        ] {
            assert_eq!(shown_by(&outgoing(json)), None, "{json}");
        }
    }

    // claude-code #96183, copilot-cli #4525: discover succeeds, then `initialize` anyway.
    #[test]
    fn a_host_that_probes_then_initializes_is_served_as_legacy() {
        let era = host_era_after(None, &outgoing(DISCOVER_REQUEST));
        assert_eq!(era, Some(Era::Modern));
        let era = host_era_after(era, &outgoing(INITIALIZE));
        assert_eq!(era, Some(Era::Legacy));
        let era = host_era_after(era, &outgoing(ENVELOPED_LIST));
        assert_eq!(era, Some(Era::Legacy), "a legacy host never turns modern");
    }

    #[test]
    fn the_first_message_that_shows_an_era_decides_it() {
        let ping = outgoing(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#);
        assert_eq!(host_era_after(None, &ping), None);
        assert_eq!(host_era_after(Some(Era::Modern), &ping), Some(Era::Modern));
        let era = host_era_after(None, &outgoing(ENVELOPED_LIST));
        assert_eq!(host_era_after(era, &outgoing(DISCOVER_REQUEST)), era);
    }

    const OURS: &[&str] = &["2026-07-28"];

    fn response(status: u16, body: &str) -> ProbeVerdict {
        classify_probe(
            ProbeAnswer::Response {
                status,
                body: body.as_bytes(),
            },
            r#""d1""#,
            OURS,
        )
    }

    // §1.10: the mcp 2.3 answer to a probe with headers.
    #[test]
    fn a_discover_result_with_our_version_is_modern() {
        let body = r#"{"jsonrpc":"2.0","id":"d1","result":{"cacheScope":"private","capabilities":{"prompts":{"listChanged":true},"resources":{"listChanged":true,"subscribe":true},"tools":{"listChanged":true}},"resultType":"complete","supportedVersions":["2026-07-28"],"ttlMs":0,"_meta":{"io.modelcontextprotocol/serverInfo":{"name":"exp","version":"1"}}}}"#;
        assert_eq!(
            response(200, body),
            ProbeVerdict::Modern {
                version: "2026-07-28".into()
            }
        );
        let ours = ["2027-01-01", "2026-07-28"];
        let theirs = r#"{"jsonrpc":"2.0","id":"d1","result":{"supportedVersions":["2026-07-28","2027-01-01"]}}"#;
        let verdict = classify_probe(
            ProbeAnswer::Response {
                status: 200,
                body: theirs.as_bytes(),
            },
            r#""d1""#,
            &ours,
        );
        assert_eq!(
            verdict,
            ProbeVerdict::Modern {
                version: "2027-01-01".into()
            },
            "our preference wins"
        );
    }

    #[test]
    fn a_discover_result_without_our_version_is_legacy() {
        let body = r#"{"jsonrpc":"2.0","id":"d1","result":{"supportedVersions":["2099-01-01"]}}"#;
        assert_eq!(
            response(200, body),
            ProbeVerdict::Legacy(LegacyReason::NoCommonVersion)
        );
    }

    // §1.10: the probe at 2099-01-01.
    #[test]
    fn unsupported_version_naming_ours_means_probe_again_at_it() {
        let body = r#"{"jsonrpc":"2.0","id":"d1","error":{"code":-32022,"message":"Unsupported protocol version","data":{"supported":["2026-07-28"],"requested":"2099-01-01"}}}"#;
        assert_eq!(
            response(400, body),
            ProbeVerdict::Reprobe {
                version: "2026-07-28".into()
            }
        );
        let legacy_only = r#"{"jsonrpc":"2.0","id":"d1","error":{"code":-32022,"message":"x","data":{"supported":["2025-11-25"]}}}"#;
        assert_eq!(
            response(400, legacy_only),
            ProbeVerdict::Legacy(LegacyReason::UnsupportedVersion)
        );
    }

    // §1.10: a probe without headers got this from a dual-era server; with headers it is what
    // a 2025-only server says.
    #[test]
    fn a_non_modern_error_is_legacy_whatever_its_id_or_status() {
        let missing_session = r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Bad Request: Missing session ID"}}"#;
        assert_eq!(
            response(400, missing_session),
            ProbeVerdict::Legacy(LegacyReason::Error { code: -32600 })
        );
        let not_found =
            r#"{"jsonrpc":"2.0","id":"d1","error":{"code":-32601,"message":"Method not found"}}"#;
        assert_eq!(
            response(200, not_found),
            ProbeVerdict::Legacy(LegacyReason::Error { code: -32601 })
        );
        assert_eq!(
            response(404, not_found),
            ProbeVerdict::Legacy(LegacyReason::Error { code: -32601 })
        );
        // §1.10: how mcp 2.3 answers a retired method; `data` is a string.
        let retired = r#"{"jsonrpc":"2.0","id":"d1","error":{"code":-32601,"message":"Method not found","data":"ping"}}"#;
        assert_eq!(
            response(200, retired),
            ProbeVerdict::Legacy(LegacyReason::Error { code: -32601 })
        );
    }

    #[test]
    fn a_modern_rejection_of_the_probe_is_legacy_with_its_code() {
        for code in [-32020, -32021] {
            let body =
                format!(r#"{{"jsonrpc":"2.0","id":"d1","error":{{"code":{code},"message":"x"}}}}"#);
            assert_eq!(
                response(400, &body),
                ProbeVerdict::Legacy(LegacyReason::ModernRejection { code })
            );
        }
    }

    #[test]
    fn a_4xx_without_a_json_rpc_answer_is_legacy_only_for_400_404_405_406() {
        for status in [400, 404, 405, 406] {
            for body in ["", "Not Found", "<html></html>", r#"{"detail":"x"}"#] {
                assert_eq!(
                    response(status, body),
                    ProbeVerdict::Legacy(LegacyReason::Status { status }),
                    "{status} {body:?}"
                );
            }
        }
        for status in [408, 409, 413, 429, 431] {
            assert_eq!(
                response(status, ""),
                ProbeVerdict::Unavailable {
                    status: Some(status)
                }
            );
        }
    }

    #[test]
    fn an_answer_to_another_id_counts_as_no_body() {
        let other = r#"{"jsonrpc":"2.0","id":"x","error":{"code":-32022,"data":{"supported":["2026-07-28"]}}}"#;
        assert_eq!(
            response(400, other),
            ProbeVerdict::Legacy(LegacyReason::Status { status: 400 })
        );
        let other = r#"{"jsonrpc":"2.0","id":"x","result":{"supportedVersions":["2026-07-28"]}}"#;
        assert_eq!(
            response(200, other),
            ProbeVerdict::Unavailable { status: Some(200) }
        );
        let no_id = r#"{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"}}"#;
        assert_eq!(
            response(200, no_id),
            ProbeVerdict::Legacy(LegacyReason::Error { code: -32601 }),
            "a missing id counts as null"
        );
        let escaped =
            r#"{"jsonrpc":"2.0","id":"\u00641","result":{"supportedVersions":["2026-07-28"]}}"#;
        assert!(matches!(
            response(200, escaped),
            ProbeVerdict::Modern { .. }
        ));
    }

    // §2.5: 401/403 run the sign-in; 5xx, silence and network errors are outages. None of
    // them is a legacy verdict.
    #[test]
    fn sign_in_and_outages_are_never_an_era() {
        let not_found = r#"{"jsonrpc":"2.0","id":"d1","error":{"code":-32601,"message":"x"}}"#;
        for status in [401, 403] {
            assert_eq!(response(status, ""), ProbeVerdict::SignIn { status });
            assert_eq!(response(status, not_found), ProbeVerdict::SignIn { status });
        }
        for status in [500, 502, 503, 504] {
            assert_eq!(
                response(status, not_found),
                ProbeVerdict::Unavailable {
                    status: Some(status)
                }
            );
        }
        for answer in [ProbeAnswer::Silence, ProbeAnswer::Network] {
            assert_eq!(
                classify_probe(answer, r#""d1""#, OURS),
                ProbeVerdict::Unavailable { status: None }
            );
        }
        assert_eq!(
            response(200, "not json"),
            ProbeVerdict::Unavailable { status: Some(200) }
        );
        assert_eq!(
            response(202, ""),
            ProbeVerdict::Unavailable { status: Some(202) }
        );
    }

    // Review of issue 16: a rate-limiting gateway's 429 with a JSON-RPC body, and a
    // `server/discover` handler that crashed, were cached as legacy for a day.
    #[test]
    fn rate_limits_and_server_failures_are_never_legacy() {
        let limited = r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":"Rate limit exceeded"}}"#;
        for status in [408, 409, 429] {
            assert_eq!(
                response(status, limited),
                ProbeVerdict::Unavailable {
                    status: Some(status)
                }
            );
        }
        let crashed = r#"{"jsonrpc":"2.0","id":"d1","error":{"code":-32603,"message":"boom"}}"#;
        for status in [200, 400] {
            assert_eq!(
                response(status, crashed),
                ProbeVerdict::Unavailable {
                    status: Some(status)
                }
            );
        }
    }

    proptest! {
        // Whatever the body, the status alone rules out a legacy verdict for 401/403/5xx,
        // and a verdict is always given (no panic on input-derived data).
        #[test]
        fn no_body_makes_an_outage_or_a_sign_in_legacy(
            status in prop_oneof![Just(401u16), Just(403u16), 500u16..600],
            body in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let verdict = classify_probe(
                ProbeAnswer::Response { status, body: &body },
                "1",
                OURS,
            );
            let era = matches!(verdict, ProbeVerdict::Legacy(_) | ProbeVerdict::Modern { .. });
            prop_assert!(!era, "{:?}", verdict);
        }

        #[test]
        fn any_body_gets_a_verdict(status in 100u16..600, body in ".{0,80}") {
            let _ = classify_probe(
                ProbeAnswer::Response { status, body: body.as_bytes() },
                "1",
                OURS,
            );
        }
    }
}
