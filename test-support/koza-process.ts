// Owns `koza start` as its own process in tests: the CLI as users run it, killable like a real server.
// Must never leave the process running after the test that started it.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

export const KOZA_BIN = join(import.meta.dirname, '..', 'bin', 'koza.js');

export interface KozaProcess {
  child: ChildProcess;
  /** The API. */
  url: string;
  /** Where its partner banks answer (the sandbox it runs, or KOZA_BANK_SANDBOX_URL). */
  banksUrl: string;
  /** SIGTERM, resolving with the exit code (0 after a clean shutdown). */
  stop(): Promise<number | null>;
  /** SIGKILL: the crash a reconciler exists for. */
  kill(): Promise<void>;
}

/** Starts `koza start` (any free API and sandbox port, silent logs, unless env says otherwise) and waits until it serves. */
export function startKozaProcess(env: Record<string, string>): Promise<KozaProcess> {
  const child = spawn(process.execPath, [KOZA_BIN, 'start'], {
    env: { ...process.env, DATABASE_URL: '', LOG_LEVEL: 'silent', PORT: '0', KOZA_BANK_SANDBOX_PORT: '0', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  return new Promise((resolve, reject) => {
    let stderr = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      stderr += chunk;
      const api = /koza listening on (http:\/\/[^\s]+)/.exec(stderr);
      const banks = /partner banks at (http:\/\/[^\s]+)/.exec(stderr);
      if (api && banks) {
        resolve({
          child, url: api[1]!, banksUrl: banks[1]!,
          stop: () => { child.kill('SIGTERM'); return exited; },
          kill: async () => { child.kill('SIGKILL'); await exited; },
        });
      }
    });
    void exited.then((code) => reject(new Error(`koza start exited ${code}: ${stderr}`)));
  });
}
