//! The 2026-07-28 request envelope that case B adds to a 2025-era host's requests (§1.2,
//! §4.0, §4.2.3).
//!
//! A 2026 server learns who is calling from every request's `params._meta`, never from an
//! `initialize` it no longer has: the protocol version (which must equal the
//! `MCP-Protocol-Version` header), the client's capabilities ("Servers MUST NOT infer
//! capabilities from prior requests"), the client's info, and the log level that replaces
//! `logging/setLevel`. A 2025 host said all of that once, in `initialize`; [`Envelope`] keeps
//! it and [`splice`] writes it into each request. Everything else of the request is kept
//! byte for byte, `progressToken` and the host's other `_meta` keys included.

use bytes::Bytes;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::era::PROTOCOL_VERSION_META;
use crate::json_object::{Edit, JsonObject, replace_at};

/// The `params._meta` key of the client's capabilities (§1.2).
pub(crate) const CLIENT_CAPABILITIES_META: &str = "io.modelcontextprotocol/clientCapabilities";
/// The `params._meta` key of the client's name and version (§1.2).
pub(crate) const CLIENT_INFO_META: &str = "io.modelcontextprotocol/clientInfo";
/// The `params._meta` key of the log level; without it the server sends no
/// `notifications/message` for the request (§1.2).
pub(crate) const LOG_LEVEL_META: &str = "io.modelcontextprotocol/logLevel";

/// Why a request cannot carry the envelope, or an `initialize` cannot give one. The
/// messages are sentences for the host, which gets one as the error answering its request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum EnvelopeError {
    /// The message is not UTF-8.
    #[error("the request is not valid UTF-8")]
    Utf8,
    /// The message is not JSON.
    #[error("the request is not valid JSON")]
    Json(#[source] serde_json::Error),
    /// The message is JSON but not one object (a batch, say).
    #[error("the request is not a single JSON-RPC object")]
    NotAnObject,
    /// `params` is an array or a scalar: a 2026-era request needs `params._meta`.
    #[error(
        "the request's params is not an object, so it cannot carry the 2026-07-28 \
         protocol version and client capabilities in params._meta"
    )]
    Params,
    /// `params._meta` is not an object.
    #[error("the request's params._meta is not an object")]
    Meta,
    /// `initialize` `params` is not an object.
    #[error("the initialize request's params is not an object")]
    InitializeParams,
    /// `initialize` `params.capabilities` is not an object.
    #[error("the initialize request's params.capabilities is not an object")]
    Capabilities,
    /// `initialize` `params.clientInfo` is not an object.
    #[error("the initialize request's params.clientInfo is not an object")]
    ClientInfo,
}

