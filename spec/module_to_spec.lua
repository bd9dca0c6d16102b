-- Module:to / cpu / type moving a whole model (parameters, gradients,
-- buffers), and optimizer state following its parameters when they change
-- dtype or device after the state was made. The device moves themselves are
-- in gpu_models_spec.lua; here dtype changes stand in for them.
local H = require "helper"
local oml = require "oml"
local nn = oml.nn
local optim = oml.optim

local function small_model()
  oml.manual_seed(1)
  return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 2))
end

-- no batch norm here: a bias before it gets a gradient of rounding noise,
-- which Adam's update magnifies differently in float32 and float64
local function mlp()
  oml.manual_seed(2)
  return nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 2))
end

local function step(model, opt, x)
  model:zeroGradParameters()
  local out = model:forward(x:to(model.modules[1].weight.dtype))
  model:backward(x:to(out.dtype), out:clone():fill(1))
  opt:step()
end

describe("Module:to", function()
  it("converts parameters, gradients and floating buffers; integer buffers keep their dtype", function()
    local model = small_model()
    model:forward(oml.randn(2, 3, 6, 6))
    model:backward(oml.randn(2, 3, 6, 6), oml.ones(2, 2))
    assert.equal(model, model:to("float64"))
    for _, e in ipairs(model:named_parameters()) do
      assert.equal("float64", e.param.dtype, e.name)
      assert.equal("float64", e.module:grad(e.key).dtype, e.name)
    end
    assert.equal("float64", model.modules[2].running_var.dtype)
    assert.equal("int64", model.modules[2].num_batches_tracked.dtype)
    assert.is_nil(model.output)
    model:to { dtype = "float32", device = "cpu" }
    assert.equal("float32", model.modules[5].weight.dtype)
    assert.equal("float32", model.modules[5]:grad("weight").dtype)
    assert.equal("cpu", model:cpu().modules[1].weight.device)
    assert.equal("float32", model:type(nil, "cpu").modules[1].weight.dtype)
  end)

  it("keeps the tensors themselves when nothing changes", function()
    local model = small_model()
    local w = model.modules[1].weight
    model:to("cpu")
    model:to { dtype = "float32" }
    assert.equal(w, model.modules[1].weight)
  end)

  it("names a bad argument", function()
    H.raises(function() small_model():to("gpu") end, "unknown dtype")
    H.raises(function() small_model():to { device = "tpu" } end, "unknown device tpu")
    H.raises(function() small_model():to() end, "expects a device, a dtype or {dtype=, device=}")
  end)
end)

describe("optimizer state follows its parameters", function()
  for _, case in ipairs {
    { "SGD with momentum", function(m) return optim.SGD { params = m, lr = 0.1, momentum = 0.9 } end },
    { "Adam", function(m) return optim.Adam { params = m, lr = 1e-2 } end },
  } do
    it(case[1] .. ": a step, model:double(), another step", function()
      local x = oml.randn(3, 6)
      local moved, whole = mlp(), mlp():double()
      local opt_moved, opt_whole = case[2](moved), case[2](whole)
      step(moved, opt_moved, x)
      step(whole, opt_whole, x)
      moved:double()
      step(moved, opt_moved, x)
      step(whole, opt_whole, x)
      for _, st in pairs(opt_moved.state) do
        for key, v in pairs(st) do
          if oml.is_tensor(v) then assert.equal("float64", v.dtype, key) end
        end
      end
      local pw = whole:named_parameters()
      for i, e in ipairs(moved:named_parameters()) do H.close(e.param, pw[i].param, 1e-4, e.name) end
    end)
  end

  it("load_state_dict puts the state on the parameter's dtype", function()
    local model = small_model()
    local opt = optim.SGD { params = model, lr = 0.1, momentum = 0.9 }
    step(model, opt, oml.randn(2, 3, 6, 6))
    local sd = opt:state_dict()
    model:double()
    local other = optim.SGD { params = model, lr = 0.1, momentum = 0.9 }
    other:load_state_dict(sd)
    for _, st in pairs(other.state) do assert.equal("float64", st.momentum_buffer.dtype) end
  end)
end)
