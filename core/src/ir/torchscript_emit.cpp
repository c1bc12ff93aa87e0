// TorchScript emission: literals, the emitter context and emitTorchScript
// (export_lower.h), which writes a module's `forward` from the op emitters.
#include <edgeopt/error.h>
#include <edgeopt/ir/export_lower.h>
#include <edgeopt/ir/torchscript_emit.h>

#include <cctype>
#include <cmath>
#include <cstdio>
#include <set>
#include <sstream>
#include <unordered_map>

namespace edgeopt::ir {
namespace script {

std::string ints(const Ints& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + std::to_string(v[i]);
  return out + "]";
}

std::string number(double v) {
  if (std::isinf(v)) return v > 0 ? "float('inf')" : "float('-inf')";
  if (std::isnan(v)) return "float('nan')";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  std::string s = buf;
  if (s.find_first_of(".eE") == std::string::npos) s += ".0";
  return s;
}

std::string integer(int64_t v) { return std::to_string(v); }
std::string boolean(bool v) { return v ? "True" : "False"; }

std::string string(const std::string& v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

}  // namespace script

std::string ScriptEmitContext::inputOr(size_t i, const std::string& fallback) const {
  return i < inputs.size() ? inputs[i] : fallback;
}

std::string ScriptEmitContext::call(const std::string& fn, const std::vector<std::string>& args) {
  std::string out = fn + "(";
  for (size_t i = 0; i < args.size(); ++i) out += (i ? ", " : "") + args[i];
  return out + ")";
}

void ScriptEmitContext::fail(const std::string& message) const {
  throw RuntimeFailure("TorchScript export: node '" + node.name() + "' (" + node.target() + "): " + message);
}

namespace {

const std::set<std::string>& reservedWords() {
  static const std::set<std::string> words = {
      "False", "None",   "True",    "and",   "as",   "assert", "async",  "await",    "break",
      "class", "continue", "def",   "del",   "elif", "else",   "except", "finally",  "for",
      "from",  "global", "if",      "import", "in",  "is",     "lambda", "nonlocal", "not",
      "or",    "pass",   "raise",   "return", "try", "while",  "with",   "yield",    "self",
      "torch", "math",   "float",   "int",   "bool", "str",    "list",   "tuple",    "print"};
  return words;
}

bool isIdentifier(const std::string& s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  return !reservedWords().count(s);
}

// Locals get readable, unique identifiers derived from node names.
class LocalNames {
 public:
  std::string make(const std::string& hint) {
    std::string base;
    for (char c : hint) base += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
    if (base.empty() || std::isdigit(static_cast<unsigned char>(base[0])) || reservedWords().count(base))
      base = "v_" + base;
    std::string name = base;
    for (int i = 1; used_.count(name); ++i) name = base + "_" + std::to_string(i);
    used_.insert(name);
    return name;
  }

 private:
  std::set<std::string> used_;
};

// self.features.0.weight -> getattr(getattr(self.features, '0'), 'weight')
std::string attributePath(const std::string& dotted) {
  std::string expr = "self";
  std::stringstream ss(dotted);
  std::string part;
  while (std::getline(ss, part, '.'))
    expr = isIdentifier(part) ? expr + "." + part : "getattr(" + expr + ", " + script::string(part) + ")";
  return expr;
}

void appendIndented(std::string& out, const std::string& text) {
  std::stringstream ss(text);
  std::string line;
  while (std::getline(ss, line)) out += "    " + line + "\n";
}

std::string emittersList() {
  std::string out;
  for (const auto& name : OpRegistry::instance().names())
    if (OpRegistry::instance().get(name).torchscript) out += (out.empty() ? "" : ", ") + name;
  return out;
}

}  // namespace

std::string emitTorchScript(const Graph& graph) {
  LocalNames locals;
  std::unordered_map<const Value*, std::string> expr;
  std::unordered_map<const Value*, std::string> param_of;
  std::unordered_map<std::string, std::string> hoisted;  // state_dict name -> local
  std::vector<std::string> args;
  std::string body;
  for (Node* n : graph.nodes()) {
    switch (n->opcode()) {
      case Opcode::Input: {
        std::string a = locals.make(n->target());
        args.push_back(a);
        expr[n->output()] = a;
        break;
      }
      case Opcode::Param: {
        auto it = hoisted.find(n->target());
        if (it == hoisted.end()) {
          std::string local = locals.make(n->target());
          body += "    " + local + " = " + attributePath(n->target()) + "\n";
          it = hoisted.emplace(n->target(), local).first;
        }
        expr[n->output()] = it->second;
        param_of[n->output()] = n->target();
        break;
      }
      case Opcode::Call: {
        const OpDef& def = OpRegistry::instance().get(n->target());
        if (!def.torchscript)
          throw RuntimeFailure("TorchScript export: node '" + n->name() + "': op '" + n->target() +
                               "' has no TorchScript emitter (ops with one: " + emittersList() + ")");
        ScriptEmitContext ctx(*n);
        for (Value* v : n->inputs()) {
          ctx.inputs.push_back(expr.at(v));
          auto p = param_of.find(v);
          ctx.input_params.push_back(p == param_of.end() ? std::string() : p->second);
        }
        std::string e = def.torchscript(ctx);
        for (const auto& s : ctx.statements) appendIndented(body, s);
        if (n->numOutputs() == 1) {
          std::string local = locals.make(n->name());
          body += "    " + local + " = " + e + "\n";
          expr[n->output()] = local;
        } else {
          std::string tuple = locals.make(n->name() + "_outputs");
          body += "    " + tuple + " = " + e + "\n";
          for (size_t i = 0; i < n->numOutputs(); ++i) {
            std::string local = locals.make(n->name() + "_" + std::to_string(i));
            body += "    " + local + " = " + tuple + "[" + std::to_string(i) + "]\n";
            expr[n->output(i)] = local;
          }
        }
        break;
      }
      case Opcode::Output: {
        std::vector<std::string> outs;
        for (Value* v : n->inputs()) outs.push_back(expr.at(v));
        if (outs.size() == 1) body += "    return " + outs[0] + "\n";
        else body += "    return " + ScriptEmitContext::call("", outs) + "\n";
        break;
      }
    }
  }
  std::string head = "def forward(self";
  for (const auto& a : args) head += ", " + a;
  return head + "):\n" + body;
}

}  // namespace edgeopt::ir
