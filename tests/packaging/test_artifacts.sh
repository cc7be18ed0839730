#!/usr/bin/env bash
# The release artefacts in dist/ (scripts/package), used as a user without the toolchain uses
# them: from a temporary directory, with cargo and rustc off PATH (and HOME a temporary one, so
# that no ~/.cargo is found either), nothing of this checkout on an import path, no registry:
#   - SHA256SUMS holds;
#   - Python: pip installs the wheel into a fresh venv (no index, nothing built), and it publishes
#     the synthetic camera and microphone to loopback://, the embedded receiver getting video
#     frames and audio packets, and to the aiortc WHIP receiver of tests/peers (run by .venv's
#     Python, a peer outside the user's venv), which decodes video and audio frames; py.typed
#     and the stubs are installed; the extension has no debug info and loads the libraries
#     grafted next to it; the default microphone (a virtual one behind ALSA's PulseAudio plugin)
#     is captured through the wheel's ALSA; auditwheel show reports a manylinux tag;
#   - Node: npm installs the main and the linux-x64-gnu tarballs into an empty folder, once with
#     --ignore-scripts and once with install scripts allowed; the prebuilt addon is used, no cargo
#     runs (a cargo on PATH that records being called), and it publishes to loopback://;
#     index.d.ts is installed; the main package without its prebuilt says how to build from
#     source, at require() and from its install script;
#   - C: the tarball unpacked into a temporary directory (its files name the prefix /usr): the
#     pkg-config file and lp_version(); tests/packaging/publish_loopback.c built with pkg-config,
#     linked shared (found through its rpath, in the unpacked tree) and static (from the tree
#     unpacked without the shared library), and the CMake project tests/packaging/cmake
#     (find_package) linked shared and static, each program publishing to loopback://;
#   - one version everywhere: Cargo.toml's, the file names, the packages' metadata, lp_version(),
#     libpublisher.__version__ and the Node package's `version`.
# LP_PYTHONS="python3.9 python3.13" runs the Python part with each of those interpreters (the
# wheel is abi3, CPython 3.9+); the default is python3.
#
# usage: tests/packaging/test_artifacts.sh [DIST]   (default dist)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
DIST=$(realpath "${1:-dist}")
VENV_TOOLS=$ROOT/.venv/bin
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }
quiet() {
  "$@" >"$WORK/log" 2>&1 || { cat "$WORK/log" >&2; fail "$*"; }
}
# shellcheck source=tests/packaging/c_checks.sh
. tests/packaging/c_checks.sh

