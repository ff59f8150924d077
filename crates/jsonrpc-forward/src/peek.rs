//! Reading a JSON-RPC message's routing facts in one pass, without building a tree.
//!
//! The bridge forwards the original bytes; it only needs to know a message's `id`, `method`,
//! `params.name` / `params.uri` (for the `Mcp-Name` header),
//! `params._meta["io.modelcontextprotocol/protocolVersion"]` (the 2026 per-request protocol
//! version) and `params.requestId` (what `notifications/cancelled` cancels). [`peek`] reads those with borrowed serde types and skips everything else with
//! `IgnoredAny`, so the message is also fully validated (UTF-8 and JSON syntax) in the same
//! pass. Fields of unexpected types (a numeric `method`, positional `params`) read as absent
//! instead of failing: routing never rejects a message the server might accept.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// Why a message could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PeekError {
    /// The bytes are not UTF-8.
    #[error("message is not valid UTF-8 (byte {offset})")]
    Utf8 {
        /// Offset of the first invalid byte.
        offset: usize,
    },
    /// The bytes are not one JSON value.
    #[error("message is not valid JSON")]
    Json(#[source] serde_json::Error),
    /// Valid JSON, but not an object or an array of objects.
    #[error("message is not a JSON-RPC object or batch")]
    NotAMessage,
}

/// The routing facts of one JSON-RPC message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Peek<'a> {
    /// The `id` as its raw JSON text (`7`, `"a"`, `null`), if the member is present.
    pub id: Option<&'a str>,
    /// The `method`, if it is a string.
    pub method: Option<Cow<'a, str>>,
    /// `params.name`, else `params.uri`, if a string.
    pub name: Option<Cow<'a, str>>,
    /// `params._meta["io.modelcontextprotocol/protocolVersion"]`, if a string.
    pub protocol_version: Option<Cow<'a, str>>,
    /// `params.requestId` as its raw JSON text (what `notifications/cancelled` cancels).
    pub request_id: Option<&'a str>,
}

impl Peek<'_> {
    /// A request: it has an `id` and a `method`, and expects exactly one answer.
    #[must_use]
    pub fn is_request(&self) -> bool {
        self.id.is_some() && self.method.is_some()
    }

    /// A notification: a `method` and no `id`; it gets no answer.
    #[must_use]
    pub fn is_notification(&self) -> bool {
        self.id.is_none() && self.method.is_some()
    }

    /// A response: an `id` and no `method`.
    #[must_use]
    pub fn is_response(&self) -> bool {
        self.id.is_some() && self.method.is_none()
    }
}

/// A peeked message: one object, or a batch (a JSON array of them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peeked<'a> {
    /// One JSON-RPC object.
    Single(Peek<'a>),
    /// A batch; elements that are not objects read as empty [`Peek`]s.
    Batch(Vec<Peek<'a>>),
}

/// Validates `bytes` as one UTF-8 JSON value and reads its routing facts.
///
/// # Errors
///
/// [`PeekError`] when the bytes are not UTF-8, not JSON, or not an object or array.
pub fn peek(bytes: &[u8]) -> Result<Peeked<'_>, PeekError> {
    // serde_json does not check the UTF-8 of strings it skips, so check it first.
    let text = std::str::from_utf8(bytes).map_err(|e| PeekError::Utf8 {
        offset: e.valid_up_to(),
    })?;
    let (peeked, doubtful) = match text.trim_start().as_bytes().first() {
        Some(b'{') => head(text).map(|head| (Peeked::Single(head.0), head.1))?,
        Some(b'[') => {
            // Each element is captured raw (a syntax pass) and only objects are peeked, so
            // that a non-object element is judged by syntax alone, as inside an object.
            let elements: Vec<&RawValue> = serde_json::from_str(text).map_err(PeekError::Json)?;
            let mut doubtful = false;
            let mut heads = Vec::with_capacity(elements.len());
            for element in elements {
                let raw = element.get();
                if raw.starts_with('{') {
                    let head = head(raw)?;
                    doubtful |= head.1;
                    heads.push(head.0);
                } else {
                    heads.push(Peek::default());
                }
            }
            (Peeked::Batch(heads), doubtful)
        }
        _ => {
            return match serde_json::from_str::<IgnoredAny>(text) {
                Ok(_) => Err(PeekError::NotAMessage),
                Err(e) => Err(PeekError::Json(e)),
            };
        }
    };
    if doubtful {
        serde_json::from_str::<IgnoredAny>(text).map_err(PeekError::Json)?;
    }
    Ok(peeked)
}

