-- oml.io.atomic: writes a file so that a reader sees the old contents or the
-- new ones, never a part: the bytes go to a temporary file beside the target,
-- are synced, and the temporary file is renamed over the target (then the
-- directory is synced, so that the rename survives a crash).
--
--   atomic.write(path, function(put) put("text") put(ptr, nbytes) end)
--
-- Its own failures raise tables { what = "cannot ..." } (a caller adds its
-- name and the path); errors raised by the fill function pass through as
-- they are. On any failure the temporary file is removed and the target is
-- left untouched. oml.save (oml.io.safetensors) writes through it.
local ffi = require "ffi"

local libc = ffi.C

-- (oml.io.mmap declares open and close too: identical declarations may repeat)
ffi.cdef [[
int open(const char *path, int flags, ...);
int close(int fd);
int fsync(int fd);
int rename(const char *from, const char *to);
int unlink(const char *path);
int getpid(void);
int64_t write(int fd, const void *buf, size_t count);
char *strerror(int errnum);
]]

-- Linux's values, the same on x86_64 and aarch64
local O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_CLOEXEC = 0, 1, 0x40, 0x80, 0x80000
local EINTR, EEXIST, EINVAL = 4, 17, 22
local FILE_MODE = ffi.new("unsigned int", 438) -- 0666, less the umask

local M = {}

local function fail(fmt, ...)
  error({ what = select("#", ...) > 0 and fmt:format(...) or fmt }, 0)
end

-- The message of the last failed libc call; read at once, before another call.
local function errno_string()
  return ffi.string(libc.strerror(ffi.errno()))
end

local function write_all(fd, ptr, nbytes)
  ptr = ffi.cast("const uint8_t *", ptr)
  local done = 0
  while done < nbytes do
    local wrote = tonumber(libc.write(fd, ptr + done, math.min(nbytes - done, 2 ^ 30)))
    if wrote < 0 then
      if ffi.errno() ~= EINTR then fail("cannot write: %s", errno_string()) end
    else
      done = done + wrote
    end
  end
end

-- A new file beside the target, named after it: its name and descriptor. The
-- name is cut so that a target name of the longest length (255) still fits.
local temp_count = 0
local function create_temp(dir, base)
  while true do
    temp_count = temp_count + 1
    local temp = ("%s/.%s.tmp-%d-%d"):format(dir, base:sub(1, 200), libc.getpid(), temp_count)
    local fd = libc.open(temp, O_WRONLY + O_CREAT + O_EXCL + O_CLOEXEC, FILE_MODE)
    if fd >= 0 then return temp, fd end
    if ffi.errno() ~= EEXIST then fail("cannot create a temporary file in %s: %s", dir, errno_string()) end
  end
end

local function sync_dir(dir)
  local fd = libc.open(dir, O_RDONLY + O_CLOEXEC, FILE_MODE)
  if fd < 0 then fail("saved, but cannot open %s to sync it: %s", dir, errno_string()) end
  local rc, err = libc.fsync(fd), ffi.errno()
  libc.close(fd)
  -- EINVAL: a file system that cannot sync directories (nothing to do)
  if rc ~= 0 and err ~= EINVAL then
    fail("saved, but cannot sync %s: %s", dir, ffi.string(libc.strerror(err)))
  end
end

-- write(path, fill): fill(put) writes the contents through put(string) or
-- put(pointer, nbytes).
function M.write(path, fill)
  local dir, base = path:match("^(.*)/([^/]*)$")
  if dir == nil then dir, base = ".", path elseif dir == "" then dir = "/" end
  local temp, fd = create_temp(dir, base)
  local function put(data, nbytes)
    if type(data) == "string" then write_all(fd, data, #data) else write_all(fd, data, nbytes) end
  end
  local ok, err = pcall(function()
    fill(put)
    if libc.fsync(fd) ~= 0 then fail("cannot sync the file to disk: %s", errno_string()) end
  end)
  if libc.close(fd) ~= 0 and ok then ok, err = false, { what = "cannot close the file: " .. errno_string() } end
  if ok and libc.rename(temp, path) ~= 0 then
    ok, err = false, { what = "cannot replace the file: " .. errno_string() }
  end
  if not ok then
    libc.unlink(temp)
    error(err, 0)
  end
  sync_dir(dir)
end

return M
