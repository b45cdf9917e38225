"""The register mirror: a copy of the register (everyone who may be contacted) kept in a tab.

Start here; each part of the mirror has one module:

- `rows`: what the tab shows, its fixed header per language and one row per contact
  (`RowFormatter.row`), and the register's rows as a stream read in batches (`RegisterRows`),
  so that a full pass never holds them all. The dirty-row triggers of migration 0005 must
  cover every column a row shows; `tests/unit/test_mirror_triggers.py` checks that they do.
- `queue`: queueing a pass (`register_changed`, coalesced and debounced in the outbox as
  `MIRROR_KIND`) after anything that may change the register, and asking for a full one.
- `passes`: one pass (`run_pass`): incremental (only the rows noted dirty) when it can, else
  the whole register; failures kept in the status and retried.
- `status`: the mirror's health as /readyz and the staff pages show it.
- `mirroring`: the mirror of one process (`Mirroring`): its writer, lock, memory of the last
  pass, the queued pass the worker runs and the periodic full pass that repairs hand edits.

The writers (a Google Sheet tab, a local .xlsx file) are adapters in the `mirrors` package,
reached through `service.domain.ports.RegisterMirror`; `service.bootstrap` picks one.
"""
