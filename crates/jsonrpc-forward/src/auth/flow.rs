//! [`SignIn`]: the tokens of one MCP server, and the flows that get and renew them.
//!
//! The client asks [`SignIn::authorization`] before each request (a token about to expire is
//! refreshed first) and calls [`SignIn::unauthorized`] after a 401 (or a 403 with
//! `insufficient_scope`); the request is then sent once more. Within a process one renewal
//! runs at a time and the requests that met the same 401 wait for it instead of starting
//! their own; across processes a lock per issuer and resource ([`Store::lock`]) makes a
//! second bridge wait for the first and then use what it stored. A renewal that fails is
//! the answer of every request that waited for it: no loop, no second browser tab.
//!
//! Order of renewal: the refresh token (not for a step-up: a refresh cannot add scopes);
//! if the server refuses it (`invalid_grant`, ...), one new sign-in: client credentials
//! when asked, else the browser (or the device flow with `--oauth-no-browser` where the
//! server has one). Client identity: the user's `--oauth-client-id`, else a Client ID
//! Metadata Document URL the server accepts, else the stored registration when its redirect
//! URI is still the callback's, else a new registration (RFC 7591).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use reqwest::Url;
use reqwest::header::HeaderValue;

use super::browser;
use super::callback::{Callback, CallbackError};
use super::challenge::BearerChallenge;
use super::discovery::{authorization_server_metadata_urls, protected_resource_metadata_urls};
use super::endpoints::{self, DEVICE_CODE, Grant, now};
use super::error::SignInError;
use super::metadata::{AuthorizationServer, ProtectedResource, canonical_resource, scopes};
use super::options::OAuthOptions;
use super::pkce::{self, Pkce};
use super::store::{Client, Credentials, KeyLock, Store, Tokens};
use crate::config::ClientConfig;
use crate::http::HttpClient;

/// A token this close to its expiry is refreshed before it is sent.
const REFRESH_AHEAD: u64 = 60;
/// At most one browser opened per server in this long, by all processes together.
const BROWSER_BREAKER: u64 = 60;

/// The sign-in state of one MCP server. Shared by all its requests (`Arc`).
pub struct SignIn {
    /// The client for authorization servers, built at the first sign-in or refresh: most
    /// bridges never need it, and building one loads the system's root certificates.
    http: OnceLock<HttpClient>,
    /// What `http` is built from.
    http_config: ClientConfig,
    server: Url,
    resource: String,
    options: OAuthOptions,
    store: Store,
    /// What requests use now; `None` before the first sign-in.
    current: Mutex<Option<Credentials>>,
    /// The `Authorization` value of `current`'s access token, built once per token: the
    /// per-request path clones a `HeaderValue` (a reference count), nothing else.
    bearer: Mutex<Option<Bearer>>,
    /// One renewal at a time; holds what discovery found.
    flow: tokio::sync::Mutex<Flow>,
    /// Renewals finished (for requests that waited: was theirs done meanwhile?).
    rounds: AtomicU64,
    /// The URL of the sign-in waiting for the user, for the errors of requests that gave up.
    pending_url: Mutex<Option<String>>,
}

/// Never shows a token: the server, the resource and whether tokens are held.
impl std::fmt::Debug for SignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignIn")
            .field("resource", &self.resource)
            .field("options", &self.options)
            .field("store", &self.store.dir())
            .finish_non_exhaustive()
    }
}

/// What a request needs to know about the current token.
#[derive(Clone)]
struct Bearer {
    header: HeaderValue,
    expires_at: Option<u64>,
    refreshable: bool,
}

impl Bearer {
    fn of(credentials: Option<&Credentials>) -> Option<Self> {
        let tokens = credentials?.tokens.as_ref()?;
        let Ok(mut header) = HeaderValue::from_str(&format!("Bearer {}", tokens.access_token))
        else {
            tracing::warn!("the access token is not a valid header value; not sent");
            return None;
        };
        header.set_sensitive(true);
        Some(Self {
            header,
            expires_at: tokens.expires_at,
            refreshable: tokens.refresh_token.is_some(),
        })
    }
}

