-- Views: they share storage, so writes through a view show in the base.
local oml = require "oml"
local H = require "helper"

local function base() return oml.arange(1, 7):view(2, 3) end -- {{1,2,3},{4,5,6}}

describe("views", function()
  it("view and reshape", function()
    local a = base()
    local v = a:view(3, 2)
    assert.same({ { 1, 2 }, { 3, 4 }, { 5, 6 } }, v:totable())
    assert.same({ 6 }, a:view(-1):size())
    assert.same({ 3, 2 }, a:view { -1, 2 }:size())
    v:fill(0)
    assert.same({ { 0, 0, 0 }, { 0, 0, 0 } }, a:totable())
    H.raises(function() local _ = base():view(4) end, "oml.view: cannot view a tensor of shape [2,3] (6 elements) as [4]")
    H.raises(function() local _ = base():view(-1, -1) end, "oml.view: only one size may be -1")
    H.raises(function() local _ = base():t():view(6) end, "oml.view: cannot view a non-contiguous tensor of shape [3,2] as [6] without a copy (use reshape)")
    H.raises(function() local _ = base():view(4, -1) end, "oml.view: shape [4,-1] is invalid for a tensor of 6 elements")
  end)

  it("reshape copies only when it must", function()
    local a = base()
    local r = a:reshape(3, 2)
    r:fill(7)
    assert.equal(7, a[{ 1, 1 }]) -- a view
    local t = base():t()
    local c = t:reshape(6)
    assert.same({ 1, 4, 2, 5, 3, 6 }, c:totable())
    c:fill(0)
    assert.same({ { 1, 4 }, { 2, 5 }, { 3, 6 } }, t:totable()) -- a copy
  end)

  it("views split and merged dims of a non-contiguous tensor where strides allow", function()
    local x = oml.arange(24):view(2, 3, 4):narrow(3, 1, 2) -- [2,3,2], strides 12,4,1
    assert.same({ 2, 3, 2 }, x:size())
    assert.same({ 6, 2 }, x:view(6, 2):size()) -- dims 1 and 2 merge: 12 = 3 * 4
    assert.same({ 2, 3, 2 }, x:view(2, 3, 2):stride() and x:view(2, 3, 2):size())
    H.raises(function() local _ = x:view(12) end, "cannot view a non-contiguous tensor")
  end)

  it("narrow and select", function()
    local a = base()
    assert.same({ { 2, 3 }, { 5, 6 } }, a:narrow(2, 2, 2):totable())
    assert.same({ { 4, 5, 6 } }, a:narrow(1, -1, 1):totable())
    assert.same({ 4, 5, 6 }, a:select(1, 2):totable())
    assert.same({ 3, 6 }, a:select(2, -1):totable())
    assert.same({ 2, 0 }, a:narrow(2, 4, 0):size())
    a:select(2, 1):fill(9)
    assert.same({ { 9, 2, 3 }, { 9, 5, 6 } }, a:totable())
    H.raises(function() local _ = a:narrow(2, 2, 3) end, "oml.narrow: range 2..4 is out of bounds for dim 2 of size 3")
    H.raises(function() local _ = a:select(1, 3) end, "oml.select: index 3 is out of range for dim 1 of size 2")
    H.raises(function() local _ = a:select(3, 1) end, "oml.select: dim 3 is out of range for a 2-d tensor")
    H.raises(function() local _ = oml.tensor(1):select(1, 1) end, "oml.select: cannot select from a 0-d tensor")
  end)

  it("transpose, t and permute", function()
    local a = base()
    assert.same({ { 1, 4 }, { 2, 5 }, { 3, 6 } }, a:t():totable())
    assert.same({ 1, 3 }, a:t():stride())
    assert.is_false(a:t():is_contiguous())
    assert.same(a:t():totable(), a:transpose(1, 2):totable())
    assert.same(a:t():totable(), a:transpose(-1, -2):totable())
    local x = oml.arange(24):view(2, 3, 4)
    local p = x:permute(3, 1, 2)
    assert.same({ 4, 2, 3 }, p:size())
    assert.same({ 1, 12, 4 }, p:stride())
    assert.equal(x[{ 2, 3, 4 }], p[{ 4, 2, 3 }])
    assert.same({ 4, 2, 3 }, x:permute { -1, 1, 2 }:size())
    H.raises(function() local _ = x:permute(1, 1, 2) end, "oml.permute: dim 1 appears twice in the permutation")
    H.raises(function() local _ = x:permute(1, 2) end, "oml.permute: needs 3 dims for a 3-d tensor (got 2)")
    H.raises(function() local _ = x:t() end, "oml.t: expects a tensor of at most 2 dims (got 3)")
  end)

  it("expand repeats size-1 dims with stride 0", function()
    local c = oml.tensor { { 1 }, { 2 } }
    local e = c:expand(2, 3)
    assert.same({ { 1, 1, 1 }, { 2, 2, 2 } }, e:totable())
    assert.same({ 1, 0 }, e:stride())
    assert.same({ 4, 2, 3 }, c:expand(4, -1, 3):size())
    assert.same({ 2, 3 }, c:expand_as(oml.zeros(2, 3)):size())
    H.raises(function() local _ = c:expand(3, 3) end, "oml.expand: cannot expand shape [2,1] to [3,3]")
  end)

  it("squeeze and unsqueeze", function()
    local x = oml.zeros(1, 3, 1)
    assert.same({ 3 }, x:squeeze():size())
    assert.same({ 3, 1 }, x:squeeze(1):size())
    assert.same({ 1, 3, 1 }, x:squeeze(2):size())
    assert.same({ 1, 1, 3, 1 }, x:unsqueeze(1):size())
    assert.same({ 1, 3, 1, 1 }, x:unsqueeze(-1):size())
    assert.same({ 1, 3, 1, 1 }, x:unsqueeze(4):size())
    assert.same({ 1 }, oml.tensor(5):unsqueeze(1):size())
    H.raises(function() local _ = x:unsqueeze(6) end, "oml.unsqueeze: dim 6 is out of range")
  end)

  it("flatten", function()
    local x = oml.zeros(2, 3, 4)
    assert.same({ 24 }, x:flatten():size())
    assert.same({ 2, 12 }, x:flatten(2):size())
    assert.same({ 6, 4 }, x:flatten(1, 2):size())
    assert.same({ 1 }, oml.tensor(3):flatten():size())
  end)

  it("contiguous and clone", function()
    local a = base()
    assert.equal(a, a:contiguous())
    local c = a:t():contiguous()
    assert.is_true(c:is_contiguous())
    assert.same({ { 1, 4 }, { 2, 5 }, { 3, 6 } }, c:totable())
    local k = a:clone()
    k:fill(0)
    assert.equal(1, a[{ 1, 1 }])
  end)

  it("as_strided checks the storage bounds", function()
    local a = oml.arange(6)
    assert.same({ { 0, 2 }, { 1, 3 } }, a:as_strided({ 2, 2 }, { 1, 2 }):totable())
    assert.same({ 4, 5 }, a:as_strided({ 2 }, { 1 }, 5):totable())
    H.raises(function() local _ = a:as_strided({ 4 }, { 2 }) end,
      "oml.as_strided: the view reaches outside its storage of 6 elements")
  end)

  it("keep their storage alive after the base is collected", function()
    local v = base():narrow(2, 2, 2)
    collectgarbage()
    collectgarbage()
    assert.same({ { 2, 3 }, { 5, 6 } }, v:totable())
  end)
end)

