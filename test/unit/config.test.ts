import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/config.js';

describe('parseConfig', () => {
  it('fills every default and freezes the result', () => {
    const config = parseConfig({});
    expect(config.rpc).toEqual({ host: '127.0.0.1', port: 8545 });
    expect(config.admin).toMatchObject({ host: '127.0.0.1', port: 9545 });
    expect(config.windowSeconds).toBe(10);
    expect(config.limits.maxBodyBytes).toBe(5 * 1024 * 1024);
    expect(config.redisUrl).toBeUndefined();
    expect(Object.isFrozen(config.upstream)).toBe(true);
  });

  it('applies the DIN_* environment over the file', () => {
    const config = parseConfig(
      { rpc: { port: 1 }, windowSeconds: 30 },
      { DIN_RPC_PORT: '8000', DIN_ADMIN_PORT: '8001', DIN_REDIS_URL: 'redis://127.0.0.1:6379/2', DIN_ADMIN_TOKEN: 'a-token-of-16-chars', DIN_LOG_LEVEL: 'warn', DIN_WINDOW_SECONDS: '5' },
    );
    expect(config.rpc.port).toBe(8000);
    expect(config.admin.port).toBe(8001);
    expect(config.admin.token).toBe('a-token-of-16-chars');
    expect(config.redisUrl).toBe('redis://127.0.0.1:6379/2');
    expect(config.logLevel).toBe('warn');
    expect(config.windowSeconds).toBe(5);
  });

  it('names every bad field at once', () => {
    try {
      parseConfig({ rpc: { port: 70000 }, typo: true, operators: [{ id: 'a b', url: 'http://x' }, { id: 'ok', url: 'http://y', stake: '1.5' }] }, { DIN_WINDOW_SECONDS: 'ten' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const problems = (err as ConfigError).problems.join('\n');
      for (const field of ['DIN_WINDOW_SECONDS', 'rpc.port', '(root)', 'operators.0.id', 'operators.1.stake']) expect(problems).toContain(field);
    }
  });

  it('turns per-IP rate limiting on by default, with keys optional and the heavy methods dearer', () => {
    const rl = parseConfig({}).rateLimit;
    expect(rl).toMatchObject({ enabled: true, store: 'auto', perIp: { enabled: true, rate: 1000, burst: 5000 }, trustedProxyHops: 0 });
    expect(rl.apiKeys).toEqual({ required: false, header: 'x-api-key', keys: [] });
    expect(rl.costs).toEqual({ default: 1, methods: { eth_getLogs: 10 }, prefixes: { debug_: 25, trace_: 25 } });
  });

  it('refuses duplicate, malformed or missing API keys without printing any key', () => {
    const secret = 'the-secret-key-0123456789';
    try {
      parseConfig({
        rateLimit: {
          apiKeys: {
            required: true,
            keys: [
              { key: secret, name: 'a' },
              { key: secret, name: 'a' },
              { key: 'short', name: 'b' },
              { key: `${secret}/x`, name: 'c' },
            ],
          },
        },
      });
      expect.unreachable();
    } catch (err) {
      const problems = (err as ConfigError).problems.join('\n');
      for (const field of ['rateLimit.apiKeys.keys.2.key', 'rateLimit.apiKeys.keys.3.key']) expect(problems).toContain(field);
      expect(problems).not.toContain(secret);
    }
    try {
      parseConfig({ rateLimit: { apiKeys: { keys: [{ key: secret, name: 'a' }, { key: secret, name: 'a' }] } } });
      expect.unreachable();
    } catch (err) {
      const problems = (err as ConfigError).problems.join('\n');
      expect(problems).toContain('rateLimit.apiKeys.keys.1.key: the same key as an earlier entry');
      expect(problems).toContain('rateLimit.apiKeys.keys.1.name: duplicate key name "a"');
      expect(problems).not.toContain(secret);
    }
    expect(() => parseConfig({ rateLimit: { apiKeys: { required: true } } })).toThrow(/needs at least one key/);
  });

  it('refuses a CORS origin that would break the header it is sent in', () => {
    for (const allowOrigin of ['https://a.example\r\nx-injected: 1', 'https://a.example\n', 'a b', '']) {
      expect(() => parseConfig({ cors: { allowOrigin } }), JSON.stringify(allowOrigin)).toThrow(/cors\.allowOrigin/);
    }
    expect(parseConfig({ cors: { allowOrigin: 'https://app.example:8443' } }).cors.allowOrigin).toBe('https://app.example:8443');
  });

  it('refuses duplicate operator ids', () => {
    expect(() => parseConfig({ operators: [{ id: 'a', url: 'http://x' }, { id: 'a', url: 'http://y' }] })).toThrow(/duplicate operator id/);
  });
});

describe('config.example.json', () => {
  it('is a valid config, as the README promises', async () => {
    const { loadConfig } = await import('../../src/config.js');
    const config = loadConfig(new URL('../../config.example.json', import.meta.url).pathname, {});
    expect(config.operators.map((o) => o.id)).toEqual(['alpha', 'beta', 'gamma']);
  });
});
