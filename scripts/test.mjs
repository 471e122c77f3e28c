#!/usr/bin/env node
// Owns `npm test` and `.ci/run`: installs, typechecks, starts one throwaway PostgreSQL 15 and runs every test file.
// Must never touch a PostgreSQL it did not start, and never leave its server running or its temp dir behind.
//
// Plain Node with no dependencies: it runs on a fresh clone, before `npm ci`.
// Usage: node scripts/test.mjs [path-substring ...] [--node-test-option ...]
//   node scripts/test.mjs ledger                      only files whose path contains "ledger"
//   node scripts/test.mjs --test-name-pattern=shard   options starting with -- go to `node --test`
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensurePostgresInstalled, startThrowawayPostgres } from './throwaway-postgres.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DATABASE = 'koza_test';

const args = process.argv.slice(2);
const fileFilters = args.filter((a) => !a.startsWith('--'));
const testOptions = args.filter((a) => a.startsWith('--'));

function step(message) {
  console.log(`\n▶ ${message}`);
}

function fail(message) {
  console.error(`✖ ${message}`);
  return 1;
}

/** Runs a command to completion with inherited stdio; returns its exit code. */
function run(cmd, cmdArgs, options = {}) {
  const res = spawnSync(cmd, cmdArgs, { stdio: 'inherit', cwd: ROOT, ...options });
  if (res.error) {
    console.error(`✖ ${cmd}: ${res.error.message}`);
    return 1;
  }
  return res.status ?? 1;
}


function findTestFiles(dir) {
  const found = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
    const full = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...findTestFiles(full));
    else if (entry.isFile() && entry.name.endsWith('.test.ts')) found.push(full);
  }
  return found;
}

let server = null;
let testChild = null;

function cleanup() {
  if (testChild && testChild.exitCode === null) testChild.kill('SIGTERM');
  server?.stop();
  server = null;
}

for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]]) {
  process.on(signal, () => {
    console.error(`\n✖ ${signal}: stopping the test server`);
    cleanup();
    process.exit(code);
  });
}
process.on('exit', cleanup);

/** Prints the TAP summary (`# pass N`, `# fail N`, ...) that CI reads, after the readable spec output. */
function printTapSummary(tapFile) {
  if (!existsSync(tapFile)) return;
  const lines = readFileSync(tapFile, 'utf8').split('\n');
  const summary = lines.filter((l) => /^# (tests|suites|pass|fail|cancelled|skipped|todo|duration_ms) /.test(l));
  if (summary.length > 0) console.log(`\n${summary.join('\n')}`);
}

async function main() {
  // (a) dependencies
  const lock = join(ROOT, 'package-lock.json');
  const installedLock = join(ROOT, 'node_modules', '.package-lock.json');
  if (!existsSync(join(ROOT, 'node_modules')) || !existsSync(installedLock)
      || (existsSync(lock) && statSync(lock).mtimeMs > statSync(installedLock).mtimeMs)) {
    step('installing dependencies (npm ci)');
    if (run('npm', ['ci']) !== 0) return fail('npm ci failed');
  } else {
    step('dependencies are up to date');
  }

  // (b) typecheck
  step('typechecking (tsc --noEmit)');
  if (run('npx', ['tsc', '--noEmit', '-p', '.']) !== 0) return fail('typecheck failed');

  // (c) PostgreSQL 15 binaries
  const missing = ensurePostgresInstalled(run);
  if (missing) return fail(missing);

  // (e, first half) which files: fail early, before starting a server for nothing
  const files = findTestFiles(join(ROOT, 'src'))
    .map((f) => relative(ROOT, f).split(sep).join('/'))
    .sort()
    .filter((f) => fileFilters.length === 0 || fileFilters.some((s) => f.includes(s)));
  if (files.length === 0) {
    return fail(fileFilters.length ? `no test file matches ${fileFilters.join(', ')}` : 'no test files under src/');
  }

  // (d) one server for the whole run
  step('starting a throwaway PostgreSQL 15');
  server = await startThrowawayPostgres({ database: DATABASE });
  const databaseUrl = server.url;
  console.log(`  ${databaseUrl} (data in ${server.dataDir})`);

  // (e) the tests
  step(`running ${files.length} test file${files.length === 1 ? '' : 's'}`);
  for (const f of files) console.log(`  ${f}`);
  const tapFile = join(server.tempDir, 'report.tap');
  const nodeArgs = [
    '--import', 'tsx', '--test', '--test-concurrency=2',
    '--test-reporter=spec', '--test-reporter-destination=stdout',
    '--test-reporter=tap', `--test-reporter-destination=${tapFile}`,
    ...testOptions, ...files,
  ];
  const started = Date.now();
  const code = await new Promise((resolve) => {
    testChild = spawn(process.execPath, nodeArgs, {
      cwd: ROOT,
      stdio: 'inherit',
      env: { ...process.env, KOZA_TEST_DATABASE_URL: databaseUrl },
    });
    testChild.on('error', (err) => { console.error(`✖ ${err.message}`); resolve(1); });
    testChild.on('exit', (status, signal) => resolve(status ?? (signal ? 1 : 0)));
  });
  printTapSummary(tapFile);
  console.log(`\n${code === 0 ? '✔ tests passed' : '✖ tests failed'} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return code;
}

let exitCode = 1;
try {
  exitCode = await main();
} catch (err) {
  console.error(`✖ ${err instanceof Error ? err.message : String(err)}`);
  exitCode = 1;
} finally {
  if (server) step('stopping the test server');
  cleanup();
}
process.exit(exitCode);
