/**
 * Keeps grafana/dashboards/din-gateway.json honest: every din_ metric it queries is one the
 * gateway exposes, every family the gateway exposes is on some panel, every panel reads the
 * provisioned datasource, and (with promtool installed) every query parses as PromQL.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLIENT_FAULTS } from '../../../src/metrics/attempt-recorder.js';
import type { Measurement } from '../../../src/metrics/measurement.js';
import { createMetricsRegistry, METRIC_FAMILIES } from '../../../src/metrics/prometheus.js';

const DATASOURCE_UID = 'din-prometheus';
const DASHBOARD_PATH = new URL('../../../grafana/dashboards/din-gateway.json', import.meta.url);

interface Datasource {
  type?: string;
  uid?: string;
}
interface Target {
  refId?: string;
  expr?: string;
  datasource?: Datasource;
}
interface Panel {
  id?: number;
  type?: string;
  title?: string;
  datasource?: Datasource | string | null;
  gridPos?: { h: number; w: number; x: number; y: number };
  targets?: Target[];
  panels?: Panel[];
}
interface Variable {
  name: string;
  type: string;
  datasource?: Datasource;
  query?: string | { query?: string };
}
interface Dashboard {
  uid?: string;
  schemaVersion?: number;
  panels?: Panel[];
  templating?: { list?: Variable[] };
  annotations?: { list?: Array<{ builtIn?: number; datasource?: Datasource; expr?: string; name?: string }> };
}

const dashboard = JSON.parse(readFileSync(DASHBOARD_PATH, 'utf8')) as Dashboard;

/** Every panel, rows' nested panels (collapsed rows keep theirs there) included. */
function allPanels(panels: readonly Panel[] = dashboard.panels ?? []): Panel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
}

/** `label_values(metric{...}, label)` and friends: the Grafana variable functions around a selector. */
const VARIABLE_FUNCTION = /^\s*(?:label_values|query_result)\s*\(([\s\S]*)\)\s*$/;

/** The PromQL inside a template variable query, or undefined for `label_values(label)` (no selector). */
function variablePromql(query: string): string | undefined {
  const fn = VARIABLE_FUNCTION.exec(query);
  if (fn === null) return query; // a plain PromQL variable query
  const inner = fn[1]!;
  if (query.trimStart().startsWith('query_result')) return inner;
  // label_values(<selector>, <label>): drop the trailing label argument.
  const comma = inner.lastIndexOf(',');
  return comma === -1 ? undefined : inner.slice(0, comma);
}

interface Query {
  where: string;
  expr: string;
}

/** Every `expr` anywhere in the dashboard (panels, rows, annotations) plus the template variable queries. */
function collectQueries(): Query[] {
  const out: Query[] = [];
  const walk = (node: unknown, where: string): void => {
    if (Array.isArray(node)) {
      node.forEach((child, i) => walk(child, `${where}[${i}]`));
      return;
    }
    if (typeof node !== 'object' || node === null) return;
    for (const [key, value] of Object.entries(node)) {
      if (key === 'templating') continue;
      if (key === 'expr' && typeof value === 'string') out.push({ where, expr: value });
      else walk(value, `${where}.${key}`);
    }
  };
  walk(dashboard, 'dashboard');
  for (const v of dashboard.templating?.list ?? []) {
    if (v.type !== 'query') continue;
    const raw = typeof v.query === 'string' ? v.query : v.query?.query;
    if (raw === undefined || raw === '') continue;
    out.push({ where: `templating.${v.name}`, expr: raw });
  }
  return out;
}

const queries = collectQueries();

/** prom-client's default Node metrics (`process_*`, `nodejs_*`) under the registry's din_ prefix. */
const DEFAULT_METRIC = /^din_(?:process|nodejs)_/;

interface Exposition {
  /** Every family name the registry exposes, with its TYPE. */
  readonly types: ReadonlyMap<string, string>;
  /** Histogram families, whose series carry _bucket/_sum/_count suffixes. */
  readonly histograms: ReadonlySet<string>;
  /** The default Node metrics actually exposed (some prom-client defaults are removed). */
  readonly defaults: ReadonlySet<string>;
}

let exposition: Promise<Exposition> | undefined;

