-- oml.pipelines.train: OML's extractor training pipeline
-- (oml/lightning/pipelines/train.py) from a config: the datasets of an OML
-- dataframe, a sampler, a DataLoader, an extractor, a criterion (with its
-- miner), an optimizer and a scheduler, all built through
-- oml.pipelines.registry; epochs with progress bars; validation with
-- EmbeddingMetrics every valid_period epochs (and after the last one); a run
-- folder (oml.pipelines.run_folder) holding config.json, metrics.jsonl,
-- curves.jpg, the worst-query grids of the last validation and two
-- checkpoints, last.safetensors (after every epoch) and best.safetensors (by
-- metric_for_checkpointing), both written atomically (oml.save).
--
--   local result = require("oml.pipelines.train").run(cfg)  -- cfg: config.merge(train.defaults(), ...)
--   luajit recipes/train_x.lua --max_epochs 5 --optimizer.args.lr 1e-4 [--resume RUN/last.safetensors]
--
-- Resuming (`resume = path`) continues the checkpoint's run in its folder
-- and gives the weights an uninterrupted run with the same config gives:
-- a checkpoint holds the model, criterion, optimizer and scheduler states,
-- the epoch, the best value and the default generator's state; the sampler
-- and the loader draw from seeded per-epoch streams (seed = cfg.seed), set
-- back to the next epoch.
-- `device` ("cpu", "cuda", "cuda:N") holds the model, the criterion and
-- each batch; `autocast` ("bfloat16" or "float16", on a cuda device) rounds
-- the operands of GEMMs and convolutions for the run (oml.cuda.set_math),
-- float16 with dynamic loss scaling (oml.optim.GradScaler: a step whose
-- gradients overflow is skipped).
-- A NaN or infinite loss (or weights) stops the run with a message; the
-- checkpoints on disk stay those of the last good epoch. Ctrl-C (LuaJIT's
-- "interrupted!" error, raised when the interpreter next runs Lua code; a
-- long C call finishes first) stops the run the same way: last.safetensors
-- holds the last finished epoch, from which --resume continues exactly.
local oml = require "oml"
local optim = require "oml.optim"
local config = require "oml.pipelines.config"
local registry = require "oml.pipelines.registry"
local progress = require "oml.pipelines.progress"
local run_folder = require "oml.pipelines.run_folder"
local common = require "oml.pipelines.common"
local evaluate = require "oml.recipes.evaluate"

local fail = common.fail
local M = {}

