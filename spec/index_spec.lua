-- Indexing by index tensors and masks: index_select/add/copy/fill, gather,
-- scatter, masked_fill, masked_select, nonzero. Expected values are worked
-- out by hand or by plain Lua loops over the same data.
local oml = require "oml"
local H = require "helper"

local function m23() return oml.tensor { { 1, 2, 3 }, { 4, 5, 6 } } end

-- A deterministic pseudo-random integer stream in [0, n) (an LCG), so that
-- the specs need no random module.
local function stream(seed)
  local s = seed
  return function(n)
    s = (s * 1103515245 + 12345) % 2147483648
    return math.floor(s / 2147483648 * n)
  end
end

-- A tensor of the given sizes filled by f(linear position), through Lua.
local function filled(sizes, dtype, f)
  local t = oml.zeros(sizes, "float64")
  local p = t:data()
  for i = 0, t:numel() - 1 do p[i] = f(i) end
  return t:to(dtype)
end

local ALL_DTYPES = { "float32", "float64", "int32", "int64", "uint8" }

describe("index_select", function()
  it("picks slices along a dim, in index order, with repeats", function()
    local a = m23()
    assert.same({ { 4, 5, 6 }, { 1, 2, 3 }, { 4, 5, 6 } }, a:index_select(1, oml.tensor({ 2, 1, 2 }, "int64")):totable())
    assert.same({ { 3, 1 }, { 6, 4 } }, a:index_select(2, oml.tensor({ 3, 1 }, "int32")):totable())
    assert.same({ { 3, 1 }, { 6, 4 } }, a:index_select(-1, { 3, 1 }):totable()) -- a Lua list and a negative dim
    assert.same({ { 2 }, { 5 } }, oml.index_select(a, 2, oml.tensor(2, "int64")):totable()) -- a 0-d index
  end)

  it("keeps the dtype, for every dtype", function()
    for _, dtype in ipairs(ALL_DTYPES) do
      local r = m23():to(dtype):index_select(2, { 2 })
      assert.equal(dtype, r.dtype)
      assert.same({ { 2 }, { 5 } }, r:totable())
    end
    assert.same({ true, false }, oml.tensor { true, false, true }:index_select(1, { 3, 2 }):totable())
    local h = m23():half():index_select(1, { 2 })
    assert.equal("float16", h.dtype)
    assert.same({ { 4, 5, 6 } }, h:float():totable())
  end)

  it("reads non-contiguous inputs and indices", function()
    local a = m23():t() -- [3,2]
    assert.same({ { 3, 6 }, { 1, 4 } }, a:index_select(1, { 3, 1 }):totable())
    assert.same({ { 4 }, { 5 }, { 6 } }, a:index_select(2, { 2 }):totable())
    local idx = oml.tensor({ { 1, 9 }, { 3, 9 } }, "int64"):select(2, 1) -- {1, 3}, stride 2
    assert.same({ 1, 3 }, oml.tensor { 1, 2, 3 }:index_select(1, idx):totable())
  end)

  it("an empty index gives an empty result", function()
    local r = m23():index_select(1, oml.tensor({}, "int64"))
    assert.same({ 0, 3 }, r:size())
    assert.same({ 2, 0 }, m23():index_select(2, {}):size())
  end)

  it("matches a Lua loop on a large input (the parallel path)", function()
    local rand = stream(7)
    local a = filled({ 20000, 5 }, "float32", function(i) return i % 977 end)
    local list = {}
    for i = 1, 30000 do list[i] = rand(20000) + 1 end
    local r = a:index_select(1, list)
    local p, q = r:contiguous():data(), a:data()
    local ok = true
    for i = 1, 30000 do
      for j = 0, 4 do ok = ok and p[(i - 1) * 5 + j] == q[(list[i] - 1) * 5 + j] end
    end
    assert.is_true(ok)
    local c = a:index_select(2, { 5, 1 }) -- along the last dim
    assert.equal(a[{ 777, 5 }], c[{ 777, 1 }])
    assert.equal(a[{ 19999, 1 }], c[{ 19999, 2 }])
  end)

  it("raises on bad arguments", function()
    local a = m23()
    H.raises(function() local _ = a:index_select(1, { 3 }) end, "oml.index_select: index 3 is out of range 1..2 for dim 1")
    H.raises(function() local _ = a:index_select(2, { 1, 0 }) end, "oml.index_select: index 0 is out of range 1..3 for dim 2")
    H.raises(function() local _ = a:index_select(2, { -1 }) end, "oml.index_select: index -1 is out of range 1..3 for dim 2")
    H.raises(function() local _ = oml.zeros(0, 2):index_select(1, { 1 }) end, "oml.index_select: index 1 is out of range for dim 1 of size 0")
    H.raises(function() local _ = a:index_select(1, oml.tensor { 1 }) end, "oml.index_select: the index must be an int32 or int64 tensor (got float32)")
    H.raises(function() local _ = a:index_select(1, { { 1 } }) end, "oml.index_select: the index must be 0-d or 1-d (got shape [1,1])")
    H.raises(function() local _ = a:index_select(1, { 1.5 }) end, "oml.index_select: index entries must be integers (got 1.5)")
    H.raises(function() local _ = a:index_select(1, "1") end, "oml.index_select: the index must be a tensor or a list of integers (got string)")
    H.raises(function() local _ = a:index_select(3, { 1 }) end, "oml.index_select: dim 3 is out of range for a 2-d tensor")
    H.raises(function() local _ = oml.tensor(1):index_select(1, { 1 }) end, "oml.index_select: the input is 0-d: it has no dim to index")
    H.raises(function() local _ = oml.index_select(1, 1, { 1 }) end, "oml.index_select: the input must be a tensor (got number)")
  end)
end)

