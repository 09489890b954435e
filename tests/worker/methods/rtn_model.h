// stories260K quantized with RTN at W2, per output channel: the packed model
// the E2E tests (step sizes, LoRA) train on. Null (with a test failure
// recorded) when loading or quantizing fails.
#ifndef EQAT_TESTS_WORKER_METHODS_RTN_MODEL_H_
#define EQAT_TESTS_WORKER_METHODS_RTN_MODEL_H_

#include <gtest/gtest.h>

#include <memory>

#include "tests/worker/test_util.h"
#include "worker/methods/blockwise.h"
#include "worker/model/llama_model.h"

namespace eqat::testing {

inline std::unique_ptr<LlamaModel> LoadRtnStories() {
  auto model = LlamaModel::Load(StoriesDir());
  EXPECT_TRUE(model.ok()) << model.status();
  if (!model.ok()) return nullptr;
  BlockwiseOptions o;
  o.method = QuantMethod::kRtn;
  o.spec = {2, -1};
  absl::Status st = QuantizeBlockwise(model->get(), torch::Tensor(), o);
  EXPECT_TRUE(st.ok()) << st;
  if (!st.ok()) return nullptr;
  return std::move(*model);
}

}  // namespace eqat::testing

#endif  // EQAT_TESTS_WORKER_METHODS_RTN_MODEL_H_
