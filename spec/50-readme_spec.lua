-- Every ```lua block of README.md works as written. A block runs in a child
-- interpreter against the fake server, seeded with the demo data of
-- `make demo` (scripts/demo_data.lua), with the SCALEKIT_* settings in its
-- environment, as spec 13 runs the examples. An HTML comment on the line
-- before a block says otherwise:
--   <!-- file: PATH -->              the block is the file PATH, and runs
--   <!-- fragment of PATH -->        the block stands verbatim in PATH, whose
--                                    own spec runs it (e.g. make test-nginx)
--   <!-- fragment -->                the block only has to compile
local fixture = require "spec.helpers.fixture"
local process = require "spec.helpers.process"
local util = require "spec.helpers.util"

local MOST_FRAGMENTS = 3

local read_file = process.read_file

-- The ```lua blocks of a Markdown text: { line, code, marker } in order;
-- marker is the HTML comment's text on the last non-blank line before the
-- opening fence, if there is one.
local function lua_blocks(text)
  local blocks, lines = {}, {}
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do lines[#lines + 1] = line end
  local i = 1
  while i <= #lines do
    if lines[i]:match("^```lua%s*$") then
      local before = i - 1
      while before > 0 and lines[before]:match("^%s*$") do before = before - 1 end
      local marker = before > 0 and lines[before]:match("^<!%-%-%s*(.-)%s*%-%->$") or nil
      local code, j = {}, i + 1
      while j <= #lines and not lines[j]:match("^```%s*$") do
        code[#code + 1] = lines[j]
        j = j + 1
      end
      assert(j <= #lines, "README.md: the ```lua block of line " .. i .. " is not closed")
      blocks[#blocks + 1] = { line = i, code = table.concat(code, "\n") .. "\n", marker = marker }
      i = j
    end
    i = i + 1
  end
  return blocks
end

local function compiles(code, name)
  local compile = loadstring or load
  return compile(code, name)
end

local README = assert(read_file("README.md"), "run the specs from the project root")
local BLOCKS = lua_blocks(README)

describe("README.md", function()
  local server, demo_env
  fixture.fake({}, function(s) server = s end)

  before_each(function()
    demo_env = dofile("scripts/demo_data.lua").seed(function(body) return server:seed(body) end)
    server:clear_requests()
  end)

  -- Runs code as a script file in a child interpreter: output, exit code.
  local function run_block(code)
    local path = os.tmpname()
    local f = assert(io.open(path, "wb"))
    f:write(code)
    f:close()
    local out, rc = fixture.run_script(server, path, nil, demo_env)
    os.remove(path)
    return out, rc
  end

  it("has Lua blocks, and few of them are fragments", function()
    assert.is_true(#BLOCKS >= 2, "found " .. #BLOCKS .. " ```lua blocks")
    local fragments = 0
    for _, block in ipairs(BLOCKS) do
      if block.marker and block.marker:match("^fragment") then fragments = fragments + 1 end
    end
    assert.is_true(fragments <= MOST_FRAGMENTS, fragments .. " fragments (at most " .. MOST_FRAGMENTS .. ")")
  end)

  for _, block in ipairs(BLOCKS) do
    local marker = block.marker or ""
    local file = marker:match("^file:%s*(%S+)$")
    local source = marker:match("^fragment of%s+(%S+)$")
    local title = ("block of line %d (%s)"):format(block.line,
      block.code:match("^%-%- ([^\n]+)") or block.code:match("^([^\n]*)"))

    if source then
      it(title .. " stands verbatim in " .. source, function()
        local text = assert(read_file(source), "cannot read " .. source)
        assert.truthy(text:find(block.code, 1, true), "README.md line " .. block.line .. " is not in " .. source)
      end)
    elseif marker == "fragment" then
      it(title .. " compiles", function()
        local chunk, err = compiles(block.code, "=README.md:" .. block.line)
        assert.truthy(chunk, err)
      end)
    else
      assert(marker == "" or file, "README.md line " .. block.line .. ": unknown marker <!-- " .. marker .. " -->")
      it(title .. " runs against the seeded fake server", function()
        if file then
          assert.equal(read_file(file), block.code, "README.md line " .. block.line .. " differs from " .. file)
        end
        local out, rc = run_block(block.code)
        assert.equal(0, rc, out)
        assert.falsy(out:find("stack traceback", 1, true), out)
        assert.is_true(#server:requests() > 0, "the block sent no request:\n" .. out)
      end)
    end
  end

  it("quick start: walks the seeded directories, creates and deletes, prints a 404", function()
    local quick
    for _, block in ipairs(BLOCKS) do
      if block.marker == "file: examples/quickstart.lua" then quick = block end
    end
    assert.truthy(quick, "no <!-- file: examples/quickstart.lua --> block")
    local out, rc = run_block(quick.code)
    assert.equal(0, rc, out)
    assert.truthy(out:find("directory " .. demo_env.SCALEKIT_DEMO_DIRECTORY_ID .. ": 120 users", 1, true), out)
    assert.truthy(out:find("created organization org_", 1, true), out)
    assert.truthy(out:find("expected failure: scalekit: api error 404", 1, true), out)
    assert.equal(1, #util.logged(server, "createOrganization"))
    assert.equal(1, #util.logged(server, "deleteOrganization"))
    -- 120 users at 100 a page, then one page each for the other two directories
    assert.equal(4, #util.logged(server, "listDirectoryUsers"))
  end)
end)
