-- Specs for oml.miners: the properties OML's own tests check
-- (tests/test_oml/test_miners), on fixed cases and on random ones.
local H = require "helper"
local oml = require "oml"
local miners = require "oml.miners"

-- The random cases come from Lua's own generator, seeded, so that a failure replays.
math.randomseed(4321)

-- Random labels: n_labels labels (at least 2), each 2..max_instances times, shuffled.
local function random_labels(n_labels, max_instances)
  local labels = {}
  for label = 1, n_labels do
    for _ = 1, math.random(2, max_instances) do labels[#labels + 1] = label * 10 end
  end
  return H.shuffle(labels)
end

local function random_features(n, dim)
  local rows = {}
  for i = 1, n do
    rows[i] = {}
    for k = 1, dim do rows[i][k] = math.random() * 2 - 1 end
  end
  return oml.tensor(rows, "float64"), rows
end

local function as_lists(a, p, n)
  for _, t in ipairs({ a, p, n }) do assert.are.equal("oml.LongTensor", t:type()) end
  return a:totable(), p:totable(), n:totable()
end

-- OML's check_triplets_consistency: a, p, n distinct, label(a) = label(p) ~=
-- label(n), and no triplet twice. Returns the set of triplets.
local function check_consistency(labels, a, p, n)
  assert.are.equal(#a, #p)
  assert.are.equal(#a, #n)
  local seen = {}
  for i = 1, #a do
    assert.is_true(a[i] ~= p[i] and a[i] ~= n[i] and p[i] ~= n[i])
    assert.are.equal(labels[a[i]], labels[p[i]])
    assert.are_not.equal(labels[a[i]], labels[n[i]])
    local key = a[i] .. "," .. p[i] .. "," .. n[i]
    assert.is_nil(seen[key])
    seen[key] = true
  end
  return seen
end

-- OML's calc_n_triplets: the sum over labels of 2 * C(n_c, 2) * (N - n_c).
local function n_all_triplets(labels)
  local counts = {}
  for _, l in ipairs(labels) do counts[l] = (counts[l] or 0) + 1 end
  local total = 0
  for _, c in pairs(counts) do total = total + 2 * (c * (c - 1) / 2) * (#labels - c) end
  return total
end

local distance = H.euclidean

local function set_size(set)
  local n = 0
  for _ in pairs(set) do n = n + 1 end
  return n
end

describe("AllTripletsMiner", function()
  it("gives every triplet, label by label", function()
    local a, p, n = as_lists(miners.AllTripletsMiner():sample(oml.zeros(4, 2), { 7, 3, 7, 3 }))
    -- label 3 first (anchors 2 and 4, negatives 1 and 3), then label 7.
    H.close(a, { 2, 2, 4, 4, 1, 1, 3, 3 })
    H.close(p, { 4, 4, 2, 2, 3, 3, 1, 1 })
    H.close(n, { 1, 3, 1, 3, 2, 4, 2, 4 })
  end)

  it("has OML's count and consistency on random batches", function()
    for _ = 1, 10 do
      local labels = random_labels(math.random(2, 6), 5)
      local features = random_features(#labels, 3)
      local a, p, n = as_lists(miners.AllTripletsMiner{}:sample(features, labels))
      check_consistency(labels, a, p, n)
      assert.are.equal(n_all_triplets(labels), #a)
    end
  end)

  it("takes labels as an int tensor and features as a float32 view", function()
    local a = miners.AllTripletsMiner():sample(oml.zeros(2, 5):t(), oml.tensor({ 1, 2, 1, 2, 2 }, "int32"))
    assert.are.equal(n_all_triplets({ 1, 2, 1, 2, 2 }), a:size(1))
  end)

  it("subsamples distinct triplets above max_output_triplets, reproducibly from its seed", function()
    local labels = random_labels(5, 6)
    local features = random_features(#labels, 2)
    local all = check_consistency(labels, as_lists(miners.AllTripletsMiner():sample(features, labels)))
    local cap = math.floor(n_all_triplets(labels) / 3)
    local miner = miners.AllTripletsMiner{ max_output_triplets = cap, seed = 5 }
    local a, p, n = as_lists(miner:sample(features, labels))
    assert.are.equal(cap, #a)
    for key in pairs(check_consistency(labels, a, p, n)) do assert.is_true(all[key]) end
    -- The same seed replays; the next call draws anew.
    local again = as_lists(miners.AllTripletsMiner{ max_output_triplets = cap, seed = 5 }:sample(features, labels))
    H.close(again, a)
    assert.are_not.same(a, (as_lists(miner:sample(features, labels))))
    -- A generator is drawn from as it goes; a cap above the count changes nothing.
    local g = oml.Generator(5)
    H.close(as_lists(miners.AllTripletsMiner{ max_output_triplets = cap, generator = g }:sample(features, labels)), a)
    local uncapped = miners.AllTripletsMiner{ max_output_triplets = n_all_triplets(labels) }
    assert.are.equal(n_all_triplets(labels), set_size(check_consistency(labels, as_lists(uncapped:sample(features, labels)))))
  end)

  it("covers the whole enumeration when it subsamples", function()
    -- A cap of count - 1 leaves exactly one triplet out.
    local labels = { 1, 2, 1, 3, 2, 3, 3 }
    local total = n_all_triplets(labels)
    local miner = miners.AllTripletsMiner{ max_output_triplets = total - 1, seed = 0 }
    local seen = check_consistency(labels, as_lists(miner:sample(oml.zeros(7, 1), labels)))
    assert.are.equal(total - 1, set_size(seen))
  end)
end)

describe("HardTripletsMiner", function()
  it("picks the farthest positive and the nearest negative", function()
    for _ = 1, 10 do
      local labels = random_labels(math.random(2, 5), 4)
      local features, rows = random_features(#labels, 4)
      local a, p, n = as_lists(miners.HardTripletsMiner():sample(features, labels))
      check_consistency(labels, a, p, n)
      assert.are.equal(#labels, #a)
      for i = 1, #labels do
        assert.are.equal(i, a[i])
        -- A naive scan, ties to the lower index.
        local best_p, best_n
        for j = 1, #labels do
          if j ~= i and labels[j] == labels[i] then
            if best_p == nil or distance(rows, i, j) > distance(rows, i, best_p) + 1e-12 then best_p = j end
          elseif labels[j] ~= labels[i] then
            if best_n == nil or distance(rows, i, j) < distance(rows, i, best_n) - 1e-12 then best_n = j end
          end
        end
        assert.are.equal(best_p, p[i])
        assert.are.equal(best_n, n[i])
      end
    end
  end)

  it("reads float32 and non-contiguous features", function()
    local labels = random_labels(4, 4)
    local features = random_features(#labels, 6)
    local a, p, n = as_lists(miners.HardTripletsMiner():sample(features, labels))
    local view = oml.tensor(features:t():totable(), "float32"):t()
    assert.is_false(view:is_contiguous())
    local va, vp, vn = as_lists(miners.HardTripletsMiner():sample(view, labels))
    H.close(va, a)
    H.close(vp, p)
    H.close(vn, n)
  end)

  it("breaks ties toward the lower index", function()
    -- All points equal: every distance ties.
    local a, p, n = as_lists(miners.HardTripletsMiner{}:sample(oml.ones(6, 3), { 1, 2, 1, 2, 1, 2 }))
    H.close(a, { 1, 2, 3, 4, 5, 6 })
    H.close(p, { 3, 4, 1, 2, 1, 2 })
    H.close(n, { 2, 1, 2, 1, 2, 1 })
  end)
end)

describe("NHardTripletsMiner", function()
  it("equals HardTripletsMiner with n_positive = n_negative = 1", function()
    for _ = 1, 5 do
      local labels = random_labels(math.random(2, 5), 5)
      local features = random_features(#labels, 3)
      local ha, hp, hn = as_lists(miners.HardTripletsMiner():sample(features, labels))
      local na, np, nn = as_lists(miners.NHardTripletsMiner{ n_positive = 1, n_negative = { 1, 1 } }:sample(features, labels))
      H.close(na, ha)
      H.close(np, hp)
      H.close(nn, hn)
    end
  end)

  it("equals AllTripletsMiner with huge counts", function()
    for _ = 1, 5 do
      local labels = random_labels(math.random(2, 5), 5)
      local features = random_features(#labels, 3)
      local all = check_consistency(labels, as_lists(miners.AllTripletsMiner():sample(features, labels)))
      local miner = miners.NHardTripletsMiner{ n_positive = 1000, n_negative = { 1, 1000 } }
      local nhard = check_consistency(labels, as_lists(miner:sample(features:float(), labels)))
      assert.are.same(all, nhard)
    end
  end)

  it("keeps the ranked positives and negatives of a range", function()
    local labels = random_labels(4, 6)
    local features, rows = random_features(#labels, 3)
    local miner = miners.NHardTripletsMiner{ n_positive = { 2, 3 }, n_negative = 2 }
    local a, p, n = as_lists(miner:sample(features, labels))
    check_consistency(labels, a, p, n)
    -- Each positive is the 2nd or 3rd farthest of its anchor's; each negative the 1st or 2nd nearest.
    local function rank(i, j, farthest)
      local r = 1
      for k = 1, #labels do
        local same = labels[k] == labels[i]
        if k ~= i and k ~= j and same == (labels[j] == labels[i]) then
          local dk, dj = distance(rows, i, k), distance(rows, i, j)
          if (farthest and dk > dj) or (not farthest and dk < dj) then r = r + 1 end
        end
      end
      return r
    end
    local expected = 0
    for i = 1, #labels do
      local n_pos = -1
      for _, l in ipairs(labels) do if l == labels[i] then n_pos = n_pos + 1 end end
      expected = expected + math.max(0, math.min(3, n_pos) - 1) * 2
    end
    assert.are.equal(expected, #a)
    for k = 1, #a do
      local rp, rn = rank(a[k], p[k], true), rank(a[k], n[k], false)
      assert.is_true(rp == 2 or rp == 3)
      assert.is_true(rn == 1 or rn == 2)
    end
  end)
end)

describe("HardClusterMiner", function()
  it("gives label means, the farthest sample and the nearest other mean", function()
    -- Three labels of three samples, interleaved.
    local features = oml.tensor({ { 0, 0 }, { 10, 0 }, { 0, 10 },
                                  { 3, 0 }, { 10, 1 }, { 1, 10 },
                                  { 0, 3 }, { 10, 5 }, { 2, 10 } }, "float32")
    local labels = { 1, 2, 3, 1, 2, 3, 1, 2, 3 }
    local anchors, positives, negatives = miners.HardClusterMiner():sample(features, labels)
    -- means {1, 1}, {10, 2}, {1, 10}; squared distances to them: label 1: 2, 5, 5
    -- (a tie: the lower index wins), label 2: 4, 1, 9, label 3: 1, 0, 1.
    H.close(anchors, { { 1, 1 }, { 10, 2 }, { 1, 10 } })
    H.close(positives, { { 3, 0 }, { 10, 5 }, { 0, 10 } })
    -- squared distances between means: 1-2: 82, 1-3: 81, 2-3: 145.
    H.close(negatives, { { 1, 10 }, { 1, 1 }, { 1, 1 } })
    assert.are.equal("oml.FloatTensor", anchors:type())
  end)

  it("has [n_labels, D] outputs for list and tensor labels", function()
    local a, p, n = miners.HardClusterMiner():sample(oml.rand(10, 32), { 1, 2, 3, 4, 5, 1, 2, 3, 4, 5 })
    for _, t in ipairs({ a, p, n }) do assert.are.same({ 5, 32 }, t:size()) end
    a = miners.HardClusterMiner():sample(oml.rand(16, 4):t(), oml.tensor({ 0, 0, 1, 1 }, "int64"))
    assert.are.same({ 2, 16 }, a:size())
  end)

  it("matches HardTripletsMiner when every label's samples coincide", function()
    local n_labels, n_instances, dim = 5, 3, 8
    local unique_rows = select(2, random_features(n_labels, dim))
    local rows, labels = {}, {}
    for _ = 1, n_instances do
      for label = 1, n_labels do
        rows[#rows + 1] = unique_rows[label]
        labels[#labels + 1] = label
      end
    end
    local features = oml.tensor(rows, "float64")
    local ca, cp, cn = miners.HardClusterMiner():sample(features, labels)
    local ha, hp, hn = as_lists(miners.HardTripletsMiner():sample(features, labels))
    for label = 1, n_labels do
      -- Anchor `label` (its first sample) gives the same vectors as the cluster triplet.
      H.close(ca:select(1, label), features:select(1, ha[label]), 1e-12)
      H.close(cp:select(1, label), features:select(1, hp[label]), 1e-12)
      H.close(cn:select(1, label), features:select(1, hn[label]), 1e-12)
    end
  end)
end)

describe("PairsMiner", function()
  -- OML's PairsMiner: the distinct unordered (a, p) and (a, n) pairs of the triplets.
  local function pairs_of_triplets(a, p, n)
    local positive, negative = {}, {}
    for i = 1, #a do
      positive[math.min(a[i], p[i]) .. "," .. math.max(a[i], p[i])] = true
      negative[math.min(a[i], n[i]) .. "," .. math.max(a[i], n[i])] = true
    end
    return positive, negative
  end

  local function check_pairs(miner, triplet_miner)
    for _ = 1, 5 do
      local labels = random_labels(math.random(2, 5), 4)
      local features = random_features(#labels, 3)
      local ids1, ids2, is_negative = miner:sample(features, labels)
      assert.are.equal("oml.LongTensor", ids1:type())
      assert.are.equal("oml.BoolTensor", is_negative:type())
      local positive, negative = pairs_of_triplets(as_lists(triplet_miner:sample(features, labels)))
      local x, y, flags = ids1:totable(), ids2:totable(), is_negative:totable()
      local got_positive, got_negative = {}, {}
      local last_key, last_flag = nil, false
      for i = 1, #x do
        assert.is_true(x[i] < y[i])
        assert.are.equal(flags[i], labels[x[i]] ~= labels[y[i]])
        -- positives first, each group ascending and without repeats
        assert.is_true(flags[i] or not last_flag)
        if last_flag == flags[i] and last_key then assert.is_true(last_key < x[i] * 1000 + y[i]) end
        last_key, last_flag = x[i] * 1000 + y[i], flags[i]
        local set = flags[i] and got_negative or got_positive
        set[x[i] .. "," .. y[i]] = true
      end
      assert.are.same(positive, got_positive)
      assert.are.same(negative, got_negative)
    end
  end

  it("takes apart the hard triplets", function()
    check_pairs(miners.PairsMiner(), miners.HardTripletsMiner())
  end)

  it("takes apart all triplets without hard mining: every pair", function()
    check_pairs(miners.PairsMiner{ hard_mining = false }, miners.AllTripletsMiner())
    local ids1, ids2, is_negative = miners.PairsMiner{ hard_mining = false }:sample(oml.zeros(4, 1), { 1, 2, 2, 1 })
    H.close(ids1, { 1, 2, 1, 1, 2, 3 })
    H.close(ids2, { 4, 3, 2, 3, 4, 4 })
    assert.are.same({ false, false, true, true, true, true }, is_negative:totable())
  end)
end)

describe("miners' errors", function()
  local features = oml.zeros(4, 2)
  local labels = { 1, 2, 1, 2 }
  local all_miners = {
    { "AllTripletsMiner", miners.AllTripletsMiner() },
    { "HardTripletsMiner", miners.HardTripletsMiner() },
    { "NHardTripletsMiner", miners.NHardTripletsMiner{ n_positive = 2 } },
    { "HardClusterMiner", miners.HardClusterMiner() },
    { "PairsMiner", miners.PairsMiner() },
    { "PairsMiner", miners.PairsMiner{ hard_mining = false } },
  }

  it("checks the batch in every miner", function()
    for _, case in ipairs(all_miners) do
      local name, miner = "oml.miners." .. case[1] .. ": ", case[2]
      H.raises(function() local _ = miner:sample(features, { 1, 1, 1, 1 }) end,
               name .. "the batch needs at least 2 labels (got 1)")
      H.raises(function() local _ = miner:sample(oml.zeros(5, 2), { 1, 2, 1, 2, 3 }) end,
               name .. "label 3 has 1 item; each label needs at least 2")
      H.raises(function() local _ = miner:sample(oml.zeros(3, 2), labels) end,
               name .. "features has 3 rows but there are 4 labels")
      H.raises(function() local _ = miner:sample(oml.zeros(4), labels) end,
               name .. "features must be a 2-D tensor [B, D]")
      H.raises(function() local _ = miner:sample(oml.zeros(4, 2, "int32"), labels) end,
               name .. "features must be float32 or float64")
      H.raises(function() local _ = miner:sample("x", labels) end, name .. "features must be a tensor (got string)")
      H.raises(function() local _ = miner:sample(features, { 1, 2, 1.5, 2 }) end,
               name .. "labels[3] must be an integer (got 1.5)")
      H.raises(function() local _ = miner:sample(features, { 1, 2, 1, 2, -1e300 }) end,
               name .. "label -1e+300 has 1 item; each label needs at least 2")
      H.raises(function() local _ = miner:sample(features, {}) end,
               name .. "the batch needs at least 2 labels (got 0)")
      H.raises(function() local _ = miner:sample(features, "abc") end,
               name .. "labels must be a list of integers (got string)")
      H.raises(function() local _ = miner:sample(features, oml.zeros(2, 2)) end,
               name .. "labels must be a 1-D tensor")
    end
  end)

  it("checks the constructors' arguments", function()
    H.raises(function() local _ = miners.AllTripletsMiner{ max_triplets = 3 } end,
             "oml.miners.AllTripletsMiner: unknown argument 'max_triplets'")
    H.raises(function() local _ = miners.AllTripletsMiner(3) end,
             "oml.miners.AllTripletsMiner: expects a table of named arguments (got number)")
    H.raises(function() local _ = miners.AllTripletsMiner{ max_output_triplets = 0 } end,
             "oml.miners.AllTripletsMiner: max_output_triplets must be a positive integer (got 0)")
    H.raises(function() local _ = miners.AllTripletsMiner{ seed = 1, generator = oml.Generator(1) } end,
             "oml.miners.AllTripletsMiner: give a seed or a generator, not both")
    H.raises(function() local _ = miners.AllTripletsMiner{ seed = 0.5 } end,
             "oml.miners.AllTripletsMiner: seed must be an integer (got 0.5)")
    H.raises(function() local _ = miners.AllTripletsMiner{ generator = {} } end,
             "oml.miners.AllTripletsMiner: generator must be an oml.Generator (got table)")
    H.raises(function() local _ = miners.HardTripletsMiner{ n_positive = 1 } end,
             "oml.miners.HardTripletsMiner: unknown argument 'n_positive'")
    H.raises(function() local _ = miners.PairsMiner{ hard_mining = 1 } end,
             "oml.miners.PairsMiner: hard_mining must be a boolean (got 1)")
    H.raises(function() local _ = miners.HardClusterMiner{ margin = 1 } end,
             "oml.miners.HardClusterMiner: unknown argument 'margin'")
    H.raises(function() local _ = miners.NHardTripletsMiner{ n_positive = 0 } end,
             "oml.miners.NHardTripletsMiner: n_positive must be >= 1 (got 0)")
    H.raises(function() local _ = miners.NHardTripletsMiner{ n_negative = { 3, 2 } } end,
             "oml.miners.NHardTripletsMiner: n_negative must be a range {first, last} with 1 <= first <= last (got {3, 2})")
    H.raises(function() local _ = miners.NHardTripletsMiner{ n_negative = { 0, 2 } } end,
             "oml.miners.NHardTripletsMiner: n_negative must be a range {first, last} with 1 <= first <= last (got {0, 2})")
    H.raises(function() local _ = miners.NHardTripletsMiner{ n_positive = -1e300 } end,
             "oml.miners.NHardTripletsMiner: n_positive must be >= 1 (got -1e+300)")
    H.raises(function() local _ = miners.NHardTripletsMiner{ n_positive = "2" } end,
             "oml.miners.NHardTripletsMiner: n_positive must be an integer or a range {first, last}")
    H.raises(function() local _ = miners.NHardTripletsMiner{ n_positive = { 1, 2, 3 } } end,
             "oml.miners.NHardTripletsMiner: n_positive must be an integer or a range {first, last}")
  end)

  it("needs equal label counts in HardClusterMiner", function()
    H.raises(function() local _ = miners.HardClusterMiner():sample(oml.zeros(5, 2), { 1, 2, 1, 2, 2 }) end,
             "oml.miners.HardClusterMiner: every label needs the same number of samples (label 1 has 2, label 2 has 3)")
  end)
end)