-- defaults() -> a fresh table of the defaults (OML's InShop ViT recipe);
-- recipes change its fields and pass it to main.
function M.defaults()
  return {
    seed = 42,
    device = "cpu",
    autocast = config.optional("string"),
    dataset_root = config.optional("string"),
    dataframe_name = "df.csv",
    logs_root = "logs",
    run_name = config.optional("string"),
    resume = config.optional("string"),
    transforms_train = { name = "augs_torch", args = config.open { im_size = 224 } },
    transforms_val = { name = "norm_resize_torch", args = config.open { im_size = 224 } },
    sampler = { name = "balance", args = { n_labels = 8, n_instances = 4 } },
    extractor = { name = "vit", args = config.open { arch = "vits16", normalise_features = true,
                                                     weights = config.optional("string") } },
    criterion = { name = "triplet_with_miner",
                  args = { margin = 0.15, reduction = "mean", need_logs = false,
                           miner = { name = "all_triplets", args = config.open {} } } },
    optimizer = { name = "adam", args = config.open { lr = config.number(1e-5) } },
    scheduler = config.optional("block"),
    max_epochs = 10,
    valid_period = 1,
    valid_at_start = false,
    metric_for_checkpointing = "OVERALL/cmc/1",
    mode_for_checkpointing = "max",
    freeze_n_epochs = 0,
    clip_grad_norm = config.optional("number"),
    num_workers = 2,
    bs_val = 64,
    metric_args = { cmc_top_k = { 1, 5 }, precision_top_k = { 5 }, map_top_k = { 5 }, map_at_r = false,
                    fmr_vals = {}, pcf_variance = {} },
    report = { n_queries = 8, k = 5 },
  }
end

local function finite(x) return type(x) == "number" and x == x and x > -math.huge and x < math.huge end

-- Values the config's types cannot check, each named by its key; the
-- device and autocast as the run uses them.
local function check_config(cfg)
  local function positive(key, v) if v < 1 then fail("%s: must be >= 1 (got %d)", key, v) end end
  positive("max_epochs", cfg.max_epochs)
  positive("valid_period", cfg.valid_period)
  positive("bs_val", cfg.bs_val)
  positive("report.k", cfg.report.k)
  if cfg.num_workers < 0 then fail("num_workers: must be >= 0 (got %d)", cfg.num_workers) end
  if cfg.freeze_n_epochs < 0 then fail("freeze_n_epochs: must be >= 0 (got %d)", cfg.freeze_n_epochs) end
  if cfg.report.n_queries < 0 then fail("report.n_queries: must be >= 0 (got %d)", cfg.report.n_queries) end
  if cfg.mode_for_checkpointing ~= "max" and cfg.mode_for_checkpointing ~= "min" then
    fail("mode_for_checkpointing: must be \"max\" or \"min\" (got %q)", cfg.mode_for_checkpointing)
  end
  if cfg.clip_grad_norm ~= nil and (cfg.clip_grad_norm ~= cfg.clip_grad_norm or cfg.clip_grad_norm <= 0) then
    fail("clip_grad_norm: must be > 0 (got %s)", tostring(cfg.clip_grad_norm))
  end
  if not cfg.metric_for_checkpointing:match("^[^/]+/[^/]+") then
    fail("metric_for_checkpointing: expected CATEGORY/METRIC[/K], as \"OVERALL/cmc/1\" (got %q)",
      cfg.metric_for_checkpointing)
  end
  local device = common.device(cfg)
  return device, common.autocast(cfg, device)
end

local function dirname(path) return path:match("^(.*)/[^/]*$") or "." end

-- Every parameter finite (summed in float64, so that no finite float32 overflows).
local function weights_finite(module)
  for _, e in ipairs(module:named_parameters()) do
    if not finite(e.param:to({ dtype = "float64" }):sum():item()) then return false, e.name end
  end
  return true
end

-- The objects of a config (and its datasets); the model and the criterion
-- on the device.
local function build(cfg, df_path, device)
  local df = oml.data.read_dataframe(df_path, { dataset_root = cfg.dataset_root })
  local parts = { df = df }
  parts.train_ds = oml.data.ImageLabeledDataset {
    df = df, split = "train", transform = common.transform(cfg.transforms_train, "transforms_train") }
  parts.val_ds = oml.data.ImageQueryGalleryLabeledDataset {
    df = df, split = "validation", transform = common.transform(cfg.transforms_val, "transforms_val") }
  parts.sampler = registry.build("sampler", cfg.sampler, { labels = parts.train_ds:get_labels(), seed = cfg.seed },
    "sampler")
  parts.loader = oml.data.DataLoader { dataset = parts.train_ds, batch_sampler = parts.sampler,
                                       num_workers = cfg.num_workers, seed = cfg.seed }
  parts.extractor = common.build_extractor(cfg.extractor)
  parts.extractor.input_grad = false -- the images need no gradient
  parts.extractor:to(device)
  parts.criterion = registry.build("criterion", cfg.criterion, nil, "criterion")
  parts.criterion:to(device)
  local groups = { { params = parts.extractor } }
  if parts.criterion.named_parameters and #parts.criterion:named_parameters() > 0 then
    groups[2] = { params = parts.criterion }
  end
  parts.optimizer = registry.build("optimizer", cfg.optimizer, { params = groups }, "optimizer")
  if cfg.scheduler then
    parts.scheduler = registry.build("scheduler", cfg.scheduler, { optimizer = parts.optimizer }, "scheduler")
  end
  if cfg.autocast == "float16" then parts.scaler = optim.GradScaler() end
  return parts
end

-- One validation: metrics (nested and flat) and the retrieval results.
local function validate(cfg, parts, write, parent)
  local metrics_args = { dataset = parts.val_ds, warn = function() end }
  for k, v in pairs(cfg.metric_args) do metrics_args[k] = v end
  local em = oml.metrics.EmbeddingMetrics(metrics_args)
  local embeddings = common.embed(parts.extractor, parts.val_ds, {
    batch_size = cfg.bs_val, num_workers = cfg.num_workers, label = "validate", parent = parent, write = write,
    device = cfg.device })
  local rows = {}
  for i = 1, #parts.val_ds do rows[i] = i end
  em:update(embeddings, rows)
  local metrics = em:compute_metrics()
  return metrics, common.flatten_metrics(metrics), em.retrieval_results
end

local function better(value, best, mode)
  if best == nil then return true end
  if mode == "max" then return value > best end
  return value < best
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

-- run(cfg [, opts]) -> {run = folder, last = path, best = path, best_value,
-- best_epoch, metrics = flat metrics of the last validation, initial =
-- flat metrics before training (valid_at_start)}. opts: {write = fn or
-- false (the progress lines; default stderr), print = fn (one line per epoch;
-- default stdout), dataset_help = {name, url, convert} (for the absent
-- dataset's message)}.
local function run_on(cfg, opts, device)
  local say = opts.print or function(line) io.stdout:write(line, "\n") end
  local write = common.writer(opts.write)
  local df_path = common.require_dataset(cfg, opts.dataset_help)
  local ck
  if cfg.resume then
    ck = common.load_checkpoint(cfg.resume)
    if ck == nil then fail("resume: %s is not a checkpoint of oml.pipelines.train", cfg.resume) end
  end
  oml.manual_seed(cfg.seed)
  local parts = build(cfg, df_path, device)
  local extractor, criterion, optimizer, scaler = parts.extractor, parts.criterion, parts.optimizer, parts.scaler

  local folder, start, best, best_epoch
  if ck then
    folder = run_folder.open(dirname(cfg.resume))
    extractor:load_state_dict(ck.extractor)
    if next(ck.criterion) then criterion:load_state_dict(ck.criterion) end
    optimizer:load_state_dict(ck.optimizer)
    if parts.scheduler then parts.scheduler:load_state_dict(ck.scheduler) end
    if scaler and next(ck.scaler) then scaler:load_state_dict(ck.scaler) end
    start = tonumber(ck.meta.epoch) + 1
    best, best_epoch = tonumber(ck.meta.best_value), tonumber(ck.meta.best_epoch)
    common.restore_rng(ck.meta)
    parts.sampler:set_epoch(start)
    parts.loader:set_epoch(start - 1)
  else
    start = 1
    folder = run_folder.create { root = cfg.logs_root, name = cfg.run_name }
    folder:write_config(cfg)
  end
  local last_path, best_path = folder:file("last.safetensors"), folder:file("best.safetensors")
  local result = { run = folder.path, last = last_path, best = best_path }
  local key, mode = cfg.metric_for_checkpointing, cfg.mode_for_checkpointing

  local function check_key(flat)
    if flat[key] == nil then
      fail("metric_for_checkpointing: %q is not among the metrics (%s)", key, table.concat(sorted_keys(flat), ", "))
    end
  end

  if cfg.valid_at_start and not ck then
    local _, flat = validate(cfg, parts, write, nil)
    check_key(flat)
    result.initial = flat
    local record = { epoch = 0 }
    for k, v in pairs(flat) do record[k] = v end
    folder:log(record)
    say(("epoch 0 (untrained): %s %.4f"):format(key, flat[key]))
  end

  local epochs = progress.new { total = math.max(cfg.max_epochs - start + 1, 0), label = "epoch", write = write }
  local done_epoch = start - 1
  local function save(path, epoch)
    common.save_checkpoint(path, parts, { config = cfg, epoch = epoch,
                                          best_value = best and ("%.17g"):format(best) or "none",
                                          best_epoch = best_epoch or 0 })
  end

  local ok, err = pcall(function()
    for epoch = start, cfg.max_epochs do
      local frozen = epoch <= cfg.freeze_n_epochs
      if frozen then extractor:freeze() else extractor:unfreeze() end
      extractor:train()
      criterion:train()
      local bar = progress.new { total = parts.loader:length(), label = "batch", parent = epochs }
      local sum, count = 0, 0
      for batch in parts.loader:batches() do
        extractor:zeroGradParameters()
        criterion:zeroGradParameters()
        local input = batch.input_tensors:to { device = device }
        local features = extractor:forward(input)
        local loss = criterion:forward(features, batch.labels)
        if not finite(loss) then
          fail("the loss is %s at epoch %d, batch %d: the run stops. %s", tostring(loss), epoch, count + 1,
            done_epoch > 0 and ("%s holds epoch %d (resume from it with a smaller lr)"):format(last_path, done_epoch)
              or "no epoch finished, so there is no checkpoint")
        end
        local grad = criterion:backward(features, batch.labels)
        if scaler then
          -- every gradient as the scaled loss gives it: the criterion's own too
          grad = scaler:scale(grad)
          for _, g in ipairs(select(2, criterion:parameters())) do g:mul_(scaler:get_scale()) end
        end
        if not frozen then extractor:backward(input, grad) end
        if scaler then scaler:unscale_(optimizer) end
        if cfg.clip_grad_norm then optim.clip_grad_norm(optimizer, cfg.clip_grad_norm) end
        if scaler then
          scaler:step(optimizer)
          scaler:update()
        else
          optimizer:step()
        end
        sum, count = sum + loss, count + 1
        bar:update(count, { loss = sum / count })
      end
      bar:finish({ loss = sum / math.max(count, 1) })
      local good, bad_name = weights_finite(extractor)
      if not good then
        fail("the weight %s is not finite after epoch %d: the run stops. %s", bad_name, epoch,
          done_epoch > 0 and ("%s holds epoch %d"):format(last_path, done_epoch) or "no checkpoint was written")
      end
      local record = { epoch = epoch, loss = sum / math.max(count, 1), lr = optimizer.param_groups[1].lr }
      if parts.scheduler then parts.scheduler:step() end
      local line = ("epoch %d: loss %.4f"):format(epoch, record.loss)
      if epoch % cfg.valid_period == 0 or epoch == cfg.max_epochs then
        local metrics, flat, rr = validate(cfg, parts, write, epochs)
        check_key(flat)
        for k, v in pairs(flat) do record[k] = v end
        result.metrics, result.nested, result.retrieval_results = flat, metrics, rr
        line = line .. (" | %s %.4f"):format(key, flat[key])
        if better(flat[key], best, mode) then
          best, best_epoch = flat[key], epoch
          line = line .. " (best)"
          save(best_path, epoch)
        end
      end
      folder:log(record)
      folder:write_curves()
      save(last_path, epoch)
      done_epoch = epoch
      epochs:update(epoch - start + 1)
      say(line)
    end
  end)
  if not ok then
    if tostring(common.message(err)):match("interrupted!") then
      fail("interrupted: the run stops. %s", done_epoch > 0
        and ("%s holds epoch %d; continue with --resume %s"):format(last_path, done_epoch, last_path)
        or "no epoch finished, so there is no checkpoint")
    end
    error(err, 0)
  end
  epochs:finish()
  if result.retrieval_results and cfg.report.n_queries > 0 then
    oml.retrieval.report.write_worst_queries {
      retrieval_results = result.retrieval_results, paths = parts.val_ds:paths(), folder = folder.path,
      k = cfg.report.k, n_queries = cfg.report.n_queries }
  end
  if result.nested then
    local f = io.open(folder:file("metrics.txt"), "wb")
    f:write(evaluate.format_table(result.nested))
    f:close()
  end
  result.best_value, result.best_epoch = best, best_epoch
  result.nested, result.retrieval_results = nil, nil
  return result
end

-- The run under the config's autocast.
local function run(cfg, opts)
  local device, autocast = check_config(cfg)
  return common.with_math(autocast, function() return run_on(cfg, opts or {}, device) end)
end

-- main(argv [, defaults [, usage [, opts]]]) -> exit status: the command line
-- of a recipe (--help lists the keys).
M.run = common.public("oml.pipelines.train", run)

function M.main(argv, defaults, usage, opts)
  return common.main(function(cfg) return M.run(cfg, opts) end, argv, defaults or M.defaults(),
    usage or "usage: luajit recipes/train_x.lua [--config FILE] [--KEY VALUE ...] [--resume RUN/last.safetensors]")
end

return M
