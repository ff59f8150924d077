// A real OAuth 2.1 authorization server (npm `oidc-provider`, OpenID Certified) and an MCP
// resource server that trusts it, for the tests of mcp-wrapper's sign-in. Test use only.
//
// Start: `node server.mjs [--access-ttl SECONDS] [--issuer-path PATH] [--oauth-metadata]
//                         [--device-interval SECONDS]`
// (install first: `npm ci --prefix python-tests/oidc`). Both servers listen on 127.0.0.1, on
// ports the system picks. When both listen, ONE line of JSON goes to stdout:
//
//   {"issuer": "http://127.0.0.1:P/oidc",    the authorization server (AS), origin A
//    "rs": "http://127.0.0.1:Q/mcp",         the MCP endpoint (resource server, RS), origin B
//    "prm": "http://127.0.0.1:Q/.well-known/oauth-protected-resource/mcp",
//    "control": "http://127.0.0.1:Q/_test"}  records and switches, origin B
//
// Everything else (oidc-provider's notices included) goes to stderr. SIGTERM or SIGINT stops it.
//
// Options:
//   --access-ttl SECONDS  lifetime of access tokens (authorization code, refresh, device and
//                         client credentials grants); default 3600.
//   --issuer-path PATH    path of the issuer on origin A; default "/oidc". "" or "/" gives an
//                         issuer without a path ("http://127.0.0.1:P").
//   --oauth-metadata      also serve RFC 8414 metadata at
//                         /.well-known/oauth-authorization-server{issuer path}. Off by default:
//                         oidc-provider serves only {issuer}/.well-known/openid-configuration, so
//                         an MCP client must reach the OpenID Connect Discovery fallback.
//   --device-interval SECONDS
//                         add `interval` to device authorization responses. oidc-provider sends
//                         none (so RFC 8628 clients poll every 5 s) and never answers slow_down.
//
// Authorization server (oidc-provider 9, under the issuer path):
//   {issuer}/.well-known/openid-configuration   discovery
//   {issuer}/reg              Dynamic Client Registration (RFC 7591), open (no initial token)
//   {issuer}/auth             authorization endpoint; PKCE S256 required for every client
//   {issuer}/token            grants: authorization_code, refresh_token (rotated at every use),
//                             client_credentials, urn:ietf:params:oauth:grant-type:device_code
//   {issuer}/device/auth      device authorization (RFC 8628)
//   {issuer}/device           verification_uri (HTML pages with forms)
//   {issuer}/token/revocation, {issuer}/token/introspection, {issuer}/jwks, {issuer}/me
//   {issuer}/interaction/UID  the login + consent step, completed at once (see below)
// Resource indicators (RFC 8707): the only resource it knows is the RS URL, exactly; any other
// value is `invalid_target`. Access tokens for it are JWTs (RFC 9068, typ at+jwt, RS256) with
// aud = the RS URL, scope, client_id, sub (the account, or the client_id for client_credentials).
// Its scopes: "mcp:tools" (plus the OpenID ones: openid, offline_access, profile, email).
// Refresh tokens come with every code or device grant whose client registered the
// refresh_token grant type (no offline_access or prompt=consent needed).
//
// Interactions: a user agent that GETs the authorization URL is redirected (303, with cookies)
// to {issuer}/interaction/UID, which logs in the fixed account "test-user" and grants every
// requested scope and resource at once, then back to {issuer}/auth/UID, which redirects to the
// client's redirect_uri with code, state and iss. With the mode "deny" (see below) the
// interaction ends with error=access_denied instead.
//
// Resource server (ours), origin B:
//   POST /mcp     Streamable HTTP, JSON responses only. Without a valid bearer token: 401 with
//                 WWW-Authenticate: Bearer resource_metadata="<prm>", scope="mcp:tools"
//                 (plus error="invalid_token", error_description="..." when a token was sent).
//                 A token is valid when it is a JWT signed by a key of the AS's jwks_uri, with
//                 typ at+jwt, iss = issuer, aud = the RS URL, not past exp, and not expired by
//                 POST /_test/expire-access. Methods: initialize (echoes protocolVersion if it
//                 is 2025-03-26, 2025-06-18 or 2025-11-25, else answers 2025-11-25; issues
//                 Mcp-Session-Id), ping, tools/list (whoami, echo), tools/call; notifications
//                 and responses get 202. An unknown Mcp-Session-Id gets 404.
//   GET /mcp → 405; DELETE /mcp → 204 (ends the session). /mcp/ is the same endpoint.
//   GET /.well-known/oauth-protected-resource/mcp   RFC 9728 metadata:
//                 {resource: RS URL, authorization_servers: [issuer], scopes_supported, ...}
//
// What an MCP client meets here (oidc-provider 9.13 behaviour, proved by
// python-tests/test_oidc_fixture.py where marked *):
//   - discovery: only {issuer}/.well-known/openid-configuration* (no RFC 8414 document unless
//     --oauth-metadata); scopes_supported lists the OpenID scopes only, not "mcp:tools" (the
//     PRM has it); token_endpoint_auth_methods_supported: client_secret_basic,
//     client_secret_jwt, client_secret_post, private_key_jwt, none*;
//     code_challenge_methods_supported: ["S256"]*; authorization_response_iss_parameter_supported*.
//   - DCR: defaults are application_type "web", grant_types ["authorization_code"],
//     token_endpoint_auth_method "client_secret_basic": register grant_types with
//     "refresh_token" to get refresh tokens, and "none" for a public client. A "native" client
//     may use http://127.0.0.1|localhost|[::1] redirect URIs and then any port matches at the
//     authorization endpoint* (RFC 8252); a "web" one must match exactly. Unknown metadata is
//     dropped silently.
//   - unknown request parameters are ignored; a repeated parameter is invalid_request (except
//     `resource` at the authorization endpoint); unknown scopes are dropped silently.
//   - `resource` must be sent at the authorization endpoint and again at the token endpoint:
//     with "openid" in the scope, a code exchange or refresh without it yields an opaque token
//     for userinfo that the RS refuses*. At most one resource per token request.
//   - every authorization response (success or error) has iss*; state is echoed*.
//   - refresh tokens rotate at every use*; presenting a rotated-out one is invalid_grant AND
//     revokes the whole grant, so the newest refresh token dies too*.
//   - device authorization answers device_code, user_code (XXXX-XXXX), verification_uri,
//     verification_uri_complete, expires_in: no interval (unless --device-interval)*; polling
//     early is authorization_pending*, a used device code invalid_grant*; never slow_down.
//   - client_credentials: confidential clients (client_secret_basic*/post); without
//     `resource` the token is opaque*.
//   - oidc-provider warns on stderr that Node 20 is not a supported runtime (it works).
//
// Control, origin B (all answer JSON; POST parameters come from the query string or a form
// body):
//   GET  /_test/records              everything recorded so far (shape below)
//   POST /_test/reset-records        forget the records
//   POST /_test/expire-access        every access token issued so far is expired for the RS
//                                    (401 invalid_token); later ones are valid
//   POST /_test/revoke-refresh       destroy every refresh token issued so far: the next
//                                    refresh_token grant with one gets invalid_grant
//   POST /_test/approve-device?user_code=XXXX-XXXX
//                                    drives the AS's own device pages like a browser (GET the
//                                    verification_uri_complete, POST its forms with the cookies,
//                                    follow redirects through the interaction); answers
//                                    {"approved": true, "steps": [...]} or 400 {"error": ...}
//   POST /_test/browse?url=URL[&stop_at=PREFIX]
//                                    the same user agent, for an authorization URL: follows
//                                    every redirect (the interaction, then the client's
//                                    redirect_uri: a loopback listener gets the code as from a
//                                    browser) and answers {status, url, text, steps: [{method,
//                                    url, status}]} for the last page; with stop_at, it stops
//                                    before fetching a URL starting with PREFIX (status null,
//                                    url = that URL). 502 {error} if a fetch fails (nothing
//                                    listening). A browser opener for the bridge can be
//                                    `curl -s --data-urlencode url=... <control>/browse`.
//   POST /_test/interaction-mode?mode=approve|deny
//                                    how later interactions end (default approve)
//
// Records (GET /_test/records), lists in arrival order:
//   registrations:  {request: <DCR body>, status, client_id?, error?, error_description?,
//                    response?}
//   authorize:      {route: "authorization"|"resume", method, params: {raw query or form},
//                    status, location?, error?}
//   token:          {grant_type, resource (string, list or null), params: {raw form},
//                    client_id, status, ok, error?, error_description?, issued?: {token_type,
//                    scope, expires_in, refresh_token: bool, access_token_format: "jwt"|"opaque"}}
//   device_authorizations: {params, status, user_code?, verification_uri?, error?}
//   revocations, introspections: {params, status, error?}
//   interactions:   {uid, prompt, params, result: "login"|"consent"|"deny"}
//   rs:             {method, path, rpc_method, token: "missing"|"valid"|"invalid", status,
//                    error_description?, client_id?, scope?, aud?}
//   unauthorized:   the rs records with status 401
//   expired_access_jtis, revoked_refresh_count

