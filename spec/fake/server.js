#!/usr/bin/env node
// Stateful fake Scalekit API server for the scalekit-lua specs.
//
// Node standard library only. See spec/fake/README.md for the CLI and the
// /_fake/* control API used to seed state and inject faults.
'use strict';

const http = require('http');
const crypto = require('crypto');

// ---------------------------------------------------------------------------
// CLI
// ---------------------------------------------------------------------------

function usage(msg) {
  if (msg) process.stderr.write(`server.js: ${msg}\n`);
  process.stderr.write(
    'usage: node spec/fake/server.js [--port N] [--client-id ID] [--client-secret S]\n' +
    '                                [--token-ttl SECONDS] [--ignore-stdin] [--verbose]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const opts = {
    port: 0,
    clientId: 'skc_test',
    clientSecret: 'test_secret',
    tokenTtl: 3600,
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
    connections: new Map(), // id -> connection
    directories: new Map(), // id -> directory (+ hidden user/group ranges)
    memberships: new Map(), // orgId \0 userId -> membership
    roles: new Map(), // orgId -> [role]
    connectedAccounts: [], // insertion order
    faults: [],
    requests: [],
    stats: { tokens_issued: 0, requests: 0, connections: 0, tcp_connections: 0, faults_applied: 0 },
    responseCounter: 0,
    connectionEpoch: prev ? prev.connectionEpoch + 1 : 0,
  };
}
freshState(false);

function nextId(name) {
  state.counters[name] = (state.counters[name] || 0) + 1;
  return state.counters[name];
}

// ---------------------------------------------------------------------------
// Request body schemas (mirroring components.schemas of the OpenAPI file)
// ---------------------------------------------------------------------------

const STRING_MAP = { type: 'object', additionalProperties: { type: 'string' } };
const STRING_ARRAY = { type: 'array', items: { type: 'string' } };
const ANY_OBJECT = { type: 'object' };

const SCHEMAS = {
  CreateOrganizationRequest: {
    type: 'object',
    required: ['display_name'],
    properties: { display_name: { type: 'string' }, external_id: { type: 'string' }, metadata: STRING_MAP },
  },
  UpdateOrganizationRequest: {
    type: 'object',
    properties: { display_name: { type: 'string' }, external_id: { type: 'string' }, metadata: STRING_MAP },
  },
  OrganizationSettings: {
    type: 'object',
    properties: {
      features: {
        type: 'array',
        items: {
          type: 'object',
          properties: { name: { type: 'string' }, enabled: { type: 'boolean' } },
        },
      },
    },
  },
  MembershipRequest: {
    type: 'object',
    properties: { roles: STRING_ARRAY, metadata: STRING_MAP },
  },
  RoleRequest: {
    type: 'object',
    required: ['name'],
    properties: {
      name: { type: 'string' },
      display_name: { type: 'string' },
      description: { type: 'string' },
      permissions: STRING_ARRAY,
    },
  },
  ConnectedAccountRequest: {
    type: 'object',
    required: ['connector', 'identifier'],
    properties: { connector: { type: 'string' }, identifier: { type: 'string' }, authorization_details: ANY_OBJECT },
  },
  MagicLinkRequest: {
    type: 'object',
    required: ['connector', 'identifier'],
    properties: { connector: { type: 'string' }, identifier: { type: 'string' } },
  },
  ExecuteToolRequest: {
    type: 'object',
    required: ['tool_name', 'identifier'],
    properties: {
      tool_name: { type: 'string' },
      connection_name: { type: 'string' },
      identifier: { type: 'string' },
      tool_input: ANY_OBJECT,
    },
  },
};

function jsonType(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v; // string, boolean, object
}

