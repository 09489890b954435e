#include "worker/transport/transport_factory.h"

#include <cstring>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/transport/nccl_transport.h"
#include "worker/transport/tcp_transport.h"

namespace eqat {
namespace {

constexpr char kNcclIdTag[] = "nccl-id";

// A receiver whose first frame was already read (to see whether the stream
// is an NCCL rendezvous); hands that frame out first.
class PeekedReceiver : public ActivationReceiver {
 public:
  PeekedReceiver(std::unique_ptr<ActivationReceiver> rx, absl::StatusOr<TensorFrame> first)
      : rx_(std::move(rx)), first_(std::move(first)) {}
  absl::StatusOr<TensorFrame> Recv(absl::Duration timeout) override {
    if (first_.has_value()) {
      absl::StatusOr<TensorFrame> f = std::move(*first_);
      first_.reset();
      return f;
    }
    return rx_->Recv(timeout);
  }

 private:
  std::unique_ptr<ActivationReceiver> rx_;
  std::optional<absl::StatusOr<TensorFrame>> first_;
};

#if defined(EQAT_WITH_NCCL)
// The NCCL id travels bit-exact as the payload of a float32 frame.
torch::Tensor IdToTensor(const std::string& id) {
  torch::Tensor t = torch::zeros({static_cast<int64_t>((id.size() + 3) / 4)}, torch::kFloat32);
  std::memcpy(t.data_ptr(), id.data(), id.size());
  return t;
}

std::string TensorToId(const torch::Tensor& t, size_t size) {
  std::string id(size, '\0');
  std::memcpy(id.data(), t.contiguous().data_ptr(), std::min<size_t>(size, t.numel() * 4));
  return id;
}

// Frames over NCCL; the TCP stream that carried the rendezvous is closed
// with it.
class NcclStreamSender : public ActivationSender {
 public:
  NcclStreamSender(std::unique_ptr<ActivationSender> tcp, std::unique_ptr<ActivationSender> nccl)
      : tcp_(std::move(tcp)), nccl_(std::move(nccl)) {}
  absl::Status Send(const TensorFrame& frame) override { return nccl_->Send(frame); }
  absl::Status Close() override {
    absl::Status st = nccl_->Close();
    absl::Status tcp = tcp_->Close();
    return st.ok() ? tcp : st;
  }

 private:
  std::unique_ptr<ActivationSender> tcp_;
  std::unique_ptr<ActivationSender> nccl_;
};

class NcclStreamReceiver : public ActivationReceiver {
 public:
  NcclStreamReceiver(std::unique_ptr<ActivationReceiver> tcp, std::unique_ptr<ActivationReceiver> nccl)
      : tcp_(std::move(tcp)), nccl_(std::move(nccl)) {}
  absl::StatusOr<TensorFrame> Recv(absl::Duration timeout) override { return nccl_->Recv(timeout); }

 private:
  std::unique_ptr<ActivationReceiver> tcp_;
  std::unique_ptr<ActivationReceiver> nccl_;
};
#endif  // EQAT_WITH_NCCL

bool NcclUsable(int cuda_device) {
#if defined(EQAT_WITH_NCCL)
  return cuda_device >= 0 && cuda_device < NcclActivationTransport::DeviceCount();
#else
  (void)cuda_device;
  return false;
#endif
}

class WorkerTransportImpl : public WorkerTransport {
 public:
  WorkerTransportImpl(std::unique_ptr<TcpActivationListener> listener, const TransportConfig& c,
                      bool nccl)
      : listener_(std::move(listener)), config_(c), nccl_(nccl) {}

  int port() const override { return listener_->port(); }
  bool nccl() const override { return nccl_; }

