/* ops/random.c — the random fills: argument checks, the range of counter
 * blocks each fill reserves from its generator, then the CPU or CUDA
 * kernels, which give the same numbers for the same generator state. */
#include "../core/internal.h"
#include "../core/philox.h"
#include "../cpu/random.h"
#ifdef OML_WITH_CUDA
#include "../cuda/random.h"
#endif

#include <math.h>

/* Reserves the counter blocks of a fill of n elements, per to a block, and
 * returns the first. Atomic: fills from several threads never share blocks. */
static uint64_t reserve(oml_generator *g, int64_t n, int per) {
  uint64_t nblocks = (uint64_t)((n + per - 1) / per);
  return __atomic_fetch_add(&g->offset_, nblocks, __ATOMIC_RELAXED);
}

enum { UNIFORM, NORMAL, RANDINT, BERNOULLI };

typedef struct draw {
  int32_t kind;
  double a, b;     /* uniform: low, high; normal: mean, std; bernoulli: p */
  int64_t low;     /* randint: [low, low + range) */
  uint64_t range;
} draw;

static int per_block(const draw *d, int32_t dtype) {
  int f32 = dtype == OML_FLOAT32;
  switch (d->kind) {
  case UNIFORM: return f32 ? OML_UNIFORM32_PER_BLOCK : OML_UNIFORM64_PER_BLOCK;
  case NORMAL: return f32 ? OML_NORMAL32_PER_BLOCK : OML_NORMAL64_PER_BLOCK;
  case RANDINT: return OML_RANDINT_PER_BLOCK;
  default: return OML_BERNOULLI_PER_BLOCK;
  }
}

static int run_kernel(oml_tensor *t, const draw *d, uint64_t seed, uint64_t offset) {
#ifdef OML_WITH_CUDA
  if (t->device_ != OML_CPU) {
    switch (d->kind) {
    case UNIFORM: return oml_cuda_uniform(t, seed, offset, d->a, d->b);
    case NORMAL: return oml_cuda_normal(t, seed, offset, d->a, d->b);
    case RANDINT: return oml_cuda_randint(t, seed, offset, d->low, d->range);
    default: return oml_cuda_bernoulli(t, seed, offset, d->a);
    }
  }
#endif
  switch (d->kind) {
  case UNIFORM: oml_cpu_uniform(t, seed, offset, d->a, d->b); break;
  case NORMAL: oml_cpu_normal(t, seed, offset, d->a, d->b); break;
  case RANDINT: oml_cpu_randint(t, seed, offset, d->low, d->range); break;
  default: oml_cpu_bernoulli(t, seed, offset, d->a); break;
  }
  return 0;
}

/* Fills t with d: straight into t when it is contiguous, else into a
 * contiguous temporary copied into t, so that element i (in row-major
 * order) gets the same value either way. */
static int fill(oml_tensor *t, oml_generator *g, const draw *d) {
  if (oml_check_writable(t, "the tensor")) return -1;
  if (g == NULL) g = oml_default_generator();
  uint64_t seed = g->seed_, offset = reserve(g, t->numel_, per_block(d, t->dtype_));
  if (oml_tensor_is_contiguous(t)) return run_kernel(t, d, seed, offset);
  oml_tensor tmp = oml_tensor_unset();
  if (oml_tensor_empty(&tmp, t->ndim_, t->size_, t->dtype_, t->device_)) return -1;
  int rc = run_kernel(&tmp, d, seed, offset);
  if (rc == 0) rc = oml_copy(&tmp, t);
  oml_tensor_release(&tmp);
  return rc;
}

int oml_rand(oml_tensor *t, oml_generator *g, double low, double high) {
  if (oml_check_real(t, "the tensor")) return -1;
  if (!(low < high) || !isfinite(high - low))
    return oml_error("the range [%g, %g) must be finite and non-empty", low, high);
  draw d = {UNIFORM, low, high, 0, 0};
  return fill(t, g, &d);
}

