/*
 * oml.h — the one public C API of the oml engine.
 *
 * LuaJIT's FFI reads the text between the ffi:begin and ffi:end markers as
 * it is (ffi.cdef has no preprocessor), so that part holds only plain
 * declarations: no macros, no #if, stdint types.
 *
 * Conventions
 * - A tensor is an oml_tensor struct owned by its caller (a Lua cdata, or a
 *   C local); it holds one reference to a refcounted storage.
 * - An "out" tensor that is unset (all zero, as after oml_tensor_release) is
 *   allocated by the callee with the result's shape; an out tensor that is
 *   set must already have the result's shape, dtype and device and is written
 *   in place (this is how in-place ops and preallocated outputs work).
 * - Functions that can fail return 0 on success and -1 on failure; the
 *   message is then in oml_last_error() (thread-local). The engine never
 *   aborts, longjmps or calls back into Lua.
 * - Dims are 0-based here (the Lua layer maps its 1-based dims); index
 *   tensors (indices given to or returned by the engine) are 1-based, as
 *   everywhere in oml. Messages speak of dims and indices 1-based.
 * - Arguments come in THNN order: inputs, outputs, then scalars.
 */
#ifndef OML_H
#define OML_H

#include <stdint.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ffi:begin */

/* ---- errors, version, threads, devices ---------------------------------- */

const char *oml_last_error(void);
const char *oml_version(void);
void oml_set_num_threads(int32_t n);        /* OpenMP and OpenBLAS together */
int32_t oml_get_num_threads(void);
int32_t oml_cuda_compiled(void);            /* 1 when built with CUDA */
int32_t oml_cuda_device_count(void);        /* 0 without CUDA or without a GPU */
int oml_cuda_synchronize(int32_t device);   /* waits for the device's work; reports a kernel's fault */
/* How CUDA GEMMs and convolutions treat float32 operands: exact float32,
 * TF32 tensor cores, or operands rounded to bfloat16/float16 with float32
 * accumulation and float32 results (the autocast of the train config). */
enum { OML_MATH_FLOAT32 = 0, OML_MATH_TF32 = 1, OML_MATH_BFLOAT16 = 2, OML_MATH_FLOAT16 = 3 };
int oml_cuda_set_math(int32_t mode);
int32_t oml_cuda_get_math(void);
/* CUDA's libraries are loaded when first needed: NULL when `which` loads
 * (with every function oml calls), else why not. */
enum { OML_CUBLAS = 0, OML_CUDNN = 1 };
const char *oml_cuda_library_error(int32_t which);

/* ---- dtypes ------------------------------------------------------------- */

enum {
  OML_FLOAT32 = 0,
  OML_FLOAT64 = 1,
  OML_INT32 = 2,
  OML_INT64 = 3,
  OML_UINT8 = 4,
  OML_BOOL = 5,
  OML_FLOAT16 = 6,   /* storage only: copy/convert, no math */
  OML_BFLOAT16 = 7,  /* storage only: copy/convert, no math */
  OML_NUM_DTYPES = 8
};

int64_t oml_dtype_size(int32_t dtype);      /* bytes per element, 0 if unknown */
const char *oml_dtype_name(int32_t dtype);  /* "float32", ...; "?" if unknown */

/* ---- memory --------------------------------------------------------------
 * Storages come from a caching allocator (per device): freed blocks are kept
 * and reused for requests of the same size class. */

typedef struct oml_memory_stats {
  int64_t current;      /* bytes held by live storages */
  int64_t peak;         /* highest current since start or reset */
  int64_t cached;       /* bytes kept in the cache for reuse */
  int64_t allocations;  /* storages allocated */
  int64_t cache_hits;   /* of which served from the cache */
} oml_memory_stats;

int oml_memory_stats_get(int32_t device, oml_memory_stats *out);
int64_t oml_memory_live_bytes(void);        /* all devices: for GC pressure */
void oml_memory_reset_peak(int32_t device);
void oml_memory_empty_cache(void);

/* ---- tensors ------------------------------------------------------------ */

