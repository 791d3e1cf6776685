"""digits/training/augment.py: whole-batch augmentation as tensor ops."""

import torch
import torch.nn.functional as F

from digits.models import Augment
from digits.training.augment import affine_grid, augment_batch, dilate, erode, random_thickness


def _bars(n: int = 8) -> torch.Tensor:
    x = torch.zeros(n, 1, 28, 28)
    x[:, :, 8:20, 13:15] = 1
    return x


def test_augmentation_changes_images_but_keeps_range_and_shape():
    gen = torch.Generator().manual_seed(0)
    x = _bars()
    y = augment_batch(x.clone(), Augment(rotate_deg=15, scale=0.1, shear_deg=10, shift_px=2, thickness_p=0.5), gen)
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1
    assert (y - x).abs().sum() > 1
    assert augment_batch(x.clone(), Augment(), gen).equal(x)  # no augmentation: untouched


def test_each_image_gets_its_own_transform_and_seeds_repeat():
    aug = Augment(rotate_deg=20, scale=0.1, shear_deg=10, shift_px=2)
    a = augment_batch(_bars(), aug, torch.Generator().manual_seed(3))
    b = augment_batch(_bars(), aug, torch.Generator().manual_seed(3))
    assert a.equal(b)
    assert not a[0].equal(a[1])  # same input, different random transforms


def test_affine_grid_matches_pytorch():
    theta = torch.randn(5, 2, 3, generator=torch.Generator().manual_seed(0))
    ours = affine_grid(theta, 28, 28)
    reference = F.affine_grid(theta, (5, 1, 28, 28), align_corners=False)
    assert torch.allclose(ours, reference, atol=1e-6)


def test_dilate_thickens_and_erode_thins():
    x = torch.zeros(1, 1, 28, 28)
    x[:, :, 5:20, 10:14] = 1
    assert dilate(x).sum() > x.sum() > erode(x).sum() > 0
    assert erode(dilate(x)).ge(x).all()  # closing never removes ink


def test_thickness_touches_only_the_images_it_picks():
    x = _bars(64)
    gen = torch.Generator().manual_seed(0)
    y = random_thickness(x.clone(), 0.5, gen)
    changed = [(y[i] != x[i]).any().item() for i in range(64)]
    assert 10 < sum(changed) < 54  # about half, never all or none
    assert random_thickness(x.clone(), 0.0, gen).equal(x)
