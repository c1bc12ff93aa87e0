// ProcessGroup (distributed.h) over c10d: a TCPStore for the rendezvous and
// small agreements, ProcessGroupGloo for CPU tensors and, when LibTorch has
// it, ProcessGroupNCCL for CUDA tensors (created on first use, so a CPU run
// never initialises CUDA).
#include <edgeopt/distributed.h>
#include <edgeopt/error.h>

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <fmt/format.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <cstdlib>
#include <map>
#include <thread>

namespace edgeopt::dist {
namespace {

bool isLoopback(const std::string& addr) {
  return addr == "localhost" || addr.rfind("127.", 0) == 0 || addr == "::1";
}

// Gloo's transport device: the interface GLOO_SOCKET_IFNAME names (as in
// PyTorch), loopback when every rank is on this machine, else the address
// this host's name resolves to.
std::shared_ptr<::gloo::transport::Device> glooDevice(const LaunchInfo& info) {
  if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname && *ifname)
    return ::c10d::ProcessGroupGloo::createDeviceForInterface(ifname);
  if (isLoopback(info.master_addr)) return ::c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  return ::c10d::ProcessGroupGloo::createDefaultDevice();
}

void wait(const c10::intrusive_ptr<::c10d::Work>& work, const char* what, int rank) {
  try {
    work->wait();
  } catch (const std::exception& e) {
    throw RuntimeFailure("rank " + std::to_string(rank) + ": " + what +
                         " with the other ranks failed (did another rank stop?): " + errorText(e));
  }
}

}  // namespace

struct ProcessGroup::Impl {
  LaunchInfo info;
  std::chrono::milliseconds timeout;
  c10::intrusive_ptr<::c10d::Store> store;
  std::map<c10::DeviceType, c10::intrusive_ptr<::c10d::ProcessGroup>> backends;
  int64_t shares = 0;  // sequence number: each share() uses a fresh key

  ::c10d::ProcessGroup& backendFor(c10::DeviceType device) {
    auto found = backends.find(device);
    if (found != backends.end()) return *found->second;
    c10::intrusive_ptr<::c10d::ProcessGroup> pg;
    // Each backend rendezvous under its own prefix of the one store.
    auto prefixed = [&](const char* name) {
      return c10::make_intrusive<::c10d::PrefixStore>(std::string("edgeopt/") + name, store);
    };
    if (device == c10::DeviceType::CPU) {
      auto options = ::c10d::ProcessGroupGloo::Options::create(timeout);
      options->devices.push_back(glooDevice(info));
      pg = c10::make_intrusive<::c10d::ProcessGroupGloo>(prefixed("gloo"), info.rank, info.world_size, options);
    } else if (device == c10::DeviceType::CUDA) {
#ifdef USE_C10D_NCCL
      auto options = ::c10d::ProcessGroupNCCL::Options::create();
      options->timeout = timeout;
      pg = c10::make_intrusive<::c10d::ProcessGroupNCCL>(prefixed("nccl"), info.rank, info.world_size, options);
#else
      throw RuntimeFailure("distributed training on CUDA needs a LibTorch built with NCCL; this one has none");
#endif
    } else {
      throw RuntimeFailure(std::string("distributed training has no backend for ") + c10::DeviceTypeName(device) +
                           " tensors");
    }
    return *backends.emplace(device, pg).first->second;
  }

  void checkSameDevice(const std::vector<at::Tensor>& tensors) const {
    for (const auto& t : tensors)
      if (t.device() != tensors.front().device())
        throw RuntimeFailure("a collective got tensors on " + tensors.front().device().str() + " and " +
                             t.device().str() + "; keep the model on one device");
  }

  // The tensors grouped by dtype (in dtype order, then in the given order:
  // the same on every rank), each group flattened into buckets of at most
  // `bucket_bytes`; `fn` runs the collective on each flat bucket, and the
  // results are copied back. Grouping keeps BN buffers (float, float, int64,
  // float, ...) from turning into one tiny collective each.
  template <class Fn>
  void forEachBucket(const std::vector<at::Tensor>& tensors, size_t bucket_bytes, Fn&& fn) {
    std::map<c10::ScalarType, std::vector<at::Tensor>> by_dtype;
    for (const auto& t : tensors) by_dtype[t.scalar_type()].push_back(t);
    for (auto& [dtype, group] : by_dtype) {
      size_t i = 0;
      while (i < group.size()) {
        size_t j = i, bytes = 0;
        while (j < group.size() && (j == i || bytes + group[j].nbytes() <= bucket_bytes)) bytes += group[j++].nbytes();
        std::vector<at::Tensor> flat_parts;
        for (size_t k = i; k < j; ++k) flat_parts.push_back(group[k].reshape({-1}));
        at::Tensor flat = at::cat(flat_parts);
        fn(flat);
        int64_t offset = 0;
        for (size_t k = i; k < j; ++k) {
          const int64_t n = group[k].numel();
          group[k].copy_(flat.narrow(0, offset, n).view(group[k].sizes()));
          offset += n;
        }
        i = j;
      }
    }
  }
};

