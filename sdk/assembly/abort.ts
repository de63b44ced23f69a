// Where AssemblyScript's `abort` goes (wired with `--use abort=sdk/assembly/abort/weftAbort`
// in asconfig.json): a failed assert, `throw`, an out-of-bounds array access or running out
// of memory logs one critical line through proxy_log, then traps. The host sees the trap,
// fails the request by the filter's on_error policy and replaces the VM.

import { proxy_log } from "./imports";
import { LogLevel } from "./types";

let aborting = false;

export function weftAbort(message: string | null, fileName: string | null, line: u32, column: u32): void {
  // Building the message allocates; if that is what failed, trap without it.
  if (!aborting) {
    aborting = true;
    let text = "abort: " + (message !== null ? message : "(no message)");
    if (fileName !== null) text += " at " + fileName + ":" + line.toString() + ":" + column.toString();
    const bytes = String.UTF8.encode(text);
    proxy_log(<u32>LogLevel.Critical, changetype<usize>(bytes), <usize>bytes.byteLength);
  }
  unreachable();
}
