#include "worker/methods/block_ap.h"

#include <cmath>
#include <numeric>
#include <random>

#include "absl/strings/str_cat.h"
#include "worker/methods/loss_scaler.h"
#include "worker/methods/lr_schedule.h"
#include "worker/methods/rtn.h"

namespace eqat {

void BlockTrainingMethod::AfterStep(Block* block) const {
  for (auto& [name, lin] : block->Linears()) {
    if (lin->scale.defined()) lin->scale.clamp_(1e-4, 1e4);
  }
}

namespace {

// EfficientQAT Block-AP: weights, norms, s and z all train.
class BlockAp final : public BlockTrainingMethod {
 public:
  const char* name() const override { return "block-ap"; }

  void Prepare(Block* b, const kernels::QuantSpec& spec, std::vector<torch::Tensor>* quant,
               std::vector<torch::Tensor>* other) const override {
    for (auto& [name, lin] : b->Linears()) {
      kernels::QuantParams p = kernels::InitMinMax(lin->weight, spec);
      lin->mode = Linear::Mode::kFakeQuant;
      lin->spec = spec;
      lin->scale = p.scale.requires_grad_(true);
      lin->zero = p.zero.requires_grad_(true);
      lin->weight.requires_grad_(true);
      other->push_back(lin->weight);
      quant->push_back(lin->scale);
      quant->push_back(lin->zero);
    }
    for (torch::Tensor* t : {&b->input_norm, &b->post_norm, &b->q_norm, &b->k_norm}) {
      if (!t->defined()) continue;  // q_norm / k_norm: Qwen3 only
      t->requires_grad_(true);
      other->push_back(*t);
    }
  }

