#include "worker/methods/block_ap.h"

#include <cmath>
#include <numeric>
#include <random>

#include "absl/strings/str_cat.h"
#include "worker/model/autocast.h"
#include "worker/methods/lr_schedule.h"
#include "worker/methods/rtn.h"

namespace eqat {


namespace {

struct TrainState {
  Block block;
  std::vector<torch::Tensor> weights, quant;
};

TrainState Prepare(const Block& src, const BlockApOptions& o) {
  TrainState st;
  st.block = src.To(o.device);
  for (auto& [name, lin] : st.block.Linears()) {
    kernels::QuantParams p = kernels::InitMinMax(lin->weight, o.spec);
    lin->mode = Linear::Mode::kFakeQuant;
    lin->spec = o.spec;
    lin->scale = p.scale.requires_grad_(true);
    lin->zero = p.zero.requires_grad_(true);
    lin->weight.requires_grad_(true);
    st.weights.push_back(lin->weight);
    st.quant.push_back(lin->scale);
    st.quant.push_back(lin->zero);
  }
  st.block.input_norm.requires_grad_(true);
  st.block.post_norm.requires_grad_(true);
  st.weights.push_back(st.block.input_norm);
  st.weights.push_back(st.block.post_norm);
  for (torch::Tensor* t : {&st.block.q_norm, &st.block.k_norm}) {  // Qwen3 only
    if (!t->defined()) continue;
    t->requires_grad_(true);
    st.weights.push_back(*t);
  }
  return st;
}

double Loss(const Block& b, const ModelConfig& c, const torch::Tensor& x, const torch::Tensor& y,
            const BlockApOptions& o, torch::Tensor* loss_out, torch::Tensor* out_copy = nullptr) {
  AutocastGuard ac(o.autocast, o.device);
  auto out = BlockForward(b, c, x);
  auto loss = torch::mse_loss(out.to(torch::kFloat), y);
  if (loss_out != nullptr) *loss_out = loss;
  if (out_copy != nullptr) *out_copy = out.detach().to(torch::kCPU, torch::kFloat);
  return loss.item<double>();
}

using GatherFn = std::function<torch::Tensor(const std::vector<int64_t>&)>;

double ValLoss(const Block& b, const ModelConfig& c, const GatherFn& in,
               const ActivationStore& tgt, const std::vector<int64_t>& idx,
               const BlockApOptions& o) {
  if (idx.empty()) return std::nan("");
  torch::NoGradGuard ng;
  double sum = 0;
  for (size_t i = 0; i < idx.size(); i += o.batch_size) {
    std::vector<int64_t> part(idx.begin() + i, idx.begin() + std::min(idx.size(), i + o.batch_size));
    auto x = in(part).to(o.device);
    auto y = tgt.Gather(part).to(o.device);
    sum += Loss(b, c, x, y, o, nullptr) * static_cast<double>(part.size());
  }
  return sum / static_cast<double>(idx.size());
}

}  // namespace

absl::StatusOr<BlockApResult> TrainBlockAp(Block* block, const ModelConfig& c,
                                           const ActivationStore& inputs,
                                           const ActivationStore& targets,
                                           const BlockApOptions& o) {
  int64_t n = inputs.size();
  if (targets.size() != n || n < 1) {
    return absl::InvalidArgumentError("block-ap: inputs and targets must hold the same samples");
  }
  if (o.epochs < 1 || o.batch_size < 1) {
    return absl::InvalidArgumentError("block-ap: epochs and batch size must be >= 1");
  }
  int64_t n_val = n >= 2 ? std::max<int64_t>(1, std::llround(n * o.val_fraction)) : 0;
  if (o.val_fraction <= 0) n_val = 0;
  int64_t n_train = n - n_val;
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

  BlockApResult res;
  for (int attempt = 0; attempt < 2; ++attempt) {
    double scale = attempt == 0 ? 1.0 : 0.5;
    double qlr = o.quant_lr * scale, wlr = weight_lr * scale;
    TrainState st = Prepare(*block, o);
    if (attempt == 0) res.init_val_loss = ValLoss(st.block, c, stored, targets, val_idx, o);
    std::vector<torch::optim::OptimizerParamGroup> groups;
    groups.emplace_back(st.quant, std::make_unique<torch::optim::AdamWOptions>(
                                      torch::optim::AdamWOptions(qlr).weight_decay(o.weight_decay)));
    groups.emplace_back(st.weights, std::make_unique<torch::optim::AdamWOptions>(
                                        torch::optim::AdamWOptions(wlr).weight_decay(o.weight_decay)));
    torch::optim::AdamW opt(std::move(groups));
    bool failed = false;
    int64_t step = 0;
    double epoch_loss = 0;
    for (int64_t e = 0; e < o.epochs && !failed; ++e) {
      std::vector<int64_t> perm = train_idx;
      std::mt19937_64 rng(o.seed * 1000003ULL + static_cast<uint64_t>(e));
      for (size_t i = perm.size(); i > 1; --i) std::swap(perm[i - 1], perm[rng() % i]);
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
        double lv = Loss(st.block, c, x, y, o, &loss, o.on_batch_output ? &out : nullptr);
        if (step == o.inject_nan_at_step && attempt == 0) lv = std::nan("");
        if (!std::isfinite(lv)) {
          failed = true;
          break;
        }
        opt.zero_grad();
        loss.backward();
        opt.step();
        {
          torch::NoGradGuard ng;
          for (auto& [name, lin] : st.block.Linears()) lin->scale.clamp_(1e-4, 1e4);
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
    res.train_loss = epoch_loss / static_cast<double>(steps_per_epoch);
    res.val_loss = ValLoss(st.block, c, at_end, targets, val_idx, o);
    // Fold: round/clamp z, pick codes with the trained s, pack (on the CPU).
    Block trained = st.block.To(torch::kCPU);
    for (auto& [name, lin] : trained.Linears()) {
      PackLinearInPlace(lin, lin->weight.detach(), lin->scale.detach(), lin->zero.detach(), o.spec);
    }
    trained.input_norm = trained.input_norm.detach();
    trained.post_norm = trained.post_norm.detach();
    if (trained.q_norm.defined()) trained.q_norm = trained.q_norm.detach();
    if (trained.k_norm.defined()) trained.k_norm = trained.k_norm.detach();
    *block = std::move(trained);
    return res;
  }
  return absl::AbortedError(
      "block-ap: the loss became non-finite twice (second try at half the learning rates); "
      "lower --quant-lr / --weight-lr or check the model's weights");
}

}  // namespace eqat
