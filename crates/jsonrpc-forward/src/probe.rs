//! The one `server/discover` probe that tells a server's era (§2.5 of `protocol-2026.md`),
//! and the `InitializeResult` a 2025-era host gets when the server turns out modern (§4.2).
//!
//! The probe carries the 2026 envelope in `params._meta` and the headers derived from it
//! (`MCP-Protocol-Version`, `Mcp-Method`, both `Accept` types): without the headers the
//! MCP Python SDK 2.3 routes the POST to its 2025 path and answers "Missing session ID",
//! which reads as legacy. It is sent like any request (sign-in, proxies and headers
//! included; a `401` is met by the sign-in first), bounded by [`PROBE_TIMEOUT`], and its
//! answer goes through [`classify_probe`].

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::client::Client;
use crate::era::{MODERN_VERSION, ProbeAnswer, ProbeVerdict, classify_probe};
use crate::error::{Error, display_chain};
use crate::forwarded::HeaderSource;
use crate::headers::RequestHeaders;
use crate::message::Outgoing;

/// How long a probe may take: what every SDK waits (§4.6).
pub(crate) const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// The versions of the 2026 era the bridge speaks, in order of preference.
pub(crate) const MODERN_VERSIONS: &[&str] = &[MODERN_VERSION];

/// The 2025-era versions a host may open with and get back unchanged.
const HANDSHAKE_VERSIONS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];

/// What one probe found.
#[derive(Debug)]
pub(crate) struct Probed {
    pub(crate) verdict: ProbeVerdict,
    /// The JSON-RPC answer to the probe (one line), when one came: for a host's own
    /// `server/discover`, what the host gets in a pass-through.
    pub(crate) answer: Option<Bytes>,
    /// The error that ended the probe, when no answer came.
    pub(crate) error: Option<Error>,
}

impl Probed {
    /// The `DiscoverResult` (raw JSON) of a modern answer.
    pub(crate) fn discover_result(&self) -> Option<String> {
        #[derive(Deserialize)]
        struct Answer<'a> {
            #[serde(borrow)]
            result: &'a RawValue,
        }
        let answer = self.answer.as_ref()?;
        let answer: Answer<'_> = serde_json::from_slice(answer).ok()?;
        Some(answer.result.get().to_owned())
    }
}

/// Sends `probe` (a `server/discover` request carrying the envelope) and classifies the
/// answer. Never fails: every failure is a verdict.
pub(crate) async fn probe(client: &Client, probe: Outgoing) -> Probed {
    let id = probe.id().unwrap_or("null").to_owned();
    let headers: HeaderSource = Arc::new(RequestHeaders::default);
    let mut attempts = 0;
    let sent = tokio::time::timeout(PROBE_TIMEOUT, async {
        let mut response = client.forward_with(probe, headers, &mut attempts).await?;
        let status = response.status().as_u16();
        let messages = response.messages();
        while let Some(item) = messages.next_routed().await {
            let routed = item?;
            if !routed.answers.is_empty() {
                return Ok((status, Some(routed.line.bytes().clone())));
            }
        }
        Ok::<_, Error>((status, None))
    })
    .await;
    let (answer, error) = match sent {
        Err(_) => (None, Some(Error::Timeout(PROBE_TIMEOUT))),
        Ok(Ok((status, body))) => (Some((status, body)), None),
        Ok(Err(Error::Status(s))) => {
            let body = (!s.body.is_empty()).then(|| s.body.clone());
            (Some((s.status.as_u16(), body)), Some(Error::Status(s)))
        }
        Ok(Err(e)) => (None, Some(e)),
    };
    let verdict = match (&answer, &error) {
        (Some((status, body)), _) => classify_probe(
            ProbeAnswer::Response {
                status: *status,
                body: body.as_deref().unwrap_or_default(),
            },
            &id,
            MODERN_VERSIONS,
        ),
        (None, Some(e)) if e.is_timeout() => {
            classify_probe(ProbeAnswer::Silence, &id, MODERN_VERSIONS)
        }
        (None, _) => classify_probe(ProbeAnswer::Network, &id, MODERN_VERSIONS),
    };
    match &error {
        Some(e) => {
            tracing::info!(verdict = ?verdict, error = %display_chain(e), "server/discover probe");
        }
        None => tracing::info!(verdict = ?verdict, "server/discover probe"),
    }
    Probed {
        verdict,
        answer: answer.and_then(|(_, body)| body),
        error,
    }
}