  void Finish(Block* b, const kernels::QuantSpec& spec) const override {
    // Fold: round/clamp z, pick codes with the trained s, pack.
    for (auto& [name, lin] : b->Linears()) {
      PackLinearInPlace(lin, lin->weight.detach(), lin->scale.detach(), lin->zero.detach(), spec);
    }
    for (torch::Tensor* t : {&b->input_norm, &b->post_norm, &b->q_norm, &b->k_norm}) {
      if (t->defined()) *t = t->detach();
    }
  }
};

double Loss(Block& b, const ModelConfig& c, const torch::Tensor& x, const torch::Tensor& y,
            const BlockApOptions& o, const BlockTrainingMethod& m, torch::Tensor* loss_out,
            torch::Tensor* out_copy = nullptr) {
  m.BeforeForward(&b);
  AutocastGuard ac(o.precision, o.device);
  auto out = BlockForward(b, c, x);
  auto loss = torch::mse_loss(out.to(torch::kFloat), y);
  if (loss_out != nullptr) *loss_out = loss;
  if (out_copy != nullptr) *out_copy = out.detach().to(torch::kCPU, torch::kFloat);
  return loss.item<double>();
}

using GatherFn = std::function<torch::Tensor(const std::vector<int64_t>&)>;

double ValLoss(Block& b, const ModelConfig& c, const GatherFn& in, const ActivationStore& tgt,
               const std::vector<int64_t>& idx, const BlockApOptions& o,
               const BlockTrainingMethod& m) {
  if (idx.empty()) return std::nan("");
  torch::NoGradGuard ng;
  double sum = 0;
  for (size_t i = 0; i < idx.size(); i += o.batch_size) {
    std::vector<int64_t> part(idx.begin() + i, idx.begin() + std::min(idx.size(), i + o.batch_size));
    auto x = in(part).to(o.device);
    auto y = tgt.Gather(part).to(o.device);
    sum += Loss(b, c, x, y, o, m, nullptr) * static_cast<double>(part.size());
  }
  return sum / static_cast<double>(idx.size());
}

}  // namespace

const BlockTrainingMethod& BlockApMethod() {
  static const BlockAp* m = new BlockAp();
  return *m;
}

absl::StatusOr<BlockApResult> TrainBlockAp(Block* block, const ModelConfig& c,
                                           const ActivationStore& inputs,
                                           const ActivationStore& targets,
                                           const BlockApOptions& o) {
  return TrainBlock(block, c, inputs, targets, o, BlockApMethod());
}

absl::StatusOr<BlockApResult> TrainBlock(Block* block, const ModelConfig& c,
                                         const ActivationStore& inputs,
                                         const ActivationStore& targets,
                                         const BlockApOptions& o,
                                         const BlockTrainingMethod& method) {
  const int64_t n = inputs.size();
  if (targets.size() != n || n < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(method.name(), ": inputs and targets must hold the same samples"));
  }
  if (o.epochs < 1 || o.batch_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(method.name(), ": epochs and batch size must be >= 1"));
  }
  const int64_t n_val = o.val_count;
  if (n_val < 0 || n_val >= n) {
    return absl::InvalidArgumentError(absl::StrCat(
        method.name(), ": ", n_val, " validation windows leave no training window of ", n));
  }
  const int64_t n_train = n - n_val;
  std::vector<int64_t> train_idx(n_train), val_idx(n_val);
  std::iota(train_idx.begin(), train_idx.end(), 0);
  std::iota(val_idx.begin(), val_idx.end(), n_train);
  double weight_lr = o.weight_lr > 0 ? o.weight_lr : DefaultWeightLearningRate(o.spec.bits);
  int64_t steps_per_epoch = (n_train + o.batch_size - 1) / o.batch_size;
  int64_t total = o.epochs * steps_per_epoch;
  const GatherFn stored = [&](const std::vector<int64_t>& idx) { return inputs.Gather(idx); };
  const GatherFn at_end = [&](const std::vector<int64_t>& idx) {
    return o.mixed_inputs ? o.mixed_inputs(idx, total, total) : inputs.Gather(idx);
  };
  const bool fp16 = o.precision == TrainPrecision::kFp16 && o.device.is_cuda();

  BlockApResult res;
  for (int attempt = 0; attempt < 2; ++attempt) {
    double scale = attempt == 0 ? 1.0 : 0.5;
    double qlr = o.quant_lr * scale, wlr = weight_lr * scale;
    Block st = block->To(o.device);
    std::vector<torch::Tensor> quant, other;
    method.Prepare(&st, o.spec, &quant, &other);
    if (attempt == 0) res.init_val_loss = ValLoss(st, c, stored, targets, val_idx, o, method);
    std::vector<torch::Tensor> all = quant;
    all.insert(all.end(), other.begin(), other.end());
    std::vector<torch::optim::OptimizerParamGroup> groups;
    groups.emplace_back(quant, std::make_unique<torch::optim::AdamWOptions>(
                                   torch::optim::AdamWOptions(qlr).weight_decay(o.weight_decay)));
    groups.emplace_back(other, std::make_unique<torch::optim::AdamWOptions>(
                                   torch::optim::AdamWOptions(wlr).weight_decay(o.weight_decay)));
    torch::optim::AdamW opt(std::move(groups));
    LossScaler scaler(fp16);
    bool failed = false;
    int64_t step = 0;
    double epoch_loss = 0;
    for (int64_t e = 0; e < o.epochs && !failed; ++e) {
      std::vector<int64_t> perm = train_idx;
      if (o.shuffle_each_epoch) {
        std::mt19937_64 rng(o.seed * 1000003ULL + static_cast<uint64_t>(e));
        for (size_t i = perm.size(); i > 1; --i) std::swap(perm[i - 1], perm[rng() % i]);
      }
      epoch_loss = 0;
      for (int64_t b = 0; b < steps_per_epoch; ++b, ++step) {
        std::vector<int64_t> idx(perm.begin() + b * o.batch_size,
                                 perm.begin() + std::min<int64_t>(n_train, (b + 1) * o.batch_size));
        auto x = (o.mixed_inputs ? o.mixed_inputs(idx, step, total) : inputs.Gather(idx)).to(o.device);
        auto y = targets.Gather(idx).to(o.device);
        for (size_t g = 0; g < 2; ++g) {
          double base = g == 0 ? qlr : wlr;
          static_cast<torch::optim::AdamWOptions&>(opt.param_groups()[g].options())
              .lr(CosineLr(base, base * o.min_lr_ratio, step, total));
        }
        torch::Tensor loss, out;
        double lv = Loss(st, c, x, y, o, method, &loss, o.on_batch_output ? &out : nullptr);
        if (step == o.inject_nan_at_step && attempt == 0) lv = std::nan("");
        if (!std::isfinite(lv)) {
          failed = true;
          break;
        }
        opt.zero_grad();
        scaler.Scale(loss).backward();
        if (scaler.Unscale(all)) {
          opt.step();
          torch::NoGradGuard ng;
          method.AfterStep(&st);
        }
        epoch_loss += lv;
        if (o.on_batch_output) o.on_batch_output(idx, out);
        if (o.on_step) o.on_step(step + 1, total, lv);
      }
    }
    if (failed) {
      res.attempts = attempt + 2;
      continue;
    }
    res.attempts = attempt + 1;
    res.steps = total;
    res.skipped_steps = scaler.skipped();
    res.train_loss = epoch_loss / static_cast<double>(steps_per_epoch);
    res.val_loss = ValLoss(st, c, at_end, targets, val_idx, o, method);
    Block trained = st.To(torch::kCPU);
    method.Finish(&trained, o.spec);
    *block = std::move(trained);
    return res;
  }
  return absl::AbortedError(absl::StrCat(
      method.name(),
      ": the loss became non-finite twice (second try at half the learning rates); "
      "lower --quant-lr / --weight-lr or check the model's weights"));
}

}  // namespace eqat
