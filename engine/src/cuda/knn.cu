/* cuda/knn.cu — exact k-NN on a device: a block of queries times a block of
 * gallery rows through one cuBLAS GEMM (-2 q.g), then one thread block per
 * query row that merges the gallery block into the row's k best so far.
 *
 * Ranking is the CPU's (cpu/knn.c): the distance oml_knn_distance(||q||^2,
 * (double)m + (double)||g||^2) from the GEMM's m = -2 q.g in the dtype,
 * rounded to the output dtype, ties to the lower gallery index. The GEMM is
 * exact float32 whatever oml_cuda_get_math() says.
 *
 * Selection. A row's k best (sorted) sit at the front of a shared buffer of
 * `cap` entries (a power of two >= k + SELECT_THREADS). The threads take
 * SELECT_THREADS items at a time; an item that beats the k-th best goes to
 * the buffer's end. Before a round could overflow the buffer, a bitonic sort
 * cuts it back to the best k, and the k-th best becomes the bar. Items come
 * in gallery order, so an item that only ties the k-th best loses. */
#include "cublas.h"
#include "cuda_common.cuh"
#include "distance.h"
#include "knn.h"

#include <float.h>

#define SELECT_THREADS 256
/* default rows per query block; the gallery block keeps the product block near DEFAULT_PRODUCT_BYTES */
#define DEFAULT_QUERY_BLOCK 4096
#define DEFAULT_PRODUCT_BYTES ((int64_t)1 << 30)
/* larger blocks than asked are cut to keep these bounds */
#define MAX_PRODUCT_BYTES ((int64_t)4 << 30)
#define MAX_STATE_BYTES ((int64_t)1 << 30)

/* ---- selection ------------------------------------------------------------ */

__device__ static inline bool before(double da, int64_t ja, double db, int64_t jb) {
  return da < db || (da == db && ja < jb);
}

/* Sorts the block's buffer (cap entries, a power of two) ascending, with
 * `count` real entries and the rest padded last; then keeps the best k and
 * makes the k-th best the bar. All threads call it; count is stable. */
__device__ static void cut(double *sd, int64_t *sj, int cap, int k, int *count, double *bar_d, int64_t *bar_j) {
  int n = *count;
  for (int t = n + threadIdx.x; t < cap; t += blockDim.x) {
    sd[t] = INFINITY;
    sj[t] = INT64_MAX;
  }
  __syncthreads();
  for (int size = 2; size <= cap; size <<= 1)
    for (int half = size >> 1; half > 0; half >>= 1) {
      for (int t = threadIdx.x; t < cap; t += blockDim.x) {
        int u = t ^ half;
        if (u <= t) continue; /* each pair once, by its lower index */
        bool ascending = (t & size) == 0;
        bool swap = ascending ? before(sd[u], sj[u], sd[t], sj[t]) : before(sd[t], sj[t], sd[u], sj[u]);
        if (swap) {
          double d = sd[t];
          int64_t j = sj[t];
          sd[t] = sd[u];
          sj[t] = sj[u];
          sd[u] = d;
          sj[u] = j;
        }
      }
      __syncthreads();
    }
  if (threadIdx.x == 0) {
    *count = n < k ? n : k;
    if (*count == k) {
      *bar_d = sd[k - 1];
      *bar_j = sj[k - 1];
    }
  }
  __syncthreads();
}

/* Row r (blockIdx.x) of a query block merges gallery items j0 .. j0+nb-1:
 * c [rows, nb] holds -2 q.g, gn the block's squared norms in the dtype. The
 * row's state: best_n[r] entries of best_d / best_j (k per row, sorted). */
