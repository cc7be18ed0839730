#!/usr/bin/env node
'use strict';

// Builds libpublisher.node for `npm install`. Plain node on purpose: npm runs this install
// script before the package's own dependencies exist, so no build CLI can be relied on.
//
// - A libpublisher.node that loads in this Node and reports this package's version, and is not
//   older than the Rust sources it is built from, is kept as it is (a packed prebuilt, or an
//   up-to-date build).
// - Otherwise `cargo build --release -p libpublisher-node` runs in the workspace around this
//   package and the library it produced is copied here as libpublisher.node.
//
// LIBPUBLISHER_FORCE_BUILD=1 always builds.

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const CRATE = 'libpublisher-node';
const packageDir = __dirname;
const target = path.join(packageDir, 'libpublisher.node');
const packageVersion = require('./package.json').version;

function log(message) {
  process.stderr.write(`libpublisher: ${message}\n`);
}

function fail(message) {
  log(message);
  process.exit(1);
}

// The Cargo workspace whose members include this package, if this is a source checkout.
function findWorkspace() {
  if (!fs.existsSync(path.join(packageDir, 'Cargo.toml'))) return null; // a packed package
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
    fail('cargo was not found; install Rust (https://rustup.rs) or set CARGO to build the native module');
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
}

function main() {
  const workspace = findWorkspace();
  const force = /^(1|true|yes)$/i.test(process.env.LIBPUBLISHER_FORCE_BUILD || '');
  const prebuilt = builtVersion(target);
  const fits = prebuilt === packageVersion;
  if (!force && fits) {
    if (!workspace) {
      log('using the prebuilt libpublisher.node');
      return;
    }
    if (fs.statSync(target).mtimeMs >= newestSource(workspace)) {
      log('libpublisher.node is up to date');
      return;
    }
  }
  if (!workspace) {
    fail(
      prebuilt === null
        ? 'no usable libpublisher.node and no Cargo workspace around this package to build one from'
        : `libpublisher.node is version ${prebuilt}, expected ${packageVersion}, and there is no Cargo workspace to rebuild it`,
    );
  }
  build(workspace);
  const installed = builtVersion(target);
  if (installed !== packageVersion) {
    fail(`the built libpublisher.node does not load or reports version ${installed}, expected ${packageVersion}`);
  }
}

main();