enum { OML_CPU = -1 };   /* device: -1 is the CPU, N >= 0 is cuda:N */

typedef struct oml_storage oml_storage;

typedef struct oml_tensor {
  /* Fields end in _ so that they never shadow the Lua methods of the same
   * name (t:size(), t:stride(), t:dim(), ...). */
  char *data_;            /* address of the first element (storage + offset) */
  oml_storage *storage_;  /* NULL for an unset tensor */
  int64_t offset_;        /* of the first element in the storage, in elements */
  int64_t numel_;
  int64_t size_[8];
  int64_t stride_[8];     /* in elements */
  int32_t ndim_;          /* 0..8; 0 is a scalar with one element */
  int32_t dtype_;
  int32_t device_;
  int32_t pad_;
} oml_tensor;

int oml_tensor_empty(oml_tensor *out, int32_t ndim, const int64_t *size, int32_t dtype, int32_t device);
void oml_tensor_release(oml_tensor *t);     /* drops the storage, leaves t unset */
int oml_tensor_is_contiguous(const oml_tensor *t);
int64_t oml_storage_nbytes(const oml_storage *s);
int32_t oml_storage_refcount(const oml_storage *s);

/* Views: out shares t's storage. */
int oml_tensor_alias(const oml_tensor *t, oml_tensor *out);
int oml_tensor_as_strided(const oml_tensor *t, oml_tensor *out, int32_t ndim, const int64_t *size,
                          const int64_t *stride, int64_t offset);
int oml_tensor_view(const oml_tensor *t, oml_tensor *out, int32_t ndim, const int64_t *size);    /* one size may be -1 */
int oml_tensor_reshape(const oml_tensor *t, oml_tensor *out, int32_t ndim, const int64_t *size); /* view, or a copy */
int oml_tensor_narrow(const oml_tensor *t, oml_tensor *out, int32_t dim, int64_t start, int64_t length); /* start 0-based */
int oml_tensor_select(const oml_tensor *t, oml_tensor *out, int32_t dim, int64_t index);                 /* index 0-based */
int oml_tensor_transpose(const oml_tensor *t, oml_tensor *out, int32_t dim0, int32_t dim1);
int oml_tensor_permute(const oml_tensor *t, oml_tensor *out, int32_t ndim, const int32_t *dims);
int oml_tensor_expand(const oml_tensor *t, oml_tensor *out, int32_t ndim, const int64_t *size);  /* -1 keeps a size */
int oml_tensor_squeeze(const oml_tensor *t, oml_tensor *out, int32_t dim);                       /* dim -1: every size-1 dim */
int oml_tensor_unsqueeze(const oml_tensor *t, oml_tensor *out, int32_t dim);

/* Copies. */
int oml_tensor_contiguous(const oml_tensor *t, oml_tensor *out); /* a view when already contiguous */
int oml_tensor_clone(const oml_tensor *t, oml_tensor *out);
int oml_tensor_to(const oml_tensor *t, oml_tensor *out, int32_t dtype, int32_t device);     /* always a copy */
int oml_copy(const oml_tensor *src, oml_tensor *dst);          /* src broadcast to dst; converts dtype and device */
int oml_fill(oml_tensor *t, double value);

/* ---- creation ----------------------------------------------------------- */

int oml_arange(oml_tensor *out, double start, double end, double step, int32_t dtype);
int oml_linspace(oml_tensor *out, double start, double end, int64_t steps, int32_t dtype);
int oml_eye(oml_tensor *out, int64_t n, int64_t m, int32_t dtype);

/* ---- random numbers ------------------------------------------------------
 * Philox4x32-10, a counter-based generator: the stream for a seed is the
 * same on every machine and for any thread count. Each fill takes a fresh
 * range of counters from the generator. g NULL means the default generator. */

typedef struct oml_generator {
  uint64_t seed_;    /* fields end in _, as in oml_tensor, so that they never shadow Lua methods */
  uint64_t offset_;  /* next unused 128-bit counter block */
} oml_generator;

