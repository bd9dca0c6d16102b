-- oml.pipelines.common: what train, validate and predict share: the
-- datasets and transforms of a config, embeddings of a whole dataset,
-- checkpoints (oml.save files of the training state), metrics flattened to
-- OML's "OVERALL/cmc/1" names, and the message of a recipe whose dataset or
-- weights are absent.
local ffi = require "ffi"
local cjson = require "cjson"
local oml = require "oml"
local T = require "oml.tensor"
local registry = require "oml.pipelines.registry"
local progress = require "oml.pipelines.progress"

local M = {}

-- A pipeline's failure: a message without a Lua position, raised as a table
-- so that main() prints it as it is.
local Failure = {}
function M.fail(fmt, ...)
  error(setmetatable({ msg = fmt:format(...) }, Failure), 0)
end

-- The progress output of opts.write: nil (stderr), a function, or false (none).
function M.writer(write)
  if write == false then return function() end end
  return write
end

function M.message(err)
  if getmetatable(err) == Failure then return err.msg end
  return tostring(err)
end

-- public(name, fn): fn whose failures are raised as "name: message" at the
-- caller's line; other errors pass through as they are.
function M.public(name, fn)
  local function finish(ok, ...)
    if ok then return ... end
    local err = ...
    if getmetatable(err) == Failure then error(name .. ": " .. err.msg, 2) end
    error(err, 0)
  end
  return function(...) return finish(pcall(fn, ...)) end
end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end
M.exists = exists

-- The dataframe's path, or a failure saying how to get the dataset:
-- how = {name = "InShop", convert = "recipes/convert_inshop.lua", url = ...}.
function M.require_dataset(cfg, how)
  if cfg.dataset_root == nil then M.fail("dataset_root: not set (give --dataset_root DIR)") end
  local path = cfg.dataset_root .. "/" .. cfg.dataframe_name
  if exists(path) then return path end
  if how == nil then M.fail("dataset_root: %s does not exist", path) end
  M.fail("%s is absent: %s does not exist.\nDownload it from %s into %s, convert it with\n"
    .. "  luajit %s --dataset_root %s\nthen run this again (or give --dataset_root DIR).",
    how.name, path, how.url, cfg.dataset_root, how.convert, cfg.dataset_root)
end

-- The weights of an extractor block (a path or a zoo name), or a failure
-- saying why they are absent.
function M.require_weights(block)
  local weights = type(block.args) == "table" and block.args.weights or nil
  if weights == nil or exists(weights) then return end
  if oml.zoo.registry[weights] == nil then
    M.fail("extractor.args.weights: %s is neither a file nor a name of oml.zoo", tostring(weights))
  end
  local ok, err = pcall(oml.zoo.fetch, weights)
  if not ok then
    M.fail("the weights %s are absent and cannot be fetched: %s\n(oml.zoo downloads them into %s on first use;"
      .. " on a machine without network, copy that folder from one with it)", weights,
      M.message(err):gsub("^.-:%d+: ", ""):match("[^\n]*"), oml.zoo.cache_dir())
  end
end

-- ---- devices -------------------------------------------------------------------

-- The config's device ("cpu", "cuda" or "cuda:N") as oml names it
-- ("cuda" -> "cuda:0"), or a failure naming the key.
function M.device(cfg)
  local d = cfg.device
  local ok, n = pcall(T.device, d)
  if type(d) ~= "string" or not ok then
    M.fail("device: must be \"cpu\", \"cuda\" or \"cuda:N\" (got %q)", tostring(d))
  end
  if n == T.CPU then return "cpu" end
  if not oml.cuda.is_available() then
    M.fail("device: %q needs a CUDA GPU, but oml.cuda.is_available() is false (%s); use device = \"cpu\"", d,
      oml.cuda.is_compiled() and "no GPU is visible" or "this build of oml has no CUDA backend")
  end
  if n >= oml.cuda.device_count() then
    M.fail("device: %q is not present (%d CUDA device(s): cuda:0 .. cuda:%d)", d, oml.cuda.device_count(),
      oml.cuda.device_count() - 1)
  end
  return T.device_name(n)
end

local AUTOCAST = { bfloat16 = true, float16 = true }

-- The config's autocast (nil, "bfloat16" or "float16"), checked against the
-- device: it sets how CUDA GEMMs and convolutions round their operands, so
-- it needs a cuda device.
function M.autocast(cfg, device)
  local mode = cfg.autocast
  if mode == nil then return nil end
  if not AUTOCAST[mode] then M.fail("autocast: must be \"bfloat16\" or \"float16\" (got %q)", tostring(mode)) end
  if device == "cpu" then M.fail("autocast: %q needs a cuda device (device is \"cpu\")", mode) end
  return mode
end

-- fn() under oml.cuda.set_math(mode) (nil: as it is); the mode before is
-- restored however fn ends.
function M.with_math(mode, fn)
  if mode == nil then return fn() end
  local before = oml.cuda.get_math()
  oml.cuda.set_math(mode)
  local results = { pcall(fn) }
  oml.cuda.set_math(before)
  if not results[1] then error(results[2], 0) end
  return unpack(results, 2, table.maxn(results))
end

-- ---- datasets ------------------------------------------------------------------

function M.transform(block, path)
  return registry.build("transforms", block, nil, path)
end

