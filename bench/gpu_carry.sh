#!/usr/bin/env bash
# bench/gpu_carry.sh: gathers into .gpu-carry/ (git-ignored) what a lent GPU
# machine needs to build and test oml and may lack, as plain files (no
# symlinks): LuaJIT, the Lua modules busted and oml load (C ones included),
# the CPU libraries liboml links (OpenBLAS, libjpeg-turbo, and OpenBLAS's
# libgfortran/libquadmath) with their headers, and env.sh, which bench/gpu.sh
# sources there. Libraries of 1 MB and more are stored xz-compressed
# (Debian's OpenBLAS is 36 MB as every variant carries kernels for every CPU;
# 4 MB as .xz) and unpacked by env.sh. Then it checks, in a clean
# environment (env -i) that sees only the carry, that luajit loads cjson and
# busted runs: nothing on the Lua side may come from /usr.
#   bash bench/gpu_carry.sh        (from the checkout root, on this Debian 12 machine)
set -euo pipefail
cd "$(dirname "$0")/.."

CARRY=.gpu-carry
MULTIARCH=/usr/lib/x86_64-linux-gnu
LUA_PKGS="lua-busted lua-say lua-luassert lua-penlight lua-term lua-cliargs lua-system lua-mediator lua-dkjson
  lua-cjson lua-filesystem"
COMPRESS_FROM=$((1024 * 1024))

die() { echo "gpu_carry: $*" >&2; exit 1; }

rm -rf "$CARRY"
mkdir -p "$CARRY"/{bin,lib,include,share/lua/5.1,lib/lua/5.1}

# A library under the name the dynamic linker asks for (its soname), symlinks
# resolved to the real file (Debian's alternatives for OpenBLAS and cblas.h).
copy_lib() {
  local path=$1 name=${2:-$(basename "$1")}
  [ -e "$path" ] || die "missing $path (install the Debian package that has it)"
  cp -L "$path" "$CARRY/lib/$name"
}

# the interpreter (statically linked with LuaJIT) and the shared library
cp -L "$(command -v luajit)" "$CARRY/bin/luajit"
copy_lib "$MULTIARCH/libluajit-5.1.so.2"
cp -rL /usr/share/luajit-2.1.0-beta3/jit "$CARRY/share/lua/5.1/jit" # luajit -jv, -b

# CPU libraries of liboml, and what they need (ldd below checks it)
copy_lib "$(readlink -f "$MULTIARCH/libopenblas.so.0")" libopenblas.so.0
copy_lib "$MULTIARCH/libgfortran.so.5"
copy_lib "$MULTIARCH/libquadmath.so.0"
copy_lib "$MULTIARCH/libturbojpeg.so.0"
copy_lib "$MULTIARCH/libjpeg.so.62"
for h in /usr/include/x86_64-linux-gnu/cblas.h /usr/include/x86_64-linux-gnu/openblas_config.h \
  /usr/include/turbojpeg.h /usr/include/jpeglib.h /usr/include/x86_64-linux-gnu/jconfig.h /usr/include/jmorecfg.h \
  /usr/include/jerror.h; do
  cp -L "$h" "$CARRY/include/"
