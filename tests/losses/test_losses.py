"""√JSD and InfoNCE against hand-computed cases; gradients reach the encoder; pre- vs post-norm."""

from __future__ import annotations

import math

import pytest
import torch

from xldiag.losses import LOSS_MODES, NEEDED_INPUTS, alignment_loss, info_nce, jsd, sqrt_jsd_loss
from xldiag.losses.jsd import DEFAULT_EPS

from training.tiny import make_triples


def _kl(p, q):
    return sum(a * math.log(a / b) for a, b in zip(p, q) if a > 0)


def test_jsd_hand_computed():
    # softmax([0, 0]) = (1/2, 1/2); softmax([ln 3, 0]) = (3/4, 1/4); M = (5/8, 3/8)
    p, q, m = (0.5, 0.5), (0.75, 0.25), (0.625, 0.375)
    expected = 0.5 * _kl(p, m) + 0.5 * _kl(q, m)
    assert expected == pytest.approx(0.033822, abs=1e-6)
    got = jsd(torch.tensor([[0.0, 0.0]]), torch.tensor([[math.log(3.0), 0.0]]))
    assert got.shape == (1,)
    assert got.item() == pytest.approx(expected, rel=1e-5)
    loss = sqrt_jsd_loss(torch.tensor([[0.0, 0.0]]), torch.tensor([[math.log(3.0), 0.0]]))
    assert loss.item() == pytest.approx(math.sqrt(expected + DEFAULT_EPS), rel=1e-5)


def test_jsd_matches_scipy_and_is_averaged_per_row():
    from scipy.spatial.distance import jensenshannon
    from scipy.special import softmax

    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(5, 7, generator=gen), torch.randn(5, 7, generator=gen)
    rows = [jensenshannon(softmax(x), softmax(y)) ** 2 for x, y in zip(a.double().numpy(), b.double().numpy())]
    assert jsd(a, b).tolist() == pytest.approx(rows, rel=1e-4)
    # the root is taken per pair, then averaged (a mean of Jensen-Shannon distances)
    expected = sum(math.sqrt(r + 1e-8) for r in rows) / len(rows)
    assert sqrt_jsd_loss(a, b, eps=1e-8).item() == pytest.approx(expected, rel=1e-4)


def test_jsd_properties_and_finite_gradient_at_zero():
    z = torch.randn(3, 16)
    assert torch.allclose(jsd(z, z), torch.zeros(3), atol=1e-7)
    a, b = torch.randn(3, 16), torch.randn(3, 16)
    assert torch.allclose(jsd(a, b), jsd(b, a), atol=1e-6)  # symmetric
    far = jsd(torch.tensor([[60.0, -60.0]]), torch.tensor([[-60.0, 60.0]]))
    assert far.item() == pytest.approx(math.log(2.0), rel=1e-4)  # bounded by ln 2, stable for large z
    # ε inside the root: at JSD = 0 the loss is √ε and the gradient is finite (not NaN/inf)
    x = z.clone().requires_grad_(True)
    loss = sqrt_jsd_loss(x, z.clone())
    loss.backward()
    assert loss.item() == pytest.approx(math.sqrt(DEFAULT_EPS), rel=1e-3)
    assert torch.isfinite(x.grad).all()


def test_softmax_of_unit_vectors_is_nearly_uniform():
    """Why the JSD takes z before the L2 normalisation: after it, every P(z) ≈ uniform."""
    gen = torch.Generator().manual_seed(1)
    d = 384  # multilingual-e5-small
    a, b = torch.randn(64, d, generator=gen), torch.randn(64, d, generator=gen)
    pre = jsd(a, b).mean().item()
    post = jsd(torch.nn.functional.normalize(a, dim=-1), torch.nn.functional.normalize(b, dim=-1)).mean().item()
    assert pre > 0.15  # unrelated raw vectors: a good share of the maximum, ln 2 ≈ 0.69
    assert post < 1e-3  # unit vectors: ≈ |Δz|²/(8d), indistinguishable from uniform
    assert pre / post > 200
    uniform = torch.softmax(torch.nn.functional.normalize(a, dim=-1), dim=-1)
    assert (uniform.max(dim=-1).values * d).max().item() < 1.3  # no entry above 1.3/d


