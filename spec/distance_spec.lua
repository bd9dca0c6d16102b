-- normalize and cdist: hand-computed values and float64 references computed
-- in Lua, both of cdist's euclidean paths (direct differences up to 25 rows,
-- a GEMM beyond, as torch.cdist), views, empty inputs and errors.
local oml = require "oml"
local H = require "helper"

local values, transpose = H.values, H.transpose

local function norm(v)
  local s = 0
  for _, x in ipairs(v) do s = s + x * x end
  return math.sqrt(s)
end

-- The float64 distances between the rows of X and Y.
local function ref_cdist(X, Y, metric)
  local D = {}
  for i = 1, #X do
    D[i] = {}
    for j = 1, #Y do
      local dot, d2 = 0, 0
      for k = 1, #X[i] do
        dot = dot + X[i][k] * Y[j][k]
        d2 = d2 + (X[i][k] - Y[j][k]) ^ 2
      end
      D[i][j] = metric == "cosine" and 1 - dot / (norm(X[i]) * norm(Y[j])) or math.sqrt(d2)
    end
  end
  return D
end

describe("normalize", function()
  it("divides each row by its norm (hand-computed)", function()
    local a = oml.tensor { { 3, 4 }, { 0, 0 }, { -6, 8 } }
    H.close(a:normalize(), { { 0.6, 0.8 }, { 0, 0 }, { -0.6, 0.8 } })
    H.close(oml.normalize(a, 1), { { 3 / 7, 4 / 7 }, { 0, 0 }, { -6 / 14, 8 / 14 } })
    H.close(a:normalize(math.huge), { { 0.75, 1 }, { 0, 0 }, { -0.75, 1 } })
    H.close(a:normalize(2, 1), { { 3 / math.sqrt(45), 4 / math.sqrt(80) }, { 0, 0 }, { -6 / math.sqrt(45), 8 / math.sqrt(80) } })
    H.close(oml.tensor({ 3, 4 }):normalize(), { 0.6, 0.8 }) -- a 1-d tensor along its only dim
    H.close(a:normalize(2, -1), a:normalize())
  end)

  it("takes any p", function()
    local V = values(3, 5, 1)
    local out = oml.tensor(V, "float64"):normalize(3)
    for i = 1, 3 do
      local s = 0
      for j = 1, 5 do s = s + math.abs(V[i][j]) ^ 3 end
      local n = s ^ (1 / 3)
      for j = 1, 5 do V[i][j] = V[i][j] / n end
    end
    H.close(out, V, 1e-12)
    H.close(oml.tensor({ 2, 0, 4 }):normalize(0), { 1, 0, 2 }) -- p = 0 counts the non-zeros
  end)

  it("clamps small norms at eps", function()
    H.close(oml.tensor({ 1e-3, 0 }, "float64"):normalize(2, 1, 0.1), { 1e-2, 0 }, 1e-12)
    local z = oml.tensor({ 0, 0 }):normalize(2, 1, 0)
    assert.is_true(z:totable()[1] ~= z:totable()[1]) -- 0 / 0 without eps, as PyTorch
  end)

  it("reads views and keeps float64", function()
    local V = values(4, 3, 2)
    local tr = oml.tensor(transpose(V, 3), "float64"):t()
    local expected = {}
    for i = 1, 4 do
      local n = norm(V[i])
      expected[i] = { V[i][1] / n, V[i][2] / n, V[i][3] / n }
    end
    local out = tr:normalize()
    assert.equal("float64", out.dtype)
    H.close(out, expected, 1e-12)
  end)

  it("handles empty and 0-d tensors", function()
    assert.same({ 0, 3 }, oml.zeros(0, 3):normalize():size())
    H.close(oml.zeros(3, 0):normalize(), { {}, {}, {} })
    H.close(oml.tensor(-2):normalize(2, 1), -1)
  end)

  it("raises on bad arguments", function()
    local a = oml.ones(2, 2)
    H.raises(function() local _ = a:normalize(2, 3) end, "oml.normalize: dim 3 is out of range for a 2-d tensor")
    H.raises(function() local _ = a:long():normalize() end, "oml.normalize: the input is int64; expected float32 or float64")
    H.raises(function() local _ = a:normalize(0 / 0) end, "oml.normalize: p must not be NaN")
    H.raises(function() local _ = a:normalize("2") end, "oml.normalize: p must be a number (got string)")
    H.raises(function() local _ = a:normalize(2, 2, -1) end, "oml.normalize: eps must be >= 0 (got -1)")
    H.raises(function() local _ = oml.normalize(1) end, "oml.normalize: the input must be a tensor (got number)")
  end)
end)

