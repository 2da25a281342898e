-- sk.connected_accounts and sk.tools against the fake Scalekit server.
-- Seeded accounts are connector "gmail", identifier "user<n>@example.com",
-- status PENDING_AUTH. The live bodies nest authorization_details under
-- connected_account; the SDK takes it flat or nested.
local fixture = require "spec.helpers.fixture"
local util = require "spec.helpers.util"
local cjson = require "cjson"

local number_type, logged, only, raises, api_error =
  util.number_type, util.logged, util.only, util.raises, util.api_error
local walk_ok, walk_fails, ids = util.walk_ok, util.walk_fails, util.ids

-- The fake's view of all connected accounts (one raw page of up to 100).
local function server_accounts(server)
  local status, body = util.raw(server, "GET", "/api/v1/connected_accounts?page_size=100")
  assert.are.equal(200, status)
  return body.connected_accounts
end

describe("connected accounts and tools", function()
  local server, sk
  fixture.fake({ client = "shared" }, function(s, c) server, sk = s, c end)

  describe("connected_accounts:list", function()
    it("returns one page", function()
      server:seed { connected_accounts = 3 }
      local page, err = sk.connected_accounts:list { page_size = 2 }
      assert.is_nil(err)
      assert.are.same({ "ca_1", "ca_2" }, ids(page.connected_accounts))
      assert.are.equal("gmail", page.connected_accounts[1].connector)
      assert.are.equal("user1@example.com", page.connected_accounts[1].identifier)
      assert.are.equal("PENDING_AUTH", page.connected_accounts[1].status)
      assert.is_true(#page.next_page_token > 0)
      local req = only(server, "listConnectedAccounts")
      assert.are.equal("GET", req.method)
      assert.are.equal("/api/v1/connected_accounts", req.path)
      assert.are.equal("2", req.query.page_size)
    end)

    it("returns an empty list when there are none", function()
      local page = assert(sk.connected_accounts:list())
      assert.are.equal(0, #page.connected_accounts)
      assert.are.equal("", page.next_page_token)
    end)

    it("returns nil, err 400 for page_size 101", function()
      local page, err = sk.connected_accounts:list { page_size = 101 }
      api_error(400, "INVALID_ARGUMENT", page, err, "ConnectedAccountService_ListConnectedAccounts")
    end)
  end)

  describe("connected_accounts:each", function()
    it("walks every account", function()
      server:seed { connected_accounts = 5 }
      local items = walk_ok(function() return sk.connected_accounts:each { page_size = 2 } end)
      assert.are.same({ "ca_1", "ca_2", "ca_3", "ca_4", "ca_5" }, ids(items))
      assert.are.equal(3, #logged(server, "listConnectedAccounts"))
    end)

    it("raises the error object when a page fails", function()
      server:seed { connected_accounts = 5 }
      server:faults {
        { operation = "listConnectedAccounts", times = 1 },
        { operation = "listConnectedAccounts", status = 404, times = 1 },
      }
      local _, items = walk_fails(404, function() return sk.connected_accounts:each { page_size = 2 } end)
      assert.are.equal(2, #items)
    end)
  end)

  describe("connected_accounts:pages", function()
    it("yields page tables", function()
      server:seed { connected_accounts = 3 }
      local pages = walk_ok(function() return sk.connected_accounts:pages { page_size = 2 } end)
      assert.are.equal(2, #pages)
      assert.are.same({ "ca_3" }, ids(pages[2].connected_accounts))
    end)

    it("raises the error object on a bad page_token", function()
      walk_fails(400, function() return sk.connected_accounts:pages { page_token = "nope" } end)
    end)
  end)

  describe("connected_accounts:create", function()
    it("creates an account with nested authorization_details", function()
      local details = {
        oauth_token = { access_token = "at-1", refresh_token = "rt-1", scopes = { "read", "send" } },
      }
      local acct, err = sk.connected_accounts:create {
        connector = "gmail", identifier = "alice@example.com", authorization_details = details,
      }
      assert.is_nil(err)
      assert.matches("^ca_%d+$", acct.id)
      assert.are.equal("gmail", acct.connector)
      assert.are.equal("alice@example.com", acct.identifier)
      assert.are.equal("ACTIVE", acct.status)
      assert.are.equal("OAUTH", acct.authorization_type)

      local req = only(server, "createConnectedAccount")
      assert.are.equal("POST", req.method)
      assert.are.equal("/api/v1/connected_accounts", req.path)
      assert.are.same({ connector = "gmail", identifier = "alice@example.com",
        connected_account = { authorization_details = details } }, cjson.decode(req.body))
      assert.are.same({ acct.id }, ids(server_accounts(server)))
    end)

    it("takes connected_account nested as well, sending the same body", function()
      local details = { static_auth = { details = { api_key = "k-1" } } }
      local acct = assert(sk.connected_accounts:create {
        connector = "stripe", identifier = "acct-1", connected_account = { authorization_details = details },
      })
      assert.are.equal("API_KEY", acct.authorization_type)
      assert.are.same({ connector = "stripe", identifier = "acct-1", connected_account = { authorization_details = details } },
        cjson.decode(only(server, "createConnectedAccount").body))
    end)

    it("creates a pending account without authorization_details", function()
      local acct = assert(sk.connected_accounts:create { connector = "slack", identifier = "bob" })
      assert.are.equal("PENDING_AUTH", acct.status)
      assert.are.same({ connector = "slack", identifier = "bob" },
        cjson.decode(only(server, "createConnectedAccount").body))
    end)

    it("returns nil, err 409 for a duplicate connector/identifier", function()
      assert(sk.connected_accounts:create { connector = "gmail", identifier = "alice" })
      local acct, err = sk.connected_accounts:create { connector = "gmail", identifier = "alice" }
      api_error(409, "ALREADY_EXISTS", acct, err, "ConnectedAccountService_CreateConnectedAccount")
      assert.is_false(err.retryable)
      assert.are.equal(1, #server_accounts(server))
    end)

    it("returns nil, err 400 for an empty identifier", function()
      local acct, err = sk.connected_accounts:create { connector = "gmail", identifier = "" }
      api_error(400, "INVALID_ARGUMENT", acct, err, "ConnectedAccountService_CreateConnectedAccount")
      assert.are.equal("identifier", err.details[1].field)
      assert.are.equal(0, #server_accounts(server))
    end)

    it("returns nil, err 400 from the service without connector or identifier (the live document requires none)", function()
      local acct, err = sk.connected_accounts:create { identifier = "x" }
      api_error(400, "INVALID_ARGUMENT", acct, err, "ConnectedAccountService_CreateConnectedAccount")
      assert.are.equal("connector", err.details[1].field)
      acct, err = sk.connected_accounts:create { connector = "gmail" }
      api_error(400, "INVALID_ARGUMENT", acct, err, "ConnectedAccountService_CreateConnectedAccount")
      assert.are.equal("identifier", err.details[1].field)
      assert.are.equal(0, #server_accounts(server))
    end)

    it("returns nil, err 400 for authorization_details the live schema does not have (the first document's api_key)", function()
      local acct, err = sk.connected_accounts:create { connector = "gmail", identifier = "x", authorization_details = { api_key = "k" } }
      api_error(400, "INVALID_ARGUMENT", acct, err, "ConnectedAccountService_CreateConnectedAccount")
      assert.are.equal("connected_account.authorization_details.api_key", err.details[1].field)
    end)

    it("raises for wrong types, sending nothing", function()
      raises("field 'authorization_details' must be a table (JSON object)", function()
        sk.connected_accounts:create { connector = "gmail", identifier = "x", authorization_details = "tok" }
      end)
      assert.are.equal(0, #logged(server))
    end)
  end)

  describe("connected_accounts:update_credentials", function()
    it("replaces the credentials of an existing account", function()
      server:seed { connected_accounts = 1 }
      local details = { static_auth = { details = { api_key = "k-123" } } }
      local acct, err = sk.connected_accounts:update_credentials {
        connector = "gmail", identifier = "user1@example.com", authorization_details = details,
      }
      assert.is_nil(err)
      assert.are.equal("ca_1", acct.id)
      assert.are.equal("ACTIVE", acct.status)
      assert.are.equal("API_KEY", acct.authorization_type)
      local req = only(server, "updateConnectedAccountCredentials")
      assert.are.equal("PUT", req.method)
      assert.are.equal("/api/v1/connected_accounts", req.path)
      assert.are.same({ connector = "gmail", identifier = "user1@example.com",
        connected_account = { authorization_details = details } }, cjson.decode(req.body))
      assert.are.equal("API_KEY", server_accounts(server)[1].authorization_type)
    end)

    it("returns nil, err 404 for an unknown account", function()
      local acct, err = sk.connected_accounts:update_credentials {
        connector = "gmail", identifier = "nobody@example.com",
        authorization_details = { static_auth = { details = { api_key = "k" } } },
      }
      api_error(404, "NOT_FOUND", acct, err, "ConnectedAccountService_UpdateConnectedAccount")
    end)

    it("returns nil, err 400 from the service for a missing identifier", function()
      local acct, err = sk.connected_accounts:update_credentials { connector = "gmail" }
      api_error(400, "INVALID_ARGUMENT", acct, err, "ConnectedAccountService_UpdateConnectedAccount")
      assert.are.equal("identifier", err.details[1].field)
    end)
  end)

  describe("connected_accounts:magic_link", function()
    it("returns a link", function()
      local res, err = sk.connected_accounts:magic_link { connector = "gmail", identifier = "user1@example.com" }
      assert.is_nil(err)
      assert.matches("^https://fake%.scalekit%.test/magic_link/gmail/%x+$", res.link)
      assert.are.equal("string", type(res.expiry))
      assert.is_nil(res.expire_time)
      local req = only(server, "createConnectedAccountMagicLink")
      assert.are.equal("POST", req.method)
      assert.are.equal("/api/v1/connected_accounts/magic_link", req.path)
      assert.are.same({ connector = "gmail", identifier = "user1@example.com" }, cjson.decode(req.body))
    end)

    it("returns nil, err 400 for an empty connector", function()
      local res, err = sk.connected_accounts:magic_link { connector = "", identifier = "x" }
      api_error(400, "INVALID_ARGUMENT", res, err, "ConnectedAccountService_GetMagicLinkForConnectedAccount")
      assert.are.equal("connector", err.details[1].field)
    end)

    it("raises for a field it does not take", function()
      raises("connected_accounts:magic_link: unknown field 'authorization_details'", function()
        sk.connected_accounts:magic_link { connector = "gmail", identifier = "x", authorization_details = {} }
      end)
    end)

    it("returns nil, err 400 from the service for a missing connector", function()
      local res, err = sk.connected_accounts:magic_link { identifier = "x" }
      api_error(400, "INVALID_ARGUMENT", res, err, "ConnectedAccountService_GetMagicLinkForConnectedAccount")
      assert.are.equal("connector", err.details[1].field)
    end)
  end)

  describe("tools:execute", function()
    it("executes a tool; tool_input goes out as params, connection_name as connector; the fake echoes params", function()
      server:seed { connected_accounts = 1 }
      local input = { query = "is:unread", max_results = 5, labels = { "INBOX", "IMPORTANT" }, opts = { thread = true } }
      local res, err = sk.tools:execute {
        tool_name = "gmail_fetch_mails", identifier = "user1@example.com",
        connection_name = "gmail", tool_input = input,
      }
      assert.is_nil(err)
      assert.are.same(input, res.data)
      assert.are.equal("integer", number_type(res.data.max_results))
      assert.matches("^exec_%d+$", res.execution_id)
      local req = only(server, "executeTool")
      assert.are.equal("POST", req.method)
      assert.are.equal("/api/v1/execute_tool", req.path)
      assert.are.same({ tool_name = "gmail_fetch_mails", identifier = "user1@example.com",
        connector = "gmail", params = input }, cjson.decode(req.body))
    end)

    it("sends an empty tool_input as a JSON object (params)", function()
      server:seed { connected_accounts = 1 }
      local res = assert(sk.tools:execute { tool_name = "noop", identifier = "user1@example.com", tool_input = {} })
      assert.are.equal("table", type(res.data))
      assert.is_nil(next(res.data))
      local body = only(server, "executeTool").body
      assert.is_truthy(body:find('"params":{}', 1, true), body)
    end)

    it("returns nil, err 404 for an unknown identifier", function()
      local res, err = sk.tools:execute { tool_name = "gmail_fetch_mails", identifier = "ghost@example.com" }
      api_error(404, "NOT_FOUND", res, err, "ToolService_ExecuteTool")
      assert.is_truthy(err.message:find("ghost@example.com", 1, true))
    end)

    it("returns nil, err 400 from the service for a missing tool_name", function()
      local res, err = sk.tools:execute { identifier = "x" }
      api_error(400, "INVALID_ARGUMENT", res, err, "ToolService_ExecuteTool")
      assert.are.equal("tool_name", err.details[1].field)
    end)

    it("raises for a non-table tool_input", function()
      raises("tools:execute: field 'tool_input' must be a table (JSON object)", function()
        sk.tools:execute { tool_name = "t", identifier = "x", tool_input = 5 }
      end)
      assert.are.equal(0, #logged(server))
    end)
  end)
end)
