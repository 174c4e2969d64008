"""Kept only for callers not yet moved: the keys are made by `khabar_shared.meili_setup`."""

from khabar_shared.meili_setup import MeiliKeys, provision_keys

__all__ = ["MeiliKeys", "provision_keys"]
