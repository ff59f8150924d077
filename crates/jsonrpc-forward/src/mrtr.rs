//! Multi-round-trip requests for a 2025-era host (case B, §1.7, §4.7).
//!
//! A 2026 server that needs something from the client (a form filled in, a model sampled,
//! the roots) does not send it a request: it answers `tools/call`, `prompts/get` or
//! `resources/read` with `resultType: "input_required"`, the `inputRequests` it needs and an
//! opaque `requestState`. The client is to answer each input request, then send the original
//! request again under a new id with `inputResponses` and the `requestState` echoed
//! unmodified. A 2025 host knows none of that, but it does answer server requests. So the
//! bridge sends it each input request as an ordinary server request ([`host_request`]),
//! collects the answers, retries ([`retry_request`]), and hands the host the final answer
//! under its own id ([`with_id`]). These are the pure parts of that loop; the bridge owns
//! the IO, the ids and the host's cancellations.

use std::borrow::Cow;
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::envelope::{Envelope, EnvelopeError, splice};
use crate::error::display_chain;
use crate::json_object::{Edit, JsonObject, replace_at};
use crate::message::error_response;

/// The most input requests one `input_required` result may carry (§4.7): each becomes a
/// request to the host, sent concurrently.
pub(crate) const MAX_INPUT_REQUESTS: usize = 8;

/// The most retries of one host request; after that the host gets one `-32603` (§1.7: the
/// SDK clients cap rounds at 10).
pub(crate) const MAX_ROUNDS: u32 = 10;

/// `resultType` of an interim answer.
const INPUT_REQUIRED: &str = "input_required";

/// Why an `input_required` answer cannot be served. The messages are sentences for the host,
/// whose request ends with one of them as its error ([`MrtrError::to_response`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum MrtrError {
    /// The answer is not an `input_required` result, or not one that can be read.
    #[error("the server's input_required result is malformed")]
    Malformed(#[source] serde_json::Error),
    /// `inputRequests` is there and not an object.
    #[error("the server's input_required result has an inputRequests that is not an object")]
    InputRequests,
    /// Neither input requests nor a request state: a retry would only repeat the request.
    #[error(
        "the server answered input_required but asked for nothing (no inputRequests, no requestState)"
    )]
    Empty,
    /// More input requests than the bridge relays at once.
    #[error(
        "the server asked for {count} inputs at once; at most {MAX_INPUT_REQUESTS} are relayed"
    )]
    TooManyRequests {
        /// How many the server asked for.
        count: usize,
    },
    /// An input request whose method a server may not ask for (§1.7).
    #[error(
        "the server asked for input {key:?} with method {method:?}, which is not \
         elicitation/create, sampling/createMessage or roots/list"
    )]
    Method {
        /// The input request's key.
        key: String,
        /// Its method.
        method: String,
    },
    /// An elicitation in a mode other than form (URL mode lost `elicitationId` in the 2026
    /// era, so a 2025 host could not tell when it completes; §1.7, §4.7).
    #[error(
        "the server asked for input {key:?} by elicitation in {mode:?} mode; \
         only form mode can be relayed to this client"
    )]
    ElicitationMode {
        /// The input request's key.
        key: String,
        /// The mode asked for.
        mode: String,
    },
    /// An input request for a capability the host did not declare in `initialize`.
    #[error(
        "the server asked for input {key:?} with {method}, but the client did not declare \
         the {capability} capability"
    )]
    Capability {
        /// The input request's key.
        key: String,
        /// Its method.
        method: String,
        /// The capability it needs.
        capability: &'static str,
    },
    /// The server still wanted input after [`MAX_ROUNDS`] retries.
    #[error("input_required exceeded {MAX_ROUNDS} rounds")]
    TooManyRounds,
    /// The request or answer to rewrite is not a JSON-RPC object with an id and object
    /// `params` (or none).
    #[error("the message to re-address is not a JSON-RPC object with an id and object params")]
    Message,
    /// An id given to the rewrite is not JSON text.
    #[error("the id is not JSON text")]
    Id,
    /// The envelope could not be added to the retry.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
}

impl MrtrError {
    /// The error answering the host's request `id` (raw JSON text): `-32603`, the bridge's
    /// code for a request it cannot complete (the `-32020…-32099` range belongs to the spec,
    /// §1.8).
    pub(crate) fn to_response(&self, id: Option<&str>) -> Bytes {
        error_response(id, -32603, &display_chain(self), None)
    }
}

