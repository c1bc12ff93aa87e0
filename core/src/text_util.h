#pragma once
// Small text helpers for messages (private to the core).
#include <string>
#include <vector>

namespace edgeopt {

std::string join(const std::vector<std::string>& parts, const std::string& sep);
// "; did you mean 'epochs'?" when a candidate is within a small edit distance, else "".
std::string didYouMean(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace edgeopt
