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
  checked on every request. mTLS runs through `mtls.server.serve`; plain HTTP
  and server-only TLS use the same toolkit protocol and uvicorn settings
  (uvloop, httptools), with the TLS contexts left out or the client
  certificate request turned off, and a bench middleware that hands the app
  a fixed client certificate. None of this exists outside `bench/`.
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
  to orders during the window. Handshakes are read from both servers'
  `mtls_handshakes_total` (as ops, on a new connection, which is subtracted)
  when the window opens and closes.
"""

TRIED = """## What was tried, and what it gave

(filled in from the measurements; see below)
"""
