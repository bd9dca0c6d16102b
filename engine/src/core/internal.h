/*
 * internal.h — what the engine's own files share: errors, allocation, out
 * tensors, broadcasting, dtype helpers and the strided iterator. Not part of
 * the public API.
 */
#ifndef OML_INTERNAL_H
#define OML_INTERNAL_H

#include "oml.h"

#include <stdarg.h>
#include <string.h>

/* The CUDA files (C++) call these C functions: C linkage in every includer. */
#ifdef __cplusplus
extern "C" {
#endif

#define OML_MAX_DIMS 8
/* Below this many elements a loop runs on one thread: OpenMP's fork costs
 * more than it saves. */
#define OML_PARALLEL_GRAIN 32768
#define OML_SHAPE_BUF 128

struct oml_storage {
  char *data;
  int64_t nbytes;
  int32_t device;
  int32_t refcount;   /* atomic (__atomic builtins): loader threads release too */
};

/* ---- errors: each sets the thread-local message and returns -1 ---------- */

int oml_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "[2,3]" into buf */
const char *oml_shape_str(const oml_tensor *t, char *buf);
const char *oml_sizes_str(int32_t ndim, const int64_t *size, char *buf);

/* ---- argument checks (messages name the argument `what`) ---------------- */

int oml_check_set(const oml_tensor *t, const char *what);        /* storage_ != NULL */
int oml_check_cpu(const oml_tensor *t, const char *what);        /* ops not yet on CUDA */
int oml_check_math(const oml_tensor *t, const char *what);       /* set, and not float16/bfloat16 */
int oml_check_same_device(const oml_tensor *a, const oml_tensor *b);
/* t (named what) on the device of ref (named ref_what): "the index is on
 * the CPU but the input is on cuda:0" */
int oml_check_device(const oml_tensor *t, const char *what, const oml_tensor *ref, const char *ref_what);
int oml_check_dim(int32_t dim, int32_t ndim);                    /* 0 <= dim < max(ndim, 1) */
int oml_check_index_dtype(const oml_tensor *index, const char *what); /* int32 or int64 */
int oml_check_float(const oml_tensor *t, const char *what);      /* math, on the CPU, float32 or float64 */
int oml_check_real(const oml_tensor *t, const char *what);       /* math, float32 or float64, on any device */
/* a tensor written in place: no two of its elements share memory (as in
 * an expanded view), so that the result does not depend on write order */
int oml_check_writable(const oml_tensor *t, const char *what);
/* the values and indices outputs of one op (either may be NULL) are apart */
int oml_check_apart_outputs(const oml_tensor *values, const oml_tensor *indices);

/* ---- dtypes ------------------------------------------------------------- */

int oml_is_floating(int32_t dtype);     /* float32, float64 (float16/bfloat16 too) */
int32_t oml_promote(int32_t a, int32_t b);

/* slow per-element access, for the few places that cannot use a typed loop */
double oml_load(const char *p, int32_t dtype);
void oml_store(char *p, int32_t dtype, double v);
int64_t oml_load_index(const char *p, int32_t dtype);             /* int32 or int64 */

/* ---- storage and allocation --------------------------------------------- */

void *oml_alloc(int64_t nbytes, int32_t device);    /* caching; NULL with an error set */
void oml_free(void *p, int64_t nbytes, int32_t device);
oml_storage *oml_storage_new(int64_t nbytes, int32_t device);
void oml_storage_retain(oml_storage *s);
void oml_storage_release(oml_storage *s);

/* An unset tensor, for locals that receive results. */
static inline oml_tensor oml_tensor_unset(void) {
  oml_tensor t;
  memset(&t, 0, sizeof t);
  return t;
}
/* The storage elements [*lo, *hi] that t touches; *lo > *hi when t is empty. */
void oml_tensor_span(const oml_tensor *t, int64_t *lo, int64_t *hi);

/* Gives out the result's shape: allocates an unset out, or checks that a set
 * out has this shape, dtype and device. */
int oml_out_prepare(oml_tensor *out, int32_t ndim, const int64_t *size, int32_t dtype, int32_t device);
/* 1 when writing b could change what a reads: they share memory without
 * being the very same view. Callers then read a from a copy. */
int oml_may_overlap(const oml_tensor *a, const oml_tensor *b);
/* Fills in numel_ and the contiguous strides of t from its sizes. */
void oml_tensor_set_contiguous_strides(oml_tensor *t);

/* ---- shapes ------------------------------------------------------------- */

/* The NumPy broadcast of n shapes; an error names the shapes. */
int oml_broadcast_shapes(int32_t n, const oml_tensor *const *ts, int32_t *ndim, int64_t *size);

/* ---- the strided iterator ----------------------------------------------
 * oml_foreach walks nops tensors of identical sizes (expand them first) and
 * calls fn on runs along their innermost (coalesced) dim: ptrs[i] is the
 * first element of operand i, strides[i] its step in BYTES, n the run length.
 * Runs are spread over OpenMP threads when there are enough elements, so fn
 * must only write its own elements. Operand 0 is usually the output. */
typedef void (*oml_loop_fn)(char **ptrs, const int64_t *strides, int64_t n, void *ctx);
void oml_foreach(int32_t nops, const oml_tensor *const *ops, oml_loop_fn fn, void *ctx);

/* 1 when a loop over `work` elements should fork threads */
int oml_parallel_ok(int64_t work);

/* ---- devices (core/device.c) ---------------------------------------------
 * Device dispatch: an op checks its arguments (all on one device:
 * oml_check_same_device), then runs src/cuda's kernel when they are on a
 * device, else src/cpu's:
 *     #ifdef OML_WITH_CUDA
 *     if (out->device_ != OML_CPU) return oml_cuda_unary(a, out, op);
 *     #endif
 * Without CUDA no tensor can live on a device, so nothing else is needed.
 * An op without a CUDA kernel refuses device tensors (oml_check_cpu). */

void *oml_device_malloc(int64_t nbytes, int32_t device);
void oml_device_free(void *p, int32_t device);
int oml_device_memcpy(void *dst, int32_t dst_device, const void *src, int32_t src_device, int64_t nbytes);

/* The element offset of the start of line i, the lines being t's elements
 * along dim for each index of the other dims in row-major order. */
static inline int64_t oml_line_offset(const oml_tensor *t, int32_t dim, int64_t i) {
  int64_t off = 0;
  for (int32_t d = t->ndim_ - 1; d >= 0; d--) {
    if (d == dim) continue;
    off += (i % t->size_[d]) * t->stride_[d];
    i /= t->size_[d];
  }
  return off;
}

#ifdef __cplusplus
}
#endif

#endif /* OML_INTERNAL_H */
