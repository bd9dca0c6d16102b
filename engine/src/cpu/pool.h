/* cpu/pool.h — CPU kernels for 2-d max, average and adaptive average
 * pooling. Arguments are already checked; every tensor is contiguous, the
 * data ones [planes, H, W] (planes = N*C) of one dtype (float32/float64). */
#ifndef OML_CPU_POOL_H
#define OML_CPU_POOL_H

#include "../core/internal.h"
#include "../core/pool_math.h"

/* indices (int64, 1-based within each plane) may be NULL */
void oml_cpu_max_pool2d_forward(const oml_tensor *x, oml_tensor *out, oml_tensor *indices, const oml_pool2d *p);
/* indices already checked to lie in 1..H*W */
void oml_cpu_max_pool2d_backward(const oml_tensor *grad_out, const oml_tensor *indices, oml_tensor *grad_input,
                                 const oml_pool2d *p);
void oml_cpu_avg_pool2d_forward(const oml_tensor *x, oml_tensor *out, const oml_pool2d *p);
void oml_cpu_avg_pool2d_backward(const oml_tensor *grad_out, oml_tensor *grad_input, const oml_pool2d *p);
void oml_cpu_adaptive_avg_pool2d_forward(const oml_tensor *x, oml_tensor *out, const oml_pool2d *p);
void oml_cpu_adaptive_avg_pool2d_backward(const oml_tensor *grad_out, oml_tensor *grad_input, const oml_pool2d *p);

#endif
