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

local own_prefix = "@" .. (debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "")

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
M.tensor_ct = tensor_ct

function M.is_tensor(x)
  return ffi.istype(tensor_ct, x)
end
local is_tensor = M.is_tensor

-- Tensor memory lives in C, so the Lua collector does not see it; when the
-- engine holds much more than after the last full collection, collect.
local GC_BASE = 64 * 1024 * 1024
local gc_threshold = GC_BASE

-- An unset tensor, to be filled by the engine as an output.
function M.new()
  if C.oml_memory_live_bytes() > gc_threshold then
    collectgarbage()
    gc_threshold = math.max(GC_BASE, 2 * tonumber(C.oml_memory_live_bytes()))
  end
  return tensor_ct()
end
local new = M.new

-- ---- arguments -------------------------------------------------------------

function M.expect_tensor(x, name, what)
  if not is_tensor(x) then
    M.raise(name, "%s must be a tensor (got %s)", what or "the argument", type(x))
  end
  return x
end

-- A dtype name ("float32", "long", ...) or id to its id.
function M.dtype(d, name)
  if type(d) == "number" and M.DTYPE_NAMES[d] then return d end
  local id = DTYPE_IDS[d]
  if id == nil then M.raise(name or "oml", "unknown dtype %s", tostring(d)) end
  return id
end

-- "cpu", "cuda", "cuda:N" or a number (-1 is the CPU) to a device number.
function M.device(d, name)
  if d == nil or d == "cpu" then return M.CPU end
  if type(d) == "number" and d >= -1 and d == math.floor(d) then return d end
  if d == "cuda" then return 0 end
  local n = type(d) == "string" and d:match("^cuda:(%d+)$")
  if n then return tonumber(n) end
  M.raise(name or "oml", "unknown device %s (use \"cpu\", \"cuda\" or \"cuda:N\")", tostring(d))
end

function M.device_name(device)
  return device == M.CPU and "cpu" or ("cuda:" .. device)
end

-- A Lua dim (1-based; negative counts from the end) to the engine's 0-based
-- dim. extra = 1 allows one past the last dim (for unsqueeze).
function M.cdim(t, d, name, extra)
  local n = t.ndim_ + (extra or 0)
  if type(d) ~= "number" or d ~= math.floor(d) then
    M.raise(name, "dim must be an integer (got %s)", tostring(d))
  end
  local nd = math.max(n, 1)
  local c = d < 0 and d + nd or d - 1
  if c < 0 or c >= nd then
    M.raise(name, "dim %d is out of range for a %d-d tensor", d, t.ndim_)
  end
  return c
end

-- nil (every dim), a dim, or a list of dims to the engine's dim mask.
function M.dim_mask(t, dims, name)
  if dims == nil then return 0 end
  if type(dims) == "number" then return bit.lshift(1, M.cdim(t, dims, name)) end
  if type(dims) ~= "table" then M.raise(name, "dims must be a number or a list (got %s)", type(dims)) end
  local mask = 0
  for _, d in ipairs(dims) do mask = bit.bor(mask, bit.lshift(1, M.cdim(t, d, name))) end
  return mask
end

local size_buf = ffi.new("int64_t[8]")

-- A Lua list of sizes to an int64_t[8] buffer (shared: use it at once).
function M.sizes(list, name)
  local n = #list
  if n > M.MAX_DIMS then M.raise(name, "a tensor has at most %d dims (got %d)", M.MAX_DIMS, n) end
  for i = 1, n do
    local s = list[i]
    if type(s) ~= "number" or s ~= math.floor(s) then
      M.raise(name, "size %d must be an integer (got %s)", i, tostring(s))
    end
    size_buf[i - 1] = s
  end
  return n, size_buf
end

-- Creation arguments: sizes as numbers or one list, then optionally a dtype
-- name or an options table {dtype=, device=}:
--   (2, 3)  ({2, 3})  (2, 3, "int64")  ({2, 3}, {dtype = "float64", device = "cuda"})
function M.parse_shape(name, ...)
  local n = select("#", ...)
  local args = { ... }
  local opts = {}
  local last = args[n]
  if type(last) == "string" then
    opts = { dtype = last }
    n = n - 1
  elseif type(last) == "table" and last[1] == nil and next(last) ~= nil then
    opts = last
    n = n - 1
  end
  local shape
  if n == 1 and type(args[1]) == "table" then
    shape = args[1]
  else
    shape = {}
    for i = 1, n do shape[i] = args[i] end
  end
  for i = 1, #shape do
    if type(shape[i]) ~= "number" or shape[i] < 0 or shape[i] ~= math.floor(shape[i]) then
      M.raise(name, "size %d must be a non-negative integer (got %s)", i, tostring(shape[i]))
    end
  end
  return shape, M.dtype(opts.dtype or "float32", name), M.device(opts.device, name)