/// Peeks one message object. The quick pass visits `params` and `params._meta` as they
/// stream by; it fails on a value there that `serde_json` cannot evaluate though its syntax
/// is valid (a number out of range: `"params": 1e99999`), so a failed quick pass is redone
/// with both captured raw first (a syntax pass that evaluates nothing) and visited only
/// when they are objects. That careful pass decides.
fn head(text: &str) -> Result<Head<'_>, PeekError> {
    serde_json::from_str::<Head<'_>>(text)
        .or_else(|_| serde_json::from_str::<CarefulHead<'_>>(text).map(|h| h.0))
        .map_err(PeekError::Json)
}

/// One message object (anything else reads as an empty `Peek`), and whether a key needs a
/// syntax pass.
struct Head<'a>(Peek<'a>, bool);

/// [`Head`] read by the careful pass of [`head`].
struct CarefulHead<'a>(Head<'a>);

/// A string that may borrow from the input; any other JSON value reads as `None`.
struct LooseStr<'a>(Option<Cow<'a, str>>);

impl<'de> Deserialize<'de> for Head<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TopVisitor { careful: false })
            .map(|(peek, doubtful)| Head(peek, doubtful))
    }
}

impl<'de> Deserialize<'de> for CarefulHead<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TopVisitor { careful: true })
            .map(|(peek, doubtful)| CarefulHead(Head(peek, doubtful)))
    }
}

/// What the visitor does with the value of a key.
enum Wanted {
    Id,
    Method,
    Params,
    Name,
    Uri,
    Meta,
    ProtocolVersion,
    RequestId,
    Skip,
}

fn top_level_key(key: &[u8]) -> Wanted {
    match key {
        b"id" => Wanted::Id,
        b"method" => Wanted::Method,
        b"params" => Wanted::Params,
        _ => Wanted::Skip,
    }
}

fn params_key(key: &[u8]) -> Wanted {
    match key {
        b"name" => Wanted::Name,
        b"uri" => Wanted::Uri,
        b"_meta" => Wanted::Meta,
        b"requestId" => Wanted::RequestId,
        _ => Wanted::Skip,
    }
}

fn meta_key(key: &[u8]) -> Wanted {
    match key {
        b"io.modelcontextprotocol/protocolVersion" => Wanted::ProtocolVersion,
        _ => Wanted::Skip,
    }
}

/// Visits one JSON object level, filling `peek` with what `classify` asks for. Nested levels
/// (`params`, `params._meta`) are visited by the same code with another classifier.
struct Level<'p, 'a> {
    peek: &'p mut Peek<'a>,
    classify: fn(&[u8]) -> Wanted,
    /// `params.uri` seen, kept apart so that `name` wins whatever the key order.
    uri: &'p mut Option<Cow<'a, str>>,
    /// A key needs the syntax pass of [`KeyBytes::is_doubtful`].
    doubtful: &'p mut bool,
    /// Nested levels are captured raw first (the careful pass of [`head`]).
    careful: bool,
}

impl<'de> Level<'_, 'de> {
    /// Visits the value of `map`'s current key as the next level down, `classify` telling
    /// what to read there.
    fn descend<A: MapAccess<'de>>(
        &mut self,
        map: &mut A,
        classify: fn(&[u8]) -> Wanted,
    ) -> Result<(), A::Error> {
        let level = Level {
            peek: &mut *self.peek,
            classify,
            uri: &mut *self.uri,
            doubtful: &mut *self.doubtful,
            careful: self.careful,
        };
        if !self.careful {
            return map.next_value_seed(level);
        }
        let raw: &'de RawValue = map.next_value()?;
        if !raw.get().starts_with('{') {
            return Ok(());
        }
        let mut nested = serde_json::Deserializer::from_str(raw.get());
        de::DeserializeSeed::deserialize(level, &mut nested).map_err(de::Error::custom)
    }
}

