// Owns the Yen type: integer yen, checked once at the edge (the Amount schema in http/schemas.ts) and from the database.
// Must never accept a float, a string or an amount outside what a bigint column and a JS number hold exactly.

declare const yenBrand: unique symbol;
export type Yen = number & { readonly [yenBrand]: true };

/** The largest single amount koza accepts: ¥1 trillion, far above any wallet limit, far below 2^53. */
export const MAX_AMOUNT = 1_000_000_000_000;

/** Reads a yen figure that came from the database (a bigint column parsed to a safe integer). */
export function yenFromDb(value: unknown): Yen {
  const n = typeof value === 'string' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) {
    throw new TypeError(`not a safe integer amount from the database: ${String(value)}`);
  }
  return n as Yen;
}

