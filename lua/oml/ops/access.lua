-- oml.ops.access: the t[key] and t[key] = value syntax, which the Tensor
-- metatype sends here for keys that are not strings.
--   t[i]             t:select(1, i) (1-based; negative from the end); a
--                    number when t is 1-d
--   t[{i, {a, b}, {}}] one entry per dim: a number selects, {first, last}
--                    narrows (inclusive, negatives from the end; {i} is
--                    {i, i}), {} keeps the whole dim; missing trailing
--                    entries keep their dims; a number per dim gives a number
--   t[bool_mask]     t:masked_select(mask)
--   t[index_tensor]  t:index_select(1, index) (int32 or int64)
-- Assignment writes a number (a fill) or a tensor (a broadcast copy) into
-- the same place; t[mask] = number is masked_fill_, t[index] = number is
-- index_fill_ on dim 1, t[index] = tensor is index_copy_ on dim 1.
local ffi = require "ffi"
local T = require "oml.tensor"

local C = T.C
local new, check, raise, is_tensor = T.new, T.check, T.raise, T.is_tensor
local NAME = "oml.Tensor"
local BOOL, INT32, INT64, FLOAT64 = T.BOOL, T.INT32, T.INT64, T.FLOAT64

local function integer(i, what) T.integer(i, NAME, what) end

-- The 1-based position of index i (negative from the end) in a dim of size
-- `size`; dim is the key's dim, for the message.
local function position(i, size, dim)
  integer(i, "an index")
  local p = i < 0 and i + size + 1 or i
  if p < 1 or p > size then raise(NAME, "index %d is out of range for dim %d of size %d", i, dim, size) end
  return p
end

local function select(t, d, p)
  local out = new()
  check(C.oml_tensor_select(t, out, d, p - 1), NAME)
  return out
end

-- The view of t that a table key names, and whether every entry was a number.
local function view(t, key)
  local n = #key
  if n > t.ndim_ then raise(NAME, "%d index entries for a %d-d tensor", n, t.ndim_) end
  local v, d, numbers = t, 0, true -- d: v's dim (0-based) that entry k indexes
  for k = 1, n do
    local e, size = key[k], tonumber(v.size_[d])
    if type(e) == "number" then
      v = select(v, d, position(e, size, k))
    elseif type(e) == "table" and not is_tensor(e) then
      numbers = false
      if next(e) ~= nil then
        local first, last = e[1], e[2] or e[1]
        if type(first) ~= "number" or type(last) ~= "number" or #e > 2 then
          raise(NAME, "index entry %d must be a number, a {first, last} range or {}", k)
        end
        integer(first, "a range bound")
        integer(last, "a range bound")
        local f = first < 0 and first + size + 1 or first
        local l = last < 0 and last + size + 1 or last
        if f < 1 or f > size + 1 or l < f - 1 or l > size then
          raise(NAME, "range %d..%d is out of range for dim %d of size %d", first, last, k, size)
        end
        local out = new()
        check(C.oml_tensor_narrow(v, out, d, f - 1, l - f + 1), NAME)
        v = out
      end
      d = d + 1
    else
      raise(NAME, "index entry %d must be a number, a {first, last} range or {} (got %s)", k, type(e))
    end
  end
  return v, numbers and n == t.ndim_
end

-- The value of the element of t at element offset i from its start.
local function read(t, i)
  if t.device_ ~= T.CPU or T.POINTER_TYPES[t.dtype_] == nil then
    local out = new()
    check(C.oml_tensor_as_strided(t, out, 0, nil, nil, t.offset_ + i), NAME)
    return out:item()
  end
  return T.read(t, i)
end

local function tensor_key(t, key)
  if key.dtype_ == BOOL then
    local out = new()
    check(C.oml_masked_select(t, key, out), NAME)
    return out
  end
  if key.dtype_ == INT32 or key.dtype_ == INT64 then
    if t.ndim_ == 0 then raise(NAME, "cannot index a 0-d tensor with an index tensor") end
    local out = new()
    check(C.oml_index_select(t, key, out, 0), NAME)
    return out
  end
  raise(NAME, "a tensor key must be bool, int32 or int64 (got %s)", T.DTYPE_NAMES[key.dtype_])
end

local M = {}

function M.get(t, key)
  T.expect_set(t, NAME, "the tensor")
  local kind = type(key)
  if kind == "number" then
    if t.ndim_ == 0 then raise(NAME, "cannot index a 0-d tensor with a number (use t:item())") end
    local p = position(key, tonumber(t.size_[0]), 1)
    if t.ndim_ == 1 then return read(t, (p - 1) * tonumber(t.stride_[0])) end
    return select(t, 0, p)
  end
  if is_tensor(key) then return tensor_key(t, key) end
  if kind ~= "table" then raise(NAME, "cannot index a tensor with a %s", kind) end
  local v, scalar = view(t, key)
  if scalar then return read(v, 0) end
  return v
end

-- t[index_tensor] = value (a number, or a tensor broadcast to the slices)
local function set_indexed(t, key, value)
  if t.ndim_ == 0 then raise(NAME, "cannot index a 0-d tensor with an index tensor") end
  if type(value) == "number" then
    check(C.oml_index_fill(key, t, 0, value), NAME)
    return
  end
  local size = t:size()
  size[1] = tonumber(key.numel_)
  local n, buf = T.sizes(size, NAME)
  local src = new()
  check(C.oml_tensor_expand(value, src, n, buf), NAME)
  if src.dtype_ ~= t.dtype_ then
    local converted = new()
    check(C.oml_tensor_to(src, converted, t.dtype_, t.device_), NAME)
    src = converted
  end
  check(C.oml_index_copy(src, key, t, 0), NAME)
end

function M.set(t, key, value)
  T.expect_set(t, NAME, "the tensor")
  if type(value) == "boolean" then value = value and 1 or 0 end
  if type(value) ~= "number" and not is_tensor(value) then
    raise(NAME, "can only assign a number or a tensor (got %s)", type(value))
  end
  local kind, target = type(key), nil
  if kind == "number" then
    if t.ndim_ == 0 then raise(NAME, "cannot index a 0-d tensor with a number") end
    local p = position(key, tonumber(t.size_[0]), 1)
    if t.ndim_ == 1 and type(value) == "number" and t.device_ == T.CPU and t.dtype_ <= FLOAT64 then
      ffi.cast(T.POINTER_TYPES[t.dtype_], t.data_)[(p - 1) * tonumber(t.stride_[0])] = value -- float32/64
      return
    end
    target = select(t, 0, p)
  elseif is_tensor(key) then
    if key.dtype_ == BOOL then
      if type(value) ~= "number" then raise(NAME, "only a number can be assigned through a mask") end
      check(C.oml_masked_fill(key, t, value), NAME)
      return
    end
    if key.dtype_ ~= INT32 and key.dtype_ ~= INT64 then
      raise(NAME, "a tensor key must be bool, int32 or int64 (got %s)", T.DTYPE_NAMES[key.dtype_])
    end
    set_indexed(t, key, value)
    return
  elseif kind == "table" then
    target = view(t, key)
  else
    raise(NAME, "cannot index a tensor with a %s", kind)
  end
  if type(value) == "number" then check(C.oml_fill(target, value), NAME)
  else check(C.oml_copy(value, target), NAME) end
end

return M
