// Owns the bank sandbox's books in SQL: its migrations, the seeding of banks and accounts, the journal, transfers,
// passbooks and statements. Must never move money but through bank_post_entry, nor update or delete a journal row.
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { Db, Queryable } from '../../store/db.js';
import { listMigrations, migrate } from '../../store/migrate.js';
import { keyedHash } from '../../identity/secrets.js';
import type { BankSandboxSeed } from './seed.js';

const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));

/** A public identifier with a readable prefix and 128 random bits. */
export function sandboxId(prefix: 'lrq' | 'blk' | 'btx' | 'otp' | 'hss' | 'hrp' | 'eml' | 'bfk' | 'brt'): string {
  return `${prefix}_${randomBytes(16).toString('base64url')}`;
}

export function settlementAccountId(bankCode: string): string {
  return `stl_${bankCode}`;
}

/** The bank's account at the inter-bank clearing system (Zengin): the other side of a furikomi to or from another bank. */
export function interbankAccountId(bankCode: string): string {
  return `ibk_${bankCode}`;
}

export function equityAccountId(bankCode: string): string {
  return `eqt_${bankCode}`;
}

export function holderAccountId(bankCode: string, branchCode: string, accountNumber: string): string {
  return `hac_${bankCode}_${branchCode}_${accountNumber}`;
}

export function secretHash(salt: string, secret: string): string {
  return keyedHash(Buffer.from(salt, 'hex'), secret);
}

export async function migrateBankSandbox(db: Db): Promise<string[]> {
  return migrate(db, listMigrations(MIGRATIONS_DIR));
}

/**
 * Writes the seeded world once. A database seeded before (a data directory, a server) keeps its balances and
 * history; one seeded from another seed or bank count is refused rather than silently mixed.
 */
export async function ensureSeeded(db: Db, world: BankSandboxSeed, now: Date): Promise<'seeded' | 'present'> {
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock(hashtext(current_schema() || \':bank-sandbox-seed\'))');
    const existing = await tx.query<{ seed: number; bank_count: number }>('SELECT seed, bank_count FROM sandbox_seed');
    const found = existing.rows[0];
    if (found) {
      if (found.seed !== world.seed || found.bank_count !== world.banks.length) {
        throw new Error(`the bank sandbox database was seeded with seed ${found.seed} and ${found.bank_count} banks, `
          + `not seed ${world.seed} and ${world.banks.length} banks; use another database or schema`);
      }
      return 'present';
    }
    await tx.query('INSERT INTO sandbox_seed (seed, bank_count) VALUES ($1, $2)', [world.seed, world.banks.length]);
    const banks = world.banks;
    await tx.query(
      `INSERT INTO banks (code, name, name_kana, link_methods, stores_half_width_names)
       SELECT code, name, name_kana, string_to_array(methods, ','), half FROM
         unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::boolean[]) AS b(code, name, name_kana, methods, half)`,
      [banks.map((b) => b.code), banks.map((b) => b.name), banks.map((b) => b.nameKana),
        banks.map((b) => b.linkMethods.join(',')), banks.map((b) => b.storesHalfWidthNames)]);
    const branches = banks.flatMap((b) => b.branches.map((br) => ({ bank: b.code, ...br })));
    await tx.query(
      `INSERT INTO branches (bank_code, code, name, name_kana)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])`,
      [branches.map((b) => b.bank), branches.map((b) => b.code), branches.map((b) => b.name), branches.map((b) => b.nameKana)]);
    await tx.query(
      `INSERT INTO accounts (id, bank_code, kind)
       SELECT 'stl_' || code, code, 'koza_settlement' FROM unnest($1::text[]) AS code
       UNION ALL SELECT 'eqt_' || code, code, 'bank_equity' FROM unnest($1::text[]) AS code
       UNION ALL SELECT 'ibk_' || code, code, 'interbank' FROM unnest($1::text[]) AS code`,
      [banks.map((b) => b.code)]);
    const accounts = world.accounts.map((a) => {
      const salt = randomBytes(16).toString('hex');
      return { ...a, id: holderAccountId(a.bankCode, a.branchCode, a.accountNumber), salt,
        pinHash: secretHash(salt, a.pin), passwordHash: secretHash(salt, a.password) };
    });
    const column = <K extends keyof (typeof accounts)[number]>(key: K) => accounts.map((a) => a[key]);
    await tx.query(
      `INSERT INTO accounts (id, bank_code, kind, branch_code, account_number, account_ref, person_index, holder_name_kana,
         holder_name_kanji, date_of_birth, registered_phone, online_id, secret_salt, pin_hash, password_hash, registered_email)
       SELECT id, bank_code, 'holder', branch_code, account_number, account_ref, person_index, name_kana, name_kanji, dob,
         phone, online_id, salt, pin_hash, password_hash, email
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::text[], $8::text[], $9::text[],
         $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[])
         AS a(id, bank_code, branch_code, account_number, account_ref, person_index, name_kana, name_kanji, dob, phone,
              online_id, salt, pin_hash, password_hash, email)`,
      [column('id'), column('bankCode'), column('branchCode'), column('accountNumber'), column('accountRef'),
        column('personIndex'), column('nameKana'), column('nameKanji'), column('dateOfBirth'), column('phone'),
        column('onlineId'), column('salt'), column('pinHash'), column('passwordHash'), column('email')]);
    // Opening balances are journal rows like any other (from the bank's equity), so the books sum to zero from day one.
    await tx.query(
      `SELECT count(bank_post_entry(o.bank_code, 'eqt_' || o.bank_code, o.id, o.amount, 'opening', NULL,
         'ご開設 OPENING DEPOSIT', NULL, $1))
       FROM unnest($2::text[], $3::text[], $4::bigint[]) AS o(id, bank_code, amount)`,
      [now, column('id'), column('bankCode'), column('openingBalance')]);
    return 'seeded';
  });
}

