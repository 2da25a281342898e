-- A secret in every encoding that goes on the wire, and the checks that
-- none of them shows in what the SDK hands out. Lua 5.1-5.4 and LuaJIT.
--
--   local secrets = require "spec.helpers.secrets"
--   assert.is_nil(secrets.leak(err, SECRET))        -- any string inside err
--   assert.is_nil(secrets.found(tostring(err), SECRET))
--   secrets.encodings(SECRET).form                  -- to build echoing bodies
--
-- Rather than list every encoding a string might carry, found() decodes the
-- string in each way a secret gets encoded (percent, form, JSON escapes, and
-- their combinations) and looks for the raw secret in each result.
local secrets = {}

local function hex_escape(c) return ("%%%02X"):format(c:byte()) end

local function percent_decode(s)
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

local function form_decode(s) return percent_decode((s:gsub("%+", " "))) end

-- JSON string escapes (ASCII \u escapes are enough for the secrets here).
local function json_unescape(s)
  local simple = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f",
                   n = "\n", r = "\r", t = "\t" }
  return (s:gsub("\\(u?)(%x?%x?%x?%x?)", function(u, hex)
    if u == "u" and #hex == 4 and tonumber(hex, 16) < 128 then
      return string.char(tonumber(hex, 16))
    end
    return nil
  end):gsub('\\(["\\/bfnrt])', simple))
end

--- The secret as each encoder would write it.
function secrets.encodings(secret)
  local unreserved = "[^%w%-%._~]"
  local percent = secret:gsub(unreserved, hex_escape)
  return {
    raw = secret,
    percent = percent,
    percent_lower = (secret:gsub(unreserved, function(c) return ("%%%02x"):format(c:byte()) end)),
    form = (secret:gsub(unreserved, function(c) return c == " " and "+" or hex_escape(c) end)),
    json = (secret:gsub('[/"\\]', "\\%0")),
    json_unicode = (secret:gsub("[^%w]", function(c) return ("\\u%04x"):format(c:byte()) end)),
    double_percent = (percent:gsub("%%", "%%25")),
  }
end

--- The name of the first decoding of s that shows the secret, or nil.
function secrets.found(s, secret)
  if type(s) ~= "string" then return nil end
  local json = json_unescape(s)
  local views = {
    { "raw", s }, { "percent", percent_decode(s) }, { "form", form_decode(s) },
    { "json", json }, { "json+percent", percent_decode(json) }, { "json+form", form_decode(json) },
    { "double percent", percent_decode(percent_decode(s)) },
  }
  for _, view in ipairs(views) do
    if view[2]:find(secret, 1, true) then return view[1] end
  end
  return nil
end

-- Every string reachable from v (keys and values).
local function strings_in(v, out, seen)
  if type(v) == "string" then
    out[#out + 1] = v
  elseif type(v) == "table" and not seen[v] then
    seen[v] = true
    for k, x in pairs(v) do
      strings_in(k, out, seen)
      strings_in(x, out, seen)
    end
  end
  return out
end

--- "<encoding> in <string>" for the first string reachable from v that
-- shows the secret in some encoding, or nil.
function secrets.leak(v, secret)
  for _, s in ipairs(strings_in(v, {}, {})) do
    local how = secrets.found(s, secret)
    if how then return how .. " in " .. s end
  end
  return nil
end

return secrets