#[derive(Default)]
struct Flow {
    metadata: Option<Metadata>,
    /// The last renewal's failure, the answer of every request that waited for it.
    failure: Option<(u64, String)>,
}

#[derive(Clone)]
struct Metadata {
    resource: Option<ProtectedResource>,
    server: AuthorizationServer,
}

/// What `--oauth-*` and the store say about one server, for `mcp-wrapper auth status`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Status {
    /// The authorization server.
    pub issuer: String,
    /// The MCP server (canonical).
    pub resource: String,
    /// The client id used.
    pub client_id: Option<String>,
    /// Scopes granted.
    pub scope: Option<String>,
    /// When the access token expires (seconds since the epoch).
    pub expires_at: Option<u64>,
    /// Whether a refresh token is held.
    pub refreshable: bool,
}

impl From<&Credentials> for Status {
    fn from(c: &Credentials) -> Self {
        Self {
            issuer: c.issuer.clone(),
            resource: c.resource.clone(),
            client_id: c.client.as_ref().map(|c| c.client_id.clone()),
            scope: c.tokens.as_ref().and_then(|t| t.scope.clone()),
            expires_at: c.tokens.as_ref().and_then(|t| t.expires_at),
            refreshable: c.tokens.as_ref().is_some_and(|t| t.refresh_token.is_some()),
        }
    }
}

impl SignIn {
    /// The sign-in of the MCP server at `server`, starting from what the store holds for it.
    /// `config` is the MCP server's: its TLS, timeouts and proxy are used for authorization
    /// servers, never its headers (see [`ClientConfig::sign_in`]); that client is built at the
    /// first sign-in or refresh.
    ///
    /// # Errors
    ///
    /// [`SignInError::Io`] when the credentials directory cannot be read.
    pub fn new(
        config: &ClientConfig,
        server: Url,
        options: OAuthOptions,
    ) -> Result<Self, SignInError> {
        let store = match &options.store_dir {
            Some(dir) => Store::at(dir)?,
            None => Store::from_env()?,
        };
        let resource = canonical_resource(&server);
        let current = store.find(&resource)?;
        Ok(Self {
            http: OnceLock::new(),
            http_config: config.for_authorization_server(),
            server,
            resource,
            options,
            store,
            bearer: Mutex::new(Bearer::of(current.as_ref())),
            current: Mutex::new(current),
            flow: tokio::sync::Mutex::new(Flow::default()),
            rounds: AtomicU64::new(0),
            pending_url: Mutex::new(None),
        })
    }

    /// The client for authorization servers, built on first use.
    fn http(&self) -> Result<&HttpClient, SignInError> {
        if let Some(http) = self.http.get() {
            return Ok(http);
        }
        let http = HttpClient::new(&self.http_config)
            .map_err(|e| SignInError::http("client set-up", e))?;
        Ok(self.http.get_or_init(|| http))
    }

    /// The canonical URI of the server (the `resource` of the tokens).
    #[must_use]
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// What is held now, without any token.
    #[must_use]
    pub fn status(&self) -> Option<Status> {
        lock(&self.current).as_ref().map(Status::from)
    }

    /// Replaces what requests use.
    fn set_current(&self, credentials: Credentials) {
        *lock(&self.bearer) = Bearer::of(Some(&credentials));
        *lock(&self.current) = Some(credentials);
    }

    fn header(&self) -> Option<HeaderValue> {
        lock(&self.bearer).as_ref().map(|b| b.header.clone())
    }

    fn tokens(&self) -> Option<Tokens> {
        lock(&self.current).as_ref().and_then(|c| c.tokens.clone())
    }

    fn access_token(&self) -> Option<String> {
        self.tokens().map(|t| t.access_token)
    }

    /// The `Authorization` value to send when no refresh is due first (the per-request
    /// path: a lock and a reference-count clone): `Some(None)` without a token, `None` when
    /// [`authorization`](Self::authorization) must run (the token expires within a minute
    /// and can be refreshed).
    #[must_use]
    pub fn ready_authorization(&self) -> Option<Option<HeaderValue>> {
        let bearer = lock(&self.bearer);
        let Some(bearer) = bearer.as_ref() else {
            return Some(None);
        };
        let expiring = bearer
            .expires_at
            .is_some_and(|at| at <= now().saturating_add(REFRESH_AHEAD));
        (!expiring || !bearer.refreshable).then(|| Some(bearer.header.clone()))
    }

