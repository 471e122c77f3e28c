#!/usr/bin/env node
// Owns reading a V8 .cpuprofile (node --cpu-prof, `koza bench --cpu-prof DIR`) into the tables BENCHMARKS.md quotes.
// Must never need a dependency: plain Node over the profile's JSON.
//
// Usage: node scripts/cpuprofile-top.mjs FILE.cpuprofile [--top 25] [--from-s 20]
//   self time per function, per place (koza's folders, each npm package, Node internals, GC, idle), and total
//   (inclusive) time of koza's own functions. --from-s skips the first seconds (start-up and seeding).
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '25' }, 'from-s': { type: 'string', default: '0' } } });
if (positionals.length !== 1) {
  console.error('usage: node scripts/cpuprofile-top.mjs FILE.cpuprofile [--top N] [--from-s S]');
  process.exit(2);
}
const top = Number(values.top);
const fromUs = Number(values['from-s']) * 1e6;
const profile = JSON.parse(readFileSync(positionals[0], 'utf8'));

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

const root = process.cwd();
function where(frame) {
  const url = frame.url ?? '';
  if (!url) return frame.functionName.startsWith('(') ? frame.functionName : '(native)';
  if (url.startsWith('node:')) return 'node internals';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1];
  const src = /\/src\/([^/]+)\//.exec(url);
  if (src) return `src/${src[1]}`;
  return url.replace(`file://${root}/`, '');
}
const label = (frame) => `${frame.functionName || '(anonymous)'} ${(frame.url ?? '').replace(`file://${root}/`, '').replace(/^.*node_modules\//, '')}:${frame.lineNumber + 1}`;

const selfUs = new Map();
const placeUs = new Map();
const totalUs = new Map();
let all = 0;
let t = profile.startTime;
for (let i = 0; i < profile.samples.length; i++) {
  t += profile.timeDeltas[i];
  if (t - profile.startTime < fromUs) continue;
  const dt = profile.timeDeltas[i + 1] ?? 0;
  const node = byId.get(profile.samples[i]);
  all += dt;
  const self = label(node.callFrame);
  selfUs.set(self, (selfUs.get(self) ?? 0) + dt);
  const place = where(node.callFrame);
  placeUs.set(place, (placeUs.get(place) ?? 0) + dt);
  // Inclusive: each koza function on the stack once, however deep it recurses.
  const seen = new Set();
  for (let id = node.id; id !== undefined; id = parent.get(id)) {
    const frame = byId.get(id).callFrame;
    if (!/\/src\//.test(frame.url ?? '') || /node_modules/.test(frame.url ?? '')) continue;
    const name = label(frame);
    if (seen.has(name)) continue;
    seen.add(name);
    totalUs.set(name, (totalUs.get(name) ?? 0) + dt);
  }
}

const pct = (us) => `${((100 * us) / all).toFixed(1).padStart(5)} %`;
const print = (title, map, n) => {
  console.log(`\n${title}`);
  for (const [k, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, n)) console.log(`${pct(us)}  ${(us / 1000).toFixed(0).padStart(7)} ms  ${k}`);
};
console.log(`${(all / 1e6).toFixed(1)} s sampled${fromUs > 0 ? ` after the first ${values['from-s']} s` : ''}`);
print('self time by place', placeUs, top);
print('self time by function', selfUs, top);
print("total time of koza's functions (inclusive)", totalUs, top);
