#!/usr/bin/env node
// Stateful fake Scalekit API server for the scalekit-lua specs.
//
// Serves the live API (api/scalekit-public-openapi.json): its paths, request
// bodies (validated against the document's schemas) and response shapes, for
// the operations in the route table below; POST /oauth/token too. Node
// standard library only. See spec/fake/README.md for the CLI and the
// /_fake/* control API used to seed state and inject faults.
'use strict';

const http = require('http');
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

// ---------------------------------------------------------------------------
// CLI
// ---------------------------------------------------------------------------

const DEFAULT_DOCUMENT = path.join(__dirname, '..', '..', 'api', 'scalekit-public-openapi.json');

function usage(msg) {
  if (msg) process.stderr.write(`server.js: ${msg}\n`);
  process.stderr.write(
    'usage: node spec/fake/server.js [--port N] [--client-id ID] [--client-secret S]\n' +
    '                                [--token-ttl SECONDS] [--openapi FILE] [--ignore-stdin] [--verbose]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const opts = {
    port: 0,
    clientId: 'skc_test',
    clientSecret: 'test_secret',
    tokenTtl: 3600,
    openapi: DEFAULT_DOCUMENT,
    ignoreStdin: false,
    verbose: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    let name = arg;
    let value;
    const eq = arg.indexOf('=');
    if (arg.startsWith('--') && eq > 0) {
      name = arg.slice(0, eq);
      value = arg.slice(eq + 1);
    }
    const next = () => {
      if (value !== undefined) return value;
      if (i + 1 >= argv.length) usage(`${name} needs a value`);
      return argv[++i];
    };
    switch (name) {
      case '--port': opts.port = parseNonNegInt(next(), name); break;
      case '--client-id': opts.clientId = next(); break;
      case '--client-secret': opts.clientSecret = next(); break;
      case '--token-ttl': opts.tokenTtl = parseNonNegInt(next(), name); break;
      case '--openapi': opts.openapi = next(); break;
      case '--ignore-stdin': opts.ignoreStdin = true; break;
      case '--verbose': opts.verbose = true; break;
      case '-h': case '--help': usage(); break;
      default: usage(`unknown argument ${arg}`);
    }
  }
  return opts;
}

function parseNonNegInt(s, name) {
  if (!/^\d+$/.test(String(s))) usage(`${name} must be a non-negative integer`);
  return Number(s);
}

const OPTS = parseArgs(process.argv.slice(2));

function log(...parts) {
  if (OPTS.verbose) process.stderr.write(`[fake] ${parts.join(' ')}\n`);
}

// ---------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, code, message, details, headers) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || [];
    this.headers = headers || {};
  }
}

const notFound = (what, id) =>
  new ApiError(404, 'NOT_FOUND', `${what} ${JSON.stringify(id)} not found`);
const invalid = (message, details) => new ApiError(400, 'INVALID_ARGUMENT', message, details);
const invalidField = (field, description) => invalid(`${field} ${description}`, [{ field, description }]);
const conflict = (message, field) =>
  new ApiError(409, 'ALREADY_EXISTS', message, [{ field, description: 'already exists' }]);
const precondition = (message) => new ApiError(400, 'FAILED_PRECONDITION', message);
const unauthenticated = (message) =>
  new ApiError(401, 'UNAUTHENTICATED', message, [], { 'www-authenticate': 'Bearer error="invalid_token"' });

function errorBody(code, message, details) {
  return { code, message, details: details || [] };
}

const CODE_FOR_STATUS = {
  400: 'INVALID_ARGUMENT', 401: 'UNAUTHENTICATED', 403: 'PERMISSION_DENIED', 404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED', 409: 'ALREADY_EXISTS', 429: 'RESOURCE_EXHAUSTED', 500: 'INTERNAL',
  501: 'UNIMPLEMENTED', 502: 'UNAVAILABLE', 503: 'UNAVAILABLE', 504: 'DEADLINE_EXCEEDED',
};

const nowIso = (offsetMs) => new Date(Date.now() + (offsetMs || 0)).toISOString();
const randomHex = (bytes) => crypto.randomBytes(bytes).toString('hex');
const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const clone = (v) => (v === undefined ? v : JSON.parse(JSON.stringify(v)));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const MINUTE = 60 * 1000;
const DAY = 24 * 60 * MINUTE;

// Fields the service needs although the document marks none of them required.
function need(body, fields) {
  for (const f of fields) {
    const v = body[f];
    if (v === undefined) throw invalidField(f, 'required');
    if (v === '') throw invalidField(f, 'must not be empty');
  }
}

// ---------------------------------------------------------------------------
// The live document: operations (method, path, query parameters, body
// schema) and the schemas request bodies are validated against.
// ---------------------------------------------------------------------------

function loadDocument(file) {
  let doc;
  try {
    doc = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    process.stderr.write(`server.js: cannot read the API document ${file}: ${e.message}\n`);
    process.exit(2);
  }
  return doc;
}

const DOC = loadDocument(OPTS.openapi);
const DOC_SCHEMAS = DOC.components.schemas;
const REF_PREFIX = '#/components/schemas/';

// Follows $ref (siblings such as examples carry no constraints).
function resolve(schema) {
  let s = schema;
  for (let depth = 0; s && s.$ref !== undefined; depth++) {
    if (depth > 32) throw new Error(`$ref chain too long at ${s.$ref}`);
    s = DOC_SCHEMAS[s.$ref.slice(REF_PREFIX.length)];
  }
  return s || {};
}

const refName = (schema) => (schema && schema.$ref ? schema.$ref.slice(REF_PREFIX.length) : 'body');

// operationId -> {id, method, path, query: {name: {schema, required}},
//                 body: {schema, name, required} | null}
const DOC_OPS = new Map();
for (const [p, item] of Object.entries(DOC.paths)) {
  for (const [method, op] of Object.entries(item)) {
    if (!op || !op.operationId) continue;
    const query = {};
    for (const prm of op.parameters || []) {
      if (prm.in === 'query') query[prm.name] = { schema: prm.schema || {}, required: prm.required === true };
    }
    let body = null;
    const content = op.requestBody && op.requestBody.content && op.requestBody.content['application/json'];
    if (content) {
      body = { schema: content.schema, name: refName(content.schema), required: op.requestBody.required === true };
    }
    DOC_OPS.set(op.operationId, { id: op.operationId, method: method.toUpperCase(), path: p, query, body });
  }
}

function jsonType(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v; // string, boolean, object
}

const INT_RANGES = {
  int32: [-(2 ** 31), 2 ** 31 - 1],
  uint32: [0, 2 ** 32 - 1],
  int64: [-(2 ** 63), 2 ** 63],
};
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const patternCache = new Map();

function article(type) {
  return /^[aeiou]/.test(type) ? 'an' : 'a';
}

function join(prefix, key) {
  return prefix ? `${prefix}.${key}` : key;
}

// Validates a decoded JSON value against a document schema; pushes
// {field, description} for every violation. Unknown object properties are
// violations (stricter than JSON Schema, so a wrong wire shape shows); so
// is "" for a required string. A `required` name that is no property is
// skipped: the CreateMembership bodies require a `membership` property
// their schema does not have (api/README.md records that exception).
function validateValue(schema, value, field, out) {
  const s = resolve(schema);
  const want = s.type;
  const got = jsonType(value);
  const where = field || '(body)';
  if (want !== undefined) {
    const ok = want === got || (want === 'number' && got === 'integer');
    if (!ok) {
      out.push({ field: where, description: `must be ${article(want)} ${want}, got ${got}` });
      return out;
    }
  }
  if (s.enum && !s.enum.includes(value)) {
    out.push({ field: where, description: `must be one of ${s.enum.join(', ')}` });
  }
  if (got === 'string') validateString(s, value, where, out);
  if (got === 'integer' || got === 'number') validateNumber(s, value, where, out);
  if (got === 'object' && want === 'object') validateObject(s, value, field, out);
  if (got === 'array' && s.items) value.forEach((item, i) => validateValue(s.items, item, `${where}[${i}]`, out));
  return out;
}

function validateString(s, value, where, out) {
  const length = Array.from(value).length;
  if (s.minLength !== undefined && length < s.minLength) {
    out.push({ field: where, description: `must be at least ${s.minLength} characters` });
  }
  if (s.maxLength !== undefined && length > s.maxLength) {
    out.push({ field: where, description: `must be at most ${s.maxLength} characters` });
  }
  if (s.pattern !== undefined) {
    if (!patternCache.has(s.pattern)) patternCache.set(s.pattern, new RegExp(s.pattern, 'u'));
    if (!patternCache.get(s.pattern).test(value)) out.push({ field: where, description: `must match ${s.pattern}` });
  }
  if (s.format === 'int64' && !/^-?\d{1,19}$/.test(value)) {
    out.push({ field: where, description: 'must be an integer in a string' });
  }
  if (s.format === 'date-time' && (!DATE_TIME.test(value) || Number.isNaN(Date.parse(value)))) {
    out.push({ field: where, description: 'must be an RFC 3339 date-time' });
  }
}

function validateNumber(s, value, where, out) {
  const range = s.type === 'integer' && INT_RANGES[s.format];
  if (range && (value < range[0] || value > range[1])) {
    out.push({ field: where, description: `must be a ${s.format} integer` });
  }
  if (s.minimum !== undefined && value < s.minimum) out.push({ field: where, description: `must be >= ${s.minimum}` });
  if (s.maximum !== undefined && value > s.maximum) out.push({ field: where, description: `must be <= ${s.maximum}` });
}

function validateObject(s, value, field, out) {
  const props = s.properties;
  const extra = s.additionalProperties;
  // `type: object` alone (tool params, api_config, details) takes any object.
  if (!props && !isObject(extra)) return;
  for (const req of s.required || []) {
    if (!props || !props[req]) continue;
    if (value[req] === undefined) out.push({ field: join(field, req), description: 'required' });
    else if (value[req] === '') out.push({ field: join(field, req), description: 'must not be empty' });
  }
  for (const [k, v] of Object.entries(value)) {
    const sub = (props && props[k]) || (isObject(extra) ? extra : undefined);
    if (sub) validateValue(sub, v, join(field, k), out);
    else out.push({ field: join(field, k), description: 'is not a known field' });
  }
}

function parseJsonBody(ctx, spec) {
  const raw = ctx.body;
  if (raw.length === 0) {
    if (!spec.required) return {};
    throw invalid('request body is required', [{ field: '(body)', description: 'required' }]);
  }
  const ct = (ctx.headers['content-type'] || '').split(';')[0].trim().toLowerCase();
  if (ct !== 'application/json') {
    throw invalid(`content-type must be application/json (got ${JSON.stringify(ctx.headers['content-type'] || '')})`,
      [{ field: 'content-type', description: 'must be application/json' }]);
  }
  let body;
  try {
    body = JSON.parse(raw);
  } catch (e) {
    throw invalid(`invalid JSON body: ${e.message}`, [{ field: '(body)', description: 'invalid JSON' }]);
  }
  if (!isObject(body)) throw invalid('request body must be a JSON object', [{ field: '(body)', description: 'must be an object' }]);
  const errors = validateValue(spec.schema, body, '', []);
  if (errors.length) {
    throw invalid(`invalid ${spec.name}: ${errors.map((e) => `${e.field} ${e.description}`).join('; ')}`, errors);
  }
  return body;
}

// Query values arrive as strings: each known parameter is converted to its
// schema type and validated; an unknown parameter is a 400 (the service
// would drop it silently, which is exactly what the specs must catch).
function parseQuery(ctx, params) {
  const out = {};
  const errors = [];
  for (const [name, raw] of Object.entries(ctx.query)) {
    if (!params[name]) {
      errors.push({ field: name, description: 'is not a known query parameter' });
      continue;
    }
    const s = resolve(params[name].schema);
    const values = Array.isArray(raw) ? raw : [raw];
    if (s.type === 'array') {
      out[name] = values.map((v, i) => convertQueryValue(s.items || {}, v, `${name}[${i}]`, errors));
    } else {
      const value = convertQueryValue(s, values[values.length - 1], name, errors);
      if (value !== undefined) out[name] = value;
    }
  }
  for (const [name, p] of Object.entries(params)) {
    if (p.required && (out[name] === undefined || out[name] === '')) errors.push({ field: name, description: 'required' });
  }
  if (errors.length) {
    throw invalid(`invalid query: ${errors.map((e) => `${e.field} ${e.description}`).join('; ')}`, errors);
  }
  return out;
}

function convertQueryValue(schema, raw, field, errors) {
  const s = resolve(schema);
  let value = raw;
  if (raw === '' && (s.type === 'integer' || s.type === 'boolean')) return undefined; // as if absent
  if (s.type === 'integer') {
    if (!/^-?\d{1,19}$/.test(raw)) {
      errors.push({ field, description: 'must be an integer' });
      return undefined;
    }
    value = Number(raw);
  } else if (s.type === 'boolean') {
    if (raw !== 'true' && raw !== 'false') {
      errors.push({ field, description: 'must be true or false' });
      return undefined;
    }
    value = raw === 'true';
  }
  validateValue(s, value, field, errors);
  return value;
}

// ---------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------

let state;