// Returns a list of {field, description}; empty when valid.
function validate(schema, value, field, out) {
  const t = jsonType(value);
  const want = schema.type;
  const ok = want === t || (want === 'number' && t === 'integer');
  if (!ok) {
    out.push({ field: field || '(body)', description: `must be ${want === 'object' || want === 'array' || want === 'integer' ? 'an' : 'a'} ${want}, got ${t}` });
    return out;
  }
  if (schema.enum && !schema.enum.includes(value)) {
    out.push({ field, description: `must be one of ${schema.enum.join(', ')}` });
  }
  if (want === 'object') {
    for (const req of schema.required || []) {
      if (value[req] === undefined) out.push({ field: join(field, req), description: 'required' });
      else if (typeof value[req] === 'string' && value[req] === '') {
        out.push({ field: join(field, req), description: 'must not be empty' });
      }
    }
    for (const [k, v] of Object.entries(value)) {
      const sub = (schema.properties && schema.properties[k]) || schema.additionalProperties;
      if (sub && typeof sub === 'object') validate(sub, v, join(field, k), out);
    }
  } else if (want === 'array' && schema.items) {
    value.forEach((item, i) => validate(schema.items, item, `${field}[${i}]`, out));
  }
  return out;
}

function join(prefix, key) {
  return prefix ? `${prefix}.${key}` : key;
}

function parseJsonBody(ctx, schemaName) {
  const raw = ctx.body;
  if (raw.length === 0) throw invalid('request body is required', [{ field: '(body)', description: 'required' }]);
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
  const errors = validate(SCHEMAS[schemaName], body, '', []);
  if (errors.length) {
    throw invalid(`invalid ${schemaName}: ${errors.map((e) => `${e.field} ${e.description}`).join('; ')}`, errors);
  }
  return body;
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
  const m = /^([A-Za-z]+):(\d{1,15})$/.exec(buf.subarray(2).toString('latin1'));
  if (!m || m[1] !== op) throw bad();
  return Number(m[2]);
}

function firstQuery(query, name) {
  const v = query[name];
  return Array.isArray(v) ? v[v.length - 1] : v;
}

function pageParams(ctx) {
  const errors = [];
  let size = DEFAULT_PAGE_SIZE;
  const rawSize = firstQuery(ctx.query, 'page_size');
  if (rawSize !== undefined && rawSize !== '') {
    if (!/^\d+$/.test(rawSize) || Number(rawSize) < 1 || Number(rawSize) > MAX_PAGE_SIZE) {
      errors.push({ field: 'page_size', description: `must be an integer between 1 and ${MAX_PAGE_SIZE}` });
    } else {
      size = Number(rawSize);
    }
  }
  if (errors.length) throw invalid(`invalid page_size ${JSON.stringify(rawSize)}`, errors);
  let offset = 0;
  const token = firstQuery(ctx.query, 'page_token');
  if (token !== undefined && token !== '') offset = decodePageToken(ctx.op, token);
  return { size, offset };
}

// source: an array, or {count, get(i)} for lazily generated collections.
function paginate(ctx, source) {
  const { size, offset } = pageParams(ctx);
  const count = Array.isArray(source) ? source.length : source.count;
  const get = Array.isArray(source) ? (i) => source[i] : source.get;
  const items = [];
  for (let i = offset; i < Math.min(count, offset + size); i++) items.push(get(i));
  const next = offset + size < count ? encodePageToken(ctx.op, offset + size) : '';
  return { items, next_page_token: next, total_size: count };
}

// ---------------------------------------------------------------------------
// Domain: creation helpers (shared by the API and the /_fake/seed control)
// ---------------------------------------------------------------------------

const DEFAULT_FEATURES = [
  { name: 'sso', enabled: false },
  { name: 'dir_sync', enabled: false },
];

