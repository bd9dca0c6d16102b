-- oml.ops.creation: making tensors (empty, zeros, tensor{...}, arange, ...),
-- copying and converting them, and reading them back into Lua.
local ffi = require "ffi"
local T = require "oml.tensor"

local C = T.C
local new, check, raise, expect = T.new, T.check, T.raise, T.expect_tensor
local functions, methods = {}, {}

-- ---- creation --------------------------------------------------------------

-- A fresh tensor of shape (a list) with opts' dtype and device.
local function make(name, shape, opts, default_dtype)
  return T.empty(shape, T.dtype(opts.dtype or default_dtype or "float32", name), T.device(opts.device, name), name)
end

-- The CPU tensor t on opts' device (the engine makes ranges on the CPU).
local function on_device(name, t, opts)
  local device = T.device(opts.device, name)
  if device == T.CPU then return t end
  local out = new()
  check(C.oml_tensor_to(t, out, t.dtype_, device), name)
  return out
end

function functions.empty(...)
  return make("oml.empty", T.parse_shape("oml.empty", nil, ...))
end

local function filled(name, value, ...)
  local t = make(name, T.parse_shape(name, nil, ...))
  check(C.oml_fill(t, value), name)
  return t
end

function functions.zeros(...) return filled("oml.zeros", 0, ...) end
function functions.ones(...) return filled("oml.ones", 1, ...) end

-- oml.full(shape, value [, dtype or options])
function functions.full(shape, value, opts)
  local name = "oml.full"
  if type(shape) ~= "table" then raise(name, "the shape must be a list of sizes (got %s)", T.show(shape)) end
  local t = make(name, T.parse_shape(name, nil, shape), T.options(opts, name))
  check(C.oml_fill(t, T.scalar(value, name, "the value")), name)
  return t
end

-- A tensor of t's shape, and of its dtype and device unless opts say otherwise.
local function like(name, t, opts)
  T.expect_set(t, name)
  opts = T.options(opts, name)
  local dtype = opts.dtype and T.dtype(opts.dtype, name) or t.dtype_
  local device = opts.device and T.device(opts.device, name) or t.device_
  return T.empty(t:size(), dtype, device, name)
end

local function filled_like(name, t, value, opts)
  local out = like(name, t, opts)
  check(C.oml_fill(out, T.scalar(value, name, "the value")), name)
  return out
end

function functions.empty_like(t, opts) return like("oml.empty_like", t, opts) end
function functions.zeros_like(t, opts) return filled_like("oml.zeros_like", t, 0, opts) end
function functions.ones_like(t, opts) return filled_like("oml.ones_like", t, 1, opts) end
function functions.full_like(t, value, opts) return filled_like("oml.full_like", t, value, opts) end

-- oml.arange(stop), oml.arange(start, stop [, step]) [, dtype or options]:
-- values in [start, stop); int64 when every argument is an integer, as PyTorch.
function functions.arange(...)
  local name = "oml.arange"
  local args, n = { ... }, select("#", ...)
  while n > 0 and args[n] == nil do n = n - 1 end
  local opts = {}
  if type(args[n]) == "string" or type(args[n]) == "table" then
    opts = T.options(args[n], name)
    n = n - 1
  end
  local start, stop, step
  if n == 1 then start, stop, step = 0, args[1], 1
  elseif n == 2 then start, stop, step = args[1], args[2], 1
  elseif n == 3 then start, stop, step = args[1], args[2], args[3]
  else raise(name, "expected (stop), (start, stop) or (start, stop, step)") end
  if type(start) ~= "number" or type(stop) ~= "number" or type(step) ~= "number" then
    raise(name, "start, stop and step must be numbers (got %s, %s and %s)", T.show(start), T.show(stop), T.show(step))
  end
  local integral = start == math.floor(start) and stop == math.floor(stop) and step == math.floor(step)
  local t = new()
  check(C.oml_arange(t, start, stop, step, T.dtype(opts.dtype or (integral and "int64" or "float32"), name)), name)
  return on_device(name, t, opts)
end

-- oml.linspace(start, stop, steps [, dtype or options])
function functions.linspace(start, stop, steps, opts)
  local name = "oml.linspace"
  if type(start) ~= "number" or type(stop) ~= "number" then
    raise(name, "start and stop must be numbers (got %s and %s)", T.show(start), T.show(stop))
  end
  T.integer(steps, name, "steps")
  opts = T.options(opts, name)
  local t = new()
  check(C.oml_linspace(t, start, stop, steps, T.dtype(opts.dtype or "float32", name)), name)
  return on_device(name, t, opts)
end

-- oml.eye(n [, m] [, dtype or options])
function functions.eye(n, m, opts)
  local name = "oml.eye"
  if m == nil then m = n elseif type(m) ~= "number" then m, opts = n, m end
  T.count(n, name, "n")
  T.count(m, name, "m")
  opts = T.options(opts, name)
  local t = new()
  check(C.oml_eye(t, n, m, T.dtype(opts.dtype or "float32", name)), name)
  return on_device(name, t, opts)
end

