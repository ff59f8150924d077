//! Which proxy a request goes through, and what to say when the proxy refuses it.
//!
//! The proxy comes from [`ClientConfig::proxy`](crate::ClientConfig::proxy) (`--proxy`,
//! `MCP_PROXY`) or else from the environment, read as curl and Python (httpx, requests, so
//! `mcpgateway.wrapper`) read it: `https_proxy`/`HTTPS_PROXY` for https URLs,
//! `http_proxy`/`HTTP_PROXY` for http URLs, `all_proxy`/`ALL_PROXY` for either when its own
//! is unset, the lower-case name first (an empty value means "none"). `no_proxy`/`NO_PROXY`
//! lists the hosts reached directly, whichever way the proxy was given.
//!
//! reqwest's own "system proxy" reads the upper-case names first and, given `NO_PROXY=*`,
//! still proxies IP-literal URLs (`http://127.0.0.1:8080/`): so the client is built with
//! the proxies resolved here instead, and the same rules ([`Proxies::for_url`]) name the
//! proxy in errors. Only when no proxy option or variable is set at all is reqwest's
//! system proxy left on: it finds the proxy settings of macOS and Windows (not named in
//! errors). There is no implicit bypass of loopback addresses (curl and httpx have none
//! either): `NO_PROXY=127.0.0.1,localhost` says so; an IP entry matches that address (or
//! network, `10.0.0.0/8`) only, a name entry that name and its subdomains. The userinfo of a proxy URL becomes `Proxy-Authorization: Basic` (on
//! the `CONNECT` for https, on each request for http); it is never printed: a proxy is
//! shown as `scheme://host:port`.

use hyper_util::client::proxy::matcher::Matcher;
use reqwest::Url;

use crate::error::Error;
use crate::http::config_error;

/// The proxies of one client: one for http URLs, one for https URLs, and the hosts that
/// bypass them. Resolved once, when the client is built.
#[derive(Clone, Default)]
pub(crate) struct Proxies {
    http: Option<ProxyUrl>,
    https: Option<ProxyUrl>,
    /// The `no_proxy` list as given (comma-separated).
    no_proxy: String,
    /// Decides, as reqwest's proxy of the same URL and list does, whether a URL bypasses.
    matcher: Option<std::sync::Arc<Matcher>>,
    /// No `--proxy` and no proxy variable at all: reqwest's system proxy is left on, for
    /// the proxy settings of macOS and Windows (on Linux it finds none either).
    system: bool,
}

/// One proxy: its URL (with any credentials, for reqwest only) and what may be shown.
#[derive(Clone)]
struct ProxyUrl {
    url: Url,
    shown: String,
}

/// A proxy as an error may name it, and whether credentials were sent to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UsedProxy {
    /// `scheme://host:port`: no userinfo, path or query.
    pub(crate) shown: String,
    /// The proxy URL carried a user name or password (sent as `Proxy-Authorization`).
    pub(crate) credentials: bool,
}

impl std::fmt::Debug for Proxies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxies")
            .field("http", &self.http.as_ref().map(|p| p.shown.as_str()))
            .field("https", &self.https.as_ref().map(|p| p.shown.as_str()))
            .field("no_proxy", &self.no_proxy)
            .finish()
    }
}

/// The variables that, when any is set (even empty), replace the system proxy settings.
const PROXY_VARIABLES: [&str; 6] = [
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
];

/// `--proxy none` (any case) or an empty `--proxy`: no proxy, whatever the environment says.
pub(crate) fn is_direct(setting: &str) -> bool {
    let setting = setting.trim();
    setting.is_empty() || setting.eq_ignore_ascii_case("none")
}

