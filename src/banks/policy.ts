// Owns the policy profiles of bank linking (SPEC §9): `secure`, everything §5.3 asks, and `legacy-2020`, the 2020 wallet.
// Must never be read as code paths scattered over the flow: each rule is a field here, the flow reads the fields.
import type { PolicyName } from '../config.js';
import type { AssuranceLevel } from '../identity/assurance.js';
import type { LinkMethod } from './protocol.js';

export interface LinkPolicy {
  name: PolicyName;
  /** Methods koza accepts, in koza's order of preference (the first the bank also offers is the default). */
  methods: readonly LinkMethod[];
  /** Assurance level a wallet needs to start a link. */
  minLevel: AssuranceLevel;
  /** An enrolled second factor (TOTP or passkey) before the first link (SPEC §3). */
  secondFactor: boolean;
  /** A step-up proof for action 'link' with the bank code as destination, for every link. */
  stepUp: boolean;
  /**
   * The name sent to the bank and matched: the eKYC identity ('verified_identity'), or whatever the customer
   * typed at sign-up or at the link ('typed'), which is how the 2020 wallet came to link victims' accounts.
   */
  nameSource: 'verified_identity' | 'typed';
  /** Holder name (kana) and date of birth must match the eKYC identity: strong or exact, equal DOB. */
  nameMatching: boolean;
  /** New links start with lower charge limits and grow with the account's age and clean history (link-trust.ts). */
  coolingOff: boolean;
  /** The bank tells the holder of every new link through its own channel. */
  notifyHolder: boolean;
  /** One bank account can be live-linked to one wallet only; the first wallet is alerted of a second attempt. */
  oneAccountOneWallet: boolean;
  /**
   * koza stops PIN tries on a typed account (all wallets) well before the bank's lock (link-try-budget.ts), so that
   * neither a thief nor a sprayer can lock a holder out at the bank through koza.
   */
  tryBudget: boolean;
}

export const SECURE: LinkPolicy = {
  name: 'secure',
  // SPEC §5.3: redirect first (koza never sees bank credentials), then PIN plus the bank's own OTP; never PIN only.
  methods: ['redirect', 'pin_otp'],
  minLevel: 'L2',
  secondFactor: true,
  stepUp: true,
  nameSource: 'verified_identity',
  nameMatching: true,
  coolingOff: true,
  notifyHolder: true,
  oneAccountOneWallet: true,
  tryBudget: true,
};

/**
 * The 2020 wallet as publicly reported: a name and an e-mail address were enough to open a wallet and link
 * an account with its number and 4-digit PIN, preferred wherever the bank allowed it; nothing compared the
 * holder with the customer, nobody told the holder, the first day had the full limits, and nothing stopped
 * the same account being linked from several wallets.
 */
export const LEGACY_2020: LinkPolicy = {
  name: 'legacy-2020',
  methods: ['pin_only', 'pin_otp', 'redirect'],
  minLevel: 'L0',
  secondFactor: false,
  stepUp: false,
  nameSource: 'typed',
  nameMatching: false,
  coolingOff: false,
  notifyHolder: false,
  oneAccountOneWallet: false,
  tryBudget: false,
};

const PROFILES: Record<PolicyName, LinkPolicy> = { secure: SECURE, 'legacy-2020': LEGACY_2020 };

export function linkPolicy(name: PolicyName): LinkPolicy {
  return PROFILES[name];
}

/** The methods a customer may use at one bank: allowed by the policy and offered by the bank, in the policy's order. */
export function usableMethods(policy: LinkPolicy, bankMethods: readonly LinkMethod[]): LinkMethod[] {
  return policy.methods.filter((m) => bankMethods.includes(m));
}
