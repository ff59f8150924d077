//! Which tools the host sees: `--allow-tool` / `--deny-tool` globs.
//!
//! A tool is shown when its name matches some allow glob (or no allow glob is given) and no
//! deny glob. The bridge removes hidden tools from every `tools/list` result it forwards (so
//! each page of a paginated list, and each list after `notifications/tools/list_changed`),
//! and answers a `tools/call` of a hidden tool itself with `-32602`, without sending it.
//!
//! Only the answer to a `tools/list` request of the host is rewritten, and only when it
//! lists a hidden tool: the result is parsed one level deep (`result.tools` as raw
//! elements), the hidden elements are dropped, and the object is written again by
//! `serde_json` with every other member kept as its raw text, in its order. Every other
//! message stays byte for byte. Without a filter none of this runs: no extra parse.
//!
//! Globs are `globset`'s (ripgrep's): `*` and `?` match any characters (tool names have no
//! path separators), `[abc]` a class, `{a,b}` alternatives, `\` escapes.

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::message::{IdKey, error_response};

/// Why a tool glob was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ToolFilterError {
    /// The glob does not parse.
    #[error("invalid tool glob {glob:?}")]
    Glob {
        /// The glob as given.
        glob: String,
        /// What is wrong with it.
        #[source]
        source: globset::Error,
    },
}

/// The `--allow-tool` and `--deny-tool` globs, compiled once.
#[derive(Debug, Clone)]
pub struct ToolFilter {
    /// `None`: every tool not denied is shown.
    allow: Option<GlobSet>,
    deny: GlobSet,
}

impl ToolFilter {
    /// A filter from allow and deny globs; `None` when both are empty (nothing to filter,
    /// so the bridge pays nothing).
    ///
    /// # Errors
    ///
    /// [`ToolFilterError::Glob`] for a glob that does not parse.
    pub fn new<A, D>(allow: A, deny: D) -> Result<Option<Self>, ToolFilterError>
    where
        A: IntoIterator,
        A::Item: AsRef<str>,
        D: IntoIterator,
        D::Item: AsRef<str>,
    {
        let (allow, allowed) = glob_set(allow)?;
        let (deny, denied) = glob_set(deny)?;
        if allowed == 0 && denied == 0 {
            return Ok(None);
        }
        Ok(Some(Self {
            allow: (allowed > 0).then_some(allow),
            deny,
        }))
    }

    /// Whether the host may see and call the tool `name`.
    #[must_use]
    pub fn shows(&self, name: &str) -> bool {
        self.allow.as_ref().is_none_or(|allow| allow.is_match(name)) && !self.deny.is_match(name)
    }

    /// The bridge's answer to a `tools/call` of a hidden tool: `-32602`, naming the tool.
    pub(crate) fn hidden_call_answer(id: &str, name: &str) -> Bytes {
        let message = format!("Unknown tool: {name} (hidden by the bridge's tool filter)");
        error_response(Some(id), -32602, &message, None)
    }

    /// `answer` (a response, or a batch answer) with the hidden tools removed from the
    /// results of the responses whose ids `lists_tools` accepts. `None` when nothing is
    /// removed: the line is then forwarded untouched.
    pub(crate) fn filter_answer(
        &self,
        answer: &[u8],
        lists_tools: impl Fn(&IdKey) -> bool,
    ) -> Option<Bytes> {
        if answer.first() == Some(&b'[') {
            let elements: Vec<&RawValue> = serde_json::from_slice(answer).ok()?;
            let mut changed = false;
            let mut out: Vec<Cow<'_, RawValue>> = Vec::with_capacity(elements.len());
            for element in elements {
                match self.filter_response(element.get().as_bytes(), &lists_tools) {
                    Some(filtered) => {
                        changed = true;
                        out.push(Cow::Owned(
                            RawValue::from_string(String::from_utf8(filtered.to_vec()).ok()?)
                                .ok()?,
                        ));
                    }
                    None => out.push(Cow::Borrowed(element)),
                }
            }
            return changed
                .then(|| serde_json::to_vec(&out).ok().map(Bytes::from))
                .flatten();
        }
        self.filter_response(answer, &lists_tools)
    }

    /// One response object, filtered if it answers a `tools/list` and lists a hidden tool.
    fn filter_response(
        &self,
        response: &[u8],
        lists_tools: &impl Fn(&IdKey) -> bool,
    ) -> Option<Bytes> {
        let mut members: Members<'_> = serde_json::from_slice(response).ok()?;
        let id = members.get("id")?;
        if !lists_tools(&IdKey::new(id.get())) {
            return None;
        }
        let result = members.get_mut("result")?;
        let mut result_members: Members<'_> = serde_json::from_str(result.get()).ok()?;
        let tools = result_members.get_mut("tools")?;
        let listed: Vec<&RawValue> = serde_json::from_str(tools.get()).ok()?;
        let shown: Vec<&RawValue> = listed
            .iter()
            .copied()
            .filter(|tool| self.shows(&tool_name(tool)))
            .collect();
        if shown.len() == listed.len() {
            return None;
        }
        *tools = Cow::Owned(serde_json::value::to_raw_value(&shown).ok()?);
        *result = Cow::Owned(serde_json::value::to_raw_value(&result_members).ok()?);
        serde_json::to_vec(&members).ok().map(Bytes::from)
    }
}

