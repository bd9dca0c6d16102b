/* cpu/conv_winograd.c — 3x3 stride-1 float32 convolutions by Winograd's
 * F(2x2, 3x3): each 2x2 block of outputs comes from a 4x4 input tile
 * through 16 products instead of 36. Input tiles and weights are
 * transformed into 16 matrices, multiplied by 16 GEMMs, and transformed
 * back (Lavin & Gray, 2015); grad_input is the same convolution with the
 * weight turned, and grad_weight its transpose, F(3x3, 2x2). Blocks of
 * tiles go one to a thread, with buffers that stay in cache; grad_weight
 * sums consecutive blocks into a few partial sums, added in order at the end.
 * Blocks do not depend on the thread count, so neither do the results. */
#include "conv.h"

#include <cblas.h>
#include <omp.h>

/* Bytes of one block's transformed input (16 x C x tiles). */
#define BLOCK_BYTES ((int64_t)2 << 20)
/* Tiles per block at least: fewer leave the GEMMs too thin. */
#define MIN_BLOCK 256
/* grad_weight's partial sums: at most SLOTS of them, and this many bytes */
#define SLOTS 4
#define MAX_PARTIAL_BYTES ((int64_t)64 << 20)

int oml_cpu_conv2d_winograd_fits(const oml_conv2d_geometry *g, int32_t dtype) {
  return dtype == OML_FLOAT32 && g->kh == 3 && g->kw == 3 && g->stride_h == 1 && g->stride_w == 1 &&
         g->dilation_h == 1 && g->dilation_w == 1 && g->groups == 1 && g->pad_h <= 2 && g->pad_w <= 2 &&
         g->c >= 16 && g->o >= 16 && g->c <= INT32_MAX / 16 && g->o <= INT32_MAX / 16;
}

/* u[16][o][c] = G w G^T for w [o][c][3][3] contiguous; with `flip`, w is
 * read as the weight of the transposed convolution: w'[c][o] = w[o][c]
 * turned by 180 degrees (o and c are then the flipped weight's sizes). */
static void transform_weights(const float *w, int64_t o, int64_t c, int flip, float *u) {
#pragma omp parallel for if (oml_parallel_ok(o * c * 16)) schedule(static)
  for (int64_t oc = 0; oc < o * c; oc++) {
    int64_t i = oc / c, j = oc % c;
    const float *k = flip ? w + (j * o + i) * 9 : w + (i * c + j) * 9;
    float g[3][3], t[4][3];
    for (int r = 0; r < 3; r++)
      for (int s = 0; s < 3; s++) g[r][s] = flip ? k[(2 - r) * 3 + (2 - s)] : k[r * 3 + s];
    for (int s = 0; s < 3; s++) {
      t[0][s] = g[0][s];
      t[1][s] = 0.5f * (g[0][s] + g[1][s] + g[2][s]);
      t[2][s] = 0.5f * (g[0][s] - g[1][s] + g[2][s]);
      t[3][s] = g[2][s];
    }
    for (int r = 0; r < 4; r++) {
      float v[4] = {t[r][0], 0.5f * (t[r][0] + t[r][1] + t[r][2]), 0.5f * (t[r][0] - t[r][1] + t[r][2]), t[r][2]};
      for (int s = 0; s < 4; s++) u[((int64_t)(r * 4 + s) * o + i) * c + j] = v[s];
    }
  }
}

typedef struct wino {
  const oml_conv2d_geometry *g;
  const float *x;
  int64_t xs[4];
  int64_t th, tw, tiles; /* tiles per image: th x tw; in all */
  int64_t block;         /* tiles per block */
} wino;

/* B^T d B of the 4x4 tile d (rows d0..d3, column step cs), into
 * v[0], v[step], ..., v[15 * step]: along the rows first, then down the
 * columns (input_tiles sums in the same order). */
