//! Where credentials live: one directory (mode 0700), one file per authorization server
//! issuer and resource (mode 0600, replaced atomically), and a lock file per key so that
//! several bridges for one server share one sign-in instead of racing.
//!
//! The directory is `MCP_WRAPPER_AUTH_DIR`, else `$XDG_CONFIG_HOME/mcp-wrapper/auth`, else
//! `~/.config/mcp-wrapper/auth`. Keys are issuer and resource, never a header or a flag of
//! the bridge, so rotating an unrelated header does not sign the user out.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// A client registered with an authorization server (RFC 7591), or given by the user.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    /// `client_id`.
    pub client_id: String,
    /// `client_secret`, for confidential clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// How it authenticates at the token endpoint (`none`, `client_secret_basic`,
    /// `client_secret_post`), as registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_method: Option<String>,
    /// The redirect URI it was registered with: another one means registering again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_uri: Option<String>,
}

/// Tokens from the token endpoint.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tokens {
    /// `access_token`.
    pub access_token: String,
    /// `refresh_token`, when the server gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// When the access token expires, in seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// The scopes granted, space-separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// What is stored for one issuer and resource.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    /// The issuer of the authorization server.
    pub issuer: String,
    /// The resource (canonical MCP server URI).
    pub resource: String,
    /// The client identity used with that server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<Client>,
    /// The tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<Tokens>,
}

/// Names and expiry only: tokens and secrets are never printed.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("issuer", &self.issuer)
            .field("resource", &self.resource)
            .field("client_id", &self.client.as_ref().map(|c| &c.client_id))
            .field("access_token", &self.tokens.as_ref().map(|_| "<redacted>"))
            .field(
                "refresh_token",
                &self
                    .tokens
                    .as_ref()
                    .and_then(|t| t.refresh_token.as_ref())
                    .map(|_| "<redacted>"),
            )
            .field(
                "expires_at",
                &self.tokens.as_ref().and_then(|t| t.expires_at),
            )
            .finish()
    }
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("access_token", &"<redacted>")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("expires_at", &self.expires_at)
            .field("scope", &self.scope)
            .finish()
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("auth_method", &self.auth_method)
            .field("redirect_uri", &self.redirect_uri)
            .finish()
    }
}

/// The credentials directory.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

/// Held while one process signs in or refreshes for a key; dropped, it lets the next go.
#[derive(Debug)]
pub struct KeyLock {
    _file: File,
}

impl Store {
    /// The directory the environment names (see the module docs). It is created (mode
    /// 0700) by the first write, so a bridge that never signs in leaves no trace.
    ///
    /// # Errors
    ///
    /// When no directory can be named (no `HOME`).
    pub fn from_env() -> std::io::Result<Self> {
        let dir = if let Some(dir) = std::env::var_os("MCP_WRAPPER_AUTH_DIR") {
            PathBuf::from(dir)
        } else if let Some(config) = std::env::var_os("XDG_CONFIG_HOME") {
            PathBuf::from(config).join("mcp-wrapper").join("auth")
        } else if let Some(home) = std::env::home_dir() {
            home.join(".config").join("mcp-wrapper").join("auth")
        } else {
            return Err(std::io::Error::other(
                "no directory for credentials: set MCP_WRAPPER_AUTH_DIR",
            ));
        };
        Self::at(dir)
    }

    /// The directory `dir`, created with mode 0700 by the first write.
    ///
    /// # Errors
    ///
    /// None today; kept fallible for stores that check more.
    pub fn at(dir: impl Into<PathBuf>) -> std::io::Result<Self> {
        Ok(Self { dir: dir.into() })
    }