describe("index_add", function()
  it("adds alpha * src slices; repeated indices accumulate", function()
    local src = oml.tensor { { 1, 1, 1 }, { 2, 2, 2 }, { 3, 3, 3 } }
    local idx = oml.tensor({ 2, 2, 1 }, "int64")
    -- torch 1.13: torch.tensor([[1.,2,3],[4,5,6]]).index_add(0, torch.tensor([1,1,0]), src, alpha=2)
    assert.same({ { 7, 8, 9 }, { 10, 11, 12 } }, m23():index_add(1, idx, src, 2):totable())
    local a = m23()
    local r = a:index_add(1, idx, src)
    assert.same({ { 4, 5, 6 }, { 7, 8, 9 } }, r:totable())
    assert.same({ { 1, 2, 3 }, { 4, 5, 6 } }, a:totable()) -- the out-of-place form leaves a alone
    assert.equal(a, a:index_add_(2, oml.tensor({ 3, 3 }, "int32"), oml.tensor { { 1, 10 }, { 2, 20 } }))
    assert.same({ { 1, 2, 14 }, { 4, 5, 28 } }, a:totable())
  end)

  it("works for integer dtypes and non-contiguous tensors", function()
    for _, dtype in ipairs { "int32", "int64", "uint8", "float64" } do
      local a = m23():to(dtype)
      a:index_add_(2, { 1, 1 }, oml.tensor({ { 1, 2 }, { 3, 4 } }, dtype), 3)
      assert.same({ { 10, 2, 3 }, { 25, 5, 6 } }, a:totable())
    end
    local d = oml.zeros(3, 2):t() -- [2,3], non-contiguous
    d:index_add_(2, { 3, 1 }, m23():narrow(2, 2, 2)) -- src non-contiguous too
    assert.same({ { 3, 0, 2 }, { 6, 0, 5 } }, d:totable())
    local u = oml.tensor({ 250 }, "uint8")
    u:index_add_(1, { 1 }, oml.tensor({ 10 }, "uint8"))
    assert.same({ 4 }, u:totable()) -- wraps around, as PyTorch
  end)

  it("an empty index adds nothing", function()
    local a = m23()
    a:index_add_(1, {}, oml.zeros(0, 3))
    assert.same({ { 1, 2, 3 }, { 4, 5, 6 } }, a:totable())
  end)

  it("sums many repeats in order on the parallel path", function()
    local rand = stream(3)
    local n, rows = 40000, 50
    local list = {}
    for i = 1, n do list[i] = rand(rows) + 1 end
    local src = filled({ n, 2 }, "float64", function(i) return i % 13 end)
    local d = oml.zeros({ rows, 2 }, "float64"):index_add_(1, list, src)
    local expected = {}
    for r = 1, rows do expected[r] = { 0, 0 } end
    for i = 1, n do
      local row = expected[list[i]]
      row[1] = row[1] + (2 * (i - 1)) % 13
      row[2] = row[2] + (2 * (i - 1) + 1) % 13
    end
    assert.same(expected, d:totable())
    -- along the last dim: one line, its repeats summed in order
    local w = oml.zeros({ 2, rows }, "float64"):index_add_(2, list, src:t())
    assert.same(expected, w:t():totable())
    H.raises(function() local _ = w:index_add_(2, list, src) end, "oml.index_add_: the source has shape [40000,2] but needs [2,40000] for 40000 indices along dim 2")
  end)

  it("raises on bad arguments and writes nothing then", function()
    local a = m23()
    H.raises(function() local _ = a:index_add_(1, { 1, 3 }, oml.ones(2, 3)) end, "oml.index_add_: index 3 is out of range 1..2 for dim 1")
    assert.same({ { 1, 2, 3 }, { 4, 5, 6 } }, a:totable())
    H.raises(function() local _ = a:index_add(1, { 1 }, oml.ones(2, 3)) end, "oml.index_add: the source has shape [2,3] but needs [1,3] for 1 indices along dim 1")
    H.raises(function() local _ = a:index_add(1, { 1 }, oml.ones({ 1, 3 }, "float64")) end, "oml.index_add: the source is float64 but the destination is float32")
    H.raises(function() local _ = a:int():index_add(1, { 1 }, oml.ones({ 1, 3 }, "int32"), 0.5) end, "oml.index_add: alpha must be an integer for a int32 tensor (got 0.5)")
    H.raises(function() local _ = a:bool():index_add(1, { 1 }, oml.ones({ 1, 3 }, "bool")) end, "oml.index_add: cannot add into a bool tensor")
    H.raises(function() local _ = a:half():index_add(1, { 1 }, oml.ones({ 1, 3 }, "float16")) end, "oml.index_add: the destination is float16, a storage-only dtype")
    H.raises(function() local _ = a:index_add(1, { 1 }, 3) end, "oml.index_add: the source must be a tensor (got number)")
    H.raises(function() local _ = a:index_add(1, { 1 }, oml.ones(1, 3), "2") end, "oml.index_add: alpha must be a number (got string)")
    H.raises(function() local _ = a:index_add_(1, { 1, 2 }, a) end, "oml.index_add_: the source and the destination overlap in memory (clone one of them first)")
  end)
end)

