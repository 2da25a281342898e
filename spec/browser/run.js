#!/usr/bin/env node
// The SSO gate of examples/openresty/sso in a real browser: headless
// Chromium (Debian's /usr/bin/chromium, driven by puppeteer-core) against
// real nginx running the example's nginx.conf, with the fake identity
// provider (spec/fake/server.js + idp.js) as Scalekit. Run by
// `make test-browser`, which builds the LuaJIT core first.
//
// Every check is printed as "ok - name" or "not ok - name: why"; the last
// line is "N passed, M failed" and the exit status is 1 when M > 0.
// Environment: CHROMIUM (default /usr/bin/chromium), NGINX (default nginx),
// KEEP_NGINX_PREFIX=1 (keep nginx's directory, with its error log).
'use strict';

const { spawn, execFileSync } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const net = require('net');
const os = require('os');
const path = require('path');
const puppeteer = require('puppeteer-core');

const ROOT = path.resolve(__dirname, '..', '..');
const EXAMPLE = path.join(ROOT, 'examples', 'openresty', 'sso');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const NGINX = process.env.NGINX || 'nginx';
const STEP_TIMEOUT_MS = 15000;
const RUN_TIMEOUT_MS = 180000;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------
// processes

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// The fake server on an ephemeral port; it exits when its stdin closes.
function startFake() {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'spec', 'fake', 'server.js'), '--port', '0'],
      { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    const timer = setTimeout(() => reject(new Error('fake server did not start in 10 s')), 10000);
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const m = /^listening (\d+)\n/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: `http://127.0.0.1:${m[1]}` });
      }
    });
    child.on('exit', (code) => reject(new Error(`fake server exited (${code})`)));
  });
}

// The example's nginx.conf on a free port in a temporary prefix, the SDK
// from the work tree (LuaJIT build), Scalekit = the fake.
async function startNginx(fakeUrl, env) {
  const port = await freePort();
  const prefix = fs.mkdtempSync(path.join(os.tmpdir(), 'scalekit-sso-'));
  fs.chmodSync(prefix, 0o755); // workers may run as nobody
  fs.mkdirSync(path.join(prefix, 'logs'));
  let conf = fs.readFileSync(path.join(EXAMPLE, 'nginx.conf'), 'utf8');
  const listen = 'listen 127.0.0.1:8080;';
  if (!conf.includes(listen)) throw new Error(`examples/openresty/sso/nginx.conf has no "${listen}"`);
  conf = conf.replace(listen, `listen 127.0.0.1:${port};`);
  // Root's workers would run as nobody, who may not read the work tree.
  if (process.getuid && process.getuid() === 0) conf = `user root;\n${conf}`;
  fs.writeFileSync(path.join(prefix, 'nginx.conf'), conf);
  fs.copyFileSync(path.join(EXAMPLE, 'sso_gate.lua'), path.join(prefix, 'sso_gate.lua'));
  const childEnv = {
    ...process.env,
    LUA_PATH: `${ROOT}/lua/?.lua;${ROOT}/lua/?/init.lua;;`,
    LUA_CPATH: `${ROOT}/build/luajit/?.so;;`,
    SCALEKIT_ENVIRONMENT_URL: fakeUrl,
    SCALEKIT_CLIENT_ID: 'skc_test',
    SCALEKIT_CLIENT_SECRET: 'test_secret',
    ...env,
  };
  // nginx reads NGINX as sockets inherited from an old master (and then
  // does not daemonize): never hand it our NGINX setting.
  delete childEnv.NGINX;
  const args = ['-p', prefix, '-c', path.join(prefix, 'nginx.conf'), '-e', path.join(prefix, 'logs', 'error.log')];
  try {
    execFileSync(NGINX, args, { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'], timeout: 30000 });
  } catch (e) {
    const log = readIf(path.join(prefix, 'logs', 'error.log'));
    throw new Error(`nginx did not start: ${e.stderr || e.message}\n${log}`);
  }
  const nginx = { prefix, port, url: `http://127.0.0.1:${port}` };
  for (let i = 0; i < 100; i++) {
    if (await canConnect(port)) return nginx;
    await sleep(50);
  }
  stopNginx(nginx);
  throw new Error(`nginx did not listen on ${port}`);
}

function readIf(file) {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    return '';
  }
}

function canConnect(port) {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1', () => { sock.destroy(); resolve(true); });
    sock.on('error', () => resolve(false));
  });
}

