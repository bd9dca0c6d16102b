/* scalar_math.h — per-element math shared by the CPU and CUDA kernels, so
 * that the CPU specs cover the math the GPU runs. */
#ifndef OML_SCALAR_MATH_H
#define OML_SCALAR_MATH_H

#include <stdint.h>

#ifdef __CUDACC__
#define OML_HD __host__ __device__
#else
#define OML_HD
#endif

/* NaN-propagating minimum and maximum, as torch.minimum / torch.maximum */
#define OML_MIN_NAN(x, y) (((x) != (x) || (x) < (y)) ? (x) : (y))
#define OML_MAX_NAN(x, y) (((x) != (x) || (x) > (y)) ? (x) : (y))

/* Integer power by squaring with wrap-around; *bad is set for a negative
 * exponent (which has no integer result except for bases 1 and -1). */
OML_HD static inline int64_t oml_ipow(int64_t x, int64_t y, int *bad) {
  if (y < 0) {
    if (x == 1) return 1;
    if (x == -1) return (y & 1) ? -1 : 1;
    *bad = 1;
    return 0;
  }
  uint64_t r = 1, b = (uint64_t)x;
  while (y) {
    if (y & 1) r *= b;
    b *= b;
    y >>= 1;
  }
  return (int64_t)r;
}

/* C's remainder (sign of the dividend), defined for every input: *bad is
 * set for a zero divisor, and x % -1 (which traps for the minimum value) is 0. */
OML_HD static inline int64_t oml_ifmod(int64_t x, int64_t y, int *bad) {
  if (y == 0) { *bad = 2; return 0; }
  if (y == -1) return 0;
  return x % y;
}

#endif /* OML_SCALAR_MATH_H */
