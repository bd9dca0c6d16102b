/* cuda/reduce.cu — reductions, arg-extremes and cumulative sums and products
 * on the device.
 *
 * A reduction reads its input as a matrix [outputs, R]: the kept dims first,
 * then the reduced dims, each group in its own order, through a permuted
 * oml_geom (no copy). A group of threads (1, 32 or 256, by row length) folds
 * each output's row into an accumulator of the CPU's type: double for
 * floating inputs, wrapping int64 for integers and counts, (value, index)
 * pairs for arg-extremes; the group's accumulators are merged through shared
 * memory. Long rows of few outputs (full reductions) are cut into chunks
 * folded by different blocks. A second kernel merges each output's chunks
 * in order and turns the accumulator into the result (the mean's division,
 * logsumexp's log, ...), so every fold is two launches.
 */
#include "reduce.h"
#include "cuda_common.cuh"

#include "../core/reduce_math.h"

#include <stdlib.h>
#include <type_traits>

#define CHUNK 8192          /* reduced elements per chunk when rows are split */
#define MAX_CHUNKS 1024
#define FEW_OUTPUTS 16384   /* with fewer outputs than this, long rows are split */
#define MAX_BLOCKS (65535 * 8)

/* ---- the input as [outputs, R] ------------------------------------------ */

struct rows {
  oml_geom g;           /* kept dims, then reduced dims */
  int64_t nout, R;
  int columns;          /* the innermost kept dim steps through memory faster than the reduced one */
};

static rows rows_of(const oml_tensor *a, uint32_t mask) {
  rows r;
  memset(&r, 0, sizeof r);
  r.nout = r.R = 1;
  int64_t keep_step = 0, red_step = 0; /* |stride| of the innermost dim of each group longer than 1 */
  int32_t n = 0;
  for (int32_t reduced = 0; reduced < 2; reduced++)
    for (int32_t d = 0; d < a->ndim_; d++) {
      if ((int32_t)(mask >> d & 1) != reduced) continue;
      r.g.size[n] = a->size_[d];
      r.g.stride[n] = a->stride_[d];
      n++;
      if (reduced) r.R *= a->size_[d];
      else r.nout *= a->size_[d];
      if (a->size_[d] > 1) *(reduced ? &red_step : &keep_step) = llabs(a->stride_[d]);
    }
  r.g.ndim = n;
  r.g.contiguous = 1;
  int64_t expect = 1;
  for (int32_t d = n - 1; d >= 0; d--) {
    if (r.g.size[d] == 1) continue;
    if (r.g.stride[d] != expect) r.g.contiguous = 0;
    expect *= r.g.size[d];
  }
  r.columns = keep_step > 0 && red_step > 0 && keep_step < red_step;
  return r;
}

/* How the rows are cut: nchunks chunks of chunk elements per output, each
 * folded by `group` threads. */
struct plan {
  int64_t nchunks, chunk;
  int group;
};

static plan plan_of(const rows &r) {
  plan p;
  p.nchunks = 1;
  p.chunk = r.R;
  if (r.nout < FEW_OUTPUTS && r.R >= 2 * CHUNK) {
    p.chunk = (r.R + MAX_CHUNKS - 1) / MAX_CHUNKS;
    if (p.chunk < CHUNK) p.chunk = CHUNK;
    p.nchunks = (r.R + p.chunk - 1) / p.chunk;
  }
  /* one thread per output where rows are short, or where neighbouring
   * outputs are neighbours in memory (a sum over the batch) */
  if (p.chunk <= 16 || (r.columns && r.nout >= 1024)) p.group = 1;
  else p.group = p.chunk <= 1024 ? 32 : OML_CUDA_THREADS;
  return p;
}

/* ---- the two kernels ------------------------------------------------------ */

/* Accumulator v = c * nout + o folds elements [c * chunk, (c + 1) * chunk)
 * of row o, so that neighbouring groups take neighbouring outputs; the
 * threads of a group take every group-th element and merge their
 * accumulators in shared memory. Every thread of a block runs the same
 * number of loop rounds, so the barriers are reached by all. */
