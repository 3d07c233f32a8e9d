import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERRORS } from '../../src/errors.js';

describe('error table', () => {
  const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');

  it.each(Object.entries(ERRORS))('documents %s with its JSON-RPC code and HTTP status', (code, spec) => {
    const row = doc.split('\n').find((line) => line.includes(`\`${code}\``));
    expect(row, `docs/errors.md has no row for ${code}`).toBeDefined();
    expect(row).toContain(String(spec.jsonRpcCode));
    expect(row).toContain(String(spec.httpStatus));
  });

  it('gives every gateway-specific error a distinct code in the server range', () => {
    const own = Object.values(ERRORS).filter((s) => s.jsonRpcCode <= -32000 && s.jsonRpcCode >= -32099).map((s) => s.jsonRpcCode);
    expect(new Set(own).size).toBe(own.length);
  });
});
