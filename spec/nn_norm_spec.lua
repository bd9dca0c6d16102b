-- BatchNorm1d, BatchNorm2d and LayerNorm (lua/oml/nn, engine/src/ops/norm.c).
-- Expected values: spec/fixtures/nn/make_normpool.py (torch 1.13's
-- nn.BatchNorm1d/2d and nn.LayerNorm, forward and autograd), read from
-- spec/fixtures/nn/normpool.safetensors.
local oml = require "oml"
local H = require "helper"
local J = require "jacobian"
local nn = oml.nn

local F = oml.load("spec/fixtures/nn/normpool.safetensors")

-- Replays a make_normpool.py batch norm case: two training steps, a third
-- with backward, then a step in evaluation.
local function replay_batch_norm(case, module, tol)
  if module.affine then
    module.weight:copy_(F[case .. ".weight"])
    module.bias:copy_(F[case .. ".bias"])
  end
  module:forward(F[case .. ".x1"])
  module:forward(F[case .. ".x2"])
  for _, mode in ipairs({ "train", "eval" }) do
    if mode == "eval" then
      if module.track_running_stats then
        H.close(module.running_mean, F[case .. ".running_mean"], tol)
        H.close(module.running_var, F[case .. ".running_var"], tol)
        assert.are.equal(3, module.num_batches_tracked:item())
      end
      module:evaluate()
    end
    module:zeroGradParameters()
    local x, g = F[case .. "." .. mode .. ".x"], F[case .. "." .. mode .. ".g"]
    H.close(module:forward(x), F[case .. "." .. mode .. ".y"], tol)
    H.close(module:backward(x, g), F[case .. "." .. mode .. ".gx"], tol)
    if module.affine then
      H.close(module.grads.weight, F[case .. "." .. mode .. ".g_weight"], tol)
      H.close(module.grads.bias, F[case .. "." .. mode .. ".g_bias"], tol)
    end
  end
end