int oml_randn(oml_tensor *t, oml_generator *g, double mean, double std) {
  if (oml_check_real(t, "the tensor")) return -1;
  if (!isfinite(mean)) return oml_error("mean must be finite (got %g)", mean);
  if (!(std >= 0) || !isfinite(std)) return oml_error("std must be finite and >= 0 (got %g)", std);
  draw d = {NORMAL, mean, std, 0, 0};
  return fill(t, g, &d);
}

/* The integers a dtype holds exactly. */
static void exact_integers(int32_t dtype, int64_t *lo, int64_t *hi) {
  switch (dtype) {
  case OML_BOOL: *lo = 0, *hi = 1; break;
  case OML_UINT8: *lo = 0, *hi = 255; break;
  case OML_INT32: *lo = INT32_MIN, *hi = INT32_MAX; break;
  case OML_FLOAT32: *lo = -(INT64_C(1) << 24), *hi = INT64_C(1) << 24; break;
  case OML_FLOAT64: *lo = -(INT64_C(1) << 53), *hi = INT64_C(1) << 53; break;
  default: *lo = INT64_MIN, *hi = INT64_MAX; break;
  }
}

int oml_randint(oml_tensor *t, oml_generator *g, int64_t low, int64_t high) {
  if (oml_check_math(t, "the tensor")) return -1;
  if (low >= high) return oml_error("the range [%lld, %lld) is empty", (long long)low, (long long)high);
  int64_t lo, hi;
  exact_integers(t->dtype_, &lo, &hi);
  if (low < lo || high - 1 > hi)
    return oml_error("the range [%lld, %lld) does not fit %s", (long long)low, (long long)high,
                     oml_dtype_name(t->dtype_));
  draw d = {RANDINT, 0, 0, low, (uint64_t)high - (uint64_t)low};
  return fill(t, g, &d);
}

int oml_bernoulli(oml_tensor *t, oml_generator *g, double p) {
  if (oml_check_math(t, "the tensor")) return -1;
  if (!(p >= 0 && p <= 1)) return oml_error("p must be in [0, 1] (got %g)", p);
  draw d = {BERNOULLI, p, 0, 0, 0};
  return fill(t, g, &d);
}

/* Fisher-Yates is sequential: a device out gets the permutation drawn on the
 * CPU and copied over. */
int oml_randperm(oml_tensor *out, oml_generator *g, int64_t n, int32_t dtype) {
  if (out == NULL) return oml_error("no output tensor");
  if (dtype != OML_INT32 && dtype != OML_INT64 && dtype != OML_FLOAT32 && dtype != OML_FLOAT64)
    return oml_error("a permutation is int32, int64, float32 or float64 (got %s)", oml_dtype_name(dtype));
  if (n < 0) return oml_error("n must be >= 0 (got %lld)", (long long)n);
  int64_t lo, hi;
  exact_integers(dtype, &lo, &hi);
  if (n > hi) return oml_error("n = %lld does not fit %s", (long long)n, oml_dtype_name(dtype));
  int fresh = out->storage_ == NULL;
  if (oml_out_prepare(out, 1, &n, dtype, fresh ? OML_CPU : out->device_)) return -1;
  if (g == NULL) g = oml_default_generator();
  uint64_t seed = g->seed_, offset = reserve(g, n, 1);
  if (dtype == OML_INT64 && out->device_ == OML_CPU && oml_tensor_is_contiguous(out)) {
    oml_cpu_randperm((int64_t *)out->data_, n, seed, offset);
    return 0;
  }
  oml_tensor perm = oml_tensor_unset();
  int rc = oml_tensor_empty(&perm, 1, &n, OML_INT64, OML_CPU);
  if (rc == 0) {
    oml_cpu_randperm((int64_t *)perm.data_, n, seed, offset);
    rc = oml_copy(&perm, out);
  }
  oml_tensor_release(&perm);
  if (rc && fresh) oml_tensor_release(out);
  return rc;
}