template <typename T>
__global__ void select_kernel(const T *c, const T *gn, int64_t nb, int64_t j0, const double *qn,
                              const int64_t *self_index, const int64_t *query_sequence,
                              const int64_t *gallery_sequence, double *best_d, int64_t *best_j, int64_t *best_n,
                              int k, int cap) {
  extern __shared__ double smem[];
  double *sd = smem;
  int64_t *sj = (int64_t *)(smem + cap);
  __shared__ int count;
  __shared__ double bar_d;
  __shared__ int64_t bar_j;
  int64_t r = blockIdx.x;
  const T *row = c + r * nb;
  double *rd = best_d + r * k;
  int64_t *rj = best_j + r * k;
  int n0 = (int)best_n[r];
  for (int t = threadIdx.x; t < n0; t += blockDim.x) {
    sd[t] = rd[t];
    sj[t] = rj[t];
  }
  if (threadIdx.x == 0) {
    count = n0;
    bar_d = n0 == k ? rd[k - 1] : INFINITY; /* below k entries every (finite) item enters */
    bar_j = n0 == k ? rj[k - 1] : INT64_MAX;
  }
  __syncthreads();
  double q_sqnorm = qn[r];
  int64_t self = self_index != NULL ? self_index[r] : -1;
  int64_t seq = query_sequence != NULL ? query_sequence[r] : 0;
  for (int64_t base = 0; base < nb; base += blockDim.x) {
    int filled = count;
    __syncthreads(); /* all have read count before any thread adds to it */
    if (filled + (int)blockDim.x > cap) cut(sd, sj, cap, k, &count, &bar_d, &bar_j);
    int64_t j = base + threadIdx.x;
    if (j < nb) {
      int64_t jg = j0 + j;
      bool skip = jg == self || (gallery_sequence != NULL && gallery_sequence[jg] == seq);
      if (!skip) {
        double dist = (T)oml_knn_distance(q_sqnorm, (double)row[j] + (double)gn[j]);
        if (before(dist, jg, bar_d, bar_j)) {
          int at = atomicAdd(&count, 1);
          sd[at] = dist;
          sj[at] = jg;
        }
      }
    }
    __syncthreads();
  }
  cut(sd, sj, cap, k, &count, &bar_d, &bar_j);
  for (int t = threadIdx.x; t < count; t += blockDim.x) {
    rd[t] = sd[t];
    rj[t] = sj[t];
  }
  if (threadIdx.x == 0) best_n[r] = count;
}

/* Rows i0.. of the outputs from the states: k entries, +inf and 0 past the found ones. */
template <typename T>
__global__ void write_kernel(const double *best_d, const int64_t *best_j, const int64_t *best_n, int64_t rows,
                             int64_t i0, int64_t kept, int64_t k, T *dist, int64_t ds0, int64_t ds1, int64_t *idx,
                             int64_t is0, int64_t is1, int64_t *counts, int64_t cs0) {
  OML_CUDA_LOOP(e, rows * k) {
    int64_t r = e / k, t = e % k, i = i0 + r, n = best_n[r];
    dist[i * ds0 + t * ds1] = t < n ? (T)best_d[r * kept + t] : (T)INFINITY;
    idx[i * is0 + t * is1] = t < n ? best_j[r * kept + t] + 1 : 0;
    if (counts != NULL && t == 0) counts[i * cs0] = n;
  }
}

/* ---- norms ---------------------------------------------------------------- */

__global__ void first_bad_kernel(const double *v, int64_t n, double limit, unsigned long long *first) {
  OML_CUDA_LOOP(i, n) if (!(v[i] <= limit)) atomicMin(first, (unsigned long long)i);
}

__global__ void to_float_kernel(const double *v, int64_t n, float *out) {
  OML_CUDA_LOOP(i, n) out[i] = (float)v[i];
}

/* The first row of norms v above limit or NaN, or -1. Copies one number to
 * the host (a wait): whether the search fails depends on the data. */
static int first_bad(const double *v, int64_t n, double limit, unsigned long long *scratch, int64_t *bad) {
  *bad = -1;
  if (n == 0) return 0;
  unsigned long long first = 0;
  if (oml_cuda_ok(cudaMemsetAsync(scratch, 0xff, sizeof first, oml_cuda_stream()), "k-NN norms")) return -1;
  first_bad_kernel<<<oml_cuda_blocks(n), OML_CUDA_THREADS, 0, oml_cuda_stream()>>>(v, n, limit, scratch);
  if (oml_cuda_launched("k-NN norms") ||
      oml_cuda_ok(cudaMemcpy(&first, scratch, sizeof first, cudaMemcpyDeviceToHost), "k-NN norms"))
    return -1;
  if (first != ~0ull) *bad = (int64_t)first;
  return 0;
}

/* ---- the search ----------------------------------------------------------- */

struct search {
  const oml_knn_problem *p;
  int single;
  int64_t nq, ng, d, k; /* k: min(k, ng), at least 1 for the state's layout */
  int64_t ldq, ldg, qb, gb;
  int cap;
  double *qn, *gd, *best_d;
  float *gf;
  int64_t *best_j, *best_n;
  void *c;
};

