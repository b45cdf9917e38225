"""One transaction per use case."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy.orm import Session, sessionmaker


class UnitOfWork:
    """A transaction: commit() keeps the work, leaving the block without it rolls back."""

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        """Remember where sessions come from."""
        self._factory = session_factory
        self._session: Session | None = None

    @property
    def session(self) -> Session:
        """Return the open session."""
        if self._session is None:
            raise RuntimeError("unit of work used outside its with-block")
        return self._session

    def __enter__(self) -> UnitOfWork:
        """Open a session; the transaction begins on first use."""
        self._session = self._factory()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Roll back whatever was not committed and close the session."""
        session = self.session
        try:
            session.rollback()
        finally:
            session.close()
            self._session = None

    def commit(self) -> None:
        """Keep the work done so far."""
        self.session.commit()
