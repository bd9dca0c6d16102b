-- oml.retrieval.metrics: OML's hand-computed cases (open-metric-learning
-- 4.x, tests/test_oml/test_functional/test_metrics/test_retrieval_metrics.py
-- and the docstrings of oml/functional/metrics.py), random cases against a
-- naive reference written here, per-query values, queries without ground
-- truth, empty retrievals, categories, fnmr@fmr, pcf, and every bad argument.
local oml = require "oml"
local H = require "helper"
local R = require "oml.retrieval.metrics"

local nan = 0 / 0

-- A deterministic stream of integers in [1, n] (Park-Miller; exact in doubles).
local function stream(seed)
  local s = seed
  return function(n)
    s = (s * 16807) % 2147483647
    return s % n + 1
  end
end

-- Lists of retrieved ids (variable length) as an int64 [nq, width] tensor
-- padded with 0, as the k-NN search returns them.
local function padded(lists, width)
  local rows = {}
  for q, list in ipairs(lists) do
    rows[q] = {}
    for r = 1, width do rows[q][r] = list[r] or 0 end
  end
  if #lists == 0 then return oml.zeros({ 0, width }, "int64") end
  return oml.tensor(rows, "int64")
end

-- A list of per-query tensors' values, keyed as the metrics are.
local function values(metrics, metric, k)
  local v = metrics[metric]
  if k then v = v[k] end
  return v:totable()
end

