-- oml.pipelines.train / validate / predict on a tiny generated dataset: the
-- whole cycle, resumed == uninterrupted (bitwise), config errors naming
-- their key, the NaN guard, and nothing written outside the run folder.
local cjson = require "cjson"
local H = require "helper"
local oml = require "oml"
local config = require "oml.pipelines.config"
local train = require "oml.pipelines.train"
local validate = require "oml.pipelines.validate"
local predict = require "oml.pipelines.predict"

local SIZE = 16

local function tiny_extractor()
  return { name = "resnet", args = config.open {
    arch = { block = "basic", layers = { 1, 1, 1, 1 }, widths = { 4, 4, 8, 8 } }, normalise_features = false } }
end

local function defaults(dir)
  local d = train.defaults()
  d.dataset_root = dir .. "/data"
  d.logs_root = dir .. "/logs"
  d.transforms_train = { name = "image_recipe", args = config.open { size = SIZE, hflip = 0.5 } }
  d.transforms_val = { name = "image_recipe", args = config.open { size = SIZE } }
  d.extractor = tiny_extractor()
  d.sampler.args = { n_labels = 2, n_instances = 2 }
  d.optimizer.args.lr = config.number(1e-2)
  d.max_epochs = 2
  d.num_workers = 1
  d.bs_val = 3
  d.report.n_queries = 2
  return d
end

local QUIET = { write = function() end, print = function() end }

-- cfg from defaults d and command-line words
local function cfg_of(d, argv) return config.from_args(d, argv or {}) end

local function tensors_equal(a, b)
  for k, t in pairs(a) do
    if b[k] == nil or not t:eq(b[k]):all():item() then return false, k end
  end
  for k in pairs(b) do
    if a[k] == nil then return false, k end
  end
  return true
end

