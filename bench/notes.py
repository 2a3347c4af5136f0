# ruff: noqa: E501  (markdown tables: one row a line)
"""The prose of docs/benchmarks.md: how it is measured, and what was tried.

Kept here because the bench rewrites docs/benchmarks.md on every full run.
"""

METHOD = """## How it is measured

- Everything runs on one machine in one `make bench`, servers and load
  generators as separate processes on 127.0.0.1. The machine is **shared with
  other engineers running tests at the same time and is noisy**: compare
  figures within one run, and read the spread (min-max over rounds).
- Variants are interleaved (A B C, B C A, ...) and each figure is the median
  over rounds. CPU time is read from `/proc/PID/stat` (utime + stime, 10 ms
  ticks) for the servers and from `os.times()` for the load generators.
- Certificates are minted for the run by devpki (P-256 unless stated, CRL
  checking on for our servers and `s_server`).
- Kept-alive endpoint: `GET /ping` of a bench app built with the toolkit
  (`secure_app`, `allow("storefront")`, access log on): identity and policy are
  checked on every request. mTLS runs through `mtls.process.serve`; plain HTTP
  is uvicorn's own httptools protocol, server-only TLS the toolkit's protocol
  with the client certificate request turned off, both with the same uvicorn
  settings (uvloop, httptools) and a bench middleware that hands the app the
  Principal of a fixed certificate. None of this exists outside `bench/`. A
  fourth variant, plain HTTP with the toolkit's write coalescing, separates
  what TLS costs from what coalescing (`mtls.coalesce`) saves.
- Load generator (`bench/loadgen.py`): closed loop, 16 kept-alive
  connections, one pre-encoded HTTP/1.1 request, asyncio protocols on uvloop,
  the client context built by the toolkit (it presents the storefront's
  certificate and verifies the server). It is single-threaded, so at ~1 core
  ("client-bound" in the tables) it, not the server, sets the pace.
- Handshakes (`bench/handshaker.py`): two client threads with blocking
  sockets, each connection does the handshake, one request with
  `Connection: close`, and reads to the end; resumption offers the previous
  connection's session (TLS 1.3 tickets, TLS 1.2 tickets). Our server answers
  `GET /ping` (a full FastAPI request per connection); `openssl s_server -www`
  answers its status page. Both require and verify the client certificate
  with the same CA, CRL and strict X.509 checks.
- Whole chain: `python -m orders` and `python -m payments` exactly as shipped
  (mTLS, CRL on) against the same apps wired over plain HTTP by
  `bench.serve chain-plain`; the load generator is the storefront creating
  orders at concurrency 16; payments' outbox delivers the settlement events
  to orders during the window, after a 2 s warm-up (1 s in QUICK) that fills
  the pools; the backlog of undelivered events is read from payments'
  database when the window closes. Handshakes are read from both servers'
  `mtls_handshakes_total` (as ops, on a new connection, which is subtracted)
  when the window opens and closes.
- The same chain on PostgreSQL 15 (Debian's package, one cluster per pair,
  `harness.postgres`, the settings of `deploy/postgres/`): the services log
  in by certificate over TLS 1.3, and PostgreSQL's own CPU (postmaster and
  backends, from /proc) is its own column. A second cluster has one more
  pg_hba line, `hostnossl ... trust` on 127.0.0.1, and its pair is started by
  `bench.serve plain-database`, which hands asyncpg `ssl=False`: the same chain
  with the database hop in plain TCP, to show what TLS costs there (bench
  only; the services cannot be configured that way). PostgreSQL costs more CPU
  per order than SQLite in the process: every statement is a round trip to
  another process (the protocol, a backend's parse and plan, its WAL flush at
  commit) where SQLite is a library call in the same thread.
"""

