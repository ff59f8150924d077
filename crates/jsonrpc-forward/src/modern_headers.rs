//! The headers a 2026-07-28 request carries, derived from its body (§1.1, §1.9 of the
//! research notes `protocol-2026.md`).
//!
//! A modern server checks each of them against the body before it dispatches, and answers
//! any disagreement with `400 -32020`: `MCP-Protocol-Version` must equal the `_meta`
//! version, `Mcp-Method` the method, `Mcp-Name` the tool, prompt or resource, and one
//! `Mcp-Param-{token}` must carry each tool argument whose schema property is annotated
//! `"x-mcp-header": "{token}"`. So these are built from the message itself, never from
//! conversation state. A value that is not header-safe goes base64-encoded between the
//! sentinel markers [`BASE64_PREFIX`] and [`BASE64_SUFFIX`], never raw and never left out
//! (leaving out a required header is itself a `-32020`).

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::headers::{MCP_METHOD, MCP_NAME, MCP_PROTOCOL_VERSION, mcp_name};
use crate::message::Outgoing;

/// Starts a header value that carries base64 of the UTF-8 text (case-sensitive).
pub const BASE64_PREFIX: &str = "=?base64?";
/// Ends a header value that carries base64 of the UTF-8 text.
pub const BASE64_SUFFIX: &str = "?=";
/// The name of the tool-schema keyword that maps an argument to a header.
pub const X_MCP_HEADER: &str = "x-mcp-header";
/// What every argument header's name starts with; the annotation's token follows.
pub const MCP_PARAM_PREFIX: &str = "Mcp-Param-";

/// The largest integer a JS client can hold exactly (`Number.MAX_SAFE_INTEGER`).
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// `value` as it goes in a 2026-era header: unchanged when it is header-safe, else
/// `=?base64?<base64 of its UTF-8>?=` (standard alphabet, padded).
///
/// Header-safe means: only visible ASCII and spaces, no leading or trailing whitespace, and
/// not itself of the form `=?base64?…?=` (which the server would decode). So control
/// characters, non-ASCII text and edge whitespace all go encoded, and every result is a
/// legal header value.
///
/// ```
/// use jsonrpc_forward::modern_headers::header_safe;
///
/// assert_eq!(header_safe("us-west1"), "us-west1");
/// assert_eq!(header_safe("Hello, 世界"), "=?base64?SGVsbG8sIOS4lueVjA==?=");
/// ```
#[must_use]
pub fn header_safe(value: &str) -> Cow<'_, str> {
    let visible = value.bytes().all(|b| b == b' ' || b.is_ascii_graphic());
    let edge_space = value.starts_with(' ') || value.ends_with(' ');
    let looks_encoded = value.starts_with(BASE64_PREFIX)
        && value.len() >= BASE64_PREFIX.len() + BASE64_SUFFIX.len()
        && value.ends_with(BASE64_SUFFIX);
    if visible && !edge_space && !looks_encoded {
        Cow::Borrowed(value)
    } else {
        Cow::Owned(format!(
            "{BASE64_PREFIX}{}{BASE64_SUFFIX}",
            STANDARD.encode(value)
        ))
    }
}

/// One `x-mcp-header` annotation of a tool's input schema: the header, and where its value
/// lies in the call's `arguments`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamHeader {
    name: HeaderName,
    path: Vec<String>,
}

impl ParamHeader {
    /// `Mcp-Param-{token}`, lower-cased as header names are.
    #[must_use]
    pub fn name(&self) -> &HeaderName {
        &self.name
    }

    /// The property names from `arguments` down to the annotated value.
    #[must_use]
    pub fn path(&self) -> &[String] {
        &self.path
    }
}

/// Why a tool's `x-mcp-header` annotations are invalid. HTTP clients "MUST reject" such a
/// tool, which for the bridge means dropping it from the `tools/list` it passes on (§1.9).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AnnotationError {
    /// The annotation is not a string, or not an RFC 9110 token.
    #[error("x-mcp-header of property {property:?} is not a header token")]
    NotAToken {
        /// The annotated property.
        property: String,
    },
    /// Two annotations name the same header (compared case-insensitively).
    #[error("x-mcp-header {token:?} is given twice")]
    Duplicate {
        /// The second property's token.
        token: String,
    },
    /// The annotated property is not of type `string`, `integer` or `boolean` (`number` is
    /// forbidden).
    #[error("x-mcp-header on property {property:?}, which is not a string, integer or boolean")]
    WrongType {
        /// The annotated property.
        property: String,
    },
    /// The annotation sits where `properties` alone does not reach (under `items`, `anyOf`,
    /// `$defs`, ... or on the schema's root).
    #[error("x-mcp-header outside the schema's properties")]
    Unreachable,
}

