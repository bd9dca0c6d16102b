-- oml.metrics.EmbeddingMetrics: accumulates a validation set's embeddings
-- batch by batch, then retrieves each query in the gallery and computes
-- OML's retrieval metrics, as OML 4.x's EmbeddingMetrics
-- (oml/metrics/embeddings.py).
--
--   local m = oml.metrics.EmbeddingMetrics{dataset = ds, cmc_top_k = {1, 5}}
--   m:setup()
--   for each batch: m:update(embeddings, indices)   -- indices: dataset rows, 1-based
--   local metrics = m:compute_metrics()
--   -- metrics.OVERALL.cmc[1], metrics.OVERALL.precision[5], metrics.shoes.map[5], ...
--
-- The dataset is the table described in oml/retrieval/results.lua.
local ffi = require "ffi"
local T = require "oml.tensor"
local RetrievalResults = require "oml.retrieval.results"
local functional = require "oml.retrieval.metrics"
local creation = require("oml.ops.creation").functions
local index_ops = require("oml.ops.index").methods
local creation_methods = require("oml.ops.creation").methods
local totable = creation_methods.totable

local raise = T.raise
local NAME = "oml.metrics.EmbeddingMetrics"
local OVERALL = functional.OVERALL

local EmbeddingMetrics = {}
EmbeddingMetrics.__index = EmbeddingMetrics

local OPTIONS = {
  dataset = true, cmc_top_k = true, precision_top_k = true, map_top_k = true, ndcg_top_k = true,
  map_at_r = true, fmr_vals = true, pcf_variance = true, postprocessor = true,
  return_only_overall_category = true, warn = true,
}

-- Queries named in full in a warning; the rest are counted.
local NAMED_IN_WARNING = 10

local function positive_integers(list, default, what)
  if list == nil then return default end
  if type(list) ~= "table" or T.is_tensor(list) then
    raise(NAME, "%s must be a list of positive integers (got %s)", what, T.kind(list))
  end
  for i, k in ipairs(list) do
    if type(k) ~= "number" or k < 1 or k ~= math.floor(k) or k >= 2 ^ 31 then
      raise(NAME, "%s must hold positive integers (entry %d is %s)", what, i, T.show(k))
    end
  end
  return list
end

local function unit_values(list, default, what)
  if list == nil then return default end
  if type(list) ~= "table" or T.is_tensor(list) then
    raise(NAME, "%s must be a list of numbers in [0, 1] (got %s)", what, T.kind(list))
  end
  for i, v in ipairs(list) do
    if type(v) ~= "number" or not (v >= 0 and v <= 1) then
      raise(NAME, "%s must hold numbers in [0, 1] (entry %d is %s)", what, i, T.show(v))
    end
  end
  return list
end

local function warn_to_stderr(message) io.stderr:write(message, "\n") end

