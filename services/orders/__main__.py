"""`python -m orders`: serve orders over mTLS (settings from MTLS_* and ORDERS_*)."""

from mtls.runner import run_service, settings_or_exit

from orders.app import create_app
from orders.settings import OrdersSettings

settings = settings_or_exit("orders", OrdersSettings)
run_service(
    "orders",
    lambda contexts: create_app(contexts, settings),
    host=settings.host,
    port=settings.port,
    identity="orders",
)
