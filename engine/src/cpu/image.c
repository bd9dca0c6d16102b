/* cpu/image.c — image transform kernels on [C, H, W] views (image.h).
 * The resize follows PIL's ImagingResample: separable, horizontal pass
 * then vertical pass, each with per-output-pixel taps computed once; the
 * bilinear (triangle) filter is stretched by the scale when shrinking, which
 * is the antialiasing. uint8 images take PIL's 8-bit path: weights in
 * 22-bit fixed point, int32 sums, rounded to uint8 after each pass, the
 * horizontal pass only over the rows the vertical one reads; so results
 * are PIL's. float32 images are summed in double. */
#include "image.h"

#include <math.h>
#include <stdlib.h>

static inline uint8_t round_u8(double v) {
  v = floor(v + 0.5);
  return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

static inline void store_pixel(char *p, int32_t dtype, double v) {
  if (dtype == OML_UINT8)
    *(uint8_t *)p = round_u8(v);
  else
    *(float *)p = (float)v;
}

static inline double bilinear_filter(double x) {
  x = fabs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

/* For each output pixel i of one axis: the first input pixel start[i], the
 * tap count count[i] and its weights weights[i * max_taps + k] (sum 1). */
typedef struct {
  int64_t *start, *count;
  double *weights;
  int64_t max_taps;
} resize_taps;

static void taps_free(resize_taps *t) {
  free(t->start);
  free(t->count);
  free(t->weights);
  *t = (resize_taps){0};
}

static int taps_make(int64_t in, int64_t out, resize_taps *t) {
  double scale = (double)in / (double)out;
  double filter_scale = scale > 1.0 ? scale : 1.0;
  double support = filter_scale; /* the bilinear filter's support is 1 */
  t->max_taps = (int64_t)ceil(support) * 2 + 1;
  t->start = malloc((size_t)out * sizeof *t->start);
  t->count = malloc((size_t)out * sizeof *t->count);
  t->weights = calloc((size_t)(out * t->max_taps), sizeof *t->weights);
  if (!t->start || !t->count || !t->weights) {
    taps_free(t);
    return oml_error("out of memory for the resize weights");
  }
  for (int64_t i = 0; i < out; i++) {
    double center = ((double)i + 0.5) * scale;
    int64_t lo = (int64_t)(center - support + 0.5), hi = (int64_t)(center + support + 0.5);
    if (lo < 0) lo = 0;
    if (hi > in) hi = in;
    double *w = t->weights + i * t->max_taps, total = 0.0;
    int64_t n = hi - lo;
    for (int64_t k = 0; k < n; k++) total += w[k] = bilinear_filter(((double)(k + lo) - center + 0.5) / filter_scale);
    for (int64_t k = 0; total != 0.0 && k < n; k++) w[k] /= total;
    t->start[i] = lo;
    t->count[i] = n;
  }
  return 0;
}

/* PIL's fixed point: 8 bits of pixel, 2 of headroom for the overshoot of
 * negative weights (none here, but the sums are PIL's) */
#define FIXED_BITS 22

/* taps' weights in fixed point, rounded away from zero as PIL's
 * normalize_coeffs_8bpc; -1 with an error when out of memory */
static int32_t *fixed_weights(const resize_taps *t, int64_t out) {
  int32_t *k = malloc((size_t)(out * t->max_taps) * sizeof *k);
  if (!k) {
    oml_error("out of memory for the resize weights");
    return NULL;
  }
  for (int64_t i = 0; i < out * t->max_taps; i++) {
    double w = t->weights[i] * (double)(1 << FIXED_BITS);
    k[i] = (int32_t)(w < 0 ? w - 0.5 : w + 0.5);
  }
  return k;
}

static inline uint8_t clip_fixed(int32_t sum) {
  if (sum <= 0) return 0;
  if (sum >= (255 << FIXED_BITS)) return 255;
  return (uint8_t)(sum >> FIXED_BITS);
}

/* Two packed RGB rows resampled across at once: the taps and weights are
 * loaded once for both, and six sums keep the multipliers busy. */
static void across_rgb_pair(const uint8_t *a, const uint8_t *b, const resize_taps *t, const int32_t *k,
                            int64_t out_w, uint8_t *out_a, uint8_t *out_b) {
  for (int64_t x = 0; x < out_w; x++) {
    const int32_t *w = k + x * t->max_taps;
    int64_t n = t->count[x], at = t->start[x] * 3;
    const uint8_t *p = a + at, *q = b + at;
    int32_t a0 = 1 << (FIXED_BITS - 1), a1 = a0, a2 = a0, b0 = a0, b1 = a0, b2 = a0;
    for (int64_t j = 0; j < n; j++) {
      int32_t wj = w[j];
      a0 += (int32_t)p[3 * j] * wj;
      a1 += (int32_t)p[3 * j + 1] * wj;
      a2 += (int32_t)p[3 * j + 2] * wj;
      b0 += (int32_t)q[3 * j] * wj;
      b1 += (int32_t)q[3 * j + 1] * wj;
      b2 += (int32_t)q[3 * j + 2] * wj;
    }
    out_a[3 * x] = clip_fixed(a0), out_a[3 * x + 1] = clip_fixed(a1), out_a[3 * x + 2] = clip_fixed(a2);
    out_b[3 * x] = clip_fixed(b0), out_b[3 * x + 1] = clip_fixed(b1), out_b[3 * x + 2] = clip_fixed(b2);
  }
}

/* rows [first_row, first_row + rows) of src resampled across into
 * row-major uint8 [rows, out_w, C]; packed RGB rows (the loader's) go two
 * at a time (an odd last one paired with itself) */
static void resize_u8_across(const oml_image_view *src, int64_t first_row, int64_t rows, const resize_taps *t,
                             const int32_t *k, uint8_t *out, int64_t out_w) {
  int64_t channels = src->channels, cs = src->cstride, ws = src->wstride, taps = t->max_taps;
  if (channels == 3 && cs == 1 && ws == 3) {
    int64_t pairs = (rows + 1) / 2;
#pragma omp parallel for if (oml_parallel_ok(rows * out_w * channels * taps))
    for (int64_t i = 0; i < pairs; i++) {
      int64_t r = 2 * i, r2 = r + 1 < rows ? r + 1 : r;
      across_rgb_pair((const uint8_t *)src->data + (first_row + r) * src->hstride,
                      (const uint8_t *)src->data + (first_row + r2) * src->hstride, t, k, out_w,
                      out + r * out_w * 3, out + r2 * out_w * 3);
    }
    return;
  }
#pragma omp parallel for if (oml_parallel_ok(rows * out_w * channels * taps))
  for (int64_t r = 0; r < rows; r++) {
    const char *line = src->data + (first_row + r) * src->hstride;
    uint8_t *row = out + r * out_w * channels;
    for (int64_t x = 0; x < out_w; x++) {
      const int32_t *w = k + x * taps;
      for (int64_t c = 0; c < channels; c++) {
        const char *p = line + t->start[x] * ws + c * cs;
        int32_t sum = 1 << (FIXED_BITS - 1);
        for (int64_t j = 0; j < t->count[x]; j++) sum += (int32_t) * (const uint8_t *)(p + j * ws) * w[j];
        row[x * channels + c] = clip_fixed(sum);
      }
    }
  }
}

/* Values of one output row summed per tap row, a stretch at a time, so
 * that the inner loop runs along contiguous bytes and vectorizes. */
#define DOWN_STRETCH 512

/* rows [rows, out_w, C] resampled down into dst, whose taps start at row
 * first_row of the image, row 0 of rows */
static void resize_u8_down(const uint8_t *rows, const resize_taps *t, const int32_t *k, int64_t first_row,
                           const oml_image_view *dst) {
  int64_t channels = dst->channels, line_len = dst->width * channels, taps = t->max_taps;
  int packed = dst->cstride == 1 && dst->wstride == channels;
#pragma omp parallel for if (oml_parallel_ok(dst->height * line_len * taps))
  for (int64_t y = 0; y < dst->height; y++) {
    const int32_t *w = k + y * taps;
    const uint8_t *first = rows + (t->start[y] - first_row) * line_len;
    int64_t n = t->count[y];
    char *line = dst->data + y * dst->hstride;
    for (int64_t from = 0; from < line_len; from += DOWN_STRETCH) {
      int64_t m = line_len - from < DOWN_STRETCH ? line_len - from : DOWN_STRETCH;
      int32_t sum[DOWN_STRETCH];
      for (int64_t i = 0; i < m; i++) sum[i] = 1 << (FIXED_BITS - 1);
      for (int64_t j = 0; j < n; j++) {
        const uint8_t *p = first + j * line_len + from;
        int32_t wj = w[j];
        for (int64_t i = 0; i < m; i++) sum[i] += (int32_t)p[i] * wj;
      }
      for (int64_t i = 0; i < m; i++) {
        int64_t at = from + i;
        char *to = packed ? line + at : line + (at / channels) * dst->wstride + (at % channels) * dst->cstride;
        *(uint8_t *)to = clip_fixed(sum[i]);
      }
    }
  }
}

static int resize_u8(const oml_image_view *src, const oml_image_view *dst) {
  int64_t out_h = dst->height, out_w = dst->width;
  resize_taps across = {0}, down = {0};
  int32_t *k_across = NULL, *k_down = NULL;
  uint8_t *rows = NULL;
  int rc = -1;
  if (taps_make(src->width, out_w, &across) || taps_make(src->height, out_h, &down)) goto done;
  if (!(k_across = fixed_weights(&across, out_w)) || !(k_down = fixed_weights(&down, out_h))) goto done;
  int64_t first_row = down.start[0], last_row = down.start[out_h - 1] + down.count[out_h - 1];
  rows = malloc((size_t)((last_row - first_row) * out_w * src->channels));
  if (!rows) {
    oml_error("out of memory for a %lldx%lld resize", (long long)out_h, (long long)out_w);
    goto done;
  }
  resize_u8_across(src, first_row, last_row - first_row, &across, k_across, rows, out_w);
  resize_u8_down(rows, &down, k_down, first_row, dst);
  rc = 0;
done:
  free(rows);
  free(k_across);
  free(k_down);
  taps_free(&across);
  taps_free(&down);
  return rc;
}

static int resize_float(const oml_image_view *src, const oml_image_view *dst) {
  int64_t channels = src->channels, in_h = src->height, in_w = src->width;
  int64_t out_h = dst->height, out_w = dst->width;
  resize_taps across = {0}, down = {0};
  if (taps_make(in_w, out_w, &across)) return -1;
  if (taps_make(in_h, out_h, &down)) {
    taps_free(&across);
    return -1;
  }
  /* horizontal pass into rows [C, in_h, out_w] */
  double *rows = malloc((size_t)(channels * in_h * out_w) * sizeof *rows);
  if (!rows) {
    taps_free(&across);
    taps_free(&down);
    return oml_error("out of memory for a %lldx%lld resize", (long long)out_h, (long long)out_w);
  }
  int64_t n_rows = channels * in_h;
#pragma omp parallel for if (oml_parallel_ok(n_rows * out_w * across.max_taps))
  for (int64_t r = 0; r < n_rows; r++) {
    const char *line = src->data + (r / in_h) * src->cstride + (r % in_h) * src->hstride;
    double *row = rows + r * out_w;
    for (int64_t x = 0; x < out_w; x++) {
      const double *w = across.weights + x * across.max_taps;
      const char *p = line + across.start[x] * src->wstride;
      double sum = 0.0;
      for (int64_t k = 0; k < across.count[x]; k++) sum += w[k] * (double)*(const float *)(p + k * src->wstride);
      row[x] = sum;
    }
  }
  /* vertical pass */
  int64_t n_out_rows = channels * out_h;
#pragma omp parallel for if (oml_parallel_ok(n_out_rows * out_w * down.max_taps))
  for (int64_t r = 0; r < n_out_rows; r++) {
    int64_t c = r / out_h, y = r % out_h;
    const double *w = down.weights + y * down.max_taps;
    const double *first = rows + (c * in_h + down.start[y]) * out_w;
    char *line = dst->data + c * dst->cstride + y * dst->hstride;
    for (int64_t x = 0; x < out_w; x++) {
      double sum = 0.0;
      for (int64_t k = 0; k < down.count[y]; k++) sum += w[k] * first[k * out_w + x];
      *(float *)(line + x * dst->wstride) = (float)sum;
    }
  }
  free(rows);
  taps_free(&across);
  taps_free(&down);
  return 0;
}

int oml_cpu_image_resize(const oml_image_view *src, const oml_image_view *dst) {
  return src->dtype == OML_UINT8 ? resize_u8(src, dst) : resize_float(src, dst);
}

static inline int64_t elem_size(int32_t dtype) { return dtype == OML_UINT8 ? 1 : 4; }

void oml_cpu_image_crop(const oml_image_view *src, const oml_image_view *dst, int64_t top, int64_t left) {
  int64_t n_rows = dst->channels * dst->height, width = dst->width, size = elem_size(dst->dtype);
#pragma omp parallel for if (oml_parallel_ok(n_rows * width))
  for (int64_t r = 0; r < n_rows; r++) {
    int64_t c = r / dst->height, y = r % dst->height;
    const char *from = src->data + c * src->cstride + (y + top) * src->hstride + left * src->wstride;
    char *to = dst->data + c * dst->cstride + y * dst->hstride;
    for (int64_t x = 0; x < width; x++) memcpy(to + x * dst->wstride, from + x * src->wstride, (size_t)size);
  }
}

void oml_cpu_image_hflip(const oml_image_view *src, const oml_image_view *dst) {
  int64_t n_rows = dst->channels * dst->height, width = dst->width, size = elem_size(dst->dtype);
#pragma omp parallel for if (oml_parallel_ok(n_rows * width))
  for (int64_t r = 0; r < n_rows; r++) {
    int64_t c = r / dst->height, y = r % dst->height;
    const char *from = src->data + c * src->cstride + y * src->hstride;
    char *to = dst->data + c * dst->cstride + y * dst->hstride;
    for (int64_t x = 0; x < width; x++)
      memcpy(to + x * dst->wstride, from + (width - 1 - x) * src->wstride, (size_t)size);
  }
}

void oml_cpu_image_pad(const oml_image_view *src, const oml_image_view *dst, int64_t top, int64_t left, double value) {
  int64_t n_rows = dst->channels * dst->height, width = dst->width, size = elem_size(dst->dtype);
  char fill[4];
  store_pixel(fill, dst->dtype, value);
#pragma omp parallel for if (oml_parallel_ok(n_rows * width))
  for (int64_t r = 0; r < n_rows; r++) {
    int64_t c = r / dst->height, y = r % dst->height, sy = y - top;
    char *to = dst->data + c * dst->cstride + y * dst->hstride;
    const char *from = src->data + c * src->cstride + sy * src->hstride;
    for (int64_t x = 0; x < width; x++) {
      int64_t sx = x - left;
      int inside = sy >= 0 && sy < src->height && sx >= 0 && sx < src->width;
      memcpy(to + x * dst->wstride, inside ? from + sx * src->wstride : fill, (size_t)size);
    }
  }
}

void oml_cpu_image_normalize(const oml_image_view *src, const oml_image_view *dst, const double *mean,
                             const double *std) {
  int64_t n_rows = dst->channels * dst->height, width = dst->width;
#pragma omp parallel for if (oml_parallel_ok(n_rows * width))
  for (int64_t r = 0; r < n_rows; r++) {
    int64_t c = r / dst->height, y = r % dst->height;
    /* float32 steps, as torchvision's ToTensor (x / 255) then Normalize */
    float m = (float)mean[c], s = (float)std[c];
    const char *from = src->data + c * src->cstride + y * src->hstride;
    char *to = dst->data + c * dst->cstride + y * dst->hstride;
    for (int64_t x = 0; x < width; x++) {
      float v = (float)*(const uint8_t *)(from + x * src->wstride) / 255.0f;
      *(float *)(to + x * dst->wstride) = (v - m) / s;
    }
  }
}

/* ---- colour: float32 steps with truncation to uint8, as torchvision's
 * tensor functions (_blend, rgb_to_grayscale, _rgb2hsv, _hsv2rgb) ------- */

static inline float gray_of(float r, float g, float b) { return 0.2989f * r + 0.587f * g + 0.114f * b; }

static inline uint8_t trunc_u8(float v) { return (uint8_t)(v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v); }

#define PIXEL(view, y, x, c) ((const uint8_t *)((view)->data + (y) * (view)->hstride + (x) * (view)->wstride + \
                                                 (c) * (view)->cstride))