  absl::StatusOr<std::unique_ptr<ActivationReceiver>> Accept(absl::Duration timeout,
                                                             const std::string& secret) override {
    ASSIGN_OR_RETURN(std::unique_ptr<ActivationReceiver> rx, listener_->Accept(timeout, secret));
    if (!nccl_) return rx;
    // Senders that use NCCL send the rendezvous first, right after connecting.
    absl::StatusOr<TensorFrame> first = rx->Recv(config_.options.timeout);
    if (!first.ok() || first->tag != kNcclIdTag) {
      return std::unique_ptr<ActivationReceiver>(new PeekedReceiver(std::move(rx), std::move(first)));
    }
#if defined(EQAT_WITH_NCCL)
    NcclLinkConfig link =
        Link(TensorToId(first->tensor, static_cast<size_t>(first->index)), /*rank=*/1);
    ASSIGN_OR_RETURN(auto nccl_rx, NcclActivationTransport::CreateReceiver(link, config_.options));
    return std::unique_ptr<ActivationReceiver>(new NcclStreamReceiver(std::move(rx), std::move(nccl_rx)));
#else
    return absl::InternalError("NCCL rendezvous received by a worker built without NCCL");
#endif
  }

  absl::StatusOr<std::unique_ptr<ActivationSender>> Connect(const std::string& address,
                                                             bool peer_nccl,
                                                             const std::string& secret) override {
    // The rendezvous travels over this connection: the secret guards it too.
    ASSIGN_OR_RETURN(std::unique_ptr<ActivationSender> tcp,
                     TcpActivationSender::Connect(address, secret, config_.options));
    if (!nccl_ || !peer_nccl) return tcp;
#if defined(EQAT_WITH_NCCL)
    ASSIGN_OR_RETURN(std::string id, NcclActivationTransport::NewUniqueId());
    TensorFrame f;
    f.tag = kNcclIdTag;
    f.index = static_cast<int64_t>(id.size());  // the id's length in bytes
    f.tensor = IdToTensor(id);
    RETURN_IF_ERROR(tcp->Send(f));
    NcclLinkConfig link = Link(id, /*rank=*/0);
    ASSIGN_OR_RETURN(auto nccl_tx, NcclActivationTransport::CreateSender(link, config_.options));
    return std::unique_ptr<ActivationSender>(new NcclStreamSender(std::move(tcp), std::move(nccl_tx)));
#else
    return tcp;
#endif
  }

 private:
#if defined(EQAT_WITH_NCCL)
  // The two-rank link of one stream: the sender is rank 0, the receiver 1.
  NcclLinkConfig Link(std::string unique_id, int rank) const {
    NcclLinkConfig link;
    link.unique_id = std::move(unique_id);
    link.rank = rank;
    link.peer_rank = 1 - rank;
    link.device = config_.cuda_device;
    return link;
  }
#endif
  std::unique_ptr<TcpActivationListener> listener_;
  const TransportConfig config_;
  const bool nccl_;
};

}  // namespace

absl::StatusOr<TransportKind> ParseTransportKind(const std::string& text) {
  if (text == "tcp") return TransportKind::kTcp;
  if (text == "nccl") return TransportKind::kNccl;
  if (text == "auto") return TransportKind::kAuto;
  return absl::InvalidArgumentError(absl::StrCat("--transport: '", text, "' is not tcp, nccl or auto"));
}

absl::StatusOr<std::unique_ptr<WorkerTransport>> WorkerTransport::Create(const TransportConfig& c) {
  const bool usable = NcclUsable(c.cuda_device);
  if (c.kind == TransportKind::kNccl && !usable) {
#if defined(EQAT_WITH_NCCL)
    const char* why = c.cuda_device < 0 ? "this worker has no CUDA device (--device cpu)"
                                        : "the CUDA device is not visible to NCCL";
#else
    const char* why = "this build has no NCCL (CUDA toolkit and NCCL at configure time)";
#endif
    return absl::InvalidArgumentError(absl::StrCat("--transport: nccl, but ", why));
  }
  absl::StatusOr<std::unique_ptr<TcpActivationListener>> listener =
      TcpActivationListener::Create(c.listen, c.options);
  if (!listener.ok()) {
    return absl::Status(listener.status().code(),
                        absl::StrCat("--listen: ", listener.status().message()));
  }
  const bool nccl = c.kind != TransportKind::kTcp && usable;
  return std::unique_ptr<WorkerTransport>(new WorkerTransportImpl(std::move(*listener), c, nccl));
}

}  // namespace eqat
