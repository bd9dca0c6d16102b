-- The layers' kernels on cuda:0 (engine/src/cuda/conv.cu, norm.cu, pool.cu,
-- interpolate.cu): parity with the CPU. Tagged gpu; pending where no GPU is
-- present. Sums run in another order than the CPU's: within 1e-5 (float32,
-- convolutions 1e-4) or 1e-12 (float64) relative; max pooling's values and
-- indices must be equal (its backward adds overlapping windows' shares in
-- any order). The math modes of the convolutions are checked with loose
-- tolerances: the 16-bit ones round every operand, and cuDNN rounds the
-- result too.
local ffi = require "ffi"
local oml = require "oml"
local T = require "oml.tensor"
local H = require "helper"
local G = require "gpu_helper"
local gpu_describe = G.describe

local C = T.C
local DEVICE, DEVICE_NAME = "cuda", "cuda:0"
local FLOATS = { "float32", "float64" }
local TOL = { float32 = 1e-5, float64 = 1e-12 }
local CONV_TOL = { float32 = 1e-4, float64 = 1e-10 }


-- Deterministic values of dtype in [-scale, scale]; seed varies them.
local function values(sizes, dtype, seed, scale)
  local n = 1
  for _, s in ipairs(sizes) do n = n * s end
  local t = oml.arange(n):double():mul(0.7131):add(seed or 0):sin():mul(scale or 1)
  return t:to { dtype = dtype }:view(sizes)
end

-- A fresh copy of a CPU tensor on dev (nil stays nil), so that in-place
-- results (running statistics, accumulated gradients) never touch it.
local function on(t, dev)
  if t == nil then return nil end
  if dev == "cpu" then return t:clone() end
  return t:to { device = dev }
end

