-- Specs for oml.optim.lr_scheduler. The lr sequences come from
-- spec/fixtures/optim/optim.safetensors, made by spec/fixtures/optim/make_optim.py
-- with torch 1.13's torch.optim.lr_scheduler: lr.<case> [n+1, 2] holds the two
-- groups' lr after construction and after each step; the cases below repeat
-- its options.
local H = require "helper"
local oml = require "oml"
local optim = require "oml.optim"

local F = oml.load("spec/fixtures/optim/optim.safetensors")
local S = optim.lr_scheduler

-- As the fixture script: two groups with lr 0.1 and 0.05, SGD with momentum
-- 0.9 (or Adam); each step moves nothing (zero gradients).
local function optimizer(adam)
  local function entry() return { param = oml.zeros(1), grad = oml.zeros(1) } end
  local groups = { { params = { entry() }, lr = 0.1 }, { params = { entry() }, lr = 0.05 } }
  if adam then return optim.Adam { params = groups } end
  return optim.SGD { params = groups, lr = 1, momentum = 0.9 }
end

local function momenta(opt, adam)
  local out = {}
  for i, g in ipairs(opt.param_groups) do out[i] = adam and g.betas[1] or g.momentum end
  return out
end

-- The lrs (and momenta) after construction and after each of n steps.
local function run(make, n, adam, metrics)
  local opt = optimizer(adam)
  local sched = make(opt)
  local lrs, moms = { sched:get_last_lr() }, { momenta(opt, adam) }
  for i = 1, n do
    opt:step()
    if metrics then sched:step(metrics[i]) else sched:step() end
    lrs[#lrs + 1] = sched:get_last_lr()
    moms[#moms + 1] = momenta(opt, adam)
    H.close(lrs[#lrs], { opt.param_groups[1].lr, opt.param_groups[2].lr }, 0)
  end
  return lrs, moms
end

local PLATEAU_METRICS = F["plateau_metrics"]:totable()

-- case -> constructor of the scheduler, steps, Adam?, metrics
local CASES = {
  step = { function(o) return S.StepLR { optimizer = o, step_size = 3, gamma = 0.5 } end, 10 },
  multistep = { function(o) return S.MultiStepLR { optimizer = o, milestones = { 2, 5, 5, 8 }, gamma = 0.1 } end, 10 },
  exponential = { function(o) return S.ExponentialLR { optimizer = o, gamma = 0.9 } end, 10 },
  cosine = { function(o) return S.CosineAnnealingLR { optimizer = o, T_max = 5, eta_min = 0.001 } end, 16 },
  -- torch: SequentialLR([LinearLR(start_factor=0.25, total_iters=4), CosineAnnealingLR(T_max=6, eta_min=0.001)], [4])
  cosine_warmup = { function(o)
    return S.CosineAnnealingLR { optimizer = o, T_max = 6, eta_min = 0.001, warmup_steps = 4, warmup_start_factor = 0.25 }
  end, 12 },
  onecycle = { function(o) return S.OneCycleLR { optimizer = o, max_lr = { 1.0, 0.5 }, total_steps = 10 } end, 10 },
  onecycle_linear = { function(o)
    return S.OneCycleLR { optimizer = o, max_lr = 0.3, total_steps = 12, pct_start = 0.25, anneal_strategy = "linear",
      div_factor = 10, final_div_factor = 100, three_phase = true }
  end, 12 },
  onecycle_adam = { function(o) return S.OneCycleLR { optimizer = o, max_lr = 0.2, epochs = 2, steps_per_epoch = 5 } end,
    10, true },
  onecycle_no_momentum = { function(o)
    return S.OneCycleLR { optimizer = o, max_lr = 0.2, total_steps = 10, cycle_momentum = false }
  end, 10 },
  plateau = { function(o) return S.ReduceLROnPlateau { optimizer = o, factor = 0.5, patience = 2, cooldown = 1 } end,
    16, false, PLATEAU_METRICS },
  plateau_max_abs = { function(o)
    return S.ReduceLROnPlateau { optimizer = o, mode = "max", factor = 0.1, patience = 1, threshold = 0.5,
      threshold_mode = "abs", min_lr = { 0.002, 0.0001 } }
  end, 16, false, PLATEAU_METRICS },
}

describe("oml.optim.lr_scheduler", function()
  for case, c in pairs(CASES) do
    it("matches torch.optim.lr_scheduler's lrs and momenta: " .. case, function()
      local lrs, moms = run(c[1], c[2], c[3], c[4])
      H.close(lrs, F["lr." .. case], 1e-13)
      H.close(moms, F["momentum." .. case], 1e-13)
    end)
  end

  it("is reachable as oml.optim.<Name> too", function()
    for _, name in ipairs { "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "OneCycleLR", "ReduceLROnPlateau" } do
      assert.are.equal(S[name], optim[name])
    end
  end)

  it("warms up linearly from the start factor, by hand", function()
    local opt = optimizer()
    local sched = S.CosineAnnealingLR { optimizer = opt, T_max = 2, warmup_steps = 4 }
    local lrs = { sched:get_last_lr()[1] }
    for _ = 1, 6 do
      sched:step()
      lrs[#lrs + 1] = sched:get_last_lr()[1]
    end
    -- 0.1 * t / 4 for t < 4, then 0.1 * (1 + cos(pi * (t - 4) / 2)) / 2
    H.close(lrs, { 0, 0.025, 0.05, 0.075, 0.1, 0.05, 0 }, 1e-15)
  end)

  it("chains: each step scales the current lr, so a manual change carries on", function()
    local opt = optimizer()
    local sched = S.StepLR { optimizer = opt, step_size = 2, gamma = 0.5 }
    sched:step()
    opt.param_groups[1].lr = 1
    sched:step()
    H.close(sched:get_last_lr(), { 0.5, 0.025 }, 0)
    assert.are.equal(0.1, opt.param_groups[1].initial_lr)
  end)

  it("returns a fresh list from get_last_lr", function()
    local opt = optimizer()
    local sched = S.ExponentialLR { optimizer = opt, gamma = 0.5 }
    local lrs = sched:get_last_lr()
    lrs[1] = 7
    assert.are.equal(0.1, sched:get_last_lr()[1])
  end)

  it("takes the metric of ReduceLROnPlateau as a one-element tensor", function()
    local opt = optimizer()
    local sched = S.ReduceLROnPlateau { optimizer = opt, patience = 0 }
    sched:step(oml.tensor { 1 })
    sched:step(oml.tensor(2, "float64"))
    H.close(sched:get_last_lr(), { 0.01, 0.005 }, 1e-15)
  end)
end)

describe("oml.optim.lr_scheduler state dicts", function()
  local dir
  setup(function() dir = H.tempdir() end)
  teardown(function() H.sh("rm -rf " .. dir) end)

  for _, case in ipairs { "step", "multistep", "cosine", "cosine_warmup", "onecycle", "plateau" } do
    it("resume through oml.save and oml.load: " .. case, function()
      local c = CASES[case]
      local expected = run(c[1], c[2], c[3], c[4])
      -- four steps, save the optimizer and the scheduler, load both into fresh ones, go on
      local opt = optimizer(c[3])
      local sched = c[1](opt)
      local function step(i)
        opt:step()
        if c[4] then sched:step(c[4][i]) else sched:step() end
      end
      for i = 1, 4 do step(i) end
      local path = dir .. "/" .. case .. ".safetensors"
      local sd = {}
      for k, v in pairs(opt:state_dict()) do sd["optimizer." .. k] = v end
      for k, v in pairs(sched:state_dict()) do sd["scheduler." .. k] = v end
      oml.save(path, sd)
      local loaded = oml.load(path)
      local osd, ssd = {}, {}
      for k, v in pairs(loaded) do
        local kind, rest = k:match("^(%a+)%.(.*)$")
        if kind == "optimizer" then osd[rest] = v else ssd[rest] = v end
      end
      opt = optimizer(c[3])
      sched = c[1](opt)
      opt:load_state_dict(osd)
      sched:load_state_dict(ssd)
      local lrs = {}
      for i = 5, c[2] do
        step(i)
        lrs[#lrs + 1] = sched:get_last_lr()
      end
      for i = 5, c[2] do H.close(lrs[i - 4], expected[i + 1], 0) end
    end)
  end

  it("holds numbers and per-group lists", function()
    local sched = S.StepLR { optimizer = optimizer(), step_size = 3 }
    sched:step()
    local sd = sched:state_dict()
    local keys = {}
    for k in pairs(sd) do keys[#keys + 1] = k end
    table.sort(keys)
    assert.are.same({ "base_lrs", "gamma", "last_epoch", "last_lr", "step_size" }, keys)
    assert.are.equal(1, sd.last_epoch:item())
    H.close(sd.base_lrs, { 0.1, 0.05 }, 0)
    -- numbers stand for 0-d tensors
    sched:load_state_dict { last_epoch = 2, step_size = 3, gamma = 0.5, base_lrs = { 0.1, 0.05 }, last_lr = { 0.1, 0.05 } }
    sched:step()
    H.close(sched:get_last_lr(), { 0.05, 0.025 }, 0)
  end)

  it("refuses unknown and malformed entries, changing nothing", function()
    local sched = S.StepLR { optimizer = optimizer(), step_size = 3 }
    local good = sched:state_dict()
    good.extra = 1
    H.raises(function() sched:load_state_dict(good) end, "oml.optim.StepLR:load_state_dict: unexpected keys: extra")
    good.extra = nil
    good.base_lrs = oml.tensor({ 1, 2, 3 }, "float64")
    H.raises(function() sched:load_state_dict(good) end,
      "oml.optim.StepLR:load_state_dict: base_lrs must be a list of 2 numbers")
    good.base_lrs, good.gamma = { 1, 2 }, "x"
    H.raises(function() sched:load_state_dict(good) end,
      "oml.optim.StepLR:load_state_dict: gamma must be a number (got x)")
    H.raises(function() sched:load_state_dict(1) end, "oml.optim.StepLR:load_state_dict: expects a table of tensors")
    assert.are.equal(0.1, sched.gamma)
  end)
end)

describe("oml.optim.lr_scheduler errors", function()
  it("name the scheduler and the problem", function()
    local opt = optimizer()
    H.raises(function() local _ = S.StepLR { optimizer = opt } end, "oml.optim.StepLR: step_size is required")
    H.raises(function() local _ = S.StepLR { optimizer = opt, step_size = 0 } end,
      "oml.optim.StepLR: step_size must be a positive integer (got 0)")
    H.raises(function() local _ = S.StepLR { optimizer = opt, step_size = 2, gama = 0.1 } end,
      "oml.optim.StepLR: unknown option 'gama'")
    H.raises(function() local _ = S.StepLR { optimizer = {}, step_size = 2 } end,
      "oml.optim.StepLR: optimizer must be an oml.optim optimizer (got table)")
    H.raises(function() local _ = S.StepLR(opt) end,
      "oml.optim.StepLR: expects one table of named arguments, {optimizer = opt, ...} (got an optimizer)")
    H.raises(function() local _ = S.StepLR(3) end,
      "oml.optim.StepLR: expects one table of named arguments, {optimizer = opt, ...} (got number)")
    H.raises(function() local _ = S.MultiStepLR { optimizer = opt, milestones = 3 } end,
      "oml.optim.MultiStepLR: milestones must be a list of step numbers (got number)")
    H.raises(function() local _ = S.MultiStepLR { optimizer = opt, milestones = { 2, 1.5 } } end,
      "oml.optim.MultiStepLR: milestones[2] must be an integer >= 0 (got 1.5)")
    H.raises(function() local _ = S.ExponentialLR { optimizer = opt, gamma = "x" } end,
      "oml.optim.ExponentialLR: gamma must be a number (got x)")
    H.raises(function() local _ = S.CosineAnnealingLR { optimizer = opt, T_max = 0 } end,
      "oml.optim.CosineAnnealingLR: T_max must be a positive integer (got 0)")
    H.raises(function() local _ = S.CosineAnnealingLR { optimizer = opt, T_max = 5, warmup_steps = -1 } end,
      "oml.optim.CosineAnnealingLR: warmup_steps must be an integer >= 0 (got -1)")
    H.raises(function() local _ = S.CosineAnnealingLR { optimizer = opt, T_max = 5, warmup_start_factor = 2 } end,
      "oml.optim.CosineAnnealingLR: warmup_start_factor must be a number in [0, 1] (got 2)")
  end)

  it("name OneCycleLR's problems", function()
    local opt = optimizer()
    H.raises(function() local _ = S.OneCycleLR { optimizer = opt, max_lr = 1 } end,
      "oml.optim.OneCycleLR: give total_steps, or epochs and steps_per_epoch")
    H.raises(function() local _ = S.OneCycleLR { optimizer = opt, max_lr = 1, total_steps = 2.5 } end,
      "oml.optim.OneCycleLR: total_steps must be a positive integer (got 2.5)")
    H.raises(function() local _ = S.OneCycleLR { optimizer = opt, max_lr = { 1 }, total_steps = 5 } end,
      "oml.optim.OneCycleLR: expected 2 values for max_lr, got 1")
    H.raises(function() local _ = S.OneCycleLR { optimizer = opt, max_lr = 1, total_steps = 5, pct_start = 1.5 } end,
      "oml.optim.OneCycleLR: pct_start must be a number in [0, 1] (got 1.5)")
    H.raises(function() local _ = S.OneCycleLR { optimizer = opt, max_lr = 1, total_steps = 5, anneal_strategy = "exp" } end,
      "oml.optim.OneCycleLR: anneal_strategy must be 'cos' or 'linear' (got exp)")
    local sched = S.OneCycleLR { optimizer = opt, max_lr = 1, total_steps = 2 }
    sched:step()
    sched:step()
    H.raises(function() sched:step() end, "oml.optim.OneCycleLR: stepped 4 times, but total_steps is 2")
  end)

  it("name ReduceLROnPlateau's problems", function()
    local opt = optimizer()
    H.raises(function() local _ = S.ReduceLROnPlateau { optimizer = opt, factor = 1 } end,
      "oml.optim.ReduceLROnPlateau: factor must be a number < 1 (got 1)")
    H.raises(function() local _ = S.ReduceLROnPlateau { optimizer = opt, mode = "mean" } end,
      "oml.optim.ReduceLROnPlateau: mode must be 'min' or 'max' (got mean)")
    H.raises(function() local _ = S.ReduceLROnPlateau { optimizer = opt, threshold_mode = "x" } end,
      "oml.optim.ReduceLROnPlateau: threshold_mode must be 'rel' or 'abs' (got x)")
    H.raises(function() local _ = S.ReduceLROnPlateau { optimizer = opt, patience = -1 } end,
      "oml.optim.ReduceLROnPlateau: patience must be an integer >= 0 (got -1)")
    H.raises(function() local _ = S.ReduceLROnPlateau { optimizer = opt, min_lr = { 0 } } end,
      "oml.optim.ReduceLROnPlateau: expected 2 values for min_lr, got 1")
    local sched = S.ReduceLROnPlateau { optimizer = opt }
    H.raises(function() sched:step() end, "oml.optim.ReduceLROnPlateau: step needs the metric, a number (got nil)")
  end)
end)
