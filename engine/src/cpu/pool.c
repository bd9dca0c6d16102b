/* cpu/pool.c — pooling kernels, one plane per iteration (planes spread over
 * OpenMP threads; a plane's sums never are, so results do not depend on the
 * thread count). Window bounds follow PyTorch's CPU kernels exactly;
 * window sums run in float64. */
#include "pool.h"

#include <math.h>

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

/* ---- max ------------------------------------------------------------------- */

/* NaN wins and propagates (the last NaN's index), as PyTorch's `val > max || isnan(val)`;
 * on ties the first maximum is kept */
#define MAX_POOL_FORWARD(NAME, T)                                                                 \
  static void NAME(const T *x, T *out, int64_t *indices, const oml_pool2d *p) {                   \
    const int64_t H = p->in_h, W = p->in_w, oh_n = p->out_h, ow_n = p->out_w;                     \
    _Pragma("omp parallel for if (oml_parallel_ok(p->planes * oh_n * ow_n * p->kh * p->kw)) schedule(static)") \
    for (int64_t pl = 0; pl < p->planes; pl++) {                                                  \
      const T *in = x + pl * H * W;                                                               \
      T *o = out + pl * oh_n * ow_n;                                                              \
      int64_t *ix = indices ? indices + pl * oh_n * ow_n : NULL;                                  \
      for (int64_t oh = 0; oh < oh_n; oh++) {                                                     \
        int64_t h0 = oh * p->sh - p->ph, h1 = min64(h0 + (p->kh - 1) * p->dh + 1, H);             \
        while (h0 < 0) h0 += p->dh;                                                               \
        for (int64_t ow = 0; ow < ow_n; ow++) {                                                   \
          int64_t w0 = ow * p->sw - p->pw, w1 = min64(w0 + (p->kw - 1) * p->dw + 1, W);           \
          while (w0 < 0) w0 += p->dw;                                                             \
          /* a window that holds no input element keeps -inf and a valid index */                 \
          int64_t best_i = min64(h0, H - 1) * W + min64(w0, W - 1);                                \
          T best = -INFINITY;                                                                     \
          for (int64_t ih = h0; ih < h1; ih += p->dh)                                             \
            for (int64_t iw = w0; iw < w1; iw += p->dw) {                                         \
              T v = in[ih * W + iw];                                                              \
              if (v > best || isnan(v)) {                                                         \
                best = v;                                                                         \
                best_i = ih * W + iw;                                                             \
              }                                                                                   \
            }                                                                                     \
          o[oh * ow_n + ow] = best;                                                               \
          if (ix) ix[oh * ow_n + ow] = best_i + 1;                                                \
        }                                                                                         \
      }                                                                                           \
    }                                                                                             \
  }

/* Outputs per chunk of max_forward_w3s2_f32 (its scratch lives on the stack). */
#define ROW_RUN 64

/* float32 max pooling with windows 3 wide, stride 2, padding 1 along the
 * rows (ResNet's stem): a chunk of a row of outputs at a time, each input
 * row copied with -inf past its edges, so that the loop over outputs has
 * no bounds to check and vectorises. Padding never wins (-inf > best is
 * false), and each window is read in the general loop's order, so values
 * and indices are the same. Indices are tracked in int32 (planes below 2^31). */
static void max_forward_w3s2_f32(const float *x, float *out, int64_t *indices, const oml_pool2d *p) {
  const int64_t H = p->in_h, W = p->in_w, oh_n = p->out_h, ow_n = p->out_w;
#pragma omp parallel for if (oml_parallel_ok(p->planes * oh_n * ow_n * p->kh * 3)) schedule(static)
  for (int64_t pl = 0; pl < p->planes; pl++) {
    const float *in = x + pl * H * W;
    float *o = out + pl * oh_n * ow_n;
    int64_t *ix = indices ? indices + pl * oh_n * ow_n : NULL;
    float row[2 * ROW_RUN + 1], best[ROW_RUN];
    int32_t at[ROW_RUN];
    for (int64_t oh = 0; oh < oh_n; oh++) {
      int64_t h0 = oh * p->sh - p->ph, h1 = min64(h0 + (p->kh - 1) * p->dh + 1, H);
      while (h0 < 0) h0 += p->dh;
      for (int64_t ow0 = 0; ow0 < ow_n; ow0 += ROW_RUN) {
        int64_t count = min64(ROW_RUN, ow_n - ow0), x0 = 2 * ow0 - 1, width = 2 * count + 1;
        /* a window that holds no input element keeps -inf and a valid index */
        for (int64_t k = 0; k < count; k++) {
          best[k] = -INFINITY;
          at[k] = (int32_t)(min64(h0, H - 1) * W + min64(max64(x0 + 2 * k, 0), W - 1));
        }
        int64_t lo = min64(max64(-x0, 0), width), hi = max64(min64(W - x0, width), lo);
        for (int64_t ih = h0; ih < h1; ih += p->dh) {
          for (int64_t c = 0; c < lo; c++) row[c] = -INFINITY;
          for (int64_t c = lo; c < hi; c++) row[c] = in[ih * W + x0 + c];
          for (int64_t c = hi; c < width; c++) row[c] = -INFINITY;
          for (int s = 0; s < 3; s++) {
            int32_t first = (int32_t)(ih * W + x0 + s);
            for (int64_t k = 0; k < count; k++) {
              float v = row[2 * k + s];
              int wins = v > best[k] || isnan(v);
              best[k] = wins ? v : best[k];
              at[k] = wins ? first + 2 * (int32_t)k : at[k];
            }
          }
        }
        for (int64_t k = 0; k < count; k++) o[oh * ow_n + ow0 + k] = best[k];
        if (ix)
          for (int64_t k = 0; k < count; k++) ix[oh * ow_n + ow0 + k] = (int64_t)at[k] + 1;
      }
    }
  }
}