function freshState(keepTokens) {
  const prev = state;
  state = {
    config: {
      token_ttl: OPTS.tokenTtl,
      client_id: OPTS.clientId,
      client_secret: OPTS.clientSecret,
    },
    counters: {}, // name -> last value issued
    tokens: keepTokens && prev ? prev.tokens : new Map(), // access_token -> {expiresAt, usesLeft, revoked}
    orgs: new Map(), // id -> organization (insertion order = list order)
    orgExtras: new Map(), // id -> {policy, userManagement, defaultMemberRole}
    connections: new Map(), // id -> connection
    directories: new Map(), // id -> directory (+ user/group ranges)
    users: new Map(), // id -> user (memberships: Map orgId -> membership)
    envRoles: new Map(), // name -> role
    orgRoles: new Map(), // orgId -> Map name -> role
    permissions: new Map(), // name -> permission
    domains: new Map(), // id -> domain
    clients: new Map(), // client_id -> organization API client
    sessions: new Map(), // session_id -> session
    passwordless: new Map(), // auth_request_id -> pending request
    outbox: [], // passwordless emails sent, oldest first
    connectedAccounts: [], // insertion order
    faults: [],
    requests: [],
    stats: { tokens_issued: 0, requests: 0, connections: 0, tcp_connections: 0, faults_applied: 0 },
    responseCounter: 0,
    connectionEpoch: prev ? prev.connectionEpoch + 1 : 0,
  };
  // Every environment starts with the two roles Scalekit creates.
  createEnvRole({ name: 'admin', display_name: 'Admin', description: 'Full access' }).default_creator = true;
  createEnvRole({ name: 'member', display_name: 'Member', description: 'Default member role' }).default_member = true;
  for (const m of MODULES) if (m.reset) m.reset();
}

function nextId(name) {
  state.counters[name] = (state.counters[name] || 0) + 1;
  return state.counters[name];
}

// ---------------------------------------------------------------------------
// Pagination
// ---------------------------------------------------------------------------

const DEFAULT_PAGE_SIZE = 20;
const MAX_PAGE_SIZE = 100;
// Page tokens are base64 of a 2-byte magic followed by "<operationId>:<offset>".
// The magic makes every token start with "+/", so a client that does not
// percent-encode query values ("+" decodes to a space) gets a 400.
const TOKEN_MAGIC = Buffer.from([0xfb, 0xff]);

function encodePageToken(op, offset) {
  return Buffer.concat([TOKEN_MAGIC, Buffer.from(`${op}:${offset}`)]).toString('base64');
}

function decodePageToken(op, token) {
  const bad = () => invalid('invalid page_token', [{ field: 'page_token', description: 'invalid page token' }]);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(token)) throw bad();
  const buf = Buffer.from(token, 'base64');
  if (buf.toString('base64') !== token || buf.length < 3 || !buf.subarray(0, 2).equals(TOKEN_MAGIC)) throw bad();
  const m = /^([A-Za-z0-9_]+):(\d{1,15})$/.exec(buf.subarray(2).toString('latin1'));
  if (!m || m[1] !== op) throw bad();
  return Number(m[2]);
}

function pageSize(ctx) {
  const size = ctx.q.page_size;
  if (size === undefined) return DEFAULT_PAGE_SIZE;
  if (size < 1 || size > MAX_PAGE_SIZE) {
    throw invalid(`invalid page_size ${JSON.stringify(ctx.query.page_size)}`,
      [{ field: 'page_size', description: `must be an integer between 1 and ${MAX_PAGE_SIZE}` }]);
  }
  return size;
}

// Token paging: source is an array, or {count, get(i)} for lazily generated
// collections. -> {items, next_page_token, total_size}
function paginate(ctx, source) {
  const size = pageSize(ctx);
  const token = ctx.q.page_token;
  const offset = token ? decodePageToken(ctx.opId, token) : 0;
  const count = Array.isArray(source) ? source.length : source.count;
  const get = Array.isArray(source) ? (i) => source[i] : source.get;
  const items = [];
  for (let i = offset; i < Math.min(count, offset + size); i++) items.push(get(i));
  const next = offset + size < count ? encodePageToken(ctx.opId, offset + size) : '';
  const prev = offset > 0 ? encodePageToken(ctx.opId, Math.max(0, offset - size)) : '';
  return { items, next_page_token: next, prev_page_token: prev, total_size: count };
}

// page_number paging (domains): 1-based; 0 or absent is the first page.
function paginateByNumber(ctx, list) {
  const size = pageSize(ctx);
  const number = ctx.q.page_number === undefined || ctx.q.page_number === 0 ? 1 : ctx.q.page_number;
  if (number < 1) throw invalidField('page_number', 'must be >= 1');
  const start = (number - 1) * size;
  return { items: list.slice(start, start + size), page_number: number, page_size: size };
}

// ---------------------------------------------------------------------------
// Organizations, connections, directories
// ---------------------------------------------------------------------------

const DEFAULT_FEATURES = [
  { name: 'sso', enabled: false },
  { name: 'dir_sync', enabled: false },
];

const DEFAULT_SESSION_POLICY = {
  policy_source: 'APPLICATION',
  absolute_session_timeout: 7,
  absolute_session_timeout_unit: 'DAYS',
  idle_session_timeout_enabled: false,
  idle_session_timeout: 30,
  idle_session_timeout_unit: 'MINUTES',
};

function createOrg(fields, id) {
  let orgId = id;
  if (orgId === undefined) {
    do orgId = `org_${nextId('org')}`; while (state.orgs.has(orgId));
  }
  if (state.orgs.has(orgId)) throw conflict(`organization ${JSON.stringify(orgId)} already exists`, 'id');
  if (fields.external_id !== undefined && fields.external_id !== '' && orgByExternalId(fields.external_id)) {
    throw conflict(`an organization with external_id ${JSON.stringify(fields.external_id)} already exists`, 'external_id');
  }
  const t = nowIso();
  const org = {
    id: orgId,
    display_name: fields.display_name,
    region_code: 'US',
    metadata: clone(fields.metadata) || {},
    settings: { features: clone(DEFAULT_FEATURES) },
    create_time: t,
    update_time: t,
  };
  for (const k of ['external_id', 'logo_url', 'slug']) if (fields[k] !== undefined) org[k] = fields[k];
  state.orgs.set(orgId, org);
  state.orgExtras.set(orgId, { policy: clone(DEFAULT_SESSION_POLICY), userManagement: {}, defaultMemberRole: null });
  state.orgRoles.set(orgId, new Map());

  // Every organization comes with two SSO connections and one SCIM directory.
  const seeds = [
    { type: 'SAML', provider: 'OKTA', status: 'COMPLETED', enabled: true },
    { type: 'OIDC', provider: 'GOOGLE', status: 'DRAFT', enabled: false },
  ];
  for (const s of seeds) {
    const n = nextId('conn');
    const conn = { id: `conn_${n}`, organization_id: orgId, ...s, key_id: `key_${n}`, provider_key: s.provider.toLowerCase() };
    state.connections.set(conn.id, conn);
  }
  const n = nextId('dir');
  state.directories.set(`dir_${n}`, {
    id: `dir_${n}`,
    organization_id: orgId,
    name: `Directory ${n}`,
    directory_type: 'SCIM',
    directory_provider: 'OKTA',
    directory_endpoint: `https://fake.scalekit.test/api/v1/directorySync/dir_${n}/v2`,
    status: 'ACTIVE',
    enabled: true,
    last_synced_at: t,
    users: [], // [{start, count, time}]
    groups: [],
  });
  return org;
}

function orgByExternalId(externalId) {
  for (const o of state.orgs.values()) if (o.external_id === externalId) return o;
  return undefined;
}

function deleteOrg(orgId) {
  state.orgs.delete(orgId);
  state.orgExtras.delete(orgId);
  state.orgRoles.delete(orgId);
  for (const [id, c] of state.connections) if (c.organization_id === orgId) state.connections.delete(id);
  for (const [id, d] of state.directories) if (d.organization_id === orgId) state.directories.delete(id);
  for (const [id, d] of state.domains) if (d.organization_id === orgId) state.domains.delete(id);
  for (const [id, c] of state.clients) if (c.organization_id === orgId) state.clients.delete(id);
  for (const u of state.users.values()) u.memberships.delete(orgId);
}

function requireOrg(id) {
  const org = state.orgs.get(id);
  if (!org) throw notFound('organization', id);
  return org;
}

function directoryOf(orgId) {
  for (const d of state.directories.values()) if (d.organization_id === orgId) return d;
  return undefined;
}

function orgDomainNames(orgId) {
  const out = [];
  for (const d of state.domains.values()) if (d.organization_id === orgId) out.push(d.domain);
  return out;
}

function connectionListView(c) {
  const org = state.orgs.get(c.organization_id);
  return {
    id: c.id,
    organization_id: c.organization_id,
    organization_name: org ? org.display_name : '',
    type: c.type,
    provider: c.provider,
    provider_key: c.provider_key,
    key_id: c.key_id,
    status: c.status,
    enabled: c.enabled,
    domains: orgDomainNames(c.organization_id),
  };
}

function connectionView(c) {
  const v = connectionListView(c);
  delete v.organization_name;
  const domains = [];
  for (const d of state.domains.values()) if (d.organization_id === c.organization_id) domains.push(domainView(d));
  v.domains = domains;
  v.debug_enabled = false;
  v.attribute_mapping = {};
  return v;
}

function directoryView(d) {
  const totalUsers = d.users.reduce((a, r) => a + r.count, 0);
  const totalGroups = d.groups.reduce((a, r) => a + r.count, 0);
  return {
    id: d.id,
    organization_id: d.organization_id,
    name: d.name,
    directory_type: d.directory_type,
    directory_provider: d.directory_provider,
    directory_endpoint: d.directory_endpoint,
    status: d.status,
    enabled: d.enabled,
    last_synced_at: d.last_synced_at,
    total_users: totalUsers,
    total_groups: totalGroups,
    stats: { total_users: totalUsers, total_groups: totalGroups },
  };
}

// Directory users/groups are stored as ranges of global sequence numbers and
// generated on demand, so seeding 100000 users costs nothing.
function addRange(dir, kind, count) {
  if (count <= 0) return;
  const start = (state.counters[kind] || 0) + 1;
  state.counters[kind] = start + count - 1;
  dir[kind === 'diru' ? 'users' : 'groups'].push({ start, count, time: nowIso() });
}

function rangeSource(ranges, make) {
  const count = ranges.reduce((a, r) => a + r.count, 0);
  return {
    count,
    get(i) {
      for (const r of ranges) {
        if (i < r.count) return make(r.start + i, r.time);
        i -= r.count;
      }
      return undefined;
    },
  };
}

const makeDirectoryUser = (detail) => (n, time) => {
  const u = {
    id: `diru_${n}`,
    email: `user${n}@example.com`,
    emails: [`user${n}@example.com`],
    preferred_username: `user${n}`,
    given_name: `Given${n}`,
    family_name: `Family${n}`,
    groups: [],
    updated_at: time,
  };
  if (detail) u.user_detail = { active: true, userName: `user${n}`, externalId: `ext-user-${n}` };
  return u;
};

const makeDirectoryGroup = (detail) => (n, time) => {
  const g = { id: `dirg_${n}`, display_name: `Group ${n}`, total_users: 0, updated_at: time };
  if (detail) g.group_detail = { displayName: `Group ${n}`, externalId: `ext-group-${n}` };
  return g;
};

// ---------------------------------------------------------------------------
// Domains
// ---------------------------------------------------------------------------

const DOMAIN_NAME = /^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;

function createDomain(orgId, fields) {
  const name = String(fields.domain).toLowerCase();
  if (!DOMAIN_NAME.test(name)) throw invalidField('domain', 'must be a domain name such as example.com');
  for (const d of state.domains.values()) {
    if (d.domain === name) throw conflict(`domain ${JSON.stringify(name)} already exists`, 'domain');
  }
  const t = nowIso();
  const type = fields.domain_type || 'ORGANIZATION_DOMAIN';
  const d = {
    id: `dom_${nextId('dom')}`,
    domain: name,
    domain_type: type,
    organization_id: orgId,
    environment_id: 'env_1',
    verification_status: type === 'ALLOWED_EMAIL_DOMAIN' ? 'AUTO_VERIFIED' : 'PENDING',
    verification_method: type === 'ALLOWED_EMAIL_DOMAIN' ? 'NOT_APPLICABLE' : 'DNS',
    create_time: t,
    update_time: t,
  };
  state.domains.set(d.id, d);
  return d;
}

const domainView = (d) => ({ ...d });

// ---------------------------------------------------------------------------
// Roles and permissions
// ---------------------------------------------------------------------------

function createPermission(fields) {
  if (state.permissions.has(fields.name)) {
    throw conflict(`permission ${JSON.stringify(fields.name)} already exists`, 'name');
  }
  const t = nowIso();
  const p = {
    id: `perm_${nextId('perm')}`,
    name: fields.name,
    description: fields.description || '',
    is_scalekit_permission: false,
    create_time: t,
    update_time: t,
  };
  state.permissions.set(p.name, p);
  return p;
}

