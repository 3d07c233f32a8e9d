/**
 * `din-gateway start` runs through the first line of src/cli.ts (`#!/usr/bin/env -S node FLAGS`):
 * the V8 flags there must reach node, and `npm start` must pass the same ones.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { describe, expect, it } from 'vitest';

const shebang = readFileSync('src/cli.ts', 'utf8').split('\n', 1)[0]!;
const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> };

describe('the CLI\'s interpreter line', () => {
  it('is env -S node with flags, and npm start passes the same flags', () => {
    const m = /^#!\/usr\/bin\/env -S node( .+)$/.exec(shebang);
    expect(m, shebang).not.toBeNull();
    const flags = m![1]!.trim();
    expect(flags).toContain('--min-semi-space-size=');
    expect(pkg.scripts['start']).toBe(`node ${flags} dist/cli.js demo`);
  });

  it('runs as the kernel runs it: node starts with the young generation at its full size', () => {
    // What execve does with the line: the interpreter, then the rest as one argument (which env -S splits).
    const line = shebang.slice(2);
    const space = line.indexOf(' ');
    const [interpreter, rest] = [line.slice(0, space), line.slice(space + 1)];
    const probe = "const s=require('v8').getHeapSpaceStatistics().find((x)=>x.space_name==='new_space');console.log(s.space_size)";
    // env finds `node` on PATH: this test's node first.
    const run = spawnSync(interpreter, [rest, '-e', probe], { encoding: 'utf8', env: { ...process.env, PATH: `${dirname(process.execPath)}:${process.env['PATH']}` } });
    expect(run.status, run.stderr).toBe(0);
    const semiSpaceMiB = Number(/--min-semi-space-size=(\d+)/.exec(shebang)![1]);
    // new_space's size is one semi-space (V8 11): at its minimum from the start, not 1-2 MiB growing later.
    expect(Number(run.stdout.trim())).toBeGreaterThanOrEqual(semiSpaceMiB * 1024 * 1024);
    const plain = spawnSync(process.execPath, ['-e', probe], { encoding: 'utf8' });
    expect(Number(plain.stdout.trim())).toBeLessThan(semiSpaceMiB * 1024 * 1024);
  });
});
