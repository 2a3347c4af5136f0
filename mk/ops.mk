# Certificate operations beyond `make renew` / `make revoke` (see docs/operations.md).

.PHONY: crl
crl: $(STAMP) ## Rewrite the CRL with a fresh next update (+7 days); run it daily
	$(PY) -m devpki crl

.PHONY: cert-health
cert-health: $(STAMP) ## Certificate status of running services: make cert-health [URL=https://localhost:8443]
	@for url in $(or $(URL),https://localhost:8443 https://localhost:9443); do \
	  echo "$$url/health"; \
	  curl -sS -k --cert $(CERTS_DIR)/ops/chain.pem --key $(CERTS_DIR)/ops/key.pem "$$url/health" \
	    | $(PY) -m json.tool || true; \
	done