template <typename T, typename Op>
__global__ void fold_kernel(const T *x, oml_geom g, int64_t nout, int64_t R, int64_t nchunks, int64_t chunk,
                            int group, Op op, typename Op::acc *part) {
  typedef typename Op::acc A;
  __shared__ A shared[OML_CUDA_THREADS];
  const int lane = threadIdx.x % group;
  const int64_t per_block = blockDim.x / group, nv = nout * nchunks;
  for (int64_t base = (int64_t)blockIdx.x * per_block; base < nv; base += (int64_t)gridDim.x * per_block) {
    const int64_t v = base + threadIdx.x / group;
    A acc = op.init();
    if (v < nv) {
      const int64_t o = v % nout, r0 = v / nout * chunk, r1 = r0 + chunk < R ? r0 + chunk : R;
      for (int64_t r = r0 + lane; r < r1; r += group) acc = op.step(acc, x[oml_geom_offset(g, o * R + r)], o, r);
    }
    if (group > 1) {
      shared[threadIdx.x] = acc;
      __syncthreads();
      for (int s = group / 2; s > 0; s /= 2) {
        if (lane < s) shared[threadIdx.x] = op.merge(shared[threadIdx.x], shared[threadIdx.x + s]);
        __syncthreads();
      }
      acc = shared[threadIdx.x]; /* the group's total at lane 0 */
      __syncthreads();           /* read before the next round writes */
    }
    if (v < nv && lane == 0) part[v] = acc;
  }
}

/* Merges each output's chunk accumulators in order and hands the total to
 * finish(acc, o), which writes the result. */
template <typename Op, typename F>
__global__ void finish_kernel(const typename Op::acc *part, int64_t nout, int64_t nchunks, Op op, F finish) {
  OML_CUDA_LOOP(o, nout) {
    typename Op::acc acc = part[o];
    for (int64_t c = 1; c < nchunks; c++) acc = op.merge(acc, part[c * nout + o]);
    finish(acc, o);
  }
}

/* Folds every row of r (a's data) with op and finishes each output with finish. */
template <typename T, typename Op, typename F>
static int fold(const oml_tensor *a, const rows &r, Op op, F finish) {
  typedef typename Op::acc A;
  if (r.nout == 0) return 0;
  if (oml_cuda_use(a->device_)) return -1;
  plan p = plan_of(r);
  int64_t nv = r.nout * p.nchunks, bytes = nv * (int64_t)sizeof(A);
  A *part = (A *)oml_alloc(bytes, a->device_);
  if (part == NULL) return -1;
  int64_t per_block = OML_CUDA_THREADS / p.group, blocks = (nv + per_block - 1) / per_block;
  fold_kernel<T, Op><<<(unsigned)(blocks < MAX_BLOCKS ? blocks : MAX_BLOCKS), OML_CUDA_THREADS, 0,
                       oml_cuda_stream()>>>((const T *)a->data_, r.g, r.nout, r.R, p.nchunks, p.chunk, p.group, op,
                                            part);
  int rc = oml_cuda_launched("a reduction");
  if (rc == 0) {
    finish_kernel<<<oml_cuda_blocks(r.nout), OML_CUDA_THREADS, 0, oml_cuda_stream()>>>(part, r.nout, p.nchunks,
                                                                                       op, finish);
    rc = oml_cuda_launched("a reduction's last step");
  }
  oml_free(part, bytes, a->device_);
  return rc;
}

/* ---- folds (the CPU's kernels of cpu/reduce.c) ---------------------------- */

__device__ static inline int64_t wrap_add(int64_t a, int64_t b) { return (int64_t)((uint64_t)a + (uint64_t)b); }
__device__ static inline int64_t wrap_mul(int64_t a, int64_t b) { return (int64_t)((uint64_t)a * (uint64_t)b); }

