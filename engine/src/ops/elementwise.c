/* ops/elementwise.c — unary, binary, clamp and where: checks, result dtype
 * (PyTorch's promotion), broadcasting, then the CPU or CUDA kernels (run()'s
 * temporaries and copies work on any device; the kernels are chosen by
 * out's device). */
#include "../core/internal.h"
#include "../cpu/elementwise.h"
#ifdef OML_WITH_CUDA
#include "../cuda/elementwise.h"
#endif

#include <math.h>

static int is_comparison(int32_t op) { return op >= OML_EQ && op <= OML_LOGICAL_OR; }

/* A temporary of t in dtype: an alias when it already has it, else a copy. */
static int as_dtype(const oml_tensor *t, int32_t dtype, oml_tensor *tmp) {
  if (t->dtype_ == dtype) return oml_tensor_alias(t, tmp);
  return oml_tensor_to(t, tmp, dtype, t->device_);
}

/* PyTorch refuses to write a float result into an integer output, or a
 * non-bool result into a bool one. */
static int check_cast(int32_t result, const oml_tensor *out) {
  if (out->storage_ == NULL || out->dtype_ == result) return 0;
  if ((oml_is_floating(result) && !oml_is_floating(out->dtype_)) || (out->dtype_ == OML_BOOL && result != OML_BOOL))
    return oml_error("a %s result cannot be written into a %s output", oml_dtype_name(result),
                     oml_dtype_name(out->dtype_));
  return 0;
}

typedef int (*kernel_fn)(const oml_tensor *const *ins, oml_tensor *out, const void *arg);

/* Gives out the result (allocating it as dtype `result` when unset) and runs
 * the kernel on the nin inputs, whose output dtype is kout: straight into out
 * when the dtypes agree, else through a temporary and a converting copy. An
 * input that shares memory with out (a:add_(a:t())) is read from a copy. A
 * kernel that may fail midway (may_fail: integer pow and fmod) writes a
 * caller's out through the temporary too, so that a failure leaves it as it was. */
static int run(kernel_fn kernel, int32_t nin, const oml_tensor *const *ins, oml_tensor *out, const void *arg,
               int32_t ndim, const int64_t *size, int32_t kout, int32_t result, int32_t device, int may_fail) {
  if (out == NULL) return oml_error("no output tensor");
  if (check_cast(result, out)) return -1;
  int fresh = out->storage_ == NULL;
  if (oml_out_prepare(out, ndim, size, fresh ? result : out->dtype_, device)) return -1;
  oml_tensor copies[3] = {oml_tensor_unset(), oml_tensor_unset(), oml_tensor_unset()};
  const oml_tensor *safe[3];
  int rc = 0;
  for (int32_t i = 0; i < nin && rc == 0; i++) {
    safe[i] = ins[i];
    if (oml_may_overlap(ins[i], out)) {
      rc = oml_tensor_clone(ins[i], &copies[i]);
      safe[i] = &copies[i];
    }
  }
  if (rc == 0 && out->dtype_ == kout && (fresh || !may_fail)) {
    rc = kernel(safe, out, arg);
  } else if (rc == 0) {
    oml_tensor tmp = oml_tensor_unset();
    rc = oml_tensor_empty(&tmp, ndim, size, kout, device);
    if (rc == 0) rc = kernel(safe, &tmp, arg);
    if (rc == 0) rc = oml_copy(&tmp, out);
    oml_tensor_release(&tmp);
  }
  for (int32_t i = 0; i < nin; i++) oml_tensor_release(&copies[i]);
  if (rc && fresh) oml_tensor_release(out);
  return rc;
}

/* ---- unary -------------------------------------------------------------- */

static int unary_kernel(const oml_tensor *const *ins, oml_tensor *out, const void *arg) {
#ifdef OML_WITH_CUDA
  if (out->device_ != OML_CPU) return oml_cuda_unary(ins[0], out, *(const int32_t *)arg);
#endif
  return oml_cpu_unary(ins[0], out, *(const int32_t *)arg);
}

int oml_unary(const oml_tensor *a, oml_tensor *out, int32_t op) {
  if (oml_check_math(a, "the input")) return -1;
  if (op < 0 || op >= OML_NUM_UNARY) return oml_error("unknown unary op %d", op);
  int keeps_integers = op == OML_NEG || op == OML_ABS || op == OML_SIGN || op == OML_SQUARE || op == OML_FLOOR ||
                       op == OML_CEIL || op == OML_ROUND || op == OML_TRUNC;
  if (a->dtype_ == OML_BOOL && (op == OML_NEG || op == OML_SIGN || op == OML_SQUARE))
    return oml_error("this op is not defined for bool tensors");
  int32_t k = a->dtype_, kout, result;
  if (op == OML_LOGICAL_NOT) {
    kout = result = OML_BOOL;
  } else {
    if (!oml_is_floating(k) && !keeps_integers) k = OML_FLOAT32;
    kout = result = k;
  }
  oml_tensor ak = oml_tensor_unset();
  if (as_dtype(a, k, &ak)) return -1;
  const oml_tensor *ins[1] = {&ak};
  int rc = run(unary_kernel, 1, ins, out, &op, a->ndim_, a->size_, kout, result, a->device_, 0);
  oml_tensor_release(&ak);
  return rc;
}

