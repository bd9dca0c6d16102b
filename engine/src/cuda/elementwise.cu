/* cuda/elementwise.cu — unary, binary, clamp and where on the device: one
 * grid-stride map per call, each element computed by core/elementwise_math.h
 * as on the CPU. The op code is a kernel argument (a branch every thread of a
 * warp takes alike) rather than a template parameter: these loops are bound
 * by memory, and one kernel per (op, dtype) would only bloat the library. */
#include "elementwise.h"
#include "cuda_common.cuh"

#include "../core/elementwise_math.h"

/* ---- the shared math, overloaded by type --------------------------------- */

__device__ __forceinline__ float unary_math(int32_t op, float x) { return oml_unary_f32(op, x); }
__device__ __forceinline__ double unary_math(int32_t op, double x) { return oml_unary_f64(op, x); }
__device__ __forceinline__ int32_t unary_math(int32_t op, int32_t x) { return oml_unary_i32(op, x); }
__device__ __forceinline__ int64_t unary_math(int32_t op, int64_t x) { return oml_unary_i64(op, x); }
__device__ __forceinline__ uint8_t unary_math(int32_t op, uint8_t x) { return oml_unary_u8(op, x); }

/* floats never set *bad */
__device__ __forceinline__ float binary_math(int32_t op, float x, float y, int *) { return oml_binary_f32(op, x, y); }
__device__ __forceinline__ double binary_math(int32_t op, double x, double y, int *) {
  return oml_binary_f64(op, x, y);
}
__device__ __forceinline__ int32_t binary_math(int32_t op, int32_t x, int32_t y, int *bad) {
  return oml_binary_i32(op, x, y, bad);
}
__device__ __forceinline__ int64_t binary_math(int32_t op, int64_t x, int64_t y, int *bad) {
  return oml_binary_i64(op, x, y, bad);
}
__device__ __forceinline__ uint8_t binary_math(int32_t op, uint8_t x, uint8_t y, int *bad) {
  return oml_binary_u8(op, x, y, bad);
}

