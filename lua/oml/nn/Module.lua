-- oml.nn.Module: the base of every layer, container and model (the Torch7 nn
-- contract). A module computes forward(input) and, explicitly, backward(input,
-- grad_output): the gradient with respect to its input, while it ACCUMULATES
-- the gradients of its parameters. Parameters, buffers and children are
-- registered by name, so that state dicts carry PyTorch's names
-- ("blocks.0.attn.qkv.weight") and PyTorch checkpoints load as they are.
local oml = require "oml"
local T = require "oml.tensor"

local Module = {}
Module.__index = Module
Module.__name = "Module"

-- Class(name, parent): a class whose instances are made by calling it,
-- Class(...), which runs Class.__init(self, ...). Metamethods are copied,
-- since Lua does not inherit them through __index.
function Module.class(name, parent)
  parent = parent or Module
  local cls = { __name = name, parent = parent }
  cls.__index = cls
  cls.__tostring = parent.__tostring
  return setmetatable(cls, {
    __index = parent,
    __call = function(c, ...)
      local self = setmetatable({}, c)
      self:__init(...)
      return self
    end,
  })
end

local function is_module(x)
  return type(x) == "table" and getmetatable(x) ~= nil and x.named_parameters == Module.named_parameters
    and x._children ~= nil
end
Module.is_module = is_module

local function who(self) return "oml.nn." .. self.__name end

function Module:__init()
  self._parameters = {}   -- keys, in registration order
  self.grads = {}         -- key -> gradient tensor, made on first use
  self._frozen = {}       -- key -> true for parameters that get no gradient
  self._buffers = {}      -- keys, in registration order
  self._transient = {}    -- key -> true for buffers left out of state dicts
  self._children = {}     -- names, in registration order
  self.training = true
  -- false: backward may skip the gradient of the input and return nil (a
  -- network's first layer, whose input is data, as PyTorch skips inputs
  -- that do not require grad)
  self.input_grad = true
end

