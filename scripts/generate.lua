-- make generate: the operation table and what is derived from it, from the
-- API documents in api/ and the hand-kept api/overlay.lua.
--
--   lua5.4 scripts/generate.lua [--out DIR] [--only c,types,readme]
--
-- Reads  api/scalekit-public-openapi.json  the live service (decides wire and results)
--        api/scalekit-openapi.json         the first document, "the sketch" (make api-json)
--        api/overlay.lua                   method names, aliases, exceptions
-- Writes src/operations.c                  the table (contract: src/operations.h)
--        types/scalekit.lua                LuaLS annotations (---@meta)
--        README.md                         the text between the "generated" markers
-- With --out DIR the files go under DIR (DIR/src/operations.c, ...) and the
-- README markers are filled into DIR/README.md, a copy of README.md.
-- Needs lua-cjson only. Output is deterministic: everything is sorted.
--
-- Rules (README "Methods" repeats the ones users see):
-- * Params: path parameters (always required) in template order, then query
--   parameters in document order, then body properties by name. A query
--   name `filter.x` is `x` in Lua (`filter_x` when `x` is taken); `wire`
--   keeps the dotted name. readOnly body properties are not params.
-- * A body property with the name of a path or query parameter is `new_<name>`
--   in Lua (UserService_UpdateUser2: path external_id, body new_external_id).
-- * Nested bodies: a body property named like the response wrapper
--   (connected_account), or listed in overlay.nested_bodies, is a param
--   itself (an object) and each of its properties is a flat param with
--   parent = that key; a flat name already taken at the top is
--   `<key>_<name>`.
-- * Types: string, integer (format int32, uint32, int64), number, boolean,
--   object, array (items: the element type). Strings with format int64
--   stay strings: that is how the service sends them.
-- * unwrap: the response's only property when it is an object; items: the
--   object array of a paged response (or of an operation with iterators).
-- * paging: TOKEN when page_token goes in and next_page_token comes out;
--   NUMBER when page_number goes in.
-- * Flags: IDEMPOTENT for GET, PUT, DELETE (and overlay.flags);
--   RETURNS_TRUE for DELETE, `:delete` paths and 2xx bodies without
--   properties; SECRET_RESULT when the 2xx schema can hold a property named
--   as in SECRET_NAMES; the rest comes from the overlay.
local cjson = require "cjson"

local ROOT = "."
local LIVE = "api/scalekit-public-openapi.json"
local SKETCH = "api/scalekit-openapi.json"
local OVERLAY = "api/overlay.lua"

local SECRET_NAMES = {
  access_token = true, client_secret = true, id_token = true, plain_secret = true,
  refresh_token = true, secret_access_key = true, session_token = true, token = true,
}
local FLAG_BITS = {
  NO_TOKEN = 0x01, IDEMPOTENT = 0x02, SECRET_RESULT = 0x04, RETURNS_TRUE = 0x08,
  TOKEN = 0x10, AUTH_FAILURES = 0x20, CLIENT_AUTH = 0x40,
}
local FLAG_ORDER = { "NO_TOKEN", "IDEMPOTENT", "SECRET_RESULT", "RETURNS_TRUE", "TOKEN",
                     "AUTH_FAILURES", "CLIENT_AUTH" }
local TYPES = { string = "STRING", integer = "INTEGER", number = "NUMBER", boolean = "BOOLEAN",
                object = "OBJECT", array = "ARRAY" }
local FORMATS = { int32 = "INT32", uint32 = "UINT32", int64 = "INT64" }
local HTTP_METHODS = { "get", "put", "post", "delete", "patch" }

---------------------------------------------------------------------------
-- helpers
---------------------------------------------------------------------------

local function fail(fmt, ...)
  io.stderr:write("generate: ", fmt:format(...), "\n")
  os.exit(1)
end

local function read(path)
  local f, err = io.open(path, "rb")
  if not f then fail("%s", err) end
  local s = f:read("a")
  f:close()
  return s
end

local function write(path, text)
  local dir = path:match("^(.*)/[^/]*$")
  if dir then os.execute("mkdir -p '" .. dir:gsub("'", "'\\''") .. "'") end
  local f, err = io.open(path, "wb")
  if not f then fail("%s", err) end
  f:write(text)
  f:close()
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

local function set(list)
  local s = {}
  for _, v in ipairs(list or {}) do s[v] = true end
  return s
end

local function make_resolver(doc)
  local function resolve(s)
    local seen = 0
    while type(s) == "table" and s["$ref"] do
      local name = s["$ref"]:match("^#/components/schemas/(.+)$")
      if not name then fail("unsupported $ref %s", s["$ref"]) end
      local target = doc.components.schemas[name]
      if not target then fail("dangling $ref %s", s["$ref"]) end
      s, seen = target, seen + 1
      if seen > 32 then fail("$ref loop at %s", name) end
    end
    return s or {}
  end
  local function ref_name(s)
    return type(s) == "table" and s["$ref"] and s["$ref"]:match("([^/]+)$") or nil
  end
  return resolve, ref_name
end

-- Every operation of a document: { id, method (upper), path, op, path_params }.
local function operations_of(doc)
  local list = {}
  for path, item in pairs(doc.paths) do
    for _, m in ipairs(HTTP_METHODS) do
      local op = item[m]
      if op then
        list[#list + 1] = { id = op.operationId, method = m:upper(), path = path, op = op,
                            shared = item.parameters }
      end
    end
  end
  table.sort(list, function(a, b) return a.id < b.id end)
  return list
