// Owns the holders of the leaked accounts after the attack: what their bank told them (inbox, texts), whether they
// read the passbook, and — for a share of those who see a KOZA debit they never made — a report through the bank's page.
// Must never act for a holder with anything but the holder's own bank credentials and phone.
import type { Random } from '../sandbox/population.js';
import { BankBrowser, hiddenFields, type RequestMeter } from './client.js';
import type { Victim } from './cast.js';

export interface HolderLog {
  /** Holders whose bank told them something (an inbox message or a text) during the run. */
  notified: number;
  readPassbook: number;
  sawKozaDebit: number;
  reported: number;
}

/** A holder told of something reads the passbook; in 2020, with no notice, only some did, weeks later. */
const PASSBOOK_SHARE_UNNOTIFIED = 0.3;
/** Of those who see a KOZA debit they never made, this share reports it. */
const REPORT_SHARE = 0.8;
const OTP_IN_SMS = /】(\d{6}) /;

interface Line { seq: number; descriptor: string; withdrawal: number }

export async function holdersReact(banksUrl: string, victims: Victim[], random: Random, meter: RequestMeter,
  options: { phoneHeldByAttacker?: boolean } = {}): Promise<HolderLog> {
  const log: HolderLog = { notified: 0, readPassbook: 0, sawKozaDebit: 0, reported: 0 };
  const admin = async <T>(path: string): Promise<T> => {
    meter.requests++;
    const res = await fetch(`${banksUrl}${path}`);
    if (!res.ok) throw new Error(`bank sandbox ${path}: ${res.status}`);
    return ((await res.json()) as { data: T }).data;
  };
  for (const { holder } of victims) {
    const account = `/sandbox/banks/${holder.bank_code}/accounts/${holder.branch_code}/${holder.account_number}`;
    const inbox = await admin<unknown[]>(`${account}/inbox`);
    const texts = await admin<unknown[]>(`/sandbox/sms?phone=${encodeURIComponent(holder.registered_phone)}&bank_code=${holder.bank_code}`);
    // After a SIM swap the bank's texts reach the attacker's handset, not the holder: only the bank's other channels count.
    const notified = inbox.length > 0 || (!options.phoneHeldByAttacker && texts.length > 0);
    if (notified) log.notified++;
    const reads = notified || random() < PASSBOOK_SHARE_UNNOTIFIED;
    const reports = random() < REPORT_SHARE;
    if (!reads) continue;
    log.readPassbook++;
    const kozaDebit = (await admin<Line[]>(`${account}/passbook`)).find((l) => l.withdrawal > 0 && l.descriptor.startsWith('KOZA'));
    if (!kozaDebit) continue;
    log.sawKozaDebit++;
    if (!reports) continue;
    // At the bank's own site: sign in, open the line, "I don't recognise this".
    const browser = new BankBrowser(banksUrl, meter);
    const start = await browser.follow(await browser.request('GET', `/banks/${holder.bank_code}/report?line=${kozaDebit.seq}`));
    const form = await browser.signIn(holder.bank_code, start, holder.online_banking, async () => {
      const [newest] = await admin<Array<{ body: string }>>(
        `/sandbox/sms?phone=${encodeURIComponent(holder.registered_phone)}&bank_code=${holder.bank_code}`);
      return newest ? OTP_IN_SMS.exec(newest.body)?.[1] ?? null : null;
    });
    if (!form || form.status !== 200) continue;
    const fields = hiddenFields(form.html);
    const sent = await browser.request('POST', `/banks/${holder.bank_code}/report`, {
      ...fields, note: 'このウォレットを使ったことがありません。 I have never used this wallet.',
    });
    if (sent.status === 200) log.reported++;
  }
  return log;
}
