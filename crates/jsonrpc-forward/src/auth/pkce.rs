//! Proof Key for Code Exchange (RFC 7636) with S256, the only method OAuth 2.1 and the MCP
//! spec allow, and the random `state` of an authorization request.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest as _, Sha256};

/// A code verifier and its S256 challenge. The verifier is a secret until the token
/// request: its `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct Pkce {
    verifier: String,
    challenge: String,
}

impl std::fmt::Debug for Pkce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkce")
            .field("verifier", &"<redacted>")
            .field("challenge", &self.challenge)
            .finish()
    }
}

/// `code_challenge_method` for [`Pkce::challenge`].
pub const METHOD: &str = "S256";

impl Pkce {
    /// A fresh verifier: 32 random bytes, base64url (43 characters, the shortest RFC 7636
    /// allows, 256 bits of entropy).
    ///
    /// # Errors
    ///
    /// When the operating system gives no randomness.
    pub fn new() -> Result<Self, getrandom::Error> {
        Ok(Self::from_verifier(random_token()?))
    }

    /// The challenge of a given verifier (for tests and for a verifier kept across a
    /// restart).
    #[must_use]
    pub fn from_verifier(verifier: String) -> Self {
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        Self {
            verifier,
            challenge,
        }
    }

    /// `code_verifier` of the token request.
    #[must_use]
    pub fn verifier(&self) -> &str {
        &self.verifier
    }

    /// `code_challenge` of the authorization request.
    #[must_use]
    pub fn challenge(&self) -> &str {
        &self.challenge
    }
}

/// 32 random bytes as base64url: an authorization request's `state`, or a verifier.
///
/// # Errors
///
/// When the operating system gives no randomness.
pub fn random_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_of_a_known_verifier() {
        // Computed independently: base64.urlsafe_b64encode(hashlib.sha256(v).digest()),
        // padding removed, in CPython.
        let pkce = Pkce::from_verifier("dBjftJeZ4CVP-mJ92K7ToyWQsTxp8K6lDyZk2Ar5sP0".to_owned());
        assert_eq!(
            pkce.challenge(),
            "dE0PufDzM3FzQe02Mih87J3Lso-beg6a8pvNBCd13L0"
        );
    }

    #[test]
    fn fresh_verifiers_are_43_unreserved_characters_and_differ() {
        let a = Pkce::new().expect("randomness");
        let b = Pkce::new().expect("randomness");
        assert_ne!(a.verifier(), b.verifier());
        for pkce in [&a, &b] {
            assert_eq!(pkce.verifier().len(), 43);
            assert!(
                pkce.verifier()
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b"-._~".contains(&c)),
                "{}",
                pkce.verifier()
            );
            assert_eq!(pkce.challenge().len(), 43);
        }
    }

    #[test]
    fn debug_hides_the_verifier() {
        let pkce = Pkce::new().expect("randomness");
        let shown = format!("{pkce:?}");
        assert!(!shown.contains(pkce.verifier()), "{shown}");
        assert!(shown.contains(pkce.challenge()), "{shown}");
    }
}
