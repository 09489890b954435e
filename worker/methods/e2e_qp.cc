#include "worker/methods/e2e_qp.h"

#include <cmath>
#include <numeric>
#include <random>

#include "absl/strings/str_cat.h"
#include "worker/model/autocast.h"
#include "worker/methods/loss_scaler.h"
#include "worker/methods/lr_schedule.h"

namespace eqat {


torch::Tensor MaskedLmLoss(const torch::Tensor& logits, const torch::Tensor& ids,
                           const torch::Tensor& mask) {
  int64_t T = logits.size(1);
  auto pred = logits.narrow(1, 0, T - 1).to(torch::kFloat);
  auto target = ids.narrow(1, 1, T - 1);
  auto m = mask.narrow(1, 1, T - 1).to(torch::kFloat);
  auto nll = torch::nn::functional::cross_entropy(
      pred.reshape({-1, pred.size(-1)}), target.reshape({-1}),
      torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
  auto mf = m.reshape({-1});
  return (nll * mf).sum() / mf.sum().clamp_min(1.0);
}

namespace {

// The tensors of `b` that E2E trains: the packed step sizes, or (lora) the
// LoRA factors of the linears that have them.
std::vector<torch::Tensor> TrainedTensors(const Block& b, bool lora) {
  std::vector<torch::Tensor> out;
  for (const auto& [name, lin] : b.Linears()) {
    if (!lora) {
      out.push_back(lin->packed.scales);
    } else if (lin->has_lora()) {
      out.push_back(lin->lora_a);
      out.push_back(lin->lora_b);
    }
  }
  return out;
}

// Recomputes one block in backward instead of keeping its activations.
// Inputs: the hidden state and the block's trained tensors (TrainedTensors).
class CheckpointedBlock : public torch::autograd::Function<CheckpointedBlock> {
 public:
  // `trained` must be an at::TensorList: LibTorch only tracks tensors passed
  // as Tensor / TensorList, and the trained tensors need their gradients.
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor x,
                               at::TensorList trained, const Block* block,
                               const ModelConfig* config, bool lora) {
    ctx->saved_data["block"] = reinterpret_cast<int64_t>(block);
    ctx->saved_data["config"] = reinterpret_cast<int64_t>(config);
    ctx->saved_data["lora"] = lora;
    ctx->save_for_backward({x});
    torch::NoGradGuard ng;
    return BlockForward(*block, *config, x);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    const Block* block = reinterpret_cast<const Block*>(ctx->saved_data["block"].toInt());
    const ModelConfig* config =
        reinterpret_cast<const ModelConfig*>(ctx->saved_data["config"].toInt());
    auto x = ctx->get_saved_variables()[0].detach().requires_grad_(true);
    std::vector<torch::Tensor> inputs = {x};
    for (auto& t : TrainedTensors(*block, ctx->saved_data["lora"].toBool())) inputs.push_back(t);
    torch::Tensor out;
    {
      torch::AutoGradMode on(true);
      out = BlockForward(*block, *config, x);
    }
    auto grads = torch::autograd::grad({out}, inputs, {grad_out[0]});
    torch::autograd::variable_list result = {grads[0]};
    for (size_t i = 1; i < grads.size(); ++i) result.push_back(grads[i]);
    result.push_back(torch::Tensor());  // block
    result.push_back(torch::Tensor());  // config
    result.push_back(torch::Tensor());  // lora
    return result;
  }
};

torch::Tensor ForwardLogits(const LlamaModel& m, const torch::Tensor& ids, bool checkpointing,
                            bool lora) {
  auto h = m.Embed(ids);
  for (int i = 0; i < m.num_blocks(); ++i) {
    const Block& b = m.block(i);
    if (checkpointing) {
      torch::autograd::variable_list trained = TrainedTensors(b, lora);
      h = CheckpointedBlock::apply(h, at::TensorList(trained), &b, &m.config(), lora);
    } else {
      h = BlockForward(b, m.config(), h);
    }
  }
  return m.Head(h);
}

// Pads a micro-batch to its longest example (pad id 0, mask 0).
void MakeBatch(const std::vector<TrainExample>& data, const std::vector<int64_t>& idx,
               torch::Tensor* ids, torch::Tensor* mask) {
  size_t T = 0;
  for (int64_t i : idx) T = std::max(T, data[i].ids.size());
  *ids = torch::zeros({static_cast<int64_t>(idx.size()), static_cast<int64_t>(T)}, torch::kLong);
  *mask = torch::zeros_like(*ids);
  auto ia = ids->accessor<int64_t, 2>();
  auto ma = mask->accessor<int64_t, 2>();
  for (size_t r = 0; r < idx.size(); ++r) {
    const TrainExample& e = data[idx[r]];
    for (size_t t = 0; t < e.ids.size(); ++t) {
      ia[r][t] = e.ids[t];
      ma[r][t] = e.loss_mask.empty() ? (t > 0 ? 1 : 0) : e.loss_mask[t];
    }
  }
}

}  // namespace

absl::StatusOr<E2eResult> TrainE2eQp(LlamaModel* model, const std::vector<TrainExample>& data,
                                     const E2eOptions& o) {
  if (data.empty()) return absl::InvalidArgumentError("e2e-data: no training examples");
  if (o.epochs < 1 || o.batch_size < 1 || o.grad_accum < 1) {
    return absl::InvalidArgumentError("e2e: epochs, batch and accumulation must be >= 1");
  }
  for (const TrainExample& e : data) {
    if (e.ids.size() < 2) return absl::InvalidArgumentError("e2e-data: an example has < 2 tokens");
  }
  // Check everything before changing anything: a refused model is untouched.
  bool any_lora = false;
  for (int i = 0; i < model->num_blocks(); ++i) {
    for (auto& [name, lin] : model->block(i).Linears()) {
      if (!o.train_lora && lin->mode != Linear::Mode::kPacked) {
        return absl::FailedPreconditionError("e2e: every linear must be quantized (packed) first");
      }
      any_lora = any_lora || lin->has_lora();
    }
  }
  if (o.train_lora && !any_lora) {
    return absl::FailedPreconditionError("e2e: train_lora, but no linear has LoRA");
  }
  auto trainable = [](const torch::Tensor& t) {
    return t.to(torch::kFloat).detach().requires_grad_(true);
  };
  std::vector<torch::Tensor> params;
  for (int i = 0; i < model->num_blocks(); ++i) {
    for (auto& [name, lin] : model->block(i).Linears()) {
      if (!o.train_lora) {
        lin->packed.scales = trainable(lin->packed.scales);
      } else if (lin->has_lora()) {
        lin->lora_a = trainable(lin->lora_a);
        lin->lora_b = trainable(lin->lora_b);
      }
    }
    for (torch::Tensor& t : TrainedTensors(model->block(i), o.train_lora)) params.push_back(t);
  }
  double lr = o.lr > 0 ? o.lr : DefaultE2eLearningRate(model->config().quantization.bits);
  torch::optim::AdamW opt(params, torch::optim::AdamWOptions(lr).weight_decay(o.weight_decay));
  int64_t n = static_cast<int64_t>(data.size());
  int64_t micro_per_epoch = (n + o.batch_size - 1) / o.batch_size;
  int64_t steps_per_epoch = (micro_per_epoch + o.grad_accum - 1) / o.grad_accum;
  int64_t total = steps_per_epoch * o.epochs;
  int64_t warmup = static_cast<int64_t>(std::ceil(o.warmup_ratio * static_cast<double>(total)));

  E2eResult res;
  LossScaler scaler(o.precision == TrainPrecision::kFp16 && o.device.is_cuda());
  int64_t step = 0;
  for (int64_t e = 0; e < o.epochs; ++e) {
    std::vector<int64_t> perm(n);
    std::iota(perm.begin(), perm.end(), 0);
    std::mt19937_64 rng(o.seed * 7919ULL + static_cast<uint64_t>(e));
    for (size_t i = perm.size(); i > 1; --i) std::swap(perm[i - 1], perm[rng() % i]);
    for (int64_t s = 0; s < steps_per_epoch; ++s, ++step) {
      static_cast<torch::optim::AdamWOptions&>(opt.param_groups()[0].options())
          .lr(WarmupCosineLr(lr, step, warmup, total));
      opt.zero_grad();
      double step_loss = 0;
      int64_t micro_done = 0;
      for (int64_t a = 0; a < o.grad_accum; ++a) {
        int64_t mb = s * o.grad_accum + a;
        if (mb >= micro_per_epoch) break;
        std::vector<int64_t> idx(perm.begin() + mb * o.batch_size,
                                 perm.begin() + std::min(n, (mb + 1) * o.batch_size));
        torch::Tensor ids, mask;
        MakeBatch(data, idx, &ids, &mask);
        ids = ids.to(o.device);
        mask = mask.to(o.device);
        torch::Tensor loss;
        {
          AutocastGuard ac(o.precision, o.device);
          loss = MaskedLmLoss(ForwardLogits(*model, ids, o.checkpointing, o.train_lora), ids,
                              mask);
        }
        double lv = loss.item<double>();
        if (!std::isfinite(lv)) {
          return absl::AbortedError(absl::StrCat("e2e: non-finite loss at step ", step,
                                                 "; lower --e2e-lr"));
        }
        scaler.Scale(loss).backward();
        step_loss += lv;
        ++micro_done;
      }
      // Average the accumulated gradients over the micro-batches.
      for (auto& p : params) {
        if (p.grad().defined()) p.mutable_grad().div_(static_cast<double>(micro_done));
      }
      // fp16: a step whose gradients overflowed is skipped (scale halved).
      if (scaler.Unscale(params)) {
        torch::nn::utils::clip_grad_norm_(params, o.max_grad_norm);
        opt.step();
        if (!o.train_lora) {
          torch::NoGradGuard ng;
          for (auto& p : params) p.clamp_(1e-4, 1e4);
        }
      }
      step_loss /= static_cast<double>(micro_done);
      if (step == 0) res.first_loss = step_loss;
      res.last_loss = step_loss;
      if (o.on_step) o.on_step(step + 1, total, step_loss);
    }
  }
  res.steps = total;
  res.skipped_steps = scaler.skipped();
  for (int i = 0; i < model->num_blocks(); ++i) {
    for (auto& [name, lin] : model->block(i).Linears()) {
      if (!o.train_lora) {
        lin->packed.scales = lin->packed.scales.detach().to(torch::kHalf);
      } else if (lin->has_lora()) {
        lin->lora_a = lin->lora_a.detach();
        lin->lora_b = lin->lora_b.detach();
      }
    }
  }
  return res;
}

}  // namespace eqat