static inline void input_tile(const float *d0, const float *d1, const float *d2, const float *d3, int64_t cs,
                              float *v, int64_t step) {
  const float *d[4] = {d0, d1, d2, d3};
  float h[4][4];
  for (int r = 0; r < 4; r++) {
    float e0 = d[r][0], o0 = d[r][cs], e1 = d[r][2 * cs], o1 = d[r][3 * cs];
    h[r][0] = e0 - e1;
    h[r][1] = o0 + e1;
    h[r][2] = e1 - o0;
    h[r][3] = o0 - o1;
  }
  for (int j = 0; j < 4; j++) {
    v[(0 + j) * step] = h[0][j] - h[2][j];
    v[(4 + j) * step] = h[1][j] + h[2][j];
    v[(8 + j) * step] = h[2][j] - h[1][j];
    v[(12 + j) * step] = h[1][j] - h[3][j];
  }
}

/* Tiles per call of input_tiles (its scratch lives on the stack). */
#define RUN 64

/* input_tile for count <= RUN tiles side by side (columns 2 apart) of
 * contiguous rows, into v[k], v[step + k], ... for tile k. Each row is
 * split into its even and odd columns first, so that the loops read
 * memory in order and vectorise. */
static void input_tiles(const float *const *rows, int64_t count, float *restrict v, int64_t step) {
  float even[4][RUN + 1], odd[4][RUN + 1], h[4][4][RUN];
  for (int r = 0; r < 4; r++) {
    const float *restrict d = rows[r];
    for (int64_t k = 0; k <= count; k++) {
      even[r][k] = d[2 * k];
      odd[r][k] = d[2 * k + 1];
    }
    for (int64_t k = 0; k < count; k++) {
      h[r][0][k] = even[r][k] - even[r][k + 1];
      h[r][1][k] = odd[r][k] + even[r][k + 1];
      h[r][2][k] = even[r][k + 1] - odd[r][k];
      h[r][3][k] = odd[r][k] - odd[r][k + 1];
    }
  }
  for (int j = 0; j < 4; j++)
    for (int64_t k = 0; k < count; k++) {
      v[(0 + j) * step + k] = h[0][j][k] - h[2][j][k];
      v[(4 + j) * step + k] = h[1][j][k] + h[2][j][k];
      v[(8 + j) * step + k] = h[2][j][k] - h[1][j][k];
      v[(12 + j) * step + k] = h[1][j][k] - h[3][j][k];
    }
}

/* A^T m A for `count` whole tiles side by side: m[i * step + k] for tile k;
 * rows r0, r1 of the output get columns 2k, 2k+1. Written for the vectoriser. */
static void output_tiles(const float *restrict m, int64_t step, int64_t count, float add, float *restrict r0,
                         float *restrict r1) {
  for (int64_t k = 0; k < count; k++) {
    float s0[4], s1[4];
    for (int s = 0; s < 4; s++) {
      s0[s] = m[s * step + k] + m[(4 + s) * step + k] + m[(8 + s) * step + k];
      s1[s] = m[(4 + s) * step + k] - m[(8 + s) * step + k] - m[(12 + s) * step + k];
    }
    r0[2 * k] = s0[0] + s0[1] + s0[2] + add;
    r0[2 * k + 1] = s0[1] - s0[2] - s0[3] + add;
    r1[2 * k] = s1[0] + s1[1] + s1[2] + add;
    r1[2 * k + 1] = s1[1] - s1[2] - s1[3] + add;
  }
}

/* v[16][c][tb] for tiles [t0, t0+tb): B^T d B of each 4x4 input tile d.
 * Tiles along a row whose patch lies inside the input take a loop without
 * bounds checks (the compiler vectorises it over tiles); the others read
 * through a zero-padded copy of their patch. */
