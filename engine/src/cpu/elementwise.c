/* cpu/elementwise.c — typed inner loops for unary and binary ops.
 *
 * Each loop is one function per (op, dtype), written out by a local macro so
 * that the contiguous case is a plain indexed loop the compiler vectorises.
 * <tgmath.h> lets one expression serve float and double. Integer arithmetic
 * wraps around through the unsigned type, as in PyTorch, instead of being
 * undefined. */
#include "elementwise.h"
#include "../core/scalar_math.h"

#include <tgmath.h>

#define UNARY_LOOP(NAME, TI, TO, EXPR)                                                      \
  static void NAME(char **p, const int64_t *s, int64_t n, void *ctx) {                      \
    (void)ctx;                                                                              \
    if (s[0] == (int64_t)sizeof(TO) && s[1] == (int64_t)sizeof(TI)) {                       \
      TO *o = (TO *)p[0];                                                                   \
      const TI *a = (const TI *)p[1];                                                       \
      for (int64_t i = 0; i < n; i++) { TI x = a[i]; o[i] = (TO)(EXPR); }                   \
    } else {                                                                                \
      for (int64_t i = 0; i < n; i++) {                                                     \
        TI x = *(const TI *)(p[1] + i * s[1]);                                              \
        *(TO *)(p[0] + i * s[0]) = (TO)(EXPR);                                              \
      }                                                                                     \
    }                                                                                       \
  }

#define BINARY_LOOP(NAME, T, TO, EXPR)                                                      \
  static void NAME(char **p, const int64_t *s, int64_t n, void *ctx) {                      \
    int flag = 0, *bad = &flag; /* a local flag, published below: threads share ctx */     \
    (void)bad;                                                                              \
    const int64_t es = sizeof(T), eo = sizeof(TO);                                          \
    if (s[0] == eo && s[1] == es && s[2] == es) {                                           \
      TO *o = (TO *)p[0];                                                                   \
      const T *a = (const T *)p[1], *b = (const T *)p[2];                                   \
      for (int64_t i = 0; i < n; i++) { T x = a[i], y = b[i]; o[i] = (TO)(EXPR); }          \
    } else if (s[0] == eo && s[1] == es && s[2] == 0) {                                     \
      TO *o = (TO *)p[0];                                                                   \
      const T *a = (const T *)p[1], y = *(const T *)p[2];                                   \
      for (int64_t i = 0; i < n; i++) { T x = a[i]; o[i] = (TO)(EXPR); }                    \
    } else if (s[0] == eo && s[1] == 0 && s[2] == es) {                                     \
      TO *o = (TO *)p[0];                                                                   \
      const T x = *(const T *)p[1], *b = (const T *)p[2];                                   \
      for (int64_t i = 0; i < n; i++) { T y = b[i]; o[i] = (TO)(EXPR); }                    \
    } else {                                                                                \
      for (int64_t i = 0; i < n; i++) {                                                     \
        T x = *(const T *)(p[1] + i * s[1]), y = *(const T *)(p[2] + i * s[2]);             \
        *(TO *)(p[0] + i * s[0]) = (TO)(EXPR);                                              \
      }                                                                                     \
    }                                                                                       \
    if (flag) __atomic_store_n((int *)ctx, flag, __ATOMIC_RELAXED);                         \
  }

/* ---- unary -------------------------------------------------------------- */

/* EXP is e^x for T: oml_expf for float32 (it vectorises), libm's exp for
 * float64 */
