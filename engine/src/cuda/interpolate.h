/* cuda/interpolate.h — CUDA kernels for bicubic interpolation of [N,C,H,W],
 * the shape of cpu/interpolate.h's: arguments already checked (float32 or
 * float64, 4-d, any strides, outputs prepared on the inputs' device and
 * apart from them). Return 0, or -1 with the error set. */
#ifndef OML_CUDA_INTERPOLATE_H
#define OML_CUDA_INTERPOLATE_H

#include "../core/internal.h"

#ifdef __cplusplus
extern "C" {
#endif

/* input [N,C,H,W] -> out [N,C,out_h,out_w] (out's sizes give out_h, out_w) */
int oml_cuda_interpolate_bicubic_forward(const oml_tensor *input, oml_tensor *out, int32_t align_corners,
                                         double scale_h, double scale_w);
/* grad_out [N,C,out_h,out_w] -> grad_input [N,C,H,W] (written, not accumulated) */
int oml_cuda_interpolate_bicubic_backward(const oml_tensor *grad_out, oml_tensor *grad_input, int32_t align_corners,
                                          double scale_h, double scale_w);

#ifdef __cplusplus
}
#endif

#endif