describe("index_copy and index_fill", function()
  it("index_copy writes src slices at the index", function()
    local a = oml.zeros(3, 2)
    a:index_copy_(1, { 3, 1 }, oml.tensor { { 1, 2 }, { 3, 4 } })
    assert.same({ { 3, 4 }, { 0, 0 }, { 1, 2 } }, a:totable())
    local b = m23()
    local c = b:index_copy(2, oml.tensor({ 2 }, "int32"), oml.tensor { { 9 }, { 8 } })
    assert.same({ { 1, 9, 3 }, { 4, 8, 6 } }, c:totable())
    assert.same({ { 1, 2, 3 }, { 4, 5, 6 } }, b:totable())
    local t = m23():t():index_copy(2, { 1 }, oml.tensor { { 7 }, { 8 }, { 9 } }) -- non-contiguous
    assert.same({ { 7, 4 }, { 8, 5 }, { 9, 6 } }, t:totable())
    local h = oml.zeros(2):half():index_copy(1, { 2 }, oml.tensor { 5 }:half())
    assert.same({ 0, 5 }, h:float():totable())
    H.raises(function() local _ = a:index_copy_(1, { 4 }, oml.ones(1, 2)) end, "oml.index_copy_: index 4 is out of range 1..3 for dim 1")
    H.raises(function() local _ = a:index_copy_(1, { 1 }, oml.ones(1, 3)) end, "oml.index_copy_: the source has shape [1,3] but needs [1,2] for 1 indices along dim 1")
    H.raises(function() local _ = a:index_copy_(1, { 1 }, oml.ones({ 1, 2 }, "int64")) end, "oml.index_copy_: the source is int64 but the destination is float32")
  end)

  it("index_fill writes a value into the slices at the index", function()
    assert.same({ { 1, -1, -1 }, { 4, -1, -1 } }, m23():index_fill(2, { 3, 2, 3 }, -1):totable())
    for _, dtype in ipairs(ALL_DTYPES) do
      local a = m23():to(dtype)
      assert.equal(a, a:index_fill_(1, oml.tensor({ 1 }, "int32"), 7))
      assert.same({ { 7, 7, 7 }, { 4, 5, 6 } }, a:totable())
    end
    assert.same({ { true, false }, { true, false } }, oml.zeros({ 2, 2 }, "bool"):index_fill(2, { 1 }, true):totable())
    local t = m23():t() -- [3,2] non-contiguous
    t:index_fill_(1, { 2 }, 0)
    assert.same({ { 1, 4 }, { 0, 0 }, { 3, 6 } }, t:totable())
    assert.same({ { 1, 2, 3 }, { 4, 5, 6 } }, m23():index_fill(1, {}, 0):totable())
    H.raises(function() local _ = m23():index_fill(1, { 3 }, 0) end, "oml.index_fill: index 3 is out of range 1..2 for dim 1")
    H.raises(function() local _ = m23():index_fill(1, { 1 }, "x") end, "oml.index_fill: the value must be a number (got string)")
    H.raises(function() local _ = m23():index_fill_(1, oml.tensor { 1 }, 0) end, "oml.index_fill_: the index must be an int32 or int64 tensor (got float32)")
  end)
end)

