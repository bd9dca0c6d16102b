/* cpu/conv.c — 2-d convolution as im2col + GEMM.
 *
 * The output is computed in tiles of about TILE_COLUMNS output pixels: a
 * band of output rows of one image, or (for small feature maps) a few whole
 * images. Each tile's input patches are unfolded into a column matrix
 * [C*kH*kW, columns] that stays in cache, and one OpenBLAS GEMM per group
 * gives the tile's outputs. A 1x1 stride-1 unpadded convolution reads the
 * input planes where they lie (no unfold); 3x3 stride-1 float32 ones (most
 * of a ResNet) take Winograd's algorithm instead (conv_winograd.c), for
 * forward and grad_input. OpenMP threads take whole tiles, each running its
 * GEMMs on OpenBLAS's calling thread; grad_weight, a sum over every image,
 * adds a few partial sums of consecutive chunks in order. Tiles, chunks and
 * partial sums never depend on the thread count, so neither do the results. */
#include "conv.h"

#include <cblas.h>
#include <limits.h>
#include <omp.h>

/* Columns per GEMM: OpenBLAS runs fastest on a few hundred (the packed
 * columns stay in cache); grad_weight's GEMMs sum over their columns and
 * prefer more. At most MAX_TILE_BYTES for one tile's columns. */
#define TILE_COLUMNS 512
#define WEIGHT_COLUMNS 1568
#define MAX_TILE_BYTES ((int64_t)32 << 20)
/* grad_weight's partial sums: at most SLOTS of them, and this many bytes */
#define SLOTS 4
#define MAX_PARTIAL_BYTES ((int64_t)64 << 20)

typedef struct plan {
  const oml_conv2d_geometry *g;
  int32_t dtype;
  int64_t es;        /* bytes per element */
  int64_t L;         /* output pixels per image */
  int64_t rows;      /* c*kh*kw: rows of the column matrix */
  int64_t cg, og, k; /* per group: input and output channels, and cg*kh*kw */
  int pointwise;     /* 1x1, stride 1, no padding: a plane is its own column matrix */
  int64_t nb;        /* images per tile (forward, grad_input) */
  int64_t tile_rows; /* output rows per tile (all of them when nb > 1) */
  int64_t tiles;     /* tiles per chunk of nb images */
  int64_t weight_nb; /* images per grad_weight step */
} plan;

/* Whole images per GEMM of about `columns` columns, within the byte limit. */
static int64_t images_per_gemm(const plan *p, int64_t columns) {
  const oml_conv2d_geometry *g = p->g;
  int64_t nb = columns / (p->L > 0 ? p->L : 1);
  int64_t widest = p->rows > g->o ? p->rows : g->o, per_image = widest * p->L * p->es;
  if (per_image > 0 && nb * per_image > MAX_TILE_BYTES) nb = MAX_TILE_BYTES / per_image;
  if (nb > g->n) nb = g->n;
  if (nb < 1) return 1;
  int64_t chunks = (g->n + nb - 1) / nb;
  return (g->n + chunks - 1) / chunks; /* chunks of even size */
}

static void make_plan(plan *p, const oml_conv2d_geometry *g, int32_t dtype) {
  p->g = g;
  p->dtype = dtype;
  p->es = oml_dtype_size(dtype);
  p->L = g->ho * g->wo;
  p->rows = g->c * g->kh * g->kw;
  p->cg = g->c / g->groups;
  p->og = g->o / g->groups;
  p->k = p->cg * g->kh * g->kw;
  p->pointwise = g->kh == 1 && g->kw == 1 && g->stride_h == 1 && g->stride_w == 1 && g->pad_h == 0 &&
                 g->pad_w == 0;
  p->nb = images_per_gemm(p, TILE_COLUMNS);
  p->tile_rows = g->ho;
  if (p->nb == 1) { /* bands of rows, as even as can be */
    int64_t bands = (p->L + TILE_COLUMNS / 2) / TILE_COLUMNS;
    if (bands > g->ho) bands = g->ho;
    if (bands > 1) p->tile_rows = (g->ho + bands - 1) / bands;
  }
  p->tiles = (g->ho + p->tile_rows - 1) / p->tile_rows;
  p->weight_nb = images_per_gemm(p, WEIGHT_COLUMNS);
}

