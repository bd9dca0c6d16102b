-- oml.pipelines.progress: progress bars on stderr for epochs and batches:
-- done/total, a bar, the rate, the ETA and named values (loss, lr, ...).
-- On a terminal the line is redrawn in place with \r; elsewhere (a log file,
-- a pipe) one line is written per interval, so logs stay readable.
--
--   local epochs = progress.new{total = max_epochs, label = "epoch", unit = "ep"}
--   for e = 1, max_epochs do
--     local batches = progress.new{total = #loader, label = "batch", parent = epochs}
--     for b = 1, #loader do ...; batches:update(b, {loss = loss}) end
--     batches:finish({loss = mean_loss})      -- ends the line
--     epochs:update(e)                        -- draws nothing by itself
--   end
--
-- A bar with a parent is drawn after its parent's state ("epoch 3/10 ETA
-- 4:10 | batch 20/50 ..."), and the parent's rate and ETA count the child's
-- progress, so the ETA of the whole run moves with every batch.
-- Tests give write (a function of a string) and clock (seconds, a number).
local ffi = require "ffi"

-- (oml.repl declares isatty too: a repeated declaration is harmless, and pcall
-- keeps a differing one from stopping the load)
pcall(ffi.cdef, "int isatty(int fd);")
ffi.cdef [[
struct oml_progress_timespec { long tv_sec; long tv_nsec; };
int clock_gettime(int clock, struct oml_progress_timespec *ts);
]]

local M = {}
local Bar = {}
Bar.__index = Bar

local CLOCK_MONOTONIC = 1
local timespec = ffi.new("struct oml_progress_timespec")

-- Seconds of a monotonic clock.
function M.clock()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, timespec)
  return tonumber(timespec.tv_sec) + tonumber(timespec.tv_nsec) * 1e-9
end

local function stderr_is_tty()
  local ok, tty = pcall(function() return ffi.C.isatty(2) == 1 end)
  return ok and tty
end

-- h:mm:ss, or m:ss under an hour
local function duration(seconds)
  seconds = math.floor(seconds + 0.5)
  local h, m, s = math.floor(seconds / 3600), math.floor(seconds / 60) % 60, seconds % 60
  if h > 0 then return ("%d:%02d:%02d"):format(h, m, s) end
  return ("%d:%02d"):format(m, s)
end

local function format_value(v)
  if type(v) ~= "number" then return tostring(v) end
  if v ~= v or v == math.huge or v == -math.huge then return tostring(v) end
  if v == math.floor(v) and math.abs(v) < 1e9 then return ("%d"):format(v) end
  return ("%.4g"):format(v)
end

-- "loss=0.5123 lr=1e-05", keys sorted
local function format_values(values)
  if values == nil then return "" end
  local keys = {}
  for k in pairs(values) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for i, k in ipairs(keys) do parts[i] = k .. "=" .. format_value(values[k]) end
  return table.concat(parts, " ")
end

-- new{total=, label=, unit="it", width=20, parent=, write=, clock=, tty=,
-- interval=}: interval is the least time between two lines (0.1 s on a
-- terminal, 10 s elsewhere); total may be nil (no bar, no ETA).
function M.new(opts)
  opts = opts or {}
  local tty = opts.tty
  if tty == nil then tty = stderr_is_tty() end
  local bar = setmetatable({
    total = opts.total, label = opts.label or "", unit = opts.unit or "it", width = opts.width or 20,
    parent = opts.parent, tty = tty, interval = opts.interval or (tty and 0.1 or 10),
    write = opts.write or function(s) io.stderr:write(s) end,
    clock = opts.clock or M.clock,
    done = 0, fraction = 0, drawn_at = nil, values = nil,
  }, Bar)
  if bar.parent then
    bar.parent.has_children = true
    bar.write, bar.clock, bar.tty = opts.write or bar.parent.write, opts.clock or bar.parent.clock, bar.parent.tty
    if opts.interval == nil then bar.interval = bar.parent.interval end
  end
  bar.started = bar.clock()
  return bar
end

-- Units done per second, counting a child's fraction of the current unit.
function Bar:rate(now)
  local elapsed = now - self.started
  if elapsed <= 0 then return nil end
  return (self.done + self.fraction) / elapsed
end

-- "epoch 3/10 ETA 4:10": the state shown before a child's line
function Bar:status(now)
  local parts = { self.label ~= "" and self.label or nil }
  parts[#parts + 1] = self.total and ("%d/%d"):format(self.done + 1 > self.total and self.total or self.done + 1,
                                                        self.total) or tostring(self.done + 1)
  local rate = self:rate(now)
  if self.total and rate and rate > 0 then
    parts[#parts + 1] = "ETA " .. duration((self.total - self.done - self.fraction) / rate)
  end
  return table.concat(parts, " ")
end

-- The text of the bar's line at time now; finished: the total time instead of the ETA.
function Bar:line(now, finished)
  local parts = {}
  if self.parent then parts[1] = self.parent:status(now) .. " |" end
  if self.label ~= "" then parts[#parts + 1] = self.label end
  local rate = self:rate(now)
  if self.total then
    parts[#parts + 1] = ("%d/%d"):format(self.done, self.total)
    local share = self.total > 0 and math.min(self.done / self.total, 1) or 1
    local full = math.floor(share * self.width + 0.5)
    parts[#parts + 1] = "[" .. ("#"):rep(full) .. ("."):rep(self.width - full) .. "]"
    parts[#parts + 1] = ("%3d%%"):format(math.floor(share * 100))
  else
    parts[#parts + 1] = tostring(self.done)
  end
  if rate then parts[#parts + 1] = ("%.3g %s/s"):format(rate, self.unit) end
  if finished then
    parts[#parts + 1] = "in " .. duration(now - self.started)
  elseif self.total and rate and rate > 0 then
    parts[#parts + 1] = "ETA " .. duration((self.total - self.done) / rate)
  end
  local values = format_values(self.values)
  if values ~= "" then parts[#parts + 1] = values end
  return table.concat(parts, " ")
end

function Bar:draw(now, finished)
  local text = self:line(now, finished)
  if self.tty then
    self.write("\r" .. text .. "\27[K" .. (finished and "\n" or ""))
  else
    self.write(text .. "\n")
  end
  self.drawn_at = now
end

-- update(done [, values]): done units so far; values replace the shown ones.
-- Draws when the interval has passed since the last line (and at the first);
-- a parent draws only at its finish (its children show its state).
function Bar:update(done, values)
  self.done, self.fraction = done, 0
  if values ~= nil then self.values = values end
  local now = self.clock()
  if self.parent then
    self.parent.fraction = self.total and self.total > 0 and math.min(done / self.total, 1) or 0
  end
  if self.has_children then return end
  if self.drawn_at == nil or now - self.drawn_at >= self.interval then self:draw(now, false) end
end

-- finish([values]): draws the final line (the total time, the values) and
-- ends it; the parent's current unit counts as done for its ETA.
function Bar:finish(values)
  if values ~= nil then self.values = values end
  if self.total then self.done = math.max(self.done, self.total) end
  self:draw(self.clock(), true)
end

return M
