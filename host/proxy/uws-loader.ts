// Finds a uWebSockets.js binary this process can load. No single uWS build covers every
// platform Node runs on, so package.json carries several as aliased optional dependencies,
// newest first, and the first whose binary loads wins:
//
//   uws-20.57  @btc-vision/uwebsockets.js 20.57.0   Node 20, 22, 24, 25; glibc >= 2.38
//   uws-20.30  @trufflesuite/uws-js-unofficial       Node 16, 18, 20; glibc >= 2.27
//
// None has a musl build. The binary is required directly (what each package's own uws.js
// does), so a build that does not fit fails with the loader's own reason ("GLIBC_2.38 not
// found", "no binary for Node 24") rather than a package's banner or its slow JS fallback.
// When none loads, the plain listener runs on node:http (listener-engine.ts).

import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type * as Uws from 'uws-20.57';
import { HEADER_BYTES_CEILING } from './proxy-context.js';

export type UwsModule = typeof Uws;

/**
 * `splitHeadBytes`: the largest request head the build keeps when the head arrives in several
 * reads (it drops the connection past it); undefined where the build honours
 * UWS_HTTP_MAX_HEADERS_SIZE.
 */
export type UwsLoad = { ok: true; uws: UwsModule; build: string; splitHeadBytes: number | undefined } | { ok: false; reason: string };

interface UwsBuild {
  /** The alias in package.json's optionalDependencies. */
  alias: string;
  /** What the logs call it. */
  name: string;
  /** The binary for this platform and Node ABI, relative to the package's main file. */
  binary(platformArchAbi: string): string;
  /** Set where the build ignores UWS_HTTP_MAX_HEADERS_SIZE: its fixed buffer for split heads. */
  splitHeadBytes?: number;
}

const BUILDS: readonly UwsBuild[] = [
  { alias: 'uws-20.57', name: 'uWS 20.57', binary: (target) => `./uws_${target}.node` },
  // Built before uWS read UWS_HTTP_MAX_HEADERS_SIZE (its binaries do not contain the name): a
  // head over 4 KiB that arrives in several reads is dropped, whatever the environment says.
  { alias: 'uws-20.30', name: 'uWS 20.30', binary: (target) => `../binaries/uws_${target}.node`, splitHeadBytes: 4096 },
];

let outcome: UwsLoad | undefined;

/** The first build that loads here (tried once per process), or why none did. */
export function loadUws(): UwsLoad {
  return (outcome ??= tryBuilds());
}

function tryBuilds(): UwsLoad {
  // uWS reads its header buffer size from the environment once, when the binary loads, and its
  // default (4 KiB) drops connections whose headers arrive in several reads and exceed it.
  process.env.UWS_HTTP_MAX_HEADERS_SIZE ??= String(HEADER_BYTES_CEILING);
  const require = createRequire(import.meta.url);
  const target = `${process.platform}_${process.arch}_${process.versions.modules}`;
  const failures: string[] = [];
  for (const build of BUILDS) {
    let main: string;
    try {
      main = require.resolve(build.alias);
    } catch {
      failures.push(`${build.name}: not installed`);
      continue;
    }
    const file = join(dirname(main), build.binary(target));
    try {
      return { ok: true, uws: require(file) as UwsModule, build: build.name, splitHeadBytes: build.splitHeadBytes };
    } catch (error) {
      failures.push(`${build.name}: ${whyNot(error, file)}`);
    }
  }
  return { ok: false, reason: failures.join('; ') };
}

/** The part of a load error a user can act on. */
function whyNot(error: unknown, file: string): string {
  const code = (error as NodeJS.ErrnoException).code;
  const major = process.versions.node.split('.')[0];
  if (code === 'MODULE_NOT_FOUND') return `no binary for Node ${major} (ABI ${process.versions.modules}) on ${process.platform}-${process.arch}`;
  const message = error instanceof Error ? error.message : String(error);
  const glibc = /`(GLIBC_[\d.]+)' not found/.exec(message);
  if (glibc !== null) return `${glibc[1]} not found`;
  // dlopen names the file and the library at length; the first line without paths is enough.
  return message.split('\n')[0]!.replaceAll(file, 'binary').replace(/\s*\((required|needed) by [^)]*\)/g, '');
}
