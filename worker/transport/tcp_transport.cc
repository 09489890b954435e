#include "worker/transport/tcp_transport.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <optional>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/transport/frame_codec.h"
#include "worker/transport/socket_io.h"

namespace eqat {
namespace {

using socket_io::UniqueFd;

struct AddrInfoDeleter {
  void operator()(addrinfo* ai) const { ::freeaddrinfo(ai); }
};
using AddrInfoPtr = std::unique_ptr<addrinfo, AddrInfoDeleter>;

absl::StatusOr<AddrInfoPtr> Resolve(const std::string& address) {
  ASSIGN_OR_RETURN(socket_io::HostPort hp, socket_io::ParseHostPort(address));
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const int rc = ::getaddrinfo(hp.host.c_str(), hp.port.c_str(), &hints, &res);
  if (rc != 0 || res == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot resolve '", address, "': ", ::gai_strerror(rc)));
  }
  return AddrInfoPtr(res);
}

void SetIntOpt(int fd, int level, int name, int value) {
  ::setsockopt(fd, level, name, &value, sizeof(value));  // best effort
}

// Buffer sizes must be set before connect()/listen() to shape the window.
void SetBufferSizes(int fd, const TransportOptions& o) {
  if (o.socket_buffer_bytes > 0) {
    SetIntOpt(fd, SOL_SOCKET, SO_SNDBUF, o.socket_buffer_bytes);
    SetIntOpt(fd, SOL_SOCKET, SO_RCVBUF, o.socket_buffer_bytes);
  }
}

// Latency and liveness settings of a connected socket.
void ConfigureConnected(int fd, const TransportOptions& o) {
  SetIntOpt(fd, IPPROTO_TCP, TCP_NODELAY, 1);
  SetIntOpt(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
  const int64_t secs = std::clamp<int64_t>(absl::ToInt64Seconds(o.timeout), 1, 7200);
  SetIntOpt(fd, IPPROTO_TCP, TCP_KEEPIDLE, static_cast<int>(secs));
  SetIntOpt(fd, IPPROTO_TCP, TCP_KEEPINTVL, static_cast<int>(std::max<int64_t>(1, secs / 3)));
  SetIntOpt(fd, IPPROTO_TCP, TCP_KEEPCNT, 3);
}

// The first kTcpHelloBytes of a hello: magic, this version, `word`.
void PutHello(char out[kTcpHelloBytes], const char* magic, uint32_t word) {
  std::memset(out, 0, kTcpHelloBytes);
  std::memcpy(out, magic, 8);
  for (int i = 0; i < 4; ++i) out[8 + i] = static_cast<char>(kTcpProtocolVersion >> (8 * i));
  for (int i = 0; i < 4; ++i) out[12 + i] = static_cast<char>(word >> (8 * i));
}
uint32_t GetWord(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

// InvalidArgument unless `secret` is one a hello can carry.
absl::Status CheckSecret(const std::string& secret) {
  if (secret.size() != kTcpStreamSecretBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "activation stream secret must be ", kTcpStreamSecretBytes, " bytes, got ", secret.size(),
        secret.empty() ? " (an empty secret would accept anyone)" : ""));
  }
  return absl::OkStatus();
}

// Equal n-byte strings, in time independent of where they differ.
bool ConstantTimeEqual(const char* a, const char* b, size_t n) {
  volatile unsigned char diff = 0;
  for (size_t i = 0; i < n; ++i) {
    diff = diff | static_cast<unsigned char>(static_cast<unsigned char>(a[i]) ^
                                             static_cast<unsigned char>(b[i]));
  }
  return diff == 0;
}

absl::Status ReadHello(int fd, const char* magic, absl::Duration timeout, uint32_t* version,
                       uint32_t* word) {
  char buf[kTcpHelloBytes];
  bool eof = false;
  absl::Status s = socket_io::ReadFull(fd, buf, sizeof(buf), timeout, &eof);
  if (absl::IsDeadlineExceeded(s)) {
    return absl::DeadlineExceededError("activation transport handshake timed out");
  }
  RETURN_IF_ERROR(s);
  if (std::memcmp(buf, magic, 8) != 0) {
    return absl::DataLossError("peer is not an activation transport endpoint (bad hello)");
  }
  *version = GetWord(buf + 8);
  *word = GetWord(buf + 12);
  return absl::OkStatus();
}

class TcpReceiver : public ActivationReceiver {
 public:
  TcpReceiver(UniqueFd fd, const TransportOptions& options)
      : fd_(std::move(fd)), options_(options), reader_([this] { ReaderLoop(); }) {}

