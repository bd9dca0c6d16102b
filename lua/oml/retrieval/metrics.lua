-- oml.retrieval.metrics: OML's functional retrieval metrics (open-metric-learning
-- 4.x, oml/functional/metrics.py) over the output of a k-NN search, plus
-- ndcg@k and MAP@R.
--
--   calc_retrieval_metrics{retrieved_ids=, gt_ids=, ...} -> metrics, no_gt
--   calc_fnmr_at_fmr(pos_dist, neg_dist, fmr_vals)     -> {fnmr, ...}
--   calc_pcf(embeddings, pcf_variance)                  -> {pcf, ...}
--
-- Inputs of calc_retrieval_metrics, for nq queries:
--   retrieved_ids  int64 tensor [nq, kmax]: gallery ids (1-based) in rank
--                  order, 0 where nothing was retrieved (as the k-NN search
--                  returns them). A row's retrieval ends at its first 0
--                  unless n_retrieved says where.
--   n_retrieved    optional int64 tensor [nq]: items retrieved per query;
--                  ranks past it are ignored.
--   gt_ids         the relevant gallery ids (1-based) of each query, either
--                  a Lua list of nq lists, or {ids = int64 [nnz], counts =
--                  int64 [nq]}: query q's ids are the next counts[q] of ids.
--   distances      optional float tensor [nq, kmax], for fnmr@fmr.
-- Per query, "relevant among the top i" is OML's isin(retrieved, gt).
local ffi = require "ffi"
local T = require "oml.tensor"
local creation = require("oml.ops.creation").functions
local methods = {}
for _, family in ipairs { "creation", "shape", "elementwise", "reduce", "linalg", "index", "sort" } do
  for name, fn in pairs(require("oml.ops." .. family).methods) do methods[name] = fn end
end

local raise = T.raise
local M = {}

-- The key OML gives the metrics over all queries when categories are asked.
M.OVERALL = "OVERALL"

local NAN = 0 / 0
local int32_array = ffi.typeof("int32_t[?]")
local double_array = ffi.typeof("double[?]")
local int64_ptr = ffi.typeof("int64_t*")
local float_ptr = ffi.typeof("float*")
local double_ptr = ffi.typeof("double*")

-- ---- argument checks -------------------------------------------------------

-- A tensor on the CPU, contiguous, so that Lua loops may read its data.
local function readable(t)
  return methods.contiguous(methods.cpu(t))
end

-- A list of positive integers (k values); nil gives default, {} asks for none.
local function top_k_list(list, default, name, what)
  if list == nil then return default end
  if type(list) ~= "table" or T.is_tensor(list) then
    raise(name, "%s must be a list of positive integers (got %s)", what, T.kind(list))
  end
  for i, k in ipairs(list) do
    if type(k) ~= "number" or k < 1 or k ~= math.floor(k) or k >= 2 ^ 53 then
      raise(name, "%s must hold positive integers (entry %d is %s)", what, i, T.show(k))
    end
  end
  return list
end

-- A non-empty list of numbers in [0, 1] (fmr or variance values), as OML's
-- _check_if_in_range.
local function unit_list(list, name, what)
  if type(list) ~= "table" or T.is_tensor(list) then
    raise(name, "%s must be a list of numbers in [0, 1] (got %s)", what, T.kind(list))
  end
  if #list == 0 then raise(name, "%s must not be empty", what) end
  for i, v in ipairs(list) do
    if type(v) ~= "number" or not (v >= 0 and v <= 1) then
      raise(name, "%s must hold numbers in [0, 1] (entry %d is %s)", what, i, T.show(v))
    end
  end
  return list
end

local function int64_tensor(t, name, what, ndim)
  if not T.is_tensor(t) then raise(name, "%s must be an int64 tensor (got %s)", what, T.kind(t)) end
  if t.storage_ == nil then raise(name, "%s is an unset tensor", what) end
  if t.dtype_ ~= T.INT64 or t.ndim_ ~= ndim then
    raise(name, "%s must be a %d-d int64 tensor (got %s)", what, ndim, T.show(t))
  end
  return readable(t)
end

