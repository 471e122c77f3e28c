// Owns the `koza` command line: start, sandbox, migrate, outbox; --help everywhere; one-line errors, non-zero exit.
// Must never print a stack trace for a user's mistake, nor a secret.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError, loadConfig } from '../config.js';
import { migrate } from '../store/migrate.js';
import { openConfiguredDb, openDb } from '../store/db.js';
import { DEFAULT_BANK_COUNT } from '../sandbox/banks/seed.js';
import { readOutbox } from '../identity/outbox.js';
import { createOperator, OPERATOR_ROLES, type OperatorRole } from '../operations/operators.js';
import { appendAudit, verifyAuditChain } from '../operations/audit.js';

class UsageError extends Error {}

interface Command {
  summary: string;
  usage: string;
  options: NonNullable<ParseArgsConfig['options']>;
  /** The command takes words after its name (`koza bench risk`). */
  positionals?: boolean;
  run(values: Record<string, string | boolean | undefined>, positionals: string[]): Promise<number>;
}

const ENVIRONMENT_HELP = `Environment:
  PORT            API port (default 8080)
  HOST            address to listen on (default 127.0.0.1)
  KOZA_DATA       embedded database directory (default ./.koza/data)
  DATABASE_URL    use this PostgreSQL server instead of the embedded database
  KOZA_DB_SCHEMA  schema for koza's tables (default public)
  KOZA_SANDBOX    sandbox mode: outbox API, test top-ups, sandbox eKYC (default true)
  KOZA_SANDBOX_SEED  seed of the sandbox population (default 2020)
  KOZA_POLICY     secure (default) or legacy-2020
  KOZA_RISK_RULES the risk rule file (default: the shipped rule set)
  LOG_LEVEL       fatal|error|warn|info|debug|trace|silent (default info)`;

/**
 * Commands whose modules are loaded only when named (or for `koza --help`): loading the whole server, the replay or
 * the benchmark harness takes seconds, and a mistyped flag or `--help` should answer at once.
 */
const LAZY_COMMANDS: Record<string, () => Promise<Command>> = {
  bench: async () => (await import('./bench.js')).benchCommand,
  risk: async () => (await import('./risk.js')).riskCommand,
  attack: async () => (await import('./attack.js')).attackCommand,
};

