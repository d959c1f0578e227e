#!/usr/bin/env bash
# Keeps the walls between the core, the plugins and the libraries they share.
#
#   layering_check.sh SOURCE_DIR plugins|core
#
# plugins: each folder plugins/NAME/ (a plugin) and plugins/common/LIB/ (a
#   library plugins share) is a unit of its own. A unit's files include
#   nothing of another unit but a shared library's public headers
#   (plugins/common/LIB/include/ralm/LIB/...), whether by a path or by a bare
#   name that only another unit's folder holds, and no core header
#   (ralm/core/..., or any file under core/); a unit that includes a shared
#   library's header declares that library (ralm_LIB) in its CMakeLists.txt.
#   A unit's CMake files link no other plugin's _impl library and name no
#   other folder under plugins/ (an include path, a source file). Code that
#   two plugins need goes to the SDK (sdk/, what a third-party plugin would
#   want too) or to a library under plugins/common/.
#
# core: no file under core/, code or comment, names a shipped plugin or
#   component as a whole word (case-insensitive): the core knows plugins only
#   through the SDK's interfaces. The names are the plugin folders, the names
#   plugins register themselves under (RALM_PLUGIN) and the component names
#   they register, less the ordinary English words among them (see
#   kOrdinaryWords), plus the libraries only plugins link (kPluginOnlyLibraries).
#   "llama.cpp", a peer project's name, is not our plugin's and is allowed.
#
# Prints one line per violation and exits 1 if there is any.
set -euo pipefail
src=$(cd "$1" && pwd)
part=$2
[[ $part == plugins || $part == core ]] || { echo "usage: $0 SOURCE_DIR plugins|core" >&2; exit 2; }

# Component and plugin names that are ordinary words, which the core uses in
# their ordinary sense: a context with `none` of the passages, text to
# `append` or `prepend`, a `fixed` size, `dense` vectors, the `policies` and
# `schedulers` it defines the interfaces of. Checking them would flag prose,
# not knowledge of a plugin; the distinctive names are checked.
kOrdinaryWords=(none append prepend fixed dense policies schedulers)
# Libraries no core code links, only plugins (FAISS is a component name too).
kPluginOnlyLibraries=(openblas faiss)

violations=0
violation() {
  echo "$1" >&2
  violations=$((violations + 1))
}