done
missing=$(LD_LIBRARY_PATH="$CARRY/lib" ldd "$CARRY"/lib/*.so* | awk '/not found/ {print $1}' | sort -u)
[ -z "$missing" ] || die "libraries need what is not carried: $missing"
for lib in libgfortran.so.5 libquadmath.so.0; do
  LD_LIBRARY_PATH="$CARRY/lib" ldd "$CARRY/lib/libopenblas.so.0" | grep -q "$lib => $CARRY/lib/" ||
    die "libopenblas.so.0 does not resolve $lib into the carry"
done

# Lua modules from the Debian packages: pure Lua from share/lua/5.1, C
# modules from lib/x86_64-linux-gnu/lua/5.1 (symlinks to liblua5.1-*.so)
for pkg in $LUA_PKGS; do
  dpkg -s "$pkg" >/dev/null 2>&1 || die "Debian package $pkg is not installed"
  while IFS= read -r f; do
    [ -f "$f" ] || continue
    case $f in
      /usr/share/lua/5.1/*) rel=share/lua/5.1/${f#/usr/share/lua/5.1/} ;;
      $MULTIARCH/lua/5.1/*) rel=lib/lua/5.1/${f#"$MULTIARCH"/lua/5.1/} ;;
      *) continue ;;
    esac
    mkdir -p "$(dirname "$CARRY/$rel")"
    cp -L "$f" "$CARRY/$rel"
  done < <(dpkg -L "$pkg")
done
for m in cjson.so lfs.so system/core.so term/core.so busted/runner.lua pl/path.lua luassert/init.lua say/init.lua \
  cliargs.lua mediator.lua dkjson.lua; do
  [ -f "$CARRY/share/lua/5.1/$m" ] || [ -f "$CARRY/lib/lua/5.1/$m" ] || die "the carry lacks the Lua module file $m"
done
# Debian's busted script starts with `#!/usr/bin/env lua`; this one runs under LuaJIT
cat >"$CARRY/bin/busted" <<'EOF'
#!/usr/bin/env luajit
-- Busted command-line runner (Debian's /usr/bin/busted, under LuaJIT)
require 'busted.runner'({ standalone = false })
EOF
chmod +x "$CARRY/bin/busted" "$CARRY/bin/luajit"

# env.sh: sourced (bash) with CARRY set to the carry's absolute path.
cat >"$CARRY/env.sh" <<'EOF'
# .gpu-carry/env.sh (written by bench/gpu_carry.sh): source with CARRY set to
# this folder's absolute path. Unpacks the compressed libraries once, then
# puts the carry first on PATH and LD_LIBRARY_PATH and alone on the Lua paths.
chmod +x "$CARRY"/bin/* # in case the copy lost the modes
for z in "$CARRY"/lib/*.xz; do
  [ -e "$z" ] || continue
  out=${z%.xz}
  [ -s "$out" ] && [ "$out" -nt "$z" ] && continue
  if command -v xz >/dev/null 2>&1; then
    xz -dc "$z" >"$out.part"
  else
    python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' \
      "$z" "$out.part"
  fi || { echo "env.sh: cannot unpack $z (no xz, no python3 lzma)" >&2; return 1; }
  mv "$out.part" "$out"
done
export PATH="$CARRY/bin${PATH:+:$PATH}"
export LD_LIBRARY_PATH="$CARRY/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export LUA_PATH="./?.lua;./?/init.lua;$CARRY/share/lua/5.1/?.lua;$CARRY/share/lua/5.1/?/init.lua"
export LUA_CPATH="$CARRY/lib/lua/5.1/?.so"
EOF

# the big ones go compressed
for f in "$CARRY"/lib/*; do
  [ -f "$f" ] && [ "$(stat -c %s "$f")" -ge "$COMPRESS_FROM" ] && xz -T0 -9 "$f"
done

# ---- check, on an unpacked copy, in an environment that sees only the carry
check=$(mktemp -d)
trap 'rm -rf "$check"' EXIT
cp -r "$CARRY" "$check/carry"
clean_env() {
  env -i HOME="$check" PATH="$check/carry/bin" LD_LIBRARY_PATH="$check/carry/lib" \
    LUA_PATH="$check/carry/share/lua/5.1/?.lua;$check/carry/share/lua/5.1/?/init.lua" \
    LUA_CPATH="$check/carry/lib/lua/5.1/?.so" "$@"
}
(CARRY="$check/carry" && . "$check/carry/env.sh") || die "env.sh failed"
[ -s "$check/carry/lib/libopenblas.so.0" ] || die "env.sh did not unpack libopenblas.so.0"
clean_env "$check/carry/bin/luajit" -e 'local cjson = require "cjson"; assert(cjson.decode("[1]")[1] == 1)' ||
  die "luajit cannot load cjson from the carry"
# every module busted and oml load must resolve into the carry
clean_env "$check/carry/bin/luajit" -e '
  for _, m in ipairs { "cjson", "lfs", "system.core", "term.core" } do
    local p = package.searchpath(m, package.cpath)
    assert(p and p:find(os.getenv("HOME") .. "/carry/", 1, true), m .. ": " .. tostring(p))
  end
  require "busted.runner"; require "pl.path"; require "luassert"; require "say"; require "cliargs"
  require "term"; require "system"; require "mediator"; require "dkjson"
  for name, _ in pairs(package.loaded) do
    local p = package.searchpath(name, package.path) or package.searchpath(name, package.cpath)
    assert(p == nil or not p:find("^/usr"), name .. " from " .. tostring(p))
  end
  assert(not (package.path .. package.cpath):find("/usr"), "a Lua path reaches /usr")' ||
  die "a Lua module does not load from the carry alone"
version=$(clean_env /bin/sh -c 'busted --version') || die "busted does not run from the carry"
echo "busted $version runs from the carry alone (env -i)"
for lib in libgfortran.so.5 libquadmath.so.0; do
  clean_env /usr/bin/ldd "$check/carry/lib/libopenblas.so.0" | grep -q "$lib => $check/carry/lib/$lib" ||
    die "$lib does not resolve into the carry"
done

echo "carry: $(find "$CARRY" -type f | wc -l) files (the largest below)"
find "$CARRY" -type f -printf '%s %p\n' | sort -rn | head -5 | awk '{printf "  %6.1f MB  %s\n", $1 / 1e6, $2}'
tree_bytes=$(git ls-files -z --cached --others --exclude-standard | du -cb --files0-from=- 2>/dev/null |
  tail -1 | cut -f1)
carry_bytes=$(du -sb --apparent-size "$CARRY" | cut -f1)
awk -v t="$tree_bytes" -v c="$carry_bytes" 'BEGIN {
  printf "working tree %.1f MB + carry %.1f MB = %.1f MB, of the 64 MiB the device tool sends\n", t / 1e6, c / 1e6,
    (t + c) / 1e6 }'
[ $((tree_bytes + carry_bytes)) -lt $((48 * 1024 * 1024)) ] || die "tree and carry exceed 48 MiB: too close to 64 MiB"
[ -z "$(find "$CARRY" -type l)" ] || die "the carry holds symlinks"
echo "next: the device tool sends the tree with the ignored path .gpu-carry and runs 'bash bench/gpu.sh'"
