"""`python -m payments`: serve payments over mTLS (settings from MTLS_* and PAYMENTS_*)."""

from mtls.runner import run_service, settings_or_exit

from payments.app import create_app
from payments.settings import PaymentsSettings

settings = settings_or_exit("payments", PaymentsSettings)
run_service(
    "payments",
    lambda contexts: create_app(contexts, settings),
    host=settings.host,
    port=settings.port,
    identity="payments",
)