TRIED = """## What was tried, and what it gave

Measured while building the bench, on this machine at various loads (A/B runs
of a few rounds each); the tables above are the final run. Kept only what the
numbers supported.

| change | before | after | kept |
| --- | --- | --- | --- |
| payments' outbox sends at most 16 events at once (`DELIVERY_CONCURRENCY`); it sent every due event (up to 50) at once | 10-37 new handshakes at orders per 4-6 s window of the chain (0.03-0.12 per request): the pool grew to each pass's peak | 0 in every window after a 2 s warm-up | yes |
| the same at 8 at once | 0 handshakes, but at ~300 orders/s the events fell behind: 550-2600 undelivered when a window closed | | no: 16, and a pass that delivered a full batch (50) is followed at once by the next instead of after `PAYMENTS_OUTBOX_INTERVAL`: 0-56 undelivered (the ones settled within the last pass) |
| idle kept-alive: server 15 s (`mtls.protocol.KEEP_ALIVE_TIMEOUT`), client pool 10 s (`mtls.client.KEEPALIVE_EXPIRY`); both were 5 s | any pause of 5 s (here: the plain chain's turn, ~8.5 s) cost every pooled connection a new handshake, and equal timeouts let a request race the server's close | pools survive pauses shorter than 10 s; the client always drops first | yes (20 s / 30 s also worked here, but idle connections then outlived the 15 s in which the load test expects descriptors back) |
| `PeerClient` on aiohttp's pool under the httpx API (`mtls.transport`, httpx-aiohttp) instead of httpcore | CPU per order: orders 4.3-8.2 ms, payments 2.4-4.6 ms; mTLS chain 10-20% more CPU than plain | orders 2.7-3.9 ms, payments 1.5-2.5 ms; mTLS and plain within noise | yes: the client, not TLS, was the bottleneck (httpcore's TLS runs in Python through anyio) |
| one TLS record per response (`mtls.coalesce`) | mTLS `GET /ping` 200-227 µs server CPU per request (plain 171-217) | 171-196 µs | yes (the "plain HTTP, writes coalesced" row shows the same saving without TLS) |
| the caller's identity computed once per connection from its DER certificate, read from the scope (no PEM round trip, no lru_cache keyed by 800-byte strings, no `app.state` settings) | kept-alive mTLS `GET /ping`, server CPU per request, 401e618: 221 (211-298), 255 (216-339), 258 (217-291) µs | 229 (213-287) at 9d0e75c; 241 (203-278), 249 (213-280) µs at 503bc30 (`make bench-compare`, three runs, each side by side) | yes, for the design (one reader of identity); the CPU change is within this machine's noise |
| server leaf PEM encoded once, client subject parsed once per certificate | CPU profile: both on every connection (~0.1-0.2 ms under the profiler) | gone from the profile; handshake ratio to s_server unchanged within noise (~1.35-1.45x) | yes (free) |
| the stores on SQLAlchemy 2 Core off the event loop (issue 14), first version: aiosqlite | chain on SQLite, orders+payments CPU per order, main: ~5.5 ms | aiosqlite via SQLAlchemy: ~0.7 ms per statement (a thread hop each); an executor thread per transaction: ~3x main | no: a thread of the database's own, batching the transactions that wait together (one hop and one fsync per batch) |
| statements built once (`bindparam`), not per call | building a Core statement 178 µs, running a built one 40 µs (raw sqlite3: 9 µs) | 2.3x main | yes |
| fewer statements per order: an advance is one conditional `UPDATE ... RETURNING`, an event's order and seen-check one read, a charge's key and order one read, settling one `UPDATE ... RETURNING`; the route's 404 read folded into the event's transaction | orders 10 statements and 4 transactions per order | 6 statements and 3 transactions; 1.37x -> ~1.25x main | yes |
| the hop: a `SimpleQueue` and one `call_soon_threadsafe` back instead of `run_in_executor` | 166-198 µs CPU per hop (asyncio), 132 (uvloop) | 116-147 (asyncio), 95 (uvloop) | yes |
| a batch gathers what one turn of the loop submits (`call_soon`), and a 0.5 ms wait for more (`call_later`) | | the wait: 6595 against 6330 µs per order (worse, within noise) | the turn: yes; the wait: no |
| SQLite `synchronous=FULL` (durable on power loss, issue 14) against `NORMAL` (main's: durable on a crash of the process only) | NORMAL 6087 (5376-6670) µs per order | FULL 6678 (5885-7132): +10% (`python -m bench.compare --chain`, side by side) | yes: payments answers 201 only for a commit on disk |
| the new stores with FULL, against the commit before them (`make bench-compare BEFORE=main CHAIN=1`, side by side) | 5457 (5342-5984) µs per order, 252 orders/s | 6264 (6022-7306) µs, 203 orders/s: 1.15x, of which FULL is ~1.10x | the 1.10x budget not met yet |
| the route dependencies `async def` (orders' `store` and `payments`, payments' `state`): FastAPI runs a plain `def` dependency in anyio's thread pool, a thread hop each per request (found in a py-spy profile of the chain: ~11% of orders' samples under `run_in_threadpool`) | 5941 (5893-7222) µs per order, 212 orders/s | 5453 (4987-6147) µs, 232 orders/s: 0.92x | yes; tests/services/test_dependencies.py keeps every dependency and endpoint async |
| final, against the commit before the new stores (`make bench-compare BEFORE=0f4a715 CHAIN=1`, two runs, side by side) | 5312 (4640-5740) and 5257 (5026-5950) µs per order | 5466 (4858-5799) and 5458 (4693-6022) µs: 1.03x and 1.04x | the 1.10x budget is met, with FULL |
| HTTP/2 between the services | not tried: aiohttp has no HTTP/2 client, and kept-alive HTTP/1.1 already costs no handshake per request; multiplexing would save connections, not CPU | | no |
| P-256 keys, uvloop + httptools | already the defaults (devpki, `uvicorn[standard]`); RSA-2048 is measured above for comparison | | yes |

Findings:
- Kept-alive mTLS costs a few percent of server CPU per request over plain
  HTTP (the TLS row minus the coalesced plain row); coalescing the response's
  writes saves about as much, so our mTLS server is on par with plain uvicorn.
- A new mTLS connection costs milliseconds of CPU on both sides; the toolkit
  avoids them by construction (pooled, kept-alive, long idle timeouts,
  bounded concurrency): zero handshakes per request in steady state.
- Our server's CPU per full handshake stays above `openssl s_server`'s on the
  same keys (target 1.1x not met): the OpenSSL work is the same, the rest is
  Python per connection (asyncio's TLS state machine, uvicorn's protocol, one
  FastAPI request and its access-log line; a new *plain* connection with the
  same request costs ~0.3-0.5 ms). Closing that gap needs TLS outside Python
  (a proxy, or a server such as granian with rustls); session resumption
  helps, and kept-alive connections make it rare.
- Building a client SSLContext from files costs milliseconds (tens with the
  system store): the toolkit builds it once per certificate version.
- The load generator uses ~0.1 core at ~5000 req/s; it was never the
  bottleneck here (the "client cores" column says so when it is).
"""
