"""`make bench`: what mTLS costs in this project, measured side by side in one run.

Every measurement runs its variants interleaved (A B C A B C ...) so a noisy
neighbour on the shared machine hurts all of them alike; the report gives
medians and the spread over rounds. Servers and load generators run as
separate processes, and both sides' CPU time is read from /proc, so the
report can say when the client, not the server, was the bottleneck.

Modules: `pki` (certificates for the run), `procs` (processes and their CPU),
`serve` (bench-only servers: the same app over plain HTTP, TLS and mTLS),
`loadgen` (keep-alive load with client certificates), `handshaker` (new
connections), `keepalive`, `handshakes`, `chain`, `sslctx` (the four
measurements), `stats` and `report` (table, markdown, plot).
"""
