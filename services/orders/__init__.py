"""orders: takes storefront orders and has payments charge them, over mTLS."""
