-- oml.retrieval.report: pictures of what went wrong in a validation run.
-- worst_queries draws, for one per-query retrieval metric, the queries that
-- scored worst as a JPEG grid, one row per query:
--   the query | its top-k retrieved images, framed green (relevant) or red
--   (not) | the ground truth it missed (up to k), framed grey.
-- Each image is shrunk into a tile keeping its aspect (nearest neighbour:
-- these are thumbnails to look at, not inputs to a model). An image file
-- that is missing or unreadable becomes a dark tile and an entry of the
-- returned errors, never an error of the whole report.
--
-- Layout (what the specs and any tool reading the grid may rely on): tiles
-- of tile x tile pixels, `gap` pixels of white around and between them; a
-- frame `border` pixels wide inside the tile; tile (row r, column c), both
-- 1-based, starts at x = gap + (c - 1) * (tile + gap), y likewise with r.
local ffi = require "ffi"
local T = require "oml.tensor"
local jpeg = require "oml.io.jpeg"
local retrieval_metrics = require "oml.retrieval.metrics"
local contiguous = require("oml.ops.creation").methods.contiguous

local raise = T.raise
local int64_ptr = ffi.typeof("int64_t*")
local float_ptr = ffi.typeof("float*")
local uint8_ptr = ffi.typeof("uint8_t*")

local M = {}

M.COLOURS = {
  background = { 255, 255, 255 },
  relevant = { 40, 180, 40 },
  irrelevant = { 220, 30, 30 },
  missed = { 140, 140, 140 },
  missing_image = { 48, 48, 48 },
}
local METRICS = { cmc = true, precision = true, map = true, ndcg = true }
local MIN_TILE = 16

-- ---- the metric ------------------------------------------------------------