static void transform_input(const wino *q, int64_t t0, int64_t tb, float *v) {
  const oml_conv2d_geometry *g = q->g;
  int64_t per_image = q->th * q->tw, step = g->c * tb;
  static const float zeros[4] = {0, 0, 0, 0};
  for (int64_t ch = 0; ch < g->c; ch++)
    for (int64_t t = 0; t < tb;) {
      int64_t tile = t0 + t, n = tile / per_image, ty = (tile % per_image) / q->tw, tx0 = tile % q->tw;
      int64_t run = q->tw - tx0 < tb - t ? q->tw - tx0 : tb - t; /* tiles left on this row of tiles */
      const float *plane = q->x + n * q->xs[0] + ch * q->xs[1], *rows[4];
      int64_t y = ty * 2 - g->pad_h;
      for (int r = 0; r < 4; r++) rows[r] = y + r >= 0 && y + r < g->h ? plane + (y + r) * q->xs[2] : NULL;
      /* tiles [in0, in1) of the run read columns inside [0, w) */
      int64_t in0 = (g->pad_w + 1) / 2, in1 = g->w - 4 + g->pad_w < 0 ? 0 : (g->w - 4 + g->pad_w) / 2 + 1;
      if (in0 < tx0) in0 = tx0;
      if (in1 > tx0 + run) in1 = tx0 + run;
      int full = rows[0] && rows[1] && rows[2] && rows[3];
      float *out = v + ch * tb + t - tx0;
      for (int64_t tx = tx0; tx < tx0 + run; tx++) {
        if (full && tx == in0 && in0 < in1 && q->xs[3] == 1) { /* the interior of the row */
          for (int64_t k0 = in0; k0 < in1; k0 += RUN) {
            int64_t x0 = 2 * k0 - g->pad_w;
            const float *at[4] = {rows[0] + x0, rows[1] + x0, rows[2] + x0, rows[3] + x0};
            input_tiles(at, in1 - k0 < RUN ? in1 - k0 : RUN, out + k0, step);
          }
          tx = in1 - 1;
          continue;
        }
        float patch[4][4];
        int64_t x = tx * 2 - g->pad_w;
        for (int r = 0; r < 4; r++)
          for (int s = 0; s < 4; s++)
            patch[r][s] = rows[r] && x + s >= 0 && x + s < g->w ? rows[r][(x + s) * q->xs[3]] : zeros[s];
        input_tile(patch[0], patch[1], patch[2], patch[3], 1, out + tx, step);
      }
      t += run;
    }
}

/* out's 2x2 blocks of tiles [t0, t0+tb) from m[16][o][tb]: A^T m A, plus bias. */
static void transform_output(const wino *q, const float *m, const float *bias, int64_t bias_stride, int64_t t0,
                             int64_t tb, float *out) {
  const oml_conv2d_geometry *g = q->g;
  int64_t per_image = q->th * q->tw, step = g->o * tb;
  for (int64_t oc = 0; oc < g->o; oc++) {
    float add = bias ? bias[oc * bias_stride] : 0.0f;
    for (int64_t t = 0; t < tb;) {
      int64_t tile = t0 + t, n = tile / per_image, ty = (tile % per_image) / q->tw, tx0 = tile % q->tw;
      int64_t run = q->tw - tx0 < tb - t ? q->tw - tx0 : tb - t;
      float *row0 = out + ((n * g->o + oc) * g->ho + ty * 2) * g->wo, *row1 = row0 + g->wo;
      int two_rows = ty * 2 + 1 < g->ho;
      /* tiles whose both output columns exist: all but an odd width's last */
      int64_t whole = g->wo / 2 - tx0 < run ? g->wo / 2 - tx0 : run;
      const float *a = m + oc * tb + t;
      int64_t k = 0;
      if (two_rows && whole > 0) { /* every tile of the run but an odd width's last */
        output_tiles(a, step, whole, add, row0 + tx0 * 2, row1 + tx0 * 2);
        k = whole;
      }
      for (; k < run; k++) {
        float s0[4], s1[4];
        for (int s = 0; s < 4; s++) {
          s0[s] = a[(0 * 4 + s) * step + k] + a[(1 * 4 + s) * step + k] + a[(2 * 4 + s) * step + k];
          s1[s] = a[(1 * 4 + s) * step + k] - a[(2 * 4 + s) * step + k] - a[(3 * 4 + s) * step + k];
        }
        int64_t x = (tx0 + k) * 2;
        row0[x] = s0[0] + s0[1] + s0[2] + add;
        if (two_rows) row1[x] = s1[0] + s1[1] + s1[2] + add;
        if (k < whole) {
          row0[x + 1] = s0[1] - s0[2] - s0[3] + add;
          if (two_rows) row1[x + 1] = s1[1] - s1[2] - s1[3] + add;
        }
      }
      t += run;
    }
  }
}

