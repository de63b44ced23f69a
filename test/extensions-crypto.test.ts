// weft.crypto.verify, the host extension filters call to check JWS signatures: called directly
// with keys generated here, for every algorithm, with good and bad signatures and bad arguments.

import assert from 'node:assert/strict';
import { createHmac, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { describe, it } from 'node:test';
import { WasmResult } from '../host/abi/enums.js';
import { cryptoVerify } from '../host/extensions/crypto.js';
import { weftForeignFunctions } from '../host/extensions/index.js';
import { base64url, signJws, type JwsAlgorithm } from './helpers/jws.js';

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
const p521 = generateKeyPairSync('ec', { namedCurve: 'P-521' });
const ed25519 = generateKeyPairSync('ed25519');
const secret = randomBytes(32);

const jwk = (key: KeyObject) => key.export({ format: 'jwk' });
const pem = (key: KeyObject) => key.export({ type: 'spki', format: 'pem' }) as string;
const octJwk = { kty: 'oct', k: secret.toString('base64url') };

/** Calls the extension with `args` (an object becomes JSON): [1], [0] or a WasmResult. */
function verify(args: unknown): number[] | WasmResult {
  const bytes = typeof args === 'string' ? Buffer.from(args) : Buffer.from(JSON.stringify(args));
  const result = cryptoVerify(new Uint8Array(bytes));
  return typeof result === 'number' ? result : [...result];
}

interface Case {
  alg: JwsAlgorithm;
  signWith: KeyObject | Buffer;
  keys: Array<[string, unknown]>;
}

const cases: Case[] = [
  { alg: 'HS256', signWith: secret, keys: [['JWK', octJwk], ['base64 secret', secret.toString('base64')]] },
  { alg: 'HS384', signWith: secret, keys: [['JWK', octJwk]] },
  { alg: 'HS512', signWith: secret, keys: [['base64url secret', secret.toString('base64url')]] },
  { alg: 'RS256', signWith: rsa.privateKey, keys: [['JWK', jwk(rsa.publicKey)], ['PEM', pem(rsa.publicKey)]] },
  { alg: 'RS384', signWith: rsa.privateKey, keys: [['JWK', jwk(rsa.publicKey)]] },
  { alg: 'RS512', signWith: rsa.privateKey, keys: [['PEM', pem(rsa.publicKey)]] },
  { alg: 'PS256', signWith: rsa.privateKey, keys: [['JWK', jwk(rsa.publicKey)], ['PEM', pem(rsa.publicKey)]] },
  { alg: 'PS512', signWith: rsa.privateKey, keys: [['JWK', jwk(rsa.publicKey)]] },
  { alg: 'ES256', signWith: p256.privateKey, keys: [['JWK', jwk(p256.publicKey)], ['PEM', pem(p256.publicKey)]] },
  { alg: 'ES384', signWith: p384.privateKey, keys: [['JWK', jwk(p384.publicKey)]] },
  { alg: 'ES512', signWith: p521.privateKey, keys: [['JWK', jwk(p521.publicKey)]] },
  { alg: 'EdDSA', signWith: ed25519.privateKey, keys: [['JWK', jwk(ed25519.publicKey)], ['PEM', pem(ed25519.publicKey)]] },
];

const signingInput = `${base64url('{"alg":"x"}')}.${base64url('{"sub":"alice"}')}`;
const data = base64url(signingInput);

describe('weft.crypto.verify', () => {
  it('is registered under its name', () => {
    assert.equal(weftForeignFunctions.get('weft.crypto.verify'), cryptoVerify);
  });

  for (const { alg, signWith, keys } of cases) {
    for (const [form, key] of keys) {
      it(`${alg} with a ${form} key: 1 for a good signature, 0 for other data or a changed signature`, () => {
        const signature = signJws(alg, signWith, signingInput);
        assert.deepEqual(verify({ alg, key, data, signature }), [1]);
        assert.deepEqual(verify({ alg, key, data: base64url(`${signingInput}x`), signature }), [0]);
        const flipped = Buffer.from(signature, 'base64url');
        flipped[0]! ^= 1;
        assert.deepEqual(verify({ alg, key, data, signature: flipped.toString('base64url') }), [0]);
        assert.deepEqual(verify({ alg, key, data, signature: '' }), [0]);
      });
    }
  }

  it('answers 0 for a signature made with another key of the same kind', () => {
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const signature = signJws('ES256', other.privateKey, signingInput);
    assert.deepEqual(verify({ alg: 'ES256', key: jwk(p256.publicKey), data, signature }), [0]);
    const otherSecret = signJws('HS256', randomBytes(32), signingInput);
    assert.deepEqual(verify({ alg: 'HS256', key: octJwk, data, signature: otherSecret }), [0]);
  });

  it('answers 0 for an ECDSA signature in DER rather than the JWS r||s form', () => {
    const der = sign('sha256', Buffer.from(signingInput), p256.privateKey).toString('base64url');
    assert.deepEqual(verify({ alg: 'ES256', key: jwk(p256.publicKey), data, signature: der }), [0]);
  });

  it('answers 0 for a signature that is not canonical base64url', () => {
    const signature = signJws('HS256', secret, signingInput);
    assert.deepEqual(verify({ alg: 'HS256', key: octJwk, data, signature: `${signature}=` }), [0]);
    assert.deepEqual(verify({ alg: 'HS256', key: octJwk, data, signature: signature.replace(/-/g, '+') + '+' }), [0]);
  });

  it('refuses keys that do not fit the algorithm with BadArgument (no algorithm confusion)', () => {
    const hmacWithPublicKey = createHmac('sha256', pem(rsa.publicKey)).update(signingInput).digest('base64url');
    assert.equal(verify({ alg: 'HS256', key: pem(rsa.publicKey), data, signature: hmacWithPublicKey }), WasmResult.BadArgument);
    assert.equal(verify({ alg: 'HS256', key: jwk(rsa.publicKey), data, signature: hmacWithPublicKey }), WasmResult.BadArgument);
    const rs = signJws('RS256', rsa.privateKey, signingInput);
    assert.equal(verify({ alg: 'RS256', key: octJwk, data, signature: rs }), WasmResult.BadArgument);
    assert.equal(verify({ alg: 'RS256', key: jwk(p256.publicKey), data, signature: rs }), WasmResult.BadArgument);
    const es = signJws('ES256', p256.privateKey, signingInput);
    assert.equal(verify({ alg: 'ES256', key: jwk(p384.publicKey), data, signature: es }), WasmResult.BadArgument);
    assert.equal(verify({ alg: 'ES256', key: jwk(rsa.publicKey), data, signature: es }), WasmResult.BadArgument);
    assert.equal(verify({ alg: 'EdDSA', key: jwk(p256.publicKey), data, signature: es }), WasmResult.BadArgument);
  });

  it('refuses RSA keys shorter than 2048 bits', () => {
    const weak = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const signature = signJws('RS256', weak.privateKey, signingInput);
    assert.equal(verify({ alg: 'RS256', key: jwk(weak.publicKey), data, signature }), WasmResult.BadArgument);
  });

  it('answers BadArgument for malformed arguments', () => {
    const signature = signJws('HS256', secret, signingInput);
    const good = { alg: 'HS256', key: octJwk, data, signature };
    assert.deepEqual(verify(good), [1]);
    const malformed: Array<[string, unknown]> = [
      ['not JSON', '{"alg":'],
      ['not an object', '["HS256"]'],
      ['JSON null', 'null'],
      ['no alg', { ...good, alg: undefined }],
      ['alg none', { ...good, alg: 'none' }],
      ['alg of the wrong case', { ...good, alg: 'hs256' }],
      ['data not base64url', { ...good, data: 'a+b/c=' }],
      ['data missing', { ...good, data: undefined }],
      ['signature not a string', { ...good, signature: 42 }],
      ['key missing', { ...good, key: undefined }],
      ['key a number', { ...good, key: 7 }],
      ['key an array', { ...good, key: [octJwk] }],
      ['key an empty secret', { ...good, key: '' }],
      ['key a JWK without k', { ...good, key: { kty: 'oct' } }],
      ['key a broken JWK', { alg: 'RS256', key: { kty: 'RSA', n: 'AQAB' }, data, signature }],
      ['key a broken PEM', { alg: 'RS256', key: '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n', data, signature }],
      ['key text that is neither PEM nor JWK', { alg: 'ES256', key: 'hello', data, signature }],
    ];
    for (const [what, args] of malformed) assert.equal(verify(args), WasmResult.BadArgument, what);
  });

  it('keeps verifying correctly past the size of its key cache', () => {
    const secrets = Array.from({ length: 300 }, () => randomBytes(32));
    const check = (key: Buffer) => verify({ alg: 'HS256', key: key.toString('base64url'), data, signature: signJws('HS256', key, signingInput) });
    for (const key of secrets) assert.deepEqual(check(key), [1]);
    assert.deepEqual(check(secrets[0]!), [1]);
    // A key evicted and imported again still rejects a signature made with another one.
    assert.deepEqual(
      verify({ alg: 'HS256', key: secrets[0]!.toString('base64url'), data, signature: signJws('HS256', secrets[1]!, signingInput) }),
      [0],
    );
  });
});
