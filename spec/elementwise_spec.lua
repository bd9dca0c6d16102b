-- Elementwise ops: values, PyTorch's dtype promotion, broadcasting, views,
-- in-place variants and errors. Expected values are hand-computed; where a
-- comment names torch 1.13, the value was printed by it.
local oml = require "oml"
local H = require "helper"

local function t(data, dtype) return oml.tensor(data, dtype) end

describe("binary ops", function()
  it("compute values", function()
    local a, b = t { 1, 2, 3 }, t { 4, 5, 6 }
    H.close(a + b, { 5, 7, 9 })
    H.close(a - b, { -3, -3, -3 })
    H.close(a * b, { 4, 10, 18 })
    H.close(a / b, { 0.25, 0.4, 0.5 })
    H.close(a ^ b, { 1, 32, 729 })
    H.close(oml.minimum(a, t { 2, 2, 2 }), { 1, 2, 2 })
    H.close(oml.maximum(a, t { 2, 2, 2 }), { 2, 2, 3 })
    H.close(t { -7, 7 }:fmod(t { 3, -3 }), { -1, 1 }) -- C's fmod: the sign of the dividend
    H.close(-a, { -1, -2, -3 })
  end)

  it("take numbers on either side", function()
    local a = t { 1, 2, 4 }
    H.close(a + 1, { 2, 3, 5 })
    H.close(1 + a, { 2, 3, 5 })
    H.close(2 - a, { 1, 0, -2 })
    H.close(8 / a, { 8, 4, 2 })
    H.close(2 ^ a, { 2, 4, 16 })
    H.close(a * true, { 1, 2, 4 })
    H.close(a:add(t { 1, 1, 1 }, 10), { 11, 12, 14 })
    H.close(a:sub(1, 2), { -1, 0, 2 })
  end)

  it("compare into bool tensors", function()
    local a, b = t { 1, 2, 3 }, t { 3, 2, 1 }
    assert.same({ false, true, false }, a:eq(b):totable())
    assert.same({ true, false, true }, a:ne(b):totable())
    assert.same({ true, false, false }, a:lt(b):totable())
    assert.same({ true, true, false }, a:le(b):totable())
    assert.same({ false, false, true }, a:gt(b):totable())
    assert.same({ false, true, true }, a:ge(2):totable())
    assert.equal("bool", a:eq(b).dtype)
    assert.same({ false, true }, t({ true, true }):logical_and(t { false, true }):totable())
    assert.same({ true, false }, t({ true, false }):logical_or(t { 0, 0 }):totable())
  end)

  it("broadcast as NumPy does", function()
    local col, row = t { { 1 }, { 2 } }, t { 10, 20, 30 }
    local s = col + row
    assert.same({ 2, 3 }, s:size())
    H.close(s, { { 11, 21, 31 }, { 12, 22, 32 } })
    H.close(oml.zeros(2, 1, 3) + t { { 1 }, { 2 } }, { { { 1, 1, 1 }, { 2, 2, 2 } }, { { 1, 1, 1 }, { 2, 2, 2 } } })
    H.close(t(5) * t { 1, 2 }, { 5, 10 }) -- 0-d with 1-d
    H.raises(function() local _ = t { 1, 2, 3 } + t { 1, 2 } end,
      "oml.add: shapes [3] and [2] cannot be broadcast together")
  end)

  it("work on non-contiguous views", function()
    local m = oml.arange(6):view(2, 3):double()
    local tr = m:t()
    H.close(tr + tr, { { 0, 6 }, { 2, 8 }, { 4, 10 } })
    H.close(m:narrow(2, 2, 2) * m:select(2, 1):unsqueeze(2), { { 0, 0 }, { 12, 15 } })
    local e = t({ 1, 2 }):expand(3, 2)
    H.close(e + 0, { { 1, 2 }, { 1, 2 }, { 1, 2 } })
  end)

  it("handle empty tensors", function()
    local e = oml.zeros(0, 3)
    assert.same({ 0, 3 }, (e + 1):size())
    assert.same({ 0, 3 }, (e * t { 1, 2, 3 }):size())
    assert.same({ 0 }, oml.zeros(0):exp():size())
  end)

  it("promote dtypes as PyTorch", function()
    assert.equal("int32", (t({ 1 }, "uint8") + t({ 1 }, "int32")).dtype)
    assert.equal("int64", (t({ 1 }, "int32") + t({ 1 }, "int64")).dtype)
    assert.equal("float32", (t({ 1 }, "int64") + t { 1 }).dtype)
    assert.equal("float64", (t({ 1 }, "float32") + t({ 1 }, "float64")).dtype)
    -- numbers are weak: they keep the tensor's dtype unless fractional
    assert.equal("int32", (t({ 1 }, "int32") + 2).dtype)
    assert.equal("float32", (t({ 1 }, "int32") + 2.5).dtype)
    assert.equal("float32", (t({ 1 }, "float32") + 1e10).dtype)
    assert.equal("int64", (t({ true }) + 1).dtype)
    -- torch 1.13: torch.tensor([1, 2]) / torch.tensor([2, 4]) -> float32 [0.5, 0.5]
    local q = t({ 1, 2 }, "int64") / t({ 2, 4 }, "int64")
    assert.equal("float32", q.dtype)
    H.close(q, { 0.5, 0.5 })
    -- torch 1.13: torch.tensor([True, False]) + torch.tensor([True, True]) -> [True, True]
    local b = t { true, false } + t { true, true }
    assert.equal("bool", b.dtype)
    assert.same({ true, true }, b:totable())
  end)

  it("do integer arithmetic exactly and wrap around like PyTorch", function()
    H.close(t({ 2, 3 }, "int64") ^ t({ 3, 2 }, "int64"), { 8, 9 })
    assert.equal("int64", (t({ 2 }, "int64") ^ 2).dtype)
    H.close(t({ -7, 7 }, "int32"):fmod(t({ 3, -3 }, "int32")), { -1, 1 })
    assert.same({ -2147483648 }, (t({ 2147483647 }, "int32") + 1):totable())
    assert.same({ 4 }, (t({ 250 }, "uint8") + 10):totable())
  end)

  it("report integer errors instead of trapping", function()
    H.raises(function() local _ = t({ 1 }, "int32"):fmod(t({ 0 }, "int32")) end, "oml.fmod: integer division by zero")
    H.raises(function() local _ = t({ 2 }, "int64") ^ -1 end,
      "oml.pow: integers cannot be raised to negative integer powers")
    H.close(t({ 1, -1 }, "int64") ^ -1, { 1, -1 })
    H.raises(function() local _ = t({ 1 }, "uint8") + 300 end, "oml.add: 300 is out of range for uint8")
    H.raises(function() local _ = t { true } - t { false } end, "oml.sub: subtraction is not defined for bool")
  end)

  it("follow IEEE rules for NaN and infinities", function()
    local nan = 0 / 0
    -- torch 1.13: torch.minimum(tensor([1, nan]), tensor([nan, 0])) -> [nan, nan]
    H.close(oml.minimum(t { 1, nan }, t { nan, 0 }), { nan, nan })
    H.close(oml.maximum(t { 1, nan }, t { nan, 0 }), { nan, nan })
    H.close(t { 1, -1, 0 } / 0, { math.huge, -math.huge, nan })
    assert.same({ false }, t({ nan }):eq(t { nan }):totable())
  end)

  it("have in-place twins that write into self", function()
    local a = t { 1, 2, 3 }
    assert.equal(a, a:add_(1))
    H.close(a, { 2, 3, 4 })
    a:mul_(t { 2, 2, 2 })
    H.close(a, { 4, 6, 8 })
    local v = oml.zeros(2, 2)
    v:select(1, 2):add_(5) -- through a view
    H.close(v, { { 0, 0 }, { 5, 5 } })
    local i = t({ 1, 2 }, "int32")
    i:add_(t({ 3, 4 }, "int64")) -- an int64 result cast into int32 is allowed
    assert.same({ 4, 6 }, i:totable())
    H.raises(function() i:add_(0.5) end, "oml.add_: a float32 result cannot be written into a int32 output")
    H.raises(function() oml.zeros(3):add_(oml.zeros(2, 3)) end,
      "oml.add_: the output has shape [3] but the result has shape [2,3]")
  end)

  it("reject what is not a tensor or a number", function()
    H.raises(function() local _ = t { 1 } + "x" end, "oml.add: expected tensors or numbers (got tensor and string)")
    H.raises(function() local _ = t { 1 } % 2 end, "oml.Tensor: % is not defined for tensors")
    H.raises(function() local _ = t({ 1 }, "float16") + 1 end,
      "oml.add: the input is float16, a storage-only dtype; convert it to float32 first")
  end)
end)

