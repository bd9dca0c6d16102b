-- Element-wise ops, activations, softmax and random fills on cuda:0: parity
-- with the CPU. Tagged gpu; pending where no GPU is present. Integer, bool
-- and comparison results and random numbers must be equal; float math
-- within 1e-5 (float32) or 1e-12 (float64) relative.
local oml = require "oml"
local H = require "helper"
local G = require "gpu_helper"
local gpu_describe, same = G.describe, G.same
local F = require "oml.nn.functional"
local C = require("oml.capi").C

local DEVICE = G.device
local DEVICE_NAME = DEVICE == "cpu" and "cpu" or "cuda:0"


local FLOATS = { "float32", "float64" }
local TOL = { float32 = 1e-5, float64 = 1e-12 }

-- n deterministic values in [-scale, scale] with the special values up front.
local function values(n, dtype, scale)
  local t = oml.arange(n):double():mul(0.7131):sin():mul(scale or 4)
  if dtype == "float32" or dtype == "float64" then
    local special = { 0 / 0, 1 / 0, -1 / 0, 0, -0.0, 0.5, -0.5, 1.5, -2.5, 1e-30 }
    for i = 1, math.min(n, #special) do t[i] = special[i] end
    return t:to { dtype = dtype }
  end
  if dtype == "bool" then return t:gt(0) end
  if dtype == "uint8" then return t:abs():mul(60):to { dtype = "uint8" } end
  return t:mul(1000):to { dtype = dtype }
end

local UNARY = { "neg", "abs", "sign", "exp", "log", "sqrt", "rsqrt", "square", "reciprocal", "tanh", "sigmoid",
  "erf", "log1p", "expm1", "sin", "cos", "floor", "ceil", "round", "trunc", "logical_not" }
local KEEPS_INTEGERS = { neg = true, abs = true, sign = true, square = true, floor = true, ceil = true,
  round = true, trunc = true, logical_not = true }
local ARITHMETIC = { "add", "sub", "mul", "div", "pow", "fmod", "minimum", "maximum" }
local COMPARISONS = { "eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or" }

-- Runs fn on the CPU and on the device; both must raise an error with text.
local function both_raise(fn, args, text)
  H.raises(function() fn(unpack(args)) end, text)
  H.raises(function() fn(unpack(G.to_device(args, DEVICE))) end, text)
end

gpu_describe("element-wise ops on cuda", function()
  it("apply every unary op to every dtype", function()
    for _, dtype in ipairs { "float32", "float64", "int32", "int64", "uint8", "bool" } do
      local a = values(1001, dtype)
      for _, op in ipairs(UNARY) do
        local integral = dtype ~= "float32" and dtype ~= "float64" and KEEPS_INTEGERS[op]
        if dtype == "bool" and (op == "neg" or op == "sign" or op == "square") then
          both_raise(function(x) return x[op](x) end, { a }, "not defined for bool")
        else
          same(function(x) return x[op](x) end, { a }, integral and 0 or TOL[dtype] or 1e-5)
        end
      end
    end
  end)

  it("read and write non-contiguous views, in place too", function()
    for _, dtype in ipairs(FLOATS) do
      local a = values(37 * 53, dtype):view(37, 53)
      same(function(x) return x:t():exp() end, { a }, TOL[dtype])
      same(function(x) return x:narrow(2, 3, 40):sigmoid() end, { a }, TOL[dtype])
      same(function(x)
        local y = x:clone()
        y:t():narrow(1, 2, 30):tanh_() -- written through a strided view
        y:narrow(1, 1, 20):add_(y:narrow(1, 11, 20)) -- overlapping operands
        return y
      end, { a }, TOL[dtype])
    end
  end)

  it("apply every binary op to every dtype, with broadcasting", function()
    for _, dtype in ipairs { "float32", "float64", "int32", "int64", "uint8", "bool" } do
      local a, b = values(37, dtype):view(37, 1), values(53, dtype, 3):view(1, 53)
      if dtype ~= "float32" and dtype ~= "float64" and dtype ~= "bool" then
        b = b:clamp(1, 7) -- integer pow and fmod need positive right operands
      end
      for _, op in ipairs(ARITHMETIC) do
        if dtype == "bool" and op == "sub" then
          both_raise(function(x, y) return x[op](x, y) end, { a, b }, "not defined for bool")
        elseif dtype == "bool" and op == "fmod" then -- false is a zero divisor
          both_raise(function(x, y) return x[op](x, y) end, { a, b }, "integer division by zero")
        else
          local float = dtype == "float32" or dtype == "float64" or op == "div"
          same(function(x, y) return x[op](x, y) end, { a, b }, float and (TOL[dtype] or 1e-5) or 0)
        end
      end
      for _, op in ipairs(COMPARISONS) do
        same(function(x, y) return x[op](x, y) end, { a, b }, 0)
        same(function(x, y) return x[op](x:t(), y:t()) end, { a, b }, 0)
      end
    end
  end)

  it("mix dtypes and scalars as the CPU does", function()
    local f, i, u, b = values(60, "float32"), values(60, "int32"), values(60, "uint8"), values(60, "bool")
    local d = values(60, "float64")
    same(function(x, y) return x + y end, { f, i }, 1e-5)
    same(function(x, y) return x * y end, { d, u }, 1e-12)
    same(function(x, y) return x - y end, { i, u }, 0)
    same(function(x) return x + 3, 3 - x, x / 2.5, x * -2 end, { f }, 1e-5)
    same(function(x) return x * 2, x / 2, x + 0.5, x:fmod(7), x ^ 2, 2 ^ x:clamp(0, 20) end, { i }, 0)
    same(function(x) return x + 1, x:eq(1), x * 2.5, x:logical_or(0) end, { b }, 0)
    same(function(x) return x + 200, x:minimum(17), x:maximum(250) end, { u }, 0)
  end)

  it("keep integer division, overflow and NaN semantics", function()
    local a = oml.tensor({ 7, -7, 7, -7, 0, 2147483647, -2147483648, 5 }, "int32")
    local b = oml.tensor({ 3, 3, -3, -3, 5, 1, -1, -1 }, "int32")
    same(function(x, y) return x:fmod(y), x + y, x * y, x - y, x:neg(), x:abs(), x:square() end, { a, b }, 0)
    same(function(x, y) return x:fmod(y), x * y end, { a:to { dtype = "int64" }, b:to { dtype = "int64" } }, 0)
    same(function(x) return x:pow(3), x:pow(0), x:neg(), x + 100 end, { oml.tensor({ 0, 1, 2, 3, 200 }, "uint8") }, 0)
    local m = oml.tensor { 0 / 0, 1, -1, 1 / 0 }
    local n = oml.tensor { 1, 0 / 0, -2, -1 / 0 }
    same(function(x, y) return x:minimum(y), x:maximum(y), x:lt(y), x:ne(y), x:fmod(y), x:pow(y) end, { m, n })
  end)

  it("fail integer pow and fmod as the CPU does, leaving the output as it was", function()
    local a, zero = oml.tensor({ 1, 2, 3 }, "int64"), oml.tensor({ 1, 0, 2 }, "int64")
    both_raise(function(x, y) return x:fmod(y) end, { a, zero }, "integer division by zero")
    both_raise(function(x) return x:pow(-1) end, { a + 1 }, "integers cannot be raised to negative integer powers")
    local g = a:to { device = DEVICE }
    H.raises(function() g:fmod_(zero:to { device = DEVICE }) end, "integer division by zero")
    assert.same({ 1, 2, 3 }, g:cpu():totable())
  end)

  it("clamp every dtype and select with where", function()
    for _, dtype in ipairs { "float32", "float64", "int32", "int64", "uint8" } do
      local a = values(1001, dtype)
      same(function(x) return x:clamp(-2.5, 3.5), x:clamp(nil, 1), x:clamp(0.5, 0.7), x:view(7, 143):t():clamp(2) end,
        { a }, 0)
    end
    for _, dtype in ipairs { "float32", "float64", "int32", "int64", "uint8", "bool" } do
      local a, b = values(5 * 7, dtype):view(5, 7), values(7, dtype, 2):view(1, 7)
      local cond = values(5, "float64"):view(5, 1):gt(0)
      same(function(c, x, y) return oml.where(c, x, y), oml.where(c:t():t(), y, x:t():t()) end, { cond, a, b }, 0)
      same(function(c, x) return oml.where(c, x, 1), oml.where(c, 0, x) end, { cond, a }, 0)
    end
    same(function(c, x, y) return oml.where(c, x, y) end,
      { values(4, "bool"), values(4, "int32"), values(4, "float64") }, 0)
  end)

  it("handle empty tensors and sizes that need many blocks", function()
    local e = oml.empty(0, 5)
    same(function(x) return x:exp(), x + x, x:clamp(0, 1), x:lt(x), oml.where(x:gt(0), x, x) end, { e }, 0)
    local n = 1000003 -- no multiple of the block size; thousands of blocks
    local a, b = values(n, "float32"), values(n, "float32", 3)
    same(function(x, y) return x + y, x:exp(), x:gt(y), oml.where(x:gt(y), x, y), x:clamp(-1, 1) end, { a, b })
    local i = values(n, "int64")
    same(function(x) return x:fmod(7), x * x end, { i }, 0)
  end)

  it("refuse operands on different devices", function()
    local g, c = oml.ones(3, { device = DEVICE }), oml.ones(3)
    H.raises(function() local _ = g + c end, "tensors are on different devices (cuda:0 and cpu)")
    H.raises(function() local _ = c:lt(g) end, "tensors are on different devices (cpu and cuda:0)")
    H.raises(function() local _ = oml.where(c:gt(0), g, g) end, "on different devices")
    H.raises(function() local _ = oml.where(g:gt(0), g, c) end, "on different devices")
    H.raises(function() g:add_(c) end, "on different devices")
    H.raises(function() c:add_(g) end, "on different devices")
  end)
end)

gpu_describe("activations and softmax on cuda", function()
  local ACTIVATIONS = {
    { "relu", F.relu, F.relu_backward },
    { "gelu", F.gelu, F.gelu_backward },
    { "gelu tanh", function(x) return F.gelu(x, "tanh") end, function(x, g) return F.gelu_backward(x, g, "tanh") end },
  }

  it("run every activation forward and backward", function()
    for _, dtype in ipairs(FLOATS) do
      local x, g = values(301 * 7, dtype, 6):view(301, 7), values(301 * 7, dtype, 2):view(301, 7)
      for _, act in ipairs(ACTIVATIONS) do
        local fwd, bwd = act[2], act[3]
        same(function(a, b) return fwd(a), bwd(a, b), fwd(a:t()), bwd(a:t(), b:t()) end, { x, g }, TOL[dtype])
        same(function(a) return fwd(a:narrow(1, 1, 0)) end, { x }, 0)
      end
    end
    local big = values(200003, "float32", 6)
    same(function(a) return F.gelu(a), F.gelu_backward(a, a) end, { big })
  end)

  it("run softmax and log-softmax along every dim, forward and backward", function()
    for _, dtype in ipairs(FLOATS) do
      -- lines of 7, 300 (more than a block's threads) and 5 elements
      local x, g = values(7 * 300 * 5, dtype, 8):view(7, 300, 5), values(7 * 300 * 5, dtype, 1):view(7, 300, 5)
      x[1][1][2] = -1 / 0 -- a masked entry
      for dim = 1, 3 do
        same(function(a, b)
          local y, ly = F.softmax(a, dim), F.log_softmax(a, dim)
          return y, ly, F.softmax_backward(y, b, dim), F.log_softmax_backward(ly, b, dim)
        end, { x, g }, TOL[dtype])
        same(function(a) return F.softmax(a:transpose(1, 3), dim), F.log_softmax(a:narrow(2, 2, 9), dim) end,
          { x }, TOL[dtype])
      end
    end
  end)

  it("softmax long lines, many short lines, NaN, 0-d and empty tensors", function()
    same(function(a) return F.softmax(a, 2), F.log_softmax(a, 2) end, { values(3 * 5000, "float32"):view(3, 5000) })
    same(function(a) return F.softmax(a, 2), F.softmax(a, 1) end, { values(20000 * 3, "float64"):view(20000, 3) },
      1e-12)
    local nan = oml.tensor { { 1, 0 / 0, 2 }, { 1, 2, 3 }, { -1 / 0, -1 / 0, -1 / 0 } }
    same(function(a) return F.softmax(a, 2), F.log_softmax(a, 2) end, { nan })
    same(function(a) return F.softmax(a, 1), F.log_softmax(a, 1) end, { oml.tensor(2.5) })
    same(function(a) return F.softmax(a, 1), F.softmax(a, 2) end, { oml.empty(0, 4) })
  end)

  it("refuse operands on different devices", function()
    local x = oml.ones(2, 3, { device = DEVICE })
    H.raises(function() local _ = F.relu_backward(x, oml.ones(2, 3)) end, "on different devices")
    H.raises(function() local _ = F.softmax_backward(x, oml.ones(2, 3), 2) end, "on different devices")
  end)
end)

gpu_describe("random fills on cuda", function()
  -- fn(device, generator) on the CPU and on the device from equal
  -- generators; the numbers and the generators' states afterwards must agree.
  local function same_stream(fn, tol)
    local gc, gg = oml.Generator(2024), oml.Generator(2024)
    local cpu = { fn("cpu", gc) }
    local gpu = { fn(DEVICE, gg) }
    assert.equal(tostring(gc), tostring(gg))
    for k, t in ipairs(cpu) do
      assert.equal(DEVICE_NAME, gpu[k].device)
      assert.equal(t.dtype, gpu[k].dtype)
      H.close(gpu[k]:cpu(), t, tol or 0, "result " .. k)
    end
  end

  it("draw uniforms exactly as the CPU", function()
    for _, dtype in ipairs(FLOATS) do
      same_stream(function(device, g)
        local opts = { dtype = dtype, device = device, generator = g }
        return oml.rand(1, opts), oml.rand(1001, opts), oml.rand(3, 7, opts),
          oml.empty(13, 9, { dtype = dtype, device = device }):uniform_(-2, 3, g)
      end)
    end
  end)

  -- Box-Muller goes through log, sin and cos, whose last bit may differ
  -- between glibc and CUDA's libdevice: normals agree to an ulp or so.
  it("draw normals as the CPU", function()
    same_stream(function(device, g)
      return oml.randn(1001, { device = device, generator = g }),
        oml.empty(5, 3, { device = device }):normal_(2, 0.5, g)
    end, 1e-6)
    same_stream(function(device, g)
      return oml.randn(1001, { dtype = "float64", device = device, generator = g }),
        oml.empty(5, 3, { dtype = "float64", device = device }):normal_(-1, 3, g)
    end, 1e-12)
  end)

  it("draw integers and coin flips of every dtype exactly as the CPU", function()
    for _, dtype in ipairs { "float32", "float64", "int32", "int64", "uint8", "bool" } do
      same_stream(function(device, g)
        local high = dtype == "bool" and 2 or 100
        return oml.randint(0, high, { 1001 }, { dtype = dtype, device = device, generator = g }),
          oml.empty(7, 3, { dtype = dtype, device = device }):random_(high, g),
          oml.empty(1001, { dtype = dtype, device = device }):bernoulli_(0.3, g),
          oml.empty(3, { dtype = dtype, device = device }):bernoulli_(1, g)
      end)
    end
    same_stream(function(device, g)
      local opts = { device = device, generator = g }
      return oml.randint(-2 ^ 62, 2 ^ 62, { 501 }, opts), oml.randint(-5, 5, { 11 }, opts)
    end)
  end)

  it("fill non-contiguous views, large tensors and the default generator", function()
    same_stream(function(device, g)
      local t = oml.zeros(9, 11, { device = device })
      t:t():narrow(1, 2, 5):uniform_(0, 1, g)
      local u = oml.zeros(6, 4, { dtype = "int32", device = device })
      u:t():random_(-3, 4, g)
      return t, u, oml.rand(200003, { device = device, generator = g }),
        oml.empty(0, { device = device }):bernoulli_(0.5, g)
    end)
    local function from_default(device)
      oml.manual_seed(99)
      return oml.rand(1001, { device = device }), oml.randint(0, 10, { 33 }, { device = device })
    end
    local c1, c2 = from_default("cpu")
    local g1, g2 = from_default(DEVICE)
    H.close(g1:cpu(), c1, 0)
    H.close(g2:cpu(), c2, 0)
  end)

  it("write permutations into a device tensor", function()
    for _, dtype in ipairs { "int64", "int32", "float64" } do
      local gc, gg = oml.Generator(7), oml.Generator(7)
      local cpu = oml.randperm(1000, { dtype = dtype, generator = gc })
      local out = oml.empty(1000, { dtype = dtype, device = DEVICE })
      assert.equal(0, C.oml_randperm(out, gg, 1000, C["OML_" .. dtype:upper()]))
      assert.equal(DEVICE_NAME, out.device)
      H.close(out:cpu(), cpu, 0)
      assert.equal(tostring(gc), tostring(gg))
    end
  end)
end)
