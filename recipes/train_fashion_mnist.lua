#!/usr/bin/env luajit
-- recipes/train_fashion_mnist.lua: the demo that runs out of the box.
-- Converts Fashion-MNIST from Debian's dataset-fashion-mnist into oml's cache
-- if needed (JPEGs + OML's CSV; training on classes 0..4, validation on the
-- unseen classes 5..9), trains a small ViT on 32x32 images (BalanceSampler,
-- TripletLossWithMiner with AllTripletsMiner, Adam) for a few minutes on
-- 2 cores, and prints CMC@1, precision@5 and mAP@5 beside the untrained
-- model's. The run folder (logs/) holds the metrics, curves, checkpoints and
-- worst-query grids.
--   luajit recipes/train_fashion_mnist.lua [--max_epochs 60] [--help]
-- (An epoch is one BalanceSampler pass: one batch of 5 labels x 16 images.)
local here = arg[0]:match("^(.*)/[^/]*$") or "."
package.path = here .. "/../lua/?.lua;" .. here .. "/../lua/?/init.lua;" .. package.path

local oml = require "oml"
local config = require "oml.pipelines.config"
local common = require "oml.pipelines.common"
local train = require "oml.pipelines.train"
local fashion_mnist = require "oml.data.converters.fashion_mnist"

local SIZE = 32
local MEAN, STD = { 0.286, 0.286, 0.286 }, { 0.353, 0.353, 0.353 } -- Fashion-MNIST's pixel statistics

local defaults = train.defaults()
defaults.dataset_root = oml.zoo.cache_dir() .. "/fashion_mnist"
defaults.per_class = 6000 -- images per class in each part, when converting (6000: all)
defaults.transforms_train = { name = "image_recipe", args = config.open {
  size = SIZE, crop = "random_resized_crop", scale = { 0.7, 1 }, hflip = 0.5, mean = MEAN, std = STD } }
defaults.transforms_val = { name = "image_recipe", args = config.open { size = SIZE, mean = MEAN, std = STD } }
defaults.extractor = { name = "vit", args = config.open {
  arch = { img_size = SIZE, patch_size = 4, embed_dim = 64, depth = 2, num_heads = 4 }, normalise_features = true } }
defaults.sampler.args = { n_labels = 5, n_instances = 16 }
defaults.criterion.args.margin = 0.15
defaults.optimizer.args.lr = config.number(1e-3)
defaults.max_epochs = 240
defaults.valid_period = 120
defaults.valid_at_start = true
defaults.bs_val = 250

local function run(cfg)
  if not common.exists(cfg.dataset_root .. "/" .. cfg.dataframe_name) then
    io.stdout:write(("converting Fashion-MNIST (%s) into %s\n"):format(fashion_mnist.SOURCE, cfg.dataset_root))
    if not common.exists(fashion_mnist.SOURCE .. "/train-images-idx3-ubyte.gz") then
      common.fail("%s is absent: install it with `sudo apt-get install dataset-fashion-mnist`", fashion_mnist.SOURCE)
    end
    fashion_mnist.convert { output = cfg.dataset_root, per_class = cfg.per_class }
  end
  local started = os.time()
  local result = train.run(cfg)
  local rows = { { "cmc@1", "OVERALL/cmc/1" }, { "precision@5", "OVERALL/precision/5" }, { "map@5", "OVERALL/map/5" } }
  io.stdout:write(("\nunseen classes (%s):\n"):format("Sandal, Shirt, Sneaker, Bag, Ankle boot"))
  io.stdout:write(("  %-12s %9s %9s\n"):format("metric", "untrained", "trained"))
  for _, row in ipairs(rows) do
    local before = result.initial and ("%9.4f"):format(result.initial[row[2]]) or ("%9s"):format("-")
    io.stdout:write(("  %-12s %s %9.4f\n"):format(row[1], before, result.metrics[row[2]]))
  end
  io.stdout:write(("\n%d s; run folder %s\n"):format(os.time() - started, result.run))
end

os.exit(common.main(run, arg, defaults, "usage: luajit recipes/train_fashion_mnist.lua [--KEY VALUE ...]"))