    /// Creates the directory (mode 0700) if it is missing.
    fn ensure(&self) -> std::io::Result<()> {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&self.dir)
    }

    /// The directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file name for a key: a hash, so that no URL becomes a path.
    fn stem(issuer: &str, resource: &str) -> String {
        let digest = Sha256::digest(format!("{issuer}\n{resource}").as_bytes());
        digest[..16].iter().map(|b| format!("{b:02x}")).collect()
    }

    fn path(&self, issuer: &str, resource: &str, extension: &str) -> PathBuf {
        self.dir
            .join(format!("{}.{extension}", Self::stem(issuer, resource)))
    }

    /// The credentials stored for `issuer` and `resource`, if any.
    ///
    /// # Errors
    ///
    /// When the file exists but cannot be read or is not credentials.
    pub fn load(&self, issuer: &str, resource: &str) -> std::io::Result<Option<Credentials>> {
        match std::fs::read(self.path(issuer, resource, "json")) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(std::io::Error::other),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Stores `credentials` under their issuer and resource: written to a new file (mode
    /// 0600) and renamed over the old one, so a reader sees the old or the new, whole.
    ///
    /// # Errors
    ///
    /// When the file cannot be written.
    pub fn save(&self, credentials: &Credentials) -> std::io::Result<()> {
        self.ensure()?;
        let path = self.path(&credentials.issuer, &credentials.resource, "json");
        let temporary = path.with_extension(format!("tmp.{}", std::process::id()));
        let json = serde_json::to_vec_pretty(credentials).map_err(std::io::Error::other)?;
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&temporary)?;
        file.write_all(&json)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temporary, &path)
    }

    /// Forgets what is stored for `issuer` and `resource`.
    ///
    /// # Errors
    ///
    /// When the file exists but cannot be removed.
    pub fn remove(&self, issuer: &str, resource: &str) -> std::io::Result<()> {
        for extension in ["json", "opened"] {
            match std::fs::remove_file(self.path(issuer, resource, extension)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    /// Every credentials file in the directory, newest first; files that do not parse are
    /// skipped (a newer bridge's format, a stray file).
    ///
    /// # Errors
    ///
    /// When the directory cannot be listed.
    pub fn all(&self) -> std::io::Result<Vec<Credentials>> {
        let mut found = Vec::new();
        let entries = match std::fs::read_dir(&self.dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            other => other?,
        };
        for entry in entries {
            let path = entry?.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            if let Ok(credentials) = serde_json::from_slice::<Credentials>(&bytes) {
                let modified = std::fs::metadata(&path)
                    .and_then(|m| m.modified())
                    .unwrap_or(std::time::SystemTime::UNIX_EPOCH);
                found.push((modified, credentials));
            }
        }
        found.sort_by_key(|entry| std::cmp::Reverse(entry.0));
        Ok(found.into_iter().map(|(_, c)| c).collect())
    }

    /// The newest credentials with tokens for `resource`, whatever the issuer: what a
    /// bridge starts with, before it knows the authorization server.
    ///
    /// # Errors
    ///
    /// When the directory cannot be listed.
    pub fn find(&self, resource: &str) -> std::io::Result<Option<Credentials>> {
        Ok(self
            .all()?
            .into_iter()
            .find(|c| c.resource == resource && c.tokens.is_some()))
    }

    /// When a browser was last opened for this key by any process (seconds since the
    /// epoch), for the breaker that stops a storm of tabs.
    #[must_use]
    pub fn browser_opened_at(&self, issuer: &str, resource: &str) -> Option<u64> {
        std::fs::read_to_string(self.path(issuer, resource, "opened"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Records that a browser was opened now for this key.
    ///
    /// # Errors
    ///
    /// When the file cannot be written.
    pub fn mark_browser_opened(
        &self,
        issuer: &str,
        resource: &str,
        at: u64,
    ) -> std::io::Result<()> {
        self.ensure()?;
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options
            .open(self.path(issuer, resource, "opened"))?
            .write_all(at.to_string().as_bytes())
    }

    /// Forgets when a browser was last opened for this key (the sign-in finished).
    ///
    /// # Errors
    ///
    /// When the file exists but cannot be removed.
    pub fn clear_browser_opened(&self, issuer: &str, resource: &str) -> std::io::Result<()> {
        match std::fs::remove_file(self.path(issuer, resource, "opened")) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Waits for the lock of `issuer` and `resource` (across processes) and returns it.
    /// Blocking: call it where blocking is allowed (`spawn_blocking`).
    ///
    /// # Errors
    ///
    /// When the lock file cannot be opened or locked.
    pub fn lock(&self, issuer: &str, resource: &str) -> std::io::Result<KeyLock> {
        let file = self.lock_file(issuer, resource)?;
        file.lock()?;
        Ok(KeyLock { _file: file })
    }

    /// The lock of `issuer` and `resource` if nobody holds it, else `None`.
    ///
    /// # Errors
    ///
    /// When the lock file cannot be opened or locked.
    pub fn try_lock(&self, issuer: &str, resource: &str) -> std::io::Result<Option<KeyLock>> {
        let file = self.lock_file(issuer, resource)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(KeyLock { _file: file })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        }
    }

    fn lock_file(&self, issuer: &str, resource: &str) -> std::io::Result<File> {
        self.ensure()?;
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options.open(self.path(issuer, resource, "lock"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "mcp-wrapper-store-{name}-{}-{}",
            std::process::id(),
            super::super::pkce::random_token().expect("randomness")
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn credentials() -> Credentials {
        Credentials {
            issuer: "https://auth.example.com".to_owned(),
            resource: "https://mcp.example.com/mcp".to_owned(),
            client: Some(Client {
                client_id: "client-1".to_owned(),
                client_secret: Some("secret-planted".to_owned()),
                auth_method: None,
                redirect_uri: Some("http://127.0.0.1:33418/oauth/callback".to_owned()),
            }),
            tokens: Some(Tokens {
                access_token: "access-planted".to_owned(),
                refresh_token: Some("refresh-planted".to_owned()),
                expires_at: Some(1_900_000_000),
                scope: Some("read".to_owned()),
            }),
        }
    }

    #[test]
    fn saved_credentials_load_back_and_are_private() {
        let dir = scratch("roundtrip");
        let store = Store::at(dir.join("auth")).expect("store");
        let saved = credentials();
        store.save(&saved).expect("save");
        let loaded = store
            .load(&saved.issuer, &saved.resource)
            .expect("load")
            .expect("stored");
        assert_eq!(loaded, saved);
        assert_eq!(
            store.find(&saved.resource).expect("find"),
            Some(saved.clone())
        );
        assert_eq!(store.find("https://other/").expect("find"), None);
        assert_eq!(store.all().expect("all").len(), 1);
        assert_eq!(
            store.load(&saved.issuer, "https://other/").expect("load"),
            None
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode =
                |p: &Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
            assert_eq!(mode(store.dir()), 0o700);
            let files: Vec<PathBuf> = std::fs::read_dir(store.dir())
                .expect("list")
                .map(|e| e.expect("entry").path())
                .collect();
            assert_eq!(files.len(), 1, "{files:?}: no temporary file left");
            assert_eq!(mode(&files[0]), 0o600);
        }
        store
            .remove(&saved.issuer, &saved.resource)
            .expect("remove");
        assert_eq!(
            store.load(&saved.issuer, &saved.resource).expect("load"),
            None
        );
        store
            .remove(&saved.issuer, &saved.resource)
            .expect("removing twice is fine");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn debug_shows_no_secret() {
        let shown = format!("{:?} {:?}", credentials(), credentials().tokens);
        for secret in ["secret-planted", "access-planted", "refresh-planted"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("client-1"));
    }

    #[test]
    fn one_holder_of_a_key_lock_at_a_time() {
        let dir = scratch("lock");
        let store = Store::at(&dir).expect("store");
        let first = store
            .try_lock("https://a", "https://r")
            .expect("lock")
            .expect("free");
        assert!(
            store
                .try_lock("https://a", "https://r")
                .expect("lock")
                .is_none()
        );
        assert!(
            store
                .try_lock("https://a", "https://other")
                .expect("lock")
                .is_some(),
            "another key is another lock"
        );
        drop(first);
        assert!(
            store
                .try_lock("https://a", "https://r")
                .expect("lock")
                .is_some()
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