describe("oml.nn.BatchNorm2d", function()
  it("starts as PyTorch's: weight 1, bias 0, running statistics 0 and 1, with PyTorch's names", function()
    local bn = nn.BatchNorm2d(3)
    H.close(bn.weight, { 1, 1, 1 })
    H.close(bn.bias, { 0, 0, 0 })
    H.close(bn.running_mean, { 0, 0, 0 })
    H.close(bn.running_var, { 1, 1, 1 })
    assert.are.equal("int64", bn.num_batches_tracked.dtype)
    assert.are.equal(0, bn.num_batches_tracked:dim())
    local _, names = bn:state_dict()
    assert.are.same({ "weight", "bias", "running_mean", "running_var", "num_batches_tracked" }, names)
    assert.are.equal("BatchNorm2d(3, eps=1e-05, momentum=0.1, affine=true, track_running_stats=true)", tostring(bn))
  end)

  it("matches PyTorch over training steps (running statistics) and in evaluation", function()
    replay_batch_norm("bn2d", nn.BatchNorm2d(3):double(), 1e-10)
  end)

  it("matches PyTorch in float32, with float64 statistics", function()
    replay_batch_norm("bn2d_f32", nn.BatchNorm2d(3), 1e-5)
  end)

  it("keeps a cumulative average with momentum = false (PyTorch's momentum=None), without affine", function()
    local bn = nn.BatchNorm2d(3, { momentum = false, affine = false }):double()
    assert.is_nil(bn.weight)
    replay_batch_norm("bn2d_cumulative", bn, 1e-10)
  end)

  it("normalises with batch statistics in both modes without running statistics", function()
    local bn = nn.BatchNorm2d(2, { track_running_stats = false }):double()
    assert.is_nil(bn.running_mean)
    local x = oml.randn({ 3, 2, 4, 4 }, { dtype = "float64" }) * 5 + 2
    local y = bn:forward(x)
    H.close(y:mean({ 1, 3, 4 }), { 0, 0 }, 1e-12)
    bn:evaluate()
    H.close(bn:forward(x), y, 1e-12)
    local _, names = bn:state_dict()
    assert.are.same({ "weight", "bias" }, names)
  end)

  it("reads non-contiguous inputs and gradients", function()
    local bn = nn.BatchNorm2d(3):double()
    local x = F["bn2d.train.x"]:permute(1, 3, 4, 2):contiguous():permute(1, 4, 2, 3)
    assert.is_false(x:is_contiguous())
    local g = F["bn2d.train.g"]
    local ref = nn.BatchNorm2d(3):double()
    H.close(bn:forward(x), ref:forward(F["bn2d.train.x"]), 1e-12)
    H.close(bn:backward(x, g:transpose(3, 4):contiguous():transpose(3, 4)), ref:backward(F["bn2d.train.x"], g), 1e-12)
    H.close(bn.grads.weight, ref.grads.weight, 1e-12)
  end)

  it("passes the Jacobian check in training and in evaluation", function()
    local bn = nn.BatchNorm2d(3):double()
    bn.weight:copy_(oml.tensor({ 0.5, 1.5, -2 }))
    bn.bias:copy_(oml.tensor({ 0.1, -0.2, 0.3 }))
    local x = oml.randn({ 2, 3, 3, 2 }, { dtype = "float64" })
    J.check(bn, x)
    bn:evaluate()
    bn.running_var:copy_(oml.tensor({ 0.5, 2, 1.5 }))
    J.check(bn, x)
    bn.bias:zero()
    bn:freeze("bias")
    J.check(bn, x)
  end)

  it("gives an empty output for an empty batch and leaves the running statistics alone", function()
    local bn = nn.BatchNorm2d(3)
    local y = bn:forward(oml.zeros({ 0, 3, 2, 2 }))
    assert.are.same({ 0, 3, 2, 2 }, y:size())
    H.close(bn.running_mean, { 0, 0, 0 })
    H.close(bn.running_var, { 1, 1, 1 })
    assert.are.same({ 0, 3, 2, 2 }, bn:backward(oml.zeros({ 0, 3, 2, 2 }), oml.zeros({ 0, 3, 2, 2 })):size())
  end)

  it("names the layer and the problem in its errors", function()
    local bn = nn.BatchNorm2d(3)
    H.raises(function() local _ = bn:forward(oml.zeros({ 2, 3, 4 })) end,
      "oml.nn.BatchNorm2d: expects an [N,C,H,W] input (got shape [2,3,4])")
    H.raises(function() local _ = bn:forward(oml.zeros({ 2, 4, 2, 2 })) end,
      "oml.nn.BatchNorm2d: expects 3 channels in dim 2 (got shape [2,4,2,2])")
    H.raises(function() local _ = bn:forward(oml.zeros({ 1, 3, 1, 1 })) end,
      "oml.nn.BatchNorm2d: expects more than 1 value per channel when training (got input shape [1,3,1,1])")
    H.raises(function() local _ = bn:forward(oml.zeros({ 2, 3, 2, 2 }, "float64")) end,
      "oml.nn.BatchNorm2d: the weight is float32 but the input is float64")
    H.raises(function() local _ = bn:forward(oml.zeros({ 2, 3, 2, 2 }, "int64")) end,
      "oml.nn.BatchNorm2d: the input is int64; expected float32 or float64")
    H.raises(function() local _ = bn:forward("x") end, "oml.nn.BatchNorm2d: the input must be a tensor")
    H.raises(function() local _ = nn.BatchNorm2d(0) end, "oml.nn.BatchNorm2d: num_features must be a positive integer")
    H.raises(function() local _ = nn.BatchNorm2d(3, { epsilon = 1 }) end, "oml.nn.BatchNorm2d: unknown option 'epsilon'")
    bn:forward(oml.zeros({ 2, 3, 2, 2 }))
    H.raises(function() local _ = bn:backward(oml.zeros({ 2, 3, 2, 2 }), oml.zeros({ 2, 3, 2, 1 })) end,
      "oml.nn.BatchNorm2d: grad_out (float32 [2,3,2,1]) does not match the input (float32 [2,3,2,2])")
  end)
end)

describe("oml.nn.BatchNorm1d", function()
  it("matches PyTorch on [N,C] and [N,C,L] inputs", function()
    replay_batch_norm("bn1d", nn.BatchNorm1d(5, { momentum = 0.3 }):double(), 1e-10)
    replay_batch_norm("bn1d_3d", nn.BatchNorm1d(4, { eps = 1e-3 }):double(), 1e-10)
    replay_batch_norm("bn1d_f32", nn.BatchNorm1d(5), 1e-5)
  end)

  it("passes the Jacobian check on [N,C] and [N,C,L] in training and in evaluation", function()
    for _, shape in ipairs({ { 4, 3 }, { 2, 3, 3 } }) do
      local bn = nn.BatchNorm1d(3):double()
      bn.weight:copy_(oml.tensor({ 0.5, 1.5, -2 }))
      local x = oml.randn(shape, { dtype = "float64" })
      J.check(bn, x)
      bn:evaluate()
      J.check(bn, x)
    end
  end)

  it("reads a transposed [N,C] input", function()
    local x = oml.randn({ 5, 6 }, { dtype = "float64" })
    local a, b = nn.BatchNorm1d(6):double(), nn.BatchNorm1d(6):double()
    H.close(a:forward(x:t():contiguous():t()), b:forward(x), 1e-12)
    H.close(a.running_var, b.running_var, 1e-12)
  end)

  it("names the layer and the problem in its errors", function()
    local bn = nn.BatchNorm1d(3)
    H.raises(function() local _ = bn:forward(oml.zeros({ 2, 3, 4, 5 })) end,
      "oml.nn.BatchNorm1d: expects an [N,C] or [N,C,L] input (got shape [2,3,4,5])")
    H.raises(function() local _ = bn:forward(oml.zeros({ 1, 3 })) end,
      "oml.nn.BatchNorm1d: expects more than 1 value per channel when training (got input shape [1,3])")
    bn:evaluate()
    H.close(bn:forward(oml.ones({ 1, 3 })), { { 1 / math.sqrt(1 + 1e-5), 1 / math.sqrt(1 + 1e-5), 1 / math.sqrt(1 + 1e-5) } }, 1e-6)
  end)
end)

