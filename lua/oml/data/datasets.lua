-- oml.data datasets, as OML's oml/datasets/images.py: images listed by a
-- dataframe (oml.data.read_dataframe) or by paths, made into tensors by an
-- ImageRecipe that the engine runs (the same code as the DataLoader's
-- workers, so an item and its batch row agree bit for bit).
--   local ds = oml.data.ImageLabeledDataset{dataframe = "df.csv", dataset_root = root, split = "train"}
--   #ds, ds[1].label, ds[1].input_tensors, ds:get_labels()
-- Items are 1-based; an item is a table {index, label, category, sequence,
-- path, box = {x_1, y_1, x_2, y_2} or nil, input_tensors = float32 [3, H, W],
-- is_query, is_gallery (query/gallery datasets), and the extra_data fields}.
local ffi = require "ffi"
local T = require "oml.tensor"
local dataframe = require "oml.data.dataframe"
local ImageRecipe = require "oml.data.image_recipe"
local creation = require("oml.ops.creation").functions

local C = T.C
local M = {}

local Dataset = {}
Dataset.__index = Dataset

-- The one synchronous loader that makes single items (no worker threads).
local item_loader
local function get_item_loader()
  if item_loader == nil then
    local l = C.oml_loader_new(0)
    if l == nil then T.raise("oml.data", "%s", ffi.string(C.oml_last_error())) end
    item_loader = ffi.gc(l, C.oml_loader_release)
  end
  return item_loader
end

-- ---- arguments ------------------------------------------------------------

local function check_args(args, name, allowed)
  if type(args) ~= "table" then T.raise(name, "expected a table of arguments (got %s)", T.kind(args)) end
  for k in pairs(args) do
    if not allowed[k] then T.raise(name, "unknown argument '%s'", tostring(k)) end
  end
end

local function transform_of(x, name)
  if x == nil then return ImageRecipe.norm_resize_torch(224) end
  if not ImageRecipe.is_recipe(x) then
    T.raise(name, "transform must be an oml.data.ImageRecipe (got %s)", T.kind(x))
  end
  return x
end

-- A Dataframe from df (a Dataframe or a CSV path) or dataframe (a CSV path),
-- cut to one split when asked.
local function dataframe_of(args, name)
  local df = args.df or args.dataframe
  if args.df ~= nil and args.dataframe ~= nil then T.raise(name, "give df or dataframe, not both") end
  if type(df) == "string" then
    df = dataframe.read(df, { dataset_root = args.dataset_root, verbose = args.verbose })
  elseif type(df) ~= "table" or df.columns == nil or df.split == nil then
    T.raise(name, "df must be a dataframe (oml.data.read_dataframe) or a CSV path (got %s)", T.kind(df))
  end
  if args.split ~= nil then df = df:split(args.split) end
  if df.n == 0 then T.raise(name, "the dataframe has no rows%s", args.split and " in split " .. args.split or "") end
  return df
end

local function boxes_of(columns, n)
  if columns.x_1 == nil then return nil end
  local boxes = {}
  for i = 1, n do
    if columns.x_1[i] ~= nil then
      boxes[i] = { x_1 = columns.x_1[i], y_1 = columns.y_1[i], x_2 = columns.x_2[i], y_2 = columns.y_2[i] }
    end
  end
  return boxes
end

local function extra_of(extra, n, name)
  if extra == nil then return {} end
  if type(extra) ~= "table" then T.raise(name, "extra_data must be a table of lists (got %s)", T.kind(extra)) end
  for key, list in pairs(extra) do
    if type(list) ~= "table" or #list ~= n then
      T.raise(name, "extra_data.%s must be a list of %d values, one per item", tostring(key), n)
    end
  end
  return extra
end

-- ---- the dataset object ----------------------------------------------------

-- A dataset is a userdata proxy (LuaJIT ignores __len on tables): #ds is its
-- size and ds[i] its item i.
local function new_dataset(class, state)
  state = setmetatable(state, class)
  local ds = newproxy(true)
  local mt = getmetatable(ds)
  mt.__index = function(_, k)
    if type(k) == "number" then return state:get(k) end
    return state[k]
  end
  mt.__newindex = state
  mt.__len = function() return state.n_ end
  mt.__tostring = function() return ("%s (%d images)"):format(state.name_, state.n_) end
  return ds
end