static int64_t row_stride(const oml_tensor *t) {
  return t->size_[0] > 1 ? t->stride_[0] : (t->size_[1] > 0 ? t->size_[1] : 1);
}
static int64_t clamp(int64_t x, int64_t lo, int64_t hi) { return x < lo ? lo : (x > hi ? hi : x); }

static void plan(search *sr) {
  const oml_knn_problem *p = sr->p;
  int64_t es = sr->single ? 4 : 8, state_row = sr->k * 16 + 8;
  int64_t qb = p->query_block > 0 ? p->query_block : DEFAULT_QUERY_BLOCK;
  qb = clamp(qb, 1, sr->nq);
  qb = clamp(qb, 1, MAX_STATE_BYTES / state_row);
  int64_t gb = p->gallery_block > 0 ? p->gallery_block : DEFAULT_PRODUCT_BYTES / (qb * es);
  sr->qb = qb;
  sr->gb = clamp(clamp(gb, 1, MAX_PRODUCT_BYTES / (qb * es)), 1, sr->ng > 0 ? sr->ng : 1);
  int cap = 1;
  while (cap < sr->k + SELECT_THREADS) cap <<= 1;
  sr->cap = cap;
}

/* c = -2 q_block g_block^T, rows x nb row-major: cuBLAS's column-major
 * nb x rows = g_block (read transposed) times q_block^T. */
static int products(const search *sr, cublasHandle_t h, int64_t i0, int64_t rows, int64_t j0, int64_t nb) {
  int64_t es = sr->single ? 4 : 8;
  if (sr->d == 0)
    return oml_cuda_ok(cudaMemsetAsync(sr->c, 0, (size_t)(rows * nb * es), oml_cuda_stream()), "k-NN products");
  const char *q = sr->p->queries->data_ + i0 * sr->ldq * es, *g = sr->p->gallery->data_ + j0 * sr->ldg * es;
  float af = -2, bf = 0;
  double ad = -2, bd = 0;
  cudaDataType ty = sr->single ? CUDA_R_32F : CUDA_R_64F;
  cublasComputeType_t ct = sr->single ? CUBLAS_COMPUTE_32F : CUBLAS_COMPUTE_64F;
  return oml_cuda_cublas_ok(
      oml_cublas->cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, (int)nb, (int)rows, (int)sr->d, sr->single ? (void *)&af : (void *)&ad,
                   g, ty, (int)sr->ldg, q, ty, (int)sr->ldq, sr->single ? (void *)&bf : (void *)&bd, sr->c, ty,
                   (int)nb, ct, CUBLAS_GEMM_DEFAULT),
      "k-NN products");
}

template <typename T>
static int run(const search *sr, cublasHandle_t h) {
  const oml_knn_problem *p = sr->p;
  const T *gn = sr->single ? (const T *)(const void *)sr->gf : (const T *)(const void *)sr->gd;
  size_t smem = (size_t)sr->cap * (sizeof(double) + sizeof(int64_t));
  for (int64_t i0 = 0; i0 < sr->nq; i0 += sr->qb) {
    int64_t rows = sr->nq - i0 < sr->qb ? sr->nq - i0 : sr->qb;
    if (oml_cuda_ok(cudaMemsetAsync(sr->best_n, 0, (size_t)rows * sizeof(int64_t), oml_cuda_stream()), "k-NN"))
      return -1;
    for (int64_t j0 = 0; j0 < sr->ng; j0 += sr->gb) {
      int64_t nb = sr->ng - j0 < sr->gb ? sr->ng - j0 : sr->gb;
      if (products(sr, h, i0, rows, j0, nb)) return -1;
      select_kernel<T><<<(unsigned)rows, SELECT_THREADS, smem, oml_cuda_stream()>>>(
          (const T *)sr->c, gn + j0, nb, j0, sr->qn + i0, p->self_index != NULL ? p->self_index + i0 : NULL,
          p->query_sequence != NULL ? p->query_sequence + i0 : NULL, p->gallery_sequence, sr->best_d, sr->best_j,
          sr->best_n, (int)sr->k, sr->cap);
      if (oml_cuda_launched("k-NN selection")) return -1;
    }
    const oml_tensor *dist = p->distances, *idx = p->indices, *cnt = p->counts;
    write_kernel<T><<<oml_cuda_blocks(rows * p->k), OML_CUDA_THREADS, 0, oml_cuda_stream()>>>(
        sr->best_d, sr->best_j, sr->best_n, rows, i0, sr->k, p->k, (T *)dist->data_, dist->stride_[0],
        dist->stride_[1], (int64_t *)idx->data_, idx->stride_[0], idx->stride_[1],
        cnt != NULL ? (int64_t *)cnt->data_ : NULL, cnt != NULL ? cnt->stride_[0] : 0);
    if (oml_cuda_launched("k-NN results")) return -1;
  }
  return 0;
}