/// The keywords whose values are subschemas that `properties` does not reach through.
const OTHER_SUBSCHEMAS: &[&str] = &[
    "items",
    "prefixItems",
    "additionalItems",
    "contains",
    "anyOf",
    "allOf",
    "oneOf",
    "not",
    "if",
    "then",
    "else",
    "$defs",
    "definitions",
    "additionalProperties",
    "patternProperties",
    "dependentSchemas",
    "propertyNames",
    "unevaluatedProperties",
    "unevaluatedItems",
];

/// The `x-mcp-header` annotations of a tool's `inputSchema`, in schema order.
///
/// An annotation counts on a property reached from the root through `properties` alone, at
/// any depth (an object argument's own properties included); our reading of the notes'
/// "reachable only through `properties`".
///
/// # Errors
///
/// [`AnnotationError`] for the first invalid annotation: the whole tool is then invalid.
pub fn param_headers(input_schema: &Value) -> Result<Vec<ParamHeader>, AnnotationError> {
    let mut found = Vec::new();
    walk(input_schema, Some(&mut Vec::new()), &mut found)?;
    let mut seen = std::collections::HashSet::new();
    for header in &found {
        if !seen.insert(header.name.clone()) {
            let token = header.name.as_str()[MCP_PARAM_PREFIX.len()..].to_owned();
            return Err(AnnotationError::Duplicate { token });
        }
    }
    Ok(found)
}

/// Visits `schema`. `path` is the property path when `properties` alone led here, `None`
/// when another keyword did.
fn walk(
    schema: &Value,
    path: Option<&mut Vec<String>>,
    found: &mut Vec<ParamHeader>,
) -> Result<(), AnnotationError> {
    match schema {
        Value::Object(map) => {
            let mut path = path;
            if let Some(annotation) = map.get(X_MCP_HEADER) {
                // A property that is a reference is not static: what it names is elsewhere.
                let referenced = ["$ref", "$dynamicRef", "$recursiveRef"]
                    .iter()
                    .any(|key| map.contains_key(*key));
                match path.as_deref() {
                    Some(path) if !path.is_empty() && !referenced => {
                        found.push(annotated(map, annotation, path)?);
                    }
                    _ => return Err(AnnotationError::Unreachable),
                }
            }
            if let Some(Value::Object(properties)) = map.get("properties") {
                for (key, sub) in properties {
                    match path.as_deref_mut() {
                        Some(path) => {
                            path.push(key.clone());
                            let walked = walk(sub, Some(path), found);
                            path.pop();
                            walked?;
                        }
                        None => walk(sub, None, found)?,
                    }
                }
            }
            for keyword in OTHER_SUBSCHEMAS {
                match map.get(*keyword) {
                    // `$defs`, `patternProperties`...: a map of names to schemas.
                    Some(Value::Object(named))
                        if matches!(
                            *keyword,
                            "$defs" | "definitions" | "patternProperties" | "dependentSchemas"
                        ) =>
                    {
                        for sub in named.values() {
                            walk(sub, None, found)?;
                        }
                    }
                    Some(sub) => walk(sub, None, found)?,
                    None => {}
                }
            }
            Ok(())
        }
        // `items: [..]`, `anyOf: [..]`.
        Value::Array(subs) => subs.iter().try_for_each(|sub| walk(sub, None, found)),
        _ => Ok(()),
    }
}

