-- oml.optim: optimizers with fused C updates (SGD, Adam, AdamW), gradient
-- clipping by global norm, loss scaling for float16 (GradScaler), and the
-- learning-rate schedulers of oml.optim.lr_scheduler (also reachable as
-- oml.optim.StepLR, ...).
--   local opt = oml.optim.SGD{params = model, lr = 0.1, momentum = 0.9}
--   model:zeroGradParameters(); ...; model:backward(x, dy)
--   oml.optim.clip_grad_norm(model, 1.0)
--   opt:step()
--
-- Parameters. `params` is a module (its named_parameters()), a list of
-- parameter entries, or a list of parameter groups {params = <module or
-- entries>, lr = ..., <other options>} whose options override the
-- constructor's. An entry is what named_parameters() gives, {name, param,
-- module, key}, whose gradient is module:grad(key) (nil while frozen), or a
-- plain {param = tensor, grad = tensor, name = optional} (grad nil: frozen).
-- A step skips parameters without a gradient, as PyTorch skips p.grad None,
-- so freezing after the optimizer was built works. The updates follow
-- PyTorch 1.13's torch.optim single-tensor steps, including state made on a
-- parameter's first step with a gradient and per-parameter step counts.
--
-- State dicts are flat tables of tensors that oml.save writes as they are:
--   param_groups.<g>.<option>      0-d float64 (booleans as 0/1, betas [2])
--   state.<g>.<name>.<buffer>      momentum_buffer, exp_avg, exp_avg_sq
--   state.<g>.<name>.step          0-d float64 (Adam, AdamW)
-- where g counts groups from 1 and name is the entry's name (its position in
-- the group when it has none). load_state_dict accepts such a table (numbers
-- may stand for 0-d tensors), checks all of it, then copies it in.
local ffi = require "ffi"
local T = require "oml.tensor"
local creation = require "oml.ops.creation"
local elementwise = require "oml.ops.elementwise"
local reduce = require "oml.ops.reduce"
local schedulers = require "oml.optim.schedulers"

local C = T.C
local raise = T.raise
local zeros_like, tensor = creation.functions.zeros_like, creation.functions.tensor
local clone, item, to = creation.methods.clone, creation.methods.item, creation.methods.to
local zero_ = creation.methods.zero_
local mul_, norm = elementwise.methods.mul_, reduce.methods.norm

local optim = {}

-- ---- parameters ----------------------------------------------------------------

local function is_module(x)
  return type(x) == "table" and type(x.named_parameters) == "function"
end

-- The parameter tensor now (a module's own, so that it follows the module
-- when a layer replaces it) and its gradient (nil: skip it).
local function param_of(e)
  if e.module ~= nil then return e.module[e.key] end
  return e.param
end

local function grad_of(e)
  if e.module ~= nil then return e.module:grad(e.key) end
  return e.grad
end

local function is_optimizer(x)
  return type(x) == "table" and getmetatable(x) ~= nil and getmetatable(x)._spec ~= nil
end

local function is_entry(x)
  return type(x) == "table" and not T.is_tensor(x) and (x.param ~= nil or x.module ~= nil)
end

local function is_group(x)
  return type(x) == "table" and not T.is_tensor(x) and not is_module(x) and x.params ~= nil
end

local function describe(x)
  if type(x) == "table" and not T.is_tensor(x) and not is_module(x) and #x == 0 then return "an empty table" end
  return T.kind(x)
end

-- The entries of a module or of a list of entries, checked.
local function entries_of(name, x, where)
  local list
  if is_module(x) then
    list = x:named_parameters()
    if #list == 0 then raise(name, "%s: the module has no parameters", where) end
  elseif type(x) == "table" and not T.is_tensor(x) and #x > 0 and is_entry(x[1]) then
    list = x
  else
    raise(name, "%s must be a module, a list of parameter entries or a list of parameter groups (got %s)", where,
      describe(x))
  end
  for i, e in ipairs(list) do
    if not is_entry(e) then raise(name, "%s: entry %d must be a table {param = tensor, grad = tensor}", where, i) end
    local p = param_of(e)
    local label = e.name or tostring(i)
    if not T.is_tensor(p) or p.storage_ == nil or (p.dtype_ ~= T.FLOAT32 and p.dtype_ ~= T.FLOAT64) then
      raise(name, "parameter '%s' must be a float32 or float64 tensor (got %s)", label, T.show(p))
    end
    if e.module == nil and e.grad ~= nil and not T.is_tensor(e.grad) then
      raise(name, "the gradient of parameter '%s' must be a tensor or nil (got %s)", label, T.kind(e.grad))
    end
  end
  return list
