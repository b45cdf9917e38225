"""Staff accounts: argon2 password hashes, lockout after failed logins, TOTP two-step login."""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
from argon2 import Parameters, PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.domain import audit
from service.domain.dependencies import STAFF_PASSWORD_COST, Deps
from service.domain.ledger import Actor
from service.domain.models import ActorType, StaffAccount
from service.domain.normalize import FieldProblem, InvalidInput, too_long
from service.domain.uow import UnitOfWork

# Ten wrong passwords (or codes) in a row lock an account for this long.
MAX_FAILED_LOGINS = 10
LOCKOUT = timedelta(minutes=15)
MIN_PASSWORD = 12
MAX_PASSWORD = 1024
MAX_NAME = 100
RECOVERY_CODES = 10
TOTP_ISSUER = "consent-register"


_hashes_of_no_one: dict[tuple[object, ...], str] = {}


def _hasher(cost: Parameters) -> PasswordHasher:
    """Return the argon2 hasher of one cost (Deps.password_cost)."""
    return PasswordHasher.from_parameters(cost)


def _hash_of_no_one(cost: Parameters) -> str:
    """Return the hash checked when the name is unknown, so a wrong name costs a wrong password."""
    key = dataclasses.astuple(cost)
    if key not in _hashes_of_no_one:
        _hashes_of_no_one[key] = _hasher(cost).hash("not a password of anyone")
    return _hashes_of_no_one[key]


# Made now, so that even the first unknown name after a start costs no more than a wrong password.
_hash_of_no_one(STAFF_PASSWORD_COST)


class TotpPolicy(enum.StrEnum):
    """Who must use two-step login (CONSENT_REQUIRE_TOTP)."""

    NONE = "none"
    ADMINS = "admins"
    ALL = "all"


@dataclass(frozen=True)
class StaffInfo:
    """What the pages may know about an account: never its secrets."""

    id: int
    name: str
    is_admin: bool
    totp_enabled: bool
    disabled: bool
    locked_until: datetime | None
    last_login_at: datetime | None
    created_at: datetime
    # A signed-in session counts only while it carries this number (see _end_sessions).
    session_epoch: int = 0

    @property
    def actor(self) -> Actor:
        """Return the account as the actor of events and audit entries."""
        return Actor(ActorType.STAFF, f"{self.id}:{self.name}"[:100])


class LoginStep(enum.StrEnum):
    """What a correct password leads to."""

    DONE = "done"
    TOTP = "totp"
    ENROL = "enrol"


@dataclass(frozen=True)
class LoginOutcome:
    """The result of a correct password."""

    account: StaffInfo
    step: LoginStep


class LoginFailed(Exception):
    """Wrong name, wrong password, wrong code, or a locked or disabled account.

    One exception for all of them: the page must not tell which.
    """


@dataclass(frozen=True)
class Enrolment:
    """A TOTP secret offered to an account, not yet confirmed."""

    secret: str
    uri: str


def _info(row: StaffAccount) -> StaffInfo:
    return StaffInfo(row.id, row.name, row.is_admin, row.totp_enabled_at is not None,
                     row.disabled_at is not None, row.locked_until, row.last_login_at,
                     row.created_at, row.session_epoch or 0)


def _end_sessions(row: StaffAccount) -> None:
    """End every session of the account: each carries the old epoch, which no longer matches."""
    row.session_epoch = (row.session_epoch or 0) + 1


def totp_required(account: StaffInfo | StaffAccount, policy: str) -> bool:
    """Tell whether the policy makes this account use two-step login."""
    if policy == TotpPolicy.ALL:
        return True
    return policy == TotpPolicy.ADMINS and account.is_admin


def check_password_rules(password: str) -> None:
    """Refuse a password too short or too long to be sensible."""
    if len(password) < MIN_PASSWORD:
        raise InvalidInput([FieldProblem("password", f"must be at least {MIN_PASSWORD} "
                                                     "characters long", "password_short",
                                         MIN_PASSWORD)])
    if len(password) > MAX_PASSWORD:
        raise InvalidInput([too_long("password", MAX_PASSWORD)])