def test_info_nce_hand_computed():
    anchors = torch.tensor([[1.0, 0.0], [0.0, 2.0]])  # norms do not matter (cosine)
    positives = torch.tensor([[3.0, 0.0], [1.0, 1.0]])
    c = 1 / math.sqrt(2)
    # cosine matrix [[1, c], [0, c]]; τ = 1
    l1 = -math.log(math.exp(1) / (math.exp(1) + math.exp(c)))
    l2 = -math.log(math.exp(c) / (math.exp(0) + math.exp(c)))
    assert info_nce(anchors, positives, temperature=1.0).item() == pytest.approx((l1 + l2) / 2, rel=1e-6)
    assert info_nce(anchors, positives).item() == pytest.approx((l1 + l2) / 2, rel=1e-6)  # the default: the paper's τ = 1
    # τ = 0.05 scales the similarities by 20
    l1 = -math.log(math.exp(20) / (math.exp(20) + math.exp(20 * c)))
    l2 = -math.log(math.exp(20 * c) / (math.exp(0) + math.exp(20 * c)))
    assert info_nce(anchors, positives, temperature=0.05).item() == pytest.approx((l1 + l2) / 2, rel=1e-5)
    with pytest.raises(ValueError):
        info_nce(anchors, positives[:1])


def test_alignment_loss_ablations():
    gen = torch.Generator().manual_seed(2)
    q, pe, pt = (torch.randn(4, 8, generator=gen) for _ in range(3))
    j, n, n_psg = sqrt_jsd_loss(pe, pt), info_nce(pt, q), info_nce(pt, pe)
    out = {mode: alignment_loss(mode, q, pe, pt, lambda_jsd=0.5, lambda_nce=2.0) for mode in LOSS_MODES}
    assert out["full"]["loss"].item() == pytest.approx(0.5 * j.item() + 2.0 * n.item(), rel=1e-6)
    assert out["no-jsd"]["jsd"] is None and out["no-jsd"]["loss"].item() == pytest.approx(2.0 * n.item(), rel=1e-6)
    assert out["no-nce"]["nce"] is None and out["no-nce"]["loss"].item() == pytest.approx(0.5 * j.item(), rel=1e-6)
    assert out["nce-psg"]["jsd"] is None
    assert out["nce-psg"]["loss"].item() == pytest.approx(0.5 * n_psg.item() + 2.0 * n.item(), rel=1e-6)
    # a mode only reads the inputs it declares
    assert alignment_loss("no-nce", None, pe, pt)["loss"] is not None
    assert alignment_loss("no-jsd", q, None, pt)["loss"] is not None
    assert set(NEEDED_INPUTS) == set(LOSS_MODES)
    with pytest.raises(ValueError, match="Unknown loss"):
        alignment_loss("bogus", q, pe, pt)


@pytest.mark.parametrize("mode", LOSS_MODES)
def test_gradients_reach_the_encoder(tiny_model, mode):
    from sentence_transformers import SentenceTransformer

    from xldiag.training import TrainConfig
    from xldiag.training.st_adapter import batch_features, compute_losses, make_embedder

    model = SentenceTransformer(str(tiny_model), device="cpu")
    model.train()
    batch = make_triples(6)
    needs = NEEDED_INPUTS[mode]
    out = make_embedder(model)(batch_features(model, batch, needs, "query: ", "passage: ", "cpu"))
    losses = compute_losses(TrainConfig(loss=mode), out, needs, len(batch))
    losses["loss"].backward()
    hf = model.transformers_model
    layer0 = hf.encoder.layer[0].attention.self.query.weight
    assert layer0.grad is not None and layer0.grad.abs().sum() > 0
    word = hf.get_input_embeddings().weight
    assert word.grad is not None and word.grad.abs().sum() > 0


def test_tiny_model_pre_norm_vs_post_norm(tiny_model):
    """On an actual encoder: the pooled vector's softmax separates documents, the unit vector's does not."""
    from sentence_transformers import SentenceTransformer

    from xldiag.training.st_adapter import batch_features, make_embedder, split_embeddings

    model = SentenceTransformer(str(tiny_model), device="cpu")
    model.eval()
    batch = make_triples(8)
    needs = ("passage_en", "passage_tgt")
    with torch.no_grad():
        out = make_embedder(model)(batch_features(model, batch, needs, "", "passage: ", "cpu"))
        _, pre_en, pre_tgt = split_embeddings(out, needs, len(batch), "pre-norm")
        _, post_en, post_tgt = split_embeddings(out, needs, len(batch), "post-norm")
    assert pre_en.norm(dim=-1).mean() > 2.0  # the pooled vector is not normalised
    assert torch.allclose(post_en.norm(dim=-1), torch.ones(len(batch)), atol=1e-5)
    # for small differences JSD ∝ |Δz|², so normalising divides it by about |z|²
    assert jsd(pre_en, pre_tgt).mean() > 5 * jsd(post_en, post_tgt).mean()