/** What the gateway actually exposes, from a scrape of a registry over an empty measurement. */
function exposed(): Promise<Exposition> {
  exposition ??= (async () => {
    const measurement = {
      allMeters: function* () {},
      clientFaults: new Float64Array(CLIENT_FAULTS.length),
      lastCloseMs: 0,
      windowsClosed: 0,
    } as unknown as Measurement;
    const registry = createMetricsRegistry(measurement, { operatorStatuses: () => [], inflightRequests: () => 0, memoryBudget: () => ({ used: 0, limit: 1, refusals: 0 }) });
    const text = await registry.metrics();
    const types = new Map<string, string>();
    for (const match of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) types.set(match[1]!, match[2]!);
    return {
      types,
      histograms: new Set([...types].filter(([, type]) => type === 'histogram').map(([name]) => name)),
      defaults: new Set([...types.keys()].filter((name) => DEFAULT_METRIC.test(name))),
    };
  })();
  return exposition;
}

const FAMILIES: ReadonlySet<string> = new Set(METRIC_FAMILIES);

/** The din_ metric names a query reads, with histogram series suffixes folded onto their family. */
function metricNames(expr: string, histograms: ReadonlySet<string>): string[] {
  return Array.from(expr.matchAll(/\bdin_[a-z0-9_]+/g), ([name]) => {
    const suffix = /_(?:bucket|sum|count)$/.exec(name);
    if (suffix !== null) {
      const base = name.slice(0, suffix.index);
      if (histograms.has(base)) return base;
    }
    return name;
  });
}

