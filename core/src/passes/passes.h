#pragma once
// The built-in passes, listed in pass_table.cpp (private to the core).
#include <edgeopt/ir/graph.h>
#include <edgeopt/passes/pass.h>

namespace edgeopt::passes {

std::unique_ptr<Pass> createDeadCodeElimination(const Options&);
std::unique_ptr<Pass> createFoldConstants(const Options&);
std::unique_ptr<Pass> createFoldConvBatchNorm(const Options&);
std::unique_ptr<Pass> createPropagateShapes(const Options&);

}  // namespace edgeopt::passes
