-- Indexing, joining and creation on cuda:0: parity with the CPU. Tagged gpu;
-- pending where no GPU is present. Every result must equal the CPU's
-- exactly, except float sums of index_add and scatter_add, whose order
-- differs on the device (atomics): within 1e-5 (float32) or 1e-12 (float64)
-- relative. Large sums use integer-valued floats, which add up exactly in
-- any order, so they are compared exactly too.
local oml = require "oml"
local H = require "helper"
local G = require "gpu_helper"
local gpu_describe, same = G.describe, G.same

local DEVICE = G.device
local DEVICE_NAME = DEVICE == "cpu" and "cpu" or "cuda:0"
local DTYPES = { "float32", "float64", "int32", "int64", "uint8", "bool", "float16", "bfloat16" }
local SUMMED = { "float32", "float64", "int32", "int64", "uint8" }
local TOL = { float32 = 1e-5, float64 = 1e-12 }



-- Deterministic values of dtype and the given sizes; integer-valued when
-- whole (then float sums are exact).
local function values(sizes, dtype, whole)
  local n = 1
  for _, s in ipairs(sizes) do n = n * s end
  local t = oml.arange(n):double():mul(0.7131):sin():mul(100)
  if whole or dtype == "uint8" then t = t:abs():floor() end
  if dtype == "bool" then t = t:gt(0) end
  return t:to { dtype = dtype }:view(sizes)
end

-- An int64 (or int32) index of the given sizes with values in 1..limit and
-- many repeats, from an LCG.
local function index_of(sizes, limit, dtype, seed)
  local s, n = seed or 7, 1
  for _, size in ipairs(sizes) do n = n * size end
  local list = {}
  for i = 1, n do
    s = (s * 1103515245 + 12345) % 2147483648
    list[i] = math.floor(s / 2147483648 * limit) + 1
  end
  return oml.tensor(list, dtype or "int64"):view(sizes)
end

gpu_describe("index_select on cuda", function()
  it("picks slices along every dim, for every dtype and both index dtypes", function()
    for _, dtype in ipairs(DTYPES) do
      local a = values({ 7, 33, 5 }, dtype)
      for dim = 1, 3 do
        for _, idtype in ipairs { "int32", "int64" } do
          local index = index_of({ 11 }, a:size(dim), idtype, dim)
          same(function(x, i) return x:index_select(dim, i) end, { a, index }, 0)
        end
      end
    end
  end)

  it("reads views, 0-d and strided indices; an empty index gives an empty result", function()
    local a = values({ 9, 13 }, "float32")
    local index = index_of({ 6, 2 }, 9, "int64", 3)
    same(function(x, i) return x:t():index_select(2, i:select(2, 2)) end, { a, index }, 0)
    same(function(x, i) return x:narrow(2, 3, 7):index_select(1, i:select(2, 1)) end, { a, index }, 0)
    same(function(x) return x:index_select(2, oml.tensor(4, "int64"):to { device = x.device }) end, { a }, 0)
    same(function(x) return x:index_select(1, oml.tensor({}, "int64"):to { device = x.device }) end, { a }, 0)
  end)

  it("runs large inputs and indices over many blocks", function()
    local a = values({ 100003, 3 }, "float32")
    same(function(x, i) return x:index_select(1, i) end, { a, index_of({ 150001 }, 100003) }, 0)
    same(function(x, i) return x:t():index_select(2, i) end, { a, index_of({ 70001 }, 100003, "int32") }, 0)
  end)
end)