ProcessGroup::ProcessGroup(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ProcessGroup::~ProcessGroup() = default;

std::unique_ptr<ProcessGroup> ProcessGroup::connect(const LaunchInfo& info, std::chrono::milliseconds timeout) {
  auto impl = std::make_unique<Impl>();
  impl->info = info;
  impl->timeout = timeout;
  ::c10d::TCPStoreOptions options;
  options.port = static_cast<std::uint16_t>(info.master_port);
  options.isServer = info.rank == 0;
  options.numWorkers = static_cast<size_t>(info.world_size);
  options.waitWorkers = true;  // the constructor returns when every rank has joined
  options.timeout = timeout;
  const std::string where = info.master_addr + ":" + std::to_string(info.master_port);
  const auto started = std::chrono::steady_clock::now();
  try {
    impl->store = c10::make_intrusive<::c10d::TCPStore>(info.master_addr, options);
    // The server's constructor waits for the clients, but a client's returns
    // once connected: every rank counts itself in and waits for the others,
    // so a missing rank fails here, within the timeout, and not in a collective.
    impl->store->add("edgeopt/joined", 1);
    auto ready = [&] { return impl->store->add("edgeopt/joined", 0) >= info.world_size; };
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!ready()) {
      if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error("not every rank joined");
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  } catch (const std::exception& e) {
    // Says how long it waited: the whole timeout, or less when a peer went
    // away (rank 0 stopping on a bad recipe closes the store under the others).
    const auto waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    throw RuntimeFailure("rank " + std::to_string(info.rank) + " of " + std::to_string(info.world_size) +
                         ": the rendezvous at MASTER_ADDR:MASTER_PORT = " + where + " failed after " +
                         fmt::format("{:.1f} s ({}); ", waited, errorText(e)) +
                         (info.rank == 0 ? "is the port free, and did every rank start?"
                                         : "is rank 0 running and reachable there? (EDGEOPT_DIST_TIMEOUT = " +
                                               std::to_string(timeout.count() / 1000) + " s)"));
  }
  return std::unique_ptr<ProcessGroup>(new ProcessGroup(std::move(impl)));
}

int ProcessGroup::rank() const { return impl_->info.rank; }
int ProcessGroup::size() const { return impl_->info.world_size; }

void ProcessGroup::broadcast(const std::vector<at::Tensor>& tensors, int root) {
  if (tensors.empty()) return;
  impl_->checkSameDevice(tensors);
  auto& pg = impl_->backendFor(tensors.front().device().type());
  impl_->forEachBucket(tensors, kDefaultBucketBytes, [&](at::Tensor& flat) {
    std::vector<at::Tensor> one{flat};
    ::c10d::BroadcastOptions options;
    options.rootRank = root;
    wait(pg.broadcast(one, options), "broadcast", rank());
  });
}

void ProcessGroup::allreduceBucketed(const std::vector<at::Tensor>& tensors, double scale, size_t bucket_bytes) {
  if (tensors.empty()) return;
  impl_->checkSameDevice(tensors);
  auto& pg = impl_->backendFor(tensors.front().device().type());
  impl_->forEachBucket(tensors, bucket_bytes, [&](at::Tensor& flat) {
    std::vector<at::Tensor> one{flat};
    wait(pg.allreduce(one), "all-reduce", rank());
    if (scale != 1.0) flat.mul_(scale);
  });
}

std::vector<double> ProcessGroup::sum(std::vector<double> values) {
  if (values.empty()) return values;
  at::Tensor t = at::tensor(values, at::kDouble);
  std::vector<at::Tensor> one{t};
  wait(impl_->backendFor(c10::DeviceType::CPU).allreduce(one), "all-reduce", rank());
  const double* p = t.data_ptr<double>();
  return std::vector<double>(p, p + values.size());
}

std::string ProcessGroup::share(const std::string& key, const std::string& value, int root) {
  const std::string full = "edgeopt/share/" + std::to_string(impl_->shares++) + "/" + key;
  try {
    if (rank() == root) {
      impl_->store->set(full, std::vector<uint8_t>(value.begin(), value.end()));
      return value;
    }
    const std::vector<uint8_t> bytes = impl_->store->get(full);  // waits up to the store's timeout
    return std::string(bytes.begin(), bytes.end());
  } catch (const std::exception& e) {
    throw RuntimeFailure("rank " + std::to_string(rank()) + ": waiting for rank " + std::to_string(root) +
                         " to share " + key + " failed (did it stop?): " + errorText(e));
  }
}

void ProcessGroup::barrier() { wait(impl_->backendFor(c10::DeviceType::CPU).barrier(), "barrier", rank()); }

}  // namespace edgeopt::dist
