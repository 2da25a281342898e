-- Shared part of spec/contract/mock_contract.lua: the published document
-- (api/scalekit-public-openapi.json), the copy Prism mocks, valid values
-- built from the document's examples, and the checks of what the SDK sent.
-- Not a spec itself (`make test-contract` runs files matching "_contract").
local cjson = require "cjson"
local process = require "spec.helpers.process"

local L = {}

L.DOCUMENT = "api/scalekit-public-openapi.json"
L.MOCKED = "build/contract/scalekit-public-openapi.json"
-- Long enough that the SDK's redaction of the token never hits a key.
L.TOKEN = "tok_contract_mock_9f8e7d6c5b4a3210"

local function read_json(path)
  return cjson.decode((assert(process.read_file(path), path .. " is missing")))
end

local doc_cache
function L.document()
  doc_cache = doc_cache or read_json(L.DOCUMENT)
  return doc_cache
end

local function resolve(doc, s)
  local n = 0
  while type(s) == "table" and s["$ref"] do
    s = doc.components.schemas[s["$ref"]:match("([^/]+)$")]
    n = n + 1
    assert(n < 32, "$ref loop")
  end
  return s or {}
end
L.resolve = resolve

local HTTP_METHODS = { "get", "put", "post", "delete", "patch" }

--- { [operationId] = {method, path, op} } of the published document.
function L.operations(doc)
  local out = {}
  for path, item in pairs((doc or L.document()).paths) do
    for _, m in ipairs(HTTP_METHODS) do
      if item[m] then out[item[m].operationId] = { method = m:upper(), path = path, op = item[m] } end
    end
  end
  return out
end

---------------------------------------------------------------------------
-- The mocked copy
---------------------------------------------------------------------------

local JSON_TYPES = {
  string = function(v) return type(v) == "string" end,
  integer = function(v) return type(v) == "number" and v % 1 == 0 end,
  number = function(v) return type(v) == "number" end,
  boolean = function(v) return type(v) == "boolean" end,
}

-- An example that breaks its scalar schema, made valid: the enum's value
-- in another case, else the first enum value; a number on a string field
-- as its decimal string. Returns nil when the example is fine.
local function fixed_example(s, ex)
  if s.enum then
    for _, e in ipairs(s.enum) do if e == ex then return nil end end
    for _, e in ipairs(s.enum) do
      if type(e) == "string" and type(ex) == "string" and e:upper() == ex:upper() then return e end
    end
    return s.enum[1]
  end
  local check = JSON_TYPES[s.type]
  if not check or check(ex) then return nil end
  if s.type == "string" and type(ex) == "number" then return ("%d"):format(ex) end
  return nil
end

