// MREM-P inputs of a pipelined stage: the annealing schedule, the stream
// feed's mixing / snapshot / final hand-over over a real in-process channel
// (including a dead or short stream), and a pipelined Block-AP range on two
// real stories260K blocks, whose outputs must be exactly the packed blocks'
// outputs on the previous stage's final quantized activations.
#include "worker/stage/stream_input_feed.h"

#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "common/text_data.h"
#include "common/tokenizer.h"
#include "tests/worker/test_util.h"
#include "worker/methods/blockwise.h"
#include "worker/model/llama_model.h"
#include "worker/methods/lr_schedule.h"
#include "worker/methods/rtn.h"
#include "worker/transport/inproc_transport.h"

namespace eqat {
namespace {

TEST(AnnealedLambdaTest, GoesLinearlyFromOneToZeroThenStays) {
  EXPECT_DOUBLE_EQ(AnnealedLambda(0, 100, 0.5), 1.0);
  EXPECT_DOUBLE_EQ(AnnealedLambda(25, 100, 0.5), 0.5);
  EXPECT_DOUBLE_EQ(AnnealedLambda(50, 100, 0.5), 0.0);
  EXPECT_DOUBLE_EQ(AnnealedLambda(99, 100, 0.5), 0.0);
  EXPECT_DOUBLE_EQ(AnnealedLambda(10, 10, 1.0), 0.0);
  EXPECT_DOUBLE_EQ(AnnealedLambda(0, 100, 0.0), 0.0);  // no teacher forcing
}

constexpr int64_t kN = 4;
const std::vector<int64_t> kShape = {3, 2};

TensorFrame Frame(const std::string& tag, int64_t index, const torch::Tensor& t) {
  TensorFrame f;
  f.tag = tag;
  f.index = index;
  f.tensor = t;
  return f;
}

std::unique_ptr<ActivationStore> NewStore() {
  auto s = ActivationStore::Create(kN, kShape, ActivationStoreOptions{});
  EXPECT_TRUE(s.ok()) << s.status();
  return std::move(*s);
}

StreamInputFeed::Options FeedOptions() {
  StreamInputFeed::Options o;
  o.samples = kN;
  o.sample_shape = kShape;
  return o;
}

class StreamInputFeedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ch = CreateInprocChannel();
    ASSERT_TRUE(ch.ok()) << ch.status();
    tx_ = std::move(ch->sender);
    rx_ = std::move(ch->receiver);
    fp_ = torch::arange(kN * 6, torch::kFloat).view({kN, 3, 2});
    quant_ = -fp_ - 100;  // the previous stage's final quantized outputs
  }
  std::unique_ptr<ActivationSender> tx_;
  std::unique_ptr<ActivationReceiver> rx_;
  torch::Tensor fp_, quant_;
};