function requirePermission(name) {
  const p = state.permissions.get(name);
  if (!p) throw notFound('permission', name);
  return p;
}

// Permission names given in a body must exist.
function knownPermissions(names, field) {
  names.forEach((n, i) => {
    if (!state.permissions.has(n)) throw invalidField(`${field}[${i}]`, `names no permission (${JSON.stringify(n)})`);
  });
  return Array.from(new Set(names));
}

// roles: the Map the role lives in; orgId: null for environment roles.
function newRole(roles, orgId, fields) {
  if (roles.has(fields.name)) throw conflict(`role ${JSON.stringify(fields.name)} already exists`, 'name');
  const role = {
    id: `role_${nextId('role')}`,
    name: fields.name,
    display_name: fields.display_name !== undefined ? fields.display_name : fields.name,
    description: fields.description !== undefined ? fields.description : '',
    extends: '',
    permissions: fields.permissions ? knownPermissions(fields.permissions, 'permissions') : [],
    organization_id: orgId,
    default_member: false,
    default_creator: false,
  };
  if (fields.extends) role.extends = checkExtends(orgId, role.name, fields.extends);
  roles.set(role.name, role);
  return role;
}

function createEnvRole(fields) {
  return newRole(state.envRoles, null, fields);
}

// The base role named by `extends`: an environment role, or (for an
// organization role) one of the same organization. Cycles are refused.
function checkExtends(orgId, name, base) {
  let cur = lookupRole(orgId, base);
  if (!cur) throw invalidField('extends', `names no role (${JSON.stringify(base)})`);
  for (let depth = 0; cur; depth++) {
    if (cur.name === name || depth > 64) throw invalidField('extends', 'would make a cycle');
    cur = cur.extends ? lookupRole(cur.organization_id, cur.extends) : undefined;
  }
  return base;
}

// A role name as seen from an organization (its own roles first), or from
// the environment (orgId null).
function lookupRole(orgId, name) {
  const own = orgId ? state.orgRoles.get(orgId) : undefined;
  return (own && own.get(name)) || state.envRoles.get(name);
}

function requireEnvRole(name) {
  const r = state.envRoles.get(name);
  if (!r) throw notFound('role', name);
  return r;
}

function requireOrgRole(orgId, name) {
  requireOrg(orgId);
  const r = state.orgRoles.get(orgId).get(name);
  if (!r) throw notFound('role', name);
  return r;
}

// Own permissions, then those inherited through `extends` (bounded).
function effectivePermissions(role) {
  const names = [];
  const seen = new Set();
  let cur = role;
  for (let depth = 0; cur && depth <= 64; depth++) {
    for (const p of cur.permissions) if (!seen.has(p)) { seen.add(p); names.push(p); }
    cur = cur.extends ? lookupRole(cur.organization_id, cur.extends) : undefined;
  }
  return names;
}

function dependents(role) {
  const out = [];
  const pools = [state.envRoles.values()];
  for (const roles of state.orgRoles.values()) pools.push(roles.values());
  for (const pool of pools) {
    for (const r of pool) {
      if (r.extends === role.name && (role.organization_id === null || r.organization_id === role.organization_id)) out.push(r);
    }
  }
  return out;
}

// Memberships holding the role (organization roles: in that organization).
function roleHolders(role) {
  const out = [];
  for (const u of state.users.values()) {
    for (const m of u.memberships.values()) {
      if (role.organization_id !== null && m.organization_id !== role.organization_id) continue;
      if (m.roles.includes(role.name) && lookupRole(m.organization_id, role.name) === role) out.push(m);
    }
  }
  return out;
}

const permissionView = (p) => ({ ...p });

function rolePermissionView(role, name) {
  const p = state.permissions.get(name);
  return {
    id: p ? p.id : '',
    name,
    description: p ? p.description : '',
    role_name: role.name,
    create_time: p ? p.create_time : '',
    update_time: p ? p.update_time : '',
  };
}

function roleView(role) {
  const v = {
    id: role.id,
    name: role.name,
    display_name: role.display_name,
    description: role.description,
    is_org_role: role.organization_id !== null,
    default_member: role.default_member,
    default_creator: role.default_creator,
    dependent_roles_count: dependents(role).length,
    permissions: role.permissions.map((n) => rolePermissionView(role, n)),
  };
  if (role.extends) v.extends = role.extends;
  return v;
}

// Deletes a role after moving its holders to reassign (a role name), if any.
function removeRole(roles, role, reassign) {
  if (dependents(role).length > 0) {
    throw precondition(`role ${JSON.stringify(role.name)} is extended by other roles`);
  }
  const holders = roleHolders(role);
  if (holders.length > 0) {
    if (!reassign) {
      throw precondition(`role ${JSON.stringify(role.name)} is assigned to ${holders.length} users: give reassign_role_name`);
    }
    const target = lookupRole(role.organization_id, reassign);
    if (!target || target === role) throw invalidField('reassign_role_name', `names no other role (${JSON.stringify(reassign)})`);
    for (const m of holders) {
      m.roles = Array.from(new Set(m.roles.map((r) => (r === role.name ? reassign : r))));
    }
  }
  roles.delete(role.name);
}

// ---------------------------------------------------------------------------
// Users and memberships
// ---------------------------------------------------------------------------

const PROFILE_FIELDS = ['given_name', 'family_name', 'name', 'preferred_username', 'locale', 'picture',
  'phone_number', 'gender', 'groups', 'custom_attributes', 'metadata'];

function userByExternalId(externalId) {
  for (const u of state.users.values()) if (u.external_id === externalId) return u;
  return undefined;
}

function userByEmail(email) {
  const e = email.toLowerCase();
  for (const u of state.users.values()) if (u.email.toLowerCase() === e) return u;
  return undefined;
}

function requireUser(id) {
  const u = state.users.get(id);
  if (!u) throw notFound('user', id);
  return u;
}

function requireUserByExternalId(externalId) {
  const u = userByExternalId(externalId);
  if (!u) throw notFound('user with external_id', externalId);
  return u;
}

function applyProfile(profile, fields) {
  if (!fields) return;
  for (const k of PROFILE_FIELDS) if (fields[k] !== undefined) profile[k] = clone(fields[k]);
  // The update schema also has the older names first_name/last_name.
  if (fields.first_name !== undefined) profile.given_name = fields.first_name;
  if (fields.last_name !== undefined) profile.family_name = fields.last_name;
}

function createUser(fields) {
  need(fields, ['email']);
  if (!/^[^@\s]+@[^@\s]+$/.test(fields.email)) throw invalidField('email', 'must be an email address');
  if (userByEmail(fields.email)) throw conflict(`a user with email ${JSON.stringify(fields.email)} already exists`, 'email');
  if (fields.external_id && userByExternalId(fields.external_id)) {
    throw conflict(`a user with external_id ${JSON.stringify(fields.external_id)} already exists`, 'external_id');
  }
  const t = nowIso();
  const user = {
    id: `usr_${nextId('usr')}`,
    email: fields.email,
    external_id: fields.external_id || '',
    metadata: clone(fields.metadata) || {},
    profile: {},
    create_time: t,
    update_time: t,
    memberships: new Map(), // orgId -> membership
  };
  applyProfile(user.profile, fields.user_profile);
  state.users.set(user.id, user);
  return user;
}

function deleteUser(user) {
  state.users.delete(user.id);
  for (const [id, s] of state.sessions) if (s.user_id === user.id) state.sessions.delete(id);
}

// Role objects ({name}) of a membership body -> role names that exist for the org.
function membershipRoles(orgId, roles) {
  if (roles === undefined) return undefined;
  return Array.from(new Set(roles.map((r, i) => {
    if (!r.name) throw invalidField(`roles[${i}].name`, 'required');
    if (!lookupRole(orgId, r.name)) throw invalidField(`roles[${i}].name`, `names no role (${JSON.stringify(r.name)})`);
    return r.name;
  })));
}

function defaultMemberRole(orgId) {
  const own = state.orgExtras.get(orgId).defaultMemberRole;
  if (own && lookupRole(orgId, own)) return own;
  for (const r of state.envRoles.values()) if (r.default_member) return r.name;
  return undefined;
}

function addMembership(user, orgId, fields, invite) {
  const org = requireOrg(orgId);
  if (user.memberships.has(orgId)) {
    throw conflict(`user ${JSON.stringify(user.id)} is already a member of ${JSON.stringify(orgId)}`, 'id');
  }
  const max = state.orgExtras.get(orgId).userManagement.max_allowed_users;
  if (max && membersOf(orgId).length >= max) {
    throw precondition(`organization ${JSON.stringify(orgId)} allows at most ${max} users`);
  }
  const roles = membershipRoles(orgId, fields.roles);
  const fallback = defaultMemberRole(orgId);
  const t = nowIso();
  const m = {
    organization_id: org.id,
    user_id: user.id,
    membership_status: invite ? 'PENDING_INVITE' : 'ACTIVE',
    roles: roles || (fallback ? [fallback] : []),
    metadata: clone(fields.metadata) || {},
    inviter_email: fields.inviter_email || '',
    created_at: t,
    provisioning_method: 'API',
    resent_count: 0,
  };
  if (invite) m.expires_at = nowIso(7 * DAY);
  else m.join_time = t;
  user.memberships.set(orgId, m);
  user.update_time = t;
  return m;
}

function requireMembership(user, orgId) {
  requireOrg(orgId);
  const m = user.memberships.get(orgId);
  if (!m) throw notFound(`membership in ${orgId} of user`, user.id);
  return m;
}

function membersOf(orgId) {
  return Array.from(state.users.values()).filter((u) => u.memberships.has(orgId));
}

function membershipView(m) {
  const org = state.orgs.get(m.organization_id);
  const roles = m.roles.map((name) => {
    const r = lookupRole(m.organization_id, name);
    return { id: r ? r.id : '', name, display_name: r ? r.display_name : name };
  });
  const v = {
    organization_id: m.organization_id,
    display_name: org ? org.display_name : '',
    membership_status: m.membership_status,
    roles,
    permissions: membershipPermissions(m),
    metadata: clone(m.metadata),
    created_at: m.created_at,
    provisioning_method: m.provisioning_method,
  };
  if (m.inviter_email) v.inviter_email = m.inviter_email;
  if (m.join_time) v.join_time = m.join_time;
  if (m.expires_at) v.expires_at = m.expires_at;
  return v;
}

function membershipPermissions(m) {
  const names = [];
  for (const roleName of m.roles) {
    const r = lookupRole(m.organization_id, roleName);
    if (r) for (const p of effectivePermissions(r)) if (!names.includes(p)) names.push(p);
  }
  return names;
}

function userView(u) {
  const v = {
    id: u.id,
    email: u.email,
    metadata: clone(u.metadata),
    user_profile: { id: u.id, ...clone(u.profile), email_verified: false, phone_number_verified: false },
    create_time: u.create_time,
    update_time: u.update_time,
    memberships: Array.from(u.memberships.values()).map(membershipView),
  };
  if (u.external_id) v.external_id = u.external_id;
  return v;
}

function matchesQuery(u, query) {
  const q = query.toLowerCase();
  const hay = [u.id, u.email, u.external_id, u.profile.given_name, u.profile.family_name, u.profile.name];
  return hay.some((s) => typeof s === 'string' && s.toLowerCase().includes(q));
}

function usersPage(ctx, users) {
  const page = paginate(ctx, users);
  return ok({
    users: page.items.map(userView),
    next_page_token: page.next_page_token,
    prev_page_token: page.prev_page_token,
    total_size: page.total_size,
  });
}

// ---------------------------------------------------------------------------
// Sessions
// ---------------------------------------------------------------------------

function createSession(user, minutesAgo) {
  const n = nextId('ses');
  const created = nowIso(-minutesAgo * MINUTE);
  const orgs = Array.from(user.memberships.keys());
  const s = {
    session_id: `ses_${n}`,
    user_id: user.id,
    organization_id: orgs[0] || '',
    status: 'ACTIVE',
    created_at: created,
    updated_at: created,
    last_active_at: created,
    idle_expires_at: nowIso(30 * MINUTE),
    absolute_expires_at: nowIso(7 * DAY),
    authenticated_organizations: orgs,
    authenticated_clients: [],
    device: {
      browser: 'Firefox',
      browser_version: '128.0',
      device_type: 'desktop',
      ip: `203.0.113.${n % 250}`,
      os: 'Linux',
      os_version: '6.1',
      user_agent: 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
      location: { city: 'Berlin', region: 'DE', region_subdivision: 'BE', latitude: '52.52', longitude: '13.40' },
    },
  };
  state.sessions.set(s.session_id, s);
  return s;
}

function requireSession(id) {
  const s = state.sessions.get(id);
  if (!s) throw notFound('session', id);
  return s;
}

function revokeSession(s) {
  const t = nowIso();
  s.status = 'REVOKED';
  s.logout_at = t;
  s.updated_at = t;
}

function revokedView(s) {
  const v = {};
  for (const k of ['session_id', 'user_id', 'status', 'created_at', 'updated_at', 'last_active_at',
    'idle_expires_at', 'absolute_expires_at', 'expired_at', 'logout_at']) {
    if (s[k] !== undefined) v[k] = s[k];
  }
  return v;
}

