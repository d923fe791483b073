"""What Ray refuses or warns about at decoration, as Ray does it (no node needed)."""

from __future__ import annotations

import pytest

import edgeray
from edgeray.util.placement_group import PlacementGroup


def test_remote_with_empty_parentheses_is_refused() -> None:
    with pytest.raises(AssertionError, match="must be applied either with no arguments"):  # Ray asserts
        edgeray.remote()
    with pytest.raises(TypeError):  # and it is a TypeError too, as edgeray's other misuses are
        edgeray.remote()

    def f() -> int:
        return 1

    with pytest.raises(AssertionError):
        edgeray.remote(f, num_cpus=1)


def test_unknown_options_are_refused_in_rays_words() -> None:
    with pytest.raises(ValueError, match="Invalid option keyword no_such for remote functions"):
        @edgeray.remote(no_such=1)
        def f() -> int:
            return 1

    with pytest.raises(ValueError, match="Invalid option keyword no_such for actors"):
        @edgeray.remote(no_such=1)
        class A:
            pass


def test_subclassing_an_actor_class_is_refused() -> None:
    @edgeray.remote
    class Base:
        pass

    with pytest.raises(TypeError, match="Attempted to define subclass 'Derived' of actor class 'Base'"):
        class Derived(Base):  # type: ignore[misc, valid-type]
            pass


def test_class_attributes_through_the_actor_class() -> None:
    @edgeray.remote
    class Counter:
        SOME_CONST = 42
        _private = "p"

        @staticmethod
        def static_method(x: int) -> int:
            return x + 1

        @classmethod
        def class_method(cls) -> int:
            return cls.SOME_CONST

        def inc(self) -> int:
            return 1

    assert Counter.SOME_CONST == 42 and Counter._private == "p"
    assert Counter.static_method(1) == 2 and Counter.class_method() == 42
    assert Counter.options(num_cpus=0).SOME_CONST == 42
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        _ = Counter.missing
    # a method is not handed out: cloudpickle would find it at module.Counter.inc and pickle
    # the class's functions by reference (a worker that cannot import the module then fails)
    with pytest.raises(AttributeError, match="is a method"):
        _ = Counter.inc
    assert callable(Counter.remote) and callable(Counter.options)  # the ActorClass's own come first


def test_object_store_memory_option() -> None:
    with pytest.warns(DeprecationWarning, match="object_store_memory"):
        @edgeray.remote(object_store_memory=1 << 20)
        class A:
            pass

    with pytest.raises(ValueError, match="not implemented for tasks"):
        @edgeray.remote(object_store_memory=1 << 20)
        def f() -> int:
            return 1

    with pytest.raises(ValueError, match="object_store_memory"):
        edgeray.remote(object_store_memory=-1)(A._cls)


@pytest.mark.filterwarnings("ignore:placement_group parameter is deprecated")
def test_deprecated_placement_group_options_warn() -> None:
    pg = PlacementGroup(b"\x01" * 16, [{"CPU": 1}, {"CPU": 1}], b"\x02" * 20)

    @edgeray.remote
    def f() -> int:
        return 1

    with pytest.warns(DeprecationWarning, match="placement_group parameter is deprecated"):
        f.options(placement_group=pg)
    with pytest.warns(DeprecationWarning, match="placement_group_bundle_index parameter is deprecated"):
        f.options(placement_group=pg, placement_group_bundle_index=1)
    with pytest.warns(DeprecationWarning, match="placement_group_capture_child_tasks parameter is deprecated"):
        f.options(placement_group=pg, placement_group_capture_child_tasks=True)
    with pytest.raises(ValueError, match="should be specified via the scheduling_strategy option"):
        f.options(placement_group=pg, scheduling_strategy="SPREAD")
    with pytest.raises(TypeError, match="placement_group"):
        f.options(placement_group="my-group")
    with pytest.raises(ValueError, match="placement_group_bundle_index"):
        f.options(placement_group_bundle_index=-2)


@pytest.mark.parametrize("bundles", [[{"bundle": 1}], [{"CPU": 1}, {"CPU": 1, "bundle": 0}]])
def test_bundles_naming_the_reserved_bundle_resource_are_refused(bundles: list) -> None:
    from edgeray.util.placement_group import placement_group

    with pytest.raises(ValueError, match="bundle is a system reserved resource"):
        placement_group(bundles)
    assert not edgeray.is_initialized()  # refused before any node is asked


@pytest.mark.parametrize("bundles", [[{"CPU": "x"}], [{1: 1}], [{"CPU": True}], [3]])
def test_bundles_that_are_not_resource_dicts_are_refused_in_rays_words(bundles: list) -> None:
    from edgeray.util.placement_group import placement_group

    with pytest.raises(ValueError, match="Bundles must be a non-empty list of resource dictionaries"):
        placement_group(bundles)
    assert not edgeray.is_initialized()