-- Items retrieved per query (an int32 array) from retrieved_ids and the
-- optional n_retrieved, checking that every counted id is a gallery id.
local function retrieved_counts(ids, nq, kmax, n_retrieved, name)
  local p = ffi.cast(int64_ptr, ids.data_)
  local counts = int32_array(nq)
  if n_retrieved ~= nil then
    n_retrieved = int64_tensor(n_retrieved, name, "n_retrieved", 1)
    if n_retrieved.size_[0] ~= nq then
      raise(name, "n_retrieved has %d entries for %d queries", tonumber(n_retrieved.size_[0]), nq)
    end
    local np = ffi.cast(int64_ptr, n_retrieved.data_)
    for q = 0, nq - 1 do
      local n = np[q]
      if n < 0 or n > kmax then
        raise(name, "n_retrieved[%d] is %d, outside [0, %d]", q + 1, tonumber(n), kmax)
      end
      counts[q] = n
      for r = 0, tonumber(n) - 1 do
        if p[q * kmax + r] < 1 then
          raise(name, "retrieved_ids[%d][%d] is %d, not a gallery id (1-based)", q + 1, r + 1,
                tonumber(p[q * kmax + r]))
        end
      end
    end
  else
    for q = 0, nq - 1 do
      local n = kmax
      for r = 0, kmax - 1 do
        local id = p[q * kmax + r]
        if id < 0 then
          raise(name, "retrieved_ids[%d][%d] is %d, not a gallery id (1-based) or 0", q + 1, r + 1, tonumber(id))
        elseif id == 0 and n == kmax then
          n = r
        elseif id > 0 and n < kmax then
          raise(name, "retrieved_ids[%d] has gallery id %d at rank %d after a 0 at rank %d", q + 1, tonumber(id),
                r + 1, n + 1)
        end
      end
      counts[q] = n
    end
  end
  return counts
end

-- gt_ids as CSR: starts (doubles, nq + 1 entries, 0-based) and ids (int32),
-- plus the largest id. Ids are gallery ids (1-based, below 2^31), none twice
-- for a query.
local function ground_truth(gt_ids, nq, name)
  if type(gt_ids) ~= "table" or T.is_tensor(gt_ids) then
    raise(name, "gt_ids must be a list of lists or {ids=, counts=} (got %s)", T.kind(gt_ids))
  end
  local starts = double_array(nq + 1)
  local ids, nnz
  if gt_ids.ids ~= nil or gt_ids.counts ~= nil then
    local flat = int64_tensor(gt_ids.ids, name, "gt_ids.ids", 1)
    local counts = int64_tensor(gt_ids.counts, name, "gt_ids.counts", 1)
    if counts.size_[0] ~= nq then
      raise(name, "gt_ids.counts has %d entries for %d queries", tonumber(counts.size_[0]), nq)
    end
    local cp = ffi.cast(int64_ptr, counts.data_)
    for q = 0, nq - 1 do
      if cp[q] < 0 then raise(name, "gt_ids.counts[%d] is negative (%d)", q + 1, tonumber(cp[q])) end
      starts[q + 1] = starts[q] + tonumber(cp[q])
    end
    nnz = tonumber(flat.size_[0])
    if starts[nq] ~= nnz then
      raise(name, "gt_ids.counts add up to %d but gt_ids.ids has %d entries", starts[nq], nnz)
    end
    local fp = ffi.cast(int64_ptr, flat.data_)
    ids = int32_array(nnz)
    for i = 0, nnz - 1 do
      local id = fp[i]
      if id < 1 or id >= 2 ^ 31 then
        raise(name, "gt_ids.ids[%d] is %d, not a gallery id (1-based, below 2^31)", i + 1, tonumber(id))
      end
      ids[i] = id
    end
  else
    if #gt_ids ~= nq then raise(name, "gt_ids has %d queries, retrieved_ids %d", #gt_ids, nq) end
    nnz = 0
    for q = 1, nq do
      local list = gt_ids[q]
      if type(list) ~= "table" or T.is_tensor(list) then
        raise(name, "gt_ids[%d] must be a list of gallery ids (got %s)", q, T.kind(list))
      end
      nnz = nnz + #list
      starts[q] = nnz
    end
    ids = int32_array(nnz)
    for q = 1, nq do
      local list, base = gt_ids[q], starts[q - 1]
      for i = 1, #list do
        local id = list[i]
        if type(id) ~= "number" or id < 1 or id >= 2 ^ 31 or id ~= math.floor(id) then
          raise(name, "gt_ids[%d][%d] is %s, not a gallery id (1-based, below 2^31)", q, i, T.show(id))
        end
        ids[base + i - 1] = id
      end
    end
  end
  local max_id = 0
  for i = 0, nnz - 1 do
    if ids[i] > max_id then max_id = ids[i] end
  end
  -- duplicates: mark each query's ids with the query's number
  local mark = int32_array(max_id + 1)
  for q = 0, nq - 1 do
    for i = starts[q], starts[q + 1] - 1 do
      local id = ids[i]
      if mark[id] == q + 1 then raise(name, "gt_ids of query %d hold gallery id %d twice", q + 1, id) end
      mark[id] = q + 1
    end
  end
  return starts, ids, max_id