end

local function json_body_schema(op)
  local rb = op.requestBody
  if not rb then return nil end
  local c = rb.content or {}
  if c["application/json"] then return c["application/json"].schema, "JSON" end
  if c["application/x-www-form-urlencoded"] then
    return c["application/x-www-form-urlencoded"].schema, "FORM"
  end
  fail("%s: request body type not supported", op.operationId)
end

-- The lowest 2xx response: status, schema (nil: no body).
local function success(op)
  local best
  for code in pairs(op.responses or {}) do
    if code:match("^2%d%d$") and (not best or code < best) then best = code end
  end
  if not best then fail("%s has no 2xx response", op.operationId) end
  local content = op.responses[best].content
  local json = content and content["application/json"]
  return best, json and json.schema
end

---------------------------------------------------------------------------
-- rows
---------------------------------------------------------------------------

local function param_type(resolve, s, where)
  s = resolve(s)
  local t = s.type
  if t == nil and s.properties then t = "object" end
  if t == nil then t = "object" end -- `{}`: any JSON value; sent as given
  local ty = TYPES[t]
  if not ty then fail("%s: unsupported type %s", where, tostring(t)) end
  local items, format = "STRING", "NONE"
  if ty == "ARRAY" then
    local it = resolve(s.items or {})
    local item_type = it.type or (it.properties and "object") or "object"
    items = TYPES[item_type] or fail("%s: unsupported item type %s", where, tostring(item_type))
  end
  if ty == "INTEGER" then format = FORMATS[s.format] or "NONE" end
  return ty, items, format
end

-- Property names reachable in a schema (bounded by the set of visited refs).
local function reachable_names(resolve, ref_name, s, seen, out)
  local name = ref_name(s)
  if name then
    if seen[name] then return out end
    seen[name] = true
  end
  s = resolve(s)
  for k, v in pairs(s.properties or {}) do
    out[k] = true
    reachable_names(resolve, ref_name, v, seen, out)
  end
  if s.items then reachable_names(resolve, ref_name, s.items, seen, out) end
  if type(s.additionalProperties) == "table" then
    reachable_names(resolve, ref_name, s.additionalProperties, seen, out)
  end
  return out
end

