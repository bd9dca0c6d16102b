-- oml.retrieval.report: the worst-queries grid of a tiny dataset of the
-- fixture images, read back and checked pixel by pixel at known places.
local oml = require "oml"
local jpeg = require "oml.io.jpeg"
local report = require "oml.retrieval.report"
local RetrievalResults = require "oml.retrieval.results"
local H = require "helper"

local IMAGES = "spec/fixtures/images/" -- made by spec/fixtures/images/make_images.py

local sh = H.sh
local workdir = H.tempdir()

-- Rows: 1 red query (label 1); gallery 2 green (1), 3 blue (2), 4 yellow (1);
-- 5 gray query (label 2); 6 gradient query (label 3, no ground truth).
-- On a line: query 1 at 0 retrieves blue (1, wrong) then yellow (2, right)
-- and misses green (10); query 2 at 100 retrieves green (90, wrong) then
-- yellow (98, wrong) and misses blue (99). cmc@2: query 1 -> 1, query 2 -> 0.
local PATHS = {
  IMAGES .. "red_32x24.jpg", IMAGES .. "green_16x48.jpg", IMAGES .. "blue_40x40.jpg",
  IMAGES .. "yellow_64x16.jpg", IMAGES .. "gray_20x30.jpg", IMAGES .. "gradient_80x64.jpg",
}
local DATASET = {
  n = 6, labels = { 1, 1, 2, 1, 2, 3 },
  is_query = { true, false, false, false, true, true },
  is_gallery = { false, true, true, true, false, false },
}
local rr = RetrievalResults.from_embeddings(oml.tensor({ { 0 }, { 10 }, { 1 }, { 2 }, { 100 }, { 50 } }), DATASET, 3)

-- the colours the fixtures decode to (see jpeg_spec.lua)
local RED, GREEN, BLUE, YELLOW, GRAY = { 200, 40, 40 }, { 40, 179, 60 }, { 30, 60, 210 }, { 221, 200, 31 },
  { 128, 128, 128 }
local C = report.COLOURS

local function pixel(image, y, x) -- 0-based canvas coordinates
  return { image[y + 1][x + 1][1], image[y + 1][x + 1][2], image[y + 1][x + 1][3] }
end

-- JPEG's loss, chroma subsampling at the frames' edges included
local function near(actual, expected, what)
  for i = 1, 3 do
    assert(math.abs(actual[i] - expected[i]) <= 24,
           ("%s: expected {%d,%d,%d}, got {%d,%d,%d}"):format(what, expected[1], expected[2], expected[3],
                                                             actual[1], actual[2], actual[3]))
  end
end

-- the tile at (row r, column c), 1-based: its frame (middle of the left
-- band) and its centre
local function tile_at(summary, image, r, c)
  local x = summary.gap + (c - 1) * (summary.tile + summary.gap)
  local y = summary.gap + (r - 1) * (summary.tile + summary.gap)
  local half = math.floor(summary.tile / 2)
  return pixel(image, y + half, x + math.floor(summary.border / 2)), pixel(image, y + half, x + half)
end

