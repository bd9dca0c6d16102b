/* philox.h — the Philox4x32-10 counter-based generator (Salmon, Moraes, Dror
 * and Shaw, "Parallel random numbers: as easy as 1, 2, 3", SC 2011) and the
 * conversions from its 32-bit words to numbers. Host/device code, so that a
 * CUDA kernel draws exactly the numbers the CPU specs check.
 *
 * The stream: block b of a fill is philox(counter = offset + b, key = seed),
 * four 32-bit words w[0..3]. How many elements one block serves is fixed per
 * kind of draw (the OML_*_PER_BLOCK constants), so element i of a fill
 * depends only on (seed, offset, i). */
#ifndef OML_PHILOX_H
#define OML_PHILOX_H

#include <math.h>
#include <stdint.h>

#ifdef __CUDACC__
#define OML_HD __host__ __device__
#else
#define OML_HD
#endif

#define OML_PHILOX_M0 0xD2511F53u
#define OML_PHILOX_M1 0xCD9E8D57u
#define OML_PHILOX_W0 0x9E3779B9u /* key increments: the golden ratio and sqrt(3) - 1 */
#define OML_PHILOX_W1 0xBB67AE85u

/* Elements drawn from one 128-bit block. */
#define OML_UNIFORM32_PER_BLOCK 4   /* float32 uniforms: 24 bits of each word */
#define OML_UNIFORM64_PER_BLOCK 2   /* float64 uniforms: 53 bits of each word pair */
#define OML_NORMAL32_PER_BLOCK 4    /* two Box-Muller pairs from 32-bit uniforms */
#define OML_NORMAL64_PER_BLOCK 2    /* one Box-Muller pair from 53-bit uniforms */
#define OML_BERNOULLI_PER_BLOCK 2   /* a 53-bit uniform compared with p */
#define OML_RANDINT_PER_BLOCK 1     /* the whole block as a 128-bit fraction */

typedef struct oml_philox_words {
  uint32_t w[4];
} oml_philox_words;

/* Philox4x32 with 10 rounds on a 128-bit counter c and a 64-bit key k. */
OML_HD static inline oml_philox_words oml_philox4x32_10(const uint32_t c[4], uint32_t k0, uint32_t k1) {
  uint32_t c0 = c[0], c1 = c[1], c2 = c[2], c3 = c[3];
  for (int round = 0; round < 10; round++) {
    uint64_t p0 = (uint64_t)OML_PHILOX_M0 * c0, p1 = (uint64_t)OML_PHILOX_M1 * c2;
    uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n1 = (uint32_t)p1;
    uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1, n3 = (uint32_t)p0;
    c0 = n0, c1 = n1, c2 = n2, c3 = n3;
    k0 += OML_PHILOX_W0;
    k1 += OML_PHILOX_W1;
  }
  oml_philox_words r = {{c0, c1, c2, c3}};
  return r;
}

/* Block number `block` of the stream for `seed`: the 64-bit block number
 * fills the counter's low words, the seed is the key. */
OML_HD static inline oml_philox_words oml_philox_block(uint64_t seed, uint64_t block) {
  const uint32_t c[4] = {(uint32_t)block, (uint32_t)(block >> 32), 0, 0};
  return oml_philox4x32_10(c, (uint32_t)seed, (uint32_t)(seed >> 32));
}

/* [0, 1) with the 24 high bits of a word: every float32 multiple of 2^-24. */
OML_HD static inline float oml_unit_float(uint32_t x) { return (float)(x >> 8) * 0x1p-24f; }

/* [0, 1) with the 53 high bits of the 64-bit word pair (hi, lo). */
OML_HD static inline double oml_unit_double(uint32_t hi, uint32_t lo) {
  return (double)((((uint64_t)hi << 32) | lo) >> 11) * 0x1p-53;
}

/* The high and low halves of the 128-bit product a * b. */
OML_HD static inline uint64_t oml_mul64_hi(uint64_t a, uint64_t b, uint64_t *lo) {
  uint64_t a0 = (uint32_t)a, a1 = a >> 32, b0 = (uint32_t)b, b1 = b >> 32;
  uint64_t p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
  uint64_t mid = (p00 >> 32) + (uint32_t)p01 + (uint32_t)p10;
  *lo = (mid << 32) | (uint32_t)p00;
  return p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
}

