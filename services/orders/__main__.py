"""`python -m orders`: serve orders over mTLS (settings from MTLS_* and ORDERS_*)."""

from mtls.process import main

from orders.app import create_app
from orders.settings import OrdersSettings

main("orders", OrdersSettings, create_app)
