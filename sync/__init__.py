"""The register mirror: writers that put the register into a Google Sheet or a local file."""
