-- oml.ops.reduce: reductions (sum, mean, prod, amax, amin, all, any,
-- logsumexp, var, std, norm), max/min with indices, argmax/argmin, and
-- cumulative sums and products.
--
-- Dims are 1-based and may count from the end; `dim` is one dim or a list of
-- dims, and nil reduces every dim. keepdim (default false) keeps reduced
-- dims with size 1. A full reduction gives a 0-d tensor (t:sum():item() is a
-- number). Indices are 1-based int64; on ties the first extreme wins, and a
-- NaN beats every number. Result dtypes follow PyTorch: sums and products of
-- integers and bools are int64, amax/amin keep the dtype, all/any give bool;
-- mean, logsumexp, var, std and norm of integers and bools give float32.
local ffi = require "ffi"
local T = require "oml.tensor"

local C = T.C
local new, check, raise, is_tensor, dim_mask = T.new, T.check, T.raise, T.is_tensor, T.dim_mask
local methods = {}

local function reduce(name, op, t, dim, keepdim)
  T.expect_tensor(t, name)
  local out = new()
  check(C.oml_reduce(t, out, op, dim_mask(t, dim, name), T.flag(keepdim, false, name, "keepdim")), name)
  return out
end

-- t:sum([dim [, keepdim]]), and the same for mean, prod, amax, amin, all,
-- any and logsumexp.
for op_name, op in pairs {
  sum = C.OML_SUM, mean = C.OML_MEAN, prod = C.OML_PROD, amax = C.OML_AMAX, amin = C.OML_AMIN,
  all = C.OML_ALL, any = C.OML_ANY, logsumexp = C.OML_LOGSUMEXP,
} do
  local name = "oml." .. op_name
  methods[op_name] = function(t, dim, keepdim) return reduce(name, op, t, dim, keepdim) end
end

-- t:var([dim] [, opts]) and t:std: opts = {correction = 1, keepdim = false};
-- the divisor is n - correction (1: unbiased, the default; 0: biased).
-- opts.unbiased (a boolean, as PyTorch's unbiased=) may replace correction.
-- A bare boolean is refused: Torch7's var(dim, true) is the biased variance,
-- PyTorch's var(dim, True) the unbiased one.
local VAR_OPTIONS = { correction = true, unbiased = true, keepdim = true }

local function variance(name, t, dim, opts, take_sqrt)
  T.expect_tensor(t, name)
  if T.is_options(dim) then dim, opts = nil, dim end
  if type(opts) == "boolean" then
    raise(name, "pass {unbiased = %s} or {correction = n}: a bare boolean means opposite things in Torch7 and PyTorch",
          tostring(opts))
  end
  if opts ~= nil and type(opts) ~= "table" then raise(name, "options must be a table (got %s)", type(opts)) end
  opts = T.options(opts, name, VAR_OPTIONS)
  local correction = opts.correction
  if opts.unbiased ~= nil then
    if correction ~= nil then raise(name, "give correction or unbiased, not both") end
    correction = T.flag(opts.unbiased, false, name, "unbiased")
  end
  correction = correction or 1
  if type(correction) ~= "number" or correction ~= math.floor(correction) or math.abs(correction) >= 2 ^ 31 then
    raise(name, "correction must be an integer (got %s)", T.show(correction))
  end
  local out = new()
  local keep = T.flag(opts.keepdim, false, name, "keepdim")
  check(C.oml_var(t, out, dim_mask(t, dim, name), correction, keep, take_sqrt), name)
  return out
end

function methods.var(t, dim, opts) return variance("oml.var", t, dim, opts, 0) end
function methods.std(t, dim, opts) return variance("oml.std", t, dim, opts, 1) end

-- t:norm([p [, dim [, keepdim]]]): the p-norm (sum |x|^p)^(1/p); p defaults
-- to 2 ("fro" is 2 too), math.huge is the max |x|, -math.huge the min |x|,
-- and 0 counts the nonzero elements.
function methods.norm(t, p, dim, keepdim)
  local name = "oml.norm"
  T.expect_tensor(t, name)
  if p == nil or p == "fro" then p = 2 end
  if type(p) ~= "number" then raise(name, "p must be a number or \"fro\" (got %s)", T.show(p)) end
  local out = new()
  check(C.oml_norm(t, out, p, dim_mask(t, dim, name), T.flag(keepdim, false, name, "keepdim")), name)
  return out
end

-- t:max() is a 0-d tensor of the largest element; t:max(dim [, keepdim])
-- gives values and indices along dim; t:max(other) is t:maximum(other).
-- t:min likewise.
local function extreme(name, op, elementwise, is_min, t, dim, keepdim)
  T.expect_tensor(t, name)
  if is_tensor(dim) then
    if keepdim ~= nil then raise(name, "keepdim has no meaning for an elementwise %s", elementwise) end
    return t[elementwise](t, dim)
  end
  if dim == nil then return reduce(name, op, t, nil, keepdim) end
  if type(dim) ~= "number" then raise(name, "dim must be a number or a tensor (got %s)", T.kind(dim)) end
  local values, indices = new(), new()
  local keep = T.flag(keepdim, false, name, "keepdim")
  check(C.oml_max_dim(t, values, indices, T.cdim(t, dim, name), keep, is_min), name)
  return values, indices
end

function methods.max(t, dim, keepdim) return extreme("oml.max", C.OML_AMAX, "maximum", 0, t, dim, keepdim) end
function methods.min(t, dim, keepdim) return extreme("oml.min", C.OML_AMIN, "minimum", 1, t, dim, keepdim) end

local flat_size = ffi.new("int64_t[1]", -1)

-- t:argmax([dim [, keepdim]]): 1-based int64 indices along dim; without a
-- dim, the index into the flattened tensor as a 0-d tensor.
local function arg_extreme(name, is_min, t, dim, keepdim)
  T.expect_tensor(t, name)
  local keep = T.flag(keepdim, false, name, "keepdim")
  local indices = new()
  if dim ~= nil then
    check(C.oml_max_dim(t, nil, indices, T.cdim(t, dim, name), keep, is_min), name)
    return indices
  end
  if t.numel_ == 0 and t.storage_ ~= nil then
    raise(name, "cannot take the %s of an empty tensor (specify a dim)", name:sub(5))
  end
  local flat = new()
  check(C.oml_tensor_reshape(t, flat, 1, flat_size), name)
  check(C.oml_max_dim(flat, nil, indices, 0, 0, is_min), name)
  if keep == 0 or t.ndim_ == 0 then return indices end
  local ones = {}
  for i = 1, t.ndim_ do ones[i] = 1 end
  local shaped = new()
  local n, buf = T.sizes(ones, name)
  check(C.oml_tensor_view(indices, shaped, n, buf), name)
  return shaped
end

function methods.argmax(t, dim, keepdim) return arg_extreme("oml.argmax", 0, t, dim, keepdim) end
function methods.argmin(t, dim, keepdim) return arg_extreme("oml.argmin", 1, t, dim, keepdim) end

-- t:cumsum(dim), t:cumprod(dim): running sums and products along dim (of
-- integers and bools: int64).
local function cumulate(name, fn, t, dim)
  T.expect_tensor(t, name)
  if dim == nil then raise(name, "dim is required") end
  local out = new()
  check(fn(t, out, T.cdim(t, dim, name)), name)
  return out
end

function methods.cumsum(t, dim) return cumulate("oml.cumsum", C.oml_cumsum, t, dim) end
function methods.cumprod(t, dim) return cumulate("oml.cumprod", C.oml_cumprod, t, dim) end

return { methods = methods }
