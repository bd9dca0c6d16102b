-- oml.optim.lr_scheduler: learning-rate schedules with the names, arguments
-- and arithmetic of torch.optim.lr_scheduler (PyTorch 1.13), each built from
-- one table of named arguments:
--   local sched = oml.optim.lr_scheduler.StepLR{optimizer = opt, step_size = 30, gamma = 0.1}
--   for epoch = 1, n do train(); sched:step() end
-- Building a scheduler performs its step 0, as PyTorch does: it records each
-- group's starting lr as group.initial_lr (kept if already there) and sets
-- the first lr of the schedule. Call sched:step() after opt:step().
-- ReduceLROnPlateau steps with the metric: sched:step(val_loss).
--
-- Like PyTorch's, the schedules are chainable: each step scales the groups'
-- current lr (StepLR multiplies it by gamma every step_size steps), so two
-- schedulers can drive one optimizer.
--
-- Warm-up: CosineAnnealingLR{optimizer, T_max, eta_min = 0, warmup_steps = W,
-- warmup_start_factor = f} first raises each group's lr linearly from
-- f * base_lr to base_lr over W steps (step t < W: base_lr * (f + (1 - f) * t / W),
-- as timm's warm-up and torch's LinearLR), then anneals over the next T_max
-- steps exactly as CosineAnnealingLR started at step W. It equals PyTorch's
-- SequentialLR([LinearLR(start_factor = f, total_iters = W),
-- CosineAnnealingLR(T_max, eta_min)], milestones = {W}); f = 0 (the default)
-- makes the first step's lr 0, as timm's and transformers' warm-ups do.
--
-- state_dict() is a flat table of float64 tensors (0-d for numbers, 1-D for
-- per-group lists) that oml.save writes: the progress and the numeric
-- settings. Strings and booleans (mode, anneal_strategy, ...) come from the
-- constructor. load_state_dict takes such a table (numbers may stand for
-- 0-d tensors).
local T = require "oml.tensor"
local creation = require "oml.ops.creation"

local raise = T.raise
local tensor, item = creation.functions.tensor, creation.methods.item

local M = {}

-- ---- arguments -------------------------------------------------------------------

local function optimizer_of(name, opt)
  if type(opt) ~= "table" or type(opt.param_groups) ~= "table" or #opt.param_groups == 0 then
    raise(name, "optimizer must be an oml.optim optimizer (got %s)", T.kind(opt))
  end
  return opt
end

local function number_arg(name, key, v, ok, rule)
  if type(v) ~= "number" or v ~= v or not ok(v) then raise(name, "%s must be %s (got %s)", key, rule, T.show(v)) end
  return v
end

local function any(x) return x == x end
local function positive_int(x) return x >= 1 and x % 1 == 0 and x < math.huge end
local function count(x) return x >= 0 and x % 1 == 0 and x < math.huge end

-- A number for every group: one number for all, or a list of #groups.
local function per_group(name, key, v, n, ok, rule)
  if type(v) == "table" and not T.is_tensor(v) then
    if #v ~= n then raise(name, "expected %d values for %s, got %d", n, key, #v) end
    local out = {}
    for i = 1, n do out[i] = number_arg(name, ("%s[%d]"):format(key, i), v[i], ok, rule) end
    return out
  end
  number_arg(name, key, v, ok, rule)
  local out = {}
  for i = 1, n do out[i] = v end
  return out
end

-- ---- the common part -----------------------------------------------------------------

local Scheduler = {}
Scheduler.__index = Scheduler

-- A class whose instances are made by Class{...}: checks the argument names
-- against `options` (name -> default; REQUIRED for none), then calls
-- cls.setup(self, args) with the defaults filled in.
local REQUIRED = {}

local function class(name, options, parent)
  local cls = { __name = name, options = options }
  cls.__index = cls
  return setmetatable(cls, {
    __index = parent or Scheduler,
    __call = function(c, args)
      local who = "oml.optim." .. name
      if type(args) ~= "table" or T.is_tensor(args) or args.param_groups ~= nil then
        raise(who, "expects one table of named arguments, {optimizer = opt, ...} (got %s)",
          type(args) == "table" and args.param_groups ~= nil and "an optimizer" or T.kind(args))
      end
      for k in pairs(args) do
        if options[k] == nil then raise(who, "unknown option '%s'", tostring(k)) end
      end
      local filled = {}
      for k, default in pairs(options) do
        local v = args[k]
        if v == nil then v = default end
        if v == REQUIRED then raise(who, "%s is required", k) end
        filled[k] = v
      end
      local self = setmetatable({ name = who }, c)
      self.optimizer = optimizer_of(who, filled.optimizer)
      self:setup(filled)
      return self
    end,
  })
