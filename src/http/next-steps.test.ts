// Every problem code a person can meet says what happened and what to do next, in Japanese and English, with times in
// JST and amounts in yen: a code createError makes without a catalogue entry fails here.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, it } from 'node:test';
import { KozaError, registeredProblems, retryIn } from '../errors.js';
import { jaJstTime, NEXT_STEPS, nextStepFor } from './next-steps.js';
import { problemFromKozaError, toProblem, type Problem } from './problem.js';
import { LimitExceeded } from '../wallets/limits.js';
import { StepUpRequired } from '../identity/step-up.js';

const SRC = join(dirname(fileURLToPath(import.meta.url)), '..');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') && !path.endsWith('.test.ts') ? [path] : [];
  });
}

/** Loads every module that makes an error class, so the registry holds every code koza can answer with. */
async function loadEveryErrorModule(): Promise<void> {
  for (const file of sourceFiles(SRC)) {
    if (readFileSync(file, 'utf8').includes('createError')) await import(pathToFileURL(file).href);
  }
}

const JAPANESE = /[\u3040-\u30ff\u4e00-\u9fff]/;
const POLITE = /(です|ます|ません|ください|でした|ました)。?$/;

describe('the next-step catalogue', () => {
  it('has an entry in Japanese and English for every code createError makes', async () => {
    await loadEveryErrorModule();
    const codes = registeredProblems().map((p) => p.code);
    assert.ok(codes.length > 60, `only ${codes.length} codes registered: the modules did not load`);
    const missing = codes.filter((code) => !(code in NEXT_STEPS));
    assert.deepEqual(missing, [], `codes without a next step: ${missing.join(', ')}`);
    for (const p of registeredProblems()) {
      const said = nextStepFor({ type: `urn:koza:problem:${p.code}`, title: p.title, status: p.status });
      for (const text of [said.message, said.next_step]) {
        assert.ok(text.en.length > 3 && !JAPANESE.test(text.en), `${p.code}: English text "${text.en}"`);
        assert.ok(JAPANESE.test(text.ja), `${p.code}: Japanese text "${text.ja}"`);
        // Polite customer language (です/ます): every Japanese sentence ends in a polite form.
        for (const sentence of text.ja.split('。').filter((s) => s.trim() !== '')) {
          assert.match(`${sentence}。`, POLITE, `${p.code}: not polite: "${sentence}"`);
        }
      }
    }
  });

  it('marks who meets each code; operator-only codes are named, not skipped', () => {
    const operatorOnly = Object.entries(NEXT_STEPS).filter(([, e]) => e.audience === 'operator').map(([code]) => code).sort();
    assert.deepEqual(operatorOnly, ['alert-already-acknowledged', 'link-not-held', 'movement-not-held', 'not-ready', 'risk-rule-file-invalid']);
  });

  it('writes times in JST and amounts in yen from the problem\'s own facts', () => {
    assert.equal(jaJstTime(new Date('2026-12-06T06:00:00Z')), '12月6日 15:00 (JST)');
    // Rounded up: a limit lifting at 15:00:01 is never announced for 15:00.
    assert.equal(jaJstTime(new Date('2026-12-06T06:00:01Z')), '12月6日 15:01 (JST)');
    const limit = problemFromKozaError(new LimitExceeded('This would pass the charge limit.', {
      limit: 'charge_daily', limit_yen: 500_000, remaining_yen: 120_000, resets_at: '2026-12-06T15:00:00.000Z',
    }), '/v1/charges');
    assert.deepEqual(limit.next_step, {
      ja: '¥120,000以下の金額でお試しください。12月7日 00:00 (JST)以降は上限が回復します。',
      en: 'Use at most ¥120,000 now. The limit is back after 2026-12-07 00:00 JST.',
    });
  });

  it('never says "at most ¥0": with nothing left, only when the limit is back', () => {
    const spent = problemFromKozaError(new LimitExceeded('Nothing left today.', {
      limit: 'payment_daily', limit_yen: 500_000, remaining_yen: 0, resets_at: '2026-12-06T15:00:00.000Z',
    }), '/v1/payments');
    assert.deepEqual(spent.next_step, {
      ja: '12月7日 00:00 (JST)以降は上限が回復します。', en: 'The limit is back after 2026-12-07 00:00 JST.',
    });
  });

  it('tells a customer in a factor reset\'s wait when to come back, or what to finish first', () => {
    const waiting = problemFromKozaError(new KozaError('factor-reset-waiting', 409, 'The factor reset is still in its waiting period',
      'Come back then.', { waits_until: '2026-12-09T03:00:00.000Z' }), '/v1/factors/reset/complete');
    assert.deepEqual(waiting.next_step, { ja: '12月9日 12:00 (JST)以降にもう一度お試しください。', en: 'Come back after 2026-12-09 12:00 JST.' });
    const unverified = problemFromKozaError(new KozaError('factor-reset-waiting', 409, 'The factor reset is still in its waiting period',
      'Confirm first.', { waits_until: '' }), '/v1/factors/reset/complete');
    assert.deepEqual(unverified.next_step, { ja: '先にご本人確認とメールの確認を済ませてください。', en: 'Confirm your identity and your e-mail first.' });
  });

  it('tells a throttled person the JST time the limit lifts, in both languages', () => {
    const now = new Date('2026-12-06T05:04:10Z');
    const p = toProblem(new KozaError('rate-limited', 429, 'Too many requests', 'Slow down.', retryIn(30)), '/v1/phone', now);
    assert.deepEqual(p.next_step, { ja: '12月6日 14:05 (JST)以降にもう一度お試しください。', en: 'Try again after 2026-12-06 14:05 JST.' });
    assert.equal(p.retry_at_jst, '2026-12-06 14:05 JST');
  });

  it('names the methods a step-up can be approved with', () => {
    const p: Problem = problemFromKozaError(new StepUpRequired('Approve it.', {
      action: 'payment', methods: ['passkey', 'recovery_code'],
    } as never), '/v1/payments');
    assert.deepEqual(p.next_step, {
      ja: 'パスキー、リカバリーコードのいずれかで承認すると、続けて操作できます。',
      en: 'Approve it with your passkey or a recovery code, then the action goes ahead.',
    });
  });

  it('answers an unknown code with a way to support rather than nothing', () => {
    const said = nextStepFor({ type: 'urn:koza:problem:not-yet-catalogued', title: 'Something', status: 409 });
    assert.match(said.next_step.ja, /サポート/);
    assert.match(said.next_step.en, /support/);
  });
});
