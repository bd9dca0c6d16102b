#!/usr/bin/env bash
# bench/gpu.sh: the whole GPU check in one run on a lent machine (one H200):
# the environment from .gpu-carry (bench/gpu_carry.sh made it on the build
# machine), a CUDA build of liboml (CMake where it configures, else plain nvcc and
# gcc lines with the same flags), nvidia-smi, the #gpu specs, then
# bench/gpu.lua (oml beside PyTorch on the same card). Everything goes to
# $OUT/gpu.log as well as to stdout. A failed build stops the run (exit 1);
# failed specs do not stop the benchmark, but the exit status is 1 at the end
# if anything failed.
#   bash bench/gpu.sh [--full] [--small]
#     --full: every other spec too (the CPU ones); --small: the benchmark at tiny sizes
# Environment: OML_GPU_PYTHON (default: the first python3 that imports torch),
# OML_GPU_BUILD=plain (skips CMake), OML_GPU_SPEC_TIMEOUT and
# OML_GPU_BENCH_TIMEOUT (seconds, default 150 and 240, bound the two stages).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD

FULL=0
BENCH_ARGS=()
for a in "$@"; do
  case $a in
    --full) FULL=1 ;;
    --small) BENCH_ARGS+=(--small) ;;
    *) echo "bench/gpu.sh: unknown argument $a (use --full, --small)"; exit 2 ;;
  esac
done
OUT=${OUT:-$(mktemp -d /tmp/oml-gpu.XXXXXX)}
mkdir -p "$OUT"

FAILED=()
section() { printf '\n==== %s  (%s, +%ds)\n' "$*" "$(date -u +%T)" "$SECONDS"; }
fail() { FAILED+=("$1"); echo "!! FAILED: $1"; }
die() { echo "!! FATAL: $*"; echo "log: $OUT/gpu.log"; exit 1; }
JOBS=$(nproc)

# PyTorch's python and the library path as found, before the carry's go first
find_python() {
  local p
  for p in "${OML_GPU_PYTHON:-}" "$(command -v python3 || true)" /usr/bin/python3 /usr/local/bin/python3 \
    /opt/conda/bin/python3; do
    [ -n "$p" ] && [ -x "$p" ] && "$p" -c "import torch" 2>/dev/null && { echo "$p"; return 0; }
  done
  command -v python3 || true
}
PYTHON=$(find_python)
ORIG_LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}

