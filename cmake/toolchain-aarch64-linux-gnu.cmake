# Cross-compiling for aarch64 Linux on a Debian amd64 host (scripts/test-arm64 sets it up):
#
#   cmake -S . -B build-arm64 -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-aarch64-linux-gnu.cmake
#
# Compiler: Debian's g++-aarch64-linux-gnu. Libraries: the arm64 multiarch -dev packages
# (dpkg --add-architecture arm64; apt-get install libhwy-dev:arm64 ...), which install into
# /usr/lib/aarch64-linux-gnu with their headers in /usr/include (shared with the host's). Build
# tools (protoc) stay the host's. Test binaries run under qemu-aarch64 (below), so gtest_discover_tests
# and ctest run them without binfmt_misc.
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

# Run target binaries (gtest_discover_tests at build time, ctest, try_run) under qemu user mode.
#
# -L / : the arm64 programs load Debian's arm64 multiarch runtime (ld.so, libc, libstdc++ from
# libc6:arm64 and libstdc++6:arm64, which the arm64 -dev packages pull in) together with the
# libraries they link from /usr/lib/aarch64-linux-gnu. Not -L /usr/aarch64-linux-gnu: there qemu
# takes the loader from the cross sysroot (libc6-arm64-cross, glibc 2.36-8cross1), but that loader
# searches the multiarch directories first and so loads /lib/aarch64-linux-gnu/libc.so.6 (libc6:arm64,
# another glibc build); a loader and libc from different builds make the first pthread_create spin
# forever (every test that starts a thread hangs under qemu).
#
# QEMU_CPU in the environment picks the emulated CPU: qemu's default "max" has SVE and SVE2 (512-bit
# vectors); QEMU_CPU=cortex-a72 is a NEON-only CPU.
find_program(ISKRA_QEMU_AARCH64 NAMES qemu-aarch64 qemu-aarch64-static REQUIRED)
set(CMAKE_CROSSCOMPILING_EMULATOR ${ISKRA_QEMU_AARCH64} -L /)
