-- Matrix products (mm, addmm, bmm, matmul, dot, mv): values against
-- hand-computed results and float64 products computed in Lua, every memory
-- layout on either side, batch broadcasting, empty dims and errors. The
-- engine's allocation counter shows which layouts reach BLAS without a copy.
local ffi = require "ffi"
local oml = require "oml"
local T = require "oml.tensor"
local H = require "helper"

local values, transpose = H.values, H.transpose

-- The float64 product of Lua matrices A (n x k) and B (k x m).
local function ref_mm(A, B, n, k, m)
  local C = {}
  for i = 1, n do
    C[i] = {}
    for j = 1, m do
      local s = 0
      for l = 1, k do s = s + A[i][l] * B[l][j] end
      C[i][j] = s
    end
  end
  return C
end

-- The matrix M (r x c) as a tensor laid out in memory in one of these ways.
local LAYOUTS = { "contiguous", "transposed", "row_padded", "col_padded", "strided" }
local function laid_out(M, r, c, layout, dtype)
  if layout == "contiguous" then return oml.tensor(M, dtype) end
  if layout == "transposed" then return oml.tensor(transpose(M, c), dtype):t() end -- strides {1, r}
  if layout == "row_padded" then -- strides {c + 3, 1}
    local wide = {}
    for i = 1, r do wide[i] = { 9, unpack(M[i]) }; wide[i][c + 2], wide[i][c + 3] = 9, 9 end
    return oml.tensor(wide, dtype):narrow(2, 2, c)
  end
  if layout == "col_padded" then -- strides {1, r + 2}
    local tall = transpose(M, c)
    for j = 1, c do tall[j][r + 1], tall[j][r + 2] = 9, 9 end
    return oml.tensor(tall, dtype):narrow(2, 1, r):t()
  end
  -- strided: no dim has stride 1, so BLAS cannot read it in place
  local deep = {}
  for i = 1, r do
    deep[i] = {}
    for j = 1, c do deep[i][j] = { M[i][j], 9 } end
  end
  return oml.tensor(deep, dtype):select(3, 1)
end

local stats = ffi.new("oml_memory_stats")
local function allocations()
  assert(T.C.oml_memory_stats_get(-1, stats) == 0)
  return tonumber(stats.allocations)
end

-- fn's result and the number of storages the engine allocated while it ran.
local function counting(fn)
  local before = allocations()
  local result = fn()
  return result, allocations() - before
end

