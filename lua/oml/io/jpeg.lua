-- oml.io.jpeg: JPEG files <-> uint8 [H, W, 3] RGB tensors, through the
-- engine's TurboJPEG code (engine/src/ops/jpeg.c), the one JPEG
-- implementation of oml. Grayscale files decode to three equal channels.
-- The decoder refuses anything TurboJPEG warns about (a truncated file, say),
-- with TurboJPEG's message, rather than returning a half-grey image.
local ffi = require "ffi"
local T = require "oml.tensor"
local atomic = require "oml.io.atomic"
local contiguous = require("oml.ops.creation").methods.contiguous

local C = T.C
local M = {}

M.DEFAULT_QUALITY = 90

-- decode's and read's options: {min_side = n} decodes at the smallest of
-- TurboJPEG's DCT scales (1/8 .. 1/1) whose shorter side is still >= n,
-- which is much faster for thumbnails and training crops.
local function min_side_of(opts, name)
  if opts == nil then return 0 end
  if type(opts) ~= "table" or T.is_tensor(opts) then
    T.raise(name, "options must be a table (got %s)", T.kind(opts))
  end
  for key in pairs(opts) do
    if key ~= "min_side" then T.raise(name, "unknown option '%s'", tostring(key)) end
  end
  if opts.min_side == nil then return 0 end
  local n = T.count(opts.min_side, name, "min_side")
  if n > 65535 then T.raise(name, "min_side must be at most 65535 (got %d)", n) end
  return n
end

-- bytes: a Lua string or a 1-d uint8 tensor; `where` prefixes messages.
local function decode_bytes(bytes, min_side, name, where)
  local ptr, n, keep
  if type(bytes) == "string" then
    ptr, n = bytes, #bytes
  elseif T.is_tensor(bytes) and bytes.storage_ ~= nil and bytes.dtype_ == T.UINT8 and bytes.ndim_ == 1
      and bytes.device_ == T.CPU then
    keep = contiguous(bytes)
    ptr, n = keep.data_, tonumber(keep.numel_)
  else
    T.raise(name, "expected the bytes as a string or a 1-d uint8 CPU tensor (got %s)", T.show(bytes))
  end
  local image = T.new()
  if C.oml_jpeg_decode(ffi.cast("const uint8_t *", ptr), n, min_side, image) ~= 0 then
    T.raise(name, "%s%s", where, ffi.string(C.oml_last_error()))
  end
  return image
end

-- decode(bytes [, {min_side=}]) -> uint8 [H, W, 3]
function M.decode(bytes, opts)
  local name = "oml.jpeg.decode"
  return decode_bytes(bytes, min_side_of(opts, name), name, "")
end

-- read(path [, {min_side=}]) -> uint8 [H, W, 3]
function M.read(path, opts)
  local name = "oml.jpeg.read"
  if type(path) ~= "string" then T.raise(name, "the path must be a string (got %s)", T.kind(path)) end
  local min_side = min_side_of(opts, name)
  local f, err = io.open(path, "rb")
  if not f then T.raise(name, "%s", err) end
  local bytes = f:read("*a")
  f:close()
  return decode_bytes(bytes, min_side, name, path .. ": ")
end

local function quality_of(quality, name)
  if quality == nil then return M.DEFAULT_QUALITY end
  local q = T.integer(quality, name, "quality")
  if q < 1 or q > 100 then T.raise(name, "quality must be 1..100 (got %d)", q) end
  return q
end

local function encode_image(image, quality, name)
  T.expect_set(image, name, "the image")
  local out = T.new()
  T.check(C.oml_jpeg_encode(image, quality, out), name)
  return out
end

-- encode(image [, quality = 90]) -> uint8 [nbytes], the file's bytes
function M.encode(image, quality)
  local name = "oml.jpeg.encode"
  return encode_image(image, quality_of(quality, name), name)
end

-- write(path, image [, quality = 90]): encodes, then writes through
-- oml.io.atomic, so that a failure never leaves a half-written image.
function M.write(path, image, quality)
  local name = "oml.jpeg.write"
  if type(path) ~= "string" then T.raise(name, "the path must be a string (got %s)", T.kind(path)) end
  local bytes = encode_image(image, quality_of(quality, name), name)
  local ok, err = pcall(atomic.write, path, function(put) put(bytes.data_, tonumber(bytes.numel_)) end)
  if not ok then
    if type(err) == "table" and err.what then T.raise(name, "%s: %s", path, err.what) end
    error(err, 0)
  end
end

return M
