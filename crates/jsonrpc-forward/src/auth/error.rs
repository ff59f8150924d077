//! [`SignInError`]: why a sign-in did not give a token. Never carries a token, code,
//! verifier or secret: messages name the step and the server's own error.

use reqwest::StatusCode;

use super::callback::CallbackError;
use super::metadata::MetadataError;

/// Why signing in (or refreshing) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignInError {
    /// The server answered 401 but says nowhere how to sign in: no Protected Resource
    /// Metadata and no authorization server metadata at its origin. The 401 is the answer.
    #[error("the server asks for authorization but offers no OAuth metadata")]
    NotOffered,
    /// Metadata was found but is not usable.
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    /// A request to the authorization server failed before an answer.
    #[error("{what} failed")]
    Http {
        /// Which request (`token request`, `client registration`, ...).
        what: &'static str,
        /// The transport's error.
        #[source]
        source: Box<crate::Error>,
    },
    /// The authorization server answered with an unexpected status or body.
    #[error("{what}: HTTP {status}{}", detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Status {
        /// Which request.
        what: &'static str,
        /// Its status.
        status: StatusCode,
        /// The start of the body (an OAuth error's text; tokens are never in error bodies).
        detail: Option<String>,
    },
    /// The authorization server refused a grant or registration with an OAuth error
    /// (`invalid_grant`, `invalid_client`, `access_denied`, ...).
    #[error("{what} refused: {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Refused {
        /// Which request.
        what: &'static str,
        /// The OAuth `error` code.
        error: String,
        /// Its `error_description`.
        description: Option<String>,
    },
    /// The user did not come back through the browser (or the device) in time, or the
    /// redirect was wrong. `url` is where to sign in.
    #[error("sign-in not completed: {source}; sign in at {url}")]
    Callback {
        /// The authorization (or verification) URL.
        url: String,
        /// What happened.
        #[source]
        source: CallbackError,
    },
    /// Another request's sign-in is still waiting for the user and this one waited long
    /// enough.
    #[error("sign-in not completed within {seconds} s{}", url.as_deref().map(|u| format!("; sign in at {u}")).unwrap_or_default())]
    TimedOut {
        /// The wait.
        seconds: u64,
        /// The sign-in URL, if one was printed.
        url: Option<String>,
    },
    /// The renewal this request waited for failed (its message): not tried again for the
    /// same 401, so a broken server cannot cause a storm of sign-ins.
    #[error("sign-in failed: {0}")]
    Earlier(String),
    /// The configuration cannot sign in this way (`--oauth-client-credentials` without a
    /// client, no authorization endpoint, ...).
    #[error("cannot sign in: {0}")]
    Unsupported(String),
    /// The credentials directory could not be read or written, or the random generator failed.
    #[error("credentials store: {0}")]
    Io(#[from] std::io::Error),
}

impl SignInError {
    pub(crate) fn http(what: &'static str, source: crate::Error) -> Self {
        Self::Http {
            what,
            source: Box::new(source),
        }
    }

    /// The OAuth error code, when the server gave one.
    #[must_use]
    pub fn oauth_error(&self) -> Option<&str> {
        match self {
            Self::Refused { error, .. } => Some(error),
            _ => None,
        }
    }
}

impl From<getrandom::Error> for SignInError {
    fn from(e: getrandom::Error) -> Self {
        Self::Io(std::io::Error::other(e.to_string()))
    }
}
