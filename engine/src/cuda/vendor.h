/* cuda/vendor.h — cuBLAS and cuDNN, loaded when first used (dlopen) rather
 * than linked: a CUDA build used on the CPU never maps them (they add about
 * 150 MB resident and 0.1 s at start), and a machine without cuDNN still
 * runs (convolutions then take oml's own kernel). The tables hold the
 * functions oml calls, under their own names (cublasCreate is cuBLAS's
 * macro for cublasCreate_v2: the member follows it). C++ only. */
#ifndef OML_CUDA_VENDOR_H
#define OML_CUDA_VENDOR_H

#include <cublas_v2.h>
#ifdef OML_WITH_CUDNN
#include <cudnn.h>
#endif

/* the C entry points (C++ overloads them with inline helpers) */
typedef cublasStatus_t (*oml_cublas_gemm_ex)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
                                             const void *, const void *, cudaDataType, int, const void *, cudaDataType,
                                             int, const void *, void *, cudaDataType, int, cublasComputeType_t,
                                             cublasGemmAlgo_t);
typedef cublasStatus_t (*oml_cublas_gemm_strided_batched_ex)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int,
                                                             int, int, const void *, const void *, cudaDataType, int,
                                                             long long, const void *, cudaDataType, int, long long,
                                                             const void *, void *, cudaDataType, int, long long, int,
                                                             cublasComputeType_t, cublasGemmAlgo_t);

struct oml_cublas_api {
  decltype(&::cublasCreate) cublasCreate;
  decltype(&::cublasDestroy) cublasDestroy;
  decltype(&::cublasSetStream) cublasSetStream;
  decltype(&::cublasGetStatusName) cublasGetStatusName;
  oml_cublas_gemm_ex cublasGemmEx;
  oml_cublas_gemm_strided_batched_ex cublasGemmStridedBatchedEx;
};
/* Set once oml_cublas_load() succeeded. */
extern const oml_cublas_api *oml_cublas;
/* 0 when cuBLAS is loaded, else -1 with an error naming the library. */
int oml_cublas_load(void);

#ifdef OML_WITH_CUDNN
struct oml_cudnn_api {
  decltype(&::cudnnCreate) cudnnCreate;
  decltype(&::cudnnDestroy) cudnnDestroy;
  decltype(&::cudnnSetStream) cudnnSetStream;
  decltype(&::cudnnGetErrorString) cudnnGetErrorString;
  decltype(&::cudnnCreateTensorDescriptor) cudnnCreateTensorDescriptor;
  decltype(&::cudnnDestroyTensorDescriptor) cudnnDestroyTensorDescriptor;
  decltype(&::cudnnSetTensor4dDescriptor) cudnnSetTensor4dDescriptor;
  decltype(&::cudnnCreateFilterDescriptor) cudnnCreateFilterDescriptor;
  decltype(&::cudnnDestroyFilterDescriptor) cudnnDestroyFilterDescriptor;
  decltype(&::cudnnSetFilter4dDescriptor) cudnnSetFilter4dDescriptor;
  decltype(&::cudnnCreateConvolutionDescriptor) cudnnCreateConvolutionDescriptor;
  decltype(&::cudnnDestroyConvolutionDescriptor) cudnnDestroyConvolutionDescriptor;
  decltype(&::cudnnSetConvolution2dDescriptor) cudnnSetConvolution2dDescriptor;
  decltype(&::cudnnSetConvolutionGroupCount) cudnnSetConvolutionGroupCount;
  decltype(&::cudnnSetConvolutionMathType) cudnnSetConvolutionMathType;
  decltype(&::cudnnGetConvolutionForwardAlgorithm_v7) cudnnGetConvolutionForwardAlgorithm_v7;
  decltype(&::cudnnGetConvolutionForwardWorkspaceSize) cudnnGetConvolutionForwardWorkspaceSize;
  decltype(&::cudnnConvolutionForward) cudnnConvolutionForward;
  decltype(&::cudnnGetConvolutionBackwardDataAlgorithm_v7) cudnnGetConvolutionBackwardDataAlgorithm_v7;
  decltype(&::cudnnGetConvolutionBackwardDataWorkspaceSize) cudnnGetConvolutionBackwardDataWorkspaceSize;
  decltype(&::cudnnConvolutionBackwardData) cudnnConvolutionBackwardData;
  decltype(&::cudnnGetConvolutionBackwardFilterAlgorithm_v7) cudnnGetConvolutionBackwardFilterAlgorithm_v7;
  decltype(&::cudnnGetConvolutionBackwardFilterWorkspaceSize) cudnnGetConvolutionBackwardFilterWorkspaceSize;
  decltype(&::cudnnConvolutionBackwardFilter) cudnnConvolutionBackwardFilter;
};
/* Set once oml_cudnn_load() succeeded. */
extern const oml_cudnn_api *oml_cudnn;
/* 0 when cuDNN is loaded, else -1 with the error set (callers fall back to
 * oml's kernels). */
int oml_cudnn_load(void);
#endif

#endif
