//! Opening the authorization URL in the user's browser, never through a shell.
//!
//! mcp-remote passed a server-supplied URL to `open()`, which went through a shell on
//! Windows: a crafted URL ran commands (CVE-2025-6514). Here only an `http`/`https` URL that
//! parsed is opened, and it is handed to the opener as one argument of a process started
//! directly. `BROWSER` in the environment wins, with the convention of Python's
//! `webbrowser`: a list of commands separated by the path separator, each split like a
//! shell word list but never run by one, `%s` replaced by the URL, else the URL appended;
//! the first that starts is used. Without it, the platform's opener (`xdg-open`, `open`,
//! `rundll32 url.dll,FileProtocolHandler`).

use std::process::{Command, Stdio};

use reqwest::Url;

/// Why the URL was not opened (it is printed either way).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BrowserError {
    /// Not an http(s) URL: refused.
    #[error("refusing to open a URL that is not http(s)")]
    NotWeb,
    /// No opener could be started.
    #[error("no browser could be started: {0}")]
    NoOpener(String),
}

/// The commands to try for `url`, in order: program and arguments. Empty when `url` is not
/// http(s).
#[must_use]
pub fn commands(url: &Url, browser: Option<&str>) -> Vec<(String, Vec<String>)> {
    if !matches!(url.scheme(), "http" | "https") {
        return Vec::new();
    }
    let url = url.as_str();
    let mut out = Vec::new();
    let separator = if cfg!(windows) { ';' } else { ':' };
    for entry in browser.unwrap_or("").split(separator) {
        let Some(mut words) = shlex::split(entry).filter(|w| !w.is_empty()) else {
            continue;
        };
        if words.iter().any(|w| w.contains("%s")) {
            for word in &mut words {
                *word = word.replace("%s", url);
            }
        } else {
            words.push(url.to_owned());
        }
        let program = words.remove(0);
        out.push((program, words));
    }
    let platform: (&str, &[&str]) = if cfg!(target_os = "macos") {
        ("open", &[])
    } else if cfg!(windows) {
        ("rundll32", &["url.dll,FileProtocolHandler"])
    } else {
        ("xdg-open", &[])
    };
    let mut args: Vec<String> = platform.1.iter().map(|a| (*a).to_owned()).collect();
    args.push(url.to_owned());
    out.push((platform.0.to_owned(), args));
    out
}

/// Starts the first opener that starts (it is not waited for). The caller prints the URL
/// too, so a user without a browser can copy it.
///
/// # Errors
///
/// [`BrowserError`]: the URL is not http(s), or nothing could be started.
pub fn open(url: &Url) -> Result<(), BrowserError> {
    // Dropping the child neither waits for nor kills it.
    open_with(url, std::env::var("BROWSER").ok().as_deref()).map(drop)
}

/// [`open`] with `browser` in place of the environment's `BROWSER`; returns the opener started.
fn open_with(url: &Url, browser: Option<&str>) -> Result<std::process::Child, BrowserError> {
    let candidates = commands(url, browser);
    if candidates.is_empty() {
        return Err(BrowserError::NotWeb);
    }
    let mut failures = Vec::new();
    for (program, args) in candidates {
        match Command::new(&program)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(child) => return Ok(child),
            Err(e) => failures.push(format!("{program}: {e}")),
        }
    }
    Err(BrowserError::NoOpener(failures.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).expect("a URL")
    }

    #[test]
    fn only_web_urls_are_opened() {
        for bad in ["file:///etc/passwd", "javascript:alert(1)", "ftp://x/"] {
            assert!(commands(&url(bad), None).is_empty(), "{bad}");
        }
    }

    #[test]
    fn a_crafted_url_stays_one_argument() {
        let crafted = url("https://as.example.com/authorize?x=$(touch /tmp/pwned)&y=`id`;rm -rf ~");
        let all = commands(&crafted, Some("my-browser --new-tab"));
        assert_eq!(all[0].0, "my-browser");
        assert_eq!(all[0].1, ["--new-tab", crafted.as_str()]);
        assert_eq!(
            all.last().map(|c| c.1.last()),
            Some(Some(&crafted.to_string()))
        );
    }

    #[test]
    fn browser_convention_of_python_webbrowser() {
        let u = url("https://as.example.com/authorize?a=1");
        let all = commands(&u, Some("firefox -P 'my profile' %s:lynx"));
        assert_eq!(
            all[0],
            (
                "firefox".to_owned(),
                vec!["-P".to_owned(), "my profile".to_owned(), u.to_string()]
            )
        );
        assert_eq!(all[1], ("lynx".to_owned(), vec![u.to_string()]));
        assert_eq!(all.len(), 3, "then the platform's opener");
    }

    #[cfg(unix)]
    #[test]
    fn open_starts_the_browser_command_with_the_url_as_one_argument() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!(
            "mcp-wrapper-browser-{}-{}",
            std::process::id(),
            crate::auth::pkce::random_token().expect("randomness")
        ));
        std::fs::create_dir_all(&dir).expect("dir");
        let seen = dir.join("seen");
        let pwned = dir.join("pwned");
        // A "browser" that records its arguments, one per line.
        let script = dir.join("browser.sh");
        std::fs::write(
            &script,
            format!("#!/bin/sh\nprintf '%s\\n' \"$@\" > {}\n", seen.display()),
        )
        .expect("script");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        let crafted = url(&format!(
            "https://as.example.com/authorize?state=abc&x=$(touch%20{})",
            pwned.display()
        ));
        let mut opener = open_with(&crafted, Some(&script.display().to_string())).expect("started");
        assert!(opener.wait().expect("it ends").success());
        assert_eq!(
            std::fs::read_to_string(&seen).expect("written"),
            format!("{crafted}\n"),
            "one argument, the URL as it is"
        );
        assert!(!pwned.exists(), "nothing in the URL ran");
        let _ = std::fs::remove_dir_all(dir);
    }
}