VERSION=$(awk -F'"' '/^\[/ { s = ($0 == "[workspace.package]") } s && /^version *=/ { print $2; exit }' Cargo.toml)
one() { # the one file in DIST matching a glob
  local matches=("$DIST"/$1)
  ((${#matches[@]} == 1)) && [ -f "${matches[0]}" ] || fail "expected one $1 in $DIST, found: ${matches[*]}"
  echo "${matches[0]}"
}
WHEEL=$(one "libpublisher-$VERSION-cp39-abi3-manylinux_*_x86_64.whl")
SDIST=$(one "libpublisher-$VERSION.tar.gz")
NPM_MAIN=$(one "libpublisher-$VERSION.tgz")
NPM_PLATFORM=$(one "libpublisher-linux-x64-gnu-$VERSION.tgz")
C_TREE=$(one "libpublisher-c-$VERSION-x86_64-linux-gnu.tar.gz")
(cd "$DIST" && sha256sum --quiet -c SHA256SUMS) || fail "SHA256SUMS does not match"
listed=$(awk '{ print $2 }' "$DIST/SHA256SUMS" | sort | tr '\n' ' ')
for f in "$WHEEL" "$SDIST" "$NPM_MAIN" "$NPM_PLATFORM" "$C_TREE"; do
  [[ " $listed" == *" $(basename "$f") "* ]] || fail "$(basename "$f") is not in SHA256SUMS"
done
ok "dist/ has the five artefacts of $VERSION and their sums"

# The environment of a machine without Rust: PATH without cargo and rustc, a HOME of its own,
# and a `cargo` and `rustc` that fail as missing tools would and record any use beyond
# `--version` (pip asks rustc's version for its user agent), to tell that nothing was built.
CLEAN_PATH=$(tr ':' '\n' <<<"$PATH" | grep -v '/\.cargo/bin$' | grep -v '/\.rustup/' | paste -sd:)
mkdir -p "$WORK/home" "$WORK/trap-bin"
cat >"$WORK/trap-bin/cargo" <<EOF
#!/bin/sh
[ "\$*" = --version ] || echo "\$0 \$*" >>"$WORK/cargo-ran"
exit 127
EOF
chmod +x "$WORK/trap-bin/cargo"
cp "$WORK/trap-bin/cargo" "$WORK/trap-bin/rustc"
USER_ENV=(env -u CARGO -u CARGO_HOME -u RUSTUP_HOME -u PYTHONPATH -u NODE_PATH -u VIRTUAL_ENV
  HOME="$WORK/home" PATH="$WORK/trap-bin:$CLEAN_PATH" npm_config_cache="$WORK/home/.npm")
PATH=$CLEAN_PATH command -v cargo >/dev/null && fail "cargo is still on the stripped PATH"
PATH=$CLEAN_PATH command -v rustc >/dev/null && fail "rustc is still on the stripped PATH"
no_build() {
  [ ! -e "$WORK/cargo-ran" ] || fail "$1 ran: $(cat "$WORK/cargo-ran")"
}

# --- Python ---------------------------------------------------------------------------------
# publish.py [URL TOKEN]: loopback:// and its embedded receiver's stats, or a WHIP endpoint,
# publishing until a line comes on stdin (from whip.py, once the receiver has decoded enough).
cat >"$WORK/publish.py" <<'EOF'
import importlib.metadata
import json
import sys
import time

import libpublisher

url, token = (sys.argv[1], sys.argv[2]) if len(sys.argv) > 2 else ("loopback://", None)
publisher = libpublisher.init_publisher(
    {"video_source": "synthetic", "audio_source": "synthetic", "resolution": "320x240"}
)
session = libpublisher.init_session(url)
got = {"video_frames": None, "audio_packets": None}
try:
    session.connect(token=token)
    session.publish(publisher)
    if token is None:
        time.sleep(1)
        got = session.get_receiver_stats(publisher)
    else:
        print("PUBLISHING", flush=True)
        sys.stdin.readline()
finally:
    session.close()
    publisher.close()
print(json.dumps({
    "file": libpublisher.__file__,
    "version": libpublisher.__version__,
    "metadata_version": importlib.metadata.version("libpublisher"),
    "python": sys.version.split()[0],
    "video_frames": got["video_frames"],
    "audio_packets": got["audio_packets"],
}))
EOF
# whip.py PYTHON PEERS: the aiortc WHIP receiver (tests/peers/receiver.py, in this process:
# .venv's Python, which has aiortc) and PYTHON publishing publish.py to it; prints the frames
# it decoded.
cat >"$WORK/whip.py" <<'EOF'
import subprocess
import sys

sys.path.insert(0, sys.argv[2])
from receiver import WhipReceiver

ROOM = "artefacts"
receiver = WhipReceiver()
try:
    publisher = subprocess.Popen([sys.argv[1], "-I", "publish.py", receiver.url(ROOM),
                                  receiver.token], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 text=True)
    try:
        if publisher.stdout.readline().strip() != "PUBLISHING":
            sys.exit("the wheel did not publish to the WHIP receiver")
        stats = receiver.wait_for(lambda s: any(
            x["room"] == ROOM and x["video_frames"] >= 10 and x["audio_frames"] >= 10
            for x in s.values()), timeout=20)
        publisher.communicate("stop\n", timeout=20)
    finally:
        if publisher.poll() is None:
            publisher.kill()
            publisher.wait()
    if publisher.returncode:
        sys.exit(f"the WHIP publisher exited with {publisher.returncode}")
    ours = [x for x in stats.values() if x["room"] == ROOM]
    print(sum(x["video_frames"] for x in ours), sum(x["audio_frames"] for x in ours),
          ",".join(x["video_codec"] or "-" for x in ours))
finally:
    receiver.close()
EOF
for python in ${LP_PYTHONS:-python3}; do
  venv=$WORK/venv-$(basename "$python")
  quiet "${USER_ENV[@]}" "$python" -m venv "$venv"
  quiet "${USER_ENV[@]}" "$venv/bin/pip" install --no-index --no-deps --only-binary :all: \
    --disable-pip-version-check "$WHEEL"
  site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  out=$(cd "$WORK" && "${USER_ENV[@]}" "$venv/bin/python" -I publish.py) || fail "the wheel did not publish ($python)"
  read -r file version metadata_version pyver frames packets < <("$venv/bin/python" -c '
import json, sys
r = json.loads(sys.argv[1])
print(r["file"], r["version"], r["metadata_version"], r["python"], r["video_frames"], r["audio_packets"])' "$out")
  [[ "$file" == "$site/libpublisher/"* ]] || fail "libpublisher was imported from $file, not the venv"
  [ "$version" = "$VERSION" ] || fail "libpublisher.__version__ is $version, Cargo.toml $VERSION"
  [ "$metadata_version" = "$VERSION" ] || fail "the wheel's metadata version is $metadata_version"
  ((frames > 0 && packets > 0)) || fail "the receiver got $frames video frames, $packets audio packets"
  for f in py.typed _native.pyi _errors.pyi; do
    [ -f "$site/libpublisher/$f" ] || fail "the wheel did not install libpublisher/$f"
  done
  ext=$site/libpublisher/_native.abi3.so
  sections=$(readelf -S "$ext")
  [[ "$sections" != *".debug_"* ]] || fail "the extension has debug info"
  grafted=$(ldd "$ext" | awk '/libpublisher\.libs\// { n++ } END { print n + 0 }')
  ((grafted == 3)) || { ldd "$ext" >&2; fail "the extension does not load libvpx, libopus and ALSA from libpublisher.libs"; }
  ok "Python $pyver: wheel installed without a build, published: $frames video frames, $packets audio packets received"
  whip=$(cd "$WORK" && "${USER_ENV[@]}" "$VENV_TOOLS/python" whip.py "$venv/bin/python" "$ROOT/tests/peers") \
    || fail "the wheel did not publish to the WHIP receiver ($python)"
  read -r frames audio codec <<<"$whip"
  ((frames >= 10 && audio >= 10)) || fail "the WHIP receiver decoded $frames video frames, $audio audio frames"
  ok "Python $pyver: published over WHIP: the aiortc receiver decoded $frames $codec video frames, $audio audio frames"
done
no_build "cargo (pip)"

# The microphone through the ALSA the wheel carries and its PulseAudio plugin, fed by the
# tests' virtual microphone (tests/peers: a peer of the test, not imported by the program).
if command -v pulseaudio >/dev/null; then
  cat >"$WORK/mic.py" <<'EOF'
import json
import subprocess
import sys

sys.path.insert(0, sys.argv[2])
from virtual_mic import VirtualMicrophone

PROGRAM = '''
import json, time, libpublisher
levels = []
p = libpublisher.init_publisher({"video_source": None, "audio_source": "default"},
                                on={"audio_level_updated": levels.append})
time.sleep(1.5)
p.close()
print(json.dumps({"levels": len(levels), "mean": sum(levels) / max(1, len(levels))}))
'''
with VirtualMicrophone() as mic:
    run = subprocess.run([sys.argv[1], "-I", "-c", PROGRAM], env=mic.env, capture_output=True,
                         text=True, timeout=60)
if run.returncode:
    sys.exit(run.stderr[-2000:])
r = json.loads(run.stdout)
print(r["levels"], round(r["mean"], 3))
EOF
  mic=$(cd "$WORK" && "${USER_ENV[@]}" "$VENV_TOOLS/python" mic.py "$venv/bin/python" "$ROOT/tests/peers") \
    || fail "the wheel did not capture the virtual microphone"
  read -r levels mean <<<"$mic"
  # About ten levels a second, of the tone's RMS, 0.177 (tests/peers/virtual_mic.py).
  awk -v n="$levels" -v m="$mean" 'BEGIN { exit !(n >= 8 && m > 0.12 && m < 0.23) }' \
    || fail "the wheel captured $levels audio levels of mean $mean from the virtual microphone"
  ok "Python: the default microphone through the wheel's ALSA and its PulseAudio plugin: $levels levels, mean $mean"
fi
show=$("$VENV_TOOLS/auditwheel" show "$WHEEL" | tr -s ' \n' ' ')
[[ "$show" =~ consistent\ with\ the\ following\ platform\ tag:\ \"(manylinux_[0-9]+_[0-9]+_x86_64)\" ]] \
  || { echo "$show" >&2; fail "auditwheel show reports no manylinux tag"; }
[[ "$(basename "$WHEEL")" == *"-${BASH_REMATCH[1]}.whl" ]] || fail "the wheel's name does not carry ${BASH_REMATCH[1]}"
ok "auditwheel show: ${BASH_REMATCH[1]}"

# --- Node -----------------------------------------------------------------------------------
cat >"$WORK/publish.mjs" <<'EOF'
import { createRequire } from 'node:module';
import { initPublisher, initSession, version } from 'libpublisher';

const require = createRequire(import.meta.url);
const publisher = await initPublisher({ videoSource: 'synthetic', audioSource: 'synthetic', resolution: '320x240' });
const session = initSession('loopback://');
let got;
try {
  await session.connect();
  await session.publish(publisher);
  await new Promise((r) => setTimeout(r, 1000));
  got = session.getReceiverStats(publisher);
} finally {
  session.close();
  publisher.close();
}
const addon = Object.keys(require.cache).filter((f) => f.endsWith('.node'));
console.log(JSON.stringify({ version, addon, ...got }));
EOF
npm_install() { # folder, npm arguments...
  local app=$1
  shift
  mkdir -p "$app"
  (cd "$app" && "${USER_ENV[@]}" npm install --offline --no-audit --no-fund --foreground-scripts "$@")
}
for mode in ignore-scripts scripts; do
  app=$WORK/node-$mode
  args=("$NPM_MAIN" "$NPM_PLATFORM")
  [ $mode = scripts ] || args=(--ignore-scripts "${args[@]}")
  npm_install "$app" "${args[@]}" >"$WORK/npm.log" 2>&1 || { cat "$WORK/npm.log" >&2; fail "npm install ($mode)"; }
  no_build "cargo (npm install, $mode)"
  pkg=$app/node_modules/libpublisher
  [ -f "$pkg/index.d.ts" ] || fail "index.d.ts is not installed"
  [ ! -e "$pkg/libpublisher.node" ] && [ ! -e "$pkg/rust/target" ] || fail "an addon was built ($mode)"
  if [ $mode = scripts ]; then
    grep -q "using the prebuilt addon" "$WORK/npm.log" || { cat "$WORK/npm.log" >&2; fail "the install script did not take the prebuilt addon"; }
  fi
  cp "$WORK/publish.mjs" "$app/"
  out=$(cd "$app" && "${USER_ENV[@]}" node publish.mjs) || fail "the npm package did not publish ($mode)"
  read -r version addon frames packets < <(node -e '
const r = JSON.parse(process.argv[1]);
console.log(r.version, r.addon.join(","), r.videoFrames, r.audioPackets);' "$out")
  [ "$addon" = "$app/node_modules/libpublisher-linux-x64-gnu/libpublisher.linux-x64-gnu.node" ] \
    || fail "the addon loaded is $addon, not the prebuilt package's"
  [ "$version" = "$VERSION" ] || fail "the Node package's version is $version, Cargo.toml $VERSION"
  for p in libpublisher libpublisher-linux-x64-gnu; do
    v=$(node -p "require('$app/node_modules/$p/package.json').version")
    [ "$v" = "$VERSION" ] || fail "$p's package.json says $v"
  done
  ((frames > 0 && packets > 0)) || fail "the receiver got $frames video frames, $packets audio packets"
  ok "npm install ($mode): prebuilt addon, no build, published: $frames video frames, $packets audio packets received"
done

# Where no prebuilt addon matches (here: the main package alone), the package says so and how
# to build; its install script builds from the packed sources, which here stops at the missing
# cargo with a message naming what to install.
app=$WORK/node-fallback
npm_install "$app" --ignore-scripts "$NPM_MAIN" >"$WORK/npm.log" 2>&1 || { cat "$WORK/npm.log" >&2; fail "npm install (main alone)"; }
[ -f "$app/node_modules/libpublisher/rust/Cargo.toml" ] || fail "the main package carries no Rust sources"
out=$(cd "$app" && "${USER_ENV[@]}" PATH="$CLEAN_PATH" node -e "require('libpublisher')" 2>&1) && fail "require() succeeded without an addon"
[[ "$out" == *"no native addon for linux-x64-gnu"*"npm rebuild libpublisher"* ]] || { echo "$out" >&2; fail "require() without an addon: unclear message"; }
out=$(cd "$app" && "${USER_ENV[@]}" PATH="$CLEAN_PATH" node node_modules/libpublisher/build.js 2>&1) && fail "build.js succeeded without cargo"
[[ "$out" == *"building from source"*"cargo was not found"*"install Rust"* ]] || { echo "$out" >&2; fail "build.js without cargo: unclear message"; }
ok "without its prebuilt: require() and the install script say how to build from source"

# --- C --------------------------------------------------------------------------------------
# The tarball holds usr/, the tree for prefix /usr, unpacked here elsewhere, as into a prefix of
# one's own. pkg-config relocates it with --define-prefix: the .pc lies in LIBDIR/pkgconfig and
# names its paths from ${prefix}, which pkg-config then takes as the directory two levels above
# the .pc (PKG_CONFIG_SYSROOT_DIR would need the tree to keep its usr/ and would prefix every -I
# and -L). The CMake package finds its files relative to itself.
# From here on, everything runs as the user: without cargo and rustc, with a HOME of its own.
export HOME=$WORK/home PATH=$WORK/trap-bin:$CLEAN_PATH
unset CARGO CARGO_HOME RUSTUP_HOME LD_LIBRARY_PATH
C_PREFIX=$WORK/c/usr
mkdir "$WORK/c" "$WORK/c-static"
tar -C "$WORK/c" -xzf "$C_TREE"
# The archive alone, as README's static link installs it: given both, -lpublisher takes the .so.
tar -C "$WORK/c-static" -xzf "$C_TREE" --exclude='usr/lib/libpublisher.so*'
[ -f "$WORK/c-static/usr/lib/libpublisher.a" ] && ! compgen -G "$WORK/c-static/usr/lib/libpublisher.so*" >/dev/null \
  || fail "the C tarball unpacked without its shared library has the wrong files"
export PKG_CONFIG_PATH=$C_PREFIX/lib/pkgconfig
pc_version=$(pkg-config --modversion libpublisher)
[ "$pc_version" = "$VERSION" ] || fail "libpublisher.pc says $pc_version"
C_LIBDIR=$(pkg-config --define-prefix --variable=libdir libpublisher)
[ "$C_LIBDIR" = "$C_PREFIX/lib" ] || fail "pkg-config --define-prefix puts libdir at $C_LIBDIR, not $C_PREFIX/lib"
SONAME=$(lp_soname "$VERSION")
printf '#include <libpublisher.h>\n#include <stdio.h>\nint main(void) { puts(lp_version()); return 0; }\n' >"$WORK/version.c"
# shellcheck disable=SC2046 # pkg-config's flags are words
quiet cc -std=c11 -Wall -Werror "$WORK/version.c" $(pkg-config --define-prefix --cflags --libs libpublisher) \
  "-Wl,-rpath,$C_LIBDIR" -o "$WORK/version"
c_version=$("$WORK/version")
[ "$c_version" = "$VERSION" ] || fail "lp_version() is $c_version, Cargo.toml $VERSION"
ok "C tarball: libpublisher.pc and lp_version() say $c_version"

# pkg-config, shared: the rpath stands in for a prefix the loader searches; check_shared makes
# sure the library comes from the unpacked tree.
pc_build "$WORK/pc_shared" --define-prefix -- "-Wl,-rpath,$C_LIBDIR"
check_shared "$WORK/pc_shared" "$C_LIBDIR" "$SONAME"
check_published "$WORK/pc_shared"
# pkg-config, static: Libs.private adds what the archive needs.
PKG_CONFIG_PATH=$WORK/c-static/usr/lib/pkgconfig pc_build "$WORK/pc_static" --define-prefix --static
check_static "$WORK/pc_static"
check_published "$WORK/pc_static"
# CMake, find_package from the unpacked tree, shared then static.
for kind in shared static; do
  cmake_publish $kind "$C_PREFIX" "$VERSION" "$C_LIBDIR" "$SONAME"
done
no_build "cargo (C builds)"
ok "C tarball: pkg-config and CMake programs, shared and static, published"

ok "one version, $VERSION: Cargo.toml, file names, package metadata, lp_version(), __version__, version"
echo "artefact tests passed"
