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

/* Weights per chunk of transform_weights and of grad_weight's last step. */
#define WCHUNK 16

/* u[16][o][c] = G w G^T for w [o][c][3][3] contiguous; with `flip`, w is
 * read as the weight of the transposed convolution: w'[c][o] = w[o][c]
 * turned by 180 degrees (o and c are then the flipped weight's sizes).
 * WCHUNK kernels of a row of u at a time, so that the arithmetic and the
 * stores run along c and vectorise. */
static void transform_weights(const float *w, int64_t o, int64_t c, int flip, float *u) {
  int64_t chunks = (c + WCHUNK - 1) / WCHUNK;
#pragma omp parallel for if (oml_parallel_ok(o * c * 16)) schedule(static)
  for (int64_t ij = 0; ij < o * chunks; ij++) {
    int64_t i = ij / chunks, j0 = ij % chunks * WCHUNK, count = c - j0 < WCHUNK ? c - j0 : WCHUNK;
    float g[3][3][WCHUNK], t[4][3][WCHUNK];
    for (int64_t k = 0; k < count; k++) {
      const float *kern = flip ? w + ((j0 + k) * o + i) * 9 : w + (i * c + j0 + k) * 9;
      for (int r = 0; r < 3; r++)
        for (int s = 0; s < 3; s++) g[r][s][k] = flip ? kern[(2 - r) * 3 + (2 - s)] : kern[r * 3 + s];
    }
    for (int s = 0; s < 3; s++)
      for (int64_t k = 0; k < count; k++) {
        t[0][s][k] = g[0][s][k];
        t[1][s][k] = 0.5f * (g[0][s][k] + g[1][s][k] + g[2][s][k]);
        t[2][s][k] = 0.5f * (g[0][s][k] - g[1][s][k] + g[2][s][k]);
        t[3][s][k] = g[2][s][k];
      }
    for (int r = 0; r < 4; r++) {
      float *restrict u0 = u + ((int64_t)(r * 4) * o + i) * c + j0, *restrict u1 = u0 + o * c, *restrict u2 = u1 + o * c,
                      *restrict u3 = u2 + o * c;
      for (int64_t k = 0; k < count; k++) {
        u0[k] = t[r][0][k];
        u1[k] = 0.5f * (t[r][0][k] + t[r][1][k] + t[r][2][k]);
        u2[k] = 0.5f * (t[r][0][k] - t[r][1][k] + t[r][2][k]);
        u3[k] = t[r][2][k];
      }
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

/* Tiles per chunk of the tile transforms (their scratch lives on the stack). */
#define RUN 64

/* B^T d B for count <= RUN tiles gathered by column: col[s][r][k] is
 * column s of row r of tile k's 4x4 patch; into v[k], v[step + k], ...
 * Along the rows first, then down the columns; the loops run over k
 * with contiguous loads, so they vectorise. */
static void input_tiles(float col[4][4][RUN], int64_t count, float *restrict v, int64_t step) {
  float h[4][4][RUN];
  for (int r = 0; r < 4; r++)
    for (int64_t k = 0; k < count; k++) {
      h[r][0][k] = col[0][r][k] - col[2][r][k];
      h[r][1][k] = col[1][r][k] + col[2][r][k];
      h[r][2][k] = col[2][r][k] - col[1][r][k];
      h[r][3][k] = col[1][r][k] - col[3][r][k];
    }
  for (int j = 0; j < 4; j++)
    for (int64_t k = 0; k < count; k++) {
      v[(0 + j) * step + k] = h[0][j][k] - h[2][j][k];
      v[(4 + j) * step + k] = h[1][j][k] + h[2][j][k];
      v[(8 + j) * step + k] = h[2][j][k] - h[1][j][k];
      v[(12 + j) * step + k] = h[1][j][k] - h[3][j][k];
    }
}

/* A^T m A for count <= RUN tiles: m[i * step + k] for tile k, plus add,
 * into the 2x2 blocks y[r][s][k]. The loop over k vectorises. */
static void output_tiles(const float *restrict m, int64_t step, int64_t count, float add, float y[2][2][RUN]) {
  for (int64_t k = 0; k < count; k++) {
    float s0[4], s1[4];
    for (int s = 0; s < 4; s++) {
      s0[s] = m[s * step + k] + m[(4 + s) * step + k] + m[(8 + s) * step + k];
      s1[s] = m[(4 + s) * step + k] - m[(8 + s) * step + k] - m[(12 + s) * step + k];
    }
    y[0][0][k] = s0[0] + s0[1] + s0[2] + add;
    y[0][1][k] = s0[1] - s0[2] - s0[3] + add;
    y[1][0][k] = s1[0] + s1[1] + s1[2] + add;
    y[1][1][k] = s1[1] - s1[2] - s1[3] + add;
  }
}

/* Columns [x0, x0 + width) of an input row (NULL: a row of padding) as a
 * contiguous array: the row itself where it can be, else a copy into buf
 * with zeros past the edges. width <= 2 * RUN + 2. */
static const float *padded_row(const float *row, int64_t xs, int64_t w, int64_t x0, int64_t width, float *buf) {
  static const float zeros[2 * RUN + 2];
  if (!row) return zeros;
  if (xs == 1 && x0 >= 0 && x0 + width <= w) return row + x0;
  int64_t lo = x0 < 0 ? -x0 : 0, hi = w - x0 < width ? w - x0 : width;
  if (hi < lo) hi = lo;
  for (int64_t c = 0; c < lo; c++) buf[c] = 0.0f;
  for (int64_t c = lo; c < hi; c++) buf[c] = row[(x0 + c) * xs];
  for (int64_t c = hi; c < width; c++) buf[c] = 0.0f;
  return buf;
}

/* v[16][c][tb] for tiles [t0, t0+tb): B^T d B of each 4x4 input tile d.
 * Chunks of RUN tiles (across rows of tiles and images) are gathered by
 * column from zero-padded rows, then transformed together. */
static void transform_input(const wino *q, int64_t t0, int64_t tb, float *v) {
  const oml_conv2d_geometry *g = q->g;
  int64_t per_image = q->th * q->tw, step = g->c * tb;
  float col[4][4][RUN], pad[4][2 * RUN + 2];
  for (int64_t ch = 0; ch < g->c; ch++)
    for (int64_t c0 = 0; c0 < tb; c0 += RUN) {
      int64_t count = tb - c0 < RUN ? tb - c0 : RUN;
      for (int64_t t = 0; t < count;) {
        int64_t tile = t0 + c0 + t, n = tile / per_image, ty = (tile % per_image) / q->tw, tx0 = tile % q->tw;
        int64_t run = q->tw - tx0 < count - t ? q->tw - tx0 : count - t; /* tiles left on this row of tiles */
        const float *plane = q->x + n * q->xs[0] + ch * q->xs[1];
        int64_t y = ty * 2 - g->pad_h, x0 = tx0 * 2 - g->pad_w;
        for (int r = 0; r < 4; r++) {
          const float *row = y + r >= 0 && y + r < g->h ? plane + (y + r) * q->xs[2] : NULL;
          const float *restrict p = padded_row(row, q->xs[3], g->w, x0, 2 * run + 2, pad[r]);
          float *restrict c0s = col[0][r] + t, *restrict c1s = col[1][r] + t, *restrict c2s = col[2][r] + t,
                          *restrict c3s = col[3][r] + t;
          for (int64_t k = 0; k < run; k++) {
            c0s[k] = p[2 * k];
            c1s[k] = p[2 * k + 1];
            c2s[k] = p[2 * k + 2];
            c3s[k] = p[2 * k + 3];
          }
        }
        t += run;
      }
      input_tiles(col, count, v + ch * tb + c0, step);
    }
}

/* out's 2x2 blocks of tiles [t0, t0+tb) from m[16][o][tb]: A^T m A, plus
 * bias, for chunks of RUN tiles together, then stored row by row. */
static void transform_output(const wino *q, const float *m, const float *bias, int64_t bias_stride, int64_t t0,
                             int64_t tb, float *out) {
  const oml_conv2d_geometry *g = q->g;
  int64_t per_image = q->th * q->tw, step = g->o * tb;
  float y[2][2][RUN];
  for (int64_t oc = 0; oc < g->o; oc++) {
    float add = bias ? bias[oc * bias_stride] : 0.0f;
    for (int64_t c0 = 0; c0 < tb; c0 += RUN) {
      int64_t count = tb - c0 < RUN ? tb - c0 : RUN;
      output_tiles(m + oc * tb + c0, step, count, add, y);
      for (int64_t t = 0; t < count;) {
        int64_t tile = t0 + c0 + t, n = tile / per_image, ty = (tile % per_image) / q->tw, tx0 = tile % q->tw;
        int64_t run = q->tw - tx0 < count - t ? q->tw - tx0 : count - t;
        float *restrict row0 = out + ((n * g->o + oc) * g->ho + ty * 2) * g->wo + tx0 * 2, *restrict row1 = row0 + g->wo;
        int two_rows = ty * 2 + 1 < g->ho;
        /* tiles whose both output columns exist: all but an odd width's last */
        int64_t whole = g->wo / 2 - tx0 < run ? g->wo / 2 - tx0 : run;
        for (int64_t k = 0; k < whole; k++) {
          row0[2 * k] = y[0][0][t + k];
          row0[2 * k + 1] = y[0][1][t + k];
        }
        if (two_rows)
          for (int64_t k = 0; k < whole; k++) {
            row1[2 * k] = y[1][0][t + k];
            row1[2 * k + 1] = y[1][1][t + k];
          }
        if (whole < run) {
          row0[2 * whole] = y[0][0][t + whole];
          if (two_rows) row1[2 * whole] = y[1][0][t + whole];
        }
        t += run;
      }
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

/* A dy A^T for count <= RUN 2x2 blocks gathered by position: dy[r * 2 + s][k]
 * is row r, column s of block k; into t[i * step + k]. The loops over k vectorise. */
static void gout_tiles(float dy[4][RUN], int64_t count, float *restrict t, int64_t step) {
  /* rows of A dy: p = A (a, b), q = A (c, d); then A (p, q) down the columns */
  float p[4][RUN], q[4][RUN];
  for (int64_t k = 0; k < count; k++) {
    p[0][k] = dy[0][k];
    p[1][k] = dy[0][k] + dy[1][k];
    p[2][k] = dy[0][k] - dy[1][k];
    p[3][k] = -dy[1][k];
    q[0][k] = dy[2][k];
    q[1][k] = dy[2][k] + dy[3][k];
    q[2][k] = dy[2][k] - dy[3][k];
    q[3][k] = -dy[3][k];
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
 * dy read as 0 past the output's edge; chunks of RUN tiles are gathered
 * from zero-padded rows, then transformed together. */
static void transform_gout(const wino *q, const oml_tensor *go, int64_t t0, int64_t tb, float *gt) {
  const oml_conv2d_geometry *g = q->g;
  const int64_t *gs = go->stride_;
  int64_t per_image = q->th * q->tw, step = g->o * tb;
  float dy[4][RUN], pad[2][2 * RUN + 2];
  for (int64_t oc = 0; oc < g->o; oc++)
    for (int64_t c0 = 0; c0 < tb; c0 += RUN) {
      int64_t count = tb - c0 < RUN ? tb - c0 : RUN;
      for (int64_t t = 0; t < count;) {
        int64_t tile = t0 + c0 + t, n = tile / per_image, ty = (tile % per_image) / q->tw, tx0 = tile % q->tw;
        int64_t run = q->tw - tx0 < count - t ? q->tw - tx0 : count - t;
        const float *row0 = (const float *)go->data_ + n * gs[0] + oc * gs[1] + ty * 2 * gs[2];
        const float *row1 = ty * 2 + 1 < g->ho ? row0 + gs[2] : NULL;
        for (int r = 0; r < 2; r++) {
          const float *restrict p = padded_row(r ? row1 : row0, gs[3], g->wo, tx0 * 2, 2 * run, pad[r]);
          float *restrict even = dy[2 * r] + t, *restrict odd = dy[2 * r + 1] + t;
          for (int64_t k = 0; k < run; k++) {
            even[k] = p[2 * k];
            odd[k] = p[2 * k + 1];
          }
        }
        t += run;
      }
      gout_tiles(dy, count, gt + oc * tb + c0, step);
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
  for (int64_t oc0 = 0; oc0 < oc_count; oc0 += WCHUNK) {
    int64_t count = oc_count - oc0 < WCHUNK ? oc_count - oc0 : WCHUNK;
    float a[4][4][WCHUNK], h[3][4][WCHUNK], d[9][WCHUNK];
    for (int xi = 0; xi < 16; xi++)
      for (int64_t k = 0; k < count; k++) {
        float sum = m[xi * oc_count + oc0 + k];
        for (int64_t i = 1; i < slots; i++) sum += m[(i * 16 + xi) * oc_count + oc0 + k];
        a[xi / 4][xi % 4][k] = sum;
      }
    for (int s = 0; s < 4; s++)
      for (int64_t k = 0; k < count; k++) {
        h[0][s][k] = a[0][s][k] + 0.5f * (a[1][s][k] + a[2][s][k]);
        h[1][s][k] = 0.5f * (a[1][s][k] - a[2][s][k]);
        h[2][s][k] = 0.5f * (a[1][s][k] + a[2][s][k]) + a[3][s][k];
      }
    for (int r = 0; r < 3; r++)
      for (int64_t k = 0; k < count; k++) {
        d[r * 3 + 0][k] = h[r][0][k] + 0.5f * (h[r][1][k] + h[r][2][k]);
        d[r * 3 + 1][k] = 0.5f * (h[r][1][k] - h[r][2][k]);
        d[r * 3 + 2][k] = 0.5f * (h[r][1][k] + h[r][2][k]) + h[r][3][k];
      }
    float *w = grad_weight + oc0 * 9;
    for (int64_t k = 0; k < count; k++)
      for (int e = 0; e < 9; e++) w[k * 9 + e] += d[e][k];
  }
  oml_free(buf, bytes, OML_CPU);
  return 0;
}