function createOrg(fields, id) {
  let orgId = id;
  if (orgId === undefined) {
    do orgId = `org_${nextId('org')}`; while (state.orgs.has(orgId));
  }
  if (state.orgs.has(orgId)) {
    throw new ApiError(409, 'ALREADY_EXISTS', `organization ${JSON.stringify(orgId)} already exists`,
      [{ field: 'id', description: 'already exists' }]);
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
  if (fields.external_id !== undefined) org.external_id = fields.external_id;
  state.orgs.set(orgId, org);

  // Every organization comes with two SSO connections and one SCIM directory.
  const seeds = [
    { type: 'SSO_SAML', provider: 'okta', status: 'ACTIVE', enabled: true },
    { type: 'SSO_OIDC', provider: 'google', status: 'DRAFT', enabled: false },
  ];
  for (const s of seeds) {
    const conn = { id: `conn_${nextId('conn')}`, organization_id: orgId, ...s, create_time: t };
    state.connections.set(conn.id, conn);
  }
  const dir = {
    id: `dir_${nextId('dir')}`,
    organization_id: orgId,
    directory_type: 'SCIM',
    directory_provider: 'okta',
    status: 'ACTIVE',
    enabled: true,
    last_sync_time: t,
  };
  Object.defineProperty(dir, 'users', { value: [], enumerable: false, writable: true }); // [{start, count}]
  Object.defineProperty(dir, 'groups', { value: [], enumerable: false, writable: true });
  state.directories.set(dir.id, dir);
  state.roles.set(orgId, []);
  return org;
}

function deleteOrg(orgId) {
  state.orgs.delete(orgId);
  for (const [id, c] of state.connections) if (c.organization_id === orgId) state.connections.delete(id);
  for (const [id, d] of state.directories) if (d.organization_id === orgId) state.directories.delete(id);
  for (const [k, m] of state.memberships) if (m.organization_id === orgId) state.memberships.delete(k);
  state.roles.delete(orgId);
}

function directoryOf(orgId) {
  for (const d of state.directories.values()) if (d.organization_id === orgId) return d;
  return undefined;
}

// Directory users/groups are stored as ranges of global sequence numbers and
// generated on demand, so seeding 100000 users costs nothing.
function addRange(dir, kind, count) {
  if (count <= 0) return;
  const start = (state.counters[kind] || 0) + 1;
  state.counters[kind] = start + count - 1;
  dir[kind === 'diru' ? 'users' : 'groups'].push({ start, count });
}

function rangeSource(ranges, make) {
  const count = ranges.reduce((a, r) => a + r.count, 0);
  return {
    count,
    get(i) {
      for (const r of ranges) {
        if (i < r.count) return make(r.start + i);
        i -= r.count;
      }
      return undefined;
    },
  };
}

const makeDirectoryUser = (n) => ({
  id: `diru_${n}`,
  email: `user${n}@example.com`,
  preferred_username: `user${n}`,
  given_name: `Given${n}`,
  family_name: `Family${n}`,
  active: true,
  roles: ['member'],
});

const makeDirectoryGroup = (n) => ({
  id: `dirg_${n}`,
  display_name: `Group ${n}`,
  external_id: `ext-group-${n}`,
});

function createConnectedAccount(fields) {
  const existing = findConnectedAccount(fields.connector, fields.identifier);
  if (existing) {
    throw new ApiError(409, 'ALREADY_EXISTS',
      `connected account ${fields.connector}/${fields.identifier} already exists`,
      [{ field: 'identifier', description: 'already exists' }]);
  }
  const acct = {
    id: `ca_${nextId('ca')}`,
    connector: fields.connector,
    identifier: fields.identifier,
    status: fields.authorization_details ? 'ACTIVE' : 'PENDING',
    authorization_type: authorizationType(fields.authorization_details),
    create_time: nowIso(),
  };
  Object.defineProperty(acct, 'authorization_details',
    { value: clone(fields.authorization_details), enumerable: false, writable: true });
  state.connectedAccounts.push(acct);
  return acct;
}

function authorizationType(details) {
  if (details && (details.api_key !== undefined || details.static_auth !== undefined)) return 'API_KEY';
  return 'OAUTH2';
}

function findConnectedAccount(connector, identifier) {
  return state.connectedAccounts.find((a) => a.connector === connector && a.identifier === identifier);
}

// ---------------------------------------------------------------------------
// Domain: API operation handlers. Each gets ctx and returns {status, body}.
// ---------------------------------------------------------------------------

function requireOrg(id) {
  const org = state.orgs.get(id);
  if (!org) throw notFound('organization', id);
  return org;
}

const ok = (body) => ({ status: 200, body });
const created = (body) => ({ status: 201, body });
const noContent = () => ({ status: 204 });

function createToken(ctx) {
  const ct = (ctx.headers['content-type'] || '').split(';')[0].trim().toLowerCase();
  if (ct !== 'application/x-www-form-urlencoded') {
    throw invalid('content-type must be application/x-www-form-urlencoded',
      [{ field: 'content-type', description: 'must be application/x-www-form-urlencoded' }]);
  }
  const form = new URLSearchParams(ctx.body);
  const grant = form.get('grant_type');
  if (grant !== 'client_credentials') {
    throw invalid(grant === null ? 'grant_type is required' : `unsupported grant_type ${JSON.stringify(grant)}`,
      [{ field: 'grant_type', description: grant === null ? 'required' : 'must be client_credentials' }]);
  }
  const id = form.get('client_id');
  const secret = form.get('client_secret');
  if (!id || !secret) throw unauthenticated('client_id and client_secret are required');
  if (id !== state.config.client_id || secret !== state.config.client_secret) {
    throw unauthenticated('invalid client credentials');
  }
  const ttl = state.config.token_ttl;
  const token = `tok-${nextId('token')}-${randomHex(8)}`;
  state.tokens.set(token, {
    expiresAt: ttl > 0 ? Date.now() + ttl * 1000 : Infinity,
    usesLeft: ttl > 0 ? Infinity : 1,
    revoked: false,
  });
  state.stats.tokens_issued++;
  return ok({ access_token: token, token_type: 'Bearer', expires_in: ttl });
}

function listOrganizations(ctx) {
  const page = paginate(ctx, Array.from(state.orgs.values()));
  return ok({ organizations: page.items, next_page_token: page.next_page_token, total_size: page.total_size });
}

function createOrganization(ctx) {
  return created({ organization: createOrg(ctx.json) });
}

function getOrganization(ctx) {
  return ok({ organization: requireOrg(ctx.params.id) });
}

function updateOrganization(ctx) {
  const org = requireOrg(ctx.params.id);
  const b = ctx.json;
  if (b.display_name !== undefined) {
    if (b.display_name === '') {
      throw invalid('display_name must not be empty', [{ field: 'display_name', description: 'must not be empty' }]);
    }
    org.display_name = b.display_name;
  }
  if (b.external_id !== undefined) org.external_id = b.external_id;
  if (b.metadata !== undefined) Object.assign(org.metadata, b.metadata);
  org.update_time = nowIso();
  return ok({ organization: org });
}

function deleteOrganization(ctx) {
  requireOrg(ctx.params.id);
  deleteOrg(ctx.params.id);
  return noContent();
}

function updateOrganizationSettings(ctx) {
  const org = requireOrg(ctx.params.id);
  for (const f of ctx.json.features || []) {
    if (f.name === undefined) continue; // the document allows it; nothing to toggle
    const cur = org.settings.features.find((x) => x.name === f.name);
    if (cur) {
      if (f.enabled !== undefined) cur.enabled = f.enabled;
    } else {
      org.settings.features.push({ name: f.name, enabled: f.enabled === true });
    }
  }
  org.update_time = nowIso();
  return ok({ organization: org });
}

function createPortalLink(ctx) {
  const org = requireOrg(ctx.params.id);
  return ok({
    location: `https://fake.scalekit.test/portal/${encodeURIComponent(org.id)}/${randomHex(12)}`,
    expire_time: nowIso(7 * 24 * 3600 * 1000),
  });
}

function listConnections(ctx) {
  let conns = Array.from(state.connections.values());
  const orgId = firstQuery(ctx.query, 'organization_id');
  if (orgId !== undefined && orgId !== '') conns = conns.filter((c) => c.organization_id === orgId);
  const page = paginate(ctx, conns);
  return ok({ connections: page.items, next_page_token: page.next_page_token });
}

function listOrganizationConnections(ctx) {
  const orgId = requireOrg(ctx.params.organization_id).id;
  const conns = Array.from(state.connections.values()).filter((c) => c.organization_id === orgId);
  return ok({ connections: conns, next_page_token: '' });
}

function getConnection(ctx) {
  const orgId = requireOrg(ctx.params.organization_id).id;
  const conn = state.connections.get(ctx.params.id);
  if (!conn || conn.organization_id !== orgId) throw notFound('connection', ctx.params.id);
  return ok(conn);
}

function listDirectories(ctx) {
  const orgId = requireOrg(ctx.params.organization_id).id;
  const dirs = Array.from(state.directories.values()).filter((d) => d.organization_id === orgId);
  return ok({ directories: dirs, next_page_token: '' });
}

function requireDirectory(ctx) {
  const orgId = requireOrg(ctx.params.organization_id).id;
  const dir = state.directories.get(ctx.params.directory_id);
  if (!dir || dir.organization_id !== orgId) throw notFound('directory', ctx.params.directory_id);
  return dir;
}

function getDirectory(ctx) {
  return ok(requireDirectory(ctx));
}

function listDirectoryUsers(ctx) {
  const dir = requireDirectory(ctx);
  const page = paginate(ctx, rangeSource(dir.users, makeDirectoryUser));
  return ok({ users: page.items, next_page_token: page.next_page_token, total_size: page.total_size });
}

function listDirectoryGroups(ctx) {
  const dir = requireDirectory(ctx);
  const page = paginate(ctx, rangeSource(dir.groups, makeDirectoryGroup));
  return ok({ groups: page.items, next_page_token: page.next_page_token });
}

const membershipKey = (orgId, userId) => `${orgId}\u0000${userId}`;

function requireMembership(ctx) {
  const orgId = requireOrg(ctx.params.organization_id).id;
  const m = state.memberships.get(membershipKey(orgId, ctx.params.id));
  if (!m) throw notFound('membership of user', ctx.params.id);
  return m;
}

function addMembership(ctx) {
  const orgId = requireOrg(ctx.params.organization_id).id;
  const key = membershipKey(orgId, ctx.params.id);
  if (state.memberships.has(key)) {
    throw new ApiError(409, 'ALREADY_EXISTS', `user ${JSON.stringify(ctx.params.id)} is already a member`,
      [{ field: 'id', description: 'already a member' }]);
  }
  const m = {
    user_id: ctx.params.id,
    organization_id: orgId,
    roles: ctx.json.roles ? ctx.json.roles.slice() : ['member'],
    membership_status: 'PENDING_INVITE',
  };
  Object.defineProperty(m, 'metadata', { value: clone(ctx.json.metadata) || {}, enumerable: false, writable: true });
  state.memberships.set(key, m);
  return created(m);
}

function updateMembership(ctx) {
  const m = requireMembership(ctx);
  if (ctx.json.roles !== undefined) m.roles = ctx.json.roles.slice();
  if (ctx.json.metadata !== undefined) Object.assign(m.metadata, ctx.json.metadata);
  return ok(m);
}

function removeMembership(ctx) {
  const m = requireMembership(ctx);
  state.memberships.delete(membershipKey(m.organization_id, m.user_id));
  return noContent();
}

function resendInvite(ctx) {
  return ok(requireMembership(ctx));
}

function listRoles(ctx) {
  requireOrg(ctx.params.org_id);
  return ok({ roles: state.roles.get(ctx.params.org_id) });
}

function createRole(ctx) {
  requireOrg(ctx.params.org_id);
  const roles = state.roles.get(ctx.params.org_id);
  const b = ctx.json;
  if (roles.some((r) => r.name === b.name)) {
    throw new ApiError(409, 'ALREADY_EXISTS', `role ${JSON.stringify(b.name)} already exists`,
      [{ field: 'name', description: 'already exists' }]);
  }
  const role = {
    id: `role_${nextId('role')}`,
    name: b.name,
    display_name: b.display_name !== undefined ? b.display_name : b.name,
    description: b.description !== undefined ? b.description : '',
    permissions: b.permissions ? b.permissions.slice() : [],
  };
  roles.push(role);
  return created(role);
}

function listConnectedAccounts(ctx) {
  const page = paginate(ctx, state.connectedAccounts);
  return ok({ connected_accounts: page.items, next_page_token: page.next_page_token });
}

function createConnectedAccountOp(ctx) {
  return created(createConnectedAccount(ctx.json));
}

function updateConnectedAccountCredentials(ctx) {
  const b = ctx.json;
  const acct = findConnectedAccount(b.connector, b.identifier);
  if (!acct) throw notFound('connected account', `${b.connector}/${b.identifier}`);
  if (b.authorization_details !== undefined) {
    acct.authorization_details = clone(b.authorization_details);
    acct.authorization_type = authorizationType(b.authorization_details);
    acct.status = 'ACTIVE';
  }
  return ok(acct);
}

function createConnectedAccountMagicLink(ctx) {
  const b = ctx.json;
  return ok({
    link: `https://fake.scalekit.test/magic_link/${encodeURIComponent(b.connector)}/${randomHex(12)}`,
    expire_time: nowIso(3600 * 1000),
  });
}

function executeTool(ctx) {
  const b = ctx.json;
  if (!state.connectedAccounts.some((a) => a.identifier === b.identifier)) {
    throw notFound('connected account with identifier', b.identifier);
  }
  return ok({ data: b.tool_input !== undefined ? b.tool_input : {}, execution_id: `exec_${nextId('exec')}` });
}

// ---------------------------------------------------------------------------
// Route table: one row per operation of the OpenAPI document.
//   body: name of the request body schema (JSON), or null
//   auth: whether a Bearer token is required
// ---------------------------------------------------------------------------

const ROUTES = [
  // op                                method    path                                                                     body                         auth   handler
  ['createToken',                      'POST',   '/oauth/token',                                                          null,                        false, createToken],
  ['listOrganizations',                'GET',    '/api/v1/organizations',                                                 null,                        true,  listOrganizations],
  ['createOrganization',               'POST',   '/api/v1/organizations',                                                 'CreateOrganizationRequest', true,  createOrganization],
  ['getOrganization',                  'GET',    '/api/v1/organizations/{id}',                                            null,                        true,  getOrganization],
  ['updateOrganization',               'PATCH',  '/api/v1/organizations/{id}',                                            'UpdateOrganizationRequest', true,  updateOrganization],
  ['deleteOrganization',               'DELETE', '/api/v1/organizations/{id}',                                            null,                        true,  deleteOrganization],
  ['updateOrganizationSettings',       'PATCH',  '/api/v1/organizations/{id}/settings',                                   'OrganizationSettings',      true,  updateOrganizationSettings],
  ['createPortalLink',                 'PUT',    '/api/v1/organizations/{id}/portal_links',                               null,                        true,  createPortalLink],
  ['listConnections',                  'GET',    '/api/v1/connections',                                                   null,                        true,  listConnections],
  ['listOrganizationConnections',      'GET',    '/api/v1/organizations/{organization_id}/connections',                   null,                        true,  listOrganizationConnections],
  ['getConnection',                    'GET',    '/api/v1/organizations/{organization_id}/connections/{id}',              null,                        true,  getConnection],
  ['listDirectories',                  'GET',    '/api/v1/organizations/{organization_id}/directories',                   null,                        true,  listDirectories],
  ['getDirectory',                     'GET',    '/api/v1/organizations/{organization_id}/directories/{directory_id}',    null,                        true,  getDirectory],
  ['listDirectoryUsers',               'GET',    '/api/v1/organizations/{organization_id}/directories/{directory_id}/users', null,                     true,  listDirectoryUsers],
  ['listDirectoryGroups',              'GET',    '/api/v1/organizations/{organization_id}/directories/{directory_id}/groups', null,                    true,  listDirectoryGroups],
  ['addMembership',                    'POST',   '/api/v1/memberships/organizations/{organization_id}/users/{id}',        'MembershipRequest',         true,  addMembership],
  ['updateMembership',                 'PATCH',  '/api/v1/memberships/organizations/{organization_id}/users/{id}',        'MembershipRequest',         true,  updateMembership],
  ['removeMembership',                 'DELETE', '/api/v1/memberships/organizations/{organization_id}/users/{id}',        null,                        true,  removeMembership],
  ['resendInvite',                     'PATCH',  '/api/v1/invites/organizations/{organization_id}/users/{id}/resend',     null,                        true,  resendInvite],
  ['listRoles',                        'GET',    '/api/v1/organizations/{org_id}/roles',                                  null,                        true,  listRoles],
  ['createRole',                       'POST',   '/api/v1/organizations/{org_id}/roles',                                  'RoleRequest',               true,  createRole],
  ['listConnectedAccounts',            'GET',    '/api/v1/connected_accounts',                                            null,                        true,  listConnectedAccounts],
  ['createConnectedAccount',           'POST',   '/api/v1/connected_accounts',                                            'ConnectedAccountRequest',   true,  createConnectedAccountOp],
  ['updateConnectedAccountCredentials','PUT',    '/api/v1/connected_accounts',                                            'ConnectedAccountRequest',   true,  updateConnectedAccountCredentials],
  ['createConnectedAccountMagicLink',  'POST',   '/api/v1/connected_accounts/magic_link',                                 'MagicLinkRequest',          true,  createConnectedAccountMagicLink],
  ['executeTool',                      'POST',   '/api/v1/execute_tool',                                                  'ExecuteToolRequest',        true,  executeTool],
].map(([op, method, path, body, auth, handler]) => ({ op, method, path, body, auth, handler, segments: path.split('/') }));

// Match a raw (still percent-encoded) path against a template. Literal
// segments compare raw; parameters are percent-decoded after splitting on
// "/" so that "%2F" inside an id stays part of the id.
function matchTemplate(segments, rawSegments) {
  if (segments.length !== rawSegments.length) return null;
  const params = {};
  for (let i = 0; i < segments.length; i++) {
    const t = segments[i];
    const s = rawSegments[i];
    if (t.startsWith('{')) {
      if (s === '') return null;
      params[t.slice(1, -1)] = s;
    } else if (t !== s) {
      return null;
    }
  }
  return params;
}

// -> {route, params} | {allowed: [methods]} (path known, wrong method) | null
function resolveRoute(routes, method, rawPath) {
  const rawSegments = rawPath.split('/');
  const allowed = [];
  for (const route of routes) {
    const params = matchTemplate(route.segments, rawSegments);
    if (!params) continue;
    if (route.method === method) return { route, params };
    allowed.push(route.method);
  }
  return allowed.length ? { allowed } : null;
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
function takeFault(op, method, rawPath) {
  for (let i = 0; i < state.faults.length; i++) {
    const f = state.faults[i];
    const s = f.spec;
    if (s.operation !== undefined && s.operation !== op) continue;
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
  if (nUsers > 0 || nGroups > 0) {
    const target = orgs[0] || state.orgs.values().next().value;
    if (!target) throw invalid('directory_users/directory_groups need at least one organization');
    const dir = directoryOf(target.id);
    addRange(dir, 'diru', nUsers);
    addRange(dir, 'dirg', nGroups);
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
].map(([op, method, path, handler]) => ({ op, method, path, handler, segments: path.split('/') }));

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
// HTTP plumbing
// ---------------------------------------------------------------------------

function parseQuery(rawQuery) {
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
    query: parseQuery(rawQuery),
    headers: req.headers,
    body,
    params: {},
    json: undefined,
    op: null,
  };

  if (rawPath === '/_fake' || rawPath.startsWith('/_fake/')) {
    send(res, processControl(ctx));
    return;
  }

  const resolved = resolveRoute(ROUTES, ctx.method, rawPath);
  ctx.resolved = resolved;
  ctx.op = resolved && resolved.route ? resolved.route.op : null;
  const epoch = state.connectionEpoch;
  const sock = req.socket;
  if (!sock.fakeCounted || sock.fakeCounted !== epoch + 1) {
    sock.fakeCounted = epoch + 1;
    state.stats.connections++;
    sock.fakeConnId = state.stats.connections;
  }
  state.stats.requests++;
  const fault = takeFault(ctx.op, ctx.method, rawPath);
  state.requests.push({
    method: ctx.method,
    path: rawPath,
    query: ctx.query,
    raw_query: rawQuery,
    headers: req.headers,
    body,
    operation: ctx.op,
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
