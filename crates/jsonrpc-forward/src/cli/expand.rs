//! `${NAME}` in `--auth`, `--header` values and header files, expanded from the environment.
//!
//! Why: a token on the command line shows in `ps` and in the host's config file, and
//! Windows hosts split arguments at spaces, so `mcp-remote` users already write
//! `--header "Authorization:${AUTH_HEADER}"` and keep the value in the environment.
//!
//! The rules, the same everywhere:
//! - `${NAME}`, NAME matching `[A-Za-z_][A-Za-z0-9_]*`, is the variable's value, inserted as
//!   it is (never expanded again).
//! - `$${` is a literal `${` (so is the rest of what follows it: `$${X}` gives `${X}`).
//! - A `$` not followed by `{` is itself (`$5`, `$HOME`): only the braced form expands.
//! - A `${` that is not a well-formed `${NAME}` is an error, not text sent as is: it is
//!   almost always a typo (`${AUTH-HEADER}`, a missing `}`) that would become a puzzling 401.
//!
//! Errors name the variable, never its value nor the text around it (that text may be a
//! token).

use std::borrow::Cow;
use std::env::VarError;

/// Why a `${NAME}` could not be expanded. Shows the variable's name, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExpandError {
    /// The variable is not set.
    #[error("environment variable {0} is not set")]
    Missing(String),
    /// The variable's value is not valid Unicode (a header value must be text).
    #[error("environment variable {0} is not valid Unicode")]
    NotUnicode(String),
    /// A `${` that does not start a `${NAME}`.
    #[error("malformed ${{...}}: write ${{NAME}} (letters, digits, _), or $${{ for a literal ${{")]
    Malformed,
}

