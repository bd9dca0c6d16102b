-- oml.retrieval.knn: the exact k-nearest-neighbour search that retrieval
-- validation runs on (OML's batched_knn / batched_knn_qg in
-- oml/functional/knn.py), in C block by block: a block of queries times a
-- block of gallery rows through one GEMM, then a per-row partial top-k, so
-- the queries x gallery distances are never all held at once.
--
-- Exclusions are generic, so that callers can express OML's rules:
-- self_index skips one gallery row per query (OML's "1 vs rest": a row that
-- is both query and gallery never retrieves itself), and sequence ids skip
-- the gallery rows that share the query's id. OML factorizes its `sequence`
-- column with pandas, which gives every missing value the same code (-1):
-- rows without a sequence then exclude one another. Callers that want that
-- pass one shared id for them; callers that want such rows to stand alone
-- pass a unique id per row. No id value is special here.
local T = require "oml.tensor"

local C = T.C
local M = {}

local NAME = "oml.retrieval.knn.search"
local OPTIONS = { self_index = true, query_sequence = true, gallery_sequence = true, block = true }

local function optional_tensor(x, what)
  if x ~= nil and not T.is_tensor(x) then T.raise(NAME, "%s must be a tensor (got %s)", what, type(x)) end
  return x
end

-- knn.search(queries, gallery, k [, opts]) -> distances, indices, counts
--   queries [nq,d] and gallery [ng,d]: float32 or float64, one dtype.
--   distances [nq,k] (that dtype): euclidean, ascending, ties to the lower
--   gallery index; indices [nq,k] int64, 1-based gallery rows; counts [nq]
--   int64: how many were found. A query with fewer than k eligible gallery
--   rows ends its row in distance inf and index 0.
--   opts.self_index [nq] (int32/int64): a gallery row (1-based) each query
--     skips, 0 for none.
--   opts.query_sequence [nq], opts.gallery_sequence [ng] (int32/int64, both
--     or neither): gallery rows with the query's id are skipped.
--   opts.block: rows per GEMM on both sides (default: tuned).
-- Results do not depend on the thread count.
function M.search(queries, gallery, k, opts)
  T.expect_tensor(queries, NAME, "queries")
  T.expect_tensor(gallery, NAME, "gallery")
  T.integer(k, NAME, "k")
  opts = opts or {}
  if type(opts) ~= "table" then T.raise(NAME, "options must be a table (got %s)", T.kind(opts)) end
  for key in pairs(opts) do
    if not OPTIONS[key] then T.raise(NAME, "unknown option '%s'", tostring(key)) end
  end
  local self_index = optional_tensor(opts.self_index, "self_index")
  local query_sequence = optional_tensor(opts.query_sequence, "query_sequence")
  local gallery_sequence = optional_tensor(opts.gallery_sequence, "gallery_sequence")
  local block = 0
  if opts.block ~= nil then
    block = T.integer(opts.block, NAME, "block")
    if block < 1 then T.raise(NAME, "block must be >= 1 (got %s)", T.show(block)) end
  end
  local distances, indices, counts = T.new(), T.new(), T.new()
  T.check(C.oml_knn_search(queries, gallery, self_index, query_sequence, gallery_sequence, distances, indices,
    counts, k, block, block), NAME)
  return distances, indices, counts
end

return M