#define ANY_DTYPE_MATH(SUFFIX, T)                                                                            \
  __device__ __forceinline__ int compare_math(int32_t op, T x, T y) { return oml_compare_##SUFFIX(op, x, y); } \
  __device__ __forceinline__ int logical_not_math(T x) { return oml_logical_not_##SUFFIX(x); }               \
  __device__ __forceinline__ T clamp_math(T x, T lo, T hi) { return oml_clamp_##SUFFIX(x, lo, hi); }
ANY_DTYPE_MATH(f32, float)
ANY_DTYPE_MATH(f64, double)
ANY_DTYPE_MATH(i32, int32_t)
ANY_DTYPE_MATH(i64, int64_t)
ANY_DTYPE_MATH(u8, uint8_t)

/* The dtype switch of this family: KERNEL<T>(args...) for the dtype's type;
 * bool values are 0 and 1 and use the uint8 math, as on the CPU. */
#define DTYPE_SWITCH(DTYPE, KERNEL, ...)                                                     \
  switch (DTYPE) {                                                                           \
  case OML_FLOAT32: return KERNEL<float>(__VA_ARGS__);                                       \
  case OML_FLOAT64: return KERNEL<double>(__VA_ARGS__);                                      \
  case OML_INT32: return KERNEL<int32_t>(__VA_ARGS__);                                       \
  case OML_INT64: return KERNEL<int64_t>(__VA_ARGS__);                                       \
  case OML_UINT8: case OML_BOOL: return KERNEL<uint8_t>(__VA_ARGS__);                        \
  default: return oml_error("%s has no CUDA kernel", oml_dtype_name(DTYPE));                 \
  }

static int is_floating_type(int32_t dtype) { return dtype == OML_FLOAT32 || dtype == OML_FLOAT64; }

/* ---- unary ------------------------------------------------------------------ */

/* the ops cpu/elementwise.c has integer loops for */
static int integer_unary(int32_t op) {
  return op == OML_NEG || op == OML_ABS || op == OML_SIGN || op == OML_SQUARE || op == OML_FLOOR || op == OML_CEIL ||
         op == OML_ROUND || op == OML_TRUNC || op == OML_LOGICAL_NOT;
}

template <typename T>
static int unary_typed(const oml_tensor *a, oml_tensor *out, int32_t op) {
  if (op == OML_LOGICAL_NOT)
    return oml_cuda_map1<uint8_t, T>(a, out, [] __device__(T x) { return (uint8_t)logical_not_math(x); });
  return oml_cuda_map1<T, T>(a, out, [op] __device__(T x) { return unary_math(op, x); });
}

extern "C" int oml_cuda_unary(const oml_tensor *a, oml_tensor *out, int32_t op) {
  if (!is_floating_type(a->dtype_) && !integer_unary(op))
    return oml_error("this op is not defined for %s", oml_dtype_name(a->dtype_));
  DTYPE_SWITCH(a->dtype_, unary_typed, a, out, op)
}

/* ---- binary ----------------------------------------------------------------- */

/* Integer pow and fmod can fail on some elements (a negative exponent, a zero
 * divisor): threads that meet one store its code in *flag, and the host reads
 * it back after the kernel. This is the one place the family waits for the
 * device: whether the op fails depends on the data. */
template <typename T>
static int binary_checked(const oml_tensor *a, const oml_tensor *b, oml_tensor *out, int32_t op) {
  int *flag = (int *)oml_alloc(sizeof(int), out->device_);
  if (flag == NULL) return -1;
  int bad = 0;
  int rc = oml_cuda_use(out->device_);
  if (rc == 0) rc = oml_cuda_ok(cudaMemsetAsync(flag, 0, sizeof(int), oml_cuda_stream()), "clearing a flag");
  if (rc == 0)
    rc = oml_cuda_map2<T, T, T>(a, b, out, [op, flag] __device__(T x, T y) {
      int code = 0;
      T r = binary_math(op, x, y, &code);
      if (code) *flag = code; /* every failing element of one op writes the same code */
      return r;
    });
  if (rc == 0) rc = oml_cuda_ok(cudaMemcpy(&bad, flag, sizeof(int), cudaMemcpyDeviceToHost), "reading a flag");
  oml_free(flag, sizeof(int), out->device_);
  if (rc) return rc;
  if (bad == 1) return oml_error("integers cannot be raised to negative integer powers");
  if (bad == 2) return oml_error("integer division by zero");
  return 0;
}

template <typename T>
static int binary_typed(const oml_tensor *a, const oml_tensor *b, oml_tensor *out, int32_t op) {
  if (op >= OML_EQ)
    return oml_cuda_map2<uint8_t, T, T>(a, b, out,
                                        [op] __device__(T x, T y) { return (uint8_t)compare_math(op, x, y); });
  if (!is_floating_type(a->dtype_) && (op == OML_POW || op == OML_FMOD)) return binary_checked<T>(a, b, out, op);
  return oml_cuda_map2<T, T, T>(a, b, out, [op] __device__(T x, T y) {
    int unused = 0;
    return binary_math(op, x, y, &unused);
  });
}

extern "C" int oml_cuda_binary(const oml_tensor *a, const oml_tensor *b, oml_tensor *out, int32_t op) {
  if (!is_floating_type(a->dtype_) && op == OML_DIV)
    return oml_error("this op is not defined for %s", oml_dtype_name(a->dtype_));
  DTYPE_SWITCH(a->dtype_, binary_typed, a, b, out, op)
}

/* ---- clamp and where ---------------------------------------------------------- */

template <typename T>
static int clamp_typed(const oml_tensor *a, oml_tensor *out, double low, double high) {
  const T lo = (T)low, hi = (T)high; /* converted on the host, as on the CPU */
  return oml_cuda_map1<T, T>(a, out, [lo, hi] __device__(T x) { return clamp_math(x, lo, hi); });
}

extern "C" int oml_cuda_clamp(const oml_tensor *a, oml_tensor *out, double low, double high) {
  DTYPE_SWITCH(a->dtype_, clamp_typed, a, out, low, high)
}

/* moves elements of U's size: where only selects, whatever the dtype */
template <typename U>
static int where_bits(const oml_tensor *cond, const oml_tensor *a, const oml_tensor *b, oml_tensor *out) {
  return oml_cuda_map3<U, uint8_t, U, U>(cond, a, b, out, [] __device__(uint8_t c, U x, U y) { return c ? x : y; });
}

extern "C" int oml_cuda_where(const oml_tensor *cond, const oml_tensor *a, const oml_tensor *b, oml_tensor *out) {
  switch (oml_dtype_size(out->dtype_)) {
  case 1: return where_bits<uint8_t>(cond, a, b, out);
  case 2: return where_bits<uint16_t>(cond, a, b, out);
  case 4: return where_bits<uint32_t>(cond, a, b, out);
  default: return where_bits<uint64_t>(cond, a, b, out);
  }
}
