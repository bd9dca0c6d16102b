/* cpu/activation.h — CPU kernels for the activations and softmax. Arguments
 * are already checked: one float dtype (float32 or float64), matching
 * shapes, outputs prepared and apart from the inputs they do not alias. */
#ifndef OML_CPU_ACTIVATION_H
#define OML_CPU_ACTIVATION_H

#include "../core/internal.h"

void oml_cpu_activation_forward(const oml_tensor *input, oml_tensor *out, int32_t kind);
void oml_cpu_activation_backward(const oml_tensor *input, const oml_tensor *grad_out, oml_tensor *grad_input,
                                 int32_t kind);
/* along dim (0-based; any dim of a 0-d tensor is its one element) */
void oml_cpu_softmax_forward(const oml_tensor *input, oml_tensor *out, int32_t dim, int32_t log);
void oml_cpu_softmax_backward(const oml_tensor *output, const oml_tensor *grad_out, oml_tensor *grad_input,
                              int32_t dim, int32_t log);

#endif
