// Owns the bank-link routes: the bank directory, starting and completing a link, the redirect callback, listing, revoking.
// Must never echo a PIN, OTP, code or link token, nor hold a database transaction open while a bank is asked.
import { Type } from 'typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { App, Ctx } from '../context.js';
import { clientInfo, requireOperator, requireSession } from '../context.js';
import { runIdempotentFlow } from '../idempotency.js';
import { IdempotencyHeaders, nextCursor, PageQuery, pageOf, parsePage, problems, Timestamp } from '../schemas.js';
import { stepUpProofField } from './factors.js';
import { KozaError, NotFound } from '../../errors.js';
import { toProblem } from '../problem.js';
import { nextStepFor } from '../next-steps.js';
import { BankDirectory } from '../../banks/directory.js';
import { BankNotFound, BanksNotConfigured } from '../../banks/link-errors.js';
import {
  ensureHolderNotified, FUND_BY_TRANSFER, executeCompletion, executeLinkStart, executeRevoke, linkReleasedCompletion, revokeRejectedAtBank, prepareCallback, prepareLinkStart, prepareOtpCompletion, prepareRevoke,
  type LinkEnv, type Requester, type StartedLink,
  typedAccountRiskRef,
} from '../../banks/link-flow.js';
import { riskDeviceKey } from '../../risk/device-key.js';
import { getVerifiedIdentity } from '../../identity/verification/store.js';
import { getBankLink, listBankLinks, type BankLink } from '../../banks/link-store.js';
import { trustLimitFor } from '../../banks/link-trust.js';
import { linkPolicy, usableMethods } from '../../banks/policy.js';
import type { LinkMethod } from '../../banks/protocol.js';
import { listHeldLinks, rejectHeldLink, releaseHeldLink, reviewDueAt, type HeldLink } from '../../banks/link-review.js';
import { formatJst } from '../../display.js';

const Method = Type.Union([Type.Literal('redirect'), Type.Literal('pin_otp'), Type.Literal('pin_only')]);
const BankCode = Type.String({ pattern: '^[0-9]{4}$', description: 'Zengin bank code, 4 digits.', examples: ['0001'] });

const BankSchema = Type.Object({
  bank_code: Type.String(), name: Type.String(), name_kana: Type.String(),
  link_methods: Type.Array(Method, { description: 'The ways to link this bank that koza allows now, preferred first.' }),
  status: Type.Union([Type.Literal('operational'), Type.Literal('degraded'), Type.Literal('outage')]),
  next_step: Type.Optional(Type.Object({ en: Type.String(), ja: Type.String(), href: Type.String() }, {
    description: 'Only when koza can link this bank in no way (it offers PIN links alone): fund by bank transfer instead.',
  })),
});

export const LinkSchema = Type.Object({
  id: Type.String({ examples: ['lnk_…'] }), bank_code: Type.String(), branch_code: Type.String(),
  account_number_masked: Type.String(), method: Method,
  status: Type.Union([Type.Literal('notifying'), Type.Literal('active'), Type.Literal('revoked')], {
    description: 'notifying: made, the bank is telling the account holder (no money moves yet); active; revoked.',
  }),
  cooling_off: Type.Union([Type.Object({ daily_cap: Type.Integer(), ends_at: Timestamp }), Type.Null()], {
    description: 'While set (the new-link window), charges from the account are capped per rolling 24 h and in total.',
  }),
  trust: Type.Union([Type.Object({
    stage: Type.Union([Type.Literal('new_link'), Type.Literal('unconfirmed'), Type.Literal('ramp'), Type.Literal('full')]),
    per_24h_cap: Type.Union([Type.Integer(), Type.Null()]), total_cap: Type.Union([Type.Integer(), Type.Null()]),
    next_stage_at: Type.Union([Timestamp, Type.Null()]),
  }), Type.Null()], {
    description: 'Graduated trust as this link sees it (charges count per bank account and person, so re-linking resets nothing). '
      + 'unconfirmed: a PIN+text link the holder has not confirmed at the bank stays at the new-link cap in total.',
  }),
  holder_confirmed_at: Type.Union([Timestamp, Type.Null()], {
    description: 'When the account holder confirmed the link at the bank (redirect: at creation; PIN+text: the bank\'s e-mailed one tap or a bank sign-in).',
  }),
  created_at: Timestamp, holder_notified_at: Type.Union([Timestamp, Type.Null()]), revoked_at: Type.Union([Timestamp, Type.Null()]),
});

