-- oml.io.safetensors: the safetensors format (huggingface/safetensors), oml's
-- native file format for models, optimizer state and embeddings. Every caller
-- that reads or writes tensors to disk goes through this one module.
--
-- A file is an 8-byte little-endian header length N, N bytes of JSON
--   {"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}, ...,
--    "__metadata__": {"key": "value"}}
-- where offsets count from the byte after the header, then the tensors' bytes,
-- row-major and little-endian.
--
-- The reader trusts nothing in the file: it makes the checks of the reference
-- implementation (safetensors/src/tensor.rs, read_metadata and
-- Metadata::validate): a header of at most 100 MB inside the file, UTF-8 JSON,
-- tensors that tile the data exactly (sorted by offsets, each starting where
-- the one before ends, nothing after the last), and byte ranges that match
-- shape x dtype; and what oml cannot hold: other dtypes, more than 8 dims,
-- bool bytes other than 0 and 1. It maps the file (oml.io.mmap), copies each
-- tensor out into engine memory and unmaps it, so no tensor outlives or
-- aliases the file.
--
-- The writer lays a file out as the reference writer does (tensor.rs,
-- prepare): tensors by descending dtype, then by name, so each one is aligned
-- to its element size; compact JSON padded with spaces to a multiple of 8.
-- A file saved here is thus byte for byte what Python's save_file writes,
-- except for the order of several __metadata__ entries (a hash map's order
-- there, sorted here). It writes through oml.io.atomic (a temporary file
-- beside the target, synced, renamed over it), so a failure never leaves a
-- half-written file.
local ffi = require "ffi"
local T = require "oml.tensor"
local atomic = require "oml.io.atomic"
local mmap = require "oml.io.mmap"

local C = T.C
local json = require("cjson").new()
json.decode_invalid_numbers(false) -- NaN, Infinity and hex are not JSON

local M = {}

M.MAX_HEADER = 100000000 -- the reference implementation's limit

-- safetensors dtype names <-> oml dtypes. RANK is the order of the
-- reference's Dtype enum, which its writer sorts by (largest first).
local OML_DTYPES = {
  F32 = T.FLOAT32, F64 = T.FLOAT64, F16 = T.FLOAT16, BF16 = T.BFLOAT16,
  I32 = T.INT32, I64 = T.INT64, U8 = T.UINT8, BOOL = T.BOOL,
}
local ST_DTYPES, RANK = {}, {}
for st, id in pairs(OML_DTYPES) do ST_DTYPES[id] = st end
for rank, st in ipairs { "BOOL", "U8", "F16", "BF16", "I32", "F32", "F64", "I64" } do RANK[OML_DTYPES[st]] = rank end

-- ---- helpers ---------------------------------------------------------------

-- Errors inside the reader and writer are tables { what = "..." }, so that
-- load and save can tell them from bugs and add the path.
local function fail(fmt, ...)
  error({ what = select("#", ...) > 0 and fmt:format(...) or fmt }, 0)
end

local function rethrow(name, path, err)
  if type(err) == "table" and err.what then T.raise(name, "%s: %s", path, err.what) end
  error(err, 0)
end

-- UTF-8 sequences that are valid (RFC 3629: no overlongs, no surrogates,
-- nothing past U+10FFFF). Lead bytes never occur as continuation bytes, so
-- removing the patterns one after another cannot join bytes into a false match.
local UTF8_SEQUENCES = {
  "[\194-\223][\128-\191]", "\224[\160-\191][\128-\191]", "[\225-\236\238\239][\128-\191][\128-\191]",
  "\237[\128-\159][\128-\191]", "\240[\144-\191][\128-\191][\128-\191]",
  "[\241-\243][\128-\191][\128-\191][\128-\191]", "\244[\128-\143][\128-\191][\128-\191]",
}

local function valid_utf8(s)
  if not s:find("[\128-\255]") then return true end
  for _, sequence in ipairs(UTF8_SEQUENCES) do s = s:gsub(sequence, "_") end
  return not s:find("[\128-\255]")
end

-- An integer as digits (Lua would write 2^53 as 9.007199254741e+15).
local function digits(x)
  return x < 2 ^ 63 and ("%d"):format(x) or "over 2^63"
