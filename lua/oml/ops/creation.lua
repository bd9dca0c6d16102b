-- oml.ops.creation: making tensors (empty, zeros, tensor{...}, arange, ...),
-- copying and converting them, and reading them back into Lua.
local ffi = require "ffi"
local T = require "oml.tensor"

local C = T.C
local new, check, raise = T.new, T.check, T.raise
local functions, methods = {}, {}

-- ---- creation --------------------------------------------------------------

function functions.empty(...)
  local shape, dtype, device = T.parse_shape("oml.empty", ...)
  return T.empty(shape, dtype, device, "oml.empty")
end

local function filled(name, value, ...)
  local shape, dtype, device = T.parse_shape(name, ...)
  local t = T.empty(shape, dtype, device, name)
  check(C.oml_fill(t, value), name)
  return t
end

function functions.zeros(...) return filled("oml.zeros", 0, ...) end
function functions.ones(...) return filled("oml.ones", 1, ...) end

-- oml.full(shape, value [, dtype or options])
function functions.full(shape, value, opts)
  if type(value) ~= "number" and type(value) ~= "boolean" then
    raise("oml.full", "the value must be a number (got %s)", type(value))
  end
  if type(shape) ~= "table" then raise("oml.full", "the shape must be a list of sizes (got %s)", type(shape)) end
  if type(value) == "boolean" then value = value and 1 or 0 end
  if opts == nil then return filled("oml.full", value, shape) end
  return filled("oml.full", value, shape, opts)
end

local function like(name, t, value, opts)
  T.expect_tensor(t, name, "the tensor")
  opts = type(opts) == "string" and { dtype = opts } or opts or {}
  local dtype = opts.dtype and T.dtype(opts.dtype, name) or t.dtype_
  local device = opts.device and T.device(opts.device, name) or t.device_
  local out = T.empty(t:size(), dtype, device, name)
  if value then check(C.oml_fill(out, value), name) end
  return out
end

function functions.empty_like(t, opts) return like("oml.empty_like", t, nil, opts) end
function functions.zeros_like(t, opts) return like("oml.zeros_like", t, 0, opts) end
function functions.ones_like(t, opts) return like("oml.ones_like", t, 1, opts) end
function functions.full_like(t, value, opts) return like("oml.full_like", t, value, opts) end

local function dtype_option(opts, default, name)
  if type(opts) == "string" then return T.dtype(opts, name) end
  return T.dtype(opts and opts.dtype or default, name)
end

-- oml.arange(stop), oml.arange(start, stop [, step]) [, dtype or options]:
-- values in [start, stop); int64 when every argument is an integer, as PyTorch.
function functions.arange(...)
  local args = { ... }
  local n = select("#", ...)
  local opts
  if type(args[n]) == "string" or type(args[n]) == "table" then opts = args[n]; n = n - 1 end
  local start, stop, step
  if n == 1 then start, stop, step = 0, args[1], 1
  elseif n == 2 then start, stop, step = args[1], args[2], 1
  elseif n == 3 then start, stop, step = args[1], args[2], args[3]
  else raise("oml.arange", "expected (stop), (start, stop) or (start, stop, step)") end
  for _, v in ipairs { start, stop, step } do
    if type(v) ~= "number" then raise("oml.arange", "start, stop and step must be numbers (got %s)", type(v)) end
  end
  local integral = start == math.floor(start) and stop == math.floor(stop) and step == math.floor(step)
  local t = new()
  check(C.oml_arange(t, start, stop, step, dtype_option(opts, integral and "int64" or "float32", "oml.arange")),
        "oml.arange")
  return t
end

-- oml.linspace(start, stop, steps [, dtype or options])
function functions.linspace(start, stop, steps, opts)
  if type(start) ~= "number" or type(stop) ~= "number" or type(steps) ~= "number" then
    raise("oml.linspace", "expected numbers (start, stop, steps)")
  end
  if steps ~= math.floor(steps) then raise("oml.linspace", "steps must be an integer (got %s)", steps) end
  local t = new()
  check(C.oml_linspace(t, start, stop, steps, dtype_option(opts, "float32", "oml.linspace")), "oml.linspace")
  return t
end

-- oml.eye(n [, m] [, dtype or options])
function functions.eye(n, m, opts)
  if type(m) ~= "number" then m, opts = n, m end
  if type(n) ~= "number" or n ~= math.floor(n) or m ~= math.floor(m) then
    raise("oml.eye", "sizes must be integers")
  end
  local t = new()
  check(C.oml_eye(t, n, m, dtype_option(opts, "float32", "oml.eye")), "oml.eye")
  return t
end

