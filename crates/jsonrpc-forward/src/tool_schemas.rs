//! The tool schema cache of a bridge to a 2026-era server (§1.9, §4.0, §4.2.5).
//!
//! A 2026-era `tools/call` must carry one `Mcp-Param-{token}` header per argument that the
//! tool's `inputSchema` annotates with `"x-mcp-header": "{token}"`, or the server rejects it
//! (`400 -32020`) before it runs. The annotations are in the `tools/list` answers, which the
//! bridge passes on anyway, so it reads each one as it goes by and keeps the headers of each
//! tool by name. An HTTP client "MUST reject" a tool whose annotations are invalid: such a
//! tool is removed from the answer the host sees, with a warning naming the tool and the
//! reason (never an argument value: a schema has none).

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use bytes::Bytes;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::json_object::{JsonObject, replace_at};
use crate::modern_headers::{AnnotationError, ParamHeader, param_headers};

/// The `Mcp-Param-*` headers of each listed tool, by tool name. Shared between the tasks of
/// one bridge (put it in an [`Arc`]); the lock is held only to read or write the map, never
/// across IO.
#[derive(Debug, Default)]
pub(crate) struct ToolSchemas {
    by_name: RwLock<HashMap<String, Arc<[ParamHeader]>>>,
}

/// What one listed tool turned out to be.
enum Listed {
    /// Valid: its headers (none when it has no annotations or no schema).
    Valid(String, Vec<ParamHeader>),
    /// Its annotations are invalid: it is removed from the answer.
    Invalid(String, AnnotationError),
    /// Not a tool object with a string name: passed on as it is, not cached.
    Unreadable,
}

impl ToolSchemas {
    /// Reads `answer_line`, the answer to a `tools/list` request: records the `Mcp-Param-*`
    /// headers of each tool in `result.tools` under its name (replacing what an earlier page
    /// or list said of that name), and removes the tools whose `x-mcp-header` annotations
    /// are invalid ([`param_headers`] fails: a non-token, a repeated token, an annotation on
    /// a `number` or outside `properties`...), forgetting anything recorded for them.
    ///
    /// Returns the answer without those tools, when there were any; everything else of it is
    /// kept byte for byte. `None` means: pass the answer on as it is (nothing removed, or not
    /// a `tools/list` result at all, such as an error answer).
    pub(crate) fn record_list(&self, answer_line: &[u8]) -> Option<Bytes> {
        let text = std::str::from_utf8(answer_line).ok()?;
        let answer = JsonObject::parse(text).ok()??;
        let (result_at, result) = answer.last("result")?;
        let result = JsonObject::parse(result.value.get()).ok()??;
        let (tools_at, tools) = result.last("tools")?;
        let tools: Vec<&RawValue> = serde_json::from_str(tools.value.get()).ok()?;
        let listed: Vec<Listed> = tools.iter().map(|tool| read_tool(tool)).collect();

        let mut dropped = false;
        {
            let mut by_name = self.by_name.write().unwrap_or_else(PoisonError::into_inner);
            for tool in &listed {
                match tool {
                    Listed::Valid(name, headers) => {
                        by_name.insert(name.clone(), Arc::from(headers.as_slice()));
                    }
                    Listed::Invalid(name, _) => {
                        by_name.remove(name);
                        dropped = true;
                    }
                    Listed::Unreadable => {}
                }
            }
        }
        if !dropped {
            return None;
        }
        let mut kept = Vec::with_capacity(tools.len());
        for (tool, listed) in tools.iter().zip(&listed) {
            if let Listed::Invalid(name, reason) = listed {
                tracing::warn!(
                    tool = ?name,
                    %reason,
                    "tools/list: dropping a tool with an invalid x-mcp-header annotation (§1.9)"
                );
            } else {
                kept.push(tool.get());
            }
        }
        let mut tools = Some(format!("[{}]", kept.join(",")));
        let mut result =
            Some(result.rebuild(None, |i, _| replace_at(i, tools_at, &mut tools), &[]));
        let answer = answer.rebuild(None, |i, _| replace_at(i, result_at, &mut result), &[]);
        Some(Bytes::from(answer))
    }

    /// The `Mcp-Param-*` headers of `tool`'s calls; `None` when no `tools/list` answer has
    /// named it (or the last one that did removed it as invalid), so the bridge cannot know
    /// whether the call needs any (§4.2.5: re-list once on `-32020`).
    pub(crate) fn params_for(&self, tool: &str) -> Option<Arc<[ParamHeader]>> {
        self.by_name
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(tool)
            .cloned()
    }