# The unit a path (relative to the source root) belongs to, or "core", or
# nothing for anything else.
unit_of() {
  case $1 in
    plugins/common/*/*) echo "$1" | cut -d/ -f1-3 ;;
    plugins/common/*) ;;
    plugins/*/*) echo "$1" | cut -d/ -f1-2 ;;
    core/*) echo core ;;
  esac
}

is_source() {
  case $1 in
    *.cpp | *.cc | *.c | *.hpp | *.h | *.inc) return 0 ;;
  esac
  return 1
}

# CMake files with their comments removed.
cmake_code() {
  sed -e 's/#.*$//' "$@"
}

check_plugins() {
  cd "$src"
  local units=() u
  for u in plugins/*/; do
    u=${u%/}
    [[ $u == plugins/common ]] && continue
    units+=("$u")
  done
  for u in plugins/common/*/; do
    units+=("${u%/}")
  done
  ((${#units[@]} > 1)) || { echo "no plugin folders under $src/plugins" >&2; exit 2; }

  local all_files
  all_files=$(find plugins core -type f | sort)

  for u in "${units[@]}"; do
    local own_name=${u##*/}
    local cmake_files
    cmake_files=$(find "$u" -type f \( -name CMakeLists.txt -o -name '*.cmake' \))
    local declared=""
    [[ -n $cmake_files ]] && declared=$(cmake_code $cmake_files)

    # Includes.
    local file
    while IFS= read -r file; do
      is_source "$file" || continue
      local dir=${file%/*}
      local line
      while IFS= read -r line; do
        local number=${line%%:*}
        local name
        name=$(sed -E 's/^[^#]*#[[:space:]]*include[[:space:]]*[<"]([^>"]+)[>"].*/\1/' <<< "${line#*:}")
        local where="$file:$number"
        if [[ $name == ralm/core/* ]]; then
          violation "$where: includes the core header $name; a plugin sees only the SDK (sdk/include/ralm/)"
          continue
        fi
        local candidates
        if [[ $name == *..* ]]; then
          candidates=$(realpath -m --relative-to="$src" "$dir/$name")
        else
          candidates=$(awk -v n="/$name" 'substr($0, length($0) - length(n) + 1) == n' <<< "$all_files")
        fi
        [[ -z $candidates ]] && continue
        # A name the unit's own folder holds resolves there.
        if grep -q "^$u/" <<< "$candidates"; then
          continue
        fi
        local candidate
        while IFS= read -r candidate; do
          local owner
          owner=$(unit_of "$candidate")
          if [[ -z $owner ]]; then
            continue
          elif [[ $owner == core ]]; then
            violation "$where: includes $candidate, a file of the core; a plugin sees only the SDK (sdk/include/ralm/)"
          elif [[ $owner == plugins/common/* && $candidate == "$owner/include/"* ]]; then
            local lib=${owner##*/}
            if ! grep -qE "(^|[^A-Za-z0-9_])ralm_${lib}([^A-Za-z0-9_]|$)" <<< "$declared"; then
              violation "$where: includes $name of the shared library ralm_$lib, which $u/CMakeLists.txt does not link; add it to target_link_libraries"
            fi
          else
            violation "$where: includes $candidate, a file of $owner; move what both need to the SDK or to a library under plugins/common/"
          fi
        done <<< "$candidates"
      done < <(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]' "$file" || true)
    done <<< "$(find "$u" -type f | sort)"

    # CMake: other plugins' implementation libraries and folders.
    local cmake_file
    for cmake_file in $cmake_files; do
      local impl
      for impl in $(cmake_code "$cmake_file" | grep -oE '(^|[^A-Za-z0-9_])ralm_[A-Za-z0-9_]+_impl([^A-Za-z0-9_]|$)' |
        grep -oE 'ralm_[A-Za-z0-9_]+_impl' | sort -u); do
        local of=${impl#ralm_}
        of=${of%_impl}
        if [[ $u == plugins/common/* || $of != "$own_name" ]]; then
          violation "$cmake_file: links $impl, the implementation of plugin $of; link a library under plugins/common/ instead"
        fi
      done
      local folder
      for folder in $(cmake_code "$cmake_file" | grep -oE 'plugins/[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)?' | sort -u); do
        [[ $folder == plugins/common/* ]] || folder=$(cut -d/ -f1-2 <<< "$folder")
        if [[ $folder != "$u" ]]; then
          violation "$cmake_file: names the folder $folder; a plugin reaches shared code by linking its library, not by its folder"
        fi
      done
      if cmake_code "$cmake_file" | grep -qE '\.\./'; then
        violation "$cmake_file: names a path outside its folder (../); link the library that holds the code instead"
      fi
    done
  done
}

check_core() {
  cd "$src"
  local names=() folder
  for folder in plugins/*/; do
    folder=${folder%/}
    [[ $folder == plugins/common ]] || names+=("${folder##*/}")
  done
  local registered
  registered=$(cat plugins/*/plugin.cpp | tr '\n' ' ' |
    grep -oP '(RALM_PLUGIN\(\s*|registrar\.add<[^>]*>\(\s*)"\K[^"]+' || true)
  local name
  for name in $registered; do
    names+=("$name" "${name//-/_}")
  done
  names+=("${kPluginOnlyLibraries[@]}")
  local distinctive=() word ordinary
  for name in $(printf '%s\n' "${names[@]}" | tr '[:upper:]' '[:lower:]' | sort -u); do
    ordinary=0
    for word in "${kOrdinaryWords[@]}"; do
      [[ $name == "$word" ]] && ordinary=1
    done
    ((ordinary)) || distinctive+=("$name")
  done
  # Without the plugins' names there would be nothing to check: a parse that
  # found none is an error, not a pass.
  [[ " ${distinctive[*]} " == *" llama "* ]] || { echo "found no plugin names under $src/plugins" >&2; exit 2; }

  local pattern="" escaped
  for name in "${distinctive[@]}"; do
    escaped=$(sed -e 's/[.[\*^$()+?{|]/\\&/g' <<< "$name")
    [[ $name == llama ]] && escaped='llama(?!\.cpp)'
    pattern+="${pattern:+|}$escaped"
  done
  local hit
  while IFS= read -r hit; do
    [[ -n $hit ]] || continue
    violation "$hit"
  done < <(grep -rnIP "(?i)(?<![A-Za-z0-9_])(?:$pattern)(?![A-Za-z0-9_])" core || true)
  if ((violations > 0)); then
    echo "core/ names a plugin or component above (checked: ${distinctive[*]}); the core must know plugins only" \
      "through the SDK's interfaces: say what the code needs in general terms" >&2
  fi
}

check_"$part"
if ((violations > 0)); then
  echo "layering ($part): $violations violation(s)" >&2
  exit 1
fi
echo "layering ($part): no violations"