// ---------------------------------------------------------------------------
// Organization API clients (M2M). A secret's plain text is kept only to
// check it at /oauth/token; responses show it once, when it is created.
// ---------------------------------------------------------------------------

function newClientSecret(client) {
  const plain = `sks_${randomHex(20)}`;
  const t = nowIso();
  const secret = {
    id: `sec_${nextId('sec')}`,
    secret_suffix: plain.slice(-4),
    create_time: t,
    update_time: t,
    created_by: 'api',
    plain,
  };
  client.secrets.push(secret);
  return secret;
}

const secretView = (s) => {
  const v = { ...s };
  delete v.plain;
  return v;
};

function clientView(c) {
  const v = { ...c, audience: c.audience.slice(), scopes: c.scopes.slice(), custom_claims: clone(c.custom_claims) };
  v.secrets = c.secrets.map(secretView);
  return v;
}

function requireClient(orgId, clientId) {
  requireOrg(orgId);
  const c = state.clients.get(clientId);
  if (!c || c.organization_id !== orgId) throw notFound('client', clientId);
  return c;
}

function applyClientFields(c, b) {
  for (const k of ['name', 'description', 'expiry']) if (b[k] !== undefined) c[k] = b[k];
  for (const k of ['audience', 'scopes']) if (b[k] !== undefined) c[k] = b[k].slice();
  if (b.custom_claims !== undefined) c.custom_claims = clone(b.custom_claims);
  c.update_time = nowIso();
}

function clientWithSecret(id, secret) {
  for (const c of state.clients.values()) {
    if (c.client_id === id && c.secrets.some((s) => s.plain === secret)) return c;
  }
  return undefined;
}

// ---------------------------------------------------------------------------
// Connected accounts
// ---------------------------------------------------------------------------

const AUTHORIZATION_TYPES = {
  oauth_token: 'OAUTH', static_auth: 'API_KEY', google_dwd: 'GOOGLE_DWD', trusted_idp: 'TRUSTED_IDP',
};

function authorizationType(details) {
  for (const [k, type] of Object.entries(AUTHORIZATION_TYPES)) if (details && details[k] !== undefined) return type;
  return 'OAUTH';
}

function findConnectedAccount(b) {
  if (b.id) return state.connectedAccounts.find((a) => a.id === b.id);
  return state.connectedAccounts.find((a) => a.connector === b.connector && a.identifier === b.identifier &&
    (!b.organization_id || a.organization_id === b.organization_id) && (!b.user_id || a.user_id === b.user_id));
}

function createConnectedAccount(fields) {
  if (findConnectedAccount({ connector: fields.connector, identifier: fields.identifier })) {
    throw conflict(`connected account ${fields.connector}/${fields.identifier} already exists`, 'identifier');
  }
  const details = fields.connected_account && fields.connected_account.authorization_details;
  const acct = {
    id: `ca_${nextId('ca')}`,
    connector: fields.connector,
    identifier: fields.identifier,
    organization_id: fields.organization_id || '',
    user_id: fields.user_id || '',
    status: details ? 'ACTIVE' : 'PENDING_AUTH',
    authorization_type: authorizationType(details),
    updated_at: nowIso(),
    details: clone(details), // never shown
  };
  state.connectedAccounts.push(acct);
  return acct;
}

// The live document shows authorization_details in a connected account;
// the fake never echoes credentials back.
const connectedAccountView = (a) => ({
  id: a.id,
  connector: a.connector,
  identifier: a.identifier,
  status: a.status,
  authorization_type: a.authorization_type,
  updated_at: a.updated_at,
});

// ---------------------------------------------------------------------------
// Passwordless email
// ---------------------------------------------------------------------------

const DEFAULT_PASSWORDLESS_TTL = 300;

// Each email has a new code: a resend never repeats the previous one.
function sendPasswordlessMessage(req) {
  let n = crypto.randomInt(0, 1000000);
  if (req.code !== undefined && n === Number(req.code)) n = (n + 1) % 1000000;
  req.code = String(n).padStart(6, '0');
  req.link_token = randomHex(16);
  req.expires_at = Math.floor(Date.now() / 1000) + req.expires_in;
  req.sent_count++;
  const message = {
    auth_request_id: req.auth_request_id,
    email: req.email,
    code: req.code,
    link_token: req.link_token,
    template: req.template,
    state: req.state,
    template_variables: clone(req.template_variables),
    expires_at: req.expires_at,
    sent_at: nowIso(),
  };
  if (req.magiclink_auth_uri) {
    const sep = req.magiclink_auth_uri.includes('?') ? '&' : '?';
    message.magic_link = `${req.magiclink_auth_uri}${sep}link_token=${req.link_token}`;
  }
  state.outbox.push(message);
  return {
    auth_request_id: req.auth_request_id,
    expires_at: String(req.expires_at),
    expires_in: req.expires_in,
    passwordless_type: req.passwordless_type,
  };
}

// ---------------------------------------------------------------------------
// API operation handlers. Each gets ctx (params: decoded path parameters,
// q: typed query, json: validated body) and returns {status, body}.
// ---------------------------------------------------------------------------

const ok = (body) => ({ status: 200, body });
const created = (body) => ({ status: 201, body });
// Deletes answer 200 with an empty object, as the service's gateway does.
const deleted = () => ok({});

function issueAccessToken() {
  const ttl = state.config.token_ttl;
  const token = `tok-${nextId('token')}-${randomHex(8)}`;
  state.tokens.set(token, {
    expiresAt: ttl > 0 ? Date.now() + ttl * 1000 : Infinity,
    usesLeft: ttl > 0 ? Infinity : 1,
    revoked: false,
  });
  state.stats.tokens_issued++;
  return { access_token: token, token_type: 'Bearer', expires_in: ttl };
}

function createToken(ctx) {
  const ct = (ctx.headers['content-type'] || '').split(';')[0].trim().toLowerCase();
  if (ct !== 'application/x-www-form-urlencoded') {
    throw invalid('content-type must be application/x-www-form-urlencoded',
      [{ field: 'content-type', description: 'must be application/x-www-form-urlencoded' }]);
  }
  const form = new URLSearchParams(ctx.body);
  const grant = form.get('grant_type');
  if (grant !== 'client_credentials') {
    // Extension point: a mounted module (the fake identity provider) takes
    // the other grant types.
    const handler = MODULES.find((m) => m.handleToken);
    if (grant !== null && handler) return handler.handleToken(ctx, form);
    throw invalid(grant === null ? 'grant_type is required' : `unsupported grant_type ${JSON.stringify(grant)}`,
      [{ field: 'grant_type', description: grant === null ? 'required' : 'must be client_credentials' }]);
  }
  const id = form.get('client_id');
  const secret = form.get('client_secret');
  if (!id || !secret) throw unauthenticated('client_id and client_secret are required');
  const environmentClient = id === state.config.client_id && secret === state.config.client_secret;
  if (!environmentClient && !clientWithSecret(id, secret)) throw unauthenticated('invalid client credentials');
  return ok(issueAccessToken());
}

// --- organizations ---------------------------------------------------------

function listOrganizations(ctx) {
  let orgs = Array.from(state.orgs.values());
  if (ctx.q.external_id) orgs = orgs.filter((o) => o.external_id === ctx.q.external_id);
  const page = paginate(ctx, orgs);
  return ok({
    organizations: page.items,
    next_page_token: page.next_page_token,
    prev_page_token: page.prev_page_token,
    total_size: page.total_size,
  });
}

function createOrganization(ctx) {
  return created({ organization: createOrg(ctx.json) });
}

function getOrganization(ctx) {
  return ok({ organization: requireOrg(ctx.params.id) });
}

function getOrganizationByExternalId(ctx) {
  const org = orgByExternalId(ctx.params.external_id);
  if (!org) throw notFound('organization with external_id', ctx.params.external_id);
  return ok({ organization: org });
}

function updateOrganization(ctx) {
  const org = requireOrg(ctx.params.id);
  const b = ctx.json;
  if (b.display_name === '') throw invalidField('display_name', 'must not be empty');
  if (b.external_id && b.external_id !== org.external_id && orgByExternalId(b.external_id)) {
    throw conflict(`an organization with external_id ${JSON.stringify(b.external_id)} already exists`, 'external_id');
  }
  for (const k of ['display_name', 'external_id', 'logo_url']) if (b[k] !== undefined) org[k] = b[k];
  if (b.slug !== undefined) {
    if (b.slug === '') delete org.slug; // the update pattern allows "" to clear it
    else org.slug = b.slug;
  }
  if (b.metadata !== undefined) Object.assign(org.metadata, b.metadata);
  org.update_time = nowIso();
  return ok({ organization: org });
}

function deleteOrganization(ctx) {
  requireOrg(ctx.params.id);
  deleteOrg(ctx.params.id);
  return deleted();
}

function updateOrganizationSettings(ctx) {
  const org = requireOrg(ctx.params.id);
  for (const f of ctx.json.features || []) {
    const cur = org.settings.features.find((x) => x.name === f.name);
    if (cur) cur.enabled = f.enabled;
    else org.settings.features.push({ name: f.name, enabled: f.enabled });
  }
  org.update_time = nowIso();
  return ok({ organization: org });
}

function generatePortalLink(ctx) {
  const org = requireOrg(ctx.params.id);
  return ok({
    link: {
      id: `lnk_${nextId('lnk')}`,
      location: `https://fake.scalekit.test/portal/${encodeURIComponent(org.id)}/${randomHex(12)}`,
      expire_time: nowIso(7 * DAY),
    },
  });
}

function getSessionPolicy(ctx) {
  requireOrg(ctx.params.organization_id);
  return ok({ policy: clone(state.orgExtras.get(ctx.params.organization_id).policy) });
}

function updateSessionPolicy(ctx) {
  requireOrg(ctx.params.organization_id);
  const extras = state.orgExtras.get(ctx.params.organization_id);
  const b = ctx.json;
  for (const k of ['absolute_session_timeout', 'idle_session_timeout']) {
    if (b[k] !== undefined && b[k] < 1) throw invalidField(k, 'must be positive');
  }
  Object.assign(extras.policy, b);
  return ok({ policy: clone(extras.policy) });
}

function upsertUserManagementSettings(ctx) {
  requireOrg(ctx.params.organization_id);
  const extras = state.orgExtras.get(ctx.params.organization_id);
  const settings = ctx.json.settings || {};
  if (settings.max_allowed_users !== undefined && settings.max_allowed_users < 0) {
    throw invalidField('settings.max_allowed_users', 'must not be negative');
  }
  Object.assign(extras.userManagement, settings);
  return ok({ settings: clone(extras.userManagement) });
}

// --- connections and directories ---------------------------------------------

function listConnections(ctx) {
  let conns = Array.from(state.connections.values());
  if (ctx.q.organization_id) conns = conns.filter((c) => c.organization_id === ctx.q.organization_id);
  if (ctx.q.domain) {
    const domain = ctx.q.domain.toLowerCase();
    conns = conns.filter((c) => orgDomainNames(c.organization_id).includes(domain));
  }
  return ok({ connections: conns.map(connectionListView) });
}

function requireConnection(ctx) {
  const orgId = requireOrg(ctx.params.organization_id).id;
  const conn = state.connections.get(ctx.params.id);
  if (!conn || conn.organization_id !== orgId) throw notFound('connection', ctx.params.id);
  return conn;
}

function getConnection(ctx) {
  return ok({ connection: connectionView(requireConnection(ctx)) });
}

function deleteConnection(ctx) {
  state.connections.delete(requireConnection(ctx).id);
  return deleted();
}

const toggleConnection = (enabled) => (ctx) => {
  const conn = requireConnection(ctx);
  conn.enabled = enabled;
  return ok({ enabled });
};

function listDirectories(ctx) {
  const orgId = requireOrg(ctx.params.organization_id).id;
  const dirs = Array.from(state.directories.values()).filter((d) => d.organization_id === orgId);
  return ok({ directories: dirs.map(directoryView) });
}

function requireDirectory(ctx, idParam) {
  const orgId = requireOrg(ctx.params.organization_id).id;
  const id = ctx.params[idParam];
  const dir = state.directories.get(id);
  if (!dir || dir.organization_id !== orgId) throw notFound('directory', id);
  return dir;
}

function getDirectory(ctx) {
  return ok({ directory: directoryView(requireDirectory(ctx, 'id')) });
}

const toggleDirectory = (enabled) => (ctx) => {
  requireDirectory(ctx, 'id').enabled = enabled;
  return ok({ enabled });
};

function rangesAfter(ranges, after) {
  return after ? ranges.filter((r) => Date.parse(r.time) > Date.parse(after)) : ranges;
}

function listDirectoryUsers(ctx) {
  const dir = requireDirectory(ctx, 'directory_id');
  // Seeded users belong to no group.
  const ranges = ctx.q.directory_group_id ? [] : rangesAfter(dir.users, ctx.q.updated_after);
  const page = paginate(ctx, rangeSource(ranges, makeDirectoryUser(ctx.q.include_detail === true)));
  return ok({
    users: page.items,
    next_page_token: page.next_page_token,
    prev_page_token: page.prev_page_token,
    total_size: page.total_size,
  });
}

