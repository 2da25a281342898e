-- The scripts in examples/ run unchanged against the fake server, as a
-- newcomer would run them: a child interpreter, settings from SCALEKIT_*.
local fixture = require "spec.helpers.fixture"

-- Runs examples/<name> with args; returns its output and exit code.
local function run_example(server, name, args)
  return fixture.run_script(server, "examples/" .. name, args)
end

describe("examples", function()
  local server
  fixture.fake({}, function(s) server = s end)

  it("quickstart.lua creates, lists, walks and deletes", function()
    local out, rc = run_example(server, "quickstart.lua")
    assert.equal(0, rc, out)
    assert.truthy(out:find("created organization org_", 1, true), out)
    assert.truthy(out:find("expected failure: scalekit: api error 404", 1, true), out)
  end)

  it("directory_sync.lua counts every user across pages", function()
    local seeded = server:seed { organizations = 1, directory_users = 250, directory_groups = 3 }
    local out, rc = run_example(server, "directory_sync.lua", { seeded.organization_ids[1] })
    assert.equal(0, rc, out)
    assert.truthy(out:find(seeded.directory_ids[1] .. ": 250 users (250 active), 3 groups", 1, true), out)
  end)

  it("agent_tools.lua connects an account and runs a tool", function()
    local out, rc = run_example(server, "agent_tools.lua", { "user_7" })
    assert.equal(0, rc, out)
    assert.truthy(out:find("authorize at https://", 1, true), out)
    assert.truthy(out:find("execution exec_", 1, true), out)
  end)

  it("parallel.lua reports values and errors in order", function()
    local seeded = server:seed { organizations = 2 }
    local ids = seeded.organization_ids
    local out, rc = run_example(server, "parallel.lua", { ids[1], "org_missing", ids[2] })
    assert.equal(0, rc, out)
    local lines = {}
    for line in out:gmatch("[^\n]+") do lines[#lines + 1] = line end
    assert.equal(3, #lines, out)
    assert.truthy(lines[1]:find(ids[1], 1, true))
    assert.truthy(lines[2]:find("404", 1, true))
    assert.truthy(lines[3]:find(ids[2], 1, true))
  end)
end)
