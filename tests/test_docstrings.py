"""Every public module, class, function and method of mlpcore has a docstring, and the
examples in those docstrings run (doctest) and print what they say.

Public means: the package and its submodules whose names do not start with "_" (the NumPy
twin `mlpcore.reference` included); in each, the names of its `__all__`, or, without one,
the classes and functions defined in it whose names do not start with "_"; in each such
class, the methods and properties it defines (an override without its own docstring counts
when the method it overrides has one: the API reference shows that one). The lazily
imported estimators (`mlpcore.MLPClassifier`, `MLPRegressor`) are walked too."""

import doctest
import importlib
import inspect
import os
import pathlib
import pkgutil
import re
import types

import pytest

import mlpcore


def public_modules():
    """mlpcore, its public submodules and those of its public subpackages, by name."""
    names, todo = [], [mlpcore]
    while todo:
        package = todo.pop(0)
        names.append(package.__name__)
        for info in pkgutil.iter_modules(package.__path__):
            # the bundled libscipy_openblas*.so sits in the package directory: not a module
            if info.name.startswith(("_", "lib")):
                continue
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            if info.ispkg:
                todo.append(module)
            else:
                names.append(module.__name__)
    return names


def public_names(module):
    if getattr(module, "__all__", None) is not None:
        names = list(module.__all__)
        if module is mlpcore:
            names += list(mlpcore._LAZY_ESTIMATORS)
        return names
    return [
        name
        for name, obj in vars(module).items()
        if not name.startswith("_")
        and (inspect.isclass(obj) or inspect.isfunction(obj))
        and obj.__module__ == module.__name__
    ]


def members(cls):
    """(name, object) of the public methods and properties of a class: those it defines and
    those it inherits from mlpcore's own (also private) base classes."""
    out, names = [], set()
    for klass in cls.__mro__:
        if klass is not cls and not klass.__module__.startswith("mlpcore"):
            continue
        for name, attr in vars(klass).items():
            if name.startswith("_") or name in names:
                continue
            if isinstance(attr, (staticmethod, classmethod)):
                attr = attr.__func__
            elif not (isinstance(attr, property) or inspect.isfunction(attr)):
                # other descriptors, e.g. scikit-learn's available_if (partial_fit)
                attr = getattr(cls, name, None)
                if not inspect.isroutine(attr):
                    continue
            names.add(name)
            out.append((name, attr))
    return out


def walk():
    """[(qualified name, object, docstring or None)] over the public API."""
    found, seen = [], set()
    for module_name in public_modules():
        module = importlib.import_module(module_name)
        found.append((module_name, module, inspect.getdoc(module)))
        for name in public_names(module):
            obj = getattr(module, name)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)) or id(obj) in seen:
                continue  # constants and re-exported modules; each object once
            seen.add(id(obj))
            where = f"{obj.__module__}.{obj.__qualname__}"
            found.append((where, obj, obj.__doc__ and inspect.cleandoc(obj.__doc__)))
            if inspect.isclass(obj):
                for member, attr in members(obj):
                    target = getattr(attr, "fget", attr)
                    if id(target) in seen:
                        continue  # a base class's method, walked with the base
                    seen.add(id(target))
                    # getdoc follows an override to the documented method it overrides
                    doc = inspect.getdoc(
                        attr if isinstance(attr, property) else getattr(obj, member)
                    )
                    found.append((f"{where}.{member}", attr, doc))
    return found


WALKED = walk()


def test_the_walk_sees_the_api():
    names = {name for name, _, _ in WALKED}
    # one of each kind, so the walk cannot silently come back empty
    for expected in (
        "mlpcore",
        "mlpcore.reference.network",
        "mlpcore.sequential.Sequential",
        "mlpcore.sequential.Sequential.fit",
        "mlpcore.layers.Dense",
        "mlpcore.callbacks.Callback.on_epoch_end",
        "mlpcore.schedules.OneCycle.lr",
        "mlpcore.estimators._classes.MLPClassifier.partial_fit",
        "mlpcore.io.save",
    ):
        assert expected in names, expected
    print(f"{len(WALKED)} public modules, classes, functions and methods walked")
    assert len(WALKED) > 250