  ~TcpReceiver() override {
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
    }
    ::shutdown(fd_.get(), SHUT_RDWR);  // wakes a reader blocked in poll()
    reader_.join();
  }

  absl::StatusOr<TensorFrame> Recv(absl::Duration timeout) override {
    absl::MutexLock lock(&mu_);
    auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !queue_.empty() || terminal_.has_value();
    };
    if (!mu_.AwaitWithTimeout(absl::Condition(&ready), std::max(timeout, absl::ZeroDuration()))) {
      return absl::DeadlineExceededError("no activation frame within the timeout");
    }
    if (queue_.empty()) return *terminal_;
    TensorFrame frame = std::move(queue_.front());
    queue_.pop_front();
    queued_bytes_ -= frame.tensor.numel() * static_cast<int64_t>(frame.tensor.element_size());
    return frame;
  }

 private:
  // Blocks until `pred` holds or the receiver stops; false when stopping.
  template <typename Pred>
  bool WaitFor(Pred pred) {
    absl::MutexLock lock(&mu_);
    auto cond = [this, &pred]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_ || pred(); };
    mu_.Await(absl::Condition(&cond));
    return !stop_;
  }

  void ReaderLoop() {
    absl::Status end = ReadFrames();
    ::shutdown(fd_.get(), SHUT_RDWR);  // the sender learns at once
    absl::MutexLock lock(&mu_);
    terminal_ = std::move(end);
  }

  // Reads frames until end of stream (OutOfRange), an error, or stop.
  absl::Status ReadFrames() {
    const int fd = fd_.get();
    while (true) {
      // Room for one more frame? Else leave the socket alone: TCP pushes back.
      if (!WaitFor([this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
            return static_cast<int>(queue_.size()) < options_.max_buffered_frames;
          })) {
        return absl::CancelledError("receiver destroyed");
      }
      uint8_t hdr[kFrameHeaderBytes];
      bool eof = false;
      absl::Status s = socket_io::ReadFull(fd, hdr, 1, absl::InfiniteDuration(), &eof);
      if (!s.ok()) {
        return absl::UnavailableError(
            eof ? "activation sender closed the connection without end of stream"
                : absl::StrCat("activation sender connection failed: ", s.message()));
      }
      RETURN_IF_ERROR(ReadMidFrame(hdr + 1, kFrameHeaderBytes - 1));
      ASSIGN_OR_RETURN(FrameHeader h, DecodeFrameHeader(hdr, options_.max_frame_bytes));
      if (!h.has_tensor) return absl::OutOfRangeError("activation stream ended");
      const int64_t bytes = h.payload_bytes;
      if (!WaitFor([this, bytes]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
            return queue_.empty() || queued_bytes_ + bytes <= options_.max_buffered_bytes;
          })) {
        return absl::CancelledError("receiver destroyed");
      }
      TensorFrame frame;
      frame.tag = std::move(h.tag);
      frame.index = h.index;
      frame.end_of_stream = h.end_of_stream;
      frame.tensor = AllocateFramePayload(h);
      RETURN_IF_ERROR(ReadMidFrame(frame.tensor.data_ptr(), static_cast<size_t>(bytes)));
      {
        absl::MutexLock lock(&mu_);
        queue_.push_back(std::move(frame));
        queued_bytes_ += bytes;
      }
      if (h.end_of_stream) return absl::OutOfRangeError("activation stream ended");
    }
  }

  absl::Status ReadMidFrame(void* buf, size_t n) {
    bool eof = false;
    absl::Status s = socket_io::ReadFull(fd_.get(), buf, n, options_.timeout, &eof);
    if (s.ok()) return s;
    if (eof) return absl::UnavailableError("activation sender vanished mid-frame");
    if (absl::IsDeadlineExceeded(s)) {
      return absl::UnavailableError(absl::StrCat("activation sender stalled mid-frame for ",
                                                 absl::FormatDuration(options_.timeout)));
    }
    return absl::UnavailableError(absl::StrCat("activation sender connection failed: ", s.message()));
  }

  UniqueFd fd_;
  const TransportOptions options_;
  absl::Mutex mu_;
  std::deque<TensorFrame> queue_ ABSL_GUARDED_BY(mu_);
  int64_t queued_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<absl::Status> terminal_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread reader_;  // last: starts after the members above exist
};

