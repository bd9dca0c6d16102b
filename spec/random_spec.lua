-- spec/random_spec.lua: seeding, generators, the random fills, and the
-- pinned Philox stream that must be the same on every machine.
local oml = require "oml"
local H = require "helper"
local C = require("oml.capi").C

-- Elements of a CPU tensor as a flat Lua list (row-major), read through its
-- pointer so that large checks stay fast.
local function flat(t)
  t = t:contiguous()
  local p, n, out = t:data(), t:numel(), {}
  for i = 0, n - 1 do out[i + 1] = tonumber(p[i]) end
  return out
end

-- Mean, variance, min and max of a float tensor, in one pass over its memory.
local function stats(t)
  local p, n = t:data(), t:numel()
  local s, s2, lo, hi = 0, 0, math.huge, -math.huge
  for i = 0, n - 1 do
    local v = p[i]
    s, s2 = s + v, s2 + v * v
    if v < lo then lo = v end
    if v > hi then hi = v end
  end
  local mean = s / n
  return mean, (s2 - n * mean * mean) / (n - 1), lo, hi
end

-- How often each value occurs in an int32 tensor.
local function counts(t)
  local p, c = t:data(), {}
  for i = 0, t:numel() - 1 do c[p[i]] = (c[p[i]] or 0) + 1 end
  return c
end

local function set_threads(n)
  if oml.set_num_threads then oml.set_num_threads(n) else C.oml_set_num_threads(n) end
end

