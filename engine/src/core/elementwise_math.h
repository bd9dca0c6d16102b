/* elementwise_math.h — the per-element math of the unary, binary, clamp and
 * comparison ops, one function per dtype shared by the CPU loops and the
 * CUDA kernels, so that the CPU specs cover the math the GPU runs.
 *
 * Each function takes the op code; callers pass a constant, and forced
 * inlining folds the switch away, so the CPU loops still vectorise. Integer
 * arithmetic wraps around through the unsigned type, as in PyTorch, instead
 * of being undefined. bool values are 0 and 1 and use the uint8 functions. */
#ifndef OML_ELEMENTWISE_MATH_H
#define OML_ELEMENTWISE_MATH_H

#include "oml.h"
#include "scalar_math.h"

#ifdef __CUDACC__
#define OML_EW_FN __host__ __device__ static inline __attribute__((always_inline))
#else
#define OML_EW_FN static inline __attribute__((always_inline))
#endif

/* ---- unary: every op but OML_LOGICAL_NOT ---------------------------------- */

OML_EW_FN float oml_unary_f32(int32_t op, float x) {
  switch (op) {
  case OML_NEG: return -x;
  case OML_ABS: return fabsf(x);
  case OML_SIGN: return (float)((x > 0) - (x < 0));
  case OML_EXP: return oml_expf(x); /* vectorises, unlike libm's expf */
  case OML_LOG: return logf(x);
  case OML_SQRT: return sqrtf(x);
  case OML_RSQRT: return 1.0f / sqrtf(x);
  case OML_SQUARE: return x * x;
  case OML_RECIPROCAL: return 1.0f / x;
  case OML_TANH: return tanhf(x);
  case OML_SIGMOID: return 1.0f / (1.0f + oml_expf(-x));
  case OML_ERF: return erff(x);
  case OML_LOG1P: return log1pf(x);
  case OML_EXPM1: return expm1f(x);
  case OML_SIN: return sinf(x);
  case OML_COS: return cosf(x);
  case OML_FLOOR: return floorf(x);
  case OML_CEIL: return ceilf(x);
  case OML_ROUND: return nearbyintf(x); /* half to even */
  default: return truncf(x);            /* OML_TRUNC */
  }
}

OML_EW_FN double oml_unary_f64(int32_t op, double x) {
  switch (op) {
  case OML_NEG: return -x;
  case OML_ABS: return fabs(x);
  case OML_SIGN: return (double)((x > 0) - (x < 0));
  case OML_EXP: return exp(x);
  case OML_LOG: return log(x);
  case OML_SQRT: return sqrt(x);
  case OML_RSQRT: return 1.0 / sqrt(x);
  case OML_SQUARE: return x * x;
  case OML_RECIPROCAL: return 1.0 / x;
  case OML_TANH: return tanh(x);
  case OML_SIGMOID: return 1.0 / (1.0 + exp(-x));
  case OML_ERF: return erf(x);
  case OML_LOG1P: return log1p(x);
  case OML_EXPM1: return expm1(x);
  case OML_SIN: return sin(x);
  case OML_COS: return cos(x);
  case OML_FLOOR: return floor(x);
  case OML_CEIL: return ceil(x);
  case OML_ROUND: return nearbyint(x);
  default: return trunc(x); /* OML_TRUNC */
  }
}

/* Integers have only NEG, ABS, SIGN, SQUARE and the roundings (which leave
 * them as they are); the ops promote the others to float32. */
OML_EW_FN int32_t oml_unary_i32(int32_t op, int32_t x) {
  switch (op) {
  case OML_NEG: return (int32_t)(0u - (uint32_t)x);
  case OML_ABS: return x < 0 ? (int32_t)(0u - (uint32_t)x) : x;
  case OML_SIGN: return (int32_t)((x > 0) - (x < 0));
  case OML_SQUARE: return (int32_t)((uint32_t)x * (uint32_t)x);
  default: return x;
  }
}

OML_EW_FN int64_t oml_unary_i64(int32_t op, int64_t x) {
  switch (op) {
  case OML_NEG: return (int64_t)(0u - (uint64_t)x);
  case OML_ABS: return x < 0 ? (int64_t)(0u - (uint64_t)x) : x;
  case OML_SIGN: return (int64_t)((x > 0) - (x < 0));
  case OML_SQUARE: return (int64_t)((uint64_t)x * (uint64_t)x);
  default: return x;
  }
}

