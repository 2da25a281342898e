-- AI-agent connected accounts: connect a user's Gmail, hand them a magic
-- link to authorize it, then run a tool on their behalf.
-- usage: lua5.4 examples/agent_tools.lua [identifier]   (default user_42)
local scalekit = require "scalekit"

local sk = scalekit.new()
local identifier = arg[1] or "user_42"

local account, err = sk.connected_accounts:create {
  connector = "gmail",
  identifier = identifier,
  authorization_details = { oauth_token = { access_token = "ya29.example", scopes = { "gmail.readonly" } } },
}
if not account then
  -- already connected: refresh its credentials instead
  assert(err.status == 409, tostring(err))
  account = assert(sk.connected_accounts:update_credentials { connector = "gmail", identifier = identifier })
end
print("connected account " .. tostring(account.id))

local link = assert(sk.connected_accounts:magic_link { connector = "gmail", identifier = identifier })
print("authorize at " .. tostring(link.link))

local result = assert(sk.tools:execute {
  tool_name = "gmail_fetch_mails",
  identifier = identifier,
  tool_input = { query = "is:unread", max_results = 5 },
})
print("execution " .. tostring(result.execution_id))
sk:close()
