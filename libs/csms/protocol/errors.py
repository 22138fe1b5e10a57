"""CALLERROR codes, spelled as each version's specification spells them.

OCPP 1.6 says "FormationViolation" and (sic) "OccurenceConstraintViolation"; 2.0.1 and 2.1 say
"FormatViolation" and "OccurrenceConstraintViolation" and add RpcFrameworkError and
MessageTypeNotSupported. Code that rejects a frame names the *kind* of failure; this module turns
it into the right word for the station's version.
"""

from __future__ import annotations

from enum import Enum

from csms.protocol.versions import OcppVersion


class Failure(Enum):
    FORMAT = "format"  # syntactically wrong payload / not an OCPP-J array
    RPC_FRAMEWORK = "rpc"  # message id unreadable, wrong array shape
    MESSAGE_TYPE = "message_type"  # unknown MessageTypeId
    NOT_IMPLEMENTED = "not_implemented"  # unknown action
    NOT_SUPPORTED = "not_supported"  # known action that the CSMS does not accept
    OCCURRENCE = "occurrence"  # required field missing
    TYPE = "type"  # field of the wrong type
    PROPERTY = "property"  # field value out of range / not in enum / too long
    INTERNAL = "internal"  # the CSMS could not process it (e.g. Kafka did not acknowledge)
    SECURITY = "security"


_V16: dict[Failure, str] = {
    Failure.FORMAT: "FormationViolation",
    Failure.RPC_FRAMEWORK: "FormationViolation",
    Failure.MESSAGE_TYPE: "GenericError",
    Failure.NOT_IMPLEMENTED: "NotImplemented",
    Failure.NOT_SUPPORTED: "NotSupported",
    Failure.OCCURRENCE: "OccurenceConstraintViolation",
    Failure.TYPE: "TypeConstraintViolation",
    Failure.PROPERTY: "PropertyConstraintViolation",
    Failure.INTERNAL: "InternalError",
    Failure.SECURITY: "SecurityError",
}

_V2X: dict[Failure, str] = {
    Failure.FORMAT: "FormatViolation",
    Failure.RPC_FRAMEWORK: "RpcFrameworkError",
    Failure.MESSAGE_TYPE: "MessageTypeNotSupported",
    Failure.NOT_IMPLEMENTED: "NotImplemented",
    Failure.NOT_SUPPORTED: "NotSupported",
    Failure.OCCURRENCE: "OccurrenceConstraintViolation",
    Failure.TYPE: "TypeConstraintViolation",
    Failure.PROPERTY: "PropertyConstraintViolation",
    Failure.INTERNAL: "InternalError",
    Failure.SECURITY: "SecurityError",
}


def error_code(version: OcppVersion, failure: Failure) -> str:
    return (_V16 if version is OcppVersion.V16 else _V2X)[failure]


class FrameRejected(Exception):
    """An inbound frame the CSMS answers with a CALLERROR instead of processing it."""

    def __init__(self, failure: Failure, description: str, uid: str = "-1", action: str = ""):
        super().__init__(description)
        self.failure = failure
        self.description = description
        self.uid = uid
        self.action = action