impl Proxies {
    /// The proxies for `setting` (`None`: the environment, read through `env`).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the option or variable whose URL is not an http(s) proxy URL
    /// (never its value: it may hold a password).
    pub(crate) fn resolve(
        setting: Option<&str>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, Error> {
        let no_proxy = variable("no_proxy", "NO_PROXY", env)
            .map(|(_, list)| list)
            .unwrap_or_default();
        let (http, https) = match setting {
            Some(setting) if is_direct(setting) => return Ok(Self::default()),
            Some(setting) => {
                let proxy = parse("--proxy", setting)?;
                (Some(proxy.clone()), Some(proxy))
            }
            None if PROXY_VARIABLES.iter().all(|name| env(name).is_none()) => {
                return Ok(Self {
                    system: true,
                    ..Self::default()
                });
            }
            None => {
                let all = variable("all_proxy", "ALL_PROXY", env);
                let http = variable("http_proxy", "HTTP_PROXY", env).or_else(|| all.clone());
                let https = variable("https_proxy", "HTTPS_PROXY", env).or(all);
                let http = http.map(|(name, url)| parse(name, &url)).transpose()?;
                let https = https.map(|(name, url)| parse(name, &url)).transpose()?;
                (http, https)
            }
        };
        // `*` means every host; hyper-util applies it to names only, not to IP addresses.
        if no_proxy.split(',').any(|entry| entry.trim() == "*") {
            return Ok(Self::default());
        }
        let mut builder = Matcher::builder().no(no_proxy.as_str());
        if let Some(http) = &http {
            builder = builder.http(http.url.as_str());
        }
        if let Some(https) = &https {
            builder = builder.https(https.url.as_str());
        }
        Ok(Self {
            matcher: Some(std::sync::Arc::new(builder.build())),
            http,
            https,
            no_proxy,
            system: false,
        })
    }

    /// Whether reqwest's system proxy stays on (see the field).
    pub(crate) fn system(&self) -> bool {
        self.system
    }

    /// The proxies reqwest is to use: one per scheme, each with the `no_proxy` list.
    pub(crate) fn reqwest_proxies(&self) -> Result<Vec<reqwest::Proxy>, Error> {
        let no_proxy = || reqwest::NoProxy::from_string(&self.no_proxy);
        let mut proxies = Vec::new();
        if let Some(http) = &self.http {
            let proxy = reqwest::Proxy::http(http.url.as_str())
                .map_err(|_| config_error(format!("invalid proxy {}", http.shown)))?;
            proxies.push(proxy.no_proxy(no_proxy()));
        }
        if let Some(https) = &self.https {
            let proxy = reqwest::Proxy::https(https.url.as_str())
                .map_err(|_| config_error(format!("invalid proxy {}", https.shown)))?;
            proxies.push(proxy.no_proxy(no_proxy()));
        }
        Ok(proxies)
    }

    /// The proxy a request to `url` goes through, if any.
    pub(crate) fn for_url(&self, url: &Url) -> Option<UsedProxy> {
        let matcher = self.matcher.as_ref()?;
        let uri: hyper::Uri = url.as_str().parse().ok()?;
        matcher.intercept(&uri)?;
        let proxy = match url.scheme() {
            "https" => self.https.as_ref()?,
            _ => self.http.as_ref()?,
        };
        Some(UsedProxy {
            shown: proxy.shown.clone(),
            credentials: !proxy.url.username().is_empty() || proxy.url.password().is_some(),
        })
    }
}

/// The first of the lower-case and upper-case variable that is set, with its name; an
/// empty value means none (as Python's `urllib.request.getproxies` reads it).
fn variable(
    lower: &'static str,
    upper: &'static str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<(&'static str, String)> {
    for name in [lower, upper] {
        if let Some(value) = env(name) {
            let value = value.trim();
            return (!value.is_empty()).then(|| (name, value.to_owned()));
        }
    }
    None
}

/// A proxy URL: `http://` is assumed without a scheme (as curl and httpx do); only http and
/// https proxies are supported; a path is ignored.
fn parse(source: &str, value: &str) -> Result<ProxyUrl, Error> {
    let value = value.trim();
    let with_scheme = if value.contains("://") {
        value.to_owned()
    } else {
        format!("http://{value}")
    };
    let invalid = || {
        config_error(format!(
            "{source} is not a proxy URL (expected http://[user:password@]host:port)"
        ))
    };
    let url = Url::parse(&with_scheme).map_err(|_| invalid())?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(config_error(format!(
            "{source}: {} proxies are not supported (use an http:// proxy, or --proxy none)",
            url.scheme()
        )));
    }
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(invalid)?;
    let port = url.port_or_known_default().unwrap_or(80);
    let shown = format!("{}://{host}:{port}", url.scheme());
    Ok(ProxyUrl { url, shown })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    fn url(s: &str) -> Url {
        Url::parse(s).expect("a URL")
    }

    fn shown(proxies: &Proxies, target: &str) -> Option<String> {
        proxies.for_url(&url(target)).map(|p| p.shown)
    }

