-- oml.nn.Linear (lua/oml/nn/Linear.lua). Expected values:
-- spec/fixtures/nn/make_act.py (torch 1.13's nn.Linear(4, 5) in float64,
-- forward and autograd), read from act.safetensors.
local oml = require "oml"
local nn = require "oml.nn"
local H = require "helper"
local J = require "jacobian"

local FX = oml.load("spec/fixtures/nn/act.safetensors")

local function fixture_linear()
  local m = nn.Linear(4, 5):double()
  m:load_state_dict { weight = FX["linear.weight"], bias = FX["linear.bias"] }
  return m
end

describe("oml.nn.Linear", function()
  it("matches PyTorch on a [2,3,4] input, gradients included", function()
    local m = fixture_linear()
    local x, g = FX["linear.x"], FX["linear.g"]
    H.close(m:forward(x), FX["linear.y"], 1e-12)
    H.close(m:backward(x, g), FX["linear.gx"], 1e-12)
    H.close(m.grads.weight, FX["linear.g_weight"], 1e-12)
    H.close(m.grads.bias, FX["linear.g_bias"], 1e-12)
    -- float32
    local f = nn.Linear(4, 5)
    f:load_state_dict { weight = FX["linear.weight"], bias = FX["linear.bias"] }
    H.close(f:forward(x:float()), FX["linear.y"], 1e-6)
  end)

  it("accumulates gradients and skips a frozen parameter", function()
    local m = fixture_linear()
    local x, g = FX["linear.x"], FX["linear.g"]
    m:forward(x)
    m:backward(x, g)
    m:backward(x, g)
    H.close(m.grads.weight, FX["linear.g_weight"] * 2, 1e-12)
    m:zeroGradParameters()
    m:freeze("weight")
    H.close(m:backward(x, g), FX["linear.gx"], 1e-12)
    assert.is_nil(m.grads.weight)
    H.close(m.grads.bias, FX["linear.g_bias"], 1e-12)
  end)

  it("takes 1-d, 2-d, 4-d and non-contiguous inputs", function()
    local m = fixture_linear()
    local x = FX["linear.x"]
    H.close(m:forward(x[1][2]), FX["linear.y"][1][2], 1e-12)
    H.close(m:forward(x[2]), FX["linear.y"][2], 1e-12)
    H.close(m:forward(x:view(1, 2, 3, 4)):size(), { 1, 2, 3, 5 })
    local xt = x:transpose(1, 2):contiguous():transpose(1, 2)
    H.close(m:forward(xt), FX["linear.y"], 1e-12)
    H.close(m:backward(xt, FX["linear.g"]:transpose(1, 2):contiguous():transpose(1, 2)), FX["linear.gx"], 1e-12)
    H.close(m:forward(oml.empty({ 0, 4 }, "float64")):size(), { 0, 5 })
  end)

  it("passes the Jacobian check with and without bias", function()
    local x = oml.randn({ 2, 3, 4 }, { dtype = "float64" })
    J.check(nn.Linear(4, 3):double(), x)
    J.check(nn.Linear(4, 2, { bias = false }):double(), x)
  end)

  it("initialises as PyTorch: U(-1/sqrt(in), 1/sqrt(in)) from the default generator", function()
    oml.manual_seed(3)
    local a = nn.Linear(16, 8)
    oml.manual_seed(3)
    local b = nn.Linear(16, 8)
    H.close(a.weight, b.weight, 0)
    H.close(a.bias, b.bias, 0)
    assert.is_true(a.weight:abs():max():item() <= 0.25 and a.bias:abs():max():item() <= 0.25)
    assert.is_true(a.weight:abs():max():item() > 0.2) -- it spreads over the range
    local names = {}
    for _, e in ipairs(a:named_parameters()) do names[#names + 1] = e.name end
    assert.are.same({ "weight", "bias" }, names)
    assert.is_nil(nn.Linear(3, 2, { bias = false }).bias)
    assert.are.equal("Linear(in_features=16, out_features=8, bias=true)", tostring(a))
  end)

  it("names the layer and the problem in its errors", function()
    local m = nn.Linear(4, 5)
    H.raises(function() local _ = m:forward(oml.zeros { 2, 3 }) end,
      "oml.nn.Linear: the input must have shape [..., 4] (got [2,3])")
    H.raises(function() local _ = m:forward(oml.tensor(1)) end,
      "oml.nn.Linear: the input must have shape [..., 4] (got [])")
    H.raises(function() local _ = m:backward(oml.zeros { 2, 4 }, oml.zeros { 3, 5 }) end,
      "oml.nn.Linear: grad_output has shape [3,5] but the input has shape [2,4]")
    H.raises(function() local _ = m:forward(oml.zeros({ 2, 4 }, "float64")) end,
      "oml.nn.Linear: the inputs are float64 and float32")
    H.raises(function() local _ = nn.Linear(-1, 2) end,
      "oml.nn.Linear: in_features must be a non-negative integer (got -1)")
    H.raises(function() local _ = nn.Linear(2, 2, { biass = true }) end, "oml.nn.Linear: unknown option 'biass'")
  end)
end)
