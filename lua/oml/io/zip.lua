-- oml.io.zip: reads the entries of a zip archive that are STORED (not
-- compressed), as torch.save writes them. The archive is mapped (oml.io.mmap);
-- open reads the central directory (zip64 too) and the local header of every
-- entry, and checks that each entry lies inside the file, apart from every
-- other entry and before the directory (overlapping entries would let a small
-- file pose as a huge one). An entry's bytes are then copied straight from
-- the mapping and checked against the CRC-32 that the directory records
-- (zlib's, through oml.io.zlib). Nothing in the file is trusted.
--
-- Errors are tables { what = "..." } (as in oml.io.safetensors), so that the
-- caller can add its own name and the path.
local ffi = require "ffi"
local bit = require "bit"
local mmap = require "oml.io.mmap"
local zlib = require "oml.io.zlib"

local M = {}

local function fail(fmt, ...)
  error({ what = select("#", ...) > 0 and fmt:format(...) or fmt }, 0)
end

local EOCD_SIG, EOCD64_LOCATOR_SIG, EOCD64_SIG = "PK\5\6", "PK\6\7", "PK\6\6"
local CENTRAL_SIG, LOCAL_SIG = "PK\1\2", "PK\3\4"
local EOCD_SIZE, MAX_COMMENT, LOCAL_HEADER_SIZE = 22, 65535, 30
local STORED = 0
-- copy checks the CRC of this many bytes just before it copies them, while
-- they are still in the cache (measured: 1-4 MB chunks beat a CRC pass over
-- each entry then a copy, and beat smaller chunks)
local CRC_CHUNK = 2 ^ 20

-- little-endian unsigned integers of s at byte i (1-based); the 8-byte one
-- is exact up to 2^53, past which offsets are rejected anyway
local function u16(s, i) return s:byte(i) + 256 * s:byte(i + 1) end
local function u32(s, i) return u16(s, i) + 65536 * u16(s, i + 2) end
local function u64(s, i) return u32(s, i) + 4294967296 * u32(s, i + 4) end

-- bytes [offset, offset + n) of the file, which must lie inside it
local function read_at(archive, offset, n, what)
  if offset < 0 or n < 0 or offset + n > archive.size then
    fail("%s (bytes %d to %d) lies outside the file (%d bytes)", what, offset, offset + n, archive.size)
  end
  return ffi.string(archive.base + offset, n)
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

-- Where the entry's bytes start, after its local header, which must be there.
local function locate(archive, entry)
  local header = read_at(archive, entry.offset, LOCAL_HEADER_SIZE, ("the local header of '%s'"):format(entry.name))
  if header:sub(1, 4) ~= LOCAL_SIG then fail("the local header of entry '%s' is corrupt", entry.name) end
  entry.data_offset = entry.offset + LOCAL_HEADER_SIZE + u16(header, 27) + u16(header, 29)
  entry.data_end = entry.data_offset + entry.compressed_size
  if entry.data_end > archive.size then
    fail("entry '%s' (bytes %d to %d) lies outside the file (%d bytes)", entry.name, entry.data_offset, entry.data_end,
         archive.size)
  end
end

-- Each entry, header and bytes, must end before the next begins, the last
-- before the directory.
local function check_apart(entries, dir_offset)
  local by_offset = {}
  for _, entry in pairs(entries) do by_offset[#by_offset + 1] = entry end
  table.sort(by_offset, function(a, b) return a.offset < b.offset or (a.offset == b.offset and a.name < b.name) end)
  for i, entry in ipairs(by_offset) do
    local after = by_offset[i + 1]
    if after and entry.data_end > after.offset then
      fail("entries '%s' and '%s' overlap", entry.name, after.name)
    end
    if entry.data_end > dir_offset then fail("entry '%s' overlaps the central directory", entry.name) end
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
    if entries[entry.name] then fail("the archive holds entry '%s' twice", entry.name) end
    locate(archive, entry)
    entries[entry.name] = entry
    names[#names + 1] = entry.name
    pos = pos + 46 + name_len + extra_len + comment_len
  end
  check_apart(entries, dir_offset)
  return entries, names
end

-- open(path) -> an archive: archive.names lists the entries in directory
-- order. The file stays mapped until close.
function M.open(path)
  local base, size = mmap.map(path)
  local archive = { base = base, size = size }
  local ok, entries, names = pcall(read_directory, archive)
  if not ok then
    mmap.unmap(base, size)
    error(entries, 0)
  end
  archive.entries, archive.names = entries, names
  return archive
end

function M.close(archive)
  mmap.unmap(archive.base, archive.size)
end

function M.has(archive, name)
  return archive.entries[name] ~= nil
end

-- The entry called name, which must be one oml can read.
local function stored_entry(archive, name)
  local entry = archive.entries[name]
  if entry == nil then fail("the archive has no entry '%s'", name) end
  if entry.method ~= STORED then
    fail("entry '%s' is compressed (method %d); oml reads only stored entries, as torch.save writes them",
         name, entry.method)
  end
  if bit.band(entry.flags, 1) == 1 then fail("entry '%s' is encrypted", name) end
  if entry.compressed_size ~= entry.size then fail("entry '%s' is stored but its sizes differ", name) end
  return entry
end

-- size(archive, name) -> the bytes in the entry
function M.size(archive, name)
  return stored_entry(archive, name).size
end

-- copy(archive, name, dest): the entry's bytes into dest (room for
-- size(archive, name) bytes), CRC-checked. On a failed check dest holds the
-- bytes, unchecked: the caller drops it.
function M.copy(archive, name, dest)
  local entry = stored_entry(archive, name)
  local src, n, crc = archive.base + entry.data_offset, entry.size, 0
  dest = ffi.cast("uint8_t *", dest)
  for at = 0, n - 1, CRC_CHUNK do
    local len = math.min(n - at, CRC_CHUNK)
    crc = zlib.crc32(src + at, len, crc)
    ffi.copy(dest + at, src + at, len)
  end
  if crc ~= entry.crc then fail("entry '%s' fails its CRC-32 check", name) end
end

-- read(archive, name) -> the entry's bytes as a string, CRC-checked.
function M.read(archive, name)
  local entry = stored_entry(archive, name)
  local bytes = archive.base + entry.data_offset
  if zlib.crc32(bytes, entry.size) ~= entry.crc then fail("entry '%s' fails its CRC-32 check", name) end
  return ffi.string(bytes, entry.size)
end

return M
