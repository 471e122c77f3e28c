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

export interface Customer {
  person: SandboxPerson;
  account: SandboxHolderAccount;
  address: string;
  deviceId: string;
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

  // Ordinary customers: persons the eKYC sandbox passes, with an account at a bank koza can link under either policy.
  const linkable = shuffled(random, holders.filter((h) => h.link_methods.some((m) => m === 'redirect' || m === 'pin_otp')));
  const customers: Customer[] = [];
  for (const account of linkable) {
    if (customers.length >= size.customers) break;
    const person = byIndex.get(account.person_index);
    if (!person || person.behaviour !== 'pass' || used.has(person.index)) continue;
    used.add(person.index);
    const n = customers.length;
    const first = intBetween(random, 1, 5) * 1_000;
    const second = intBetween(random, 1, 4) * 1_000;
    const payments = [intBetween(random, 3, 15) * 100, intBetween(random, 3, 20) * 100];
    if (random() < 0.5) payments.push(intBetween(random, 5, 25) * 100);
    customers.push({
      person, account, password: passwordOf(random, person),
      // Each customer at home or on a phone network: an address of their own (10.0.0.0/8, as a carrier hands out).
      address: `10.${20 + Math.floor(n / 65_000)}.${Math.floor(n / 250) % 250}.${(n % 250) + 1}`,
      deviceId: deviceId(random, 'phone'),
      charges: random() < 0.4 ? [first] : [first, second],
      payments,
    });
  }
  if (customers.length < size.customers) throw new RangeError(`the population has room for ${customers.length} customers only`);

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
