-- bench/losses.lua: miners and losses, forward + backward, on a batch of
-- 256 x 384-d float32 (32 labels x 8 rows, as BalanceSampler gives), 2
-- threads, and AllTripletsMiner alone on 1024 rows with a cap. Prints the
-- best time of each, and its share of a ViT-S/16 training step on the same
-- 256 images (224x224): that step is timed at batch 16 (bench/nn.lua, in a
-- process of its own) and scaled by 16, since a step's time grows linearly
-- with the batch and 256 images would take minutes.
--   luajit bench/losses.lua            (from the checkout root)
package.path = "lua/?.lua;lua/?/init.lua;bench/?.lua;" .. package.path

local oml = require "oml"
local clock = require "clock"

local B, D, LABELS, RUNS = 256, 384, 32, 5
local miners, losses = oml.miners, oml.losses

oml.set_num_threads(2)
oml.manual_seed(0)
local features = oml.randn(B, D)
local labels = {}
for i = 1, B do labels[i] = (i - 1) % LABELS end

local function step(loss)
  return function()
    loss:forward(features, labels)
    loss:backward(features, labels)
  end
end

local cases = {
  { "TripletLossWithMiner + HardTripletsMiner", losses.TripletLossWithMiner { margin = 0.1,
      miner = miners.HardTripletsMiner() } },
  { "TripletLossWithMiner + NHardTripletsMiner(5, 5)", losses.TripletLossWithMiner { margin = 0.1,
      miner = miners.NHardTripletsMiner { n_positive = 5, n_negative = 5 } } },
  { "TripletLossWithMiner + AllTripletsMiner (cap 50000)", losses.TripletLossWithMiner { margin = 0.1,
      miner = miners.AllTripletsMiner { max_output_triplets = 50000 } } },
  { "TripletLossWithMiner + AllTripletsMiner (all 444416)", losses.TripletLossWithMiner { margin = 0.1 } },
  { "TripletLossWithMiner + MinerWithBank(4, NHard(2, 2))", losses.TripletLossWithMiner { margin = 0.1,
      miner = miners.MinerWithBank { bank_size_in_batches = 4,
                                     miner = miners.NHardTripletsMiner { n_positive = 2, n_negative = 2 } } } },
  { "TripletLossWithMiner + TripletMinerWithMemory(4, 2)", losses.TripletLossWithMiner { margin = 0.1,
      miner = miners.TripletMinerWithMemory { bank_size_in_batches = 4, tri_expand_k = 2 } } },
  { "ContrastiveLoss (all pairs)", losses.ContrastiveLoss {} },
  { "ArcFaceLoss (1000 classes)", losses.ArcFaceLoss { in_features = D, num_classes = 1000 } },
  { "SurrogatePrecision k=5", losses.SurrogatePrecision { k = 5 } },
}

local VIT_BATCH = 16
local p = io.popen(("luajit bench/nn.lua --one vits16 train %d"):format(VIT_BATCH))
local vit_step = tonumber(p:read("*a"):match("^%s*(%S+)")) * B / VIT_BATCH
p:close()

print(("batch %d x %d float32, %d labels x %d rows, 2 threads, best of %d"):format(B, D, LABELS, B / LABELS, RUNS))
print(("ViT-S/16 training step on %d images (from batch %d): %.1f s"):format(B, VIT_BATCH, vit_step))
for _, case in ipairs(cases) do
  local name, loss = case[1], case[2]
  local fn = step(loss)
  fn()   -- warm up (and fill a bank)
  local t = clock.best(RUNS, fn)
  print(("  %-62s %8.1f ms %6.2f%% of the step"):format(name .. ": forward + backward", 1000 * t, 100 * t / vit_step))
end

local big = oml.randn(1024, D)
local big_labels = {}
for i = 1, 1024 do big_labels[i] = (i - 1) % 128 end
local capped = miners.AllTripletsMiner { max_output_triplets = 100000 }
print(("  %-62s %8.1f ms"):format("AllTripletsMiner on 1024 rows (128 labels x 8), cap 100000",
  1000 * clock.best(RUNS, function() capped:sample(big, big_labels) end)))
