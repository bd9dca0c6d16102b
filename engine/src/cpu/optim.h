/* cpu/optim.h — CPU kernels of the optimizers' fused updates (arguments
 * already checked by ops/optim.c); the per-element math, shared with the
 * CUDA kernels, is core/optim_math.h's. */
#ifndef OML_CPU_OPTIM_H
#define OML_CPU_OPTIM_H

#include "../core/internal.h"
#include "../core/optim_math.h"

/* param, grad and the buffers: contiguous, one shape and dtype (float32 or
 * float64), written tensors apart from each other; momentum_buffer is NULL
 * when s.momentum is 0. */
void oml_cpu_sgd_step(oml_tensor *param, const oml_tensor *grad, oml_tensor *momentum_buffer, oml_sgd_scalars s);
void oml_cpu_adam_step(oml_tensor *param, const oml_tensor *grad, oml_tensor *exp_avg, oml_tensor *exp_avg_sq,
                       oml_adam_scalars s);

#endif
