-- oml.pipelines.progress: bars drawn through a given writer and clock.
local progress = require "oml.pipelines.progress"

local function recorder()
  local out, t = {}, { now = 0 }
  return out, t, function(s) out[#out + 1] = s end, function() return t.now end
end

describe("oml.pipelines.progress", function()
  it("writes one line per interval when not on a terminal, with rate, ETA and values", function()
    local out, t, write, clock = recorder()
    local bar = progress.new { total = 10, label = "train", tty = false, interval = 2, write = write, clock = clock,
                               width = 10 }
    for i = 1, 10 do
      t.now = i * 0.5
      bar:update(i, { loss = 1 / i, lr = 1e-5 })
    end
    bar:finish({ loss = 0.1 })
    assert.are.same({
      "train 1/10 [#.........]  10% 2 it/s ETA 0:05 loss=1 lr=1e-05\n",
      "train 5/10 [#####.....]  50% 2 it/s ETA 0:03 loss=0.2 lr=1e-05\n",
      "train 9/10 [#########.]  90% 2 it/s ETA 0:01 loss=0.1111 lr=1e-05\n",
      "train 10/10 [##########] 100% 2 it/s in 0:05 loss=0.1\n",
    }, out)
  end)

  it("redraws in place with \\r on a terminal and ends the line at finish", function()
    local out, t, write, clock = recorder()
    local bar = progress.new { tty = true, write = write, clock = clock, unit = "img" }
    t.now = 1
    bar:update(4)
    t.now = 1.05
    bar:update(5) -- within the interval: not drawn
    t.now = 2
    bar:finish()
    assert.are.same({ "\r4 4 img/s\27[K", "\r5 2.5 img/s in 0:02\27[K\n" }, out)
  end)

  it("shows the parent's state and counts the child's progress in the parent's ETA", function()
    local out, t, write, clock = recorder()
    local epochs = progress.new { total = 2, label = "epoch", unit = "ep", tty = false, interval = 0, write = write,
                                  clock = clock, width = 4 }
    local batches = progress.new { total = 4, label = "batch", parent = epochs, width = 4 }
    t.now = 2
    batches:update(2, { loss = 0.5 })
    epochs:update(1) -- a parent draws nothing until its finish
    assert.are.same({ "epoch 1/2 ETA 0:06 | batch 2/4 [##..]  50% 1 it/s ETA 0:02 loss=0.5\n" }, out)
    t.now = 8
    epochs:finish()
    assert.are.same("epoch 2/2 [####] 100% 0.25 ep/s in 0:08\n", out[2])
  end)

  it("draws a bar without a total, and non-finite values", function()
    local out, t, write, clock = recorder()
    local bar = progress.new { tty = false, write = write, clock = clock }
    t.now = 0.5
    bar:update(3, { loss = 0 / 0, note = "x" })
    assert.are.same({ "3 6 it/s " .. "loss=" .. tostring(0 / 0) .. " note=x\n" }, out)
  end)

  it("has a monotonic clock in seconds", function()
    local a = progress.clock()
    local b = progress.clock()
    assert.is_true(b >= a and a > 0)
  end)
end)