/* The leading dimension of a tensor's [dim1, plane] matrix when its planes
 * (dims 2, 3) are contiguous, so BLAS can read an image where it lies; 0 if not. */
static int64_t plane_ld(const oml_tensor *t, int64_t L) {
  int64_t w = t->size_[3];
  if ((w > 1 && t->stride_[3] != 1) || (t->size_[2] > 1 && t->stride_[2] != w)) return 0;
  if (t->size_[1] == 1) return L;
  return t->stride_[1] >= L && t->stride_[1] <= INT_MAX ? t->stride_[1] : 0;
}

/* c[m,n] = a @ b + beta * c, row-major, a or b read transposed when asked.
 * k = 0 leaves beta * c (beta is 0 or 1 here). */
static void gemm(int32_t dtype, int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, const char *a,
                 int64_t lda, const char *b, int64_t ldb, double beta, char *c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    int64_t es = oml_dtype_size(dtype);
    if (beta == 0)
      for (int64_t i = 0; i < m; i++) memset(c + i * ldc * es, 0, (size_t)(n * es));
    return;
  }
  enum CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans, tb = trans_b ? CblasTrans : CblasNoTrans;
  if (dtype == OML_FLOAT32)
    cblas_sgemm(CblasRowMajor, ta, tb, (blasint)m, (blasint)n, (blasint)k, 1.0f, (const float *)a, (blasint)lda,
                (const float *)b, (blasint)ldb, (float)beta, (float *)c, (blasint)ldc);
  else
    cblas_dgemm(CblasRowMajor, ta, tb, (blasint)m, (blasint)n, (blasint)k, 1.0, (const double *)a, (blasint)lda,
                (const double *)b, (blasint)ldb, beta, (double *)c, (blasint)ldc);
}

/* The output columns [lo, hi) whose input column ox*stride + offset lies
 * inside [0, w). */
static void valid_columns(int64_t offset, int64_t stride, int64_t w, int64_t wo, int64_t *lo, int64_t *hi) {
  int64_t l = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  int64_t h = w - 1 - offset < 0 ? 0 : (w - 1 - offset) / stride + 1;
  if (h > wo) h = wo;
  if (l > h) l = h;
  *lo = l;
  *hi = h;
}

/* ---- typed loops ----------------------------------------------------------
 * Each runs serially over its units [u0, u1). A tile covers output rows
 * [y0, y1) of images [b0, b0+nb); its column matrix has nb*(y1-y0)*wo
 * columns, image b's from b*(y1-y0)*wo.
 * im2col: the tile's columns from x (strides xs); a unit is one row of one image.
 * col2im: the tile's columns summed into the contiguous planes of gi; a unit
 *   is one plane (b, ch), so units write apart.
 * scatter: out[b0+b, oc, off + j] = src[oc*ld + b*n + j] + bias[oc], j < n; a
 *   unit is one plane (src may be out itself).
 * gather: the tile's columns of the strided g; a unit is one plane.
 * bias_grad: gb[oc] += g summed over n and the plane. */
