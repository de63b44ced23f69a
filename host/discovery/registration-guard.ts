// Which addresses an instance may be registered at. A registration makes the proxy forward
// client traffic to an address, so a caller that can register (a leaked register token, a web
// page through an operator's browser) must not point it at the proxy itself (a loop, or client
// requests delivered to the admin API) or at link-local and cloud metadata addresses (credentials
// of the machine). Such addresses are refused unless discovery.allowed_networks lists them. Host
// names are resolved at registration and every address they resolve to is checked.

import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { HostPort } from '../config/schema.js';
import { isLoopback } from '../net/address.js';

/** Link-local (where cloud metadata services live), "this network", and the metadata addresses outside those ranges. */
const GUARDED = new BlockList();
GUARDED.addSubnet('169.254.0.0', 16, 'ipv4');
GUARDED.addSubnet('0.0.0.0', 8, 'ipv4');
GUARDED.addAddress('100.100.100.200', 'ipv4'); // Alibaba Cloud metadata
GUARDED.addSubnet('fe80::', 10, 'ipv6');
GUARDED.addAddress('fd00:ec2::254', 'ipv6'); // AWS metadata over IPv6

export interface RegistrationGuardOptions {
  /** The proxy's own listeners and admin API: an instance there would loop back into the proxy. */
  ownAddresses: readonly HostPort[];
  /** CIDRs (`10.0.0.0/8`, `169.254.169.254/32`) where registrations are allowed whatever the rules above say. */
  allowedNetworks: readonly string[];
}

export class RegistrationGuard {
  private readonly allowed = new BlockList();

  constructor(private readonly options: RegistrationGuardOptions) {
    for (const network of options.allowedNetworks) {
      const [address, bits] = network.split('/') as [string, string];
      this.allowed.addSubnet(address, Number(bits), isIP(address) === 6 ? 'ipv6' : 'ipv4');
    }
  }

  /** Why an instance may not be registered at `address`:`port`, or undefined when it may. */
  async problem(address: string, port: number): Promise<string | undefined> {
    let resolved: string[];
    try {
      resolved = isIP(address) !== 0 ? [address] : (await lookup(address, { all: true })).map((entry) => entry.address);
    } catch (error) {
      return `${address} does not resolve (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`;
    }
    for (const ip of resolved) {
      const family = isIP(ip) === 6 ? 'ipv6' : 'ipv4';
      if (this.allowed.check(ip, family)) continue;
      const via = ip === address ? '' : ` (${address} resolves to ${ip})`;
      if (GUARDED.check(ip, family)) return `${ip}${via} is a link-local or cloud metadata address; list it in discovery.allowed_networks to allow it`;
      if (this.isOwn(ip, port)) return `${ip}:${port}${via} is this proxy's own listener or admin API; list it in discovery.allowed_networks to allow it`;
    }
    return undefined;
  }

  /** Whether ip:port reaches one of this proxy's own sockets. */
  private isOwn(ip: string, port: number): boolean {
    return this.options.ownAddresses.some((own) => {
      if (own.port !== port) return false;
      if (own.host === ip) return true;
      const wildcard = own.host === '0.0.0.0' || own.host === '::';
      // A wildcard listener answers on every local address; a loopback one on every loopback address.
      return (wildcard && (isLoopback(ip) || isLocalAddress(ip))) || (isLoopback(own.host) && isLoopback(ip));
    });
  }
}

function isLocalAddress(ip: string): boolean {
  return Object.values(networkInterfaces()).some((addresses) => addresses?.some((entry) => entry.address === ip));
}
