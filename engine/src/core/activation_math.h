/* activation_math.h — per-element math of the activations (ReLU, GELU in
 * its erf and tanh forms, and their derivatives), shared by the CPU and CUDA kernels.
 * float32 uses branch-free forms that vectorise; float64 uses libm. */
#ifndef OML_ACTIVATION_MATH_H
#define OML_ACTIVATION_MATH_H

#include "scalar_math.h"

#define OML_SQRT1_2 0.70710678118654752440          /* 1/sqrt(2) */
#define OML_INV_SQRT_2PI 0.39894228040143267794     /* 1/sqrt(2 pi) */
#define OML_SQRT_2_OVER_PI 0.79788456080286535588   /* sqrt(2/pi), GELU's tanh form */
#define OML_GELU_KAPPA 0.044715

/* cond ? a : b through bit masks: with trapping math (GCC's default) a
 * ternary would keep b from being computed on both paths, and the loop
 * from vectorising. */
OML_HD static inline float oml_select_f(int cond, float a, float b) {
  uint32_t ua, ub, mask = 0u - (uint32_t)(cond != 0);
  memcpy(&ua, &a, sizeof ua);
  memcpy(&ub, &b, sizeof ub);
  uint32_t r = (ua & mask) | (ub & ~mask);
  float f;
  memcpy(&f, &r, sizeof f);
  return f;
}

/* erfc(z) for z >= 0 in float32, within 2e-6 relative for z < 4 (beyond,
 * where erfc < 2e-8, the rounding of -z^2 limits it): Numerical Recipes'
 * erfcc, a fit of erfc(z) e^{z^2} / t in t = 1/(1 + z/2). */
OML_HD static inline float oml_erfc_nonneg_f(float z) {
  float t = 1.0f / fmaf(0.5f, z, 1.0f);
  float p = 0.17087277f;
  p = fmaf(p, t, -0.82215223f);
  p = fmaf(p, t, 1.48851587f);
  p = fmaf(p, t, -1.13520398f);
  p = fmaf(p, t, 0.27886807f);
  p = fmaf(p, t, -0.18628806f);
  p = fmaf(p, t, 0.09678418f);
  p = fmaf(p, t, 0.37409196f);
  p = fmaf(p, t, 1.00002368f);
  p = fmaf(p, t, -1.26551223f);
  return t * oml_expf(fmaf(-z, z, p));
}

/* ReLU keeps NaN (x < 0 is false); its derivative is 1 above 0, else 0, as a
 * select through bit masks: the compiler makes g * (x > 0 ? 1 : 0) a branch,
 * which keeps the loop from vectorising. */
OML_HD static inline float oml_relu_f(float x) { return x < 0.0f ? 0.0f : x; }
OML_HD static inline double oml_relu_d(double x) { return x < 0.0 ? 0.0 : x; }
OML_HD static inline float oml_relu_grad_f(float x) { return oml_select_f(x > 0.0f, 1.0f, 0.0f); }
OML_HD static inline double oml_relu_grad_d(double x) { return (double)oml_select_f(x > 0.0, 1.0f, 0.0f); }

/* Phi(x), the standard normal CDF, = (1 + erf(x/sqrt2)) / 2, taken from
 * erfc of |x| so that it keeps its precision in the lower tail too. */
OML_HD static inline float oml_normal_cdf_f(float x) {
  float c = 0.5f * oml_erfc_nonneg_f(fabsf(x) * (float)OML_SQRT1_2);
  return oml_select_f(x < 0.0f, c, 1.0f - c);
}
OML_HD static inline double oml_normal_cdf_d(double x) { return 0.5 * erfc(-x * OML_SQRT1_2); }

/* GELU(x) = x Phi(x); its derivative Phi(x) + x phi(x) */
OML_HD static inline float oml_gelu_f(float x) { return x * oml_normal_cdf_f(x); }
OML_HD static inline double oml_gelu_d(double x) { return x * oml_normal_cdf_d(x); }
OML_HD static inline float oml_gelu_grad_f(float x) {
  return oml_normal_cdf_f(x) + x * (float)OML_INV_SQRT_2PI * oml_expf(-0.5f * x * x);
}
OML_HD static inline double oml_gelu_grad_d(double x) {
  return oml_normal_cdf_d(x) + x * OML_INV_SQRT_2PI * exp(-0.5 * x * x);
}

/* The tanh form 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + kappa x^3), taken as
 * x s with s = sigmoid(2u) = (1 + tanh(u)) / 2, which has no cancellation. Its
 * derivative: s + x (1 - tanh(u)^2) u' / 2 = s + 2 x s (1 - s) u'. In float32
 * 1 - s is taken as e s with e = exp(-2u) (clamped where s is 0 anyway), as
 * 1 - s would lose its digits where s is near 1. */
OML_HD static inline float oml_gelu_tanh_u_f(float x) {
  return (float)OML_SQRT_2_OVER_PI * fmaf((float)OML_GELU_KAPPA * x, x * x, x);
}
OML_HD static inline double oml_gelu_tanh_sigmoid_d(double x) {
  double u = OML_SQRT_2_OVER_PI * (x + OML_GELU_KAPPA * x * x * x);
  return 1.0 / (1.0 + exp(-2.0 * u));
}
OML_HD static inline float oml_gelu_tanh_f(float x) { return x / (1.0f + oml_expf(-2.0f * oml_gelu_tanh_u_f(x))); }
OML_HD static inline double oml_gelu_tanh_d(double x) { return x * oml_gelu_tanh_sigmoid_d(x); }
OML_HD static inline float oml_gelu_tanh_grad_f(float x) {
  float t = -2.0f * oml_gelu_tanh_u_f(x);
  float e = oml_expf(t < 80.0f ? t : 80.0f);
  float s = 1.0f / (1.0f + e);
  float du = (float)OML_SQRT_2_OVER_PI * fmaf(3.0f * (float)OML_GELU_KAPPA * x, x, 1.0f);
  return s + 2.0f * x * s * (e * s) * du;
}
OML_HD static inline double oml_gelu_tanh_grad_d(double x) {
  double s = oml_gelu_tanh_sigmoid_d(x);
  double du = OML_SQRT_2_OVER_PI * (1.0 + 3.0 * OML_GELU_KAPPA * x * x);
  return s + 2.0 * x * s * (1.0 - s) * du;
}

#endif /* OML_ACTIVATION_MATH_H */