-- build(dev) runs an op with inputs on dev and returns a list of result
-- tensors; each result on the device must match the CPU's within tol
-- (0: equal; a list: one tolerance per result).
local function parity(build, tol, what)
  local cpu, gpu = build("cpu"), build(DEVICE)
  assert.equal(#cpu, #gpu, "number of results")
  for k, t in ipairs(cpu) do
    local path = (what or "result") .. " " .. k
    assert.equal(DEVICE_NAME, gpu[k].device, path)
    assert.equal(t.dtype, gpu[k].dtype, path)
    assert.same(t:size(), gpu[k]:size(), path)
    H.close(gpu[k]:cpu(), t, type(tol) == "table" and tol[k] or tol, path)
  end
  return cpu, gpu
end

local function check(rc) assert(rc == 0, ffi.string(C.oml_last_error())) end

-- The error of a C call that must fail.
local function fails(rc)
  assert.equal(-1, rc)
  return ffi.string(C.oml_last_error())
end

-- ---- convolution ---------------------------------------------------------------

local function conv_forward(x, w, b, c)
  local out = T.new()
  check(C.oml_conv2d_forward(x, out, w, b, c.s[1], c.s[2], c.p[1], c.p[2], c.d[1], c.d[2], c.g))
  return out
end

-- grad_input (nil when skip_input), and grad_weight, grad_bias accumulated into gw, gb
local function conv_backward(x, gy, w, gw, gb, c, skip_input)
  local gi = (not skip_input) and T.new() or nil
  check(C.oml_conv2d_backward(x, gy, gi, w, gw, gb, c.s[1], c.s[2], c.p[1], c.p[2], c.d[1], c.d[2], c.g))
  return gi
end

local function out_size(c)
  local function one(n, k, s, p, d) return math.floor((n + 2 * p - d * (k - 1) - 1) / s) + 1 end
  return { c.n, c.o, one(c.h, c.k[1], c.s[1], c.p[1], c.d[1]), one(c.w, c.k[2], c.s[2], c.p[2], c.d[2]) }
end

local CONVS = {
  { n = 1, c = 3, h = 7, w = 9, o = 4, k = { 3, 3 }, s = { 1, 1 }, p = { 1, 1 }, d = { 1, 1 }, g = 1 },
  { n = 3, c = 4, h = 11, w = 10, o = 6, k = { 3, 2 }, s = { 2, 1 }, p = { 1, 0 }, d = { 1, 2 }, g = 2 },
  { n = 2, c = 8, h = 9, w = 9, o = 8, k = { 3, 3 }, s = { 2, 2 }, p = { 1, 1 }, d = { 1, 1 }, g = 8 }, -- depthwise
  { n = 2, c = 8, h = 13, w = 12, o = 16, k = { 3, 3 }, s = { 1, 1 }, p = { 2, 2 }, d = { 2, 2 }, g = 4 },
  { n = 2, c = 16, h = 5, w = 6, o = 32, k = { 1, 1 }, s = { 1, 1 }, p = { 0, 0 }, d = { 1, 1 }, g = 1 },
  { n = 2, c = 3, h = 33, w = 31, o = 8, k = { 7, 7 }, s = { 2, 2 }, p = { 3, 3 }, d = { 1, 1 }, g = 1 }, -- a stem
  { n = 5, c = 6, h = 8, w = 8, o = 4, k = { 2, 3 }, s = { 3, 2 }, p = { 0, 1 }, d = { 1, 1 }, g = 1 },
}
-- many blocks, and a weight gradient summed over more than one chunk
local BIG_CONV = { n = 8, c = 32, h = 28, w = 28, o = 64, k = { 3, 3 }, s = { 1, 1 }, p = { 1, 1 }, d = { 1, 1 },
  g = 1 }
-- its weight gradient sums 6272 products that largely cancel: the CPU's
-- float32 result is 5e-5 off (per 1 + |value|) and a GPU's summation order
-- as much again
local BIG_TOL = 3e-4

-- The tensors of one case: x is read through a transposed view, the bias
-- through a strided one; grad_weight and grad_bias start non-zero.
local function conv_case(c, dtype)
  local cg = c.c / c.g
  return {
    x = values({ c.n, c.c, c.w, c.h }, dtype, 1),
    w = values({ c.o, cg, c.k[1], c.k[2] }, dtype, 2, 0.5),
    b = values({ c.o, 2 }, dtype, 3),
    gy = values(out_size(c), dtype, 4),
    gw = values({ c.o, cg, c.k[1], c.k[2] }, dtype, 5),
    gb = values({ c.o }, dtype, 6),
  }
end

-- forward, then backward twice: grad_input, and the parameters' gradients
-- after one and after two passes
local function conv_all(v, c, dev)
  local x = on(v.x, dev):transpose(3, 4)
  local w, b = on(v.w, dev), on(v.b, dev):select(2, 1)
  local gy, gw, gb = on(v.gy, dev), on(v.gw, dev), on(v.gb, dev)
  local y = conv_forward(x, w, b, c)
  local gi = conv_backward(x, gy, w, gw, gb, c)
  local gw1, gb1 = gw:clone(), gb:clone()
  conv_backward(x, gy, w, gw, gb, c, true)
  return { y, gi, gw1, gb1, gw, gb }
end

gpu_describe("conv2d on cuda", function()
  it("matches the CPU over strides, padding, dilation and groups (depthwise too), float32 and float64", function()
    for _, dtype in ipairs(FLOATS) do
      for i, c in ipairs(CONVS) do
        local v = conv_case(c, dtype)
        parity(function(dev) return conv_all(v, c, dev) end, CONV_TOL[dtype], dtype .. " case " .. i)
      end
    end
  end)

  it("accumulates into grad_weight and grad_bias: a second backward pass adds the same again", function()
    for _, dtype in ipairs(FLOATS) do
      local c = CONVS[2]
      local v = conv_case(c, dtype)
      local _, gpu = parity(function(dev) return conv_all(v, c, dev) end, CONV_TOL[dtype], dtype)
      local gw0, gb0 = on(v.gw, DEVICE), on(v.gb, DEVICE)
      -- start + 2 * once = twice: (gw1 - gw0) * 2 + gw0
      H.close(gpu[5]:cpu(), (gpu[3] - gw0):mul(2):add(gw0):cpu(), CONV_TOL[dtype])
      H.close(gpu[6]:cpu(), (gpu[4] - gb0):mul(2):add(gb0):cpu(), CONV_TOL[dtype])
    end
  end)

  it("handles large maps, batches of one and no bias", function()
    local v = conv_case(BIG_CONV, "float32")
    parity(function(dev) return conv_all(v, BIG_CONV, dev) end, BIG_TOL, "big")
    local c = CONVS[1]
    local w = conv_case(c, "float64")
    parity(function(dev) return { conv_forward(on(w.x, dev), on(w.w, dev), nil, c) } end, CONV_TOL.float64)
  end)

  it("runs every math mode within loose tolerances", function()
    -- measured on the CPU with the operands rounded (TF32 as float16, truncated or not): the big case's
    -- accumulated weight gradient lands 0.04 (10 bits) and 0.23 (bfloat16) off
    local modes = { float32 = BIG_TOL, tf32 = 0.1, bfloat16 = 0.5, float16 = 0.1 }
    local ok, err = pcall(function()
      for i, c in ipairs({ CONVS[1], CONVS[3], CONVS[4], BIG_CONV }) do
        local v = conv_case(c, "float32")
        local cpu = conv_all(v, c, "cpu")
        for mode, tol in pairs(modes) do
          oml.cuda.set_math(mode)
          local gpu = conv_all(v, c, DEVICE)
          oml.cuda.set_math("float32")
          for k, t in ipairs(cpu) do H.close(gpu[k]:cpu(), t, tol, mode .. " case " .. i .. " result " .. k) end
        end
      end
    end)
    oml.cuda.set_math("float32")
    assert(ok, err)
  end)

  it("names the argument that is on another device", function()
    local c = CONVS[1]
    local v = conv_case(c, "float32")
    local x, w = on(v.x, DEVICE), on(v.w, DEVICE)
    local out = T.new()
    assert.matches("weight is on the CPU but input is on cuda:0",
      fails(C.oml_conv2d_forward(x, out, v.w, nil, 1, 1, 1, 1, 1, 1, 1)), 1, true)
    assert.matches("bias is on the CPU but input is on cuda:0",
      fails(C.oml_conv2d_forward(x, out, w, v.gb, 1, 1, 1, 1, 1, 1, 1)), 1, true)
    assert.matches("grad_weight is on the CPU but input is on cuda:0",
      fails(C.oml_conv2d_backward(x, on(v.gy, DEVICE), nil, w, v.gw, nil, 1, 1, 1, 1, 1, 1, 1)), 1, true)
  end)
end)

-- ---- batch norm and layer norm -------------------------------------------------

-- forward: out, save_mean, save_invstd (training) and the running statistics after it
local function bn_forward(x, w, b, rm, rv, training)
  local out, sm, si = T.new(), T.new(), T.new()
  check(C.oml_batch_norm_forward(x, out, w, b, rm, rv, sm, si, training and 1 or 0, 0.1, 1e-5))
  if training then return { out, sm, si, rm, rv } end
  return { out, rm, rv }
end

local function bn_all(v, affine, training, dev)
  local x = on(v.x, dev)
  if x.ndim_ == 4 then x = x:transpose(3, 4) end
  local w, b = affine and on(v.w, dev) or nil, affine and on(v.b, dev) or nil
  local rm, rv = on(v.rm, dev), on(v.rv, dev)
  local res = bn_forward(x, w, b, rm, rv, training)
  local sm, si = res[2], res[3]
  local gi = T.new()
  local gw, gb = affine and on(v.gw, dev) or nil, affine and on(v.gb, dev) or nil
  local gy = on(v.gy, dev)
  check(C.oml_batch_norm_backward(x, gy, gi, w, gw, gb, rm, rv, training and sm or nil, training and si or nil,
    training and 1 or 0, 1e-5))
  res[#res + 1] = gi
  if affine then
    res[#res + 1] = gw
    res[#res + 1] = gb
    -- grad_input may be skipped
    check(C.oml_batch_norm_backward(x, gy, nil, w, gw, gb, rm, rv, training and sm or nil, training and si or nil,
      training and 1 or 0, 1e-5))
    res[#res + 1] = gw:clone()
  end
  return res
end

local function bn_case(sizes, dtype)
  local c = sizes[2]
  return {
    x = values(#sizes == 4 and { sizes[1], sizes[2], sizes[4], sizes[3] } or sizes, dtype, 1, 2),
    w = values({ c }, dtype, 2), b = values({ c }, dtype, 3),
    rm = values({ c }, dtype, 4, 0.1), rv = values({ c }, dtype, 5, 0.2):add(1),
    gy = values(sizes, dtype, 6), gw = values({ c }, dtype, 7), gb = values({ c }, dtype, 8),
  }
end

gpu_describe("batch norm on cuda", function()
  it("matches the CPU in training and evaluation, affine or not, [N,C] and [N,C,H,W]", function()
    for _, dtype in ipairs(FLOATS) do
      for _, sizes in ipairs({ { 5, 3 }, { 1, 7, 3, 5 }, { 4, 6, 9, 11 }, { 7, 300 } }) do
        local v = bn_case(sizes, dtype)
        for _, training in ipairs({ true, false }) do
          for _, affine in ipairs({ true, false }) do
            parity(function(dev) return bn_all(v, affine, training, dev) end, TOL[dtype],
              ("%s %s training=%s affine=%s"):format(dtype, table.concat(sizes, "x"), tostring(training),
                tostring(affine)))
          end
        end
      end
    end
  end)

  it("handles large inputs and an empty batch", function()
    local v = bn_case({ 4, 64, 32, 32 }, "float32")
    parity(function(dev) return bn_all(v, true, true, dev) end, TOL.float32, "large")
    local e = bn_case({ 0, 4, 3, 3 }, "float64")
    parity(function(dev) return bn_all(e, true, false, dev) end, TOL.float64, "empty")
  end)

  it("names the argument that is on another device", function()
    local v = bn_case({ 5, 3 }, "float32")
    local out = T.new()
    assert.matches("running_mean is on the CPU but the input is on cuda:0",
      fails(C.oml_batch_norm_forward(on(v.x, DEVICE), out, nil, nil, v.rm, on(v.rv, DEVICE), nil, nil, 0, 0.1, 1e-5)),
      1, true)
  end)
end)

local function ln_all(v, affine, dev)
  local x = on(v.x, dev)
  local w, b = affine and on(v.w, dev) or nil, affine and on(v.b, dev) or nil
  local out, sm, si, gi = T.new(), T.new(), T.new(), T.new()
  check(C.oml_layer_norm_forward(x, out, w, b, sm, si, 1e-5))
  local gw, gb = affine and on(v.gw, dev) or nil, affine and on(v.gb, dev) or nil
  local gy = on(v.gy, dev):transpose(1, 2):contiguous():transpose(1, 2) -- a strided grad_output
  check(C.oml_layer_norm_backward(x, gy, gi, w, gw, gb, sm, si))
  local res = { out, sm, si, gi }
  if affine then
    res[#res + 1] = gw:clone()
    res[#res + 1] = gb:clone()
    check(C.oml_layer_norm_backward(x, gy, nil, w, gw, gb, sm, si))
    res[#res + 1] = gw
    res[#res + 1] = gb
  end
  return res
end

gpu_describe("layer norm on cuda", function()
  it("matches the CPU over row lengths below and above a block, affine or not", function()
    for _, dtype in ipairs(FLOATS) do
      for _, sizes in ipairs({ { 3, 1 }, { 5, 7 }, { 130, 384 }, { 4, 1000 }, { 3, 4097 }, { 0, 5 } }) do
        local d = sizes[2]
        local v = { x = values(sizes, dtype, 1, 3), w = values({ d }, dtype, 2), b = values({ d }, dtype, 3),
          gy = values(sizes, dtype, 4), gw = values({ d }, dtype, 5), gb = values({ d }, dtype, 6) }
        for _, affine in ipairs({ true, false }) do
          parity(function(dev) return ln_all(v, affine, dev) end, TOL[dtype],
            ("%s %s affine=%s"):format(dtype, table.concat(sizes, "x"), tostring(affine)))
        end
      end
    end
  end)

  it("normalises the last dim of a 3-d input read through a view", function()
    local x = values({ 6, 5, 9 }, "float32", 1)
    parity(function(dev)
      local out, sm, si = T.new(), T.new(), T.new()
      check(C.oml_layer_norm_forward(on(x, dev):narrow(2, 2, 3), out, nil, nil, sm, si, 1e-6))
      return { out, sm, si }
    end, TOL.float32)
  end)
end)

-- ---- pooling ---------------------------------------------------------------------

local function max_pool(x, k, s, p, d, ceil)
  local out, ix = T.new(), T.new()
  check(C.oml_max_pool2d_forward(x, out, ix, k[1], k[2], s[1], s[2], p[1], p[2], d[1], d[2], ceil and 1 or 0))
  return out, ix
end

local MAX_POOLS = {
  { k = { 3, 3 }, s = { 2, 2 }, p = { 1, 1 }, d = { 1, 1 } }, -- ResNet's stem
  { k = { 2, 2 }, s = { 2, 2 }, p = { 0, 0 }, d = { 1, 1 }, ceil = true },
  { k = { 3, 2 }, s = { 2, 1 }, p = { 1, 0 }, d = { 2, 1 }, ceil = true },
  { k = { 3, 3 }, s = { 3, 3 }, p = { 1, 1 }, d = { 1, 1 }, ceil = true },
  { k = { 3, 3 }, s = { 1, 1 }, p = { 1, 1 }, d = { 2, 2 } },
}

gpu_describe("pooling on cuda", function()
  it("max pools as the CPU: equal values and indices, ties and NaN included; backward through the indices", function()
    local nan = 0 / 0
    for _, dtype in ipairs(FLOATS) do
      local whole = values({ 2, 3, 13, 11 }, dtype, 1, 4):round() -- many ties
      local x = values({ 2, 3, 11, 13 }, dtype, 2)
      x:view(-1):narrow(1, 5, 1):fill_(nan)
      local g = values({ 2, 3, 13, 11 }, dtype, 3)
      for i, q in ipairs(MAX_POOLS) do
        for _, input in ipairs({ whole, x }) do
          parity(function(dev)
            local xi = on(input, dev)
            if xi.size_[2] == 11 then xi = xi:transpose(3, 4) end
            local out, ix = max_pool(xi, q.k, q.s, q.p, q.d, q.ceil)
            local gy = on(g, dev):narrow(3, 1, tonumber(out.size_[2])):narrow(4, 1, tonumber(out.size_[3]))
            local gi = T.new()
            check(C.oml_max_pool2d_backward(xi, gy, ix, gi))
            return { out, ix, gi }
          end, { 0, 0, TOL[dtype] }, dtype .. " max pool " .. i)
        end
      end
    end
  end)

  it("max pools a [C,H,W] input, a large one and an empty batch", function()
    for _, sizes in ipairs({ { 3, 9, 8 }, { 4, 32, 56, 56 }, { 0, 3, 8, 8 } }) do
      local x = values(sizes, "float32", 1)
      parity(function(dev)
        local out, ix = max_pool(on(x, dev), { 3, 3 }, { 2, 2 }, { 1, 1 }, { 1, 1 })
        local gi = T.new()
        check(C.oml_max_pool2d_backward(on(x, dev), out, ix, gi))
        return { out, ix, gi }
      end, { 0, 0, TOL.float32 }, table.concat(sizes, "x"))
    end
  end)

  it("average pools as the CPU, with and without the padding counted, and ceil_mode", function()
    local CASES = {
      { k = { 3, 3 }, s = { 2, 2 }, p = { 1, 1 } }, { k = { 2, 3 }, s = { 1, 2 }, p = { 1, 1 }, ceil = true },
      { k = { 3, 3 }, s = { 3, 3 }, p = { 1, 0 }, ceil = true }, { k = { 2, 2 }, s = { 2, 2 }, p = { 0, 0 } },
    }
    for _, dtype in ipairs(FLOATS) do
      local x = values({ 3, 4, 10, 11 }, dtype, 1)
      for i, q in ipairs(CASES) do
        for _, include in ipairs({ 0, 1 }) do
          parity(function(dev)
            local xi, out, gi = on(x, dev):transpose(1, 2), T.new(), T.new()
            local args = { q.k[1], q.k[2], q.s[1], q.s[2], q.p[1], q.p[2], q.ceil and 1 or 0, include }
            check(C.oml_avg_pool2d_forward(xi, out, unpack(args)))
            check(C.oml_avg_pool2d_backward(xi, on(out, dev):mul(3), gi, unpack(args)))
            return { out, gi }
          end, TOL[dtype], ("%s avg pool %d include=%d"):format(dtype, i, include))
        end
      end
    end
  end)

  it("adaptive average pools as the CPU, shrinking and growing", function()
    for _, dtype in ipairs(FLOATS) do
      for _, c in ipairs({ { 7, 7, 3, 5 }, { 9, 6, 1, 1 }, { 3, 4, 5, 7 }, { 56, 56, 7, 7 } }) do
        local x = values({ 2, 5, c[1], c[2] }, dtype, 1)
        parity(function(dev)
          local out, gi = T.new(), T.new()
          check(C.oml_adaptive_avg_pool2d_forward(on(x, dev), out, c[3], c[4]))
          check(C.oml_adaptive_avg_pool2d_backward(on(x, dev), on(out, dev):add(1), gi))
          return { out, gi }
        end, TOL[dtype], dtype .. " adaptive " .. table.concat(c, ","))
      end
    end
  end)

  it("names the argument that is on another device", function()
    local x = values({ 1, 2, 6, 6 }, "float32", 1)
    local out, ix = max_pool(on(x, DEVICE), { 2, 2 }, { 2, 2 }, { 0, 0 }, { 1, 1 })
    assert.matches("grad_out is on the CPU but the input is on cuda:0",
      fails(C.oml_max_pool2d_backward(on(x, DEVICE), out:cpu(), ix, T.new())), 1, true)
    assert.matches("the index tensor is on the CPU but the input is on cuda:0",
      fails(C.oml_max_pool2d_backward(on(x, DEVICE), out, ix:cpu(), T.new())), 1, true)
  end)
end)

-- ---- bicubic interpolation -------------------------------------------------------

gpu_describe("bicubic interpolation on cuda", function()
  it("matches the CPU forward and backward, with and without align_corners and scale factors", function()
    local CASES = { { 7, 9, 14, 18, 0, 0 }, { 16, 16, 5, 7, 0, 0 }, { 5, 6, 11, 13, 2.2, 2.2 }, { 1, 1, 3, 2, 0, 0 },
      { 24, 24, 37, 37, 0, 0 } }
    for _, dtype in ipairs(FLOATS) do
      for i, c in ipairs(CASES) do
        local x = values({ 2, 3, c[2], c[1] }, dtype, 1)
        local g = values({ 2, 3, c[4], c[3] }, dtype, 2)
        for _, ac in ipairs({ 0, 1 }) do
          parity(function(dev)
            local out, gi = T.new(), T.new()
            check(C.oml_interpolate_bicubic_forward(on(x, dev):transpose(3, 4), out, c[3], c[4], ac, c[5], c[6]))
            check(C.oml_interpolate_bicubic_backward(on(g, dev):transpose(3, 4), gi, c[1], c[2], ac, c[5], c[6]))
            return { out, gi }
          end, TOL[dtype], ("%s case %d align_corners=%d"):format(dtype, i, ac))
        end
      end
    end
  end)

  it("handles a large input and an empty batch", function()
    for _, sizes in ipairs({ { 4, 64, 40, 40 }, { 0, 3, 4, 4 } }) do
      local x = values(sizes, "float32", 1)
      parity(function(dev)
        local out, gi = T.new(), T.new()
        check(C.oml_interpolate_bicubic_forward(on(x, dev), out, 57, 61, 0, 0, 0))
        check(C.oml_interpolate_bicubic_backward(on(out, dev), gi, sizes[3], sizes[4], 0, 0, 0))
        return { out, gi }
      end, TOL.float32, table.concat(sizes, "x"))
    end
  end)

  it("refuses an output on another device", function()
    local x = values({ 1, 1, 4, 4 }, "float32", 1)
    local out = oml.zeros({ 1, 1, 8, 8 })
    assert.matches("another device",
      fails(C.oml_interpolate_bicubic_forward(on(x, DEVICE), out, 8, 8, 0, 0, 0)), 1, true)
  end)
end)
