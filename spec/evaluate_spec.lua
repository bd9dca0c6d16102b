-- spec/evaluate_spec.lua: the evaluate command (recipes/evaluate.lua), run as
-- a real process on files written here, and its atomic writer.
local oml = require "oml"
local cjson = require "cjson"
local H = require "helper"
local evaluate = require "oml.recipes.evaluate"
local atomic = require "oml.io.atomic"

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p " .. dir))

local function path(name) return dir .. "/" .. name end

teardown(function() os.execute("rm -rf " .. dir) end)

local function write(name, text)
  local f = assert(io.open(path(name), "w"))
  f:write(text)
  f:close()
  return path(name)
end

local function read(name)
  local f = io.open(name, "r")
  if not f then return nil end
  local text = f:read("*a")
  f:close()
  return text
end

-- Runs the command; returns its exit status, stdout and stderr.
local function run(args)
  local out, err = path("stdout"), path("stderr")
  local pipe = io.popen(("luajit recipes/evaluate.lua %s >%s 2>%s; echo $?"):format(args, out, err))
  local status = tonumber(pipe:read("*a"))
  pipe:close()
  return status, read(out), read(err)
end

-- The dataframe CSV of a list of rows {label, split, is_query, is_gallery [, category] [, sequence]}.
local function dataframe_csv(name, rows, extra)
  local lines = { "label,path,split,is_query,is_gallery" .. (extra or "") }
  for i, r in ipairs(rows) do
    local fields = { r[1], "img" .. i .. ".jpg", r[2], r[3], r[4] }
    for j = 5, #r do fields[#fields + 1] = r[j] end
    lines[#lines + 1] = table.concat(fields, ",")
  end
  return write(name, table.concat(lines, "\n") .. "\n")
end

-- Four validation rows of 1-d embeddings, a train row among them.
local TINY_ROWS = {
  { 0, "validation", "True", "True", "a" },
  { 0, "validation", "True", "True", "a" },
  { 7, "train", "", "", "a" },
  { 1, "validation", "True", "True", "b" },
  { 1, "validation", "True", "True", "b" },
}
local tiny_csv = dataframe_csv("tiny.csv", TINY_ROWS, ",category")
local tiny_st = path("tiny.safetensors")
oml.save(tiny_st, { embeddings = oml.tensor({ { 0 }, { 1 }, { 0.4 }, { 3 } }, "float32") })

describe("evaluate", function()
  it("computes a hand-computed case and writes OML's names and nesting", function()
    local out = path("tiny.json")
    local status, stdout, stderr = run(("--embeddings %s --dataframe %s --dataset-root /data --cmc 1,2 --precision 2"
                                        .. " --map 2 --out %s"):format(tiny_st, tiny_csv, out))
    assert.are.equal("", stderr)
    assert.are.equal(0, status)
    -- Each query retrieves the other three (distances |x - y|):
    --   0.0: 0.4(-) 1(+) 3(-)   1.0: 0.4(-) 0(+) 3(-)   0.4: 0(-) 1(-) 3(+)   3.0: 1(-) 0.4(+) 0(-)
    -- cmc@1 = 0 everywhere; cmc@2 = precision@2 = 1, 1, 0, 1; map@2 = 1/2, 1/2, 0, 1/2.
    local expected = {
      OVERALL = { cmc = { ["1"] = 0, ["2"] = 0.75 }, precision = { ["2"] = 0.75 }, map = { ["2"] = 0.375 } },
      a = { cmc = { ["1"] = 0, ["2"] = 1 }, precision = { ["2"] = 1 }, map = { ["2"] = 0.5 } },
      b = { cmc = { ["1"] = 0, ["2"] = 0.5 }, precision = { ["2"] = 0.5 }, map = { ["2"] = 0.25 } },
    }
    assert.are.same(expected, cjson.decode(read(out)))
    assert.truthy(stdout:find("category   cmc@1   cmc@2  precision@2   map@2\n", 1, true))
    assert.truthy(stdout:find("OVERALL   0.0000  0.7500       0.7500  0.3750\n", 1, true))
    assert.truthy(stdout:find("b         0.0000  0.5000       0.5000  0.2500\n", 1, true))
    assert.truthy(stdout:find("metrics written to " .. out, 1, true))
  end)

  it("uses OML's EmbeddingMetrics defaults when no metric is asked", function()
    local out = path("defaults.json")
    local status = run(("--embeddings %s --dataframe %s --out=%s"):format(tiny_st, tiny_csv, out))
    assert.are.equal(0, status)
    local metrics = cjson.decode(read(out))
    local function keys(t)
      local list = {}
      for k in pairs(t) do list[#list + 1] = k end
      table.sort(list)
      return list
    end
    for _, category in ipairs { "OVERALL", "a", "b" } do
      local m = metrics[category]
      assert.are.same({ "cmc", "map", "pcf", "precision" }, keys(m))
      for _, metric in ipairs { "cmc", "precision", "map" } do assert.are.same({ "5" }, keys(m[metric])) end
      assert.are.same({ "0.5" }, keys(m.pcf))
    end
    -- the gallery of each query holds 3 items, so cmc@5 = precision@5 = 1; map@5 as map@3
    assert.are.equal(1, metrics.OVERALL.cmc["5"])
    assert.are.equal(1, metrics.OVERALL.precision["5"])
    H.close(metrics.OVERALL.map["5"], (1 / 2 + 1 / 2 + 1 / 3 + 1 / 2) / 4, 1e-6)
  end)

  it("matches EmbeddingMetrics computed in-process, with every metric, sequences and categories", function()
    local n, rows, labels, categories, sequence = 40, {}, {}, {}, {}
    local is_query, is_gallery = {}, {}
    for i = 1, n do
      labels[i] = i % 8
      categories[i] = labels[i] % 2 == 0 and "even" or "odd"
      sequence[i] = i % 5 == 0 and false or ("s" .. (i % 3))
      is_query[i] = i % 7 ~= 0
      is_gallery[i] = i % 6 ~= 0
      rows[i] = { labels[i], "validation", is_query[i] and "True" or "False", is_gallery[i] and "True" or "False",
                  categories[i], sequence[i] or "" }
    end
    table.insert(rows, 10, { 99, "train", "", "", "odd", "" })
    local csv = dataframe_csv("random.csv", rows, ",category,sequence")
    local embeddings = oml.tensor(H.values(n, 8, 3), "float32")
    local st = path("random.safetensors")
    oml.save(st, { embeddings = embeddings, other = oml.zeros(2) })
    local out = path("random.json")
    local status, stdout = run(("--embeddings %s --dataframe %s --cmc 1,3,5 --precision 3 --map 1,5 --ndcg 5"
                                .. " --map-at-r --fmr 0.1,0.5 --pcf 0.5,0.9 --out %s"):format(st, csv, out))
    assert.are.equal(0, status)
    assert.truthy(stdout:find("fnmr@fmr=0.1", 1, true))

    local dataset = { n = n, labels = labels, is_query = is_query, is_gallery = is_gallery,
                      categories = categories, sequence = sequence }
    local metrics = oml.metrics.EmbeddingMetrics {
      dataset = dataset, cmc_top_k = { 1, 3, 5 }, precision_top_k = { 3 }, map_top_k = { 1, 5 },
      ndcg_top_k = { 5 }, map_at_r = true, fmr_vals = { 0.1, 0.5 }, pcf_variance = { 0.5, 0.9 },
      warn = function() end,
    }
    local all = {}
    for i = 1, n do all[i] = i end
    metrics:update(embeddings, all)
    local expected = {}
    for category, values in pairs(metrics:compute_metrics()) do
      expected[category] = {}
      for metric, v in pairs(values) do
        if type(v) == "table" then
          expected[category][metric] = {}
          for key, x in pairs(v) do expected[category][metric][tostring(key)] = x end
        else
          expected[category][metric] = v
        end
      end
    end
    -- numbers are written exactly (the shortest text that reads back)
    assert.are.same(expected, cjson.decode(read(out)))
    assert.truthy(expected.OVERALL["fnmr@fmr"]["0.1"])
    assert.is_nil(expected.odd["fnmr@fmr"])
  end)

  it("writes a mean over no queries as null", function()
    -- the only query of category c shares its sequence with its only gt
    local csv = dataframe_csv("nogt.csv", {
      { 0, "validation", "True", "True", "a", "s1" },
      { 0, "validation", "True", "True", "a", "s2" },
      { 1, "validation", "True", "False", "c", "s3" },
      { 1, "validation", "False", "True", "c", "s3" },
    }, ",category,sequence")
    local st = path("nogt.safetensors")
    oml.save(st, { embeddings = oml.tensor({ { 0 }, { 1 }, { 2 }, { 3 } }, "float32") })
    local out = path("nogt.json")
    local status, stdout, stderr = run(("--embeddings %s --dataframe %s --cmc 1 --out %s"):format(st, csv, out))
    assert.are.equal(0, status)
    assert.truthy(stderr:find("^evaluate: warning: .*1 of 3 queries have no ground truth"))
    local metrics = cjson.decode(read(out))
    assert.are.equal(cjson.null, metrics.c.cmc["1"])
    assert.are.equal(1, metrics.a.cmc["1"])
    assert.truthy(stdout:find("c            nan\n", 1, true))
  end)

  it("prints the usage with --help", function()
    local status, stdout, stderr = run("--help")
    assert.are.equal(0, status)
    assert.are.equal(evaluate.USAGE, stdout)
    assert.are.equal("", stderr)
  end)

  it("ends bad arguments with one line and status 2", function()
    local base = ("--embeddings %s --dataframe %s "):format(tiny_st, tiny_csv)
    for _, case in ipairs {
      { "", "--embeddings is required (see --help)" },
      { "--dataframe " .. tiny_csv, "--embeddings is required (see --help)" },
      { "--embeddings " .. tiny_st, "--dataframe is required (see --help)" },
      { base .. "--bogus 1", "unknown option '--bogus' (see --help)" },
      { base .. "extra", "unexpected argument 'extra' (see --help)" },
      { base .. "--cmc", "--cmc needs a value" },
      { base .. "--cmc --map 1", "--cmc needs a value" },
      { base .. "--out=", "--out needs a value" },
      { base .. "--cmc 1,x", "--cmc: 'x' is not a positive integer" },
      { base .. "--precision 1.5", "--precision: '1.5' is not a positive integer" },
      { base .. "--map 0", "--map: 0 is not a positive integer below 2^31" },
      { base .. "--ndcg 1,,2", "--ndcg: '' is not a positive integer" },
      { base .. "--fmr 1.5", "--fmr: 1.5 is outside [0, 1]" },
      { base .. "--fmr -0.1", "--fmr: -0.1 is outside [0, 1]" },
      { base .. "--pcf abc", "--pcf: 'abc' is not a number" },
      { base .. "--pcf nan", "--pcf: 'nan' is not a number" },
      { base .. "--cmc 1 --cmc 2", "--cmc is given twice" },
      { base .. "--map-at-r=yes", "--map-at-r takes no value" },
    } do
      local status, stdout, stderr = run(case[1])
      assert.are.equal("evaluate: " .. case[2] .. "\n", stderr)
      assert.are.equal(2, status)
      assert.are.equal("", stdout)
    end
  end)

  it("ends bad files and dataframes with one line and status 1", function()
    local function tensor_file(name, tensors)
      oml.save(path(name), tensors)
      return path(name)
    end
    local cases = {
      { tiny_st:gsub("tiny", "missing"), tiny_csv,
        "oml.load: " .. path("missing.safetensors") .. ": cannot open: No such file or directory" },
      { write("garbage.safetensors", "not a safetensors file"), tiny_csv,
        "oml.load: " .. path("garbage.safetensors") .. ": the header length" },
      { tiny_st, path("missing.csv"), "oml.data.read_dataframe: cannot open " .. path("missing.csv") },
      { tiny_st, write("badlabel.csv", "label,path,split,is_query,is_gallery\nx,a.jpg,validation,True,True\n"),
        "oml.data.read_dataframe: " .. path("badlabel.csv") .. ": row 1 (line 2), column 'label': 'x' is not an integer" },
      { tiny_st, dataframe_csv("train.csv", { { 0, "train", "", "" } }), path("train.csv") .. " has no validation rows" },
      { tiny_st, dataframe_csv("nocat.csv", { { 0, "validation", "True", "True", "a" },
                                              { 0, "validation", "True", "True", "" } }, ",category"),
        path("nocat.csv") .. ": row 2 (line 3) has no category (give every validation row one)" },
      { tiny_st, dataframe_csv("overall.csv", { { 0, "validation", "True", "True", "OVERALL" },
                                                { 0, "validation", "True", "True", "OVERALL" },
                                                { 1, "validation", "True", "True", "b" },
                                                { 1, "validation", "True", "True", "b" } }, ",category"),
        'oml.retrieval.calc_retrieval_metrics: "OVERALL" is the key of all queries; rename that category' },
      { tensor_file("noemb.safetensors", { x = oml.zeros(4, 1) }), tiny_csv,
        path("noemb.safetensors") .. " has no tensor named 'embeddings' (it holds 'x')" },
      { tensor_file("f64.safetensors", { embeddings = oml.zeros({ 4, 1 }, "float64") }), tiny_csv,
        path("f64.safetensors") .. ": 'embeddings' is float64; expected float32" },
      { tensor_file("1d.safetensors", { embeddings = oml.zeros(4) }), tiny_csv,
        path("1d.safetensors") .. ": 'embeddings' has size [4]; expected [N, D]" },
      { tensor_file("rows.safetensors", { embeddings = oml.zeros(5, 1) }), tiny_csv,
        path("rows.safetensors") .. ": 'embeddings' has 5 rows but " .. tiny_csv .. " has 4 validation rows" },
      { tensor_file("nodim.safetensors", { embeddings = oml.zeros(4, 0) }), tiny_csv,
        path("nodim.safetensors") .. ": 'embeddings' has no columns (size [4,0])" },
      { tensor_file("nan.safetensors", { embeddings = oml.tensor({ { 0 }, { 1 }, { 0 / 0 }, { 2 } }, "float32") }),
        tiny_csv, path("nan.safetensors") .. ": 'embeddings' row 3 holds nan" },
      { tiny_st, tiny_csv .. " --out " .. path("no/such/dir/m.json"),
        "cannot write " .. path("no/such/dir/m.json") .. ": cannot create a temporary file in " .. path("no/such/dir") },
    }
    for _, case in ipairs(cases) do
      local status, _, stderr = run(("--embeddings %s --dataframe %s"):format(case[1], case[2]))
      assert.are.equal(1, status)
      assert.are.equal("evaluate: " .. case[3], stderr:sub(1, #case[3] + 10))
      assert.are.equal(1, select(2, stderr:gsub("\n", "")), stderr)
      assert.falsy(stderr:find("traceback", 1, true) or stderr:find("%.lua:%d"))
    end
  end)
end)

describe("oml.io.atomic", function()
  it("replaces a file at once, and leaves it untouched when writing fails", function()
    local target = write("atomic.txt", "old")
    atomic.write(target, function(put)
      put("new ")
      put(require("ffi").cast("const char *", "contents"), 8)
    end)
    assert.are.equal("new contents", read(target))
    local ok, err = pcall(atomic.write, target, function(put)
      put("half")
      error("stopped", 0)
    end)
    assert.is_false(ok)
    assert.are.equal("stopped", err)
    assert.are.equal("new contents", read(target))
    local pipe = io.popen("ls -A " .. dir .. " | grep -c tmp")
    assert.are.equal(0, tonumber(pipe:read("*a")))
    pipe:close()
    ok, err = pcall(atomic.write, path("none/x"), function() end)
    assert.is_false(ok)
    assert.truthy(err.what:find("^cannot create a temporary file in " .. path("none"):gsub("%p", "%%%0")))
  end)
end)
