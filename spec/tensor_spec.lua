-- Creation, attributes, conversions, and reading tensors back into Lua.
local oml = require "oml"
local H = require "helper"

describe("oml.tensor", function()
  it("builds float32 tensors from nested lists", function()
    local t = oml.tensor { { 1, 2, 3 }, { 4, 5, 6 } }
    assert.equal("float32", t.dtype)
    assert.same({ 2, 3 }, t:size())
    assert.same({ 3, 1 }, t:stride())
    assert.equal(2, t:dim())
    assert.equal(6, t:numel())
    assert.same({ { 1, 2, 3 }, { 4, 5, 6 } }, t:totable())
    assert.equal("oml.FloatTensor", t:type())
  end)

  it("infers bool from booleans and takes a dtype", function()
    assert.equal("bool", oml.tensor({ true, false }).dtype)
    assert.same({ true, false }, oml.tensor({ true, false }):totable())
    local l = oml.tensor({ 1, 2, 3 }, "int64")
    assert.equal("int64", l.dtype)
    assert.equal("oml.LongTensor", l:type())
    assert.equal("float64", oml.tensor({ 0.1 }, { dtype = "float64" }).dtype)
    assert.equal(0.1, oml.tensor({ 0.1 }, "double"):item()) -- exact in float64
  end)

  it("makes 0-d tensors from numbers and empty ones from empty lists", function()
    local s = oml.tensor(3.5)
    assert.equal(0, s:dim())
    assert.equal(3.5, s:item())
    assert.equal(3.5, s:totable())
    local e = oml.tensor {}
    assert.same({ 0 }, e:size())
    assert.same({}, e:totable())
  end)

  it("rejects ragged and non-numeric data", function()
    H.raises(function() local _ = oml.tensor { { 1, 2 }, { 3 } } end, "oml.tensor: the data is not rectangular: data[2]")
    H.raises(function() local _ = oml.tensor { 1, "x" } end, "oml.tensor: element data[2] is a string")
    H.raises(function() local _ = oml.tensor({ 1 }, "complex") end, "oml.tensor: unknown dtype complex")
  end)
end)

describe("creation functions", function()
  it("zeros, ones, full, empty", function()
    assert.same({ { 0, 0, 0 }, { 0, 0, 0 } }, oml.zeros(2, 3):totable())
    assert.same({ { 1, 1 } }, oml.ones({ 1, 2 }):totable())
    assert.same({ 7, 7 }, oml.full({ 2 }, 7, "int32"):totable())
    assert.equal("int32", oml.full({ 2 }, 7, "int32").dtype)
    assert.same({ 4, 0 }, oml.empty(4, 0):size())
    assert.equal("float64", oml.zeros(2, { dtype = "float64" }).dtype)
    assert.equal(0, oml.zeros():dim()) -- no sizes: a 0-d tensor
  end)

  it("the _like variants keep shape, dtype and device", function()
    local t = oml.tensor({ { 1, 2 } }, "int64")
    local z = oml.zeros_like(t)
    assert.equal("int64", z.dtype)
    assert.same({ { 0, 0 } }, z:totable())
    assert.same({ { 5, 5 } }, oml.full_like(t, 5):totable())
    assert.equal("float32", oml.ones_like(t, "float32").dtype)
  end)

  it("arange follows PyTorch: [start, stop), int64 for integers", function()
    assert.same({ 0, 1, 2, 3 }, oml.arange(4):totable())
    assert.equal("int64", oml.arange(4).dtype)
    assert.same({ 2, 4, 6 }, oml.arange(2, 8, 2):totable())
    assert.same({ 5, 3, 1 }, oml.arange(5, 0, -2):totable())
    local f = oml.arange(0, 1, 0.25)
    assert.equal("float32", f.dtype)
    assert.same({ 0, 0.25, 0.5, 0.75 }, f:totable())
    assert.same({}, oml.arange(3, 3):totable())
    assert.equal("float64", oml.arange(3, "float64").dtype)
    H.raises(function() local _ = oml.arange(0, 5, 0) end, "oml.arange: step must not be 0")
    H.raises(function() local _ = oml.arange(5, 0, 1) end, "oml.arange: step 1 goes the wrong way")
  end)

  it("linspace ends exactly at stop", function()
    H.close(oml.linspace(0, 1, 5), { 0, 0.25, 0.5, 0.75, 1 })
    assert.equal(1, oml.linspace(0, 1, 7):totable()[7])
    assert.same({ 3 }, oml.linspace(3, 9, 1):totable())
    assert.same({}, oml.linspace(0, 1, 0):totable())
    H.raises(function() local _ = oml.linspace(0, 1, -1) end, "oml.linspace: steps must be >= 0")
  end)

  it("eye", function()
    assert.same({ { 1, 0, 0 }, { 0, 1, 0 } }, oml.eye(2, 3):totable())
    assert.same({ { 1, 0 }, { 0, 1 } }, oml.eye(2):totable())
    assert.equal("int64", oml.eye(2, "int64").dtype)
  end)

  it("rejects bad sizes", function()
    H.raises(function() local _ = oml.zeros(2, -1) end, "oml.zeros: size 2 must be a non-negative integer")
    H.raises(function() local _ = oml.zeros(1.5) end, "oml.zeros: size 1 must be a non-negative integer")
    H.raises(function() local _ = oml.zeros(1, 1, 1, 1, 1, 1, 1, 1, 1) end, "oml.zeros: a tensor has at most 8 dims")
    H.raises(function() local _ = oml.zeros(2, { device = "gpu" }) end, "oml.zeros: unknown device gpu")
  end)
end)