#define CONV_LOOPS(SUFFIX, T)                                                                                  \
  static void im2col_##SUFFIX(const plan *p, const char *xd, const int64_t *xs, int64_t b0, int64_t nb,         \
                              int64_t y0, int64_t y1, int64_t u0, int64_t u1, char *colsd) {                   \
    const oml_conv2d_geometry *g = p->g;                                                                       \
    const T *x = (const T *)xd;                                                                                \
    T *cols = (T *)colsd;                                                                                      \
    int64_t per_image = (y1 - y0) * g->wo, ld = nb * per_image, khw = g->kh * g->kw;                           \
    for (int64_t u = u0; u < u1; u++) {                                                                        \
      int64_t b = u / p->rows, r = u % p->rows;                                                                \
      int64_t ch = r / khw, ki = (r / g->kw) % g->kh, kj = r % g->kw;                                          \
      const T *plane = x + (b0 + b) * xs[0] + ch * xs[1];                                                      \
      T *dst = cols + r * ld + b * per_image;                                                                  \
      int64_t x_off = kj * g->dilation_w - g->pad_w, lo, hi;                                                   \
      valid_columns(x_off, g->stride_w, g->w, g->wo, &lo, &hi);                                                \
      for (int64_t oy = y0; oy < y1; oy++, dst += g->wo) {                                                     \
        int64_t iy = oy * g->stride_h - g->pad_h + ki * g->dilation_h;                                         \
        if (iy < 0 || iy >= g->h) {                                                                            \
          for (int64_t ox = 0; ox < g->wo; ox++) dst[ox] = 0;                                                  \
          continue;                                                                                            \
        }                                                                                                      \
        const T *row = plane + iy * xs[2];                                                                     \
        for (int64_t ox = 0; ox < lo; ox++) dst[ox] = 0;                                                       \
        if (g->stride_w == 1 && xs[3] == 1) {                                                                  \
          if (hi > lo) memcpy(dst + lo, row + lo + x_off, (size_t)(hi - lo) * sizeof(T));                      \
        } else {                                                                                               \
          for (int64_t ox = lo; ox < hi; ox++) dst[ox] = row[(ox * g->stride_w + x_off) * xs[3]];              \
        }                                                                                                      \
        for (int64_t ox = hi; ox < g->wo; ox++) dst[ox] = 0;                                                   \
      }                                                                                                        \
    }                                                                                                          \
  }                                                                                                            \
  static void col2im_##SUFFIX(const plan *p, const char *colsd, int64_t b0, int64_t nb, int64_t y0, int64_t y1, \
                              int64_t u0, int64_t u1, char *gid) {                                             \
    const oml_conv2d_geometry *g = p->g;                                                                       \
    const T *cols = (const T *)colsd;                                                                          \
    T *gi = (T *)gid;                                                                                          \
    int64_t per_image = (y1 - y0) * g->wo, ld = nb * per_image;                                                \
    for (int64_t u = u0; u < u1; u++) {                                                                        \
      int64_t b = u / g->c, ch = u % g->c;                                                                     \
      T *plane = gi + ((b0 + b) * g->c + ch) * g->h * g->w;                                                    \
      for (int64_t ki = 0; ki < g->kh; ki++)                                                                   \
        for (int64_t kj = 0; kj < g->kw; kj++) {                                                               \
          const T *src = cols + ((ch * g->kh + ki) * g->kw + kj) * ld + b * per_image;                         \
          int64_t x_off = kj * g->dilation_w - g->pad_w, lo, hi;                                               \
          valid_columns(x_off, g->stride_w, g->w, g->wo, &lo, &hi);                                            \
          for (int64_t oy = y0; oy < y1; oy++, src += g->wo) {                                                 \
            int64_t iy = oy * g->stride_h - g->pad_h + ki * g->dilation_h;                                     \
            if (iy < 0 || iy >= g->h) continue;                                                                \
            T *row = plane + iy * g->w + x_off;                                                                \
            if (g->stride_w == 1) {                                                                            \
              for (int64_t ox = lo; ox < hi; ox++) row[ox] += src[ox];                                         \
            } else {                                                                                           \
              for (int64_t ox = lo; ox < hi; ox++) row[ox * g->stride_w] += src[ox];                           \
            }                                                                                                  \
          }                                                                                                    \
        }                                                                                                      \
    }                                                                                                          \
  }                                                                                                            \
  static void scatter_##SUFFIX(const plan *p, const char *srcd, int64_t ld, const oml_tensor *bias, int64_t b0, \
                               int64_t off, int64_t n, int64_t u0, int64_t u1, char *outd) {                   \
    const oml_conv2d_geometry *g = p->g;                                                                       \
    const T *src = (const T *)srcd;                                                                            \
    T *out = (T *)outd;                                                                                        \
    for (int64_t u = u0; u < u1; u++) {                                                                        \
      int64_t b = u / g->o, oc = u % g->o;                                                                     \
      const T *s = src + oc * ld + b * n;                                                                      \
      T *d = out + ((b0 + b) * g->o + oc) * p->L + off;                                                        \
      T add = bias ? ((const T *)bias->data_)[oc * bias->stride_[0]] : 0;                                      \
      for (int64_t j = 0; j < n; j++) d[j] = s[j] + add;                                                       \
    }                                                                                                          \
  }                                                                                                            \
  static void gather_##SUFFIX(const plan *p, const oml_tensor *src, int64_t b0, int64_t nb, int64_t y0,         \
                              int64_t y1, int64_t u0, int64_t u1, char *dstd) {                                \
    const oml_conv2d_geometry *g = p->g;                                                                       \
    const int64_t *ss = src->stride_;                                                                          \
    T *dst = (T *)dstd;                                                                                        \
    int64_t per_image = (y1 - y0) * g->wo;                                                                     \
    for (int64_t u = u0; u < u1; u++) {                                                                        \
      int64_t b = u / g->o, oc = u % g->o;                                                                     \
      const T *s = (const T *)src->data_ + (b0 + b) * ss[0] + oc * ss[1];                                      \
      T *d = dst + oc * nb * per_image + b * per_image;                                                        \
      for (int64_t oy = y0; oy < y1; oy++)                                                                     \
        for (int64_t ox = 0; ox < g->wo; ox++) d[(oy - y0) * g->wo + ox] = s[oy * ss[2] + ox * ss[3]];         \
    }                                                                                                          \
  }                                                                                                            \
  static void bias_grad_##SUFFIX(const plan *p, const oml_tensor *go, oml_tensor *gb) {                        \
    const oml_conv2d_geometry *g = p->g;                                                                       \
    const int64_t *ss = go->stride_;                                                                           \
    T *out = (T *)gb->data_;                                                                                   \
    _Pragma("omp parallel for if (oml_parallel_ok(g->n * g->o * p->L)) schedule(static)")                    \
    for (int64_t oc = 0; oc < g->o; oc++) {                                                                    \
      double sum = 0;                                                                                          \
      for (int64_t b = 0; b < g->n; b++) {                                                                     \
        const T *s = (const T *)go->data_ + b * ss[0] + oc * ss[1];                                            \
        for (int64_t oy = 0; oy < g->ho; oy++) {                                                               \
          T row = 0;                                                                                           \
          for (int64_t ox = 0; ox < g->wo; ox++) row += s[oy * ss[2] + ox * ss[3]];                            \
          sum += row;                                                                                          \
        }                                                                                                      \
      }                                                                                                        \
      out[oc * gb->stride_[0]] += (T)sum;                                                                      \
    }                                                                                                          \
  }
