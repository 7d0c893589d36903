"""Sandbox policies: the four shapes of Codex's app-server ``SandboxPolicy``.

The models accept the wire JSON unchanged (camelCase fields, ``type`` as the
tag) and Python names alike::

    parse_policy({"type": "workspaceWrite", "writableRoots": ["/data"]})
    WorkspaceWrite(writable_roots=("/data",), network_access=True)

* ``dangerFullAccess``: no sandbox at all.
* ``readOnly``: everything readable, nothing writable (but a few devices);
  network off unless ``networkAccess``.
* ``workspaceWrite``: read everything; write the cwd, ``writableRoots``,
  ``/tmp`` and ``$TMPDIR`` (each can be excluded), except the protected
  metadata at the top of every writable root (see :mod:`.roots`).
* ``externalSandbox``: someone else confines the command; nothing is
  enforced here, only the network marker is set.

The JSON-RPC server keeps its own validation with the reference's exact
error texts and builds these models from the result; Python callers get
pydantic's errors, which name the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal, TypeAlias

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    TypeAdapter,
    ValidationError,
)
from pydantic.alias_generators import to_camel

__all__ = [
    "NETWORK_DISABLED_ENV",
    "DangerFullAccess",
    "ExternalSandbox",
    "PolicyError",
    "ReadOnly",
    "SandboxPolicy",
    "WorkspaceWrite",
    "network_restricted",
    "parse_policy",
    "policy_json",
    "with_network_marker",
]

# Set to "1" in a command's environment when its policy keeps the network
# off; every backend and the unconfined externalSandbox set it alike.
NETWORK_DISABLED_ENV = "CODEX_SANDBOX_NETWORK_DISABLED"


class _Policy(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True,
                              extra="ignore")


class DangerFullAccess(_Policy):
    type: Literal["dangerFullAccess"] = "dangerFullAccess"


class ReadOnly(_Policy):
    type: Literal["readOnly"] = "readOnly"
    network_access: StrictBool = False


class WorkspaceWrite(_Policy):
    type: Literal["workspaceWrite"] = "workspaceWrite"
    writable_roots: tuple[StrictStr, ...] = ()
    network_access: StrictBool = False
    exclude_tmpdir_env_var: StrictBool = False
    exclude_slash_tmp: StrictBool = False


class ExternalSandbox(_Policy):
    type: Literal["externalSandbox"] = "externalSandbox"
    network_access: Literal["restricted", "enabled"] = "restricted"


SandboxPolicy: TypeAlias = Annotated[
    DangerFullAccess | ReadOnly | WorkspaceWrite | ExternalSandbox, Field(discriminator="type")]
_ADAPTER: TypeAdapter[SandboxPolicy] = TypeAdapter(SandboxPolicy)


class PolicyError(ValueError):
    """A policy that is not one of the four shapes; the message names the
    field (``writableRoots.0: Input should be a valid string``)."""


def parse_policy(value: object) -> SandboxPolicy:
    """A policy from its JSON shape (a dict) or a model (returned as is)."""
    if isinstance(value, DangerFullAccess | ReadOnly | WorkspaceWrite | ExternalSandbox):
        return value
    try:
        return _ADAPTER.validate_python(value)
    except ValidationError as error:
        problems = []
        for item in error.errors():
            where = ".".join(str(part) for part in item["loc"])
            problems.append(f"{where}: {item['msg']}" if where else item["msg"])
        raise PolicyError("invalid sandbox policy: " + "; ".join(problems)) from None


def policy_json(policy: SandboxPolicy) -> dict[str, object]:
    """The wire JSON of a policy (camelCase, every field)."""
    return policy.model_dump(by_alias=True, mode="json")


def network_restricted(policy: SandboxPolicy) -> bool:
    """Whether the policy keeps the network off (the marker
    ``CODEX_SANDBOX_NETWORK_DISABLED=1`` is then set)."""
    if isinstance(policy, DangerFullAccess):
        return False
    if isinstance(policy, ExternalSandbox):
        return policy.network_access == "restricted"
    return not policy.network_access


def with_network_marker(policy: SandboxPolicy, env: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``env``, with ``CODEX_SANDBOX_NETWORK_DISABLED=1`` when
    ``policy`` keeps the network off (as the reference sets it, also for a
    restricted externalSandbox, where nothing is enforced)."""
    marked = dict(env)
    if network_restricted(policy):
        marked[NETWORK_DISABLED_ENV] = "1"
    return marked