function listDirectoryGroups(ctx) {
  const dir = requireDirectory(ctx, 'directory_id');
  const ranges = rangesAfter(dir.groups, ctx.q.updated_after);
  const page = paginate(ctx, rangeSource(ranges, makeDirectoryGroup(ctx.q.include_detail === true)));
  return ok({
    groups: page.items,
    next_page_token: page.next_page_token,
    prev_page_token: page.prev_page_token,
    total_size: page.total_size,
  });
}

// --- domains -----------------------------------------------------------------

function listDomains(ctx) {
  requireOrg(ctx.params.organization_id);
  let list = Array.from(state.domains.values()).filter((d) => d.organization_id === ctx.params.organization_id);
  if (ctx.q.domain_type) list = list.filter((d) => d.domain_type === ctx.q.domain_type);
  const page = paginateByNumber(ctx, list);
  return ok({ domains: page.items.map(domainView), page_number: page.page_number, page_size: page.page_size });
}

function createDomainOp(ctx) {
  requireOrg(ctx.params.organization_id);
  need(ctx.json, ['domain']);
  return ok({ domain: domainView(createDomain(ctx.params.organization_id, ctx.json)) });
}

function requireDomain(ctx) {
  requireOrg(ctx.params.organization_id);
  const d = state.domains.get(ctx.params.id);
  if (!d || d.organization_id !== ctx.params.organization_id) throw notFound('domain', ctx.params.id);
  return d;
}

function getDomain(ctx) {
  return ok({ domain: domainView(requireDomain(ctx)) });
}

function deleteDomain(ctx) {
  state.domains.delete(requireDomain(ctx).id);
  return deleted();
}

// --- users and memberships ---------------------------------------------------

function listUsers(ctx) {
  return usersPage(ctx, Array.from(state.users.values()));
}

function searchUsers(ctx) {
  return usersPage(ctx, Array.from(state.users.values()).filter((u) => matchesQuery(u, ctx.q.query)));
}

function listOrganizationUsers(ctx) {
  requireOrg(ctx.params.organization_id);
  return usersPage(ctx, membersOf(ctx.params.organization_id));
}

function searchOrganizationUsers(ctx) {
  requireOrg(ctx.params.organization_id);
  return usersPage(ctx, membersOf(ctx.params.organization_id).filter((u) => matchesQuery(u, ctx.q.query)));
}

const userOf = (ctx) => (ctx.params.external_id !== undefined
  ? requireUserByExternalId(ctx.params.external_id) : requireUser(ctx.params.id));

function getUser(ctx) {
  return ok({ user: userView(userOf(ctx)) });
}

function updateUser(ctx) {
  const u = userOf(ctx);
  const b = ctx.json;
  if (b.external_id && b.external_id !== u.external_id && userByExternalId(b.external_id)) {
    throw conflict(`a user with external_id ${JSON.stringify(b.external_id)} already exists`, 'external_id');
  }
  if (b.external_id !== undefined) u.external_id = b.external_id;
  if (b.metadata !== undefined) Object.assign(u.metadata, b.metadata);
  applyProfile(u.profile, b.user_profile);
  u.update_time = nowIso();
  return ok({ user: userView(u) });
}

function deleteUserOp(ctx) {
  deleteUser(userOf(ctx));
  return deleted();
}

function createUserAndMembership(ctx) {
  const orgId = requireOrg(ctx.params.organization_id).id;
  const b = ctx.json;
  const membership = b.membership || {};
  // Check the membership before anything is created.
  membershipRoles(orgId, membership.roles);
  const user = createUser(b);
  try {
    addMembership(user, orgId, membership, ctx.q.send_invitation_email === true);
  } catch (e) {
    deleteUser(user);
    throw e;
  }
  return created({ user: userView(user) });
}

function createMembership(ctx) {
  const user = userOf(ctx);
  addMembership(user, ctx.params.organization_id, ctx.json, ctx.q.send_invitation_email === true);
  return created({ user: userView(user) });
}

function updateMembership(ctx) {
  const user = userOf(ctx);
  const m = requireMembership(user, ctx.params.organization_id);
  const roles = membershipRoles(m.organization_id, ctx.json.roles);
  if (roles !== undefined) m.roles = roles;
  if (ctx.json.metadata !== undefined) Object.assign(m.metadata, ctx.json.metadata);
  user.update_time = nowIso();
  return ok({ user: userView(user) });
}

function deleteMembership(ctx) {
  const user = userOf(ctx);
  requireMembership(user, ctx.params.organization_id);
  user.memberships.delete(ctx.params.organization_id);
  return deleted();
}

function resendInvite(ctx) {
  const user = userOf(ctx);
  const m = requireMembership(user, ctx.params.organization_id);
  if (m.membership_status !== 'PENDING_INVITE' && m.membership_status !== 'INVITE_EXPIRED') {
    throw precondition(`user ${JSON.stringify(user.id)} has no pending invitation (${m.membership_status})`);
  }
  m.membership_status = 'PENDING_INVITE';
  m.expires_at = nowIso(7 * DAY);
  m.resent_count++;
  const invite = {
    organization_id: m.organization_id,
    user_id: user.id,
    status: m.membership_status,
    created_at: m.created_at,
    expires_at: m.expires_at,
    resent_at: nowIso(),
    resent_count: m.resent_count,
  };
  if (m.inviter_email) invite.inviter_email = m.inviter_email;
  return ok({ invite });
}

function listUserRoles(ctx) {
  const m = requireMembership(requireUser(ctx.params.user_id), ctx.params.organization_id);
  return ok({ roles: membershipView(m).roles });
}

function listUserPermissions(ctx) {
  const m = requireMembership(requireUser(ctx.params.user_id), ctx.params.organization_id);
  return ok({
    permissions: membershipPermissions(m).map((name) => {
      const p = state.permissions.get(name);
      return { id: p ? p.id : '', name, description: p ? p.description : '' };
    }),
  });
}

// --- roles and permissions ---------------------------------------------------

function listRoles() {
  return ok({ roles: Array.from(state.envRoles.values()).map(roleView) });
}

function createRole(ctx) {
  need(ctx.json, ['name']);
  return created({ role: roleView(createEnvRole(ctx.json)) });
}

function getRole(ctx) {
  return ok({ role: roleView(requireEnvRole(ctx.params.role_name)) });
}

function applyRoleUpdate(role, b) {
  if (b.display_name !== undefined) role.display_name = b.display_name;
  if (b.description !== undefined) role.description = b.description;
  if (b.permissions !== undefined) role.permissions = knownPermissions(b.permissions, 'permissions');
  if (b.extends !== undefined) role.extends = b.extends === '' ? '' : checkExtends(role.organization_id, role.name, b.extends);
}

function updateRole(ctx) {
  const role = requireEnvRole(ctx.params.role_name);
  applyRoleUpdate(role, ctx.json);
  return ok({ role: roleView(role) });
}

function deleteRole(ctx) {
  const role = requireEnvRole(ctx.params.role_name);
  if (role.default_member || role.default_creator) throw precondition(`role ${JSON.stringify(role.name)} is a default role`);
  removeRole(state.envRoles, role, ctx.q.reassign_role_name);
  return deleted();
}

function listDependentRoles(ctx) {
  return ok({ roles: dependents(requireEnvRole(ctx.params.role_name)).map(roleView) });
}

function listRolePermissions(ctx) {
  const role = requireEnvRole(ctx.params.role_name);
  return ok({ permissions: role.permissions.map((n) => permissionView(requirePermission(n))) });
}

function listEffectiveRolePermissions(ctx) {
  const role = requireEnvRole(ctx.params.role_name);
  return ok({ permissions: effectivePermissions(role).map((n) => permissionView(requirePermission(n))) });
}

function addPermissionsToRole(ctx) {
  const role = requireEnvRole(ctx.params.role_name);
  const names = knownPermissions(ctx.json.permission_names || [], 'permission_names');
  for (const n of names) if (!role.permissions.includes(n)) role.permissions.push(n);
  return ok({ permissions: role.permissions.map((n) => permissionView(requirePermission(n))) });
}

function removePermissionFromRole(ctx) {
  const role = requireEnvRole(ctx.params.role_name);
  const i = role.permissions.indexOf(ctx.params.permission_name);
  if (i < 0) throw notFound(`permission of role ${role.name}`, ctx.params.permission_name);
  role.permissions.splice(i, 1);
  return deleted();
}

function getRoleUsersCount(ctx) {
  return ok({ count: String(roleHolders(requireEnvRole(ctx.params.role_name)).length) });
}

// Both set_defaults paths: a role is named by default_*_role, or by the
// object's name or id.
function updateDefaultRoles(ctx) {
  const b = ctx.json;
  const pick = (flat, obj, field) => {
    const ref = flat !== undefined ? { name: flat } : obj;
    if (!ref) return undefined;
    const role = ref.name ? state.envRoles.get(ref.name)
      : Array.from(state.envRoles.values()).find((r) => r.id === ref.id);
    if (!role) throw invalidField(field, `names no role (${JSON.stringify(ref.name || ref.id)})`);
    return role;
  };
  const member = pick(b.default_member_role, b.default_member, 'default_member_role');
  const creator = pick(b.default_creator_role, b.default_creator, 'default_creator_role');
  for (const r of state.envRoles.values()) {
    if (member) r.default_member = r === member;
    if (creator) r.default_creator = r === creator;
  }
  const out = {};
  for (const r of state.envRoles.values()) {
    if (r.default_member) out.default_member = roleView(r);
    if (r.default_creator) out.default_creator = roleView(r);
  }
  return ok(out);
}

function listOrganizationRoles(ctx) {
  requireOrg(ctx.params.org_id);
  return ok({ roles: Array.from(state.orgRoles.get(ctx.params.org_id).values()).map(roleView) });
}

function createOrganizationRole(ctx) {
  requireOrg(ctx.params.org_id);
  need(ctx.json, ['name']);
  return created({ role: roleView(newRole(state.orgRoles.get(ctx.params.org_id), ctx.params.org_id, ctx.json)) });
}

function getOrganizationRole(ctx) {
  return ok({ role: roleView(requireOrgRole(ctx.params.org_id, ctx.params.role_name)) });
}

function updateOrganizationRole(ctx) {
  const role = requireOrgRole(ctx.params.org_id, ctx.params.role_name);
  applyRoleUpdate(role, ctx.json);
  return ok({ role: roleView(role) });
}

function deleteOrganizationRole(ctx) {
  const role = requireOrgRole(ctx.params.org_id, ctx.params.role_name);
  removeRole(state.orgRoles.get(ctx.params.org_id), role, ctx.q.reassign_role_name);
  const extras = state.orgExtras.get(ctx.params.org_id);
  if (extras.defaultMemberRole === role.name) extras.defaultMemberRole = null;
  return deleted();
}

function updateDefaultOrganizationRoles(ctx) {
  requireOrg(ctx.params.org_id);
  need(ctx.json, ['default_member_role']);
  const role = lookupRole(ctx.params.org_id, ctx.json.default_member_role);
  if (!role) throw invalidField('default_member_role', `names no role (${JSON.stringify(ctx.json.default_member_role)})`);
  state.orgExtras.get(ctx.params.org_id).defaultMemberRole = role.name;
  return ok({ default_member: { ...roleView(role), default_member: true } });
}

function listPermissions(ctx) {
  let list = Array.from(state.permissions.values());
  if (ctx.q.type === 'SCALEKIT') list = list.filter((p) => p.is_scalekit_permission);
  if (ctx.q.type === 'ENVIRONMENT') list = list.filter((p) => !p.is_scalekit_permission);
  const page = paginate(ctx, list);
  return ok({
    permissions: page.items.map(permissionView),
    next_page_token: page.next_page_token,
    prev_page_token: page.prev_page_token,
    total_size: page.total_size,
  });
}

function createPermissionOp(ctx) {
  need(ctx.json, ['name']);
  return created({ permission: permissionView(createPermission(ctx.json)) });
}

function getPermission(ctx) {
  return ok({ permission: permissionView(requirePermission(ctx.params.permission_name)) });
}

function updatePermission(ctx) {
  const p = requirePermission(ctx.params.permission_name);
  if (ctx.json.name !== undefined && ctx.json.name !== p.name) throw invalidField('name', 'cannot be changed');
  if (ctx.json.description !== undefined) p.description = ctx.json.description;
  p.update_time = nowIso();
  return ok({ permission: permissionView(p) });
}

function deletePermission(ctx) {
  const p = requirePermission(ctx.params.permission_name);
  state.permissions.delete(p.name);
  const pools = [state.envRoles.values()];
  for (const roles of state.orgRoles.values()) pools.push(roles.values());
  for (const pool of pools) for (const r of pool) r.permissions = r.permissions.filter((n) => n !== p.name);
  return deleted();
}

// --- sessions ----------------------------------------------------------------

function getSession(ctx) {
  return ok(clone(requireSession(ctx.params.session_id)));
}

