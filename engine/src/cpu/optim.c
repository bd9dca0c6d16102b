/* cpu/optim.c — the optimizers' fused updates over contiguous tensors: one
 * loop per dtype, split on whether a momentum buffer is kept so that each
 * loop is straight-line code the compiler vectorises. Elements are
 * independent, so OpenMP's split cannot change the result. */
#include "optim.h"

#define SGD_LOOP(SUFFIX, T)                                                                     \
  static void sgd_##SUFFIX(oml_tensor *param, const oml_tensor *grad, oml_tensor *momentum_buffer, \
                           oml_sgd_scalars s) {                                                 \
    T *restrict p = (T *)param->data_;                                                          \
    const T *restrict g = (const T *)grad->data_;                                               \
    int64_t n = param->numel_;                                                                  \
    if (momentum_buffer != NULL) {                                                              \
      T *restrict b = (T *)momentum_buffer->data_;                                              \
      _Pragma("omp parallel for if (oml_parallel_ok(n)) schedule(static)")                      \
      for (int64_t i = 0; i < n; i++) oml_sgd_element_##SUFFIX(p + i, g[i], b + i, s);          \
    } else {                                                                                    \
      s.momentum = 0;                                                                           \
      _Pragma("omp parallel for if (oml_parallel_ok(n)) schedule(static)")                      \
      for (int64_t i = 0; i < n; i++) oml_sgd_element_##SUFFIX(p + i, g[i], NULL, s);           \
    }                                                                                           \
  }

#define ADAM_LOOP(SUFFIX, T)                                                                    \
  static void adam_##SUFFIX(oml_tensor *param, const oml_tensor *grad, oml_tensor *exp_avg,     \
                            oml_tensor *exp_avg_sq, oml_adam_scalars s) {                       \
    T *restrict p = (T *)param->data_;                                                          \
    const T *restrict g = (const T *)grad->data_;                                               \
    T *restrict m = (T *)exp_avg->data_;                                                        \
    T *restrict v = (T *)exp_avg_sq->data_;                                                     \
    int64_t n = param->numel_;                                                                  \
    _Pragma("omp parallel for if (oml_parallel_ok(n)) schedule(static)")                        \
    for (int64_t i = 0; i < n; i++) oml_adam_element_##SUFFIX(p + i, g[i], m + i, v + i, s);    \
  }

SGD_LOOP(f32, float)
SGD_LOOP(f64, double)
ADAM_LOOP(f32, float)
ADAM_LOOP(f64, double)

void oml_cpu_sgd_step(oml_tensor *param, const oml_tensor *grad, oml_tensor *momentum_buffer, oml_sgd_scalars s) {
  if (param->numel_ == 0) return;
  switch (param->dtype_) {
  case OML_FLOAT32: sgd_f32(param, grad, momentum_buffer, s); break;
  case OML_FLOAT64: sgd_f64(param, grad, momentum_buffer, s); break;
  }
}

void oml_cpu_adam_step(oml_tensor *param, const oml_tensor *grad, oml_tensor *exp_avg, oml_tensor *exp_avg_sq,
                       oml_adam_scalars s) {
  if (param->numel_ == 0) return;
  switch (param->dtype_) {
  case OML_FLOAT32: adam_f32(param, grad, exp_avg, exp_avg_sq, s); break;
  case OML_FLOAT64: adam_f64(param, grad, exp_avg, exp_avg_sq, s); break;
  }
}