-- oml.tensor(data [, dtype or options]): data is a number, a boolean, or
-- nested lists of them (rectangular). float32 unless every leaf is a
-- boolean (bool) or a dtype is given.
function functions.tensor(data, opts)
  local name = "oml.tensor"
  if T.is_tensor(data) then
    return data:to(opts or data.dtype)
  end
  local shape, node = {}, data
  while type(node) == "table" do
    shape[#shape + 1] = #node
    if #shape > T.MAX_DIMS then raise(name, "data is nested deeper than %d levels", T.MAX_DIMS) end
    node = node[1]
  end
  local default = type(node) == "boolean" and "bool" or "float32"
  local dtype = dtype_option(opts, default, name)
  local device = type(opts) == "table" and T.device(opts.device, name) or T.CPU
  -- fill a float64 buffer, then convert: one path for every dtype
  local flat = T.empty(shape, 1, T.CPU, name)
  local p = ffi.cast("double*", flat.data_)
  local n = 0
  local function walk(item, depth, where)
    if depth > #shape then
      local v = item
      if type(v) == "boolean" then v = v and 1 or 0 end
      if type(v) ~= "number" then
        raise(name, "element %s is a %s, not a number", where, type(item))
      end
      p[n] = v
      n = n + 1
      return
    end
    if type(item) ~= "table" or #item ~= shape[depth] then
      raise(name, "the data is not rectangular: %s should be a list of %d", where, shape[depth])
    end
    for i = 1, shape[depth] do walk(item[i], depth + 1, where .. "[" .. i .. "]") end
  end
  walk(data, 1, "data")
  if dtype == 1 and device == T.CPU then return flat end
  local t = new()
  check(C.oml_tensor_to(flat, t, dtype, device), name)
  return t
end

-- ---- copies and conversions ------------------------------------------------

-- t:copy(src): copies src (broadcast, any dtype or device) into t; returns t.
function methods.copy(t, src)
  T.expect_tensor(src, "oml.copy", "the source")
  check(C.oml_copy(src, t), "oml.copy")
  return t
end
methods.copy_ = methods.copy

function methods.fill(t, value)
  if type(value) == "boolean" then value = value and 1 or 0 end
  if type(value) ~= "number" then raise("oml.fill", "the value must be a number (got %s)", type(value)) end
  check(C.oml_fill(t, value), "oml.fill")
  return t
end
methods.fill_ = methods.fill

function methods.zero(t) return methods.fill(t, 0) end
methods.zero_ = methods.zero

function methods.clone(t)
  local out = new()
  check(C.oml_tensor_clone(t, out), "oml.clone")
  return out
end

-- t itself when already contiguous, else a contiguous copy.
function methods.contiguous(t)
  if C.oml_tensor_is_contiguous(t) == 1 then return t end
  local out = new()
  check(C.oml_tensor_contiguous(t, out), "oml.contiguous")
  return out
end

-- t:to(dtype), t:to(device), t:to{dtype=, device=}: t itself when nothing changes.
function methods.to(t, what)
  local name = "oml.to"
  local dtype, device = t.dtype_, t.device_
  if type(what) == "table" then
    if what.dtype then dtype = T.dtype(what.dtype, name) end
    if what.device then device = T.device(what.device, name) end
  elseif type(what) == "string" and (what == "cpu" or what:match("^cuda")) then
    device = T.device(what, name)
  elseif what ~= nil then
    dtype = T.dtype(what, name)
  end
  if dtype == t.dtype_ and device == t.device_ then return t end
  local out = new()
  check(C.oml_tensor_to(t, out, dtype, device), name)
  return out
end

for method, dtype in pairs { float = "float32", double = "float64", int = "int32", long = "int64",
                             byte = "uint8", bool = "bool", half = "float16", bfloat16 = "bfloat16" } do
  methods[method] = function(t) return methods.to(t, dtype) end
end

function methods.cuda(t, device) return methods.to(t, { device = device and ("cuda:" .. device) or "cuda" }) end
function methods.cpu(t) return methods.to(t, "cpu") end

-- ---- back to Lua -----------------------------------------------------------

-- A CPU tensor whose elements Lua can read through a typed pointer.
local function readable(t)
  if t.storage_ == nil then raise("oml.totable", "the tensor is unset") end
  if t.device_ ~= T.CPU then t = methods.cpu(t) end
  if t.dtype_ == 6 or t.dtype_ == 7 then t = methods.float(t) end
  return t
end

local function reader(t)
  local p = ffi.cast(T.POINTER_TYPES[t.dtype_], t.data_)
  if t.dtype_ == 5 then return function(i) return p[i] ~= 0 end end
  if t.dtype_ == 3 then return function(i) return tonumber(p[i]) end end
  return function(i) return p[i] end
end

-- The single value of a one-element tensor.
function methods.item(t)
  if t.numel_ ~= 1 then raise("oml.item", "the tensor has %d elements, not 1", tonumber(t.numel_)) end
  t = readable(t)
  return reader(t)(0)
end

-- Nested Lua lists (a number for a 0-d tensor); int64 values beyond 2^53
-- lose precision as Lua numbers do.
function methods.totable(t)
  t = readable(t)
  local get = reader(t)
  if t.ndim_ == 0 then return get(0) end
  local function build(dim, offset)
    local out, size, stride = {}, tonumber(t.size_[dim]), tonumber(t.stride_[dim])
    local last = dim == t.ndim_ - 1
    for i = 0, size - 1 do
      if last then out[i + 1] = get(offset + i * stride)
      else out[i + 1] = build(dim + 1, offset + i * stride) end
    end
    return out
  end
  return build(0, 0)
end
methods.tolist = methods.totable

return { functions = functions, methods = methods }