gpu_describe("index_add, index_copy and index_fill on cuda", function()
  it("index_add sums repeated indices with alpha, for every summed dtype", function()
    for _, dtype in ipairs(SUMMED) do
      local tol = TOL[dtype] or 0
      local dst, src = values({ 6, 5, 4 }, dtype), values({ 6, 5, 4 }, dtype)
      for dim = 1, 3 do
        local sizes = { 6, 5, 4 }
        sizes[dim] = 9
        local s = values(sizes, dtype)
        local index = index_of({ 9 }, dst:size(dim), "int64", dim)
        local alpha = tol > 0 and 2.5 or -3
        same(function(d, i, x) return d:index_add(dim, i, x, alpha) end, { dst, index, s }, tol)
      end
      -- a transposed destination and a narrowed source
      same(function(d, i, x) return d:transpose(1, 3):index_add(2, i, x:transpose(1, 3):narrow(2, 2, 3)) end,
        { dst, index_of({ 3 }, 5, "int32"), src }, tol)
    end
  end)

  it("index_add sums many repeats exactly on integer values", function()
    local dst, src = values({ 50, 7 }, "float32", true), values({ 100000, 7 }, "float32", true)
    same(function(d, i, x) return d:index_add(1, i, x) end, { dst, index_of({ 100000 }, 50), src }, 0)
    local idst, isrc = values({ 50, 7 }, "int64"), values({ 100000, 7 }, "int64")
    same(function(d, i, x) return d:index_add(1, i, x, 7) end, { idst, index_of({ 100000 }, 50), isrc }, 0)
    local bdst, bsrc = values({ 7, 50 }, "uint8"), values({ 7, 100000 }, "uint8")
    same(function(d, i, x) return d:index_add(2, i, x, 3) end, { bdst, index_of({ 100000 }, 50), bsrc }, 0)
  end)

  it("index_copy keeps the last slice of a repeated index, for every dtype", function()
    for _, dtype in ipairs(DTYPES) do
      local dst = values({ 6, 5, 4 }, dtype)
      for dim = 1, 3 do
        local sizes = { 6, 5, 4 }
        sizes[dim] = 9
        local index = index_of({ 9 }, dst:size(dim), "int32", dim + 10)
        same(function(d, i, x) return d:index_copy(dim, i, x) end, { dst, index, values(sizes, dtype) }, 0)
      end
    end
    local dst, src = values({ 1000, 3 }, "float64"), values({ 3, 100000 }, "float64")
    same(function(d, i, x) return d:t():index_copy(2, i, x) end, { dst, index_of({ 100000 }, 1000), src }, 0)
    same(function(d, i, x) return d:index_copy(1, i, x:narrow(2, 7, 1):t()) end,
      { dst, oml.tensor(17, "int64"), src }, 0) -- a 0-d index
  end)

  it("index_fill writes the converted value, for every dtype", function()
    for _, dtype in ipairs(DTYPES) do
      local dst = values({ 6, 5, 4 }, dtype)
      for dim = 1, 3 do
        local index = index_of({ 7 }, dst:size(dim), "int64", dim)
        for _, value in ipairs { 2.5, -1, 300 } do
          same(function(d, i) return d:index_fill(dim, i, value) end, { dst, index }, 0)
        end
      end
    end
    same(function(d, i) return d:t():index_fill(1, i, 9) end, { values({ 300, 999 }, "int32"), index_of({ 5000 }, 999) }, 0)
    same(function(d, i) return d:index_fill(2, i, 9) end, { values({ 3, 4 }, "int32"), oml.tensor({}, "int64") }, 0)
  end)
end)

