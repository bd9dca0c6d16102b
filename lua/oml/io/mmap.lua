-- oml.io.mmap: a file mapped read-only into memory, so that readers of large
-- files (oml.io.safetensors, oml.io.zip) copy bytes straight from the page
-- cache into tensors, with no read into a Lua string first.
--
--   local base, size = mmap.map(path)  -- const uint8_t *, bytes
--   ... base[0] .. base[size - 1] ...
--   mmap.unmap(base, size)
--
-- An empty file gives size 0 and a base that must not be read (mmap cannot
-- map zero bytes). Failures raise tables { what = "cannot ..." }, as the
-- readers' own errors, for the caller to add its name and the path.
local ffi = require "ffi"

local libc = ffi.C

-- (oml.io.atomic declares open and close too: identical declarations may repeat)
ffi.cdef [[
int open(const char *path, int flags, ...);
int close(int fd);
int64_t pread(int fd, void *buf, size_t count, int64_t offset);
int64_t lseek(int fd, int64_t offset, int whence);
void *mmap(void *addr, size_t length, int prot, int flags, int fd, int64_t offset);
int munmap(void *addr, size_t length);
char *strerror(int errnum);
]]

-- Linux's values, the same on x86_64 and aarch64
local O_RDONLY, O_CLOEXEC = 0, 0x80000
local PROT_READ, MAP_PRIVATE, SEEK_END = 1, 2, 2
local MAP_FAILED = ffi.cast("void *", -1)
local FILE_MODE = ffi.new("unsigned int", 438) -- 0666, less the umask
local NOTHING = ffi.new("uint8_t[1]") -- the base of an empty file

local M = {}

local function fail(what)
  error({ what = what }, 0)
end

-- The message of the last failed libc call; read at once, before another call.
local function errno_string()
  return ffi.string(libc.strerror(ffi.errno()))
end

-- map(path) -> base, size
function M.map(path)
  local fd = libc.open(path, O_RDONLY + O_CLOEXEC, FILE_MODE)
  if fd < 0 then fail("cannot open: " .. errno_string()) end
  local err, addr, size
  -- a read first: on a directory it says so, where mmap would say "No such device"
  if libc.pread(fd, ffi.new("uint8_t[1]"), 1, 0) < 0 then
    err = "cannot read: " .. errno_string()
  else
    size = tonumber(libc.lseek(fd, 0, SEEK_END))
    if size < 0 then
      err = "cannot seek: " .. errno_string()
    elseif size == 0 then
      addr = NOTHING
    else
      addr = libc.mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
      if addr == MAP_FAILED then err = "cannot map: " .. errno_string() end
    end
  end
  libc.close(fd) -- the mapping stays valid without the descriptor
  if err then fail(err) end
  return ffi.cast("const uint8_t *", addr), size
end

function M.unmap(base, size)
  if size > 0 then libc.munmap(ffi.cast("void *", base), size) end
end

return M
