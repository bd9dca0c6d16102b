-- Conv2d (lua/oml/nn/Conv2d.lua, engine/src/ops/conv.c, engine/src/cpu/conv.c).
-- Expected values: spec/fixtures/nn/make_conv.py (torch 1.13's F.conv2d and
-- autograd), read from conv.safetensors; larger maps against a direct
-- float64 loop written here.
local ffi = require "ffi"
local oml = require "oml"
local T = require "oml.tensor"
local H = require "helper"
local J = require "jacobian"
local nn = oml.nn

local C = T.C
local F = oml.load("spec/fixtures/nn/conv.safetensors")

-- A Conv2d holding a fixture case's parameters.
local function fixture_module(case, opts)
  local w = F[case .. ".weight"]
  local s = w:size()
  opts.bias = F[case .. ".bias"] ~= nil
  local m = nn.Conv2d(F[case .. ".x"]:size(2), s[1], { s[3], s[4] }, opts)
  if w.dtype == "float64" then m:double() end
  m.weight:copy_(w)
  if m.bias then m.bias:copy_(F[case .. ".bias"]) end
  return m
end

-- forward and backward against the fixture; the parameters' gradients start at zero
local function replay(case, opts, tol)
  local m = fixture_module(case, opts)
  local x, g = F[case .. ".x"], F[case .. ".g"]
  H.close(m:forward(x), F[case .. ".y"], tol)
  H.close(m:backward(x, g), F[case .. ".gx"], tol)
  H.close(m.grads.weight, F[case .. ".g_weight"], tol)
  if m.bias then H.close(m.grads.bias, F[case .. ".g_bias"], tol) end
end

-- The direct definition in float64: y = conv(x, w) + b and, for the
-- gradient g of y, gx and gw. x, w, g contiguous float64; returns tensors.
local function direct(x, w, b, g, s, p, d, groups)
  local n, c, h, wd = unpack(x:size())
  local o, cg, kh, kw = unpack(w:size())
  local ho, wo = g:size(3), g:size(4)
  local og = o / groups
  local y, gx, gw = oml.zeros({ n, o, ho, wo }, "float64"), oml.zeros(x:size(), "float64"), oml.zeros(w:size(), "float64")
  local X, W, G = ffi.cast("double*", x.data_), ffi.cast("double*", w.data_), ffi.cast("double*", g.data_)
  local Y, GX, GW = ffi.cast("double*", y.data_), ffi.cast("double*", gx.data_), ffi.cast("double*", gw.data_)
  for i = 0, n - 1 do
    for oc = 0, o - 1 do
      local grp = math.floor(oc / og)
      for oy = 0, ho - 1 do
        for ox = 0, wo - 1 do
          local yi = ((i * o + oc) * ho + oy) * wo + ox
          local sum = b and b[oc + 1] or 0
          for ci = 0, cg - 1 do
            local ch = grp * cg + ci
            for ki = 0, kh - 1 do
              local iy = oy * s[1] - p[1] + ki * d[1]
              for kj = 0, kw - 1 do
                local ix = ox * s[2] - p[2] + kj * d[2]
                if iy >= 0 and iy < h and ix >= 0 and ix < wd then
                  local xi, wi = ((i * c + ch) * h + iy) * wd + ix, ((oc * cg + ci) * kh + ki) * kw + kj
                  sum = sum + X[xi] * W[wi]
                  GX[xi] = GX[xi] + W[wi] * G[yi]
                  GW[wi] = GW[wi] + X[xi] * G[yi]
                end
              end
            end
          end
          Y[yi] = sum
        end
      end
    end
  end
  return y, gx, gw
end

-- module against `direct` for input x (float64), a random gradient
local function against_direct(m, x, tol)
  local y = m:forward(x)
  local g = oml.randn(y:size(), { dtype = "float64" })
  m:zeroGradParameters()
  local gx = m:backward(x, g)
  local bias = m.bias and m.bias:totable()
  local ey, egx, egw = direct(x:contiguous(), m.weight:contiguous(), bias, g, m.stride, m.padding, m.dilation, m.groups)
  H.close(y, ey, tol)
  H.close(gx, egx, tol)
  H.close(m.grads.weight, egw, tol)
  if m.bias then H.close(m.grads.bias, g:sum({ 1, 3, 4 }), tol) end
