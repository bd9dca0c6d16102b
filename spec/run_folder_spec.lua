-- oml.pipelines.run_folder: config.json, metrics.jsonl, curves.jpg, and nothing outside the folder.
local cjson = require "cjson"
local H = require "helper"
local jpeg = require "oml.io.jpeg"
local run_folder = require "oml.pipelines.run_folder"

describe("oml.pipelines.run_folder", function()
  local dir
  before_each(function() dir = H.tempdir() end)
  after_each(function() H.sh("rm -rf " .. dir) end)

  it("creates a named or timestamped folder under a new root, never reusing one", function()
    local run = run_folder.create { root = dir .. "/runs/a", name = "first" }
    assert.are.equal(dir .. "/runs/a/first", run.path)
    H.raises(function() local _ = run_folder.create { root = dir .. "/runs/a", name = "first" } end,
      "oml.pipelines.run_folder: " .. dir .. "/runs/a/first exists already")
    H.raises(function() local _ = run_folder.create { root = dir, name = "../x" } end,
      "name must be a plain folder name (got ../x)")
    local t1 = run_folder.create { root = dir .. "/ts" }
    local t2 = run_folder.create { root = dir .. "/ts" }
    assert.truthy(t1.path:match("/ts/%d%d%d%d%-%d%d%-%d%d_%d%d%-%d%d%-%d%d$"))
    assert.are_not.equal(t1.path, t2.path)
    H.raises(function() local _ = run:file("../escape") end, "a run folder file is a plain name (got ../escape)")
  end)

  it("writes config.json (sorted, indented) and appends metrics.jsonl line by line", function()
    local run = run_folder.create { root = dir, name = "r" }
    local cfg = { max_epochs = 2, optimizer = { name = "adam", args = { lr = 1e-5 } }, tags = { "a", "b" }, e = {} }
    run:write_config(cfg)
    local text = H.read_bytes(dir .. "/r/config.json")
    assert.are.equal('{\n  "e": {},\n  "max_epochs": 2,\n  "optimizer": {\n    "args": {\n      "lr": 1e-05\n'
      .. '    },\n    "name": "adam"\n  },\n  "tags": ["a", "b"]\n}\n', text)
    assert.are.same(cfg, cjson.decode(text))
    run:log { epoch = 1, loss = 0.5 }
    assert.are.equal('{"epoch":1,"loss":0.5}\n', H.read_bytes(dir .. "/r/metrics.jsonl"))
    run:log { epoch = 1, ["OVERALL/cmc/1"] = 0.25 }
    local lines = {}
    for line in io.lines(dir .. "/r/metrics.jsonl") do lines[#lines + 1] = cjson.decode(line) end
    assert.are.same({ { epoch = 1, loss = 0.5 }, { epoch = 1, ["OVERALL/cmc/1"] = 0.25 } }, lines)
    -- a resumed run reads its log back (a line cut by a crash is skipped)
    local f = assert(io.open(dir .. "/r/metrics.jsonl", "ab"))
    f:write('{"epoch": 2, "lo')
    f:close()
    assert.are.same(lines, run_folder.open(dir .. "/r").records)
    H.raises(function() run:log(5) end, "a record is a table (got number)")
    assert.are.same({ "config.json", "metrics.jsonl" }, H.files_in(dir .. "/r"))
    assert.are.same({ "r" }, H.files_in(dir))
  end)

  it("draws curves.jpg: one panel per value, the line where the values put it", function()
    local run = run_folder.create { root = dir, name = "c" }
    for epoch = 1, 5 do
      run:log { epoch = epoch, loss = (5 - epoch) / 4, time = 7 } -- loss 1 .. 0: top-left to bottom-right
    end
    run:write_curves()
    assert.are.same({ "c" }, H.files_in(dir))
    assert.are.same({ "curves.jpg", "metrics.jsonl" }, H.files_in(dir .. "/c"))
    local image = jpeg.read(dir .. "/c/curves.jpg")
    assert.are.same({ run_folder.PANEL_HEIGHT, 2 * run_folder.PANEL_WIDTH, 3 }, image:size())
    local function pixel(x, y) return image[{ y + 1, x + 1 }]:totable() end
    local function plotted(p) return p[1] < 120 and p[3] > 120 end -- the line's blue
    local function blank(p) return p[1] > 230 and p[2] > 230 and p[3] > 230 end
    local box = run_folder.panel_box(1) -- "loss", the first name in sorted order
    local cx, cy = (box[1] + box[3]) / 2, (box[2] + box[4]) / 2
    assert.is_true(plotted(pixel(math.floor(cx), math.floor(cy))))
    assert.is_true(plotted(pixel(box[1] + 2, box[2] + 1)))
    assert.is_true(plotted(pixel(box[3] - 1, box[4] - 1)))
    assert.is_true(blank(pixel(box[3] - 10, box[2] + 10)))
    assert.is_true(blank(pixel(box[1] + 10, box[4] - 10)))
    -- "time" is constant: a flat line at mid-height of the second panel
    local box2 = run_folder.panel_box(2)
    local mid = math.floor((box2[2] + box2[4]) / 2 + 0.5)
    assert.is_true(plotted(pixel(math.floor((box2[1] + box2[3]) / 2), mid)))
    assert.is_true(blank(pixel(math.floor((box2[1] + box2[3]) / 2), box2[2] + 10)))
  end)

  it("plots an empty log as a blank image", function()
    local image = run_folder.plot({})
    assert.are.same({ run_folder.PANEL_HEIGHT, 2 * run_folder.PANEL_WIDTH, 3 }, image:size())
    assert.are.equal(255, image:min():item())
  end)
end)
