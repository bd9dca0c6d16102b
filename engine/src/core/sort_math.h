/* sort_math.h — the sort keys shared by the CPU and CUDA sorts, so that both
 * backends order elements the same way. */
#ifndef OML_SORT_MATH_H
#define OML_SORT_MATH_H

#include "scalar_math.h"

/* Order-preserving unsigned keys: key(x) < key(y) exactly when x sorts
 * before y ascending. -0.0 equals 0.0 and every NaN sorts above +inf, as in
 * PyTorch; ~key gives the descending order. */
OML_HD static inline uint32_t oml_sort_key_f32(float x) {
  if (x != x) return 0xFFFFFFFFu;
  if (x == 0) return 0x80000000u;
  uint32_t u;
  memcpy(&u, &x, sizeof u);
  return (u & 0x80000000u) ? ~u : u | 0x80000000u;
}

OML_HD static inline uint64_t oml_sort_key_f64(double x) {
  if (x != x) return 0xFFFFFFFFFFFFFFFFull;
  if (x == 0) return 0x8000000000000000ull;
  uint64_t u;
  memcpy(&u, &x, sizeof u);
  return (u & 0x8000000000000000ull) ? ~u : u | 0x8000000000000000ull;
}

OML_HD static inline uint32_t oml_sort_key_i32(int32_t x) { return (uint32_t)x ^ 0x80000000u; }
OML_HD static inline uint64_t oml_sort_key_i64(int64_t x) { return (uint64_t)x ^ 0x8000000000000000ull; }
OML_HD static inline uint32_t oml_sort_key_u8(uint8_t x) { return x; }

#endif /* OML_SORT_MATH_H */
