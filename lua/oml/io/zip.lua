-- oml.io.zip: reads the entries of a zip archive that are STORED (not
-- compressed), as torch.save writes them: the central directory (zip64 too),
-- each entry's bytes at the offset its local header gives, checked against
-- the CRC-32 the directory records. Every offset and length is checked
-- against the file's size before it is read; nothing is trusted.
--
-- Errors are tables { what = "..." } (as in oml.io.safetensors), so that the
-- caller can add its own name and the path.
local bit = require "bit"

local band, bxor, rshift = bit.band, bit.bxor, bit.rshift

local M = {}

local function fail(fmt, ...)
  error({ what = select("#", ...) > 0 and fmt:format(...) or fmt }, 0)
end

local EOCD_SIG, EOCD64_LOCATOR_SIG, EOCD64_SIG = "PK\5\6", "PK\6\7", "PK\6\6"
local CENTRAL_SIG, LOCAL_SIG = "PK\1\2", "PK\3\4"
local EOCD_SIZE, MAX_COMMENT = 22, 65535
local STORED = 0

-- little-endian unsigned integers of s at byte i (1-based); the 8-byte one
-- is exact up to 2^53, past which offsets are rejected anyway
local function u16(s, i) return s:byte(i) + 256 * s:byte(i + 1) end
local function u32(s, i) return u16(s, i) + 65536 * u16(s, i + 2) end
local function u64(s, i) return u32(s, i) + 4294967296 * u32(s, i + 4) end

local CRC_TABLE = {}
for n = 0, 255 do
  local c = n
  for _ = 1, 8 do c = band(c, 1) == 1 and bxor(0xEDB88320, rshift(c, 1)) or rshift(c, 1) end
  CRC_TABLE[n] = c
end

-- CRC-32 (the zip polynomial) of a string, as an unsigned number.
local function crc32(s)
  local c = -1
  for i = 1, #s do c = bxor(CRC_TABLE[band(bxor(c, s:byte(i)), 255)], rshift(c, 8)) end
  c = bit.bnot(c)
  return c < 0 and c + 4294967296 or c
end

-- bytes [offset, offset + n) of the file, which must lie inside it
local function read_at(archive, offset, n, what)
  if offset < 0 or n < 0 or offset + n > archive.size then
    fail("%s (bytes %d to %d) lies outside the file (%d bytes)", what, offset, offset + n, archive.size)
  end
  archive.file:seek("set", offset)
  local s = archive.file:read(n) or ""
  if #s ~= n then fail("cannot read %s", what) end
  return s
end

-- The end-of-central-directory record: entry count, directory offset and size.
local function find_directory(archive)
  local tail_len = math.min(archive.size, EOCD_SIZE + MAX_COMMENT)
  local tail = read_at(archive, archive.size - tail_len, tail_len, "the end of the file")
  local at
  for i = #tail - EOCD_SIZE + 1, 1, -1 do
    if tail:sub(i, i + 3) == EOCD_SIG then at = i break end
  end
  if at == nil then fail("not a zip archive (no end of central directory record)") end
  local count, dir_size, dir_offset = u16(tail, at + 10), u32(tail, at + 12), u32(tail, at + 16)
  if count == 0xFFFF or dir_size == 0xFFFFFFFF or dir_offset == 0xFFFFFFFF then
    -- zip64: a locator just before the record points at the zip64 record
    local eocd_offset = archive.size - tail_len + at - 1
    local locator = read_at(archive, eocd_offset - 20, 20, "the zip64 locator")
    if locator:sub(1, 4) ~= EOCD64_LOCATOR_SIG then fail("the zip64 locator is missing") end
    local record = read_at(archive, u64(locator, 9), 56, "the zip64 end of central directory")
    if record:sub(1, 4) ~= EOCD64_SIG then fail("the zip64 end of central directory record is missing") end
    count, dir_size, dir_offset = u64(record, 33), u64(record, 41), u64(record, 49)
  end
  return count, dir_offset, dir_size