describe("conversions", function()
  it("convert between every pair of dtypes", function()
    local values = { 0, 1, 2, 100 }
    for _, from in ipairs { "float32", "float64", "int32", "int64", "uint8", "float16", "bfloat16" } do
      local t = oml.tensor(values, from)
      for _, to in ipairs { "float32", "float64", "int32", "int64", "uint8", "float16", "bfloat16" } do
        assert.same(values, t:to(to):totable(), from .. " -> " .. to)
      end
      assert.same({ false, true, true, true }, t:bool():totable())
    end
  end)

  it("truncates toward zero and saturates out-of-range values instead of wrapping", function()
    assert.same({ 1, -1, 2 }, oml.tensor { 1.7, -1.7, 2.2 }:int():totable())
    assert.same({ 0, 255, 0 }, oml.tensor { -5, 300, 0 }:byte():totable())
    assert.same({ 0 }, oml.tensor { 0 / 0 }:long():totable())
  end)

  it("rounds to float16 and bfloat16 to nearest even", function()
    -- torch 1.13: torch.tensor([1/3, 65504, 70000, 1e-7]).half().float()
    H.close(oml.tensor({ 1 / 3, 65504, 70000, 1e-7 }, "float64"):half():double(),
      { 0.333251953125, 65504, math.huge, 1.1920928955078125e-07 }, 0)
    -- torch 1.13: torch.tensor([1/3, 3e38]).bfloat16().float()
    H.close(oml.tensor({ 1 / 3, 3e38 }, "float64"):bfloat16():double(), { 0.333984375, 3.00405527047391e+38 }, 1e-12)
  end)

  it("to() returns the tensor itself when nothing changes", function()
    local t = oml.zeros(2)
    assert.equal(t, t:to("float32"))
    assert.equal(t, t:float())
    assert.equal(t, t:cpu())
    assert.are_not.equal(t, t:double())
  end)

  it("copy converts and broadcasts into the destination", function()
    local dst = oml.zeros(2, 3, "int32")
    dst:copy(oml.tensor { 1.9, 2, 3 })
    assert.same({ { 1, 2, 3 }, { 1, 2, 3 } }, dst:totable())
    H.raises(function() dst:copy(oml.zeros(4)) end, "oml.copy: cannot copy a tensor of shape [4] into one of shape [2,3]")
  end)

  it("fill and zero write in place", function()
    local t = oml.ones(2, 2)
    assert.equal(t, t:fill(3))
    assert.same({ { 3, 3 }, { 3, 3 } }, t:totable())
    t:narrow(2, 2, 1):zero()
    assert.same({ { 3, 0 }, { 3, 0 } }, t:totable())
    H.raises(function() t:fill("x") end, "oml.fill: the value must be a number")
  end)

  it("item needs exactly one element", function()
    assert.equal(5, oml.tensor({ { 5 } }, "int64"):item())
    H.raises(function() local _ = oml.zeros(2):item() end, "oml.item: the tensor has 2 elements, not 1")
  end)

  it("reads through a typed pointer", function()
    local t = oml.tensor({ 1, 2, 3 }, "int32")
    local p = t:data()
    p[1] = 20
    assert.same({ 1, 20, 3 }, t:totable())
    H.raises(function() local _ = oml.zeros(1, "float16"):data() end, "oml.data: float16 has no Lua pointer type")
  end)
end)

