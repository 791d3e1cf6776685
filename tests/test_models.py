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
    with pytest.raises(KeyError, match="unknown model 'nope'"):
        create_model("nope")


def test_every_spec_is_complete():
    for name, spec in REGISTRY.items():
        assert spec.name == name and spec.display_name and spec.description and spec.architecture
        assert spec.recipe.epochs > 0 and spec.recipe.batch_size > 0 and spec.recipe.lr > 0
