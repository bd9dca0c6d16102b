-- The dataset converters (lua/oml/data/converters, recipes/convert_*.lua),
-- each on a tiny fake copy of the original layout written here; every CSV
-- they write must pass oml.data.read_dataframe. Cars196's MATLAB files are
-- spec/fixtures/cars (written by spec/fixtures/matlab/make_mat.py).
local oml = require "oml"
local H = require "helper"
local inshop = require "oml.data.converters.inshop"
local sop = require "oml.data.converters.sop"
local cub = require "oml.data.converters.cub"
local cars = require "oml.data.converters.cars"
local fashion_mnist = require "oml.data.converters.fashion_mnist"

local function write(path, text)
  H.sh("mkdir -p '" .. path:match("^(.*)/[^/]*$") .. "'")
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

local tiny = oml.zeros({ 4, 4, 3 }, "uint8")
local function image(path)
  H.sh("mkdir -p '" .. path:match("^(.*)/[^/]*$") .. "'")
  oml.jpeg.write(path, tiny)
end

describe("dataset converters", function()
  local dir
  before_each(function() dir = H.tempdir() end)
  after_each(function() H.sh("rm -rf " .. dir) end)

  it("DeepFashion In-shop: train, query and gallery with boxes; single-image train items dropped", function()
    write(dir .. "/list_eval_partition.txt", table.concat({
      "6", "image_name item_id evaluation_status",
      "img/WOMEN/Dresses/id_00000002/01_1_front.jpg   id_00000002 train",
      "img/WOMEN/Dresses/id_00000002/02_2_side.jpg    id_00000002 train",
      "img/MEN/Denim/id_00000007/01_1_front.jpg       id_00000007 train",
      "img/WOMEN/Skirts/id_00000010/01_1_front.jpg    id_00000010 query",
      "img/WOMEN/Skirts/id_00000010/02_1_front.jpg    id_00000010 gallery",
      "img/MEN/Tees/id_00000011/01_1_front.jpg        id_00000011 gallery", "" }, "\n"))
    write(dir .. "/list_bbox_inshop.txt", table.concat({
      "6", "image_name clothes_type pose_type x_1 y_1 x_2 y_2",
      "img/WOMEN/Dresses/id_00000002/01_1_front.jpg 1 1 050 049 208 235",
      "img/WOMEN/Dresses/id_00000002/02_2_side.jpg  1 2 010 020 100 200",
      "img/MEN/Denim/id_00000007/01_1_front.jpg     2 1 001 002 003 004",
      "img/WOMEN/Skirts/id_00000010/01_1_front.jpg  2 1 005 006 007 008",
      "img/WOMEN/Skirts/id_00000010/02_1_front.jpg  2 1 009 010 011 012",
      "img/MEN/Tees/id_00000011/01_1_front.jpg      1 1 013 014 015 016", "" }, "\n"))
    for _, p in ipairs { "WOMEN/Dresses/id_00000002/01_1_front", "WOMEN/Dresses/id_00000002/02_2_side",
                         "MEN/Denim/id_00000007/01_1_front", "WOMEN/Skirts/id_00000010/01_1_front",
                         "WOMEN/Skirts/id_00000010/02_1_front", "MEN/Tees/id_00000011/01_1_front" } do
      image(dir .. "/img_highres/" .. p .. ".jpg")
    end
    local csv, rows = inshop.convert { dataset_root = dir }
    assert.are.equal(dir .. "/df_with_bboxes.csv", csv)
    assert.are.equal(5, #rows) -- id_00000007 has one train image
    local df = oml.data.read_dataframe(csv, { dataset_root = dir })
    local c = df.columns
    assert.are.same({ 2, 2, 10, 10, 11 }, c.label)
    assert.are.same({ "train", "train", "validation", "validation", "validation" }, c.split)
    assert.are.same({ [3] = true, [4] = false, [5] = false }, c.is_query)
    assert.are.same({ [3] = false, [4] = true, [5] = true }, c.is_gallery)
    assert.are.same({ "Dresses", "Dresses", "Skirts", "Skirts", "Tees" }, c.category)
    assert.are.same({ 50, 10, 5, 9, 13 }, c.x_1)
    assert.are.same({ 235, 200, 8, 12, 16 }, c.y_2)
    assert.are.equal(dir .. "/img_highres/WOMEN/Dresses/id_00000002/01_1_front.jpg", c.path[1])
    -- without boxes, and a missing image
    local plain = inshop.convert { dataset_root = dir, no_bboxes = true }
    assert.are.equal(dir .. "/df.csv", plain)
    assert.is_nil(oml.data.read_dataframe(plain).columns.x_1)
    os.remove(dir .. "/img_highres/MEN/Tees/id_00000011/01_1_front.jpg")
    H.raises(function() local _ = inshop.convert { dataset_root = dir } end,
      "oml.data.converters.inshop: " .. dir .. "/img_highres/MEN/Tees/id_00000011/01_1_front.jpg does not exist")
  end)

  it("Stanford Online Products: Ebay_train / Ebay_test, every test image a query and a gallery item", function()
    write(dir .. "/Ebay_train.txt", "image_id class_id super_class_id path\n1 1 1 bicycle_final/111_0.JPG\n" ..
      "2 1 1 bicycle_final/111_1.JPG\n")
    write(dir .. "/Ebay_test.txt", "image_id class_id super_class_id path\n3 11319 1 bicycle_final/222_0.JPG\n" ..
      "4 11319 1 bicycle_final/222_1.JPG\n5 11320 2 cabinet_final/333_0.JPG\n")
    for _, p in ipairs { "bicycle_final/111_0", "bicycle_final/111_1", "bicycle_final/222_0", "bicycle_final/222_1",
                         "cabinet_final/333_0" } do image(dir .. "/" .. p .. ".JPG") end
    local csv = sop.convert { dataset_root = dir }
    local df = oml.data.read_dataframe(csv, { dataset_root = dir })
    local c = df.columns
    assert.are.same({ 1, 1, 11319, 11319, 11320 }, c.label)
    assert.are.same({ "train", "train", "validation", "validation", "validation" }, c.split)
    assert.are.same({ [3] = true, [4] = true, [5] = true }, c.is_query)
    assert.are.same({ "bicycle_final", "bicycle_final", "bicycle_final", "bicycle_final", "cabinet_final" }, c.category)
    assert.are.same({ "1", "2", "3", "4", "5" }, c.image_id)
    H.raises(function() local _ = sop.convert { dataset_root = dir .. "/nope" } end,
      "oml.data.converters.sop: " .. dir .. "/nope/Ebay_train.txt does not exist")
  end)

  it("CUB-200-2011: the official split, boxes from x, y, width, height", function()
    write(dir .. "/images.txt", "1 001.Albatross/a_1.jpg\n2 001.Albatross/a_2.jpg\n3 002.Auklet/b_1.jpg\n" ..
      "4 002.Auklet/b_2.jpg\n")
    write(dir .. "/image_class_labels.txt", "1 1\n2 1\n3 2\n4 2\n")
    write(dir .. "/train_test_split.txt", "1 1\n2 1\n3 0\n4 0\n")
    write(dir .. "/bounding_boxes.txt", "1 60.0 27.0 325.0 304.0\n2 1.5 2.7 10.9 20.2\n3 0.0 0.0 4.0 4.0\n" ..
      "4 3.0 1.0 1.0 2.0\n")
    for _, p in ipairs { "001.Albatross/a_1", "001.Albatross/a_2", "002.Auklet/b_1", "002.Auklet/b_2" } do
      image(dir .. "/images/" .. p .. ".jpg")
    end
    local csv = cub.convert { dataset_root = dir }
    local c = oml.data.read_dataframe(csv, { dataset_root = dir }).columns
    assert.are.same({ 1, 1, 2, 2 }, c.label)
    assert.are.same({ "train", "train", "validation", "validation" }, c.split)
    assert.are.same({ [3] = true, [4] = true }, c.is_gallery)
    -- int(1.5) = 1, int(1.5 + 10.9) = 12, int(2.7) = 2, int(2.7 + 20.2) = 22
    assert.are.same({ 60, 1, 0, 3 }, c.x_1)
    assert.are.same({ 385, 12, 4, 4 }, c.x_2)
    assert.are.same({ 27, 2, 0, 1 }, c.y_1)
    assert.are.same({ 331, 22, 4, 3 }, c.y_2)
    assert.are.equal(dir .. "/images/002.Auklet/b_2.jpg", c.path[4])
    write(dir .. "/train_test_split.txt", "1 1\n2 1\n3 0\n")
    H.raises(function() local _ = cub.convert { dataset_root = dir } end,
      "oml.data.converters.cub: image 4 of images.txt is missing from the other lists")
  end)

  it("Cars196: the devkit's MATLAB annotations, cars_train for training, cars_test for validation", function()
    H.sh("mkdir -p " .. dir .. "/devkit && cp spec/fixtures/cars/devkit/*.mat " .. dir .. "/devkit/")
    H.sh("cp spec/fixtures/cars/cars_test_annos_withlabels.mat " .. dir .. "/")
    for _, p in ipairs { "cars_train/00001", "cars_train/00002", "cars_train/00003", "cars_test/00001",
                         "cars_test/00002" } do image(dir .. "/" .. p .. ".jpg") end
    local csv, rows = cars.convert { dataset_root = dir }
    assert.are.equal(dir .. "/df_with_bboxes.csv", csv)
    assert.are.equal(5, #rows)
    local c = oml.data.read_dataframe(csv, { dataset_root = dir }).columns
    assert.are.same({ 1, 3, 2, 1, 3 }, c.label)
    assert.are.same({ "train", "train", "train", "validation", "validation" }, c.split)
    assert.are.same({ [4] = true, [5] = true }, c.is_query)
    assert.are.same({ [4] = true, [5] = true }, c.is_gallery)
    assert.are.same({ 39, 36, 85, 30, 100 }, c.x_1)
    assert.are.same({ 116, 116, 109, 52, 19 }, c.y_1)
    assert.are.same({ 569, 868, 601, 246, 576 }, c.x_2)
    assert.are.same({ 375, 587, 381, 147, 203 }, c.y_2)
    assert.are.equal(dir .. "/cars_test/00002.jpg", c.path[5])
    -- the recipe script, without boxes
    local p = io.popen(("luajit recipes/convert_cars.lua --dataset_root %s --no_bboxes 2>&1"):format(dir))
    local out = p:read("*a")
    p:close()
    assert.truthy(out:find("wrote " .. dir .. "/df.csv (5 rows)", 1, true), out)
    assert.is_nil(oml.data.read_dataframe(dir .. "/df.csv").columns.x_1)
    -- a missing image, a missing file, a file that is not MATLAB's
    os.remove(dir .. "/cars_test/00001.jpg")
    H.raises(function() local _ = cars.convert { dataset_root = dir } end,
      "oml.data.converters.cars: " .. dir .. "/cars_test/00001.jpg does not exist")
    write(dir .. "/cars_test_annos_withlabels.mat", "not a .mat file")
    H.raises(function() local _ = cars.convert { dataset_root = dir } end,
      "oml.io.matlab: " .. dir .. "/cars_test_annos_withlabels.mat: not a MATLAB v5 file")
    os.remove(dir .. "/devkit/cars_meta.mat")
    H.raises(function() local _ = cars.convert { dataset_root = dir } end,
      "oml.data.converters.cars: " .. dir .. "/devkit/cars_meta.mat does not exist")
    -- annotations without the boxes: the meta file passed off as annotations
    H.sh("cp spec/fixtures/cars/devkit/cars_meta.mat " .. dir .. "/devkit/")
    H.sh("cp spec/fixtures/cars/devkit/cars_meta.mat " .. dir .. "/devkit/cars_train_annos.mat")
    H.raises(function() local _ = cars.convert { dataset_root = dir } end,
      "oml.data.converters.cars: " .. dir .. "/devkit/cars_train_annos.mat has no struct array 'annotations'")
  end)

  it("Fashion-MNIST: JPEGs and an open-set split from gzip IDX files", function()
    -- 8 images of 2 x 3 pixels, labels 0, 5, 1, 6, 0, 5, 1, 6
    local function be32(n) return string.char(math.floor(n / 2 ^ 24) % 256, math.floor(n / 2 ^ 16) % 256,
      math.floor(n / 256) % 256, n % 256) end
    local labels = { 0, 5, 1, 6, 0, 5, 1, 6 }
    for _, prefix in ipairs { "train", "t10k" } do
      local pixels = {}
      for i = 1, 8 * 6 do pixels[i] = string.char((i * 5) % 256) end
      write(dir .. "/src/" .. prefix .. "-images-idx3-ubyte",
        be32(0x803) .. be32(8) .. be32(2) .. be32(3) .. table.concat(pixels))
      write(dir .. "/src/" .. prefix .. "-labels-idx1-ubyte", be32(0x801) .. be32(8) .. string.char(unpack(labels)))
    end
    H.sh("gzip " .. dir .. "/src/*-ubyte")
    local csv = fashion_mnist.convert { source = dir .. "/src", output = dir .. "/out", per_class = 1 }
    local df = oml.data.read_dataframe(csv, { dataset_root = dir .. "/out" })
    local c = df.columns
    assert.are.same({ 0, 1, 5, 6 }, c.label)
    assert.are.same({ "train", "train", "validation", "validation" }, c.split)
    assert.are.same({ "T-shirt/top", "Trouser", "Sandal", "Shirt" }, c.category)
    assert.are.same({ [3] = true, [4] = true }, c.is_query)
    local decoded = oml.jpeg.read(c.path[1])
    assert.are.same({ 2, 3, 3 }, decoded:size())
    -- JPEG keeps this smooth ramp within a few levels
    assert.is_true(math.abs(decoded:totable()[1][1][1] - 5) <= 8)
    H.raises(function() local _ = fashion_mnist.convert { source = dir, output = dir .. "/o" } end,
      "oml.data.converters.fashion_mnist: " .. dir .. "/train-images-idx3-ubyte.gz does not exist")
    H.raises(function() local _ = fashion_mnist.convert { output = dir, train_classes = { 10 } } end,
      "oml.data.converters.fashion_mnist: train_classes: 10 is not a class 0..9")
  end)

  it("Fashion-MNIST: Debian's files, a subset, through the recipe script", function()
    if not io.open(fashion_mnist.SOURCE .. "/train-labels-idx1-ubyte.gz") then
      pending("dataset-fashion-mnist is not installed")
      return
    end
    local p = io.popen(("luajit recipes/convert_fashion_mnist.lua --output %s/fm --per_class 2 2>&1"):format(dir))
    local out = p:read("*a")
    p:close()
    assert.truthy(out:find("wrote " .. dir .. "/fm/df.csv (20 rows)", 1, true))
    local df = oml.data.read_dataframe(dir .. "/fm/df.csv", { dataset_root = dir .. "/fm" })
    local train, seen = df:split("train"), {}
    for _, l in ipairs(train.columns.label) do seen[l] = true end
    for _, l in ipairs(df:split("validation").columns.label) do assert.is_nil(seen[l]) end
    assert.are.same({ 28, 28, 3 }, oml.jpeg.read(df.columns.path[1]):size())
  end)
end)
