/* cuda/cuda_common.cuh — what the .cu files share: status checks that turn
 * CUDA errors into oml errors, the device's stream, launch shapes, strided
 * geometry, the dtype switch and element-wise loops.
 *
 * Ordering: every kernel, cuBLAS and cuDNN call runs on the device's default
 * (legacy) stream, so work runs in issue order, host copies (cudaMemcpy)
 * wait for it, and a block freed to the caching allocator can be handed out
 * again at once. Kernels are asynchronous: an error inside one surfaces at
 * the next synchronising call, which reports it. */
#ifndef OML_CUDA_COMMON_CUH
#define OML_CUDA_COMMON_CUH

#include "../core/internal.h"
#include "../core/half.h"

#include <cuda_runtime.h>
#include <stdint.h>
#include <stdio.h>

/* ---- status ------------------------------------------------------------- */

/* Sets the thread-local error to "<what>: <CUDA's message>" and returns -1. */
int oml_cuda_fail(cudaError_t e, const char *what);
/* 0 when call succeeded, else oml_cuda_fail(e, what) */
static inline int oml_cuda_ok(cudaError_t e, const char *what) { return e == cudaSuccess ? 0 : oml_cuda_fail(e, what); }
/* After a kernel launch: reports a bad launch (shape, resources) at once. */
static inline int oml_cuda_launched(const char *what) { return oml_cuda_ok(cudaGetLastError(), what); }
/* Makes `device` current; an error names it. */
int oml_cuda_use(int32_t device);
/* The stream every op of that device runs on (the legacy default stream). */
static inline cudaStream_t oml_cuda_stream(void) { return 0; }

/* ---- launch shapes ------------------------------------------------------ */

#define OML_CUDA_THREADS 256
/* blocks for a grid-stride loop over n elements */
static inline unsigned oml_cuda_blocks(int64_t n) {
  int64_t b = (n + OML_CUDA_THREADS - 1) / OML_CUDA_THREADS;
  if (b < 1) b = 1;
  return (unsigned)(b > 65535 * 8 ? 65535 * 8 : b);
}
#define OML_CUDA_LOOP(i, n) \
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (int64_t)blockDim.x * gridDim.x)

/* ---- strided geometry -----------------------------------------------------
 * A tensor's sizes and element strides, passed to kernels by value, so a
 * kernel reads any view without a contiguous copy. Element i in row-major
 * order of the sizes lies at data + oml_geom_offset(g, i). */
struct oml_geom {
  int32_t ndim;
  int32_t contiguous; /* then the offset of element i is i */
  int64_t size[OML_MAX_DIMS];
  int64_t stride[OML_MAX_DIMS];
};

static inline oml_geom oml_geom_of(const oml_tensor *t) {
  oml_geom g;
  memset(&g, 0, sizeof g);
  g.ndim = t->ndim_;
  g.contiguous = oml_tensor_is_contiguous(t);
  for (int32_t d = 0; d < t->ndim_; d++) {
    g.size[d] = t->size_[d];
    g.stride[d] = t->stride_[d];
  }
  return g;
}

__device__ static inline int64_t oml_geom_offset(const oml_geom &g, int64_t i) {
  if (g.contiguous) return i;
  int64_t off = 0;
  for (int32_t d = g.ndim - 1; d >= 0; d--) {
    int64_t s = g.size[d];
    off += (i % s) * g.stride[d];
    i /= s;
  }
  return off;
}

/* oml_line_offset (internal.h) on a kernel's geometry: the element offset
 * of the start of line i along dim. */
__device__ static inline int64_t oml_geom_line_offset(const oml_geom &g, int32_t dim, int64_t i) {
  int64_t off = 0;
  for (int32_t d = g.ndim - 1; d >= 0; d--) {
    if (d == dim) continue;
    off += (i % g.size[d]) * g.stride[d];
    i /= g.size[d];
  }
  return off;
}

/* ---- dtypes --------------------------------------------------------------
 * The one switch from an oml dtype to a C++ type: f(T()) for the math dtypes
 * (bool is stored as one byte, read as bool). float16/bfloat16 are storage
 * only, as on the CPU. */
template <typename F>
static int oml_cuda_switch(int32_t dtype, F f) {
  switch (dtype) {
  case OML_FLOAT32: return f(float());
  case OML_FLOAT64: return f(double());
  case OML_INT32: return f(int32_t());
  case OML_INT64: return f(int64_t());
  case OML_UINT8: return f(uint8_t());
  case OML_BOOL: return f(bool());
  default: return oml_error("%s has no CUDA kernel", oml_dtype_name(dtype));
  }
}
/* float32 and float64 only (the layers' kernels) */
template <typename F>
static int oml_cuda_switch_float(int32_t dtype, F f) {
  switch (dtype) {
  case OML_FLOAT32: return f(float());
  case OML_FLOAT64: return f(double());
  default: return oml_error("%s has no CUDA kernel here; expected float32 or float64", oml_dtype_name(dtype));
  }
}

