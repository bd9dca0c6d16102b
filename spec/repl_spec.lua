-- spec/repl_spec.lua: bin/oml, fed on stdin (the prompt) or given a script.
local root = debug.getinfo(1, "S").source:match("^@(.*)/spec/[^/]*$") or "."
if root:sub(1, 1) ~= "/" then root = os.getenv("PWD") .. "/" .. root end
local oml_bin = root .. "/bin/oml"

local function write_file(text)
  local path = os.tmpname()
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  return path
end

-- Runs `bin/oml args < input` from dir (default /tmp, away from the
-- checkout); returns its stdout and stderr together, and its exit status.
local function run(input, args, dir)
  local stdin = write_file(input or "")
  local cmd = ("cd %s && %s %s < %s 2>&1; echo \"exit=$?\""):format(dir or "/tmp", oml_bin, args or "", stdin)
  local p = assert(io.popen(cmd))
  local out = p:read("*a")
  p:close()
  os.remove(stdin)
  local body, status = out:match("^(.*)exit=(%d+)\n$")
  return body, tonumber(status)
end

local function session(...) return run(table.concat({ ... }, "\n") .. "\n") end

describe("bin/oml", function()
  it("prints the values of expressions", function()
    local out, status = session("1 + 1", "'text', 2.5", "{1, 2, x = 3, {4}}", "nil", "print('said')")
    assert.are.equal(0, status)
    assert.are.equal("2\ntext\t2.5\n{1, 2, {...}, x = 3}\nnil\nsaid\n", out)
  end)

  it("prints tensors as oml.print formats them", function()
    local out = session("oml.tensor{{1, 2}, {3, 4}}", "{oml.zeros(2, 3)}")
    assert.are.equal(" 1  2\n 3  4\n[oml.FloatTensor of size 2x2]\n{oml.FloatTensor[2x3]}\n", out)
  end)

  it("runs statements and keeps globals between lines", function()
    local out = session("x = oml.arange(4)", "y = x:numel() * 10", "y", "local z = 1", "z")
    assert.are.equal("40\nnil\n", out)
  end)

  it("has oml loaded in its own environment only", function()
    local out = session("oml.version", "rawget(_G, 'oml')", "type(oml.rand)")
    assert.are.equal("0.1.0\nnil\nfunction\n", out)
  end)

  it("turns errors into messages and goes on", function()
    local out, status = session(
      "oml.rand(2, 'int64')",
      "error('boom')",
      "error({})",
      "1 +* 2",
      "nosuch.field",
      "'still here'")
    assert.are.equal(0, status)
    assert.are.equal(table.concat({
      "stdin:1: oml.rand: the tensor is int64; expected float32 or float64",
      "stdin:1: boom",
      "(error object is a table value)",
      "stdin:1: unexpected symbol near '*'",
      "stdin:1: attempt to index global 'nosuch' (a nil value)",
      "still here",
    }, "\n") .. "\n", out)
    assert.is_nil(out:find("traceback", 1, true))
  end)

  it("reads on while a chunk is incomplete", function()
    local out = session(
      "for i = 1, 3 do",
      "  print(i * 10)",
      "end",
      "function twice(a)",
      "  return 2 * a",
      "end",
      "twice(",
      "  21)",
      "t = {",
      "  a = 1,",
      "}",
      "t.a",
      "'con' ..",
      "  'tinued'",
      "7 -- a comment")
    assert.are.equal("10\n20\n30\n42\n1\ncontinued\n7\n", out)
    -- an error on a later line of a chunk names that line
    out = session("if true then", "  error('late')", "end")
    assert.are.equal("stdin:2: late\n", out)
  end)

  it("quits on exit or at the end of input", function()
    local out, status = session("1", "exit", "print('not reached')")
    assert.are.equal("1\n", out)
    assert.are.equal(0, status)
    out = session("exit()", "print('not reached')")
    assert.are.equal("", out)
    out, status = run("")
    assert.are.equal("", out)
    assert.are.equal(0, status)
    out = session("for i = 1, 2 do")
    assert.are.equal("stdin: unexpected end of input\n", out)
  end)

  it("accepts Lua 5.1's =expression", function()
    assert.are.equal("6\n", session("= 2 * 3"))
  end)

  it("runs a script with oml loaded and its arguments", function()
    local script = write_file("print(oml.version, ...)\nprint(arg[0] ~= nil, arg[1], arg[2], #arg)\n")
    local out, status = run("", script .. " first second")
    os.remove(script)
    assert.are.equal(0, status)
    assert.are.equal("0.1.0\tfirst\tsecond\ntrue\tfirst\tsecond\t2\n", out)
  end)

  it("reports a failing script with its traceback and a non-zero status", function()
    local script = write_file("local x = 1\nerror('script failed')\n")
    local out, status = run("", script)
    os.remove(script)
    assert.are_not.equal(0, status)
    assert.is_truthy(out:find(script .. ":2: script failed", 1, true))
    assert.is_truthy(out:find("stack traceback", 1, true))
    out, status = run("", "/nonexistent/script.lua")
    assert.are_not.equal(0, status)
    assert.is_truthy(out:find("/nonexistent/script.lua", 1, true))
  end)

  it("works from any directory", function()
    local out = run("oml.tensor{1}:numel()\n", nil, root .. "/engine")
    assert.are.equal("1\n", out)
  end)
end)
