-- oml.models.vit: the vision transformers OML loads, with their parameter
-- names, so that official checkpoints load as they are:
--   version 1: DINO's VisionTransformer (facebookresearch/dino,
--     vision_transformer.py; OML's oml/models/vit_dino/external): cls_token,
--     pos_embed, patch_embed.proj, blocks.N.{norm1, attn.qkv, attn.proj,
--     norm2, mlp.fc1, mlp.fc2}, norm; LayerNorm eps 1e-6, qkv bias. Other
--     image sizes interpolate the position embedding bicubically with DINO's
--     scale factor (n + 0.1) / sqrt(N).
--   version 2: DINOv2's DinoVisionTransformer (facebookresearch/dinov2;
--     OML's oml/models/vit_dino/external_v2) as its hub builds it: the above
--     plus layer scale (blocks.N.ls1.gamma, ls2.gamma), register tokens,
--     mask_token, a position embedding for 518 x 518 images, and either the
--     0.1 offset or (the _reg models) an antialiased resize to the grid.
-- The output is the final norm of the class token ([B, embed_dim]); backward
-- runs explicitly through every block and the interpolation.
--
--   vit.build("vits16")       vits8 vits16 vitb8 vitb16 vits14 vitb14 vitl14 and *_reg
--   vit.VisionTransformer{img_size = 16, patch_size = 4, embed_dim = 8, depth = 2, num_heads = 2}
local oml = require "oml"
local nn = require "oml.nn"
local T = require "oml.tensor"
local F = require "oml.nn.functional"
local resample = require "oml.models.resample"

local C = T.C

local M = {}

local function accumulate(module, key, g)
  local target = module:grad(key)
  if target ~= nil then target:add_(g) end
end

-- g summed over its first dim, keeping it: the gradient of a [1, ...]
-- parameter expanded over the batch.
local function batch_sum(g)
  return g:sum(1, true)
end

-- ---- parts -------------------------------------------------------------------

