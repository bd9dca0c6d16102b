/* scalar_math.h — per-element math shared by the CPU and CUDA kernels, so
 * that the CPU specs cover the math the GPU runs. */
#ifndef OML_SCALAR_MATH_H
#define OML_SCALAR_MATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

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

/* e^x in float32 within 1.5 ulp, written without calls or branches so that
 * loops over it vectorise (libm's expf does not). x is clamped to [-104, 89],
 * where e^x is already 0 or inf in float32; NaN passes through. Cody-Waite
 * reduction x = n ln2 + r, a degree-6 polynomial for e^r, and 2^n applied as
 * two factors so that each stays a normal float. */
OML_HD static inline float oml_expf(float x) {
  float xc = x < -104.0f ? -104.0f : (x > 89.0f ? 89.0f : x);
  /* n = round(x / ln 2): adding 1.5 * 2^23 leaves n in the low mantissa bits */
  float t = fmaf(xc, 1.44269504088896341f, 12582912.0f);
  float n = t - 12582912.0f;
  uint32_t tb;
  memcpy(&tb, &t, sizeof tb);
  int32_t k = (int32_t)(tb - 0x4B400000u), half = k / 2;
  float r = fmaf(n, -0.693359375f, xc);
  r = fmaf(n, 2.12194440e-4f, r);
  float p = 1.9875691500e-4f;
  p = fmaf(p, r, 1.3981999507e-3f);
  p = fmaf(p, r, 8.3334519073e-3f);
  p = fmaf(p, r, 4.1665795894e-2f);
  p = fmaf(p, r, 1.6666665459e-1f);
  p = fmaf(p, r, 5.0000001201e-1f);
  p = fmaf(p * r, r, r) + 1.0f;
  uint32_t b1 = (uint32_t)(half + 127) << 23, b2 = (uint32_t)(k - half + 127) << 23;
  float s1, s2;
  memcpy(&s1, &b1, sizeof s1);
  memcpy(&s2, &b2, sizeof s2);
  /* NaN needs no branch (a branch would stop loops from vectorising): the
   * clamps keep it, so p and y are NaN too. */
  return p * s1 * s2;
}

#endif /* OML_SCALAR_MATH_H */
