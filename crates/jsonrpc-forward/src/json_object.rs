//! A JSON object's members with their byte positions, so that a message can be edited in
//! one place while every other byte stays as the peer wrote it (§4.0: case B splices the
//! request envelope into `params._meta`, MRTR retries add `inputResponses`, §4.7).
//!
//! Positions come from `serde_json` itself, never from a hand-written scanner: each member's
//! value is deserialised as a `&RawValue` borrowed from the text being parsed
//! (`serde_json::from_str` hands out borrowed raw values that are sub-slices of its input),
//! so the pointer difference between the value's text and the object's text is the value's
//! byte offset. The only bytes looked at by hand are the ones between a value and the `,` or
//! `}` that follows it, which JSON's grammar restricts to whitespace.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// A parsed JSON object: its members in order, each with its key (unescaped) and the places
/// of its text.
#[derive(Debug)]
pub(crate) struct JsonObject<'a> {
    /// Whitespace before the object in the text given to [`JsonObject::parse`].
    lead: &'a str,
    /// The object, `{` to `}`.
    text: &'a str,
    /// Whitespace after the object.
    trail: &'a str,
    members: Vec<Member<'a>>,
}

/// One member of a [`JsonObject`].
#[derive(Debug)]
pub(crate) struct Member<'a> {
    /// The key, escapes resolved (`"\u005fmeta"` is `_meta`).
    pub(crate) key: Cow<'a, str>,
    /// The value's text, exactly as written.
    pub(crate) value: &'a RawValue,
    /// The member's segment of the object's text: from just after the `{` or `,` before it
    /// up to (not including) the `,` or `}` after it, surrounding whitespace included.
    segment: Range<usize>,
    /// Where the value lies in the object's text.
    value_at: Range<usize>,
}

/// What [`JsonObject::rebuild`] does with one member.
#[derive(Debug)]
pub(crate) enum Edit {
    /// Keep the member byte for byte.
    Keep,
    /// Leave the member out.
    Drop,
    /// Keep the key and the whitespace around it, with this JSON text as the value.
    Value(String),
}

/// The edit of member `index` that puts `value` in place of member `at`'s value, once: for
/// [`JsonObject::rebuild`] when one member changes.
pub(crate) fn replace_at(index: usize, at: usize, value: &mut Option<String>) -> Edit {
    match value.take() {
        Some(value) if index == at => Edit::Value(value),
        taken => {
            *value = taken;
            Edit::Keep
        }
    }
}

/// JSON's insignificant whitespace.
fn is_json_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// The byte offset of `inner` in `outer` when `inner` is a sub-slice of it.
fn offset_in(outer: &str, inner: &str) -> Option<usize> {
    let start = (inner.as_ptr() as usize).checked_sub(outer.as_ptr() as usize)?;
    (start.checked_add(inner.len())? <= outer.len()).then_some(start)
}

