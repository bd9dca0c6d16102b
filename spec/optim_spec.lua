-- Specs for oml.optim's optimizers (SGD, Adam, AdamW) and clip_grad_norm.
-- Reference values come from spec/fixtures/optim/optim.safetensors, made by
-- spec/fixtures/optim/make_optim.py with torch 1.13's torch.optim (foreach=False)
-- and torch.nn.utils.clip_grad_norm_; the cases below repeat its options.
local H = require "helper"
local oml = require "oml"
local optim = require "oml.optim"
local nn = require "oml.nn"

local F = oml.load("spec/fixtures/optim/optim.safetensors")

-- Parameters a [2,3] and b [4] of the fixture, as plain entries whose
-- gradients are set to step k's fixture gradients by set_grads(k).
local function fixture_params(dtype)
  local e = {}
  for _, k in ipairs { "a", "b" } do
    e[k] = { name = k, param = F["init." .. k]:to(dtype):clone(), grad = oml.zeros_like(F["init." .. k]):to(dtype) }
  end
  e.set_grads = function(step)
    for _, k in ipairs { "a", "b" } do e[k].grad:copy_(F["grad." .. k]:select(1, step)) end
  end
  return e
end

-- case -> optimizer, options, per-group options (of a and b), dtype
local CASES = {
  sgd = { optim.SGD, { lr = 0.1 } },
  sgd_momentum = { optim.SGD, { lr = 0.1, momentum = 0.9 } },
  sgd_dampening = { optim.SGD, { lr = 0.1, momentum = 0.9, dampening = 0.3 } },
  sgd_nesterov = { optim.SGD, { lr = 0.1, momentum = 0.9, nesterov = true } },
  sgd_weight_decay = { optim.SGD, { lr = 0.1, momentum = 0.9, weight_decay = 0.01 } },
  sgd_groups = { optim.SGD, { lr = 0.1, momentum = 0.9 }, { {}, { lr = 0.01, momentum = 0.5 } } },
  sgd_f32 = { optim.SGD, { lr = 0.1, momentum = 0.9, nesterov = true, weight_decay = 0.01 }, nil, "float32" },
  adam = { optim.Adam, { lr = 0.01 } },
  adam_weight_decay = { optim.Adam, { lr = 0.01, betas = { 0.8, 0.99 }, eps = 1e-6, weight_decay = 0.1 } },
  adam_groups = { optim.Adam, { lr = 0.01 }, { {}, { lr = 0.05, betas = { 0.5, 0.9 } } } },
  adam_f32 = { optim.Adam, { lr = 0.01, weight_decay = 0.1 }, nil, "float32" },
  adamw = { optim.AdamW, { lr = 0.01, weight_decay = 0.1 } },
  adamw_groups = { optim.AdamW, { lr = 0.01 }, { { weight_decay = 0.5 }, { lr = 0.05, weight_decay = 0 } } },
  adamw_f32 = { optim.AdamW, { lr = 0.01, weight_decay = 0.1 }, nil, "float32" },
}

local function build(case, e)
  local cls, options, groups = unpack(CASES[case])
  local args = {}
  for k, v in pairs(options) do args[k] = v end
  if groups then
    local g1, g2 = { params = { e.a } }, { params = { e.b } }
    for k, v in pairs(groups[1]) do g1[k] = v end
    for k, v in pairs(groups[2]) do g2[k] = v end
    args.params = { g1, g2 }
  else
    args.params = { e.a, e.b }
  end
  return cls(args)
end

