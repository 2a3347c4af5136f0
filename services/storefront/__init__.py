"""storefront: the demo client. It calls orders with the storefront certificate."""
