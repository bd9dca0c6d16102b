-- oml.miners: in-batch triplet miners with OML's semantics (oml/miners).
--   local miners = require "oml.miners"
--   local miner = miners.HardTripletsMiner{}
--   local anchors, positives, negatives = miner:sample(features, labels)
-- features is a float32/float64 [B, D] tensor, labels a list (or 1-D
-- tensor) of B integers with at least two labels, each at least twice. The
-- index miners return three int64 CPU tensors of 1-based batch indices; ties in
-- distance go to the lower index. HardClusterMiner returns vectors, as OML's;
-- PairsMiner returns pairs and their is_negative flags.
local ffi = require "ffi"
local T = require "oml.tensor"
local cdist = require("oml.ops.distance").functions.cdist
local random = require("oml.ops.random").functions
local creation = require("oml.ops.creation").methods
local join = require("oml.ops.join").functions

local raise = T.raise
local int64_ptr = ffi.typeof("int64_t *")
local generator_ct = ffi.typeof("oml_generator")
local data_ptr = { float32 = ffi.typeof("float *"), float64 = ffi.typeof("double *") }

local M = {}

-- ---- arguments -----------------------------------------------------------------

local function check_args(args, name, allowed)
  if args == nil then args = {} end
  if type(args) ~= "table" then raise(name, "expects a table of named arguments (got %s)", T.kind(args)) end
  for k in pairs(args) do
    if not allowed[k] then raise(name, "unknown argument '%s'", tostring(k)) end
  end
  return args
end

local function is_integer(x)
  return type(x) == "number" and x == math.floor(x) and math.abs(x) ~= math.huge
end

