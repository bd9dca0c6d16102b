-- oml.recipes.evaluate: retrieval metrics for embeddings made anywhere
-- (recipes/evaluate.lua is its command line). It reads OML's dataframe and a
-- safetensors file whose float32 tensor `embeddings` [N, D] holds one row per
-- validation row of the dataframe, in file order; runs
-- oml.metrics.EmbeddingMetrics; prints a table (category x metric) and
-- writes the metrics as JSON with OML's names and nesting:
--   {"OVERALL": {"cmc": {"1": v, "5": v}, "precision": {...}, "map": {...},
--                "ndcg": {...}, "map@r": v, "fnmr@fmr": {"0.1": v}, "pcf": {"0.5": v}},
--    "<category>": {... the same, without fnmr@fmr}}
-- A mean over no queries (a category whose queries have no ground truth) is
-- NaN, written as null.
--
--   local status = require("oml.recipes.evaluate").main(arg, io.stdout, io.stderr)
local ffi = require "ffi"
local cjson = require "cjson"
local oml = require "oml"
local T = require "oml.tensor"
local atomic = require "oml.io.atomic"

local M = {}

M.USAGE = [[
usage: luajit recipes/evaluate.lua --embeddings E.safetensors --dataframe D.csv [options]

Retrieval metrics, as OML's EmbeddingMetrics, for embeddings made anywhere.
E holds a float32 tensor named `embeddings` [N, D] whose rows follow the
dataframe's validation rows in file order.

  --embeddings PATH    the safetensors file (required)
  --dataframe PATH     OML's dataframe, a CSV file (required)
  --dataset-root DIR   the root of the dataframe's relative paths
  --cmc K[,K...]       cmc@k
  --precision K[,K...] precision@k
  --map K[,K...]       map@k
  --ndcg K[,K...]      ndcg@k
  --map-at-r           MAP@R
  --fmr F[,F...]       fnmr@fmr, F in [0, 1]
  --pcf V[,V...]       pcf@variance, V in [0, 1]
  --out PATH           write the metrics there as JSON
  --help               print this and exit

Without a metric option: OML's defaults (cmc@5, precision@5, map@5, pcf@0.5).
With some, only those asked. Exit status: 0 done, 1 failed, 2 bad arguments.
]]

-- Failures the command reports in one line: kind "usage" (status 2) or "failure" (status 1).
local function usage_error(fmt, ...) error({ usage = fmt:format(...) }, 0) end
local function failure(fmt, ...) error({ failure = fmt:format(...) }, 0) end

local MAX_K = 2 ^ 31 - 1

-- list options -> the EmbeddingMetrics argument each one sets
local LISTS = {
  cmc = "cmc_top_k", precision = "precision_top_k", map = "map_top_k", ndcg = "ndcg_top_k",
  fmr = "fmr_vals", pcf = "pcf_variance",
}
local FRACTIONS = { fmr = true, pcf = true }
local PATHS = { embeddings = "embeddings", dataframe = "dataframe", ["dataset-root"] = "dataset_root", out = "out" }

