-- Specs for oml.samplers: the properties OML's own tests check
-- (tests/test_oml/test_samplers), on fixed cases and on random ones.
local H = require "helper"
local oml = require "oml"
local samplers = require "oml.samplers"

-- The random cases come from Lua's own generator, seeded, so that a failure replays.
math.randomseed(1234)

local function collect(sampler)
  local out = {}
  for batch in sampler:batches() do out[#out + 1] = batch end
  return out
end

local function count(list)
  local counts, distinct = {}, 0
  for _, x in ipairs(list) do
    if counts[x] == nil then distinct = distinct + 1 end
    counts[x] = (counts[x] or 0) + 1
  end
  return counts, distinct
end

local function labels_of(batch, labels)
  local out = {}
  for i, index in ipairs(batch) do out[i] = labels[index] end
  return out
end

local shuffle = H.shuffle

-- Labels 0..n_labels-1, each with a random number of items in [2, max_items], shuffled.
local function random_labels(n_labels, max_items)
  local labels = {}
  for label = 0, n_labels - 1 do
    for _ = 1, math.random(2, max_items) do labels[#labels + 1] = label end
  end
  return shuffle(labels)
end

-- A batch's items of one label: n_instances of them, distinct when the
-- class has that many, else every item of the class (then repeats).
local function check_instances(batch, labels, label, n_instances, sizes)
  local indices = {}
  for _, index in ipairs(batch) do
    assert(index >= 1 and index <= #labels and index == math.floor(index))
    if labels[index] == label then indices[#indices + 1] = index end
  end
  local _, distinct = count(indices)
  assert.are.equal(math.min(sizes[label], n_instances), distinct)
end

describe("oml.samplers.BalanceSampler", function()
  local function check_epoch(sampler, labels, n_labels, n_instances)
    local sizes, n_unique = count(labels)
    local batches = collect(sampler)
    assert.are.equal(math.floor(n_unique / n_labels), #sampler)
    assert.are.equal(#sampler, sampler:length())
    assert.are.equal(#sampler, #batches)
    local seen = {}
    for _, batch in ipairs(batches) do
      assert.are.equal(n_labels * n_instances, #batch)
      local counts, distinct = count(labels_of(batch, labels))
      assert.are.equal(n_labels, distinct)
      for label, c in pairs(counts) do
        assert.are.equal(n_instances, c)
        assert.is_nil(seen[label], "a label came back within the epoch")
        seen[label] = true
        check_instances(batch, labels, label, n_instances, sizes)
      end
    end
  end

  it("keeps OML's invariants on OML's fixed cases", function()
    local cases = {
      { 0, 1, 2, 3, 0, 1, 2, 3 },
      { 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3 },
      { 0, 1, 2, 3, 4, 0, 1, 2, 3, 4 },
      { 0, 1, 2, 2, 1, 0, 1, 0, 2, 0, 1, 2 },
    }
    for i, labels in ipairs(cases) do
      local _, n_unique = count(labels)
      for n_labels = 2, n_unique do
        for n_instances = 2, 5 do
          local s = samplers.BalanceSampler{ labels = labels, n_labels = n_labels, n_instances = n_instances, seed = i }
          check_epoch(s, labels, n_labels, n_instances)
          check_epoch(s, labels, n_labels, n_instances)
        end
      end
    end
  end)

  it("keeps OML's invariants on random cases", function()
    for case = 1, 100 do
      local labels = random_labels(math.random(2, 22), 22)
      local _, n_unique = count(labels)
      local n_labels, n_instances = math.random(2, n_unique), math.random(2, #labels)
      local s = samplers.BalanceSampler{ labels = labels, n_labels = n_labels, n_instances = n_instances, seed = case }
      check_epoch(s, labels, n_labels, n_instances)
    end
  end)

  it("fills a small class with all its items, then repeats", function()
    local labels = { 1, 1, 2, 2, 2, 2, 2, 2 }
    local s = samplers.BalanceSampler{ labels = labels, n_labels = 2, n_instances = 5, seed = 0 }
    local batch = collect(s)[1]
    local counts = count(batch)
    assert.is_truthy(counts[1] and counts[2])
    assert.are.equal(5, counts[1] + counts[2])
    local _, labels_in_batch = count(labels_of(batch, labels))
    assert.are.equal(2, labels_in_batch)
    local large = {}
    for _, index in ipairs(batch) do
      if index > 2 then large[#large + 1] = index end
    end
    local _, distinct = count(large)
    assert.are.equal(5, distinct)
  end)

  it("drops the labels that do not fill a batch", function()
    local labels = random_labels(7, 4)
    local s = samplers.BalanceSampler{ labels = labels, n_labels = 3, n_instances = 2, seed = 0 }
    assert.are.equal(2, #s)
    local seen = 0
    for batch in s:batches() do
      local _, distinct = count(labels_of(batch, labels))
      seen = seen + distinct
    end
    assert.are.equal(6, seen)
  end)

  it("takes the labels as a tensor too", function()
    local labels = { 5, 5, 7, 7, 9, 9 }
    local s = samplers.BalanceSampler{ labels = oml.tensor(labels, "int64"), n_labels = 3, n_instances = 2, seed = 0 }
    check_epoch(s, labels, 3, 2)
  end)

  it("is reproducible from the seed, and differs between seeds and epochs", function()
    local labels = random_labels(20, 6)
    local function sampler(seed)
      return samplers.BalanceSampler{ labels = labels, n_labels = 4, n_instances = 3, seed = seed }
    end
    local a, b = sampler(7), sampler(7)
    local first = collect(a)
    assert.are.same(first, collect(b))
    assert.are_not.same(first, collect(sampler(8)))
    local second = collect(a)
    assert.are_not.same(first, second)
    assert.are.same(second, collect(b))
    a:set_epoch(1)
    assert.are.same(first, collect(a))
    a:set_epoch(2)
    assert.are.same(second, collect(a))
  end)

  it("draws from a generator, or from the default generator", function()
    local labels = random_labels(10, 5)
    local function sampler(generator)
      return samplers.BalanceSampler{ labels = labels, n_labels = 2, n_instances = 2, generator = generator }
    end
    local a, b = sampler(oml.Generator(3)), sampler(oml.Generator(3))
    local first = collect(a)
    assert.are.same(first, collect(b))
    assert.are_not.same(first, collect(a))
    local d = sampler()
    oml.manual_seed(11)
    local from_default = collect(d)
    oml.manual_seed(11)
    assert.are.same(from_default, collect(d))
    assert.are_not.same(from_default, collect(d))
  end)

  it("raises on inconsistent arguments", function()
    local name = "oml.samplers.BalanceSampler: "
    local labels = { 1, 1, 2, 2, 3, 3 }
    local function new(args) local _ = samplers.BalanceSampler(args) end
    local function with(changes)
      local args = { labels = labels, n_labels = 2, n_instances = 2 }
      for k, v in pairs(changes) do args[k] = v end
      return args
    end
    H.raises(function() new(3) end, name .. "expects a table of named arguments (got number)")
    H.raises(function() new(with{ p = 2 }) end, name .. "unknown argument 'p'")
    H.raises(function() new(with{ labels = "x" }) end, name .. "labels must be a non-empty list of integers (got string)")
    H.raises(function() new(with{ labels = {} }) end,
             name .. "labels must be a non-empty list of integers (got an empty list)")
    H.raises(function() new(with{ labels = { 1, 1, 2.5, 2.5 } }) end, name .. "labels[3] must be an integer (got 2.5)")
    H.raises(function() new(with{ labels = oml.zeros(2, 2) }) end,
             name .. "labels must be a 1-D tensor (got a float32 tensor of size [2,2])")
    H.raises(function() new(with{ labels = { 1, 1, 2, 3, 3 } }) end,
             name .. "label 2 has 1 item; each label needs at least 2")
    H.raises(function() new(with{ n_labels = 1 }) end, name .. "n_labels must be > 1 (got 1)")
    H.raises(function() new(with{ n_labels = 4 }) end,
             name .. "n_labels must be <= the number of distinct labels, 3 (got 4)")
    H.raises(function() new(with{ n_labels = 2.5 }) end, name .. "n_labels must be an integer (got 2.5)")
    H.raises(function() new(with{ n_instances = 1 }) end, name .. "n_instances must be > 1 (got 1)")
    H.raises(function() new(with{ n_instances = "2" }) end, name .. "n_instances must be an integer (got 2)")
    H.raises(function() new(with{ seed = 1, generator = oml.Generator(1) }) end,
             name .. "give a seed or a generator, not both")
    H.raises(function() new(with{ seed = 0.5 }) end, name .. "seed must be an integer (got 0.5)")
    H.raises(function() new(with{ generator = 4 }) end, name .. "the generator must be an oml.Generator (got number)")
    local seeded = samplers.BalanceSampler(with{ seed = 1 })
    H.raises(function() seeded:set_epoch(-1) end, name:sub(1, -3) .. ".set_epoch: epoch must be >= 0 (got -1)")
    H.raises(function() seeded:set_epoch(1.5) end, name:sub(1, -3) .. ".set_epoch: epoch must be an integer (got 1.5)")
    local unseeded = samplers.BalanceSampler(with{})
    H.raises(function() unseeded:set_epoch(1) end, name:sub(1, -3) .. ".set_epoch: needs a sampler built with a seed")
  end)
end)

-- OML's generate_valid_categories_labels: 35..55 labels cut into categories
-- of at least p labels (or, for few = true, of 2..p-1 labels).
local function random_categories(few)
  local n_unique = math.random(35, 55)
  local p, k = math.random(3, 7), math.random(5, 10)
  local unique = {}
  for label = 0, n_unique - 1 do unique[#unique + 1] = label end
  shuffle(unique)
  local label2category, idx, cat = {}, 1, 0
  while idx <= n_unique do
    local new_idx = few and idx + math.random(2, p - 1) or idx + math.random(0, 5) + p
    local last = math.min(new_idx - 1, n_unique)
    -- a too short last segment joins the previous category
    if (few and last - idx + 1 == 1) or (not few and last - idx + 1 < p) then cat = cat - 1 end
    for i = idx, last do label2category[unique[i]] = cat end
    idx, cat = new_idx, cat + 1
  end
  local labels = {}
  for _, label in ipairs(unique) do
    for _ = 1, math.random(2, 20) do labels[#labels + 1] = label end
  end
  local categories = {}
  for _, c in pairs(label2category) do categories[c] = true end
  local n_categories = 0
  for _ in pairs(categories) do n_categories = n_categories + 1 end
  return shuffle(labels), label2category, math.random(1, n_categories), p, k
end

-- OML's check_category_balance_batch_sampler_epoch.
local function check_category_epoch(sampler, labels, label2category, c, p, k, resample, epoch_size)
  local batches = collect(sampler)
  assert.are.equal(epoch_size, #sampler)
  assert.are.equal(epoch_size, #batches)
  for _, batch in ipairs(batches) do
    assert.are.equal(c * p * k, #batch)
    local batch_labels = labels_of(batch, labels)
    local categories = {}
    for i, label in ipairs(batch_labels) do categories[i] = label2category[label] end
    local _, n_categories = count(categories)
    assert.are.equal(c, n_categories)
    local counts, distinct = count(batch_labels)
    if resample then
      assert.is_true(distinct <= c * p)
      for _, n in pairs(counts) do assert.is_true(n >= k and n % k == 0) end
    else
      assert.are.equal(c * p, distinct)
      for _, n in pairs(counts) do assert.are.equal(k, n) end
    end
  end
  return batches
end

local function distinct_count(list)
  local _, n = count(list)
  return n
end

describe("oml.samplers.CategoryBalanceSampler", function()
  local function new(labels, label2category, c, p, k, extra)
    local args = { labels = labels, label2category = label2category, n_categories = c, n_labels = p, n_instances = k }
    for key, v in pairs(extra or {}) do args[key] = v end
    return samplers.CategoryBalanceSampler(args)
  end

  it("keeps OML's invariants with enough labels, resampling or not", function()
    for case = 1, 50 do
      local labels, label2category, c, p, k = random_categories(false)
      local epoch_size = math.ceil(distinct_count(labels) / p)
      for _, resample in ipairs{ false, true } do
        local s = new(labels, label2category, c, p, k, { resample_labels = resample, seed = case })
        check_category_epoch(s, labels, label2category, c, p, k, false, epoch_size)
      end
    end
  end)

  it("keeps OML's invariants with too few labels in some categories, resampling", function()
    for case = 1, 50 do
      local labels, label2category, c, p, k = random_categories(true)
      local s = new(labels, label2category, c, p, k, { resample_labels = true, seed = case })
      check_category_epoch(s, labels, label2category, c, p, k, true, math.ceil(distinct_count(labels) / p))
    end
  end)

  it("weights the categories by their number of labels unless told not to", function()
    local labels, label2category = {}, {}
    for label = 1, 10 do
      labels[#labels + 1], labels[#labels + 2] = label, label
      label2category[label] = label <= 9 and "big" or "small"
    end
    local function share_of_small(weight)
      local s = new(labels, label2category, 1, 2, 2, { resample_labels = true, weight_categories = weight, seed = 0 })
      local small, total = 0, 0
      for _ = 1, 40 do
        for batch in s:batches() do
          total = total + 1
          if label2category[labels[batch[1]]] == "small" then small = small + 1 end
        end
      end
      return small / total
    end
    -- expected shares 0.1 and 0.5 over 200 batches
    assert.is_true(share_of_small(true) < 0.2)
    local even = share_of_small(false)
    assert.is_true(even > 0.35 and even < 0.65)
  end)

  it("is reproducible from the seed, and differs between seeds and epochs", function()
    local labels, label2category, c, p, k = random_categories(false)
    local a = new(labels, label2category, c, p, k, { seed = 1 })
    local first = collect(a)
    assert.are.same(first, collect(new(labels, label2category, c, p, k, { seed = 1 })))
    assert.are_not.same(first, collect(new(labels, label2category, c, p, k, { seed = 2 })))
    assert.are_not.same(first, collect(a))
    a:set_epoch(1)
    assert.are.same(first, collect(a))
  end)

  it("raises on inconsistent arguments", function()
    local name = "oml.samplers.CategoryBalanceSampler: "
    local labels = { 1, 1, 2, 2, 3, 3, 4, 4, 5, 5 }
    local mapping = { "a", "a", "b", "b", "b" }
    local function with(changes)
      local args = { labels = labels, label2category = mapping, n_categories = 2, n_labels = 2, n_instances = 2 }
      for key, v in pairs(changes) do args[key] = v end
      return function() local _ = samplers.CategoryBalanceSampler(args) end
    end
    H.raises(with{ c = 1 }, name .. "unknown argument 'c'")
    H.raises(with{ labels = { 1, 2, 2 } }, name .. "label 1 has 1 item; each label needs at least 2")
    H.raises(with{ label2category = 1 }, name .. "label2category must be a table label -> category (got number)")
    H.raises(with{ label2category = { "a", "a", "b", "b" } }, name .. "label 5 has no category in label2category")
    H.raises(with{ label2category = { "a", "a", "b", "b", "b", "b" } },
             name .. "label2category has label 6, which is not in labels")
    H.raises(with{ label2category = { "a", "a", "b", "b", {} } },
             name .. "the category of label 5 must be a number or a string (got table)")
    H.raises(with{ n_categories = 0 }, name .. "n_categories must be >= 1 (got 0)")
    H.raises(with{ n_categories = 3 }, name .. "n_categories must be <= 2 (got 3)")
    H.raises(with{ n_categories = "2" }, name .. "n_categories must be an integer (got 2)")
    H.raises(with{ n_labels = 1 }, name .. "n_labels must be > 1 (got 1)")
    H.raises(with{ n_labels = 6, resample_labels = true },
             name .. "n_labels must be <= the number of distinct labels, 5 (got 6)")
    H.raises(with{ n_instances = 1 }, name .. "n_instances must be > 1 (got 1)")
    H.raises(with{ n_labels = 3 }, name .. "category a has 2 labels; every category needs at least n_labels = 3")
    H.raises(with{ resample_labels = 1 }, name .. "resample_labels must be a boolean (got 1)")
    H.raises(with{ weight_categories = "yes" }, name .. "weight_categories must be a boolean (got yes)")
    local ok = samplers.CategoryBalanceSampler{ labels = labels, label2category = mapping, n_categories = 2,
                                                n_labels = 3, n_instances = 2, resample_labels = true }
    assert.are.equal(2, #ok)
  end)
end)

describe("oml.samplers.DistinctCategoryBalanceSampler", function()
  local function new(labels, label2category, c, p, k, epoch_size, seed)
    return samplers.DistinctCategoryBalanceSampler{ labels = labels, label2category = label2category, n_categories = c,
                                                   n_labels = p, n_instances = k, epoch_size = epoch_size, seed = seed }
  end

  -- Replays the bookkeeping of used labels: a category in a batch gives
  -- min(p, its unused labels) unused ones, and labels become unused again
  -- only when fewer than c categories have any left.
  local function check_distinct(batches, labels, label2category, c, p)
    local by_category = {}
    for label, category in pairs(label2category) do
      by_category[category] = by_category[category] or {}
      table.insert(by_category[category], label)
    end
    local used = {}
    local function unused_in(category)
      local n = 0
      for _, label in ipairs(by_category[category]) do
        if not used[label] then n = n + 1 end
      end
      return n
    end
    for _, batch in ipairs(batches) do
      local available = 0
      for category in pairs(by_category) do
        if unused_in(category) > 0 then available = available + 1 end
      end
      if available < c then used = {} end
      local fresh, in_batch = {}, {}
      for _, label in ipairs(labels_of(batch, labels)) do
        local category = label2category[label]
        if not in_batch[label] then
          in_batch[label] = true
          fresh[category] = fresh[category] or { new = 0, all = 0 }
          fresh[category].all = fresh[category].all + 1
          if not used[label] then fresh[category].new = fresh[category].new + 1 end
        end
      end
      for category, f in pairs(fresh) do
        assert.is_true(unused_in(category) > 0, "a category without unused labels was picked")
        assert.are.equal(math.min(p, unused_in(category)), f.new)
        assert.are.equal(p, f.all)
      end
      for label in pairs(in_batch) do used[label] = true end
    end
  end

  it("keeps OML's invariants and uses every label before reusing one", function()
    for case = 1, 50 do
      local labels, label2category, c, p, k = random_categories(false)
      local s = new(labels, label2category, c, p, k, 100, case)
      local batches = check_category_epoch(s, labels, label2category, c, p, k, false, 100)
      check_distinct(batches, labels, label2category, c, p)
    end
  end)

  it("tops a category up with used labels when its unused ones run short", function()
    -- category 1: labels 1, 2, 3; category 2: labels 4..7
    local labels = { 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7 }
    local mapping = { 1, 1, 1, 2, 2, 2, 2 }
    local s = new(labels, mapping, 1, 2, 2, 30, 4)
    local batches = check_category_epoch(s, labels, mapping, 1, 2, 2, false, 30)
    check_distinct(batches, labels, mapping, 1, 2)
  end)

  it("is reproducible from the seed, and differs between seeds and epochs", function()
    local labels, label2category, c, p, k = random_categories(false)
    local a = new(labels, label2category, c, p, k, 10, 1)
    local first = collect(a)
    assert.are.same(first, collect(new(labels, label2category, c, p, k, 10, 1)))
    assert.are_not.same(first, collect(new(labels, label2category, c, p, k, 10, 2)))
    assert.are_not.same(first, collect(a))
    a:set_epoch(1)
    assert.are.same(first, collect(a))
  end)

  it("raises on inconsistent arguments", function()
    local name = "oml.samplers.DistinctCategoryBalanceSampler: "
    -- OML's test_category_batch_sampler_resample_raises
    local labels = { 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5 }
    local mapping = { [0] = 0, 0, 0, 0, 1, 1 }
    local function with(changes)
      local args = { labels = labels, label2category = mapping, n_categories = 2, n_labels = 2, n_instances = 2,
                     epoch_size = 20 }
      for key, v in pairs(changes) do args[key] = v end
      return function() local _ = samplers.DistinctCategoryBalanceSampler(args) end
    end
    H.raises(with{ n_labels = 3 }, name .. "category 1 has 2 labels; every category needs at least n_labels = 3")
    H.raises(with{ resample_labels = true }, name .. "unknown argument 'resample_labels'")
    H.raises(with{ epoch_size = 0 }, name .. "epoch_size must be >= 1 (got 0)")
    H.raises(with{ epoch_size = 2.5 }, name .. "epoch_size must be an integer (got 2.5)")
    H.raises(function()
      local _ = samplers.DistinctCategoryBalanceSampler{ labels = labels, label2category = mapping, n_categories = 2,
                                                         n_labels = 2, n_instances = 2 }
    end, name .. "epoch_size must be an integer (got nil)")
    H.raises(with{ n_categories = 3 }, name .. "n_categories must be <= 2 (got 3)")
    H.raises(with{ n_labels = 1 }, name .. "n_labels must be > 1 (got 1)")
    H.raises(with{ n_instances = 0 }, name .. "n_instances must be > 1 (got 0)")
    H.raises(with{ label2category = { [0] = 0, 0, 0, 0, 1 } }, name .. "label 5 has no category in label2category")
  end)
end)

describe("oml.samplers.SequentialSampler and RandomSampler", function()
  it("gives 1..n in order, in batches", function()
    assert.are.same({ { 1 }, { 2 }, { 3 } }, collect(samplers.SequentialSampler{ n = 3 }))
    local s = samplers.SequentialSampler{ n = 5, batch_size = 2 }
    assert.are.equal(3, #s)
    assert.are.same({ { 1, 2 }, { 3, 4 }, { 5 } }, collect(s))
    local dropped = samplers.SequentialSampler{ n = 5, batch_size = 2, drop_last = true }
    assert.are.equal(2, #dropped)
    assert.are.same({ { 1, 2 }, { 3, 4 } }, collect(dropped))
    local empty = samplers.SequentialSampler{ n = 0 }
    assert.are.equal(0, #empty)
    assert.are.same({}, collect(empty))
  end)

  it("gives a seeded permutation of 1..n, new each epoch", function()
    local s = samplers.RandomSampler{ n = 50, batch_size = 8, seed = 3 }
    assert.are.equal(7, #s)
    local function flat(batches)
      local out = {}
      for _, batch in ipairs(batches) do
        for _, i in ipairs(batch) do out[#out + 1] = i end
      end
      return out
    end
    local first = collect(s)
    for b = 1, 6 do assert.are.equal(8, #first[b]) end
    assert.are.equal(2, #first[7])
    local order = flat(first)
    local sorted = {}
    for i, x in ipairs(order) do sorted[i] = x end
    table.sort(sorted)
    for i = 1, 50 do assert.are.equal(i, sorted[i]) end
    local second = collect(s)
    assert.are_not.same(first, second)
    assert.are.same(first, collect(samplers.RandomSampler{ n = 50, batch_size = 8, seed = 3 }))
    s:set_epoch(2)
    assert.are.same(second, collect(s))
    assert.are.equal(6, #samplers.RandomSampler{ n = 50, batch_size = 8, drop_last = true })
  end)

  it("raises on bad arguments", function()
    local name = "oml.samplers.RandomSampler: "
    H.raises(function() local _ = samplers.RandomSampler{ n = -1 } end, name .. "n must be >= 0 (got -1)")
    H.raises(function() local _ = samplers.RandomSampler{ n = 2, batch_size = 0 } end,
             name .. "batch_size must be >= 1 (got 0)")
    H.raises(function() local _ = samplers.SequentialSampler{ n = 2, drop_last = 1 } end,
             "oml.samplers.SequentialSampler: drop_last must be a boolean (got 1)")
    H.raises(function() local _ = samplers.SequentialSampler{ n = 2, shuffle = true } end,
             "oml.samplers.SequentialSampler: unknown argument 'shuffle'")
  end)
end)
