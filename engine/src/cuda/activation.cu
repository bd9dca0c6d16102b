/* cuda/activation.cu — activations as element-wise maps over
 * core/activation_math.h, and softmax with one block per line along dim.
 * Softmax accumulates in the tensor's own type and takes e^x with the CPU's
 * functions (oml_expf for float32, exp for float64); only the order of the
 * sums differs from the CPU. */
#include "activation.h"
#include "cuda_common.cuh"

#include "../core/activation_math.h"

/* ---- activations ------------------------------------------------------------ */

__device__ __forceinline__ float activation(int32_t kind, float x) {
  return kind == OML_RELU ? oml_relu_f(x) : kind == OML_GELU ? oml_gelu_f(x) : oml_gelu_tanh_f(x);
}
__device__ __forceinline__ double activation(int32_t kind, double x) {
  return kind == OML_RELU ? oml_relu_d(x) : kind == OML_GELU ? oml_gelu_d(x) : oml_gelu_tanh_d(x);
}
__device__ __forceinline__ float activation_grad(int32_t kind, float x) {
  return kind == OML_RELU ? oml_relu_grad_f(x) : kind == OML_GELU ? oml_gelu_grad_f(x) : oml_gelu_tanh_grad_f(x);
}
__device__ __forceinline__ double activation_grad(int32_t kind, double x) {
  return kind == OML_RELU ? oml_relu_grad_d(x) : kind == OML_GELU ? oml_gelu_grad_d(x) : oml_gelu_tanh_grad_d(x);
}

template <typename T>
static int forward_typed(const oml_tensor *input, oml_tensor *out, int32_t kind) {
  return oml_cuda_map1<T, T>(input, out, [kind] __device__(T x) { return activation(kind, x); });
}

template <typename T>
static int backward_typed(const oml_tensor *input, const oml_tensor *grad_out, oml_tensor *grad_input, int32_t kind) {
  return oml_cuda_map2<T, T, T>(input, grad_out, grad_input,
                                [kind] __device__(T x, T g) { return g * activation_grad(kind, x); });
}

extern "C" int oml_cuda_activation_forward(const oml_tensor *input, oml_tensor *out, int32_t kind) {
  if (input->dtype_ == OML_FLOAT32) return forward_typed<float>(input, out, kind);
  return forward_typed<double>(input, out, kind);
}

extern "C" int oml_cuda_activation_backward(const oml_tensor *input, const oml_tensor *grad_out,
                                            oml_tensor *grad_input, int32_t kind) {
  if (input->dtype_ == OML_FLOAT32) return backward_typed<float>(input, grad_out, grad_input, kind);
  return backward_typed<double>(input, grad_out, grad_input, kind);
}

/* ---- softmax ------------------------------------------------------------------ */

__device__ __forceinline__ float exp_of(float x) { return oml_expf(x); }
__device__ __forceinline__ double exp_of(double x) { return exp(x); }
__device__ __forceinline__ float log_of(float x) { return logf(x); }
__device__ __forceinline__ double log_of(double x) { return log(x); }

/* The maximum over the block's threads, as the CPU's `x > m ? x : m` (NaN
 * never wins; the sums then turn the line NaN); every thread gets it.
 * `shared` holds 32 values. */
template <typename T>
__device__ static inline T block_max(T v, T *shared) {
  for (int o = 16; o > 0; o >>= 1) {
    T w = __shfl_down_sync(0xffffffffu, v, o);
    v = w > v ? w : v;
  }
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads(); /* shared may still be read by a previous call */
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  int nwarps = (blockDim.x + 31) >> 5;
  v = threadIdx.x < (unsigned)nwarps ? shared[threadIdx.x] : (T)-INFINITY;
  if (warp == 0)
    for (int o = 16; o > 0; o >>= 1) {
      T w = __shfl_down_sync(0xffffffffu, v, o);
      v = w > v ? w : v;
    }
  if (threadIdx.x == 0) shared[0] = v;
  __syncthreads();
  return shared[0];
}

/* The line-wise kernels' shape: `lines` lines of n elements at stride s_*
 * along dim. Each block takes lines blockIdx.x, + gridDim.x, ...; its threads
 * stride over the line. Every read of a line precedes the block's
 * reductions, and each thread writes only elements it read itself, so
 * out may be the input (in-place softmax). */
struct lines_shape {
  int32_t dim;
  int64_t n, lines;
};

