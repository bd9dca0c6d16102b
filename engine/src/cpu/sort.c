/* cpu/sort.c — sort and topk along a dim, one line per task.
 *
 * Elements become unsigned keys (cpu/sort.h) paired with their positions:
 * ordering the pairs by (key, position) is the stable order, so a sort is an
 * LSD radix sort of the pairs (stable by construction) and topk keeps the k
 * first pairs in a bounded max-heap, which for k << n rejects almost every
 * element with one comparison. Lines run in parallel, each thread with its
 * own scratch. */
#include "sort.h"
#include "index.h"

#include <omp.h>

/* small lines: insertion sort beats the radix passes */
#define INSERTION_MAX 48
/* keys are read in blocks of this many, so the dtype switch runs per block */
#define BLOCK 256

typedef struct job {
  oml_lines lines;    /* operands: a, values (or a), indices (or a) */
  int64_t n, k, elsize;
  int32_t dtype, flip, heap, has_values, has_indices;
} job;

/* Writes the first m pairs of a line: values from src (elements step bytes
 * apart), indices 1-based. */
static void write_line(const job *jb, char **ptrs, const char *src, int64_t step, const int64_t *idx, int64_t m) {
  const int64_t *s = jb->lines.step;
  for (int64_t j = 0; j < m; j++) {
    if (jb->has_values) oml_copy_elem(ptrs[1] + j * s[1], src + idx[j] * step, jb->elsize);
    if (jb->has_indices) *(int64_t *)(ptrs[2] + j * s[2]) = idx[j] + 1;
  }
}

/* One family of functions per key width: KT the key type, W its suffix,
 * KEYS the dtype switch that turns elements into keys. */
