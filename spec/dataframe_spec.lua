-- spec/dataframe_spec.lua: the CSV reader and OML's dataframe format
-- (oml/utils/dataframe_format.py): parsing, validation, errors and warnings.
local H = require "helper"
local csv = require "oml.data.csv"
local dataframe = require "oml.data.dataframe"

local FIXTURES = "spec/fixtures/dataframes/"
local HEAD = "label,path,split,is_query,is_gallery"

local temp_files = {}

-- Writes `text` as it is (no newline conversion) to a fresh temporary file.
local function temp_csv(text)
  local name = os.tmpname()
  local f = assert(io.open(name, "wb"))
  f:write(text)
  f:close()
  temp_files[#temp_files + 1] = name
  return name
end

-- A dataframe file: the header and the rows, one per line.
local function df_file(head, ...)
  return temp_csv(table.concat({ head, ... }, "\n") .. "\n")
end

-- The message read_dataframe gives for a bad field.
local function field_error(file, row, line, column, what)
  return ("oml.data.read_dataframe: %s: row %d (line %d), column '%s': %s"):format(file, row, line, column, what)
end

teardown(function()
  for _, name in ipairs(temp_files) do os.remove(name) end
end)

describe("oml.data.csv", function()
  it("reads quoted fields with commas, doubled quotes and line breaks", function()
    local header, columns, lines = csv.parse('a,b,c\n1,"x, y","say ""hi"""\n"2","multi\nline\n",\n3,,z\n', "t.csv")
    assert.same({ "a", "b", "c" }, header)
    assert.same({ "1", "2", "3" }, columns[1])
    assert.same({ "x, y", "multi\nline\n", "" }, columns[2])
    assert.same({ 'say "hi"', "", "z" }, columns[3])
    assert.same({ 2, 3, 6 }, lines)
  end)

  it("reads CRLF and LF line ends, a byte order mark, and a file without a final line end", function()
    local header, columns, lines = csv.parse('\239\187\191a,b\r\n1,2\n"3","4"\r\n5,6', "t.csv")
    assert.same({ "a", "b" }, header)
    assert.same({ "1", "3", "5" }, columns[1])
    assert.same({ "2", "4", "6" }, columns[2])
    assert.same({ 2, 3, 4 }, lines)
    local _, crlf_columns = csv.parse('a,b\r\n1,"x\r\ny"\r\n', "t.csv")
    assert.same({ "x\r\ny" }, crlf_columns[2])
  end)

  it("skips blank lines, keeps empty fields and a quote inside an unquoted field", function()
    local _, columns, lines = csv.parse('a,b\n\n1,\n\r\n,2\n3,x"y\n\n', "t.csv")
    assert.same({ "1", "", "3" }, columns[1])
    assert.same({ "", "2", 'x"y' }, columns[2])
    assert.same({ 3, 5, 6 }, lines)
    local _, last = csv.parse("a,b\n1,", "t.csv")
    assert.same({ "" }, last[2])
  end)

  it("reads a header without rows", function()
    local header, columns, lines = csv.parse("a,b\n", "t.csv")
    assert.same({ "a", "b" }, header)
    assert.same({ {}, {} }, columns)
    assert.same({}, lines)
  end)

  it("names the file and the line of a row with the wrong number of fields", function()
    H.raises(function() local _ = csv.parse('a,b\n1,"two\nlines"\n1,2,3\n', "t.csv") end,
             "oml.data.read_csv: t.csv: line 4: expected 2 fields (as in the header), found 3")
    H.raises(function() local _ = csv.parse("a,b\n1,2\n3\n", "t.csv") end,
             "oml.data.read_csv: t.csv: line 3: expected 2 fields (as in the header), found 1")
  end)

  it("rejects an unclosed quote, text after a closing quote and an empty file", function()
    H.raises(function() local _ = csv.parse('a,b\n1,"open\n', "t.csv") end,
             "oml.data.read_csv: t.csv: line 2: a quoted field is not closed")
    H.raises(function() local _ = csv.parse('a,b\n1,"x"y\n', "t.csv") end,
             "oml.data.read_csv: t.csv: line 2: unexpected text after a closing quote")
    H.raises(function() local _ = csv.parse("\n\n", "t.csv") end,
             "oml.data.read_csv: t.csv: the file is empty (no header line)")
  end)

  it("reads a file and names a missing one", function()
    local header, columns = csv.read(temp_csv("x\n1\n"))
    assert.same({ "x" }, header)
    assert.same({ { "1" } }, columns)
    H.raises(function() local _ = csv.read("/nonexistent/df.csv") end,
             "oml.data.read_csv: cannot open /nonexistent/df.csv")
  end)
end)

describe("oml.data.dataframe.read", function()
  it("reads every column of OML's format, with quoted fields and extra columns", function()
    local df = dataframe.read(FIXTURES .. "valid.csv", { dataset_root = "/root" })
    assert.equal(7, df.n)
    assert.equal(FIXTURES .. "valid.csv", df.file)
    assert.same({ "label", "path", "split", "is_query", "is_gallery", "category", "sequence",
                  "x_1", "x_2", "y_1", "y_2", "note" }, df.names)
    local c = df.columns
    assert.same({ 0, 0, 1, 2, 2, 3, 3 }, c.label)
    assert.same({ "/root/images/a.jpg", "/root/images/b.jpg", "/data/abs.jpg", "/root/images/with,comma.jpg",
                  "/root/images/d.jpg", "/root/images/e.jpg", "/root/images/f.jpg" }, c.path)
    assert.same({ "train", "train", "train", "validation", "validation", "validation", "validation" }, c.split)
    for i = 1, 3 do
      assert.is_nil(c.is_query[i])
      assert.is_nil(c.is_gallery[i])
    end
    assert.same({ true, false, true, false }, { c.is_query[4], c.is_query[5], c.is_query[6], c.is_query[7] })
    assert.same({ true, true, false, true }, { c.is_gallery[4], c.is_gallery[5], c.is_gallery[6], c.is_gallery[7] })
    assert.same({ "shoes", "shoes", "bags", "shoes", "shoes", "bags", "bags" }, c.category)
    assert.same({ [1] = "s1", [3] = "s2", [5] = "s3" }, c.sequence)
    assert.same({ [1] = 0, [3] = 5, [4] = 1, [7] = 12 }, c.x_1)
    assert.same({ [1] = 10, [3] = 6, [4] = 3, [7] = 30 }, c.x_2)
    assert.same({ [1] = 0, [3] = 7, [4] = 2, [7] = 0 }, c.y_1)
    assert.same({ [1] = 20, [3] = 8, [4] = 4, [7] = 9 }, c.y_2)
    assert.same({ "plain", "a note, with a comma", 'she said "hi"', "two\nlines", "", "", "last" }, c.note)
    assert.same({ 1, 2, 3, 4, 5, 6, 7 }, df.row)
    assert.same({ 2, 3, 4, 5, 7, 8, 9 }, df.line)
    assert.same({}, df.warnings)
  end)

  it("reads CRLF line ends, a byte order mark and columns in any order", function()
    local df = dataframe.read(FIXTURES .. "crlf_bom.csv", { dataset_root = "root/" })
    assert.same({ "split", "is_gallery", "path", "label", "is_query" }, df.names)
    assert.same({ 7, 8, 8 }, df.columns.label)
    assert.same({ "root/x/1.jpg", "root/x/\r\n2.jpg", "root/x/3.jpg" }, df.columns.path)
    assert.same({ "train", "validation", "validation" }, df.columns.split)
    assert.same({ [2] = false, [3] = true }, df.columns.is_query)
    assert.same({ [2] = true, [3] = true }, df.columns.is_gallery)
    assert.same({ 2, 3, 5 }, df.line)
    assert.is_nil(df.columns.category)
    assert.is_nil(df.columns.x_1)
  end)

  it("resolves relative paths against dataset_root and keeps absolute ones", function()
    local file = df_file(HEAD, "1,a/b.jpg,train,,", "2,/abs/c.jpg,train,,")
    assert.same({ "a/b.jpg", "/abs/c.jpg" }, dataframe.read(file).columns.path)
    assert.same({ "/d/a/b.jpg", "/abs/c.jpg" }, dataframe.read(file, { dataset_root = "/d" }).columns.path)
    assert.same({ "/d/a/b.jpg", "/abs/c.jpg" }, dataframe.read(file, { dataset_root = "/d/" }).columns.path)
    assert.same({ "rel/a/b.jpg", "/abs/c.jpg" }, dataframe.read(file, { dataset_root = "rel" }).columns.path)
  end)

  it("accepts the boolean spellings pandas reads, and 1/0", function()
    local rows = {}
    for i, pair in ipairs({ { "True", "False" }, { "true", "TRUE" }, { "FALSE", "1" }, { "0", "true" },
                            { "1.0", "0.0" }, { "false", "True" } }) do
      rows[i] = ("%d,p%d.jpg,validation,%s,%s"):format(i == 1 and 2 or 1, i, pair[1], pair[2])
    end
    rows[#rows + 1] = "2,g.jpg,validation,False,True"
    local df = dataframe.read(df_file(HEAD, unpack(rows)))
    assert.same({ true, true, false, false, true, false, false }, df.columns.is_query)
    assert.same({ false, true, true, true, false, true, true }, df.columns.is_gallery)
  end)

  it("names an unnamed column as pandas does and keeps unknown columns as strings", function()
    local df = dataframe.read(df_file("," .. HEAD .. ",extra", "0,1,a.jpg,train,,,", "1,1,b.jpg,train,,,7"))
    assert.equal("Unnamed: 0", df.names[1])
    assert.same({ "0", "1" }, df.columns["Unnamed: 0"])
    assert.same({ "", "7" }, df.columns.extra)
  end)

  it("splits into train and validation rows that keep their place in the file", function()
    local df = dataframe.read(FIXTURES .. "valid.csv", { dataset_root = "/root" })
    local train, validation = df:split("train"), df:split("validation")
    assert.equal(3, train.n)
    assert.equal(4, validation.n)
    assert.same({ 1, 2, 3 }, train.row)
    assert.same({ 4, 5, 6, 7 }, validation.row)
    assert.same({ 5, 7, 8, 9 }, validation.line)
    assert.same({ 2, 2, 3, 3 }, validation.columns.label)
    assert.same({ true, false, true, false }, validation.columns.is_query)
    assert.same({ "/root/images/with,comma.jpg", "/root/images/d.jpg", "/root/images/e.jpg",
                  "/root/images/f.jpg" }, validation.columns.path)
    assert.same({ [1] = 1, [4] = 12 }, validation.columns.x_1)
    assert.same({ [2] = "s3" }, validation.columns.sequence)
    assert.same({ "plain", "a note, with a comma", 'she said "hi"' }, train.columns.note)
    assert.same(df.names, train.names)
    assert.same({ 1, 2, 3 }, train:split("train").row)
    assert.equal(0, train:split("validation").n)
    H.raises(function() local _ = df:split("test") end,
             "oml.data.Dataframe:split: the split must be 'train' or 'validation' (got test)")
  end)

  it("reads 100k rows", function()
    local rows = { HEAD .. ",category,x_1,x_2,y_1,y_2" }
    for i = 1, 100000 do
      local label = i % 1000
      if i % 2 == 0 then
        rows[#rows + 1] = ("%d,img/%d.jpg,train,,,cat%d,1,20,3,40"):format(label, i, label % 10)
      else
        rows[#rows + 1] = ('%d,"img/%d,q.jpg",validation,True,True,cat%d,,,,'):format(label, i, label % 10)
      end
    end
    local df = dataframe.read(temp_csv(table.concat(rows, "\r\n")), { dataset_root = "/r" })
    assert.equal(100000, df.n)
    assert.equal("/r/img/99999,q.jpg", df.columns.path[99999])
    assert.equal(0, df.columns.label[100000])
    assert.equal(20, df.columns.x_2[100000])
    assert.equal(50000, df:split("validation").n)
  end)
end)

describe("oml.data.dataframe.read errors", function()
  it("names the file, the row, the line and the column of a bad field", function()
    local cases = {
      { "x,a.jpg,train,,", "label", "'x' is not an integer" },
      { "1.0,a.jpg,train,,", "label", "'1.0' is not an integer" },
      { ",a.jpg,train,,", "label", "'' is not an integer" },
      { "1234567890123456,a.jpg,train,,", "label", "'1234567890123456' has more than 15 digits" },
      { "1,,train,,", "path", "the path is empty" },
      { "1,a.jpg,test,,", "split", "'test' is neither 'train' nor 'validation'" },
      { "1,a.jpg,,,", "split", "'' is neither 'train' nor 'validation'" },
      { "1,a.jpg,train,True,", "is_query", "must be empty on a train row (found 'True')" },
      { "1,a.jpg,train,,False", "is_gallery", "must be empty on a train row (found 'False')" },
      { "1,a.jpg,validation,,True", "is_query", "'' is not a boolean (True or False)" },
      { "1,a.jpg,validation,True,yes", "is_gallery", "'yes' is not a boolean (True or False)" },
      { "1,a.jpg,validation,False,False", "is_query",
        "a validation row must be a query, a gallery item or both (both are False)" },
      { "5,a.jpg,validation,True,False", "label", "the query label 5 appears in no gallery row" },
    }
    for _, case in ipairs(cases) do
      local file = df_file(HEAD, "1,ok.jpg,validation,True,True", '2,"quoted\nrow.jpg",train,,', case[1])
      H.raises(function() local _ = dataframe.read(file) end, field_error(file, 3, 5, case[2], case[3]))
    end
  end)

  it("checks that every query label has a gallery row, whatever the order", function()
    local file = df_file(HEAD, "4,q.jpg,validation,True,False", "4,t.jpg,train,,", "5,g.jpg,validation,False,True")
    H.raises(function() local _ = dataframe.read(file) end,
             field_error(file, 1, 2, "label", "the query label 4 appears in no gallery row"))
    local ok = dataframe.read(df_file(HEAD, "4,q.jpg,validation,True,False", "4,g.jpg,validation,False,True"))
    assert.equal(2, ok.n)
  end)

  it("checks the bounding box rules", function()
    local head = HEAD .. ",x_1,x_2,y_1,y_2"
    local cases = {
      { "0,5,0,", "y_2", "empty while other box coordinates are set (give all four or none)" },
      { ",5,,", "x_1", "empty while other box coordinates are set (give all four or none)" },
      { "0,5.5,0,5", "x_2", "'5.5' is not an integer" },
      { "a,5,0,5", "x_1", "'a' is not an integer" },
      { "0,5,0,1e3", "y_2", "'1e3' is not an integer" },
      { "0,5,0,1234567890123456.0", "y_2", "'1234567890123456.0' has more than 15 digits" },
      { "-1,5,0,5", "x_1", "-1 is negative" },
      { "0,5,-2,5", "y_1", "-2 is negative" },
      { "5,5,0,5", "x_2", "x_2 (5) must be greater than x_1 (5)" },
      { "6,5,0,5", "x_2", "x_2 (5) must be greater than x_1 (6)" },
      { "0,5,3,2", "y_2", "y_2 (2) must be greater than y_1 (3)" },
    }
    for _, case in ipairs(cases) do
      local file = df_file(head, "1,a.jpg,train,,,0,1,0,1", "1,b.jpg,train,,," .. case[1])
      H.raises(function() local _ = dataframe.read(file) end, field_error(file, 2, 3, case[2], case[3]))
    end
    local file = df_file(HEAD .. ",x_1,x_2,y_1", "1,a.jpg,train,,,0,1,0")
    H.raises(function() local _ = dataframe.read(file) end,
             ("oml.data.read_dataframe: %s: the box columns x_1, x_2, y_1, y_2 must be all present or all absent;"
              .. " 'y_2' is missing"):format(file))
  end)

  it("names a missing or repeated column, an empty file and a bad row length", function()
    for _, name in ipairs({ "label", "path", "split", "is_query", "is_gallery" }) do
      local head = HEAD:gsub(name, "other", 1)
      local file = df_file(head, "1,a.jpg,train,,")
      H.raises(function() local _ = dataframe.read(file) end,
               ("oml.data.read_dataframe: %s: the required column '%s' is missing"):format(file, name))
    end
    local file = df_file(HEAD .. ",path", "1,a.jpg,train,,,b.jpg")
    H.raises(function() local _ = dataframe.read(file) end,
             ("oml.data.read_dataframe: %s: column 'path' appears twice in the header"):format(file))
    file = df_file(HEAD)
    H.raises(function() local _ = dataframe.read(file) end,
             ("oml.data.read_dataframe: %s: the file has no rows"):format(file))
    file = df_file(HEAD, "1,a.jpg,train,,", "1,b.jpg,train,")
    H.raises(function() local _ = dataframe.read(file) end,
             ("oml.data.read_dataframe: %s: line 3: expected 5 fields (as in the header), found 4"):format(file))
    H.raises(function() local _ = dataframe.read("/nonexistent/df.csv") end,
             "oml.data.read_dataframe: cannot open /nonexistent/df.csv")
  end)

  it("checks its arguments", function()
    local file = df_file(HEAD, "1,a.jpg,train,,")
    H.raises(function() local _ = dataframe.read(nil) end, "oml.data.read_dataframe: the path must be a string (got nil)")
    H.raises(function() local _ = dataframe.read(file, "root") end,
             "oml.data.read_dataframe: options must be a table (got string)")
    H.raises(function() local _ = dataframe.read(file, { root = "x" }) end,
             "oml.data.read_dataframe: unknown option 'root'")
    H.raises(function() local _ = dataframe.read(file, { dataset_root = 1 }) end,
             "oml.data.read_dataframe: dataset_root must be a string (got number)")
  end)
end)

describe("oml.data.dataframe.read warnings", function()
  local file = FIXTURES .. "several_categories.csv"
  local expected = file .. ": 3 label(s) found in several categories (a label should have one category):"
                   .. " label 1 in 'shoes', 'bags', 'hats'; label 2 in 'shoes', 'bags'; label 4 in 'list', 'found'"

  -- Runs fn with io.stderr replaced by a recorder; returns what was written.
  local function capture_stderr(fn)
    local written, real = {}, io.stderr
    -- luacheck: push ignore 122 (io.stderr is swapped on purpose)
    io.stderr = { write = function(_, ...) for _, s in ipairs({ ... }) do written[#written + 1] = s end end }
    local ok, err = pcall(fn)
    io.stderr = real
    -- luacheck: pop
    assert(ok, err)
    return table.concat(written)
  end

  it("warns once about labels found in several categories", function()
    local df
    local printed = capture_stderr(function() df = dataframe.read(file) end)
    assert.same({ expected }, df.warnings)
    assert.equal("oml.data: warning: " .. expected .. "\n", printed)
    assert.same({ expected }, df:split("train").warnings)
  end)

  it("keeps the warning but prints nothing when verbose is false", function()
    local df
    local printed = capture_stderr(function() df = dataframe.read(file, { verbose = false }) end)
    assert.same({ expected }, df.warnings)
    assert.equal("", printed)
  end)

  it("names at most five labels", function()
    local rows = {}
    for label = 1, 7 do
      rows[#rows + 1] = ("%d,a%d.jpg,train,,,x"):format(label, label)
      rows[#rows + 1] = ("%d,b%d.jpg,train,,,y"):format(label, label)
    end
    local many = df_file(HEAD .. ",category", unpack(rows))
    local df = dataframe.read(many, { verbose = false })
    assert.equal(many .. ": 7 label(s) found in several categories (a label should have one category): "
                 .. "label 1 in 'x', 'y'; label 2 in 'x', 'y'; label 3 in 'x', 'y'; label 4 in 'x', 'y'; "
                 .. "label 5 in 'x', 'y'; ...", df.warnings[1])
  end)

  it("gives no warning when each label has one category", function()
    local df
    local printed = capture_stderr(function() df = dataframe.read(FIXTURES .. "valid.csv") end)
    assert.same({}, df.warnings)
    assert.equal("", printed)
  end)
end)
