// The admin tokens test proxies made for themselves. A manifest without admin auth gets a
// token in its state folder at the first start (host/admin/token-file.ts), as a user's would;
// startWeft reads it and records it here by admin URL, and the request helpers send it to that
// URL, the way the `weft` CLI finds it by itself. So tests about something else need not care.

const tokens = new Map<string, string>();

export function recordAdminToken(adminUrl: string, token: string): void {
  tokens.set(new URL(adminUrl).origin, token);
}

export function forgetAdminToken(adminUrl: string): void {
  tokens.delete(new URL(adminUrl).origin);
}

/** The token a test proxy made for the admin API at `url`'s origin, if any. */
export function testAdminToken(url: string): string | undefined {
  return tokens.get(new URL(url).origin);
}
