"""Wire types of the `command/exec` JSON-RPC family and the reference's
validation of them, error texts included.

The reference (Codex app-server) decodes requests with serde, so a client
sees serde's messages (``Invalid request: missing field `command` ``,
``invalid type: string "ls", expected a sequence``, ...). pydantic's own
messages differ in wording and in which problem is reported first, so every
incoming params object is first walked by a small serde imitation (the
``_Shape`` classes below: same key order, same first error, same texts) and
only then turned into a pydantic model, which by then cannot fail. The
checks that follow decoding (spec §3 and §8) are plain functions here, in
the reference's order; those that need the process registry or the sandbox
layer live in the server.

Observed details the imitation keeps (reference 0.169.0):

* keys are examined in document order; the first bad value wins, then the
  first missing required field (declaration order); unknown keys are ignored;
* ``null`` counts as absent only for ``Option`` fields; for the ``bool``
  flags it is ``invalid type: null, expected a boolean``;
* structs also accept the sequence form (``"size": [24, 80]``);
* a repeated key keeps its last value (a repeated ``id``/``method``/``params``
  makes the message undecodable: dropped);
* integers outside i64/u64 fail while the request is buffered, before any
  field is looked at (``invalid type: integer `…` as u128, expected any value``);
  floats are printed approximately as the reference does (see ``_float_text``).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Literal, NoReturn, TypeAlias

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from ..execpolicy.render import has_lone_surrogate, rust_debug_str
from .api import DEFAULT_OUTPUT_CAP, DEFAULT_TIMEOUT_MS

# JSON-RPC error codes the reference uses.
INVALID_REQUEST = -32600
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603

METHOD_INITIALIZE = "initialize"
METHOD_INITIALIZED = "initialized"
METHOD_EXEC = "command/exec"
METHOD_WRITE = "command/exec/write"
METHOD_TERMINATE = "command/exec/terminate"
METHOD_RESIZE = "command/exec/resize"
METHOD_OUTPUT_DELTA = "command/exec/outputDelta"
# Server → client: may this command run? (`CommandExecutionRequestApprovalParams`)
METHOD_REQUEST_APPROVAL = "item/commandExecution/requestApproval"
# execguard's own: one shell tool call through the whole flow (`shell_tool_rpc`).
METHOD_SHELL_TOOL_RUN = "shellTool/run"
METHOD_SHELL_TOOL_CANCEL = "shellTool/cancel"
SHELL_TOOL_METHODS = frozenset({METHOD_SHELL_TOOL_RUN, METHOD_SHELL_TOOL_CANCEL})

DEFAULT_TTY_SIZE = (24, 80)

# Every request method the reference accepts, in its order: the
# unknown-method error lists them all (observed on 0.169.0). execguard
# implements `initialize` and the `command/exec` family; the others get
# `not_implemented_message`.
_REFERENCE_METHOD_NAMES = """
    initialize server/diagnostics userVerification/status userVerification/enroll
    userVerification/delete userVerification/verify userVerification/cancel thread/start
    thread/resume thread/fork thread/sample thread/sample/cancel thread/archive thread/delete
    thread/unsubscribe thread/increment_elicitation thread/decrement_elicitation
    thread/name/set thread/prediction/request thread/goal/set thread/goal/get
    thread/goal/clear thread/queue/add thread/queue/list thread/queue/update
    thread/queue/delete thread/queue/reorder thread/queue/start thread/metadata/update
    thread/attachment/add thread/attachment/list thread/attachmentOwner/list
    thread/attachment/remove thread/section/move thread/settings/update
    thread/memoryMode/set thread/memory/read memory/status memory/reset rollout/compress
    thread/unarchive thread/compact/start thread/shellCommand
    thread/approveGuardianDeniedAction thread/backgroundTerminals/clean
    thread/backgroundTerminals/list thread/backgroundTerminals/terminate thread/revert
    thread/list project/list project/read project/create project/import project/update
    project/move project/delete threadSection/list threadSection/create
    threadSection/update threadSection/delete thread/search thread/searchOccurrences
    thread/loaded/list thread/read thread/readState/update thread/turns/list
    thread/items/list thread/items/read thread/guardianReview thread/inject_items
    thread/prepareApprovedPlan skills/list skills/extraRoots/set hooks/list marketplace/add
    marketplace/remove marketplace/upgrade plugin/list plugin/search plugin/installed
    plugin/reconcile plugin/read plugin/skill/read plugin/share/save
    plugin/share/updateTargets plugin/share/list plugin/share/checkout plugin/share/delete
    app/read app/list app/installed fs/readFile fs/writeFile fs/createDirectory
    fs/getMetadata fs/readDirectory fs/remove fs/copy fs/watch fs/unwatch
    skills/config/write plugin/install plugin/uninstall turn/start turn/settings/update
    turn/steer turn/interrupt thread/realtime/start thread/realtime/appendAudio
    thread/realtime/appendText thread/realtime/appendSpeech thread/realtime/stop
    thread/timeline/list thread/realtime/listVoices review/start model/list
    account/gatewayOAuth/read account/gatewayOAuth/login account/gatewayOAuth/cancel
    modelProvider/list modelProvider/config/write modelProvider/capabilities/read
    experimentalFeature/list permissionProfile/list experimentalFeature/enablement/set
    remoteControl/enable remoteControl/disable remoteControl/status/read
    remoteControl/pairing/start remoteControl/pairing/status remoteControl/client/list
    remoteControl/client/revoke collaborationMode/list mock/experimentalMethod
    environment/add environment/info environment/status mcpServer/oauth/login
    config/mcpServer/reload mcpServerStatus/list mcpServer/resource/read
    mcpServer/event/stream/start mcpServer/event/stream/stop mcpServer/tool/call
    windowsSandbox/setupStart windowsSandbox/readiness account/login/start
    account/bedrock/discover account/bedrock/setup account/gcp/setup
    account/bedrock/checkGovCloudRequirements account/login/cancel accountSession/list
    accountSession/switch account/logout account/securitySetup/read account/rateLimits/read
    account/rateLimitResetCredit/consume account/usage/read account/workspaceMessages/read
    account/sendAddCreditsNudgeEmail feedback/upload feedback/save command/exec
    command/exec/write command/exec/terminate command/exec/resize process/spawn
    process/writeStdin process/kill process/resizePty config/read externalAgentConfig/detect
    externalAgentConfig/import externalAgentConfig/import/recordHistory
    externalAgentConfig/import/readHistories config/value/write config/batchWrite
    configRequirements/read account/read getConversationSummary gitDiffToRemote
    getAuthStatus fuzzyFileSearch fuzzyFileSearch/sessionStart fuzzyFileSearch/sessionUpdate
    fuzzyFileSearch/sessionStop