describe("mm", function()
  it("multiplies matrices (hand-computed)", function()
    local a = oml.tensor { { 1, 2, 3 }, { 4, 5, 6 } }
    local b = oml.tensor { { 7, 8 }, { 9, 10 }, { 11, 12 } }
    local c = a:mm(b)
    assert.same({ 2, 2 }, c:size())
    assert.equal("float32", c.dtype)
    H.close(c, { { 58, 64 }, { 139, 154 } })
    H.close(oml.mm(a:double(), b:double()), { { 58, 64 }, { 139, 154 } })
    assert.equal("float64", oml.mm(a:double(), b:double()).dtype)
  end)

  it("reads every layout, copying only what BLAS cannot read", function()
    local n, k, m = 4, 5, 3
    local A, B = values(n, k, 1), values(k, m, 2)
    local expected = ref_mm(A, B, n, k, m)
    for _, dtype in ipairs { "float64", "float32" } do
      local tol = dtype == "float64" and 1e-12 or 1e-5
      for _, la in ipairs(LAYOUTS) do
        for _, lb in ipairs(LAYOUTS) do
          local a, b = laid_out(A, n, k, la, dtype), laid_out(B, k, m, lb, dtype)
          local c, allocated = counting(function() return a:mm(b) end)
          H.close(c, expected, tol, dtype .. " " .. la .. " x " .. lb)
          -- one storage for the result, plus one copy per input BLAS cannot read
          local copies = (la == "strided" and 1 or 0) + (lb == "strided" and 1 or 0)
          assert.equal(1 + copies, allocated, la .. " x " .. lb)
        end
      end
    end
  end)

  it("multiplies a matrix by its own transpose without a copy", function()
    local A = values(6, 4, 3)
    local a = oml.tensor(A, "float64")
    local g, allocated = counting(function() return a:mm(a:t()) end)
    H.close(g, ref_mm(A, transpose(A, 4), 6, 4, 6), 1e-12)
    assert.equal(1, allocated)
  end)

  it("handles row and column vectors and 1 x 1 matrices", function()
    local row, col = oml.tensor { { 1, 2, 3 } }, oml.tensor { { 4 }, { 5 }, { 6 } }
    H.close(row:mm(col), { { 32 } })
    H.close(col:mm(row), { { 4, 8, 12 }, { 5, 10, 15 }, { 6, 12, 18 } })
    -- a row of a transposed matrix: stride 3 along its only long dim
    local m = oml.tensor { { 1, 2 }, { 3, 4 }, { 5, 6 } }:t()
    H.close(m:narrow(1, 2, 1):mm(oml.tensor { { 1 }, { 1 }, { 1 } }), { { 12 } })
    H.close(oml.tensor({ { 3 } }):mm(oml.tensor { { 4 } }), { { 12 } })
  end)

  it("gives the same bits for any thread count (large products are cut by shape alone)", function()
    oml.manual_seed(3)
    local cases = { { oml.randn(1, 700, 300), oml.randn(1, 300, 500) }, { oml.randn(3, 197, 64), oml.randn(3, 64, 197) },
                    { oml.randn(1, 40, 300), oml.randn(1, 300, 900) } }
    local threads = oml.get_num_threads()
    for _, c in ipairs(cases) do
      oml.set_num_threads(1)
      local one = c[1]:bmm(c[2])
      for t = 2, 4 do
        oml.set_num_threads(t)
        assert.equal(0, (c[1]:bmm(c[2]) - one):abs():max():item())
      end
    end
    oml.set_num_threads(threads)
  end)

  it("handles empty dims", function()
    local z = oml.ones(2, 0):mm(oml.ones(0, 3)) -- k = 0: zeros
    assert.same({ 2, 3 }, z:size())
    H.close(z, { { 0, 0, 0 }, { 0, 0, 0 } })
    assert.same({ 0, 3 }, oml.ones(0, 4):mm(oml.ones(4, 3)):size())
    assert.same({ 2, 0 }, oml.ones(2, 4):mm(oml.ones(4, 0)):size())
    assert.same({ 0, 0 }, oml.ones(0, 0):mm(oml.ones(0, 0)):size())
  end)

  it("raises on bad arguments", function()
    local f = oml.ones(2, 3)
    H.raises(function() local _ = oml.ones(2, 3):mm(oml.ones(4, 5)) end, "oml.mm: shapes [2,3] and [4,5] do not match")
    H.raises(function() local _ = oml.ones(3):mm(f) end, "oml.mm: expects 2-d tensors (got shapes [3] and [2,3])")
    H.raises(function() local _ = f:long():mm(f:t()) end,
      "oml.mm: the first input is int64; expected float32 or float64")
    H.raises(function() local _ = f:mm(f:t():int()) end,
      "oml.mm: the second input is int32; expected float32 or float64")
    H.raises(function() local _ = f:half():mm(f:t():half()) end, "oml.mm: the first input is float16")
    H.raises(function() local _ = f:mm(f:t():double()) end,
      "oml.mm: the inputs are float32 and float64; convert one so that both have one dtype")
    H.raises(function() local _ = f:mm(2) end, "oml.mm: the second input must be a tensor (got number)")
    H.raises(function() local _ = oml.mm(T.new(), f) end, "oml.mm: the first input is an unset tensor")
    -- expanded views reach BLAS's int limit without the memory to match
    H.raises(function() local _ = oml.ones(1, 1):expand(2 ^ 31, 1):mm(oml.ones(1, 1)) end,
      "oml.mm: matrices of 2147483648 x 1 and 1 x 1 exceed BLAS's limit of 2147483647 rows or columns")
  end)
end)

