"""Every bundled recipe parses and names a registered model and dataset."""

from __future__ import annotations

import gin
import pytest

import zoo
from zoo._compat import gin_bindings
from zoo.config import list_recipes, parse

RECIPES = list_recipes()


def test_the_bundled_recipes_are_found():
    assert {"fashion_cnn", "digits_cnn", "fashion_resnet20", "cifar10_resnet20"} <= set(RECIPES)


@pytest.mark.parametrize("name", RECIPES)
def test_recipe_parses_and_names_registered_things(name):
    parse(name)
    model = gin.query_parameter("train.model")
    dataset = gin.query_parameter("train.dataset")
    assert model in zoo.list_models(), model
    assert dataset in zoo.datasets.list_datasets(), dataset
    schedule = gin_bindings().get(("", "zoo.train"), {}).get("schedule")
    if schedule:
        from callbacks.schedule_config import make_schedule

        # the schedule named in the recipe builds with that recipe's settings
        assert make_schedule(schedule, 0.1, 100, 10) is not None
