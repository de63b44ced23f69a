;; grpc-auth-random: the Rust SDK's examples/grpc_auth_random (proxy-wasm-rust-sdk 0.2.x) ported
;; to the raw ABI, host call for host call, because no Rust wasm toolchain is available here.
;; It imports what that build imports for this logic, with the 0.2.1 signatures, and keeps its
;; SDK's bookkeeping: the gRPC token is remembered with the context that made the call, and
;; the callback makes that context current again (proxy_set_effective_context) before acting.
;; A non-Ok answer from a host call the Rust code unwrap()s traps, as its panic would.
;;
;; - request headers: content-type not starting with "application/grpc" -> local 503
;;   "Service accessible only to gRPC clients.\n" with Powered-By: proxy-wasm, Pause;
;;   :path starting with "/grpc.reflection" -> Continue; otherwise
;;   dispatch_grpc_call("grpcbin", "grpcbin.GRPCBin", "RandomError", [], None, 1 s), Pause.
;; - the answer (on_grpc_call_response): proxy_on_grpc_receive = status 0, proxy_on_grpc_close =
;;   its status. Even: log "Access granted." and resume the request. Odd: log "Access forbidden."
;;   and send_grpc_response(Aborted, "Aborted by Proxy-Wasm!", [Powered-By: proxy-wasm]).
;; - response headers: set Powered-By: proxy-wasm.
(module
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_value" (func $get_header (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_replace_header_map_value" (func $replace_header (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_send_local_response" (func $send_local_response (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_grpc_call" (func $grpc_call (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_effective_context" (func $set_effective_context (param i32) (result i32)))
  (import "env" "proxy_continue_stream" (func $continue_stream (param i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 100) "content-type")
  (data (i32.const 120) "application/grpc")
  (data (i32.const 140) ":path")
  (data (i32.const 150) "/grpc.reflection")
  (data (i32.const 170) "grpcbin")
  (data (i32.const 180) "grpcbin.GRPCBin")
  (data (i32.const 200) "RandomError")
  ;; 220: an empty metadata map as the Rust SDK serializes vec![] (count 0), 4 zero bytes.
  (data (i32.const 230) "Service accessible only to gRPC clients.\n")
  ;; [("Powered-By", "proxy-wasm")] serialized: count, key and value lengths, NUL-ended strings.
  (data (i32.const 280) "\01\00\00\00\0a\00\00\00\0a\00\00\00Powered-By\00proxy-wasm\00")
  (data (i32.const 320) "Powered-By")
  (data (i32.const 332) "proxy-wasm")
  (data (i32.const 350) "Access granted.")
  (data (i32.const 370) "Access forbidden.")
  (data (i32.const 390) "Aborted by Proxy-Wasm!")
  ;; 1000/1004: where the host writes a returned value's address and length; 1008: a token.
  ;; 2048..4095: token -> context id, 256 slots of (token, context) (the SDK's grpc_callouts).
  (global $heap (mut i32) (i32.const 8192))

  (func (export "proxy_abi_version_0_2_1"))
  ;; A bump allocator, reset when a request's headers arrive (what it handed out is read at once).
  (func (export "proxy_on_memory_allocate") (param $size i32) (result i32)
    (local $ptr i32)
    (local.set $ptr (global.get $heap))
    (global.set $heap (i32.add (local.get $ptr) (local.get $size)))
    (local.get $ptr))
  (func (export "_initialize"))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_configure") (param i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_context_create") (param i32 i32))

  ;; Whether the request header at (name, len) is present and starts with (prefix, plen).
  (func $header_starts_with (param $name i32) (param $len i32) (param $prefix i32) (param $plen i32) (result i32)
    (local $value i32) (local $vlen i32) (local $i i32)
    (if (i32.ne (call $get_header (i32.const 0) (local.get $name) (local.get $len) (i32.const 1000) (i32.const 1004)) (i32.const 0))
      (then (return (i32.const 0))))
    (local.set $value (i32.load (i32.const 1000)))
    (local.set $vlen (i32.load (i32.const 1004)))
    (if (i32.lt_u (local.get $vlen) (local.get $plen)) (then (return (i32.const 0))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $plen)))
        (if (i32.ne (i32.load8_u (i32.add (local.get $value) (local.get $i))) (i32.load8_u (i32.add (local.get $prefix) (local.get $i))))
          (then (return (i32.const 0))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i32.const 1))

  (func $unwrap (param $result i32)
    (if (i32.ne (local.get $result) (i32.const 0)) (then unreachable)))

  (func (export "proxy_on_request_headers") (param $ctx i32) (param i32 i32) (result i32)
    (local $slot i32)
    (global.set $heap (i32.const 8192))
    (if (i32.eqz (call $header_starts_with (i32.const 100) (i32.const 12) (i32.const 120) (i32.const 16)))
      (then
        ;; Reject non-gRPC clients.
        (call $unwrap (call $send_local_response (i32.const 503) (i32.const 0) (i32.const 0)
          (i32.const 230) (i32.const 41) (i32.const 280) (i32.const 34) (i32.const -1)))
        (return (i32.const 1))))
    ;; Always allow gRPC calls to the reflection API.
    (if (call $header_starts_with (i32.const 140) (i32.const 5) (i32.const 150) (i32.const 16))
      (then (return (i32.const 0))))
    (call $unwrap (call $grpc_call (i32.const 170) (i32.const 7) (i32.const 180) (i32.const 15) (i32.const 200) (i32.const 11)
      (i32.const 220) (i32.const 4) (i32.const 0) (i32.const 0) (i32.const 1000) (i32.const 1008)))
    (local.set $slot (i32.add (i32.const 2048) (i32.shl (i32.and (i32.load (i32.const 1008)) (i32.const 255)) (i32.const 3))))
    (i32.store (local.get $slot) (i32.load (i32.const 1008)))
    (i32.store offset=4 (local.get $slot) (local.get $ctx))
    (i32.const 1))

  (func (export "proxy_on_request_body") (param i32 i32 i32) (result i32) (i32.const 0))
  (func (export "proxy_on_request_trailers") (param i32 i32) (result i32) (i32.const 0))
  (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32)
    (call $unwrap (call $replace_header (i32.const 2) (i32.const 320) (i32.const 10) (i32.const 332) (i32.const 10)))
    (i32.const 0))
  (func (export "proxy_on_response_body") (param i32 i32 i32) (result i32) (i32.const 0))
  (func (export "proxy_on_response_trailers") (param i32 i32) (result i32) (i32.const 0))

  ;; The SDK's dispatch of a unary answer: forget the token, make its context current, answer it.
  (func $on_grpc_call_response (param $token i32) (param $status i32)
    (local $slot i32) (local $ctx i32)
    (local.set $slot (i32.add (i32.const 2048) (i32.shl (i32.and (local.get $token) (i32.const 255)) (i32.const 3))))
    (if (i32.ne (i32.load (local.get $slot)) (local.get $token)) (then (return)))
    (local.set $ctx (i32.load offset=4 (local.get $slot)))
    (i32.store (local.get $slot) (i32.const 0))
    (call $unwrap (call $set_effective_context (local.get $ctx)))
    (if (i32.eqz (i32.rem_u (local.get $status) (i32.const 2)))
      (then
        (call $unwrap (call $log (i32.const 2) (i32.const 350) (i32.const 15)))
        (call $unwrap (call $continue_stream (i32.const 0))))
      (else
        (call $unwrap (call $log (i32.const 2) (i32.const 370) (i32.const 17)))
        ;; send_grpc_response(Aborted = 10, message, metadata): HTTP 200 with the message as body.
        (call $unwrap (call $send_local_response (i32.const 200) (i32.const 0) (i32.const 0)
          (i32.const 390) (i32.const 22) (i32.const 280) (i32.const 34) (i32.const 10))))))

  (func (export "proxy_on_grpc_receive") (param i32) (param $token i32) (param i32)
    (call $on_grpc_call_response (local.get $token) (i32.const 0)))
  (func (export "proxy_on_grpc_close") (param i32) (param $token i32) (param $status i32)
    (call $on_grpc_call_response (local.get $token) (local.get $status)))
  (func (export "proxy_on_grpc_receive_initial_metadata") (param i32 i32 i32))
  (func (export "proxy_on_grpc_receive_trailing_metadata") (param i32 i32 i32))
  (func (export "proxy_on_log") (param i32))
  (func (export "proxy_on_done") (param i32) (result i32) (i32.const 1))
  (func (export "proxy_on_delete") (param i32))
)
