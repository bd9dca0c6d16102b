/* dtype.c — dtype sizes, names, promotion and per-element access. */
#include "internal.h"
#include "value_math.h"

#include <math.h>

static const int64_t sizes[OML_NUM_DTYPES] = {4, 8, 4, 8, 1, 1, 2, 2};
static const char *const names[OML_NUM_DTYPES] = {"float32", "float64", "int32", "int64",
                                                  "uint8",   "bool",    "float16", "bfloat16"};

int64_t oml_dtype_size(int32_t dtype) {
  return dtype >= 0 && dtype < OML_NUM_DTYPES ? sizes[dtype] : 0;
}

const char *oml_dtype_name(int32_t dtype) {
  return dtype >= 0 && dtype < OML_NUM_DTYPES ? names[dtype] : "?";
}

int oml_is_floating(int32_t dtype) {
  return dtype == OML_FLOAT32 || dtype == OML_FLOAT64 || dtype == OML_FLOAT16 || dtype == OML_BFLOAT16;
}

/* bool < uint8 < int32 < int64 < float32 < float64, as PyTorch's promotion
 * for these types. */
static int rank(int32_t dtype) {
  switch (dtype) {
  case OML_BOOL: return 0;
  case OML_UINT8: return 1;
  case OML_INT32: return 2;
  case OML_INT64: return 3;
  case OML_FLOAT16: case OML_BFLOAT16: case OML_FLOAT32: return 4;
  case OML_FLOAT64: return 5;
  default: return -1;
  }
}

int32_t oml_promote(int32_t a, int32_t b) {
  if (a == b) return a;
  if (rank(a) == 4 && rank(b) == 4) return OML_FLOAT32;
  return rank(a) >= rank(b) ? a : b;
}

double oml_load(const char *p, int32_t dtype) { return oml_value_load(p, dtype); }
void oml_store(char *p, int32_t dtype, double v) { oml_value_store(p, dtype, v); }

int64_t oml_load_index(const char *p, int32_t dtype) {
  return dtype == OML_INT32 ? *(const int32_t *)p : *(const int64_t *)p;
}
