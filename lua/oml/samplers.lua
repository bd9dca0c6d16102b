-- oml.samplers: batch samplers with OML's semantics (oml/samplers), drawing
-- from oml's Philox generator.
--   local s = oml.samplers.BalanceSampler{labels = labels, n_labels = 8, n_instances = 4, seed = 0}
--   for batch in s:batches() do ... end   -- batch: a list of 1-based dataset indices
--
-- Every sampler takes either `seed` (epoch e then draws from its own stream
-- of Generator(seed), so s:set_epoch(e) replays it), or `generator` (an
-- oml.Generator, drawn from as it goes), or neither (oml's default
-- generator, which oml.manual_seed seeds). Each s:batches() call is one
-- epoch; with a seed, epochs count from 1 and advance by one after each call.
local ffi = require "ffi"
local T = require "oml.tensor"
local random = require("oml.ops.random").functions

local raise = T.raise
local int64_ptr = ffi.typeof("int64_t *")
local uint64_ct = ffi.typeof("uint64_t")
local generator_ct = ffi.typeof("oml_generator")

-- Epoch e of a seeded sampler starts at counter block e * EPOCH_BLOCKS:
-- disjoint streams, since an epoch draws far fewer blocks.
local EPOCH_BLOCKS = 2 ^ 40

-- ---- drawing -------------------------------------------------------------------

-- A random order of the list items (a new list).
local function shuffled(g, items)
  local n = #items
  local out = {}
  if n == 0 then return out end
  local perm = random.randperm(n, { generator = g })
  local p = ffi.cast(int64_ptr, perm.data_)
  for i = 1, n do out[i] = items[tonumber(p[i - 1])] end
  return out
end