"""
REFERENCE_METHODS: tuple[str, ...] = tuple(_REFERENCE_METHOD_NAMES.split())
_REFERENCE_METHOD_SET = frozenset(REFERENCE_METHODS)

_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1
_U64_MAX = 2**64 - 1
# serde_json refuses deeper documents ("recursion limit exceeded").
_MAX_DEPTH = 128

Json: TypeAlias = Any
RequestId: TypeAlias = "str | int"


class RpcError(Exception):
    """A request failed with a JSON-RPC error; ``message`` is the wire text."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def invalid_request(message: str) -> RpcError:
    return RpcError(INVALID_REQUEST, message)


def invalid_params(message: str) -> RpcError:
    return RpcError(INVALID_PARAMS, message)


def internal_error(message: str) -> RpcError:
    return RpcError(INTERNAL_ERROR, message)


NOT_INITIALIZED = "Not initialized"
ALREADY_INITIALIZED = "Already initialized"


def unknown_method_message(method: str) -> str:
    return f"Invalid request: {_unknown_variant(method, REFERENCE_METHODS)}"


def not_implemented_message(method: str) -> str:
    """For the reference's methods outside the `command/exec` family: the
    method exists in the protocol, execguard does not serve it."""
    return f"method not implemented by execguard: {method}"


def is_reference_method(method: str) -> bool:
    return method in _REFERENCE_METHOD_SET


def quote_id(process_id: str) -> str:
    """A process id as the reference quotes it in messages: a JSON string."""
    return json.dumps(process_id, ensure_ascii=False)


def no_active_message(process_id: str) -> str:
    return f"no active command/exec for process id {quote_id(process_id)}"


def no_longer_running_message(process_id: str) -> str:
    return f"command/exec {quote_id(process_id)} is no longer running"


STDIN_NOT_ENABLED = "stdin streaming is not enabled for this command/exec"


def duplicate_id_message(process_id: str) -> str:
    return f"duplicate active command/exec process id: {quote_id(process_id)}"


# --------------------------------------------------------------------------
# Reading messages


class JsonFloat(float):
    """A JSON number with a fraction or exponent."""


class _Object(dict[str, Json]):
    """A JSON object whose text repeats a key. Like the reference's parser
    (an insertion-ordered map), the last value wins at the first position;
    a repeated envelope member makes the whole message undecodable."""

    repeated: frozenset[str]


def _reject_constant(name: str) -> NoReturn:
    # NaN / Infinity are not JSON; serde_json rejects the whole line.
    raise ValueError(name)