end

-- PyTorch's _LRScheduler.__init__: base_lrs from initial_lr, then step 0.
function Scheduler:start()
  self.base_lrs = {}
  for i, group in ipairs(self.optimizer.param_groups) do
    if group.initial_lr == nil then group.initial_lr = group.lr end
    self.base_lrs[i] = group.initial_lr
  end
  self.last_epoch = -1
  self:step()
end

function Scheduler:step()
  self.last_epoch = self.last_epoch + 1
  local lrs = self:get_lr()
  self.last_lr = {}
  for i, group in ipairs(self.optimizer.param_groups) do
    group.lr = lrs[i]
    self.last_lr[i] = lrs[i]
  end
end

-- The lr of each group set by the last step (a new list).
function Scheduler:get_last_lr()
  local out = {}
  for i, lr in ipairs(self.last_lr) do out[i] = lr end
  return out
end

-- The groups' current lrs.
function Scheduler:group_lrs()
  local out = {}
  for i, group in ipairs(self.optimizer.param_groups) do out[i] = group.lr end
  return out
end

-- The fields state_dict saves: self.numbers (numbers) and self.lists (lists
-- of numbers: one per group, or milestones); an lr schedule's list starts
-- with its progress.
local function lr_fields(cls, numbers, lists)
  cls.numbers = { "last_epoch", unpack(numbers) }
  cls.lists = { "base_lrs", "last_lr", unpack(lists or {}) }
end

local function each_field(self, fn)
  for _, k in ipairs(self.numbers) do fn(k, false) end
  for _, k in ipairs(self.lists) do fn(k, true) end
end

function Scheduler:state_dict()
  local sd = {}
  each_field(self, function(k, is_list)
    local v = self[k]
    if is_list then
      if #v > 0 then sd[k] = tensor(v, "float64") end
    else
      sd[k] = tensor(v, "float64")
    end
  end)
  return sd
end