import * as crypto from 'node:crypto';
import * as http from 'node:http';

import * as jose from 'jose';
import Provider, { errors } from 'oidc-provider';

// stdout carries the one JSON line only: oidc-provider prints its notices with console.info.
for (const name of ['log', 'info', 'warn', 'debug']) {
  console[name] = (...args) => console.error(...args);
}

// ---- arguments ----------------------------------------------------------------------------

function parseArgs(argv) {
  const options = {
    accessTtl: 3600, issuerPath: '/oidc', oauthMetadata: false, deviceInterval: undefined,
  };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${arg} needs a value`);
      i += 1;
      return argv[i];
    };
    if (arg === '--access-ttl') {
      options.accessTtl = Number(value());
      if (!Number.isSafeInteger(options.accessTtl) || options.accessTtl < 1) {
        throw new Error('--access-ttl must be a positive integer (seconds)');
      }
    } else if (arg === '--issuer-path') {
      let path = value();
      if (path === '/') path = '';
      if (path && (!path.startsWith('/') || path.endsWith('/'))) {
        throw new Error('--issuer-path must start with "/" and not end with one');
      }
      options.issuerPath = path;
    } else if (arg === '--device-interval') {
      options.deviceInterval = Number(value());
      if (!Number.isSafeInteger(options.deviceInterval) || options.deviceInterval < 0) {
        throw new Error('--device-interval must be a non-negative integer (seconds)');
      }
    } else if (arg === '--oauth-metadata') {
      options.oauthMetadata = true;
    } else {
      throw new Error(`unknown argument ${arg}`);
    }
  }
  return options;
}

const options = parseArgs(process.argv.slice(2));
const { accessTtl, issuerPath } = options;
const ACCOUNT = 'test-user';
const RS_SCOPES = ['mcp:tools'];
const PROTOCOL_VERSIONS = new Set(['2025-03-26', '2025-06-18', '2025-11-25']);

// ---- records and switches -----------------------------------------------------------------

const records = {
  registrations: [],
  authorize: [],
  token: [],
  device_authorizations: [],
  revocations: [],
  introspections: [],
  interactions: [],
  rs: [],
};
const issuedAccessJtis = new Set(); // every access token (code, refresh, device, client creds)
const expiredAccessJtis = new Set(); // those POST /_test/expire-access expired
const issuedRefreshTokens = new Set(); // values of every refresh token saved
let revokedRefreshCount = 0;
let interactionMode = 'approve';

function resetRecords() {
  for (const list of Object.values(records)) list.length = 0;
}

function snapshot() {
  return {
    ...records,
    unauthorized: records.rs.filter((r) => r.status === 401),
    expired_access_jtis: [...expiredAccessJtis],
    revoked_refresh_count: revokedRefreshCount,
    interaction_mode: interactionMode,
  };
}

// ---- two listening sockets first: the issuer and the RS URL need their ports ---------------

function listen(server) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server.address().port));
  });
}

const asServer = http.createServer();
const rsServer = http.createServer();
const asPort = await listen(asServer);
const rsPort = await listen(rsServer);
const asOrigin = `http://127.0.0.1:${asPort}`;
const rsOrigin = `http://127.0.0.1:${rsPort}`;
const issuer = `${asOrigin}${issuerPath}`;
const rsUrl = `${rsOrigin}/mcp`;
const prmUrl = `${rsOrigin}/.well-known/oauth-protected-resource/mcp`;
const controlUrl = `${rsOrigin}/_test`;

// ---- the authorization server --------------------------------------------------------------

const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
const signingKey = { ...(await jose.exportJWK(privateKey)), kid: 'fixture-rs256', use: 'sig', alg: 'RS256' };

const provider = new Provider(issuer, {
  clients: [],
  jwks: { keys: [signingKey] },
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
  async findAccount(_ctx, sub) {
    return {
      accountId: sub,
      async claims() {
        return { sub, name: 'Test User', email: 'test-user@example.test', email_verified: true };
      },
    };
  },
  claims: {
    openid: ['sub'],
    profile: ['name'],
    email: ['email', 'email_verified'],
  },
  // PKCE for every client, public or confidential (oidc-provider 9 knows S256 only).
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: false }, // ours below
    registration: { enabled: true, initialAccessToken: false },
    deviceFlow: { enabled: true },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // no `resource` on the request: no default (the token is then for userinfo if the
      // scope has openid, else for the resource granted; see resolve_resource.js).
      async defaultResource(_ctx, _client, oneOf) {
        return oneOf;
      },
      // a refresh or code exchange without `resource` keeps oidc-provider's default rule
      async useGrantedResource() {
        return false;
      },
      async getResourceServerInfo(_ctx, resourceIndicator) {
        if (resourceIndicator !== rsUrl) {
          throw new errors.InvalidTarget(`unknown resource ${resourceIndicator}; this server knows ${rsUrl}`);
        }
        return {
          scope: RS_SCOPES.join(' '),
          audience: rsUrl,
          accessTokenTTL: accessTtl,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
  // A refresh token with every code/device grant of a client allowed to refresh, without
  // offline_access (which oidc-provider drops unless prompt=consent is sent too).
  async issueRefreshToken(_ctx, client) {
    return client.grantTypeAllowed('refresh_token');
  },
  rotateRefreshToken: true,
  // Tokens outlive the browser session (no logout in these tests).
  async expiresWithSession() {
    return false;
  },
  ttl: {
    AccessToken: accessTtl,
    ClientCredentials: accessTtl,
    AuthorizationCode: 60,
    DeviceCode: 600,
    IdToken: 3600,
    RefreshToken: 14 * 24 * 3600,
    Interaction: 3600,
    Session: 14 * 24 * 3600,
    Grant: 14 * 24 * 3600,
  },
  interactions: {
    url(_ctx, interaction) {
      return `${issuerPath}/interaction/${interaction.uid}`;
    },
  },
  // Errors the user agent sees (bad client, bad redirect_uri...) as JSON, not HTML.
  async renderError(ctx, out) {
    ctx.type = 'json';
    ctx.body = out;
  },
  clientBasedCORS: () => true,
});

provider.on('server_error', (_ctx, err) => console.error('oidc-provider server_error:', err));
for (const kind of ['access_token', 'client_credentials']) {
  provider.on(`${kind}.issued`, (token) => issuedAccessJtis.add(token.jti));
}
provider.on('refresh_token.saved', (token) => issuedRefreshTokens.add(token.jti));

function rawParams(ctx) {
  const params = { ...ctx.query };
  if (ctx.oidc?.body && typeof ctx.oidc.body === 'object') Object.assign(params, ctx.oidc.body);
  return params;
}

function errorOf(ctx) {
  const body = ctx.body && typeof ctx.body === 'object' && !Buffer.isBuffer(ctx.body) ? ctx.body : {};
  return body.error ? { error: body.error, error_description: body.error_description } : {};
}

// Records every request to the endpoints the tests look at, after oidc-provider answered.
provider.use(async (ctx, next) => {
  try {
    await next();
  } finally {
    const route = ctx.oidc?.route;
    const params = rawParams(ctx);
    const base = { status: ctx.status };
    if (route === 'registration') {
      const body = ctx.body && typeof ctx.body === 'object' ? ctx.body : {};
      records.registrations.push({
        request: ctx.oidc?.body ?? null,
        ...base,
        ...errorOf(ctx),
        ...(body.client_id ? { client_id: body.client_id, response: body } : {}),
      });
    } else if (route === 'authorization' || route === 'resume') {
      const location = ctx.response.get('location') || undefined;
      let error;
      if (location) {
        error = new URL(location, asOrigin).searchParams.get('error') ?? undefined;
      }
      records.authorize.push({
        route, method: ctx.method, params, ...base, location, ...(error ? { error } : {}), ...errorOf(ctx),
      });
    } else if (route === 'token') {
      const body = ctx.body && typeof ctx.body === 'object' ? ctx.body : {};
      const ok = ctx.status === 200 && Boolean(body.access_token);
      records.token.push({
        grant_type: params.grant_type ?? null,
        resource: params.resource ?? null,
        params,
        client_id: ctx.oidc?.client?.clientId ?? params.client_id ?? null,
        ...base,
        ok,
        ...errorOf(ctx),
        // The values too, so that tests can grep the bridge's output for them.
        access_token: ok ? body.access_token : null,
        refresh_token: ok ? body.refresh_token ?? null : null,
        ...(ok ? {
          issued: {
            token_type: body.token_type,
            scope: body.scope ?? null,
            expires_in: body.expires_in,
            refresh_token: Boolean(body.refresh_token),
            access_token_format: body.access_token.split('.').length === 3 ? 'jwt' : 'opaque',
          },
        } : {}),
      });
    } else if (route === 'device_authorization') {
      let body = ctx.body && typeof ctx.body === 'object' ? ctx.body : {};
      if (body.device_code && options.deviceInterval !== undefined) {
        body = { ...body, interval: options.deviceInterval };
        ctx.body = body;
      }
      records.device_authorizations.push({
        params, ...base, ...errorOf(ctx),
        ...(body.user_code ? { user_code: body.user_code, verification_uri: body.verification_uri } : {}),
      });
    } else if (route === 'revocation') {
      records.revocations.push({ params, ...base, ...errorOf(ctx) });
    } else if (route === 'introspection') {
      records.introspections.push({ params, ...base, ...errorOf(ctx) });
    }
  }
});

// The interaction: log in the fixed account, then grant what is asked, at once.
async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  const { uid, prompt, params, session } = details;
  const record = { uid, prompt: prompt.name, params: { ...params } };
  let result;
  if (interactionMode === 'deny') {
    record.result = 'deny';
    result = { error: 'access_denied', error_description: 'denied by the test (interaction-mode deny)' };
  } else if (prompt.name === 'login') {
    record.result = 'login';
    result = { login: { accountId: ACCOUNT } };
  } else if (prompt.name === 'consent') {
    record.result = 'consent';
    const { grantId } = details;
    const grant = grantId
      ? await provider.Grant.find(grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = prompt.details;
    if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '));
    if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
    if (missingResourceScopes) {
      for (const [indicator, scopes] of Object.entries(missingResourceScopes)) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
    }
    result = { consent: { grantId: await grant.save() } };
  } else {
    throw new Error(`unexpected prompt ${prompt.name}`);
  }
  records.interactions.push(record);
  await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: true });
}

