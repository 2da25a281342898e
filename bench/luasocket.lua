-- Baseline: what a Lua 5.4 user writes without the SDK, with LuaSocket and
-- lua-cjson.
--
-- socket.http opens a new connection for every request (it sends
-- "Connection: close"), which is not what anyone calling an API in a loop
-- should measure against. So this is the realistic better version: a raw
-- LuaSocket TCP connection kept alive, HTTP/1.1 requests written by hand,
-- the status line and headers read line by line, the body read by its
-- Content-Length, then cjson.decode. For workload (d) the same client runs
-- as 32 coroutines over non-blocking sockets and socket.select (what copas
-- does, without the dependency).
--
--   lua5.4 bench/luasocket.lua <workload> <base url> <n> [extra]
--     org   <n>             n sequential getOrganization
--     pages <n> <pages>     n sequential listDirectoryUsers pages (page_size 100)
--     walk  <users>         iterate <users> directory users, page by page
--     multi <n> <conc>      n getOrganization on the 20 ms endpoint, conc at once
-- Prints "time=<wall s> cpu=<process CPU s> requests=<n> items=<n> hwm_kb=<VmHWM>"
-- like bench/floor (times of the timed part only).
local socket = require "socket"
local cjson = require "cjson"

local workload, base, n, extra = arg[1], arg[2], tonumber(arg[3]), tonumber(arg[4])
local host, port = base:match("^http://([^:/]+):(%d+)$")
assert(workload and host and n, "usage: luasocket.lua <workload> http://host:port <n> [extra]")
port = tonumber(port)

local CLIENT_ID, CLIENT_SECRET = "skc_bench", "bench_secret"
local USERS_PATH = "/api/v1/organizations/org_bench/directories/dir_bench/users"

local function hwm_kb()
  local f = io.open("/proc/self/status")
  local kb = f and f:read("a"):match("VmHWM:%s*(%d+)")
  if f then f:close() end
  return tonumber(kb) or -1
end

