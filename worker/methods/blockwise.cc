#include "worker/methods/blockwise.h"

#include <chrono>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/methods/apiq.h"
#include "worker/methods/lr_qat.h"
#include "worker/methods/lr_schedule.h"
#include "worker/methods/rtn.h"

namespace eqat {

absl::StatusOr<QuantMethod> ParseQuantMethod(const std::string& name) {
  if (name == "rtn") return QuantMethod::kRtn;
  if (name == "gptq") return QuantMethod::kGptq;
  if (name == "efficientqat" || name == "eqat") return QuantMethod::kEfficientQat;
  if (name == "lrqat") return QuantMethod::kLrQat;
  if (name == "apiq") return QuantMethod::kApiq;
  return absl::InvalidArgumentError(
      absl::StrCat("method: '", name, "' is not one of efficientqat, gptq, rtn, lrqat, apiq"));
}

bool IsTrainedMethod(QuantMethod m) {
  return m == QuantMethod::kEfficientQat || m == QuantMethod::kLrQat || m == QuantMethod::kApiq;
}

std::string QuantMethodName(QuantMethod m) {
  switch (m) {
    case QuantMethod::kRtn: return "rtn";
    case QuantMethod::kGptq: return "gptq";
    case QuantMethod::kEfficientQat: return "efficientqat";
    case QuantMethod::kLrQat: return "lrqat";
    case QuantMethod::kApiq: return "apiq";
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

absl::Status CheckQuantizable(const LlamaModel& model, const kernels::QuantSpec& spec) {
  for (int i = 0; i < model.num_blocks(); ++i) {
    for (const auto& [name, lin] : model.block(i).Linears()) {
      if (lin->mode != Linear::Mode::kFloat) {
        return absl::FailedPreconditionError("model: already quantized; give a full-precision model");
      }
      RETURN_IF_ERROR(kernels::ValidateQuantSpecFor(spec, lin->in_features(),
                                                    LinearPrefix(model.first_block() + i, name)));
    }
  }
  return absl::OkStatus();
}

absl::Status EmbedCalibration(const LlamaModel& model, const torch::Tensor& calib_ids,
                              const BlockwiseOptions& o, std::unique_ptr<ActivationStore>* fp,
                              std::unique_ptr<ActivationStore>* q) {
  int64_t n = calib_ids.size(0), len = calib_ids.size(1);
  int64_t hidden = model.config().hidden_size;
  ASSIGN_OR_RETURN(*fp, ActivationStore::Create(n, {len, hidden}, o.cache));
  ASSIGN_OR_RETURN(*q, ActivationStore::Create(n, {len, hidden}, o.cache));
  torch::NoGradGuard ng;
  for (int64_t b = 0; b < n; b += o.batch_size) {
    auto e = model.Embed(calib_ids.narrow(0, b, std::min(o.batch_size, n - b)));
    (*fp)->Write(b, e);
    (*q)->Write(b, e);
  }
  return absl::OkStatus();
}

absl::Status QuantizeBlockRange(LlamaModel* model, ActivationStore* fp, ActivationStore* q,
                                const BlockwiseOptions& o) {
  const ModelConfig& cfg = model->config();
  bool have_data = fp != nullptr && q != nullptr;
  if (!have_data && o.method != QuantMethod::kRtn) {
    return absl::InvalidArgumentError(
        absl::StrCat("calib: method ", QuantMethodName(o.method), " needs calibration data"));
  }
  const bool mixed = o.feed != nullptr && IsTrainedMethod(o.method) && have_data;
  std::unique_ptr<BlockTrainingMethod> trainer;
  switch (o.method) {
    case QuantMethod::kLrQat:
      trainer = std::make_unique<LrQatMethod>(o.rank, o.alpha, o.lrqat_checkpointing);
      break;
    case QuantMethod::kApiq:
      trainer = std::make_unique<ApiqMethod>(o.rank, o.alpha);
      break;
    default:
      break;
  }
  if (o.feed != nullptr && have_data && !mixed) RETURN_IF_ERROR(o.feed->WaitFinal(q));
  for (int local = 0; local < model->num_blocks(); ++local) {
    const int i = model->first_block() + local;
    auto t0 = std::chrono::steady_clock::now();
    Block& block = model->block(local);
    BlockReport r;
    r.block = i;
    r.num_blocks = static_cast<int>(cfg.num_hidden_layers);
    r.output_mse = r.init_val_loss = r.train_loss = r.val_loss = std::nan("");
    if (have_data) {
      // fp pass: fp inputs -> fp targets of this block (in place).
      MapInPlace(fp, o.batch_size, [&](const torch::Tensor& x) { return BlockForward(block, cfg, x); });
    }
    switch (o.method) {
      case QuantMethod::kRtn:
        QuantizeBlockRtn(&block, o.spec);
        break;
      case QuantMethod::kGptq:
        RETURN_IF_ERROR(QuantizeBlockGptq(&block, cfg, *q, o.spec, o.gptq, o.batch_size));
        break;
      case QuantMethod::kEfficientQat:
      case QuantMethod::kLrQat:
      case QuantMethod::kApiq: {
        BlockApOptions bo = o.block_ap;
        bo.spec = o.spec;
        bo.seed = o.block_ap.seed * 131ULL + static_cast<uint64_t>(i);
        if (o.on_step) {
          bo.on_step = [&](int64_t s, int64_t t, double l) { o.on_step(i, s, t, l); };
        }
        if (mixed && local == 0) {
          bo.mixed_inputs = [&](const std::vector<int64_t>& idx, int64_t step, int64_t total) {
            return o.feed->Mixed(idx, AnnealedLambda(step, total, o.anneal_fraction));
          };
        }
        if (local + 1 == model->num_blocks()) bo.on_batch_output = o.on_last_block_output;
        absl::StatusOr<BlockApResult> res =
            TrainBlock(&block, cfg, *q, *fp, bo, trainer ? *trainer : BlockApMethod());
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
    if (mixed && local == 0) o.feed->Snapshot(q);  // latest quant inputs (fp where none yet)
    if (have_data) {
      // quant pass: quant inputs -> quantized block outputs (in place).
      r.output_mse = MapInPlace(
          q, o.batch_size, [&](const torch::Tensor& x) { return BlockForward(block, cfg, x); }, fp);
    }
    if (o.on_block_packed) RETURN_IF_ERROR(o.on_block_packed(i, block));
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (o.on_block_done) o.on_block_done(r);
  }
  if (mixed) {
    // The blocks trained on provisional inputs; the outputs passed on are
    // those of the packed blocks on the previous stage's final outputs.
    RETURN_IF_ERROR(o.feed->WaitFinal(q));
    for (int local = 0; local < model->num_blocks(); ++local) {
      MapInPlace(q, o.batch_size,
                 [&](const torch::Tensor& x) { return BlockForward(model->block(local), cfg, x); });
    }
  }
  return absl::OkStatus();
}

void SetQuantizedConfig(LlamaModel* model, const kernels::QuantSpec& spec) {
  QuantizationConfig& qc = model->mutable_config().quantization;
  qc.present = true;
  qc.quant_method = "gptq";
  qc.bits = spec.bits;
  qc.group_size = spec.group_size;
  qc.sym = false;
  qc.desc_act = false;
  qc.checkpoint_format = "gptq_v2";
}

absl::Status QuantizeBlockwise(LlamaModel* model, const torch::Tensor& calib_ids,
                               const BlockwiseOptions& o) {
  RETURN_IF_ERROR(CheckQuantizable(*model, o.spec));
  std::unique_ptr<ActivationStore> fp, q;
  if (calib_ids.defined() && calib_ids.numel() > 0) {
    RETURN_IF_ERROR(EmbedCalibration(*model, calib_ids, o, &fp, &q));
  }
  RETURN_IF_ERROR(QuantizeBlockRange(model, fp.get(), q.get(), o));
  SetQuantizedConfig(model, o.spec);
  return absl::OkStatus();
}

}  // namespace eqat