end

function M.empty(shape, dtype, device, name)
  local t = new()
  local n, buf = M.sizes(shape, name)
  M.check(C.oml_tensor_empty(t, n, buf, dtype, device), name)
  return t
end

-- ---- attributes ------------------------------------------------------------

-- t:size() is a list of sizes; t:size(d) one of them.
function Tensor.size(t, d)
  if d ~= nil then return tonumber(t.size_[M.cdim(t, d, "oml.size")]) end
  local s = {}
  for i = 0, t.ndim_ - 1 do s[i + 1] = tonumber(t.size_[i]) end
  return s
end

function Tensor.stride(t, d)
  if d ~= nil then return tonumber(t.stride_[M.cdim(t, d, "oml.stride")]) end
  local s = {}
  for i = 0, t.ndim_ - 1 do s[i + 1] = tonumber(t.stride_[i]) end
  return s
end

function Tensor.dim(t) return t.ndim_ end
Tensor.nDimension = Tensor.dim
function Tensor.numel(t) return tonumber(t.numel_) end
Tensor.nElement = Tensor.numel
function Tensor.is_contiguous(t) return C.oml_tensor_is_contiguous(t) == 1 end
Tensor.isContiguous = Tensor.is_contiguous
function Tensor.storage_offset(t) return tonumber(t.offset_) + 1 end
function Tensor.is_cuda(t) return t.device_ ~= M.CPU end
function Tensor.element_size(t) return tonumber(C.oml_dtype_size(t.dtype_)) end

-- Torch7's type name: "oml.FloatTensor", or "oml.CudaFloatTensor".
function Tensor.type(t)
  return "oml." .. (t.device_ == M.CPU and "" or "Cuda") .. M.TYPE_NAMES[t.dtype_]
end

-- A typed pointer to the first element, for loops in Lua (CPU tensors).
function Tensor.data(t)
  if t.storage_ == nil then M.raise("oml.data", "the tensor is unset") end
  if t.device_ ~= M.CPU then M.raise("oml.data", "the tensor is on %s; use t:cpu()", M.device_name(t.device_)) end
  local pt = M.POINTER_TYPES[t.dtype_]
  if pt == nil then M.raise("oml.data", "%s has no Lua pointer type; convert to float32", M.DTYPE_NAMES[t.dtype_]) end
  return ffi.cast(pt, t.data_)
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

local mt = {
  __index = function(t, k)
    local m = Tensor[k]
    if m ~= nil then return m end
    local p = properties[k]
    if p then return p(t) end
    if type(k) ~= "string" then
      index_ops = index_ops or require "oml.ops.access"
      return index_ops.get(t, k)
    end
    return nil
  end,
  __newindex = function(t, k, v)
    if type(k) == "string" then M.raise("oml.Tensor", "cannot set field '%s' of a tensor", k) end
    index_ops = index_ops or require "oml.ops.access"
    index_ops.set(t, k, v)
  end,
  __gc = function(t) C.oml_tensor_release(t) end,
  __tostring = function(t) return require("oml.print").format(t) end,
  __len = function(t) return t.ndim_ > 0 and tonumber(t.size_[0]) or 0 end,
  __add = function(a, b) if is_tensor(a) then return a:add(b) end return b:add(a) end,
  __mul = function(a, b) if is_tensor(a) then return a:mul(b) end return b:mul(a) end,
  __sub = function(a, b) if is_tensor(a) then return a:sub(b) end return b:rsub(a) end,
  __div = function(a, b) if is_tensor(a) then return a:div(b) end return b:rdiv(a) end,
  __pow = function(a, b) if is_tensor(a) then return a:pow(b) end return b:rpow(a) end,
  -- Lua's % floors but C's fmod truncates: rather than pick one silently, ask.
  __mod = function() M.raise("oml.Tensor", "% is not defined for tensors; use t:fmod(x) (C's remainder)") end,
  __unm = function(a) return a:neg() end,
}
ffi.metatype(tensor_ct, mt)

return M
