-- oml.models.ViTExtractor and oml.models.ResnetExtractor: OML's extractors
-- (oml/models/vit_dino/extractor.py, oml/models/resnet/extractor.py): a
-- backbone kept as the child "model", so that state dicts read
-- "model.blocks.0.attn.qkv.weight" as OML's, and embeddings optionally
-- L2-normalised as OML's normalise(): x / ||x|| with the norm DETACHED, so
-- backward divides the gradient by the norm and nothing more.
--
--   local e = oml.models.ViTExtractor{arch = "vits16", normalise_features = true, weights = "vits16_dino"}
--   local emb = e:extract(images)      -- [B, e.feat_dim]
local oml = require "oml"
local nn = require "oml.nn"
local T = require "oml.tensor"
local vit = require "oml.models.vit"
local resnet = require "oml.models.resnet"
local resample = require "oml.models.resample"
local torch_checkpoint = require "oml.io.torch_checkpoint"

local M = {}

-- ---- weights -----------------------------------------------------------------

local function is_zoo_name(weights)
  return not weights:find("/", 1, true) and not weights:find("%.%w+$") and oml.zoo.registry[weights] ~= nil
end

-- torch.save's zip (since torch 1.6) and its older pickle, whatever the
-- file's extension (OML's .ckpt, MoCo's .pth.tar): oml.load picks a reader
-- by extension only.
local function is_torch_checkpoint(f)
  local head = f:read(4) or ""
  return head == "PK\3\4" or head:sub(1, 2) == "\128\2"
end

-- A state dict from a path or a zoo name (downloaded and converted once).
local function read_weights(weights, who)
  if type(weights) ~= "string" then T.raise(who, "weights must be a path or a zoo name (got %s)", T.kind(weights)) end
  local path = is_zoo_name(weights) and oml.zoo.fetch(weights) or weights
  local f = io.open(path, "rb")
  if f == nil then
    T.raise(who, "cannot open the weights '%s' (neither a file nor a name of oml.zoo: %s)", weights,
            table.concat(oml.zoo.names(), ", "))
  end
  local torch_saved = is_torch_checkpoint(f)
  f:close()
  return torch_saved and torch_checkpoint.load(path) or oml.load(path)
end

