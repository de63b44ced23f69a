// What a read-only token sees of filter configurations: every value under a key that names a
// secret (api keys, JWT secrets, tokens, passwords, private keys...) replaced by "[redacted]",
// at any depth, so an operator's dashboard token cannot lift credentials the filters hold.
// A write token sees configurations whole: it may replace them anyway.

export const REDACTED = '[redacted]';

/** Key names that hold secrets, as the built-in filters and common configs spell them. */
const SECRET_KEY = /(^|[_-])(keys?|secrets?|tokens?|passwords?|passphrase|credentials?|private_?key|api_?key|client_secret|hmac)$/i;

/**
 * A copy of `value` with the values of secret-named keys redacted (numbers and booleans, such as
 * `max_keys: 100`, are no secrets and stay).
 */
export function redactSecrets<T>(value: T): T {
  if (Array.isArray(value)) return value.map(redactSecrets) as T;
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    out[key] = SECRET_KEY.test(key) && typeof inner !== 'number' && typeof inner !== 'boolean' ? REDACTED : redactSecrets(inner);
  }
  return out as T;
}
