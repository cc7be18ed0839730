// The addon loader (loader.js): what it picks and what it says when nothing loads. The
// packages themselves are tested from dist/ by tests/packaging/test_artifacts.sh.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';

const require = createRequire(import.meta.url);
const loader = require('../loader.js');
const here = path.dirname(new URL(import.meta.url).pathname);
const packageDir = path.join(here, '..');

test('a source checkout loads its own build, libpublisher.node', () => {
  const { native, file } = loader.load();
  assert.equal(file, loader.LOCAL);
  assert.equal(native.version(), require('../package.json').version);
});

test('the prebuilt platforms are the platform packages in npm/', () => {
  assert.deepEqual([...loader.PREBUILT].sort(), readdirSync(path.join(packageDir, 'npm')).sort());
  for (const platform of loader.PREBUILT) {
    const pkg = JSON.parse(readFileSync(path.join(packageDir, 'npm', platform, 'package.json'), 'utf8'));
    assert.equal(pkg.name, loader.prebuiltPackage(platform));
    assert.equal(pkg.main, `libpublisher.${platform}.node`);
    assert.ok(pkg.files.includes(pkg.main));
  }
});

test("platform names follow napi-rs's", () => {
  assert.equal(loader.platformName('darwin', 'arm64'), 'darwin-arm64');
  assert.equal(loader.platformName('win32', 'x64'), 'win32-x64-msvc');
  assert.match(loader.platformName('linux', 'x64'), /^linux-x64-(gnu|musl)$/);
  if (process.platform === 'linux' && process.arch === 'x64' && process.report.getReport().header.glibcVersionRuntime) {
    assert.equal(loader.platformName(), 'linux-x64-gnu');
  }
});

test('without an addon, loading says what was tried and how to build from source', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'lp-loader-'));
  try {
    copyFileSync(path.join(packageDir, 'loader.js'), path.join(dir, 'loader.js'));
    const run = spawnSync(process.execPath, ['-e', 'require(process.argv[1]).load()', path.join(dir, 'loader.js')], {
      encoding: 'utf8',
      cwd: dir,
    });
    assert.notEqual(run.status, 0);
    const name = loader.platformName();
    assert.match(run.stderr, new RegExp(`no native addon for ${name}`));
    assert.match(run.stderr, new RegExp(`${loader.prebuiltPackage(name)}: not installed`));
    assert.match(run.stderr, /npm rebuild libpublisher/);
    assert.match(run.stderr, /node build\.js/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
