-- sort, argsort and topk: stable order (ties keep the lower index first, in
-- descending order too), NaN above every number, every dtype, and topk on a
-- large matrix against a full sort.
local oml = require "oml"
local H = require "helper"

local nan = 0 / 0

-- A deterministic pseudo-random stream of floats in [0, 1) (an LCG).
local function stream(seed)
  local s = seed
  return function()
    s = (s * 1103515245 + 12345) % 2147483648
    return s / 2147483648
  end
end

local function random_matrix(rows, cols, seed, dtype, f)
  local rand = stream(seed)
  local t = oml.zeros({ rows, cols }, "float64")
  local p = t:data()
  for i = 0, rows * cols - 1 do p[i] = f(rand()) end
  return t:to(dtype)
end

-- The stable order of a Lua list (NaN above everything), as 1-based positions.
local function reference_order(list, descending)
  local order = {}
  for i = 1, #list do order[i] = i end
  local function before(i, j)
    local a, b = list[i], list[j]
    local na, nb = a ~= a, b ~= b
    if na ~= nb then return descending == na end
    if not na and a ~= b then
      if descending then return a > b end
      return a < b
    end
    return i < j
  end
  table.sort(order, before)
  return order
end

local function pick(list, order)
  local out = {}
  for i, p in ipairs(order) do out[i] = list[p] end
  return out
end

describe("sort", function()
  it("sorts along the last dim by default, ascending or descending", function()
    local v, i = oml.tensor { 3, 1, 2 }:sort()
    assert.same({ 1, 2, 3 }, v:totable())
    assert.same({ 2, 3, 1 }, i:totable())
    assert.equal("int64", i.dtype)
    local m = oml.tensor { { 3, 1, 2 }, { 0, 5, 4 } }
    v, i = m:sort(1, true)
    assert.same({ { 3, 5, 4 }, { 0, 1, 2 } }, v:totable())
    assert.same({ { 1, 2, 2 }, { 2, 1, 1 } }, i:totable())
    v, i = m:sort(-1, true)
    assert.same({ { 3, 2, 1 }, { 5, 4, 0 } }, v:totable())
    assert.same({ { 1, 3, 2 }, { 2, 3, 1 } }, i:totable())
    v = oml.sort(m:t(), 2) -- non-contiguous
    assert.same({ { 0, 3 }, { 1, 5 }, { 2, 4 } }, v:totable())
  end)

  it("keeps ties in order and puts NaN above every number", function()
    local x = oml.tensor { 3, nan, 1, 3, -0.0, 0, nan, -1 }
    -- torch 1.13: x.sort(stable=True) and x.sort(stable=True, descending=True), indices + 1
    local v, i = x:sort()
    H.close(v, { -1, 0, 0, 1, 3, 3, nan, nan }, 0)
    assert.same({ 8, 5, 6, 3, 1, 4, 2, 7 }, i:totable())
    v, i = x:sort(1, true)
    H.close(v, { nan, nan, 3, 3, 1, 0, 0, -1 }, 0)
    assert.same({ 2, 7, 1, 4, 3, 5, 6, 8 }, i:totable())
    assert.same({ 2, 7, 1, 4, 3, 5, 6, 8 }, x:double():argsort(1, true):totable())
  end)

  it("sorts every dtype", function()
    local cases = {
      int32 = { -5, 7, -2147483648, 2147483647, 0, 7 },
      int64 = { 2 ^ 40, -(2 ^ 40), 3, -3, 2 ^ 40, 0 },
      uint8 = { 200, 3, 255, 0, 100, 3 },
      float64 = { 1e300, -1e-300, 0.5, -math.huge, math.huge, 0.5 },
      float32 = { 1.5, -2.5, 1e30, -1e30, 0, 1.5 },
    }
    for dtype, list in pairs(cases) do
      for _, descending in ipairs { false, true } do
        local order = reference_order(list, descending)
        local v, i = oml.tensor(list, dtype):sort(1, descending)
        assert.equal(dtype, v.dtype)
        H.close(v, pick(list, order), 1e-7)
        assert.same(order, i:totable())
      end
    end
    local v, i = oml.tensor { true, false, true, false }:sort()
    assert.same({ false, false, true, true }, v:totable())
    assert.same({ 2, 4, 1, 3 }, i:totable())
  end)

  it("long lines with many ties match a stable reference (the radix path)", function()
    for _, dtype in ipairs { "float32", "float64", "int32", "int64" } do
      local m = random_matrix(3, 1000, 17, dtype, function(r) return math.floor(r * 50) - 25 end)
      if dtype == "float32" or dtype == "float64" then m[{ 2, { 10, 40 } }] = nan end
      local rows = m:totable()
      for _, descending in ipairs { false, true } do
        local v, i = m:sort(2, descending)
        v, i = v:totable(), i:totable()
        for r = 1, 3 do
          local order = reference_order(rows[r], descending)
          assert.same(order, i[r])
          H.close(v[r], pick(rows[r], order), 0)
        end
      end
    end
  end)

  it("handles 0-d, empty and single-element tensors", function()
    local v, i = oml.tensor(5):sort()
    assert.same({}, v:size())
    assert.equal(5, v:item())
    assert.equal(1, i:item())
    v, i = oml.zeros(0):sort()
    assert.same({ 0 }, v:size())
    assert.same({ 0 }, i:size())
    assert.same({ 3, 0 }, oml.zeros(3, 0):argsort(1):size())
    assert.same({ { 1 } }, oml.tensor { { 7 } }:argsort():totable())
  end)

  it("argsort gives the sorting indices", function()
    assert.same({ 2, 3, 1 }, oml.tensor { 3, 1, 2 }:argsort():totable())
    assert.same({ { 2, 1 }, { 1, 2 } }, oml.tensor { { 3, 1 }, { 0, 5 } }:argsort(1):totable())
  end)

  it("raises on bad arguments", function()
    local m = oml.zeros(2, 3)
    H.raises(function() local _ = m:sort(3) end, "oml.sort: dim 3 is out of range for a 2-d tensor")
    H.raises(function() local _ = m:sort(1, 1) end, "oml.sort: descending must be a boolean (got number)")
    H.raises(function() local _ = m:half():sort() end, "oml.sort: the input is float16, a storage-only dtype")
    H.raises(function() local _ = oml.argsort(1) end, "oml.argsort: the input must be a tensor (got number)")
    H.raises(function() local _ = m:argsort(0) end, "oml.argsort: dim 0 is out of range for a 2-d tensor")
  end)
end)