gpu_describe("gather and scatter on cuda", function()
  it("gather along every dim from views, with smaller indices, for every dtype", function()
    for _, dtype in ipairs(DTYPES) do
      local a = values({ 8, 6, 7 }, dtype):permute(3, 1, 2) -- [7,8,6]
      for dim = 1, 3 do
        local sizes = { 5, 4, 3 }
        sizes[dim] = 9
        local index = index_of(sizes, a:size(dim), dim == 2 and "int32" or "int64", dim)
        same(function(x, i) return x:gather(dim, i) end, { a, index }, 0)
        same(function(x, i) return x:gather(dim, i:transpose(1, 3):contiguous():transpose(1, 3)) end, { a, index }, 0)
      end
    end
    same(function(x, i) return x:gather(2, i) end, { values({ 1000, 300 }, "float32"), index_of({ 1000, 200 }, 300) }, 0)
    same(function(x, i) return x:gather(1, i) end, { values({ 4, 3 }, "float32"), oml.zeros({ 0, 3 }, "int64") }, 0)
  end)

  it("scatter keeps the last repeat and scatter_add sums, along every dim", function()
    for _, dtype in ipairs(DTYPES) do
      for dim = 1, 3 do
        local dst = values({ 4, 5, 6 }, dtype):permute(2, 3, 1) -- [5,6,4]
        local src = values({ 8, 7, 8 }, dtype):narrow(1, 2, 6) -- [6,7,8]
        local sizes = { 4, 5, 3 }
        sizes[dim] = 6
        local index = index_of(sizes, dst:size(dim), dim == 3 and "int32" or "int64", dim)
        same(function(d, i, x) return d:scatter(dim, i, x) end, { dst, index, src }, 0)
        same(function(d, i) return d:scatter(dim, i, 5) end, { dst, index }, 0)
        if dtype ~= "bool" and dtype ~= "float16" and dtype ~= "bfloat16" then
          same(function(d, i, x) return d:scatter_add(dim, i, x) end, { dst, index, src }, TOL[dtype] or 0)
        end
      end
    end
  end)

  it("scatter and scatter_add large inputs", function()
    local dst = values({ 1000, 2 }, "float32", true)
    local index, src = index_of({ 100000, 2 }, 1000), values({ 100000, 2 }, "float32", true)
    same(function(d, i, x) return d:scatter(1, i, x) end, { dst, index, src }, 0)
    same(function(d, i, x) return d:scatter_add(1, i, x) end, { dst, index, src }, 0)
    local wide = values({ 3, 100000 }, "int32")
    same(function(d, i, x) return d:scatter(2, i, x) end, { wide, index_of({ 3, 70001 }, 100000), wide }, 0)
    same(function(d, i, x) return d:scatter_add(2, i, x) end, { wide, index_of({ 3, 70001 }, 100000), wide }, 0)
  end)
end)

gpu_describe("masks and nonzero on cuda", function()
  it("masked_fill broadcasts the mask, for every dtype", function()
    for _, dtype in ipairs(DTYPES) do
      local t = values({ 7, 33 }, dtype)
      local mask = values({ 1, 33 }, "bool")
      same(function(x, m) return x:masked_fill(m, 3.5) end, { t, mask }, 0)
      same(function(x, m) return x:t():masked_fill(m:t(), -1) end, { t, mask }, 0)
    end
    same(function(x) -- a mask that is a view of the tensor it fills is read first
      local y = x:clone()
      return y:masked_fill_(y:narrow(1, 1, 1), false)
    end, { values({ 5, 9 }, "bool") }, 0)
    same(function(x, m) return x:masked_fill(m, 7) end, { values({ 1000, 1001 }, "float32"), values({ 1000, 1001 }, "bool") }, 0)
  end)

  it("masked_select gives the selected elements in row-major order, for every dtype", function()
    for _, dtype in ipairs(DTYPES) do
      local t, mask = values({ 7, 1 }, dtype), values({ 7, 33 }, "bool")
      same(function(x, m) return x:masked_select(m) end, { t, mask }, 0)
      same(function(x, m) return x:t():masked_select(m:narrow(2, 3, 9)) end, { values({ 9, 7 }, dtype), mask }, 0)
    end
    same(function(x, m) return x:masked_select(m) end, { values({ 4, 5 }, "int64"), oml.zeros({ 4, 5 }, "bool") }, 0)
    same(function(x, m) return x:masked_select(m) end, { values({ 0, 5 }, "int64"), oml.zeros({ 0, 5 }, "bool") }, 0)
    same(function(x, m) return x:masked_select(m) end, { values({ 1000, 1001 }, "float64"), values({ 1000, 1001 }, "bool") }, 0)
  end)

  it("nonzero gives 1-based coordinates in row-major order, for every dtype", function()
    for _, dtype in ipairs(DTYPES) do
      same(function(x) return x:nonzero() end, { values({ 4, 5, 6 }, dtype):permute(3, 1, 2) }, 0)
    end
    local special = oml.tensor { 0, -0.0, 0 / 0, 1, 0 }
    same(function(x) return x:nonzero() end, { special }, 0) -- NaN counts, -0.0 does not
    same(function(x) return x:nonzero() end, { oml.tensor(3) }, 0)
    same(function(x) return x:nonzero() end, { oml.tensor(0) }, 0)
    same(function(x) return x:nonzero() end, { oml.zeros(0, 4) }, 0)
    same(function(x) return x:nonzero() end, { values({ 1000, 1001 }, "bool") }, 0)
  end)
end)

