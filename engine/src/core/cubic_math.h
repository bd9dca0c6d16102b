/* cubic_math.h — bicubic interpolation's per-coordinate math as PyTorch's
 * upsample_bicubic2d: where an output index maps in the input, and the four
 * cubic-convolution weights (A = -0.75) of taps floor(src) - 1 .. + 2.
 * Shared by the CPU and CUDA kernels; one version per float dtype, since
 * PyTorch computes these in the tensor's own dtype. */
#ifndef OML_CUBIC_MATH_H
#define OML_CUBIC_MATH_H

#include "scalar_math.h"

#define OML_CUBIC_A (-0.75)

/* The output-to-input scale: (in-1)/(out-1) with align_corners; else
 * 1/scale_factor when the caller gave one (> 0), in/out otherwise. */
OML_HD static inline float oml_cubic_scale_f(int64_t in, int64_t out, int32_t align_corners, double scale_factor) {
  if (align_corners) return out > 1 ? (float)(in - 1) / (float)(out - 1) : 0.0f;
  return scale_factor > 0 ? (float)(1.0 / scale_factor) : (float)in / (float)out;
}
OML_HD static inline double oml_cubic_scale_d(int64_t in, int64_t out, int32_t align_corners, double scale_factor) {
  if (align_corners) return out > 1 ? (double)(in - 1) / (double)(out - 1) : 0.0;
  return scale_factor > 0 ? 1.0 / scale_factor : (double)in / (double)out;
}

/* The input coordinate of output index i; not clamped at 0 (cubic). */
OML_HD static inline float oml_cubic_source_f(float scale, int64_t i, int32_t align_corners) {
  return align_corners ? scale * (float)i : scale * ((float)i + 0.5f) - 0.5f;
}
OML_HD static inline double oml_cubic_source_d(double scale, int64_t i, int32_t align_corners) {
  return align_corners ? scale * (double)i : scale * ((double)i + 0.5) - 0.5;
}

/* The weights of the taps at distances t + 1, t, 1 - t, (1 - t) + 1 (t in [0, 1)):
 * Keys' kernel, ((A+2)x - (A+3)) x^2 + 1 within 1 and ((Ax - 5A) x + 8A) x - 4A
 * from 1 to 2. */
OML_HD static inline void oml_cubic_weights_f(float t, float w[4]) {
  const float a = (float)OML_CUBIC_A;
  float x0 = t + 1.0f, x1 = t, x2 = 1.0f - t, x3 = x2 + 1.0f;
  w[0] = ((a * x0 - 5.0f * a) * x0 + 8.0f * a) * x0 - 4.0f * a;
  w[1] = ((a + 2.0f) * x1 - (a + 3.0f)) * x1 * x1 + 1.0f;
  w[2] = ((a + 2.0f) * x2 - (a + 3.0f)) * x2 * x2 + 1.0f;
  w[3] = ((a * x3 - 5.0f * a) * x3 + 8.0f * a) * x3 - 4.0f * a;
}
OML_HD static inline void oml_cubic_weights_d(double t, double w[4]) {
  const double a = OML_CUBIC_A;
  double x0 = t + 1.0, x1 = t, x2 = 1.0 - t, x3 = x2 + 1.0;
  w[0] = ((a * x0 - 5.0 * a) * x0 + 8.0 * a) * x0 - 4.0 * a;
  w[1] = ((a + 2.0) * x1 - (a + 3.0)) * x1 * x1 + 1.0;
  w[2] = ((a + 2.0) * x2 - (a + 3.0)) * x2 * x2 + 1.0;
  w[3] = ((a * x3 - 5.0 * a) * x3 + 8.0 * a) * x3 - 4.0 * a;
}

/* Output index i's taps start at floor(src) - 1 (the floor at most n_in - 1);
 * *t gets the fraction, clamped into [0, 1], as PyTorch guards both. */
OML_HD static inline int64_t oml_cubic_floor_f(float scale, int64_t i, int32_t align_corners, int64_t n_in, float *t) {
  float src = oml_cubic_source_f(scale, i, align_corners);
  int64_t i0 = (int64_t)floor(src);
  if (i0 > n_in - 1) i0 = n_in - 1;
  float f = src - (float)i0;
  *t = f < 0 ? 0 : (f > 1 ? 1 : f);
  return i0;
}
OML_HD static inline int64_t oml_cubic_floor_d(double scale, int64_t i, int32_t align_corners, int64_t n_in,
                                               double *t) {
  double src = oml_cubic_source_d(scale, i, align_corners);
  int64_t i0 = (int64_t)floor(src);
  if (i0 > n_in - 1) i0 = n_in - 1;
  double f = src - (double)i0;
  *t = f < 0 ? 0 : (f > 1 ? 1 : f);
  return i0;
}

/* A tap's index clamped into [0, n-1]: the border replicates. */
OML_HD static inline int64_t oml_cubic_clamp(int64_t i, int64_t n) { return i < 0 ? 0 : (i >= n ? n - 1 : i); }

#endif /* OML_CUBIC_MATH_H */
