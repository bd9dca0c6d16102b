/* ops/linalg.c — mm, addmm, bmm and matmul: checks, result shapes, and the
 * plumbing that hands BLAS views it can read without copies (OpenBLAS on the
 * CPU, cuBLAS on a device; core/blas_layout.h decides for both). */
#include "../core/blas_layout.h"
#include "../core/internal.h"
#include "../cpu/linalg.h"
#ifdef OML_WITH_CUDA
#include "../cuda/linalg.h"
#endif

#include <limits.h>
#include <stdio.h>

static int check_inputs(const oml_tensor *a, const oml_tensor *b) {
  if (oml_check_real(a, "the first input") || oml_check_real(b, "the second input")) return -1;
  if (oml_check_device(b, "the second input", a, "the first input")) return -1;
  if (a->dtype_ != b->dtype_)
    return oml_error("the inputs are %s and %s; convert one so that both have one dtype",
                     oml_dtype_name(a->dtype_), oml_dtype_name(b->dtype_));
  return 0;
}

static int mismatch(const oml_tensor *a, const oml_tensor *b) {
  char sa[OML_SHAPE_BUF], sb[OML_SHAPE_BUF];
  return oml_error("shapes %s and %s do not match", oml_shape_str(a, sa), oml_shape_str(b, sb));
}

static int check_ndim(const oml_tensor *a, const oml_tensor *b, int32_t ndim) {
  if (a->ndim_ == ndim && b->ndim_ == ndim) return 0;
  char sa[OML_SHAPE_BUF], sb[OML_SHAPE_BUF];
  return oml_error("expects %d-d tensors (got shapes %s and %s)", ndim, oml_shape_str(a, sa), oml_shape_str(b, sb));
}

/* BLAS counts rows and columns in an int. */
static int check_blas_sizes(int64_t m, int64_t n, int64_t k) {
  if (m > INT_MAX || n > INT_MAX || k > INT_MAX)
    return oml_error("matrices of %lld x %lld and %lld x %lld exceed BLAS's limit of %d rows or columns",
                     (long long)m, (long long)k, (long long)k, (long long)n, INT_MAX);
  return 0;
}

/* out[i] = alpha * a[i] @ b[i] + beta * out[i] on out's device (cpu/linalg.h's contract). */
static int gemm(const oml_tensor *a, const oml_tensor *b, oml_tensor *out, double alpha, double beta) {
#ifdef OML_WITH_CUDA
  if (out->device_ != OML_CPU) return oml_cuda_gemm(a, b, out, alpha, beta);
#endif
  oml_cpu_gemm(a, b, out, alpha, beta);
  return 0;
}

/* BLAS must not write memory it reads, even as the very same view (which
 * oml_may_overlap allows), so its inputs are kept apart from out by storage. */
static int shares(const oml_tensor *a, const oml_tensor *b) { return a->storage_ == b->storage_; }

static int same_view(const oml_tensor *a, const oml_tensor *b) {
  if (a->data_ != b->data_ || a->ndim_ != b->ndim_) return 0;
  for (int32_t d = 0; d < a->ndim_; d++)
    if (a->size_[d] != b->size_[d] || a->stride_[d] != b->stride_[d]) return 0;
  return 1;
}

/* out = alpha * a @ b + beta * c (c NULL: no c term), a and b readable by
 * BLAS, c broadcast to out. The product goes straight into out unless BLAS
 * cannot write out's layout or out shares memory with an input; then it goes
 * through a temporary. */
static int gemm_into(const oml_tensor *a, const oml_tensor *b, const oml_tensor *c, oml_tensor *out, double alpha,
                     double beta) {
  int use_c = c != NULL && beta != 0;
  int direct = oml_blas_writable(out) && !shares(out, a) && !shares(out, b) &&
               !(use_c && oml_may_overlap(c, out));
  oml_tensor work = oml_tensor_unset();
  int rc = direct ? oml_tensor_alias(out, &work)
                  : oml_tensor_empty(&work, out->ndim_, out->size_, out->dtype_, out->device_);
  if (rc == 0 && use_c && !same_view(&work, c)) rc = oml_copy(c, &work);
  if (rc == 0) rc = gemm(a, b, &work, alpha, use_c ? beta : 0);
  if (rc == 0 && !direct) rc = oml_copy(&work, out);
  oml_tensor_release(&work);
  return rc;
}

/* alpha * a @ b + beta * c for matrices a, b and a c broadcast to the result (or none). */
static int matrix_product(const oml_tensor *c, const oml_tensor *a, const oml_tensor *b, oml_tensor *out,
                          double beta, double alpha) {
  if (out == NULL) return oml_error("no output tensor");
  int64_t size[2] = {a->size_[0], b->size_[1]};
  if (check_blas_sizes(size[0], size[1], a->size_[1])) return -1;
  int fresh = out->storage_ == NULL;
  if (oml_out_prepare(out, 2, size, a->dtype_, a->device_)) return -1;
  oml_tensor ar = oml_tensor_unset(), br = oml_tensor_unset();
  int rc = oml_blas_operand(a, &ar);
  if (rc == 0) rc = oml_blas_operand(b, &br);
  if (rc == 0) rc = gemm_into(&ar, &br, c, out, alpha, beta);
  oml_tensor_release(&ar);
  oml_tensor_release(&br);
  if (rc && fresh) oml_tensor_release(out);
  return rc;
}