describe("addmm", function()
  local a = oml.tensor({ { 1, 2 }, { 3, 4 } }, "float64")
  local b = oml.tensor({ { 5, 6 }, { 7, 8 } }, "float64")
  -- a @ b = {{19, 22}, {43, 50}}

  it("computes beta * c + alpha * a @ b", function()
    local c = oml.tensor({ { 1, 1 }, { 2, 2 } }, "float64")
    H.close(c:addmm(a, b), { { 20, 23 }, { 45, 52 } })
    H.close(c:addmm(a, b, { beta = 2, alpha = 0.5 }), { { 11.5, 13 }, { 25.5, 29 } })
    H.close(oml.addmm(c, a, b, { alpha = -1 }), { { -18, -21 }, { -41, -48 } })
    H.close(c, { { 1, 1 }, { 2, 2 } }) -- c itself is unchanged
  end)

  it("broadcasts c to the product's shape", function()
    H.close(oml.tensor({ 10, 20 }, "float64"):addmm(a, b), { { 29, 42 }, { 53, 70 } })
    H.close(oml.tensor({ { 10 }, { 20 } }, "float64"):addmm(a, b), { { 29, 32 }, { 63, 70 } })
    H.close(oml.tensor(1, "float64"):addmm(a, b, { beta = 3 }), { { 22, 25 }, { 46, 53 } })
  end)

  it("ignores c when beta is 0, NaN included", function()
    local c = oml.full({ 2, 2 }, 0 / 0, "float64")
    H.close(c:addmm(a, b, { beta = 0 }), { { 19, 22 }, { 43, 50 } })
    c:addmm_(a, b, { beta = 0 }) -- BLAS must not read the NaN it overwrites
    H.close(c, { { 19, 22 }, { 43, 50 } })
  end)

  it("scales c by beta when the product is empty (k = 0)", function()
    local c = oml.tensor { { 1, 2 }, { 3, 4 } }
    H.close(c:addmm(oml.ones(2, 0), oml.ones(0, 2), { beta = 2 }), { { 2, 4 }, { 6, 8 } })
    H.close(c:addmm(oml.ones(2, 0), oml.ones(0, 2), { beta = 0 }), { { 0, 0 }, { 0, 0 } })
  end)

  it("writes in place with addmm_, into any layout of c", function()
    local c = oml.tensor({ { 1, 1 }, { 2, 2 } }, "float64")
    assert.equal(c, c:addmm_(a, b))
    H.close(c, { { 20, 23 }, { 45, 52 } })
    -- a column-major c takes BLAS's result in place
    local ct = oml.tensor({ { 1, 2 }, { 1, 2 } }, "float64"):t()
    local _, allocated = counting(function() return ct:addmm_(a, b) end)
    H.close(ct, { { 20, 23 }, { 45, 52 } })
    assert.equal(0, allocated)
    -- a c that BLAS cannot write goes through a temporary
    local cs = laid_out({ { 1, 1 }, { 2, 2 } }, 2, 2, "strided", "float64")
    cs:addmm_(a, b)
    H.close(cs, { { 20, 23 }, { 45, 52 } })
    -- c may be an input too
    local sq = oml.tensor({ { 1, 2 }, { 3, 4 } }, "float64")
    sq:addmm_(sq, sq)
    H.close(sq, { { 8, 12 }, { 18, 26 } })
  end)

  it("takes float32", function()
    local c = oml.zeros(2, 2)
    H.close(c:addmm(a:float(), b:float()), { { 19, 22 }, { 43, 50 } })
    assert.equal("float32", c:addmm(a:float(), b:float()).dtype)
  end)

  it("raises on bad arguments", function()
    local c = oml.zeros({ 2, 2 }, "float64")
    H.raises(function() local _ = oml.zeros(3, "float64"):addmm(a, b) end,
      "oml.addmm: the added tensor of shape [3] cannot be broadcast to the product's shape [2,2]")
    H.raises(function() local _ = c:float():addmm(a, b) end,
      "oml.addmm: the added tensor is float32 but the inputs are float64")
    H.raises(function() local _ = c:addmm(a, b:float()) end, "oml.addmm: the inputs are float64 and float32")
    H.raises(function() local _ = c:addmm(a, oml.zeros({ 3, 2 }, "float64")) end,
      "oml.addmm: shapes [2,2] and [3,2] do not match")
    H.raises(function() local _ = c:addmm(a, b, 2) end, "oml.addmm: options must be a table {beta=, alpha=} (got number)")
    H.raises(function() local _ = c:addmm(a, b, { beta = "x" }) end,
      "oml.addmm: beta and alpha must be numbers (got string and number)")
    H.raises(function() local _ = c:long():addmm(a, b) end, "oml.addmm: the added tensor is int64")
    H.raises(function() local _ = oml.addmm(1, a, b) end, "oml.addmm: the added tensor must be a tensor (got number)")
    H.raises(function() local _ = oml.zeros(2, "float64"):addmm_(a, b) end,
      "oml.addmm_: the output has shape [2] but the result has shape [2,2]")
  end)
end)

