-- DeepFashion In-shop Clothes Retrieval -> OML's CSV, as OML's
-- pipelines/datasets_converters/convert_inshop.py: list_eval_partition.txt
-- gives each image's item (the label: "id_00000042" -> 42) and its status
-- (train, query, gallery); list_bbox_inshop.txt its box; the category is the
-- clothes type (img/WOMEN/<category>/id_.../x.jpg). Train labels with a
-- single image are dropped. Paths are written relative to the dataset root,
-- under img_highres/ as OML does (images_dir = "img" keeps img/).
local common = require "oml.data.converters.common"
local T = require "oml.tensor"

local NAME = "oml.data.converters.inshop"
local M = {}

-- convert{dataset_root [, no_bboxes = false] [, images_dir = "img_highres"]}
-- -> the CSV's path (df.csv, or df_with_bboxes.csv with boxes), rows
function M.convert(args)
  local root = args.dataset_root
  if type(root) ~= "string" then T.raise(NAME, "dataset_root must be a string (got %s)", T.kind(root)) end
  local images_dir = args.images_dir or "img_highres"
  local partition, bbox_file = root .. "/list_eval_partition.txt", root .. "/list_bbox_inshop.txt"
  common.require_file(partition, NAME)
  local with_boxes = not args.no_bboxes
  if with_boxes then common.require_file(bbox_file, NAME) end

  -- both files: a count line, a header line, then the rows
  local function body(path)
    local rows = common.read_table(path, NAME)
    local header = rows[2]
    if header == nil then T.raise(NAME, "%s: no header line", path) end
    local col = {}
    for j, c in ipairs(header) do col[c] = j end
    return { unpack(rows, 3) }, col
  end
  local boxes = {}
  if with_boxes then
    local rows, col = body(bbox_file)
    for _, r in ipairs(rows) do
      local b = {}
      for _, c in ipairs { "x_1", "y_1", "x_2", "y_2" } do b[c] = common.integer(r[col[c]], bbox_file, r.line, NAME) end
      boxes[r[col.image_name]] = b
    end
  end

  local rows, col = body(partition)
  local out, count = {}, {}
  for _, r in ipairs(rows) do
    local name, item, status = r[col.image_name], r[col.item_id], r[col.evaluation_status]
    local label = item and tonumber(item:match("^id_(%d+)$"))
    if not label then T.raise(NAME, "%s: line %d: item '%s' is not id_<number>", partition, r.line, tostring(item)) end
    if status ~= "train" and status ~= "query" and status ~= "gallery" then
      T.raise(NAME, "%s: line %d: unknown status '%s'", partition, r.line, tostring(status))
    end
    local box = boxes[name]
    -- OML merges the two lists (an inner join): an image without a box is left out
    if box or not with_boxes then
      local path = name:gsub("^img/", images_dir .. "/")
      local row = {
        label = label, path = path, split = status == "train" and "train" or "validation",
        category = path:match("([^/]+)/[^/]+/[^/]+$"),
      }
      if status ~= "train" then row.is_query, row.is_gallery = status == "query", status == "gallery" end
      if box then for k, v in pairs(box) do row[k] = v end end
      common.require_file(root .. "/" .. path, NAME)
      out[#out + 1] = row
      if status == "train" then count[label] = (count[label] or 0) + 1 end
    end
  end
  local kept = {}
  for _, row in ipairs(out) do
    if row.split == "validation" or count[row.label] > 1 then kept[#kept + 1] = row end
  end
  local columns = { "label", "path", "split", "is_query", "is_gallery", "category" }
  if with_boxes then for _, c in ipairs { "x_1", "x_2", "y_1", "y_2" } do columns[#columns + 1] = c end end
  local csv = root .. (with_boxes and "/df_with_bboxes.csv" or "/df.csv")
  common.write_csv(csv, columns, kept, NAME)
  return csv, kept
end

return M
