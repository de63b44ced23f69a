// The auth filter through a real `weft run`: API keys, JWTs signed here with RSA, EC, Ed25519
// and HMAC keys, and external authorization against a real authorization server on loopback.
// The auth-probe fixture after auth shows what auth published for later filters.

import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FilterStartError, loadFilter } from '../host/testkit/index.js';
import { header, request, type HttpResponse } from './helpers/http.js';
import { base64url, nowSeconds, signJwt, type JwsAlgorithm, type SigningKey } from './helpers/jws.js';
import { freePort } from './helpers/ports.js';
import { builtModule, fixtureModule, repoRoot } from './helpers/repo.js';
import { EchoUpstream, type EchoedRequest } from './helpers/upstream.js';
import { runWeftExpectingExit, startWeft, type WeftProcess } from './helpers/weft.js';

const ISSUER = 'https://issuer.test';
const authModule = builtModule(join(repoRoot, 'filters', 'auth'));
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const rsaPem = generateKeyPairSync('rsa', { modulusLength: 2048 });
const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
const ed25519 = generateKeyPairSync('ed25519');
const hmacSecret = randomBytes(32);
const cookieSecret = randomBytes(32);

const publicJwk = (key: KeyObject, kid: string) => ({ ...key.export({ format: 'jwk' }), kid, use: 'sig' });

/** The signing key and kid of each algorithm the main JWT method accepts. */
const signers: Record<string, { key: SigningKey; kid: string }> = {
  RS256: { key: rsa.privateKey, kid: 'rsa-1' },
  RS512: { key: rsa.privateKey, kid: 'rsa-1' },
  PS256: { key: rsa.privateKey, kid: 'rsa-1' },
  ES256: { key: p256.privateKey, kid: 'ec-256' },
  ES384: { key: p384.privateKey, kid: 'ec-384' },
  EdDSA: { key: ed25519.privateKey, kid: 'ed-1' },
  HS256: { key: hmacSecret, kid: 'hs-1' },
  HS512: { key: hmacSecret, kid: 'hs-1' },
};

function claims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const now = nowSeconds();
  return {
    iss: ISSUER, aud: 'api', sub: 'alice', email: 'alice@example.test', roles: ['admin', 'dev'], admin: true,
    iat: now, nbf: now - 5, exp: now + 600, ...overrides,
  };
}

function token(alg: JwsAlgorithm = 'RS256', overrides: Record<string, unknown> = {}, header: Record<string, unknown> = {}): string {
  const signer = signers[alg]!;
  return signJwt(alg, signer.key, claims(overrides), { kid: signer.kid, ...header });
}

const bearer = (jwt: string) => ({ authorization: `Bearer ${jwt}` });

/**
 * An authorization service in the style of a ForwardAuth endpoint. It decides from
 * `authorization: Bearer <word>` or, failing that, x-user-id:
 *   allow-<user> / x-user-id: <user>  -> 200, x-auth-user: <user>, x-auth-extra: 1, x-not-copied: 1
 *   deny / x-user-id: mallory          -> 403 "nope" (text/plain)
 *   login                              -> 302 to /login
 *   slow                               -> 200 after 2 s
 *   anything else                      -> 401 with its own challenge
 */
class AuthServer {
  readonly seen: Array<{ method: string; path: string; headers: IncomingHttpHeaders }> = [];
  private constructor(private readonly server: Server) {}

