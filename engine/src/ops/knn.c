/* ops/knn.c — the exact k-NN search: argument checks, the outputs, and the
 * inputs in the layout the kernel reads; then cpu/knn.c or cuda/knn.cu. */
#include "../core/internal.h"
#include "../cpu/knn.h"
#ifdef OML_WITH_CUDA
#include "../cuda/knn.h"
#endif

#include <limits.h>
#include <stdio.h>

static int check_embeddings(const oml_tensor *t, const char *what) {
  char s[OML_SHAPE_BUF];
  if (oml_check_real(t, what)) return -1;
  if (t->ndim_ != 2) return oml_error("%s must be a 2-d tensor [n,d] (got shape %s)", what, oml_shape_str(t, s));
  return 0;
}

/* 1 when a and b, both set, touch a common byte. */
static int share_memory(const oml_tensor *a, const oml_tensor *b) {
  if (a->storage_ != b->storage_) return 0;
  int64_t alo, ahi, blo, bhi, as = oml_dtype_size(a->dtype_), bs = oml_dtype_size(b->dtype_);
  oml_tensor_span(a, &alo, &ahi);
  oml_tensor_span(b, &blo, &bhi);
  if (alo > ahi || blo > bhi) return 0;
  return alo * as < (bhi + 1) * bs && blo * bs < (ahi + 1) * as;
}

/* 1 when the GEMM can read the [n,d] matrix t where it lies: rows of unit
 * stride, and a row stride BLAS accepts. */
static int rows_ready(const oml_tensor *t) {
  int64_t n = t->size_[0], d = t->size_[1];
  if (n == 0 || d == 0) return 1;
  if (d > 1 && t->stride_[1] != 1) return 0;
  return n == 1 || (t->stride_[0] >= d && t->stride_[0] <= INT_MAX);
}

/* ready: t itself (a view), or a contiguous copy when the GEMM cannot read
 * t or an output would overwrite it while it is read. */
static int kernel_input(const oml_tensor *t, oml_tensor *const *outputs, oml_tensor *ready) {
  int copy = !rows_ready(t);
  for (int i = 0; i < 3; i++) copy = copy || (outputs[i] != NULL && share_memory(t, outputs[i]));
  return copy ? oml_tensor_clone(t, ready) : oml_tensor_alias(t, ready);
}

/* t (int32 or int64, 1-d of size n, on the queries' device) as a fresh
 * contiguous int64 tensor on the CPU. */
static int int64_vector(const oml_tensor *t, const char *what, int64_t n, const oml_tensor *queries,
                        oml_tensor *out) {
  char s[OML_SHAPE_BUF];
  if (oml_check_index_dtype(t, what) || oml_check_device(t, what, queries, "the query tensor")) return -1;
  if (t->ndim_ != 1 || t->size_[0] != n)
    return oml_error("%s must be a 1-d tensor of size %lld (got shape %s)", what, (long long)n, oml_shape_str(t, s));
  return oml_tensor_to(t, out, OML_INT64, OML_CPU);
}

/* Checks the self indices (1-based, 0 for none) and makes them 0-based (-1 for none). */
static int self_rows(oml_tensor *self, int64_t ng) {
  int64_t *v = (int64_t *)self->data_;
  for (int64_t i = 0; i < self->numel_; i++) {
    if (v[i] < 0 || v[i] > ng)
      return oml_error("self_index[%lld] = %lld is out of range 0..%lld (0 for none)", (long long)i + 1,
                       (long long)v[i], (long long)ng);
    v[i] -= 1;
  }
  return 0;
}

/* t (when set) replaced by its copy on device. */
static int to_device(oml_tensor *t, int32_t device) {
  if (t->storage_ == NULL) return 0;
  oml_tensor moved = oml_tensor_unset();
  if (oml_tensor_to(t, &moved, t->dtype_, device)) return -1;
  oml_tensor_release(t);
  *t = moved;
  return 0;
}

