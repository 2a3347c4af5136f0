"""`python -m orders`: serve orders over mTLS (settings from MTLS_* and ORDERS_*)."""

from mtls import serve_service

from orders.app import create_app
from orders.settings import OrdersSettings

serve_service("orders", OrdersSettings, create_app)