function getUserSessions(ctx) {
  requireUser(ctx.params.user_id);
  let list = Array.from(state.sessions.values()).filter((s) => s.user_id === ctx.params.user_id);
  const statuses = ctx.q['filter.status'];
  if (statuses && statuses.length) list = list.filter((s) => statuses.includes(s.status));
  const start = ctx.q['filter.start_time'];
  const end = ctx.q['filter.end_time'];
  if (start) list = list.filter((s) => Date.parse(s.created_at) >= Date.parse(start));
  if (end) list = list.filter((s) => Date.parse(s.created_at) <= Date.parse(end));
  const page = paginate(ctx, list);
  return ok({
    sessions: page.items.map(clone),
    next_page_token: page.next_page_token,
    prev_page_token: page.prev_page_token,
    total_size: page.total_size,
  });
}

function revokeSessionOp(ctx) {
  const s = requireSession(ctx.params.session_id);
  if (s.status === 'ACTIVE') revokeSession(s);
  return ok({ revoked_session: revokedView(s) });
}

function revokeAllUserSessions(ctx) {
  requireUser(ctx.params.user_id);
  const revoked = [];
  for (const s of state.sessions.values()) {
    if (s.user_id === ctx.params.user_id && s.status === 'ACTIVE') {
      revokeSession(s);
      revoked.push(revokedView(s));
    }
  }
  return ok({ revoked_sessions: revoked, total_revoked: revoked.length });
}

// --- organization API clients ------------------------------------------------

function listOrganizationClients(ctx) {
  requireOrg(ctx.params.organization_id);
  const list = Array.from(state.clients.values()).filter((c) => c.organization_id === ctx.params.organization_id);
  const page = paginate(ctx, list);
  return ok({
    clients: page.items.map(clientView),
    next_page_token: page.next_page_token,
    prev_page_token: page.prev_page_token,
    total_size: page.total_size,
  });
}

function createOrganizationClient(ctx) {
  requireOrg(ctx.params.organization_id);
  need(ctx.json, ['name']);
  const t = nowIso();
  const c = {
    client_id: `m2morg_${nextId('m2m')}`,
    organization_id: ctx.params.organization_id,
    name: '',
    description: '',
    audience: [],
    scopes: [],
    custom_claims: [],
    expiry: '3600',
    redirect_uris: [],
    is_cimd: false,
    is_dcr: false,
    create_time: t,
    update_time: t,
    secrets: [],
  };
  applyClientFields(c, ctx.json);
  c.update_time = t;
  const secret = newClientSecret(c);
  state.clients.set(c.client_id, c);
  return created({ client: clientView(c), plain_secret: secret.plain });
}

function getOrganizationClient(ctx) {
  return ok({ client: clientView(requireClient(ctx.params.organization_id, ctx.params.client_id)) });
}

function updateOrganizationClient(ctx) {
  const c = requireClient(ctx.params.organization_id, ctx.params.client_id);
  if (ctx.json.name === '') throw invalidField('name', 'must not be empty');
  applyClientFields(c, ctx.json);
  return ok({ client: clientView(c) });
}

function deleteOrganizationClient(ctx) {
  state.clients.delete(requireClient(ctx.params.organization_id, ctx.params.client_id).client_id);
  return deleted();
}

function createOrganizationClientSecret(ctx) {
  const c = requireClient(ctx.params.organization_id, ctx.params.client_id);
  const secret = newClientSecret(c);
  return created({ plain_secret: secret.plain, secret: secretView(secret) });
}

function deleteOrganizationClientSecret(ctx) {
  const c = requireClient(ctx.params.organization_id, ctx.params.client_id);
  const i = c.secrets.findIndex((s) => s.id === ctx.params.secret_id);
  if (i < 0) throw notFound('client secret', ctx.params.secret_id);
  c.secrets.splice(i, 1);
  return deleted();
}

// --- passwordless email ------------------------------------------------------

function sendPasswordlessEmail(ctx) {
  const b = ctx.json;
  need(b, ['email']);
  if (!/^[^@\s]+@[^@\s]+$/.test(b.email)) throw invalidField('email', 'must be an email address');
  if (b.expires_in !== undefined && b.expires_in < 1) throw invalidField('expires_in', 'must be positive');
  const req = {
    auth_request_id: `pwl_${nextId('pwl')}_${randomHex(6)}`,
    email: b.email,
    template: b.template || 'SIGNIN',
    state: b.state || '',
    magiclink_auth_uri: b.magiclink_auth_uri || '',
    template_variables: clone(b.template_variables) || {},
    expires_in: b.expires_in || DEFAULT_PASSWORDLESS_TTL,
    passwordless_type: b.magiclink_auth_uri ? 'LINK_OTP' : 'OTP',
    sent_count: 0,
  };
  state.passwordless.set(req.auth_request_id, req);
  return ok(sendPasswordlessMessage(req));
}

function requirePasswordless(id, field) {
  const req = state.passwordless.get(id);
  if (!req) throw new ApiError(404, 'NOT_FOUND', `passwordless request ${JSON.stringify(id)} not found`,
    [{ field, description: 'not found' }]);
  return req;
}

function resendPasswordlessEmail(ctx) {
  need(ctx.json, ['auth_request_id']);
  return ok(sendPasswordlessMessage(requirePasswordless(ctx.json.auth_request_id, 'auth_request_id')));
}

// A request verifies once: with its latest code, or the link token.
function verifyPasswordlessEmail(ctx) {
  const b = ctx.json;
  let req;
  if (b.link_token !== undefined) {
    req = Array.from(state.passwordless.values()).find((r) => r.link_token === b.link_token);
    if (!req) throw invalidField('link_token', 'is not valid');
  } else {
    need(b, ['auth_request_id', 'code']);
    req = requirePasswordless(b.auth_request_id, 'auth_request_id');
    if (req.code !== b.code) throw invalidField('code', 'is not valid');
  }
  if (Date.now() / 1000 >= req.expires_at) throw invalidField(b.link_token !== undefined ? 'link_token' : 'code', 'has expired');
  state.passwordless.delete(req.auth_request_id);
  return ok({ email: req.email, state: req.state, template: req.template, passwordless_type: req.passwordless_type });
}

// --- connected accounts and tools --------------------------------------------

function listConnectedAccounts(ctx) {
  let list = state.connectedAccounts;
  for (const k of ['connector', 'identifier', 'organization_id', 'user_id']) {
    if (ctx.q[k]) list = list.filter((a) => a[k] === ctx.q[k]);
  }
  if (ctx.q.query) list = list.filter((a) => a.identifier.includes(ctx.q.query));
  const page = paginate(ctx, list);
  return ok({
    connected_accounts: page.items.map(connectedAccountView),
    next_page_token: page.next_page_token,
    prev_page_token: page.prev_page_token,
    total_size: page.total_size,
  });
}

function createConnectedAccountOp(ctx) {
  need(ctx.json, ['connector', 'identifier']);
  return created({ connected_account: connectedAccountView(createConnectedAccount(ctx.json)) });
}

function updateConnectedAccount(ctx) {
  const b = ctx.json;
  if (!b.id) need(b, ['connector', 'identifier']);
  const acct = findConnectedAccount(b);
  if (!acct) throw notFound('connected account', b.id || `${b.connector}/${b.identifier}`);
  const details = b.connected_account && b.connected_account.authorization_details;
  if (details !== undefined) {
    acct.details = clone(details);
    acct.authorization_type = authorizationType(details);
    acct.status = 'ACTIVE';
  }
  acct.updated_at = nowIso();
  return ok({ connected_account: connectedAccountView(acct) });
}

function magicLink(ctx) {
  const b = ctx.json;
  if (!b.id) need(b, ['connector', 'identifier']);
  return ok({
    link: `https://fake.scalekit.test/magic_link/${encodeURIComponent(b.connector || b.id)}/${randomHex(12)}`,
    expiry: nowIso(3600 * 1000),
  });
}

function executeTool(ctx) {
  const b = ctx.json;
  need(b, ['tool_name']);
  if (!b.connected_account_id) need(b, ['identifier']);
  const found = b.connected_account_id
    ? state.connectedAccounts.some((a) => a.id === b.connected_account_id)
    : state.connectedAccounts.some((a) => a.identifier === b.identifier && (!b.connector || a.connector === b.connector));
  if (!found) throw notFound('connected account', b.connected_account_id || b.identifier);
  return ok({ data: b.params !== undefined ? b.params : {}, execution_id: `exec_${nextId('exec')}` });
}

// ---------------------------------------------------------------------------
// Route table: one row per operation served. Method, path, query parameters
// and body schema come from the live document; the alias is the first
// document's operationId (logged as `operation`, so older specs keep
// finding their requests). Operations not listed answer 404 (Prism serves
// the whole document in the contract suite).
// ---------------------------------------------------------------------------

const API_OPERATIONS = [
  // operationId                                    alias (first document)               handler
  ['OrganizationService_ListOrganization',            'listOrganizations',                 listOrganizations],
  ['OrganizationService_CreateOrganization',          'createOrganization',                createOrganization],
  ['OrganizationService_GetOrganization',             'getOrganization',                   getOrganization],
  ['OrganizationService_UpdateOrganization',          'updateOrganization',                updateOrganization],
  ['OrganizationService_DeleteOrganization',          'deleteOrganization',                deleteOrganization],
  ['OrganizationService_UpdateOrganizationSettings',  'updateOrganizationSettings',        updateOrganizationSettings],
  ['OrganizationService_GeneratePortalLink',          'createPortalLink',                  generatePortalLink],
  ['OrganizationService_GetOrganizationByExternalId', null,                                getOrganizationByExternalId],
  ['OrganizationService_GetOrganizationSessionPolicy', null,                               getSessionPolicy],
  ['OrganizationService_UpdateOrganizationSessionPolicy', null,                            updateSessionPolicy],
  ['OrganizationService_UpsertUserManagementSettings', null,                               upsertUserManagementSettings],
  ['ConnectionService_ListConnections',               'listConnections',                   listConnections],
  ['ConnectionService_GetConnection',                 'getConnection',                     getConnection],
  ['ConnectionService_DeleteConnection',              null,                                deleteConnection],
  ['ConnectionService_EnableConnection',              null,                                toggleConnection(true)],
  ['ConnectionService_DisableConnection',             null,                                toggleConnection(false)],
  ['DirectoryService_ListDirectories',                'listDirectories',                   listDirectories],
  ['DirectoryService_GetDirectory',                   'getDirectory',                      getDirectory],
  ['DirectoryService_ListDirectoryUsers',             'listDirectoryUsers',                listDirectoryUsers],
  ['DirectoryService_ListDirectoryGroups',            'listDirectoryGroups',               listDirectoryGroups],
  ['DirectoryService_EnableDirectory',                null,                                toggleDirectory(true)],
  ['DirectoryService_DisableDirectory',               null,                                toggleDirectory(false)],
  ['DomainService_ListDomains',                       null,                                listDomains],
  ['DomainService_CreateDomain',                      null,                                createDomainOp],
  ['DomainService_GetDomain',                         null,                                getDomain],
  ['DomainService_DeleteDomain',                      null,                                deleteDomain],
  ['UserService_ListUsers',                           null,                                listUsers],
  ['UserService_SearchUsers',                         null,                                searchUsers],
  ['UserService_GetUser',                             null,                                getUser],
  ['UserService_UpdateUser',                          null,                                updateUser],
  ['UserService_DeleteUser',                          null,                                deleteUserOp],
  ['UserService_GetUser2',                            null,                                getUser],
  ['UserService_UpdateUser2',                         null,                                updateUser],
  ['UserService_DeleteUser2',                         null,                                deleteUserOp],
  ['UserService_ListOrganizationUsers',               null,                                listOrganizationUsers],
  ['UserService_SearchOrganizationUsers',             null,                                searchOrganizationUsers],
  ['UserService_CreateUserAndMembership',             null,                                createUserAndMembership],
  ['UserService_ListUserRoles',                       null,                                listUserRoles],
  ['UserService_ListUserPermissions',                 null,                                listUserPermissions],
  ['UserService_CreateMembership',                    'addMembership',                     createMembership],
  ['UserService_UpdateMembership',                    'updateMembership',                  updateMembership],
  ['UserService_DeleteMembership',                    'removeMembership',                  deleteMembership],
  ['UserService_CreateMembership2',                   null,                                createMembership],
  ['UserService_UpdateMembership2',                   null,                                updateMembership],
  ['UserService_DeleteMembership2',                   null,                                deleteMembership],
  ['UserService_ResendInvite',                        'resendInvite',                      resendInvite],
  ['RolesService_ListRoles',                          null,                                listRoles],
  ['RolesService_CreateRole',                         null,                                createRole],
  ['RolesService_GetRole',                            null,                                getRole],
  ['RolesService_UpdateRole',                         null,                                updateRole],
  ['RolesService_DeleteRole',                         null,                                deleteRole],
  ['RolesService_ListDependentRoles',                 null,                                listDependentRoles],
  ['RolesService_ListRolePermissions',                null,                                listRolePermissions],
  ['RolesService_AddPermissionsToRole',               null,                                addPermissionsToRole],
  ['RolesService_RemovePermissionFromRole',           null,                                removePermissionFromRole],
  ['RolesService_ListEffectiveRolePermissions',       null,                                listEffectiveRolePermissions],
  ['RolesService_GetRoleUsersCount',                  null,                                getRoleUsersCount],
  ['RolesService_UpdateDefaultRoles',                 null,                                updateDefaultRoles],
  ['RolesService_UpdateDefaultRoles2',                null,                                updateDefaultRoles],
  ['RolesService_ListOrganizationRoles',              'listRoles',                         listOrganizationRoles],
  ['RolesService_CreateOrganizationRole',             'createRole',                        createOrganizationRole],
  ['RolesService_GetOrganizationRole',                null,                                getOrganizationRole],
  ['RolesService_UpdateOrganizationRole',             null,                                updateOrganizationRole],
  ['RolesService_DeleteOrganizationRole',             null,                                deleteOrganizationRole],
  ['RolesService_UpdateDefaultOrganizationRoles',     null,                                updateDefaultOrganizationRoles],
  ['RolesService_ListPermissions',                    null,                                listPermissions],
  ['RolesService_CreatePermission',                   null,                                createPermissionOp],
  ['RolesService_GetPermission',                      null,                                getPermission],
  ['RolesService_UpdatePermission',                   null,                                updatePermission],
  ['RolesService_DeletePermission',                   null,                                deletePermission],
  ['SessionService_GetSession',                       null,                                getSession],
  ['SessionService_GetUserSessions',                  null,                                getUserSessions],
  ['SessionService_RevokeSession',                    null,                                revokeSessionOp],
  ['SessionService_RevokeAllUserSessions',            null,                                revokeAllUserSessions],
  ['ClientService_ListOrganizationClients',           null,                                listOrganizationClients],
  ['ClientService_CreateOrganizationClient',          null,                                createOrganizationClient],
  ['ClientService_GetOrganizationClient',             null,                                getOrganizationClient],
  ['ClientService_UpdateOrganizationClient',          null,                                updateOrganizationClient],
  ['ClientService_DeleteOrganizationClient',          null,                                deleteOrganizationClient],
  ['ClientService_CreateOrganizationClientSecret',    null,                                createOrganizationClientSecret],
  ['ClientService_DeleteOrganizationClientSecret',    null,                                deleteOrganizationClientSecret],
  ['PasswordlessService_SendPasswordlessEmail',       null,                                sendPasswordlessEmail],
  ['PasswordlessService_VerifyPasswordlessEmail',     null,                                verifyPasswordlessEmail],
  ['PasswordlessService_ResendPasswordlessEmail',     null,                                resendPasswordlessEmail],
  ['ConnectedAccountService_ListConnectedAccounts',   'listConnectedAccounts',             listConnectedAccounts],
  ['ConnectedAccountService_CreateConnectedAccount',  'createConnectedAccount',            createConnectedAccountOp],
  ['ConnectedAccountService_UpdateConnectedAccount',  'updateConnectedAccountCredentials', updateConnectedAccount],
  ['ConnectedAccountService_GetMagicLinkForConnectedAccount', 'createConnectedAccountMagicLink', magicLink],
  ['ToolService_ExecuteTool',                         'executeTool',                       executeTool],
];

