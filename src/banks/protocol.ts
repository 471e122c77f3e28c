// Owns the partner-bank protocol v1 (SPEC §6): every path, request and response koza and a bank exchange.
// Must never change a field's meaning within a version: banks implement this contract independently.
//
// Transport: HTTPS+JSON (HTTP on loopback in the sandbox). Base URL per bank: `{bankBaseUrl}` =
// `{sandboxUrl}/banks/{bank_code}`; every path below is relative to it. Every request koza sends is signed
// (see signing.ts: header `Koza-Signature`, a JWS over method, path, body hash, nonce and time, with the
// key koza holds for that bank); every POST carries `Idempotency-Key`. Errors are RFC 9457 problems with
// `code` (one of BankErrorCode).

export const PROTOCOL_VERSION = 'v1';

export type LinkMethod = 'redirect' | 'pin_otp' | 'pin_only';
export type BankStatus = 'operational' | 'degraded' | 'outage';

/** GET /v1/directory (also served at {sandboxUrl}/directory for all banks). */
export interface DirectoryEntry {
  bank_code: string;          // 4 digits (Zengin bank code)
  name: string;               // e.g. 'さくら銀行'
  name_kana: string;          // half-width as in transfer files
  link_methods: LinkMethod[]; // in the bank's order of preference
  status: BankStatus;
}

/** POST /v1/link-requests — koza asks to link an account for a wallet, carrying the wallet's claims. */
export interface LinkRequestBody {
  method: LinkMethod;
  /** Opaque wallet reference (never the e-mail): lets the bank tell the holder which wallet asked. */
  wallet_ref: string;
  /** The wallet's verified identity (eKYC): the bank may match it itself and return a match result. */
  claims: { name_kana: string; date_of_birth: string } | null;
  /** redirect: OAuth 2.0 pushed authorization request with PKCE S256. */
  redirect_uri?: string;
  code_challenge?: string;
  code_challenge_method?: 'S256';
  state?: string;
  /** pin_otp and pin_only: the account and its 4-digit PIN as the customer typed them. */
  account?: { branch_code: string; account_number: string };
  pin?: string;
}

export interface LinkRequestCreated {
  link_request_id: string;
  method: LinkMethod;
  expires_at: string;
  /** redirect: where the customer signs in to the bank and consents (request_uri already bound). */
  authorization_url?: string;
  /** pin_otp: the bank sent a code to the phone registered at the bank; a masked hint of it. */
  otp_sent_to?: string;
}

/** POST /v1/link-requests/{id}/complete */
export interface LinkCompleteBody {
  /** redirect: the authorization code (single use, ≤ 60 s) and the PKCE verifier. */
  code?: string;
  code_verifier?: string;
  /** pin_otp: the code the holder received from the bank. */
  otp?: string;
}

export interface LinkCompleted {
  link_token: string;
  /** The issuer, checked by koza against the bank it asked (OAuth 2.0 iss, RFC 9207). */
  iss: string;
  account: { branch_code: string; account_number_masked: string; account_ref: string };
  /** The holder as the bank knows them (full-width katakana name, ISO date of birth). */
  holder: { name_kana: string; date_of_birth: string };
}

/** POST /v1/links/{link_token}/revoke → 200 { revoked: true } (idempotent). */
export interface LinkRevoked { revoked: true }

/** POST /v1/notifications — a message to the holder through the bank's own channel (inbox, app, mail). */
export interface HolderNotificationBody {
  link_token: string;
  kind: 'link_created' | 'link_revoked' | 'debit' | 'credit';
  message: string;
}

/** POST /v1/debits and POST /v1/credits (by link token; Idempotency-Key required). */
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

/** GET /v1/transfers/{reference} → TransferResult, or 404 problem `transfer_not_found`. */

/** GET /v1/statements/{yyyy-mm-dd} — every koza debit and credit booked that day (JST), by reference. */
export interface Statement {
  bank_code: string;
  date: string;
  entries: Array<{ reference: string; kind: 'debit' | 'credit'; amount: number; booked_at: string }>;
  total_debits: number;
  total_credits: number;
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
export const IDEMPOTENCY_HEADER = 'idempotency-key';
