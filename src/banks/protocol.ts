// Owns the partner-bank protocol v2 (SPEC §6): every path, request and response koza and a bank exchange.
// Must never change a field's meaning within a version: banks implement this contract independently.
//
// Transport: HTTPS+JSON (HTTP on loopback in the sandbox). Base URL per bank: `{bankBaseUrl}` =
// `{sandboxUrl}/banks/{bank_code}`; every path below is relative to it. Every request koza sends is signed
// (see signing.ts: header `Koza-Signature`, a JWS over method, path, body hash, nonce and time, with the
// key koza holds for that bank); every POST carries `Idempotency-Key`. Errors are RFC 9457 problems with
// `code` (one of BankErrorCode).

export const PROTOCOL_VERSION = 'v2';

// v2 (breaking, docs/bank-protocol.md "Changes in v2"): a pin_otp/pin_only link start answers the same whatever the
// account and PIN (no PIN oracle, no masked phone); the PIN and the one-time code are checked together at completion.
// Added: the holder's other contact (e-mail) as a notification channel, the channels used in the answer, holder
// confirmation of a link on a channel the phone cannot reach, the link's state as the bank sees it (holder revoked
// from the bank's page), and a phone match against the wallet's verified phone.

export type LinkMethod = 'redirect' | 'pin_otp' | 'pin_only';
export type BankStatus = 'operational' | 'degraded' | 'outage';

/** GET /v2/directory (also served at {sandboxUrl}/directory for all banks). */
export interface DirectoryEntry {
  bank_code: string;          // 4 digits (Zengin bank code)
  name: string;               // e.g. 'さくら銀行'
  name_kana: string;          // half-width as in transfer files
  link_methods: LinkMethod[]; // in the bank's order of preference
  status: BankStatus;
}

/** POST /v2/link-requests — koza asks to link an account for a wallet, carrying the wallet's claims. */
export interface LinkRequestBody {
  method: LinkMethod;
  /** Opaque wallet reference (never the e-mail): lets the bank tell the holder which wallet asked. */
  wallet_ref: string;
  /**
   * The wallet's verified identity (eKYC): the bank may match it itself and return a match result. v2: `phone` is the
   * wallet's verified mobile number (E.164); the bank answers whether it is the phone it holds for the account
   * (`LinkCompleted.phone_matches`), never the number itself.
   */
  claims: { name_kana: string; date_of_birth: string; phone?: string } | null;
  /** redirect: OAuth 2.0 pushed authorization request with PKCE S256. */
  redirect_uri?: string;
  code_challenge?: string;
  code_challenge_method?: 'S256';
  state?: string;
  /** pin_otp and pin_only: the account and its 4-digit PIN as the customer typed them. */
  account?: { branch_code: string; account_number: string };
  pin?: string;
}

/**
 * v2: for pin_otp and pin_only this answer is the same (status, shape, timing) whether the account exists, is
 * locked, and the PIN is right or not. pin_otp: the bank texts its code to the phone it holds only when account
 * and PIN are right, and says nothing about it here (no masked phone). Nothing is counted against the account yet.
 */
export interface LinkRequestCreated {
  link_request_id: string;
  method: LinkMethod;
  expires_at: string;
  /** redirect: where the customer signs in to the bank and consents (request_uri already bound). */
  authorization_url?: string;
}

/** POST /v2/link-requests/{id}/complete */
export interface LinkCompleteBody {
  /** redirect: the authorization code (single use, ≤ 60 s) and the PKCE verifier. */
  code?: string;
  code_verifier?: string;
  /**
   * pin_otp: the code the holder received from the bank. v2: checked together with the PIN given at the start; a
   * wrong PIN, a wrong code, an unknown or locked account all answer 401 invalid_credentials alike (the request stays
   * open for 5 tries either way). A wrong PIN counts one failure against the account per request, not per try.
   * `credentials_locked` is answered only to a right code on an account the bank has locked.
   */
  otp?: string;
}

export interface LinkCompleted {
  link_token: string;
  /** The issuer, checked by koza against the bank it asked (OAuth 2.0 iss, RFC 9207). */
  iss: string;
  account: { branch_code: string; account_number_masked: string; account_ref: string };
  /** The holder as the bank knows them (full-width katakana name, ISO date of birth). */
  holder: { name_kana: string; date_of_birth: string };
  /** v2: whether claims.phone is the phone the bank holds for the account; null when no phone was claimed. */
  phone_matches: boolean | null;
  /**
   * v2: whether the holder has confirmed this link on a channel a phone alone cannot reach. `redirect` links are
   * confirmed at creation (the holder signed in at the bank); `pin_otp` and `pin_only` links are not, and the bank
   * then sends the holder a one-tap confirmation to its other contact (`LinkState.holder_confirmed_at` tells).
   */
  holder_confirmed: boolean;
}

/** v2: GET /v2/links/{link_token} → the link as the bank sees it now (signed GET). */
export interface LinkState {
  status: 'active' | 'revoked';
  method: LinkMethod;
  created_at: string;
  /** When the holder confirmed the link (bank sign-in, or the one-tap confirmation sent to the bank's other contact). */
  holder_confirmed_at: string | null;
  /** How the confirmation came: 'bank_sign_in' (redirect, or confirmed after signing in to the bank) or 'email'. */
  holder_confirmed_via: 'bank_sign_in' | 'email' | null;
  revoked_at: string | null;
  /** 'holder': the holder revoked it on the bank's page (one click); 'koza': koza asked; 'bank': the bank did. */
  revoked_by: 'holder' | 'koza' | 'bank' | null;
}