/* ---- binary ------------------------------------------------------------- */

/* The compute dtype k (both inputs are converted to it) and the result
 * dtype of a binary op on dtypes da, db. */
static int binary_dtypes(int32_t op, int32_t da, int32_t db, int32_t *k, int32_t *result) {
  *k = oml_promote(da, db);
  if (is_comparison(op)) {
    *result = OML_BOOL;
    return 0;
  }
  if (op == OML_DIV && !oml_is_floating(*k)) *k = OML_FLOAT32;
  if (*k == OML_BOOL) {
    if (op == OML_SUB) return oml_error("subtraction is not defined for bool tensors");
    *k = OML_UINT8; /* computed on 0/1 bytes, turned back into bool */
    *result = OML_BOOL;
    return 0;
  }
  *result = *k;
  return 0;
}

static int binary_kernel(const oml_tensor *const *ins, oml_tensor *out, const void *arg) {
#ifdef OML_WITH_CUDA
  if (out->device_ != OML_CPU) return oml_cuda_binary(ins[0], ins[1], out, *(const int32_t *)arg);
#endif
  return oml_cpu_binary(ins[0], ins[1], out, *(const int32_t *)arg);
}

/* a and b already checked */
static int binary(const oml_tensor *a, const oml_tensor *b, oml_tensor *out, int32_t op) {
  int32_t k, result, ndim;
  if (binary_dtypes(op, a->dtype_, b->dtype_, &k, &result)) return -1;
  const oml_tensor *ts[2] = {a, b};
  int64_t size[OML_MAX_DIMS];
  if (oml_broadcast_shapes(2, ts, &ndim, size)) return -1;
  oml_tensor ac = oml_tensor_unset(), bc = oml_tensor_unset(), ae = oml_tensor_unset(), be = oml_tensor_unset();
  int rc = as_dtype(a, k, &ac);
  if (rc == 0) rc = as_dtype(b, k, &bc);
  if (rc == 0) rc = oml_tensor_expand(&ac, &ae, ndim, size);
  if (rc == 0) rc = oml_tensor_expand(&bc, &be, ndim, size);
  if (rc == 0) {
    const oml_tensor *ins[2] = {&ae, &be};
    int may_fail = !oml_is_floating(k) && (op == OML_POW || op == OML_FMOD);
    rc = run(binary_kernel, 2, ins, out, &op, ndim, size, is_comparison(op) ? OML_BOOL : k, result, a->device_,
             may_fail);
  }
  oml_tensor_release(&ac);
  oml_tensor_release(&bc);
  oml_tensor_release(&ae);
  oml_tensor_release(&be);
  return rc;
}

int oml_binary(const oml_tensor *a, const oml_tensor *b, oml_tensor *out, int32_t op) {
  if (oml_check_math(a, "the first input") || oml_check_math(b, "the second input")) return -1;
  if (oml_check_same_device(a, b)) return -1;
  if (op < 0 || op >= OML_NUM_BINARY) return oml_error("unknown binary op %d", op);
  return binary(a, b, out, op);
}

/* A Lua number is a "weak" scalar, as a Python number is to PyTorch: it takes
 * the tensor's dtype, except that a fractional number makes an integer or
 * bool tensor's result float32, and an integer makes a bool tensor's
 * arithmetic int64. */
int oml_binary_scalar(const oml_tensor *a, oml_tensor *out, int32_t op, double s, int32_t scalar_first) {
  if (oml_check_math(a, "the input")) return -1;
  if (op < 0 || op >= OML_NUM_BINARY) return oml_error("unknown binary op %d", op);
  int integral = s == floor(s) && fabs(s) < 9223372036854775808.0; /* an int64 holds it */
  int32_t sdtype = a->dtype_;
  if (integral && (a->dtype_ == OML_UINT8 || a->dtype_ == OML_INT32)) {
    double lo = a->dtype_ == OML_UINT8 ? 0 : -2147483648.0, hi = a->dtype_ == OML_UINT8 ? 255 : 2147483647.0;
    if (s < lo || s > hi) return oml_error("%.17g is out of range for %s", s, oml_dtype_name(a->dtype_));
  }
  if (!oml_is_floating(a->dtype_) && !integral) sdtype = OML_FLOAT32;
  else if (a->dtype_ == OML_BOOL && !((s == 0 || s == 1) && is_comparison(op))) sdtype = OML_INT64;
  if (a->device_ != OML_CPU) { /* a 0-d device tensor, filled on the device (no wait for the host) */
    oml_tensor st = oml_tensor_unset();
    int rc = oml_tensor_empty(&st, 0, NULL, sdtype, a->device_);
    if (rc == 0) rc = oml_fill(&st, s);
    if (rc == 0) rc = scalar_first ? binary(&st, a, out, op) : binary(a, &st, out, op);
    oml_tensor_release(&st);
    return rc;
  }
  /* the scalar as a 0-d tensor over a stack buffer; its storage is never freed */
  uint64_t value = 0;
  oml_storage storage = {(char *)&value, sizeof value, OML_CPU, 1};
  oml_tensor st = oml_tensor_unset();
  st.data_ = (char *)&value;
  st.storage_ = &storage;
  st.numel_ = 1;
  st.dtype_ = sdtype;
  st.device_ = OML_CPU;
  oml_store((char *)&value, sdtype, s);
  return scalar_first ? binary(&st, a, out, op) : binary(a, &st, out, op);
}

