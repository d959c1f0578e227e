// What every pluggable component shares, and what a factory receives.
#pragma once

#include <memory>
#include <string>

#include "ralm/params.hpp"

namespace ralm {

class Model;
class Retriever;

// The base of the four interfaces. Its destructor is defined in the SDK
// library, which anchors the type_info of every interface there, so
// dynamic_cast and exceptions work across the plugin boundary.
class Component {
 public:
  virtual ~Component();

  Component() = default;
  Component(const Component&) = delete;
  Component& operator=(const Component&) = delete;
};

// What the command building a pipeline asks of a component that keeps an
// index (or a datastore) on disk, one that declares ComponentInfo::keeps.
enum class IndexRequest {
  AsConfigured,  // a run: the component's own parameters decide
  BuildMissing,  // `ralm index build`: build it unless it exists
  Rebuild,       // `ralm index build --force`: build it even if it exists
};

// What a factory may ask of the pipeline being built. Components are built in
// the order model, retriever, policy, scheduler, so a retriever may use the
// model (a dense encoder does) and a policy may use both.
class BuildContext {
 public:
  virtual ~BuildContext();

  // The pipeline's model, or nullptr when it has none or it is not built yet.
  virtual std::shared_ptr<Model> model() const = 0;
  // The pipeline's retriever, or nullptr likewise.
  virtual std::shared_ptr<Retriever> retriever() const = 0;
  // Threads the component may use for its own work (engine.threads).
  virtual int threads() const = 0;
  // What to do with the index this component keeps on disk, if any.
  virtual IndexRequest index_request() const { return IndexRequest::AsConfigured; }
};

}  // namespace ralm
