-- oml.losses: the triplet losses of OML (oml/losses/triplet.py).
--   TripletLoss{margin}           forward(anchor, positive, negative)
--   TripletLossPlain{margin}      forward(features [3N, D]): rows a, p, n, a, p, n, ...
--   TripletLossWithMiner{margin, miner}  forward(features, labels)
-- margin = nil is the soft margin log1p(exp(d_ap - d_an)), else the loss is
-- relu(margin + d_ap - d_an); d is the euclidean distance. forward returns the
-- mean (or sum) over triplets; backward returns d loss / d inputs.
local oml = require "oml"
local nn = require "oml.nn"
local T = require "oml.tensor"
local common = require "oml.losses.common"
local miners = require "oml.miners"

local raise = T.raise
local HARD_CLUSTER = getmetatable(miners.HardClusterMiner())

-- The per-triplet losses from the distances, and their slopes
-- d loss / d d_ap (= - d loss / d d_an). The soft margin is computed as
-- max(z, 0) + log1p(exp(-|z|)), which cannot overflow; relu's slope at 0 is 0
-- as in PyTorch.
local function triplet_terms(dap, dan, margin)
  local z = dap - dan
  if margin == nil then
    return z:clamp(0) + (-z:abs()):exp():log1p(), z:sigmoid()
  end
  z = z + margin
  return z:clamp(0), z:gt(0):to(z.dtype)
end

local function mean_of(t)
  if t:numel() == 0 then return 0 / 0 end
  return t:mean():item()
end

-- OML's logs of TripletLoss: the share of triplets with a positive loss and
-- the mean distances.
local function triplet_logs(logs, loss, dap, dan)
  logs.active_tri = mean_of(loss:gt(0):to(loss.dtype))
  logs.pos_dist = mean_of(dap)
  logs.neg_dist = mean_of(dan)
end

local function triplet_options(args, name, extra)
  local allowed = { margin = true, reduction = true, need_logs = true }
  for k in pairs(extra or {}) do allowed[k] = true end
  args = common.arguments(args, name, allowed)
  return args, common.margin(args.margin, name), common.reduction(args.reduction, name),
    common.flag(args.need_logs, false, name, "need_logs")
end

-- The slopes scaled by the reduction: d output / d loss_i.
local function reduced_slopes(slope, reduction)
  if reduction == "mean" and slope:numel() > 0 then return slope / slope:numel() end
  return slope
end

local saved = common.saved

-- ---- TripletLoss ---------------------------------------------------------------

local TripletLoss = nn.class("TripletLoss", nn.Criterion)

function TripletLoss:__init(args)
  nn.Criterion.__init(self)
  local _
  _, self.margin, self.reduction, self.need_logs = triplet_options(args, "oml.losses.TripletLoss")
  self.last_logs = {}
end

local function check_triplet(name, anchor, positive, negative)
  common.features(anchor, name, "anchor")
  common.features(positive, name, "positive")
  common.features(negative, name, "negative")
  local shape = T.shape_str(anchor)
  if T.shape_str(positive) ~= shape or T.shape_str(negative) ~= shape then
    raise(name, "anchor, positive and negative must have one shape (got %s, %s and %s)", shape,
          T.shape_str(positive), T.shape_str(negative))
  end
  if positive.dtype_ ~= anchor.dtype_ or negative.dtype_ ~= anchor.dtype_ then
    raise(name, "anchor, positive and negative must have one dtype (got %s, %s and %s)", anchor.dtype,
          positive.dtype, negative.dtype)
  end
end

-- The loss of the triplets (anchor[i], positive[i], negative[i]), each [N, D];
-- the distances are exact row differences, as OML's elementwise_dist.
function TripletLoss:forward(anchor, positive, negative)
  check_triplet("oml.losses.TripletLoss", anchor, positive, negative)
  local to_positive, to_negative = anchor - positive, anchor - negative
  local dap, dan = to_positive:norm(2, 2), to_negative:norm(2, 2)
  local loss, slope = triplet_terms(dap, dan, self.margin)
  if self.need_logs then triplet_logs(self.last_logs, loss, dap, dan) end
  self.saved_ = { to_positive = to_positive, to_negative = to_negative, dap = dap, dan = dan, slope = slope }
  self.output = common.reduce(loss, self.reduction)
  return self.output
end

-- The gradients with respect to anchor, positive and negative (three
-- tensors; also self.grad_input = {ga, gp, gn}).
function TripletLoss:backward(anchor, positive, negative)
  local s = saved(self, "oml.losses.TripletLoss")
  check_triplet("oml.losses.TripletLoss", anchor, positive, negative)
  local slope = reduced_slopes(s.slope, self.reduction)
  local n = slope:numel()
  local to_p = s.to_positive * oml.where(s.dap:gt(0), slope / s.dap, 0):view(n, 1)
  local to_n = s.to_negative * oml.where(s.dan:gt(0), slope / s.dan, 0):view(n, 1)
  self.grad_input = { to_p - to_n, -to_p, to_n }
  return to_p - to_n, -to_p, to_n
