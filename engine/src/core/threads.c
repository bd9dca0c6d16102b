/* threads.c — one thread count for the OpenMP loops (OpenBLAS stays single-threaded). */
#include "internal.h"

#include <omp.h>

/* OpenBLAS's own setter; declared here since cblas.h does not carry it everywhere. */
void openblas_set_num_threads(int n);

/* More threads than this never help, and far more make thread creation fail
 * inside libgomp, which then aborts the process (ggml caps at 512 too). */
#define MAX_THREADS 512

/* OpenBLAS stays on one thread (cpu/linalg.c cuts large GEMMs over the
 * OpenMP threads instead): its workers spin after each call and would take
 * the cores from the OpenMP loops that follow. */
__attribute__((constructor)) static void single_threaded_blas(void) { openblas_set_num_threads(1); }

void oml_set_num_threads(int32_t n) {
  if (n < 1) n = 1;
  if (n > MAX_THREADS) n = MAX_THREADS;
  omp_set_num_threads(n);
}

int32_t oml_get_num_threads(void) { return omp_get_max_threads(); }

int oml_parallel_ok(int64_t work) {
  return work >= OML_PARALLEL_GRAIN && omp_get_max_threads() > 1 && !omp_in_parallel();
}

const char *oml_version(void) { return "0.1.0"; }
