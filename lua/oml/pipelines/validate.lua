-- oml.pipelines.validate: OML's validation pipeline
-- (oml/lightning/pipelines/validate.py): the retrieval metrics of a
-- checkpoint of oml.pipelines.train, a weights file or a zoo model on the
-- validation rows of a dataframe, with an optional postprocessor; prints the
-- table of oml.recipes.evaluate and writes a run folder: config.json,
-- metrics.json (OML's names and nesting) and the worst-query grids.
--
--   luajit recipes/validate_x.lua --checkpoint logs/RUN/best.safetensors
--   luajit recipes/validate_x.lua --extractor.args.weights vits16_inshop
--
-- A training checkpoint carries its config: the extractor is built from the
-- checkpoint's extractor block, and its images are made by its
-- transforms_val unless transforms_from_checkpoint = false (the config's
-- blocks serve weights files and zoo models). `device` and `autocast` are
-- oml.pipelines.train's.
local oml = require "oml"
local config = require "oml.pipelines.config"
local registry = require "oml.pipelines.registry"
local run_folder = require "oml.pipelines.run_folder"
local common = require "oml.pipelines.common"
local evaluate = require "oml.recipes.evaluate"

local M = {}

function M.defaults()
  return {
    device = "cpu",
    autocast = config.optional("string"),
    dataset_root = config.optional("string"),
    dataframe_name = "df.csv",
    logs_root = "logs",
    run_name = config.optional("string"),
    checkpoint = config.optional("string"),
    transforms_from_checkpoint = true,
    transforms_val = { name = "norm_resize_torch", args = config.open { im_size = 224 } },
    extractor = { name = "vit", args = config.open { arch = "vits16", normalise_features = true,
                                                     weights = config.optional("string") } },
    postprocessor = config.optional("block"),
    metric_args = { cmc_top_k = { 1, 5 }, precision_top_k = { 5 }, map_top_k = { 5 }, map_at_r = false,
                    fmr_vals = {}, pcf_variance = {} },
    num_workers = 2,
    bs_val = 64,
    report = { n_queries = 8, k = 5 },
  }
end

-- extractor(cfg, transforms_key) -> the extractor of cfg and its transform:
-- a training checkpoint's own extractor (its config's block) and, while
-- cfg.transforms_from_checkpoint, its transforms_val; else the config's
-- blocks (cfg[transforms_key]), loading cfg.checkpoint as weights when given.
function M.extractor(cfg, transforms_key)
  local path = cfg.checkpoint
  if path and not common.exists(path) then common.fail("checkpoint: %s does not exist", path) end
  local ck = path and common.load_checkpoint(path)
  if ck == nil then
    return common.build_extractor(cfg.extractor, path), common.transform(cfg[transforms_key], transforms_key)
  end
  local block = ck.config.extractor
  if block.args then block.args.weights = nil end
  local extractor = registry.build("extractor", block, nil, "the checkpoint's extractor")
  extractor:load_state_dict(ck.extractor)
  if cfg.transforms_from_checkpoint then
    return extractor, common.transform(ck.config.transforms_val, "the checkpoint's transforms_val")
  end
  return extractor, common.transform(cfg[transforms_key], transforms_key)
end

-- run(cfg [, opts]) -> {metrics = nested (as EmbeddingMetrics), flat =
-- {"OVERALL/cmc/1" = ...}, run = folder}. opts: {print = fn, write = fn
-- (progress lines), dataset_help = {...}}.
local function run_pipeline(cfg, opts)
  opts = opts or {}
  local say = opts.print or function(text) io.stdout:write(text) end
  if cfg.bs_val < 1 then common.fail("bs_val: must be >= 1 (got %d)", cfg.bs_val) end
  if cfg.num_workers < 0 then common.fail("num_workers: must be >= 0 (got %d)", cfg.num_workers) end
  local device = common.device(cfg)
  local autocast = common.autocast(cfg, device)
  local df_path = common.require_dataset(cfg, opts.dataset_help)
  local extractor, transform = M.extractor(cfg, "transforms_val")
  extractor:to(device)
  local ds = oml.data.ImageQueryGalleryLabeledDataset {
    dataframe = df_path, dataset_root = cfg.dataset_root, split = "validation", transform = transform }
  local args = { dataset = ds }
  for k, v in pairs(cfg.metric_args) do args[k] = v end
  if cfg.postprocessor then
    args.postprocessor = registry.build("postprocessor", cfg.postprocessor, nil, "postprocessor")
  end
  local em = oml.metrics.EmbeddingMetrics(args)
  local embeddings = common.with_math(autocast, function()
    return common.embed(extractor, ds, { batch_size = cfg.bs_val, num_workers = cfg.num_workers, label = "validate",
                                         write = common.writer(opts.write), device = device })
  end)
  local rows = {}
  for i = 1, #ds do rows[i] = i end
  em:update(embeddings, rows)
  local metrics = em:compute_metrics()
  local run = run_folder.create { root = cfg.logs_root, name = cfg.run_name }
  run:write_config(cfg)
  evaluate.write_json(run:file("metrics.json"), metrics)
  if cfg.report.n_queries > 0 then
    oml.retrieval.report.write_worst_queries {
      retrieval_results = em.retrieval_results, paths = ds:paths(), folder = run.path, k = cfg.report.k,
      n_queries = cfg.report.n_queries }
  end
  say(evaluate.format_table(metrics))
  say(("metrics and worst-query grids in %s\n"):format(run.path))
  return { metrics = metrics, flat = common.flatten_metrics(metrics), run = run.path }
end

M.run = common.public("oml.pipelines.validate", run_pipeline)

function M.main(argv, defaults, usage, opts)
  return common.main(function(cfg) return M.run(cfg, opts) end, argv, defaults or M.defaults(),
    usage or "usage: luajit recipes/validate_x.lua [--checkpoint PATH] [--KEY VALUE ...]")
end

return M
