// torchscript_code_check.h: the code is parsed with LibTorch's own parser, as
// SourceImporter parses a code record, and each class body looked at as
// SourceImporter::importClass reads it.
#include "torchscript_code_check.h"

#include <torch/csrc/jit/frontend/lexer.h>
#include <torch/csrc/jit/frontend/parser.h>
#include <torch/csrc/jit/frontend/tree_views.h>

#include <memory>

namespace edgeopt::torchscript::detail {
namespace {

namespace jit = torch::jit;

// The parser, the IR emitter and the trees' destructors recurse once per
// operator of an expression (`- - - x`, `x + x + x`, `x.a.a`) and once per
// block: 100,000 of any made LibTorch overflow the stack. torch.jit.save's
// code has at most 169 tokens in a statement (every model the tests import).
std::string tokenProblem(const std::shared_ptr<jit::Source>& source) {
  try {
    jit::Lexer lexer(source);
    int tokens = 0, blocks = 0;
    for (; lexer.cur().kind != jit::TK_EOF; lexer.next()) {
      const int kind = lexer.cur().kind;
      if (kind == jit::TK_NEWLINE) {
        tokens = 0;
      } else if (kind == jit::TK_INDENT) {
        if (++blocks > kMaxCodeBlocks) return "nests blocks more than " + std::to_string(kMaxCodeBlocks) + " deep";
      } else if (kind == jit::TK_DEDENT) {
        --blocks;
      } else if (++tokens > kMaxStatementTokens) {
        return "has a statement of more than " + std::to_string(kMaxStatementTokens) + " tokens";
      }
    }
  } catch (const std::exception&) {
    // LibTorch's lexer stops at the same token, with an error.
  }
  return "";
}

std::string bracketProblem(const std::string& code) {
  int depth = 0;
  for (char c : code) {
    depth += (c == '(' || c == '[' || c == '{') - (c == ')' || c == ']' || c == '}');
    if (depth > kMaxCodeNesting) return "nests brackets more than " + std::to_string(kMaxCodeNesting) + " deep";
  }
  return "";
}

// importClass takes `name = value` in a module or class body for a constant
// and reads its type annotation (`name : Final[int] = 3`) unchecked.
std::string classProblem(const jit::ClassDef& cls) {
  if (cls.superclass().present()) {
    const jit::Expr super = cls.superclass().get();
    // Enums and NamedTuples are imported by other code, which checks itself.
    if (super.kind() != jit::TK_VAR || jit::Var(super).name().name() != "Module") return "";
  }
  for (const jit::Stmt& statement : cls.body()) {
    if (statement.kind() != jit::TK_ASSIGN) continue;
    const jit::Assign assign(statement);
    if (assign.lhs().kind() != jit::TK_VAR || !assign.rhs().present() || assign.type().present()) continue;
    const std::string name = jit::Var(assign.lhs()).name().name();
    if (name == "__parameters__" || name == "__buffers__" || name == "__annotations__" ||
        name == "__forward_pre_hooks__" || name == "__forward_hooks__")
      continue;
    return "class " + cls.name().name() + " assigns '" + name +
           "' without a type (a constant is 'name : Final[T] = value')";
  }
  return "";
}

}  // namespace

std::string codeProblem(const std::string& code, const std::string& record) {
  if (std::string problem = bracketProblem(code); !problem.empty()) return problem;
  const auto source = std::make_shared<jit::Source>(code, record, 1);
  if (std::string problem = tokenProblem(source); !problem.empty()) return problem;
  jit::Parser parser(source);
  jit::Lexer& lexer = parser.lexer();
  try {
    // SourceImporterImpl::parseSourceIfNeeded's loop: an optional
    // op_version_set line, import lines, then classes and functions.
    if (lexer.cur().kind == jit::TK_IDENT && lexer.cur().text() == "op_version_set") {
      lexer.next();
      lexer.expect('=');
      lexer.expect(jit::TK_NUMBER);
      lexer.expect(jit::TK_NEWLINE);
    }
    while (lexer.cur().kind != jit::TK_EOF) {
      while (lexer.nextIf(jit::TK_IMPORT)) {
        // LibTorch reads to the end of the line and would read past the end of the file forever.
        while (lexer.cur().kind != jit::TK_NEWLINE)
          if (lexer.cur().kind == jit::TK_EOF)
            return "an import line without an end";
          else
            lexer.next();
        lexer.expect(jit::TK_NEWLINE);
      }
      if (lexer.cur().kind == jit::TK_CLASS_DEF) {
        if (std::string problem = classProblem(jit::ClassDef(parser.parseClass())); !problem.empty()) return problem;
      } else if (lexer.cur().kind == jit::TK_DEF) {
        parser.parseFunction(/*is_method=*/false);
      } else {
        return "";  // LibTorch refuses the record at this token
      }
    }
  } catch (const std::exception&) {
    // LibTorch's parser stops at the same place, with an error.
  }
  return "";
}

}  // namespace edgeopt::torchscript::detail
