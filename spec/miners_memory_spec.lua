-- Specs for the memory-bank miners of oml.miners (TripletMinerWithMemory,
-- MinerWithBank) and TripletLossWithMiner over them: the checks of OML's
-- tests/test_oml/test_miners/test_cross_batch.py, test_miner_with_bank.py
-- and test_losses/test_logs_for_triplet_with_bank.py.
local H = require "helper"
local J = require "jacobian"
local oml = require "oml"
local nn = oml.nn
local miners = oml.miners
local losses = oml.losses

math.randomseed(777)

-- Batches as OML's BalanceBatchSampler gives them: per epoch, the labels
-- 0 .. n_labels - 1 shuffled and taken p at a time, k rows each.
local function balanced_batches(n_labels, p, k, epochs)
  local batches = {}
  for _ = 1, epochs do
    local order = {}
    for label = 0, n_labels - 1 do order[#order + 1] = label end
    H.shuffle(order)
    for first = 1, n_labels - p + 1, p do
      local labels = {}
      for i = first, first + p - 1 do
        for _ = 1, k do labels[#labels + 1] = order[i] end
      end
      batches[#batches + 1] = H.shuffle(labels)
    end
  end
  return batches
end

-- OML's IdealOneHotModel with a shift: one-hot at column label + shift.
local function one_hot(labels, dim, shift)
  local x = oml.zeros(#labels, dim)
  for i, label in ipairs(labels) do x[{ i, label + shift + 1 }] = 1 end
  return x
end

describe("oml.miners.TripletMinerWithMemory", function()
  -- p labels of k rows: p (p - 1) (k - 1) k^2 triplets in the batch
  local function n_batch_triplets(p, k) return p * (p - 1) * (k - 1) * k * k end

  it("returns tri_expand_k times the batch's triplets, all consistent (OML's test_mining_with_memory)", function()
    for _, case in ipairs { { 60, 2, 8, 5, 3 }, { 50, 10, 4, 20, 5 }, { 50, 10, 4, 5, 1 } } do
      local n_labels, p, k, bank_batches, expand = unpack(case)
      local shift = expand + p * k + 5   -- clear of the bank's initial one-hot columns
      local miner = miners.TripletMinerWithMemory { bank_size_in_batches = bank_batches, tri_expand_k = expand,
                                                    seed = 11 }
      local batches = balanced_batches(n_labels, p, k, 2)
      for step, labels in ipairs(batches) do
        local x = one_hot(labels, shift + n_labels, shift)
        local a, pos, neg, pool, is_original = miner:sample(x, labels)
        assert.are.equal(#labels * (bank_batches + 1), pool:size(1))
        assert.are.equal(n_batch_triplets(p, k), is_original:sum():item())
        local wanted = expand * n_batch_triplets(p, k)
        -- in the first epoch no bank label can meet the batch's
        if step <= #batches / 2 or expand == 1 then
          assert.are.equal(wanted, a:numel())
        else
          assert.is_true(a:numel() > 0.9 * wanted)
        end
        local la, lp, ln = pool:index_select(1, a):argmax(2), pool:index_select(1, pos):argmax(2),
                           pool:index_select(1, neg):argmax(2)
        assert.is_true(la:eq(lp):all():item())
        assert.is_true(la:ne(ln):all():item())
        -- the batch's own triplets index the batch only
        local original = a:masked_select(is_original):maximum(pos:masked_select(is_original))
        assert.is_true(original:le(#labels):all():item())
      end
    end
  end)

  it("fills the bank as a ring, a batch at a time", function()
    local miner = miners.TripletMinerWithMemory { bank_size_in_batches = 2, tri_expand_k = 2, seed = 1 }
    local first, second, third = { 0, 0, 1, 1 }, { 2, 2, 3, 3 }, { 4, 4, 5, 5 }
    miner:sample(oml.full({ 4, 3 }, 1), first)
    assert.same({ 0, 0, 1, 1, -1, -2, -3, -4 }, miner.bank_labels)
    miner:sample(oml.full({ 4, 3 }, 2), second)
    local _, _, _, pool = miner:sample(oml.full({ 4, 3 }, 3), third)
    assert.same({ 4, 4, 5, 5, 2, 2, 3, 3 }, miner.bank_labels)
    H.close(pool:select(2, 1), { 3, 3, 3, 3, 1, 1, 1, 1, 2, 2, 2, 2 })
  end)

  it("names itself in errors", function()
    H.raises(function() local _ = miners.TripletMinerWithMemory { bank_size_in_batches = 0 } end,
             "oml.miners.TripletMinerWithMemory: bank_size_in_batches must be a positive integer (got 0)")
    H.raises(function() local _ = miners.TripletMinerWithMemory { bank_size_in_batches = 2, tri_expand_k = 0.5 } end,
             "oml.miners.TripletMinerWithMemory: tri_expand_k must be a positive integer (got 0.5)")
    local miner = miners.TripletMinerWithMemory { bank_size_in_batches = 2, tri_expand_k = 2 }
    miner:sample(oml.zeros(4, 3), { 0, 0, 1, 1 })
    H.raises(function() local _ = miner:sample(oml.zeros(6, 3), { 0, 0, 1, 1, 2, 2 }) end,
             "oml.miners.TripletMinerWithMemory: the batch has 6 rows but the bank was made for batches of 4")
    H.raises(function() local _ = miner:sample(oml.zeros(4, 5), { 0, 0, 1, 1 }) end,
             "oml.miners.TripletMinerWithMemory: features are a float32 tensor of size [4,5] but the bank holds")
    H.raises(function() local _ = miner:sample(oml.zeros(4, 3), { 0, 0, 0, 1 }) end,
             "oml.miners.TripletMinerWithMemory: label 1 has 1 item")
  end)
end)

describe("oml.miners.MinerWithBank", function()
  -- triplets as strings of their feature rows, to compare across pools
  local function triplet_keys(pool, a, p, n)
    local rows, keys = pool:totable(), {}
    local function key(i) return table.concat(rows[i], ",") end
    a, p, n = a:totable(), p:totable(), n:totable()
    for t = 1, #a do keys[#keys + 1] = key(a[t]) .. "|" .. key(p[t]) .. "|" .. key(n[t]) end
    table.sort(keys)
    return keys
  end

  it("mines as the n-hard miner over the batch and the last batches, anchors from the batch (OML's test)", function()
    for _, case in ipairs { { 1, 2, 3 }, { 3, 5, 6 }, { 3, 2, 3 } } do
      local bank_batches, n_labels, k = unpack(case)
      local inner = miners.NHardTripletsMiner { n_positive = 2, n_negative = 3 }
      local miner = miners.MinerWithBank { bank_size_in_batches = bank_batches, miner = inner, need_logs = false }
      local seen = {}
      for step = 1, 7 do
        local labels = {}
        local offset = math.random(0, n_labels)
        for l = 1, n_labels do
          for _ = 1, k do labels[#labels + 1] = l + offset end
        end
        local x = oml.randn(#labels, 5, { dtype = "float64" })
        seen[step] = { x = x, labels = labels }
        local a, p, n, pool = miner:sample(x, labels)
        -- the reference: the n-hard miner over the batch and the bank's batches
        local parts, all_labels = { x }, {}
        for _, l in ipairs(labels) do all_labels[#all_labels + 1] = l end
        if step > bank_batches then
          for back = step - bank_batches, step - 1 do
            parts[#parts + 1] = seen[back].x
            for _, l in ipairs(seen[back].labels) do all_labels[#all_labels + 1] = l end
          end
        end
        local union = oml.cat(parts, 1)
        local ra, rp, rn = inner:sample(union, all_labels)
        local keep = ra:le(#labels)
        assert.same(triplet_keys(union, ra:masked_select(keep), rp:masked_select(keep), rn:masked_select(keep)),
                    triplet_keys(pool, a, p, n))
        assert.is_true(a:le(#labels):all():item())
      end
    end
  end)

  it("logs where the positives and negatives come from", function()
    local miner = miners.MinerWithBank { bank_size_in_batches = 1, miner = miners.HardTripletsMiner() }
    local labels = { 0, 0, 1, 1 }
    miner:sample(oml.randn(4, 3), labels)
    H.close(miner.last_logs.positives_from_bank, 0)
    H.close(miner.last_logs.positives_from_batch, 1)
    miner:sample(oml.randn(4, 3), labels)
    H.close(miner.last_logs.positives_from_bank + miner.last_logs.positives_from_batch, 1)
    H.close(miner.last_logs.negatives_from_bank + miner.last_logs.negatives_from_batch, 1)
  end)

  it("names itself in errors", function()
    H.raises(function() local _ = miners.MinerWithBank { bank_size_in_batches = 1, miner = miners.AllTripletsMiner() } end,
             "oml.miners.MinerWithBank: miner must be an NHardTripletsMiner or a HardTripletsMiner")
    H.raises(function() local _ = miners.MinerWithBank { bank_size_in_batches = -1, miner = miners.HardTripletsMiner() } end,
             "oml.miners.MinerWithBank: bank_size_in_batches must be a positive integer (got -1)")
  end)
end)

-- A criterion that puts the miner's bank back as it was before each
-- forward, so that finite differences see one bank (forward writes into it).
local Replay = nn.class("Replay", nn.Criterion)
function Replay:__init(inner)
  nn.Criterion.__init(self)
  self.inner, self.miner = inner, inner.miner
  self.bank = { features = self.miner.bank_features:clone(), labels = { unpack(self.miner.bank_labels) },
                ptr = self.miner.ptr, is_accumulated = self.miner.is_accumulated }
end
function Replay:forward(x, labels)
  self.miner.bank_features:copy_(self.bank.features)
  self.miner.bank_labels = { unpack(self.bank.labels) }
  self.miner.ptr, self.miner.is_accumulated = self.bank.ptr, self.bank.is_accumulated
  return self.inner:forward(x, labels)
end
function Replay:backward(x, labels) return self.inner:backward(x, labels) end

describe("oml.losses.TripletLossWithMiner with a memory bank", function()
  it("splits its logs into the batch's triplets and the bank's (OML's test_logs_for_triplet_with_bank)", function()
    local expand = 2
    local miner = miners.TripletMinerWithMemory { bank_size_in_batches = 3, tri_expand_k = expand }
    local loss = losses.TripletLossWithMiner { margin = 0.1, miner = miner, need_logs = true }
    local labels = {}
    for label, count in pairs { [0] = 4, 3, 6, 2 } do
      for _ = 1, count do labels[#labels + 1] = label end
    end
    loss:forward(oml.rand(#labels, 16), oml.tensor(labels, "int64"))
    local logs = loss.last_logs
    local n_orig = 2 * (6 * 11 + 3 * 12 + 15 * 9 + 1 * 13)   -- sum of 2 C(n_c, 2) (N - n_c)
    local wo, wb = n_orig / (expand * n_orig), (expand - 1) * n_orig / (expand * n_orig)
    H.close(wb * logs.bank_active_tri + wo * logs.orig_active_tri, logs.active_tri, 1e-6)
    H.close(wb * logs.pos_dist_bank + wo * logs.pos_dist_orig, logs.pos_dist, 1e-6)
    H.close(wb * logs.neg_dist_bank + wo * logs.neg_dist_orig, logs.neg_dist, 1e-6)
  end)

  it("sends gradient to the batch only, as finite differences say", function()
    local labels = { 0, 0, 1, 1, 2, 2 }
    for _, make in ipairs {
      function() return miners.TripletMinerWithMemory { bank_size_in_batches = 2, tri_expand_k = 3 } end,
      function() return miners.MinerWithBank { bank_size_in_batches = 1,
                                               miner = miners.NHardTripletsMiner { n_positive = 2, n_negative = 2 } } end,
    } do
      for _, margin in ipairs { 0.8, false } do
        local miner = make()
        local loss = losses.TripletLossWithMiner { margin = margin or nil, miner = miner }
        -- two batches fill the bank with real rows first
        for _ = 1, 2 do loss:forward(oml.randn(6, 3, { dtype = "float64" }), labels) end
        J.check_criterion(Replay(loss), oml.randn(6, 3, { dtype = "float64" }), labels)
      end
    end
  end)
end)
