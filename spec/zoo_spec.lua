-- oml.zoo: the registry of OML's pretrained models, and the download path
-- (curl into a cache, checksum, conversion to safetensors) run for real on
-- local files through file:// URLs, in a temporary cache.
local oml = require "oml"
local zoo = require "oml.zoo"
local H = require "helper"
local ffi = require "ffi"

-- The sanitizer runs preload libasan, which the curl started here would
-- inherit, and curl deadlocks under it: this file's specs run without the
-- preload, and the specs after them get it back.
pcall(ffi.cdef, "int unsetenv(const char *name); int setenv(const char *name, const char *value, int overwrite);")
local preload = os.getenv("LD_PRELOAD")
setup(function() ffi.C.unsetenv("LD_PRELOAD") end)
teardown(function() if preload then ffi.C.setenv("LD_PRELOAD", preload, 1) end end)

-- the names issue 7 asks for (OML's names for the DINOv2 family)
local NAMES = {
  "vits16_dino", "vits8_dino", "vitb16_dino", "vitb8_dino",
  "vits14_dinov2", "vitb14_dinov2", "vitl14_dinov2", "vits14_reg_dinov2", "vitb14_reg_dinov2", "vitl14_reg_dinov2",
  "resnet50_moco_v2", "resnet18_imagenet1k_v1", "resnet34_imagenet1k_v1", "resnet50_imagenet1k_v1",
  "resnet101_imagenet1k_v1", "resnet152_imagenet1k_v1",
  "vits16_inshop", "vits16_sop", "vits16_cub", "vits16_cars",
}
-- entries whose metrics OML's README does not report
local NO_METRICS = {
  resnet18_imagenet1k_v1 = true, resnet34_imagenet1k_v1 = true,
  resnet101_imagenet1k_v1 = true, resnet152_imagenet1k_v1 = true,
}
local DATASETS = { sop = true, inshop = true, cub = true, cars = true }

local function sum_of(algorithm, path)
  local pipe = io.popen(algorithm .. "sum " .. path)
  local out = pipe:read("*a")
  pipe:close()
  return out:match("^%x+")
end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

describe("oml.zoo registry", function()
  it("holds exactly the models the issue lists", function()
    local expected = {}
    for _, name in ipairs(NAMES) do expected[#expected + 1] = name end
    table.sort(expected)
    assert.same(expected, zoo.names())
  end)

  it("gives every entry its download, architecture, transforms and metrics", function()
    for _, name in ipairs(NAMES) do
      local e = zoo.get(name)
      local where = "entry " .. name
      assert.is_string(e.extractor, where)
      assert.is_string(e.init_args.arch, where)
      assert.is_boolean(e.init_args.normalise_features, where)
      if e.extractor == "ResnetExtractor" then
        assert.is_true(e.init_args.remove_fc, where)
        assert.is_true(e.init_args.gem_p == false or type(e.init_args.gem_p) == "number", where)
      end
      assert.truthy(e.url:match("^https://"), where)
      assert.truthy(e.fname:match("^[%w_.-]+$"), where)
      local algorithms = 0
      for algorithm, prefix in pairs(e.checksum) do
        assert.truthy(algorithm == "md5" or algorithm == "sha256", where)
        assert.truthy(prefix:match("^%x+$") and #prefix >= 6, where)
        algorithms = algorithms + 1
      end
      assert.equal(1, algorithms, where)
      assert.is_string(e.transforms.name, where)
      assert.truthy(#e.transforms >= 3, where)
      local steps = {}
      for _, step in ipairs(e.transforms) do steps[step[1]] = true end
      assert.truthy(steps.to_tensor and steps.normalize, where)
      if NO_METRICS[name] then
        assert.is_nil(e.metrics, where)
      else
        for dataset, value in pairs(e.metrics.cmc1) do
          assert.truthy(DATASETS[dataset], where)
          assert.truthy(value > 0 and value <= 1, where)
        end
      end
    end
  end)

  it("keeps OML's records", function()
    -- from OML's oml/models/vit_dino/extractor.py, resnet/extractor.py and README.md
    local e = zoo.get("vits16_sop")
    assert.equal("https://oml.daloroserver.com/download/checkpoints/sop/vits16_sop_21e743.ckpt", e.url)
    assert.same({ md5 = "21e743" }, e.checksum)
    assert.same({ arch = "vits16", normalise_features = true }, e.init_args)
    assert.same({ cmc1 = { sop = 0.866 } }, e.metrics)
    local moco = zoo.get("resnet50_moco_v2")
    assert.same({ md5 = "a04e12f8" }, moco.checksum)
    assert.same({ arch = "resnet50_projector", remove_fc = true, normalise_features = false, gem_p = 5.0 },
                moco.init_args)
    assert.equal("dinov2_vitb14_reg4.ckpt", zoo.get("vitb14_reg_dinov2").fname)
  end)

  it("names close models for an unknown name", function()
    H.raises(function() local _ = zoo.get("vits16_dinno") end,
             "oml.zoo.get: unknown model 'vits16_dinno'; did you mean vitb16_dino, vits16_dino, vits8_dino?")
    local err = H.raises(function() local _ = zoo.get("alexnet") end, "oml.zoo.get: unknown model 'alexnet'; known")
    assert.truthy(err:find("resnet18_imagenet1k_v1", 1, true))
    H.raises(function() local _ = zoo.get(7) end, "oml.zoo.get: the name must be a string (got number)")
  end)
end)

describe("oml.zoo download", function()
  local fixture = "spec/fixtures/checkpoints/module.pth" -- weight [[1,2,3],[4,5,6]], bias [0.5,-0.5]
  local src, cache, source

  -- a registry entry for the fixture served from src/
  local function entry(checksum, url)
    return { fname = "tiny.pth", url = url or ("file://" .. source), checksum = checksum }
  end

  before_each(function()
    src, cache = H.tempdir(), H.tempdir()
    source = src .. "/tiny.pth"
    H.sh(("cp %s %s"):format(fixture, source))
  end)
  after_each(function()
    H.sh("rm -rf " .. src .. " " .. cache)
  end)

  it("downloads, checks and converts a good file", function()
    local md5 = sum_of("md5", fixture)
    local path = zoo.download(entry({ md5 = md5:sub(1, 6) }), { cache_dir = cache })
    assert.equal(cache .. "/tiny.pth", path)
    assert.equal(H.read_bytes(fixture), H.read_bytes(path))
    assert.is_false(exists(path .. ".part"))

    local converted = zoo.convert(path)
    assert.equal(cache .. "/tiny.safetensors", converted)
    local tensors = oml.load(converted)
    H.close(tensors.weight, { { 1, 2, 3 }, { 4, 5, 6 } }, 0)
    H.close(tensors.bias, { 0.5, -0.5 }, 0)
  end)

  it("checks a sha256 prefix and a full digest too", function()
    local sha = sum_of("sha256", fixture)
    assert.equal(cache .. "/tiny.pth", zoo.download(entry({ sha256 = sha:sub(1, 8) }), { cache_dir = cache }))
    H.sh("rm " .. cache .. "/tiny.pth")
    assert.equal(cache .. "/tiny.pth", zoo.download(entry({ sha256 = sha:upper() }), { cache_dir = cache }))
  end)

  it("fetches once: a cached file with a good checksum is not downloaded again", function()
    local e = entry({ md5 = sum_of("md5", fixture) })
    local converted = zoo.fetch(e, { cache_dir = cache })
    assert.equal(cache .. "/tiny.safetensors", converted)
    H.sh("rm " .. source)
    assert.equal(converted, zoo.fetch(e, { cache_dir = cache }))
    -- the conversion is reused rather than redone from the checkpoint
    H.sh("rm " .. cache .. "/tiny.pth")
    assert.equal(converted, zoo.convert(cache .. "/tiny.pth"))
  end)

  it("replaces a cached file whose checksum is wrong, and its stale conversion", function()
    H.sh(("printf junk > %s/tiny.pth && printf junk > %s/tiny.safetensors"):format(cache, cache))
    local converted = zoo.fetch(entry({ md5 = sum_of("md5", fixture) }), { cache_dir = cache })
    assert.equal(H.read_bytes(fixture), H.read_bytes(cache .. "/tiny.pth"))
    H.close(oml.load(converted).bias, { 0.5, -0.5 }, 0)
  end)

  it("removes a file whose checksum does not match and names both sums", function()
    local actual = sum_of("md5", fixture)
    local err = H.raises(function() local _ = zoo.download(entry({ md5 = "0123ab" }), { cache_dir = cache }) end,
                         "oml.zoo.download: checksum mismatch for tiny.pth from file://" .. source
                         .. ": expected md5 0123ab..., got " .. actual)
    assert.truthy(err:find("removed", 1, true))
    assert.is_false(exists(cache .. "/tiny.pth"))
    assert.is_false(exists(cache .. "/tiny.pth.part"))
  end)

  it("says where to put a file it cannot download", function()
    local url = "file://" .. src .. "/missing.pth"
    H.raises(function() local _ = zoo.download(entry({ md5 = "0123ab" }, url), { cache_dir = cache }) end,
             "fetch " .. url .. " by hand and put it at " .. cache .. "/tiny.pth")
    assert.is_false(exists(cache .. "/tiny.pth.part"))
    local no_url = { fname = "tiny.pth", checksum = { md5 = "0123ab" } }
    H.raises(function() local _ = zoo.download(no_url, { cache_dir = cache }) end,
             "oml.zoo.download: tiny.pth has no URL; put the file (md5 0123ab...) at " .. cache .. "/tiny.pth")
  end)

  it("creates a missing cache directory", function()
    local nested = cache .. "/a/b"
    assert.equal(nested .. "/tiny.pth", zoo.download(entry({ md5 = sum_of("md5", fixture) }), { cache_dir = nested }))
  end)

  it("refuses bad entries and paths", function()
    H.raises(function() local _ = zoo.download(3) end,
             "oml.zoo.download: expected a model name or a registry entry (got number)")
    H.raises(function() local _ = zoo.download({ fname = "../x.pth", checksum = { md5 = "00" } }) end,
             "oml.zoo.download: the entry needs fname, a file name without '/'")
    H.raises(function() local _ = zoo.download(entry(nil), { cache_dir = cache }) end,
             "oml.zoo.download: tiny.pth has no checksum")
    H.raises(function() local _ = zoo.download(entry({ md5 = "xyz" }), { cache_dir = cache }) end,
             "oml.zoo.download: tiny.pth has no checksum")
    H.raises(function() local _ = zoo.convert(cache .. "/weights.bin") end,
             "oml.zoo.convert: " .. cache .. "/weights.bin does not end in .pth, .pt, .ckpt or .pth.tar")
    H.raises(function() local _ = zoo.convert(cache .. "/absent.pth") end,
             "oml.zoo.convert: cannot open " .. cache .. "/absent.pth")
    H.raises(function() local _ = zoo.convert(false) end, "oml.zoo.convert: the path must be a string (got boolean)")
  end)

  it("caches in $XDG_CACHE_HOME/oml unless told otherwise", function()
    assert.equal("/somewhere", zoo.cache_dir({ cache_dir = "/somewhere" }))
    local xdg = os.getenv("XDG_CACHE_HOME")
    local expected = (xdg and xdg ~= "") and (xdg .. "/oml") or (os.getenv("HOME") .. "/.cache/oml")
    assert.equal(expected, zoo.cache_dir())
  end)
end)

describe("oml.zoo.register", function()
  local good = { fname = "mine.pth", url = "file:///nowhere/mine.pth", checksum = { md5 = "0123ab" } }

  it("adds a model and replaces one, returning what it replaced", function()
    assert.is_nil(zoo.register("mine", good))
    assert.equal(good, zoo.get("mine"))
    local mirror = { fname = "mine.pth", checksum = { sha256 = "abcdef" } }
    assert.equal(good, zoo.register("mine", mirror))
    assert.equal(mirror, zoo.unregister("mine"))
    assert.is_nil(zoo.registry.mine)
  end)

  it("refuses bad names and entries", function()
    H.raises(function() local _ = zoo.register("my/model", good) end,
             "oml.zoo.register: the name must be a string of letters, digits, '_' and '-' (got my/model)")
    H.raises(function() local _ = zoo.register("m", "x.pth") end,
             "oml.zoo.register: the entry must be a table (got string)")
    H.raises(function() local _ = zoo.register("m", { fname = "a/b.pth", checksum = { md5 = "00" } }) end,
             "oml.zoo.register: the entry needs fname, a file name without '/'")
    H.raises(function() local _ = zoo.register("m", { fname = "m.pth" }) end, "oml.zoo.register: m has no checksum")
    H.raises(function() local _ = zoo.register("m", { fname = "m.pth", checksum = { md5 = "00" }, url = 1 }) end,
             "oml.zoo.register: m: url must be a string (got number)")
    H.raises(function() local _ = zoo.register("m", { fname = "m.pth", checksum = { md5 = "00" }, extractor = {} }) end,
             "oml.zoo.register: m: extractor must be a string (got table)")
    H.raises(function() local _ = zoo.register("m", { fname = "m.pth", checksum = { md5 = "00" }, init_args = "x" }) end,
             "oml.zoo.register: m: init_args must be a table (got string)")
    assert.is_nil(zoo.registry.m)
    H.raises(function() local _ = zoo.unregister("mine") end, "oml.zoo.get: unknown model 'mine'")
  end)
end)

-- from_pretrained and weights = name, end to end and offline: registry
-- entries pointing at file:// copies of spec/fixtures/models/make_pth.py's
-- checkpoints (see spec/extractor_weights_spec.lua), the cache in a
-- temporary $XDG_CACHE_HOME.
describe("pretrained extractors through the zoo", function()
  local models = oml.models
  local FIXTURES = "spec/fixtures/models/"
  local expected = oml.load(FIXTURES .. "embeddings.pth")
  local RESNET = { block = "basic", layers = { 2, 2, 2, 2 }, widths = { 4, 8, 16, 32 }, num_classes = 10 }
  local VIT = { img_size = 224, patch_size = 16, embed_dim = 48, depth = 2, num_heads = 3 }
  local x = (oml.arange(2 * 3 * 224 * 224, { dtype = "float64" }) * 0.37 + 0.1):sin():view({ 2, 3, 224, 224 }):float()
  local xdg = os.getenv("XDG_CACHE_HOME")
  local src, home, moco_entry

  local function relative_error(a, b)
    return (a:double() - b:double()):abs():max():item() / b:abs():max():item()
  end

  -- serves fixture `file` from src/ as `name`; a registry entry for it:
  -- `fields` with its fname, url and checksum
  local function serve(file, name, fields)
    H.sh(("cp %s%s %s/%s"):format(FIXTURES, file, src, name))
    local entry = {}
    for k, v in pairs(fields) do entry[k] = v end
    entry.fname, entry.url = name, "file://" .. src .. "/" .. name
    entry.checksum = { sha256 = sum_of("sha256", src .. "/" .. name) }
    return entry
  end

  before_each(function()
    src, home = H.tempdir(), H.tempdir()
    ffi.C.setenv("XDG_CACHE_HOME", home, 1)
    moco_entry = zoo.get("resnet50_moco_v2")
    zoo.register("tiny_vit", serve("vit_small_oml.pth", "tiny_vit.ckpt", {
      extractor = "ViTExtractor", init_args = { arch = VIT, normalise_features = false } }))
  end)
  after_each(function()
    zoo.register("resnet50_moco_v2", moco_entry)
    for _, name in ipairs { "tiny_vit", "tiny_moco" } do
      if zoo.registry[name] then zoo.unregister(name) end
    end
    if xdg then ffi.C.setenv("XDG_CACHE_HOME", xdg, 1) else ffi.C.unsetenv("XDG_CACHE_HOME") end
    H.sh("rm -rf " .. src .. " " .. home)
  end)

  it("downloads, verifies, converts once and loads; the second call uses the cache", function()
    local e = models.ViTExtractor.from_pretrained("tiny_vit")
    assert.is_false(e.normalise_features)
    assert.is_true(relative_error(e:evaluate():extract(x), expected.vit_small) < 1e-4)
    assert.same({ "tiny_vit.ckpt", "tiny_vit.safetensors" }, H.files_in(home .. "/oml"))
    -- with the source gone, only the cache can serve it
    H.sh("rm " .. src .. "/tiny_vit.ckpt")
    local again = models.ViTExtractor { arch = VIT, normalise_features = false, weights = "tiny_vit" }
    assert.is_true(relative_error(again:evaluate():extract(x), expected.vit_small) < 1e-4)
  end)

  it("removes a download whose checksum does not match, and raises", function()
    zoo.registry.tiny_vit.checksum = { sha256 = "0123456789abcdef" }
    H.raises(function() local _ = models.ViTExtractor.from_pretrained("tiny_vit") end,
             "oml.zoo.download: checksum mismatch for tiny_vit from file://" .. src .. "/tiny_vit.ckpt")
    assert.same({}, H.files_in(home .. "/oml"))
  end)

  it("offline, names the URL to fetch by hand and where to put it", function()
    zoo.registry.tiny_vit.url = "file://" .. src .. "/gone.ckpt"
    H.raises(function() local _ = models.ViTExtractor { arch = VIT, weights = "tiny_vit" } end,
             "; fetch file://" .. src .. "/gone.ckpt by hand and put it at " .. home .. "/oml/tiny_vit.ckpt")
  end)

  it("takes MoCo's query encoder (resnet50_moco_v2's layout)", function()
    -- moco_v2_tiny.pth.tar: the narrow ResNet-18's backbone under
    -- module.encoder_q., beside a projector, a key encoder, a queue and an optimizer
    zoo.register("resnet50_moco_v2", serve("moco_v2_tiny.pth.tar", moco_entry.fname, moco_entry))
    local e = models.ResnetExtractor { arch = RESNET, weights = "resnet50_moco_v2" }:evaluate()
    assert.is_true(relative_error(e:extract(x), expected.resnet18_narrow) < 1e-4)
    assert.same({ "moco_v2_800ep_pretrain.pth.tar", "moco_v2_800ep_pretrain.safetensors" }, H.files_in(home .. "/oml"))

    zoo.register("tiny_moco", serve("moco_v2_tiny.pth.tar", "tiny_moco.pth.tar", {
      extractor = "ResnetExtractor",
      init_args = { arch = RESNET, remove_fc = true, normalise_features = true, gem_p = false } }))
    local n = models.ResnetExtractor.from_pretrained("tiny_moco"):evaluate()
    assert.is_true(n.normalise_features)
    local want = expected.resnet18_narrow
    assert.is_true(relative_error(n:extract(x), want / want:norm(2, 2, true)) < 1e-4)
    H.raises(function() local _ = models.ResnetExtractor.from_pretrained("tiny_vit") end,
             "oml.models.ResnetExtractor.from_pretrained: tiny_vit is a ViTExtractor")
  end)
end)