const LinkRequestId = Type.String({ pattern: '^lrq_[A-Za-z0-9_-]{22}$', description: 'The link_request_id from POST /v1/links.' });
const LinkId = Type.String({ pattern: '^lnk_[A-Za-z0-9_-]{22}$' });

const StartBody = Type.Object({
  bank_code: BankCode,
  method: Type.Optional(Type.Union([Method], {
    description: 'Default: the first way the policy prefers and the bank offers (secure: redirect, then pin_otp).',
  })),
  account: Type.Optional(Type.Object({
    branch_code: Type.String({ pattern: '^[0-9]{3}$' }), account_number: Type.String({ pattern: '^[0-9]{7}$' }),
  }, { additionalProperties: false, description: 'pin_otp and pin_only: the account as printed on the passbook.' })),
  pin: Type.Optional(Type.String({ pattern: '^[0-9]{4}$', description: 'pin_otp and pin_only: the 4-digit PIN; passed to the bank, never stored.' })),
  step_up_proof: Type.Optional(stepUpProofField('secure policy: a proof approved for action "link" with the bank code as destination.')),
  name_kana: Type.Optional(Type.String({
    minLength: 1, maxLength: 60,
    description: 'legacy-2020 policy only: the holder name as the customer types it, which the 2020 wallet took on trust. '
      + 'Refused under secure, where the verified identity is the only name.',
  })),
}, { additionalProperties: false });

const Started = Type.Object({
  link_request_id: Type.String(), method: Method, expires_at: Timestamp,
  authorization_url: Type.Union([Type.String(), Type.Null()], { description: 'redirect: send the customer here to sign in at the bank.' }),
  next: Type.String({ description: 'What the customer does next. pin_otp: the same words for every account and PIN.' }),
}, {
  description: 'pin_otp and pin_only: the same answer whether the account exists and the PIN is right or not, and nothing of the '
    + 'holder\'s phone (bank protocol v2): the PIN and the bank\'s code are judged together at completion.',
});

/** The same words for every account and PIN: whether the PIN was right is learnt only by the one who holds the phone. */
export const PIN_OTP_NEXT = 'If the account number and PIN are right, your bank has texted a code to the phone it holds for the '
  + 'account; no code within a few minutes: check them, or link through the bank\'s own sign-in if it offers it.';

function startedJson(s: StartedLink) {
  const next = s.request.method === 'redirect'
    ? 'Open authorization_url; the bank sends the customer back to /v1/links/callback.'
    : s.request.method === 'pin_otp'
      ? `${PIN_OTP_NEXT} Then POST /v1/links/${s.request.id}/complete with the code.`
      : `POST /v1/links/${s.request.id}/complete.`;
  return {
    link_request_id: s.request.id, method: s.request.method, expires_at: s.request.expiresAt.toISOString(),
    authorization_url: s.authorizationUrl, next,
  };
}

