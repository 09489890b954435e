// gRPC adapters of the coordinator: the public QuantizationService and the
// internal Cluster service. Thin: validate the request shape, call the
// Scheduler, map absl::Status to grpc::Status (code kept). A request's
// deadline bounds the long polls (WatchJob, PollAssignment, GetRoute).
// Thread-safety: gRPC calls these concurrently; the Scheduler is thread-safe.
#ifndef EQAT_COORDINATOR_SERVICE_H_
#define EQAT_COORDINATOR_SERVICE_H_

#include "coordinator/scheduler.h"
#include "eqat/v1/cluster.grpc.pb.h"
#include "eqat/v1/quantization_service.grpc.pb.h"

namespace eqat {

class QuantizationServiceImpl final : public v1::QuantizationService::Service {
 public:
  explicit QuantizationServiceImpl(Scheduler* s) : s_(s) {}
  grpc::Status SubmitJob(grpc::ServerContext*, const v1::SubmitJobRequest*, v1::Job*) override;
  grpc::Status GetJob(grpc::ServerContext*, const v1::GetJobRequest*, v1::Job*) override;
  grpc::Status ListJobs(grpc::ServerContext*, const v1::ListJobsRequest*,
                        v1::ListJobsResponse*) override;
  grpc::Status CancelJob(grpc::ServerContext*, const v1::CancelJobRequest*, v1::Job*) override;
  grpc::Status WatchJob(grpc::ServerContext*, const v1::WatchJobRequest*,
                        grpc::ServerWriter<v1::ProgressEvent>*) override;

 private:
  Scheduler* s_;
};

class ClusterServiceImpl final : public v1::Cluster::Service {
 public:
  explicit ClusterServiceImpl(Scheduler* s) : s_(s) {}
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
  Scheduler* s_;
};

}  // namespace eqat

#endif  // EQAT_COORDINATOR_SERVICE_H_