/// Whether `answer_line` is a result with `resultType: "input_required"` (§1.7).
///
/// A depth-1 scan: `result`'s members are skipped unread except `resultType`, so a large
/// complete result costs a syntax pass and no tree. A line that cannot be read this way (not
/// JSON, an error answer, a `result` that is not an object, a repeated `result` or
/// `resultType`) is not an interim result, and passes on as it is.
pub(crate) fn is_input_required(answer_line: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Answer<'a> {
        #[serde(borrow, default)]
        result: Option<Head<'a>>,
    }
    #[derive(Deserialize)]
    struct Head<'a> {
        #[serde(rename = "resultType", borrow, default)]
        result_type: Option<Cow<'a, str>>,
    }
    serde_json::from_slice::<Answer<'_>>(answer_line)
        .ok()
        .and_then(|answer| answer.result?.result_type)
        .is_some_and(|t| t == INPUT_REQUIRED)
}

/// One input the server asks the client for (§1.7).
#[derive(Debug, Clone)]
pub(crate) struct InputRequest {
    /// The key its answer goes under in `inputResponses`.
    pub(crate) key: String,
    /// `elicitation/create`, `sampling/createMessage` or `roots/list` (once checked).
    pub(crate) method: String,
    /// Its params as the server wrote them (`{}` when absent).
    pub(crate) params: Box<RawValue>,
}

/// An `input_required` result, read.
#[derive(Debug, Clone)]
pub(crate) struct InputRequired {
    /// The input requests, in the server's order.
    pub(crate) requests: Vec<InputRequest>,
    /// `requestState` as the server wrote it, to be echoed unmodified (`None` when absent or
    /// `null`).
    pub(crate) request_state: Option<Box<RawValue>>,
}

impl InputRequired {
    /// Reads the `input_required` result of `answer_line`.
    ///
    /// A key repeated in `inputRequests` counts once, with its last value (as a parsed tree
    /// reads it), so that `inputResponses` never repeats a key.
    ///
    /// # Errors
    ///
    /// [`MrtrError::Malformed`] when the line is not a result with `resultType:
    /// "input_required"` and well-formed input requests (each with a string `method`),
    /// [`MrtrError::InputRequests`] when `inputRequests` is not an object.
    pub(crate) fn parse(answer_line: &[u8]) -> Result<Self, MrtrError> {
        #[derive(Deserialize)]
        struct Answer<'a> {
            #[serde(borrow)]
            result: Interim<'a>,
        }
        #[derive(Deserialize)]
        struct Interim<'a> {
            #[serde(rename = "resultType", borrow)]
            result_type: Cow<'a, str>,
            #[serde(rename = "inputRequests", borrow, default)]
            input_requests: Option<&'a RawValue>,
            #[serde(rename = "requestState", default)]
            request_state: Option<Box<RawValue>>,
        }
        #[derive(Deserialize)]
        struct Request<'a> {
            #[serde(borrow)]
            method: Cow<'a, str>,
            #[serde(default)]
            params: Option<Box<RawValue>>,
        }
        let answer: Answer<'_> =
            serde_json::from_slice(answer_line).map_err(MrtrError::Malformed)?;
        let interim = answer.result;
        if interim.result_type != INPUT_REQUIRED {
            return Err(MrtrError::Malformed(
                <serde_json::Error as serde::de::Error>::custom(format!(
                    "resultType is {:?}",
                    interim.result_type
                )),
            ));
        }
        let mut requests = Vec::new();
        if let Some(raw) = interim.input_requests.filter(|raw| raw.get() != "null") {
            let object = JsonObject::parse(raw.get())
                .map_err(MrtrError::Malformed)?
                .ok_or(MrtrError::InputRequests)?;
            let members = object.members();
            for (index, member) in members.iter().enumerate() {
                if members[index + 1..].iter().any(|m| m.key == member.key) {
                    continue;
                }
                let request: Request<'_> =
                    serde_json::from_str(member.value.get()).map_err(MrtrError::Malformed)?;
                let params = match request.params {
                    Some(params) if params.get() != "null" => params,
                    _ => RawValue::from_string("{}".to_owned()).map_err(MrtrError::Malformed)?,
                };
                requests.push(InputRequest {
                    key: member.key.clone().into_owned(),
                    method: request.method.into_owned(),
                    params,
                });
            }
        }
        Ok(Self {
            requests,
            request_state: interim.request_state,
        })
    }

    /// Checks that the bridge may relay these input requests to a host that declared
    /// `host_capabilities` in `initialize` (§4.7): at least one input request or a request
    /// state, at most [`MAX_INPUT_REQUESTS`] requests, each for `elicitation/create` in form
    /// mode, `sampling/createMessage` or `roots/list`, and each for a capability the host
    /// declared (`elicitation`, with `form` if it names modes; `sampling`; `roots`).
    ///
    /// # Errors
    ///
    /// The [`MrtrError`] of the first thing that fails, in that order.
    pub(crate) fn check(&self, host_capabilities: &Value) -> Result<(), MrtrError> {
        if self.requests.is_empty() && self.request_state.is_none() {
            return Err(MrtrError::Empty);
        }
        if self.requests.len() > MAX_INPUT_REQUESTS {
            return Err(MrtrError::TooManyRequests {
                count: self.requests.len(),
            });
        }
        let declared = |name: &str| host_capabilities.get(name).filter(|c| c.is_object());
        for request in &self.requests {
            let capability = match request.method.as_str() {
                "elicitation/create" => {
                    let mode = elicitation_mode(&request.params);
                    if mode.as_deref().is_some_and(|mode| mode != "form") {
                        return Err(MrtrError::ElicitationMode {
                            key: request.key.clone(),
                            mode: mode.unwrap_or_default().into_owned(),
                        });
                    }
                    // 2025-11-25: `elicitation: {}` means form mode; a host that names its
                    // modes must name `form`.
                    let form = declared("elicitation")
                        .is_some_and(|e| e.get("form").is_some() || e.get("url").is_none());
                    (!form).then_some("elicitation")
                }
                "sampling/createMessage" => declared("sampling").is_none().then_some("sampling"),
                "roots/list" => declared("roots").is_none().then_some("roots"),
                _ => {
                    return Err(MrtrError::Method {
                        key: request.key.clone(),
                        method: request.method.clone(),
                    });
                }
            };
            if let Some(capability) = capability {
                return Err(MrtrError::Capability {
                    key: request.key.clone(),
                    method: request.method.clone(),
                    capability,
                });
            }
        }
        Ok(())
    }
}