gpu_describe("index errors on cuda", function()
  -- Runs fn on the CPU and on the device: both raise text, and leave the
  -- tensors as they were.
  local function both_raise(fn, args, text)
    for _, device in ipairs { "cpu", DEVICE } do
      local on = G.to_device(args, device)
      local before = on[1]:cpu():clone()
      H.raises(function() fn(unpack(on)) end, text)
      H.close(on[1]:cpu(), before, 0)
    end
  end

  it("name an index out of range, the first in row-major order", function()
    local a = values({ 4, 5 }, "float32")
    local bad = oml.tensor({ 2, 7, 0, 9 }, "int64")
    both_raise(function(x, i) x:index_select(2, i) end, { a, bad }, "oml.index_select: index 7 is out of range 1..5 for dim 2")
    both_raise(function(x, i) x:index_add_(1, i, oml.ones(4, 5):to { device = x.device }) end, { a, bad },
      "oml.index_add_: index 7 is out of range 1..4 for dim 1")
    both_raise(function(x, i) x:index_copy_(1, i, oml.ones(4, 5):to { device = x.device }) end, { a, bad },
      "oml.index_copy_: index 7 is out of range 1..4 for dim 1")
    both_raise(function(x, i) x:index_fill_(2, i:int(), 1) end, { a, oml.tensor { 0, 2 } },
      "oml.index_fill_: index 0 is out of range 1..5 for dim 2")
    local grid = oml.tensor({ { 1, 2 }, { -3, 6 } }, "int32")
    both_raise(function(x, i) x:gather(2, i) end, { a, grid }, "oml.gather: index -3 is out of range 1..5 for dim 2")
    both_raise(function(x, i) x:scatter_(2, i, 1) end, { a, grid }, "oml.scatter_: index -3 is out of range 1..5 for dim 2")
    both_raise(function(x, i) x:scatter_add_(1, i, x:clone()) end, { a, grid }, "oml.scatter_add_: index -3 is out of range 1..4 for dim 1")
    both_raise(function(x, i) x:index_select(1, i) end, { oml.zeros(0, 3), oml.tensor({ 1 }, "int64") },
      "oml.index_select: index 1 is out of range for dim 1 of size 0")
  end)

  it("name the argument on another device", function()
    local g = oml.zeros({ 4, 5 }, { device = DEVICE })
    local index = oml.tensor({ 1 }, "int64")
    H.raises(function() local _ = g:index_select(1, index) end, "oml.index_select: the index is on the CPU but the input is on cuda:0")
    H.raises(function() local _ = g:index_add(1, index:cuda(), oml.ones(1, 5)) end,
      "oml.index_add: the source is on the CPU but the destination is on cuda:0")
    H.raises(function() local _ = g:index_copy(1, index, g:narrow(1, 1, 1)) end,
      "oml.index_copy: the index is on the CPU but the destination is on cuda:0")
    H.raises(function() local _ = g:index_fill(1, index, 1) end, "oml.index_fill: the index is on the CPU but the destination is on cuda:0")
    H.raises(function() local _ = g:gather(1, oml.ones({ 1, 1 }, "int64")) end, "oml.gather: the index is on the CPU but the input is on cuda:0")
    H.raises(function() local _ = g:cpu():gather(1, oml.ones({ 1, 1 }, { dtype = "int64", device = DEVICE })) end,
      "oml.gather: the index is on cuda:0 but the input is on the CPU")
    H.raises(function() local _ = g:scatter(1, oml.ones({ 1, 1 }, { dtype = "int64", device = DEVICE }), oml.ones(1, 1)) end,
      "oml.scatter: the source is on the CPU but the destination is on cuda:0")
    H.raises(function() local _ = g:masked_fill(oml.ones(5, "bool"), 1) end, "oml.masked_fill: the mask is on the CPU but the tensor is on cuda:0")
    H.raises(function() local _ = g:masked_select(oml.ones(5, "bool")) end, "oml.masked_select: the mask is on the CPU but the input is on cuda:0")
    H.raises(function() local _ = oml.cat { g, oml.zeros(1, 5) } end, "oml.cat: tensor 2 is on the CPU but tensor 1 is on cuda:0")
  end)
end)