local function path_names(path)
  local names = {}
  for n in path:gmatch("{([^}]+)}") do names[#names + 1] = n end
  return names
end

local function flags_value(list)
  local names = {}
  for _, f in ipairs(FLAG_ORDER) do if list[f] then names[#names + 1] = f end end
  return names
end

-- Builds the row of one live operation.
local function live_row(resolve, ref_name, entry, overlay)
  local op, id = entry.op, entry.id
  local exception = overlay.exceptions[id] or {}
  local row = { id = id, method = entry.method, path = entry.path, params = {}, flags = {},
                body = "NONE", paging = "NONE" }
  local taken = {}
  local function add(p)
    if taken[p.name] then fail("%s: two params named %s", id, p.name) end
    taken[p.name] = true
    row.params[#row.params + 1] = p
  end

  -- path and query parameters
  local by_name, query = {}, {}
  for _, list in ipairs { entry.shared or {}, op.parameters or {} } do
    for _, p in ipairs(list) do
      if p["$ref"] then fail("%s: parameter $ref not supported", id) end
      by_name[p["in"] .. ":" .. p.name] = p
      if p["in"] == "query" then query[#query + 1] = p end
    end
  end
  for _, n in ipairs(path_names(entry.path)) do
    local p = by_name["path:" .. n] or fail("%s: path parameter {%s} undeclared", id, n)
    local ty, items, format = param_type(resolve, p.schema or {}, id .. " " .. n)
    add { name = n, wire = n, ["in"] = "PATH", type = ty, items = items, format = format,
          required = true }
  end
  local query_names = {} -- last dotted segment -> how many query names end in it
  for _, p in ipairs(query) do
    local short = p.name:match("([^.]+)$")
    query_names[short] = (query_names[short] or 0) + 1
  end
  for _, p in ipairs(query) do
    local name = p.name
    if name:find(".", 1, true) then
      local short = name:match("([^.]+)$")
      name = (taken[short] or query_names[short] > 1 or by_name["query:" .. short])
        and (p.name:gsub("%.", "_")) or short
    end
    local ty, items, format = param_type(resolve, p.schema or {}, id .. " " .. p.name)
    if ty == "INTEGER" and overlay.query_formats[p.name] then
      format = FORMATS[overlay.query_formats[p.name]]
    end
    add { name = name, wire = p.name, ["in"] = "QUERY", type = ty, items = items, format = format,
          required = p.required == true }
  end

  -- response: unwrap, items, paging, result flags
  local status, rschema = success(op)
  local response = rschema and resolve(rschema) or {}
  row.status, row.response_ref = status, rschema and ref_name(rschema)
  local rprops = response.properties or {}
  local rkeys = sorted_keys(rprops)
  if #rkeys == 1 then
    local only = resolve(rprops[rkeys[1]])
    if only.type == "object" or (only.type == nil and only.properties) then row.unwrap = rkeys[1] end
  end
  row.unwrap_ref = row.unwrap and ref_name(rprops[row.unwrap])
  if taken.page_token and rprops.next_page_token then row.paging = "TOKEN" end
  if taken.page_number then row.paging = "NUMBER" end
  local iterators = overlay.iterators[id]
  if row.paging ~= "NONE" or iterators then
    local arrays = {}
    for _, k in ipairs(rkeys) do
      local v = resolve(rprops[k])
      if v.type == "array" then
        local it = resolve(v.items or {})
        if it.type == "object" or it.properties then arrays[#arrays + 1] = k end
      end
    end
    if #arrays ~= 1 then fail("%s: cannot tell the item array (%s)", id, table.concat(arrays, ", ")) end
    row.items = arrays[1]
  end
  if (entry.method == "GET" or entry.method == "PUT" or entry.method == "DELETE") then
    row.flags.IDEMPOTENT = true
  end
  if entry.method == "DELETE" or entry.path:match(":delete$") or
     (next(rprops) == nil and not response.items) then
    row.flags.RETURNS_TRUE = true
  end
  if rschema then
    for name in pairs(reachable_names(resolve, ref_name, rschema, {}, {})) do
      if SECRET_NAMES[name] then row.flags.SECRET_RESULT = true end
    end
  end
  for _, f in ipairs(overlay.flags[id] or {}) do
    if not FLAG_BITS[f] then fail("overlay.flags.%s: unknown flag %s", id, f) end
    row.flags[f] = true
  end

  -- body
  local bschema, kind = json_body_schema(op)
  if bschema then
    row.body = kind
    local b = resolve(bschema)
    local required = set(b.required)
    for _, r in ipairs(bschema.required or {}) do required[r] = true end
    for _, r in ipairs(exception.not_required or {}) do
      if not required[r] then fail("%s: exception for %s, which is not required", id, r) end
      required[r] = nil
    end
    local props = b.properties or {}
    for r in pairs(required) do
      if not props[r] then fail("%s: required %s is not a property (add an exception)", id, r) end
    end
    local nested = set(overlay.nested_bodies[id])
    if row.unwrap and props[row.unwrap] and resolve(props[row.unwrap]).properties then
      nested[row.unwrap] = true
    end
    local top = {}
    local function body_name(n)
      if taken[n] then return "new_" .. n end
      return n
    end
    for _, k in ipairs(sorted_keys(props)) do
      local v = props[k]
      if not (v.readOnly or resolve(v).readOnly) then
        local ty, items, format = param_type(resolve, v, id .. " body " .. k)
        local name = body_name(k)
        top[name] = true
        add { name = name, wire = k, ["in"] = "BODY", type = ty, items = items, format = format,
              required = required[k] == true }
      end
    end
    for _, key in ipairs(sorted_keys(nested)) do
      local inner = resolve(props[key] or fail("%s: nested body key %s is not a property", id, key))
      local inner_required = set(inner.required)
      for _, k in ipairs(sorted_keys(inner.properties or {})) do
        local v = inner.properties[k]
        if not (v.readOnly or resolve(v).readOnly) then
          local ty, items, format = param_type(resolve, v, id .. " body " .. key .. "." .. k)
          local name = k
          if taken[name] or top[name] then name = key .. "_" .. k end
          add { name = name, wire = k, parent = key, ["in"] = "BODY", type = ty, items = items,
                format = format, required = inner_required[k] == true }
        end
      end
    end
    row.body_ref = ref_name(bschema)
  end

  -- the first document's field names, accepted under the live name
  for _, old in ipairs(sorted_keys(overlay.renamed_fields[id] or {})) do
    local to = overlay.renamed_fields[id][old].to
    local target
    for _, p in ipairs(row.params) do if p.name == to then target = p end end
    if not target then fail("overlay.renamed_fields.%s.%s: no param %s", id, old, to) end
    add { name = old, wire = target.wire, parent = target.parent, ["in"] = target["in"],
          type = target.type, items = target.items, format = target.format, required = false,
          renamed_to = to }
  end
  return row
end

local function extra_row(id, spec)
  local row = { id = id, method = spec.method, path = spec.path, params = {}, flags = {},
                body = spec.body or "NONE", paging = "NONE", extra = true, doc = spec.doc }
  for _, f in ipairs(spec.flags or {}) do
    if not FLAG_BITS[f] then fail("overlay.extra_operations.%s: unknown flag %s", id, f) end
    row.flags[f] = true
  end
  for _, p in ipairs(spec.params or {}) do
    row.params[#row.params + 1] = {
      name = p.name, wire = p.wire or p.name, ["in"] = row.body ~= "NONE" and "BODY" or "QUERY",
      type = p.type or "STRING", items = "STRING", format = "NONE", required = p.required == true,
      fallback = p.fallback,
    }
  end
  return row
end

---------------------------------------------------------------------------
-- methods
---------------------------------------------------------------------------

local function iterator_names(name)
  if name == "list" then return "each", "pages" end
  local rest = name:match("^list_(.+)$") or name
  return "each_" .. rest, "pages_" .. rest
end

local function build_methods(rows_by_id, overlay)
  local methods, seen = {}, {}
  local function add(resource, name, operation, kind, positional)
    local key = resource .. ":" .. name
    if seen[key] then fail("method %s defined twice", key) end
    seen[key] = true
    methods[#methods + 1] = { resource = resource, name = name, operation = operation, kind = kind,
                              positional = positional }
  end
  local function default_positional(row)
    local names = path_names(row.path)
    return #names > 0 and table.concat(names, ",") or nil
  end
  -- The main name of an operation gets its iterators; extra names do not.
  local function add_all(spec, operation, positional, main)
    local resource, name = spec:match("^([%w_]+):([%w_]+)$")
    if not resource then fail("bad method name %s", spec) end
    local row = rows_by_id[operation] or fail("method %s: no operation %s", spec, operation)
    positional = positional or default_positional(row)
    add(resource, name, operation, "CALL", positional)
    if main and (row.paging ~= "NONE" or overlay.iterators[operation]) then
      local it = overlay.iterators[operation]
      local each, pages = iterator_names(name)
      if it then each, pages = it.each, it.pages end
      add(resource, each, operation, "EACH", positional)
      add(resource, pages, operation, "PAGES", positional)
    end
  end
  for _, id in ipairs(sorted_keys(overlay.methods)) do add_all(overlay.methods[id], id, nil, true) end
  for _, x in ipairs(overlay.extra_methods) do add_all(x.method, x.operation, x.positional) end
  table.sort(methods, function(a, b)
    if a.resource ~= b.resource then return a.resource < b.resource end
    return a.name < b.name
  end)
  return methods
end

---------------------------------------------------------------------------
-- src/operations.c
---------------------------------------------------------------------------

local function c_string(s)
  if s == nil then return "NULL" end
  return '"' .. s:gsub('[\\"]', "\\%0") .. '"'
end

local function emit_c(rows, aliases, methods)
  local out = {
    "/* GENERATED by scripts/generate.lua from api/ (make generate): do not edit.",
    " * The Scalekit API as data; the contract is src/operations.h. */",
    "/* clang-format off */",
    '#include "operations.h"',
    "",
  }
  local function line(s) out[#out + 1] = s end
  for _, row in ipairs(rows) do
    line(("static const sk_param p_%s[] = {"):format(row.id))
    for _, p in ipairs(row.params) do
      line(("    {%s, %s, %s, %s, SK_IN_%s, SK_T_%s, SK_T_%s, SK_F_%s, %d},"):format(
        c_string(p.name), c_string(p.wire), c_string(p.parent), c_string(p.fallback), p["in"],
        p.type, p.items, p.format, p.required and 1 or 0))
    end
    line("    {NULL, NULL, NULL, NULL, 0, 0, 0, 0, 0}};")
  end
  line("")
  line("const sk_operation sk_operations[] = {")
  for _, row in ipairs(rows) do
    local flags = flags_value(row.flags)
    for i, f in ipairs(flags) do flags[i] = "SK_OP_" .. f end
    line(("    {%s, %s, %s, p_%s, SK_BODY_%s, SK_PAGING_%s, %s, %s, %s},"):format(
      c_string(row.id), c_string(row.method), c_string(row.path), row.id, row.body, row.paging,
      #flags > 0 and table.concat(flags, " | ") or "0", c_string(row.unwrap), c_string(row.items)))
  end
  line("};")
  line("const size_t sk_operation_count = sizeof sk_operations / sizeof sk_operations[0];")
  line("")
  line("const sk_operation_alias sk_operation_aliases[] = {")
  for _, a in ipairs(aliases) do line(("    {%s, %s},"):format(c_string(a.alias), c_string(a.id))) end
  line("};")
  line("const size_t sk_operation_alias_count =")
  line("    sizeof sk_operation_aliases / sizeof sk_operation_aliases[0];")
  line("")
  line("const sk_method sk_methods[] = {")
  for _, m in ipairs(methods) do
    line(("    {%s, %s, %s, %s, SK_%s},"):format(c_string(m.resource), c_string(m.name),
      c_string(m.operation), c_string(m.positional), m.kind))
  end
  line("};")
  line("const size_t sk_method_count = sizeof sk_methods / sizeof sk_methods[0];")
  return table.concat(out, "\n") .. "\n"
end

---------------------------------------------------------------------------
-- what the reference and the annotations say about a row
---------------------------------------------------------------------------

local LUA_TYPES = { STRING = "string", INTEGER = "integer", NUMBER = "number", BOOLEAN = "boolean",
                    OBJECT = "table", ARRAY = "table" }

local function lua_type(p)
  if p.type == "ARRAY" then
    local item = LUA_TYPES[p.items]
    return item == "table" and "table[]" or item .. "[]"
  end
  return LUA_TYPES[p.type]
end

local function positional_list(m)
  local list = {}
  for n in (m.positional or ""):gmatch("[^,]+") do list[#list + 1] = n end
  return list
end

-- Params a method takes in its trailing table (not positional).
local function field_params(row, m)
  local positional = set(positional_list(m))
  local fields = {}
  for _, p in ipairs(row.params) do
    if not positional[p.name] and not (p["in"] == "PATH" and m and p.renamed_to) then
      fields[#fields + 1] = p
    end
  end
  return fields
end

local function where(p)
  if p["in"] == "PATH" then return "path" end
  if p["in"] == "QUERY" then return p.wire ~= p.name and ("query `" .. p.wire .. "`") or "query" end
  if p.parent then return "body, in `" .. p.parent .. "`" end
  return p.wire ~= p.name and ("body `" .. p.wire .. "`") or "body"
end

local function result_text(row)
  if row.flags.RETURNS_TRUE then return "`true`" end
  if row.paging ~= "NONE" then return ("page: `%s`%s"):format(row.items,
      row.paging == "TOKEN" and ", `next_page_token`" or ", by `page_number`") end
  if row.unwrap then return ("the `%s`"):format(row.unwrap) end
  return "the body"
end

---------------------------------------------------------------------------
-- README: reference
---------------------------------------------------------------------------

local function md_escape(s) return (s:gsub("|", "\\|")) end

local function emit_reference(rows_by_id, methods, aliases_of)
  local out = {
    "Path parameters are positional strings; the other fields go in one trailing",
    "table (the flat convention: query and body fields side by side). Generated",
    "from `api/scalekit-public-openapi.json` and `api/overlay.lua` by `make generate`,",
    "as is `types/scalekit.lua` (LuaLS annotations: add `types/` to `workspace.library`",
    "and editors complete `sk.users:` with parameters and result fields).",
    "",
    "- `*` marks a required field. A field in `connected_account` (or another nested",
    "  body) may be given flat or inside that table; a body field named like a path",
    "  parameter is `new_<name>` (`users:update_by_external_id(id, {new_external_id})`);",
    "  a query filter `filter.x` is `x`.",
    "- Paged lists have iterators: `list` → `each`/`pages`, `list_x` → `each_x`/`pages_x`,",
    "  any other `m` → `each_m`/`pages_m` (directories keep `each_user`/`user_pages`,",
    "  `each_group`/`group_pages`).",
    "- Results: a wrapped resource comes back unwrapped (`{user = {...}}` → the user);",
    "  deletes and removes return `true`; pages are the decoded body.",
    "",
    "| method | fields | result | operation |",
    "| --- | --- | --- | --- |",
  }
  local by_op = {}
  for _, m in ipairs(methods) do
    by_op[m.operation] = by_op[m.operation] or {}
    table.insert(by_op[m.operation], m)
  end
  local order = {}
  for _, m in ipairs(methods) do
    if m.kind == "CALL" then order[#order + 1] = m end
  end
  for _, m in ipairs(order) do
    local row = rows_by_id[m.operation]
    local args = positional_list(m)
    local fields = {}
    for _, p in ipairs(field_params(row, m)) do
      if not p.renamed_to then fields[#fields + 1] = p.name .. (p.required and "*" or "") end
    end
    local call
    if #args == 0 and #fields > 0 then call = ("`sk.%s:%s{…}`"):format(m.resource, m.name)
    else
      if #fields > 0 then args[#args + 1] = "{…}" end
      call = ("`sk.%s:%s(%s)`"):format(m.resource, m.name, table.concat(args, ", "))
    end
    for _, other in ipairs(by_op[m.operation]) do
      if other.kind ~= "CALL" and other.positional == m.positional then
        call = call .. (" · `:%s`"):format(other.name)
      end
    end
    local names = { row.id }
    for _, a in ipairs(aliases_of[row.id] or {}) do names[#names + 1] = a end
    out[#out + 1] = ("| %s | %s | %s | %s `%s %s` |"):format(call,
      #fields > 0 and md_escape(table.concat(fields, ", ")) or "",
      result_text(row), md_escape(table.concat(names, ", ")), row.method, md_escape(row.path))
  end
  out[#out + 1] = ""
  out[#out + 1] = "`sk:token()` returns the access token and the seconds until the SDK " ..
    "refreshes it (operation `createToken`). `exchangeToken` and `getJwks` are reached " ..
    "through `sk:call`. These three are in neither document's paths: see `api/README.md`."
  return table.concat(out, "\n")
end

---------------------------------------------------------------------------
-- README: where the two documents differ
---------------------------------------------------------------------------

local function sketch_ops(sketch, resolve_s, ref_name_s)
  local ops = {}
  for _, e in ipairs(operations_of(sketch)) do
    local params = {}
    for _, list in ipairs { e.shared or {}, e.op.parameters or {} } do
      for _, p in ipairs(list) do
        if p["$ref"] then p = sketch.components.parameters[p["$ref"]:match("([^/]+)$")] end
        params[#params + 1] = { name = p.name, ["in"] = p["in"], schema = p.schema }
      end
    end
    local bschema = json_body_schema(e.op)
    if bschema then
      local b = resolve_s(bschema)
      local req = set(b.required)
      for _, k in ipairs(sorted_keys(b.properties or {})) do
        params[#params + 1] = { name = k, ["in"] = "body", schema = b.properties[k], required = req[k] }
      end
    end
    local status, rschema = success(e.op)
    e.params, e.status, e.response = params, status, rschema and resolve_s(rschema)
    e.response_ref = rschema and ref_name_s(rschema)
    ops[e.id] = e
  end
  return ops
end

local function emit_differences(rows_by_id, sketch, overlay, live_resolve)
  local resolve_s, ref_name_s = make_resolver(sketch)
  local ops = sketch_ops(sketch, resolve_s, ref_name_s)
  local out = {
    "Generated from the two documents and `api/overlay.lua`: the live document decides",
    "what goes on the wire and what comes back; the first document's names keep working",
    "where they mean the same thing, and raise where they do not.",
    "",
    "| first document (`api/scalekit-openapi.yaml`) | live service " ..
      "(`api/scalekit-public-openapi.json`) | what the SDK does |",
    "| --- | --- | --- |",
  }
  local function row(a, b, c)
    out[#out + 1] = ("| %s | %s | %s |"):format(md_escape(a), md_escape(b), md_escape(c))
  end
  for _, alias in ipairs(sorted_keys(ops)) do
    local s = ops[alias]
    local id = overlay.aliases[alias]
    local live = id and rows_by_id[id] or rows_by_id[alias]
    if not live then fail("sketch operation %s has no alias in the overlay", alias) end
    if live.extra then goto continue end
    if s.method ~= live.method or s.path ~= live.path then
      local how = "calls the live path"
      for _, n in ipairs(path_names(s.path)) do
        for _, p in ipairs(live.params) do
          if p.name == n and p["in"] == "QUERY" then
            how = how .. ("; sends `%s` as a query parameter (still positional in the " ..
              "first document's method)"):format(n)
          end
        end
      end
      row(("%s: `%s %s`"):format(alias, s.method, s.path),
          ("%s: `%s %s`"):format(id, live.method, live.path), how)
    end
    local live_params = {}
    for _, p in ipairs(live.params) do live_params[p.name] = p end
    for _, sp in ipairs(s.params) do
      local lp = live_params[sp.name]
      local ty, items = param_type(resolve_s, sp.schema or {}, alias .. " " .. sp.name)
      if not lp then
        row(("%s: %s `%s`"):format(alias, sp["in"], sp.name),
            ("%s has no such field"):format(id), "raises `unknown field` (never dropped)")
      elseif lp.renamed_to then
        local why = overlay.renamed_fields[id][sp.name].why
        row(("%s: `%s`"):format(alias, sp.name), ("`%s`: %s"):format(lp.renamed_to, why),
            ("accepts `%s` and sends it as `%s`"):format(sp.name, lp.renamed_to))
      else
        if lp.parent then
          row(("%s: `%s` at the top of the body"):format(alias, sp.name),
              ("`%s.%s`"):format(lp.parent, lp.wire),
              ("sends it inside `%s`; flat and nested forms are both accepted"):format(lp.parent))
        end
        if lp.type ~= ty or (ty == "ARRAY" and lp.items ~= items) then
          local function show(t, i) return t == "ARRAY" and ("array of " .. i:lower()) or t:lower() end
          row(("%s: `%s` is %s"):format(alias, sp.name, show(ty, items)),
              ("%s"):format(show(lp.type, lp.items)),
              "follows the live type; other values raise")
        end
        if sp.required and not lp.required then
          row(("%s: `%s` required"):format(alias, sp.name), "optional",
              "does not require it")
        end
      end
    end
    for _, lp in ipairs(live.params) do
      if lp.required and lp["in"] ~= "PATH" then
        local known = false
        for _, sp in ipairs(s.params) do if sp.name == lp.name then known = true end end
        if not known then
          row(("%s: no `%s`"):format(alias, lp.name), ("`%s` is required"):format(lp.name),
              "requires it")
        end
      end
    end
    -- results
    local sresp = s.response
    if live.flags.RETURNS_TRUE then
      if s.status ~= live.status then
        row(("%s: %s, no body"):format(alias, s.status), ("%s with a JSON body"):format(live.status),
            "returns `true` on any 2xx")
      end
    elseif sresp then
      local sprops = sresp.properties or {}
      local skeys = sorted_keys(sprops)
      local sunwrap = (#skeys == 1 and resolve_s(sprops[skeys[1]]).type == "object") and skeys[1] or nil
      if live.unwrap and not sunwrap then
        row(("%s: the resource (`%s`) bare"):format(alias, s.response_ref or "?"),
            ("wrapped: `{%s = {...}}`"):format(live.unwrap), "unwraps: returns the resource")
      end
      -- fields the sketch promises in the result that the live result lacks
      local sres = sunwrap and resolve_s(sprops[sunwrap]) or sresp
      local lres = live_resolve(live.unwrap and live.unwrap_schema or live.response_schema or {})
      local lprops = lres.properties or {}
      local missing = {}
      for _, k in ipairs(sorted_keys(sres.properties or {})) do
        if not lprops[k] then missing[#missing + 1] = "`" .. k .. "`" end
      end
      if #missing > 0 then
        local have = {}
        for _, k in ipairs(sorted_keys(lprops)) do have[#have + 1] = "`" .. k .. "`" end
        row(("%s: result has %s"):format(alias, table.concat(missing, ", ")),
            ("the result has no %s (it has %s)"):format(table.concat(missing, ", "),
              table.concat(have, ", ")),
            "returns what the service sends")
      end
    end
    ::continue::
  end
  for _, n in ipairs(overlay.notes or {}) do row(n.sketch, n.live, n.sdk) end
  for _, id in ipairs(sorted_keys(overlay.exceptions)) do
    local e = overlay.exceptions[id]
    if not e.what:match("^as ") then row("(not in the first document)", id .. ": " .. e.what, e.sdk) end
  end
  return table.concat(out, "\n")
end

---------------------------------------------------------------------------
-- types/scalekit.lua
---------------------------------------------------------------------------

local function emit_types(rows_by_id, methods, live, resolve, ref_name)
  local out = {
    "---@meta scalekit",
    "-- GENERATED by scripts/generate.lua from api/ (make generate): do not edit.",
    "-- LuaLS annotations: editors complete `sk.users:` with parameters and results.",
    "",
    "---@class scalekit.Error",
    "---@field kind string \"api\", \"auth\", \"transport\", \"timeout\", \"decode\", \"closed\"",
    "---@field status integer|nil HTTP status; nil when no response arrived",
    "---@field code string|nil",
    "---@field message string",
    "---@field details any",
    "---@field request_id string|nil",
    "---@field operation string|nil operationId",
    "---@field retryable boolean",
    "---@field attempts integer|nil",
    "",
    "---@class scalekit.Response",
    "---@field status integer",
    "---@field request_id string|nil",
    "---@field max_age integer|nil",
    "",
  }
  local function line(s) out[#out + 1] = s end
  local schemas_used = {}
  local function schema_class(name)
    schemas_used[name] = true
    return "scalekit.schema." .. name
  end
  local function result_type(row, kind)
    if kind ~= "CALL" then return nil end
    if row.flags.RETURNS_TRUE then return "true" end
    if row.unwrap and row.unwrap_ref then return schema_class(row.unwrap_ref) end
    if row.response_ref then return schema_class(row.response_ref) end
    return "table"
  end

  local resources = {}
  for _, m in ipairs(methods) do
    resources[m.resource] = resources[m.resource] or {}
    table.insert(resources[m.resource], m)
  end
  line("---@class scalekit.Client")
  for _, r in ipairs(sorted_keys(resources)) do
    line(("---@field %s scalekit.resource.%s"):format(r, r))
  end
  line("local Client = {}")
  line("")
  line("--- Any operation by its published operationId or a first-document alias; params is one")
  line("--- flat table. opts: {timeout = seconds, response = true}.")
  line("---@param operation_id string")
  line("---@param params? table")
  line("---@param opts? {timeout?: number, response?: boolean}")
  line("---@return any|nil result")
  line("---@return scalekit.Error|scalekit.Response|nil err_or_response")
  line("function Client:call(operation_id, params, opts) end")
  line("")
  line("--- Runs {operation_id, params} pairs at once; values[i] or errors[i] is set for each i.")
  line("---@param calls table[]")
  line("---@param opts? {concurrency?: integer}")
  line("---@return table values")
  line("---@return table errors")
  line("function Client:parallel(calls, opts) end")
  line("")
  line("---@return string|nil token")
  line("---@return number|scalekit.Error|nil seconds_left_or_err")
  line("function Client:token() end")
  line("")
  line("function Client:close() end")
  line("")
  for _, r in ipairs(sorted_keys(resources)) do
    line(("---@class scalekit.resource.%s"):format(r))
    local var = "resource_" .. r
    line(("local %s = {}"):format(var))
    line("")
    for _, m in ipairs(resources[r]) do
      local row = rows_by_id[m.operation]
      local fields = field_params(row, m)
      local pclass = ("scalekit.fields.%s"):format(m.operation)
      local kind_text = m.kind == "EACH" and "Iterates over the items of every page of "
        or m.kind == "PAGES" and "Iterates over the pages of " or ""
      line(("--- %s`%s %s` (%s)."):format(kind_text, row.method, row.path, row.id))
      local args = {}
      for _, n in ipairs(positional_list(m)) do
        line(("---@param %s string"):format(n))
        args[#args + 1] = n
      end
      if #fields > 0 then
        local any_required = false
        for _, p in ipairs(fields) do if p.required then any_required = true end end
        line(("---@param fields%s %s"):format(any_required and "" or "?", pclass))
        args[#args + 1] = "fields"
      end
      if m.kind == "CALL" then
        line(("---@return %s|nil"):format(result_type(row, m.kind)))
        line("---@return scalekit.Error|nil")
      else
        local item = "table"
        if m.kind == "EACH" and row.items then
          local rs = live.components.schemas[row.response_ref or ""]
          local arr = rs and rs.properties and rs.properties[row.items]
          local iname = arr and arr.items and ref_name(arr.items)
          if iname then item = schema_class(iname) end
        elseif row.response_ref then
          item = schema_class(row.response_ref)
        end
        line(("---@return fun(): %s"):format(item))
      end
      line(("function %s:%s(%s) end"):format(var, m.name, table.concat(args, ", ")))
      line("")
    end
  end
  -- fields classes, one per operation: what goes in the trailing table
  -- (path parameters are positional)
  for _, id in ipairs(sorted_keys(rows_by_id)) do
    local row = rows_by_id[id]
    line(("---@class scalekit.fields.%s"):format(id))
    for _, p in ipairs(row.params) do
      if p["in"] == "PATH" then goto next_param end
      local note = where(p)
      if p.renamed_to then note = "first document's name for `" .. p.renamed_to .. "`" end
      if p.fallback then note = note .. ", default \"" .. p.fallback .. "\"" end
      line(("---@field %s%s %s %s"):format(p.name, p.required and "" or "?", lua_type(p), note))
      ::next_param::
    end
    line("")
  end
  -- schema classes reachable from the results
  local done, queue = {}, sorted_keys(schemas_used)
  local function schema_field_type(v)
    local name = ref_name(v)
    local s = resolve(v)
    if s.type == "array" then
      local iname = ref_name(s.items or {})
      if iname and resolve(s.items).properties then
        if not done[iname] then queue[#queue + 1] = iname end
        return "scalekit.schema." .. iname .. "[]"
      end
      local it = resolve(s.items or {}).type
      return (it and LUA_TYPES[TYPES[it] or "OBJECT"] or "any") .. "[]"
    end
    if name and s.properties then
      if not done[name] then queue[#queue + 1] = name end
      return "scalekit.schema." .. name
    end
    if s.type and TYPES[s.type] then return LUA_TYPES[TYPES[s.type]] end
    return "any"
  end
  local classes = {}
  while #queue > 0 do
    local name = table.remove(queue, 1)
    if not done[name] then
      done[name] = true
      local s = resolve(live.components.schemas[name] or fail("no schema %s", name))
      local lines = { ("---@class scalekit.schema.%s"):format(name) }
      for _, k in ipairs(sorted_keys(s.properties or {})) do
        local key = k:match("^[%a_][%w_]*$") and k or ('["' .. k .. '"]')
        lines[#lines + 1] = ("---@field %s? %s"):format(key, schema_field_type(s.properties[k]))
      end
      classes[name] = table.concat(lines, "\n")
    end
  end
  for _, name in ipairs(sorted_keys(classes)) do
    line(classes[name])
    line("")
  end
  line("local scalekit = {}")
  line("")
  line("--- A client; settings default to SCALEKIT_ENVIRONMENT_URL, SCALEKIT_CLIENT_ID,")
  line("--- SCALEKIT_CLIENT_SECRET (README, \"Configuration\").")
  line("---@param options? table")
  line("---@return scalekit.Client")
  line("function scalekit.new(options) end")
  line("")
  line("return scalekit")
  return table.concat(out, "\n") .. "\n"
end

---------------------------------------------------------------------------
-- main
---------------------------------------------------------------------------

local function replace_between(text, name, body, path)
  local b = ("<!-- BEGIN generated: %s -->"):format(name)
  local e = ("<!-- END generated: %s -->"):format(name)
  local i = text:find(b, 1, true)
  local j = text:find(e, 1, true)
  if not i or not j or j < i then fail("%s: markers for '%s' missing", path, name) end
  return text:sub(1, i + #b - 1) .. "\n" .. body .. "\n" .. text:sub(j)
end

local function main(argv)
  local out_dir, only = nil, { c = true, types = true, readme = true }
  local i = 1
  while i <= #argv do
    if argv[i] == "--out" then out_dir, i = argv[i + 1], i + 2
    elseif argv[i] == "--only" then
      only = set((function()
        local l = {}
        for w in (argv[i + 1] or ""):gmatch("[^,]+") do l[#l + 1] = w end
        return l
      end)())
      i = i + 2
    else fail("usage: lua5.4 scripts/generate.lua [--out DIR] [--only c,types,readme]") end
  end
  if out_dir == nil and os.getenv("GENERATE_OUT") and os.getenv("GENERATE_OUT") ~= "" then
    out_dir = os.getenv("GENERATE_OUT")
  end

  local live = cjson.decode(read(ROOT .. "/" .. LIVE))
  local sketch = cjson.decode(read(ROOT .. "/" .. SKETCH))
  local overlay = dofile(ROOT .. "/" .. OVERLAY)
  for _, k in ipairs { "methods", "iterators", "extra_methods", "aliases", "renamed_fields",
                       "nested_bodies", "flags", "exceptions", "extra_operations" } do
    overlay[k] = overlay[k] or {}
  end
  local resolve, ref_name = make_resolver(live)

  local rows, rows_by_id = {}, {}
  for _, e in ipairs(operations_of(live)) do
    if rows_by_id[e.id] then fail("operationId %s twice", e.id) end
    if not overlay.methods[e.id] then fail("overlay.methods lacks %s", e.id) end
    local row = live_row(resolve, ref_name, e, overlay)
    local _, rschema = success(e.op)
    row.response_schema = rschema
    if row.unwrap then row.unwrap_schema = resolve(rschema).properties[row.unwrap] end
    rows[#rows + 1] = row
    rows_by_id[e.id] = row
  end
  for _, id in ipairs(sorted_keys(overlay.methods)) do
    if not rows_by_id[id] then fail("overlay.methods: %s is not in the live document", id) end
  end
  for _, id in ipairs(sorted_keys(overlay.extra_operations)) do
    if rows_by_id[id] then fail("extra operation %s is in the live document", id) end
    local row = extra_row(id, overlay.extra_operations[id])
    rows[#rows + 1] = row
    rows_by_id[id] = row
  end
  table.sort(rows, function(a, b) return a.id < b.id end)

  -- aliases: every first-document operation is an alias or an extra row
  local aliases, aliases_of = {}, {}
  for _, e in ipairs(operations_of(sketch)) do
    local target = overlay.aliases[e.id]
    if not target and not rows_by_id[e.id] then
      fail("first-document operation %s has no alias in the overlay", e.id)
    end
  end
  for _, alias in ipairs(sorted_keys(overlay.aliases)) do
    local id = overlay.aliases[alias]
    if not rows_by_id[id] then fail("alias %s: no operation %s", alias, id) end
    if rows_by_id[alias] then fail("alias %s is an operation", alias) end
    aliases[#aliases + 1] = { alias = alias, id = id }
    aliases_of[id] = aliases_of[id] or {}
    table.insert(aliases_of[id], alias)
  end

  local methods = build_methods(rows_by_id, overlay)
  local prefix = out_dir and (out_dir .. "/") or (ROOT .. "/")

  if only.c then write(prefix .. "src/operations.c", emit_c(rows, aliases, methods)) end
  if only.types then
    write(prefix .. "types/scalekit.lua", emit_types(rows_by_id, methods, live, resolve, ref_name))
  end
  if only.readme then
    local readme = read(ROOT .. "/README.md")
    readme = replace_between(readme, "reference", emit_reference(rows_by_id, methods, aliases_of),
                             "README.md")
    readme = replace_between(readme, "differences",
                             emit_differences(rows_by_id, sketch, overlay, resolve), "README.md")
    write(prefix .. "README.md", readme)
  end
  io.stderr:write(("generate: %d operations, %d aliases, %d methods%s\n"):format(#rows, #aliases,
    #methods, out_dir and (" -> " .. out_dir) or ""))
end

main(arg)
