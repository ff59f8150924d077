//! `WWW-Authenticate` challenges (RFC 9110 §11.6.1), and the Bearer one's parameters that
//! start a sign-in (RFC 6750 §3, RFC 9728 §5.1).
//!
//! The grammar is ambiguous at commas (`Basic realm="a", Bearer scope="b"`: is `Bearer` a new
//! scheme or a parameter?): a name followed by `=` is a parameter, anything else starts a new
//! challenge. Parsing is lenient: what does not fit is skipped, never an error, so one odd
//! challenge from a proxy cannot hide the Bearer one after it.

use reqwest::header::{HeaderMap, WWW_AUTHENTICATE};

/// One challenge: a scheme and its parameters (names lower-case, values unquoted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The scheme, lower-case (`bearer`, `basic`, ...).
    pub scheme: String,
    /// `name=value` parameters in order; names lower-case.
    pub params: Vec<(String, String)>,
    /// A token68 given instead of parameters (rare for Bearer).
    pub token68: Option<String>,
}

impl Challenge {
    /// The value of parameter `name` (lower-case), if given.
    #[must_use]
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What a `Bearer` challenge says about signing in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BearerChallenge {
    /// The Protected Resource Metadata URL (RFC 9728 §5.1).
    pub resource_metadata: Option<String>,
    /// The scopes the resource wants, space-separated.
    pub scope: Option<String>,
    /// `invalid_token`, `insufficient_scope`, ...
    pub error: Option<String>,
    /// A human-readable text for `error`.
    pub error_description: Option<String>,
}

/// Every challenge of every `WWW-Authenticate` header of `headers`, in order.
#[must_use]
pub fn challenges(headers: &HeaderMap) -> Vec<Challenge> {
    headers
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(parse)
        .collect()
}

/// The first `Bearer` challenge of `headers`, if any.
#[must_use]
pub fn bearer(headers: &HeaderMap) -> Option<BearerChallenge> {
    let challenge = challenges(headers)
        .into_iter()
        .find(|c| c.scheme == "bearer")?;
    let get = |name: &str| challenge.param(name).map(str::to_owned);
    Some(BearerChallenge {
        resource_metadata: get("resource_metadata"),
        scope: get("scope"),
        error: get("error"),
        error_description: get("error_description"),
    })
}

/// Parses one header value into its challenges.
#[must_use]
pub fn parse(value: &str) -> Vec<Challenge> {
    let mut cursor = Cursor {
        rest: value.as_bytes(),
        text: value,
        at: 0,
    };
    let mut out: Vec<Challenge> = Vec::new();
    loop {
        cursor.skip_separators();
        if cursor.is_empty() {
            return out;
        }
        let Some(scheme) = cursor.token() else {
            // Not a challenge: skip to the next comma and try again.
            cursor.skip_past_comma();
            continue;
        };
        let mut challenge = Challenge {
            scheme: scheme.to_ascii_lowercase(),
            params: Vec::new(),
            token68: None,
        };
        cursor.skip_spaces();
        if let Some(token68) = cursor.token68() {
            challenge.token68 = Some(token68.to_owned());
        } else {
            // Parameters, separated by commas, until a name without `=` (the next scheme).
            loop {
                cursor.skip_separators();
                let mark = cursor.at;
                let Some(name) = cursor.token() else { break };
                cursor.skip_spaces();
                if !cursor.eat(b'=') {
                    cursor.rewind(mark);
                    break;
                }
                cursor.skip_spaces();
                let value = if cursor.peek() == Some(b'"') {
                    cursor.quoted()
                } else {
                    cursor.token().map(str::to_owned)
                };
                match value {
                    Some(value) => challenge.params.push((name.to_ascii_lowercase(), value)),
                    None => cursor.skip_past_comma(),
                }
            }
        }
        out.push(challenge);
    }
}

/// A position in the header value; every method stops at the end without panicking.
struct Cursor<'a> {
    rest: &'a [u8],
    text: &'a str,
    at: usize,
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

impl<'a> Cursor<'a> {
    fn is_empty(&self) -> bool {
        self.at >= self.rest.len()
    }

    fn peek(&self) -> Option<u8> {
        self.rest.get(self.at).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn rewind(&mut self, to: usize) {
        self.at = to;
    }

    fn skip_spaces(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.at += 1;
        }
    }

    fn skip_separators(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
            self.at += 1;
        }
    }

    fn skip_past_comma(&mut self) {
        while let Some(b) = self.peek() {
            self.at += 1;
            if b == b',' {
                return;
            }
        }
    }

