-- What the dataset converters share: reading the originals' whitespace
-- tables, checking files, and writing OML's CSV through oml.io.atomic.
local T = require "oml.tensor"
local atomic = require "oml.io.atomic"

local M = {}

function M.exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

function M.require_file(path, name)
  if not M.exists(path) then T.raise(name, "%s does not exist", path) end
end

-- The lines of a text file split on whitespace: a list of lists of fields,
-- blank lines left out, each with its line number in .line.
function M.read_table(path, name)
  local f, err = io.open(path, "r")
  if not f then T.raise(name, "%s", err) end
  local rows, n = {}, 0
  for line in f:lines() do
    n = n + 1
    local fields = {}
    for field in line:gmatch("%S+") do fields[#fields + 1] = field end
    if #fields > 0 then
      fields.line = n
      rows[#rows + 1] = fields
    end
  end
  f:close()
  return rows
end

function M.integer(s, path, line, name)
  local v = tonumber(s)
  if v == nil or v ~= math.floor(v) then
    T.raise(name, "%s: line %d: '%s' is not an integer", path, line, tostring(s))
  end
  return v
end

function M.number(s, path, line, name)
  local v = tonumber(s)
  if v == nil then T.raise(name, "%s: line %d: '%s' is not a number", path, line, tostring(s)) end
  return v
end

local function field(v)
  if v == nil then return "" end
  if v == true then return "True" end
  if v == false then return "False" end
  if type(v) == "number" then return v == math.floor(v) and ("%d"):format(v) or ("%.17g"):format(v) end
  v = tostring(v)
  if v:find('[,"\r\n]') then return '"' .. v:gsub('"', '""') .. '"' end
  return v
end

-- Writes rows (tables keyed by column) under the columns, in order.
function M.write_csv(path, columns, rows, name)
  local ok, err = pcall(atomic.write, path, function(put)
    put(table.concat(columns, ",") .. "\n")
    local line = {}
    for _, row in ipairs(rows) do
      for j, c in ipairs(columns) do line[j] = field(row[c]) end
      put(table.concat(line, ",", 1, #columns) .. "\n")
    end
  end)
  if not ok then
    if type(err) == "table" and err.what then T.raise(name, "%s: %s", path, err.what) end
    error(err, 0)
  end
end

-- The parent directory's name of a path ("a/b/c.jpg" -> "b").
function M.parent_name(path) return path:match("([^/]+)/[^/]+$") end

-- The command line of a recipes/convert_*.lua script: options is {name =
-- "string" | "number" | "flag"}; `--name value` or `--flag`. Calls
-- convert(args), prints where the CSV went; returns the exit status.
function M.main(script, convert, options, argv, stdout, stderr)
  local args, i = {}, 1
  while i <= #argv do
    local key = argv[i]:match("^%-%-(.+)$")
    local kind = key and options[key]
    if kind == nil or argv[i] == "--help" then
      local usage = {}
      for name, k in pairs(options) do
        usage[#usage + 1] = k == "flag" and "[--" .. name .. "]" or "--" .. name .. " X"
      end
      table.sort(usage)
      local out = argv[i] == "--help" and stdout or stderr
      out:write(("usage: luajit %s %s\n"):format(script, table.concat(usage, " ")))
      return argv[i] == "--help" and 0 or 2
    end
    if kind == "flag" then
      args[key] = true
    else
      i = i + 1
      args[key] = kind == "number" and tonumber(argv[i]) or argv[i]
    end
    i = i + 1
  end
  local ok, csv, rows = pcall(convert, args)
  if not ok then
    stderr:write(script, ": ", (tostring(csv):gsub("^[^:]*:%d+: ", "")), "\n")
    return 1
  end
  stdout:write(("%s: wrote %s (%d rows)\n"):format(script, csv, #rows))
  return 0
end

return M
