-- ResnetExtractor and ViTExtractor{weights = "<file>.pth"}: real torch.save
-- checkpoints of a narrow ResNet-18 and a small DINO ViT, with random
-- weights, loaded as they are and wrapped as checkpoints wrap them, give
-- PyTorch's embeddings. The files and the embeddings come from
-- spec/fixtures/models/make_pth.py (torch 1.13: the models of
-- bench/torch_models.py in eval mode, no fc, features not normalised, on the
-- input wave below). Full-size ResNet-18 and ViT-S/16 parity is covered by
-- spec/models_spec.lua from formula-filled parameters (a real ResNet-18
-- .pth would be 45 MB).
local oml = require "oml"
local H = require "helper"
local models = oml.models

local DIR = "spec/fixtures/models/"
local expected = oml.load(DIR .. "embeddings.pth")

-- the script's models
local RESNET = { block = "basic", layers = { 2, 2, 2, 2 }, widths = { 4, 8, 16, 32 }, num_classes = 10 }
local VIT = { img_size = 224, patch_size = 16, embed_dim = 48, depth = 2, num_heads = 3 }

-- the script's input: sin(0.37 j + 0.1) at flat position j, computed in float64
local function wave(shape)
  local n = 1
  for _, s in ipairs(shape) do n = n * s end
  return (oml.arange(n, { dtype = "float64" }) * 0.37 + 0.1):sin():view(shape):float()
end
local x = wave({ 2, 3, 224, 224 })

-- max |a - b| / max |b|
local function relative_error(a, b)
  return (a:double() - b:double()):abs():max():item() / b:abs():max():item()
end

local function resnet(weights)
  return models.ResnetExtractor { arch = RESNET, weights = weights }:evaluate()
end

local function vit(weights)
  return models.ViTExtractor { arch = VIT, normalise_features = false, weights = weights }:evaluate()
end

describe("extractor weights from torch.save files", function()
  for _, case in ipairs {
    { "narrow ResNet-18", resnet, "resnet18_narrow", 32 },
    { "small ViT", vit, "vit_small", 48 },
  } do
    local what, build, stem, dim = case[1], case[2], case[3], case[4]

    it(what .. ": a plain state dict gives PyTorch's embeddings within 1e-4", function()
      local out = build(DIR .. stem .. ".pth"):extract(x)
      assert.same({ 2, dim }, out:size())
      local err = relative_error(out, expected[stem])
      assert.is_true(err < 1e-4, ("relative error %.3g"):format(err))
    end)

    it(what .. ": {state_dict = module.*} and OML's model. + criterion.* load identically", function()
      local plain = build(DIR .. stem .. ".pth"):state_dict()
      for _, variant in ipairs { "_module.pth", "_oml.pth" } do
        local loaded = build(DIR .. stem .. variant):state_dict()
        for name, t in pairs(plain) do
          assert.equal(0, (loaded[name]:double() - t:double()):abs():max():item(), variant .. " " .. name)
        end
      end
    end)
  end

  it("takes a MoCo checkpoint's query encoder, whatever the file's extension", function()
    -- moco_v2_tiny.pth.tar: resnet18_narrow's backbone under module.encoder_q.
    -- beside a projector, a different key encoder, a queue and an optimizer
    local out = resnet(DIR .. "moco_v2_tiny.pth.tar"):extract(x)
    assert.is_true(relative_error(out, expected.resnet18_narrow) < 1e-4)
  end)

  it("names what does not fit", function()
    H.raises(function() local _ = resnet(DIR .. "vit_small.pth") end,
             "oml.nn.ResNet:load_state_dict: missing keys: conv1.weight")
    H.raises(function()
      local _ = models.ViTExtractor { arch = { embed_dim = 48, depth = 3, num_heads = 3 }, weights = DIR .. "vit_small.pth" }
    end, "missing keys: blocks.2.norm1.weight")
    H.raises(function() local _ = vit(DIR .. "absent.pth") end, "oml.models.ViTExtractor: cannot open the weights")
  end)
end)
