// The bank client against a bank stand-in on 127.0.0.1: every request signed for its bank and bound to its
// Idempotency-Key, and every way a call can end told apart (answered, refused, unknown), with no secret in sight.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { BankClient, keysFromSeed } from './client.js';
import { NonceCache, verifyRequest } from './signing.js';

const SEED = 'client-test-seed-0123456789';

interface Seen { method: string; path: string; body: string; idempotencyKey: string | null; signatureOk: string | null }

describe('BankClient', () => {
  let server: Server;
  let baseUrl: string;
  const seen: Seen[] = [];
  let respond: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.end('{}');
  const keys = keysFromSeed(SEED);
  const nonces = new NonceCache();

  before(async () => {
    server = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const body = Buffer.concat(chunks).toString('utf8');
      const bankCode = /^\/banks\/(\d{4})\//.exec(req.url ?? '')?.[1];
      const idempotencyKey = typeof req.headers['idempotency-key'] === 'string' ? req.headers['idempotency-key'] : null;
      const signature = req.headers['koza-signature'];
      const signatureOk = bankCode === undefined ? null : await verifyRequest(keys(bankCode).publicKey, nonces, {
        method: req.method ?? '', path: req.url ?? '', body, idempotencyKey, signature: typeof signature === 'string' ? signature : undefined,
      }) ?? 'ok';
      seen.push({ method: req.method ?? '', path: req.url ?? '', body, idempotencyKey, signatureOk });
      respond(req, res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const client = () => new BankClient({ baseUrl, keyFor: keys, timeoutMs: 300 });
  const json = (status: number, body: unknown) => (_req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
  const transfer = { link_token: 'blt_secret-token', amount: 1200, descriptor: 'KOZA chg_1', reference: 'chg_1' };

  it('signs a debit for its bank, binds the Idempotency-Key, and returns the answer', async () => {
    respond = json(200, { bank_transfer_id: 'bt_1', reference: 'chg_1', kind: 'debit', amount: 1200, status: 'completed', booked_at: '2026-01-01T00:00:00Z' });
    const outcome = await client().debit('0001', transfer, 'chg_1');
    assert.equal(outcome.kind, 'answered');
    assert.equal(outcome.kind === 'answered' && outcome.value.status, 'completed');
    const request = seen.at(-1)!;
    assert.deepEqual([request.method, request.path, request.idempotencyKey, request.signatureOk], ['POST', '/banks/0001/v2/debits', 'chg_1', 'ok']);
    assert.deepEqual(JSON.parse(request.body), transfer);
  });

  it('signs with the key of the bank it calls: another bank\'s key does not verify', async () => {
    respond = json(200, { revoked: true });
    await client().revokeLink('0002', 'blt_x', 'k1');
    const request = seen.at(-1)!;
    assert.equal(request.signatureOk, 'ok');
    const other = await verifyRequest(keys('0001').publicKey, new NonceCache(), {
      method: 'POST', path: request.path, body: request.body, idempotencyKey: 'k1', signature: undefined,
    });
    assert.equal(other, 'missing');
  });

  it('GETs carry no Idempotency-Key and are signed over the path', async () => {
    respond = json(200, { bank_code: '0001', date: '2026-01-02', entries: [], total_debits: 0, total_credits: 0 });
    const outcome = await client().statement('0001', '2026-01-02');
    assert.equal(outcome.kind, 'answered');
    assert.deepEqual([seen.at(-1)!.method, seen.at(-1)!.path, seen.at(-1)!.idempotencyKey, seen.at(-1)!.signatureOk],
      ['GET', '/banks/0001/v2/statements/2026-01-02', null, 'ok']);
    await client().getTransfer('0001', 'chg_9');
    assert.equal(seen.at(-1)!.path, '/banks/0001/v2/transfers/chg_9');
  });

  it('a 4xx problem is a refusal with the bank\'s code', async () => {
    respond = json(422, { type: 'about:blank', title: 'Bad', status: 422, code: 'invalid_credentials' });
    const outcome = await client().createLinkRequest('0001', { method: 'pin_only', wallet_ref: 'w', claims: null, pin: '1234',
      account: { branch_code: '001', account_number: '1234567' } }, 'k2');
    assert.equal(outcome.kind, 'refused');
    assert.equal(outcome.kind === 'refused' && outcome.problem.code, 'invalid_credentials');
    respond = (_req, res) => res.writeHead(404).end('not json');
    const bare = await client().getTransfer('0001', 'chg_x');
    assert.equal(bare.kind === 'refused' && bare.problem.code, 'link_not_found');
  });

  it('5xx, a time-out, a dead port and an unreadable 200 are unknown, never refused', async () => {
    respond = json(503, { code: 'unavailable' });
    assert.deepEqual(await client().debit('0001', transfer, 'k3'), { kind: 'unknown', reason: 'server_error', status: 503 });
    respond = () => { /* never answers */ };
    const started = Date.now();
    assert.deepEqual(await client().debit('0001', transfer, 'k4'), { kind: 'unknown', reason: 'timeout' });
    assert.ok(Date.now() - started < 2_000);
    respond = (_req, res) => res.writeHead(200).end('{"half": ');
    assert.deepEqual(await client().credit('0001', transfer, 'k5'), { kind: 'unknown', reason: 'invalid_response', status: 200 });
    const dead = new BankClient({ baseUrl: 'http://127.0.0.1:9', keyFor: keys, timeoutMs: 1_000 });
    assert.equal((await dead.debit('0001', transfer, 'k6')).kind, 'unknown');
  });

  it('no outcome carries the link token or the PIN', async () => {
    respond = json(400, { code: 'invalid_request', title: 'x', detail: 'y' });
    const outcomes = [
      await client().revokeLink('0001', 'blt_very-secret', 'k7'),
      await client().createLinkRequest('0001', { method: 'pin_otp', wallet_ref: 'w', claims: null, pin: '9876',
        account: { branch_code: '001', account_number: '7654321' } }, 'k8'),
    ];
    respond = () => { /* never answers */ };
    outcomes.push(await client().revokeLink('0001', 'blt_very-secret', 'k9'));
    for (const outcome of outcomes) {
      const text = JSON.stringify(outcome);
      assert.ok(!text.includes('very-secret') && !text.includes('9876') && !text.includes('7654321'), text);
    }
  });

  it('refuses a bank code that is not four digits before anything is sent', async () => {
    const before = seen.length;
    await assert.rejects(() => client().debit('../x', transfer, 'k10'), RangeError);
    assert.equal(seen.length, before);
  });
});
