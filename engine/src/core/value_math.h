/* value_math.h — one element of any dtype read as a double and written from
 * one: the conversions of copies across dtypes, shared by the CPU and CUDA
 * kernels. */
#ifndef OML_VALUE_MATH_H
#define OML_VALUE_MATH_H

#include "half.h"
#include "oml.h"

#include <stdint.h>

OML_HD static inline double oml_value_load(const char *p, int32_t dtype) {
  switch (dtype) {
  case OML_FLOAT32: return *(const float *)p;
  case OML_FLOAT64: return *(const double *)p;
  case OML_INT32: return *(const int32_t *)p;
  case OML_INT64: return (double)*(const int64_t *)p;
  case OML_UINT8: return *(const uint8_t *)p;
  case OML_BOOL: return *(const uint8_t *)p != 0;
  case OML_FLOAT16: return oml_half_to_float(*(const uint16_t *)p);
  case OML_BFLOAT16: return oml_bfloat16_to_float(*(const uint16_t *)p);
  default: return 0;
  }
}

/* Out-of-range and NaN values saturate instead of invoking undefined
 * behaviour in the float-to-integer conversion. */
OML_HD static inline int64_t oml_value_to_int(double v, double lo, double hi) {
  if (v != v) return 0;
  if (v <= lo) return (int64_t)lo;
  if (v >= hi) return (int64_t)hi;
  return (int64_t)v;
}

OML_HD static inline void oml_value_store(char *p, int32_t dtype, double v) {
  switch (dtype) {
  case OML_FLOAT32: *(float *)p = (float)v; break;
  case OML_FLOAT64: *(double *)p = v; break;
  case OML_INT32: *(int32_t *)p = (int32_t)oml_value_to_int(v, -2147483648.0, 2147483647.0); break;
  case OML_INT64: *(int64_t *)p = oml_value_to_int(v, -9223372036854775808.0, 9223372036854774784.0); break;
  case OML_UINT8: *(uint8_t *)p = (uint8_t)oml_value_to_int(v, 0, 255); break;
  case OML_BOOL: *(uint8_t *)p = v != 0; break;
  case OML_FLOAT16: *(uint16_t *)p = oml_float_to_half((float)v); break;
  case OML_BFLOAT16: *(uint16_t *)p = oml_float_to_bfloat16((float)v); break;
  default: break;
  }
}

#endif
