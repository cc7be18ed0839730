from enum import IntEnum
from typing import Optional, Union

class ErrorCode(IntEnum):
    OK = 0
    AUTHENTICATION_ERROR = 1004
    INVALID_SESSION_ID = 1005
    CONNECT_FAILED = 1006
    NOT_CONNECTED = 1010
    INVALID_PARAMETER = 1011
    ILLEGAL_STATE = 1015
    CONNECT_TIMEOUT = 1021
    CONNECTION_LIMIT_EXCEEDED = 1027
    USER_MEDIA_ACCESS_DENIED = 1500
    PUBLISH_TIMEOUT = 1541
    CREATE_PEER_CONNECTION_FAILED = 1553
    HARDWARE_UNAVAILABLE = 1580
    NO_DEVICES_FOUND = 1581
    DEVICE_NOT_FOUND = 1582
    CONSTRAINTS_NOT_SATISFIED = 1583
    MEDIA_SOURCE_INVALID = 1584
    STREAM_CREATE_FAILED = 1590
    SET_REMOTE_DESCRIPTION_FAILED = 1610
    INTERNAL_ERROR = 2000
    UNEXPECTED_SERVER_RESPONSE = 2001

class Reason(IntEnum):
    clientDisconnected = 1
    forceDisconnected = 2
    forceUnpublished = 3
    mediaStopped = 4
    networkDisconnected = 5
    quality = 6
    publishVideo = 7
    publishAudio = 8

class Error(Exception):
    code: Union[ErrorCode, int]
    name: str
    message: str
    def __init__(self, code: int, message: str = ..., name: Optional[str] = ...) -> None: ...