#define KEY_FAMILY(KT, W, KEYS)                                                                      \
  static void load_keys_##W(const char *p, int64_t step, int64_t n, int32_t dtype, int flip, KT *out) { \
    const KT x = flip ? (KT)~(KT)0 : 0;                                                             \
    KEYS                                                                                             \
  }                                                                                                  \
                                                                                                     \
  static void insertion_##W(KT *key, int64_t *idx, int64_t n) {                                     \
    for (int64_t i = 1; i < n; i++) {                                                               \
      KT k = key[i];                                                                                \
      int64_t x = idx[i], j = i;                                                                    \
      for (; j > 0 && key[j - 1] > k; j--) {                                                        \
        key[j] = key[j - 1];                                                                        \
        idx[j] = idx[j - 1];                                                                        \
      }                                                                                             \
      key[j] = k;                                                                                   \
      idx[j] = x;                                                                                   \
    }                                                                                               \
  }                                                                                                 \
                                                                                                    \
  /* Sorts (*key, *idx) by key, stably, using the second pair of buffers;   \
   * on return *key and *idx point at the sorted pairs. */                                          \
  static void radix_##W(KT **key, int64_t **idx, KT **key2, int64_t **idx2, int64_t n) {             \
    if (n <= INSERTION_MAX) {                                                                       \
      insertion_##W(*key, *idx, n);                                                                 \
      return;                                                                                       \
    }                                                                                               \
    int64_t hist[sizeof(KT)][256];                                                                  \
    memset(hist, 0, sizeof hist);                                                                   \
    for (int64_t i = 0; i < n; i++)                                                                 \
      for (unsigned b = 0; b < sizeof(KT); b++) hist[b][((*key)[i] >> (8 * b)) & 255]++;           \
    for (unsigned b = 0; b < sizeof(KT); b++) {                                                     \
      if (hist[b][((*key)[0] >> (8 * b)) & 255] == n) continue; /* one byte value: nothing moves */ \
      int64_t pos[256], sum = 0;                                                                    \
      for (int v = 0; v < 256; v++) {                                                               \
        pos[v] = sum;                                                                               \
        sum += hist[b][v];                                                                          \
      }                                                                                             \
      KT *k = *key, *k2 = *key2;                                                                    \
      int64_t *x = *idx, *x2 = *idx2;                                                               \
      for (int64_t i = 0; i < n; i++) {                                                             \
        int64_t p = pos[(k[i] >> (8 * b)) & 255]++;                                                 \
        k2[p] = k[i];                                                                               \
        x2[p] = x[i];                                                                               \
      }                                                                                             \
      *key = k2, *key2 = k, *idx = x2, *idx2 = x;                                                   \
    }                                                                                               \
  }                                                                                                 \
                                                                                                    \
  /* 1 when pair a comes after pair b */                                                            \
  static inline int after_##W(KT ka, int64_t ia, KT kb, int64_t ib) {                               \
    return ka > kb || (ka == kb && ia > ib);                                                        \
  }                                                                                                 \
                                                                                                    \
  static void sift_##W(KT *key, int64_t *idx, int64_t n, int64_t i) {                               \
    KT k = key[i];                                                                                  \
    int64_t x = idx[i];                                                                             \
    for (;;) {                                                                                      \
      int64_t c = 2 * i + 1;                                                                        \
      if (c >= n) break;                                                                            \
      if (c + 1 < n && after_##W(key[c + 1], idx[c + 1], key[c], idx[c])) c++;                     \
      if (!after_##W(key[c], idx[c], k, x)) break;                                                  \
      key[i] = key[c];                                                                              \
      idx[i] = idx[c];                                                                              \
      i = c;                                                                                        \
    }                                                                                               \
    key[i] = k;                                                                                     \
    idx[i] = x;                                                                                     \
  }                                                                                                 \
                                                                                                    \
  /* The k first pairs of a line through a max-heap; elements arrive in   \
   * position order, so an equal key never displaces the heap's top. */                             \
  static void heap_line_##W(const job *jb, char **ptrs, char *scratch) {                            \
    int64_t *idx = (int64_t *)scratch, k = jb->k, step = jb->lines.step[0];                         \
    KT *key = (KT *)(idx + k), block[BLOCK];                                                        \
    load_keys_##W(ptrs[0], step, k, jb->dtype, jb->flip, key);                                      \
    for (int64_t i = 0; i < k; i++) idx[i] = i;                                                     \
    for (int64_t i = k / 2 - 1; i >= 0; i--) sift_##W(key, idx, k, i);                              \
    for (int64_t j0 = k; j0 < jb->n; j0 += BLOCK) {                                                 \
      int64_t m = jb->n - j0 < BLOCK ? jb->n - j0 : BLOCK;                                          \
      load_keys_##W(ptrs[0] + j0 * step, step, m, jb->dtype, jb->flip, block);                      \
      for (int64_t j = 0; j < m; j++) {                                                             \
        if (block[j] >= key[0]) continue;                                                           \
        key[0] = block[j];                                                                          \
        idx[0] = j0 + j;                                                                            \
        sift_##W(key, idx, k, 0);                                                                   \
      }                                                                                             \
    }                                                                                               \
    for (int64_t end = k - 1; end > 0; end--) { /* heap sort: the largest pair goes last */         \
      KT tk = key[0];                                                                               \
      int64_t ti = idx[0];                                                                          \
      key[0] = key[end], idx[0] = idx[end];                                                         \
      key[end] = tk, idx[end] = ti;                                                                 \
      sift_##W(key, idx, end, 0);                                                                   \
    }                                                                                               \
    write_line(jb, ptrs, ptrs[0], step, idx, k);                                                    \
  }                                                                                                 \
                                                                                                    \
  /* A full sort of the line, then its k first pairs. The line's elements  \
   * are copied first, so values may be written over a itself. */                                  \
  static void sort_line_##W(const job *jb, char **ptrs, char *scratch) {                            \
    int64_t n = jb->n;                                                                              \
    int64_t *idx = (int64_t *)scratch, *idx2 = idx + n; /* the widest first, for alignment */      \
    KT *key = (KT *)(idx2 + n), *key2 = key + n;                                                    \
    char *raw = (char *)(key2 + n);                                                                 \
    const char *p = ptrs[0];                                                                        \
    for (int64_t i = 0; i < n; i++) oml_copy_elem(raw + i * jb->elsize, p + i * jb->lines.step[0], jb->elsize); \
    load_keys_##W(raw, jb->elsize, n, jb->dtype, jb->flip, key);                                    \
    for (int64_t i = 0; i < n; i++) idx[i] = i;                                                     \
    radix_##W(&key, &idx, &key2, &idx2, n);                                                         \
    write_line(jb, ptrs, raw, jb->elsize, idx, jb->k);                                              \
  }