/// The `InitializeResult` a 2025-era host gets from a 2026-era server's `DiscoverResult`
/// (§4.2.1): the host's own version when it is a handshake version (else `2025-11-25`), the
/// server's capabilities as advertised (`resources.subscribe`, `logging` and `listChanged`
/// are all emulated: the bridge answers `resources/subscribe` and `logging/setLevel` and
/// delivers changes from its `subscriptions/listen`), its `serverInfo` from the result's
/// `_meta` and its `instructions`.
pub(crate) fn initialize_result(discover: &str, host_version: Option<&str>) -> Bytes {
    #[derive(Deserialize, Default)]
    struct Discover<'a> {
        #[serde(borrow, default)]
        capabilities: Option<&'a RawValue>,
        #[serde(default)]
        instructions: Option<String>,
        #[serde(borrow, default, rename = "_meta")]
        meta: Option<Meta<'a>>,
    }
    #[derive(Deserialize, Default)]
    struct Meta<'a> {
        #[serde(borrow, default, rename = "io.modelcontextprotocol/serverInfo")]
        server_info: Option<&'a RawValue>,
    }
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct InitializeResult<'a> {
        protocol_version: &'a str,
        capabilities: &'a RawValue,
        server_info: &'a RawValue,
        #[serde(skip_serializing_if = "Option::is_none")]
        instructions: Option<&'a str>,
    }
    let parsed: Discover<'_> = serde_json::from_str(discover).unwrap_or_default();
    let version = host_version
        .filter(|version| HANDSHAKE_VERSIONS.contains(version))
        .unwrap_or(HANDSHAKE_VERSIONS[0]);
    let empty = RawValue::from_string("{}".to_owned()).unwrap_or_else(|_| unreachable_raw());
    let fallback_info = RawValue::from_string(format!(
        r#"{{"name":"MCP server ({MODERN_VERSION}, through mcp-wrapper)","version":"unknown"}}"#
    ))
    .unwrap_or_else(|_| unreachable_raw());
    let result = InitializeResult {
        protocol_version: version,
        capabilities: parsed.capabilities.unwrap_or(&empty),
        server_info: parsed
            .meta
            .and_then(|meta| meta.server_info)
            .unwrap_or(&fallback_info),
        instructions: parsed.instructions.as_deref(),
    };
    Bytes::from(serde_json::to_vec(&result).unwrap_or_default())
}

/// `null` as a raw value; the fallback for constant JSON that always parses.
fn unreachable_raw() -> Box<RawValue> {
    serde_json::value::to_raw_value(&serde_json::Value::Null).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initialize_result_from_a_discover_result() {
        let discover = r#"{"cacheScope":"private","capabilities":{"tools":{"listChanged":true}},"resultType":"complete","supportedVersions":["2026-07-28"],"ttlMs":0,"instructions":"be nice","_meta":{"io.modelcontextprotocol/serverInfo":{"name":"exp","version":"1.0"}}}"#;
        let result = initialize_result(discover, Some("2025-06-18"));
        let value: serde_json::Value = serde_json::from_slice(&result).expect("json");
        assert_eq!(
            value,
            serde_json::json!({
                "protocolVersion": "2025-06-18",
                "capabilities": {"tools": {"listChanged": true}},
                "serverInfo": {"name": "exp", "version": "1.0"},
                "instructions": "be nice",
            })
        );
    }

    #[test]
    fn unknown_host_versions_and_bare_results_get_defaults() {
        let result = initialize_result("{}", Some("2099-01-01"));
        let value: serde_json::Value = serde_json::from_slice(&result).expect("json");
        assert_eq!(value["protocolVersion"], "2025-11-25");
        assert_eq!(value["capabilities"], serde_json::json!({}));
        assert!(value["serverInfo"]["name"].as_str().is_some());
        assert!(value.get("instructions").is_none());
        let result = initialize_result("not json", None);
        let value: serde_json::Value = serde_json::from_slice(&result).expect("json");
        assert_eq!(value["protocolVersion"], "2025-11-25");
    }
}