int oml_cpu_conv2d_winograd(const oml_tensor *input, const float *weight, int flip, const oml_tensor *bias,
                            float *out, const oml_conv2d_geometry *g) {
  wino q = {.g = g, .x = (const float *)input->data_};
  for (int d = 0; d < 4; d++) q.xs[d] = input->stride_[d];
  q.th = (g->ho + 1) / 2;
  q.tw = (g->wo + 1) / 2;
  q.tiles = g->n * q.th * q.tw;
  int64_t widest = g->c > g->o ? g->c : g->o;
  q.block = BLOCK_BYTES / (16 * widest * (int64_t)sizeof(float));
  if (q.block < MIN_BLOCK) q.block = MIN_BLOCK;
  if (q.block > q.tiles) q.block = q.tiles;
  int64_t blocks = (q.tiles + q.block - 1) / q.block;
  int team = omp_in_parallel() ? 1 : omp_get_max_threads();
  if (team > blocks) team = (int)blocks;
  int64_t u_bytes = 16 * g->o * g->c * (int64_t)sizeof(float);
  int64_t worker_bytes = 16 * (g->c + g->o) * q.block * (int64_t)sizeof(float);
  float *u = oml_alloc(u_bytes, OML_CPU);
  char *buf = oml_alloc(worker_bytes * team, OML_CPU);
  if (!u || !buf) {
    if (u) oml_free(u, u_bytes, OML_CPU);
    if (buf) oml_free(buf, worker_bytes * team, OML_CPU);
    return -1;
  }
  transform_weights(weight, g->o, g->c, flip, u);
  const float *b = bias ? (const float *)bias->data_ : NULL;
  int64_t bs = bias ? bias->stride_[0] : 0;
#pragma omp parallel for num_threads(team) if (team > 1) schedule(dynamic, 1)
  for (int64_t i = 0; i < blocks; i++) {
    float *v = (float *)(buf + omp_get_thread_num() * worker_bytes), *m = v + 16 * g->c * q.block;
    int64_t t0 = i * q.block, tb = q.tiles - t0 < q.block ? q.tiles - t0 : q.block;
    transform_input(&q, t0, tb, v);
    for (int xi = 0; xi < 16; xi++)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)g->o, (blasint)tb, (blasint)g->c, 1.0f,
                  u + xi * g->o * g->c, (blasint)g->c, v + xi * g->c * tb, (blasint)tb, 0.0f, m + xi * g->o * tb,
                  (blasint)tb);
    transform_output(&q, m, b, bs, t0, tb, out);
  }
  oml_free(u, u_bytes, OML_CPU);
  oml_free(buf, worker_bytes * team, OML_CPU);
  return 0;
}

/* ---- grad_weight --------------------------------------------------------
 * By the transposition principle, F(2x2, 3x3) gives the weight gradient as
 * F(3x3, 2x2): grad_w[o][c] = G^T (sum over tiles of (A dy A^T) .* (B^T d B)) G
 * for each 4x4 input tile d and the 2x2 block dy of grad_out it produced.
 * The sum is 16 GEMMs [o, tiles] x [tiles, c] per block of tiles. */