const providerCallback = provider.callback();
const interactionPath = new RegExp(`^${issuerPath}/interaction/[^/?]+(?:\\?.*)?$`);

async function openidConfiguration() {
  const response = await fetch(`${issuer}/.well-known/openid-configuration`);
  return response.json();
}

asServer.on('request', (req, res) => {
  (async () => {
    const path = req.url.split('?')[0];
    if (req.method === 'GET' && interactionPath.test(req.url)) {
      await interaction(req, res);
      return;
    }
    if (options.oauthMetadata && req.method === 'GET'
        && path === `/.well-known/oauth-authorization-server${issuerPath}`) {
      sendJson(res, 200, await openidConfiguration());
      return;
    }
    if (path === issuerPath || path.startsWith(`${issuerPath}/`)) {
      // Mounted under the issuer path: oidc-provider reads the prefix from originalUrl.
      req.originalUrl = req.url;
      req.url = req.url.slice(issuerPath.length) || '/';
      providerCallback(req, res);
      return;
    }
    sendJson(res, 404, { error: 'not_found' });
  })().catch((err) => {
    console.error('AS request failed:', err);
    if (!res.headersSent) sendJson(res, 500, { error: 'server_error', error_description: String(err) });
    else res.end();
  });
});

// ---- the device flow, driven like a browser -------------------------------------------------