/// `params.mode` of an elicitation, when it is a string (absent means form).
fn elicitation_mode(params: &RawValue) -> Option<Cow<'_, str>> {
    #[derive(Deserialize)]
    struct Mode<'a> {
        #[serde(borrow, default)]
        mode: Option<Cow<'a, str>>,
    }
    serde_json::from_str::<Mode<'_>>(params.get())
        .ok()
        .and_then(|m| m.mode)
}

/// `id` as raw JSON text, checked.
fn raw_id(id: &str) -> Result<&RawValue, MrtrError> {
    serde_json::from_str::<&RawValue>(id).map_err(|_| MrtrError::Id)
}

/// The request line that asks the host for one input: `id` is the bridge's id as raw JSON
/// text (`"mwr:in:3"`, quotes included), `params` the server's as written.
///
/// An `id` that is not JSON text is written as `null` (the bridge mints its ids, so this is
/// a bug, not input).
pub(crate) fn host_request(id: &str, method: &str, params: &RawValue) -> Bytes {
    #[derive(Serialize)]
    struct Request<'a> {
        jsonrpc: &'static str,
        id: &'a RawValue,
        method: &'a str,
        params: &'a RawValue,
    }
    debug_assert!(raw_id(id).is_ok(), "bridge id {id:?} is not JSON");
    let request = Request {
        jsonrpc: "2.0",
        id: raw_id(id).unwrap_or(RawValue::NULL),
        method,
        params,
    };
    // Serialising strings and raw values into a Vec cannot fail.
    Bytes::from(serde_json::to_vec(&request).unwrap_or_default())
}