/* An integer in [0, range), range >= 1, by multiply-shift: floor(X * range /
 * 2^128) for the block read as a 128-bit fraction X (w[0] most significant).
 * Exact arithmetic, no rejection loop; its bias is below range / 2^128 <= 2^-64
 * per value, far beneath anything a test could measure. */
OML_HD static inline uint64_t oml_philox_below(oml_philox_words b, uint64_t range) {
  uint64_t x_hi = ((uint64_t)b.w[0] << 32) | b.w[1], x_lo = ((uint64_t)b.w[2] << 32) | b.w[3];
  uint64_t hi_lo, lo_lo;
  uint64_t hi_hi = oml_mul64_hi(x_hi, range, &hi_lo);
  uint64_t lo_hi = oml_mul64_hi(x_lo, range, &lo_lo);
  (void)lo_lo;
  uint64_t sum = hi_lo + lo_hi;
  return hi_hi + (sum < hi_lo); /* the carry from the middle 64 bits */
}

/* Box-Muller: two independent standard normals from u1 in (0, 1] and u2 in [0, 1). */
OML_HD static inline void oml_box_muller(double u1, double u2, double *z0, double *z1) {
  double r = sqrt(-2.0 * log(u1)), theta = 6.283185307179586 * u2;
  *z0 = r * cos(theta);
  *z1 = r * sin(theta);
}

/* ---- one block's values, per kind of draw ------------------------------- */

/* low + (high - low) * u, kept below high where rounding reached it. */
OML_HD static inline float oml_scale_float(float u, double low, double high) {
  float v = (float)(low + (high - low) * u), h = (float)high;
  return v < h ? v : nextafterf(h, (float)low);
}

OML_HD static inline double oml_scale_double(double u, double low, double high) {
  double v = low + (high - low) * u;
  return v < high ? v : nextafter(high, low);
}

OML_HD static inline void oml_uniform32_block(oml_philox_words b, double low, double high, float v[4]) {
  for (int k = 0; k < 4; k++) v[k] = oml_scale_float(oml_unit_float(b.w[k]), low, high);
}

OML_HD static inline void oml_uniform64_block(oml_philox_words b, double low, double high, double v[2]) {
  v[0] = oml_scale_double(oml_unit_double(b.w[0], b.w[1]), low, high);
  v[1] = oml_scale_double(oml_unit_double(b.w[2], b.w[3]), low, high);
}

/* The math is done in double for both dtypes, so float32 normals are the
 * float64 formula rounded once. */
OML_HD static inline void oml_normal32_block(oml_philox_words b, double mean, double std, float v[4]) {
  for (int k = 0; k < 4; k += 2) {
    double z0, z1;
    oml_box_muller(((double)b.w[k] + 1.0) * 0x1p-32, (double)b.w[k + 1] * 0x1p-32, &z0, &z1);
    v[k] = (float)(mean + std * z0);
    v[k + 1] = (float)(mean + std * z1);
  }
}

OML_HD static inline void oml_normal64_block(oml_philox_words b, double mean, double std, double v[2]) {
  double z0, z1;
  oml_box_muller(1.0 - oml_unit_double(b.w[0], b.w[1]), oml_unit_double(b.w[2], b.w[3]), &z0, &z1);
  v[0] = mean + std * z0;
  v[1] = mean + std * z1;
}

OML_HD static inline void oml_bernoulli_block(oml_philox_words b, double p, int v[2]) {
  v[0] = oml_unit_double(b.w[0], b.w[1]) < p;
  v[1] = oml_unit_double(b.w[2], b.w[3]) < p;
}

/* low + an integer below range, wrapping through uint64 so that every int64
 * range works. */
OML_HD static inline int64_t oml_randint_value(oml_philox_words b, int64_t low, uint64_t range) {
  return (int64_t)((uint64_t)low + oml_philox_below(b, range));
}

#endif /* OML_PHILOX_H */