// A tiny user agent: keeps cookies, follows redirects, submits the one POST form of a page
// with its hidden inputs (oidc-provider's auto-submit and confirmation pages).
async function browse(startUrl, stopAt) {
  const jar = new Map();
  const steps = [];
  let url = startUrl;
  let method = 'GET';
  let body;
  for (let i = 0; i < 20; i += 1) {
    if (stopAt && url.startsWith(stopAt)) return { status: null, url, text: '', steps };
    const headers = { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') };
    if (body) headers['content-type'] = 'application/x-www-form-urlencoded';
    const response = await fetch(url, { method, headers, body, redirect: 'manual' });
    for (const cookie of response.headers.getSetCookie()) {
      const [pair] = cookie.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (/expires=Thu, 01 Jan 1970/i.test(cookie) || value === '') jar.delete(name);
      else jar.set(name, value);
    }
    steps.push({ method, url, status: response.status });
    const location = response.headers.get('location');
    if (response.status >= 300 && response.status < 400 && location) {
      url = new URL(location, url).href;
      method = 'GET';
      body = undefined;
      continue;
    }
    const text = await response.text();
    const form = /<form[^>]*method="post"[^>]*action="([^"]+)"[^>]*>([\s\S]*?)<\/form>/i.exec(text)
      ?? /<form[^>]*action="([^"]+)"[^>]*method="post"[^>]*>([\s\S]*?)<\/form>/i.exec(text);
    if (response.status !== 200 || !form) {
      return { status: response.status, url, text, steps };
    }
    const inputs = new URLSearchParams();
    for (const m of form[2].matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"\/>/g)) {
      inputs.append(m[1], decodeHtml(m[2]));
    }
    url = new URL(decodeHtml(form[1]), url).href;
    method = 'POST';
    body = inputs.toString();
  }
  throw new Error('too many steps');
}

