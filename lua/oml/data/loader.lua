-- oml.data.DataLoader: batches of a dataset made by C worker threads
-- (engine/src/ops/loader.c): the workers read, decode and transform the
-- images while Lua trains; Lua only hands out batches of paths and collects
-- the results, in order.
--   local loader = oml.data.DataLoader{dataset = ds, batch_size = 32, shuffle = true, num_workers = 2, seed = 0}
--   for batch in loader:batches() do ... end   -- one epoch per call
-- A batch is {input_tensors = float32 [B, 3, H, W], idx = int64 [B] (1-based
-- dataset indices), labels = int64 [B] (labelled datasets), paths = {...},
-- categories / sequences = {...} (when the dataframe has them), is_query /
-- is_gallery = bool [B] (query/gallery datasets)}.
--
-- Item k of epoch e has the key e * 2^32 + k, and its random draws are
-- Philox(seed, key): the same seed gives the same batches whatever
-- num_workers is. A missing or corrupt image raises an error naming the
-- file, or with skip_bad_images = true is left out of its batch and counted
-- in loader.skipped (loader.bad lists {path, reason}).
local ffi = require "ffi"
local T = require "oml.tensor"
local samplers = require "oml.samplers"
local creation = require("oml.ops.creation").functions
local random = require("oml.ops.random").functions
local index = require("oml.ops.index").methods

local C = T.C
local NAME = "oml.data.DataLoader"
local ARGS = {
  dataset = true, batch_sampler = true, batch_size = true, shuffle = true, num_workers = true, drop_last = true,
  prefetch = true, seed = true, skip_bad_images = true,
}
local EPOCH_KEYS = 2 ^ 32

local Loader = {}
Loader.__index = Loader

local function count_arg(x, default, low, what)
  if x == nil then return default end
  local n = T.integer(x, NAME, what)
  if n < low then T.raise(NAME, "%s must be >= %d (got %d)", what, low, n) end
  return n
end

local function bool_arg(x, default, what)
  if x == nil then return default end
  if type(x) ~= "boolean" then T.raise(NAME, "%s must be a boolean (got %s)", what, T.kind(x)) end
  return x
end