-- every file under dir, relative to it
local function tree(dir)
  local p = assert(io.popen("cd " .. dir .. " && find . -type f | sort"))
  local list = {}
  for line in p:lines() do list[#list + 1] = line end
  p:close()
  return list
end

describe("oml.pipelines.train", function()
  local dir
  before_each(function()
    dir = H.tempdir()
    H.write_image_dataset(dir .. "/data", 6, 4, SIZE, 4)   -- labels 0..3 train, 4..5 validate
  end)
  after_each(function() H.sh("rm -rf " .. dir) end)

  it("trains, validates and predicts; writes only into the run folders", function()
    local before = tree(dir)
    local cwd_before = H.files_in(".")
    local result = train.run(cfg_of(defaults(dir), { "--run_name", "r" }), QUIET)
    local run = dir .. "/logs/r"
    assert.are.equal(run, result.run)
    for _, name in ipairs { "config.json", "metrics.jsonl", "curves.jpg", "last.safetensors", "best.safetensors",
                            "worst_cmc@5.jpg", "metrics.txt" } do
      assert.truthy(io.open(run .. "/" .. name), name)
    end
    local records = {}
    for line in io.lines(run .. "/metrics.jsonl") do records[#records + 1] = cjson.decode(line) end
    assert.are.equal(2, #records)
    assert.are.equal(2, records[2].epoch)
    assert.truthy(records[2]["OVERALL/cmc/1"] >= 0 and records[2]["OVERALL/map/5"] <= 1)
    assert.truthy(result.best_epoch == 1 or result.best_epoch == 2)

    -- the checkpoint validated again gives the metrics of its epoch
    local vd = validate.defaults()
    vd.dataset_root, vd.logs_root = dir .. "/data", dir .. "/logs"
    vd.transforms_val = { name = "image_recipe", args = config.open { size = SIZE } }
    vd.bs_val, vd.num_workers, vd.report.n_queries = 5, 0, 1
    local v = validate.run(cfg_of(vd, { "--checkpoint", run .. "/last.safetensors", "--run_name", "v" }), QUIET)
    assert.are.equal(records[2]["OVERALL/cmc/1"], v.flat["OVERALL/cmc/1"])
    assert.are.equal(records[2]["OVERALL/precision/5"], v.flat["OVERALL/precision/5"])
    assert.truthy(io.open(dir .. "/logs/v/metrics.json"))

    -- predict: a folder and a dataframe give the same rows for the same images
    local pd = predict.defaults()
    pd.logs_root = dir .. "/logs"
    pd.transforms_predict = { name = "image_recipe", args = config.open { size = SIZE } }
    pd.num_workers = 0
    local p1 = predict.run(cfg_of(pd, { "--data_dir", dir .. "/data/images", "--checkpoint", run .. "/best.safetensors",
                                        "--run_name", "p1" }), QUIET)
    local p2 = predict.run(cfg_of(pd, { "--dataframe", dir .. "/data/df.csv", "--dataset_root", dir .. "/data",
                                        "--checkpoint", run .. "/best.safetensors", "--run_name", "p2" }), QUIET)
    assert.are.equal(24, p1.n)
    local e1, e2 = oml.load(p1.embeddings).embeddings, oml.load(p2.embeddings).embeddings
    assert.are.same({ 24, 8 }, e1:size())
    local rows1 = cjson.decode(H.read_bytes(p1.paths))
    local rows2 = cjson.decode(H.read_bytes(p2.paths))
    assert.are.equal(1, rows1["0_1.jpg"])
    local row2 = rows2[dir .. "/data/images/5_3.jpg"]
    assert.truthy(row2)
    H.close(e2:select(1, row2), e1:select(1, rows1["5_3.jpg"]), 0)

    -- nothing outside the run folders; nothing in the working directory
    local after = tree(dir)
    local known = {}
    for _, path in ipairs(before) do known[path] = true end
    for _, path in ipairs(after) do
      assert.truthy(known[path] or path:match("^%./logs/[rvp][12]?/[^/]+$"), path)
    end
    assert.are.same(cwd_before, H.files_in("."))
  end)

  it("resumes to the very weights of an uninterrupted run", function()
    local d = defaults(dir)
    d.max_epochs = 3
    d.valid_period = 2
    local whole = train.run(cfg_of(d, { "--run_name", "whole" }), QUIET)
    local part = train.run(cfg_of(d, { "--run_name", "part", "--max_epochs", "1" }), QUIET)
    local resumed = train.run(cfg_of(d, { "--resume", part.last }), QUIET)
    assert.are.equal(part.run, resumed.run)
    local a, meta_a = oml.load(whole.last)
    local b, meta_b = oml.load(resumed.last)
    local same, key = tensors_equal(a, b)
    assert.truthy(same, key)
    assert.are.equal("3", meta_b.epoch)
    assert.are.equal(meta_a.rng_offset, meta_b.rng_offset)
    local epochs = {}
    for line in io.lines(part.run .. "/metrics.jsonl") do epochs[#epochs + 1] = cjson.decode(line).epoch end
    assert.are.same({ 1, 2, 3 }, epochs)
  end)

  it("names the key of a bad config", function()
    local d = defaults(dir)
    H.raises(function() local _ = cfg_of(d, { "--max_epochs", "two" }) end,
      "oml.pipelines.config: --max_epochs: expected an integer (got 'two')")
    H.raises(function() local _ = cfg_of(d, { "--optimizer.args", "{}", "--sampler.args.n_lables", "2" }) end,
      "--sampler.args.n_lables: unknown key")
    H.raises(function() local _ = train.run(cfg_of(d, { "--valid_period", "0" }), QUIET) end,
      "oml.pipelines.train: valid_period: must be >= 1 (got 0)")
    H.raises(function() local _ = train.run(cfg_of(d, { "--mode_for_checkpointing", "up" }), QUIET) end,
      "mode_for_checkpointing: must be \"max\" or \"min\"")
    H.raises(function() local _ = train.run(cfg_of(d, { "--dataset_root", dir .. "/none" }), QUIET) end,
      "dataset_root: " .. dir .. "/none/df.csv does not exist")
    H.raises(function() local _ = train.run(cfg_of(d, { "--metric_for_checkpointing", "OVERALL/cmc/7",
                                                        "--run_name", "m" }), QUIET) end,
      "metric_for_checkpointing: \"OVERALL/cmc/7\" is not among the metrics")
    local vd = validate.defaults()
    H.raises(function() local _ = validate.run(cfg_of(vd, { "--checkpoint", dir .. "/no.safetensors",
                                                            "--dataset_root", dir .. "/data" }), QUIET) end,
      "oml.pipelines.validate: checkpoint: " .. dir .. "/no.safetensors does not exist")
    -- a recipe's dataset that is absent: where to get it and how to convert it
    local recipes = require "oml.pipelines.recipes"
    H.raises(function() local _ = train.run(cfg_of(recipes.train_defaults("sop"), { "--dataset_root", dir .. "/sop" }),
                                            { dataset_help = recipes.DATASETS.sop }) end,
      "Stanford Online Products is absent: " .. dir .. "/sop/df.csv does not exist.\nDownload it from "
        .. "https://cvgl.stanford.edu/projects/lifted_struct/ into " .. dir .. "/sop, convert it with\n"
        .. "  luajit recipes/convert_sop.lua --dataset_root " .. dir .. "/sop")
    local ok, err = pcall(train.run, cfg_of(d, { "--extractor.name", "resnett" }), QUIET)
    assert.falsy(ok)
    assert.truthy(tostring(err):find("extractor: unknown extractor 'resnett'", 1, true), err)
  end)

  it("names a bad device or autocast, in each pipeline", function()
    local d = defaults(dir)
    H.raises(function() local _ = train.run(cfg_of(d, { "--device", "gpu" }), QUIET) end,
      "oml.pipelines.train: device: must be \"cpu\", \"cuda\" or \"cuda:N\" (got \"gpu\")")
    H.raises(function() local _ = train.run(cfg_of(d, { "--autocast", "float8" }), QUIET) end,
      "oml.pipelines.train: autocast: must be \"bfloat16\" or \"float16\" (got \"float8\")")
    H.raises(function() local _ = train.run(cfg_of(d, { "--autocast", "bfloat16" }), QUIET) end,
      "oml.pipelines.train: autocast: \"bfloat16\" needs a cuda device (device is \"cpu\")")
    local vd, pd = validate.defaults(), predict.defaults()
    vd.dataset_root = dir .. "/data"
    H.raises(function() local _ = validate.run(cfg_of(vd, { "--device", "cuda:x" }), QUIET) end,
      "oml.pipelines.validate: device: must be \"cpu\", \"cuda\" or \"cuda:N\"")
    H.raises(function() local _ = predict.run(cfg_of(pd, { "--data_dir", dir, "--autocast", "float16" }), QUIET) end,
      "oml.pipelines.predict: autocast: \"float16\" needs a cuda device")
    if not oml.cuda.is_available() then
      for _, case in ipairs { { train.run, d }, { validate.run, vd } } do
        H.raises(function() local _ = case[1](cfg_of(case[2], { "--device", "cuda" }), QUIET) end,
          "device: \"cuda\" needs a CUDA GPU, but oml.cuda.is_available() is false")
      end
    else
      H.raises(function() local _ = train.run(cfg_of(d, { "--device", "cuda:" .. oml.cuda.device_count() }), QUIET) end,
        "is not present")
    end
    assert.equal("float32", oml.cuda.get_math())
  end)

  it("stops on a non-finite loss or weights and keeps the last good checkpoint", function()
    local d = defaults(dir)
    -- epoch 1 at lr 1e-2, then StepLR multiplies it by 1e30
    local argv = { "--run_name", "nan", "--max_epochs", "4", "--scheduler",
                   '{"name": "StepLR", "args": {"step_size": 1, "gamma": 1e30}}' }
    local err = H.raises(function() local _ = train.run(cfg_of(d, argv), QUIET) end, "the run stops")
    assert.truthy(err:find("is not finite after epoch 2", 1, true) or err:find("at epoch 2", 1, true), err)
    assert.truthy(err:find(dir .. "/logs/nan/last.safetensors holds epoch 1", 1, true), err)
    local tensors, meta = oml.load(dir .. "/logs/nan/last.safetensors")
    assert.are.equal("1", meta.epoch)
    for name, t in pairs(tensors) do
      if name:match("^extractor%.") then
        local s = t:to({ dtype = "float64" }):sum():item()
        assert.truthy(s == s and math.abs(s) < math.huge, name)
      end
    end
    -- at lr 1e30 from the start no epoch finishes: no checkpoint at all
    H.raises(function() local _ = train.run(cfg_of(d, { "--run_name", "nan2", "--optimizer.args.lr", "1e30" }), QUIET) end,
      "no epoch finished, so there is no checkpoint")
    assert.falsy(io.open(dir .. "/logs/nan2/last.safetensors"))
  end)
end)
