import torch

from daemon.imaging import color


def image(seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(1, 3, 24, 32, generator=g)
    tint = torch.rand(1, 3, 1, 1, generator=g)
    return (0.5 * base + 0.5 * tint).clamp(0, 1)


def test_histogram_mode_gives_the_style_the_contents_colour_statistics():
    content, style = image(0), image(1)
    matched = color.prepare_style(style, content, "histogram")
    for a, b in ((matched, content),):
        torch.testing.assert_close(a.mean((2, 3)), b.mean((2, 3)), atol=2e-2, rtol=0)
    assert (matched.mean((2, 3)) - style.mean((2, 3))).abs().max() > 0.02


def test_luminance_mode_keeps_the_contents_chroma_and_the_results_luminance():
    content, stylised = image(2), image(3)
    out = color.finish(stylised, content, "luminance")
    yiq_out, yiq_c, yiq_s = (color.rgb_to_yiq(x) for x in (out, content, stylised))
    torch.testing.assert_close(yiq_out[:, 1:], yiq_c[:, 1:], atol=1e-5, rtol=0)
    torch.testing.assert_close(yiq_out[:, :1], yiq_s[:, :1], atol=1e-5, rtol=0)


def test_luminance_mode_feeds_grey_images_to_the_engine():
    content, style = image(4), image(5)
    for x in (
        color.prepare_content(content, "luminance"),
        color.prepare_style(style, content, "luminance"),
    ):
        assert torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 1], x[:, 2])


def test_none_mode_changes_nothing():
    content, style = image(6), image(7)
    assert color.prepare_style(style, content, "none") is style
    assert color.finish(style, content, "none") is style
