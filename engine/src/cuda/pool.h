/* cuda/pool.h — CUDA kernels for 2-d max, average and adaptive average
 * pooling, the shape of cpu/pool.h's: arguments already checked, every
 * tensor contiguous and on one device, the data ones [planes, H, W] of one
 * dtype (float32/float64). Return 0, or -1 with the error set. */
#ifndef OML_CUDA_POOL_H
#define OML_CUDA_POOL_H

#include "../core/internal.h"
#include "../core/pool_math.h"

#ifdef __cplusplus
extern "C" {
#endif

/* indices (int64, 1-based within each plane) may be NULL */
int oml_cuda_max_pool2d_forward(const oml_tensor *x, oml_tensor *out, oml_tensor *indices, const oml_pool2d *p);
/* an index outside 1..H*W is skipped (the CPU path refuses it; checking here
 * would need a host round trip) */
int oml_cuda_max_pool2d_backward(const oml_tensor *grad_out, const oml_tensor *indices, oml_tensor *grad_input,
                                 const oml_pool2d *p);
int oml_cuda_avg_pool2d_forward(const oml_tensor *x, oml_tensor *out, const oml_pool2d *p);
int oml_cuda_avg_pool2d_backward(const oml_tensor *grad_out, oml_tensor *grad_input, const oml_pool2d *p);
int oml_cuda_adaptive_avg_pool2d_forward(const oml_tensor *x, oml_tensor *out, const oml_pool2d *p);
int oml_cuda_adaptive_avg_pool2d_backward(const oml_tensor *grad_out, oml_tensor *grad_input, const oml_pool2d *p);

#ifdef __cplusplus
}
#endif

#endif