/* sum_partials: r[e] += partials[0][e] + ... + partials[count-1][e] (each
 * `size` long), summed in that order; a unit is one element. */
#define SUM_LOOP(SUFFIX, T)                                                                                    \
  static void sum_partials_##SUFFIX(const char *partialsd, int64_t count, int64_t size, char *rd) {            \
    const T *partials = (const T *)partialsd;                                                                  \
    T *r = (T *)rd;                                                                                            \
    _Pragma("omp parallel for if (oml_parallel_ok(count * size)) schedule(static)")                          \
    for (int64_t e = 0; e < size; e++) {                                                                       \
      T sum = partials[e];                                                                                     \
      for (int64_t i = 1; i < count; i++) sum += partials[i * size + e];                                       \
      r[e] += sum;                                                                                             \
    }                                                                                                          \
  }
CONV_LOOPS(f32, float)
CONV_LOOPS(f64, double)
SUM_LOOP(f32, float)
SUM_LOOP(f64, double)

typedef struct loops {
  void (*im2col)(const plan *, const char *, const int64_t *, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                 char *);
  void (*col2im)(const plan *, const char *, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, char *);
  void (*scatter)(const plan *, const char *, int64_t, const oml_tensor *, int64_t, int64_t, int64_t, int64_t,
                  int64_t, char *);
  void (*gather)(const plan *, const oml_tensor *, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, char *);
  void (*bias_grad)(const plan *, const oml_tensor *, oml_tensor *);
  void (*sum_partials)(const char *, int64_t, int64_t, char *);
} loops;

static loops loops_for(int32_t dtype) {
  switch (dtype) {
  case OML_FLOAT32: return (loops){im2col_f32, col2im_f32, scatter_f32, gather_f32, bias_grad_f32, sum_partials_f32};
  default: return (loops){im2col_f64, col2im_f64, scatter_f64, gather_f64, bias_grad_f64, sum_partials_f64};
  }
}

/* ---- passes ----------------------------------------------------------------
 * Forward runs tile by tile, grad_input chunk by chunk (a chunk's tiles in
 * order, since their col2im overlap), grad_weight a few runs of chunks of
 * weight_nb images; each on one thread with its own buffers, and no thread
 * waits for another until the end (waits cost dearly when other processes
 * share the cores). */

