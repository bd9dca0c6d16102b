-- spec/reduce_spec.lua: reductions, max/min with indices, argmax/argmin,
-- cumsum/cumprod. Expected values are worked out by hand, or computed here
-- in float64 by a plain Lua reference (`ref` below) from the very values the
-- tensor holds; where PyTorch's behaviour is the reference, the comment says
-- which torch 1.13 call gave it.
local ffi = require "ffi"
local oml = require "oml"
local T = require "oml.tensor"
local H = require "helper"

local C = T.C
local inf, nan = math.huge, 0 / 0

-- ---- a float64 reference -----------------------------------------------------

-- The values of t in row-major order (bools as 0/1), and its sizes.
local function values_of(t)
  local shape, vals = t:size(), {}
  local function walk(node, depth)
    if depth > #shape then
      vals[#vals + 1] = node == true and 1 or node == false and 0 or node
    else
      for i = 1, #node do walk(node[i], depth + 1) end
    end
  end
  walk(t:totable(), 1)
  return vals, shape
end

-- f applied to the values of each output of reducing t over dims (nil: all;
-- a number or a list, 1-based or negative), nested in the result's shape.
local function ref(t, dims, keepdim, f)
  local vals, shape = values_of(t)
  local nd, reduced = #shape, {}
  if dims == nil then
    for d = 1, math.max(nd, 1) do reduced[d] = true end
  else
    for _, d in ipairs(type(dims) == "table" and dims or { dims }) do reduced[d < 0 and d + nd + 1 or d] = true end
  end
  local out_shape, nout = {}, 1
  for d = 1, nd do
    if not reduced[d] then
      out_shape[#out_shape + 1] = shape[d]
      nout = nout * shape[d]
    elseif keepdim then
      out_shape[#out_shape + 1] = 1
    end
  end
  local groups, idx = {}, {}
  for o = 1, nout do groups[o] = {} end
  for d = 1, nd do idx[d] = 1 end
  for _, v in ipairs(vals) do
    local o = 0
    for d = 1, nd do if not reduced[d] then o = o * shape[d] + idx[d] - 1 end end
    table.insert(groups[o + 1], v)
    for d = nd, 1, -1 do
      idx[d] = idx[d] + 1
      if idx[d] <= shape[d] then break end
      idx[d] = 1
    end
  end
  local results = {}
  for o = 1, nout do results[o] = f(groups[o]) end
  if #out_shape == 0 then return results[1] end
  local pos = 0
  local function nest(depth)
    local out = {}
    for i = 1, out_shape[depth] do
      if depth == #out_shape then
        pos = pos + 1
        out[i] = results[pos]
      else
        out[i] = nest(depth + 1)
      end
    end
    return out
  end
  return nest(1)
end

local R = {}
function R.sum(v) local s = 0 for _, x in ipairs(v) do s = s + x end return s end
function R.mean(v) return R.sum(v) / #v end
function R.prod(v) local s = 1 for _, x in ipairs(v) do s = s * x end return s end
function R.amax(v)
  local m = -inf
  for _, x in ipairs(v) do
    if x ~= x then return x end
    if x > m then m = x end
  end
  return m
end
function R.amin(v)
  local m = inf
  for _, x in ipairs(v) do
    if x ~= x then return x end
    if x < m then m = x end
  end
  return m
end
function R.all(v) for _, x in ipairs(v) do if x == 0 then return false end end return true end
function R.any(v) for _, x in ipairs(v) do if x ~= 0 then return true end end return false end
function R.logsumexp(v)
  local m = R.amax(v)
  if m ~= m or m == inf or m == -inf then return m end
  local s = 0
  for _, x in ipairs(v) do s = s + math.exp(x - m) end
  return math.log(s) + m
end
function R.var(correction, take_sqrt)
  return function(v)
    local mu, s = R.mean(v), 0
    for _, x in ipairs(v) do s = s + (x - mu) ^ 2 end
    local r = s / math.max(#v - correction, 0)
    return take_sqrt and math.sqrt(r) or r
  end
end
function R.norm(p)
  return function(v)
    local s = 0
    if p == inf then
      for _, x in ipairs(v) do s = math.max(s, math.abs(x)) end
      return s
    elseif p == -inf then
      s = inf
      for _, x in ipairs(v) do s = math.min(s, math.abs(x)) end
      return s
    elseif p == 0 then
      for _, x in ipairs(v) do if x ~= 0 then s = s + 1 end end
      return s
    end
    for _, x in ipairs(v) do s = s + math.abs(x) ^ p end
    return s ^ (1 / p)
  end
end

-- Deterministic values in [-2, 2) (a Lehmer generator), as a float32 tensor
-- of the given shape (or the dtype given).
local function sample(shape, seed, dtype)
  local n, x, vals = 1, seed, {}
  for _, s in ipairs(shape) do n = n * s end
  for i = 1, n do
    x = x * 16807 % 2147483647
    vals[i] = x / 2147483647 * 4 - 2
  end
  return oml.tensor(vals, dtype or "float32"):view(shape)
end

local ALL_DIMS = { 1, 2, 3, { 1, 2 }, { 1, 3 }, { 2, 3 }, { 3, 1 }, { -1, 1, 2 } }

-- Checks every op against the reference over every dim choice, with and
-- without keepdim.
local function check_all_ops(t, tol)
  local ops = { "sum", "mean", "prod", "amax", "amin", "logsumexp" }
  for _, op in ipairs(ops) do
    for _, keepdim in ipairs { false, true } do
      H.close(t[op](t, nil, keepdim), ref(t, nil, keepdim, R[op]), tol)
      for _, dims in ipairs(ALL_DIMS) do
        H.close(t[op](t, dims, keepdim), ref(t, dims, keepdim, R[op]), tol)
      end
    end
  end
  for _, dims in ipairs(ALL_DIMS) do
    H.close(t:var(dims), ref(t, dims, false, R.var(1)), tol)
    H.close(t:std(dims, { correction = 0, keepdim = true }), ref(t, dims, true, R.var(0, true)), tol)
    H.close(t:norm(3, dims), ref(t, dims, false, R.norm(3)), tol)
    local b = t:gt(0)
    H.close(b:all(dims), ref(b, dims, false, R.all))
    H.close(b:any(dims, true), ref(b, dims, true, R.any))
  end
end

-- ---- specs -------------------------------------------------------------------

describe("reductions", function()
  local a = oml.tensor { { 1, 2, 3 }, { 4, 5, 6 } }

  it("sum, mean, prod, amax, amin on a hand-computed matrix", function()
    H.close(a:sum(), 21)
    assert.equal(0, a:sum():dim())
    assert.equal(21, a:sum():item())
    H.close(a:sum(1), { 5, 7, 9 })
    H.close(a:sum(2), { 6, 15 })
    H.close(a:sum(-1), { 6, 15 })
    H.close(a:sum(2, true), { { 6 }, { 15 } })
    H.close(a:sum(1, true), { { 5, 7, 9 } })
    H.close(a:sum({ 1, 2 }), 21)
    H.close(a:sum(nil, true), { { 21 } })
    H.close(a:mean(), 3.5)
    H.close(a:mean(1), { 2.5, 3.5, 4.5 })
    H.close(a:prod(2), { 6, 120 })
    H.close(a:prod(), 720)
    H.close(a:amax(1), { 4, 5, 6 })
    H.close(a:amin(2), { 1, 4 })
    H.close(oml.sum(a, 2), { 6, 15 })
    assert.equal("float32", a:sum(1).dtype)
  end)

  it("all and any", function()
    local b = oml.tensor { { true, false, true }, { true, true, true } }
    assert.is_false(b:all():item())
    assert.is_true(b:any():item())
    H.close(b:all(2), { false, true })
    H.close(b:all(1), { true, false, true })
    H.close(b:any(1, true), { { true, true, true } })
    assert.equal("bool", b:all(1).dtype)
    -- numbers are true when nonzero; NaN is nonzero (torch 1.13: tensor([nan, 1.]).all() is True)
    assert.is_true(oml.tensor { nan, 1 }:all():item())
    assert.is_false(oml.tensor { 0, 1 }:all():item())
    assert.equal("bool", oml.tensor({ 1, 2 }, "uint8"):all().dtype)
  end)

  it("logsumexp", function()
    -- log(e^1 + e^2 + e^3) = 3.40760596444438
    H.close(a:logsumexp(2), { 3.4076059644443806, 6.4076059644443806 }, 1e-6)
    H.close(a:logsumexp(), math.log(R.sum { math.exp(1), math.exp(2), math.exp(3), math.exp(4), math.exp(5), math.exp(6) }))
    -- large values do not overflow: the max is taken out first
    H.close(oml.tensor { 1000, 1000 }:logsumexp(1), 1000 + math.log(2), 1e-6)
    H.close(oml.tensor({ 1000, 1000 }, "float64"):logsumexp(1), 1000 + math.log(2), 1e-12)
    H.close(oml.tensor { -1000, -1000 }:logsumexp(1), -1000 + math.log(2), 1e-6)
    -- torch 1.13: logsumexp of [inf, 1] is inf, of [-inf, -inf] is -inf, of [nan, 1] is nan
    H.close(oml.tensor { inf, 1 }:logsumexp(1), inf)
    H.close(oml.tensor { inf, -inf }:logsumexp(1), inf)
    H.close(oml.tensor { -inf, -inf }:logsumexp(1), -inf)
    H.close(oml.tensor { -inf, 0 }:logsumexp(1), 0)
    H.close(oml.tensor { nan, 1 }:logsumexp(1), nan)
    H.close(oml.tensor { { -inf, -inf }, { 0, 0 } }:logsumexp(2), { -inf, math.log(2) }, 1e-6)
    assert.equal("float32", oml.tensor({ 1, 2 }, "int32"):logsumexp(1).dtype)
  end)

  it("every op over every dim of a 3-d tensor matches a float64 reference", function()
    check_all_ops(sample({ 4, 5, 6 }, 7), 1e-5)
    check_all_ops(sample({ 4, 5, 6 }, 11, "float64"), 1e-12)
  end)

  it("non-contiguous inputs: permuted, transposed, narrowed, selected and expanded views", function()
    local base = sample({ 6, 5, 7 }, 3)
    check_all_ops(base:permute(3, 1, 2), 1e-5)
    check_all_ops(base:transpose(1, 3), 1e-5)
    check_all_ops(base:narrow(3, 2, 4):narrow(1, 2, 3), 1e-5)
    check_all_ops(sample({ 5, 1, 3 }, 5):expand(5, 4, 3), 1e-5)
    check_all_ops(sample({ 4 }, 9):view(1, 1, 4):expand(3, 5, 4), 1e-5)
    local m = sample({ 8, 9 }, 13)
    H.close(m:t():sum(1), ref(m:t(), 1, false, R.sum), 1e-5)
    H.close(m:t():sum(2), ref(m:t(), 2, false, R.sum), 1e-5)
    H.close(m:select(2, 3):sum(), ref(m:select(2, 3), nil, false, R.sum), 1e-5)
    -- a 0-d tensor reduces over its one dim
    local s = oml.tensor(5)
    H.close(s:sum(), 5)
    H.close(s:sum(1, true), 5)
    assert.equal(0, s:sum(1, true):dim())
    H.close(s:amax(-1), 5)
    local v0, i0 = s:max(1)
    assert.equal(0, v0:dim())
    assert.equal(5, v0:item())
    assert.equal(1, i0:item())
    H.close(s:var(), nan)
  end)

  it("result dtypes of integer and bool inputs, as PyTorch", function()
    local i = oml.tensor({ { 1, 2 }, { 3, 4 } }, "int32")
    assert.equal("int64", i:sum().dtype)
    assert.equal("int64", i:prod(1).dtype)
    assert.equal("int32", i:amax(1).dtype)
    assert.equal("float32", i:mean().dtype)
    assert.equal("float32", i:var().dtype)
    assert.equal("float32", i:norm().dtype)
    H.close(i:sum(), 10)
    H.close(i:prod(2), { 2, 12 })
    H.close(i:mean(1), { 2, 3 })
    H.close(i:amin(2), { 1, 3 })
    local u = oml.tensor({ 200, 100, 7 }, "uint8")
    -- sums of uint8 do not wrap at 256: they are int64 (torch 1.13: tensor([200,100,7], dtype=uint8).sum() is 307)
    H.close(u:sum(), 307)
    assert.equal("uint8", u:amax().dtype)
    H.close(u:amax(), 200)
    local b = oml.tensor { true, true, false }
    assert.equal("int64", b:sum().dtype)
    H.close(b:sum(), 2)
    H.close(b:prod(), 0)
    assert.equal("bool", b:amax().dtype)
    assert.is_true(b:amax():item())
    assert.is_false(b:amin():item())
    H.close(b:mean(), 2 / 3)
    -- int64 sums are exact beyond 2^24 and wrap around as PyTorch's do
    local big = oml.tensor({ 2 ^ 40 + 1, 2 ^ 40 + 3 }, "int64")
    assert.equal(2 ^ 41 + 4, big:sum():item())
    local wrap = oml.tensor({ 2 ^ 62, 2 ^ 62 }, "int64")
    assert.equal(-2 ^ 63, wrap:sum():item())
    -- int64 mean of large values is computed in float64, then rounded to float32
    H.close(oml.tensor({ 1e15, 3e15 }, "int64"):mean(), 2e15, 1e-7)
    local f64 = oml.tensor({ 1, 2 }, "float64")
    assert.equal("float64", f64:sum().dtype)
    assert.equal("float64", f64:var().dtype)
  end)

  it("empty inputs: sum 0, prod 1, mean NaN, all true, any false (as PyTorch)", function()
    local e = oml.zeros(0)
    H.close(e:sum(), 0)
    H.close(e:prod(), 1)
    H.close(e:mean(), nan)
    H.close(e:var(), nan)
    H.close(e:norm(), 0)
    H.close(e:norm(0), 0)
    H.close(e:logsumexp(1), -inf)
    assert.is_true(e:all():item())
    assert.is_false(e:any():item())
    local z = oml.zeros(0, 3)
    H.close(z:sum(1), { 0, 0, 0 })
    H.close(z:mean(1), { nan, nan, nan })
    -- reducing the non-empty dim of an empty tensor gives an empty result
    assert.same({ 0 }, z:sum(2):size())
    assert.same({ 0 }, z:amax(2):size())
    assert.same({ 0, 1 }, z:amin(2, true):size())
    local v, i = z:max(2)
    assert.same({ 0 }, v:size())
    assert.same({ 0 }, i:size())
    assert.same({ 0, 3 }, z:cumsum(1):size())
    assert.same({ 0, 3 }, z:cumprod(2):size())
  end)

  it("NaN: max and min propagate it, and the first NaN is the extreme (as PyTorch)", function()
    local x = oml.tensor { 1, nan, 3, nan }
    H.close(x:amax(), nan)
    H.close(x:amin(), nan)
    H.close(x:sum(), nan)
    -- torch 1.13: tensor([1., nan, 3, nan]).max(0) gives (nan, 1), argmax() gives 1 (0-based)
    local v, i = x:max(1)
    H.close(v, nan)
    assert.equal(2, i:item())
    assert.equal(2, x:argmax():item())
    assert.equal(2, x:argmin():item())
    local m = oml.tensor { { 1, 2, nan }, { 4, 5, 6 } }
    H.close(m:amax(2), { nan, 6 })
    H.close(m:amin(1), { 1, 2, nan })
    local _, idx = m:min(2)
    H.close(idx, { 3, 1 })
    H.close(m:norm(math.huge, 2), { nan, 6 })
    H.close(oml.tensor { -inf, -inf }:amax(), -inf)
    -- a NaN found in a long contiguous run, and in a column layout
    local long = oml.arange(100):float()
    long:data()[59] = nan
    long:data()[79] = nan
    assert.equal(60, long:argmax():item())
    H.close(long:amax(), nan)
    local cols = oml.zeros(50, 8)
    cols:data()[29 * 8 + 4] = nan
    cols:data()[39 * 8 + 4] = nan
    cols:data()[9 * 8 + 1] = 7
    local cv, ci = cols:max(1)
    H.close(cv, { 0, 7, 0, 0, nan, 0, 0, 0 })
    H.close(ci, { 1, 10, 1, 1, 30, 1, 1, 1 })
  end)
end)

describe("var and std", function()
  local a = oml.tensor { { 1, 2, 3, 4 }, { 2, 4, 6, 8 } }

  it("hand-computed values with each correction", function()
    -- row 1: mean 2.5, squared deviations 5; row 2: 20
    H.close(a:var(2), { 5 / 3, 20 / 3 })
    H.close(a:var(2, { correction = 0 }), { 5 / 4, 20 / 4 })
    H.close(a:var(2, { correction = 2 }), { 5 / 2, 20 / 2 })
    H.close(a:var(2, { unbiased = false }), { 5 / 4, 20 / 4 })
    H.close(a:var(2, { unbiased = true, keepdim = true }), { { 5 / 3 }, { 20 / 3 } })
    H.close(a:std(2), { math.sqrt(5 / 3), math.sqrt(20 / 3) })
    H.close(a:var(1), { 0.5, 2, 4.5, 8 })
    -- all 8 values: mean 3.75, squared deviations 37.5
    H.close(a:var(), 37.5 / 7, 1e-6)
    H.close(a:var { correction = 0 }, 37.5 / 8, 1e-6)
    H.close(a:std(nil, { keepdim = true }), { { math.sqrt(37.5 / 7) } }, 1e-6)
    H.close(oml.var(a, { 1, 2 }), 37.5 / 7, 1e-6)
    -- torch 1.13: tensor([1.,2.,3.]).std(unbiased=False) is 0.8165
    H.close(oml.tensor { 1, 2, 3 }:std(1, { unbiased = false }), 0.81649658, 1e-6)
  end)

  it("too few elements for the correction give NaN or inf (as PyTorch)", function()
    -- torch 1.13: tensor([1.]).var() is nan; var([1., 2.], correction=3) is inf
    H.close(oml.tensor { 1 }:var(), nan)
    H.close(oml.tensor { 1, 2 }:var(1, { correction = 3 }), inf)
    -- torch 1.13: var([1., 2, 4], dim=0, correction=-1) is 1.1667
    H.close(oml.tensor { 1, 2, 4 }:var(1, { correction = -1 }), 14 / 3 / 4, 1e-6)
  end)

  it("is accurate for values far from zero (two passes in double)", function()
    local x = oml.tensor({ 1e8 + 1, 1e8 + 2, 1e8 + 3 }, "float64")
    H.close(x:var(), 1, 1e-12)
    local f = oml.tensor { 10000.5, 10001.5, 10002.5 }
    H.close(f:var(), 1, 1e-6)
  end)
end)

describe("norm", function()
  local a = oml.tensor { { 3, 0, -4 }, { 1, -1, 1 } }

  it("p = 2 by default, and every other p", function()
    H.close(a:norm(), math.sqrt(28), 1e-6)
    H.close(a:norm("fro"), math.sqrt(28), 1e-6)
    H.close(a:norm(2, 2), { 5, math.sqrt(3) }, 1e-6)
    H.close(a:norm(1, 2), { 7, 3 })
    H.close(a:norm(math.huge, 2), { 4, 1 })
    H.close(a:norm(-math.huge, 2), { 0, 1 })
    H.close(a:norm(0, 2), { 2, 3 })
    H.close(a:norm(3, 1, true), { { (27 + 1) ^ (1 / 3), 1, (64 + 1) ^ (1 / 3) } }, 1e-6)
    -- torch 1.13: vector_norm([3., 0, -4], 0.5) is 13.9282; with p = -2 a zero gives 0
    H.close(oml.tensor { 3, 0, -4 }:norm(0.5), 13.928203, 1e-6)
    H.close(oml.tensor { 3, 0, -4 }:norm(-2), 0)
    H.close(oml.tensor { 3, -4 }:norm(-1), 1 / (1 / 3 + 1 / 4), 1e-6)
    H.close(oml.tensor({ 3, 4 }, "int64"):norm(), 5)
  end)
end)

describe("max and min", function()
  local a = oml.tensor { { 1, 5, 5 }, { 7, 7, 2 } }

  it("t:max() is a 0-d tensor; t:max(dim) gives values and 1-based indices", function()
    assert.equal(7, a:max():item())
    assert.equal(0, a:max():dim())
    assert.equal(1, a:min():item())
    -- torch 1.13: tensor([[1.,5,5],[7,7,2]]).max(1) gives values [5, 7], indices [1, 0] (0-based)
    local v, i = a:max(2)
    H.close(v, { 5, 7 })
    H.close(i, { 2, 1 })
    assert.equal("int64", i.dtype)
    assert.equal("float32", v.dtype)
    v, i = a:min(1, true)
    H.close(v, { { 1, 5, 2 } })
    H.close(i, { { 1, 1, 2 } })
    v, i = a:max(-1)
    H.close(v, { 5, 7 })
    H.close(i, { 2, 1 })
    v, i = oml.max(a:t(), 1)
    H.close(v, { 5, 7 })
    H.close(i, { 2, 1 })
    local iv, ii = oml.tensor({ { 3, 9, 9 } }, "int32"):max(2)
    assert.equal("int32", iv.dtype)
    H.close(ii, { 2 })
  end)

  it("t:max(other) and t:min(other) are elementwise", function()
    local b = oml.tensor { { 2, 2, 2 }, { 2, 2, 2 } }
    H.close(a:max(b), { { 2, 5, 5 }, { 7, 7, 2 } })
    H.close(a:min(b), { { 1, 2, 2 }, { 2, 2, 2 } })
    H.close(oml.max(a, b), { { 2, 5, 5 }, { 7, 7, 2 } })
  end)

  it("argmax and argmin, with ties going to the first", function()
    H.close(a:argmax(2), { 2, 1 })
    H.close(a:argmin(2), { 1, 3 })
    H.close(a:argmax(1, true), { { 2, 2, 1 } })
    -- without a dim: the index into the flattened tensor (torch 1.13: tensor([3., 1, 3]).argmax() is 0)
    assert.equal(1, oml.tensor({ 3, 1, 3 }):argmax():item())
    assert.equal(4, a:argmax():item())
    assert.equal(0, a:argmax():dim())
    assert.equal("int64", a:argmax().dtype)
    assert.equal(1, a:argmin():item())
    -- a transposed tensor is flattened in its own row-major order
    assert.equal(2, a:t():argmax():item())
    -- torch 1.13: zeros(2,3).argmax(keepdim=True) has shape [1, 1]
    assert.same({ 1, 1 }, a:argmax(nil, true):size())
    assert.equal(4, a:argmax(nil, true):view(1):item())
    assert.equal(1, oml.tensor(4):argmax():item())
    -- ties in long runs, strided runs and columns
    local long = oml.zeros(1000)
    long:data()[499] = 3
    long:data()[699] = 3
    assert.equal(500, long:argmax():item())
    assert.equal(1, long:argmin():item())
    local m = oml.zeros(40, 70)
    m:data()[19 * 70 + 32] = 1
    m:data()[29 * 70 + 32] = 1
    m:data()[24 * 70 + 68] = -1
    H.close(m:argmax(1):narrow(1, 33, 1), { 20 })
    H.close(m:argmin(1):narrow(1, 69, 1), { 25 })
    H.close(m:t():argmax(2):narrow(1, 33, 1), { 20 })
    assert.equal(19 * 70 + 33, m:argmax():item())
    -- dim 2 of [5, 40, 3] is a strided run
    local s3 = oml.zeros(5, 40, 3)
    s3:data()[1 * 120 + 16 * 3 + 2] = 5
    s3:data()[1 * 120 + 29 * 3 + 2] = 5
    H.close(s3:argmax(2):select(1, 2), { 1, 1, 17 })
    local ints = oml.tensor({ -5, 7, 7, -9 }, "int64")
    assert.equal(2, ints:argmax():item())
    assert.equal(4, ints:argmin():item())
    local bools = oml.tensor { false, true, true }
    assert.equal(2, bools:argmax():item())
  end)
end)

describe("cumsum and cumprod", function()
  local a = oml.tensor { { 1, 2, 3 }, { 4, 5, 6 } }

  it("hand-computed values along each dim", function()
    H.close(a:cumsum(2), { { 1, 3, 6 }, { 4, 9, 15 } })
    H.close(a:cumsum(1), { { 1, 2, 3 }, { 5, 7, 9 } })
    H.close(a:cumsum(-1), { { 1, 3, 6 }, { 4, 9, 15 } })
    H.close(a:cumprod(2), { { 1, 2, 6 }, { 4, 20, 120 } })
    H.close(a:cumprod(1), { { 1, 2, 3 }, { 4, 10, 18 } })
    H.close(oml.tensor { 2, 0, 5 }:cumprod(1), { 2, 0, 0 })
    H.close(oml.tensor { 1, nan, 2 }:cumsum(1), { 1, nan, nan })
    H.close(oml.tensor(3):cumsum(1), 3)
    assert.equal("float32", a:cumsum(1).dtype)
  end)

  it("integers and bools give int64 (as PyTorch)", function()
    -- torch 1.13: tensor([1,2,3], dtype=int32).cumsum(0) is int64; [True, False].cumsum(0) is [1, 1]
    local c = oml.tensor({ 1, 2, 3 }, "int32"):cumsum(1)
    assert.equal("int64", c.dtype)
    H.close(c, { 1, 3, 6 })
    H.close(oml.tensor({ true, false, true }):cumsum(1), { 1, 1, 2 })
    H.close(oml.tensor({ { 1, 2 }, { 3, 4 } }, "int32"):cumprod(2), { { 1, 2 }, { 3, 12 } })
    assert.equal("float64", oml.tensor({ 1, 2 }, "float64"):cumsum(1).dtype)
  end)

  it("non-contiguous inputs, and a 3-d tensor against a float64 reference", function()
    H.close(a:t():cumsum(1), { { 1, 4 }, { 3, 9 }, { 6, 15 } })
    H.close(a:t():cumsum(2), { { 1, 5 }, { 2, 7 }, { 3, 9 } })
    H.close(a:narrow(2, 2, 2):cumprod(2), { { 2, 6 }, { 5, 30 } })
    local x = sample({ 3, 300, 4 }, 17, "float64")
    local xs = x:totable()
    local got = x:cumsum(2):totable()
    for i = 1, 3 do
      for k = 1, 4 do
        local s = 0
        for j = 1, 300 do
          s = s + xs[i][j][k]
          assert(math.abs(got[i][j][k] - s) < 1e-12, "cumsum mismatch")
        end
      end
    end
  end)
end)

describe("large inputs", function()
  local n = 1000003
  -- values of two frequencies, so that sums cancel a lot and the max is unique
  local x = oml.empty(n, "float64")
  do
    local p = x:data()
    for i = 0, n - 1 do p[i] = math.sin(i * 0.37) * 2 + math.cos(i * 0.011) end
  end
  local xf = x:float()
  local vals = {}
  do
    local p = xf:data()
    for i = 0, n - 1 do vals[i + 1] = p[i] end
  end

  it("full reductions of 1e6 float32 values match float64 sums", function()
    local s = R.sum(vals)
    H.close(xf:sum(), s, 1e-7)
    H.close(xf:mean(), s / n, 1e-7)
    H.close(xf:var(), R.var(1)(vals), 1e-6)
    H.close(xf:norm(), R.norm(2)(vals), 1e-6)
    H.close(xf:norm(1), R.norm(1)(vals), 1e-6)
    H.close(xf:logsumexp(1), R.logsumexp(vals), 1e-6)
    H.close(xf:amax(), R.amax(vals))
    H.close(xf:amin(), R.amin(vals))
    local s64, p = 0, x:data()
    for i = 0, n - 1 do s64 = s64 + p[i] end
    H.close(x:sum(), s64, 1e-12)
    local best, at = -inf, 0
    for i, v in ipairs(vals) do if v > best then best, at = v, i end end
    assert.equal(at, xf:argmax():item())
    local c = xf:cumsum(1)
    H.close(c:narrow(1, n, 1), { s }, 1e-6)
  end)

  local function range_sum(from, to)
    local s = 0
    for i = from, to do s = s + vals[i] end
    return s
  end

  it("rows, columns and split rows of large matrices match the reference", function()
    local m = xf:narrow(1, 1, 1000000):view(1000, 1000)
    local sums_rows, sums_cols = {}, {}
    for i = 1, 1000 do
      local s = 0
      for j = 1, 1000 do s = s + vals[(i - 1) * 1000 + j] end
      sums_rows[i] = s
    end
    for j = 1, 1000 do
      local s = 0
      for i = 1, 1000 do s = s + vals[(i - 1) * 1000 + j] end
      sums_cols[j] = s
    end
    H.close(m:sum(2), sums_rows, 1e-6)
    H.close(m:sum(1), sums_cols, 1e-6)
    H.close(m:t():sum(1), sums_rows, 1e-6)
    local two = xf:narrow(1, 1, 1000000):view(2, 500000)
    H.close(two:sum(2), { range_sum(1, 500000), range_sum(500001, 1000000) }, 1e-6)
    local narrow_cols = xf:narrow(1, 1, 1000000):view(250000, 4)
    local c4 = { 0, 0, 0, 0 }
    for i = 1, 1000000 do c4[(i - 1) % 4 + 1] = c4[(i - 1) % 4 + 1] + vals[i] end
    H.close(narrow_cols:sum(1), c4, 1e-6)
  end)

  it("results do not depend on the thread count", function()
    local threads = C.oml_get_num_threads()
    local m = xf:narrow(1, 1, 1000000):view(1000, 1000)
    local function results()
      return {
        xf:sum():item(), xf:var():item(), xf:logsumexp(1):item(), xf:norm(3):item(), xf:argmax():item(),
        m:sum(1):totable(), m:sum(2):totable(), m:t():mean(2):totable(), xf:cumsum(1):narrow(1, n, 1):item(),
      }
    end
    C.oml_set_num_threads(1)
    local one = results()
    C.oml_set_num_threads(3)
    local three = results()
    C.oml_set_num_threads(threads)
    assert.same(one, three)
  end)
end)

describe("the engine's out convention", function()
  local a = oml.tensor { { 1, 2, 3 }, { 4, 5, 6 } }

  it("writes into a set output of the right shape, even a strided one", function()
    local out = oml.zeros(2)
    T.check(C.oml_reduce(a, out, C.OML_SUM, 2, 0), "oml.sum")
    H.close(out, { 6, 15 })
    local wide = oml.zeros(3, 2)
    local col = wide:select(2, 2)
    T.check(C.oml_reduce(a, col, C.OML_SUM, 1, 0), "oml.sum")
    H.close(wide, { { 0, 5 }, { 0, 7 }, { 0, 9 } })
    local idx = oml.zeros(2, "int64")
    T.check(C.oml_max_dim(a, nil, idx, 1, 0, 0), "oml.max")
    H.close(idx, { 3, 3 })
  end)

  it("cumsum into its own input works in place", function()
    local x = oml.tensor { { 1, 2, 3 }, { 4, 5, 6 } }
    T.check(C.oml_cumsum(x, x, 1), "oml.cumsum")
    H.close(x, { { 1, 3, 6 }, { 4, 9, 15 } })
    local y = oml.tensor { { 1, 2 }, { 3, 4 } }
    local yt = y:t()
    T.check(C.oml_cumsum(y, yt, 0), "oml.cumsum")
    H.close(y, { { 1, 4 }, { 2, 6 } })
  end)

  it("refuses outputs of the wrong shape or dtype", function()
    local out = oml.zeros(3)
    assert.equal(-1, C.oml_reduce(a, out, C.OML_SUM, 2, 0))
    assert.matches("the output has shape [3] but the result has shape [2]", ffi.string(C.oml_last_error()), 1, true)
    local long = oml.zeros(2, "int64")
    assert.equal(-1, C.oml_reduce(a, long, C.OML_SUM, 2, 0))
    assert.matches("the output is int64 but the result is float32", ffi.string(C.oml_last_error()), 1, true)
    assert.equal(-1, C.oml_reduce(a, oml.zeros(2), 99, 2, 0))
    assert.matches("unknown reduction 99", ffi.string(C.oml_last_error()), 1, true)
    assert.equal(-1, C.oml_reduce(a, T.new(), C.OML_SUM, 4, 0))
    assert.matches("dim 3 is out of range for a 2-d tensor", ffi.string(C.oml_last_error()), 1, true)
    assert.equal(-1, C.oml_max_dim(a, nil, nil, 0, 0, 0))
    assert.matches("no output tensor", ffi.string(C.oml_last_error()), 1, true)
    local shared = oml.zeros(2, "int64")
    assert.equal(-1, C.oml_max_dim(a:long(), shared, shared, 1, 0, 0))
    assert.matches("share storage", ffi.string(C.oml_last_error()), 1, true)
    assert.equal(-1, C.oml_reduce(T.new(), T.new(), C.OML_SUM, 0, 0))
    assert.matches("the input is an unset tensor", ffi.string(C.oml_last_error()), 1, true)
  end)
end)

describe("errors", function()
  local a = oml.tensor { { 1, 2, 3 }, { 4, 5, 6 } }

  it("bad dims", function()
    H.raises(function() local _ = a:sum(3) end, "oml.sum: dim 3 is out of range for a 2-d tensor")
    H.raises(function() local _ = a:mean(-3) end, "oml.mean: dim -3 is out of range for a 2-d tensor")
    H.raises(function() local _ = a:sum({ 1, 1 }) end, "oml.sum: dim 1 appears more than once in the list of dims")
    H.raises(function() local _ = a:sum({ 1, -2 }) end, "oml.sum: dim -2 appears more than once")
    H.raises(function() local _ = a:prod(1.5) end, "oml.prod: dim must be an integer (got 1.5)")
    H.raises(function() local _ = a:amax("x") end, "oml.amax: dims must be a number or a list (got string)")
    H.raises(function() local _ = a:var(5) end, "oml.var: dim 5 is out of range")
    H.raises(function() local _ = a:norm(2, 3) end, "oml.norm: dim 3 is out of range")
    H.raises(function() local _ = a:max(3) end, "oml.max: dim 3 is out of range")
    H.raises(function() local _ = a:argmin(0) end, "oml.argmin: dim 0 is out of range")
    H.raises(function() local _ = a:cumsum(3) end, "oml.cumsum: dim 3 is out of range")
    H.raises(function() local _ = a:cumprod() end, "oml.cumprod: dim is required")
    H.raises(function() local _ = a:max("x") end, "oml.max: dim must be a number or a tensor (got string)")
  end)

  it("bad flags and options", function()
    H.raises(function() local _ = a:sum(1, 1) end, "oml.sum: keepdim must be a boolean (got number)")
    H.raises(function() local _ = a:var(1, true) end,
             "oml.var: pass {unbiased = true} or {correction = n}: a bare boolean means opposite things")
    H.raises(function() local _ = a:std(1, { keepDim = true }) end, "oml.std: unknown option 'keepDim'")
    H.raises(function() local _ = a:var(1, { correction = 1, unbiased = true }) end,
             "oml.var: give correction or unbiased, not both")
    H.raises(function() local _ = a:var(1, { correction = 0.5 }) end, "oml.var: correction must be an integer (got 0.5)")
    H.raises(function() local _ = a:var(1, 3) end, "oml.var: options must be a table (got number)")
    H.raises(function() local _ = a:norm("nuc") end, "oml.norm: p must be a number or \"fro\" (got nuc)")
    H.raises(function() local _ = a:norm(nan) end, "oml.norm: the order p must be a number (got NaN)")
    H.raises(function() local _ = a:max(a, true) end, "oml.max: keepdim has no meaning for an elementwise maximum")
  end)

  it("reductions without an identity refuse empty inputs (as PyTorch)", function()
    local e = oml.zeros(0, 3)
    H.raises(function() local _ = e:amax() end, "oml.amax: cannot take the max of an empty tensor (specify a dim)")
    H.raises(function() local _ = e:amin(1) end, "oml.amin: cannot take the min over dim 1 of size 0")
    H.raises(function() local _ = e:max() end, "oml.max: cannot take the max of an empty tensor")
    H.raises(function() local _ = e:max(1) end, "oml.max: cannot take the max over dim 1 of size 0")
    H.raises(function() local _ = e:min(1) end, "oml.min: cannot take the min over dim 1 of size 0")
    H.raises(function() local _ = e:argmax() end, "oml.argmax: cannot take the argmax of an empty tensor")
    H.raises(function() local _ = e:argmin(1) end, "oml.argmin: cannot take the min over dim 1 of size 0")
    H.raises(function() local _ = e:norm(math.huge) end, "oml.norm: cannot take the inf norm of an empty tensor")
    H.raises(function() local _ = e:norm(-math.huge, 1) end, "oml.norm: cannot take the -inf norm over dim 1 of size 0")
  end)

  it("storage-only dtypes, unset tensors and non-tensors", function()
    local h = a:half()
    H.raises(function() local _ = h:sum() end, "oml.sum: the input is float16, a storage-only dtype")
    H.raises(function() local _ = h:max(1) end, "oml.max: the input is float16, a storage-only dtype")
    H.raises(function() local _ = a:bfloat16():cumsum(1) end, "oml.cumsum: the input is bfloat16")
    H.raises(function() local _ = h:var() end, "oml.var: the input is float16")
    H.raises(function() local _ = h:norm() end, "oml.norm: the input is float16")
    H.raises(function() local _ = h:argmax() end, "oml.argmax: the input is float16")
    H.raises(function() local _ = T.new():sum() end, "oml.sum: the input is an unset tensor")
    H.raises(function() local _ = oml.sum(3) end, "oml.sum: the input must be a tensor (got number)")
    H.raises(function() local _ = oml.argmax({}) end, "oml.argmax: the input must be a tensor (got table)")
  end)
end)