int oml_mm(const oml_tensor *a, const oml_tensor *b, oml_tensor *out) {
  if (check_inputs(a, b) || check_ndim(a, b, 2)) return -1;
  if (a->size_[1] != b->size_[0]) return mismatch(a, b);
  return matrix_product(NULL, a, b, out, 0, 1);
}

int oml_addmm(const oml_tensor *c, const oml_tensor *a, const oml_tensor *b, oml_tensor *out, double beta,
              double alpha) {
  if (oml_check_real(c, "the added tensor") || check_inputs(a, b) || check_ndim(a, b, 2)) return -1;
  if (oml_check_device(c, "the added tensor", a, "the first input")) return -1;
  if (c->dtype_ != a->dtype_)
    return oml_error("the added tensor is %s but the inputs are %s", oml_dtype_name(c->dtype_),
                     oml_dtype_name(a->dtype_));
  if (a->size_[1] != b->size_[0]) return mismatch(a, b);
  int64_t size[2] = {a->size_[0], b->size_[1]};
  oml_tensor probe = oml_tensor_unset();
  if (oml_tensor_expand(c, &probe, 2, size)) {
    char sc[OML_SHAPE_BUF], sr[OML_SHAPE_BUF];
    return oml_error("the added tensor of shape %s cannot be broadcast to the product's shape %s",
                     oml_shape_str(c, sc), oml_sizes_str(2, size, sr));
  }
  oml_tensor_release(&probe);
  return matrix_product(c, a, b, out, beta, alpha);
}

int oml_bmm(const oml_tensor *a, const oml_tensor *b, oml_tensor *out) {
  if (check_inputs(a, b) || check_ndim(a, b, 3)) return -1;
  if (a->size_[0] != b->size_[0] || a->size_[2] != b->size_[1]) return mismatch(a, b);
  if (out == NULL) return oml_error("no output tensor");
  int64_t size[3] = {a->size_[0], a->size_[1], b->size_[2]};
  if (check_blas_sizes(size[1], size[2], a->size_[2])) return -1;
  int fresh = out->storage_ == NULL;
  if (oml_out_prepare(out, 3, size, a->dtype_, a->device_)) return -1;
  oml_tensor ar = oml_tensor_unset(), br = oml_tensor_unset();
  int rc = oml_blas_operand(a, &ar);
  if (rc == 0) rc = oml_blas_operand(b, &br);
  if (rc == 0) rc = gemm_into(&ar, &br, NULL, out, 1, 0);
  oml_tensor_release(&ar);
  oml_tensor_release(&br);
  if (rc && fresh) oml_tensor_release(out);
  return rc;
}

/* ---- matmul ----------------------------------------------------------------
 * A 1-d a is a [1,k] matrix and a 1-d b a [k,1] one; the added dim is dropped
 * from the result. The dims before the last two broadcast. */

/* a @ b with no batch dims on b: a's batch and rows fold into one matrix
 * when views allow, so that one large GEMM replaces many small ones.
 * Returns 1 when it did the product (*rc its status), 0 when the views do not fold. */
static int folded(const oml_tensor *a2, const oml_tensor *b2, oml_tensor *full, int *rc) {
  int32_t nd = a2->ndim_;
  int64_t rows = 1, k = a2->size_[nd - 1], n = b2->size_[1];
  for (int32_t d = 0; d < nd - 1; d++) rows *= a2->size_[d];
  int64_t asize[2] = {rows, k}, osize[2] = {rows, n};
  oml_tensor af = oml_tensor_unset(), of = oml_tensor_unset();
  int ok = oml_tensor_view(a2, &af, 2, asize) == 0 && oml_tensor_view(full, &of, 2, osize) == 0;
  if (ok) {
    oml_tensor ar = oml_tensor_unset(), br = oml_tensor_unset();
    *rc = check_blas_sizes(rows, n, k);
    if (*rc == 0) *rc = oml_blas_operand(&af, &ar);
    if (*rc == 0) *rc = oml_blas_operand(b2, &br);
    if (*rc == 0) *rc = gemm_into(&ar, &br, NULL, &of, 1, 0);
    oml_tensor_release(&ar);
    oml_tensor_release(&br);
  }
  oml_tensor_release(&af);
  oml_tensor_release(&of);
  return ok;
}

