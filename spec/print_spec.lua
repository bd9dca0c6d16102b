-- spec/print_spec.lua: Torch7-style printing (oml.print.format, tostring).
-- The expected strings follow Torch7's Tensor.lua: a common format chosen
-- from the magnitudes of the values, 1-d tensors as a column, "(i,.,.) = "
-- slices, and a footer.
local oml = require "oml"
local P = require "oml.print"
local H = require "helper"

local function lines(...) return table.concat({ ... }, "\n") end

describe("oml.print", function()
  it("prints 1-d tensors as a column", function()
    assert.are.equal(lines(" 1.5000", "-2.0000", " 3.0000", "[oml.FloatTensor of size 3]"),
                     P.format(oml.tensor { 1.5, -2, 3 }))
    -- integral floats print without decimals, as in Torch7
    assert.are.equal(lines("  1", "  2", " 30", "[oml.DoubleTensor of size 3]"),
                     P.format(oml.tensor({ 1, 2, 30 }, "float64")))
    assert.are.equal(P.format(oml.tensor { 1, 2 }), tostring(oml.tensor { 1, 2 }))
  end)

  it("prints matrices in right-aligned columns", function()
    assert.are.equal(lines(" 1.5000  2.0000  3.0000", " 4.0000  5.0000  6.2500", "[oml.FloatTensor of size 2x3]"),
                     P.format(oml.tensor { { 1.5, 2, 3 }, { 4, 5, 6.25 } }))
    -- 3 integer digits: columns of width 9 (sign, digits, point, decimals)
    assert.are.equal(lines("  12.5000   -3.0000", "   0.1250  100.0000", "[oml.FloatTensor of size 2x2]"),
                     P.format(oml.tensor { { 12.5, -3 }, { 0.125, 100 } }))
  end)

  it("prints every integer dtype exactly", function()
    assert.are.equal(lines("  1   2", "  3 -40", "[oml.LongTensor of size 2x2]"),
                     P.format(oml.tensor({ { 1, 2 }, { 3, -40 } }, "int64")))
    assert.are.equal(lines(" 7", " 8", "[oml.IntTensor of size 2]"), P.format(oml.tensor({ 7, 8 }, "int32")))
    assert.are.equal(lines(" 200", "   3", "[oml.ByteTensor of size 2]"), P.format(oml.tensor({ 200, 3 }, "uint8")))
    -- int64 beyond 2^53, which a Lua number cannot hold
    local t = oml.full({ 2 }, 2 ^ 62, "int64")
    local p = t:data()
    p[1] = p[1] + 1
    p[0] = -p[0]
    assert.are.equal(lines("-4611686018427387904", " 4611686018427387905", "[oml.LongTensor of size 2]"),
                     P.format(t))
  end)

  it("prints bool tensors as true/false", function()
    assert.are.equal(lines(" true false", " true  true", "[oml.BoolTensor of size 2x2]"),
                     P.format(oml.tensor { { true, false }, { true, true } }))
    assert.are.equal(lines("true", "[oml.BoolTensor of size 1]"), P.format(oml.tensor { true }))
  end)

  it("prints 0-d, empty and unset tensors", function()
    assert.are.equal(lines(" 3.5000", "[oml.FloatTensor with no dimension]"), P.format(oml.tensor(3.5)))
    assert.are.equal(lines(" 7", "[oml.LongTensor with no dimension]"), P.format(oml.tensor(7, "int64")))
    assert.are.equal("[oml.FloatTensor of size 0]", P.format(oml.empty(0)))
    assert.are.equal("[oml.DoubleTensor of size 2x0x3]", P.format(oml.empty(2, 0, 3, "float64")))
    assert.are.equal("[unset oml.Tensor]", P.format(require("oml.tensor").new()))
  end)

  it("scales values of one magnitude by a common factor", function()
    assert.are.equal(lines("1e-05 *", "  1.0000  2.0000", "  3.0000  4.5000", "[oml.FloatTensor of size 2x2]"),
                     P.format(oml.tensor { { 1e-5, 2e-5 }, { 3e-5, 4.5e-5 } }))
    assert.are.equal(lines("100000 *", " 1.2346", " 2.3457", "[oml.DoubleTensor of size 2]"),
                     P.format(oml.tensor({ 123456.5, 234567.25 }, "float64")))
  end)

  it("uses scientific notation for values of many magnitudes", function()
    assert.are.equal(lines("-5.0000e-01", " 1.0000e+10", "[oml.FloatTensor of size 2]"),
                     P.format(oml.tensor { -0.5, 1e10 }))
    assert.are.equal(lines(" 1.0000e+10", " 2.0000e+00", "[oml.FloatTensor of size 2]"),
                     P.format(oml.tensor { 1e10, 2 }))
    -- three-digit exponents widen the column
    assert.are.equal(lines(" 1.0000e-120", "  1.0000e+00", "[oml.DoubleTensor of size 2]"),
                     P.format(oml.tensor({ 1e-120, 1 }, "float64")))
  end)

  it("prints nan and inf", function()
    assert.are.equal(lines("    nan", "    inf", "   -inf", " 1.5000", "[oml.FloatTensor of size 4]"),
                     P.format(oml.tensor { 0 / 0, 1 / 0, -1 / 0, 1.5 }))
    assert.are.equal(lines("inf", "  2", "[oml.FloatTensor of size 2]"), P.format(oml.tensor { 1 / 0, 2 }))
    assert.are.equal(lines("nan", "[oml.FloatTensor of size 1]"), P.format(oml.tensor { 0 / 0 }))
  end)

  it("prints 3-d and higher tensors as slices", function()
    assert.are.equal(lines(
      "(1,.,.) = ",
      "   0   1   2",
      "   3   4   5",
      "",
      "(2,.,.) = ",
      "   6   7   8",
      "   9  10  11",
      "[oml.LongTensor of size 2x2x3]"), P.format(oml.arange(12):view(2, 2, 3)))
    assert.are.equal(lines(
      "(1,1,.,.) = ",
      "  0.5000  1.5000",
      "",
      "(1,2,.,.) = ",
      "  2.5000  3.5000",
      "[oml.FloatTensor of size 1x2x1x2]"), P.format(oml.arange(4, "float32"):add(0.5):view(1, 2, 1, 2)))
  end)

  it("prints non-contiguous views by their logical layout", function()
    local a = oml.tensor { { 1, 2, 3 }, { 4, 5, 6 } }
    assert.are.equal(lines(" 1  4", " 2  5", " 3  6", "[oml.FloatTensor of size 3x2]"), P.format(a:t()))
    assert.are.equal(lines(" 2  3", " 5  6", "[oml.FloatTensor of size 2x2]"), P.format(a:narrow(2, 2, 2)))
    assert.are.equal(lines(" 1  1  1", " 2  2  2", "[oml.IntTensor of size 2x3]"),
                     P.format(oml.tensor({ 1, 2 }, "int32"):view(2, 1):expand(2, 3)))
    assert.are.equal(lines(" 3", " 6", "[oml.FloatTensor of size 2]"), P.format(a:select(2, 3)))
  end)

  it("elides the middle of tensors beyond the threshold", function()
    assert.are.equal(lines("    1", "    2", "    3", "...", " 1998", " 1999", " 2000",
                           "[oml.LongTensor of size 2000]"), P.format(oml.arange(1, 2001)))
    assert.are.equal(lines(
      "    0     1     2 ...    37    38    39",
      "   40    41    42 ...    77    78    79",
      "   80    81    82 ...   117   118   119",
      "...",
      " 1480  1481  1482 ...  1517  1518  1519",
      " 1520  1521  1522 ...  1557  1558  1559",
      " 1560  1561  1562 ...  1597  1598  1599",
      "[oml.LongTensor of size 40x40]"), P.format(oml.arange(1600):view(40, 40)))
    -- leading dims are elided too; the format comes from the shown values only
    assert.are.equal(lines(
      "(1,.,.) = ",
      "    0    1    2 ...   97   98   99",
      "",
      "(2,.,.) = ",
      "    1    2    3 ...   98   99  100",
      "",
      "(3,.,.) = ",
      "    2    3    4 ...   99  100  101",
      "",
      "...",
      "",
      "(10,.,.) = ",
      "    9   10   11 ...  106  107  108",
      "",
      "(11,.,.) = ",
      "   10   11   12 ...  107  108  109",
      "",
      "(12,.,.) = ",
      "   11   12   13 ...  108  109  110",
      "[oml.LongTensor of size 12x1x100]"),
      P.format(oml.arange(12):view(12, 1, 1) + oml.arange(100):view(1, 1, 100)))
  end)

  it("wraps wide matrices in column blocks", function()
    local t = oml.arange(1, 25, "float64"):div(8):view(2, 12)
    assert.are.equal(lines(
      "Columns 1 to 10",
      " 0.1250  0.2500  0.3750  0.5000  0.6250  0.7500  0.8750  1.0000  1.1250  1.2500",
      " 1.6250  1.7500  1.8750  2.0000  2.1250  2.2500  2.3750  2.5000  2.6250  2.7500",
      "",
      "Columns 11 to 12",
      " 1.3750  1.5000",
      " 2.8750  3.0000",
      "[oml.DoubleTensor of size 2x12]"), P.format(t))
  end)

  it("reads float16 and bfloat16 through float32", function()
    assert.are.equal(lines(" 0.5000", " 2.0000", "[oml.HalfTensor of size 2]"),
                     P.format(oml.tensor({ 0.5, 2 }, "float16")))
    assert.are.equal(lines(" 1", "-3", "[oml.BFloat16Tensor of size 2]"), P.format(oml.tensor({ 1, -3 }, "bfloat16")))
  end)

  it("follows set_printoptions", function()
    local old = P.set_printoptions { precision = 2, threshold = 4, edgeitems = 1, linewidth = 12 }
    assert.are.same({ precision = 4, threshold = 1000, edgeitems = 3, linewidth = 80 }, old)
    assert.are.equal(lines(" 0.50", "...", " 4.50", "[oml.FloatTensor of size 5]"),
                     P.format(oml.arange(5, "float32"):add(0.5)))
    P.set_printoptions { threshold = 1000 }
    assert.are.equal(lines("Columns 1 to 2", " 0.25  0.50", "", "Columns 3 to 3", " 0.75",
                           "[oml.FloatTensor of size 1x3]"), P.format(oml.tensor { { 0.25, 0.5, 0.75 } }))
    P.set_printoptions(old)
    assert.are.equal(lines(" 0.2500  0.5000  0.7500", "[oml.FloatTensor of size 1x3]"),
                     P.format(oml.tensor { { 0.25, 0.5, 0.75 } }))
  end)

  it("refuses bad print options", function()
    H.raises(function() P.set_printoptions { precison = 2 } end, "oml.set_printoptions: unknown option 'precison'")
    H.raises(function() P.set_printoptions { edgeitems = 0 } end, "oml.set_printoptions: bad value for edgeitems: 0")
    H.raises(function() P.set_printoptions { precision = "2" } end, "oml.set_printoptions: bad value for precision: 2")
    H.raises(function() P.set_printoptions(3) end, "oml.set_printoptions: expected a table of options (got number)")
  end)

  describe("on cuda #gpu", function()
    it("copies to the CPU and names the device", function()
      if not oml.cuda or not oml.cuda.is_available() then
        pending("no GPU")
        return
      end
      local t = oml.tensor({ { 1, 2 }, { 3, 4 } }):cuda()
      assert.are.equal(lines(" 1  2", " 3  4", "[oml.CudaFloatTensor of size 2x2 (cuda:0)]"), P.format(t))
      assert.are.equal(lines(" 5", "[oml.CudaLongTensor with no dimension (cuda:0)]"),
                       P.format(oml.tensor(5, "int64"):cuda()))
    end)
  end)
end)
