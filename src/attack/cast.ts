// Owns who plays in an attack replay, drawn from --seed over the sandbox population: the leaked list (victims' accounts,
// PINs, names at a few of the banks that took a PIN alone), the attacker's pools, and the ordinary customers.
// Must never depend on anything but the seed and the population: the same seed casts the same people.
import { intBetween, mulberry32, randomString, shuffled, type Random } from '../sandbox/population.js';
import type { SandboxHolderAccount } from '../sandbox/banks/admin.js';
import type { SandboxPerson } from './wallet-app.js';

export interface CastSize {
  victims: number;
  /** Banks the leaked list covers, out of those that take a PIN alone (11 of 35). */
  victimBanks: number;
  customers: number;
  /** Attacker workers at once. */
  attackers: number;
}

/** One line of the leaked list: what the thieves had — no date of birth, no document, no online-banking password. */
export interface LeakedAccount {
  bank_code: string;
  branch_code: string;
  account_number: string;
  pin: string;
  name_kana: string;
  /** How much the attacker means to take from it (¥50,000–¥600,000, the 2020 range). */
  target_yen: number;
}

export interface Victim {
  leaked: LeakedAccount;
  /** The holder as the bank knows them (phone, online banking): for the holder's side of the story, not the attacker's. */
  holder: SandboxHolderAccount;
}

/**
 * How an ordinary customer reaches koza and what they do, as real Japanese customers differ (issue 11): the replay
 * reports each group's figures apart. Disjoint: a customer is in one group (typists and reinstallers sit behind the
 * carrier-NAT addresses too).
 */
export const CUSTOMER_GROUPS = ['own-line', 'carrier-nat', 'cafe', 'family', 'reinstall', 'pin-typo', 'heavy', 'pin-only-bank'] as const;
export type CustomerGroup = (typeof CUSTOMER_GROUPS)[number];

export interface Customer {
  person: SandboxPerson;
  account: SandboxHolderAccount;
  group: CustomerGroup;
  address: string;
  deviceId: string;
  /** pin-typo: a wrong PIN first (no code comes; they start again), then this many mistyped bank codes before the right one. */
  typos?: { pin: boolean; otp: number };
  /** reinstall: the device id the app gets when reinstalled after the first charge. */
  reinstallDeviceId?: string;
  /** heavy: once the new-link window is over, a charge near the trust ramp's cap, a payment above the step-up threshold, a withdrawal. */
  heavy?: { charge: number; payment: number; withdrawal: number };
  /** As people choose them: mostly a passphrase of their own, some a common pattern, some reused elsewhere. */
  password: string;
  /** Charges within the cooling-off cap, then payments from what was charged. */
  charges: number[];
  payments: number[];
}

export interface AttackerPools {
  addresses: string[];
  deviceIds: string[];
  burnerPhones: string[];
  /** Other people's identity documents the ring bought with the list (never the victims'). */
  stolenIdentities: SandboxPerson[];
  emailDomains: string[];
}

export interface Cast {
  victims: Victim[];
  customers: Customer[];
  attacker: AttackerPools;
  pinBanks: string[];
  victimBanks: string[];
}

function hex(random: Random, length: number): string {
  return randomString(random, '0123456789abcdef', length);
}

/** A device id as an app keeps one: 128 random bits, base64url-ish (docs/device-signal.md). */
function deviceId(random: Random, label: string): string {
  return `${label}-${hex(random, 32)}`;
}

/** The passwords people pick when nothing stops them (Have I Been Pwned's top patterns for Japan, 2020s). */
export const COMMON_PASSWORDS = ['Password2024!', 'Sakura2024!', 'Qwerty123!', 'Tokyo2024!', 'Password1!', 'Iloveyou1!'];