-- OML's exact case: six items, every one query and gallery, labels
-- {0,0,0,0,1,1}; each query retrieves the five others. positions are the
-- 0-based ranks of its ground truth (OML's `positions`); the retrieved ids
-- here are made up (query q retrieves 10q+1 .. 10q+5), which the metrics do
-- not see.
--   label 0: VVXVX VXXVV XVVXV XXVVV   label 1: VXXXX XXXVX
local EXACT_POSITIONS = { { 0, 1, 3 }, { 0, 3, 4 }, { 1, 2, 4 }, { 2, 3, 4 }, { 0 }, { 3 } }

local function exact_case(width)
  local retrieved, gt = {}, {}
  for q, positions in ipairs(EXACT_POSITIONS) do
    retrieved[q], gt[q] = {}, {}
    for r = 1, 5 do retrieved[q][r] = 10 * q + r end
    for i, p in ipairs(positions) do gt[q][i] = 10 * q + p + 1 end
  end
  return padded(retrieved, width), gt
end

-- OML 4.x exact_test_case (test_retrieval_metrics.py), per query, at k = 1..5;
-- k = 10 there equals k = 5 (only five items are retrieved), and so do 6..9.
local EXACT = {
  cmc = {
    { 1, 1, 0, 0, 1, 0 }, { 1, 1, 1, 0, 1, 0 }, { 1, 1, 1, 1, 1, 0 }, { 1, 1, 1, 1, 1, 1 }, { 1, 1, 1, 1, 1, 1 },
  },
  precision = {
    { 1, 1, 0, 0, 1, 0 }, { 1, 0.5, 0.5, 0, 1, 0 }, { 0.6666, 0.3333, 0.6666, 0.3333, 1, 0 },
    { 1, 0.6666, 0.6666, 0.6666, 1, 1 }, { 1, 1, 1, 1, 1, 1 },
  },
  map = {
    { 1, 1, 0, 0, 1, 0 }, { 1, 1, 1 / 2, 0, 1, 0 }, { 1, 1, 7 / 12, 1 / 3, 1, 0 },
    { 11 / 12, 3 / 4, 7 / 12, 5 / 12, 1, 1 / 4 }, { 11 / 12, 21 / 30, 53 / 90, 43 / 90, 1, 1 / 4 },
  },
}
for _, metric in pairs(EXACT) do
  for k = 6, 10 do metric[k] = metric[5] end
end

-- ---- a naive reference, straight from the definitions ----------------------

local function contains(list, x)
  for _, y in ipairs(list) do
    if y == x then return true end
  end
  return false
end

-- The per-query value of metric (k for those that take one) for a list of
-- retrieved ids and a list of gt ids.
local function naive(metric, k, retrieved, gt)
  local nr, n_gt = #retrieved, #gt
  if nr == 0 then return n_gt == 0 and 1 or 0 end
  local function hits(i)
    local c = 0
    for j = 1, i do
      if contains(gt, retrieved[j]) then c = c + 1 end
    end
    return c
  end
  local function rel(i) return contains(gt, retrieved[i]) and 1 or 0 end
  local function ap(i) -- sum_{j<=i} precision@j * rel(j)
    local s = 0
    for j = 1, i do s = s + hits(j) / j * rel(j) end
    return s
  end
  if metric == "map@r" then
    if n_gt == 0 then return nan end
    return ap(math.min(n_gt, nr)) / n_gt
  end
  local kk = math.min(k, nr)
  if metric == "cmc" then return hits(kk) > 0 and 1 or 0 end
  if metric == "precision" then return n_gt == 0 and nan or hits(kk) / math.min(n_gt, kk) end
  if metric == "map" then return hits(kk) == 0 and 0 or ap(kk) / hits(kk) end
  -- ndcg
  if n_gt == 0 then return nan end
  local dcg, idcg = 0, 0
  for i = 1, kk do dcg = dcg + rel(i) / (math.log(i + 1) / math.log(2)) end
  for i = 1, math.min(n_gt, kk) do idcg = idcg + 1 / (math.log(i + 1) / math.log(2)) end
  return dcg / idcg
end

-- A random retrieval: nq queries over a gallery of n_gallery, up to kmax
-- distinct ids each (some none), and a random gt set each (some empty).
local function random_case(rand)
  local n_gallery, nq, kmax = rand(25), rand(15), rand(8)
  local retrieved, gt = {}, {}
  for q = 1, nq do
    local ids = {}
    for i = 1, n_gallery do ids[i] = i end
    for i = n_gallery, 2, -1 do
      local j = rand(i)
      ids[i], ids[j] = ids[j], ids[i]
    end
    retrieved[q] = {}
    for r = 1, math.min(rand(kmax + 1) - 1, n_gallery) do retrieved[q][r] = ids[r] end
    gt[q] = {}
    local share = rand(4) - 1 -- 0: no gt at all
    for i = 1, n_gallery do
      if rand(4) <= share then gt[q][#gt[q] + 1] = i end
    end
  end
  return retrieved, gt, kmax
end

-- ---- specs -----------------------------------------------------------------

describe("calc_retrieval_metrics", function()
  it("gives OML's per-query values on OML's exact case at k = 1..10", function()
    local retrieved, gt = exact_case(10)
    local ks = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 }
    local m, no_gt = R.calc_retrieval_metrics {
      retrieved_ids = retrieved, gt_ids = gt, cmc_top_k = ks, precision_top_k = ks, map_top_k = ks, reduce = false,
    }
    for metric, expected in pairs(EXACT) do
      for k = 1, 10 do
        assert.equal("float32", m[metric][k].dtype)
        H.close(values(m, metric, k), expected[k], 1e-4)
      end
    end
    assert.same({}, no_gt)
  end)

  it("averages OML's exact case over the queries", function()
    local retrieved, gt = exact_case(5)
    local m = R.calc_retrieval_metrics {
      retrieved_ids = retrieved, gt_ids = gt, cmc_top_k = { 1, 3 }, precision_top_k = { 2 }, map_top_k = { 5 },
    }
    local function mean(list)
      local s = 0
      for _, v in ipairs(list) do s = s + v end
      return s / #list
    end
    H.close(m.cmc[1], mean(EXACT.cmc[1]))
    H.close(m.cmc[3], mean(EXACT.cmc[3]))
    H.close(m.precision[2], mean(EXACT.precision[2]))
    H.close(m.map[5], mean(EXACT.map[5]))
    assert.equal("number", type(m.map[5]))
  end)

  it("gives ndcg@k and MAP@R on the exact case (hand-computed)", function()
    local retrieved, gt = exact_case(5)
    local m = R.calc_retrieval_metrics {
      retrieved_ids = retrieved, gt_ids = gt, cmc_top_k = {}, precision_top_k = {}, map_top_k = {},
      ndcg_top_k = { 1, 5 }, map_at_r = true, reduce = false,
    }
    assert.is_nil(m.cmc)
    local l2, l3, l4, l5, l6 = 1, 1 / math.log(3, 2), 1 / math.log(4, 2), 1 / math.log(5, 2), 1 / math.log(6, 2)
    H.close(values(m, "ndcg", 1), { 1, 1, 0, 0, 1, 0 })
    -- VVXVX: (1 + 1/log2 3 + 1/log2 5) / (1 + 1/log2 3 + 1/log2 4), and so on
    H.close(values(m, "ndcg", 5), {
      (l2 + l3 + l5) / (l2 + l3 + l4), (l2 + l5 + l6) / (l2 + l3 + l4), (l3 + l4 + l6) / (l2 + l3 + l4),
      (l4 + l5 + l6) / (l2 + l3 + l4), 1, l5 / l2,
    })
    -- MAP@R, R = n_gt: VVX -> (1 + 1) / 3; VXX -> 1/3; XVV -> (1/2 + 2/3) / 3;
    -- XXV -> (1/3) / 3; V -> 1; X -> 0
    H.close(values(m, "map@r"), { 2 / 3, 1 / 3, (1 / 2 + 2 / 3) / 3, 1 / 9, 1, 0 })
  end)

  it("matches OML's test_retrieval_metrics_new_inputs", function()
    -- OML (0-based): retrieved [[0, 3, 5]], gt [[0, 7]] -> cmc 1, 1, 1 and
    -- precision 1, 1/2, 1/2 at k = 1, 3, 5; retrieved [[5, 2, 10]], gt
    -- [[0, 1]] -> all 0. Here 1-based, padded to 5 ranks.
    local ks = { 1, 3, 5 }
    local m = R.calc_retrieval_metrics {
      retrieved_ids = padded({ { 1, 4, 6 } }, 5), gt_ids = { { 1, 8 } }, cmc_top_k = ks, precision_top_k = ks,
      map_top_k = {},
    }
    H.close(m.cmc, { 1, nil, 1, nil, 1 })
    H.close({ m.precision[1], m.precision[3], m.precision[5] }, { 1, 1 / 2, 1 / 2 })
    assert.is_nil(m.map)
    m = R.calc_retrieval_metrics {
      retrieved_ids = padded({ { 6, 3, 11 } }, 5), gt_ids = { { 1, 2 } }, cmc_top_k = ks, precision_top_k = ks,
      map_top_k = {},
    }
    H.close({ m.cmc[1], m.cmc[3], m.cmc[5], m.precision[1], m.precision[3], m.precision[5] }, { 0, 0, 0, 0, 0, 0 })
  end)

  it("handles empty retrievals and queries without gt as OML's docstring examples", function()
    -- OML 4.x docstrings of calc_cmc, calc_precision and calc_map: rows of
    -- gt_tops (is each retrieved item relevant) with n_gts. Retrieved ids are
    -- 1, 2, ... and the missing gt ids 100, 101, ...
    local function case(gt_tops, n_gts)
      local retrieved, gt = {}, {}
      for q, row in ipairs(gt_tops) do
        retrieved[q], gt[q] = {}, {}
        for r, rel in ipairs(row) do
          retrieved[q][r] = r
          if rel == 1 then gt[q][#gt[q] + 1] = r end
        end
        while #gt[q] < n_gts[q] do gt[q][#gt[q] + 1] = 100 + #gt[q] end
      end
      return padded(retrieved, 4), gt
    end
    local retrieved, gt = case({ { 1, 0 }, { 0, 1, 1 }, { 0, 0 }, {} }, { 2, 2, 1, 0 })
    local m, no_gt = R.calc_retrieval_metrics {
      retrieved_ids = retrieved, gt_ids = gt, cmc_top_k = { 1, 2 }, precision_top_k = {}, map_top_k = {},
      reduce = false,
    }
    H.close(values(m, "cmc", 1), { 1, 0, 0, 1 })
    H.close(values(m, "cmc", 2), { 1, 1, 0, 1 })
    assert.same({ 4 }, no_gt)

    retrieved, gt = case({ { 1, 0 }, { 0, 1, 1 }, { 0, 0 }, {} }, { 2, 3, 5, 2 })
    m, no_gt = R.calc_retrieval_metrics {
      retrieved_ids = retrieved, gt_ids = gt, cmc_top_k = {}, precision_top_k = { 1, 2 }, map_top_k = {},
      reduce = false,
    }
    H.close(values(m, "precision", 1), { 1, 0, 0, 0 })
    H.close(values(m, "precision", 2), { 0.5, 0.5, 0, 0 })
    assert.same({}, no_gt)

    retrieved, gt = case({ { 1, 0 }, { 0, 1 }, { 0, 0, 0, 0 }, {} }, { 1, 1, 2, 0 })
    m = R.calc_retrieval_metrics {
      retrieved_ids = retrieved, gt_ids = gt, cmc_top_k = {}, precision_top_k = {}, map_top_k = { 1, 2 },
      reduce = false,
    }
    H.close(values(m, "map", 1), { 1, 0, 0, 1 })
    H.close(values(m, "map", 2), { 1, 0.5, 0, 1 })
  end)

  it("names queries without gt and leaves them out of the means", function()
    -- query 2 retrieved something but has no gt: cmc 0, map 0 and
    -- precision 0/0 as OML's; ndcg and MAP@R are 0/0 too
    local retrieved = padded({ { 1, 2 }, { 3, 4 }, { 5 }, {} }, 2)
    local gt = { { 2 }, {}, { 9 }, {} }
    local ks = { 1, 2 }
    local m, no_gt = R.calc_retrieval_metrics {
      retrieved_ids = retrieved, gt_ids = gt, cmc_top_k = ks, precision_top_k = ks, map_top_k = ks,
      ndcg_top_k = ks, map_at_r = true, reduce = false,
    }
    assert.same({ 2, 4 }, no_gt)
    H.close(values(m, "cmc", 2), { 1, 0, 0, 1 })
    H.close(values(m, "precision", 2), { 1, nan, 0, 1 })
    H.close(values(m, "map", 2), { 0.5, 0, 0, 1 })
    H.close(values(m, "ndcg", 2), { 1 / math.log(3, 2), nan, 0, 1 })
    H.close(values(m, "map@r"), { 0, nan, 0, 1 })
    m = R.calc_retrieval_metrics {
      retrieved_ids = retrieved, gt_ids = gt, cmc_top_k = ks, precision_top_k = ks, map_top_k = ks,
      ndcg_top_k = ks, map_at_r = true,
    }
    -- the means over queries 1 and 3
    H.close({ m.cmc[1], m.cmc[2], m.precision[2], m.map[2], m.ndcg[2], m["map@r"] },
            { 0, 0.5, 0.5, 0.25, 0.5 / math.log(3, 2), 0 })
  end)

  it("gives NaN means when no query has gt, and empty results for no queries", function()
    local m, no_gt = R.calc_retrieval_metrics { retrieved_ids = padded({ { 1 } }, 1), gt_ids = { {} }, cmc_top_k = { 1 },
                                                precision_top_k = {}, map_top_k = {} }
    assert.same({ 1 }, no_gt)
    assert.is_true(m.cmc[1] ~= m.cmc[1])
    m, no_gt = R.calc_retrieval_metrics { retrieved_ids = oml.zeros({ 0, 5 }, "int64"), gt_ids = {}, reduce = false }
    assert.same({ 0 }, m.cmc[5]:size())
    assert.same({}, no_gt)
  end)

  it("agrees with the naive reference on random cases, with every input form", function()
    local rand = stream(11)
    local ks = { 1, 2, 3, 5, 8 }
    for _ = 1, 60 do
      local retrieved, gt, kmax = random_case(rand)
      local nq = #retrieved
      local usable = {}
      for _, k in ipairs(ks) do
        if k <= kmax then usable[#usable + 1] = k end
      end
      -- the same retrieval three ways: zero-padded; counted by n_retrieved
      -- with junk ids past the count; transposed (not contiguous)
      local zero_padded = padded(retrieved, kmax)
      local junk, counts = {}, {}
      for q = 1, nq do
        junk[q], counts[q] = {}, #retrieved[q]
        for r = 1, kmax do junk[q][r] = retrieved[q][r] or 7 end
      end
      local transposed = oml.tensor(H.transpose(junk, kmax), "int64"):t()
      local flat_gt, gt_counts = {}, {}
      for q = 1, nq do
        gt_counts[q] = #gt[q]
        for _, id in ipairs(gt[q]) do flat_gt[#flat_gt + 1] = id end
      end
      local csr = { ids = #flat_gt > 0 and oml.tensor(flat_gt, "int64") or oml.zeros({ 0 }, "int64"),
                    counts = oml.tensor(gt_counts, "int64") }
      local inputs = {
        { retrieved_ids = zero_padded, gt_ids = gt },
        { retrieved_ids = oml.tensor(junk, "int64"), n_retrieved = oml.tensor(counts, "int64"), gt_ids = csr },
        { retrieved_ids = transposed, n_retrieved = oml.tensor(counts, "int64"), gt_ids = gt },
      }
      for _, args in ipairs(inputs) do
        for _, reduce in ipairs { false, true } do
          args.cmc_top_k, args.precision_top_k, args.map_top_k, args.ndcg_top_k = usable, usable, usable, usable
          args.map_at_r, args.reduce = true, reduce
          local m, no_gt = R.calc_retrieval_metrics(args)
          local expected_no_gt = {}
          for q = 1, nq do
            if #gt[q] == 0 then expected_no_gt[#expected_no_gt + 1] = q end
          end
          assert.same(expected_no_gt, no_gt)
          local function expect(value, metric, k)
            local per_query = {}
            for q = 1, nq do per_query[q] = naive(metric, k, retrieved[q], gt[q]) end
            if not reduce then return H.close(value, per_query, 1e-6) end
            local sum, n = 0, 0
            for q = 1, nq do
              if #gt[q] > 0 then sum, n = sum + per_query[q], n + 1 end
            end
            H.close(value, n > 0 and sum / n or nan, 1e-6)
          end
          for _, metric in ipairs { "cmc", "precision", "map", "ndcg" } do
            for _, k in ipairs(usable) do expect(m[metric][k], metric, k) end
          end
          expect(m["map@r"], "map@r")
        end
      end
    end
  end)

  it("computes the metrics per category and over all queries", function()
    local retrieved, gt = exact_case(5)
    local categories = { "a", "a", "b", "b", "a", "b" }
    local m, no_gt = R.calc_retrieval_metrics {
      retrieved_ids = retrieved, gt_ids = gt, query_categories = categories, cmc_top_k = { 2 },
      precision_top_k = { 3 }, map_top_k = { 5 },
    }
    assert.same({}, no_gt)
    local function mean(list, members)
      local s = 0
      for _, q in ipairs(members) do s = s + list[q] end
      return s / #members
    end
    local all, a, b = { 1, 2, 3, 4, 5, 6 }, { 1, 2, 5 }, { 3, 4, 6 }
    for key, members in pairs { OVERALL = all, a = a, b = b } do
      H.close(m[key].cmc[2], mean(EXACT.cmc[2], members))
      H.close(m[key].precision[3], mean(EXACT.precision[3], members), 1e-4)
      H.close(m[key].map[5], mean(EXACT.map[5], members))
    end
    assert.equal("OVERALL", R.OVERALL)
    -- per query: each category's own queries, in order; categories as a tensor
    m = R.calc_retrieval_metrics {
      retrieved_ids = retrieved, gt_ids = gt, query_categories = oml.tensor { 1, 1, 2, 2, 1, 2 }, cmc_top_k = {},
      precision_top_k = {}, map_top_k = { 5 }, reduce = false,
    }
    H.close(values(m.OVERALL, "map", 5), EXACT.map[5])
    H.close(values(m[1], "map", 5), { EXACT.map[5][1], EXACT.map[5][2], EXACT.map[5][5] })
    H.close(values(m[2], "map", 5), { EXACT.map[5][3], EXACT.map[5][4], EXACT.map[5][6] })
  end)

  it("leaves queries without gt out of their category's mean", function()
    local m = R.calc_retrieval_metrics {
      retrieved_ids = padded({ { 1 }, { 2 }, { 3 } }, 1), gt_ids = { { 1 }, {}, { 9 } },
      query_categories = { "x", "x", "y" }, cmc_top_k = { 1 }, precision_top_k = {}, map_top_k = {},
    }
    H.close({ m.OVERALL.cmc[1], m.x.cmc[1], m.y.cmc[1] }, { 0.5, 1, 0 })
  end)

  it("pools the retrieved distances for fnmr@fmr, as OML's calc_fnmr_at_fmr_rr", function()
    -- relevant retrieved items are positives, the other retrieved ones
    -- negatives; ranks past the retrieval are left out (their distance 99)
    local retrieved = padded({ { 1, 2, 3 }, { 4, 5 }, { 6, 7, 8 } }, 3)
    local distances = oml.tensor { { 0, 3, 1 }, { 3.5, 4, 99 }, { 2, 5, 9 } }
    local gt = { { 1, 3 }, { 5 }, { 6, 8 } }
    -- positives 0, 1, 4, 2, 9; negatives 3, 3.5, 5
    local m = R.calc_retrieval_metrics {
      retrieved_ids = retrieved, gt_ids = gt, distances = distances, fmr_vals = { 0, 0.5, 1 }, cmc_top_k = { 1 },
      precision_top_k = {}, map_top_k = {},
    }
    -- thresholds 3, 3.5, 5 -> positives at or above: 2, 2, 1 of 5
    H.close({ m["fnmr@fmr"][0], m["fnmr@fmr"][0.5], m["fnmr@fmr"][1] }, { 0.4, 0.4, 0.2 })
    H.close(m.cmc[1], 2 / 3)
    -- fnmr@fmr stays a number per query too, and sits under OVERALL only
    m = R.calc_retrieval_metrics {
      retrieved_ids = retrieved, gt_ids = gt, distances = distances:double(), fmr_vals = { 0.5 },
      query_categories = { 1, 2, 1 }, reduce = false, cmc_top_k = { 1 }, precision_top_k = {}, map_top_k = {},
    }
    H.close(m.OVERALL["fnmr@fmr"][0.5], 0.4)
    assert.is_nil(m[1]["fnmr@fmr"])
    -- fmr_vals = {} asks for none
    m = R.calc_retrieval_metrics {
      retrieved_ids = retrieved, gt_ids = gt, fmr_vals = {}, cmc_top_k = { 1 }, precision_top_k = {}, map_top_k = {},
    }
    assert.is_nil(m["fnmr@fmr"])
  end)
end)

describe("calc_fnmr_at_fmr", function()
  it("gives OML's example: [0.4, 0.2] at fmr 0.1 and 0.5 (fractions)", function()
    -- OML 4.x test_calc_fnmr_at_fmr: fmr_vals are quantiles in [0, 1] and the
    -- result a fraction: the 0.1-quantile of negatives is 3, 4 of 10
    -- positives are >= 3; the 0.5-quantile is 6, 2 of 10 are >= 6
    local pos = { 0, 0, 1, 1, 2, 2, 5, 5, 9, 9 }
    local neg = { 3, 3, 4, 4, 6, 6, 7, 7, 8, 8 }
    H.close(R.calc_fnmr_at_fmr(pos, neg, { 0.1, 0.5 }), { 0.4, 0.2 })
    H.close(R.calc_fnmr_at_fmr(oml.tensor(pos), oml.tensor(neg, "float64"), { 0.1, 0.5 }), { 0.4, 0.2 })
  end)

  it("interpolates the quantile linearly, as numpy and torch", function()
    -- np.quantile([1, 2, 4, 8], [0.3, 0.75, 1/3]) = [1.9, 5, 2] (numpy 1.24,
    -- torch.quantile agrees; spec/metrics_reference.py)
    local neg = oml.tensor { 8, 1, 4, 2 } -- unsorted: the function sorts
    local pos = oml.tensor { 1.8, 1.85, 1.95, 2.05, 4.9, 5.1, 6 }
    H.close(R.calc_fnmr_at_fmr(pos, neg, { 0.3, 0.75, 1 / 3, 0, 1 }), { 5 / 7, 2 / 7, 4 / 7, 1, 0 })
    -- a non-contiguous input: every other element
    local strided = oml.tensor { 8, 0, 1, 0, 4, 0, 2, 0 }:view(4, 2):select(2, 1)
    H.close(R.calc_fnmr_at_fmr(pos, strided, { 0.3 }), { 5 / 7 })
  end)

  it("gives NaN without positives (0/0, as OML)", function()
    local r = R.calc_fnmr_at_fmr({}, { 1, 2 }, { 0.5 })
    assert.is_true(r[1] ~= r[1])
  end)
end)

describe("calc_pcf", function()
  it("gives OML's example: eye(4, 10) -> [0.2, 0.5] at 0.5 and 1", function()
    -- OML 4.x calc_pcf docstring: four centred rows span 3 axes, and the
    -- searchsorted count + 1 makes 2 and 5 of 10
    H.close(R.calc_pcf(oml.eye(4, 10), { 0.5, 1 }), { 0.2, 0.5 })
  end)

  it("counts components on data with a known spectrum, rotated and shifted", function()
    -- rows +-sqrt(v_i) e_i give covariance eigenvalues proportional to
    -- v = 4, 3, 2, 1: cumulative shares 0.4, 0.7, 0.9, 1
    local v, rows = { 4, 3, 2, 1 }, {}
    for i = 1, 4 do
      for _, sign in ipairs { 1, -1 } do
        local row = { 0, 0, 0, 0 }
        row[i] = sign * math.sqrt(v[i])
        rows[#rows + 1] = row
      end
    end
    -- a rotation (two Givens rotations) and a shift change no eigenvalue
    local c, s = math.cos(0.7), math.sin(0.7)
    local rotation = oml.tensor({ { c, -s, 0, 0 }, { s, c, 0, 0 }, { 0, 0, c, s }, { 0, 0, -s, c } }, "float64")
    local x = oml.tensor(rows, "float64"):matmul(rotation):add(oml.tensor({ 5, -3, 2, 10 }, "float64"))
    local shares = { 0, 0.3, 0.5, 0.8, 0.95, 1 }
    local expected = { 0.25, 0.25, 0.5, 0.75, 1, 1 }
    H.close(R.calc_pcf(x, shares), expected)
    H.close(R.calc_pcf(x:float(), shares), expected)
    -- not contiguous
    H.close(R.calc_pcf(x:t():contiguous():t(), shares), expected)
  end)

  it("matches OML's PCA formula on random data", function()
    -- spec/metrics_reference.py (torch 1.13, OML's PCA._fit and
    -- calc_principal_axes_number): [1, 1, 1, 2, 3, 5, 7] / 6 at the shares
    -- below. At r = 1 OML gives 7/6 (its float32 cumsum ends at 1.0000001 and
    -- its count may reach d + 1); here it is capped at 1.
    local rand = stream(7)
    local scale = { 3, 2, 1.5, 1, 0.5, 0.25 }
    local x = oml.zeros({ 40, 6 }, "float64")
    local p = x:data()
    for i = 0, 40 * 6 - 1 do p[i] = ((rand(2147483647) - 1) / 2147483647 - 0.5) * scale[i % 6 + 1] end
    H.close(R.calc_pcf(x:float(), { 0, 0.3, 0.5, 0.7, 0.9, 0.99, 1 }), { 1 / 6, 1 / 6, 1 / 6, 2 / 6, 3 / 6, 5 / 6, 1 })
  end)

  it("gives NaN when the embeddings have no variance", function()
    local r = R.calc_pcf(oml.ones(3, 4), { 0.5 })
    assert.is_true(r[1] ~= r[1])
    r = R.calc_pcf(oml.ones(1, 4), { 0.5 })
    assert.is_true(r[1] ~= r[1])
  end)
end)

describe("bad arguments", function()
  local name = "oml.retrieval.calc_retrieval_metrics: "
  local ok_ids = padded({ { 1, 2 }, { 3 } }, 2)
  local ok_gt = { { 1 }, { 3 } }
  local function call(extra)
    local args = { retrieved_ids = ok_ids, gt_ids = ok_gt, cmc_top_k = { 1 }, precision_top_k = {}, map_top_k = {} }
    for key, value in pairs(extra) do args[key] = value end
    return args
  end

  it("refuses malformed arguments to calc_retrieval_metrics", function()
    H.raises(function() local _ = R.calc_retrieval_metrics(ok_ids) end,
             name .. "expected a table of named arguments (got tensor)")
    H.raises(function() local _ = R.calc_retrieval_metrics(call { cmc_topk = { 1 } }) end,
             name .. "unknown argument 'cmc_topk'")
    H.raises(function() local _ = R.calc_retrieval_metrics(call { reduce = 1 }) end,
             name .. "reduce must be a boolean (got number)")
    H.raises(function() local _ = R.calc_retrieval_metrics(call { map_at_r = "yes" }) end,
             name .. "map_at_r must be a boolean (got string)")
  end)

  it("refuses bad retrieved_ids and n_retrieved", function()
    H.raises(function() local _ = R.calc_retrieval_metrics(call { retrieved_ids = { { 1 } } }) end,
             name .. "retrieved_ids must be an int64 tensor (got table)")
    H.raises(function() local _ = R.calc_retrieval_metrics(call { retrieved_ids = oml.tensor { { 1, 2 } } }) end,
             name .. "retrieved_ids must be a 2-d int64 tensor (got a float32 tensor of size [1,2])")
    H.raises(function() local _ = R.calc_retrieval_metrics(call { retrieved_ids = oml.tensor({ 1, 2 }, "int64") }) end,
             name .. "retrieved_ids must be a 2-d int64 tensor (got a int64 tensor of size [2])")
    H.raises(function() local _ = R.calc_retrieval_metrics(call { retrieved_ids = oml.zeros({ 2, 0 }, "int64") }) end,
             name .. "cmc_top_k asks for k = 1 but retrieved_ids has 0 ranks; retrieve max(k) items")
    H.raises(function() local _ = R.calc_retrieval_metrics(call { retrieved_ids = padded({ { 1, -2 }, { 3 } }, 2) }) end,
             name .. "retrieved_ids[1][2] is -2, not a gallery id (1-based) or 0")
    H.raises(function() local _ = R.calc_retrieval_metrics(call { retrieved_ids = padded({ { 1, 2 }, { 0, 3 } }, 2) }) end,
             name .. "retrieved_ids[2] has gallery id 3 at rank 2 after a 0 at rank 1")
    H.raises(function() local _ = R.calc_retrieval_metrics(call { n_retrieved = oml.tensor { 2, 1 } }) end,
             name .. "n_retrieved must be a 1-d int64 tensor (got a float32 tensor of size [2])")
    H.raises(function() local _ = R.calc_retrieval_metrics(call { n_retrieved = oml.tensor({ 2 }, "int64") }) end,
             name .. "n_retrieved has 1 entries for 2 queries")
    H.raises(function() local _ = R.calc_retrieval_metrics(call { n_retrieved = oml.tensor({ 2, 3 }, "int64") }) end,
             name .. "n_retrieved[2] is 3, outside [0, 2]")
    H.raises(function() local _ = R.calc_retrieval_metrics(call { n_retrieved = oml.tensor({ 2, -1 }, "int64") }) end,
             name .. "n_retrieved[2] is -1, outside [0, 2]")
    H.raises(function() local _ = R.calc_retrieval_metrics(call { n_retrieved = oml.tensor({ 2, 2 }, "int64") }) end,
             name .. "retrieved_ids[2][2] is 0, not a gallery id (1-based)")
  end)

  it("refuses bad gt_ids, as lists and as ids with counts", function()
    H.raises(function() local _ = R.calc_retrieval_metrics(call { gt_ids = "x" }) end,
             name .. "gt_ids must be a list of lists or {ids=, counts=} (got string)")
    H.raises(function() local _ = R.calc_retrieval_metrics(call { gt_ids = { { 1 } } }) end,
             name .. "gt_ids has 1 queries, retrieved_ids 2")
    H.raises(function() local _ = R.calc_retrieval_metrics(call { gt_ids = { { 1 }, 3 } }) end,
             name .. "gt_ids[2] must be a list of gallery ids (got number)")
    H.raises(function() local _ = R.calc_retrieval_metrics(call { gt_ids = { { 1 }, { 0 } } }) end,
             name .. "gt_ids[2][1] is 0, not a gallery id (1-based, below 2^31)")
    H.raises(function() local _ = R.calc_retrieval_metrics(call { gt_ids = { { 1.5 }, { 2 } } }) end,
             name .. "gt_ids[1][1] is 1.5, not a gallery id (1-based, below 2^31)")
    H.raises(function() local _ = R.calc_retrieval_metrics(call { gt_ids = { { 1 }, { 2 ^ 31 } } }) end,
             name .. "gt_ids[2][1] is 2147483648, not a gallery id (1-based, below 2^31)")
    H.raises(function() local _ = R.calc_retrieval_metrics(call { gt_ids = { { 1, 4, 1 }, { 2 } } }) end,
             name .. "gt_ids of query 1 hold gallery id 1 twice")
    local ids = oml.tensor({ 1, 3 }, "int64")
    H.raises(function() local _ = R.calc_retrieval_metrics(call { gt_ids = { ids = ids } }) end,
             name .. "gt_ids.counts must be an int64 tensor (got nil)")
    H.raises(function() local _ = R.calc_retrieval_metrics(call { gt_ids = { ids = ids, counts = oml.tensor({ 2 }, "int64") } }) end,
             name .. "gt_ids.counts has 1 entries for 2 queries")
    H.raises(function() local _ = R.calc_retrieval_metrics(call { gt_ids = { ids = ids, counts = oml.tensor({ 3, -1 }, "int64") } }) end,
             name .. "gt_ids.counts[2] is negative (-1)")
    H.raises(function() local _ = R.calc_retrieval_metrics(call { gt_ids = { ids = ids, counts = oml.tensor({ 1, 2 }, "int64") } }) end,
             name .. "gt_ids.counts add up to 3 but gt_ids.ids has 2 entries")
    H.raises(function() local _ = R.calc_retrieval_metrics(call { gt_ids = { ids = oml.tensor({ 1, -3 }, "int64"), counts = oml.tensor({ 1, 1 }, "int64") } }) end,
             name .. "gt_ids.ids[2] is -3, not a gallery id (1-based, below 2^31)")
    H.raises(function() local _ = R.calc_retrieval_metrics(call { gt_ids = { ids = oml.tensor({ 1, 3 }), counts = oml.tensor({ 1, 1 }, "int64") } }) end,
             name .. "gt_ids.ids must be a 1-d int64 tensor (got a float32 tensor of size [2])")
  end)

  it("refuses top-k values that are not positive integers or exceed the ranks", function()
    for _, bad in ipairs { 0, -1, 1.5, "1" } do
      H.raises(function() local _ = R.calc_retrieval_metrics(call { precision_top_k = { 1, bad } }) end,
               name .. "precision_top_k must hold positive integers (entry 2 is " .. tostring(bad) .. ")")
    end
    H.raises(function() local _ = R.calc_retrieval_metrics(call { map_top_k = 5 }) end,
             name .. "map_top_k must be a list of positive integers (got number)")
    H.raises(function() local _ = R.calc_retrieval_metrics(call { ndcg_top_k = oml.tensor { 1 } }) end,
             name .. "ndcg_top_k must be a list of positive integers (got tensor)")
    H.raises(function() local _ = R.calc_retrieval_metrics(call { cmc_top_k = { 3 } }) end,
             name .. "cmc_top_k asks for k = 3 but retrieved_ids has 2 ranks; retrieve max(k) items")
  end)

  it("refuses bad fmr values and distances", function()
    local d = oml.zeros(2, 2)
    for _, bad in ipairs { -0.1, 1.5, 10, "0.1" } do
      H.raises(function() local _ = R.calc_retrieval_metrics(call { distances = d, fmr_vals = { 0.1, bad } }) end,
               name .. "fmr_vals must hold numbers in [0, 1] (entry 2 is " .. tostring(bad) .. ")")
    end
    H.raises(function() local _ = R.calc_retrieval_metrics(call { distances = d, fmr_vals = 0.1 }) end,
             name .. "fmr_vals must be a list of numbers in [0, 1] (got number)")
    H.raises(function() local _ = R.calc_retrieval_metrics(call { fmr_vals = { 0.1 } }) end,
             name .. "fmr_vals needs the distances of the retrieved items")
    H.raises(function() local _ = R.calc_retrieval_metrics(call { fmr_vals = { 0.1 }, distances = oml.zeros(2, 3) }) end,
             name .. "distances must be a float tensor of size [2,2] like retrieved_ids (got a float32 tensor of size [2,3])")
    H.raises(function() local _ = R.calc_retrieval_metrics(call { fmr_vals = { 0.1 }, distances = oml.zeros({ 2, 2 }, "int64") }) end,
             name .. "distances must be a float tensor of size [2,2] like retrieved_ids (got a int64 tensor of size [2,2])")
    H.raises(function() local _ = R.calc_retrieval_metrics(call { fmr_vals = { 0.1 }, distances = d, gt_ids = { { 1, 2 }, { 3 } } }) end,
             name .. "fnmr@fmr: no retrieved item is a negative, so there is no threshold")
  end)

  it("refuses bad query categories", function()
    H.raises(function() local _ = R.calc_retrieval_metrics(call { query_categories = { "a" } }) end,
             name .. "query_categories has 1 entries for 2 queries")
    H.raises(function() local _ = R.calc_retrieval_metrics(call { query_categories = { "a", true } }) end,
             name .. "query_categories[2] must be a number or a string (got boolean)")
    H.raises(function() local _ = R.calc_retrieval_metrics(call { query_categories = { "a", "OVERALL" } }) end,
             name .. "\"OVERALL\" is the key of all queries; rename that category")
    H.raises(function() local _ = R.calc_retrieval_metrics(call { query_categories = oml.zeros(2, 1) }) end,
             name .. "query_categories must be a 1-d tensor or a list (got a float32 tensor of size [2,1])")
    H.raises(function() local _ = R.calc_retrieval_metrics(call { query_categories = "ab" }) end,
             name .. "query_categories must be a list or a 1-d tensor (got string)")
  end)

  it("refuses bad arguments to calc_fnmr_at_fmr", function()
    local fname = "oml.retrieval.calc_fnmr_at_fmr: "
    local pos, neg = { 1, 2 }, { 3, 4 }
    H.raises(function() local _ = R.calc_fnmr_at_fmr(pos, neg, {}) end, fname .. "fmr_vals must not be empty")
    H.raises(function() local _ = R.calc_fnmr_at_fmr(pos, neg, { 0, -1 }) end,
             fname .. "fmr_vals must hold numbers in [0, 1] (entry 2 is -1)")
    H.raises(function() local _ = R.calc_fnmr_at_fmr(pos, neg, { 1.01 }) end,
             fname .. "fmr_vals must hold numbers in [0, 1] (entry 1 is 1.01)")
    H.raises(function() local _ = R.calc_fnmr_at_fmr(pos, neg, { nan }) end,
             fname .. "fmr_vals must hold numbers in [0, 1] (entry 1 is")
    H.raises(function() local _ = R.calc_fnmr_at_fmr(pos, {}, { 0.5 }) end,
             fname .. "neg_dist is empty: no quantile to take")
    H.raises(function() local _ = R.calc_fnmr_at_fmr(3, neg, { 0.5 }) end,
             fname .. "pos_dist must be a 1-d float tensor or a list (got number)")
    H.raises(function() local _ = R.calc_fnmr_at_fmr(pos, { 1, "2" }, { 0.5 }) end,
             fname .. "neg_dist[2] must be a number (got string)")
    H.raises(function() local _ = R.calc_fnmr_at_fmr(oml.zeros(2, 2), neg, { 0.5 }) end,
             fname .. "pos_dist must be a 1-d float tensor (got a float32 tensor of size [2,2])")
    H.raises(function() local _ = R.calc_fnmr_at_fmr(pos, oml.tensor({ 1 }, "int64"), { 0.5 }) end,
             fname .. "neg_dist must be a 1-d float tensor (got a int64 tensor of size [1])")
    H.raises(function() local _ = R.calc_fnmr_at_fmr(require("oml.tensor").new(), neg, { 0.5 }) end,
             fname .. "pos_dist is an unset tensor")
  end)

  it("refuses bad arguments to calc_pcf", function()
    local pname = "oml.retrieval.calc_pcf: "
    local x = oml.eye(4, 3)
    H.raises(function() local _ = R.calc_pcf({ { 1 } }, { 0.5 }) end, pname .. "embeddings must be a tensor (got table)")
    H.raises(function() local _ = R.calc_pcf(require("oml.tensor").new(), { 0.5 }) end,
             pname .. "embeddings is an unset tensor")
    H.raises(function() local _ = R.calc_pcf(oml.ones(4), { 0.5 }) end,
             pname .. "embeddings must be a 2-d float tensor [n, d] (got a float32 tensor of size [4])")
    H.raises(function() local _ = R.calc_pcf(oml.ones({ 2, 2 }, "int64"), { 0.5 }) end,
             pname .. "embeddings must be a 2-d float tensor [n, d] (got a int64 tensor of size [2,2])")
    H.raises(function() local _ = R.calc_pcf(oml.ones(0, 3), { 0.5 }) end,
             pname .. "embeddings are empty (a float32 tensor of size [0,3])")
    H.raises(function() local _ = R.calc_pcf(x, {}) end, pname .. "pcf_variance must not be empty")
    H.raises(function() local _ = R.calc_pcf(x, 0.5) end,
             pname .. "pcf_variance must be a list of numbers in [0, 1] (got number)")
    H.raises(function() local _ = R.calc_pcf(x, { 0.5, 2 }) end,
             pname .. "pcf_variance must hold numbers in [0, 1] (entry 2 is 2)")
  end)
end)
