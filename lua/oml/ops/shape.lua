-- oml.ops.shape: views that share storage (view, narrow, transpose, ...).
-- Dims are 1-based and may count from the end (-1 is the last).
local ffi = require "ffi"
local T = require "oml.tensor"

local C = T.C
local new, check, raise, cdim, expect = T.new, T.check, T.raise, T.cdim, T.expect_tensor
local methods = {}

local function resized(name, fn, t, ...)
  expect(t, name)
  local n, buf = T.sizes(T.size_args(...), name)
  local out = new()
  check(fn(t, out, n, buf), name)
  return out
end

-- t:view(2, 3) or t:view{2, 3}: one size may be -1 (inferred).
function methods.view(t, ...) return resized("oml.view", C.oml_tensor_view, t, ...) end
-- t:reshape(...): a view when the strides allow, else a copy.
function methods.reshape(t, ...) return resized("oml.reshape", C.oml_tensor_reshape, t, ...) end
-- t:expand(sizes): size-1 dims repeat without copying; -1 keeps a size.
function methods.expand(t, ...) return resized("oml.expand", C.oml_tensor_expand, t, ...) end

function methods.view_as(t, other)
  return resized("oml.view_as", C.oml_tensor_view, t, expect(other, "oml.view_as", "the other tensor"):size())
end

function methods.expand_as(t, other)
  return resized("oml.expand_as", C.oml_tensor_expand, t, expect(other, "oml.expand_as", "the other tensor"):size())
end

-- t:flatten([start_dim [, end_dim]]): merges dims start..end (all by default).
function methods.flatten(t, start_dim, end_dim)
  local name = "oml.flatten"
  expect(t, name)
  if t.ndim_ == 0 then return methods.reshape(t, 1) end
  local s = cdim(t, start_dim or 1, name)
  local e = cdim(t, end_dim or -1, name)
  if s > e then raise(name, "start_dim %d comes after end_dim %d", s + 1, e + 1) end
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

-- A 1-based position along dim d of t, a negative one counting from the
-- end (-1 is the last); a position before the start is refused here, where
-- the message can show it as given.
local function position(name, what, t, d, i)
  if i >= 0 then return i end
  local size = tonumber(t.size_[d])
  if i < -size then raise(name, "%s %d is out of range for dim %d of size %d", what, i, d + 1, size) end
  return i + size + 1
end

-- t:narrow(dim, start, length): elements start .. start+length-1 (1-based;
-- a negative start counts from the end).
function methods.narrow(t, dim, start, length)
  local name = "oml.narrow"
  expect(t, name)
  local d = cdim(t, dim, name)
  start = position(name, "start", t, d, T.integer(start, name, "start"))
  T.integer(length, name, "length")
  local out = new()
  check(C.oml_tensor_narrow(t, out, d, start - 1, length), name)
  return out
end

-- t:select(dim, index): the slice at index (1-based; negative from the end), one dim fewer.
function methods.select(t, dim, index)
  local name = "oml.select"
  expect(t, name)
  local d = cdim(t, dim, name)
  index = position(name, "index", t, d, T.integer(index, name, "index"))
  local out = new()
  check(C.oml_tensor_select(t, out, d, index - 1), name)
  return out
end

function methods.transpose(t, dim0, dim1)
  local name = "oml.transpose"
  expect(t, name)
  local out = new()
  check(C.oml_tensor_transpose(t, out, cdim(t, dim0, name), cdim(t, dim1, name)), name)
  return out
end

-- t:t(): the transpose of a matrix (a 0-d or 1-d tensor as it is).
function methods.t(t)
  expect(t, "oml.t")
  if t.ndim_ > 2 then raise("oml.t", "expects a tensor of at most 2 dims (got %d)", t.ndim_) end
  if t.ndim_ < 2 then return t end
  return methods.transpose(t, 1, 2)
end

local dims_buf = ffi.new("int32_t[8]")

-- t:permute(dims...) or t:permute{dims}: dim i of the result is dim dims[i] of t.
function methods.permute(t, ...)
  local name = "oml.permute"
  expect(t, name)
  local dims = T.size_args(...)
  if #dims ~= t.ndim_ then
    raise(name, "needs %d dims for a %d-d tensor (got %d)", t.ndim_, t.ndim_, #dims)
  end
  for i = 1, #dims do dims_buf[i - 1] = cdim(t, dims[i], name) end
  local out = new()
  check(C.oml_tensor_permute(t, out, #dims, dims_buf), name)
  return out
end

-- t:squeeze() drops every size-1 dim; t:squeeze(d) only dim d (if it has size 1).
function methods.squeeze(t, dim)
  expect(t, "oml.squeeze")
  local out = new()
  check(C.oml_tensor_squeeze(t, out, dim == nil and -1 or cdim(t, dim, "oml.squeeze")), "oml.squeeze")
  return out
end

-- t:unsqueeze(d): a new size-1 dim at position d (1..ndim+1; -1 appends).
function methods.unsqueeze(t, dim)
  expect(t, "oml.unsqueeze")
  local out = new()
  check(C.oml_tensor_unsqueeze(t, out, cdim(t, dim, "oml.unsqueeze", 1)), "oml.unsqueeze")
  return out
end

-- t:as_strided(sizes, strides [, storage_offset]) (offset 1-based, as t:storage_offset()).
function methods.as_strided(t, sizes, strides, offset)
  local name = "oml.as_strided"
  expect(t, name)
  if type(sizes) ~= "table" or type(strides) ~= "table" or #sizes ~= #strides then
    raise(name, "sizes and strides must be lists of the same length")
  end
  offset = offset == nil and t:storage_offset() or T.integer(offset, name, "the storage offset")
  local n, sbuf = T.sizes(sizes, name)
  local size_copy = ffi.new("int64_t[8]")
  ffi.copy(size_copy, sbuf, 8 * n)
  local _, stbuf = T.sizes(strides, name, "stride")
  local out = new()
  check(C.oml_tensor_as_strided(t, out, n, size_copy, stbuf, offset - 1), name)
  return out
end

return { methods = methods }
