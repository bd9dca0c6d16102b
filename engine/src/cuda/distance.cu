/* cuda/distance.cu — normalize along a dim, and the non-GEMM parts of cdist,
 * with the CPU's math (cpu/distance.h); sums run in float64 for both dtypes. */
#include "cuda_common.cuh"
#include "distance.h"

extern "C" {
#include "../cpu/distance.h"
}

/* ---- normalize ------------------------------------------------------------ */

#define NORM_THREADS 256

/* Two partial p-norm folds joined: the largest (smallest) for p = inf (-inf),
 * NaN winning as in oml_norm_step; the sum for the others. */
__device__ static inline double join_norms(double p, double a, double b) {
  if (p == INFINITY || p == -INFINITY) return oml_norm_step(p, a, b);
  return a + b;
}

/* One block per line (grid-stride over lines): the block folds the line's
 * norm, then writes the line, so out may be a itself. */
template <typename T>
__global__ void normalize_kernel(const T *a, oml_geom ga, T *out, oml_geom go, int32_t dim, int64_t len,
                                 int64_t lines, double p, double eps) {
  __shared__ double part[NORM_THREADS];
  int64_t sa = ga.ndim ? ga.stride[dim] : 0, so = go.ndim ? go.stride[dim] : 0;
  for (int64_t line = blockIdx.x; line < lines; line += gridDim.x) {
    const T *x = a + (ga.ndim ? oml_geom_line_offset(ga, dim, line) : 0);
    T *o = out + (go.ndim ? oml_geom_line_offset(go, dim, line) : 0);
    double acc = oml_norm_start(p);
    for (int64_t j = threadIdx.x; j < len; j += blockDim.x) acc = oml_norm_step(p, acc, (double)x[j * sa]);
    part[threadIdx.x] = acc;
    __syncthreads();
    for (int s = NORM_THREADS / 2; s > 0; s >>= 1) {
      if (threadIdx.x < (unsigned)s) part[threadIdx.x] = join_norms(p, part[threadIdx.x], part[threadIdx.x + s]);
      __syncthreads();
    }
    double norm = oml_norm_finish(p, part[0]); /* a NaN norm stays NaN, as clamp_min */
    T denom = (T)(norm > eps || norm != norm ? norm : eps);
    for (int64_t j = threadIdx.x; j < len; j += blockDim.x) o[j * so] = x[j * sa] / denom;
    __syncthreads(); /* part is read above before the next line writes it */
  }
}

extern "C" int oml_cuda_normalize(const oml_tensor *a, oml_tensor *out, double p, int32_t dim, double eps) {
  int64_t len = a->ndim_ ? a->size_[dim] : 1;
  int64_t lines = len ? a->numel_ / len : 0;
  if (lines == 0) return 0;
  if (oml_cuda_use(out->device_)) return -1;
  unsigned blocks = (unsigned)(lines < 65535 * 8 ? lines : 65535 * 8);
  return oml_cuda_switch_float(a->dtype_, [&](auto t) {
    using T = decltype(t);
    normalize_kernel<T><<<blocks, NORM_THREADS, 0, oml_cuda_stream()>>>(
        (const T *)a->data_, oml_geom_of(a), (T *)out->data_, oml_geom_of(out), dim, len, lines, p, eps);
    return oml_cuda_launched("normalize");
  });
}

/* ---- cdist ---------------------------------------------------------------- */

/* One warp per row: lanes stride over the columns, then a shuffle sum. */
template <typename T>
__global__ void row_sqnorms_kernel(const T *x, int64_t rows, int64_t cols, int64_t s0, int64_t s1, double *norms) {
  int lane = threadIdx.x & 31;
  int64_t warp = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
  int64_t warps = ((int64_t)gridDim.x * blockDim.x) >> 5;
  for (int64_t i = warp; i < rows; i += warps) {
    const T *r = x + i * s0;
    double acc = 0;
    for (int64_t j = lane; j < cols; j += 32) acc += (double)r[j * s1] * r[j * s1];
    for (int o = 16; o > 0; o >>= 1) acc += __shfl_down_sync(0xffffffffu, acc, o);
    if (lane == 0) norms[i] = acc;
  }
}

extern "C" int oml_cuda_row_sqnorms(const oml_tensor *x, double *norms) {
  int64_t rows = x->size_[0];
  if (rows == 0) return 0;
  if (oml_cuda_use(x->device_)) return -1;
  return oml_cuda_switch_float(x->dtype_, [&](auto t) {
    using T = decltype(t);
    row_sqnorms_kernel<T><<<oml_cuda_blocks(rows * 32), OML_CUDA_THREADS, 0, oml_cuda_stream()>>>(
        (const T *)x->data_, rows, x->size_[1], x->stride_[0], x->stride_[1], norms);
    return oml_cuda_launched("row norms");
  });
}

template <typename T>
static int cdist_direct(const oml_tensor *x, const oml_tensor *y, oml_tensor *out) {
  int64_t m = y->size_[0], d = x->size_[1];
  int64_t xs0 = x->stride_[0], xs1 = x->stride_[1], ys0 = y->stride_[0], ys1 = y->stride_[1];
  const T *xd = (const T *)x->data_, *yd = (const T *)y->data_;
  return oml_cuda_map0<T>(out, [=] __device__(int64_t ij) {
    const T *xr = xd + (ij / m) * xs0, *yr = yd + (ij % m) * ys0;
    double acc = 0;
    for (int64_t k = 0; k < d; k++) {
      double diff = (double)xr[k * xs1] - yr[k * ys1];
      acc += diff * diff;
    }
    return (T)sqrt(acc);
  });
}

extern "C" int oml_cuda_cdist_direct(const oml_tensor *x, const oml_tensor *y, oml_tensor *out) {
  if (out->dtype_ == OML_FLOAT32) return cdist_direct<float>(x, y, out);
  return cdist_direct<double>(x, y, out);
}

/* Each element of out, holding -2 x.y (euclidean) or x.y (cosine), becomes
 * the distance; element ij is read and written by one thread. */
template <typename T>
static int cdist_finish(const oml_tensor *xx, const oml_tensor *yy, oml_tensor *out, int32_t metric) {
  int64_t m = out->size_[1], s0 = out->stride_[0], s1 = out->stride_[1];
  const double *nx = (const double *)xx->data_, *ny = (const double *)yy->data_;
  const T *o = (const T *)out->data_;
  if (metric == OML_EUCLIDEAN)
    return oml_cuda_map0<T>(out, [=] __device__(int64_t ij) {
      int64_t i = ij / m, j = ij % m;
      return (T)oml_euclidean_from_dot(o[i * s0 + j * s1], nx[i], ny[j]);
    });
  return oml_cuda_map0<T>(out, [=] __device__(int64_t ij) {
    int64_t i = ij / m, j = ij % m;
    return (T)oml_cosine_from_dot(o[i * s0 + j * s1], nx[i], ny[j]);
  });
}

extern "C" int oml_cuda_cdist_finish(const oml_tensor *xx, const oml_tensor *yy, oml_tensor *out, int32_t metric) {
  if (out->dtype_ == OML_FLOAT32) return cdist_finish<float>(xx, yy, out, metric);
  return cdist_finish<double>(xx, yy, out, metric);
}
