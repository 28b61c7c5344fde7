"""What the model of a run is: one definition, however the config names it.

A model is configured one of four ways: a catalog name (``model.name``), a River
class by import path with its parameters (``model.estimator`` + ``model.params``),
an ordered pipeline of such steps (``model.pipeline``), or a factory returning an
estimator (``model.factory`` + ``model.version``). The rest of the job sees only
a :class:`ModelDefinition`: the name stamped on records, the task it learns,
whether it is binary-only, a version that changes when the definition does, and
``build(seed)`` for the first model, a reset and a challenger.

A definition's builder names classes and factories by import path, so it pickles
as a few strings and values: it travels in each shard's recovery state, and a
resumed run imports the same code again. Another kind of model (a rule alone, say)
joins through :func:`define` with a builder of its own: a picklable callable from
a seed to a River estimator, and an identity to version it by.

Resolving a config checks, before any event, everything a stream would otherwise
find mid-way: the path imports, names a class (or a callable for a factory), the
class is a River estimator, its parameters are accepted, the model is a
classifier or a regressor that fits ``model.label_type``, and it pickles
(snapshots and recovery need it). A failure is a :class:`ModelDefinitionError`
whose message starts with the key to fix, which the command line turns into
exit code 2.

>>> from driftline.flows.config import ModelConfig
>>> tree = model_definition(ModelConfig(estimator="river.tree.HoeffdingTreeClassifier",
...                                     params={"grace_period": 50}))
>>> tree.name, tree.task, tree.binary_only, tree.description
('HoeffdingTreeClassifier', 'classification', False, 'HoeffdingTreeClassifier(grace_period=50)')
>>> tree.build(seed=7).grace_period
50
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import math
import pickle
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import orjson
from river import base, compose

from driftline.flows.config.base import StartupError
from driftline.flows.plugins import PluginError, load_callable, load_object

if TYPE_CHECKING:
    from driftline.flows.config import ModelConfig

Task = Literal["classification", "regression"]
# A River classifier or regressor: River types them apart (predict_proba_one is a
# classifier's), and the definition's task says which one a model is.
Model = Any
#: Builds a fresh, untrained model from a seed; must pickle (it is part of the state).
Builder = Callable[[int], Model]
#: `model.label_type` as the Python type of a label (float: a regressor's target).
LABEL_TYPES: dict[str, type] = {"bool": bool, "int": int, "str": str, "float": float}

PROBE_SEED = 0  # the seed of the model a definition is inspected and versioned by
DEFINITION_FORMAT = 1  # bump when the identity hashed into a version changes meaning
#: The ModelConfig fields a definition is made of (a new kind adds its own).
DEFINITION_FIELDS = frozenset(
    {"name", "estimator", "params", "pipeline", "factory", "factory_params", "version"}
    | {"rule", "rule_version", "label_type", "classes"}  # a rule alone (flows/scoring/rule.py)
)


class ModelDefinitionError(StartupError):
    """A configured model that cannot serve; the message starts with the key to fix."""


# --------------------------------------------------------------------------- builders


@dataclass(frozen=True)
class Recipe:
    """One class by import path and its keyword arguments (values may be recipes).

    `key` and `params_key` are the settings that set the class and its parameters
    (``model.pipeline[1].estimator``, ``model.pipeline[1].params``), so every error
    says which one to fix. `estimator`: the class must be a River estimator (a
    model or a pipeline step; a nested value such as an optimizer need not be).
    """

    path: str
    params: Mapping[str, Any]
    key: str
    params_key: str
    estimator: bool = True

    @property
    def class_name(self) -> str:
        return re.split(r"[.:]", self.path)[-1]

    def resolve(self) -> type:
        try:
            target = load_object(self.path, self.key)
        except PluginError as exc:
            raise ModelDefinitionError(str(exc)) from exc
        if not isinstance(target, type):
            hint = "; a function returning a model is a model.factory" if callable(target) else ""
            raise ModelDefinitionError(
                f"{self.key}: {self.path!r} is a {_kind_of_object(target)}, not a class{hint}"
            )
        if self.estimator and not issubclass(target, base.Estimator):
            raise ModelDefinitionError(
                f"{self.key}: {self.path} is not a River estimator (river.base.Estimator); "
                "a model or pipeline step must be one"
            )
        return target

    def build(self, seed: int) -> Model:
        """A fresh instance; `seed` is passed when the class takes one the params do not set."""
        cls = self.resolve()
        params = {
            name: value.build(seed) if isinstance(value, Recipe) else copy.deepcopy(value)
            for name, value in self.params.items()
        }
        _accepted_and_seeded(cls, params, seed, f"{self.params_key}: {self.path} has no parameter")
        try:
            return cls(**params)
        except Exception as exc:  # River checks few values, and with any exception type
            raise ModelDefinitionError(
                f"{self.params_key}: {self.describe()} refused its parameters: {exc!r}"
            ) from exc

    def describe(self) -> str:
        """``Class(param=value, ...)`` with the parameters the config gives."""
        if not self.params:
            return self.class_name
        args = ", ".join(
            f"{k}={v.describe() if isinstance(v, Recipe) else repr(v)}"
            for k, v in self.params.items()
        )
        return f"{self.class_name}({args})"


def recipe_of(
    path: str, params: Mapping[str, Any], key: str, params_key: str, estimator: bool = True
) -> Recipe:
    """A recipe from config values: a nested ``{estimator = ..., params = {...}}`` table
    in the parameters is built the same way (a wrapper's model, an optimizer), and
    need not be a River estimator."""
    nested: dict[str, Any] = {}
    for name, value in params.items():
        if isinstance(value, Mapping) and "estimator" in value:
            at = f"{params_key}.{name}"
            extra = sorted(set(value) - {"estimator", "params"})
            inner = value.get("params", {})
            if extra or not isinstance(value["estimator"], str) or not isinstance(inner, Mapping):
                raise ModelDefinitionError(
                    f"{at}: a nested class is a table of 'estimator' (an import path) and "
                    f"'params' (a table), got {dict(value)!r}"
                )
            nested[name] = recipe_of(
                value["estimator"], inner, f"{at}.estimator", f"{at}.params", estimator=False
            )
        else:
            nested[name] = value
    return Recipe(path.strip(), nested, key, params_key, estimator)


@dataclass(frozen=True)
class EstimatorBuilder:
    """Builds one River class with its parameters (``model.estimator``)."""

    recipe: Recipe

    def __call__(self, seed: int) -> Model:
        return self.recipe.build(seed)

    def describe(self) -> str:
        return self.recipe.describe()


@dataclass(frozen=True)
class PipelineBuilder:
    """Builds the steps in order and composes them as River's ``|`` does."""

    steps: tuple[Recipe, ...]

    def __call__(self, seed: int) -> Model:
        return compose.Pipeline(*(step.build(seed) for step in self.steps))

    def describe(self) -> str:
        return " | ".join(step.describe() for step in self.steps)


@dataclass(frozen=True)
class FactoryBuilder:
    """Calls a team's factory (``model.factory``) with ``model.factory_params``.

    `seed` is passed when the factory takes a ``seed`` argument the params do not set.
    """

    path: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def __call__(self, seed: int) -> Model:
        try:
            factory = load_callable(self.path, "model.factory")
        except PluginError as exc:
            raise ModelDefinitionError(str(exc)) from exc
        kwargs = copy.deepcopy(dict(self.params))
        _accepted_and_seeded(
            factory, kwargs, seed, f"model.factory_params: {self.path} takes no argument"
        )
        try:
            model = factory(**kwargs)
        except Exception as exc:  # the team's code: report it, whatever it raised
            raise ModelDefinitionError(f"model.factory: {self.path} raised {exc!r}") from exc
        if not isinstance(model, base.Estimator):
            raise ModelDefinitionError(
                f"model.factory: {self.path} returned a {_kind_of_object(model)}, not a River "
                "estimator (river.base.Estimator)"
            )
        return model

    def describe(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{self.path}({args})"


def _parameters(target: Any) -> list[str] | None:
    """The keyword names `target` accepts, or None when it takes any (``**kwargs``) or
    cannot be inspected."""
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        return None
    names = []
    for name, p in signature.parameters.items():
        if p.kind is p.VAR_KEYWORD:
            return None
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            names.append(name)
    return names


def _accepted_and_seeded(target: Any, params: dict[str, Any], seed: int, unknown: str) -> None:
    """Refuse parameters `target` does not take (the message starts with `unknown`), and
    pass `seed` when it takes one the config did not set, as the catalog does."""
    accepted = _parameters(target)
    if accepted is None:  # takes any keyword, or cannot be inspected: the call decides
        return
    extra = sorted(set(params) - set(accepted))
    if extra:
        raise ModelDefinitionError(
            f"{unknown} {', '.join(map(repr, extra))}; it takes {', '.join(accepted) or 'none'}"
        )
    if "seed" in accepted and "seed" not in params:
        params["seed"] = seed


def _kind_of_object(value: Any) -> str:
    if inspect.ismodule(value):
        return "module"
    if inspect.isfunction(value) or inspect.isbuiltin(value):
        return "function"
    return type(value).__name__


# --------------------------------------------------------------------------- definition


@dataclass(frozen=True)
class ModelDefinition:
    """A model as the job knows it, whichever way the config gave it.

    `name` is stamped on records and snapshots; `version` (``md-`` and a hash of the
    definition) on predictions, snapshots and the recovery manifest, so a warm start
    or resume with another definition is refused; `source` is the setting that
    defines it, for messages.
    """

    name: str
    task: Task
    binary_only: bool  # learns true/false only (River's LogisticRegression, say)
    version: str
    description: str
    source: str
    builder: Builder = field(repr=False)

    def build(self, seed: int = 42) -> Model:
        """A fresh, untrained model."""
        return self.builder(seed)

    @property
    def task_text(self) -> str:
        """``classification (binary)``, ``classification (multi-class)`` or ``regression``."""
        if self.task == "regression":
            return "regression"
        return f"classification ({'binary' if self.binary_only else 'multi-class'})"


def define(
    name: str,
    builder: Builder,
    source: str,
    identity: Mapping[str, Any] | None = None,
    description: str | Callable[[Model], str] | None = None,
    task: Task | None = None,
) -> ModelDefinition:
    """A definition from any builder: builds one model to learn what it is.

    `identity` is what the version hashes (by default the built model's class and
    nested parameters, River's ``_get_params``); `description` (text, or made from
    the built model) defaults to the builder's own ``describe()`` or River's name
    of the model. A model that is no River estimator but predicts like one (a
    team's rule served alone, say) gives its `task` and `identity`; it is then
    binary-only unless it says ``_multiclass``. Raises
    :class:`ModelDefinitionError` naming `source` when the model is not a River
    classifier or regressor, or it (or the definition) does not pickle.
    """
    try:
        probe = builder(PROBE_SEED)
    except ModelDefinitionError:
        raise
    except Exception as exc:
        raise ModelDefinitionError(f"{source}: building the model failed: {exc!r}") from exc
    if task is None or identity is None:
        if not isinstance(probe, base.Estimator):
            raise ModelDefinitionError(
                f"{source}: {name} built a {_kind_of_object(probe)}, not a River estimator "
                "(river.base.Estimator)"
            )
        task = task or task_of(probe)
        if task is None:
            raise ModelDefinitionError(
                f"{source}: {name} is {_what_it_is(probe)}, not a classifier or regressor; "
                "the model (a pipeline's last step) must predict the label"
            )
    if callable(description):
        text = description(probe)
    elif description is not None:
        text = description
    elif callable(describe := getattr(builder, "describe", None)):
        text = str(describe())
    else:  # River names its estimators; anything else by its class
        text = str(probe) if isinstance(probe, base.Base) else type(probe).__name__
    definition = ModelDefinition(
        name=name,
        task=task,
        binary_only=task == "classification" and not getattr(probe, "_multiclass", False),
        version=definition_version(identity if identity is not None else identity_of(probe)),
        description=text,
        source=source,
        builder=builder,
    )
    _check_pickles(definition, probe)
    return definition


def _final_step(model: Model) -> Model:
    while isinstance(model, compose.Pipeline):
        model = model._last_step
    return model


def task_of(model: Model) -> Task | None:
    """What a River estimator learns, judged by its (pipeline's last step's) base class."""
    final = _final_step(model)
    if isinstance(final, base.Classifier):
        return "classification"
    if isinstance(final, base.Regressor):
        return "regression"
    return None


def _what_it_is(model: Model) -> str:
    final = _final_step(model)
    kinds = (
        (base.MultiLabelClassifier, "a multi-label classifier"),
        (base.MultiTargetRegressor, "a multi-target regressor"),
        (base.AnomalyDetector, "an anomaly detector"),
        (base.Transformer, "a transformer"),
        (base.Clusterer, "a clusterer"),
    )
    what = next((text for kind, text in kinds if isinstance(final, kind)), "an estimator")
    return what if final is model else f"a pipeline ending in {what} ({type(final).__name__})"


def _check_pickles(definition: ModelDefinition, model: Model) -> None:
    """Snapshots and recovery pickle the model, and recovery the definition too."""
    try:
        pickle.loads(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
        pickle.loads(pickle.dumps(definition, protocol=pickle.HIGHEST_PROTOCOL))
    except Exception as exc:
        raise ModelDefinitionError(
            f"{definition.source}: {definition.name} cannot be pickled ({exc!r}), and model "
            "snapshots and recovery need it: keep lambdas, local functions, open files and "
            "connections out of the model (module-level functions pickle)"
        ) from exc


# --------------------------------------------------------------------------- versions


def definition_version(identity: Mapping[str, Any]) -> str:
    """``md-`` and a short stable hash of what defines a model."""
    blob = orjson.dumps(
        {"format": DEFINITION_FORMAT, "model": _canonical(identity)}, option=orjson.OPT_SORT_KEYS
    )
    return "md-" + hashlib.sha256(blob).hexdigest()[:10]


def identity_of(model: Model) -> dict[str, Any]:
    """A River estimator's class and nested parameters (a pipeline's, step by step)."""
    if isinstance(model, compose.Pipeline):
        return {"pipeline": [identity_of(step) for step in model.steps.values()]}
    return {"class": _path(type(model)), "params": model._get_params()}


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _canonical(value: Any) -> Any:
    """JSON-able and stable across runs: classes and functions by import path, River's
    ``(class, params)`` pairs as tables, no memory addresses."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], type):  # River's
        return {"class": _path(value[0]), "params": _canonical(value[1])}  # (class, params)
    if isinstance(value, list | tuple | set | frozenset):
        items = [_canonical(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, set | frozenset) else items
    if isinstance(value, type) or (callable(value) and hasattr(value, "__qualname__")):
        return _path(value)
    if isinstance(value, base.Base):
        return {"class": _path(type(value)), "params": _canonical(value._get_params())}
    return {"class": _path(type(value)), "repr": _ADDRESS.sub("", repr(value))}


def _path(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


# --------------------------------------------------------------------------- from config


def resolve_definition(cfg: ModelConfig) -> ModelDefinition:
    """The definition `cfg` configures (imports and builds once; no caching)."""
    if cfg.factory is not None:
        # a factory is versioned by its path, params and the user's version string
        # (its code cannot be hashed: model.version is bumped when it changes)
        builder = FactoryBuilder(cfg.factory.strip(), dict(cfg.factory_params))
        identity = {"factory": builder.path, "version": cfg.version, "params": builder.params}
        return define(
            builder.path,
            builder,
            "model.factory",
            identity=identity,
            description=lambda model: f"{builder.describe()} version {cfg.version!r} -> {model}",
        )
    if cfg.estimator is not None:
        recipe = recipe_of(cfg.estimator, cfg.params, "model.estimator", "model.params")
        return define(recipe.class_name, EstimatorBuilder(recipe), "model.estimator")
    if cfg.pipeline is not None:
        steps = tuple(
            recipe_of(
                step.estimator,
                step.params,
                f"model.pipeline[{i}].estimator",
                f"model.pipeline[{i}].params",
            )
            for i, step in enumerate(cfg.pipeline)
        )
        name = " | ".join(step.class_name for step in steps)
        return define(name, PipelineBuilder(steps), "model.pipeline")
    from driftline.flows.scoring.catalog import CATALOG
    from driftline.flows.scoring.rule import RULE_MODEL, rule_definition

    if cfg.name == RULE_MODEL:  # a team's rule served alone, without an ML model
        return rule_definition(cfg)
    assert cfg.name is not None  # ModelConfig sets the default when nothing else is given
    return CATALOG[cfg.name]


_cache: dict[bytes, ModelDefinition] = {}
_cache_lock = threading.Lock()


def model_definition(cfg: ModelConfig) -> ModelDefinition:
    """The definition `cfg` configures, resolved once per process and definition fields.

    Every shard, the warm-start check and the recovery manifest ask for it; the
    user's factory is called once here, not once per shard.
    """
    key = orjson.dumps(
        cfg.model_dump(mode="json", include=set(DEFINITION_FIELDS)), option=orjson.OPT_SORT_KEYS
    )
    with _cache_lock:
        found = _cache.get(key)
        if found is None:
            found = _cache[key] = resolve_definition(cfg)
    return found


def check_model(cfg: ModelConfig) -> ModelDefinition:
    """Start-up check of the configured model: resolvable, and fits the labels.

    Raises :class:`ModelDefinitionError` naming the key; returns the definition.
    """
    definition = model_definition(cfg)
    problem = label_problem(definition, cfg)
    if problem is not None:
        raise ModelDefinitionError(problem)
    return definition


def label_problem(definition: ModelDefinition, cfg: ModelConfig) -> str | None:
    """Why `cfg`'s labels cannot be learned by `definition` (None when they can).

    A classifier takes ``model.label_type`` bool, int or str (a binary-only one
    bool); a regressor learns numbers: ``"float"``, or the label type left out.
    """
    what = f"{definition.source} {definition.name!r}"
    if definition.task == "regression":
        if cfg.classes is not None:
            return (
                f"model.classes: {what} is a regressor, and classes are a classifier's: "
                "drop model.classes"
            )
        if "label_type" in cfg.model_fields_set and cfg.label_type != "float":
            return (
                f"model.label_type {cfg.label_type!r} is a classifier's label type, but {what} "
                'is a regressor (it learns numbers): set model.label_type = "float" or leave it out'
            )
        return None
    if cfg.label_type == "float":
        return (
            f'model.label_type "float" is a regression target, but {what} is a classifier: '
            'set "bool", "int" or "str", or configure a regressor'
        )
    if definition.binary_only and cfg.label_type != "bool":
        return (
            f'{what} is a binary classifier: it needs model.label_type "bool" (labels true/false '
            f"or 0/1), got {cfg.label_type!r}; pick a multi-class model (hat, arf, a multi-class "
            "River classifier, or wrap it: river.multiclass.OneVsRestClassifier) for int or str "
            "labels"
        )
    return None
