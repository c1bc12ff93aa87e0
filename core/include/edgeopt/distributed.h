#pragma once
// Multi-process data parallel training on LibTorch's c10d, launched the way
// torchrun launches PyTorch: every process gets RANK, WORLD_SIZE, LOCAL_RANK,
// LOCAL_WORLD_SIZE, MASTER_ADDR and MASTER_PORT in its environment (or
// `edgeopt-run --nproc N` spawns N local processes and sets them).
//
// Rank 0 hosts the rendezvous (a c10d TCPStore on MASTER_ADDR:MASTER_PORT);
// collectives run on ProcessGroupGloo for CPU tensors, and on ProcessGroupNCCL
// for CUDA tensors when LibTorch was built with it. Every rank runs the whole
// recipe on its shard of the data; only rank 0 writes files (isMainProcess()).
//
// c10d's headers stay out of this file (they pull in Gloo and the whole
// c10d tree): ProcessGroup is a pimpl over them.
#include <ATen/core/Tensor.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace edgeopt {

class GraphModule;
struct TrainStats;

namespace dist {

// What a launcher tells a process through its environment.
struct LaunchInfo {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  int local_world_size = 1;  // ranks on this machine (LOCAL_WORLD_SIZE, else WORLD_SIZE)
  std::string master_addr;
  int master_port = 0;

  // nullopt when WORLD_SIZE is unset; a UsageError naming the variable when
  // one is malformed or missing (RANK without WORLD_SIZE, a port out of range).
  static std::optional<LaunchInfo> fromEnvironment();
};

// How long the rendezvous and each collective may wait for the other ranks
// before failing: EDGEOPT_DIST_TIMEOUT (seconds), default 1800, as torch's.
std::chrono::milliseconds timeoutFromEnvironment();

class ProcessGroup {
 public:
  // Joins the rendezvous: rank 0 opens the store, the others connect to it.
  // RuntimeFailure naming MASTER_ADDR:MASTER_PORT when not every rank arrives
  // within `timeout`, or when rank 0 cannot listen on the port.
  static std::unique_ptr<ProcessGroup> connect(const LaunchInfo& info, std::chrono::milliseconds timeout);
  ~ProcessGroup();

  int rank() const;
  int size() const;

  // Sends `tensors` from `root` to every rank, in place (coalesced into flat
  // buckets, one collective per bucket).
  void broadcast(const std::vector<at::Tensor>& tensors, int root = 0);
  // Sums `tensors` over all ranks in place, then multiplies by `scale`.
  // Tensors are grouped by dtype and flattened into buckets of at most
  // `bucket_bytes` (a larger tensor is a bucket of its own), one all-reduce
  // per bucket, as torch's DDP.
  void allreduceBucketed(const std::vector<at::Tensor>& tensors, double scale = 1.0,
                         size_t bucket_bytes = kDefaultBucketBytes);
  // Sums `values` over all ranks (float64, exact for counts below 2^53).
  std::vector<double> sum(std::vector<double> values);
  // `value` as given on `root`, on every rank (through the store: for small
  // agreements such as the run directory's name).
  std::string share(const std::string& key, const std::string& value, int root = 0);
  void barrier();

  static constexpr size_t kDefaultBucketBytes = 25u << 20;  // torch DDP's bucket_cap_mb

 private:
  struct Impl;
  explicit ProcessGroup(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The process's group, set once by edgeopt-run when launched with
// WORLD_SIZE > 1; nullptr in a single-process run.
ProcessGroup* world();
void setWorld(std::unique_ptr<ProcessGroup> group);
int rank();       // 0 without a group
int worldSize();  // 1 without a group
// True on rank 0 and in single-process runs: the only process that writes
// files (run directory, checkpoints, metrics, exports, the log file).
bool isMainProcess();

// Data parallel training steps on world(); no-ops without a group.
// Copies parameters and buffers from rank 0, so every replica starts equal.
void broadcastState(GraphModule& model);
// Copies buffers (BN running statistics, observer ranges) from rank 0, as
// torch's DDP does before each forward (broadcast_buffers=True): ranks see
// different batches, and this keeps the replicas identical.
void broadcastBuffers(GraphModule& model);
// Averages the gradients of `parameters` over the ranks (a parameter without
// a gradient counts as zeros, so every rank builds the same buckets).
void averageGradients(const std::vector<at::Tensor>& parameters);

// Adds every rank's epoch statistics (sums and example counts), in place.
void sumAcrossRanks(TrainStats& stats);
// Each rank's per-example means over its shard (`row`, the shard's example
// count under `count_key`) -> the means over all shards, counts summed.
std::vector<std::pair<std::string, double>> combineShardMeans(std::vector<std::pair<std::string, double>> row,
                                                              const std::string& count_key);

// `edgeopt-run --nproc N`: runs `argv` (the command line without --nproc) as
// N local ranks, each with the launch environment torchrun would give it
// (MASTER_ADDR 127.0.0.1, a free MASTER_PORT). When a rank fails, the others
// are stopped; returns the first failing rank's exit status (128 + signal
// when killed), else 0.
int runLocalRanks(int nproc, const std::vector<std::string>& argv);

// A TCP port free on 127.0.0.1 now (the kernel picks it), for a local
// rendezvous; RuntimeFailure when no socket can be bound.
int freeLocalPort();

}  // namespace dist
}  // namespace edgeopt