/// What a 2025 host said about itself in `initialize`, as the `_meta` members a 2026-era
/// request carries (§1.2).
#[derive(Debug, Clone)]
pub(crate) struct Envelope {
    version: String,
    /// `params.capabilities` of `initialize`, as the host wrote it (`{}` when absent).
    capabilities: Box<RawValue>,
    /// The same, parsed once: MRTR checks input requests against it (§4.7).
    capabilities_value: Value,
    client_info: Option<Box<RawValue>>,
    log_level: Option<String>,
    /// Each member's key and its `"key":value` text, in the order written.
    members: Vec<(&'static str, String)>,
    /// `members` joined by `,`.
    joined: String,
}

/// `Some(raw)` when `raw` is present and not `null`.
fn present(raw: Option<&RawValue>) -> Option<&RawValue> {
    raw.filter(|raw| raw.get() != "null")
}

/// The `"key":value` text of one member; `value` is JSON text.
fn member(key: &str, value: &str) -> String {
    // The keys are our constants: no quote or backslash to escape.
    format!("\"{key}\":{value}")
}

impl Envelope {
    /// The envelope of a host whose `initialize` request was `initialize_request`, for a
    /// server that speaks `version` (the probe's verdict, §2.5).
    ///
    /// `params.capabilities` is kept as written (`{}` when absent or `null`: the key is
    /// required in `_meta`, §1.2), and so is `params.clientInfo` (left out when absent).
    ///
    /// # Errors
    ///
    /// [`EnvelopeError`] when the request is not a JSON object, or its `params`,
    /// `params.capabilities` or `params.clientInfo` is there and not an object.
    pub(crate) fn from_initialize(
        initialize_request: &[u8],
        version: &str,
    ) -> Result<Self, EnvelopeError> {
        let text = std::str::from_utf8(initialize_request).map_err(|_| EnvelopeError::Utf8)?;
        let request = JsonObject::parse(text)
            .map_err(EnvelopeError::Json)?
            .ok_or(EnvelopeError::NotAnObject)?;
        let params = match present(request.get("params")) {
            Some(params) => Some(
                JsonObject::parse(params.get())
                    .map_err(EnvelopeError::Json)?
                    .ok_or(EnvelopeError::InitializeParams)?,
            ),
            None => None,
        };
        let object = |key: &str| params.as_ref().and_then(|p| present(p.get(key)));
        let is_object = |raw: &RawValue| raw.get().starts_with('{');
        let capabilities = match object("capabilities") {
            Some(raw) if is_object(raw) => raw.to_owned(),
            Some(_) => return Err(EnvelopeError::Capabilities),
            None => RawValue::from_string("{}".to_owned()).map_err(EnvelopeError::Json)?,
        };
        let client_info = match object("clientInfo") {
            Some(raw) if is_object(raw) => Some(raw.to_owned()),
            Some(_) => return Err(EnvelopeError::ClientInfo),
            None => None,
        };
        let capabilities_value =
            serde_json::from_str(capabilities.get()).map_err(EnvelopeError::Json)?;
        let mut envelope = Self {
            version: version.to_owned(),
            capabilities,
            capabilities_value,
            client_info,
            log_level: None,
            members: Vec::new(),
            joined: String::new(),
        };
        envelope.render();
        Ok(envelope)
    }

    /// The same envelope with `logLevel` set: what `logging/setLevel` becomes, since the
    /// 2026 era has no such method and sends log messages only for requests that carry a
    /// level (§1.2, §4.2.4).
    #[must_use]
    pub(crate) fn with_log_level(mut self, level: &str) -> Self {
        self.log_level = Some(level.to_owned());
        self.render();
        self
    }

    /// The protocol version every request carries.
    #[cfg(test)]
    pub(crate) fn version(&self) -> &str {
        &self.version
    }

    /// The host's capabilities, parsed: what MRTR input requests are checked against (§4.7).
    pub(crate) fn capabilities(&self) -> &Value {
        &self.capabilities_value
    }

    /// The log level set by the host's `logging/setLevel`, if any.
    #[cfg(test)]
    pub(crate) fn log_level(&self) -> Option<&str> {
        self.log_level.as_deref()
    }

    /// The envelope as `_meta` member text:
    /// `"io.modelcontextprotocol/protocolVersion":"…","io.modelcontextprotocol/clientCapabilities":{…}`,
    /// then `clientInfo` and `logLevel` when known.
    pub(crate) fn meta_members(&self) -> &str {
        &self.joined
    }