-- out[i][j][k] = a[index[i][j][k]][j][k] (dim 1), and so on, in Lua
local function gather_reference(a, dim, index)
  local out = {}
  for i, plane in ipairs(index) do
    out[i] = {}
    for j, row in ipairs(plane) do
      out[i][j] = {}
      for k, v in ipairs(row) do
        local at = { i, j, k }
        at[dim] = v
        out[i][j][k] = a[at[1]][at[2]][at[3]]
      end
    end
  end
  return out
end

-- dst[...index...] = src (or += src), walking index in row-major order
local function scatter_reference(dst, dim, index, src, add)
  for i, plane in ipairs(index) do
    for j, row in ipairs(plane) do
      for k, v in ipairs(row) do
        local at = { i, j, k }
        at[dim] = v
        local cur = dst[at[1]][at[2]]
        cur[at[3]] = add and cur[at[3]] + src[i][j][k] or src[i][j][k]
      end
    end
  end
  return dst
end

-- a random int64 index of `sizes` with values in 1..limit
local function random_index(rand, sizes, limit)
  return filled(sizes, "int64", function() return rand(limit) + 1 end)
end

describe("gather", function()
  it("picks one element per index position", function()
    local a = m23()
    -- torch 1.13: torch.tensor([[1.,2,3],[4,5,6]]).gather(1, torch.tensor([[2,0],[1,1]])) (0-based)
    assert.same({ { 3, 1 }, { 5, 5 } }, a:gather(2, { { 3, 1 }, { 2, 2 } }):totable())
    assert.same({ { 4, 2, 6 } }, a:gather(1, oml.tensor({ { 2, 1, 2 } }, "int32")):totable())
    assert.same({ 0, 3 }, a:gather(1, oml.zeros({ 0, 3 }, "int64")):size())
    for _, dtype in ipairs(ALL_DTYPES) do
      assert.same({ { 2 }, { 4 } }, a:to(dtype):gather(2, { { 2 }, { 1 } }):totable())
    end
  end)

  it("matches a Lua loop on 3-d non-contiguous inputs, along every dim", function()
    local rand = stream(11)
    local a = filled({ 4, 5, 6 }, "float64", function(i) return i * 0.5 end):permute(3, 1, 2) -- [6,4,5]
    local at = a:totable()
    for dim = 1, 3 do
      local sizes = { 5, 3, 4 }
      sizes[dim] = 9 -- the index may be longer than the input along dim
      local index = random_index(rand, sizes, a:size(dim))
      H.close(a:gather(dim, index), gather_reference(at, dim, index:totable()), 0)
      H.close(a:gather(dim, index:transpose(1, 3):contiguous():transpose(1, 3)), gather_reference(at, dim, index:totable()), 0)
    end
  end)

  it("runs large inputs in parallel with the same result", function()
    local rand = stream(5)
    local a = filled({ 300, 200 }, "float32", function(i) return i % 1000 end)
    local index = random_index(rand, { 300, 150 }, 200)
    local r = a:gather(2, index):totable()
    local at, it = a:totable(), index:totable()
    local ok = true
    for i = 1, 300 do
      for j = 1, 150 do ok = ok and r[i][j] == at[i][it[i][j]] end
    end
    assert.is_true(ok)
  end)

  it("raises on bad arguments", function()
    local a = m23()
    H.raises(function() local _ = a:gather(2, { { 4 } }) end, "oml.gather: index 4 is out of range 1..3 for dim 2")
    H.raises(function() local _ = a:gather(2, { 1 }) end, "oml.gather: the index has 1 dims but the input has 2")
    H.raises(function() local _ = a:gather(2, { { 1 }, { 1 }, { 1 } }) end, "oml.gather: the index of shape [3,1] is larger than the input of shape [2,3] outside dim 2")
    H.raises(function() local _ = a:gather(1, oml.ones({ 1, 1 }, "uint8")) end, "oml.gather: the index must be an int32 or int64 tensor (got uint8)")
    H.raises(function() local _ = oml.tensor(1):gather(1, { 1 }) end, "oml.gather: the input is 0-d: it has no dim to index")
  end)
end)

