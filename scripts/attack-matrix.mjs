#!/usr/bin/env node
// Every attack scenario under both policies on both backends (PGlite, and a throwaway PostgreSQL server this script
// starts and removes), at default sizes, one after another: the figures in README's "Beyond 2020" table and issue 10's
// closing note. Progress on stderr; a Markdown table on stdout; each report's JSON in --out DIR (default: a temp dir).
//
//   node scripts/attack-matrix.mjs [--scenario NAME]... [--policy secure|legacy-2020]... [--backend pglite|postgres]...
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startThrowawayPostgres } from './throwaway-postgres.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SCENARIOS = ['docomo-2020', 'sim-swap', 'account-takeover', 'pin-spraying'];
const POLICIES = ['secure', 'legacy-2020'];
const BACKENDS = ['pglite', 'postgres'];

const { values } = parseArgs({
  options: {
    scenario: { type: 'string', multiple: true }, policy: { type: 'string', multiple: true },
    backend: { type: 'string', multiple: true }, out: { type: 'string' },
  },
});
const pick = (given, all, what) => {
  const chosen = given ?? all;
  const bad = chosen.filter((v) => !all.includes(v));
  if (bad.length > 0) {
    console.error(`unknown ${what} ${bad.join(', ')}; expected ${all.join(', ')}`);
    process.exit(2);
  }
  return chosen;
};
const scenarios = pick(values.scenario, SCENARIOS, 'scenario');
const policies = pick(values.policy, POLICIES, 'policy');
const backends = pick(values.backend, BACKENDS, 'backend');
const out = values.out ?? mkdtempSync(join(tmpdir(), 'koza-attack-matrix-'));
mkdirSync(out, { recursive: true });

function attack(scenario, policy, databaseUrl) {
  return new Promise((resolve, reject) => {
    const env = { ...process.env };
    if (databaseUrl) env.DATABASE_URL = databaseUrl;
    else delete env.DATABASE_URL;
    const child = spawn(process.execPath, [join(ROOT, 'bin/koza.js'), 'attack', '--scenario', scenario, '--policy', policy, '--json'],
      { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (b) => { stdout += b; });
    child.stderr.on('data', (b) => process.stderr.write(`  ${b}`));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(stdout)) : reject(new Error(`${scenario} ${policy}: exit ${code}`))));
  });
}

const yen = (n) => `¥${n.toLocaleString('en-US')}`;
/** Issue 11's customer targets over every group's actions: denied, stranded, challenged %, held %. */
const targets = (t) => (t ? `${t.denied} / ${t.stranded} / ${t.challenged_pct}% / ${t.held_pct}% of ${t.actions}${t.met ? '' : ' (not met)'}` : '—');
const rows = [];
let server;
try {
  for (const backend of backends) {
    if (backend === 'postgres' && !server) server = await startThrowawayPostgres({ database: 'koza_attack' });
    for (const scenario of scenarios) {
      for (const policy of policies) {
        console.error(`▶ ${scenario} --policy ${policy} on ${backend}`);
        const report = await attack(scenario, policy, backend === 'postgres' ? server.url : undefined);
        writeFileSync(join(out, `${scenario}-${policy}-${backend}.json`), `${JSON.stringify(report)}\n`);
        const a = report.attack;
        const l = report.legit;
        rows.push(`| ${scenario} | ${policy} | ${backend} | ${yen(a.stolen_yen)} | ${a.victims} of ${a.leaked_accounts} | ${yen(a.largest_case_yen)} `
          + `| ${a.pins_confirmed} | ${a.bank_accounts_locked} | ${a.holders_notified} | ${a.alerts} | ${a.first_alert_after_s === null ? 'none' : `${a.first_alert_after_s.toLocaleString('en-US')} s`} `
          + `| ${l.denied} of ${l.customers} | ${l.challenged} of ${l.charges_attempted + l.payments_attempted} | ${targets(l.targets)} | ${report.duration_s} s |`);
      }
    }
  }
} finally {
  server?.stop();
}
console.log('| scenario | policy | backend | stolen | victims | largest case | PINs confirmed | accounts locked | holders told off-phone | alerts | first alert after | customers denied | customer steps challenged | customer actions denied / stranded / challenged / held | run |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const row of rows) console.log(row);
console.error(`reports in ${out}`);
