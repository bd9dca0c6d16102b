-- oml.optim.GradScaler on CPU tensors: torch.cuda.amp.GradScaler's dynamic
-- loss scaling (skip the step on inf/NaN gradients and back off, grow after
-- growth_interval good steps), and scaled training equal to unscaled
-- training bit for bit (the scales are powers of two).
local H = require "helper"
local oml = require "oml"
local nn = oml.nn
local optim = oml.optim

-- A linear layer with its gradient set to `values` (a list), and an SGD over it.
local function setup(values)
  local layer = nn.Linear(#values, 1, { bias = false })
  layer.weight:fill(1)
  layer:grad("weight"):copy_(oml.tensor({ values }))
  return layer, optim.SGD { params = layer, lr = 0.5 }
end

describe("oml.optim.GradScaler", function()
  it("starts at 65536 and scales a loss or a gradient", function()
    local scaler = optim.GradScaler()
    assert.equal(65536, scaler:get_scale())
    assert.equal(2 * 65536, scaler:scale(2))
    H.close(scaler:scale(oml.tensor { 1, -0.5 }), { 65536, -32768 }, 0)
  end)

  it("unscales the gradients and steps when they are finite", function()
    local scaler = optim.GradScaler { init_scale = 4 }
    local layer, opt = setup { 8, -4 }
    assert.is_true(scaler:step(opt))
    H.close(layer:grad("weight"), { { 2, -1 } }, 0)
    H.close(layer.weight, { { 0, 1.5 } }, 0)
    scaler:update()
    assert.equal(4, scaler:get_scale())
  end)

  for _, bad in ipairs { math.huge, -math.huge, 0 / 0 } do
    it("skips the step and backs off on a gradient of " .. tostring(bad), function()
      local scaler = optim.GradScaler { init_scale = 8, growth_interval = 2 }
      local layer, opt = setup { 1, 1 }
      assert.is_true(scaler:step(opt))
      scaler:update()
      layer:grad("weight"):copy_(oml.tensor { { 1, bad } })
      assert.is_false(scaler:step(opt))
      H.close(layer.weight, { { 1 - 0.5 / 8, 1 - 0.5 / 8 } }, 0)   -- the first step only
      scaler:update()
      assert.equal(4, scaler:get_scale())
      assert.equal(0, scaler.growth_tracker)
    end)
  end

  it("grows after growth_interval good steps in a row", function()
    local scaler = optim.GradScaler { init_scale = 2, growth_interval = 3, growth_factor = 4, backoff_factor = 0.25 }
    local _, opt = setup { 1 }
    local seen = {}
    for _ = 1, 7 do
      scaler:step(opt)
      scaler:update()
      seen[#seen + 1] = scaler:get_scale()
    end
    assert.same({ 2, 2, 8, 8, 8, 32, 32 }, seen)
  end)

  it("unscales once per step: unscale_ then step does not divide twice", function()
    local scaler = optim.GradScaler { init_scale = 2 }
    local layer, opt = setup { 4 }
    scaler:unscale_(opt)
    H.close(layer:grad("weight"), { { 2 } }, 0)
    scaler:step(opt)
    H.close(layer:grad("weight"), { { 2 } }, 0)
    H.raises(function() scaler:unscale_(opt) end, "unscale_ was already called since the last update()")
    scaler:update()
    H.raises(function() scaler:update() end, "call step (or unscale_) first")
    -- a module's gradients too
    scaler:unscale_(layer)
    H.close(layer:grad("weight"), { { 1 } }, 0)
  end)

  it("trains as the unscaled loss does, bit for bit", function()
    oml.manual_seed(3)
    local x, y = oml.randn(8, 5), oml.randn(8, 3)
    local function run(scaler)
      oml.manual_seed(4)
      local model = nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 3))
      local opt = optim.Adam { params = model, lr = 1e-2 }
      for _ = 1, 5 do
        model:zeroGradParameters()
        local grad = (model:forward(x) - y) * (2 / y:numel())
        if scaler then
          model:backward(x, scaler:scale(grad))
          scaler:step(opt)
          scaler:update()
        else
          model:backward(x, grad)
          opt:step()
        end
      end
      return model
    end
    local plain, scaled = run(nil), run(optim.GradScaler())
    local ps = scaled:named_parameters()
    for i, e in ipairs(plain:named_parameters()) do
      assert.is_true(e.param:eq(ps[i].param):all():item(), e.name)
    end
  end)

  it("saves and loads its state", function()
    local scaler = optim.GradScaler { init_scale = 16, growth_interval = 10 }
    local _, opt = setup { 1 }
    scaler:step(opt)
    scaler:update()
    local sd = scaler:state_dict()
    H.close(sd.scale, 16, 0)
    H.close(sd.growth_tracker, 1, 0)
    local other = optim.GradScaler()
    other:load_state_dict(sd)
    assert.equal(16, other:get_scale())
    assert.equal(1, other.growth_tracker)
    H.raises(function() other:load_state_dict { scale = 0, growth_tracker = 0 } end,
             "oml.optim.GradScaler:load_state_dict: scale must be a number > 0 (got 0)")
  end)

  it("names a bad argument", function()
    H.raises(function() local _ = optim.GradScaler { init_scale = -1 } end,
             "oml.optim.GradScaler: init_scale must be a positive number (got -1)")
    H.raises(function() local _ = optim.GradScaler { growth_factor = 0.5 } end, "growth_factor must be > 1")
    H.raises(function() local _ = optim.GradScaler { backoff_factor = 2 } end, "backoff_factor must be < 1")
    H.raises(function() local _ = optim.GradScaler { growth_interval = 1.5 } end, "growth_interval must be a positive integer")
    H.raises(function() local _ = optim.GradScaler { scale = 2 } end, "unknown argument 'scale'")
    H.raises(function() optim.GradScaler():unscale_(42) end, "expects an optimizer or a module (got number)")
  end)
end)