describe("bmm", function()
  -- a batch of nb matrices r x c, as Lua lists
  local function batch(nb, r, c, seed)
    local list = {}
    for i = 1, nb do list[i] = values(r, c, seed + i) end
    return list
  end

  local function check_batch(result, A, B, n, k, m, tol)
    assert.same({ #A, n, m }, result:size())
    for i = 1, #A do H.close(result:select(1, i), ref_mm(A[i], B[i], n, k, m), tol, "matrix " .. i) end
  end

  it("multiplies matrix by matrix", function()
    local A, B = batch(3, 2, 4, 10), batch(3, 4, 5, 20)
    check_batch(oml.tensor(A, "float64"):bmm(oml.tensor(B, "float64")), A, B, 2, 4, 5, 1e-12)
    check_batch(oml.bmm(oml.tensor(A), oml.tensor(B)), A, B, 2, 4, 5, 1e-5)
  end)

  it("reads transposed matrices without a copy", function()
    local A, B = batch(3, 2, 4, 30), batch(3, 4, 5, 40)
    local At = {} -- each matrix stored transposed, then viewed back
    for i = 1, 3 do At[i] = transpose(A[i], 4) end
    local a = oml.tensor(At, "float64"):transpose(2, 3)
    local bt = {}
    for i = 1, 3 do bt[i] = transpose(B[i], 5) end
    local b = oml.tensor(bt, "float64"):transpose(2, 3)
    local c, allocated = counting(function() return a:bmm(b) end)
    check_batch(c, A, B, 2, 4, 5, 1e-12)
    assert.equal(1, allocated)
    -- batch-major views (the batch dim inside) are fine too
    local p = oml.tensor(A, "float64"):permute(2, 1, 3):contiguous():permute(2, 1, 3)
    local bb = oml.tensor(B, "float64")
    c, allocated = counting(function() return p:bmm(bb) end)
    check_batch(c, A, B, 2, 4, 5, 1e-12)
    assert.equal(1, allocated)
  end)

  it("runs many small products on threads and large ones on BLAS's", function()
    local A, B = batch(300, 6, 5, 50), batch(300, 5, 7, 60)
    check_batch(oml.tensor(A, "float64"):bmm(oml.tensor(B, "float64")), A, B, 6, 5, 7, 1e-12)
    local L, R = batch(2, 70, 70, 70), batch(2, 70, 70, 80)
    check_batch(oml.tensor(L, "float64"):bmm(oml.tensor(R, "float64")), L, R, 70, 70, 70, 1e-10)
  end)

  it("handles empty dims", function()
    assert.same({ 0, 2, 3 }, oml.ones(0, 2, 4):bmm(oml.ones(0, 4, 3)):size())
    H.close(oml.ones(2, 2, 0):bmm(oml.ones(2, 0, 3)), { { { 0, 0, 0 }, { 0, 0, 0 } }, { { 0, 0, 0 }, { 0, 0, 0 } } })
  end)

  it("raises on bad arguments", function()
    H.raises(function() local _ = oml.ones(2, 3, 4):bmm(oml.ones(3, 4, 5)) end,
      "oml.bmm: shapes [2,3,4] and [3,4,5] do not match")
    H.raises(function() local _ = oml.ones(2, 3, 4):bmm(oml.ones(2, 5, 5)) end,
      "oml.bmm: shapes [2,3,4] and [2,5,5] do not match")
    H.raises(function() local _ = oml.ones(3, 4):bmm(oml.ones(4, 5)) end,
      "oml.bmm: expects 3-d tensors (got shapes [3,4] and [4,5])")
    H.raises(function() local _ = oml.ones({ 1, 2, 2 }, "int32"):bmm(oml.ones({ 1, 2, 2 }, "int32")) end,
      "oml.bmm: the first input is int32")
  end)
end)

describe("matmul", function()
  it("follows NumPy for 1-d operands", function()
    local v, w = oml.tensor { 1, 2, 3 }, oml.tensor { 4, 5, 6 }
    local d = v:matmul(w)
    assert.equal(0, d:dim())
    assert.equal(32, d:item())
    local m = oml.tensor { { 1, 2, 3 }, { 4, 5, 6 } }
    H.close(m:matmul(v), { 14, 32 })
    H.close(oml.tensor({ 1, 2 }):matmul(m), { 9, 12, 15 })
    H.close(oml.matmul(m:t(), oml.tensor { 1, 1 }), { 5, 7, 9 })
    -- a strided vector (a column of a matrix)
    H.close(m:select(2, 2):matmul(oml.tensor { 1, 1 }), 7)
  end)

  it("multiplies batches, broadcasting the batch dims", function()
    -- a [2,1,3,4] and b [5,4,2] give [2,5,3,2]: a[i,1] @ b[j] at [i,j]
    local A, B = {}, {}
    for i = 1, 2 do A[i] = { values(3, 4, i) } end
    for j = 1, 5 do B[j] = values(4, 2, 10 + j) end
    local c = oml.tensor(A, "float64"):matmul(oml.tensor(B, "float64"))
    assert.same({ 2, 5, 3, 2 }, c:size())
    for i = 1, 2 do
      for j = 1, 5 do H.close(c:select(1, i):select(1, j), ref_mm(A[i][1], B[j], 3, 4, 2), 1e-12) end
    end
  end)

  it("broadcasts 1-d operands against batches", function()
    local A = { values(3, 4, 1), values(3, 4, 2) }
    local a = oml.tensor(A, "float64")
    local v = { 1, -2, 0.5, 3 }
    local av = a:matmul(oml.tensor(v, "float64")) -- [2,3,4] @ [4] -> [2,3]
    assert.same({ 2, 3 }, av:size())
    for i = 1, 2 do
      local col = ref_mm(A[i], { { 1 }, { -2 }, { 0.5 }, { 3 } }, 3, 4, 1)
      H.close(av:select(1, i), { col[1][1], col[2][1], col[3][1] }, 1e-12)
    end
    local u = { 2, -1, 1 }
    local ua = oml.tensor(u, "float64"):matmul(a) -- [3] @ [2,3,4] -> [2,4]
    assert.same({ 2, 4 }, ua:size())
    for i = 1, 2 do H.close(ua:select(1, i), ref_mm({ u }, A[i], 1, 3, 4)[1], 1e-12) end
  end)

  it("folds a batch times a matrix into one product, and handles the views that do not fold", function()
    local A = { values(3, 4, 5), values(3, 4, 6) }
    local W = values(4, 2, 7)
    local w = oml.tensor(W, "float64")
    local a = oml.tensor(A, "float64")
    local c, allocated = counting(function() return a:matmul(w) end)
    for i = 1, 2 do H.close(c:select(1, i), ref_mm(A[i], W, 3, 4, 2), 1e-12) end
    assert.equal(1, allocated)
    -- transposed matrices in the batch: no fold, still no copy
    local At = { transpose(A[1], 4), transpose(A[2], 4) }
    local at = oml.tensor(At, "float64"):transpose(2, 3)
    c, allocated = counting(function() return at:matmul(w) end)
    for i = 1, 2 do H.close(c:select(1, i), ref_mm(A[i], W, 3, 4, 2), 1e-12) end
    assert.equal(1, allocated)
    -- an expanded batch
    local e = oml.tensor({ A[1] }, "float64"):expand(3, 3, 4)
    c = e:matmul(w:t():t())
    for i = 1, 3 do H.close(c:select(1, i), ref_mm(A[1], W, 3, 4, 2), 1e-12) end
    H.close(a:matmul(oml.tensor({ 1, 0, 0, 0 }, "float64")), { { A[1][1][1], A[1][2][1], A[1][3][1] },
      { A[2][1][1], A[2][2][1], A[2][3][1] } }, 1e-12)
  end)

  it("handles empty operands", function()
    local d = oml.zeros(0):matmul(oml.zeros(0))
    assert.equal(0, d:dim())
    assert.equal(0, d:item())
    assert.same({ 2, 0, 5 }, oml.ones(2, 0, 3):matmul(oml.ones(3, 5)):size())
    H.close(oml.ones(2, 0):matmul(oml.ones(0)), { 0, 0 })
    assert.same({ 0, 3, 2 }, oml.ones(0, 3, 4):matmul(oml.ones(1, 4, 2)):size())
  end)

  it("takes dot and mv", function()
    local v = oml.tensor({ 1, 2, 3 }, "float64")
    assert.equal(14, v:dot(v):item())
    assert.equal(14, oml.dot(v, v):item())
    H.close(oml.tensor({ { 1, 0, 1 }, { 0, 1, 0 } }, "float64"):mv(v), { 4, 2 })
  end)

  it("raises on bad arguments", function()
    H.raises(function() local _ = oml.ones(2, 3):matmul(oml.ones(4, 5)) end,
      "oml.matmul: shapes [2,3] and [4,5] do not match")
    H.raises(function() local _ = oml.ones(2, 3, 4):matmul(oml.ones(3, 4, 5)) end,
      "oml.matmul: shapes [2,3,4] and [3,4,5] do not match")
    H.raises(function() local _ = oml.ones(3):matmul(oml.ones(4)) end, "oml.matmul: shapes [3] and [4] do not match")
    H.raises(function() local _ = oml.tensor(2):matmul(oml.ones(3)) end,
      "oml.matmul: both inputs need at least 1 dim (got shapes [] and [3])")
    H.raises(function() local _ = oml.ones(3):matmul(oml.ones({ 3 }, "int64")) end,
      "oml.matmul: the second input is int64")
    H.raises(function() local _ = oml.matmul(oml.ones(3), "x") end,
      "oml.matmul: the second input must be a tensor (got string)")
    H.raises(function() local _ = oml.ones(2, 2):dot(oml.ones(2)) end,
      "oml.dot: expects 1-d tensors (got shapes [2,2] and [2])")
    H.raises(function() local _ = oml.ones(3):dot(oml.ones(4)) end, "oml.dot: shapes [3] and [4] do not match")
    H.raises(function() local _ = oml.ones(3):mv(oml.ones(3)) end,
      "oml.mv: expects a 2-d and a 1-d tensor (got shapes [3] and [3])")
    H.raises(function() local _ = oml.ones(2, 3):mv(oml.ones(2)) end, "oml.mv: shapes [2,3] and [2] do not match")
    local long = oml.ones(1):expand(2 ^ 31)
    H.raises(function() local _ = long:dot(long) end,
      "oml.dot: matrices of 1 x 2147483648 and 2147483648 x 1 exceed BLAS's limit of 2147483647 rows or columns")
    H.raises(function() local _ = oml.ones(2, 2, 1):expand(2, 2, 2 ^ 31):bmm(oml.ones(2, 1, 2):expand(2, 2 ^ 31, 2)) end,
      "oml.bmm: matrices of 2 x 2147483648 and 2147483648 x 2 exceed BLAS's limit")
  end)
end)