oml_generator *oml_default_generator(void);
void oml_manual_seed(uint64_t seed);        /* seeds the default generator */
int oml_rand(oml_tensor *t, oml_generator *g, double low, double high);     /* uniform [low, high) */
int oml_randn(oml_tensor *t, oml_generator *g, double mean, double std);
int oml_randint(oml_tensor *t, oml_generator *g, int64_t low, int64_t high); /* uniform integers in [low, high) */
int oml_randperm(oml_tensor *out, oml_generator *g, int64_t n, int32_t dtype); /* a permutation of 1..n */
int oml_bernoulli(oml_tensor *t, oml_generator *g, double p);               /* 1 with probability p, else 0 */

/* ---- elementwise ---------------------------------------------------------
 * NumPy broadcasting; the result dtype follows PyTorch's promotion (bool <
 * uint8 < int32 < int64 < float32 < float64; math on integers gives float32;
 * comparisons give bool). */

enum {
  OML_NEG = 0, OML_ABS, OML_SIGN, OML_EXP, OML_LOG, OML_SQRT, OML_RSQRT, OML_SQUARE,
  OML_RECIPROCAL, OML_TANH, OML_SIGMOID, OML_ERF, OML_LOG1P, OML_EXPM1, OML_SIN, OML_COS,
  OML_FLOOR, OML_CEIL, OML_ROUND, OML_TRUNC, OML_LOGICAL_NOT, OML_NUM_UNARY
};

enum {
  OML_ADD = 0, OML_SUB, OML_MUL, OML_DIV, OML_POW, OML_MINIMUM, OML_MAXIMUM, OML_FMOD,
  OML_EQ, OML_NE, OML_LT, OML_LE, OML_GT, OML_GE, OML_LOGICAL_AND, OML_LOGICAL_OR,
  OML_NUM_BINARY
};

int oml_unary(const oml_tensor *a, oml_tensor *out, int32_t op);
int oml_binary(const oml_tensor *a, const oml_tensor *b, oml_tensor *out, int32_t op);
/* a op s, or s op a when scalar_first is 1 */
int oml_binary_scalar(const oml_tensor *a, oml_tensor *out, int32_t op, double s, int32_t scalar_first);
int oml_clamp(const oml_tensor *a, oml_tensor *out, double low, double high);   /* +-inf for no bound */
int oml_where(const oml_tensor *cond, const oml_tensor *a, const oml_tensor *b, oml_tensor *out);

/* ---- reductions ----------------------------------------------------------
 * dim_mask: bit d set reduces dim d; 0 reduces every dim. Sums of integers
 * and bools give int64; means, norms and variances of integers give float32. */

enum { OML_SUM = 0, OML_MEAN, OML_PROD, OML_AMAX, OML_AMIN, OML_ALL, OML_ANY, OML_LOGSUMEXP, OML_NUM_REDUCE };

int oml_reduce(const oml_tensor *a, oml_tensor *out, int32_t op, uint32_t dim_mask, int32_t keepdim);
int oml_var(const oml_tensor *a, oml_tensor *out, uint32_t dim_mask, int32_t correction, int32_t keepdim, int32_t take_sqrt);
int oml_norm(const oml_tensor *a, oml_tensor *out, double p, uint32_t dim_mask, int32_t keepdim); /* p may be inf */
/* values and/or indices (int64, 1-based; the first extreme on ties) along dim; either may be NULL */
int oml_max_dim(const oml_tensor *a, oml_tensor *values, oml_tensor *indices, int32_t dim, int32_t keepdim, int32_t is_min);
int oml_cumsum(const oml_tensor *a, oml_tensor *out, int32_t dim);
int oml_cumprod(const oml_tensor *a, oml_tensor *out, int32_t dim);

/* ---- matrix products (OpenBLAS) ------------------------------------------
 * float32 and float64; transposed views reach BLAS without copies. */

