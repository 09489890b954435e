// A test fixture holding one real transformer block of stories260K with the
// fp inputs and targets of `samples` calibration windows (data/calib_en.txt,
// SampleWindows with `seed`): what the block-wise trainers' tests (Block-AP,
// LR-QAT, ApiQ) train on. A suite calls Load() in its SetUpTestSuite and
// Unload() in its TearDownTestSuite; the data is shared by the suite's tests.
#ifndef EQAT_TESTS_WORKER_METHODS_REAL_BLOCK_FIXTURE_H_
#define EQAT_TESTS_WORKER_METHODS_REAL_BLOCK_FIXTURE_H_

#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "common/text_data.h"
#include "common/tokenizer.h"
#include "tests/worker/test_util.h"
#include "worker/methods/activation_store.h"
#include "worker/model/llama_model.h"

namespace eqat::testing {

class RealBlockTest : public ::testing::Test {
 protected:
  // Block `block` of stories260K; its inputs are the fp outputs of the blocks
  // before it on `samples` windows of `len` tokens.
  static void Load(int block, int64_t samples, int64_t len, uint64_t seed) {
    auto model = LlamaModel::Load(StoriesDir());
    ASSERT_TRUE(model.ok()) << model.status();
    auto tok = Tokenizer::LoadFromDir(StoriesDir());
    ASSERT_TRUE(tok.ok()) << tok.status();
    auto tokens = LoadTokens(SourcePath("data/calib_en.txt"), **tok, (*model)->config().vocab_size);
    ASSERT_TRUE(tokens.ok()) << tokens.status();
    auto windows = SampleWindows(*tokens, samples, len, seed);
    ASSERT_TRUE(windows.ok()) << windows.status();
    std::vector<int64_t> flat;
    for (const auto& w : *windows) flat.insert(flat.end(), w.begin(), w.end());
    auto ids = torch::tensor(flat, torch::kLong).view({samples, len});

    torch::NoGradGuard ng;
    const ModelConfig& cfg = (*model)->config();
    auto h = (*model)->Embed(ids);
    for (int i = 0; i < block; ++i) h = BlockForward((*model)->block(i), cfg, h);
    inputs_ = new torch::Tensor(h.contiguous());
    targets_ = new torch::Tensor(BlockForward((*model)->block(block), cfg, h).contiguous());
    block_ = block;
    model_ = model->release();
  }
  static void Unload() {
    delete model_;
    delete inputs_;
    delete targets_;
    model_ = nullptr;
    inputs_ = targets_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(model_, nullptr) << "suite setup failed"; }

  static const ModelConfig& cfg() { return model_->config(); }
  static Block FpBlock() { return model_->block(block_).Clone(); }

  static std::unique_ptr<ActivationStore> Store(const torch::Tensor& x) {
    auto s = ActivationStore::Create(x.size(0), {x.size(1), x.size(2)}, ActivationStoreOptions{});
    EXPECT_TRUE(s.ok()) << s.status();
    (*s)->Write(0, x);
    return std::move(*s);
  }

  // Output MSE of `b` on every sample vs the fp targets.
  static double OutputMse(const Block& b) {
    torch::NoGradGuard ng;
    return torch::mse_loss(BlockForward(b, cfg(), *inputs_), *targets_).item<double>();
  }

  static inline LlamaModel* model_ = nullptr;
  static inline torch::Tensor* inputs_ = nullptr;   // [N, L, hidden]: fp inputs of the block
  static inline torch::Tensor* targets_ = nullptr;  // [N, L, hidden]: fp outputs of the block
  static inline int block_ = 0;
};

}  // namespace eqat::testing

#endif  // EQAT_TESTS_WORKER_METHODS_REAL_BLOCK_FIXTURE_H_
