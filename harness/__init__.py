"""The harness the tests and the bench share: real processes, real sockets, no mocks.

- `ports`      one port allocator (below the ephemeral range), whose-socket checks;
- `processes`  one server-process class, one environment builder, `run_module`;
- `clients`    one strict client-context builder (a foreign client) and the
               toolkit's own (what the services use), httpx clients on them;
- `probe`      one raw TLS probe: connect, handshake, send bytes, see where it ended;
- `metrics`    one reader of a server's /metrics (prometheus_client's parser).

Tests and bench import this package; tests never import the bench.
"""
