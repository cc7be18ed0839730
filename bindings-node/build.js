#!/usr/bin/env node
'use strict';

// Builds libpublisher.node for `npm install`. Plain node on purpose: npm runs this install
// script before the package's own dependencies exist, so no build CLI can be relied on.
//
// Installed from a packed package (npm's registry or a .tgz):
// - when the addon loader.js finds (the prebuilt package for this platform, or an earlier
//   build) loads and reports this package's version, nothing is built. The package needs this
//   script only where no prebuilt matches: with install scripts disabled it still works there.
// - otherwise the Rust sources packed in rust/ are built with cargo (Rust, clang and the
//   libvpx/libopus/ALSA -dev packages needed), and the library copied here as libpublisher.node.
// In a source checkout (Cargo.toml next to this file):
// - a libpublisher.node that loads, reports this package's version and is not older than the
//   Rust sources is kept; otherwise `cargo build --release -p libpublisher-node` runs in the
//   workspace around this package and its library is copied here as libpublisher.node.
//
// LIBPUBLISHER_FORCE_BUILD=1 always builds.

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const loader = require('./loader.js');

const CRATE = 'libpublisher-node';
const packageDir = __dirname;
const target = loader.LOCAL;
const packageVersion = require('./package.json').version;
// A packed package carries its Rust sources as a workspace of their own (scripts/package).
const packedSources = path.join(packageDir, 'rust');

function log(message) {
  process.stderr.write(`libpublisher: ${message}\n`);
}

function fail(message) {
  log(message);
  process.exit(1);
}

function isSourceCheckout() {
  return fs.existsSync(path.join(packageDir, 'Cargo.toml'));
}

// The Cargo workspace to build in: the one around a source checkout, or the packed sources.
function findWorkspace() {
  if (!isSourceCheckout()) {
    return fs.existsSync(path.join(packedSources, 'Cargo.toml')) ? packedSources : null;
  }
  let dir = path.dirname(packageDir);
  for (;;) {
    const manifest = path.join(dir, 'Cargo.toml');
    if (fs.existsSync(manifest) && /^\s*\[workspace\]/m.test(fs.readFileSync(manifest, 'utf8'))) {
      return dir;
    }
    const parent = path.dirname(dir);
    if (parent === dir) return null;
    dir = parent;
  }
}

// The version the addon reports, or null when it does not load here (missing, other platform,
// other ABI). Checked in a child process: loading it here would map a file we may replace.
function builtVersion(file) {
  if (!fs.existsSync(file)) return null;
  const probe = spawnSync(process.execPath, ['-e', 'process.stdout.write(require(process.argv[1]).version())', file], {
    encoding: 'utf8',
  });
  return probe.status === 0 ? probe.stdout : null;
}

// The addon loader.js picks and the version it reports ({ file, version }), or null when none
// loads. In a child process, for the same reason.
function loadableAddon() {
  const probe = spawnSync(
    process.execPath,
    [
      '-e',
      'const l = require(process.argv[1]).load(); process.stdout.write(JSON.stringify({ file: l.file, version: l.native.version() }))',
      path.join(packageDir, 'loader.js'),
    ],
    { encoding: 'utf8' },
  );
  if (probe.status !== 0) return null;
  try {
    return JSON.parse(probe.stdout);
  } catch {
    return null;
  }
}

function newestSource(workspace) {
  let newest = 0;
  const visit = (p) => {
    let stat;
    try {
      stat = fs.statSync(p);
    } catch {
      return;
    }
    if (stat.isDirectory()) {
      for (const entry of fs.readdirSync(p)) {
        if (entry !== 'target' && entry !== 'node_modules' && !entry.startsWith('.')) visit(path.join(p, entry));
      }
    } else if (/\.(rs|toml|lock)$/.test(p) || path.basename(p) === 'build.rs') {
      newest = Math.max(newest, stat.mtimeMs);
    }
  };
  for (const p of ['Cargo.toml', 'Cargo.lock', 'core', path.join(path.relative(workspace, packageDir), 'src')]) {
    visit(path.join(workspace, p));
  }
  visit(path.join(packageDir, 'Cargo.toml'));
  visit(path.join(packageDir, 'build.rs'));
  return newest;
}

