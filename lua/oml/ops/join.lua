-- oml.ops.join: joining tensors (cat, stack) and cutting them into views
-- (split, chunk). Dims are 1-based and may count from the end.
local ffi = require "ffi"
local T = require "oml.tensor"

local C = T.C
local new, check, raise, cdim = T.new, T.check, T.raise, T.cdim
local functions, methods = {}, {}

-- The list as a C array of tensor pointers (the list keeps them alive).
local function tensor_array(name, list)
  if type(list) ~= "table" then
    raise(name, "expects a list of tensors (got %s)", T.is_tensor(list) and "a tensor" or type(list))
  end
  local n = #list
  if n == 0 then raise(name, "expects a non-empty list of tensors") end
  local ptrs = ffi.new("const oml_tensor*[?]", n)
  for i = 1, n do
    if not T.is_tensor(list[i]) then raise(name, "entry %d of the list is a %s, not a tensor", i, type(list[i])) end
    ptrs[i - 1] = list[i]
  end
  return ptrs, n
end

-- oml.cat(tensors [, dim=1]): joins tensors along dim; the other sizes must
-- agree and dtypes promote. 1-d tensors of size 0 are left out, as PyTorch.
function functions.cat(list, dim)
  local ptrs, n = tensor_array("oml.cat", list)
  local ref = list[1] -- the dim counts against the first tensor that takes part
  for i = 1, n do
    if not (list[i].ndim_ == 1 and list[i].size_[0] == 0) then ref = list[i]; break end
  end
  local out = new()
  check(C.oml_cat(ptrs, n, out, cdim(ref, dim or 1, "oml.cat")), "oml.cat")
  return out
end

-- oml.stack(tensors [, dim=1]): joins tensors of one shape along a new dim.
function functions.stack(list, dim)
  local name = "oml.stack"
  local _, n = tensor_array(name, list)
  local first = list[1]
  local d = cdim(first, dim or 1, name, 1)
  local views = {}
  for i = 1, n do
    local t = list[i]
    local same = t.ndim_ == first.ndim_
    for k = 0, t.ndim_ - 1 do same = same and t.size_[k] == first.size_[k] end
    if not same then
      raise(name, "expects tensors of one shape (got %s at entry 1 and %s at entry %d)", T.shape_str(first),
            T.shape_str(t), i)
    end
    views[i] = new()
    check(C.oml_tensor_unsqueeze(t, views[i], d), name)
  end
  local out = new()
  check(C.oml_cat((tensor_array(name, views)), n, out, d), name)
  return out
end

-- Views of t along dim d, of the given lengths.
local function pieces(name, t, d, lengths)
  local out, start = {}, 0
  for i, len in ipairs(lengths) do
    local v = new()
    check(C.oml_tensor_narrow(t, v, d, start, len), name)
    out[i] = v
    start = start + len
  end
  return out
end

-- t:split(size [, dim=1]) cuts t into views of `size` along dim (the last
-- may be shorter); t:split({s1, s2, ...} [, dim]) into views of those sizes.
function methods.split(t, sizes, dim)
  local name = "oml.split"
  T.expect_tensor(t, name)
  if t.ndim_ == 0 then raise(name, "cannot split a 0-d tensor") end
  local d = cdim(t, dim or 1, name)
  local total = tonumber(t.size_[d])
  local lengths = {}
  if type(sizes) == "number" then
    T.count(sizes, name, "the split size")
    if sizes == 0 and total > 0 then
      raise(name, "the split size can only be 0 when dim %d is empty (it has size %d)", d + 1, total)
    end
    if total == 0 then lengths[1] = 0 end
    for start = 0, total - 1, math.max(sizes, 1) do lengths[#lengths + 1] = math.min(sizes, total - start) end
  elseif type(sizes) == "table" then
    local sum = 0
    for i, s in ipairs(sizes) do
      lengths[i] = T.count(s, name, "split size " .. i)
      sum = sum + s
    end
    if sum ~= total then raise(name, "the split sizes add up to %d but dim %d has size %d", sum, d + 1, total) end
  else
    raise(name, "expects a split size or a list of sizes (got %s)", T.kind(sizes))
  end
  return pieces(name, t, d, lengths)
end

-- The most chunks an empty dim is cut into (one view each).
local MAX_EMPTY_CHUNKS = 2 ^ 20

-- t:chunk(n [, dim=1]): at most n views of equal size along dim (the last
-- may be shorter), as PyTorch's chunk; an empty dim gives n empty views.
function methods.chunk(t, n, dim)
  local name = "oml.chunk"
  T.expect_tensor(t, name)
  if t.ndim_ == 0 then raise(name, "cannot chunk a 0-d tensor") end
  if type(n) ~= "number" or n < 1 or n ~= math.floor(n) or n >= 2 ^ 63 then
    raise(name, "the number of chunks must be a positive integer (got %s)", T.show(n))
  end
  local d = cdim(t, dim or 1, name)
  local total = tonumber(t.size_[d])
  local step = math.ceil(total / n)
  local lengths = {}
  if step == 0 then
    if n > MAX_EMPTY_CHUNKS then
      raise(name, "%d empty chunks are too many (at most %d)", n, MAX_EMPTY_CHUNKS)
    end
    for i = 1, n do lengths[i] = 0 end
  else
    for start = 0, total - 1, step do lengths[#lengths + 1] = math.min(step, total - start) end
  end
  return pieces(name, t, d, lengths)
end

return { functions = functions, methods = methods }