function decodeHtml(s) {
  return s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

async function approveDevice(userCode) {
  const start = new URL(`${issuer}/device`);
  start.searchParams.set('user_code', userCode);
  const { status, text, steps } = await browse(start.href);
  if (status === 200 && text.includes('Sign-in Success')) return { approved: true, steps };
  return { approved: false, status, steps, page: text.slice(0, 2000) };
}

// ---- the resource server --------------------------------------------------------------------

let jwks;
async function verifyAccessToken(token) {
  if (!jwks) {
    const { jwks_uri: jwksUri } = await openidConfiguration();
    jwks = jose.createRemoteJWKSet(new URL(jwksUri));
  }
  const { payload } = await jose.jwtVerify(token, jwks, {
    issuer,
    audience: rsUrl,
    typ: 'at+jwt',
    algorithms: ['RS256'],
  });
  if (expiredAccessJtis.has(payload.jti)) {
    throw new Error('the access token expired (POST /_test/expire-access)');
  }
  return payload;
}

function sendJson(res, status, value, headers = {}) {
  const body = JSON.stringify(value);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}

function quote(s) {
  return `"${String(s).replace(/["\\]/g, '\\$&')}"`;
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

const sessions = new Set();

const TOOLS = [
  {
    name: 'whoami',
    description: 'Who the access token says the caller is: client_id, scope, audience, subject.',
    inputSchema: { type: 'object', properties: {} },
  },
  {
    name: 'echo',
    description: 'Answers its text argument.',
    inputSchema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] },
  },
];

