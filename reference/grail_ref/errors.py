"""The one error type: any input the specification rejects raises ProtocolError."""


class ProtocolError(ValueError):
    pass
