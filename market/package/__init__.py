"""App packages (format schema 1): read and check, build, render.

A pure library: nothing here touches the database, storage or the network.
"""

from market.package.builder import BuiltPackage, SourceFile, build_package
from market.package.errors import REFUSAL_CODES, SIZE_CODES, PackageRefused
from market.package.limits import Limits
from market.package.manifest import Component, Dependency, Maintainer, Manifest, parse_manifest
from market.package.model import Icon, Package
from market.package.reader import read_package
from market.package.render import (
    InstanceContext,
    RenderError,
    ValuesInvalid,
    component_templates,
    deep_merge,
    merged_values,
    render_templates,
    validate_values,
)
from market.package.safe_yaml import SafeYamlError, load_yaml
from market.package.secrets import MASK, mask_secrets, secret_paths

__all__ = [
    "MASK",
    "REFUSAL_CODES",
    "SIZE_CODES",
    "BuiltPackage",
    "Component",
    "Dependency",
    "Icon",
    "InstanceContext",
    "Limits",
    "Maintainer",
    "Manifest",
    "Package",
    "PackageRefused",
    "RenderError",
    "SafeYamlError",
    "SourceFile",
    "ValuesInvalid",
    "build_package",
    "component_templates",
    "deep_merge",
    "load_yaml",
    "mask_secrets",
    "merged_values",
    "parse_manifest",
    "read_package",
    "render_templates",
    "secret_paths",
    "validate_values",
]
