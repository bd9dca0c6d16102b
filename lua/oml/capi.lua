-- oml.capi: declares the engine's C API to the FFI from the one public
-- header, and loads liboml.so. Both are found relative to this file, so a
-- checkout (after `make`) and a LuaRocks install work without environment
-- variables; OML_LIBRARY overrides the library (the sanitizer build uses it).
local ffi = require "ffi"

local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

-- candidates may hold nils (an unset variable, a failed search)
local function first_existing(candidates)
  for i = 1, table.maxn(candidates) do
    if candidates[i] and exists(candidates[i]) then return candidates[i] end
  end
end

-- In a checkout this file is lua/oml/capi.lua; installed, the header sits
-- beside it and the library on package.cpath.
local header = first_existing { here .. "/oml.h", here .. "/../../engine/include/oml.h" }
if not header then
  error("oml: cannot find oml.h beside " .. here .. " or in engine/include of the checkout", 0)
end

local library = first_existing {
  os.getenv("OML_LIBRARY"),
  here .. "/../../build/liboml.so",
  package.searchpath("liboml", package.cpath),
  here .. "/../../../../lib/lua/5.1/liboml.so", -- a LuaRocks tree: share/lua/5.1/oml -> lib/lua/5.1
}
if not library then
  error("oml: cannot find liboml.so; run `make` in the checkout (looked beside " .. here .. ")", 0)
end

-- The FFI reads the declarations between the markers, minus preprocessor lines.
local f = assert(io.open(header, "rb"))
local text = f:read("*a")
f:close()
local body = text:match("/%* ffi:begin %*/(.-)/%* ffi:end %*/")
if not body then error("oml: " .. header .. " has no ffi:begin/ffi:end markers", 0) end
ffi.cdef((body:gsub("\n#[^\n]*", "\n")))

-- OpenMP threads that wait for work spin briefly, then sleep (libgomp reads
-- this when it loads, with liboml). Its default spins long enough to take
-- the cores from whatever runs between two parallel loops (Lua, the loader's
-- workers, other processes); sleeping at once makes each loop wait for its
-- threads to wake, which halves the speed of small GEMMs. A user's own
-- setting wins.
ffi.cdef "int setenv(const char *name, const char *value, int overwrite);"
if os.getenv("OMP_WAIT_POLICY") == nil then ffi.C.setenv("GOMP_SPINCOUNT", "10000", 0) end

return { C = ffi.load(library), header = header, library = library }