-- The queries with ground truth, worst first by `metric`@k (ties by query
-- index), at most n of them: a list of {query =, value =}.
local function worst_by(rr, metric, k, n)
  local args = {
    retrieved_ids = rr.retrieved_ids, n_retrieved = rr.n_retrieved, gt_ids = rr.gt_ids, reduce = false,
    cmc_top_k = {}, precision_top_k = {}, map_top_k = {}, ndcg_top_k = {},
  }
  args[metric .. "_top_k"] = { k }
  local metrics, no_gt = retrieval_metrics.calc_retrieval_metrics(args)
  local per_query = contiguous(metrics[metric][k])   -- a local keeps it alive while values is read
  local values = ffi.cast(float_ptr, per_query.data_)
  local skip = {}
  for _, q in ipairs(no_gt) do skip[q] = true end
  local ranked = {}
  for q = 1, rr:n_queries() do
    if not skip[q] then ranked[#ranked + 1] = { query = q, value = values[q - 1] } end
  end
  table.sort(ranked, function(a, b)
    if a.value ~= b.value then return a.value < b.value end
    return a.query < b.query
  end)
  for i = #ranked, n + 1, -1 do ranked[i] = nil end
  return ranked
end

-- Fills entry.retrieved, entry.relevant (booleans) and entry.missed with
-- gallery ids: its top-k and the ground truth not among them (up to k).
local function describe(rr, entry, k)
  local q = entry.query
  local kmax = tonumber(rr.retrieved_ids.size_[1])
  -- locals keep the tensors alive while their pointers are read
  local ids_t, counts_t, gt_t = contiguous(rr.retrieved_ids), contiguous(rr.gt_ids.counts), contiguous(rr.gt_ids.ids)
  local ids, counts = ffi.cast(int64_ptr, ids_t.data_), ffi.cast(int64_ptr, counts_t.data_)
  local gt = ffi.cast(int64_ptr, gt_t.data_)
  local n_retrieved = tonumber(rr.n_retrieved[q])
  local first = 0
  for i = 0, q - 2 do first = first + tonumber(counts[i]) end
  local is_gt = {}
  for i = first, first + tonumber(counts[q - 1]) - 1 do is_gt[tonumber(gt[i])] = true end
  local retrieved, relevant, shown = {}, {}, {}
  for r = 1, math.min(k, n_retrieved) do
    local id = tonumber(ids[(q - 1) * kmax + r - 1])
    retrieved[r], relevant[r], shown[id] = id, is_gt[id] == true, true
  end
  local missed = {}
  for i = first, first + tonumber(counts[q - 1]) - 1 do
    local id = tonumber(gt[i])
    if not shown[id] and #missed < k then missed[#missed + 1] = id end
  end
  entry.retrieved, entry.relevant, entry.missed = retrieved, relevant, missed
end

-- ---- drawing ---------------------------------------------------------------

local Canvas = {}
Canvas.__index = Canvas

local function new_canvas(width, height, name)
  local image = T.empty({ height, width, 3 }, T.UINT8, T.CPU, name)
  local canvas = setmetatable({ image = image, width = width, p = ffi.cast(uint8_ptr, image.data_) }, Canvas)
  canvas:fill(0, 0, width, height, M.COLOURS.background)
  return canvas
end

function Canvas:fill(x0, y0, w, h, rgb)
  local p, width = self.p, self.width
  local r, g, b = rgb[1], rgb[2], rgb[3]
  for y = y0, y0 + h - 1 do
    local row = (y * width + x0) * 3
    for x = 0, w - 1 do
      p[row + 3 * x], p[row + 3 * x + 1], p[row + 3 * x + 2] = r, g, b
    end
  end
end

-- Draws image (uint8 [H, W, 3], contiguous) centred in the size x size
-- square at (x0, y0), shrunk or grown to fit, keeping its aspect.
function Canvas:paste(image, x0, y0, size)
  local h, w = tonumber(image.size_[0]), tonumber(image.size_[1])
  local scale = math.min(size / w, size / h)
  local dw, dh = math.max(1, math.floor(w * scale + 0.5)), math.max(1, math.floor(h * scale + 0.5))
  dw, dh = math.min(dw, size), math.min(dh, size)
  local ox, oy = x0 + math.floor((size - dw) / 2), y0 + math.floor((size - dh) / 2)
  local src, dst, width = ffi.cast(uint8_ptr, image.data_), self.p, self.width
  for y = 0, dh - 1 do
    local sy = math.min(h - 1, math.floor((y + 0.5) * h / dh))
    local drow = ((oy + y) * width + ox) * 3
    for x = 0, dw - 1 do
      local sx = math.min(w - 1, math.floor((x + 0.5) * w / dw))
      local s = (sy * w + sx) * 3
      dst[drow + 3 * x], dst[drow + 3 * x + 1], dst[drow + 3 * x + 2] = src[s], src[s + 1], src[s + 2]
    end
  end
end

-- ---- arguments -------------------------------------------------------------

local OPTIONS = {
  retrieval_results = true, paths = true, metric = true, k = true, n_queries = true, tile = true,
  out = true, quality = true,
}

local function check_args(args, name, allowed)
  if type(args) ~= "table" or T.is_tensor(args) then
    raise(name, "expected a table of named arguments (got %s)", T.kind(args))
  end
  for key in pairs(args) do
    if not allowed[key] then raise(name, "unknown argument '%s'", tostring(key)) end
  end
  local rr = args.retrieval_results
  if type(rr) ~= "table" or not T.is_tensor(rr.retrieved_ids) or not T.is_tensor(rr.query_rows)
      or not T.is_tensor(rr.gallery_rows) then
    raise(name, "retrieval_results must be a RetrievalResults with query_rows and gallery_rows (got %s)",
          T.kind(rr))
  end
  if rr.gt_ids == nil then raise(name, "retrieval_results has no ground truth to judge the queries by") end
  if type(args.paths) ~= "table" then
    raise(name, "paths must be a list of image paths, one per dataset row (got %s)", T.kind(args.paths))
  end
  local options = {
    k = args.k == nil and 5 or T.count(args.k, name, "k"),
    n_queries = args.n_queries == nil and 8 or T.count(args.n_queries, name, "n_queries"),
    tile = args.tile == nil and 128 or T.count(args.tile, name, "tile"),
    quality = args.quality == nil and jpeg.DEFAULT_QUALITY or T.count(args.quality, name, "quality"),
  }
  local kmax = tonumber(rr.retrieved_ids.size_[1])
  if options.k < 1 or options.k > kmax then
    raise(name, "k must be 1..%d, the items retrieved per query (got %d)", kmax, options.k)
  end
  if options.n_queries < 1 then raise(name, "n_queries must be at least 1") end
  if options.tile < MIN_TILE then raise(name, "tile must be at least %d pixels (got %d)", MIN_TILE, options.tile) end
  if options.quality < 1 or options.quality > 100 then
    raise(name, "quality must be 1..100 (got %d)", options.quality)
  end
  return rr, options
end

local function check_metric(metric, name)
  if not METRICS[metric] then
    raise(name, "metric must be 'cmc', 'precision', 'map' or 'ndcg' (got %s)", T.show(metric))
  end
  return metric
end

-- ---- the report ------------------------------------------------------------

-- The image of dataset row `row`, or nil after noting why not in errors.
local function load_image(paths, row, min_side, errors)
  local path = paths[row]
  if type(path) ~= "string" then
    errors[#errors + 1] = { row = row, message = ("no image path for dataset row %d"):format(row) }
    return nil
  end
  local ok, image = pcall(jpeg.read, path, { min_side = min_side })
  if ok then return image end
  errors[#errors + 1] = { row = row, path = path, message = tostring(image):gsub("^[^:]*:%d+: ", "") }
  return nil
end

local function draw(rr, paths, entries, options, name)
  local tile, k = options.tile, options.k
  local border = math.max(3, math.floor(tile / 20))
  local gap = border
  local n_missed = 0
  for _, e in ipairs(entries) do n_missed = math.max(n_missed, #e.missed) end
  local columns, rows = 1 + k + n_missed, math.max(1, #entries)
  local width, height = gap + columns * (tile + gap), gap + rows * (tile + gap)
  local canvas = new_canvas(width, height, name)
  local query_rows_t, gallery_rows_t = contiguous(rr.query_rows), contiguous(rr.gallery_rows)   -- kept alive
  local query_rows = ffi.cast(int64_ptr, query_rows_t.data_)
  local gallery_rows = ffi.cast(int64_ptr, gallery_rows_t.data_)
  local inner, errors = tile - 2 * border, {}

  local function put(r, c, row, frame)
    local x, y = gap + (c - 1) * (tile + gap), gap + (r - 1) * (tile + gap)
    if frame then canvas:fill(x, y, tile, tile, frame) end
    local image = load_image(paths, row, inner, errors)
    if image then
      canvas:fill(x + border, y + border, inner, inner, M.COLOURS.background) -- the letterbox
      canvas:paste(image, x + border, y + border, inner)
    else
      canvas:fill(x + border, y + border, inner, inner, M.COLOURS.missing_image)
    end
  end

  for r, e in ipairs(entries) do
    put(r, 1, tonumber(query_rows[e.query - 1]), nil)
    for i, id in ipairs(e.retrieved) do
      put(r, 1 + i, tonumber(gallery_rows[id - 1]), e.relevant[i] and M.COLOURS.relevant or M.COLOURS.irrelevant)
    end
    for i, id in ipairs(e.missed) do put(r, 1 + k + i, tonumber(gallery_rows[id - 1]), M.COLOURS.missed) end
  end
  return canvas.image, { width = width, height = height, columns = columns, tile = tile, gap = gap,
                         border = border, errors = errors }
end

-- worst_queries{retrieval_results=, paths=, out= [, metric="cmc"] [, k=5]
--   [, n_queries=8] [, tile=128] [, quality=90]} -> summary
-- paths: image paths by dataset row (e.g. a Dataframe's columns.path, which
-- read_dataframe resolves against the dataset root). Queries without ground
-- truth are not ranked. summary: {path, metric, k, width, height, columns,
-- tile, gap, border, queries = {{query, value, retrieved, relevant, missed}},
-- errors = {{row, path, message}}}; ids in queries are gallery ids.
function M.worst_queries(args)
  local name = "oml.retrieval.report.worst_queries"
  local rr, options = check_args(args, name, OPTIONS)
  local metric = check_metric(args.metric == nil and "cmc" or args.metric, name)
  if type(args.out) ~= "string" then
    raise(name, "out must be the path of the JPEG to write (got %s)", T.kind(args.out))
  end
  local entries = worst_by(rr, metric, options.k, options.n_queries)
  for _, e in ipairs(entries) do describe(rr, e, options.k) end
  local image, summary = draw(rr, args.paths, entries, options, name)
  jpeg.write(args.out, image, options.quality)
  summary.path, summary.metric, summary.k, summary.queries = args.out, metric, options.k, entries
  return summary
end

local FOLDER_OPTIONS = {
  retrieval_results = true, paths = true, metrics = true, k = true, n_queries = true, tile = true,
  folder = true, quality = true,
}

-- write_worst_queries{retrieval_results=, paths=, folder= [, metrics={"cmc",
--   "precision", "map"}] [, k=5] [, n_queries=8] [, tile=128] [, quality=90]}
-- -> {[metric] = summary}: one grid per metric, folder/worst_<metric>@<k>.jpg
-- (the folder must exist).
function M.write_worst_queries(args)
  local name = "oml.retrieval.report.write_worst_queries"
  check_args(args, name, FOLDER_OPTIONS)
  if type(args.folder) ~= "string" then raise(name, "folder must be a path (got %s)", T.kind(args.folder)) end
  local metrics = args.metrics == nil and { "cmc", "precision", "map" } or args.metrics
  if type(metrics) ~= "table" or #metrics == 0 then
    raise(name, "metrics must be a non-empty list of metric names (got %s)", T.show(metrics))
  end
  for _, metric in ipairs(metrics) do check_metric(metric, name) end
  local k = args.k == nil and 5 or args.k
  local reports = {}
  for _, metric in ipairs(metrics) do
    reports[metric] = M.worst_queries {
      retrieval_results = args.retrieval_results, paths = args.paths, metric = metric, k = k,
      n_queries = args.n_queries, tile = args.tile, quality = args.quality,
      out = ("%s/worst_%s@%d.jpg"):format(args.folder, metric, k),
    }
  end
  return reports
end

return M
