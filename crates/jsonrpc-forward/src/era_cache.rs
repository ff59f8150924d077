//! The server-era verdicts of earlier runs, on disk (§2.5 of `protocol-2026.md`).
//!
//! A host opens with `initialize` each time it starts the bridge, and the bridge must know
//! the server's era before it can answer. Probing costs one round trip, so each verdict is
//! kept per server URL in `eras.json`, next to the sign-in credentials (the directory of
//! `Store::from_env` in `auth::store`): a modern verdict, with the server's `DiscoverResult`
//! (the synthesised `InitializeResult` is made from it), costs no round trip at start-up; a
//! legacy verdict is trusted for a day only, because a stale one would keep a server that
//! moved to 2026-07-28 on the old wire forever without an error.
//!
//! The file is a JSON object, server key → `{"era", "version", "discover", "checked"}`
//! (seconds since the epoch). It holds no secret: the key is a hash of the URL and the
//! headers ([`EraCache::key`]). A file that cannot be read or parsed is treated as empty and
//! rewritten; a write that fails is logged and costs only the next start's probe. Two
//! bridges writing at once each write a whole file (a new file renamed over the old), so the
//! worst outcome is one lost verdict.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// How long a legacy verdict is trusted.
pub(crate) const LEGACY_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// The file's name inside the credentials directory.
const FILE_NAME: &str = "eras.json";

/// A verdict read from the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cached {
    /// The server speaks 2026-07-28 at `version`; `discover` is its `DiscoverResult` (raw
    /// JSON).
    Modern { version: String, discover: String },
    /// The server speaks the 2025 era.
    Legacy,
}

#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    era: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    discover: Option<Box<RawValue>>,
    checked: u64,
}

/// `eras.json` in one directory.
#[derive(Debug, Clone)]
pub(crate) struct EraCache {
    dir: PathBuf,
}