    /// Whether a `tools/list` answer has named `tool` (as a valid tool).
    pub(crate) fn is_known(&self, tool: &str) -> bool {
        self.by_name
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(tool)
    }
}

/// One tool of a `tools/list` result, judged by its `inputSchema` annotations. A repeated
/// key counts with its last value, as a parsed tree reads it.
fn read_tool(tool: &RawValue) -> Listed {
    let Ok(Some(object)) = JsonObject::parse(tool.get()) else {
        return Listed::Unreadable;
    };
    let Some(Ok(name)) = object
        .get("name")
        .map(|name| serde_json::from_str::<String>(name.get()))
    else {
        return Listed::Unreadable;
    };
    let schema = match object.get("inputSchema") {
        Some(schema) => match serde_json::from_str::<Value>(schema.get()) {
            Ok(schema) => schema,
            // Valid JSON that `Value` cannot hold (a number out of range): no annotation can
            // be read from it.
            Err(_) => return Listed::Unreadable,
        },
        None => Value::Null,
    };
    match param_headers(&schema) {
        Ok(headers) => Listed::Valid(name, headers),
        Err(error) => Listed::Invalid(name, error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    use crate::json_object::testing::{common_prefix, common_suffix};

    fn headers(schemas: &ToolSchemas, tool: &str) -> Option<Vec<String>> {
        schemas
            .params_for(tool)
            .map(|h| h.iter().map(|h| h.name().as_str().to_owned()).collect())
    }

    const REGIONAL: &str = r#"{"name":"regional","inputSchema":{"type":"object","properties":{"region":{"type":"string","x-mcp-header":"Region"},"n":{"type":"integer"}}}}"#;
    const ECHO: &str = r#"{"name":"echo","description":"e","inputSchema":{"type":"object","properties":{"text":{"type":"string"}}}}"#;
    const NO_SCHEMA: &str = r#"{"name":"bare"}"#;
    /// Invalid annotations, one per reason.
    const INVALID: [&str; 4] = [
        r#"{"name":"num","inputSchema":{"properties":{"x":{"type":"number","x-mcp-header":"X"}}}}"#,
        r#"{"name":"dup","inputSchema":{"properties":{"a":{"type":"string","x-mcp-header":"Same"},"b":{"type":"string","x-mcp-header":"same"}}}}"#,
        r#"{"name":"space","inputSchema":{"properties":{"a":{"type":"string","x-mcp-header":"A B"}}}}"#,
        r#"{"name":"items","inputSchema":{"properties":{"a":{"type":"array","items":{"type":"string","x-mcp-header":"I"}}}}}"#,
    ];

    fn list(tools: &[&str]) -> String {
        format!(
            r#"{{"jsonrpc":"2.0","id":3,"result":{{"tools":[{}],"nextCursor":"c"}}}}"#,
            tools.join(",")
        )
    }

    #[test]
    fn valid_lists_are_recorded_and_passed_on_as_they_are() {
        let schemas = ToolSchemas::default();
        assert!(!schemas.is_known("regional"));
        assert!(
            schemas
                .record_list(list(&[REGIONAL, ECHO, NO_SCHEMA]).as_bytes())
                .is_none()
        );
        assert_eq!(
            headers(&schemas, "regional"),
            Some(vec!["mcp-param-region".to_owned()])
        );
        assert_eq!(headers(&schemas, "echo"), Some(vec![]));
        assert_eq!(headers(&schemas, "bare"), Some(vec![]));
        assert!(schemas.is_known("echo"));
        assert!(!schemas.is_known("other"));
        assert_eq!(headers(&schemas, "other"), None);
    }

    #[test]
    fn invalid_tools_are_dropped_and_the_rest_kept_byte_exact() {
        let schemas = ToolSchemas::default();
        for invalid in INVALID {
            let answer = format!(
                r#"{{"jsonrpc":"2.0", "id":3,"result":{{"tools":[ {ECHO}, {invalid} ,{REGIONAL}],"nextCursor":"c" }} }}"#
            );
            let out = schemas.record_list(answer.as_bytes()).expect("dropped");
            assert_eq!(
                std::str::from_utf8(&out).expect("UTF-8"),
                format!(
                    r#"{{"jsonrpc":"2.0", "id":3,"result":{{"tools":[{ECHO},{REGIONAL}],"nextCursor":"c" }} }}"#
                ),
                "{invalid}"
            );
            let name: Value = serde_json::from_str(invalid).expect("JSON");
            let name = name["name"].as_str().expect("name");
            assert!(!schemas.is_known(name), "{name}");
        }
        let all = schemas
            .record_list(list(&INVALID).as_bytes())
            .expect("dropped");
        assert_eq!(all, list(&[]).as_bytes());
    }

    #[test]
    fn a_later_list_replaces_what_an_earlier_one_said() {
        let schemas = ToolSchemas::default();
        schemas.record_list(list(&[REGIONAL]).as_bytes());
        let plain = r#"{"name":"regional","inputSchema":{"type":"object"}}"#;
        schemas.record_list(list(&[plain]).as_bytes());
        assert_eq!(headers(&schemas, "regional"), Some(vec![]));
        // Now listed with an invalid annotation: forgotten, and hidden from the host.
        let invalid = r#"{"name":"regional","inputSchema":{"properties":{"r":{"type":"number","x-mcp-header":"R"}}}}"#;
        assert!(schemas.record_list(list(&[invalid]).as_bytes()).is_some());
        assert!(!schemas.is_known("regional"));
    }

    #[test]
    fn other_answers_are_left_alone() {
        let schemas = ToolSchemas::default();
        for line in [
            r#"{"jsonrpc":"2.0","id":3,"error":{"code":-32601,"message":"x"}}"#,
            r#"{"jsonrpc":"2.0","id":3,"result":{"prompts":[]}}"#,
            r#"{"jsonrpc":"2.0","id":3,"result":{"tools":{}}}"#,
            r#"[{"jsonrpc":"2.0","id":3,"result":{"tools":[]}}]"#,
            "not json",
        ] {
            assert!(schemas.record_list(line.as_bytes()).is_none(), "{line}");
        }
        // Tools that are not objects with a string name pass untouched and uncached.
        let odd = list(&["1", r#"{"name":2}"#, r#"{"inputSchema":{}}"#]);
        assert!(schemas.record_list(odd.as_bytes()).is_none());
        assert!(schemas.by_name.read().expect("lock").is_empty());
    }

    #[test]
    fn the_cache_is_shared_across_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<ToolSchemas>();
        let schemas = Arc::new(ToolSchemas::default());
        let writer = Arc::clone(&schemas);
        std::thread::spawn(move || writer.record_list(list(&[REGIONAL]).as_bytes()))
            .join()
            .expect("thread");
        assert!(schemas.is_known("regional"));
    }

    proptest! {
        // Whatever mix and order of valid and invalid tools, the answer the host sees lists
        // exactly the valid ones, and every byte before the first dropped tool and after the
        // last one is kept.
        #[test]
        fn only_invalid_tools_are_dropped(
            picks in proptest::collection::vec(0usize..7, 0..8),
            spaces in proptest::collection::vec(prop_oneof![Just(""), Just(" "), Just("\n\t")], 8),
        ) {
            let pool = [REGIONAL, ECHO, NO_SCHEMA, INVALID[0], INVALID[1], INVALID[2], INVALID[3]];
            let tools: Vec<String> = picks
                .iter()
                .zip(spaces.iter().cycle())
                .map(|(&p, space)| format!("{space}{}{space}", pool[p]))
                .collect();
            let line = list(&tools.iter().map(String::as_str).collect::<Vec<_>>());
            let schemas = ToolSchemas::default();
            let out = schemas.record_list(line.as_bytes());
            let valid: Vec<Value> = picks
                .iter()
                .filter(|&&p| p < 3)
                .map(|&p| serde_json::from_str(pool[p]).expect("JSON"))
                .collect();
            prop_assert_eq!(out.is_some(), valid.len() < picks.len());
            let out = out.unwrap_or_else(|| Bytes::from(line.clone()));
            let got: Value = serde_json::from_slice(&out).expect("JSON");
            prop_assert_eq!(&got["result"]["tools"], &Value::Array(valid));
            prop_assert_eq!(&got["result"]["nextCursor"], "c");
            let kept = common_prefix(line.as_bytes(), &out) + common_suffix(line.as_bytes(), &out);
            let tools_text: usize = tools.iter().map(|t| t.len() + 1).sum();
            prop_assert!(line.len().saturating_sub(kept) <= tools_text);
        }
    }
}
