"""consent-register: the consent ledger and marketing register of a small practice."""
