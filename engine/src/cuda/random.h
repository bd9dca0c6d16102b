/* cuda/random.h — CUDA kernels for the random fills, as cpu/random.h: t is
 * a contiguous device tensor of a dtype the kernel supports (checked by
 * ops/random.c); offset is the first counter block the fill reserved from its
 * generator. Element i gets exactly the CPU's value for (seed, offset, i). */
#ifndef OML_CUDA_RANDOM_H
#define OML_CUDA_RANDOM_H

#include "../core/internal.h"

#ifdef __cplusplus
extern "C" {
#endif

int oml_cuda_uniform(oml_tensor *t, uint64_t seed, uint64_t offset, double low, double high); /* float32/64 */
int oml_cuda_normal(oml_tensor *t, uint64_t seed, uint64_t offset, double mean, double std);  /* float32/64 */
int oml_cuda_randint(oml_tensor *t, uint64_t seed, uint64_t offset, int64_t low, uint64_t range);
int oml_cuda_bernoulli(oml_tensor *t, uint64_t seed, uint64_t offset, double p);

#ifdef __cplusplus
}
#endif

#endif
