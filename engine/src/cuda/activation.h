/* cuda/activation.h — CUDA kernels for the activations and softmax, as
 * cpu/activation.h: arguments checked, float32 or float64, one device,
 * outputs prepared and apart from the inputs they do not alias. */
#ifndef OML_CUDA_ACTIVATION_H
#define OML_CUDA_ACTIVATION_H

#include "../core/internal.h"

#ifdef __cplusplus
extern "C" {
#endif

int oml_cuda_activation_forward(const oml_tensor *input, oml_tensor *out, int32_t kind);
int oml_cuda_activation_backward(const oml_tensor *input, const oml_tensor *grad_out, oml_tensor *grad_input,
                                 int32_t kind);
/* along dim (0-based; any dim of a 0-d tensor is its one element) */
int oml_cuda_softmax_forward(const oml_tensor *input, oml_tensor *out, int32_t dim, int32_t log);
int oml_cuda_softmax_backward(const oml_tensor *output, const oml_tensor *grad_out, oml_tensor *grad_input,
                              int32_t dim, int32_t log);

#ifdef __cplusplus
}
#endif

#endif
