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

namespace {

// store[i] = fn(store[i]) in batches; returns the mean squared difference
// to `ref` when given.
double MapInPlace(ActivationStore* store, int64_t batch,
                  const std::function<torch::Tensor(const torch::Tensor&)>& fn,
                  const ActivationStore* ref = nullptr) {
  torch::NoGradGuard ng;
  double sq = 0;
  int64_t elems = 0;
  for (int64_t b = 0; b < store->size(); b += batch) {
    int64_t n = std::min(batch, store->size() - b);
    auto out = fn(store->Read(b, n));
    if (ref != nullptr) {
      sq += (out.to(torch::kCPU) - ref->Read(b, n)).pow(2).sum().item<double>();
      elems += out.numel();
    }
    store->Write(b, out);
  }
  return elems > 0 ? sq / static_cast<double>(elems) : std::nan("");
}

}  // namespace

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
  std::unique_ptr<ActivationStore> fp, q;
  if (have_data) {
    int64_t n = calib_ids.size(0), len = calib_ids.size(1);
    ASSIGN_OR_RETURN(fp, ActivationStore::Create(n, {len, cfg.hidden_size}, o.cache));
    ASSIGN_OR_RETURN(q, ActivationStore::Create(n, {len, cfg.hidden_size}, o.cache));
    torch::NoGradGuard ng;
    for (int64_t b = 0; b < n; b += o.batch_size) {
      auto e = model->Embed(calib_ids.narrow(0, b, std::min(o.batch_size, n - b)));
      fp->Write(b, e);
      q->Write(b, e);
    }
  }
  for (int i = 0; i < model->num_blocks(); ++i) {
    auto t0 = std::chrono::steady_clock::now();
    Block& block = model->block(i);
    BlockReport r;
    r.block = i;
    r.num_blocks = model->num_blocks();
    r.output_mse = r.init_val_loss = r.train_loss = r.val_loss = std::nan("");
    if (have_data) {
      // fp pass: fp inputs -> fp targets of this block (in place).
      MapInPlace(fp.get(), o.batch_size,
                 [&](const torch::Tensor& x) { return BlockForward(block, cfg, x); });
    }
    switch (o.method) {
      case QuantMethod::kRtn:
        QuantizeBlockRtn(&block, o.spec);
        break;
      case QuantMethod::kGptq:
        RETURN_IF_ERROR(QuantizeBlockGptq(&block, cfg, *q, o.spec, o.gptq, o.batch_size));
        break;
      case QuantMethod::kEfficientQat: {
        BlockApOptions bo = o.block_ap;
        bo.spec = o.spec;
        bo.seed = o.block_ap.seed * 131ULL + static_cast<uint64_t>(i);
        if (o.on_step) {
          bo.on_step = [&](int64_t s, int64_t t, double l) { o.on_step(i, s, t, l); };
        }
        absl::StatusOr<BlockApResult> res = TrainBlockAp(&block, cfg, *q, *fp, bo);
        if (!res.ok()) {
          return absl::Status(res.status().code(),
                              absl::StrCat("block ", i, ": ", res.status().message()));
        }
        r.init_val_loss = res->init_val_loss;
        r.train_loss = res->train_loss;
        r.val_loss = res->val_loss;
        r.attempts = res->attempts;
        break;
      }
    }
    if (have_data) {
      // quant pass: quant inputs -> quantized block outputs (in place).
      r.output_mse = MapInPlace(
          q.get(), o.batch_size, [&](const torch::Tensor& x) { return BlockForward(block, cfg, x); },
          fp.get());
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
