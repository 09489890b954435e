// Activation transports: one shared suite (TransportTest) runs against every
// implementation — inproc, TCP on 127.0.0.1, NCCL loopback (>= 1 GPU) and
// NCCL two-rank (>= 2 GPUs); the NCCL ones skip without devices or without an
// NCCL build. Then wire-format tests (frame codec) and TCP-only tests that
// speak raw bytes to the listener, strays (port scans, silent and foreign
// clients, short hellos, senders with another stream secret) included.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <functional>
#include <future>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "worker/transport/activation_transport.h"
#include "worker/transport/frame_codec.h"
#include "worker/transport/inproc_transport.h"
#include "worker/transport/nccl_transport.h"
#include "worker/transport/tcp_transport.h"

namespace eqat {
namespace {

using std::chrono::milliseconds;

// A stream secret as the coordinator issues them (16 bytes), and others.
const std::string kSecret("\x01secret-of-s1\x00\xfe\x7f", kTcpStreamSecretBytes);
// Differs from kSecret in its last byte only.
std::string NearlyTheSecret() {
  std::string s = kSecret;
  s.back() = static_cast<char>(s.back() ^ 1);
  return s;
}
const std::string kOtherSecret(kTcpStreamSecretBytes, '\x5a');

// ---- implementations under test ----

struct Impl {
  std::string name;
  std::function<std::string()> unavailable;  // skip reason, "" when usable
  std::function<absl::StatusOr<ActivationChannel>(const TransportOptions&)> make;
  bool observes_dead_peer = true;       // a vanished peer reads as Unavailable
  bool buffer_set_by_options = true;    // max_buffered_frames bounds in-flight frames
};

absl::StatusOr<ActivationChannel> MakeTcp(const TransportOptions& o) {
  auto listener = TcpActivationListener::Create("127.0.0.1:0", o);
  if (!listener.ok()) return listener.status();
  const std::string address = absl::StrCat("127.0.0.1:", (*listener)->port());
  auto connecting = std::async(std::launch::async,
                               [&] { return TcpActivationSender::Connect(address, kSecret, o); });
  auto receiver = (*listener)->Accept(absl::Seconds(5), kSecret);
  auto sender = connecting.get();
  if (!receiver.ok()) return receiver.status();
  if (!sender.ok()) return sender.status();
  ActivationChannel c;
  c.sender = std::move(*sender);
  c.receiver = std::move(*receiver);
  return c;
}

#if defined(EQAT_WITH_NCCL)
absl::StatusOr<ActivationChannel> MakeNcclPair(const TransportOptions& o) {
  auto id = NcclActivationTransport::NewUniqueId();
  if (!id.ok()) return id.status();
  NcclLinkConfig tx{*id, 0, 2, 1, 0, int64_t{1} << 20};
  NcclLinkConfig rx{*id, 1, 2, 0, 1, int64_t{1} << 20};
  auto sending = std::async(std::launch::async,
                            [&] { return NcclActivationTransport::CreateSender(tx, o); });
  auto receiver = NcclActivationTransport::CreateReceiver(rx, o);
  auto sender = sending.get();
  if (!receiver.ok()) return receiver.status();
  if (!sender.ok()) return sender.status();
  ActivationChannel c;
  c.sender = std::move(*sender);
  c.receiver = std::move(*receiver);
  return c;
}
#endif

std::vector<Impl> AllImpls() {
  std::vector<Impl> impls;
  impls.push_back({"inproc", [] { return std::string(); },
                   [](const TransportOptions& o) { return CreateInprocChannel(o); }});
  impls.push_back({"tcp", [] { return std::string(); }, MakeTcp});
#if defined(EQAT_WITH_NCCL)
  impls.push_back({"nccl_loopback",
                   [] {
                     return NcclActivationTransport::DeviceCount() >= 1 ? std::string()
                                                                         : "no CUDA device";
                   },
                   [](const TransportOptions& o) {
                     return NcclActivationTransport::CreateLoopback(0, o, int64_t{1} << 20);
                   }});
  impls.push_back({"nccl_two_rank",
                   [] {
                     return NcclActivationTransport::DeviceCount() >= 2 ? std::string()
                                                                         : "fewer than 2 CUDA devices";
                   },
                   MakeNcclPair, /*observes_dead_peer=*/false, /*buffer_set_by_options=*/false});
#else
  for (const char* name : {"nccl_loopback", "nccl_two_rank"}) {
    impls.push_back({name, [] { return std::string("built without NCCL"); }, nullptr});
  }
#endif
  return impls;
}

const Impl& FindImpl(const std::string& name) {
  static const std::vector<Impl>* impls = new std::vector<Impl>(AllImpls());
  for (const Impl& i : *impls) {
    if (i.name == name) return i;
  }
  std::abort();
}

// ---- helpers ----

TransportOptions TestOptions() {
  TransportOptions o;
  o.timeout = absl::Seconds(5);
  return o;
}

// Random values plus NaN, infinities, -0 and a denormal, in `dtype`.
torch::Tensor Sample(std::vector<int64_t> shape, torch::ScalarType dtype, int seed) {
  torch::manual_seed(seed);
  torch::Tensor t = torch::randn(shape).to(dtype);
  if (t.numel() >= 5) {
    torch::Tensor flat = t.view({-1});
    flat[0] = std::numeric_limits<float>::quiet_NaN();
    flat[1] = std::numeric_limits<float>::infinity();
    flat[2] = -std::numeric_limits<float>::infinity();
    flat[3] = -0.0f;
    flat[4] = 1e-40f;
  }
  return t;
}

TensorFrame Frame(std::string tag, int64_t index, torch::Tensor t, bool eos = false) {
  TensorFrame f;
  f.tag = std::move(tag);
  f.index = index;
  f.tensor = std::move(t);
  f.end_of_stream = eos;
  return f;
}

void ExpectSameFrame(const TensorFrame& want, const TensorFrame& got) {
  EXPECT_EQ(got.tag, want.tag);
  EXPECT_EQ(got.index, want.index);
  EXPECT_EQ(got.end_of_stream, want.end_of_stream);
  ASSERT_TRUE(got.tensor.defined());
  EXPECT_EQ(got.tensor.scalar_type(), want.tensor.scalar_type());
  EXPECT_EQ(got.tensor.sizes(), want.tensor.sizes());
  EXPECT_TRUE(got.tensor.is_contiguous());
  torch::Tensor w = want.tensor.contiguous();
  const size_t bytes = w.numel() * w.element_size();
  ASSERT_EQ(static_cast<size_t>(got.tensor.numel() * got.tensor.element_size()), bytes);
  if (bytes == 0) return;
  EXPECT_EQ(std::memcmp(got.tensor.data_ptr(), w.data_ptr(), bytes), 0)
      << "payload differs for " << want.tag << "@" << want.index;
}

double SecondsSince(absl::Time t0) { return absl::ToDoubleSeconds(absl::Now() - t0); }

// ---- shared suite ----

class TransportTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    impl_ = &FindImpl(GetParam());
    const std::string why = impl_->unavailable();
    if (!why.empty()) GTEST_SKIP() << why;
  }
  ActivationChannel Make(const TransportOptions& o) {
    auto c = impl_->make(o);
    EXPECT_TRUE(c.ok()) << c.status();
    if (!c.ok()) return {};
    return std::move(*c);
  }
  const Impl* impl_ = nullptr;
};

