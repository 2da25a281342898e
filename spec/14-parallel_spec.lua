-- sk:parallel: many operations at once over one pool of connections, with
-- the single call's validation, retries, token refresh and results.
-- Against the real fake server.
local fixture = require "spec.helpers.fixture"
local util = require "spec.helpers.util"
local scalekit = require "scalekit"
local socket = require "socket"

local logged = util.logged

describe("sk:parallel", function()
  local server, sk, ids
  fixture.fake({ client = "each", fast = true }, function(s, c) server, sk = s, c end)

  before_each(function()
    ids = server:seed { organizations = 5 }.organization_ids
  end)

  local function gets(n, id_of)
    local calls = {}
    for i = 1, n do calls[i] = { "getOrganization", { id = id_of and id_of(i) or ids[i % 5 + 1] } } end
    return calls
  end

  it("returns values and errors in the order of the calls", function()
    local calls = gets(40)
    calls[7] = { "getOrganization", { id = "org_missing" } }
    calls[20] = { "listOrganizations", { page_size = 2 } }
    local values, errors = sk:parallel(calls, { concurrency = 8 })
    for i = 1, 40 do
      if i == 7 then
        assert.is_nil(values[i])
        assert.is_true(scalekit.is_error(errors[i]))
        assert.equal(404, errors[i].status)
        assert.equal(scalekit.operations.getOrganization.id, errors[i].operation)
      elseif i == 20 then
        assert.equal(2, #values[i].organizations)
        assert.is_nil(errors[i])
      else
        assert.equal(calls[i][2].id, values[i].id)
        assert.is_nil(errors[i])
      end
    end
    assert.equal(40, #logged(server, "getOrganization") + #logged(server, "listOrganizations"))
  end)

  it("keeps at most `concurrency` connections and reuses them across batches", function()
    sk:parallel(gets(30), { concurrency = 4 })
    local first = server:stats().connections
    assert.is_true(first <= 5, "connections: " .. first) -- 4 + the token's
    sk:parallel(gets(30), { concurrency = 4 })
    assert.equal(first, server:stats().connections)
  end)

  it("runs calls at once: 16 calls that each take 300 ms finish together", function()
    server:fault { operation = "getOrganization", delay_ms = 300, times = -1 }
    local started = socket.gettime()
    local values = sk:parallel(gets(16), { concurrency = 16 })
    local elapsed = socket.gettime() - started
    assert.equal(16, #values)
    assert.is_true(elapsed < 2.4, "took " .. elapsed) -- one after the other: 4.8 s
  end)

  it("starts the next call as soon as one finishes, even at concurrency 1", function()
    -- a bug once left a freed slot idle for a second before refilling it
    local started = socket.gettime()
    local values = sk:parallel(gets(30), { concurrency = 1 })
    assert.equal(30, #values)
    assert.is_true(socket.gettime() - started < 10, "took " .. socket.gettime() - started)
  end)

  it("retries per the single call's policy and counts attempts", function()
    server:fault { operation = "getOrganization", status = 503, times = 2, headers = { ["retry-after"] = "0" } }
    server:fault { operation = "createOrganization", status = 503, times = 1 }
    local values, errors = sk:parallel({
      { "getOrganization", { id = ids[1] } },
      { "createOrganization", { display_name = "Acme" } },
    }, { concurrency = 1 })
    assert.equal(ids[1], values[1].id)
    assert.is_nil(values[2])
    assert.equal(503, errors[2].status)
    assert.is_true(errors[2].retryable)
    assert.equal(1, errors[2].attempts) -- a POST is not repeated
    assert.equal(1, #logged(server, "createOrganization"))
    assert.equal(3, #logged(server, "getOrganization"))
  end)

  it("fetches one fresh token when the batch meets a revoked one", function()
    assert(sk:token())
    local before = server:stats().tokens_issued
    server:revoke_tokens()
    local values, errors = sk:parallel(gets(12), { concurrency = 6 })
    for i = 1, 12 do assert.truthy(values[i], tostring(errors[i])) end
    assert.equal(1, server:stats().tokens_issued - before)
  end)

  it("gives every call the token error when no token can be had", function()
    server:config { client_secret = "rotated" }
    local values, errors = sk:parallel(gets(5), { concurrency = 2 })
    for i = 1, 5 do
      assert.is_nil(values[i])
      assert.equal("auth", errors[i].kind)
      assert.equal(401, errors[i].status)
    end
    assert.equal(1, #logged(server, "createToken"))
  end)

  it("raises on a mistake in any call before sending anything", function()
    server:clear_requests()
    local calls = gets(10)
    calls[9] = { "createOrganization", {} }
    -- argument errors name the operation as the caller wrote it
    util.raises("parallel: call #9 (createOrganization): missing required field 'display_name'",
      function() sk:parallel(calls) end)
    util.raises("parallel: call #2: unknown operation 'nope'",
      function() sk:parallel { calls[1], { "nope" } } end)
    util.raises("parallel: concurrency must be a number in 1..256",
      function() sk:parallel(calls, { concurrency = 0 }) end)
    assert.equal(0, #server:requests())
  end)

  it("returns two empty lists for no calls", function()
    local values, errors = sk:parallel {}
    assert.same({}, values)
    assert.same({}, errors)
  end)
end)
