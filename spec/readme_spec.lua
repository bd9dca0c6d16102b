-- The README's Lua examples run: every ```lua block that follows the line
-- "<!-- run by spec/readme_spec.lua -->" is run, in order, as one script
-- whose arg[1] is a tiny generated dataset in OML's format (the README's
-- examples read Fashion-MNIST as the demo converted it otherwise).
local H = require "helper"

local MARK = "<!-- run by spec/readme_spec.lua -->"

local function readme_examples()
  local text = assert(io.open("README.md")):read("*a")
  local blocks = {}
  for block in text:gmatch(MARK:gsub("%p", "%%%0") .. "%s*```lua\n(.-)\n```") do blocks[#blocks + 1] = block end
  return blocks
end

describe("README", function()
  it("has Lua examples marked to run", function()
    assert.is_true(#readme_examples() >= 2)
  end)

  it("its Lua examples run as written", function()
    local root = H.tempdir()
    H.write_image_dataset(root, 8, 4, 32, 4)   -- labels 0..3 train, 4..7 validate
    local printed = {}
    local env = setmetatable({
      arg = { root },
      print = function(...) printed[#printed + 1] = table.concat({ ... }, "\t") end,
    }, { __index = _G })
    local chunk = assert(loadstring(table.concat(readme_examples(), "\n"), "=README.md"))
    setfenv(chunk, env)
    chunk()
    assert.truthy(printed[1]:match("^epoch 1: loss %d"))
    assert.truthy(printed[#printed]:match("^cmc@1 [%d.]+, precision@5 [%d.]+, map@5 [%d.]+$"))
  end)
end)