def _clean_name(name: str) -> str:
    clean = " ".join(name.split())
    if not clean or len(clean) > MAX_NAME:
        raise InvalidInput([FieldProblem("name", f"must be 1 to {MAX_NAME} characters",
                                         "name_length", MAX_NAME)])
    if "@" in clean:
        # Names appear in the audit log, which never holds an address.
        raise InvalidInput([FieldProblem("name", "must not be an email address",
                                         "name_is_email")])
    return clean


def create_account(uow: UnitOfWork, deps: Deps, name: str, password: str, *, admin: bool,
                   actor: Actor, ip: str | None = None) -> StaffInfo:
    """Create an account with a salted argon2 hash of its password."""
    clean = _clean_name(name)
    check_password_rules(password)
    now = deps.clock.now()
    password_hash = _hasher(deps.password_cost).hash(password)
    with uow:
        row = StaffAccount(name=clean, password_hash=password_hash, is_admin=admin,
                           failed_logins=0, created_at=now, session_epoch=0)
        uow.session.add(row)
        try:
            uow.session.flush()
        except IntegrityError:
            raise InvalidInput([FieldProblem("name", f"an account named {clean!r} exists already",
                                             "name_taken")]) from None
        audit.append(uow.session, actor, "staff.create", ip=ip,
                     detail={"account": row.id, "admin": admin}, now=now)
        info = _info(row)
        uow.commit()
    return info


def list_accounts(uow: UnitOfWork) -> list[StaffInfo]:
    """Return every account, oldest first."""
    with uow:
        return [_info(r) for r in uow.session.scalars(select(StaffAccount)
                                                        .order_by(StaffAccount.id))]


def get_account(uow: UnitOfWork, account_id: int) -> StaffInfo | None:
    """Return a live (not disabled) account by id."""
    with uow:
        row = uow.session.get(StaffAccount, account_id)
        if row is None or row.disabled_at is not None:
            return None
        return _info(row)


def _failed(session: Session, row: StaffAccount | None, now: datetime, ip: str | None,
            why: str) -> None:
    """Count one failure (locking the account at the limit) and audit it."""
    actor = Actor(ActorType.STAFF, f"{row.id}:{row.name}"[:100] if row else None)
    detail: dict[str, object] = {"why": why}
    if row is not None:
        row.failed_logins += 1
        if row.failed_logins >= MAX_FAILED_LOGINS:
            row.locked_until = now + LOCKOUT
            row.failed_logins = 0
            detail["locked_until"] = row.locked_until.isoformat()
    audit.append(session, actor, "login.failed", ip=ip, detail=detail, now=now)


def _locked(row: StaffAccount, now: datetime) -> bool:
    return row.locked_until is not None and row.locked_until > now


def check_password(uow: UnitOfWork, deps: Deps, name: str, password: str, *, policy: str,
                   ip: str | None) -> LoginOutcome:
    """Check a name and password; count and audit failures; lock after ten in a row."""
    now = deps.clock.now()
    hasher = _hasher(deps.password_cost)
    clean = " ".join(name.split())[:MAX_NAME]
    with uow:
        session = uow.session
        row = session.scalars(select(StaffAccount).where(StaffAccount.name == clean)
                              .with_for_update()).first()
        if row is None or row.disabled_at is not None:
            with contextlib.suppress(VerificationError):
                hasher.verify(_hash_of_no_one(deps.password_cost), password[:MAX_PASSWORD])
            _failed(session, None, now, ip, "unknown name" if row is None else "disabled")
            uow.commit()
            raise LoginFailed()
        if _locked(row, now):
            audit.append(session, _info(row).actor, "login.failed", ip=ip,
                         detail={"why": "locked"}, now=now)
            uow.commit()
            raise LoginFailed()
        try:
            hasher.verify(row.password_hash, password[:MAX_PASSWORD])
        except (VerificationError, InvalidHashError):
            _failed(session, row, now, ip, "password")
            uow.commit()
            raise LoginFailed() from None
        if hasher.check_needs_rehash(row.password_hash):
            row.password_hash = hasher.hash(password)
        if row.totp_enabled_at is not None:
            step = LoginStep.TOTP
        elif totp_required(row, policy):
            step = LoginStep.ENROL
        else:
            step = LoginStep.DONE
            _succeeded(session, row, now, ip, "password")
        info = _info(row)
        uow.commit()
    return LoginOutcome(info, step)


