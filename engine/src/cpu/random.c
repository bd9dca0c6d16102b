/* cpu/random.c — the random fills on the CPU: loops over counter blocks,
 * each block independent of the others, so threads split them freely and
 * the result is the same for every thread count. The per-block math is in
 * core/philox.h, shared with the CUDA kernels. */
#include "random.h"
#include "../core/philox.h"

/* The elements [first, first + count) that block b of a fill serves. */
#define BLOCK_SPAN(b, per, n, first, count)                                    \
  int64_t first = (b) * (per);                                                 \
  int count = (int)((n) - first < (per) ? (n) - first : (per))

static int64_t blocks(int64_t n, int per) { return (n + per - 1) / per; }

/* One fill loop per (distribution, dtype): block k of the fill serves its
 * PER elements from one Philox block. */
#define BLOCK_FILL(NAME, T, PER, BLOCK_FN)                                                       \
  static void NAME(T *out, int64_t n, uint64_t seed, uint64_t offset, double p1, double p2) {    \
    int64_t nblocks = blocks(n, PER);                                                            \
    _Pragma("omp parallel for if (oml_parallel_ok(n))")                                          \
    for (int64_t k = 0; k < nblocks; k++) {                                                      \
      BLOCK_SPAN(k, PER, n, first, count);                                                       \
      T v[PER];                                                                                  \
      BLOCK_FN(oml_philox_block(seed, offset + (uint64_t)k), p1, p2, v);                         \
      for (int i = 0; i < count; i++) out[first + i] = v[i];                                    \
    }                                                                                            \
  }

BLOCK_FILL(uniform_f32, float, OML_UNIFORM32_PER_BLOCK, oml_uniform32_block)
BLOCK_FILL(uniform_f64, double, OML_UNIFORM64_PER_BLOCK, oml_uniform64_block)
BLOCK_FILL(normal_f32, float, OML_NORMAL32_PER_BLOCK, oml_normal32_block)
BLOCK_FILL(normal_f64, double, OML_NORMAL64_PER_BLOCK, oml_normal64_block)

void oml_cpu_uniform(oml_tensor *t, uint64_t seed, uint64_t offset, double low, double high) {
  if (t->dtype_ == OML_FLOAT32) uniform_f32((float *)t->data_, t->numel_, seed, offset, low, high);
  else uniform_f64((double *)t->data_, t->numel_, seed, offset, low, high);
}

void oml_cpu_normal(oml_tensor *t, uint64_t seed, uint64_t offset, double mean, double std) {
  if (t->dtype_ == OML_FLOAT32) normal_f32((float *)t->data_, t->numel_, seed, offset, mean, std);
  else normal_f64((double *)t->data_, t->numel_, seed, offset, mean, std);
}

/* ---- integer-valued fills, one typed loop per dtype ---------------------- */

#define RANDINT_LOOP(SUFFIX, T)                                                                  \
  static void randint_##SUFFIX(T *out, int64_t n, uint64_t seed, uint64_t offset, int64_t low,   \
                               uint64_t range) {                                                 \
    _Pragma("omp parallel for if (oml_parallel_ok(n))")                                          \
    for (int64_t i = 0; i < n; i++)                                                              \
      out[i] = (T)oml_randint_value(oml_philox_block(seed, offset + (uint64_t)i), low, range);   \
  }

#define BERNOULLI_LOOP(SUFFIX, T)                                                                \
  static void bernoulli_##SUFFIX(T *out, int64_t n, uint64_t seed, uint64_t offset, double p) {  \
    int64_t nblocks = blocks(n, OML_BERNOULLI_PER_BLOCK);                                        \
    _Pragma("omp parallel for if (oml_parallel_ok(n))")                                          \
    for (int64_t b = 0; b < nblocks; b++) {                                                      \
      BLOCK_SPAN(b, OML_BERNOULLI_PER_BLOCK, n, first, count);                                   \
      int v[2];                                                                                  \
      oml_bernoulli_block(oml_philox_block(seed, offset + (uint64_t)b), p, v);                   \
      for (int k = 0; k < count; k++) out[first + k] = (T)v[k];                                  \
    }                                                                                            \
  }

#define INTEGER_FILLS(SUFFIX, T) RANDINT_LOOP(SUFFIX, T) BERNOULLI_LOOP(SUFFIX, T)

INTEGER_FILLS(f32, float)
INTEGER_FILLS(f64, double)
INTEGER_FILLS(i32, int32_t)
INTEGER_FILLS(i64, int64_t)
INTEGER_FILLS(u8, uint8_t) /* uint8 and bool */

void oml_cpu_randint(oml_tensor *t, uint64_t seed, uint64_t offset, int64_t low, uint64_t range) {
  int64_t n = t->numel_;
  switch (t->dtype_) {
  case OML_FLOAT32: randint_f32((float *)t->data_, n, seed, offset, low, range); break;
  case OML_FLOAT64: randint_f64((double *)t->data_, n, seed, offset, low, range); break;
  case OML_INT32: randint_i32((int32_t *)t->data_, n, seed, offset, low, range); break;
  case OML_INT64: randint_i64((int64_t *)t->data_, n, seed, offset, low, range); break;
  default: randint_u8((uint8_t *)t->data_, n, seed, offset, low, range); break;
  }
}

void oml_cpu_bernoulli(oml_tensor *t, uint64_t seed, uint64_t offset, double p) {
  int64_t n = t->numel_;
  switch (t->dtype_) {
  case OML_FLOAT32: bernoulli_f32((float *)t->data_, n, seed, offset, p); break;
  case OML_FLOAT64: bernoulli_f64((double *)t->data_, n, seed, offset, p); break;
  case OML_INT32: bernoulli_i32((int32_t *)t->data_, n, seed, offset, p); break;
  case OML_INT64: bernoulli_i64((int64_t *)t->data_, n, seed, offset, p); break;
  default: bernoulli_u8((uint8_t *)t->data_, n, seed, offset, p); break;
  }
}

/* Sequential by nature; each swap's draw still depends only on its step. */
void oml_cpu_randperm(int64_t *perm, int64_t n, uint64_t seed, uint64_t offset) {
  for (int64_t i = 0; i < n; i++) perm[i] = i + 1;
  for (int64_t i = n - 1; i > 0; i--) {
    int64_t j = (int64_t)oml_philox_below(oml_philox_block(seed, offset + (uint64_t)i), (uint64_t)i + 1);
    int64_t tmp = perm[i];
    perm[i] = perm[j];
    perm[j] = tmp;
  }
}
