// Issue 11, signals that fit the population: customers behind one carrier-NAT address each sign up and get their SMS
// code without review or refusal, while the limits per number, wallet and device still stop an abuser — with a 429
// that says when to come back (Retry-After, retry_after_s, retry_at and the time in JST).
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { forEachBackend } from '../../test-support/backends.js';
import {
  DEFAULT_PASSWORD, expectJson, expectProblem, latestCode, latestSmsCode, outbox, post, testApp, uniqueEmail, type ApiResponse,
} from '../../test-support/api-client.js';
import type { App } from './context.js';
import { PHONE_CODE_LIMITS } from '../identity/phone.js';

/** The carrier's NAT address: every customer below shares it. */
const CARRIER_NAT = '203.0.113.77';
const CUSTOMERS = 30;
/** Low, so this test reaches it: at the mark analysts are told, and nobody is refused. */
const ALERT_AT = 25;

function mobile(): string {
  return `090${String(randomInt(0, 100_000_000)).padStart(8, '0')}`;
}

function e164(national: string): string {
  return `+81${national.slice(1)}`;
}

function from(ip: string, device?: string): Record<string, string> {
  return { 'x-forwarded-for': ip, ...(device ? { 'x-device-id': device } : {}) };
}

/** A 429 that says when: the header, the members, and a JST time in the words a person reads. */
function assertSaysWhen(res: ApiResponse, atMostSeconds: number): Record<string, any> {
  const problem = expectProblem(res, 429);
  const header = Number(res.headers['retry-after']);
  assert.ok(Number.isInteger(header) && header >= 1 && header <= atMostSeconds, `Retry-After ${res.headers['retry-after']}`);
  assert.equal(problem.retry_after_s, header);
  const at = Date.parse(problem.retry_at);
  assert.ok(Math.abs(at - (Date.now() + header * 1000)) < 5_000, problem.retry_at);
  assert.match(problem.detail, /Try again after \d{4}-\d{2}-\d{2} \d{2}:\d{2} JST\.$/);
  // The JST minute is the retry instant, rounded up, in Japan's time zone.
  const jst = new Date(Math.ceil(at / 60_000) * 60_000 + 9 * 3_600_000).toISOString().slice(0, 16).replace('T', ' ');
  assert.equal(problem.retry_at_jst, `${jst} JST`);
  assert.ok(problem.detail.endsWith(`${jst} JST.`));
  return problem;
}