KEY_FAMILY(uint32_t, 32,
  switch (dtype) {
  case OML_FLOAT32: for (int64_t j = 0; j < n; j++) out[j] = oml_sort_key_f32(*(const float *)(p + j * step)) ^ x; break;
  case OML_INT32: for (int64_t j = 0; j < n; j++) out[j] = oml_sort_key_i32(*(const int32_t *)(p + j * step)) ^ x; break;
  default: for (int64_t j = 0; j < n; j++) out[j] = oml_sort_key_u8(*(const uint8_t *)(p + j * step)) ^ x; break;
  })

KEY_FAMILY(uint64_t, 64,
  switch (dtype) {
  case OML_FLOAT64: for (int64_t j = 0; j < n; j++) out[j] = oml_sort_key_f64(*(const double *)(p + j * step)) ^ x; break;
  default: for (int64_t j = 0; j < n; j++) out[j] = oml_sort_key_i64(*(const int64_t *)(p + j * step)) ^ x; break;
  })

typedef void (*line_fn)(const job *jb, char **ptrs, char *scratch);

/* The k first pairs of every line of a along dim, in (key, position) order;
 * flip reverses the key order. */
static int first_pairs(const oml_tensor *a, oml_tensor *values, oml_tensor *indices, int64_t k, int32_t dim,
                       int32_t flip) {
  job jb;
  const oml_tensor *ops[3] = {a, values ? values : a, indices ? indices : a};
  oml_lines_init(&jb.lines, 3, ops, a->ndim_, a->size_, dim);
  if (jb.lines.count == 0 || k == 0) return 0;
  jb.n = jb.lines.len;
  jb.k = k;
  jb.elsize = oml_dtype_size(a->dtype_);
  jb.dtype = a->dtype_;
  jb.flip = flip != 0;
  jb.heap = k * 16 <= jb.n;
  jb.has_values = values != NULL;
  jb.has_indices = indices != NULL;
  int wide = a->dtype_ == OML_FLOAT64 || a->dtype_ == OML_INT64;
  int64_t key_size = wide ? 8 : 4;
  int64_t per_thread = jb.heap ? k * (8 + key_size) : jb.n * (2 * (8 + key_size) + jb.elsize);
  per_thread = (per_thread + 63) & ~(int64_t)63;
  line_fn fn = jb.heap ? (wide ? heap_line_64 : heap_line_32) : (wide ? sort_line_64 : sort_line_32);

  int parallel = jb.lines.count > 1 && oml_parallel_ok(jb.lines.count * jb.n);
  int threads = parallel ? omp_get_max_threads() : 1;
  char *scratch = oml_alloc(threads * per_thread, OML_CPU);
  if (scratch == NULL) return -1;
#pragma omp parallel num_threads(threads) if (parallel)
  {
    char *mine = scratch + omp_get_thread_num() * per_thread;
#pragma omp for schedule(static)
    for (int64_t line = 0; line < jb.lines.count; line++) {
      char *ptrs[3];
      oml_lines_start(&jb.lines, line, ptrs);
      fn(&jb, ptrs, mine);
    }
  }
  oml_free(scratch, threads * per_thread, OML_CPU);
  return 0;
}

int oml_cpu_sort(const oml_tensor *a, oml_tensor *values, oml_tensor *indices, int32_t dim, int32_t descending) {
  int64_t n = a->ndim_ > 0 ? a->size_[dim] : 1;
  return first_pairs(a, values, indices, n, dim, descending);
}

int oml_cpu_topk(const oml_tensor *a, oml_tensor *values, oml_tensor *indices, int64_t k, int32_t dim,
                 int32_t largest) {
  return first_pairs(a, values, indices, k, dim, largest);
}