def test_every_public_name_has_a_docstring():
    missing = [name for name, _, doc in WALKED if not (doc and doc.strip())]
    assert not missing, f"{len(missing)} public names without a docstring:\n" + "\n".join(missing)


def test_a_missing_docstring_is_found():
    # The walk on a made-up module: an undocumented function and method are reported.
    fake = types.ModuleType("mlpcore_fake")
    fake.__doc__ = "A module."
    exec(
        "def documented():\n    'Yes.'\n\ndef bare():\n    pass\n\n"
        "class C:\n    'A class.'\n    def m(self):\n        pass\n",
        fake.__dict__,
    )
    for obj in (fake.documented, fake.bare, fake.C):
        obj.__module__ = "mlpcore_fake"
    names = public_names(fake)
    assert names == ["documented", "bare", "C"]
    assert [n for n, _ in members(fake.C)] == ["m"]
    assert inspect.getdoc(fake.bare) is None and inspect.getdoc(fake.C.m) is None


# ---- doctests ------------------------------------------------------------------------------
def doctests():
    finder = doctest.DocTestFinder(recurse=False, exclude_empty=True)
    tests, seen = [], set()
    for name, obj, _ in WALKED:
        target = obj.fget if isinstance(obj, property) else obj
        if id(target) in seen:
            continue
        seen.add(id(target))
        module = target if inspect.ismodule(target) else inspect.getmodule(target)
        for test in finder.find(target, name, module=module, globs={}):
            if test.examples:
                tests.append(test)
    return tests


DOCTESTS = doctests()


def test_the_docstrings_have_examples():
    print(
        f"{len(DOCTESTS)} docstrings with examples, {sum(len(t.examples) for t in DOCTESTS)} lines"
    )
    assert len(DOCTESTS) >= 10


@pytest.mark.parametrize("test", DOCTESTS, ids=[t.name for t in DOCTESTS])
def test_docstring_examples(test, tmp_path, monkeypatch):
    source = "".join(e.source for e in test.examples)
    for module in ("sklearn", "onnxruntime", "onnx", "torch"):  # optional dependencies
        if re.search(rf"\b(import|from) {module}\b", source):
            pytest.importorskip(module)
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    out = []
    runner.run(test, out=out.append)
    assert runner.failures == 0, "".join(out)
    assert os.getcwd() == str(tmp_path)


# ---- the API reference lists every public name ---------------------------------------------
def reference_entries():
    """The names the site's API reference (docs/api/index.rst) documents: the entries of its
    autosummary tables (relative to mlpcore) and its automodule targets."""
    text = (pathlib.Path(__file__).resolve().parent.parent / "docs/api/index.rst").read_text()
    entries, in_table = set(), False
    for line in text.splitlines():
        if line.startswith(".. autosummary::"):
            in_table = True
        elif line.startswith(".. automodule::"):
            entries.add(line.split("::")[1].strip().removeprefix("mlpcore."))
            in_table = False
        elif in_table and line.startswith("   ") and not line.strip().startswith(":"):
            entries.add(line.strip())
        elif in_table and line and not line.startswith(" "):
            in_table = False
    return entries


def test_the_api_reference_lists_every_public_name():
    documented = set()
    for entry in reference_entries():
        obj, parts = mlpcore, entry.split(".")
        for i, part in enumerate(parts):
            obj = getattr(obj, part)
            if i < len(parts) - 1 and inspect.ismodule(obj):
                documented.add(id(obj))  # a module is listed through the names it holds
        documented.add(id(obj))
    names = list(mlpcore.__all__) + list(mlpcore._LAZY_ESTIMATORS)
    missing = [name for name in names if id(getattr(mlpcore, name)) not in documented]
    print(f"{len(names)} names of mlpcore.__all__, {len(reference_entries())} reference entries")
    assert not missing, (
        "docs/api/index.rst does not list these names of mlpcore.__all__: " + ", ".join(missing)
    )