typedef struct pass {
  const plan *p;
  loops f;
  const oml_tensor *input, *weight, *bias, *grad_out;
  oml_tensor *result;           /* out, grad_input or grad_weight */
  int64_t in_ld, go_ld;         /* nonzero: input / grad_out read in place, with this leading dimension */
  int64_t cols_bytes, go_bytes; /* one worker's buffers: columns, then grad_out's copy or the GEMM's output */
} pass;

/* The tile's first column in its images' planes, and its columns per image. */
static void tile_span(const plan *p, int64_t y0, int64_t y1, int64_t *off, int64_t *per_image) {
  *off = y0 * p->g->wo;
  *per_image = (y1 - y0) * p->g->wo;
}

static void forward_tile(const pass *q, int64_t b0, int64_t cnt, int64_t y0, int64_t y1, char *buf) {
  const plan *p = q->p;
  const oml_conv2d_geometry *g = p->g;
  int64_t es = p->es, off, per_image;
  tile_span(p, y0, y1, &off, &per_image);
  int64_t width = cnt * per_image;
  const char *x = buf;
  int64_t x_ld = width;
  if (q->in_ld) {
    x = q->input->data_ + (b0 * q->input->stride_[0] + off) * es;
    x_ld = q->in_ld;
  } else {
    q->f.im2col(p, q->input->data_, q->input->stride_, b0, cnt, y0, y1, 0, cnt * p->rows, buf);
  }
  /* one image's tile goes straight into its output planes */
  char *out = q->result->data_;
  char *dst = p->nb == 1 ? out + (b0 * g->o * p->L + off) * es : buf + q->cols_bytes;
  int64_t ld = p->nb == 1 ? p->L : width;
  for (int64_t grp = 0; grp < g->groups; grp++)
    gemm(p->dtype, 0, 0, p->og, width, p->k, q->weight->data_ + grp * p->og * p->k * es, p->k,
         x + grp * p->k * x_ld * es, x_ld, 0, dst + grp * p->og * ld * es, ld);
  if (p->nb > 1 || q->bias) q->f.scatter(p, dst, ld, q->bias, b0, off, per_image, 0, cnt * g->o, out);
}

static void grad_input_chunk(const pass *q, int64_t b0, int64_t cnt, char *buf) {
  const plan *p = q->p;
  const oml_conv2d_geometry *g = p->g;
  int64_t es = p->es;
  char *gi = q->result->data_, *cols = buf, *gobuf = buf ? buf + q->cols_bytes : NULL;
  int direct = p->pointwise && p->nb == 1; /* the GEMM gives the input gradient itself */
  if (!direct) memset(gi + b0 * g->c * g->h * g->w * es, 0, (size_t)(cnt * g->c * g->h * g->w * es));
  for (int64_t y0 = 0; y0 < g->ho; y0 += p->tile_rows) {
    int64_t y1 = y0 + p->tile_rows < g->ho ? y0 + p->tile_rows : g->ho, off, per_image;
    tile_span(p, y0, y1, &off, &per_image);
    int64_t width = cnt * per_image;
    const char *go = gobuf;
    int64_t go_ld = width;
    if (q->go_ld) {
      go = q->grad_out->data_ + (b0 * q->grad_out->stride_[0] + off) * es;
      go_ld = q->go_ld;
    } else {
      q->f.gather(p, q->grad_out, b0, cnt, y0, y1, 0, cnt * g->o, gobuf);
    }
    for (int64_t grp = 0; grp < g->groups; grp++) {
      const char *wg = q->weight->data_ + grp * p->og * p->k * es, *gog = go + grp * p->og * go_ld * es;
      if (direct)
        gemm(p->dtype, 1, 0, p->cg, width, p->og, wg, p->k, gog, go_ld, 0,
             gi + ((b0 * g->c + grp * p->cg) * p->L + off) * es, p->L);
      else
        gemm(p->dtype, 1, 0, p->k, width, p->og, wg, p->k, gog, go_ld, 0, cols + grp * p->k * width * es, width);
    }
    if (!direct) q->f.col2im(p, cols, b0, cnt, y0, y1, 0, cnt * g->c, gi);
  }
}