// A path template's segments: literals, or a parameter with an optional
// literal suffix (a custom verb: "{id}:enable").
function compileSegments(template) {
  return template.split('/').map((seg) => {
    const m = /^\{([^}]+)\}(.*)$/.exec(seg);
    return m ? { param: m[1], suffix: m[2] } : { literal: seg };
  });
}

// route: {id, op, method, path, auth, handler, query (params by name, or
// null: not checked), body ({schema, name, required} or null)}
function compileRoute(route) {
  const segments = compileSegments(route.path);
  const score = segments.reduce((a, s) => a + (s.literal !== undefined ? s.literal.length + 1 : s.suffix.length), 0);
  return { query: null, body: null, ...route, segments, score };
}

const ROUTES = [
  compileRoute({ id: 'createToken', op: 'createToken', method: 'POST', path: '/oauth/token', auth: false, handler: createToken }),
  ...API_OPERATIONS.map(([id, alias, handler]) => {
    const d = DOC_OPS.get(id);
    if (!d) throw new Error(`operation ${id} is not in ${OPTS.openapi}`);
    return compileRoute({ id, op: alias || id, method: d.method, path: d.path, auth: true, handler, query: d.query, body: d.body });
  }),
];

// Match a raw (still percent-encoded) path against a template. Literal
// segments compare raw; parameters are percent-decoded after splitting on
// "/" so that "%2F" inside an id stays part of the id.
function matchTemplate(segments, rawSegments) {
  if (segments.length !== rawSegments.length) return null;
  const params = {};
  for (let i = 0; i < segments.length; i++) {
    const t = segments[i];
    const s = rawSegments[i];
    if (t.literal !== undefined) {
      if (t.literal !== s) return null;
    } else {
      if (s.length <= t.suffix.length || !s.endsWith(t.suffix)) return null;
      params[t.param] = s.slice(0, s.length - t.suffix.length);
    }
  }
  return params;
}

// -> {route, params} | {allowed: [methods]} (path known, wrong method) | null
// The most specific template wins: PATCH .../conn_1:enable is EnableConnection,
// not a method of .../{id}.
function resolveRoute(routes, method, rawPath) {
  const rawSegments = rawPath.split('/');
  let best = [];
  let bestScore = -1;
  for (const route of routes) {
    const params = matchTemplate(route.segments, rawSegments);
    if (!params) continue;
    if (route.score > bestScore) {
      best = [];
      bestScore = route.score;
    }
    if (route.score === bestScore) best.push({ route, params });
  }
  const hit = best.find((b) => b.route.method === method);
  if (hit) return hit;
  return best.length ? { allowed: Array.from(new Set(best.map((b) => b.route.method))) } : null;
}

function decodeParams(rawParams) {
  const out = {};
  for (const [k, v] of Object.entries(rawParams)) {
    try {
      out[k] = decodeURIComponent(v);
    } catch (e) {
      throw invalid(`malformed percent-encoding in path parameter ${k}`, [{ field: k, description: 'malformed percent-encoding' }]);
    }
  }
  return out;
}

function authenticate(ctx) {
  const h = ctx.headers.authorization;
  if (!h) throw unauthenticated('missing Authorization header');
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  if (!m) throw unauthenticated('Authorization header must be "Bearer <token>"');
  const tok = state.tokens.get(m[1]);
  if (!tok) throw unauthenticated('unknown access token');
  if (tok.revoked) throw unauthenticated('access token revoked');
  if (Date.now() >= tok.expiresAt || tok.usesLeft <= 0) throw unauthenticated('access token expired');
  tok.usesLeft--;
}

// Run the normal (fault-free) API pipeline: -> {status, body, headers}
function processApi(ctx) {
  try {
    const resolved = ctx.resolved;
    if (!resolved) throw new ApiError(404, 'NOT_FOUND', `no route for ${ctx.method} ${ctx.rawPath}`);
    if (resolved.allowed) {
      throw new ApiError(405, 'METHOD_NOT_ALLOWED', `method ${ctx.method} not allowed on ${ctx.rawPath}`, [],
        { allow: resolved.allowed.join(', ') });
    }
    const { route } = resolved;
    if (route.auth) authenticate(ctx);
    ctx.params = decodeParams(resolved.params);
    ctx.q = route.query ? parseQuery(ctx, route.query) : {};
    if (route.body) ctx.json = parseJsonBody(ctx, route.body);
    return route.handler(ctx);
  } catch (e) {
    return errorResponse(e);
  }
}

function errorResponse(e) {
  if (e instanceof ApiError) {
    return { status: e.status, body: errorBody(e.code, e.message, e.details), headers: e.headers };
  }
  process.stderr.write(`[fake] internal error: ${e && e.stack ? e.stack : e}\n`);
  return { status: 500, body: errorBody('INTERNAL', `internal error in fake server: ${e && e.message}`) };
}

// ---------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------

const FAULT_KEYS = new Set(['operation', 'method', 'path', 'times', 'status', 'body', 'body_base64', 'json', 'content_type',
  'headers', 'delay_ms', 'drop', 'truncate', 'stall_ms']);

function compileFault(f, i) {
  const where = `faults[${i}]`;
  const bad = (field, description) => invalid(`invalid fault: ${where}.${field} ${description}`,
    [{ field: `${where}.${field}`, description }]);
  if (!isObject(f)) throw invalid(`invalid fault: ${where} must be an object`, [{ field: where, description: 'must be an object' }]);
  for (const k of Object.keys(f)) if (!FAULT_KEYS.has(k)) throw bad(k, 'is not a known fault key');
  const str = (k) => { if (f[k] !== undefined && typeof f[k] !== 'string') throw bad(k, 'must be a string'); };
  const int = (k, min) => {
    if (f[k] !== undefined && (!Number.isInteger(f[k]) || f[k] < min)) throw bad(k, `must be an integer >= ${min}`);
  };
  ['operation', 'method', 'path', 'body', 'content_type'].forEach(str);
  ['delay_ms', 'truncate', 'stall_ms'].forEach((k) => int(k, 0));
  if (f.status !== undefined && (!Number.isInteger(f.status) || f.status < 100 || f.status > 599)) {
    throw bad('status', 'must be an HTTP status code');
  }
  const times = f.times === undefined ? 1 : f.times;
  if (!Number.isInteger(times) || (times < 1 && times !== -1)) throw bad('times', 'must be a positive integer or -1');
  if (f.drop !== undefined && typeof f.drop !== 'boolean') throw bad('drop', 'must be a boolean');
  if (f.headers !== undefined) {
    if (!isObject(f.headers)) throw bad('headers', 'must be an object');
    for (const [k, v] of Object.entries(f.headers)) {
      if (typeof v !== 'string' && typeof v !== 'number') throw bad(`headers.${k}`, 'must be a string');
    }
  }
  if ([f.body, f.json, f.body_base64].filter((v) => v !== undefined).length > 1) {
    throw bad('body', 'only one of body, json and body_base64');
  }
  let pathRe;
  if (f.path !== undefined) {
    try {
      pathRe = new RegExp(f.path);
    } catch (e) {
      throw bad('path', `is not a valid regular expression (${e.message})`);
    }
  }
  return { spec: clone(f), times, pathRe, hits: 0 };
}

// Find (and consume one use of) the first fault matching the request.
// route: the matched route or null; `operation` matches its alias or id.
function takeFault(route, method, rawPath) {
  for (let i = 0; i < state.faults.length; i++) {
    const f = state.faults[i];
    const s = f.spec;
    if (s.operation !== undefined && !(route && (s.operation === route.op || s.operation === route.id))) continue;
    if (s.method !== undefined && s.method.toUpperCase() !== method) continue;
    if (f.pathRe && !f.pathRe.test(rawPath)) continue;
    f.hits++;
    if (f.times !== -1) {
      f.times--;
      if (f.times === 0) state.faults.splice(i, 1);
    }
    state.stats.faults_applied++;
    return s;
  }
  return null;
}

function faultResponse(s) {
  if (s.body !== undefined) return { status: s.status, rawBody: s.body };
  // Raw bytes, e.g. invalid UTF-8, which a JS string cannot carry.
  if (s.body_base64 !== undefined) return { status: s.status, rawBody: Buffer.from(s.body_base64, 'base64') };
  if (s.json !== undefined) return { status: s.status, body: s.json };
  return { status: s.status, body: errorBody(CODE_FOR_STATUS[s.status] || 'UNKNOWN', `injected fault (HTTP ${s.status})`) };
}

// ---------------------------------------------------------------------------
// Control API (/_fake/*)
// ---------------------------------------------------------------------------

function controlBody(ctx) {
  if (ctx.body.trim() === '') return {};
  let b;
  try {
    b = JSON.parse(ctx.body);
  } catch (e) {
    throw invalid(`invalid JSON body: ${e.message}`);
  }
  if (!isObject(b)) throw invalid('request body must be a JSON object');
  return b;
}

// cjson encodes an empty Lua table as {}: accept it where an array is expected.
function arrayish(v, field) {
  if (v === undefined) return [];
  if (Array.isArray(v)) return v;
  if (isObject(v) && Object.keys(v).length === 0) return [];
  throw invalid(`${field} must be an array`, [{ field, description: 'must be an array' }]);
}

function countField(b, field) {
  const v = b[field];
  if (v === undefined) return 0;
  if (!Number.isInteger(v) || v < 0) throw invalid(`${field} must be a non-negative integer`, [{ field, description: 'must be a non-negative integer' }]);
  return v;
}

function ctlReset(ctx) {
  const b = controlBody(ctx);
  freshState(b.keep_tokens === true);
  return ok({ ok: true });
}

