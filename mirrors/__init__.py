"""The register mirror's adapters: where the register's copy is written.

`sheets` (a Google Sheet tab; its HTTP client in `sheets_client`, its request planners in
`sheets_plans`, Google's failures told as the port's exceptions in `sheets_errors`),
`local_file` (an .xlsx file when Google is not configured), `diff` (comparing a tab with the
register) and `checkpoints` (the ledger's checkpoints tab or file). What the mirror shows and
when it runs: `service.domain.mirror`.
"""