describe("integral scalars beyond 2^53", function()
  it("keep int64 arithmetic: an int64 holds them", function()
    local a = t({ 1, 2 }, "int64"):add(2 ^ 60)
    assert.equal("int64", a.dtype)
    assert.same({ 1, 2 }, a:sub(2 ^ 60):totable())
    assert.equal("float32", t({ 1 }, "int64"):add(2 ^ 63).dtype) -- beyond int64: a float
  end)
end)

describe("unary ops", function()
  it("compute values against float64 references", function()
    local x = { -2, -0.5, 0.25, 1, 3 }
    local a = t(x, "float64")
    local function each(f) local r = {} for i, v in ipairs(x) do r[i] = f(v) end return r end
    H.close(a:abs(), each(math.abs), 1e-15)
    H.close(a:exp(), each(math.exp), 1e-15)
    H.close(a:tanh(), each(function(v) return (math.exp(v) - math.exp(-v)) / (math.exp(v) + math.exp(-v)) end), 1e-15)
    H.close(a:sigmoid(), each(function(v) return 1 / (1 + math.exp(-v)) end), 1e-15)
    H.close(a:sin(), each(math.sin), 1e-15)
    H.close(a:cos(), each(math.cos), 1e-15)
    H.close(a:square(), each(function(v) return v * v end), 0)
    H.close(a:reciprocal(), each(function(v) return 1 / v end), 1e-15)
    H.close(a:floor(), each(math.floor), 0)
    H.close(a:ceil(), each(math.ceil), 0)
    H.close(a:trunc(), { -2, -0, 0, 1, 3 }, 0)
    H.close(a:sign(), { -1, -1, 1, 1, 1 }, 0)
    local p = t({ 0.25, 1, 4 }, "float64")
    H.close(p:sqrt(), { 0.5, 1, 2 }, 0)
    H.close(p:rsqrt(), { 2, 1, 0.5 }, 1e-15)
    H.close(p:log(), { math.log(0.25), 0, math.log(4) }, 1e-15)
    H.close(t({ 1e-10 }, "float64"):log1p(), { 9.9999999995e-11 }, 1e-12)
    H.close(t({ 1e-10 }, "float64"):expm1(), { 1.00000000005e-10 }, 1e-12)
    -- torch 1.13: torch.erf(torch.tensor([0.5], dtype=torch.float64))
    H.close(t({ 0.5 }, "float64"):erf(), { 0.5204998778130465 }, 1e-15)
    -- round half to even, as torch.round
    H.close(t { 0.5, -0.5, 1.5, 2.5 }:round(), { 0, -0, 2, 2 }, 0)
    assert.same({ true, false, false }, t({ 0, 1, -2 }):logical_not():totable())
  end)

  it("agree in float32 with the float64 result", function()
    local x = oml.linspace(-5, 5, 101)
    for _, op in ipairs { "exp", "tanh", "sigmoid", "erf", "sin", "cos", "abs" } do
      H.close(x[op](x), x:double()[op](x:double()), 1e-6)
    end
  end)

  it("compute float32 exp within 1 ulp of the rounded exact value, over its whole range", function()
    local x = oml.linspace(-110, 88.7, 400001)
    local exact = x:double():exp():float():double() -- e^x in float64, rounded to float32
    local ulp = (exact:abs() * 2 ^ -23):clamp(2 ^ -149)
    assert.is_true(((x:exp():double() - exact):abs() / ulp):amax():item() <= 1)
    H.close(oml.tensor { 0 / 0, math.huge, -math.huge, 0, 89, -104 }:exp(), { 0 / 0, math.huge, 0, 1, math.huge, 0 }, 0)
  end)

  it("promote integers to float32 for math, keep them for the rest", function()
    local i = t({ -3, 3 }, "int64")
    assert.equal("float32", i:exp().dtype)
    assert.equal("int64", i:abs().dtype)
    assert.same({ 3, 3 }, i:abs():totable())
    assert.same({ 3, -3 }, i:neg():totable())
    assert.same({ 9, 9 }, i:square():totable())
    assert.same({ -3, 3 }, i:floor():totable())
    H.raises(function() local _ = t({ true }):neg() end, "oml.neg: this op is not defined for bool tensors")
  end)

  it("work in place on views", function()
    local m = oml.ones(2, 3)
    m:narrow(2, 1, 2):mul_(4):sqrt_()
    H.close(m, { { 2, 2, 1 }, { 2, 2, 1 } })
  end)
end)

