-- spec/helper.lua: assertions shared by the specs.
local oml = require "oml"

local H = {}

-- Walks two nested lists (or numbers/booleans) and checks that they have
-- the same shape and that numbers agree within tol (absolute + relative).
-- NaN matches NaN.
function H.close(actual, expected, tol, path)
  tol = tol or 1e-6
  path = path or "value"
  if oml.is_tensor(actual) then actual = actual:totable() end
  if oml.is_tensor(expected) then expected = expected:totable() end
  if type(expected) == "table" then
    assert(type(actual) == "table", ("%s: expected a list, got %s"):format(path, tostring(actual)))
    assert(#actual == #expected, ("%s: expected %d entries, got %d"):format(path, #expected, #actual))
    for i = 1, #expected do H.close(actual[i], expected[i], tol, path .. "[" .. i .. "]") end
    return true
  end
  if type(expected) == "number" and expected ~= expected then
    assert(actual ~= actual, ("%s: expected NaN, got %s"):format(path, tostring(actual)))
    return true
  end
  if type(expected) == "number" and type(actual) == "number" then
    local ok = actual == expected or math.abs(actual - expected) <= tol * (1 + math.abs(expected))
    assert(ok, ("%s: expected %.10g, got %.10g"):format(path, expected, actual))
    return true
  end
  assert(actual == expected, ("%s: expected %s, got %s"):format(path, tostring(expected), tostring(actual)))
  return true
end

-- Checks that fn raises an error whose message contains `text` (plain) and
-- that the error is reported at a line of the calling spec file, not inside
-- oml. Write fn without a tail call (`function() local _ = t:view(3) end`):
-- a tail call leaves no frame of the spec to point at.
function H.raises(fn, text)
  local ok, err = pcall(fn)
  assert(not ok, "expected an error containing '" .. text .. "', but the call succeeded")
  err = tostring(err)
  assert(err:find(text, 1, true), ("expected an error containing '%s', got '%s'"):format(text, err))
  local caller = debug.getinfo(2, "S").short_src
  assert(err:find(caller, 1, true), ("the error should point at %s, got '%s'"):format(caller, err))
  return err
end

-- Runs a shell command and asserts that it succeeded.
function H.sh(command)
  local status = os.execute(command)
  assert(status == 0 or status == true, command)
end

-- A small image dataset in OML's format under root: df.csv and JPEGs of
-- size x size, per_label images for each of `labels` labels. Label l is a
-- colour and a stripe period over noise of its own; labels below
-- train_labels are train rows, the others validation rows (query and gallery).
function H.write_image_dataset(root, labels, per_label, size, train_labels)
  H.sh("mkdir -p " .. root .. "/images")
  local g = oml.Generator(7)
  local lines = { "label,path,split,is_query,is_gallery" }
  for label = 0, labels - 1 do
    for k = 1, per_label do
      local image = oml.rand({ size, size, 3 }, { generator = g }):mul(60)
      for y = 0, size - 1 do
        if math.floor(y / (label % 3 + 1)) % 2 == 0 then image:select(1, y + 1):select(2, label % 3 + 1):add_(150) end
      end
      local path = ("images/%d_%d.jpg"):format(label, k)
      oml.jpeg.write(root .. "/" .. path, image:to({ dtype = "uint8" }), 95)
      local train = label < train_labels
      lines[#lines + 1] = ("%d,%s,%s,%s,%s"):format(label, path, train and "train" or "validation",
        train and "" or "True", train and "" or "True")
    end
  end
  local f = assert(io.open(root .. "/df.csv", "wb"))
  f:write(table.concat(lines, "\n"), "\n")
  f:close()
end

-- Writes the string s to dir/name; returns the path.
function H.write_file(dir, name, s)
  local f = assert(io.open(dir .. "/" .. name, "wb"))
  f:write(s)
  f:close()
  return dir .. "/" .. name
end

-- The euclidean distance between rows i and j of a list of lists.
function H.euclidean(rows, i, j)
  local s = 0
  for k = 1, #rows[i] do s = s + (rows[i][k] - rows[j][k]) ^ 2 end
  return math.sqrt(s)
end

-- A fresh private directory for the files a spec writes (remove it in teardown).
function H.tempdir()
  local dir = os.tmpname()
  os.remove(dir)
  H.sh("mkdir -m 700 " .. dir)
  return dir
end

-- The whole content of a file.
function H.read_bytes(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

-- The names in a directory, sorted, hidden ones too.
function H.files_in(dir)
  local p = assert(io.popen("ls -A " .. dir))
  local names = {}
  for line in p:lines() do names[#names + 1] = line end
  p:close()
  return names
end

-- Shuffles a list in place with math.random (Fisher-Yates) and returns it.
function H.shuffle(list)
  for i = #list, 2, -1 do
    local j = math.random(i)
    list[i], list[j] = list[j], list[i]
  end
  return list
end

-- A deterministic r x c matrix of values in [-1, 1], as nested Lua lists.
function H.values(r, c, seed)
  local m = {}
  for i = 1, r do
    m[i] = {}
    for j = 1, c do m[i][j] = math.sin(seed * 7.3 + i * 1.7 + j * 0.9) end
  end
  return m
end

-- The transpose of a list-of-rows matrix with `cols` columns.
function H.transpose(m, cols)
  local r = {}
  for j = 1, cols do
    r[j] = {}
    for i = 1, #m do r[j][i] = m[i][j] end
  end
  return r
end

return H
