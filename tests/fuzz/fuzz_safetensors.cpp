// safetensors checkpoints (sdk/src/safetensors.cpp): a sharded checkpoint of
// two files and its model.safetensors.index.json, one of the three replaced
// by the input (FolderFuzz), then read as a model load reads it: each shard's
// tensors widened to float32, each indexed tensor fetched through the
// Checkpoint with the shape it was written with.
#include <memory>

#include "fuzz_support.hpp"
#include "ralm/safetensors.hpp"

namespace {

std::unique_ptr<ralm::fuzz::FolderFuzz> folder;
const std::vector<ralm::safetensors::TensorToWrite> kTensors = {
    {"model.embed_tokens.weight", ralm::safetensors::DType::F32, {3, 2}, {1, 2, 3, 4, 5, 6}},
    {"model.norm.weight", ralm::safetensors::DType::BF16, {2}, {0.5f, -2.0f}},
    {"lm_head.weight", ralm::safetensors::DType::F32, {2, 2}, {1, 0, 0, 1}},
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  ralm::fuzz::quiet_logs();
  const auto built = ralm::fuzz::work_dir() / "built" / "checkpoint";
  std::filesystem::create_directories(built);
  ralm::safetensors::write_file(built / "model-00001-of-00002.safetensors", {kTensors[0], kTensors[1]});
  ralm::safetensors::write_file(built / "model-00002-of-00002.safetensors", {kTensors[2]});
  ralm::fuzz::write_file(built / "model.safetensors.index.json",
                         R"({"metadata": {"total_size": 48}, "weight_map": {)"
                         R"("model.embed_tokens.weight": "model-00001-of-00002.safetensors", )"
                         R"("model.norm.weight": "model-00001-of-00002.safetensors", )"
                         R"("lm_head.weight": "model-00002-of-00002.safetensors"}})");
  folder = ralm::fuzz::fuzz_folder(built, "checkpoint");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto& dir = folder->apply(data, size);
  return ralm::fuzz::expect_only_our_errors([&] {
    for (const char* shard : {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"}) {
      const ralm::safetensors::File file(dir / shard);
      for (const auto& [name, tensor] : file.tensors())
        if (tensor.to_f32().size() != static_cast<std::size_t>(tensor.elements())) __builtin_trap();
    }
    const ralm::safetensors::Checkpoint checkpoint(dir);
    for (const auto& t : kTensors)
      if (checkpoint.has(t.name)) (void)checkpoint.get(t.name, t.shape, "the fuzzer").to_f32();
  });
}