/* ---- threads ---------------------------------------------------------------
 * OpenMP threads share a pass, each calling BLAS on its own tiles (OpenBLAS
 * itself stays single-threaded: core/threads.c). */

static int team_size(void) { return omp_in_parallel() ? 1 : omp_get_max_threads(); }

enum pass_kind { FORWARD, GRAD_INPUT };

/* Forward tiles or grad_input chunks, spread over the threads. */
static int run_tiles(pass *q, enum pass_kind kind) {
  const plan *p = q->p;
  const oml_conv2d_geometry *g = p->g;
  int64_t chunks = (g->n + p->nb - 1) / p->nb, units = kind == FORWARD ? chunks * p->tiles : chunks;
  int team = team_size();
  if (team > units) team = (int)units;
  int64_t worker_bytes = q->cols_bytes + q->go_bytes, bytes = worker_bytes * team;
  char *buf = bytes ? oml_alloc(bytes, OML_CPU) : NULL;
  if (bytes && !buf) return -1;
#pragma omp parallel for num_threads(team) if (team > 1) schedule(dynamic, 1)
  for (int64_t u = 0; u < units; u++) {
    char *mine = buf ? buf + omp_get_thread_num() * worker_bytes : NULL;
    int64_t chunk = kind == FORWARD ? u / p->tiles : u, b0 = chunk * p->nb;
    int64_t cnt = g->n - b0 < p->nb ? g->n - b0 : p->nb;
    if (kind == GRAD_INPUT) {
      grad_input_chunk(q, b0, cnt, mine);
    } else {
      int64_t y0 = (u % p->tiles) * p->tile_rows, y1 = y0 + p->tile_rows < g->ho ? y0 + p->tile_rows : g->ho;
      forward_tile(q, b0, cnt, y0, y1, mine);
    }
  }
  if (buf) oml_free(buf, bytes, OML_CPU);
  return 0;
}

/* grad_weight: consecutive chunks of weight_nb images are summed into a
 * few partial gradients (SLOTS), each made by one thread without waiting
 * for the others, and the partials are added in order at the end. */
static int run_grad_weight(pass *q) {
  const plan *p = q->p;
  const oml_conv2d_geometry *g = p->g;
  int64_t es = p->es, nb = p->weight_nb, chunks = (g->n + nb - 1) / nb, size = g->o * p->k;
  int64_t slots = MAX_PARTIAL_BYTES / (size * es) < SLOTS ? MAX_PARTIAL_BYTES / (size * es) : SLOTS;
  if (slots > chunks) slots = chunks;
  if (slots < 1) slots = 1;
  int team = team_size();
  if (team > slots) team = (int)slots;
  int64_t worker_bytes = q->cols_bytes + q->go_bytes, partial_bytes = slots * size * es;
  int64_t bytes = partial_bytes + worker_bytes * team;
  char *buf = oml_alloc(bytes, OML_CPU);
  if (!buf) return -1;
#pragma omp parallel for num_threads(team) if (team > 1) schedule(dynamic, 1)
  for (int64_t slot = 0; slot < slots; slot++) {
    char *mine = buf + partial_bytes + omp_get_thread_num() * worker_bytes, *cols = mine;
    char *gobuf = mine + q->cols_bytes, *partial = buf + slot * size * es;
    for (int64_t i = chunks * slot / slots; i < chunks * (slot + 1) / slots; i++) {
      int64_t b0 = i * nb, cnt = g->n - b0 < nb ? g->n - b0 : nb, width = cnt * p->L;
      const char *go = gobuf, *x = cols;
      int64_t go_ld = width, x_ld = width;
      if (q->go_ld) {
        go = q->grad_out->data_ + b0 * q->grad_out->stride_[0] * es;
        go_ld = q->go_ld;
      } else {
        q->f.gather(p, q->grad_out, b0, cnt, 0, g->ho, 0, cnt * g->o, gobuf);
      }
      if (q->in_ld) {
        x = q->input->data_ + b0 * q->input->stride_[0] * es;
        x_ld = q->in_ld;
      } else {
        q->f.im2col(p, q->input->data_, q->input->stride_, b0, cnt, 0, g->ho, 0, cnt * p->rows, cols);
      }
      double beta = i == chunks * slot / slots ? 0 : 1;
      for (int64_t grp = 0; grp < g->groups; grp++)
        gemm(p->dtype, 0, 1, p->og, p->k, width, go + grp * p->og * go_ld * es, go_ld, x + grp * p->k * x_ld * es,
             x_ld, beta, partial + grp * p->og * p->k * es, p->k);
    }
  }
  q->f.sum_partials(buf, slots, size, q->result->data_);
  oml_free(buf, bytes, OML_CPU);
  return 0;
}

