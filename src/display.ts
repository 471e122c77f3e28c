// Owns how money and moments are written for people: yen with separators (¥10,000) and Japan time (2026-12-12 21:00 JST).
// Must never be used to parse or compute: display only.

/** ¥10,000: every amount a person reads (refusals, notices, e-mails, the catalogue of next steps). */
export function formatYen(amount: number): string {
  return `¥${amount.toLocaleString('en-US')}`;
}

/** 2026-12-08 21:00 JST. Japan has no daylight saving: JST is always UTC+9. */
export function formatJst(at: Date): string {
  const shifted = new Date(at.getTime() + 9 * 3_600_000).toISOString();
  return `${shifted.slice(0, 10)} ${shifted.slice(11, 16)} JST`;
}
