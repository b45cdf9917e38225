"""The domain core: models, the consent ledger, tokens and use cases. No web, no Google."""