describe("clamp and where", function()
  it("clamp with one or two bounds", function()
    local a = t { -2, 0.5, 3 }
    H.close(a:clamp(0, 1), { 0, 0.5, 1 })
    H.close(a:clamp(0), { 0, 0.5, 3 })
    H.close(a:clamp(nil, 1), { -2, 0.5, 1 })
    H.close(t({ -5, 5, 300 }, "int32"):clamp(-1.5, 4.5), { -1, 4, 4 })
    assert.same({ 0, 255 }, t({ 0, 255 }, "uint8"):clamp(-10, 1000):totable())
    H.close(t({ 0 / 0 }):clamp(0, 1), { 0 / 0 })
    -- integer bounds round inwards; when they cross, the upper one wins, as torch.clamp with min > max
    assert.same({ 0, 0, 0 }, t({ 0, 1, 5 }, "int64"):clamp(0.5, 0.7):totable())
    a:clamp_(-1, 1)
    H.close(a, { -1, 0.5, 1 })
    H.raises(function() local _ = a:clamp(2, 1) end, "oml.clamp: the lower bound 2 is above the upper bound 1")
    H.raises(function() local _ = a:clamp("x") end, "oml.clamp: bounds must be numbers or nil")
  end)

  it("where picks from either side with broadcasting and promotion", function()
    local c = t { true, false, true }
    H.close(oml.where(c, t { 1, 2, 3 }, t { -1, -2, -3 }), { 1, -2, 3 })
    H.close(oml.where(c, t { 1, 2, 3 }, 0), { 1, 0, 3 })
    -- a number operand beside a number: int64 for integers, float32 otherwise (inf is no integer)
    assert.equal("int64", oml.where(c, 1, 0).dtype)
    assert.equal("float32", oml.where(c, math.huge, 0).dtype)
    H.close(oml.where(c, math.huge, 0), { math.huge, 0, math.huge })
    local r = oml.where(t { { true }, { false } }, t({ 1, 2 }, "int32"), t({ 0.5 }, "float64"))
    assert.equal("float64", r.dtype)
    H.close(r, { { 1, 2 }, { 0.5, 0.5 } })
    H.raises(function() local _ = oml.where(t { 1, 0 }, t { 1, 2 }, 0) end,
      "oml.where: the condition must be a bool tensor (got float32)")
  end)
end)

