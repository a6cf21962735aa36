"""Domain errors. The API layer maps them to HTTP codes (services/collector/errors.py); nothing below it
raises HTTPException."""


class DomainError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFoundError(DomainError):
    """The thing asked for does not exist (404)."""


class ForbiddenError(DomainError):
    """The caller is known but may not do this (403): an annotator outside the datasets assigned to them."""


class ConflictError(DomainError):
    """The request clashes with what is stored (409)."""


class InvalidInputError(DomainError):
    """The request is well-formed JSON but its content is unacceptable (422)."""


class PayloadTooLargeError(DomainError):
    """The request exceeds a size limit (413)."""
