# Sourced by cross/build and cross/test: target names, the toolchain for each, and the installs
# a fresh Debian 12 machine needs. Everything slow lands in $FOREWARN_CACHE (default
# /var/cache/forewarn-ci), so a warm machine skips it.

CACHE=${FOREWARN_CACHE:-/var/cache/forewarn-ci}
# zig (the linker and C compiler for the static musl targets) and cargo-zigbuild, from PyPI.
ZIGLANG_VERSION=0.15.2
CARGO_ZIGBUILD_VERSION=0.24.1
CROSS_VENV="$CACHE/cross-venv"

log() { printf '== cross: %s\n' "$*" >&2; }
die() { printf 'cross: %s\n' "$*" >&2; exit 2; }

ALL_TARGETS=(aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf
  aarch64-unknown-linux-musl armv7-unknown-linux-musleabihf)

# Short names accepted on the command line.
triple_of() {
  case "$1" in
    aarch64-gnu | aarch64-unknown-linux-gnu) echo aarch64-unknown-linux-gnu ;;
    armv7-gnu | armv7-unknown-linux-gnueabihf) echo armv7-unknown-linux-gnueabihf ;;
    aarch64-musl | aarch64-unknown-linux-musl) echo aarch64-unknown-linux-musl ;;
    armv7-musl | armv7-unknown-linux-musleabihf) echo armv7-unknown-linux-musleabihf ;;
    *) die "unknown target '$1' (aarch64-gnu, armv7-gnu, aarch64-musl, armv7-musl, or all)" ;;
  esac
}

is_musl() { [[ "$1" == *-musl* ]]; }

# binutils prefix (strip, objcopy, readelf) for the architecture; they read musl ELF files too.
binutils_prefix() {
  case "$1" in
    aarch64-*) echo aarch64-linux-gnu ;;
    armv7-*) echo arm-linux-gnueabihf ;;
  esac
}

# qemu-user command that runs a binary of this target on the build machine.
qemu_of() {
  case "$1" in
    aarch64-unknown-linux-gnu) echo "qemu-aarch64 -L /usr/aarch64-linux-gnu" ;;
    armv7-unknown-linux-gnueabihf) echo "qemu-arm -L /usr/arm-linux-gnueabihf" ;;
    aarch64-unknown-linux-musl) echo "qemu-aarch64" ;;
    armv7-unknown-linux-musleabihf) echo "qemu-arm" ;;
  esac
}

# Debian architecture name, for the .deb packages.
deb_arch_of() {
  case "$1" in
    aarch64-*) echo arm64 ;;
    armv7-*) echo armhf ;;
  esac
}

install_packages() {
  local packages=(cmake make perl pkg-config g++ python3-venv qemu-user
    gcc-aarch64-linux-gnu g++-aarch64-linux-gnu libc6-dev-arm64-cross binutils-aarch64-linux-gnu
    gcc-arm-linux-gnueabihf g++-arm-linux-gnueabihf libc6-dev-armhf-cross
    binutils-arm-linux-gnueabihf)
  local missing=() p
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

# Adds the Rust standard library for the target. Where rustup cannot fetch it (the mirror some
# build machines use has no armv7 musl std), the build compiles std from source instead
# (-Zbuild-std, with the rust-src component). Sets BUILD_STD_ARGS for cargo.
BUILD_STD_ARGS=()
install_target() {
  local t=$1
  BUILD_STD_ARGS=()
  rustup target list --installed | grep -qx "$t" && return 0
  if RUST_BACKTRACE=0 rustup target add "$t" >/dev/null 2>&1; then
    return 0
  fi
  log "rustup has no standard library for $t here; building it from source (-Zbuild-std)"
  rustup component list --installed | grep -q '^rust-src' || rustup component add rust-src
  BUILD_STD_ARGS=(-Zbuild-std=std,panic_unwind)
}

install_zig() {
  if [ ! -x "$CROSS_VENV/bin/cargo-zigbuild" ] ||
    ! "$CROSS_VENV/bin/python" -m ziglang version 2>/dev/null | grep -qx "$ZIGLANG_VERSION"; then
    log "installing ziglang $ZIGLANG_VERSION and cargo-zigbuild $CARGO_ZIGBUILD_VERSION into $CROSS_VENV"
    python3 -m venv "$CROSS_VENV"
    "$CROSS_VENV/bin/pip" install -q "ziglang==$ZIGLANG_VERSION" \
      "cargo-zigbuild==$CARGO_ZIGBUILD_VERSION"
  fi
  export PATH="$CROSS_VENV/bin:$PATH" FOREWARN_ZIG_PYTHON="$CROSS_VENV/bin/python"
}

# zig's target name for a Rust musl triple.
zig_target_of() {
  case "$1" in
    aarch64-unknown-linux-musl) echo aarch64-linux-musl ;;
    armv7-unknown-linux-musleabihf) echo arm-linux-musleabihf ;;
  esac
}

# cargo, or cargo-zigbuild for the musl targets, plus what the target needs. Sets CARGO_CMD
# ("cargo" or "cargo-zigbuild", followed by test, clippy, ...) and BUILD_CMD ("cargo build" or
# "cargo zigbuild").
#
# librdkafka is built with its own configure script (rdkafka-sys without cmake: its cmake build
# of librdkafka 2.12 needs curl even with curl off), and that script reads only the plain CC,
# CXX and AR variables, not the per-target ones the cc crate reads (.cargo/config.toml). So they
# are set here for the target, and HOST_CC/HOST_CXX keep anything built for the build machine
# on its own compiler.
prepare_target() {
  local t=$1
  install_target "$t"
  export HOST_CC=gcc HOST_CXX=g++
  if is_musl "$t"; then
    install_zig
    CARGO_CMD=(cargo-zigbuild)
    BUILD_CMD=(cargo zigbuild)
    export FOREWARN_ZIG_TARGET
    FOREWARN_ZIG_TARGET=$(zig_target_of "$t")
    export CC="$PWD/cross/zig/cc" CXX="$PWD/cross/zig/c++" AR="$PWD/cross/zig/ar"
    # -Zbuild-std is a nightly flag; the stable toolchain accepts it with RUSTC_BOOTSTRAP.
    [ ${#BUILD_STD_ARGS[@]} -gt 0 ] && export RUSTC_BOOTSTRAP=1
  else
    CARGO_CMD=(cargo)
    BUILD_CMD=(cargo build)
    local p
    p=$(binutils_prefix "$t")
    export CC="$p-gcc" CXX="$p-g++" AR="$p-ar" LD="$p-ld" NM="$p-nm"
  fi
  return 0
}
