-- luacheck: no globals anywhere; specs run under busted and quote long messages.
std = "luajit"
max_line_length = 120
files["spec"] = { std = "+busted", max_line_length = false }
