-- oml.data's image datasets (OML's oml/datasets/images.py): items, sizes,
-- labels, query/gallery ids, boxes, and every argument error.
local oml = require "oml"
local H = require "helper"

local tr = oml.data.transforms

local function max_diff(a, b) return (a:to("float64") - b:to("float64")):abs():max():item() end

describe("oml.data datasets", function()
  local dir, csv
  local recipe = oml.data.ImageRecipe { size = 12, dct_scaling = false }
  setup(function()
    dir = H.tempdir()
    for i = 1, 6 do
      oml.manual_seed(i)
      oml.jpeg.write(("%s/%d.jpg"):format(dir, i), oml.randint(0, 256, { 20 + i, 30, 3 }, "uint8"), 95)
    end
    csv = dir .. "/df.csv"
    local f = assert(io.open(csv, "w"))
    f:write("label,path,split,is_query,is_gallery,category,sequence,x_1,x_2,y_1,y_2\n",
      "1,1.jpg,train,,,shoes,s1,,,,\n",
      "1,2.jpg,train,,,shoes,s1,2,20,3,15\n",
      "2,3.jpg,train,,,bags,,,,,\n",
      "3,4.jpg,validation,True,False,bags,s2,,,,\n",
      "3,5.jpg,validation,False,True,bags,s3,1,29,0,20\n",
      "4,6.jpg,validation,True,True,hats,,,,,\n")
    f:close()
  end)
  teardown(function() H.sh("rm -rf " .. dir) end)

  it("ImageLabeledDataset: items carry index, label, category, sequence, path, box and the image", function()
    local ds = oml.data.ImageLabeledDataset { dataframe = csv, dataset_root = dir, transform = recipe }
    assert.are.equal(6, #ds)
    local item = ds[2]
    assert.are.equal(2, item.index)
    assert.are.equal(1, item.label)
    assert.are.equal("shoes", item.category)
    assert.are.equal("s1", item.sequence)
    assert.are.equal(dir .. "/2.jpg", item.path)
    assert.are.same({ x_1 = 2, y_1 = 3, x_2 = 20, y_2 = 15 }, item.box)
    assert.are.same({ 3, 12, 12 }, item.input_tensors:size())
    local expected = tr.normalize(tr.resize(tr.box_crop(oml.jpeg.read(item.path), 2, 3, 20, 15), { 12, 12 }))
    assert.are.equal(0, max_diff(item.input_tensors, expected))
    assert.is_nil(ds[1].box)
    assert.is_nil(ds[3].sequence)
    assert.is_nil(ds[1].is_query)
    assert.are.same({ 1, 1, 2, 3, 3, 4 }, ds:get_labels():totable())
    assert.are.equal("int64", ds:get_labels().dtype)
    assert.are.same({ [1] = "shoes", [2] = "bags", [3] = "bags", [4] = "hats" }, ds:get_label2category())
    assert.are.equal("oml.data.ImageLabeledDataset (6 images)", tostring(ds))
  end)

  it("ImageLabeledDataset: one split, a Dataframe object, extra data", function()
    local train = oml.data.ImageLabeledDataset { dataframe = csv, dataset_root = dir, split = "train" }
    assert.are.equal(3, #train)
    local df = oml.data.read_dataframe(csv)
    local ds = oml.data.ImageLabeledDataset { df = df, dataset_root = dir, transform = recipe,
                                              extra_data = { weight = { 1, 2, 3, 4, 5, 6 } } }
    assert.are.equal(dir .. "/3.jpg", ds[3].path)
    assert.are.equal(3, ds[3].weight)
    -- the default transform: OML's norm_resize at 224
    assert.are.same({ 3, 224, 224 }, train[1].input_tensors:size())
  end)

  it("ImageQueryGalleryLabeledDataset: the validation rows, query and gallery ids", function()
    local ds = oml.data.ImageQueryGalleryLabeledDataset { dataframe = csv, dataset_root = dir, transform = recipe }
    assert.are.equal(3, #ds)
    assert.are.same({ 1, 3 }, ds:get_query_ids():totable())
    assert.are.same({ 2, 3 }, ds:get_gallery_ids():totable())
    assert.are.equal("int64", ds:get_query_ids().dtype)
    local item = ds[1]
    assert.are.same({ 1, 3, true, false }, { item.index, item.label, item.is_query, item.is_gallery })
    assert.are.equal(dir .. "/4.jpg", item.path)
    assert.are.same({ 3, 3, 4 }, ds:get_labels():totable())
    H.raises(function() local _ = oml.data.ImageQueryGalleryLabeledDataset { dataframe = csv, split = "train" } end,
      "oml.data.ImageQueryGalleryLabeledDataset: " .. csv .. ": row 1 is a train row (no is_query/is_gallery); use split = 'validation'")
  end)

  it("ImageQueryGalleryDataset: the same without labels", function()
    local ds = oml.data.ImageQueryGalleryDataset { dataframe = csv, dataset_root = dir, transform = recipe }
    assert.are.equal(3, #ds)
    local item = ds[3]
    assert.is_nil(item.label)
    assert.are.same({ true, true }, { item.is_query, item.is_gallery })
    assert.are.same({ 1, 3 }, ds:get_query_ids():totable())
    assert.is_nil(ds.get_labels)
  end)

  it("ImageBaseDataset: paths under a root, optional boxes", function()
    local ds = oml.data.ImageBaseDataset { paths = { "1.jpg", dir .. "/2.jpg" }, dataset_root = dir .. "/",
                                           boxes = { false, { x_1 = 0, y_1 = 0, x_2 = 10, y_2 = 5 } },
                                           transform = recipe }
    assert.are.equal(2, #ds)
    assert.are.same({ dir .. "/1.jpg", dir .. "/2.jpg" }, ds:paths())
    assert.is_nil(ds[1].label)
    assert.are.same({ x_1 = 0, y_1 = 0, x_2 = 10, y_2 = 5 }, ds[2].box)
    local expected = tr.normalize(tr.resize(tr.box_crop(oml.jpeg.read(dir .. "/2.jpg"), 0, 0, 10, 5), { 12, 12 }))
    assert.are.equal(0, max_diff(ds[2].input_tensors, expected))
  end)

  it("checks its arguments", function()
    local ds = oml.data.ImageLabeledDataset { dataframe = csv, dataset_root = dir, transform = recipe }
    H.raises(function() local _ = ds[7] end, "oml.data.ImageLabeledDataset.get: index 7 is out of range 1..6")
    H.raises(function() local _ = ds[0] end, "oml.data.ImageLabeledDataset.get: index 0 is out of range 1..6")
    H.raises(function() local _ = ds:get(1.5) end, "oml.data.ImageLabeledDataset.get: index 1.5 is out of range 1..6")
    H.raises(function() local _ = oml.data.ImageLabeledDataset(csv) end,
      "oml.data.ImageLabeledDataset: expected a table of arguments (got string)")
    H.raises(function() local _ = oml.data.ImageLabeledDataset { dataframe = csv, root = dir } end,
      "oml.data.ImageLabeledDataset: unknown argument 'root'")
    H.raises(function() local _ = oml.data.ImageLabeledDataset { df = 5 } end,
      "oml.data.ImageLabeledDataset: df must be a dataframe (oml.data.read_dataframe) or a CSV path (got number)")
    H.raises(function() local _ = oml.data.ImageLabeledDataset { df = csv, dataframe = csv } end,
      "oml.data.ImageLabeledDataset: give df or dataframe, not both")
    H.raises(function() local _ = oml.data.ImageLabeledDataset { dataframe = csv, transform = function() end } end,
      "oml.data.ImageLabeledDataset: transform must be an oml.data.ImageRecipe (got function)")
    H.raises(function() local _ = oml.data.ImageLabeledDataset { dataframe = csv, extra_data = { w = { 1 } } } end,
      "oml.data.ImageLabeledDataset: extra_data.w must be a list of 6 values, one per item")
    H.raises(function() local _ = oml.data.ImageLabeledDataset { dataframe = csv, extra_data = { label = { 1, 2, 3, 4, 5, 6 } } }[1] end,
      "oml.data.ImageLabeledDataset: extra_data and the dataset share the key 'label'")
    H.raises(function() local _ = oml.data.ImageBaseDataset { paths = {} } end,
      "oml.data.ImageBaseDataset: paths must be a non-empty list of strings")
    H.raises(function() local _ = oml.data.ImageBaseDataset { paths = { "a.jpg", 3 } } end,
      "oml.data.ImageBaseDataset: path 2 must be a non-empty string (got 3)")
    H.raises(function() local _ = oml.data.ImageBaseDataset { paths = { "a.jpg" }, boxes = {} } end,
      "oml.data.ImageBaseDataset: boxes must be a list of 1 boxes (or false), one per path")
    H.raises(function() local _ = oml.data.ImageBaseDataset { paths = { "a.jpg" }, boxes = { { x_1 = 5, y_1 = 0, x_2 = 5, y_2 = 1 } } } end,
      "oml.data.ImageBaseDataset: box 1 needs 0 <= x_1 < x_2 and 0 <= y_1 < y_2 (got 5, 0, 5, 1)")
    local missing = oml.data.ImageBaseDataset { paths = { dir .. "/nope.jpg" } }
    H.raises(function() local _ = missing[1] end,
      "oml.data.ImageBaseDataset.get: " .. dir .. "/nope.jpg: cannot open the file: No such file or directory")
    -- the dataframe's own checks name the file, row and column
    local bad = dir .. "/bad.csv"
    local f = assert(io.open(bad, "w"))
    f:write("label,path,split,is_query,is_gallery\nx,1.jpg,train,,\n")
    f:close()
    H.raises(function() local _ = oml.data.ImageLabeledDataset { dataframe = bad } end,
      "oml.data.read_dataframe: " .. bad .. ": row 1 (line 2), column 'label': 'x' is not an integer")
  end)
end)