/// The retry of the host's request `original` (its bytes as the host wrote them, before any
/// envelope), §1.7, §4.7: its id replaced by `new_id` (raw JSON text), `params.inputResponses`
/// set to `{key: result, ...}` (the host's answers, as written) and `params.requestState` to
/// `request_state` byte for byte (left out when `None`), any earlier members of those two
/// names removed, and the envelope spliced in afresh ([`splice`]). Every other byte of the
/// request stays as the host wrote it; the two members are added at the end of `params`.
///
/// # Errors
///
/// [`MrtrError::Id`] when `new_id` is not JSON, [`MrtrError::Message`] when `original` is
/// not a JSON object with an `id` whose `params` is an object or absent,
/// [`MrtrError::Envelope`] when the envelope cannot be spliced.
pub(crate) fn retry_request(
    original: &[u8],
    new_id: &str,
    input_responses: &[(String, Box<RawValue>)],
    request_state: Option<&RawValue>,
    envelope: &Envelope,
) -> Result<Bytes, MrtrError> {
    let new_id = raw_id(new_id)?.get();
    let text = std::str::from_utf8(original).map_err(|_| MrtrError::Message)?;
    let top = JsonObject::parse(text)
        .map_err(|_| MrtrError::Message)?
        .ok_or(MrtrError::Message)?;
    if top.get("id").is_none() {
        return Err(MrtrError::Message);
    }
    let mut responses = String::from("{");
    for (n, (key, result)) in input_responses.iter().enumerate() {
        if n > 0 {
            responses.push(',');
        }
        // Serialising a string cannot fail.
        responses.push_str(&serde_json::to_string(key).unwrap_or_default());
        responses.push(':');
        responses.push_str(result.get());
    }
    responses.push('}');
    let mut added = vec![format!(r#""inputResponses":{responses}"#)];
    added.extend(request_state.map(|state| format!(r#""requestState":{}"#, state.get())));
    let added: Vec<&str> = added.iter().map(String::as_str).collect();
    let fresh = format!("{{{}}}", added.join(","));
    let id_or_keep = |m: &crate::json_object::Member<'_>| {
        if m.key == "id" {
            Edit::Value(new_id.to_owned())
        } else {
            Edit::Keep
        }
    };
    let rebuilt = match top.last("params") {
        Some((at, params)) => {
            // `"params":null` becomes the new params where it stands.
            let params = if params.value.get() == "null" {
                fresh
            } else {
                JsonObject::parse(params.value.get())
                    .map_err(|_| MrtrError::Message)?
                    .ok_or(MrtrError::Message)?
                    .rebuild(
                        None,
                        |_, m| match &*m.key {
                            "inputResponses" | "requestState" => Edit::Drop,
                            _ => Edit::Keep,
                        },
                        &added,
                    )
            };
            let mut params = Some(params);
            top.rebuild(
                None,
                |i, m| match replace_at(i, at, &mut params) {
                    Edit::Keep => id_or_keep(m),
                    edit => edit,
                },
                &[],
            )
        }
        None => top.rebuild(
            Some(&format!(r#""params":{fresh}"#)),
            |_, m| id_or_keep(m),
            &[],
        ),
    };
    Ok(splice(rebuilt.as_bytes(), envelope)?)
}

/// `answer_line` with its `id` replaced by `id_raw` (the host's original id bytes), every
/// other byte as the server wrote it: the final answer of an MRTR exchange goes to the host
/// under the id the host chose (§4.7).
///
/// # Errors
///
/// [`MrtrError::Id`] when `id_raw` is not JSON, [`MrtrError::Message`] when the answer is
/// not a JSON object with an `id`.
pub(crate) fn with_id(answer_line: &[u8], id_raw: &str) -> Result<Bytes, MrtrError> {
    let id = raw_id(id_raw)?.get();
    let text = std::str::from_utf8(answer_line).map_err(|_| MrtrError::Message)?;
    let answer = JsonObject::parse(text)
        .map_err(|_| MrtrError::Message)?
        .ok_or(MrtrError::Message)?;
    if answer.get("id").is_none() {
        return Err(MrtrError::Message);
    }
    Ok(Bytes::from(answer.rebuild(
        None,
        |_, m| {
            if m.key == "id" {
                Edit::Value(id.to_owned())
            } else {
                Edit::Keep
            }
        },
        &[],
    )))
}

/// How long to wait before the retry of round `round` (1 is the first) when the server gave
/// only a request state: 50 ms, doubling, at most 250 ms (§1.7, the Python SDK's backoff),
/// so that a server that polls through `requestState` is not hammered.
pub(crate) fn state_only_delay(round: u32) -> Duration {
    let doublings = round.saturating_sub(1).min(3);
    Duration::from_millis((50u64 << doublings).min(250))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    use crate::envelope::splice_reference;
    use crate::json_object::testing::{
        J, any_json, common_prefix, common_suffix, key as any_key, write,
    };

    const INIT: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"capabilities":{"elicitation":{}},"clientInfo":{"name":"host","version":"1"}}}"#;

    fn envelope() -> Envelope {
        Envelope::from_initialize(INIT.as_bytes(), "2026-07-28").expect("valid initialize")
    }

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).expect("JSON")
    }

    fn text(bytes: &Bytes) -> &str {
        std::str::from_utf8(bytes).expect("UTF-8")
    }

    /// §1.10: the interim answer of mcp 2.3's `ask` tool, shortened.
    const ASK: &str = r#"{"jsonrpc":"2.0","id":7,"result":{"inputRequests":{"who":{"method":"elicitation/create","params":{"message":"Name?","mode":"form","requestedSchema":{"type":"object"}}}},"requestState":"v1.3pOH","resultType":"input_required","_meta":{"io.modelcontextprotocol/serverInfo":{"name":"exp"}}}}"#;

    #[test]
    fn input_required_is_told_from_complete_results_and_errors() {
        assert!(is_input_required(ASK.as_bytes()));
        assert!(is_input_required(
            br#"{"id":1,"result":{"content":[{"resultType":"complete"}],"resultType":"input\u005frequired"}}"#
        ));
        for line in [
            r#"{"id":1,"result":{"content":[],"resultType":"complete"}}"#,
            r#"{"id":1,"result":{"content":[{"resultType":"input_required"}]}}"#,
            r#"{"id":1,"error":{"code":-32021,"message":"x","data":{"resultType":"input_required"}}}"#,
            r#"{"id":1,"result":"input_required"}"#,
            r#"{"id":1,"result":{"resultType":7}}"#,
            r#"{"method":"notifications/progress","params":{"resultType":"input_required"}}"#,
            "not json",
            "",
        ] {
            assert!(!is_input_required(line.as_bytes()), "{line}");
        }
    }

    #[test]
    fn parse_reads_the_requests_in_order_and_the_state_as_written() {
        let interim = InputRequired::parse(ASK.as_bytes()).expect("parses");
        assert_eq!(interim.requests.len(), 1);
        let who = &interim.requests[0];
        assert_eq!(
            (who.key.as_str(), who.method.as_str()),
            ("who", "elicitation/create")
        );
        assert_eq!(
            who.params.get(),
            r#"{"message":"Name?","mode":"form","requestedSchema":{"type":"object"}}"#
        );
        assert_eq!(
            interim.request_state.as_deref().map(RawValue::get),
            Some(r#""v1.3pOH""#)
        );

        let line = r#"{"id":1,"result":{"resultType":"input_required","inputRequests":{"b":{"method":"roots/list"},"a":{"method":"x","params":null},"b":{"method":"sampling/createMessage","params":{"n":1}}},"requestState":null}}"#;
        let interim = InputRequired::parse(line.as_bytes()).expect("parses");
        let read: Vec<(&str, &str, &str)> = interim
            .requests
            .iter()
            .map(|r| (r.key.as_str(), r.method.as_str(), r.params.get()))
            .collect();
        assert_eq!(
            read,
            [
                ("a", "x", "{}"),
                ("b", "sampling/createMessage", r#"{"n":1}"#)
            ]
        );
        assert!(interim.request_state.is_none(), "null is no state");
    }

    #[test]
    fn parse_refuses_what_is_not_an_interim_result() {
        for line in [
            r#"{"id":1,"result":{"resultType":"complete"}}"#,
            r#"{"id":1,"error":{"code":1,"message":"x"}}"#,
            r#"{"id":1,"result":{"resultType":"input_required","inputRequests":{"a":{"params":{}}}}}"#,
            "{",
        ] {
            let error = InputRequired::parse(line.as_bytes()).expect_err(line);
            assert!(
                matches!(error, MrtrError::Malformed(_)),
                "{line}: {error:?}"
            );
        }
        let line = r#"{"id":1,"result":{"resultType":"input_required","inputRequests":[]}}"#;
        assert!(matches!(
            InputRequired::parse(line.as_bytes()),
            Err(MrtrError::InputRequests)
        ));
    }

    fn interim(requests: &[(&str, &str)], state: bool) -> InputRequired {
        InputRequired {
            requests: requests
                .iter()
                .enumerate()
                .map(|(n, (method, params))| InputRequest {
                    key: format!("k{n}"),
                    method: (*method).to_owned(),
                    params: raw(params),
                })
                .collect(),
            request_state: state.then(|| raw(r#""s""#)),
        }
    }

    #[test]
    fn check_allows_declared_form_elicitation_sampling_and_roots() {
        let all = json!({"elicitation": {}, "sampling": {}, "roots": {"listChanged": true}});
        let requests = [
            ("elicitation/create", r#"{"message":"m"}"#),
            ("elicitation/create", r#"{"mode":"form"}"#),
            ("sampling/createMessage", "{}"),
            ("roots/list", "{}"),
        ];
        interim(&requests, false).check(&all).expect("allowed");
        interim(&[], true).check(&json!({})).expect("state only");
        let form = json!({"elicitation": {"form": {}, "url": {}}});
        interim(&requests[..2], false)
            .check(&form)
            .expect("form named");
        let eight = [("roots/list", "{}"); MAX_INPUT_REQUESTS];
        interim(&eight, false).check(&all).expect("eight");
    }

    #[test]
    fn check_refuses_what_the_host_cannot_answer() {
        let all = json!({"elicitation": {}, "sampling": {}, "roots": {}});
        let check = |requests: &[(&str, &str)], caps: &Value| {
            interim(requests, false).check(caps).expect_err("refused")
        };
        assert!(matches!(
            interim(&[], false).check(&all),
            Err(MrtrError::Empty)
        ));
        let url = check(
            &[("elicitation/create", r#"{"mode":"url","url":"https://x"}"#)],
            &all,
        );
        assert!(matches!(&url, MrtrError::ElicitationMode { mode, .. } if mode == "url"));
        assert!(url.to_string().contains("\"url\" mode"), "{url}");
        assert!(matches!(
            check(&[("elicitation/create", r#"{"mode":"other"}"#)], &all),
            MrtrError::ElicitationMode { .. }
        ));
        assert!(matches!(
            check(&[("tools/call", "{}")], &all),
            MrtrError::Method { .. }
        ));
        for (method, capability) in [
            ("elicitation/create", "elicitation"),
            ("sampling/createMessage", "sampling"),
            ("roots/list", "roots"),
        ] {
            // The first request is allowed; the second lacks its capability.
            let first = if method == "roots/list" {
                "sampling/createMessage"
            } else {
                "roots/list"
            };
            let caps = json!({"roots": {}, "sampling": {}, "elicitation": {}, capability: null});
            let error = check(&[(first, "{}"), (method, "{}")], &caps);
            assert!(
                matches!(&error, MrtrError::Capability { capability: c, key, .. } if *c == capability && key == "k1"),
                "{error:?}"
            );
            assert!(error.to_string().contains(capability), "{error}");
        }
        let url_only = json!({"elicitation": {"url": {}}});
        assert!(matches!(
            check(&[("elicitation/create", "{}")], &url_only),
            MrtrError::Capability { .. }
        ));
        let nine = [("roots/list", "{}"); MAX_INPUT_REQUESTS + 1];
        assert!(matches!(
            check(&nine, &all),
            MrtrError::TooManyRequests { count: 9 }
        ));
    }

    #[test]
    fn errors_answer_the_host_with_internal_error() {
        let response = MrtrError::TooManyRounds.to_response(Some("\"a\""));
        assert_eq!(
            text(&response),
            r#"{"jsonrpc":"2.0","id":"a","error":{"code":-32603,"message":"input_required exceeded 10 rounds"}}"#
        );
    }

    #[test]
    fn host_request_is_an_ordinary_server_request() {
        let params = raw(r#"{"message":"Name?"}"#);
        assert_eq!(
            text(&host_request(
                r#""mwr:in:3""#,
                "elicitation/create",
                &params
            )),
            r#"{"jsonrpc":"2.0","id":"mwr:in:3","method":"elicitation/create","params":{"message":"Name?"}}"#
        );
    }

    const OURS: &str = r#""io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{"elicitation":{}},"io.modelcontextprotocol/clientInfo":{"name":"host","version":"1"}"#;

    #[test]
    fn retry_keeps_the_request_and_adds_responses_state_and_envelope() {
        let original = r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"ask", "arguments":{"q":"\u00e9"},"_meta":{"progressToken":"p"}}}"#;
        let responses = [(
            "who".to_owned(),
            raw(r#"{"action":"accept","content":{"n":"x"}}"#),
        )];
        let state = raw(r#""v1.3pOH""#);
        let retry = retry_request(
            original.as_bytes(),
            r#""mwr:rt:1""#,
            &responses,
            Some(&state),
            &envelope(),
        )
        .expect("retry");
        assert_eq!(
            text(&retry),
            format!(
                r#"{{"jsonrpc":"2.0","id":"mwr:rt:1","method":"tools/call","params":{{"name":"ask", "arguments":{{"q":"\u00e9"}},"_meta":{{{OURS},"progressToken":"p"}},"inputResponses":{{"who":{{"action":"accept","content":{{"n":"x"}}}}}},"requestState":"v1.3pOH"}}}}"#
            )
        );
    }

    #[test]
    fn retry_replaces_earlier_responses_and_state() {
        let original = r#"{"id":"x","method":"prompts/get","params":{"inputResponses":{"old":1},"name":"p","requestState":"old"}}"#;
        let retry = retry_request(original.as_bytes(), "2", &[], None, &envelope()).expect("ok");
        assert_eq!(
            text(&retry),
            format!(
                r#"{{"id":2,"method":"prompts/get","params":{{"_meta":{{{OURS}}},"name":"p","inputResponses":{{}}}}}}"#
            )
        );
        for (original, params) in [
            (r#"{"id":1,"method":"m"}"#, true),
            (r#"{"id":1,"method":"m","params":null}"#, false),
        ] {
            let retry = retry_request(original.as_bytes(), "3", &[], Some(&raw("1")), &envelope())
                .expect("ok");
            let value: Value = serde_json::from_slice(&retry).expect("JSON");
            assert_eq!(value["id"], json!(3));
            assert_eq!(value["params"]["requestState"], json!(1));
            assert_eq!(value["params"]["inputResponses"], json!({}));
            assert!(value["params"]["_meta"].is_object());
            assert_eq!(
                text(&retry).starts_with(r#"{"params":"#),
                params,
                "{}",
                text(&retry)
            );
        }
    }

    #[test]
    fn retry_refuses_what_it_cannot_rewrite() {
        let env = envelope();
        let retry =
            |original: &str, id: &str| retry_request(original.as_bytes(), id, &[], None, &env);
        assert!(matches!(
            retry(r#"{"id":1}"#, "not json"),
            Err(MrtrError::Id)
        ));
        for original in [r#"{"method":"m"}"#, "[]", "{", r#"{"id":1,"params":[1]}"#] {
            assert!(
                matches!(retry(original, "2"), Err(MrtrError::Message)),
                "{original}"
            );
        }
        assert!(matches!(
            retry(r#"{"id":1,"params":{"_meta":7}}"#, "2"),
            Err(MrtrError::Envelope(EnvelopeError::Meta))
        ));
    }

    #[test]
    fn with_id_readdresses_the_answer_only() {
        let answer =
            r#"{"jsonrpc":"2.0", "id" : "mwr:rt:2","result":{"id":"mwr:rt:2","content":[]}}"#;
        assert_eq!(
            text(&with_id(answer.as_bytes(), r#""\u0061b""#).expect("ok")),
            r#"{"jsonrpc":"2.0", "id" : "\u0061b","result":{"id":"mwr:rt:2","content":[]}}"#
        );
        assert!(matches!(
            with_id(answer.as_bytes(), "{"),
            Err(MrtrError::Id)
        ));
        assert!(matches!(
            with_id(br#"{"result":{}}"#, "1"),
            Err(MrtrError::Message)
        ));
    }

    #[test]
    fn state_only_rounds_back_off_from_50_to_250_ms() {
        let delays: Vec<u64> = [0, 1, 2, 3, 4, 5, 10, u32::MAX]
            .into_iter()
            .map(|round| u64::try_from(state_only_delay(round).as_millis()).unwrap_or(0))
            .collect();
        assert_eq!(delays, [50, 50, 100, 200, 250, 250, 250, 250]);
    }

    // ---- proptests ----

    fn keys() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("inputResponses".to_owned()),
            Just("requestState".to_owned()),
            Just("id".to_owned()),
            any_key(),
        ]
    }

    /// Members with unique keys other than `skip`, then `special` members put at random.
    fn object(
        skip: &'static [&'static str],
        special: Vec<(String, J)>,
        seed: u64,
        members: Vec<(String, J)>,
    ) -> J {
        let mut members: Vec<(String, J)> = members
            .into_iter()
            .filter(|(k, _)| !skip.contains(&k.as_str()))
            .collect();
        let mut seed = seed;
        for member in special {
            let at = usize::try_from(seed % (members.len() as u64 + 1)).unwrap_or(0);
            seed /= 7;
            members.insert(at, member);
        }
        J::Obj(members)
    }

    fn rendered(value: &J, style: Vec<u8>) -> String {
        let mut out = String::new();
        write(value, &mut style.into_iter().cycle(), &mut out);
        out
    }

    fn id() -> impl Strategy<Value = J> {
        prop_oneof![
            Just(J::Scalar("7")),
            Just(J::Scalar("null")),
            "[a-z:\"\\\\]{0,6}".prop_map(J::Str),
        ]
    }

    fn request() -> impl Strategy<Value = String> {
        let params = prop_oneof![
            1 => Just(None),
            1 => Just(Some(J::Scalar("null"))),
            4 => (proptest::collection::vec((keys(), any_json()), 0..5), any::<u64>())
                .prop_map(|(members, seed)| Some(object(&["_meta", "id"], vec![], seed, members))),
        ];
        (
            proptest::collection::vec((keys(), any_json()), 0..4),
            id(),
            params,
            any::<u64>(),
            proptest::collection::vec(any::<u8>(), 1..64),
        )
            .prop_map(|(members, id, params, seed, style)| {
                let mut special = vec![("id".to_owned(), id)];
                special.extend(params.map(|p| ("params".to_owned(), p)));
                rendered(&object(&["id", "params"], special, seed, members), style)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn retry_matches_the_tree(
            request in request(),
            responses in proptest::collection::vec(("[a-z\"]{0,4}", any_json()), 0..3),
            state in proptest::option::of(any_json()),
        ) {
            let responses: Vec<(String, Box<RawValue>)> = responses
                .into_iter()
                .map(|(k, v)| (k, raw(&rendered(&v, vec![1]))))
                .collect();
            let state = state.map(|s| raw(&rendered(&s, vec![0])));
            let retry = retry_request(
                request.as_bytes(),
                r#""mwr:rt:9""#,
                &responses,
                state.as_deref(),
                &envelope(),
            )
            .expect("retry");
            let got: Value = serde_json::from_slice(&retry).expect("JSON");

            let mut expected: Value = serde_json::from_str(&request).expect("JSON");
            expected["id"] = json!("mwr:rt:9");
            if expected["params"].is_null() {
                expected["params"] = json!({});
            }
            let params = expected["params"].as_object_mut().expect("object");
            params.remove("requestState");
            let mut map = serde_json::Map::new();
            for (k, v) in &responses {
                map.insert(k.clone(), serde_json::from_str(v.get()).expect("JSON"));
            }
            params.insert("inputResponses".to_owned(), Value::Object(map));
            if let Some(state) = &state {
                params.insert("requestState".to_owned(), serde_json::from_str(state.get()).expect("JSON"));
            }
            splice_reference(&mut expected, &envelope());
            prop_assert_eq!(got, expected);
        }

        #[test]
        fn with_id_changes_the_id_only(request in request(), new in id()) {
            let new = rendered(&new, vec![0]);
            let out = with_id(request.as_bytes(), &new).expect("re-addressed");
            let got: Value = serde_json::from_slice(&out).expect("JSON");
            let mut expected: Value = serde_json::from_str(&request).expect("JSON");
            let old_id = serde_json::to_string(&expected["id"]).expect("JSON");
            expected["id"] = serde_json::from_str(&new).expect("JSON");
            prop_assert_eq!(got, expected);
            let kept = common_prefix(request.as_bytes(), &out) + common_suffix(request.as_bytes(), &out);
            // The old id as written may hold escapes its serialised form lacks: bound by
            // the longer of the two.
            let written = request.len().saturating_sub(kept);
            prop_assert!(written <= old_id.len() * 6, "{request}");
        }

        #[test]
        fn is_input_required_reads_result_type_alone(
            result in proptest::collection::vec((keys(), any_json()), 0..4),
            result_type in prop_oneof![
                Just(None),
                Just(Some(J::Str("input_required".to_owned()))),
                Just(Some(J::Str("complete".to_owned()))),
                Just(Some(J::Scalar("7"))),
            ],
            error in any::<bool>(),
            seed in any::<u64>(),
            style in proptest::collection::vec(any::<u8>(), 1..32),
        ) {
            let special = result_type.map(|t| ("resultType".to_owned(), t)).into_iter().collect();
            let result = object(&["resultType"], special, seed, result);
            let member = if error { "error" } else { "result" };
            let line = rendered(
                &J::Obj(vec![("id".to_owned(), J::Scalar("1")), (member.to_owned(), result)]),
                style,
            );
            let value: Value = serde_json::from_str(&line).expect("JSON");
            let expected = value["result"]["resultType"] == json!("input_required");
            prop_assert_eq!(is_input_required(line.as_bytes()), expected, "{}", line);
        }
    }
}
