//! The in-memory cookie jar of one [`HttpClient`](crate::HttpClient): load balancers that
//! pin a session with a cookie get it back on every later request to the server that set
//! it. The rules (domain, path, expiry, `Secure`) are `cookie_store`'s.
//!
//! Not reqwest's `cookies` feature: its layer turns every request's URI into a string and
//! parses it into a URL again, cookies or not (about a tenth of the bridge's work per
//! request). Here a request costs one atomic load until a server has set a cookie, and a
//! response one header lookup.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use cookie_store::{CookieStore, RawCookie};
use reqwest::Url;
use reqwest::header::{HeaderMap, HeaderValue, SET_COOKIE};

/// Cookies set by servers, kept for the life of the client.
#[derive(Default)]
pub(crate) struct Cookies {
    /// Whether any cookie was ever stored: the fast path of [`Cookies::header`].
    any: AtomicBool,
    store: Mutex<CookieStore>,
}

impl std::fmt::Debug for Cookies {
    /// Never the values: a session cookie is a credential.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cookies")
            .field("any", &self.any.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Cookies {
    /// The `Cookie` header for a request to `url`, if a cookie applies.
    pub(crate) fn header(&self, url: &Url) -> Option<HeaderValue> {
        if !self.any.load(Ordering::Acquire) {
            return None;
        }
        let store = self
            .store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let pairs: Vec<String> = store
            .get_request_values(url)
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        if pairs.is_empty() {
            return None;
        }
        let mut value = HeaderValue::from_str(&pairs.join("; ")).ok()?;
        value.set_sensitive(true);
        Some(value)
    }

    /// Keeps the cookies a response from `url` sets (`Set-Cookie`); ill-formed ones are
    /// ignored, as browsers do.
    pub(crate) fn store(&self, headers: &HeaderMap, url: &Url) {
        if !headers.contains_key(SET_COOKIE) {
            return;
        }
        let cookies: Vec<RawCookie<'static>> = headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .filter_map(|text| RawCookie::parse(text.to_owned()).ok())
            .collect();
        if cookies.is_empty() {
            return;
        }
        self.store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .store_response_cookies(cookies.into_iter(), url);
        self.any.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_comes_back_to_its_server_only() {
        let jar = Cookies::default();
        let server = Url::parse("http://127.0.0.1:8080/mcp/").expect("url");
        assert_eq!(jar.header(&server), None, "nothing before a Set-Cookie");
        let mut headers = HeaderMap::new();
        headers.append(SET_COOKIE, HeaderValue::from_static("lb=node-7; Path=/"));
        headers.append(SET_COOKIE, HeaderValue::from_static("not a cookie"));
        jar.store(&headers, &server);
        assert_eq!(
            jar.header(&server)
                .expect("a cookie")
                .to_str()
                .expect("ascii"),
            "lb=node-7"
        );
        let other = Url::parse("http://127.0.0.2:8080/mcp/").expect("url");
        assert_eq!(jar.header(&other), None, "another host gets nothing");
        assert!(
            !format!("{jar:?}").contains("node-7"),
            "Debug shows no value"
        );
    }
}