TEST_F(StreamInputFeedTest, MixesLatestQuantRowsAndHandsOverTheFinalOnes) {
  ASSERT_TRUE(tx_->Send(Frame("fp", 0, fp_)).ok());
  auto feed = StreamInputFeed::Start(std::move(rx_), FeedOptions());
  ASSERT_TRUE(feed.ok()) << feed.status();
  EXPECT_TRUE(torch::equal((*feed)->fp().Read(0, kN), fp_));

  // Only sample 2 has an in-training quantized activation so far.
  torch::Tensor step = torch::full({1, 3, 2}, 7.0);
  ASSERT_TRUE(tx_->Send(Frame("qstep", 2, step)).ok());
  for (int i = 0; i < 200 && (*feed)->quant_rows_received() < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ((*feed)->quant_rows_received(), 1);
  torch::Tensor x = (*feed)->Mixed({1, 2}, 0.25);
  EXPECT_TRUE(torch::equal(x[0], fp_[1])) << "no quant row yet: the fp input";
  EXPECT_TRUE(torch::allclose(x[1], 0.25 * fp_[2] + 0.75 * step[0]));
  auto snap = NewStore();
  (*feed)->Snapshot(snap.get());
  EXPECT_TRUE(torch::equal(snap->Read(2, 1), step));
  EXPECT_TRUE(torch::equal(snap->Read(0, 2), fp_.narrow(0, 0, 2)));

  // Final outputs, then a late in-training row that must not replace them.
  ASSERT_TRUE(tx_->Send(Frame("quant", 0, quant_)).ok());
  ASSERT_TRUE(tx_->Send(Frame("qstep", 3, step)).ok());
  ASSERT_TRUE(tx_->Close().ok());
  auto out = NewStore();
  ASSERT_TRUE((*feed)->WaitFinal(out.get()).ok());
  EXPECT_TRUE(torch::equal(out->Read(0, kN), quant_));
  EXPECT_TRUE(torch::equal((*feed)->Mixed({3}, 0.0)[0], quant_[3]));
}

TEST_F(StreamInputFeedTest, AfterTheAnnealingMixedWaitsForRealQuantizedRows) {
  ASSERT_TRUE(tx_->Send(Frame("fp", 0, fp_)).ok());
  auto feed = StreamInputFeed::Start(std::move(rx_), FeedOptions());
  ASSERT_TRUE(feed.ok()) << feed.status();
  torch::Tensor step = torch::full({1, 3, 2}, 5.0);
  // lambda > 0 never waits: sample 1 gets its fp input.
  EXPECT_TRUE(torch::equal((*feed)->Mixed({1}, 0.5)[0], fp_[1]));
  std::thread late([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    EXPECT_TRUE(tx_->Send(Frame("qstep", 1, step)).ok());
  });
  // lambda 0 waits for the row sent 200 ms later.
  EXPECT_TRUE(torch::equal((*feed)->Mixed({1}, 0.0)[0], step[0]));
  late.join();
}

TEST_F(StreamInputFeedTest, SequentialStyleStreamIsValidToo) {
  ASSERT_TRUE(tx_->Send(Frame("fp", 0, fp_.narrow(0, 0, 2))).ok());
  ASSERT_TRUE(tx_->Send(Frame("fp", 2, fp_.narrow(0, 2, 2))).ok());
  ASSERT_TRUE(tx_->Send(Frame("quant", 0, quant_)).ok());
  ASSERT_TRUE(tx_->Close().ok());
  auto feed = StreamInputFeed::Start(std::move(rx_), FeedOptions());
  ASSERT_TRUE(feed.ok()) << feed.status();
  auto out = NewStore();
  ASSERT_TRUE((*feed)->WaitFinal(out.get()).ok());
  EXPECT_TRUE(torch::equal(out->Read(0, kN), quant_));
}

TEST_F(StreamInputFeedTest, TakeFinalHandsOverBothSetsAfterTheEndOfStream) {
  ASSERT_TRUE(tx_->Send(Frame("fp", 0, fp_)).ok());
  auto feed = StreamInputFeed::Start(std::move(rx_), FeedOptions());
  ASSERT_TRUE(feed.ok()) << feed.status();
  std::thread rest([&] {
    EXPECT_TRUE(tx_->Send(Frame("qstep", 1, quant_.narrow(0, 0, 1) + 1)).ok());
    EXPECT_TRUE(tx_->Send(Frame("quant", 0, quant_)).ok());
    EXPECT_TRUE(tx_->Close().ok());
  });
  std::unique_ptr<ActivationStore> fp, q;
  ASSERT_TRUE((*feed)->TakeFinal(&fp, &q).ok());
  rest.join();
  ASSERT_NE(fp, nullptr);
  ASSERT_NE(q, nullptr);
  EXPECT_TRUE(torch::equal(fp->Read(0, kN), fp_));
  EXPECT_TRUE(torch::equal(q->Read(0, kN), quant_));
}

TEST_F(StreamInputFeedTest, StreamEndingBeforeTheFinalOutputsIsDataLoss) {
  ASSERT_TRUE(tx_->Send(Frame("fp", 0, fp_)).ok());
  ASSERT_TRUE(tx_->Send(Frame("quant", 0, quant_.narrow(0, 0, 3))).ok());
  ASSERT_TRUE(tx_->Close().ok());
  auto feed = StreamInputFeed::Start(std::move(rx_), FeedOptions());
  ASSERT_TRUE(feed.ok()) << feed.status();
  auto st = (*feed)->WaitFinal(NewStore().get());
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  EXPECT_NE(std::string(st.message()).find("3 of 4"), std::string::npos) << st;
  std::unique_ptr<ActivationStore> fp, q;
  EXPECT_EQ((*feed)->TakeFinal(&fp, &q).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(q, nullptr);
}

TEST_F(StreamInputFeedTest, DeadSenderIsUnavailableNotAHang) {
  ASSERT_TRUE(tx_->Send(Frame("fp", 0, fp_)).ok());
  auto feed = StreamInputFeed::Start(std::move(rx_), FeedOptions());
  ASSERT_TRUE(feed.ok()) << feed.status();
  tx_.reset();  // gone without Close()
  auto st = (*feed)->WaitFinal(NewStore().get());
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable) << st;
}

TEST_F(StreamInputFeedTest, ShortFpStreamAndBadFramesAreDataLoss) {
  ASSERT_TRUE(tx_->Send(Frame("fp", 0, fp_.narrow(0, 0, 3))).ok());
  ASSERT_TRUE(tx_->Close().ok());
  auto feed = StreamInputFeed::Start(std::move(rx_), FeedOptions());
  EXPECT_EQ(feed.status().code(), absl::StatusCode::kDataLoss) << feed.status();

  auto ch = CreateInprocChannel();
  ASSERT_TRUE(ch.ok());
  ASSERT_TRUE(ch->sender->Send(Frame("fp", 2, fp_)).ok());  // samples 2..5 of 4
  auto bad = StreamInputFeed::Start(std::move(ch->receiver), FeedOptions());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kDataLoss) << bad.status();
}

