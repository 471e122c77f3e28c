#!/usr/bin/env node
// Owns `npm test` and `.ci/run`: installs, typechecks, starts one throwaway PostgreSQL 15 and runs every test file.
// Must never touch a PostgreSQL it did not start, and never leave its server running or its temp dir behind.
//
// Plain Node with no dependencies: it runs on a fresh clone, before `npm ci`.
// Usage: node scripts/test.mjs [path-substring ...] [--node-test-option ...]
//   node scripts/test.mjs ledger                      only files whose path contains "ledger"
//   node scripts/test.mjs --test-name-pattern=shard   options starting with -- go to `node --test`
import { spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, appendFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const PG_BIN = process.env.KOZA_PG_BIN ?? '/usr/lib/postgresql/15/bin';
const DATABASE = 'koza_test';
const IS_ROOT = typeof process.getuid === 'function' && process.getuid() === 0;

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

/** Runs a PostgreSQL binary as the postgres user when we are root: the server refuses to run as root. */
function pgCommand(binary, binArgs) {
  const path = join(PG_BIN, binary);
  if (!IS_ROOT) return [path, binArgs];
  if (existsSync('/usr/sbin/runuser') || existsSync('/sbin/runuser') || existsSync('/usr/bin/runuser')) {
    return ['runuser', ['-u', 'postgres', '--', path, ...binArgs]];
  }
  const quoted = [path, ...binArgs].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  return ['su', ['postgres', '-s', '/bin/sh', '-c', quoted]];
}

function runPg(binary, binArgs, options = {}) {
  const [cmd, cmdArgs] = pgCommand(binary, binArgs);
  return spawnSync(cmd, cmdArgs, { cwd: '/', encoding: 'utf8', ...options });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

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

// ---- the throwaway server; cleanup() is safe to call more than once, from any exit path ----

let tempDir = null;
let dataDir = null;
let serverStarted = false;
let testChild = null;

function cleanup() {
  if (testChild && testChild.exitCode === null) testChild.kill('SIGTERM');
  if (serverStarted && dataDir) {
    serverStarted = false;
    const res = runPg('pg_ctl', ['stop', '-D', dataDir, '-m', 'immediate', '-w', '-t', '10']);
    if (res.status !== 0) {
      // pg_ctl could not do it (a half-started server): signal the postmaster itself.
      try {
        const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
        if (pid > 0) process.kill(pid, 'SIGQUIT');
      } catch { /* no pid file: nothing is running */ }
    }
  }
  if (tempDir) {
    rmSync(tempDir, { recursive: true, force: true, maxRetries: 3 });
    tempDir = null;
  }
}

for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]]) {
  process.on(signal, () => {
    console.error(`\n✖ ${signal}: stopping the test server`);
    cleanup();
    process.exit(code);
  });
}
process.on('exit', cleanup);

function postgresUser() {
  const id = (flag) => {
    const res = spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' });
    if (res.status !== 0) throw new Error('running as root needs a `postgres` user to run the server as (apt-get install postgresql-15 creates it)');
    return Number(res.stdout.trim());
  };
  return { uid: id('-u'), gid: id('-g') };
}

async function startPostgres() {
  tempDir = mkdtempSync(join(tmpdir(), 'koza-test-pg-'));
  dataDir = join(tempDir, 'data');
  const logFile = join(tempDir, 'server.log');
  if (IS_ROOT) {
    const { uid, gid } = postgresUser();
    chownSync(tempDir, uid, gid);
  }
  const init = runPg('initdb', ['-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-locale', '--no-sync']);
  if (init.status !== 0) throw new Error(`initdb failed:\n${init.stdout ?? ''}${init.stderr ?? init.error?.message ?? ''}`);

  const port = await freePort();
  // Throwaway data: durability is not wanted, speed is. Trust auth only on loopback and the private socket dir.
  const settings = {
    port: String(port),
    listen_addresses: "'127.0.0.1'",
    unix_socket_directories: `'${tempDir}'`,
    fsync: 'off',
    synchronous_commit: 'off',
    full_page_writes: 'off',
    max_connections: '200',
  };
  // As root the data dir belongs to postgres; appending as root keeps its owner.
  appendFileSync(join(dataDir, 'postgresql.conf'),
    `\n# koza test run\n${Object.entries(settings).map(([k, v]) => `${k} = ${v}`).join('\n')}\n`);
  writeFileSync(join(dataDir, 'pg_hba.conf'), [
    'local all all trust',
    'host all all 127.0.0.1/32 trust',
    '',
  ].join('\n'));

  const start = runPg('pg_ctl', ['start', '-D', dataDir, '-l', logFile, '-W']);
  if (start.status !== 0) throw new Error(`pg_ctl start failed:\n${start.stdout}${start.stderr}`);
  serverStarted = true;

  const deadline = Date.now() + 30_000;
  for (;;) {
    const ready = spawnSync(join(PG_BIN, 'pg_isready'), ['-q', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres']);
    if (ready.status === 0) break;
    if (Date.now() > deadline) {
      const log = existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n').slice(-20).join('\n') : '(no log)';
      throw new Error(`PostgreSQL did not become ready within 30 s; server log:\n${log}`);
    }
    await sleep(200);
  }
  const created = spawnSync(join(PG_BIN, 'createdb'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', DATABASE], { encoding: 'utf8' });
  if (created.status !== 0) throw new Error(`createdb failed: ${created.stderr}`);
  return port;
}

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
  if (!existsSync(join(PG_BIN, 'postgres'))) {
    if (!IS_ROOT) return fail(`PostgreSQL 15 is not installed (${PG_BIN}/postgres); install postgresql-15 or run as root`);
    step('installing PostgreSQL 15 (apt-get)');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    if (run('apt-get', ['update'], { env }) !== 0 || run('apt-get', ['install', '-y', 'postgresql-15'], { env }) !== 0) {
      return fail('could not install postgresql-15');
    }
  }

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
  const port = await startPostgres();
  const databaseUrl = `postgres://postgres@127.0.0.1:${port}/${DATABASE}`;
  console.log(`  ${databaseUrl} (data in ${dataDir})`);

  // (e) the tests
  step(`running ${files.length} test file${files.length === 1 ? '' : 's'}`);
  for (const f of files) console.log(`  ${f}`);
  const tapFile = join(tempDir, 'report.tap');
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
  if (serverStarted || tempDir) step('stopping the test server');
  cleanup();
}
process.exit(exitCode);