end

local function shape_str(shape)
  local s = {}
  for i, size in ipairs(shape) do s[i] = digits(size) end
  return "[" .. table.concat(s, ",") .. "]"
end

-- A string for messages, bytes outside printable ASCII as \ddd.
local function quoted(s)
  return '"' .. s:gsub("[^\32-\126]", function(c) return "\\" .. c:byte() end) .. '"'
end

-- ---- reading ---------------------------------------------------------------

-- x when it is a JSON list (a Lua sequence and nothing else), else nil.
local function list(x)
  if type(x) ~= "table" then return nil end
  local n = 0
  for _ in pairs(x) do n = n + 1 end
  if n ~= #x then return nil end
  return x
end

-- A size or offset: an integer Lua numbers hold exactly.
local function is_count(x)
  return type(x) == "number" and x >= 0 and x <= 2 ^ 53 and x == math.floor(x)
end

local function check_entry(name, info)
  local function bad(fmt, ...) fail("%s (tensor '%s')", fmt:format(...), name) end
  if type(info) ~= "table" then bad("the entry is not an object") end
  local dtype = OML_DTYPES[info.dtype]
  if dtype == nil then
    if type(info.dtype) ~= "string" then bad("the entry has no dtype") end
    bad("unsupported dtype '%s' (oml reads %s)", info.dtype, "F32, F64, F16, BF16, I32, I64, U8 and BOOL")
  end
  local shape = list(info.shape)
  if shape == nil then bad("the shape is not a list") end
  if #shape > T.MAX_DIMS then bad("the shape has %d dims; oml tensors have at most %d", #shape, T.MAX_DIMS) end
  for i = 1, #shape do
    if not is_count(shape[i]) then bad("size %d of the shape is not a non-negative integer", i) end
  end
  local offsets = list(info.data_offsets)
  if offsets == nil or #offsets ~= 2 or not is_count(offsets[1]) or not is_count(offsets[2]) then
    bad("data_offsets is not a list of two non-negative integers")
  end
  return { name = name, dtype = dtype, shape = shape, first = offsets[1], last = offsets[2] }
end

local function check_metadata(metadata)
  if type(metadata) ~= "table" then fail("__metadata__ is not an object") end
  for k, v in pairs(metadata) do
    if type(k) ~= "string" or type(v) ~= "string" then
      fail("__metadata__ must map strings to strings (entry %s holds a %s)", T.show(k), type(v))
    end
  end
  return metadata
end