/* The general case: copies only what BLAS cannot read, then broadcasts the batch. */
static int batched(const oml_tensor *a2, const oml_tensor *b2, oml_tensor *full) {
  int32_t nd = full->ndim_;
  int64_t asize[OML_MAX_DIMS], bsize[OML_MAX_DIMS];
  memcpy(asize, full->size_, sizeof asize);
  memcpy(bsize, full->size_, sizeof bsize);
  asize[nd - 1] = bsize[nd - 2] = a2->size_[a2->ndim_ - 1];
  oml_tensor ar = oml_tensor_unset(), br = oml_tensor_unset(), ae = oml_tensor_unset(), be = oml_tensor_unset();
  int rc = oml_blas_operand(a2, &ar);
  if (rc == 0) rc = oml_blas_operand(b2, &br);
  if (rc == 0) rc = oml_tensor_expand(&ar, &ae, nd, asize);
  if (rc == 0) rc = oml_tensor_expand(&br, &be, nd, bsize);
  if (rc == 0) rc = gemm_into(&ae, &be, NULL, full, 1, 0);
  oml_tensor_release(&ar);
  oml_tensor_release(&br);
  oml_tensor_release(&ae);
  oml_tensor_release(&be);
  return rc;
}

/* The broadcast batch dims of a2 and b2 (both >= 2-d) followed by m and n;
 * -1 when the batch dims or the inner sizes do not match. */
static int result_sizes(const oml_tensor *a2, const oml_tensor *b2, int32_t *ndim, int64_t *size) {
  int32_t na = a2->ndim_ - 2, nb = b2->ndim_ - 2, n = na > nb ? na : nb;
  if (a2->size_[na + 1] != b2->size_[nb]) return -1;
  for (int32_t i = 0; i < n; i++) { /* i counts batch dims from the right */
    int64_t sa = i < na ? a2->size_[na - 1 - i] : 1, sb = i < nb ? b2->size_[nb - 1 - i] : 1;
    if (sa != sb && sa != 1 && sb != 1) return -1;
    size[n - 1 - i] = sa == 1 ? sb : sa;
  }
  size[n] = a2->size_[na];
  size[n + 1] = b2->size_[nb + 1];
  *ndim = n + 2;
  return 0;
}

/* matmul on a2 and b2, the inputs as matrices (1-d ones given a dim). */
static int matmul_matrices(const oml_tensor *a, const oml_tensor *b, const oml_tensor *a2, const oml_tensor *b2,
                           oml_tensor *out) {
  int32_t nd, nf = 0;
  int64_t size[OML_MAX_DIMS], final[OML_MAX_DIMS];
  if (result_sizes(a2, b2, &nd, size)) return mismatch(a, b);
  if (check_blas_sizes(size[nd - 2], size[nd - 1], a2->size_[a2->ndim_ - 1])) return -1;
  for (int32_t d = 0; d < nd; d++) /* the result drops the dims added for 1-d inputs */
    if (!(d == nd - 2 && a->ndim_ == 1) && !(d == nd - 1 && b->ndim_ == 1)) final[nf++] = size[d];
  int fresh = out->storage_ == NULL;
  if (oml_out_prepare(out, nf, final, a->dtype_, a->device_)) return -1;
  oml_tensor full = oml_tensor_unset(); /* out with the added dims put back */
  int rc = oml_tensor_alias(out, &full);
  if (rc == 0 && a->ndim_ == 1) rc = oml_tensor_unsqueeze(&full, &full, nd - 2);
  if (rc == 0 && b->ndim_ == 1) rc = oml_tensor_unsqueeze(&full, &full, nd - 1);
  if (rc == 0 && !(b2->ndim_ == 2 && a2->ndim_ > 2 && folded(a2, b2, &full, &rc))) rc = batched(a2, b2, &full);
  oml_tensor_release(&full);
  if (rc && fresh) oml_tensor_release(out);
  return rc;
}

int oml_matmul(const oml_tensor *a, const oml_tensor *b, oml_tensor *out) {
  if (check_inputs(a, b)) return -1;
  if (a->ndim_ == 0 || b->ndim_ == 0) {
    char sa[OML_SHAPE_BUF], sb[OML_SHAPE_BUF];
    return oml_error("both inputs need at least 1 dim (got shapes %s and %s)", oml_shape_str(a, sa),
                     oml_shape_str(b, sb));
  }
  if (out == NULL) return oml_error("no output tensor");
  oml_tensor a2 = oml_tensor_unset(), b2 = oml_tensor_unset();
  int rc = a->ndim_ == 1 ? oml_tensor_unsqueeze(a, &a2, 0) : oml_tensor_alias(a, &a2);
  if (rc == 0) rc = b->ndim_ == 1 ? oml_tensor_unsqueeze(b, &b2, 1) : oml_tensor_alias(b, &b2);
  if (rc == 0) rc = matmul_matrices(a, b, &a2, &b2, out);
  oml_tensor_release(&a2);
  oml_tensor_release(&b2);
  return rc;
}