impl EraCache {
    /// The cache in `dir` (created, mode 0700, by the first write).
    pub(crate) fn at(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn path(&self) -> PathBuf {
        self.dir.join(FILE_NAME)
    }

    /// The key of a server: a SHA-256 of its URL (query included: `?server=` may pick
    /// another backend) and the headers sent with every request (a header may pick one too),
    /// so that the file holds neither a path nor a header value, either of which may be a
    /// secret.
    pub(crate) fn key(url: &url::Url, headers: &reqwest::header::HeaderMap) -> String {
        use sha2::{Digest as _, Sha256};
        let mut hasher = Sha256::new();
        hasher.update(url.as_str().as_bytes());
        let mut lines: Vec<(&str, &[u8])> = headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_bytes()))
            .collect();
        lines.sort_unstable();
        for (name, value) in lines {
            hasher.update(b"\n");
            hasher.update(name.as_bytes());
            hasher.update(b":");
            hasher.update(value);
        }
        hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn read(&self) -> BTreeMap<String, Entry> {
        std::fs::read(self.path())
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    /// The verdict stored for `key`, if it is still good at `now`.
    pub(crate) fn get(&self, key: &str, now: SystemTime) -> Option<Cached> {
        let entry = self.read().remove(key)?;
        match entry.era.as_str() {
            "modern" => Some(Cached::Modern {
                version: entry.version?,
                discover: entry.discover?.get().to_owned(),
            }),
            "legacy" => {
                let checked = UNIX_EPOCH + Duration::from_secs(entry.checked);
                let age = now.duration_since(checked).unwrap_or(Duration::ZERO);
                (age < LEGACY_TTL).then_some(Cached::Legacy)
            }
            _ => None,
        }
    }

    /// Stores `verdict` for `key` (or forgets the key: `None`), checked at `now`.
    pub(crate) fn put(&self, key: &str, verdict: Option<&Cached>, now: SystemTime) {
        if let Err(e) = self.write(key, verdict, now) {
            tracing::warn!(
                path = %self.path().display(),
                error = %e,
                "could not store the server's protocol era; the next start probes again"
            );
        }
    }

    fn write(&self, key: &str, verdict: Option<&Cached>, now: SystemTime) -> std::io::Result<()> {
        let mut entries = self.read();
        let checked = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        match verdict {
            None => {
                if entries.remove(key).is_none() {
                    return Ok(());
                }
            }
            Some(Cached::Legacy) => {
                entries.insert(
                    key.to_owned(),
                    Entry {
                        era: "legacy".into(),
                        version: None,
                        discover: None,
                        checked,
                    },
                );
            }
            Some(Cached::Modern { version, discover }) => {
                let discover =
                    RawValue::from_string(discover.clone()).map_err(std::io::Error::other)?;
                entries.insert(
                    key.to_owned(),
                    Entry {
                        era: "modern".into(),
                        version: Some(version.clone()),
                        discover: Some(discover),
                        checked,
                    },
                );
            }
        }
        ensure_dir(&self.dir)?;
        let json = serde_json::to_vec_pretty(&entries).map_err(std::io::Error::other)?;
        let tmp = self
            .dir
            .join(format!("{FILE_NAME}.{}.tmp", std::process::id()));
        write_private(&tmp, &json)?;
        std::fs::rename(&tmp, self.path())
    }
}

fn ensure_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    // No fsync: a verdict lost in a crash costs one probe at the next start.
    file.write_all(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scratch directory of this test's own (removed first if a crashed run left it).
    struct Scratch(PathBuf);

    impl Scratch {
        fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn dir() -> Scratch {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "mcp-wrapper-eras-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        Scratch(dir)
    }

    #[test]
    fn a_modern_verdict_is_kept_with_its_discover_result() {
        let dir = dir();
        let cache = EraCache::at(dir.path().join("auth"));
        let now = SystemTime::now();
        let modern = Cached::Modern {
            version: "2026-07-28".into(),
            discover: r#"{"supportedVersions":["2026-07-28"],"capabilities":{}}"#.into(),
        };
        assert_eq!(cache.get("http://a/mcp", now), None);
        cache.put("http://a/mcp", Some(&modern), now);
        assert_eq!(cache.get("http://a/mcp", now), Some(modern.clone()));
        // Long after: a modern verdict has no age limit (a failure re-probes instead).
        let later = now + Duration::from_secs(90 * 24 * 3600);
        assert_eq!(cache.get("http://a/mcp", later), Some(modern));
        assert_eq!(cache.get("http://b/mcp", now), None);
    }

    #[test]
    fn a_legacy_verdict_lasts_a_day() {
        let dir = dir();
        let cache = EraCache::at(dir.path());
        let now = SystemTime::now();
        cache.put("http://a/mcp", Some(&Cached::Legacy), now);
        assert_eq!(cache.get("http://a/mcp", now), Some(Cached::Legacy));
        let almost = now + LEGACY_TTL - Duration::from_secs(1);
        assert_eq!(cache.get("http://a/mcp", almost), Some(Cached::Legacy));
        assert_eq!(cache.get("http://a/mcp", now + LEGACY_TTL), None);
    }

    #[test]
    fn forgetting_and_a_broken_file() {
        let dir = dir();
        let cache = EraCache::at(dir.path());
        let now = SystemTime::now();
        cache.put("k", Some(&Cached::Legacy), now);
        cache.put("k", None, now);
        assert_eq!(cache.get("k", now), None);
        std::fs::write(dir.path().join(FILE_NAME), b"not json").expect("write");
        assert_eq!(cache.get("k", now), None);
        cache.put("k", Some(&Cached::Legacy), now);
        assert_eq!(cache.get("k", now), Some(Cached::Legacy));
    }

    #[cfg(unix)]
    #[test]
    fn the_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = dir();
        let auth = dir.path().join("auth");
        let cache = EraCache::at(&auth);
        cache.put("k", Some(&Cached::Legacy), SystemTime::now());
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&auth), 0o700);
        assert_eq!(mode(&auth.join(FILE_NAME)), 0o600);
    }

    #[test]
    fn keys_hash_the_url_and_the_headers() {
        use reqwest::header::{HeaderMap, HeaderValue};
        let url = url::Url::parse("https://h.example/s/t0ken/mcp/?server=a").expect("url");
        let mut headers = HeaderMap::new();
        let key = EraCache::key(&url, &headers);
        assert_eq!(key.len(), 64);
        assert!(!key.contains("t0ken"));
        headers.insert("x-tenant", HeaderValue::from_static("b"));
        assert_ne!(
            EraCache::key(&url, &headers),
            key,
            "a header may pick another backend"
        );
        let other = url::Url::parse("https://h.example/s/t0ken/mcp/?server=b").expect("url");
        assert_ne!(
            EraCache::key(&other, &HeaderMap::new()),
            key,
            "so may the query"
        );
        assert_eq!(EraCache::key(&url, &HeaderMap::new()), key);
    }
}