int oml_cpu_conv2d_forward(const oml_tensor *input, const oml_tensor *weight, const oml_tensor *bias,
                           oml_tensor *out, const oml_conv2d_geometry *g) {
  plan p;
  make_plan(&p, g, input->dtype_);
  if (g->n == 0 || g->o == 0) return 0;
  if (oml_cpu_conv2d_winograd_fits(g, p.dtype))
    return oml_cpu_conv2d_winograd(input, (const float *)weight->data_, 0, bias, (float *)out->data_, g);
  pass q = {.p = &p, .f = loops_for(p.dtype), .input = input, .weight = weight, .bias = bias, .result = out};
  q.in_ld = p.pointwise && p.nb == 1 ? plane_ld(input, p.L) : 0;
  int64_t tile_columns = p.nb * p.tile_rows * g->wo;
  q.cols_bytes = q.in_ld ? 0 : p.rows * tile_columns * p.es;
  q.go_bytes = p.nb > 1 ? g->o * tile_columns * p.es : 0;
  return run_tiles(&q, FORWARD);
}

int oml_cpu_conv2d_backward(const oml_tensor *input, const oml_tensor *grad_out, oml_tensor *grad_input,
                            const oml_tensor *weight, oml_tensor *grad_weight, oml_tensor *grad_bias,
                            const oml_conv2d_geometry *g) {
  plan p;
  make_plan(&p, g, input->dtype_);
  if (g->n == 0) return 0;
  loops f = loops_for(p.dtype);
  if (grad_bias) f.bias_grad(&p, grad_out, grad_bias);
  if (grad_weight && g->o > 0 && oml_cpu_conv2d_winograd_fits(g, p.dtype)) {
    if (oml_cpu_conv2d_winograd_grad_weight(input, grad_out, (float *)grad_weight->data_, g)) return -1;
  } else if (grad_weight && g->o > 0 && p.k > 0) {
    int one = p.weight_nb == 1;
    pass q = {.p = &p, .f = f, .input = input, .weight = weight, .grad_out = grad_out, .result = grad_weight};
    q.in_ld = p.pointwise && one ? plane_ld(input, p.L) : 0;
    q.go_ld = one ? plane_ld(grad_out, p.L) : 0;
    q.cols_bytes = q.in_ld ? 0 : p.rows * p.weight_nb * p.L * p.es;
    q.go_bytes = q.go_ld ? 0 : g->o * p.weight_nb * p.L * p.es;
    if (run_grad_weight(&q)) return -1;
  }
  if (grad_input) {
    /* grad_input is the convolution of grad_out with the turned, transposed weight */
    oml_conv2d_geometry t = {.n = g->n, .c = g->o, .h = g->ho, .w = g->wo, .o = g->c, .kh = 3, .kw = 3, .ho = g->h,
                             .wo = g->w, .stride_h = 1, .stride_w = 1, .pad_h = 2 - g->pad_h, .pad_w = 2 - g->pad_w,
                             .dilation_h = 1, .dilation_w = 1, .groups = 1};
    if (oml_cpu_conv2d_winograd_fits(g, p.dtype) && oml_cpu_conv2d_winograd_fits(&t, p.dtype))
      return oml_cpu_conv2d_winograd(grad_out, (const float *)weight->data_, 1, NULL, (float *)grad_input->data_, &t);
    pass q = {.p = &p, .f = f, .weight = weight, .grad_out = grad_out, .result = grad_input};
    int64_t tile_columns = p.nb * p.tile_rows * g->wo;
    q.go_ld = p.nb == 1 ? plane_ld(grad_out, p.L) : 0;
    q.cols_bytes = p.pointwise && p.nb == 1 ? 0 : p.rows * tile_columns * p.es;
    q.go_bytes = q.go_ld ? 0 : g->o * tile_columns * p.es;
    return run_tiles(&q, GRAD_INPUT);
  }
  return 0;
}