end

-- The zip64 extra field's values replace the saturated 32-bit fields, in order.
local function apply_zip64(extra, entry)
  local i = 1
  while i + 3 <= #extra do
    local id, len = u16(extra, i), u16(extra, i + 2)
    if id == 1 then
      local j = i + 4
      for _, field in ipairs { "size", "compressed_size", "offset" } do
        if entry[field] == 0xFFFFFFFF then
          if j + 7 > i + 3 + len or j + 7 > #extra then fail("entry '%s': a short zip64 extra field", entry.name) end
          entry[field] = u64(extra, j)
          j = j + 8
        end
      end
    end
    i = i + 4 + len
  end
end

local function read_directory(archive)
  local count, dir_offset, dir_size = find_directory(archive)
  local dir = read_at(archive, dir_offset, dir_size, "the central directory")
  local entries, names, pos = {}, {}, 1
  for _ = 1, count do
    if pos + 45 > #dir or dir:sub(pos, pos + 3) ~= CENTRAL_SIG then fail("the central directory is corrupt") end
    local name_len, extra_len, comment_len = u16(dir, pos + 28), u16(dir, pos + 30), u16(dir, pos + 32)
    if pos + 45 + name_len + extra_len + comment_len > #dir then fail("the central directory is corrupt") end
    local entry = {
      name = dir:sub(pos + 46, pos + 45 + name_len),
      flags = u16(dir, pos + 8), method = u16(dir, pos + 10), crc = u32(dir, pos + 16),
      compressed_size = u32(dir, pos + 20), size = u32(dir, pos + 24), offset = u32(dir, pos + 42),
    }
    apply_zip64(dir:sub(pos + 46 + name_len, pos + 45 + name_len + extra_len), entry)
    entries[entry.name] = entry
    names[#names + 1] = entry.name
    pos = pos + 46 + name_len + extra_len + comment_len
  end
  return entries, names
end

-- open(path) -> an archive: archive.names lists the entries in directory order.
function M.open(path)
  local file, err = io.open(path, "rb")
  if file == nil then fail("cannot open: %s", (err:gsub("^.-: ", ""))) end
  -- a read first: a directory opens, but reading it says what is wrong
  local _, read_err = file:read(0)
  local size = file:seek("end")
  if read_err or size == nil then
    file:close()
    fail("cannot read: %s", read_err or "cannot seek")
  end
  local archive = { file = file, size = size }
  local ok, entries, names = pcall(read_directory, archive)
  if not ok then
    file:close()
    error(entries, 0)
  end
  archive.entries, archive.names = entries, names
  return archive
end

function M.close(archive)
  archive.file:close()
end

function M.has(archive, name)
  return archive.entries[name] ~= nil
end

-- read(archive, name) -> the entry's bytes, CRC-checked.
function M.read(archive, name)
  local entry = archive.entries[name]
  if entry == nil then fail("the archive has no entry '%s'", name) end
  if entry.method ~= STORED then
    fail("entry '%s' is compressed (method %d); oml reads only stored entries, as torch.save writes them",
         name, entry.method)
  end
  if band(entry.flags, 1) == 1 then fail("entry '%s' is encrypted", name) end
  if entry.compressed_size ~= entry.size then fail("entry '%s' is stored but its sizes differ", name) end
  local header = read_at(archive, entry.offset, 30, ("the local header of '%s'"):format(name))
  if header:sub(1, 4) ~= LOCAL_SIG then fail("the local header of entry '%s' is corrupt", name) end
  local data_offset = entry.offset + 30 + u16(header, 27) + u16(header, 29)
  local data = read_at(archive, data_offset, entry.size, ("entry '%s'"):format(name))
  if crc32(data) ~= entry.crc then fail("entry '%s' fails its CRC-32 check", name) end
  return data
end

return M