/* A dy A^T of count <= RUN whole 2x2 blocks side by side of rows r0, r1
 * (each block's two columns next to each other), into t[i * step + k]. The
 * rows are split into even and odd columns first, as in input_tiles. */
static void gout_tiles(const float *restrict r0, const float *restrict r1, int64_t count, float *restrict t,
                       int64_t step) {
  float a[RUN], b[RUN], c[RUN], d[RUN];
  for (int64_t k = 0; k < count; k++) {
    a[k] = r0[2 * k];
    b[k] = r0[2 * k + 1];
    c[k] = r1[2 * k];
    d[k] = r1[2 * k + 1];
  }
  /* rows of A dy: p = A (a, b), q = A (c, d); then A (p, q) down the columns */
  float p[4][RUN], q[4][RUN];
  for (int64_t k = 0; k < count; k++) {
    p[0][k] = a[k];
    p[1][k] = a[k] + b[k];
    p[2][k] = a[k] - b[k];
    p[3][k] = -b[k];
    q[0][k] = c[k];
    q[1][k] = c[k] + d[k];
    q[2][k] = c[k] - d[k];
    q[3][k] = -d[k];
  }
  for (int s = 0; s < 4; s++)
    for (int64_t k = 0; k < count; k++) {
      t[(0 + s) * step + k] = p[s][k];
      t[(4 + s) * step + k] = p[s][k] + q[s][k];
      t[(8 + s) * step + k] = p[s][k] - q[s][k];
      t[(12 + s) * step + k] = -q[s][k];
    }
}

/* gt[16][o][tb] for tiles [t0, t0+tb) of grad_out (any strides): A dy A^T,
 * dy read as 0 past the output's edge. */
static void transform_gout(const wino *q, const oml_tensor *go, int64_t t0, int64_t tb, float *gt) {
  const oml_conv2d_geometry *g = q->g;
  const int64_t *gs = go->stride_;
  int64_t per_image = q->th * q->tw, step = g->o * tb;
  int contiguous = gs[3] == 1;
  for (int64_t oc = 0; oc < g->o; oc++)
    for (int64_t t = 0; t < tb;) {
      int64_t tile = t0 + t, n = tile / per_image, ty = (tile % per_image) / q->tw, tx0 = tile % q->tw;
      int64_t run = q->tw - tx0 < tb - t ? q->tw - tx0 : tb - t;
      const float *row0 = (const float *)go->data_ + n * gs[0] + oc * gs[1] + ty * 2 * gs[2];
      int two_rows = ty * 2 + 1 < g->ho;
      int64_t whole = g->wo / 2 - tx0 < run ? g->wo / 2 - tx0 : run, k = 0;
      float *out = gt + oc * tb + t;
      if (contiguous && two_rows)
        for (; k < whole; k += RUN)
          gout_tiles(row0 + (tx0 + k) * 2, row0 + gs[2] + (tx0 + k) * 2, whole - k < RUN ? whole - k : RUN, out + k,
                     step);
      if (k > whole) k = whole;
      for (; k < run; k++) {
        int64_t x = (tx0 + k) * 2;
        float dy[2][2];
        for (int r = 0; r < 2; r++)
          for (int s = 0; s < 2; s++)
            dy[r][s] = (r == 0 || two_rows) && x + s < g->wo ? row0[r * gs[2] + (x + s) * gs[3]] : 0.0f;
        gout_tiles(dy[0], dy[1], 1, out + k, step);
      }
      t += run;
    }
}

