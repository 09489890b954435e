#include "coordinator/worker_registry.h"

#include <cstdint>
#include <random>

#include "absl/strings/str_format.h"

namespace eqat {

std::string WorkerRegistry::Register(const v1::RegisterRequest& info) {
  // A readable counter, then 64 random bits: the counter restarts after a
  // coordinator restart, and a process that still runs under an id from
  // before (stopped, partitioned) must never share it with a new one.
  std::random_device rd;
  const uint64_t salt = (uint64_t{rd()} << 32) | rd();
  std::string id = absl::StrFormat("worker-%03d-%016x", m_->NextId(), salt);
  Worker w;
  w.info = info;
  w.last_seen = m_->Now();
  workers_[id] = w;
  return id;
}

WorkerRegistry::Worker* WorkerRegistry::Touch(const std::string& id) {
  auto it = workers_.find(id);
  if (it == workers_.end() || !it->second.alive) return nullptr;
  it->second.last_seen = m_->Now();
  return &it->second;
}

const WorkerRegistry::Worker* WorkerRegistry::Find(const std::string& id) const {
  auto it = workers_.find(id);
  return it == workers_.end() ? nullptr : &it->second;
}

int WorkerRegistry::AliveCount() const {
  int n = 0;
  for (const auto& [id, w] : workers_) n += w.alive ? 1 : 0;
  return n;
}

std::vector<NamedCapacity> WorkerRegistry::AliveCapacities() const {
  std::vector<NamedCapacity> out;
  for (const auto& [id, w] : workers_) {
    if (w.alive) out.push_back({id, w.info.capacity()});
  }
  return out;
}

std::string WorkerRegistry::DataAddress(const std::string& id) const {
  const Worker* w = Find(id);
  return w == nullptr ? std::string() : w->info.data_address();
}

bool WorkerRegistry::AcceptsNccl(const std::string& id) const {
  const Worker* w = Find(id);
  return w != nullptr && w->info.capacity().accepts_nccl();
}

void WorkerRegistry::Hold(const std::string& id, const std::string& assignment_id) {
  auto it = workers_.find(id);
  if (it == workers_.end()) return;
  it->second.assignment_id = assignment_id;
  it->second.held_since = m_->Now();
}

void WorkerRegistry::Release(const std::string& id, const std::string& assignment_id) {
  auto it = workers_.find(id);
  if (it != workers_.end() && it->second.assignment_id == assignment_id) {
    it->second.assignment_id.clear();
    it->second.held_since = absl::InfinitePast();
  }
}

std::string WorkerRegistry::TakeUnreported(const std::string& id, const std::string& reported,
                                           absl::Duration grace) {
  auto it = workers_.find(id);
  if (it == workers_.end() || !it->second.alive) return std::string();
  Worker& w = it->second;
  if (w.assignment_id.empty() || w.assignment_id == reported) return std::string();
  if (m_->Now() - w.held_since < grace) return std::string();
  std::string held = std::move(w.assignment_id);
  w.assignment_id.clear();
  w.held_since = absl::InfinitePast();
  return held;
}

void WorkerRegistry::QueueAbort(const std::string& id, const std::string& assignment_id) {
  aborts_[id].insert(assignment_id);
}

std::vector<std::string> WorkerRegistry::TakeAborts(const std::string& id) {
  std::vector<std::string> out;
  auto it = aborts_.find(id);
  if (it == aborts_.end()) return out;
  out.assign(it->second.begin(), it->second.end());
  aborts_.erase(it);
  return out;
}

std::vector<WorkerRegistry::Lost> WorkerRegistry::MarkSilentDown() {
  std::vector<Lost> lost;
  absl::Time now = m_->Now();
  for (auto& [id, w] : workers_) {
    if (!w.alive || now - w.last_seen < timeout_) continue;
    w.alive = false;
    lost.push_back({id, w.assignment_id, now - w.last_seen});
    w.assignment_id.clear();
    w.held_since = absl::InfinitePast();
  }
  return lost;
}

}  // namespace eqat