end

-- params as a list of groups {params = entries, <options>}.
local function groups_of(name, params)
  if params == nil then raise(name, "params is required") end
  if type(params) == "table" and not T.is_tensor(params) and not is_module(params) and is_group(params[1]) then
    local groups = {}
    for i, g in ipairs(params) do
      if not is_group(g) then raise(name, "param group %d must be a table with params (got %s)", i, T.kind(g)) end
      local copy = {}
      for k, v in pairs(g) do copy[k] = v end
      copy.params = entries_of(name, g.params, ("param group %d: params"):format(i))
      groups[i] = copy
    end
    return groups
  end
  return { { params = entries_of(name, params, "params") } }
end

-- A tensor's memory, to find a parameter given twice.
local function address(p) return tostring(ffi.cast("uintptr_t", p.data_)) .. ":" .. tostring(p.numel_) end

-- The name of entry i of a group, for messages and state dict keys.
local function entry_name(e, i) return e.name or tostring(i) end

-- ---- the optimizer ---------------------------------------------------------------

local Optimizer = {}
Optimizer.__index = Optimizer

local function check_number(name, where, key, v, ok, rule)
  if type(v) ~= "number" or not ok(v) then raise(name, "%s%s must be %s (got %s)", where, key, rule, T.show(v)) end
end

local function nonnegative(x) return x >= 0 end
local function finite(x) return x == x and x > -math.huge and x < math.huge end
local function unit(x) return x >= 0 and x < 1 end

-- A class: its name, its options with their defaults (REQUIRED for none),
-- the checks of a group's options, the update of one parameter, and the
-- names of its state buffers.
local REQUIRED = {}

local function make_class(spec)
  local cls = {}
  cls.__index = cls
  cls.__name = spec.name
  cls._spec = spec
  return setmetatable(cls, {
    __index = Optimizer,
    __call = function(c, args)
      local self = setmetatable({}, c)
      self:_init(args)
      return self
    end,
  })
end

function Optimizer:_init(args)
  local spec = self._spec
  local name = "oml.optim." .. spec.name
  if type(args) ~= "table" or T.is_tensor(args) or args[1] ~= nil then
    raise(name, "expects one table of named arguments, {params = ..., lr = ...} (got %s)", T.kind(args))
  end
  for k in pairs(args) do
    if k ~= "params" and spec.defaults[k] == nil then raise(name, "unknown option '%s'", tostring(k)) end
  end
  self.name = name
  self.defaults = {}
  for k, v in pairs(spec.defaults) do
    if args[k] ~= nil then v = args[k] end
    self.defaults[k] = v
  end
  self.param_groups = groups_of(name, args.params)
  self.state = {}
  local seen = {}
  for gi, group in ipairs(self.param_groups) do
    local where = #self.param_groups > 1 and ("param group %d: "):format(gi) or ""
    for k in pairs(group) do
      if k ~= "params" and spec.defaults[k] == nil then raise(name, "%sunknown option '%s'", where, tostring(k)) end
    end
    for k, v in pairs(self.defaults) do
      if group[k] == nil then group[k] = v end
      if group[k] == REQUIRED then raise(name, "%s%s is required", where, k) end
    end
    if type(group.betas) == "table" then group.betas = { group.betas[1], group.betas[2] } end
    self:_check_group(gi)
    local names = {}
    for i, e in ipairs(group.params) do
      local p, label = param_of(e), entry_name(e, i)
      if seen[address(p)] then raise(name, "parameter '%s' appears twice", label) end
      if names[label] then raise(name, "%stwo parameters are named '%s'", where, label) end
      seen[address(p)], names[label] = true, true
    end
  end
end

-- Checks the options of group gi (or of `group`, its replacement).
function Optimizer:_check_group(gi, group)
  group = group or self.param_groups[gi]
  local where = #self.param_groups > 1 and ("param group %d: "):format(gi) or ""
  check_number(self.name, where, "lr", group.lr, nonnegative, "a number >= 0")
  check_number(self.name, where, "weight_decay", group.weight_decay, nonnegative, "a number >= 0")
  self._spec.check(self.name, where, group)
