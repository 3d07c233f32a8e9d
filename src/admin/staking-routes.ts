/**
 * The staking REST routes on the admin listener (DESIGN.md's contract): operators, stakes,
 * metrics history and the event log over a DINInfrastructureCore. Bodies and query strings
 * are validated with zod; every bad input is a 400 naming its field, every CoreError keeps
 * its code and gets its status from CORE_ERROR_STATUS. Amounts are decimal wei strings on
 * the wire (the admin server serializes bigints as such).
 */
import { z } from 'zod';
import { operatorUrl } from '../operator-url.js';
import { CORE_ERROR_STATUS, CoreError, type DINInfrastructureCore, type OperatorDetails, type OperatorView } from '../staking/core.js';
import type { LedgerEvent } from '../staking/records.js';
import { AdminError, type AdminRequest, type AdminResponse, type AdminServer } from './admin-server.js';

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;
/** The largest amount an EVM uint256 can hold. */
const MAX_WEI = 2n ** 256n - 1n;

const WEI_MESSAGE = 'must be a decimal string of wei (no sign, no fraction, no leading zeros)';
const DECIMAL = /^(0|[1-9][0-9]*)$/;
/** zod runs every check even after one fails: only convert what the regex accepted. */
const withinUint256 = (s: string) => !DECIMAL.test(s) || (s.length <= 78 && BigInt(s) <= MAX_WEI);

const weiString = z
  .string({ error: WEI_MESSAGE })
  .regex(DECIMAL, WEI_MESSAGE)
  .refine(withinUint256, 'must be at most 2^256 - 1 wei')
  .transform((s) => BigInt(s));

const positiveWeiString = z
  .string({ error: WEI_MESSAGE })
  .regex(DECIMAL, WEI_MESSAGE)
  .refine((s) => s !== '0', 'must be a positive decimal string of wei (greater than 0)')
  .refine(withinUint256, 'must be at most 2^256 - 1 wei')
  .transform((s) => BigInt(s));

const RegisterBody = z.strictObject({
  id: z
    .string({ error: 'must be a string' })
    .regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1-64 characters of letters, digits, ".", "_" or "-"'),
  /** Format and EIP-55 checksum are the core's call (INVALID_ADDRESS). */
  walletAddress: z.string({ error: 'must be a string' }).max(256, 'must be an address (0x + 40 hex digits)'),
  url: operatorUrl,
  chain: z
    .string({ error: 'must be a string' })
    .regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'must be lowercase letters, digits and dashes')
    .optional(),
  initialStake: weiString.optional(),
  /** Its format and validity are the core's call (INVALID_SIGNATURE). */
  signature: z.string({ error: 'must be a hex string' }).max(1024, 'must be a 65-byte hex signature').optional(),
  expiresAt: z.int({ error: 'must be an integer number of ms since epoch' }).positive('must be an integer number of ms since epoch').optional(),
});

const AmountBody = z.strictObject({ amount: positiveWeiString });

const limitParam = z
  .string()
  .regex(/^[0-9]{1,4}$/, `must be an integer from 1 to ${MAX_LIMIT}`)
  .transform(Number)
  .pipe(z.number().int().min(1, `must be an integer from 1 to ${MAX_LIMIT}`).max(MAX_LIMIT, `must be an integer from 1 to ${MAX_LIMIT}`));

/** One 400 naming every bad field, as `field: problem; other: problem`. */
function invalidInput(error: z.ZodError): AdminError {
  const problems: string[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      const prefix = issue.path.length > 0 ? `${issue.path.join('.')}.` : '';
      for (const key of issue.keys) problems.push(`${prefix}${key}: unknown field`);
      continue;
    }
    if (issue.path.length === 0 && issue.code === 'invalid_type') {
      problems.push('body: must be a JSON object');
      continue;
    }
    problems.push(`${issue.path.length > 0 ? issue.path.join('.') : 'body'}: ${issue.message}`);
  }
  return new AdminError(400, 'INVALID_INPUT', problems.join('; '));
}

function parse<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw invalidInput(result.error);
  return result.data;
}

/** `?limit=` from 1 to 1000, DEFAULT_LIMIT when absent. */
function limitOf(query: URLSearchParams): number {
  const raw = query.get('limit');
  if (raw === null || raw === '') return DEFAULT_LIMIT;
  const result = limitParam.safeParse(raw);
  if (!result.success) throw new AdminError(400, 'INVALID_INPUT', `limit: ${result.error.issues[0]?.message ?? 'invalid'}`);
  return result.data;
}

