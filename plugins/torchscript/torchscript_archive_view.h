#pragma once
// The TorchScript file as LibTorch reads it: its bytes followed by the central
// directory checkTorchScriptArchive wrote without the debug records
// (torchscript_archive_check.h). miniz takes the last end-of-central-directory
// record, so it lists, and LibTorch reads, every record but those; the local
// headers and data it reads stay where they are in the file.
#include <caffe2/serialize/file_adapter.h>
#include <caffe2/serialize/read_adapter_interface.h>

#include <string>

#include "torchscript_archive_check.h"

namespace edgeopt::torchscript {

class ArchiveWithoutDebugInfo final : public caffe2::serialize::ReadAdapterInterface {
 public:
  ArchiveWithoutDebugInfo(const std::string& path, const CheckedArchive& checked);
  size_t size() const override;
  size_t read(uint64_t pos, void* buf, size_t n, const char* what = "") const override;

 private:
  caffe2::serialize::FileAdapter file_;
  uint64_t file_size_;  // as checked: a file that changed since reads short
  std::string tail_;
};

}  // namespace edgeopt::torchscript
