// Owns throwaway PostgreSQL 15 servers for tests and benchmarks: initdb in a temp dir, loopback only, no fsync.
// Must never touch a PostgreSQL it did not start, and never leave its server running or its temp dir behind.
//
// Plain Node with no dependencies (it runs before `npm ci`). As root the server runs as the `postgres`
// user, since PostgreSQL refuses to run as root.
import { spawnSync } from 'node:child_process';
import { appendFileSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const PG_BIN = process.env.KOZA_PG_BIN ?? '/usr/lib/postgresql/15/bin';
const IS_ROOT = typeof process.getuid === 'function' && process.getuid() === 0;

/** Installs Debian's postgresql-15 when its server binaries are missing (root only). Returns an error message or null. */
export function ensurePostgresInstalled(run) {
  if (existsSync(join(PG_BIN, 'postgres'))) return null;
  if (!IS_ROOT) return `PostgreSQL 15 is not installed (${PG_BIN}/postgres); install postgresql-15 or run as root`;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (run('apt-get', ['update'], { env }) !== 0 || run('apt-get', ['install', '-y', 'postgresql-15'], { env }) !== 0) {
    return 'could not install postgresql-15';
  }
  return null;
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

export function freePort() {
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

function postgresUser() {
  const id = (flag) => {
    const res = spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' });
    if (res.status !== 0) throw new Error('running as root needs a `postgres` user to run the server as (apt-get install postgresql-15 creates it)');
    return Number(res.stdout.trim());
  };
  return { uid: id('-u'), gid: id('-g') };
}

/**
 * Starts a server with one database and returns { url, port, tempDir, dataDir, stop }. stop() is
 * synchronous (usable from an 'exit' handler) and safe to call more than once.
 */
export async function startThrowawayPostgres({ database = 'koza', settings: extra = {} } = {}) {
  const tempDir = mkdtempSync(join(tmpdir(), 'koza-pg-'));
  const dataDir = join(tempDir, 'data');
  const logFile = join(tempDir, 'server.log');
  let started = false;
  let removed = false;
  const stop = () => {
    if (started) {
      started = false;
      const res = runPg('pg_ctl', ['stop', '-D', dataDir, '-m', 'immediate', '-w', '-t', '10']);
      if (res.status !== 0) {
        // pg_ctl could not do it (a half-started server): signal the postmaster itself.
        try {
          const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
          if (pid > 0) process.kill(pid, 'SIGQUIT');
        } catch { /* no pid file: nothing is running */ }
      }
    }
    if (!removed) {
      removed = true;
      rmSync(tempDir, { recursive: true, force: true, maxRetries: 3 });
    }
  };
  try {
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
      ...extra,
    };
    // As root the data dir belongs to postgres; appending as root keeps its owner.
    appendFileSync(join(dataDir, 'postgresql.conf'),
      `\n# koza throwaway server\n${Object.entries(settings).map(([k, v]) => `${k} = ${v}`).join('\n')}\n`);
    writeFileSync(join(dataDir, 'pg_hba.conf'), ['local all all trust', 'host all all 127.0.0.1/32 trust', ''].join('\n'));

    const start = runPg('pg_ctl', ['start', '-D', dataDir, '-l', logFile, '-W']);
    if (start.status !== 0) throw new Error(`pg_ctl start failed:\n${start.stdout}${start.stderr}`);
    started = true;

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
    const created = spawnSync(join(PG_BIN, 'createdb'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', database], { encoding: 'utf8' });
    if (created.status !== 0) throw new Error(`createdb failed: ${created.stderr}`);
    return { url: `postgres://postgres@127.0.0.1:${port}/${database}`, port, tempDir, dataDir, stop };
  } catch (err) {
    stop();
    throw err;
  }
}
