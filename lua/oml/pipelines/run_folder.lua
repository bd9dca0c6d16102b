-- oml.pipelines.run_folder: the folder of one run, under a root folder:
--   config.json    the resolved config (keys sorted, indented)
--   metrics.jsonl  one JSON object a line per epoch or validation, appended
--                  and flushed as it comes, so a crash loses nothing logged
--   curves.jpg     every numeric value of the log against the epoch, one
--                  panel per value, in the sorted order of their names
-- config.json and curves.jpg are written atomically (oml.io.atomic); nothing
-- is written outside the folder (file names are plain names, no "/").
--
--   local run = run_folder.create{root = "runs", name = nil}   -- name: a timestamp
--   run:write_config(cfg)
--   run:log{epoch = 1, loss = 0.31, ["OVERALL/cmc/1"] = 0.62}
--   run:write_curves()
local ffi = require "ffi"
local cjson = require "cjson"
local atomic = require "oml.io.atomic"
local jpeg = require "oml.io.jpeg"
local creation = require("oml.ops.creation").functions

pcall(ffi.cdef, "int mkdir(const char *path, unsigned int mode);")

local M = {}
local Run = {}
Run.__index = Run

local EEXIST = 17

local function raise(fmt, ...)
  error("oml.pipelines.run_folder: " .. fmt:format(...), 3)
end

-- mkdir -p; true when the last component was created now.
local function make_dirs(path)
  local created = false
  local prefix = path:sub(1, 1) == "/" and "/" or ""
  for part in path:gmatch("[^/]+") do
    prefix = prefix .. part
    created = ffi.C.mkdir(prefix, 511) == 0
    if not created and ffi.errno() ~= EEXIST then return nil, prefix end
    prefix = prefix .. "/"
  end
  return created
end

-- create{root = "runs", name = nil}: a new folder root/name; name defaults to
-- the time (2024-05-01_12-30-05, then _2, _3 ... if taken).
function M.create(opts)
  opts = opts or {}
  local root = opts.root or "runs"
  if type(root) ~= "string" or root == "" then raise("root must be a path (got %s)", tostring(root)) end
  local name = opts.name
  if name ~= nil and (type(name) ~= "string" or name == "" or name:find("/") or name == "." or name == "..") then
    raise("name must be a plain folder name (got %s)", tostring(name))
  end
  local base = name or os.date("%Y-%m-%d_%H-%M-%S")
  local ok, failed = make_dirs(root)
  if ok == nil then raise("cannot create %s", failed) end
  for n = 1, 1000 do
    local path = root .. "/" .. (n == 1 and base or base .. "_" .. n)
    local created, where = make_dirs(path)
    if created == nil then raise("cannot create %s", where) end
    if created then return setmetatable({ path = path, records = {} }, Run) end
    if name ~= nil then raise("%s exists already (resume it with run_folder.open)", path) end
  end
  raise("cannot find a free name for %s in %s", base, root)
end

