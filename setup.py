"""What pyproject.toml cannot say: the top-level ``policies/`` ships inside the wheel as ``app/policies``.

``[tool.setuptools.packages.find]`` cannot add a package that lives outside ``app/``, so the package list is
built here; ``app/rbac/policy.py`` finds the files with ``importlib.resources``. Everything else about the
distribution (metadata, dependencies, package data patterns) is in pyproject.toml.
"""

from setuptools import find_packages, setup

setup(
    packages=[
        *find_packages(include=["app", "app.*"]),
        "app.migrations.versions",  # revision modules, loaded by Alembic from their folder (no __init__.py)
        "app.policies",
    ],
    package_dir={"app.policies": "policies"},
)
