-- bench/checkpoint_load.lua: issue 7's benchmark: the load time of a
-- ViT-B-sized checkpoint (DINO's vitb16 state dict, 86M float32 parameters,
-- about 350 MB) as safetensors and as a PyTorch .pth, beside PyTorch
-- (Debian's python3-torch) in the same run:
--   oml.load(.safetensors)   maps the file, copies each tensor out, unmaps
--   oml.load(.pth)           the zip's records through the safe unpickler
--   torch.load(.pth)         the same .pth
--   python by hand           the same .safetensors read without the
--                            safetensors package (not installed here): its
--                            header, one read, torch.frombuffer views
-- The .pth is written by torch.save (bench/checkpoint_load_peer.py), the
-- .safetensors by oml.save of what oml.load read from it (the zoo's
-- conversion, timed once). Files sit in the page cache (just written), so
-- these are warm-cache times, best of RUNS; the files are deleted at the end.
--   luajit bench/checkpoint_load.lua     (from the checkout root)
package.path = "lua/?.lua;lua/?/init.lua;bench/?.lua;" .. package.path

local oml = require "oml"
local clock = require "clock"

local RUNS = 3

local function sh(command)
  local status = os.execute(command)
  assert(status == 0 or status == true, command)
end

-- the best time of RUNS calls of load(path), collecting between them
local function best_load(load, path)
  local best = math.huge
  for _ = 1, RUNS do
    collectgarbage()
    collectgarbage()
    local t0 = clock.now()
    local sd = load(path)
    best = math.min(best, clock.now() - t0)
    assert(next(sd) ~= nil)
  end
  collectgarbage()
  collectgarbage()
  return best
end

local function megabytes(sd)
  local bytes, count = 0, 0
  for _, t in pairs(sd) do
    bytes = bytes + t:numel() * t:element_size()
    count = count + 1
  end
  return bytes / 2 ^ 20, count
end

local function run(dir)
  local pth, st = dir .. "/vitb16.pth", dir .. "/vitb16.safetensors"
  sh(("/usr/bin/python3 bench/checkpoint_load_peer.py write %s"):format(pth))
  local convert, mb, count
  do
    local t0 = clock.now()
    local sd = oml.load(pth)
    oml.save(st, sd)
    convert = clock.now() - t0
    mb, count = megabytes(sd)
  end
  print(("vitb16: %d tensors, %.0f MB of float32; .pth -> .safetensors conversion %.2f s"):format(count, mb, convert))

  local rows = {
    { "oml.load (.safetensors, mmap)", best_load(oml.load, st) },
    { "oml.load (.pth)", best_load(oml.load, pth) },
  }
  local p = io.popen(("/usr/bin/python3 bench/checkpoint_load_peer.py time %s %s %d 2>&1"):format(pth, st, RUNS))
  local peer = {}
  for line in p:lines() do
    local name, seconds = line:match("^(%S+)%s+([%d.e+-]+)$")
    if name then peer[name] = tonumber(seconds) else io.stderr:write("peer: ", line, "\n") end
  end
  p:close()
  rows[#rows + 1] = { "torch.load (.pth)", peer["torch.load_pth"] }
  rows[#rows + 1] = { "python by hand (.safetensors)", peer["python_safetensors_by_hand"] }

  local reference = peer["torch.load_pth"]
  print(("%-32s %9s %9s %12s"):format("loader", "seconds", "GB/s", "/ torch.load"))
  for _, row in ipairs(rows) do
    local name, seconds = row[1], row[2]
    if seconds then
      print(("%-32s %9.3f %9.2f %12s"):format(name, seconds, mb / 1024 / seconds,
                                              reference and ("%.2fx"):format(seconds / reference) or "-"))
    else
      print(("%-32s %9s"):format(name, "-"))
    end
  end
  print("ratios: time / torch.load's time of the same .pth (below 1: oml is faster)")
end

local dir = os.tmpname()
os.remove(dir)
sh("mkdir -m 700 " .. dir)
local ok, err = pcall(run, dir)
sh("rm -rf " .. dir)
if not ok then error(err, 0) end
