-- Sessions of the live API against the fake server. Sessions cannot be
-- created through the API: the fake seeds them (oldest first).
local fixture = require "spec.helpers.fixture"
local util = require "spec.helpers.util"

local api_error, walk_ok, walk_fails = util.api_error, util.walk_ok, util.walk_fails
local only = util.only

local function session_ids(list)
  local out = {}
  for i, s in ipairs(list) do out[i] = s.session_id end
  return out
end

describe("sessions", function()
  local server, sk

  fixture.fake({ client = "shared" }, function(s, c) server, sk = s, c end)

  -- usr_1 with ses_1..ses_5, usr_2 with ses_6.
  before_each(function()
    local seeded = server:seed { organizations = 1, users = 2, sessions = 5 }
    assert.are.same({ "ses_1", "ses_2", "ses_3", "ses_4", "ses_5" }, seeded.session_ids)
    assert.are.same({ "ses_6" }, server:seed { sessions = 1, session_user_id = "usr_2" }.session_ids)
    server:clear_requests()
  end)

  it("get returns the session as the service sends it (no wrapper)", function()
    local s, err = sk:call("SessionService_GetSession", { session_id = "ses_2" })
    assert.is_nil(err)
    assert.are.equal("ses_2", s.session_id)
    assert.are.equal("usr_1", s.user_id)
    assert.are.equal("ACTIVE", s.status)
    assert.are.equal("string", type(s.device.ip))
    local req = only(server, "SessionService_GetSession")
    assert.are.equal("GET", req.method)
    assert.are.equal("/api/v1/sessions/ses_2", req.path)
    assert.are.equal("ses_6", assert(sk.sessions:get("ses_6")).session_id)
  end)

  it("get returns nil, err 404 for an unknown session", function()
    local s, err = sk.sessions:get("ses_404")
    api_error(404, "NOT_FOUND", s, err, "SessionService_GetSession")
  end)

  it("lists a user's sessions one page at a time", function()
    local page, err = sk:call("SessionService_GetUserSessions", { user_id = "usr_1", page_size = 2 })
    assert.is_nil(err)
    assert.are.same({ "ses_1", "ses_2" }, session_ids(page.sessions))
    assert.are.equal(5, page.total_size)
    assert.is_true(#page.next_page_token > 0)
    local req = only(server, "SessionService_GetUserSessions")
    assert.are.equal("/api/v1/users/usr_1/sessions", req.path)
    assert.are.equal("2", req.query.page_size)
  end)

  it("each_for_user and pages_for_user walk every page", function()
    local all = walk_ok(function() return sk.sessions:each_for_user("usr_1", { page_size = 2 }) end)
    assert.are.same({ "ses_1", "ses_2", "ses_3", "ses_4", "ses_5" }, session_ids(all))
    assert.are.equal(3, #server:requests("SessionService_GetUserSessions"))
    local pages = walk_ok(function() return sk.sessions:pages_for_user("usr_1", { page_size = 4 }) end)
    assert.are.same({ 4, 1 }, { #pages[1].sessions, #pages[2].sessions })
  end)

  it("filters by status (sent as filter.status) after a revoke", function()
    local revoked, err = sk:call("SessionService_RevokeSession", { session_id = "ses_1" })
    assert.is_nil(err)
    assert.are.equal("ses_1", revoked.session_id)
    assert.are.equal("REVOKED", revoked.status)
    assert.are.equal("string", type(revoked.logout_at))
    local req = only(server, "SessionService_RevokeSession")
    assert.are.equal("POST", req.method)
    assert.are.equal("/api/v1/sessions/ses_1/revoke", req.path)
    assert.are.equal("REVOKED", assert(sk.sessions:get("ses_1")).status)

    local active = assert(sk.sessions:list_for_user("usr_1", { status = { "ACTIVE" } }))
    assert.are.same({ "ses_2", "ses_3", "ses_4", "ses_5" }, session_ids(active.sessions))
    assert.are.same({ "ACTIVE" }, { server:requests("SessionService_GetUserSessions")[1].query["filter.status"] })
  end)

  it("revoke_all_for_user revokes the active ones and counts them", function()
    assert(sk.sessions:revoke("ses_3"))
    server:clear_requests()
    local res, err = sk:call("SessionService_RevokeAllUserSessions", { user_id = "usr_1" })
    assert.is_nil(err)
    assert.are.equal(4, res.total_revoked)
    assert.are.same({ "ses_1", "ses_2", "ses_4", "ses_5" }, session_ids(res.revoked_sessions))
    local req = only(server, "SessionService_RevokeAllUserSessions")
    assert.are.equal("POST", req.method)
    assert.are.equal("/api/v1/users/usr_1/sessions/revoke", req.path)
    assert.are.equal("ACTIVE", assert(sk.sessions:get("ses_6")).status) -- another user's
    assert.are.equal(0, assert(sk.sessions:revoke_all_for_user("usr_1")).total_revoked)
  end)

  it("a deleted user's sessions are gone", function()
    assert.is_true(assert(sk.users:delete("usr_2")))
    local s, err = sk.sessions:get("ses_6")
    api_error(404, "NOT_FOUND", s, err, "SessionService_GetSession")
  end)

  it("returns nil, err 404 for an unknown user or session, and the iterators raise it", function()
    local res, err = sk.sessions:revoke("ses_404")
    api_error(404, "NOT_FOUND", res, err, "SessionService_RevokeSession")
    res, err = sk.sessions:revoke_all_for_user("usr_404")
    api_error(404, "NOT_FOUND", res, err, "SessionService_RevokeAllUserSessions")
    res, err = sk.sessions:list_for_user("usr_404")
    api_error(404, "NOT_FOUND", res, err, "SessionService_GetUserSessions")
    walk_fails(404, function() return sk.sessions:each_for_user("usr_404") end)
  end)
end)
