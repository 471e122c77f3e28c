// The `koza` command as a user meets it: help, one-line errors with non-zero exits, migrate, start, outbox,
// on the embedded database (a data directory on disk) and on the PostgreSQL server.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { backends, freshSchemaName } from '../../test-support/backends.js';
import { KOZA_BIN, startKozaProcess } from '../../test-support/koza-process.js';

const SECRET = 'cd'.repeat(32);

function koza(args: string[], env: Record<string, string> = {}) {
  const res = spawnSync(process.execPath, [KOZA_BIN, ...args], {
    encoding: 'utf8', env: { ...process.env, DATABASE_URL: '', LOG_LEVEL: 'silent', ...env }, timeout: 60_000,
  });
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

describe('koza command line', () => {
  it('prints help for the program and for every command, and exits 0', () => {
    const main = koza(['--help']);
    assert.equal(main.status, 0);
    for (const command of ['start', 'migrate', 'outbox']) {
      assert.match(main.stdout, new RegExp(`\\n  ${command} `));
      const help = koza([command, '--help']);
      assert.equal(help.status, 0, command);
      assert.match(help.stdout, new RegExp(`Usage: koza ${command}`));
    }
  });

  it('answers a mistake with one line on stderr and a non-zero exit', () => {
    const cases: Array<[string[], Record<string, string>, number, RegExp]> = [
      [[], {}, 2, /^$/],
      [['bogus'], {}, 2, /^koza: unknown command 'bogus'/],
      [['start', '--bogus'], {}, 2, /^koza: Unknown option '--bogus'/],
      [['start', 'extra'], {}, 2, /^koza: /],
      [['outbox', '--limit', 'many'], {}, 2, /^koza: --limit must be a whole number/],
      [['start'], { PORT: 'eighty' }, 1, /^koza: PORT: expected a whole number/],
      [['migrate'], { DATABASE_URL: 'mysql://x' }, 1, /^koza: DATABASE_URL: expected a postgres/],
      [['start'], { KOZA_SANDBOX: 'maybe' }, 1, /^koza: KOZA_SANDBOX: expected true or false/],
    ];
    for (const [args, env, status, stderr] of cases) {
      const res = koza(args, env);
      assert.equal(res.status, status, `koza ${args.join(' ')}`);
      assert.match(res.stderr, stderr, `koza ${args.join(' ')}`);
      assert.ok(res.stderr.split('\n').filter(Boolean).length <= 1, `one line: ${res.stderr}`);
      assert.doesNotMatch(res.stderr, /\n\s+at /, 'no stack trace');
    }
  });
});

for (const backend of backends()) {
  describe(`koza start and migrate [${backend.name}]`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'koza-cli-'));
    after(() => rmSync(dir, { recursive: true, force: true }));
    const env: Record<string, string> = backend.name === 'pglite'
      ? { KOZA_DATA: join(dir, 'data'), KOZA_SECRET_KEY: SECRET }
      : {
        DATABASE_URL: process.env.KOZA_TEST_DATABASE_URL!, KOZA_DB_SCHEMA: freshSchemaName(),
        KOZA_SECRET_KEY: SECRET,
      };

    it('migrates once, then reports the schema up to date', () => {
      const first = koza(['migrate'], env);
      assert.equal(first.status, 0, first.stderr);
      assert.match(first.stdout, /migrations applied: 0001_ledger, 0002_wallets_merchants/);
      const second = koza(['migrate'], env);
      assert.equal(second.status, 0, second.stderr);
      assert.match(second.stdout, /migrations: up to date/);
    });

    it('starts, serves /healthz and /readyz, keeps what was written across a restart, and stops on SIGTERM', async () => {
      const email = `cli-${randomUUID()}@example.jp`;
      const first = await startKozaProcess(env);
      try {
        assert.equal((await fetch(`${first.url}/healthz`)).status, 200);
        // koza start runs the bank sandbox beside the API: 35 partner banks answer.
        const directory = await (await fetch(`${first.banksUrl}/directory`)).json() as unknown[];
        assert.equal(directory.length, 35);
        const ready = await (await fetch(`${first.url}/readyz`)).json();
        assert.deepEqual(ready, { status: 'ready', backend: backend.name });
        const signup = await fetch(`${first.url}/v1/signup`, {
          method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': randomUUID() },
          body: JSON.stringify({ email, password: 'a long passphrase' }),
        });
        assert.equal(signup.status, 202);
      } finally {
        assert.equal(await first.stop(), 0);
      }
      const outbox = koza(['outbox', '--to', email, '--json'], env);
      assert.equal(outbox.status, 0, outbox.stderr);
      const messages = JSON.parse(outbox.stdout) as Array<{ recipient: string; body: string }>;
      assert.equal(messages.length, 1);
      assert.match(messages[0]!.body, /code is \d{6}/);
      const second = await startKozaProcess(env);
      try {
        assert.equal((await fetch(`${second.url}/readyz`)).status, 200);
      } finally {
        assert.equal(await second.stop(), 0);
      }
    });
  });
}