  static async start(): Promise<AuthServer> {
    const auth = new AuthServer(createServer((req, res) => {
      auth.seen.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers });
      const word = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
      const user = word.startsWith('allow-') ? word.slice(6) : (req.headers['x-user-id'] as string | undefined) ?? '';
      if (word === 'deny' || user === 'mallory') {
        res.writeHead(403, { 'content-type': 'text/plain', 'x-auth-reason': 'listed' }).end('nope');
      } else if (word === 'login') {
        res.writeHead(302, { location: '/login' }).end();
      } else if (word === 'slow') {
        setTimeout(() => res.writeHead(200).end(), 2000).unref();
      } else if (user !== '') {
        res.writeHead(200, { 'x-auth-user': user, 'x-auth-extra': '1', 'x-not-copied': '1' }).end();
      } else {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="corp"', 'content-type': 'text/plain' }).end('who are you?');
      }
    }));
    await new Promise<void>((resolveListen) => auth.server.listen(0, '127.0.0.1', resolveListen));
    return auth;
  }

  get address(): string {
    return `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolveClose) => this.server.close(() => resolveClose()));
  }
}

function authFilterConfig(authzAddress: string, deadAddress: string) {
  const clusters = [
    { name: 'authz', endpoints: [authzAddress] },
    { name: 'authz-dead', endpoints: [deadAddress], connect_timeout_ms: 1000 },
  ];
  const config = {
    realm: 'weft-test',
    methods: {
      keys: {
        type: 'api_key',
        query: 'api_key',
        keys: [
          { key: 'alice-key', name: 'alice' },
          { sha256: createHash('sha256').update('bob-key').digest('hex'), name: 'bob' },
        ],
      },
      users: {
        type: 'jwt',
        issuer: ISSUER,
        audiences: ['api', 'admin-api'],
        jwks: {
          keys: [
            publicJwk(rsa.publicKey, 'rsa-1'),
            publicJwk(p256.publicKey, 'ec-256'),
            publicJwk(p384.publicKey, 'ec-384'),
            publicJwk(ed25519.publicKey, 'ed-1'),
          ],
        },
        keys: [
          { kid: 'hs-1', secret_base64: hmacSecret.toString('base64') },
          { kid: 'pem-1', alg: 'RS256', pem: rsaPem.publicKey.export({ type: 'spki', format: 'pem' }) },
        ],
        claims_to_headers: { sub: 'x-user-id', email: 'x-user-email' },
        strip_token: true,
      },
      session: {
        type: 'jwt',
        header: '',
        cookie: 'session',
        keys: [{ alg: 'HS256', secret_base64: cookieSecret.toString('base64') }],
        claims_to_headers: { sub: 'x-user-id' },
        strip_token: true,
      },
      writers: {
        type: 'jwt',
        keys: [{ kid: 'hs-1', alg: 'HS256', secret_base64: hmacSecret.toString('base64') }],
        required_scopes: ['write'],
      },
      authz: {
        type: 'ext_authz',
        cluster: 'authz',
        path: '/check',
        timeout_ms: 500,
        forward_headers: ['authorization', 'x-user-id'],
        upstream_headers: ['x-auth-user', 'x-auth-extra'],
        principal_header: 'x-auth-user',
      },
      'authz-down': { type: 'ext_authz', cluster: 'authz-dead' },
      'authz-open': { type: 'ext_authz', cluster: 'authz-dead', fail_open: true },
    },
    rules: [
      { prefix: '/public', methods: [] },
      { prefix: '/keys', methods: ['keys'] },
      { prefix: '/alice-only', methods: ['keys'], principals: ['alice'] },
      { prefix: '/either', methods: ['keys', 'users'], require: 'any' },
      { prefix: '/cookie', methods: ['session'] },
      { prefix: '/write', methods: ['writers'] },
      { prefix: '/ext', methods: ['authz'] },
      { prefix: '/jwt-then-ext', methods: ['users', 'authz'] },
      { prefix: '/down', methods: ['authz-down'] },
      { prefix: '/open', methods: ['authz-open'] },
    ],
    default: { methods: ['users'] },
  };
  return { clusters, config };
}

describe('the auth filter', () => {
  let web: EchoUpstream;
  let authz: AuthServer;
  let weft: WeftProcess;

  before(async () => {
    web = await EchoUpstream.start();
    authz = await AuthServer.start();
    const { clusters, config } = authFilterConfig(authz.address, `127.0.0.1:${await freePort()}`);
    weft = await startWeft({
      clusters: [{ name: 'web', endpoints: [web.address] }, ...clusters],
      default_cluster: 'web',
      filters: [
        { name: 'auth', module: builtModule(join(repoRoot, 'filters', 'auth')), config },
        { name: 'auth-probe', module: fixtureModule('auth-probe'), config: { claims: ['sub', 'email', 'roles', 'admin', 'exp'] } },
      ],
    });
  });
  after(async () => {
    await weft?.stop();
    await web?.stop();
    await authz?.stop();
  });

  /** Sends a request; returns the response and what the upstream received (undefined when it was not reached). */
  async function send(
    path: string, headers: Record<string, string> = {}, method = 'GET', body?: string,
  ): Promise<{ response: HttpResponse; upstream: EchoedRequest | undefined }> {
    const from = web.requests.length;
    const response = await request(`${weft.url}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
    return { response, upstream: web.since(from)[0] };
  }

  /** A denial by auth: status, no upstream request, flag UAEX in the access log; returns the challenge. */
  async function expectDenied(path: string, headers: Record<string, string>, status: number): Promise<{ challenge: string | undefined; body: string }> {
    const linesFor = () => weft.accessLog().filter((line) => line.path === path);
    const linesBefore = linesFor().length;
    const { response, upstream } = await send(path, headers);
    assert.equal(response.status, status, `${path}: ${response.body}`);
    assert.equal(upstream, undefined, 'the upstream must not be reached');
    await weft.waitForOutput(() => linesFor().length > linesBefore, `the access log line of ${path}`);
    const line = linesFor()[linesBefore]!;
    assert.equal(line.status, status);
    assert.equal(line.flags, 'UAEX');
    return { challenge: header(response, 'www-authenticate'), body: response.body };
  }

  const invalidToken = (description: string) =>
    `Bearer realm="weft-test", error="invalid_token", error_description="${description}"`;

  describe('JWT', () => {
    for (const alg of Object.keys(signers) as JwsAlgorithm[]) {
      it(`accepts a valid ${alg} token, forwards claims as headers and strips the token`, async () => {
        const { response, upstream } = await send('/jwt/profile', bearer(token(alg)));
        assert.equal(response.status, 200, response.body);
        assert.equal(upstream!.headers['x-user-id'], 'alice');
        assert.equal(upstream!.headers['x-user-email'], 'alice@example.test');
        assert.equal(upstream!.headers.authorization, undefined);
      });
    }

    it('accepts an RS256 token verified with a PEM key', async () => {
      const jwt = signJwt('RS256', rsaPem.privateKey, claims({ sub: 'pem-user' }), { kid: 'pem-1' });
      const { response, upstream } = await send('/jwt/pem', bearer(jwt));
      assert.equal(response.status, 200, response.body);
      assert.equal(upstream!.headers['x-user-id'], 'pem-user');
    });

    it('publishes the principal, the method and every claim as properties', async () => {
      const jwt = token('ES256', { exp: 4102444800 });
      const { upstream } = await send('/jwt/props', bearer(jwt));
      assert.equal(upstream!.headers['x-probe-principal'], 'alice');
      assert.equal(upstream!.headers['x-probe-method'], 'jwt');
      assert.equal(upstream!.headers['x-probe-claim-sub'], 'alice');
      assert.equal(upstream!.headers['x-probe-claim-email'], 'alice@example.test');
      assert.equal(upstream!.headers['x-probe-claim-roles'], 'admin,dev');
      assert.equal(upstream!.headers['x-probe-claim-admin'], 'true');
      assert.equal(upstream!.headers['x-probe-claim-exp'], '4102444800');
    });

    it('accepts a token whose audience list includes ours, and one expired within the leeway', async () => {
      assert.equal((await send('/jwt/aud', bearer(token('RS256', { aud: ['billing', 'admin-api'] })))).response.status, 200);
      assert.equal((await send('/jwt/leeway', bearer(token('RS256', { exp: nowSeconds() - 30 })))).response.status, 200);
    });

    it('refuses a missing token with 401 and a bare challenge', async () => {
      const { challenge, body } = await expectDenied('/jwt/none', {}, 401);
      assert.equal(challenge, 'Bearer realm="weft-test"');
      assert.equal(body, 'missing bearer token\n');
      // Another scheme in Authorization is no bearer token either.
      assert.equal((await expectDenied('/jwt/basic', { authorization: 'Basic YTpi' }, 401)).challenge, 'Bearer realm="weft-test"');
    });

    const refusals: Array<[string, () => string, string]> = [
      ['an expired token', () => token('RS256', { exp: nowSeconds() - 3600 }), 'token has expired'],
      ['a token not valid yet', () => token('ES256', { nbf: nowSeconds() + 3600 }), 'token is not valid yet'],
      ['a token issued in the future', () => token('EdDSA', { iat: nowSeconds() + 3600 }), 'token was issued in the future'],
      ['a token without exp', () => token('HS256', { exp: undefined }), 'token has no expiry (exp)'],
      ['a token for another audience', () => token('RS256', { aud: 'billing' }), 'audience not accepted'],
      ['a token from another issuer', () => token('ES384', { iss: 'https://evil.test' }), 'issuer not accepted'],
      ['a token signed by another key under a known kid',
        () => signJwt('RS256', generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey, claims(), { kid: 'rsa-1' }),
        'signature verification failed'],
      ['a token whose payload was changed after signing', () => {
        const [head, , signature] = token('RS256').split('.');
        return `${head}.${base64url(JSON.stringify(claims({ sub: 'root' })))}.${signature}`;
      }, 'signature verification failed'],
      ['a token with an unknown kid', () => token('RS256', {}, { kid: 'rsa-9' }), "unknown key id 'rsa-9'"],
      ['an HS256 token keyed with the RSA kid (algorithm confusion)',
        () => signJwt('HS256', Buffer.from(rsa.publicKey.export({ type: 'spki', format: 'pem' })), claims(), { kid: 'rsa-1' }),
        "key 'rsa-1' is not for HS256"],
      ['an unsigned token (alg none)', () => `${base64url('{"alg":"none"}')}.${base64url(JSON.stringify(claims()))}.`,
        'malformed token (expected header.payload.signature)'],
      ['a token with alg none and a signature', () => `${base64url('{"alg":"none"}')}.${base64url(JSON.stringify(claims()))}.AAAA`,
        "algorithm 'none' not accepted"],
      ['a token of two parts', () => 'abc.def', 'malformed token (expected header.payload.signature)'],
      ['a token whose header is not JSON', () => `${base64url('not json')}.${base64url('{}')}.AAAA`, 'malformed token header'],
      ['a token whose header is not base64url', () => 'a+b.c.d', 'malformed token header'],
    ];
    for (const [what, make, description] of refusals) {
      it(`refuses ${what} with 401 invalid_token`, async () => {
        const { challenge } = await expectDenied(`/jwt/refuse-${refusals.findIndex((r) => r[0] === what)}`, bearer(make()), 401);
        assert.equal(challenge, invalidToken(description));
      });
    }

    it('removes claim headers a client sent itself, on every route', async () => {
      const spoofed = { 'x-user-id': 'root', 'x-consumer': 'root', 'x-auth-user': 'root' };
      const { response, upstream } = await send('/public/page', spoofed);
      assert.equal(response.status, 200);
      assert.equal(upstream!.headers['x-user-id'], undefined);
      assert.equal(upstream!.headers['x-consumer'], undefined);
      assert.equal(upstream!.headers['x-auth-user'], undefined);
      assert.equal(upstream!.headers['x-probe-principal'], undefined);
      const authenticated = await send('/jwt/spoof', { ...spoofed, ...bearer(token('RS256', { sub: 'bob' })) });
      assert.equal(authenticated.upstream!.headers['x-user-id'], 'bob');
    });

    it('reads the token from a cookie and strips only that cookie', async () => {
      const jwt = signJwt('HS256', cookieSecret, claims({ sub: 'carol' }));
      const { response, upstream } = await send('/cookie/home', { cookie: `theme=dark; session=${jwt}; lang=en` });
      assert.equal(response.status, 200, response.body);
      assert.equal(upstream!.headers['x-user-id'], 'carol');
      assert.equal(upstream!.headers.cookie, 'theme=dark; lang=en');
      await expectDenied('/cookie/none', { cookie: 'theme=dark' }, 401);
      const forged = signJwt('HS256', randomBytes(32), claims({ sub: 'carol' }));
      assert.equal((await expectDenied('/cookie/forged', { cookie: `session=${forged}` }, 401)).challenge,
        invalidToken('signature verification failed'));
    });

    it('answers 403 insufficient_scope to a valid token without the required scope', async () => {
      const { challenge } = await expectDenied('/write/doc', bearer(token('HS256', { scope: 'read' })), 403);
      assert.equal(challenge, 'Bearer realm="weft-test", error="insufficient_scope", error_description="token lacks scope \'write\'", scope="write"');
      assert.equal((await send('/write/doc', bearer(token('HS256', { scope: 'read write' })))).response.status, 200);
    });
  });

  describe('API keys', () => {
    it('accepts a key from the header, names the consumer and strips the key', async () => {
      const { response, upstream } = await send('/keys/a', { 'x-api-key': 'alice-key' });
      assert.equal(response.status, 200, response.body);
      assert.equal(upstream!.headers['x-consumer'], 'alice');
      assert.equal(upstream!.headers['x-api-key'], undefined);
      assert.equal(upstream!.headers['x-probe-principal'], 'alice');
      assert.equal(upstream!.headers['x-probe-method'], 'api_key');
    });

    it('accepts a key configured as its sha256, from the query, and strips it from the path', async () => {
      const { response, upstream } = await send('/keys/b?page=2&api_key=bob-key&sort=asc');
      assert.equal(response.status, 200, response.body);
      assert.equal(upstream!.path, '/keys/b?page=2&sort=asc');
      assert.equal(upstream!.headers['x-consumer'], 'bob');
    });

    it('refuses an unknown key and a missing key with 401', async () => {
      assert.equal((await expectDenied('/keys/bad', { 'x-api-key': 'mallory-key' }, 401)).challenge,
        'ApiKey realm="weft-test", error="invalid_key", error_description="unknown API key"');
      const missing = await expectDenied('/keys/missing', {}, 401);
      assert.equal(missing.challenge, 'ApiKey realm="weft-test"');
      assert.equal(missing.body, 'missing API key\n');
    });

    it('answers 403 to a good key whose consumer is not allowed on the route', async () => {
      assert.equal((await send('/alice-only/x', { 'x-api-key': 'alice-key' })).response.status, 200);
      const { challenge, body } = await expectDenied('/alice-only/y', { 'x-api-key': 'bob-key' }, 403);
      assert.equal(challenge, undefined);
      assert.equal(body, 'not allowed here\n');
    });

    it('with require: any, takes whichever credential comes and challenges for both when none does', async () => {
      assert.equal((await send('/either/1', { 'x-api-key': 'bob-key' })).response.status, 200);
      const viaJwt = await send('/either/2', bearer(token('EdDSA')));
      assert.equal(viaJwt.response.status, 200);
      assert.equal(viaJwt.upstream!.headers['x-probe-method'], 'jwt');
      const { response } = await send('/either/3');
      assert.equal(response.status, 401);
      // One challenge per scheme (node joins repeated headers with ", ").
      assert.equal(header(response, 'www-authenticate'), 'ApiKey realm="weft-test", Bearer realm="weft-test"');
      assert.equal(response.body, 'missing API key or missing bearer token\n');
      await expectDenied('/either/4', bearer(token('RS256', { exp: nowSeconds() - 3600 })), 401);
    });
  });

  describe('external authorization', () => {
    it('allows on 2xx, copies the chosen answer headers upstream and tells the service about the request', async () => {
      const seenBefore = authz.seen.length;
      const { response, upstream } = await send('/ext/thing?q=1', { authorization: 'Bearer allow-dave', 'x-extra': 'kept' }, 'POST', 'the body');
      assert.equal(response.status, 200, response.body);
      assert.equal(upstream!.body, 'the body', 'the body held during the callout goes on');
      assert.equal(upstream!.headers['x-auth-user'], 'dave');
      assert.equal(upstream!.headers['x-auth-extra'], '1');
      assert.equal(upstream!.headers['x-not-copied'], undefined);
      assert.equal(upstream!.headers.authorization, 'Bearer allow-dave');
      assert.equal(upstream!.headers['x-probe-principal'], 'dave');
      assert.equal(upstream!.headers['x-probe-method'], 'ext_authz');
      const check = authz.seen[seenBefore]!;
      assert.equal(check.method, 'GET');
      assert.equal(check.path, '/check');
      assert.equal(check.headers['x-forwarded-method'], 'POST');
      assert.equal(check.headers['x-forwarded-uri'], '/ext/thing?q=1');
      assert.equal(check.headers.authorization, 'Bearer allow-dave');
      assert.equal(check.headers['x-extra'], undefined, 'only forward_headers reach the service');
    });

    it('passes a denial through with its status, body and chosen headers', async () => {
      const denied = await send('/ext/deny', { authorization: 'Bearer deny' });
      assert.equal(denied.response.status, 403);
      assert.equal(denied.response.body, 'nope');
      assert.equal(header(denied.response, 'content-type'), 'text/plain');
      assert.equal(header(denied.response, 'x-auth-reason'), undefined);
      await expectDenied('/ext/deny', { authorization: 'Bearer deny' }, 403);
      const unauthorized = await expectDenied('/ext/anon', {}, 401);
      assert.equal(unauthorized.challenge, 'Basic realm="corp"');
      assert.equal(unauthorized.body, 'who are you?');
      const redirect = await send('/ext/login', { authorization: 'Bearer login' });
      assert.equal(redirect.response.status, 302);
      assert.equal(header(redirect.response, 'location'), '/login');
      assert.equal(redirect.upstream, undefined);
    });

    it('runs after JWT: the service sees the verified subject and can still refuse it', async () => {
      const allowed = await send('/jwt-then-ext/a', bearer(token('RS256', { sub: 'erin' })));
      assert.equal(allowed.response.status, 200, allowed.response.body);
      assert.equal(allowed.upstream!.headers['x-user-id'], 'erin');
      assert.equal(allowed.upstream!.headers['x-auth-user'], 'erin');
      await expectDenied('/jwt-then-ext/b', bearer(token('RS256', { sub: 'mallory' })), 403);
      await expectDenied('/jwt-then-ext/c', bearer(token('RS256', { exp: nowSeconds() - 3600 })), 401);
    });

    it('answers 503 when the service is down or too slow, unless configured to fail open', async () => {
      const down = await expectDenied('/down/x', {}, 503);
      assert.equal(down.body, 'authorization service unavailable\n');
      assert.equal(down.challenge, undefined);
      const started = Date.now();
      await expectDenied('/ext/slow', { authorization: 'Bearer slow' }, 503);
      assert.ok(Date.now() - started < 1900, 'the 500 ms callout timeout applies');
      const open = await send('/open/x');
      assert.equal(open.response.status, 200);
      assert.equal(open.upstream!.headers['x-probe-method'], 'ext_authz');
    });
  });
});

