// torchscript_code_check.h: the code is parsed with LibTorch's own parser, as
// SourceImporter parses a code record, and each class body looked at as
// SourceImporter::importClass reads it.
#include "torchscript_code_check.h"

#include <torch/csrc/jit/frontend/lexer.h>
#include <torch/csrc/jit/frontend/parser.h>
#include <torch/csrc/jit/frontend/tree_views.h>

#include <algorithm>
#include <map>
#include <memory>
#include <set>

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

// "torch.eq" for the callee of a call written as a dotted name, else "".
std::string dottedName(const jit::TreeRef& t) {
  if (t->kind() == jit::TK_VAR) return jit::Var(t).name().name();
  if (t->kind() != '.') return "";
  const std::string base = dottedName(jit::Select(t).value().tree());
  return base.empty() ? "" : base + "." + jit::Select(t).selector().name();
}

bool endsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// LibTorch 1.13 runs a class's __setstate__ while loading, for every object
// of the class in data.pkl (ScriptModuleDeserializer's obj_loader, when the
// class has __getstate__ and __setstate__): code from the file, run by the
// interpreter with no limit on loops, calls or allocations. EdgeOpt allows
// what torch.ao's quantized modules' __setstate__ do (Conv*d,
// ConvTranspose*d, sparse Linear): assignments from the state tuple, `if`s on
// comparisons, raising, and calls of the class's own methods that do the
// same and of prepack ops (quantized::conv2d_prepack, linear_prepack, ...).
// No loop, no other call, no arithmetic (`[0] * n` allocates): what runs is
// at most as long as the code, and allocates what the prepack ops do.
class SetstateCheck {
 public:
  SetstateCheck(const std::string& cls, const std::map<std::string, jit::Def>& methods)
      : cls_(cls), methods_(methods) {}

  std::string run() { return method("__setstate__"); }

 private:
  std::string refuse(const std::string& what) const {
    return "class " + cls_ + ": __setstate__, which LibTorch runs while loading, " + what +
           " (allowed: assignments from the state, conditions, the class's methods that do the same, prepack ops)";
  }

  std::string method(const std::string& name) {
    if (!visited_.insert(name).second) return "";
    const auto it = methods_.find(name);
    if (it == methods_.end()) return refuse("calls self." + name + ", which the class does not define");
    return tree(it->second.statements().tree());
  }

  std::string call(const jit::Apply& apply) {
    const jit::Expr callee = apply.callee();
    if (callee.kind() == '.' && dottedName(jit::Select(callee).value().tree()) == "self")
      return method(jit::Select(callee).selector().name());
    const std::string name = dottedName(callee.tree());
    static const std::set<std::string> kAllowed = {
        "torch.eq",      "torch.ne",       "torch.__is__", "torch.__isnot__", "ops.prim.RaiseException",
        "uninitialized", "unchecked_cast", "annotate",     "isinstance"};
    if (kAllowed.count(name)) return "";
    const bool prepack = (name.rfind("ops.quantized.", 0) == 0 || name.rfind("ops.sparse.", 0) == 0) &&
                         (endsWith(name, "_prepack") || endsWith(name, "_prepack_fp16"));
    if (!prepack) return refuse("calls " + (name.empty() ? std::string("a computed function") : name));
    if (++prepacks_ > kMaxSetstatePrepacks)
      return refuse("calls prepack ops more than " + std::to_string(kMaxSetstatePrepacks) + " times");
    return "";
  }

