-- oml.metrics.EmbeddingMetrics: OML's own cases
-- (tests/test_oml/test_metrics/test_embedding_metrics.py: perfect,
-- imperfect and worst one-hot cases with categories, mixed epochs); random
-- datasets (shared and separate query/gallery, sequences, categories, batches
-- in any order) against a naive reference written here with plain Lua loops
-- (every distance in float64, a full sort, OML's definitions of cmc,
-- precision, map and fnmr@fmr, ndcg and map@r as documented in
-- oml/retrieval/metrics.lua); warnings for queries without ground truth;
-- postprocessors; every error.
local oml = require "oml"
local H = require "helper"

local EmbeddingMetrics = oml.metrics.EmbeddingMetrics
local functional = oml.retrieval.metrics

-- ---- the naive reference ---------------------------------------------------

-- Per query (dataset order): the gallery rows sorted by distance (ties to
-- the lower row), their distances, and the number of relevant rows.
local function naive_retrieval(rows, ds)
  local queries = {}
  for i = 1, ds.n do
    if ds.is_query[i] then
      local all, n_gt = {}, 0
      for j = 1, ds.n do
        local same_sequence = ds.sequence and ds.sequence[i] == ds.sequence[j]
        if ds.is_gallery[j] and j ~= i and not same_sequence then
          local s = 0
          for c = 1, #rows[i] do s = s + (rows[i][c] - rows[j][c]) ^ 2 end
          local rel = ds.labels[j] == ds.labels[i]
          all[#all + 1] = { dist = math.sqrt(s), row = j, rel = rel }
          if rel then n_gt = n_gt + 1 end
        end
      end
      table.sort(all, function(a, b) return a.dist < b.dist or (a.dist == b.dist and a.row < b.row) end)
      queries[#queries + 1] = { row = i, items = all, n_gt = n_gt }
    end
  end
  return queries
end

-- One query's metric value; k = nil for map@r.
local function naive_value(query, metric, k)
  local items, n_gt = query.items, query.n_gt
  if metric == "map@r" then
    local hits, sum = 0, 0
    for i = 1, math.min(n_gt, #items) do
      if items[i].rel then
        hits = hits + 1
        sum = sum + hits / i
      end
    end
    return sum / n_gt
  end
  local top = math.min(k, #items)
  if top == 0 then return n_gt == 0 and 1 or 0 end
  local hits, ap, dcg = 0, 0, 0
  for i = 1, top do
    if items[i].rel then
      hits = hits + 1
      ap = ap + hits / i
      dcg = dcg + 1 / (math.log(i + 1) / math.log(2))
    end
  end
  if metric == "cmc" then return hits > 0 and 1 or 0 end
  if metric == "precision" then return hits / math.min(n_gt, top) end
  if metric == "map" then return hits > 0 and ap / hits or 0 end
  local ideal = 0
  for i = 1, math.min(n_gt, top) do ideal = ideal + 1 / (math.log(i + 1) / math.log(2)) end
  return dcg / ideal -- ndcg
end

-- The means over the queries with ground truth, nested as OML's.
local function naive_means(queries, asked)
  local result = {}
  local function mean(metric, k)
    local sum, count = 0, 0
    for _, q in ipairs(queries) do
      if q.n_gt > 0 then sum, count = sum + naive_value(q, metric, k), count + 1 end
    end
    return sum / count
  end
  for _, metric in ipairs { "cmc", "precision", "map", "ndcg" } do
    for _, k in ipairs(asked[metric] or {}) do
      result[metric] = result[metric] or {}
      result[metric][k] = mean(metric, k)
    end
  end
  if asked.map_at_r then result["map@r"] = mean("map@r") end
  return result
end

-- fnmr@fmr pooled over every retrieved item: the fmr-quantile (linear
-- interpolation) of the negative distances, then the share of positives at
-- or above it.
local function naive_fnmr(queries, fmr)
  local pos, neg = {}, {}
  for _, q in ipairs(queries) do
    for _, item in ipairs(q.items) do table.insert(item.rel and pos or neg, item.dist) end
  end
  table.sort(neg)
  local h = (#neg - 1) * fmr
  local lo = math.floor(h)
  local th = neg[lo + 1] + (h - lo) * ((neg[math.min(lo + 2, #neg)]) - neg[lo + 1])
  local above = 0
  for _, d in ipairs(pos) do
    if d >= th then above = above + 1 end
  end
  return above / #pos
end

-- ---- datasets --------------------------------------------------------------

local function lcg(seed)
  local state = seed
  return function(m)
    state = (state * 1103515245 + 12345) % 2147483648
    return math.floor(state / 65536) % m
  end
end

-- n rows of small integer embeddings (exact float32 distances, real ties).
local function make_case(n, d, seed, opts)
  local rand = lcg(seed)
  local rows, ds = {}, { n = n, labels = {}, is_query = {}, is_gallery = {} }
  if opts.sequence then ds.sequence = {} end
  if opts.categories then ds.categories = {} end
  for i = 1, n do
    rows[i] = {}
    for c = 1, d do rows[i][c] = rand(5) end
    ds.labels[i] = rand(4)
    if opts.shared then
      ds.is_query[i], ds.is_gallery[i] = true, true
    else
      ds.is_query[i] = i % 3 == 0
      ds.is_gallery[i] = not ds.is_query[i]
    end
    if opts.sequence then ds.sequence[i] = rand(3) == 0 and false or rand(6) end
    -- a label's rows share a category, as in OML's datasets
    if opts.categories then ds.categories[i] = ds.labels[i] % 2 == 0 and "even" or "odd" end
  end
  -- every query label needs gallery items
  for label = 0, 3 do
    ds.labels[#ds.labels + 1], ds.is_query[#ds.is_query + 1], ds.is_gallery[#ds.is_gallery + 1] = label, false, true
    rows[#rows + 1] = { label }
    for c = 2, d do rows[#rows][c] = 0 end
    if opts.sequence then ds.sequence[#ds.sequence + 1] = "extra" .. label end
    if opts.categories then ds.categories[#ds.categories + 1] = label % 2 == 0 and "even" or "odd" end
  end
  ds.n = n + 4
  return oml.tensor(rows), rows, ds
end

-- Feeds every row in batches of `batch` in a shuffled order.
local function feed(metrics, embeddings, n, batch, seed)
  local rand, order = lcg(seed), {}
  for i = 1, n do order[i] = i end
  for i = n, 2, -1 do
    local j = rand(i) + 1
    order[i], order[j] = order[j], order[i]
  end
  for first = 1, n, batch do
    local list = {}
    for i = first, math.min(first + batch - 1, n) do list[#list + 1] = order[i] end
    metrics:update(embeddings:index_select(1, oml.tensor(list, "int64")), list)
  end
end

local function quiet() end

-- ---- specs -----------------------------------------------------------------

describe("EmbeddingMetrics on OML's cases", function()
  local function oh(i)
    local v = { 0, 0, 0, 0, 0, 0, 0, 0 }
    v[i + 1] = 1
    return v
  end
  -- batch 1: the queries, batch 2: the gallery (one-hot embeddings, dim 8)
  local function case(query_hot, categories)
    local rows = { oh(query_hot[1]), oh(query_hot[2]), oh(query_hot[3]), oh(0), oh(1), oh(1) }
    local ds = { n = 6, labels = { 0, 1, 1, 0, 1, 1 }, is_query = { true, true, true, false, false, false },
                 is_gallery = { false, false, false, true, true, true },
                 categories = { categories[1], categories[2], categories[2], categories[1], categories[2], categories[2] } }
    return oml.tensor(rows), ds
  end
  local cases = {
    perfect = { { 0, 1, 1 }, { "cat", "dog" }, { OVERALL = 1, cat = 1, dog = 1 } },
    imperfect = { { 0, 1, 3 }, { 10, 20 }, { OVERALL = 2 / 3, [10] = 1, [20] = 0.5 } },
    worst = { { 1, 0, 0 }, { 10, 20 }, { OVERALL = 0, [10] = 0, [20] = 0 } },
  }

  local function check(metrics, embeddings, expected)
    metrics:setup()
    metrics:update(embeddings:narrow(1, 1, 3), { 1, 2, 3 })
    metrics:update(embeddings:narrow(1, 4, 3), { 4, 5, 6 })
    local result = metrics:compute_metrics()
    local keys = 0
    for category, cmc in pairs(expected) do
      H.close(result[category].cmc[1], cmc, 1e-6)
      keys = keys + 1
    end
    for _ in pairs(result) do keys = keys - 1 end
    assert.are.equal(0, keys)
  end

  for name, c in pairs(cases) do
    it("gives cmc@1 of the " .. name .. " case", function()
      local embeddings, ds = case(c[1], c[2])
      local metrics = EmbeddingMetrics { dataset = ds, cmc_top_k = { 1 }, precision_top_k = {}, map_top_k = {},
                                         pcf_variance = {} }
      check(metrics, embeddings, c[3])
      assert.is_nil(metrics:compute_metrics().OVERALL.precision)
    end)
  end

  it("starts afresh at each setup (OML's mixed epochs)", function()
    for _, first in pairs(cases) do
      for _, second in pairs(cases) do
        -- one object per dataset pair, reused over four epochs
        local e1, ds1 = case(first[1], first[2])
        local e2, ds2 = case(second[1], second[2])
        local m1 = EmbeddingMetrics { dataset = ds1, cmc_top_k = { 1 }, precision_top_k = {}, map_top_k = {},
                                      pcf_variance = {} }
        local m2 = EmbeddingMetrics { dataset = ds2, cmc_top_k = { 1 }, precision_top_k = {}, map_top_k = {},
                                      pcf_variance = {} }
        for _ = 1, 2 do
          check(m1, e1, first[3])
          check(m2, e2, second[3])
        end
      end
    end
  end)
end)

describe("EmbeddingMetrics against the naive reference", function()
  local asked = { cmc = { 1, 3 }, precision = { 2, 5 }, map = { 3, 5 }, ndcg = { 4 }, map_at_r = true }

  local function run(opts, seed)
    local e, rows, ds = make_case(45, 3, seed, opts)
    local m = EmbeddingMetrics { dataset = ds, cmc_top_k = asked.cmc, precision_top_k = asked.precision,
                                 map_top_k = asked.map, ndcg_top_k = asked.ndcg, map_at_r = true,
                                 fmr_vals = { 0.1, 0.5 }, warn = quiet }
    feed(m, e, ds.n, 7, seed)
    local result = m:compute_metrics()
    local queries = naive_retrieval(rows, ds)
    local expected = naive_means(queries, asked)
    expected["fnmr@fmr"] = { [0.1] = naive_fnmr(queries, 0.1), [0.5] = naive_fnmr(queries, 0.5) }
    expected.pcf = { [0.5] = functional.calc_pcf(e, { 0.5 })[1] }
    H.close(result.OVERALL.cmc, expected.cmc, 1e-5)
    for metric, values in pairs(expected) do
      if type(values) == "table" then
        for k, v in pairs(values) do H.close(result.OVERALL[metric][k], v, 1e-5, metric .. "@" .. k) end
      else
        H.close(result.OVERALL[metric], values, 1e-5, metric)
      end
    end
    return result, queries, e, ds
  end

  it("matches with separate query and gallery", function()
    for seed = 1, 3 do run({}, seed) end
  end)

  it("matches with every row query and gallery", function()
    for seed = 4, 6 do run({ shared = true }, seed) end
  end)

  it("matches with sequences", function()
    for seed = 7, 9 do run({ shared = seed % 2 == 1, sequence = true }, seed) end
  end)

  it("matches per category, pcf over each category's rows", function()
    for seed = 10, 12 do
      local result, queries, e, ds = run({ shared = seed ~= 11, categories = true }, seed)
      for _, category in ipairs { "even", "odd" } do
        local members, rows = {}, {}
        for _, q in ipairs(queries) do
          if ds.categories[q.row] == category then members[#members + 1] = q end
        end
        for i = 1, ds.n do
          if ds.categories[i] == category then rows[#rows + 1] = i end
        end
        assert.is_true(#members > 0)
        local expected = naive_means(members, asked)
        for metric, values in pairs(expected) do
          if type(values) == "table" then
            for k, v in pairs(values) do
              H.close(result[category][metric][k], v, 1e-5, category .. metric .. k)
            end
          else
            H.close(result[category][metric], values, 1e-5, category .. metric)
          end
        end
        local pcf = functional.calc_pcf(e:index_select(1, oml.tensor(rows, "int64")), { 0.5 })[1]
        H.close(result[category].pcf[0.5], pcf, 1e-6)
        assert.is_nil(result[category]["fnmr@fmr"])
      end
    end
  end)

  it("returns only OVERALL when asked", function()
    local e, _, ds = make_case(20, 2, 3, { categories = true })
    local m = EmbeddingMetrics { dataset = ds, return_only_overall_category = true, warn = quiet }
    m:update(e, oml.arange(1, ds.n + 1):long())
    local result = m:compute_metrics()
    assert.is_not_nil(result.OVERALL)
    assert.is_nil(result.even)
    assert.is_nil(result.odd)
  end)

  it("uses OML's defaults: cmc, precision and map at 5, pcf at 0.5", function()
    local e, _, ds = make_case(20, 2, 3, {})
    local m = EmbeddingMetrics { dataset = ds, warn = quiet }
    feed(m, e, ds.n, 4, 1)
    local result = m:compute_metrics().OVERALL
    local keys = {}
    for key, values in pairs(result) do
      for k in pairs(values) do keys[#keys + 1] = key .. "@" .. k end
    end
    table.sort(keys)
    assert.are.same({ "cmc@5", "map@5", "pcf@0.5", "precision@5" }, keys)
  end)

  it("retrieves max(k) items, the whole gallery for fnmr@fmr", function()
    local e, _, ds = make_case(20, 2, 3, {})
    local m = EmbeddingMetrics { dataset = ds, cmc_top_k = { 2 }, precision_top_k = { 7 }, map_top_k = { 3 } }
    m:update(e, oml.arange(1, ds.n + 1):long())
    m:compute_metrics()
    assert.are.equal(7, m.retrieval_results.distances:size(2))
    local gallery = 0
    for i = 1, ds.n do
      if ds.is_gallery[i] then gallery = gallery + 1 end
    end
    m = EmbeddingMetrics { dataset = ds, fmr_vals = { 0.2 } }
    m:update(e, oml.arange(1, ds.n + 1):long())
    m:compute_metrics()
    assert.are.equal(gallery, m.retrieval_results.distances:size(2))
  end)
end)

describe("EmbeddingMetrics warnings and postprocessing", function()
  it("names the queries without ground truth and leaves them out", function()
    -- row 3's only same-label gallery item shares its sequence
    local e = oml.tensor { { 0 }, { 1 }, { 5 }, { 6 } }
    local ds = { n = 4, labels = { 1, 1, 2, 2 }, is_query = { true, true, true, true },
                 is_gallery = { true, true, true, true }, sequence = { "a", "b", "c", "c" } }
    local messages = {}
    local m = EmbeddingMetrics { dataset = ds, cmc_top_k = { 1 }, pcf_variance = {},
                                 warn = function(msg) messages[#messages + 1] = msg end }
    m:update(e, { 1, 2, 3, 4 })
    local result = m:compute_metrics()
    assert.are.same({ "oml.metrics.EmbeddingMetrics: 2 of 4 queries have no ground truth in the gallery and are "
      .. "left out of the means (dataset rows 3, 4)" }, messages)
    H.close(result.OVERALL.cmc[1], 1)
    H.close(result.OVERALL.precision[5], 1)
  end)

  it("lists ten rows and counts the rest", function()
    local n = 14
    local rows, ds = {}, { n = n, labels = {}, is_query = {}, is_gallery = {}, sequence = {} }
    for i = 1, n do
      rows[i], ds.labels[i], ds.is_query[i], ds.is_gallery[i], ds.sequence[i] = { i }, 1, true, true, "s"
    end
    local messages = {}
    local m = EmbeddingMetrics { dataset = ds, pcf_variance = {}, warn = function(msg) messages[#messages + 1] = msg end }
    m:update(oml.tensor(rows), oml.arange(1, n + 1):long())
    local result = m:compute_metrics()
    assert.is_truthy(messages[1]:find("14 of 14 queries", 1, true))
    assert.is_truthy(messages[1]:find("(dataset rows 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 and 4 more)", 1, true))
    -- a mean over no queries is NaN
    H.close(result.OVERALL.cmc[5], 0 / 0)
  end)

  it("applies the postprocessor before the metrics", function()
    local e, _, ds = make_case(30, 2, 21, { shared = true })
    local function metrics_with(post)
      local m = EmbeddingMetrics { dataset = ds, cmc_top_k = { 1, 3 }, postprocessor = post, warn = quiet }
      m:update(e, oml.arange(1, ds.n + 1):long())
      return m:compute_metrics().OVERALL, m
    end
    -- th = 0: nothing is retrieved, so every query with gt scores 0
    local none = metrics_with(oml.retrieval.ConstantThresholding { th = 0 })
    H.close(none.cmc[1], 0)
    H.close(none.map[5], 0)
    -- a reranker that puts relevant items first: cmc@1 = 1
    local reranker = oml.retrieval.PairwiseReranker { top_n = 40, pairwise = function(q, g)
      local out = {}
      local qs, gs = q:totable(), g:totable()
      for i = 1, #qs do out[i] = ds.labels[qs[i]] == ds.labels[gs[i]] and 0 or 1 end
      return out
    end }
    local best, m = metrics_with(reranker)
    H.close(best.cmc[1], 1)
    H.close(best.precision[5], 1)
    assert.are.equal(40, m.retrieval_results.distances:size(2))
  end)
end)

describe("EmbeddingMetrics errors", function()
  local e, _, ds = make_case(10, 2, 1, {})
  local name = "oml.metrics.EmbeddingMetrics"

  it("refuses bad constructor arguments", function()
    H.raises(function() local _ = EmbeddingMetrics(5) end, name .. ": expected a table of named arguments")
    H.raises(function() local _ = EmbeddingMetrics { dataset = ds, cmc = { 1 } } end, name .. ": unknown argument 'cmc'")
    H.raises(function() local _ = EmbeddingMetrics {} end, name .. ": dataset must be a table")
    H.raises(function() local _ = EmbeddingMetrics { dataset = ds, cmc_top_k = { 0 } } end,
             name .. ": cmc_top_k must hold positive integers (entry 1 is 0)")
    H.raises(function() local _ = EmbeddingMetrics { dataset = ds, precision_top_k = { 1, 2.5 } } end,
             name .. ": precision_top_k must hold positive integers (entry 2 is 2.5)")
    H.raises(function() local _ = EmbeddingMetrics { dataset = ds, map_top_k = 5 } end,
             name .. ": map_top_k must be a list of positive integers")
    H.raises(function() local _ = EmbeddingMetrics { dataset = ds, ndcg_top_k = { -1 } } end,
             name .. ": ndcg_top_k must hold positive integers (entry 1 is -1)")
    H.raises(function() local _ = EmbeddingMetrics { dataset = ds, fmr_vals = { 1.5 } } end,
             name .. ": fmr_vals must hold numbers in [0, 1] (entry 1 is 1.5)")
    H.raises(function() local _ = EmbeddingMetrics { dataset = ds, fmr_vals = { 0 / 0 } } end,
             name .. ": fmr_vals must hold numbers in [0, 1] (entry 1 is nan)")
    H.raises(function() local _ = EmbeddingMetrics { dataset = ds, pcf_variance = { -0.1 } } end,
             name .. ": pcf_variance must hold numbers in [0, 1] (entry 1 is -0.1)")
    H.raises(function() local _ = EmbeddingMetrics { dataset = ds, pcf_variance = 0.5 } end,
             name .. ": pcf_variance must be a list of numbers in [0, 1]")
    H.raises(function() local _ = EmbeddingMetrics { dataset = ds, map_at_r = 1 } end,
             name .. ": map_at_r must be a boolean")
    H.raises(function() local _ = EmbeddingMetrics { dataset = ds, postprocessor = {} } end,
             name .. ": postprocessor must be an object with process(rr, dataset)")
    H.raises(function() local _ = EmbeddingMetrics { dataset = ds, warn = "x" } end, name .. ": warn must be a function")
  end)

  it("refuses bad batches", function()
    local m = EmbeddingMetrics { dataset = ds }
    local n = ds.n
    H.raises(function() m:update({}, { 1 }) end, name .. ":update: embeddings must be a tensor")
    H.raises(function() m:update(e:view(-1), { 1 }) end, name .. ":update: embeddings must be a 2-d float tensor")
    H.raises(function() m:update(e:narrow(1, 1, 2), "x") end, name .. ":update: indices must be a list or a 1-d integer tensor")
    H.raises(function() m:update(e:narrow(1, 1, 2), oml.zeros(2)) end,
             name .. ":update: indices must be a 1-d integer tensor or a list")
    H.raises(function() m:update(e:narrow(1, 1, 2), { 1 }) end, name .. ":update: 2 embeddings but 1 indices")
    H.raises(function() m:update(e:narrow(1, 1, 2), { 1, n + 1 }) end,
             name .. ":update: indices[2] is " .. (n + 1) .. ", not a dataset row in [1, " .. n .. "]")
    H.raises(function() m:update(e:narrow(1, 1, 2), { 0, 1 }) end, name .. ":update: indices[1] is 0, not a dataset row")
    H.raises(function() m:update(e:narrow(1, 1, 2), { 3, 3 }) end, name .. ":update: dataset row 3 is collected twice")
    m:update(e:narrow(1, 1, 2), { 1, 2 })
    H.raises(function() m:update(e:narrow(1, 3, 1), { 2 }) end, name .. ":update: dataset row 2 is collected twice")
    H.raises(function() m:update(e:narrow(1, 3, 1):double(), { 3 }) end,
             name .. ":update: embeddings a float64 tensor of size [1,2] do not match the earlier batches")
    H.raises(function() m:update(oml.zeros(1, 3), { 3 }) end,
             name .. ":update: embeddings a float32 tensor of size [1,3] do not match")
    H.raises(function() local _ = m:compute_metrics() end,
             name .. ":compute_metrics: metrics need every item: collected 2 of " .. n)
    H.raises(function() EmbeddingMetrics.update({}, e, { 1 }) end, name .. ":update: call it as metrics:update(...)")
  end)

  it("refuses an empty dataset", function()
    local m = EmbeddingMetrics { dataset = { n = 0, labels = {}, is_query = {}, is_gallery = {} } }
    H.raises(function() local _ = m:compute_metrics() end, name .. ":compute_metrics: the dataset is empty")
  end)

  it("refuses a query label without gallery items", function()
    local bad = { n = 3, labels = { 1, 2, 2 }, is_query = { true, true, false }, is_gallery = { false, false, true } }
    local m = EmbeddingMetrics { dataset = bad }
    m:update(oml.zeros(3, 2), { 1, 2, 3 })
    H.raises(function() local _ = m:compute_metrics() end,
             name .. ":compute_metrics: the label 1 of query row 1 has no gallery items")
  end)
end)
