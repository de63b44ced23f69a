// What a read-only token sees of filter configurations: every value under a key that names a
// secret (api keys, JWT secrets, tokens, passwords, private keys...) replaced by "[redacted]",
// at any depth, so an operator's dashboard token cannot lift credentials the filters hold.
// A write token sees configurations whole: it may replace them anyway. A configuration given as
// JSON text (kept as text when it is not compact JSON) is redacted inside too, and comes back as
// compact JSON text; other text has no key names to go by and stays.

export const REDACTED = '[redacted]';

/** Key names that hold secrets, as the built-in filters and common configs spell them. */
const SECRET_KEY = /(^|[_-])(keys?|secrets?|tokens?|passwords?|passphrase|credentials?|private_?key|api_?key|client_secret|hmac)$/i;

/** The keys whose string values are a filter's configuration (chain entries' config and vm_config). */
const CONFIG_KEY = /^(config|vm_config)$/;

/**
 * A copy of `value` with the values of secret-named keys redacted (numbers and booleans, such as
 * `max_keys: 100`, are no secrets and stay).
 */
export function redactSecrets<T>(value: T): T {
  if (Array.isArray(value)) return value.map(redactSecrets) as T;
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    if (SECRET_KEY.test(key) && typeof inner !== 'number' && typeof inner !== 'boolean') out[key] = REDACTED;
    else if (CONFIG_KEY.test(key) && typeof inner === 'string') out[key] = redactJsonText(inner);
    else out[key] = redactSecrets(inner);
  }
  return out as T;
}

/** JSON text with its secrets redacted (compact); text that is not a JSON mapping or list as it is. */
function redactJsonText(text: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return text;
  }
  return parsed !== null && typeof parsed === 'object' ? JSON.stringify(redactSecrets(parsed)) : text;
}