describe("the Philox stream", function()
  -- The words of Philox4x32-10 for counter 0 and key 0 are Random123's
  -- known-answer vector (tests/kat_vectors: "philox4x32 10 00000000 ...
  -- 6627e8d5 e169c58d bc57ac4c 9b00dbd8"). Seed 0's first float32 uniforms
  -- are those words' top 24 bits / 2^24.
  it("starts with Random123's known answer for seed 0", function()
    oml.manual_seed(0)
    local kat = { 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8 }
    local expected = {}
    for i, w in ipairs(kat) do expected[i] = math.floor(w / 256) / 2 ^ 24 end
    assert.are.same(expected, oml.rand(4):totable())
    -- randint(0, 2^32) reads the block as a 128-bit fraction: the first word
    oml.manual_seed(0)
    assert.are.equal(0x6627e8d5, oml.randint(0, 2 ^ 32, { 1 }):item())
  end)

  -- The pinned values below define "the same stream on every machine". They
  -- were printed by this implementation and agree with an independent
  -- Python implementation of the same definitions (spec/random_reference.py).
  local PINNED = {
    [0] = {
      rand32 = { 0.3990464210510254, 0.8805201649665833, 0.7357127666473389, 0.6054818034172058,
                 0.9722411632537842, 0.362091064453125 },
      rand64 = { 0.3990464708489645, 0.7357127844834425, 0.9722412015223156 },
      randn32 = { 0.991137683391571, -0.9246625900268555, -0.6176089644432068, -0.48206859827041626,
                  -0.15363822877407074, 0.18082590401172638 },
      randn64 = { -0.09047305844120267, -1.0051318150657187, -0.9238335510946979, -2.51295372489041,
                  0.12542508072952097, 0.15346221557314738 },
      randint10 = { 3, 9, 0, 7, 9, 4 },
      randint_wide = { 438756234716, 1068990506071, 21384866124, 865720019301 },
    },
    [42] = {
      rand32 = { 0.6129598617553711, 0.4685865044593811, 0.07323169708251953, 0.3408614993095398,
                 0.9877186417579651, 0.32706332206726074 },
      rand64 = { 0.6129598811894158, 0.07323173744158384, 0.9877186509145105 },
      randn32 = { -0.9701898097991943, 0.19401895999908447, -1.2356207370758057, 1.9239267110824585,
                  -0.07318150997161865, 0.13913749158382416 },
      randn64 = { 1.234541820550271, 0.6118499355304586, -2.9550533475152116, -0.25885655713170497,
                  -1.4934674670939774, -1.12491099552866 },
      randint10 = { 6, 9, 8, 7, 3, 3 },
      randint_wide = { 673956516722, 1086008141646, 908050179491, 802202875302 },
    },
  }

  for _, seed in ipairs { 0, 42 } do
    local pinned = PINNED[seed]
    it("gives the pinned values for seed " .. seed, function()
      oml.manual_seed(seed)
      assert.are.same(pinned.rand32, oml.rand(6):totable())
      oml.manual_seed(seed)
      assert.are.same(pinned.rand64, oml.rand(3, "float64"):totable())
      oml.manual_seed(seed)
      H.close(oml.randn(6), pinned.randn32, 1e-7)
      oml.manual_seed(seed)
      -- libm's log/sin/cos may differ in the last bit between platforms
      H.close(oml.randn(6, "float64"), pinned.randn64, 1e-14)
      oml.manual_seed(seed)
      assert.are.same(pinned.randint10, oml.randint(10, { 6 }):totable())
      oml.manual_seed(seed)
      assert.are.same(pinned.randint_wide, oml.randint(-5, 2 ^ 40 - 5, { 4 }):totable())
    end)
  end

  it("gives each fill a fresh range of counter blocks", function()
    oml.manual_seed(0)
    local all = oml.rand(12):totable()
    oml.manual_seed(0)
    local first = oml.rand(5):totable() -- takes blocks 0 and 1 (4 float32 per block)
    local second = oml.rand(3):totable() -- starts at block 2, element 9
    assert.are.same({ all[1], all[2], all[3], all[4], all[5] }, first)
    assert.are.same({ all[9], all[10], all[11] }, second)
  end)

  it("does not depend on the thread count", function()
    local before = C.oml_get_num_threads()
    local results = {}
    for _, threads in ipairs { 1, 2, 3 } do
      set_threads(threads)
      oml.manual_seed(5)
      results[threads] = {
        oml.rand(100003), oml.randn(100003, "float64"), oml.randint(-7, 1000, { 100003 }, "int32"),
        oml.empty(100003, "uint8"):bernoulli_(0.25), oml.randperm(50000),
      }
    end
    set_threads(before)
    for threads = 2, 3 do
      for k = 1, #results[1] do H.close(flat(results[threads][k]), flat(results[1][k]), 0) end
    end
  end)

  it("fills non-contiguous tensors in row-major order, as a fresh tensor", function()
    oml.manual_seed(3)
    local expected = oml.rand(4, 6):totable()
    oml.manual_seed(3)
    local base = oml.zeros(6, 4)
    local view = base:t()
    view:uniform_()
    assert.are.same(expected, view:totable())
    -- a narrowed view leaves the rest of its storage alone
    local z = oml.zeros(3, 5)
    z:narrow(2, 2, 3):bernoulli_(1)
    assert.are.same({ { 0, 1, 1, 1, 0 }, { 0, 1, 1, 1, 0 }, { 0, 1, 1, 1, 0 } }, z:totable())
  end)

  it("leaves empty tensors alone", function()
    assert.are.same({ 0 }, oml.rand(0):size())
    assert.are.same({ 2, 0 }, oml.randn(2, 0, "float64"):size())
    assert.are.same({ 0 }, oml.randperm(0):size())
    assert.are.same({ 0, 3 }, oml.randint(5, { 0, 3 }):size())
  end)
end)

describe("seeding", function()
  it("repeats a stream after manual_seed and moves on between calls", function()
    oml.manual_seed(123)
    local a, b = oml.rand(5):totable(), oml.rand(5):totable()
    oml.manual_seed(123)
    assert.are.same(a, oml.rand(5):totable())
    assert.are.same(b, oml.rand(5):totable())
    assert.are_not.same(a, b)
    assert.are.equal(123, oml.initial_seed())
  end)

  it("takes seeds up to 2^64 - 1 and wraps negative ones", function()
    local ffi = require "ffi"
    oml.manual_seed(-1)
    assert.is_true(oml.initial_seed() == 0xffffffffffffffffULL)
    local a = oml.rand(3):totable()
    oml.manual_seed(0xffffffffffffffffULL)
    assert.are.same(a, oml.rand(3):totable())
    oml.manual_seed(ffi.new("int64_t", 2 ^ 40))
    assert.are.equal(2 ^ 40, oml.initial_seed())
  end)

  it("gives generators streams of their own", function()
    local g1, g2 = oml.Generator(7), oml.Generator(7)
    assert.are.equal(7, g1:initial_seed())
    oml.manual_seed(7)
    local default = oml.rand(4):totable()
    oml.manual_seed(0)
    local from_g1 = oml.rand(4, { generator = g1 }):totable()
    assert.are.same(default, from_g1) -- same seed, same stream
    assert.are.same(from_g1, oml.rand({ 4 }, { generator = g2 }):totable())
    -- drawing from a generator leaves the default one where it was
    local after = oml.rand(4):totable()
    oml.manual_seed(0)
    assert.are.same(after, oml.rand(4):totable())
    assert.are.equal("oml.Generator(seed=7, offset=1)", tostring(g1))
    assert.are.equal(g1, g1:manual_seed(7))
    assert.are.same(from_g1, oml.rand(4, { generator = g1 }):totable())
  end)

  it("passes generators to every function and method", function()
    local function draws(g)
      return {
        oml.rand(3, { generator = g }), oml.randn(3, { generator = g }),
        oml.randint(2, 9, { 3 }, { generator = g }), oml.randperm(5, { generator = g }),
        oml.empty(3):uniform_(2, 4, g), oml.empty(3):normal_(1, 2, { generator = g }),
        oml.empty(3):random_(5, g), oml.empty(3):random_(-5, 5, g), oml.empty(3):bernoulli_(0.5, g),
      }
    end
    local a, b = draws(oml.Generator(11)), draws(oml.Generator(11))
    for i = 1, #a do assert.are.same(a[i]:totable(), b[i]:totable()) end
  end)
end)

describe("the random functions", function()
  local N = 1000000

  it("draws uniform floats in [low, high)", function()
    oml.manual_seed(1)
    for _, dtype in ipairs { "float32", "float64" } do
      local m, var, lo, hi = stats(oml.rand(N, dtype))
      assert.is_true(math.abs(m - 0.5) < 0.003, "mean " .. m)
      assert.is_true(math.abs(var - 1 / 12) < 0.002, "variance " .. var)
      assert.is_true(lo >= 0 and lo < 1e-4 and hi < 1 and hi > 1 - 1e-4)
      _, _, lo, hi = stats(oml.empty({ 1000 }, dtype):uniform_(-3, -2))
      assert.is_true(lo >= -3 and hi < -2)
    end
  end)

  it("draws normals with the asked mean and std", function()
    oml.manual_seed(2)
    for _, dtype in ipairs { "float32", "float64" } do
      local m, var = stats(oml.randn(N, dtype))
      assert.is_true(math.abs(m) < 0.006, "mean " .. m)
      assert.is_true(math.abs(var - 1) < 0.01, "variance " .. var)
      m, var = stats(oml.empty({ N }, dtype):normal_(3, 0.5))
      assert.is_true(math.abs(m - 3) < 0.003, "mean " .. m)
      assert.is_true(math.abs(var - 0.25) < 0.003, "variance " .. var)
    end
    H.close(oml.empty(2, 2):normal_(5, 0), { { 5, 5 }, { 5, 5 } })
  end)

  it("draws integers in [low, high) evenly, for every real dtype", function()
    oml.manual_seed(3)
    local c = counts(oml.randint(-2, 8, { N }, "int32"))
    for x = -2, 7 do assert.is_true(math.abs(c[x] - N / 10) < 2000, "count of " .. x) end
    for x in pairs(c) do assert.is_true(x >= -2 and x < 8) end
    -- a range with no power-of-two size: multiply-shift keeps thirds even
    c = counts(oml.randint(3, { N }, "int32"))
    for x = 0, 2 do assert.is_true(math.abs(c[x] - N / 3) < 2500, "count of " .. x) end
    -- a range near int64's: half the values are negative
    local negative = 0
    for _, x in ipairs(flat(oml.randint(-2 ^ 62, 2 ^ 62, { 100000 }))) do
      if x < 0 then negative = negative + 1 end
    end
    assert.is_true(math.abs(negative - 50000) < 1000)
    for _, dtype in ipairs { "float32", "float64", "int32", "int64", "uint8", "bool" } do
      local hi = dtype == "bool" and 2 or 7
      local t = oml.randint(0, hi, { 1000 }, dtype)
      assert.are.equal(dtype, t.dtype)
      local seen = {}
      for _, x in ipairs(t:totable()) do
        if dtype == "bool" then x = x and 1 or 0 end
        assert.is_true(x >= 0 and x < hi and x == math.floor(x))
        seen[x] = true
      end
      for x = 0, hi - 1 do assert.is_true(seen[x], dtype .. " never drew " .. x) end
    end
    local r = oml.empty({ 100 }, "int64"):random_(4)
    for _, x in ipairs(r:totable()) do assert.is_true(x >= 0 and x < 4) end
    assert.are.same({ 255, 255 }, oml.randint(255, 256, { 2 }, "uint8"):totable())
    assert.are.same({ -2 ^ 31, -2 ^ 31 }, oml.randint(-2 ^ 31, -2 ^ 31 + 1, { 2 }, "int32"):totable())
  end)

  it("permutes 1..n", function()
    oml.manual_seed(4)
    for _, dtype in ipairs { "int64", "int32", "float32", "float64" } do
      local p = oml.randperm(1000, dtype)
      assert.are.equal(dtype, p.dtype)
      local v = flat(p)
      table.sort(v)
      for i = 1, 1000 do assert.are.equal(i, v[i]) end
    end
    assert.are.same({ 1 }, oml.randperm(1):totable())
    -- every one of the 6 orders of 3 comes up, about equally often
    local orders = {}
    for _ = 1, 6000 do
      local key = table.concat(oml.randperm(3):totable())
      orders[key] = (orders[key] or 0) + 1
    end
    local n = 0
    for _, count in pairs(orders) do
      n = n + 1
      assert.is_true(math.abs(count - 1000) < 150)
    end
    assert.are.equal(6, n)
  end)

  it("draws 0/1 with probability p, for every real dtype", function()
    oml.manual_seed(5)
    local frequency = stats(oml.empty({ N }, "float32"):bernoulli_(0.3))
    assert.is_true(math.abs(frequency - 0.3) < 0.005)
    for _, dtype in ipairs { "float32", "float64", "int32", "int64", "uint8", "bool" } do
      local t = oml.empty({ 1000 }, dtype)
      local zero, one = 0, 1
      if dtype == "bool" then zero, one = false, true end
      for _, x in ipairs(t:bernoulli_(0):totable()) do assert.are.equal(zero, x) end
      for _, x in ipairs(t:bernoulli_(1):totable()) do assert.are.equal(one, x) end
      local seen = {}
      for _, x in ipairs(t:bernoulli_():totable()) do seen[tostring(x)] = true end
      assert.is_true(seen[tostring(zero)] and seen[tostring(one)])
    end
  end)

  it("works as oml.<method>(t, ...) too", function()
    oml.manual_seed(6)
    local a = oml.uniform_(oml.empty(3), 0, 1):totable()
    oml.manual_seed(6)
    assert.are.same(a, oml.rand(3):totable())
  end)
end)

describe("random errors", function()
  it("refuses dtypes a draw cannot fill", function()
    H.raises(function() local _ = oml.rand(2, "int64") end,
             "oml.rand: the tensor is int64; expected float32 or float64")
    H.raises(function() local _ = oml.randn(2, { dtype = "bool" }) end,
             "oml.randn: the tensor is bool; expected float32 or float64")
    H.raises(function() local _ = oml.empty(2, "int32"):uniform_() end, "oml.uniform_: the tensor is int32")
    H.raises(function() local _ = oml.empty(2, "uint8"):normal_() end, "oml.normal_: the tensor is uint8")
    H.raises(function() local _ = oml.empty(2, "float16"):uniform_() end,
             "oml.uniform_: the tensor is float16, a storage-only dtype")
    H.raises(function() local _ = oml.empty(2, "bfloat16"):bernoulli_() end,
             "oml.bernoulli_: the tensor is bfloat16, a storage-only dtype")
    H.raises(function() local _ = oml.randperm(5, "bool") end,
             "oml.randperm: a permutation is int32, int64, float32 or float64 (got bool)")
    H.raises(function() local _ = oml.randperm(5, "uint8") end, "oml.randperm: a permutation is")
  end)

  it("refuses tensors whose elements share memory", function()
    local e = oml.zeros(3):expand(2, 3)
    local msg = "the tensor is an expanded view whose elements share memory"
    H.raises(function() e:uniform_() end, "oml.uniform_: " .. msg)
    H.raises(function() e:normal_() end, "oml.normal_: " .. msg)
    H.raises(function() e:bernoulli_() end, "oml.bernoulli_: " .. msg)
    assert.same({ 0, 0, 0 }, e:select(1, 1):totable())
  end)

  it("refuses bad ranges and parameters", function()
    local t = oml.empty(3)
    H.raises(function() local _ = t:uniform_(1, 0) end, "oml.uniform_: the range [1, 0) must be finite and non-empty")
    H.raises(function() local _ = t:uniform_(0, math.huge) end, "oml.uniform_: the range [0, inf)")
    H.raises(function() local _ = t:normal_(0, -1) end, "oml.normal_: std must be finite and >= 0 (got -1)")
    H.raises(function() local _ = t:normal_(math.huge) end, "oml.normal_: mean must be finite (got inf)")
    H.raises(function() local _ = t:bernoulli_(1.5) end, "oml.bernoulli_: p must be in [0, 1] (got 1.5)")
    H.raises(function() local _ = t:bernoulli_(-0.1) end, "oml.bernoulli_: p must be in [0, 1] (got -0.1)")
    H.raises(function() local _ = oml.randint(5, 5, { 2 }) end, "oml.randint: the range [5, 5) is empty")
    H.raises(function() local _ = oml.randint(0, { 2 }) end, "oml.randint: the range [0, 0) is empty")
    H.raises(function() local _ = oml.randint(0, 300, { 2 }, "uint8") end,
             "oml.randint: the range [0, 300) does not fit uint8")
    H.raises(function() local _ = oml.randint(-1, 1, { 2 }, "bool") end,
             "oml.randint: the range [-1, 1) does not fit bool")
    H.raises(function() local _ = oml.randint(0, 2 ^ 31 + 1, { 2 }, "int32") end,
             "oml.randint: the range [0, 2147483649) does not fit int32")
    H.raises(function() local _ = oml.randint(0, 2 ^ 24 + 2, { 2 }, "float32") end,
             "oml.randint: the range [0, 16777218) does not fit float32")
    H.raises(function() local _ = oml.empty(2, "uint8"):random_(256, 258) end,
             "oml.random_: the range [256, 258) does not fit uint8")
    H.raises(function() local _ = oml.randperm(-1) end, "oml.randperm: n must be >= 0 (got -1)")
    H.raises(function() local _ = oml.randperm(2 ^ 24 + 1, "float32") end,
             "oml.randperm: n = 16777217 does not fit float32")
  end)

  it("refuses arguments of the wrong kind", function()
    H.raises(function() local _ = oml.randint(1.5, 3, { 2 }) end, "oml.randint: low must be an integer (got 1.5)")
    H.raises(function() local _ = oml.randint(0, 2 ^ 63, { 2 }) end, "oml.randint: high must be an integer")
    H.raises(function() local _ = oml.randint(3, 5) end, "oml.randint: sizes must be a list (got nil)")
    H.raises(function() local _ = oml.randperm(2.5) end, "oml.randperm: n must be an integer (got 2.5)")
    H.raises(function() local _ = oml.randperm(3, 5) end, "oml.randperm: options must be a dtype or a table")
    H.raises(function() local _ = oml.empty(2):random_() end, "oml.random_: give the range")
    H.raises(function() local _ = oml.empty(2):random_(0.5) end, "oml.random_: high must be an integer (got 0.5)")
    H.raises(function() local _ = oml.empty(2):uniform_("a") end, "oml.uniform_: low must be a number (got string)")
    H.raises(function() local _ = oml.uniform_("a") end, "oml.uniform_: the input must be a tensor (got string)")
    H.raises(function() local _ = oml.rand(2, -1) end, "oml.rand: size 2 must be a non-negative integer (got -1)")
    H.raises(function() local _ = oml.rand(2, "complex") end, "oml.rand: unknown dtype complex")
  end)

  it("refuses bad seeds, generators and options", function()
    H.raises(function() oml.manual_seed(1.5) end, "oml.manual_seed: the seed must be an integer (got 1.5)")
    H.raises(function() oml.manual_seed("7") end, "oml.manual_seed: the seed must be an integer (got 7)")
    H.raises(function() oml.manual_seed(2 ^ 64) end, "oml.manual_seed: the seed must be an integer")
    H.raises(function() local _ = oml.Generator() end, "oml.Generator: the seed must be an integer (got nil)")
    H.raises(function() local _ = oml.Generator(1):manual_seed(0.5) end,
             "oml.Generator.manual_seed: the seed must be an integer (got 0.5)")
    H.raises(function() local _ = oml.rand(2, { generator = 5 }) end,
             "oml.rand: the generator must be an oml.Generator (got number)")
    H.raises(function() local _ = oml.empty(2):normal_(0, 1, "g") end,
             "oml.normal_: the generator must be an oml.Generator (got string)")
    H.raises(function() local _ = oml.rand(2, { dtyp = "float64" }) end, "oml.rand: unknown option 'dtyp'")
    H.raises(function() local _ = oml.randperm(3, { device = "cpu" }) end, "oml.randperm: unknown option 'device'")
    H.raises(function() local _ = oml.empty(2):bernoulli_(0.5, { gen = 1 }) end,
             "oml.bernoulli_: unknown option 'gen'")
  end)

  it("refuses unset tensors", function()
    local T = require "oml.tensor"
    H.raises(function() local _ = T.new():uniform_() end, "oml.uniform_: the tensor is an unset tensor")
    H.raises(function() local _ = T.new():random_(3) end, "oml.random_: the tensor is an unset tensor")
  end)
end)
