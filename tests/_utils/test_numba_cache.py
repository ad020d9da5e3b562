"""One cache key for all compiled kernels (``_utils/_numba_cache``)."""

import re
from pathlib import Path

import pytest

pytest.importorskip("numba")

from anomalykit._utils import _numba_cache
from anomalykit._utils._numba_cache import KERNEL_FILES, kernels_stamp, stamp_of

ROOT = Path(_numba_cache.__file__).resolve().parents[1]


def test_every_module_with_numba_kernels_is_listed_and_salted():
    with_numba = sorted(
        str(path.relative_to(ROOT))
        for path in ROOT.rglob("*.py")
        if re.search(r"^(from numba|import numba)", path.read_text(), re.M)
        and path.name != "_numba_cache.py"
    )
    assert with_numba == sorted(KERNEL_FILES)
    for name in KERNEL_FILES:  # each installs the locator before its first @njit
        text = (ROOT / name).read_text()
        assert text.index("salt_kernel_caches()") < text.index("@njit")


def test_the_stamp_follows_every_kernel_file(tmp_path):
    files = ("a/one.py", "two.py")
    (tmp_path / "a").mkdir()
    (tmp_path / "a/one.py").write_text("x = 1\n")
    (tmp_path / "two.py").write_text("y = 2\n")
    before = stamp_of(tmp_path, files)
    assert stamp_of(tmp_path, files) == before
    (tmp_path / "two.py").write_text("y = 3\n")
    assert stamp_of(tmp_path, files) != before
    assert len(kernels_stamp()) == 32


def test_kernels_are_cached_under_the_joint_stamp():
    from anomalykit.cluster import _numba_kernels, _numba_panels

    for kernel in (_numba_kernels.lloyd_chunk, _numba_panels.nearest_panels):
        locator = kernel._cache._impl._locator  # (Numba's internals: the dispatcher's cache)
        assert isinstance(locator, _numba_cache._SaltedLocator)
        own, joint = locator.get_source_stamp()
        assert joint == kernels_stamp() and own == locator._inner.get_source_stamp()


def test_other_functions_keep_numbas_own_locator(tmp_path):
    from numba.core import caching

    source = tmp_path / "elsewhere.py"
    source.write_text("def f():\n    return 1\n")
    namespace = {}
    exec(compile(source.read_text(), str(source), "exec"), namespace)
    assert _numba_cache._SaltedLocator.from_function(namespace["f"], str(source)) is None
    assert caching.CacheImpl._locator_classes[0] is _numba_cache._SaltedLocator


def test_numba_can_warn_about_an_uncachable_kernel_through_the_salted_locator():
    # Numba names the source file in that warning from the locator's _py_file
    import warnings
    from types import SimpleNamespace

    from numba.core.caching import CompileResultCacheImpl

    from anomalykit.cluster import _numba_kernels

    impl = CompileResultCacheImpl(_numba_kernels.lloyd_chunk.py_func)
    assert isinstance(impl._locator, _numba_cache._SaltedLocator)
    result = SimpleNamespace(
        lifted=(),
        library=SimpleNamespace(has_dynamic_globals=True),
        fndesc=SimpleNamespace(qualname="k"),
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert not impl.check_cachable(result)
    assert any(str(w.filename).endswith("_numba_kernels.py") for w in caught)
