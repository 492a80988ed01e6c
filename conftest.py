"""Root conftest: enables pytester, which the plugin's own tests use to run pytest in pytest."""

pytest_plugins = ["pytester"]
