/* cpu/interpolate.h — CPU kernels for bicubic interpolation of [N,C,H,W].
 * Arguments are already checked: float32 or float64, 4-d, outputs prepared
 * and apart from the inputs. Return -1 (with the error set) only when the
 * tap tables cannot be allocated. */
#ifndef OML_CPU_INTERPOLATE_H
#define OML_CPU_INTERPOLATE_H

#include "../core/internal.h"

/* input [N,C,H,W] -> out [N,C,out_h,out_w] (out's sizes give out_h, out_w) */
int oml_cpu_interpolate_bicubic_forward(const oml_tensor *input, oml_tensor *out, int32_t align_corners,
                                        double scale_h, double scale_w);
/* grad_out [N,C,out_h,out_w] -> grad_input [N,C,H,W] (written, not accumulated) */
int oml_cpu_interpolate_bicubic_backward(const oml_tensor *grad_out, oml_tensor *grad_input, int32_t align_corners,
                                         double scale_h, double scale_w);

#endif