end

-- ---- TripletLossPlain ----------------------------------------------------------

local TripletLossPlain = nn.class("TripletLossPlain", nn.Criterion)

function TripletLossPlain:__init(args)
  nn.Criterion.__init(self)
  local name = "oml.losses.TripletLossPlain"
  local _, margin, reduction, need_logs = triplet_options(args, name)
  self:add_module("criterion", TripletLoss { margin = margin, reduction = reduction, need_logs = need_logs })
  self.last_logs = self.criterion.last_logs
end

-- The rows 3i+1, 3i+2, 3i+3 of features, as three [N, D] views.
local function split_plain(features, name)
  common.features(features, name)
  local rows, dim = features:size(1), features:size(2)
  if rows % 3 ~= 0 then raise(name, "features must have 3N rows (anchor, positive, negative, ...) (got %d)", rows) end
  local triplets = features:reshape(rows / 3, 3, dim)
  return triplets:select(2, 1), triplets:select(2, 2), triplets:select(2, 3)
end

function TripletLossPlain:forward(features)
  self.output = self.criterion:forward(split_plain(features, "oml.losses.TripletLossPlain"))
  return self.output
end

function TripletLossPlain:backward(features)
  local ga, gp, gn = self.criterion:backward(split_plain(features, "oml.losses.TripletLossPlain"))
  self.grad_input = oml.stack({ ga, gp, gn }, 2):view(features:size(1), features:size(2))
  return self.grad_input
end

-- ---- TripletLossWithMiner ------------------------------------------------------

-- The miner's triplets are index tensors into the features, or, for a
-- memory miner, into the pool it also returns (the features followed by its
-- bank). One distance matrix over those rows gives every d_ap and d_an by a
-- gather; backward scatters the slopes back into a matrix and goes through
-- the distances with two GEMMs. Bank rows get no gradient (OML detaches the
-- bank).
local TripletLossWithMiner = nn.class("TripletLossWithMiner", nn.Criterion)

function TripletLossWithMiner:__init(args)
  nn.Criterion.__init(self)
  local name = "oml.losses.TripletLossWithMiner"
  args, self.margin, self.reduction, self.need_logs = triplet_options(args, name, { miner = true })
  local miner = args.miner or miners.AllTripletsMiner()
  if type(miner) ~= "table" or type(miner.sample) ~= "function" then
    raise(name, "miner must be a miner with a sample method (got %s)", T.kind(miner))
  end
  if getmetatable(miner) == HARD_CLUSTER then
    raise(name, "HardClusterMiner returns vectors, not indices; pass them to TripletLoss")
  end
  self.miner = miner
  self.last_logs = {}
end

-- OML's extra logs for a memory miner: the same figures over the triplets
-- all from the batch (orig) and over those with a bank member (bank).
local function split_logs(logs, loss, dap, dan, is_original)
  local is_bank = is_original:logical_not()
  local active = loss:gt(0):to(loss.dtype)
  local function part(t, mask) return mean_of(t:masked_select(mask)) end
  logs.orig_active_tri = part(active, is_original)
  logs.bank_active_tri = part(active, is_bank)
  logs.pos_dist_orig = part(dap, is_original)
  logs.neg_dist_orig = part(dan, is_original)
  logs.pos_dist_bank = part(dap, is_bank)
  logs.neg_dist_bank = part(dan, is_bank)
end

function TripletLossWithMiner:forward(features, labels)
  local name = "oml.losses.TripletLossWithMiner"
  common.features(features, name)
  labels = common.labels(labels, features:size(1), name)
  local a, p, n, pool, is_original = self.miner:sample(features, labels)
  pool = pool or features
  local rows = pool:size(1)
  local dist = common.distances(pool)
  local flat = dist:view(-1)
  local ap, an = common.flat_index(a, p, rows, dist), common.flat_index(a, n, rows, dist)
  local dap, dan = flat:index_select(1, ap), flat:index_select(1, an)
  local loss, slope = triplet_terms(dap, dan, self.margin)
  if self.need_logs then
    triplet_logs(self.last_logs, loss, dap, dan)
    if is_original then split_logs(self.last_logs, loss, dap, dan, is_original:to { device = loss.device }) end
  end
  self.saved_ = { pool = pool, dist = dist, ap = ap, an = an, slope = slope, batch = features:size(1) }
  self.output = common.reduce(loss, self.reduction)
  return self.output
end

function TripletLossWithMiner:backward(features)
  local s = saved(self, "oml.losses.TripletLossWithMiner")
  common.features(features, "oml.losses.TripletLossWithMiner")
  local rows = s.pool:size(1)
  local grad_dist = common.scatter_pairs(rows, reduced_slopes(s.slope, self.reduction), s.ap, s.an)
  self.grad_input = common.distances_backward(s.pool, s.dist, grad_dist, s.batch)
  return self.grad_input
end

return {
  TripletLoss = TripletLoss,
  TripletLossPlain = TripletLossPlain,
  TripletLossWithMiner = TripletLossWithMiner,
}