// Answers the sender hello received on `fd`: `have` bytes of it, at least
// kTcpHelloBytes, all kTcpSenderHelloBytes unless its version is another.
// The receiver of its stream; FailedPrecondition for another protocol
// version and PermissionDenied for another secret (both after telling the
// sender), or the reply's write error. `fd` is closed on error.
absl::StatusOr<std::unique_ptr<ActivationReceiver>> FinishHandshake(UniqueFd fd, const char* hello,
                                                                    size_t have,
                                                                    const std::string& secret,
                                                                    const TransportOptions& o) {
  ConfigureConnected(fd.get(), o);
  const uint32_t version = GetWord(hello + 8);
  uint32_t status = kTcpHelloAccepted;
  if (version != kTcpProtocolVersion) {
    status = kTcpHelloBadVersion;
  } else if (have < kTcpSenderHelloBytes ||
             !ConstantTimeEqual(hello + kTcpHelloBytes, secret.data(), kTcpStreamSecretBytes)) {
    status = kTcpHelloBadSecret;
  }
  char reply[kTcpHelloBytes];
  PutHello(reply, kTcpReceiverHelloMagic, status);
  // A fresh socket's send buffer takes 16 bytes at once: this does not wait.
  RETURN_IF_ERROR(socket_io::WriteFull(fd.get(), {iovec{reply, sizeof(reply)}}, o.hello_timeout));
  if (status == kTcpHelloBadVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "activation sender speaks protocol ", version, ", this receiver ", kTcpProtocolVersion));
  }
  if (status == kTcpHelloBadSecret) {
    return absl::PermissionDeniedError("activation sender presented another stream secret");
  }
  return std::unique_ptr<ActivationReceiver>(new TcpReceiver(std::move(fd), o));
}

// accept() errors that are an already failed connection, not the listener's:
// Linux reports a connection's pending network error there.
bool IsFailedConnection(int err) {
  switch (err) {
    case ECONNABORTED:
    case EPROTO:
    case ENETDOWN:
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case ENONET:
    case EHOSTUNREACH:
    case EOPNOTSUPP:
    case ENETUNREACH:
      return true;
    default:
      return false;
  }
}

}  // namespace

namespace tcp_internal {

struct PendingHello {
  UniqueFd fd;
  absl::Time deadline;            // dropped as silent after this
  char hello[kTcpSenderHelloBytes] = {};
  size_t have = 0;                // bytes of `hello` received so far
};

}  // namespace tcp_internal

using tcp_internal::PendingHello;

// ---- listener ----

absl::StatusOr<std::unique_ptr<TcpActivationListener>> TcpActivationListener::Create(
    const std::string& address, const TransportOptions& options) {
  RETURN_IF_ERROR(ValidateTransportOptions(options));
  if (options.hello_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("transport hello_timeout must be positive");
  }
  ASSIGN_OR_RETURN(AddrInfoPtr ai, Resolve(address));
  absl::Status last = absl::UnavailableError(absl::StrCat("cannot listen on ", address));
  for (addrinfo* a = ai.get(); a != nullptr; a = a->ai_next) {
    UniqueFd fd(::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol));
    if (fd.get() < 0) {
      last = socket_io::ErrnoStatus("socket", errno);
      continue;
    }
    SetIntOpt(fd.get(), SOL_SOCKET, SO_REUSEADDR, 1);
    SetBufferSizes(fd.get(), options);
    if (::bind(fd.get(), a->ai_addr, a->ai_addrlen) != 0) {
      last = socket_io::ErrnoStatus(absl::StrCat("bind ", address), errno);
      continue;
    }
    if (::listen(fd.get(), SOMAXCONN) != 0) {
      last = socket_io::ErrnoStatus(absl::StrCat("listen ", address), errno);
      continue;
    }
    RETURN_IF_ERROR(socket_io::SetNonBlocking(fd.get()));
    sockaddr_storage local{};
    socklen_t len = sizeof(local);
    if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&local), &len) != 0) {
      return socket_io::ErrnoStatus("getsockname", errno);
    }
    const int port = local.ss_family == AF_INET6
                         ? ntohs(reinterpret_cast<sockaddr_in6*>(&local)->sin6_port)
                         : ntohs(reinterpret_cast<sockaddr_in*>(&local)->sin_port);
    return std::unique_ptr<TcpActivationListener>(
        new TcpActivationListener(fd.release(), port, options));
  }
  return last;
}

TcpActivationListener::TcpActivationListener(int fd, int port, const TransportOptions& options)
    : fd_(fd), port_(port), options_(options) {}

TcpActivationListener::~TcpActivationListener() { ::close(fd_); }