function Module:register_parameter(key, tensor)
  if tensor == nil then return end
  T.expect_set(tensor, who(self) .. ":register_parameter", "the parameter '" .. tostring(key) .. "'")
  if self[key] == nil then self._parameters[#self._parameters + 1] = key end
  self[key] = tensor
  self.grads[key] = nil
end

function Module:register_buffer(key, tensor, persistent)
  T.expect_set(tensor, who(self) .. ":register_buffer", "the buffer '" .. tostring(key) .. "'")
  if self[key] == nil then self._buffers[#self._buffers + 1] = key end
  self[key] = tensor
  self._transient[key] = persistent == false or nil
end

function Module:add_module(name, module)
  if not is_module(module) then
    T.raise(who(self) .. ":add_module", "'%s' must be a module (got %s)", tostring(name), T.kind(module))
  end
  name = tostring(name)
  if self[name] == nil then self._children[#self._children + 1] = name end
  self[name] = module
  return module
end

-- The gradient tensor of the parameter `key`, to accumulate into; nil when
-- that parameter is frozen (or absent).
function Module:grad(key)
  local p = self[key]
  if self._frozen[key] or p == nil then return nil end
  local g = self.grads[key]
  if g == nil then
    g = oml.zeros_like(p)
    self.grads[key] = g
  end
  return g
end

function Module:forward()
  T.raise(who(self), "forward is not implemented")
end

function Module:backward()
  T.raise(who(self), "backward is not implemented")
end

-- ---- walking the tree --------------------------------------------------------

-- Every module of the tree, depth first, each with its dotted name ("" for self).
function Module:named_modules(prefix, out)
  out = out or {}
  prefix = prefix or ""
  out[#out + 1] = { name = prefix, module = self }
  for _, name in ipairs(self._children) do
    self[name]:named_modules(prefix == "" and name or prefix .. "." .. name, out)
  end
  return out
end

function Module:apply(fn)
  for _, entry in ipairs(self:named_modules()) do fn(entry.module) end
  return self
end

-- An ordered list of {name, param, module, key}: entry.module:grad(entry.key)
-- is the gradient to use (nil while frozen). A tensor shared by two modules
-- appears once.
function Module:named_parameters()
  local out, seen = {}, {}
  for _, m in ipairs(self:named_modules()) do
    for _, key in ipairs(m.module._parameters) do
      local p = m.module[key]
      local addr = tostring(p.data_) .. ":" .. tostring(p.numel_)
      if not seen[addr] then
        seen[addr] = true
        out[#out + 1] = { name = m.name == "" and key or m.name .. "." .. key, param = p, module = m.module, key = key }
      end
    end
  end
  return out
end

function Module:named_buffers()
  local out = {}
  for _, m in ipairs(self:named_modules()) do
    for _, key in ipairs(m.module._buffers) do
      out[#out + 1] = { name = m.name == "" and key or m.name .. "." .. key, buffer = m.module[key], module = m.module,
        key = key, persistent = not m.module._transient[key] }
    end
  end
  return out
end

-- Torch7's parameters(): two lists, the trainable parameters and their gradients.
function Module:parameters()
  local params, grads = {}, {}
  for _, e in ipairs(self:named_parameters()) do
    local g = e.module:grad(e.key)
    if g ~= nil then
      params[#params + 1] = e.param
      grads[#grads + 1] = g
    end
  end
  return params, grads
end

function Module:zeroGradParameters()
  for _, m in ipairs(self:named_modules()) do
    for _, g in pairs(m.module.grads) do g:zero_() end
  end
  return self
end

-- num_parameters({trainable = true}) counts only the parameters not frozen.
function Module:num_parameters(opts)
  opts = T.options(opts, who(self) .. ":num_parameters", { trainable = true })
  local n = 0
  for _, e in ipairs(self:named_parameters()) do
    if not (opts.trainable and e.module._frozen[e.key]) then n = n + tonumber(e.param.numel_) end
  end
  return n
end

-- ---- per-step state ------------------------------------------------------------

-- A private table of saved tensors ("_saved", "saved_"): plain (no
-- metatable) and holding a tensor, unlike the bookkeeping lists.
local function is_saved_table(key, v)
  if type(v) ~= "table" or getmetatable(v) ~= nil or type(key) ~= "string"
    or (key:sub(1, 1) ~= "_" and key:sub(-1) ~= "_") then
    return false
  end
  for _, x in pairs(v) do
    if T.is_tensor(x) then return true end
  end
  return false
end

-- clear_state(): drops what forward saved for backward and what backward
-- returned (output, grad_input, every tensor field that is neither a
-- parameter nor a buffer, private tables of them), in the whole tree.
-- Containers call it on a child once its backward is done, so a step holds
-- each activation only as long as it is needed (Torch7's clearState).
function Module:clear_state()
  for _, m in ipairs(self:named_modules()) do
    local mod = m.module
    local keep = {}
    for _, key in ipairs(mod._parameters) do keep[key] = true end
    for _, key in ipairs(mod._buffers) do keep[key] = true end
    local drop = {}
    for key, v in pairs(mod) do
      if (T.is_tensor(v) and not keep[key]) or is_saved_table(key, v) then drop[#drop + 1] = key end
    end
    for _, key in ipairs(drop) do mod[key] = nil end
    mod.output, mod.grad_input = nil, nil
  end
  return self
end

-- ---- modes, freezing, types --------------------------------------------------

function Module:train(flag)
  if flag == nil then flag = true end
  for _, m in ipairs(self:named_modules()) do m.module.training = flag and true or false end
  return self
end

function Module:evaluate() return self:train(false) end

-- freeze(): every parameter of the tree; freeze(name): the parameter of that
-- dotted name, or every parameter of the submodule of that name. A frozen
-- parameter gets no gradient (backward still returns grad_input) and
-- optimizers skip it. Its gradient tensor is dropped.
local function set_frozen(self, name, frozen, caller)
  if name ~= nil and type(name) ~= "string" then
    T.raise(caller, "the name must be a string (got %s)", T.kind(name))
  end
  local found = false
  for _, e in ipairs(self:named_parameters()) do
    if name == nil or e.name == name or e.name:sub(1, #name + 1) == name .. "." then
      found = true
      e.module._frozen[e.key] = frozen or nil
      if frozen then e.module.grads[e.key] = nil end
    end
  end
  if name ~= nil and not found then T.raise(caller, "no parameter or module named '%s'", name) end
  return self
end

function Module:freeze(name) return set_frozen(self, name, true, who(self) .. ":freeze") end
function Module:unfreeze(name) return set_frozen(self, name, false, who(self) .. ":unfreeze") end

-- type(dtype [, device]): parameters, gradients and floating-point buffers
-- converted to dtype (nil: each keeps its own) and moved to device (nil:
-- each stays where it is); integer buffers such as num_batches_tracked keep
-- their dtype and follow the device. What forward saved is dropped.
local function convert(t, dtype, device)
  local floating = t.dtype_ == T.FLOAT32 or t.dtype_ == T.FLOAT64 or t.dtype_ == T.FLOAT16 or t.dtype_ == T.BFLOAT16
  return t:to({ dtype = floating and dtype or nil, device = device })   -- t itself when nothing changes
end

function Module:type(dtype, device)
  local name = who(self) .. ":type"
  if dtype ~= nil then dtype = T.DTYPE_NAMES[T.dtype(dtype, name)] end
  if device ~= nil then device = T.device_name(T.device(device, name)) end
  for _, m in ipairs(self:named_modules()) do
    local mod = m.module
    for _, key in ipairs(mod._parameters) do
      local dev = device or T.device_name(mod[key].device_)
      mod[key] = convert(mod[key], dtype, dev)
      if mod.grads[key] then mod.grads[key] = convert(mod.grads[key], dtype, dev) end
    end
    for _, key in ipairs(mod._buffers) do
      mod[key] = convert(mod[key], dtype, device or T.device_name(mod[key].device_))
    end
  end
  return self:clear_state()
end

function Module:float() return self:type("float32") end
function Module:double() return self:type("float64") end
-- cuda([device]): float32 on the GPU (Torch7's cuda(): a CudaTensor is float32).
function Module:cuda(device) return self:type("float32", device or "cuda") end
function Module:cpu() return self:type(nil, "cpu") end

-- to(device), to(dtype) or to{dtype=, device=}, as PyTorch's module.to:
-- moves and converts without changing what is not asked.
function Module:to(what)
  local name = who(self) .. ":to"
  if type(what) == "table" then
    what = T.options(what, name)
    return self:type(what.dtype, what.device)
  end
  if type(what) == "string" and (what == "cpu" or what:match("^cuda")) then return self:type(nil, what) end
  if what == nil then T.raise(name, "expects a device, a dtype or {dtype=, device=}") end
  return self:type(what)
end

-- ---- state dicts -------------------------------------------------------------

-- A table name -> tensor of every parameter and persistent buffer (the
-- module's own tensors, not copies), and the ordered list of names.
function Module:state_dict()
  local sd, names = {}, {}
  for _, e in ipairs(self:named_parameters()) do
    sd[e.name] = e.param
    names[#names + 1] = e.name
  end
  for _, e in ipairs(self:named_buffers()) do
    if e.persistent then
      sd[e.name] = e.buffer
      names[#names + 1] = e.name
    end
  end
  return sd, names
end

local function shape_str(t) return "[" .. table.concat(t:size(), ",") .. "]" end

-- load_state_dict(sd, {strict = true}): copies sd's tensors into the
-- module's (converting dtype). Mis-shaped keys are always an error; missing
-- and unexpected keys are an error when strict. Nothing is written unless
-- everything checks. Returns {missing_keys = {...}, unexpected_keys = {...}}.
function Module:load_state_dict(sd, opts)
  local name = who(self) .. ":load_state_dict"
  if type(sd) ~= "table" or T.is_tensor(sd) then T.raise(name, "expects a table of tensors (got %s)", T.kind(sd)) end
  opts = T.options(opts, name, { strict = true })
  local strict = opts.strict ~= false
  local own, own_names = self:state_dict()
  local missing, unexpected, mismatched = {}, {}, {}
  for _, key in ipairs(own_names) do
    local src = sd[key]
    if src == nil then
      missing[#missing + 1] = key
    elseif not T.is_tensor(src) then
      mismatched[#mismatched + 1] = ("%s (a %s, not a tensor)"):format(key, T.kind(src))
    elseif shape_str(src) ~= shape_str(own[key]) then
      mismatched[#mismatched + 1] = ("%s (checkpoint %s, model %s)"):format(key, shape_str(src), shape_str(own[key]))
    end
  end
  for key in pairs(sd) do
    if own[key] == nil then unexpected[#unexpected + 1] = tostring(key) end
  end
  table.sort(unexpected)
  local problems = {}
  if #mismatched > 0 then problems[#problems + 1] = "shape mismatch: " .. table.concat(mismatched, ", ") end
  if strict and #missing > 0 then problems[#problems + 1] = "missing keys: " .. table.concat(missing, ", ") end
  if strict and #unexpected > 0 then problems[#problems + 1] = "unexpected keys: " .. table.concat(unexpected, ", ") end
  if #problems > 0 then T.raise(name, "%s", table.concat(problems, "; ")) end
  for _, key in ipairs(own_names) do
    if sd[key] ~= nil then own[key]:copy_(sd[key]) end
  end
  return { missing_keys = missing, unexpected_keys = unexpected }
end

-- ---- printing ----------------------------------------------------------------

-- The text inside the parentheses of a leaf's line; layers override it.
function Module.extra_repr() return "" end

function Module:__tostring()
  local head = self.__name .. "(" .. self:extra_repr()
  if #self._children == 0 then return head .. ")" end
  local lines = { head }
  for _, name in ipairs(self._children) do
    local child = tostring(self[name]):gsub("\n", "\n  ")
    lines[#lines + 1] = "  (" .. name .. "): " .. child
  end
  lines[#lines + 1] = ")"
  return table.concat(lines, "\n")
end

return Module