impl<'de> de::DeserializeSeed<'de> for Level<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Level<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<KeyBytes<'de>>()? {
            *self.doubtful |= key.is_doubtful();
            match (self.classify)(&key.0) {
                Wanted::Id => {
                    let raw: &'de RawValue = map.next_value()?;
                    self.peek.id = Some(raw.get());
                }
                Wanted::RequestId => {
                    let raw: &'de RawValue = map.next_value()?;
                    self.peek.request_id = Some(raw.get());
                }
                Wanted::Method => self.peek.method = map.next_value::<LooseStr<'de>>()?.0,
                Wanted::Name => self.peek.name = map.next_value::<LooseStr<'de>>()?.0,
                Wanted::Uri => *self.uri = map.next_value::<LooseStr<'de>>()?.0,
                Wanted::ProtocolVersion => {
                    self.peek.protocol_version = map.next_value::<LooseStr<'de>>()?.0;
                }
                Wanted::Params => {
                    // A repeated key replaces the earlier value, as in a parsed tree.
                    self.peek.name = None;
                    *self.uri = None;
                    self.peek.protocol_version = None;
                    self.peek.request_id = None;
                    self.descend(&mut map, params_key)?;
                }
                Wanted::Meta => {
                    self.peek.protocol_version = None;
                    self.descend(&mut map, meta_key)?;
                }
                Wanted::Skip => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

/// The top level: a [`Level`] over a fresh [`Peek`]; a non-object reads as an empty one.
struct TopVisitor {
    careful: bool,
}

impl<'de> Visitor<'de> for TopVisitor {
    type Value = (Peek<'de>, bool);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON-RPC message")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let mut peek = Peek::default();
        let mut uri = None;
        let mut doubtful = false;
        Level {
            peek: &mut peek,
            classify: top_level_key,
            uri: &mut uri,
            doubtful: &mut doubtful,
            careful: self.careful,
        }
        .visit_map(map)?;
        if peek.name.is_none() {
            peek.name = uri;
        }
        Ok((peek, doubtful))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok((Peek::default(), false))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok((Peek::default(), false))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok((Peek::default(), false))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok((Peek::default(), false))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok((Peek::default(), false))
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok((Peek::default(), false))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok((Peek::default(), false))
    }
}

/// An object key as bytes, borrowed when it has no escapes. Read as bytes because `serde_json`
/// then accepts a lone surrogate escape (as WTF-8) where it skips one in a value, so validity
/// does not depend on where such an escape stands.
struct KeyBytes<'a>(Cow<'a, [u8]>);

impl KeyBytes<'_> {
    /// An escaped key holding a control byte: it came from an escape or stood raw, which
    /// only a syntax pass over the message can tell.
    fn is_doubtful(&self) -> bool {
        matches!(&self.0, Cow::Owned(v) if v.iter().any(|&b| b < 0x20))
    }
}

impl<'de> Deserialize<'de> for KeyBytes<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_bytes(KeyVisitor).map(KeyBytes)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Cow<'de, [u8]>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_bytes<E: de::Error>(self, v: &'de [u8]) -> Result<Self::Value, E> {
        // No escapes, so a control byte stood raw in the string: JSON forbids that, and
        // serde_json does not check it for bytes.
        if v.iter().any(|&b| b < 0x20) {
            return Err(E::custom("control character in an object key"));
        }
        Ok(Cow::Borrowed(v))
    }
    fn visit_bytes<E>(self, v: &[u8]) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_vec()))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v.as_bytes()))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.as_bytes().to_vec()))
    }
}

impl<'de> Deserialize<'de> for LooseStr<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Captured raw and decoded apart, so that an escape serde_json refuses to decode (a
        // lone surrogate, `\ud800`) reads as "no string" instead of failing the message:
        // whether a message is valid must not depend on which member holds such an escape.
        let raw: &'de RawValue = Deserialize::deserialize(d)?;
        let text = raw.get();
        let Some(inner) = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) else {
            return Ok(LooseStr(None));
        };
        if !inner.contains('\\') {
            return Ok(LooseStr(Some(Cow::Borrowed(inner))));
        }
        Ok(LooseStr(
            serde_json::from_str::<String>(text).ok().map(Cow::Owned),
        ))
    }
}

/// The fuzz oracle (feature `testing`): [`peek`] agrees with a full `serde_json::Value` parse.
#[cfg(feature = "testing")]
pub mod testing {
    use serde_json::Value;

    use super::{Peek, PeekError, Peeked, peek};

