"""sedcore.load_nebular_model: named nebular models found through entry points."""

from __future__ import annotations

import importlib.metadata

import pytest

import sedcore


class _EntryPoint:
    """Stands in for an installed distribution's entry point (the registry, not physics)."""

    def __init__(self, name, factory):
        self.name, self.value, self._factory, self.dist = name, "pkg.mod:factory", factory, None

    def load(self):
        return self._factory


def _registry(monkeypatch, **factories):
    eps = [_EntryPoint(n, f) for n, f in factories.items()]

    def entry_points(group):
        assert group == sedcore.NEBULAR_MODELS_GROUP
        return eps

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)


def test_unknown_name_lists_the_installed_models(monkeypatch):
    _registry(monkeypatch, cloudy=lambda: None)
    with pytest.raises(ValueError, match=r"unknown nebular model 'cludy'; installed: \['cloudy'\]"):
        sedcore.load_nebular_model("cludy")
    _registry(monkeypatch)
    with pytest.raises(ValueError, match="installed: none.*pip install 'emulate-neb"):
        sedcore.load_nebular_model("cloudy")


def test_factory_result_must_satisfy_the_protocol(monkeypatch):
    _registry(monkeypatch, broken=lambda **kw: object())
    with pytest.raises(ValueError, match="does not satisfy sedcore.NebularModel"):
        sedcore.load_nebular_model("broken")


def test_options_reach_the_factory(monkeypatch):
    class Model:
        line_names = ("H 1 4861.32A",)
        line_wave_aa = None
        max_age_yr = 3e7

        def __init__(self, **kw):
            self.kw = kw

        def emission(self, *args):  # pragma: no cover - not called here
            raise NotImplementedError

    _registry(monkeypatch, mine=Model)
    assert sedcore.load_nebular_model("mine", line_window_px=7).kw == {"line_window_px": 7}
    assert "mine" in sedcore.available_nebular_models()
