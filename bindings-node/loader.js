'use strict';

// Finds the native addon, in napi-rs's convention:
//   1. libpublisher.node next to this file: a build from source (build.js; a source checkout,
//      or a platform without a prebuilt addon);
//   2. the prebuilt package for this platform, libpublisher-<platform>-<arch>[-<abi>] (e.g.
//      libpublisher-linux-x64-gnu), which npm installs as an optional dependency of this
//      package only where its os/cpu/libc match.
// Shared by index.js and build.js, so that install time and run time agree on what loads.

const fs = require('node:fs');
const path = require('node:path');

const PACKAGE = 'libpublisher';
// The platforms a prebuilt package is published for (scripts/package builds them).
const PREBUILT = ['linux-x64-gnu'];
const LOCAL = path.join(__dirname, `${PACKAGE}.node`);

function isMusl() {
  // glibc reports its version in the process report; musl does not.
  const report = process.report && typeof process.report.getReport === 'function' ? process.report.getReport() : null;
  return !(report && report.header && report.header.glibcVersionRuntime);
}

// napi-rs's platform names: linux-x64-gnu, linux-arm64-musl, darwin-arm64, win32-x64-msvc ...
function platformName(platform = process.platform, arch = process.arch) {
  switch (platform) {
    case 'linux':
      if (arch === 'arm') return `linux-arm-${isMusl() ? 'musleabihf' : 'gnueabihf'}`;
      return `linux-${arch}-${isMusl() ? 'musl' : 'gnu'}`;
    case 'win32':
      return `win32-${arch}-msvc`;
    default:
      return `${platform}-${arch}`;
  }
}

function prebuiltPackage(name = platformName()) {
  return `${PACKAGE}-${name}`;
}

// { native, file } for the addon that loads here; otherwise throws an Error whose message says
// what was tried and how to build from source.
function load() {
  const name = platformName();
  const tried = [];
  if (fs.existsSync(LOCAL)) {
    try {
      return { native: require(LOCAL), file: LOCAL };
    } catch (e) {
      tried.push(`${LOCAL}: ${firstLine(e)}`);
    }
  }
  const pkg = prebuiltPackage(name);
  let file = null;
  try {
    file = require.resolve(pkg);
  } catch {
    tried.push(`${pkg}: not installed`);
  }
  if (file) {
    try {
      return { native: require(file), file };
    } catch (e) {
      tried.push(`${file}: ${firstLine(e)}`);
    }
  }
  const available = PREBUILT.includes(name)
    ? `the prebuilt package ${pkg} is not installed or does not load here`
    : `there is no prebuilt addon for ${name} (prebuilt: ${PREBUILT.join(', ')})`;
  const error = new Error(
    `libpublisher: no native addon for ${name}: ${available}. Tried ${tried.join('; ')}. ` +
      `To build it from source (Rust 1.85 or later, clang, and the libvpx, libopus and ALSA -dev ` +
      `packages), run "npm rebuild ${PACKAGE}" with install scripts allowed, or ` +
      `"node build.js" in ${__dirname}.`,
  );
  error.code = 'MODULE_NOT_FOUND';
  throw error;
}

function firstLine(e) {
  return String((e && e.message) || e).split('\n')[0];
}

module.exports = { PACKAGE, PREBUILT, LOCAL, platformName, prebuiltPackage, load };
