"""Every public class and function documents itself with numpydoc sections and examples."""

import inspect

import pytest

import skdeepcluster
import skdeepcluster.datasets
import skdeepcluster.inspection
import skdeepcluster.metrics
import skdeepcluster.nn

PUBLIC = [
    getattr(module, name)
    for module in (skdeepcluster, skdeepcluster.metrics, skdeepcluster.datasets,
                   skdeepcluster.nn, skdeepcluster.inspection)
    for name in module.__all__
    if inspect.isclass(getattr(module, name)) or inspect.isfunction(getattr(module, name))
]


@pytest.mark.parametrize("obj", PUBLIC, ids=lambda obj: obj.__qualname__)
def test_public_docstring_has_sections(obj):
    doc = inspect.getdoc(obj) or ""
    sections = [line.strip() for line, underline in zip(doc.splitlines(),
                                                         doc.splitlines()[1:])
                if underline.strip() and set(underline.strip()) == {"-"}]
    assert "Examples" in sections, f"{obj.__qualname__} has no Examples section"
    assert ">>> " in doc.split("Examples\n--------", 1)[1]
    has_params = bool(inspect.signature(obj).parameters) if inspect.isfunction(obj) else (
        bool([p for p in inspect.signature(obj.__init__).parameters if p != "self"])
        and obj.__init__ is not object.__init__)
    if has_params:
        assert "Parameters" in sections, f"{obj.__qualname__} has no Parameters section"
