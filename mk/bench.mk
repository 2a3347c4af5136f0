# `make bench`: what mTLS costs here, measured side by side in one run (bench/).
# The full run takes ~6-10 minutes and rewrites docs/benchmarks.md and
# docs/benchmarks.png; QUICK=1 (CI) runs every measurement briefly, prints the
# tables and keeps the committed report untouched.
QUICK ?=
BENCH_ARGS ?=

.PHONY: bench
bench: $(STAMP) ## Measure plain vs TLS vs mTLS, handshakes, the chain (QUICK=1: <1 min, prints only)
ifeq ($(QUICK),)
	$(PY) -m bench --profile full --out docs/benchmarks.md --plot docs/benchmarks.png $(BENCH_ARGS)
else
	$(PY) -m bench --profile quick $(BENCH_ARGS)
endif

# Two commits side by side in one run: the kept-alive mTLS server CPU per request of each.
.PHONY: bench-compare
bench-compare: $(STAMP) ## Server CPU per request of two commits, alternated: make bench-compare BEFORE=rev [AFTER=HEAD] [CHAIN=1]
	@test -n "$(BEFORE)" || { echo "usage: make bench-compare BEFORE=<rev> [AFTER=<rev>]" >&2; exit 2; }
	$(PY) -m bench.compare $(BEFORE) $(or $(AFTER),HEAD) $(if $(CHAIN),--chain)