/// `text` with every `${NAME}` replaced by `lookup(NAME)` (see the module docs for the
/// rules). Borrows `text` when it has no `$`: the common case allocates nothing.
///
/// # Errors
///
/// [`ExpandError`] for the first reference that cannot be expanded.
pub fn expand_with(
    text: &str,
    lookup: impl Fn(&str) -> Result<String, VarError>,
) -> Result<Cow<'_, str>, ExpandError> {
    if !text.contains('$') {
        return Ok(Cow::Borrowed(text));
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some(after) = tail.strip_prefix("${") {
            let end = after.find('}').ok_or(ExpandError::Malformed)?;
            let name = &after[..end];
            if !is_name(name) {
                return Err(ExpandError::Malformed);
            }
            match lookup(name) {
                Ok(value) => out.push_str(&value),
                Err(VarError::NotPresent) => return Err(ExpandError::Missing(name.to_owned())),
                Err(VarError::NotUnicode(_)) => {
                    return Err(ExpandError::NotUnicode(name.to_owned()));
                }
            }
            rest = &after[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(Cow::Owned(out))
}

/// [`expand_with`] from this process's environment.
///
/// # Errors
///
/// As [`expand_with`].
pub fn expand_env(text: &str) -> Result<Cow<'_, str>, ExpandError> {
    expand_with(text, |name| std::env::var(name))
}

/// `text` written so that expanding it gives `text` back: every `${` becomes `$${`. For
/// callers that hold a literal value (a Python `headers=` dict, say) and pass it where
/// expansion applies.
#[must_use]
pub fn escape(text: &str) -> String {
    text.replace("${", "$${")
}

/// `[A-Za-z_][A-Za-z0-9_]*`: the names a POSIX shell and Windows both accept.
fn is_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn vars(name: &str) -> Result<String, VarError> {
        match name {
            "A" => Ok("alpha".to_owned()),
            "B_2" => Ok("beta".to_owned()),
            "EMPTY" => Ok(String::new()),
            "NESTED" => Ok("${A}".to_owned()),
            _ => Err(VarError::NotPresent),
        }
    }

    fn expand(text: &str) -> Result<String, ExpandError> {
        expand_with(text, vars).map(Cow::into_owned)
    }

    #[test]
    fn expand_replaces_braced_names() {
        let table = [
            ("${A}", "alpha"),
            ("Bearer ${A}", "Bearer alpha"),
            ("${A}${B_2}", "alphabeta"),
            ("${A}-${B_2}!", "alpha-beta!"),
            ("x${EMPTY}y", "xy"),
            ("no dollar", "no dollar"),
            ("", ""),
            ("h\u{e9}${A}\u{e9}", "h\u{e9}alpha\u{e9}"),
        ];
        for (text, expected) in table {
            assert_eq!(expand(text).as_deref(), Ok(expected), "{text}");
        }
    }

    #[test]
    fn expand_keeps_lone_dollars_and_unescapes_double_dollar_brace() {
        let table = [
            ("$", "$"),
            ("$5", "$5"),
            ("$HOME", "$HOME"),
            ("a$$b", "a$$b"),
            ("$$", "$$"),
            ("$${A}", "${A}"),
            ("$${", "${"),
            ("$${not a name", "${not a name"),
            ("$$${A}", "$${A}"),
            ("$$$${A}", "$$${A}"),
            ("x$${A}${A}", "x${A}alpha"),
            ("$}", "$}"),
        ];
        for (text, expected) in table {
            assert_eq!(expand(text).as_deref(), Ok(expected), "{text}");
        }
    }

    #[test]
    fn expand_inserts_values_without_expanding_them_again() {
        assert_eq!(expand("${NESTED}").as_deref(), Ok("${A}"));
    }

    #[test]
    fn expand_names_a_missing_variable() {
        assert_eq!(
            expand("Bearer ${NOPE}"),
            Err(ExpandError::Missing("NOPE".to_owned()))
        );
        let message = ExpandError::Missing("NOPE".to_owned()).to_string();
        assert!(message.contains("NOPE"), "{message}");
    }

    #[test]
    fn expand_rejects_malformed_references() {
        for text in [
            "${",
            "${A",
            "${}",
            "${1A}",
            "${A-B}",
            "${ A}",
            "${A }",
            "${a.b}",
            "${\u{e9}}",
            "ok ${A} then ${",
        ] {
            assert_eq!(expand(text), Err(ExpandError::Malformed), "{text}");
        }
    }

    #[test]
    fn expand_borrows_text_without_a_dollar() {
        assert!(matches!(
            expand_with("Bearer abc", vars),
            Ok(Cow::Borrowed(_))
        ));
    }

    #[test]
    fn expand_reports_a_value_that_is_not_unicode() {
        let lookup = |_: &str| Err(VarError::NotUnicode(std::ffi::OsString::new()));
        assert_eq!(
            expand_with("${X}", lookup).map(Cow::into_owned),
            Err(ExpandError::NotUnicode("X".to_owned()))
        );
    }

    proptest! {
        /// Escaping any text and expanding it gives the text back, whatever `$`, `{` and
        /// `}` it holds, and never reads a variable.
        #[test]
        fn expand_of_escape_is_identity(text in "[$\\{\\}a-zA-Z_0-9 \u{e9}]{0,40}") {
            let escaped = escape(&text);
            let expanded = expand_with(&escaped, |name| panic!("looked up {name}"));
            prop_assert_eq!(expanded.as_deref(), Ok(text.as_str()));
        }

        /// Text without `${` is left exactly as it is.
        #[test]
        fn expand_leaves_text_without_dollar_brace_alone(text in "[$\\}a-z {]{0,40}") {
            prop_assume!(!text.contains("${"));
            let expanded = expand(&text);
            prop_assert_eq!(expanded.as_deref(), Ok(text.as_str()));
        }

        /// A value is inserted verbatim, whatever it holds.
        #[test]
        fn expand_inserts_any_value_verbatim(
            value in "[$\\{\\}a-z ]{0,20}",
            before in "[a-z ]{0,5}",
            after in "[a-z ]{0,5}",
        ) {
            let text = format!("{before}${{V}}{after}");
            let expanded = expand_with(&text, |_| Ok(value.clone()));
            let expected = format!("{before}{value}{after}");
            prop_assert_eq!(expanded.as_deref(), Ok(expected.as_str()));
        }
    }
}
