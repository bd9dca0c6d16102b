-- oml.retrieval postprocessors: turn one RetrievalResults into another.
-- Each is an object with process(rr, dataset) -> new rr (rr is not changed),
-- as OML 4.x's IRetrievalPostprocessor. Thresholding follows OML's
-- oml/retrieval/postprocessors/algo.py; PairwiseReranker is the frame OML's
-- PairwiseReranker (postprocessors/pairwise.py) gives a pairwise model.
local ffi = require "ffi"
local T = require "oml.tensor"
local RetrievalResults = require "oml.retrieval.results"
local creation = require("oml.ops.creation").functions
local clone = require("oml.ops.creation").methods.clone

local raise = T.raise
local int64_ptr = ffi.typeof("int64_t*")
local INF = math.huge

local M = {}

local function float_ptr_of(t)
  return ffi.cast(t.dtype_ == T.FLOAT32 and "float*" or "double*", t.data_)
end

local function expect_results(rr, name)
  if getmetatable(rr) ~= RetrievalResults then
    raise(name, "expected a RetrievalResults (got %s)", T.kind(rr))
  end
end

-- A copy of rr in which query q keeps its first keep(q, n, distances,
-- offset) items (q 0-based, n the items it has); the rest becomes padding.
local function truncated(rr, keep)
  local distances, ids, counts = clone(rr.distances), clone(rr.retrieved_ids), clone(rr.n_retrieved)
  local k = tonumber(distances.size_[1])
  local dp, ip, np = float_ptr_of(distances), ffi.cast(int64_ptr, ids.data_), ffi.cast(int64_ptr, counts.data_)
  for q = 0, rr:n_queries() - 1 do
    local n = tonumber(np[q])
    local kept = keep(n, dp, q * k)
    for r = kept, n - 1 do
      dp[q * k + r], ip[q * k + r] = INF, 0
    end
    np[q] = kept
  end
  return RetrievalResults.new {
    distances = distances, retrieved_ids = ids, n_retrieved = counts, gt_ids = rr.gt_ids,
    query_rows = rr.query_rows, gallery_rows = rr.gallery_rows,
  }
end

local function number_option(args, key, name, check, what)
  if type(args) ~= "table" then raise(name, "expected a table {%s=} (got %s)", key, T.kind(args)) end
  local v = args[key]
  if type(v) ~= "number" or v ~= v or not check(v) then raise(name, "%s must be %s (got %s)", key, what, T.show(v)) end
  return v
end

-- ---- ConstantThresholding --------------------------------------------------

local ConstantThresholding = {}
ConstantThresholding.__index = ConstantThresholding
M.ConstantThresholding = ConstantThresholding

-- ConstantThresholding{th=}: each query keeps the items closer than th
-- (OML: distances < th).
function ConstantThresholding.new(args)
  local th = number_option(args, "th", "oml.retrieval.ConstantThresholding", function() return true end, "a number")
  return setmetatable({ th = th }, ConstantThresholding)
end

function ConstantThresholding:process(rr)
  expect_results(rr, "oml.retrieval.ConstantThresholding:process")
  local th = self.th
  return truncated(rr, function(n, dp, row)
    local kept = 0
    while kept < n and dp[row + kept] < th do kept = kept + 1 end
    return kept
  end)
end

-- ---- AdaptiveThresholding --------------------------------------------------

local AdaptiveThresholding = {}
AdaptiveThresholding.__index = AdaptiveThresholding
M.AdaptiveThresholding = AdaptiveThresholding

-- AdaptiveThresholding{n_std=}: each query is cut after its first gap
-- between consecutive distances greater than n_std times the mean gap, the
-- mean taken over every consecutive gap of every query (OML's AvgOnline over
-- dists[1:] - dists[:-1]). With no gap at all, nothing is cut.
function AdaptiveThresholding.new(args)
  local n_std = number_option(args, "n_std", "oml.retrieval.AdaptiveThresholding", function() return true end,
                              "a number")
  return setmetatable({ n_std = n_std }, AdaptiveThresholding)
end

function AdaptiveThresholding:process(rr)
  expect_results(rr, "oml.retrieval.AdaptiveThresholding:process")
  local k = tonumber(rr.distances.size_[1])
  local dp, np = float_ptr_of(rr.distances), ffi.cast(int64_ptr, rr.n_retrieved.data_)
  local sum, count = 0, 0
  for q = 0, rr:n_queries() - 1 do
    local n = tonumber(np[q])
    for r = 1, n - 1 do sum = sum + (dp[q * k + r] - dp[q * k + r - 1]) end
    count = count + math.max(n - 1, 0)
  end
  if count == 0 then return truncated(rr, function(n) return n end) end
  local limit = self.n_std * (sum / count)
  return truncated(rr, function(n, d, row)
    for r = 1, n - 1 do
      if d[row + r] - d[row + r - 1] > limit then return r end
    end
    return n
  end)
end

-- ---- PairwiseReranker ------------------------------------------------------

local PairwiseReranker = {}
PairwiseReranker.__index = PairwiseReranker
M.PairwiseReranker = PairwiseReranker