/** POST /v2/links/{link_token}/revoke → 200 { revoked: true } (idempotent). */
export interface LinkRevoked { revoked: true }

/** The bank's channels to its holder. `email` is the contact the bank holds besides the phone. */
export type HolderChannel = 'inbox' | 'email' | 'sms';

/** POST /v2/notifications — a message to the holder through the bank's own channels. */
export interface HolderNotificationBody {
  link_token: string;
  kind: 'link_created' | 'link_revoked' | 'debit' | 'credit' | 'first_charge' | 'large_charge';
  message: string;
  /**
   * v2: the channels koza asks for (default ['inbox']). The bank uses each it has for the holder; for a holder with
   * no e-mail on file `email` is skipped and the answer says so.
   */
  channels?: HolderChannel[];
}

/** v2: the answer to a notification: which channels carried it. */
export interface HolderNotified {
  notified: true;
  channels: HolderChannel[];
}

/** POST /v2/debits and POST /v2/credits (by link token; Idempotency-Key required). */
export interface TransferBody {
  link_token: string;
  amount: number;
  /** What the passbook shows: 'KOZA' and the reference, which a holder can look up (SPEC §5.6). */
  descriptor: string;
  /** koza's reference for this movement, unique per bank; the key of reconciliation. */
  reference: string;
}

export type TransferStatus = 'completed' | 'rejected';

export interface TransferResult {
  bank_transfer_id: string;
  reference: string;
  kind: 'debit' | 'credit';
  amount: number;
  status: TransferStatus;
  /** rejected: insufficient_funds | account_closed | link_revoked | limit_exceeded */
  reason?: string;
  booked_at: string;
}

/** GET /v2/transfers/{reference} → TransferResult, or 404 problem `transfer_not_found`. */

/** GET /v2/statements/{yyyy-mm-dd} — every koza debit and credit booked that day (JST), by reference. */
export interface Statement {
  bank_code: string;
  date: string;
  entries: Array<{ reference: string; kind: 'debit' | 'credit'; amount: number; booked_at: string }>;
  total_debits: number;
  total_credits: number;
  /**
   * v2 addition (§10): every transfer booked into koza's collection account (a virtual account number) that day, as the
   * bank reported it or would have: a lost notice is found here. Absent from a bank that receives no pay-ins.
   */
  incoming?: IncomingTransferNotice[];
  /** v2 addition (§10): every pay-in koza returned that day (booked back to the sender). */
  returns?: ReturnResult[];
  total_incoming?: number;
  total_returns?: number;
}

/**
 * v2 addition (§10), bank → koza: POST {kozaUrl}/v1/banks/{bank_code}/incoming-transfers, signed by the bank
 * (header Bank-Signature, the same JWS as §2 with the bank's own key, kid `bank-{bank_code}`), Idempotency-Key = the
 * bank's transfer id. The receiving bank reports a furikomi booked into koza's collection account under a virtual
 * account number. koza answers 200 IncomingTransferAck, the same for every retry of the same transfer.
 */
export interface IncomingTransferNotice {
  /** The receiving bank's id of the transfer: koza's key for it (one pay-in per bank and id). */
  bank_transfer_id: string;
  /** The receiving bank (koza's pay-in bank), the virtual branch and the 7-digit virtual account number paid to. */
  bank_code: string;
  branch_code: string;
  account_number: string;
  amount: number;
  /** The sender as the sending bank wrote it in the transfer (Zengin half-width kana), not typed by the sender. */
  sender: { name_kana: string; bank_code: string; branch_code: string };
  booked_at: string;
}

export interface IncomingTransferAck {
  received: true;
  pay_in_id: string;
  /** credited: on the wallet; returned: booked back to the sender; returning: koza will return it (bank unreachable now). */
  status: 'credited' | 'returned' | 'returning';
}

/** Why koza sends a pay-in back. */
export type ReturnReason = 'name_mismatch' | 'unknown_account' | 'wallet_unavailable' | 'limit_exceeded';

/** v2 addition (§10): POST /v2/returns — send a received transfer back to its sender, the whole amount, once. */
export interface ReturnBody {
  bank_transfer_id: string;
  /** koza's key for the return (its pay-in id), unique per bank like a transfer reference. */
  reference: string;
  reason: ReturnReason;
}

export interface ReturnResult {
  return_id: string;
  bank_transfer_id: string;
  reference: string;
  reason: ReturnReason;
  amount: number;
  status: 'returned';
  booked_at: string;
}

export type BankErrorCode =
  | 'unauthorized_signature'   // missing, bad, stale or replayed signature
  | 'invalid_request'
  | 'invalid_credentials'      // wrong PIN or OTP (never says which)
  | 'credentials_locked'       // too many wrong PINs for this account
  | 'method_not_supported'
  | 'link_request_expired'
  | 'invalid_grant'            // code unknown, used, expired, or PKCE verifier wrong
  | 'link_not_found'
  | 'transfer_not_found'
  | 'idempotency_conflict'
  | 'unavailable';             // outage or injected fault

export interface BankProblem {
  type: string;
  title: string;
  status: number;
  code: BankErrorCode;
  detail?: string;
}

export const SIGNATURE_HEADER = 'koza-signature';
/** v2 addition (§10): the bank's signature on its calls to koza (the same JWS as Koza-Signature, the bank's key). */
export const BANK_SIGNATURE_HEADER = 'bank-signature';
export const IDEMPOTENCY_HEADER = 'idempotency-key';
