// The transport factory: --transport parsing, what a CPU worker gets for
// each kind, and a stream through the chosen transport over loopback
// (bit-exact frames, end of stream), and the stream secret guarding it (a
// sender with another secret is refused, the receiver keeps waiting for the
// right one). The NCCL path needs two CUDA devices and skips without them.
#include "worker/transport/transport_factory.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <future>
#include <string>

#include "absl/strings/str_cat.h"
#include "worker/transport/nccl_transport.h"

namespace eqat {
namespace {

const std::string kSecret(16, '\x42');

TEST(TransportFactoryTest, ParsesKinds) {
  EXPECT_EQ(*ParseTransportKind("tcp"), TransportKind::kTcp);
  EXPECT_EQ(*ParseTransportKind("nccl"), TransportKind::kNccl);
  EXPECT_EQ(*ParseTransportKind("auto"), TransportKind::kAuto);
  auto bad = ParseTransportKind("rdma");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message(), "--transport: 'rdma' is not tcp, nccl or auto");
}

TEST(TransportFactoryTest, CpuWorkerRefusesNcclAndAutoMeansTcp) {
  TransportConfig c;
  c.kind = TransportKind::kNccl;
  auto nccl = WorkerTransport::Create(c);
  ASSERT_FALSE(nccl.ok());
  EXPECT_EQ(nccl.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(nccl.status().message()).find("--transport: nccl"), std::string::npos);
  c.kind = TransportKind::kAuto;
  auto autot = WorkerTransport::Create(c);
  ASSERT_TRUE(autot.ok()) << autot.status();
  EXPECT_FALSE((*autot)->nccl());
  EXPECT_EQ((*autot)->name(), "tcp");
  EXPECT_GT((*autot)->port(), 0);
}

TEST(TransportFactoryTest, BadListenAddressNamesTheFlag) {
  TransportConfig c;
  c.kind = TransportKind::kTcp;
  c.listen = "not-an-address";
  auto t = WorkerTransport::Create(c);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(std::string(t.status().message()).find("--listen"), std::string::npos) << t.status();
}

// Streams three frames from one transport to another and checks them.
void StreamBetween(WorkerTransport& from, WorkerTransport& to, bool peer_nccl) {
  torch::manual_seed(3);
  std::vector<torch::Tensor> sent = {torch::randn({2, 4, 8}), torch::randn({1, 4, 8}),
                                     torch::randn({3, 4, 8}).to(torch::kBFloat16)};
  auto rx_future =
      std::async(std::launch::async, [&] { return to.Accept(absl::Seconds(30), kSecret); });
  // A sender routed with a stale secret is refused first; the receiver
  // keeps waiting and takes the right one.
  auto stale = from.Connect(absl::StrCat("127.0.0.1:", to.port()), peer_nccl,
                            std::string(16, '\x43'));
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kPermissionDenied) << stale.status();
  auto tx = from.Connect(absl::StrCat("127.0.0.1:", to.port()), peer_nccl, kSecret);
  ASSERT_TRUE(tx.ok()) << tx.status();
  auto rx = rx_future.get();
  ASSERT_TRUE(rx.ok()) << rx.status();
  auto send = std::async(std::launch::async, [&] {
    for (size_t i = 0; i < sent.size(); ++i) {
      TensorFrame f;
      f.tag = i == 0 ? "fp" : "quant";
      f.index = static_cast<int64_t>(i);
      f.tensor = sent[i];
      absl::Status st = (*tx)->Send(f);
      if (!st.ok()) return st;
    }
    return (*tx)->Close();
  });
  for (size_t i = 0; i < sent.size(); ++i) {
    auto f = (*rx)->Recv(absl::Seconds(30));
    ASSERT_TRUE(f.ok()) << f.status();
    EXPECT_EQ(f->tag, i == 0 ? "fp" : "quant");
    EXPECT_EQ(f->index, static_cast<int64_t>(i));
    EXPECT_EQ(f->tensor.scalar_type(), sent[i].scalar_type());
    EXPECT_TRUE(torch::equal(f->tensor, sent[i])) << i;
  }
  EXPECT_EQ((*rx)->Recv(absl::Seconds(30)).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_TRUE(send.get().ok());
}

TEST(TransportFactoryTest, TcpStreamIsBitExact) {
  TransportConfig c;
  c.kind = TransportKind::kTcp;
  auto a = WorkerTransport::Create(c);
  auto b = WorkerTransport::Create(c);
  ASSERT_TRUE(a.ok() && b.ok());
  // A peer that says it takes NCCL changes nothing for a TCP worker.
  StreamBetween(**a, **b, /*peer_nccl=*/true);
  StreamBetween(**a, **b, /*peer_nccl=*/false);
}

TEST(TransportFactoryTest, EmptySecretIsRefusedNotAcceptAnyone) {
  TransportConfig c;
  c.kind = TransportKind::kTcp;
  auto a = WorkerTransport::Create(c);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ((*a)->Accept(absl::Seconds(5), "").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*a)->Connect(absl::StrCat("127.0.0.1:", (*a)->port()), false, "").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(TransportFactoryTest, NcclStreamBetweenTwoDevices) {
#if defined(EQAT_WITH_NCCL)
  if (NcclActivationTransport::DeviceCount() < 2) GTEST_SKIP() << "needs two CUDA devices";
  TransportConfig c;
  c.kind = TransportKind::kNccl;
  c.cuda_device = 0;
  auto a = WorkerTransport::Create(c);
  c.cuda_device = 1;
  auto b = WorkerTransport::Create(c);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_TRUE((*a)->nccl());
  StreamBetween(**a, **b, /*peer_nccl=*/true);
  // An NCCL worker still talks TCP to a peer that cannot take NCCL.
  StreamBetween(**a, **b, /*peer_nccl=*/false);
#else
  GTEST_SKIP() << "built without NCCL";
#endif
}

}  // namespace
}  // namespace eqat