end

-- query_categories: a list (or 1-d tensor) of nq numbers or strings -> the
-- categories in order of first appearance, and each one's query indices.
local function categories_of(query_categories, nq, name)
  if T.is_tensor(query_categories) then
    if query_categories.ndim_ ~= 1 then
      raise(name, "query_categories must be a 1-d tensor or a list (got %s)", T.show(query_categories))
    end
    query_categories = methods.totable(query_categories)
  elseif type(query_categories) ~= "table" then
    raise(name, "query_categories must be a list or a 1-d tensor (got %s)", T.kind(query_categories))
  end
  if #query_categories ~= nq then
    raise(name, "query_categories has %d entries for %d queries", #query_categories, nq)
  end
  local order, members = {}, {}
  for q = 1, nq do
    local c = query_categories[q]
    if type(c) ~= "number" and type(c) ~= "string" then
      raise(name, "query_categories[%d] must be a number or a string (got %s)", q, T.kind(c))
    end
    if c == M.OVERALL then raise(name, "\"%s\" is the key of all queries; rename that category", M.OVERALL) end
    if not members[c] then
      order[#order + 1] = c
      members[c] = {}
    end
    local list = members[c]
    list[#list + 1] = q
  end
  return order, members
end

-- ---- per-query values ------------------------------------------------------

-- Metric kinds, one row per asked (metric, k).
local CMC, PRECISION, MAP, NDCG, MAP_AT_R = 1, 2, 3, 4, 5

-- Fills out[e] (float32 [nq] each) for every entry e = {kind, k}; codes
-- (uint8 [nq, kmax], optional) gets 2 for a relevant retrieved item, 1 for
-- another retrieved one, 0 past the retrieval. Definitions (k' = min(k,
-- retrieved), hits(i) = relevant among the top i, n_gt = len(gt)):
--   cmc@k       OML: 1 if hits(k') > 0
--   precision@k OML: hits(k') / min(n_gt, k')
--   map@k       OML 4.x: sum_{i<=k'} hits(i)/i * rel(i) / hits(k'), 0 when hits(k') = 0
--   ndcg@k      binary-relevance nDCG (Jarvelin & Kekalainen 2002): DCG(k') / IDCG(min(n_gt, k')),
--               DCG(j) = sum_{i<=j} rel(i) / log2(i + 1); k' as OML's precision uses it
--   map@r       Musgrave et al. 2020, "A Metric Learning Reality Check": R = n_gt,
--               sum_{i<=R} hits(i)/i * rel(i) / R; ranks past the retrieval count as misses
-- As OML's: an empty retrieval gives 1 without gt and 0 with gt; a query
-- without gt that retrieved something gets 0 for cmc and map and NaN (0/0)
-- for precision, and here NaN for ndcg and map@r too.
local function per_query(retrieved, counts, starts, gt, max_id, nq, kmax, entries, out, codes)
  local rp = ffi.cast(int64_ptr, retrieved.data_)
  local cp = codes and ffi.cast("uint8_t*", codes.data_)
  local hits, ap, dcg = double_array(kmax + 1), double_array(kmax + 1), double_array(kmax + 1)
  local discount, ideal = double_array(kmax + 1), double_array(kmax + 1)
  for i = 1, kmax do
    discount[i] = 1 / (math.log(i + 1) / math.log(2))
    ideal[i] = ideal[i - 1] + discount[i]
  end
  local mark = int32_array(max_id + 1)
  local n_entries = #entries
  local kinds, ks, outs = {}, {}, {}
  for e = 1, n_entries do
    kinds[e], ks[e], outs[e] = entries[e].kind, entries[e].k, ffi.cast(float_ptr, out[e].data_)
  end
  for q = 0, nq - 1 do
    local first, last = starts[q], starts[q + 1] - 1
    for i = first, last do mark[gt[i]] = q + 1 end
    local n_gt, nr = last - first + 1, counts[q]
    local row = q * kmax
    for i = 1, nr do
      local id = rp[row + i - 1]
      local rel = (id <= max_id and mark[id] == q + 1) and 1 or 0
      hits[i] = hits[i - 1] + rel
      ap[i] = ap[i - 1] + rel * hits[i] / i
      dcg[i] = dcg[i - 1] + rel * discount[i]
      if cp then cp[row + i - 1] = 1 + rel end
    end
    for e = 1, n_entries do
      local kind, v = kinds[e]
      if nr == 0 then
        v = n_gt == 0 and 1 or 0
      elseif kind == MAP_AT_R then
        v = n_gt == 0 and NAN or ap[math.min(n_gt, nr)] / n_gt
      else
        local k = math.min(ks[e], nr)
        if kind == CMC then
          v = hits[k] > 0 and 1 or 0
        elseif kind == PRECISION then
          v = n_gt == 0 and NAN or hits[k] / math.min(n_gt, k)
        elseif kind == MAP then
          v = hits[k] > 0 and ap[k] / hits[k] or 0
        else
          v = n_gt == 0 and NAN or dcg[k] / ideal[math.min(n_gt, k)]
        end
      end
      local dest = outs[e]
      dest[q] = v
    end
  end
end

-- The mean of values (float32 [nq]) over the listed 1-based queries, or NaN
-- when the list is empty.
local function mean_over(values, queries)
  local p, sum = ffi.cast(float_ptr, values.data_), 0
  for i = 1, #queries do sum = sum + p[queries[i] - 1] end
  return #queries > 0 and sum / #queries or NAN
end

-- ---- fnmr@fmr --------------------------------------------------------------

-- numpy's and torch's linear interpolation: a + (b - a) * t, computed from
-- b's side when t >= 0.5 (as numpy's _lerp and torch.lerp do).
local function lerp(a, b, t)
  if a == b then return a end
  if t >= 0.5 then return b - (b - a) * (1 - t) end
  return a + (b - a) * t
end

-- A 1-d float tensor or a Lua list of numbers as a float64 CPU tensor.
local function distances_of(d, name, what)
  if T.is_tensor(d) then
    if d.storage_ == nil then raise(name, "%s is an unset tensor", what) end
    if d.ndim_ ~= 1 or not (d.dtype_ == T.FLOAT32 or d.dtype_ == T.FLOAT64) then
      raise(name, "%s must be a 1-d float tensor (got %s)", what, T.show(d))
    end
    return readable(methods.double(d))
  end
  if type(d) ~= "table" then raise(name, "%s must be a 1-d float tensor or a list (got %s)", what, T.kind(d)) end
  for i, v in ipairs(d) do
    if type(v) ~= "number" then raise(name, "%s[%d] must be a number (got %s)", what, i, T.kind(v)) end
  end
  return creation.tensor(d, "float64")
end

-- OML 4.x calc_fnmr_at_fmr: for each fmr in [0, 1], the threshold is the
-- fmr-quantile of the negative distances (linear interpolation between
-- order statistics at (n - 1) * fmr, as np.quantile and torch.quantile),
-- and fnmr is the fraction (not percent) of positive distances >= it.
-- Returns a Lua list aligned with fmr_vals; NaN for each when pos_dist is
-- empty (0/0, as OML).
function M.calc_fnmr_at_fmr(pos_dist, neg_dist, fmr_vals)
  local name = "oml.retrieval.calc_fnmr_at_fmr"
  local pos = distances_of(pos_dist, name, "pos_dist")
  local neg = distances_of(neg_dist, name, "neg_dist")
  unit_list(fmr_vals, name, "fmr_vals")
  local n_neg, n_pos = tonumber(neg.size_[0]), tonumber(pos.size_[0])
  if n_neg == 0 then raise(name, "neg_dist is empty: no quantile to take") end
  local sorted = methods.sort(neg)
  local sp, pp = ffi.cast(double_ptr, sorted.data_), ffi.cast(double_ptr, pos.data_)
  local result = {}
  for j, fmr in ipairs(fmr_vals) do
    local h = (n_neg - 1) * fmr
    local lo = math.floor(h)
    local threshold = lerp(sp[lo], sp[math.min(lo + 1, n_neg - 1)], h - lo)
    local above = 0
    for i = 0, n_pos - 1 do
      if pp[i] >= threshold then above = above + 1 end
    end
    result[j] = n_pos > 0 and above / n_pos or NAN
  end
  return result
end

-- ---- pcf -------------------------------------------------------------------

-- LAPACK's dsyevd from the OpenBLAS liboml links (Debian's exports the
-- Fortran symbols, not LAPACKE), else the system LAPACK.
pcall(ffi.cdef, [[
void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
             double *work, const int *lwork, int *iwork, const int *liwork, int *info, size_t, size_t);
]])
local lapack
local function find_lapack(name)
  if lapack then return lapack end
  for _, lib in ipairs { "libopenblas.so.0", "openblas", "liblapack.so.3", "lapack" } do
    local ok, handle = pcall(ffi.load, lib)
    if ok and pcall(function() return handle.dsyevd_ end) then
      lapack = handle
      return lapack
    end
  end
  raise(name, "no LAPACK with dsyevd_ found (looked in OpenBLAS and liblapack)")