absl::StatusOr<std::unique_ptr<ActivationReceiver>> TcpActivationListener::Accept(
    absl::Duration timeout, const std::string& secret) {
  RETURN_IF_ERROR(CheckSecret(secret));
  absl::MutexLock lock(&mu_);
  const absl::Time deadline = absl::Now() + std::max(timeout, absl::ZeroDuration());
  std::vector<pollfd> fds;
  while (true) {
    // Sleep until a connection or hello bytes arrive, a hello is overdue, or
    // the caller's deadline. fds[0] is the listener, fds[i + 1] pending_[i].
    absl::Time wake = deadline;
    fds.assign(1, pollfd{fd_, POLLIN, 0});
    for (const PendingHello& p : pending_) {
      wake = std::min(wake, p.deadline);
      fds.push_back(pollfd{p.fd.get(), POLLIN, 0});
    }
    RETURN_IF_ERROR(socket_io::PollFds(fds.data(), fds.size(),
                                       std::max(wake - absl::Now(), absl::ZeroDuration()))
                        .status());
    // Hello bytes before the overdue check, so a hello that is in counts.
    // Backwards: removing pending_[i] leaves pending_[0..i) matched to fds.
    for (size_t i = pending_.size(); i-- > 0;) {
      if (fds[i + 1].revents == 0) continue;
      if (std::unique_ptr<ActivationReceiver> receiver = AdvanceHello(i, secret)) return receiver;
    }
    const absl::Time now = absl::Now();
    for (size_t i = pending_.size(); i-- > 0;) {
      if (pending_[i].deadline <= now) DropPending(i);
    }
    // One new connection per pass: hellos already in are read before the
    // next stray can push anything out. Its hello is often there already.
    if (fds[0].revents != 0) {
      ASSIGN_OR_RETURN(const bool accepted, AcceptOne());
      if (accepted) {
        if (std::unique_ptr<ActivationReceiver> receiver =
                AdvanceHello(pending_.size() - 1, secret)) {
          return receiver;
        }
      }
    }
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError("no activation sender connected within the timeout");
    }
  }
}

absl::StatusOr<bool> TcpActivationListener::AcceptOne() {
  UniqueFd conn(::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
  if (conn.get() < 0) {
    const int err = errno;
    if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR) return false;
    if (!IsFailedConnection(err)) return socket_io::ErrnoStatus("accept", err);
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  if (pending_.size() >= kTcpMaxPendingHellos) DropPending(0);
  pending_.push_back(PendingHello{std::move(conn), absl::Now() + options_.hello_timeout});
  return true;
}

std::unique_ptr<ActivationReceiver> TcpActivationListener::AdvanceHello(
    size_t i, const std::string& secret) {
  PendingHello& p = pending_[i];
  // A sender writes nothing past its hello before the reply, so reading up
  // to the whole hello never takes frame bytes; an older version's shorter
  // hello is complete (and answered) at kTcpHelloBytes.
  bool eof = false;
  absl::StatusOr<size_t> got =
      socket_io::ReadAvailable(p.fd.get(), p.hello + p.have, kTcpSenderHelloBytes - p.have, &eof);
  if (got.ok()) p.have += *got;
  // Garbage is told apart by its first byte that differs from the magic.
  if (!got.ok() || std::memcmp(p.hello, kTcpSenderHelloMagic, std::min<size_t>(p.have, 8)) != 0) {
    DropPending(i);
    return nullptr;
  }
  if (p.have < kTcpHelloBytes) return nullptr;  // the rest is still due
  const bool this_version = GetWord(p.hello + 8) == kTcpProtocolVersion;
  if (this_version && p.have < kTcpSenderHelloBytes) return nullptr;  // the secret is due
  char hello[kTcpSenderHelloBytes];
  std::memcpy(hello, p.hello, sizeof(hello));
  const size_t have = p.have;
  UniqueFd fd = std::move(p.fd);
  pending_.erase(pending_.begin() + static_cast<std::ptrdiff_t>(i));
  absl::StatusOr<std::unique_ptr<ActivationReceiver>> receiver =
      FinishHandshake(std::move(fd), hello, have, secret, options_);
  if (receiver.ok()) return std::move(*receiver);
  dropped_.fetch_add(1, std::memory_order_relaxed);  // other version or secret, or gone
  return nullptr;
}

void TcpActivationListener::DropPending(size_t i) {
  pending_.erase(pending_.begin() + static_cast<std::ptrdiff_t>(i));  // closes it
  dropped_.fetch_add(1, std::memory_order_relaxed);
}

// ---- sender ----

absl::StatusOr<std::unique_ptr<TcpActivationSender>> TcpActivationSender::Connect(
    const std::string& address, const std::string& secret, const TransportOptions& options) {
  RETURN_IF_ERROR(ValidateTransportOptions(options));
  RETURN_IF_ERROR(CheckSecret(secret));
  ASSIGN_OR_RETURN(AddrInfoPtr ai, Resolve(address));
  const absl::Time deadline = absl::Now() + options.timeout;
  absl::Status last = absl::UnavailableError(absl::StrCat("cannot connect to ", address));
  for (addrinfo* a = ai.get(); a != nullptr; a = a->ai_next) {
    UniqueFd fd(::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                         a->ai_protocol));
    if (fd.get() < 0) {
      last = socket_io::ErrnoStatus("socket", errno);
      continue;
    }
    SetBufferSizes(fd.get(), options);
    if (::connect(fd.get(), a->ai_addr, a->ai_addrlen) != 0) {
      if (errno != EINPROGRESS) {
        last = socket_io::ErrnoStatus(absl::StrCat("connect ", address), errno);
        continue;
      }
      auto revents = socket_io::WaitFd(fd.get(), POLLOUT, deadline - absl::Now());
      if (!revents.ok()) {
        last = absl::IsDeadlineExceeded(revents.status())
                   ? absl::DeadlineExceededError(absl::StrCat("connect ", address, " timed out"))
                   : revents.status();
        continue;
      }
      int err = 0;
      socklen_t len = sizeof(err);
      ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        last = socket_io::ErrnoStatus(absl::StrCat("connect ", address), err);
        continue;
      }
    }
    ConfigureConnected(fd.get(), options);
    char hello[kTcpSenderHelloBytes];
    PutHello(hello, kTcpSenderHelloMagic, 0);
    std::memcpy(hello + kTcpHelloBytes, secret.data(), kTcpStreamSecretBytes);
    RETURN_IF_ERROR(socket_io::WriteFull(fd.get(), {iovec{hello, sizeof(hello)}},
                                         std::max(deadline - absl::Now(), absl::ZeroDuration())));
    uint32_t version = 0, word = 0;
    RETURN_IF_ERROR(ReadHello(fd.get(), kTcpReceiverHelloMagic,
                              std::max(deadline - absl::Now(), absl::ZeroDuration()), &version,
                              &word));
    if (word == kTcpHelloBadSecret) {
      return absl::PermissionDeniedError(absl::StrCat(
          "activation receiver at ", address,
          " refused the stream secret (a stale route, or its stage was reassigned)"));
    }
    if (word != kTcpHelloAccepted) {
      return absl::FailedPreconditionError(absl::StrCat(
          "activation receiver speaks protocol ", version, ", this sender ", kTcpProtocolVersion));
    }
    return std::unique_ptr<TcpActivationSender>(new TcpActivationSender(fd.release(), options));
  }
  return last;
}