describe("report.worst_queries", function()
  it("draws the worst queries by cmc with framed top-k and missed ground truth", function()
    local out = workdir .. "/cmc.jpg"
    local summary = report.worst_queries { retrieval_results = rr, paths = PATHS, metric = "cmc", k = 2,
                                           n_queries = 8, tile = 100, out = out, quality = 95 }
    -- query 3 has no ground truth and is not ranked; query 2 (cmc 0) comes first
    assert.are.equal(2, #summary.queries)
    H.close({ summary.queries[1].query, summary.queries[1].value }, { 2, 0 })
    H.close({ summary.queries[2].query, summary.queries[2].value }, { 1, 1 })
    H.close(summary.queries[1].retrieved, { 1, 3 }) -- gallery ids: green, yellow
    H.close(summary.queries[1].relevant, { false, false })
    H.close(summary.queries[1].missed, { 2 })
    H.close(summary.queries[2].retrieved, { 2, 3 })
    H.close(summary.queries[2].relevant, { false, true })
    H.close(summary.queries[2].missed, { 1 })
    assert.are.same({}, summary.errors)
    -- 1 query + 2 retrieved + 1 missed columns, 2 rows; tile 100: border and gap 5
    H.close({ summary.columns, summary.border, summary.gap }, { 4, 5, 5 })
    H.close({ summary.width, summary.height }, { 5 + 4 * 105, 5 + 2 * 105 })

    local image = jpeg.read(out)
    H.close(image:size(), { summary.height, summary.width, 3 })
    local expected = {
      { { C.background, GRAY }, { C.irrelevant, GREEN }, { C.irrelevant, YELLOW }, { C.missed, BLUE } },
      { { C.background, RED }, { C.irrelevant, BLUE }, { C.relevant, YELLOW }, { C.missed, GREEN } },
    }
    for r = 1, 2 do
      for c = 1, 4 do
        local frame, centre = tile_at(summary, image, r, c)
        near(frame, expected[r][c][1], ("tile %d,%d frame"):format(r, c))
        near(centre, expected[r][c][2], ("tile %d,%d image"):format(r, c))
      end
    end
    -- the gap between tiles is background, and a wide image is letterboxed:
    -- yellow 64x16 fills 90x22 of its 90x90 square, centred
    near(pixel(image, 2, 2), C.background, "gap")
    local x, y = summary.gap + 2 * (summary.tile + summary.gap) + summary.border, summary.gap + summary.border
    near(pixel(image, y + 10, x + 45), C.background, "letterbox")
    near(pixel(image, y + 45, x + 2), YELLOW, "yellow's left edge")
  end)

  it("ranks by precision with ties in query order and caps the rows", function()
    -- precision@2: query 1 -> 1/2, query 2 -> 0
    local summary = report.worst_queries { retrieval_results = rr, paths = PATHS, metric = "precision", k = 2,
                                           n_queries = 1, tile = 32, out = workdir .. "/p.jpg" }
    assert.are.equal(1, #summary.queries)
    H.close({ summary.queries[1].query, summary.queries[1].value }, { 2, 0 })
    H.close(jpeg.read(workdir .. "/p.jpg"):size(), { summary.gap + 32 + summary.gap, summary.width, 3 })
    -- k = 1: both queries score cmc 0, so query order decides
    local tied = report.worst_queries { retrieval_results = rr, paths = PATHS, k = 1, tile = 32,
                                        out = workdir .. "/t.jpg" }
    H.close({ tied.queries[1].query, tied.queries[2].query }, { 1, 2 })
    H.close({ tied.queries[1].value, tied.queries[2].value }, { 0, 0 })
  end)

  it("draws missing or broken images as dark tiles and lists them", function()
    local paths = { PATHS[1], workdir .. "/gone.jpg", IMAGES .. "make_images.py", PATHS[4], PATHS[5], PATHS[6] }
    local summary = report.worst_queries { retrieval_results = rr, paths = paths, k = 2, tile = 48,
                                           out = workdir .. "/m.jpg" }
    -- green (row 2) is drawn twice, blue (row 3) twice
    assert.are.equal(4, #summary.errors)
    local seen = {}
    for _, e in ipairs(summary.errors) do
      seen[e.row] = e.message
      assert.is_nil(e.message:find("report_spec", 1, true)) -- no position prefix
    end
    assert(seen[2]:find("oml.jpeg.read: " .. workdir .. "/gone.jpg", 1, true), seen[2])
    assert(seen[3]:find("not a readable JPEG", 1, true), seen[3])
    local image = jpeg.read(workdir .. "/m.jpg")
    local frame, centre = tile_at(summary, image, 1, 2) -- query 2's first: green, missing
    near(frame, C.irrelevant, "frame of a missing image")
    near(centre, C.missing_image, "missing image")
    -- a dataset row without a path
    local short = report.worst_queries { retrieval_results = rr, paths = { PATHS[1] }, k = 1, tile = 16,
                                         out = workdir .. "/s.jpg" }
    assert(#short.errors > 0 and short.errors[1].message:find("no image path", 1, true))
  end)

  it("refuses bad arguments", function()
    local args = { retrieval_results = rr, paths = PATHS, out = workdir .. "/x.jpg", k = 2 }
    local function with(key, value)
      local copy = {}
      for k, v in pairs(args) do copy[k] = v end
      copy[key] = value
      return copy
    end
    local name = "oml.retrieval.report.worst_queries: "
    H.raises(function() local _ = report.worst_queries(3) end, name .. "expected a table of named arguments")
    H.raises(function() local _ = report.worst_queries(with("colour", 1)) end, name .. "unknown argument 'colour'")
    H.raises(function() local _ = report.worst_queries(with("retrieval_results", {})) end,
             name .. "retrieval_results must be a RetrievalResults")
    H.raises(function() local _ = report.worst_queries(with("paths", "x")) end, name .. "paths must be a list")
    H.raises(function() local _ = report.worst_queries(with("metric", "f1")) end,
             name .. "metric must be 'cmc', 'precision', 'map' or 'ndcg' (got f1)")
    H.raises(function() local _ = report.worst_queries(with("k", 4)) end, name .. "k must be 1..3")
    H.raises(function() local _ = report.worst_queries(with("k", 0)) end, name)
    H.raises(function() local _ = report.worst_queries(with("n_queries", 0)) end, name .. "n_queries must be")
    H.raises(function() local _ = report.worst_queries(with("tile", 8)) end, name .. "tile must be at least 16")
    H.raises(function() local _ = report.worst_queries(with("quality", 101)) end, name .. "quality must be 1..100")
    H.raises(function() local _ = report.worst_queries(with("out", false)) end, name .. "out must be the path")
    H.raises(function() local _ = report.worst_queries(with("out", workdir .. "/no/dir.jpg")) end,
             "oml.jpeg.write: ")
    local no_gt = RetrievalResults.new { distances = rr.distances, retrieved_ids = rr.retrieved_ids,
                                         query_rows = rr.query_rows, gallery_rows = rr.gallery_rows }
    H.raises(function() local _ = report.worst_queries(with("retrieval_results", no_gt)) end,
             name .. "retrieval_results has no ground truth")
  end)
end)

describe("report.write_worst_queries", function()
  it("writes one grid per metric into a folder", function()
    local dir = workdir .. "/all"
    sh("mkdir " .. dir)
    local reports = report.write_worst_queries { retrieval_results = rr, paths = PATHS, folder = dir, k = 2,
                                                 tile = 32, metrics = { "cmc", "map", "ndcg" } }
    for _, metric in ipairs { "cmc", "map", "ndcg" } do
      local path = ("%s/worst_%s@2.jpg"):format(dir, metric)
      assert.are.equal(path, reports[metric].path)
      H.close(jpeg.read(path):size(), { reports[metric].height, reports[metric].width, 3 })
    end
    -- map@2: query 1 -> 1/2 (its hit at rank 2), query 2 -> 0
    H.close({ reports.map.queries[1].value, reports.map.queries[2].value }, { 0, 0.5 })
    local defaults = report.write_worst_queries { retrieval_results = rr, paths = PATHS, folder = dir, k = 1,
                                                  tile = 16 }
    H.close({ defaults.cmc.k, defaults.precision.k, defaults.map.k }, { 1, 1, 1 })
  end)

  it("refuses bad arguments", function()
    local name = "oml.retrieval.report.write_worst_queries: "
    H.raises(function() local _ = report.write_worst_queries { retrieval_results = rr, paths = PATHS, k = 2 } end,
             name .. "folder must be a path")
    H.raises(function()
      local _ = report.write_worst_queries { retrieval_results = rr, paths = PATHS, folder = workdir, k = 2,
                                                   metrics = {} }
    end, name .. "metrics must be a non-empty list")
    H.raises(function()
      local _ = report.write_worst_queries { retrieval_results = rr, paths = PATHS, folder = workdir, k = 2,
                                             metrics = { "cmc", "f1" } }
    end, name .. "metric must be")
    H.raises(function() local _ = report.write_worst_queries { paths = PATHS, folder = workdir, out = "x" } end,
             name .. "unknown argument 'out'")
  end)
end)

teardown(function() sh("rm -rf " .. workdir) end)
