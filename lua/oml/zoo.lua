-- oml.zoo: OML's pretrained models by name (the registry in zoo/registry.lua),
-- downloaded with curl into a cache, checked against the checksum OML
-- records, and converted once to safetensors.
--
--   zoo.get(name)                          -> the registry entry
--   zoo.download(name_or_entry, {cache_dir=}) -> path of the checked checkpoint
--   zoo.convert(path)                      -> path of its safetensors twin
--   zoo.fetch(name_or_entry, {cache_dir=}) -> download, then convert
--   zoo.register(name, entry)              -> adds or replaces an entry; returns the one replaced
--   zoo.unregister(name)                   -> removes an entry; returns it
--
-- The cache is $XDG_CACHE_HOME/oml (~/.cache/oml without it), as OML's.
local T = require "oml.tensor"
local safetensors = require "oml.io.safetensors"
local torch_checkpoint = require "oml.io.torch_checkpoint"

local M = {}

-- The registry sits in zoo/ of a checkout, or beside this file once
-- installed (the Makefile's install copies zoo/ into oml/).
local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

local registry_path
for _, candidate in ipairs { here .. "/zoo/registry.lua", here .. "/../../zoo/registry.lua" } do
  if exists(candidate) then registry_path = candidate break end
end
if not registry_path then
  error("oml.zoo: cannot find zoo/registry.lua beside " .. here .. " or in the checkout", 0)
end
M.registry = dofile(registry_path)

function M.names()
  local names = {}
  for name in pairs(M.registry) do names[#names + 1] = name end
  table.sort(names)
  return names
end

-- edit distance, to suggest names close to a mistyped one
local function distance(a, b)
  local prev = {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    local cur = { [0] = i }
    for j = 1, #b do
      local cost = a:byte(i) == b:byte(j) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev = cur
  end
  return prev[#b]
end

local function close_names(name)
  local close = {}
  for _, known in ipairs(M.names()) do
    if distance(name, known) <= 3 or known:find(name, 1, true) then close[#close + 1] = known end
  end
  return close
end

function M.get(name)
  if type(name) ~= "string" then T.raise("oml.zoo.get", "the name must be a string (got %s)", T.kind(name)) end
  local entry = M.registry[name]
  if entry == nil then
    local close = close_names(name)
    if #close > 0 then
      T.raise("oml.zoo.get", "unknown model '%s'; did you mean %s?", name, table.concat(close, ", "))
    end
    T.raise("oml.zoo.get", "unknown model '%s'; known models: %s", name, table.concat(M.names(), ", "))
  end
  return entry
end

local function entry_of(name_or_entry, fn)
  if type(name_or_entry) == "string" then return M.get(name_or_entry), name_or_entry end
  if type(name_or_entry) ~= "table" then
    T.raise(fn, "expected a model name or a registry entry (got %s)", T.kind(name_or_entry))
  end
  local entry = name_or_entry
  if type(entry.fname) ~= "string" or not entry.fname:match("^[^/]+$") then
    T.raise(fn, "the entry needs fname, a file name without '/'")
  end
  return entry, entry.fname
end

function M.cache_dir(opts)
  if opts and opts.cache_dir then return opts.cache_dir end
  local xdg = os.getenv("XDG_CACHE_HOME")
  if xdg and xdg ~= "" then return xdg .. "/oml" end
  return (os.getenv("HOME") or ".") .. "/.cache/oml"
end

local function quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

local function succeeded(status)
  return status == 0 or status == true -- LuaJIT returns the status; with 5.2 compat, true
end

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return "" end
  local text = f:read("*a")
  f:close()
  return text
end

-- the file's digest by the coreutils command for `algorithm`
local function digest(fn, algorithm, path)
  local pipe = io.popen(("%ssum -- %s 2>/dev/null"):format(algorithm, quote(path)))
  local out = pipe:read("*a")
  pipe:close()
  local sum = out:match("^(%x+)")
  if not sum then T.raise(fn, "cannot compute the %s of %s (is %ssum installed?)", algorithm, path, algorithm) end
  return sum:lower()
end

-- the checksum's algorithm and expected hex prefix: { md5 = "cf0f22" }
local function expected_sum(fn, entry, name)
  local checksum = entry.checksum
  if type(checksum) == "table" then
    for _, algorithm in ipairs { "md5", "sha256" } do
      if type(checksum[algorithm]) == "string" and checksum[algorithm]:match("^%x+$") then
        return algorithm, checksum[algorithm]:lower()
      end
    end
  end
  T.raise(fn, "%s has no checksum (expected { md5 = hex } or { sha256 = hex })", name)
end

local function matches(sum, prefix)
  return sum:sub(1, #prefix) == prefix
end

-- where convert puts the safetensors twin of a checkpoint; nil for a name
-- without a checkpoint's extension
local CHECKPOINT_EXTENSIONS = { "%.pth%.tar$", "%.pth$", "%.pt$", "%.ckpt$" }
local function converted_path(path)
  for _, ext in ipairs(CHECKPOINT_EXTENSIONS) do
    if path:match(ext) then return path:gsub(ext, "") .. ".safetensors" end
  end
end

-- A model of one's own (or a mirror of OML's) for from_pretrained and
-- weights = name: the entry needs what download needs (fname, checksum, a
-- url unless the file is put in the cache by hand) and, for from_pretrained,
-- extractor and init_args.
function M.register(name, entry)
  local fn = "oml.zoo.register"
  if type(name) ~= "string" or not name:match("^[%w_-]+$") then
    T.raise(fn, "the name must be a string of letters, digits, '_' and '-' (got %s)", T.show(name))
  end
  if type(entry) ~= "table" then T.raise(fn, "the entry must be a table (got %s)", T.kind(entry)) end
  entry_of(entry, fn)
  expected_sum(fn, entry, name)
  if entry.url ~= nil and type(entry.url) ~= "string" then
    T.raise(fn, "%s: url must be a string (got %s)", name, T.kind(entry.url))
  end
  if entry.extractor ~= nil and type(entry.extractor) ~= "string" then
    T.raise(fn, "%s: extractor must be a string (got %s)", name, T.kind(entry.extractor))
  end
  if entry.init_args ~= nil and type(entry.init_args) ~= "table" then
    T.raise(fn, "%s: init_args must be a table (got %s)", name, T.kind(entry.init_args))
  end
  local previous = M.registry[name]
  M.registry[name] = entry
  return previous
end

function M.unregister(name)
  local entry = M.get(name)
  M.registry[name] = nil
  return entry
end

function M.download(name_or_entry, opts)
  local fn = "oml.zoo.download"
  local entry, name = entry_of(name_or_entry, fn)
  local algorithm, prefix = expected_sum(fn, entry, name)
  local dir = M.cache_dir(opts)
  local path = dir .. "/" .. entry.fname
  if exists(path) and matches(digest(fn, algorithm, path), prefix) then return path end

  if type(entry.url) ~= "string" then
    T.raise(fn, "%s has no URL; put the file (%s %s...) at %s", name, algorithm, prefix, path)
  end
  if not succeeded(os.execute("mkdir -p " .. quote(dir))) then T.raise(fn, "cannot create the cache %s", dir) end
  local part, log = path .. ".part", path .. ".curl-log"
  local ok = succeeded(os.execute(("curl -fsSL --retry 2 -o %s %s 2>%s"):format(quote(part), quote(entry.url),
                                                                               quote(log))))
  local curl_said = read_file(log):gsub("%s+$", ""):match("[^\n]*$") -- its last word, not each retry's
  os.remove(log)
  if not ok then
    os.remove(part)
    T.raise(fn, "cannot download %s (%s); fetch %s by hand and put it at %s", name,
            curl_said ~= "" and curl_said or "curl failed", entry.url, path)
  end

  local sum = digest(fn, algorithm, part)
  if not matches(sum, prefix) then
    os.remove(part)
    T.raise(fn, "checksum mismatch for %s from %s: expected %s %s..., got %s; the file was removed",
            name, entry.url, algorithm, prefix, sum)
  end
  local stale = converted_path(path) -- a conversion of an older file
  if stale then os.remove(stale) end
  local renamed, err = os.rename(part, path)
  if not renamed then
    os.remove(part)
    T.raise(fn, "cannot move the download to %s: %s", path, tostring(err))
  end
  return path
end

-- Converts a PyTorch checkpoint to safetensors beside it, once: an existing
-- conversion is reused (download removes it when it replaces the checkpoint).
function M.convert(path)
  local fn = "oml.zoo.convert"
  if type(path) ~= "string" then T.raise(fn, "the path must be a string (got %s)", T.kind(path)) end
  local target = converted_path(path)
  if not target then T.raise(fn, "%s does not end in .pth, .pt, .ckpt or .pth.tar", path) end
  if exists(target) then return target end
  if not exists(path) then T.raise(fn, "cannot open %s", path) end
  safetensors.save(target, torch_checkpoint.load(path))
  return target
end

function M.fetch(name_or_entry, opts)
  return M.convert(M.download(name_or_entry, opts))
end

return M