describe('grafana/dashboards/din-gateway.json', () => {
  it('has queries to check', () => {
    expect(dashboard.uid).toBe('din-gateway');
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(queries.length).toBeGreaterThan(20);
    for (const q of queries) expect(q.expr.trim(), q.where).not.toBe('');
  });

  it('METRIC_FAMILIES lists every din_ family the registry exposes besides the default Node metrics', async () => {
    const { types, defaults } = await exposed();
    const own = [...types.keys()].filter((name) => name.startsWith('din_') && !defaults.has(name));
    expect(own.sort()).toEqual([...METRIC_FAMILIES].sort());
    expect(defaults.size).toBeGreaterThan(0);
  });

  it('queries only metrics the gateway exposes', async () => {
    const { histograms, defaults } = await exposed();
    expect(histograms.has('din_upstream_request_duration_seconds')).toBe(true);
    const unknown: string[] = [];
    for (const q of queries) {
      for (const name of metricNames(q.expr, histograms)) {
        if (!FAMILIES.has(name) && !defaults.has(name)) unknown.push(`${q.where}: ${name}`);
      }
    }
    expect(unknown, 'metric names neither in METRIC_FAMILIES nor exposed default Node metrics').toEqual([]);
  });

  it('puts every exposed family on at least one panel', async () => {
    const { histograms } = await exposed();
    const used = new Set<string>();
    for (const panel of allPanels()) {
      for (const target of panel.targets ?? []) {
        if (typeof target.expr === 'string') for (const name of metricNames(target.expr, histograms)) used.add(name);
      }
    }
    expect(METRIC_FAMILIES.filter((name) => !used.has(name)), 'families no panel queries').toEqual([]);
  });

  it('gives every panel a unique id', () => {
    const ids = allPanels().map((p) => p.id);
    for (const [i, id] of ids.entries()) expect(Number.isInteger(id), `panel #${i} id`).toBe(true);
    const duplicates = ids.filter((id, i) => ids.indexOf(id) !== i);
    expect(duplicates).toEqual([]);
  });

  it('reads the provisioned datasource everywhere', () => {
    const wrong: string[] = [];
    const check = (where: string, ds: Datasource | string | null | undefined) => {
      if (typeof ds !== 'object' || ds === null || ds.uid !== DATASOURCE_UID || ds.type !== 'prometheus') {
        wrong.push(`${where}: ${JSON.stringify(ds)}`);
      }
    };
    for (const panel of allPanels()) {
      const where = `panel ${panel.id} "${panel.title}"`;
      if (panel.type === 'row') {
        // A row has no queries of its own; it may carry a datasource only if it is ours.
        expect(panel.targets ?? [], where).toEqual([]);
        if (panel.datasource !== undefined && panel.datasource !== null) check(where, panel.datasource);
        continue;
      }
      check(where, panel.datasource);
      expect(panel.targets?.length ?? 0, `${where} has no targets`).toBeGreaterThan(0);
      for (const target of panel.targets ?? []) {
        check(`${where} target ${target.refId}`, target.datasource);
        expect(typeof target.expr === 'string' && target.expr.trim() !== '', `${where} target ${target.refId} expr`).toBe(true);
      }
    }
    for (const v of dashboard.templating?.list ?? []) if (v.type === 'query') check(`variable ${v.name}`, v.datasource);
    for (const a of dashboard.annotations?.list ?? []) if (a.builtIn !== 1) check(`annotation ${a.name}`, a.datasource);
    expect(wrong).toEqual([]);
    expect(JSON.stringify(dashboard)).not.toMatch(/\$\{?DS_/);
  });

  it('lays panels out on the 24-column grid without overlaps', () => {
    const placed = allPanels().filter((p) => p.gridPos !== undefined);
    for (const p of placed) {
      const g = p.gridPos!;
      expect(g.x >= 0 && g.w > 0 && g.x + g.w <= 24 && g.h > 0 && g.y >= 0, `panel ${p.id} gridPos ${JSON.stringify(g)}`).toBe(true);
    }
    for (const [i, a] of placed.entries()) {
      for (const b of placed.slice(i + 1)) {
        const ga = a.gridPos!;
        const gb = b.gridPos!;
        const overlap = ga.x < gb.x + gb.w && gb.x < ga.x + ga.w && ga.y < gb.y + gb.h && gb.y < ga.y + ga.h;
        expect(overlap, `panels ${a.id} and ${b.id} overlap`).toBe(false);
      }
    }
  });

  it('defines chain and operator template variables from label_values', () => {
    const vars = new Map((dashboard.templating?.list ?? []).map((v) => [v.name, v]));
    for (const name of ['chain', 'operator']) {
      const v = vars.get(name);
      expect(v?.type, name).toBe('query');
      const raw = typeof v?.query === 'string' ? v.query : v?.query?.query;
      expect(raw, name).toMatch(new RegExp(`^label_values\\(.*,\\s*${name}\\)$`));
    }
  });

  it('parses as PromQL (promtool check rules)', (ctx) => {
    const promtool = [process.env['PROMTOOL'], '/usr/bin/promtool', '/usr/local/bin/promtool'].find(
      (p): p is string => p !== undefined && p !== '' && existsSync(p),
    );
    if (promtool === undefined) {
      const message = 'promtool not found (set PROMTOOL or install it, e.g. apt-get install prometheus): PromQL syntax not checked';
      if (process.env['CI'] === 'true') throw new Error(message);
      return ctx.skip(message);
    }

    const defined = new Set((dashboard.templating?.list ?? []).map((v) => v.name));
    const builtins: Record<string, string> = {
      __rate_interval: '1m',
      __interval: '1m',
      __range: '1h',
      __interval_ms: '60000',
      __range_ms: '3600000',
      __range_s: '3600',
    };
    const undefinedVars: string[] = [];
    // $name, ${name}, ${name:format}, [[name]]: builtins become durations, dashboard variables a regex.
    const substitute = (q: Query): string =>
      q.expr.replace(/\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]/g, (whole, a?: string, b?: string, c?: string) => {
        const name = (a ?? b ?? c)!;
        if (name in builtins) return builtins[name]!;
        if (defined.has(name)) return '.*';
        undefinedVars.push(`${q.where}: ${whole}`);
        return whole;
      });

    const exprs = new Map<string, string>(); // PromQL -> where it came from (deduplicated)
    for (const q of queries) {
      const promql = q.where.startsWith('templating.') ? variablePromql(q.expr) : q.expr;
      if (promql === undefined) continue;
      const concrete = substitute({ where: q.where, expr: promql });
      if (!exprs.has(concrete)) exprs.set(concrete, q.where);
    }
    expect(undefinedVars, 'variables that are neither Grafana builtins nor dashboard variables').toEqual([]);

    const entries = [...exprs.entries()];
    const rules = [
      'groups:',
      '  - name: din-dashboard-syntax',
      '    rules:',
      // JSON strings are valid YAML double-quoted scalars.
      ...entries.flatMap(([expr], i) => [`      - record: din_dashboard:expr_${i}`, `        expr: ${JSON.stringify(expr)}`]),
      '',
    ].join('\n');
    const dir = mkdtempSync(join(tmpdir(), 'din-dashboard-'));
    try {
      const file = join(dir, 'dashboard-rules.yml');
      writeFileSync(file, rules);
      const result = spawnSync(promtool, ['check', 'rules', file], { encoding: 'utf8', timeout: 20_000 });
      const index = entries.map(([expr, where], i) => `  din_dashboard:expr_${i} (${where}): ${expr}`).join('\n');
      expect(result.error, 'running promtool').toBeUndefined();
      expect(result.status, `promtool check rules failed:\n${result.stdout}${result.stderr}\nrules:\n${index}`).toBe(0);
      expect(result.stdout).toContain(`${entries.length} rules found`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
