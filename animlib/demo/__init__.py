"""Demo package: trains small numpy classifiers, attacks them for real, and logs example runs."""

from .build import DemoConfig, DemoResult, build_demo

__all__ = ["DemoConfig", "DemoResult", "build_demo"]
