-- Stanford Online Products -> OML's CSV, as OML's convert_sop.py:
-- Ebay_train.txt is the train split, Ebay_test.txt the validation split
-- (every image a query and a gallery item); the label is class_id, the
-- category the product type (the image's folder); image_id and
-- super_class_id are kept as extra columns.
local common = require "oml.data.converters.common"
local T = require "oml.tensor"

local NAME = "oml.data.converters.sop"
local M = {}

-- convert{dataset_root} -> the CSV's path (df.csv), rows
function M.convert(args)
  local root = args.dataset_root
  if type(root) ~= "string" then T.raise(NAME, "dataset_root must be a string (got %s)", T.kind(root)) end
  local out = {}
  for _, part in ipairs { { "Ebay_train.txt", "train" }, { "Ebay_test.txt", "validation" } } do
    local file = root .. "/" .. part[1]
    common.require_file(file, NAME)
    local rows = common.read_table(file, NAME)
    local col = {}
    for j, c in ipairs(rows[1] or {}) do col[c] = j end
    for _, c in ipairs { "image_id", "class_id", "super_class_id", "path" } do
      if not col[c] then T.raise(NAME, "%s: the header has no column '%s'", file, c) end
    end
    for k = 2, #rows do
      local r = rows[k]
      local path = r[col.path]
      local row = {
        image_id = common.integer(r[col.image_id], file, r.line, NAME),
        label = common.integer(r[col.class_id], file, r.line, NAME),
        super_class_id = common.integer(r[col.super_class_id], file, r.line, NAME),
        path = path, split = part[2], category = common.parent_name(path),
      }
      if part[2] == "validation" then row.is_query, row.is_gallery = true, true end
      common.require_file(root .. "/" .. path, NAME)
      out[#out + 1] = row
    end
  end
  local csv = root .. "/df.csv"
  local columns = { "image_id", "label", "super_class_id", "path", "split", "is_query", "is_gallery", "category" }
  common.write_csv(csv, columns, out, NAME)
  return csv, out
end

return M
