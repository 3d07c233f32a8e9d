import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ViolationRecord } from '../../../src/staking/records.js';
import { DEFAULT_SLASH_TABLE, DEFAULT_SLASHING, jailUntil, type SlashingPolicy, slashBps, violationId } from '../../../src/staking/slashing-policy.js';
import type { Severity, ViolationType } from '../../../src/types.js';

const HOUR = 3600_000;
const T0 = 1_700_000_000_000;
const TYPES: readonly ViolationType[] = ['downtime', 'bad_data', 'misbehavior', 'performance_threshold'];
const SEVERITIES: readonly Severity[] = ['low', 'medium', 'high', 'critical'];

function violation(type: ViolationType, severity: Severity, timestamp: number, policy: SlashingPolicy = DEFAULT_SLASHING): ViolationRecord {
  return { id: violationId('op-1', type, severity, timestamp, policy), type, severity, timestamp, description: 'test' };
}

describe('default slash table (DIN draft)', () => {
  it('downtime 0.1 % (10 bps), performance threshold 5 bps, bad data 1 % (100 bps), critical 2 % (200 bps)', () => {
    for (const s of ['low', 'medium', 'high'] as const) {
      expect(DEFAULT_SLASH_TABLE.downtime[s]).toBe(10);
      expect(DEFAULT_SLASH_TABLE.bad_data[s]).toBe(100);
    }
    for (const s of SEVERITIES) expect(DEFAULT_SLASH_TABLE.performance_threshold[s]).toBe(5);
    expect(DEFAULT_SLASH_TABLE.downtime.critical).toBe(200);
    expect(DEFAULT_SLASH_TABLE.bad_data.critical).toBe(200);
    expect(DEFAULT_SLASH_TABLE.misbehavior.critical).toBe(200);
    expect(DEFAULT_SLASHING.repeatMultiplier).toBe(5);
  });

  it('a first offence costs the table entry', () => {
    for (const type of TYPES) {
      for (const severity of SEVERITIES) {
        expect(slashBps(violation(type, severity, T0), [], DEFAULT_SLASHING)).toBe(DEFAULT_SLASH_TABLE[type][severity]);
      }
    }
  });
});

describe('slashBps: repeats', () => {
  it('multiplies by 5 per earlier violation of the same type within the window, capped at maxBps', () => {
    const earlier: ViolationRecord[] = [];
    const expected = [10, 50, 250, 1_250, 5_000, 5_000, 5_000];
    for (let i = 0; i < expected.length; i++) {
      const v = violation('downtime', 'low', T0 + i * HOUR);
      expect(slashBps(v, earlier, DEFAULT_SLASHING)).toBe(expected[i]);
      earlier.push(v);
    }
  });

  it('does not count other types', () => {
    const earlier = [violation('downtime', 'low', T0), violation('misbehavior', 'low', T0 + HOUR), violation('performance_threshold', 'low', T0 + 2 * HOUR)];
    expect(slashBps(violation('bad_data', 'medium', T0 + 3 * HOUR), earlier, DEFAULT_SLASHING)).toBe(100);
  });

  it('counts the same type across severities', () => {
    const earlier = [violation('bad_data', 'medium', T0)];
    expect(slashBps(violation('bad_data', 'high', T0 + HOUR), earlier, DEFAULT_SLASHING)).toBe(500);
  });

  it('does not count violations outside the repeat window, nor later ones, nor the same violation', () => {
    const v = violation('bad_data', 'medium', T0 + 30 * HOUR);
    const old = violation('bad_data', 'medium', T0 + 30 * HOUR - DEFAULT_SLASHING.repeatWindowMs - 1);
    const edge = violation('bad_data', 'medium', T0 + 30 * HOUR - DEFAULT_SLASHING.repeatWindowMs);
    const future = violation('bad_data', 'medium', T0 + 31 * HOUR);
    expect(slashBps(v, [old], DEFAULT_SLASHING)).toBe(100);
    expect(slashBps(v, [edge], DEFAULT_SLASHING)).toBe(500);
    expect(slashBps(v, [future], DEFAULT_SLASHING)).toBe(100);
    expect(slashBps(v, [v], DEFAULT_SLASHING)).toBe(100);
  });

  it('never exceeds maxBps and never falls below the base (property)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...TYPES),
        fc.constantFrom(...SEVERITIES),
        fc.array(fc.record({ type: fc.constantFrom(...TYPES), severity: fc.constantFrom(...SEVERITIES), ago: fc.integer({ min: 0, max: 48 * HOUR }) }), { maxLength: 30 }),
        fc.integer({ min: 1, max: 10_000 }),
        (type, severity, history, maxBps) => {
          const policy = { ...DEFAULT_SLASHING, maxBps };
          const at = T0 + 100 * HOUR;
          const v = violation(type, severity, at, policy);
          const earlier = history.map((h) => violation(h.type, h.severity, at - h.ago, policy));
          const bps = slashBps(v, earlier, policy);
          const repeats = earlier.filter((e) => e.type === type && e.id !== v.id && at - e.timestamp <= policy.repeatWindowMs).length;
          const base = policy.table[type][severity];
          expect(bps).toBe(Math.min(base * 5 ** Math.min(repeats, 10), maxBps));
          expect(bps).toBeLessThanOrEqual(maxBps);
          expect(bps).toBeGreaterThanOrEqual(Math.min(base, maxBps));
        },
      ),
    );
  });
});

