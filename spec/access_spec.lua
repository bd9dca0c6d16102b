-- The t[key] and t[key] = value syntax: numbers, {…} keys with ranges, masks
-- and index tensors, reading and writing.
local oml = require "oml"
local H = require "helper"

local function m23() return oml.tensor { { 1, 2, 3 }, { 4, 5, 6 } } end

describe("reading t[key]", function()
  it("t[i] selects along dim 1; a 1-d tensor gives a number", function()
    local a = m23()
    assert.same({ 4, 5, 6 }, a[2]:totable())
    assert.same({ 1, 2, 3 }, a[-2]:totable())
    assert.equal(6, a[2][3])
    assert.equal(5, a[-1][-2])
    a[1]:fill(0) -- a view
    assert.same({ { 0, 0, 0 }, { 4, 5, 6 } }, a:totable())
    assert.equal(4, m23():t()[1][2]) -- non-contiguous
    assert.equal(true, oml.tensor { false, true }[2])
    assert.equal(2 ^ 40, oml.tensor({ 1, 2 ^ 40 }, "int64")[2])
    assert.equal(-7, oml.tensor({ -7 }, "int32")[1])
    assert.equal(2.5, oml.tensor { 1, 2.5 }:half()[2])
  end)

  it("t[{...}] takes one entry per dim: numbers, ranges and {}", function()
    local a = m23()
    assert.equal(6, a[{ 2, 3 }])
    assert.equal(1, a[{ -2, -3 }])
    assert.same({ 4, 5, 6 }, a[{ 2 }]:totable()) -- missing trailing entries keep their dims
    assert.same({ 2, 5 }, a[{ {}, 2 }]:totable())
    assert.same({ { 2, 3 }, { 5, 6 } }, a[{ {}, { 2, 3 } }]:totable())
    assert.same({ { 5, 6 } }, a[{ { -1, -1 }, { -2, -1 } }]:totable())
    assert.same({ { 4, 5, 6 } }, a[{ { 2 } }]:totable()) -- {i} is {i, i}
    assert.same({ 0, 3 }, a[{ { 3, 2 } }]:size()) -- an empty range
    assert.same({ 2, 3 }, a[{}]:size())
    assert.equal(3, a:t()[{ 3, 1 }])
    assert.equal(5, oml.tensor(5)[{}]) -- no entries for no dims: a number
    local v = a[{ {}, { 2, 3 } }]
    v[{ 1, 1 }] = 0
    assert.equal(0, a[{ 1, 2 }]) -- views share storage
  end)

  it("t[mask] is masked_select, t[index] index_select on dim 1", function()
    local a = m23()
    assert.same({ 4, 5, 6 }, a[a:gt(3)]:totable())
    assert.same({ 1, 3, 4, 6 }, a[oml.tensor { true, false, true }]:totable())
    assert.same({ { 4, 5, 6 }, { 4, 5, 6 }, { 1, 2, 3 } }, a[oml.tensor({ 2, 2, 1 }, "int64")]:totable())
    assert.same({ 3, 1 }, oml.tensor { 1, 2, 3 }[oml.tensor({ 3, 1 }, "int32")]:totable())
    assert.same({ 0, 3 }, a[oml.tensor({}, "int64")]:size())
  end)

  it("raises on bad keys, pointing at the caller", function()
    local a = m23()
    H.raises(function() local _ = a[3] end, "oml.Tensor: index 3 is out of range for dim 1 of size 2")
    H.raises(function() local _ = a[-3] end, "oml.Tensor: index -3 is out of range for dim 1 of size 2")
    H.raises(function() local _ = a[0] end, "oml.Tensor: index 0 is out of range for dim 1 of size 2")
    H.raises(function() local _ = a[1.5] end, "oml.Tensor: an index must be an integer (got 1.5)")
    H.raises(function() local _ = a[{ 1, 4 }] end, "oml.Tensor: index 4 is out of range for dim 2 of size 3")
    H.raises(function() local _ = a[{ {}, { 2, 4 } }] end, "oml.Tensor: range 2..4 is out of range for dim 2 of size 3")
    H.raises(function() local _ = a[{ { 0, 1 } }] end, "oml.Tensor: range 0..1 is out of range for dim 1 of size 2")
    H.raises(function() local _ = a[{ { 1.5, 2 } }] end, "oml.Tensor: a range bound must be an integer (got 1.5)")
    H.raises(function() local _ = a[{ { 1, 2, 3 } }] end, "oml.Tensor: index entry 1 must be a number, a {first, last} range or {}")
    H.raises(function() local _ = a[{ 1, "x" }] end, "oml.Tensor: index entry 2 must be a number, a {first, last} range or {} (got string)")
    H.raises(function() local _ = a[{ 1, 1, 1 }] end, "oml.Tensor: 3 index entries for a 2-d tensor")
    H.raises(function() local _ = a[true] end, "oml.Tensor: cannot index a tensor with a boolean")
    H.raises(function() local _ = a[a] end, "oml.Tensor: a tensor key must be bool, int32 or int64 (got float32)")
    H.raises(function() local _ = a[oml.tensor({ 3 }, "int64")] end, "oml.Tensor: index 3 is out of range 1..2 for dim 1")
    H.raises(function() local _ = a[oml.tensor { true, false }] end, "oml.Tensor: shapes [2,3] and [2] cannot be broadcast together")
    H.raises(function() local _ = oml.tensor(1)[1] end, "oml.Tensor: cannot index a 0-d tensor with a number (use t:item())")
  end)
end)

