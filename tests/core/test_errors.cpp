// The error boundary every tool shares (tool_main.h): whatever is thrown, the
// user reads one line starting "error: " and the process exits with the code
// the error carries.
#include <edgeopt/error.h>
#include <edgeopt/tool_main.h>

#include "test_support.h"

#include <c10/util/Exception.h>

#include <iostream>
#include <sstream>

namespace {

struct CapturedError {
  int code;
  std::string text;
};

template <class Body>
CapturedError boundary(Body&& body) {
  std::ostringstream captured;
  std::streambuf* old = std::cerr.rdbuf(captured.rdbuf());
  const int code = edgeopt::reportErrors(std::forward<Body>(body));
  std::cerr.rdbuf(old);
  return {code, captured.str()};
}

}  // namespace

TEST_CASE("a c10::Error reaches the user as its message, without the C++ backtrace", "[errors]") {
  const CapturedError e = boundary([]() -> int {
    throw c10::Error("Expected all tensors to be on the same device", "frame #0: at::native::foo\nframe #1: main");
  });
  CHECK(e.code == 1);
  CHECK(e.text == "error: Expected all tensors to be on the same device\n");
}

TEST_CASE("control bytes in a message are escaped: one line, no terminal escapes", "[errors]") {
  const CapturedError e =
      boundary([]() -> int { throw edgeopt::InputError("m.onnx: node 'a\nb\x1b[2J\x7f\tc': bad"); });
  CHECK(e.code == 5);
  CHECK(e.text == "error: m.onnx: node 'a\\nb\\x1b[2J\\x7f\\tc': bad\n");
  CHECK(edgeopt::escapeControlBytes("caf\xc3\xa9 ok") == "caf\xc3\xa9 ok");  // UTF-8 text is kept
}
