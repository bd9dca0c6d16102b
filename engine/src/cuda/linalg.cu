/* cuda/linalg.cu — batched GEMM through cuBLAS, each matrix read where it lies
 * (core/blas_layout.h): cuBLAS counts column-major, so a product written into
 * a row-major output is computed as its transpose, b^T a^T, which swaps the
 * operands but keeps each one's transpose flag as the CPU picks it. Batch
 * dims that step evenly merge into one strided-batched call; the rest loop
 * on the host. */
#include "cublas.h"
#include "cuda_common.cuh"
#include "linalg.h"

#include "../core/blas_layout.h"

#include <mutex>

/* ---- handles and operands ------------------------------------------------- */

#define MAX_DEVICES 64

cublasHandle_t oml_cuda_cublas(int32_t device) {
  static cublasHandle_t handles[MAX_DEVICES];
  static std::mutex lock;
  if (oml_cuda_use(device)) return NULL;
  if (device >= MAX_DEVICES) {
    oml_error("cuda:%d: cuBLAS handles are kept for at most %d devices", device, MAX_DEVICES);
    return NULL;
  }
  if (oml_cublas_load()) return NULL;
  std::lock_guard<std::mutex> hold(lock);
  if (handles[device] == NULL) {
    cublasHandle_t h = NULL;
    if (oml_cuda_cublas_ok(oml_cublas->cublasCreate(&h), "creating the cuBLAS handle")) return NULL;
    if (oml_cuda_cublas_ok(oml_cublas->cublasSetStream(h, oml_cuda_stream()), "binding cuBLAS to the stream")) {
      oml_cublas->cublasDestroy(h);
      return NULL;
    }
    handles[device] = h;
  }
  return handles[device];
}

int oml_cuda_cublas_ok(cublasStatus_t st, const char *what) {
  if (st == CUBLAS_STATUS_SUCCESS) return 0;
  return oml_error("%s: cuBLAS %s", what, oml_cublas->cublasGetStatusName(st));
}

int oml_cuda_round_operand(const oml_tensor *src, int32_t math, oml_tensor *out) {
  if (src->dtype_ != OML_FLOAT32 || (math != OML_MATH_BFLOAT16 && math != OML_MATH_FLOAT16))
    return oml_error("only float32 operands are rounded, and only for the bfloat16 and float16 math modes");
  oml_tensor base = oml_tensor_unset(), rounded = oml_tensor_unset();
  int rc = oml_tensor_alias(src, &base);
  for (int32_t d = 0; rc == 0 && d < src->ndim_; d++) /* one copy of each expanded dim */
    if (src->stride_[d] == 0 && src->size_[d] > 1) rc = oml_tensor_narrow(&base, &base, d, 0, 1);
  if (rc == 0) rc = oml_tensor_empty(&rounded, base.ndim_, base.size_, math == OML_MATH_BFLOAT16 ? OML_BFLOAT16 : OML_FLOAT16, src->device_);
  if (rc == 0 && math == OML_MATH_BFLOAT16)
    rc = oml_cuda_map1<uint16_t, float>(&base, &rounded, [] __device__(float x) { return oml_float_to_bfloat16(x); });
  else if (rc == 0)
    rc = oml_cuda_map1<uint16_t, float>(&base, &rounded, [] __device__(float x) { return oml_float_to_half(x); });
  if (rc == 0) rc = oml_tensor_expand(&rounded, out, src->ndim_, src->size_);
  oml_tensor_release(&base);
  oml_tensor_release(&rounded);
  return rc;
}

/* ---- the product ---------------------------------------------------------- */

/* The cuBLAS types of one product. */
struct gemm_types {
  cudaDataType ab, c;
  cublasComputeType_t compute;
};

static gemm_types types_for(int32_t dtype, int32_t math) {
  if (dtype == OML_FLOAT64) return {CUDA_R_64F, CUDA_R_64F, CUBLAS_COMPUTE_64F};
  switch (math) {
  case OML_MATH_TF32: return {CUDA_R_32F, CUDA_R_32F, CUBLAS_COMPUTE_32F_FAST_TF32};
  case OML_MATH_BFLOAT16: return {CUDA_R_16BF, CUDA_R_32F, CUBLAS_COMPUTE_32F};
  case OML_MATH_FLOAT16: return {CUDA_R_16F, CUDA_R_32F, CUBLAS_COMPUTE_32F};
  default: return {CUDA_R_32F, CUDA_R_32F, CUBLAS_COMPUTE_32F};
  }
}

/* The batch dims of a, b and out after merging neighbours that step evenly
 * in all three (size-1 dims dropped): n dims, outermost first. */
struct batch_dims {
  int32_t n;
  int64_t size[OML_MAX_DIMS], sa[OML_MAX_DIMS], sb[OML_MAX_DIMS], so[OML_MAX_DIMS];
};

static batch_dims merge_batch(const oml_tensor *a, const oml_tensor *b, const oml_tensor *out) {
  batch_dims bd;
  bd.n = 0;
  for (int32_t d = 0; d < out->ndim_ - 2; d++) {
    int64_t s = out->size_[d];
    if (s == 1) continue;
    int32_t i = bd.n - 1;
    if (i >= 0 && bd.sa[i] == a->stride_[d] * s && bd.sb[i] == b->stride_[d] * s && bd.so[i] == out->stride_[d] * s) {
      bd.size[i] *= s;
      bd.sa[i] = a->stride_[d];
      bd.sb[i] = b->stride_[d];
      bd.so[i] = out->stride_[d];
      continue;
    }
    bd.size[bd.n] = s;
    bd.sa[bd.n] = a->stride_[d];
    bd.sb[bd.n] = b->stride_[d];
    bd.so[bd.n] = out->stride_[d];
    bd.n++;
  }
  return bd;
}