    #[test]
    fn environment_per_scheme_lower_case_first_all_proxy_as_fallback() {
        let proxies = Proxies::resolve(
            None,
            &env(&[
                ("HTTPS_PROXY", "http://upper:1"),
                ("https_proxy", "http://lower:2"),
                ("ALL_PROXY", "http://all:3"),
            ]),
        )
        .expect("resolved");
        assert_eq!(
            shown(&proxies, "https://mcp.example/mcp/").as_deref(),
            Some("http://lower:2")
        );
        assert_eq!(
            shown(&proxies, "http://mcp.example/mcp/").as_deref(),
            Some("http://all:3")
        );
        // An empty lower-case value turns its variable off, upper case notwithstanding.
        let proxies = Proxies::resolve(
            None,
            &env(&[("HTTP_PROXY", "http://upper:1"), ("http_proxy", "")]),
        )
        .expect("resolved");
        assert_eq!(shown(&proxies, "http://mcp.example/"), None);
        let none = Proxies::resolve(None, &env(&[])).expect("resolved");
        assert_eq!(shown(&none, "https://mcp.example/"), None);
    }

    #[test]
    fn explicit_proxy_wins_and_none_is_direct() {
        let vars = env(&[
            ("HTTPS_PROXY", "http://env:1"),
            ("HTTP_PROXY", "http://env:1"),
        ]);
        let proxies = Proxies::resolve(Some("proxy.corp:3128"), &vars).expect("resolved");
        for target in ["https://mcp.example/", "http://mcp.example/"] {
            assert_eq!(
                shown(&proxies, target).as_deref(),
                Some("http://proxy.corp:3128")
            );
        }
        for direct in ["none", "NONE", "", "  "] {
            let proxies = Proxies::resolve(Some(direct), &vars).expect("resolved");
            assert_eq!(shown(&proxies, "https://mcp.example/"), None, "{direct:?}");
            assert!(proxies.reqwest_proxies().expect("built").is_empty());
        }
    }

    #[test]
    fn no_proxy_names_ips_networks_domains_and_star() {
        let vars = env(&[
            ("HTTPS_PROXY", "http://p:1"),
            ("HTTP_PROXY", "http://p:1"),
            ("NO_PROXY", "127.0.0.1, 10.0.0.0/8, .internal, example.org"),
        ]);
        let proxies = Proxies::resolve(None, &vars).expect("resolved");
        for direct in [
            "http://127.0.0.1:8080/mcp/",
            "http://10.1.2.3/",
            "https://a.internal/",
            "https://example.org/",
            "https://sub.example.org/",
        ] {
            assert_eq!(shown(&proxies, direct), None, "{direct}");
        }
        for proxied in [
            "http://127.0.0.2/",
            "http://localhost:8080/",
            "https://notexample.org/",
        ] {
            assert!(shown(&proxies, proxied).is_some(), "{proxied}");
        }
        // `--proxy` obeys NO_PROXY too; `*` bypasses every host, IP addresses included.
        let star = env(&[("no_proxy", "*")]);
        let proxies = Proxies::resolve(Some("http://p:1"), &star).expect("resolved");
        assert_eq!(shown(&proxies, "http://127.0.0.1:1/"), None);
        assert_eq!(shown(&proxies, "https://mcp.example/"), None);
    }

    #[test]
    fn credentials_are_kept_for_reqwest_and_never_shown() {
        let proxies = Proxies::resolve(Some("http://user:pa%40ss@127.0.0.1:3128/"), &env(&[]))
            .expect("resolved");
        let used = proxies
            .for_url(&url("https://mcp.example/"))
            .expect("proxied");
        assert_eq!(used.shown, "http://127.0.0.1:3128");
        assert!(used.credentials);
        assert!(!format!("{proxies:?}").contains("pa%40ss"), "{proxies:?}");
        assert_eq!(proxies.reqwest_proxies().expect("built").len(), 2);
    }

    #[test]
    fn invalid_proxies_name_their_source_never_their_value() {
        for (value, expected) in [
            (
                "socks5://user:secret-s1@h:1080",
                "socks5 proxies are not supported",
            ),
            ("http://user:secret-s1@", "not a proxy URL"),
        ] {
            let error = Proxies::resolve(None, &env(&[("ALL_PROXY", value)]))
                .expect_err("invalid")
                .to_string();
            assert!(error.contains("ALL_PROXY"), "{error}");
            assert!(error.contains(expected), "{error}");
            assert!(!error.contains("secret-s1"), "{error}");
        }
        // A socks ALL_PROXY that neither scheme uses is no error.
        let vars = env(&[
            ("ALL_PROXY", "socks5://h:1080"),
            ("HTTP_PROXY", "http://p:1"),
            ("HTTPS_PROXY", "http://p:1"),
        ]);
        assert!(Proxies::resolve(None, &vars).is_ok());
    }
}
