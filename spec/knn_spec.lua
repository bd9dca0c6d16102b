-- oml.retrieval.knn.search against a naive reference written here (float64
-- distances from the inputs' values, a full sort with ties to the lower
-- gallery index) on random data of several shapes and block sizes; exact
-- ties; exclusions (self, sequences); empty inputs; thread-count
-- independence; float64; views; agreement with oml.cdist; preallocated
-- outputs of the C API; and every error.
local ffi = require "ffi"
local oml = require "oml"
local T = require "oml.tensor"
local knn = require "oml.retrieval.knn"
local H = require "helper"

local C = T.C
local search = knn.search
local inf = math.huge

local function sqdist(a, b)
  local s = 0
  for c = 1, #a do s = s + (a[c] - b[c]) ^ 2 end
  return s
end

local function sqnorm(v)
  local s = 0
  for _, x in ipairs(v) do s = s + x * x end
  return s
end

-- The k nearest gallery rows of each query row by brute force, with Q and G
-- lists of rows; skip(i, j) says that query i may not retrieve row j.
local function reference(Q, G, k, skip)
  local result = {}
  for i = 1, #Q do
    local all = {}
    for j = 1, #G do
      if not (skip and skip(i, j)) then all[#all + 1] = { math.sqrt(sqdist(Q[i], G[j])), j } end
    end
    table.sort(all, function(a, b) return a[1] < b[1] or (a[1] == b[1] and a[2] < b[2]) end)
    local row = { dist = {}, index = {}, count = math.min(k, #all) }
    for r = 1, k do
      row.dist[r] = all[r] and all[r][1] or inf
      row.index[r] = all[r] and all[r][2] or 0
    end
    result[i] = row
  end
  return result
end

-- Checks a search's results against the reference. The GEMM form rounds
-- ||q||^2 + ||g||^2 - 2 q.g, so squared distances may differ by eps times
-- the squared norms; an index may differ from the reference's only where
-- its own distance equals the reference's at that rank as closely (a
-- near-tie, which rounding may break either way).
local function check(d, idx, n, Q, G, k, skip, eps)
  local ref = reference(Q, G, k, skip)
  d, idx, n = d:totable(), idx:totable(), n:totable()
  assert.equal(#ref, #d)
  local gmax = 0
  for _, g in ipairs(G) do gmax = math.max(gmax, sqnorm(g)) end
  for i, row in ipairs(ref) do
    local tol = eps * (sqnorm(Q[i]) + gmax + 1)
    assert.equal(row.count, n[i], "count of query " .. i)
    assert.equal(k, #d[i])
    local seen = {}
    for r = 1, k do
      local j, e, where = idx[i][r], row.dist[r], ("query %d, rank %d"):format(i, r)
      if e == inf then
        assert(d[i][r] == inf and j == 0, where .. ": expected distance inf and index 0")
      else
        assert(math.abs(d[i][r] ^ 2 - e ^ 2) <= tol, ("%s: distance %.9g, expected %.9g"):format(where, d[i][r], e))
        if j ~= row.index[r] then
          assert(j >= 1 and j <= #G and not (skip and skip(i, j)) and not seen[j] and
                 math.abs(sqdist(Q[i], G[j]) - e ^ 2) <= tol,
                 ("%s: index %d, expected %d"):format(where, j, row.index[r]))
        end
        seen[j] = true
        if r > 1 then assert(d[i][r - 1] <= d[i][r], where .. ": distances not ascending") end
      end
    end
  end
end

local EPS32, EPS64 = 1e-5, 1e-12

describe("knn.search", function()
  it("matches the reference on random data of several shapes", function()
    oml.manual_seed(11)
    -- nq, ng, d, k, block (nil: the default); neither count a multiple of the block
    for _, case in ipairs {
      { 7, 23, 1, 1, 4 }, { 13, 37, 3, 5, 4 }, { 9, 50, 128, 10, 7 }, { 20, 31, 3, 31, 6 },
      { 6, 10, 3, 15, 3 }, { 33, 130, 5, 7, 1 }, { 40, 300, 16, 8 }, { 100, 1000, 32, 20 },
      { 3, 1, 4, 2, 2 }, { 1, 17, 2, 17, 5 },
    } do
      local nq, ng, dim, k, block = unpack(case)
      local q, g = oml.randn(nq, dim), oml.randn(ng, dim)
      local d, idx, n = search(q, g, k, { block = block })
      assert.equal("float32", d.dtype)
      assert.equal("int64", idx.dtype)
      assert.same({ nq }, n:size())
      check(d, idx, n, q:totable(), g:totable(), k, nil, EPS32)
    end
  end)

  it("breaks exact ties by the lower gallery index", function()
    -- small integers: every product and sum is exact in float32
    local G = { { 0, 0 }, { 1, 0 }, { 0, 1 }, { 1, 0 }, { 0, 0 }, { 2, 2 }, { 1, 0 }, { 0, 1 } }
    local Q = { { 0, 0 }, { 1, 0 }, { 1, 1 }, { 2, 2 } }
    local ref = reference(Q, G, 8)
    for _, block in ipairs { 1, 2, 3, 8 } do
      local d, idx = search(oml.tensor(Q), oml.tensor(G), 8, { block = block })
      for i = 1, #Q do
        assert.same(ref[i].index, idx:totable()[i])
        H.close(d:totable()[i], ref[i].dist, 1e-7)
      end
    end
    -- hand-checked: from (1,1), rows 2,3,4,7,8 are all at distance 1
    assert.same({ 2, 3, 4, 7, 8, 1, 5, 6 }, ref[3].index)
  end)

  it("decides ties on the distances as returned", function()
    -- from (1,0), rows (0,b) and (0,a) with b > a are at 1 + b^2/2 and
    -- 1 + a^2/2: apart in float64, both 1 in float32, so the lower index wins
    local a, b = 2 ^ -15, 2 ^ -15 * (1 + 2 ^ -20)
    local d, idx = search(oml.tensor { { 1, 0 } }, oml.tensor { { 0, b }, { 0, a } }, 2)
    assert.same({ { 1, 1 } }, d:totable())
    assert.same({ { 1, 2 } }, idx:totable())
  end)

  it("skips each query's own row (one vs rest)", function()
    oml.manual_seed(12)
    local x = oml.randn(45, 6)
    local X = x:totable()
    local self = oml.arange(1, 46, "int64")
    local d, idx, n = search(x, x, 5, { self_index = self, block = 8 })
    check(d, idx, n, X, X, 5, function(i, j) return i == j end, EPS32)
    -- int32 indices, and 0 for a query that skips nothing
    local some = oml.tensor({ 2, 0, 3 }, "int32")
    d, idx, n = search(x:narrow(1, 1, 3), x, 4, { self_index = some })
    check(d, idx, n, { X[1], X[2], X[3] }, X, 4, function(i, j) return j == ({ 2, 0, 3 })[i] end, EPS32)
    -- query 2 skips nothing and finds itself, at 0 up to the GEMM form's rounding
    assert.equal(2, idx:totable()[2][1])
    assert.is_true(d:totable()[2][1] < 1e-3)
  end)

  it("skips gallery rows of the query's sequence, and fills short rows", function()
    oml.manual_seed(13)
    local x = oml.randn(60, 4)
    local X = x:totable()
    local seq = oml.randint(1, 5, { 60 })
    local S = seq:totable()
    local self = oml.arange(1, 61, "int64")
    -- k above every query's eligible count: rows end in inf and 0
    for _, k in ipairs { 3, 50 } do
      local d, idx, n = search(x, x, k, { self_index = self, query_sequence = seq, gallery_sequence = seq, block = 7 })
      check(d, idx, n, X, X, k, function(i, j) return i == j or S[i] == S[j] end, EPS32)
    end
    -- separate queries and gallery, int32 ids
    local q, g = oml.randn(9, 4), oml.randn(25, 4)
    local qs, gs = oml.tensor({ 1, 2, 3, 1, 2, 3, 7, 7, 9 }, "int32"), oml.randint(1, 4, { 25 }, "int32")
    local QS, GS = qs:totable(), gs:totable()
    local d, idx, n = search(q, g, 30, { query_sequence = qs, gallery_sequence = gs })
    check(d, idx, n, q:totable(), g:totable(), 30, function(i, j) return QS[i] == GS[j] end, EPS32)
    -- a query whose sequence holds the whole gallery retrieves nothing
    d, idx, n = search(q:narrow(1, 1, 1), g, 2, { query_sequence = oml.tensor({ 5 }, "int64"),
      gallery_sequence = oml.full({ 25 }, 5, "int64") })
    assert.same({ { inf, inf } }, d:totable())
    assert.same({ { 0, 0 } }, idx:totable())
    assert.same({ 0 }, n:totable())
  end)

  it("handles empty queries, an empty gallery and empty embeddings", function()
    local d, idx, n = search(oml.zeros(0, 3), oml.randn(5, 3), 4)
    assert.same({ 0, 4 }, d:size())
    assert.same({ 0, 4 }, idx:size())
    assert.same({ 0 }, n:size())
    d, idx, n = search(oml.randn(2, 3), oml.zeros(0, 3), 3)
    assert.same({ { inf, inf, inf }, { inf, inf, inf } }, d:totable())
    assert.same({ { 0, 0, 0 }, { 0, 0, 0 } }, idx:totable())
    assert.same({ 0, 0 }, n:totable())
    -- d = 0: every gallery row at distance 0, in index order
    d, idx, n = search(oml.zeros(2, 0), oml.zeros(4, 0), 3, { block = 3 })
    assert.same({ { 0, 0, 0 }, { 0, 0, 0 } }, d:totable())
    assert.same({ { 1, 2, 3 }, { 1, 2, 3 } }, idx:totable())
    assert.same({ 3, 3 }, n:totable())
  end)

  it("gives the same results for any thread count", function()
    local threads = oml.get_num_threads()
    oml.manual_seed(14)
    local q, g = oml.randn(300, 24), oml.randn(700, 24)
    for _, block in ipairs { 0, 64 } do
      local opts = block > 0 and { block = block } or nil
      local results = {}
      for t = 1, 3 do
        oml.set_num_threads(t)
        local d, idx, n = search(q, g, 9, opts)
        results[t] = { d:totable(), idx:totable(), n:totable() }
      end
      assert.same(results[1], results[2])
      assert.same(results[1], results[3])
    end
    oml.set_num_threads(threads)
  end)

  it("searches float64 embeddings in float64", function()
    oml.manual_seed(15)
    local q, g = oml.randn(21, 7, "float64"), oml.randn(66, 7, "float64")
    local d, idx, n = search(q, g, 6, { block = 5 })
    assert.equal("float64", d.dtype)
    check(d, idx, n, q:totable(), g:totable(), 6, nil, EPS64)
    -- ties in float64 too
    local G = oml.tensor({ { 1, 1 }, { 0, 0 }, { 1, 1 } }, "float64")
    local _, i2 = search(oml.tensor({ { 1, 1 } }, "float64"), G, 3)
    assert.same({ { 1, 3, 2 } }, i2:totable())
  end)

  it("reads views: transposed, narrowed and strided", function()
    oml.manual_seed(16)
    local q, g = oml.randn(12, 9), oml.randn(40, 9)
    local d0, i0, n0 = search(q, g, 5)
    local d1, i1, n1 = search(q:t():contiguous():t(), g:t():contiguous():t(), 5)
    assert.same(d0:totable(), d1:totable())
    assert.same(i0:totable(), i1:totable())
    assert.same(n0:totable(), n1:totable())
    local wide = oml.randn(40, 12)
    local part = wide:narrow(2, 3, 9) -- rows of unit stride, row stride 12
    local d2, i2, n2 = search(q, part, 5, { block = 6 })
    check(d2, i2, n2, q:totable(), part:totable(), 5, nil, EPS32)
  end)

  it("agrees with oml.cdist's euclidean distances", function()
    oml.manual_seed(17)
    for _, shape in ipairs { { 30, 80, 64 }, { 10, 20, 5 } } do -- cdist's GEMM and direct paths
      local q, g = oml.randn(shape[1], shape[3]), oml.randn(shape[2], shape[3])
      local all = oml.cdist(q, g):totable()
      local d, idx = search(q, g, 8)
      d, idx = d:totable(), idx:totable()
      for i = 1, shape[1] do
        for r = 1, 8 do
          local want = all[i][idx[i][r]]
          assert(math.abs(d[i][r] - want) <= 1e-5 * want, ("query %d rank %d: %.9g vs cdist %.9g"):format(i, r,
            d[i][r], want))
        end
      end
    end
  end)

  describe("through the C API", function()
    local function last_error() return ffi.string(C.oml_last_error()) end

    it("writes preallocated outputs in place, views too", function()
      oml.manual_seed(18)
      local q, g = oml.randn(6, 3), oml.randn(20, 3)
      local d0, i0, n0 = search(q, g, 4)
      local d, idx, n = oml.empty(4, 6):t(), oml.zeros(6, 4, "int64"), oml.zeros(6, "int64")
      assert.equal(0, C.oml_knn_search(q, g, nil, nil, nil, d, idx, n, 4, 0, 0))
      assert.same(d0:totable(), d:totable())
      assert.same(i0:totable(), idx:totable())
      assert.same(n0:totable(), n:totable())
      -- counts may be left out
      assert.equal(0, C.oml_knn_search(q, g, nil, nil, nil, d, idx, nil, 4, 0, 0))
    end)

    it("reads an input from a copy when an output overlaps it", function()
      oml.manual_seed(19)
      local g = oml.randn(16, 4)
      local q = g:clone()
      local d0, i0 = search(q, g, 4)
      local idx = T.new()
      -- distances written into the gallery's own storage
      assert.equal(0, C.oml_knn_search(q, g, nil, nil, nil, g, idx, nil, 4, 3, 3))
      H.close(g, d0, 0)
      assert.same(i0:totable(), idx:totable())
    end)

    it("refuses bad outputs and block sizes", function()
      local q, g = oml.randn(3, 2), oml.randn(5, 2)
      local d, idx = T.new(), T.new()
      assert.equal(-1, C.oml_knn_search(q, g, nil, nil, nil, nil, idx, nil, 2, 0, 0))
      assert.equal("no output tensor", last_error())
      assert.equal(-1, C.oml_knn_search(q, g, nil, nil, nil, oml.empty(3, 3), idx, nil, 2, 0, 0))
      assert.equal("the output has shape [3,3] but the result has shape [3,2]", last_error())
      assert.equal(-1, C.oml_knn_search(q, g, nil, nil, nil, d, oml.empty(3, 2), nil, 2, 0, 0))
      assert.equal("the output is float32 but the result is int64", last_error())
      local shared = oml.zeros(12, "int64")
      assert.equal(-1, C.oml_knn_search(q, g, nil, nil, nil, d, shared:narrow(1, 1, 6):view(3, 2),
        shared:narrow(1, 7, 3), 2, 0, 0))
      assert.equal("the distances, indices and counts outputs must not share storage", last_error())
      assert.equal(-1, C.oml_knn_search(q, g, nil, nil, nil, d, idx, nil, 2, -1, 0))
      assert.equal("block sizes must be >= 0, 0 for the default (got -1 and 0)", last_error())
      -- a failed call leaves unset outputs unset
      assert.is_true(d.storage_ == nil and idx.storage_ == nil)
    end)
  end)

  describe("errors", function()
    local q, g = oml.randn(3, 2), oml.randn(4, 2)
    local name = "oml.retrieval.knn.search: "

    it("checks the embeddings", function()
      H.raises(function() local _ = search(1, g, 2) end, name .. "queries must be a tensor (got number)")
      H.raises(function() local _ = search(q, "g", 2) end, name .. "gallery must be a tensor (got string)")
      H.raises(function() local _ = search(T.new(), g, 2) end, name .. "queries is an unset tensor")
      H.raises(function() local _ = search(oml.randn(3), g, 2) end,
        name .. "queries must be a 2-d tensor [n,d] (got shape [3])")
      H.raises(function() local _ = search(q, oml.randn(2, 2, 2), 2) end,
        name .. "gallery must be a 2-d tensor [n,d] (got shape [2,2,2])")
      H.raises(function() local _ = search(q:long(), g, 2) end, name .. "queries is int64; expected float32 or float64")
      H.raises(function() local _ = search(q, g:to("float16"), 2) end, name .. "gallery is float16, a storage-only dtype")
      H.raises(function() local _ = search(q, g:double(), 2) end, name .. "queries are float32 but gallery is float64")
      H.raises(function() local _ = search(q, oml.randn(4, 5), 2) end,
        name .. "queries of shape [3,2] and gallery of shape [4,5] differ in the embedding size")
    end)

    it("checks k and the options", function()
      H.raises(function() local _ = search(q, g, 1.5) end, name .. "k must be an integer (got 1.5)")
      H.raises(function() local _ = search(q, g, nil) end, name .. "k must be an integer (got nil)")
      H.raises(function() local _ = search(q, g, 0) end, name .. "k must be >= 1 (got 0)")
      H.raises(function() local _ = search(q, g, -3) end, name .. "k must be >= 1 (got -3)")
      H.raises(function() local _ = search(q, g, 2, "fast") end, name .. "options must be a table (got string)")
      H.raises(function() local _ = search(q, g, 2, { blocks = 4 }) end, name .. "unknown option 'blocks'")
      H.raises(function() local _ = search(q, g, 2, { block = 0 }) end, name .. "block must be >= 1 (got 0)")
      H.raises(function() local _ = search(q, g, 2, { block = 2.5 }) end, name .. "block must be an integer (got 2.5)")
    end)

    it("checks the exclusions", function()
      H.raises(function() local _ = search(q, g, 2, { self_index = { 1, 2, 3 } }) end,
        name .. "self_index must be a tensor (got table)")
      H.raises(function() local _ = search(q, g, 2, { self_index = oml.tensor { 1, 2, 3 } }) end,
        name .. "self_index must be an int32 or int64 tensor (got float32)")
      H.raises(function() local _ = search(q, g, 2, { self_index = oml.tensor({ 1, 2 }, "int64") }) end,
        name .. "self_index must be a 1-d tensor of size 3 (got shape [2])")
      H.raises(function() local _ = search(q, g, 2, { self_index = oml.tensor({ 1, 5, 0 }, "int64") }) end,
        name .. "self_index[2] = 5 is out of range 0..4 (0 for none)")
      H.raises(function() local _ = search(q, g, 2, { self_index = oml.tensor({ 1, 2, -1 }, "int32") }) end,
        name .. "self_index[3] = -1 is out of range 0..4 (0 for none)")
      local qs, gs = oml.tensor({ 1, 2, 3 }, "int64"), oml.tensor({ 1, 2, 3, 4 }, "int64")
      H.raises(function() local _ = search(q, g, 2, { query_sequence = qs }) end,
        name .. "query_sequence and gallery_sequence go together (got only query_sequence)")
      H.raises(function() local _ = search(q, g, 2, { gallery_sequence = gs }) end,
        name .. "query_sequence and gallery_sequence go together (got only gallery_sequence)")
      H.raises(function() local _ = search(q, g, 2, { query_sequence = gs, gallery_sequence = gs }) end,
        name .. "query_sequence must be a 1-d tensor of size 3 (got shape [4])")
      H.raises(function() local _ = search(q, g, 2, { query_sequence = qs, gallery_sequence = qs }) end,
        name .. "gallery_sequence must be a 1-d tensor of size 4 (got shape [3])")
      H.raises(function() local _ = search(q, g, 2, { query_sequence = qs, gallery_sequence = gs:double() }) end,
        name .. "gallery_sequence must be an int32 or int64 tensor (got float64)")
      H.raises(function() local _ = search(q, g, 2, { query_sequence = qs, gallery_sequence = 1 }) end,
        name .. "gallery_sequence must be a tensor (got number)")
    end)

    it("refuses NaN, inf and values whose distances would overflow", function()
      local bad = oml.tensor { { 1, 2 }, { 0 / 0, 1 }, { 3, 4 } }
      H.raises(function() local _ = search(bad, g, 2) end,
        name .. "row 2 of the queries holds NaN or inf, or values too large for float32 distances")
      local far = oml.tensor { { 1, 2 }, { 3, 4 }, { 5, 6 }, { 1, -inf } }
      H.raises(function() local _ = search(q, far, 2) end,
        name .. "row 4 of the gallery holds NaN or inf, or values too large for float32 distances")
      H.raises(function() local _ = search(q, oml.tensor { { 1e19, 0 } }, 1) end,
        name .. "row 1 of the gallery holds NaN or inf, or values too large for float32 distances")
      -- the same values are fine in float64
      local _, idx = search(q:double(), oml.tensor({ { 1e19, 0 }, { 0, 0 } }, "float64"), 1)
      assert.same({ { 2 }, { 2 }, { 2 } }, idx:totable())
      H.raises(function() local _ = search(q:double(), oml.tensor({ { 1e160, 0 } }, "float64"), 1) end,
        name .. "row 1 of the gallery holds NaN or inf, or values too large for float64 distances")
    end)
  end)
end)
