-- Reductions, max/min with indices, cumulative sums and products, sort and
-- topk on cuda:0: parity with the CPU. Tagged gpu; pending where no GPU is
-- present. Integer, bool and index results must equal the CPU's exactly, as
-- must max, min, sort, topk and cumulative results (the device scans each
-- line in the CPU's order); float sums, means, variances, norms and
-- logsumexp are summed in another order: within 1e-5 (float32) or 1e-12
-- (float64) relative.
local ffi = require "ffi"
local oml = require "oml"
local T = require "oml.tensor"
local H = require "helper"
local G = require "gpu_helper"
local gpu_describe, same = G.describe, G.same

local C = T.C
local DEVICE = G.device
local DTYPES = { "float32", "float64", "int32", "int64", "uint8", "bool" }
local FLOATS = { "float32", "float64" }
local TOL = { float32 = 1e-5, float64 = 1e-12 }
local nan, inf = 0 / 0, math.huge



-- Deterministic values of dtype and the given sizes; whole: integer-valued,
-- with many ties; scale: near 1 (for products).
local function values(sizes, dtype, how)
  local n = 1
  for _, s in ipairs(sizes) do n = n * s end
  local t = oml.arange(n):double():mul(0.7131):sin()
  if how == "scale" then t = t:mul(0.2):add(1) else t = t:mul(100) end
  if how == "whole" or dtype == "uint8" then t = t:abs():floor() end
  if dtype == "bool" then t = t:gt(0) end
  return t:to { dtype = dtype }:view(sizes)
end

-- A float tensor of dtype from a list of numbers (NaN and inf allowed).
local function list(l, dtype, sizes)
  local t = oml.tensor(l, dtype)
  return sizes and t:view(sizes) or t
end

-- The dim arguments every reduction is checked with on a 3-d input.
local DIMS = { false, 1, 2, 3, { 1, 3 }, { 2, 3 }, { 1, 2, 3 }, -1 }
local function dim_arg(d) if d then return d end end

gpu_describe("reductions on cuda", function()
  local OPS = { "sum", "mean", "prod", "amax", "amin", "all", "any", "logsumexp" }

  it("runs every op over every set of dims, for every dtype, with and without keepdim", function()
    for _, dtype in ipairs(DTYPES) do
      local tol = TOL[dtype] or 0
      for _, op in ipairs(OPS) do
        local a = values({ 7, 33, 5 }, dtype, op == "prod" and "scale" or nil)
        local ftol = (op == "mean" or op == "logsumexp") and (TOL[dtype] or 1e-5) or tol
        for _, d in ipairs(DIMS) do
          same(function(x) return x[op](x, dim_arg(d)) end, { a }, ftol)
          if d then same(function(x) return x[op](x, d, true) end, { a }, ftol) end
        end
      end
    end
  end)

  it("reads transposed and narrowed views and 0-d tensors", function()
    for _, dtype in ipairs(DTYPES) do
      local a = values({ 9, 40, 6 }, dtype)
      for _, op in ipairs(OPS) do
        -- integer and bool results exactly; mean and logsumexp of integers are float32
        local tol = TOL[dtype] or ((op == "mean" or op == "logsumexp") and 1e-5 or 0)
        if op ~= "prod" then
          same(function(x) return x:transpose(1, 3)[op](x:transpose(1, 3), 2) end, { a }, tol)
          same(function(x) local v = x:narrow(2, 3, 31):transpose(2, 3) return v[op](v, { 1, 3 }) end, { a }, tol)
          same(function(x) local v = x:select(3, 2):t() return v[op](v, 1, true) end, { a }, tol)
        end
        same(function(x) local v = x:select(1, 2):select(1, 3):select(1, 4) return v[op](v) end, { a }, tol)
      end
    end
  end)

  it("propagates NaN through amax and amin; all and any count NaN as true", function()
    for _, dtype in ipairs(FLOATS) do
      local a = list({ 1, nan, 3, -inf, 0, 2, inf, -1, 0, nan, 0, 0 }, dtype, { 3, 4 })
      for _, op in ipairs(OPS) do
        same(function(x) return x[op](x, 2) end, { a }, TOL[dtype])
        same(function(x) return x[op](x, 1) end, { a }, TOL[dtype])
      end
    end
  end)

  it("takes logsumexp of rows of infinities", function()
    local a = list({ -inf, -inf, inf, 1, inf, inf, -inf, 5, 3 }, "float32", { 3, 3 })
    same(function(x) return x:logsumexp(2) end, { a }, 1e-5)
    same(function(x) return x:logsumexp(1) end, { a }, 1e-5)
  end)

  it("reduces empty tensors (to the identity where there is one)", function()
    for _, dtype in ipairs(DTYPES) do
      local a = oml.zeros({ 0, 4 }, { dtype = dtype })
      for _, op in ipairs { "sum", "mean", "prod", "all", "any", "logsumexp" } do
        same(function(x) return x[op](x, 1) end, { a }, 1e-5)
        same(function(x) return x[op](x, 2) end, { a }, 1e-5)
        same(function(x) return x[op](x) end, { a }, 1e-5)
      end
      same(function(x) return x:amax(2) end, { a }, 0)
    end
  end)

  it("runs large inputs over many blocks (full reductions take the two-pass path)", function()
    for _, dtype in ipairs { "float32", "float64", "int32", "int64", "uint8" } do
      local tol = TOL[dtype] or 0
      local a = values({ 1000003 }, dtype)
      for _, op in ipairs { "sum", "mean", "amax", "amin", "any", "all" } do
        same(function(x) return x[op](x) end, { a }, (op == "mean") and 1e-5 or tol)
      end
      local m = values({ 1001, 999 }, dtype)
      for _, d in ipairs { 1, 2 } do
        same(function(x) return x:sum(d) end, { m }, tol)
        same(function(x) return x:amax(d) end, { m }, 0)
        same(function(x) return x:t():sum(d) end, { m }, tol)
      end
      -- few outputs with long rows: the rows are cut into chunks
      same(function(x) return x:view(3, 333334):sum(2) end, { values({ 1000002 }, dtype) }, tol)
      same(function(x) return x:view(3, 333334):t():amin(1) end, { values({ 1000002 }, dtype) }, 0)
    end
    local f = values({ 2, 500001 }, "float32")
    same(function(x) return x:logsumexp(2) end, { f }, 1e-5)
    same(function(x) return x:mean() end, { values({ 4000037 }, "float32") }, 1e-5)
  end)

  it("sums integers with wrap-around, as the CPU", function()
    local big = oml.full({ 70000 }, 2 ^ 50, { dtype = "int64" })
    same(function(x) return x:sum() end, { big }, 0)
    same(function(x) return x:view(7, 10000):prod(1) end, { values({ 7, 10000 }, "int64") }, 0)
  end)
end)

gpu_describe("var, std and norm on cuda", function()
  it("var and std over every set of dims and correction, for every dtype", function()
    for _, dtype in ipairs(DTYPES) do
      local a = values({ 7, 33, 5 }, dtype)
      local tol = dtype == "float64" and 1e-12 or 1e-5
      for _, d in ipairs(DIMS) do
        for correction = 0, 2 do
          same(function(x) return x:var(dim_arg(d), { correction = correction }) end, { a }, tol)
          same(function(x) return x:std(dim_arg(d), { correction = correction, keepdim = true }) end, { a }, tol)
        end
      end
      same(function(x) return x:transpose(1, 3):var(2) end, { a }, tol)
    end
  end)

  it("var of too few elements gives inf or NaN, as the CPU", function()
    local a = values({ 4, 1 }, "float32")
    same(function(x) return x:var(2) end, { a }, 0)
    same(function(x) return x:var(2, { correction = 2 }) end, { a }, 0)
    same(function(x) return x:std(1, { correction = 0 }) end, { oml.zeros({ 0, 3 }) }, 0)
  end)

  it("var and std of large inputs", function()
    for _, dtype in ipairs(FLOATS) do
      local a = values({ 1000003 }, dtype)
      same(function(x) return x:var() end, { a }, TOL[dtype])
      same(function(x) return x:view(1000003, 1):std(1) end, { a }, TOL[dtype])
      same(function(x) return x:narrow(1, 1, 1000000):view(1000, 1000):t():var(2) end, { a }, TOL[dtype])
    end
  end)

  it("norm of every order over every set of dims, for every dtype", function()
    for _, dtype in ipairs(DTYPES) do
      local a = values({ 7, 33, 5 }, dtype)
      local tol = dtype == "float64" and 1e-12 or 1e-5
      for _, p in ipairs { 2, 1, 0, 3, 0.5, -1, inf, -inf } do
        for _, d in ipairs(DIMS) do
          same(function(x) return x:norm(p, dim_arg(d)) end, { a }, tol)
        end
        same(function(x) return x:t():norm(p, 2, true) end, { values({ 9, 40 }, dtype) }, tol)
      end
    end
  end)

  it("norm with NaN and of empty and large inputs", function()
    local a = list({ 1, nan, 3, -4, 0, 2, -inf, 1 }, "float64", { 2, 4 })
    for _, p in ipairs { 2, 1, 0, 3, inf, -inf } do same(function(x) return x:norm(p, 2) end, { a }, 1e-12) end
    same(function(x) return x:norm(2, 1) end, { oml.zeros({ 0, 3 }) }, 0)
    same(function(x) return x:norm(0) end, { oml.zeros({ 0, 3 }) }, 0)
    local big = values({ 1000003 }, "float32")
    for _, p in ipairs { 2, 1, 3, inf } do same(function(x) return x:norm(p) end, { big }, 1e-5) end
  end)
end)

gpu_describe("max and min along a dim on cuda", function()
  it("gives the first extreme and its index, for every dtype and dim", function()
    for _, dtype in ipairs(DTYPES) do
      local a = values({ 7, 33, 5 }, dtype, "whole") -- many ties
      for d = 1, 3 do
        for _, keep in ipairs { false, true } do
          same(function(x) return x:max(d, keep) end, { a }, 0)
          same(function(x) return x:min(d, keep) end, { a }, 0)
          same(function(x) return x:argmax(d, keep) end, { a }, 0)
          same(function(x) return x:argmin(d) end, { a }, 0)
        end
        same(function(x) return x:transpose(1, 3):max(d) end, { a }, 0)
        same(function(x) return x:narrow(2, 4, 20):min(d) end, { a }, 0)
      end
      same(function(x) return x:argmax() end, { a }, 0)
      same(function(x) return x:max() end, { a }, 0)
      same(function(x) local v = x:select(1, 1):select(1, 1):select(1, 1) return v:max(1) end, { a }, 0)
    end
  end)

  it("a NaN beats every number; the first NaN wins; -0 ties with 0", function()
    for _, dtype in ipairs(FLOATS) do
      local a = list({ 1, nan, 3, nan, -0.0, 0, 0, -0.0, -inf, -inf, 7, 7, inf, 2, inf, nan }, dtype, { 4, 4 })
      for d = 1, 2 do
        same(function(x) return x:max(d) end, { a }, 0)
        same(function(x) return x:min(d) end, { a }, 0)
      end
    end
  end)

  it("runs long lines and many lines", function()
    for _, dtype in ipairs { "float32", "float64", "int32", "int64", "uint8" } do
      local long = values({ 1000003 }, dtype, "whole")
      same(function(x) return x:max(1) end, { long }, 0)
      same(function(x) return x:argmin() end, { long }, 0)
      same(function(x) return x:view(1000003, 1):max(1) end, { long }, 0)
      local wide = values({ 1001, 999 }, dtype, "whole")
      for d = 1, 2 do
        same(function(x) return x:max(d) end, { wide }, 0)
        same(function(x) return x:t():min(d, true) end, { wide }, 0)
      end
    end
  end)
end)

gpu_describe("cumsum and cumprod on cuda", function()
  it("scans every dim of every dtype, views included, exactly as the CPU", function()
    for _, dtype in ipairs(DTYPES) do
      local a = values({ 6, 11, 5 }, dtype)
      local p = values({ 6, 11, 5 }, dtype, "scale")
      for d = 1, 3 do
        same(function(x) return x:cumsum(d) end, { a }, 0)
        same(function(x) return x:cumprod(d) end, { p }, 0)
        same(function(x) return x:transpose(1, 3):cumsum(d) end, { a }, 0)
      end
      same(function(x) return x:select(1, 1):select(1, 1):select(1, 1):cumsum(1) end, { a }, 0)
      same(function(x) return x:narrow(1, 1, 0):cumsum(2) end, { a }, 0)
    end
  end)

  it("scans long lines and many lines", function()
    for _, dtype in ipairs { "float32", "float64", "int64" } do
      local a = values({ 100003 }, dtype)
      same(function(x) return x:cumsum(1) end, { a }, 0)
      same(function(x) return x:view(100003, 1):cumsum(1) end, { a }, 0)
      same(function(x) return x:narrow(1, 1, 100000):view(1000, 100):cumsum(2) end, { a }, 0)
      same(function(x) return x:narrow(1, 1, 100000):view(1000, 100):cumprod(1) end,
        { values({ 100003 }, dtype, "scale") }, 0)
    end
  end)
end)

gpu_describe("sort and topk on cuda", function()
  it("sorts every dtype along every dim, stably, in both orders", function()
    for _, dtype in ipairs(DTYPES) do
      local a = values({ 7, 33, 5 }, dtype, "whole") -- many ties
      for d = 1, 3 do
        for _, desc in ipairs { false, true } do
          same(function(x) return x:sort(d, desc) end, { a }, 0)
          same(function(x) return x:argsort(d, desc) end, { a }, 0)
          same(function(x) return x:transpose(1, 3):sort(d, desc) end, { a }, 0)
        end
      end
      same(function(x) return x:narrow(2, 3, 30):sort(2) end, { a }, 0)
      same(function(x) return x:select(1, 1):select(1, 1):select(1, 1):sort(1) end, { a }, 0)
      same(function(x) return x:narrow(2, 1, 0):sort(2) end, { a }, 0)
    end
  end)

  it("puts NaN above every number, -0 tied with 0, in both orders", function()
    for _, dtype in ipairs(FLOATS) do
      local a = list({ 1, nan, 3, nan, -0.0, 0, 0, -0.0, -inf, -inf, 7, 7, inf, 2, inf, nan }, dtype)
      for _, desc in ipairs { false, true } do
        same(function(x) return x:sort(1, desc) end, { a }, 0)
        same(function(x) return x:view(4, 4):sort(1, desc) end, { a }, 0)
        same(function(x) return x:topk(5, 1, not desc) end, { a }, 0)
      end
    end
  end)

  it("takes the k largest or smallest, ties to the lower index", function()
    for _, dtype in ipairs(DTYPES) do
      local a = values({ 7, 33, 5 }, dtype, "whole")
      for d = 1, 3 do
        for _, k in ipairs { 1, 2, a:size(d) } do
          same(function(x) return x:topk(k, d) end, { a }, 0)
          same(function(x) return x:topk(k, d, false) end, { a }, 0)
          same(function(x) local v = x:transpose(1, 2) return v:topk(math.min(k, v:size(d)), d) end, { a }, 0)
        end
      end
      same(function(x) return x:topk(0, 2) end, { a }, 0)
      same(function(x) return x:select(1, 1):select(1, 1):select(1, 1):topk(1, 1) end, { a }, 0)
    end
  end)

  it("sorts many short lines (k-NN rows) and lines of a million", function()
    for _, dtype in ipairs { "float32", "float64", "int32", "int64", "uint8" } do
      local rows = values({ 2000, 300 }, dtype)
      same(function(x) return x:sort(2) end, { rows }, 0)
      same(function(x) return x:topk(10, 2, false) end, { rows }, 0)
      same(function(x) return x:t():topk(50, 1) end, { rows }, 0)
      local long = values({ dtype == "float32" and 1000003 or 100003 }, dtype, "whole")
      same(function(x) return x:sort(1, true) end, { long }, 0)
      same(function(x) return x:topk(100, 1) end, { long }, 0)
    end
  end)
end)

gpu_describe("reductions and sorts on cuda refuse", function()
  local function fails(status, text)
    assert.equal(-1, status)
    local msg = ffi.string(C.oml_last_error())
    assert(msg:find(text, 1, true), ("expected '%s', got '%s'"):format(text, msg))
  end

  if DEVICE ~= "cpu" then -- a dry run on the CPU has no other device
    it("outputs on another device than the input", function()
      local g, out = oml.ones({ 3, 4 }, { device = DEVICE }), oml.zeros({ 3 })
      local far = "the output is on another device than the inputs"
      fails(C.oml_reduce(g, out, C.OML_SUM, 2, 0), far)
      fails(C.oml_var(g, out, 2, 1, 0, 0), far)
      fails(C.oml_norm(g, out, 2, 2, 0), far)
      fails(C.oml_max_dim(g, out, nil, 1, 0, 0), far)
      fails(C.oml_cumsum(g, oml.zeros({ 3, 4 }), 1), far)
      fails(C.oml_sort(g, oml.zeros({ 3, 4 }), nil, 1, 0), far)
      fails(C.oml_topk(g, nil, oml.zeros({ 3, 2 }, { dtype = "int64" }), 2, 1, 1), far)
      local c = oml.ones({ 3, 4 })
      fails(C.oml_reduce(c, oml.zeros({ 3 }, { device = DEVICE }), C.OML_SUM, 2, 0), far)
    end)
  end

  it("storage-only dtypes, as the CPU", function()
    local half = oml.ones({ 3 }, { dtype = "float16", device = DEVICE })
    H.raises(function() local _ = half:sum() end, "float16")
    H.raises(function() local _ = half:sort() end, "float16")
  end)
end)