-- PairwiseReranker{top_n=, pairwise=fn}: re-scores each query's top_n items
-- with fn(query_rows, gallery_rows) -> distances, where the arguments are
-- int64 tensors [npairs] of dataset rows (1-based), one pair per entry, and
-- the result is a float tensor or a Lua list of npairs new distances (a
-- pairwise model's "distance"; smaller is closer). process(rr, dataset)
-- sorts each query's top_n by the new distances (ties keep the old order)
-- and leaves the rest untouched. As OML's cat_two_sorted_tensors_and_keep_it_sorted,
-- when a query's largest new distance exceeds the first untouched one, the
-- new distances are scaled down by (first untouched) / (largest new) so that
-- the row stays sorted. top_n must be > 1, as OML asserts.
function PairwiseReranker.new(args)
  local name = "oml.retrieval.PairwiseReranker"
  local top_n = number_option(args, "top_n", name, function(v) return v > 1 and v == math.floor(v) end,
                              "an integer > 1")
  if type(args.pairwise) ~= "function" then
    raise(name, "pairwise must be a function (got %s)", T.kind(args.pairwise))
  end
  return setmetatable({ top_n = top_n, pairwise = args.pairwise }, PairwiseReranker)
end

function PairwiseReranker:process(rr, dataset)
  local name = "oml.retrieval.PairwiseReranker:process"
  expect_results(rr, name)
  if rr.query_rows == nil or rr.gallery_rows == nil then
    raise(name, "the RetrievalResults do not know their dataset rows (make them with from_embeddings)")
  end
  local nq, k = rr:n_queries(), tonumber(rr.distances.size_[1])
  if type(dataset) == "table" and dataset.is_query then
    local n_queries = 0
    for i = 1, dataset.n or 0 do
      if dataset.is_query[i] then n_queries = n_queries + 1 end
    end
    if n_queries ~= nq then
      raise(name, "the RetrievalResults have %d queries and the dataset %d; they must match", nq, n_queries)
    end
  end
  local np = ffi.cast(int64_ptr, rr.n_retrieved.data_)
  local ip = ffi.cast(int64_ptr, rr.retrieved_ids.data_)
  local qrows, grows = ffi.cast(int64_ptr, rr.query_rows.data_), ffi.cast(int64_ptr, rr.gallery_rows.data_)
  local n_pairs = 0
  for q = 0, nq - 1 do n_pairs = n_pairs + math.min(self.top_n, tonumber(np[q])) end
  local query_rows, gallery_rows = creation.zeros({ n_pairs }, "int64"), creation.zeros({ n_pairs }, "int64")
  local qp, gp, at = ffi.cast(int64_ptr, query_rows.data_), ffi.cast(int64_ptr, gallery_rows.data_), 0
  for q = 0, nq - 1 do
    for r = 0, math.min(self.top_n, tonumber(np[q])) - 1 do
      qp[at], gp[at] = qrows[q], grows[ip[q * k + r] - 1]
      at = at + 1
    end
  end
  local scores = self.pairwise(query_rows, gallery_rows)
  if T.is_tensor(scores) then scores = require("oml.ops.creation").methods.totable(scores) end
  if type(scores) ~= "table" or #scores ~= n_pairs then
    raise(name, "pairwise must return %d distances, one per pair (got %s)", n_pairs, T.kind(scores))
  end
  for i = 1, n_pairs do
    if type(scores[i]) ~= "number" or scores[i] ~= scores[i] then
      raise(name, "pairwise returned %s for pair %d, not a number", T.show(scores[i]), i)
    end
  end

  local distances, ids = clone(rr.distances), clone(rr.retrieved_ids)
  local dp, op = float_ptr_of(distances), ffi.cast(int64_ptr, ids.data_)
  local first = 0
  for q = 0, nq - 1 do
    local n, row, top = tonumber(np[q]), q * k, math.min(self.top_n, tonumber(np[q]))
    local order = {}
    for r = 1, top do order[r] = { scores[first + r], r - 1, ip[row + r - 1] } end
    first = first + top
    table.sort(order, function(a, b) return a[1] < b[1] or (a[1] == b[1] and a[2] < b[2]) end)
    local scale, ceiling = 1, INF
    if top > 0 and top < n then
      ceiling = dp[row + top]
      if order[top][1] > ceiling then scale = ceiling / order[top][1] end
    end
    -- the ceiling guards against rounding past the first untouched item
    for r = 1, top do
      dp[row + r - 1], op[row + r - 1] = math.min(order[r][1] * scale, ceiling), order[r][3]
    end
  end
  return RetrievalResults.new {
    distances = distances, retrieved_ids = ids, n_retrieved = rr.n_retrieved, gt_ids = rr.gt_ids,
    query_rows = rr.query_rows, gallery_rows = rr.gallery_rows,
  }
end

-- ConstantThresholding{th=} and so on call new.
for _, class in pairs(M) do
  setmetatable(class, { __call = function(_, args) return class.new(args) end })
end

return M
