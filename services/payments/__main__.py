"""`python -m payments`: serve payments over mTLS (settings from MTLS_* and PAYMENTS_*)."""

from mtls.process import main

from payments.app import create_app
from payments.settings import PaymentsSettings

main("payments", PaymentsSettings, create_app)
