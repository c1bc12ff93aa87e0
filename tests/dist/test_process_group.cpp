// The c10d process group with 2 ranks as 2 threads of this test (each its own
// TCPStore client, rank 0 its server, and its own Gloo pair): bucketed
// all-reduce and broadcast against hand-computed answers, the small
// agreements through the store, and a rendezvous nobody answers.
#include <edgeopt/distributed.h>
#include <edgeopt/error.h>
#include <edgeopt/runtime.h>

#include "test_support.h"

#include <ATen/ATen.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <functional>
#include <thread>

using edgeopt::dist::LaunchInfo;
using edgeopt::dist::ProcessGroup;

namespace {

LaunchInfo launch(int rank, int world_size, int port) {
  LaunchInfo info;
  info.rank = rank;
  info.world_size = world_size;
  info.local_rank = rank;
  info.local_world_size = world_size;
  info.master_addr = "127.0.0.1";
  info.master_port = port;
  return info;
}

// Runs body(group) on `world_size` ranks, one thread each; rethrows the
// first failure (Catch's assertions are not thread-safe: bodies only compute).
void onRanks(int world_size, const std::function<void(ProcessGroup&)>& body) {
  const int port = edgeopt::dist::freeLocalPort();
  std::vector<std::exception_ptr> errors(static_cast<size_t>(world_size));
  std::vector<std::thread> threads;
  for (int r = 0; r < world_size; ++r)
    threads.emplace_back([&, r] {
      try {
        auto group = ProcessGroup::connect(launch(r, world_size, port), std::chrono::seconds(20));
        body(*group);
      } catch (...) {
        errors[static_cast<size_t>(r)] = std::current_exception();
      }
    });
  for (auto& t : threads) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

// Rank r's tensors: values that differ per rank and per element.
std::vector<at::Tensor> rankTensors(int r) {
  const double base = 1.0 + r;
  return {at::arange(10, at::kFloat).mul(base).view({2, 5}),
          at::full({3, 4, 5}, 0.5 * base, at::kFloat),
          at::arange(7, at::kDouble).add(100.0 * base),  // another dtype: a bucket of its own
          at::linspace(-1, 1, 33, at::kFloat).mul(base)};
}

}  // namespace

TEST_CASE("bucketed all-reduce: sums over 2 ranks times the scale, whatever the bucket size", "[dist]") {
  for (size_t bucket_bytes : {size_t{16}, size_t{300}, ProcessGroup::kDefaultBucketBytes}) {
    std::vector<std::vector<at::Tensor>> results(2);
    onRanks(2, [&](ProcessGroup& g) {
      auto tensors = rankTensors(g.rank());
      g.allreduceBucketed(tensors, /*scale=*/0.5, bucket_bytes);
      results[static_cast<size_t>(g.rank())] = tensors;
    });
    const auto a = rankTensors(0), b = rankTensors(1);
    for (size_t i = 0; i < a.size(); ++i) {
      INFO("bucket " << bucket_bytes << " bytes, tensor " << i);
      const at::Tensor expected = (a[i] + b[i]) * 0.5;  // the hand sum, averaged
      CHECK(results[0][i].sizes() == expected.sizes());
      CHECK(results[0][i].scalar_type() == expected.scalar_type());
      CHECK(at::allclose(results[0][i], expected, 0, 1e-6));
      CHECK(at::equal(results[0][i], results[1][i]));
    }
  }
}

TEST_CASE("broadcast: every rank ends with the root's tensors", "[dist]") {
  for (int root : {0, 1}) {
    std::vector<std::vector<at::Tensor>> results(2);
    onRanks(2, [&](ProcessGroup& g) {
      auto tensors = rankTensors(g.rank());
      tensors.insert(tensors.begin() + 1, at::full({1}, 5 + g.rank(), at::kLong));  // as num_batches_tracked
      g.broadcast(tensors, root);
      results[static_cast<size_t>(g.rank())] = tensors;
    });
    auto expected = rankTensors(root);
    expected.insert(expected.begin() + 1, at::full({1}, 5 + root, at::kLong));
    for (size_t i = 0; i < expected.size(); ++i)
      for (int r = 0; r < 2; ++r) CHECK(at::equal(results[static_cast<size_t>(r)][i], expected[i]));
  }
}

TEST_CASE("sum and share: metrics add up, rank 0's string reaches every rank", "[dist]") {
  std::vector<std::vector<double>> sums(3);
  std::vector<std::string> shared(3);
  onRanks(3, [&](ProcessGroup& g) {
    const double r = g.rank();
    sums[static_cast<size_t>(g.rank())] = g.sum({r, 10.0 * r + 0.25, 1.0});
    shared[static_cast<size_t>(g.rank())] = g.share("run_dir", g.rank() == 0 ? "runs/x-1" : "ignored");
    g.barrier();
  });
  for (int r = 0; r < 3; ++r) {
    CHECK(sums[static_cast<size_t>(r)] == std::vector<double>{3.0, 30.75, 3.0});
    CHECK(shared[static_cast<size_t>(r)] == "runs/x-1");
  }
}

TEST_CASE("rendezvous: a rank whose rank 0 never comes fails within the timeout, naming the address", "[dist]") {
  const int port = edgeopt::dist::freeLocalPort();
  const auto t0 = std::chrono::steady_clock::now();
  try {
    ProcessGroup::connect(launch(1, 2, port), std::chrono::seconds(2));
    FAIL("connect returned");
  } catch (const edgeopt::RuntimeFailure& e) {
    const std::string m = e.what();
    CHECK(m.rfind("rank 1 of 2: the rendezvous at MASTER_ADDR:MASTER_PORT = 127.0.0.1:" + std::to_string(port) +
                      " failed after ",
                  0) == 0);
    CHECK(m.find("is rank 0 running and reachable there?") != std::string::npos);
  }
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(15));
}