main() {
  section "machine"
  uname -srm
  grep -m1 "model name" /proc/cpuinfo
  echo "cores: $JOBS; $(ldd --version 2>&1 | head -1)"
  nvidia-smi || fail "nvidia-smi"
  ARCH_FLAGS="-march=x86-64-v3"
  if ! grep -qw avx2 /proc/cpuinfo; then
    echo "this CPU lacks AVX2: building without -march=x86-64-v3"
    ARCH_FLAGS=""
  fi
  if [ -n "$PYTHON" ]; then
    "$PYTHON" -c 'import torch; print("python", __import__("sys").version.split()[0], "torch", torch.__version__,
      "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version(), "device", torch.cuda.is_available() and
      torch.cuda.get_device_name(0))' || echo "python3 has no working torch: the benchmark runs oml alone"
  else
    echo "no python3: the benchmark runs oml alone"
  fi

  section "environment from .gpu-carry"
  CARRY=$ROOT/.gpu-carry
  [ -f "$CARRY/env.sh" ] ||
    die "no .gpu-carry/env.sh: run 'bash bench/gpu_carry.sh' on the build machine and send .gpu-carry with the tree"
  # shellcheck source=/dev/null
  . "$CARRY/env.sh" || die "sourcing .gpu-carry/env.sh failed"
  luajit -v || die "the carried luajit does not run here (it needs glibc >= 2.34)"
  busted --version >/dev/null || die "the carried busted does not run"

  # ---- the CUDA toolkit: nvcc, cuBLAS, cuDNN (the toolkit's, the system's or pip's)
  find_nvcc() {
    local c
    for c in "$(command -v nvcc || true)" "${CUDA_HOME:-/nonexistent}/bin/nvcc" /usr/local/cuda/bin/nvcc \
      $(ls -d /usr/local/cuda-*/bin/nvcc 2>/dev/null | sort -rV); do
      [ -n "$c" ] && [ -x "$c" ] && { echo "$c"; return 0; }
    done
    return 1
  }
  NVCC=$(find_nvcc) || die "no nvcc (looked on PATH, \$CUDA_HOME, /usr/local/cuda*): liboml cannot be built here"
  CUDA_ROOT=$(dirname "$(dirname "$(readlink -f "$NVCC")")")
  CUDA_LIB=$CUDA_ROOT/lib64
  [ -f "$CUDA_LIB/libcudart_static.a" ] || CUDA_LIB=$CUDA_ROOT/targets/x86_64-linux/lib
  "$NVCC" --version | tail -2
  PIP_NVIDIA=""
  if [ -n "$PYTHON" ]; then
    PIP_NVIDIA=$("$PYTHON" -c 'import nvidia; print(list(nvidia.__path__)[0])' 2>/dev/null || true)
  fi
  # first_file DIR... -- NAME...: the first DIR/NAME that exists
  first_file() {
    local dirs=() d n
    while [ "$1" != "--" ]; do dirs+=("$1"); shift; done
    shift
    for d in "${dirs[@]}"; do for n in "$@"; do
      [ -f "$d/$n" ] && { echo "$d/$n"; return 0; }
    done; done
    return 1
  }
  CUBLAS=$(first_file "$CUDA_LIB" "$CUDA_ROOT/lib64" "$PIP_NVIDIA/cublas/lib" -- libcublas.so libcublas.so.13 \
    libcublas.so.12) || die "no libcublas next to $NVCC"
  CUDNN_H=$(first_file "$CUDA_ROOT/include" /usr/include /usr/include/x86_64-linux-gnu "$PIP_NVIDIA/cudnn/include" \
    -- cudnn.h || true)
  CUDNN_LIB=""
  if [ -n "$CUDNN_H" ]; then
    CUDNN_LIB=$(first_file "$CUDA_LIB" "$CUDA_ROOT/lib64" /usr/lib/x86_64-linux-gnu \
      "$(dirname "$(dirname "$CUDNN_H")")/lib" -- libcudnn.so libcudnn.so.9 || true)
  fi
  if [ -n "$CUDNN_LIB" ]; then
    echo "cuDNN: $CUDNN_H, $CUDNN_LIB"
  else
    CUDNN_H=""
    echo "cuDNN: not found; convolutions use oml's implicit-GEMM kernels"
  fi
  # liboml loads cuBLAS and cuDNN when first used (engine/src/cuda/vendor.cu): from this path
  export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$CUDA_LIB:$(dirname "$CUBLAS")${CUDNN_LIB:+:$(dirname "$CUDNN_LIB")}"

  # ---- build: CMake (as `make` does), else the same flags by hand
  BUILD=$ROOT/build-gpu
  cmake_build() {
    command -v cmake >/dev/null || { echo "no cmake"; return 1; }
    cmake -S "$ROOT" -B "$BUILD" -DOML_CUDA=ON -DOML_CUDA_ARCHITECTURES=90 -DCMAKE_CUDA_COMPILER="$NVCC" \
      -DOML_ARCH_FLAGS="$ARCH_FLAGS" \
      -DOPENBLAS_LIBRARY="$CARRY/lib/libopenblas.so.0" -DCBLAS_INCLUDE_DIR="$CARRY/include" \
      -DTURBOJPEG_LIBRARY="$CARRY/lib/libturbojpeg.so.0" -DTURBOJPEG_INCLUDE_DIR="$CARRY/include" \
      -DJPEG_LIBRARY="$CARRY/lib/libjpeg.so.62" \
      ${CUDNN_H:+-DCUDNN_INCLUDE_DIR="$(dirname "$CUDNN_H")"} || return 1
    cmake --build "$BUILD" -j "$JOBS" || return 2 # a compiler error: the plain build would fail the same way
  }
  # CMakeLists.txt's sources (engine/src/{core,cpu,ops}/*.c, engine/src/cuda/*.cu),
  # definitions and flags (Release: -O3 -DNDEBUG), for sm_90 only.
  plain_build() {
    local obj=$BUILD/plain-obj
    rm -rf "$obj" && mkdir -p "$obj"
    export OML_CC_FLAGS="-DOML_WITH_CUDA ${CUDNN_H:+-DOML_WITH_CUDNN} -Iengine/include -I$CARRY/include
      -isystem $CUDA_ROOT/include ${CUDNN_H:+-isystem $(dirname "$CUDNN_H")} -O3 -DNDEBUG"
    export OML_C_FLAGS="-fPIC -Wall -Wextra -Wno-unused-parameter -Wno-type-limits -fno-math-errno $ARCH_FLAGS -fopenmp
      -std=gnu11"
    export OML_CU_FLAGS="-std=c++17 -gencode=arch=compute_90,code=sm_90 -gencode=arch=compute_90,code=compute_90
      -Xcompiler=-fPIC --expt-relaxed-constexpr --extended-lambda -Xcompiler=-fno-math-errno"
    export OML_OBJ=$obj OML_NVCC=$NVCC
    # shellcheck disable=SC2016,SC2086
    printf '%s\n' engine/src/core/*.c engine/src/cpu/*.c engine/src/ops/*.c engine/src/cuda/*.cu |
      xargs -P "$JOBS" -I{} bash -c '
        src={}; o=$OML_OBJ/$(echo "$src" | tr / _).o
        case $src in
          *.cu) echo "nvcc $src"; $OML_NVCC $OML_CC_FLAGS $OML_CU_FLAGS -x cu -c "$src" -o "$o" ;;
          *) echo "gcc $src"; gcc $OML_CC_FLAGS $OML_C_FLAGS -c "$src" -o "$o" ;;
        esac' || return 1
    g++ -fPIC -Wl,-z,nodelete -Wl,--no-undefined -shared -Wl,-soname,liboml.so -o "$BUILD/liboml.so" "$obj"/*.o \
      "$CARRY/lib/libopenblas.so.0" "$CARRY/lib/libturbojpeg.so.0" "$CARRY/lib/libjpeg.so.62" -lm \
      "$CUDA_LIB/libcudart_static.a" -fopenmp -lpthread -ldl -lrt
  }

  section "build (nvcc $NVCC)"
  rm -f "$BUILD/liboml.so"
  status=1
  [ "${OML_GPU_BUILD:-cmake}" = plain ] || { cmake_build; status=$?; }
  case $status in
    0) echo "built with CMake" ;;
    2) die "the build failed (see the compiler output above)" ;;
    *)
      echo "building with plain nvcc and gcc (no CMake, OML_GPU_BUILD=plain, or CMake could not configure)"
      plain_build || die "the build failed (see the compiler output above)"
      echo "built with plain nvcc and gcc"
      ;;
  esac
  export OML_LIBRARY=$BUILD/liboml.so
  ldd "$OML_LIBRARY" | grep -E "openblas|jpeg|cublas|cudnn|gomp|not found"
  devices=$(luajit -e 'package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
    local oml = require "oml"
    assert(oml.cuda.is_compiled(), "liboml.so was built without CUDA")
    for name, found in pairs(oml.cuda.libraries()) do io.stderr:write(name, ": ", tostring(found), "\n") end
    print(oml.cuda.device_count())') || die "liboml.so does not load"
  echo "oml sees $devices CUDA device(s)"
  [ "$devices" != 0 ] || fail "oml sees no CUDA device (a driver older than this CUDA runtime?): the specs stay pending"

  # busted's gtest output (every test with its time), less the files that ran none;
  # the totals go to $OUT/specs_totals.txt for the summary
  run_specs() {
    local label=$1 status
    shift
    timeout -k 10 "${OML_GPU_SPEC_TIMEOUT:-150}" busted --lua=luajit -o gtest "$@" 2>&1 |
      grep -v -E '^\[----------\] (Running tests from|0 tests from)|^$' | tee "$OUT/specs.txt"
    status=${PIPESTATUS[0]}
    grep -E '^\[(==========|  PASSED  | SKIPPED  )\] [0-9]+ |^\[(  FAILED  |  ERROR   )\] ' "$OUT/specs.txt" |
      sed -E 's/ \([0-9.]+ ms\)$//; s/, listed below:$//' | awk '!seen[$0]++' | sed "s/^/$label: /" \
      >>"$OUT/specs_totals.txt"
    rm -f "$OUT/specs.txt"
    [ "$status" = 0 ] || fail "$label (busted exit $status)"
  }
  rm -f "$OUT/specs_totals.txt"
  section "specs tagged gpu"
  run_specs "#gpu specs" --tags=gpu
  if [ "$FULL" = 1 ]; then
    section "every other spec"
    run_specs "other specs" --exclude-tags=gpu
  fi

  section "benchmark: bench/gpu.lua (PyTorch: $PYTHON)"
  # the peer gets the library path it had before the carry's came first
  export OML_GPU_PEER="env LD_LIBRARY_PATH=$ORIG_LD_LIBRARY_PATH ${PYTHON:-python3}"
  [ -n "$PYTHON" ] || export OML_GPU_PEER=""
  timeout -k 10 "${OML_GPU_BENCH_TIMEOUT:-240}" luajit bench/gpu.lua ${BENCH_ARGS[@]+"${BENCH_ARGS[@]}"} ||
    fail "bench/gpu.lua (exit $?)"

  section "summary"
  cat "$OUT/specs_totals.txt" 2>/dev/null
  if [ ${#FAILED[@]} -gt 0 ]; then
    printf 'failed: %s\n' "${FAILED[@]}"
    echo "log: $OUT/gpu.log"
    exit 1
  fi
  echo "all passed; log: $OUT/gpu.log"
}

# the whole run through tee, which has written every line when this exits
main 2>&1 | tee "$OUT/gpu.log"
exit "${PIPESTATUS[0]}"
