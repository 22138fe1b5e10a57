"""Why the certificate actions are refused: the CSMS has no certificate authority (CA) and no
OCSP access yet. The reason code is shared so operators can find these answers in the archive."""

NO_CA_REASON = "NoCertAuthority"
NO_CA_INFO = "This CSMS has no certificate authority or OCSP access configured."
