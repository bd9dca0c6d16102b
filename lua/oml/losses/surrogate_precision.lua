-- oml.losses.SurrogatePrecision{k, temperature1 = 1, temperature2 = 0.01,
-- reduction}: OML's differentiable precision@k (oml/losses/
-- surrogate_precision.py, after "Recall@k Surrogate Loss with Large Batches
-- and Similarity Mixup"). Every row of the batch is a query against the
-- whole batch, itself included (so k + 1 places are counted):
--   rank[i][j] = sum over l of sigmoid((d[i][j] - d[i][l]) / t2)
--   precision[i] = sum over j of sigmoid((k + 1 - rank[i][j]) / t1) * same[i][j]
--                  / min(#same[i], k + 1)
-- and the loss is 1 - mean (or sum) of precision. The [B, B, B] differences
-- are taken a block of queries at a time, so memory stays bounded.
local oml = require "oml"
local nn = require "oml.nn"
local T = require "oml.tensor"
local common = require "oml.losses.common"

local raise = T.raise
local BLOCK_ELEMENTS = 2 ^ 22   -- elements of one block of differences

local SurrogatePrecision = nn.class("SurrogatePrecision", nn.Criterion)

function SurrogatePrecision:__init(args)
  nn.Criterion.__init(self)
  local name = "oml.losses.SurrogatePrecision"
  args = common.arguments(args, name, { k = true, temperature1 = true, temperature2 = true, reduction = true })
  if not common.is_integer(args.k) or args.k < 1 then
    raise(name, "k must be a positive integer (got %s)", T.show(args.k))
  end
  local t1, t2 = args.temperature1 or 1, args.temperature2 or 0.01
  for what, t in pairs { temperature1 = t1, temperature2 = t2 } do
    if type(t) ~= "number" or t ~= t or t <= 0 then
      raise(name, "%s must be a positive number (got %s)", what, T.show(t))
    end
  end
  self.k = args.k
  self.temperature1, self.temperature2 = t1, t2
  self.reduction = common.reduction(args.reduction, name)
  self.last_logs = {}
end

function SurrogatePrecision:extra_repr()
  return ("k=%d, temperature1=%g, temperature2=%g"):format(self.k, self.temperature1, self.temperature2)
end

-- For the queries first .. first + rows - 1: sigmoid of the distance
-- differences [rows, B, B] and the soft ranks [rows, B].
local function soft_ranks(dist, first, rows, t2)
  local b = dist:size(2)
  local block = dist:narrow(1, first, rows)
  local above = ((block:view(rows, b, 1) - block:view(rows, 1, b)) / t2):sigmoid()
  return above, above:sum(3)
end

local function blocks(b)
  return math.max(1, math.floor(BLOCK_ELEMENTS / (b * b)))
end

function SurrogatePrecision:forward(features, labels)
  local name = "oml.losses.SurrogatePrecision"
  common.features(features, name)
  local b = features:size(1)
  labels = common.labels(labels, b, name)
  local dtype = features.dtype
  local ids = oml.tensor(labels, { dtype = "float64", device = features.device })
  local same = ids:view(b, 1):eq(ids:view(1, b)):to(dtype)
  local places = self.k + 1
  local relevant = same:sum(2):clamp(nil, places)
  local dist = common.distances(features)
  local precision = oml.empty({ b }, { dtype = dtype, device = features.device })
  local step = blocks(b)
  for first = 1, b, step do
    local rows = math.min(step, b - first + 1)
    local _, rank = soft_ranks(dist, first, rows, self.temperature2)
    local hits = (((places - rank) / self.temperature1):sigmoid() * same:narrow(1, first, rows)):sum(2)
    precision:narrow(1, first, rows):copy_(hits / relevant:narrow(1, first, rows))
  end
  self.saved_ = { dist = dist, same = same, relevant = relevant }
  self.output = 1 - common.reduce(precision, self.reduction)
  return self.output
end

-- d loss / d rank[i][j] = w sigma1' same[i][j] / (relevant[i] t1), with w
-- = 1/B (mean) or 1 (sum); then through rank:
-- d loss / d d[i][j] = g[i][j] sum_l s[i][j][l] - sum_l g[i][l] s[i][l][j],
-- s = sigma2' / t2.
function SurrogatePrecision:backward(features)
  local name = "oml.losses.SurrogatePrecision"
  local s = common.saved(self, name)
  common.features(features, name)
  local b = features:size(1)
  local weight = self.reduction == "mean" and 1 / b or 1
  local t1, t2, places = self.temperature1, self.temperature2, self.k + 1
  local grad_dist = oml.empty({ b, b }, { dtype = features.dtype, device = features.device })
  local step = blocks(b)
  for first = 1, b, step do
    local rows = math.min(step, b - first + 1)
    local above, rank = soft_ranks(s.dist, first, rows, t2)
    local hit = ((places - rank) / t1):sigmoid()
    local scale = s.same:narrow(1, first, rows) / s.relevant:narrow(1, first, rows):view(rows, 1) * (weight / t1)
    local grad_rank = hit * (1 - hit) * scale
    local slope = above * (1 - above) / t2
    local own = grad_rank * slope:sum(3)
    local others = (grad_rank:view(rows, b, 1) * slope):sum(2)
    grad_dist:narrow(1, first, rows):copy_(own - others)
  end
  self.grad_input = common.distances_backward(features, s.dist, grad_dist, b)
  return self.grad_input
end

return SurrogatePrecision
