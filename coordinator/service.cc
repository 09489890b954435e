#include "coordinator/service.h"

#include "common/rpc/credentials.h"
#include "common/rpc/grpc_status.h"

namespace eqat {
namespace {

template <typename T>
grpc::Status Reply(const absl::StatusOr<T>& r, T* out) {
  if (!r.ok()) return ToGrpc(r.status());
  *out = *r;
  return grpc::Status::OK;
}

grpc::Status NeedId(const std::string& id) {
  if (id.empty()) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "id: is required");
  return grpc::Status::OK;
}

grpc::Status NeedWorker(const std::string& id) {
  if (id.empty()) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "worker_id: is required");
  return grpc::Status::OK;
}

// The caller's principal, when its token is valid and holds `need`.
absl::StatusOr<Principal> Caller(const grpc::ServerContext* ctx, const TokenAuth& auth, Role need) {
  absl::string_view authorization;
  const auto& md = ctx->client_metadata();
  if (auto it = md.find("authorization"); it != md.end()) {
    authorization = absl::string_view(it->second.data(), it->second.size());
  }
  absl::StatusOr<Principal> who = auth.Authenticate(authorization);
  if (!who.ok()) return who.status();
  if (absl::Status st = Authorize(*who, need); !st.ok()) return st;
  return who;
}

}  // namespace

grpc::Status QuantizationServiceImpl::SubmitJob(grpc::ServerContext* ctx,
                                                const v1::SubmitJobRequest* r, v1::Job* out) {
  absl::StatusOr<Principal> who = Caller(ctx, *auth_, Role::kSubmit);
  if (!who.ok()) return ToGrpc(who.status());
  if (!r->has_spec()) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "spec: is required");
  return Reply(s_->Submit(r->spec(), who->name), out);
}

grpc::Status QuantizationServiceImpl::GetJob(grpc::ServerContext* ctx, const v1::GetJobRequest* r,
                                             v1::Job* out) {
  if (auto who = Caller(ctx, *auth_, Role::kRead); !who.ok()) return ToGrpc(who.status());
  if (auto st = NeedId(r->id()); !st.ok()) return st;
  return Reply(s_->Get(r->id()), out);
}

grpc::Status QuantizationServiceImpl::ListJobs(grpc::ServerContext* ctx,
                                               const v1::ListJobsRequest* r,
                                               v1::ListJobsResponse* out) {
  if (auto who = Caller(ctx, *auth_, Role::kRead); !who.ok()) return ToGrpc(who.status());
  return Reply(s_->List(*r), out);
}

grpc::Status QuantizationServiceImpl::CancelJob(grpc::ServerContext* ctx,
                                                const v1::CancelJobRequest* r, v1::Job* out) {
  absl::StatusOr<Principal> who = Caller(ctx, *auth_, Role::kSubmit);
  if (!who.ok()) return ToGrpc(who.status());
  if (auto st = NeedId(r->id()); !st.ok()) return st;
  // Only an admin cancels other callers' jobs.
  const bool any = who->role == Role::kAdmin;
  return Reply(s_->Cancel(r->id(), any ? nullptr : &who->name), out);
}

grpc::Status QuantizationServiceImpl::WatchJob(grpc::ServerContext* ctx,
                                               const v1::WatchJobRequest* r,
                                               grpc::ServerWriter<v1::ProgressEvent>* w) {
  if (auto who = Caller(ctx, *auth_, Role::kRead); !who.ok()) return ToGrpc(who.status());
  if (auto st = NeedId(r->id()); !st.ok()) return st;
  int64_t next = 0;
  for (;;) {
    if (ctx->IsCancelled()) return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
    bool finished = false;
    auto events = s_->Events(r->id(), next, absl::Seconds(1), &finished);
    if (!events.ok()) return ToGrpc(events.status());
    for (const auto& e : *events) {
      if (!w->Write(e)) return grpc::Status(grpc::StatusCode::CANCELLED, "stream closed");
      next = e.seq() + 1;
    }
    if (finished) return grpc::Status::OK;
  }
}

grpc::Status ClusterServiceImpl::CheckPeer(const grpc::ServerContext* ctx) const {
  if (!require_cert_ || PeerHasVerifiedCertificate(*ctx)) return grpc::Status::OK;
  return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                      "a worker certificate signed by the cluster CA is required");
}

grpc::Status ClusterServiceImpl::Register(grpc::ServerContext* ctx, const v1::RegisterRequest* r,
                                          v1::RegisterResponse* out) {
  if (auto st = CheckPeer(ctx); !st.ok()) return st;
  if (r->data_address().empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "data_address: is required");
  }
  *out = s_->Register(*r);
  return grpc::Status::OK;
}

grpc::Status ClusterServiceImpl::Heartbeat(grpc::ServerContext* ctx, const v1::HeartbeatRequest* r,
                                           v1::HeartbeatResponse* out) {
  if (auto st = CheckPeer(ctx); !st.ok()) return st;
  if (auto st = NeedWorker(r->worker_id()); !st.ok()) return st;
  *out = s_->Heartbeat(*r);
  return grpc::Status::OK;
}

grpc::Status ClusterServiceImpl::PollAssignment(grpc::ServerContext* ctx, const v1::PollRequest* r,
                                                v1::PollResponse* out) {
  if (auto st = CheckPeer(ctx); !st.ok()) return st;
  if (auto st = NeedWorker(r->worker_id()); !st.ok()) return st;
  return Reply(s_->Poll(*r), out);
}

grpc::Status ClusterServiceImpl::GetRoute(grpc::ServerContext* ctx, const v1::RouteRequest* r,
                                          v1::RouteResponse* out) {
  if (auto st = CheckPeer(ctx); !st.ok()) return st;
  if (auto st = NeedWorker(r->worker_id()); !st.ok()) return st;
  return Reply(s_->Route(*r), out);
}

grpc::Status ClusterServiceImpl::ReportProgress(grpc::ServerContext* ctx, const v1::ProgressReport* r,
                                                v1::Ack*) {
  if (auto st = CheckPeer(ctx); !st.ok()) return st;
  if (auto st = NeedWorker(r->worker_id()); !st.ok()) return st;
  return ToGrpc(s_->Progress(*r));
}

grpc::Status ClusterServiceImpl::ReportBlock(grpc::ServerContext* ctx, const v1::BlockReport* r,
                                             v1::Ack*) {
  if (auto st = CheckPeer(ctx); !st.ok()) return st;
  if (auto st = NeedWorker(r->worker_id()); !st.ok()) return st;
  return ToGrpc(s_->Block(*r));
}

grpc::Status ClusterServiceImpl::FinishStage(grpc::ServerContext* ctx, const v1::StageFinished* r,
                                             v1::Ack*) {
  if (auto st = CheckPeer(ctx); !st.ok()) return st;
  if (auto st = NeedWorker(r->worker_id()); !st.ok()) return st;
  return ToGrpc(s_->Finish(*r));
}

}  // namespace eqat
