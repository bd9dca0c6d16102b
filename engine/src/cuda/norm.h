/* cuda/norm.h — CUDA kernels for batch norm and layer norm, the work of
 * cpu/norm.h plus the per-channel bookkeeping that ops/norm.c does on the
 * host for the CPU (parameters and statistics stay on the device).
 * Arguments are already checked and on one device; data tensors (x, dy,
 * out, dx) are contiguous and of one dtype (float32 or float64); vector
 * arguments are 1-d of that dtype, any stride, NULL for none. Return 0, or
 * -1 with the error set. */
#ifndef OML_CUDA_NORM_H
#define OML_CUDA_NORM_H

#include "../core/internal.h"
#include "../core/norm_math.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Training: batch statistics (float64 sums, two passes), save_mean and
 * save_invstd written, the running statistics updated with momentum (the
 * unbiased variance); evaluation: the running statistics. */
int oml_cuda_batch_norm_forward(const oml_tensor *x, oml_tensor *out, oml_bn_shape sh, const oml_tensor *weight,
                                const oml_tensor *bias, oml_tensor *running_mean, oml_tensor *running_var,
                                oml_tensor *save_mean, oml_tensor *save_invstd, int32_t training, double momentum,
                                double eps);
/* dx (may be NULL) written; grad_weight += sum((x - mean) * dy) * invstd and
 * grad_bias += sum(dy). mean/stat are save_mean/save_invstd in training,
 * running_mean/running_var in evaluation. */
int oml_cuda_batch_norm_backward(const oml_tensor *x, const oml_tensor *dy, oml_tensor *dx, oml_bn_shape sh,
                                 const oml_tensor *weight, oml_tensor *grad_weight, oml_tensor *grad_bias,
                                 const oml_tensor *mean, const oml_tensor *stat, int32_t training, double eps);

/* Layer norm of rows [rows, d]; w, b, save_mean, save_invstd contiguous or NULL. */
int oml_cuda_layer_norm_forward(const oml_tensor *x, oml_tensor *out, int64_t rows, int64_t d, const oml_tensor *w,
                                const oml_tensor *b, double eps, oml_tensor *save_mean, oml_tensor *save_invstd);
/* dx (may be NULL) written; grad_weight += sum(dy * xhat), grad_bias += sum(dy)
 * over the rows (each any stride or NULL); w, mean, invstd contiguous. */
int oml_cuda_layer_norm_backward(const oml_tensor *x, const oml_tensor *dy, oml_tensor *dx, int64_t rows, int64_t d,
                                 const oml_tensor *w, const oml_tensor *mean, const oml_tensor *invstd,
                                 oml_tensor *grad_weight, oml_tensor *grad_bias);

#ifdef __cplusplus
}
#endif

#endif
