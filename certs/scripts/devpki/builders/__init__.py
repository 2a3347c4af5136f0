"""Certificate builders: the X.509 profiles of this PKI, without any file I/O."""