describe("oml.nn.LayerNorm", function()
  local function replay(case, module, tol)
    if module.elementwise_affine then
      module.weight:copy_(F[case .. ".weight"])
      module.bias:copy_(F[case .. ".bias"])
    end
    local x, g = F[case .. ".x"], F[case .. ".g"]
    H.close(module:forward(x), F[case .. ".y"], tol)
    H.close(module:backward(x, g), F[case .. ".gx"], tol)
    if module.elementwise_affine then
      H.close(module.grads.weight, F[case .. ".g_weight"], tol)
      H.close(module.grads.bias, F[case .. ".g_bias"], tol)
    end
  end

  it("starts as PyTorch's: weight 1 and bias 0", function()
    local ln = nn.LayerNorm({ 4 })
    H.close(ln.weight, { 1, 1, 1, 1 })
    H.close(ln.bias, { 0, 0, 0, 0 })
    local _, names = ln:state_dict()
    assert.are.same({ "weight", "bias" }, names)
    assert.are.equal("LayerNorm((4,), eps=1e-05, elementwise_affine=true)", tostring(ln))
  end)

  it("matches PyTorch in float64 and float32, with and without affine", function()
    replay("ln", nn.LayerNorm(8):double(), 1e-10)
    replay("ln_noaffine", nn.LayerNorm(6, { eps = 1e-3, elementwise_affine = false }):double(), 1e-10)
    replay("ln_f32", nn.LayerNorm(16), 1e-5)
  end)

  it("passes the Jacobian check", function()
    local ln = nn.LayerNorm(5):double()
    ln.weight:copy_(oml.tensor({ 0.5, 1.5, -2, 1, 0.3 }))
    ln.bias:copy_(oml.tensor({ 0.1, -0.2, 0.3, 0, 1 }))
    J.check(ln, oml.randn({ 2, 3, 5 }, { dtype = "float64" }))
    J.check(ln, oml.randn({ 5 }, { dtype = "float64" }))
    J.check(nn.LayerNorm(4, { elementwise_affine = false }):double(), oml.randn({ 3, 4 }, { dtype = "float64" }))
  end)

  it("gives the same parameter gradients whatever the thread count, over many rows", function()
    local x = oml.randn({ 300, 24 })
    local g = oml.randn({ 300, 24 })
    local function grads(threads)
      local before = oml.get_num_threads()
      oml.set_num_threads(threads)
      local ln = nn.LayerNorm(24)
      ln:forward(x)
      local gi = ln:backward(x, g)
      oml.set_num_threads(before)
      return { gi:totable(), ln.grads.weight:totable(), ln.grads.bias:totable() }
    end
    assert.are.same(grads(1), grads(2))
  end)

  it("reads non-contiguous inputs and gradients", function()
    local x = F["ln.x"]
    local xt = x:transpose(1, 2):contiguous():transpose(1, 2)
    local a, b = nn.LayerNorm(8):double(), nn.LayerNorm(8):double()
    H.close(a:forward(xt), b:forward(x), 1e-12)
    local g = F["ln.g"]
    H.close(a:backward(xt, g:transpose(2, 3):contiguous():transpose(2, 3)), b:backward(x, g), 1e-12)
    H.close(a.grads.weight, b.grads.weight, 1e-12)
  end)

  it("handles an empty batch", function()
    local ln = nn.LayerNorm(3)
    assert.are.same({ 0, 3 }, ln:forward(oml.zeros({ 0, 3 })):size())
    assert.are.same({ 0, 3 }, ln:backward(oml.zeros({ 0, 3 }), oml.zeros({ 0, 3 })):size())
    H.close(ln.grads.weight, { 0, 0, 0 })
  end)

  it("names the layer and the problem in its errors", function()
    local ln = nn.LayerNorm(4)
    H.raises(function() local _ = ln:forward(oml.zeros({ 2, 3 })) end,
      "oml.nn.LayerNorm: expects an input whose last dim has size 4 (got shape [2,3])")
    H.raises(function() local _ = ln:forward(oml.zeros({ 2, 4 }, "float64")) end,
      "oml.nn.LayerNorm: the weight is float32 but the input is float64")
    H.raises(function() local _ = nn.LayerNorm({ 2, 4 }) end,
      "oml.nn.LayerNorm: normalizes over the last dim only")
    H.raises(function() local _ = nn.LayerNorm(0) end, "oml.nn.LayerNorm: normalized_shape must be a positive integer")
    H.raises(function() local _ = ln:backward(oml.zeros({ 2, 4 }), oml.zeros({ 2, 4 })) end,
      "oml.nn.LayerNorm: backward needs a forward pass first")
  end)
end)