static int check_args(const oml_tensor *queries, const oml_tensor *gallery, const oml_tensor *query_sequence,
                      const oml_tensor *gallery_sequence, oml_tensor *const *outputs, int64_t k,
                      int64_t query_block, int64_t gallery_block) {
  char sq[OML_SHAPE_BUF], sg[OML_SHAPE_BUF];
  if (check_embeddings(queries, "queries") || check_embeddings(gallery, "gallery") ||
      oml_check_device(gallery, "the gallery", queries, "the query tensor"))
    return -1;
  if (queries->dtype_ != gallery->dtype_)
    return oml_error("queries are %s but gallery is %s", oml_dtype_name(queries->dtype_),
                     oml_dtype_name(gallery->dtype_));
  if (queries->size_[1] != gallery->size_[1])
    return oml_error("queries of shape %s and gallery of shape %s differ in the embedding size",
                     oml_shape_str(queries, sq), oml_shape_str(gallery, sg));
  if (queries->size_[1] > INT_MAX)
    return oml_error("embeddings of size %lld exceed BLAS's limit of %d", (long long)queries->size_[1], INT_MAX);
  if (k < 1) return oml_error("k must be >= 1 (got %lld)", (long long)k);
  if (query_block < 0 || gallery_block < 0)
    return oml_error("block sizes must be >= 0, 0 for the default (got %lld and %lld)", (long long)query_block,
                     (long long)gallery_block);
  if ((query_sequence == NULL) != (gallery_sequence == NULL))
    return oml_error("query_sequence and gallery_sequence go together (got only %s)",
                     query_sequence != NULL ? "query_sequence" : "gallery_sequence");
  if (outputs[0] == NULL || outputs[1] == NULL) return oml_error("no output tensor");
  for (int a = 0; a < 3; a++)
    for (int b = a + 1; b < 3; b++)
      if (outputs[a] != NULL && outputs[b] != NULL &&
          (outputs[a] == outputs[b] || (outputs[a]->storage_ != NULL && outputs[a]->storage_ == outputs[b]->storage_)))
        return oml_error("the distances, indices and counts outputs must not share storage");
  return 0;
}

int oml_knn_search(const oml_tensor *queries, const oml_tensor *gallery, const oml_tensor *self_index,
                   const oml_tensor *query_sequence, const oml_tensor *gallery_sequence, oml_tensor *distances,
                   oml_tensor *indices, oml_tensor *counts, int64_t k, int64_t query_block, int64_t gallery_block) {
  oml_tensor *outputs[3] = {distances, indices, counts};
  if (check_args(queries, gallery, query_sequence, gallery_sequence, outputs, k, query_block, gallery_block))
    return -1;
  int64_t nq = queries->size_[0], ng = gallery->size_[0], size[2] = {nq, k};
  oml_tensor self = oml_tensor_unset(), qseq = oml_tensor_unset(), gseq = oml_tensor_unset();
  oml_tensor q = oml_tensor_unset(), g = oml_tensor_unset();
  int rc = 0;
  /* the vectors are checked on the CPU (self_index's range decides whether
   * the search runs), then go to the queries' device */
  if (self_index != NULL) {
    rc = int64_vector(self_index, "self_index", nq, queries, &self);
    if (rc == 0) rc = self_rows(&self, ng);
  }
  if (rc == 0 && query_sequence != NULL) rc = int64_vector(query_sequence, "query_sequence", nq, queries, &qseq);
  if (rc == 0 && gallery_sequence != NULL)
    rc = int64_vector(gallery_sequence, "gallery_sequence", ng, queries, &gseq);
  int32_t device = queries->device_;
  if (rc == 0 && device != OML_CPU)
    rc = to_device(&self, device) || to_device(&qseq, device) || to_device(&gseq, device) ? -1 : 0;

  int fresh[3];
  for (int i = 0; i < 3; i++) fresh[i] = outputs[i] != NULL && outputs[i]->storage_ == NULL;
  if (rc == 0) rc = oml_out_prepare(distances, 2, size, queries->dtype_, device);
  if (rc == 0) rc = oml_out_prepare(indices, 2, size, OML_INT64, device);
  if (rc == 0 && counts != NULL) rc = oml_out_prepare(counts, 1, &nq, OML_INT64, device);
  if (rc == 0) rc = kernel_input(queries, outputs, &q);
  if (rc == 0) rc = kernel_input(gallery, outputs, &g);
  if (rc == 0) {
    oml_knn_problem p = {
      .queries = &q,
      .gallery = &g,
      .self_index = self_index != NULL ? (const int64_t *)self.data_ : NULL,
      .query_sequence = query_sequence != NULL ? (const int64_t *)qseq.data_ : NULL,
      .gallery_sequence = gallery_sequence != NULL ? (const int64_t *)gseq.data_ : NULL,
      .distances = distances,
      .indices = indices,
      .counts = counts,
      .k = k,
      .query_block = query_block,
      .gallery_block = gallery_block,
    };
#ifdef OML_WITH_CUDA
    if (device != OML_CPU) rc = oml_cuda_knn_search(&p);
    else
#endif
      rc = oml_cpu_knn_search(&p);
  }
  oml_tensor_release(&self);
  oml_tensor_release(&qseq);
  oml_tensor_release(&gseq);
  oml_tensor_release(&q);
  oml_tensor_release(&g);
  if (rc)
    for (int i = 0; i < 3; i++)
      if (fresh[i]) oml_tensor_release(outputs[i]);
  return rc;
}
