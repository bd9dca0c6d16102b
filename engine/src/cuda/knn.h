/* cuda/knn.h — the exact k-NN search on a device (arguments already checked
 * by ops/knn.c). */
#ifndef OML_CUDA_KNN_H
#define OML_CUDA_KNN_H

#include "../core/internal.h"
#include "../cpu/knn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The most neighbours a device search keeps per query (of min(k, gallery rows)). */
#define OML_CUDA_KNN_MAX_K 1024

/* oml_cpu_knn_search's contract on a device: every tensor of p, and the
 * self_index and sequence vectors it points to, lie on the queries' device.
 * Fails when min(k, gallery rows) exceeds OML_CUDA_KNN_MAX_K. */
int oml_cuda_knn_search(const oml_knn_problem *p);

#ifdef __cplusplus
}
#endif

#endif
