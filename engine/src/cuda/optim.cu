/* cuda/optim.cu — the optimizers' fused updates over contiguous tensors, one
 * thread per element, with the CPU's per-element math (core/optim_math.h). */
#include "cuda_common.cuh"
#include "optim.h"

/* The shared math by dtype. */
__device__ static inline void sgd_element(float *p, float g, float *buf, oml_sgd_scalars s) {
  oml_sgd_element_f32(p, g, buf, s);
}
__device__ static inline void sgd_element(double *p, double g, double *buf, oml_sgd_scalars s) {
  oml_sgd_element_f64(p, g, buf, s);
}
__device__ static inline void adam_element(float *p, float g, float *m, float *v, oml_adam_scalars s) {
  oml_adam_element_f32(p, g, m, v, s);
}
__device__ static inline void adam_element(double *p, double g, double *m, double *v, oml_adam_scalars s) {
  oml_adam_element_f64(p, g, m, v, s);
}

/* buf is NULL without momentum (s.momentum is then 0). grad may be param
 * itself: each thread reads its element before writing it. */
template <typename T>
__global__ void sgd_kernel(T *p, const T *g, T *buf, int64_t n, oml_sgd_scalars s) {
  OML_CUDA_LOOP(i, n) sgd_element(p + i, g[i], buf != NULL ? buf + i : (T *)NULL, s);
}

template <typename T>
__global__ void adam_kernel(T *p, const T *g, T *m, T *v, int64_t n, oml_adam_scalars s) {
  OML_CUDA_LOOP(i, n) adam_element(p + i, g[i], m + i, v + i, s);
}

extern "C" int oml_cuda_sgd_step(oml_tensor *param, const oml_tensor *grad, oml_tensor *momentum_buffer,
                                 oml_sgd_scalars s) {
  int64_t n = param->numel_;
  if (n == 0) return 0;
  if (oml_cuda_use(param->device_)) return -1;
  if (momentum_buffer == NULL) s.momentum = 0;
  return oml_cuda_switch_float(param->dtype_, [&](auto t) {
    using T = decltype(t);
    sgd_kernel<T><<<oml_cuda_blocks(n), OML_CUDA_THREADS, 0, oml_cuda_stream()>>>(
        (T *)param->data_, (const T *)grad->data_, momentum_buffer != NULL ? (T *)momentum_buffer->data_ : NULL, n,
        s);
    return oml_cuda_launched("the SGD step");
  });
}

extern "C" int oml_cuda_adam_step(oml_tensor *param, const oml_tensor *grad, oml_tensor *exp_avg,
                                  oml_tensor *exp_avg_sq, oml_adam_scalars s) {
  int64_t n = param->numel_;
  if (n == 0) return 0;
  if (oml_cuda_use(param->device_)) return -1;
  return oml_cuda_switch_float(param->dtype_, [&](auto t) {
    using T = decltype(t);
    adam_kernel<T><<<oml_cuda_blocks(n), OML_CUDA_THREADS, 0, oml_cuda_stream()>>>(
        (T *)param->data_, (const T *)grad->data_, (T *)exp_avg->data_, (T *)exp_avg_sq->data_, n, s);
    return oml_cuda_launched("the Adam step");
  });
}
