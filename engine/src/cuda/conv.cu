/* cuda/conv.cu — 2-d convolution on a device.
 *
 * float32 runs through cuDNN's convolutions when the build has cuDNN
 * (OML_WITH_CUDNN), with the math mode of oml_cuda_get_math(): exact float32
 * (FMA math), TF32 tensor cores, or operands rounded to bfloat16/float16
 * (half.h) with float32 accumulation, the result converted back to float32.
 * float64, builds without cuDNN and geometries cuDNN refuses run an
 * implicit-GEMM kernel: a 16x16-tiled product whose operand tiles are read
 * from the input, weight and grad_out where they lie (there the 16-bit modes
 * round the operands the same way and TF32 computes in full float32).
 * Biases and their gradients are small kernels of their own in every path;
 * grad_bias sums in float64 as the CPU does. */
#include "conv.h"
#include "cuda_common.cuh"

#ifdef OML_WITH_CUDNN
#include "cublas.h"

#include <cudnn.h>
#include <mutex>
#endif

/* ---- biases ---------------------------------------------------------------- */

/* out [n, o, plane] += bias[o] */
template <typename T>
__global__ void bias_add_kernel(T *out, const T *bias, int64_t bias_stride, int64_t o, int64_t plane, int64_t n) {
  OML_CUDA_LOOP(i, n) out[i] += bias[((i / plane) % o) * bias_stride];
}

/* grad_bias[oc] += grad_out[:, oc] summed in float64, one block per channel */
template <typename T>
__global__ void bias_grad_kernel(const T *go, T *gb, int64_t gb_stride, int64_t n, int64_t o, int64_t plane) {
  __shared__ double shared[32];
  for (int64_t oc = blockIdx.x; oc < o; oc += gridDim.x) {
    double part = 0;
    for (int64_t e = threadIdx.x; e < n * plane; e += blockDim.x)
      part += go[((e / plane) * o + oc) * plane + e % plane];
    double sum = oml_cuda_block_sum(part, shared);
    if (threadIdx.x == 0) gb[oc * gb_stride] += (T)sum;
  }
}

static int add_bias(const oml_tensor *bias, oml_tensor *out, const oml_conv2d_geometry *g) {
  if (bias == NULL || out->numel_ == 0) return 0;
  return oml_cuda_switch_float(out->dtype_, [&](auto zero) {
    using T = decltype(zero);
    bias_add_kernel<T><<<oml_cuda_blocks(out->numel_), OML_CUDA_THREADS, 0, oml_cuda_stream()>>>(
        (T *)out->data_, (const T *)bias->data_, bias->stride_[0], g->o, g->ho * g->wo, out->numel_);
    return oml_cuda_launched("the convolution's bias kernel");
  });
}

/* grad_out contiguous */
static int bias_grad(const oml_tensor *grad_out, oml_tensor *grad_bias, const oml_conv2d_geometry *g) {
  if (grad_bias == NULL || g->o == 0) return 0;
  return oml_cuda_switch_float(grad_out->dtype_, [&](auto zero) {
    using T = decltype(zero);
    unsigned blocks = (unsigned)(g->o > 65535 ? 65535 : g->o);
    bias_grad_kernel<T><<<blocks, OML_CUDA_THREADS, 0, oml_cuda_stream()>>>(
        (const T *)grad_out->data_, (T *)grad_bias->data_, grad_bias->stride_[0], g->n, g->o, g->ho * g->wo);
    return oml_cuda_launched("the convolution's bias gradient kernel");
  });
}

/* ---- the 16-bit math modes ------------------------------------------------- */

static int half_math(int32_t dtype) {
  int32_t math = oml_cuda_get_math();
  return dtype == OML_FLOAT32 && (math == OML_MATH_BFLOAT16 || math == OML_MATH_FLOAT16) ? math : 0;
}

/* out (unset) = t contiguous, and for a 16-bit math mode rounded to it and
 * back to float32 (the implicit GEMM then multiplies rounded operands) */