export function linkJson(link: BankLink, ctx: Ctx) {
  // This link's own view (its age, its confirmation); a charge counts per bank account and person (link-trust.ts).
  const trust = link.status === 'revoked' ? null : trustLimitFor({
    firstLinkedAt: link.createdAt, method: link.method, holderConfirmed: link.holderConfirmedAt !== null, clean: true,
  }, new Date(), ctx.config);
  return {
    id: link.id, bank_code: link.bankCode, branch_code: link.branchCode, account_number_masked: link.accountNumberMasked,
    method: link.method, status: link.status,
    cooling_off: trust?.stage === 'new_link' ? { daily_cap: trust.per24hYen!, ends_at: trust.nextStageAt!.toISOString() } : null,
    trust: trust && {
      stage: trust.stage, per_24h_cap: trust.per24hYen, total_cap: trust.totalYen, next_stage_at: trust.nextStageAt?.toISOString() ?? null,
    },
    holder_confirmed_at: link.holderConfirmedAt?.toISOString() ?? null,
    created_at: link.createdAt.toISOString(), holder_notified_at: link.holderNotifiedAt?.toISOString() ?? null,
    revoked_at: link.revokedAt?.toISOString() ?? null,
  };
}

function requester(request: FastifyRequest, walletId: string, personKey?: string): Requester {
  const info = clientInfo(request);
  const deviceKey = riskDeviceKey(info);
  return { walletId, ip: info.ip, ...(deviceKey ? { deviceKey } : {}), ...(personKey ? { personKey } : {}) };
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The page a browser lands on after the bank: a line of text, no script, nothing that can be framed. */
function sendPage(reply: FastifyReply, status: number, heading: string, text: string): FastifyReply {
  return reply.code(status).type('text/html; charset=utf-8')
    .header('content-security-policy', "default-src 'none'; frame-ancestors 'none'")
    .header('cache-control', 'no-store')
    .send(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>koza — ${escapeHtml(heading)}</title></head>`
      + `<body><h1>${escapeHtml(heading)}</h1><p>${escapeHtml(text)}</p></body></html>`);
}

function wantsHtml(request: FastifyRequest): boolean {
  const accept = request.headers.accept ?? '';
  return /text\/html/.test(accept) && !/application\/json/.test(accept);
}

export interface LinkRoutes {
  env: LinkEnv | null;
  directory: BankDirectory;
}

/** The link flow's services on this app: the bank client on ctx (null when no bank is configured) and a directory. */
export function linkServices(ctx: Ctx): LinkRoutes {
  return {
    env: ctx.banks && { db: ctx.db, config: ctx.config, client: ctx.banks, risk: ctx.risk },
    directory: new BankDirectory(ctx.db, ctx.banks),
  };
}

const HeldLinkSchema = Type.Object({
  link_request_id: Type.String({ examples: ['lrq_…'] }), wallet_id: Type.String(), bank_code: Type.String(), method: Method,
  state: Type.Union([Type.Literal('held'), Type.Literal('released'), Type.Literal('rejected')], {
    description: 'held: waits for an analyst (nothing was sent to the bank); released: the customer may link this bank again, '
      + 'past a review decision once within 7 days; rejected: ended, the customer was told.',
  }),
  risk_decision_id: Type.Union([Type.String(), Type.Null()], { description: 'The decision that held it (GET /v1/admin/risk/decisions/{id}).' }),
  device_key: Type.Union([Type.String(), Type.Null()], { description: 'The device it came from; a release clears the names seen on it until the hold.' }),
  bank_side: Type.Boolean({ description: 'Held after the bank vouched for the account: a release makes the link, a reject revokes it at the bank.' }),
  held_at: Timestamp, review_due_at: Timestamp, review_due_at_jst: Type.String({ examples: ['2026-12-07 10:45 JST'] }),
  reviewed_by: Type.Union([Type.String(), Type.Null()]), reviewed_at: Type.Union([Timestamp, Type.Null()]),
  review_reason: Type.Union([Type.String(), Type.Null()]),
});

function heldLinkJson(h: HeldLink) {
  const due = reviewDueAt(h.createdAt);
  return {
    link_request_id: h.id, wallet_id: h.walletId, bank_code: h.bankCode, method: h.method as LinkMethod,
    state: h.state as 'held' | 'released' | 'rejected', bank_side: h.bankSide, risk_decision_id: h.riskDecisionId, device_key: h.deviceKey,
    held_at: h.createdAt.toISOString(), review_due_at: due.toISOString(), review_due_at_jst: formatJst(due),
    reviewed_by: h.reviewedBy, reviewed_at: h.reviewedAt?.toISOString() ?? null, review_reason: h.reviewReason,
  };
}

const LINK_REVIEWERS = ['fraud_analyst', 'compliance', 'admin'] as const;

/** The analyst's end of a held link: list, release, reject (issue 11: every review has a way through). */
function registerHeldLinkRoutes(app: App, ctx: Ctx, maybeEnv: LinkEnv | null): void {
  const ReviewBody = Type.Object({
    reason: Type.String({ minLength: 3, maxLength: 500, description: 'Why: kept in the audit log and on the alert.' }),
  }, { additionalProperties: false });
  const ReleaseBody = Type.Object({
    ...ReviewBody.properties,
    household: Type.Optional(Type.Boolean({
      description: 'The device is one household (a family on one tablet): clear it for 30 days, so that another member '
        + 'who links from it later is not held again by device-many-names, while it shows at most four names.',
    })),
  }, { additionalProperties: false });
  const HeldParams = Type.Object({ id: LinkRequestId });
  const ReviewedSchema = Type.Intersect([HeldLinkSchema, Type.Object({
    link: Type.Union([LinkSchema, Type.Null()], {
      description: 'Released after the bank vouched for the account (held at completion): the link made, notifying or active. '
        + 'null when the hold came before the bank was asked (the customer links again) and for a reject.',
    }),
  })]);

  app.get('/v1/admin/links/held', {
    schema: {
      tags: ['risk'], summary: 'Bank links a risk review holds, oldest first', security: [{ operatorKey: [] }],
      querystring: Type.Object({ limit: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,2}$' })) }, { additionalProperties: false }),
      response: { 200: Type.Object({ data: Type.Array(HeldLinkSchema) }), ...problems(400, 401, 403) },
    },
  }, async (request) => {
    await requireOperator(ctx, request, [...LINK_REVIEWERS]);
    const limit = Math.min(Number(request.query.limit ?? '100'), 500);
    return { data: (await listHeldLinks(ctx.db, limit)).map(heldLinkJson) };
  });

  app.post('/v1/admin/links/:id/release', {
    schema: {
      tags: ['risk'], summary: 'Release a held bank link: the customer is e-mailed and may link the bank again, past the review once',
      description: 'Closes the holding alert as released, audits who and why (link.release), and clears the names seen on the '
        + 'device until the hold, so that a family on one tablet is not held again by device-many-names (a name new to the '
        + 'device still counts, unless household: true cleared the device as one household). The customer\'s next link to this bank within 7 days goes past a review decision (not a deny). '
        + '409 link-not-held when the request is not held (already released or rejected).',
      security: [{ operatorKey: [] }], headers: IdempotencyHeaders, params: HeldParams, body: ReleaseBody,
      response: { 200: ReviewedSchema, ...problems(400, 401, 403, 404, 409, 413, 415, 422, 429) },
    },
  }, async (request, reply) => {
    const operator = await requireOperator(ctx, request, [...LINK_REVIEWERS]);
    return runIdempotentFlow(ctx.db, ctx.config.secretKey, request, reply, { scope: operator.id }, {
      prepare: async (tx) => {
        const released = await releaseHeldLink(tx, {
          linkRequestId: request.params.id, operator, reason: request.body.reason, household: request.body.household,
        });
        // Held after the bank vouched: the link is made now, in the release's transaction.
        const link = released.bankSide ? await linkReleasedCompletion(tx, ctx, released.id) : null;
        return { released, link };
      },
      execute: async ({ released, link }) => {
        // The holder hears of the link from their bank before it can move money; a silent bank is settleLinks' to finish.
        const made = link && maybeEnv ? await ensureHolderNotified(maybeEnv, link.id).catch(() => link) : link;
        return { status: 200, body: { ...heldLinkJson(released), link: made && linkJson(made, ctx) } };
      },
    });
  });

  app.post('/v1/admin/links/:id/reject', {
    schema: {
      tags: ['risk'], summary: 'Reject a held bank link: nothing is linked, the customer is told',
      description: 'Closes the holding alert as rejected and audits who and why (link.reject). Held at the start, nothing was sent '
        + 'to the bank; held after the bank vouched, its link is revoked there (a bank that does not answer is retried by the '
        + 'link sweep). 409 link-not-held when the request is not held.',
      security: [{ operatorKey: [] }], headers: IdempotencyHeaders, params: HeldParams, body: ReviewBody,
      response: { 200: ReviewedSchema, ...problems(400, 401, 403, 404, 409, 413, 415, 422, 429) },
    },
  }, async (request, reply) => {
    const operator = await requireOperator(ctx, request, [...LINK_REVIEWERS]);
    return runIdempotentFlow(ctx.db, ctx.config.secretKey, request, reply, { scope: operator.id }, {
      prepare: (tx) => rejectHeldLink(tx, { linkRequestId: request.params.id, operator, reason: request.body.reason }),
      execute: async (rejected) => {
        // Held after the bank vouched: its link is revoked there now; a bank that does not answer is settleLinks' to retry.
        if (rejected.bankSide && maybeEnv) await revokeRejectedAtBank(maybeEnv, rejected.id).catch(() => false);
        return { status: 200, body: { ...heldLinkJson(rejected), link: null } };
      },
    });
  });
}

export function registerLinkRoutes(app: App, ctx: Ctx): void {
  const { env: maybeEnv, directory } = linkServices(ctx);
  registerHeldLinkRoutes(app, ctx, maybeEnv);
  const needEnv = (): LinkEnv => {
    if (!maybeEnv) throw new BanksNotConfigured('No bank is configured (KOZA_BANK_SANDBOX_URL).');
    return maybeEnv;
  };

  app.get('/v1/banks', {
    schema: {
      tags: ['banks'], summary: 'The partner banks and the ways each can be linked under the current policy',
      response: { 200: Type.Object({ policy: Type.String(), data: Type.Array(BankSchema) }) },
    },
  }, async () => {
    const policy = linkPolicy(ctx.config.policy);
    const banks = await directory.list();
    return {
      policy: policy.name,
      data: banks.map((b) => {
        const methods = usableMethods(policy, b.linkMethods);
        return {
          bank_code: b.code, name: b.name, name_kana: b.nameKana, link_methods: methods, status: b.status,
          ...(methods.length === 0 ? { next_step: { ...FUND_BY_TRANSFER } } : {}),
        };
      }),
    };
  });

  app.post('/v1/links', {
    schema: {
      tags: ['banks'], summary: 'Start linking a bank account (SPEC §5.3)', security: [{ session: [] }], headers: IdempotencyHeaders,
      description: 'Checked in this order: assurance level (secure: L2), an enrolled second factor, a step-up proof for action '
        + '"link" and this bank code, new links not halted, the risk decision, the method allowed and offered by the bank. '
        + 'redirect answers an authorization_url (OAuth 2.0 code + PKCE S256, pushed to the bank with the verified name and date of '
        + 'birth); pin_otp answers the same for every account number and PIN and nothing of the holder\'s phone: the bank texts '
        + 'its code to the phone it holds only when both are right, and judges PIN and code together at completion. koza '
        + 'refuses a pin link (link-tries-exhausted) to an account on which several recent completions failed, before the '
        + 'bank is asked, so that the bank never locks it through koza. After a 503 (the bank did not answer) start again '
        + 'with a new Idempotency-Key. A risk review holds the link before the bank is asked: 403 link-held-for-review with '
        + 'link_request_id and review_due_at(_jst); an analyst releases or rejects it within 24 hours and the customer is '
        + 'e-mailed; after a release the customer starts again and is not held a second time.',
      body: StartBody,
      response: { 201: Started, ...problems(400, 401, 403, 404, 409, 413, 415, 422, 423, 429, 503) },
    },
  }, async (request, reply) => {
    const session = await requireSession(ctx, request);
    const env = needEnv();
    const bank = await directory.get(request.body.bank_code);
    if (!bank) throw new BankNotFound('See GET /v1/banks for the banks koza links.');
    const who = requester(request, session.walletId, (await getVerifiedIdentity(ctx.db, session.walletId))?.personKey);
    const base = ctx.config.publicUrl ?? `${request.protocol}://${request.host}`;
    // Asked before the transaction opens: a decider may read the database, and PGlite has one connection.
    const risk = await ctx.risk({
      kind: 'link_start', walletId: who.walletId, ...(who.ip ? { ip: who.ip } : {}), ...(who.deviceKey ? { deviceKey: who.deviceKey } : {}),
      ...(who.personKey ? { personKey: who.personKey } : {}), bankCode: bank.code, attributes: { method: request.body.method ?? null, policy: ctx.config.policy },
      ...(request.body.account ? { accountRef: typedAccountRiskRef(ctx.config.secretKey, bank.code, request.body.account) } : {}),
    });
    return runIdempotentFlow(ctx.db, ctx.config.secretKey, request, reply, { scope: session.walletId, sensitive: true }, {
      // A failed bank call left nothing koza must finish: the same key may be retried.
      releaseKeyOnFailure: true,
      prepare: (tx) => prepareLinkStart(tx, env, who, {
        bank, method: request.body.method as LinkMethod | undefined, account: request.body.account, pin: request.body.pin,
        stepUpProof: request.body.step_up_proof, nameKana: request.body.name_kana, redirectUri: `${base}/v1/links/callback`, risk,
      }),
      execute: async (prepared) => ({ status: 201, body: startedJson(await executeLinkStart(env, prepared)) }),
    });
  });

  app.post('/v1/links/:id/complete', {
    schema: {
      tags: ['banks'], summary: 'Complete a pin_otp link with the bank\'s one-time code (or a pin_only link under legacy-2020)',
      description: 'The bank returns the holder\'s name and date of birth; under the secure policy they must match the verified '
        + 'identity (strong or exact kana match, equal date of birth), the account must not be linked to another wallet, and the '
        + 'bank tells the holder of the link before it becomes active. A wrong PIN or code (the bank does not say which) answers '
        + 'bank-credentials-rejected and can be retried on the same request until the bank ends it (five tries); koza refuses '
        + 'the try (link-tries-exhausted) once several recent completions on the account failed.',
      security: [{ session: [] }], headers: IdempotencyHeaders,
      params: Type.Object({ id: LinkRequestId }),
      body: Type.Object({ otp: Type.Optional(Type.String({ pattern: '^[0-9]{4,8}$' })) }, { additionalProperties: false }),
      response: { 201: LinkSchema, ...problems(400, 401, 403, 404, 409, 413, 415, 422, 423, 429, 503) },
    },
  }, async (request, reply) => {
    const session = await requireSession(ctx, request);
    const env = needEnv();
    const who = requester(request, session.walletId);
    return runIdempotentFlow(ctx.db, ctx.config.secretKey, request, reply, { scope: session.walletId }, {
      // A failed bank call left nothing koza must finish: the same key may be retried.
      releaseKeyOnFailure: true,
      prepare: (tx) => prepareOtpCompletion(tx, env, session.walletId, request.params.id, request.body.otp),
      execute: async (completion) => ({ status: 201, body: linkJson(await executeCompletion(env, completion, who), ctx) }),
    });
  });

  app.get('/v1/links/callback', {
    // The URL carries the authorization code and state: Fastify's info-level request lines would log them.
    logLevel: 'warn',
    schema: {
      tags: ['banks'], summary: 'Where the bank sends the customer back after a redirect link (the OAuth redirect_uri)',
      description: 'Checks the state, that iss is the bank that was asked (RFC 9207), and redeems the code with the PKCE verifier '
        + 'at once (codes live at most 60 s). Answers JSON, or a short HTML page to a browser that asks for text/html.',
      querystring: Type.Object({
        state: Type.String({ pattern: '^[A-Za-z0-9_-]{43}$' }),
        code: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
        iss: Type.Optional(Type.String({ maxLength: 512 })),
        error: Type.Optional(Type.String({ maxLength: 128 })),
        error_description: Type.Optional(Type.String({ maxLength: 512 })),
      }, { additionalProperties: true }),
      response: { 200: LinkSchema, ...problems(400, 404, 409, 422, 423, 503) },
    },
  }, async (request, reply) => {
    const html = wantsHtml(request);
    try {
      const env = needEnv();
      const completion = await ctx.db.transaction((tx) => prepareCallback(tx, env, request.query));
      const walletId = completion.kind === 'ended' ? '' : completion.request.walletId;
      const link = await executeCompletion(env, completion, requester(request, walletId));
      if (html) {
        return sendPage(reply, 200, 'Bank account linked', `Your account ${link.accountNumberMasked} is linked to your koza wallet. `
          + 'You can close this page and return to the app.');
      }
      return reply.code(200).send(linkJson(link, ctx));
    } catch (err) {
      if (!html || !(err instanceof KozaError)) throw err;
      const problem = toProblem(err, request.url);
      // The holder reads this in the bank's browser tab: what happened and what to do, in Japanese first, then English.
      const said = nextStepFor(problem);
      return sendPage(reply, problem.status, '口座は登録されませんでした / Not linked',
        `${said.message.ja}${said.next_step.ja} — ${problem.detail ?? problem.title} ${said.next_step.en}`);
    }
  });

  app.get('/v1/links', {
    schema: {
      tags: ['banks'], summary: 'The signed-in wallet\'s bank links, newest first (account numbers masked)', security: [{ session: [] }],
      querystring: PageQuery,
      response: { 200: pageOf(LinkSchema), ...problems(400, 401) },
    },
  }, async (request) => {
    const session = await requireSession(ctx, request);
    const page = parsePage(request.query);
    const links = await listBankLinks(ctx.db, session.walletId, page);
    return { data: links.map((l) => linkJson(l, ctx)), next_cursor: nextCursor(links, page.limit) };
  });

  app.get('/v1/links/:id', {
    schema: {
      tags: ['banks'], summary: 'One bank link of the signed-in wallet', security: [{ session: [] }],
      params: Type.Object({ id: LinkId }),
      response: { 200: LinkSchema, ...problems(400, 401, 404) },
    },
  }, async (request) => {
    const session = await requireSession(ctx, request);
    const link = await getBankLink(ctx.db, session.walletId, request.params.id);
    if (!link) throw new NotFound('The bank link does not exist.');
    return linkJson(link, ctx);
  });

  app.post('/v1/links/:id/revoke', {
    schema: {
      tags: ['banks'], summary: 'Remove a bank link: no money moves through it from now on; the bank is told',
      security: [{ session: [] }], headers: IdempotencyHeaders,
      params: Type.Object({ id: LinkId }),
      body: Type.Optional(Type.Object({}, { additionalProperties: false })),
      response: { 200: LinkSchema, ...problems(400, 401, 404, 409, 413, 415, 429, 503) },
    },
  }, async (request, reply) => {
    const session = await requireSession(ctx, request);
    const env = needEnv();
    return runIdempotentFlow(ctx.db, ctx.config.secretKey, request, reply, { scope: session.walletId }, {
      // A failed bank call left nothing koza must finish: the same key may be retried.
      releaseKeyOnFailure: true,
      prepare: (tx) => prepareRevoke(tx, session.walletId, request.params.id),
      execute: async (link) => ({ status: 200, body: linkJson(await executeRevoke(env, link), ctx) }),
    });
  });
}