-- A tiny module with a weight [3,2] and a bias [3] (the lead's Module contract).
local Toy = nn.class("OptimToy", nn.Module)
function Toy:__init()
  nn.Module.__init(self)
  self:register_parameter("weight", oml.tensor({ { 1, 2 }, { 3, 4 }, { 5, 6 } }, "float64"))
  self:register_parameter("bias", oml.tensor({ 0.5, -0.5, 1 }, "float64"))
end

local Empty = nn.class("OptimEmpty", nn.Module)

-- Fills the toy's gradients (those not frozen) with fixed values for step k.
local function toy_grads(m, k)
  local w, b = m:grad("weight"), m:grad("bias")
  if w then w:copy_(oml.tensor({ { 0.1, -0.2 }, { 0.3, 0.4 }, { -0.5, 0.6 } }, "float64"):mul(k)) end
  if b then b:copy_(oml.tensor({ 0.2, 0.1, -0.3 }, "float64"):mul(k)) end
end

describe("oml.optim optimizers", function()
  for case, spec in pairs(CASES) do
    it("match torch.optim step by step: " .. case, function()
      local dtype = spec[4] or "float64"
      local tol = dtype == "float32" and 1e-6 or 1e-12
      local e = fixture_params(dtype)
      local opt = build(case, e)
      for step = 1, 3 do
        e.set_grads(step)
        opt:step()
        for _, k in ipairs { "a", "b" } do
          assert.are.equal(dtype, e[k].param.dtype)
          H.close(e[k].param, F[("%s.%s.%d"):format(case, k, step)], tol)
        end
      end
      -- the state after the last step: torch's momentum_buffer, exp_avg, exp_avg_sq
      for _, k in ipairs { "a", "b" } do
        local st = opt.state[e[k]]
        for _, buffer in ipairs { "momentum_buffer", "exp_avg", "exp_avg_sq" } do
          local expected = F[("%s.%s.%s"):format(case, k, buffer)]
          if expected then H.close(st[buffer], expected, tol) else assert.is_nil(st[buffer]) end
        end
        if st.exp_avg then assert.are.equal(3, st.step) end
      end
    end)
  end

  it("updates the parameters of a module and skips frozen ones, even when frozen later", function()
    local m = Toy()
    local opt = optim.Adam { params = m, lr = 0.1 }
    toy_grads(m, 1)
    opt:step()
    local bias_after_one = m.bias:clone()
    m:freeze("bias")
    toy_grads(m, 2)
    opt:step()
    H.close(m.bias, bias_after_one, 0) -- untouched while frozen
    assert.are.equal(2, opt.state[opt.param_groups[1].params[1]].step)
    assert.are.equal(1, opt.state[opt.param_groups[1].params[2]].step)
    -- unfrozen, the bias takes its second step (PyTorch counts steps per parameter)
    m:unfreeze("bias")
    toy_grads(m, 3)
    opt:step()
    assert.are.equal(2, opt.state[opt.param_groups[1].params[2]].step)
    -- by hand: Adam's first step moves each element by lr * sign(g) (g = g1 here); its
    -- second, with g = 3 g1: m = 0.39 g1, v = 0.009999 g1^2, bias corrections 0.19 and 0.001999
    local second = 0.1 * (0.39 / 0.19) / math.sqrt(0.009999 / 0.001999)
    H.close(m.bias, { 0.5 - 0.1 - second, -0.5 - 0.1 - second, 1 + 0.1 + second }, 1e-6)
  end)

  it("skips plain entries without a gradient", function()
    local p, q = oml.tensor({ 1, 2 }, "float64"), oml.tensor({ 3, 4 }, "float64")
    local opt = optim.SGD { params = { { param = p, grad = oml.tensor({ 1, 1 }, "float64") }, { param = q } }, lr = 0.5 }
    opt:step()
    H.close(p, { 0.5, 1.5 }, 0)
    H.close(q, { 3, 4 }, 0)
    assert.is_nil(opt.state[opt.param_groups[1].params[2]])
  end)

  it("takes parameter groups made of modules and of named_parameters entries", function()
    local m = Toy()
    local entries = m:named_parameters()
    local opt = optim.SGD { params = { { params = { entries[1] } }, { params = { entries[2] }, lr = 0 } }, lr = 1 }
    toy_grads(m, 1)
    opt:step()
    H.close(m.weight, { { 0.9, 2.2 }, { 2.7, 3.6 }, { 5.5, 5.4 } }, 1e-15)
    H.close(m.bias, { 0.5, -0.5, 1 }, 0)
    assert.are.equal(0, opt.param_groups[2].lr)
    assert.are.equal(1, opt.param_groups[1].lr)
    -- each group's lr can be changed between steps
    opt.param_groups[2].lr = 1
    opt:step()
    H.close(m.bias, { 0.3, -0.6, 1.3 }, 1e-15)
  end)

  it("zero_grad zeroes every gradient that exists", function()
    local m = Toy()
    local opt = optim.SGD { params = m, lr = 0.1 }
    toy_grads(m, 1)
    m:freeze("bias")
    opt:zero_grad()
    H.close(m:grad("weight"), { { 0, 0 }, { 0, 0 }, { 0, 0 } }, 0)
  end)

  it("step(closure) calls the closure first and returns its result", function()
    local p, g = oml.tensor({ 1 }, "float64"), oml.tensor({ 0 }, "float64")
    local opt = optim.SGD { params = { { param = p, grad = g } }, lr = 1 }
    local loss = opt:step(function()
      g:fill_(2)
      return 42
    end)
    assert.are.equal(42, loss)
    H.close(p, { -1 }, 0)
  end)

  it("handles empty and 0-d parameters", function()
    local empty, scalar = oml.zeros({ 0, 3 }, "float64"), oml.tensor(2, "float64")
    local opt = optim.AdamW {
      params = { { param = empty, grad = oml.zeros({ 0, 3 }, "float64") }, { param = scalar, grad = oml.tensor(1, "float64") } },
      lr = 0.1, weight_decay = 0,
    }
    opt:step()
    assert.are.same({ 0, 3 }, empty:size())
    H.close(scalar:item(), 1.9, 1e-7) -- Adam's first step moves by lr
  end)

  it("gives the same result on one thread and on two, over a large parameter", function()
    -- 100000 elements: the kernels split them over OpenMP threads
    local n = 100000
    local init = oml.arange(0, n, 1, "float32"):mul(1e-4):sin()
    local grad = oml.arange(0, n, 1, "float32"):mul(3e-4):cos()
    local function run(threads, cls, options)
      local saved = oml.get_num_threads()
      oml.set_num_threads(threads)
      local p = init:clone()
      options.params = { { param = p, grad = grad } }
      local opt = cls(options)
      for _ = 1, 3 do opt:step() end
      oml.set_num_threads(saved)
      return p
    end
    for _, c in ipairs {
      { optim.SGD, { lr = 0.1, momentum = 0.9, nesterov = true, weight_decay = 0.01 } },
      { optim.AdamW, { lr = 0.01 } },
    } do
      local one = run(1, c[1], c[2])
      local two = run(2, c[1], c[2])
      assert.are.equal(0, one:sub(two):abs():max():item())
    end
    -- and plain SGD by hand: p - lr g after one step
    local p = init:clone()
    optim.SGD({ params = { { param = p, grad = grad } }, lr = 0.5 }):step()
    H.close(p, init:sub(grad:mul(0.5)), 1e-7)
  end)
end)

describe("oml.optim state dicts", function()
  local dir
  setup(function() dir = H.tempdir() end)
  teardown(function() H.sh("rm -rf " .. dir) end)

  it("name their keys after the groups and the parameters", function()
    local m = Toy()
    local opt = optim.Adam { params = m, lr = 0.1 }
    toy_grads(m, 1)
    opt:step()
    local sd = opt:state_dict()
    local keys = {}
    for k in pairs(sd) do keys[#keys + 1] = k end
    table.sort(keys)
    assert.are.same({
      "param_groups.1.betas", "param_groups.1.eps", "param_groups.1.lr", "param_groups.1.weight_decay",
      "state.1.bias.exp_avg", "state.1.bias.exp_avg_sq", "state.1.bias.step",
      "state.1.weight.exp_avg", "state.1.weight.exp_avg_sq", "state.1.weight.step",
    }, keys)
    H.close(sd["param_groups.1.betas"], { 0.9, 0.999 }, 0)
    assert.are.equal(1, sd["state.1.weight.step"]:item())
  end)

  for _, c in ipairs {
    { "SGD", optim.SGD, { lr = 0.1, momentum = 0.9, nesterov = true } },
    { "Adam", optim.Adam, { lr = 0.05, weight_decay = 0.01 } },
    { "AdamW", optim.AdamW, { lr = 0.05 } },
  } do
    it("resume through oml.save and oml.load and give the same next steps: " .. c[1], function()
      local function make()
        local m = Toy()
        local options = { params = m }
        for k, v in pairs(c[3]) do options[k] = v end
        return m, c[2](options)
      end
      -- five steps in one go
      local m1, opt1 = make()
      for k = 1, 5 do
        toy_grads(m1, k)
        opt1:step()
      end
      -- three steps, then save the model and the optimizer, load both into fresh ones, two more
      local m2, opt2 = make()
      for k = 1, 3 do
        toy_grads(m2, k)
        opt2:step()
      end
      local path = dir .. "/" .. c[1] .. ".safetensors"
      oml.save(path, opt2:state_dict())
      local msd = m2:state_dict()
      local m3, opt3 = make()
      m3:load_state_dict(msd)
      opt3.param_groups[1].lr = 123
      opt3:load_state_dict(oml.load(path))
      assert.are.equal(c[3].lr, opt3.param_groups[1].lr)
      for k = 4, 5 do
        toy_grads(m3, k)
        opt3:step()
      end
      H.close(m3.weight, m1.weight, 0)
      H.close(m3.bias, m1.bias, 0)
    end)
  end

  it("restores booleans and lists, and accepts numbers for 0-d tensors", function()
    local p = oml.tensor({ 1, 2 }, "float64")
    local opt = optim.SGD { params = { { param = p, grad = oml.tensor({ 1, 1 }, "float64") } }, lr = 0.1, momentum = 0.5 }
    opt:load_state_dict { ["param_groups.1.lr"] = 0.25, ["param_groups.1.nesterov"] = oml.tensor(1, "float64"),
      ["param_groups.1.dampening"] = 0 }
    assert.are.equal(0.25, opt.param_groups[1].lr)
    assert.are.equal(true, opt.param_groups[1].nesterov)
    local adam = optim.Adam { params = { { param = p, grad = p } } }
    adam:load_state_dict { ["param_groups.1.betas"] = oml.tensor({ 0.5, 0.6 }, "float64") }
    assert.are.same({ 0.5, 0.6 }, adam.param_groups[1].betas)
  end)

  it("converts loaded state to the parameter's dtype, as copies", function()
    local p = oml.tensor({ 1, 2 }, "float32")
    local opt = optim.SGD { params = { { param = p, grad = oml.tensor({ 1, 1 }, "float32") } }, lr = 0.1, momentum = 0.5 }
    local buffer = oml.tensor({ 3, 4 }, "float64")
    opt:load_state_dict { ["state.1.1.momentum_buffer"] = buffer }
    local st = opt.state[opt.param_groups[1].params[1]]
    assert.are.equal("float32", st.momentum_buffer.dtype)
    opt:step() -- buf = 0.5 * buf + g, p -= 0.1 buf
    H.close(p, { 1 - 0.25, 2 - 0.3 }, 1e-7)
    H.close(buffer, { 3, 4 }, 0)
  end)

  it("refuse unexpected, mis-shaped, incomplete and mistyped entries, changing nothing", function()
    local p = oml.tensor({ 1, 2 }, "float64")
    local opt = optim.Adam { params = { { param = p, grad = oml.tensor({ 1, 1 }, "float64"), name = "w" } }, lr = 0.1 }
    H.raises(function() opt:load_state_dict { ["state.1.v.step"] = 1, ["param_groups.2.lr"] = 1 } end,
      "oml.optim.Adam:load_state_dict: unexpected keys: param_groups.2.lr, state.1.v.step")
    H.raises(function()
      opt:load_state_dict { ["state.1.w.step"] = 1, ["state.1.w.exp_avg"] = oml.zeros(3, "float64"),
        ["state.1.w.exp_avg_sq"] = oml.zeros(2, "float64") }
    end, "state.1.w.exp_avg has size [3] but the parameter has size [2]")
    H.raises(function() opt:load_state_dict { ["state.1.w.step"] = 1, ["state.1.w.exp_avg"] = oml.zeros(2) } end,
      "missing state.1.w.exp_avg_sq")
    H.raises(function() opt:load_state_dict { ["param_groups.1.lr"] = "fast" } end,
      "oml.optim.Adam:load_state_dict: param_groups.1.lr is not a number")
    H.raises(function() opt:load_state_dict { ["param_groups.1.lr"] = -1 } end,
      "oml.optim.Adam: lr must be a number >= 0 (got -1)")
    H.raises(function() opt:load_state_dict(3) end, "oml.optim.Adam:load_state_dict: expects a table of tensors")
    assert.are.equal(0.1, opt.param_groups[1].lr)
  end)
end)

describe("oml.optim.clip_grad_norm", function()
  -- torch 1.13: clip_grad_norm_ over three parameters with gradients clip.grad.{1,2,3}
  for _, c in ipairs { { "l2", 1.0, 2 }, { "l2_large", 100.0, 2 }, { "inf", 2.0, "inf" }, { "l1", 3.0, 1 }, { "l3", 2.5, 3 } } do
    it("matches torch.nn.utils.clip_grad_norm_: " .. c[1], function()
      local entries = {}
      for i = 1, 3 do
        local g = F["clip.grad." .. i]:clone()
        entries[i] = { param = oml.zeros_like(g), grad = g }
      end
      local total = optim.clip_grad_norm(entries, c[2], { norm_type = c[3] })
      H.close(total, F["clip." .. c[1] .. ".total"]:item(), 1e-12)
      for i = 1, 3 do H.close(entries[i].grad, F[("clip.%s.%d"):format(c[1], i)], 1e-12) end
    end)
  end

  it("takes a module, an optimizer or groups and skips frozen parameters", function()
    local m = Toy()
    toy_grads(m, 1)
    m:freeze("weight")
    -- the bias gradient alone: norm sqrt(0.04 + 0.01 + 0.09)
    local total = optim.clip_grad_norm(m, 0.1)
    H.close(total, math.sqrt(0.14), 1e-15)
    H.close(m:grad("bias"), oml.tensor({ 0.2, 0.1, -0.3 }, "float64"):mul(0.1 / (math.sqrt(0.14) + 1e-6)), 1e-15)
    local opt = optim.SGD { params = { { params = m } }, lr = 1 }
    H.close(optim.clip_grad_norm(opt, 10), 0.1 / (1 + 1e-6 / math.sqrt(0.14)), 1e-12)
    m:freeze()
    assert.are.equal(0, optim.clip_grad_norm(m, 1))
  end)

  it("raises on bad arguments and, when asked, on a non-finite norm", function()
    local entries = { { param = oml.zeros(2), grad = oml.tensor { 0 / 0, 1 } } }
    H.raises(function() local _ = optim.clip_grad_norm(entries, "1") end,
      "oml.optim.clip_grad_norm: max_norm must be a number (got 1)")
    H.raises(function() local _ = optim.clip_grad_norm(entries, 1, { norm_type = -1 }) end,
      "oml.optim.clip_grad_norm: norm_type must be a number > 0 or 'inf' (got -1)")
    H.raises(function() local _ = optim.clip_grad_norm(entries, 1, { norm = 2 }) end,
      "oml.optim.clip_grad_norm: unknown option 'norm'")
    H.raises(function() local _ = optim.clip_grad_norm(5, 1) end,
      "oml.optim.clip_grad_norm: params must be a module, a list of parameter entries or a list of parameter groups (got number)")
    H.raises(function() local _ = optim.clip_grad_norm(entries, 1, { error_if_nonfinite = true }) end,
      "oml.optim.clip_grad_norm: the total norm of order 2 of the gradients is ")
    assert.is_true(optim.clip_grad_norm(entries, 1) ~= optim.clip_grad_norm(entries, 1)) -- NaN
  end)
end)

describe("oml.optim errors", function()
  local function entries()
    return { { param = oml.tensor({ 1, 2 }, "float64"), grad = oml.tensor({ 1, 1 }, "float64"), name = "w" } }
  end

  it("name the optimizer and the problem with its options", function()
    H.raises(function() local _ = optim.SGD { params = entries() } end, "oml.optim.SGD: lr is required")
    H.raises(function() local _ = optim.SGD { params = entries(), lr = -1 } end,
      "oml.optim.SGD: lr must be a number >= 0 (got -1)")
    H.raises(function() local _ = optim.Adam { params = entries(), lr = "big" } end,
      "oml.optim.Adam: lr must be a number >= 0 (got big)")
    H.raises(function() local _ = optim.SGD { params = entries(), lr = 0.1, momentum = -0.5 } end,
      "oml.optim.SGD: momentum must be a number >= 0 (got -0.5)")
    H.raises(function() local _ = optim.SGD { params = entries(), lr = 0.1, weight_decay = -1 } end,
      "oml.optim.SGD: weight_decay must be a number >= 0 (got -1)")
    H.raises(function() local _ = optim.SGD { params = entries(), lr = 0.1, nesterov = true } end,
      "oml.optim.SGD: nesterov momentum requires a momentum > 0 and zero dampening")
    H.raises(function() local _ = optim.SGD { params = entries(), lr = 0.1, nesterov = 1 } end,
      "oml.optim.SGD: nesterov must be a boolean (got 1)")
    H.raises(function() local _ = optim.Adam { params = entries(), betas = { 0.9, 1 } } end,
      "oml.optim.Adam: betas[2] must be a number in [0, 1) (got 1)")
    H.raises(function() local _ = optim.AdamW { params = entries(), betas = { -0.1, 0.9 } } end,
      "oml.optim.AdamW: betas[1] must be a number in [0, 1) (got -0.1)")
    H.raises(function() local _ = optim.Adam { params = entries(), betas = 0.9 } end,
      "oml.optim.Adam: betas must be a list of two numbers (got number)")
    H.raises(function() local _ = optim.Adam { params = entries(), eps = -1 } end,
      "oml.optim.Adam: eps must be a number >= 0 (got -1)")
    H.raises(function() local _ = optim.Adam { params = entries(), amsgrad = true } end,
      "oml.optim.Adam: unknown option 'amsgrad'")
    H.raises(function() local _ = optim.SGD { params = entries(), lr = 0.1, momentun = 0.9 } end,
      "oml.optim.SGD: unknown option 'momentun'")
    H.raises(function() local _ = optim.SGD { params = { { params = entries(), lr = 0.1, betas = 1 } }, lr = 1 } end,
      "oml.optim.SGD: unknown option 'betas'")
    H.raises(function()
      local _ = optim.SGD { params = { { params = entries() }, { params = entries(), lr = -2 } }, lr = 1 }
    end, "oml.optim.SGD: param group 2: lr must be a number >= 0 (got -2)")
    H.raises(function() local _ = optim.SGD(entries()) end,
      "oml.optim.SGD: expects one table of named arguments, {params = ..., lr = ...} (got table)")
  end)

  it("name the problem with params", function()
    local prefix = "params must be a module, a list of parameter entries or a list of parameter groups"
    H.raises(function() local _ = optim.SGD { lr = 1 } end, "oml.optim.SGD: params is required")
    H.raises(function() local _ = optim.SGD { params = 3, lr = 1 } end, "oml.optim.SGD: " .. prefix .. " (got number)")
    H.raises(function() local _ = optim.Adam { params = {} } end, "oml.optim.Adam: " .. prefix .. " (got an empty table)")
    H.raises(function() local _ = optim.Adam { params = oml.zeros(2) } end, "oml.optim.Adam: " .. prefix .. " (got tensor)")
    H.raises(function() local _ = optim.Adam { params = { { params = 7 } } } end,
      "oml.optim.Adam: param group 1: " .. prefix .. " (got number)")
    H.raises(function() local _ = optim.Adam { params = { { param = oml.zeros(2, "int64") } } } end,
      "oml.optim.Adam: parameter '1' must be a float32 or float64 tensor (got a int64 tensor of size [2])")
    H.raises(function() local _ = optim.Adam { params = { { param = oml.zeros(2), grad = 1 } } } end,
      "oml.optim.Adam: the gradient of parameter '1' must be a tensor or nil (got number)")
    local e = entries()
    H.raises(function() local _ = optim.Adam { params = { { params = e }, { params = e } } } end,
      "oml.optim.Adam: parameter 'w' appears twice")
    H.raises(function() local _ = optim.Adam { params = { e[1], { param = oml.zeros(2), name = "w" } } } end,
      "oml.optim.Adam: two parameters are named 'w'")
    H.raises(function() local _ = optim.Adam { params = Empty() } end,
      "oml.optim.Adam: params: the module has no parameters")
  end)

  it("name the parameter whose gradient or state does not fit, at step time", function()
    local p = oml.tensor({ { 1, 2, 3 }, { 4, 5, 6 } }, "float64")
    local bad = { param = p, grad = oml.zeros(3, "float64"), name = "fc.weight" }
    local opt = optim.SGD { params = { bad }, lr = 0.1 }
    H.raises(function() opt:step() end,
      "oml.optim.SGD: parameter 'fc.weight': the gradient has size [3] but the parameter has size [2,3]")
    bad.grad = oml.zeros({ 2, 3 }, "float32")
    H.raises(function() opt:step() end,
      "oml.optim.SGD: parameter 'fc.weight': the gradient is float32 but the parameter is float64")
    bad.grad = oml.zeros({ 3, 2 }, "float64"):t()
    H.raises(function() opt:step() end, "oml.optim.SGD: parameter 'fc.weight': the gradient must be contiguous")
    local view = { param = p:t(), grad = oml.zeros({ 3, 2 }, "float64"), name = "t" }
    H.raises(function() optim.Adam({ params = { view } }):step() end,
      "oml.optim.Adam: parameter 't': the parameter must be contiguous")
    opt = optim.SGD { params = { { param = p, grad = p:view(2, 3) } }, lr = 0.5 }
    opt:step() -- the gradient may be the parameter itself: p - 0.5 p
    H.close(p, { { 0.5, 1, 1.5 }, { 2, 2.5, 3 } }, 0)
    -- a learning rate a scheduler or the user set wrong is caught at the next step
    opt.param_groups[1].lr = -0.1
    H.raises(function() opt:step() end, "oml.optim.SGD: lr must be a number >= 0 (got -0.1)")
    H.raises(function() opt:step(5) end, "oml.optim.SGD: the closure must be a function (got number)")
  end)
end)

describe("oml_sgd_step and oml_adam_step", function()
  -- the engine's own checks, for callers other than oml.optim
  local T = require "oml.tensor"
  local C = T.C
  local function fails(rc, text)
    assert.are.equal(-1, rc)
    local msg = require("ffi").string(C.oml_last_error())
    assert.is_truthy(msg:find(text, 1, true), msg)
  end

  it("refuse missing or shared buffers and bad hyperparameters", function()
    local p, g = oml.tensor({ 1, 2, 3, 4 }, "float64"), oml.ones(4, "float64")
    local m, v = oml.zeros(4, "float64"), oml.zeros(4, "float64")
    fails(C.oml_sgd_step(p, g, nil, 0.1, 0.9, 0, 0, 0, 1), "momentum 0.9 needs a momentum buffer")
    fails(C.oml_sgd_step(p, g, p, 0.1, 0.9, 0, 0, 0, 1), "the momentum buffer shares memory with the parameter")
    fails(C.oml_sgd_step(p, g, m, 0.1, 0.9, 0, 0, 0, 0), "the step count must be >= 1 (got 0)")
    fails(C.oml_sgd_step(p, g, m, 0 / 0, 0.9, 0, 0, 0, 1), "the learning rate must be >= 0")
    fails(C.oml_sgd_step(p, g, m, 0.1, 0.9, 0.5, 0, 1, 1), "nesterov momentum requires a momentum > 0 and zero dampening")
    fails(C.oml_sgd_step(p, g, nil, 0.1, 0, 1 / 0, 0, 0, 1), "dampening must be finite")
    fails(C.oml_adam_step(p, g, m, m, 0.1, 0.9, 0.999, 1e-8, 0, 0, 1), "exp_avg and exp_avg_sq share memory")
    fails(C.oml_adam_step(p, g, m, v, 0.1, 1, 0.999, 1e-8, 0, 0, 1), "beta1 must be in [0, 1) (got 1)")
    fails(C.oml_adam_step(p, g, m, v, 0.1, 0.9, -0.5, 1e-8, 0, 0, 1), "beta2 must be in [0, 1) (got -0.5)")
    fails(C.oml_adam_step(p, g, m, v, 0.1, 0.9, 0.999, -1, 0, 0, 1), "eps must be >= 0 (got -1)")
    fails(C.oml_adam_step(p, g, m:narrow(1, 1, 2), v, 0.1, 0.9, 0.999, 1e-8, 0, 0, 1),
      "exp_avg has size [2] but the parameter has size [4]")
    local base = oml.zeros(5, "float64")
    fails(C.oml_adam_step(base:narrow(1, 1, 4), base:narrow(1, 2, 4), m, v, 0.1, 0.9, 0.999, 1e-8, 0, 0, 1),
      "the gradient shares memory with the parameter")
    fails(C.oml_adam_step(p, g, m, v, 0.1, 0.9, 0.999, 1e-8, -1, 1, 1), "weight_decay must be >= 0 (got -1)")
    fails(C.oml_sgd_step(oml.zeros(4, "int32"), g, nil, 0.1, 0, 0, 0, 0, 1), "the parameter is int32")
    fails(C.oml_sgd_step(T.new(), g, nil, 0.1, 0, 0, 0, 0, 1), "the parameter")
    fails(C.oml_sgd_step(p, T.new(), nil, 0.1, 0, 0, 0, 0, 1), "the gradient")
    -- nothing was written
    H.close(p, { 1, 2, 3, 4 }, 0)
    H.close(m, { 0, 0, 0, 0 }, 0)
  end)

  it("ignore the momentum buffer without momentum, and accept NULL then", function()
    local p, g = oml.tensor({ 1, 2 }, "float32"), oml.ones(2, "float32")
    assert.are.equal(0, C.oml_sgd_step(p, g, nil, 0.5, 0, 0, 0.5, 0, 7))
    H.close(p, { 1 - 0.5 * 1.5, 2 - 0.5 * 2 }, 0) -- p - lr (g + wd p)
  end)
end)