function answer(message, claims) {
  const { id, method, params = {} } = message;
  const ok = (result) => ({ jsonrpc: '2.0', id, result });
  const fail = (code, text) => ({ jsonrpc: '2.0', id, error: { code, message: text } });
  switch (method) {
    case 'initialize': {
      const asked = params.protocolVersion;
      return ok({
        protocolVersion: PROTOCOL_VERSIONS.has(asked) ? asked : '2025-11-25',
        capabilities: { tools: {} },
        serverInfo: { name: 'oidc-fixture-rs', version: '1.0.0' },
      });
    }
    case 'ping':
      return ok({});
    case 'tools/list':
      return ok({ tools: TOOLS });
    case 'tools/call': {
      if (params.name === 'whoami') {
        const who = {
          client_id: claims.client_id,
          scope: claims.scope ?? null,
          aud: claims.aud,
          sub: claims.sub,
          iss: claims.iss,
        };
        return ok({ content: [{ type: 'text', text: JSON.stringify(who) }], structuredContent: who, isError: false });
      }
      if (params.name === 'echo') {
        return ok({ content: [{ type: 'text', text: String(params.arguments?.text ?? '') }], isError: false });
      }
      return fail(-32602, `unknown tool ${params.name}`);
    }
    default:
      return fail(-32601, `method not found: ${method}`);
  }
}

