-- oml.nn.Attention, DINO's multi-head self-attention (lua/oml/nn/Attention.lua).
-- Expected values: spec/fixtures/nn/make_act.py (DINO's
-- vision_transformer.Attention written out, dim 8, 2 heads, with and without
-- qkv bias, in float64 under torch 1.13: forward and autograd), read from
-- act.safetensors.
local oml = require "oml"
local nn = require "oml.nn"
local H = require "helper"
local J = require "jacobian"

local FX = oml.load("spec/fixtures/nn/act.safetensors")

local function fixture_attention(case, dtype)
  local m = nn.Attention(8, { num_heads = 2, qkv_bias = case == "attention" }):type(dtype or "float64")
  local sd = {}
  for _, name in ipairs { "qkv.weight", "qkv.bias", "proj.weight", "proj.bias" } do
    sd[name] = FX[case .. "." .. name]
  end
  m:load_state_dict(sd)
  return m
end

describe("oml.nn.Attention", function()
  it("matches DINO's Attention, forward and backward, with and without qkv bias", function()
    for _, case in ipairs { "attention", "attention_nobias" } do
      local m = fixture_attention(case)
      local x, g = FX[case .. ".x"], FX[case .. ".g"]
      H.close(m:forward(x), FX[case .. ".y"], 1e-12)
      H.close(m:backward(x, g), FX[case .. ".gx"], 1e-12)
      for _, e in ipairs(m:named_parameters()) do
        H.close(e.module:grad(e.key), FX[case .. ".g_" .. e.name], 1e-12)
      end
      local f = fixture_attention(case, "float32")
      H.close(f:forward(x:float()), FX[case .. ".y"], 1e-5)
      H.close(f:backward(x:float(), g:float()), FX[case .. ".gx"], 1e-5)
    end
  end)

  it("has DINO's parameter names and children", function()
    local m = nn.Attention(384, { num_heads = 6, qkv_bias = true })
    local _, names = m:state_dict()
    assert.are.same({ "qkv.weight", "qkv.bias", "proj.weight", "proj.bias" }, names)
    H.close(m.qkv.weight:size(), { 1152, 384 })
    H.close(m.scale, 0.125)
    assert.is_nil(nn.Attention(8, { num_heads = 2 }).qkv.bias)
    assert.is_nil(nn.Attention(8, { num_heads = 2, proj_bias = false }).proj.bias)
    assert.truthy(tostring(m):find("(attn_drop): Dropout(p=0)", 1, true))
  end)

  it("keeps the attention probabilities, which sum to 1 over the keys", function()
    local m = fixture_attention("attention")
    m:forward(FX["attention.x"])
    H.close(m.attn:size(), { 4, 5, 5 })
    H.close(m.attn:sum(3), oml.ones({ 4, 5 }, "float64"), 1e-12)
  end)

  it("takes non-contiguous inputs, one token and an empty batch", function()
    local m = fixture_attention("attention")
    local x, g = FX["attention.x"], FX["attention.g"]
    local xt = x:transpose(1, 2):contiguous():transpose(1, 2)
    H.close(m:forward(xt), FX["attention.y"], 1e-12)
    H.close(m:backward(xt, g:transpose(2, 3):contiguous():transpose(2, 3)), FX["attention.gx"], 1e-12)
    H.close(m:forward(x:narrow(2, 1, 1)):size(), { 2, 1, 8 })
    H.close(m:forward(oml.empty({ 0, 5, 8 }, "float64")):size(), { 0, 5, 8 })
  end)

  it("computes the class token alone as the first token of the whole forward and backward", function()
    local m = fixture_attention("attention")
    local x, g = FX["attention.x"], FX["attention.g"]
    local y = m:forward(x):clone()
    local g1 = oml.zeros_like(g)
    g1:narrow(2, 1, 1):copy_(g:narrow(2, 1, 1))
    local gx1 = m:backward(x, g1):clone()
    H.close(m:forward_class_token(x), y:narrow(2, 1, 1), 1e-12)
    H.close(m:backward_class_token(x, g:narrow(2, 1, 1)), gx1, 1e-12)
    H.raises(function() local _ = m:backward_class_token(x, g) end,
      "oml.nn.Attention: grad_output must have shape [2,1,8] (got [2,")
  end)

  it("passes the Jacobian check, with attention dropout in training too", function()
    local x = oml.randn({ 2, 3, 8 }, { dtype = "float64" })
    J.check(nn.Attention(8, { num_heads = 2, qkv_bias = true }):double(), x)
    J.check(nn.Attention(8, { num_heads = 4, qk_scale = 0.3 }):double(), x)
    J.check(nn.Attention(8, { num_heads = 2, attn_drop = 0.3, proj_drop = 0.2 }):double(), x)
  end)

  it("names the layer and the problem in its errors", function()
    H.raises(function() local _ = nn.Attention(10, { num_heads = 4 }) end,
      "oml.nn.Attention: dim 10 is not a multiple of num_heads 4")
    H.raises(function() local _ = nn.Attention(8, { num_heads = 0 }) end,
      "oml.nn.Attention: num_heads must be a positive integer (got 0)")
    H.raises(function() local _ = nn.Attention(8, { heads = 2 }) end, "oml.nn.Attention: unknown option 'heads'")
    local m = nn.Attention(8, { num_heads = 2 })
    H.raises(function() local _ = m:forward(oml.zeros { 2, 8 }) end,
      "oml.nn.Attention: the input must have shape [B,N,8] (got [2,8])")
    H.raises(function() local _ = m:forward(oml.zeros { 1, 2, 6 }) end,
      "oml.nn.Attention: the input must have shape [B,N,8] (got [1,2,6])")
    m:forward(oml.zeros { 1, 2, 8 })
    H.raises(function() local _ = m:backward(oml.zeros { 1, 2, 8 }, oml.zeros { 1, 2 }) end,
      "oml.nn.Attention: grad_output must have shape [B,N,8] (got [1,2])")
  end)
end)