describe("scatter and scatter_add", function()
  it("write src at the index; scatter_add sums repeats", function()
    local src = oml.tensor { { 1, 2, 3 }, { 4, 5, 6 } }
    local idx = { { 1, 2, 1 }, { 2, 1, 1 } }
    -- torch 1.13: torch.zeros(2,3).scatter(0, torch.tensor([[0,1,0],[1,0,0]]), src)
    assert.same({ { 1, 5, 6 }, { 4, 2, 0 } }, oml.zeros(2, 3):scatter(1, idx, src):totable())
    -- torch 1.13: torch.zeros(2,3).scatter_add(0, torch.tensor([[0,1,0],[1,0,0]]), src)
    assert.same({ { 1, 5, 9 }, { 4, 2, 0 } }, oml.zeros(2, 3):scatter_add(1, idx, src):totable())
    assert.same({ { 3, 0, 0 }, { 0, 0, 9 } }, oml.zeros(2, 3):scatter_add(2, { { 1, 1 }, { 3, 3 } }, src):totable())
    assert.same({ { 0, 7 }, { 7, 0 } }, oml.zeros(2, 2):scatter(2, { { 2 }, { 1 } }, 7):totable()) -- a number
    local a = oml.zeros(2, 2)
    assert.equal(a, a:scatter_(1, oml.tensor({ { 2, 1 } }, "int32"), oml.tensor { { 5, 6 } }))
    assert.same({ { 0, 6 }, { 5, 0 } }, a:totable())
    local b = oml.zeros(2, 2)
    local _ = b:scatter_add(1, { { 1 } }, oml.ones(1, 1))
    assert.same({ { 0, 0 }, { 0, 0 } }, b:totable()) -- the out-of-place form leaves b alone
  end)

  it("match a Lua loop on 3-d non-contiguous tensors, for every dim and dtype", function()
    local rand = stream(23)
    for _, dtype in ipairs { "float64", "int32", "int64" } do
      for dim = 1, 3 do
        local dst = filled({ 4, 5, 6 }, dtype, function(i) return i % 7 end):permute(2, 3, 1) -- [5,6,4]
        local src = filled({ 8, 7, 8 }, dtype, function(i) return i % 11 end):narrow(1, 2, 6) -- [6,7,8]
        local sizes = { 4, 5, 3 }
        sizes[dim] = 6
        local index = random_index(rand, sizes, dst:size(dim))
        local expected = scatter_reference(dst:totable(), dim, index:totable(), src:totable(), true)
        assert.same(expected, dst:scatter_add(dim, index, src):totable())
        expected = scatter_reference(dst:totable(), dim, index:totable(), src:totable(), false)
        assert.same(expected, dst:scatter(dim, index, src):totable()) -- the last repeat wins
      end
    end
  end)

  it("sum repeats in order on the parallel path", function()
    local rand = stream(9)
    local index = random_index(rand, { 2000, 30 }, 40)
    local src = filled({ 2000, 30 }, "float64", function(i) return i % 17 end)
    local d = oml.zeros({ 40, 30 }, "float64"):scatter_add(1, index, src)
    local expected = {}
    for r = 1, 40 do
      expected[r] = {}
      for c = 1, 30 do expected[r][c] = 0 end
    end
    local it = index:totable()
    for i = 1, 2000 do
      for c = 1, 30 do
        local row = expected[it[i][c]]
        row[c] = row[c] + ((i - 1) * 30 + c - 1) % 17
      end
    end
    assert.same(expected, d:totable())
    assert.same(d:totable(), oml.zeros({ 40, 30 }, "float64"):scatter_add(1, index:t():contiguous():t(), src):totable())
    -- wide rows are cut into pieces across threads; float sums must not depend on the thread count
    local wide_index = random_index(rand, { 60, 1200 }, 40)
    local wide_src = filled({ 60, 1200 }, "float32", function(i) return (i % 101) / 7 end)
    local parallel = oml.zeros(40, 1200):scatter_add(1, wide_index, wide_src)
    local threads = oml.get_num_threads()
    oml.set_num_threads(1)
    local serial = oml.zeros(40, 1200):scatter_add(1, wide_index, wide_src)
    oml.set_num_threads(threads)
    assert.same(serial:totable(), parallel:totable())
  end)

  it("raise on bad arguments and write nothing then", function()
    local a = oml.zeros(2, 3)
    H.raises(function() local _ = a:scatter_(1, { { 1, 3 } }, oml.ones(1, 2)) end, "oml.scatter_: index 3 is out of range 1..2 for dim 1")
    assert.same({ { 0, 0, 0 }, { 0, 0, 0 } }, a:totable())
    H.raises(function() local _ = a:scatter(1, { { 1, 1 } }, oml.ones(1, 1)) end, "oml.scatter: the index of shape [1,2] is larger than the source of shape [1,1]")
    H.raises(function() local _ = a:scatter(2, { { 1 }, { 1 }, { 1 } }, oml.ones(3, 1)) end, "oml.scatter: the index of shape [3,1] is larger than the destination of shape [2,3] outside dim 2")
    H.raises(function() local _ = a:scatter(1, { 1 }, oml.ones(1)) end, "oml.scatter: the index has 1 dims but the destination has 2")
    H.raises(function() local _ = a:scatter(1, { { 1 } }, oml.ones({ 1, 1 }, "int64")) end, "oml.scatter: the source is int64 but the destination is float32")
    H.raises(function() local _ = a:bool():scatter_add(1, { { 1 } }, oml.ones({ 1, 1 }, "bool")) end, "oml.scatter_add: cannot add into a bool tensor")
    H.raises(function() local _ = a:scatter_add(1, { { 1 } }, "x") end, "oml.scatter_add: the source must be a tensor (got string)")
    local l = oml.ones({ 2, 2 }, "int64")
    H.raises(function() local _ = l:scatter_(1, l, 5) end, "oml.scatter_: the index and the destination overlap in memory (clone one of them first)")
    assert.same({ { 1, 1 }, { 1, 1 } }, l:totable())
  end)
end)

