-- Joining and cutting tensors: cat, stack, split and chunk. Expected values
-- are hand-computed; PyTorch's rules (skipping 1-d empty tensors in cat,
-- chunk's sizes) were checked against torch 1.13 by hand, e.g.
-- torch.chunk(torch.arange(6), 4) gives three chunks of 2.
local oml = require "oml"
local H = require "helper"

local function sizes(list)
  local s = {}
  for i, t in ipairs(list) do s[i] = t:size() end
  return s
end

describe("cat", function()
  local a = oml.tensor { { 1, 2 }, { 3, 4 } }
  local b = oml.tensor { { 5, 6 } }

  it("joins along a dim", function()
    H.close(oml.cat { a, b }, { { 1, 2 }, { 3, 4 }, { 5, 6 } })
    H.close(oml.cat({ a, b:t() }, 2), { { 1, 2, 5 }, { 3, 4, 6 } })
    H.close(oml.cat({ a, a, a }, -1), { { 1, 2, 1, 2, 1, 2 }, { 3, 4, 3, 4, 3, 4 } })
    H.close(oml.cat { a }, { { 1, 2 }, { 3, 4 } })
    local three = oml.cat({ oml.ones(2, 1, 3), oml.zeros(2, 2, 3) }, 2)
    assert.same({ 2, 3, 3 }, three:size())
    H.close(three:select(2, 1), { { 1, 1, 1 }, { 1, 1, 1 } })
  end)

  it("reads non-contiguous inputs", function()
    local m = oml.tensor { { 1, 2, 3 }, { 4, 5, 6 } }
    H.close(oml.cat { m:t(), m:narrow(2, 2, 2):t() }, { { 1, 4 }, { 2, 5 }, { 3, 6 }, { 2, 5 }, { 3, 6 } })
    H.close(oml.cat({ m:select(2, 3), oml.tensor({ 1 }):expand(2) }), { 3, 6, 1, 1 })
  end)

  it("promotes dtypes as PyTorch", function()
    local i = oml.tensor({ 1, 2 }, "int32")
    assert.equal("float32", oml.cat({ i, oml.tensor { 0.5 } }).dtype)
    H.close(oml.cat({ i, oml.tensor { 0.5 } }), { 1, 2, 0.5 })
    assert.equal("float64", oml.cat({ oml.tensor { 1 }, oml.tensor({ 2 }, "float64") }).dtype)
    assert.equal("int64", oml.cat({ i, oml.tensor({ 3 }, "int64") }).dtype)
    assert.equal("int32", oml.cat({ oml.tensor { true }, i }).dtype)
    assert.equal("float16", oml.cat({ oml.tensor({ 1 }, "float16"), oml.tensor({ 2 }, "float16") }).dtype)
    H.close(oml.cat({ oml.tensor({ 1 }, "float16"), oml.tensor({ 2 }, "float16") }), { 1, 2 })
  end)

  it("skips 1-d empty tensors, as PyTorch", function()
    local e = oml.zeros(0)
    H.close(oml.cat { e, a, e }, { { 1, 2 }, { 3, 4 } })
    H.close(oml.cat({ e, a }, 2), { { 1, 2 }, { 3, 4 } }) -- dim 2 counts against a
    assert.same({ 0 }, oml.cat({ e, e }):size())
    assert.equal("float64", oml.cat({ e, oml.zeros({ 0 }, "float64") }).dtype)
    assert.same({ 2, 0 }, oml.cat({ oml.zeros(1, 0), oml.zeros(1, 0) }):size())
    assert.same({ 0, 2 }, oml.cat({ oml.zeros(0, 2), oml.zeros(0, 2) }):size())
  end)

  it("raises on bad arguments", function()
    H.raises(function() local _ = oml.cat { a, oml.ones(2, 3) } end,
      "oml.cat: tensor 2 has shape [2,3] but tensor 1 has shape [2,2]; they must match except in dim 1")
    H.raises(function() local _ = oml.cat({ a, b }, 2) end,
      "oml.cat: tensor 2 has shape [1,2] but tensor 1 has shape [2,2]; they must match except in dim 2")
    H.raises(function() local _ = oml.cat { a, oml.ones(2) } end, "oml.cat: tensor 2 has shape [2] but tensor 1")
    H.raises(function() local _ = oml.cat { a, oml.tensor(1) } end,
      "oml.cat: tensor 2 is 0-d; only tensors with dims can be concatenated")
    H.raises(function() local _ = oml.cat({ a }, 3) end, "oml.cat: dim 3 is out of range for a 2-d tensor")
    H.raises(function() local _ = oml.cat {} end, "oml.cat: expects a non-empty list of tensors")
    H.raises(function() local _ = oml.cat(a) end, "oml.cat: expects a list of tensors (got a tensor)")
    H.raises(function() local _ = oml.cat { a, 2 } end, "oml.cat: entry 2 of the list is a number, not a tensor")
    H.raises(function() local _ = oml.cat { a, require("oml.tensor").new() } end, "oml.cat: tensor 2 is an unset tensor")
  end)
end)

