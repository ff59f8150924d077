//! Reading a JSON-RPC message's routing facts in one pass, without building a tree.
//!
//! The bridge forwards the original bytes; it only needs to know a message's `id`, `method`,
//! `params.name` / `params.uri` (for the `Mcp-Name` header) and
//! `params._meta["io.modelcontextprotocol/protocolVersion"]` (the 2026 per-request protocol
//! version). [`peek`] reads those with borrowed serde types and skips everything else with
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
    match text.trim_start().as_bytes().first() {
        Some(b'{') => serde_json::from_str::<Head<'_>>(text)
            .map(|head| Peeked::Single(head.0))
            .map_err(PeekError::Json),
        Some(b'[') => serde_json::from_str::<Vec<Head<'_>>>(text)
            .map(|heads| Peeked::Batch(heads.into_iter().map(|h| h.0).collect()))
            .map_err(PeekError::Json),
        _ => match serde_json::from_str::<IgnoredAny>(text) {
            Ok(_) => Err(PeekError::NotAMessage),
            Err(e) => Err(PeekError::Json(e)),
        },
    }
}

/// One message object; anything that is not an object reads as an empty `Peek`.
struct Head<'a>(Peek<'a>);

/// A string that may borrow from the input; any other JSON value reads as `None`.
struct LooseStr<'a>(Option<Cow<'a, str>>);

impl<'de> Deserialize<'de> for Head<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TopVisitor).map(Head)
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
    Skip,
}

fn top_level_key(key: &str) -> Wanted {
    match key {
        "id" => Wanted::Id,
        "method" => Wanted::Method,
        "params" => Wanted::Params,
        _ => Wanted::Skip,
    }
}

fn params_key(key: &str) -> Wanted {
    match key {
        "name" => Wanted::Name,
        "uri" => Wanted::Uri,
        "_meta" => Wanted::Meta,
        _ => Wanted::Skip,
    }
}

fn meta_key(key: &str) -> Wanted {
    match key {
        "io.modelcontextprotocol/protocolVersion" => Wanted::ProtocolVersion,
        _ => Wanted::Skip,
    }
}

/// Visits one JSON object level, filling `peek` with what `classify` asks for. Nested levels
/// (`params`, `params._meta`) are visited by the same code with another classifier.
struct Level<'p, 'a> {
    peek: &'p mut Peek<'a>,
    classify: fn(&str) -> Wanted,
    /// `params.uri` seen, kept apart so that `name` wins whatever the key order.
    uri: &'p mut Option<Cow<'a, str>>,
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

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<KeyStr<'de>>()? {
            match (self.classify)(&key.0) {
                Wanted::Id => {
                    let raw: &'de RawValue = map.next_value()?;
                    self.peek.id = Some(raw.get());
                }
                Wanted::Method => self.peek.method = map.next_value::<LooseStr<'de>>()?.0,
                Wanted::Name => self.peek.name = map.next_value::<LooseStr<'de>>()?.0,
                Wanted::Uri => *self.uri = map.next_value::<LooseStr<'de>>()?.0,
                Wanted::ProtocolVersion => {
                    self.peek.protocol_version = map.next_value::<LooseStr<'de>>()?.0;
                }
                Wanted::Params => map.next_value_seed(Level {
                    peek: &mut *self.peek,
                    classify: params_key,
                    uri: &mut *self.uri,
                })?,
                Wanted::Meta => map.next_value_seed(Level {
                    peek: &mut *self.peek,
                    classify: meta_key,
                    uri: &mut *self.uri,
                })?,
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
struct TopVisitor;

impl<'de> Visitor<'de> for TopVisitor {
    type Value = Peek<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON-RPC message")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Peek<'de>, A::Error> {
        let mut peek = Peek::default();
        let mut uri = None;
        Level {
            peek: &mut peek,
            classify: top_level_key,
            uri: &mut uri,
        }
        .visit_map(map)?;
        if peek.name.is_none() {
            peek.name = uri;
        }
        Ok(peek)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Peek<'de>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Peek::default())
    }

    fn visit_bool<E>(self, _: bool) -> Result<Peek<'de>, E> {
        Ok(Peek::default())
    }
    fn visit_i64<E>(self, _: i64) -> Result<Peek<'de>, E> {
        Ok(Peek::default())
    }
    fn visit_u64<E>(self, _: u64) -> Result<Peek<'de>, E> {
        Ok(Peek::default())
    }
    fn visit_f64<E>(self, _: f64) -> Result<Peek<'de>, E> {
        Ok(Peek::default())
    }
    fn visit_str<E>(self, _: &str) -> Result<Peek<'de>, E> {
        Ok(Peek::default())
    }
    fn visit_unit<E>(self) -> Result<Peek<'de>, E> {
        Ok(Peek::default())
    }
}

/// An object key, borrowed when it has no escapes.
struct KeyStr<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for KeyStr<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(StrVisitor)
            .map(|s| KeyStr(s.unwrap_or_default()))
    }
}

impl<'de> Deserialize<'de> for LooseStr<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrVisitor).map(LooseStr)
    }
}

/// A string (borrowed where possible), or `None` for any other value, which it skips.
struct StrVisitor;

impl<'de> Visitor<'de> for StrVisitor {
    type Value = Option<Cow<'de, str>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}
