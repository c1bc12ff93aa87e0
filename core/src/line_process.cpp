#include <edgeopt/line_process.h>

#include <edgeopt/error.h>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace edgeopt {

LineProcess::LineProcess(const std::vector<std::string>& argv, const std::string& stderr_log) {
  int in[2], out[2];
  if (pipe(in) != 0 || pipe(out) != 0) throw RuntimeFailure("pipe() failed");
  pid_ = fork();
  if (pid_ < 0) throw RuntimeFailure("fork() failed");
  if (pid_ == 0) {
    if (!stderr_log.empty()) {
      const int err = open(stderr_log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (err >= 0) dup2(err, 2);
    }
    dup2(in[0], 0);
    dup2(out[1], 1);
    ::close(in[0]);
    ::close(in[1]);
    ::close(out[0]);
    ::close(out[1]);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    std::perror(args[0]);
    _exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  to_ = fdopen(in[1], "w");
  from_ = fdopen(out[0], "r");
  previous_sigpipe_ = signal(SIGPIPE, SIG_IGN);
  first_line_ = readLine();
}

LineProcess::~LineProcess() { close(); }

std::string LineProcess::exchange(const std::string& command) {
  if (!to_ || std::fputs((command + "\n").c_str(), to_) < 0 || std::fflush(to_) != 0) return "";
  return readLine();
}

void LineProcess::close() {
  if (!to_) return;
  std::fputs("quit\n", to_);
  std::fclose(to_);
  std::fclose(from_);
  to_ = from_ = nullptr;
  int status = 0;
  waitpid(pid_, &status, 0);
  signal(SIGPIPE, previous_sigpipe_);
}

std::string LineProcess::readLine() {
  std::string line;
  for (int c; (c = std::fgetc(from_)) != EOF && c != '\n';) line.push_back(static_cast<char>(c));
  return line;
}

}  // namespace edgeopt