    /// Writes `members` and `joined` from the fields.
    fn render(&mut self) {
        // Serialising a string cannot fail.
        let string = |s: &str| serde_json::to_string(s).unwrap_or_default();
        let mut members = vec![
            (
                PROTOCOL_VERSION_META,
                member(PROTOCOL_VERSION_META, &string(&self.version)),
            ),
            (
                CLIENT_CAPABILITIES_META,
                member(CLIENT_CAPABILITIES_META, self.capabilities.get()),
            ),
        ];
        if let Some(info) = &self.client_info {
            members.push((CLIENT_INFO_META, member(CLIENT_INFO_META, info.get())));
        }
        if let Some(level) = &self.log_level {
            members.push((LOG_LEVEL_META, member(LOG_LEVEL_META, &string(level))));
        }
        self.joined = members
            .iter()
            .map(|(_, text)| text.as_str())
            .collect::<Vec<_>>()
            .join(",");
        self.members = members;
    }
}

/// `request` with `envelope` in its `params._meta`, every other byte as it was (§4.0).
///
/// - no `params` (or `"params":null`): a `"params":{"_meta":{…}}` member is added first;
/// - `params` without `_meta` (or `"_meta":null`): `"_meta":{…}` becomes its first member;
/// - `_meta` present: our members go right after its `{`, before the host's own
///   (`progressToken`, `traceparent`, ...).
///
/// When the host's `_meta` already holds a key of ours, no key may appear twice: the host's
/// `protocolVersion` is dropped (ours must equal the `MCP-Protocol-Version` header, §1.1),
/// and for the other keys the host's own value is kept and ours left out. Only those members
/// change; the rest of `_meta` stays byte for byte. Keys are compared unescaped
/// (`"\u005fmeta"` is `_meta`), and a repeated key is handled as a parsed tree reads it: the
/// last one counts.
///
/// # Errors
///
/// [`EnvelopeError`] when `request` is not a JSON object, or its `params` or `params._meta`
/// is neither an object nor `null`.
pub(crate) fn splice(request: &[u8], envelope: &Envelope) -> Result<Bytes, EnvelopeError> {
    let text = std::str::from_utf8(request).map_err(|_| EnvelopeError::Utf8)?;
    let top = JsonObject::parse(text)
        .map_err(EnvelopeError::Json)?
        .ok_or(EnvelopeError::NotAnObject)?;
    let out = match top.last("params") {
        Some((at, params)) if params.value.get() != "null" => {
            let mut params = Some(splice_params(params.value.get(), envelope)?);
            top.rebuild(None, |i, _| replace_at(i, at, &mut params), &[])
        }
        found => {
            let new = format!(r#""params":{{"_meta":{{{}}}}}"#, envelope.meta_members());
            match found {
                // `"params":null`: the value is replaced where it stands.
                Some((at, _)) => {
                    let mut new = Some(format!(r#"{{"_meta":{{{}}}}}"#, envelope.meta_members()));
                    top.rebuild(None, |i, _| replace_at(i, at, &mut new), &[])
                }
                None => top.rebuild(Some(&new), |_, _| Edit::Keep, &[]),
            }
        }
    };
    Ok(Bytes::from(out))
}

/// `params` (an object's text) with the envelope in its `_meta`.
fn splice_params(params: &str, envelope: &Envelope) -> Result<String, EnvelopeError> {
    let params = JsonObject::parse(params)
        .map_err(EnvelopeError::Json)?
        .ok_or(EnvelopeError::Params)?;
    Ok(match params.last("_meta") {
        Some((at, meta)) if meta.value.get() != "null" => {
            let mut meta = Some(splice_meta(meta.value.get(), envelope)?);
            params.rebuild(None, |i, _| replace_at(i, at, &mut meta), &[])
        }
        Some((at, _)) => {
            let mut meta = Some(format!("{{{}}}", envelope.meta_members()));
            params.rebuild(None, |i, _| replace_at(i, at, &mut meta), &[])
        }
        None => {
            let new = format!(r#""_meta":{{{}}}"#, envelope.meta_members());
            params.rebuild(Some(&new), |_, _| Edit::Keep, &[])
        }
    })
}

/// The host's `_meta` (an object's text) with our members first.
fn splice_meta(meta: &str, envelope: &Envelope) -> Result<String, EnvelopeError> {
    let meta = JsonObject::parse(meta)
        .map_err(EnvelopeError::Json)?
        .ok_or(EnvelopeError::Meta)?;
    let host_has = |key: &str| meta.members().iter().any(|m| m.key == key);
    let collides = envelope.members.iter().any(|(key, _)| host_has(key));
    if !collides {
        return Ok(meta.rebuild(Some(envelope.meta_members()), |_, _| Edit::Keep, &[]));
    }
    let ours = envelope
        .members
        .iter()
        .filter(|(key, _)| *key == PROTOCOL_VERSION_META || !host_has(key))
        .map(|(_, text)| text.as_str())
        .collect::<Vec<_>>()
        .join(",");
    Ok(meta.rebuild(
        Some(&ours),
        |_, m| {
            if m.key == PROTOCOL_VERSION_META {
                Edit::Drop
            } else {
                Edit::Keep
            }
        },
        &[],
    ))
}

/// What [`splice`] does, done on a parsed tree: the reference of the proptests.
#[cfg(test)]
pub(crate) fn splice_reference(value: &mut Value, envelope: &Envelope) {
    use serde_json::json;
    let Value::Object(top) = value else {
        panic!("not an object");
    };
    let params = top.entry("params").or_insert(json!({}));
    if params.is_null() {
        *params = json!({});
    }
    let Value::Object(params) = params else {
        panic!("params not an object");
    };
    let meta = params.entry("_meta").or_insert(json!({}));
    if meta.is_null() {
        *meta = json!({});
    }
    let Value::Object(meta) = meta else {
        panic!("_meta not an object");
    };
    let ours: Value =
        serde_json::from_str(&format!("{{{}}}", envelope.meta_members())).expect("JSON");
    for (key, value) in ours.as_object().expect("object") {
        if key == PROTOCOL_VERSION_META {
            meta.insert(key.clone(), value.clone());
        } else {
            meta.entry(key.clone()).or_insert_with(|| value.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    use crate::json_object::testing::{J, any_json, common_prefix, common_suffix, key, write};

    const INIT: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{"elicitation":{},"roots":{"listChanged":true}},"clientInfo":{"name":"host","version":"1.0"}}}"#;

    fn envelope() -> Envelope {
        Envelope::from_initialize(INIT.as_bytes(), "2026-07-28").expect("valid initialize")
    }

    fn spliced(request: &str) -> String {
        let out = splice(request.as_bytes(), &envelope()).expect("splices");
        String::from_utf8(out.to_vec()).expect("UTF-8")
    }

    const OURS: &str = r#""io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{"elicitation":{},"roots":{"listChanged":true}},"io.modelcontextprotocol/clientInfo":{"name":"host","version":"1.0"}"#;

    #[test]
    fn the_envelope_comes_from_initialize() {
        let envelope = envelope();
        assert_eq!(envelope.meta_members(), OURS);
        assert_eq!(envelope.version(), "2026-07-28");
        assert_eq!(envelope.capabilities()["roots"]["listChanged"], json!(true));
        let with_level = envelope.with_log_level("debug");
        assert_eq!(with_level.log_level(), Some("debug"));
        assert_eq!(
            with_level.meta_members(),
            format!(r#"{OURS},"io.modelcontextprotocol/logLevel":"debug""#)
        );
    }

    #[test]
    fn a_bare_initialize_gives_empty_capabilities_and_no_client_info() {
        for init in [
            r#"{"jsonrpc":"2.0","id":0,"method":"initialize"}"#,
            r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":null}"#,
            r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"capabilities":null}}"#,
        ] {
            let envelope = Envelope::from_initialize(init.as_bytes(), "2026-07-28").expect("ok");
            assert_eq!(
                envelope.meta_members(),
                r#""io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}"#
            );
            assert_eq!(envelope.capabilities(), &json!({}));
        }
    }

    #[test]
    fn a_malformed_initialize_is_refused() {
        type Case = (&'static [u8], fn(&EnvelopeError) -> bool);
        let cases: [Case; 6] = [
            (b"[]", |e| matches!(e, EnvelopeError::NotAnObject)),
            (b"{", |e| matches!(e, EnvelopeError::Json(_))),
            (b"{\"a\":\"\xff\"}", |e| matches!(e, EnvelopeError::Utf8)),
            (br#"{"params":[1]}"#, |e| {
                matches!(e, EnvelopeError::InitializeParams)
            }),
            (br#"{"params":{"capabilities":1}}"#, |e| {
                matches!(e, EnvelopeError::Capabilities)
            }),
            (br#"{"params":{"clientInfo":"me"}}"#, |e| {
                matches!(e, EnvelopeError::ClientInfo)
            }),
        ];
        for (init, expected) in cases {
            let error = Envelope::from_initialize(init, "2026-07-28").expect_err("refused");
            assert!(expected(&error), "{error:?}");
        }
    }

    #[test]
    fn no_params_gets_a_params_member_first() {
        assert_eq!(
            spliced(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#),
            format!(
                r#"{{"params":{{"_meta":{{{OURS}}}}},"jsonrpc":"2.0","id":1,"method":"tools/list"}}"#
            )
        );
        assert_eq!(
            spliced(r#" { } "#),
            format!(r#" {{"params":{{"_meta":{{{OURS}}}}} }} "#)
        );
        assert_eq!(
            spliced(r#"{"id":1,"params":null}"#),
            format!(r#"{{"id":1,"params":{{"_meta":{{{OURS}}}}}}}"#)
        );
    }

    #[test]
    fn params_without_meta_gets_meta_first() {
        assert_eq!(
            spliced(
                r#"{"id":1,"method":"tools/call","params":{ "name":"x","arguments":{"_meta":1}}}"#
            ),
            format!(
                r#"{{"id":1,"method":"tools/call","params":{{"_meta":{{{OURS}}}, "name":"x","arguments":{{"_meta":1}}}}}}"#
            )
        );
        assert_eq!(
            spliced(r#"{"params":{}}"#),
            format!(r#"{{"params":{{"_meta":{{{OURS}}}}}}}"#)
        );
        assert_eq!(
            spliced(r#"{"params":{"_meta":null,"a":1}}"#),
            format!(r#"{{"params":{{"_meta":{{{OURS}}},"a":1}}}}"#)
        );
    }

    #[test]
    fn the_hosts_meta_keys_stay_byte_exact_after_ours() {
        assert_eq!(
            spliced(r#"{"params":{"name":"x","\u005fmeta" : { "progressToken" : "p\u0031" }}}"#),
            format!(
                r#"{{"params":{{"name":"x","\u005fmeta" : {{{OURS}, "progressToken" : "p\u0031" }}}}}}"#
            )
        );
        assert_eq!(
            spliced(r#"{"params":{"_meta":{}}}"#),
            format!(r#"{{"params":{{"_meta":{{{OURS}}}}}}}"#)
        );
    }

    #[test]
    fn the_hosts_own_envelope_keys_never_repeat() {
        let request = r#"{"params":{"_meta":{"progressToken":7,"io.modelcontextprotocol\/protocolVersion":"2025-01-01","io.modelcontextprotocol/clientInfo":{"name":"mine"},"x":1}}}"#;
        let out = spliced(request);
        assert_eq!(
            out,
            r#"{"params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{"elicitation":{},"roots":{"listChanged":true}},"progressToken":7,"io.modelcontextprotocol/clientInfo":{"name":"mine"},"x":1}}}"#
        );
    }

    #[test]
    fn params_or_meta_that_are_not_objects_are_refused() {
        for (request, params) in [
            (r#"{"params":[1,2]}"#, true),
            (r#"{"params":"x"}"#, true),
            (r#"{"params":{"_meta":[]}}"#, false),
            (r#"{"params":{"_meta":5}}"#, false),
        ] {
            let error = splice(request.as_bytes(), &envelope()).expect_err("refused");
            if params {
                assert!(matches!(error, EnvelopeError::Params), "{error:?}");
            } else {
                assert!(matches!(error, EnvelopeError::Meta), "{error:?}");
            }
        }
        assert!(matches!(
            splice(b"[{}]", &envelope()),
            Err(EnvelopeError::NotAnObject)
        ));
    }

    // ---- proptest: generated requests, written with odd whitespace, escapes and repeats ----

    fn members_with(
        special: impl Strategy<Value = Option<J>>,
        name: &'static str,
    ) -> impl Strategy<Value = Vec<(String, J)>> {
        (
            proptest::collection::vec((key(), any_json()), 0..4),
            special,
            any::<prop::sample::Index>(),
            any::<Option<prop::sample::Index>>(),
        )
            .prop_map(move |(mut members, special, at, repeat)| {
                // The special member is the last of its name, the one a parser keeps; an
                // earlier repeat of it (an array, which would be refused) may come first.
                members.retain(|(k, _)| k != name);
                if let Some(special) = special {
                    let at = at.index(members.len() + 1);
                    members.insert(at, (name.to_owned(), special));
                    if let Some(repeat) = repeat {
                        let before = repeat.index(at + 1);
                        members.insert(before, (name.to_owned(), J::Arr(vec![])));
                    }
                }
                members
            })
    }

    fn meta() -> impl Strategy<Value = J> {
        let ours = prop_oneof![
            Just(PROTOCOL_VERSION_META),
            Just(CLIENT_CAPABILITIES_META),
            Just(CLIENT_INFO_META),
            Just(LOG_LEVEL_META),
            Just("io.modelcontextprotocol/other"),
        ];
        (
            proptest::collection::vec((key(), any_json()), 0..4),
            proptest::collection::vec((ours, any_json()), 0..3),
            any::<u64>(),
        )
            .prop_map(|(mut members, ours, seed)| {
                members.extend(ours.into_iter().map(|(k, v)| (k.to_owned(), v)));
                let len = members.len().max(1);
                members.rotate_left(usize::try_from(seed).unwrap_or(0) % len);
                J::Obj(members)
            })
    }

    fn params() -> impl Strategy<Value = J> {
        let meta = prop_oneof![
            2 => Just(None),
            1 => Just(Some(J::Scalar("null"))),
            4 => meta().prop_map(Some),
        ];
        members_with(meta, "_meta").prop_map(J::Obj)
    }

    fn request() -> impl Strategy<Value = (String, bool)> {
        let params = prop_oneof![
            2 => Just(None),
            1 => Just(Some(J::Scalar("null"))),
            6 => params().prop_map(Some),
        ];
        (
            members_with(params, "params"),
            proptest::collection::vec(any::<u8>(), 0..256),
            any::<bool>(),
        )
            .prop_map(|(members, style, level)| {
                let mut out = String::new();
                let mut style = style.into_iter().cycle();
                out.push_str(["", " ", "\t"][usize::from(style.next().unwrap_or(0) % 3)]);
                write(&J::Obj(members), &mut style, &mut out);
                (out, level)
            })
    }

    /// The reference: the request parsed, with the envelope put in the tree.
    fn reference(request: &str, envelope: &Envelope) -> Value {
        let mut value: Value = serde_json::from_str(request).expect("generated JSON");
        splice_reference(&mut value, envelope);
        value
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn splice_matches_the_tree_and_keeps_the_other_bytes((request, level) in request()) {
            let mut envelope = envelope();
            if level {
                envelope = envelope.with_log_level("warning");
            }
            let out = splice(request.as_bytes(), &envelope).expect("splices");
            let parsed: Value = serde_json::from_slice(&out).expect("output is JSON");
            prop_assert_eq!(&parsed, &reference(&request, &envelope));

            // What changed lies in one place: inside the host's `_meta` when it held one of
            // our keys, else a pure insertion (or a `null` replaced).
            let input: Value = serde_json::from_str(&request).expect("JSON");
            let meta = &input["params"]["_meta"];
            let keys = [PROTOCOL_VERSION_META, CLIENT_CAPABILITIES_META, CLIENT_INFO_META, LOG_LEVEL_META];
            let collides = keys.iter().any(|k| meta.get(*k).is_some());
            let kept = common_prefix(request.as_bytes(), &out)
                + common_suffix(request.as_bytes(), &out);
            let changed = request.len().saturating_sub(kept);
            if collides {
                // At most the host's `_meta` text (as written) changed.
                let written = meta_text(&request);
                prop_assert!(changed <= written, "changed {changed} > {written}\n{request}\n{}", String::from_utf8_lossy(&out));
            } else {
                prop_assert!(changed <= 4, "{request}\n{}", String::from_utf8_lossy(&out));
                // A `null` was replaced, or nothing was.
                if changed > 0 {
                    prop_assert!(input["params"].is_null() || input["params"]["_meta"].is_null());
                }
            }
        }
    }

    /// The length of the host's (last) `params._meta` value as written.
    fn meta_text(request: &str) -> usize {
        let params = JsonObject::parse(request)
            .ok()
            .flatten()
            .and_then(|top| top.get("params"));
        params
            .and_then(|p| JsonObject::parse(p.get()).ok().flatten())
            .and_then(|p| p.get("_meta"))
            .map_or(0, |m| m.get().len())
    }
}
