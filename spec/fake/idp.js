// Fake identity provider for the sign-in specs, mounted into server.js
// (mount(require('./idp')), see "Extension modules" there): the Scalekit
// environment's OAuth 2.0 / OpenID Connect side.
//
//   GET  /keys               the JWKS (RS256 keys), with Cache-Control max-age
//   GET  /oauth/authorize    a small HTML login form (or, auto-approving, a redirect)
//   POST /oauth/authorize    the form's submit: redirect back with code and state
//   POST /oauth/token        grant_type authorization_code (PKCE) and refresh_token;
//                            client_credentials stays server.js's
//   GET  /oidc/logout        ends the session, redirects to post_logout_redirect_uri
//
// plus controls under /_fake/idp/ (see README.md, "Fake identity provider").
// Tokens are RS256 JWTs whose iss is http://<the request's Host header>,
// i.e. the environment URL the client uses. Node's standard library only.
'use strict';

const crypto = require('crypto');
const http = require('http');

const b64url = (buf) => Buffer.from(buf).toString('base64url');
const nowSeconds = () => Math.floor(Date.now() / 1000);
const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const escapeHtml = (s) => String(s).replace(/[&<>"']/g,
  (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));

// The default webhook secret (Standard Webhooks: whsec_ + base64 of the key).
const DEFAULT_WEBHOOK_SECRET = `whsec_${Buffer.from('scalekit-lua fake webhook key 01').toString('base64')}`;

const DEFAULT_CONFIG = {
  auto_approve: false,        // /oauth/authorize redirects at once instead of showing the form
  email: 'user@example.com',  // who signs in when auto-approving (login_hint wins)
  access_token_ttl: 3600,     // seconds; negative issues already expired tokens
  id_token_ttl: 3600,
  code_ttl: 60,
  keys_max_age: 3600,         // Cache-Control max-age of /keys; null: no header
  rotate_refresh_tokens: true, // a refresh token works once; the grant returns a new one
  id_token_claims: {},        // merged into every ID token issued (null deletes a claim)
  access_token_claims: {},    // merged into every access token issued
  webhook_secret: DEFAULT_WEBHOOK_SECRET,
};

const CONFIG_TYPES = {
  auto_approve: 'boolean', email: 'string', access_token_ttl: 'integer', id_token_ttl: 'integer',
  code_ttl: 'integer', keys_max_age: 'integer|null', rotate_refresh_tokens: 'boolean',
  id_token_claims: 'object', access_token_claims: 'object', webhook_secret: 'string',
};

function newKey(kid) {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = publicKey.export({ format: 'jwk' });
  return {
    kid,
    privateKey,
    publicKey,
    publicPem: publicKey.export({ format: 'pem', type: 'spki' }),
    jwk: { kty: 'RSA', use: 'sig', alg: 'RS256', kid, n: jwk.n, e: jwk.e },
  };
}

function json(status, body, headers) {
  return { status, body, headers };
}

function html(status, text, headers) {
  return { status, rawBody: text, headers: { 'content-type': 'text/html; charset=utf-8', ...headers } };
}

function redirect(location) {
  return { status: 302, rawBody: '', headers: { location, 'cache-control': 'no-store', 'content-type': 'text/plain' } };
}

// OAuth error bodies, as the token endpoint answers them.
const oauthError = (status, error, description) =>
  json(status, { error, error_description: description }, { 'cache-control': 'no-store' });

function parseForm(ctx) {
  const ct = (ctx.headers['content-type'] || '').split(';')[0].trim().toLowerCase();
  if (ct !== 'application/x-www-form-urlencoded') return null;
  return new URLSearchParams(ctx.body);
}

function withParams(uri, params) {
  const url = new URL(uri);
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null) url.searchParams.append(k, v);
  return url.toString();
}

const randomId = () => crypto.randomBytes(6).toString('hex');