gpu_describe("cat on cuda", function()
  it("joins views along every dim, promoting dtypes and skipping [0]", function()
    local a, b = values({ 4, 5, 6 }, "float32"), values({ 6, 5, 4 }, "int64"):permute(3, 2, 1)
    for dim = 1, 3 do
      same(function(x, y) return oml.cat({ x, y, x:narrow(dim, 2, 2) }, dim) end, { a, b }, 0)
    end
    same(function(x, y) return oml.cat({ y, x }, 1) end, { values({ 3 }, "uint8"), oml.zeros(0) }, 0)
    same(function(x, y) return oml.cat({ x, y }) end, { oml.zeros(0, "int32"), oml.zeros(0) }, 0)
    same(function(x, y) return oml.stack({ x, y }, 2) end, { values({ 3, 4 }, "bool"), values({ 3, 4 }, "bool") }, 0)
    same(function(x, y) return oml.cat({ x, y, x }, 2) end, { values({ 1000, 333 }, "float64"), values({ 1000, 1 }, "float64") }, 0)
  end)
end)

gpu_describe("creation on cuda", function()
  -- f(options) on the device equals f(options) on the CPU.
  local function same_made(f, opts)
    local cpu = f(opts)
    local on = {}
    for k, v in pairs(opts) do on[k] = v end
    on.device = DEVICE
    local g = f(on)
    assert.equal(DEVICE_NAME, g.device)
    assert.equal(cpu.dtype, g.dtype)
    H.close(g:cpu(), cpu, 0)
  end

  it("makes every kind of tensor on the device", function()
    for _, dtype in ipairs(DTYPES) do
      local opts = { dtype = dtype }
      same_made(function(o) return oml.zeros(3, 1001, o) end, opts)
      same_made(function(o) return oml.ones({ 2, 3 }, o) end, opts)
      same_made(function(o) return oml.full({ 257 }, 2.5, o) end, opts)
      same_made(function(o) return oml.eye(5, 7, o) end, opts)
      same_made(function(o) return oml.tensor({ { 1, 0 }, { 3, 4 } }, o) end, opts)
      same_made(function(o) return oml.zeros_like(oml.ones(2, 3), o) end, opts)
      same_made(function(o) return oml.full_like(oml.ones(2, 3), 7, o) end, opts)
      same_made(function(o) return oml.empty(0, 3, o) end, opts)
    end
    for _, dtype in ipairs { "float32", "float64", "int32", "int64" } do
      same_made(function(o) return oml.arange(-3, 100000, 3, o) end, { dtype = dtype })
      same_made(function(o) return oml.linspace(-1, 1, 1001, o) end, { dtype = dtype })
    end
    local e = oml.empty(4, 5, { device = DEVICE })
    assert.equal(DEVICE_NAME, e.device)
    assert.same({ 4, 5 }, e:size())
    assert.equal(DEVICE_NAME, oml.ones_like(e).device) -- the input's device by default
  end)
end)