-- open(path): an existing run folder (to resume): its log is read back.
function M.open(path)
  local run = setmetatable({ path = path, records = {} }, Run)
  local f = io.open(run:file("metrics.jsonl"), "rb")
  if f then
    for line in f:lines() do
      local ok, record = pcall(cjson.decode, line)
      -- a line cut by a crash is skipped
      if ok and type(record) == "table" then run.records[#run.records + 1] = record end
    end
    f:close()
  end
  return run
end

-- file(name) -> the path of a file of the run folder.
function Run:file(name)
  if type(name) ~= "string" or name == "" or name:find("/") or name == "." or name == ".." then
    raise("a run folder file is a plain name (got %s)", tostring(name))
  end
  return self.path .. "/" .. name
end

-- JSON with sorted keys (cjson's order is the hash order): two-space
-- indents, or on one line when indent is nil.
local function sorted_json(v, indent)
  if type(v) ~= "table" then return cjson.encode(v) end
  local inner = indent and indent .. "  "
  local parts = {}
  if #v > 0 then
    for i, x in ipairs(v) do parts[i] = sorted_json(x, inner) end
    return "[" .. table.concat(parts, indent and ", " or ",") .. "]"
  end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = tostring(k) end
  if #keys == 0 then return "{}" end
  table.sort(keys)
  local colon = indent and ": " or ":"
  for i, k in ipairs(keys) do parts[i] = (inner or "") .. cjson.encode(k) .. colon .. sorted_json(v[k], inner) end
  if not indent then return "{" .. table.concat(parts, ",") .. "}" end
  return "{\n" .. table.concat(parts, ",\n") .. "\n" .. indent .. "}"
end

local function failure(err)
  return type(err) == "table" and err.what or tostring(err)
end

-- write_config(cfg): config.json.
function Run:write_config(cfg)
  local path, text = self:file("config.json"), sorted_json(cfg, "") .. "\n"
  local ok, err = pcall(atomic.write, path, function(put) put(text) end)
  if not ok then raise("%s: %s", path, failure(err)) end
end

-- log(record): appends record (a table of keys) to metrics.jsonl as one line.
function Run:log(record)
  if type(record) ~= "table" then raise("a record is a table (got %s)", type(record)) end
  local line = sorted_json(record)
  local path = self:file("metrics.jsonl")
  local f, err = io.open(path, "ab")
  if not f then raise("%s", err) end
  f:write(line, "\n")
  f:flush()
  f:close()
  self.records[#self.records + 1] = record
end

-- ---- curves ----------------------------------------------------------------

M.PANEL_WIDTH, M.PANEL_HEIGHT, M.MARGIN = 320, 200, 16
local COLUMNS = 2
local LINE_COLOR, AXIS_COLOR = { 31, 119, 180 }, { 90, 90, 90 }

local function finite(v)
  return type(v) == "number" and v == v and v ~= math.huge and v ~= -math.huge
end

-- {name = {{x, y}, ...}} of every numeric value but the epoch, x being the
-- record's epoch (its position when it has none); and the sorted names.
function M.series(records)
  local series, names = {}, {}
  for i, record in ipairs(records) do
    local x = finite(record.epoch) and record.epoch or i
    for k, v in pairs(record) do
      if k ~= "epoch" and type(v) == "number" then
        if not series[k] then series[k] = {} names[#names + 1] = k end
        table.insert(series[k], { x, v })
      end
    end
  end
  table.sort(names)
  return series, names
end

-- The pixel box {x0, y0, x1, y1} (0-based, inclusive) inside the axes of panel i.
function M.panel_box(i)
  local col, row = (i - 1) % COLUMNS, math.floor((i - 1) / COLUMNS)
  local m = M.MARGIN
  return { col * M.PANEL_WIDTH + m, row * M.PANEL_HEIGHT + m,
           (col + 1) * M.PANEL_WIDTH - m - 1, (row + 1) * M.PANEL_HEIGHT - m - 1 }
end

local Canvas = {}
Canvas.__index = Canvas

function Canvas:dot(x, y, color)
  x, y = math.floor(x + 0.5), math.floor(y + 0.5)
  if x < 0 or y < 0 or x >= self.width or y >= self.height then return end
  local p = (y * self.width + x) * 3
  self.data[p], self.data[p + 1], self.data[p + 2] = color[1], color[2], color[3]
end

-- A line two pixels thick (so that it survives JPEG).
function Canvas:line(x0, y0, x1, y1, color)
  local steps = math.max(math.abs(x1 - x0), math.abs(y1 - y0), 1)
  for s = 0, steps do
    local x, y = x0 + (x1 - x0) * s / steps, y0 + (y1 - y0) * s / steps
    self:dot(x, y, color)
    self:dot(x + 1, y, color)
    self:dot(x, y + 1, color)
  end
end

-- The range of ys, widened when flat so that a constant draws mid-height.
local function y_range(points)
  local lo, hi = math.huge, -math.huge
  for _, p in ipairs(points) do
    if finite(p[2]) then lo, hi = math.min(lo, p[2]), math.max(hi, p[2]) end
  end
  if lo > hi then return 0, 1 end
  if lo == hi then return lo - 0.5, hi + 0.5 end
  return lo, hi
end

local function draw_panel(canvas, box, points)
  local x0, y0, x1, y1 = box[1], box[2], box[3], box[4]
  canvas:line(x0, y0, x0, y1, AXIS_COLOR)
  canvas:line(x0, y1, x1, y1, AXIS_COLOR)
  local xlo, xhi = math.huge, -math.huge
  for _, p in ipairs(points) do xlo, xhi = math.min(xlo, p[1]), math.max(xhi, p[1]) end
  if xlo == xhi then xlo, xhi = xlo - 1, xhi + 1 end
  local ylo, yhi = y_range(points)
  local previous
  for _, p in ipairs(points) do
    if finite(p[2]) then
      local px = x0 + (p[1] - xlo) / (xhi - xlo) * (x1 - x0)
      local py = y1 - (p[2] - ylo) / (yhi - ylo) * (y1 - y0)
      if previous then canvas:line(previous[1], previous[2], px, py, LINE_COLOR) end
      canvas:dot(px, py, LINE_COLOR)
      previous = { px, py }
    else
      previous = nil -- a NaN breaks the curve
    end
  end
end

-- plot(records) -> uint8 [H, W, 3]: the panels of M.series (white when empty).
function M.plot(records)
  local series, names = M.series(records)
  local rows = math.max(1, math.ceil(#names / COLUMNS))
  local width, height = COLUMNS * M.PANEL_WIDTH, rows * M.PANEL_HEIGHT
  local image = creation.full({ height, width, 3 }, 255, { dtype = "uint8" })
  local canvas = setmetatable({ data = ffi.cast("uint8_t *", image.data_), width = width, height = height,
                                keep = image }, Canvas)
  for i, name in ipairs(names) do draw_panel(canvas, M.panel_box(i), series[name]) end
  return image
end

-- write_curves(): curves.jpg of the records logged (and read back by open).
function Run:write_curves()
  local image = M.plot(self.records)
  local bytes = jpeg.encode(image, 95)
  local ok, err = pcall(atomic.write, self:file("curves.jpg"), function(put)
    put(bytes.data_, tonumber(bytes.numel_))
  end)
  if not ok then raise("%s: %s", self:file("curves.jpg"), failure(err)) end
end

return M
