-- oml.retrieval.RetrievalResults: what each query retrieved from the
-- gallery, with the distances and the ground truth, as OML 4.x's
-- RetrievalResults (oml/retrieval/retrieval_results.py).
--
-- The dataset it reads (the minimal interface, as OML's EmbeddingMetrics
-- and RetrievalResults read a dataset), a Lua table:
--   n           number of rows
--   labels      n labels (numbers or strings)
--   is_query    n booleans
--   is_gallery  n booleans
--   categories  optional: n category names (strings or numbers)
--   sequence    optional: n sequence ids (strings or numbers); `false`
--               marks a missing one. Gallery rows sharing the query's id are
--               neither retrieved nor ground truth. Missing ids all share
--               one id, as OML's pandas.factorize gives every NaN code -1.
--
-- Unlike OML's tuples of per-query tensors, results are held padded, one row
-- per query (queries in dataset order):
--   rr.distances     float [nq, k], ascending per row, inf past the retrieval
--   rr.retrieved_ids int64 [nq, k], 1-based gallery ids (positions among the
--                    gallery rows), 0 past the retrieval
--   rr.n_retrieved   int64 [nq], items retrieved per query
--   rr.gt_ids        nil or {ids = int64 [nnz], counts = int64 [nq]}: the
--                    relevant gallery ids of query q are the next counts[q]
--   rr.query_rows, rr.gallery_rows  int64: their dataset rows (1-based)
-- Ground truth and retrieved ids are the shapes calc_retrieval_metrics takes.
local ffi = require "ffi"
local T = require "oml.tensor"
local knn = require "oml.retrieval.knn"
local creation = require("oml.ops.creation").functions
local methods = {}
for _, family in ipairs { "creation", "shape", "elementwise", "index" } do
  for name, fn in pairs(require("oml.ops." .. family).methods) do methods[name] = fn end
end

local raise = T.raise
local int64_ptr = ffi.typeof("int64_t*")

local RetrievalResults = {}
RetrievalResults.__index = RetrievalResults