-- EmbeddingMetrics{dataset= [, cmc_top_k={5}] [, precision_top_k={5}]
--   [, map_top_k={5}] [, ndcg_top_k={}] [, map_at_r=false] [, fmr_vals={}]
--   [, pcf_variance={0.5}] [, postprocessor=] [, return_only_overall_category=false]
--   [, warn=fn]}
-- Defaults are OML's. postprocessor: an object with process(rr, dataset)
-- (oml.retrieval's thresholdings and PairwiseReranker); warn(message)
-- receives warnings (default: written to stderr).
function EmbeddingMetrics.new(args)
  if type(args) ~= "table" or T.is_tensor(args) then
    raise(NAME, "expected a table of named arguments (got %s)", T.kind(args))
  end
  for key in pairs(args) do
    if not OPTIONS[key] then raise(NAME, "unknown argument '%s'", tostring(key)) end
  end
  local self = setmetatable({}, EmbeddingMetrics)
  self.dataset = RetrievalResults.dataset_view(args.dataset)
  self.n = RetrievalResults.check_dataset(self.dataset, NAME)
  self.cmc_top_k = positive_integers(args.cmc_top_k, { 5 }, "cmc_top_k")
  self.precision_top_k = positive_integers(args.precision_top_k, { 5 }, "precision_top_k")
  self.map_top_k = positive_integers(args.map_top_k, { 5 }, "map_top_k")
  self.ndcg_top_k = positive_integers(args.ndcg_top_k, {}, "ndcg_top_k")
  self.map_at_r = T.flag(args.map_at_r, false, NAME, "map_at_r") == 1
  self.fmr_vals = unit_values(args.fmr_vals, {}, "fmr_vals")
  self.pcf_variance = unit_values(args.pcf_variance, { 0.5 }, "pcf_variance")
  self.return_only_overall_category = T.flag(args.return_only_overall_category, false, NAME,
                                             "return_only_overall_category") == 1
  local post = args.postprocessor
  if post ~= nil and not (type(post) == "table" and type(post.process) == "function") then
    raise(NAME, "postprocessor must be an object with process(rr, dataset) (got %s)", T.kind(post))
  end
  self.postprocessor = post
  if args.warn ~= nil and type(args.warn) ~= "function" then
    raise(NAME, "warn must be a function (got %s)", T.kind(args.warn))
  end
  self.warn = args.warn or warn_to_stderr
  self:setup()
  return self
end

setmetatable(EmbeddingMetrics, { __call = function(_, args) return EmbeddingMetrics.new(args) end })

-- Forgets what was collected and computed.
function EmbeddingMetrics:setup()
  self.embeddings = nil
  self.collected = 0
  self.filled = ffi.new("uint8_t[?]", self.n + 1)
  self.retrieval_results = nil
  self.metrics = nil
end

-- update(embeddings, indices): embeddings [b, d] (float32 or float64) of the
-- dataset rows indices (a Lua list or a 1-d integer tensor of b 1-based
-- rows), each row collected once.
function EmbeddingMetrics:update(embeddings, indices)
  local name = NAME .. ":update"
  if getmetatable(self) ~= EmbeddingMetrics then raise(name, "call it as metrics:update(...)") end
  T.expect_tensor(embeddings, name, "embeddings")
  if embeddings.storage_ == nil or embeddings.ndim_ ~= 2
      or not (embeddings.dtype_ == T.FLOAT32 or embeddings.dtype_ == T.FLOAT64) then
    raise(name, "embeddings must be a 2-d float tensor [batch, dim] (got %s)", T.show(embeddings))
  end
  local b, d = tonumber(embeddings.size_[0]), tonumber(embeddings.size_[1])
  local list
  if T.is_tensor(indices) then
    local integer = indices.dtype_ == T.INT64 or indices.dtype_ == T.INT32
    if indices.storage_ == nil or indices.ndim_ ~= 1 or not integer then
      raise(name, "indices must be a 1-d integer tensor or a list (got %s)", T.show(indices))
    end
    list = totable(indices)
  elseif type(indices) == "table" then
    list = indices
  else
    raise(name, "indices must be a list or a 1-d integer tensor of dataset rows (got %s)", T.kind(indices))
  end
  if #list ~= b then raise(name, "%d embeddings but %d indices", b, #list) end
  if self.embeddings == nil then
    if d == 0 then raise(name, "embeddings have no dimensions (%s)", T.show(embeddings)) end
    self.embeddings = T.empty({ self.n, d }, embeddings.dtype_, T.CPU, name)
  elseif d ~= tonumber(self.embeddings.size_[1]) or embeddings.dtype_ ~= self.embeddings.dtype_ then
    raise(name, "embeddings %s do not match the earlier batches (%s)", T.show(embeddings), T.show(self.embeddings))
  end
  local seen = {}
  for i = 1, b do
    local row = list[i]
    if type(row) ~= "number" or row < 1 or row > self.n or row ~= math.floor(row) then
      raise(name, "indices[%d] is %s, not a dataset row in [1, %d]", i, T.show(row), self.n)
    end
    if self.filled[row] == 1 or seen[row] then raise(name, "dataset row %d is collected twice", row) end
    seen[row] = true
  end
  if b == 0 then return end
  -- collected on the CPU (the metrics read them there): one copy per batch
  index_ops.index_copy_(self.embeddings, 1, creation.tensor(list, "int64"), creation_methods.cpu(embeddings))
  for i = 1, b do self.filled[list[i]] = 1 end
  self.collected = self.collected + b
end

-- Checks that every query's label has gallery items (OML's dataset
-- validity check); returns the gallery size.
local function check_labels(dataset, n)
  local gallery_labels, n_gallery = {}, 0
  for i = 1, n do
    if dataset.is_gallery[i] then
      gallery_labels[dataset.labels[i]] = true
      n_gallery = n_gallery + 1
    end
  end
  for i = 1, n do
    if dataset.is_query[i] and not gallery_labels[dataset.labels[i]] then
      raise(NAME .. ":compute_metrics", "the label %s of query row %d has no gallery items",
            T.show(dataset.labels[i]), i)
    end
  end
  return n_gallery
end

