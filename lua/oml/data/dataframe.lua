-- oml.data.dataframe: OML's dataframe format (oml/utils/dataframe_format.py),
-- read from a CSV file and validated row by row.
--
-- Columns, in any order: label (integer), path (relative to the dataset
-- root, or absolute), split ("train" or "validation"), is_query and
-- is_gallery (empty on train rows, booleans on validation rows with at least
-- one true); optional category, sequence and the box x_1, x_2, y_1, y_2 (all
-- four columns or none; in a row all empty or integers with 0 <= x_1 < x_2,
-- 0 <= y_1 < y_2). Other columns are kept as strings.
local T = require "oml.tensor"
local csv = require "oml.data.csv"

local M = {}
local NAME = "oml.data.read_dataframe"
local REQUIRED = { "label", "path", "split", "is_query", "is_gallery" }
local BOX = { "x_1", "x_2", "y_1", "y_2" }
local SPLITS = { train = true, validation = true }
-- the spellings pandas reads as booleans, and 1/0 (pandas reads a column of
-- 1, 0 and empty fields as floats, which OML's checks take for booleans)
local BOOLEANS = {
  True = true, TRUE = true, ["true"] = true, ["1"] = true, ["1.0"] = true,
  False = false, FALSE = false, ["false"] = false, ["0"] = false, ["0.0"] = false,
}

local Dataframe = {}
Dataframe.__index = Dataframe

-- An integer field as a number, or nil and what is wrong with it. A box
-- coordinate may also be written as pandas writes a float column that has
-- empty fields ("12.0"); a label may not, as OML requires an int column.
local function parse_integer(s, float_form)
  local digits = s:match("^%-?(%d+)$")
  if digits == nil and float_form then digits = s:match("^%-?(%d+)%.0*$") end
  if digits == nil then return nil, ("'%s' is not an integer"):format(s) end
  -- 15 digits are exact in a Lua number
  if #digits > 15 then return nil, ("'%s' has more than 15 digits"):format(s) end
  return tonumber(s)
end

local function resolve(path, root)
  if root == nil or path:sub(1, 1) == "/" then return path end
  return root:sub(-1) == "/" and root .. path or root .. "/" .. path
end

-- The one warning OML gives: labels that appear with several categories.
local function category_warning(file, labels, categories, n)
  local seen, order = {}, {}
  for i = 1, n do
    local label, category = labels[i], categories[i]
    if category ~= nil then
      local set = seen[label]
      if set == nil then
        set = { found = {}, list = {} }
        seen[label] = set
        order[#order + 1] = label
      end
      if not set.found[category] then
        set.found[category] = true
        set.list[#set.list + 1] = "'" .. category .. "'"
      end
    end
  end
  local bad = {}
  for _, label in ipairs(order) do
    local list = seen[label].list
    if #list > 1 then bad[#bad + 1] = ("label %d in %s"):format(label, table.concat(list, ", ")) end
  end
  if #bad == 0 then return nil end
  return ("%s: %d label(s) found in several categories (a label should have one category): %s")
    :format(file, #bad, table.concat(bad, "; ", 1, math.min(#bad, 5)) .. (#bad > 5 and "; ..." or ""))
end

-- read(path, {dataset_root = dir, verbose = true}) -> a Dataframe:
--   df.n               the number of rows
--   df.names           the column names, in file order
--   df.columns[name]   one Lua array per column: label (numbers), path
--                      (resolved against dataset_root unless absolute),
--                      split, is_query / is_gallery (booleans, nil on train
--                      rows), category / sequence (strings or nil), x_1 ..
--                      y_2 (numbers or nil), others (strings, as read)
--   df.row, df.line    each row's number in the file (1 = the first data
--                      row) and the line on which it starts
--   df.warnings        warnings, also printed once to stderr unless verbose
--                      is false
--   df:split(name)     the "train" or "validation" rows
function M.read(path, opts)
  if type(path) ~= "string" then T.raise(NAME, "the path must be a string (got %s)", type(path)) end
  opts = opts or {}
  if type(opts) ~= "table" then T.raise(NAME, "options must be a table (got %s)", type(opts)) end
  for k in pairs(opts) do
    if k ~= "dataset_root" and k ~= "verbose" then T.raise(NAME, "unknown option '%s'", tostring(k)) end
  end
  local root = opts.dataset_root
  if root ~= nil and type(root) ~= "string" then
    T.raise(NAME, "dataset_root must be a string (got %s)", type(root))
  end

  local names, fields, lines = csv.read(path, NAME)
  local n = #lines
  local index = {}
  for j, name in ipairs(names) do
    if name == "" then
      name = "Unnamed: " .. (j - 1) -- pandas' name for a column without one (a written index)
      names[j] = name
    end
    if index[name] then T.raise(NAME, "%s: column '%s' appears twice in the header", path, name) end
    index[name] = j
  end
  for _, name in ipairs(REQUIRED) do
    if not index[name] then T.raise(NAME, "%s: the required column '%s' is missing", path, name) end
  end
  local n_box = 0
  for _, name in ipairs(BOX) do n_box = n_box + (index[name] and 1 or 0) end
  if n_box == 1 or n_box == 2 or n_box == 3 then
    for _, name in ipairs(BOX) do
      if not index[name] then
        T.raise(NAME, "%s: the box columns x_1, x_2, y_1, y_2 must be all present or all absent; '%s' is missing",
                path, name)
      end
    end
  end
  if n == 0 then T.raise(NAME, "%s: the file has no rows", path) end

  local function fail(i, column, fmt, ...)
    T.raise(NAME, "%s: row %d (line %d), column '%s': " .. fmt, path, i, lines[i], column, ...)
  end
  local function raw(name) return fields[index[name]] end

  local label_in, path_in, split_in = raw("label"), raw("path"), raw("split")
  local query_in, gallery_in = raw("is_query"), raw("is_gallery")
  local labels, paths, is_query, is_gallery = {}, {}, {}, {}
  for i = 1, n do
    local label, problem = parse_integer(label_in[i], false)
    if label == nil then fail(i, "label", "%s", problem) end
    labels[i] = label
    local s = path_in[i]
    if s == "" then fail(i, "path", "the path is empty") end
    paths[i] = resolve(s, root)
    s = split_in[i]
    if not SPLITS[s] then fail(i, "split", "'%s' is neither 'train' nor 'validation'", s) end
    local q, g = query_in[i], gallery_in[i]
    if s == "train" then
      if q ~= "" then fail(i, "is_query", "must be empty on a train row (found '%s')", q) end
      if g ~= "" then fail(i, "is_gallery", "must be empty on a train row (found '%s')", g) end
    else
      is_query[i], is_gallery[i] = BOOLEANS[q], BOOLEANS[g]
      if is_query[i] == nil then fail(i, "is_query", "'%s' is not a boolean (True or False)", q) end
      if is_gallery[i] == nil then fail(i, "is_gallery", "'%s' is not a boolean (True or False)", g) end
      if not (is_query[i] or is_gallery[i]) then
        fail(i, "is_query", "a validation row must be a query, a gallery item or both (both are False)")
      end
    end
  end

  local gallery_labels = {}
  for i = 1, n do
    if is_gallery[i] then gallery_labels[labels[i]] = true end
  end
  for i = 1, n do
    if is_query[i] and not gallery_labels[labels[i]] then
      fail(i, "label", "the query label %d appears in no gallery row", labels[i])
    end
  end

  local columns = { label = labels, path = paths, split = split_in, is_query = is_query, is_gallery = is_gallery }
  if n_box == 4 then
    local box = {}
    for _, name in ipairs(BOX) do box[name] = {} end
    local x1_in, x2_in, y1_in, y2_in = raw("x_1"), raw("x_2"), raw("y_1"), raw("y_2")
    for i = 1, n do
      local filled = (x1_in[i] ~= "" and 1 or 0) + (x2_in[i] ~= "" and 1 or 0)
                   + (y1_in[i] ~= "" and 1 or 0) + (y2_in[i] ~= "" and 1 or 0)
      if filled == 4 then
        for _, name in ipairs(BOX) do
          local v, problem = parse_integer(fields[index[name]][i], true)
          if v == nil then fail(i, name, "%s", problem) end
          if v < 0 then fail(i, name, "%d is negative", v) end
          box[name][i] = v
        end
        local x1, x2, y1, y2 = box.x_1[i], box.x_2[i], box.y_1[i], box.y_2[i]
        if x1 >= x2 then fail(i, "x_2", "x_2 (%d) must be greater than x_1 (%d)", x2, x1) end
        if y1 >= y2 then fail(i, "y_2", "y_2 (%d) must be greater than y_1 (%d)", y2, y1) end
      elseif filled > 0 then
        for _, name in ipairs(BOX) do
          if fields[index[name]][i] == "" then
            fail(i, name, "empty while other box coordinates are set (give all four or none)")
          end
        end
      end
    end
    for name, values in pairs(box) do columns[name] = values end
  end
  for _, name in ipairs({ "category", "sequence" }) do
    if index[name] then
      local values = {}
      for i, s in ipairs(raw(name)) do values[i] = s ~= "" and s or nil end
      columns[name] = values
    end
  end
  for j, name in ipairs(names) do
    if columns[name] == nil then columns[name] = fields[j] end
  end

  local rows = {}
  for i = 1, n do rows[i] = i end
  local warnings = {}
  if columns.category then warnings[#warnings + 1] = category_warning(path, labels, columns.category, n) end
  if opts.verbose ~= false then
    for _, w in ipairs(warnings) do io.stderr:write("oml.data: warning: ", w, "\n") end
  end
  return setmetatable({ file = path, dataset_root = root, n = n, names = names, columns = columns,
                        row = rows, line = lines, warnings = warnings }, Dataframe)
end

-- The rows of one split, as a Dataframe whose df.row and df.line still give
-- each row's place in the file.
function Dataframe:split(name)
  if not SPLITS[name] then
    T.raise("oml.data.Dataframe:split", "the split must be 'train' or 'validation' (got %s)", T.show(name))
  end
  local keep = {}
  local split = self.columns.split
  for i = 1, self.n do
    if split[i] == name then keep[#keep + 1] = i end
  end
  local columns = {}
  for column, values in pairs(self.columns) do
    local picked = {}
    for k, i in ipairs(keep) do picked[k] = values[i] end
    columns[column] = picked
  end
  local rows, lines = {}, {}
  for k, i in ipairs(keep) do rows[k], lines[k] = self.row[i], self.line[i] end
  return setmetatable({ file = self.file, dataset_root = self.dataset_root, n = #keep, names = self.names,
                        columns = columns, row = rows, line = lines, warnings = self.warnings }, Dataframe)
end

return M