TEST_CASE("launch environment: torchrun's variables, clear errors for bad ones, cores shared by local ranks",
          "[dist]") {
  for (const char* v : {"RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"})
    ::unsetenv(v);
  CHECK_FALSE(LaunchInfo::fromEnvironment().has_value());
  ::setenv("RANK", "1", 1);
  EDGEOPT_REQUIRE_THROWS_MESSAGE(LaunchInfo::fromEnvironment(), edgeopt::UsageError,
                                 "RANK is set but WORLD_SIZE is not: set both (and MASTER_ADDR, MASTER_PORT), as "
                                 "torchrun does");
  ::setenv("WORLD_SIZE", "2", 1);
  ::setenv("MASTER_ADDR", "10.0.0.5", 1);
  ::setenv("MASTER_PORT", "abc", 1);
  EDGEOPT_REQUIRE_THROWS_MESSAGE(LaunchInfo::fromEnvironment(), edgeopt::UsageError,
                                 "environment variable MASTER_PORT='abc' must be an integer in [1, 65535]");
  ::setenv("MASTER_PORT", "29501", 1);
  ::setenv("RANK", "2", 1);
  EDGEOPT_REQUIRE_THROWS_MESSAGE(LaunchInfo::fromEnvironment(), edgeopt::UsageError,
                                 "environment variable RANK='2' must be an integer in [0, 1]");
  ::setenv("RANK", "1", 1);
  const auto info = LaunchInfo::fromEnvironment();
  REQUIRE(info.has_value());
  CHECK(info->rank == 1);
  CHECK(info->world_size == 2);
  CHECK(info->local_rank == 1);        // defaults to RANK
  CHECK(info->local_world_size == 2);  // defaults to WORLD_SIZE
  CHECK(info->master_addr == "10.0.0.5");
  CHECK(info->master_port == 29501);

  // threads: 0 (all cores) is shared by the ranks on this machine.
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  ::setenv("LOCAL_WORLD_SIZE", "2", 1);
  CHECK(edgeopt::effectiveThreads(0) == std::max(1, cores / 2));
  CHECK(edgeopt::effectiveThreads(3) == 3);  // an explicit count is per rank
  for (const char* v : {"RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"}) ::unsetenv(v);
  CHECK(edgeopt::effectiveThreads(0) == cores);
}
