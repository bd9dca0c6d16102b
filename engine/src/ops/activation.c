/* ops/activation.c — activations and softmax: checks and output shapes,
 * then the CPU or CUDA kernels. */
#include "../core/internal.h"
#include "../cpu/activation.h"
#ifdef OML_WITH_CUDA
#include "../cuda/activation.h"
#endif

/* t, or a copy of it in *copy when writing out could change what t reads
 * (they share memory without being the very same view); NULL on failure. */
static const oml_tensor *readable(const oml_tensor *t, const oml_tensor *out, oml_tensor *copy) {
  if (!oml_may_overlap(t, out)) return t;
  return oml_tensor_clone(t, copy) ? NULL : copy;
}

/* grad_out must have the shape, dtype and device of the forward's tensor t */
static int check_grad_out(const oml_tensor *t, const char *what, const oml_tensor *grad_out) {
  if (oml_check_real(grad_out, "grad_output") || oml_check_same_device(t, grad_out)) return -1;
  char a[OML_SHAPE_BUF], b[OML_SHAPE_BUF];
  int same = t->ndim_ == grad_out->ndim_;
  for (int32_t d = 0; same && d < t->ndim_; d++) same = t->size_[d] == grad_out->size_[d];
  if (!same)
    return oml_error("grad_output has shape %s but %s has shape %s", oml_shape_str(grad_out, a), what,
                     oml_shape_str(t, b));
  if (grad_out->dtype_ != t->dtype_)
    return oml_error("grad_output is %s but %s is %s", oml_dtype_name(grad_out->dtype_), what,
                     oml_dtype_name(t->dtype_));
  return 0;
}

static int check_kind(int32_t kind) {
  if (kind < 0 || kind >= OML_NUM_ACTIVATIONS) return oml_error("unknown activation %d", kind);
  return 0;
}

/* ---- the kernels of the output's device ---------------------------------- */

static int activation_forward(const oml_tensor *x, oml_tensor *out, int32_t kind) {
#ifdef OML_WITH_CUDA
  if (out->device_ != OML_CPU) return oml_cuda_activation_forward(x, out, kind);
#endif
  oml_cpu_activation_forward(x, out, kind);
  return 0;
}

static int activation_backward(const oml_tensor *x, const oml_tensor *g, oml_tensor *gi, int32_t kind) {
#ifdef OML_WITH_CUDA
  if (gi->device_ != OML_CPU) return oml_cuda_activation_backward(x, g, gi, kind);
#endif
  oml_cpu_activation_backward(x, g, gi, kind);
  return 0;
}

static int softmax_forward(const oml_tensor *x, oml_tensor *out, int32_t dim, int32_t log) {
#ifdef OML_WITH_CUDA
  if (out->device_ != OML_CPU) return oml_cuda_softmax_forward(x, out, dim, log);
#endif
  oml_cpu_softmax_forward(x, out, dim, log);
  return 0;
}

static int softmax_backward(const oml_tensor *y, const oml_tensor *g, oml_tensor *gi, int32_t dim, int32_t log) {
#ifdef OML_WITH_CUDA
  if (gi->device_ != OML_CPU) return oml_cuda_softmax_backward(y, g, gi, dim, log);
#endif
  oml_cpu_softmax_backward(y, g, gi, dim, log);
  return 0;
}

/* ---- entry points ----------------------------------------------------------- */

int oml_activation_forward(const oml_tensor *input, oml_tensor *out, int32_t kind) {
  if (oml_check_real(input, "the input") || check_kind(kind)) return -1;
  if (out == NULL) return oml_error("no output tensor");
  int fresh = out->storage_ == NULL;
  if (oml_out_prepare(out, input->ndim_, input->size_, input->dtype_, input->device_)) return -1;
  oml_tensor copy = oml_tensor_unset();
  const oml_tensor *x = readable(input, out, &copy);
  int rc = x ? activation_forward(x, out, kind) : -1;
  oml_tensor_release(&copy);
  if (rc && fresh) oml_tensor_release(out);
  return rc;
}

int oml_activation_backward(const oml_tensor *input, const oml_tensor *grad_out, oml_tensor *grad_input,
                            int32_t kind) {
  if (oml_check_real(input, "the input") || check_grad_out(input, "the input", grad_out) || check_kind(kind))
    return -1;
  if (grad_input == NULL) return oml_error("no grad_input tensor");
  int fresh = grad_input->storage_ == NULL;
  if (oml_out_prepare(grad_input, input->ndim_, input->size_, input->dtype_, input->device_)) return -1;
  oml_tensor xc = oml_tensor_unset(), gc = oml_tensor_unset();
  const oml_tensor *x = readable(input, grad_input, &xc);
  const oml_tensor *g = x ? readable(grad_out, grad_input, &gc) : NULL;
  int rc = g ? activation_backward(x, g, grad_input, kind) : -1;
  oml_tensor_release(&xc);
  oml_tensor_release(&gc);
  if (rc && fresh) oml_tensor_release(grad_input);
  return rc;
}

int oml_softmax_forward(const oml_tensor *input, oml_tensor *out, int32_t dim, int32_t log) {
  if (oml_check_real(input, "the input") || oml_check_dim(dim, input->ndim_)) return -1;
  if (out == NULL) return oml_error("no output tensor");
  int fresh = out->storage_ == NULL;
  if (oml_out_prepare(out, input->ndim_, input->size_, input->dtype_, input->device_)) return -1;
  oml_tensor copy = oml_tensor_unset();
  const oml_tensor *x = readable(input, out, &copy);
  int rc = x ? softmax_forward(x, out, dim, log != 0) : -1;
  oml_tensor_release(&copy);
  if (rc && fresh) oml_tensor_release(out);
  return rc;
}

int oml_softmax_backward(const oml_tensor *output, const oml_tensor *grad_out, oml_tensor *grad_input,
                         int32_t dim, int32_t log) {
  if (oml_check_real(output, "the output") || check_grad_out(output, "the output", grad_out) ||
      oml_check_dim(dim, output->ndim_))
    return -1;
  if (grad_input == NULL) return oml_error("no grad_input tensor");
  int fresh = grad_input->storage_ == NULL;
  if (oml_out_prepare(grad_input, output->ndim_, output->size_, output->dtype_, output->device_)) return -1;
  oml_tensor yc = oml_tensor_unset(), gc = oml_tensor_unset();
  const oml_tensor *y = readable(output, grad_input, &yc);
  const oml_tensor *g = y ? readable(grad_out, grad_input, &gc) : NULL;
  int rc = g ? softmax_backward(y, g, grad_input, dim, log != 0) : -1;
  oml_tensor_release(&yc);
  oml_tensor_release(&gc);
  if (rc && fresh) oml_tensor_release(grad_input);
  return rc;
}
