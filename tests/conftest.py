"""Shared fixtures and hypothesis settings."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("OPENCV_IO_ENABLE_OPENEXR", "1")

from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "ci", max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("ci")

# the browser tests' fixtures (lab, chromium, page): both browser modules share one
# JupyterLab (a Chromium per module)
pytest_plugins = ("tests.browser_lab",)

# the longest modules start first: with `make test`'s two pytest-xdist workers (one module per
# worker at a time) a long module started last would run alone at the end
LONGEST_FIRST = (
    "tests/test_browser.py",
    "tests/test_browser_linked.py",
    "tests/test_notebook_runner.py",
    "tests/training/test_supervised.py",
    "tests/training/test_resume.py",
    "tests/test_cli.py",
    "tests/deploy/test_export_infer.py",
)


def pytest_configure(config):
    # pytest-xdist (3.8 here) sorts `--dist loadscope`'s modules by their number of tests
    # unless told not to (`--no-loadscope-reorder`): the order below would be ignored and the
    # long modules with few tests (browser, training) would start late and run alone at the end
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


# the two browser modules each drive a JupyterLab in Chromium: run side by side on a 2-core
# machine they starve each other's kernels and a lost change event fails a test, so they form
# one xdist work unit (one worker, one after the other) while the other worker runs the rest
BROWSER_MODULES = ("tests/test_browser.py", "tests/test_browser_linked.py")


def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class BrowserTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            if nodeid.split("::")[0] in BROWSER_MODULES:
                return "browser"
            return super()._split_scope(nodeid)

    return BrowserTogether(config, log)


def pytest_collection_modifyitems(config, items):
    def rank(item):
        path = item.nodeid.split("::")[0]
        return LONGEST_FIRST.index(path) if path in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: the order within and after these modules is kept