-- Items to retrieve per query: the largest k asked, the whole gallery for
-- fnmr@fmr (as OML) and for map@r (R can be any gt count), and at least a
-- postprocessor's top_n (as OML).
function EmbeddingMetrics:n_items(n_gallery)
  local most = 1
  for _, list in ipairs { self.cmc_top_k, self.precision_top_k, self.map_top_k, self.ndcg_top_k } do
    for _, k in ipairs(list) do most = math.max(most, k) end
  end
  if #self.fmr_vals > 0 or self.map_at_r then most = math.max(most, n_gallery) end
  if self.postprocessor and type(self.postprocessor.top_n) == "number" then
    most = math.max(most, self.postprocessor.top_n)
  end
  return most
end

-- pcf over the rows (a Lua list, or nil for all) -> {[variance] = value}.
local function pcf_of(embeddings, rows, variances)
  if rows then embeddings = index_ops.index_select(embeddings, 1, creation.tensor(rows, "int64")) end
  local values, result = functional.calc_pcf(embeddings, variances), {}
  for j, v in ipairs(variances) do result[v] = values[j] end
  return result
end

-- compute_metrics() -> {OVERALL = {cmc = {[k] = v}, precision = ..., map = ...,
--   [ndcg = ...,] [["map@r"] = v,] ["fnmr@fmr"] = {[fmr] = v}, pcf = {[variance] = v}},
--   [category] = {... the same over its queries, without fnmr@fmr}}
-- Means are over the queries that have ground truth; the others are named
-- in a warning. Also keeps self.retrieval_results (for per-query values,
-- pass them to oml.retrieval.metrics.calc_retrieval_metrics with reduce=false).
function EmbeddingMetrics:compute_metrics()
  local name = NAME .. ":compute_metrics"
  if getmetatable(self) ~= EmbeddingMetrics then raise(name, "call it as metrics:compute_metrics()") end
  if self.n == 0 then raise(name, "the dataset is empty") end
  if self.collected < self.n then
    raise(name, "metrics need every item: collected %d of %d (call update for the rest)", self.collected, self.n)
  end
  local dataset = self.dataset
  local n_gallery = check_labels(dataset, self.n)
  local rr = RetrievalResults.from_embeddings(self.embeddings, dataset, self:n_items(n_gallery))
  if self.postprocessor then rr = self.postprocessor:process(rr, dataset) end
  self.retrieval_results = rr

  local query_categories
  if dataset.categories then
    query_categories = {}
    for i = 1, self.n do
      if dataset.is_query[i] then query_categories[#query_categories + 1] = dataset.categories[i] end
    end
  end
  local args = {
    retrieved_ids = rr.retrieved_ids, n_retrieved = rr.n_retrieved, gt_ids = rr.gt_ids, distances = rr.distances,
    query_categories = query_categories, cmc_top_k = self.cmc_top_k, precision_top_k = self.precision_top_k,
    map_top_k = self.map_top_k, ndcg_top_k = self.ndcg_top_k, map_at_r = self.map_at_r, fmr_vals = self.fmr_vals,
  }
  local metrics, no_gt = functional.calc_retrieval_metrics(args)
  if not query_categories then metrics = { [OVERALL] = metrics } end

  if #no_gt > 0 then
    local rows, query_rows = {}, ffi.cast("int64_t*", rr.query_rows.data_)
    for i = 1, math.min(#no_gt, NAMED_IN_WARNING) do rows[i] = tostring(tonumber(query_rows[no_gt[i] - 1])) end
    local more = #no_gt > NAMED_IN_WARNING and (" and %d more"):format(#no_gt - NAMED_IN_WARNING) or ""
    self.warn(("%s: %d of %d queries have no ground truth in the gallery and are left out of the means "
      .. "(dataset rows %s%s)"):format(NAME, #no_gt, rr:n_queries(), table.concat(rows, ", "), more))
  end

  if #self.pcf_variance > 0 then
    metrics[OVERALL].pcf = pcf_of(self.embeddings, nil, self.pcf_variance)
    if dataset.categories then
      local members = {}
      for i = 1, self.n do
        local c = dataset.categories[i]
        members[c] = members[c] or {}
        table.insert(members[c], i)
      end
      for category, values in pairs(metrics) do
        if category ~= OVERALL then values.pcf = pcf_of(self.embeddings, members[category], self.pcf_variance) end
      end
    end
  end
  self.metrics = metrics
  if self.return_only_overall_category then return { [OVERALL] = metrics[OVERALL] } end
  return metrics
end

return EmbeddingMetrics