/** Most customers a passphrase of their own; about one in six a common pattern; some a name and a birth year. */
function passwordOf(random: Random, person: SandboxPerson): string {
  const roll = random();
  if (roll < 0.16) return COMMON_PASSWORDS[Math.floor(random() * COMMON_PASSWORDS.length)]!;
  if (roll < 0.3) return `${person.name_kana.normalize('NFKC').slice(0, 3)}${person.date_of_birth.slice(0, 4)}!`;
  return `${randomString(random, 'abcdefghijkmnopqrstuvwxyz', 6)} ${randomString(random, 'abcdefghijkmnopqrstuvwxyz', 7)} ${intBetween(random, 10, 99)}`;
}

/** The largest cast the population allows for a size: victims and customers are distinct persons. */
export function castFor(seed: number, size: CastSize, persons: SandboxPerson[], holders: SandboxHolderAccount[]): Cast {
  const random = mulberry32((seed ^ 0x61747461) >>> 0);
  const byIndex = new Map(persons.map((p) => [p.index, p]));
  const used = new Set<number>();
  const pinBanks = [...new Set(holders.filter((h) => h.link_methods.includes('pin_only')).map((h) => h.bank_code))].sort();
  if (size.victimBanks < 1 || size.victimBanks > pinBanks.length) {
    throw new RangeError(`--victim-banks must be from 1 to ${pinBanks.length} (the banks that take a PIN alone)`);
  }
  const victimBanks = shuffled(random, pinBanks).slice(0, size.victimBanks).sort();

  // The leaked list: accounts at those banks, spread evenly, one per person. About one PIN in ten changed since it leaked.
  const candidates = new Map(victimBanks.map((code) => [code, shuffled(random, holders.filter((h) => h.bank_code === code && !h.pin_locked))]));
  const victims: Victim[] = [];
  for (let i = 0; victims.length < size.victims; i++) {
    if (i > size.victims * 50) throw new RangeError(`the population holds fewer than ${size.victims} accounts at ${size.victimBanks} banks`);
    const bank = victimBanks[i % victimBanks.length]!;
    const holder = candidates.get(bank)!.find((h) => !used.has(h.person_index));
    if (!holder) continue;
    used.add(holder.person_index);
    const stale = random() < 0.1;
    const pin = stale ? String((Number(holder.pin) + intBetween(random, 1, 9998)) % 10_000).padStart(4, '0') : holder.pin;
    victims.push({
      holder,
      leaked: {
        bank_code: holder.bank_code, branch_code: holder.branch_code, account_number: holder.account_number, pin,
        name_kana: holder.name_kana, target_yen: intBetween(random, 5, 60) * 10_000,
      },
    });
  }

  const customers = castCustomers(random, size.customers, holders, byIndex, used);

  // The ring: a few phones and emulators, a pool of proxies from two networks, burner SIMs and bought identities.
  const stolenIdentities = shuffled(random, persons.filter((p) => p.behaviour === 'pass' && !used.has(p.index)))
    .slice(0, Math.max(1, Math.ceil(size.victims / 4)));
  const phones = new Set(persons.map((p) => p.phone));
  const burnerPhones: string[] = [];
  while (burnerPhones.length < Math.max(2, Math.ceil(size.victims / 3))) {
    const phone = `+8170${String(intBetween(random, 0, 99_999_999)).padStart(8, '0')}`;
    if (!phones.has(phone) && !burnerPhones.includes(phone)) burnerPhones.push(phone);
  }
  const addresses = shuffled(random, [
    ...Array.from({ length: 8 }, (_, i) => `198.51.100.${10 + i * 7}`),
    ...Array.from({ length: 8 }, (_, i) => `203.0.113.${20 + i * 11}`),
  ]);
  return {
    victims, customers, pinBanks, victimBanks,
    attacker: {
      addresses, deviceIds: Array.from({ length: 6 }, () => deviceId(random, 'ring')), burnerPhones, stolenIdentities,
      emailDomains: ['mail.example.com', 'post.example.net', 'inbox.example.org'],
    },
  };
}