template <typename T> struct sum_f {
  typedef double acc;
  __device__ double init() const { return 0; }
  __device__ double step(double a, T x, int64_t, int64_t) const { return a + (double)x; }
  __device__ double merge(double a, double b) const { return a + b; }
};
template <typename T> struct sum_i {
  typedef int64_t acc;
  __device__ int64_t init() const { return 0; }
  __device__ int64_t step(int64_t a, T x, int64_t, int64_t) const { return wrap_add(a, (int64_t)x); }
  __device__ int64_t merge(int64_t a, int64_t b) const { return wrap_add(a, b); }
};
template <typename T> struct prod_f {
  typedef double acc;
  __device__ double init() const { return 1; }
  __device__ double step(double a, T x, int64_t, int64_t) const { return a * (double)x; }
  __device__ double merge(double a, double b) const { return a * b; }
};
template <typename T> struct prod_i {
  typedef int64_t acc;
  __device__ int64_t init() const { return 1; }
  __device__ int64_t step(int64_t a, T x, int64_t, int64_t) const { return wrap_mul(a, (int64_t)x); }
  __device__ int64_t merge(int64_t a, int64_t b) const { return wrap_mul(a, b); }
};
/* NaN-propagating max and min (of |x| with abs) */
template <typename T> struct max_f {
  typedef double acc;
  double start;
  int is_min, abs;
  __device__ double init() const { return start; }
  __device__ double step(double a, T x, int64_t, int64_t) const {
    double y = abs ? fabs((double)x) : (double)x;
    return merge(a, y);
  }
  __device__ double merge(double a, double b) const { return is_min ? OML_MIN_NAN(a, b) : OML_MAX_NAN(a, b); }
};
template <typename T> struct max_i {
  typedef int64_t acc;
  int is_min;
  __device__ int64_t init() const { return is_min ? INT64_MAX : INT64_MIN; }
  __device__ int64_t step(int64_t a, T x, int64_t, int64_t) const { return merge(a, (int64_t)x); }
  __device__ int64_t merge(int64_t a, int64_t b) const { return is_min ? (b < a ? b : a) : (b > a ? b : a); }
};
/* nonzero elements (NaN counts) */
template <typename T> struct count {
  typedef int64_t acc;
  __device__ int64_t init() const { return 0; }
  __device__ int64_t step(int64_t a, T x, int64_t, int64_t) const { return a + (x != 0); }
  __device__ int64_t merge(int64_t a, int64_t b) const { return a + b; }
};
/* sums of |x| (p 1), x^2 (p 2) or |x|^p */
template <typename T> struct sum_pow {
  typedef double acc;
  double p;
  __device__ double init() const { return 0; }
  __device__ double step(double a, T x, int64_t, int64_t) const {
    double v = (double)x;
    return a + (p == 1 ? fabs(v) : p == 2 ? v * v : oml_norm_term(v, p));
  }
  __device__ double merge(double a, double b) const { return a + b; }
};
/* logsumexp's terms; float32 takes oml_expf, as the CPU */
__device__ static inline double exp_term(float x, double shift) { return oml_expf((float)((double)x - shift)); }
__device__ static inline double exp_term(double x, double shift) { return exp(x - shift); }
template <typename T> struct sum_exp {
  typedef double acc;
  const double *max;
  __device__ double init() const { return 0; }
  __device__ double step(double a, T x, int64_t o, int64_t) const { return a + exp_term(x, oml_lse_shift(max[o])); }
  __device__ double merge(double a, double b) const { return a + b; }
};
/* the variance's squared deviations from each output's mean */
template <typename T> struct sum_sqdev {
  typedef double acc;
  const double *mean;
  __device__ double init() const { return 0; }
  __device__ double step(double a, T x, int64_t o, int64_t) const {
    double d = (double)x - mean[o];
    return a + d * d;
  }
  __device__ double merge(double a, double b) const { return a + b; }
};

/* Arg-extremes: (value, reduced index), i < 0 before any element. Within a
 * thread indices grow, so a tie keeps the earlier element; across threads
 * and chunks a tie goes to the lower index: the first extreme, as the CPU. */
template <typename V> struct arg_acc { V v; int64_t i; };
__device__ static inline int beats(double x, double b, int is_min) {
  return is_min ? oml_beats_min(x, b) : oml_beats_max(x, b);
}
__device__ static inline int beats(int64_t x, int64_t b, int is_min) { return is_min ? x < b : x > b; }
template <typename T> using arg_value = typename std::conditional<std::is_floating_point<T>::value, double, int64_t>::type;

template <typename T> struct arg {
  typedef arg_value<T> V;
  typedef arg_acc<V> acc;
  int is_min;
  __device__ acc init() const { return acc{V(0), -1}; }
  __device__ acc step(acc a, T x, int64_t, int64_t r) const {
    V y = (V)x;
    return a.i < 0 || beats(y, a.v, is_min) ? acc{y, r} : a;
  }
  __device__ acc merge(acc a, acc b) const {
    if (b.i < 0) return a;
    if (a.i < 0 || beats(b.v, a.v, is_min)) return b;
    if (beats(a.v, b.v, is_min)) return a;
    return b.i < a.i ? b : a;
  }
};

/* ---- finishes: accumulator -> result -------------------------------------- */

