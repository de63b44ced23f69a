// Who the client is, as far as the proxy can know it (Envoy's use_remote_address with
// xff_num_trusted_hops). With no trusted hops (the default) the client is the peer of the
// connection, and what the client wrote in X-Forwarded-For, Forwarded or X-Real-IP is dropped:
// an upstream that reads the leftmost X-Forwarded-For address must not get one the client
// chose. With N trusted hops (load balancers in front of Weft, each appending the address it
// saw), the last N X-Forwarded-For entries are theirs, the leftmost of them is the client, and
// Forwarded / X-Real-IP are kept.
//
// Filters see the result: `x-forwarded-for` ends with the peer, `source.address` is the client.

import { removeRequestHeaders } from './headers.js';

const CLIENT_CLAIMS = new Set(['forwarded', 'x-real-ip']);
const isForwardedFor = (name: string): boolean => name === 'x-forwarded-for';
const isForwarding = (name: string): boolean => name === 'x-forwarded-for' || CLIENT_CLAIMS.has(name);

/** Rewrites the request's forwarding headers in place; returns the client address. */
export function settleForwardedFor(flat: string[], peer: string, trustedHops: number): string {
  if (trustedHops === 0) {
    removeRequestHeaders(flat, isForwarding);
    flat.push('x-forwarded-for', peer);
    return peer;
  }
  let received = '';
  for (let i = 8; i < flat.length; i += 2) {
    if (flat[i] === 'x-forwarded-for') received = received === '' ? flat[i + 1]! : `${received},${flat[i + 1]!}`;
  }
  removeRequestHeaders(flat, isForwardedFor);
  const hops = received.split(',').map((hop) => hop.trim()).filter((hop) => hop !== '');
  const trusted = hops.slice(-trustedHops);
  flat.push('x-forwarded-for', [...trusted, peer].join(', '));
  // Fewer entries than trusted hops: the chain of proxies is not what was configured; trust only the peer.
  return hops.length >= trustedHops ? trusted[0]! : peer;
}
