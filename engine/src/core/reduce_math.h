/* reduce_math.h — per-element math of the reductions, shared by the CPU and
 * CUDA kernels so that the CPU specs cover the math the GPU runs. */
#ifndef OML_REDUCE_MATH_H
#define OML_REDUCE_MATH_H

#include "scalar_math.h"

/* The p-norm's term |x|^p (p not 0, 1, 2 or +-inf: those have their own folds). */
OML_HD static inline double oml_norm_term(double x, double p) { return pow(fabs(x), p); }

/* 1 when x beats b, the best so far of an arg-max (arg-min): larger
 * (smaller), or a NaN where b is a number, since a NaN beats every number.
 * Ties do not beat, so the first extreme wins. */
OML_HD static inline int oml_beats_max(double x, double b) { return x > b || (x != x && b == b); }
OML_HD static inline int oml_beats_min(double x, double b) { return x < b || (x != x && b == b); }

/* logsumexp sums exp(x - shift): the shift is the max where it is finite;
 * where it is not, the max is the result and the terms are not used. */
OML_HD static inline double oml_lse_shift(double max) { return isfinite(max) ? max : 0; }
OML_HD static inline double oml_lse_finish(double sum, double max) { return isfinite(max) ? log(sum) + max : max; }

#endif /* OML_REDUCE_MATH_H */
