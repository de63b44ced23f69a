// A real etcd on loopback for tests: Debian's etcd-server (scripts/ensure-system-deps.sh installs
// it), with a temp data dir and free ports, stopped by its pid. It can be killed and started
// again on the same data, and started "aside": listening only on a second port the proxies do
// not know, so a test can change etcd while every proxy still finds it unreachable. With `tls`,
// it serves https and wants a client certificate from the same CA.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { noop } from 'cockatiel';
import { Etcd3 } from 'etcd3';
import { freePort } from './ports.js';

const ETCD = '/usr/bin/etcd';

/** Server certificate and key, and the CA that client certificates must chain to (files). */
export interface EtcdTls {
  ca: string;
  cert: string;
  key: string;
  /** A client certificate and key from that CA, for the helper's own client. */
  client: { cert: string; key: string };
}
const running = new Set<ChildProcess>();

// A test that crashes must not leave etcd behind.
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export class EtcdServer {
  private child: ChildProcess | undefined;
  private log = '';

  private constructor(
    private readonly dataDir: string,
    /** The port the proxies are given. */
    readonly clientPort: number,
    /** A second client port, for changes made "aside" (see startAside). */
    readonly asidePort: number,
    private readonly peerPort: number,
    private readonly tls: EtcdTls | undefined,
  ) {}

  /** A fresh etcd, listening on both client ports. */
  static async start(options: { tls?: EtcdTls } = {}): Promise<EtcdServer> {
    const server = new EtcdServer(mkdtempSync(join(tmpdir(), 'weft-etcd-')), await freePort(), await freePort(), await freePort(), options.tls);
    await server.run([server.clientPort, server.asidePort]);
    return server;
  }

  /** `http(s)://127.0.0.1:<clientPort>`, the manifests' endpoint. */
  get endpoint(): string {
    return this.url(this.clientPort);
  }

  get asideEndpoint(): string {
    return this.url(this.asidePort);
  }

  /** Starts it again on its data, on both ports. */
  restart(): Promise<void> {
    return this.run([this.clientPort, this.asidePort]);
  }

  /** Starts it again on its data, listening only on the aside port: the proxies still cannot reach it. */
  startAside(): Promise<void> {
    return this.run([this.asidePort]);
  }

  /** A client of its own (on the aside port, which is always open while etcd runs); it fails instead of retrying. */
  client(auth?: { username: string; password: string }): Etcd3 {
    const { tls } = this;
    return new Etcd3({
      hosts: this.asideEndpoint,
      faultHandling: { host: () => noop, global: noop },
      ...(tls === undefined ? {} : { credentials: { rootCertificate: readFileSync(tls.ca), certChain: readFileSync(tls.client.cert), privateKey: readFileSync(tls.client.key) } }),
      ...(auth === undefined ? {} : { auth }),
    });
  }

  /** SIGKILL, as a crash (or a host that went away) would. */
  async kill(): Promise<void> {
    const child = this.child;
    if (child === undefined) return;
    this.child = undefined;
    const exited = new Promise((resolveExit) => child.once('exit', resolveExit));
    child.kill('SIGKILL');
    await exited;
    running.delete(child);
  }

  /** Kills it and removes its data. */
  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  private async run(ports: number[]): Promise<void> {
    if (this.child !== undefined) throw new Error('etcd is already running');
    const urls = ports.map((port) => this.url(port)).join(',');
    const tls = this.tls === undefined ? [] : [`--cert-file=${this.tls.cert}`, `--key-file=${this.tls.key}`, `--trusted-ca-file=${this.tls.ca}`, '--client-cert-auth'];
    const peer = `http://127.0.0.1:${this.peerPort}`;
    const child = spawn(
      ETCD,
      [
        '--name=weft-test',
        `--data-dir=${this.dataDir}`,
        `--listen-client-urls=${urls}`,
        `--advertise-client-urls=${urls}`,
        `--listen-peer-urls=${peer}`,
        `--initial-advertise-peer-urls=${peer}`,
        `--initial-cluster=weft-test=${peer}`,
        // A shorter election gets a single member leading sooner (and makes etcd's shortest lease 1 s).
        '--heartbeat-interval=100',
        '--election-timeout=500',
        '--logger=zap',
        '--log-level=error',
        ...tls,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    running.add(child);
    this.child = child;
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.log = (this.log + chunk).slice(-4000)));
    child.once('exit', () => running.delete(child));
    await this.waitHealthy(child);
  }

  /** Until a read on the aside port (open in every mode) answers: etcd listens and has a leader. */
  private async waitHealthy(child: ChildProcess): Promise<void> {
    const deadline = Date.now() + 15_000;
    const client = this.client();
    try {
      for (;;) {
        if (child.exitCode !== null) throw new Error(`etcd exited with ${child.exitCode}: ${this.log}`);
        try {
          await client.get('health-probe').options({ deadline: Date.now() + 1000 }).exec();
          return;
        } catch {
          // not listening, or no leader yet
        }
        if (Date.now() > deadline) throw new Error(`etcd did not become healthy: ${this.log}`);
        await sleep(50);
      }
    } finally {
      client.close();
    }
  }

  private url(port: number): string {
    return `${this.tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}`;
  }
}