#define MAX_POOL_BACKWARD(NAME, T)                                                                \
  static void NAME(const T *go, const int64_t *indices, T *gi, const oml_pool2d *p) {             \
    const int64_t in_n = p->in_h * p->in_w, out_n = p->out_h * p->out_w;                          \
    _Pragma("omp parallel for if (oml_parallel_ok(p->planes * (in_n + out_n))) schedule(static)") \
    for (int64_t pl = 0; pl < p->planes; pl++) {                                                  \
      T *g = gi + pl * in_n;                                                                      \
      for (int64_t i = 0; i < in_n; i++) g[i] = 0;                                                \
      for (int64_t i = 0; i < out_n; i++) g[indices[pl * out_n + i] - 1] += go[pl * out_n + i];   \
    }                                                                                             \
  }

/* ---- average --------------------------------------------------------------- */

/* PyTorch's window: clipped to the padded input, then to the input; the
 * divisor counts the padding (count_include_pad) or not. 0 for an empty window. */
static inline int64_t avg_window(const oml_pool2d *p, int64_t oh, int64_t ow, int64_t *h0, int64_t *h1, int64_t *w0,
                                 int64_t *w1) {
  *h0 = oh * p->sh - p->ph;
  *w0 = ow * p->sw - p->pw;
  *h1 = min64(*h0 + p->kh, p->in_h + p->ph);
  *w1 = min64(*w0 + p->kw, p->in_w + p->pw);
  int64_t padded = (*h1 - *h0) * (*w1 - *w0);
  *h0 = max64(*h0, 0);
  *w0 = max64(*w0, 0);
  *h1 = min64(*h1, p->in_h);
  *w1 = min64(*w1, p->in_w);
  if (*h0 >= *h1 || *w0 >= *w1) return 0;
  return p->count_include_pad ? padded : (*h1 - *h0) * (*w1 - *w0);
}

/* PyTorch's adaptive window: [floor(i*n/m), ceil((i+1)*n/m)) */
static inline void adaptive_window(int64_t i, int64_t n, int64_t m, int64_t *lo, int64_t *hi) {
  *lo = i * n / m;
  *hi = ((i + 1) * n + m - 1) / m;
}

static inline int64_t adaptive_windows(const oml_pool2d *p, int64_t oh, int64_t ow, int64_t *h0, int64_t *h1,
                                       int64_t *w0, int64_t *w1) {
  adaptive_window(oh, p->in_h, p->out_h, h0, h1);
  adaptive_window(ow, p->in_w, p->out_w, w0, w1);
  return (*h1 - *h0) * (*w1 - *w0);
}

/* WINDOW is avg_window or adaptive_windows: both give the bounds and the divisor */
#define AVG_FORWARD(NAME, T, WINDOW)                                                              \
  static void NAME(const T *x, T *out, const oml_pool2d *p) {                                     \
    const int64_t H = p->in_h, W = p->in_w, oh_n = p->out_h, ow_n = p->out_w;                     \
    _Pragma("omp parallel for if (oml_parallel_ok(p->planes * (H * W + oh_n * ow_n))) schedule(static)") \
    for (int64_t pl = 0; pl < p->planes; pl++) {                                                  \
      const T *in = x + pl * H * W;                                                               \
      T *o = out + pl * oh_n * ow_n;                                                              \
      for (int64_t oh = 0; oh < oh_n; oh++)                                                       \
        for (int64_t ow = 0; ow < ow_n; ow++) {                                                   \
          int64_t h0, h1, w0, w1, div = WINDOW(p, oh, ow, &h0, &h1, &w0, &w1);                    \
          double sum = 0;                                                                         \
          for (int64_t ih = h0; ih < h1; ih++) {                                                  \
            const T *row = in + ih * W;                                                           \
            _Pragma("omp simd reduction(+ : sum)") for (int64_t iw = w0; iw < w1; iw++) sum += row[iw]; \
          }                                                                                       \
          o[oh * ow_n + ow] = (T)(div ? sum / (double)div : 0);                                   \
        }                                                                                         \
    }                                                                                             \
  }