    /// The `Authorization` value to send (`Bearer <access token>`), if a token is held; one
    /// that expires within a minute is refreshed first (when that fails, the old one is sent
    /// and the server's 401 decides).
    ///
    /// # Errors
    ///
    /// Never for a failed refresh; [`SignInError::TimedOut`] if another renewal keeps the
    /// user waiting past `--oauth-timeout`.
    pub async fn authorization(&self) -> Result<Option<HeaderValue>, SignInError> {
        let Some(bearer) = lock(&self.bearer).clone() else {
            return Ok(None);
        };
        let expiring = bearer
            .expires_at
            .is_some_and(|at| at <= now().saturating_add(REFRESH_AHEAD));
        if !expiring || !bearer.refreshable {
            return Ok(Some(bearer.header));
        }
        let seen = self.rounds.load(Ordering::Acquire);
        let mut flow = self.lock_flow().await?;
        if self.rounds.load(Ordering::Acquire) == seen
            && self.header().as_ref() == Some(&bearer.header)
            && let Err(e) = self.refresh(&mut flow).await
        {
            tracing::warn!(error = %crate::display_chain(&e), "refreshing the access token ahead of its expiry failed");
        }
        Ok(self.header())
    }

    /// After the server refused `used` (401, or 403 with `insufficient_scope` when
    /// `step_up`): renews the token so the request can be sent again. Returns at once if
    /// another request renewed it meanwhile.
    ///
    /// # Errors
    ///
    /// [`SignInError::NotOffered`] when the server says nowhere how to sign in (the 401
    /// stands); any other [`SignInError`] when the renewal failed.
    pub async fn unauthorized(
        &self,
        used: Option<&HeaderValue>,
        challenge: Option<&BearerChallenge>,
        step_up: bool,
    ) -> Result<(), SignInError> {
        let seen = self.rounds.load(Ordering::Acquire);
        let mut flow = self.lock_flow().await?;
        if self.header().as_ref() != used {
            return Ok(());
        }
        if let Some((round, message)) = &flow.failure
            && *round > seen
        {
            return Err(SignInError::Earlier(message.clone()));
        }
        let result = self.renew(&mut flow, challenge, step_up).await;
        let round = self.rounds.fetch_add(1, Ordering::AcqRel) + 1;
        flow.failure = result
            .as_ref()
            .err()
            .map(|e| (round, crate::display_chain(e)));
        result
    }

    /// Signs in ahead of time (`mcp-wrapper login`): does nothing when a token is held
    /// unless `force`.
    ///
    /// # Errors
    ///
    /// As [`unauthorized`](Self::unauthorized).
    pub async fn login(&self, force: bool) -> Result<Status, SignInError> {
        let mut flow = self.lock_flow().await?;
        if force || self.tokens().is_none() {
            self.sign_in(&mut flow, None, None).await?;
        }
        self.status()
            .ok_or_else(|| SignInError::Unsupported("no credentials after sign-in".to_owned()))
    }