function findCargo() {
  const candidates = [process.env.CARGO, 'cargo', path.join(os.homedir(), '.cargo', 'bin', 'cargo')];
  for (const candidate of candidates) {
    if (!candidate) continue;
    const probe = spawnSync(candidate, ['--version'], { encoding: 'utf8' });
    if (probe.status === 0) return candidate;
  }
  return null;
}

function build(workspace) {
  const cargo = findCargo();
  if (!cargo) {
    fail(
      'cargo was not found; to build the native module install Rust 1.85 or later (https://rustup.rs), ' +
        'clang and the libvpx, libopus and ALSA -dev packages (Debian: clang libvpx-dev libopus-dev ' +
        'libasound2-dev pkg-config), or set CARGO',
    );
  }
  log(`building ${CRATE} with cargo in ${workspace} (first build takes a few minutes)`);
  // Cargo reports the files it produced as JSON on stdout; diagnostics and progress go to stderr.
  const result = spawnSync(
    cargo,
    ['build', '--release', '-p', CRATE, '--message-format=json-render-diagnostics'],
    { cwd: workspace, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 256 * 1024 * 1024 },
  );
  if (result.error) fail(`cannot run cargo: ${result.error.message}`);
  if (result.status !== 0) fail(`cargo build failed (exit status ${result.status})`);

  let library = null;
  for (const line of result.stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    const message = JSON.parse(line);
    if (message.reason === 'compiler-artifact' && message.target && message.target.name === 'libpublisher_node') {
      library = message.filenames.find((f) => /\.(so|dylib|dll)$/.test(f)) || library;
    }
  }
  if (!library) fail('cargo did not report the libpublisher_node library');

  // Replace atomically: a running process may have the old file mapped.
  const staging = `${target}.${process.pid}.tmp`;
  fs.copyFileSync(library, staging);
  fs.renameSync(staging, target);
  log(`installed ${path.relative(process.cwd(), target) || target}`);
  // What a packed package's build left behind is only intermediate files, and large.
  if (workspace === packedSources && !process.env.CARGO_TARGET_DIR) {
    fs.rmSync(path.join(packedSources, 'target'), { recursive: true, force: true });
  }
}

function main() {
  const workspace = findWorkspace();
  const force = /^(1|true|yes)$/i.test(process.env.LIBPUBLISHER_FORCE_BUILD || '');
  if (!isSourceCheckout()) {
    const name = loader.platformName();
    if (!force) {
      const found = loadableAddon();
      if (found && found.version === packageVersion) {
        log(found.file === target ? 'using libpublisher.node, built earlier' : `using the prebuilt addon ${found.file}`);
        return;
      }
      log(
        loader.PREBUILT.includes(name)
          ? `the prebuilt addon for ${name} (${loader.prebuiltPackage(name)}) is missing or does not load here; building from source`
          : `no prebuilt addon for ${name} (prebuilt: ${loader.PREBUILT.join(', ')}); building from source`,
      );
    }
    if (!workspace) fail('this package carries no Rust sources (rust/) to build the native module from');
  } else {
    if (!workspace) fail('no Cargo workspace around this package to build libpublisher.node in');
    const built = builtVersion(target);
    if (!force && built === packageVersion && fs.statSync(target).mtimeMs >= newestSource(workspace)) {
      log('libpublisher.node is up to date');
      return;
    }
  }
  build(workspace);
  const installed = builtVersion(target);
  if (installed !== packageVersion) {
    fail(`the built libpublisher.node does not load or reports version ${installed}, expected ${packageVersion}`);
  }
}

main();
