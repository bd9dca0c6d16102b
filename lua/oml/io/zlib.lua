-- oml.io.zlib: the zlib functions oml needs, from the system's libz.so.1
-- through the FFI (always there on Debian: dpkg pre-depends on zlib1g):
-- CRC-32 for oml.io.zip, inflating for oml.io.matlab.
--
-- CRC-32 goes through libdeflate instead when it is there (libdeflate0,
-- which libtiff6 pulls in): its carry-less multiplications run at ~14 GB/s
-- where zlib's tables run at ~4 (one core of the machine oml is developed
-- on). That is the difference between oml.load reading a .pth about as fast
-- as torch.load (which checks no CRC at all) and three times slower.
local ffi = require "ffi"

ffi.cdef [[
unsigned long crc32(unsigned long crc, const uint8_t *buf, unsigned int len);
int uncompress(uint8_t *dest, unsigned long *dest_len, const uint8_t *src, unsigned long src_len);
uint32_t libdeflate_crc32(uint32_t crc, const void *buffer, size_t len);
]]

local lib = ffi.load("libz.so.1")
local has_libdeflate, libdeflate = pcall(ffi.load, "libdeflate.so.0")

local Z_OK, Z_BUF_ERROR = 0, -5
local MAX_CRC_CALL = 2 ^ 30 -- zlib's crc32 takes an unsigned int length

local M = {}

-- crc32_zlib(ptr, len [, crc]) -> the CRC-32 (the zip polynomial) of the len
-- bytes at ptr, continuing crc (that of the bytes before; 0 to start), as a
-- number in [0, 2^32).
function M.crc32_zlib(ptr, len, crc)
  crc = crc or 0
  for at = 0, len - 1, MAX_CRC_CALL do crc = lib.crc32(crc, ptr + at, math.min(len - at, MAX_CRC_CALL)) end
  return tonumber(crc)
end

-- crc32(ptr, len [, crc]): the same, by the fastest library here
-- (M.CRC_LIBRARY names it).
if has_libdeflate then
  M.CRC_LIBRARY = "libdeflate"
  function M.crc32(ptr, len, crc)
    return libdeflate.libdeflate_crc32(crc or 0, ptr, len)
  end
else
  M.CRC_LIBRARY, M.crc32 = "zlib", M.crc32_zlib
end

-- uncompress(src, len, max_len) -> the bytes that the zlib stream of len
-- bytes at src inflates to, as a string; or nil, "corrupt", zlib's error
-- code; or nil, "too large" when they would pass max_len bytes.
function M.uncompress(src, len, max_len)
  local cap = math.min(math.max(4 * len, 4096), max_len)
  while true do
    local out, out_len = ffi.new("uint8_t[?]", cap), ffi.new("unsigned long[1]", cap)
    local rc = lib.uncompress(out, out_len, src, len)
    if rc == Z_OK then return ffi.string(out, out_len[0]) end
    if rc ~= Z_BUF_ERROR then return nil, "corrupt", rc end
    if cap >= max_len then return nil, "too large" end
    cap = math.min(2 * cap, max_len)
  end
end

return M
