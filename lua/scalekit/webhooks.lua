--- scalekit.webhooks: signature checks of Scalekit's webhooks and
-- interceptor calls (Standard Webhooks). No client needed:
--
--   local ok, err = webhooks.verify(secret, ngx.req.get_headers(), ngx.req.get_body_data())
--
-- The secret is "whsec_<base64 key>". The signed content is
-- "<id>.<timestamp>.<body>", HMAC-SHA256, sent base64-encoded as one or
-- more space-separated "v1,<signature>" entries; any matching entry is
-- accepted (compared in constant time, in C: src/crypto.c). Failures are
-- `nil, err` with err.kind == "webhook" and err.reason one of
-- missing_header, duplicate_header, bad_timestamp, too_old, too_new,
-- bad_signature, bad_secret.
local core = require "scalekit.core"

local type, next, tostring, error, format = type, next, tostring, error, string.format
local floor, huge, os_time, concat = math.floor, math.huge, os.time, table.concat
local c_verify, c_sign, make_error = core.webhook_verify, core.webhook_sign, core.error

local webhooks = {}

local DEFAULT_TOLERANCE = 300 -- seconds, either side of now

local function webhook_error(reason, message)
  return make_error { kind = "webhook", reason = reason, message = message }
end

-- Every value of the header `name` (lower case) in a table shaped like
-- ngx.req.get_headers()'s: names in any case, a value a string or a list
-- of strings (a repeated header).
local function header_values(headers, name)
  local values = {}
  for key, value in next, headers do
    if type(key) == "string" and #key == #name and key:lower() == name then
      if type(value) == "string" then
        values[#values + 1] = value
      elseif type(value) == "table" then
        for i = 1, #value do
          if type(value[i]) == "string" then values[#values + 1] = value[i] end
        end
      end
    end
  end
  return values
end

-- The one value of a header that must not be repeated: value | nil, err.
-- Repeats of the same value are harmless and accepted.
local function single_header(headers, name)
  local values = header_values(headers, name)
  local value = values[1]
  if value == nil or value == "" then
    return nil, webhook_error("missing_header", format("the request has no %s header", name))
  end
  for i = 2, #values do
    if values[i] ~= value then
      return nil, webhook_error("duplicate_header",
        format("the request has %s headers with different values", name))
    end
  end
  return value
end

-- Raises at the level of the caller of webhooks.verify[_interceptor]
-- (fail, check_arguments, verify, webhooks.verify, caller: no tail calls,
-- which Lua 5.1 would leave as frames without a line).
local function check_arguments(who, secret, headers, body, opts)
  local function fail(fmt, ...)
    error(who .. ": " .. format(fmt, ...), 5)
  end
  if type(secret) ~= "string" then fail("argument #1 (secret) must be a string (got %s)", type(secret)) end
  if type(headers) ~= "table" then fail("argument #2 (headers) must be a table (got %s)", type(headers)) end
  if type(body) ~= "string" then fail("argument #3 (body) must be a string (got %s)", type(body)) end
  if opts == nil then return DEFAULT_TOLERANCE, os_time() end
  if type(opts) ~= "table" then fail("argument #4 (opts) must be a table (got %s)", type(opts)) end
  for key in next, opts do
    if key ~= "tolerance" and key ~= "now" then fail("unknown option '%s'", tostring(key)) end
  end
  local tolerance, now = opts.tolerance, opts.now
  if tolerance ~= nil and not (type(tolerance) == "number" and tolerance >= 0 and tolerance < huge) then
    fail("option 'tolerance' must be a finite number >= 0")
  end
  if now ~= nil and not (type(now) == "number" and now > -huge and now < huge) then
    fail("option 'now' must be a finite number")
  end
  return tolerance or DEFAULT_TOLERANCE, now or os_time()
end

local function verify(prefix, who, secret, headers, body, opts)
  local tolerance, now = check_arguments(who, secret, headers, body, opts)
  local id, err = single_header(headers, prefix .. "-id")
  if not id then return nil, err end
  local timestamp
  timestamp, err = single_header(headers, prefix .. "-timestamp")
  if not timestamp then return nil, err end
  -- Every entry of every signature header counts.
  local signatures = concat(header_values(headers, prefix .. "-signature"), " ")
  if signatures == "" then
    return nil, webhook_error("missing_header", format("the request has no %s-signature header", prefix))
  end
  local ok, reason, message = c_verify(secret, id, timestamp, body, signatures, now, tolerance)
  if ok then return true end
  return nil, webhook_error(reason, message)
end

--- true | nil, err for a webhook (webhook-id, webhook-timestamp and
-- webhook-signature headers). opts: tolerance (seconds, default 300),
-- now (Unix seconds, default os.time()).
function webhooks.verify(secret, headers, body, opts)
  local ok, err = verify("webhook", "webhooks.verify", secret, headers, body, opts)
  return ok, err
end

--- The same for an interceptor call (interceptor-id, interceptor-timestamp,
-- interceptor-signature).
function webhooks.verify_interceptor(secret, headers, body, opts)
  local ok, err = verify("interceptor", "webhooks.verify_interceptor", secret, headers, body, opts)
  return ok, err
end

--- The "v1,<base64>" signature entry of a delivery (for tests and fakes).
-- timestamp: Unix seconds as an integer or a string of digits.
function webhooks.sign(secret, id, timestamp, body)
  local function fail(fmt, ...)
    error("webhooks.sign: " .. format(fmt, ...), 3)
  end
  if type(secret) ~= "string" then fail("argument #1 (secret) must be a string (got %s)", type(secret)) end
  if type(id) ~= "string" then fail("argument #2 (id) must be a string (got %s)", type(id)) end
  if type(timestamp) == "number" and timestamp >= 0 and timestamp < 1e15 and floor(timestamp) == timestamp then
    timestamp = format("%.0f", timestamp)
  elseif type(timestamp) ~= "string" or not timestamp:match("^%d+$") then
    fail("argument #3 (timestamp) must be Unix seconds (an integer or a string of digits)")
  end
  if type(body) ~= "string" then fail("argument #4 (body) must be a string (got %s)", type(body)) end
  local signature, _, message = c_sign(secret, id, timestamp, body)
  if not signature then fail("%s", message) end
  return signature
end

return webhooks
