/* cpu/random.h — CPU kernels for the random fills. t is a contiguous CPU
 * tensor of a dtype the kernel supports (checked by ops/random.c); offset is
 * the first counter block the fill reserved from its generator. */
#ifndef OML_CPU_RANDOM_H
#define OML_CPU_RANDOM_H

#include "../core/internal.h"

void oml_cpu_uniform(oml_tensor *t, uint64_t seed, uint64_t offset, double low, double high); /* float32/64 */
void oml_cpu_normal(oml_tensor *t, uint64_t seed, uint64_t offset, double mean, double std);  /* float32/64 */
void oml_cpu_randint(oml_tensor *t, uint64_t seed, uint64_t offset, int64_t low, uint64_t range);
void oml_cpu_bernoulli(oml_tensor *t, uint64_t seed, uint64_t offset, double p);
/* perm[0..n) becomes a permutation of 1..n (Fisher-Yates; step i draws from block offset + i) */
void oml_cpu_randperm(int64_t *perm, int64_t n, uint64_t seed, uint64_t offset);

#endif