local function urlencode(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

---------------------------------------------------------------------------
-- blocking keep-alive client

local conn_mt = {}
conn_mt.__index = conn_mt

local function connect()
  local s = assert(socket.tcp())
  assert(s:connect(host, port))
  s:setoption("tcp-nodelay", true)
  s:settimeout(30)
  return setmetatable({ sock = s, token = nil }, conn_mt)
end

local function request_text(method, path, token, body, content_type)
  local head = {
    method, " ", path, " HTTP/1.1\r\nHost: ", host, ":", port,
    "\r\nUser-Agent: bench-luasocket\r\nAccept: application/json\r\n",
  }
  if token then head[#head + 1] = "Authorization: Bearer " .. token .. "\r\n" end
  if body then
    head[#head + 1] = "Content-Type: " .. content_type .. "\r\nContent-Length: " .. #body .. "\r\n"
  end
  head[#head + 1] = "\r\n"
  if body then head[#head + 1] = body end
  return table.concat(head)
end

-- Returns status, body. Handles Content-Length bodies (what the API sends
-- for these responses) and reconnects when the server closed the connection.
function conn_mt:request(method, path, body, content_type)
  local s = self.sock
  assert(s:send(request_text(method, path, self.token, body, content_type)))
  local line = assert(s:receive("*l"))
  local status = tonumber(line:match("^HTTP/1%.%d (%d%d%d)"))
  assert(status, "bad status line: " .. line)
  local length, close
  while true do
    line = assert(s:receive("*l"))
    if line == "" then break end
    local name, value = line:match("^([^:]+):%s*(.-)%s*$")
    name = name and name:lower()
    if name == "content-length" then length = tonumber(value)
    elseif name == "connection" and value:lower() == "close" then close = true end
  end
  assert(length, "response without Content-Length")
  local data = length > 0 and assert(s:receive(length)) or ""
  if close then
    s:close()
    self.sock = connect().sock
  end
  return status, data
end

function conn_mt:fetch_token()
  local status, data = self:request("POST", "/oauth/token",
    "grant_type=client_credentials&client_id=" .. urlencode(CLIENT_ID)
      .. "&client_secret=" .. urlencode(CLIENT_SECRET),
    "application/x-www-form-urlencoded")
  assert(status == 200, "token: HTTP " .. status)
  self.token = cjson.decode(data).access_token
end

function conn_mt:get_json(path)
  local status, data = self:request("GET", path)
  if status ~= 200 then error("GET " .. path .. ": HTTP " .. status) end
  return cjson.decode(data)
end

local function get_organization(c, id)
  return c:get_json("/api/v1/organizations/" .. urlencode(id)).organization
end

local function list_users(c, token)
  local path = USERS_PATH .. "?page_size=100"
  if token and token ~= "" then path = path .. "&page_token=" .. urlencode(token) end
  return c:get_json(path)
end

---------------------------------------------------------------------------
-- workloads

local clock = socket.gettime
local result = { requests = 0, items = 0 }

if workload == "org" then
  local c = connect()
  c:fetch_token()
  assert(get_organization(c, "org_59615193906282635").id) -- warm-up
  local t0, c0 = clock(), os.clock()
  for _ = 1, n do
    local org = get_organization(c, "org_59615193906282635")
    if not org.id then error("no organization") end
  end
  result.time, result.cpu = clock() - t0, os.clock() - c0
  result.requests = n
elseif workload == "pages" then
  local pages = assert(extra, "pages: need the page count")
  local c = connect()
  c:fetch_token()
  list_users(c, nil) -- warm-up
  local t0, c0 = clock(), os.clock()
  local token = nil
  for i = 1, n do
    local page = list_users(c, token)
    result.items = result.items + #page.users
    token = page.next_page_token
    if i % pages == 0 then token = nil end
  end
  result.time, result.cpu = clock() - t0, os.clock() - c0
  result.requests = n
elseif workload == "walk" then
  -- for user in each_user(...) by hand: page after page until the users
  -- wanted are seen or next_page_token is empty
  local c = connect()
  c:fetch_token()
  local t0, c0 = clock(), os.clock()
  local token, seen = nil, 0
  repeat
    local page = list_users(c, token)
    result.requests = result.requests + 1
    for _, user in ipairs(page.users) do
      if not user.id then error("user without id") end
      seen = seen + 1
      if seen == n then break end
    end
    token = page.next_page_token
  until seen == n or token == nil or token == ""
  result.time, result.cpu = clock() - t0, os.clock() - c0
  result.items = seen
elseif workload == "multi" then
  local conc = extra or 32
  local path = "/api/v1/organizations/slow_59615193906282635"
  local token
  do
    local c = connect()
    c:fetch_token()
    token = c.token
    c.sock:close()
  end
  local req = request_text("GET", path, token)
  local started, done = 0, 0
  local waiting_r, waiting_w = {}, {} -- socket -> coroutine
  local rlist, wlist = {}, {}

  local function wait(sock, list, set)
    set[sock] = coroutine.running()
    list[#list + 1] = sock
    coroutine.yield()
  end
  -- receive that yields until the socket is readable
  local function recv(sock, pattern)
    local acc = ""
    while true do
      local data, err, partial = sock:receive(pattern, acc)
      if data then return data end
      if err ~= "timeout" then error("receive: " .. err) end
      acc = partial
      wait(sock, rlist, waiting_r)
    end
  end
  local function send(sock, data)
    local i = 1
    while i <= #data do
      local last, err, partial = sock:send(data, i)
      if last then return end
      if err ~= "timeout" then error("send: " .. err) end
      i = partial + 1
      wait(sock, wlist, waiting_w)
    end
  end
  local function worker()
    local sock = assert(socket.tcp())
    sock:settimeout(0)
    sock:setoption("tcp-nodelay", true)
    local ok, err = sock:connect(host, port)
    if not ok and err == "timeout" then
      wait(sock, wlist, waiting_w)
    elseif not ok then
      error("connect: " .. err)
    end
    while started < n do
      started = started + 1
      send(sock, req)
      local line = recv(sock, "*l")
      if not line:match("^HTTP/1%.%d 200") then error("bad status: " .. line) end
      local length
      while true do
        line = recv(sock, "*l")
        if line == "" then break end
        local value = line:match("^[Cc]ontent%-[Ll]ength:%s*(%d+)")
        if value then length = tonumber(value) end
      end
      local org = cjson.decode(recv(sock, assert(length))).organization
      if not org.id then error("no organization") end
      done = done + 1
    end
    sock:close()
  end

  local t0, c0 = clock(), os.clock()
  local workers = {}
  for i = 1, math.min(conc, n) do
    workers[i] = coroutine.create(worker)
    assert(coroutine.resume(workers[i]))
  end
  while done < n do
    local readable, writable = socket.select(rlist, wlist, 5)
    local ready = {}
    for _, s in ipairs(readable) do ready[#ready + 1] = waiting_r[s]; waiting_r[s] = nil end
    for _, s in ipairs(writable) do ready[#ready + 1] = waiting_w[s]; waiting_w[s] = nil end
    if #ready == 0 then error("multi: stalled at " .. done .. " of " .. n) end
    -- rebuild the wait lists from what is still waiting
    rlist, wlist = {}, {}
    for s in pairs(waiting_r) do rlist[#rlist + 1] = s end
    for s in pairs(waiting_w) do wlist[#wlist + 1] = s end
    for _, co in ipairs(ready) do
      local ok, err = coroutine.resume(co)
      if not ok then error(err) end
    end
  end
  result.time, result.cpu = clock() - t0, os.clock() - c0
  result.requests = n
else
  error("unknown workload " .. tostring(workload))
end

io.write(string.format("time=%.6f cpu=%.6f requests=%d items=%d hwm_kb=%d\n",
  result.time, result.cpu, result.requests, result.items, hwm_kb()))