    async fn lock_flow(&self) -> Result<tokio::sync::MutexGuard<'_, Flow>, SignInError> {
        tokio::time::timeout(self.options.timeout, self.flow.lock())
            .await
            .map_err(|_| SignInError::TimedOut {
                seconds: self.options.timeout.as_secs(),
                url: lock(&self.pending_url).clone(),
            })
    }

    async fn renew(
        &self,
        flow: &mut Flow,
        challenge: Option<&BearerChallenge>,
        step_up: bool,
    ) -> Result<(), SignInError> {
        let held = self.tokens();
        if !step_up && held.as_ref().is_some_and(|t| t.refresh_token.is_some()) {
            match self.refresh(flow).await {
                Ok(()) => return Ok(()),
                // Only a refusal (`invalid_grant`, a client the server forgot) is worth a new
                // sign-in; an unreachable server would fail that too.
                Err(e @ SignInError::Refused { .. }) => {
                    tracing::info!(error = %e, "the refresh token was refused; signing in again");
                }
                Err(e) => return Err(e),
            }
        }
        let scope = if step_up {
            Some(union(
                held.as_ref().and_then(|t| t.scope.as_deref()),
                challenge.and_then(|c| c.scope.as_deref()),
            ))
        } else {
            None
        };
        self.sign_in(flow, challenge, scope).await
    }

    /// The refresh grant, under the cross-process lock; adopts what another process stored
    /// meanwhile instead of refreshing twice (servers that rotate refresh tokens would
    /// revoke one of the two).
    async fn refresh(&self, flow: &mut Flow) -> Result<(), SignInError> {
        let Some(held) = lock(&self.current).clone() else {
            return Err(SignInError::Unsupported("nothing to refresh".to_owned()));
        };
        let _key = self.lock_key(&held.issuer).await?;
        if let Some(stored) = self.store.load(&held.issuer, &self.resource)?
            && stored.tokens.as_ref().map(|t| &t.access_token)
                != held.tokens.as_ref().map(|t| &t.access_token)
            && stored.tokens.is_some()
        {
            tracing::debug!("another process renewed the tokens; using them");
            self.set_current(stored);
            return Ok(());
        }
        let (Some(client), Some(tokens)) = (&held.client, &held.tokens) else {
            return Err(SignInError::Unsupported(
                "no client to refresh with".to_owned(),
            ));
        };
        let Some(refresh_token) = &tokens.refresh_token else {
            return Err(SignInError::Unsupported("no refresh token".to_owned()));
        };
        let server = self.server_metadata(flow, &held.issuer).await?;
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.as_str()),
        ];
        if self.options.resource {
            form.push(("resource", self.resource.as_str()));
        }
        let result = endpoints::token(self.http()?, &server, client, "token refresh", &form).await;
        let mut fresh = match result {
            Ok(fresh) => fresh,
            Err(e) => {
                if e.oauth_error() == Some("invalid_client") && self.options.client_id.is_none() {
                    // A registration the server forgot: the next sign-in registers anew.
                    let mut forgotten = held.clone();
                    forgotten.client = None;
                    forgotten.tokens = None;
                    self.store.save(&forgotten)?;
                }
                return Err(e);
            }
        };
        if fresh.refresh_token.is_none() {
            fresh.refresh_token = Some(refresh_token.clone());
        }
        if fresh.scope.is_none() {
            fresh.scope.clone_from(&tokens.scope);
        }
        self.keep(Credentials {
            tokens: Some(fresh),
            ..held
        })?;
        tracing::info!(resource = %self.resource, "access token refreshed");
        Ok(())
    }

    /// Stores `credentials` and makes them current.
    fn keep(&self, credentials: Credentials) -> Result<(), SignInError> {
        self.store.save(&credentials)?;
        self.set_current(credentials);
        Ok(())
    }

    async fn lock_key(&self, issuer: &str) -> Result<KeyLock, SignInError> {
        let store = self.store.clone();
        let (issuer, resource) = (issuer.to_owned(), self.resource.clone());
        let wait = tokio::task::spawn_blocking(move || store.lock(&issuer, &resource));
        match tokio::time::timeout(self.options.timeout, wait).await {
            Ok(Ok(lock)) => Ok(lock?),
            Ok(Err(join)) => Err(SignInError::Io(std::io::Error::other(join))),
            Err(_) => Err(SignInError::TimedOut {
                seconds: self.options.timeout.as_secs(),
                url: None,
            }),
        }
    }

    /// The protected resource's and its authorization server's metadata, in the spec's
    /// order; an issuer taken from the store skips the resource's metadata.
    async fn discover(
        &self,
        flow: &mut Flow,
        challenge: Option<&BearerChallenge>,
    ) -> Result<Metadata, SignInError> {
        if let Some(found) = &flow.metadata
            && challenge.is_none_or(|c| c.resource_metadata.is_none())
        {
            return Ok(found.clone());
        }
        let mut resource = None;
        for url in protected_resource_metadata_urls(
            &self.server,
            challenge.and_then(|c| c.resource_metadata.as_deref()),
        ) {
            if let Some(body) =
                endpoints::get_metadata(self.http()?, &url, "protected resource metadata").await?
            {
                resource = Some(ProtectedResource::parse(&body, &self.server)?);
                break;
            }
        }
        // Servers of the 2025-03-26 spec publish no resource metadata: their origin is the
        // authorization server.
        let issuer = match &resource {
            Some(r) => r.authorization_servers[0].clone(),
            None => self.server.origin().ascii_serialization(),
        };
        let server = match self.fetch_server_metadata(&issuer).await {
            Ok(server) => server,
            Err(SignInError::NotOffered) if resource.is_some() => {
                return Err(SignInError::Unsupported(format!(
                    "the authorization server {issuer} publishes no metadata"
                )));
            }
            Err(e) => return Err(e),
        };
        let found = Metadata { resource, server };
        flow.metadata = Some(found.clone());
        Ok(found)
    }

    async fn server_metadata(
        &self,
        flow: &mut Flow,
        issuer: &str,
    ) -> Result<AuthorizationServer, SignInError> {
        if let Some(found) = &flow.metadata
            && found.server.issuer == issuer
        {
            return Ok(found.server.clone());
        }
        let server = self.fetch_server_metadata(issuer).await?;
        flow.metadata = Some(Metadata {
            resource: None,
            server: server.clone(),
        });
        Ok(server)
    }

    async fn fetch_server_metadata(
        &self,
        issuer: &str,
    ) -> Result<AuthorizationServer, SignInError> {
        let url = Url::parse(issuer).map_err(|_| {
            SignInError::Unsupported(format!("the authorization server {issuer:?} is not a URL"))
        })?;
        for url in authorization_server_metadata_urls(&url) {
            if let Some(body) =
                endpoints::get_metadata(self.http()?, &url, "authorization server metadata").await?
            {
                return Ok(AuthorizationServer::parse(&body, issuer)?);
            }
        }
        Err(SignInError::NotOffered)
    }

    /// A new sign-in: discovery, the cross-process lock, then the grant the options ask for.
    async fn sign_in(
        &self,
        flow: &mut Flow,
        challenge: Option<&BearerChallenge>,
        scope: Option<String>,
    ) -> Result<(), SignInError> {
        let used = self.access_token();
        let metadata = self.discover(flow, challenge).await?;
        let issuer = metadata.server.issuer.clone();
        let _key = self.lock_key(&issuer).await?;
        let stored = self.store.load(&issuer, &self.resource)?;
        // Another bridge signed in while this one waited for the lock.
        if scope.is_none()
            && let Some(stored) = &stored
            && let Some(tokens) = &stored.tokens
            && Some(&tokens.access_token) != used.as_ref()
        {
            tracing::info!("signed in by another process; using its tokens");
            self.set_current(stored.clone());
            return Ok(());
        }
        let scope = scope.or_else(|| {
            scopes(
                self.options.scope.as_deref(),
                challenge.and_then(|c| c.scope.as_deref()),
                metadata.resource.as_ref(),
            )
        });
        let stored_client = stored.and_then(|s| s.client);
        let server = &metadata.server;
        let (client, tokens) = if self.options.client_credentials {
            self.client_credentials(server, stored_client, scope.as_deref())
                .await?
        } else if !self.options.browser && server.device_authorization_endpoint.is_some() {
            self.device(server, stored_client, scope.as_deref()).await?
        } else {
            self.browser(server, stored_client, scope.as_deref())
                .await?
        };
        self.keep(Credentials {
            issuer,
            resource: self.resource.clone(),
            client: Some(client),
            tokens: Some(tokens),
        })?;
        *lock(&self.pending_url) = None;
        // The breaker is for sign-ins nobody finishes; a finished one may be followed by a
        // step-up at once.
        self.store
            .clear_browser_opened(&metadata.server.issuer, &self.resource)?;
        tracing::info!(resource = %self.resource, "signed in");
        Ok(())
    }

    /// The client the user gave, if any.
    fn static_client(&self) -> Option<Client> {
        self.options.client_id.as_ref().map(|id| Client {
            client_id: id.clone(),
            client_secret: self.options.client_secret.clone(),
            auth_method: None,
            redirect_uri: None,
        })
    }

    async fn client_credentials(
        &self,
        server: &AuthorizationServer,
        stored: Option<Client>,
        scope: Option<&str>,
    ) -> Result<(Client, Tokens), SignInError> {
        let client = match self
            .static_client()
            .or(stored.filter(|c| c.client_secret.is_some()))
        {
            Some(client) => client,
            None => {
                endpoints::register(
                    self.http()?,
                    server,
                    Grant::ClientCredentials,
                    None,
                    &self.options.client_name,
                )
                .await?
            }
        };
        if client.client_secret.is_none() {
            return Err(SignInError::Unsupported(
                "the client credentials grant needs a client secret (MCP_OAUTH_CLIENT_SECRET or \
                 --oauth-client-secret-file)"
                    .to_owned(),
            ));
        }
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(scope) = scope {
            form.push(("scope", scope));
        }
        if self.options.resource {
            form.push(("resource", self.resource.as_str()));
        }
        let tokens =
            endpoints::token(self.http()?, server, &client, "token request", &form).await?;
        Ok((client, tokens))
    }

    /// The client for an interactive grant: the user's, a metadata document URL, the stored
    /// registration if its redirect URI still fits, else a new registration.
    async fn interactive_client(
        &self,
        server: &AuthorizationServer,
        stored: Option<Client>,
        grant: Grant,
        redirect_uri: Option<&str>,
    ) -> Result<Client, SignInError> {
        if let Some(client) = self.static_client() {
            return Ok(client);
        }
        if let Some(url) = &self.options.client_metadata_url
            && server.client_id_metadata_document_supported
        {
            return Ok(Client {
                client_id: url.clone(),
                client_secret: None,
                auth_method: Some("none".to_owned()),
                redirect_uri: redirect_uri.map(str::to_owned),
            });
        }
        if let Some(client) = stored
            && client.redirect_uri.as_deref() == redirect_uri
        {
            return Ok(client);
        }
        endpoints::register(
            self.http()?,
            server,
            grant,
            redirect_uri,
            &self.options.client_name,
        )
        .await
    }

    /// Authorization code with PKCE through the browser and the loopback callback.
    async fn browser(
        &self,
        server: &AuthorizationServer,
        stored: Option<Client>,
        scope: Option<&str>,
    ) -> Result<(Client, Tokens), SignInError> {
        let Some(endpoint) = &server.authorization_endpoint else {
            return Err(SignInError::Unsupported(
                "the authorization server has no authorization endpoint".to_owned(),
            ));
        };
        let callback = Callback::bind(&self.server, self.options.callback_port).await?;
        let redirect_uri = callback.redirect_uri();
        let client = self
            .interactive_client(server, stored, Grant::Code, Some(&redirect_uri))
            .await?;
        let pkce = Pkce::new()?;
        let state = pkce::random_token()?;
        let mut url = Url::parse(endpoint).map_err(|_| {
            SignInError::Unsupported("the authorization endpoint is not a URL".to_owned())
        })?;
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("response_type", "code")
                .append_pair("client_id", &client.client_id)
                .append_pair("redirect_uri", &redirect_uri)
                .append_pair("code_challenge", pkce.challenge())
                .append_pair("code_challenge_method", pkce::METHOD)
                .append_pair("state", &state);
            if let Some(scope) = scope {
                query.append_pair("scope", scope);
            }
            if self.options.resource {
                query.append_pair("resource", &self.resource);
            }
            for (name, value) in &self.options.params {
                query.append_pair(name, value);
            }
        }
        self.show(&server.issuer, &url, "Sign in");
        let issuer = server
            .authorization_response_iss_parameter_supported
            .then_some(server.issuer.as_str());
        let code = callback
            .code(&state, issuer, self.options.timeout)
            .await
            .map_err(|source| SignInError::Callback {
                url: url.to_string(),
                source,
            })?;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect_uri.as_str()),
            ("code_verifier", pkce.verifier()),
        ];
        if self.options.resource {
            form.push(("resource", self.resource.as_str()));
        }
        let tokens =
            endpoints::token(self.http()?, server, &client, "token request", &form).await?;
        Ok((client, tokens))
    }

    /// The device authorization grant (RFC 8628): a code the user enters elsewhere.
    async fn device(
        &self,
        server: &AuthorizationServer,
        stored: Option<Client>,
        scope: Option<&str>,
    ) -> Result<(Client, Tokens), SignInError> {
        let endpoint = server
            .device_authorization_endpoint
            .as_deref()
            .unwrap_or_default();
        let client = self
            .interactive_client(server, stored, Grant::Device, None)
            .await?;
        let mut form = Vec::new();
        if let Some(scope) = scope {
            form.push(("scope", scope));
        }
        if self.options.resource {
            form.push(("resource", self.resource.as_str()));
        }
        let device =
            endpoints::device_authorization(self.http()?, endpoint, &client, &form).await?;
        let shown = device
            .verification_uri_complete
            .clone()
            .unwrap_or_else(|| device.verification_uri.clone());
        *lock(&self.pending_url) = Some(shown.clone());
        eprintln!(
            "mcp-wrapper: to sign in to {}, visit {} and enter the code {}",
            self.resource, device.verification_uri, device.user_code
        );
        if let Some(complete) = &device.verification_uri_complete {
            eprintln!("mcp-wrapper: or open {complete}");
        }
        let lifetime = device
            .expires_in
            .map_or(self.options.timeout, Duration::from_secs)
            .min(self.options.timeout);
        let deadline = tokio::time::Instant::now() + lifetime;
        let mut interval = Duration::from_secs(device.interval.max(1));
        let mut form = vec![
            ("grant_type", DEVICE_CODE),
            ("device_code", device.device_code.as_str()),
        ];
        if self.options.resource {
            form.push(("resource", self.resource.as_str()));
        }
        loop {
            tokio::time::sleep_until((tokio::time::Instant::now() + interval).min(deadline)).await;
            match endpoints::token(self.http()?, server, &client, "token request", &form).await {
                Ok(tokens) => return Ok((client, tokens)),
                Err(e) => {
                    if endpoints::device_poll(&e, &mut interval).is_none() {
                        return Err(e);
                    }
                    if tokio::time::Instant::now() >= deadline {
                        return Err(SignInError::Callback {
                            url: shown,
                            source: CallbackError::TimedOut(lifetime),
                        });
                    }
                }
            }
        }
    }

    /// Prints the URL (always) and opens it in a browser (unless `--oauth-no-browser`, or a
    /// browser was opened for this server less than a minute ago by any process).
    fn show(&self, issuer: &str, url: &Url, what: &str) {
        *lock(&self.pending_url) = Some(url.to_string());
        eprintln!("mcp-wrapper: {what} to {} at:\n  {url}", self.resource);
        if !self.options.browser {
            return;
        }
        let at = now();
        if let Some(last) = self.store.browser_opened_at(issuer, &self.resource)
            && at.saturating_sub(last) < BROWSER_BREAKER
        {
            tracing::warn!(
                "a browser was opened for this server less than a minute ago; not opening another (use the URL above)"
            );
            return;
        }
        if let Err(e) = self.store.mark_browser_opened(issuer, &self.resource, at) {
            tracing::warn!(error = %e, "cannot record the browser opening");
        }
        if let Err(e) = browser::open(url) {
            tracing::warn!(error = %e, "cannot open a browser; open the URL above");
        }
    }
}

/// Space-separated scopes of `a` and `b`, each once, in order.
fn union(a: Option<&str>, b: Option<&str>) -> String {
    let mut out: Vec<&str> = Vec::new();
    for scope in a
        .unwrap_or_default()
        .split_whitespace()
        .chain(b.unwrap_or_default().split_whitespace())
    {
        if !out.contains(&scope) {
            out.push(scope);
        }
    }
    out.join(" ")
}

/// A poisoned lock still holds consistent data here (plain values, replaced whole).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_up_asks_for_the_union_of_scopes() {
        assert_eq!(union(Some("read"), Some("read write")), "read write");
        assert_eq!(union(None, Some("a")), "a");
        assert_eq!(union(Some("a b"), None), "a b");
    }
}