static int operand(const oml_tensor *t, int32_t math, oml_tensor *out) {
  if (math == 0) return oml_tensor_contiguous(t, out);
  int rc = oml_tensor_empty(out, t->ndim_, t->size_, OML_FLOAT32, t->device_);
  if (rc == 0 && math == OML_MATH_BFLOAT16)
    rc = oml_cuda_map1<float, float>(t, out, [] __device__(float x) {
      return oml_bfloat16_to_float(oml_float_to_bfloat16(x));
    });
  else if (rc == 0)
    rc = oml_cuda_map1<float, float>(t, out, [] __device__(float x) {
      return oml_half_to_float(oml_float_to_half(x));
    });
  return rc;
}

/* ---- implicit GEMM -----------------------------------------------------------
 * Per group, C[M, N] (+)= A[M, K] B[K, N] where
 *   forward:     A = weight [og, cg*kh*kw], B = unfolded input [cg*kh*kw, n*ho*wo], C = out
 *   grad_input:  A = weight^T [cg, og*kh*kw], B = grad_out spread back [og*kh*kw, n*h*w], C = grad_input
 *   grad_weight: A = grad_out [og, n*ho*wo], B = unfolded input^T [n*ho*wo, cg*kh*kw], C += grad_weight
 * All tensors contiguous. grad_weight splits K over blocks, adding with atomicAdd. */

#define TILE 16

enum { FORWARD, GRAD_INPUT, GRAD_WEIGHT };

struct conv_dims {
  int64_t n, c, h, w, o, kh, kw, ho, wo, sh, sw, ph, pw, dh, dw, groups, cg, og;
};

static conv_dims dims_of(const oml_conv2d_geometry *g) {
  conv_dims d = {g->n, g->c, g->h, g->w, g->o, g->kh, g->kw, g->ho, g->wo, g->stride_h, g->stride_w,
                 g->pad_h, g->pad_w, g->dilation_h, g->dilation_w, g->groups, g->c / g->groups, g->o / g->groups};
  return d;
}

/* input[b, group's channel ci, tap (ky, kx) of output pixel (oy, ox)], 0 in the padding */
template <typename T>
__device__ static inline T input_tap(const conv_dims &d, const T *x, int64_t grp, int64_t tap, int64_t pixel) {
  int64_t ci = tap / (d.kh * d.kw), ky = (tap / d.kw) % d.kh, kx = tap % d.kw;
  int64_t b = pixel / (d.ho * d.wo), oy = (pixel / d.wo) % d.ho, ox = pixel % d.wo;
  int64_t iy = oy * d.sh - d.ph + ky * d.dh, ix = ox * d.sw - d.pw + kx * d.dw;
  if (iy < 0 || iy >= d.h || ix < 0 || ix >= d.w) return T(0);
  return x[((b * d.c + grp * d.cg + ci) * d.h + iy) * d.w + ix];
}

template <typename T, int KIND>
__device__ static inline T load_a(const conv_dims &d, const T *a, int64_t grp, int64_t m, int64_t k) {
  const int64_t taps = d.kh * d.kw;
  if (KIND == FORWARD) return a[(grp * d.og + m) * d.cg * taps + k];
  if (KIND == GRAD_INPUT) return a[((grp * d.og + k / taps) * d.cg + m) * taps + k % taps];
  /* GRAD_WEIGHT: grad_out[b, group's channel m, pixel k] */
  int64_t plane = d.ho * d.wo, b = k / plane;
  return a[(b * d.o + grp * d.og + m) * plane + k % plane];
}

template <typename T, int KIND>
__device__ static inline T load_b(const conv_dims &d, const T *bm, int64_t grp, int64_t k, int64_t col) {
  if (KIND == FORWARD) return input_tap(d, bm, grp, k, col);
  if (KIND == GRAD_WEIGHT) return input_tap(d, bm, grp, col, k);
  /* GRAD_INPUT: grad_out at the output pixel whose tap (ky, kx) of channel
   * oc reads input pixel col, 0 if none does */
  const int64_t taps = d.kh * d.kw;
  int64_t oc = k / taps, ky = (k / d.kw) % d.kh, kx = k % d.kw;
  int64_t b = col / (d.h * d.w), iy = (col / d.w) % d.h, ix = col % d.w;
  int64_t ty = iy + d.ph - ky * d.dh, tx = ix + d.pw - kx * d.dw;
  if (ty < 0 || tx < 0 || ty % d.sh != 0 || tx % d.sw != 0) return T(0);
  int64_t oy = ty / d.sh, ox = tx / d.sw;
  if (oy >= d.ho || ox >= d.wo) return T(0);
  return bm[((b * d.o + grp * d.og + oc) * d.ho + oy) * d.wo + ox];
}