int oml_mm(const oml_tensor *a, const oml_tensor *b, oml_tensor *out);
int oml_addmm(const oml_tensor *c, const oml_tensor *a, const oml_tensor *b, oml_tensor *out, double beta, double alpha);
int oml_bmm(const oml_tensor *a, const oml_tensor *b, oml_tensor *out);
int oml_matmul(const oml_tensor *a, const oml_tensor *b, oml_tensor *out);  /* NumPy matmul semantics */

/* ---- indexing (index tensors are int32 or int64, 1-based) ---------------- */

int oml_index_select(const oml_tensor *a, const oml_tensor *index, oml_tensor *out, int32_t dim);
int oml_index_add(const oml_tensor *src, const oml_tensor *index, oml_tensor *dst, int32_t dim, double alpha);
int oml_index_copy(const oml_tensor *src, const oml_tensor *index, oml_tensor *dst, int32_t dim);
int oml_index_fill(const oml_tensor *index, oml_tensor *dst, int32_t dim, double value);
int oml_gather(const oml_tensor *a, const oml_tensor *index, oml_tensor *out, int32_t dim);
int oml_scatter(const oml_tensor *src, const oml_tensor *index, oml_tensor *dst, int32_t dim, int32_t accumulate);
int oml_masked_fill(const oml_tensor *mask, oml_tensor *dst, double value);   /* mask (bool) broadcast to dst */
int oml_masked_select(const oml_tensor *a, const oml_tensor *mask, oml_tensor *out);
int oml_nonzero(const oml_tensor *a, oml_tensor *out);  /* int64 [n, ndim], 1-based */

/* ---- sorting (indices int64, 1-based; stable: ties keep the lower index first;
 * NaN sorts above every number; values or indices may be NULL, not both) ---- */

int oml_sort(const oml_tensor *a, oml_tensor *values, oml_tensor *indices, int32_t dim, int32_t descending);
int oml_topk(const oml_tensor *a, oml_tensor *values, oml_tensor *indices, int64_t k, int32_t dim, int32_t largest);

/* ---- joining ------------------------------------------------------------ */

int oml_cat(const oml_tensor **inputs, int32_t n, oml_tensor *out, int32_t dim);

/* ---- distances ---------------------------------------------------------- */

enum { OML_EUCLIDEAN = 0, OML_COSINE = 1 };

int oml_normalize(const oml_tensor *a, oml_tensor *out, double p, int32_t dim, double eps); /* a / max(||a||_p, eps) */
int oml_cdist(const oml_tensor *x, const oml_tensor *y, oml_tensor *out, int32_t metric);  /* [n,d] x [m,d] -> [n,m] */

/* ---- retrieval: exact k-NN ------------------------------------------------
 * For each row of queries [nq,d], the k rows of gallery [ng,d] (float32 or
 * float64, one dtype) nearest in euclidean distance: distances [nq,k] in that
 * dtype, ascending, ties to the lower gallery index; indices [nq,k] int64,
 * 1-based. Block by block: the nq x ng distances are never all held at once.
 * Exclusions (each may be NULL): self_index [nq] (int32/int64) names one
 * gallery row per query to skip (1-based, 0 for none); query_sequence [nq]
 * and gallery_sequence [ng] (int32/int64, both or neither) skip the gallery
 * rows whose id equals the query's. A row with fewer than k eligible items
 * ends in distance +inf and index 0; counts [nq] int64 (may be NULL) says
 * how many were found. query_block and gallery_block: rows per GEMM, 0 for
 * the tuned default. Results do not depend on the thread count. */
int oml_knn_search(const oml_tensor *queries, const oml_tensor *gallery, const oml_tensor *self_index,
                   const oml_tensor *query_sequence, const oml_tensor *gallery_sequence, oml_tensor *distances,
                   oml_tensor *indices, oml_tensor *counts, int64_t k, int64_t query_block, int64_t gallery_block);

/* ---- images: JPEG (TurboJPEG) ---------------------------------------------
 * Images are uint8 [H,W,3] RGB on the CPU. decode: the file's bytes -> out
 * (grayscale becomes 3 equal channels); scale_to_min_side > 0 decodes at the
 * smallest of TurboJPEG's DCT scales (at most 1/1) whose shorter side is
 * still >= it. Corrupt or truncated data is an error with TurboJPEG's
 * message. encode: image (quality 1..100, 4:2:0) -> out uint8 [nbytes]. */
