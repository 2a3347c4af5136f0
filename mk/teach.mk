# Teaching: break mTLS on purpose, explain failures, keep the README's reference true.
#   make scenarios                      every failure scenario against running services
#   make doctor URL=https://localhost:8443/health NAME=storefront
#   make config-doc                     rewrite the README's configuration block and .env.example

ORDERS_URL   ?= https://localhost:8443
PAYMENTS_URL ?= https://localhost:9443

.PHONY: scenarios
scenarios: $(STAMP) ## Break mTLS 9 ways against running services (make run / make up); table
	$(PY) -m tools.scenarios --orders $(ORDERS_URL) --payments $(PAYMENTS_URL) --pki $(CERTS_DIR)

.PHONY: doctor
doctor: $(STAMP) ## Explain a failing call: make doctor URL=https://localhost:8443/health NAME=storefront
	@test -n "$(URL)" || { echo "usage: make doctor URL=https://localhost:8443/health [NAME=storefront]" >&2; exit 2; }
	$(PY) -m mtls doctor $(URL) --ca $(CERTS_DIR)/ca.crt \
	  $(if $(NAME),--cert $(CERTS_DIR)/$(NAME)/chain.pem --key $(CERTS_DIR)/$(NAME)/key.pem)

.PHONY: config-doc
config-doc: $(STAMP) ## Regenerate the README's configuration reference and .env.example
	$(PY) -m tools.configdoc --write