    fn token(&mut self) -> Option<&'a str> {
        let start = self.at;
        while self.peek().is_some_and(is_tchar) {
            self.at += 1;
        }
        // tchars are ASCII, so both ends are character boundaries.
        (self.at > start).then(|| &self.text[start..self.at])
    }

    /// `token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`, only when
    /// it is the whole rest of this challenge (followed by the end or a comma); else
    /// nothing is consumed.
    fn token68(&mut self) -> Option<&'a str> {
        let start = self.at;
        while self
            .peek()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
        {
            self.at += 1;
        }
        if self.at == start {
            return None;
        }
        while self.eat(b'=') {}
        let end = self.at;
        self.skip_spaces();
        if self.is_empty() || self.peek() == Some(b',') {
            // `name=value` would have stopped at `=` and gone on: a lone token with `=`s
            // only at its end is a token68.
            let candidate = &self.text[start..end];
            let all_tchar_then_eq = !candidate.contains('=') || candidate.ends_with('=');
            if all_tchar_then_eq {
                return Some(candidate);
            }
        }
        self.rewind(start);
        None
    }

    /// A quoted-string, unescaped; `None` when it does not end.
    fn quoted(&mut self) -> Option<String> {
        let start = self.at;
        if !self.eat(b'"') {
            return None;
        }
        let mut value = String::new();
        let mut run = self.at;
        while let Some(b) = self.peek() {
            match b {
                b'"' => {
                    value.push_str(&self.text[run..self.at]);
                    self.at += 1;
                    return Some(value);
                }
                b'\\' => {
                    value.push_str(&self.text[run..self.at]);
                    self.at += 1;
                    // The escaped character, whole (it may be more than one byte).
                    let escaped = self.text[self.at..].chars().next()?;
                    value.push(escaped);
                    self.at += escaped.len_utf8();
                    run = self.at;
                }
                _ => self.at += 1,
            }
        }
        self.rewind(start);
        self.at = self.rest.len();
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(value: &str) -> Challenge {
        let mut all = parse(value);
        assert_eq!(all.len(), 1, "{value}: {all:?}");
        all.remove(0)
    }

    #[test]
    fn bearer_with_resource_metadata_as_rfc_9728_shows_it() {
        let c = one(
            r#"Bearer resource_metadata="https://resource.example.com/.well-known/oauth-protected-resource""#,
        );
        assert_eq!(c.scheme, "bearer");
        assert_eq!(
            c.param("resource_metadata"),
            Some("https://resource.example.com/.well-known/oauth-protected-resource")
        );
    }

    #[test]
    fn rfc_6750_error_example() {
        let c = one(
            r#"Bearer realm="example", error="invalid_token", error_description="The access token expired""#,
        );
        assert_eq!(c.param("realm"), Some("example"));
        assert_eq!(c.param("error"), Some("invalid_token"));
        assert_eq!(
            c.param("error_description"),
            Some("The access token expired")
        );
    }

    #[test]
    fn several_challenges_in_one_value_and_commas_inside_quotes() {
        let all = parse(
            r#"Basic realm="a, b", Bearer scope="files:read files:write", error=insufficient_scope, Newauth"#,
        );
        let schemes: Vec<&str> = all.iter().map(|c| c.scheme.as_str()).collect();
        assert_eq!(schemes, ["basic", "bearer", "newauth"]);
        assert_eq!(all[0].param("realm"), Some("a, b"));
        assert_eq!(all[1].param("scope"), Some("files:read files:write"));
        assert_eq!(all[1].param("error"), Some("insufficient_scope"));
    }

    #[test]
    fn names_are_case_insensitive_and_escapes_are_undone() {
        let c = one(r#"BEARER Scope = "a\"b\\c", ERROR="x""#);
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.param("scope"), Some(r#"a"b\c"#));
        assert_eq!(c.param("error"), Some("x"));
    }

    #[test]
    fn token68_form() {
        let c = one("Negotiate YIIBhwYGKwYBBQUCoIIBezCCAXeg==");
        assert_eq!(c.token68.as_deref(), Some("YIIBhwYGKwYBBQUCoIIBezCCAXeg=="));
        assert!(c.params.is_empty());
    }

    #[test]
    fn bearer_is_found_among_several_headers() {
        let mut headers = HeaderMap::new();
        headers.append(
            WWW_AUTHENTICATE,
            "Basic realm=\"x\"".parse().expect("a header value"),
        );
        headers.append(
            WWW_AUTHENTICATE,
            "Bearer error=\"invalid_token\", resource_metadata=\"https://r/m\""
                .parse()
                .expect("a header value"),
        );
        let bearer = bearer(&headers).expect("a Bearer challenge");
        assert_eq!(bearer.error.as_deref(), Some("invalid_token"));
        assert_eq!(bearer.resource_metadata.as_deref(), Some("https://r/m"));
        assert_eq!(bearer.scope, None);
    }

    #[test]
    fn garbage_is_skipped_not_fatal() {
        for value in [
            "",
            ",,,",
            "=",
            "\"unterminated",
            "Bearer scope=\"unterminated",
            "Bearer =x, Basic realm=a",
            "Bearer a=\"\\",
            "Bearer a=\"\\é\"",
        ] {
            let _ = parse(value);
        }
        let after = parse("@@@, Bearer error=x");
        assert_eq!(after.last().map(|c| c.scheme.as_str()), Some("bearer"));
    }

    proptest::proptest! {
        /// Any text parses without panicking.
        #[test]
        fn never_panics(value in ".{0,200}") {
            let _ = parse(&value);
        }

        /// Challenges written out are read back as they were.
        #[test]
        fn round_trips(
            schemes in proptest::collection::vec("[A-Za-z][A-Za-z0-9_-]{0,8}", 1..4),
            params in proptest::collection::vec(
                ("[a-z][a-z0-9_]{0,8}", "[ -~]{0,12}"), 0..4),
        ) {
            let mut text = String::new();
            for scheme in &schemes {
                if !text.is_empty() {
                    text.push_str(", ");
                }
                text.push_str(scheme);
                for (i, (name, value)) in params.iter().enumerate() {
                    text.push_str(if i == 0 { " " } else { ", " });
                    let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
                    text.push_str(&format!("{name}=\"{escaped}\""));
                }
            }
            let parsed = parse(&text);
            proptest::prop_assert_eq!(parsed.len(), schemes.len(), "{}", text);
            for (challenge, scheme) in parsed.iter().zip(&schemes) {
                proptest::prop_assert_eq!(&challenge.scheme, &scheme.to_ascii_lowercase());
                let expected: Vec<(String, String)> = params.clone();
                proptest::prop_assert_eq!(&challenge.params, &expected, "{}", text);
            }
        }
    }
}