def _succeeded(session: Session, row: StaffAccount, now: datetime, ip: str | None,
               how: str) -> None:
    row.failed_logins = 0
    row.locked_until = None
    row.last_login_at = now
    audit.append(session, _info(row).actor, "login", ip=ip, detail={"with": how}, now=now)


def _hash_code(code: str) -> str:
    return hashlib.sha256(code.replace("-", "").strip().lower().encode()).hexdigest()


def _totp_step(secret: str, code: str, now: datetime) -> int | None:
    """Return the time step a code belongs to (now, or one step either side), else None."""
    totp = pyotp.TOTP(secret)
    digits = "".join(code.split())
    if not (digits.isascii() and digits.isdigit()) or len(digits) != totp.digits:
        return None
    current = totp.timecode(now)
    for step in (current, current - 1, current + 1):
        if hmac.compare_digest(totp.generate_otp(step), digits):
            return step
    return None


def verify_second_factor(uow: UnitOfWork, deps: Deps, account_id: int, code: str, *,
                         ip: str | None) -> StaffInfo:
    """Finish a login with a TOTP code (each used once) or an unused recovery code."""
    now = deps.clock.now()
    with uow:
        session = uow.session
        row = session.get(StaffAccount, account_id, with_for_update=True)
        if row is None or row.disabled_at is not None or row.totp_secret is None \
                or row.totp_enabled_at is None:
            raise LoginFailed()
        if _locked(row, now):
            audit.append(session, _info(row).actor, "login.failed", ip=ip,
                         detail={"why": "locked"}, now=now)
            uow.commit()
            raise LoginFailed()
        step = _totp_step(row.totp_secret, code, now)
        how = "totp"
        if step is not None and row.totp_last_step is not None and step <= row.totp_last_step:
            step = None  # a code already used: a replay
        if step is not None:
            row.totp_last_step = step
        else:
            codes: list[str] = json.loads(row.recovery_codes_json or "[]")
            hashed = _hash_code(code)
            match = next((c for c in codes if hmac.compare_digest(c, hashed)), None)
            if match is None:
                _failed(session, row, now, ip, "code")
                uow.commit()
                raise LoginFailed()
            codes.remove(match)
            row.recovery_codes_json = json.dumps(codes)
            how = "recovery code"
        _succeeded(session, row, now, ip, how)
        info = _info(row)
        uow.commit()
    return info


def new_enrolment(account: StaffInfo, secret: str | None = None) -> Enrolment:
    """Offer a fresh TOTP secret (or show the one on offer); nothing is stored until confirmed."""
    secret = secret or pyotp.random_base32()
    uri = pyotp.TOTP(secret).provisioning_uri(name=account.name, issuer_name=TOTP_ISSUER)
    return Enrolment(secret, uri)


def confirm_enrolment(uow: UnitOfWork, deps: Deps, account_id: int, secret: str, code: str, *,
                      ip: str | None) -> tuple[StaffInfo, list[str]]:
    """Turn on two-step login once a code from the new secret checks; return recovery codes."""
    now = deps.clock.now()
    step = _totp_step(secret, code, now)
    if step is None:
        raise InvalidInput([FieldProblem("code", "does not match; check the phone's clock and "
                                                 "type the six digits shown now",
                                         "code_mismatch")])
    codes = [f"{secrets.token_hex(4)}-{secrets.token_hex(4)}" for _ in range(RECOVERY_CODES)]
    with uow:
        row = uow.session.get(StaffAccount, account_id, with_for_update=True)
        if row is None or row.disabled_at is not None:
            raise LoginFailed()
        row.totp_secret = secret
        row.totp_enabled_at = now
        row.totp_last_step = step
        row.recovery_codes_json = json.dumps([_hash_code(c) for c in codes])
        audit.append(uow.session, _info(row).actor, "staff.totp_enrol", ip=ip,
                     detail={"account": row.id}, now=now)
        _succeeded(uow.session, row, now, ip, "totp enrolment")
        info = _info(row)
        uow.commit()
    return info, codes