-- The engine's box list for the items (x1, y1, x2, y2; -1s for none), or nil.
function Dataset:box_array(indices)
  if self.boxes_ == nil then return nil end
  local a = ffi.new("int64_t[?]", 4 * #indices)
  for k, i in ipairs(indices) do
    local b = self.boxes_[i]
    local base = 4 * (k - 1)
    if b then
      a[base], a[base + 1], a[base + 2], a[base + 3] = b.x_1, b.y_1, b.x_2, b.y_2
    else
      a[base], a[base + 1], a[base + 2], a[base + 3] = -1, -1, -1, -1
    end
  end
  return a
end

-- The fields of item i without its image.
function Dataset:item_fields(i)
  local item = { index = i, path = self.paths_[i] }
  if self.labels_ then item.label = self.labels_[i] end
  if self.categories_ then item.category = self.categories_[i] end
  if self.sequences_ then item.sequence = self.sequences_[i] end
  if self.boxes_ and self.boxes_[i] then
    local b = self.boxes_[i]
    item.box = { x_1 = b.x_1, y_1 = b.y_1, x_2 = b.x_2, y_2 = b.y_2 }
  end
  if self.is_query_ then item.is_query, item.is_gallery = self.is_query_[i], self.is_gallery_[i] end
  for key, list in pairs(self.extra_) do
    if item[key] ~= nil then T.raise(self.name_, "extra_data and the dataset share the key '%s'", key) end
    item[key] = list[i]
  end
  return item
end

-- ds:get(i) (also ds[i]): item i, its image made by the recipe in this
-- thread (random draws keyed by i under seed 0).
function Dataset:get(i)
  local name = self.name_ .. ".get"
  if type(i) ~= "number" or i ~= math.floor(i) or i < 1 or i > self.n_ then
    T.raise(name, "index %s is out of range 1..%d", T.show(i), self.n_)
  end
  local item = self:item_fields(i)
  local paths, keys = ffi.new("const char *[1]", { item.path }), ffi.new("uint64_t[1]", i)
  local out = T.new()
  local job = C.oml_loader_submit(get_item_loader(), 1, paths, self:box_array({ i }), keys,
    self.transform_:cstruct(0), out)
  if job == nil then T.raise(name, "%s", ffi.string(C.oml_last_error())) end
  job = ffi.gc(job, C.oml_load_job_free)
  if C.oml_load_job_wait(job) ~= 0 then
    T.raise(name, "%s: %s", item.path, ffi.string(C.oml_load_job_error(job, 0)))
  end
  item.input_tensors = out:select(1, 1)
  return item
end

function Dataset:paths()
  local list = {}
  for i = 1, self.n_ do list[i] = self.paths_[i] end
  return list
end

local function int64_tensor(list)
  if #list == 0 then return creation.empty({ 0 }, "int64") end
  return creation.tensor(list, "int64")
end

-- labels as int64 [n] (labelled datasets)
local function get_labels(self) return int64_tensor(self.labels_) end

-- {label = category} when the dataframe has categories, else nil
local function get_label2category(self)
  if self.categories_ == nil then return nil end
  local map = {}
  for i = 1, self.n_ do map[self.labels_[i]] = self.categories_[i] end
  return map
end

-- 1-based indices (int64) of the query or gallery items
local function ids_where(flags, n)
  local list = {}
  for i = 1, n do
    if flags[i] then list[#list + 1] = i end
  end
  return int64_tensor(list)
end
local function get_query_ids(self) return ids_where(self.is_query_, self.n_) end
local function get_gallery_ids(self) return ids_where(self.is_gallery_, self.n_) end

-- The table that EmbeddingMetrics and RetrievalResults read (n, labels,
-- is_query, is_gallery, categories, sequence: oml/retrieval/results.lua).
local function retrieval_view(self)
  local view = { n = self.n_, labels = self.labels_, is_query = self.is_query_, is_gallery = self.is_gallery_,
                 categories = self.categories_ }
  if self.sequences_ then
    view.sequence = {}
    for i = 1, self.n_ do view.sequence[i] = self.sequences_[i] or false end
  end
  return view
end

local function class(methods)
  local c = setmetatable({}, { __index = Dataset })
  c.__index = c
  for k, fn in pairs(methods) do c[k] = fn end
  return c
end

-- ---- the four datasets ----------------------------------------------------------

local BASE_ARGS = { paths = true, dataset_root = true, boxes = true, transform = true, extra_data = true }

-- ImageBaseDataset{paths [, dataset_root] [, boxes = {{x_1=, y_1=, x_2=, y_2=} or false, ...}]
-- [, transform] [, extra_data]}: images without labels.
local ImageBaseDataset = class {}
function M.ImageBaseDataset(args)
  local name = "oml.data.ImageBaseDataset"
  check_args(args, name, BASE_ARGS)
  if type(args.paths) ~= "table" or #args.paths == 0 then
    T.raise(name, "paths must be a non-empty list of strings")
  end
  local root = args.dataset_root
  if root ~= nil and type(root) ~= "string" then
    T.raise(name, "dataset_root must be a string (got %s)", T.kind(root))
  end
  local paths = {}
  for i, p in ipairs(args.paths) do
    if type(p) ~= "string" or p == "" then
      T.raise(name, "path %d must be a non-empty string (got %s)", i, T.show(p))
    end
    paths[i] = (root == nil or p:sub(1, 1) == "/") and p or root:gsub("/$", "") .. "/" .. p
  end
  local boxes
  if args.boxes ~= nil then
    if type(args.boxes) ~= "table" or #args.boxes ~= #paths then
      T.raise(name, "boxes must be a list of %d boxes (or false), one per path", #paths)
    end
    boxes = {}
    for i, b in ipairs(args.boxes) do
      if b then
        local x1, y1, x2, y2 = b.x_1, b.y_1, b.x_2, b.y_2
        for _, v in ipairs { x1, y1, x2, y2 } do T.integer(v, name, "a box coordinate") end
        if not (x1 >= 0 and y1 >= 0 and x1 < x2 and y1 < y2) then
          T.raise(name, "box %d needs 0 <= x_1 < x_2 and 0 <= y_1 < y_2 (got %d, %d, %d, %d)", i, x1, y1, x2, y2)
        end
        boxes[i] = b
      end
    end
  end
  return new_dataset(ImageBaseDataset, {
    name_ = name, n_ = #paths, paths_ = paths, boxes_ = boxes, transform_ = transform_of(args.transform, name),
    extra_ = extra_of(args.extra_data, #paths, name),
  })
end

local DF_ARGS = { df = true, dataframe = true, dataset_root = true, split = true, transform = true, extra_data = true,
                  verbose = true }

local function from_dataframe(class_, args, name, labelled, query_gallery)
  check_args(args, name, DF_ARGS)
  if query_gallery and args.split == nil then args = setmetatable({ split = "validation" }, { __index = args }) end
  local df = dataframe_of(args, name)
  local c, n = df.columns, df.n
  local paths = c.path
  -- a Dataframe read without a root: its relative paths go under this one
  if type(args.df) == "table" and df.dataset_root == nil and args.dataset_root ~= nil then
    local root = args.dataset_root
    if type(root) ~= "string" then T.raise(name, "dataset_root must be a string (got %s)", T.kind(root)) end
    paths = {}
    for i, p in ipairs(c.path) do paths[i] = p:sub(1, 1) == "/" and p or root:gsub("/$", "") .. "/" .. p end
  end
  if query_gallery then
    for i = 1, n do
      if c.is_query[i] == nil then
        T.raise(name, "%s: row %d is a train row (no is_query/is_gallery); use split = 'validation'", df.file,
          df.row[i])
      end
    end
  end
  return new_dataset(class_, {
    name_ = name, n_ = n, paths_ = paths, boxes_ = boxes_of(c, n), transform_ = transform_of(args.transform, name),
    labels_ = labelled and c.label or nil, categories_ = c.category, sequences_ = c.sequence,
    is_query_ = query_gallery and c.is_query or nil, is_gallery_ = query_gallery and c.is_gallery or nil,
    extra_ = extra_of(args.extra_data, n, name), dataframe_ = df,
  })
end

-- ImageLabeledDataset{df = Dataframe or CSV path | dataframe = CSV path
-- [, dataset_root] [, split] [, transform] [, extra_data]}: get_labels(),
-- get_label2category().
local ImageLabeledDataset = class { get_labels = get_labels, get_label2category = get_label2category }
function M.ImageLabeledDataset(args)
  return from_dataframe(ImageLabeledDataset, args, "oml.data.ImageLabeledDataset", true, false)
end

-- ImageQueryGalleryLabeledDataset{...as above; split defaults to
-- "validation"}: also get_query_ids(), get_gallery_ids() (1-based), and
-- retrieval_view(), so that EmbeddingMetrics{dataset = ds} takes it as it is.
local ImageQueryGalleryLabeledDataset = class {
  get_labels = get_labels, get_label2category = get_label2category, get_query_ids = get_query_ids,
  get_gallery_ids = get_gallery_ids, retrieval_view = retrieval_view,
}
function M.ImageQueryGalleryLabeledDataset(args)
  return from_dataframe(ImageQueryGalleryLabeledDataset, args, "oml.data.ImageQueryGalleryLabeledDataset", true, true)
end

-- ImageQueryGalleryDataset{...}: the same without labels (for prediction).
local ImageQueryGalleryDataset = class { get_query_ids = get_query_ids, get_gallery_ids = get_gallery_ids }
function M.ImageQueryGalleryDataset(args)
  return from_dataframe(ImageQueryGalleryDataset, args, "oml.data.ImageQueryGalleryDataset", false, true)
end

return M