    /// Panics unless `peek(data)` says what a parsed tree says: the same validity, kind,
    /// `id`, `method`, `params.name`/`params.uri` and 2026 protocol version.
    ///
    /// # Panics
    ///
    /// On any disagreement, naming it.
    pub fn check(data: &[u8]) {
        let text = std::str::from_utf8(data).ok();
        // Validity is JSON syntax; a tree may still fail on a number out of range (1e400),
        // which a forwarder passes on, so fields are compared only when a tree exists.
        let valid = text.is_some_and(|t| serde_json::from_str::<serde::de::IgnoredAny>(t).is_ok());
        let tree: Option<Value> = text.and_then(|t| serde_json::from_str(t).ok());
        match (peek(data), tree) {
            (Ok(_) | Err(PeekError::NotAMessage), None) => {
                assert!(valid, "peek accepted invalid JSON");
            }
            (Ok(Peeked::Single(p)), Some(tree @ Value::Object(_))) => agree(&p, &tree),
            (Ok(Peeked::Batch(items)), Some(Value::Array(elements))) => {
                assert_eq!(items.len(), elements.len(), "batch length");
                for (p, element) in items.iter().zip(&elements) {
                    agree(p, element);
                }
            }
            (Err(PeekError::NotAMessage), Some(tree)) => {
                assert!(!tree.is_object() && !tree.is_array(), "{tree} is a message");
            }
            (Err(PeekError::Utf8 { .. } | PeekError::Json(_)), _) => {
                assert!(!valid, "peek rejected valid JSON");
            }
            (peeked, tree) => panic!("peek {peeked:?} but the tree is {tree:?}"),
        }
    }

    /// Panics unless `data`, nested `depth` arrays deep inside the `params` of a request,
    /// peeks as that request exactly when the whole is valid JSON (as `serde_json`'s
    /// iterative skipping, which has no depth limit, judges it): nesting never overflows the
    /// stack nor changes what is read.
    ///
    /// # Panics
    ///
    /// On any disagreement, naming it.
    pub fn check_nested(data: &[u8], depth: usize) {
        let mut message = br#"{"jsonrpc":"2.0","id":1,"method":"m","params":{"deep":"#.to_vec();
        message.resize(message.len() + depth, b'[');
        message.extend_from_slice(data);
        message.resize(message.len() + depth, b']');
        message.extend_from_slice(br#","name":"n"}}"#);
        let valid = std::str::from_utf8(&message)
            .is_ok_and(|t| serde_json::from_str::<serde::de::IgnoredAny>(t).is_ok());
        match peek(&message) {
            Ok(Peeked::Single(p)) => {
                assert!(valid, "peek accepted invalid JSON nested {depth} deep");
                assert_eq!(p.id, Some("1"));
                assert_eq!(p.method.as_deref(), Some("m"));
                assert_eq!(p.name.as_deref(), Some("n"));
            }
            Ok(other) => panic!("not a single message: {other:?}"),
            Err(e) => assert!(!valid, "peek rejected valid JSON nested {depth} deep: {e}"),
        }
    }

    fn agree(p: &Peek<'_>, tree: &Value) {
        let Value::Object(map) = tree else {
            assert_eq!(*p, Peek::default(), "a non-object element");
            return;
        };
        let id =
            p.id.map(|raw| serde_json::from_str::<Value>(raw).expect("raw id is JSON"));
        assert_eq!(id.as_ref(), map.get("id"), "id");
        assert_eq!(
            p.method.as_deref(),
            map.get("method").and_then(Value::as_str),
            "method"
        );
        let params = map.get("params").and_then(Value::as_object);
        let name = params.and_then(|m| {
            m.get("name")
                .and_then(Value::as_str)
                .or_else(|| m.get("uri").and_then(Value::as_str))
        });
        assert_eq!(p.name.as_deref(), name, "name");
        let version = params
            .and_then(|m| m.get("_meta"))
            .and_then(Value::as_object)
            .and_then(|m| m.get("io.modelcontextprotocol/protocolVersion"))
            .and_then(Value::as_str);
        assert_eq!(p.protocol_version.as_deref(), version, "protocol version");
        let request_id = p
            .request_id
            .map(|raw| serde_json::from_str::<Value>(raw).expect("raw requestId is JSON"));
        assert_eq!(
            request_id.as_ref(),
            params.and_then(|m| m.get("requestId")),
            "requestId"
        );
    }
}