int oml_cpu_conv2d_winograd_grad_weight(const oml_tensor *input, const oml_tensor *grad_out, float *grad_weight,
                                        const oml_conv2d_geometry *g) {
  wino q = {.g = g, .x = (const float *)input->data_};
  for (int d = 0; d < 4; d++) q.xs[d] = input->stride_[d];
  q.th = (g->ho + 1) / 2;
  q.tw = (g->wo + 1) / 2;
  q.tiles = g->n * q.th * q.tw;
  int64_t widest = g->c > g->o ? g->c : g->o, oc_count = g->o * g->c;
  int64_t m_bytes = 16 * oc_count * (int64_t)sizeof(float);
  q.block = BLOCK_BYTES / (16 * widest * (int64_t)sizeof(float));
  if (q.block < MIN_BLOCK) q.block = MIN_BLOCK;
  if (q.block > q.tiles) q.block = q.tiles;
  int64_t blocks = (q.tiles + q.block - 1) / q.block;
  /* the blocks go in order to a few partial sums (SLOTS, fewer if they
   * would pass MAX_PARTIAL_BYTES), which threads take whole */
  int64_t slots = MAX_PARTIAL_BYTES / m_bytes < SLOTS ? MAX_PARTIAL_BYTES / m_bytes : SLOTS;
  if (slots > blocks) slots = blocks;
  if (slots < 1) slots = 1;
  int team = omp_in_parallel() ? 1 : omp_get_max_threads();
  if (team > slots) team = (int)slots;
  int64_t worker_bytes = 16 * (g->c + g->o) * q.block * (int64_t)sizeof(float);
  int64_t bytes = slots * m_bytes + team * worker_bytes;
  char *buf = oml_alloc(bytes, OML_CPU);
  if (!buf) return -1;
  float *m = (float *)buf;
#pragma omp parallel for num_threads(team) if (team > 1) schedule(dynamic, 1)
  for (int64_t slot = 0; slot < slots; slot++) {
    float *v = (float *)(buf + slots * m_bytes + omp_get_thread_num() * worker_bytes), *gt = v + 16 * g->c * q.block;
    float *ms = m + slot * 16 * oc_count;
    for (int64_t i = blocks * slot / slots; i < blocks * (slot + 1) / slots; i++) {
      int64_t t0 = i * q.block, tb = q.tiles - t0 < q.block ? q.tiles - t0 : q.block;
      float beta = i == blocks * slot / slots ? 0.0f : 1.0f;
      transform_input(&q, t0, tb, v);
      transform_gout(&q, grad_out, t0, tb, gt);
      for (int xi = 0; xi < 16; xi++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)g->o, (blasint)g->c, (blasint)tb, 1.0f,
                    gt + xi * g->o * tb, (blasint)tb, v + xi * g->c * tb, (blasint)tb, beta, ms + xi * oc_count,
                    (blasint)g->c);
    }
  }
  /* the partial sums added in order, then grad_w += G^T M G with
   * G^T = [1 .5 .5 0; 0 .5 -.5 0; 0 .5 .5 1] */
#pragma omp parallel for if (oml_parallel_ok(oc_count * 16 * slots)) schedule(static)
  for (int64_t oc = 0; oc < oc_count; oc++) {
    float a[4][4], h[3][4];
    for (int xi = 0; xi < 16; xi++) {
      float sum = m[xi * oc_count + oc];
      for (int64_t i = 1; i < slots; i++) sum += m[(i * 16 + xi) * oc_count + oc];
      a[xi / 4][xi % 4] = sum;
    }
    for (int s = 0; s < 4; s++) {
      h[0][s] = a[0][s] + 0.5f * (a[1][s] + a[2][s]);
      h[1][s] = 0.5f * (a[1][s] - a[2][s]);
      h[2][s] = 0.5f * (a[1][s] + a[2][s]) + a[3][s];
    }
    float *w = grad_weight + oc * 9;
    for (int r = 0; r < 3; r++) {
      w[r * 3 + 0] += h[r][0] + 0.5f * (h[r][1] + h[r][2]);
      w[r * 3 + 1] += 0.5f * (h[r][1] - h[r][2]);
      w[r * 3 + 2] += 0.5f * (h[r][1] + h[r][2]) + h[r][3];
    }
  }
  oml_free(buf, bytes, OML_CPU);
  return 0;
}
