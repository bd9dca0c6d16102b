-- oml.tensor: the Tensor type. A tensor is an `oml_tensor` struct cdata (the
-- engine's struct, read from oml.h) with a metatype; its memory lives in C
-- and goes back to the engine's cache when the cdata is collected.
--
-- This module also holds what every op module needs: raising errors at the
-- user's line, turning Lua dims into engine dims, parsing dtypes and devices,
-- and making output tensors. Op modules (oml.ops.*) add their methods to
-- M.Tensor; oml/init.lua exposes them.
local ffi = require "ffi"
local capi = require "oml.capi"

local C = capi.C
local M = {}
local Tensor = {}
M.Tensor = Tensor
M.C = C

-- dtype ids, as oml.h's enum numbers them
M.FLOAT32, M.FLOAT64, M.INT32, M.INT64, M.UINT8, M.BOOL, M.FLOAT16, M.BFLOAT16 = 0, 1, 2, 3, 4, 5, 6, 7
M.DTYPE_NAMES = { [0] = "float32", "float64", "int32", "int64", "uint8", "bool", "float16", "bfloat16" }
local DTYPE_IDS = {
  float32 = 0, float = 0, float64 = 1, double = 1, int32 = 2, int = 2, int64 = 3, long = 3,
  uint8 = 4, byte = 4, bool = 5, float16 = 6, half = 6, bfloat16 = 7,
}
M.TYPE_NAMES = { [0] = "FloatTensor", "DoubleTensor", "IntTensor", "LongTensor", "ByteTensor",
                 "BoolTensor", "HalfTensor", "BFloat16Tensor" }
-- pointer types for reading and writing elements from Lua (float16 and
-- bfloat16 are converted through float32 instead)
M.POINTER_TYPES = { [0] = ffi.typeof("float*"), ffi.typeof("double*"), ffi.typeof("int32_t*"),
                    ffi.typeof("int64_t*"), ffi.typeof("uint8_t*"), ffi.typeof("uint8_t*") }
M.CPU = -1
M.MAX_DIMS = 8

-- ---- errors ----------------------------------------------------------------

local own_prefix = "@" .. (debug.getinfo(1, "S").source:match("^@(.*/)[^/]*$") or "")

-- The stack level of the first function outside oml's own Lua files, so
-- that an error points at the user's line however deep inside oml it rose.
local function user_level()
  local level = 3
  while true do
    local info = debug.getinfo(level, "S")
    if info == nil then return 1 end
    if info.what ~= "C" and info.source:sub(1, #own_prefix) ~= own_prefix then return level - 1 end
    level = level + 1
  end
end

-- raise("oml.matmul", "shapes %s and %s do not match", a, b)
function M.raise(name, fmt, ...)
  local msg = select("#", ...) > 0 and fmt:format(...) or fmt
  error(name .. ": " .. msg, user_level())
end

-- Raises the engine's message when a C call failed.
function M.check(rc, name)
  if rc ~= 0 then
    local msg = ffi.string(C.oml_last_error())
    error(name .. ": " .. msg, user_level())
  end
end

-- ---- making tensors --------------------------------------------------------

local tensor_ct = ffi.typeof("oml_tensor")
local tensor_ptr_ct = ffi.typeof("oml_tensor *")

-- A tensor is an oml_tensor value. ffi.istype also accepts a pointer to
-- one, which may be NULL or dangling (an ffi.cast of the user's): refused.
function M.is_tensor(x)
  return ffi.istype(tensor_ct, x) and not ffi.istype(tensor_ptr_ct, x)
end
local is_tensor = M.is_tensor

-- Tensor memory lives in C, so the Lua collector does not see it; when the
-- engine holds GC_STEP more than after the last full collection, collect.
-- A full collection costs about a millisecond (the Lua heap is small), while
-- garbage tensors hold a training step's worth of memory: collect often.
local GC_BASE, GC_STEP = 64 * 1024 * 1024, 0.125
local gc_threshold = GC_BASE

-- A full collection now, for code that has just dropped many tensors (a
-- model's stage after its backward): their memory returns at once.
function M.collect()
  collectgarbage()
  gc_threshold = math.max(GC_BASE, (1 + GC_STEP) * tonumber(C.oml_memory_live_bytes()))
end

-- An unset tensor, to be filled by the engine as an output.
function M.new()
  if C.oml_memory_live_bytes() > gc_threshold then M.collect() end
  return tensor_ct()
end
local new = M.new

-- ---- arguments -------------------------------------------------------------

-- A value as a message shows it: numbers, booleans, nil and strings as
-- they are, a tensor by dtype and shape (never its elements), other values
-- by their type.
function M.show(x)
  local kind = type(x)
  if kind == "number" or kind == "boolean" or kind == "nil" or kind == "string" then return tostring(x) end
  if is_tensor(x) then
    if x.storage_ == nil then return "an unset tensor" end
    return ("a %s tensor of size %s"):format(M.DTYPE_NAMES[x.dtype_], M.shape_str(x))
  end
  return kind
end

-- A value's type for messages: "tensor" for a tensor, else Lua's type.
function M.kind(x)
  if is_tensor(x) then return "tensor" end
  return type(x)
end

-- "[2,3]"
function M.shape_str(t)
  local s = {}
  for i = 0, t.ndim_ - 1 do s[i + 1] = tonumber(t.size_[i]) end
  return "[" .. table.concat(s, ",") .. "]"
end

function M.expect_tensor(x, name, what)
  if not is_tensor(x) then
    M.raise(name, "%s must be a tensor (got %s)", what or "the input", type(x))
  end
  return x
end

-- A tensor that holds memory: an unset one (all zero, whose device_ 0
-- would read as cuda:0) cannot lend its dtype or device to a new tensor.
function M.expect_set(x, name, what)
  M.expect_tensor(x, name, what)
  if x.storage_ == nil then M.raise(name, "%s is an unset tensor", what or "the input") end
  return x
end

-- x, when it is an integer that the FFI converts to int64 exactly: a Lua
-- number in [-2^63, 2^63) (so not inf or NaN).
function M.integer(x, name, what)
  if type(x) ~= "number" or x ~= math.floor(x) or x < -2 ^ 63 or x >= 2 ^ 63 then
    M.raise(name, "%s must be an integer (got %s)", what, M.show(x))
  end
  return x
end

-- x, when it is a non-negative integer (in int64's range).
function M.count(x, name, what)
  if type(x) ~= "number" or x < 0 or x ~= math.floor(x) or x >= 2 ^ 63 then
    M.raise(name, "%s must be a non-negative integer (got %s)", what, M.show(x))
  end
  return x
end

-- A number argument; a boolean counts as 1 or 0, as in PyTorch.
function M.scalar(x, name, what)
  if type(x) == "boolean" then return x and 1 or 0 end
  if type(x) ~= "number" then M.raise(name, "%s must be a number (got %s)", what, M.kind(x)) end
  return x
end

-- An optional boolean argument (nil gives default) as the engine's 1 or 0.
function M.flag(x, default, name, what)
  if x == nil then x = default end
  if type(x) ~= "boolean" then M.raise(name, "%s must be a boolean (got %s)", what, type(x)) end
  return x and 1 or 0
end

-- A dtype name ("float32", "long", ...) or id to its id.
function M.dtype(d, name)
  if type(d) == "number" and M.DTYPE_NAMES[d] then return d end
  local id = DTYPE_IDS[d]
  if id == nil then M.raise(name, "unknown dtype %s", M.show(d)) end
  return id
end

-- "cpu", "cuda", "cuda:N" or a number (-1 is the CPU) to a device number.
function M.device(d, name)
  if d == nil or d == "cpu" then return M.CPU end
  if type(d) == "number" and d >= -1 and d < 2 ^ 31 and d == math.floor(d) then return d end
  if d == "cuda" then return 0 end
  local n = type(d) == "string" and tonumber(d:match("^cuda:(%d+)$"))
  if n and n < 2 ^ 31 then return n end
  M.raise(name, "unknown device %s (use \"cpu\", \"cuda\" or \"cuda:N\")", M.show(d))
end

function M.device_name(device)
  return device == M.CPU and "cpu" or ("cuda:" .. device)
end

-- A Lua dim (1-based; negative counts from the end) to the engine's 0-based
-- dim. extra = 1 allows one past the last dim (for unsqueeze).
function M.cdim(t, d, name, extra)
  local nd = math.max(t.ndim_ + (extra or 0), 1)
  M.integer(d, name, "dim")
  local c = d < 0 and d + nd or d - 1
  if c < 0 or c >= nd then
    M.raise(name, "dim %d is out of range for a %d-d tensor", d, t.ndim_)
  end
  return c
end

-- nil (every dim), a dim, or a list of distinct dims to the engine's dim mask.
function M.dim_mask(t, dims, name)
  if dims == nil then return 0 end
  if type(dims) == "number" then return bit.lshift(1, M.cdim(t, dims, name)) end
  if type(dims) ~= "table" then M.raise(name, "dims must be a number or a list (got %s)", M.kind(dims)) end
  local mask = 0
  for _, d in ipairs(dims) do
    local b = bit.lshift(1, M.cdim(t, d, name))
    if bit.band(mask, b) ~= 0 then M.raise(name, "dim %d appears more than once in the list of dims", d) end
    mask = bit.bor(mask, b)
  end
  return mask
end

-- Sizes given as numbers or as one list: t:view(2, 3) or t:view{2, 3}.
function M.size_args(...)
  local first = ...
  if type(first) == "table" then return first end
  return { ... }
end

local size_buf = ffi.new("int64_t[8]")

-- A Lua list of sizes to an int64_t[8] buffer (shared: use it at once).
function M.sizes(list, name, what)
  what = what or "size"
  if type(list) ~= "table" then M.raise(name, "%ss must be a list of integers (got %s)", what, M.kind(list)) end
  local n = #list
  if n > M.MAX_DIMS then M.raise(name, "a tensor has at most %d dims (got %d)", M.MAX_DIMS, n) end
  for i = 1, n do size_buf[i - 1] = M.integer(list[i], name, what .. " " .. i) end
  return n, size_buf
end

-- A table of named options rather than a list (of sizes, say).
function M.is_options(x)
  return type(x) == "table" and x[1] == nil and next(x) ~= nil
end

local CREATION_OPTIONS = { dtype = true, device = true }

-- A trailing options argument: nil, a dtype name, or a table whose keys are
-- among `allowed` (default dtype and device). Returns a table.
function M.options(opts, name, allowed)
  if opts == nil then return {} end
  if type(opts) == "string" then return { dtype = opts } end
  if type(opts) ~= "table" then
    M.raise(name, "options must be a dtype or a table (got %s)", M.kind(opts))
  end
  for k in pairs(opts) do
    if not (allowed or CREATION_OPTIONS)[k] then M.raise(name, "unknown option '%s'", tostring(k)) end
  end
  return opts
end

-- Creation arguments: sizes as numbers or one list, then optionally a dtype
-- name or an options table (keys among `allowed`, default dtype and device):
--   (2, 3)  ({2, 3})  (2, 3, "int64")  ({2, 3}, {dtype = "float64", device = "cuda"})
-- Trailing nils are ignored. Returns the shape (a list) and the options (a table).
function M.parse_shape(name, allowed, ...)
  local n = select("#", ...)
  local args = { ... }
  while n > 0 and args[n] == nil do n = n - 1 end
  local opts, last = {}, args[n]
  -- options: a dtype name, a table of them, or {} after other arguments
  if type(last) == "string" or M.is_options(last) or (n > 1 and type(last) == "table" and next(last) == nil) then
    opts = M.options(last, name, allowed)
    n = n - 1
  end
  local shape = args
  if n == 1 and type(args[1]) == "table" then
    shape, n = args[1], #args[1]
  end
  if n > M.MAX_DIMS then M.raise(name, "a tensor has at most %d dims (got %d)", M.MAX_DIMS, n) end
  local sizes = {}
  for i = 1, n do sizes[i] = M.count(shape[i], name, "size " .. i) end
  return sizes, opts
end

function M.empty(shape, dtype, device, name)
  local t = new()
  local n, buf = M.sizes(shape, name)
  M.check(C.oml_tensor_empty(t, n, buf, dtype, device), name)
  return t
end

-- ---- attributes ------------------------------------------------------------

local expect = M.expect_tensor

-- t:size() is a list of sizes; t:size(d) one of them.
function Tensor.size(t, d)
  expect(t, "oml.size")
  if d ~= nil then return tonumber(t.size_[M.cdim(t, d, "oml.size")]) end
  local s = {}
  for i = 0, t.ndim_ - 1 do s[i + 1] = tonumber(t.size_[i]) end
  return s
end

function Tensor.stride(t, d)
  expect(t, "oml.stride")
  if d ~= nil then return tonumber(t.stride_[M.cdim(t, d, "oml.stride")]) end
  local s = {}
  for i = 0, t.ndim_ - 1 do s[i + 1] = tonumber(t.stride_[i]) end
  return s
end

function Tensor.dim(t) return expect(t, "oml.dim").ndim_ end
Tensor.nDimension = Tensor.dim
function Tensor.numel(t) return tonumber(expect(t, "oml.numel").numel_) end
Tensor.nElement = Tensor.numel
function Tensor.is_contiguous(t) return C.oml_tensor_is_contiguous(expect(t, "oml.is_contiguous")) == 1 end
Tensor.isContiguous = Tensor.is_contiguous
function Tensor.storage_offset(t) return tonumber(expect(t, "oml.storage_offset").offset_) + 1 end
function Tensor.is_cuda(t) return expect(t, "oml.is_cuda").device_ ~= M.CPU end
function Tensor.element_size(t) return tonumber(C.oml_dtype_size(expect(t, "oml.element_size").dtype_)) end

-- Torch7's type name: "oml.FloatTensor", or "oml.CudaFloatTensor".
function Tensor.type(t)
  expect(t, "oml.type")
  return "oml." .. (t.device_ == M.CPU and "" or "Cuda") .. M.TYPE_NAMES[t.dtype_]
end

-- A typed pointer to the first element, for loops in Lua (CPU tensors).
function Tensor.data(t)
  M.expect_set(t, "oml.data")
  if t.device_ ~= M.CPU then M.raise("oml.data", "the tensor is on %s; use t:cpu()", M.device_name(t.device_)) end
  local pt = M.POINTER_TYPES[t.dtype_]
  if pt == nil then M.raise("oml.data", "%s has no Lua pointer type; convert to float32", M.DTYPE_NAMES[t.dtype_]) end
  return ffi.cast(pt, t.data_)
end

-- The Lua value of element i (counted in elements from t.data_) of a CPU
-- tensor whose dtype has a pointer type: a boolean for bool, else a number
-- (int64 beyond 2^53 loses precision, as Lua numbers do).
function M.read(t, i)
  local v = ffi.cast(M.POINTER_TYPES[t.dtype_], t.data_)[i]
  if t.dtype_ == M.BOOL then return v ~= 0 end
  if t.dtype_ == M.INT64 then return tonumber(v) end
  return v
end

-- Properties as PyTorch spells them: t.dtype, t.device, t.shape, t.ndim.
local properties = {
  dtype = function(t) return M.DTYPE_NAMES[t.dtype_] end,
  device = function(t) return M.device_name(t.device_) end,
  shape = function(t) return t:size() end,
  ndim = function(t) return t.ndim_ end,
}

-- ---- metatype --------------------------------------------------------------

-- Indexing: t[i] selects along dim 1 (a number for a 1-d tensor); t[{i, j}]
-- takes several dims, where an entry is a number, a {first, last} range or
-- {} for all; t[bool_mask] is masked_select; t[index_tensor] index_select.
-- These live in oml.ops.access and are looked up when first used.
local index_ops

-- The metatype also serves pointers to oml_tensor; those are not tensors
-- (see is_tensor), and their fields are never read.
local function expect_value(t)
  if not is_tensor(t) then M.raise("oml.Tensor", "a pointer to oml_tensor is not a tensor") end
end

local mt = {
  __index = function(t, k)
    local m = Tensor[k]
    if m ~= nil then return m end
    expect_value(t)
    local p = properties[k]
    if p then return p(t) end
    if type(k) ~= "string" then
      index_ops = index_ops or require "oml.ops.access"
      return index_ops.get(t, k)
    end
    return nil
  end,
  __newindex = function(t, k, v)
    expect_value(t)
    if type(k) == "string" then M.raise("oml.Tensor", "cannot set field '%s' of a tensor", k) end
    index_ops = index_ops or require "oml.ops.access"
    index_ops.set(t, k, v)
  end,
  __gc = function(t) C.oml_tensor_release(t) end,
  __tostring = function(t)
    if is_tensor(t) then return require("oml.print").format(t) end
    return "oml_tensor pointer: " .. tostring(ffi.cast("void *", t)):gsub("^cdata<.->: ", "")
  end,
  __len = function(t)
    expect_value(t)
    return t.ndim_ > 0 and tonumber(t.size_[0]) or 0
  end,
  -- either operand may be a number: the methods take it first too
  __add = function(a, b) return Tensor.add(a, b) end,
  __mul = function(a, b) return Tensor.mul(a, b) end,
  __sub = function(a, b) return Tensor.sub(a, b) end,
  __div = function(a, b) return Tensor.div(a, b) end,
  __pow = function(a, b) return Tensor.pow(a, b) end,
  -- Lua's % floors but C's fmod truncates: rather than pick one silently, ask.
  __mod = function() M.raise("oml.Tensor", "% is not defined for tensors; use t:fmod(x) (C's remainder)") end,
  __unm = function(a) return Tensor.neg(a) end,
}
ffi.metatype(tensor_ct, mt)

return M