describe("topk", function()
  it("gives the k largest or smallest, in order, ties to the lower index", function()
    local x = oml.tensor { 3, nan, 1, 3, -0.0, 0, nan, -1 }
    local v, i = x:topk(3)
    H.close(v, { nan, nan, 3 }, 0)
    assert.same({ 2, 7, 1 }, i:totable())
    -- torch 1.13: x.topk(3, largest=False) gives [-1, -0, 0] at [7, 4, 5] (0-based)
    v, i = x:topk(3, 1, false)
    H.close(v, { -1, 0, 0 }, 0)
    assert.same({ 8, 5, 6 }, i:totable())
    local m = oml.tensor { { 1, 9, 9, 2 }, { 5, 5, 5, 5 } }
    v, i = m:topk(2)
    assert.same({ { 9, 9 }, { 5, 5 } }, v:totable())
    assert.same({ { 2, 3 }, { 1, 2 } }, i:totable())
    v, i = m:t():topk(1, 1, false) -- non-contiguous, along dim 1
    assert.same({ { 1, 5 } }, v:totable())
    assert.same({ { 1, 1 } }, i:totable())
  end)

  it("handles k = 0, k = n and 0-d tensors, in every dtype", function()
    local m = oml.tensor { { 4, 6, 5 } }
    assert.same({ 1, 0 }, m:topk(0):size())
    for _, dtype in ipairs { "float32", "float64", "int32", "int64", "uint8" } do
      local v, i = m:to(dtype):topk(3)
      assert.same({ { 6, 5, 4 } }, v:totable())
      assert.same({ { 2, 3, 1 } }, i:totable())
      assert.equal(dtype, v.dtype)
    end
    local v, i = oml.tensor(7):topk(1)
    assert.equal(7, v:item())
    assert.equal(1, i:item())
    v, i = oml.tensor { false, true, true }:topk(1)
    assert.same({ true }, v:totable())
    assert.same({ 2 }, i:totable())
  end)

  it("agrees with a full sort on a 2000x5000 random matrix", function()
    local m = random_matrix(2000, 5000, 1234, "float32", function(r) return r end)
    local sv, si = m:sort(2, true)
    local top = 10
    local v, i = m:topk(top)
    assert.same({ 2000, top }, v:size())
    assert.same(sv:narrow(2, 1, top):totable(), v:totable())
    assert.same(si:narrow(2, 1, top):totable(), i:totable())
    -- the smallest, and a k large enough to take the full-sort path (on fewer rows)
    local rows = m:narrow(1, 1, 200)
    local av, ai = rows:sort(2)
    for _, k in ipairs { 5, 400 } do
      v, i = rows:topk(k, 2, false)
      assert.same(av:narrow(2, 1, k):totable(), v:totable())
      assert.same(ai:narrow(2, 1, k):totable(), i:totable())
    end
  end)

  it("agrees with a stable sort when ties are everywhere, along either dim", function()
    local m = random_matrix(300, 2000, 99, "float64", function(r) return math.floor(r * 30) end)
    local sv, si = m:sort(2, true)
    local v, i = m:topk(20)
    assert.same(sv:narrow(2, 1, 20):totable(), v:totable())
    assert.same(si:narrow(2, 1, 20):totable(), i:totable())
    local t = m:t() -- [2000, 300], non-contiguous: topk along dim 1
    sv, si = t:sort(1)
    v, i = t:topk(7, 1, false)
    assert.same(sv:narrow(1, 1, 7):totable(), v:totable())
    assert.same(si:narrow(1, 1, 7):totable(), i:totable())
  end)

  it("raises on bad arguments", function()
    local m = oml.zeros(2, 3)
    H.raises(function() local _ = m:topk(4) end, "oml.topk: k = 4 is out of range 0..3 for dim 2")
    H.raises(function() local _ = m:topk(-1, 1) end, "oml.topk: k = -1 is out of range 0..2 for dim 1")
    H.raises(function() local _ = m:topk(1.5) end, "oml.topk: k must be an integer (got 1.5)")
    H.raises(function() local _ = m:topk(1, 1, "yes") end, "oml.topk: largest must be a boolean (got string)")
    H.raises(function() local _ = oml.tensor(1):topk(0) end, "oml.topk: k = 0 is out of range 1..1 for dim 1")
    H.raises(function() local _ = m:half():topk(1) end, "oml.topk: the input is float16, a storage-only dtype")
  end)
end)

