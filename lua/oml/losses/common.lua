-- oml.losses.common: what the losses share: argument checks, reductions, and
-- the euclidean distance matrix with its explicit backward.
local oml = require "oml"
local T = require "oml.tensor"

local raise = T.raise
local M = {}

-- The named arguments of a constructor: a table (or nil) whose keys are all
-- among `allowed`.
function M.arguments(args, name, allowed)
  if args == nil then return {} end
  if type(args) ~= "table" or T.is_tensor(args) then
    raise(name, "expects a table of named arguments (got %s)", T.kind(args))
  end
  for k in pairs(args) do
    if not allowed[k] then raise(name, "unknown argument '%s'", tostring(k)) end
  end
  return args
end

function M.is_integer(x)
  return type(x) == "number" and x == math.floor(x) and math.abs(x) < 2 ^ 53
end

-- A loss's forward returns a number, so a reduction is "mean" (the default) or "sum".
function M.reduction(value, name)
  value = value or "mean"
  if value ~= "mean" and value ~= "sum" then
    raise(name, "reduction must be \"mean\" or \"sum\" (got %s)", T.show(value))
  end
  return value
end

-- margin: nil (the soft margin) or a positive number.
function M.margin(value, name)
  if value ~= nil and (type(value) ~= "number" or value ~= value or value <= 0) then
    raise(name, "margin must be a positive number or nil for the soft margin (got %s)", T.show(value))
  end
  return value
end

function M.flag(value, default, name, what)
  if value == nil then return default end
  if type(value) ~= "boolean" then raise(name, "%s must be a boolean (got %s)", what, T.show(value)) end
  return value
end

-- What the criterion's forward saved for its backward.
function M.saved(criterion, name)
  if criterion.saved_ == nil then raise(name, "backward needs a forward first") end
  return criterion.saved_
end

-- A 2-D float32/float64 tensor [B, D] with at least one row.
function M.features(x, name, what)
  what = what or "features"
  T.expect_tensor(x, name, what)
  if x.ndim_ ~= 2 or (x.dtype_ ~= T.FLOAT32 and x.dtype_ ~= T.FLOAT64) then
    raise(name, "%s must be a float32 or float64 tensor [B, D] (got %s)", what, T.show(x))
  end
  if x.size_[0] < 1 then raise(name, "%s is empty (got %s)", what, T.show(x)) end
  return x
end

-- labels (a list or a 1-D tensor of integers) as a Lua list of b entries.
function M.labels(labels, b, name)
  if T.is_tensor(labels) then
    if labels.ndim_ ~= 1 then raise(name, "labels must be a 1-D tensor (got %s)", T.show(labels)) end
    labels = labels:totable()
  end
  if type(labels) ~= "table" then raise(name, "labels must be a list of integers (got %s)", T.kind(labels)) end
  if #labels ~= b then raise(name, "features has %d rows but there are %d labels", b, #labels) end
  for i, label in ipairs(labels) do
    if not M.is_integer(label) then raise(name, "labels[%d] must be an integer (got %s)", i, T.show(label)) end
  end
  return labels
end

-- The mean (or sum) of a 1-D tensor as a number; 0 for an empty one.
function M.reduce(t, reduction)
  if t:numel() == 0 then return 0 end
  return (reduction == "mean" and t:mean() or t:sum()):item()
end

-- ---- distances -------------------------------------------------------------

-- Row i of the flattened [n, n] matrix for the pairs (i[k], j[k]), 1-based,
-- on `like`'s device: miners give CPU index tensors, so one copy each.
function M.flat_index(i, j, n, like)
  return ((i - 1) * n + j):to { device = like.device }
end

-- The euclidean distances between the rows of x, [n, n] (oml.cdist: a GEMM
-- beyond 25 rows, as torch.cdist).
function M.distances(x)
  return oml.cdist(x, x)
end

-- The gradient, with respect to the first `rows` rows of x, of sum(G * D)
-- where D = distances(x): dD[i][j]/dx[i] = (x[i] - x[j]) / D[i][j], 0 where
-- D is 0 (as torch.cdist). Rows past `rows` are constants (a memory bank):
-- they get no gradient. Two GEMM-sized steps, no loop over pairs.
function M.distances_backward(x, dist, grad_dist, rows)
  local w = oml.where(dist:gt(0), grad_dist / dist, 0)
  local sym = w + w:t()
  local n = x:size(1)
  if rows ~= n then sym = sym:narrow(1, 1, rows) end
  local own = rows == n and x or x:narrow(1, 1, rows)
  return own * sym:sum(2, true) - sym:mm(x)
end

-- G: an [n, n] matrix, zero but at the pairs flat_plus (1-based, from
-- flat_index) where it adds up `values`, and at flat_minus where it
-- subtracts them (repeated pairs add up).
function M.scatter_pairs(n, values, flat_plus, flat_minus)
  local g = oml.zeros({ n * n }, { dtype = values.dtype, device = values.device })
  if values:numel() > 0 then
    g:index_add_(1, flat_plus, values)
    if flat_minus then g:index_add_(1, flat_minus, values, -1) end
  end
  return g:view(n, n)
end

return M
