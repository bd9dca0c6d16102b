-- bench/loader.lua: images/s of the data loader on real-size JPEGs (600x800,
-- quality 90, smooth photo-like content with some noise, written by this
-- script): decode + random resized crop to 224 + horizontal flip +
-- normalise, batches of 32, 2 workers. Beside it in the same run, on the
-- same files: a PyTorch DataLoader with 2 worker processes and the same
-- transforms written with PIL + torch as torchvision writes them
-- (torchvision is not installed): PIL decode, RandomResizedCrop's box, crop
-- + resize(BILINEAR), flip, to tensor, normalise. Each side runs a warm-up
-- epoch, then the best of EPOCHS timed epochs; the peer twice, with fresh
-- and with persistent workers. The two sides take turns ROUNDS times and
-- each keeps its best, so that a busy moment on a shared machine does not
-- decide the ratio; the CPU time per image (all threads and processes,
-- warm-up included) is printed too, which load does not change much.
-- Target: oml at least twice the peer's rate.
--   luajit bench/loader.lua            (from the checkout root)
package.path = "lua/?.lua;lua/?/init.lua;bench/?.lua;" .. package.path

local ffi = require "ffi"
local oml = require "oml"
local clock = require "clock"

local N, H, W, SIZE, BATCH, WORKERS, EPOCHS, ROUNDS = 256, 600, 800, 224, 32, 2, 3, 2

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -m 700 " .. dir) == 0)

-- smooth colour waves plus noise: decodes like a photo, unlike pure noise
local paths = {}
local image = oml.empty({ H, W, 3 }, "uint8")
local p = ffi.cast("uint8_t *", image.data_)
local noise = oml.randint(0, 24, { H, W, 3 }, { dtype = "uint8" })
local q = ffi.cast("uint8_t *", noise.data_)
for i = 1, N do
  local a, b = i * 0.37, i * 0.11
  for y = 0, H - 1 do
    for x = 0, W - 1 do
      local base = (y * W + x) * 3
      p[base] = 100 + 80 * math.sin(x / 57 + a) + q[base]
      p[base + 1] = 100 + 70 * math.cos(y / 41 + b) + q[base + 1]
      p[base + 2] = 100 + 60 * math.sin((x + y) / 73 + a + b) + q[base + 2]
    end
  end
  paths[i] = ("%s/%04d.jpg"):format(dir, i)
  oml.jpeg.write(paths[i], image, 90)
end

local ds = oml.data.ImageBaseDataset {
  paths = paths,
  transform = oml.data.ImageRecipe { size = SIZE, crop = "random_resized_crop", hflip = 0.5 },
}
local loader = oml.data.DataLoader { dataset = ds, batch_size = BATCH, shuffle = true, num_workers = WORKERS, seed = 0 }
local function epoch()
  local n = 0
  for batch in loader:batches() do n = n + batch.input_tensors:size(1) end
  assert(n == N)
end

local list_path = dir .. "/list.txt"
local f = assert(io.open(list_path, "w"))
f:write(table.concat(paths, "\n"), "\n")
f:close()