#define PIXEL_OUT(view, y, x, c) ((uint8_t *)((view)->data + (y) * (view)->hstride + (x) * (view)->wstride + \
                                              (c) * (view)->cstride))

double oml_cpu_image_gray_mean(const oml_image_view *src) {
  int64_t total = 0; /* exact, so the same for any thread count */
#pragma omp parallel for reduction(+ : total) if (oml_parallel_ok(src->height * src->width))
  for (int64_t y = 0; y < src->height; y++)
    for (int64_t x = 0; x < src->width; x++)
      total += (int64_t)gray_of(*PIXEL(src, y, x, 0), *PIXEL(src, y, x, 1), *PIXEL(src, y, x, 2));
  return (double)total / (double)(src->height * src->width);
}

void oml_cpu_image_blend(const oml_image_view *src, const oml_image_view *dst, double factor, int other, double mean) {
  float f = (float)factor, rest = 1.0f - (float)factor;
#pragma omp parallel for if (oml_parallel_ok(src->height * src->width))
  for (int64_t y = 0; y < src->height; y++)
    for (int64_t x = 0; x < src->width; x++) {
      float rgb[3] = {*PIXEL(src, y, x, 0), *PIXEL(src, y, x, 1), *PIXEL(src, y, x, 2)};
      float base = other == OML_BLEND_BLACK ? 0.0f
                   : other == OML_BLEND_MEAN ? (float)mean
                                             : (float)trunc_u8(gray_of(rgb[0], rgb[1], rgb[2]));
      for (int c = 0; c < 3; c++) *PIXEL_OUT(dst, y, x, c) = trunc_u8(f * rgb[c] + rest * base);
    }
}

