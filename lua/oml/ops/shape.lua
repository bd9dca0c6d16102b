-- oml.ops.shape: views that share storage (view, narrow, transpose, ...).
-- Dims are 1-based and may count from the end (-1 is the last).
local ffi = require "ffi"
local T = require "oml.tensor"

local C = T.C
local new, check, raise, cdim = T.new, T.check, T.raise, T.cdim
local methods = {}

-- Sizes given as numbers or as one list: t:view(2, 3) or t:view{2, 3}.
local function size_args(...)
  local first = ...
  if type(first) == "table" and not T.is_tensor(first) then return first end
  return { ... }
end

function methods.view(t, ...)
  local n, buf = T.sizes(size_args(...), "oml.view")
  local out = new()
  check(C.oml_tensor_view(t, out, n, buf), "oml.view")
  return out
end

function methods.reshape(t, ...)
  local n, buf = T.sizes(size_args(...), "oml.reshape")
  local out = new()
  check(C.oml_tensor_reshape(t, out, n, buf), "oml.reshape")
  return out
end

function methods.view_as(t, other) return methods.view(t, T.expect_tensor(other, "oml.view_as"):size()) end

-- t:flatten([start_dim [, end_dim]]): merges dims start..end (all by default).
function methods.flatten(t, start_dim, end_dim)
  if t.ndim_ == 0 then return methods.reshape(t, 1) end
  local s = cdim(t, start_dim or 1, "oml.flatten")
  local e = cdim(t, end_dim or -1, "oml.flatten")
  if s > e then raise("oml.flatten", "start_dim %d comes after end_dim %d", s + 1, e + 1) end
  local sizes, merged = {}, 1
  for d = 0, t.ndim_ - 1 do
    if d < s or d > e then sizes[#sizes + 1] = tonumber(t.size_[d])
    else
      merged = merged * tonumber(t.size_[d])
      if d == e then sizes[#sizes + 1] = merged end
    end
  end
  return methods.reshape(t, sizes)
end

-- t:narrow(dim, start, length): elements start .. start+length-1 (1-based).
function methods.narrow(t, dim, start, length)
  local d = cdim(t, dim, "oml.narrow")
  if type(start) ~= "number" or type(length) ~= "number" then
    raise("oml.narrow", "start and length must be numbers")
  end
  if start < 0 then start = start + tonumber(t.size_[d]) + 1 end
  local out = new()
  check(C.oml_tensor_narrow(t, out, d, start - 1, length), "oml.narrow")
  return out
end

-- t:select(dim, index): the slice at index (1-based; negative from the end), one dim fewer.
function methods.select(t, dim, index)
  local d = cdim(t, dim, "oml.select")
  if type(index) ~= "number" or index ~= math.floor(index) then
    raise("oml.select", "index must be an integer (got %s)", tostring(index))
  end
  if index < 0 then index = index + tonumber(t.size_[d]) + 1 end
  local out = new()
  check(C.oml_tensor_select(t, out, d, index - 1), "oml.select")
  return out
end

function methods.transpose(t, dim0, dim1)
  local out = new()
  check(C.oml_tensor_transpose(t, out, cdim(t, dim0, "oml.transpose"), cdim(t, dim1, "oml.transpose")),
        "oml.transpose")
  return out
end

-- t:t(): the transpose of a matrix (a 0-d or 1-d tensor as it is).
function methods.t(t)
  if t.ndim_ > 2 then raise("oml.t", "expects a tensor of at most 2 dims (got %d)", t.ndim_) end
  if t.ndim_ < 2 then return t end
  return methods.transpose(t, 1, 2)
end

local dims_buf = ffi.new("int32_t[8]")

function methods.permute(t, ...)
  local dims = size_args(...)
  if #dims > T.MAX_DIMS then raise("oml.permute", "too many dims (%d)", #dims) end
  if #dims ~= t.ndim_ then
    raise("oml.permute", "needs %d dims for a %d-d tensor (got %d)", t.ndim_, t.ndim_, #dims)
  end
  for i, d in ipairs(dims) do dims_buf[i - 1] = cdim(t, d, "oml.permute") end
  local out = new()
  check(C.oml_tensor_permute(t, out, #dims, dims_buf), "oml.permute")
  return out
end

-- t:expand(sizes): size-1 dims repeat without copying; -1 keeps a size.
function methods.expand(t, ...)
  local n, buf = T.sizes(size_args(...), "oml.expand")
  local out = new()
  check(C.oml_tensor_expand(t, out, n, buf), "oml.expand")
  return out
end

function methods.expand_as(t, other) return methods.expand(t, T.expect_tensor(other, "oml.expand_as"):size()) end

-- t:squeeze() drops every size-1 dim; t:squeeze(d) only dim d (if it has size 1).
function methods.squeeze(t, dim)
  local out = new()
  check(C.oml_tensor_squeeze(t, out, dim == nil and -1 or cdim(t, dim, "oml.squeeze")), "oml.squeeze")
  return out
end

-- t:unsqueeze(d): a new size-1 dim at position d (1..ndim+1; -1 appends).
function methods.unsqueeze(t, dim)
  local out = new()
  check(C.oml_tensor_unsqueeze(t, out, cdim(t, dim, "oml.unsqueeze", 1)), "oml.unsqueeze")
  return out
end

-- t:as_strided(sizes, strides [, storage_offset]) (offset 1-based, as t:storage_offset()).
function methods.as_strided(t, sizes, strides, offset)
  local name = "oml.as_strided"
  if type(sizes) ~= "table" or type(strides) ~= "table" or #sizes ~= #strides then
    raise(name, "sizes and strides must be lists of the same length")
  end
  local n, sbuf = T.sizes(sizes, name)
  local size_copy = ffi.new("int64_t[8]")
  ffi.copy(size_copy, sbuf, 8 * n)
  local _, stbuf = T.sizes(strides, name)
  local out = new()
  check(C.oml_tensor_as_strided(t, out, n, size_copy, stbuf, (offset or t:storage_offset()) - 1), name)
  return out
end

return { methods = methods }
