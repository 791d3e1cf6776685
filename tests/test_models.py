import pytest
import torch
import torch.nn.functional as F

from digits.models import REGISTRY, count_parameters, create_model, get_spec, list_models

TUTORIAL_PARAMETERS = {"mlp": 623_290, "cnn": 934_798, "lenet5": 61_706}


@pytest.mark.parametrize("name", list_models())
def test_forward_shape_finite_and_backward(name):
    model = create_model(name)
    x = torch.randn(4, 1, 28, 28)
    out = model(x)
    assert out.shape == (4, 10)
    assert torch.isfinite(out).all()
    F.cross_entropy(out, torch.tensor([0, 1, 2, 3])).backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("name,expected", TUTORIAL_PARAMETERS.items())
def test_tutorial_parameter_counts(name, expected):
    assert count_parameters(create_model(name)) == expected


def test_registry_has_a_modern_cnn_with_batchnorm_and_augmentation():
    spec = get_spec("modern")
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in spec.build().modules())
    assert spec.recipe.augment.enabled


def test_unknown_model_is_a_clear_error():
    from digits.models import UnknownModelError

    with pytest.raises(UnknownModelError, match="unknown model 'nope'"):
        create_model("nope")


def test_every_spec_is_complete():
    for name, spec in REGISTRY.items():
        assert spec.name == name and spec.display_name and spec.description and spec.architecture
        assert spec.recipe.epochs > 0 and spec.recipe.batch_size > 0 and spec.recipe.lr > 0


def _readme_table(heading_row: str, doc: str = "README.md") -> dict[str, list[str]]:
    """Rows of the table in `doc` whose header starts with `heading_row`, keyed by model name."""
    from tests.conftest import ROOT

    lines = (ROOT / doc).read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(heading_row))
    rows = {}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0].strip("`")] = cells[1:]
    return rows


def test_readme_and_design_tables_match_the_registry_and_the_shipped_cards():
    from digits.models import DRAWING_AUGMENT, LIGHT_AUGMENT
    from digits.weights import read_card

    augment_names = {LIGHT_AUGMENT: "light", DRAWING_AUGMENT: "drawing"}
    recipes = _readme_table("| model | epochs | batch |", "docs/design.md")
    params = _readme_table("| name | architecture | parameters |")
    assert set(recipes) == set(list_models()) == set(params)
    for name, (epochs, batch, lr, wd, augment) in recipes.items():
        r = get_spec(name).recipe
        assert (int(epochs), int(batch), float(lr), float(wd)) == (r.epochs, r.batch_size, r.lr, r.weight_decay), name
        assert augment == augment_names[r.augment], name
        assert int(params[name][1].replace(",", "")) == count_parameters(create_model(name)), name
        shipped = read_card(name)["test_accuracy"]
        assert params[name][2].strip("*") == f"{100 * shipped:.2f}%", name
