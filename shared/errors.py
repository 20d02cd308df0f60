"""Typed errors with the protocol's stable error codes.

Every error that crosses the wire carries one of the codes below; clients map a code back to the
class with `error_from_code`. Messages are written for the person using the editor: they say what
went wrong and what to do next.
"""

from __future__ import annotations


class ImpastoError(Exception):
    """Base of every Impasto error; `code` is the stable protocol error code."""

    code = "internal"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_wire(self) -> dict:
        """The body of an `error` event for this error."""
        return {"code": self.code, "message": self.message}


class MalformedMessage(ImpastoError):
    """The bytes on the socket are not a valid Impasto message."""

    code = "malformed"


class UnsupportedVersion(ImpastoError):
    """The peer speaks a protocol version this side does not."""

    code = "unsupported_version"


class UnknownType(ImpastoError):
    """The message type is not one this side knows."""

    code = "unknown_type"


class BadRequest(ImpastoError):
    """A field is missing, of the wrong type or out of range."""

    code = "bad_request"


class BadImage(ImpastoError):
    """A pixel buffer does not match its description, or an image file cannot be read."""

    code = "bad_image"


class TooLarge(ImpastoError):
    """A message, image or request exceeds one of the daemon's limits."""

    code = "too_large"


class UnknownStyle(ImpastoError):
    """A built-in style name that no style library or model provides."""

    code = "unknown_style"


class QueueFull(ImpastoError):
    """The daemon's job queue is full; try again when a job finishes."""

    code = "queue_full"


class NotFound(ImpastoError):
    """The job id is not known to the daemon (finished, or never submitted by this client)."""

    code = "not_found"


class OutOfMemory(ImpastoError):
    """The device ran out of memory for this job."""

    code = "out_of_memory"


class Unavailable(ImpastoError):
    """No daemon answered at the endpoint."""

    code = "unavailable"


class Timeout(ImpastoError):
    """The daemon did not answer in time."""

    code = "timeout"


class JobLost(ImpastoError):
    """The daemon no longer runs a job its client still waits for: it stopped the job while the
    client was silent or unreachable, or it was restarted since the job was submitted."""

    code = "job_lost"


class JobCancelled(ImpastoError):
    """The job was cancelled before it finished."""

    code = "cancelled"


class InternalError(ImpastoError):
    """A bug in the daemon; the log file has the details."""

    code = "internal"


_BY_CODE = {
    cls.code: cls
    for cls in (
        MalformedMessage,
        UnsupportedVersion,
        UnknownType,
        BadRequest,
        BadImage,
        TooLarge,
        UnknownStyle,
        QueueFull,
        NotFound,
        OutOfMemory,
        Unavailable,
        Timeout,
        JobLost,
        JobCancelled,
        InternalError,
    )
}

ERROR_CODES = tuple(sorted(_BY_CODE))


def error_from_code(code: str, message: str) -> ImpastoError:
    """Rebuild the typed error for a wire error code (unknown codes become InternalError)."""
    return _BY_CODE.get(code, InternalError)(message)
