"""`python -m payments`: serve payments over mTLS (settings from MTLS_* and PAYMENTS_*)."""

from mtls import serve_service

from payments.app import create_app
from payments.settings import PaymentsSettings

serve_service("payments", PaymentsSettings, create_app)
