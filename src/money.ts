// Owns the Yen type: integer yen, parsed once at the edge.
// Must never accept a float, a string or an amount outside what a bigint column and a JS number hold exactly.

declare const yenBrand: unique symbol;
export type Yen = number & { readonly [yenBrand]: true };

/** The largest single amount koza accepts: ¥1 trillion, far above any wallet limit, far below 2^53. */
export const MAX_AMOUNT = 1_000_000_000_000;

export function isYen(value: unknown): value is Yen {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** Parses a positive amount a client sent; returns null when it is not a whole, positive, bounded number of yen. */
export function parseAmount(value: unknown): Yen | null {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) return null;
  if (value <= 0 || value > MAX_AMOUNT) return null;
  return value as Yen;
}

/** Reads a yen figure that came from the database (a bigint column parsed to a safe integer). */
export function yenFromDb(value: unknown): Yen {
  const n = typeof value === 'string' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) {
    throw new TypeError(`not a safe integer amount from the database: ${String(value)}`);
  }
  return n as Yen;
}

export function addYen(a: Yen, b: Yen): Yen {
  const sum = a + b;
  if (!Number.isSafeInteger(sum)) throw new RangeError('yen overflow');
  return sum as Yen;
}

export function subYen(a: Yen, b: Yen): number {
  return a - b;
}
