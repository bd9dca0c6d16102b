-- CUB-200-2011 -> OML's CSV, as OML's convert_cub.py: images.txt,
-- image_class_labels.txt (the label), train_test_split.txt (1: train, 0:
-- validation, where every image is a query and a gallery item) and
-- bounding_boxes.txt (x, y, width, height -> x_1 = int(x), x_2 = int(x +
-- width), y_1 = int(y), y_2 = int(y + height)); paths under images/.
local common = require "oml.data.converters.common"
local T = require "oml.tensor"

local NAME = "oml.data.converters.cub"
local M = {}

-- image_id -> the rest of its line, for one of the lists
local function by_id(root, file)
  local path = root .. "/" .. file
  common.require_file(path, NAME)
  local map, order = {}, {}
  for _, r in ipairs(common.read_table(path, NAME)) do
    local id = common.integer(r[1], path, r.line, NAME)
    map[id] = r
    order[#order + 1] = id
  end
  return map, order, path
end

-- convert{dataset_root [, no_bboxes = false]} -> the CSV's path (df.csv or
-- df_with_bboxes.csv), rows
function M.convert(args)
  local root = args.dataset_root
  if type(root) ~= "string" then T.raise(NAME, "dataset_root must be a string (got %s)", T.kind(root)) end
  local images, order = by_id(root, "images.txt")
  local labels, _, labels_path = by_id(root, "image_class_labels.txt")
  local split, _, split_path = by_id(root, "train_test_split.txt")
  local boxes, _, boxes_path = by_id(root, "bounding_boxes.txt")
  local with_boxes = not args.no_bboxes
  local out = {}
  for _, id in ipairs(order) do
    local l, s, b = labels[id], split[id], boxes[id]
    if not (l and s and b) then T.raise(NAME, "image %d of images.txt is missing from the other lists", id) end
    local train = common.integer(s[2], split_path, s.line, NAME) == 1
    local row = {
      label = common.integer(l[2], labels_path, l.line, NAME), path = "images/" .. images[id][2],
      split = train and "train" or "validation",
    }
    if not train then row.is_query, row.is_gallery = true, true end
    if with_boxes then
      local x, y = common.number(b[2], boxes_path, b.line, NAME), common.number(b[3], boxes_path, b.line, NAME)
      local w, h = common.number(b[4], boxes_path, b.line, NAME), common.number(b[5], boxes_path, b.line, NAME)
      -- Python's int() truncates towards zero
      local trunc = function(v) return v < 0 and math.ceil(v) or math.floor(v) end
      row.x_1, row.x_2, row.y_1, row.y_2 = trunc(x), trunc(x + w), trunc(y), trunc(y + h)
    end
    common.require_file(root .. "/" .. row.path, NAME)
    out[#out + 1] = row
  end
  local columns = { "label", "path", "split", "is_query", "is_gallery" }
  if with_boxes then for _, c in ipairs { "x_1", "x_2", "y_1", "y_2" } do columns[#columns + 1] = c end end
  local csv = root .. (with_boxes and "/df_with_bboxes.csv" or "/df.csv")
  common.write_csv(csv, columns, out, NAME)
  return csv, out
end

return M
