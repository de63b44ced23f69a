// Who may talk to the admin API from a browser: the admin page itself and nothing else.
//
// DNS rebinding: a page on evil.example whose name later resolves to 127.0.0.1 reaches the
// admin port as "same origin", but its requests still say `Host: evil.example`. Only an IP
// literal (which no rebinding can produce), `localhost`, or a name the manifest lists in
// `admin.allowed_hosts` is answered; anything else gets 421 (the request reached a server that
// is not the one it named). An IP literal or localhost must carry the admin port.
//
// CSRF: a browser marks every cross-site request it lets a page send with `Origin`. One that
// is not the admin page's own origin (the scheme and the Host the request was sent to) is
// refused with 403 before any route runs. Clients that are not browsers send no Origin.

import { isIP } from 'node:net';

export interface OriginRefusal {
  status: 421 | 403;
  error: string;
}

const HOST = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+))(?::([0-9]+))?$/;

/** Undefined when Host and Origin are the admin API's own; else the refusal. */
export function checkHostAndOrigin(headers: Readonly<Record<string, string>>, adminPort: number, allowedHosts: readonly string[]): OriginRefusal | undefined {
  const host = headers['host'];
  if (host === undefined || host === '') return { status: 421, error: 'the request has no Host header' };
  const match = HOST.exec(host);
  const name = (match?.[1] ?? match?.[2])?.toLowerCase();
  const port = match?.[3] === undefined ? 80 : Number(match[3]);
  const known = name !== undefined && (allowedHosts.includes(name) || ((isIP(name) !== 0 || name === 'localhost') && port === adminPort));
  if (!known) {
    return {
      status: 421,
      error: `Host "${host}" is not this admin API's address (an IP address or localhost with port ${adminPort}); add the name to admin.allowed_hosts to reach it by name`,
    };
  }
  const origin = headers['origin'];
  if (origin !== undefined) {
    const own = [`http://${host.toLowerCase()}`, `https://${host.toLowerCase()}`];
    if (!own.includes(origin.toLowerCase())) return { status: 403, error: `Origin "${origin}" is not the admin page's own (${own[0]}): cross-site requests are refused` };
  }
  return undefined;
}