describe("sizes, strides and offsets near the int64 limits", function()
  it("views whose sizes multiply beyond int64 are refused", function()
    H.raises(function() local _ = oml.zeros(1, 1):expand(2 ^ 40, 2 ^ 40) end,
      "oml.expand: a tensor of size [1099511627776,1099511627776] is too large")
    H.raises(function() local _ = oml.zeros(4):as_strided({ 2 ^ 40, 2 ^ 40 }, { 0, 0 }) end,
      "oml.as_strided: a tensor of size [1099511627776,1099511627776] is too large")
    H.raises(function() local _ = oml.zeros(0):view(2 ^ 40, 2 ^ 40, 0) end,
      "oml.view: a tensor of size [1099511627776,1099511627776,0] is too large")
    H.raises(function() local _ = oml.zeros(6):view(2 ^ 40, -1, 2 ^ 40) end,
      "oml.view: a tensor of size [1099511627776,-1,1099511627776] is too large")
    assert.same({ 2 ^ 20, 2 ^ 20, 0 }, oml.zeros(0):view(2 ^ 20, 2 ^ 20, 0):size())
  end)

  it("as_strided refuses strides and offsets that reach past int64", function()
    local msg = "oml.as_strided: the strides and offset of the view are too large"
    -- 2 * 2^62 and -3 * 2^62 wrap around an int64
    H.raises(function() local _ = oml.zeros(4):as_strided({ 3 }, { 2 ^ 62 }) end, msg)
    H.raises(function() local _ = oml.zeros(4):as_strided({ 4 }, { -2 ^ 62 }, 4) end, msg)
    -- in bytes: 2^62 float32 elements
    H.raises(function() local _ = oml.zeros(4):as_strided({ 0 }, { 1 }, 2 ^ 62) end, msg)
    -- the stride of a size-1 dim reaches nothing, yet the engine multiplies it
    H.raises(function() local _ = oml.zeros(4):as_strided({ 1, 2 }, { 2 ^ 62, 1 }) end, msg)
    H.raises(function() local _ = oml.zeros(4):as_strided({ 0, 2 ^ 40 }, { 1, 2 ^ 40 }) end, msg)
    H.raises(function() local _ = oml.zeros(4):as_strided({ 1 }, { 1 }, 0) end, "oml.as_strided: storage offset 0 is below 1")
    H.raises(function() local _ = oml.zeros(4):as_strided({ 2 }, { 4 }) end,
      "oml.as_strided: the view reaches outside its storage of 4 elements")
    -- an empty view may start past the end, as in PyTorch
    assert.equal(101, oml.zeros(4):as_strided({ 0 }, { 1 }, 101):storage_offset())
    assert.same({ 2 ^ 20 }, oml.zeros(4):as_strided({ 1 }, { 2 ^ 20 }):stride())
  end)

  it("narrow checks its range without overflow", function()
    local huge = oml.zeros(1, "uint8"):expand(1.5 * 2 ^ 62)
    -- start + length passes 2^63 (both exact in a double)
    H.raises(function() local _ = huge:narrow(1, 2 ^ 52 + 1, 2 ^ 63 - 2048) end,
      "oml.narrow: range 4503599627370497..9223372036854775807 is out of bounds for dim 1 of size 6917529027641081856")
    H.raises(function() local _ = oml.zeros(4):narrow(1, 2, -1) end, "oml.narrow: length -1 is negative")
    assert.same({ 2 ^ 61 }, huge:narrow(1, 2 ^ 52 + 1, 2 ^ 61):size())
  end)
end)