describe("masked_fill and masked_select", function()
  it("masked_fill writes where the (broadcast) mask is true", function()
    local mask = oml.tensor { true, false, true }
    assert.same({ { 0, 2, 0 }, { 0, 5, 0 } }, m23():masked_fill(mask, 0):totable())
    local a = m23()
    assert.equal(a, a:masked_fill_(a:gt(4), -1))
    assert.same({ { 1, 2, 3 }, { 4, -1, -1 } }, a:totable())
    for _, dtype in ipairs(ALL_DTYPES) do
      assert.same({ { 9, 2, 9 }, { 9, 5, 9 } }, m23():to(dtype):masked_fill(mask, 9):totable())
    end
    local t = m23():t() -- non-contiguous
    t:masked_fill_(oml.tensor { { true }, { false }, { true } }, 0)
    assert.same({ { 0, 0 }, { 2, 5 }, { 0, 0 } }, t:totable())
    assert.same({ true, true }, oml.zeros({ 2 }, "bool"):masked_fill(oml.tensor { true, true }, true):totable())
    H.raises(function() local _ = m23():masked_fill(oml.tensor { 1, 0, 1 }, 0) end, "oml.masked_fill: the mask must be a bool tensor (got float32)")
    H.raises(function() local _ = m23():masked_fill(oml.tensor { true, false }, 0) end, "oml.masked_fill: the mask of shape [2] cannot be broadcast to the tensor's shape [2,3]")
    H.raises(function() local _ = m23():masked_fill(mask, "0") end, "oml.masked_fill: the value must be a number (got string)")
  end)

  it("masked_select gives the selected elements in row-major order", function()
    local a = m23()
    assert.same({ 5, 6 }, a:masked_select(a:gt(4)):totable())
    assert.same({ 1, 3, 4, 6 }, a:masked_select(oml.tensor { true, false, true }):totable())
    assert.same({ 2, 6 }, a:t():masked_select(oml.tensor { { false, false }, { true, false }, { false, true } }):totable())
    assert.same({ 1, 2, 3 }, oml.tensor { 1, 2, 3 }:masked_select(oml.tensor { { true }, { false } }):totable()) -- a broadcasts too
    assert.same({ 0 }, a:masked_select(a:gt(9)):size())
    assert.equal("int64", a:long():masked_select(a:gt(1)).dtype)
    local big = filled({ 300, 400 }, "float32", function(i) return i % 10 end)
    local sel = big:masked_select(big:eq(3))
    assert.equal(12000, sel:numel())
    local ok = true
    for _, v in ipairs(sel:totable()) do ok = ok and v == 3 end
    assert.is_true(ok)
    H.raises(function() local _ = a:masked_select(oml.tensor { true, false }) end, "oml.masked_select: shapes [2,3] and [2] cannot be broadcast together")
    H.raises(function() local _ = a:masked_select(a) end, "oml.masked_select: the mask must be a bool tensor (got float32)")
  end)
end)

