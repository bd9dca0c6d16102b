/* cuda/optim.h — CUDA kernels of the optimizers' fused updates (arguments
 * already checked by ops/optim.c), with core/optim_math.h's per-element math. */
#ifndef OML_CUDA_OPTIM_H
#define OML_CUDA_OPTIM_H

#include "../core/internal.h"
#include "../core/optim_math.h"

#ifdef __cplusplus
extern "C" {
#endif

/* oml_cpu_sgd_step and oml_cpu_adam_step (cpu/optim.h) on a device. */
int oml_cuda_sgd_step(oml_tensor *param, const oml_tensor *grad, oml_tensor *momentum_buffer, oml_sgd_scalars s);
int oml_cuda_adam_step(oml_tensor *param, const oml_tensor *grad, oml_tensor *exp_avg, oml_tensor *exp_avg_sq,
                       oml_adam_scalars s);

#ifdef __cplusplus
}
#endif

#endif