/// The header of one annotated property, checked.
fn annotated(
    property: &serde_json::Map<String, Value>,
    annotation: &Value,
    path: &[String],
) -> Result<ParamHeader, AnnotationError> {
    let name = path.join(".");
    let token = annotation
        .as_str()
        .filter(|token| is_token(token))
        .ok_or_else(|| AnnotationError::NotAToken {
            property: name.clone(),
        })?;
    let allowed = |t: &Value| matches!(t.as_str(), Some("string" | "integer" | "boolean"));
    let typed = match property.get("type") {
        Some(t @ Value::String(_)) => allowed(t),
        // `["string", "null"]`: a nullable argument, omitted when null [i].
        Some(Value::Array(types)) => {
            types.iter().any(allowed)
                && types
                    .iter()
                    .all(|t| allowed(t) || t.as_str() == Some("null"))
        }
        _ => false,
    };
    if !typed {
        return Err(AnnotationError::WrongType { property: name });
    }
    let header = format!("{MCP_PARAM_PREFIX}{token}").to_ascii_lowercase();
    let name = HeaderName::from_bytes(header.as_bytes())
        .map_err(|_| AnnotationError::NotAToken { property: name })?;
    Ok(ParamHeader {
        name,
        path: path.to_vec(),
    })
}

/// An RFC 9110 token: one or more `tchar`.
fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Why a message cannot get modern headers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ModernHeadersError {
    /// The message carries no `_meta` protocol version: sending `MCP-Protocol-Version`
    /// without the envelope draws `400 -32602` (§4.5), so it needs the envelope first.
    #[error("message has no params._meta protocol version")]
    NoEnvelope,
    /// Not a single message with a method (a response, or a batch, which the 2026 era lacks).
    #[error("message has no method")]
    NoMethod,
    /// The `_meta` version is not header-safe, so no header can equal it.
    #[error("the params._meta protocol version cannot be a header")]
    Version,
}

/// The headers of one 2026-era POST derived from `message`: `MCP-Protocol-Version` (the
/// `_meta` version), `Mcp-Method`, `Mcp-Name` for `tools/call`, `prompts/get` and
/// `resources/read`, and for a `tools/call`, one `Mcp-Param-*` per entry of `params` (the
/// annotations of the called tool, from [`param_headers`]) whose argument is present and not
/// null.
///
/// Values go through [`header_safe`]. Arguments render as the notes say: strings as they
/// are, integers in decimal, booleans `true`/`false`. An argument of another JSON type
/// (a fraction, an object: invalid for its schema) gets no header (an inference: the notes leave it open); the server then
/// rejects the call before dispatch, as it would reject the argument.
///
/// Unlike the 2025 era, a long `Mcp-Name` is not left out: the header is required here.
///
/// # Errors
///
/// [`ModernHeadersError`] when the message lacks a method or the `_meta` version.
pub fn modern_headers(
    message: &Outgoing,
    params: &[ParamHeader],
) -> Result<HeaderMap, ModernHeadersError> {
    let method = message.method().ok_or(ModernHeadersError::NoMethod)?;
    if message.is_batch() {
        return Err(ModernHeadersError::NoMethod);
    }
    let version = message
        .protocol_version()
        .ok_or(ModernHeadersError::NoEnvelope)?;
    let mut headers = HeaderMap::new();
    let version = match header_safe(version) {
        Cow::Borrowed(version) => value(version),
        Cow::Owned(_) => return Err(ModernHeadersError::Version),
    };
    headers.insert(MCP_PROTOCOL_VERSION, version);
    headers.insert(MCP_METHOD, value(&header_safe(method)));
    if let Some(name) = mcp_name(message) {
        headers.insert(MCP_NAME, value(&header_safe(name)));
    }
    if method == "tools/call" && !params.is_empty() {
        let arguments = arguments(message.bytes());
        for param in params {
            let rendered = arguments
                .as_ref()
                .and_then(|arguments| at_path(arguments, &param.path))
                .and_then(render);
            if let Some(rendered) = rendered {
                headers.insert(param.name.clone(), value(&header_safe(&rendered)));
            }
        }
    }
    Ok(headers)
}

/// A header value from text [`header_safe`] made safe (visible ASCII and spaces).
fn value(safe: &str) -> HeaderValue {
    // Cannot fail on header-safe text; an empty value is the fallback all the same.
    HeaderValue::from_str(safe).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `params.arguments` of a `tools/call`, parsed: a tree is built only for calls of tools
/// with annotations.
fn arguments(bytes: &[u8]) -> Option<Value> {
    #[derive(Deserialize)]
    struct Call<'a> {
        #[serde(borrow)]
        params: Option<Params<'a>>,
    }
    #[derive(Deserialize)]
    struct Params<'a> {
        #[serde(borrow)]
        arguments: Option<&'a RawValue>,
    }
    let call: Call<'_> = serde_json::from_slice(bytes).ok()?;
    serde_json::from_str(call.params?.arguments?.get()).ok()
}