function ctlSeed(ctx) {
  const b = controlBody(ctx);
  const nOrgs = countField(b, 'organizations');
  const nUsers = countField(b, 'directory_users');
  const nGroups = countField(b, 'directory_groups');
  const nAccounts = countField(b, 'connected_accounts');
  const nMembers = countField(b, 'users');
  const nSessions = countField(b, 'sessions');
  if (b.session_user_id !== undefined && !state.users.has(b.session_user_id)) {
    throw invalid('session_user_id names no user', [{ field: 'session_user_id', description: 'names no user' }]);
  }
  const ids = arrayish(b.org_ids, 'org_ids');
  ids.forEach((id, i) => {
    if (typeof id !== 'string' || id === '') {
      throw invalid(`org_ids[${i}] must be a non-empty string`, [{ field: `org_ids[${i}]`, description: 'must be a non-empty string' }]);
    }
    if (state.orgs.has(id) || ids.indexOf(id) !== i) {
      throw new ApiError(409, 'ALREADY_EXISTS', `organization ${JSON.stringify(id)} already exists`);
    }
  });
  const orgs = [];
  for (let i = 0; i < nOrgs; i++) {
    const org = createOrg({ display_name: 'Seeded Org' });
    org.display_name = `Seeded Org ${org.id}`;
    orgs.push(org);
  }
  for (const id of ids) orgs.push(createOrg({ display_name: `Seeded Org ${id}` }, id));
  const target = orgs[0] || state.orgs.values().next().value;
  if (nUsers > 0 || nGroups > 0) {
    if (!target) throw invalid('directory_users/directory_groups need at least one organization');
    const dir = directoryOf(target.id);
    addRange(dir, 'diru', nUsers);
    addRange(dir, 'dirg', nGroups);
  }
  const users = [];
  for (let i = 0; i < nMembers; i++) {
    const n = (state.counters.usr || 0) + 1;
    const user = createUser({
      email: `user${n}@example.com`,
      external_id: `ext-usr-${n}`,
      user_profile: { given_name: `Given${n}`, family_name: `Family${n}`, name: `Given${n} Family${n}` },
    });
    if (target) addMembership(user, target.id, {}, false);
    users.push(user.id);
  }
  const sessions = [];
  if (nSessions > 0) {
    const owner = state.users.get(b.session_user_id || users[0]) || state.users.values().next().value;
    if (!owner) throw invalid('sessions need a user');
    // Oldest first: each session is a minute younger than the one before.
    for (let i = 0; i < nSessions; i++) sessions.push(createSession(owner, nSessions - i).session_id);
  }
  const accounts = [];
  for (let i = 0; i < nAccounts; i++) {
    const n = (state.counters.ca || 0) + 1;
    accounts.push(createConnectedAccount({ connector: 'gmail', identifier: `user${n}@example.com` }).id);
  }
  const res = {
    organization_ids: orgs.map((o) => o.id),
    directory_ids: orgs.map((o) => directoryOf(o.id).id),
  };
  if (nAccounts > 0) res.connected_account_ids = accounts;
  if (nMembers > 0) res.user_ids = users;
  if (nSessions > 0) res.session_ids = sessions;
  return ok(res);
}

function ctlConfig(ctx) {
  const b = controlBody(ctx);
  if (b.token_ttl !== undefined) {
    if (!Number.isInteger(b.token_ttl) || b.token_ttl < 0) {
      throw invalid('token_ttl must be a non-negative integer', [{ field: 'token_ttl', description: 'must be a non-negative integer' }]);
    }
    state.config.token_ttl = b.token_ttl;
  }
  for (const k of ['client_secret', 'client_id']) {
    if (b[k] !== undefined) {
      if (typeof b[k] !== 'string') throw invalid(`${k} must be a string`, [{ field: k, description: 'must be a string' }]);
      state.config[k] = b[k];
    }
  }
  return ok({ config: state.config });
}

function ctlRevokeTokens() {
  let n = 0;
  for (const t of state.tokens.values()) {
    if (!t.revoked) n++;
    t.revoked = true;
  }
  return ok({ revoked: n });
}

function faultList() {
  return state.faults.map((f) => ({ ...f.spec, times: f.times, hits: f.hits }));
}

function ctlAddFaults(ctx) {
  const b = controlBody(ctx);
  if (b.faults === undefined) throw invalid('faults is required', [{ field: 'faults', description: 'required' }]);
  const compiled = arrayish(b.faults, 'faults').map(compileFault);
  state.faults.push(...compiled);
  return ok({ faults: faultList() });
}

function ctlListFaults() {
  return ok({ faults: faultList() });
}

function ctlClearFaults() {
  state.faults = [];
  return ok({ faults: [] });
}

function ctlRequests() {
  return ok({ requests: state.requests });
}

function ctlClearRequests() {
  state.requests = [];
  return ok({ requests: [] });
}

function ctlStats() {
  return ok(state.stats);
}

function ctlPasswordless() {
  return ok({ messages: state.outbox });
}

const CONTROL_ROUTES = [
  ['reset', 'POST', '/_fake/reset', ctlReset],
  ['seed', 'POST', '/_fake/seed', ctlSeed],
  ['config', 'POST', '/_fake/config', ctlConfig],
  ['revoke_tokens', 'POST', '/_fake/revoke_tokens', ctlRevokeTokens],
  ['add_faults', 'POST', '/_fake/faults', ctlAddFaults],
  ['list_faults', 'GET', '/_fake/faults', ctlListFaults],
  ['clear_faults', 'DELETE', '/_fake/faults', ctlClearFaults],
  ['requests', 'GET', '/_fake/requests', ctlRequests],
  ['clear_requests', 'DELETE', '/_fake/requests', ctlClearRequests],
  ['stats', 'GET', '/_fake/stats', ctlStats],
  ['passwordless', 'GET', '/_fake/passwordless', ctlPasswordless],
].map(([op, method, p, handler]) => compileRoute({ id: op, op, method, path: p, handler }));

function processControl(ctx) {
  try {
    const resolved = resolveRoute(CONTROL_ROUTES, ctx.method, ctx.rawPath);
    if (!resolved) throw new ApiError(404, 'NOT_FOUND', `no control route ${ctx.method} ${ctx.rawPath}`);
    if (resolved.allowed) {
      throw new ApiError(405, 'METHOD_NOT_ALLOWED', `method ${ctx.method} not allowed on ${ctx.rawPath}`, [],
        { allow: resolved.allowed.join(', ') });
    }
    return resolved.route.handler(ctx);
  } catch (e) {
    return errorResponse(e);
  }
}

// ---------------------------------------------------------------------------
// Extension modules: more routes next to the API (the fake identity provider
// in spec/fake/idp.js). A module is a function of FAKE (below) that returns
// an object with any of
//   routes:        [{op, method, path, auth, handler}]  API routes: logged,
//                  faultable; auth = a bearer token is required
//   controlRoutes: [{op, method, path, handler}]        under /_fake/
//   handleToken(ctx, form)  POST /oauth/token for every grant_type other
//                  than client_credentials (form: URLSearchParams)
//   reset()        called at startup and on POST /_fake/reset
// Handlers get ctx (method, rawPath, query, headers, body, params) and
// return {status, body, headers} or throw FAKE.ApiError.
// ---------------------------------------------------------------------------

const FAKE = Object.freeze({
  ApiError, invalid, invalidField, notFound, unauthenticated, ok, created, errorBody,
  nowIso, randomHex, nextId, issueAccessToken, log, options: OPTS, state: () => state,
});

const MODULES = [];

function mount(factory) {
  const m = factory(FAKE) || {};
  for (const r of m.routes || []) ROUTES.push(compileRoute({ id: r.op, ...r }));
  for (const r of m.controlRoutes || []) CONTROL_ROUTES.push(compileRoute({ id: r.op, ...r }));
  MODULES.push(m);
}

// Extension modules are mounted here, one line each.
mount(require('./idp')); // the fake identity provider (sign-in specs, SSO gate)

freshState(false);

// ---------------------------------------------------------------------------
// HTTP plumbing
// ---------------------------------------------------------------------------

function decodeQuery(rawQuery) {
  const query = {};
  for (const [k, v] of new URLSearchParams(rawQuery)) {
    if (query[k] === undefined) query[k] = v;
    else if (Array.isArray(query[k])) query[k].push(v);
    else query[k] = [query[k], v];
  }
  return query;
}

// Serialise {status, body | rawBody, headers} and write it, honouring the
// transport faults (truncate / stall) if any.
function send(res, response, fault) {
  const headers = { 'x-request-id': `req-${++state.responseCounter}` };
  let payload = null;
  if (response.status !== 204 && response.status !== 304) {
    if (response.rawBody !== undefined) payload = Buffer.isBuffer(response.rawBody) ? response.rawBody : Buffer.from(response.rawBody, 'utf8');
    else if (response.body !== undefined) payload = Buffer.from(JSON.stringify(response.body), 'utf8');
  }
  if (payload) {
    headers['content-type'] = 'application/json';
    headers['content-length'] = String(payload.length);
  }
  Object.assign(headers, response.headers || {});
  if (fault) {
    if (fault.content_type !== undefined && payload) headers['content-type'] = fault.content_type;
    for (const [k, v] of Object.entries(fault.headers || {})) headers[k.toLowerCase()] = String(v);
  }
  if (res.destroyed || res.socket === null || res.socket.destroyed) return;
  res.writeHead(response.status, headers);

  if (fault && fault.truncate !== undefined) {
    // Full content-length, partial body, then close the connection.
    const part = payload ? payload.subarray(0, Math.min(fault.truncate, payload.length)) : Buffer.alloc(0);
    const sock = res.socket;
    const finish = () => { sock.end(); setTimeout(() => sock.destroy(), 100).unref(); };
    if (part.length) {
      res.write(part, finish);
    } else {
      res.flushHeaders();
      setImmediate(finish);
    }
    return;
  }
  if (fault && fault.stall_ms !== undefined) {
    const half = payload ? Math.floor(payload.length / 2) : 0;
    res.flushHeaders();
    if (half > 0) res.write(payload.subarray(0, half));
    setTimeout(() => {
      if (res.destroyed || !res.socket || res.socket.destroyed) return;
      res.end(payload ? payload.subarray(half) : undefined);
    }, fault.stall_ms);
    return;
  }
  res.end(payload || undefined);
}

async function handle(req, res, body) {
  const url = req.url;
  const q = url.indexOf('?');
  const rawPath = q === -1 ? url : url.slice(0, q);
  const rawQuery = q === -1 ? '' : url.slice(q + 1);
  const ctx = {
    method: req.method,
    rawPath,
    rawQuery,
    query: decodeQuery(rawQuery),
    headers: req.headers,
    body,
    params: {},
    q: {},
    json: undefined,
    op: null,
    opId: null,
  };

  if (rawPath === '/_fake' || rawPath.startsWith('/_fake/')) {
    send(res, processControl(ctx));
    return;
  }

  const resolved = resolveRoute(ROUTES, ctx.method, rawPath);
  const route = resolved && resolved.route ? resolved.route : null;
  ctx.resolved = resolved;
  ctx.op = route ? route.op : null;
  ctx.opId = route ? route.id : null;
  const epoch = state.connectionEpoch;
  const sock = req.socket;
  if (!sock.fakeCounted || sock.fakeCounted !== epoch + 1) {
    sock.fakeCounted = epoch + 1;
    state.stats.connections++;
    sock.fakeConnId = state.stats.connections;
  }
  state.stats.requests++;
  const fault = takeFault(route, ctx.method, rawPath);
  state.requests.push({
    method: ctx.method,
    path: rawPath,
    query: ctx.query,
    raw_query: rawQuery,
    headers: req.headers,
    body,
    operation: ctx.op,
    operation_id: ctx.opId,
    connection: sock.fakeConnId,
    fault: fault !== null,
    time: nowIso(),
  });
  log(req.method, req.url, ctx.op || '-', fault ? 'FAULT' : '');

  if (!fault) {
    send(res, processApi(ctx));
    return;
  }
  if (fault.delay_ms) await sleep(fault.delay_ms);
  if (fault.drop) {
    req.socket.destroy();
    return;
  }
  send(res, fault.status !== undefined ? faultResponse(fault) : processApi(ctx), fault);
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    handle(req, res, Buffer.concat(chunks).toString('utf8')).catch((e) => {
      process.stderr.write(`[fake] unhandled: ${e && e.stack ? e.stack : e}\n`);
      if (!res.headersSent && !res.destroyed) send(res, errorResponse(e));
    });
  });
  req.on('error', () => {});
});

server.keepAliveTimeout = 120 * 1000;
server.headersTimeout = 125 * 1000;
server.requestTimeout = 0;

server.on('connection', (sock) => {
  state.stats.tcp_connections++;
  sock.on('error', () => {});
});
server.on('clientError', (err, sock) => {
  if (sock.writable && err.code !== 'ECONNRESET') {
    sock.end(`HTTP/1.1 400 Bad Request\r\nx-request-id: req-${++state.responseCounter}\r\n` +
      'connection: close\r\ncontent-length: 0\r\n\r\n');
  } else {
    sock.destroy();
  }
});

let shuttingDown = false;
function shutdown(reason) {
  if (shuttingDown) return;
  shuttingDown = true;
  log(`shutting down (${reason})`);
  server.close();
  server.closeAllConnections();
  process.exit(0);
}

process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
process.on('SIGHUP', () => shutdown('SIGHUP'));
process.stdout.on('error', () => {}); // a closed stdout must not kill the server

server.on('error', (e) => {
  process.stderr.write(`[fake] server error: ${e.message}\n`);
  process.exit(1);
});

server.listen(OPTS.port, '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
  if (!OPTS.ignoreStdin) {
    process.stdin.on('end', () => shutdown('stdin closed'));
    process.stdin.on('close', () => shutdown('stdin closed'));
    process.stdin.on('error', () => shutdown('stdin error'));
    process.stdin.resume();
  }
});