#define FLOAT_UNARY(SUFFIX, T, EXP)                                            \
  UNARY_LOOP(neg_##SUFFIX, T, T, -x)                                           \
  UNARY_LOOP(abs_##SUFFIX, T, T, fabs(x))                                      \
  UNARY_LOOP(sign_##SUFFIX, T, T, (x > 0) - (x < 0))                           \
  UNARY_LOOP(exp_##SUFFIX, T, T, EXP(x))                                       \
  UNARY_LOOP(log_##SUFFIX, T, T, log(x))                                       \
  UNARY_LOOP(sqrt_##SUFFIX, T, T, sqrt(x))                                     \
  UNARY_LOOP(rsqrt_##SUFFIX, T, T, (T)1 / sqrt(x))                             \
  UNARY_LOOP(square_##SUFFIX, T, T, x * x)                                     \
  UNARY_LOOP(reciprocal_##SUFFIX, T, T, (T)1 / x)                              \
  UNARY_LOOP(tanh_##SUFFIX, T, T, tanh(x))                                     \
  UNARY_LOOP(sigmoid_##SUFFIX, T, T, (T)1 / ((T)1 + EXP(-x)))                  \
  UNARY_LOOP(erf_##SUFFIX, T, T, erf(x))                                       \
  UNARY_LOOP(log1p_##SUFFIX, T, T, log1p(x))                                   \
  UNARY_LOOP(expm1_##SUFFIX, T, T, expm1(x))                                   \
  UNARY_LOOP(sin_##SUFFIX, T, T, sin(x))                                       \
  UNARY_LOOP(cos_##SUFFIX, T, T, cos(x))                                       \
  UNARY_LOOP(floor_##SUFFIX, T, T, floor(x))                                   \
  UNARY_LOOP(ceil_##SUFFIX, T, T, ceil(x))                                     \
  UNARY_LOOP(round_##SUFFIX, T, T, nearbyint(x))                               \
  UNARY_LOOP(trunc_##SUFFIX, T, T, trunc(x))                                   \
  UNARY_LOOP(not_##SUFFIX, T, uint8_t, x == 0)                                 \
  static const oml_loop_fn unary_##SUFFIX[OML_NUM_UNARY] = {                   \
      neg_##SUFFIX,  abs_##SUFFIX,   sign_##SUFFIX,  exp_##SUFFIX,             \
      log_##SUFFIX,  sqrt_##SUFFIX,  rsqrt_##SUFFIX, square_##SUFFIX,          \
      reciprocal_##SUFFIX, tanh_##SUFFIX, sigmoid_##SUFFIX, erf_##SUFFIX,      \
      log1p_##SUFFIX, expm1_##SUFFIX, sin_##SUFFIX, cos_##SUFFIX,              \
      floor_##SUFFIX, ceil_##SUFFIX, round_##SUFFIX, trunc_##SUFFIX,           \
      not_##SUFFIX};

/* Integers have no math functions (the caller promotes those to float32);
 * rounding leaves them as they are. */
#define INT_UNARY(SUFFIX, T, UT)                                               \
  UNARY_LOOP(neg_##SUFFIX, T, T, (T)(0u - (UT)x))                              \
  UNARY_LOOP(abs_##SUFFIX, T, T, x < 0 ? (T)(0u - (UT)x) : x)                  \
  UNARY_LOOP(sign_##SUFFIX, T, T, (x > 0) - (x < 0))                           \
  UNARY_LOOP(square_##SUFFIX, T, T, (T)((UT)x * (UT)x))                        \
  UNARY_LOOP(same_##SUFFIX, T, T, x)                                           \
  UNARY_LOOP(not_##SUFFIX, T, uint8_t, x == 0)                                 \
  static const oml_loop_fn unary_##SUFFIX[OML_NUM_UNARY] = {                   \
      [OML_NEG] = neg_##SUFFIX,     [OML_ABS] = abs_##SUFFIX,                  \
      [OML_SIGN] = sign_##SUFFIX,   [OML_SQUARE] = square_##SUFFIX,            \
      [OML_FLOOR] = same_##SUFFIX,  [OML_CEIL] = same_##SUFFIX,                \
      [OML_ROUND] = same_##SUFFIX,  [OML_TRUNC] = same_##SUFFIX,               \
      [OML_LOGICAL_NOT] = not_##SUFFIX};

FLOAT_UNARY(f32, float, oml_expf)
FLOAT_UNARY(f64, double, exp)
INT_UNARY(i32, int32_t, uint32_t)
INT_UNARY(i64, int64_t, uint64_t)
INT_UNARY(u8, uint8_t, uint8_t)

/* ---- binary ------------------------------------------------------------- */

#define COMPARE_LOOPS(SUFFIX, T)                                               \
  BINARY_LOOP(eq_##SUFFIX, T, uint8_t, x == y)                                 \
  BINARY_LOOP(ne_##SUFFIX, T, uint8_t, x != y)                                 \
  BINARY_LOOP(lt_##SUFFIX, T, uint8_t, x < y)                                  \
  BINARY_LOOP(le_##SUFFIX, T, uint8_t, x <= y)                                 \
  BINARY_LOOP(gt_##SUFFIX, T, uint8_t, x > y)                                  \
  BINARY_LOOP(ge_##SUFFIX, T, uint8_t, x >= y)                                 \
  BINARY_LOOP(and_##SUFFIX, T, uint8_t, x != 0 && y != 0)                      \
  BINARY_LOOP(or_##SUFFIX, T, uint8_t, x != 0 || y != 0)

#define COMPARE_TABLE(SUFFIX)                                                  \
  [OML_EQ] = eq_##SUFFIX, [OML_NE] = ne_##SUFFIX, [OML_LT] = lt_##SUFFIX,      \
  [OML_LE] = le_##SUFFIX, [OML_GT] = gt_##SUFFIX, [OML_GE] = ge_##SUFFIX,      \
  [OML_LOGICAL_AND] = and_##SUFFIX, [OML_LOGICAL_OR] = or_##SUFFIX

#define FLOAT_BINARY(SUFFIX, T)                                                \
  BINARY_LOOP(add_##SUFFIX, T, T, x + y)                                       \
  BINARY_LOOP(sub_##SUFFIX, T, T, x - y)                                       \
  BINARY_LOOP(mul_##SUFFIX, T, T, x * y)                                       \
  BINARY_LOOP(div_##SUFFIX, T, T, x / y)                                       \
  BINARY_LOOP(pow_##SUFFIX, T, T, pow(x, y))                                   \
  BINARY_LOOP(min_##SUFFIX, T, T, OML_MIN_NAN(x, y))                           \
  BINARY_LOOP(max_##SUFFIX, T, T, OML_MAX_NAN(x, y))                           \
  BINARY_LOOP(fmod_##SUFFIX, T, T, fmod(x, y))                                 \
  COMPARE_LOOPS(SUFFIX, T)                                                     \
  static const oml_loop_fn binary_##SUFFIX[OML_NUM_BINARY] = {                 \
      [OML_ADD] = add_##SUFFIX, [OML_SUB] = sub_##SUFFIX,                      \
      [OML_MUL] = mul_##SUFFIX, [OML_DIV] = div_##SUFFIX,                      \
      [OML_POW] = pow_##SUFFIX, [OML_MINIMUM] = min_##SUFFIX,                  \
      [OML_MAXIMUM] = max_##SUFFIX, [OML_FMOD] = fmod_##SUFFIX,                \
      COMPARE_TABLE(SUFFIX)};

/* No DIV: true division of integers is done in float32 by the caller. */
#define INT_BINARY(SUFFIX, T, UT)                                              \
  BINARY_LOOP(add_##SUFFIX, T, T, (T)((UT)x + (UT)y))                          \
  BINARY_LOOP(sub_##SUFFIX, T, T, (T)((UT)x - (UT)y))                          \
  BINARY_LOOP(mul_##SUFFIX, T, T, (T)((UT)x * (UT)y))                          \
  BINARY_LOOP(pow_##SUFFIX, T, T, oml_ipow(x, y, bad))                         \
  BINARY_LOOP(min_##SUFFIX, T, T, x < y ? x : y)                               \
  BINARY_LOOP(max_##SUFFIX, T, T, x > y ? x : y)                               \
  BINARY_LOOP(fmod_##SUFFIX, T, T, oml_ifmod(x, y, bad))                       \
  COMPARE_LOOPS(SUFFIX, T)                                                     \
  static const oml_loop_fn binary_##SUFFIX[OML_NUM_BINARY] = {                 \
      [OML_ADD] = add_##SUFFIX, [OML_SUB] = sub_##SUFFIX,                      \
      [OML_MUL] = mul_##SUFFIX, [OML_POW] = pow_##SUFFIX,                      \
      [OML_MINIMUM] = min_##SUFFIX, [OML_MAXIMUM] = max_##SUFFIX,              \
      [OML_FMOD] = fmod_##SUFFIX, COMPARE_TABLE(SUFFIX)};

FLOAT_BINARY(f32, float)
FLOAT_BINARY(f64, double)
INT_BINARY(i32, int32_t, uint32_t)
INT_BINARY(i64, int64_t, uint64_t)
INT_BINARY(u8, uint8_t, uint32_t)

/* The one dtype switch: bool values are 0 and 1, so uint8 loops serve them. */
static const oml_loop_fn *unary_table(int32_t dtype) {
  switch (dtype) {
  case OML_FLOAT32: return unary_f32;
  case OML_FLOAT64: return unary_f64;
  case OML_INT32: return unary_i32;
  case OML_INT64: return unary_i64;
  case OML_UINT8: case OML_BOOL: return unary_u8;
  default: return NULL;
  }
}

static const oml_loop_fn *binary_table(int32_t dtype) {
  switch (dtype) {
  case OML_FLOAT32: return binary_f32;
  case OML_FLOAT64: return binary_f64;
  case OML_INT32: return binary_i32;
  case OML_INT64: return binary_i64;
  case OML_UINT8: case OML_BOOL: return binary_u8;
  default: return NULL;
  }
}

int oml_cpu_unary(const oml_tensor *a, oml_tensor *out, int32_t op) {
  const oml_loop_fn *table = unary_table(a->dtype_);
  if (table == NULL || table[op] == NULL)
    return oml_error("this op is not defined for %s", oml_dtype_name(a->dtype_));
  const oml_tensor *ops[2] = {out, a};
  oml_foreach(2, ops, table[op], NULL);
  return 0;
}

int oml_cpu_binary(const oml_tensor *a, const oml_tensor *b, oml_tensor *out, int32_t op) {
  const oml_loop_fn *table = binary_table(a->dtype_);
  if (table == NULL || table[op] == NULL)
    return oml_error("this op is not defined for %s", oml_dtype_name(a->dtype_));
  int bad = 0;
  const oml_tensor *ops[3] = {out, a, b};
  oml_foreach(3, ops, table[op], &bad);
  if (bad == 1) return oml_error("integers cannot be raised to negative integer powers");
  if (bad == 2) return oml_error("integer division by zero");
  return 0;
}

/* ---- clamp and where ---------------------------------------------------- */

typedef struct clamp_ctx { double low, high; } clamp_ctx;

#define CLAMP_LOOP(NAME, T)                                                                 \
  static void NAME(char **p, const int64_t *s, int64_t n, void *ctx) {                      \
    const clamp_ctx *c = ctx;                                                               \
    const T lo = (T)c->low, hi = (T)c->high;                                                \
    for (int64_t i = 0; i < n; i++) {                                                       \
      T x = *(const T *)(p[1] + i * s[1]);                                                  \
      x = x < lo ? lo : x;                                                                  \
      *(T *)(p[0] + i * s[0]) = x > hi ? hi : x;                                            \
    }                                                                                       \
  }

CLAMP_LOOP(clamp_f32, float)
CLAMP_LOOP(clamp_f64, double)
CLAMP_LOOP(clamp_i32, int32_t)
CLAMP_LOOP(clamp_i64, int64_t)
CLAMP_LOOP(clamp_u8, uint8_t)

/* Bounds arrive already limited to the dtype's range (see ops/elementwise.c).
 * The upper bound is applied last, so that bounds that cross (integer bounds
 * rounded inwards: clamp(0.5, 0.7)) give it everywhere, as torch.clamp. */
void oml_cpu_clamp(const oml_tensor *a, oml_tensor *out, double low, double high) {
  clamp_ctx c = {low, high};
  const oml_tensor *ops[2] = {out, a};
  oml_loop_fn fn = clamp_f32;
  switch (a->dtype_) {
  case OML_FLOAT64: fn = clamp_f64; break;
  case OML_INT32: fn = clamp_i32; break;
  case OML_INT64: fn = clamp_i64; break;
  case OML_UINT8: case OML_BOOL: fn = clamp_u8; break;
  default: break;
  }
  oml_foreach(2, ops, fn, &c);
}

#define WHERE_LOOP(NAME, T)                                                                 \
  static void NAME(char **p, const int64_t *s, int64_t n, void *ctx) {                      \
    (void)ctx;                                                                              \
    for (int64_t i = 0; i < n; i++)                                                         \
      *(T *)(p[0] + i * s[0]) = *(const uint8_t *)(p[1] + i * s[1]) ? *(const T *)(p[2] + i * s[2]) \
                                                                    : *(const T *)(p[3] + i * s[3]); \
  }

WHERE_LOOP(where_1, uint8_t)
WHERE_LOOP(where_2, uint16_t)
WHERE_LOOP(where_4, uint32_t)
WHERE_LOOP(where_8, uint64_t)

void oml_cpu_where(const oml_tensor *cond, const oml_tensor *a, const oml_tensor *b, oml_tensor *out) {
  const oml_tensor *ops[4] = {out, cond, a, b};
  switch (oml_dtype_size(out->dtype_)) {
  case 1: oml_foreach(4, ops, where_1, NULL); break;
  case 2: oml_foreach(4, ops, where_2, NULL); break;
  case 4: oml_foreach(4, ops, where_4, NULL); break;
  default: oml_foreach(4, ops, where_8, NULL); break;
  }
}
