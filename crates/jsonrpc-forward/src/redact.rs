//! Secrets kept out of everything printed: error messages, log lines and `Debug` output.
//!
//! A URL's userinfo is a password, and its query string often carries one too (`?token=`,
//! `?api_key=`); its fragment never goes on the wire but may hold a token as well. So a URL
//! is printed only through [`redact_url`], and every `reqwest::Error` the transport keeps
//! goes through [`redacted`] first: reqwest's error text names the URL it was about, and it
//! reaches stdout (`Connection failed: ...`) and the log. Header values are never printed,
//! only their names.

use reqwest::Url;

/// The URL without its userinfo (`user:pass@`) and fragment, its query shown as `?…`: safe
/// to print. Text that does not parse as a URL loses everything up to its last `@` and from
/// its first `?` or `#`.
///
/// ```
/// use jsonrpc_forward::redact_url;
///
/// assert_eq!(
///     redact_url("https://u:pw@h.example/mcp/?token=abc#x"),
///     "https://h.example/mcp/?…"
/// );
/// assert_eq!(redact_url("http://127.0.0.1:1/mcp/"), "http://127.0.0.1:1/mcp/");
/// ```
#[must_use]
pub fn redact_url(url: &str) -> String {
    let (mut shown, query) = match Url::parse(url) {
        Ok(mut parsed) => {
            let query = parsed.query().is_some();
            scrub(&mut parsed);
            (String::from(parsed), query)
        }
        Err(_) => {
            let (prefix, rest) = match url.rsplit_once('@') {
                Some((_, host)) => ("…@", host),
                None => ("", url),
            };
            let end = rest.find(['?', '#']).unwrap_or(rest.len());
            (
                format!("{prefix}{}", &rest[..end]),
                rest[end..].starts_with('?'),
            )
        }
    };
    if query {
        shown.push_str("?…");
    }
    shown
}

/// `error` with the URL it names stripped of userinfo, query and fragment, so that its
/// text (`error sending request for url (...)`) is safe to print. Only the error's own URL
/// can be changed; the errors reqwest nests inside one name no URL of ours.
#[must_use]
pub fn redacted(mut error: reqwest::Error) -> reqwest::Error {
    if let Some(url) = error.url_mut() {
        scrub(url);
    }
    error
}

/// A header name as it may be shown: itself if it is a valid name, else a placeholder (a
/// "name" with spaces in it may be a pasted token).
pub(crate) fn header_name_shown(name: &str) -> &str {
    let name = name.trim();
    if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_ok() {
        name
    } else {
        "<invalid name>"
    }
}

/// Drops userinfo, query and fragment. A URL that cannot have userinfo (`data:`) has none.
fn scrub(url: &mut Url) {
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.set_query(None);
    url.set_fragment(None);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_url_drops_userinfo_query_and_fragment() {
        assert_eq!(
            redact_url("https://u:secret@h.example/mcp/"),
            "https://h.example/mcp/"
        );
        assert_eq!(
            redact_url("http://127.0.0.1:1/mcp/"),
            "http://127.0.0.1:1/mcp/"
        );
        assert_eq!(
            redact_url("http://h/mcp/?token=secret/mcp/"),
            "http://h/mcp/?…"
        );
        assert_eq!(redact_url("http://h/mcp/#secret"), "http://h/mcp/");
        let unparsed = redact_url("not a url u:secret@host/x?token=secret#secret");
        assert_eq!(unparsed, "…@host/x?…");
        assert_eq!(redact_url("nota url#secret"), "nota url");
    }

    #[test]
    fn header_name_shown_hides_what_cannot_be_a_name() {
        assert_eq!(header_name_shown(" X-Api-Key "), "X-Api-Key");
        assert_eq!(header_name_shown("Bearer sk-secret"), "<invalid name>");
        assert_eq!(header_name_shown(""), "<invalid name>");
    }
}
