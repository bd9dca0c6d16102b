-- The pretrained models of OML's zoo, as OML's sources record them
-- (OML-Team/open-metric-learning: the `pretrained_models` of
-- oml/models/vit_dino/extractor.py, oml/models/vit_dinov2/extractor.py and
-- oml/models/resnet/extractor.py; TRANSFORMS_FOR_PRETRAINED in
-- oml/registry/transforms.py; the zoo tables of README.md). Read by oml.zoo.
--
-- Each entry:
--   extractor   OML's class for it ("ViTExtractor", "ViTExtractor_v2", "ResnetExtractor")
--   init_args   its constructor arguments besides the weights; gem_p = false
--               is OML's None (plain average pooling)
--   url         where OML downloads it; gdrive_id, OML's Google Drive fallback
--   fname       the file name OML caches it under
--   checksum    { md5 = prefix } as OML records it (its `hash`, compared with
--               the start of the file's md5), or { sha256 = prefix } where
--               the weights come from torchvision (torch.hub's convention)
--   transforms  the steps of the evaluation transform OML pairs with it
--   metrics     cmc1 on 224 x 224 images as OML's README reports it, by dataset;
--               nil where the README lists none
-- A value OML's sources do not give is nil, with a comment saying so.

local FB = "https://dl.fbaipublicfiles.com"
local STORAGE_CKPTS = "https://oml.daloroserver.com/download/checkpoints" -- oml/const.py
local IMAGENET = { mean = { 0.485, 0.456, 0.406 }, std = { 0.229, 0.224, 0.225 } } -- oml/const.py MEAN, STD
local PAD_COLOR = { 255, 255, 255 } -- oml/const.py

local function normalize()
  return { "normalize", mean = IMAGENET.mean, std = IMAGENET.std }
end

-- get_normalisation_resize_torch(im_size): squash to im_size x im_size
local function resize_torch(im_size)
  return { name = "norm_resize_torch",
           { "resize", size = { im_size, im_size }, antialias = true }, { "to_tensor" }, normalize() }
end

-- get_normalisation_resize_hypvit(im_size, crop_size): shorter side to
-- im_size (bicubic), then a centre crop
local function resize_hypvit(im_size, crop_size)
  return { name = "norm_resize_hypvit_torch",
           { "resize", shorter_side = im_size, interpolation = "bicubic" }, { "center_crop", size = crop_size },
           { "to_tensor" }, normalize() }
end

-- get_normalisation_resize_albu(im_size): longer side to im_size, then pad
-- to a square with PAD_COLOR
local function resize_albu(im_size)
  return { name = "norm_resize_albu",
           { "longest_max_size", size = im_size }, { "pad_if_needed", size = { im_size, im_size }, value = PAD_COLOR },
           normalize(), { "to_tensor" } }
end

local function cmc1(sop, inshop, cub, cars)
  return { cmc1 = { sop = sop, inshop = inshop, cub = cub, cars = cars } }
end

local function vit(arch, normalise_features)
  return { arch = arch, normalise_features = normalise_features }
end

local function resnet(arch, gem_p)
  return { arch = arch, remove_fc = true, normalise_features = false, gem_p = gem_p }
end

local function dinov2(arch, file, md5, metrics)
  return {
    extractor = "ViTExtractor_v2",
    init_args = vit(arch, false),
    url = ("%s/dinov2/dinov2_%s/%s_pretrain.pth"):format(FB, arch:sub(1, 6), file),
    fname = file .. ".ckpt",
    checksum = { md5 = md5 },
    transforms = resize_hypvit(224, 224),
    metrics = metrics,
  }
end

-- OML loads these with torchvision's `weights="IMAGENET1K_V1"`, so its
-- sources hold no URL; URL and checksum are torchvision's (the file name
-- carries the start of its sha256).
local function torchvision_resnet(arch, file, sha256, metrics)
  return {
    extractor = "ResnetExtractor",
    init_args = resnet(arch, false),
    url = "https://download.pytorch.org/models/" .. file,
    fname = file,
    checksum = { sha256 = sha256 },
    transforms = resize_hypvit(256, 224),
    metrics = metrics,
  }
end

return {
  -- DINO, pretrained on ImageNet by Meta AI
  vits16_dino = {
    extractor = "ViTExtractor",
    init_args = vit("vits16", false),
    url = FB .. "/dino/dino_deitsmall16_pretrain/dino_deitsmall16_pretrain.pth",
    fname = "vits16_dino.ckpt",
    checksum = { md5 = "cf0f22" },
    transforms = resize_torch(224),
    metrics = cmc1(0.648, 0.509, 0.627, 0.265),
  },
  vits8_dino = {
    extractor = "ViTExtractor",
    init_args = vit("vits8", false),
    url = FB .. "/dino/dino_deitsmall8_pretrain/dino_deitsmall8_pretrain.pth",
    fname = "vits8_dino.ckpt",
    checksum = { md5 = "230cd5" },
    transforms = resize_torch(224),
    metrics = cmc1(0.651, 0.524, 0.661, 0.315),
  },
  vitb16_dino = {
    extractor = "ViTExtractor",
    init_args = vit("vitb16", false),
    url = FB .. "/dino/dino_vitbase16_pretrain/dino_vitbase16_pretrain.pth",
    fname = "vitb16_dino.ckpt",
    checksum = { md5 = "552daf" },
    transforms = resize_torch(224),
    metrics = cmc1(0.658, 0.514, 0.541, 0.288),
  },
  vitb8_dino = {
    extractor = "ViTExtractor",
    init_args = vit("vitb8", false),
    url = FB .. "/dino/dino_vitbase8_pretrain/dino_vitbase8_pretrain.pth",
    fname = "vitb8_dino.ckpt",
    checksum = { md5 = "556550" },
    transforms = resize_torch(224),
    metrics = cmc1(0.689, 0.599, 0.506, 0.313),
  },

  -- DINOv2, without and with registers
  vits14_dinov2 = dinov2("vits14", "dinov2_vits14", "2e405c", cmc1(0.566, 0.334, 0.797, 0.503)),
  vits14_reg_dinov2 = dinov2("vits14_reg", "dinov2_vits14_reg4", "2a50c5", cmc1(0.566, 0.332, 0.795, 0.740)),
  vitb14_dinov2 = dinov2("vitb14", "dinov2_vitb14", "8635e7", cmc1(0.565, 0.342, 0.842, 0.644)),
  vitb14_reg_dinov2 = dinov2("vitb14_reg", "dinov2_vitb14_reg4", "13d13c", cmc1(0.557, 0.324, 0.833, 0.828)),
  vitl14_dinov2 = dinov2("vitl14", "dinov2_vitl14", "19a02c", cmc1(0.576, 0.352, 0.844, 0.692)),
  vitl14_reg_dinov2 = dinov2("vitl14_reg", "dinov2_vitl14_reg4", "8b6364", cmc1(0.571, 0.340, 0.840, 0.871)),

  -- ResNets: MoCo v2 (800 epochs) and torchvision's ImageNet weights
  resnet50_moco_v2 = {
    extractor = "ResnetExtractor",
    init_args = resnet("resnet50_projector", 5.0),
    url = FB .. "/moco/moco_checkpoints/moco_v2_800ep/moco_v2_800ep_pretrain.pth.tar",
    fname = "moco_v2_800ep_pretrain.pth.tar",
    checksum = { md5 = "a04e12f8" },
    transforms = resize_hypvit(256, 224),
    metrics = cmc1(0.493, 0.267, 0.264, 0.149),
  },
  resnet18_imagenet1k_v1 = torchvision_resnet("resnet18", "resnet18-f37072fd.pth", "f37072fd",
    nil), -- metrics: OML's README reports none
  resnet34_imagenet1k_v1 = torchvision_resnet("resnet34", "resnet34-b627a593.pth", "b627a593",
    nil), -- metrics: OML's README reports none
  resnet50_imagenet1k_v1 = torchvision_resnet("resnet50", "resnet50-0676ba61.pth", "0676ba61",
    cmc1(0.515, 0.284, 0.455, 0.247)),
  resnet101_imagenet1k_v1 = torchvision_resnet("resnet101", "resnet101-63fe2227.pth", "63fe2227",
    nil), -- metrics: OML's README reports none
  resnet152_imagenet1k_v1 = torchvision_resnet("resnet152", "resnet152-394f9c45.pth", "394f9c45",
    nil), -- metrics: OML's README reports none

  -- ViT-S/16 fine-tuned by OML's team; cmc1 on the dataset each was trained for
  vits16_inshop = {
    extractor = "ViTExtractor",
    init_args = vit("vits16", false),
    url = STORAGE_CKPTS .. "/inshop/vits16_inshop_a76b85.ckpt",
    gdrive_id = "1niX-TC8cj6j369t7iU2baHQSVN3MVJbW",
    fname = "vits16_inshop.ckpt",
    checksum = { md5 = "a76b85" },
    transforms = resize_hypvit(224, 224),
    metrics = { cmc1 = { inshop = 0.921 } },
  },
  vits16_sop = {
    extractor = "ViTExtractor",
    init_args = vit("vits16", true),
    url = STORAGE_CKPTS .. "/sop/vits16_sop_21e743.ckpt",
    gdrive_id = "1zuGRHvF2KHd59aw7i7367OH_tQNOGz7A",
    fname = "vits16_sop.ckpt",
    checksum = { md5 = "21e743" },
    transforms = resize_hypvit(224, 224),
    metrics = { cmc1 = { sop = 0.866 } },
  },
  vits16_cub = {
    extractor = "ViTExtractor",
    init_args = vit("vits16", false),
    url = STORAGE_CKPTS .. "/cub/vits16_cub.ckpt",
    gdrive_id = "1p2tUosFpGXh5sCCdzlXtjV87kCDfG34G",
    fname = "vits16_cub.ckpt",
    checksum = { md5 = "e82633" },
    transforms = resize_albu(224),
    metrics = { cmc1 = { cub = 0.837 } },
  },
  vits16_cars = {
    extractor = "ViTExtractor",
    init_args = vit("vits16", false),
    url = STORAGE_CKPTS .. "/cars/vits16_cars.ckpt",
    gdrive_id = "1hcOxDRRXrKr6ZTCyBauaY8Ue-pok4Icg",
    fname = "vits16_cars.ckpt",
    checksum = { md5 = "9f1e59" },
    transforms = resize_albu(224),
    metrics = { cmc1 = { cars = 0.907 } },
  },
}
