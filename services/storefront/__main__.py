"""`python -m storefront [ORDERS_URL [PAYMENTS_URL]]`: play the demo."""

import sys

from storefront.demo import main

sys.exit(main(sys.argv[1:]))