/** Carrier-grade NAT egress addresses (the benchmarking range stands in for a carrier's), three /24s of one carrier. */
export const CARRIER_NAT_ADDRESSES = ['198.18.10.1', '198.18.11.1', '198.19.12.1'];
/** One café's Wi-Fi: its customers come within the same hour. */
export const CAFE_ADDRESS = '192.0.2.80';

/** How many of `n` customers each group holds: carrier NAT (with its typists and reinstallers) about 40 %. */
export function groupSizes(n: number): Record<CustomerGroup, number> {
  const none = Object.fromEntries(CUSTOMER_GROUPS.map((g) => [g, 0])) as Record<CustomerGroup, number>;
  // Fewer than 8 customers (a test's one or two alongside a ring): each on a line of their own, as before the groups.
  if (n < 8) return { ...none, 'own-line': n };
  const share = (fraction: number, least: number) => Math.max(least, Math.round(n * fraction));
  const sizes: Record<CustomerGroup, number> = {
    'own-line': 0, 'carrier-nat': 0,
    cafe: Math.min(12, Math.max(3, Math.round(n / 4))),
    // A family of three on one tablet from 8 customers, of four from 20, a second family from 100.
    family: n < 20 ? 3 : n < 100 ? 4 : 7,
    reinstall: share(0.04, 1), 'pin-typo': share(0.06, 1), heavy: share(0.06, 1),
    // 5 of the 35 banks offer PIN alone: about 1 holder in 10.
    'pin-only-bank': share(0.08, 1),
  };
  const carrier = Math.round(n * 0.4) - sizes.reinstall - sizes['pin-typo'];
  const taken = Object.values(sizes).reduce((a, b) => a + b, 0);
  sizes['carrier-nat'] = Math.max(0, Math.min(carrier, n - taken));
  sizes['own-line'] = n - taken - sizes['carrier-nat'];
  if (sizes['own-line'] < 0) {
    // A tiny cast: drop groups from the end of the list until it fits.
    for (const g of ['heavy', 'pin-typo', 'reinstall', 'pin-only-bank', 'cafe', 'family'] as const) {
      while (sizes['own-line'] < 0 && sizes[g] > 0) { sizes[g]--; sizes['own-line']++; }
    }
  }
  return sizes;
}

const isPinOnlyBank = (h: SandboxHolderAccount) => h.link_methods.length > 0 && h.link_methods.every((m) => m === 'pin_only');
const surname = (p: SandboxPerson) => p.name_kanji.split(' ')[0]!;

/**
 * The ordinary customers, group by group, from the seed: persons the eKYC sandbox passes, one bank account each.
 * Families are persons sharing a surname; the PIN-only bank's holders have an account only koza cannot link.
 */