TEST_P(TransportTest, RoundTripKeepsOrderTagsDtypesAndBits) {
  ActivationChannel c = Make(TestOptions());
  ASSERT_TRUE(c.sender && c.receiver);
  std::vector<TensorFrame> frames;
  frames.push_back(Frame("fp", 0, Sample({2, 16, 32}, torch::kFloat32, 1)));
  frames.push_back(Frame("quant", 0, Sample({2, 16, 32}, torch::kBFloat16, 2)));
  frames.push_back(Frame("fp", 2, Sample({3, 16, 32}, torch::kFloat16, 3)));
  frames.push_back(Frame("quant", 2, Sample({3, 32, 16}, torch::kFloat32, 4).transpose(1, 2)));
  frames.push_back(Frame("fp", 5, torch::empty({0, 16, 32})));
  frames.push_back(Frame("quant", 5, Sample({4, 128, 2048}, torch::kFloat32, 5)));  // 4 MiB
  frames.push_back(Frame("fp", 9, Sample({1, 16, 32}, torch::kBFloat16, 6)));
  auto sending = std::async(std::launch::async, [&]() -> absl::Status {
    for (const TensorFrame& f : frames) {
      absl::Status s = c.sender->Send(f);
      if (!s.ok()) return s;
    }
    return c.sender->Close();
  });
  for (const TensorFrame& want : frames) {
    auto got = c.receiver->Recv(absl::Seconds(2));
    ASSERT_TRUE(got.ok()) << got.status();
    ExpectSameFrame(want, *got);
  }
  ASSERT_EQ(sending.wait_for(milliseconds(2000)), std::future_status::ready);
  EXPECT_TRUE(sending.get().ok());
  for (int i = 0; i < 2; ++i) {
    auto end = c.receiver->Recv(absl::Seconds(1));
    EXPECT_EQ(end.status().code(), absl::StatusCode::kOutOfRange) << end.status();
  }
}

