-- oml.optim.GradScaler: dynamic loss scaling for float16 training, as
-- torch.cuda.amp.GradScaler. Gradients are computed for the loss times
-- scale, so that small ones survive float16; before the step they are
-- divided back, and a step whose gradients hold an inf or a NaN is skipped
-- while the scale backs off. After growth_interval good steps in a row the
-- scale grows. Works on gradients of any device.
--   local scaler = oml.optim.GradScaler()
--   model:backward(x, scaler:scale(criterion:backward(features, labels)))
--   scaler:unscale_(optimizer)            -- optional: before clip_grad_norm
--   scaler:step(optimizer)                -- unscales (once), steps unless inf/NaN
--   scaler:update()
local oml = require "oml"
local T = require "oml.tensor"

local raise = T.raise
local NAME = "oml.optim.GradScaler"

local GradScaler = {}
GradScaler.__index = GradScaler

local DEFAULTS = { init_scale = 65536, growth_factor = 2, backoff_factor = 0.5, growth_interval = 2000 }

local function positive(args, key)
  local v = args[key]
  if v == nil then return DEFAULTS[key] end
  if type(v) ~= "number" or v ~= v or v <= 0 or v == math.huge then
    raise(NAME, "%s must be a positive number (got %s)", key, T.show(v))
  end
  return v
end

-- GradScaler{init_scale = 65536, growth_factor = 2, backoff_factor = 0.5,
-- growth_interval = 2000}
function GradScaler.new(args)
  args = args or {}
  if type(args) ~= "table" or T.is_tensor(args) then
    raise(NAME, "expects a table of named arguments (got %s)", T.kind(args))
  end
  for k in pairs(args) do
    if DEFAULTS[k] == nil then raise(NAME, "unknown argument '%s'", tostring(k)) end
  end
  local self = setmetatable({}, GradScaler)
  self.scale_value = positive(args, "init_scale")
  self.growth_factor = positive(args, "growth_factor")
  self.backoff_factor = positive(args, "backoff_factor")
  self.growth_interval = positive(args, "growth_interval")
  if self.growth_factor <= 1 then raise(NAME, "growth_factor must be > 1 (got %s)", T.show(self.growth_factor)) end
  if self.backoff_factor >= 1 then raise(NAME, "backoff_factor must be < 1 (got %s)", T.show(self.backoff_factor)) end
  if self.growth_interval % 1 ~= 0 then
    raise(NAME, "growth_interval must be a positive integer (got %s)", T.show(self.growth_interval))
  end
  self.growth_tracker = 0   -- good steps in a row since the scale last changed
  self.found_inf = nil      -- this step's verdict once unscaled: true, false, or nil (not yet)
  return self
end

-- The loss (a number) or a gradient tensor times the scale.
function GradScaler:scale(x)
  if type(x) == "number" then return x * self.scale_value end
  T.expect_set(x, NAME .. ":scale")
  return x * self.scale_value
end

function GradScaler:get_scale() return self.scale_value end

-- The gradients of an optimizer (those a step would use) or of a module.
local function gradients(x)
  if type(x) == "table" and x.param_groups ~= nil then
    local out = {}
    for _, group in ipairs(x.param_groups) do
      for _, e in ipairs(group.params) do
        local g
        if e.module ~= nil then g = e.module:grad(e.key) else g = e.grad end
        if g ~= nil then out[#out + 1] = g end
      end
    end
    return out
  end
  if type(x) == "table" and type(x.parameters) == "function" then return select(2, x:parameters()) end
  raise(NAME, "expects an optimizer or a module (got %s)", T.kind(x))
end

-- Divides the gradients by the scale and notes whether any is inf or NaN
-- (one float64 sum per gradient, added up on their device: a single value
-- comes back). Once per step: a second call before update() is an error.
function GradScaler:unscale_(params)
  if self.found_inf ~= nil then raise(NAME .. ":unscale_", "unscale_ was already called since the last update()") end
  local inv = 1 / self.scale_value
  local total = 0
  for _, g in ipairs(gradients(params)) do
    g:mul_(inv)
    local s = g:to("float64"):sum()
    if type(total) == "number" then total = s else total = total:to(s.device) + s end
  end
  if type(total) ~= "number" then total = total:item() end
  self.found_inf = not (total == total and total > -math.huge and total < math.huge)
  return self
end

-- Unscales (unless done) and steps the optimizer, unless a gradient is inf
-- or NaN. Returns true when it stepped.
function GradScaler:step(optimizer)
  if self.found_inf == nil then self:unscale_(optimizer) end
  if self.found_inf then return false end
  optimizer:step()
  return true
end

-- The scale for the next step: backoff after an inf or NaN, growth after
-- growth_interval good steps in a row.
function GradScaler:update()
  if self.found_inf == nil then raise(NAME .. ":update", "call step (or unscale_) first") end
  if self.found_inf then
    self.scale_value = self.scale_value * self.backoff_factor
    self.growth_tracker = 0
  else
    self.growth_tracker = self.growth_tracker + 1
    if self.growth_tracker == self.growth_interval then
      self.scale_value = self.scale_value * self.growth_factor
      self.growth_tracker = 0
    end
  end
  self.found_inf = nil
end

-- {scale = 0-d float64, growth_tracker = 0-d float64}: what checkpoints hold.
function GradScaler:state_dict()
  return { scale = oml.tensor(self.scale_value, "float64"),
           growth_tracker = oml.tensor(self.growth_tracker, "float64") }
end

function GradScaler:load_state_dict(sd)
  local name = NAME .. ":load_state_dict"
  if type(sd) ~= "table" or T.is_tensor(sd) then raise(name, "expects a table of tensors (got %s)", T.kind(sd)) end
  local values = {}
  for _, key in ipairs { "scale", "growth_tracker" } do
    local v = sd[key]
    if T.is_tensor(v) and v:numel() == 1 then v = v:item() end
    local low = key == "scale" and 0 or -1
    if type(v) ~= "number" or not (v > low and v < math.huge) then
      raise(name, "%s must be a number > %d (got %s)", key, low, T.show(v))
    end
    values[key] = v
  end
  self.scale_value, self.growth_tracker, self.found_inf = values.scale, values.growth_tracker, nil
end

setmetatable(GradScaler, { __call = function(_, args) return GradScaler.new(args) end })

return GradScaler
