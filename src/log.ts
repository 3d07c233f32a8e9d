import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * Structured logs to stdout through pino's asynchronous destination; flushed on shutdown.
 * Secrets are redacted wherever they might appear in a logged object.
 */
export function createLogger(level: string, destination: pino.DestinationStream = pino.destination({ sync: false })): Logger {
  return pino(
    {
      level,
      base: { service: 'din-gateway' },
      redact: {
        paths: [
          'token', '*.token', 'admin.token', 'authorization', '*.authorization', 'redisUrl', '*.redisUrl',
          // API keys: a key entry, a config's key list, a key header.
          'key', '*.key', 'apiKey', '*.apiKey', 'rateLimit.apiKeys.keys[*].key', 'apiKeys.keys[*].key', 'keys[*].key', '*["x-api-key"]',
        ],
        censor: '[redacted]',
      },
    },
    destination,
  );
}