/* ---- clamp and where ---------------------------------------------------- */

static int clamp_kernel(const oml_tensor *const *ins, oml_tensor *out, const void *arg) {
  const double *bounds = arg;
#ifdef OML_WITH_CUDA
  if (out->device_ != OML_CPU) return oml_cuda_clamp(ins[0], out, bounds[0], bounds[1]);
#endif
  oml_cpu_clamp(ins[0], out, bounds[0], bounds[1]);
  return 0;
}

int oml_clamp(const oml_tensor *a, oml_tensor *out, double low, double high) {
  if (oml_check_math(a, "the input")) return -1;
  if (a->dtype_ == OML_BOOL) return oml_error("clamp is not defined for bool tensors");
  if (low != low || high != high) return oml_error("clamp bounds must not be NaN");
  if (low > high) return oml_error("the lower bound %g is above the upper bound %g", low, high);
  int32_t k = a->dtype_;
  double bounds[2] = {low, high};
  if (!oml_is_floating(k)) { /* bounds inside the integer range, rounded inwards */
    double lo = k == OML_UINT8 ? 0 : (k == OML_INT32 ? -2147483648.0 : -9223372036854775808.0);
    double hi = k == OML_UINT8 ? 255 : (k == OML_INT32 ? 2147483647.0 : 9223372036854774784.0);
    bounds[0] = fmin(fmax(ceil(low), lo), hi);
    bounds[1] = fmax(fmin(floor(high), hi), lo);
  }
  const oml_tensor *ins[1] = {a};
  return run(clamp_kernel, 1, ins, out, bounds, a->ndim_, a->size_, k, k, a->device_, 0);
}

static int where_kernel(const oml_tensor *const *ins, oml_tensor *out, const void *arg) {
  (void)arg;
#ifdef OML_WITH_CUDA
  if (out->device_ != OML_CPU) return oml_cuda_where(ins[0], ins[1], ins[2], out);
#endif
  oml_cpu_where(ins[0], ins[1], ins[2], out);
  return 0;
}

int oml_where(const oml_tensor *cond, const oml_tensor *a, const oml_tensor *b, oml_tensor *out) {
  if (oml_check_set(cond, "the condition") || oml_check_math(a, "the first input") ||
      oml_check_math(b, "the second input") || oml_check_same_device(cond, a) || oml_check_same_device(a, b))
    return -1;
  if (cond->dtype_ != OML_BOOL)
    return oml_error("the condition must be a bool tensor (got %s)", oml_dtype_name(cond->dtype_));
  const oml_tensor *ts[3] = {cond, a, b};
  int32_t ndim;
  int64_t size[OML_MAX_DIMS];
  if (oml_broadcast_shapes(3, ts, &ndim, size)) return -1;
  int32_t k = oml_promote(a->dtype_, b->dtype_);
  oml_tensor ac = oml_tensor_unset(), bc = oml_tensor_unset(), ce = oml_tensor_unset();
  oml_tensor ae = oml_tensor_unset(), be = oml_tensor_unset();
  int rc = as_dtype(a, k, &ac);
  if (rc == 0) rc = as_dtype(b, k, &bc);
  if (rc == 0) rc = oml_tensor_expand(cond, &ce, ndim, size);
  if (rc == 0) rc = oml_tensor_expand(&ac, &ae, ndim, size);
  if (rc == 0) rc = oml_tensor_expand(&bc, &be, ndim, size);
  if (rc == 0) {
    const oml_tensor *ins[3] = {&ce, &ae, &be};
    rc = run(where_kernel, 3, ins, out, NULL, ndim, size, k, k, a->device_, 0);
  }
  oml_tensor_release(&ac);
  oml_tensor_release(&bc);
  oml_tensor_release(&ce);
  oml_tensor_release(&ae);
  oml_tensor_release(&be);
  return rc;
}
