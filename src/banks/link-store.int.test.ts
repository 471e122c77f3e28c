// The link store on both backends: one live exclusive link per bank account, decided by the database (two wallets
// completing at once cannot both win), tokens sealed at rest, and the count the last-factor rule reads.
import assert from 'node:assert/strict';
import { before, it } from 'node:test';
import { randomBytes } from 'node:crypto';
import { forEachBackend } from '../../test-support/backends.js';
import { newId } from '../ids.js';
import { openAccount } from '../ledger/ledger.js';
import { linkedBankAccountCount } from '../identity/factors/store.js';
import { upsertBanks } from './directory.js';
import {
  findActiveLink, insertBankLink, insertLinkRequest, linkTokenOf, markLinkActive, markLinkRevoked, sealLinkToken,
} from './link-store.js';

const KEY = randomBytes(32);

forEachBackend('link store', (db) => {
  before(async () => {
    await db().transaction((tx) => upsertBanks(tx, [
      { bank_code: '0001', name: 'テスト銀行', name_kana: 'ﾃｽﾄ', link_methods: ['redirect'], status: 'operational' },
    ]));
  });

  async function wallet(): Promise<string> {
    const id = newId('wal');
    await db().transaction(async (tx) => {
      await tx.query(`INSERT INTO wallets (id, email, email_normalized, password_hash, ledger_account_id)
        VALUES ($1, $2, $2, 'x', $3)`, [id, `${id}@example.jp`, `acc_${id}`]);
      await openAccount(tx, { id: `acc_${id}`, kind: 'wallet', name: id });
    });
    return id;
  }

  async function link(walletId: string, accountRef: string, exclusive = true) {
    const request = await insertLinkRequest(db(), {
      walletId, bankCode: '0001', method: 'redirect', policy: 'secure', expiresAt: new Date(Date.now() + 60_000),
      oauthStateHash: randomBytes(16).toString('hex'),
    });
    return db().transaction((tx) => insertBankLink(tx, {
      walletId, bankCode: '0001', accountRef, branchCode: '001', accountNumberMasked: '****567', method: 'redirect',
      linkTokenSealed: sealLinkToken(KEY, `blt_${accountRef}_${walletId}`), policy: exclusive ? 'secure' : 'legacy-2020',
      status: 'notifying', exclusive, holderNameKana: 'ﾃｽﾄ ﾀﾛｳ', nameMatchScore: 100, linkRequestId: request.id, holderConfirmed: true, phoneMatches: null,
    }));
  }

  it('opens the bank\'s clearing account on first sight, once', async () => {
    await db().transaction((tx) => upsertBanks(tx, [
      { bank_code: '0001', name: 'テスト銀行', name_kana: 'ﾃｽﾄ', link_methods: ['redirect', 'pin_otp'], status: 'degraded' },
    ]));
    const bank = await db().query<{ link_methods: string[]; status: string }>("SELECT link_methods, status FROM banks WHERE bank_code = '0001'");
    assert.deepEqual(bank.rows[0], { link_methods: ['redirect', 'pin_otp'], status: 'degraded' });
    const accounts = await db().query("SELECT id FROM ledger_accounts WHERE id = 'acc_bank_0001' AND kind = 'bank_clearing'");
    assert.equal(accounts.rows.length, 1);
  });

  it('lets one exclusive live link per account exist, in any order and at once', async () => {
    const [a, b, c] = [await wallet(), await wallet(), await wallet()];
    const ref = `acr_${randomBytes(6).toString('hex')}`;
    const results = await Promise.all([link(a, ref), link(b, ref)]);
    assert.equal(results.filter((r) => r !== null).length, 1);
    const winner = results.find((r) => r !== null)!;
    // A legacy-2020 link is not exclusive, as nothing stopped it in 2020.
    assert.ok(await link(c, ref, false));
    await markLinkRevoked(db(), winner.id, 'customer');
    assert.ok(await link(winner.walletId === a ? b : a, ref), 'once revoked, the account can be linked again');
  });

  it('keeps the token sealed, hands out only active links, and counts live links for the last-factor rule', async () => {
    const walletId = await wallet();
    const made = (await link(walletId, `acr_${randomBytes(6).toString('hex')}`))!;
    assert.ok(!made.linkTokenSealed.includes('blt_'));
    assert.ok(linkTokenOf(made, KEY).startsWith('blt_'));
    assert.equal(await linkedBankAccountCount(db(), walletId), 1);
    assert.equal(await findActiveLink(db(), walletId, made.id), null, 'not before the holder was told');
    await markLinkActive(db(), made.id, true);
    assert.equal((await findActiveLink(db(), walletId, made.id))?.status, 'active');
    assert.equal(await findActiveLink(db(), await wallet(), made.id), null, 'never another wallet\'s');
    await markLinkRevoked(db(), made.id, 'customer');
    assert.equal(await linkedBankAccountCount(db(), walletId), 0);
    assert.equal(await findActiveLink(db(), walletId, made.id), null);
  });
});
