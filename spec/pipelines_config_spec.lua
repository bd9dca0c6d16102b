-- oml.pipelines.config and oml.pipelines.registry: defaults, files, command-line overrides, --help, blocks.
local cjson = require "cjson"
local H = require "helper"
local config = require "oml.pipelines.config"
local registry = require "oml.pipelines.registry"

local function defaults()
  return {
    max_epochs = 10, seed = 42, clip = config.number(0), verbose = true, metric = "OVERALL/cmc/1",
    checkpoint = config.optional("string"), scheduler = config.optional("block"),
    optimizer = { name = "adam", args = { lr = 1e-5, weight_decay = 0, betas = { 0.9, 0.999 } } },
    criterion = { name = "triplet_with_miner", args = { margin = 0.15, miner = { name = "all_triplets", args = {} } } },
    extractor = { name = "vit", args = config.open { arch = "vits16" } },
    metric_args = { cmc_top_k = { 1, 5 } },
    extra = {},
  }
end

local function write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

describe("oml.pipelines.config", function()
  local dir
  before_each(function() dir = H.tempdir() end)
  after_each(function() H.sh("rm -rf " .. dir) end)

  it("gives the defaults when nothing is overridden, without the typed markers", function()
    local cfg = config.from_args(defaults(), {})
    assert.are.same(10, cfg.max_epochs)
    assert.are.same(0, cfg.clip)
    assert.is_nil(cfg.checkpoint)
    assert.is_nil(cfg.scheduler)
    assert.are.same({ name = "adam", args = { lr = 1e-5, weight_decay = 0, betas = { 0.9, 0.999 } } }, cfg.optimizer)
  end)

  it("loads a Lua config in an empty environment and merges it", function()
    write(dir .. "/c.lua", "return { max_epochs = 3, optimizer = { args = { lr = 0.5 } } }")
    local cfg = config.merge(defaults(), config.load(dir .. "/c.lua"))
    assert.are.same(3, cfg.max_epochs)
    assert.are.same({ lr = 0.5, weight_decay = 0, betas = { 0.9, 0.999 } }, cfg.optimizer.args)
    write(dir .. "/g.lua", "return { max_epochs = math.floor(2.5) }")
    H.raises(function() local _ = config.load(dir .. "/g.lua") end, "g.lua:1: attempt to index global 'math'")
    write(dir .. "/n.lua", "return 5")
    H.raises(function() local _ = config.load(dir .. "/n.lua") end,
      "oml.pipelines.config: " .. dir .. "/n.lua: a config must give a table of keys (got number)")
    write(dir .. "/s.lua", "return {")
    H.raises(function() local _ = config.load(dir .. "/s.lua") end, "s.lua:1:")
  end)

  it("loads a JSON config; null unsets an optional key", function()
    write(dir .. "/c.json", '{"checkpoint": null, "verbose": false, "scheduler": {"name": "StepLR", "args": {"x": 1}}}')
    local cfg = config.merge(defaults(), config.load(dir .. "/c.json"))
    assert.is_false(cfg.verbose)
    assert.is_nil(cfg.checkpoint)
    assert.are.same({ name = "StepLR", args = { x = 1 } }, cfg.scheduler)
    write(dir .. "/bad.json", "{nope")
    H.raises(function() local _ = config.load(dir .. "/bad.json") end, "oml.pipelines.config: " .. dir .. "/bad.json: ")
    H.raises(function() local _ = config.load(dir .. "/c.yaml") end, "c.yaml: a config is a .lua or a .json file")
    H.raises(function() local _ = config.load(dir .. "/none.json") end, "oml.pipelines.config: cannot read")
  end)

  it("names the unknown or mistyped key, and the file", function()
    write(dir .. "/c.lua", "return { optimizer = { args = { lrr = 1 } } }")
    H.raises(function() local _ = config.from_args(defaults(), { "--config", dir .. "/c.lua" }) end,
      "oml.pipelines.config: " .. dir .. "/c.lua: optimizer.args.lrr: unknown key")
    H.raises(function() local _ = config.merge(defaults(), { max_epochs = 2.5 }, "x.lua") end,
      "oml.pipelines.config: x.lua: max_epochs: expected an integer (got number 2.5)")
    H.raises(function() local _ = config.merge(defaults(), { metric_args = { cmc = 1 } }) end,
      "oml.pipelines.config: metric_args.cmc: unknown key")
    H.raises(function() local _ = config.merge(defaults(), { optimizer = { nme = "x" } }) end,
      "optimizer.nme: unknown key")
    H.raises(function() local _ = config.merge(defaults(), { verbose = "yes" }) end,
      "verbose: expected a boolean (true or false) (got string \"yes\")")
    H.raises(function() local _ = config.merge(defaults(), { max_epochs = cjson.null }) end,
      "max_epochs: cannot be null (expected an integer)")
    H.raises(function() local _ = config.merge(defaults(), { scheduler = { args = {} } }) end,
      "scheduler.name: expected a string (got nothing)")
    H.raises(function() local _ = config.merge(defaults(), { criterion = { args = { margin = "x" } } }) end,
      "criterion.args.margin: expected a number (got string \"x\")")
  end)

  it("merges args of a block with its default name, and starts afresh when it is renamed", function()
    local cfg = config.merge(defaults(), { criterion = { args = { miner = { name = "hard_triplets", args = { k = 1 } } } } })
    assert.are.same({ margin = 0.15, miner = { name = "hard_triplets", args = { k = 1 } } }, cfg.criterion.args)
    cfg = config.merge(defaults(), { optimizer = { name = "sgd", args = { momentum = 0.9, anything = "x" } } })
    assert.are.same({ name = "sgd", args = { momentum = 0.9, anything = "x" } }, cfg.optimizer)
    cfg = config.merge(defaults(), { extractor = { args = { normalise = true } } })
    assert.are.same({ arch = "vits16", normalise = true }, cfg.extractor.args)
  end)

  it("parses command-line overrides by the default's type", function()
    local cfg = config.from_args(defaults(), {
      "--max_epochs", "5", "--optimizer.args.lr", "1e-4", "--clip=2.5", "--verbose", "false",
      "--metric", "OVERALL/map/5", "--metric_args.cmc_top_k", "[1,2,3]", "--extra", '{"a":{"b":1}}',
      "--checkpoint", "last.ckpt", "--extractor.args.depth", "12", "--extractor.args.tag", "small",
    })
    assert.are.same(5, cfg.max_epochs)
    assert.are.same(1e-4, cfg.optimizer.args.lr)
    assert.are.same(2.5, cfg.clip)
    assert.is_false(cfg.verbose)
    assert.are.same("OVERALL/map/5", cfg.metric)
    assert.are.same({ 1, 2, 3 }, cfg.metric_args.cmc_top_k)
    assert.are.same({ a = { b = 1 } }, cfg.extra)
    assert.are.same("last.ckpt", cfg.checkpoint)
    assert.are.same({ arch = "vits16", depth = 12, tag = "small" }, cfg.extractor.args)
  end)

  it("applies overrides over the config file, and a renamed block from the command line", function()
    write(dir .. "/c.json", '{"max_epochs": 3, "optimizer": {"args": {"lr": 0.5}}, "checkpoint": "a"}')
    local cfg = config.from_args(defaults(), {
      "--optimizer.args.momentum", "0.9", "--config", dir .. "/c.json", "--optimizer.name", "sgd",
      "--checkpoint", "null", "--scheduler.name", "StepLR", "--scheduler.args.step_size", "3",
    })
    assert.are.same(3, cfg.max_epochs)
    assert.are.same({ name = "sgd", args = { momentum = 0.9 } }, cfg.optimizer)
    assert.is_nil(cfg.checkpoint)
    assert.are.same({ name = "StepLR", args = { step_size = 3 } }, cfg.scheduler)
    cfg = config.from_args(defaults(), { "--config", dir .. "/c.json", "--optimizer.args.lr", "0.25" })
    assert.are.same({ lr = 0.25, weight_decay = 0, betas = { 0.9, 0.999 } }, cfg.optimizer.args)
  end)

  it("names the key and the expected type of a bad override", function()
    local d = defaults()
    H.raises(function() local _ = config.from_args(d, { "--max_epochs", "5.5" }) end,
      "oml.pipelines.config: --max_epochs: expected an integer (got '5.5')")
    H.raises(function() local _ = config.from_args(d, { "--clip", "x" }) end, "--clip: expected a number (got 'x')")
    H.raises(function() local _ = config.from_args(d, { "--verbose", "yes" }) end,
      "--verbose: expected a boolean (true or false) (got 'yes')")
    H.raises(function() local _ = config.from_args(d, { "--metric_args.cmc_top_k", "{}x" }) end,
      "--metric_args.cmc_top_k: expected JSON (got '{}x')")
    H.raises(function() local _ = config.from_args(d, { "--metric_args.cmc_top_k", '{"a":1}' }) end,
      "--metric_args.cmc_top_k: expected a list (got '{\"a\":1}')")
    H.raises(function() local _ = config.from_args(d, { "--optimizer.args.lrr", "1" }) end,
      "oml.pipelines.config: --optimizer.args.lrr: unknown key")
    H.raises(function() local _ = config.from_args(d, { "--max_epochs.x", "1" }) end, "--max_epochs.x: unknown key")
    H.raises(function() local _ = config.from_args(d, { "--nope", "1" }) end, "--nope: unknown key")
    H.raises(function() local _ = config.from_args(d, { "--max_epochs" }) end, "--max_epochs: expects a value")
    H.raises(function() local _ = config.from_args(d, { "max_epochs" }) end, "unexpected argument 'max_epochs'")
    H.raises(function() local _ = config.from_args(d, { "--max_epochs", "null" }) end,
      "--max_epochs: expected an integer (got 'null')")
    H.raises(function() local _ = config.from_args(d, { "--metric_args", '{"bad":1}' }) end,
      "oml.pipelines.config: command line: metric_args.bad: unknown key")
  end)

  it("lists every key with its type and default for --help", function()
    local cfg, help = config.from_args(defaults(), { "--max_epochs", "2", "--help" }, "usage: luajit x.lua")
    assert.is_nil(cfg)
    assert.are.equal(help, config.help(defaults(), "usage: luajit x.lua"))
    assert.truthy(help:find("^usage: luajit x.lua\n"))
    local function has(key, type_name, default)
      local pattern = "\n  %-%-" .. key:gsub("%p", "%%%0") .. " +" .. type_name:gsub("%p", "%%%0") .. " +"
        .. default:gsub("%p", "%%%0") .. "\n"
      assert(help:find(pattern), key .. " missing from:\n" .. help)
    end
    has("max_epochs", "integer", "10")
    has("clip", "number", "0")
    has("verbose", "boolean", "true")
    has("metric", "string", '"OVERALL/cmc/1"')
    has("checkpoint", "string?", "(none)")
    has("scheduler", "block?", "(none)")
    has("optimizer.name", "string", '"adam"')
    has("optimizer.args.lr", "number", "1e-05")
    has("optimizer.args.betas", "list", "[0.9,0.999]")
    has("criterion.args.miner.name", "string", '"all_triplets"')
    has("extractor.args.*", "any", "(other keys)")
    has("metric_args.cmc_top_k", "list", "[1,5]")
    has("extra", "table", "{}")
  end)
end)