const commands: Record<string, Command> = {
  start: {
    summary: 'Start the koza API (embedded database unless DATABASE_URL is set)',
    usage: 'koza start [--port N]',
    options: { port: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    async run(values) {
      const env = { ...process.env };
      if (typeof values.port === 'string') env.PORT = values.port;
      const config = loadConfig(env);
      const { startKoza } = await import('../server.js');
      const koza = await startKoza(config);
      process.stderr.write(`koza listening on ${koza.url} (${koza.db.backend})\n`);
      if (koza.bankSandboxUrl) process.stderr.write(`partner banks at ${koza.bankSandboxUrl}\n`);
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await koza.close();
      return 0;
    },
  },
  sandbox: {
    summary: 'Start the bank sandbox alone (simulated partner banks, holder pages, admin routes) and print its URL',
    usage: 'koza sandbox [--port N] [--banks N] [--data DIR]   (DATABASE_URL: schema bank_sandbox on that server)',
    options: { port: { type: 'string' }, banks: { type: 'string' }, data: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    async run(values) {
      const port = values.port === undefined ? 8090 : Number(values.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError('--port must be a whole number from 0 to 65535');
      const bankCount = values.banks === undefined ? DEFAULT_BANK_COUNT : Number(values.banks);
      if (!Number.isInteger(bankCount) || bankCount < 1 || bankCount > 40) throw new UsageError('--banks must be a whole number from 1 to 40');
      const config = loadConfig();
      if (!config.bankKeySeed) throw new UsageError('set KOZA_BANK_KEY_SEED (the seed koza derives its bank keys from)');
      const { BANK_SANDBOX_SCHEMA, startBankSandbox } = await import('../sandbox/banks/server.js');
      // Its own schema, and by default its own in-memory database: an embedded koza data directory is one process's.
      const db = await openDb({
        databaseUrl: config.databaseUrl, dataDir: typeof values.data === 'string' ? values.data : 'memory://', schema: BANK_SANDBOX_SCHEMA,
      });
      try {
        const sandbox = await startBankSandbox({
          seed: config.sandboxSeed, bankCount, keySeed: config.bankKeySeed, port, host: config.host, db,
        });
        process.stdout.write(`${sandbox.url}\n`);
        process.stderr.write(`bank sandbox: ${sandbox.banks.length} banks under ${sandbox.url}/banks/{code} (${db.backend}); `
          + `holders and their secrets at ${sandbox.url}/sandbox/holders; protocol at ${sandbox.url}/openapi.json\n`);
        await new Promise<void>((resolve) => {
          process.once('SIGINT', () => resolve());
          process.once('SIGTERM', () => resolve());
        });
        await sandbox.close();
      } finally {
        await db.close();
      }
      return 0;
    },
  },
  migrate: {
    summary: 'Apply database migrations and exit',
    usage: 'koza migrate',
    options: { help: { type: 'boolean', short: 'h' } },
    async run() {
      const db = await openConfiguredDb(loadConfig());
      try {
        const applied = await migrate(db);
        process.stdout.write(applied.length === 0 ? 'migrations: up to date\n' : `migrations applied: ${applied.join(', ')}\n`);
      } finally {
        await db.close();
      }
      return 0;
    },
  },
  outbox: {
    summary: 'Show messages in the development outbox (sandbox e-mail and SMS), newest first',
    usage: 'koza outbox [--to ADDRESS] [--limit N] [--json]',
    options: { to: { type: 'string' }, limit: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    async run(values) {
      const limit = values.limit === undefined ? 10 : Number(values.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new UsageError('--limit must be a whole number from 1 to 1000');
      const db = await openConfiguredDb(loadConfig());
      try {
        await migrate(db);
        const to = typeof values.to === 'string' ? values.to.trim().toLowerCase() : undefined;
        const messages = await readOutbox(db, { limit, ...(to ? { recipient: to } : {}) });
        if (values.json) {
          process.stdout.write(`${JSON.stringify(messages)}\n`);
        } else if (messages.length === 0) {
          process.stdout.write('outbox: no messages\n');
        } else {
          for (const m of messages) {
            process.stdout.write(`${m.createdAt.toISOString()}  ${m.channel}  to ${m.recipient}\n  ${m.subject}\n  ${m.body}\n\n`);
          }
        }
      } finally {
        await db.close();
      }
      return 0;
    },
  },
  operator: {
    summary: 'Create an operator (support, fraud_analyst, compliance, admin) and print its API key once',
    usage: 'koza operator --name NAME --role ROLE',
    options: { name: { type: 'string' }, role: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    async run(values) {
      const name = typeof values.name === 'string' ? values.name.trim() : '';
      if (name.length === 0 || name.length > 100) throw new UsageError('--name is required (1 to 100 characters)');
      if (!OPERATOR_ROLES.includes(values.role as OperatorRole)) throw new UsageError(`--role must be one of ${OPERATOR_ROLES.join(', ')}`);
      const db = await openConfiguredDb(loadConfig());
      try {
        await migrate(db);
        const { operator, apiKey } = await db.transaction(async (tx) => {
          const created = await createOperator(tx, { name, role: values.role as OperatorRole });
          await appendAudit(tx, { actor: 'cli', action: 'operator.create', target: created.operator.id, reason: 'koza operator', detail: { name, role: values.role } });
          return created;
        });
        // The key goes to stdout only, once; it is stored hashed.
        process.stdout.write(`${JSON.stringify({ id: operator.id, name: operator.name, role: operator.role, api_key: apiKey })}\n`);
      } finally {
        await db.close();
      }
      return 0;
    },
  },
  'audit-verify': {
    summary: 'Verify the audit log hash chain; names the first broken row',
    usage: 'koza audit-verify',
    options: { help: { type: 'boolean', short: 'h' } },
    async run() {
      const db = await openConfiguredDb(loadConfig());
      try {
        await migrate(db);
        const result = await verifyAuditChain(db);
        if (result.firstBroken !== null) {
          process.stderr.write(`koza: audit chain broken at seq ${result.firstBroken} (${result.checked} rows intact before it)\n`);
          return 1;
        }
        process.stdout.write(`audit chain intact: ${result.checked} rows\n`);
      } finally {
        await db.close();
      }
      return 0;
    },
  },
};

async function commandNamed(name: string): Promise<Command | undefined> {
  if (Object.hasOwn(commands, name)) return commands[name];
  return Object.hasOwn(LAZY_COMMANDS, name) ? LAZY_COMMANDS[name]!() : undefined;
}

async function mainHelp(): Promise<string> {
  const all: Array<[string, Command]> = [...Object.entries(commands)];
  for (const name of Object.keys(LAZY_COMMANDS)) all.push([name, (await commandNamed(name))!]);
  const width = Math.max(...all.map(([c]) => c.length));
  return `koza — a bank-linked wallet that cannot be used to empty other people's bank accounts

Usage: koza <command> [options]

Commands:
${all.map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`).join('\n')}

Run 'koza <command> --help' for a command's options.

${ENVIRONMENT_HELP}
`;
}

function commandHelp(name: string, c: Command): string {
  const opts = Object.entries(c.options).map(([o, spec]) =>
    `  --${o}${spec.type === 'string' ? ' VALUE' : ''}`).join('\n');
  return `${c.summary}\n\nUsage: ${c.usage}\n\nOptions:\n${opts}\n\n${ENVIRONMENT_HELP}\n`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(await mainHelp());
    return name === undefined ? 2 : 0;
  }
  const command = await commandNamed(name);
  if (!command) throw new UsageError(`unknown command '${name}'; run 'koza --help' for the list`);
  let values: Record<string, string | boolean | undefined>;
  let positionals: string[];
  try {
    const parsed = parseArgs({ args: rest, options: command.options, strict: true, allowPositionals: command.positionals === true });
    values = parsed.values as typeof values;
    positionals = parsed.positionals;
  } catch (err) {
    throw new UsageError(`${(err as Error).message.split('\n')[0]}; run 'koza ${name} --help'`);
  }
  if (values.help) {
    process.stdout.write(commandHelp(name, command));
    return 0;
  }
  return command.run(values, positionals);
}

export async function runCli(argv: string[]): Promise<void> {
  try {
    process.exitCode = await main(argv);
  } catch (err) {
    const message = err instanceof UsageError || err instanceof ConfigError
      ? err.message
      : `failed: ${(err as Error).message ?? String(err)}`;
    process.stderr.write(`koza: ${message.split('\n')[0]}\n`);
    process.exitCode = err instanceof UsageError ? 2 : 1;
  }
}
