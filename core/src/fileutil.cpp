#include <edgeopt/error.h>
#include <edgeopt/fileutil.h>

#include <openssl/evp.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>

#include <fcntl.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace edgeopt {
namespace {

std::string temporaryNameFor(const fs::path& path) {
  std::random_device rd;
  std::ostringstream s;
  s << path.filename().string() << ".tmp-" << ::getpid() << "-" << std::hex << rd();
  return (path.parent_path() / s.str()).string();
}

// rename() is atomic, but only durable once the data reached the disk.
void syncFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

}  // namespace

void atomicWrite(const std::string& path, const std::function<void(std::ostream&)>& writer) {
  fs::path target(path);
  if (target.has_parent_path()) fs::create_directories(target.parent_path());
  const std::string tmp = temporaryNameFor(target);
  try {
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      if (!out) throw RuntimeFailure("cannot write " + tmp + ": check that the folder is writable");
      errno = 0;
      writer(out);
      out.flush();
      // The stream keeps only a bad bit; errno still says why the write failed
      // (ENOSPC: disk full, EFBIG: over `ulimit -f`).
      if (!out)
        throw RuntimeFailure("writing " + path + " failed: " + (errno ? std::strerror(errno) : "unknown error") +
                             " (disk full?); the previous file, if any, is unchanged");
    }
    syncFile(tmp);
    fs::rename(tmp, target);
  } catch (...) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw;
  }
}

void atomicWrite(const std::string& path, const std::string& bytes) {
  atomicWrite(path, [&](std::ostream& out) { out.write(bytes.data(), static_cast<std::streamsize>(bytes.size())); });
}

bool isLeftoverTemporary(const std::string& filename) {
  const size_t at = filename.rfind(".tmp");
  if (at == std::string::npos || at == 0) return false;
  return at + 4 == filename.size() || filename[at + 4] == '-';
}

bool staysInside(const std::string& relative) {
  const fs::path p = fs::path(relative).lexically_normal();
  if (relative.empty() || p.is_absolute() || p.has_root_name()) return false;
  return p.empty() || *p.begin() != "..";
}

std::string readFile(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw InputError(path + ": no such file");
  if (fs::is_directory(path, ec)) throw InputError(path + ": is a folder, expected a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path + ": cannot be read (permissions?)");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string sha256(const std::string& bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), bytes.data(), bytes.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), digest, &length) != 1)
    throw RuntimeFailure("SHA-256 computation failed (OpenSSL)");
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < length; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 15];
  }
  return out;
}

std::string sha256File(const std::string& path) { return sha256(readFile(path)); }

}  // namespace edgeopt