async function mcp(req, res, record) {
  const header = req.headers.authorization;
  // auth-params of the challenge: error ones first when a token was sent
  const challenge = [`resource_metadata=${quote(prmUrl)}`, `scope=${quote(RS_SCOPES.join(' '))}`];
  let claims;
  if (!header || !/^Bearer\s+\S+$/i.test(header)) {
    record.token = 'missing';
  } else {
    try {
      claims = await verifyAccessToken(header.replace(/^Bearer\s+/i, ''));
      record.token = 'valid';
      Object.assign(record, { client_id: claims.client_id, scope: claims.scope ?? null, aud: claims.aud });
    } catch (err) {
      record.token = 'invalid';
      record.error_description = err.message;
      challenge.unshift('error="invalid_token"', `error_description=${quote(err.message)}`);
    }
  }
  let text = '';
  if (req.method === 'POST') text = await readBody(req);
  let parsed;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  const messages = Array.isArray(parsed) ? parsed : parsed ? [parsed] : [];
  record.rpc_method = messages.map((m) => m.method ?? (m.result !== undefined ? 'response' : null)).join(',') || null;

  if (!claims) {
    sendJson(res, 401, { error: record.token === 'missing' ? 'unauthorized' : 'invalid_token' }, {
      'www-authenticate': `Bearer ${challenge.join(', ')}`,
    });
    return 401;
  }
  if (req.method === 'GET') {
    sendJson(res, 405, { error: 'no SSE stream here' }, { allow: 'POST, DELETE' });
    return 405;
  }
  const sessionId = req.headers['mcp-session-id'];
  if (req.method === 'DELETE') {
    if (sessionId) sessions.delete(sessionId);
    res.writeHead(204).end();
    return 204;
  }
  if (req.method !== 'POST') {
    sendJson(res, 405, { error: 'method not allowed' }, { allow: 'POST, DELETE' });
    return 405;
  }
  if (messages.length === 0 || messages.some((m) => typeof m !== 'object' || m === null || m.jsonrpc !== '2.0')) {
    sendJson(res, 400, { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'not JSON-RPC' } });
    return 400;
  }
  const initializing = messages.some((m) => m.method === 'initialize');
  if (sessionId && !initializing && !sessions.has(sessionId)) {
    sendJson(res, 404, { jsonrpc: '2.0', id: null, error: { code: -32001, message: 'unknown session' } });
    return 404;
  }
  const responses = messages.filter((m) => m.id !== undefined && m.method !== undefined)
    .map((m) => answer(m, claims));
  if (responses.length === 0) {
    res.writeHead(202).end();
    return 202;
  }
  const headers = {};
  if (initializing) {
    const id = crypto.randomUUID();
    sessions.add(id);
    headers['mcp-session-id'] = id;
  }
  sendJson(res, 200, Array.isArray(parsed) ? responses : responses[0], headers);
  return 200;
}

