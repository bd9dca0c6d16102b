-- The binding, memory accounting, the caching allocator, and threads.
local oml = require "oml"
local H = require "helper"
local capi = require "oml.capi"

local MB = 1024 * 1024

describe("the FFI binding", function()
  it("declares the C API from the one public header", function()
    assert.truthy(capi.header:match("engine/include/oml%.h$") or capi.header:match("oml/oml%.h$"))
    local f = assert(io.open(capi.header))
    local text = f:read("*a")
    f:close()
    -- every function the header declares is callable through the loaded library
    local n = 0
    for name in text:match("/%* ffi:begin %*/(.-)/%* ffi:end %*/"):gmatch("[%w_%*]+%s+%**(oml_[%w_]+)%(") do
      assert.truthy(pcall(function() return capi.C[name] end), name .. " is not in liboml.so")
      n = n + 1
    end
    assert.is_true(n > 60, n .. " functions")
  end)
end)

describe("memory", function()
  before_each(function()
    collectgarbage()
    collectgarbage()
  end)

  it("counts live bytes and the peak", function()
    local before = oml.memory()
    oml.reset_peak_memory()
    local during
    do
      local t = oml.empty(MB / 4) -- 1 MiB of float32, unreachable after this block
      during = oml.memory()
      assert.is_true(t:numel() * 4 == MB and during.current - before.current >= MB)
      assert.is_true(during.peak >= during.current)
    end
    collectgarbage()
    collectgarbage()
    local after = oml.memory()
    assert.equal(before.current, after.current)
    assert.equal(during.peak, after.peak)
  end)

  it("reuses freed blocks from its cache", function()
    oml.empty(3 * MB / 4) -- a size class of its own, unreachable at once
    collectgarbage()
    collectgarbage()
    local before = oml.memory()
    assert.is_true(before.cached >= 3 * MB)
    local u = oml.empty(3 * MB / 4)
    local after = oml.memory()
    assert.equal(before.cache_hits + 1, after.cache_hits)
    assert.is_true(after.cached < before.cached)
    assert.truthy(u)
  end)

  it("empties the cache on request", function()
    oml.empty(MB)
    oml.empty_cache()
    assert.equal(0, oml.memory().cached)
  end)

  it("runs the Lua collector when C memory grows", function()
    oml.reset_peak_memory()
    for _ = 1, 40 do
      local t = oml.empty(16 * MB) -- 64 MiB each, 2.5 GiB in all
      t:fill(1)
    end
    assert.is_true(oml.memory().peak < 1024 * MB, "peak " .. oml.memory().peak)
  end)

  it("reports failed allocations as errors", function()
    H.raises(function() local _ = oml.empty(2 ^ 50) end, "oml.empty: out of memory: cannot allocate")
    H.raises(function() local _ = oml.empty(2 ^ 40, 2 ^ 40) end, "oml.empty: a tensor of size [1099511627776,1099511627776] is too large")
  end)

  it("refuses sizes beyond any machine without overflowing its size classes", function()
    -- 9e18 bytes: rounding up to a size class would pass the int64 range
    H.raises(function() local _ = oml.empty({ 9e18 }, "uint8") end,
      "oml.empty: out of memory: cannot allocate 9000000000000000000 bytes")
    -- empty tensors too: the sizes other than 0 must multiply within an int64
    H.raises(function() local _ = oml.empty(0, 2 ^ 40, 2 ^ 40) end,
      "oml.empty: a tensor of size [0,1099511627776,1099511627776] is too large")
    assert.same({ 0, 2 ^ 20, 2 ^ 20 }, oml.empty(0, 2 ^ 20, 2 ^ 20):size())
  end)

  it("refuses a missing stats struct", function()
    assert.equal(-1, capi.C.oml_memory_stats_get(-1, nil))
  end)
end)

describe("threads", function()
  it("sets OpenMP and OpenBLAS together", function()
    local n = oml.get_num_threads()
    oml.set_num_threads(1)
    assert.equal(1, oml.get_num_threads())
    oml.set_num_threads(n)
    assert.equal(n, oml.get_num_threads())
    H.raises(function() oml.set_num_threads(0) end, "oml.set_num_threads: n must be a positive integer (got 0)")
  end)

  it("caps the thread count: libgomp aborts when it cannot create the threads", function()
    local n = oml.get_num_threads()
    oml.set_num_threads(100000)
    local capped = oml.get_num_threads()
    oml.set_num_threads(n)
    assert.equal(512, capped)
  end)
end)

describe("devices", function()
  it("name and parse devices", function()
    assert.equal("cpu", oml.zeros(1).device)
    H.raises(function() local _ = oml.zeros(1):to("tpu") end, "oml.to: unknown dtype tpu")
    H.raises(function() local _ = oml.zeros(1):to { device = "cuda:x" } end, "oml.to: unknown device cuda:x")
  end)

  it("explain why cuda is unavailable", function()
    if oml.cuda.is_available() then return end
    local err = H.raises(function() local _ = oml.zeros(2):cuda() end, "oml.to: ")
    assert.truthy(err:find("cuda:0 does not exist", 1, true) or err:find("built without CUDA", 1, true), err)
  end)
end)