template <typename T, int KIND>
__device__ static inline void store_c(const conv_dims &d, T *c, int64_t grp, int64_t m, int64_t col, T acc) {
  if (KIND == FORWARD) {
    int64_t plane = d.ho * d.wo, b = col / plane;
    c[(b * d.o + grp * d.og + m) * plane + col % plane] = acc;
  } else if (KIND == GRAD_INPUT) {
    int64_t plane = d.h * d.w, b = col / plane;
    c[(b * d.c + grp * d.cg + m) * plane + col % plane] = acc;
  } else {
    atomicAdd(c + (grp * d.og + m) * d.cg * d.kh * d.kw + col, acc);
  }
}

/* blockIdx.z runs over groups x K-splits; each block one TILE x TILE tile of C */
template <typename T, int KIND>
__global__ void igemm_kernel(conv_dims d, const T *a, const T *bm, T *c, int64_t M, int64_t N, int64_t K,
                             int64_t splits) {
  __shared__ T as[TILE][TILE + 1], bs[TILE][TILE + 1];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t m = (int64_t)blockIdx.y * TILE + ty, col = (int64_t)blockIdx.x * TILE + tx;
  const int64_t chunk = (K + splits - 1) / splits;
  for (int64_t z = blockIdx.z; z < d.groups * splits; z += gridDim.z) {
    const int64_t grp = z % d.groups, k_begin = (z / d.groups) * chunk;
    const int64_t k_end = k_begin + chunk < K ? k_begin + chunk : K;
    T acc = 0;
    for (int64_t k0 = k_begin; k0 < k_end; k0 += TILE) {
      as[ty][tx] = m < M && k0 + tx < k_end ? load_a<T, KIND>(d, a, grp, m, k0 + tx) : T(0);
      bs[ty][tx] = k0 + ty < k_end && col < N ? load_b<T, KIND>(d, bm, grp, k0 + ty, col) : T(0);
      __syncthreads();
      for (int kk = 0; kk < TILE; kk++) acc += as[ty][kk] * bs[kk][tx];
      __syncthreads();
    }
    if (m < M && col < N && (KIND != GRAD_WEIGHT || k_begin < k_end)) store_c<T, KIND>(d, c, grp, m, col, acc);
  }
}

template <int KIND>
static int igemm(const oml_conv2d_geometry *g, const oml_tensor *a, const oml_tensor *b, oml_tensor *c) {
  conv_dims d = dims_of(g);
  const int64_t taps = d.kh * d.kw, pixels = d.n * d.ho * d.wo;
  int64_t M = d.og, N = pixels, K = d.cg * taps;
  if (KIND == GRAD_INPUT) M = d.cg, N = d.n * d.h * d.w, K = d.og * taps;
  if (KIND == GRAD_WEIGHT) M = d.og, N = d.cg * taps, K = pixels;
  if (M == 0 || N == 0) return 0;
  /* grad_weight: chunks of at least 4096 terms, at most 64 of them */
  int64_t splits = KIND == GRAD_WEIGHT ? (K + 4095) / 4096 : 1;
  if (splits > 64) splits = 64;
  if (splits < 1) splits = 1;
  int64_t gx = (N + TILE - 1) / TILE, gy = (M + TILE - 1) / TILE, gz = d.groups * splits;
  if (gx > INT32_MAX || gy > 65535)
    return oml_error("convolution of %lld x %lld outputs per group is too large for the CUDA kernel",
                     (long long)M, (long long)N);
  dim3 grid((unsigned)gx, (unsigned)gy, (unsigned)(gz > 65535 ? 65535 : gz)), block(TILE, TILE);
  return oml_cuda_switch_float(c->dtype_, [&](auto zero) {
    using T = decltype(zero);
    igemm_kernel<T, KIND><<<grid, block, 0, oml_cuda_stream()>>>(d, (const T *)a->data_, (const T *)b->data_,
                                                                  (T *)c->data_, M, N, K, splits);
    return oml_cuda_launched("the convolution kernel");
  });
}

/* The implicit-GEMM path of one product (operands as igemm's); math rounds
 * the float32 operands first. */
