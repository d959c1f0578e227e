# ralmkit_add_plugin(NAME SOURCES src... [OUTPUT_DIRECTORY dir])
#
# Builds the plugin library libralm-NAME.so the way `ralm` expects it: hidden
# visibility, only `ralm_plugin_entry` exported (a version script), static
# libraries' symbols kept inside (--exclude-libs), and every symbol resolved at
# link time (--no-undefined). Link further libraries with
# target_link_libraries(ralm-NAME PRIVATE ...).
function(ralmkit_add_plugin name)
  cmake_parse_arguments(ARG "" "OUTPUT_DIRECTORY" "SOURCES" ${ARGN})
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "ralmkit_add_plugin(${name}): give the plugin's SOURCES")
  endif()
  # The version script lies beside this file, in the source tree and installed alike.
  set(plugin_map "${CMAKE_CURRENT_FUNCTION_LIST_DIR}/ralmkit_plugin.map")
  set(target ralm-${name})
  add_library(${target} MODULE ${ARG_SOURCES})
  target_link_libraries(${target} PRIVATE ralmkit::sdk)
  set_target_properties(${target} PROPERTIES
    PREFIX "lib"
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    LINK_DEPENDS "${plugin_map}")
  if(ARG_OUTPUT_DIRECTORY)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${ARG_OUTPUT_DIRECTORY}")
  endif()
  # ralmkit's own sanitized builds (cmake/Sanitizers.cmake) leave the
  # sanitizer runtime's symbols to the executable and say so in this variable.
  set(no_undefined -Wl,--no-undefined)
  if(DEFINED RALM_LINK_NO_UNDEFINED)
    set(no_undefined ${RALM_LINK_NO_UNDEFINED})
  endif()
  target_link_options(${target} PRIVATE
    ${no_undefined}
    -Wl,--exclude-libs,ALL
    "-Wl,--version-script=${plugin_map}")
endfunction()