-- OML checks the uniqueness of the first 100 ids only ("too expensive to
-- check all the ids"); so do we.
local UNIQUE_CHECKED = 100

-- Results are read element by element from Lua: tensors on a device are
-- copied to the CPU once, here.
local function int64_of(t, name, what, ndim)
  if not T.is_tensor(t) or t.storage_ == nil or t.dtype_ ~= T.INT64 or t.ndim_ ~= ndim then
    raise(name, "%s must be a %d-d int64 tensor (got %s)", what, ndim, T.show(t))
  end
  return methods.contiguous(methods.cpu(t))
end

-- Reads float values of a contiguous float32/float64 tensor.
local function float_reader(t)
  return ffi.cast(t.dtype_ == T.FLOAT32 and "float*" or "double*", t.data_)
end

-- RetrievalResults.new{distances=, retrieved_ids= [, n_retrieved=] [, gt_ids=]
--   [, query_rows=, gallery_rows=]} -> rr, validated as OML's constructor:
-- each row's distances sorted, its first 100 ids unique, distances and ids of
-- one shape, gt_ids given for every query; and, with the dataset rows, every
-- retrieved id a gallery row. n_retrieved defaults to the ranks before each
-- row's first 0 id.
function RetrievalResults.new(args)
  local name = "oml.retrieval.RetrievalResults"
  if type(args) ~= "table" or T.is_tensor(args) then
    raise(name, "expected a table of named arguments (got %s)", T.kind(args))
  end
  local d = args.distances
  if not T.is_tensor(d) or d.storage_ == nil or d.ndim_ ~= 2
      or not (d.dtype_ == T.FLOAT32 or d.dtype_ == T.FLOAT64) then
    raise(name, "distances must be a 2-d float tensor [queries, items] (got %s)", T.show(d))
  end
  d = methods.contiguous(methods.cpu(d))
  local ids = int64_of(args.retrieved_ids, name, "retrieved_ids", 2)
  if ids.size_[0] ~= d.size_[0] or ids.size_[1] ~= d.size_[1] then
    raise(name, "distances %s and retrieved_ids %s must have one shape", T.shape_str(d), T.shape_str(ids))
  end
  local nq, k = tonumber(d.size_[0]), tonumber(d.size_[1])
  local ip, dp = ffi.cast(int64_ptr, ids.data_), float_reader(d)
  local n_retrieved = args.n_retrieved
  if n_retrieved ~= nil then
    n_retrieved = int64_of(n_retrieved, name, "n_retrieved", 1)
    if tonumber(n_retrieved.size_[0]) ~= nq then
      raise(name, "n_retrieved has %d entries for %d queries", tonumber(n_retrieved.size_[0]), nq)
    end
  else
    n_retrieved = creation.zeros({ nq }, "int64")
    local np = ffi.cast(int64_ptr, n_retrieved.data_)
    for q = 0, nq - 1 do
      local n = 0
      while n < k and ip[q * k + n] ~= 0 do n = n + 1 end
      np[q] = n
    end
  end
  local np = ffi.cast(int64_ptr, n_retrieved.data_)
  for q = 0, nq - 1 do
    local n, row = tonumber(np[q]), q * k
    if n < 0 or n > k then raise(name, "n_retrieved[%d] is %d, outside [0, %d]", q + 1, n, k) end
    local seen = {}
    for r = 0, n - 1 do
      local id = tonumber(ip[row + r])
      if id < 1 then raise(name, "retrieved_ids[%d][%d] is %d, not a gallery id (1-based)", q + 1, r + 1, id) end
      -- written so that NaN fails too
      if r > 0 and not (dp[row + r] >= dp[row + r - 1]) then -- luacheck: ignore 581
        raise(name, "distances of query %d must be sorted (rank %d: %g after %g)", q + 1, r + 1,
              dp[row + r], dp[row + r - 1])
      end
      if r < UNIQUE_CHECKED then
        if seen[id] then raise(name, "retrieved ids must be unique (query %d retrieves %d twice)", q + 1, id) end
        seen[id] = true
      end
    end
  end
  local gt = args.gt_ids
  if gt ~= nil then
    if type(gt) ~= "table" or T.is_tensor(gt) then
      raise(name, "gt_ids must be {ids=, counts=} (got %s)", T.kind(gt))
    end
    local counts = int64_of(gt.counts, name, "gt_ids.counts", 1)
    local flat = int64_of(gt.ids, name, "gt_ids.ids", 1)
    if tonumber(counts.size_[0]) ~= nq then
      raise(name, "gt_ids has %d queries, distances %d", tonumber(counts.size_[0]), nq)
    end
    local cp, total = ffi.cast(int64_ptr, counts.data_), 0
    for q = 0, nq - 1 do
      if cp[q] < 0 then raise(name, "gt_ids.counts[%d] is negative", q + 1) end
      total = total + tonumber(cp[q])
    end
    if total ~= tonumber(flat.size_[0]) then
      raise(name, "gt_ids.counts add up to %d but gt_ids.ids has %d entries", total, tonumber(flat.size_[0]))
    end
    gt = { ids = flat, counts = counts }
  end
  -- the dataset rows, when known, bound the ids
  local query_rows, gallery_rows = args.query_rows, args.gallery_rows
  if (query_rows == nil) ~= (gallery_rows == nil) then raise(name, "give query_rows and gallery_rows together") end
  if query_rows ~= nil then
    query_rows = int64_of(query_rows, name, "query_rows", 1)
    gallery_rows = int64_of(gallery_rows, name, "gallery_rows", 1)
    if tonumber(query_rows.size_[0]) ~= nq then
      raise(name, "query_rows has %d entries for %d queries", tonumber(query_rows.size_[0]), nq)
    end
    local ng = tonumber(gallery_rows.size_[0])
    for q = 0, nq - 1 do
      for r = 0, tonumber(np[q]) - 1 do
        if ip[q * k + r] > ng then
          raise(name, "retrieved_ids[%d][%d] is %d, past the %d gallery rows", q + 1, r + 1,
                tonumber(ip[q * k + r]), ng)
        end
      end
    end
  end
  return setmetatable({
    distances = d, retrieved_ids = ids, n_retrieved = n_retrieved, gt_ids = gt,
    query_rows = query_rows, gallery_rows = gallery_rows,
  }, RetrievalResults)
end

-- Number of queries.
function RetrievalResults:n_queries() return tonumber(self.distances.size_[0]) end

-- The most items any query retrieved (OML's n_retrieved_items).
function RetrievalResults:n_retrieved_items()
  local np, most = ffi.cast(int64_ptr, self.n_retrieved.data_), 0
  for q = 0, self:n_queries() - 1 do most = math.max(most, tonumber(np[q])) end
  return most
end

-- True when no query retrieved anything (OML's is_empty).
function RetrievalResults:is_empty() return self:n_retrieved_items() == 0 end

-- The queries (1-based) without ground truth, for callers to warn about
-- (OML warns "Some of the queries don't have available gts.").
function RetrievalResults:queries_without_gt()
  local list = {}
  if not self.gt_ids then return list end
  local cp = ffi.cast(int64_ptr, self.gt_ids.counts.data_)
  for q = 0, self:n_queries() - 1 do
    if cp[q] == 0 then list[#list + 1] = q + 1 end
  end
  return list
end

-- Query q's (1-based) retrieval as Lua lists: distances, gallery ids.
function RetrievalResults:row(q)
  local k = tonumber(self.distances.size_[1])
  local n = tonumber(ffi.cast(int64_ptr, self.n_retrieved.data_)[q - 1])
  local dp, ip = float_reader(self.distances), ffi.cast(int64_ptr, self.retrieved_ids.data_)
  local dist, ids = {}, {}
  for r = 1, n do
    dist[r], ids[r] = dp[(q - 1) * k + r - 1], tonumber(ip[(q - 1) * k + r - 1])
  end
  return dist, ids
end

-- ---- from_embeddings -------------------------------------------------------

local function check_column(dataset, key, n, name, optional)
  local column = dataset[key]
  if column == nil and optional then return nil end
  if type(column) ~= "table" or T.is_tensor(column) then
    raise(name, "dataset.%s must be a Lua list of %d entries (got %s)", key, n, T.kind(column))
  end
  for i = 1, n do
    if column[i] == nil then raise(name, "dataset.%s has %d entries for %d rows", key, #column, n) end
  end
  if column[n + 1] ~= nil then raise(name, "dataset.%s has more entries than the %d rows", key, n) end
  return column
end

-- A labelled query/gallery dataset of oml.data is read through its
-- retrieval_view(); a table is taken as it is.
function RetrievalResults.dataset_view(dataset)
  if type(dataset) == "userdata" and dataset.retrieval_view then return dataset:retrieval_view() end
  return dataset
end

-- Checks the dataset interface above; returns n.
function RetrievalResults.check_dataset(dataset, name)
  if type(dataset) ~= "table" or T.is_tensor(dataset) then
    raise(name, "dataset must be a table with n, labels, is_query, is_gallery (got %s)", T.kind(dataset))
  end
  local n = dataset.n
  if type(n) ~= "number" or n < 0 or n ~= math.floor(n) then
    raise(name, "dataset.n must be a non-negative integer (got %s)", T.show(n))
  end
  local labels = check_column(dataset, "labels", n, name)
  for i = 1, n do
    if type(labels[i]) ~= "number" and type(labels[i]) ~= "string" then
      raise(name, "dataset.labels[%d] must be a number or a string (got %s)", i, T.kind(labels[i]))
    end
  end
  for _, key in ipairs { "is_query", "is_gallery" } do
    local column = check_column(dataset, key, n, name)
    for i = 1, n do
      if type(column[i]) ~= "boolean" then
        raise(name, "dataset.%s[%d] must be a boolean (got %s)", key, i, T.kind(column[i]))
      end
    end
  end
  for _, key in ipairs { "categories", "sequence" } do
    local column = check_column(dataset, key, n, name, true)
    for i = 1, column and n or 0 do
      local v = column[i]
      if type(v) ~= "number" and type(v) ~= "string" and not (key == "sequence" and v == false) then
        raise(name, "dataset.%s[%d] must be a number or a string (got %s)", key, i, T.kind(v))
      end
    end
  end
  return n
end

-- The dataset rows (1-based, a Lua list) where column[i] is true.
local function rows_where(column, n)
  local rows = {}
  for i = 1, n do
    if column[i] then rows[#rows + 1] = i end
  end
  return rows
end

-- A Lua list of integers as a 1-d int64 tensor (empty lists too).
local function int64_tensor(list)
  local t = creation.zeros({ #list }, "int64")
  local p = ffi.cast(int64_ptr, t.data_)
  for i, v in ipairs(list) do p[i - 1] = v end
  return t
end

-- RetrievalResults.from_embeddings(embeddings, dataset [, n_items = 100])
-- -> rr: each query's n_items nearest gallery items (OML's batched_knn):
-- euclidean distances, ties to the lower gallery id, a row that is query and
-- gallery never retrieves itself, gallery rows of the query's sequence are
-- skipped; a query with fewer eligible items retrieves fewer (the rest of its
-- row is padding). gt: the eligible gallery items with the query's label.
function RetrievalResults.from_embeddings(embeddings, dataset, n_items)
  local name = "oml.retrieval.RetrievalResults.from_embeddings"
  T.expect_tensor(embeddings, name, "embeddings")
  if embeddings.storage_ == nil or embeddings.ndim_ ~= 2
      or not (embeddings.dtype_ == T.FLOAT32 or embeddings.dtype_ == T.FLOAT64) then
    raise(name, "embeddings must be a 2-d float tensor [n, d] (got %s)", T.show(embeddings))
  end
  if n_items == nil then n_items = 100 end
  if type(n_items) ~= "number" or n_items < 1 or n_items ~= math.floor(n_items) or n_items >= 2 ^ 31 then
    raise(name, "n_items must be a positive integer (got %s)", T.show(n_items))
  end
  dataset = RetrievalResults.dataset_view(dataset)
  local n = RetrievalResults.check_dataset(dataset, name)
  if tonumber(embeddings.size_[0]) ~= n then
    raise(name, "embeddings have %d rows but the dataset %d (embeddings and dataset must have the same size)",
          tonumber(embeddings.size_[0]), n)
  end
  local query_list = rows_where(dataset.is_query, n)
  local gallery_list = rows_where(dataset.is_gallery, n)
  local nq, ng = #query_list, #gallery_list
  local query_rows, gallery_rows = int64_tensor(query_list), int64_tensor(gallery_list)

  -- gallery position of each dataset row (0: not in the gallery)
  local gallery_of = ffi.new("int32_t[?]", n + 1)
  for j, row in ipairs(gallery_list) do gallery_of[row] = j end
  local self_index = creation.zeros({ nq }, "int64")
  local sp = ffi.cast(int64_ptr, self_index.data_)
  for q, row in ipairs(query_list) do sp[q - 1] = gallery_of[row] end

  -- sequence ids as integer codes; missing ones share code 0
  local sequence_code
  local opts = { self_index = self_index }
  if dataset.sequence then
    local codes, next_code = {}, 0
    sequence_code = ffi.new("int64_t[?]", n + 1)
    for i = 1, n do
      local v = dataset.sequence[i]
      if v ~= false then
        local key = type(v) .. ":" .. tostring(v)
        if not codes[key] then
          next_code = next_code + 1
          codes[key] = next_code
        end
        sequence_code[i] = codes[key]
      end
    end
    local qs, gs = creation.zeros({ nq }, "int64"), creation.zeros({ ng }, "int64")
    local qp, gp = ffi.cast(int64_ptr, qs.data_), ffi.cast(int64_ptr, gs.data_)
    for q, row in ipairs(query_list) do qp[q - 1] = sequence_code[row] end
    for j, row in ipairs(gallery_list) do gp[j - 1] = sequence_code[row] end
    opts.query_sequence, opts.gallery_sequence = qs, gs
  end

  -- no copy when every row is a query (or a gallery item); the search runs
  -- on the embeddings' device, its index tensors copied there
  local device = { device = embeddings.device }
  for key, t in pairs(opts) do opts[key] = methods.to(t, device) end
  local queries = nq == n and embeddings or methods.index_select(embeddings, 1, methods.to(query_rows, device))
  local gallery = ng == n and embeddings or methods.index_select(embeddings, 1, methods.to(gallery_rows, device))
  local distances, retrieved, counts = knn.search(queries, gallery, n_items, opts)

  -- ground truth: the gallery ids of each label, less self and sequence
  local by_label = {}
  for j, row in ipairs(gallery_list) do
    local label = dataset.labels[row]
    local list = by_label[label]
    if not list then
      list = {}
      by_label[label] = list
    end
    list[#list + 1] = j
  end
  local gt_counts = creation.zeros({ nq }, "int64")
  local cp = ffi.cast(int64_ptr, gt_counts.data_)
  local total = 0
  for q, row in ipairs(query_list) do
    local list, own, count = by_label[dataset.labels[row]] or {}, gallery_of[row], 0
    local seq = sequence_code and sequence_code[row]
    for _, j in ipairs(list) do
      if j ~= own and not (seq and sequence_code[gallery_list[j]] == seq) then count = count + 1 end
    end
    cp[q - 1] = count
    total = total + count
  end
  local gt_ids = creation.zeros({ total }, "int64")
  local gp, at = ffi.cast(int64_ptr, gt_ids.data_), 0
  for _, row in ipairs(query_list) do
    local own = gallery_of[row]
    local seq = sequence_code and sequence_code[row]
    for _, j in ipairs(by_label[dataset.labels[row]] or {}) do
      if j ~= own and not (seq and sequence_code[gallery_list[j]] == seq) then
        gp[at] = j
        at = at + 1
      end
    end
  end
  return RetrievalResults.new {
    distances = distances, retrieved_ids = retrieved, n_retrieved = counts,
    gt_ids = { ids = gt_ids, counts = gt_counts }, query_rows = query_rows, gallery_rows = gallery_rows,
  }
end

-- RetrievalResults{...} calls new.
setmetatable(RetrievalResults, { __call = function(_, args) return RetrievalResults.new(args) end })

return RetrievalResults
