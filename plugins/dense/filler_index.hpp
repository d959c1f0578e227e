// RaLMSpec's retrieval-dominated regime with an approximate index: the
// corpus's vectors and `filler` more like them, in one IVF…,Flat index whose
// search reads the filler and never returns it (IvfFlatScan's `returnable`).
//
// Unlike the exact scan's filler (small random rows, dense_retriever.cpp),
// approximate filler must look like the corpus, or the coarse quantizer would
// give it lists of its own that no query probes: filler row i is corpus
// vector i mod n plus seeded noise, scaled to that vector's norm.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "faiss_index.hpp"
#include "scan_kernels.hpp"

namespace ralm::dense {

// The index over the n corpus vectors and `filler` rows, from
// `dir`/filler-<filler>-<factory>.faiss, built there (atomically) on first use.
std::unique_ptr<FaissIndex> filler_index(const float* vectors, std::int64_t n, std::int64_t dim,
                                         std::int64_t filler, const std::string& factory, Metric metric,
                                         const std::filesystem::path& dir, int threads);

}  // namespace ralm::dense