end

describe("oml.nn.Conv2d", function()
  it("matches PyTorch with padding, stride, dilation, groups, depthwise and 1x1 kernels", function()
    replay("k3p1", { padding = 1 }, 1e-12)
    replay("strided_dilated_grouped", { stride = { 2, 1 }, padding = { 1, 0 }, dilation = { 1, 2 }, groups = 2 }, 1e-12)
    replay("depthwise", { stride = 2, padding = 1, dilation = { 2, 1 }, groups = 3 }, 1e-12)
    replay("pointwise", {}, 1e-12)
    replay("pointwise_one_image", {}, 1e-12)
    replay("pointwise_s2", { stride = 2 }, 1e-12)
  end)

  it("computes in float32", function()
    replay("k7s2p3_f32", { stride = 2, padding = 3 }, 1e-5)
  end)

  it("matches the direct definition on maps large enough for one image per GEMM", function()
    oml.manual_seed(3)
    local m = nn.Conv2d(3, 4, 3, { padding = 1 }):double()
    against_direct(m, oml.randn({ 2, 3, 42, 40 }, { dtype = "float64" }), 1e-10)
    m = nn.Conv2d(4, 6, 1, { groups = 2 }):double()
    against_direct(m, oml.randn({ 2, 4, 40, 41 }, { dtype = "float64" }), 1e-10)
    m = nn.Conv2d(2, 2, { 3, 5 }, { stride = { 1, 3 }, padding = { 2, 0 }, dilation = { 2, 1 }, bias = false }):double()
    against_direct(m, oml.randn({ 3, 2, 50, 100 }, { dtype = "float64" }), 1e-10)
  end)

  it("computes 3x3 stride-1 float32 convolutions (Winograd's) as the float64 path does", function()
    oml.manual_seed(7)
    -- odd and even sizes, paddings 0 to 2, a transposed (non-contiguous) input
    for _, case in ipairs({ { 16, 16, 9, 10, 1 }, { 24, 16, 7, 7, 0 }, { 16, 32, 12, 5, 2 }, { 32, 16, 75, 70, 1 }, { 16, 16, 3, 3, 0 },
      { 16, 16, 4, 3, 0 }, { 16, 16, 1, 1, 1 } }) do
      local c, o, h, w, pad = unpack(case)
      local m = nn.Conv2d(c, o, 3, { padding = pad })
      local m64 = nn.Conv2d(c, o, 3, { padding = pad }):double()
      m64.weight:copy_(m.weight)
      m64.bias:copy_(m.bias)
      for i, x in ipairs({ oml.randn(3, c, h, w), oml.randn(3, c, w, h):transpose(3, 4) }) do
        local x64 = x:double()
        local y = m:forward(x)
        local g = oml.randn(y:size())
        if i == 2 then g = g:transpose(3, 4):contiguous():transpose(3, 4) end -- the same values, strided
        H.close(y, m64:forward(x64), 1e-4)
        m:zeroGradParameters()
        m64:zeroGradParameters()
        H.close(m:backward(x, g), m64:backward(x64, g:double()), 1e-4)
        H.close(m.grads.weight, m64.grads.weight, 1e-4)
      end
    end
  end)

  it("takes non-contiguous inputs and gradients", function()
    oml.manual_seed(4)
    local m = nn.Conv2d(3, 4, 3, { stride = 2, padding = 1, groups = 1 }):double()
    -- a transposed view (last stride not 1), and a narrowed one
    local base = oml.randn({ 2, 3, 9, 7 }, { dtype = "float64" })
    against_direct(m, base:transpose(3, 4), 1e-10)
    against_direct(m, oml.randn({ 4, 3, 9, 7 }, { dtype = "float64" }):narrow(1, 2, 2), 1e-10)
    -- pointwise on a view whose planes are contiguous but whose channels are apart
    local p = nn.Conv2d(2, 3, 1):double()
    against_direct(p, oml.randn({ 1, 4, 40, 40 }, { dtype = "float64" }):narrow(2, 2, 2), 1e-10)
    -- a transposed grad_output gives the same gradients as a contiguous one
    local x = oml.randn({ 2, 3, 8, 8 }, { dtype = "float64" })
    local y = m:forward(x)
    local g = oml.randn({ 2, 4, 4, 4 }, { dtype = "float64" })
    m:zeroGradParameters()
    local gx = m:backward(x, g):clone()
    local gw = m.grads.weight:clone()
    m:zeroGradParameters()
    H.close(m:backward(x, g:transpose(3, 4):contiguous():transpose(3, 4)), gx, 1e-12)
    H.close(m.grads.weight, gw, 1e-12)
    H.close(y:size(), { 2, 4, 4, 4 })
  end)

  it("takes a [C,H,W] input", function()
    local m = fixture_module("k3p1", { padding = 1 })
    local x, g = F["k3p1.x"]:select(1, 2), F["k3p1.g"]:select(1, 2)
    H.close(m:forward(x), F["k3p1.y"]:select(1, 2), 1e-12)
    H.close(m:backward(x, g), F["k3p1.gx"]:select(1, 2), 1e-12)
  end)

  it("passes finite-difference gradient checks", function()
    oml.manual_seed(5)
    J.check(nn.Conv2d(2, 3, 3, { padding = 1 }):double(), oml.randn({ 2, 2, 4, 5 }, { dtype = "float64" }))
    J.check(nn.Conv2d(4, 2, { 2, 3 }, { stride = { 2, 1 }, padding = { 0, 2 }, dilation = { 1, 2 }, groups = 2 }):double(),
      oml.randn({ 2, 4, 5, 4 }, { dtype = "float64" }))
    J.check(nn.Conv2d(3, 3, 3, { groups = 3, bias = false, stride = 2, padding = 1 }):double(),
      oml.randn({ 1, 3, 5, 5 }, { dtype = "float64" }))
    J.check(nn.Conv2d(3, 2, 1):double(), oml.randn({ 3, 3, 2, 3 }, { dtype = "float64" }))
    J.check(nn.Conv2d(2, 2, 2):double(), oml.randn({ 2, 3, 3 }, { dtype = "float64" }))
  end)

  it("leaves frozen parameters' gradients alone and still returns grad_input", function()
    local m = fixture_module("k3p1", { padding = 1 })
    m:freeze("weight")
    local x, g = F["k3p1.x"], F["k3p1.g"]
    m:forward(x)
    H.close(m:backward(x, g), F["k3p1.gx"], 1e-12)
    assert.is_nil(m.grads.weight)
    H.close(m.grads.bias, F["k3p1.g_bias"], 1e-12)
  end)

  it("gives the same results on one thread as on several", function()
    local threads = oml.get_num_threads()
    oml.manual_seed(6)
    -- im2col with 8 channels and one stride of 2, Winograd's with 64
    for _, case in ipairs({ { 8, 1 }, { 8, 2 }, { 64, 1 } }) do
      local c, stride = unpack(case)
      local m = nn.Conv2d(c, 16, 3, { padding = 1, stride = stride })
      local x = oml.randn({ 6, c, 40, 40 })
      local g = oml.randn(m:forward(x):size())
      local function run(n)
        oml.set_num_threads(n)
        m:zeroGradParameters()
        local y = m:forward(x):clone()
        local gx = m:backward(x, g):clone()
        return { y, gx, m.grads.weight:clone(), m.grads.bias:clone() }
      end
      local one, two, three = run(1), run(2), run(3)
      oml.set_num_threads(threads)
      for i = 1, 4 do
        assert.equal(0, (one[i] - two[i]):abs():max():item())
        assert.equal(0, (one[i] - three[i]):abs():max():item())
      end
    end
  end)

  it("initialises as PyTorch, U(-1/sqrt(fan_in), 1/sqrt(fan_in))", function()
    local m = nn.Conv2d(4, 64, 3, { groups = 2 })
    local bound = 1 / math.sqrt(2 * 9)
    H.close(m.weight:size(), { 64, 2, 3, 3 })
    assert.is_true(m.weight:abs():max():item() <= bound)
    assert.is_true(m.weight:abs():max():item() > 0.9 * bound)
    assert.is_true(m.bias:abs():max():item() <= bound)
  end)

  it("prints as PyTorch", function()
    -- torch 1.13: repr(nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)), and the same for the others
    assert.equal("Conv2d(3, 64, kernel_size=(7, 7), stride=(2, 2), padding=(3, 3), bias=False)",
      tostring(nn.Conv2d(3, 64, 7, { stride = 2, padding = 3, bias = false })))
    assert.equal("Conv2d(4, 8, kernel_size=(3, 1), stride=(1, 2), dilation=(2, 2), groups=4)",
      tostring(nn.Conv2d(4, 8, { 3, 1 }, { stride = { 1, 2 }, dilation = 2, groups = 4 })))
  end)

  it("raises on bad arguments, naming the layer", function()
    H.raises(function() local _ = nn.Conv2d(3, 4, 0) end, "oml.nn.Conv2d: kernel_size must be a positive integer")
    H.raises(function() local _ = nn.Conv2d(3, 4, 3, { stride = 0 }) end, "oml.nn.Conv2d: stride must be a positive")
    H.raises(function() local _ = nn.Conv2d(3, 4, 3, { padding = -1 }) end,
      "oml.nn.Conv2d: padding must be a non-negative")
    H.raises(function() local _ = nn.Conv2d(3, 4, 3, { groups = 2 }) end,
      "oml.nn.Conv2d: in_channels (3) must be divisible by groups (2)")
    H.raises(function() local _ = nn.Conv2d(4, 6, 3, { groups = 4 }) end,
      "oml.nn.Conv2d: out_channels (6) must be divisible by groups (4)")
    H.raises(function() local _ = nn.Conv2d(4, 6, 3, { groups = 0 }) end, "oml.nn.Conv2d: groups must be a positive")
    H.raises(function() local _ = nn.Conv2d(4, 6, 3, { padd = 1 }) end, "oml.nn.Conv2d: unknown option 'padd'")
    local m = nn.Conv2d(3, 4, 3)
    H.raises(function() local _ = m:forward(oml.randn(2, 5, 8, 8)) end,
      "oml.nn.Conv2d: weight [4,3,3,3] with groups=1 expects 3 input channels, but input [2,5,8,8] has 5")
    H.raises(function() local _ = m:forward(oml.randn(1, 3, 2, 8)) end,
      "oml.nn.Conv2d: kernel 3x3 (3x3 dilated) is bigger than the padded input 2x8")
    H.raises(function() local _ = m:forward(oml.randn(3, 8, 8, 1, 1)) end,
      "oml.nn.Conv2d: expects an [N,C,H,W] or [C,H,W] input (got shape [3,8,8,1,1])")
    H.raises(function() local _ = m:forward(oml.randn({ 1, 3, 8, 8 }, { dtype = "float64" })) end,
      "oml.nn.Conv2d: weight is float32 but input is float64")
    H.raises(function() local _ = m:forward(oml.ones({ 1, 3, 8, 8 }, { dtype = "int32" })) end,
      "oml.nn.Conv2d: input is int32; expected float32 or float64")
    H.raises(function() local _ = m:forward(T.new()) end, "oml.nn.Conv2d: the input is an unset tensor")
    local x = oml.randn(1, 3, 8, 8)
    m:forward(x)
    H.raises(function() local _ = m:backward(x, oml.randn(1, 4, 5, 6)) end,
      "oml.nn.Conv2d: grad_output has shape [1,4,5,6]; expected [1,4,6,6]")
    H.raises(function() local _ = m:backward(x, T.new()) end, "oml.nn.Conv2d: grad_output is an unset tensor")
  end)