local peer = ([[
import math, random, resource, time, torch
from PIL import Image

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)

def rrc_params(w, h, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)):
    # torchvision.transforms.RandomResizedCrop.get_params
    area = h * w
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * random.uniform(*scale)
        aspect = math.exp(random.uniform(*log_ratio))
        cw, ch = int(round(math.sqrt(target * aspect))), int(round(math.sqrt(target / aspect)))
        if 0 < cw <= w and 0 < ch <= h:
            return random.randint(0, h - ch), random.randint(0, w - cw), ch, cw
    ch, cw = h, w
    if w / h < ratio[0]:
        ch = int(round(w / ratio[0]))
    elif w / h > ratio[1]:
        cw = int(round(h * ratio[1]))
    return (h - ch) // 2, (w - cw) // 2, ch, cw

class Images(torch.utils.data.Dataset):
    def __init__(self, paths):
        self.paths = paths
    def __len__(self):
        return len(self.paths)
    def __getitem__(self, i):
        with open(self.paths[i], "rb") as f:
            img = Image.open(f).convert("RGB")  # torchvision's pil_loader
        top, left, h, w = rrc_params(*img.size)
        img = img.crop((left, top, left + w, top + h)).resize((%d, %d), Image.BILINEAR)
        if random.random() < 0.5:
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
        t = torch.ByteTensor(torch.ByteStorage.from_buffer(img.tobytes()))  # torchvision's to_tensor
        t = t.view(img.size[1], img.size[0], 3).permute(2, 0, 1).contiguous().float().div(255)
        return (t - MEAN) / STD, i

def cpu_seconds():
    return sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                    resource.getrusage(resource.RUSAGE_CHILDREN)))

paths = open(%q).read().split()
torch.set_num_threads(1)
cpu0 = cpu_seconds()
for persistent in (False, True):
    loader = torch.utils.data.DataLoader(Images(paths), batch_size=%d, shuffle=True, num_workers=%d,
                                         persistent_workers=persistent)
    best = float("inf")
    for epoch in range(%d + 1):
        t0 = time.perf_counter()
        n = sum(x.shape[0] for x, _ in loader)
        assert n == len(paths)
        if epoch > 0:
            best = min(best, time.perf_counter() - t0)
    print(best, end=" ")
    if not persistent:  # fresh workers have exited, so their CPU time is counted
        print((cpu_seconds() - cpu0) / ((%d + 1) * len(paths)), end=" ")
print(torch.__version__, Image.__version__ if hasattr(Image, "__version__") else "?")
]]):format(SIZE, SIZE, list_path, BATCH, WORKERS, EPOCHS, EPOCHS)

local t_oml, cpu_oml, fresh, persistent, cpu_peer, torch_version, pil_version = math.huge, math.huge
for _ = 1, ROUNDS do
  local c0 = os.clock()
  epoch()
  t_oml = math.min(t_oml, clock.best(EPOCHS, epoch))
  cpu_oml = math.min(cpu_oml, (os.clock() - c0) / ((EPOCHS + 1) * N))
  local out = clock.python(peer)
  if out then
    local t_fresh, cpu, t_persistent, tv, pv = out:match("(%S+)%s+(%S+)%s+(%S+)%s+(%S+)%s+(%S+)")
    fresh = math.min(fresh or math.huge, tonumber(t_fresh))
    persistent = math.min(persistent or math.huge, tonumber(t_persistent))
    cpu_peer, torch_version, pil_version = math.min(cpu_peer or math.huge, tonumber(cpu)), tv, pv
  end
end
os.execute("rm -rf " .. dir)

print(("data loader: %d JPEGs of %dx%d (quality 90), random resized crop %d + flip + normalise, "
  .. "batches of %d, %d workers"):format(N, H, W, SIZE, BATCH, WORKERS))
local rate = N / t_oml
print(("oml.data.DataLoader                     %7.0f images/s  (best of %d epochs x %d rounds)  %.2f ms CPU/image")
  :format(rate, EPOCHS, ROUNDS, 1000 * cpu_oml))
if not fresh then
  print("PyTorch: not available (/usr/bin/python3 with torch and PIL); no comparison")
  return
end
fresh, persistent = N / fresh, N / persistent
print(("PyTorch %s + PIL %s DataLoader         %7.0f images/s  (fresh workers each epoch)  %.2f ms CPU/image")
  :format(torch_version, pil_version, fresh, 1000 * cpu_peer))
print(("  the same, persistent_workers=True     %7.0f images/s"):format(persistent))
print(("ratio oml / PyTorch                     %7.2f  (fresh)  %5.2f  (persistent; target >= 2)"):format(rate / fresh,
  rate / persistent))