def _object(pairs: list[tuple[str, Json]]) -> dict[str, Json]:
    result = dict(pairs)
    if len(result) == len(pairs):
        return result
    repeated = _Object(result)
    seen: set[str] = set()
    twice: set[str] = set()
    for key, _ in pairs:
        (twice if key in seen else seen).add(key)
    repeated.repeated = frozenset(twice)
    return repeated


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_DECODER = json.JSONDecoder(parse_float=JsonFloat, parse_constant=_reject_constant,
                            object_pairs_hook=_object)


def _too_deep_or_lone_surrogate(value: Json, check_surrogates: bool) -> bool:
    stack: list[tuple[Json, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            if depth >= _MAX_DEPTH:
                return True
            stack.extend((v, depth + 1) for v in item.values())
            if check_surrogates:
                stack.extend((k, depth + 1) for k in item)
        elif isinstance(item, list):
            if depth >= _MAX_DEPTH:
                return True
            stack.extend((v, depth + 1) for v in item)
        elif check_surrogates and isinstance(item, str) and has_lone_surrogate(item):
            return True
    return False



@dataclass(frozen=True)
class Request:
    """A JSON-RPC request: it gets exactly one response."""

    id: RequestId
    method: str
    params: Json
    has_params: bool


@dataclass(frozen=True)
class Notification:
    method: str
    params: Json


@dataclass(frozen=True)
class Response:
    """The client's answer to a request of ours (an approval): ``result``,
    or ``error`` when the client refused it."""

    id: RequestId
    result: Json
    error: Json


def parse_message(text: str | bytes) -> Request | Notification | Response | None:
    """One incoming message, or ``None`` for anything the reference drops
    without an answer: not JSON, not an object, an id that is neither a
    string nor an i64 (the message then reads as a notification). A response
    is returned for the caller to match with its own requests (the reference
    drops those it did not ask for)."""
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        value = _DECODER.decode(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, dict):
        return None
    check_surrogates = _SURROGATE_ESCAPE.search(text) is not None
    if _too_deep_or_lone_surrogate(value, check_surrogates):
        return None
    method = value.get("method")
    if method is None and ("result" in value or "error" in value):
        response_id = value.get("id")
        if isinstance(response_id, str | int) and _is_request_id(response_id):
            return Response(response_id, value.get("result"), value.get("error"))
        return None
    if not isinstance(method, str) or _ENVELOPE & getattr(value, "repeated", frozenset()):
        return None
    params = value.get("params")
    request_id = value.get("id", _MISSING)
    if _is_request_id(request_id) and _is_trace(value.get("trace")):
        return Request(request_id, method, params, params is not None)
    return Notification(method, params)


_MISSING = object()
_ENVELOPE = frozenset(("id", "method", "params", "trace"))


def _is_request_id(value: object) -> bool:
    if isinstance(value, str):
        return True
    return isinstance(value, int) and not isinstance(value, bool) and (
        _I64_MIN <= value <= _I64_MAX)


def _is_trace(value: Json) -> bool:
    if value is None:
        return True
    if not isinstance(value, dict):
        return False
    return all(value.get(key) is None or isinstance(value.get(key), str)
               for key in ("traceparent", "tracestate"))


# Bytes a JSON string must escape: the C0 controls, `"` and `\`. All are
# ASCII, so none is ever part of a multi-byte UTF-8 sequence: escaping can
# go byte by byte, and any slice of the text escapes on its own.
_JSON_SPECIAL = bytes(range(0x20)) + b'"\\'
_JSON_ESCAPES = {byte: json.dumps(chr(byte))[1:-1].encode("ascii") for byte in _JSON_SPECIAL}
_encode_basestring = json.encoder.encode_basestring  # the C encoder when available
# Escaping works on slices of this size: the pieces stay small, and a slice
# of one repeated special byte (the NULs of binary output) is one repetition.
JSON_SLICE = 1024 * 1024


def json_string_parts(text: bytes) -> list[bytes]:
    """``text`` (UTF-8) as a JSON string, quotes included, in pieces whose
    concatenation is ``json.dumps(text.decode(), ensure_ascii=False)``
    encoded, for output of any size: nothing is decoded to ``str`` unless
    it needs escaping, and no piece is the size of the whole. Output with
    nothing to escape (the usual case) is one piece, as it is."""
    if len(text.translate(None, _JSON_SPECIAL)) == len(text):
        return [b'"', text, b'"']
    parts = [b'"']
    for start in range(0, len(text), JSON_SLICE):
        piece = text[start:start + JSON_SLICE]
        if len(piece.translate(None, _JSON_SPECIAL)) == len(piece):
            parts.append(piece)
        elif piece.count(piece[:1]) == len(piece):
            parts.append(_JSON_ESCAPES[piece[0]] * len(piece))
        else:
            # Latin-1 maps each byte to one character and back, so bytes of
            # multi-byte sequences (all >= 0x80, never escaped) pass through.
            parts.append(_encode_basestring(piece.decode("latin-1"))[1:-1].encode("latin-1"))
    parts.append(b'"')
    return parts


def json_string(text: bytes) -> bytes:
    """`json_string_parts` joined."""
    return b"".join(json_string_parts(text))


def encode(message: Mapping[str, Json]) -> str:
    """One outgoing message as serde_json writes it: compact, raw UTF-8."""
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"))


# --------------------------------------------------------------------------
# A serde imitation


class DeserializeError(Exception):
    """A params shape error; the message is serde's text."""


def describe_unexpected(value: object) -> str:
    """A JSON value as serde names it in ``invalid type: …`` messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean `{'true' if value else 'false'}`"
    if isinstance(value, int):
        return f"integer `{value}`"
    if isinstance(value, float):
        return f"floating point `{_float_text(value)}`"
    if isinstance(value, str):
        return f"string {rust_debug_str(value)}"
    if isinstance(value, list):
        return "sequence"
    return "map"


def _float_text(value: float) -> str:
    """Approximately how the reference prints a float in an error: plain
    decimals from 1e-5 up to 1e16 (``1.5``, ``0.00001``, ``10.0``), else the
    shortest scientific form (``1e+20``, ``5e-324``). The reference's
    arbitrary-precision numbers also print some literals (``2.50``, ``1e0``)
    as ``map``; that quirk is not imitated."""
    if value == 0 or 1e-5 <= abs(value) < 1e16:
        text = format(Decimal(repr(value)), "f")
        return text if "." in text else f"{text}.0"
    sign, digits, exponent = Decimal(repr(value)).as_tuple()
    assert isinstance(exponent, int)
    mantissa = "".join(map(str, digits)).rstrip("0") or "0"
    power = exponent + len(digits) - 1
    fraction = f".{mantissa[1:]}" if len(mantissa) > 1 else ""
    return f"{'-' if sign else ''}{mantissa[0]}{fraction}e{'+' if power >= 0 else '-'}{abs(power)}"


def _invalid_type(value: Json, expected: str) -> DeserializeError:
    return DeserializeError(f"invalid type: {describe_unexpected(value)}, expected {expected}")


def _one_of(names: Iterable[str]) -> str:
    listed = [f"`{name}`" for name in names]
    if not listed:
        return "there are no variants"
    if len(listed) == 1:
        return f"expected {listed[0]}"
    if len(listed) == 2:
        return f"expected {listed[0]} or {listed[1]}"
    return f"expected one of {', '.join(listed)}"


def _unknown_variant(name: str, variants: Iterable[str]) -> str:
    return f"unknown variant `{name}`, {_one_of(variants)}"


def _check_integers(value: Json) -> None:
    """serde buffers a tagged request before decoding it; integers that fit
    neither i64 nor u64 fail there, before any field."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(reversed(item.values()))
        elif isinstance(item, list):
            stack.extend(reversed(item))
        elif isinstance(item, int) and not isinstance(item, bool):
            if item > _U64_MAX:
                raise DeserializeError(
                    f"invalid type: integer `{item}` as u128, expected any value")
            if item < _I64_MIN:
                raise DeserializeError(
                    f"invalid type: integer `{item}` as i128, expected any value")


class _Shape:
    """What one Rust type accepts, and serde's name for it in errors."""

    expecting = "any value"

    def read(self, value: Json) -> Json:
        return value


class _Bool(_Shape):
    expecting = "a boolean"

    def read(self, value: Json) -> Json:
        if isinstance(value, bool):
            return value
        raise _invalid_type(value, self.expecting)


class _Str(_Shape):
    def __init__(self, expecting: str = "a string") -> None:
        self.expecting = expecting

    def read(self, value: Json) -> Json:
        if isinstance(value, str):
            return value
        raise _invalid_type(value, self.expecting)


class _AbsolutePath(_Str):
    def __init__(self) -> None:
        super().__init__("path string")

    def read(self, value: Json) -> Json:
        path = super().read(value)
        if not os.path.isabs(path):
            raise DeserializeError("AbsolutePathBuf deserialized without a base path")
        return os.path.normpath(path)


class _Int(_Shape):
    def __init__(self, name: str, low: int, high: int) -> None:
        self.expecting = name
        self.low = low
        self.high = high

    def read(self, value: Json) -> Json:
        if isinstance(value, int) and not isinstance(value, bool):
            if self.low <= value <= self.high:
                return value
            raise DeserializeError(f"invalid value: integer `{value}`, expected {self.expecting}")
        raise _invalid_type(value, self.expecting)


_I64 = _Int("i64", _I64_MIN, _I64_MAX)
_USIZE = _Int("usize", 0, _U64_MAX)
_U16 = _Int("u16", 0, 0xFFFF)


class _Option(_Shape):
    def __init__(self, inner: _Shape) -> None:
        self.inner = inner
        self.expecting = inner.expecting

    def read(self, value: Json) -> Json:
        return None if value is None else self.inner.read(value)


class _Seq(_Shape):
    expecting = "a sequence"

    def __init__(self, item: _Shape) -> None:
        self.item = item

    def read(self, value: Json) -> Json:
        if isinstance(value, list):
            return [self.item.read(item) for item in value]
        raise _invalid_type(value, self.expecting)


class _Map(_Shape):
    expecting = "a map"

    def __init__(self, item: _Shape) -> None:
        self.item = item

    def read(self, value: Json) -> Json:
        if isinstance(value, dict):
            return {key: self.item.read(item) for key, item in value.items()}
        raise _invalid_type(value, self.expecting)


class _UnitEnum(_Shape):
    """A Rust enum of unit variants (``"restricted"``)."""

    expecting = "string or map"

    def __init__(self, *variants: str) -> None:
        self.variants = variants

    def read(self, value: Json) -> Json:
        if isinstance(value, dict) and len(value) == 1:
            ((value, _),) = value.items()
        elif isinstance(value, dict):
            raise DeserializeError("invalid value: map, expected map with a single key")
        if not isinstance(value, str):
            raise _invalid_type(value, self.expecting)
        if value not in self.variants:
            raise DeserializeError(_unknown_variant(value, self.variants))
        return value


@dataclass(frozen=True)
class _Field:
    name: str
    shape: _Shape
    required: bool = False


class _Struct(_Shape):
    def __init__(self, name: str, *fields: _Field) -> None:
        self.name = name
        self.expecting = f"struct {name}"
        self.fields = {field.name: field for field in fields}

    def read(self, value: Json) -> Json:
        if isinstance(value, dict):
            return self.read_pairs(value.items())
        if isinstance(value, list):
            return self._read_seq(value)
        raise _invalid_type(value, self.expecting)

    def read_pairs(self, pairs: Iterable[tuple[str, Json]]) -> dict[str, Json]:
        result: dict[str, Json] = {}
        for key, item in pairs:
            field = self.fields.get(key)
            if field is None:
                continue
            result[key] = field.shape.read(item)
        for field in self.fields.values():
            if field.required and field.name not in result:
                raise DeserializeError(f"missing field `{field.name}`")
        return result

    def _read_seq(self, items: list[Json]) -> dict[str, Json]:
        count = len(self.fields)
        result: dict[str, Json] = {}
        for index, field in enumerate(self.fields.values()):
            if index >= len(items):
                plural = "element" if count == 1 else "elements"
                raise DeserializeError(
                    f"invalid length {index}, expected {self.expecting} with {count} {plural}")
            result[field.name] = field.shape.read(items[index])
        if len(items) > count:
            plural = "element" if count == 1 else "elements"
            raise DeserializeError(
                f"invalid length {len(items)}, expected {count} {plural} in sequence")
        return result


class _TaggedEnum(_Shape):
    """An internally tagged enum (``{"type": "readOnly", ...}``)."""

    def __init__(self, name: str, tag: str, variants: Mapping[str, _Struct]) -> None:
        self.expecting = f"internally tagged enum {name}"
        self.tag = tag
        self.variants = dict(variants)

    def read(self, value: Json) -> Json:
        if not isinstance(value, dict):
            raise _invalid_type(value, self.expecting)
        if self.tag not in value:
            raise DeserializeError(f"missing field `{self.tag}`")
        variant = self._variant(value[self.tag])
        fields = self.variants[variant].read_pairs(
            (key, item) for key, item in value.items() if key != self.tag)
        return {self.tag: variant, **fields}

    def _variant(self, tag: Json) -> str:
        names = list(self.variants)
        if isinstance(tag, str):
            if tag not in self.variants:
                raise DeserializeError(_unknown_variant(tag, names))
            return tag
        if isinstance(tag, int) and not isinstance(tag, bool) and tag >= 0:
            if tag < len(names):
                return names[tag]
            raise DeserializeError(
                f"invalid value: integer `{tag}`, expected variant index 0 <= i < {len(names)}")
        raise _invalid_type(tag, "variant identifier")


_TERMINAL_SIZE = _Struct("CommandExecTerminalSize",
                         _Field("rows", _U16, True), _Field("cols", _U16, True))
_SANDBOX_POLICY = _TaggedEnum("SandboxPolicyDeserialize", "type", {
    "dangerFullAccess": _Struct("DangerFullAccess"),
    "readOnly": _Struct("ReadOnly", _Field("networkAccess", _Bool())),
    "externalSandbox": _Struct("ExternalSandbox",
                               _Field("networkAccess", _UnitEnum("restricted", "enabled"))),
    "workspaceWrite": _Struct("WorkspaceWrite",
                              _Field("writableRoots", _Seq(_AbsolutePath())),
                              _Field("networkAccess", _Bool()),
                              _Field("excludeTmpdirEnvVar", _Bool()),
                              _Field("excludeSlashTmp", _Bool())),
})
# Field order is the reference's declaration order (it shows in the sequence
# form and in "expected struct CommandExecParams with 14 elements").
_EXEC_PARAMS = _Struct(
    "CommandExecParams",
    _Field("command", _Seq(_Str()), True),
    _Field("processId", _Option(_Str())),
    _Field("tty", _Bool()),
    _Field("streamStdin", _Bool()),
    _Field("streamStdoutStderr", _Bool()),
    _Field("outputBytesCap", _Option(_USIZE)),
    _Field("disableOutputCap", _Bool()),
    _Field("disableTimeout", _Bool()),
    _Field("timeoutMs", _Option(_I64)),
    _Field("cwd", _Option(_Str("path string"))),
    _Field("env", _Option(_Map(_Option(_Str())))),
    _Field("size", _Option(_TERMINAL_SIZE)),
    _Field("sandboxPolicy", _Option(_SANDBOX_POLICY)),
    _Field("permissionProfile", _Option(_Str())),
)
_WRITE_PARAMS = _Struct("CommandExecWriteParams",
                        _Field("processId", _Str(), True),
                        _Field("deltaBase64", _Option(_Str())),
                        _Field("closeStdin", _Bool()))
_RESIZE_PARAMS = _Struct("CommandExecResizeParams",
                         _Field("processId", _Str(), True),
                         _Field("size", _TERMINAL_SIZE, True))
_TERMINATE_PARAMS = _Struct("CommandExecTerminateParams", _Field("processId", _Str(), True))
_INITIALIZE_PARAMS = _Struct(
    "InitializeParams",
    _Field("clientInfo", _Struct("ClientInfo",
                                 _Field("name", _Str(), True),
                                 _Field("title", _Option(_Str())),
                                 _Field("version", _Str(), True)), True),
    _Field("capabilities", _Option(_Struct(
        "InitializeCapabilities",
        _Field("experimentalApi", _Bool()),
        _Field("explicitGatewayOauth", _Bool()),
        _Field("extensions", _Option(_Map(_Shape()))),
        _Field("mcpServerOpenaiFormElicitation", _Bool()),
        _Field("optOutNotificationMethods", _Option(_Seq(_Str()))),
        _Field("requestAttestation", _Bool()),
        _Field("requiredHumanApproval", _Bool()),
    ))),
)


# --------------------------------------------------------------------------
# Wire models


class _Wire(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True,
                              extra="ignore")


class TerminalSize(_Wire):
    rows: int = Field(ge=0, le=0xFFFF)
    cols: int = Field(ge=0, le=0xFFFF)


class DangerFullAccessPolicy(_Wire):
    type: Literal["dangerFullAccess"]


class ReadOnlyPolicy(_Wire):
    type: Literal["readOnly"]
    network_access: bool = False


class ExternalSandboxPolicy(_Wire):
    type: Literal["externalSandbox"]
    network_access: Literal["restricted", "enabled"] = "restricted"


class WorkspaceWritePolicy(_Wire):
    type: Literal["workspaceWrite"]
    writable_roots: list[str] = Field(default_factory=list)
    network_access: bool = False
    exclude_tmpdir_env_var: bool = False
    exclude_slash_tmp: bool = False


SandboxPolicy = Annotated[
    DangerFullAccessPolicy | ReadOnlyPolicy | ExternalSandboxPolicy | WorkspaceWritePolicy,
    Field(discriminator="type"),
]


class CommandExecParams(_Wire):
    command: list[str]
    process_id: str | None = None
    tty: bool = False
    stream_stdin: bool = False
    stream_stdout_stderr: bool = False
    output_bytes_cap: int | None = Field(default=None, ge=0)
    disable_output_cap: bool = False
    disable_timeout: bool = False
    timeout_ms: int | None = None
    cwd: str | None = None
    env: dict[str, str | None] | None = None
    size: TerminalSize | None = None
    sandbox_policy: SandboxPolicy | None = None
    permission_profile: str | None = None


class CommandExecWriteParams(_Wire):
    process_id: str
    delta_base64: str | None = None
    close_stdin: bool = False


class CommandExecResizeParams(_Wire):
    process_id: str
    size: TerminalSize


class CommandExecTerminateParams(_Wire):
    process_id: str


class ClientInfo(_Wire):
    name: str
    title: str | None = None
    version: str


class InitializeCapabilities(_Wire):
    experimental_api: bool = False


class InitializeParams(_Wire):
    client_info: ClientInfo
    capabilities: InitializeCapabilities | None = None


class CommandExecResponse(_Wire):
    exit_code: int
    stdout: str
    stderr: str


class CommandExecOutputDelta(_Wire):
    process_id: str
    stream: Literal["stdout", "stderr"]
    delta_base64: str
    cap_reached: bool


class InitializeResponse(_Wire):
    user_agent: str
    codex_home: str
    platform_family: str
    platform_os: str


def dump(model: BaseModel) -> dict[str, Json]:
    return model.model_dump(by_alias=True, mode="json")


Params: TypeAlias = (CommandExecParams | CommandExecWriteParams | CommandExecResizeParams
                     | CommandExecTerminateParams | InitializeParams)

_DECODERS: dict[str, tuple[_Struct, Callable[[dict[str, Json]], Params]]] = {
    METHOD_INITIALIZE: (_INITIALIZE_PARAMS, InitializeParams.model_validate),
    METHOD_EXEC: (_EXEC_PARAMS, CommandExecParams.model_validate),
    METHOD_WRITE: (_WRITE_PARAMS, CommandExecWriteParams.model_validate),
    METHOD_RESIZE: (_RESIZE_PARAMS, CommandExecResizeParams.model_validate),
    METHOD_TERMINATE: (_TERMINATE_PARAMS, CommandExecTerminateParams.model_validate),
}
IMPLEMENTED_METHODS = frozenset(_DECODERS)


def decode_params(request: Request) -> Params:
    """The request's params as a model, or ``-32600 Invalid request: …``
    with serde's text. The method must be one of `IMPLEMENTED_METHODS`."""
    shape, build = _DECODERS[request.method]
    try:
        if request.has_params:
            _check_integers(request.params)
        else:
            raise DeserializeError("missing field `params`")
        fields = shape.read(request.params)
    except DeserializeError as error:
        raise invalid_request(f"Invalid request: {error}") from None
    return build(fields)


# --------------------------------------------------------------------------
# command/exec checks (spec §3) and the plan they produce


@dataclass(frozen=True)
class ExecPlan:
    """A `command/exec` request that passed the parameter checks, with the
    defaults applied (what the runtime's ``ExecSpec`` needs, before the
    sandbox layer wraps it)."""

    argv: list[str]
    process_id: str | None
    cwd: str
    env: dict[str, str]
    tty: bool
    stream_stdin: bool
    stream_output: bool
    output_cap: int | None
    timeout_ms: int | None
    size: tuple[int, int] | None
    sandbox_policy: dict[str, Json] | None


PERMISSION_PROFILE_NEEDS_EXPERIMENTAL = (
    "command/exec.permissionProfile requires experimentalApi capability")


def check_experimental(params: CommandExecParams, experimental_api: bool) -> None:
    """Row 0: checked on the decoded request, before every other check."""
    if params.permission_profile is not None and not experimental_api:
        raise invalid_request(PERMISSION_PROFILE_NEEDS_EXPERIMENTAL)


def plan_exec(params: CommandExecParams, *, server_cwd: str,
              server_env: Mapping[str, str]) -> ExecPlan:
    """Rows 2–10 of spec §3, in order. Row 8 (network proxy) has no
    counterpart; row 9 only rejects permission profiles, which execguard
    does not implement (sandbox policies are judged by the sandbox layer
    when the request is built, row 11, in the server)."""
    if not params.command:
        raise invalid_request("command must not be empty")
    if params.sandbox_policy is not None and params.permission_profile is not None:
        raise invalid_request("`permissionProfile` cannot be combined with `sandboxPolicy`")
    if params.size is not None and not params.tty:
        raise invalid_params("command/exec size requires tty: true")
    if params.disable_output_cap and params.output_bytes_cap is not None:
        raise invalid_params("command/exec cannot set both outputBytesCap and disableOutputCap")
    if params.disable_timeout and params.timeout_ms is not None:
        raise invalid_params("command/exec cannot set both timeoutMs and disableTimeout")
    if params.timeout_ms is not None and params.timeout_ms < 0:
        raise invalid_params(
            f"command/exec timeoutMs must be non-negative, got {params.timeout_ms}")
    if params.permission_profile is not None:
        raise invalid_request(f"invalid permission profile: {params.permission_profile!r} is "
                              "unknown (execguard does not implement permission profiles)")
    size = None
    if params.size is not None:
        check_size(params.size)
        size = (params.size.rows, params.size.cols)
    elif params.tty:
        size = DEFAULT_TTY_SIZE
    if params.disable_output_cap:
        output_cap = None
    else:
        output_cap = (DEFAULT_OUTPUT_CAP if params.output_bytes_cap is None
                      else params.output_bytes_cap)
    if params.disable_timeout:
        timeout_ms = None
    else:
        timeout_ms = DEFAULT_TIMEOUT_MS if params.timeout_ms is None else params.timeout_ms
    return ExecPlan(
        argv=list(params.command),
        process_id=params.process_id,
        cwd=resolve_cwd(params.cwd, server_cwd),
        env=merge_env(server_env, params.env),
        tty=params.tty,
        stream_stdin=params.tty or params.stream_stdin,
        stream_output=params.tty or params.stream_stdout_stderr,
        output_cap=output_cap,
        timeout_ms=timeout_ms,
        size=size,
        sandbox_policy=(None if params.sandbox_policy is None
                        else dump(params.sandbox_policy)),
    )


def check_process_id(plan: ExecPlan) -> None:
    """Row 12: streaming needs an id the client can address."""
    if plan.process_id is None and (plan.tty or plan.stream_stdin or plan.stream_output):
        raise invalid_request("command/exec tty or streaming requires a client-supplied processId")


def check_size(size: TerminalSize) -> None:
    if size.rows == 0 or size.cols == 0:
        raise invalid_params("command/exec size rows and cols must be greater than 0")


def resolve_cwd(cwd: str | None, server_cwd: str) -> str:
    """Relative paths are joined onto the server's cwd; ``..`` and ``.`` are
    folded lexically (symlinks are not resolved), like the reference."""
    if cwd is None:
        return server_cwd
    return os.path.normpath(os.path.join(server_cwd, cwd))


def merge_env(base: Mapping[str, str], overrides: Mapping[str, str | None] | None
              ) -> dict[str, str]:
    """The server's environment with the request's overrides; ``None``
    removes a variable."""
    env = dict(base)
    for name, value in (overrides or {}).items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


# --------------------------------------------------------------------------
# command/exec/write


def check_write(params: CommandExecWriteParams) -> bytes:
    """§8 checks before the lookup: something to do, and valid base64."""
    if params.delta_base64 is None and not params.close_stdin:
        raise invalid_params("command/exec/write requires deltaBase64 or closeStdin")
    if params.delta_base64 is None:
        return b""
    try:
        return decode_base64(params.delta_base64)
    except Base64Error as error:
        raise invalid_params(f"invalid deltaBase64: {error}") from None


class Base64Error(ValueError):
    """Decoding failed; the message is the Rust `base64` crate's."""


_B64_ALPHABET = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
_PAD = ord("=")
_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/]")


def decode_base64(text: str) -> bytes:
    """Standard alphabet, canonical padding, no trailing bits: the reference's
    ``base64::engine::general_purpose::STANDARD``, with its error messages
    and offsets (bytes of the UTF-8 text), e.g. ``Invalid symbol 33, offset 0.``,
    ``Invalid padding``, ``Invalid input length: 5``,
    ``Invalid last symbol 74, offset 2.``."""
    data = text.encode("utf-8")
    try:
        decoded = base64.b64decode(data, validate=True)
    except binascii.Error:
        pass
    else:
        # Python also accepts non-canonical trailing bits; the reference not.
        if base64.b64encode(decoded) == data:
            return decoded
    raise Base64Error(_base64_error(data))


def _base64_error(data: bytes) -> str:
    """Why the crate rejects ``data`` (which Python could not decode
    canonically): the first problem in the crate's own scan order."""
    length = len(data)
    remainder = length % 4
    if remainder == 1 and data[-1] != _PAD and data[-1] not in _B64_ALPHABET:
        return _invalid_symbol(length - 1, data[-1])
    # The last quad (complete or not) may hold padding; it is decoded apart.
    body_end = max(0, length - remainder - (4 if remainder == 0 else 0))
    bad = _NOT_BASE64.search(data, 0, body_end)
    if bad is not None:
        return _invalid_symbol(bad.start(), data[bad.start()])
    morsels = 0
    padding = 0
    first_padding = 0
    last_symbol = 0
    for offset, byte in enumerate(data[body_end:]):
        if byte == _PAD:
            if offset < 2:
                return _invalid_symbol(body_end + offset, byte)
            if padding == 0:
                first_padding = offset
            padding += 1
            continue
        if padding:
            return _invalid_symbol(body_end + first_padding, _PAD)
        if byte not in _B64_ALPHABET:
            return _invalid_symbol(body_end + offset, byte)
        last_symbol = byte
        morsels += 1
    if length and morsels < 2:
        return f"Invalid input length: {body_end + morsels}"
    if (padding + morsels) % 4:
        return "Invalid padding"
    # Valid symbols and padding: the last symbol sets bits past the last byte.
    return f"Invalid last symbol {last_symbol}, offset {body_end + morsels - 1}."


def _invalid_symbol(offset: int, byte: int) -> str:
    return f"Invalid symbol {byte}, offset {offset}."
