/* cuda/linalg.h — CUDA matrix products through cuBLAS (arguments already
 * checked by ops/linalg.c, ops/distance.c and ops/knn.c). */
#ifndef OML_CUDA_LINALG_H
#define OML_CUDA_LINALG_H

#include "../core/internal.h"

#ifdef __cplusplus
extern "C" {
#endif

/* oml_cpu_gemm's contract (cpu/linalg.h) on a device: out[i] = alpha * a[i] @
 * b[i] + beta * out[i] for every batch index i; a and b readable, out
 * writable (core/blas_layout.h) and apart from them. float32 products follow
 * oml_cuda_get_math(); float64 ones are exact. */
int oml_cuda_gemm(const oml_tensor *a, const oml_tensor *b, oml_tensor *out, double alpha, double beta);
/* The same with float32 products in the given math mode (OML_MATH_*): the
 * distances and the k-NN search ask for exact float32, as the CPU computes. */
int oml_cuda_gemm_math(const oml_tensor *a, const oml_tensor *b, oml_tensor *out, double alpha, double beta,
                       int32_t math);

#ifdef __cplusplus
}
#endif

#endif