describe("the engine's outputs", function()
  local ffi = require "ffi"
  local T = require "oml.tensor"
  local C = T.C

  it("sort reads an input that shares memory with an output as it was", function()
    local a = oml.tensor { { 3, 1, 2 }, { 9, 7, 8 }, { 6, 4, 5 } }
    local indices = T.new()
    T.check(C.oml_sort(a, a:t(), indices, 1, 0), "oml.sort") -- rows sorted, written as columns of a
    assert.same({ { 1, 7, 4 }, { 2, 8, 5 }, { 3, 9, 6 } }, a:totable())
    assert.same({ { 2, 3, 1 }, { 2, 3, 1 }, { 2, 3, 1 } }, indices:totable())
    local b = oml.tensor { { 1, 4, 2, 3 }, { 8, 5, 7, 6 } }
    local top = b:as_strided({ 2, 2 }, { -4, 1 }, 5) -- row 1 of the result lands on row 2 of b, and row 2 on row 1
    T.check(C.oml_topk(b, top, nil, 2, 1, 1), "oml.topk")
    assert.same({ { 8, 7, 2, 3 }, { 4, 3, 7, 6 } }, b:totable())
    local s = oml.tensor { 3, 1, 2 }
    T.check(C.oml_sort(s, s, nil, 0, 0), "oml.sort") -- in place
    assert.same({ 1, 2, 3 }, s:totable())
  end)

  it("values and indices must be apart", function()
    local a = oml.tensor({ 3, 1, 2 }, "int64")
    local out = T.new()
    assert.equal(-1, C.oml_sort(a, out, out, 0, 0))
    assert.matches("the values and indices outputs share storage", ffi.string(C.oml_last_error()), 1, true)
    assert.is_true(out.storage_ == nil)
    local v = oml.zeros(2, "int64")
    assert.equal(-1, C.oml_topk(a, v:narrow(1, 1, 1), v:narrow(1, 2, 1), 1, 0, 1))
    assert.matches("share storage", ffi.string(C.oml_last_error()), 1, true)
  end)
end)