/* out[o] = acc, converted (to bool: nonzero) */
template <typename TO> struct store {
  TO *out;
  template <typename A> __device__ void operator()(A a, int64_t o) const { out[o] = (TO)a; }
};
/* out[o] = acc / n: the mean */
template <typename TO> struct store_div {
  TO *out;
  double n;
  __device__ void operator()(double a, int64_t o) const { out[o] = (TO)(a / n); }
};
/* out[o] = all (count == n) or any (count > 0) */
struct store_all_any {
  bool *out;
  int64_t n;
  int is_all;
  __device__ void operator()(int64_t a, int64_t o) const { out[o] = is_all ? a == n : a > 0; }
};
template <typename TO> struct store_lse {
  TO *out;
  const double *max;
  __device__ void operator()(double a, int64_t o) const { out[o] = (TO)oml_lse_finish(a, max[o]); }
};
/* the variance (or deviation) from the sum of squared deviations */
template <typename TO> struct store_var {
  TO *out;
  double divisor;
  int take_sqrt;
  __device__ void operator()(double a, int64_t o) const {
    out[o] = (TO)(take_sqrt ? sqrt(a / divisor) : a / divisor);
  }
};
/* the p-norm from the sum of |x|^p */
template <typename TO> struct store_root {
  TO *out;
  double p;
  __device__ void operator()(double a, int64_t o) const { out[o] = (TO)(p == 2 ? sqrt(a) : pow(a, 1.0 / p)); }
};
template <typename T> struct store_arg {
  T *values;        /* either may be NULL */
  int64_t *indices;
  template <typename A> __device__ void operator()(A a, int64_t o) const {
    if (values) values[o] = (T)a.v;
    if (indices) indices[o] = a.i + 1;
  }
};

/* ---- entry points --------------------------------------------------------- */

/* A scratch buffer of one double per output. */
static double *doubles(const rows &r, int32_t device, int64_t *bytes) {
  *bytes = (r.nout > 0 ? r.nout : 1) * (int64_t)sizeof(double);
  return (double *)oml_alloc(*bytes, device);
}

static int not_floating(int32_t dtype) {
  return oml_error("this reduction expects a floating input (got %s)", oml_dtype_name(dtype));
}

/* f(TO()) for out's dtype: the float-valued reductions of integers read a
 * float64 copy and give float32 (see ops/reduce.c). */
template <typename F>
static int with_out_type(const oml_tensor *out, F f) {
  return oml_cuda_switch_float(out->dtype_, f);
}

template <typename T>
static int reduce_typed(const oml_tensor *a, oml_tensor *out, int32_t op, const rows &r) {
  constexpr bool fl = std::is_floating_point<T>::value;
  switch (op) {
  case OML_SUM:
    if constexpr (fl) return fold<T>(a, r, sum_f<T>(), store<T>{(T *)out->data_});
    else return fold<T>(a, r, sum_i<T>(), store<int64_t>{(int64_t *)out->data_});
  case OML_PROD:
    if constexpr (fl) return fold<T>(a, r, prod_f<T>(), store<T>{(T *)out->data_});
    else return fold<T>(a, r, prod_i<T>(), store<int64_t>{(int64_t *)out->data_});
  case OML_AMAX: case OML_AMIN: {
    int is_min = op == OML_AMIN;
    if constexpr (fl) return fold<T>(a, r, max_f<T>{is_min ? INFINITY : -INFINITY, is_min, 0}, store<T>{(T *)out->data_});
    else return fold<T>(a, r, max_i<T>{is_min}, store<T>{(T *)out->data_});
  }
  case OML_ALL: case OML_ANY:
    return fold<T>(a, r, count<T>(), store_all_any{(bool *)out->data_, r.R, op == OML_ALL});
  case OML_MEAN:
    if constexpr (fl)
      return with_out_type(out, [&](auto o) {
        typedef decltype(o) TO;
        return fold<T>(a, r, sum_f<T>(), store_div<TO>{(TO *)out->data_, (double)r.R});
      });
    else return not_floating(a->dtype_);
  default: /* OML_LOGSUMEXP: the max first, then the sum of the shifted exps */
    if constexpr (fl) {
      int64_t bytes;
      double *max = doubles(r, a->device_, &bytes);
      if (max == NULL) return -1;
      int rc = fold<T>(a, r, max_f<T>{-INFINITY, 0, 0}, store<double>{max});
      if (rc == 0)
        rc = with_out_type(out, [&](auto o) {
          typedef decltype(o) TO;
          return fold<T>(a, r, sum_exp<T>{max}, store_lse<TO>{(TO *)out->data_, max});
        });
      oml_free(max, bytes, a->device_);
      return rc;
    } else {
      return not_floating(a->dtype_);
    }
  }
}

extern "C" int oml_cuda_reduce(const oml_tensor *a, oml_tensor *out, int32_t op, uint32_t mask) {
  rows r = rows_of(a, mask);
  return oml_cuda_switch(a->dtype_, [&](auto t) { return reduce_typed<decltype(t)>(a, out, op, r); });
}