describe("nonzero", function()
  it("gives the 1-based coordinates of nonzero elements", function()
    assert.same({ { 1, 1 }, { 2, 2 }, { 2, 3 } }, oml.tensor { { 1, 0, 0 }, { 0, 2, -1 } }:nonzero():totable())
    -- NaN is nonzero, -0.0 is not (torch 1.13: torch.tensor([0., nan, -0.]).nonzero() is [[1]])
    assert.same({ { 2 } }, oml.tensor { 0, 0 / 0, -0.0 }:nonzero():totable())
    assert.same({ { 1, 2 } }, oml.tensor { { false, true } }:nonzero():totable())
    assert.same({ { 2, 1 } }, oml.tensor { { 0, 1 }, { 0, 0 } }:t():nonzero():totable()) -- non-contiguous
    local n = oml.zeros(3, 2):nonzero()
    assert.same({ 0, 2 }, n:size())
    assert.equal("int64", n.dtype)
    assert.same({ 1, 0 }, oml.tensor(5):nonzero():size())
    for _, dtype in ipairs(ALL_DTYPES) do
      assert.same({ { 1 }, { 3 } }, oml.tensor({ 1, 0, 2 }, dtype):nonzero():totable())
    end
    H.raises(function() local _ = oml.nonzero(3) end, "oml.nonzero: the input must be a tensor (got number)")
  end)
end)

describe("writing into tensors that share memory", function()
  it("masked_fill reads a mask that is a view of the tensor as it was", function()
    local m = oml.ones({ 2, 2 }, "bool")
    m:masked_fill_(m:t(), false) -- element (2,1) reads (1,2), written just before
    assert.same({ { false, false }, { false, false } }, m:totable())
    local r = oml.tensor { true, false, false, true, true }
    r:masked_fill_(r:as_strided({ 5 }, { -1 }, 5), false) -- the mask reversed: true, true, false, false, true
    assert.same({ false, false, false, true, false }, r:totable())
    local s = oml.tensor { true, false, true }
    s:masked_fill_(s, false) -- the very same view is fine as it is
    assert.same({ false, false, false }, s:totable())
  end)

  it("refuses destinations whose elements share memory", function()
    local e = oml.zeros(1, 3):expand(4, 3)
    local msg = "the destination is an expanded view whose elements share memory"
    H.raises(function() e:index_add_(1, { 1, 2 }, oml.ones(2, 3)) end, "oml.index_add_: " .. msg)
    H.raises(function() e:index_copy_(1, { 1, 2 }, oml.ones(2, 3)) end, "oml.index_copy_: " .. msg)
    H.raises(function() e:index_fill_(1, { 1, 2 }, 5) end, "oml.index_fill_: " .. msg)
    H.raises(function() e:scatter_(1, oml.tensor({ { 1, 2, 3 } }, "int64"), 5) end, "oml.scatter_: " .. msg)
    H.raises(function() e:masked_fill_(oml.tensor { true, false, true }, 5) end,
      "oml.masked_fill_: the tensor is an expanded view whose elements share memory")
    assert.same({ { 0, 0, 0 } }, e:narrow(1, 1, 1):totable())
  end)
end)
