-- oml.pipelines.predict: OML's prediction pipeline
-- (oml/lightning/pipelines/predict.py): the embeddings of a folder of JPEG
-- images (searched recursively, sorted by path) or of every row of a
-- dataframe, written to a run folder as embeddings.safetensors (float32
-- `embeddings` [N, D]) and paths.json ({path: row}, rows 1-based as
-- everywhere in oml; paths relative to data_dir, or as the dataframe gives
-- them), beside config.json. A training checkpoint brings its extractor
-- and its transforms_val, as in oml.pipelines.validate; `device` and
-- `autocast` are oml.pipelines.train's.
--
--   luajit recipes/predict.lua --data_dir imgs --checkpoint logs/RUN/best.safetensors
local cjson = require "cjson"
local oml = require "oml"
local atomic = require "oml.io.atomic"
local config = require "oml.pipelines.config"
local run_folder = require "oml.pipelines.run_folder"
local common = require "oml.pipelines.common"
local validate = require "oml.pipelines.validate"

local M = {}

function M.defaults()
  return {
    device = "cpu",
    autocast = config.optional("string"),
    data_dir = config.optional("string"),
    dataframe = config.optional("string"),
    dataset_root = config.optional("string"),
    logs_root = "logs",
    run_name = config.optional("string"),
    checkpoint = config.optional("string"),
    transforms_from_checkpoint = true,
    transforms_predict = { name = "norm_resize_torch", args = config.open { im_size = 224 } },
    extractor = { name = "vit", args = config.open { arch = "vits16", normalise_features = true,
                                                     weights = config.optional("string") } },
    num_workers = 2,
    bs = 64,
  }
end

local function quoted(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- The JPEG files under dir, relative to it, sorted.
local function jpegs_under(dir)
  local pipe = io.popen(("find -L %s -type f \\( -iname '*.jpg' -o -iname '*.jpeg' \\) | LC_ALL=C sort")
    :format(quoted(dir)))
  local list, prefix = {}, dir:gsub("/$", "") .. "/"
  for line in pipe:lines() do list[#list + 1] = line:sub(#prefix + 1) end
  pipe:close()
  return list
end

-- run(cfg [, opts]) -> {run = folder, embeddings = path, paths = path, n = rows}
local function run_pipeline(cfg, opts)
  opts = opts or {}
  if (cfg.data_dir == nil) == (cfg.dataframe == nil) then
    common.fail("data_dir, dataframe: give one of them (a folder of JPEG images or an OML dataframe)")
  end
  if cfg.bs < 1 then common.fail("bs: must be >= 1 (got %d)", cfg.bs) end
  if cfg.num_workers < 0 then common.fail("num_workers: must be >= 0 (got %d)", cfg.num_workers) end
  local device = common.device(cfg)
  local autocast = common.autocast(cfg, device)
  local extractor, transform = validate.extractor(cfg, "transforms_predict")
  extractor:to(device)
  local names, ds
  if cfg.data_dir then
    names = jpegs_under(cfg.data_dir)
    if #names == 0 then common.fail("data_dir: no JPEG images under %s", cfg.data_dir) end
    ds = oml.data.ImageBaseDataset { paths = names, dataset_root = cfg.data_dir, transform = transform }
  else
    if not common.exists(cfg.dataframe) then common.fail("dataframe: %s does not exist", cfg.dataframe) end
    local df = oml.data.read_dataframe(cfg.dataframe, { dataset_root = cfg.dataset_root })
    names = {}
    for i = 1, df.n do names[i] = df.columns.path[i] end
    ds = oml.data.ImageBaseDataset { paths = names, transform = transform }
  end
  local embeddings = common.with_math(autocast, function()
    return common.embed(extractor, ds, { batch_size = cfg.bs, num_workers = cfg.num_workers, label = "predict",
                                         write = common.writer(opts.write), device = device })
  end)
  local run = run_folder.create { root = cfg.logs_root, name = cfg.run_name }
  run:write_config(cfg)
  oml.save(run:file("embeddings.safetensors"), { embeddings = embeddings })
  local map = {}
  for i, name in ipairs(names) do map[name] = i end
  local text = cjson.encode(map) .. "\n"
  atomic.write(run:file("paths.json"), function(put) put(text) end)
  return { run = run.path, embeddings = run:file("embeddings.safetensors"), paths = run:file("paths.json"),
           n = #names }
end

M.run = common.public("oml.pipelines.predict", run_pipeline)

function M.main(argv, defaults, usage, opts)
  return common.main(function(cfg)
    local result = M.run(cfg, opts)
    io.stdout:write(("%d embeddings in %s\n"):format(result.n, result.embeddings))
  end, argv, defaults or M.defaults(), usage or "usage: luajit recipes/predict.lua --data_dir DIR [--KEY VALUE ...]")
end

return M