fn at_path<'v>(arguments: &'v Value, path: &[String]) -> Option<&'v Value> {
    path.iter().try_fold(arguments, |v, key| v.get(key))
}

/// An argument as header text; `None` for null and for types that have no header form.
fn render(argument: &Value) -> Option<Cow<'_, str>> {
    match argument {
        Value::String(s) => Some(Cow::Borrowed(s)),
        Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Some(Cow::Owned(i.to_string()))
            } else if let Some(u) = n.as_u64() {
                Some(Cow::Owned(u.to_string()))
            } else {
                // `3.0` is an integer to JSON Schema: send `3` if JS holds it exactly.
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() <= MAX_SAFE_INTEGER as f64)
                    .map(|f| Cow::Owned(format!("{f:.0}")))
            }
        }
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn outgoing(json: &Value) -> Outgoing {
        Outgoing::new(Bytes::from(json.to_string())).expect("valid message")
    }

    fn meta() -> Value {
        json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {}})
    }

    fn call(name: &str, arguments: Value) -> Outgoing {
        outgoing(&json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call",
            "params": {"name": name, "arguments": arguments, "_meta": meta()}}))
    }

    fn region_schema() -> Value {
        json!({"type": "object", "properties": {
            "region": {"type": "string", "x-mcp-header": "Region"},
            "text": {"type": "string"}}})
    }

    // §1.9 [obs]: `Hello, 世界` as `=?base64?SGVsbG8sIOS4lueVjA==?=` → 200.
    #[test]
    fn header_safe_encodes_what_a_header_cannot_carry_as_is() {
        assert_eq!(
            header_safe("Hello, 世界"),
            "=?base64?SGVsbG8sIOS4lueVjA==?="
        );
        assert!(matches!(header_safe("us west 1"), Cow::Borrowed(_)));
        assert!(matches!(header_safe(""), Cow::Borrowed(_)));
        for unsafe_value in [
            " lead",
            "trail ",
            "tab\tin",
            "line\nbreak",
            "nul\0",
            "del\u{7f}",
            "é",
        ] {
            let safe = header_safe(unsafe_value);
            let inner = safe
                .strip_prefix(BASE64_PREFIX)
                .and_then(|s| s.strip_suffix(BASE64_SUFFIX))
                .expect("sentinel");
            assert_eq!(
                STANDARD.decode(inner).expect("base64"),
                unsafe_value.as_bytes()
            );
        }
    }

    #[test]
    fn header_safe_encodes_a_value_that_looks_encoded() {
        let looks = "=?base64?SGk=?=";
        assert_eq!(
            header_safe(looks),
            format!("=?base64?{}?=", STANDARD.encode(looks))
        );
        assert_eq!(
            header_safe("=?base64?"),
            "=?base64?",
            "no suffix: not a sentinel"
        );
        assert_eq!(
            header_safe("=?BASE64?SGk=?="),
            "=?BASE64?SGk=?=",
            "markers are case-sensitive"
        );
    }

    // §1.10: `POST server/discover, headers {MCP-Protocol-Version: 2026-07-28, Mcp-Method:
    // server/discover} + _meta → 200`.
    #[test]
    fn discover_gets_version_and_method_and_no_name() {
        let m = outgoing(
            &json!({"jsonrpc": "2.0", "id": "d1", "method": "server/discover",
            "params": {"_meta": meta()}}),
        );
        let h = modern_headers(&m, &[]).expect("headers");
        assert_eq!(h[MCP_PROTOCOL_VERSION], "2026-07-28");
        assert_eq!(h[MCP_METHOD], "server/discover");
        assert_eq!(h.len(), 2);
    }

    // §4.5: never `MCP-Protocol-Version: 2026-07-28` on a message without the envelope
    // (`initialize + MCP-Protocol-Version: 2026-07-28 → 400 -32602`).
    #[test]
    fn a_message_without_the_envelope_gets_no_modern_headers() {
        let m = outgoing(&json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25"}}));
        assert_eq!(modern_headers(&m, &[]), Err(ModernHeadersError::NoEnvelope));
        let response = outgoing(&json!({"jsonrpc": "2.0", "id": 1, "result": {}}));
        assert_eq!(
            modern_headers(&response, &[]),
            Err(ModernHeadersError::NoMethod)
        );
    }

    // §1.10: `POST tools/call header 2026-07-28, _meta 2025-11-25 → 400 -32020`: the header
    // is the `_meta` value, whatever it is.
    #[test]
    fn the_version_header_is_the_meta_version() {
        let m = outgoing(&json!({"jsonrpc": "2.0", "id": 4, "method": "tools/list",
            "params": {"_meta": {"io.modelcontextprotocol/protocolVersion": "2027-01-01"}}}));
        assert_eq!(
            modern_headers(&m, &[]).expect("headers")[MCP_PROTOCOL_VERSION],
            "2027-01-01"
        );
        let m = outgoing(&json!({"jsonrpc": "2.0", "id": 4, "method": "tools/list",
            "params": {"_meta": {"io.modelcontextprotocol/protocolVersion": "bad\nversion"}}}));
        assert_eq!(modern_headers(&m, &[]), Err(ModernHeadersError::Version));
    }

    #[test]
    fn mcp_name_uses_the_sentinel_and_has_no_length_limit() {
        let h = modern_headers(&call("héllo", json!({})), &[]).expect("headers");
        assert_eq!(
            h[MCP_NAME],
            format!("=?base64?{}?=", STANDARD.encode("héllo")).as_str()
        );
        let h = modern_headers(&call("a\nb", json!({})), &[]).expect("headers");
        assert_eq!(h[MCP_NAME], "=?base64?YQpi?=");
        let uri = format!("file:///{}", "a".repeat(4096));
        let m = outgoing(
            &json!({"jsonrpc": "2.0", "id": 1, "method": "resources/read",
            "params": {"uri": uri, "_meta": meta()}}),
        );
        assert_eq!(
            modern_headers(&m, &[]).expect("headers")[MCP_NAME],
            uri.as_str()
        );
        let m = outgoing(&json!({"jsonrpc": "2.0", "id": 1, "method": "prompts/get",
            "params": {"name": "greet", "_meta": meta()}}));
        assert_eq!(modern_headers(&m, &[]).expect("headers")[MCP_NAME], "greet");
    }

    // §1.9 [obs]: no header → `-32020 "Mcp-Param-Region header is missing…"`; header present
    // but argument absent → `-32020`; `Hello, 世界` base64 → 200.
    #[test]
    fn annotated_arguments_become_mcp_param_headers() {
        let params = param_headers(&region_schema()).expect("valid");
        assert_eq!(params.len(), 1);
        assert_eq!(params[0].name().as_str(), "mcp-param-region");
        let h = modern_headers(
            &call("t", json!({"region": "us-west1", "text": "x"})),
            &params,
        )
        .expect("headers");
        assert_eq!(h["mcp-param-region"], "us-west1");
        assert_eq!(h[MCP_NAME], "t");
        let h =
            modern_headers(&call("t", json!({"region": "Hello, 世界"})), &params).expect("headers");
        assert_eq!(h["mcp-param-region"], "=?base64?SGVsbG8sIOS4lueVjA==?=");
        for absent in [json!({"text": "x"}), json!({"region": null}), json!(null)] {
            let h = modern_headers(&call("t", absent.clone()), &params).expect("headers");
            assert!(h.get("mcp-param-region").is_none(), "{absent}");
        }
        let list = outgoing(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list",
            "params": {"arguments": {"region": "x"}, "_meta": meta()}}));
        assert!(
            modern_headers(&list, &params)
                .expect("headers")
                .get("mcp-param-region")
                .is_none()
        );
    }

    #[test]
    fn integers_and_booleans_render_as_the_notes_say() {
        let schema = json!({"type": "object", "properties": {
            "n": {"type": "integer", "x-mcp-header": "N"},
            "b": {"type": "boolean", "x-mcp-header": "B"},
            "o": {"type": "object", "properties": {"deep": {"type": "string", "x-mcp-header": "Deep"}}}}});
        let params = param_headers(&schema).expect("valid");
        let h = modern_headers(
            &call("t", json!({"n": -42, "b": false, "o": {"deep": "d"}})),
            &params,
        )
        .expect("headers");
        assert_eq!(h["mcp-param-n"], "-42");
        assert_eq!(h["mcp-param-b"], "false");
        assert_eq!(h["mcp-param-deep"], "d");
        let h = modern_headers(&call("t", json!({"n": 3.0, "b": true})), &params).expect("headers");
        assert_eq!(h["mcp-param-n"], "3");
        assert_eq!(h["mcp-param-b"], "true");
        let h =
            modern_headers(&call("t", json!({"n": 1.5, "b": [true]})), &params).expect("headers");
        assert!(h.get("mcp-param-n").is_none());
        assert!(h.get("mcp-param-b").is_none());
    }

    #[test]
    fn invalid_annotations_reject_the_tool() {
        let cases = [
            (
                json!({"properties": {"a": {"type": "number", "x-mcp-header": "A"}}}),
                AnnotationError::WrongType {
                    property: "a".into(),
                },
            ),
            (
                json!({"properties": {"a": {"x-mcp-header": "A"}}}),
                AnnotationError::WrongType {
                    property: "a".into(),
                },
            ),
            (
                json!({"properties": {"a": {"type": "string", "x-mcp-header": "A B"}}}),
                AnnotationError::NotAToken {
                    property: "a".into(),
                },
            ),
            (
                json!({"properties": {"a": {"type": "string", "x-mcp-header": ""}}}),
                AnnotationError::NotAToken {
                    property: "a".into(),
                },
            ),
            (
                json!({"properties": {"a": {"type": "string", "x-mcp-header": 7}}}),
                AnnotationError::NotAToken {
                    property: "a".into(),
                },
            ),
            (
                json!({"properties": {"a": {"type": "string", "x-mcp-header": "Dup"},
                                   "b": {"type": "string", "x-mcp-header": "dUP"}}}),
                AnnotationError::Duplicate {
                    token: "dup".into(),
                },
            ),
            (
                json!({"properties": {"a": {"type": "array",
                    "items": {"type": "string", "x-mcp-header": "A"}}}}),
                AnnotationError::Unreachable,
            ),
            (
                json!({"properties": {"a": {"anyOf": [{"type": "string", "x-mcp-header": "A"}]}}}),
                AnnotationError::Unreachable,
            ),
            (
                json!({"$defs": {"d": {"type": "string", "x-mcp-header": "A"}}}),
                AnnotationError::Unreachable,
            ),
            (
                json!({"type": "string", "x-mcp-header": "Root"}),
                AnnotationError::Unreachable,
            ),
            (
                json!({"properties": {"a": {"$ref": "#/$defs/r", "type": "string", "x-mcp-header": "A"}}}),
                AnnotationError::Unreachable,
            ),
        ];
        for (schema, error) in cases {
            assert_eq!(param_headers(&schema), Err(error), "{schema}");
        }
        let nullable =
            json!({"properties": {"a": {"type": ["string", "null"], "x-mcp-header": "A"}}});
        assert_eq!(param_headers(&nullable).expect("valid").len(), 1);
        assert_eq!(param_headers(&json!({"type": "object"})), Ok(vec![]));
    }

    proptest! {
        // Every value, once made safe, is a legal header value that decodes back to itself.
        #[test]
        fn header_safe_round_trips(value in "\\PC*|[ -~]{0,20}|[\\x00-\\x7f]{0,20}") {
            let safe = header_safe(&value);
            prop_assert!(HeaderValue::from_str(&safe).is_ok());
            let decoded = match safe
                .strip_prefix(BASE64_PREFIX)
                .and_then(|s| s.strip_suffix(BASE64_SUFFIX))
            {
                Some(inner) if matches!(safe, Cow::Owned(_)) => {
                    String::from_utf8(STANDARD.decode(inner).expect("base64")).expect("utf-8")
                }
                _ => safe.clone().into_owned(),
            };
            prop_assert_eq!(decoded, value);
        }

        // A string argument's header always carries exactly the argument.
        #[test]
        fn a_string_argument_reaches_its_header(region in "\\PC{0,12}|[\\x00-\\x7f]{0,12}") {
            let params = param_headers(&region_schema()).expect("valid");
            let h = modern_headers(&call("t", json!({"region": region})), &params).expect("headers");
            prop_assert_eq!(h["mcp-param-region"].to_str().expect("ascii"), &*header_safe(&region));
        }
    }
}
