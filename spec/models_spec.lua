-- oml.models: torchvision's ResNet, DINO's / DINOv2's ViTs and OML's
-- extractors against PyTorch. The reference values come from
-- spec/fixtures/models/make_models.py (torch 1.13, the same architectures
-- retyped in plain torch.nn): every parameter and input is a formula of its
-- position (fill and wave below, the script's fill and wave), so the fixture
-- holds only outputs, gradients and state-dict names.
local oml = require "oml"
local cjson = require "cjson"
local H = require "helper"
local J = require "jacobian"
local nn = oml.nn
local models = oml.models
local R, V = models.resnet, models.vit

local FIXTURE = "spec/fixtures/models/"
local fx = oml.load(FIXTURE .. "models.safetensors")
local NAMES = cjson.decode(H.read_bytes(FIXTURE .. "models.json"))

-- sin(j * step + phase) at flat position j, computed in float64 (the script's wave)
local function wave(shape, step, phase, dtype)
  local n = 1
  for _, s in ipairs(shape) do n = n * s end
  return (oml.arange(n, { dtype = "float64" }) * step + phase):sin():view(shape):to({ dtype = dtype or "float32" })
end

-- the script's role(): (scale, shift) of a tensor's values
local function role(name, t)
  if name:match("running_var$") then return 0.2, 1.0 end
  if name:match("running_mean$") or name:match("bias$") then return 0.1, 0 end
  if name:match("gamma$") or t:dim() == 1 then return 0.1, 1.0 end
  if name:match("token$") or name:match("tokens$") or name:match("pos_embed$") then return 0.5, 0 end
  return 1.7 / math.sqrt(t:numel() / t:size(1)), 0
end

-- The k-th name of PyTorch's state dict gets scale * sin(1.3 j + 0.7 k) + shift.
local function fill(model, names)
  local sd = model:state_dict()
  for k, name in ipairs(names) do
    local t = assert(sd[name], name)
    if t.dtype ~= "int64" then
      local scale, shift = role(name, t)
      t:copy_(wave(t:size(), 1.3, 0.7 * k, "float64") * scale + shift)
    end
  end
  return model
end

local function sorted_names(model, prefix)
  local _, names = model:state_dict()
  local out = {}
  for _, n in ipairs(names) do out[#out + 1] = (prefix or "") .. n end
  table.sort(out)
  return out
end

local function sorted(list)
  local out = {}
  for i, v in ipairs(list) do out[i] = v end
  table.sort(out)
  return out
end

-- max |a - b| / max |b|
local function relative_error(a, b)
  return (a:double() - b:double()):abs():max():item() / b:abs():max():item()
end

local function grad_of(model, name)
  for _, e in ipairs(model:named_parameters()) do
    if e.name == name then return e.module:grad(e.key) end
  end
  error("no parameter " .. name)
end

-- Forward, then backward of sum(output * wave), against the fixture's key.
local function check_against_torch(model, key, x, params)
  local out = model:forward(x)
  assert.is_true(relative_error(out, fx[key .. ".output"]) < 1e-9, key .. ".output")
  local gx = model:backward(x, wave(out:size(), 0.91, 0.3, "float64"))
  assert.is_true(relative_error(gx, fx[key .. ".grad_input"]) < 1e-9, key .. ".grad_input")
  for _, p in ipairs(params) do
    assert.is_true(relative_error(grad_of(model, p), fx[key .. ".grad." .. p]) < 1e-9, key .. ".grad." .. p)
  end
end

local TINY_RESNET = { block = "basic", layers = { 1, 1, 1, 1 }, widths = { 4, 8, 8, 8 }, num_classes = 5 }

local function tiny_resnet(block)
  if block == "basic" then return R.ResNet(TINY_RESNET) end
  return R.ResNet { block = "bottleneck", layers = { 1, 2, 1, 1 }, widths = { 4, 4, 8, 8 }, num_classes = 5 }
end

local TINY_VITS = {
  vit_dino = { version = 1 },
  vit_dinov2 = { version = 2, num_register_tokens = 2 },
  vit_dinov2_aa = { version = 2, num_register_tokens = 2, interpolate_offset = 0, interpolate_antialias = true },
}

local function tiny_vit_options(key)
  local opts = { img_size = 16, patch_size = 4, embed_dim = 8, depth = 2, num_heads = 2 }
  for k, v in pairs(TINY_VITS[key]) do opts[k] = v end
  return opts
end

local function tiny_vit(key) return V.VisionTransformer(tiny_vit_options(key)) end


describe("oml.models against PyTorch", function()
  local x224 = wave({ 2, 3, 224, 224 }, 0.37, 0.1)

  it("ResNet-18 (eval) gives torchvision's logits and features", function()
    local model = fill(R.resnet18(), NAMES.resnet18):evaluate()
    assert.is_true(relative_error(model:forward(x224), fx["resnet18.logits"]) < 1e-4)
    model:add_module("fc", nn.Identity())
    assert.is_true(relative_error(model:forward(x224), fx["resnet18.features"]) < 1e-4)
  end)

  it("ViT-S/16 (eval) gives DINO's features", function()
    local model = fill(V.build("vits16"), NAMES.vits16):evaluate()
    assert.is_true(relative_error(model:forward(x224), fx["vits16.features"]) < 1e-4)
  end)

  it("names parameters and buffers as torchvision and DINO", function()
    assert.same(sorted(NAMES.resnet18), sorted_names(R.resnet18()))
    assert.same(sorted(NAMES.resnet_bottleneck), sorted_names(tiny_resnet("bottleneck")))
    for key in pairs(TINY_VITS) do assert.same(sorted(NAMES[key]), sorted_names(tiny_vit(key))) end
    -- OML's extractors keep the backbone as "model"
    local extractor = models.ViTExtractor { arch = "vits16" }
    local expected = {}
    for _, n in ipairs(sorted(NAMES.vits16)) do expected[#expected + 1] = "model." .. n end
    assert.same(expected, sorted_names(extractor))
    -- the parameters (buffers aside) come in PyTorch's order
    local vit_names = {}
    for _, e in ipairs(extractor.model:named_parameters()) do vit_names[#vit_names + 1] = e.name end
    assert.same(NAMES.vits16, vit_names)
    assert.equal(384, extractor.feat_dim)
  end)

  it("tiny ResNets (training mode) match autograd's gradients and running statistics", function()
    local x = wave({ 2, 3, 32, 32 }, 0.37, 0.1, "float64")
    for _, block in ipairs { "basic", "bottleneck" } do
      local key = "resnet_" .. block
      local model = fill(tiny_resnet(block):double(), NAMES[key])
      check_against_torch(model, key, x, { "conv1.weight", "bn1.weight", "layer2.0.downsample.0.weight",
                                           "layer4.0.bn2.bias", "fc.weight", "fc.bias" })
      local bn = model.layer1.modules[1].bn1
      H.close(bn.running_mean, fx[key .. ".layer1.0.bn1.running_mean"], 1e-12)
      H.close(bn.running_var, fx[key .. ".layer1.0.bn1.running_var"], 1e-12)
    end
  end)

  it("tiny ViTs match autograd, with the position embedding interpolated at another size", function()
    for key, opts in pairs(TINY_VITS) do
      local params = { "pos_embed", "cls_token", "patch_embed.proj.weight", "blocks.0.attn.qkv.weight",
                       "blocks.1.mlp.fc2.bias", "norm.weight" }
      if opts.version == 2 then
        params[#params + 1] = "register_tokens"
        params[#params + 1] = "blocks.1.ls1.gamma"
      end
      for _, size in ipairs { { 16, 16 }, { 12, 20 } } do
        local model = fill(tiny_vit(key):double(), NAMES[key])
        check_against_torch(model, ("%s.%dx%d"):format(key, size[1], size[2]),
                            wave({ 2, 3, size[1], size[2] }, 0.37, 0.1, "float64"), params)
      end
    end
  end)

  it("float32 stays within 1e-4 of PyTorch's float64 on the tiny models", function()
    local model = fill(tiny_vit("vit_dinov2_aa"), NAMES.vit_dinov2_aa)
    local out = model:forward(wave({ 2, 3, 12, 20 }, 0.37, 0.1))
    assert.is_true(relative_error(out, fx["vit_dinov2_aa.12x20.output"]) < 1e-4)
  end)
end)

describe("oml.models backward", function()
  it("passes the Jacobian check through residual blocks", function()
    local basic = R.BasicBlock(3, 4, 2, nn.Sequential(nn.Conv2d(3, 4, 1, { stride = 2, bias = false }),
                                                      nn.BatchNorm2d(4))):double()
    assert.is_true(J.check(basic, oml.randn({ 2, 3, 6, 6 }, { dtype = "float64" }), { tol = 1e-5 }))
    local bottleneck = R.Bottleneck(8, 2, 1):double():evaluate()
    assert.is_true(J.check(bottleneck, oml.randn({ 2, 8, 4, 4 }, { dtype = "float64" }), { tol = 1e-5 }))
  end)

  it("passes the Jacobian check through a tiny ViT and its interpolation", function()
    local v1 = V.VisionTransformer { img_size = 8, patch_size = 4, embed_dim = 4, depth = 1, num_heads = 2 }
    assert.is_true(J.check(v1:double(), oml.randn({ 1, 3, 12, 8 }, { dtype = "float64" }), { tol = 1e-5 }))
    local v2 = V.VisionTransformer { version = 2, img_size = 8, patch_size = 4, embed_dim = 4, depth = 1,
                                     num_heads = 2, num_register_tokens = 1, interpolate_offset = 0,
                                     interpolate_antialias = true }
    assert.is_true(J.check(v2:double(), oml.randn({ 1, 3, 4, 12 }, { dtype = "float64" }), { tol = 1e-5 }))
  end)

  it("gives a ViT the same gradients after an evaluation forward (which keeps no activations)", function()
    local v = V.VisionTransformer { img_size = 8, patch_size = 4, embed_dim = 8, depth = 2, num_heads = 2 }:double()
    local x = oml.randn({ 2, 3, 8, 8 }, { dtype = "float64" })
    local g = oml.randn({ 2, 8 }, { dtype = "float64" })
    local y = v:forward(x):clone()
    local gx = v:backward(x, g):clone()
    local gw = v.blocks.modules[1].mlp.fc1:grad("weight"):clone()
    v:zeroGradParameters()
    v:evaluate()
    H.close(v:forward(x), y, 1e-12)
    assert.is_nil(v.blocks.modules[1]._s)
    H.close(v:backward(x, g), gx, 1e-12)
    H.close(v.blocks.modules[1].mlp.fc1:grad("weight"), gw, 1e-12)
  end)

  it("skips the images' gradient when input_grad is false, the parameters' gradients unchanged", function()
    local E = oml.models
    local extractors = {
      E.ResnetExtractor { arch = { block = "basic", layers = { 1, 1, 1, 1 }, widths = { 2, 2, 2, 2 } } },
      E.ViTExtractor { arch = { img_size = 8, patch_size = 4, embed_dim = 8, depth = 1, num_heads = 2 } },
    }
    for _, e in ipairs(extractors) do
      e:double()
      local x = oml.randn({ 2, 3, 8, 8 }, { dtype = "float64" })
      local g = oml.randn(e:forward(x):size(), { dtype = "float64" })
      assert.is_true(oml.is_tensor(e:backward(x, g)))
      local grads = {}
      for i, p in ipairs(select(2, e:parameters())) do grads[i] = p:clone() end
      e:zeroGradParameters()
      e.input_grad = false
      e:forward(x)
      assert.is_nil(e:backward(x, g))
      for i, p in ipairs(select(2, e:parameters())) do H.close(p, grads[i], 1e-12) end
    end
  end)

  it("CrossEntropyLoss equals PyTorch's and passes the Jacobian check", function()
    local ce = nn.CrossEntropyLoss()
    local logits = oml.tensor({ { 1, 2, 3 }, { 0.5, -1, 0 } }, { dtype = "float64" })
    local target = oml.tensor({ 3, 1 }, { dtype = "int64" })
    -- torch 1.13: F.cross_entropy(torch.tensor([[1.,2,3],[.5,-1,0]]), torch.tensor([2, 0]))
    H.close(ce:forward(logits, target), 0.5058683157)
    assert.is_true(J.check_criterion(ce, oml.randn({ 4, 5 }, { dtype = "float64" }),
                                     oml.tensor({ 5, 1, 2, 5 }, { dtype = "int64" })))
    H.raises(function() ce:forward(logits, oml.tensor({ 4, 1 }, { dtype = "int64" })) end,
             "oml.nn.CrossEntropyLoss: class indices must lie in 1..3 (got 1..4)")
    H.raises(function() ce:forward(logits, oml.tensor({ 1, 2 })) end, "expects int64 class indices [2]")
    H.raises(function() ce:forward(oml.zeros(3), target) end, "expects logits [N,C]")
  end)
end)

describe("oml.models extractors", function()
  it("ViTExtractor normalises as OML (the norm detached) and averages scales", function()
    local e = models.ViTExtractor { arch = tiny_vit_options("vit_dino") }:double()
    local x = oml.randn({ 2, 3, 16, 16 }, { dtype = "float64" })
    local out = e:extract(x)
    H.close(out:norm(2, 2), { 1, 1 }, 1e-12)
    local g = oml.randn({ 2, 8 }, { dtype = "float64" })
    local gx = e:backward(x, g)
    local raw = e.model:forward(x)
    local expected = e.model:backward(x, g / raw:norm(2, 2, true))
    H.close(gx, expected, 1e-12)
    -- multi-scale: the mean over the image and its resizes by 1/sqrt(2), 1/2
    local ms = models.ViTExtractor { arch = tiny_vit_options("vit_dino"), normalise_features = false,
                                     use_multi_scale = true }:double()
    assert.is_true(J.check(ms, oml.randn({ 1, 3, 16, 16 }, { dtype = "float64" }), { tol = 1e-5 }))
  end)

  it("loads OML and official checkpoints strictly, with or without OML's model. prefix", function()
    local dir = H.tempdir()
    local src = fill(tiny_vit("vit_dino"), NAMES.vit_dino)
    local with_prefix = {}
    for k, t in pairs(src:state_dict()) do with_prefix["model." .. k] = t end
    with_prefix["criterion.weight"] = oml.zeros(2)   -- a loss's weights, which OML drops
    oml.save(dir .. "/oml.safetensors", with_prefix)
    oml.save(dir .. "/plain.safetensors", (src:state_dict()))
    for _, file in ipairs { "oml.safetensors", "plain.safetensors" } do
      local e = models.ViTExtractor { arch = tiny_vit_options("vit_dino"), weights = dir .. "/" .. file }
      local loaded, want = e.model:state_dict(), src:state_dict()
      for name, t in pairs(want) do assert.equal(0, (loaded[name]:double() - t:double()):abs():max():item(), name) end
    end
    H.raises(function() models.ViTExtractor { arch = tiny_vit_options("vit_dinov2"), weights = dir .. "/oml.safetensors" } end,
             "oml.nn.VisionTransformer:load_state_dict: missing keys: register_tokens, mask_token")
    H.raises(function() models.ViTExtractor { weights = dir .. "/none.safetensors" } end,
             "oml.models.ViTExtractor: cannot open the weights")
    H.sh("rm -rf " .. dir)
  end)

  it("ResnetExtractor mirrors OML: fc removed, GEM pooling, normalisation", function()
    local e = models.ResnetExtractor { arch = TINY_RESNET }
    assert.equal(8, e.feat_dim)
    assert.equal("Identity", e.model.fc.__name)
    assert.is_nil(e:state_dict()["model.fc.weight"])
    assert.equal(5, models.ResnetExtractor { arch = TINY_RESNET, remove_fc = false }.feat_dim)
    assert.equal(2048, models.ResnetExtractor { arch = "resnet50" }.feat_dim)
    local g = models.ResnetExtractor { arch = TINY_RESNET, gem_p = 3.0, normalise_features = true }:double()
    assert.equal("GEM", g.model.avgpool.__name)
    local x = oml.randn({ 2, 3, 32, 32 }, { dtype = "float64" })
    local out = g:extract(x)
    assert.same({ 2, 8 }, out:size())
    H.close(out:norm(2, 2), { 1, 1 }, 1e-12)
  end)

  it("refuses unknown architectures and unfit images, naming what it knows", function()
    H.raises(function() models.ViTExtractor { arch = "vit_tiny" } end,
             "oml.models.ViTExtractor: unknown arch 'vit_tiny'; known: vits8, vits16, vitb8, vitb16, vits14")
    H.raises(function() models.ResnetExtractor { arch = "resnet19" } end,
             "unknown arch 'resnet19'; known: resnet18, resnet34, resnet50, resnet50_projector, resnet101")
    H.raises(function() R.build("resnet19") end, "oml.models.resnet: unknown arch 'resnet19'; known: resnet18, ")
    H.raises(function() models.ViTExtractor { arch = "vits16", normalise = true } end, "unknown option 'normalise'")
    H.raises(function() models.ResnetExtractor { gem_p = "3" } end, "gem_p must be a number or nil")
    local v2 = tiny_vit("vit_dinov2")
    H.raises(function() v2:forward(oml.zeros({ 1, 3, 16, 18 })) end,
             "oml.models.VisionTransformer: image size 16x18 is not a multiple of the patch size 4")
    H.raises(function() v2:forward(oml.zeros({ 1, 1, 16, 16 })) end, "expects images [B,3,H,W] (got [1,1,16,16])")
    H.raises(function() tiny_vit("vit_dino"):forward(oml.zeros({ 1, 3, 2, 16 })) end,
             "images of 2x16 are smaller than the patch size 4")
    H.raises(function() tiny_resnet("basic"):forward(oml.zeros({ 1, 4, 32, 32 })) end,
             "oml.models.ResNet: expects images [N,3,H,W] (got [1,4,32,32])")
    H.raises(function() V.VisionTransformer { num_register_tokens = 4 } end, "num_register_tokens is a DINOv2 option")
    H.raises(function() V.VisionTransformer { embed_dim = 10, num_heads = 3 } end, "not a multiple of num_heads")
    H.raises(function() R.ResNet { layers = { 1, 1, 0, 1 } } end, "layers[3] must be a positive integer (got 0)")
  end)
end)

describe("oml.models training", function()
  -- 8 images, 4 classes, a Linear head and the cross entropy: each optimizer
  -- drives the loss near zero.
  local function overfit(make_backbone, feat_dim, optimizer, opts, steps)
    oml.manual_seed(3)
    local model = nn.Sequential(make_backbone(), nn.Linear(feat_dim, 4))
    local x = oml.randn({ 8, 3, 16, 16 })
    local y = oml.tensor({ 1, 2, 3, 4, 1, 2, 3, 4 }, { dtype = "int64" })
    local ce = nn.CrossEntropyLoss()
    opts.params = model
    local opt = oml.optim[optimizer](opts)
    local loss
    for _ = 1, steps do
      model:zeroGradParameters()
      loss = ce:forward(model:forward(x), y)
      model:backward(x, ce:backward(model.output, y))
      opt:step()
    end
    return loss
  end

  local function vit()
    return V.VisionTransformer { img_size = 16, patch_size = 4, embed_dim = 16, depth = 1, num_heads = 2 }
  end
  local function resnet()
    return R.ResNet { block = "basic", layers = { 1, 1, 1, 1 }, widths = { 4, 8, 8, 8 }, num_classes = 8 }
  end

  -- learning rates for the ViT, then the ResNet
  for _, case in ipairs {
    { "SGD", { lr = 0.2, momentum = 0.9 }, { lr = 0.1, momentum = 0.9 } },
    { "Adam", { lr = 0.01 }, { lr = 0.01 } },
    { "AdamW", { lr = 0.01, weight_decay = 0.01 }, { lr = 0.01, weight_decay = 0.01 } },
  } do
    it("a tiny ViT and a tiny ResNet overfit a batch with " .. case[1], function()
      assert.is_true(overfit(vit, 16, case[1], case[2], 60) < 0.05)
      assert.is_true(overfit(resnet, 8, case[1], case[3], 60) < 0.05)
    end)
  end
end)