-- k items drawn uniformly with repetition.
local function with_repetition(g, items, k)
  local out = {}
  if k == 0 then return out end
  local draws = random.randint(1, #items + 1, { k }, { generator = g })
  local p = ffi.cast(int64_ptr, draws.data_)
  for i = 1, k do out[i] = items[tonumber(p[i - 1])] end
  return out
end

-- k of the items (k <= #items), distinct, in random order.
local function take(g, items, k)
  local order = shuffled(g, items)
  for i = #order, k + 1, -1 do order[i] = nil end
  return order
end

-- OML's smart_sample: k distinct items when there are enough; otherwise
-- every item once, then the rest drawn with repetition.
local function smart_sample(g, items, k)
  if #items >= k then return take(g, items, k) end
  local out = shuffled(g, items)
  for _, item in ipairs(with_repetition(g, items, k - #items)) do out[#out + 1] = item end
  return out
end

-- k of the items without repetition, item i picked with probability
-- proportional to weights[i] among those left (numpy's choice(replace=False, p=...)).
local function weighted_without_repetition(g, items, weights, k)
  local left, left_weights = {}, {}
  for i = 1, #items do left[i], left_weights[i] = items[i], weights[i] end
  -- a local keeps the tensor alive while its pointer is read (a temporary could be collected)
  local draws = random.rand(k, { dtype = "float64", generator = g })
  local u = ffi.cast("double *", draws.data_)
  local out = {}
  for draw = 1, k do
    local total = 0
    for i = 1, #left do total = total + left_weights[i] end
    local target, pick = u[draw - 1] * total, #left
    for i = 1, #left do
      target = target - left_weights[i]
      if target < 0 then pick = i; break end
    end
    out[draw] = table.remove(left, pick)
    table.remove(left_weights, pick)
  end
  return out
end

-- ---- arguments -----------------------------------------------------------------

local function check_args(args, name, allowed)
  if type(args) ~= "table" then raise(name, "expects a table of named arguments (got %s)", T.kind(args)) end
  for k in pairs(args) do
    if not allowed[k] then raise(name, "unknown argument '%s'", tostring(k)) end
  end
end

local function integer_arg(x, name, what)
  if type(x) ~= "number" or x ~= math.floor(x) or x ~= x or math.abs(x) == math.huge then
    raise(name, "%s must be an integer (got %s)", what, T.show(x))
  end
  return x
end

local function boolean_arg(x, default, name, what)
  if x == nil then return default end
  if type(x) ~= "boolean" then raise(name, "%s must be a boolean (got %s)", what, T.show(x)) end
  return x
end

-- Numbers sort before strings, each in their natural order.
local function key_less(a, b)
  local ta, tb = type(a), type(b)
  if ta ~= tb then return ta == "number" end
  return a < b
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, key_less)
  return keys
end

-- labels: a non-empty list (or 1-D tensor) of integers. Returns the sorted
-- distinct labels and, for each label, the list of its 1-based indices.
local function read_labels(labels, name)
  if T.is_tensor(labels) then
    if labels.ndim_ ~= 1 then raise(name, "labels must be a 1-D tensor (got %s)", T.show(labels)) end
    labels = labels:totable()
  end
  if type(labels) ~= "table" or #labels == 0 then
    raise(name, "labels must be a non-empty list of integers (got %s)",
          type(labels) == "table" and "an empty list" or T.kind(labels))
  end
  local indices = {}
  for i, label in ipairs(labels) do
    if type(label) ~= "number" or label ~= math.floor(label) then
      raise(name, "labels[%d] must be an integer (got %s)", i, T.show(label))
    end
    indices[label] = indices[label] or {}
    table.insert(indices[label], i)
  end
  local unique = sorted_keys(indices)
  for _, label in ipairs(unique) do
    if #indices[label] < 2 then
      raise(name, "label %s has 1 item; each label needs at least 2", tostring(label))
    end
  end
  return unique, indices
end

local function check_range(x, low, high, name, what)
  integer_arg(x, name, what)
  if x < low then raise(name, "%s must be >= %d (got %d)", what, low, x) end
  if x > high then raise(name, "%s must be <= %d (got %d)", what, high, x) end
  return x
end

-- label2category: a table label -> category that covers exactly the labels.
-- Returns the sorted categories and, for each, its sorted labels.
local function read_categories(label2category, unique, indices, name)
  if type(label2category) ~= "table" then
    raise(name, "label2category must be a table label -> category (got %s)", T.kind(label2category))
  end
  for _, label in ipairs(unique) do
    if label2category[label] == nil then raise(name, "label %s has no category in label2category", label) end
  end
  local category_labels = {}
  for _, label in ipairs(sorted_keys(label2category)) do
    if indices[label] == nil then
      raise(name, "label2category has label %s, which is not in labels", tostring(label))
    end
    local category = label2category[label]
    if type(category) ~= "number" and type(category) ~= "string" then
      raise(name, "the category of label %s must be a number or a string (got %s)", tostring(label), T.kind(category))
    end
    category_labels[category] = category_labels[category] or {}
    table.insert(category_labels[category], label)
  end
  return sorted_keys(category_labels), category_labels
end

local function check_labels_per_category(categories, category_labels, n_labels, name)
  for _, category in ipairs(categories) do
    if #category_labels[category] < n_labels then
      raise(name, "category %s has %d labels; every category needs at least n_labels = %d",
            tostring(category), #category_labels[category], n_labels)
    end
  end
end

-- ---- the common sampler --------------------------------------------------------

local Sampler = {}

-- A new sampler of class `class` with its seed or generator. The sampler
-- is a userdata proxy to its state table: LuaJIT ignores __len on tables.
local function new_sampler(class, args, name)
  if args.seed ~= nil and args.generator ~= nil then raise(name, "give a seed or a generator, not both") end
  local state = setmetatable({ name_ = name, epoch_ = 1 }, class)
  if args.seed ~= nil then
    state.seed_ = integer_arg(args.seed, name, "seed")
  elseif args.generator ~= nil then
    if not ffi.istype(generator_ct, args.generator) then
      raise(name, "the generator must be an oml.Generator (got %s)", T.kind(args.generator))
    end
    state.generator_ = args.generator
  else
    state.generator_ = T.C.oml_default_generator()
  end
  local s = newproxy(true)
  local mt = getmetatable(s)
  mt.__index, mt.__newindex = state, state
  mt.__len = function() return state.length_ end
  mt.__tostring = function() return ("%s (%d batches per epoch)"):format(name, state.length_) end
  return s
end

local function subclass()
  local class = setmetatable({}, { __index = Sampler })
  class.__index = class
  return class
end

-- The generator of the next epoch.
function Sampler:epoch_generator()
  if self.seed_ == nil then return self.generator_ end
  local g = random.Generator(self.seed_)
  g.offset_ = ffi.new(uint64_ct, self.epoch_) * EPOCH_BLOCKS
  self.epoch_ = self.epoch_ + 1
  return g
end

-- Batches per epoch.
function Sampler:length() return self.length_ end

-- The epoch the next s:batches() call draws (seeded samplers only).
function Sampler:set_epoch(epoch)
  if self.seed_ == nil then raise(self.name_ .. ".set_epoch", "needs a sampler built with a seed") end
  check_range(epoch, 0, 2 ^ 23, self.name_ .. ".set_epoch", "epoch")
  self.epoch_ = epoch
end

-- An iterator over one epoch's batches (lists of 1-based indices).
function Sampler:batches()
  local epoch = self:epoch_batches(self:epoch_generator())
  local i = 0
  return function()
    i = i + 1
    return epoch[i]
  end
end

-- ---- SequentialSampler, RandomSampler -----------------------------------------

local ORDER_ARGS = { n = true, batch_size = true, drop_last = true, seed = true, generator = true }

-- Indices 1..n in `order` cut into batches of batch_size.
local function cut(order, batch_size, length)
  local batches = {}
  for b = 1, length do
    local batch = {}
    for i = (b - 1) * batch_size + 1, math.min(b * batch_size, #order) do batch[#batch + 1] = order[i] end
    batches[b] = batch
  end
  return batches
end

local function order_sampler(class, args, name)
  check_args(args, name, ORDER_ARGS)
  local s = new_sampler(class, args, name)
  s.n_ = check_range(args.n, 0, 2 ^ 53, name, "n")
  s.batch_size_ = check_range(args.batch_size or 1, 1, 2 ^ 53, name, "batch_size")
  local drop_last = boolean_arg(args.drop_last, false, name, "drop_last")
  s.length_ = drop_last and math.floor(s.n_ / s.batch_size_) or math.ceil(s.n_ / s.batch_size_)
  return s
end

-- SequentialSampler{n [, batch_size = 1] [, drop_last = false]}: 1..n in order.
local SequentialSampler = subclass()

function SequentialSampler:epoch_batches()
  local order = {}
  for i = 1, self.n_ do order[i] = i end
  return cut(order, self.batch_size_, self.length_)
end

-- RandomSampler{n [, batch_size = 1] [, drop_last = false] [, seed | generator]}:
-- a fresh permutation of 1..n each epoch.
local RandomSampler = subclass()

function RandomSampler:epoch_batches(g)
  local order = {}
  for i = 1, self.n_ do order[i] = i end
  return cut(shuffled(g, order), self.batch_size_, self.length_)
end

-- ---- BalanceSampler ----------------------------------------------------------------

-- BalanceSampler{labels, n_labels, n_instances [, seed | generator]}: each
-- batch holds n_instances items of each of n_labels labels; a label appears
-- in at most one batch per epoch, and the floor(L / n_labels) batches leave
-- the L % n_labels remaining labels out.
local BalanceSampler = subclass()
local BALANCE_ARGS = { labels = true, n_labels = true, n_instances = true, seed = true, generator = true }

local function balance_sampler(args)
  local name = "oml.samplers.BalanceSampler"
  check_args(args, name, BALANCE_ARGS)
  local unique, indices = read_labels(args.labels, name)
  local s = new_sampler(BalanceSampler, args, name)
  s.n_labels_ = integer_arg(args.n_labels, name, "n_labels")
  if s.n_labels_ <= 1 then raise(name, "n_labels must be > 1 (got %d)", s.n_labels_) end
  if s.n_labels_ > #unique then
    raise(name, "n_labels must be <= the number of distinct labels, %d (got %d)", #unique, s.n_labels_)
  end
  s.n_instances_ = integer_arg(args.n_instances, name, "n_instances")
  if s.n_instances_ <= 1 then raise(name, "n_instances must be > 1 (got %d)", s.n_instances_) end
  s.unique_, s.indices_ = unique, indices
  s.length_ = math.floor(#unique / s.n_labels_)
  return s
end

function BalanceSampler:epoch_batches(g)
  local order = shuffled(g, self.unique_)
  local batches = {}
  for b = 1, self.length_ do
    local batch = {}
    for j = (b - 1) * self.n_labels_ + 1, b * self.n_labels_ do
      for _, i in ipairs(smart_sample(g, self.indices_[order[j]], self.n_instances_)) do batch[#batch + 1] = i end
    end
    batches[b] = batch
  end
  return batches
end

-- ---- CategoryBalanceSampler --------------------------------------------------------

-- The checks both category samplers share; returns the new sampler.
local function category_sampler(class, args, name, resample_labels)
  local unique, indices = read_labels(args.labels, name)
  local categories, category_labels = read_categories(args.label2category, unique, indices, name)
  local s = new_sampler(class, args, name)
  s.n_categories_ = check_range(args.n_categories, 1, #categories, name, "n_categories")
  s.n_labels_ = integer_arg(args.n_labels, name, "n_labels")
  if s.n_labels_ <= 1 then raise(name, "n_labels must be > 1 (got %d)", s.n_labels_) end
  if s.n_labels_ > #unique then
    raise(name, "n_labels must be <= the number of distinct labels, %d (got %d)", #unique, s.n_labels_)
  end
  s.n_instances_ = integer_arg(args.n_instances, name, "n_instances")
  if s.n_instances_ <= 1 then raise(name, "n_instances must be > 1 (got %d)", s.n_instances_) end
  if not resample_labels then check_labels_per_category(categories, category_labels, s.n_labels_, name) end
  s.unique_, s.indices_ = unique, indices
  s.categories_, s.category_labels_ = categories, category_labels
  return s
end

-- The n_instances indices of each label, appended to batch.
local function add_instances(s, g, batch, labels)
  for _, label in ipairs(labels) do
    for _, i in ipairs(smart_sample(g, s.indices_[label], s.n_instances_)) do batch[#batch + 1] = i end
  end
end

-- CategoryBalanceSampler{labels, label2category, n_categories, n_labels,
-- n_instances [, resample_labels = false] [, weight_categories = true]
-- [, seed | generator]}: each batch takes n_categories distinct categories
-- (weighted by their number of labels when weight_categories), n_labels
-- labels of each (with repetition where a category has fewer, which
-- resample_labels allows) and n_instances items of each label;
-- ceil(L / n_labels) batches per epoch. Labels may recur within an epoch.
local CategoryBalanceSampler = subclass()
local CATEGORY_ARGS = {
  labels = true, label2category = true, n_categories = true, n_labels = true, n_instances = true,
  resample_labels = true, weight_categories = true, seed = true, generator = true,
}

local function category_balance_sampler(args)
  local name = "oml.samplers.CategoryBalanceSampler"
  check_args(args, name, CATEGORY_ARGS)
  local resample_labels = boolean_arg(args.resample_labels, false, name, "resample_labels")
  local weight_categories = boolean_arg(args.weight_categories, true, name, "weight_categories")
  local s = category_sampler(CategoryBalanceSampler, args, name, resample_labels)
  s.weights_ = {}
  for i, category in ipairs(s.categories_) do
    s.weights_[i] = weight_categories and #s.category_labels_[category] or 1
  end
  s.length_ = math.ceil(#s.unique_ / s.n_labels_)
  return s
end

function CategoryBalanceSampler:epoch_batches(g)
  local batches = {}
  for b = 1, self.length_ do
    local batch = {}
    for _, category in ipairs(weighted_without_repetition(g, self.categories_, self.weights_, self.n_categories_)) do
      add_instances(self, g, batch, smart_sample(g, self.category_labels_[category], self.n_labels_))
    end
    batches[b] = batch
  end
  return batches
end

-- ---- DistinctCategoryBalanceSampler ------------------------------------------------

-- DistinctCategoryBalanceSampler{labels, label2category, n_categories,
-- n_labels, n_instances, epoch_size [, seed | generator]}: as
-- CategoryBalanceSampler, but labels are not reused until they run out:
-- a category offers its unused labels first (topped up with distinct used
-- ones), only categories with unused labels are picked, and when fewer than
-- n_categories have any, every label becomes unused again. epoch_size
-- batches per epoch.
local DistinctCategoryBalanceSampler = subclass()
local DISTINCT_ARGS = {
  labels = true, label2category = true, n_categories = true, n_labels = true, n_instances = true,
  epoch_size = true, seed = true, generator = true,
}

local function distinct_category_balance_sampler(args)
  local name = "oml.samplers.DistinctCategoryBalanceSampler"
  check_args(args, name, DISTINCT_ARGS)
  local s = category_sampler(DistinctCategoryBalanceSampler, args, name, false)
  s.length_ = check_range(args.epoch_size, 1, 2 ^ 53, name, "epoch_size")
  return s
end

-- The items of list that are (keep = true) or are not (keep = false) in set.
local function filter(list, set, keep)
  local out = {}
  for _, x in ipairs(list) do
    if (set[x] ~= nil) == keep then out[#out + 1] = x end
  end
  return out
end

function DistinctCategoryBalanceSampler:epoch_batches(g)
  local used = {}
  local batches = {}
  for b = 1, self.length_ do
    local available = {}
    for _, category in ipairs(self.categories_) do
      if #filter(self.category_labels_[category], used, false) > 0 then available[#available + 1] = category end
    end
    if #available < self.n_categories_ then
      used, available = {}, self.categories_
    end
    local batch = {}
    for _, category in ipairs(take(g, available, self.n_categories_)) do
      local all = self.category_labels_[category]
      local unused = filter(all, used, false)
      local labels
      if #unused >= self.n_labels_ then
        labels = take(g, unused, self.n_labels_)
      else
        labels = shuffled(g, unused)
        for _, label in ipairs(take(g, filter(all, used, true), self.n_labels_ - #unused)) do
          labels[#labels + 1] = label
        end
      end
      for _, label in ipairs(labels) do used[label] = true end
      add_instances(self, g, batch, labels)
    end
    batches[b] = batch
  end
  return batches
end

return {
  SequentialSampler = function(args)
    return order_sampler(SequentialSampler, args, "oml.samplers.SequentialSampler")
  end,
  RandomSampler = function(args)
    return order_sampler(RandomSampler, args, "oml.samplers.RandomSampler")
  end,
  BalanceSampler = balance_sampler,
  CategoryBalanceSampler = category_balance_sampler,
  DistinctCategoryBalanceSampler = distinct_category_balance_sampler,
}