// FAKE: what server.js hands its extension modules (invalid() for 400s,
// state() with the client credentials in state().config, ...).
module.exports = function idp(FAKE) {
  const startKey = newKey(`key-${randomId()}`);
  const bad = (message) => FAKE.invalid(message);
  const client = () => FAKE.state().config;
  let state;
  let issuer = '';
  let unpublishedKey = null; // signs the 'unknown_key' tokens, each with a new kid

  function reset() {
    state = {
      config: JSON.parse(JSON.stringify(DEFAULT_CONFIG)),
      keys: [startKey], // the last one signs
      authorizations: new Map(), // form request id -> authorize parameters
      codes: new Map(),          // code -> {client_id, redirect_uri, challenge, method, nonce, scope, email, expires}
      refreshTokens: new Map(),  // token -> {email, scope, client_id, used}
      users: new Map(),          // email -> sub
      counter: 0,
      webhooks: [],              // deliveries, oldest first
      stats: { keys_requests: 0, authorizations: 0, logins: 0, codes_redeemed: 0, refreshes: 0, logouts: 0 },
    };
  }

  const next = () => ++state.counter;
  const signingKey = () => state.keys[state.keys.length - 1];

  function subjectOf(email) {
    if (!state.users.has(email)) state.users.set(email, `usr_${100 + state.users.size + 1}`);
    return state.users.get(email);
  }

  // -> compact JWT. sign: 'rs256' (default), 'none', 'hs256_public_key'
  // (HMAC keyed with the public key: alg confusion), 'bad_signature',
  // 'unknown_key' (a key /keys does not publish).
  function signJwt(payload, headerOverrides, sign) {
    let key = signingKey();
    let kid = key.kid;
    if (sign === 'unknown_key') {
      unpublishedKey = unpublishedKey || newKey('unpublished');
      key = unpublishedKey;
      kid = `unpublished-${randomId()}`;
    }
    const header = { alg: 'RS256', typ: 'JWT', kid };
    if (sign === 'none') header.alg = 'none';
    if (sign === 'hs256_public_key') header.alg = 'HS256';
    merge(header, headerOverrides);
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
    let signature;
    if (sign === 'none') signature = Buffer.alloc(0);
    else if (sign === 'hs256_public_key') signature = crypto.createHmac('sha256', key.publicPem).update(input).digest();
    else signature = crypto.sign('sha256', Buffer.from(input), key.privateKey);
    if (sign === 'bad_signature') signature[signature.length - 1] ^= 0x01;
    return `${input}.${b64url(signature)}`;
  }

  function merge(target, overrides) {
    for (const [k, v] of Object.entries(overrides || {})) {
      if (v === null) delete target[k];
      else target[k] = v;
    }
    return target;
  }

  function baseClaims(email, ttl) {
    const { client_id: clientId } = client();
    const iat = nowSeconds();
    return {
      iss: issuer, sub: subjectOf(email), aud: [clientId], iat, nbf: iat, exp: iat + ttl,
    };
  }

  function idTokenClaims(email, nonce) {
    const local = email.split('@')[0];
    const claims = baseClaims(email, state.config.id_token_ttl);
    Object.assign(claims, {
      azp: client().client_id,
      auth_time: claims.iat,
      sid: `ses_${next()}`,
      amr: ['pwd'],
      email,
      email_verified: true,
      name: `${local} Example`,
      given_name: local,
      family_name: 'Example',
      preferred_username: local,
      locale: 'en',
    });
    if (nonce) claims.nonce = nonce;
    return merge(claims, state.config.id_token_claims);
  }

  function accessTokenClaims(email, scope) {
    const claims = baseClaims(email, state.config.access_token_ttl);
    Object.assign(claims, {
      client_id: client().client_id, scope, jti: `tkn_${next()}`, sid: `ses_${state.counter}`,
    });
    return merge(claims, state.config.access_token_claims);
  }

  function issueRefreshToken(grant) {
    const token = `rt-${next()}-${crypto.randomBytes(12).toString('hex')}`;
    state.refreshTokens.set(token, { ...grant, used: false });
    return token;
  }

  function tokenResponse(grant, nonce) {
    const body = {
      access_token: signJwt(accessTokenClaims(grant.email, grant.scope)),
      token_type: 'Bearer',
      expires_in: state.config.access_token_ttl,
      refresh_token: issueRefreshToken(grant),
    };
    if (nonce !== undefined && grant.scope.split(' ').includes('openid')) {
      body.id_token = signJwt(idTokenClaims(grant.email, nonce));
    }
    return json(200, body, { 'cache-control': 'no-store' });
  }

  // -- /keys ---------------------------------------------------------------

  function keys() {
    state.stats.keys_requests++;
    const headers = {};
    if (state.config.keys_max_age !== null) headers['cache-control'] = `public, max-age=${state.config.keys_max_age}`;
    return json(200, { keys: state.keys.map((k) => k.jwk) }, headers);
  }

  // -- /oauth/authorize ----------------------------------------------------

  function checkAuthorize(q) {
    const { client_id: clientId } = client();
    if (q.response_type !== 'code') return 'response_type must be code';
    if (q.client_id !== clientId) return 'unknown client_id';
    if (!q.redirect_uri || !/^https?:\/\//.test(q.redirect_uri)) return 'redirect_uri must be an http(s) URL';
    if (q.code_challenge !== undefined && !['S256', 'plain'].includes(q.code_challenge_method || 'plain')) {
      return 'code_challenge_method must be S256 or plain';
    }
    return null;
  }

  function issueCode(q, email) {
    state.stats.logins++;
    const code = `code-${next()}-${crypto.randomBytes(12).toString('hex')}`;
    state.codes.set(code, {
      client_id: q.client_id,
      redirect_uri: q.redirect_uri,
      challenge: q.code_challenge,
      method: q.code_challenge_method || (q.code_challenge !== undefined ? 'plain' : undefined),
      nonce: q.nonce || '',
      scope: q.scope || 'openid profile email',
      email,
      expires: Date.now() + state.config.code_ttl * 1000,
    });
    return redirect(withParams(q.redirect_uri, { code, state: q.state }));
  }

  function loginPage(requestId, q, message) {
    return html(message ? 400 : 200, `<!doctype html>
<html><head><meta charset="utf-8"><title>Sign in - fake Scalekit</title></head>
<body>
<h1>Sign in</h1>
${message ? `<p id="error">${escapeHtml(message)}</p>` : ''}
<form id="login" method="post" action="/oauth/authorize">
<input type="hidden" name="request" value="${escapeHtml(requestId)}">
<label>Email <input id="email" type="email" name="email" value="${escapeHtml(q.login_hint || '')}" required></label>
<button id="submit" type="submit">Sign in</button>
</form>
</body></html>
`);
  }

  function authorize(ctx) {
    const q = {};
    for (const [k, v] of new URLSearchParams(ctx.rawQuery)) q[k] = v;
    const problem = checkAuthorize(q);
    if (problem) return html(400, `<!doctype html><p id="error">${escapeHtml(problem)}</p>\n`);
    state.stats.authorizations++;
    if (state.config.auto_approve) {
      const hint = q.login_hint && q.login_hint.includes('@') ? q.login_hint : state.config.email;
      return issueCode(q, hint);
    }
    const requestId = `req_${next()}_${randomId()}`;
    state.authorizations.set(requestId, q);
    return loginPage(requestId, q);
  }

  function authorizeSubmit(ctx) {
    const form = parseForm(ctx) || new URLSearchParams();
    const q = state.authorizations.get(form.get('request') || '');
    if (!q) return html(400, '<!doctype html><p id="error">unknown or used login request</p>\n');
    const email = (form.get('email') || '').trim();
    if (!/^[^@\s]+@[^@\s]+$/.test(email)) return loginPage(form.get('request'), q, 'enter an email address');
    state.authorizations.delete(form.get('request'));
    return issueCode(q, email);
  }

  // -- /oauth/token (authorization_code, refresh_token) -----------------------

  function clientAuth(ctx, form) {
    let id = form.get('client_id');
    let secret = form.get('client_secret');
    const basic = /^Basic\s+(\S+)$/i.exec(ctx.headers.authorization || '');
    if (basic) {
      const [u, p] = Buffer.from(basic[1], 'base64').toString('utf8').split(':');
      id = decodeURIComponent(u || '');
      secret = decodeURIComponent(p || '');
    }
    const creds = client();
    return id === creds.client_id && secret === creds.client_secret ? id : null;
  }

  function authorizationCodeGrant(ctx, form) {
    const clientId = clientAuth(ctx, form);
    if (!clientId) return oauthError(401, 'invalid_client', 'invalid client credentials');
    const code = form.get('code');
    if (!code) return oauthError(400, 'invalid_request', 'code is required');
    const grant = state.codes.get(code);
    // One use, whatever the outcome.
    state.codes.delete(code);
    if (!grant || grant.expires < Date.now()) return oauthError(400, 'invalid_grant', 'unknown, used or expired code');
    if (grant.client_id !== clientId) return oauthError(400, 'invalid_grant', 'code issued to another client');
    if (form.get('redirect_uri') !== grant.redirect_uri) return oauthError(400, 'invalid_grant', 'redirect_uri does not match');
    if (grant.challenge !== undefined) {
      const verifier = form.get('code_verifier');
      if (!verifier) return oauthError(400, 'invalid_grant', 'code_verifier is required');
      const derived = grant.method === 'S256' ? b64url(crypto.createHash('sha256').update(verifier).digest()) : verifier;
      if (derived !== grant.challenge) return oauthError(400, 'invalid_grant', 'code_verifier does not match the challenge');
    }
    state.stats.codes_redeemed++;
    return tokenResponse({ email: grant.email, scope: grant.scope, client_id: clientId }, grant.nonce);
  }

  function refreshTokenGrant(ctx, form) {
    const clientId = clientAuth(ctx, form);
    if (!clientId) return oauthError(401, 'invalid_client', 'invalid client credentials');
    const token = form.get('refresh_token');
    if (!token) return oauthError(400, 'invalid_request', 'refresh_token is required');
    const grant = state.refreshTokens.get(token);
    if (!grant || grant.used || grant.client_id !== clientId) {
      return oauthError(400, 'invalid_grant', 'unknown, revoked or used refresh token');
    }
    if (state.config.rotate_refresh_tokens) grant.used = true;
    state.stats.refreshes++;
    const response = tokenResponse({ email: grant.email, scope: grant.scope, client_id: clientId });
    if (!state.config.rotate_refresh_tokens) {
      state.refreshTokens.delete(response.body.refresh_token);
      response.body.refresh_token = token;
    }
    return response;
  }

  // -> a response, or null for grants this module does not serve.
  function grant(ctx, form) {
    const type = form.get('grant_type');
    if (type === 'authorization_code') return authorizationCodeGrant(ctx, form);
    if (type === 'refresh_token') return refreshTokenGrant(ctx, form);
    return null;
  }

  // -- /oidc/logout ----------------------------------------------------------

  function verifyOwnToken(token) {
    const parts = String(token).split('.');
    if (parts.length !== 3) return false;
    let header;
    try {
      header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'));
    } catch (e) {
      return false;
    }
    const key = state.keys.find((k) => k.kid === header.kid);
    return Boolean(key) && header.alg === 'RS256' &&
      crypto.verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), key.publicKey, Buffer.from(parts[2], 'base64url'));
  }

  function logout(ctx) {
    const q = {};
    for (const [k, v] of new URLSearchParams(ctx.rawQuery)) q[k] = v;
    if (q.id_token_hint !== undefined && !verifyOwnToken(q.id_token_hint)) {
      return html(400, '<!doctype html><p id="error">id_token_hint is not a token of this issuer</p>\n');
    }
    state.stats.logouts++;
    if (q.post_logout_redirect_uri) {
      if (!/^https?:\/\//.test(q.post_logout_redirect_uri)) {
        return html(400, '<!doctype html><p id="error">post_logout_redirect_uri must be an http(s) URL</p>\n');
      }
      return redirect(withParams(q.post_logout_redirect_uri, { state: q.state }));
    }
    return html(200, '<!doctype html><h1 id="signed-out">Signed out</h1>\n');
  }

  // -- controls (/_fake/idp/...) ---------------------------------------------

  function checkType(name, value, type) {
    const ok = type.split('|').some((t) => {
      if (t === 'integer') return Number.isInteger(value);
      if (t === 'null') return value === null;
      if (t === 'object') return isObject(value);
      return typeof value === t; // eslint-disable-line valid-typeof
    });
    if (!ok) throw bad(`${name} must be ${type.replace('|', ' or ')}`);
  }

  function ctlConfig(body) {
    for (const [k, v] of Object.entries(body)) {
      if (!CONFIG_TYPES[k]) throw bad(`unknown idp config key ${k}`);
      checkType(k, v, CONFIG_TYPES[k]);
    }
    Object.assign(state.config, body);
    return json(200, { config: state.config });
  }

  function ctlRotateKeys(body) {
    const key = newKey(`key-${randomId()}`);
    if (body.keep_old === false) state.keys = [key];
    else state.keys.push(key);
    return json(200, { kid: key.kid, kids: state.keys.map((k) => k.kid) });
  }

  const TOKEN_KINDS = ['access', 'id', 'idp_initiated'];
  const SIGN_MODES = ['rs256', 'none', 'hs256_public_key', 'bad_signature', 'unknown_key'];

  function ctlToken(body) {
    const kind = body.kind === undefined ? 'access' : body.kind;
    if (!TOKEN_KINDS.includes(kind)) throw bad(`kind must be one of ${TOKEN_KINDS.join(', ')}`);
    const sign = body.sign === undefined ? 'rs256' : body.sign;
    if (!SIGN_MODES.includes(sign)) throw bad(`sign must be one of ${SIGN_MODES.join(', ')}`);
    for (const k of ['claims', 'header']) if (body[k] !== undefined) checkType(k, body[k], 'object');
    if (body.ttl !== undefined) checkType('ttl', body.ttl, 'integer');
    const email = body.email === undefined ? state.config.email : body.email;
    checkType('email', email, 'string');
    let claims;
    if (kind === 'access') {
      claims = accessTokenClaims(email, body.scope === undefined ? 'openid profile email' : body.scope);
    } else if (kind === 'id') {
      claims = idTokenClaims(email, body.nonce);
    } else {
      claims = baseClaims(email, 300);
      delete claims.sub;
      Object.assign(claims, { connection_id: 'conn_1', organization_id: 'org_1', login_hint: email, relay_state: '' });
    }
    if (body.ttl !== undefined) claims.exp = claims.iat + body.ttl;
    merge(claims, body.claims);
    return json(200, { token: signJwt(claims, body.header, sign), claims });
  }

  function ctlRevokeRefreshTokens() {
    let n = 0;
    for (const g of state.refreshTokens.values()) if (!g.used) { g.used = true; n++; }
    return json(200, { revoked: n });
  }

  // Standard Webhooks: base64 HMAC-SHA256 over "id.timestamp.body", keyed
  // with the secret's base64 part.
  function webhookSignature(secret, id, timestamp, body) {
    const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
    return `v1,${crypto.createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
  }

  // Sends the delivery in the background (the answer names it); its
  // outcome shows in GET /_fake/idp/webhooks.
  function ctlWebhook(body) {
    if (typeof body.url !== 'string') throw bad('url is required');
    let url;
    try {
      url = new URL(body.url);
    } catch (e) {
      throw bad('url is not a URL');
    }
    if (url.protocol !== 'http:' || !['127.0.0.1', 'localhost'].includes(url.hostname)) {
      throw bad('url must be http://127.0.0.1 or http://localhost');
    }
    const prefix = body.interceptor ? 'interceptor' : 'webhook';
    const secret = body.secret === undefined ? state.config.webhook_secret : String(body.secret);
    const id = body.id === undefined ? `evt_${next()}` : String(body.id);
    const timestamp = body.timestamp === undefined ? nowSeconds() : body.timestamp;
    const payload = body.raw_body !== undefined ? String(body.raw_body) : JSON.stringify({
      id, type: body.type || 'organization.created', occurred_at: new Date().toISOString(),
      object: 'Organization', data: body.data || { id: 'org_1' },
    });
    const signature = body.signature === undefined ? webhookSignature(secret, id, timestamp, payload) : String(body.signature);
    const delivery = { id, url: body.url, timestamp, signature, payload, done: false, status: null, body: null, error: null };
    state.webhooks.push(delivery);
    const headers = {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(payload),
      [`${prefix}-id`]: id,
      [`${prefix}-timestamp`]: String(timestamp),
      [`${prefix}-signature`]: signature,
    };
    const req = http.request(url, { method: 'POST', headers, timeout: 10000 }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => Object.assign(delivery, {
        done: true, status: res.statusCode, body: Buffer.concat(chunks).toString('utf8'),
      }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => Object.assign(delivery, { done: true, error: e.message }));
    req.end(payload);
    return json(200, { id, timestamp, signature, payload });
  }

  function ctlStats() {
    return json(200, { ...state.stats, kids: state.keys.map((k) => k.kid) });
  }

  // Control handlers take the parsed JSON body.
  const control = (handler) => (ctx) => {
    let body = {};
    if (ctx.body.trim() !== '') {
      try {
        body = JSON.parse(ctx.body);
      } catch (e) {
        throw bad(`invalid JSON body: ${e.message}`);
      }
      if (!isObject(body)) throw bad('request body must be a JSON object');
    }
    issuer = `http://${ctx.headers.host}`;
    return handler(body);
  };
  // Tokens minted in a request name its host as their issuer.
  const minting = (handler) => (ctx, ...rest) => {
    issuer = `http://${ctx.headers.host}`;
    return handler(ctx, ...rest);
  };

  return {
    routes: [
      { op: 'getJwks', method: 'GET', path: '/keys', auth: false, handler: keys },
      { op: 'authorize', method: 'GET', path: '/oauth/authorize', auth: false, handler: authorize },
      { op: 'authorizeSubmit', method: 'POST', path: '/oauth/authorize', auth: false, handler: authorizeSubmit },
      { op: 'logout', method: 'GET', path: '/oidc/logout', auth: false, handler: logout },
    ],
    controlRoutes: [
      ['idp_config', 'GET', '/_fake/idp/config', () => json(200, { config: state.config })],
      ['idp_set_config', 'POST', '/_fake/idp/config', ctlConfig],
      ['idp_rotate_keys', 'POST', '/_fake/idp/rotate_keys', ctlRotateKeys],
      ['idp_token', 'POST', '/_fake/idp/token', ctlToken],
      ['idp_revoke_refresh_tokens', 'POST', '/_fake/idp/revoke_refresh_tokens', ctlRevokeRefreshTokens],
      ['idp_webhook', 'POST', '/_fake/idp/webhook', ctlWebhook],
      ['idp_webhooks', 'GET', '/_fake/idp/webhooks', () => json(200, { deliveries: state.webhooks })],
      ['idp_stats', 'GET', '/_fake/idp/stats', ctlStats],
    ].map(([op, method, path, handler]) => ({ op, method, path, handler: control(handler) })),
    // POST /oauth/token with grant_type authorization_code or refresh_token.
    handleToken: minting((ctx, form) => grant(ctx, form) ||
      oauthError(400, 'unsupported_grant_type', `unsupported grant_type ${JSON.stringify(form.get('grant_type'))}`)),
    reset,
  };
};

module.exports.DEFAULT_WEBHOOK_SECRET = DEFAULT_WEBHOOK_SECRET;