describe('the auth filter configuration (test kit)', () => {
  /** Starts the auth module with `config` in the kit; the error lines it logged when it refused. */
  async function refusal(config: Record<string, unknown>): Promise<string> {
    let logged = '';
    await assert.rejects(loadFilter(authModule, { config }), (error: unknown) => {
      assert.ok(error instanceof FilterStartError, String(error));
      assert.match(error.message, /proxy_on_configure/);
      logged = error.logs.filter((line) => line.level === 'error').map((line) => line.message).join('\n');
      return true;
    });
    return logged;
  }

  // Each of these alone must refuse the configuration: a misspelt option would otherwise switch a check off.
  const refused: Array<[string, Record<string, unknown>, RegExp]> = [
    ['a misspelt option (audience for audiences)', { jwt: { audience: 'api', keys: [{ secret: 'x'.repeat(32) }] } },
      /methods\.jwt\.audience is not a known field/],
    ['an EC JWK without y', { jwt: { keys: [{ kty: 'EC', crv: 'P-256', x: 'AA' }] } }, /methods\.jwt\.keys\[0\]\.y is missing/],
    ['a PEM key without alg', { jwt: { keys: [{ pem: rsa.publicKey.export({ type: 'spki', format: 'pem' }) }] } },
      /methods\.jwt\.keys\[0\]\.alg is required for a PEM key/],
    ['a JWK whose alg does not fit it', { jwt: { jwks: { keys: [{ ...publicJwk(rsa.publicKey, 'r'), alg: 'ES256' }] } } },
      /methods\.jwt\.jwks\.keys\[0\]\.alg 'ES256' does not fit a RSA key/],
    ['a key digest that is not sha256 hex', { api_key: { keys: [{ sha256: 'abc' }] } },
      /methods\.api_key\.keys\[0\]\.sha256 must be 64 hex digits/],
    ['a rule naming an unknown method', { api_key: { keys: ['k'] }, rules: [{ prefix: '/x', methods: ['jwt'] }] },
      /rules\[0\]\.methods names an unknown method 'jwt'/],
    ['ext_authz without a cluster', { ext_authz: { path: '/check' } }, /methods\.ext_authz\.cluster is required/],
    ['no method at all', { realm: 'x' }, /no authentication methods/],
  ];
  for (const [what, config, problem] of refused) {
    it(`refuses ${what}, and says so`, async () => {
      assert.match(await refusal(config), problem);
    });
  }

  it('names every problem at once', async () => {
    const logged = await refusal({ jwt: { audience: 'api', keys: [] }, api_key: { header: '', keys: ['k'] } });
    assert.match(logged, /methods\.jwt\.audience is not a known field/);
    assert.match(logged, /methods\.jwt has no signing keys/);
    assert.match(logged, /methods\.api_key needs header or query/);
  });

  it('stops weft run', async () => {
    const { code, stderr } = await runWeftExpectingExit({
      clusters: [{ name: 'web', endpoints: ['127.0.0.1:9'] }],
      default_cluster: 'web',
      filters: [{ name: 'auth', module: builtModule(join(repoRoot, 'filters', 'auth')), config: { jwt: { audience: 'api' } } }],
    });
    assert.notEqual(code, 0);
    assert.match(stderr, /\(auth\): proxy_on_configure returned false/);
  });
});