-- The values each integer dtype holds, [low, high). Data beyond them (or
-- NaN) is refused, as torch.tensor does, rather than saturated as a
-- conversion of a tensor is; fractions truncate.
local INTEGER_RANGES = {
  [T.INT32] = { -2 ^ 31, 2 ^ 31 }, [T.INT64] = { -2 ^ 63, 2 ^ 63 }, [T.UINT8] = { 0, 256 },
}

-- oml.tensor(data [, dtype or options]): data is a number, a boolean, or
-- nested lists of them (rectangular). float32 unless every leaf is a
-- boolean (bool) or a dtype is given. From a tensor: a copy (converted as
-- t:to(opts) converts), as torch.tensor(t).
function functions.tensor(data, opts)
  local name = "oml.tensor"
  if T.is_tensor(data) then
    local out = methods.to(data, opts or data.dtype_)
    if rawequal(out, data) then out = methods.clone(data) end
    return out
  end
  local shape, node = {}, data
  while type(node) == "table" do
    shape[#shape + 1] = #node
    if #shape > T.MAX_DIMS then raise(name, "data is nested deeper than %d levels", T.MAX_DIMS) end
    node = node[1]
  end
  opts = T.options(opts, name)
  local dtype = T.dtype(opts.dtype or (type(node) == "boolean" and "bool" or "float32"), name)
  local device = T.device(opts.device, name)
  local range = INTEGER_RANGES[dtype]
  -- fill a float64 buffer, then convert: one path for every dtype
  local flat = T.empty(shape, T.FLOAT64, T.CPU, name)
  local p = ffi.cast("double*", flat.data_)
  local n = 0
  local function walk(item, depth, where)
    if depth > #shape then
      local v = item
      if type(v) == "boolean" then v = v and 1 or 0 end
      if type(v) ~= "number" then
        raise(name, "element %s is a %s, not a number", where, type(item))
      end
      if range and not (v >= range[1] and v < range[2]) then
        raise(name, "element %s (%s) does not fit %s", where, tostring(v), T.DTYPE_NAMES[dtype])
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
  if dtype == T.FLOAT64 and device == T.CPU then return flat end
  local t = new()
  check(C.oml_tensor_to(flat, t, dtype, device), name)
  return t
end

-- ---- copies and conversions ------------------------------------------------

-- t:copy(src): copies src (broadcast, any dtype or device) into t; returns t.
function methods.copy(t, src)
  expect(t, "oml.copy")
  expect(src, "oml.copy", "the source")
  check(C.oml_copy(src, t), "oml.copy")
  return t
end
methods.copy_ = methods.copy

local function fill(name, t, value)
  expect(t, name)
  check(C.oml_fill(t, T.scalar(value, name, "the value")), name)
  return t
end

function methods.fill(t, value) return fill("oml.fill", t, value) end
methods.fill_ = methods.fill
function methods.zero(t) return fill("oml.zero", t, 0) end
methods.zero_ = methods.zero

function methods.clone(t)
  expect(t, "oml.clone")
  local out = new()
  check(C.oml_tensor_clone(t, out), "oml.clone")
  return out
end

-- t itself when already contiguous, else a contiguous copy.
function methods.contiguous(t)
  expect(t, "oml.contiguous")
  if t.storage_ ~= nil and C.oml_tensor_is_contiguous(t) == 1 then return t end
  local out = new()
  check(C.oml_tensor_contiguous(t, out), "oml.contiguous")
  return out
end

-- t:to(dtype), t:to(device), t:to{dtype=, device=}: t itself when nothing changes.
function methods.to(t, what)
  local name = "oml.to"
  T.expect_set(t, name)
  local dtype, device = t.dtype_, t.device_
  if type(what) == "table" then
    what = T.options(what, name)
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

-- t:cuda([n]): on cuda:n (default cuda:0).
function methods.cuda(t, device)
  if device ~= nil then T.count(device, "oml.cuda", "the device number") end
  return methods.to(t, { device = device or "cuda" })
end
function methods.cpu(t) return methods.to(t, "cpu") end

-- ---- back to Lua -----------------------------------------------------------

-- t as a CPU tensor whose elements Lua reads through a typed pointer.
local function readable(name, t)
  T.expect_set(t, name)
  if t.device_ ~= T.CPU then t = methods.cpu(t) end
  if t.dtype_ == T.FLOAT16 or t.dtype_ == T.BFLOAT16 then t = methods.float(t) end
  return t
end

-- The single value of a one-element tensor.
function methods.item(t)
  expect(t, "oml.item")
  if t.numel_ ~= 1 then raise("oml.item", "the tensor has %d elements, not 1", tonumber(t.numel_)) end
  return T.read(readable("oml.item", t), 0)
end

-- Nested Lua lists (a number for a 0-d tensor); int64 values beyond 2^53
-- lose precision as Lua numbers do.
function methods.totable(t)
  t = readable("oml.totable", t)
  if t.ndim_ == 0 then return T.read(t, 0) end
  local read = T.read
  local function build(dim, offset)
    local out, size, stride = {}, tonumber(t.size_[dim]), tonumber(t.stride_[dim])
    local last = dim == t.ndim_ - 1
    for i = 0, size - 1 do
      if last then out[i + 1] = read(t, offset + i * stride)
      else out[i + 1] = build(dim + 1, offset + i * stride) end
    end
    return out
  end
  return build(0, 0)
end
methods.tolist = methods.totable

return { functions = functions, methods = methods }