TEST_P(TransportTest, FrameMarkedEndOfStreamIsTheLast) {
  ActivationChannel c = Make(TestOptions());
  ASSERT_TRUE(c.sender && c.receiver);
  TensorFrame last = Frame("quant", 7, Sample({2, 4, 8}, torch::kFloat16, 7), /*eos=*/true);
  ASSERT_TRUE(c.sender->Send(last).ok());
  EXPECT_EQ(c.sender->Send(Frame("fp", 9, torch::zeros({1}))).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(c.sender->Close().ok());
  EXPECT_TRUE(c.sender->Close().ok());  // idempotent
  auto got = c.receiver->Recv(absl::Seconds(2));
  ASSERT_TRUE(got.ok()) << got.status();
  ExpectSameFrame(last, *got);
  EXPECT_EQ(c.receiver->Recv(absl::Seconds(1)).status().code(), absl::StatusCode::kOutOfRange);
}

TEST_P(TransportTest, RecvTimeoutIsDeadlineExceededAndStreamStaysUsable) {
  ActivationChannel c = Make(TestOptions());
  ASSERT_TRUE(c.sender && c.receiver);
  const absl::Time t0 = absl::Now();
  auto none = c.receiver->Recv(absl::Milliseconds(150));
  EXPECT_EQ(none.status().code(), absl::StatusCode::kDeadlineExceeded) << none.status();
  EXPECT_GE(SecondsSince(t0), 0.14);
  EXPECT_LT(SecondsSince(t0), 1.0);
  EXPECT_EQ(c.receiver->Recv(absl::ZeroDuration()).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  TensorFrame f = Frame("fp", 0, Sample({2, 8}, torch::kFloat32, 8));
  auto sending = std::async(std::launch::async, [&] { return c.sender->Send(f); });
  auto got = c.receiver->Recv(absl::Seconds(2));
  ASSERT_TRUE(got.ok()) << got.status();
  ExpectSameFrame(f, *got);
  EXPECT_TRUE(sending.get().ok());
}

TEST_P(TransportTest, InvalidFramesAreRefusedAndStreamStaysUsable) {
  TransportOptions o = TestOptions();
  o.max_frame_bytes = 1 << 20;
  ActivationChannel c = Make(o);
  ASSERT_TRUE(c.sender && c.receiver);
  const auto code = [&](const TensorFrame& f) { return c.sender->Send(f).code(); };
  EXPECT_EQ(code(Frame("fp", 0, torch::Tensor())), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(Frame("fp", 0, torch::zeros({2, 2}, torch::kInt32))),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(Frame("fp", 0, torch::zeros({2, 2}, torch::kFloat64))),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(Frame("fp", 0, torch::zeros({1, 1, 1, 1, 1, 1, 1, 1, 1}))),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(Frame(std::string(300, 't'), 0, torch::zeros({1}))),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(Frame("fp", -1, torch::zeros({1}))), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(Frame("fp", 0, torch::zeros({(1 << 18) + 1}))),  // > 1 MiB
            absl::StatusCode::kInvalidArgument);
  TensorFrame ok = Frame("fp", 0, Sample({1, 1, 1, 1, 1, 1, 1, 3}, torch::kFloat32, 9));
  ASSERT_TRUE(c.sender->Send(ok).ok());
  auto got = c.receiver->Recv(absl::Seconds(2));
  ASSERT_TRUE(got.ok()) << got.status();
  ExpectSameFrame(ok, *got);
}

TEST_P(TransportTest, BackpressureBlocksSenderUntilReceiverReads) {
  TransportOptions o = TestOptions();
  o.max_buffered_frames = 2;
  o.socket_buffer_bytes = 32 << 10;
  ActivationChannel c = Make(o);
  ASSERT_TRUE(c.sender && c.receiver);
  constexpr int kFrames = 8;
  std::vector<TensorFrame> frames;
  for (int i = 0; i < kFrames; ++i) {
    frames.push_back(Frame(i % 2 ? "quant" : "fp", i, Sample({4, 128, 256}, torch::kFloat32, i)));
  }  // 512 KiB each: far more than the socket buffers hold
  std::atomic<int> sent{0};
  auto sending = std::async(std::launch::async, [&]() -> absl::Status {
    for (const TensorFrame& f : frames) {
      absl::Status s = c.sender->Send(f);
      if (!s.ok()) return s;
      ++sent;
    }
    return absl::OkStatus();
  });
  EXPECT_EQ(sending.wait_for(milliseconds(400)), std::future_status::timeout)
      << "Send never blocked";
  const int before_reading = sent.load();
  EXPECT_LT(before_reading, kFrames);
  if (impl_->buffer_set_by_options) {
    // 2 queued frames; the 3rd may be in flight, the 4th+ must wait for Recv.
    EXPECT_LE(before_reading, 3);
    EXPECT_GE(before_reading, 2);
  }
  for (int i = 0; i < kFrames; ++i) {
    auto got = c.receiver->Recv(absl::Seconds(2));
    ASSERT_TRUE(got.ok()) << got.status();
    ExpectSameFrame(frames[i], *got);
    if (i == 0) {
      // Reading frees room: the sender moves on without further reads.
      const absl::Time t0 = absl::Now();
      while (sent.load() == before_reading && SecondsSince(t0) < 1.0) absl::SleepFor(absl::Milliseconds(2));
      EXPECT_GT(sent.load(), before_reading);
    }
  }
  ASSERT_EQ(sending.wait_for(milliseconds(2000)), std::future_status::ready);
  EXPECT_TRUE(sending.get().ok());
}

TEST_P(TransportTest, DeadSenderIsUnavailableAfterItsFrames) {
  ActivationChannel c = Make(TestOptions());
  ASSERT_TRUE(c.sender && c.receiver);
  std::vector<TensorFrame> frames = {Frame("fp", 0, Sample({2, 8, 16}, torch::kFloat32, 10)),
                                     Frame("quant", 0, Sample({2, 8, 16}, torch::kBFloat16, 11))};
  for (const TensorFrame& f : frames) ASSERT_TRUE(c.sender->Send(f).ok());
  c.sender.reset();  // dies mid-stream: no Close()
  for (const TensorFrame& want : frames) {
    auto got = c.receiver->Recv(absl::Seconds(2));
    ASSERT_TRUE(got.ok()) << got.status();
    ExpectSameFrame(want, *got);
  }
  const absl::Time t0 = absl::Now();
  auto dead = c.receiver->Recv(impl_->observes_dead_peer ? absl::Seconds(5) : absl::Milliseconds(300));
  if (impl_->observes_dead_peer) {
    EXPECT_EQ(dead.status().code(), absl::StatusCode::kUnavailable) << dead.status();
    EXPECT_LT(SecondsSince(t0), 1.0);
    EXPECT_EQ(c.receiver->Recv(absl::Seconds(1)).status().code(), absl::StatusCode::kUnavailable);
  } else {
    EXPECT_TRUE(absl::IsUnavailable(dead.status()) || absl::IsDeadlineExceeded(dead.status()))
        << dead.status();
  }
}

TEST_P(TransportTest, VanishedReceiverFailsSendWithinTimeout) {
  TransportOptions o = TestOptions();
  o.timeout = absl::Seconds(1);
  o.max_buffered_frames = 2;
  o.socket_buffer_bytes = 32 << 10;
  ActivationChannel c = Make(o);
  ASSERT_TRUE(c.sender && c.receiver);
  TensorFrame f = Frame("fp", 0, Sample({4, 64, 256}, torch::kFloat32, 12));  // 256 KiB
  c.receiver.reset();
  const absl::Time t0 = absl::Now();
  absl::Status s;
  for (int i = 0; i < 64 && s.ok(); ++i) s = c.sender->Send(f);
  EXPECT_TRUE(absl::IsUnavailable(s) || absl::IsDeadlineExceeded(s)) << s;
  EXPECT_LT(SecondsSince(t0), 1.8);
  EXPECT_EQ(c.sender->Send(f).code(), s.code());  // the stream stays broken
}

TEST_P(TransportTest, StalledReceiverTimesOutSend) {
  TransportOptions o = TestOptions();
  o.timeout = absl::Milliseconds(300);
  o.max_buffered_frames = 1;
  o.socket_buffer_bytes = 32 << 10;
  ActivationChannel c = Make(o);
  ASSERT_TRUE(c.sender && c.receiver);
  TensorFrame f = Frame("quant", 0, Sample({4, 128, 256}, torch::kFloat32, 13));  // 512 KiB
  const absl::Time t0 = absl::Now();
  absl::Status s;
  int sent = 0;
  for (; sent < 64 && s.ok(); ++sent) s = c.sender->Send(f);
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_GE(SecondsSince(t0), 0.29);
  EXPECT_LT(SecondsSince(t0), 1.5);
  EXPECT_LE(sent, 4);
}

INSTANTIATE_TEST_SUITE_P(AllTransports, TransportTest,
                         ::testing::Values("inproc", "tcp", "nccl_loopback", "nccl_two_rank"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

// ---- frame header codec ----

FrameHeader ValidHeader() {
  FrameHeader h;
  h.tag = "quant";
  h.index = 42;
  h.has_tensor = true;
  h.dtype = torch::kBFloat16;
  h.shape = {3, 5, 7};
  h.payload_bytes = 3 * 5 * 7 * 2;
  return h;
}

TEST(TransportFrameCodecTest, EncodeDecodeRoundTrip) {
  uint8_t buf[kFrameHeaderBytes];
  EncodeFrameHeader(ValidHeader(), buf);
  auto h = DecodeFrameHeader(buf, kMaxFrameBytesLimit);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->tag, "quant");
  EXPECT_EQ(h->index, 42);
  EXPECT_TRUE(h->has_tensor);
  EXPECT_FALSE(h->end_of_stream);
  EXPECT_EQ(h->dtype, torch::kBFloat16);
  EXPECT_EQ(h->shape, (std::vector<int64_t>{3, 5, 7}));
  EXPECT_EQ(h->payload_bytes, 210);

  FrameHeader eos;
  eos.end_of_stream = true;
  EncodeFrameHeader(eos, buf);
  auto e = DecodeFrameHeader(buf, kMaxFrameBytesLimit);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_TRUE(e->end_of_stream);
  EXPECT_FALSE(e->has_tensor);
}

TEST(TransportFrameCodecTest, EverySingleByteCorruptionIsDataLoss) {
  uint8_t good[kFrameHeaderBytes];
  EncodeFrameHeader(ValidHeader(), good);
  for (size_t i = 0; i < kFrameHeaderBytes; ++i) {
    uint8_t bad[kFrameHeaderBytes];
    std::memcpy(bad, good, sizeof(bad));
    bad[i] ^= 0x5a;
    EXPECT_EQ(DecodeFrameHeader(bad, kMaxFrameBytesLimit).status().code(),
              absl::StatusCode::kDataLoss)
        << "byte " << i;
  }
}

TEST(TransportFrameCodecTest, SealedButInvalidHeadersAreDataLoss) {
  struct Case {
    const char* name;
    std::function<void(uint8_t*)> patch;
  };
  const auto put64 = [](uint8_t* p, uint64_t v) {
    for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
  };
  const std::vector<Case> cases = {
      {"rank 9", [](uint8_t* b) { b[7] = 9; }},
      {"unknown dtype", [](uint8_t* b) { b[6] = 7; }},
      {"unknown flag", [](uint8_t* b) { b[5] |= 0x80; }},
      {"version", [](uint8_t* b) { b[4] = 2; }},
      {"tag length 300", [](uint8_t* b) { b[8] = 300 & 0xff; b[9] = 300 >> 8; }},
      {"tag padding", [](uint8_t* b) { b[359] = 'x'; }},
      {"reserved", [](uint8_t* b) { b[12] = 1; }},
      {"payload mismatch", [&](uint8_t* b) { put64(b + 32, 211); }},
      {"negative index", [&](uint8_t* b) { put64(b + 24, ~uint64_t{0}); }},
      {"overflowing shape",
       [&](uint8_t* b) {
         put64(b + 40, uint64_t{1} << 40);
         put64(b + 48, uint64_t{1} << 40);
       }},
      {"over 4 GiB",
       [&](uint8_t* b) {  // consistent: [2^31, 3, 1] bf16 = 12 GiB
         put64(b + 40, uint64_t{1} << 31);
         put64(b + 48, 3);
         put64(b + 56, 1);
         put64(b + 32, (uint64_t{1} << 31) * 3 * 2);
       }},
      {"unused dim set", [&](uint8_t* b) { put64(b + 40 + 8 * 5, 1); }},
      {"eos without tensor but dims",
       [&](uint8_t* b) { b[5] = 1; }},
  };
  for (const Case& c : cases) {
    uint8_t buf[kFrameHeaderBytes];
    EncodeFrameHeader(ValidHeader(), buf);
    c.patch(buf);
    SealFrameHeader(buf);
    EXPECT_EQ(DecodeFrameHeader(buf, kMaxFrameBytesLimit).status().code(),
              absl::StatusCode::kDataLoss)
        << c.name;
  }
  // A caller's smaller cap is enforced too.
  uint8_t buf[kFrameHeaderBytes];
  EncodeFrameHeader(ValidHeader(), buf);
  EXPECT_EQ(DecodeFrameHeader(buf, 209).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(DecodeFrameHeader(buf, 210).ok());
}

TEST(TransportOptionsTest, BadOptionsAreInvalidArgument) {
  TransportOptions o;
  o.max_buffered_frames = 0;
  EXPECT_EQ(CreateInprocChannel(o).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(TcpActivationListener::Create("127.0.0.1:0", o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o = TransportOptions();
  o.max_frame_bytes = kMaxFrameBytesLimit + 1;
  EXPECT_EQ(CreateInprocChannel(o).status().code(), absl::StatusCode::kInvalidArgument);
  o = TransportOptions();
  o.timeout = absl::ZeroDuration();
  EXPECT_EQ(TcpActivationSender::Connect("127.0.0.1:1", kSecret, o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o = TransportOptions();
  o.hello_timeout = absl::ZeroDuration();
  EXPECT_EQ(TcpActivationListener::Create("127.0.0.1:0", o).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// ---- TCP: raw bytes against the listener ----

class TcpTransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_ = TestOptions();
    Listen();
  }
  // (Re)creates the listener with the current options_.
  void Listen() {
    auto l = TcpActivationListener::Create("127.0.0.1:0", options_);
    ASSERT_TRUE(l.ok()) << l.status();
    listener_ = std::move(*l);
  }
  void TearDown() override {
    if (raw_ >= 0) ::close(raw_);
    for (int fd : strays_) ::close(fd);
  }

  sockaddr_in ListenerAddr() const {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(listener_->port()));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
  }
  std::string ListenerAddress() const { return absl::StrCat("127.0.0.1:", listener_->port()); }

  // Connects a raw socket (no handshake yet).
  void ConnectRaw() {
    raw_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(raw_, 0);
    const sockaddr_in a = ListenerAddr();
    ASSERT_EQ(::connect(raw_, reinterpret_cast<const sockaddr*>(&a), sizeof(a)), 0);
  }
  // Another raw connection (closed at TearDown); -1 when it failed.
  int Dial() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    strays_.push_back(fd);
    const sockaddr_in a = ListenerAddr();
    const bool ok = ::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof(a)) == 0;
    EXPECT_TRUE(ok) << std::strerror(errno);
    return ok ? fd : -1;
  }
  // Closes a Dial()ed connection, abortively (RST) when `reset`.
  void HangUp(int fd, bool reset) {
    if (reset) {
      const linger l{1, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    }
    ::close(fd);
    strays_.erase(std::remove(strays_.begin(), strays_.end(), fd), strays_.end());
  }
  static void SendBytes(int fd, const std::string& bytes) {
    ASSERT_EQ(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(bytes.size()));
  }
  void WriteRaw(const void* data, size_t n) {
    ASSERT_EQ(::send(raw_, data, n, MSG_NOSIGNAL), static_cast<ssize_t>(n));
  }
  // The first kTcpHelloBytes of a sender hello: magic, version, flags.
  static std::string HelloHead(uint32_t version) {
    std::string h(kTcpSenderHelloMagic, 8);
    for (int i = 0; i < 4; ++i) h.push_back(static_cast<char>(version >> (8 * i)));
    h.append(4, '\0');
    return h;
  }
  // A whole sender hello of this protocol version, presenting `secret`.
  static std::string Hello(const std::string& secret = kSecret) {
    return HelloHead(kTcpProtocolVersion) + secret;
  }
  // Reads the listener's 16-byte reply on `fd`; its status word, or -1 when
  // no whole reply with the receiver's magic came within 2 s.
  static int64_t ReadReplyStatus(int fd) {
    char reply[kTcpHelloBytes];
    size_t have = 0;
    while (have < sizeof(reply)) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 2000) != 1) return -1;
      const ssize_t n = ::recv(fd, reply + have, sizeof(reply) - have, 0);
      if (n <= 0) return -1;
      have += static_cast<size_t>(n);
    }
    if (std::string(reply, 8) != std::string(kTcpReceiverHelloMagic, 8)) return -1;
    uint32_t status = 0;
    for (int i = 3; i >= 0; --i) status = (status << 8) | static_cast<uint8_t>(reply[12 + i]);
    return status;
  }
  // True when the peer closed `fd` (end of file or reset) within 2 s.
  static bool ClosedByPeer(int fd) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 2000) != 1) return false;
    char c;
    return ::recv(fd, &c, 1, MSG_DONTWAIT) <= 0;
  }
  // Raw connection with a completed handshake, and its receiver.
  std::unique_ptr<ActivationReceiver> Handshake() {
    ConnectRaw();
    const std::string hello = Hello();
    WriteRaw(hello.data(), hello.size());
    auto r = listener_->Accept(absl::Seconds(2), kSecret);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? std::move(*r) : nullptr;
  }

  // Sends `frames` and Close() over `sender`; `receiver` must get them intact,
  // then the end of stream.
  static void ExpectStreamIntact(ActivationSender& sender, ActivationReceiver& receiver,
                                 const std::vector<TensorFrame>& frames) {
    for (const TensorFrame& f : frames) ASSERT_TRUE(sender.Send(f).ok());
    ASSERT_TRUE(sender.Close().ok());
    for (const TensorFrame& want : frames) {
      auto got = receiver.Recv(absl::Seconds(2));
      ASSERT_TRUE(got.ok()) << got.status();
      ExpectSameFrame(want, *got);
    }
    EXPECT_EQ(receiver.Recv(absl::Seconds(1)).status().code(), absl::StatusCode::kOutOfRange);
  }

  TransportOptions options_;
  std::unique_ptr<TcpActivationListener> listener_;
  int raw_ = -1;
  std::vector<int> strays_;  // Dial()ed connections
};

TEST_F(TcpTransportTest, CorruptFrameBytesAreDataLoss) {
  struct Case {
    const char* name;
    std::function<void(uint8_t*)> patch;
  };
  const std::vector<Case> cases = {
      {"garbage", [](uint8_t* b) { std::memset(b, 0xab, kFrameHeaderBytes); }},
      {"flipped dim", [](uint8_t* b) { b[40] ^= 1; }},
      {"sealed huge shape",
       [](uint8_t* b) {
         b[7] = 9;
         SealFrameHeader(b);
       }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::unique_ptr<ActivationReceiver> receiver = Handshake();
    ASSERT_NE(receiver, nullptr);
    uint8_t hdr[kFrameHeaderBytes];
    EncodeFrameHeader(ValidHeader(), hdr);
    c.patch(hdr);
    WriteRaw(hdr, sizeof(hdr));
    const absl::Time t0 = absl::Now();
    auto got = receiver->Recv(absl::Seconds(2));
    EXPECT_EQ(got.status().code(), absl::StatusCode::kDataLoss) << got.status();
    EXPECT_LT(SecondsSince(t0), 1.0);
    EXPECT_EQ(receiver->Recv(absl::Seconds(1)).status().code(), absl::StatusCode::kDataLoss);
    ::close(raw_);
    raw_ = -1;
  }
}

TEST_F(TcpTransportTest, FrameAboveReceiverCapIsDataLoss) {
  options_.max_frame_bytes = 1 << 20;
  ASSERT_NO_FATAL_FAILURE(Listen());
  std::unique_ptr<ActivationReceiver> receiver = Handshake();
  ASSERT_NE(receiver, nullptr);
  FrameHeader h = ValidHeader();
  h.dtype = torch::kFloat32;
  h.shape = {1024, 1024};  // 4 MiB > 1 MiB cap
  h.payload_bytes = 4 << 20;
  uint8_t hdr[kFrameHeaderBytes];
  EncodeFrameHeader(h, hdr);
  WriteRaw(hdr, sizeof(hdr));
  EXPECT_EQ(receiver->Recv(absl::Seconds(2)).status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(TcpTransportTest, SenderDyingMidFrameIsUnavailable) {
  std::unique_ptr<ActivationReceiver> receiver = Handshake();
  ASSERT_NE(receiver, nullptr);
  FrameHeader h = ValidHeader();
  h.dtype = torch::kFloat32;
  h.shape = {256, 1024};  // 1 MiB announced
  h.payload_bytes = 1 << 20;
  uint8_t hdr[kFrameHeaderBytes];
  EncodeFrameHeader(h, hdr);
  WriteRaw(hdr, sizeof(hdr));
  std::vector<char> part(1000, 'x');
  WriteRaw(part.data(), part.size());
  ::close(raw_);
  raw_ = -1;
  const absl::Time t0 = absl::Now();
  auto got = receiver->Recv(absl::Seconds(5));
  EXPECT_EQ(got.status().code(), absl::StatusCode::kUnavailable) << got.status();
  EXPECT_LT(SecondsSince(t0), 1.0);
}

TEST_F(TcpTransportTest, SenderStallingMidFrameIsUnavailableAfterTimeout) {
  options_.timeout = absl::Milliseconds(200);
  ASSERT_NO_FATAL_FAILURE(Listen());
  std::unique_ptr<ActivationReceiver> receiver = Handshake();
  ASSERT_NE(receiver, nullptr);
  uint8_t hdr[kFrameHeaderBytes];
  EncodeFrameHeader(ValidHeader(), hdr);
  WriteRaw(hdr, 100);  // a third of a header, then silence (socket stays open)
  const absl::Time t0 = absl::Now();
  auto got = receiver->Recv(absl::Seconds(3));
  EXPECT_EQ(got.status().code(), absl::StatusCode::kUnavailable) << got.status();
  EXPECT_GE(SecondsSince(t0), 0.15);
  EXPECT_LT(SecondsSince(t0), 1.0);
}

TEST_F(TcpTransportTest, IdleSenderIsNotAStall) {
  options_.timeout = absl::Milliseconds(100);
  ASSERT_NO_FATAL_FAILURE(Listen());
  std::unique_ptr<ActivationReceiver> receiver = Handshake();
  ASSERT_NE(receiver, nullptr);
  // Between frames the sender may think for longer than the timeout.
  EXPECT_EQ(receiver->Recv(absl::Milliseconds(300)).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  FrameHeader eos;
  eos.end_of_stream = true;
  uint8_t hdr[kFrameHeaderBytes];
  EncodeFrameHeader(eos, hdr);
  WriteRaw(hdr, sizeof(hdr));
  EXPECT_EQ(receiver->Recv(absl::Seconds(2)).status().code(), absl::StatusCode::kOutOfRange);
}

TEST_F(TcpTransportTest, BadHelloIsDroppedAndAcceptReturnsTheNextSender) {
  const int junk = Dial();
  ASSERT_GE(junk, 0);
  ASSERT_NO_FATAL_FAILURE(SendBytes(junk, "GET / HTTP/1.1\r\n\r\n"));
  EXPECT_NE(Handshake(), nullptr);  // the same Accept drops the junk first
  EXPECT_EQ(listener_->dropped_connections(), 1);
  char c;
  EXPECT_LE(::recv(junk, &c, 1, 0), 0);  // closed by the listener
}

TEST_F(TcpTransportTest, VersionMismatchIsAnsweredThenDropped) {
  ConnectRaw();
  const std::string hello = HelloHead(99);
  WriteRaw(hello.data(), hello.size());
  auto r = listener_->Accept(absl::Milliseconds(300), kSecret);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << r.status();
  char reply[kTcpHelloBytes];
  ASSERT_EQ(::recv(raw_, reply, sizeof(reply), MSG_WAITALL), static_cast<ssize_t>(sizeof(reply)));
  EXPECT_EQ(std::string(reply, 8), std::string(kTcpReceiverHelloMagic, 8));
  EXPECT_EQ(reply[12], static_cast<char>(kTcpHelloBadVersion));  // rejected
  EXPECT_EQ(::recv(raw_, reply, 1, 0), 0);  // then closed
  EXPECT_EQ(listener_->dropped_connections(), 1);
  ::close(raw_);
  raw_ = -1;
  EXPECT_NE(Handshake(), nullptr);
}

TEST_F(TcpTransportTest, ProtocolOneSenderIsToldAnotherVersion) {
  ConnectRaw();
  const std::string hello = HelloHead(1);  // protocol 1: 16 bytes, no secret
  WriteRaw(hello.data(), hello.size());
  EXPECT_EQ(listener_->Accept(absl::Milliseconds(300), kSecret).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(ReadReplyStatus(raw_), kTcpHelloBadVersion);
  EXPECT_TRUE(ClosedByPeer(raw_));
  EXPECT_EQ(listener_->dropped_connections(), 1);
}

TEST_F(TcpTransportTest, WrongSecretIsAnsweredThenDroppedAndTheRightOneAccepted) {
  // Another stage's secret, and one that differs only in its last byte.
  const int stranger = Dial(), near_miss = Dial();
  ASSERT_GE(stranger, 0);
  ASSERT_GE(near_miss, 0);
  ASSERT_NO_FATAL_FAILURE(SendBytes(stranger, Hello(kOtherSecret)));
  ASSERT_NO_FATAL_FAILURE(SendBytes(near_miss, Hello(NearlyTheSecret())));
  std::unique_ptr<ActivationReceiver> receiver = Handshake();  // drops both first
  ASSERT_NE(receiver, nullptr);
  EXPECT_EQ(listener_->dropped_connections(), 2);
  for (int fd : {stranger, near_miss}) {
    EXPECT_EQ(ReadReplyStatus(fd), kTcpHelloBadSecret);
    EXPECT_TRUE(ClosedByPeer(fd));
  }
  // The accepted stream is the real sender's.
  FrameHeader eos;
  eos.end_of_stream = true;
  uint8_t hdr[kFrameHeaderBytes];
  EncodeFrameHeader(eos, hdr);
  WriteRaw(hdr, sizeof(hdr));
  EXPECT_EQ(receiver->Recv(absl::Seconds(2)).status().code(), absl::StatusCode::kOutOfRange);
}

TEST_F(TcpTransportTest, StrangerWithWrongSecretIsRefusedWhileTheRealSenderIsAccepted) {
  // Both connect at once while the receiver waits for its stage's sender.
  auto stranger = std::async(std::launch::async, [&] {
    return TcpActivationSender::Connect(ListenerAddress(), kOtherSecret, options_);
  });
  auto real = std::async(std::launch::async, [&] {
    return TcpActivationSender::Connect(ListenerAddress(), kSecret, options_);
  });
  const absl::Time t0 = absl::Now();
  auto receiver = listener_->Accept(absl::Seconds(10), kSecret);
  ASSERT_TRUE(receiver.ok()) << receiver.status();
  EXPECT_LT(SecondsSince(t0), 1.5);
  // Whichever hello came second may still be pending: a short Accept
  // settles it (the stranger is refused; nobody else is there).
  EXPECT_EQ(listener_->Accept(absl::Milliseconds(500), kSecret).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  auto refused = stranger.get();
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied) << refused.status();
  EXPECT_EQ(listener_->dropped_connections(), 1);
  auto sender = real.get();
  ASSERT_TRUE(sender.ok()) << sender.status();
  ExpectStreamIntact(**sender, **receiver,
                     {Frame("fp", 0, Sample({2, 8, 16}, torch::kFloat32, 30)),
                      Frame("quant", 0, Sample({2, 8, 16}, torch::kBFloat16, 31)),
                      Frame("qstep", 1, Sample({1, 8, 16}, torch::kFloat32, 32))});
}

TEST_F(TcpTransportTest, EachAcceptChecksItsOwnSecret) {
  // The listener outlives assignments: a sender of the previous one (its
  // secret) is refused by an Accept for the next.
  const std::string previous = kOtherSecret;
  auto stale = std::async(std::launch::async, [&] {
    return TcpActivationSender::Connect(ListenerAddress(), previous, options_);
  });
  EXPECT_EQ(listener_->Accept(absl::Milliseconds(500), kSecret).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(stale.get().status().code(), absl::StatusCode::kPermissionDenied);
  auto fresh = std::async(std::launch::async, [&] {
    return TcpActivationSender::Connect(ListenerAddress(), previous, options_);
  });
  auto receiver = listener_->Accept(absl::Seconds(5), previous);
  ASSERT_TRUE(receiver.ok()) << receiver.status();
  auto sender = fresh.get();
  ASSERT_TRUE(sender.ok()) << sender.status();
  ExpectStreamIntact(**sender, **receiver, {Frame("fp", 0, Sample({1, 4, 8}, torch::kFloat32, 33))});
}

TEST_F(TcpTransportTest, SecretsOfAnotherLengthAreInvalidArgument) {
  for (const std::string& bad : {std::string(), std::string(kTcpStreamSecretBytes - 1, 'x'),
                                 std::string(kTcpStreamSecretBytes + 1, 'x')}) {
    SCOPED_TRACE(bad.size());
    const absl::Time t0 = absl::Now();
    EXPECT_EQ(listener_->Accept(absl::Seconds(5), bad).status().code(),
              absl::StatusCode::kInvalidArgument);
    EXPECT_LT(SecondsSince(t0), 1.0) << "refused without waiting";
    EXPECT_EQ(TcpActivationSender::Connect(ListenerAddress(), bad, options_).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
  EXPECT_NE(Handshake(), nullptr) << "the listener stays usable";
  EXPECT_EQ(listener_->dropped_connections(), 0);
}

TEST_F(TcpTransportTest, GarbageAndShortHellosAreDroppedWithoutHarm) {
  options_.hello_timeout = absl::Milliseconds(100);
  ASSERT_NO_FATAL_FAILURE(Listen());
  // Each closes, or goes silent, before a whole hello.
  const std::vector<std::string> payloads = {
      HelloHead(kTcpProtocolVersion),                    // no secret at all
      Hello().substr(0, kTcpSenderHelloBytes - 1),       // one byte short
      std::string(kTcpSenderHelloMagic, 8) + std::string(300, '\xff'),  // magic, then junk
      std::string(4096, '\0'),                           // zeros
  };
  for (size_t i = 0; i < payloads.size(); ++i) {
    const int fd = Dial();
    ASSERT_GE(fd, 0);
    ASSERT_NO_FATAL_FAILURE(SendBytes(fd, payloads[i]));
    if (i % 2 == 0) HangUp(fd, /*reset=*/i == 2);  // odd ones stay open, silent
  }
  // Random bytes, in several writes.
  const int noise = Dial();
  ASSERT_GE(noise, 0);
  std::string random(1 << 16, '\0');
  uint32_t x = 12345;
  for (char& c : random) {
    x = x * 1664525u + 1013904223u;
    c = static_cast<char>(x >> 24);
  }
  random[0] = 'E';  // starts like the magic
  for (size_t off = 0; off < random.size(); off += 4096) {
    // Never blocks: nobody reads before Accept; a full or dropped socket ends it.
    if (::send(noise, random.data() + off, 4096, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) break;
  }
  auto r = listener_->Accept(absl::Milliseconds(400), kSecret);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << r.status();
  EXPECT_EQ(listener_->dropped_connections(), static_cast<int64_t>(payloads.size()) + 1);
  EXPECT_TRUE(ClosedByPeer(noise));
  auto connecting = std::async(std::launch::async, [&] {
    return TcpActivationSender::Connect(ListenerAddress(), kSecret, options_);
  });
  auto receiver = listener_->Accept(absl::Seconds(5), kSecret);
  ASSERT_TRUE(receiver.ok()) << receiver.status();
  auto sender = connecting.get();
  ASSERT_TRUE(sender.ok()) << sender.status();
  ExpectStreamIntact(**sender, **receiver, {Frame("fp", 0, Sample({2, 4, 8}, torch::kFloat16, 34))});
}

TEST_F(TcpTransportTest, StraysAreDroppedAndARealSenderIsAcceptedAtOnce) {
  options_.hello_timeout = absl::Seconds(3);  // the silent stray outlives the Accept
  ASSERT_NO_FATAL_FAILURE(Listen());
  HangUp(Dial(), /*reset=*/false);  // port scan: connect, close
  HangUp(Dial(), /*reset=*/true);   // port scan: connect, reset
  ASSERT_GE(Dial(), 0);             // silent, stays open
  const int junk = Dial();
  ASSERT_GE(junk, 0);
  ASSERT_NO_FATAL_FAILURE(SendBytes(junk, std::string(64, '\xab')));
  auto connecting = std::async(std::launch::async, [&] {
    return TcpActivationSender::Connect(ListenerAddress(), kSecret, options_);
  });
  const absl::Time t0 = absl::Now();
  auto receiver = listener_->Accept(absl::Seconds(10), kSecret);
  ASSERT_TRUE(receiver.ok()) << receiver.status();
  EXPECT_LT(SecondsSince(t0), 1.5);  // not held up by the silent stray's 3 s
  auto sender = connecting.get();
  ASSERT_TRUE(sender.ok()) << sender.status();
  EXPECT_GE(listener_->dropped_connections(), 2);  // the close and the junk, at least
  ExpectStreamIntact(**sender, **receiver,
                     {Frame("fp", 0, Sample({2, 8, 16}, torch::kFloat32, 20)),
                      Frame("quant", 0, Sample({2, 8, 16}, torch::kBFloat16, 21))});
}

TEST_F(TcpTransportTest, OnlyStraysIsDeadlineExceededAtTheCallersDeadline) {
  options_.hello_timeout = absl::Milliseconds(100);
  ASSERT_NO_FATAL_FAILURE(Listen());
  HangUp(Dial(), /*reset=*/false);  // closes before the hello
  ASSERT_GE(Dial(), 0);             // silent
  const int junk = Dial();          // short garbage: dropped at its first byte
  const int partial = Dial();       // half a hello, then silence
  ASSERT_GE(junk, 0);
  ASSERT_GE(partial, 0);
  ASSERT_NO_FATAL_FAILURE(SendBytes(junk, "\x16\x03\x01"));
  ASSERT_NO_FATAL_FAILURE(SendBytes(partial, Hello().substr(0, 6)));
  const absl::Time t0 = absl::Now();
  auto r = listener_->Accept(absl::Milliseconds(400), kSecret);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << r.status();
  EXPECT_GE(SecondsSince(t0), 0.39);
  EXPECT_LT(SecondsSince(t0), 1.0);
  EXPECT_EQ(listener_->dropped_connections(), 4);  // silent ones after 100 ms
  EXPECT_NE(Handshake(), nullptr);
}

TEST_F(TcpTransportTest, HelloSplitAcrossAcceptCallsIsKept) {
  ConnectRaw();
  const std::string hello = Hello();
  WriteRaw(hello.data(), 5);
  EXPECT_EQ(listener_->Accept(absl::Milliseconds(100), kSecret).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  WriteRaw(hello.data() + 5, hello.size() - 5);
  auto r = listener_->Accept(absl::Seconds(2), kSecret);
  ASSERT_TRUE(r.ok()) << r.status();
  char reply[kTcpHelloBytes];
  ASSERT_EQ(::recv(raw_, reply, sizeof(reply), MSG_WAITALL), static_cast<ssize_t>(sizeof(reply)));
  EXPECT_EQ(std::string(reply, 8), std::string(kTcpReceiverHelloMagic, 8));
  EXPECT_EQ(reply[12], 0);  // accepted
  EXPECT_EQ(listener_->dropped_connections(), 0);
}

TEST_F(TcpTransportTest, ManySimultaneousConnectsQueueWithoutDelayingASender) {
  constexpr int kStrays = 64;
  const sockaddr_in a = ListenerAddr();
  for (int i = 0; i < kStrays; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    strays_.push_back(fd);
    const int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof(a));
    ASSERT_TRUE(rc == 0 || errno == EINPROGRESS) << std::strerror(errno);
  }
  // All get established while nobody accepts: the backlog holds them (a full
  // backlog drops the SYN, and the client retries only a second later).
  for (int fd : strays_) {
    pollfd p{fd, POLLOUT, 0};
    ASSERT_EQ(::poll(&p, 1, 900), 1) << "connect not established";
    int err = 0;
    socklen_t len = sizeof(err);
    ASSERT_EQ(::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len), 0);
    EXPECT_EQ(err, 0) << std::strerror(err);
  }
  auto connecting = std::async(std::launch::async, [&] {
    return TcpActivationSender::Connect(ListenerAddress(), kSecret, options_);
  });
  const absl::Time t0 = absl::Now();
  auto receiver = listener_->Accept(absl::Seconds(10), kSecret);
  ASSERT_TRUE(receiver.ok()) << receiver.status();
  EXPECT_LT(SecondsSince(t0), 1.5);
  auto sender = connecting.get();
  ASSERT_TRUE(sender.ok()) << sender.status();
  // Pending slots are bounded: the sender pushed out the oldest silent stray.
  EXPECT_EQ(listener_->dropped_connections(),
            std::max<int64_t>(0, kStrays + 1 - static_cast<int64_t>(kTcpMaxPendingHellos)));
  ExpectStreamIntact(**sender, **receiver, {Frame("fp", 0, Sample({4, 16, 32}, torch::kFloat32, 22))});
}

TEST_F(TcpTransportTest, AcceptTimesOut) {
  const absl::Time t0 = absl::Now();
  EXPECT_EQ(listener_->Accept(absl::Milliseconds(100), kSecret).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_LT(SecondsSince(t0), 1.0);
}

TEST_F(TcpTransportTest, ConnectToClosedPortIsUnavailable) {
  const int port = listener_->port();
  listener_.reset();
  const absl::Time t0 = absl::Now();
  auto s = TcpActivationSender::Connect(absl::StrCat("127.0.0.1:", port), kSecret, options_);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kUnavailable) << s.status();
  EXPECT_LT(SecondsSince(t0), 1.0);
}

TEST_F(TcpTransportTest, ConnectToNonTransportPeerIsDataLoss) {
  // A plain server on 127.0.0.1 that answers the hello with junk.
  const int server = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(server, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(server, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  ASSERT_EQ(::listen(server, 1), 0);
  socklen_t len = sizeof(a);
  ASSERT_EQ(::getsockname(server, reinterpret_cast<sockaddr*>(&a), &len), 0);
  auto connecting = std::async(std::launch::async, [&] {
    return TcpActivationSender::Connect(absl::StrCat("127.0.0.1:", ntohs(a.sin_port)), kSecret,
                                        options_);
  });
  const int conn = ::accept(server, nullptr, nullptr);
  ASSERT_GE(conn, 0);
  char hello[kTcpSenderHelloBytes];
  ASSERT_EQ(::recv(conn, hello, sizeof(hello), MSG_WAITALL), static_cast<ssize_t>(sizeof(hello)));
  EXPECT_EQ(std::string(hello, kTcpHelloBytes), HelloHead(kTcpProtocolVersion));
  EXPECT_EQ(std::string(hello + kTcpHelloBytes, kTcpStreamSecretBytes), kSecret);
  const char junk[kTcpHelloBytes] = "SSH-2.0-nope\r\n";
  ASSERT_EQ(::send(conn, junk, sizeof(junk), MSG_NOSIGNAL), static_cast<ssize_t>(sizeof(junk)));
  auto sender = connecting.get();
  EXPECT_EQ(sender.status().code(), absl::StatusCode::kDataLoss) << sender.status();
  ::close(conn);
  ::close(server);
}

TEST_F(TcpTransportTest, BadAddressesAreInvalidArgument) {
  for (const char* a : {"127.0.0.1", ":0", "127.0.0.1:", "127.0.0.1:99999", "127.0.0.1:x1"}) {
    EXPECT_EQ(TcpActivationListener::Create(a).status().code(), absl::StatusCode::kInvalidArgument)
        << a;
    EXPECT_EQ(TcpActivationSender::Connect(a, kSecret).status().code(),
              absl::StatusCode::kInvalidArgument)
        << a;
  }
}

}  // namespace
}  // namespace eqat
