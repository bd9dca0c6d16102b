-- oml.pipelines.registry: OML's registries (oml/registry/*.py): a config
-- block {name = ..., args = {...}} of a kind ("extractor", "criterion",
-- "miner", "optimizer", "scheduler", "sampler", "transforms",
-- "postprocessor") names its constructor, which is called with the args.
--
--   local criterion = registry.build("criterion", cfg.criterion)
--   local optimizer = registry.build("optimizer", cfg.optimizer, {params = model})
--
-- Names are OML's. A target is a module path and a field, required only when
-- a block is built, so that this file loads before every target exists.
-- Blocks nested in args are built first, as OML does: `miner` (a criterion's)
-- and `extractor` (extractor_with_mlp's). Runtime args (params, labels,
-- optimizer, ...) are added to the block's args and win over them, as OML's
-- get_*_by_cfg(cfg, **kwargs_runtime). The constructors check their args.
local M = {}

-- kind -> name -> {module, field [, adapt]}; adapt(constructor, args) calls a
-- target that does not take one table of named args.
local TARGETS = {}

-- Internal errors are tables; public functions turn them into messages at
-- their caller's line (finish is tail-called: level 2 is the caller).
-- Errors of the constructors pass through as they are.
local Failure = {}

local function raise(fmt, ...)
  error(setmetatable({ msg = fmt:format(...) }, Failure), 0)
end

local function finish(ok, ...)
  if ok then return ... end
  local err = ...
  if getmetatable(err) == Failure then error("oml.pipelines.registry: " .. err.msg, 2) end
  error(err, 0)
end

local function public(fn)
  return function(...) return finish(pcall(fn, ...)) end
end

-- OML's transforms take (im_size, mean, std) in Lua too.
local function im_size_mean_std(constructor, args, name)
  for key in pairs(args) do
    if key ~= "im_size" and key ~= "mean" and key ~= "std" then
      raise("%s: unknown argument '%s' (expected im_size, mean, std)", name, tostring(key))
    end
  end
  return constructor(args.im_size, args.mean, args.std)
end

-- A class whose constructor is Class.new(args).
local function new(class, args) return class.new(args) end

local DEFAULTS = {
  extractor = {
    resnet = { "oml.models", "ResnetExtractor" },
    vit = { "oml.models", "ViTExtractor" },
    vit_clip = { "oml.models", "ViTCLIPExtractor" },
    vit_unicom = { "oml.models", "ViTUnicomExtractor" },
    extractor_with_mlp = { "oml.models", "ExtractorWithMLP" },
  },
  criterion = {
    triplet = { "oml.losses", "TripletLoss" },
    triplet_plain = { "oml.losses", "TripletLossPlain" },
    triplet_with_miner = { "oml.losses", "TripletLossWithMiner" },
    arcface = { "oml.losses", "ArcFaceLoss" },
    mlp_arcface = { "oml.losses", "ArcFaceLossWithMLP" },
    -- not in OML's registry, but OML has the classes
    contrastive = { "oml.losses", "ContrastiveLoss" },
    surrogate_precision = { "oml.losses", "SurrogatePrecision" },
  },
  miner = {
    all_triplets = { "oml.miners", "AllTripletsMiner" },
    hard_cluster = { "oml.miners", "HardClusterMiner" },
    hard_triplets = { "oml.miners", "HardTripletsMiner" },
    n_hard_triplets = { "oml.miners", "NHardTripletsMiner" },
  },
  optimizer = {
    sgd = { "oml.optim", "SGD" },
    adam = { "oml.optim", "Adam" },
    adamw = { "oml.optim", "AdamW" },
  },
  scheduler = {
    StepLR = { "oml.optim", "StepLR" },
    MultiStepLR = { "oml.optim", "MultiStepLR" },
    ExponentialLR = { "oml.optim", "ExponentialLR" },
    CosineAnnealingLR = { "oml.optim", "CosineAnnealingLR" },
    OneCycleLR = { "oml.optim", "OneCycleLR" },
    ReduceLROnPlateau = { "oml.optim", "ReduceLROnPlateau" },
  },
  sampler = {
    balance = { "oml.samplers", "BalanceSampler" },
    category_balance = { "oml.samplers", "CategoryBalanceSampler" },
    distinct_category_balance = { "oml.samplers", "DistinctCategoryBalanceSampler" },
  },
  -- the datasets take ImageRecipes (run by the loader's C workers); image_recipe
  -- takes ImageRecipe's own arguments
  transforms = {
    norm_resize_torch = { "oml.data.image_recipe", "norm_resize_torch", im_size_mean_std },
    augs_torch = { "oml.data.image_recipe", "augs_torch", im_size_mean_std },
    image_recipe = { "oml.data.image_recipe", "new" },
  },
  -- OML registers pairwise_reranker; the thresholdings are OML's classes too
  postprocessor = {
    pairwise_reranker = { "oml.retrieval.postprocessors", "PairwiseReranker", new },
    constant_thresholding = { "oml.retrieval.postprocessors", "ConstantThresholding", new },
    adaptive_thresholding = { "oml.retrieval.postprocessors", "AdaptiveThresholding", new },
  },
}

-- args keys that hold a nested block, and its kind
local NESTED = { miner = "miner", extractor = "extractor" }

for kind, names in pairs(DEFAULTS) do
  TARGETS[kind] = {}
  for name, target in pairs(names) do TARGETS[kind][name] = target end
end

local function sorted_names(kind)
  local names = {}
  for name in pairs(TARGETS[kind]) do names[#names + 1] = name end
  table.sort(names)
  return names
end

local function check_kind(kind)
  if TARGETS[kind] == nil then
    local kinds = {}
    for k in pairs(TARGETS) do kinds[#kinds + 1] = k end
    table.sort(kinds)
    raise("unknown kind '%s' (known: %s)", tostring(kind), table.concat(kinds, ", "))
  end
end

-- names(kind) -> the sorted names of a kind.
M.names = public(function(kind)
  check_kind(kind)
  return sorted_names(kind)
end)

-- register(kind, name, module_path, field [, adapt]): adds or replaces a name;
-- a new kind is created on first use.
M.register = public(function(kind, name, module_path, field, adapt)
  if type(kind) ~= "string" or type(name) ~= "string" or type(module_path) ~= "string"
      or type(field) ~= "string" or (adapt ~= nil and type(adapt) ~= "function") then
    raise("register expects (kind, name, module path, field [, adapt function]) as strings")
  end
  TARGETS[kind] = TARGETS[kind] or {}
  TARGETS[kind][name] = { module_path, field, adapt }
end)

local function constructor(kind, name, path)
  local target = TARGETS[kind][name]
  if target == nil then
    raise("%s: unknown %s '%s' (known: %s)", path, kind, tostring(name), table.concat(sorted_names(kind), ", "))
  end
  local ok, module = pcall(require, target[1])
  if not ok then
    raise("%s: %s '%s' needs %s, which cannot be loaded: %s", path, kind, name, target[1],
          tostring(module):match("[^\n]*"))
  end
  local fn = type(module) == "table" and module[target[2]] or nil
  if fn == nil then raise("%s: %s '%s': %s has no %s", path, kind, name, target[1], target[2]) end
  local adapt = target[3]
  if adapt then return function(args) return adapt(fn, args, kind .. " '" .. name .. "'") end, true end
  return fn
end

-- constructor(kind, name) -> function(args) -> object: the target, required now.
M.constructor = public(function(kind, name)
  check_kind(kind)
  local fn, adapted = constructor(kind, name, kind)
  return adapted and public(fn) or fn
end)

local function build(kind, block, runtime, path)
  if type(block) ~= "table" or type(block.name) ~= "string" then
    raise("%s: expected a block {name = ..., args = {...}} (got %s)", path, type(block))
  end
  if block.args ~= nil and type(block.args) ~= "table" then
    raise("%s.args: expected a table (got %s)", path, type(block.args))
  end
  local make = constructor(kind, block.name, path)
  local args = {}
  for key, value in pairs(block.args or {}) do
    local nested = NESTED[key]
    if nested and type(value) == "table" and type(value.name) == "string" then
      value = build(nested, value, nil, path .. ".args." .. key)
    end
    args[key] = value
  end
  for key, value in pairs(runtime or {}) do args[key] = value end
  return make(args)
end

-- build(kind, block [, runtime_args [, path]]) -> the object; path (the
-- config key, kind by default) names the block in messages.
M.build = public(function(kind, block, runtime, path)
  check_kind(kind)
  if runtime ~= nil and type(runtime) ~= "table" then raise("runtime args must be a table (got %s)", type(runtime)) end
  return build(kind, block, runtime, path or kind)
end)

return M
