-- Fashion-MNIST (Debian's dataset-fashion-mnist: gzip IDX files in
-- /usr/share/datasets/fashion-mnist) -> JPEG files and OML's CSV with an
-- open-set split: training rows are train-file images of the train classes
-- (0..4 by default), validation rows are t10k-file images of the others
-- (5..9), each a query and a gallery item, so no validation label is seen
-- in training. The label is the class number, the category its name.
-- The images are written first, the CSV last and atomically: a CSV on disk
-- always lists finished files.
local ffi = require "ffi"
require "oml" -- the tensor methods (expand, contiguous)
local T = require "oml.tensor"
local common = require "oml.data.converters.common"
local creation = require("oml.ops.creation").functions

local NAME = "oml.data.converters.fashion_mnist"
local M = {}

M.SOURCE = "/usr/share/datasets/fashion-mnist"
M.CLASSES = { [0] = "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
              "Ankle boot" }

ffi.cdef [[
void *gzopen(const char *path, const char *mode);
int gzread(void *file, void *buf, unsigned len);
int gzclose(void *file);
]]
local zlib = ffi.load("z")
local CHUNK = 2 ^ 20

-- The whole uncompressed content of a gzip file, as a Lua string.
local function gunzip(path)
  local gz = zlib.gzopen(path, "rb")
  if gz == nil then T.raise(NAME, "cannot open %s", path) end
  local parts, buf = {}, ffi.new("uint8_t[?]", CHUNK)
  while true do
    local n = zlib.gzread(gz, buf, CHUNK)
    if n < 0 then
      zlib.gzclose(gz)
      T.raise(NAME, "%s: not a readable gzip file", path)
    end
    if n == 0 then break end
    parts[#parts + 1] = ffi.string(buf, n)
  end
  zlib.gzclose(gz)
  return table.concat(parts)
end

local function be32(s, at)
  local a, b, c, d = s:byte(at, at + 3)
  return ((a * 256 + b) * 256 + c) * 256 + d
end

-- An IDX file: its dims and its bytes (after the header).
local function read_idx(path, want_dims)
  common.require_file(path, NAME)
  local s = gunzip(path)
  if #s < 4 or be32(s, 1) ~= 0x800 + want_dims then
    T.raise(NAME, "%s: not an IDX file of %d-d unsigned bytes", path, want_dims)
  end
  local dims, total = {}, 1
  for d = 1, want_dims do
    dims[d] = be32(s, 1 + 4 * d)
    total = total * dims[d]
  end
  local offset = 4 + 4 * want_dims
  if #s ~= offset + total then T.raise(NAME, "%s: %d bytes of data, expected %d", path, #s - offset, total) end
  return dims, s, offset
end

local function read_split(source, prefix)
  local dims, images, image_at = read_idx(("%s/%s-images-idx3-ubyte.gz"):format(source, prefix), 3)
  local ldims, labels, label_at = read_idx(("%s/%s-labels-idx1-ubyte.gz"):format(source, prefix), 1)
  if ldims[1] ~= dims[1] then T.raise(NAME, "%s: %d images but %d labels", prefix, dims[1], ldims[1]) end
  return { n = dims[1], h = dims[2], w = dims[3], images = images, image_at = image_at, labels = labels,
           label_at = label_at }
end

local ARGS = { source = true, output = true, train_classes = true, per_class = true, quality = true }

-- convert{output [, source = M.SOURCE] [, train_classes = {0, 1, 2, 3, 4}]
-- [, per_class = all (the first n images of each class in each file)]
-- [, quality = 95]} -> the CSV's path (output/df.csv), rows
function M.convert(args)
  for k in pairs(args) do
    if not ARGS[k] then T.raise(NAME, "unknown argument '%s'", tostring(k)) end
  end
  local output, source = args.output, args.source or M.SOURCE
  if type(output) ~= "string" then T.raise(NAME, "output must be a string (got %s)", T.kind(output)) end
  local train_classes = {}
  for _, c in ipairs(args.train_classes or { 0, 1, 2, 3, 4 }) do
    if M.CLASSES[c] == nil then T.raise(NAME, "train_classes: %s is not a class 0..9", tostring(c)) end
    train_classes[c] = true
  end
  local per_class = args.per_class and T.count(args.per_class, NAME, "per_class") or math.huge
  local quality = args.quality or 95
  local jpeg = require "oml.io.jpeg"
  if not os.execute(("mkdir -p '%s/images'"):format(output)) then T.raise(NAME, "cannot create %s/images", output) end

  local rows = {}
  for _, part in ipairs { { "train", "train", true }, { "t10k", "validation", false } } do
    local data = read_split(source, part[1])
    local taken = {}
    local pixels = data.h * data.w
    local gray = creation.empty({ data.h, data.w, 1 }, "uint8")
    local gp = ffi.cast("uint8_t *", gray.data_)
    for i = 0, data.n - 1 do
      local label = data.labels:byte(data.label_at + i + 1)
      if M.CLASSES[label] == nil then T.raise(NAME, "%s labels: %d is not a class 0..9", part[1], label) end
      if (train_classes[label] == true) == part[3] and (taken[label] or 0) < per_class then
        taken[label] = (taken[label] or 0) + 1
        ffi.copy(gp, data.images:sub(data.image_at + i * pixels + 1, data.image_at + (i + 1) * pixels), pixels)
        local path = ("images/%s_%05d.jpg"):format(part[1], i + 1)
        local bytes = jpeg.encode(gray:expand(data.h, data.w, 3):contiguous(), quality)
        local f = io.open(output .. "/" .. path, "wb")
        if not f then T.raise(NAME, "cannot write %s/%s", output, path) end
        f:write(ffi.string(bytes.data_, bytes:numel()))
        f:close()
        local row = { label = label, path = path, split = part[2], category = M.CLASSES[label] }
        if part[2] == "validation" then row.is_query, row.is_gallery = true, true end
        rows[#rows + 1] = row
      end
    end
  end
  local csv = output .. "/df.csv"
  common.write_csv(csv, { "label", "path", "split", "is_query", "is_gallery", "category" }, rows, NAME)
  return csv, rows
end

return M
