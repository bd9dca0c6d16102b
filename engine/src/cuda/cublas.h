/* cuda/cublas.h — what the CUDA GEMMs share (linalg.cu defines them; conv.cu
 * and the distance and k-NN kernels use them): the per-device cuBLAS handle,
 * cuBLAS statuses as oml errors, and float32 operands rounded for the
 * bfloat16/float16 math modes. C++ only (cuBLAS types). */
#ifndef OML_CUDA_CUBLAS_H
#define OML_CUDA_CUBLAS_H

#include "../core/internal.h"

#include "vendor.h"

/* The handle of `device` (made current), created on first use (cuBLAS
 * loaded then) and bound to oml_cuda_stream(); NULL with the error set
 * when cuBLAS cannot start. */
cublasHandle_t oml_cuda_cublas(int32_t device);

/* 0 when st is CUBLAS_STATUS_SUCCESS, else sets "<what>: cuBLAS <status name>" and returns -1. */
int oml_cuda_cublas_ok(cublasStatus_t st, const char *what);

/* For OML_MATH_BFLOAT16 / OML_MATH_FLOAT16: out (unset) becomes src (float32,
 * on a device, any strides) rounded to OML_BFLOAT16 / OML_FLOAT16 (round to
 * nearest even, half.h). out is contiguous except that src's zero-stride
 * (expanded) dims stay expanded, so a broadcast operand is rounded once. */
int oml_cuda_round_operand(const oml_tensor *src, int32_t math, oml_tensor *out);

#endif