int oml_jpeg_decode(const uint8_t *bytes, int64_t n, int32_t scale_to_min_side, oml_tensor *out);
int oml_jpeg_encode(const oml_tensor *image, int32_t quality, oml_tensor *out);

/* ---- images: transforms ---------------------------------------------------
 * An image is uint8 [H,W,3] (HWC, as decoded) or float32 [3,H,W] (CHW); each
 * op keeps the layout, except normalize: uint8 HWC -> float32 CHW with
 * (x / 255 - mean[c]) / std[c] (mean, std: 3 values). resize is bilinear as
 * PIL's, antialiased when shrinking. Boxes are 0-based and must lie inside
 * the image; pad fills with value. out must not overlap image. */
int oml_image_resize(const oml_tensor *image, oml_tensor *out, int64_t height, int64_t width);
int oml_image_crop(const oml_tensor *image, oml_tensor *out, int64_t top, int64_t left, int64_t height, int64_t width);
int oml_image_hflip(const oml_tensor *image, oml_tensor *out);
int oml_image_pad(const oml_tensor *image, oml_tensor *out, int64_t top, int64_t bottom, int64_t left, int64_t right,
                  double value);
int oml_image_normalize(const oml_tensor *image, oml_tensor *out, const double *mean, const double *std);
/* Colour, on uint8 HWC as torchvision's adjust_* on uint8 tensors (float32
 * steps, truncated): brightness, contrast and saturation blend with black,
 * the mean gray and each pixel's gray (factor >= 0); hue turns the HSV hue
 * by shift in [-0.5, 0.5]. */
int oml_image_adjust_brightness(const oml_tensor *image, oml_tensor *out, double factor);
int oml_image_adjust_contrast(const oml_tensor *image, oml_tensor *out, double factor);
int oml_image_adjust_saturation(const oml_tensor *image, oml_tensor *out, double factor);
int oml_image_adjust_hue(const oml_tensor *image, oml_tensor *out, double shift);

/* ---- data loader: JPEG files -> normalised batches in C worker threads ----
 * A loader owns num_workers threads (0: the thread that waits does the
 * work). A job is one batch: n image files, each optionally cut to its box
 * (x1, y1, x2, y2: 0-based pixel edges as OML's dataframe, all -1 for none),
 * then transformed by a recipe into out, float32 [n,3,height,width] (out
 * convention; a set out must be contiguous). Random draws come from Philox
 * keyed by (recipe seed, the item's key), so a batch never depends on which
 * thread ran which item. Jobs are collected in any order; wait returns how
 * many items failed (a missing file, a corrupt JPEG: job_error says why;
 * the item's slot in out is then zero). Workers run the kernels on one
 * OpenMP thread each. */
enum { OML_RECIPE_RESIZE = 0, OML_RECIPE_RANDOM_RESIZED_CROP = 1 };

typedef struct oml_image_recipe {
  int32_t height, width;         /* the output size */
  int32_t crop;                  /* RESIZE: the whole (boxed) image; RANDOM_RESIZED_CROP: torchvision's box */
  int32_t dct_scaling;           /* 1: decode at the smallest DCT scale that keeps the crop >= the output */
  double scale[2], ratio[2];     /* random resized crop: area fraction and aspect ratio ranges */
  double flip_p;                 /* probability of a horizontal flip */
  double brightness, contrast, saturation, hue; /* ColorJitter's amounts; 0 skips one */
  double mean[3], std[3];        /* normalisation of x / 255 */
  uint64_t seed;
} oml_image_recipe;

typedef struct oml_loader oml_loader;
typedef struct oml_load_job oml_load_job;