export interface AccountRow {
  id: string;
  bank_code: string;
  kind: 'holder' | 'koza_settlement' | 'bank_equity' | 'interbank';
  balance: number;
  branch_code: string;
  account_number: string;
  account_ref: string;
  person_index: number;
  holder_name_kana: string;
  holder_name_kanji: string;
  date_of_birth: string;
  registered_phone: string;
  /** The contact besides the phone (protocol v2); null for the holders who gave the bank none. */
  registered_email: string | null;
  online_id: string;
  secret_salt: string;
  pin_hash: string;
  password_hash: string;
  pin_failures: number;
  pin_locked_at: Date | null;
  password_failures: number;
  password_locked_at: Date | null;
  closed_at: Date | null;
}

export async function getAccount(q: Queryable, id: string, lock = false): Promise<AccountRow | null> {
  const res = await q.query<AccountRow>(`SELECT * FROM accounts WHERE id = $1${lock ? ' FOR UPDATE' : ''}`, [id]);
  return res.rows[0] ?? null;
}

export async function findHolderAccount(
  q: Queryable, bankCode: string, branchCode: string, accountNumber: string,
): Promise<AccountRow | null> {
  const res = await q.query<AccountRow>(
    `SELECT * FROM accounts WHERE kind = 'holder' AND bank_code = $1 AND branch_code = $2 AND account_number = $3 FOR UPDATE`,
    [bankCode, branchCode, accountNumber]);
  return res.rows[0] ?? null;
}

export async function findAccountByOnlineId(q: Queryable, bankCode: string, onlineId: string): Promise<AccountRow | null> {
  const res = await q.query<AccountRow>(
    `SELECT * FROM accounts WHERE kind = 'holder' AND bank_code = $1 AND online_id = $2 FOR UPDATE`, [bankCode, onlineId]);
  return res.rows[0] ?? null;
}

export async function listHolderAccounts(
  q: Queryable, filter: { bankCode?: string; personIndex?: number },
): Promise<AccountRow[]> {
  const res = await q.query<AccountRow>(
    `SELECT * FROM accounts WHERE kind = 'holder' AND ($1::text IS NULL OR bank_code = $1)
       AND ($2::int IS NULL OR person_index = $2) ORDER BY bank_code, branch_code, account_number`,
    [filter.bankCode ?? null, filter.personIndex ?? null]);
  return res.rows;
}

export type CredentialKind = 'pin' | 'password';

/** Counts a wrong PIN or password; the fifth in a row locks that credential. Returns whether it is now locked. */
export async function recordCredentialFailure(
  q: Queryable, accountId: string, kind: CredentialKind, maxFailures: number, now: Date,
): Promise<boolean> {
  const res = await q.query<{ locked: boolean }>(
    `UPDATE accounts SET ${kind}_failures = ${kind}_failures + 1,
       ${kind}_locked_at = CASE WHEN ${kind}_failures + 1 >= $2 THEN coalesce(${kind}_locked_at, $3) ELSE ${kind}_locked_at END
     WHERE id = $1 RETURNING ${kind}_locked_at IS NOT NULL AS locked`,
    [accountId, maxFailures, now]);
  return res.rows[0]?.locked ?? false;
}

export async function resetCredentialFailures(q: Queryable, accountId: string, kind: CredentialKind): Promise<void> {
  await q.query(`UPDATE accounts SET ${kind}_failures = 0 WHERE id = $1`, [accountId]);
}

/** Admin: lifts a credential lock, as a branch would after checking the holder's identity. */
export async function unlockCredentials(q: Queryable, accountId: string): Promise<boolean> {
  const res = await q.query(
    `UPDATE accounts SET pin_failures = 0, pin_locked_at = NULL, password_failures = 0, password_locked_at = NULL
     WHERE id = $1 AND kind = 'holder'`, [accountId]);
  return res.rowCount > 0;
}