template <int KIND>
static int igemm_run(const oml_conv2d_geometry *g, const oml_tensor *a, const oml_tensor *b, oml_tensor *c,
                     int32_t math) {
  oml_tensor ar = oml_tensor_unset(), br = oml_tensor_unset();
  int rc = operand(a, math, &ar);
  if (rc == 0) rc = operand(b, math, &br);
  if (rc == 0) rc = igemm<KIND>(g, &ar, &br, c);
  oml_tensor_release(&ar);
  oml_tensor_release(&br);
  return rc;
}

/* ---- cuDNN ------------------------------------------------------------------ */

#ifdef OML_WITH_CUDNN

#define MAX_DEVICES 64
/* cuDNN's own work space is at most this; algorithms asking more are passed over */
#define MAX_WORKSPACE ((size_t)1 << 30)

static int cudnn_ok(cudnnStatus_t st, const char *what) {
  if (st == CUDNN_STATUS_SUCCESS) return 0;
  return oml_error("%s: cuDNN %s", what, oml_cudnn->cudnnGetErrorString(st));
}

/* The handle of `device` (made current), created on first use and bound to oml_cuda_stream(). */
static cudnnHandle_t cudnn_handle(int32_t device) {
  static cudnnHandle_t handles[MAX_DEVICES];
  static std::mutex lock;
  if (device < 0 || device >= MAX_DEVICES) {
    oml_error("cuda:%d: cuDNN handles are kept for at most %d devices", device, MAX_DEVICES);
    return NULL;
  }
  if (oml_cuda_use(device) || oml_cudnn_load()) return NULL;
  std::lock_guard<std::mutex> hold(lock);
  if (handles[device] == NULL) {
    cudnnHandle_t h;
    if (cudnn_ok(oml_cudnn->cudnnCreate(&h), "creating the cuDNN handle")) return NULL;
    if (cudnn_ok(oml_cudnn->cudnnSetStream(h, oml_cuda_stream()), "binding the cuDNN handle to the stream")) {
      oml_cudnn->cudnnDestroy(h);
      return NULL;
    }
    handles[device] = h;
  }
  return handles[device];
}

/* The descriptors of one float32 convolution in one math mode. */
struct cudnn_conv {
  cudnnHandle_t h = NULL;
  cudnnTensorDescriptor_t x = NULL, y = NULL;
  cudnnFilterDescriptor_t w = NULL;
  cudnnConvolutionDescriptor_t conv = NULL;
  int tensor_ops = 0; /* TF32 or 16-bit: tensor-core algorithms allowed */
  cudnnStatus_t status = CUDNN_STATUS_SUCCESS;

  ~cudnn_conv() {
    if (x) oml_cudnn->cudnnDestroyTensorDescriptor(x);
    if (y) oml_cudnn->cudnnDestroyTensorDescriptor(y);
    if (w) oml_cudnn->cudnnDestroyFilterDescriptor(w);
    if (conv) oml_cudnn->cudnnDestroyConvolutionDescriptor(conv);
  }

  /* status records the first failing call, so that a refused geometry can fall back */
  int check(cudnnStatus_t st, const char *what) {
    if (status == CUDNN_STATUS_SUCCESS) status = st;
    return cudnn_ok(st, what);
  }

