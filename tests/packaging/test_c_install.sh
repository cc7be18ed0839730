#!/usr/bin/env bash
# The C/C++ install, used as a user uses it: scripts/install into a temporary prefix, then
# builds against that prefix only (never include/ or target/), each program publishing to
# loopback:// and reporting what the embedded receiver got:
#   - the installed layout, the soname and its symlinks, the .pc and the CMake package;
#   - the header alone as C11 and C++17 with -Wall -Wextra -Werror -pedantic (gcc and clang);
#   - a C program with pkg-config, linked shared and (from an archive-only install, made with
#     --library-type staticlib and a multiarch --libdir) static with `pkg-config --static`;
#   - a CMake project with find_package, shared and static, building that C program and the
#     C++ example ffi-c/examples/publish.cpp.
# Expects target/release to hold the built library (scripts/install builds it when missing).
set -euo pipefail
cd "$(dirname "$0")/../.."
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
PREFIX=$WORK/prefix
STATIC_PREFIX=$WORK/static-prefix

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }
# Runs a command quietly; on failure shows its output.
quiet() {
  local log=$WORK/log
  "$@" >"$log" 2>&1 || { cat "$log" >&2; fail "$*"; }
}
# shellcheck source=tests/packaging/c_checks.sh
. tests/packaging/c_checks.sh

scripts/install --prefix "$PREFIX" >/dev/null
MULTIARCH_LIB=lib/$(gcc -print-multiarch)
scripts/install --prefix "$STATIC_PREFIX" --libdir "$MULTIARCH_LIB" --library-type staticlib >/dev/null

VERSION=$(awk -F'"' '/^\[/ { s = ($0 == "[workspace.package]") } s && /^version *=/ { print $2; exit }' Cargo.toml)
IFS=. read -r MAJOR MINOR PATCH <<<"${VERSION%%[-+]*}"
SONAME=$(lp_soname "$VERSION")
REAL=libpublisher.so.$MAJOR.$MINOR.$PATCH

# The layout.
L=$PREFIX/lib
for f in include/libpublisher/libpublisher.h lib/$REAL lib/libpublisher.a lib/pkgconfig/libpublisher.pc \
  lib/cmake/libpublisher/libpublisherConfig.cmake lib/cmake/libpublisher/libpublisherConfigVersion.cmake; do
  [ -f "$PREFIX/$f" ] || fail "missing $f"
done
[ "$(readlink "$L/libpublisher.so")" = "$REAL" ] || fail "libpublisher.so does not point to $REAL"
[ "$SONAME" = "$REAL" ] || [ "$(readlink "$L/$SONAME")" = "$REAL" ] || fail "$SONAME does not point to $REAL"
soname=$(readelf -d "$L/$REAL" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = "$SONAME" ] || fail "soname is '$soname', expected $SONAME"
cmp -s include/libpublisher.h "$PREFIX/include/libpublisher/libpublisher.h" || fail "installed header differs"
[ -f "$STATIC_PREFIX/$MULTIARCH_LIB/libpublisher.a" ] && [ ! -e "$STATIC_PREFIX/$MULTIARCH_LIB/libpublisher.so" ] \
  || fail "--library-type staticlib --libdir $MULTIARCH_LIB installed the wrong files"
ok "layout, soname $SONAME"

export PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig
[ "$(pkg-config --modversion libpublisher)" = "$VERSION" ] || fail "pkg-config version"
CFLAGS=$(pkg-config --cflags libpublisher)
LIBDIR=$(pkg-config --variable=libdir libpublisher)
[ "$LIBDIR" = "$L" ] || fail "pkg-config libdir is $LIBDIR"

# The header on its own, as C11 and C++17, with every compiler there is.
printf '#include <libpublisher.h>\nint main(void) { return lp_version() == NULL; }\n' >"$WORK/header.c"
cp "$WORK/header.c" "$WORK/header.cpp"
STRICT=(-Wall -Wextra -Werror -pedantic -fsyntax-only)
for cc in gcc clang; do
  command -v "$cc" >/dev/null || continue
  cxx=${cc/gcc/g++}; cxx=${cxx/clang/clang++}
  # shellcheck disable=SC2086 # pkg-config's flags are words
  quiet "$cc" -std=c11 "${STRICT[@]}" $CFLAGS "$WORK/header.c"
  # shellcheck disable=SC2086
  quiet "$cxx" -std=c++17 "${STRICT[@]}" $CFLAGS "$WORK/header.cpp"
  ok "header as C11 ($cc) and C++17 ($cxx)"
done

# pkg-config, shared. The rpath stands in for a prefix the loader searches.
pc_build "$WORK/pc_shared" -- "-Wl,-rpath,$LIBDIR"
check_shared "$WORK/pc_shared" "$L" "$SONAME"
check_published "$WORK/pc_shared"

# pkg-config, static, from the archive-only install.
PKG_CONFIG_PATH=$STATIC_PREFIX/$MULTIARCH_LIB/pkgconfig pc_build "$WORK/pc_static" --static
check_static "$WORK/pc_static"
check_published "$WORK/pc_static"

# CMake, shared then static; each builds the C program and the C++ example.
for kind in shared static; do
  cmake_publish $kind "$PREFIX" "$VERSION" "$L" "$SONAME"
done

# find_package: which versions and components it accepts, and what it says when it refuses.
mkdir -p "$WORK/probe"
cat >"$WORK/probe/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.13)
project(probe C)
if(COMPONENTS)
  find_package(libpublisher ${WANT} REQUIRED COMPONENTS ${COMPONENTS})
else()
  find_package(libpublisher ${WANT} REQUIRED)
endif()
get_target_property(type libpublisher::libpublisher TYPE)
message(STATUS "libpublisher::libpublisher: ${type}")
EOF
n=0
# probe PREFIX EXPECTED [-D...]...: the configure's output (spaces squeezed) must hold EXPECTED.
probe() {
  local out
  n=$((n + 1))
  out=$(cmake -S "$WORK/probe" -B "$WORK/probe/build-$n" -DCMAKE_PREFIX_PATH="$1" "${@:3}" 2>&1) || true
  [[ "$(tr -s ' \n' ' ' <<<"$out")" == *"$2"* ]] || { echo "$out" >&2; fail "find_package ${*:3}: expected '$2'"; }
}
if [ "$MAJOR" = 0 ]; then other=0.$((MINOR + 1)); else other=$((MAJOR + 1)); fi
probe "$PREFIX" "libpublisher::libpublisher: SHARED_LIBRARY" -DWANT="$VERSION" -DCOMPONENTS="shared;static"
probe "$PREFIX" "libpublisher::libpublisher: SHARED_LIBRARY" -DWANT="$MAJOR"
probe "$PREFIX" "compatible with requested version \"$other\"" -DWANT="$other"
probe "$STATIC_PREFIX" "libpublisher::libpublisher: INTERFACE_LIBRARY" -DCOMPONENTS=static
probe "$STATIC_PREFIX" "component shared is not installed" -DCOMPONENTS=shared
ok "find_package: $VERSION and $MAJOR accepted, $other refused; components shared and static"

echo "C install tests passed"
