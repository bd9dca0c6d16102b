/* cpu/elementwise.c — typed inner loops for unary and binary ops.
 *
 * Each loop is one function per (op, dtype), written out by a local macro so
 * that the contiguous case is a plain indexed loop the compiler vectorises.
 * The per-element math is core/elementwise_math.h's, shared with the CUDA
 * kernels. */
#include "elementwise.h"
#include "../core/elementwise_math.h"

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

#define UNARY(OPNAME, OP, SUFFIX, T) UNARY_LOOP(OPNAME##_##SUFFIX, T, T, oml_unary_##SUFFIX(OP, x))

#define FLOAT_UNARY(SUFFIX, T)                                                 \
  UNARY(neg, OML_NEG, SUFFIX, T)                                               \
  UNARY(abs, OML_ABS, SUFFIX, T)                                               \
  UNARY(sign, OML_SIGN, SUFFIX, T)                                             \
  UNARY(exp, OML_EXP, SUFFIX, T)                                               \
  UNARY(log, OML_LOG, SUFFIX, T)                                               \
  UNARY(sqrt, OML_SQRT, SUFFIX, T)                                             \
  UNARY(rsqrt, OML_RSQRT, SUFFIX, T)                                           \
  UNARY(square, OML_SQUARE, SUFFIX, T)                                         \
  UNARY(reciprocal, OML_RECIPROCAL, SUFFIX, T)                                 \
  UNARY(tanh, OML_TANH, SUFFIX, T)                                             \
  UNARY(sigmoid, OML_SIGMOID, SUFFIX, T)                                       \
  UNARY(erf, OML_ERF, SUFFIX, T)                                               \
  UNARY(log1p, OML_LOG1P, SUFFIX, T)                                           \
  UNARY(expm1, OML_EXPM1, SUFFIX, T)                                           \
  UNARY(sin, OML_SIN, SUFFIX, T)                                               \
  UNARY(cos, OML_COS, SUFFIX, T)                                               \
  UNARY(floor, OML_FLOOR, SUFFIX, T)                                           \
  UNARY(ceil, OML_CEIL, SUFFIX, T)                                             \
  UNARY(round, OML_ROUND, SUFFIX, T)                                           \
  UNARY(trunc, OML_TRUNC, SUFFIX, T)                                           \
  UNARY_LOOP(not_##SUFFIX, T, uint8_t, oml_logical_not_##SUFFIX(x))            \
  static const oml_loop_fn unary_##SUFFIX[OML_NUM_UNARY] = {                   \
      neg_##SUFFIX,  abs_##SUFFIX,   sign_##SUFFIX,  exp_##SUFFIX,             \
      log_##SUFFIX,  sqrt_##SUFFIX,  rsqrt_##SUFFIX, square_##SUFFIX,          \
      reciprocal_##SUFFIX, tanh_##SUFFIX, sigmoid_##SUFFIX, erf_##SUFFIX,      \
      log1p_##SUFFIX, expm1_##SUFFIX, sin_##SUFFIX, cos_##SUFFIX,              \
      floor_##SUFFIX, ceil_##SUFFIX, round_##SUFFIX, trunc_##SUFFIX,           \
      not_##SUFFIX};

/* Integers have no math functions (the caller promotes those to float32);
 * rounding leaves them as they are. */
#define INT_UNARY(SUFFIX, T)                                                   \
  UNARY(neg, OML_NEG, SUFFIX, T)                                               \
  UNARY(abs, OML_ABS, SUFFIX, T)                                               \
  UNARY(sign, OML_SIGN, SUFFIX, T)                                             \
  UNARY(square, OML_SQUARE, SUFFIX, T)                                         \
  UNARY(same, OML_TRUNC, SUFFIX, T)                                            \
  UNARY_LOOP(not_##SUFFIX, T, uint8_t, oml_logical_not_##SUFFIX(x))            \
  static const oml_loop_fn unary_##SUFFIX[OML_NUM_UNARY] = {                   \
      [OML_NEG] = neg_##SUFFIX,     [OML_ABS] = abs_##SUFFIX,                  \
      [OML_SIGN] = sign_##SUFFIX,   [OML_SQUARE] = square_##SUFFIX,            \
      [OML_FLOOR] = same_##SUFFIX,  [OML_CEIL] = same_##SUFFIX,                \
      [OML_ROUND] = same_##SUFFIX,  [OML_TRUNC] = same_##SUFFIX,               \
      [OML_LOGICAL_NOT] = not_##SUFFIX};

FLOAT_UNARY(f32, float)
FLOAT_UNARY(f64, double)
INT_UNARY(i32, int32_t)
INT_UNARY(i64, int64_t)
INT_UNARY(u8, uint8_t)

/* ---- binary ------------------------------------------------------------- */

#define COMPARE(OPNAME, OP, SUFFIX, T) BINARY_LOOP(OPNAME##_##SUFFIX, T, uint8_t, oml_compare_##SUFFIX(OP, x, y))

#define COMPARE_LOOPS(SUFFIX, T)                                               \
  COMPARE(eq, OML_EQ, SUFFIX, T)                                               \
  COMPARE(ne, OML_NE, SUFFIX, T)                                               \
  COMPARE(lt, OML_LT, SUFFIX, T)                                               \
  COMPARE(le, OML_LE, SUFFIX, T)                                               \
  COMPARE(gt, OML_GT, SUFFIX, T)                                               \
  COMPARE(ge, OML_GE, SUFFIX, T)                                               \
  COMPARE(and, OML_LOGICAL_AND, SUFFIX, T)                                     \
  COMPARE(or, OML_LOGICAL_OR, SUFFIX, T)

#define COMPARE_TABLE(SUFFIX)                                                  \
  [OML_EQ] = eq_##SUFFIX, [OML_NE] = ne_##SUFFIX, [OML_LT] = lt_##SUFFIX,      \
  [OML_LE] = le_##SUFFIX, [OML_GT] = gt_##SUFFIX, [OML_GE] = ge_##SUFFIX,      \
  [OML_LOGICAL_AND] = and_##SUFFIX, [OML_LOGICAL_OR] = or_##SUFFIX

#define FLOAT_OP(OPNAME, OP, SUFFIX, T) BINARY_LOOP(OPNAME##_##SUFFIX, T, T, oml_binary_##SUFFIX(OP, x, y))
#define INT_OP(OPNAME, OP, SUFFIX, T) BINARY_LOOP(OPNAME##_##SUFFIX, T, T, oml_binary_##SUFFIX(OP, x, y, bad))

#define FLOAT_BINARY(SUFFIX, T)                                                \
  FLOAT_OP(add, OML_ADD, SUFFIX, T)                                            \
  FLOAT_OP(sub, OML_SUB, SUFFIX, T)                                            \
  FLOAT_OP(mul, OML_MUL, SUFFIX, T)                                            \
  FLOAT_OP(div, OML_DIV, SUFFIX, T)                                            \
  FLOAT_OP(pow, OML_POW, SUFFIX, T)                                            \
  FLOAT_OP(min, OML_MINIMUM, SUFFIX, T)                                        \
  FLOAT_OP(max, OML_MAXIMUM, SUFFIX, T)                                        \
  FLOAT_OP(fmod, OML_FMOD, SUFFIX, T)                                          \
  COMPARE_LOOPS(SUFFIX, T)                                                     \
  static const oml_loop_fn binary_##SUFFIX[OML_NUM_BINARY] = {                 \
      [OML_ADD] = add_##SUFFIX, [OML_SUB] = sub_##SUFFIX,                      \
      [OML_MUL] = mul_##SUFFIX, [OML_DIV] = div_##SUFFIX,                      \
      [OML_POW] = pow_##SUFFIX, [OML_MINIMUM] = min_##SUFFIX,                  \
      [OML_MAXIMUM] = max_##SUFFIX, [OML_FMOD] = fmod_##SUFFIX,                \
      COMPARE_TABLE(SUFFIX)};

/* No DIV: true division of integers is done in float32 by the caller. */
#define INT_BINARY(SUFFIX, T)                                                  \
  INT_OP(add, OML_ADD, SUFFIX, T)                                              \
  INT_OP(sub, OML_SUB, SUFFIX, T)                                              \
  INT_OP(mul, OML_MUL, SUFFIX, T)                                              \
  INT_OP(pow, OML_POW, SUFFIX, T)                                              \
  INT_OP(min, OML_MINIMUM, SUFFIX, T)                                          \
  INT_OP(max, OML_MAXIMUM, SUFFIX, T)                                          \
  INT_OP(fmod, OML_FMOD, SUFFIX, T)                                            \
  COMPARE_LOOPS(SUFFIX, T)                                                     \
  static const oml_loop_fn binary_##SUFFIX[OML_NUM_BINARY] = {                 \
      [OML_ADD] = add_##SUFFIX, [OML_SUB] = sub_##SUFFIX,                      \
      [OML_MUL] = mul_##SUFFIX, [OML_POW] = pow_##SUFFIX,                      \
      [OML_MINIMUM] = min_##SUFFIX, [OML_MAXIMUM] = max_##SUFFIX,              \
      [OML_FMOD] = fmod_##SUFFIX, COMPARE_TABLE(SUFFIX)};

FLOAT_BINARY(f32, float)
FLOAT_BINARY(f64, double)
INT_BINARY(i32, int32_t)
INT_BINARY(i64, int64_t)
INT_BINARY(u8, uint8_t)

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

#define CLAMP_LOOP(SUFFIX, T)                                                               \
  static void clamp_##SUFFIX(char **p, const int64_t *s, int64_t n, void *ctx) {            \
    const clamp_ctx *c = ctx;                                                               \
    const T lo = (T)c->low, hi = (T)c->high;                                                \
    for (int64_t i = 0; i < n; i++)                                                         \
      *(T *)(p[0] + i * s[0]) = oml_clamp_##SUFFIX(*(const T *)(p[1] + i * s[1]), lo, hi);  \
  }

CLAMP_LOOP(f32, float)
CLAMP_LOOP(f64, double)
CLAMP_LOOP(i32, int32_t)
CLAMP_LOOP(i64, int64_t)
CLAMP_LOOP(u8, uint8_t)

/* Bounds arrive already limited to the dtype's range (see ops/elementwise.c). */
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