TcpActivationSender::~TcpActivationSender() {
  absl::MutexLock lock(&mu_);
  if (fd_ >= 0) ::close(fd_);
}

absl::Status TcpActivationSender::Send(const TensorFrame& frame) {
  absl::MutexLock lock(&mu_);
  return SendLocked(frame);
}

absl::Status TcpActivationSender::SendLocked(const TensorFrame& frame) {
  RETURN_IF_ERROR(broken_);
  if (ended_ || fd_ < 0) return absl::FailedPreconditionError("Send after end of stream");
  ASSIGN_OR_RETURN(FrameHeader h, DescribeFrame(frame, options_.max_frame_bytes));
  torch::Tensor payload;
  if (h.has_tensor) payload = WirePayload(frame.tensor);
  uint8_t hdr[kFrameHeaderBytes];
  EncodeFrameHeader(h, hdr);
  std::vector<iovec> iov = {iovec{hdr, kFrameHeaderBytes}};
  if (h.payload_bytes > 0) {
    iov.push_back(iovec{payload.data_ptr(), static_cast<size_t>(h.payload_bytes)});
  }
  absl::Status s = socket_io::CheckPeerOpen(fd_);
  if (s.ok()) s = socket_io::WriteFull(fd_, std::move(iov), options_.timeout);
  if (!s.ok()) {
    broken_ = s;
    return s;
  }
  ended_ = frame.end_of_stream;
  return absl::OkStatus();
}

absl::Status TcpActivationSender::Close() {
  absl::MutexLock lock(&mu_);
  if (fd_ < 0) return broken_;
  if (broken_.ok() && !ended_) {
    TensorFrame eos;
    eos.end_of_stream = true;
    (void)SendLocked(eos);  // sets broken_ on failure
  }
  if (broken_.ok()) ::shutdown(fd_, SHUT_WR);
  ::close(fd_);
  fd_ = -1;
  return broken_;
}

}  // namespace eqat