-- OML's remove_criterion_in_state_dict and remove_prefix_from_state_dict:
-- drops a loss's weights and the prefix before trial_key ("model." of an
-- OML checkpoint), which every key must then have.
local function clean_state_dict(sd, trial_key, who)
  local out, prefix = {}, nil
  for key in pairs(sd) do
    local at = not key:match("^criterion%.") and key:find(trial_key, 1, true)
    if at and (prefix == nil or at - 1 < #prefix) then prefix = key:sub(1, at - 1) end
  end
  for key, t in pairs(sd) do
    if not key:match("^criterion%.") then
      if key:sub(1, #(prefix or "")) ~= (prefix or "") then
        T.raise(who, "the weights mix the prefix '%s' with the key '%s'", prefix, key)
      end
      out[key:sub(#(prefix or "") + 1)] = t
    end
  end
  return out
end

-- ---- normalisation as OML's ------------------------------------------------------

local function normalise(x)
  local norm = x:norm(2, 2, true)
  return x / norm, norm
end

-- ---- a common base -------------------------------------------------------------

local Extractor = nn.class("Extractor", nn.Module)
M.Extractor = Extractor

function Extractor:extract(images) return self:forward(images) end

function Extractor:features(x) return self.model:forward(x) end

function Extractor:forward(x)
  local feats = self:features(x)
  self._norm = nil
  if self.normalise_features then feats, self._norm = normalise(feats) end
  self.output = feats
  return feats
end

function Extractor:features_backward(x, g) return self.model:backward(x, g) end

function Extractor:backward(x, g)
  if self._norm ~= nil then g = g / self._norm end
  self.model.input_grad = self.input_grad
  self.grad_input = self:features_backward(x, g)
  return self.grad_input
end

function Extractor:extra_repr()
  return ("arch=%s, feat_dim=%d, normalise_features=%s"):format(type(self.arch) == "table" and "custom" or self.arch,
                                                                self.feat_dim,
                                                                tostring(self.normalise_features))
end

local function flag(opts, key, default, who)
  local v = opts[key]
  if v == nil then return default end
  if type(v) ~= "boolean" then T.raise(who, "%s must be a boolean (got %s)", key, T.kind(v)) end
  return v
end

-- ---- ViTExtractor --------------------------------------------------------------

local ViTExtractor = nn.class("ViTExtractor", Extractor)
M.ViTExtractor = ViTExtractor

local VIT_OPTIONS = { arch = true, normalise_features = true, use_multi_scale = true, weights = true }
local MULTI_SCALES = { 1.0, 1 / 2 ^ 0.5, 1 / 2 } -- OML's (from DINO's eval code)

-- ViTExtractor{arch = "vits16", normalise_features = true, use_multi_scale = false, weights = nil};
-- arch may also be a table of VisionTransformer options (a custom or tiny model).
function ViTExtractor:__init(opts)
  local who = "oml.models.ViTExtractor"
  Extractor.__init(self)
  opts = T.options(opts, who, VIT_OPTIONS)
  self.arch = opts.arch or "vits16"
  if type(self.arch) ~= "table" and vit.ARCHS[self.arch] == nil then
    T.raise(who, "unknown arch '%s'; known: %s", tostring(self.arch), table.concat(vit.NAMES, ", "))
  end
  self.normalise_features = flag(opts, "normalise_features", true, who)
  self.use_multi_scale = flag(opts, "use_multi_scale", false, who)
  self:add_module("model", type(self.arch) == "table" and vit.VisionTransformer(self.arch) or vit.build(self.arch))
  self.feat_dim = self.model.feat_dim
  if opts.weights ~= nil then self:load_weights(opts.weights) end
end

-- load_weights(path or zoo name): OML's loading: the state dict unwrapped,
-- a loss's weights and the prefix before "norm.bias" dropped, then loaded
-- strictly into the backbone.
function ViTExtractor:load_weights(weights)
  local who = "oml.models.ViTExtractor"
  self.model:load_state_dict(clean_state_dict(read_weights(weights, who), "norm.bias", who))
  return self
end

-- ViTExtractor.from_pretrained(name): the zoo's model with the arguments
-- OML pairs with it (its init_args).
function ViTExtractor.from_pretrained(name)
  local entry = oml.zoo.get(name)
  if entry.extractor ~= "ViTExtractor" and entry.extractor ~= "ViTExtractor_v2" then
    T.raise("oml.models.ViTExtractor.from_pretrained", "%s is a %s", name, tostring(entry.extractor))
  end
  return ViTExtractor { arch = entry.init_args.arch, normalise_features = entry.init_args.normalise_features,
                        weights = name }
end

-- OML's _multi_scale: the mean of the features of the image and of its
-- bilinear resizes by 1/sqrt(2) and 1/2.
function ViTExtractor:features(x)
  if not self.use_multi_scale then return self.model:forward(x) end
  self.model:check_input(x)
  local sum
  self._scales = {}
  for i, s in ipairs(MULTI_SCALES) do
    local r = s ~= 1 and resample.bilinear(x:size(3), x:size(4), s, { dtype = x.dtype, device = x.device }) or nil
    local f = self.model:forward(r and r:forward(x) or x)
    self._scales[i] = r or false
    sum = sum and sum:add_(f) or f:clone()
  end
  return sum:div_(#MULTI_SCALES)
end

-- Under multi-scale, the last scale's activations are at hand; the others
-- are recomputed.
function ViTExtractor:features_backward(x, g)
  if not self.use_multi_scale then return self.model:backward(x, g) end
  g = g / #MULTI_SCALES
  local gx
  for i = #MULTI_SCALES, 1, -1 do
    local r = self._scales[i]
    local input = r and r:forward(x) or x
    if i ~= #MULTI_SCALES then self.model:forward(input) end
    local gi = self.model:backward(input, g)
    if gi ~= nil then
      gi = r and r:backward(gi) or gi
      gx = gx and gx:add_(gi) or gi:clone()
    end
  end
  self._scales = nil
  return gx
end

-- ---- ResnetExtractor -------------------------------------------------------------

local ResnetExtractor = nn.class("ResnetExtractor", Extractor)
M.ResnetExtractor = ResnetExtractor

local RESNET_OPTIONS = { arch = true, gem_p = true, remove_fc = true, normalise_features = true, weights = true }

local RESNET_ARCHS = { "resnet18", "resnet34", "resnet50", "resnet50_projector", "resnet101", "resnet152" }

-- OML's resnet50_projector (MoCo v2): fc = Linear(2048, 2048), ReLU, Linear(2048, 128).
local function build_resnet(arch)
  if arch ~= "resnet50_projector" then return resnet.build(arch) end
  local model = resnet.build("resnet50", { num_classes = 128 })
  local d = model.fc.weight:size(2)
  model:add_module("fc", nn.Sequential(nn.Linear(d, d), nn.ReLU(), model.fc))
  return model
end

-- MoCo's checkpoints (resnet50_moco_v2's, or one's own): the query
-- encoder's weights, under "encoder_q." (after oml.load has stripped
-- DataParallel's "module."); other state dicts as they are.
local function moco_query_encoder(sd)
  local out
  for key, t in pairs(sd) do
    local rest = key:match("^encoder_q%.(.*)$")
    if rest then
      out = out or {}
      out[rest] = t
    end
  end
  return out or sd
end

-- ResnetExtractor{arch = "resnet50", gem_p = nil, remove_fc = true, normalise_features = false, weights = nil};
-- arch may also be a table of ResNet options (a custom or tiny model).
function ResnetExtractor:__init(opts)
  local who = "oml.models.ResnetExtractor"
  Extractor.__init(self)
  opts = T.options(opts, who, RESNET_OPTIONS)
  self.arch = opts.arch or "resnet50"
  local known = type(self.arch) == "table"
  for _, a in ipairs(RESNET_ARCHS) do known = known or a == self.arch end
  if not known then
    T.raise(who, "unknown arch '%s'; known: %s", tostring(self.arch), table.concat(RESNET_ARCHS, ", "))
  end
  self.remove_fc = flag(opts, "remove_fc", true, who)
  self.normalise_features = flag(opts, "normalise_features", false, who)
  if opts.gem_p ~= nil and opts.gem_p ~= false and type(opts.gem_p) ~= "number" then
    T.raise(who, "gem_p must be a number or nil (got %s)", T.kind(opts.gem_p))
  end
  self.gem_p = opts.gem_p or nil
  local model = type(self.arch) == "table" and resnet.ResNet(self.arch) or build_resnet(self.arch)
  if self.gem_p then model:add_module("avgpool", nn.GEM(self.gem_p)) end
  self:add_module("model", model)
  if self.remove_fc then model:add_module("fc", nn.Identity()) end
  self.feat_dim = self.remove_fc and model.feat_dim or self:fc_out_features()
  if opts.weights ~= nil then self:load_weights(opts.weights) end
end

-- load_weights(path or zoo name): OML's loading (MoCo's query encoder
-- picked out, a loss's weights and the prefix before "layer4." dropped),
-- then strictly into the backbone; with remove_fc the checkpoint's fc.* is
-- left out rather than refused.
function ResnetExtractor:load_weights(weights)
  local who = "oml.models.ResnetExtractor"
  local sd = read_weights(weights, who)
  sd = clean_state_dict(moco_query_encoder(sd), "layer4.", who)
  if self.remove_fc then
    for key in pairs(sd) do
      if key:match("^fc%.") then sd[key] = nil end
    end
  end
  self.model:load_state_dict(sd)
  return self
end

-- ResnetExtractor.from_pretrained(name): the zoo's model with the arguments
-- OML pairs with it (its init_args; gem_p = false is OML's None).
function ResnetExtractor.from_pretrained(name)
  local entry = oml.zoo.get(name)
  if entry.extractor ~= "ResnetExtractor" then
    T.raise("oml.models.ResnetExtractor.from_pretrained", "%s is a %s", name, tostring(entry.extractor))
  end
  local args = entry.init_args
  return ResnetExtractor { arch = args.arch, gem_p = args.gem_p, remove_fc = args.remove_fc,
                           normalise_features = args.normalise_features, weights = name }
end

function ResnetExtractor:fc_out_features()
  local fc = self.model.fc
  if fc.modules then fc = fc.modules[#fc.modules] end
  return fc.weight:size(1)
end

return M