-- The header's tensors (unsorted) and metadata.
local function parse_header(text)
  if not valid_utf8(text) then fail("the header is not valid UTF-8") end
  if text:sub(1, 1) ~= "{" then fail("the header is not a JSON object") end
  local ok, header = pcall(json.decode, text)
  if not ok then fail("the header is not valid JSON (%s)", tostring(header)) end
  local entries, metadata = {}, {}
  for name, info in pairs(header) do
    if name == "__metadata__" then metadata = check_metadata(info)
    else entries[#entries + 1] = check_entry(name, info) end
  end
  return entries, metadata
end

-- Sorts the entries by offsets and checks that they tile data_len bytes.
local function check_layout(entries, data_len)
  table.sort(entries, function(a, b)
    if a.first ~= b.first then return a.first < b.first end
    if a.last ~= b.last then return a.last < b.last end
    return a.name < b.name
  end)
  local cursor = 0
  for _, e in ipairs(entries) do
    local function bad(fmt, ...)
      fail("data_offsets [%d,%d] %s (tensor '%s')", e.first, e.last, fmt:format(...), e.name)
    end
    if e.last < e.first then bad("end before they begin") end
    if e.first < cursor then bad("overlap the tensor before, which ends at byte %d", cursor) end
    if e.first > cursor then bad("leave bytes %d to %d of the data unused", cursor, e.first) end
    if e.last > data_len then bad("run past the end of the data (%d bytes)", data_len) end
    local numel = 1
    for _, size in ipairs(e.shape) do numel = numel * size end
    local needed = numel * tonumber(C.oml_dtype_size(e.dtype))
    if e.last - e.first ~= needed then
      bad("hold %d bytes, but shape %s of %s needs %s", e.last - e.first, shape_str(e.shape),
          ST_DTYPES[e.dtype], digits(needed))
    end
    cursor = e.last
  end
  if cursor ~= data_len then
    fail("the last %d bytes of the file belong to no tensor", data_len - cursor)
  end
end

local size_buf = ffi.new("int64_t[8]")

-- An engine tensor holding the entry's bytes, on device.
local function copy_out(e, data, device)
  local function bad(msg) fail("%s (tensor '%s')", msg, e.name) end
  local t = T.new()
  for i, size in ipairs(e.shape) do size_buf[i - 1] = size end
  if C.oml_tensor_empty(t, #e.shape, size_buf, e.dtype, T.CPU) ~= 0 then bad(ffi.string(C.oml_last_error())) end
  local nbytes = e.last - e.first
  if nbytes > 0 then ffi.copy(t.data_, data + e.first, nbytes) end
  if e.dtype == T.BOOL then
    -- the engine's bools are 0 or 1; any other byte would be read inconsistently
    local bytes = ffi.cast("const uint8_t *", t.data_)
    for i = 0, nbytes - 1 do
      if bytes[i] > 1 then bad(("a bool holds the byte %d (element %d)"):format(bytes[i], i + 1)) end
    end
  end
  if device == T.CPU then return t end
  local moved = T.new()
  if C.oml_tensor_to(t, moved, e.dtype, device) ~= 0 then bad(ffi.string(C.oml_last_error())) end
  return moved
end

local function read_mapped(base, size, device)
  if size < 8 then fail("the file is too short for a safetensors header (%d bytes)", size) end
  local n = ffi.cast("const uint64_t *", base)[0] -- the host is little-endian, as the format
  if n > M.MAX_HEADER then
    fail("the header length %s is over the format's limit of %d bytes", (tostring(n):gsub("ULL$", "")), M.MAX_HEADER)
  end
  n = tonumber(n)
  if 8 + n > size then fail("the header length %d runs past the end of the file (%d bytes)", n, size) end
  local entries, metadata = parse_header(ffi.string(base + 8, n))
  check_layout(entries, size - 8 - n)
  local tensors = {}
  for _, e in ipairs(entries) do tensors[e.name] = copy_out(e, base + 8 + n, device) end
  return tensors, metadata
end

-- load(path [, {device = "cuda"}]) -> { name = tensor }, { key = value }
function M.load(path, opts)
  local name = "oml.load"
  if type(path) ~= "string" then T.raise(name, "the path must be a string (got %s)", T.kind(path)) end
  if opts ~= nil and type(opts) ~= "table" then T.raise(name, "the options must be a table (got %s)", T.kind(opts)) end
  local device = T.device(T.options(opts, name, { device = true }).device, name)
  local ok, base, size = pcall(mmap.map, path)
  if not ok then rethrow(name, path, base) end
  local tensors, metadata
  ok, tensors, metadata = pcall(read_mapped, base, size, device)
  mmap.unmap(base, size)
  if not ok then rethrow(name, path, tensors) end
  return tensors, metadata
end

-- ---- writing ---------------------------------------------------------------

-- JSON string escapes as serde_json writes them (what the reference writes).
local ESCAPES = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f", ["\n"] = "\\n",
                  ["\r"] = "\\r", ["\t"] = "\\t" }

local function json_string(s)
  return '"' .. s:gsub('[%z\1-\31"\\]', function(c) return ESCAPES[c] or ("\\u%04x"):format(c:byte()) end) .. '"'
end

-- The tensors to write, checked, in the reference writer's order.
local function collect(name, tensors)
  if type(tensors) ~= "table" then
    T.raise(name, "the tensors must be a table of name -> tensor (got %s)", T.kind(tensors))
  end
  local entries = {}
  for key, t in pairs(tensors) do
    if type(key) ~= "string" then T.raise(name, "tensor names must be strings (got %s)", T.show(key)) end
    if key == "__metadata__" then T.raise(name, "'__metadata__' is the format's own key; it cannot name a tensor") end
    if not valid_utf8(key) then T.raise(name, "tensor name %s is not valid UTF-8", quoted(key)) end
    if not T.is_tensor(t) then T.raise(name, "'%s' is not a tensor (got %s)", key, T.kind(t)) end
    if t.storage_ == nil then T.raise(name, "tensor '%s' is unset", key) end
    local nbytes = tonumber(t.numel_ * C.oml_dtype_size(t.dtype_))
    entries[#entries + 1] = { name = key, tensor = t, rank = RANK[t.dtype_], nbytes = nbytes }
  end
  table.sort(entries, function(a, b)
    if a.rank ~= b.rank then return a.rank > b.rank end
    return a.name < b.name
  end)
  return entries
end

-- The metadata's keys, sorted; nil or {} writes no __metadata__.
local function metadata_keys(name, metadata)
  if metadata == nil then return {} end
  if type(metadata) ~= "table" then
    T.raise(name, "the metadata must be a table of string -> string (got %s)", T.kind(metadata))
  end
  local keys = {}
  for k, v in pairs(metadata) do
    if type(k) ~= "string" or type(v) ~= "string" then
      T.raise(name, "the metadata must map strings to strings (entry %s holds a %s)", T.show(k), T.kind(v))
    end
    if not valid_utf8(k) or not valid_utf8(v) then T.raise(name, "metadata entry %s is not valid UTF-8", quoted(k)) end
    keys[#keys + 1] = k
  end
  table.sort(keys)
  return keys
end

local function encode_header(entries, metadata, keys)
  local parts = {}
  if #keys > 0 then
    local items = {}
    for i, k in ipairs(keys) do items[i] = json_string(k) .. ":" .. json_string(metadata[k]) end
    parts[1] = '"__metadata__":{' .. table.concat(items, ",") .. "}"
  end
  local offset = 0
  for _, e in ipairs(entries) do
    local t = e.tensor
    parts[#parts + 1] = ('%s:{"dtype":"%s","shape":%s,"data_offsets":[%d,%d]}'):format(
      json_string(e.name), ST_DTYPES[t.dtype_], shape_str(t:size()), offset, offset + e.nbytes)
    offset = offset + e.nbytes
  end
  local text = "{" .. table.concat(parts, ",") .. "}"
  return text .. (" "):rep(-#text % 8)
end

local function le_u64(n)
  local bytes = {}
  for i = 1, 8 do
    bytes[i] = n % 256
    n = math.floor(n / 256)
  end
  return string.char(unpack(bytes))
end

-- t as a contiguous CPU tensor (itself when it already is one).
local function contiguous_cpu(t, tensor_name)
  local function engine(rc)
    if rc ~= 0 then fail("%s (tensor '%s')", ffi.string(C.oml_last_error()), tensor_name) end
  end
  if t.device_ ~= T.CPU then
    local cpu = T.new()
    engine(C.oml_tensor_to(t, cpu, t.dtype_, T.CPU))
    t = cpu
  end
  if C.oml_tensor_is_contiguous(t) ~= 1 then
    local packed = T.new()
    engine(C.oml_tensor_contiguous(t, packed))
    t = packed
  end
  return t
end

-- The file's bytes through oml.io.atomic's put: the header, then each tensor.
local function contents(header, entries)
  return function(put)
    put(le_u64(#header) .. header)
    for _, e in ipairs(entries) do
      if e.nbytes > 0 then put(contiguous_cpu(e.tensor, e.name).data_, e.nbytes) end
    end
  end
end

-- save(path, { name = tensor }, [{ key = value }])
function M.save(path, tensors, metadata)
  local name = "oml.save"
  if type(path) ~= "string" then T.raise(name, "the path must be a string (got %s)", T.kind(path)) end
  local entries = collect(name, tensors)
  local header = encode_header(entries, metadata, metadata_keys(name, metadata))
  if #header > M.MAX_HEADER then
    T.raise(name, "the header would take %d bytes, over the format's limit of %d", #header, M.MAX_HEADER)
  end
  local ok, err = pcall(atomic.write, path, contents(header, entries))
  if not ok then rethrow(name, path, err) end
end

return M