describe('violationId', () => {
  it('is the same for two timestamps in the same period', () => {
    const start = Math.floor(T0 / HOUR) * HOUR;
    expect(violationId('op-1', 'downtime', 'low', start, DEFAULT_SLASHING)).toBe(violationId('op-1', 'downtime', 'low', start + HOUR - 1, DEFAULT_SLASHING));
    fc.assert(
      fc.property(fc.integer({ min: 0, max: HOUR - 1 }), fc.integer({ min: 0, max: HOUR - 1 }), (a, b) => {
        expect(violationId('op-1', 'bad_data', 'high', start + a, DEFAULT_SLASHING)).toBe(violationId('op-1', 'bad_data', 'high', start + b, DEFAULT_SLASHING));
      }),
    );
  });

  it('differs across periods, severities, types and operators', () => {
    const start = Math.floor(T0 / HOUR) * HOUR;
    const id = violationId('op-1', 'downtime', 'low', start, DEFAULT_SLASHING);
    expect(violationId('op-1', 'downtime', 'low', start - 1, DEFAULT_SLASHING)).not.toBe(id);
    expect(violationId('op-1', 'downtime', 'low', start + HOUR, DEFAULT_SLASHING)).not.toBe(id);
    expect(violationId('op-1', 'downtime', 'medium', start, DEFAULT_SLASHING)).not.toBe(id);
    expect(violationId('op-1', 'bad_data', 'low', start, DEFAULT_SLASHING)).not.toBe(id);
    expect(violationId('op-2', 'downtime', 'low', start, DEFAULT_SLASHING)).not.toBe(id);
    const ids = new Set<string>();
    for (const type of TYPES) for (const severity of SEVERITIES) ids.add(violationId('op-1', type, severity, start, DEFAULT_SLASHING));
    expect(ids.size).toBe(TYPES.length * SEVERITIES.length);
  });

  it('follows the policy period', () => {
    const policy = { ...DEFAULT_SLASHING, periodMs: 60_000 };
    const start = Math.floor(T0 / HOUR) * HOUR;
    expect(violationId('op-1', 'downtime', 'low', start, policy)).not.toBe(violationId('op-1', 'downtime', 'low', start + 60_000, policy));
    expect(violationId('op-1', 'downtime', 'low', start, policy)).toBe(violationId('op-1', 'downtime', 'low', start + 59_999, policy));
  });
});

describe('jailUntil', () => {
  it('is 0 for non-critical violations', () => {
    for (const type of TYPES) {
      for (const severity of ['low', 'medium', 'high'] as const) {
        expect(jailUntil(violation(type, severity, T0), 0, DEFAULT_SLASHING)).toBe(0);
        expect(jailUntil(violation(type, severity, T0), 5, DEFAULT_SLASHING)).toBe(0);
      }
    }
  });

  it('escalates by jailEscalation per earlier jail, capped at maxJailMs', () => {
    const v = violation('bad_data', 'critical', T0);
    const { jailMs, jailEscalation, maxJailMs } = DEFAULT_SLASHING;
    expect(jailUntil(v, 0, DEFAULT_SLASHING)).toBe(T0 + jailMs);
    expect(jailUntil(v, 1, DEFAULT_SLASHING)).toBe(T0 + jailMs * jailEscalation);
    expect(jailUntil(v, 2, DEFAULT_SLASHING)).toBe(T0 + jailMs * jailEscalation ** 2);
    expect(jailUntil(v, 40, DEFAULT_SLASHING)).toBe(T0 + maxJailMs);
    let previous = 0;
    for (let count = 0; count < 30; count++) {
      const until = jailUntil(v, count, DEFAULT_SLASHING);
      expect(until).toBeGreaterThanOrEqual(previous);
      expect(until - T0).toBeLessThanOrEqual(maxJailMs);
      expect(until - T0).toBe(Math.min(jailMs * jailEscalation ** count, maxJailMs));
      previous = until;
    }
  });

  it('follows a custom policy', () => {
    const policy = { ...DEFAULT_SLASHING, jailMs: 1_000, jailEscalation: 3, maxJailMs: 20_000 };
    const v = violation('downtime', 'critical', T0);
    expect([0, 1, 2, 3].map((c) => jailUntil(v, c, policy) - T0)).toEqual([1_000, 3_000, 9_000, 20_000]);
  });
});