-- DataLoader{dataset, batch_sampler | batch_size = 1 [, shuffle = false]
-- [, drop_last = false], num_workers = 0, prefetch = 2 * max(1,
-- num_workers), seed (default: drawn from oml's default generator),
-- skip_bad_images = false}
local function new(args)
  if type(args) ~= "table" then T.raise(NAME, "expected a table of arguments (got %s)", T.kind(args)) end
  for k in pairs(args) do
    if not ARGS[k] then T.raise(NAME, "unknown argument '%s'", tostring(k)) end
  end
  local ds = args.dataset
  if type(ds) ~= "userdata" or ds.paths_ == nil or ds.transform_ == nil then
    T.raise(NAME, "dataset must be one of oml.data's image datasets (got %s)", T.kind(ds))
  end
  local l = setmetatable({ dataset = ds, skipped = 0, bad = {}, epoch_ = 0 }, Loader)
  if args.seed ~= nil then
    l.seed_ = T.count(args.seed, NAME, "seed")
  else
    l.seed_ = tonumber(random.randint(0, 2 ^ 53, { 1 }, { dtype = "int64" }):item())
  end
  if args.batch_sampler ~= nil then
    for _, k in ipairs { "batch_size", "shuffle", "drop_last" } do
      if args[k] ~= nil then T.raise(NAME, "give batch_sampler or %s, not both", k) end
    end
    local s = args.batch_sampler
    if (type(s) ~= "table" and type(s) ~= "userdata") or type(s.batches) ~= "function" then
      T.raise(NAME, "batch_sampler must have a batches() method (got %s)", T.kind(s))
    end
    l.sampler_ = s
  else
    local opts = {
      n = #ds, batch_size = count_arg(args.batch_size, 1, 1, "batch_size"),
      drop_last = bool_arg(args.drop_last, false, "drop_last"), seed = l.seed_,
    }
    l.sampler_ = bool_arg(args.shuffle, false, "shuffle") and samplers.RandomSampler(opts)
        or samplers.SequentialSampler(opts)
  end
  l.num_workers = count_arg(args.num_workers, 0, 0, "num_workers")
  l.prefetch = count_arg(args.prefetch, 2 * math.max(1, l.num_workers), 1, "prefetch")
  l.skip_bad_images = bool_arg(args.skip_bad_images, false, "skip_bad_images")
  local handle = C.oml_loader_new(l.num_workers)
  if handle == nil then T.raise(NAME, "%s", ffi.string(C.oml_last_error())) end
  l.handle_ = ffi.gc(handle, C.oml_loader_release)
  l.recipe_ = ds.transform_:cstruct(l.seed_)
  return l
end

-- Batches per epoch.
function Loader:length()
  local s = self.sampler_
  return s.length and s:length() or #s
end

-- set_epoch(e): the next batches() is epoch e + 1, with its random draws (a
-- resumed run continues the epochs it stopped at).
function Loader:set_epoch(e)
  self.epoch_ = T.integer(e, NAME .. ":set_epoch", "the epoch")
end

-- Hands one batch of dataset indices to the workers.
function Loader:submit(indices, first_key)
  local ds, n = self.dataset, #indices
  local paths, keys = ffi.new("const char *[?]", n), ffi.new("uint64_t[?]", n)
  for k, i in ipairs(indices) do
    if type(i) ~= "number" or i ~= math.floor(i) or i < 1 or i > #ds then
      T.raise(NAME, "the batch sampler gave index %s, outside 1..%d", T.show(i), #ds)
    end
    paths[k - 1] = ds.paths_[i]
    keys[k - 1] = first_key + k - 1
  end
  local out = T.new()
  local job = C.oml_loader_submit(self.handle_, n, paths, ds:box_array(indices), keys, self.recipe_, out)
  if job == nil then T.raise(NAME, "%s", ffi.string(C.oml_last_error())) end
  return { job = ffi.gc(job, C.oml_load_job_free), indices = indices, out = out }
end

local function int64_list(list) return creation.tensor(list, "int64") end

-- The batch table of a finished job, without the items that failed.
function Loader:collect(p)
  local failed = tonumber(C.oml_load_job_wait(p.job))
  local ds, indices, input = self.dataset, p.indices, p.out
  if failed < 0 then T.raise(NAME, "%s", ffi.string(C.oml_last_error())) end
  if failed > 0 then
    local keep = {}
    for k, i in ipairs(indices) do
      local err = C.oml_load_job_error(p.job, k - 1)
      if err == nil then
        keep[#keep + 1] = k
      else
        local path, reason = ds.paths_[i], ffi.string(err)
        if not self.skip_bad_images then T.raise(NAME, "%s: %s", path, reason) end
        self.skipped = self.skipped + 1
        self.bad[#self.bad + 1] = { path = path, reason = reason }
      end
    end
    if #keep == 0 then return nil end
    input = index.index_select(input, 1, int64_list(keep))
    local kept = {}
    for j, k in ipairs(keep) do kept[j] = indices[k] end
    indices = kept
  end
  local batch = { input_tensors = input, idx = int64_list(indices), paths = {} }
  local labels, categories, sequences, is_query, is_gallery = {}, {}, {}, {}, {}
  for k, i in ipairs(indices) do
    batch.paths[k] = ds.paths_[i]
    if ds.labels_ then labels[k] = ds.labels_[i] end
    if ds.categories_ then categories[k] = ds.categories_[i] end
    if ds.sequences_ then sequences[k] = ds.sequences_[i] end
    if ds.is_query_ then is_query[k], is_gallery[k] = ds.is_query_[i], ds.is_gallery_[i] end
  end
  if ds.labels_ then batch.labels = int64_list(labels) end
  if ds.categories_ then batch.categories = categories end
  if ds.sequences_ then batch.sequences = sequences end
  if ds.is_query_ then
    batch.is_query, batch.is_gallery = creation.tensor(is_query, "bool"), creation.tensor(is_gallery, "bool")
  end
  return batch
end

-- An iterator over one epoch's batches; `prefetch` batches are in the
-- workers' hands ahead of the one being collected.
function Loader:batches()
  self.epoch_ = self.epoch_ + 1
  local next_indices = self.sampler_:batches()
  local epoch_base, position = self.epoch_ * EPOCH_KEYS, 0
  local pending, head, tail = {}, 1, 0
  local function refill()
    while tail - head + 1 < self.prefetch do
      local indices = next_indices()
      if indices == nil then return end
      if #indices > 0 then
        tail = tail + 1
        pending[tail] = self:submit(indices, epoch_base + position + 1)
        position = position + #indices
      end
    end
  end
  refill()
  return function()
    while head <= tail do
      local p = pending[head]
      pending[head] = nil
      head = head + 1
      refill()
      local batch = self:collect(p)
      if batch then return batch end
    end
    return nil
  end
end

function Loader:__tostring()
  return ("DataLoader (%d batches, %d workers)"):format(self:length(), self.num_workers)
end

return setmetatable({}, { __call = function(_, args) return new(args) end })