/* ---- element-wise loops --------------------------------------------------
 * out[i] = f(a[i], ...) over tensors of out's sizes (inputs already
 * expanded), each read through its own geometry. */
template <typename TO, typename F>
__global__ void oml_cuda_map0_kernel(TO *out, oml_geom go, int64_t n, F f) {
  OML_CUDA_LOOP(i, n) out[oml_geom_offset(go, i)] = f(i);
}
template <typename TO, typename TA, typename F>
__global__ void oml_cuda_map1_kernel(TO *out, oml_geom go, const TA *a, oml_geom ga, int64_t n, F f) {
  OML_CUDA_LOOP(i, n) out[oml_geom_offset(go, i)] = f(a[oml_geom_offset(ga, i)]);
}
template <typename TO, typename TA, typename TB, typename F>
__global__ void oml_cuda_map2_kernel(TO *out, oml_geom go, const TA *a, oml_geom ga, const TB *b, oml_geom gb,
                                     int64_t n, F f) {
  OML_CUDA_LOOP(i, n) out[oml_geom_offset(go, i)] = f(a[oml_geom_offset(ga, i)], b[oml_geom_offset(gb, i)]);
}
template <typename TO, typename TA, typename TB, typename TC, typename F>
__global__ void oml_cuda_map3_kernel(TO *out, oml_geom go, const TA *a, oml_geom ga, const TB *b, oml_geom gb,
                                     const TC *c, oml_geom gc, int64_t n, F f) {
  OML_CUDA_LOOP(i, n) {
    out[oml_geom_offset(go, i)] = f(a[oml_geom_offset(ga, i)], b[oml_geom_offset(gb, i)], c[oml_geom_offset(gc, i)]);
  }
}

/* f(i) for the flat index i of each element of out */
template <typename TO, typename F>
static int oml_cuda_map0(oml_tensor *out, F f) {
  if (out->numel_ == 0) return 0;
  if (oml_cuda_use(out->device_)) return -1;
  oml_cuda_map0_kernel<<<oml_cuda_blocks(out->numel_), OML_CUDA_THREADS, 0, oml_cuda_stream()>>>(
      (TO *)out->data_, oml_geom_of(out), out->numel_, f);
  return oml_cuda_launched("an element-wise kernel");
}
template <typename TO, typename TA, typename F>
static int oml_cuda_map1(const oml_tensor *a, oml_tensor *out, F f) {
  if (out->numel_ == 0) return 0;
  if (oml_cuda_use(out->device_)) return -1;
  oml_cuda_map1_kernel<<<oml_cuda_blocks(out->numel_), OML_CUDA_THREADS, 0, oml_cuda_stream()>>>(
      (TO *)out->data_, oml_geom_of(out), (const TA *)a->data_, oml_geom_of(a), out->numel_, f);
  return oml_cuda_launched("an element-wise kernel");
}
template <typename TO, typename TA, typename TB, typename F>
static int oml_cuda_map2(const oml_tensor *a, const oml_tensor *b, oml_tensor *out, F f) {
  if (out->numel_ == 0) return 0;
  if (oml_cuda_use(out->device_)) return -1;
  oml_cuda_map2_kernel<<<oml_cuda_blocks(out->numel_), OML_CUDA_THREADS, 0, oml_cuda_stream()>>>(
      (TO *)out->data_, oml_geom_of(out), (const TA *)a->data_, oml_geom_of(a), (const TB *)b->data_, oml_geom_of(b),
      out->numel_, f);
  return oml_cuda_launched("an element-wise kernel");
}
template <typename TO, typename TA, typename TB, typename TC, typename F>
static int oml_cuda_map3(const oml_tensor *a, const oml_tensor *b, const oml_tensor *c, oml_tensor *out, F f) {
  if (out->numel_ == 0) return 0;
  if (oml_cuda_use(out->device_)) return -1;
  oml_cuda_map3_kernel<<<oml_cuda_blocks(out->numel_), OML_CUDA_THREADS, 0, oml_cuda_stream()>>>(
      (TO *)out->data_, oml_geom_of(out), (const TA *)a->data_, oml_geom_of(a), (const TB *)b->data_, oml_geom_of(b),
      (const TC *)c->data_, oml_geom_of(c), out->numel_, f);
  return oml_cuda_launched("an element-wise kernel");
}

/* ---- block reductions ----------------------------------------------------- */

/* The sum over the threads of a block (blockDim.x a multiple of 32, at most
 * 1024); every thread gets it. `shared` holds 32 values. */
template <typename T>
__device__ static inline T oml_cuda_block_sum(T v, T *shared) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads(); /* shared may still be read by a previous call */
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  int nwarps = (blockDim.x + 31) >> 5;
  v = threadIdx.x < (unsigned)nwarps ? shared[threadIdx.x] : T(0);
  if (warp == 0)
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  if (threadIdx.x == 0) shared[0] = v;
  __syncthreads();
  return shared[0];
}

#endif /* OML_CUDA_COMMON_CUH */
