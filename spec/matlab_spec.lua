-- oml.io.matlab: MATLAB v5/v7 files. The fixtures are written byte by byte
-- by spec/fixtures/matlab/make_mat.py (MATLAB's layout: miMATRIX elements,
-- small data elements, miCOMPRESSED variables, UTF-16 and UTF-8 chars);
-- the hostile ones there each break one rule, and every truncation and
-- many corruptions of the good ones are refused with an error, never a crash.
local matlab = require "oml.io.matlab"
local H = require "helper"

local DIR = "spec/fixtures/matlab/"
local SAMPLE = DIR .. "sample.mat"
local GOOD = { SAMPLE, "spec/fixtures/cars/devkit/cars_meta.mat", "spec/fixtures/cars/devkit/cars_train_annos.mat",
               "spec/fixtures/cars/cars_test_annos_withlabels.mat" }

local function write(path, bytes)
  local f = assert(io.open(path, "wb"))
  f:write(bytes)
  f:close()
end

-- reads path: true and the variables, or false and the error, which must
-- be the reader's own
local function try_read(path)
  local ok, result = pcall(matlab.read, path)
  if not ok then
    assert.are.equal("string", type(result))
    assert.truthy(result:find("oml.io.matlab: " .. path .. ": ", 1, true), result)
  end
  return ok, result
end

local function count(vars)
  local n = 0
  for _ in pairs(vars) do n = n + 1 end
  return n
end

describe("oml.io.matlab.read", function()
  it("reads numeric, logical, char, struct and cell arrays, compressed or not", function()
    local v = matlab.read(SAMPLE)
    assert.are.same({ class = "double", dims = { 2, 3 }, values = { 1, 2, 3, 4, 5, 6 }, logical = false }, v.x)
    assert.are.same({ class = "uint8", dims = { 1, 1 }, values = { 7 }, logical = false }, v.n) -- a small element
    assert.are.same({ class = "uint8", dims = { 1, 1 }, values = { 1 }, logical = true }, v.flag)
    assert.are.same({ class = "int64", dims = { 1, 1 }, values = { 2 ^ 40 }, logical = false }, v.big)
    assert.are.same({ class = "char", dims = { 1, 5 }, rows = { "hello" } }, v.name)
    assert.are.same({ "abc", "def" }, v.words.rows) -- a 2x3 char array, column-major UTF-8
    assert.are.same({ "a", "b" }, v.s.fields)
    assert.are.same({ 1, 2 }, v.s.dims)
    assert.are.same({ 1.5 }, v.s.elements[1].a.values)
    assert.are.same({ "one" }, v.s.elements[1].b.rows)
    assert.are.same({ 0, 0 }, v.s.elements[2].a.dims)
    assert.are.same({}, v.s.elements[2].b.rows)
    assert.are.equal("cell", v.c.class)
    assert.are.same({ class = "int16", dims = { 1, 2 }, values = { -1, 2 }, logical = false }, v.c.elements[1])
    assert.are.same({ "caf\195\169 \240\159\154\151" }, v.c.elements[2].rows) -- UTF-16 with a surrogate pair
  end)

  it("reads Cars196's annotation layout", function()
    local a = matlab.read("spec/fixtures/cars/devkit/cars_train_annos.mat").annotations
    assert.are.same({ "bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "class", "fname" }, a.fields)
    assert.are.equal(3, #a.elements)
    assert.are.same({ 868 }, a.elements[2].bbox_x2.values) -- a double stored as uint16
    assert.are.same({ "00003.jpg" }, a.elements[3].fname.rows)
    local names = matlab.read("spec/fixtures/cars/devkit/cars_meta.mat").class_names
    assert.are.same({ "Acura RL Sedan 2012" }, names.elements[2].rows)
  end)

  it("refuses what it does not read, naming the file and the element", function()
    local function refused(file, text)
      local path = DIR .. "hostile/" .. file
      H.raises(function() local _ = matlab.read(path) end, "oml.io.matlab: " .. path .. ": " .. text)
    end
    refused("v73.mat", "a MATLAB 7.3 (HDF5) file; only v5 and v7 files are read")
    refused("big_endian.mat", "a big-endian MATLAB file, which is not read")
    refused("sparse.mat", "'sp', byte 136: arrays of class sparse are not read")
    refused("complex.mat", "'z', byte 136: complex arrays are not read")
    refused("bad_zlib.mat", "byte 128: the compressed element is not a valid zlib stream")
    refused("huge_dims.mat", "'h', byte 176: the array has 1 values for dimensions 2147483647x2147483647")
    refused("huge_struct.mat", "'s', byte 224: 1073741824 elements of 1 fields do not fit in 0 bytes")
    refused("deep.mat", "'deep' > cell 1 > cell 1 > cell 1") -- ...
    H.raises(function() local _ = matlab.read(DIR .. "hostile/deep.mat") end,
      " > cell 1, byte 1672: arrays are nested more than 32 deep")
    refused("overlong.mat", "byte 128: a data element of 1048576 bytes runs past the end (16 bytes left)")
    refused("not_a_matrix.mat", "byte 128: a variable has data type 9 (not an array)")
    H.raises(function() local _ = matlab.read(DIR .. "nope.mat") end, "oml.io.matlab: " .. DIR .. "nope.mat: No such file")
    H.raises(function() local _ = matlab.read(3) end, "oml.io.matlab: the path must be a string (got number)")
    H.raises(function() local _ = matlab.read("spec/matlab_spec.lua") end,
      "oml.io.matlab: spec/matlab_spec.lua: not a MATLAB v5 file (its header does not say so)")
  end)

  it("names the element inside a compressed variable", function()
    local dir = H.tempdir()
    local bytes = H.read_bytes("spec/fixtures/cars/cars_test_annos_withlabels.mat")
    local path = dir .. "/cut.mat"
    write(path, bytes:sub(1, 140))
    local ok, err = try_read(path)
    assert.is_false(ok)
    assert.truthy(err:find("the compressed element is not a valid zlib stream", 1, true)
      or err:find("runs past the end", 1, true), err)
    H.sh("rm -rf " .. dir)
  end)

  it("refuses every truncation and survives corrupted bytes", function()
    local dir = H.tempdir()
    local path = dir .. "/bad.mat"
    for _, good in ipairs(GOOD) do
      local bytes, all = H.read_bytes(good), count(matlab.read(good))
      -- refused, or (cut between two variables) fewer variables
      for n = 0, #bytes - 1 do
        write(path, bytes:sub(1, n))
        local ok, vars = try_read(path)
        assert.is_true(not ok or count(vars) < all, ("%s cut to %d bytes was read whole"):format(good, n))
      end
      -- 1 to 4 random bytes replaced: read or refused by the reader, nothing else
      math.randomseed(5)
      for _ = 1, 300 do
        local b = { bytes:byte(1, -1) }
        for _ = 1, math.random(1, 4) do b[math.random(1, #b)] = math.random(0, 255) end
        write(path, string.char(unpack(b)))
        try_read(path)
      end
    end
    H.sh("rm -rf " .. dir)
  end)
end)