function castCustomers(random: Random, n: number, holders: SandboxHolderAccount[], byIndex: Map<number, SandboxPerson>,
  used: Set<number>): Customer[] {
  const sizes = groupSizes(n);
  const eligible = (h: SandboxHolderAccount) => {
    const person = byIndex.get(h.person_index);
    return person && person.behaviour === 'pass' && !used.has(person.index) ? person : null;
  };
  const linkable = shuffled(random, holders.filter((h) => h.link_methods.some((m) => m === 'redirect' || m === 'pin_otp')));
  const pinOnly = shuffled(random, holders.filter(isPinOnlyBank));
  const customers: Customer[] = [];
  let home = 0;
  const ownAddress = () => {
    const k = home++;
    // At home or on a phone of their own: an address of their own (10.0.0.0/8, as a carrier or a home router hands out).
    return `10.${20 + Math.floor(k / 65_000)}.${Math.floor(k / 250) % 250}.${(k % 250) + 1}`;
  };
  const take = (pool: SandboxHolderAccount[], fits: (h: SandboxHolderAccount, p: SandboxPerson) => boolean = () => true) => {
    for (const account of pool) {
      const person = eligible(account);
      if (person && fits(account, person)) {
        used.add(person.index);
        return { person, account };
      }
    }
    throw new RangeError(`the population has room for ${customers.length} customers only`);
  };
  const add = (who: { person: SandboxPerson; account: SandboxHolderAccount }, group: CustomerGroup, address: string, device: string,
    extra: Partial<Customer> = {}) => {
    const first = intBetween(random, 1, 5) * 1_000;
    const second = intBetween(random, 1, 4) * 1_000;
    const payments = [intBetween(random, 3, 15) * 100, intBetween(random, 3, 20) * 100];
    if (random() < 0.5) payments.push(intBetween(random, 5, 25) * 100);
    customers.push({
      ...who, group, address, deviceId: device, password: passwordOf(random, who.person),
      charges: random() < 0.4 ? [first] : [first, second], payments, ...extra,
    });
  };

  // Families: three or four persons with one surname, each their own account, all on the family's tablet at home.
  for (let left = sizes.family; left > 0;) {
    const members = left >= 7 ? 4 : left >= 3 ? Math.min(left, 4) : left;
    const bySurname = new Map<string, Array<{ person: SandboxPerson; account: SandboxHolderAccount }>>();
    for (const account of linkable) {
      const person = eligible(account);
      if (!person) continue;
      const list = bySurname.get(surname(person)) ?? [];
      if (!list.some((m) => m.person.index === person.index)) list.push({ person, account });
      bySurname.set(surname(person), list);
    }
    const family = [...bySurname.values()].find((list) => list.length >= members);
    if (!family) throw new RangeError(`no ${members} customers share a surname`);
    const tablet = deviceId(random, 'tablet');
    const address = ownAddress();
    for (const member of family.slice(0, members)) {
      used.add(member.person.index);
      add(member, 'family', address, tablet);
    }
    left -= members;
  }
  for (let i = 0; i < sizes.cafe; i++) add(take(linkable), 'cafe', CAFE_ADDRESS, deviceId(random, 'phone'));
  const carrier = () => CARRIER_NAT_ADDRESSES[Math.floor(random() * CARRIER_NAT_ADDRESSES.length)]!;
  for (let i = 0; i < sizes['carrier-nat']; i++) add(take(linkable), 'carrier-nat', carrier(), deviceId(random, 'phone'));
  // The typists link by PIN and the bank's texted code (they have a PIN to mistype); several share one carrier address.
  const byPinText = (h: SandboxHolderAccount) => h.link_methods.includes('pin_otp') && !h.link_methods.includes('redirect');
  for (let i = 0; i < sizes['pin-typo']; i++) {
    add(take(linkable, byPinText), 'pin-typo', i % 2 === 0 ? CARRIER_NAT_ADDRESSES[0]! : carrier(), deviceId(random, 'phone'),
      { typos: { pin: i % 3 === 0, otp: 1 + (i % 2) } });
  }
  for (let i = 0; i < sizes.reinstall; i++) {
    add(take(linkable), 'reinstall', carrier(), deviceId(random, 'phone'), { reinstallDeviceId: deviceId(random, 'phone') });
  }
  for (let i = 0; i < sizes.heavy; i++) {
    add(take(linkable), 'heavy', ownAddress(), deviceId(random, 'phone'),
      { heavy: { charge: intBetween(random, 40, 48) * 1_000, payment: intBetween(random, 11, 30) * 1_000, withdrawal: intBetween(random, 5, 15) * 1_000 } });
  }
  for (let i = 0; i < sizes['pin-only-bank']; i++) add(take(pinOnly), 'pin-only-bank', carrier(), deviceId(random, 'phone'));
  for (let i = 0; i < sizes['own-line']; i++) add(take(linkable), 'own-line', ownAddress(), deviceId(random, 'phone'));
  // Interleaved as they come through the day (a scenario's first customers are not all one group); deterministic.
  return shuffled(random, customers);
}
