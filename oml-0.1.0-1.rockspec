-- `luarocks --lua-version=5.1 make` in the checkout builds liboml.so with
-- CMake and installs it with the Lua modules and the header the FFI reads.
package = "oml"
version = "0.1.0-1"
source = {
  url = "git+file://.",
}
description = {
  summary = "Metric learning on a C tensor engine, driven from LuaJIT",
  detailed = [[
    oml trains and validates models that turn images into embeddings, as
    Open Metric Learning does, on a C tensor engine (OpenBLAS, OpenMP,
    optional CUDA) that LuaJIT drives through its FFI.
  ]],
  license = "Apache-2.0",
}
dependencies = {
  "lua == 5.1",
}
build = {
  type = "make",
  build_target = "build",
  install_target = "install",
  install_variables = {
    INST_LIBDIR = "$(LIBDIR)",
    INST_LUADIR = "$(LUADIR)",
  },
}
