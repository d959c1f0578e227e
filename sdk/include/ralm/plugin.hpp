// The plugin entry point: one exported C function per plugin library.
//
// The core loads a library, looks up `ralm_plugin_entry`, and reads the plain
// C descriptor it returns. It checks the ABI version (the first field, so any
// future layout can still be read that far) and the build fingerprint, and
// only then calls the registration function: no C++ object crosses the
// boundary before both checks pass. Nothing registers itself from a static
// constructor.
//
//   RALM_PLUGIN("schedulers", "1.0.0", "speculation stride schedulers") {
//     registrar.add<ralm::SpeculationScheduler>(...);
//   }
#pragma once

#include <cstdint>

#include "ralm/registrar.hpp"
#include "ralm/version.hpp"

#define RALM_PLUGIN_ENTRY_SYMBOL "ralm_plugin_entry"

#if defined(_WIN32)
#define RALM_PLUGIN_EXPORT __declspec(dllexport)
#else
#define RALM_PLUGIN_EXPORT __attribute__((visibility("default")))
#endif

#define RALM_DETAIL_STR2(x) #x
#define RALM_DETAIL_STR(x) RALM_DETAIL_STR2(x)

// The C++ standard library a translation unit is compiled against: objects of
// its types (std::string, std::vector, std::function) cross the boundary, so a
// plugin must use the same library and the same string ABI as the core.
#if defined(_LIBCPP_VERSION)
#define RALM_DETAIL_STDLIB "libc++"
#elif defined(__GLIBCXX__)
#define RALM_DETAIL_STDLIB "libstdc++ cxx11-abi=" RALM_DETAIL_STR(_GLIBCXX_USE_CXX11_ABI)
#else
#define RALM_DETAIL_STDLIB "unknown-stdlib"
#endif

// What must agree between the core and a plugin besides the ABI version: the
// SDK release, the standard library and the pointer width. Compiled into each
// side from the same header, so a difference means different builds.
#define RALM_BUILD_FINGERPRINT \
  "ralmkit-sdk " RALM_SDK_VERSION_STRING "; " RALM_DETAIL_STDLIB "; ptr=" RALM_DETAIL_STR(__SIZEOF_POINTER__)

extern "C" {
struct ralm_plugin_descriptor {
  std::uint32_t abi_version;  // RALM_SDK_ABI_VERSION; must stay the first field
  std::uint32_t descriptor_size;
  const char* fingerprint;  // RALM_BUILD_FINGERPRINT
  const char* name;         // the library's name, e.g. "schedulers"
  const char* version;      // the plugin's own version
  const char* description;  // one line
  // Called once, after the checks, with the core's registrar.
  void (*register_components)(ralm::Registrar* registrar);
};
}

#define RALM_PLUGIN(NAME, VERSION, DESCRIPTION)                                                        \
  static void ralm_plugin_register_components_(::ralm::Registrar& registrar);                          \
  static void ralm_plugin_register_trampoline_(::ralm::Registrar* registrar) {                         \
    ralm_plugin_register_components_(*registrar);                                                      \
  }                                                                                                    \
  extern "C" RALM_PLUGIN_EXPORT const ::ralm_plugin_descriptor* ralm_plugin_entry(void) {              \
    static const ::ralm_plugin_descriptor descriptor = {                                               \
        RALM_SDK_ABI_VERSION, sizeof(::ralm_plugin_descriptor), RALM_BUILD_FINGERPRINT, NAME, VERSION, \
        DESCRIPTION,          &ralm_plugin_register_trampoline_};                                      \
    return &descriptor;                                                                                \
  }                                                                                                    \
  static void ralm_plugin_register_components_([[maybe_unused]] ::ralm::Registrar& registrar)