-- x * gamma over the last dim (DINOv2's LayerScale).
local LayerScale = nn.class("LayerScale", nn.Module)
M.LayerScale = LayerScale

function LayerScale:__init(dim, init_value)
  nn.Module.__init(self)
  self:register_parameter("gamma", oml.full({ dim }, init_value or 1e-5))
end

function LayerScale:forward(x)
  self.output = x * self.gamma
  return self.output
end

function LayerScale:backward(x, g)
  local gg = self:grad("gamma")
  if gg ~= nil then
    local lead = {}
    for d = 1, x:dim() - 1 do lead[#lead + 1] = d end
    gg:add_((g * x):sum(lead))
  end
  self.grad_input = g * self.gamma
  return self.grad_input
end

-- fc1 -> GELU -> fc2 (dropout 0 as DINO's, left out).
local Mlp = nn.class("Mlp", nn.Module)
M.Mlp = Mlp

function Mlp:__init(dim, hidden)
  nn.Module.__init(self)
  self:add_module("fc1", nn.Linear(dim, hidden))
  self:add_module("act", nn.GELU())
  self:add_module("fc2", nn.Linear(hidden, dim))
end

-- keep_hidden: keep fc1's output for the GELU's backward; without, the
-- GELU overwrites it (evaluation: nothing else reads it).
local function mlp_forward(self, x, keep_hidden)
  local h = self.fc1:forward(x)
  self.fc1.output = nil
  if keep_hidden then
    self._h, self._a = h, self.act:forward(h)
  else
    F.activation("oml.models.Mlp", self.act.kind, h, h)
    self._h, self._a = nil, h
  end
  self.output = self.fc2:forward(self._a)
  return self.output
end

function Mlp:forward(x) return mlp_forward(self, x, self.training) end

function Mlp:backward(x, g)
  if self._h == nil then mlp_forward(self, x, true) end -- after an evaluation forward
  local ga = self.fc2:backward(self._a, g)
  -- ga is ours alone: the GELU's gradient overwrites it
  F.activation_backward("oml.models.Mlp", self.act.kind, self._h, ga, ga)
  self.grad_input = self.fc1:backward(x, ga)
  self._h, self._a = nil, nil
  return self.grad_input
end

-- The image cut into patches and embedded: [B, C, H, W] -> [B, (H/p)(W/p), D].
local PatchEmbed = nn.class("PatchEmbed", nn.Module)
M.PatchEmbed = PatchEmbed

function PatchEmbed:__init(patch_size, in_chans, dim)
  nn.Module.__init(self)
  self.patch_size = patch_size
  self:add_module("proj", nn.Conv2d(in_chans, dim, patch_size, { stride = patch_size }))
end

function PatchEmbed:forward(x)
  local y = self.proj:forward(x)
  self._grid = y:size()
  self.output = y:flatten(3):transpose(2, 3)   -- a view [B, n, D]
  return self.output
end

function PatchEmbed:backward(x, g)
  local grid = self._grid
  local gy = g:transpose(2, 3):reshape(grid)
  self.proj.input_grad = self.input_grad
  self.grad_input = self.proj:backward(x, gy)
  return self.grad_input
end

-- Pre-norm transformer block: x + ls1(attn(norm1(x))), then the same with the MLP.
local Block = nn.class("Block", nn.Module)
M.Block = Block

function Block:__init(dim, num_heads, mlp_ratio, layerscale)
  nn.Module.__init(self)
  self:add_module("norm1", nn.LayerNorm(dim, { eps = 1e-6 }))
  self:add_module("attn", nn.Attention(dim, { num_heads = num_heads, qkv_bias = true }))
  if layerscale then self:add_module("ls1", LayerScale(dim, layerscale)) end
  self:add_module("norm2", nn.LayerNorm(dim, { eps = 1e-6 }))
  self:add_module("mlp", Mlp(dim, math.floor(dim * mlp_ratio)))
  if layerscale then self:add_module("ls2", LayerScale(dim, layerscale)) end
end

-- forward(x, class_token_only): with class_token_only, only the class
-- token's output [B,1,D] (the attention's queries, the residual and the MLP
-- of token 1 alone; every token still serves as a key and value).
function Block:forward(x, class_token_only)
  local s = { class_token_only = class_token_only }
  s.h1 = self.norm1:forward(x)
  s.a = class_token_only and self.attn:forward_class_token(s.h1) or self.attn:forward(s.h1)
  local a = self.ls1 and self.ls1:forward(s.a) or s.a
  s.x1 = (class_token_only and x:narrow(2, 1, 1) or x) + a
  s.h2 = self.norm2:forward(s.x1)
  s.m = self.mlp:forward(s.h2)
  local m = self.ls2 and self.ls2:forward(s.m) or s.m
  self._s = s
  self.output = s.x1 + m
  return self.output
end

function Block:backward(x, g)
  local s = self._s
  local gm = self.ls2 and self.ls2:backward(s.m, g) or g
  local gx1 = self.norm2:backward(s.x1, self.mlp:backward(s.h2, gm))
  gx1:add_(g)
  local ga = self.ls1 and self.ls1:backward(s.a, gx1) or gx1
  local gx
  if s.class_token_only then
    gx = self.norm1:backward(x, self.attn:backward_class_token(s.h1, ga))
    gx:narrow(2, 1, 1):add_(gx1)
  else
    gx = self.norm1:backward(x, self.attn:backward(s.h1, ga))
    gx:add_(gx1)
  end
  self._s = nil
  for _, name in ipairs(self._children) do self[name]:clear_state() end
  self.grad_input = gx
  return gx
end

-- ---- the transformer -----------------------------------------------------------

local VisionTransformer = nn.class("VisionTransformer", nn.Module)
M.VisionTransformer = VisionTransformer

local OPTIONS = {
  version = true, img_size = true, patch_size = true, in_chans = true, embed_dim = true, depth = true,
  num_heads = true, mlp_ratio = true, init_values = true, num_register_tokens = true,
  interpolate_offset = true, interpolate_antialias = true,
}

local function positive(opts, key, default, who)
  local v = opts[key]
  if v == nil then v = default end
  if type(v) ~= "number" or v < 1 or v ~= math.floor(v) then
    T.raise(who, "%s must be a positive integer (got %s)", key, T.show(v))
  end
  return v
end

-- VisionTransformer{version = 1, img_size = 224, patch_size = 16, in_chans = 3,
-- embed_dim = 384, depth = 12, num_heads = 6, mlp_ratio = 4,
-- -- version 2 only:
-- init_values = 1.0 (layer scale; nil or 0 for none), num_register_tokens = 0,
-- interpolate_offset = 0.1, interpolate_antialias = false}
function VisionTransformer:__init(opts)
  local who = "oml.models.VisionTransformer"
  nn.Module.__init(self)
  opts = T.options(opts, who, OPTIONS)
  local version = opts.version or 1
  if version ~= 1 and version ~= 2 then
    T.raise(who, "version must be 1 (DINO) or 2 (DINOv2) (got %s)", T.show(version))
  end
  local img_size = positive(opts, "img_size", version == 1 and 224 or 518, who)
  local patch = positive(opts, "patch_size", version == 1 and 16 or 14, who)
  local dim = positive(opts, "embed_dim", 384, who)
  local depth = positive(opts, "depth", 12, who)
  local heads = positive(opts, "num_heads", 6, who)
  if dim % heads ~= 0 then T.raise(who, "embed_dim %d is not a multiple of num_heads %d", dim, heads) end
  if img_size < patch then T.raise(who, "img_size %d is smaller than the patch size %d", img_size, patch) end
  self.version, self.patch_size, self.embed_dim, self.num_heads = version, patch, dim, heads
  self.in_chans = positive(opts, "in_chans", 3, who)
  if version == 1 then
    for _, key in ipairs { "init_values", "num_register_tokens", "interpolate_offset", "interpolate_antialias" } do
      if opts[key] ~= nil then T.raise(who, "%s is a DINOv2 option (version = 2)", key) end
    end
  end
  local layerscale = opts.init_values
  if layerscale == nil and version == 2 then layerscale = 1.0 end
  if layerscale == 0 then layerscale = nil end
  self.num_register_tokens = version == 2 and T.count(opts.num_register_tokens or 0, who, "num_register_tokens") or 0
  self.interpolate_offset = version == 1 and 0.1 or (opts.interpolate_offset or 0.1)
  self.interpolate_antialias = opts.interpolate_antialias and true or false
  self.feat_dim = dim

  local grid = math.floor(img_size / patch)
  self:register_parameter("cls_token", oml.zeros({ 1, 1, dim }))
  self:register_parameter("pos_embed", oml.zeros({ 1, grid * grid + 1, dim }))
  if self.num_register_tokens > 0 then
    self:register_parameter("register_tokens", oml.zeros({ 1, self.num_register_tokens, dim }))
  end
  if version == 2 then self:register_parameter("mask_token", oml.zeros({ 1, dim })) end
  self:add_module("patch_embed", PatchEmbed(patch, self.in_chans, dim))
  local blocks = nn.ModuleList()
  for _ = 1, depth do blocks:append(Block(dim, heads, opts.mlp_ratio or 4, layerscale)) end
  self:add_module("blocks", blocks)
  self:add_module("norm", nn.LayerNorm(dim, { eps = 1e-6 }))
  self:reset_parameters()
end

-- DINO's and DINOv2's initialisation: trunc_normal_(std=0.02) (its bounds
-- +-2 lie 100 std out, so a plain normal) for pos_embed and the Linear
-- weights, Linear biases 0, LayerNorms 1 and 0; cls_token std 0.02 (DINO) or
-- 1e-6 (DINOv2, also the register tokens); the patch conv keeps its own.
function VisionTransformer:reset_parameters()
  self.pos_embed:normal_(0, 0.02)
  self.cls_token:normal_(0, self.version == 1 and 0.02 or 1e-6)
  if self.register_tokens then self.register_tokens:normal_(0, 1e-6) end
  if self.mask_token then self.mask_token:zero_() end
  for _, entry in ipairs(self:named_modules()) do
    local m = entry.module
    if m.__name == "Linear" then
      m.weight:normal_(0, 0.02)
      if m.bias then m.bias:zero_() end
    elseif m.__name == "LayerNorm" then
      m.weight:fill_(1)
      m.bias:zero_()
    end
  end
  return self
end

-- Patch tokens [1, h*w, D] as the [1, D, h, w] grid they are (a view), and back.
local function as_grid(p, h, w)
  return p:view({ 1, h, w, p:size(3) }):permute({ 1, 4, 2, 3 })
end

local function from_grid(g)
  return g:permute({ 1, 3, 4, 2 }):reshape({ 1, g:size(3) * g:size(4), g:size(2) })
end

-- The position embedding for an h0 x w0 grid of patches ([1, 1 + h0*w0, D]),
-- as DINO's / DINOv2's interpolate_pos_encoding; remembers how for backward.
function VisionTransformer:position_embedding(h, w)
  local who = "oml.models.VisionTransformer"
  local pos = self.pos_embed
  local n_pos = pos:size(2) - 1
  local h0, w0 = math.floor(h / self.patch_size), math.floor(w / self.patch_size)
  self._interp = nil
  if h0 * w0 == n_pos and h == w then return pos end
  local m = math.floor(math.sqrt(n_pos) + 0.5)
  local grid = as_grid(pos:narrow(2, 2, n_pos), m, m)
  local interp
  if self.interpolate_antialias and self.interpolate_offset == 0 then
    local resampler = resample.antialiased_bicubic(m, m, h0, w0, { dtype = pos.dtype, device = pos.device })
    interp = { resampler = resampler, h0 = h0, w0 = w0 }
  elseif self.interpolate_antialias then
    T.raise(who, "an antialiased interpolation with an offset is not supported")
  else
    -- PyTorch's scale_factor: output size floor(m * s), source scale 1/s
    local off = self.interpolate_offset
    local sh, sw = off ~= 0 and (h0 + off) / m or 0, off ~= 0 and (w0 + off) / m or 0
    interp = { h0 = h0, w0 = w0, sh = sh, sw = sw }
  end
  local out
  if interp.resampler then
    out = interp.resampler:forward(grid)
  else
    out = T.new()
    T.check(C.oml_interpolate_bicubic_forward(grid, out, h0, w0, 0, interp.sh, interp.sw), who)
  end
  self._interp = interp
  return oml.cat({ pos:narrow(2, 1, 1), from_grid(out) }, 2)
end

-- Accumulates the gradient of the position embedding that
-- position_embedding returned.
function VisionTransformer:position_embedding_backward(g)
  local gpos = self:grad("pos_embed")
  if gpos == nil then return end
  local interp = self._interp
  if interp == nil then
    gpos:add_(g)
    return
  end
  local n_pos = gpos:size(2) - 1
  local m = math.floor(math.sqrt(n_pos) + 0.5)
  gpos:narrow(2, 1, 1):add_(g:narrow(2, 1, 1))
  local gout = as_grid(g:narrow(2, 2, g:size(2) - 1), interp.h0, interp.w0)
  local ggrid
  if interp.resampler then
    ggrid = interp.resampler:backward(gout)
  else
    ggrid = T.new()
    T.check(C.oml_interpolate_bicubic_backward(gout, ggrid, m, m, 0, interp.sh, interp.sw),
            "oml.models.VisionTransformer")
  end
  gpos:narrow(2, 2, n_pos):add_(from_grid(ggrid))
end

function VisionTransformer:check_input(x)
  local who = "oml.models.VisionTransformer"
  T.expect_set(x, who, "the input")
  if x:dim() ~= 4 or x:size(2) ~= self.in_chans then
    T.raise(who, "expects images [B,%d,H,W] (got %s)", self.in_chans, T.shape_str(x))
  end
  local p = self.patch_size
  local h, w = x:size(3), x:size(4)
  if h < p or w < p then T.raise(who, "images of %dx%d are smaller than the patch size %d", h, w, p) end
  -- DINOv2's PatchEmbed asserts whole patches; DINO's conv drops the rest
  if self.version == 2 and (h % p ~= 0 or w % p ~= 0) then
    T.raise(who, "image size %dx%d is not a multiple of the patch size %d", h, w, p)
  end
end

-- The final norm acts token by token and only the class token's is kept,
-- so the last block computes only that token's output. In training the
-- blocks keep what backward needs; in evaluation each block drops its state
-- as soon as it is done (a backward after an evaluation forward runs the
-- forward again, keeping it).
function VisionTransformer:forward(x)
  self:check_input(x)
  return self:forward_tokens(x, self.training)
end

function VisionTransformer:forward_tokens(x, keep)
  local b = x:size(1)
  local dim = self.embed_dim
  local patches = self.patch_embed:forward(x)
  local tokens = oml.cat({ self.cls_token:expand({ b, 1, dim }), patches }, 2)
  if not keep then self.patch_embed:clear_state() end
  local pos = self:position_embedding(x:size(3), x:size(4))
  tokens:add_(pos)
  local r = self.num_register_tokens
  if r > 0 then
    local n = tokens:size(2) - 1
    tokens = oml.cat({ tokens:narrow(2, 1, 1), self.register_tokens:expand({ b, r, dim }), tokens:narrow(2, 2, n) }, 2)
  end
  local blocks = self.blocks.modules
  local inputs = {}
  for i, blk in ipairs(blocks) do
    if keep then inputs[i] = tokens end
    tokens = blk:forward(tokens, i == #blocks)
    if not keep then blk:clear_state() end
  end
  local cls = tokens:select(2, 1)
  self._saved = keep and { inputs = inputs, cls = cls } or nil
  self.output = self.norm:forward(cls)
  return self.output
end

function VisionTransformer:backward(x, g)
  if self._saved == nil then
    self:check_input(x)
    local output = self.output
    self:forward_tokens(x, true)
    self.output = output
  end
  local s = self._saved
  local gtok = self.norm:backward(s.cls, g):view(s.cls:size(1), 1, self.embed_dim)
  for i = #self.blocks.modules, 1, -1 do
    gtok = self.blocks.modules[i]:backward(s.inputs[i], gtok)
    self.blocks.modules[i]:clear_state()
  end
  local r = self.num_register_tokens
  local n = gtok:size(2) - 1 - r
  local g_cls, g_patches = gtok:narrow(2, 1, 1), gtok:narrow(2, 2 + r, n)
  if r > 0 then accumulate(self, "register_tokens", batch_sum(gtok:narrow(2, 2, r))) end
  accumulate(self, "cls_token", batch_sum(g_cls))
  self:position_embedding_backward(oml.cat({ batch_sum(g_cls), batch_sum(g_patches) }, 2))
  self.patch_embed.input_grad = self.input_grad
  self.grad_input = self.patch_embed:backward(x, g_patches)
  self._saved, self._interp = nil, nil
  self.patch_embed.output, self.norm.output = nil, nil
  return self.grad_input
end

-- ---- DINO's and DINOv2's architectures ---------------------------------------

local SMALL = { embed_dim = 384, depth = 12, num_heads = 6 }
local BASE = { embed_dim = 768, depth = 12, num_heads = 12 }
local LARGE = { embed_dim = 1024, depth = 24, num_heads = 16 }

local function arch(size, version, patch, registers)
  local cfg = { version = version, patch_size = patch, img_size = version == 1 and 224 or 518 }
  for k, v in pairs(size) do cfg[k] = v end
  if registers then -- DINOv2's hub: 4 registers, antialiased resize without offset
    cfg.num_register_tokens, cfg.interpolate_antialias, cfg.interpolate_offset = 4, true, 0
  end
  return cfg
end

local ARCHS = {
  vits8 = arch(SMALL, 1, 8), vits16 = arch(SMALL, 1, 16), vitb8 = arch(BASE, 1, 8), vitb16 = arch(BASE, 1, 16),
  vits14 = arch(SMALL, 2, 14), vitb14 = arch(BASE, 2, 14), vitl14 = arch(LARGE, 2, 14),
  vits14_reg = arch(SMALL, 2, 14, true), vitb14_reg = arch(BASE, 2, 14, true), vitl14_reg = arch(LARGE, 2, 14, true),
}
M.ARCHS = ARCHS
M.NAMES = { "vits8", "vits16", "vitb8", "vitb16", "vits14", "vitb14", "vitl14", "vits14_reg", "vitb14_reg",
            "vitl14_reg" }

function M.build(name)
  local cfg = ARCHS[name]
  if cfg == nil then
    T.raise("oml.models.vit", "unknown arch '%s'; known: %s", tostring(name), table.concat(M.NAMES, ", "))
  end
  local copy = {}
  for k, v in pairs(cfg) do copy[k] = v end
  return VisionTransformer(copy)
end

return M
