-- The operation table as compiled into the SDK, read back from the
-- generated src/operations.c (make generate), for specs that check the SDK
-- against it (spec/20-generated_spec.lua, spec/contract/). Lua 5.1-5.4,
-- LuaJIT.
local process = require "spec.helpers.process"

local M = {}

-- Splits a C initializer's fields on commas outside string literals;
-- NULL becomes false, "x" becomes x.
local function fields_of(s)
  local out, cur, quoted = {}, {}, false
  for c in s:gmatch(".") do
    if c == '"' then quoted = not quoted end
    if c == "," and not quoted then
      out[#out + 1] = table.concat(cur):match("^%s*(.-)%s*$")
      cur = {}
    else
      cur[#cur + 1] = c
    end
  end
  out[#out + 1] = table.concat(cur):match("^%s*(.-)%s*$")
  for i, v in ipairs(out) do
    if v == "NULL" then out[i] = false else out[i] = v:match('^"(.*)"$') or v end
  end
  return out
end

-- The generator writes one initializer per line: "    {...},".
local function entries(block)
  local out = {}
  for line in block:gmatch("[^\n]+") do
    local inner = line:match("^%s*{(.*)},?%s*$") or line:match("^%s*{(.*)}};%s*$")
    if inner then out[#out + 1] = inner end
  end
  return out
end

--- ops (sorted by id; each {id, method, path, params, body, paging, flags,
-- unwrap, items}), aliases ({alias, id}), methods ({resource, name,
-- operation, positional, kind}), by_id.
function M.load(path)
  local text = assert(process.read_file(path or "src/operations.c"),
                      "src/operations.c is missing (make generate)")
  local params, ops, aliases, methods, by_id = {}, {}, {}, {}, {}
  for id, body in text:gmatch("static const sk_param p_([%w_]+)%[%] = {\n(.-}};)") do
    local list = {}
    for _, entry in ipairs(entries(body)) do
      local f = fields_of(entry)
      if f[1] then
        list[#list + 1] = {
          name = f[1], wire = f[2], parent = f[3] or nil, fallback = f[4] or nil,
          where = f[5]:match("SK_IN_(%u+)"), type = f[6]:match("SK_T_(%u+)"),
          items = f[7]:match("SK_T_(%u+)"), required = f[9] == "1",
        }
      end
    end
    params[id] = list
  end
  local function section(name)
    return assert(text:match("const " .. name .. "%[%] = {(.-)\n};"), name)
  end
  for _, entry in ipairs(entries(section("sk_operation sk_operations"))) do
    local f = fields_of(entry)
    local op = { id = f[1], method = f[2], path = f[3], params = params[f[1]],
                 body = f[5]:match("SK_BODY_(%u+)"), paging = f[6]:match("SK_PAGING_(%u+)"),
                 flags = f[7], unwrap = f[8] or nil, items = f[9] or nil }
    ops[#ops + 1] = op
    by_id[op.id] = op
  end
  for _, entry in ipairs(entries(section("sk_operation_alias sk_operation_aliases"))) do
    local f = fields_of(entry)
    aliases[#aliases + 1] = { alias = f[1], id = f[2] }
  end
  for _, entry in ipairs(entries(section("sk_method sk_methods"))) do
    local f = fields_of(entry)
    methods[#methods + 1] = { resource = f[1], name = f[2], operation = f[3],
                              positional = f[4] or nil, kind = f[5]:match("SK_(%u+)") }
  end
  return ops, aliases, methods, by_id
end

function M.has_flag(op, flag) return op.flags:find("SK_OP_" .. flag, 1, true) ~= nil end

--- The names a method takes positionally.
function M.positional_names(m, op)
  local names = {}
  if m.positional then
    for n in m.positional:gmatch("[^,]+") do names[#names + 1] = n end
  else
    for n in op.path:gmatch("{([^}]+)}") do names[#names + 1] = n end
  end
  return names
end

--- Whether p is another name for a param listed before it (the first
-- document's name for the same place on the wire).
function M.is_renamed(op, p)
  for _, q in ipairs(op.params) do
    if q == p then return false end
    if q.wire == p.wire and q.parent == p.parent and q.where == p.where then return true end
  end
  return false
end

--- The param of op named name, or nil.
function M.param(op, name)
  for _, p in ipairs(op.params) do if p.name == name then return p end end
  return nil
end

return M
