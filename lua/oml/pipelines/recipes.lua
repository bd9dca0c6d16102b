-- oml.pipelines.recipes: OML's recipes for the standard retrieval datasets
-- (InShop, SOP, CUB, Cars), shared by recipes/train_<name>.lua and
-- recipes/validate_<name>.lua: the setup of OML's configs (ViT-S/16 from
-- DINO weights, 224x224 images, BalanceSampler, TripletLossWithMiner with
-- AllTripletsMiner, margin 0.15, Adam at lr 1e-5) and, where the dataset is
-- absent, a message that says where to get it and how to convert it.
--
--   os.exit(require("oml.pipelines.recipes").train("inshop", arg))
local oml = require "oml"
local train = require "oml.pipelines.train"
local validate = require "oml.pipelines.validate"

local M = {}

M.DATASETS = {
  inshop = { name = "DeepFashion In-shop", root = "data/DeepFashion_InShop", weights = "vits16_inshop",
             url = "http://mmlab.ie.cuhk.edu.hk/projects/DeepFashion/InShopRetrieval.html",
             convert = "recipes/convert_inshop.lua" },
  sop = { name = "Stanford Online Products", root = "data/Stanford_Online_Products", weights = "vits16_sop",
          url = "https://cvgl.stanford.edu/projects/lifted_struct/", convert = "recipes/convert_sop.lua" },
  cub = { name = "CUB-200-2011", root = "data/CUB_200_2011", weights = "vits16_cub",
          url = "https://www.vision.caltech.edu/datasets/cub_200_2011/", convert = "recipes/convert_cub.lua" },
  cars = { name = "Cars196", root = "data/CARS196", weights = "vits16_cars",
           url = "https://ai.stanford.edu/~jkrause/cars/car_dataset.html", convert = "recipes/convert_cars.lua" },
}

local function dataset(name)
  local d = M.DATASETS[name]
  if d == nil then error("oml.pipelines.recipes: unknown dataset '" .. tostring(name) .. "'", 3) end
  return d
end

-- The train defaults of a dataset (OML's setup).
function M.train_defaults(name)
  local d = dataset(name)
  local cfg = train.defaults()
  cfg.dataset_root = d.root
  cfg.logs_root = "logs/" .. name
  cfg.extractor.args.weights = "vits16_dino"
  cfg.extractor.args.normalise_features = false
  cfg.sampler.args = { n_labels = 30, n_instances = 4 }
  cfg.max_epochs = 10000
  cfg.bs_val = 256
  return cfg
end

-- The validate defaults: OML's model trained on the dataset (from the zoo),
-- or --checkpoint of a run.
function M.validate_defaults(name)
  local d = dataset(name)
  local cfg = validate.defaults()
  cfg.dataset_root = d.root
  cfg.logs_root = "logs/" .. name
  cfg.extractor.args.weights = d.weights
  cfg.extractor.args.normalise_features = oml.zoo.get(d.weights).init_args.normalise_features
  cfg.bs_val = 256
  return cfg
end

function M.train(name, argv)
  local d = dataset(name)
  return train.main(argv, M.train_defaults(name), ("usage: luajit recipes/train_%s.lua [--KEY VALUE ...]"):format(name),
    { dataset_help = d })
end

function M.validate(name, argv)
  local d = dataset(name)
  return validate.main(argv, M.validate_defaults(name),
    ("usage: luajit recipes/validate_%s.lua [--checkpoint RUN/best.safetensors] [--KEY VALUE ...]"):format(name),
    { dataset_help = d })
end

return M
