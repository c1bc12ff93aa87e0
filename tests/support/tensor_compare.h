#pragma once
// max |a - b| in double precision (broadcasting as ATen does): the one
// comparison the importer and exporter tests share.
#include <ATen/ATen.h>

namespace edgeopt::test {

inline double maxAbsDiff(const at::Tensor& a, const at::Tensor& b) {
  return (a.detach().to(at::kDouble) - b.detach().to(at::kDouble)).abs().max().item<double>();
}

}  // namespace edgeopt::test