/* one pixel's hue turned by shift, channels in [0, 1] */
static inline void shift_hue(float *rgb, float shift) {
  float r = rgb[0], g = rgb[1], b = rgb[2];
  float maxc = fmaxf(r, fmaxf(g, b)), minc = fminf(r, fminf(g, b));
  int flat = maxc == minc;
  float range = maxc - minc;
  float s = range / (flat ? 1.0f : maxc), divisor = flat ? 1.0f : range;
  float rc = (maxc - r) / divisor, gc = (maxc - g) / divisor, bc = (maxc - b) / divisor;
  float h = maxc == r ? bc - gc : maxc == g ? 2.0f + rc - bc : 4.0f + gc - rc;
  h = fmodf(h / 6.0f + 1.0f, 1.0f);
  h = h + shift;
  h = h - floorf(h); /* Python's % 1.0 */
  float v = maxc, i = floorf(h * 6.0f), f = h * 6.0f - i;
  float p = fminf(fmaxf(v * (1.0f - s), 0.0f), 1.0f);
  float q = fminf(fmaxf(v * (1.0f - s * f), 0.0f), 1.0f);
  float t = fminf(fmaxf(v * (1.0f - s * (1.0f - f)), 0.0f), 1.0f);
  switch (((int)i % 6 + 6) % 6) {
  case 0: rgb[0] = v, rgb[1] = t, rgb[2] = p; break;
  case 1: rgb[0] = q, rgb[1] = v, rgb[2] = p; break;
  case 2: rgb[0] = p, rgb[1] = v, rgb[2] = t; break;
  case 3: rgb[0] = p, rgb[1] = q, rgb[2] = v; break;
  case 4: rgb[0] = t, rgb[1] = p, rgb[2] = v; break;
  default: rgb[0] = v, rgb[1] = p, rgb[2] = q; break;
  }
}

void oml_cpu_image_adjust_hue(const oml_image_view *src, const oml_image_view *dst, double shift) {
#pragma omp parallel for if (oml_parallel_ok(src->height * src->width))
  for (int64_t y = 0; y < src->height; y++)
    for (int64_t x = 0; x < src->width; x++) {
      float rgb[3];
      for (int c = 0; c < 3; c++) rgb[c] = (float)*PIXEL(src, y, x, c) / 255.0f;
      shift_hue(rgb, (float)shift);
      for (int c = 0; c < 3; c++) *PIXEL_OUT(dst, y, x, c) = trunc_u8(rgb[c] * 255.0f);
    }
}