forEachBackend('customers behind one carrier-NAT address', (db) => {
  let app: App;
  before(async () => {
    app = await testApp(db(), { KOZA_TRUST_PROXY: 'true', KOZA_PHONE_CODES_PER_IP_PER_HOUR: String(ALERT_AT) });
  });
  after(async () => {
    await app.close();
  });

  it(`${CUSTOMERS} customers behind one address each sign up, get their SMS code and verify it, none reviewed or refused`, async () => {
    const wallets: string[] = [];
    for (let i = 0; i < CUSTOMERS; i++) {
      const email = uniqueEmail('nat');
      const headers = from(CARRIER_NAT, `carrier-phone-${String(i).padStart(6, '0')}`);
      expectJson(await post(app, '/v1/signup', { email, password: DEFAULT_PASSWORD }, { headers }), 202);
      const verified = expectJson<{ id: string }>(await post(app, '/v1/signup/verify', { email, code: await latestCode(app, email) }, { headers }), 200);
      const session = expectJson<{ token: string }>(await post(app, '/v1/sessions', { email, password: DEFAULT_PASSWORD }, { headers }), 201);
      const phone = mobile();
      expectJson(await post(app, '/v1/phone', { phone }, { token: session.token, headers }), 202);
      const confirmed = expectJson<{ assurance_level: string }>(
        await post(app, '/v1/phone/verify', { code: await latestSmsCode(app, e164(phone)) }, { token: session.token, headers }), 200);
      assert.equal(confirmed.assurance_level, 'L1');
      wallets.push(verified.id);
    }
    const codes = await db().query<{ n: number }>(
      `SELECT count(*)::int8 AS n FROM one_time_codes WHERE purpose = 'phone_verify' AND ip = $1`, [CARRIER_NAT]);
    assert.equal(Number(codes.rows[0]!.n), CUSTOMERS, 'one SMS code each, none refused (the old limit refused the 21st)');
    const signups = await db().query<{ action: string; n: number }>(
      `SELECT action, count(*)::int8 AS n FROM risk_decisions WHERE event_kind = 'signup' AND ip = $1 GROUP BY action`, [CARRIER_NAT]);
    assert.deepEqual(signups.rows.map((r) => ({ action: r.action, n: Number(r.n) })), [{ action: 'allow', n: CUSTOMERS }],
      'every sign-up allowed: the address count alone reviews nobody');
    const last = await db().query<{ features: Record<string, number> }>(
      `SELECT features FROM risk_decisions WHERE event_kind = 'signup' AND ip = $1 ORDER BY seq DESC LIMIT 1`, [CARRIER_NAT]);
    assert.equal(last.rows[0]!.features.signups_per_ip_1h, CUSTOMERS, 'the engine saw the burst and held nobody');
    const wallet = await db().query<{ n: number }>(
      `SELECT count(*)::int8 AS n FROM wallets WHERE id = ANY($1) AND assurance_level = 'L1' AND status = 'active'`, [wallets]);
    assert.equal(Number(wallet.rows[0]!.n), CUSTOMERS);
    // Analysts hear of the address once, when it reached the mark; it refused nobody.
    const surge = await db().query<{ detail: { codes_last_hour: number } }>(
      `SELECT detail FROM risk_signals WHERE kind = 'phone_codes_address_surge' AND detail->>'ip' = $1`, [CARRIER_NAT]);
    assert.deepEqual(surge.rows.map((r) => r.detail.codes_last_hour), [ALERT_AT]);
  });

  it('still stops one number, one wallet and one device asking for too many codes, and says when in JST', async () => {
    /** A wallet opened without a device id (so no device farm rule sees it), then asking for codes from `device`. */
    const signIn = async (device: string) => {
      const email = uniqueEmail('pump');
      const anonymous = { headers: from(CARRIER_NAT) };
      expectJson(await post(app, '/v1/signup', { email, password: DEFAULT_PASSWORD }, anonymous), 202);
      expectJson(await post(app, '/v1/signup/verify', { email, code: await latestCode(app, email) }, anonymous), 200);
      const session = expectJson<{ token: string }>(await post(app, '/v1/sessions', { email, password: DEFAULT_PASSWORD }, anonymous), 201);
      return { headers: from(CARRIER_NAT, device), token: session.token };
    };

    // Per number: three codes in 15 minutes.
    const own = await signIn('pump-device-000000001');
    const phone = mobile();
    for (let i = 0; i < PHONE_CODE_LIMITS.perPhonePer15Minutes; i++) expectJson(await post(app, '/v1/phone', { phone }, own), 202);
    const perNumber = assertSaysWhen(await post(app, '/v1/phone', { phone }, own), 15 * 60);
    assert.equal(perNumber.type, 'urn:koza:problem:phone-code-rate-limited');
    assert.equal(perNumber.limit, 'phone');
    assert.ok(perNumber.retry_after_s > 14 * 60, 'the first of the three leaves the window in about 15 minutes');

    // Per wallet: five codes an hour, whatever the numbers.
    for (let i = 0; i < PHONE_CODE_LIMITS.perWalletPerHour - PHONE_CODE_LIMITS.perPhonePer15Minutes; i++) {
      expectJson(await post(app, '/v1/phone', { phone: mobile() }, own), 202);
    }
    const perWallet = assertSaysWhen(await post(app, '/v1/phone', { phone: mobile() }, own), 60 * 60);
    assert.equal(perWallet.limit, 'wallet');

    // Per device: a pumper opening wallet after wallet on one phone stops at ten codes an hour from it.
    const device = 'pump-device-000000002';
    let sent = 0;
    let refused: ApiResponse | null = null;
    while (refused === null) {
      const wallet = await signIn(device);
      for (let i = 0; i < PHONE_CODE_LIMITS.perWalletPerHour && refused === null; i++) {
        const target = mobile();
        const res = await post(app, '/v1/phone', { phone: target }, wallet);
        if (res.statusCode === 429) refused = res;
        else {
          expectJson(res, 202);
          assert.equal((await outbox(app, e164(target))).length, 1);
          sent++;
        }
      }
    }
    assert.equal(sent, PHONE_CODE_LIMITS.perDevicePerHour);
    assert.equal(assertSaysWhen(refused, 60 * 60).limit, 'device');
    const fromDevice = await db().query<{ n: number }>(`SELECT count(*)::int8 AS n FROM one_time_codes WHERE device_key = $1`, [`id:${device}`]);
    assert.equal(Number(fromDevice.rows[0]!.n), PHONE_CODE_LIMITS.perDevicePerHour, 'the refused sends wrote no code');

    // Everyone else behind the address goes on: a new customer on another phone gets a code.
    const neighbour = await signIn('carrier-phone-neighbour');
    expectJson(await post(app, '/v1/phone', { phone: mobile() }, neighbour), 202);
  });
});