  std::string tree(const jit::TreeRef& t) {
    switch (t->kind()) {
      case jit::TK_APPLY: {
        if (std::string problem = call(jit::Apply(t)); !problem.empty()) return problem;
        for (size_t i = 1; i < t->trees().size(); ++i)  // the arguments, not the callee
          if (std::string problem = tree(t->trees()[i]); !problem.empty()) return problem;
        return "";
      }
      case jit::TK_WHILE:
      case jit::TK_FOR:
        return refuse("has a loop");
      case jit::TK_LIST_COMP:
      case jit::TK_DICT_COMP:
        return refuse("has a comprehension");
      case jit::TK_IF:
      case jit::TK_ASSIGN:
      case jit::TK_RETURN:
      case jit::TK_RAISE:
      case jit::TK_ASSERT:
      case jit::TK_PASS:
      case jit::TK_EXPR_STMT:
      case jit::TK_LIST:
      case jit::TK_OPTION:
      case jit::TK_VAR:
      case jit::TK_IDENT:
      case jit::TK_STRING:
      case jit::TK_CONST:
      case jit::TK_STRINGLITERAL:
      case jit::TK_NONE:
      case jit::TK_TRUE:
      case jit::TK_FALSE:
      case '.':
      case jit::TK_SUBSCRIPT:
      case jit::TK_TUPLE_LITERAL:
      case jit::TK_LIST_LITERAL:
      case jit::TK_EQ:
      case jit::TK_NE:
      case jit::TK_IS:
      case jit::TK_ISNOT:
      case jit::TK_AND:
      case jit::TK_OR:
      case jit::TK_NOT:
      case jit::TK_UNARY_MINUS:
      case jit::TK_IF_EXPR:
      case jit::TK_ATTRIBUTE:
        for (const jit::TreeRef& child : t->trees())
          if (std::string problem = tree(child); !problem.empty()) return problem;
        return "";
      default:
        return refuse("has " + jit::kindToString(t->kind()));
    }
  }

  const std::string& cls_;
  const std::map<std::string, jit::Def>& methods_;
  std::set<std::string> visited_;
  int prepacks_ = 0;
};

// LibTorch's compiler runs a parameter's default value while loading (the IR
// emitter's evaluateDefaults compiles it into a function and runs it): only
// what torch.jit.save writes there, constants, is allowed.
bool constantDefault(const jit::TreeRef& t) {
  switch (t->kind()) {
    case jit::TK_CONST:
    case jit::TK_STRINGLITERAL:
    case jit::TK_STRING:
    case jit::TK_NONE:
    case jit::TK_TRUE:
    case jit::TK_FALSE:
    case jit::TK_VAR:  // inf, nan
    case jit::TK_IDENT:
    case jit::TK_UNARY_MINUS:
    case jit::TK_TUPLE_LITERAL:
    case jit::TK_LIST_LITERAL:
    case jit::TK_LIST:
      return std::all_of(t->trees().begin(), t->trees().end(), constantDefault);
    case '.':  // torch.float32, a dotted name
      return !dottedName(t).empty();
    case jit::TK_APPLY:  // torch.device("cpu")
      return dottedName(jit::Apply(t).callee().tree()) == "torch.device" &&
             std::all_of(t->trees().begin() + 1, t->trees().end(), constantDefault);
    default:
      return false;
  }
}

std::string defaultsProblem(const jit::Def& def) {
  for (const jit::Param& param : def.decl().params())
    if (param.defaultValue().present() && !constantDefault(param.defaultValue().get().tree()))
      return "def " + def.name().name() + ": the default of '" + param.ident().name() +
             "' is not a constant (LibTorch runs it while loading)";
  return "";
}

// importClass takes `name = value` in a module or class body for a constant
// and reads its type annotation (`name : Final[int] = 3`) unchecked.
std::string classProblem(const jit::ClassDef& cls) {
  std::map<std::string, jit::Def> methods;
  for (const jit::Stmt& statement : cls.body()) {
    if (statement.kind() != jit::TK_DEF) continue;
    const jit::Def def(statement.tree());
    if (std::string problem = defaultsProblem(def); !problem.empty())
      return "class " + cls.name().name() + ": " + problem;
    methods.emplace(def.name().name(), def);
  }
  if (methods.count("__setstate__"))
    if (std::string problem = SetstateCheck(cls.name().name(), methods).run(); !problem.empty()) return problem;
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
        if (std::string problem = defaultsProblem(jit::Def(parser.parseFunction(/*is_method=*/false)));
            !problem.empty())
          return problem;
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