async function control(req, res, url) {
  const name = url.pathname.slice('/_test/'.length);
  if (req.method === 'GET' && name === 'records') return sendJson(res, 200, snapshot());
  if (req.method !== 'POST') return sendJson(res, 405, { error: 'POST only' });
  // parameters: the query string, and a form body if any (curl --data-urlencode)
  const params = new URLSearchParams(url.search);
  const form = await readBody(req);
  if ((req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
    for (const [key, value] of new URLSearchParams(form)) params.set(key, value);
  }
  switch (name) {
    case 'reset-records':
      resetRecords();
      return sendJson(res, 200, { reset: true });
    case 'expire-access':
      for (const jti of issuedAccessJtis) expiredAccessJtis.add(jti);
      return sendJson(res, 200, { expired: expiredAccessJtis.size });
    case 'revoke-refresh': {
      let revoked = 0;
      for (const value of issuedRefreshTokens) {
        const token = await provider.RefreshToken.find(value, { ignoreExpiration: true });
        if (token) {
          await token.destroy();
          revoked += 1;
        }
      }
      issuedRefreshTokens.clear();
      revokedRefreshCount += revoked;
      return sendJson(res, 200, { revoked });
    }
    case 'approve-device': {
      const userCode = params.get('user_code');
      if (!userCode) return sendJson(res, 400, { error: 'user_code is required' });
      const result = await approveDevice(userCode);
      return sendJson(res, result.approved ? 200 : 400, result.approved ? result : { error: 'not approved', ...result });
    }
    case 'browse': {
      const start = params.get('url');
      if (!start) return sendJson(res, 400, { error: 'url is required' });
      try {
        const result = await browse(start, params.get('stop_at') ?? undefined);
        return sendJson(res, 200, { ...result, text: result.text.slice(0, 2000) });
      } catch (err) {
        return sendJson(res, 502, { error: String(err.cause ?? err) });
      }
    }
    case 'interaction-mode': {
      const mode = params.get('mode');
      if (mode !== 'approve' && mode !== 'deny') return sendJson(res, 400, { error: 'mode is approve or deny' });
      interactionMode = mode;
      return sendJson(res, 200, { mode });
    }
    default:
      return sendJson(res, 404, { error: `unknown control ${name}` });
  }
}

rsServer.on('request', (req, res) => {
  (async () => {
    const url = new URL(req.url, rsOrigin);
    if (url.pathname.startsWith('/_test/')) {
      await control(req, res, url);
      return;
    }
    if (req.method === 'GET' && url.pathname === '/.well-known/oauth-protected-resource/mcp') {
      sendJson(res, 200, {
        resource: rsUrl,
        authorization_servers: [issuer],
        scopes_supported: RS_SCOPES,
        bearer_methods_supported: ['header'],
        resource_name: 'oidc-fixture MCP server',
      });
      return;
    }
    // '/mcp/' too: mcp-wrapper normalises a URL ending in /mcp to /mcp/, as mcpgateway.wrapper does.
    if (url.pathname === '/mcp' || url.pathname === '/mcp/') {
      const record = { method: req.method, path: url.pathname };
      records.rs.push(record);
      record.status = await mcp(req, res, record);
      return;
    }
    sendJson(res, 404, { error: 'not_found' });
  })().catch((err) => {
    console.error('RS request failed:', err);
    if (!res.headersSent) sendJson(res, 500, { error: String(err) });
    else res.end();
  });
});

// ---- ready, and stop ------------------------------------------------------------------------

function stop() {
  asServer.close();
  rsServer.close();
  asServer.closeAllConnections();
  rsServer.closeAllConnections();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

process.stdout.write(`${JSON.stringify({ issuer, rs: rsUrl, prm: prmUrl, control: controlUrl })}\n`);
