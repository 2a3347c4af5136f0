# One image for both services (orders, payments) and the dev PKI step.
# The command picks the role: `python -m orders`, `python -m payments`,
# `python -m devpki make-default`. No certificates or keys are baked in:
# compose mounts them read-only at run time.
#
#   docker build -t mtls-services:dev .                          # official base, PyPI
#   docker build --network none -t mtls-services:dev \
#     --build-arg BASE_IMAGE=mtls-local/python:3.11-bookworm \
#     --build-arg WHEELHOUSE=.cache/wheels .                     # offline (make images does this)
ARG BASE_IMAGE=python:3.11-slim

# ---------------------------------------------------------------- build
FROM ${BASE_IMAGE} AS build
# The label lets scripts/docker/images.sh prune superseded builds.
LABEL org.mtls-services.image=build
# A folder of wheels in the build context; with no *.whl in it, pip uses PyPI.
ARG WHEELHOUSE=scripts/docker/no-wheels
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
RUN python3 -m venv /opt/venv
COPY ${WHEELHOUSE}/ /wheels/
# Dependencies first, read from pyproject.toml: this layer stays cached while
# only the code changes.
COPY pyproject.toml /src/
WORKDIR /src
RUN set -eu; \
    if ls /wheels/*.whl >/dev/null 2>&1; then \
        export PIP_NO_INDEX=1 PIP_FIND_LINKS=/wheels; echo "installing from the wheelhouse"; \
    fi; \
    /opt/venv/bin/python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' > /tmp/requirements.txt; \
    /opt/venv/bin/pip install --quiet -r /tmp/requirements.txt
# README.md is optional: the glob matches nothing without it, and pyproject.toml
# (unchanged) keeps the COPY from failing then.
COPY pyproject.toml README.m[d] /src/
COPY shared/ /src/shared/
COPY services/ /src/services/
COPY certs/scripts/ /src/certs/scripts/
RUN set -eu; \
    if ls /wheels/*.whl >/dev/null 2>&1; then export PIP_NO_INDEX=1 PIP_FIND_LINKS=/wheels; fi; \
    /opt/venv/bin/pip install --quiet --no-deps . ; \
    /opt/venv/bin/pip check

# ---------------------------------------------------------------- runtime
FROM ${BASE_IMAGE}
LABEL org.mtls-services.image=runtime
# /var/lib/mtls holds SQLite (a named volume in compose); 1777 like /tmp,
# because compose may run the services as the host user's uid instead of 10001.
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin app \
 && install -d -m 0755 /run/mtls \
 && install -d -m 1777 /var/lib/mtls
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MTLS_CERT=/run/mtls/own/chain.pem \
    MTLS_KEY=/run/mtls/own/key.pem \
    MTLS_CA=/run/mtls/trust/ca.crt \
    ORDERS_HOST=0.0.0.0 ORDERS_PORT=8443 ORDERS_DB_PATH=/var/lib/mtls/orders.db \
    PAYMENTS_HOST=0.0.0.0 PAYMENTS_PORT=8443 PAYMENTS_DB_PATH=/var/lib/mtls/payments.db
USER 10001:10001
WORKDIR /var/lib/mtls
EXPOSE 8443
HEALTHCHECK --interval=5s --timeout=10s --start-period=30s --retries=3 \
    CMD ["python", "-m", "mtls", "healthcheck", "https://localhost:8443/health"]
CMD ["python", "-m", "orders"]