oml_loader *oml_loader_new(int32_t num_workers);       /* NULL on failure */
void oml_loader_release(oml_loader *loader);           /* threads stop once its last job is freed */
/* paths [n]; boxes [n*4] or NULL; keys [n] or NULL (keys 0..n-1). NULL on failure. */
oml_load_job *oml_loader_submit(oml_loader *loader, int64_t n, const char *const *paths, const int64_t *boxes,
                                const uint64_t *keys, const oml_image_recipe *recipe, oml_tensor *out);
int64_t oml_load_job_wait(oml_load_job *job);          /* failed items, or -1 */
const char *oml_load_job_error(const oml_load_job *job, int64_t i); /* NULL when item i (0-based) loaded */
void oml_load_job_free(oml_load_job *job);             /* cancels what has not started, waits for the rest */

/* ---- nn: layers' forward and backward kernels -----------------------------
 * float32 and float64 (one dtype per call). Inputs may be any strided view.
 * Outputs and grad_input follow the out convention; may be NULL where it says
 * so (not needed). grad_weight and grad_bias are ACCUMULATED into (+=), as
 * torch/nn's accGradParameters: they must be set, with the parameter's shape
 * and dtype, or NULL to skip (a frozen parameter). Saved statistics
 * (save_mean, save_invstd, indices) follow the out convention. */

/* input [N,C,H,W], weight [O,C/groups,kH,kW], bias [O] or NULL -> out [N,O,Ho,Wo]. */
int oml_conv2d_forward(const oml_tensor *input, oml_tensor *out, const oml_tensor *weight, const oml_tensor *bias,
                       int32_t stride_h, int32_t stride_w, int32_t pad_h, int32_t pad_w,
                       int32_t dilation_h, int32_t dilation_w, int32_t groups);
int oml_conv2d_backward(const oml_tensor *input, const oml_tensor *grad_out, oml_tensor *grad_input,
                        const oml_tensor *weight, oml_tensor *grad_weight, oml_tensor *grad_bias,
                        int32_t stride_h, int32_t stride_w, int32_t pad_h, int32_t pad_w,
                        int32_t dilation_h, int32_t dilation_w, int32_t groups);

/* Batch norm over dim 1 of [N,C] or [N,C,...]: training uses the batch's
 * statistics (saved for backward; the running ones updated with momentum and
 * the unbiased variance, as PyTorch), evaluation the running ones. weight and
 * bias [C] may be NULL (affine=false); running_mean/var may be NULL in training. */
int oml_batch_norm_forward(const oml_tensor *input, oml_tensor *out, const oml_tensor *weight, const oml_tensor *bias,
                           oml_tensor *running_mean, oml_tensor *running_var, oml_tensor *save_mean,
                           oml_tensor *save_invstd, int32_t training, double momentum, double eps);
int oml_batch_norm_backward(const oml_tensor *input, const oml_tensor *grad_out, oml_tensor *grad_input,
                            const oml_tensor *weight, oml_tensor *grad_weight, oml_tensor *grad_bias,
                            const oml_tensor *running_mean, const oml_tensor *running_var,
                            const oml_tensor *save_mean, const oml_tensor *save_invstd, int32_t training, double eps);

/* Layer norm over the last dim (size D); weight, bias [D] or NULL. */
int oml_layer_norm_forward(const oml_tensor *input, oml_tensor *out, const oml_tensor *weight, const oml_tensor *bias,
                           oml_tensor *save_mean, oml_tensor *save_invstd, double eps);
int oml_layer_norm_backward(const oml_tensor *input, const oml_tensor *grad_out, oml_tensor *grad_input,
                            const oml_tensor *weight, oml_tensor *grad_weight, oml_tensor *grad_bias,
                            const oml_tensor *save_mean, const oml_tensor *save_invstd);

/* Pooling on [N,C,H,W] (or [C,H,W]). max: indices (int64, 1-based flat
 * positions in each H*W plane) are saved for backward; padding counts as
 * -inf. avg: count_include_pad as PyTorch. ceil_mode as PyTorch (a window
 * that starts in the right/bottom padding is dropped). adaptive: PyTorch's
 * start = floor(i*H/oH), end = ceil((i+1)*H/oH). */