function stopNginx(nginx) {
  const pid = Number(readIf(path.join(nginx.prefix, 'logs', 'nginx.pid')));
  if (pid) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch (e) { /* already gone */ }
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      try {
        process.kill(pid, 0);
      } catch (e) {
        break;
      }
      execFileSync('sleep', ['0.05']);
    }
  }
  if (process.env.KEEP_NGINX_PREFIX) process.stderr.write(`nginx prefix kept: ${nginx.prefix}\n`);
  else fs.rmSync(nginx.prefix, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------
// HTTP to the fake's controls and to nginx

function request(method, url, body, headers) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : (typeof body === 'string' ? body : JSON.stringify(body));
    const req = http.request(url, {
      method,
      headers: { ...(payload !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      timeout: STEP_TIMEOUT_MS,
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout: ${method} ${url}`)));
    req.on('error', reject);
    req.end(payload);
  });
}

async function control(fakeUrl, method, p, body) {
  const res = await request(method, fakeUrl + p, body);
  if (res.status < 200 || res.status > 299) throw new Error(`${method} ${p} -> ${res.status}: ${res.body}`);
  return JSON.parse(res.body);
}

// ---------------------------------------------------------------------------
// checks

const results = { passed: 0, failed: 0 };
// Synchronous stops of what main started, last first (also run on timeout).
const cleanups = [];

function cleanUp() {
  while (cleanups.length) {
    try {
      cleanups.pop()();
    } catch (e) { /* best effort */ }
  }
}

async function check(name, fn) {
  try {
    await fn();
    results.passed++;
    console.log(`ok - ${name}`);
  } catch (e) {
    results.failed++;
    console.log(`not ok - ${name}: ${e && e.message ? e.message : e}`);
  }
}

function expect(cond, message) {
  if (!cond) throw new Error(message);
}

async function main() {
  const fake = await startFake();
  cleanups.push(() => fake.child.kill('SIGTERM'));
  let nginx;
  let browser;
  try {
    const ctl = (method, p, body) => control(fake.url, method, p, body);
    const grants = async (type) => (await ctl('GET', '/_fake/requests')).requests
      .filter((r) => r.path === '/oauth/token' && new URLSearchParams(r.body).get('grant_type') === type).length;
    const idpConfig = await ctl('GET', '/_fake/idp/config');
    nginx = await startNginx(fake.url, {
      SSO_COOKIE_SECRET: crypto.randomBytes(32).toString('base64'),
      SCALEKIT_WEBHOOK_SECRET: idpConfig.config.webhook_secret,
      SSO_LEEWAY: '0',
    });
    cleanups.push(() => stopNginx(nginx));
    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--headless=new', '--disable-gpu', '--no-first-run'],
    });
    cleanups.push(() => browser.process().kill('SIGKILL'));
    const page = await browser.newPage();
    page.setDefaultTimeout(STEP_TIMEOUT_MS);
    page.setDefaultNavigationTimeout(STEP_TIMEOUT_MS);
    const app = `${nginx.url}/app`;
    const cookie = async (name) => (await page.cookies(nginx.url)).find((c) => c.name === name);
    const userText = () => page.$eval('#user', (e) => e.textContent).catch(() => null);
    const onLoginForm = () => page.url().startsWith(`${fake.url}/oauth/authorize`);

    // The sign-in's access token expires after ACCESS_TTL s (the gate has
    // no leeway here): the refresh check below waits for that, the checks
    // before it must finish sooner.
    const ACCESS_TTL = 10;
    await ctl('POST', '/_fake/idp/config', { access_token_ttl: ACCESS_TTL });
    let signedInAt;
    let sessionCookie;

    await check('/app without a session lands on the login form, with state, nonce and PKCE', async () => {
      await page.goto(app);
      expect(onLoginForm(), `at ${page.url()}`);
      const q = new URL(page.url()).searchParams;
      for (const k of ['state', 'nonce', 'code_challenge']) expect(q.get(k), `no ${k} in ${page.url()}`);
      expect(q.get('code_challenge_method') === 'S256', 'code_challenge_method is not S256');
      expect(q.get('redirect_uri') === `${nginx.url}/callback`, `redirect_uri ${q.get('redirect_uri')}`);
      const login = await cookie('sk_login');
      expect(login && login.httpOnly && login.sameSite === 'Lax', `login cookie ${JSON.stringify(login)}`);
      expect(login.expires > 0 && login.expires - Date.now() / 1000 <= 600, 'login cookie is not short-lived');
      expect(await page.$('#email'), 'no email field');
    });

    await check('submitting the form lands back on /app showing the email', async () => {
      await page.type('#email', 'alice@example.com');
      await Promise.all([page.waitForNavigation(), page.click('#submit')]);
      signedInAt = Date.now();
      await ctl('POST', '/_fake/idp/config', { access_token_ttl: 3600 });
      expect(page.url() === app, `at ${page.url()}`);
      const text = await userText();
      expect(text === 'Signed in as alice@example.com', `page says ${JSON.stringify(text)}`);
      sessionCookie = await cookie('sk_session');
      expect(sessionCookie && sessionCookie.httpOnly && sessionCookie.sameSite === 'Lax' && !sessionCookie.secure,
        `session cookie ${JSON.stringify(sessionCookie)}`);
      expect(!(await cookie('sk_login')), 'the login cookie was not cleared');
      expect(await grants('authorization_code') === 1, 'not exactly one code exchange');
    });

    await check('further requests are checked locally: no sign-in, no token or key request', async () => {
      const before = (await ctl('GET', '/_fake/requests')).requests.length;
      for (let i = 0; i < 5; i++) {
        await page.goto(app);
        expect(await userText() === 'Signed in as alice@example.com', `request ${i + 1}: ${page.url()}`);
      }
      const after = (await ctl('GET', '/_fake/requests')).requests.slice(before);
      expect(after.length === 0, `the gate called Scalekit: ${after.map((r) => r.path).join(', ')}`);
    });

    await check('a tampered session cookie is refused; the genuine one still works', async () => {
      const value = sessionCookie.value;
      const flip = (s, i) => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
      for (const forged of [flip(value, 0), flip(value, value.length - 1), `${value.split('.')[0]}.`, 'x']) {
        await page.setCookie({ ...sessionCookie, value: forged });
        await page.goto(app);
        expect(onLoginForm(), `forged cookie ${forged.slice(0, 8)}... let through to ${page.url()}`);
      }
      await page.setCookie(sessionCookie);
      await page.goto(app);
      expect(await userText() === 'Signed in as alice@example.com', `genuine cookie refused: ${page.url()}`);
    });

    await check('an expired access token is refreshed transparently', async () => {
      expect(Date.now() < signedInAt + ACCESS_TTL * 1000 - 1000, 'the checks before took too long');
      const wait = signedInAt + ACCESS_TTL * 1000 + 1500 - Date.now();
      if (wait > 0) await sleep(wait);
      await page.goto(app);
      expect(page.url() === app && await userText() === 'Signed in as alice@example.com', `at ${page.url()}`);
      expect(await grants('refresh_token') === 1, `${await grants('refresh_token')} refreshes`);
      expect(await grants('authorization_code') === 1, 'signed in again instead of refreshing');
      await page.goto(app);
      expect(await grants('refresh_token') === 1, 'refreshed again with a fresh token');
    });

    await check('logout ends the session here and at the identity provider', async () => {
      const before = await cookie('sk_session');
      await Promise.all([page.waitForNavigation(), page.click('#logout')]);
      expect(page.url() === `${nginx.url}/signed-out`, `at ${page.url()}`);
      expect(await page.$('#signed-out'), 'no signed-out page');
      expect((await ctl('GET', '/_fake/idp/stats')).logouts === 1, 'the IdP saw no logout');
      const logout = (await ctl('GET', '/_fake/requests')).requests.filter((r) => r.path === '/oidc/logout').pop();
      expect(logout && logout.query.id_token_hint, 'no id_token_hint sent');
      expect(!(await cookie('sk_session')), 'session cookie still set');
      await page.goto(app);
      expect(onLoginForm(), `still signed in: ${page.url()}`);
      await page.setCookie(before); // the old cookie is worthless now
      await page.goto(app);
      expect(onLoginForm(), `the old session cookie still works: ${page.url()}`);
    });

    await check('IdP-initiated login starts a sign-in with its connection, organization and hint', async () => {
      const { token } = await ctl('POST', '/_fake/idp/token', {
        kind: 'idp_initiated', email: 'idp.user@example.com',
        claims: { connection_id: 'conn_7', organization_id: 'org_7', relay_state: '/app?from=idp' },
      });
      await page.goto(`${nginx.url}/callback?idp_initiated_login=${encodeURIComponent(token)}`);
      expect(onLoginForm(), `at ${page.url()}`);
      const q = new URL(page.url()).searchParams;
      expect(q.get('connection_id') === 'conn_7' && q.get('organization_id') === 'org_7', `query ${q}`);
      expect(await page.$eval('#email', (e) => e.value) === 'idp.user@example.com', 'login_hint not filled in');
      await Promise.all([page.waitForNavigation(), page.click('#submit')]);
      expect(page.url() === `${app}?from=idp`, `at ${page.url()}`);
      expect(await userText() === 'Signed in as idp.user@example.com', 'wrong user');
    });

    await check('a forged idp_initiated_login token is refused', async () => {
      const { token } = await ctl('POST', '/_fake/idp/token', { kind: 'idp_initiated', sign: 'bad_signature' });
      const res = await page.goto(`${nginx.url}/callback?idp_initiated_login=${encodeURIComponent(token)}`);
      expect(res.status() === 401, `status ${res.status()}`);
    });

    await check('a callback with the wrong state is refused', async () => {
      await page.deleteCookie({ name: 'sk_session', url: nginx.url });
      await page.goto(app); // starts a sign-in: login cookie set
      expect(onLoginForm(), `at ${page.url()}`);
      const exchanges = await grants('authorization_code');
      const res = await page.goto(`${nginx.url}/callback?code=stolen&state=not-the-one`);
      expect(res.status() === 400, `status ${res.status()}`);
      expect(await grants('authorization_code') === exchanges, 'the code was exchanged anyway');
    });

    await check('/webhooks accepts signed deliveries and answers 401 to bad ones', async () => {
      const deliver = async (extra) => {
        const sent = await ctl('POST', '/_fake/idp/webhook', { url: `${nginx.url}/webhooks`, type: 'user.created', ...extra });
        for (let i = 0; i < 200; i++) {
          const d = (await ctl('GET', '/_fake/idp/webhooks')).deliveries.find((x) => x.id === sent.id);
          if (d && d.done) return d;
          await sleep(25);
        }
        throw new Error('delivery did not finish');
      };
      const good = await deliver({});
      expect(good.status === 200 && JSON.parse(good.body).type === 'user.created', `good: ${good.status} ${good.body}`);
      const forged = await deliver({ signature: `v1,${crypto.randomBytes(32).toString('base64')}` });
      expect(forged.status === 401, `forged signature: ${forged.status}`);
      const wrongSecret = await deliver({ secret: `whsec_${crypto.randomBytes(32).toString('base64')}` });
      expect(wrongSecret.status === 401, `wrong secret: ${wrongSecret.status}`);
      const stale = await deliver({ timestamp: Math.floor(Date.now() / 1000) - 3600 });
      expect(stale.status === 401, `an hour old: ${stale.status}`);
      const unsigned = await request('POST', `${nginx.url}/webhooks`, '{}');
      expect(unsigned.status === 401, `no signature: ${unsigned.status}`);
    });
  } catch (e) {
    results.failed++;
    console.log(`not ok - setup: ${e && e.stack ? e.stack : e}`);
  } finally {
    if (nginx && results.failed > 0) {
      const log = readIf(path.join(nginx.prefix, 'logs', 'error.log'));
      if (log) process.stdout.write(`# nginx error log (last lines):\n${log.split('\n').slice(-30).map((l) => `# ${l}`).join('\n')}\n`);
    }
    if (browser) await browser.close().catch(() => {});
    cleanUp();
  }
}

const overall = setTimeout(() => {
  cleanUp();
  console.log(`not ok - the run took longer than ${RUN_TIMEOUT_MS / 1000} s`);
  console.log(`${results.passed} passed, ${results.failed + 1} failed`);
  process.exit(1);
}, RUN_TIMEOUT_MS);

main().then(() => {
  clearTimeout(overall);
  console.log(`${results.passed} passed, ${results.failed} failed`);
  process.exit(results.failed > 0 ? 1 : 0);
});
