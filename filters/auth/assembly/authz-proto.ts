// envoy.service.auth.v3.Authorization/Check over gRPC: the CheckRequest the auth filter sends
// and what it reads of the CheckResponse. Field numbers are Envoy's (api/envoy/service/auth/v3/
// external_auth.proto and attribute_context.proto, api/envoy/config/core/v3/base.proto,
// api/envoy/type/v3/http_status.proto, google/rpc/status.proto).

import { Header, requestHeaders } from "../../../sdk/assembly";
import { ProtoReader, ProtoWriter } from "./protobuf";

export const AUTHORIZATION_SERVICE = "envoy.service.auth.v3.Authorization";
export const CHECK_METHOD = "Check";

/**
 * CheckRequest { AttributeContext attributes = 1 }
 * AttributeContext { Request request = 4 }
 * AttributeContext.Request { HttpRequest http = 2 }
 * AttributeContext.HttpRequest { string method = 2; map<string, string> headers = 3; string path = 4;
 *   string host = 5; string scheme = 6; string protocol = 10 }
 * (a map entry is a message { key = 1; value = 2 }).
 */
export function encodeCheckRequest(): ArrayBuffer {
  const http = new ProtoWriter();
  http.stringField(2, valueOr(requestHeaders.get(":method")));
  const headers = requestHeaders.pairs();
  for (let i = 0; i < headers.length; i++) {
    http.messageField(3, new ProtoWriter().stringField(1, headers[i].key).stringField(2, headers[i].value));
  }
  http.stringField(4, valueOr(requestHeaders.get(":path")));
  http.stringField(5, valueOr(requestHeaders.get(":authority")));
  http.stringField(6, valueOr(requestHeaders.get(":scheme")));
  http.stringField(10, "HTTP/1.1");
  const request = new ProtoWriter().messageField(2, http);
  const attributes = new ProtoWriter().messageField(4, request);
  return new ProtoWriter().messageField(1, attributes).finish();
}

/** What the filter uses of a CheckResponse. */
export class CheckResponse {
  /** status.code (google.rpc.Status { int32 code = 1 }): 0 = OK allows. */
  code: i32 = 0;
  /** denied_response.status.code (HttpStatus { code = 1 }); 0 = not given (Envoy then answers 403). */
  deniedStatus: u32 = 0;
  deniedHeaders: Array<Header> = new Array<Header>();
  deniedBody: string = "";
  /** ok_response.headers: added to the upstream request. */
  okHeaders: Array<Header> = new Array<Header>();
  malformed: bool = false;
}

/**
 * CheckResponse { google.rpc.Status status = 1; DeniedHttpResponse denied_response = 2;
 *   OkHttpResponse ok_response = 3 }
 * DeniedHttpResponse { HttpStatus status = 1; repeated HeaderValueOption headers = 2; string body = 3 }
 * OkHttpResponse { repeated HeaderValueOption headers = 2 }
 * HeaderValueOption { HeaderValue header = 1 }; HeaderValue { string key = 1; string value = 2 }
 */
export function decodeCheckResponse(message: ArrayBuffer): CheckResponse {
  const out = new CheckResponse();
  const reader = new ProtoReader(message);
  while (reader.next()) {
    if (reader.wireType != 2) continue;
    if (reader.field == 1) {
      const status = new ProtoReader(reader.bytes);
      while (status.next()) if (status.field == 1 && status.wireType == 0) out.code = <i32>status.varint;
      out.malformed = out.malformed || status.malformed;
    } else if (reader.field == 2) {
      const denied = new ProtoReader(reader.bytes);
      while (denied.next()) {
        if (denied.field == 1 && denied.wireType == 2) {
          const httpStatus = new ProtoReader(denied.bytes);
          while (httpStatus.next()) if (httpStatus.field == 1 && httpStatus.wireType == 0) out.deniedStatus = <u32>httpStatus.varint;
        } else if (denied.field == 2 && denied.wireType == 2) {
          readHeaderOption(denied.bytes, out.deniedHeaders);
        } else if (denied.field == 3 && denied.wireType == 2) {
          out.deniedBody = denied.string();
        }
      }
      out.malformed = out.malformed || denied.malformed;
    } else if (reader.field == 3) {
      const ok = new ProtoReader(reader.bytes);
      while (ok.next()) if (ok.field == 2 && ok.wireType == 2) readHeaderOption(ok.bytes, out.okHeaders);
      out.malformed = out.malformed || ok.malformed;
    }
  }
  out.malformed = out.malformed || reader.malformed;
  return out;
}

function readHeaderOption(option: ArrayBuffer, into: Array<Header>): void {
  const reader = new ProtoReader(option);
  while (reader.next()) {
    if (reader.field != 1 || reader.wireType != 2) continue;
    const header = new ProtoReader(reader.bytes);
    let key = "";
    let value = "";
    while (header.next()) {
      if (header.wireType != 2) continue;
      if (header.field == 1) key = header.string().toLowerCase();
      else if (header.field == 2) value = header.string();
    }
    if (key.length > 0) into.push(new Header(key, value));
  }
}

function valueOr(value: string | null): string {
  return value === null ? "" : value;
}
