-- oml: metric learning on a C tensor engine, driven from LuaJIT.
--   local oml = require "oml"
--   local a = oml.tensor{{1, 2, 3}, {4, 5, 6}}
--   print(oml.matmul(a, a:t()))
local T = require "oml.tensor"

local oml = {
  Tensor = T.Tensor,
  is_tensor = T.is_tensor,
  version = "0.1.0",
}

-- Namespaces come first, so that a method of the same name (t:data()) is not
-- also installed as oml.data.
oml.data = {
  read_dataframe = require("oml.data.dataframe").read,
  transforms = require "oml.data.transforms",
  ImageRecipe = require "oml.data.image_recipe",
  DataLoader = require "oml.data.loader",
}
for name, dataset in pairs(require "oml.data.datasets") do oml.data[name] = dataset end
oml.samplers = require "oml.samplers"
oml.miners = require "oml.miners"

-- Each op family adds methods (t:name(...), also oml.name(t, ...)) and
-- functions (oml.name(...) only).
local FAMILIES = {
  "creation", "shape", "elementwise", "reduce", "linalg", "index", "sort", "join", "distance",
  "random", "system",
}

for _, family in ipairs(FAMILIES) do
  local mod = require("oml.ops." .. family)
  for name, fn in pairs(mod.methods or {}) do
    T.Tensor[name] = fn
    oml[name] = oml[name] or fn
  end
  for name, fn in pairs(mod.functions or {}) do oml[name] = fn end
end

-- Files: safetensors is the native format (oml.save writes it); oml.load also
-- reads PyTorch checkpoints (.pth, .pt) through a safe unpickler.
local safetensors = require "oml.io.safetensors"
local torch_checkpoint = require "oml.io.torch_checkpoint"
oml.save = safetensors.save
function oml.load(path, opts)
  if type(path) == "string" and (path:match("%.pth$") or path:match("%.pt$")) then
    return torch_checkpoint.load(path)
  end
  return safetensors.load(path, opts)
end

-- Retrieval: exact k-NN and OML's functional metrics.
oml.retrieval = {
  knn = require "oml.retrieval.knn",
  metrics = require "oml.retrieval.metrics",
}

-- Retrieval results, their postprocessors, and metrics over a validation set.
oml.retrieval.RetrievalResults = require "oml.retrieval.results"
do
  local postprocessors = require "oml.retrieval.postprocessors"
  oml.retrieval.ConstantThresholding = postprocessors.ConstantThresholding
  oml.retrieval.AdaptiveThresholding = postprocessors.AdaptiveThresholding
  oml.retrieval.PairwiseReranker = postprocessors.PairwiseReranker
end
oml.retrieval.report = require "oml.retrieval.report"
oml.metrics = { EmbeddingMetrics = require "oml.metrics.embeddings" }

-- Images: JPEG through libjpeg-turbo.
oml.jpeg = require "oml.io.jpeg"

-- Pretrained weights: the registry, downloads and conversion.
oml.zoo = require "oml.zoo"

-- Neural networks, optimizers and models load on first use (oml.nn, ...):
-- they require "oml" themselves, and most scripts never touch them.
local LAZY = { nn = "oml.nn", optim = "oml.optim", models = "oml.models", losses = "oml.losses" }
setmetatable(oml, {
  __index = function(t, key)
    local path = LAZY[key]
    if path == nil then return nil end
    local mod = require(path)
    rawset(t, key, mod)
    return mod
  end,
})

return oml
