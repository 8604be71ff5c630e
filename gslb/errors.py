"""One error hierarchy, mapped to protocol answers and exit codes in one place each."""

from __future__ import annotations


class GslbError(Exception):
    """Base of every error gslb raises on purpose."""


class ConfigError(GslbError):
    """Settings that cannot be used; the message names the setting."""


class ZoneError(GslbError):
    """A zone file that cannot be served; the message names file, line or owner."""

    def __init__(self, path: str, detail: str, line: int | None = None) -> None:
        self.path = path
        self.line = line
        self.detail = detail
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {detail}")


class FormatError(GslbError):
    """A DNS message that cannot be parsed; answered with FORMERR when a header is readable."""


class StoreError(GslbError):
    """A store operation that failed or was refused; whatever it was writing was rolled back."""


class DatabaseError(StoreError):
    """The database cannot be reached, or failed in a way that no single object explains."""


class ObjectError(StoreError):
    """A write refused because of one object; names the object and, when one is at fault, the field.

    ``object_type`` is ``site``, ``pool`` or ``member``; a member's name is ``POOL/ADDRESS``.
    """

    def __init__(self, object_type: str, object_name: str, detail: str, field: str | None = None) -> None:
        self.object_type = object_type
        self.object_name = object_name
        self.field = field
        self.detail = detail
        where = f"{object_type} {object_name!r}" + (f" {field}" if field else "")
        super().__init__(f"{where}: {detail}")


class NotFoundError(ObjectError):
    """The object to change or delete does not exist (HTTP 404)."""


class ConflictError(ObjectError):
    """Refused because of other stored objects: a name already taken, an object still in use (409)."""


class PreconditionError(ObjectError):
    """A conditional write whose object changed since the writer read it (HTTP 412)."""


class InvalidError(ObjectError):
    """A value the store cannot hold: out of range, duplicated, or naming something unknown (422)."""


class ValidationError(StoreError):
    """Every invalid value of one write, reported at once; ``problems`` holds each (422)."""

    def __init__(self, problems: list[InvalidError]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in problems))


class HealthError(GslbError):
    """A health query or pushed result the node's health monitor could not take."""


class HealthUnavailableError(HealthError):
    """The health monitor is not running (restarting) or did not answer in time (HTTP 503)."""


class HealthRefusedError(HealthError):
    """A request about a member the monitor refuses; ``field`` names the culprit.

    ``kind`` is ``not-found`` (no such pool or member, HTTP 404) or ``conflict`` (the member's check
    does not take pushed results, HTTP 409).
    """

    def __init__(self, kind: str, field: str, detail: str) -> None:
        self.kind = kind
        self.field = field
        self.detail = detail
        super().__init__(detail)