// A feed with fixed contents that records the lambdas it is asked for.
class RecordingFeed : public StageInputFeed {
 public:
  RecordingFeed(torch::Tensor fp, torch::Tensor partial, std::vector<char> have, torch::Tensor final)
      : fp_(fp), partial_(partial), have_(std::move(have)), final_(final) {}
  torch::Tensor Mixed(const std::vector<int64_t>& idx, double lambda) override {
    lambdas.push_back(lambda);
    std::vector<torch::Tensor> rows;
    for (int64_t i : idx) {
      rows.push_back(have_[i] ? lambda * fp_[i] + (1 - lambda) * partial_[i] : fp_[i]);
    }
    return torch::stack(rows);
  }
  void Snapshot(ActivationStore* q) override {
    for (int64_t i = 0; i < fp_.size(0); ++i) {
      q->Write(i, (have_[i] ? partial_[i] : fp_[i]).unsqueeze(0));
    }
    ++snapshots;
  }
  absl::Status WaitFinal(ActivationStore* q) override {
    q->Write(0, final_);
    ++waits;
    return absl::OkStatus();
  }
  std::vector<double> lambdas;
  int snapshots = 0, waits = 0;

 private:
  torch::Tensor fp_, partial_;
  std::vector<char> have_;
  torch::Tensor final_;
};