function notFound(id: string): AdminError {
  return new AdminError(404, 'OPERATOR_NOT_FOUND', `no operator "${id}"`);
}

function existingView(core: DINInfrastructureCore, id: string): OperatorView {
  const view = core.getOperator(id);
  if (view === undefined) throw notFound(id);
  return view;
}

/** An event as it goes on the wire: amounts as decimal strings, absent fields left out. */
function eventJson(e: LedgerEvent): Record<string, unknown> {
  return {
    ...e,
    amount: e.amount.toString(),
    ...(e.fromActive === undefined ? {} : { fromActive: e.fromActive.toString() }),
    ...(e.fromUnbonding === undefined ? {} : { fromUnbonding: e.fromUnbonding.toString() }),
  };
}

/** Runs a handler, turning a CoreError into an AdminError with its code and mapped status. */
function handle(fn: (req: AdminRequest) => Promise<AdminResponse> | AdminResponse) {
  return async (req: AdminRequest): Promise<AdminResponse> => {
    try {
      return await fn(req);
    } catch (err) {
      if (err instanceof CoreError) throw new AdminError(CORE_ERROR_STATUS[err.code] ?? 500, err.code, err.message);
      throw err;
    }
  };
}

/** What the gateway adds to the core's views: an operator's chain state, the chains' served heights. */
export interface StatusExtras {
  /** Fields added to an operator's view (`admitted`, `chainState`). */
  operator?(id: string): Record<string, unknown> | undefined;
  /** Fields added to `/v1/status` (`chains`). */
  status?(): Record<string, unknown>;
}

export function registerStakingRoutes(admin: AdminServer, core: DINInfrastructureCore, extras: StatusExtras = {}): void {
  const existing = (core: DINInfrastructureCore, id: string): OperatorView => {
    const view = existingView(core, id);
    const more = extras.operator?.(id);
    return more === undefined ? view : { ...view, ...more };
  };
  admin
    .route(
      'get',
      '/v1/status',
      0,
      handle(() => ({ status: 200, body: { ...core.status(), ...extras.status?.() } })),
    )
    .route(
      'get',
      '/v1/operators',
      0,
      handle(() => {
        const operators: OperatorView[] = [];
        for (const s of core.states()) if (core.getOperator(s.id) !== undefined) operators.push(existing(core, s.id));
        operators.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
        return { status: 200, body: { operators } };
      }),
    )
    .route(
      'get',
      '/v1/operators/:id',
      1,
      handle(({ params }) => ({ status: 200, body: existing(core, params[0]!) })),
    )
    .route(
      'post',
      '/v1/operators',
      0,
      handle(async ({ body }) => {
        const input = parse(RegisterBody, body);
        // The core puts an operator without a chain on its default chain.
        const details: OperatorDetails = {
          url: input.url,
          chain: input.chain,
          signature: input.signature,
          expiresAt: input.expiresAt,
        };
        await core.registerOperator(input.id, input.walletAddress, input.initialStake, details);
        return { status: 201, body: existing(core, input.id) };
      }),
    )
    .route(
      'post',
      '/v1/operators/:id/stake',
      1,
      handle(async ({ params, body, idempotencyKey }) => {
        const id = params[0]!;
        const { amount } = parse(AmountBody, body);
        await core.stake(id, amount, idempotencyKey);
        return { status: 200, body: existing(core, id) };
      }),
    )
    .route(
      'post',
      '/v1/operators/:id/unstake',
      1,
      handle(async ({ params, body, idempotencyKey }) => {
        const id = params[0]!;
        const { amount } = parse(AmountBody, body);
        await core.unstake(id, amount, idempotencyKey);
        return { status: 200, body: existing(core, id) };
      }),
    )
    .route(
      'get',
      '/v1/operators/:id/metrics',
      1,
      handle(async ({ params, query }) => {
        const id = params[0]!;
        const limit = limitOf(query);
        existing(core, id);
        return { status: 200, body: { metrics: await core.loadMetrics(id, limit) } };
      }),
    )
    .route(
      'get',
      '/v1/events',
      0,
      handle(async ({ query }) => {
        const limit = limitOf(query);
        const operator = query.get('operator');
        const operatorId = operator === null || operator === '' ? undefined : operator;
        if (operatorId !== undefined) existing(core, operatorId);
        const events = await core.events(operatorId === undefined ? { limit } : { operatorId, limit });
        return { status: 200, body: { events: events.map(eventJson) } };
      }),
    );
}
