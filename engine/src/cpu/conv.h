/* cpu/conv.h — CPU 2-d convolution kernels: im2col (unfold) + OpenBLAS GEMM
 * (arguments already checked by ops/conv.c). */
#ifndef OML_CPU_CONV_H
#define OML_CPU_CONV_H

#include "../core/internal.h"

/* The sizes of one convolution: input [n,c,h,w], weight [o,c/groups,kh,kw],
 * output [n,o,ho,wo]. */
typedef struct oml_conv2d_geometry {
  int64_t n, c, h, w, o, kh, kw, ho, wo;
  int64_t stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w, groups;
} oml_conv2d_geometry;

/* out = conv(input, weight) + bias. input any strided view; weight and out
 * contiguous, out apart from the inputs; bias [o] any strides or NULL.
 * Returns -1 (error set) only when a work buffer cannot be allocated. */
int oml_cpu_conv2d_forward(const oml_tensor *input, const oml_tensor *weight, const oml_tensor *bias,
                           oml_tensor *out, const oml_conv2d_geometry *g);

/* grad_input = conv's input gradient (grad_input contiguous, apart from the
 * others; NULL to skip); grad_weight += its weight gradient (contiguous;
 * NULL to skip); grad_bias += grad_out summed over n, h, w (any strides;
 * NULL to skip). input and grad_out any strided views, weight contiguous. */
int oml_cpu_conv2d_backward(const oml_tensor *input, const oml_tensor *grad_out, oml_tensor *grad_input,
                            const oml_tensor *weight, oml_tensor *grad_weight, oml_tensor *grad_bias,
                            const oml_conv2d_geometry *g);

/* Winograd F(2x2, 3x3) (cpu/conv_winograd.c): 1 when it takes convolutions
 * of this geometry and dtype (float32, 3x3, stride 1, no dilation or groups,
 * padding <= 2, at least 16 channels in and out). */
int oml_cpu_conv2d_winograd_fits(const oml_conv2d_geometry *g, int32_t dtype);
/* out = conv(input, weight) + bias for such a geometry: weight [o,c,3,3]
 * contiguous, out contiguous [n,o,ho,wo]; with flip, weight is read as
 * [c,o,3,3] and used transposed and turned by 180 degrees (the convolution
 * that gives grad_input). -1 only when a buffer cannot be allocated. */
int oml_cpu_conv2d_winograd(const oml_tensor *input, const float *weight, int flip, const oml_tensor *bias,
                            float *out, const oml_conv2d_geometry *g);
/* grad_weight (contiguous [o,c,3,3]) += the weight gradient of such a
 * convolution; input and grad_out any strided views. */
int oml_cpu_conv2d_winograd_grad_weight(const oml_tensor *input, const oml_tensor *grad_out, float *grad_weight,
                                        const oml_conv2d_geometry *g);

#endif
