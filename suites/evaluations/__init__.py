"""Evaluation plugins by name. A plugin is one folder here (found without being listed) or any module that calls
`register(...)`: a suite's `plugins:` list, or the `sftbench.evaluations` entry-point group of an installed
package, names modules outside sftbench. See protocol.py for what a plugin declares."""

from __future__ import annotations

import importlib
import pkgutil
from importlib.metadata import entry_points

from sftbench.common.suggest import unknown_name_message
from sftbench.suites.evaluations.protocol import Evaluation

_PLUGINS: dict[str, Evaluation] = {}
_MODULES: dict[str, str] = {}  # plugin name -> the module that registered it
_discovered = False
ENTRY_POINT_GROUP = "sftbench.evaluations"


def register(plugin: Evaluation) -> Evaluation:
    """Add an evaluation plugin (at import of its module); a name is registered once."""
    known = _PLUGINS.get(plugin.name)
    if known is not None and type(known).__qualname__ != type(plugin).__qualname__:
        raise ValueError(f"evaluation {plugin.name!r} is already registered by {_MODULES[plugin.name]}")
    _PLUGINS[plugin.name] = plugin
    _MODULES[plugin.name] = type(plugin).__module__
    return plugin


def _discover() -> None:
    global _discovered
    if _discovered:
        return
    _discovered = True
    for info in pkgutil.iter_modules(__path__):
        if info.ispkg:
            importlib.import_module(f"{__name__}.{info.name}")
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        importlib.import_module(ep.module)


def load_plugins(modules: list[str]) -> None:
    """Import plugin modules named outside sftbench (a suite's `plugins:`); each registers itself."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise ValueError(f"plugin module {module!r} cannot be imported ({exc}); install it or put it on "
                             "PYTHONPATH") from None


def registered() -> list[Evaluation]:
    """Every plugin, in plan order."""
    _discover()
    return sorted(_PLUGINS.values(), key=lambda p: (p.order, p.name))


def get(name: str) -> Evaluation:
    _discover()
    if name not in _PLUGINS:
        raise ValueError(unknown_name_message("evaluation", name, _PLUGINS))
    return _PLUGINS[name]


def module_of(name: str) -> str:
    return _MODULES[name]


__all__ = ["Evaluation", "register", "registered", "get", "load_plugins", "module_of"]
