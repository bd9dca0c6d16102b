/* half.h — float16 and bfloat16 conversions (round to nearest even), shared
 * by the CPU and CUDA code. */
#ifndef OML_HALF_H
#define OML_HALF_H

#include <stdint.h>
#include <string.h>

#ifdef __CUDACC__
#define OML_HD __host__ __device__
#else
#define OML_HD
#endif

OML_HD static inline uint32_t oml_f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
OML_HD static inline float oml_bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

OML_HD static inline float oml_half_to_float(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  if (exp == 0x1f) return oml_bits_f32(sign | 0x7f800000u | (man << 13)); /* inf, nan */
  if (exp == 0) {                                                          /* zero, subnormal */
    float f = (float)man * 5.9604644775390625e-8f;                        /* man * 2^-24 */
    return sign ? -f : f;
  }
  return oml_bits_f32(sign | ((exp + 112) << 23) | (man << 13));
}

OML_HD static inline uint16_t oml_float_to_half(float f) {
  uint32_t u = oml_f32_bits(f), sign = (u >> 16) & 0x8000;
  uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00);                  /* nan */
  if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00);                 /* overflow to inf */
  if (a < 0x38800000u) {                                                  /* subnormal or zero */
    float m = oml_bits_f32(a) * 16777216.0f;                              /* * 2^24 */
    uint32_t r = (uint32_t)m;
    float rem = m - (float)r;
    if (rem > 0.5f || (rem == 0.5f && (r & 1))) r++;
    return (uint16_t)(sign | r);
  }
  uint32_t e = ((a >> 23) - 112) << 10, man = a & 0x7fffff;
  uint32_t h = e | (man >> 13), rest = man & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) h++;
  return (uint16_t)(sign | h);
}

OML_HD static inline float oml_bfloat16_to_float(uint16_t b) { return oml_bits_f32((uint32_t)b << 16); }

OML_HD static inline uint16_t oml_float_to_bfloat16(float f) {
  uint32_t u = oml_f32_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet nan */
  u += 0x7fff + ((u >> 16) & 1);
  return (uint16_t)(u >> 16);
}

#endif /* OML_HALF_H */