describe("oml.pipelines.registry", function()
  it("builds the targets that exist by OML's names", function()
    local miner = registry.build("miner", { name = "all_triplets", args = { max_output_triplets = 7 } })
    assert.are.equal(7, miner.max_output_triplets)
    local th = registry.build("postprocessor", { name = "constant_thresholding", args = { th = 0.5 } })
    assert.are.equal(0.5, th.th)
    local sampler = registry.build("sampler", { name = "balance", args = { n_labels = 2, n_instances = 2 } },
      { labels = { 1, 1, 2, 2, 3, 3 } })
    assert.truthy(sampler)
    local recipe = registry.build("transforms", { name = "norm_resize_torch", args = { im_size = 8 } })
    assert.are.same({ 8, 8 }, { recipe.height, recipe.width })
  end)

  it("lists the known names of an unknown one, and names a missing target", function()
    H.raises(function() local _ = registry.build("miner", { name = "all" }) end,
      "oml.pipelines.registry: miner: unknown miner 'all' (known: all_triplets, hard_cluster, hard_triplets, "
      .. "n_hard_triplets)")
    H.raises(function() local _ = registry.build("criterion", { name = "x" }, nil, "cfg.criterion") end,
      "cfg.criterion: unknown criterion 'x' (known: arcface, contrastive, mlp_arcface, ")
    H.raises(function() local _ = registry.build("nope", { name = "x" }) end, "unknown kind 'nope' (known: ")
    H.raises(function() local _ = registry.build("miner", "all_triplets") end,
      "miner: expected a block {name = ..., args = {...}} (got string)")
    H.raises(function() local _ = registry.build("transforms", { name = "augs_torch", args = { size = 3 } }) end,
      "transforms 'augs_torch': unknown argument 'size' (expected im_size, mean, std)")
    H.raises(function() local _ = registry.build("miner", { name = "all_triplets", args = { bad = 1 } }) end,
      "oml.miners.AllTripletsMiner: unknown argument 'bad'")
    registry.register("spec_kind", "missing_module", "spec_no_such_module", "X")
    H.raises(function() local _ = registry.build("spec_kind", { name = "missing_module" }) end,
      "spec_kind: spec_kind 'missing_module' needs spec_no_such_module, which cannot be loaded: "
      .. "module 'spec_no_such_module' not found:")
    registry.register("spec_kind", "missing_field", "oml.miners", "NoSuchMiner")
    H.raises(function() local _ = registry.build("spec_kind", { name = "missing_field" }) end,
      "spec_kind 'missing_field': oml.miners has no NoSuchMiner")
  end)

  it("builds nested blocks first and adds the runtime args over the block's", function()
    package.loaded["spec_fake_targets"] = {
      Outer = function(args) return { kind = "outer", args = args } end,
      Inner = function(args) return { kind = "inner", args = args } end,
    }
    registry.register("criterion", "spec_outer", "spec_fake_targets", "Outer")
    registry.register("miner", "spec_inner", "spec_fake_targets", "Inner")
    local made = registry.build("criterion",
      { name = "spec_outer", args = { margin = 1, lr = 2, miner = { name = "spec_inner", args = { k = 3 } } } },
      { lr = 5 })
    assert.are.same({ kind = "outer", args = { margin = 1, lr = 5, miner = { kind = "inner", args = { k = 3 } } } },
      made)
    assert.truthy(registry.constructor("criterion", "spec_outer"))
    local names = registry.names("criterion")
    assert.truthy(table.concat(names, ","):find("spec_outer", 1, true))
    package.loaded["spec_fake_targets"] = nil
  end)
end)
