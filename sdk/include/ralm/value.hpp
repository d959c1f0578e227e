// A parsed configuration value that remembers where it was written.
//
// The core converts YAML into this tree, so plugins never see a YAML::Node,
// and every error about a value can name the file, line and column it came
// from, even after `extends:` merged several files and `--set` overrode some.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace ralm {

struct Location {
  std::string file;  // a path, or a pseudo-source such as "--set" or "default"
  int line = 0;      // 1-based; 0 when the source has no lines
  int column = 0;    // 1-based; 0 when the source has no columns

  // "file:line:column", "file:line" or "file", whichever is known.
  std::string str() const;
};

class Value {
 public:
  using List = std::vector<Value>;
  // Keys keep their order of first appearance: error messages and
  // `ralm validate` print them in the order the user wrote them.
  using Map = std::vector<std::pair<std::string, Value>>;

  enum class Kind { Null, Bool, Int, Float, String, List, Map };

  Value() = default;
  static Value null(Location where = {});
  static Value boolean(bool v, Location where = {});
  static Value integer(std::int64_t v, Location where = {});
  static Value real(double v, Location where = {});
  static Value string(std::string v, Location where = {});
  static Value list(List items, Location where = {});
  static Value map(Map entries, Location where = {});

  Kind kind() const;
  const Location& where() const { return where_; }
  void set_where(Location where) { where_ = std::move(where); }

  bool as_bool() const;
  std::int64_t as_int() const;
  double as_float() const;  // an Int widens to a Float
  const std::string& as_string() const;
  const List& as_list() const;
  const Map& as_map() const;
  Map& as_map();

  // For maps: the entry with this key, or nullptr.
  const Value* find(const std::string& key) const;
  Value* find(const std::string& key);
  // For maps: sets (replacing in place, or appending) the entry.
  void set(const std::string& key, Value v);
  // For maps: removes the entry if present.
  void erase(const std::string& key);

  // A short YAML-like rendering for messages and `ralm validate`.
  std::string str() const;

 private:
  using Storage = std::variant<std::monostate, bool, std::int64_t, double, std::string, List, Map>;
  Storage data_;
  Location where_;
};

const char* kind_name(Value::Kind kind);

}  // namespace ralm
