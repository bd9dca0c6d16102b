-- oml.losses.ContrastiveLoss{pos_margin = 0, neg_margin = 1, miner, reduction}:
-- the contrastive loss on mined pairs. OML has none of its own; this is
-- pytorch-metric-learning's definition (Hadsell et al. 2006 with two
-- margins, plain distances): a positive pair costs relu(d - pos_margin), a
-- negative pair relu(neg_margin - d). The miner is a PairsMiner (default:
-- every pair of the batch); forward(features, labels) returns the mean (or
-- sum) over the pairs, backward(features, labels) d loss / d features.
local nn = require "oml.nn"
local T = require "oml.tensor"
local common = require "oml.losses.common"
local miners = require "oml.miners"

local raise = T.raise

local ContrastiveLoss = nn.class("ContrastiveLoss", nn.Criterion)

function ContrastiveLoss:__init(args)
  nn.Criterion.__init(self)
  local name = "oml.losses.ContrastiveLoss"
  args = common.arguments(args, name,
    { pos_margin = true, neg_margin = true, miner = true, reduction = true, need_logs = true })
  for _, key in ipairs { "pos_margin", "neg_margin" } do
    if args[key] ~= nil and (type(args[key]) ~= "number" or args[key] ~= args[key]) then
      raise(name, "%s must be a number (got %s)", key, T.show(args[key]))
    end
  end
  self.pos_margin = args.pos_margin or 0
  self.neg_margin = args.neg_margin or 1
  self.reduction = common.reduction(args.reduction, name)
  self.need_logs = common.flag(args.need_logs, false, name, "need_logs")
  local miner = args.miner or miners.PairsMiner { hard_mining = false }
  if type(miner) ~= "table" or type(miner.sample) ~= "function" then
    raise(name, "miner must be a pairs miner with a sample method (got %s)", T.kind(miner))
  end
  self.miner = miner
  self.last_logs = {}
end

local function mean_of(t)
  if t:numel() == 0 then return 0 / 0 end
  return t:mean():item()
end

function ContrastiveLoss:forward(features, labels)
  local name = "oml.losses.ContrastiveLoss"
  common.features(features, name)
  local b = features:size(1)
  labels = common.labels(labels, b, name)
  local first, second, is_negative = self.miner:sample(features, labels)
  if not T.is_tensor(is_negative) or is_negative.dtype_ ~= T.BOOL then
    raise(name, "the miner must return pairs and their is_negative flags, as PairsMiner does")
  end
  local dist = common.distances(features)
  local pairs = common.flat_index(first, second, b, dist)
  local d = dist:view(-1):index_select(1, pairs)
  is_negative = is_negative:to { device = d.device }
  local negative = is_negative:to(d.dtype)
  local positive = 1 - negative
  local over, under = d - self.pos_margin, self.neg_margin - d
  local loss = positive * over:clamp(0) + negative * under:clamp(0)
  local slope = positive * over:gt(0):to(d.dtype) - negative * under:gt(0):to(d.dtype)
  if self.need_logs then
    local is_positive = is_negative:logical_not()
    local logs = self.last_logs
    logs.pos_dist = mean_of(d:masked_select(is_positive))
    logs.neg_dist = mean_of(d:masked_select(is_negative))
    logs.active_pos = mean_of(over:gt(0):masked_select(is_positive):to(d.dtype))
    logs.active_neg = mean_of(under:gt(0):masked_select(is_negative):to(d.dtype))
  end
  self.saved_ = { dist = dist, pairs = pairs, slope = slope }
  self.output = common.reduce(loss, self.reduction)
  return self.output
end

function ContrastiveLoss:backward(features)
  local name = "oml.losses.ContrastiveLoss"
  local s = common.saved(self, name)
  common.features(features, name)
  local slope = s.slope
  if self.reduction == "mean" and slope:numel() > 0 then slope = slope / slope:numel() end
  local grad_dist = common.scatter_pairs(features:size(1), slope, s.pairs)
  self.grad_input = common.distances_backward(features, s.dist, grad_dist, features:size(1))
  return self.grad_input
end

return ContrastiveLoss