/* Squared norms (float64, and float32 copies of the gallery's for float32);
 * fails as the CPU on a row that is not finite or too large. */
static int norms(search *sr, unsigned long long *scratch) {
  const oml_knn_problem *p = sr->p;
  double limit = sr->single ? FLT_MAX / 4 : DBL_MAX / 4;
  const char *type = sr->single ? "float32" : "float64";
  int64_t bad;
  if (oml_cuda_row_sqnorms(p->queries, sr->qn) || first_bad(sr->qn, sr->nq, limit, scratch, &bad)) return -1;
  if (bad >= 0)
    return oml_error("row %lld of the queries holds NaN or inf, or values too large for %s distances",
                     (long long)bad + 1, type);
  if (oml_cuda_row_sqnorms(p->gallery, sr->gd) || first_bad(sr->gd, sr->ng, limit, scratch, &bad)) return -1;
  if (bad >= 0)
    return oml_error("row %lld of the gallery holds NaN or inf, or values too large for %s distances",
                     (long long)bad + 1, type);
  if (!sr->single || sr->ng == 0) return 0;
  to_float_kernel<<<oml_cuda_blocks(sr->ng), OML_CUDA_THREADS, 0, oml_cuda_stream()>>>(sr->gd, sr->ng, sr->gf);
  return oml_cuda_launched("k-NN norms");
}

extern "C" int oml_cuda_knn_search(const oml_knn_problem *p) {
  search sr;
  memset(&sr, 0, sizeof sr);
  sr.p = p;
  sr.single = p->queries->dtype_ == OML_FLOAT32;
  sr.nq = p->queries->size_[0];
  sr.ng = p->gallery->size_[0];
  sr.d = p->queries->size_[1];
  int64_t kept = p->k < sr.ng ? p->k : sr.ng;
  if (kept > OML_CUDA_KNN_MAX_K)
    return oml_error("k-NN on a device keeps at most %d neighbours per query (asked for %lld of %lld gallery rows)",
                     OML_CUDA_KNN_MAX_K, (long long)p->k, (long long)sr.ng);
  sr.k = kept > 0 ? kept : 1;
  sr.ldq = row_stride(p->queries);
  sr.ldg = row_stride(p->gallery);
  if (sr.nq == 0) return 0;
  int32_t device = p->queries->device_;
  cublasHandle_t h = oml_cuda_cublas(device);
  if (h == NULL) return -1;
  plan(&sr);
  int64_t es = sr.single ? 4 : 8;
  int64_t bytes[8] = {sr.nq * 8, sr.ng * 8, sr.single ? sr.ng * 4 : 0, sr.qb * sr.k * 8, sr.qb * sr.k * 8,
                      sr.qb * 8, sr.qb * sr.gb * es, 8};
  void *mem[8] = {NULL};
  int rc = 0;
  for (int i = 0; i < 8 && rc == 0; i++)
    if ((mem[i] = oml_alloc(bytes[i], device)) == NULL) rc = -1;
  if (rc == 0) {
    sr.qn = (double *)mem[0];
    sr.gd = (double *)mem[1];
    sr.gf = (float *)mem[2];
    sr.best_d = (double *)mem[3];
    sr.best_j = (int64_t *)mem[4];
    sr.best_n = (int64_t *)mem[5];
    sr.c = mem[6];
    rc = norms(&sr, (unsigned long long *)mem[7]);
  }
  if (rc == 0) rc = sr.single ? run<float>(&sr, h) : run<double>(&sr, h);
  for (int i = 0; i < 8; i++) oml_free(mem[i], bytes[i], device);
  return rc;
}