describe("writing t[key] = value", function()
  it("fills or copies into the selected view", function()
    local a = m23()
    a[1] = 0
    assert.same({ { 0, 0, 0 }, { 4, 5, 6 } }, a:totable())
    a[2] = oml.tensor { 7, 8, 9 }
    assert.same({ { 0, 0, 0 }, { 7, 8, 9 } }, a:totable())
    a[{ 1, 2 }] = 5
    a[{ {}, 3 }] = oml.tensor({ 1, 2 }, "int64") -- converts the dtype
    assert.same({ { 0, 5, 1 }, { 7, 8, 2 } }, a:totable())
    a[{ { 1, 2 }, { 1, 2 } }] = oml.tensor { 6, 6 } -- broadcasts
    assert.same({ { 6, 6, 1 }, { 6, 6, 2 } }, a:totable())
    local t = m23():t() -- non-contiguous
    t[{ 3, 2 }] = 0
    t[1] = -1
    assert.same({ { -1, -1 }, { 2, 5 }, { 3, 0 } }, t:totable())
    local v = oml.tensor { 1, 2, 3 }
    v[-1] = 30
    v[1] = true
    assert.same({ 1, 2, 30 }, v:totable())
    for _, dtype in ipairs { "float64", "int32", "int64", "uint8", "bool" } do
      local w = oml.zeros({ 3 }, dtype)
      w[2] = 1
      assert.equal(1, w:long()[2])
    end
    local h = oml.zeros(2):half()
    h[2] = 1.5
    assert.equal(1.5, h[2])
  end)

  it("t[mask] = number is masked_fill_, t[index] = value index_fill_ or index_copy_", function()
    local a = m23()
    a[a:gt(4)] = 0
    assert.same({ { 1, 2, 3 }, { 4, 0, 0 } }, a:totable())
    a[oml.tensor { true, false, false }] = -1
    assert.same({ { -1, 2, 3 }, { -1, 0, 0 } }, a:totable())
    local b = m23()
    b[oml.tensor({ 2 }, "int64")] = 9
    assert.same({ { 1, 2, 3 }, { 9, 9, 9 } }, b:totable())
    b[oml.tensor({ 1, 2 }, "int32")] = oml.tensor { 7, 8, 9 } -- broadcast to both rows
    assert.same({ { 7, 8, 9 }, { 7, 8, 9 } }, b:totable())
    b[oml.tensor({ 2 }, "int64")] = oml.tensor({ { 1, 2, 3 } }, "int64")
    assert.same({ { 7, 8, 9 }, { 1, 2, 3 } }, b:totable())
  end)

  it("raises on bad keys and values", function()
    local a = m23()
    H.raises(function() a[3] = 0 end, "oml.Tensor: index 3 is out of range for dim 1 of size 2")
    H.raises(function() a[1] = "x" end, "oml.Tensor: can only assign a number or a tensor (got string)")
    H.raises(function() a[1] = oml.tensor { 1, 2 } end, "oml.Tensor: cannot copy a tensor of shape [2] into one of shape [3]")
    H.raises(function() a[{ 1, 1, 1 }] = 0 end, "oml.Tensor: 3 index entries for a 2-d tensor")
    H.raises(function() a[a:gt(1)] = oml.tensor { 1 } end, "oml.Tensor: only a number can be assigned through a mask")
    H.raises(function() a[oml.tensor({ 5 }, "int64")] = 0 end, "oml.Tensor: index 5 is out of range 1..2 for dim 1")
    H.raises(function() a[oml.tensor({ 1 }, "int64")] = oml.tensor { 1, 2 } end, "oml.Tensor: cannot expand shape [2] to [1,3]")
    H.raises(function() a[oml.tensor { 1.5 }] = 0 end, "oml.Tensor: a tensor key must be bool, int32 or int64 (got float32)")
    H.raises(function() a[false] = 0 end, "oml.Tensor: cannot index a tensor with a boolean")
    H.raises(function() oml.tensor(1)[1] = 0 end, "oml.Tensor: cannot index a 0-d tensor with a number")
    H.raises(function() a.foo = 1 end, "oml.Tensor: cannot set field 'foo' of a tensor")
    assert.same({ { 1, 2, 3 }, { 4, 5, 6 } }, a:totable())
  end)
end)
