-- oml.io.matlab: reads MATLAB v5 (and v7, compressed) .mat files, as the
-- annotations of datasets such as Cars196 come: the 128-byte header, then
-- one data element per variable, each a miMATRIX or a miCOMPRESSED holding
-- one (inflated by zlib, through oml.io.zlib). Arrays of the
-- classes double, single, int8..uint64 (also logical), char, struct and
-- cell are read; anything else (sparse, objects, complex numbers,
-- big-endian files, v7.3 HDF5 files, v4 files) is refused with an error
-- that names the file and the element. Nothing in the file is trusted:
-- every tag and size is checked against the bytes that hold it.
--
-- Values are Lua tables:
--   numeric { class = "double" | "uint8" | ..., dims = {2, 3}, logical = bool,
--             values = {...} (column-major, Lua numbers) }
--   char    { class = "char", dims = {1, 5}, rows = {"hello"} } (UTF-8)
--   struct  { class = "struct", dims = {1, n}, fields = {"a", "b"},
--             elements = {{a = value, b = value}, ...} } (column-major)
--   cell    { class = "cell", dims = {1, n}, elements = {value, ...} }
local ffi = require "ffi"
local bit = require "bit"
local T = require "oml.tensor"
local zlib = require "oml.io.zlib"

local NAME = "oml.io.matlab"
local M = {}

M.MAX_FILE = 2 ^ 30        -- bytes of a file, and of one inflated element
local MAX_DEPTH = 32       -- nesting of structs and cells
local HEADER = 128


local MI = { INT8 = 1, UINT8 = 2, INT16 = 3, UINT16 = 4, INT32 = 5, UINT32 = 6, SINGLE = 7, DOUBLE = 9, INT64 = 12,
             UINT64 = 13, MATRIX = 14, COMPRESSED = 15, UTF8 = 16, UTF16 = 17, UTF32 = 18 }
-- numeric data types: ctype and size
local NUMERIC = {
  [MI.INT8] = { "int8_t", 1 }, [MI.UINT8] = { "uint8_t", 1 }, [MI.INT16] = { "int16_t", 2 },
  [MI.UINT16] = { "uint16_t", 2 }, [MI.INT32] = { "int32_t", 4 }, [MI.UINT32] = { "uint32_t", 4 },
  [MI.SINGLE] = { "float", 4 }, [MI.DOUBLE] = { "double", 8 }, [MI.INT64] = { "int64_t", 8 },
  [MI.UINT64] = { "uint64_t", 8 },
}
local CLASS = { [1] = "cell", [2] = "struct", [3] = "object", [4] = "char", [5] = "sparse", [6] = "double",
                [7] = "single", [8] = "int8", [9] = "uint8", [10] = "int16", [11] = "uint16", [12] = "int32",
                [13] = "uint32", [14] = "int64", [15] = "uint64", [16] = "function", [17] = "opaque" }
local COMPLEX, LOGICAL = 0x800, 0x200

-- A reader over one buffer (the file, or an inflated element): s is the
-- Lua string, p a pointer to its bytes; offsets are 0-based. context and
-- stack (variable, cell and field names) say where an error is.
local Reader = {}
Reader.__index = Reader

local function new_reader(path, s, context)
  return setmetatable({ path = path, s = s, p = ffi.cast("const uint8_t *", s), context = context, stack = {} },
    Reader)
end

function Reader:fail(at, fmt, ...)
  local where = table.concat(self.stack, " > ")
  if where ~= "" then where = where .. ", " end
  T.raise(NAME, "%s: %s%sbyte %d: %s", self.path, self.context, where, at, fmt:format(...))
end

function Reader:u32(at)
  local p = self.p
  return p[at] + 256 * p[at + 1] + 65536 * p[at + 2] + 16777216 * p[at + 3]
end