/* softmax: y = e^(x - m) / sum; log-softmax: y = (x - m) - log(sum) */
template <typename T>
__global__ void softmax_forward_kernel(const T *x, oml_geom gx, int64_t sx, T *y, oml_geom gy, int64_t sy,
                                       lines_shape ls, int32_t log_) {
  __shared__ T shared[32];
  for (int64_t line = blockIdx.x; line < ls.lines; line += gridDim.x) {
    const T *xl = x + oml_geom_line_offset(gx, ls.dim, line);
    T *yl = y + oml_geom_line_offset(gy, ls.dim, line);
    T m = -INFINITY;
    for (int64_t j = threadIdx.x; j < ls.n; j += blockDim.x) m = xl[j * sx] > m ? xl[j * sx] : m;
    m = block_max(m, shared);
    T sum = 0;
    for (int64_t j = threadIdx.x; j < ls.n; j += blockDim.x) sum += exp_of(xl[j * sx] - m);
    sum = oml_cuda_block_sum(sum, shared);
    if (log_) {
      T lse = log_of(sum);
      for (int64_t j = threadIdx.x; j < ls.n; j += blockDim.x) yl[j * sy] = (xl[j * sx] - m) - lse;
    } else {
      T inv = (T)1 / sum;
      for (int64_t j = threadIdx.x; j < ls.n; j += blockDim.x) yl[j * sy] = exp_of(xl[j * sx] - m) * inv;
    }
  }
}

/* softmax: gi = y (g - sum(g y)); log-softmax: gi = g - e^y sum(g) */
template <typename T>
__global__ void softmax_backward_kernel(const T *y, oml_geom gy, int64_t sy, const T *g, oml_geom gg, int64_t sg,
                                        T *gi, oml_geom ggi, int64_t si, lines_shape ls, int32_t log_) {
  __shared__ T shared[32];
  for (int64_t line = blockIdx.x; line < ls.lines; line += gridDim.x) {
    const T *yl = y + oml_geom_line_offset(gy, ls.dim, line);
    const T *gl = g + oml_geom_line_offset(gg, ls.dim, line);
    T *gil = gi + oml_geom_line_offset(ggi, ls.dim, line);
    T dot = 0;
    for (int64_t j = threadIdx.x; j < ls.n; j += blockDim.x) dot += log_ ? gl[j * sg] : gl[j * sg] * yl[j * sy];
    dot = oml_cuda_block_sum(dot, shared);
    for (int64_t j = threadIdx.x; j < ls.n; j += blockDim.x)
      gil[j * si] = log_ ? gl[j * sg] - exp_of(yl[j * sy]) * dot : yl[j * sy] * (gl[j * sg] - dot);
  }
}

/* The lines of t along dim, and a launch shape: a warp for short lines, up
 * to 256 threads for long ones. */
static lines_shape lines_of(const oml_tensor *t, int32_t dim, unsigned *blocks, unsigned *threads) {
  lines_shape ls;
  ls.dim = dim;
  ls.n = t->ndim_ ? t->size_[dim] : 1;
  ls.lines = ls.n ? t->numel_ / ls.n : 0;
  unsigned th = 32;
  while (th < OML_CUDA_THREADS && (int64_t)th < ls.n) th *= 2;
  *threads = th;
  *blocks = (unsigned)(ls.lines < 65535 * 8 ? ls.lines : 65535 * 8);
  return ls;
}

static int64_t stride_along(const oml_tensor *t, int32_t dim) { return t->ndim_ ? t->stride_[dim] : 0; }

template <typename T>
static int softmax_forward_typed(const oml_tensor *in, oml_tensor *out, int32_t dim, int32_t log_) {
  unsigned blocks, threads;
  lines_shape ls = lines_of(in, dim, &blocks, &threads);
  if (ls.lines == 0) return 0;
  if (oml_cuda_use(out->device_)) return -1;
  softmax_forward_kernel<T><<<blocks, threads, 0, oml_cuda_stream()>>>(
      (const T *)in->data_, oml_geom_of(in), stride_along(in, dim), (T *)out->data_, oml_geom_of(out),
      stride_along(out, dim), ls, log_);
  return oml_cuda_launched("softmax");
}

template <typename T>
static int softmax_backward_typed(const oml_tensor *y, const oml_tensor *g, oml_tensor *gi, int32_t dim,
                                  int32_t log_) {
  unsigned blocks, threads;
  lines_shape ls = lines_of(y, dim, &blocks, &threads);
  if (ls.lines == 0) return 0;
  if (oml_cuda_use(gi->device_)) return -1;
  softmax_backward_kernel<T><<<blocks, threads, 0, oml_cuda_stream()>>>(
      (const T *)y->data_, oml_geom_of(y), stride_along(y, dim), (const T *)g->data_, oml_geom_of(g),
      stride_along(g, dim), (T *)gi->data_, oml_geom_of(gi), stride_along(gi, dim), ls, log_);
  return oml_cuda_launched("softmax's backward");
}

extern "C" int oml_cuda_softmax_forward(const oml_tensor *input, oml_tensor *out, int32_t dim, int32_t log) {
  if (input->dtype_ == OML_FLOAT32) return softmax_forward_typed<float>(input, out, dim, log);
  return softmax_forward_typed<double>(input, out, dim, log);
}

extern "C" int oml_cuda_softmax_backward(const oml_tensor *output, const oml_tensor *grad_out, oml_tensor *grad_input,
                                         int32_t dim, int32_t log) {
  if (output->dtype_ == OML_FLOAT32) return softmax_backward_typed<float>(output, grad_out, grad_input, dim, log);
  return softmax_backward_typed<double>(output, grad_out, grad_input, dim, log);
}
