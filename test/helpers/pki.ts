// A throwaway PKI for TLS tests, made with the openssl command line: a CA, and certificates it
// signs for servers (SAN 127.0.0.1 / localhost) and for clients (a SPIFFE URI SAN).

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Folders this process made for its CAs, removed when it exits. */
const made = new Set<string>();
process.on('exit', () => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

export interface Issued {
  cert: string;
  key: string;
}

export class TestCa {
  readonly cert: string;
  private readonly key: string;
  private serial = 1;

  private constructor(
    readonly dir: string,
    readonly name: string,
  ) {
    this.cert = join(dir, `${name}.crt`);
    this.key = join(dir, `${name}.key`);
    openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', this.key, '-out', this.cert, '-days', '2', '-subj', `/CN=${name}`);
  }

  static create(name = 'weft-test-ca', dir?: string): TestCa {
    if (dir === undefined) made.add((dir = mkdtempSync(join(tmpdir(), 'weft-pki-'))));
    return new TestCa(dir, name);
  }

  /** A server certificate for 127.0.0.1 and localhost, or for the subject alternative names given (`DNS:upstream.internal`). */
  server(name: string, altNames = 'DNS:localhost,IP:127.0.0.1'): Issued {
    return this.issue(name, `/CN=${name}`, `subjectAltName=${altNames}\nextendedKeyUsage=serverAuth\n`);
  }

  /** A client certificate whose identity (URI SAN) is `uri`, by default `spiffe://weft.test/<name>`. */
  client(name: string, uri = `spiffe://weft.test/${name}`): Issued {
    return this.issue(name.replaceAll('/', '_'), `/CN=${name.replaceAll('/', '_')}/O=weft`, `subjectAltName=URI:${uri}\nextendedKeyUsage=clientAuth\n`);
  }

  private issue(name: string, subject: string, extensions: string): Issued {
    const base = join(this.dir, `${name}-${this.serial}`);
    const key = `${base}.key`;
    const cert = `${base}.crt`;
    writeFileSync(`${base}.ext`, extensions);
    openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', `${base}.csr`, '-subj', subject);
    openssl('x509', '-req', '-in', `${base}.csr`, '-CA', this.cert, '-CAkey', this.key, '-set_serial', String(this.serial++), '-out', cert, '-days', '2', '-extfile', `${base}.ext`);
    return { cert, key };
  }
}

export function read(file: string): Buffer {
  return readFileSync(file);
}

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}