describe("tensor properties", function()
  it("reads like PyTorch", function()
    local t = oml.zeros(2, 3, "int64")
    assert.equal("int64", t.dtype)
    assert.equal("cpu", t.device)
    assert.same({ 2, 3 }, t.shape)
    assert.equal(2, t.ndim)
    assert.equal(2, #t)
    assert.is_false(t:is_cuda())
    assert.equal(8, t:element_size())
    assert.is_nil(t.no_such_method)
    H.raises(function() t.foo = 1 end, "oml.Tensor: cannot set field 'foo'")
  end)
end)

describe("writing into expanded views", function()
  it("copy and fill refuse a destination whose elements share memory", function()
    local base = oml.zeros(1)
    local e = base:expand(3)
    H.raises(function() e:copy(oml.tensor { 1, 2, 3 }) end,
      "oml.copy: the destination is an expanded view whose elements share memory")
    H.raises(function() e:fill(2) end, "oml.fill: the tensor is an expanded view whose elements share memory")
    assert.same({ 0 }, base:totable())
    -- size-1 dims may have any stride
    local one = oml.zeros(2):view(2, 1):expand(2, 1)
    assert.same({ { 4 }, { 4 } }, one:fill(4):totable())
  end)
end)

describe("int64 to float32", function()
  it("rounds once, as a direct conversion", function()
    -- 2^60 + 2^36 + 1 is just above the midpoint of two float32 neighbours;
    -- through a float64 it would land on the midpoint and round down to 2^60.
    -- torch 1.13: torch.tensor([2**60 + 2**36 + 1]).float() -> 2^60 + 2^37
    local a = oml.tensor({ 2 ^ 60 + 2 ^ 36 }, "int64"):add(1)
    assert.equal(2 ^ 60 + 2 ^ 37, a:float():item())
    assert.equal(2 ^ 60 + 2 ^ 37, (a + oml.tensor { 0 }):item()) -- promoted to float32
  end)
end)

describe("creation arguments", function()
  it("oml.tensor of a tensor is a copy, as torch.tensor(t)", function()
    local a = oml.tensor { 1, 2 }
    local b = oml.tensor(a)
    b:fill(0)
    assert.same({ 1, 2 }, a:totable())
    assert.same({ 1, 2 }, oml.tensor(a, "int64"):totable())
  end)

  it("eye, arange and linspace take every creation option", function()
    assert.equal("int64", oml.eye(2, nil, "int64").dtype)
    assert.same({ 2, 3 }, oml.eye(2, 3, { dtype = "float64", device = "cpu" }):size())
    assert.equal("cpu", oml.arange(3, { device = "cpu" }).device)
    assert.equal("float64", oml.linspace(0, 1, 3, { dtype = "float64", device = "cpu" }).dtype)
    H.raises(function() local _ = oml.linspace(0, 1, 3, { dtype = "float64", devices = "cpu" }) end,
      "oml.linspace: unknown option 'devices'")
  end)

  it("the _like functions refuse an unset tensor rather than reading its zeroed dtype and device", function()
    local unset = require("oml.tensor").new()
    H.raises(function() local _ = oml.zeros_like(unset) end, "oml.zeros_like: the input is an unset tensor")
    H.raises(function() local _ = unset:float() end, "oml.to: the input is an unset tensor")
  end)
end)
