"""Gin recipes: finding them, parsing them with ``--bind`` overrides, reading them back."""

from __future__ import annotations

import contextlib
import importlib
import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import gin

from zoo._compat import gin_function, gin_operative_bindings, gin_selectors
from zoo.errors import ConfigError, unknown

# Modules whose import registers gin configurables (cheap: no TensorFlow).
CONFIGURABLE_MODULES = [
    "zoo.models",
    "zoo.datasets",
    "zoo.training.settings",
    "zoo.training.optimizers",
    "zoo.training.distribute",
    "zoo.training.transfer",
    "callbacks.schedule_config",
]
# Other installed packages add theirs through this entry-point group (``tuners`` registers
# ``tune.*`` there, so that ``zoo train best.gin`` parses a tuning recipe's lines while the
# core of ``zoo`` never imports ``tuners``).
ENTRY_POINT_GROUP = "zoo.configurables"


def plugin_modules() -> list[str]:
    """Modules that other packages declare in the ``zoo.configurables`` entry-point group."""
    from importlib.metadata import entry_points

    return [ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)]


def register_configurables(extra: Iterable[str] = ()) -> None:
    """Import every module that defines gin configurables (cheap: no TensorFlow)."""
    from zoo import datasets

    for module in (*CONFIGURABLE_MODULES, *extra):
        importlib.import_module(module)
    for module in plugin_modules():
        with contextlib.suppress(ImportError):  # a plugin that is not installed any more
            importlib.import_module(module)
    datasets.list_datasets()


def source_recipes_dir() -> Path | None:
    """``recipes/`` beside the package in a source checkout, if there is one."""
    candidate = Path(__file__).resolve().parent.parent / "recipes"
    return candidate if candidate.is_dir() else None


def recipe_dirs() -> list[Path]:
    """Where bundled recipes are looked for: the checkout, then the installed copy."""
    dirs = []
    src = source_recipes_dir()
    if src is not None:
        dirs.append(src)
    try:
        installed = Path(str(resources.files("zoo.recipes")))
        if installed.is_dir() and installed not in dirs:
            dirs.append(installed)
    except (ModuleNotFoundError, TypeError):
        pass
    return dirs


def list_recipes() -> list[str]:
    """Names of the bundled recipes (usable as ``zoo train NAME``)."""
    names = set()
    for d in recipe_dirs():
        names.update(p.stem for p in d.glob("*.gin"))
    return sorted(names)


def resolve_recipe(recipe: str | Path) -> Path:
    """A recipe path: an existing file, ``recipes/NAME.gin`` here, or a bundled recipe NAME."""
    path = Path(recipe)
    if path.is_file():
        return path.resolve()
    name = path.name[:-4] if path.name.endswith(".gin") else path.name
    candidates = [Path("recipes") / f"{name}.gin"] + [d / f"{name}.gin" for d in recipe_dirs()]
    if path.parent == Path("."):
        for c in candidates:
            if c.is_file():
                return c.resolve()
    if path.suffix == ".gin" or path.parent != Path("."):
        raise ConfigError(f"Recipe file {str(recipe)!r} does not exist.")
    raise unknown("recipe", name, list_recipes())


_GIN_UNKNOWN = re.compile(r"No configurable matching '([^']+)'")
_GIN_NO_PARAM = re.compile(r"Configurable '([^']+)' doesn't have a parameter named '([^']+)'")


def _clean_gin_error(exc: Exception, where: str) -> ConfigError:
    """One sentence from gin's multi-line parse errors."""
    import tokenize

    if isinstance(exc, tokenize.TokenError):
        return ConfigError(f"{where}: the text ends inside an unclosed bracket or string.")
    text = str(exc)
    match = _GIN_UNKNOWN.search(text)
    if match:
        selector = match.group(1)
        err = unknown("gin configurable", selector, _all_selectors())
        return ConfigError(f"{where}: {err}")
    match = _GIN_NO_PARAM.search(text)
    if match:
        name, param = match.groups()
        try:
            params = sorted(_parameters_of(name))
        except Exception:
            params = []
        hint = unknown(f"parameter of {name}", param, params) if params else None
        return ConfigError(
            f"{where}: {hint}" if hint else f"{where}: {name} has no parameter {param!r}."
        )
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return ConfigError(f"{where}: {first}")


_BARE_WORD = re.compile(r"[A-Za-z_][\w.\-/]*")


