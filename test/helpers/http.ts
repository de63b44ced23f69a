// One HTTP request on a fresh connection, with the whole body read: what a test asserts on.

import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  timeoutMs?: number;
}

/** Sends one request (no keep-alive, so nothing lingers after the test). */
export function request(url: string, options: RequestOptions = {}): Promise<HttpResponse> {
  const { method = 'GET', headers = {}, body, timeoutMs = 10_000 } = options;
  return new Promise((resolveResponse, reject) => {
    const req = httpRequest(url, { method, headers, agent: false, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        resolveResponse({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** The single value of a response header (node joins repeated ones with ", "). */
export function header(response: HttpResponse, name: string): string | undefined {
  const value = response.headers[name.toLowerCase()];
  return Array.isArray(value) ? value.join(', ') : value;
}

export interface RawOptions {
  /** Speak TLS, trusting this CA (PEM). */
  tlsCa?: Buffer;
  timeoutMs?: number;
}

/**
 * Writes `raw` bytes on a fresh connection and resolves with everything the server sent back
 * until it closed the connection (or `timeoutMs` passed): for requests no HTTP client will
 * send (two Host headers, absolute-form targets, bad characters).
 */
export function rawRequest(port: number, raw: string, options: RawOptions = {}): Promise<string> {
  const { tlsCa, timeoutMs = 5000 } = options;
  return new Promise((resolveText) => {
    const socket = tlsCa === undefined ? netConnect(port, '127.0.0.1') : tlsConnect({ port, host: '127.0.0.1', ca: tlsCa });
    let text = '';
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    socket.once(tlsCa === undefined ? 'connect' : 'secureConnect', () => socket.write(raw, 'latin1'));
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    socket.on('error', () => socket.destroy());
    socket.once('close', () => {
      clearTimeout(timer);
      resolveText(text);
    });
  });
}
