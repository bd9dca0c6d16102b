/* ops/interpolate.c — bicubic interpolation of [N,C,H,W]: checks and output
 * shapes, then the CPU or CUDA kernels. */
#include "../core/internal.h"
#include "../cpu/interpolate.h"
#ifdef OML_WITH_CUDA
#include "../cuda/interpolate.h"
#endif

#include <math.h>

static int check_geometry(int64_t h, int64_t w, int64_t out_h, int64_t out_w, double scale_h, double scale_w) {
  if (h < 1 || w < 1) return oml_error("the input's height and width must be >= 1 (got %lld x %lld)", (long long)h,
                                       (long long)w);
  if (out_h < 1 || out_w < 1)
    return oml_error("the output size must be >= 1 (got %lld x %lld)", (long long)out_h, (long long)out_w);
  if (!(scale_h >= 0 && scale_w >= 0) || isinf(scale_h) || isinf(scale_w))
    return oml_error("scale factors must be finite and > 0, or 0 for none (got %g, %g)", scale_h, scale_w);
  return 0;
}

int oml_interpolate_bicubic_forward(const oml_tensor *input, oml_tensor *out, int64_t out_h, int64_t out_w,
                                    int32_t align_corners, double scale_h, double scale_w) {
  char s[OML_SHAPE_BUF];
  if (oml_check_real(input, "the input")) return -1;
  if (input->ndim_ != 4) return oml_error("the input must be 4-d [N,C,H,W] (got %s)", oml_shape_str(input, s));
  if (check_geometry(input->size_[2], input->size_[3], out_h, out_w, scale_h, scale_w)) return -1;
  if (out == NULL) return oml_error("no output tensor");
  int64_t size[4] = {input->size_[0], input->size_[1], out_h, out_w};
  int fresh = out->storage_ == NULL;
  if (oml_out_prepare(out, 4, size, input->dtype_, input->device_)) return -1;
  oml_tensor copy = oml_tensor_unset();
  int rc = 0;
  const oml_tensor *x = input;
  if (input->storage_ == out->storage_) { /* every output reads 16 inputs: any sharing needs a copy */
    rc = oml_tensor_clone(input, &copy);
    x = &copy;
  }
#ifdef OML_WITH_CUDA
  if (rc == 0 && out->device_ != OML_CPU)
    rc = oml_cuda_interpolate_bicubic_forward(x, out, align_corners != 0, scale_h, scale_w);
  else
#endif
  if (rc == 0) rc = oml_cpu_interpolate_bicubic_forward(x, out, align_corners != 0, scale_h, scale_w);
  oml_tensor_release(&copy);
  if (rc && fresh) oml_tensor_release(out);
  return rc;
}

int oml_interpolate_bicubic_backward(const oml_tensor *grad_out, oml_tensor *grad_input, int64_t in_h, int64_t in_w,
                                     int32_t align_corners, double scale_h, double scale_w) {
  char s[OML_SHAPE_BUF];
  if (oml_check_real(grad_out, "grad_output")) return -1;
  if (grad_out->ndim_ != 4)
    return oml_error("grad_output must be 4-d [N,C,H,W] (got %s)", oml_shape_str(grad_out, s));
  if (check_geometry(in_h, in_w, grad_out->size_[2], grad_out->size_[3], scale_h, scale_w)) return -1;
  if (grad_input == NULL) return oml_error("no grad_input tensor");
  int64_t size[4] = {grad_out->size_[0], grad_out->size_[1], in_h, in_w};
  int fresh = grad_input->storage_ == NULL;
  if (oml_out_prepare(grad_input, 4, size, grad_out->dtype_, grad_out->device_)) return -1;
  oml_tensor copy = oml_tensor_unset();
  int rc = 0;
  const oml_tensor *g = grad_out;
  if (grad_out->storage_ == grad_input->storage_) {
    rc = oml_tensor_clone(grad_out, &copy);
    g = &copy;
  }
#ifdef OML_WITH_CUDA
  if (rc == 0 && grad_input->device_ != OML_CPU)
    rc = oml_cuda_interpolate_bicubic_backward(g, grad_input, align_corners != 0, scale_h, scale_w);
  else
#endif
  if (rc == 0) rc = oml_cpu_interpolate_bicubic_backward(g, grad_input, align_corners != 0, scale_h, scale_w);
  oml_tensor_release(&copy);
  if (rc && fresh) oml_tensor_release(grad_input);
  return rc;
}