  int init(const oml_conv2d_geometry *g, int32_t device, int32_t math) {
    h = cudnn_handle(device);
    if (h == NULL) return -1;
    cudnnDataType_t data = math == OML_MATH_BFLOAT16  ? CUDNN_DATA_BFLOAT16
                           : math == OML_MATH_FLOAT16 ? CUDNN_DATA_HALF
                                                      : CUDNN_DATA_FLOAT;
    tensor_ops = math != OML_MATH_FLOAT32;
    if (check(oml_cudnn->cudnnCreateTensorDescriptor(&x), "a cuDNN descriptor") ||
        check(oml_cudnn->cudnnCreateTensorDescriptor(&y), "a cuDNN descriptor") ||
        check(oml_cudnn->cudnnCreateFilterDescriptor(&w), "a cuDNN descriptor") ||
        check(oml_cudnn->cudnnCreateConvolutionDescriptor(&conv), "a cuDNN descriptor"))
      return -1;
    return check(oml_cudnn->cudnnSetTensor4dDescriptor(x, CUDNN_TENSOR_NCHW, data, (int)g->n, (int)g->c, (int)g->h, (int)g->w),
                 "describing the input") ||
                   check(oml_cudnn->cudnnSetTensor4dDescriptor(y, CUDNN_TENSOR_NCHW, data, (int)g->n, (int)g->o, (int)g->ho,
                                                    (int)g->wo),
                         "describing the output") ||
                   check(oml_cudnn->cudnnSetFilter4dDescriptor(w, data, CUDNN_TENSOR_NCHW, (int)g->o, (int)(g->c / g->groups),
                                                    (int)g->kh, (int)g->kw),
                         "describing the weight") ||
                   check(oml_cudnn->cudnnSetConvolution2dDescriptor(conv, (int)g->pad_h, (int)g->pad_w, (int)g->stride_h,
                                                         (int)g->stride_w, (int)g->dilation_h, (int)g->dilation_w,
                                                         CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
                         "describing the convolution") ||
                   check(oml_cudnn->cudnnSetConvolutionGroupCount(conv, (int)g->groups), "setting the groups") ||
                   check(oml_cudnn->cudnnSetConvolutionMathType(conv, tensor_ops ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH),
                         "setting the math type")
               ? -1
               : 0;
  }

  /* The first of cuDNN's heuristic choices that ran, fits the math mode and
   * the work-space limit; its math type is set on conv. Exact float32 falls
   * back to algorithm 0 (implicit GEMM) in FMA math when none fits. */
  template <typename Perf>
  int pick(const Perf *perf, int count, const char *what, int *algo) {
    for (int i = 0; i < count; i++) {
      if (perf[i].status != CUDNN_STATUS_SUCCESS || perf[i].memory > MAX_WORKSPACE) continue;
      /* exact float32 takes FMA algorithms only; no mode lets float32 data drop to float16 */
      if (!tensor_ops && perf[i].mathType != CUDNN_FMA_MATH) continue;
      if (perf[i].mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION) continue;
      *algo = (int)perf[i].algo;
      return check(oml_cudnn->cudnnSetConvolutionMathType(conv, perf[i].mathType), what);
    }
    if (!tensor_ops) {
      *algo = 0;
      return 0;
    }
    status = CUDNN_STATUS_NOT_SUPPORTED;
    return oml_error("%s: cuDNN offers no algorithm for this convolution", what);
  }
};

/* Scratch that frees itself. */
struct scratch {
  void *p = NULL;
  int64_t nbytes = 0;
  int32_t device = 0;
  int get(int64_t n, int32_t dev) {
    if (n == 0) return 0;
    p = oml_alloc(n, dev);
    nbytes = n;
    device = dev;
    return p ? 0 : -1;
  }
  ~scratch() {
    if (p) oml_free(p, nbytes, device);
  }
};

__device__ static inline float half_to_float(uint16_t v, int32_t math) {
  return math == OML_MATH_BFLOAT16 ? oml_bfloat16_to_float(v) : oml_half_to_float(v);
}

/* out[i] = 16-bit src[i] as float32, plus (accumulate) out[i] */
__global__ void widen_kernel(const uint16_t *src, float *out, int64_t n, int32_t math, int accumulate) {
  OML_CUDA_LOOP(i, n) {
    float v = half_to_float(src[i], math);
    out[i] = accumulate ? out[i] + v : v;
  }
}

static int widen(const oml_tensor *src, oml_tensor *out, int32_t math, int accumulate) {
  if (out->numel_ == 0) return 0;
  widen_kernel<<<oml_cuda_blocks(out->numel_), OML_CUDA_THREADS, 0, oml_cuda_stream()>>>(
      (const uint16_t *)src->data_, (float *)out->data_, out->numel_, math, accumulate);
  return oml_cuda_launched("converting the convolution's result");
}

/* 16-bit operands: t (float32, contiguous) rounded, or t itself */
static int cudnn_operand(const oml_tensor *t, int32_t math, oml_tensor *out) {
  return math == OML_MATH_BFLOAT16 || math == OML_MATH_FLOAT16 ? oml_cuda_round_operand(t, math, out)
                                                                 : oml_tensor_alias(t, out);
}

/* cuDNN's legacy API counts in int: every size and tensor must fit */
static int cudnn_fits(const oml_conv2d_geometry *g, int32_t dtype) {
  const int64_t limit = INT32_MAX;
  return dtype == OML_FLOAT32 && g->n > 0 && g->c > 0 && g->o > 0 && g->n * g->c * g->h * g->w <= limit &&
         g->n * g->o * g->ho * g->wo <= limit && g->o * (g->c / g->groups) * g->kh * g->kw <= limit;
}

/* One product through cuDNN, operands as igemm's: forward (a = weight,
 * b = input, c = out), grad_input (a = weight, b = grad_out, c = grad_input)
 * or grad_weight (a = grad_out, b = input, c += grad_weight). *refused is
 * set when cuDNN turns the geometry down (descriptors, algorithm choice)
 * before anything ran. */
template <int KIND>
static int cudnn_run(const oml_conv2d_geometry *g, const oml_tensor *a, const oml_tensor *b, oml_tensor *c,
                     int32_t math, int *refused) {
  cudnn_conv cv;
  int algo = 0;
  size_t ws = 0;
  int rc = cv.init(g, c->device_, math), count = 0;
  if (rc == 0 && KIND == FORWARD) {
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    rc = cv.check(oml_cudnn->cudnnGetConvolutionForwardAlgorithm_v7(cv.h, cv.x, cv.w, cv.conv, cv.y,
                                                         CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &count, perf),
                  "choosing the convolution's algorithm");
    if (rc == 0) rc = cv.pick(perf, count, "the convolution", &algo);
    if (rc == 0)
      rc = cv.check(oml_cudnn->cudnnGetConvolutionForwardWorkspaceSize(cv.h, cv.x, cv.w, cv.conv, cv.y,
                                                            (cudnnConvolutionFwdAlgo_t)algo, &ws),
                    "the convolution's work space");
  } else if (rc == 0 && KIND == GRAD_INPUT) {
    cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    rc = cv.check(oml_cudnn->cudnnGetConvolutionBackwardDataAlgorithm_v7(cv.h, cv.w, cv.y, cv.conv, cv.x,
                                                              CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &count, perf),
                  "choosing the input gradient's algorithm");
    if (rc == 0) rc = cv.pick(perf, count, "the convolution's input gradient", &algo);
    if (rc == 0)
      rc = cv.check(oml_cudnn->cudnnGetConvolutionBackwardDataWorkspaceSize(cv.h, cv.w, cv.y, cv.conv, cv.x,
                                                                 (cudnnConvolutionBwdDataAlgo_t)algo, &ws),
                    "the input gradient's work space");
  } else if (rc == 0) {
    cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    rc = cv.check(oml_cudnn->cudnnGetConvolutionBackwardFilterAlgorithm_v7(cv.h, cv.x, cv.y, cv.conv, cv.w,
                                                                CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &count, perf),
                  "choosing the weight gradient's algorithm");
    if (rc == 0) rc = cv.pick(perf, count, "the convolution's weight gradient", &algo);
    if (rc == 0)
      rc = cv.check(oml_cudnn->cudnnGetConvolutionBackwardFilterWorkspaceSize(cv.h, cv.x, cv.y, cv.conv, cv.w,
                                                                   (cudnnConvolutionBwdFilterAlgo_t)algo, &ws),
                    "the weight gradient's work space");
  }
  if (rc) {
    *refused = cv.status != CUDNN_STATUS_SUCCESS;
    return -1;
  }
  const int rounded = math == OML_MATH_BFLOAT16 || math == OML_MATH_FLOAT16;
  oml_tensor ar = oml_tensor_unset(), br = oml_tensor_unset(), result = oml_tensor_unset();
  scratch space;
  rc = cudnn_operand(a, math, &ar);
  if (rc == 0) rc = cudnn_operand(b, math, &br);
  if (rc == 0 && rounded)
    rc = oml_tensor_empty(&result, c->ndim_, c->size_, math == OML_MATH_BFLOAT16 ? OML_BFLOAT16 : OML_FLOAT16,
                          c->device_);
  else if (rc == 0) rc = oml_tensor_alias(c, &result);
  if (rc == 0) rc = space.get((int64_t)ws, c->device_);
  /* grad_weight accumulates: beta = 1 into float32, or 0 into the 16-bit scratch that is then added */
  const float one = 1, beta = KIND == GRAD_WEIGHT && !rounded ? 1.0f : 0.0f;
  if (rc == 0 && KIND == FORWARD)
    rc = cudnn_ok(oml_cudnn->cudnnConvolutionForward(cv.h, &one, cv.x, br.data_, cv.w, ar.data_, cv.conv,
                                          (cudnnConvolutionFwdAlgo_t)algo, space.p, ws, &beta, cv.y, result.data_),
                  "the convolution");
  else if (rc == 0 && KIND == GRAD_INPUT)
    rc = cudnn_ok(oml_cudnn->cudnnConvolutionBackwardData(cv.h, &one, cv.w, ar.data_, cv.y, br.data_, cv.conv,
                                               (cudnnConvolutionBwdDataAlgo_t)algo, space.p, ws, &beta, cv.x,
                                               result.data_),
                  "the convolution's input gradient");
  else if (rc == 0)
    rc = cudnn_ok(oml_cudnn->cudnnConvolutionBackwardFilter(cv.h, &one, cv.x, br.data_, cv.y, ar.data_, cv.conv,
                                                 (cudnnConvolutionBwdFilterAlgo_t)algo, space.p, ws, &beta, cv.w,
                                                 result.data_),
                  "the convolution's weight gradient");
  if (rc == 0 && rounded) rc = widen(&result, c, math, KIND == GRAD_WEIGHT);
  oml_tensor_release(&ar);
  oml_tensor_release(&br);
  oml_tensor_release(&result);
  return rc;
}

#endif /* OML_WITH_CUDNN */

/* ---- entry points ------------------------------------------------------------ */

/* One product (operands as igemm's, contiguous): cuDNN when it takes it, else the implicit GEMM. */
template <int KIND>
static int conv_run(const oml_conv2d_geometry *g, const oml_tensor *a, const oml_tensor *b, oml_tensor *c) {
#ifdef OML_WITH_CUDNN
  if (cudnn_fits(g, c->dtype_) && oml_cudnn_load() == 0) { /* cuDNN found at run time */
    int refused = 0;
    int rc = cudnn_run<KIND>(g, a, b, c, oml_cuda_get_math(), &refused);
    if (rc == 0 || !refused) return rc;
  }
#endif
  return igemm_run<KIND>(g, a, b, c, half_math(c->dtype_));
}

extern "C" int oml_cuda_conv2d_forward(const oml_tensor *input, const oml_tensor *weight, const oml_tensor *bias,
                                       oml_tensor *out, const oml_conv2d_geometry *g) {
  if (out->numel_ == 0) return 0;
  if (oml_cuda_use(out->device_)) return -1;
  oml_tensor x = oml_tensor_unset();
  int rc = oml_tensor_contiguous(input, &x);
  if (rc == 0) rc = conv_run<FORWARD>(g, weight, &x, out);
  if (rc == 0) rc = add_bias(bias, out, g);
  oml_tensor_release(&x);
  return rc;
}

extern "C" int oml_cuda_conv2d_backward(const oml_tensor *input, const oml_tensor *grad_out, oml_tensor *grad_input,
                                        const oml_tensor *weight, oml_tensor *grad_weight, oml_tensor *grad_bias,
                                        const oml_conv2d_geometry *g) {
  if (oml_cuda_use(input->device_)) return -1;
  /* an empty grad_input has nothing to write; an empty batch adds nothing */
  if (grad_input && grad_input->numel_ == 0) grad_input = NULL;
  if (grad_weight && (grad_weight->numel_ == 0 || grad_out->numel_ == 0)) grad_weight = NULL;
  if (grad_bias && grad_out->numel_ == 0) grad_bias = NULL;
  if (!grad_input && !grad_weight && !grad_bias) return 0;
  oml_tensor x = oml_tensor_unset(), dy = oml_tensor_unset();
  int rc = oml_tensor_contiguous(grad_out, &dy);
  if (rc == 0 && grad_weight) rc = oml_tensor_contiguous(input, &x);
  if (rc == 0 && grad_input) rc = conv_run<GRAD_INPUT>(g, weight, &dy, grad_input);
  if (rc == 0 && grad_weight) rc = conv_run<GRAD_WEIGHT>(g, &dy, &x, grad_weight);
  if (rc == 0) rc = bias_grad(&dy, grad_bias, g);
  oml_tensor_release(&x);
  oml_tensor_release(&dy);
  return rc;
}
