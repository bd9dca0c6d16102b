/* pool_math.h — 2-d pooling's window arithmetic (PyTorch's bounds), shared
 * by the CPU and CUDA kernels. Data is [planes, H, W], contiguous. */
#ifndef OML_POOL_MATH_H
#define OML_POOL_MATH_H

#include <stdint.h>

#ifdef __CUDACC__
#define OML_HD __host__ __device__
#else
#define OML_HD
#endif

typedef struct oml_pool2d {
  int64_t planes, in_h, in_w, out_h, out_w;
  int64_t kh, kw, sh, sw, ph, pw, dh, dw; /* adaptive pooling uses none of these */
  int32_t count_include_pad;
} oml_pool2d;

OML_HD static inline int64_t oml_pool_min(int64_t a, int64_t b) { return a < b ? a : b; }
OML_HD static inline int64_t oml_pool_max(int64_t a, int64_t b) { return a > b ? a : b; }

/* A max window along one axis: taps lo, lo + d, ... below hi, inside the
 * input [0, n). */
OML_HD static inline void oml_pool_max_window(int64_t o, int64_t stride, int64_t pad, int64_t k, int64_t d, int64_t n,
                                              int64_t *lo, int64_t *hi) {
  *lo = o * stride - pad;
  *hi = oml_pool_min(*lo + (k - 1) * d + 1, n);
  while (*lo < 0) *lo += d;
}

/* The flat index a max window that holds no input element reports (its
 * value stays -inf): the nearest valid element. */
OML_HD static inline int64_t oml_pool_max_empty_index(int64_t h0, int64_t w0, int64_t H, int64_t W) {
  return oml_pool_min(h0, H - 1) * W + oml_pool_min(w0, W - 1);
}

/* NaN wins and propagates (the last NaN), as PyTorch's `val > max || isnan(val)`;
 * on ties the first maximum is kept. */
OML_HD static inline int oml_pool_max_wins(double v, double best) { return v > best || v != v; }

/* PyTorch's average window: clipped to the padded input, then to the input;
 * the divisor counts the padding (count_include_pad) or not. 0 for an empty window. */
OML_HD static inline int64_t oml_pool_avg_window(const oml_pool2d *p, int64_t oh, int64_t ow, int64_t *h0,
                                                 int64_t *h1, int64_t *w0, int64_t *w1) {
  *h0 = oh * p->sh - p->ph;
  *w0 = ow * p->sw - p->pw;
  *h1 = oml_pool_min(*h0 + p->kh, p->in_h + p->ph);
  *w1 = oml_pool_min(*w0 + p->kw, p->in_w + p->pw);
  int64_t padded = (*h1 - *h0) * (*w1 - *w0);
  *h0 = oml_pool_max(*h0, 0);
  *w0 = oml_pool_max(*w0, 0);
  *h1 = oml_pool_min(*h1, p->in_h);
  *w1 = oml_pool_min(*w1, p->in_w);
  if (*h0 >= *h1 || *w0 >= *w1) return 0;
  return p->count_include_pad ? padded : (*h1 - *h0) * (*w1 - *w0);
}

/* PyTorch's adaptive window: [floor(i*n/m), ceil((i+1)*n/m)) */
OML_HD static inline void oml_pool_adaptive_window(int64_t i, int64_t n, int64_t m, int64_t *lo, int64_t *hi) {
  *lo = i * n / m;
  *hi = ((i + 1) * n + m - 1) / m;
}

/* Both adaptive windows, and the divisor (as oml_pool_avg_window) */
OML_HD static inline int64_t oml_pool_adaptive_windows(const oml_pool2d *p, int64_t oh, int64_t ow, int64_t *h0,
                                                       int64_t *h1, int64_t *w0, int64_t *w1) {
  oml_pool_adaptive_window(oh, p->in_h, p->out_h, h0, h1);
  oml_pool_adaptive_window(ow, p->in_w, p->out_w, w0, w1);
  return (*h1 - *h0) * (*w1 - *w0);
}

#endif /* OML_POOL_MATH_H */