-- The data element whose tag is at `at`, inside [.., limit): its type, the
-- offset and length of its data, and where the next element starts (tags
-- and data are 8-byte aligned; the small format packs up to 4 bytes of
-- data into the tag).
function Reader:element(at, limit)
  if at + 8 > limit then self:fail(at, "a data element's tag is cut off (%d bytes left)", limit - at) end
  local first = self:u32(at)
  local small_len = math.floor(first / 65536)
  if small_len ~= 0 then
    if small_len > 4 then self:fail(at, "a small data element claims %d bytes (at most 4)", small_len) end
    return first % 65536, at + 4, small_len, at + 8
  end
  local len = self:u32(at + 4)
  if len > limit - at - 8 then
    self:fail(at, "a data element of %d bytes runs past the end (%d bytes left)", len, limit - at - 8)
  end
  local next_at = at + 8 + len
  if first ~= MI.COMPRESSED then next_at = math.min(next_at + (-len) % 8, limit) end
  return first, at + 8, len, next_at
end

-- An element that must have type `want` (one of a list), for sub-elements
-- of a miMATRIX.
function Reader:expect(at, limit, what, want)
  local kind, data, len, next_at = self:element(at, limit)
  if not want[kind] then self:fail(at, "the %s has data type %d", what, kind) end
  return kind, data, len, next_at
end

-- count numbers of type `kind` at data (len bytes), as a Lua list
function Reader:numbers(kind, data, len, at, what)
  local t = NUMERIC[kind]
  if not t then self:fail(at, "the %s has data type %d, not a numeric one", what, kind) end
  local size = t[2]
  if len % size ~= 0 then
    self:fail(at, "the %s has %d bytes, not a whole number of %d-byte values", what, len, size)
  end
  local n = len / size
  local buf = ffi.new(t[1] .. "[?]", math.max(n, 1))
  ffi.copy(buf, self.p + data, len)
  local out = {}
  for i = 1, n do
    local v = buf[i - 1]
    if size == 8 and kind ~= MI.DOUBLE then -- int64 / uint64 cdata
      local x = tonumber(v)
      if x ~= x or math.abs(x) >= 2 ^ 53 then self:fail(at, "the %s holds an integer beyond 2^53", what) end
      v = x
    end
    out[i] = v
  end
  return out
end

local NAME_TYPES = { [MI.INT8] = true, [MI.UINT8] = true }
local CHAR_TYPES = { [MI.UINT16] = true, [MI.UTF16] = true, [MI.UINT8] = true, [MI.UTF8] = true, [MI.INT8] = true }