describe("large inputs", function()
  it("give the same result on the parallel path as on one thread", function()
    local n = 300000
    local a = oml.arange(n):double() / n
    local b = a:exp() * a + 1
    local p = b:data()
    for _, i in ipairs { 0, 1, 40000, 150000, n - 1 } do
      local x = i / n
      assert.is_true(math.abs(p[i] - (math.exp(x) * x + 1)) < 1e-12)
    end
    oml.set_num_threads(1)
    local c = a:exp() * a + 1
    oml.set_num_threads(2)
    assert.is_true((c:eq(b)):logical_not():any():item() == false)
  end)
end)

describe("overlapping memory", function()
  it("reads inputs that share memory with the output as they were", function()
    local a = oml.arange(1, 5):view(2, 2):double()
    a:add_(a:t()) -- PyTorch refuses this; oml reads a:t() from a copy
    H.close(a, { { 2, 5 }, { 5, 8 } })
    local r = oml.arange(1, 5):double()
    r:narrow(1, 2, 3):copy(r:narrow(1, 1, 3)) -- a shifted self-copy
    H.close(r, { 1, 1, 2, 3 })
    local m = oml.arange(1, 5):view(2, 2):double()
    m:mul_(m:select(1, 1)) -- a row broadcast from the output itself
    H.close(m, { { 1, 4 }, { 3, 8 } })
  end)
end)

describe("outputs", function()
  it("refuse expanded views whose elements share memory", function()
    local e = oml.zeros(1):expand(3)
    H.raises(function() e:add_(1) end, "oml.add_: the output is an expanded view whose elements share memory")
  end)

  it("accept empty tensors, whose contiguous strides may be 0", function()
    local z = oml.zeros(3, 0) -- strides {0, 1}
    assert.same({ 3, 0 }, z:add_(1):size())
    assert.same({ 3, 0 }, z:fill_(2):size())
    assert.same({ 3, 0 }, z:copy(oml.ones(3, 0)):size())
  end)

  it("are left as they were when an integer op fails midway", function()
    local a = t({ 5, 6, 7 }, "int32")
    H.raises(function() a:fmod_(t({ 2, 0, 4 }, "int32")) end, "oml.fmod_: integer division by zero")
    assert.same({ 5, 6, 7 }, a:totable())
    local b = t({ 2, 3, 4 }, "int64")
    H.raises(function() b:pow_(t({ 2, -1, 2 }, "int64")) end,
      "oml.pow_: integers cannot be raised to negative integer powers")
    assert.same({ 2, 3, 4 }, b:totable())
    assert.same({ 1, 0, 3 }, a:fmod_(t({ 2, 3, 4 }, "int32")):totable())
  end)
end)
