-- oml.io.torch_checkpoint: imports PyTorch checkpoints (.pth/.pt) in the zip
-- layout torch.save has written since torch 1.6:
--   <top>/data.pkl      the pickled object (a state dict, or a dict holding one)
--   <top>/data/<key>    the bytes of each storage, little-endian, stored
-- where <top> is any folder name (torch uses the file's stem). The pickle is
-- read by oml.io.pickle, which runs no code and allows only the globals of
-- a state dict. Each storage is copied once, from the mapped archive into an
-- engine tensor (oml.io.zip checks its CRC on the way). The first tensor
-- that views a whole storage, contiguously, takes it over; any other view
-- (strided, narrowed, or of a storage already taken) becomes a contiguous
-- copy, so that no two loaded tensors share memory: writing into one never
-- changes another.
--
-- Checkpoints often wrap the state dict ({"state_dict": sd}, {"model": sd},
-- DINO's {"teacher": sd, "student": sd, ...}) and prefix its keys
-- ("module." from DataParallel, "backbone." from wrappers); load unwraps the
-- one wrapped dict and strips a prefix that every key has.
local ffi = require "ffi"
local T = require "oml.tensor"
local zip = require "oml.io.zip"
local pickle = require "oml.io.pickle"

local C = T.C

local M = {}

local function fail(fmt, ...)
  error({ what = select("#", ...) > 0 and fmt:format(...) or fmt }, 0)
end

local STORAGE_DTYPES = {
  ["torch.FloatStorage"] = T.FLOAT32, ["torch.HalfStorage"] = T.FLOAT16, ["torch.BFloat16Storage"] = T.BFLOAT16,
  ["torch.LongStorage"] = T.INT64, ["torch.IntStorage"] = T.INT32, ["torch.DoubleStorage"] = T.FLOAT64,
  ["torch.ByteStorage"] = T.UINT8, ["torch.BoolStorage"] = T.BOOL,
}

-- keys under which checkpoints wrap their state dict, and key prefixes to strip
M.WRAPPERS = { "state_dict", "model", "teacher" }
M.PREFIXES = { "module.", "backbone." }

local Storage = {}
local Tensor = {} -- a rebuilt tensor, before unwrapping: { tensor = t }

local function is_count(x)
  return type(x) == "number" and x >= 0 and x <= 2 ^ 53 and x == math.floor(x)
end

local function engine(rc, what)
  if rc ~= 0 then fail("%s: %s", what, ffi.string(C.oml_last_error())) end
end

-- ---- storages and tensors --------------------------------------------------

-- whether the n bytes at p are all 0 or 1
local function all_bits(p, n)
  p = ffi.cast("const uint8_t *", p)
  for i = 0, n - 1 do
    if p[i] > 1 then return false end
  end
  return true
end

-- A storage reference: ('storage', torch.XStorage, key, location, numel).
local function storage_ref(pid, archive, top, storages)
  if getmetatable(pid) ~= pickle.Tuple or pid.n ~= 5 or pid[1] ~= "storage" then
    fail("a persistent id that is not a storage reference")
  end
  local kind, key, numel = pid[2], pid[3], pid[5]
  local dtype = getmetatable(kind) == pickle.Global and STORAGE_DTYPES[kind.name]
  if not dtype then fail("a storage reference without a storage type") end
  if type(key) ~= "string" then fail("a storage reference without a key") end
  if not is_count(numel) then fail("storage '%s' declares a size that is not a count", key) end
  local storage = storages[key]
  if storage then
    if storage.dtype ~= dtype or storage.numel ~= numel then
      fail("storage '%s' is declared twice, differently", key)
    end
    return storage
  end
  local entry = top .. "data/" .. key
  local nbytes, elsize = zip.size(archive, entry), tonumber(C.oml_dtype_size(dtype))
  if nbytes ~= numel * elsize then
    fail("storage '%s' holds %d bytes, but %d %s elements need %d", key, nbytes, numel, T.DTYPE_NAMES[dtype],
         numel * elsize)
  end
  local t = T.new()
  engine(C.oml_tensor_empty(t, 1, ffi.new("int64_t[1]", numel), dtype, T.CPU), ("storage '%s'"):format(key))
  zip.copy(archive, entry, t.data_)
  if dtype == T.BOOL and not all_bits(t.data_, numel) then
    fail("bool storage '%s' holds a byte other than 0 and 1", key)
  end
  storage = setmetatable({ key = key, dtype = dtype, numel = numel, tensor = t }, Storage)
  storages[key] = storage
  return storage
end

local function counts(tuple, what, key)
  if getmetatable(tuple) ~= pickle.Tuple then fail("the %s of a tensor in storage '%s' is not a tuple", what, key) end
  if tuple.n > T.MAX_DIMS then
    fail("a tensor in storage '%s' has %d dims; oml tensors have at most %d", key, tuple.n, T.MAX_DIMS)
  end
  local buf = ffi.new("int64_t[?]", math.max(tuple.n, 1))
  for i = 1, tuple.n do
    if not is_count(tuple[i]) then
      fail("the %s of a tensor in storage '%s' holds %s", what, key, tostring(tuple[i]))
    end
    buf[i - 1] = tuple[i]
  end
  return buf
end

-- _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, hooks[, metadata])
local function rebuild_tensor(args)
  local storage, offset, size, stride = args[1], args[2], args[3], args[4]
  if args.n < 6 or getmetatable(storage) ~= Storage then fail("_rebuild_tensor_v2 without a storage") end
  local key = storage.key
  if not is_count(offset) then fail("a tensor in storage '%s' has a bad storage offset", key) end
  local sizes, strides = counts(size, "size", key), counts(stride, "stride", key)
  if size.n ~= stride.n then fail("a tensor in storage '%s' has %d sizes but %d strides", key, size.n, stride.n) end
  local what = ("a tensor in storage '%s'"):format(key)
  local view, copy = T.new(), T.new()
  engine(C.oml_tensor_as_strided(storage.tensor, view, size.n, sizes, strides, offset), what)
  if not storage.taken and offset == 0 and view.numel_ == storage.numel and C.oml_tensor_is_contiguous(view) == 1 then
    storage.taken = true
    return setmetatable({ tensor = view }, Tensor)
  end
  engine(C.oml_tensor_empty(copy, size.n, sizes, storage.dtype, T.CPU), what)
  engine(C.oml_copy(view, copy), what)
  return setmetatable({ tensor = copy }, Tensor)
end

local function reduce(name, args)
  if name == "torch._utils._rebuild_tensor_v2" then return rebuild_tensor(args) end
  -- _rebuild_parameter(data, requires_grad, hooks): a Parameter is its data
  if getmetatable(args[1]) ~= Tensor then fail("%s without a tensor", name) end
  return args[1]
end

-- ---- the state dict --------------------------------------------------------

local function is_tensor_dict(x)
  if getmetatable(x) ~= pickle.Dict then return false end
  for _, v in pairs(x) do
    if getmetatable(v) ~= Tensor then return false end
  end
  return true
end

-- The dict of tensors in obj: obj itself, or the one wrapped under M.WRAPPERS.
-- (seen stops a dict that the memo made hold itself)
local function find_state_dict(obj, seen)
  if seen[obj] then fail("the checkpoint's dicts hold themselves") end
  seen[obj] = true
  if getmetatable(obj) ~= pickle.Dict then
    fail("the checkpoint holds a %s, not a dict of tensors", pickle.type_name(obj))
  end
  if is_tensor_dict(obj) then return obj end
  local found
  for _, key in ipairs(M.WRAPPERS) do
    if getmetatable(obj[key]) == pickle.Dict then
      if found then fail("the checkpoint holds several state dicts ('%s' and '%s')", found, key) end
      found = key
    end
  end
  if found then return find_state_dict(obj[found], seen) end
  for key, v in pairs(obj) do
    if getmetatable(v) ~= Tensor then
      fail("entry '%s' of the checkpoint holds a %s, not a tensor", tostring(key), pickle.type_name(v))
    end
  end
end

-- name -> tensor, without a prefix that every name has
local function strip_prefixes(dict)
  local tensors, names = {}, {}
  for k, v in pairs(dict) do
    if type(k) ~= "string" then fail("the state dict has a key that is not a string (%s)", tostring(k)) end
    names[#names + 1] = k
    tensors[k] = v.tensor
  end
  local stripped = true
  while stripped and #names > 0 do
    stripped = false
    for _, prefix in ipairs(M.PREFIXES) do
      local all = true
      for _, k in ipairs(names) do all = all and k:sub(1, #prefix) == prefix end
      if all then
        local renamed = {}
        for i, k in ipairs(names) do
          names[i] = k:sub(#prefix + 1)
          renamed[names[i]] = tensors[k]
        end
        tensors, stripped = renamed, true
      end
    end
  end
  return tensors
end

-- The folder of the archive holding data.pkl, as "<top>/".
local function top_folder(archive)
  local found
  for _, name in ipairs(archive.names) do
    local top = name:match("^([^/]+/)data%.pkl$")
    if top then
      if found then fail("the archive holds more than one data.pkl") end
      found = top
    end
  end
  if found == nil then fail("the archive holds no data.pkl: not a PyTorch checkpoint") end
  return found
end

local function read(archive)
  local top = top_folder(archive)
  local storages = {}
  local obj = pickle.load(zip.read(archive, top .. "data.pkl"), {
    persistent_load = function(pid) return storage_ref(pid, archive, top, storages) end,
    reduce = reduce,
  })
  return strip_prefixes(find_state_dict(obj, {}))
end

-- torch.save's format before torch 1.6 starts with this pickled magic number
local LEGACY_MAGIC = "\128\2\138\10l\252\156F\249 j\168P\25"

local function is_legacy(path)
  local file = io.open(path, "rb")
  if file == nil then return false end
  local head = file:read(#LEGACY_MAGIC)
  file:close()
  return head == LEGACY_MAGIC
end

-- load(path) -> { name = tensor }
function M.load(path)
  local name = "oml.load"
  if type(path) ~= "string" then T.raise(name, "the path must be a string (got %s)", T.kind(path)) end
  local ok, archive = pcall(zip.open, path)
  local tensors
  if ok then
    ok, tensors = pcall(read, archive)
    zip.close(archive)
  elseif is_legacy(path) then
    tensors = { what = "the legacy torch.save format (before torch 1.6) is not supported; "
                       .. "save it again with torch >= 1.6" }
  else
    tensors = archive
  end
  if ok then return tensors end
  if type(tensors) == "table" and tensors.what then T.raise(name, "%s: %s", path, tensors.what) end
  error(tensors, 0)
end

return M