/// Compiles `globs`; returns the set and how many globs it holds.
fn glob_set<I>(globs: I) -> Result<(GlobSet, usize), ToolFilterError>
where
    I: IntoIterator,
    I::Item: AsRef<str>,
{
    let mut builder = GlobSetBuilder::new();
    let mut count = 0;
    for glob in globs {
        let glob = glob.as_ref().trim();
        if glob.is_empty() {
            continue;
        }
        builder.add(Glob::new(glob).map_err(|source| ToolFilterError::Glob {
            glob: glob.to_owned(),
            source,
        })?);
        count += 1;
    }
    let set = builder.build().map_err(|source| ToolFilterError::Glob {
        glob: String::new(),
        source,
    })?;
    Ok((set, count))
}

/// A tool's `name`; a tool without a string name is matched as the empty name (an allow
/// list hides it, a deny list alone shows it, as the server would list it).
fn tool_name(tool: &RawValue) -> Cow<'_, str> {
    #[derive(Deserialize)]
    struct Tool<'a> {
        #[serde(borrow)]
        name: Option<Cow<'a, str>>,
    }
    serde_json::from_str::<Tool<'_>>(tool.get())
        .ok()
        .and_then(|tool| tool.name)
        .unwrap_or_default()
}

/// A JSON object's members in their order, each value kept as its raw text.
struct Members<'a>(Vec<(Cow<'a, str>, Cow<'a, RawValue>)>);

impl<'a> Members<'a> {
    fn get(&self, key: &str) -> Option<&RawValue> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_ref())
    }

    fn get_mut(&mut self, key: &str) -> Option<&mut Cow<'a, RawValue>> {
        self.0.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Members<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct MembersVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for MembersVisitor<'a> {
            type Value = Members<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut members = Vec::new();
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    let value: &'de RawValue = map.next_value()?;
                    members.push((key, Cow::Borrowed(value)));
                }
                Ok(Members(members))
            }
        }
        d.deserialize_map(MembersVisitor(std::marker::PhantomData))
    }
}

impl Serialize for Members<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(allow: &[&str], deny: &[&str]) -> ToolFilter {
        ToolFilter::new(allow, deny)
            .expect("valid globs")
            .expect("a filter")
    }

    #[test]
    fn no_globs_means_no_filter() {
        let none: [&str; 0] = [];
        assert!(ToolFilter::new(none, none).expect("valid").is_none());
        assert!(ToolFilter::new([" "], none).expect("valid").is_none());
    }

    #[test]
    fn shown_when_allowed_and_not_denied() {
        let f = filter(&["read_*", "echo"], &["*_secret"]);
        assert!(f.shows("echo"));
        assert!(f.shows("read_file"));
        assert!(!f.shows("read_secret"));
        assert!(!f.shows("write_file"));
        let deny_only = filter(&[], &["write_*"]);
        assert!(deny_only.shows("read_file"));
        assert!(!deny_only.shows("write_file"));
    }

    #[test]
    fn invalid_glob_is_named() {
        let none: [&str; 0] = [];
        let e = ToolFilter::new(["a[b"], none).expect_err("unclosed class");
        assert!(e.to_string().contains("a[b"), "{e}");
    }

    #[test]
    fn filter_answer_keeps_other_members_raw_and_in_order() {
        let f = filter(&[], &["b"]);
        let answer = br#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"a","x":1.50},{"name":"b"}],"nextCursor":"c2"}}"#;
        let out = f.filter_answer(answer, |_| true).expect("changed");
        assert_eq!(
            std::str::from_utf8(&out).expect("utf-8"),
            r#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"a","x":1.50}],"nextCursor":"c2"}}"#
        );
    }

    #[test]
    fn filter_answer_leaves_unchanged_and_unrelated_answers_alone() {
        let f = filter(&[], &["b"]);
        let all_shown = br#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"a"}]}}"#;
        assert!(f.filter_answer(all_shown, |_| true).is_none());
        let other = br#"{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"b"}]}}"#;
        assert!(f.filter_answer(other, |id| id.as_str() == "1").is_none());
        let error = br#"{"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"m"}}"#;
        assert!(f.filter_answer(error, |_| true).is_none());
    }

    #[test]
    fn filter_answer_filters_the_tools_list_responses_of_a_batch() {
        let f = filter(&["a"], &[]);
        let answer = br#"[{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"a"},{"name":"b"}]}},{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"b"}]}}]"#;
        let out = f
            .filter_answer(answer, |id| id.as_str() == "1")
            .expect("changed");
        assert_eq!(
            std::str::from_utf8(&out).expect("utf-8"),
            r#"[{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"a"}]}},{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"b"}]}}]"#
        );
    }
}
