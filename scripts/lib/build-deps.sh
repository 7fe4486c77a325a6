# Sourced by scripts/start.sh and .ci/run: installs the system libraries the build links when
# one is missing. samael (SAML) links libxmlsec1 and libxml2, and its build script runs bindgen,
# which loads libclang itself: `libclang.so` or a versioned `libclang-N.so*`. libclang-cpp (which
# some images ship without libclang) is a different library that bindgen cannot use, so the
# test names the files clang-sys looks for, not a pattern that also matches it.
build_deps_missing() {
    pkg-config --exists xmlsec1-openssl 2> /dev/null || return 0
    command -v xmlsec1 > /dev/null || return 0
    compgen -G '/usr/lib/llvm-*/lib/libclang.so*' > /dev/null && return 1
    compgen -G '/usr/lib/llvm-*/lib/libclang-[0-9]*.so*' > /dev/null && return 1
    compgen -G '/usr/lib/*-linux-gnu/libclang-[0-9]*.so*' > /dev/null && return 1
    compgen -G '/usr/lib/*-linux-gnu/libclang.so*' > /dev/null && return 1
    return 0
}

install_build_deps() {
    if build_deps_missing; then
        echo "installing the SAML build dependencies (libxmlsec1, libxml2, libclang) with apt-get"
        local sudo_cmd=""
        [[ "$(id -u)" != 0 ]] && sudo_cmd="sudo"
        DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq \
            libclang-dev libxmlsec1-dev libxml2-dev pkg-config xmlsec1 > /dev/null
    fi
}