def test_jsd_temperature_hand_computed():
    # softmax([2 ln 3, 0] / 2) = softmax([ln 3, 0]) = (3/4, 1/4): at T = 2 the pair is the T = 1 case above
    p, q, m = (0.5, 0.5), (0.75, 0.25), (0.625, 0.375)
    expected = 0.5 * _kl(p, m) + 0.5 * _kl(q, m)
    zero, far = torch.tensor([[0.0, 0.0]]), torch.tensor([[2 * math.log(3.0), 0.0]])
    assert jsd(zero, far, temperature=2.0).item() == pytest.approx(expected, rel=1e-5)
    # at T = 1 the same vectors give softmax([2 ln 3, 0]) = (9/10, 1/10)
    q1 = (0.9, 0.1)
    m1 = (0.7, 0.3)
    assert jsd(zero, far).item() == pytest.approx(0.5 * _kl(p, m1) + 0.5 * _kl(q1, m1), rel=1e-5)
    # T < 1 sharpens: softmax([ln 3, 0] / ½) = (9/10, 1/10) again
    half = torch.tensor([[math.log(3.0), 0.0]])
    assert jsd(zero, half, temperature=0.5).item() == pytest.approx(jsd(zero, far).item(), rel=1e-6)
    loss = sqrt_jsd_loss(zero, far, temperature=2.0)
    assert loss.item() == pytest.approx(math.sqrt(expected + DEFAULT_EPS), rel=1e-5)
    out = alignment_loss("no-nce", None, zero, far, jsd_temperature=2.0)
    assert out["jsd"].item() == pytest.approx(loss.item(), rel=1e-6)
    with pytest.raises(ValueError, match="temperature must be positive"):
        jsd(zero, far, temperature=0.0)


def test_shrinking_z_lowers_the_jsd_without_aligning_anything():
    """The shortcut the per-step ‖z‖ logging watches for: same directions, shorter vectors, lower JSD."""
    gen = torch.Generator().manual_seed(3)
    a, b = torch.randn(16, 384, generator=gen) * 0.3, torch.randn(16, 384, generator=gen) * 0.3
    assert jsd(a / 4, b / 4).mean() < jsd(a, b).mean() / 10  # ≈ 1/16: JSD ∝ ‖Δz‖² for small z
    assert torch.allclose(torch.nn.functional.cosine_similarity(a / 4, b / 4), torch.nn.functional.cosine_similarity(a, b))


def _bf16_info_nce(anchors, positives, temperature):
    """What InfoNCE would compute inside bf16 autocast without the loss's own guard."""
    a = torch.nn.functional.normalize(anchors.float(), dim=-1)
    b = torch.nn.functional.normalize(positives.float(), dim=-1)
    logits = a @ b.T / temperature  # autocast turns this matmul into bf16
    return torch.nn.functional.cross_entropy(logits, torch.arange(len(a)))


def test_losses_stay_fp32_inside_bf16_autocast():
    """The encoder may run under bf16 autocast; the losses must not: the similarity matrix, softmax and
    logsumexp are computed in float32 even when the caller forgot to leave the autocast region."""
    from xldiag.losses import similarity_logits

    gen = torch.Generator().manual_seed(4)
    q, pe, pt = (torch.randn(32, 384, generator=gen) for _ in range(3))
    reference = {k: v.item() for k, v in alignment_loss("full", q, pe, pt, temperature=0.05).items() if v is not None}
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = similarity_logits(pt, q, 0.05)
        inside = {k: v.item() for k, v in alignment_loss("full", q, pe, pt, temperature=0.05).items() if v is not None}
        naive = _bf16_info_nce(pt, q, 0.05).item()
        assert (pt.float() @ q.float().T).dtype == torch.bfloat16  # autocast really is on here
    assert logits.dtype == torch.float32
    for key, value in reference.items():
        assert inside[key] == pytest.approx(value, rel=1e-6, abs=1e-7), key
    # the check can fail: a bf16 similarity matrix (~0.004 cosine resolution × 20) moves InfoNCE measurably
    assert abs(naive - reference["nce"]) > 1e-5


def test_importing_the_losses_does_not_load_torch():
    """The modes and defaults are read by the CLI, configurations and pages: no torch import for that."""
    import subprocess
    import sys

    code = "import sys, xldiag.losses as L; assert L.LOSS_MODES and L.DEFAULT_EPS; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