/* cuBLAS's batch count is an int; batches beyond go in further calls. */
#define MAX_BATCH 65535

/* The products of matrices a, b into out (readable/writable layouts, a and b
 * already in the types' element type), batch dims as bd. */
static int gemm_batches(cublasHandle_t h, const oml_tensor *a, const oml_tensor *b, oml_tensor *out,
                        const batch_dims &bd, gemm_types ty, const void *alpha, const void *beta) {
  int32_t nd = out->ndim_;
  oml_blas_layout la, lb, lo;
  oml_blas_tensor_layout(a, &la);
  oml_blas_tensor_layout(b, &lb);
  oml_blas_tensor_layout(out, &lo);
  int m = (int)out->size_[nd - 2], n = (int)out->size_[nd - 1], k = (int)a->size_[nd - 1];
  /* In the output's order, an operand stored the other way round is transposed. */
  cublasOperation_t ta = la.col_major == lo.col_major ? CUBLAS_OP_N : CUBLAS_OP_T;
  cublasOperation_t tb = lb.col_major == lo.col_major ? CUBLAS_OP_N : CUBLAS_OP_T;
  int64_t ea = oml_dtype_size(a->dtype_), eb = oml_dtype_size(b->dtype_), eo = oml_dtype_size(out->dtype_);
  /* the innermost merged dim goes to cuBLAS's batch, the others to this loop */
  int64_t inner = bd.n > 0 ? bd.size[bd.n - 1] : 1, outer = 1;
  int64_t isa = bd.n > 0 ? bd.sa[bd.n - 1] : 0, isb = bd.n > 0 ? bd.sb[bd.n - 1] : 0;
  int64_t iso = bd.n > 0 ? bd.so[bd.n - 1] : 0;
  for (int32_t i = 0; i + 1 < bd.n; i++) outer *= bd.size[i];
  for (int64_t o = 0; o < outer; o++) {
    int64_t oa = 0, ob = 0, oo = 0, rest = o;
    for (int32_t i = bd.n - 2; i >= 0; i--) {
      int64_t idx = rest % bd.size[i];
      rest /= bd.size[i];
      oa += idx * bd.sa[i];
      ob += idx * bd.sb[i];
      oo += idx * bd.so[i];
    }
    for (int64_t i0 = 0; i0 < inner; i0 += MAX_BATCH) {
      int count = (int)(inner - i0 < MAX_BATCH ? inner - i0 : MAX_BATCH);
      const char *pa = a->data_ + (oa + i0 * isa) * ea, *pb = b->data_ + (ob + i0 * isb) * eb;
      char *po = out->data_ + (oo + i0 * iso) * eo;
      cublasStatus_t st;
      if (lo.col_major)
        st = oml_cublas->cublasGemmStridedBatchedEx(h, ta, tb, m, n, k, alpha, pa, ty.ab, (int)la.ld, isa, pb, ty.ab, (int)lb.ld,
                                        isb, beta, po, ty.c, (int)lo.ld, iso, count, ty.compute, CUBLAS_GEMM_DEFAULT);
      else /* out^T = b^T a^T */
        st = oml_cublas->cublasGemmStridedBatchedEx(h, tb, ta, n, m, k, alpha, pb, ty.ab, (int)lb.ld, isb, pa, ty.ab, (int)la.ld,
                                        isa, beta, po, ty.c, (int)lo.ld, iso, count, ty.compute, CUBLAS_GEMM_DEFAULT);
      if (oml_cuda_cublas_ok(st, "a matrix product")) return -1;
    }
  }
  return 0;
}

/* out *= beta (0 when beta is 0, NaN too): the product of an empty inner dim. */
template <typename T>
static int scale_out(oml_tensor *out, double beta) {
  T bt = (T)beta;
  return oml_cuda_map1<T, T>(out, out, [bt] __device__(T x) { return bt == 0 ? T(0) : bt * x; });
}

extern "C" int oml_cuda_gemm_math(const oml_tensor *a, const oml_tensor *b, oml_tensor *out, double alpha,
                                  double beta, int32_t math) {
  int32_t nd = out->ndim_;
  if (out->numel_ == 0) return 0;
  if (a->size_[nd - 1] == 0)
    return out->dtype_ == OML_FLOAT32 ? scale_out<float>(out, beta) : scale_out<double>(out, beta);
  cublasHandle_t h = oml_cuda_cublas(out->device_);
  if (h == NULL) return -1;
  batch_dims bd = merge_batch(a, b, out);
  if (out->dtype_ == OML_FLOAT64)
    return gemm_batches(h, a, b, out, bd, types_for(OML_FLOAT64, OML_MATH_FLOAT32), &alpha, &beta);
  float fa = (float)alpha, fb = (float)beta;
  if (math != OML_MATH_BFLOAT16 && math != OML_MATH_FLOAT16)
    return gemm_batches(h, a, b, out, bd, types_for(OML_FLOAT32, math), &fa, &fb);
  oml_tensor ar = oml_tensor_unset(), br = oml_tensor_unset();
  int rc = oml_cuda_round_operand(a, math, &ar);
  if (rc == 0) rc = oml_cuda_round_operand(b, math, &br);
  if (rc == 0) rc = gemm_batches(h, &ar, &br, out, merge_batch(&ar, &br, out), types_for(OML_FLOAT32, math), &fa, &fb);
  oml_tensor_release(&ar);
  oml_tensor_release(&br);
  return rc;
}

extern "C" int oml_cuda_gemm(const oml_tensor *a, const oml_tensor *b, oml_tensor *out, double alpha, double beta) {
  return oml_cuda_gemm_math(a, b, out, alpha, beta, oml_cuda_get_math());
}
