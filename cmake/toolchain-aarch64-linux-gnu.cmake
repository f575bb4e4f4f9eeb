# Cross-compiling for aarch64 Linux on a Debian amd64 host (scripts/test-arm64 sets it up):
#
#   cmake -S . -B build-arm64 -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-aarch64-linux-gnu.cmake
#
# Compiler: Debian's g++-aarch64-linux-gnu. Libraries: the arm64 multiarch -dev packages
# (dpkg --add-architecture arm64; apt-get install libhwy-dev:arm64 ...), which install into
# /usr/lib/aarch64-linux-gnu with their headers in /usr/include (shared with the host's). Build
# tools (protoc) stay the host's. Test binaries run under qemu-aarch64 with the cross libc as its
# sysroot, so gtest_discover_tests and ctest run them without binfmt_misc.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

set(ISKRA_CROSS_TRIPLE aarch64-linux-gnu)
set(CMAKE_C_COMPILER ${ISKRA_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${ISKRA_CROSS_TRIPLE}-g++)

# The cross libc and libstdc++ (libc6-dev-arm64-cross ...) live in /usr/aarch64-linux-gnu; the
# arm64 packages of everything else in /usr/lib/aarch64-linux-gnu and /usr/include. With "/" as
# a root, find_library/find_package look in lib/aarch64-linux-gnu (CMAKE_LIBRARY_ARCHITECTURE)
# before lib/, so they pick the arm64 files, never the host's lib/x86_64-linux-gnu.
set(CMAKE_FIND_ROOT_PATH /usr/${ISKRA_CROSS_TRIPLE} /)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)  # host programs: protoc, python, ...
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# pkg-config (if anything uses it) sees only the arm64 .pc files.
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/${ISKRA_CROSS_TRIPLE}/pkgconfig:/usr/share/pkgconfig)
set(ENV{PKG_CONFIG_SYSROOT_DIR} /)

# Run target binaries (gtest_discover_tests at build time, ctest, try_run) under qemu user mode.
# -L: where qemu looks first for the dynamic loader and libraries; the arm64 multiarch libraries
# in /usr/lib/aarch64-linux-gnu are found through the host paths. QEMU_CPU in the environment picks
# the emulated CPU (qemu's default is "max", with SVE and SVE2).
find_program(ISKRA_QEMU_AARCH64 NAMES qemu-aarch64 qemu-aarch64-static REQUIRED)
set(CMAKE_CROSSCOMPILING_EMULATOR ${ISKRA_QEMU_AARCH64} -L /usr/${ISKRA_CROSS_TRIPLE})
