"""KV connectors that cannot be captured in full graphs (pure).

vLLM asks the KV connector's class, before any platform pass, whether it needs PIECEWISE graphs
(`requires_piecewise_for_cudagraph(kv_connector_extra_config)`), and where it does and the mode has
full graphs it sets PIECEWISE (vLLM 0.23 to 0.32, `VllmConfig.__post_init__`). The connectors that
say yes do layer-by-layer asynchronous work that a full graph would skip on replay: vLLM's
`LMCacheConnectorV1` and vLLM Ascend's `AscendStoreConnector` (also registered as
`MooncakeConnectorStoreV1`) with `use_layerwise`, and a `MultiConnector` when any of its connectors
does. vLLM Ascend 0.23.0.post1's own `LMCacheAscendConnector` does not.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

from ..errors import invalid

KEY = "kv_transfer_config"
ROLES = ("kv_producer", "kv_consumer", "kv_both")  # vLLM's KVRole
LAYERWISE = "use_layerwise"
MULTI = "MultiConnector"
# Connector names whose class needs PIECEWISE graphs with `use_layerwise` in its extra config: vLLM's
# registry (0.23 to 0.32) and vLLM Ascend's `register_connector` (0.23.0.post1, 0.26.0rc, main alike),
# each checked against the real classes by the contract tier.
LAYERWISE_CONNECTORS: Mapping[str, str] = {
    "LMCacheConnectorV1": "vLLM's LMCacheConnectorV1",
    "AscendStoreConnector": "vLLM Ascend's AscendStoreConnector",
    "MooncakeConnectorStoreV1": "vLLM Ascend's AscendStoreConnector (registered as MooncakeConnectorStoreV1)",
}


class KvTransfer(NamedTuple):
    """vLLM's `kv_transfer_config`, the fields that decide whether its connector allows full graphs."""

    connector: str
    role: str
    extra: Mapping[str, Any] = MappingProxyType({})
    module_path: str | None = None  # an external connector: its class is not known here
    children: tuple[KvTransfer, ...] = ()  # a MultiConnector's connectors

    @classmethod
    def parse(cls, value: object, key: str = KEY) -> KvTransfer:
        """From vLLM's `kv_transfer_config` as a user writes it (`--kv-transfer-config JSON`)."""
        if not isinstance(value, Mapping):
            raise invalid(key, value, "a JSON object, as vLLM's --kv-transfer-config takes")
        connector = value.get("kv_connector")
        if not isinstance(connector, str) or not connector.strip():
            raise invalid(f"{key}.kv_connector", connector, "a connector name, e.g. LMCacheConnectorV1")
        role = value.get("kv_role")
        if role not in ROLES:
            raise invalid(f"{key}.kv_role", role, ", ".join(ROLES), choices=ROLES)
        extra = value.get("kv_connector_extra_config")
        extra = {} if extra is None else extra
        if not isinstance(extra, Mapping):
            raise invalid(f"{key}.kv_connector_extra_config", extra, "a JSON object")
        module_path = value.get("kv_connector_module_path")
        if module_path is not None and (not isinstance(module_path, str) or not module_path):
            raise invalid(f"{key}.kv_connector_module_path", module_path, "a module name")
        children: tuple[KvTransfer, ...] = ()
        if connector.strip() == MULTI and module_path is None:
            listed = extra.get("connectors", [])
            if not isinstance(listed, list):
                raise invalid(f"{key}.kv_connector_extra_config.connectors", listed, "a list of connector objects")
            children = tuple(cls.parse(child, f"{key}.kv_connector_extra_config.connectors[{i}]")
                             for i, child in enumerate(listed))
        return cls(connector.strip(), role, MappingProxyType(dict(extra)), module_path, children)


def piecewise_reason(kv: KvTransfer | None) -> str | None:
    """Why vLLM will run only PIECEWISE graphs with this connector (its `requires_piecewise_for_cudagraph`),
    naming the connector; None where it allows full graphs."""
    if kv is None or kv.module_path is not None:
        return None
    if kv.connector == MULTI:
        reasons = [reason for child in kv.children if (reason := piecewise_reason(child))]
        return f"{MULTI} holds {reasons[0]}" if reasons else None
    if kv.connector in LAYERWISE_CONNECTORS and kv.extra.get(LAYERWISE, False):
        return (f"KV connector {LAYERWISE_CONNECTORS[kv.connector]} with {LAYERWISE} transfers layer by layer, which "
                "full graphs cannot capture (vLLM's requires_piecewise_for_cudagraph)")
    return None


def unknown_note(kv: KvTransfer | None) -> str | None:
    """For an external connector (`kv_connector_module_path`): its rule is not known here."""
    if kv is None or kv.module_path is None:
        return None
    return (f"KV connector {kv.connector} comes from {kv.module_path}, whose requires_piecewise_for_cudagraph is not "
            "known here: the plan assumes it allows full graphs (vLLM sets PIECEWISE where it does not)")