TEST(PipelinedBlockRangeTest, AnnealsThenPassesOnTheExactQuantizedChain) {
  constexpr int64_t n = 10, len = 16;
  auto full = LlamaModel::Load(testing::StoriesDir());
  ASSERT_TRUE(full.ok()) << full.status();
  const ModelConfig& cfg = (*full)->config();
  auto tok = Tokenizer::Load(testing::StoriesDir() + "/tokenizer.model");
  ASSERT_TRUE(tok.ok());
  auto tokens = LoadTokens(testing::SourcePath("data/calib_en.txt"), **tok, cfg.vocab_size);
  ASSERT_TRUE(tokens.ok());
  auto windows = SampleWindows(*tokens, n, len, 3);
  ASSERT_TRUE(windows.ok());
  std::vector<int64_t> flat;
  for (const auto& w : *windows) flat.insert(flat.end(), w.begin(), w.end());
  torch::Tensor fp_in, final_q;
  {
    // "Previous stage" = block 0: fp outputs and its RTN-quantized outputs.
    torch::NoGradGuard ng;
    auto h = (*full)->Embed(torch::tensor(flat, torch::kLong).view({n, len}));
    fp_in = BlockForward((*full)->block(0), cfg, h).contiguous();
    Block q0 = (*full)->block(0).Clone();
    QuantizeBlockRtn(&q0, {2, -1});
    final_q = BlockForward(q0, cfg, h).contiguous();
  }
  // Half the samples already have an in-training quantized activation.
  std::vector<char> have(n, 0);
  for (int64_t i = 0; i < n; i += 2) have[i] = 1;
  RecordingFeed feed(fp_in, final_q + 0.01, have, final_q);

  auto stage = LlamaModel::LoadRange(testing::StoriesDir(), 1, 3);
  ASSERT_TRUE(stage.ok()) << stage.status();
  auto fp = ActivationStore::Create(n, {len, cfg.hidden_size}, ActivationStoreOptions{});
  auto q = ActivationStore::Create(n, {len, cfg.hidden_size}, ActivationStoreOptions{});
  ASSERT_TRUE(fp.ok() && q.ok());
  (*fp)->Write(0, fp_in);
  (*q)->Write(0, fp_in);
  BlockwiseOptions o;
  o.method = QuantMethod::kEfficientQat;
  o.spec = {2, -1};
  o.batch_size = 4;
  o.block_ap.epochs = 2;
  o.block_ap.batch_size = 2;
  o.block_ap.val_count = 1;  // 9 training rows + 1 validation row
  o.feed = &feed;
  o.anneal_fraction = 0.5;
  std::multiset<int64_t> streamed;
  o.on_last_block_output = [&](const std::vector<int64_t>& idx, const torch::Tensor& out) {
    ASSERT_EQ(out.size(0), static_cast<int64_t>(idx.size()));
    ASSERT_EQ(out.size(1), len);
    ASSERT_EQ(out.size(2), cfg.hidden_size);
    streamed.insert(idx.begin(), idx.end());
  };
  ASSERT_TRUE(QuantizeBlockRange(stage->get(), fp->get(), q->get(), o).ok());

  // 9 training samples, batch 2 -> 5 steps per epoch, 10 steps; the final
  // validation asks once more per validation batch at lambda 0.
  ASSERT_GE(feed.lambdas.size(), 10u);
  EXPECT_DOUBLE_EQ(feed.lambdas[0], 1.0);
  for (size_t s = 1; s < 10; ++s) EXPECT_LE(feed.lambdas[s], feed.lambdas[s - 1]);
  EXPECT_DOUBLE_EQ(feed.lambdas[5], 0.0) << "lambda is 0 after half the steps";
  EXPECT_GT(feed.lambdas[2], 0.0);
  EXPECT_DOUBLE_EQ(feed.lambdas.back(), 0.0);
  EXPECT_EQ(feed.snapshots, 1);
  EXPECT_EQ(feed.waits, 1);
  // The last block streamed each training sample once per epoch.
  EXPECT_EQ(streamed.size(), 18u);
  for (int64_t i = 0; i < 9; ++i) EXPECT_EQ(streamed.count(i), 2u) << i;

  // The stage's quantized outputs are the packed blocks on the final inputs
  // (batching changes the float sums by ~1e-6; the provisional inputs were
  // 0.01 away, far outside the tolerance).
  torch::NoGradGuard ng;
  torch::Tensor want = final_q;
  for (int b = 0; b < 2; ++b) want = BlockForward((*stage)->block(b), cfg, want);
  EXPECT_TRUE(torch::allclose((*q)->Read(0, n), want, 1e-5, 1e-4))
      << ((*q)->Read(0, n) - want).abs().max().item<double>() << " " << want.abs().max().item<double>();
  // Its fp outputs are the fp blocks' outputs (untouched by the mixing).
  torch::Tensor fp_want = fp_in;
  for (int b = 1; b < 3; ++b) fp_want = BlockForward((*full)->block(b), cfg, fp_want);
  EXPECT_TRUE(torch::allclose((*fp)->Read(0, n), fp_want, 1e-5, 1e-4))
      << ((*fp)->Read(0, n) - fp_want).abs().max().item<double>() << " " << fp_want.abs().max().item<double>();
}

}  // namespace
}  // namespace eqat
