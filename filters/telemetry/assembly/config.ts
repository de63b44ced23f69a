// The telemetry configuration. Every field is optional; see ../README.md.

import { JsonValue } from "../../../sdk/assembly";
import { ConfigReader } from "../../../sdk/assembly/config-reader";

export class TelemetryConfig {
  /** Response header that carries the trace id back to the client; "" = none. */
  responseHeader: string = "";
  /** The sampled flag of traces this filter starts (continued traces keep theirs). */
  sampled: bool = true;
  /** Define and record the request counters and the latency histogram. */
  metrics: bool = true;
}

/** Parses the plugin configuration (empty = every default); null with the problems in `reader`. */
export function parseConfig(config: JsonValue, reader: ConfigReader): TelemetryConfig | null {
  const parsed = new TelemetryConfig();
  if (!reader.expectObject(config, "", ["response_header", "sampled", "metrics"])) return null;
  parsed.responseHeader = reader.string(config, "", "response_header", "").toLowerCase();
  if (config.has("response_header") && !isToken(parsed.responseHeader)) {
    reader.fail("response_header", "must be a header name (letters, digits and !#$%&'*+-.^_`|~)");
  }
  parsed.sampled = reader.boolean(config, "", "sampled", true);
  parsed.metrics = reader.boolean(config, "", "metrics", true);
  return reader.ok ? parsed : null;
}

/** An HTTP token (RFC 9110 §5.6.2), the only valid header names. */
function isToken(name: string): bool {
  if (name.length == 0) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    const alnum = (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a);
    if (!alnum && !"!#$%&'*+-.^_`|~".includes(String.fromCharCode(c))) return false;
  }
  return true;
}
