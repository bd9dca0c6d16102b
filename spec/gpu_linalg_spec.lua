-- Matrix products, distances, the k-NN search and the optimizers' steps on a
-- GPU (#gpu): each runs on the CPU and, from the same inputs, on cuda:0, and
-- the results agree (the CPU side is checked against PyTorch and references
-- elsewhere). Float32 products are compared in each oml.cuda.set_math mode.
local ffi = require "ffi"
local G = require "gpu_helper"
local gpu_describe = G.describe
local oml = require "oml"
local T = require "oml.tensor"

local C = T.C
local inf = math.huge


-- "cuda"; "cpu" checks this file's logic without a GPU (CPU against CPU)
local DEVICE = G.device
local DEVICE_NAME = DEVICE == "cpu" and "cpu" or "cuda:0"
local function dev(t) return t:to { device = DEVICE } end

-- max |a - b| / max(max |b|, 1) with a on the device and b on the CPU, both of
-- one dtype and shape; NaN and infinities must sit at the same places.
local function close(a, b, tol, what)
  assert.equal(DEVICE_NAME, a.device, what)
  assert.equal(b.dtype, a.dtype, what)
  assert.same(b:size(), a:size(), what)
  if b:numel() == 0 then return end
  local x, y = a:cpu():double(), b:double()
  for _, special in ipairs { function(t) return t:ne(t) end, function(t) return t:eq(inf) end,
    function(t) return t:eq(-inf) end } do
    local mx, my = special(x), special(y)
    assert(mx:ne(my):sum():item() == 0, what .. ": NaN or infinities at other places")
    x, y = x:masked_fill(mx, 0), y:masked_fill(my, 0)
  end
  local scale = math.max(y:abs():max():item(), 1)
  local err = (x - y):abs():max():item() / scale
  assert(err <= tol, ("%s: relative error %.3g above %.3g"):format(what, err, tol))
end

-- fn() raises an error whose message holds text.
local function fails(fn, text)
  local ok, err = pcall(fn)
  assert(not ok, "expected an error: " .. text)
  assert(tostring(err):find(text, 1, true), ("expected '%s' in '%s'"):format(text, tostring(err)))
end

local function equal(a, b, what)
  assert.equal(DEVICE_NAME, a.device, what)
  assert.same(b:totable(), a:cpu():totable(), what)
end

-- fn on CPU tensors and on their device copies; every result compared.
local function same(fn, args, tol, what)
  local dargs = {}
  for i, x in ipairs(args) do dargs[i] = oml.is_tensor(x) and dev(x) or x end
  local cpu, gpu = { fn(unpack(args)) }, { fn(unpack(dargs)) }
  for i = 1, #cpu do close(gpu[i], cpu[i], tol, (what or "result") .. " " .. i) end
end

local function randn(sizes, dtype) return oml.randn(sizes, { dtype = dtype or "float32" }) end

-- fn() under math mode `mode`, restoring float32 mode even when fn fails.
local function with_math(mode, fn)
  oml.cuda.set_math(mode)
  local ok, err = pcall(fn)
  oml.cuda.set_math("float32")
  if not ok then error(err, 0) end
end

local TOL = { float32 = 1e-5, float64 = 1e-12 }

gpu_describe("matrix products on a GPU", function()
  before_each(function() oml.manual_seed(7) end)

  for _, dtype in ipairs { "float32", "float64" } do
    local tol = TOL[dtype]

    it("mm " .. dtype .. " with transposed and narrowed views", function()
      local a, b = randn({ 37, 53 }, dtype), randn({ 53, 29 }, dtype)
      same(oml.mm, { a, b }, tol, "plain")
      same(oml.mm, { randn({ 53, 37 }, dtype):t(), b }, tol, "a transposed")
      same(oml.mm, { a, randn({ 29, 53 }, dtype):t() }, tol, "b transposed")
      same(oml.mm, { randn({ 53, 37 }, dtype):t(), randn({ 29, 53 }, dtype):t() }, tol, "both transposed")
      same(oml.mm, { randn({ 40, 60 }, dtype):narrow(2, 3, 53), randn({ 53, 31 }, dtype):narrow(2, 2, 29) }, tol,
        "narrowed")
      same(oml.mm, { randn({ 1, 53 }, dtype), randn({ 53, 1 }, dtype) }, tol, "1 x 1")
      same(oml.mm, { randn({ 53, 3 }, dtype):select(2, 2):view(53, 1), randn({ 1, 7 }, dtype) }, tol, "column")
      same(oml.mm, { randn({ 37, 53, 2 }, dtype):select(3, 1), b }, tol, "copied operand (no unit stride)")
    end)

    it("mm " .. dtype .. " of a large product and of empty sizes", function()
      same(oml.mm, { randn({ 513, 1000 }, dtype), randn({ 1000, 257 }, dtype) }, tol * 10, "large")
      same(oml.mm, { randn({ 0, 5 }, dtype), randn({ 5, 3 }, dtype) }, tol, "no rows")
      same(oml.mm, { randn({ 4, 0 }, dtype), randn({ 0, 3 }, dtype) }, tol, "empty inner dim: zeros")
      same(oml.mm, { randn({ 4, 5 }, dtype), randn({ 5, 0 }, dtype) }, tol, "no columns")
    end)

    it("addmm " .. dtype .. " with a broadcast term, scalars and in place", function()
      local a, b = randn({ 33, 17 }, dtype), randn({ 17, 45 }, dtype)
      same(function(c, x, y) return oml.addmm(c, x, y) end, { randn({ 33, 45 }, dtype), a, b }, tol, "plain")
      same(function(c, x, y) return oml.addmm(c, x, y, { beta = 0.5, alpha = -2 }) end, { randn({ 45 }, dtype), a, b },
        tol, "row broadcast")
      same(function(c, x, y) return oml.addmm(c, x, y, { beta = 0 }) end,
        { oml.full({ 33, 1 }, 0 / 0, { dtype = dtype }), a, b }, tol, "beta 0 ignores NaN")
      same(function(c, x, y) return oml.addmm(c, x, y, { beta = 3 }) end,
        { randn({ 33, 45 }, dtype), randn({ 33, 0 }, dtype), randn({ 0, 45 }, dtype) }, tol, "empty inner dim: beta c")
      same(function(c, x, y)
        c = c:clone()
        c:t():addmm_(y:t(), x:t(), { beta = 2, alpha = 0.5 })
        return c
      end, { randn({ 33, 45 }, dtype), a, b }, tol, "in place into a transposed view")
    end)

    it("bmm " .. dtype .. " with transposed batches", function()
      local a, b = randn({ 7, 33, 17 }, dtype), randn({ 7, 17, 9 }, dtype)
      same(oml.bmm, { a, b }, tol, "plain")
      same(oml.bmm, { randn({ 7, 17, 33 }, dtype):transpose(2, 3), randn({ 7, 9, 17 }, dtype):transpose(2, 3) }, tol,
        "transposed matrices")
      same(oml.bmm, { randn({ 33, 7, 17 }, dtype):transpose(1, 2), b }, tol, "batch dim in the middle")
      same(oml.bmm, { randn({ 1, 33, 17 }, dtype):expand(7, 33, 17), b }, tol, "expanded batch")
      same(oml.bmm, { randn({ 0, 3, 4 }, dtype), randn({ 0, 4, 5 }, dtype) }, tol, "empty batch")
    end)

    it("matmul " .. dtype .. " of vectors, folded, broadcast and transposed batches", function()
      same(oml.matmul, { randn({ 19 }, dtype), randn({ 19 }, dtype) }, tol, "dot")
      same(oml.matmul, { randn({ 19 }, dtype), randn({ 19, 6 }, dtype) }, tol, "vector-matrix")
      same(oml.matmul, { randn({ 6, 19 }, dtype), randn({ 19 }, dtype) }, tol, "matrix-vector")
      same(oml.matmul, { randn({ 3, 5, 19 }, dtype), randn({ 19, 6 }, dtype) }, tol, "folded")
      same(oml.matmul, { randn({ 3, 19, 5 }, dtype):transpose(2, 3), randn({ 19, 6 }, dtype) }, tol, "unfoldable")
      same(oml.matmul, { randn({ 2, 1, 5, 4 }, dtype), randn({ 3, 4, 6 }, dtype) }, tol, "broadcast batch")
      same(oml.matmul, { randn({ 2, 3, 4, 5 }, dtype):transpose(1, 2), randn({ 2, 3, 5, 6 }, dtype):transpose(1, 2) },
        tol, "transposed batch dims")
      same(oml.matmul, { randn({ 4, 5, 3, 2 }, dtype):permute(4, 3, 1, 2), randn({ 5, 2 }, dtype) }, tol, "permuted")
      same(oml.matmul, { randn({ 2, 19 }, dtype), randn({ 4, 3, 19, 6 }, dtype) }, tol, "matrix against a batch")
      same(oml.matmul, { randn({ 0, 3, 4 }, dtype), randn({ 4, 5 }, dtype) }, tol, "empty batch")
      same(oml.matmul, { randn({ 2, 3, 0 }, dtype), randn({ 0, 5 }, dtype) }, tol, "empty inner dim")
      same(oml.matmul, { randn({ 70000, 3 }, dtype), randn({ 3, 5 }, dtype) }, tol, "many rows")
      same(oml.matmul, { randn({ 3000, 2, 3 }, dtype), randn({ 3000, 3, 2 }, dtype) }, tol, "many small matrices")
    end)
  end

  -- Values in [-1, 1) and k = 64: the rounding of the operands stays near each mode's epsilon.
  local MODES = { float32 = 1e-5, tf32 = 1e-2, bfloat16 = 2e-2, float16 = 5e-3 }
  for mode, tol in pairs(MODES) do
    it("float32 products in math mode " .. mode, function()
      local function small(sizes) return oml.rand(sizes) * 2 - 1 end
      with_math(mode, function()
        same(oml.mm, { small { 65, 64 }, small { 64, 47 } }, tol, "mm")
        same(oml.mm, { small({ 64, 65 }):t(), small({ 47, 64 }):t() }, tol, "mm transposed")
        same(function(c, a, b) return oml.addmm(c, a, b, { beta = 0.5 }) end, { small { 47 }, small { 65, 64 },
          small { 64, 47 } }, tol, "addmm")
        same(oml.bmm, { small { 5, 33, 64 }, small({ 1, 64, 9 }):expand(5, 64, 9) }, tol, "bmm expanded")
        same(oml.matmul, { small { 2, 1, 5, 64 }, small { 3, 64, 6 } }, tol, "matmul broadcast")
        same(oml.matmul, { small({ 4, 64, 3, 2 }):permute(4, 3, 1, 2), small { 64, 7 } }, tol, "matmul permuted")
        same(oml.mm, { randn({ 65, 64 }, "float64"), randn({ 64, 47 }, "float64") }, 1e-12, "float64 stays exact")
      end)
    end)
  end

  if DEVICE ~= "cpu" then
    it("refuses inputs on two devices, naming them", function()
      local a, b = randn { 3, 4 }, randn { 4, 5 }
      fails(function() oml.mm(a, dev(b)) end,
        "oml.mm: the second input is on cuda:0 but the first input is on the CPU")
      fails(function() oml.addmm(randn { 3, 5 }, dev(a), dev(b)) end,
        "oml.addmm: the added tensor is on the CPU but the first input is on cuda:0")
      fails(function() return oml.matmul(dev(a), b) end,
        "oml.matmul: the second input is on the CPU but the first input is on cuda:0")
    end)
  end
end)

gpu_describe("normalize and cdist on a GPU", function()
  before_each(function() oml.manual_seed(11) end)

  for _, dtype in ipairs { "float32", "float64" } do
    local tol = TOL[dtype]

    it("normalize " .. dtype .. " for each p, dim and layout", function()
      local x = randn({ 37, 53 }, dtype)
      x:select(1, 5):fill_(0)
      for _, p in ipairs { 2, 1, 3, 0.5, 0, inf, -inf } do
        same(function(t) return t:normalize(p) end, { x }, tol, "rows p=" .. p)
        same(function(t) return t:normalize(p, 1) end, { x }, tol, "columns p=" .. p)
      end
      same(function(t) return t:normalize(2, 2, 0.5) end, { x }, tol, "large eps")
      same(function(t) return t:normalize() end, { randn({ 53, 37 }, dtype):t() }, tol, "transposed")
      same(function(t) return t:normalize(2, 2) end, { randn({ 4, 5, 6 }, dtype) }, tol, "middle dim")
      same(function(t) return t:normalize() end, { randn({ 0, 6 }, dtype) }, tol, "empty")
      same(function(t) return t:normalize() end, { randn({ 100003, 3 }, dtype) }, tol, "many lines")
      same(function(t) return t:normalize() end, { randn({ 2, 300001 }, dtype) }, tol, "long lines")
      local nan = randn({ 3, 4 }, dtype)
      nan[2][3] = 0 / 0
      same(function(t) return t:normalize(inf) end, { nan }, tol, "NaN")
    end)

    it("cdist " .. dtype .. " directly, through the GEMM, cosine, and on views", function()
      local gemm_tol = dtype == "float32" and 1e-4 or 1e-10
      same(oml.cdist, { randn({ 7, 5 }, dtype), randn({ 9, 5 }, dtype) }, tol, "direct")
      same(oml.cdist, { randn({ 70, 33 }, dtype), randn({ 90, 33 }, dtype) }, gemm_tol, "GEMM")
      same(oml.cdist, { randn({ 33, 70 }, dtype):t(), randn({ 33, 90 }, dtype):t() }, gemm_tol, "transposed")
      local z = randn({ 30, 8 }, dtype)
      z:select(1, 3):fill_(0)
      same(function(x, y) return oml.cdist(x, y, "cosine") end, { z, randn({ 40, 8 }, dtype) }, gemm_tol, "cosine")
      same(function(x, y) return oml.cdist(x, y, "cosine") end, { randn({ 3, 8 }, dtype), randn({ 4, 8 }, dtype) },
        gemm_tol, "cosine, few rows")
      same(oml.cdist, { randn({ 0, 5 }, dtype), randn({ 9, 5 }, dtype) }, tol, "no rows")
      same(oml.cdist, { randn({ 30, 0 }, dtype), randn({ 40, 0 }, dtype) }, tol, "no columns")
      same(oml.cdist, { randn({ 2000, 64 }, dtype), randn({ 3000, 64 }, dtype) }, gemm_tol, "large")
    end)
  end

  it("cdist stays exact float32 in the bfloat16 math mode", function()
    with_math("bfloat16", function()
      same(oml.cdist, { randn { 70, 33 }, randn { 90, 33 } }, 1e-4, "euclidean")
    end)
  end)

  if DEVICE ~= "cpu" then
    it("refuses inputs on two devices", function()
      fails(function() oml.cdist(randn { 3, 4 }, dev(randn { 5, 4 })) end,
        "oml.cdist: y is on cuda:0 but x is on the CPU")
    end)
  end
end)

-- The C search with both block sizes, so that small blocks cover the merge
-- across gallery blocks.
local function search(q, g, k, opts)
  opts = opts or {}
  local d, i, n = T.new(), T.new(), T.new()
  T.check(C.oml_knn_search(q, g, opts.self_index, opts.query_sequence, opts.gallery_sequence, d, i, n, k,
    opts.qb or 0, opts.gb or 0), "search")
  return d, i, n
end

-- Indices equal but where the CPU's distance ties a neighbour's within tol
-- (relative to the largest finite distance), or is the last of its row: the
-- two GEMMs may round such items into the other order.
local function near_ties_only(gi, ci, cd, tol, what)
  local g, c, d = gi:cpu():totable(), ci:totable(), cd:double():totable()
  local scale = 1
  for _, row in ipairs(d) do
    for _, x in ipairs(row) do
      if x < inf then scale = math.max(scale, x) end
    end
  end
  for r = 1, #c do
    local row, k = d[r], #c[r]
    for t = 1, k do
      if g[r][t] ~= c[r][t] then
        local tied = t == k or math.abs(row[t] - row[t + 1]) <= tol * scale or
          (t > 1 and math.abs(row[t] - row[t - 1]) <= tol * scale)
        assert(tied, ("%s: row %d position %d: index %d, expected %d"):format(what, r, t, g[r][t], c[r][t]))
      end
    end
  end
end

-- The search on the CPU and on the device: distances within tol, counts
-- equal, indices equal (tol 0: exact data) or but for near ties.
local function same_search(q, g, k, opts, tol, what)
  opts = opts or {}
  local dopts = {}
  for key, v in pairs(opts) do dopts[key] = oml.is_tensor(v) and dev(v) or v end
  local cd, ci, cn = search(q, g, k, opts)
  local gd, gi, gn = search(dev(q), dev(g), k, dopts)
  close(gd, cd, tol, what .. ": distances")
  if tol == 0 then equal(gi, ci, what .. ": indices") else near_ties_only(gi, ci, cd, tol, what .. ": indices") end
  equal(gn, cn, what .. ": counts")
end

gpu_describe("the k-NN search on a GPU", function()
  before_each(function() oml.manual_seed(5) end)

  -- small integers: every product is exact, so are the distances, and ties
  -- (many) must break to the lower gallery index on both sides
  local function ints(sizes, dtype) return oml.randint(-3, 4, sizes, { dtype = dtype or "float32" }) end

  for _, dtype in ipairs { "float32", "float64" } do
    it("agrees with the CPU, ties included, for " .. dtype, function()
      local q, g = ints({ 300, 16 }, dtype), ints({ 1000, 16 }, dtype)
      for _, k in ipairs { 1, 10, 100 } do
        same_search(q, g, k, {}, 0, "k=" .. k)
        same_search(q, g, k, { qb = 7, gb = 33 }, 0, "small blocks k=" .. k)
      end
      same_search(q, g, 5, { qb = 1, gb = 1 }, 0, "one by one")
      same_search(randn({ 200, 40 }, dtype), randn({ 3000, 40 }, dtype), 20, { gb = 500 }, TOL[dtype], "real values")
    end)
  end

  it("skips self and same-sequence rows", function()
    local q, g = ints { 50, 8 }, ints { 120, 8 }
    local self = oml.randint(0, 121, { 50 })
    local qseq, gseq = oml.randint(0, 5, { 50 }), oml.randint(0, 5, { 120 }, { dtype = "int32" })
    same_search(q, g, 10, { self_index = self }, 0, "self")
    same_search(q, g, 10, { query_sequence = qseq, gallery_sequence = gseq, gb = 17 }, 0, "sequences")
    same_search(q, g, 100, { self_index = self, query_sequence = qseq, gallery_sequence = gseq }, 0,
      "both, fewer eligible than k")
  end)

  it("fills with inf and 0 when k is larger than the gallery, and takes empty inputs", function()
    same_search(ints { 9, 4 }, ints { 7, 4 }, 20, {}, 0, "k > gallery")
    same_search(ints { 9, 4 }, ints { 0, 4 }, 3, {}, 0, "no gallery")
    same_search(ints { 0, 4 }, ints { 7, 4 }, 3, {}, 0, "no queries")
    same_search(ints { 9, 0 }, ints { 7, 0 }, 3, {}, 0, "no columns")
  end)

  it("reads views and keeps up to 1024 neighbours", function()
    same_search(ints({ 16, 60 }):t(), ints({ 90, 16 }):narrow(1, 5, 80), 7, {}, 0, "transposed queries")
    same_search(ints { 40, 8 }, ints { 3000, 8 }, 1024, { gb = 1000 }, 0, "k = 1024")
    same_search(ints { 40, 8 }, ints { 900, 8 }, 5000, {}, 0, "k beyond a gallery of 900")
  end)

  it("handles a large search", function()
    same_search(randn { 2000, 64 }, randn { 100000, 64 }, 100, {}, 1e-5, "2000 x 100000")
  end)

  it("fails as the CPU on rows that are not finite", function()
    local q = randn { 4, 3 }
    q[3][2] = inf
    for _, x in ipairs { q, dev(q) } do
      fails(function() search(x, x, 2) end,
        "search: row 3 of the queries holds NaN or inf, or values too large for float32 distances")
    end
  end)

  if DEVICE ~= "cpu" then
    it("refuses more than 1024 neighbours and inputs on two devices", function()
      local q, g = dev(randn { 4, 3 }), dev(randn { 2000, 3 })
      fails(function() search(q, g, 1025) end,
        "search: k-NN on a device keeps at most 1024 neighbours per query (asked for 1025 of 2000 gallery rows)")
      fails(function() search(q, randn { 5, 3 }, 2) end,
        "search: the gallery is on the CPU but the query tensor is on cuda:0")
      fails(function() search(q, g, 2, { self_index = oml.zeros({ 4 }, "int64") }) end,
        "search: self_index is on the CPU but the query tensor is on cuda:0")
    end)
  end
end)

gpu_describe("optimizer steps on a GPU", function()
  before_each(function() oml.manual_seed(3) end)

  -- three steps of fn(param, grad, buffers..., step) from the same start on
  -- both sides; the parameter and every buffer compared after each
  local function same_steps(n, dtype, nbuf, fn, what)
    local cpu = { randn({ n }, dtype) }
    for b = 1, nbuf do cpu[1 + b] = oml.rand({ n }, { dtype = dtype }) end
    local gpu = {}
    for i, t in ipairs(cpu) do gpu[i] = dev(t) end
    for step = 1, 3 do
      local grad = randn({ n }, dtype)
      assert(fn(cpu[1], grad, cpu[2], cpu[3], step) == 0, ffi.string(C.oml_last_error()))
      assert(fn(gpu[1], dev(grad), gpu[2], gpu[3], step) == 0, ffi.string(C.oml_last_error()))
      for i = 1, #cpu do close(gpu[i], cpu[i], dtype == "float32" and 1e-6 or 1e-12, what .. " tensor " .. i) end
    end
  end

  for _, dtype in ipairs { "float32", "float64" } do
    for _, n in ipairs { 0, 1000, 1000003 } do
      it(("SGD %s on %d elements"):format(dtype, n), function()
        same_steps(n, dtype, 0, function(p, g, _, _, step)
          return C.oml_sgd_step(p, g, nil, 0.1, 0, 0, 0.01, 0, step)
        end, "plain")
        same_steps(n, dtype, 1, function(p, g, b, _, step)
          return C.oml_sgd_step(p, g, b, 0.1, 0.9, 0.3, 0, 0, step)
        end, "momentum, dampening")
        same_steps(n, dtype, 1, function(p, g, b, _, step)
          return C.oml_sgd_step(p, g, b, 0.1, 0.9, 0, 0.01, 1, step)
        end, "nesterov, weight decay")
      end)

      it(("Adam and AdamW %s on %d elements"):format(dtype, n), function()
        same_steps(n, dtype, 2, function(p, g, m, v, step)
          return C.oml_adam_step(p, g, m, v, 0.01, 0.9, 0.999, 1e-8, 0.1, 0, step)
        end, "Adam")
        same_steps(n, dtype, 2, function(p, g, m, v, step)
          return C.oml_adam_step(p, g, m, v, 0.01, 0.8, 0.99, 1e-6, 0.1, 1, step)
        end, "AdamW")
      end)
    end
  end

  it("steps a parameter whose gradient is the parameter itself", function()
    local p = randn { 100 }
    local d = dev(p)
    assert.equal(0, C.oml_sgd_step(p, p, nil, 0.1, 0, 0, 0, 0, 1))
    assert.equal(0, C.oml_sgd_step(d, d, nil, 0.1, 0, 0, 0, 0, 1))
    close(d, p, 1e-6, "param")
  end)

  if DEVICE ~= "cpu" then
    it("refuses tensors on two devices", function()
      local p = dev(randn { 10 })
      assert.equal(-1, C.oml_sgd_step(p, randn { 10 }, nil, 0.1, 0, 0, 0, 0, 1))
      assert.equal("the gradient is on the CPU but the parameter is on cuda:0", ffi.string(C.oml_last_error()))
    end)
  end
end)