OML_EW_FN uint8_t oml_unary_u8(int32_t op, uint8_t x) {
  switch (op) {
  case OML_NEG: return (uint8_t)(0u - (uint32_t)x);
  case OML_SIGN: return (uint8_t)(x > 0);
  case OML_SQUARE: return (uint8_t)((uint32_t)x * (uint32_t)x);
  default: return x; /* ABS and the roundings */
  }
}

/* ---- binary: OML_ADD .. OML_FMOD ------------------------------------------ */

OML_EW_FN float oml_binary_f32(int32_t op, float x, float y) {
  switch (op) {
  case OML_ADD: return x + y;
  case OML_SUB: return x - y;
  case OML_MUL: return x * y;
  case OML_DIV: return x / y;
  case OML_POW: return powf(x, y);
  case OML_MINIMUM: return OML_MIN_NAN(x, y);
  case OML_MAXIMUM: return OML_MAX_NAN(x, y);
  default: return fmodf(x, y); /* OML_FMOD */
  }
}

OML_EW_FN double oml_binary_f64(int32_t op, double x, double y) {
  switch (op) {
  case OML_ADD: return x + y;
  case OML_SUB: return x - y;
  case OML_MUL: return x * y;
  case OML_DIV: return x / y;
  case OML_POW: return pow(x, y);
  case OML_MINIMUM: return OML_MIN_NAN(x, y);
  case OML_MAXIMUM: return OML_MAX_NAN(x, y);
  default: return fmod(x, y); /* OML_FMOD */
  }
}

/* Integers have no OML_DIV (true division is done in float32). POW and FMOD
 * set *bad (1: a negative exponent, 2: a zero divisor) and give 0 there. */
#define OML_INT_BINARY(SUFFIX, T, UT)                                                   \
  OML_EW_FN T oml_binary_##SUFFIX(int32_t op, T x, T y, int *bad) {                    \
    switch (op) {                                                                       \
    case OML_ADD: return (T)((UT)x + (UT)y);                                            \
    case OML_SUB: return (T)((UT)x - (UT)y);                                            \
    case OML_MUL: return (T)((UT)x * (UT)y);                                            \
    case OML_POW: return (T)oml_ipow(x, y, bad);                                        \
    case OML_MINIMUM: return x < y ? x : y;                                             \
    case OML_MAXIMUM: return x > y ? x : y;                                             \
    default: return (T)oml_ifmod(x, y, bad); /* OML_FMOD */                             \
    }                                                                                   \
  }

/* ---- every dtype: comparisons, logical ops and clamp ------------------------ */

#define OML_ANY_DTYPE(SUFFIX, T)                                                        \
  /* OML_EQ .. OML_LOGICAL_OR, as 0 or 1 */                                             \
  OML_EW_FN int oml_compare_##SUFFIX(int32_t op, T x, T y) {                           \
    switch (op) {                                                                       \
    case OML_EQ: return x == y;                                                         \
    case OML_NE: return x != y;                                                         \
    case OML_LT: return x < y;                                                          \
    case OML_LE: return x <= y;                                                         \
    case OML_GT: return x > y;                                                          \
    case OML_GE: return x >= y;                                                         \
    case OML_LOGICAL_AND: return x != 0 && y != 0;                                      \
    default: return x != 0 || y != 0; /* OML_LOGICAL_OR */                              \
    }                                                                                   \
  }                                                                                     \
  OML_EW_FN int oml_logical_not_##SUFFIX(T x) { return x == 0; }                        \
  /* The upper bound is applied last, so that bounds that cross (integer bounds      \
   * rounded inwards: clamp(0.5, 0.7)) give it everywhere, as torch.clamp. NaN       \
   * passes through. */                                                                 \
  OML_EW_FN T oml_clamp_##SUFFIX(T x, T lo, T hi) {                                     \
    x = x < lo ? lo : x;                                                                \
    return x > hi ? hi : x;                                                             \
  }

OML_INT_BINARY(i32, int32_t, uint32_t)
OML_INT_BINARY(i64, int64_t, uint64_t)
OML_INT_BINARY(u8, uint8_t, uint32_t)

OML_ANY_DTYPE(f32, float)
OML_ANY_DTYPE(f64, double)
OML_ANY_DTYPE(i32, int32_t)
OML_ANY_DTYPE(i64, int64_t)
OML_ANY_DTYPE(u8, uint8_t)

#endif /* OML_ELEMENTWISE_MATH_H */
