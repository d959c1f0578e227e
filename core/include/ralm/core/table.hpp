// Plain-text tables for the command line: columns padded to their widest
// cell, the last column left ragged.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace ralm::core {

class Table {
 public:
  explicit Table(std::vector<std::string> header) : header_(std::move(header)) {}
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  bool empty() const { return rows_.empty(); }
  void print(std::ostream& out, const std::string& indent = "") const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace ralm::core