impl<'a> JsonObject<'a> {
    /// Parses `text`, one JSON value with optional surrounding whitespace.
    ///
    /// Returns `Ok(None)` when the value is valid JSON but not an object.
    ///
    /// # Errors
    ///
    /// The `serde_json` error when `text` is not one JSON value.
    pub(crate) fn parse(text: &'a str) -> Result<Option<Self>, serde_json::Error> {
        let Some(raw) = serde_json::from_str::<Scanned<'a>>(text)?.0 else {
            return Ok(None);
        };
        // `from_str` accepts only whitespace around the value, so the trimmed text is the
        // object.
        let object = text.trim_matches(|c: char| c.is_ascii() && is_json_space(c as u8));
        let bad = || <serde_json::Error as de::Error>::custom("object text out of place");
        let start = offset_in(text, object).ok_or_else(bad)?;
        let bytes = object.as_bytes();
        let mut members = Vec::with_capacity(raw.len());
        let mut segment_start = 1;
        for (key, value) in raw {
            let value_start = offset_in(object, value.get()).ok_or_else(bad)?;
            let value_end = value_start + value.get().len();
            let separator = bytes[value_end..]
                .iter()
                .position(|&b| !is_json_space(b))
                .map(|n| value_end + n)
                .filter(|&at| matches!(bytes[at], b',' | b'}'))
                .ok_or_else(bad)?;
            members.push(Member {
                key,
                value,
                segment: segment_start..separator,
                value_at: value_start..value_end,
            });
            segment_start = separator + 1;
        }
        Ok(Some(Self {
            lead: &text[..start],
            text: object,
            trail: &text[start + object.len()..],
            members,
        }))
    }

    /// The members in the order written (a repeated key appears each time).
    pub(crate) fn members(&self) -> &[Member<'a>] {
        &self.members
    }

    /// The last member named `key` (the one a parsed tree keeps) and its index.
    pub(crate) fn last(&self, key: &str) -> Option<(usize, &Member<'a>)> {
        self.members
            .iter()
            .enumerate()
            .rev()
            .find(|(_, m)| m.key == key)
    }

    /// The value of the last member named `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.last(key).map(|(_, m)| m.value)
    }

    /// The object's text, surrounding whitespace included, with `first` (member text such as
    /// `"a":1`, or several joined by `,`) inserted right after the `{`, each member edited by
    /// `edit` (given its index), and `last` members appended before the `}`.
    ///
    /// With nothing inserted, dropped or replaced, this is the text that was parsed.
    pub(crate) fn rebuild(
        &self,
        first: Option<&str>,
        mut edit: impl FnMut(usize, &Member<'a>) -> Edit,
        last: &[&str],
    ) -> String {
        let mut parts: Vec<Cow<'_, str>> = Vec::with_capacity(self.members.len() + 2);
        parts.extend(first.map(Cow::Borrowed));
        for (index, member) in self.members.iter().enumerate() {
            match edit(index, member) {
                Edit::Keep => parts.push(Cow::Borrowed(&self.text[member.segment.clone()])),
                Edit::Drop => {}
                Edit::Value(value) => parts.push(Cow::Owned(format!(
                    "{}{value}{}",
                    &self.text[member.segment.start..member.value_at.start],
                    &self.text[member.value_at.end..member.segment.end],
                ))),
            }
        }
        parts.extend(last.iter().map(|&part| Cow::Borrowed(part)));
        // The whitespace inside an empty object (a member's own belongs to its segment).
        let inside = if self.members.is_empty() {
            &self.text[1..self.text.len() - 1]
        } else {
            ""
        };
        let mut out = String::with_capacity(self.lead.len() + self.text.len() + 64);
        out.push_str(self.lead);
        out.push('{');
        for (n, part) in parts.iter().enumerate() {
            if n > 0 {
                out.push(',');
            }
            out.push_str(part);
        }
        out.push_str(inside);
        out.push('}');
        out.push_str(self.trail);
        out
    }
}

/// What the scan of one JSON value found: the members of an object, or `None` for any other
/// value.
struct Scanned<'a>(Option<Vec<(Cow<'a, str>, &'a RawValue)>>);

impl<'de> de::Deserialize<'de> for Scanned<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScanVisitor).map(Scanned)
    }
}

struct ScanVisitor;

