# Security proofs (issue 6): the bad-certificate matrix, real clients (curl,
# openssl s_client, Java), fuzzing, and load with faults. They run in `make test`
# like every test; these targets run them alone or regenerate their document.

SECURITY_TESTS := tests/test_security_matrix.py tests/test_real_clients.py \
	tests/test_fuzz.py tests/test_load_faults.py

.PHONY: security
security: $(STAMP) ## Run the security proofs only (matrix, real clients, fuzzing, load and faults)
	$(PY) -m pytest $(SECURITY_TESTS) $(PYTEST_ARGS)

.PHONY: security-doc
security-doc: $(STAMP) ## Rewrite the matrix table in docs/security.md from a run of the matrix
	MTLS_WRITE_SECURITY_DOC=1 $(PY) -m pytest tests/test_security_matrix.py -q $(PYTEST_ARGS)

.PHONY: security-tools
security-tools: ## Install curl, openssl and a JDK if missing (what the real-client tests use)
	scripts/ci/tools.sh