local function parse_list(option, value)
  local list, seen = {}, {}
  for item in (value .. ","):gmatch("([^,]*),") do
    local v
    if FRACTIONS[option] then
      v = item:match("^[%d.eE+-]+$") and tonumber(item)
      if not v then usage_error("--%s: '%s' is not a number", option, item) end
      if not (v >= 0 and v <= 1) then usage_error("--%s: %s is outside [0, 1]", option, item) end
    else
      v = item:match("^%d+$") and tonumber(item)
      if not v then usage_error("--%s: '%s' is not a positive integer", option, item) end
      if v < 1 or v > MAX_K then usage_error("--%s: %s is not a positive integer below 2^31", option, item) end
    end
    if not seen[v] then
      seen[v] = true
      list[#list + 1] = v
    end
  end
  return list
end

-- parse(argv) -> options {embeddings=, dataframe=, dataset_root=, out=,
-- help=, metrics = {EmbeddingMetrics arguments, nil when none was asked}}.
-- Takes `--name value` and `--name=value`.
function M.parse(argv)
  local options, metrics, given = {}, {}, {}
  local i = 1
  while argv[i] ~= nil do
    local word = argv[i]
    local name, inline = word:match("^%-%-([%w-]+)=(.*)$")
    if not name then name = word:match("^%-%-([%w-]+)$") end
    if not name then usage_error("unexpected argument '%s' (see --help)", word) end
    if given[name] then usage_error("--%s is given twice", name) end
    given[name] = true
    if name == "help" or name == "map-at-r" then
      if inline then usage_error("--%s takes no value", name) end
      if name == "help" then options.help = true else metrics.map_at_r = true end
    elseif LISTS[name] or PATHS[name] then
      local value = inline
      if value == nil then
        i = i + 1
        value = argv[i]
        if value == nil or value:sub(1, 2) == "--" then usage_error("--%s needs a value", name) end
      end
      if value == "" then usage_error("--%s needs a value", name) end
      if LISTS[name] then metrics[LISTS[name]] = parse_list(name, value) else options[PATHS[name]] = value end
    else
      usage_error("unknown option '--%s' (see --help)", name)
    end
    i = i + 1
  end
  if options.help then return options end
  if not options.embeddings then usage_error("--embeddings is required (see --help)") end
  if not options.dataframe then usage_error("--dataframe is required (see --help)") end
  if next(metrics) ~= nil then
    -- only what was asked
    for _, field in pairs(LISTS) do metrics[field] = metrics[field] or {} end
    options.metrics = metrics
  end
  return options
end

-- The dataset EmbeddingMetrics reads (oml/retrieval/results.lua), from the
-- dataframe's validation rows.
function M.dataset_of(df)
  local rows = df:split("validation")
  if rows.n == 0 then failure("%s has no validation rows", df.file) end
  local c = rows.columns
  local dataset = { n = rows.n, labels = c.label, is_query = c.is_query, is_gallery = c.is_gallery }
  if c.category then
    for i = 1, rows.n do
      if c.category[i] == nil then
        failure("%s: row %d (line %d) has no category (give every validation row one)", df.file, rows.row[i],
                rows.line[i])
      end
    end
    dataset.categories = c.category
  end
  if c.sequence then
    dataset.sequence = {}
    for i = 1, rows.n do dataset.sequence[i] = c.sequence[i] or false end
  end
  return dataset
end

-- The `embeddings` tensor of the file, checked against n validation rows.
function M.read_embeddings(path, n, dataframe_file)
  local tensors = oml.load(path)
  local e = tensors.embeddings
  if e == nil then
    local names = {}
    for name in pairs(tensors) do names[#names + 1] = "'" .. name .. "'" end
    table.sort(names)
    failure("%s has no tensor named 'embeddings' (it holds %s)", path,
            #names > 0 and table.concat(names, ", ") or "none")
  end
  if e.dtype_ ~= T.FLOAT32 then
    failure("%s: 'embeddings' is %s; expected float32", path, T.DTYPE_NAMES[e.dtype_])
  end
  if e.ndim_ ~= 2 then failure("%s: 'embeddings' has size %s; expected [N, D]", path, T.shape_str(e)) end
  local rows, dim = tonumber(e.size_[0]), tonumber(e.size_[1])
  if rows ~= n then
    failure("%s: 'embeddings' has %d rows but %s has %d validation rows", path, rows, dataframe_file, n)
  end
  if dim == 0 then failure("%s: 'embeddings' has no columns (size %s)", path, T.shape_str(e)) end
  local p = ffi.cast("const float *", e.data_) -- load gives a contiguous CPU tensor
  for i = 0, rows * dim - 1 do
    local v = p[i]
    if v ~= v or v == math.huge or v == -math.huge then
      failure("%s: 'embeddings' row %d holds %s", path, math.floor(i / dim) + 1, tostring(v))
    end
  end
  return e
end

-- evaluate(options [, warn]) -> metrics (as EmbeddingMetrics:compute_metrics), dataset
function M.evaluate(options, warn)
  local df = oml.data.read_dataframe(options.dataframe, { dataset_root = options.dataset_root })
  local dataset = M.dataset_of(df)
  local embeddings = M.read_embeddings(options.embeddings, dataset.n, options.dataframe)
  local args = { dataset = dataset, warn = warn }
  for k, v in pairs(options.metrics or {}) do args[k] = v end
  local metrics = oml.metrics.EmbeddingMetrics(args)
  local rows = {}
  for i = 1, dataset.n do rows[i] = i end
  metrics:update(embeddings, rows)
  return metrics:compute_metrics(), dataset
end

-- ---- output ----------------------------------------------------------------

-- A number as the shortest text that reads back to it ("0.1", "5").
local function number_text(v)
  for digits = 15, 17 do
    local s = ("%." .. digits .. "g"):format(v)
    if tonumber(s) == v then return s end
  end
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

-- OVERALL first, then the categories by name.
local function categories_in_order(metrics)
  local order = { "OVERALL" }
  for _, c in ipairs(sorted_keys(metrics)) do
    if c ~= "OVERALL" then order[#order + 1] = c end
  end
  return order
end

-- The columns, in OML's order: {metric, key (nil for a single value), label}.
local METRIC_ORDER = { "cmc", "precision", "map", "ndcg", "map@r", "fnmr@fmr", "pcf" }
local function columns_of(overall)
  local columns = {}
  for _, metric in ipairs(METRIC_ORDER) do
    local v = overall[metric]
    if type(v) == "number" then
      columns[#columns + 1] = { metric = metric, label = metric }
    elseif type(v) == "table" then
      for _, key in ipairs(sorted_keys(v)) do
        local sep = metric == "fnmr@fmr" and "=" or "@"
        columns[#columns + 1] = { metric = metric, key = key, label = metric .. sep .. number_text(key) }
      end
    end
  end
  return columns
end

local function value_at(values, column)
  local v = values[column.metric]
  if column.key ~= nil and type(v) == "table" then v = v[column.key] end
  return v
end

-- The metrics as a text table, one row per category.
function M.format_table(metrics)
  local columns = columns_of(metrics.OVERALL)
  local categories = categories_in_order(metrics)
  local first = #"category"
  for _, c in ipairs(categories) do first = math.max(first, #tostring(c)) end
  local widths, header = {}, { ("%-" .. first .. "s"):format("category") }
  for j, column in ipairs(columns) do
    widths[j] = math.max(#column.label, 6)
    header[#header + 1] = ("%" .. widths[j] .. "s"):format(column.label)
  end
  local lines = { table.concat(header, "  ") }
  for _, c in ipairs(categories) do
    local cells = { ("%-" .. first .. "s"):format(tostring(c)) }
    for j, column in ipairs(columns) do
      local v = value_at(metrics[c], column)
      local text = v == nil and "-" or v ~= v and "nan" or ("%.4f"):format(v)
      cells[#cells + 1] = ("%" .. widths[j] .. "s"):format(text)
    end
    lines[#lines + 1] = table.concat(cells, "  ")
  end
  return table.concat(lines, "\n") .. "\n"
end

local function json_value(v)
  if v ~= v then return "null" end
  return number_text(v)
end

-- The metrics as JSON text: keys in table order, numbers exact and short,
-- NaN as null.
function M.to_json(metrics)
  local parts = { "{\n" }
  local categories = categories_in_order(metrics)
  for i, c in ipairs(categories) do
    parts[#parts + 1] = ("  %s: {\n"):format(cjson.encode(tostring(c)))
    local values, fields = metrics[c], {}
    for _, metric in ipairs(METRIC_ORDER) do
      local v = values[metric]
      if type(v) == "number" then
        fields[#fields + 1] = ("    %s: %s"):format(cjson.encode(metric), json_value(v))
      elseif type(v) == "table" then
        local items = {}
        for _, key in ipairs(sorted_keys(v)) do
          items[#items + 1] = ("%s: %s"):format(cjson.encode(number_text(key)), json_value(v[key]))
        end
        fields[#fields + 1] = ("    %s: {%s}"):format(cjson.encode(metric), table.concat(items, ", "))
      end
    end
    parts[#parts + 1] = table.concat(fields, ",\n")
    parts[#parts + 1] = i < #categories and "\n  },\n" or "\n  }\n"
  end
  parts[#parts + 1] = "}\n"
  return table.concat(parts)
end

function M.write_json(path, metrics)
  local text = M.to_json(metrics)
  local ok, err = pcall(atomic.write, path, function(put) put(text) end)
  if not ok then
    if type(err) == "table" and err.what then failure("cannot write %s: %s", path, err.what) end
    error(err, 0)
  end
end

-- ---- the command -----------------------------------------------------------

-- An error as one line: oml's messages without the Lua position (the
-- position of a bug is kept, to find it).
local function one_line(err)
  if type(err) == "table" then return err.usage or err.failure or tostring(err) end
  local message = tostring(err)
  local rest = message:match("^[^\n]-:%d+: (oml%..*)$")
  return ((rest or message):gsub("%s*\n%s*", " "))
end

-- main(argv, stdout, stderr) -> exit status
function M.main(argv, stdout, stderr)
  local ok, status = xpcall(function()
    local options = M.parse(argv)
    if options.help then
      stdout:write(M.USAGE)
      return 0
    end
    local metrics = M.evaluate(options, function(message) stderr:write("evaluate: warning: ", message, "\n") end)
    stdout:write(M.format_table(metrics))
    if options.out then
      M.write_json(options.out, metrics)
      stdout:write("metrics written to ", options.out, "\n")
    end
    return 0
  end, function(err)
    return { status = type(err) == "table" and err.usage and 2 or 1, message = one_line(err) }
  end)
  if ok then return status end
  stderr:write("evaluate: ", status.message, "\n")
  return status.status
end

return M
