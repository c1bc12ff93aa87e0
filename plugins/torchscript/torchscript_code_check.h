#pragma once
// Checks the TorchScript code of an archive (code/**.py) before LibTorch 1.13
// compiles it. Its importer crashes, instead of failing, on code
// torch.jit.save never writes: brackets, operators or blocks nested
// thousands deep overflow its recursive parser's and emitter's stack, and a
// class constant without a type annotation
// (`foo = 3` in a class body; fuzz_torchscript's finding) dereferences the
// missing type (SIGSEGV in ScriptTypeParser::parseClassConstant). Loading
// also runs code from the file: each class's __setstate__ and every default
// argument; both are held to what torch.jit.save writes for torch's own
// modules (torchscript_code_check.cpp).
#include <string>

namespace edgeopt::torchscript::detail {

// Bracket nesting LibTorch's parser is given (the code torch.jit.save writes
// nests a few levels).
constexpr int kMaxCodeNesting = 256;
// Tokens in one statement and nested blocks: LibTorch recurses on both.
constexpr int kMaxStatementTokens = 1000;
constexpr int kMaxCodeBlocks = 100;
// Prepack calls a class's __setstate__ may make, its methods' included
// (torch.ao's make one on each branch of an `if`).
constexpr int kMaxSetstatePrepacks = 8;

// What is wrong with one code record; empty when LibTorch may compile it
// (or fails on it with an error of its own).
std::string codeProblem(const std::string& code, const std::string& record);

}  // namespace edgeopt::torchscript::detail
