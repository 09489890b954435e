// gRPC adapters of the coordinator: the public QuantizationService and the
// internal Cluster service. Thin: validate the request shape, call the
// Scheduler, map absl::Status to grpc::Status (code kept). A request's
// deadline bounds the long polls (WatchJob, PollAssignment, GetRoute).
// Security: every public call first authenticates its bearer token and
// checks the role (coordinator/auth.h): UNAUTHENTICATED / PERMISSION_DENIED
// with fixed messages, before anything is looked up or changed. With
// `require_worker_certificate`, every Cluster call must come over mutual TLS
// with a certificate the server verified against the cluster CA
// (common/rpc/credentials.h); others get UNAUTHENTICATED.
// Thread-safety: gRPC calls these concurrently; the Scheduler is thread-safe.
#ifndef EQAT_COORDINATOR_SERVICE_H_
#define EQAT_COORDINATOR_SERVICE_H_

#include "coordinator/auth.h"
#include "coordinator/scheduler.h"
#include "eqat/v1/cluster.grpc.pb.h"
#include "eqat/v1/quantization_service.grpc.pb.h"

namespace eqat {

class QuantizationServiceImpl final : public v1::QuantizationService::Service {
 public:
  // `auth` must outlive the service.
  QuantizationServiceImpl(Scheduler* s, const TokenAuth* auth) : s_(s), auth_(auth) {}
  grpc::Status SubmitJob(grpc::ServerContext*, const v1::SubmitJobRequest*, v1::Job*) override;
  grpc::Status GetJob(grpc::ServerContext*, const v1::GetJobRequest*, v1::Job*) override;
  grpc::Status ListJobs(grpc::ServerContext*, const v1::ListJobsRequest*,
                        v1::ListJobsResponse*) override;
  grpc::Status CancelJob(grpc::ServerContext*, const v1::CancelJobRequest*, v1::Job*) override;
  grpc::Status WatchJob(grpc::ServerContext*, const v1::WatchJobRequest*,
                        grpc::ServerWriter<v1::ProgressEvent>*) override;

 private:
  Scheduler* s_;
  const TokenAuth* auth_;
};

class ClusterServiceImpl final : public v1::Cluster::Service {
 public:
  ClusterServiceImpl(Scheduler* s, bool require_worker_certificate)
      : s_(s), require_cert_(require_worker_certificate) {}
  grpc::Status Register(grpc::ServerContext*, const v1::RegisterRequest*,
                        v1::RegisterResponse*) override;
  grpc::Status Heartbeat(grpc::ServerContext*, const v1::HeartbeatRequest*,
                         v1::HeartbeatResponse*) override;
  grpc::Status PollAssignment(grpc::ServerContext*, const v1::PollRequest*,
                              v1::PollResponse*) override;
  grpc::Status GetRoute(grpc::ServerContext*, const v1::RouteRequest*, v1::RouteResponse*) override;
  grpc::Status ReportProgress(grpc::ServerContext*, const v1::ProgressReport*, v1::Ack*) override;
  grpc::Status ReportBlock(grpc::ServerContext*, const v1::BlockReport*, v1::Ack*) override;
  grpc::Status FinishStage(grpc::ServerContext*, const v1::StageFinished*, v1::Ack*) override;

 private:
  grpc::Status CheckPeer(const grpc::ServerContext* ctx) const;

  Scheduler* s_;
  bool require_cert_;
};

}  // namespace eqat

#endif  // EQAT_COORDINATOR_SERVICE_H_