end

-- A parameter's state tensors as the parameter is: a module moved by
-- cuda()/float() after the state was made (or loaded) takes it along.
local function like_param(v, p)
  return to(v, { dtype = T.DTYPE_NAMES[p.dtype_], device = T.device_name(p.device_) })
end

local function follow(st, p, buffers)
  for _, buffer in ipairs(buffers) do
    local v = st[buffer]
    if v ~= nil and (v.device_ ~= p.device_ or v.dtype_ ~= p.dtype_) then st[buffer] = like_param(v, p) end
  end
end

-- step([closure]): one update of every parameter that has a gradient;
-- returns closure()'s result when a closure is given (called first).
function Optimizer:step(closure)
  local loss
  if closure ~= nil then
    if type(closure) ~= "function" then raise(self.name, "the closure must be a function (got %s)", T.kind(closure)) end
    loss = closure()
  end
  local update = self._spec.update
  for gi, group in ipairs(self.param_groups) do
    self:_check_group(gi)
    for i, e in ipairs(group.params) do
      local grad = grad_of(e)
      if grad ~= nil then
        local p = param_of(e)
        local st = self.state[e]
        if st == nil then
          st = {}
          self.state[e] = st
        end
        follow(st, p, self._spec.buffers)
        if update(p, grad, st, group) ~= 0 then
          raise(self.name, "parameter '%s': %s", entry_name(e, i), ffi.string(C.oml_last_error()))
        end
      end
    end
  end
  return loss
end

-- Zeroes the gradients (torch7's zeroGradParameters; PyTorch's zero_grad
-- with set_to_none=False).
function Optimizer:zero_grad()
  for _, group in ipairs(self.param_groups) do
    for _, e in ipairs(group.params) do
      local g = grad_of(e)
      if g ~= nil then zero_(g) end
    end
  end
end

-- ---- state dicts -----------------------------------------------------------------

local function scalar_tensor(v) return tensor(v, "float64") end

function Optimizer:state_dict()
  local sd = {}
  for gi, group in ipairs(self.param_groups) do
    for k, v in pairs(group) do
      local key = ("param_groups.%d.%s"):format(gi, k)
      if type(v) == "number" then
        sd[key] = scalar_tensor(v)
      elseif type(v) == "boolean" then
        sd[key] = scalar_tensor(v and 1 or 0)
      elseif k ~= "params" and type(v) == "table" then
        sd[key] = tensor(v, "float64")
      end
    end
    for i, e in ipairs(group.params) do
      local st = self.state[e]
      if st ~= nil then
        local prefix = ("state.%d.%s."):format(gi, entry_name(e, i))
        if st.step ~= nil then sd[prefix .. "step"] = scalar_tensor(st.step) end
        for _, buffer in ipairs(self._spec.buffers) do
          if st[buffer] ~= nil then sd[prefix .. buffer] = st[buffer] end
        end
      end
    end
  end
  return sd
end

-- A number from a number or a one-element tensor, nil otherwise.
local function number_of(v)
  if type(v) == "number" then return v end
  if T.is_tensor(v) and v.storage_ ~= nil and v.numel_ == 1 then return item(v) end
  return nil
end

-- A list of numbers from a list or a 1-D tensor, nil otherwise.
local function numbers_of(v)
  if T.is_tensor(v) and v.storage_ ~= nil and v.ndim_ == 1 then return v:totable() end
  if type(v) == "table" and not T.is_tensor(v) then
    for _, x in ipairs(v) do if type(x) ~= "number" then return nil end end
    return v
  end
  return nil
end

