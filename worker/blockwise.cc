#include "worker/blockwise.h"

#include <chrono>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/rtn.h"

namespace eqat {

absl::StatusOr<QuantMethod> ParseQuantMethod(const std::string& name) {
  if (name == "rtn") return QuantMethod::kRtn;
  if (name == "gptq") return QuantMethod::kGptq;
  if (name == "efficientqat" || name == "eqat") return QuantMethod::kEfficientQat;
  return absl::InvalidArgumentError(
      absl::StrCat("method: '", name, "' is not one of efficientqat, gptq, rtn"));
}

std::string QuantMethodName(QuantMethod m) {
  switch (m) {
    case QuantMethod::kRtn: return "rtn";
    case QuantMethod::kGptq: return "gptq";
    case QuantMethod::kEfficientQat: return "efficientqat";
  }
  return "?";
}

torch::Tensor MapBatches(const torch::Tensor& x, int64_t batch,
                         const std::function<torch::Tensor(const torch::Tensor&)>& fn) {
  std::vector<torch::Tensor> outs;
  for (int64_t b = 0; b < x.size(0); b += batch) {
    outs.push_back(fn(x.narrow(0, b, std::min(batch, x.size(0) - b))));
  }
  return torch::cat(outs, 0);
}

absl::Status QuantizeBlockwise(LlamaModel* model, const torch::Tensor& calib_ids,
                               const BlockwiseOptions& o) {
  const ModelConfig& cfg = model->config();
  for (int i = 0; i < model->num_blocks(); ++i) {
    for (auto& [name, lin] : model->block(i).Linears()) {
      if (lin->mode != Linear::Mode::kFloat) {
        return absl::FailedPreconditionError("model: already quantized; give a full-precision model");
      }
      RETURN_IF_ERROR(kernels::ValidateQuantSpecFor(o.spec, lin->in_features(),
                                                    LinearPrefix(i, name)));
    }
  }
  bool have_data = calib_ids.defined() && calib_ids.numel() > 0;
  if (!have_data && o.method != QuantMethod::kRtn) {
    return absl::InvalidArgumentError(
        absl::StrCat("calib: method ", QuantMethodName(o.method), " needs calibration data"));
  }
  torch::NoGradGuard ng;
  torch::Tensor fp_in, q_in;
  if (have_data) {
    fp_in = MapBatches(calib_ids, o.batch_size, [&](const torch::Tensor& ids) { return model->Embed(ids); });
    q_in = fp_in;
  }
  for (int i = 0; i < model->num_blocks(); ++i) {
    auto t0 = std::chrono::steady_clock::now();
    Block& block = model->block(i);
    torch::Tensor fp_out;
    if (have_data) {
      fp_out = MapBatches(fp_in, o.batch_size,
                          [&](const torch::Tensor& x) { return BlockForward(block, cfg, x); });
    }
    switch (o.method) {
      case QuantMethod::kRtn:
        QuantizeBlockRtn(&block, o.spec);
        break;
      case QuantMethod::kGptq:
        RETURN_IF_ERROR(QuantizeBlockGptq(&block, cfg, q_in, o.spec, o.gptq, o.batch_size));
        break;
      case QuantMethod::kEfficientQat:
        return absl::UnimplementedError("efficientqat: use the Block-AP trainer");
    }
    BlockReport r;
    r.block = i;
    r.num_blocks = model->num_blocks();
    r.output_mse = std::nan("");
    r.train_loss = std::nan("");
    r.val_loss = std::nan("");
    if (have_data) {
      q_in = MapBatches(q_in, o.batch_size,
                        [&](const torch::Tensor& x) { return BlockForward(block, cfg, x); });
      r.output_mse = (q_in - fp_out).pow(2).mean().item<double>();
      fp_in = fp_out;
    }
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (o.on_block_done) o.on_block_done(r);
  }
  QuantizationConfig& qc = model->mutable_config().quantization;
  qc.present = true;
  qc.quant_method = "gptq";
  qc.bits = o.spec.bits;
  qc.group_size = o.spec.group_size;
  qc.sym = false;
  qc.desc_act = false;
  qc.checkpoint_format = "gptq_v2";
  return absl::OkStatus();
}

}  // namespace eqat