function Scheduler:load_state_dict(sd)
  local name = self.name .. ":load_state_dict"
  if type(sd) ~= "table" or T.is_tensor(sd) then raise(name, "expects a table of tensors (got %s)", T.kind(sd)) end
  local values, known, problems = {}, {}, {}
  each_field(self, function(k, is_list)
    known[k] = true
    local v = sd[k]
    local value
    if is_list then
      if T.is_tensor(v) and v.storage_ ~= nil and v.ndim_ == 1 then
        value = v:totable()
      elseif v == nil and #self[k] == 0 then
        value = {}
      elseif type(v) == "table" and not T.is_tensor(v) then
        value = v
      end
      local n = k == "milestones" and #(value or {}) or #self.optimizer.param_groups
      if value == nil or #value ~= n then
        problems[#problems + 1] = ("%s must be a list of %d numbers"):format(k, n)
      end
    else
      if type(v) == "number" then
        value = v
      elseif T.is_tensor(v) and v.storage_ ~= nil and v.numel_ == 1 then
        value = item(v)
      end
      if value == nil then problems[#problems + 1] = ("%s must be a number (got %s)"):format(k, T.show(v)) end
    end
    values[k] = value
  end)
  local unexpected = {}
  for k in pairs(sd) do
    if not known[k] then unexpected[#unexpected + 1] = tostring(k) end
  end
  table.sort(unexpected)
  if #unexpected > 0 then problems[#problems + 1] = "unexpected keys: " .. table.concat(unexpected, ", ") end
  if #problems > 0 then raise(name, "%s", table.concat(problems, "; ")) end
  for k, v in pairs(values) do self[k] = v end
  if self.derive then self:derive() end
end

-- ---- StepLR, MultiStepLR, ExponentialLR ---------------------------------------------------

M.StepLR = class("StepLR", { optimizer = REQUIRED, step_size = REQUIRED, gamma = 0.1 })
lr_fields(M.StepLR, { "step_size", "gamma" })

function M.StepLR:setup(a)
  self.step_size = number_arg(self.name, "step_size", a.step_size, positive_int, "a positive integer")
  self.gamma = number_arg(self.name, "gamma", a.gamma, any, "a number")
  self:start()
end

function M.StepLR:get_lr()
  local lrs = self:group_lrs()
  if self.last_epoch == 0 or self.last_epoch % self.step_size ~= 0 then return lrs end
  for i, lr in ipairs(lrs) do lrs[i] = lr * self.gamma end
  return lrs
end

M.MultiStepLR = class("MultiStepLR", { optimizer = REQUIRED, milestones = REQUIRED, gamma = 0.1 })
lr_fields(M.MultiStepLR, { "gamma" }, { "milestones" })

function M.MultiStepLR:setup(a)
  if type(a.milestones) ~= "table" or T.is_tensor(a.milestones) then
    raise(self.name, "milestones must be a list of step numbers (got %s)", T.kind(a.milestones))
  end
  self.milestones = {}
  for i, m in ipairs(a.milestones) do
    self.milestones[i] = number_arg(self.name, ("milestones[%d]"):format(i), m, count, "an integer >= 0")
  end
  table.sort(self.milestones)
  self.gamma = number_arg(self.name, "gamma", a.gamma, any, "a number")
  self:start()
end

-- A milestone given k times multiplies by gamma^k (PyTorch's Counter).
function M.MultiStepLR:get_lr()
  local lrs, k = self:group_lrs(), 0
  for _, m in ipairs(self.milestones) do
    if m == self.last_epoch then k = k + 1 end
  end
  if k == 0 then return lrs end
  for i, lr in ipairs(lrs) do lrs[i] = lr * self.gamma ^ k end
  return lrs
end

M.ExponentialLR = class("ExponentialLR", { optimizer = REQUIRED, gamma = REQUIRED })
lr_fields(M.ExponentialLR, { "gamma" })

function M.ExponentialLR:setup(a)
  self.gamma = number_arg(self.name, "gamma", a.gamma, any, "a number")
  self:start()
end

function M.ExponentialLR:get_lr()
  local lrs = self:group_lrs()
  if self.last_epoch == 0 then return lrs end
  for i, lr in ipairs(lrs) do lrs[i] = lr * self.gamma end
  return lrs
end

-- ---- CosineAnnealingLR, with a linear warm-up --------------------------------------------

M.CosineAnnealingLR = class("CosineAnnealingLR",
  { optimizer = REQUIRED, T_max = REQUIRED, eta_min = 0, warmup_steps = 0, warmup_start_factor = 0 })
lr_fields(M.CosineAnnealingLR, { "T_max", "eta_min", "warmup_steps", "warmup_start_factor" })

function M.CosineAnnealingLR:setup(a)
  self.T_max = number_arg(self.name, "T_max", a.T_max, positive_int, "a positive integer")
  self.eta_min = number_arg(self.name, "eta_min", a.eta_min, any, "a number")
  self.warmup_steps = number_arg(self.name, "warmup_steps", a.warmup_steps, count, "an integer >= 0")
  self.warmup_start_factor = number_arg(self.name, "warmup_start_factor", a.warmup_start_factor,
    function(x) return x >= 0 and x <= 1 end, "a number in [0, 1]")
  self:start()
end

-- PyTorch's chainable form, counted from the end of the warm-up.
function M.CosineAnnealingLR:get_lr()
  local t, w, f = self.last_epoch, self.warmup_steps, self.warmup_start_factor
  local lrs, T_max, eta_min = self:group_lrs(), self.T_max, self.eta_min
  if t < w then
    for i, base in ipairs(self.base_lrs) do lrs[i] = base * (f + (1 - f) * t / w) end
    return lrs
  end
  local e = t - w
  if e == 0 then
    if w > 0 then
      for i, base in ipairs(self.base_lrs) do lrs[i] = base end
    end
    return lrs
  end
  if (e - 1 - T_max) % (2 * T_max) == 0 then
    for i, lr in ipairs(lrs) do lrs[i] = lr + (self.base_lrs[i] - eta_min) * (1 - math.cos(math.pi / T_max)) / 2 end
    return lrs
  end
  for i, lr in ipairs(lrs) do
    lrs[i] = (1 + math.cos(math.pi * e / T_max)) / (1 + math.cos(math.pi * (e - 1) / T_max)) * (lr - eta_min) + eta_min
  end
  return lrs
end

-- ---- OneCycleLR -------------------------------------------------------------------------------

M.OneCycleLR = class("OneCycleLR", {
  optimizer = REQUIRED, max_lr = REQUIRED, total_steps = false, epochs = false, steps_per_epoch = false,
  pct_start = 0.3, anneal_strategy = "cos", cycle_momentum = true, base_momentum = 0.85, max_momentum = 0.95,
  div_factor = 25, final_div_factor = 1e4, three_phase = false,
})
lr_fields(M.OneCycleLR, { "total_steps", "pct_start" })

function M.OneCycleLR:setup(a)
  local name, groups = self.name, self.optimizer.param_groups
  if a.total_steps then
    self.total_steps = number_arg(name, "total_steps", a.total_steps, positive_int, "a positive integer")
  elseif a.epochs and a.steps_per_epoch then
    self.total_steps = number_arg(name, "epochs", a.epochs, positive_int, "a positive integer")
      * number_arg(name, "steps_per_epoch", a.steps_per_epoch, positive_int, "a positive integer")
  else
    raise(name, "give total_steps, or epochs and steps_per_epoch")
  end
  self.pct_start = number_arg(name, "pct_start", a.pct_start, function(x) return x >= 0 and x <= 1 end,
    "a number in [0, 1]")
  if a.anneal_strategy ~= "cos" and a.anneal_strategy ~= "linear" then
    raise(name, "anneal_strategy must be 'cos' or 'linear' (got %s)", T.show(a.anneal_strategy))
  end
  self.anneal_strategy = a.anneal_strategy
  if type(a.three_phase) ~= "boolean" or type(a.cycle_momentum) ~= "boolean" then
    raise(name, "three_phase and cycle_momentum must be booleans")
  end
  self.three_phase, self.cycle_momentum = a.three_phase, a.cycle_momentum
  local positive = function(x) return x > 0 end
  local div_factor = number_arg(name, "div_factor", a.div_factor, positive, "a number > 0")
  local final_div_factor = number_arg(name, "final_div_factor", a.final_div_factor, positive, "a number > 0")
  local max_lrs = per_group(name, "max_lr", a.max_lr, #groups, function(x) return x >= 0 end, "a number >= 0")
  for i, group in ipairs(groups) do
    group.initial_lr = max_lrs[i] / div_factor
    group.max_lr = max_lrs[i]
    group.min_lr = group.initial_lr / final_div_factor
  end
  if self.cycle_momentum then
    local defaults = self.optimizer.defaults or {}
    if defaults.momentum == nil and defaults.betas == nil then
      raise(name, "cycle_momentum needs an optimizer with momentum or betas")
    end
    self.use_beta1 = defaults.betas ~= nil
    local maxs = per_group(name, "max_momentum", a.max_momentum, #groups, any, "a number")
    local bases = per_group(name, "base_momentum", a.base_momentum, #groups, any, "a number")
    for i, group in ipairs(groups) do
      if self.use_beta1 then group.betas = { maxs[i], group.betas[2] } else group.momentum = maxs[i] end
      group.max_momentum, group.base_momentum = maxs[i], bases[i]
    end
  end
  self:derive()
  self:start()
end

-- The phases: each runs from the previous end_step to its own, between two
-- of the groups' values.
function M.OneCycleLR:derive()
  local n, pct = self.total_steps, self.pct_start
  if self.three_phase then
    self.phases = {
      { end_step = pct * n - 1, lr = { "initial_lr", "max_lr" }, momentum = { "max_momentum", "base_momentum" } },
      { end_step = 2 * pct * n - 2, lr = { "max_lr", "initial_lr" }, momentum = { "base_momentum", "max_momentum" } },
      { end_step = n - 1, lr = { "initial_lr", "min_lr" }, momentum = { "max_momentum", "max_momentum" } },
    }
  else
    self.phases = {
      { end_step = pct * n - 1, lr = { "initial_lr", "max_lr" }, momentum = { "max_momentum", "base_momentum" } },
      { end_step = n - 1, lr = { "max_lr", "min_lr" }, momentum = { "base_momentum", "max_momentum" } },
    }
  end
end

local function anneal(strategy, from, to, pct)
  if strategy == "cos" then return to + (from - to) / 2.0 * (math.cos(math.pi * pct) + 1) end
  return (to - from) * pct + from
end

function M.OneCycleLR:get_lr()
  local step = self.last_epoch
  if step > self.total_steps then
    raise(self.name, "stepped %d times, but total_steps is %d", step + 1, self.total_steps)
  end
  local lrs = {}
  for i, group in ipairs(self.optimizer.param_groups) do
    local start = 0
    for k, phase in ipairs(self.phases) do
      if step <= phase.end_step or k == #self.phases then
        local pct = (step - start) / (phase.end_step - start)
        lrs[i] = anneal(self.anneal_strategy, group[phase.lr[1]], group[phase.lr[2]], pct)
        if self.cycle_momentum then
          local m = anneal(self.anneal_strategy, group[phase.momentum[1]], group[phase.momentum[2]], pct)
          if self.use_beta1 then group.betas = { m, group.betas[2] } else group.momentum = m end
        end
        break
      end
      start = phase.end_step
    end
  end
  return lrs
end

-- ---- ReduceLROnPlateau -------------------------------------------------------------------------

M.ReduceLROnPlateau = class("ReduceLROnPlateau", {
  optimizer = REQUIRED, mode = "min", factor = 0.1, patience = 10, threshold = 1e-4, threshold_mode = "rel",
  cooldown = 0, min_lr = 0, eps = 1e-8,
})
M.ReduceLROnPlateau.numbers = { "last_epoch", "best", "num_bad_epochs", "cooldown_counter", "factor", "patience",
  "threshold", "cooldown", "eps" }
M.ReduceLROnPlateau.lists = { "min_lrs", "last_lr" }

function M.ReduceLROnPlateau:setup(a)
  local name = self.name
  self.factor = number_arg(name, "factor", a.factor, function(x) return x < 1 end, "a number < 1")
  if a.mode ~= "min" and a.mode ~= "max" then raise(name, "mode must be 'min' or 'max' (got %s)", T.show(a.mode)) end
  if a.threshold_mode ~= "rel" and a.threshold_mode ~= "abs" then
    raise(name, "threshold_mode must be 'rel' or 'abs' (got %s)", T.show(a.threshold_mode))
  end
  self.mode, self.threshold_mode = a.mode, a.threshold_mode
  self.patience = number_arg(name, "patience", a.patience, count, "an integer >= 0")
  self.cooldown = number_arg(name, "cooldown", a.cooldown, count, "an integer >= 0")
  self.threshold = number_arg(name, "threshold", a.threshold, any, "a number")
  self.eps = number_arg(name, "eps", a.eps, any, "a number")
  self.min_lrs = per_group(name, "min_lr", a.min_lr, #self.optimizer.param_groups, any, "a number")
  self.best = a.mode == "min" and math.huge or -math.huge
  self.num_bad_epochs, self.cooldown_counter, self.last_epoch = 0, 0, 0
  self.last_lr = self:group_lrs()
end

function M.ReduceLROnPlateau:is_better(a)
  local best, threshold = self.best, self.threshold
  if self.mode == "min" and self.threshold_mode == "rel" then return a < best * (1 - threshold) end
  if self.mode == "min" then return a < best - threshold end
  if self.threshold_mode == "rel" then return a > best * (threshold + 1) end
  return a > best + threshold
end

-- step(metric): metric is a number or a one-element tensor.
function M.ReduceLROnPlateau:step(metric)
  if T.is_tensor(metric) and metric.storage_ ~= nil and metric.numel_ == 1 then metric = item(metric) end
  if type(metric) ~= "number" then raise(self.name, "step needs the metric, a number (got %s)", T.show(metric)) end
  self.last_epoch = self.last_epoch + 1
  if self:is_better(metric) then
    self.best, self.num_bad_epochs = metric, 0
  else
    self.num_bad_epochs = self.num_bad_epochs + 1
  end
  if self.cooldown_counter > 0 then
    self.cooldown_counter = self.cooldown_counter - 1
    self.num_bad_epochs = 0 -- bad epochs in cooldown do not count
  end
  if self.num_bad_epochs > self.patience then
    for i, group in ipairs(self.optimizer.param_groups) do
      local new_lr = math.max(group.lr * self.factor, self.min_lrs[i])
      if group.lr - new_lr > self.eps then group.lr = new_lr end
    end
    self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
  end
  self.last_lr = self:group_lrs()
end

return M
