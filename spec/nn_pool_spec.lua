-- MaxPool2d, AvgPool2d, AdaptiveAvgPool2d and GEM (lua/oml/nn,
-- engine/src/ops/pool.c). Expected values: spec/fixtures/nn/make_normpool.py
-- (torch 1.13's F.max_pool2d, F.avg_pool2d, F.adaptive_avg_pool2d and OML's
-- GEM formula, forward and autograd), read from normpool.safetensors.
local oml = require "oml"
local H = require "helper"
local J = require "jacobian"
local nn = oml.nn

local F = oml.load("spec/fixtures/nn/normpool.safetensors")

-- forward, backward (and max pooling's 1-based indices) against the fixture
local function replay(case, module)
  local x, g = F[case .. ".x"], F[case .. ".g"]
  H.close(module:forward(x), F[case .. ".y"], 1e-12)
  H.close(module:backward(x, g), F[case .. ".gx"], 1e-12)
  if F[case .. ".idx"] then H.close(module.indices, F[case .. ".idx"] + 1) end
end

describe("oml.nn.MaxPool2d", function()
  it("matches PyTorch with padding, ceil_mode and dilation, indices 1-based", function()
    replay("max_k3s2p1", nn.MaxPool2d(3, { stride = 2, padding = 1 }))
    replay("max_ceil", nn.MaxPool2d(2, { ceil_mode = true }))
    replay("max_dilated", nn.MaxPool2d({ 3, 2 }, { stride = { 2, 1 }, padding = { 1, 0 }, dilation = { 2, 1 },
      ceil_mode = true }))
    replay("max_k3s3ceil", nn.MaxPool2d(3, { stride = 3, padding = 1, ceil_mode = true }))
  end)

  it("keeps the first of tied maxima and lets NaN win (the last NaN), as PyTorch", function()
    local mp = nn.MaxPool2d(2)
    local nan = 0 / 0
    -- torch 1.13: F.max_pool2d(x, 2, return_indices=True) gives [[3, nan, nan]] and indices [[1, 2, 3]] (0-based)
    local x = oml.tensor({ { { { 1, 3, nan, 1, nan, 1 }, { 3, 2, 5, 9, 2, nan } } } })
    H.close(mp:forward(x), { { { { 3, nan, nan } } } })
    H.close(mp.indices, { { { { 2, 3, 12 } } } })
    H.close(mp:backward(x, oml.ones({ 1, 1, 1, 3 })), { { { { 0, 1, 1, 0, 0, 0 }, { 0, 0, 0, 0, 0, 1 } } } })
  end)

  it("pools a [C,H,W] input and a non-contiguous one", function()
    local x = F["max_k3s2p1.x"]
    local mp, ref = nn.MaxPool2d(3, { stride = 2, padding = 1 }), nn.MaxPool2d(3, { stride = 2, padding = 1 })
    H.close(mp:forward(x:select(1, 2)), F["max_k3s2p1.y"]:select(1, 2))
    local xt = x:transpose(3, 4):contiguous():transpose(3, 4)
    H.close(mp:forward(xt), ref:forward(x))
    local g = F["max_k3s2p1.g"]
    H.close(mp:backward(xt, g:transpose(1, 2):contiguous():transpose(1, 2)), ref:backward(x, g))
  end)

  it("passes the Jacobian check", function()
    local x = oml.randn({ 2, 2, 5, 6 }, { dtype = "float64" })
    J.check(nn.MaxPool2d(3, { stride = 2, padding = 1 }), x)
    J.check(nn.MaxPool2d(2, { stride = 1, dilation = 2, ceil_mode = true }), x)
  end)

  it("names the layer and the problem in its errors", function()
    local mp = nn.MaxPool2d(3)
    H.raises(function() local _ = mp:forward(oml.zeros({ 1, 1, 2, 2 })) end,
      "oml.nn.MaxPool2d: the input of shape [1,1,2,2] is too small for the window: the output would be 0x0")
    H.raises(function() local _ = mp:forward(oml.zeros({ 4, 4 })) end,
      "oml.nn.MaxPool2d: expects an [N,C,H,W] or [C,H,W] input (got shape [4,4])")
    H.raises(function() local _ = mp:forward(oml.zeros({ 1, 0, 4, 4 })) end,
      "oml.nn.MaxPool2d: the input has an empty dim 2 (shape [1,0,4,4])")
    H.raises(function() local _ = mp:forward(oml.zeros({ 1, 1, 4, 4 }, "int32")) end,
      "oml.nn.MaxPool2d: the input is int32; expected float32 or float64")
    H.raises(function() local _ = nn.MaxPool2d(3, { padding = 2 }):forward(oml.zeros({ 1, 1, 8, 8 })) end,
      "oml.nn.MaxPool2d: padding 2x2 must be at most half the kernel size 3x3")
    H.raises(function() local _ = nn.MaxPool2d(0) end,
      "oml.nn.MaxPool2d: kernel_size must be a positive integer or a list {h, w} of them (got 0)")
    H.raises(function() local _ = nn.MaxPool2d({ 2, 2, 2 }) end,
      "oml.nn.MaxPool2d: kernel_size must be a number or a list {h, w} (got a list of 3)")
    H.raises(function() local _ = nn.MaxPool2d(2, { stride = -1 }) end,
      "oml.nn.MaxPool2d: stride must be a positive integer")
    H.raises(function() local _ = nn.MaxPool2d(2, { return_indices = true }) end,
      "oml.nn.MaxPool2d: unknown option 'return_indices'")
    H.raises(function() local _ = nn.MaxPool2d(2):backward(oml.zeros({ 1, 1, 4, 4 }), oml.zeros({ 1, 1, 2, 2 })) end,
      "oml.nn.MaxPool2d: backward needs a forward pass first")
    mp:forward(oml.zeros({ 1, 1, 6, 6 }))
    H.raises(function() local _ = mp:backward(oml.zeros({ 1, 1, 6, 6 }), oml.zeros({ 1, 1, 3, 2 })) end,
      "oml.nn.MaxPool2d: grad_out has shape [1,1,3,2] but the output has shape [1,1,2,2]")
    mp.indices:fill(37)
    H.raises(function() local _ = mp:backward(oml.zeros({ 1, 1, 6, 6 }), oml.zeros({ 1, 1, 2, 2 })) end,
      "oml.nn.MaxPool2d: index 37 at position 1 is out of range 1..36 of a pooled plane")
  end)
end)

describe("oml.nn.AvgPool2d", function()
  it("matches PyTorch with padding, ceil_mode and count_include_pad", function()
    replay("avg_k3s2p1", nn.AvgPool2d(3, { stride = 2, padding = 1 }))
    replay("avg_k3s2p1_nopad", nn.AvgPool2d(3, { stride = 2, padding = 1, count_include_pad = false }))
    replay("avg_ceil", nn.AvgPool2d({ 2, 3 }, { stride = 2, padding = 1, ceil_mode = true }))
    replay("avg_ceil_nopad", nn.AvgPool2d({ 2, 3 }, { stride = 2, padding = 1, ceil_mode = true,
      count_include_pad = false }))
  end)

  it("pools float32 and a non-contiguous input", function()
    local x = F["avg_k3s2p1.x"]
    local ap = nn.AvgPool2d(3, { stride = 2, padding = 1 })
    H.close(ap:forward(x:float()), F["avg_k3s2p1.y"], 1e-6)
    H.close(ap:forward(x:permute(1, 3, 4, 2):contiguous():permute(1, 4, 2, 3)), F["avg_k3s2p1.y"], 1e-12)
  end)

  it("passes the Jacobian check", function()
    local x = oml.randn({ 2, 2, 5, 6 }, { dtype = "float64" })
    J.check(nn.AvgPool2d(3, { stride = 2, padding = 1, ceil_mode = true }), x)
    J.check(nn.AvgPool2d(2, { stride = 1, padding = 1, count_include_pad = false }), x)
  end)

  it("names the layer and the problem in its errors", function()
    H.raises(function() local _ = nn.AvgPool2d(2, { divisor_override = 3 }) end,
      "oml.nn.AvgPool2d: unknown option 'divisor_override'")
    H.raises(function() local _ = nn.AvgPool2d(5):forward(oml.zeros({ 3, 4, 4 })) end,
      "oml.nn.AvgPool2d: the input of shape [3,4,4] is too small for the window")
    local ap = nn.AvgPool2d(2)
    H.raises(function() local _ = ap:backward(oml.zeros({ 1, 1, 4, 4 }), oml.zeros({ 1, 1, 2, 2 }, "float64")) end,
      "oml.nn.AvgPool2d: grad_out is float64 but the input is float32")
  end)
end)

describe("oml.nn.AdaptiveAvgPool2d", function()
  it("matches PyTorch for smaller, equal, uneven and larger output sizes", function()
    for _, size in ipairs({ { 3, 4 }, { 1, 1 }, { 7, 9 }, { 5, 2 }, { 10, 11 } }) do
      replay(("adaptive_%dx%d"):format(size[1], size[2]), nn.AdaptiveAvgPool2d(size))
    end
    replay("adaptive_1x1", nn.AdaptiveAvgPool2d(1))
  end)

  it("passes the Jacobian check", function()
    J.check(nn.AdaptiveAvgPool2d({ 2, 3 }), oml.randn({ 2, 2, 5, 7 }, { dtype = "float64" }))
  end)

  it("names the layer and the problem in its errors", function()
    H.raises(function() local _ = nn.AdaptiveAvgPool2d(0) end,
      "oml.nn.AdaptiveAvgPool2d: output_size must be a positive integer or a list {h, w} of them (got 0)")
    H.raises(function() local _ = nn.AdaptiveAvgPool2d(2):forward(oml.zeros({ 2, 2 })) end,
      "oml.nn.AdaptiveAvgPool2d: expects an [N,C,H,W] or [C,H,W] input (got shape [2,2])")
  end)
end)

describe("oml.nn.GEM", function()
  it("matches OML's GEM formula (PyTorch) and gives [N,C]", function()
    local gem = nn.GEM(3)
    H.close(gem:forward(F["gem.x"]), F["gem.y"], 1e-12)
    H.close(gem:backward(F["gem.x"], F["gem.g"]), F["gem.gx"], 1e-12)
    assert.are.same({ 2, 3 }, gem.output:size())
  end)

  it("is average pooling for p = 1", function()
    local x = oml.rand({ 2, 3, 4, 4 }) + 0.5
    H.close(nn.GEM(1):forward(x), nn.AdaptiveAvgPool2d(1):forward(x):view(2, 3), 1e-6)
  end)

  it("passes the Jacobian check", function()
    J.check(nn.GEM(2.5), oml.rand({ 2, 3, 3, 4 }, { dtype = "float64" }) + 0.1)
  end)

  it("names the layer and the problem in its errors", function()
    H.raises(function() local _ = nn.GEM(0) end, "oml.nn.GEM: p must be a non-zero number (got 0)")
    H.raises(function() local _ = nn.GEM(3):forward(oml.zeros({ 2, 3, 4 })) end,
      "oml.nn.GEM: expects an [N,C,H,W] input (got shape [2,3,4])")
  end)
end)