-- Makes every scalar example in the document valid for its schema (see
-- api/README.md, "Response examples that break their own schemas"); returns
-- the list of "schema.property" it changed. Request schemas are not touched.
local function fix_examples(doc)
  local changed = {}
  local function visit(s, where, depth)
    if type(s) ~= "table" or depth > 8 then return end
    local target = resolve(doc, s)
    for _, key in ipairs { "examples" } do
      if type(s[key]) == "table" then
        for i, ex in ipairs(s[key]) do
          local f = fixed_example(target, ex)
          if f ~= nil then
            s[key][i] = f
            changed[#changed + 1] = where
          end
        end
      end
    end
    if s.example ~= nil then
      local f = fixed_example(target, s.example)
      if f ~= nil then s.example = f; changed[#changed + 1] = where end
    end
    if not s["$ref"] then
      for k, v in pairs(s.properties or {}) do visit(v, where .. "." .. k, depth + 1) end
      if type(s.items) == "table" then visit(s.items, where .. "[]", depth + 1) end
    end
  end
  for name, s in pairs(doc.components.schemas) do visit(s, name, 0) end
  table.sort(changed)
  return changed
end

--- Writes the copy Prism mocks: the published document with its broken
-- examples fixed, and the token endpoint its oauth2 scheme names (the
-- document has no path for it) so that the mock issues tokens. Returns the
-- path and the fixed examples.
function L.write_mocked()
  local doc = read_json(L.DOCUMENT)
  local changed = fix_examples(doc)
  doc.paths["/oauth/token"] = {
    post = {
      operationId = "createToken",
      security = { {} }, -- anonymous
      requestBody = { required = true, content = { ["application/x-www-form-urlencoded"] = {
        schema = { type = "object", required = { "grant_type", "client_id", "client_secret" },
          properties = {
            grant_type = { type = "string", enum = { "client_credentials" } },
            client_id = { type = "string" }, client_secret = { type = "string" },
          } },
      } } },
      responses = { ["200"] = { description = "token", content = { ["application/json"] = {
        schema = { type = "object", properties = {
          access_token = { type = "string", examples = { L.TOKEN } },
          token_type = { type = "string", examples = { "Bearer" } },
          expires_in = { type = "integer", examples = { 3600 } },
        } },
      } } } },
    },
  }
  local text = cjson.encode(doc)
  -- lua-cjson writes an empty table as {}; the security requirement's
  -- scope list is the only empty array of the document.
  text = text:gsub('"oauth2":{}', '"oauth2":[]')
  os.execute("mkdir -p build/contract")
  local f = assert(io.open(L.MOCKED, "wb"))
  f:write(text)
  f:close()
  return L.MOCKED, changed
end

---------------------------------------------------------------------------
-- Valid values from the document's examples
---------------------------------------------------------------------------

local FORMAT_DEFAULTS = {
  ["date-time"] = "2024-05-01T12:00:00Z", uri = "https://example.com/x",
  email = "user@example.com", uuid = "6f1c2a8e-3b4d-4e5f-8a9b-0c1d2e3f4a5b",
}

--- A value valid for schema s, from its examples where they are valid.
function L.value(s, depth, name)
  local doc = L.document()
  depth = depth or 0
  local examples = type(s) == "table" and s.examples
  local target = resolve(doc, s)
  local ex = type(examples) == "table" and examples[1]
  if ex == nil and type(target.examples) == "table" then ex = target.examples[1] end
  local t = target.type or (target.properties and "object") or "object"
  if t == "object" then
    if target.properties and depth < 4 then
      local out = {}
      for k, v in pairs(target.properties) do
        if not (v.readOnly or resolve(doc, v).readOnly) then
          local val = L.value(v, depth + 1, k)
          if val ~= nil then out[k] = val end
        end
      end
      return out
    end
    if type(ex) == "table" and next(ex) ~= nil then return ex end
    return { note = "contract" }
  elseif t == "array" then
    if type(ex) == "table" and #ex > 0 then
      local it = resolve(doc, target.items or {})
      local ok = true
      for _, e in ipairs(ex) do
        if (it.type and JSON_TYPES[it.type] and not JSON_TYPES[it.type](e)) or
           (it.enum and fixed_example(it, e) ~= nil) or (it.properties) then ok = false end
      end
      if ok then return ex end
    end
    local item = L.value(target.items or {}, depth + 1, name)
    return { item }
  end
  if ex ~= nil and fixed_example(target, ex) == nil and JSON_TYPES[t] and JSON_TYPES[t](ex) then
    return ex
  end
  if target.enum then return target.enum[1] end
  if t == "string" then return FORMAT_DEFAULTS[target.format] or ("contract-" .. (name or "value")) end
  if t == "integer" then return 2 end
  if t == "number" then return 2.5 end
  if t == "boolean" then return true end
  return nil
end

--- The schema of a table param on the wire (parameter or body property).
function L.param_schema(entry, p)
  local doc = L.document()
  if p.where ~= "BODY" then
    for _, q in ipairs(entry.op.parameters or {}) do
      if q.name == p.wire then return q.schema or {} end
    end
    error(entry.op.operationId .. ": no parameter " .. p.wire)
  end
  local body = resolve(doc, entry.op.requestBody.content["application/json"].schema)
  if p.parent then
    local holder = resolve(doc, body.properties[p.parent])
    return holder.properties[p.wire]
  end
  return body.properties[p.wire]
end

---------------------------------------------------------------------------
-- What went out that the document does not define
---------------------------------------------------------------------------

local function url_decode(s)
  return (s:gsub("%+", " "):gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

-- Keys of a JSON value outside its schema's properties (recursively, where
-- the schema lists properties); appended to out as "path.key".
local function extra_keys(doc, schema, value, where, out, depth)
  if type(value) ~= "table" or depth > 8 then return end
  local s = resolve(doc, schema)
  if s.type == "array" or (s.items and not s.properties) then
    for _, v in ipairs(value) do extra_keys(doc, s.items or {}, v, where .. "[]", out, depth + 1) end
    return
  end
  if not s.properties then return end -- a free-form object (metadata, params)
  for k, v in pairs(value) do
    local prop = s.properties[k]
    if not prop then
      out[#out + 1] = where .. tostring(k)
    else
      extra_keys(doc, prop, v, where .. tostring(k) .. ".", out, depth + 1)
    end
  end
end

--- Query parameters and body fields (at any depth) of the exchanges that
-- the document does not define for their operation, as
-- "operationId: query foo" / "operationId: body field a.b" strings.
-- operation_of(request) names the published operation of a request.
function L.undocumented(exchanges, operation_of)
  local doc, ops, out = L.document(), L.operations(), {}
  for _, x in ipairs(exchanges) do
    local q = x.request
    local id = q and operation_of(q)
    local entry = id and ops[id]
    if entry then
      local query = {}
      for _, p in ipairs(entry.op.parameters or {}) do
        if p["in"] == "query" then query[p.name] = true end
      end
      for key in (q.url:match("%?(.*)$") or ""):gmatch("([^&=]+)=?[^&]*") do
        key = url_decode(key)
        if not query[key] then out[#out + 1] = id .. ": query parameter " .. key end
      end
      local rb = entry.op.requestBody
      local schema = rb and rb.content["application/json"] and rb.content["application/json"].schema
      if q.body and q.body ~= "" then
        if not schema then
          out[#out + 1] = id .. ": a request body (the operation has none)"
        else
          local found = {}
          extra_keys(doc, schema, cjson.decode(q.body), "", found, 0)
          for _, k in ipairs(found) do
            -- the SDK's hooks redact the token wherever it occurs
            if not k:find("[redacted]", 1, true) then out[#out + 1] = id .. ": body field " .. k end
          end
        end
      end
    end
  end
  return out
end

return L