describe("stack", function()
  local a, b = oml.tensor { 1, 2, 3 }, oml.tensor { 4, 5, 6 }

  it("joins along a new dim", function()
    H.close(oml.stack { a, b }, { { 1, 2, 3 }, { 4, 5, 6 } })
    H.close(oml.stack({ a, b }, 2), { { 1, 4 }, { 2, 5 }, { 3, 6 } })
    H.close(oml.stack({ a, b }, -1), { { 1, 4 }, { 2, 5 }, { 3, 6 } })
    local m = oml.stack({ oml.ones(2, 3), oml.zeros(2, 3) }, 3)
    assert.same({ 2, 3, 2 }, m:size())
    H.close(m:select(3, 2), { { 0, 0, 0 }, { 0, 0, 0 } })
    H.close(oml.stack { oml.tensor(1), oml.tensor(2) }, { 1, 2 })
    assert.same({ 2, 0 }, oml.stack { oml.zeros(0), oml.zeros(0) }:size())
    assert.equal("float64", oml.stack({ a, b:double() }).dtype)
  end)

  it("raises on bad arguments", function()
    H.raises(function() local _ = oml.stack { a, oml.ones(4) } end,
      "oml.stack: expects tensors of one shape (got [3] at entry 1 and [4] at entry 2)")
    H.raises(function() local _ = oml.stack({ a, b }, 3) end, "oml.stack: dim 3 is out of range for a 1-d tensor")
    H.raises(function() local _ = oml.stack {} end, "oml.stack: expects a non-empty list of tensors")
  end)
end)

describe("split and chunk", function()
  local m = oml.arange(10):view(5, 2)

  it("split into views of one size, the last shorter", function()
    local parts = m:split(2)
    assert.same({ { 2, 2 }, { 2, 2 }, { 1, 2 } }, sizes(parts))
    H.close(parts[3], { { 8, 9 } })
    assert.same({ { 5, 1 }, { 5, 1 } }, sizes(m:split(1, 2)))
    assert.same({ { 5, 2 } }, sizes(m:split(7)))
    assert.same({ { 0 } }, sizes(oml.zeros(0):split(3)))
    assert.same({ { 0 } }, sizes(oml.zeros(0):split(0)))
  end)

  it("split into views of the given sizes", function()
    local parts = oml.split(m, { 1, 0, 4 })
    assert.same({ { 1, 2 }, { 0, 2 }, { 4, 2 } }, sizes(parts))
    H.close(parts[3], { { 2, 3 }, { 4, 5 }, { 6, 7 }, { 8, 9 } })
    parts[1]:fill(-1) -- views share the storage
    H.close(m:select(1, 1), { -1, -1 })
    m:select(1, 1):copy(oml.tensor { 0, 1 })
  end)

  it("chunk as PyTorch", function()
    assert.same({ { 2 }, { 2 }, { 1 } }, sizes(oml.arange(5):chunk(3)))
    assert.same({ { 2 }, { 2 }, { 2 } }, sizes(oml.arange(6):chunk(4)))
    assert.same({ { 0 }, { 0 }, { 0 } }, sizes(oml.zeros(0):chunk(3)))
    local cols = m:chunk(2, -1)
    H.close(cols[2], { { 1 }, { 3 }, { 5 }, { 7 }, { 9 } })
  end)

  it("raise on bad arguments", function()
    H.raises(function() local _ = m:split(0) end, "oml.split: the split size can only be 0 when dim 1 is empty (it has size 5)")
    H.raises(function() local _ = m:split(-1) end, "oml.split: the split size must be a non-negative integer (got -1)")
    H.raises(function() local _ = m:split { 2, 2 } end, "oml.split: the split sizes add up to 4 but dim 1 has size 5")
    H.raises(function() local _ = m:split { 2, 1.5 } end, "oml.split: split size 2 must be a non-negative integer (got 1.5)")
    H.raises(function() local _ = m:split("x") end, "oml.split: expects a split size or a list of sizes (got string)")
    H.raises(function() local _ = m:split(2, 3) end, "oml.split: dim 3 is out of range for a 2-d tensor")
    H.raises(function() local _ = oml.tensor(1):split(1) end, "oml.split: cannot split a 0-d tensor")
    H.raises(function() local _ = m:chunk(0) end, "oml.chunk: the number of chunks must be a positive integer (got 0)")
    H.raises(function() local _ = oml.tensor(1):chunk(1) end, "oml.chunk: cannot chunk a 0-d tensor")
  end)
end)

describe("cat at the int64 limit", function()
  it("refuses results longer than an int64 counts", function()
    local a = oml.zeros(1, "uint8"):expand(2 ^ 62)
    H.raises(function() local _ = oml.cat { a, a } end,
      "oml.cat: the result would have more than 9223372036854775807 elements along dim 1")
  end)
end)
