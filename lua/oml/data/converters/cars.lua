-- Cars196 (Stanford Cars) -> OML's CSV, as OML's convert_cars.py: the
-- devkit's MATLAB files devkit/cars_meta.mat (class_names),
-- devkit/cars_train_annos.mat and cars_test_annos_withlabels.mat (each a
-- struct array `annotations` of bbox_x1, bbox_y1, bbox_x2, bbox_y2, class,
-- fname); the official split: cars_train/ images are train rows,
-- cars_test/ images validation rows, each a query and a gallery item. The
-- label is `class`; boxes are taken as they are (int() of each value).
local common = require "oml.data.converters.common"
local matlab = require "oml.io.matlab"
local T = require "oml.tensor"

local NAME = "oml.data.converters.cars"
local M = {}

local BOX = { x_1 = "bbox_x1", y_1 = "bbox_y1", x_2 = "bbox_x2", y_2 = "bbox_y2" }

-- the one number of a 1x1 numeric field
local function scalar(v, path, i, field)
  if type(v) ~= "table" or v.values == nil or #v.values ~= 1 then
    T.raise(NAME, "%s: annotation %d: %s is not a single number", path, i, field)
  end
  return v.values[1]
end

-- Python's int() of a number: truncated towards zero
local function trunc(v) return v < 0 and math.ceil(v) or math.floor(v) end

-- The rows of one annotations file, images under `folder`.
local function annotations(root, file, folder, train, with_boxes, out)
  local path = root .. "/" .. file
  local a = matlab.read(path).annotations
  if a == nil or a.class ~= "struct" then T.raise(NAME, "%s has no struct array 'annotations'", path) end
  for _, f in ipairs { "class", "fname", "bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2" } do
    local found = false
    for _, g in ipairs(a.fields) do found = found or g == f end
    if not found then T.raise(NAME, "%s: the annotations have no field '%s'", path, f) end
  end
  for i, e in ipairs(a.elements) do
    local fname = e.fname.rows and e.fname.rows[1]
    if e.fname.class ~= "char" or #e.fname.rows ~= 1 or fname == "" then
      T.raise(NAME, "%s: annotation %d: fname is not a file name", path, i)
    end
    local row = { label = trunc(scalar(e.class, path, i, "class")), path = folder .. "/" .. fname,
                  split = train and "train" or "validation" }
    if not train then row.is_query, row.is_gallery = true, true end
    if with_boxes then
      for column, field in pairs(BOX) do row[column] = trunc(scalar(e[field], path, i, field)) end
    end
    common.require_file(root .. "/" .. row.path, NAME)
    out[#out + 1] = row
  end
end

-- convert{dataset_root [, no_bboxes = false]} -> the CSV's path (df.csv or
-- df_with_bboxes.csv), rows
function M.convert(args)
  local root = args.dataset_root
  if type(root) ~= "string" then T.raise(NAME, "dataset_root must be a string (got %s)", T.kind(root)) end
  local files = { "devkit/cars_meta.mat", "devkit/cars_train_annos.mat", "cars_test_annos_withlabels.mat" }
  for _, f in ipairs(files) do common.require_file(root .. "/" .. f, NAME) end
  -- OML reads the class names (and drops them): a file without them is refused there too
  if matlab.read(root .. "/" .. files[1]).class_names == nil then
    T.raise(NAME, "%s/%s has no variable 'class_names'", root, files[1])
  end
  local with_boxes = not args.no_bboxes
  local out = {}
  annotations(root, files[2], "cars_train", true, with_boxes, out)
  annotations(root, files[3], "cars_test", false, with_boxes, out)
  local columns = { "label", "path", "split", "is_query", "is_gallery" }
  if with_boxes then for _, c in ipairs { "x_1", "x_2", "y_1", "y_2" } do columns[#columns + 1] = c end end
  local csv = root .. (with_boxes and "/df_with_bboxes.csv" or "/df.csv")
  common.write_csv(csv, columns, out, NAME)
  return csv, out
end

return M