#define AVG_BACKWARD(NAME, T, WINDOW)                                                             \
  static void NAME(const T *go, T *gi, const oml_pool2d *p) {                                     \
    const int64_t H = p->in_h, W = p->in_w, oh_n = p->out_h, ow_n = p->out_w;                     \
    _Pragma("omp parallel for if (oml_parallel_ok(p->planes * (H * W + oh_n * ow_n))) schedule(static)") \
    for (int64_t pl = 0; pl < p->planes; pl++) {                                                  \
      T *g = gi + pl * H * W;                                                                     \
      const T *o = go + pl * oh_n * ow_n;                                                         \
      for (int64_t i = 0; i < H * W; i++) g[i] = 0;                                               \
      for (int64_t oh = 0; oh < oh_n; oh++)                                                       \
        for (int64_t ow = 0; ow < ow_n; ow++) {                                                   \
          int64_t h0, h1, w0, w1, div = WINDOW(p, oh, ow, &h0, &h1, &w0, &w1);                    \
          if (div == 0) continue;                                                                 \
          const T share = (T)(o[oh * ow_n + ow] / (double)div);                                   \
          for (int64_t ih = h0; ih < h1; ih++)                                                    \
            for (int64_t iw = w0; iw < w1; iw++) g[ih * W + iw] += share;                         \
        }                                                                                         \
    }                                                                                             \
  }

MAX_POOL_FORWARD(max_forward_f32, float)
MAX_POOL_FORWARD(max_forward_f64, double)
MAX_POOL_BACKWARD(max_backward_f32, float)
MAX_POOL_BACKWARD(max_backward_f64, double)
AVG_FORWARD(avg_forward_f32, float, avg_window)
AVG_FORWARD(avg_forward_f64, double, avg_window)
AVG_BACKWARD(avg_backward_f32, float, avg_window)
AVG_BACKWARD(avg_backward_f64, double, avg_window)
AVG_FORWARD(adaptive_forward_f32, float, adaptive_windows)
AVG_FORWARD(adaptive_forward_f64, double, adaptive_windows)
AVG_BACKWARD(adaptive_backward_f32, float, adaptive_windows)
AVG_BACKWARD(adaptive_backward_f64, double, adaptive_windows)

static int64_t *index_data(const oml_tensor *t) { return t ? (int64_t *)t->data_ : NULL; }

void oml_cpu_max_pool2d_forward(const oml_tensor *x, oml_tensor *out, oml_tensor *indices, const oml_pool2d *p) {
  int w3s2 = p->kw == 3 && p->sw == 2 && p->pw == 1 && p->dw == 1 && p->in_h * p->in_w < INT32_MAX;
  if (x->dtype_ == OML_FLOAT32 && w3s2)
    max_forward_w3s2_f32((const float *)x->data_, (float *)out->data_, index_data(indices), p);
  else if (x->dtype_ == OML_FLOAT32)
    max_forward_f32((const float *)x->data_, (float *)out->data_, index_data(indices), p);
  else max_forward_f64((const double *)x->data_, (double *)out->data_, index_data(indices), p);
}

void oml_cpu_max_pool2d_backward(const oml_tensor *grad_out, const oml_tensor *indices, oml_tensor *grad_input,
                                 const oml_pool2d *p) {
  if (grad_out->dtype_ == OML_FLOAT32)
    max_backward_f32((const float *)grad_out->data_, index_data(indices), (float *)grad_input->data_, p);
  else max_backward_f64((const double *)grad_out->data_, index_data(indices), (double *)grad_input->data_, p);
}

void oml_cpu_avg_pool2d_forward(const oml_tensor *x, oml_tensor *out, const oml_pool2d *p) {
  if (x->dtype_ == OML_FLOAT32) avg_forward_f32((const float *)x->data_, (float *)out->data_, p);
  else avg_forward_f64((const double *)x->data_, (double *)out->data_, p);
}

void oml_cpu_avg_pool2d_backward(const oml_tensor *grad_out, oml_tensor *grad_input, const oml_pool2d *p) {
  if (grad_out->dtype_ == OML_FLOAT32) avg_backward_f32((const float *)grad_out->data_, (float *)grad_input->data_, p);
  else avg_backward_f64((const double *)grad_out->data_, (double *)grad_input->data_, p);
}

void oml_cpu_adaptive_avg_pool2d_forward(const oml_tensor *x, oml_tensor *out, const oml_pool2d *p) {
  if (x->dtype_ == OML_FLOAT32) adaptive_forward_f32((const float *)x->data_, (float *)out->data_, p);
  else adaptive_forward_f64((const double *)x->data_, (double *)out->data_, p);
}

void oml_cpu_adaptive_avg_pool2d_backward(const oml_tensor *grad_out, oml_tensor *grad_input, const oml_pool2d *p) {
  if (grad_out->dtype_ == OML_FLOAT32)
    adaptive_backward_f32((const float *)grad_out->data_, (float *)grad_input->data_, p);
  else adaptive_backward_f64((const double *)grad_out->data_, (double *)grad_input->data_, p);
}