end)

describe("oml_conv2d_forward / oml_conv2d_backward", function()
  local x, w, b, go = oml.randn(2, 4, 6, 6), oml.randn(6, 2, 3, 3), oml.randn(6), oml.randn(2, 6, 4, 4)

  local function fails(rc, text)
    assert.equal(-1, rc)
    local msg = ffi.string(C.oml_last_error())
    assert(msg:find(text, 1, true), ("expected '%s', got '%s'"):format(text, msg))
  end

  local function forward(input, weight, bias, out, s, p, d, groups)
    return C.oml_conv2d_forward(input, out or T.new(), weight, bias, s or 1, s or 1, p or 0, p or 0, d or 1, d or 1,
      groups or 2)
  end

  local function backward(gi, gw, gb, grad_out, groups)
    return C.oml_conv2d_backward(x, grad_out or go, gi, w, gw, gb, 1, 1, 0, 0, 1, 1, groups or 2)
  end

  it("computes into a given output, also a non-contiguous one", function()
    local expected = T.new()
    assert.equal(0, forward(x, w, b, expected))
    local out = oml.zeros(2, 6, 4, 4):transpose(3, 4):contiguous():transpose(3, 4)
    assert.equal(0, forward(x, w, b, out))
    H.close(out, expected, 1e-6)
    fails(forward(x, w, b, oml.zeros(2, 6, 4, 5)), "the output has shape [2,6,4,5] but the result has shape [2,6,4,4]")
  end)

  it("accumulates into grad_weight and grad_bias, and skips what is NULL", function()
    local gw, gb = oml.zeros(6, 2, 3, 3), oml.zeros(6)
    assert.equal(0, backward(nil, gw, gb))
    local gw1, gb1 = gw:clone(), gb:clone()
    assert.equal(0, backward(nil, gw, gb))
    H.close(gw, gw1 * 2, 1e-5)
    H.close(gb, gb1 * 2, 1e-5)
    local gi = T.new()
    assert.equal(0, backward(gi, nil, nil))
    H.close(gi:size(), { 2, 4, 6, 6 })
  end)

  it("checks every argument", function()
    fails(forward(x, w, b, nil, 0), "stride must be positive (got 0, 0)")
    fails(forward(x, w, b, nil, 1, -1), "padding must not be negative (got -1, -1)")
    fails(forward(x, w, b, nil, 1, 0, 0), "dilation must be positive (got 0, 0)")
    fails(forward(x, w, b, nil, 1, 0, 1, 0), "groups must be positive (got 0)")
    fails(forward(x, w, b, nil, 1, 0, 1, 4), "groups (4) must divide the weight's 6 output channels")
    fails(forward(oml.randn(2, 3, 6, 6), oml.randn(6, 1, 3, 3), nil, nil, 1, 0, 1, 2),
      "groups (2) must divide the input's 3 channels")
    fails(forward(x, oml.randn(6, 2, 3), b), "weight must be 4-d [O,C/groups,kH,kW] (got shape [6,2,3])")
    fails(forward(oml.randn(4, 6, 6), w, b), "input must be 4-d [N,C,H,W] (got shape [4,6,6])")
    fails(forward(x, w, oml.randn(5)), "bias has shape [5]; expected [6]")
    fails(forward(x, w, oml.randn({ 6 }, { dtype = "float64" })), "bias is float64 but input is float32")
    fails(forward(T.new(), w, b), "input is an unset tensor")
    fails(forward(x, T.new(), b), "weight is an unset tensor")
    fails(forward(x, oml.randn(6, 2, 1, 0), b), "weight [6,2,1,0] has an empty kernel")
    fails(C.oml_conv2d_forward(x, nil, w, b, 1, 1, 0, 0, 1, 1, 2), "no output tensor")
    fails(backward(nil, oml.zeros(6, 2, 3, 2), nil), "grad_weight has shape [6,2,3,2]; expected [6,2,3,3]")
    fails(backward(nil, T.new(), nil), "grad_weight is an unset tensor")
    fails(backward(nil, oml.zeros({ 6, 2, 3, 3 }, { dtype = "float64" }), nil), "grad_weight is float64 but input is float32")
    fails(backward(nil, oml.zeros(1):expand(6, 2, 3, 3), nil), "grad_weight is an expanded view")
    fails(backward(nil, nil, oml.zeros(5)), "grad_bias has shape [5]; expected [6]")
    fails(backward(nil, nil, nil, oml.randn(2, 6, 4, 3)), "grad_output has shape [2,6,4,3]; expected [2,6,4,4]")
    fails(backward(nil, nil, nil, T.new()), "grad_output is an unset tensor")
    local shared = oml.zeros(6 * 18 + 6)
    fails(backward(nil, shared:narrow(1, 1, 108):view(6, 2, 3, 3), shared:narrow(1, 109, 6)),
      "grad_weight and grad_bias share storage")
  end)

  it("handles empty batches", function()
    local out = T.new()
    assert.equal(0, forward(oml.randn(0, 4, 6, 6), w, b, out))
    H.close(out:size(), { 0, 6, 4, 4 })
  end)
end)
