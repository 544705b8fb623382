/**
 * Redis connections for the sweep queue: `redis://[user:password@]host:port[/db]` or `rediss://` (TLS),
 * checked with one PING before any queue work so that a wrong password or an unreachable server is
 * a clear error, not an endless reconnect loop. Passwords never appear in messages.
 */
import { Redis, type RedisOptions } from 'ioredis';

/** The URL with its password replaced by `***` (for messages and logs). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}

function parseRedisUrl(url: string): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`--redis: not a URL: ${redactUrl(url)} (expected redis://[user:password@]host:port or rediss://... for TLS)`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new Error(`--redis: unsupported scheme "${u.protocol}" (redis:// or rediss://)`);
  return u;
}

/** A client in the form BullMQ needs (commands wait through reconnects instead of failing). */
export function redisClient(url: string, extra: RedisOptions = {}): Redis {
  const u = parseRedisUrl(url);
  // ioredis enables TLS for rediss:// URLs; an empty tls object uses the system's CAs and checks the host name.
  return new Redis(url, { maxRetriesPerRequest: null, ...(u.protocol === 'rediss:' ? { tls: {} } : {}), ...extra });
}

/** Connect once and PING; throws a message that names the problem (authentication, refused, TLS, timeout). */
export async function checkRedis(url: string, timeoutMs = 5000): Promise<void> {
  const u = parseRedisUrl(url);
  const where = redactUrl(url);
  const probe = redisClient(url, {
    lazyConnect: true,
    retryStrategy: () => null,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
  });
  let lastError: Error | null = null;
  probe.on('error', (e: Error) => (lastError = e));
  try {
    await probe.connect();
    await probe.ping();
  } catch (e) {
    const msg = (lastError ?? (e as Error)).message;
    if (/WRONGPASS|invalid username-password|NOAUTH|AUTH failed|invalid password/i.test(msg)) {
      throw new Error(`redis ${where}: authentication failed (wrong password or ACL user${u.username ? ` "${decodeURIComponent(u.username)}"` : ''}): ${msg}`);
    }
    if (/ECONNREFUSED/.test(msg)) throw new Error(`redis ${where}: connection refused (is redis-server running and listening there?)`);
    if (/certificate|SSL|TLS|EPROTO|wrong version number/i.test(msg)) throw new Error(`redis ${where}: TLS handshake failed: ${msg}`);
    throw new Error(`redis ${where}: cannot connect: ${msg}`);
  } finally {
    probe.disconnect();
  }
}