describe('ext_authz step by step (test kit)', () => {
  const config = {
    ext_authz: { cluster: 'authz', path: '/check', upstream_headers: ['x-user-id'], principal_header: 'x-user-id' },
  };

  it('pauses the request on the check call, and resumes it with the headers of a 2xx answer', async () => {
    const filter = await loadFilter(authModule, { config, clusters: { authz: ['127.0.0.1:9'] } });
    const stream = filter.stream();
    assert.equal(stream.sendRequestHeaders({ ':method': 'POST', ':path': '/orders?x=1', ':authority': 'shop.test', authorization: 'Bearer t' }), 'pause');
    const [check] = filter.pendingHttpCalls();
    assert.equal(check?.cluster, 'authz');
    assert.equal(check.header(':path'), '/check');
    assert.equal(check.header('x-forwarded-method'), 'POST');
    assert.equal(check.header('x-forwarded-uri'), '/orders?x=1');
    assert.equal(check.header('authorization'), 'Bearer t');
    check.respond({ status: 200, headers: { 'x-user-id': 'erin' } });
    assert.deepEqual(stream.resumed, ['request']);
    assert.equal(stream.localResponse, undefined);
    assert.equal(stream.requestHeader('x-user-id'), 'erin');
    assert.equal(stream.property('weft.auth.principal'), 'erin');
    filter.close();
  });

  it('passes a denying answer on to the client', async () => {
    const filter = await loadFilter(authModule, { config, clusters: { authz: ['127.0.0.1:9'] } });
    const stream = filter.stream();
    stream.sendRequestHeaders({ ':method': 'GET', ':path': '/', ':authority': 'shop.test' });
    filter.pendingHttpCalls()[0]!.respond({ status: 403, headers: { 'content-type': 'text/plain' }, body: 'go away\n' });
    assert.equal(stream.localResponse?.status, 403);
    assert.equal(stream.localResponse?.body, 'go away\n');
    filter.close();
  });
});