function Optimizer:load_state_dict(sd)
  local name = self.name .. ":load_state_dict"
  if type(sd) ~= "table" or T.is_tensor(sd) then raise(name, "expects a table of tensors (got %s)", T.kind(sd)) end
  local used, problems = {}, {}
  local options, states = {}, {}
  for gi, group in ipairs(self.param_groups) do
    -- options: every param_groups.<gi>.<key> in sd
    local prefix = ("param_groups.%d."):format(gi)
    options[gi] = {}
    for key, v in pairs(sd) do
      if type(key) == "string" and key:sub(1, #prefix) == prefix and key:find("^[%a_][%w_]*$", #prefix + 1) then
        local option = key:sub(#prefix + 1)
        local kind = type(self.defaults[option] or group[option])
        local value
        if kind == "table" then
          value = numbers_of(v)
        else
          value = number_of(v)
          if value ~= nil and kind == "boolean" then value = value ~= 0 end
        end
        if value == nil or option == "params" then
          problems[#problems + 1] = ("%s is not a %s"):format(key, kind == "table" and "list of numbers" or "number")
        end
        options[gi][option], used[key] = value, true
      end
    end
    -- state: the buffers of each parameter, as the parameter's dtype
    for i, e in ipairs(group.params) do
      local p = param_of(e)
      local sprefix = ("state.%d.%s."):format(gi, entry_name(e, i))
      local st, found = {}, false
      if self._spec.counts_steps then
        local key = sprefix .. "step"
        if sd[key] ~= nil then
          st.step, used[key], found = number_of(sd[key]), true, true
          if st.step == nil or st.step < 1 or st.step % 1 ~= 0 then
            problems[#problems + 1] = key .. " is not a step count"
          end
        end
      end
      for _, buffer in ipairs(self._spec.buffers) do
        local key, v = sprefix .. buffer, sd[sprefix .. buffer]
        if v ~= nil then
          used[key], found = true, true
          if not T.is_tensor(v) or v.storage_ == nil then
            problems[#problems + 1] = ("%s is not a tensor (got %s)"):format(key, T.kind(v))
          elseif T.shape_str(v) ~= T.shape_str(p) then
            problems[#problems + 1] = ("%s has size %s but the parameter has size %s"):format(key, T.shape_str(v),
              T.shape_str(p))
          else
            st[buffer] = v
          end
        end
      end
      if found then
        for _, key in ipairs(self._spec.required_state or {}) do
          if sd[sprefix .. key] == nil then problems[#problems + 1] = "missing " .. sprefix .. key end
        end
        states[e] = st
      end
    end
  end
  local unexpected = {}
  for key in pairs(sd) do
    if not used[key] then unexpected[#unexpected + 1] = tostring(key) end
  end
  table.sort(unexpected)
  if #unexpected > 0 then problems[#problems + 1] = "unexpected keys: " .. table.concat(unexpected, ", ") end
  if #problems > 0 then raise(name, "%s", table.concat(problems, "; ")) end
  for gi, group in ipairs(self.param_groups) do
    local merged = {}
    for k, v in pairs(group) do merged[k] = v end
    for k, v in pairs(options[gi]) do merged[k] = v end
    self:_check_group(gi, merged)
    options[gi] = merged
  end
  -- everything checked: copy in (state tensors as new tensors of the parameter's dtype and device)
  for gi, group in ipairs(self.param_groups) do
    for option, value in pairs(options[gi]) do group[option] = value end
  end
  self.state = {}
  for e, st in pairs(states) do
    local p = param_of(e)
    for _, buffer in ipairs(self._spec.buffers) do
      local v = st[buffer]
      if v ~= nil then
        local own = like_param(v, p)
        st[buffer] = rawequal(own, v) and clone(v) or own
      end
    end
    self.state[e] = st
  end
end

-- ---- SGD, Adam, AdamW --------------------------------------------------------------

optim.SGD = make_class {
  name = "SGD",
  defaults = { lr = REQUIRED, momentum = 0, dampening = 0, weight_decay = 0, nesterov = false },
  buffers = { "momentum_buffer" },
  check = function(name, where, g)
    check_number(name, where, "momentum", g.momentum, nonnegative, "a number >= 0")
    check_number(name, where, "dampening", g.dampening, finite, "a finite number")
    if type(g.nesterov) ~= "boolean" then
      raise(name, "%snesterov must be a boolean (got %s)", where, T.show(g.nesterov))
    end
    if g.nesterov and (g.momentum <= 0 or g.dampening ~= 0) then
      raise(name, "%snesterov momentum requires a momentum > 0 and zero dampening", where)
    end
  end,
  -- The engine starts the momentum buffer from the gradient when told step
  -- 1: on the first update with momentum, as PyTorch's buffer None.
  update = function(p, grad, st, g)
    local buffer, first = st.momentum_buffer, false
    if g.momentum ~= 0 and buffer == nil then
      buffer, first = zeros_like(p), true
    end
    local rc = C.oml_sgd_step(p, grad, g.momentum ~= 0 and buffer or nil, g.lr, g.momentum, g.dampening,
      g.weight_decay, g.nesterov and 1 or 0, first and 1 or 2)
    if rc == 0 and first then st.momentum_buffer = buffer end
    return rc
  end,
}

local function check_adam(name, where, g)
  if type(g.betas) ~= "table" or #g.betas ~= 2 then
    raise(name, "%sbetas must be a list of two numbers (got %s)", where, T.kind(g.betas))
  end
  check_number(name, where, "betas[1]", g.betas[1], unit, "a number in [0, 1)")
  check_number(name, where, "betas[2]", g.betas[2], unit, "a number in [0, 1)")
  check_number(name, where, "eps", g.eps, nonnegative, "a number >= 0")
end

local function adam_update(decoupled)
  return function(p, grad, st, g)
    if st.step == nil then st.step, st.exp_avg, st.exp_avg_sq = 0, zeros_like(p), zeros_like(p) end
    local rc = C.oml_adam_step(p, grad, st.exp_avg, st.exp_avg_sq, g.lr, g.betas[1], g.betas[2], g.eps,
      g.weight_decay, decoupled, st.step + 1)
    if rc == 0 then st.step = st.step + 1 end
    return rc
  end
end

optim.Adam = make_class {
  name = "Adam",
  defaults = { lr = 1e-3, betas = { 0.9, 0.999 }, eps = 1e-8, weight_decay = 0 },
  buffers = { "exp_avg", "exp_avg_sq" },
  counts_steps = true,
  required_state = { "step", "exp_avg", "exp_avg_sq" },
  check = check_adam,
  update = adam_update(0),
}

optim.AdamW = make_class {
  name = "AdamW",
  defaults = { lr = 1e-3, betas = { 0.9, 0.999 }, eps = 1e-8, weight_decay = 1e-2 },
  buffers = { "exp_avg", "exp_avg_sq" },
  counts_steps = true,
  required_state = { "step", "exp_avg", "exp_avg_sq" },
  check = check_adam,
  update = adam_update(1),
}

-- ---- gradient clipping ---------------------------------------------------------------

-- clip_grad_norm(params, max_norm [, {norm_type = 2, error_if_nonfinite = false}]):
-- as torch.nn.utils.clip_grad_norm_: the norm of all gradients together
-- (the norm of their norms); when above max_norm, every gradient is scaled
-- by max_norm / (total + 1e-6). params: a module, entries or groups (as an
-- optimizer's), or an optimizer. Returns the total norm (a number).
function optim.clip_grad_norm(params, max_norm, opts)
  local name = "oml.optim.clip_grad_norm"
  opts = T.options(opts, name, { norm_type = true, error_if_nonfinite = true })
  if type(max_norm) ~= "number" or max_norm ~= max_norm then
    raise(name, "max_norm must be a number (got %s)", T.show(max_norm))
  end
  local p = opts.norm_type == nil and 2 or opts.norm_type
  if p == "inf" then p = math.huge end
  if type(p) ~= "number" or p ~= p or p <= 0 then
    raise(name, "norm_type must be a number > 0 or 'inf' (got %s)", T.show(p))
  end
  local groups = is_optimizer(params) and params.param_groups or groups_of(name, params)
  local grads, norms = {}, {}
  for _, group in ipairs(groups) do
    for _, e in ipairs(group.params) do
      local g = grad_of(e)
      if g ~= nil then
        grads[#grads + 1] = g
        norms[#norms + 1] = item(norm(g, p))
      end
    end
  end
  if #grads == 0 then return 0 end
  local total = 0
  if p == math.huge then
    for _, n in ipairs(norms) do total = (n > total or n ~= n) and n or total end
  else
    for _, n in ipairs(norms) do total = total + n ^ p end
    total = total ^ (1 / p)
  end
  if opts.error_if_nonfinite and not finite(total) then
    raise(name, "the total norm of order %s of the gradients is %s", tostring(p), tostring(total))
  end
  local coef = max_norm / (total + 1e-6)
  if coef < 1 then
    for _, g in ipairs(grads) do mul_(g, coef) end
  end
  return total
end

optim.GradScaler = require "oml.optim.grad_scaler"

-- ---- schedulers ------------------------------------------------------------------------

optim.lr_scheduler = schedulers
for k, v in pairs(schedulers) do optim[k] = v end

return optim
