-- The Module contract (lua/oml/nn/Module.lua), containers and the Jacobian
-- checker, on small modules defined here so that these specs depend on no
-- layer file.
local oml = require "oml"
local H = require "helper"
local J = require "jacobian"
local nn = oml.nn

-- y = x * weight + bias, elementwise over the last dim (size n)
local Affine = nn.class("Affine", nn.Module)
function Affine:__init(n)
  nn.Module.__init(self)
  self:register_parameter("weight", oml.linspace(0.5, 1.5, n))
  self:register_parameter("bias", oml.zeros(n))
  self:register_buffer("calls", oml.zeros({}, "int64"))
  self:register_buffer("scratch", oml.zeros(n), false)
end
function Affine:extra_repr() return tostring(self.weight:size(1)) end
function Affine:forward(x)
  self.calls:add_(1)
  self.output = x * self.weight + self.bias
  return self.output
end
function Affine:backward(x, g)
  local gw, gb = self:grad("weight"), self:grad("bias")
  local lead = {}
  for d = 1, x:dim() - 1 do lead[#lead + 1] = d end
  if gw then gw:add_(#lead > 0 and (g * x):sum(lead) or g * x) end
  if gb then gb:add_(#lead > 0 and g:sum(lead) or g) end
  self.grad_input = g * self.weight
  return self.grad_input
end

-- y = tanh(x), a parameterless layer
local Tanh = nn.class("Tanh", nn.Module)
function Tanh:__init() nn.Module.__init(self) end
function Tanh:forward(x) self.output = x:tanh(); return self.output end
function Tanh:backward(_, g)
  self.grad_input = g * (1 - self.output * self.output)
  return self.grad_input
end

local function model()
  return nn.Sequential(Affine(3), Tanh(), Affine(3))
end

describe("oml.nn.Module", function()
  it("names parameters and buffers as PyTorch's state dicts do", function()
    local m = model()
    local names = {}
    for _, e in ipairs(m:named_parameters()) do names[#names + 1] = e.name end
    assert.same({ "0.weight", "0.bias", "2.weight", "2.bias" }, names)
    local sd, order = m:state_dict()
    assert.same({ "0.weight", "0.bias", "2.weight", "2.bias", "0.calls", "2.calls" }, order)
    assert.is_nil(sd["0.scratch"])   -- a non-persistent buffer
    assert.equal(m.modules[1].weight, sd["0.weight"])
    assert.equal(12, m:num_parameters())
  end)

  it("loads a state dict, converting dtypes, and names every bad key", function()
    local a, b = model(), model()
    for _, e in ipairs(a:named_parameters()) do e.param:fill_(0.25) end
    local sd = a:state_dict()
    sd["0.bias"] = oml.full({ 3 }, 7, { dtype = "float64" })
    local r = b:load_state_dict(sd)
    assert.same({}, r.missing_keys)
    H.close(b.modules[3].weight, { 0.25, 0.25, 0.25 })
    H.close(b.modules[1].bias, { 7, 7, 7 })
    assert.equal("float32", b.modules[1].bias.dtype)

    local bad = a:state_dict()
    bad["0.weight"] = oml.zeros(4)
    bad["2.bias"] = nil
    bad["head.weight"] = oml.zeros(1)
    b.modules[1].weight:fill_(3)
    H.raises(function() b:load_state_dict(bad) end,
      "oml.nn.Sequential:load_state_dict: shape mismatch: 0.weight (checkpoint [4], model [3]); "
      .. "missing keys: 2.bias; unexpected keys: head.weight")
    H.close(b.modules[1].weight, { 3, 3, 3 })   -- nothing written
    bad["0.weight"] = oml.zeros(3)
    local r2 = b:load_state_dict(bad, { strict = false })
    assert.same({ "2.bias" }, r2.missing_keys)
    assert.same({ "head.weight" }, r2.unexpected_keys)
    H.raises(function() b:load_state_dict(bad, { strict = false, stritc = 1 }) end, "unknown option 'stritc'")
    H.raises(function() b:load_state_dict({ ["0.weight"] = 3 }, { strict = false }) end,
      "0.weight (a number, not a tensor)")
    H.raises(function() b:load_state_dict(oml.zeros(3)) end, "expects a table of tensors")
  end)

  it("accumulates gradients and checks against finite differences", function()
    local m = model():double()
    assert.equal("float64", m.modules[1].weight.dtype)
    assert.equal("int64", m.modules[1].calls.dtype)
    assert.is_true(J.check(m, oml.randn({ 4, 3 }, { dtype = "float64" })))
    local _, grads = m:parameters()
    assert.equal(4, #grads)
    m:zeroGradParameters()
    for _, g in ipairs(grads) do H.close(g:abs():sum():item(), 0) end
  end)

  it("the checker catches a wrong backward", function()
    local Wrong = nn.class("Wrong", Tanh)
    function Wrong:backward(_, g) self.grad_input = g * 1.01; return self.grad_input end
    assert.error_matches(function() J.check(Wrong(), oml.randn({ 2, 2 }, { dtype = "float64" }) * 0.01) end,
      "grad_input: element 1")
    local NoAccumulate = nn.class("NoAccumulate", Affine)
    function NoAccumulate:backward(x, g)
      self.grads.weight = nil
      self.grads.bias = nil
      return Affine.backward(self, x, g)
    end
    assert.error_matches(function() J.check(NoAccumulate(2):double(), oml.randn({ 2 }, { dtype = "float64" })) end,
      "accumulated grad of weight")
  end)

  it("freezes parameters by name, by submodule, or all", function()
    local m = model()
    m:freeze("0.bias")
    assert.is_nil(m.modules[1]:grad("bias"))
    assert.equal(11 - 2, m:num_parameters({ trainable = true }))
    m:freeze("2")
    local params = m:parameters()
    assert.equal(1, #params)
    m:unfreeze()
    assert.equal(4, #(m:parameters()))
    m:freeze()
    assert.equal(0, #(m:parameters()))
    H.raises(function() m:freeze("3.weight") end, "oml.nn.Sequential:freeze: no parameter or module named '3.weight'")
    H.raises(function() m:unfreeze(3) end, "the name must be a string (got number)")
    -- a frozen parameter still passes the gradient to its input
    local x = oml.ones(3)
    m:forward(x)
    assert.is_true(oml.is_tensor(m:backward(x, oml.ones(3))))
  end)

  it("switches train and evaluate on the whole tree", function()
    local m = model()
    assert.is_true(m.modules[2].training)
    m:evaluate()
    assert.is_false(m.modules[2].training)
    m:train()
    assert.is_true(m.modules[3].training)
  end)

  it("prints the tree", function()
    local list = nn.ModuleList({ Affine(2), Tanh() })
    local root = nn.Sequential(list, Affine(4))
    assert.equal("Sequential(\n  (0): ModuleList(\n    (0): Affine(2)\n    (1): Tanh()\n  )\n  (1): Affine(4)\n)",
      tostring(root))
  end)

  it("refuses what is not a module", function()
    H.raises(function() nn.Sequential(Affine(2), 3) end, "oml.nn.Sequential:add_module: '1' must be a module (got number)")
    H.raises(function() nn.ModuleList(Affine(2)) end, "oml.nn.ModuleList: expects a list of modules")
    H.raises(function() nn.Module.register_parameter(Tanh(), "w", 3) end, "oml.nn.Tanh:register_parameter")
    H.raises(function() local _ = Tanh():forward(1) end, "")   -- tanh of a number: the tensor op refuses
    local Bare = nn.class("Bare", nn.Module)
    function Bare:__init() nn.Module.__init(self) end
    H.raises(function() Bare():forward(oml.zeros(1)) end, "oml.nn.Bare: forward is not implemented")
    local Loss = nn.class("Loss", nn.Criterion)
    H.raises(function() Loss():backward(oml.zeros(1), oml.zeros(1)) end, "oml.nn.Loss: backward is not implemented")
  end)

  it("loads layer files on first access and knows what is not there", function()
    assert.equal(nn.Sequential, require "oml.nn.Sequential")
    assert.is_nil(nn.NoSuchLayer)
    assert.is_nil(nn[1])
  end)
end)
