-- oml.data.DataLoader and oml.data.ImageRecipe: batches made by C worker
-- threads from JPEG files the spec writes; the same batches with 1 and 4
-- workers; agreement with the Lua transforms; missing and corrupt files in
-- both modes; every argument error.
local oml = require "oml"
local H = require "helper"

local tr = oml.data.transforms

-- the largest absolute difference between two tensors of one shape
local function max_diff(a, b)
  assert(table.concat(a:size(), ",") == table.concat(b:size(), ","), "shapes differ")
  return (a:to("float64") - b:to("float64")):abs():max():item()
end

-- A deterministic h x w RGB image: smooth waves and a stripe, so that
-- crops, flips and colour changes all show.
local function picture(h, w, seed)
  local rows = {}
  for y = 1, h do
    local row = {}
    for x = 1, w do
      row[x] = {
        math.floor(127 + 100 * math.sin(x / 5 + seed)),
        math.floor(127 + 100 * math.cos(y / 7 + seed)),
        (x < w / 3) and 230 or math.floor(60 + x + y) % 256,
      }
    end
    rows[y] = row
  end
  return oml.tensor(rows, "uint8")
end

describe("oml.data.DataLoader", function()
  local dir, paths, csv
  setup(function()
    dir = H.tempdir()
    paths = {}
    for i = 1, 12 do
      paths[i] = ("%s/img%02d.jpg"):format(dir, i)
      oml.jpeg.write(paths[i], picture(40 + 3 * i, 70 - 2 * i, i), 95)
    end
    -- a dataframe: labels 1..4, boxes on every other row, categories
    csv = dir .. "/df.csv"
    local f = assert(io.open(csv, "w"))
    f:write("label,path,split,is_query,is_gallery,category,x_1,x_2,y_1,y_2\n")
    for i = 1, 12 do
      local box = i % 2 == 0 and ("3,%d,2,%d"):format(30, 25 + i) or ",,,"
      local split = i <= 8 and "train,," or "validation,True,True"
      f:write(("%d,img%02d.jpg,%s,cat%d,%s\n"):format((i - 1) % 4 + 1, i, split, (i - 1) % 2, box))
    end
    f:close()
  end)
  teardown(function() H.sh("rm -rf " .. dir) end)

  local function augmenting()
    return oml.data.ImageRecipe {
      size = { 24, 20 }, crop = "random_resized_crop", hflip = 0.5,
      color_jitter = { brightness = 0.4, contrast = 0.4, saturation = 0.4, hue = 0.1 },
    }
  end

  local function all_batches(loader)
    local list = {}
    for batch in loader:batches() do list[#list + 1] = batch end
    return list
  end

  it("gives the same batches bit for bit with 1 and 4 workers (and with none)", function()
    local ds = oml.data.ImageLabeledDataset { dataframe = csv, dataset_root = dir, transform = augmenting() }
    local runs = {}
    for k, workers in ipairs { 1, 4, 0 } do
      local loader = oml.data.DataLoader { dataset = ds, batch_size = 5, shuffle = true, num_workers = workers,
                                           seed = 42, prefetch = 3 }
      runs[k] = { all_batches(loader), all_batches(loader) } -- two epochs
    end
    for k = 2, 3 do
      for epoch = 1, 2 do
        local a, b = runs[1][epoch], runs[k][epoch]
        assert.are.equal(#a, #b)
        for i = 1, #a do
          assert.are.same(a[i].idx:totable(), b[i].idx:totable())
          assert.are.equal(0, max_diff(a[i].input_tensors, b[i].input_tensors))
        end
      end
    end
    -- epochs differ in order and in their random draws
    assert.are_not.same(runs[1][1][1].idx:totable(), runs[1][2][1].idx:totable())
    assert.is_true(max_diff(runs[1][1][1].input_tensors, runs[1][2][1].input_tensors) > 0)
  end)

  it("gives other batches for another seed, the same ones for the same seed", function()
    local ds = oml.data.ImageBaseDataset { paths = paths, transform = augmenting() }
    local function first(seed)
      return all_batches(oml.data.DataLoader { dataset = ds, batch_size = 12, num_workers = 2, seed = seed })[1]
    end
    assert.are.equal(0, max_diff(first(3).input_tensors, first(3).input_tensors))
    assert.is_true(max_diff(first(3).input_tensors, first(4).input_tensors) > 0.1)
  end)

  it("makes batch tables with OML's keys", function()
    local ds = oml.data.ImageLabeledDataset { dataframe = csv, dataset_root = dir,
                                              transform = oml.data.ImageRecipe.norm_resize_torch(16) }
    local batches = all_batches(oml.data.DataLoader { dataset = ds, batch_size = 5, num_workers = 2 })
    assert.are.equal(3, #batches)
    local b = batches[1]
    assert.are.same({ 5, 3, 16, 16 }, b.input_tensors:size())
    assert.are.equal("float32", b.input_tensors.dtype)
    assert.are.same({ 1, 2, 3, 4, 5 }, b.idx:totable())
    assert.are.equal("int64", b.idx.dtype)
    assert.are.same({ 1, 2, 3, 4, 1 }, b.labels:totable())
    assert.are.equal("int64", b.labels.dtype)
    assert.are.same({ "cat0", "cat1", "cat0", "cat1", "cat0" }, b.categories)
    assert.are.equal(dir .. "/img03.jpg", b.paths[3])
    assert.are.same({ 2, 3, 16, 16 }, batches[3].input_tensors:size())
    assert.are.same({ 11, 12 }, batches[3].idx:totable())
  end)

  it("marks query and gallery items of a validation set", function()
    local ds = oml.data.ImageQueryGalleryLabeledDataset { dataframe = csv, dataset_root = dir,
                                                          transform = oml.data.ImageRecipe.norm_resize_torch(8) }
    local b = all_batches(oml.data.DataLoader { dataset = ds, batch_size = 4 })[1]
    assert.are.same({ true, true, true, true }, b.is_query:totable())
    assert.are.equal("bool", b.is_gallery.dtype)
    assert.are.same({ 1, 2, 3, 4 }, b.idx:totable()) -- indices of the dataset (the validation rows)
  end)

  it("writes each row as the Lua transforms make it (box crop, resize, normalise)", function()
    local recipe = oml.data.ImageRecipe { size = { 18, 14 }, dct_scaling = false }
    local ds = oml.data.ImageLabeledDataset { dataframe = csv, dataset_root = dir, transform = recipe }
    local b = all_batches(oml.data.DataLoader { dataset = ds, batch_size = 12, num_workers = 2 })[1]
    for i = 1, 12 do
      local image = oml.jpeg.read(paths[i])
      if i % 2 == 0 then image = tr.box_crop(image, 3, 2, 30, 25 + i) end
      local expected = tr.normalize(tr.resize(image, { 18, 14 }))
      assert.are.equal(0, max_diff(b.input_tensors[i], expected))
      -- and as the dataset's own item
      assert.are.equal(0, max_diff(ds[i].input_tensors, expected))
    end
  end)

  it("decodes only a crop's rows and columns, with the pixels of a full decode", function()
    local big = dir .. "/crop_source.jpg"
    oml.jpeg.write(big, picture(150, 230, 2), 90) -- 4:2:0, whose chroma upsampling reads past a crop's edge
    local full = oml.jpeg.read(big)
    local boxes = { { 17, 33, 61, 90 }, { 101, 40, 229, 149 }, { 0, 0, 230, 150 }, { 64, 72, 65, 73 },
                    { 9, 120, 200, 141 }, { 150, 3, 197, 18 } }
    local list, ds_boxes = {}, {}
    for i, b in ipairs(boxes) do list[i], ds_boxes[i] = big, { x_1 = b[1], y_1 = b[2], x_2 = b[3], y_2 = b[4] } end
    local ds = oml.data.ImageBaseDataset { paths = list, boxes = ds_boxes,
                                           transform = oml.data.ImageRecipe { size = { 11, 13 }, dct_scaling = false } }
    for i, b in ipairs(boxes) do
      local expected = tr.normalize(tr.resize(tr.box_crop(full, b[1], b[2], b[3], b[4]), { 11, 13 }))
      assert.are.equal(0, max_diff(ds[i].input_tensors, expected))
    end
  end)

  it("flips every image with hflip = 1 and none with hflip = 0", function()
    local function rows(p)
      local ds = oml.data.ImageBaseDataset { paths = paths,
                                             transform = oml.data.ImageRecipe { size = 16, hflip = p, dct_scaling = false } }
      return all_batches(oml.data.DataLoader { dataset = ds, batch_size = 12, num_workers = 2 })[1].input_tensors
    end
    local plain, flipped = rows(0), rows(1)
    for i = 1, 12 do assert.are.equal(0, max_diff(flipped[i], tr.hflip(plain[i]))) end
    assert.is_true(max_diff(flipped, plain) > 0.1)
  end)

  it("decodes big images at a reduced DCT scale, close to the full decode", function()
    local big = dir .. "/big.jpg"
    oml.jpeg.write(big, picture(256, 320, 0), 95)
    local function row(dct)
      local ds = oml.data.ImageBaseDataset { paths = { big },
                                             transform = oml.data.ImageRecipe { size = 32, dct_scaling = dct } }
      return ds[1].input_tensors
    end
    local full, scaled = row(false), row(true)
    -- 1/8 scale (32 x 40, still >= 32): the same picture within JPEG's rounding
    local expected = tr.normalize(tr.resize(oml.jpeg.read(big, { min_side = 32 }), { 32, 32 }))
    assert.are.equal(0, max_diff(scaled, expected))
    -- on average within 6 levels of 255 of the full decode's (0.1 * std 0.225 * 255)
    assert.is_true((full - scaled):abs():mean():item() < 0.1)
  end)

  it("takes random resized crops inside the image, of the recipe's size", function()
    local recipe = oml.data.ImageRecipe { size = 10, crop = "random_resized_crop", scale = { 0.5, 0.5 },
                                          ratio = { 1, 1 } }
    local ds = oml.data.ImageBaseDataset { paths = paths, transform = recipe }
    local b = all_batches(oml.data.DataLoader { dataset = ds, batch_size = 12, num_workers = 2, seed = 1 })[1]
    assert.are.same({ 12, 3, 10, 10 }, b.input_tensors:size())
    local lo, hi = b.input_tensors:min():item(), b.input_tensors:max():item()
    assert.is_true(lo >= (0 - 0.485) / 0.229 - 1e-6 and hi <= (1 - 0.406) / 0.225 + 1e-6)
  end)

  it("reads grayscale files as three equal channels", function()
    local ds = oml.data.ImageBaseDataset { paths = { "spec/fixtures/images/gray_20x30.jpg" },
                                           transform = oml.data.ImageRecipe { size = 8, mean = { 0, 0, 0 },
                                                                              std = { 1, 1, 1 } } }
    local x = ds[1].input_tensors
    assert.are.equal(0, max_diff(x[1], x[2]))
    assert.are.equal(0, max_diff(x[1], x[3]))
  end)

  it("follows a batch sampler", function()
    local ds = oml.data.ImageLabeledDataset { dataframe = csv, dataset_root = dir, split = "train",
                                              transform = oml.data.ImageRecipe.norm_resize_torch(8) }
    local sampler = oml.samplers.BalanceSampler { labels = ds:get_labels(), n_labels = 2, n_instances = 2, seed = 0 }
    local loader = oml.data.DataLoader { dataset = ds, batch_sampler = sampler, num_workers = 2 }
    assert.are.equal(2, loader:length())
    local seen = {}
    for batch in loader:batches() do
      assert.are.equal(4, batch.labels:size(1))
      local per_label = {}
      for _, l in ipairs(batch.labels:totable()) do per_label[l] = (per_label[l] or 0) + 1 end
      for l, n in pairs(per_label) do
        assert.are.equal(2, n)
        assert.is_nil(seen[l])
        seen[l] = true
      end
    end
  end)

  it("drops the last short batch when asked", function()
    local ds = oml.data.ImageBaseDataset { paths = paths, transform = oml.data.ImageRecipe.norm_resize_torch(8) }
    local loader = oml.data.DataLoader { dataset = ds, batch_size = 5, drop_last = true }
    assert.are.equal(2, loader:length())
    assert.are.equal(2, #all_batches(loader))
  end)

  it("survives a loop left early and the collector freeing what is in flight", function()
    local ds = oml.data.ImageBaseDataset { paths = paths, transform = augmenting() }
    for _ = 1, 3 do
      local loader = oml.data.DataLoader { dataset = ds, batch_size = 2, num_workers = 3, prefetch = 6 }
      local next_batch = loader:batches()
      next_batch()
      collectgarbage()
    end
    collectgarbage()
  end)

  describe("with a missing and a corrupt file", function()
    local bad_paths, missing, truncated
    setup(function()
      missing = dir .. "/missing.jpg"
      truncated = dir .. "/truncated.jpg"
      local bytes = H.read_bytes(paths[1])
      local f = assert(io.open(truncated, "wb"))
      f:write(bytes:sub(1, math.floor(#bytes / 2)))
      f:close()
      bad_paths = { paths[1], missing, paths[2], truncated, paths[3] }
    end)

    local function loader_of(skip, workers)
      local ds = oml.data.ImageBaseDataset { paths = bad_paths, transform = oml.data.ImageRecipe.norm_resize_torch(8) }
      return oml.data.DataLoader { dataset = ds, batch_size = 5, num_workers = workers, skip_bad_images = skip }
    end

    it("raises an error naming the file", function()
      for _, workers in ipairs { 0, 2 } do
        local loader = loader_of(false, workers)
        H.raises(function() for _ in loader:batches() do end end,
          "oml.data.DataLoader: " .. missing .. ": cannot open the file: No such file or directory")
      end
      local ds = oml.data.ImageBaseDataset { paths = { truncated }, transform = oml.data.ImageRecipe.norm_resize_torch(8) }
      local loader = oml.data.DataLoader { dataset = ds, num_workers = 1 }
      local err = H.raises(function() for _ in loader:batches() do end end, "oml.data.DataLoader: " .. truncated .. ": ")
      assert.truthy(err:find("JPEG", 1, true))
      H.raises(function() local _ = ds[1] end, "oml.data.ImageBaseDataset.get: " .. truncated .. ": ")
    end)

    it("skips and counts them with skip_bad_images", function()
      for _, workers in ipairs { 0, 2 } do
        local loader = loader_of(true, workers)
        local batches = all_batches(loader)
        assert.are.equal(1, #batches)
        assert.are.same({ 1, 3, 5 }, batches[1].idx:totable())
        assert.are.same({ 3, 3, 8, 8 }, batches[1].input_tensors:size())
        assert.are.same({ paths[1], paths[2], paths[3] }, batches[1].paths)
        assert.are.equal(2, loader.skipped)
        assert.are.equal(missing, loader.bad[1].path)
        assert.are.equal(truncated, loader.bad[2].path)
        -- the good rows are those of a loader without the bad files
        local good = oml.data.ImageBaseDataset { paths = { paths[1], paths[2], paths[3] },
                                                 transform = oml.data.ImageRecipe.norm_resize_torch(8) }
        local expected = all_batches(oml.data.DataLoader { dataset = good, batch_size = 3 })[1]
        assert.are.equal(0, max_diff(batches[1].input_tensors, expected.input_tensors))
      end
    end)

    it("skips a batch whose files are all bad", function()
      local ds = oml.data.ImageBaseDataset { paths = { missing, paths[1], truncated },
                                             transform = oml.data.ImageRecipe.norm_resize_torch(8) }
      local loader = oml.data.DataLoader { dataset = ds, batch_size = 1, num_workers = 2, skip_bad_images = true }
      local batches = all_batches(loader)
      assert.are.equal(1, #batches)
      assert.are.same({ 2 }, batches[1].idx:totable())
      assert.are.equal(2, loader.skipped)
    end)

    it("reports a box outside its image", function()
      local ds = oml.data.ImageBaseDataset { paths = { paths[1] }, boxes = { { x_1 = 0, y_1 = 0, x_2 = 500, y_2 = 10 } },
                                             transform = oml.data.ImageRecipe.norm_resize_torch(8) }
      local loader = oml.data.DataLoader { dataset = ds, num_workers = 1 }
      H.raises(function() for _ in loader:batches() do end end,
        "oml.data.DataLoader: " .. paths[1] .. ": the box x 0..500, y 0..10 is not inside the 68x43 image")
    end)
  end)

  it("checks its arguments", function()
    local ds = oml.data.ImageBaseDataset { paths = paths }
    local DL = oml.data.DataLoader
    H.raises(function() local _ = DL(3) end, "oml.data.DataLoader: expected a table of arguments (got number)")
    H.raises(function() local _ = DL { dataset = ds, batchsize = 2 } end, "oml.data.DataLoader: unknown argument 'batchsize'")
    H.raises(function() local _ = DL { dataset = {} } end, "oml.data.DataLoader: dataset must be one of oml.data's image datasets")
    H.raises(function() local _ = DL { dataset = ds, num_workers = -1 } end, "oml.data.DataLoader: num_workers must be >= 0 (got -1)")
    H.raises(function() local _ = DL { dataset = ds, num_workers = 1000 } end, "oml.data.DataLoader: num_workers must be in 0..256 (got 1000)")
    H.raises(function() local _ = DL { dataset = ds, batch_size = 0 } end, "oml.data.DataLoader: batch_size must be >= 1 (got 0)")
    H.raises(function() local _ = DL { dataset = ds, batch_size = 1.5 } end, "oml.data.DataLoader: batch_size must be an integer")
    H.raises(function() local _ = DL { dataset = ds, prefetch = 0 } end, "oml.data.DataLoader: prefetch must be >= 1 (got 0)")
    H.raises(function() local _ = DL { dataset = ds, shuffle = 1 } end, "oml.data.DataLoader: shuffle must be a boolean (got number)")
    H.raises(function() local _ = DL { dataset = ds, seed = -1 } end, "oml.data.DataLoader: seed must be a non-negative integer")
    local sampler = oml.samplers.SequentialSampler { n = 12 }
    H.raises(function() local _ = DL { dataset = ds, batch_sampler = sampler, batch_size = 2 } end,
      "oml.data.DataLoader: give batch_sampler or batch_size, not both")
    H.raises(function() local _ = DL { dataset = ds, batch_sampler = {} } end,
      "oml.data.DataLoader: batch_sampler must have a batches() method")
    local too_far = DL { dataset = ds, batch_sampler = oml.samplers.SequentialSampler { n = 13, batch_size = 13 } }
    H.raises(function() for _ in too_far:batches() do end end,
      "oml.data.DataLoader: the batch sampler gave index 13, outside 1..12")
  end)
end)

describe("oml.data.ImageRecipe", function()
  it("describes OML's named sets", function()
    local v = oml.data.ImageRecipe.norm_resize_torch(224)
    assert.are.same({ 224, 224, "resize", 0 }, { v.height, v.width, v.crop, v.hflip })
    local t = oml.data.ImageRecipe.augs_torch(32, { 0.5, 0.5, 0.5 }, { 0.5, 0.5, 0.5 })
    assert.are.same({ 32, 32, "resize", 0.5 }, { t.height, t.width, t.crop, t.hflip })
    assert.are.same({ 0.5, 0.5, 0.5 }, t.mean)
    assert.are.equal("ImageRecipe(32x32, resize, hflip 0.5)", tostring(t))
  end)

  it("checks its arguments", function()
    local R = oml.data.ImageRecipe
    H.raises(function() local _ = R(5) end, "oml.data.ImageRecipe: expected a table of arguments (got number)")
    H.raises(function() local _ = R { size = 8, flip = 1 } end, "oml.data.ImageRecipe: unknown option 'flip'")
    H.raises(function() local _ = R {} end, "oml.data.ImageRecipe: size must be a number or {height, width} (got nil)")
    H.raises(function() local _ = R { size = 0 } end, "oml.data.ImageRecipe: the size must be 1..65535 (got 0)")
    H.raises(function() local _ = R { size = { 8, 2.5 } } end, "oml.data.ImageRecipe: the size must be an integer (got 2.5)")
    H.raises(function() local _ = R { size = 8, crop = "center" } end,
      "oml.data.ImageRecipe: crop must be 'resize' or 'random_resized_crop' (got center)")
    H.raises(function() local _ = R { size = 8, scale = { 0, 1 } } end,
      "oml.data.ImageRecipe: scale must be {low, high} with 0 < low <= high <= 1 (got {0, 1})")
    H.raises(function() local _ = R { size = 8, ratio = { 2, 1 } } end,
      "oml.data.ImageRecipe: ratio must be {low, high} with 0 < low <= high (got {2, 1})")
    H.raises(function() local _ = R { size = 8, hflip = 2 } end, "oml.data.ImageRecipe: hflip must be in [0, 1] (got 2)")
    H.raises(function() local _ = R { size = 8, color_jitter = { hue = 0.7 } } end,
      "oml.data.ImageRecipe: color_jitter.hue must be in [0, 0.5] (got 0.7)")
    H.raises(function() local _ = R { size = 8, color_jitter = { gamma = 1 } } end,
      "oml.data.ImageRecipe: unknown option 'gamma'")
    H.raises(function() local _ = R { size = 8, std = { 1, 0, 1 } } end, "oml.data.ImageRecipe: std 2 must be positive (got 0)")
    H.raises(function() local _ = R { size = 8, mean = { 1, 2 } } end, "oml.data.ImageRecipe: mean must be a list of 3 numbers")
  end)
end)
