/* cuda/vendor.cu — loading cuBLAS and cuDNN on first use (see vendor.h). */
#include "vendor.h"

#include "../core/internal.h"

#include <dlfcn.h>
#include <mutex>

/* a symbol's name after the vendor header's macros (cublasCreate -> cublasCreate_v2) */
#define OML_NAME_OF(fn) OML_NAME_OF_(fn)
#define OML_NAME_OF_(fn) #fn
/* api.fn = lib's fn, or missing = its name */
#define OML_RESOLVE(lib, api, fn, missing) \
  if ((api.fn = (decltype(api.fn))dlsym(lib, OML_NAME_OF(fn))) == NULL && missing == NULL) missing = OML_NAME_OF(fn)

/* Opens the first of names that loads; NULL with the error set. */
static void *open_first(const char *const *names, int n, const char *what) {
  for (int i = 0; i < n; i++) {
    void *lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (lib) return lib;
  }
  oml_error("%s (%s) cannot be loaded: %s", what, names[0], dlerror());
  return NULL;
}

/* The outcome of a load, run once and replayed to every later caller. */
struct load_once {
  std::mutex lock;
  int status = 1; /* 1: not tried yet; then 0 or -1 */
  char error[256];
  template <typename F>
  int run(F load) {
    std::lock_guard<std::mutex> hold(lock);
    if (status == 1 && (status = load()) != 0) snprintf(error, sizeof error, "%s", oml_last_error());
    return status ? oml_error("%s", error) : 0;
  }
};

const oml_cublas_api *oml_cublas;

int oml_cublas_load(void) {
  static load_once once;
  return once.run([] {
    static const char *const names[] = {"libcublas.so." OML_NAME_OF(CUBLAS_VER_MAJOR), "libcublas.so"};
    static oml_cublas_api api;
    void *lib = open_first(names, 2, "cuBLAS");
    if (lib == NULL) return -1;
    const char *missing = NULL;
    OML_RESOLVE(lib, api, cublasCreate, missing);
    OML_RESOLVE(lib, api, cublasDestroy, missing);
    OML_RESOLVE(lib, api, cublasSetStream, missing);
    OML_RESOLVE(lib, api, cublasGetStatusName, missing);
    OML_RESOLVE(lib, api, cublasGemmEx, missing);
    OML_RESOLVE(lib, api, cublasGemmStridedBatchedEx, missing);
    if (missing) return oml_error("cuBLAS (%s) has no %s", names[0], missing);
    oml_cublas = &api;
    return 0;
  });
}

#ifdef OML_WITH_CUDNN

const oml_cudnn_api *oml_cudnn;

int oml_cudnn_load(void) {
  static load_once once;
  return once.run([] {
    static const char *const names[] = {"libcudnn.so." OML_NAME_OF(CUDNN_MAJOR), "libcudnn.so"};
    static oml_cudnn_api api;
    void *lib = open_first(names, 2, "cuDNN");
    if (lib == NULL) return -1;
    const char *missing = NULL;
    OML_RESOLVE(lib, api, cudnnCreate, missing);
    OML_RESOLVE(lib, api, cudnnDestroy, missing);
    OML_RESOLVE(lib, api, cudnnSetStream, missing);
    OML_RESOLVE(lib, api, cudnnGetErrorString, missing);
    OML_RESOLVE(lib, api, cudnnCreateTensorDescriptor, missing);
    OML_RESOLVE(lib, api, cudnnDestroyTensorDescriptor, missing);
    OML_RESOLVE(lib, api, cudnnSetTensor4dDescriptor, missing);
    OML_RESOLVE(lib, api, cudnnCreateFilterDescriptor, missing);
    OML_RESOLVE(lib, api, cudnnDestroyFilterDescriptor, missing);
    OML_RESOLVE(lib, api, cudnnSetFilter4dDescriptor, missing);
    OML_RESOLVE(lib, api, cudnnCreateConvolutionDescriptor, missing);
    OML_RESOLVE(lib, api, cudnnDestroyConvolutionDescriptor, missing);
    OML_RESOLVE(lib, api, cudnnSetConvolution2dDescriptor, missing);
    OML_RESOLVE(lib, api, cudnnSetConvolutionGroupCount, missing);
    OML_RESOLVE(lib, api, cudnnSetConvolutionMathType, missing);
    OML_RESOLVE(lib, api, cudnnGetConvolutionForwardAlgorithm_v7, missing);
    OML_RESOLVE(lib, api, cudnnGetConvolutionForwardWorkspaceSize, missing);
    OML_RESOLVE(lib, api, cudnnConvolutionForward, missing);
    OML_RESOLVE(lib, api, cudnnGetConvolutionBackwardDataAlgorithm_v7, missing);
    OML_RESOLVE(lib, api, cudnnGetConvolutionBackwardDataWorkspaceSize, missing);
    OML_RESOLVE(lib, api, cudnnConvolutionBackwardData, missing);
    OML_RESOLVE(lib, api, cudnnGetConvolutionBackwardFilterAlgorithm_v7, missing);
    OML_RESOLVE(lib, api, cudnnGetConvolutionBackwardFilterWorkspaceSize, missing);
    OML_RESOLVE(lib, api, cudnnConvolutionBackwardFilter, missing);
    if (missing) return oml_error("cuDNN (%s) has no %s", names[0], missing);
    oml_cudnn = &api;
    return 0;
  });
}

#endif

extern "C" const char *oml_cuda_library_error(int32_t which) {
  int rc;
  if (which == OML_CUBLAS) rc = oml_cublas_load();
#ifdef OML_WITH_CUDNN
  else if (which == OML_CUDNN) rc = oml_cudnn_load();
#else
  else if (which == OML_CUDNN) rc = oml_error("oml was built without cuDNN (no cudnn.h)");
#endif
  else rc = oml_error("unknown library %d", which);
  return rc ? oml_last_error() : NULL;
}
