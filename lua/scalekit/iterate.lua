--- scalekit.iterate: the one pagination iterator, behind every `each*` and
-- `*pages` method (plain Lua, OpenResty alike: the loop body and the page
-- fetches may yield). Pages come from `client:call`, so the client's
-- retries, token handling and, in nginx, worker threads apply to each page.
local core = require "scalekit.core"

-- A server that keeps answering empty pages with fresh tokens would make
-- a walk endless; this many in a row ends it with an error.
local MAX_EMPTY_PAGES = 50

local function where(level)
  local info = debug.getinfo(level, "Sl")
  if info and info.currentline and info.currentline > 0 then
    return info.short_src .. ":" .. info.currentline
  end
end

-- Raises err (an error object) at the loop that asked for the next item.
local function raise(err)
  err.where = err.where or where(4)
  error(err, 0)
end

local function walk_error(operation, message)
  return core.error { kind = "decode", operation = operation, message = message,
                      retryable = false, attempts = 0 }
end

--- iterate(client, operation_id, params, pages, who) -> for-loop values.
-- params is a fresh table the iterator may own.
return function(client, operation, params, pages, who)
  -- mistakes raise here, where the loop is written, not at the first page
  core.exchange(client, operation, params, nil, who):close()
  local op = core.operations[operation]
  local by_number = op.paging == "number"
  local seen, empty_run = {}, 0
  local items, index, finished, started, next_token = nil, 0, false, false, nil
  local last_count = 0 -- items on the last page
  local walk = {}

  local function finish()
    finished, items = true, nil
  end

  function walk.close()
    finish()
  end

  -- What the next request is, or nil at the end of the list.
  local function advance()
    if not started then
      if by_number and params.page_number == nil then params.page_number = 1 end
      return true
    end
    if op.paging == "none" then return nil end -- one answer holds the whole list
    if by_number then
      local size = params.page_size
      if last_count == 0 or (size and last_count < size) then return nil end
      params.page_number = params.page_number + 1
      return true
    end
    if next_token == nil or next_token == "" then return nil end
    params.page_token = next_token
    return true
  end

  local function step()
    if finished then return nil end
    if core.is_closed(client) then
      finish()
      error(who .. ": client is closed", 2)
    end
    while true do
      if items and index < #items then
        index = index + 1
        return items[index]
      end
      if not advance() then
        finish()
        return nil
      end
      started = true
      local page, err = client:call(operation, params)
      if page == nil then
        finish()
        raise(err) -- never looks like the end of the list
      end
      if type(page) ~= "table" then
        finish()
        raise(walk_error(operation, "a page is not a JSON object"))
      end
      local token = page.next_page_token
      if token == core.null then token = nil end
      if token ~= nil and type(token) ~= "string" then
        finish()
        raise(walk_error(operation, "next_page_token is a " .. type(token) .. ", not a string"))
      end
      if token and token ~= "" then
        if seen[token] then
          finish()
          raise(walk_error(operation, "next_page_token repeats an earlier token (a cycle)"))
        end
        seen[token] = true
      end
      next_token = token
      local list = page[op.items]
      items = type(list) == "table" and list or {}
      index = 0
      last_count = #items
      if last_count == 0 and token and token ~= "" then
        empty_run = empty_run + 1
        if empty_run >= MAX_EMPTY_PAGES then
          finish()
          raise(walk_error(operation, MAX_EMPTY_PAGES .. " empty pages in a row"))
        end
      else
        empty_run = 0
      end
      if pages then
        items = nil
        return page
      end
    end
  end

  local closer = setmetatable(walk, { __close = walk.close })
  if _VERSION == "Lua 5.4" then return step, nil, nil, closer end
  return step, closer
end