impl<'de> Visitor<'de> for ScanVisitor {
    type Value = Option<Vec<(Cow<'de, str>, &'de RawValue)>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut members = Vec::new();
        while let Some(key) = map.next_key::<Key<'de>>()? {
            let value: &'de RawValue = map.next_value()?;
            members.push((key.0, value));
        }
        Ok(Some(members))
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
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// An object key, borrowed when it has no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Cow<'de, str>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Cow::Borrowed(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Cow::Owned(v.to_owned()))
            }
        }
        d.deserialize_str(KeyVisitor).map(Key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> JsonObject<'_> {
        JsonObject::parse(text)
            .expect("valid JSON")
            .expect("an object")
    }

    #[test]
    fn rebuild_without_edits_gives_the_text_back() {
        for text in [
            "{}",
            " { } ",
            "{\"a\":1}",
            "\t{ \"a\" : [1, {\"}\":\",\"}] , \"b\":{} \n}\r\n",
            r#"{"\u005fmeta":null,"a":"x\"}"}"#,
        ] {
            assert_eq!(parse(text).rebuild(None, |_, _| Edit::Keep, &[]), text);
        }
    }

    #[test]
    fn keys_are_unescaped_and_the_last_repeat_wins() {
        let object = parse(r#"{"\u005fmeta":1, "a\/b":2, "_meta":3}"#);
        let keys: Vec<&str> = object.members().iter().map(|m| &*m.key).collect();
        assert_eq!(keys, ["_meta", "a/b", "_meta"]);
        assert_eq!(object.get("_meta").map(RawValue::get), Some("3"));
        assert_eq!(object.last("_meta").map(|(i, _)| i), Some(2));
    }

    #[test]
    fn edits_keep_the_bytes_around_them() {
        let object = parse(r#" { "a" : 1 , "b":2, "c" :3 } "#);
        let out = object.rebuild(
            Some(r#""new":0"#),
            |i, _| match i {
                0 => Edit::Value("[]".into()),
                1 => Edit::Drop,
                _ => Edit::Keep,
            },
            &[r#""z":9"#],
        );
        assert_eq!(out, r#" {"new":0, "a" : [] , "c" :3 ,"z":9} "#);
        let empty = parse("{ }");
        assert_eq!(
            empty.rebuild(Some(r#""a":1"#), |_, _| Edit::Keep, &[]),
            r#"{"a":1 }"#
        );
    }

    #[test]
    fn other_values_are_not_objects_and_bad_json_is_an_error() {
        for text in ["[1,{}]", "1", "\"{}\"", "null", "true", "-1.5e3"] {
            assert!(JsonObject::parse(text).expect("valid").is_none(), "{text}");
        }
        for text in ["{", "{\"a\"}", "{} x", "", "{\"a\":1,}"] {
            assert!(JsonObject::parse(text).is_err(), "{text}");
        }
    }
}

/// Generated JSON for proptests: values written with odd whitespace and escaped keys.
#[cfg(test)]
pub(crate) mod testing {
    use proptest::prelude::*;

    /// A JSON value to be written out in some style.
    #[derive(Debug, Clone)]
    pub(crate) enum J {
        Scalar(&'static str),
        Str(String),
        Arr(Vec<J>),
        Obj(Vec<(String, J)>),
    }

    /// One way of writing a key: plain, or with every `_`, `/` and `m` escaped.
    pub(crate) fn write_key(key: &str, escaped: bool, out: &mut String) {
        out.push('"');
        for c in key.chars() {
            match c {
                '_' if escaped => out.push_str("\\u005f"),
                '/' if escaped => out.push_str("\\/"),
                'm' if escaped => out.push_str("\\u006D"),
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c => out.push(c),
            }
        }
        out.push('"');
    }

    /// Writes one piece of insignificant whitespace chosen by `style`; returns the choice.
    pub(crate) fn space(style: &mut impl Iterator<Item = u8>, out: &mut String) -> u8 {
        let n = style.next().unwrap_or(0);
        out.push_str([" ", "", "\t", "", "\r\n", ""][usize::from(n % 6)]);
        n
    }

    pub(crate) fn write(value: &J, style: &mut impl Iterator<Item = u8>, out: &mut String) {
        match value {
            J::Scalar(s) => out.push_str(s),
            J::Str(s) => out.push_str(&serde_json::to_string(s).unwrap_or_default()),
            J::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    space(style, out);
                    write(item, style, out);
                    space(style, out);
                }
                out.push(']');
            }
            J::Obj(members) => {
                out.push('{');
                space(style, out);
                for (i, (key, item)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                        space(style, out);
                    }
                    let escaped = space(style, out).is_multiple_of(2);
                    write_key(key, escaped, out);
                    space(style, out);
                    out.push(':');
                    space(style, out);
                    write(item, style, out);
                    space(style, out);
                }
                out.push('}');
            }
        }
    }

    pub(crate) fn leaf() -> impl Strategy<Value = J> {
        prop_oneof![
            Just(J::Scalar("null")),
            Just(J::Scalar("true")),
            Just(J::Scalar("-1.5e3")),
            Just(J::Scalar("7")),
            "[a-z_{}\\[\\]\",:/\\\\ ]{0,8}".prop_map(J::Str),
        ]
    }

    pub(crate) fn any_json() -> impl Strategy<Value = J> {
        leaf().prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(J::Arr),
                proptest::collection::vec((key(), inner), 0..4).prop_map(J::Obj),
            ]
        })
    }

    /// Keys: some that matter here, some that do not.
    pub(crate) fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("params".to_owned()),
            Just("_meta".to_owned()),
            Just("progressToken".to_owned()),
            "[a-z/_]{0,6}",
        ]
    }

    pub(crate) fn common_prefix(a: &[u8], b: &[u8]) -> usize {
        a.iter().zip(b).take_while(|(x, y)| x == y).count()
    }

    pub(crate) fn common_suffix(a: &[u8], b: &[u8]) -> usize {
        a.iter()
            .rev()
            .zip(b.iter().rev())
            .take_while(|(x, y)| x == y)
            .count()
    }
}
