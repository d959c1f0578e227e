// The page GET / serves: core/server/page/index.html, one self-contained
// file (inline CSS and JS, nothing from the network), built into the binary
// by embed_file.cmake so that `ralm serve` needs no file beside it.
#pragma once

#include <string_view>

namespace ralm::server {

std::string_view index_html();

}  // namespace ralm::server