end

-- The eigenvalues (ascending, a double array) of the symmetric d x d
-- float64 tensor a (overwritten).
local function symmetric_eigenvalues(a, d, name)
  local L = find_lapack(name)
  local n, w, info = ffi.new("int[1]", d), double_array(d), ffi.new("int[1]")
  local work, iwork = double_array(1), ffi.new("int[1]")
  local lwork, liwork = ffi.new("int[1]", -1), ffi.new("int[1]", -1)
  local ap = ffi.cast(double_ptr, a.data_)
  L.dsyevd_("N", "L", n, ap, n, w, work, lwork, iwork, liwork, info, 1, 1) -- workspace query
  lwork[0], liwork[0] = work[0], iwork[0]
  work, iwork = double_array(lwork[0]), ffi.new("int[?]", liwork[0])
  L.dsyevd_("N", "L", n, ap, n, w, work, lwork, iwork, liwork, info, 1, 1)
  if info[0] ~= 0 then raise(name, "the eigenvalue solver failed (LAPACK dsyevd info %d)", info[0]) end
  return w
end

-- Rows per block when centring embeddings in float64.
local PCF_BLOCK = 4096

-- OML 4.x calc_pcf: the fraction of principal components needed to explain
-- each given share of the variance. With lambda the descending eigenvalues
-- of the embeddings' covariance (the first min(n, d), as OML's SVD gives
-- them) and c_i their cumulative shares, n_components = #{i : c_i <= r} + 1
-- (OML's searchsorted(side="right") + 1), and the value n_components / d.
-- Computed in float64: the covariance in row blocks (never a centred copy
-- of the embeddings), its eigenvalues by LAPACK's dsyevd. Differences from
-- OML: c_min(n,d) is exactly 1 here, so r = 1 counts every component
-- (OML's float32 cumsum may land on either side of 1); n_components is
-- capped at d (OML's formula gives (d + 1) / d for r = 1 when n > d).
-- Embeddings without variance (one row, or all equal) give NaN for each
-- value, as OML's failed SVD does.
function M.calc_pcf(embeddings, pcf_variance)
  local name = "oml.retrieval.calc_pcf"
  if not T.is_tensor(embeddings) then raise(name, "embeddings must be a tensor (got %s)", T.kind(embeddings)) end
  if embeddings.storage_ == nil then raise(name, "embeddings is an unset tensor") end
  if embeddings.ndim_ ~= 2 or not (embeddings.dtype_ == T.FLOAT32 or embeddings.dtype_ == T.FLOAT64) then
    raise(name, "embeddings must be a 2-d float tensor [n, d] (got %s)", T.show(embeddings))
  end
  unit_list(pcf_variance, name, "pcf_variance")
  local n, d = tonumber(embeddings.size_[0]), tonumber(embeddings.size_[1])
  if n == 0 or d == 0 then raise(name, "embeddings are empty (%s)", T.show(embeddings)) end
  local mean = creation.zeros({ 1, d }, "float64")
  for first = 1, n, PCF_BLOCK do
    local block = methods.double(methods.narrow(embeddings, 1, first, math.min(PCF_BLOCK, n - first + 1)))
    methods.add_(mean, methods.sum(block, 1, true))
  end
  methods.div_(mean, n)
  local cov = creation.zeros({ d, d }, "float64")
  for first = 1, n, PCF_BLOCK do
    local block = methods.double(methods.narrow(embeddings, 1, first, math.min(PCF_BLOCK, n - first + 1)))
    block = methods.sub(block, mean)
    methods.addmm_(cov, methods.t(block), block)
  end
  local w = symmetric_eigenvalues(readable(cov), d, name)
  -- the top m eigenvalues, descending; rounding may leave zeros slightly negative
  local m = math.min(n, d)
  local prefix, total = double_array(m + 1), 0
  for i = 1, m do
    total = total + math.max(w[d - i], 0)
    prefix[i] = total
  end
  local result = {}
  for j, r in ipairs(pcf_variance) do
    if total == 0 then
      result[j] = NAN
    else
      local count = 0
      while count < m and prefix[count + 1] / total <= r do count = count + 1 end
      result[j] = math.min(count + 1, d) / d
    end
  end
  return result
end

-- ---- calc_retrieval_metrics -----------------------------------------------

local OPTIONS = {
  retrieved_ids = true, n_retrieved = true, gt_ids = true, distances = true, query_categories = true,
  cmc_top_k = true, precision_top_k = true, map_top_k = true, ndcg_top_k = true, map_at_r = true,
  fmr_vals = true, reduce = true,
}

-- calc_retrieval_metrics{retrieved_ids=, gt_ids= [, n_retrieved=]
--   [, cmc_top_k={5}] [, precision_top_k={5}] [, map_top_k={5}] [, ndcg_top_k={}]
--   [, map_at_r=false] [, distances=, fmr_vals={}] [, query_categories=] [, reduce=true]}
-- -> metrics, no_gt
--
-- metrics is keyed as OML's: cmc, precision, map, ndcg -> {[k] = value},
-- map@r -> value, fnmr@fmr -> {[fmr] = value}; a value is a number (the mean
-- over queries) or, with reduce = false, a float32 tensor [nq] of per-query
-- values (fnmr@fmr stays a number: it pools every query's distances). With
-- query_categories, metrics is {OVERALL = ..., [category] = ...}, each as
-- above over its queries (fnmr@fmr under OVERALL only, as OML's
-- EmbeddingMetrics). A k above the ranks of retrieved_ids is refused: the
-- search must retrieve max(k) items, padding with 0 past the gallery.
-- fnmr@fmr (OML's calc_fnmr_at_fmr_rr) pools the distances of the retrieved
-- items: relevant ones are positives, the others negatives.
--
-- no_gt lists the queries (1-based) without ground truth, for the caller
-- to name in a warning. Means leave them out (OML's would be NaN, from
-- precision's 0/0); a mean over no queries is NaN.
function M.calc_retrieval_metrics(args)
  local name = "oml.retrieval.calc_retrieval_metrics"
  if type(args) ~= "table" or T.is_tensor(args) then
    raise(name, "expected a table of named arguments (got %s)", T.kind(args))
  end
  for key in pairs(args) do
    if not OPTIONS[key] then raise(name, "unknown argument '%s'", tostring(key)) end
  end
  local retrieved = int64_tensor(args.retrieved_ids, name, "retrieved_ids", 2)
  local nq, kmax = tonumber(retrieved.size_[0]), tonumber(retrieved.size_[1])
  local reduce = T.flag(args.reduce, true, name, "reduce") == 1
  local map_at_r = T.flag(args.map_at_r, false, name, "map_at_r") == 1

  local entries = {}
  for _, spec in ipairs {
    { "cmc", CMC, { 5 } }, { "precision", PRECISION, { 5 } }, { "map", MAP, { 5 } }, { "ndcg", NDCG, {} },
  } do
    local metric, kind = spec[1], spec[2]
    for _, k in ipairs(top_k_list(args[metric .. "_top_k"], spec[3], name, metric .. "_top_k")) do
      if k > kmax then
        raise(name, "%s_top_k asks for k = %d but retrieved_ids has %d ranks; retrieve max(k) items",
              metric, k, kmax)
      end
      entries[#entries + 1] = { metric = metric, kind = kind, k = k }
    end
  end
  if map_at_r then entries[#entries + 1] = { metric = "map@r", kind = MAP_AT_R } end

  -- fmr_vals = {} asks for none, as OML's EmbeddingMetrics default
  local fmr_vals, distances = args.fmr_vals, args.distances
  local want_fmr = fmr_vals ~= nil and (type(fmr_vals) ~= "table" or #fmr_vals > 0)
  if want_fmr then
    unit_list(fmr_vals, name, "fmr_vals")
    if distances == nil then raise(name, "fmr_vals needs the distances of the retrieved items") end
    if not T.is_tensor(distances) or distances.storage_ == nil
        or not (distances.dtype_ == T.FLOAT32 or distances.dtype_ == T.FLOAT64)
        or distances.ndim_ ~= 2 or distances.size_[0] ~= nq or distances.size_[1] ~= kmax then
      raise(name, "distances must be a float tensor of size %s like retrieved_ids (got %s)",
            T.shape_str(retrieved), T.show(distances))
    end
  end

  local counts = retrieved_counts(retrieved, nq, kmax, args.n_retrieved, name)
  local starts, gt, max_id = ground_truth(args.gt_ids, nq, name)
  local order, members
  if args.query_categories ~= nil then order, members = categories_of(args.query_categories, nq, name) end

  local out = {}
  for e = 1, #entries do out[e] = T.empty({ nq }, T.FLOAT32, T.CPU, name) end
  local codes = want_fmr and creation.zeros({ nq, kmax }, "uint8")
  per_query(retrieved, counts, starts, gt, max_id, nq, kmax, entries, out, codes)

  local no_gt, with_gt = {}, {}
  for q = 1, nq do
    local list = starts[q] == starts[q - 1] and no_gt or with_gt
    list[#list + 1] = q
  end

  -- the metrics over the listed queries (all of them: nil)
  local function collect(queries)
    local metrics, index, kept = {}, nil, with_gt
    if queries then
      index = creation.tensor(queries, "int64")
      kept = {}
      for _, q in ipairs(queries) do
        if starts[q] ~= starts[q - 1] then kept[#kept + 1] = q end
      end
    end
    for e, entry in ipairs(entries) do
      local value
      if reduce then
        value = mean_over(out[e], kept)
      else
        value = index and methods.index_select(out[e], 1, index) or out[e]
      end
      if entry.kind == MAP_AT_R then
        metrics[entry.metric] = value
      else
        metrics[entry.metric] = metrics[entry.metric] or {}
        metrics[entry.metric][entry.k] = value
      end
    end
    return metrics
  end

  local overall = collect(nil)
  if want_fmr then
    distances = readable(distances)
    local pos = methods.masked_select(distances, methods.eq(codes, 2))
    local neg = methods.masked_select(distances, methods.eq(codes, 1))
    if neg.size_[0] == 0 then raise(name, "fnmr@fmr: no retrieved item is a negative, so there is no threshold") end
    local fnmr = M.calc_fnmr_at_fmr(pos, neg, fmr_vals)
    overall["fnmr@fmr"] = {}
    for j, fmr in ipairs(fmr_vals) do overall["fnmr@fmr"][fmr] = fnmr[j] end
  end
  if not order then return overall, no_gt end
  local metrics = { [M.OVERALL] = overall }
  for _, c in ipairs(order) do metrics[c] = collect(members[c]) end
  return metrics, no_gt
end

return M
