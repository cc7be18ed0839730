# Sourced by test_c_install.sh and test_artifacts.sh: builds tests/packaging/publish_loopback.c
# with pkg-config and the CMake project tests/packaging/cmake against an installed libpublisher,
# and checks that each program published to loopback://. The caller defines fail, ok, quiet and
# WORK, and runs from the checkout's root.

# The soname scripts/install sets, as cargo-c does: libpublisher.so.MAJOR, or .0.MINOR before
# 1.0 (.0.0.PATCH for 0.0.x).
lp_soname() {
  local major minor patch
  IFS=. read -r major minor patch <<<"${1%%[-+]*}"
  if [ "$major" = 0 ] && [ "$minor" = 0 ]; then echo "libpublisher.so.0.0.$patch"
  elif [ "$major" = 0 ]; then echo "libpublisher.so.0.$minor"
  else echo "libpublisher.so.$major"
  fi
}

# check_published PROGRAM: it must exit 0 and report frames and audio the receiver got.
check_published() {
  local program=$1 out rc=0
  out=$("$program" 2>&1) || rc=$?
  ((rc == 0)) || { echo "$out" >&2; fail "$program exited with $rc"; }
  [[ "$out" =~ receiver\ got\ ([0-9]+)\ video\ frames.*\ ([0-9]+)\ audio\ packets ]] \
    || { echo "$out" >&2; fail "$program printed no receiver stats"; }
  ((BASH_REMATCH[1] > 0 && BASH_REMATCH[2] > 0)) || { echo "$out" >&2; fail "$program: nothing received"; }
  ok "${program#"$WORK"/}: ${BASH_REMATCH[1]} video frames, ${BASH_REMATCH[2]} audio packets received"
}

# check_shared PROGRAM LIBDIR SONAME: it needs the library by its soname and loads it from LIBDIR
# (and so from nowhere else, such as target/).
check_shared() {
  local program=$1 libdir=$2 soname=$3 resolved
  [[ "$(readelf -d "$program")" == *"(NEEDED)"*"[$soname]"* ]] || fail "$program does not need $soname"
  resolved=$(ldd "$program" | awk -v so="$soname" '$1 == so { print $3 }')
  [ "$resolved" = "$libdir/$soname" ] || fail "$program loads $soname from '$resolved', not $libdir"
}

check_static() {
  [[ "$(readelf -d "$1")" != *"[libpublisher"* ]] || fail "$1 needs libpublisher dynamically"
}

# pc_build OUT [PKG_CONFIG_OPTION]... [-- CC_OPTION...]: builds publish_loopback.c with the
# flags `pkg-config OPTIONS --cflags --libs libpublisher` gives (PKG_CONFIG_PATH from the caller).
pc_build() {
  local out=$1 pc=() flags
  shift
  while (($#)) && [ "$1" != -- ]; do pc+=("$1"); shift; done
  (($#)) && shift
  flags=$(pkg-config "${pc[@]}" --cflags --libs libpublisher) || fail "pkg-config ${pc[*]} libpublisher"
  # shellcheck disable=SC2086 # pkg-config's flags are words
  quiet cc -std=c11 -Wall -Wextra -Werror tests/packaging/publish_loopback.c $flags -pthread "$@" -o "$out"
}

# cmake_publish KIND PREFIX VERSION LIBDIR SONAME: builds tests/packaging/cmake against PREFIX
# (find_package VERSION), linked KIND (shared or static), and checks both of its programs: the
# C one and the C++ example.
cmake_publish() {
  local kind=$1 prefix=$2 version=$3 libdir=$4 soname=$5 build=$WORK/cmake-$1 program
  quiet cmake -S tests/packaging/cmake -B "$build" -DCMAKE_PREFIX_PATH="$prefix" \
    -DWANT_VERSION="$version" -DLINK_STATIC=$([ "$kind" = static ] && echo ON || echo OFF)
  quiet cmake --build "$build" -j 2
  for program in "$build/publish_loopback" "$build/publish_cpp"; do
    if [ "$kind" = shared ]; then check_shared "$program" "$libdir" "$soname"; else check_static "$program"; fi
    check_published "$program"
  done
}