extern "C" int oml_cuda_var(const oml_tensor *a, oml_tensor *out, uint32_t mask, int32_t correction,
                            int32_t take_sqrt) {
  rows r = rows_of(a, mask);
  return oml_cuda_switch_float(a->dtype_, [&](auto t) {
    typedef decltype(t) T;
    int64_t bytes;
    double *mean = doubles(r, a->device_, &bytes);
    if (mean == NULL) return -1;
    int rc = fold<T>(a, r, sum_f<T>(), store_div<double>{mean, (double)r.R});
    /* PyTorch's divisor: never negative, so too few elements give inf or NaN */
    double divisor = fmax((double)r.R - correction, 0.0);
    if (rc == 0)
      rc = with_out_type(out, [&](auto o) {
        typedef decltype(o) TO;
        return fold<T>(a, r, sum_sqdev<T>{mean}, store_var<TO>{(TO *)out->data_, divisor, take_sqrt});
      });
    oml_free(mean, bytes, a->device_);
    return rc;
  });
}

extern "C" int oml_cuda_norm(const oml_tensor *a, oml_tensor *out, uint32_t mask, double p) {
  rows r = rows_of(a, mask);
  return oml_cuda_switch_float(a->dtype_, [&](auto t) {
    typedef decltype(t) T;
    return with_out_type(out, [&](auto to) {
      typedef decltype(to) TO;
      TO *o = (TO *)out->data_;
      if (p == 0) return fold<T>(a, r, count<T>(), store<TO>{o});
      if (p == INFINITY) return fold<T>(a, r, max_f<T>{0.0, 0, 1}, store<TO>{o});
      if (p == -INFINITY) return fold<T>(a, r, max_f<T>{INFINITY, 1, 1}, store<TO>{o});
      if (p == 1) return fold<T>(a, r, sum_pow<T>{p}, store<TO>{o});
      return fold<T>(a, r, sum_pow<T>{p}, store_root<TO>{o, p});
    });
  });
}

extern "C" int oml_cuda_max_dim(const oml_tensor *a, oml_tensor *values, oml_tensor *indices, int32_t dim,
                                int32_t is_min) {
  rows r = rows_of(a, a->ndim_ > 0 ? 1u << dim : 0);
  return oml_cuda_switch(a->dtype_, [&](auto t) {
    typedef decltype(t) T;
    store_arg<T> finish{values ? (T *)values->data_ : NULL, indices ? (int64_t *)indices->data_ : NULL};
    return fold<T>(a, r, arg<T>{is_min}, finish);
  });
}

/* ---- cumulative sums and products ----------------------------------------- */

__device__ static inline double cum_step(double acc, double x, int is_prod) { return is_prod ? acc * x : acc + x; }
__device__ static inline int64_t cum_step(int64_t acc, int64_t x, int is_prod) {
  return is_prod ? wrap_mul(acc, x) : wrap_add(acc, x);
}

/* A contiguous a seen as [outer, n, inner]: one thread scans each line in
 * order, as the CPU does, so the results are the CPU's bit for bit;
 * neighbouring threads take neighbouring lines of one inner block. */
template <typename T, typename A>
__global__ void cumulate_kernel(const T *x, T *y, int64_t n, int64_t inner, int64_t lines, int is_prod) {
  OML_CUDA_LOOP(line, lines) {
    const int64_t base = line / inner * n * inner + line % inner;
    A acc = is_prod ? A(1) : A(0);
    for (int64_t i = 0; i < n; i++) {
      acc = cum_step(acc, (A)x[base + i * inner], is_prod);
      y[base + i * inner] = (T)acc;
    }
  }
}

template <typename T, typename A>
static int cumulate_typed(const oml_tensor *a, oml_tensor *out, int64_t n, int64_t inner, int32_t is_prod) {
  int64_t lines = n > 0 ? a->numel_ / n : 0;
  cumulate_kernel<T, A><<<oml_cuda_blocks(lines), OML_CUDA_THREADS, 0, oml_cuda_stream()>>>(
      (const T *)a->data_, (T *)out->data_, n, inner, lines, is_prod);
  return oml_cuda_launched("a cumulative sum or product");
}

extern "C" int oml_cuda_cumulate(const oml_tensor *a, oml_tensor *out, int32_t dim, int32_t is_prod) {
  if (a->numel_ == 0) return 0;
  if (oml_cuda_use(a->device_)) return -1;
  int64_t n = 1, inner = 1;
  for (int32_t d = dim; d < a->ndim_; d++) {
    if (d == dim) n = a->size_[d];
    else inner *= a->size_[d];
  }
  switch (a->dtype_) {
  case OML_FLOAT32: return cumulate_typed<float, double>(a, out, n, inner, is_prod);
  case OML_FLOAT64: return cumulate_typed<double, double>(a, out, n, inner, is_prod);
  default: return cumulate_typed<int64_t, int64_t>(a, out, n, inner, is_prod); /* int64 */
  }
}
