// Which addresses a registration may send the proxy's traffic to. The registry turns a POST
// into upstream connections, so a registration must not point the proxy at itself (its own
// listener: a loop; its admin API: client traffic reaching the control plane) nor at the
// link-local range, where cloud metadata services hand out credentials (169.254.169.254 and
// friends). Loopback in general stays allowed: sidecars and local services live there.
// `discovery.allowed_networks` (CIDRs) lets an address in anyway, for setups that mean it.
//
// Names are checked as they resolve at registration (a name that later resolves elsewhere is
// not caught; list such names' networks only if you trust their DNS).

import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { HostPort } from '../config/schema.js';

export interface RegistrationPolicyOptions {
  /** The proxy's own listener and admin addresses. */
  own: ReadonlyArray<HostPort & { what: string }>;
  /** CIDRs whose addresses are allowed whatever else this policy says. */
  allowedNetworks: readonly string[];
}

/** Link-local (cloud metadata lives there) and the metadata addresses outside it. */
const FORBIDDEN = new BlockList();
FORBIDDEN.addSubnet('169.254.0.0', 16, 'ipv4');
FORBIDDEN.addSubnet('fe80::', 10, 'ipv6');
FORBIDDEN.addAddress('100.100.100.200', 'ipv4'); // Alibaba Cloud metadata
FORBIDDEN.addAddress('fd00:ec2::254', 'ipv6'); // AWS metadata over IPv6

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

const WILDCARD = new Set(['0.0.0.0', '::']);

/** Parses `a.b.c.d/n` or `x::/n`; throws with the reason. */
export function parseCidr(text: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } {
  const [address = '', bits, extra] = text.split('/');
  const version = isIP(address);
  const prefix = Number(bits);
  if (version === 0 || extra !== undefined || bits === undefined || !/^[0-9]+$/.test(bits) || prefix > (version === 4 ? 32 : 128)) {
    throw new Error(`"${text}" is not a CIDR (e.g. 10.0.0.0/8, 169.254.169.254/32, fd00::/8)`);
  }
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

export class RegistrationPolicy {
  private readonly allowed = new BlockList();

  constructor(private readonly options: RegistrationPolicyOptions) {
    for (const cidr of options.allowedNetworks) {
      const { address, prefix, family } = parseCidr(cidr);
      this.allowed.addSubnet(address, prefix, family);
    }
  }

  /** Why `address:port` may not be registered, or undefined when it may. */
  async problem(address: string, port: number): Promise<string | undefined> {
    let resolved: string[];
    if (isIP(address) !== 0) resolved = [address];
    else {
      try {
        resolved = (await lookup(address, { all: true })).map((entry) => entry.address);
      } catch {
        // A name that does not resolve now gets no traffic until it does; nothing to check yet.
        return undefined;
      }
    }
    for (const ip of resolved) {
      const reason = this.addressProblem(ip, port);
      if (reason !== undefined) return `${address}${ip === address ? '' : ` (${ip})`}:${port} ${reason}; list its network in discovery.allowed_networks to allow it`;
    }
    return undefined;
  }

  private addressProblem(ip: string, port: number): string | undefined {
    const family = isIP(ip) === 6 ? 'ipv6' : 'ipv4';
    if (this.allowed.check(ip, family)) return undefined;
    if (FORBIDDEN.check(ip, family)) return 'is link-local or a cloud metadata address';
    for (const own of this.options.own) {
      if (own.port === port && this.reaches(own.host, ip, family)) return `is this proxy's own ${own.what} address`;
    }
    return undefined;
  }

  /** Whether a connection to `ip` lands on a socket bound to `host`. */
  private reaches(host: string, ip: string, family: 'ipv4' | 'ipv6'): boolean {
    if (host === ip) return true;
    const loopback = LOOPBACK.check(ip, family);
    if (WILDCARD.has(host)) return loopback || localAddresses().has(ip);
    return loopback && (host === 'localhost' || (isIP(host) !== 0 && LOOPBACK.check(host, isIP(host) === 6 ? 'ipv6' : 'ipv4')));
  }
}

function localAddresses(): Set<string> {
  return new Set(Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((entry) => entry.address)));
}
