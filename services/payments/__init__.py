"""payments: authorizes, settles and refunds payments for orders, over mTLS."""
