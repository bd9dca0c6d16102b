-- oml.models: OML's extractors and the backbones they wrap.
--   oml.models.ViTExtractor{arch = "vits16", normalise_features = true, use_multi_scale = false, weights = nil}
--   oml.models.ResnetExtractor{arch = "resnet50", gem_p = nil, remove_fc = true, normalise_features = false,
--                              weights = nil}
--   oml.models.vit (VisionTransformer, build(arch)), oml.models.resnet (ResNet, resnet18 ... resnet152)
local extractors = require "oml.models.extractors"

return {
  ViTExtractor = extractors.ViTExtractor,
  ResnetExtractor = extractors.ResnetExtractor,
  vit = require "oml.models.vit",
  resnet = require "oml.models.resnet",
}