-- UTF-16 code units -> UTF-8 (unpaired surrogates refused)
function Reader:utf8_of(units, at)
  local out, i = {}, 1
  while i <= #units do
    local c = units[i]
    if c >= 0xD800 and c <= 0xDBFF and units[i + 1] and units[i + 1] >= 0xDC00 and units[i + 1] <= 0xDFFF then
      c = 0x10000 + (c - 0xD800) * 1024 + (units[i + 1] - 0xDC00)
      i = i + 1
    elseif c >= 0xD800 and c <= 0xDFFF then
      self:fail(at, "the characters hold an unpaired UTF-16 surrogate")
    end
    if c < 0x80 then
      out[#out + 1] = string.char(c)
    elseif c < 0x800 then
      out[#out + 1] = string.char(0xC0 + bit.rshift(c, 6), 0x80 + bit.band(c, 63))
    elseif c < 0x10000 then
      out[#out + 1] = string.char(0xE0 + bit.rshift(c, 12), 0x80 + bit.band(bit.rshift(c, 6), 63),
        0x80 + bit.band(c, 63))
    else
      out[#out + 1] = string.char(0xF0 + bit.rshift(c, 18), 0x80 + bit.band(bit.rshift(c, 12), 63),
        0x80 + bit.band(bit.rshift(c, 6), 63), 0x80 + bit.band(c, 63))
    end
    i = i + 1
  end
  return table.concat(out)
end

-- the rows of a char array: dims {r, c, ...} of column-major characters
function Reader:char_rows(kind, data, len, at, dims, count)
  local rows = {}
  local r = dims[1]
  if count == 0 then return rows end
  if kind == MI.UINT8 or kind == MI.UTF8 or kind == MI.INT8 then
    if len ~= count then
      if r ~= 1 or kind ~= MI.UTF8 then self:fail(at, "the characters take %d bytes for %d characters", len, count) end
      return { ffi.string(self.p + data, len) } -- one row of multi-byte UTF-8
    end
    local bytes = ffi.string(self.p + data, len)
    for i = 1, r do
      local row = {}
      for j = 0, count / math.max(r, 1) - 1 do row[#row + 1] = bytes:sub(i + j * r, i + j * r) end
      rows[i] = table.concat(row)
    end
    return rows
  end
  if len ~= 2 * count then self:fail(at, "the characters take %d bytes for %d UTF-16 characters", len, count) end
  local units = self:numbers(MI.UINT16, data, len, at, "characters")
  for i = 1, r do
    local row = {}
    for j = 0, count / math.max(r, 1) - 1 do row[#row + 1] = units[i + j * r] end
    rows[i] = self:utf8_of(row, at)
  end
  return rows
end

-- The miMATRIX whose data is [data, data + len): { name, value }.
function Reader:matrix(data, len, depth)
  if depth > MAX_DEPTH then self:fail(data, "arrays are nested more than %d deep", MAX_DEPTH) end
  local limit = data + len
  if len == 0 then return "", { class = "double", dims = { 0, 0 }, values = {} } end -- MATLAB's empty array
  local _, flags_at, flags_len, at = self:expect(data, limit, "array flags", { [MI.UINT32] = true })
  if flags_len ~= 8 then self:fail(data, "the array flags have %d bytes (expected 8)", flags_len) end
  local flags = self:u32(flags_at)
  local class_id, class = flags % 256, CLASS[flags % 256]
  local dims_at = at
  local dkind, ddata, dlen
  dkind, ddata, dlen, at = self:expect(at, limit, "dimensions", { [MI.INT32] = true })
  local dims = self:numbers(dkind, ddata, dlen, dims_at, "dimensions")
  if #dims < 2 then self:fail(dims_at, "an array has %d dimensions (at least 2)", #dims) end
  local count = 1
  for _, d in ipairs(dims) do
    if d < 0 then self:fail(dims_at, "an array has a negative dimension (%d)", d) end
    count = count * d
  end
  local _, ndata, nlen
  _, ndata, nlen, at = self:expect(at, limit, "array name", NAME_TYPES)
  local name = ffi.string(self.p + ndata, nlen)
  local value = { class = class, dims = dims }
  -- a variable is named by its name, a cell or a field by the caller
  local named = name ~= ""
  if named then self.stack[#self.stack + 1] = "'" .. name .. "'" end
  if bit.band(flags, COMPLEX) ~= 0 then self:fail(data, "complex arrays are not read") end
  if class == nil or class == "object" or class == "sparse" or class == "function" or class == "opaque" then
    self:fail(data, "arrays of class %s are not read", class or tostring(class_id))
  end
  if class == "struct" then
    self:structure(at, limit, count, value, depth)
  elseif class == "cell" then
    value.elements = {}
    if count * 8 > limit - at then self:fail(at, "%d cells do not fit in %d bytes", count, limit - at) end
    for i = 1, count do
      self.stack[#self.stack + 1] = "cell " .. i
      local _, edata, elen, next_at = self:expect(at, limit, "cell", { [MI.MATRIX] = true })
      local _, v = self:matrix(edata, elen, depth + 1)
      value.elements[i], at = v, next_at
      self.stack[#self.stack] = nil
    end
  else
    local kind, edata, elen = self:element(at, limit)
    if class == "char" then
      if not CHAR_TYPES[kind] then self:fail(at, "the characters have data type %d", kind) end
      value.rows = self:char_rows(kind, edata, elen, at, dims, count)
    else
      value.values = self:numbers(kind, edata, elen, at, "values")
      if #value.values ~= count then
        self:fail(at, "the array has %d values for dimensions %s", #value.values, table.concat(dims, "x"))
      end
      value.logical = bit.band(flags, LOGICAL) ~= 0
    end
  end
  if named then self.stack[#self.stack] = nil end
  return name, value
end

-- A struct array's field names and its elements' fields, from `at`.
function Reader:structure(at, limit, count, value, depth)
  local lkind, ldata, llen
  local len_at = at
  lkind, ldata, llen, at = self:expect(at, limit, "field name length", { [MI.INT32] = true })
  local name_len = self:numbers(lkind, ldata, llen, len_at, "field name length")[1]
  if llen ~= 4 or name_len < 1 or name_len > 64 then
    self:fail(len_at, "a field name length of %s", tostring(name_len))
  end
  local names_at = at
  local _, ndata, nlen
  _, ndata, nlen, at = self:expect(at, limit, "field names", NAME_TYPES)
  if nlen % name_len ~= 0 then self:fail(names_at, "%d bytes of field names of %d bytes each", nlen, name_len) end
  local fields, seen = {}, {}
  for i = 0, nlen / name_len - 1 do
    local f = ffi.string(self.p + ndata + i * name_len, name_len):match("^[^%z]*")
    if f == "" or seen[f] then self:fail(names_at, "the field name '%s' is empty or repeated", f) end
    seen[f] = true
    fields[#fields + 1] = f
  end
  value.fields, value.elements = fields, {}
  if count * math.max(#fields, 1) * 8 > limit - at then
    self:fail(at, "%d elements of %d fields do not fit in %d bytes", count, #fields, limit - at)
  end
  for i = 1, count do
    local element = {}
    for _, f in ipairs(fields) do
      self.stack[#self.stack + 1] = ("element %d, field '%s'"):format(i, f)
      local _, edata, elen, next_at = self:expect(at, limit, "field", { [MI.MATRIX] = true })
      local _, v = self:matrix(edata, elen, depth + 1)
      element[f], at = v, next_at
      self.stack[#self.stack] = nil
    end
    value.elements[i] = element
  end
end

-- the bytes of a miCOMPRESSED element, inflated
function Reader:inflate(data, len, at)
  local bytes, problem, code = zlib.uncompress(self.p + data, len, M.MAX_FILE)
  if problem == "corrupt" then
    self:fail(at, "the compressed element is not a valid zlib stream (zlib error %d)", code)
  end
  if problem then self:fail(at, "the compressed element inflates to more than %d bytes", M.MAX_FILE) end
  return bytes
end

-- read(path) -> { name = value, ... } (see the top of this file)
function M.read(path)
  if type(path) ~= "string" then T.raise(NAME, "the path must be a string (got %s)", T.kind(path)) end
  local f, err = io.open(path, "rb")
  if not f then T.raise(NAME, "%s", err) end
  local size = f:seek("end")
  if size > M.MAX_FILE then
    f:close()
    T.raise(NAME, "%s: %d bytes is more than a .mat file oml reads", path, size)
  end
  f:seek("set")
  local s = f:read("*a") or ""
  f:close()
  if #s < HEADER then T.raise(NAME, "%s: not a MATLAB v5 file (%d bytes, shorter than its header)", path, #s) end
  local endian, version = s:sub(127, 128), s:byte(125) + 256 * s:byte(126)
  if s:sub(1, 10) == "MATLAB 7.3" then
    T.raise(NAME, "%s: a MATLAB 7.3 (HDF5) file; only v5 and v7 files are read", path)
  end
  if endian == "MI" then T.raise(NAME, "%s: a big-endian MATLAB file, which is not read", path) end
  if endian ~= "IM" or version ~= 0x0100 or s:sub(1, 6) ~= "MATLAB" then
    T.raise(NAME, "%s: not a MATLAB v5 file (its header does not say so)", path)
  end
  local r = new_reader(path, s, "")
  local vars, at = {}, HEADER
  while at < #s do
    local kind, data, len, next_at = r:element(at, #s)
    local inner, inner_data, inner_len = r, data, len
    if kind == MI.COMPRESSED then
      local bytes = r:inflate(data, len, at)
      inner = new_reader(path, bytes, ("in the compressed element at byte %d, "):format(at))
      kind, inner_data, inner_len = inner:element(0, #bytes)
    end
    if kind ~= MI.MATRIX then inner:fail(inner == r and at or 0, "a variable has data type %d (not an array)", kind) end
    local name, value = inner:matrix(inner_data, inner_len, 1)
    vars[name] = value
    at = next_at
  end
  return vars
end

return M