describe("cdist", function()
  it("computes euclidean distances (hand-computed)", function()
    local x = oml.tensor { { 0, 0 }, { 3, 4 } }
    local y = oml.tensor { { 0, 0 }, { 6, 8 }, { 3, 0 } }
    H.close(oml.cdist(x, y), { { 0, 10, 3 }, { 5, 5, 4 } })
    H.close(oml.cdist(x, y, "euclidean"), { { 0, 10, 3 }, { 5, 5, 4 } })
  end)

  it("computes cosine distances (hand-computed)", function()
    local x = oml.tensor { { 1, 0 }, { 1, 1 } }
    local y = oml.tensor { { 2, 0 }, { 0, 3 }, { -1, 0 }, { 0, 0 } }
    local r = math.sqrt(0.5)
    -- a zero vector is at distance 1 from everything
    H.close(oml.cdist(x, y, "cosine"), { { 0, 1, 2, 1 }, { 1 - r, 1 - r, 1 + r, 1 } })
  end)

  it("matches float64 references on both euclidean paths and for cosine", function()
    for _, shape in ipairs { { 7, 9, 5 }, { 30, 40, 8 }, { 3, 60, 4 } } do
      local n, m, d = shape[1], shape[2], shape[3]
      local X, Y = values(n, d, 1), values(m, d, 2)
      for _, metric in ipairs { "euclidean", "cosine" } do
        local expected = ref_cdist(X, Y, metric)
        local what = metric .. " " .. n .. "x" .. m
        H.close(oml.cdist(oml.tensor(X, "float64"), oml.tensor(Y, "float64"), metric), expected, 1e-10, what)
        local out32 = oml.cdist(oml.tensor(X), oml.tensor(Y), metric)
        assert.equal("float32", out32.dtype)
        H.close(out32, expected, 1e-4, what)
      end
    end
  end)

  it("reads transposed and strided views", function()
    local X, Y = values(30, 6, 3), values(27, 6, 4)
    local xt = oml.tensor(transpose(X, 6), "float64"):t()
    local yt = oml.tensor(transpose(Y, 6), "float64"):t()
    H.close(oml.cdist(xt, yt), ref_cdist(X, Y), 1e-10)
    H.close(oml.cdist(xt, oml.tensor(Y, "float64"), "cosine"), ref_cdist(X, Y, "cosine"), 1e-10)
    local small = oml.tensor(X, "float64"):narrow(1, 1, 5):narrow(2, 2, 4)
    local SX = {}
    for i = 1, 5 do SX[i] = { X[i][2], X[i][3], X[i][4], X[i][5] } end
    H.close(oml.cdist(small, small:t():t()), ref_cdist(SX, SX), 1e-12)
  end)

  it("gives 0, not NaN, between equal rows on the GEMM path", function()
    local X = values(40, 16, 5)
    local x = oml.tensor(X)
    local dist = oml.cdist(x, x):totable()
    for i = 1, 40 do
      assert.is_true(dist[i][i] >= 0 and dist[i][i] < 1e-2, "row " .. i .. ": " .. tostring(dist[i][i]))
    end
  end)

  it("handles empty inputs", function()
    assert.same({ 0, 3 }, oml.cdist(oml.zeros(0, 2), oml.zeros(3, 2)):size())
    assert.same({ 2, 0 }, oml.cdist(oml.zeros(2, 2), oml.zeros(0, 2), "cosine"):size())
    H.close(oml.cdist(oml.zeros(2, 0), oml.zeros(3, 0)), { { 0, 0, 0 }, { 0, 0, 0 } })
    local big = oml.cdist(oml.zeros(30, 0), oml.zeros(26, 0)):totable() -- the GEMM path with k = 0
    for i = 1, 30 do for j = 1, 26 do assert.equal(0, big[i][j]) end end
    H.close(oml.cdist(oml.zeros(2, 0), oml.zeros(1, 0), "cosine"), { { 1 }, { 1 } })
  end)

  it("raises on bad arguments", function()
    local x = oml.ones(2, 3)
    H.raises(function() local _ = oml.cdist(x, oml.ones(2, 4)) end,
      "oml.cdist: x of shape [2,3] and y of shape [2,4] differ in the number of columns")
    H.raises(function() local _ = oml.cdist(oml.ones(3), x) end,
      "oml.cdist: expects 2-d tensors [n,d] and [m,d] (got shapes [3] and [2,3])")
    H.raises(function() local _ = oml.cdist(x, x:double()) end, "oml.cdist: x is float32 but y is float64")
    H.raises(function() local _ = oml.cdist(x:int(), x:int()) end, "oml.cdist: x is int32; expected float32 or float64")
    H.raises(function() local _ = oml.cdist(x, x, "manhattan") end,
      "oml.cdist: unknown metric manhattan (use \"euclidean\" or \"cosine\")")
    H.raises(function() local _ = oml.cdist(x, {}) end, "oml.cdist: y must be a tensor (got table)")
    H.raises(function() local _ = oml.cdist(oml.ones(1, 1):expand(2 ^ 31, 1), oml.ones(1, 1)) end,
      "oml.cdist: x of shape [2147483648,1] and y of shape [1,1] exceed BLAS's limit of 2147483647 per dim")
  end)
end)