int oml_max_pool2d_forward(const oml_tensor *input, oml_tensor *out, oml_tensor *indices,
                           int32_t kernel_h, int32_t kernel_w, int32_t stride_h, int32_t stride_w,
                           int32_t pad_h, int32_t pad_w, int32_t dilation_h, int32_t dilation_w, int32_t ceil_mode);
int oml_max_pool2d_backward(const oml_tensor *input, const oml_tensor *grad_out, const oml_tensor *indices,
                            oml_tensor *grad_input);
int oml_avg_pool2d_forward(const oml_tensor *input, oml_tensor *out, int32_t kernel_h, int32_t kernel_w,
                           int32_t stride_h, int32_t stride_w, int32_t pad_h, int32_t pad_w,
                           int32_t ceil_mode, int32_t count_include_pad);
int oml_avg_pool2d_backward(const oml_tensor *input, const oml_tensor *grad_out, oml_tensor *grad_input,
                            int32_t kernel_h, int32_t kernel_w, int32_t stride_h, int32_t stride_w,
                            int32_t pad_h, int32_t pad_w, int32_t ceil_mode, int32_t count_include_pad);
int oml_adaptive_avg_pool2d_forward(const oml_tensor *input, oml_tensor *out, int64_t out_h, int64_t out_w);
int oml_adaptive_avg_pool2d_backward(const oml_tensor *input, const oml_tensor *grad_out, oml_tensor *grad_input);

/* Activations, elementwise: backward takes the forward's input. */
enum { OML_RELU = 0, OML_GELU = 1, OML_GELU_TANH = 2, OML_NUM_ACTIVATIONS = 3 };
int oml_activation_forward(const oml_tensor *input, oml_tensor *out, int32_t kind);
int oml_activation_backward(const oml_tensor *input, const oml_tensor *grad_out, oml_tensor *grad_input, int32_t kind);

/* Softmax (or log-softmax when log is 1) along dim; backward takes the forward's output. */
int oml_softmax_forward(const oml_tensor *input, oml_tensor *out, int32_t dim, int32_t log);
int oml_softmax_backward(const oml_tensor *output, const oml_tensor *grad_out, oml_tensor *grad_input,
                         int32_t dim, int32_t log);

/* Bicubic interpolation of [N,C,H,W] to [N,C,out_h,out_w] as PyTorch's
 * interpolate(mode="bicubic", A = -0.75, borders clamped): scale_h/scale_w
 * > 0 map output to input coordinates as given by the caller's
 * scale_factor (PyTorch uses 1/scale_factor then), 0 uses in/out sizes. */
int oml_interpolate_bicubic_forward(const oml_tensor *input, oml_tensor *out, int64_t out_h, int64_t out_w,
                                    int32_t align_corners, double scale_h, double scale_w);
int oml_interpolate_bicubic_backward(const oml_tensor *grad_out, oml_tensor *grad_input, int64_t in_h, int64_t in_w,
                                     int32_t align_corners, double scale_h, double scale_w);

/* ---- optimizers: fused in-place updates of one parameter ------------------
 * param, grad and state tensors have one shape and dtype (float32/float64),
 * contiguous. step counts from 1. As PyTorch's torch.optim single-tensor
 * updates: SGD (momentum buffer initialised to the gradient on step 1,
 * dampening, nesterov, L2 weight decay added to the gradient); Adam (L2
 * weight decay) and AdamW (decoupled: param *= 1 - lr*weight_decay) with bias
 * correction, amsgrad off. */
int oml_sgd_step(oml_tensor *param, const oml_tensor *grad, oml_tensor *momentum_buffer, double lr, double momentum,
                 double dampening, double weight_decay, int32_t nesterov, int64_t step);
int oml_adam_step(oml_tensor *param, const oml_tensor *grad, oml_tensor *exp_avg, oml_tensor *exp_avg_sq, double lr,
                  double beta1, double beta2, double eps, double weight_decay, int32_t decoupled, int64_t step);

/* ffi:end */

#ifdef __cplusplus
}
#endif

#endif /* OML_H */
