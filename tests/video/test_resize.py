"""Cover-and-centre-crop geometry shared by images and masks."""
import math
from fractions import Fraction

import pytest
import torch

from wan_multitalk.errors import InputError
from wan_multitalk.video.resize import cover_crop, crop_box

SIZES = [((2560, 1440), (832, 480)), ((1440, 2560), (832, 480)), ((64, 36), (200, 200)),
         ((640, 360), (100, 100)), ((300, 200), (90, 40)), ((37, 53), (24, 40)),
         ((1000, 1000), (832, 480)), ((3, 7), (49, 49))]


@pytest.mark.parametrize("source, target", SIZES)
def test_crop_box_covers_and_centres(source, target):
    (w, h), (width, height) = source, target
    box = crop_box(w, h, width, height)
    exact = max(Fraction(width, w), Fraction(height, h))
    assert abs(Fraction(box.scale) - exact) <= exact * Fraction(1, 10**12)
    resized_w, resized_h = math.floor(w * box.scale), math.floor(h * box.scale)
    assert resized_w >= width and resized_h >= height
    assert resized_w == width or resized_h == height  # the binding side is not cropped
    assert box.left == (resized_w - width) // 2 and box.top == (resized_h - height) // 2


def test_crop_box_known_values():
    assert crop_box(2560, 1440, 832, 480)[1:] == (10, 0)  # 853 wide, 21 columns cut, 10 left
    assert crop_box(1440, 2560, 832, 480)[1:] == (0, 499)  # 832 x 1479 tall
    assert tuple(crop_box(832, 480, 832, 480)) == (1.0, 0, 0)
    x, y = crop_box(2560, 1440, 832, 480).to_target(30, 1440)
    assert x == pytest.approx(0.0) and y == pytest.approx(480.0)


def ramp_image(w, h):
    """Channel 0 holds each source pixel's centre x, channel 1 its centre y."""
    x = (torch.arange(w, dtype=torch.float64) + 0.5).expand(h, w)
    y = (torch.arange(h, dtype=torch.float64) + 0.5)[:, None].expand(h, w)
    return torch.stack([x, y, torch.zeros_like(x)], dim=-1)[None]


@pytest.mark.parametrize("source, target", SIZES[:7])
@pytest.mark.parametrize("mode, tolerance", [("bilinear", 0.1), ("bicubic", 0.1), ("area", 1.0)])
def test_interpolating_modes_put_source_points_where_the_geometry_says(source, target, mode,
                                                                       tolerance):
    # A linear ramp survives interpolation, so each output pixel must show the source
    # coordinate of its own centre: (j + 0.5 + left) / scale, re-derived here from first
    # principles rather than taken from crop_box.
    (w, h), (width, height) = source, target
    scale = max(width / w, height / h)
    left = (math.floor(w * scale + 1e-9) - width) // 2
    top = (math.floor(h * scale + 1e-9) - height) // 2
    out = cover_crop(ramp_image(w, h), width, height, mode=mode)[0]
    assert out.shape == (height, width, 3)
    expect_x = (torch.arange(width, dtype=torch.float64) + 0.5 + left) / scale
    expect_y = (torch.arange(height, dtype=torch.float64) + 0.5 + top) / scale
    m = 4  # kernels near the picture border see clamped samples
    assert (out[m:-m, m:-m, 0] - expect_x[m:-m]).abs().max() < tolerance
    assert (out[m:-m, m:-m, 1] - expect_y[m:-m, None]).abs().max() < tolerance


def test_upscaling_bilinear_is_exact_on_a_ramp():
    out = cover_crop(ramp_image(64, 36), 200, 200)[0]
    scale, left = 200 / 36, (math.floor(64 * 200 / 36) - 200) // 2
    expect = (torch.arange(200, dtype=torch.float64) + 0.5 + left) / scale
    assert torch.allclose(out[5:-5, :, 0], expect.expand(190, 200), atol=1e-9)


def test_layouts_and_dtypes_are_kept():
    image = torch.rand(2, 30, 40, 3)
    assert cover_crop(image, 20, 20).shape == (2, 20, 20, 3)
    assert cover_crop(image[..., 0], 20, 20, mode="nearest").shape == (2, 20, 20)
    assert cover_crop(image[0, ..., 0], 20, 20, mode="nearest").shape == (20, 20)
    boolean = cover_crop(image[..., 0] > 0.5, 20, 20, mode="nearest")
    assert boolean.dtype == torch.float32 and set(boolean.unique().tolist()) <= {0.0, 1.0}
    same = cover_crop(image, 40, 30)
    assert torch.equal(same, image) and same is not image


def test_bicubic_stays_in_the_input_range():
    image = torch.zeros(1, 20, 20, 3)
    image[:, 5:15, 5:15] = 1.0  # hard edges ring with plain bicubic
    out = cover_crop(image, 57, 57, mode="bicubic")
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


def test_nearest_keeps_mask_values():
    mask = torch.zeros(1, 90, 160)
    mask[0, 10:50, 20:100] = 0.7
    out = cover_crop(mask, 48, 48, mode="nearest")
    assert out.unique().tolist() == [0.0, mask.max().item()]


def test_bad_arguments_name_the_input():
    with pytest.raises(InputError) as info:
        cover_crop(torch.zeros(1, 4, 4, 3), 4, 4, mode="lanczos3")
    assert info.value.input_name == "resize mode"
    with pytest.raises(InputError) as info:
        crop_box(100, 100, 0, 480)
    assert info.value.input_name == "width"
