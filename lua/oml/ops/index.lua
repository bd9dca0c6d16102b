-- oml.ops.index: picking and placing elements by index tensors and masks
-- (index_select, index_add, gather, scatter, masked_fill, ...). Dims and
-- index values are 1-based; an index may also be a Lua list of integers.
-- Each op that writes has an in-place twin ending in _; the plain one
-- works on a clone, as in PyTorch.
local T = require "oml.tensor"
local creation = require "oml.ops.creation"

local C = T.C
local new, check, raise, cdim, is_tensor = T.new, T.check, T.raise, T.cdim, T.is_tensor
local methods = {}

-- Checks that every leaf of a (nested) list is an integer.
local function check_integers(list, name, depth)
  if depth > T.MAX_DIMS then raise(name, "the index list is nested deeper than %d levels", T.MAX_DIMS) end
  for _, v in ipairs(list) do
    if type(v) == "table" then
      check_integers(v, name, depth + 1)
    elseif type(v) ~= "number" or v ~= math.floor(v) or math.abs(v) >= 2 ^ 63 then
      raise(name, "index entries must be integers (got %s)", T.show(v))
    end
  end
end

-- An index tensor, or a (nested) Lua list of integers made into an int64
-- tensor on the device of t, the tensor it indexes.
local function as_index(index, name, t)
  if is_tensor(index) then return index end
  if type(index) ~= "table" then
    raise(name, "the index must be a tensor or a list of integers (got %s)", T.kind(index))
  end
  check_integers(index, name, 1)
  local device = is_tensor(t) and t.storage_ ~= nil and t.device_ or T.CPU
  return creation.functions.tensor(index, { dtype = "int64", device = T.device_name(device) })
end

-- t:index_select(dim, index): the slices of t at index along dim.
function methods.index_select(t, dim, index)
  local name = "oml.index_select"
  T.expect_tensor(t, name)
  local out = new()
  check(C.oml_index_select(t, as_index(index, name, t), out, cdim(t, dim, name)), name)
  return out
end

-- The ops that write into t, each given its name (for messages); t is the
-- tensor written, the caller's or a clone.
local writers = {}

-- index_add(dim, index, src [, alpha]): slice index[i] of t along dim +=
-- alpha * slice i of src; repeated indices add up.
function writers.index_add(name, t, dim, index, src, alpha)
  T.expect_tensor(src, name, "the source")
  if alpha ~= nil and type(alpha) ~= "number" then raise(name, "alpha must be a number (got %s)", T.kind(alpha)) end
  check(C.oml_index_add(src, as_index(index, name, t), t, cdim(t, dim, name), alpha or 1), name)
  return t
end

-- index_copy(dim, index, src): slice index[i] of t along dim = slice i of src.
function writers.index_copy(name, t, dim, index, src)
  T.expect_tensor(src, name, "the source")
  check(C.oml_index_copy(src, as_index(index, name, t), t, cdim(t, dim, name)), name)
  return t
end

-- index_fill(dim, index, value): the slices at index along dim = value.
function writers.index_fill(name, t, dim, index, value)
  check(C.oml_index_fill(as_index(index, name, t), t, cdim(t, dim, name), T.scalar(value, name, "the value")), name)
  return t
end

-- scatter(dim, index, src): t[index[i][j]][j] = src[i][j] for dim 1 (and
-- so on); src may be a number. Where indices repeat, the last one wins;
-- scatter_add adds instead, and repeated indices add up.
local function scatter(name, t, dim, index, src, accumulate)
  index = as_index(index, name, t)
  if type(src) == "number" or type(src) == "boolean" then
    local value = T.scalar(src, name, "the value")
    T.expect_set(t, name)
    src = T.empty(index:size(), t.dtype_, t.device_, name)
    check(C.oml_fill(src, value), name)
  end
  T.expect_tensor(src, name, "the source")
  check(C.oml_scatter(src, index, t, cdim(t, dim, name), accumulate), name)
  return t
end

function writers.scatter(name, t, dim, index, src) return scatter(name, t, dim, index, src, 0) end
function writers.scatter_add(name, t, dim, index, src) return scatter(name, t, dim, index, src, 1) end

-- masked_fill(mask, value): t = value where mask (bool, broadcast to t) is true.
function writers.masked_fill(name, t, mask, value)
  T.expect_tensor(mask, name, "the mask")
  check(C.oml_masked_fill(mask, t, T.scalar(value, name, "the value")), name)
  return t
end

for op, write in pairs(writers) do
  local name = "oml." .. op
  methods[op .. "_"] = function(t, ...)
    T.expect_tensor(t, name .. "_")
    return write(name .. "_", t, ...)
  end
  methods[op] = function(t, ...)
    T.expect_tensor(t, name)
    return write(name, t:clone(), ...)
  end
end

-- t:gather(dim, index): out[i][j] = t[index[i][j]][j] for dim 1 (and so on);
-- out has index's shape.
function methods.gather(t, dim, index)
  local name = "oml.gather"
  T.expect_tensor(t, name)
  local out = new()
  check(C.oml_gather(t, as_index(index, name, t), out, cdim(t, dim, name)), name)
  return out
end

-- t:masked_select(mask): the elements of t where mask is true (both
-- broadcast), as a 1-d tensor in row-major order.
function methods.masked_select(t, mask)
  local name = "oml.masked_select"
  T.expect_tensor(t, name)
  T.expect_tensor(mask, name, "the mask")
  local out = new()
  check(C.oml_masked_select(t, mask, out), name)
  return out
end

-- t:nonzero(): the 1-based coordinates of the nonzero elements, int64 [n, ndim].
function methods.nonzero(t)
  local name = "oml.nonzero"
  T.expect_tensor(t, name)
  local out = new()
  check(C.oml_nonzero(t, out), name)
  return out
end

return { methods = methods }
