-- oml.losses: the metric-learning losses of OML, as oml.nn criteria
-- (forward returns the loss, a number; backward returns d loss / d input).
--   local loss = oml.losses.TripletLossWithMiner{margin = 0.1, miner = oml.miners.HardTripletsMiner()}
--   local value = loss:forward(features, labels)
--   local grad = loss:backward(features, labels)
local triplet = require "oml.losses.triplet"
local arcface = require "oml.losses.arcface"

return {
  TripletLoss = triplet.TripletLoss,
  TripletLossPlain = triplet.TripletLossPlain,
  TripletLossWithMiner = triplet.TripletLossWithMiner,
  ContrastiveLoss = require "oml.losses.contrastive",
  ArcFaceLoss = arcface.ArcFaceLoss,
  ArcFaceLossWithMLP = arcface.ArcFaceLossWithMLP,
  SurrogatePrecision = require "oml.losses.surrogate_precision",
}