def _account_to_change(session: Session, account_id: int) -> StaffAccount:
    """Return an account an admin changes, locked for the change; name it when it is unknown."""
    row = session.get(StaffAccount, account_id, with_for_update=True)
    if row is None:
        raise InvalidInput([FieldProblem("account", "no such account", "account_unknown")])
    return row


def set_disabled(uow: UnitOfWork, deps: Deps, account_id: int, disabled: bool, *, actor: Actor,
                 ip: str | None) -> StaffInfo:
    """Disable an account (it can no longer sign in) or enable it again."""
    now = deps.clock.now()
    with uow:
        row = _account_to_change(uow.session, account_id)
        if (row.disabled_at is not None) != disabled:
            row.disabled_at = now if disabled else None
            if disabled:
                # Otherwise enabling the account again would bring its old sessions back.
                _end_sessions(row)
            audit.append(uow.session, actor, "staff.disable" if disabled else "staff.enable",
                         ip=ip, detail={"account": row.id}, now=now)
        info = _info(row)
        uow.commit()
    return info


def reset_totp(uow: UnitOfWork, deps: Deps, account_id: int, *, actor: Actor,
               ip: str | None) -> StaffInfo:
    """Remove an account's TOTP secret (a lost phone) and end its sessions; it enrols again."""
    now = deps.clock.now()
    with uow:
        row = _account_to_change(uow.session, account_id)
        # Whoever holds the lost phone may hold a session too.
        _end_sessions(row)
        row.totp_secret = None
        row.totp_enabled_at = None
        row.totp_last_step = None
        row.recovery_codes_json = None
        audit.append(uow.session, actor, "staff.totp_reset", ip=ip,
                     detail={"account": row.id}, now=now)
        info = _info(row)
        uow.commit()
    return info


def change_password(uow: UnitOfWork, deps: Deps, account_id: int, current: str, new: str, *,
                    ip: str | None) -> StaffInfo:
    """Change one's own password (the current one is checked; a failure counts as one).

    Every session of the account ends; the caller may carry its own on with the returned
    account's new session epoch, since it has just proven the password.
    """
    check_password_rules(new)
    now = deps.clock.now()
    hasher = _hasher(deps.password_cost)
    with uow:
        session = uow.session
        row = session.get(StaffAccount, account_id, with_for_update=True)
        if row is None or row.disabled_at is not None or _locked(row, now):
            raise LoginFailed()
        try:
            hasher.verify(row.password_hash, current[:MAX_PASSWORD])
        except (VerificationError, InvalidHashError):
            _failed(session, row, now, ip, "password change")
            uow.commit()
            raise LoginFailed() from None
        row.password_hash = hasher.hash(new)
        _end_sessions(row)
        audit.append(session, _info(row).actor, "staff.password", ip=ip,
                     detail={"account": row.id}, now=now)
        info = _info(row)
        uow.commit()
    return info


def account_id_by_name(uow: UnitOfWork, name: str) -> int:
    """Return the id of the account with this name."""
    with uow:
        found = uow.session.scalar(select(StaffAccount.id).where(
            StaffAccount.name == " ".join(name.split())))
    if found is None:
        raise InvalidInput([FieldProblem("name", f"no account is named {name!r}")])
    return int(found)


def log_out(uow: UnitOfWork, deps: Deps, account: StaffInfo, *, ip: str | None) -> None:
    """End every session of the account (a copied cookie included) and record the logout."""
    with uow:
        row = uow.session.get(StaffAccount, account.id, with_for_update=True)
        if row is not None:
            _end_sessions(row)
        audit.append(uow.session, account.actor, "logout", ip=ip, now=deps.clock.now())
        uow.commit()


def session_is_current(account: StaffInfo | None, epoch: object) -> bool:
    """Tell whether a session that began in this epoch may go on (a live account, same epoch)."""
    if account is None or account.disabled:
        return False
    return type(epoch) is int and epoch == account.session_epoch