-- seed or generator (or neither: oml's default generator) for the draws.
local function generator_arg(args, name)
  if args.seed ~= nil and args.generator ~= nil then raise(name, "give a seed or a generator, not both") end
  if args.seed ~= nil then
    if not is_integer(args.seed) then raise(name, "seed must be an integer (got %s)", T.show(args.seed)) end
    return random.Generator(args.seed)
  end
  if args.generator ~= nil and not ffi.istype(generator_ct, args.generator) then
    raise(name, "generator must be an oml.Generator (got %s)", T.kind(args.generator))
  end
  return args.generator
end

-- labels -> the list of labels, the sorted distinct labels and, for each
-- label, the ascending list of its 1-based batch indices.
local function read_labels(labels, name)
  if T.is_tensor(labels) then
    if labels.ndim_ ~= 1 then raise(name, "labels must be a 1-D tensor (got %s)", T.show(labels)) end
    labels = labels:totable()
  end
  if type(labels) ~= "table" then raise(name, "labels must be a list of integers (got %s)", T.kind(labels)) end
  local members, unique = {}, {}
  for i, label in ipairs(labels) do
    if not is_integer(label) then raise(name, "labels[%d] must be an integer (got %s)", i, T.show(label)) end
    if members[label] == nil then
      members[label] = {}
      unique[#unique + 1] = label
    end
    table.insert(members[label], i)
  end
  table.sort(unique)
  if #unique < 2 then raise(name, "the batch needs at least 2 labels (got %d)", #unique) end
  for _, label in ipairs(unique) do
    if #members[label] < 2 then
      raise(name, "label %s has 1 item; each label needs at least 2", T.show(label))
    end
  end
  return labels, unique, members
end

local FLOAT32, FLOAT64, INT64, BOOL = T.dtype("float32"), T.dtype("float64"), T.dtype("int64"), T.dtype("bool")

local function check_features(features, n, name)
  T.expect_tensor(features, name, "features")
  if features.ndim_ ~= 2 then raise(name, "features must be a 2-D tensor [B, D] (got %s)", T.show(features)) end
  if features.dtype_ ~= FLOAT32 and features.dtype_ ~= FLOAT64 then
    raise(name, "features must be float32 or float64 (got %s)", T.show(features))
  end
  if tonumber(features.size_[0]) ~= n then
    raise(name, "features has %d rows but there are %d labels", tonumber(features.size_[0]), n)
  end
end

-- The values of a contiguous float32/float64 CPU tensor, 0-based.
local function values(t)
  return ffi.cast(t.dtype_ == FLOAT32 and data_ptr.float32 or data_ptr.float64, t.data_)
end

-- The euclidean distances between the rows of features, each row's batch
-- indices sorted nearest first and farthest first (in the engine), read
-- through nearest(i, k) and farthest(i, k): the k-th index for row i, all
-- 1-based. The sort is stable, so ties keep the lower index first either
-- way. The readers hold their tensors, so their memory lives as long.
local function distance_orders(features)
  local dist = cdist(features, features)
  local b = tonumber(dist.size_[0])
  local function reader(order)
    order = creation.cpu(order)
    local ptr = ffi.cast(int64_ptr, order.data_)
    return function(i, k)
      local _ = order
      return tonumber(ptr[(i - 1) * b + (k - 1)])
    end
  end
  return reader(dist:argsort(2, false)), reader(dist:argsort(2, true))
end

-- An int64 tensor from a Lua list.
local function index_tensor(list, name)
  local t = T.empty({ #list }, INT64, T.CPU, name)
  local ptr = ffi.cast(int64_ptr, t.data_)
  for i = 1, #list do ptr[i - 1] = list[i] end
  return t
end

local function index_tensors(a, p, n, name)
  return index_tensor(a, name), index_tensor(p, name), index_tensor(n, name)
end

-- The ascending batch indices whose label differs from `label`.
local function negatives_of(labels, label)
  local out = {}
  for i, l in ipairs(labels) do
    if l ~= label then out[#out + 1] = i end
  end
  return out
end

local function new_class()
  local class = {}
  class.__index = class
  return class
end

-- k distinct numbers of 0 .. total - 1, uniformly, in random order: Floyd's
-- sampling, O(k) however large total is. Each draw is a float64 in [0, 1)
-- (the bias of flooring u * j is below 2^-53 * total).
local function random_subset(g, total, k)
  local draws = random.rand(k, { dtype = "float64", generator = g })
  local u = ffi.cast("double *", draws.data_)
  local chosen, picks = {}, {}
  for i = 0, k - 1 do
    local j = total - k + i
    local pick = math.floor(u[i] * (j + 1))
    if chosen[pick] then pick = j end
    chosen[pick] = true
    picks[i + 1] = pick
  end
  local perm = random.randperm(k, { generator = g })
  local order = ffi.cast(int64_ptr, perm.data_)
  local out = {}
  for i = 1, k do out[i] = picks[tonumber(order[i - 1])] end
  return out
end

-- ---- AllTripletsMiner ----------------------------------------------------------

-- Every (a, p, n) with label(a) = label(p) ~= label(n) and a ~= p: per label
-- in ascending order, ordered pairs (a, p), then negatives ascending. Above
-- max_output_triplets, a uniform random subset of that many, in random order.
local AllTripletsMiner = new_class()

function M.AllTripletsMiner(args)
  local name = "oml.miners.AllTripletsMiner"
  args = check_args(args, name, { max_output_triplets = true, seed = true, generator = true })
  local cap = args.max_output_triplets or math.huge
  if cap ~= math.huge and (not is_integer(cap) or cap < 1) then
    raise(name, "max_output_triplets must be a positive integer (got %s)", T.show(cap))
  end
  return setmetatable({ max_output_triplets = cap, generator_ = generator_arg(args, name) }, AllTripletsMiner)
end

function AllTripletsMiner:sample(features, labels)
  local name = "oml.miners.AllTripletsMiner"
  local unique, members
  labels, unique, members = read_labels(labels, name)
  check_features(features, #labels, name)
  -- Blocks of the enumeration, one per label: triplet k (0-based) of a block
  -- is ordered pair k // #negatives (anchor-major), negative k % #negatives.
  local blocks, total = {}, 0
  for _, label in ipairs(unique) do
    local ids = members[label]
    local negs = negatives_of(labels, label)
    blocks[#blocks + 1] = { ids = ids, negs = negs, first = total }
    total = total + #ids * (#ids - 1) * #negs
  end
  -- Triplet k (0-based) of the enumeration; blocks found by bisection.
  local function triplet(k)
    local lo, hi = 1, #blocks
    while lo < hi do
      local mid = math.floor((lo + hi + 1) / 2)
      if blocks[mid].first <= k then lo = mid else hi = mid - 1 end
    end
    local block = blocks[lo]
    k = k - block.first
    local pair, neg = math.floor(k / #block.negs), k % #block.negs
    local ia, ip = math.floor(pair / (#block.ids - 1)), pair % (#block.ids - 1)
    if ip >= ia then ip = ip + 1 end
    return block.ids[ia + 1], block.ids[ip + 1], block.negs[neg + 1]
  end
  local a, p, n = {}, {}, {}
  if total <= self.max_output_triplets then
    for _, block in ipairs(blocks) do
      for _, anchor in ipairs(block.ids) do
        for _, positive in ipairs(block.ids) do
          if positive ~= anchor then
            for _, negative in ipairs(block.negs) do
              a[#a + 1], p[#p + 1], n[#n + 1] = anchor, positive, negative
            end
          end
        end
      end
    end
  else
    for i, k in ipairs(random_subset(self.generator_, total, self.max_output_triplets)) do
      a[i], p[i], n[i] = triplet(k)
    end
  end
  return index_tensors(a, p, n, name)
end

-- ---- NHardTripletsMiner --------------------------------------------------------

-- n: an integer k (the k hardest) or a 1-based inclusive range {first, last}.
local function parse_count(n, name, what)
  if is_integer(n) then
    if n < 1 then raise(name, "%s must be >= 1 (got %s)", what, T.show(n)) end
    return 1, n
  end
  if type(n) == "table" and #n == 2 and is_integer(n[1]) and is_integer(n[2]) then
    if n[1] < 1 or n[2] < n[1] then
      raise(name, "%s must be a range {first, last} with 1 <= first <= last (got {%s, %s})", what,
            T.show(n[1]), T.show(n[2]))
    end
    return n[1], n[2]
  end
  raise(name, "%s must be an integer or a range {first, last} (got %s)", what, T.show(n))
end

-- For each anchor, the positives ranked n_positive among the farthest and
-- the negatives ranked n_negative among the nearest, all their pairs
-- (positive-major, as OML's cartesian product).
local NHardTripletsMiner = new_class()

function M.NHardTripletsMiner(args)
  local name = "oml.miners.NHardTripletsMiner"
  args = check_args(args, name, { n_positive = true, n_negative = true })
  local miner = setmetatable({}, NHardTripletsMiner)
  miner.pos_first_, miner.pos_last_ = parse_count(args.n_positive or 1, name, "n_positive")
  miner.neg_first_, miner.neg_last_ = parse_count(args.n_negative or 1, name, "n_negative")
  return miner
end

-- The n-hard triplets as three Lua lists; only the first n_anchors rows
-- (default: all) are anchors (MinerWithBank's bank rows are not).
local function nhard_lists(miner, features, labels, name, n_anchors)
  labels = read_labels(labels, name)
  check_features(features, #labels, name)
  local nearest, farthest = distance_orders(features)
  local b = #labels
  local a, p, n = {}, {}, {}
  for anchor = 1, n_anchors or b do
    local label = labels[anchor]
    -- The ranked positives from pos_first_ to pos_last_, and the same for negatives.
    local pos, rank = {}, 0
    for k = 1, b do
      local id = farthest(anchor, k)
      if id ~= anchor and labels[id] == label then
        rank = rank + 1
        if rank > miner.pos_last_ then break end
        if rank >= miner.pos_first_ then pos[#pos + 1] = id end
      end
    end
    local neg = {}
    rank = 0
    for k = 1, b do
      local id = nearest(anchor, k)
      if labels[id] ~= label then
        rank = rank + 1
        if rank > miner.neg_last_ then break end
        if rank >= miner.neg_first_ then neg[#neg + 1] = id end
      end
    end
    for _, positive in ipairs(pos) do
      for _, negative in ipairs(neg) do
        a[#a + 1], p[#p + 1], n[#n + 1] = anchor, positive, negative
      end
    end
  end
  return a, p, n
end

local function nhard(miner, features, labels, name)
  local a, p, n = nhard_lists(miner, features, labels, name)
  return index_tensors(a, p, n, name)
end

function NHardTripletsMiner:sample(features, labels)
  return nhard(self, features, labels, "oml.miners.NHardTripletsMiner")
end

-- ---- HardTripletsMiner ---------------------------------------------------------

-- One triplet per anchor: its farthest positive and nearest negative.
local HardTripletsMiner = new_class()
local HARDEST = { pos_first_ = 1, pos_last_ = 1, neg_first_ = 1, neg_last_ = 1 }

function M.HardTripletsMiner(args)
  check_args(args, "oml.miners.HardTripletsMiner", {})
  return setmetatable({}, HardTripletsMiner)
end

function HardTripletsMiner.sample(_, features, labels)
  return nhard(HARDEST, features, labels, "oml.miners.HardTripletsMiner")
end

-- ---- PairsMiner ---------------------------------------------------------------

-- Pairs for pairwise models, as OML's PairsMiner takes them apart from
-- triplets: with hard_mining (the default) the unordered (anchor, positive)
-- and (anchor, negative) pairs of HardTripletsMiner, else those of
-- AllTripletsMiner, i.e. every pair of the batch. Returns ids1 < ids2 (int64)
-- and is_negative (bool): the positive pairs first, each group ascending.
local PairsMiner = new_class()

function M.PairsMiner(args)
  local name = "oml.miners.PairsMiner"
  args = check_args(args, name, { hard_mining = true })
  local hard = args.hard_mining
  if hard == nil then hard = true end
  if type(hard) ~= "boolean" then raise(name, "hard_mining must be a boolean (got %s)", T.show(hard)) end
  return setmetatable({ hard_mining = hard }, PairsMiner)
end

-- The distinct unordered pairs {x[i], y[i]} of indices below b, ascending,
-- as two lists.
local function distinct_pairs(x, y, b)
  local keys, seen = {}, {}
  for i = 1, #x do
    local key = math.min(x[i], y[i]) * b + math.max(x[i], y[i])
    if not seen[key] then
      seen[key] = true
      keys[#keys + 1] = key
    end
  end
  table.sort(keys)
  local first, second = {}, {}
  for i, key in ipairs(keys) do first[i], second[i] = math.floor(key / b), key % b end
  return first, second
end

function PairsMiner:sample(features, labels)
  local name = "oml.miners.PairsMiner"
  local pos1, pos2, neg1, neg2
  if self.hard_mining then
    local a, p, n = nhard_lists(HARDEST, features, labels, name)
    local b = tonumber(features.size_[0]) + 1
    pos1, pos2 = distinct_pairs(a, p, b)
    neg1, neg2 = distinct_pairs(a, n, b)
  else
    labels = read_labels(labels, name)
    check_features(features, #labels, name)
    pos1, pos2, neg1, neg2 = {}, {}, {}, {}
    for i = 1, #labels do
      for j = i + 1, #labels do
        if labels[i] == labels[j] then
          pos1[#pos1 + 1], pos2[#pos2 + 1] = i, j
        else
          neg1[#neg1 + 1], neg2[#neg2 + 1] = i, j
        end
      end
    end
  end
  local n_pos = #pos1
  for i = 1, #neg1 do pos1[n_pos + i], pos2[n_pos + i] = neg1[i], neg2[i] end
  local is_negative = T.empty({ #pos1 }, BOOL, T.CPU, name)
  local flags = ffi.cast("uint8_t *", is_negative.data_)
  for i = 1, #pos1 do flags[i - 1] = i > n_pos and 1 or 0 end
  return index_tensor(pos1, name), index_tensor(pos2, name), is_negative
end

-- ---- HardClusterMiner ----------------------------------------------------------

-- Per label (ascending): the anchor is the label's mean vector, the
-- positive its sample farthest from that mean, the negative the nearest
-- other label's mean. Returns three [n_labels, D] tensors (OML returns
-- vectors here, not indices); every label needs the same number of samples.
local HardClusterMiner = new_class()

function M.HardClusterMiner(args)
  check_args(args, "oml.miners.HardClusterMiner", {})
  return setmetatable({}, HardClusterMiner)
end

function HardClusterMiner.sample(_, features, labels)
  local name = "oml.miners.HardClusterMiner"
  local unique, members
  labels, unique, members = read_labels(labels, name)
  check_features(features, #labels, name)
  for _, label in ipairs(unique) do
    if #members[label] ~= #members[unique[1]] then
      raise(name, "every label needs the same number of samples (label %s has %d, label %s has %d)",
            T.show(unique[1]), #members[unique[1]], T.show(label), #members[label])
    end
  end
  -- Computed on the CPU (n_labels rows), returned on the features' device.
  local dtype = features.dtype_
  local x = creation.contiguous(creation.cpu(features))
  local xp = values(x)
  local dim, n_labels = tonumber(x.size_[1]), #unique
  local means = T.empty({ n_labels, dim }, dtype, T.CPU, name)
  local mp = values(means)
  local farthest = {}
  for c, label in ipairs(unique) do
    local ids = members[label]
    for k = 0, dim - 1 do
      local s = 0
      for _, i in ipairs(ids) do s = s + xp[(i - 1) * dim + k] end
      mp[(c - 1) * dim + k] = s / #ids
    end
    local best, best_d = ids[1], -1
    for _, i in ipairs(ids) do
      local s = 0
      for k = 0, dim - 1 do
        local diff = xp[(i - 1) * dim + k] - mp[(c - 1) * dim + k]
        s = s + diff * diff
      end
      if s > best_d then best, best_d = i, s end
    end
    farthest[c] = best
  end
  local between = cdist(means, means)
  local bp = values(between)
  local positives = T.empty({ n_labels, dim }, dtype, T.CPU, name)
  local negatives = T.empty({ n_labels, dim }, dtype, T.CPU, name)
  local pp, np = values(positives), values(negatives)
  for c = 1, n_labels do
    local nearest, nearest_d = nil, math.huge
    for o = 1, n_labels do
      local dd = bp[(c - 1) * n_labels + (o - 1)]
      if o ~= c and (nearest == nil or dd < nearest_d) then nearest, nearest_d = o, dd end
    end
    for k = 0, dim - 1 do
      pp[(c - 1) * dim + k] = xp[(farthest[c] - 1) * dim + k]
      np[(c - 1) * dim + k] = mp[(nearest - 1) * dim + k]
    end
  end
  local device = { device = features.device_ }
  return creation.to(means, device), creation.to(positives, device), creation.to(negatives, device)
end

-- ---- memory banks ---------------------------------------------------------------

-- The two miners below keep the features and labels of the last
-- bank_size_in_batches batches (a ring, filled one batch at a time, after
-- mining). sample(features, labels) returns index tensors into a pool, the
-- features followed by the bank as it was before this batch, and that pool:
--   anchors, positives, negatives, pool [, is_original]
-- (TripletLossWithMiner reads them so; the bank rows are copies, detached:
-- no gradient reaches them). Every batch must have the size of the first.

local function positive_count(value, name, what)
  if not is_integer(value) or value < 1 then
    raise(name, "%s must be a positive integer (got %s)", what, T.show(value))
  end
  return value
end

-- The bank's layout follows the first batch; later batches must match it.
local function check_bank_batch(miner, features, name)
  if miner.bank_features == nil then return end
  local b, dim = tonumber(features.size_[0]), tonumber(features.size_[1])
  if b ~= miner.batch_size then
    raise(name, "the batch has %d rows but the bank was made for batches of %d", b, miner.batch_size)
  end
  if dim ~= tonumber(miner.bank_features.size_[1]) or features.dtype_ ~= miner.bank_features.dtype_ then
    raise(name, "features are %s but the bank holds %s rows", T.show(features),
          T.show(miner.bank_features:select(1, 1)))
  end
end

-- The batch into the bank at the ring's pointer (0-based), which moves on.
local function update_bank(miner, features, labels)
  miner.bank_features:narrow(1, miner.ptr + 1, miner.batch_size):copy_(features)
  for i, label in ipairs(labels) do miner.bank_labels[miner.ptr + i] = label end
  miner.ptr = (miner.ptr + miner.batch_size) % miner.bank_size
end

-- A uniform integer in 0 .. m - 1.
local function draw_below(g, m)
  local u = random.rand(1, { dtype = "float64", generator = g })
  return math.floor(ffi.cast("double *", u.data_)[0] * m)
end

-- n uniform integers in 0 .. m - 1 (with replacement), as a Lua list.
local function draws_below(g, m, n)
  if n == 0 then return {} end
  local draws = random.rand(n, { dtype = "float64", generator = g })   -- kept while u is read
  local u = ffi.cast("double *", draws.data_)
  local out = {}
  for i = 1, n do out[i] = math.floor(u[i - 1] * m) end
  return out
end

-- OML's get_pos_pairs: the ordered pairs (i, j), i ~= j, of one label's
-- members: per pair of positions i < j, then the same pairs flipped.
local function add_pos_pairs(ids, first, second)
  local n0 = #first
  for x = 1, #ids do
    for y = x + 1, #ids do
      first[#first + 1], second[#second + 1] = ids[x], ids[y]
    end
  end
  for k = n0 + 1, #first do
    first[#first + 1], second[#second + 1] = second[k], first[k]
  end
end

-- ---- TripletMinerWithMemory ----------------------------------------------------

-- OML's cross-batch miner (oml/miners/cross_batch.py). Three parts, in this
-- order in the output:
--   3. anchor and positive from the batch (pairs drawn with replacement),
--      negative drawn from the bank;
--   2. anchor and positive from the bank (the pairs of randomly chosen bank
--      labels, a random subset), negative drawn from the batch;
--   1. every triplet of the batch (AllTripletsMiner's), is_original = true.
-- Parts 2 and 3 each aim at floor(n1 * (tri_expand_k - 1) / 2) triplets;
-- draws whose negative has the anchor's label are dropped. The bank starts
-- with labels -1 .. -B (each bank_size_in_batches times) and one-hot
-- features, as OML's; so labels should not be negative. Draws come from the
-- seed, the generator, or oml's default generator.
local TripletMinerWithMemory = new_class()

function M.TripletMinerWithMemory(args)
  local name = "oml.miners.TripletMinerWithMemory"
  args = check_args(args, name, { bank_size_in_batches = true, tri_expand_k = true, seed = true, generator = true })
  return setmetatable({
    bank_size_in_batches = positive_count(args.bank_size_in_batches, name, "bank_size_in_batches"),
    tri_expand_k = positive_count(args.tri_expand_k or 1, name, "tri_expand_k"),
    generator_ = generator_arg(args, name),
    ptr = 0,
  }, TripletMinerWithMemory)
end

-- OML's initial bank: labels -1, -2, ..., -B repeated, each row one-hot at
-- column min(|label|, D - 1) (0-based).
local function initial_bank(miner, features, name)
  local b, dim = tonumber(features.size_[0]), tonumber(features.size_[1])
  miner.batch_size, miner.bank_size = b, b * miner.bank_size_in_batches
  local bank = T.empty({ miner.bank_size, dim }, features.dtype_, T.CPU, name)
  creation.zero_(bank)
  local ptr = values(bank)
  miner.bank_labels = {}
  for row = 1, miner.bank_size do
    local label = -((row - 1) % b + 1)
    miner.bank_labels[row] = label
    ptr[(row - 1) * dim + math.min(-label, dim - 1)] = 1
  end
  miner.bank_features = creation.to(bank, { device = features.device_ })
end

function TripletMinerWithMemory:sample(features, labels)
  local name = "oml.miners.TripletMinerWithMemory"
  local unique, members
  labels, unique, members = read_labels(labels, name)
  check_features(features, #labels, name)
  check_bank_batch(self, features, name)
  if self.bank_features == nil then initial_bank(self, features, name) end
  local g, b, bank_labels = self.generator_, self.batch_size, self.bank_labels
  -- every ordered positive pair of the batch, label by label (ascending)
  local pos_a, pos_p = {}, {}
  for _, label in ipairs(unique) do add_pos_pairs(members[label], pos_a, pos_p) end

  local a, p, n = {}, {}, {}
  local function keep(anchor, positive, negative)
    a[#a + 1], p[#p + 1], n[#n + 1] = anchor, positive, negative
  end
  local n_batch = 0
  for k = 1, #pos_a do
    n_batch = n_batch + #labels - #members[labels[pos_a[k]]]
  end
  local n_bank = math.floor(n_batch * (self.tri_expand_k - 1) / 2)

  -- part 3: batch pairs, bank negatives
  local picks, negs = draws_below(g, #pos_a, n_bank), draws_below(g, self.bank_size, n_bank)
  for i = 1, n_bank do
    local anchor = pos_a[picks[i] + 1]
    if labels[anchor] ~= bank_labels[negs[i] + 1] then keep(anchor, pos_p[picks[i] + 1], b + negs[i] + 1) end
  end

  -- part 2: bank pairs of randomly chosen labels (those with two rows or
  -- more), a random n_bank of them, batch negatives
  local bank_members, bank_unique = {}, {}
  for row, label in ipairs(bank_labels) do
    if bank_members[label] == nil then
      bank_members[label] = {}
      bank_unique[#bank_unique + 1] = label
    end
    table.insert(bank_members[label], row)
  end
  table.sort(bank_unique)
  local pairable = {}
  for _, label in ipairs(bank_unique) do
    if #bank_members[label] >= 2 then pairable[#pairable + 1] = label end
  end
  local bank_a, bank_p = {}, {}
  while #bank_a < n_bank and #pairable > 0 do
    add_pos_pairs(bank_members[pairable[draw_below(g, #pairable) + 1]], bank_a, bank_p)
  end
  local taken = math.min(n_bank, #bank_a)
  if taken > 0 then
    local perm = random.randperm(#bank_a, { generator = g })   -- kept while order is read
    local order = ffi.cast(int64_ptr, perm.data_)
    negs = draws_below(g, b, taken)
    for i = 1, taken do
      local k = tonumber(order[i - 1])
      if bank_labels[bank_a[k]] ~= labels[negs[i] + 1] then keep(b + bank_a[k], b + bank_p[k], negs[i] + 1) end
    end
  end

  -- part 1: every triplet of the batch
  local n_extra = #a
  for k = 1, #pos_a do
    local label = labels[pos_a[k]]
    for negative, other in ipairs(labels) do
      if other ~= label then keep(pos_a[k], pos_p[k], negative) end
    end
  end

  local pool = join.cat({ features, self.bank_features }, 1)
  update_bank(self, features, labels)
  local is_original = T.empty({ #a }, BOOL, T.CPU, name)
  local flags = ffi.cast("uint8_t *", is_original.data_)
  for i = 1, #a do flags[i - 1] = i > n_extra and 1 or 0 end
  local ta, tp, tn = index_tensors(a, p, n, name)
  return ta, tp, tn, pool, is_original
end

-- ---- MinerWithBank -------------------------------------------------------------

-- OML's MinerWithBank (oml/miners/miner_with_bank.py): once the bank is
-- full, an NHardTripletsMiner (or HardTripletsMiner) mines the batch and the
-- bank together, with only the batch's rows as anchors; until then, the
-- batch alone. last_logs (need_logs, default true) averages over anchors the
-- distinct positives and negatives taken from the bank and from the batch.
local MinerWithBank = new_class()

function M.MinerWithBank(args)
  local name = "oml.miners.MinerWithBank"
  args = check_args(args, name, { bank_size_in_batches = true, miner = true, need_logs = true })
  local inner = args.miner
  local kind = getmetatable(inner)
  if kind ~= NHardTripletsMiner and kind ~= HardTripletsMiner then
    raise(name, "miner must be an NHardTripletsMiner or a HardTripletsMiner (got %s)", T.kind(inner))
  end
  local need_logs = args.need_logs
  if need_logs == nil then need_logs = true end
  if type(need_logs) ~= "boolean" then raise(name, "need_logs must be a boolean (got %s)", T.show(need_logs)) end
  return setmetatable({
    bank_size_in_batches = positive_count(args.bank_size_in_batches, name, "bank_size_in_batches"),
    miner = inner,
    ranks_ = kind == HardTripletsMiner and HARDEST or inner,
    need_logs = need_logs,
    is_accumulated = false,
    ptr = 0,
    last_logs = {},
  }, MinerWithBank)
end

-- OML's _prepare_logs: per anchor, its distinct positives and negatives
-- counted by origin (row > b: the bank), averaged over anchors.
local function bank_logs(a, p, n, b)
  local seen, per_anchor, anchors = {}, {}, {}
  local function note(anchor, kind, id)
    local key = anchor .. kind .. id
    if seen[key] then return end
    seen[key] = true
    local counts = per_anchor[anchor]
    local field = kind .. (id > b and "_from_bank" or "_from_batch")
    counts[field] = counts[field] + 1
  end
  for i = 1, #a do
    if per_anchor[a[i]] == nil then
      per_anchor[a[i]] = { positives_from_bank = 0, positives_from_batch = 0, negatives_from_bank = 0,
                           negatives_from_batch = 0 }
      anchors[#anchors + 1] = a[i]
    end
    note(a[i], "positives", p[i])
    note(a[i], "negatives", n[i])
  end
  local logs = {}
  for _, anchor in ipairs(anchors) do
    for field, count in pairs(per_anchor[anchor]) do logs[field] = (logs[field] or 0) + count / #anchors end
  end
  return logs
end

function MinerWithBank:sample(features, labels)
  local name = "oml.miners.MinerWithBank"
  labels = read_labels(labels, name)
  check_features(features, #labels, name)
  check_bank_batch(self, features, name)
  if self.bank_features == nil then
    local b = #labels
    self.batch_size, self.bank_size = b, b * self.bank_size_in_batches
    self.bank_features = T.empty({ self.bank_size, tonumber(features.size_[1]) }, features.dtype_,
                                 features.device_, name)
    self.bank_labels = {}
  end
  local pool, pool_labels = features, labels
  if self.is_accumulated then
    pool = join.cat({ features, self.bank_features }, 1)
    pool_labels = {}
    for i, label in ipairs(labels) do pool_labels[i] = label end
    for i, label in ipairs(self.bank_labels) do pool_labels[#labels + i] = label end
  end
  local a, p, n = nhard_lists(self.ranks_, pool, pool_labels, name, #labels)
  if self.need_logs then self.last_logs = bank_logs(a, p, n, #labels) end
  self.is_accumulated = self.is_accumulated or self.ptr + self.batch_size >= self.bank_size
  update_bank(self, features, labels)
  local ta, tp, tn = index_tensors(a, p, n, name)
  return ta, tp, tn, pool
end

return M