-- embed(model, dataset, {batch_size, num_workers, label, parent, write,
-- device}) -> float32 [N, D] on the CPU in dataset order (the model in
-- evaluation mode, then back as it was; each batch copied to device, the
-- model's, default "cpu"), with a progress bar (write: its output, stderr by
-- default).
function M.embed(model, ds, opts)
  local was_training = model.training
  model:evaluate()
  local loader = oml.data.DataLoader { dataset = ds, batch_size = opts.batch_size, num_workers = opts.num_workers,
                                       seed = 0 }
  local out, done = nil, 0
  local bar = progress.new { total = loader:length(), label = opts.label or "embed", parent = opts.parent,
                             write = opts.write }
  for batch in loader:batches() do
    local e = model:forward(batch.input_tensors:to { device = opts.device or "cpu" })
    if out == nil then out = oml.empty({ #ds, e:size(2) }, "float32") end
    out:narrow(1, done + 1, e:size(1)):copy_(e)
    done = done + e:size(1)
    bar:update(bar.done + 1)
  end
  bar:finish()
  model:train(was_training)
  return out
end

-- {"OVERALL/cmc/1" = v, "shoes/map/5" = v, "OVERALL/map@r" = v, ...}
function M.flatten_metrics(metrics)
  local flat = {}
  for category, values in pairs(metrics) do
    for metric, v in pairs(values) do
      if type(v) == "table" then
        for k, x in pairs(v) do flat[("%s/%s/%s"):format(category, metric, tostring(k))] = x end
      else
        flat[("%s/%s"):format(category, metric)] = v
      end
    end
  end
  return flat
end

-- ---- checkpoints ---------------------------------------------------------------

-- A checkpoint is one safetensors file: the extractor's state under
-- "extractor.", the criterion's under "criterion.", the optimizer's,
-- scheduler's and grad scaler's under "optimizer.", "scheduler." and
-- "scaler."; the metadata holds the format, the epoch, the best value so
-- far, the default generator's state and the config (JSON). The extractor weights alone: M.extractor_weights.
M.FORMAT = "oml.pipelines.checkpoint/1"

local function prefixed(out, prefix, sd)
  for k, t in pairs(sd or {}) do out[prefix .. k] = t end
end

local function u64_text(x) return (tostring(x):gsub("ULL$", "")) end

function M.save_checkpoint(path, parts, meta)
  local tensors = {}
  prefixed(tensors, "extractor.", (parts.extractor:state_dict()))
  if parts.criterion then prefixed(tensors, "criterion.", (parts.criterion:state_dict())) end
  if parts.optimizer then prefixed(tensors, "optimizer.", parts.optimizer:state_dict()) end
  if parts.scheduler then prefixed(tensors, "scheduler.", parts.scheduler:state_dict()) end
  if parts.scaler then prefixed(tensors, "scaler.", parts.scaler:state_dict()) end
  local g = T.C.oml_default_generator()
  local metadata = { format = M.FORMAT, rng_seed = u64_text(g.seed_), rng_offset = u64_text(g.offset_),
                     config = cjson.encode(meta.config) }
  for k, v in pairs(meta) do
    if k ~= "config" then metadata[k] = tostring(v) end
  end
  oml.save(path, tensors, metadata)
end

local function parse_u64(text) return ffi.new("uint64_t", 0) + (loadstring("return " .. text .. "ULL")()) end

-- load_checkpoint(path) -> {extractor = sd, criterion = sd, optimizer = sd,
-- scheduler = sd, scaler = sd, meta = metadata, config = table}; nil when
-- path is not a pipeline checkpoint (plain weights).
function M.load_checkpoint(path)
  if not exists(path) then M.fail("%s does not exist", path) end
  local tensors, metadata = oml.load(path)
  if metadata == nil or metadata.format ~= M.FORMAT then return nil end
  local out = { extractor = {}, criterion = {}, optimizer = {}, scheduler = {}, scaler = {}, meta = metadata,
                config = cjson.decode(metadata.config) }
  for key, t in pairs(tensors) do
    local part, rest = key:match("^(%a+)%.(.*)$")
    if out[part] == nil or part == "meta" or part == "config" then M.fail("%s: unexpected tensor '%s'", path, key) end
    out[part][rest] = t
  end
  return out
end

-- The default generator's state as a checkpoint holds it.
function M.restore_rng(meta)
  local g = T.C.oml_default_generator()
  g.seed_, g.offset_ = parse_u64(meta.rng_seed), parse_u64(meta.rng_offset)
end

-- The extractor of a config block, with a checkpoint's or weights' state.
function M.build_extractor(block, checkpoint_path)
  if checkpoint_path and type(block.args) == "table" then block.args.weights = nil end
  M.require_weights(block)
  local extractor = registry.build("extractor", block, nil, "extractor")
  if checkpoint_path then
    local ck = M.load_checkpoint(checkpoint_path)
    if ck then
      extractor:load_state_dict(ck.extractor)
    else
      extractor:load_weights(checkpoint_path)
    end
  end
  return extractor
end

-- ---- the command line ------------------------------------------------------------

-- main(run, argv, defaults, usage) -> exit status: a pipeline run from the
-- command line; --help prints the keys; an oml error prints its message
-- alone (no Lua position), anything else a traceback; both exit 1.
function M.main(run, argv, defaults, usage)
  local config = require "oml.pipelines.config"
  local ok, err = xpcall(function()
    local cfg, help = config.from_args(defaults, argv, usage)
    if not cfg then
      io.stdout:write(help)
      return
    end
    return run(cfg)
  end, function(e)
    local text = M.message(e)
    if text:match("^oml%.") then return text end
    return text:match("^[^\n]-:%d+: (oml%..*)$") or debug.traceback(text, 2)
  end)
  if ok then return 0 end
  io.stderr:write(err, "\n")
  return 1
end

return M