export interface TransferRow {
  id: string;
  bank_code: string;
  reference: string;
  kind: 'debit' | 'credit';
  amount: number;
  link_id: string;
  account_id: string;
  descriptor: string;
  status: 'completed' | 'rejected';
  reason: string | null;
  booked_at: Date;
}

export async function findTransfer(q: Queryable, bankCode: string, reference: string): Promise<TransferRow | null> {
  const res = await q.query<TransferRow>('SELECT * FROM transfers WHERE bank_code = $1 AND reference = $2', [bankCode, reference]);
  return res.rows[0] ?? null;
}

/**
 * Books a transfer: the record, and for a completed one its journal row (and passbook line) in the same transaction.
 * A debit moves the holder's money to koza's settlement account; a credit the reverse. Null: the reference was taken.
 */
export async function bookTransfer(
  q: Queryable, transfer: Omit<TransferRow, 'id'>,
): Promise<TransferRow | null> {
  const id = sandboxId('btx');
  const res = await q.query<TransferRow>(
    `INSERT INTO transfers (id, bank_code, reference, kind, amount, link_id, account_id, descriptor, status, reason, booked_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (bank_code, reference) DO NOTHING RETURNING *`,
    [id, transfer.bank_code, transfer.reference, transfer.kind, transfer.amount, transfer.link_id, transfer.account_id,
      transfer.descriptor, transfer.status, transfer.reason, transfer.booked_at]);
  if (res.rows.length === 0) return null;
  if (transfer.status === 'completed') {
    const settlement = settlementAccountId(transfer.bank_code);
    const [debit, credit] = transfer.kind === 'debit' ? [transfer.account_id, settlement] : [settlement, transfer.account_id];
    await q.query('SELECT bank_post_entry($1, $2, $3, $4, $5, $6, $7, $8, $9)',
      [transfer.bank_code, debit, credit, transfer.amount, transfer.kind, id, transfer.descriptor, transfer.reference,
        transfer.booked_at]);
  }
  return res.rows[0]!;
}

/** Completed transfers booked in [from, to), by booking order. */
export async function listBookedTransfers(q: Queryable, bankCode: string, from: Date, to: Date): Promise<TransferRow[]> {
  const res = await q.query<TransferRow>(
    `SELECT * FROM transfers WHERE bank_code = $1 AND status = 'completed' AND booked_at >= $2 AND booked_at < $3
     ORDER BY booked_at, id`, [bankCode, from, to]);
  return res.rows;
}

export interface PassbookLineRow {
  seq: number;
  account_id: string;
  booked_at: Date;
  descriptor: string;
  withdrawal: number;
  deposit: number;
  balance_after: number;
  reference: string | null;
}

export async function listPassbook(q: Queryable, accountId: string): Promise<PassbookLineRow[]> {
  const res = await q.query<PassbookLineRow>(
    'SELECT seq, account_id, booked_at, descriptor, withdrawal, deposit, balance_after, reference FROM passbook_lines '
    + 'WHERE account_id = $1 ORDER BY seq', [accountId]);
  return res.rows;
}

export async function getPassbookLine(q: Queryable, accountId: string, seq: number): Promise<PassbookLineRow | null> {
  const res = await q.query<PassbookLineRow>(
    'SELECT seq, account_id, booked_at, descriptor, withdrawal, deposit, balance_after, reference FROM passbook_lines '
    + 'WHERE account_id = $1 AND seq = $2', [accountId, seq]);
  return res.rows[0] ?? null;
}

export interface BooksCheck {
  /** Sum of every account's balance: zero in double entry. */
  balance_sum: number;
  /** Accounts whose stored balance differs from their journal (credits − debits): none. */
  balances_off_journal: number;
  /** Holder accounts below zero: none. */
  negative_holders: number;
  journal_entries: number;
}

/** The invariants of the bank's books, recomputed from the journal. */
export async function checkBooks(q: Queryable): Promise<BooksCheck> {
  const res = await q.query<BooksCheck>(`
    WITH moved AS (
      SELECT a.id, a.kind, a.balance,
        coalesce((SELECT sum(amount) FROM journal_entries j WHERE j.credit_account_id = a.id), 0)
        - coalesce((SELECT sum(amount) FROM journal_entries j WHERE j.debit_account_id = a.id), 0) AS from_journal
      FROM accounts a)
    SELECT coalesce(sum(balance), 0)::bigint AS balance_sum,
      count(*) FILTER (WHERE balance <> from_journal)::int AS balances_off_journal,
      count(*) FILTER (WHERE kind = 'holder' AND balance < 0)::int AS negative_holders,
      (SELECT count(*) FROM journal_entries)::int AS journal_entries
    FROM moved`);
  return res.rows[0]!;
}
