-- Writes the seed corpora in fuzz/corpus/<target>/ (run from the repo root:
--   make && LUA_PATH='lua/?.lua;lua/?/init.lua;./?.lua;;' \
--     LUA_CPATH='build/5.4/?.so;;' lua5.4 fuzz/make_corpus.lua
-- ). Response bodies are recorded from the fake server (spec/fake) through
-- the SDK's on_response hook, so they have the shapes of
-- api/scalekit-openapi.yaml; the rest is written out below: error bodies,
-- proxy pages, odd numbers and nesting, header lines, URL pieces, UTF-8.
-- Existing files are overwritten, others (e.g. repro-* reproducers) kept.
local fake = require "spec.helpers.fake"
local scalekit = require "scalekit"

local ROOT = "fuzz/corpus/"

local function put(target, name, bytes)
  os.execute("mkdir -p " .. ROOT .. target)
  local f = assert(io.open(ROOT .. target .. "/" .. name, "wb"))
  f:write(bytes)
  f:close()
end

local function be16(n) return string.char(n >> 8, n & 255) end
-- fuzz_error_body: 2 bytes status (100 + value % 500), content type, '\n', body
local function error_input(status, ctype, body) return be16(status - 100) .. ctype .. "\n" .. body end

-- ---- recorded API responses ----
local responses = {}
local server = fake.start {}
local ok, err = pcall(function()
  local seeded = server:seed { organizations = 3, directory_users = 3, directory_groups = 2 }
  local org, dir = seeded.organization_ids[1], seeded.directory_ids[1]
  local function record(info)
    if info.body and info.body ~= "" then
      responses[#responses + 1] = { op = info.operation, status = info.status, body = info.body }
    end
  end
  local env = server:env()
  env.on_response = record
  local sk = scalekit.new(env)
  sk:token()
  sk.organizations:list { page_size = 2 }
  local created = assert(sk.organizations:create { display_name = "Acme, Inc. — Ünïcode", external_id = "ext-1",
                                                    metadata = { plan = "pro", region = "eu" } })
  sk.organizations:get(created.id)
  sk.organizations:update(created.id, { display_name = "Acme 2" })
  sk.organizations:update_settings(created.id, { features = { { name = "sso", enabled = true } } })
  sk.organizations:portal_link(created.id)
  sk.connections:list { organization_id = org }
  sk.connections:list_by_organization(org)
  local conns = sk.connections:list_by_organization(org)
  if conns and conns.connections and conns.connections[1] then sk.connections:get(org, conns.connections[1].id) end
  sk.directories:list(org)
  sk.directories:get(org, dir)
  sk.directories:list_users(org, dir, { page_size = 2 })
  sk.directories:list_groups(org, dir)
  sk.roles:list(org)
  sk.roles:create(org, { name = "viewer", display_name = "Viewer", permissions = { "read" } })
  sk.memberships:add(org, "usr_1", { roles = { "viewer" } })
  sk.connected_accounts:create { connector = "gmail", identifier = "user@example.com" }
  sk.connected_accounts:list {}
  sk.connected_accounts:magic_link { connector = "gmail", identifier = "user@example.com" }
  sk.tools:execute { tool_name = "gmail_send", identifier = "user@example.com", tool_input = { to = "a@b.c", n = 1.5 } }
  sk.organizations:get("org_missing")
  sk.organizations:create { display_name = "dup", external_id = "ext-1" }
  sk.organizations:delete(created.id)
  local bad = scalekit.new { environment_url = server.url, client_id = "skc_test", client_secret = "wrong",
                             on_response = record }
  bad:token()
end)
server:stop()
assert(ok, err)

local seen = {}
for i, r in ipairs(responses) do
  if not seen[r.body] then
    seen[r.body] = true
    local name = ("%02d-%s-%d"):format(i, r.op, r.status or 0)
    if (r.status or 0) < 300 then
      put("fuzz_json_decode", name, r.body)
      put("fuzz_json_encode", name, r.body)
    else
      put("fuzz_error_body", name, error_input(r.status, "application/json", r.body))
      put("fuzz_json_decode", name, r.body)
    end
  end
end

-- ---- JSON edge cases (decode and encode) ----
local json_cases = {
  ["numbers"] = '{"total_size":25,"f":1.0,"neg":-0.0,"e":1E2,"big":9007199254740992,'
    .. '"bigger":9007199254740993,"max":1.7976931348623157e308,"tiny":5e-324,"frac":0.1,'
    .. '"huge_int":123456789012345678901234567890,"neg_big":-9007199254740991}',
  ["inf"] = '[1e999,-1e999]',
  ["strings"] = '{"s":"a\\u0000b","emoji":"\\ud83d\\ude00","esc":"\\"\\\\\\/\\b\\f\\n\\r\\t",'
    .. '"utf8":"Zürich 東京 🚀"}',
  ["nulls"] = '{"next_page_token":null,"organizations":[null,{},[]],"a":[1,null,3]}',
  ["empty-object"] = "{}",
  ["empty-array"] = "[]",
  ["scalar-null"] = "null",
  ["scalar-string"] = '"just a string"',
  ["scalar-number"] = "42",
  ["deep-64"] = ("["):rep(64) .. ("]"):rep(64),
  ["deep-65"] = ("["):rep(65) .. ("]"):rep(65),
  ["deep-130"] = ('{"a":'):rep(130) .. "1" .. ("}"):rep(130),
  ["truncated"] = '{"organizations":[{"id":"org_1","display_name":"Ac',
  ["trailing-garbage"] = '{"a":1} x',
  ["nul-after-json"] = '{"a":1}\0{"b":2}',
  ["bom"] = "\239\187\191{}",
  ["html"] = "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
    .. "<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>\n",
  ["invalid-utf8"] = '{"display_name":"Acme \255\254"}',
  ["overlong"] = '{"x":"\192\175"}',
  ["hex-nan"] = '[0x10, NaN, Infinity]',
  ["duplicate-keys"] = '{"a":1,"a":2.0}',
  ["number-keys"] = '{"1":"one","2":"two"}',
}
for name, body in pairs(json_cases) do
  put("fuzz_json_decode", name, body)
  put("fuzz_json_encode", name, body)
end

-- ---- error bodies ----
local errors = {
  ["api-404"] = { 404, "application/json", '{"code":"NOT_FOUND","message":"organization not found","details":[]}' },
  ["api-400-details"] = { 400, "application/json; charset=utf-8",
    '{"code":"INVALID_ARGUMENT","message":"display_name is required",'
      .. '"details":[{"field":"display_name","description":"must not be empty"}]}' },
  ["api-409"] = { 409, "application/json", '{"code":"ALREADY_EXISTS","message":"external_id taken","details":null}' },
  ["api-429"] = { 429, "application/json", '{"code":"RESOURCE_EXHAUSTED","message":"rate limited","details":{"retry_after":1.0}}' },
  ["oauth-401"] = { 401, "application/json", '{"error":"invalid_client","error_description":"client authentication failed"}' },
  ["oauth-400"] = { 400, "application/json", '{"error":"unsupported_grant_type"}' },
  ["numeric-code"] = { 400, "application/json", '{"code":400,"message":["not","a","string"]}' },
  ["empty-message"] = { 400, "application/json", '{"code":"X","message":""}' },
  ["control-chars"] = { 500, "application/json", '{"code":"A\\nB","message":"line1\\nline2\\r\\t\\u0001end"}' },
  ["nginx-502"] = { 502, "text/html", json_cases.html },
  ["cloudflare-503"] = { 503, "text/html; charset=UTF-8",
    "<html><head><title>503 Service Temporarily Unavailable</title></head><body>"
      .. "<h1>Service Unavailable</h1><p>Ray ID: 6c1d2e3f4a5b</p></body></html>" },
  ["plain-500"] = { 500, "text/plain", "Internal Server Error" },
  ["problem-json"] = { 400, "application/problem+json",
    '{"title":"Bad Request","detail":"display_name is required","status":400}' },
  ["no-content-type"] = { 500, "", "oops" },
  ["truncated-json"] = { 500, "application/json", '{"code":"INTERNAL","message":"boo' },
  ["json-array"] = { 400, "application/json", '[{"code":"X"}]' },
  ["json-string"] = { 400, "application/json", '"bad request"' },
  ["long-content-type"] = { 415, ("application/vnd.example+json; profile=" .. ("x"):rep(200)), "{" },
  ["invalid-utf8"] = { 500, "application/json", '{"code":"X","message":"caf\233"}' },
  ["secret-masked"] = { 401, "application/json",
    '{"error":"invalid_client","error_description":"secret test_secret is wrong for tok-1-4739bddab44a08b4"}' },
}
for name, e in pairs(errors) do put("fuzz_error_body", name, error_input(e[1], e[2], e[3])) end

-- ---- header lines (byte 0: name 0 x-request-id, 1 retry-after, 2 content-type) ----
local headers = {
  ["request-id"] = "\0X-Request-Id: req-6f1c2d\r\n",
  ["request-id-long"] = "\0x-request-id: " .. ("r"):rep(300) .. "\r\n",
  ["retry-seconds"] = "\1Retry-After: 120\r\n",
  ["retry-zero"] = "\1retry-after: 0\r\n",
  ["retry-spaces"] = "\1RETRY-AFTER: \t 5 \t\r\n",
  ["retry-huge"] = "\1Retry-After: 99999999999999999999999999\r\n",
  ["retry-negative"] = "\1Retry-After: -1\r\n",
  ["retry-fraction"] = "\1Retry-After: 1.5\r\n",
  ["retry-imf-date"] = "\1Retry-After: Wed, 21 Oct 2015 07:28:00 GMT\r\n",
  ["retry-future-date"] = "\1Retry-After: Fri, 31 Dec 2099 23:59:59 GMT\r\n",
  ["retry-rfc850"] = "\1Retry-After: Sunday, 06-Nov-94 08:49:37 GMT\r\n",
  ["retry-asctime"] = "\1Retry-After: Sun Nov  6 08:49:37 1994\r\n",
  ["retry-garbage"] = "\1Retry-After: soon\r\n",
  ["retry-empty"] = "\1Retry-After:\r\n",
  ["retry-no-space"] = "\1Retry-After:7\r\n",
  ["retry-small-cap"] = "\29Retry-After: 12345\r\n",
  ["content-type"] = "\2Content-Type: application/json; charset=utf-8\r\n",
  ["content-type-html"] = "\2content-type: text/html\r\n",
  ["status-line"] = "\0HTTP/1.1 429 Too Many Requests\r\n",
  ["no-colon"] = "\1Retry-After 5\r\n",
  ["space-before-colon"] = "\1Retry-After : 5\r\n",
  ["nul-inside"] = "\1Retry-After: 1\0002\r\n",
  ["bare-lf"] = "\0X-Request-Id: a\n",
  ["blank"] = "\0\r\n",
}
for name, line in pairs(headers) do put("fuzz_headers", name, line) end

-- ---- URL pieces: byte 0 URL length, byte 1 name length, URL, name, value ----
local function url_input(url, name, value) return string.char(#url, #name) .. url .. name .. value end
local urls = {
  ["org-id"] = url_input("https://acme.scalekit.com/api/v1/organizations", "page_token", "org_123456789"),
  ["query-already"] = url_input("https://acme.scalekit.com/api/v1/connections?organization_id=org_1",
    "page_size", "20"),
  ["slash-id"] = url_input("https://h/api/v1/organizations", "external_id", "a/b/../c"),
  ["reserved"] = url_input("http://127.0.0.1:8080/api", "q", "?&=#%+ ;,:@!$'()*[]"),
  ["unicode"] = url_input("https://h/api", "display_name", "Zürich 東京 🚀"),
  ["crlf"] = url_input("https://h/api", "id", "x\r\nHost: evil\r\n"),
  ["nul"] = url_input("https://h/api", "id", "a\0b"),
  ["spaces"] = url_input("", "grant_type", "client credentials + more"),
  ["empty"] = url_input("", "", ""),
  ["all-bytes"] = url_input("https://h/", "v", (function()
    local t = {}
    for b = 0, 255 do t[#t + 1] = string.char(b) end
    return table.concat(t)
  end)()),
}
for name, s in pairs(urls) do put("fuzz_url", name, s) end

-- ---- UTF-8 ----
local utf8_cases = {
  ["ascii"] = "The quick brown fox jumps over the lazy dog 0123456789",
  ["mixed"] = "Zürich, 東京, Москва, 🚀, ﬁ, \u{10FFFF}, \u{FFFD}",
  ["long-ascii-then-bad"] = ("a"):rep(37) .. "\255",
  ["overlong-2"] = "\192\128",
  ["overlong-3"] = "\224\128\128",
  ["overlong-4"] = "\240\128\128\128",
  ["surrogate"] = "\237\160\128",
  ["above-max"] = "\244\144\128\128",
  ["f5"] = "\245\128\128\128",
  ["lone-continuation"] = "ok\128",
  ["truncated-3"] = "abc\226\130",
  ["truncated-4"] = "abc\240\159\154",
  ["max-3"] = "\239\191\191",
  ["max-4"] = "\244\143\191\191",
  ["min-3"] = "\224\160\128",
  ["min-4"] = "\240\144\128\128",
  ["bad-second"] = "\226\40\161",
}
for name, s in pairs(utf8_cases) do put("fuzz_utf8", name, s) end
print(("make_corpus: %d responses recorded"):format(#responses))
