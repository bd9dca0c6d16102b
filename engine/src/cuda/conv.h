/* cuda/conv.h — CUDA 2-d convolution, the shape of cpu/conv.h's (arguments
 * already checked, on one device): cuDNN where the build has it, else an
 * implicit-GEMM kernel; float32 follows oml_cuda_get_math(). Return 0, or
 * -1 with the error set. */
#ifndef OML_CUDA_CONV_H
#define OML_CUDA_CONV_H

#ifdef __cplusplus
extern "C" {
#endif

#include "../cpu/conv.h"

/* out = conv(input, weight) + bias: input any strided view, weight and out
 * contiguous (out apart from the inputs), bias [o] any stride or NULL. */
int oml_cuda_conv2d_forward(const oml_tensor *input, const oml_tensor *weight, const oml_tensor *bias,
                            oml_tensor *out, const oml_conv2d_geometry *g);

/* grad_input = the input gradient (contiguous, apart from the others; NULL
 * to skip); grad_weight += the weight gradient (contiguous; NULL to skip);
 * grad_bias += grad_out summed over n, h, w (any stride; NULL to skip).
 * input and grad_out any strided views, weight contiguous. */
int oml_cuda_conv2d_backward(const oml_tensor *input, const oml_tensor *grad_out, oml_tensor *grad_input,
                             const oml_tensor *weight, oml_tensor *grad_weight, oml_tensor *grad_bias,
                             const oml_conv2d_geometry *g);

#ifdef __cplusplus
}
#endif

#endif
