// Owns the partner banks koza knows (SPEC §6.1): the directory fetched from the banks, cached, kept in `banks`,
// each with its ledger clearing account opened on first sight. Must never trust an entry it cannot parse.
import type { Db, Queryable } from '../store/db.js';
import { openAccount } from '../ledger/ledger.js';
import type { BankClient } from './client.js';
import { clearingAccountId } from './movement-links.js';
import type { BankStatus, DirectoryEntry, LinkMethod } from './protocol.js';

export interface Bank {
  code: string;
  name: string;
  nameKana: string;
  /** In the bank's order of preference. */
  linkMethods: LinkMethod[];
  status: BankStatus;
  /** acc_bank_<code>: the bank's clearing account in the ledger. */
  ledgerAccountId: string;
}

const LINK_METHODS: readonly LinkMethod[] = ['redirect', 'pin_otp', 'pin_only'];
const STATUSES: readonly BankStatus[] = ['operational', 'degraded', 'outage'];

/** Directory answers are cached this long: a bank's methods and status change rarely, and an outage is also seen in calls. */
export const DIRECTORY_TTL_MS = 60_000;
/** After a failed fetch, the next try waits this long, so that a dead directory does not slow every request. */
const RETRY_AFTER_FAILURE_MS = 5_000;

/** Entries that are well formed; anything else a bank sends is dropped, not guessed at. */
export function parseDirectory(body: unknown): DirectoryEntry[] {
  const list = Array.isArray(body) ? body : (body as { data?: unknown; banks?: unknown } | null)?.data ?? (body as { banks?: unknown } | null)?.banks;
  if (!Array.isArray(list)) return [];
  const entries: DirectoryEntry[] = [];
  for (const raw of list as Array<Partial<DirectoryEntry>>) {
    if (typeof raw !== 'object' || raw === null) continue;
    if (typeof raw.bank_code !== 'string' || !/^\d{4}$/.test(raw.bank_code)) continue;
    if (typeof raw.name !== 'string' || raw.name === '' || raw.name.length > 100) continue;
    if (!Array.isArray(raw.link_methods) || !raw.link_methods.every((m) => LINK_METHODS.includes(m))) continue;
    if (typeof raw.status !== 'string' || !STATUSES.includes(raw.status)) continue;
    entries.push({
      bank_code: raw.bank_code, name: raw.name, name_kana: typeof raw.name_kana === 'string' ? raw.name_kana.slice(0, 100) : '',
      link_methods: [...new Set(raw.link_methods)], status: raw.status,
    });
  }
  return entries;
}

interface BankRow {
  bank_code: string; name: string; name_kana: string; link_methods: LinkMethod[]; status: BankStatus; ledger_account_id: string;
}

function toBank(r: BankRow): Bank {
  return { code: r.bank_code, name: r.name, nameKana: r.name_kana, linkMethods: r.link_methods, status: r.status, ledgerAccountId: r.ledger_account_id };
}

/** Records what a directory said; a bank seen for the first time gets its clearing account in the same transaction. */
export async function upsertBanks(q: Queryable, entries: DirectoryEntry[]): Promise<void> {
  for (const e of entries) {
    const res = await q.query<{ inserted: boolean }>(
      `INSERT INTO banks (bank_code, name, name_kana, link_methods, status, ledger_account_id)
       VALUES ($1, $2, $3, $4::text[], $5, $6)
       ON CONFLICT (bank_code) DO UPDATE SET name = EXCLUDED.name, name_kana = EXCLUDED.name_kana,
         link_methods = EXCLUDED.link_methods, status = EXCLUDED.status, updated_at = now()
       RETURNING (xmax = 0) AS inserted`,
      [e.bank_code, e.name, e.name_kana, e.link_methods, e.status, clearingAccountId(e.bank_code)]);
    if (res.rows[0]!.inserted) {
      await openAccount(q, { id: clearingAccountId(e.bank_code), kind: 'bank_clearing', name: `${e.name} (${e.bank_code})` });
    }
  }
}

export async function listKnownBanks(q: Queryable): Promise<Bank[]> {
  const res = await q.query<BankRow>(
    'SELECT bank_code, name, name_kana, link_methods, status, ledger_account_id FROM banks ORDER BY bank_code');
  return res.rows.map(toBank);
}

export async function getKnownBank(q: Queryable, bankCode: string): Promise<Bank | null> {
  const res = await q.query<BankRow>(
    'SELECT bank_code, name, name_kana, link_methods, status, ledger_account_id FROM banks WHERE bank_code = $1', [bankCode]);
  return res.rows[0] ? toBank(res.rows[0]) : null;
}

/**
 * The banks as the directory last said, refreshed at most every DIRECTORY_TTL_MS. When the directory
 * cannot be read, the last known state in `banks` stands (a bank's outage shows in its own calls).
 */
export class BankDirectory {
  private fetchedAt = 0;
  private refreshing: Promise<void> | null = null;

  constructor(private readonly db: Db, private readonly client: BankClient | null, private readonly ttlMs = DIRECTORY_TTL_MS) {}

  async list(): Promise<Bank[]> {
    await this.fresh();
    return listKnownBanks(this.db);
  }

  async get(bankCode: string): Promise<Bank | null> {
    await this.fresh();
    return getKnownBank(this.db, bankCode);
  }

  /** Fetches the directory now; false when it could not be read. */
  async refresh(): Promise<boolean> {
    if (!this.client) return false;
    const outcome = await this.client.directory();
    if (outcome.kind !== 'answered') return false;
    const entries = parseDirectory(outcome.value);
    await this.db.transaction((tx) => upsertBanks(tx, entries));
    this.fetchedAt = Date.now();
    return true;
  }

  private async fresh(): Promise<void> {
    if (Date.now() - this.fetchedAt < this.ttlMs) return;
    // Concurrent readers share one fetch.
    this.refreshing ??= this.refresh().catch(() => false).then((ok) => {
      if (!ok) this.fetchedAt = Date.now() - this.ttlMs + RETRY_AFTER_FAILURE_MS;
    }).finally(() => { this.refreshing = null; });
    await this.refreshing;
  }
}