def _literal(text: str) -> str | None:
    """``text`` as gin would read it, quoting a bare word; None when it is no plain value."""
    import ast

    text = text.strip()
    if text in ("True", "False", "None") or text.startswith(("@", "%")):
        return text
    try:
        ast.literal_eval(text)
        return text
    except (ValueError, SyntaxError):
        pass
    return repr(text) if _BARE_WORD.fullmatch(text) else None


def corrected_binding(binding: str) -> str | None:
    """The binding a shell or a hurried hand most likely meant: a bare word quoted
    (``train.optimizer=sgd`` -> ``train.optimizer='sgd'``), a comma list bracketed
    (``cnn.filters=16,32`` -> ``cnn.filters=[16, 32]``); None when no such fix applies."""
    key, _, value = binding.partition("=")
    key, value = key.strip(), value.strip()
    if not key or not value:
        return None
    if "," in value and not value.startswith(("[", "(", "{", "'", '"')):
        items = [_literal(v) for v in value.split(",")]
        if all(items):
            return f"{key}=[{', '.join(items)}]"
        return None
    fixed = _literal(value)
    return f"{key}={fixed}" if fixed and fixed != value else None


def _binding_error(exc: Exception, binding: str) -> ConfigError:
    """gin's error for a ``--bind`` line, with the corrected binding when one is likely."""
    fixed = corrected_binding(binding)
    if fixed and not isinstance(exc, ValueError):
        return ConfigError(
            f"binding {binding.strip()!r} is not a gin value (strings need quotes, lists "
            f'brackets): did you mean --bind "{fixed}"?'
        )
    return _clean_gin_error(exc, f"binding {binding.strip()!r}")


def _all_selectors() -> list[str]:
    return sorted({selector.split(".")[-1] for selector in gin_selectors()})


def _parameters_of(name: str) -> list[str]:
    import inspect

    return list(inspect.signature(gin_function(name)).parameters)


class _NoMissingPath(logging.Filter):
    """Drop gin's 'Path not found' lines: it logs one per search-path miss of an include."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.getMessage()).startswith("Path not found")


@contextlib.contextmanager
def quiet_includes() -> Iterator[None]:
    """Silence gin's search-path misses while an ``include`` is resolved."""
    quiet = _NoMissingPath()
    root = logging.getLogger()
    root.addFilter(quiet)
    try:
        yield
    finally:
        root.removeFilter(quiet)


def parse(
    recipe: str | Path | None = None, bindings: Sequence[str] = (), clear: bool = True
) -> Path | None:
    """Parse a recipe and ``KEY=VALUE`` bindings into gin's global config; returns the path."""
    register_configurables()
    for d in recipe_dirs():
        gin.add_config_file_search_path(str(d))
    path = resolve_recipe(recipe) if recipe is not None else None
    if path is not None:
        gin.add_config_file_search_path(str(path.parent))
    if clear:
        gin.clear_config()
    bindings = [b for b in bindings if b and b.strip()]
    for b in bindings:
        if "=" not in b:
            raise ConfigError(f"Binding {b!r} is not of the form KEY=VALUE (e.g. train.epochs=3).")
    if path is not None:
        try:
            with quiet_includes():
                gin.parse_config_file(str(path))
        except Exception as exc:  # gin's parser raises many kinds; all mean "fix the text"
            raise _clean_gin_error(exc, f"recipe {path.name}") from None
    for b in bindings:
        try:
            gin.parse_config(b)
        except Exception as exc:  # gin's parser raises many kinds; all mean "fix the text"
            raise _binding_error(exc, b) from None
    from zoo.config.validation import check_bindings

    check_bindings()
    return path


def operative_params() -> dict[str, Any]:
    """The operative config as flat ``selector.param -> value`` (for MLflow and HParams)."""
    params: dict[str, Any] = {}
    for (scope, selector), values in sorted(gin_operative_bindings().items()):
        short = selector.split(".")[-1]
        prefix = f"{scope}/{short}" if scope else short
        for key, value in sorted(values.items()):
            params[f"{prefix}.{key}"] = value
    return params


def scalar_params(params: dict[str, Any]) -> dict[str, bool | int | float | str]:
    """Params as values TensorBoard's HParams plugin and MLflow accept."""
    out: dict[str, bool | int | float | str] = {}
    for key, value in params.items():
        if isinstance(value, bool | int | float | str):
            out[key] = value
        elif value is None:
            out[key] = "None"
        else:
            out[key] = repr(value)[:500]
    return out


def operative_config() -> str:
    """The operative config as gin text: what the configurables called so far used (a
    run's ``operative_config.gin``, written once its model, optimizer and data are built)."""
    return gin.operative_config_str()
