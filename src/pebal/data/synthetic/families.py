"""Object families: outlier-exposure cut-outs (the COCO analogue) and the test anomalies.

The two groups are disjoint by construction — different names, different drawing functions
and different looks:

* **outlier exposure** (:data:`OE_FAMILIES`): everyday objects in the style of COCO things —
  regular geometric silhouettes (ball, box, cone, star, heart, ...), saturated flat paint with
  simple shading and occasional stripes or dots;
* **anomalies** (:data:`ANOMALY_FAMILIES`): things lost on or beside a road — irregular
  rocks and boulders, tyres, wood, sacks, scattered debris, logs, animals, barrels, tarps —
  with natural, dull, grainy materials, several of them coloured like asphalt or terrain.

Every family is ``draw(rng, px_per_m, camouflage=None) -> Sprite`` for an object standing on
the ground (anchor: bottom centre), sized in metres. ``camouflage`` (benchmark v2) is the
probability that a rock, boulder, debris or log takes road / terrain colours; None keeps v1's
looks (rocks 70 % camouflaged, debris and logs always).
"""

from __future__ import annotations

import numpy as np

from pebal.data.synthetic import palettes as P
from pebal.data.synthetic.canvas import Sprite, sprite_grid
from pebal.data.synthetic.noise import F32, jitter, pick, rotation, value_noise
from pebal.labels import IGNORE_INDEX

OE_COLOURS = [(0.85, 0.12, 0.12), (0.12, 0.35, 0.85), (0.15, 0.7, 0.2), (0.95, 0.8, 0.1), (0.6, 0.2, 0.75),
              (0.95, 0.5, 0.1), (0.95, 0.5, 0.7), (0.1, 0.75, 0.8), (0.95, 0.95, 0.95)]
CAMOUFLAGE = P.ASPHALT + P.DIRT + P.KERB + [(0.40, 0.42, 0.30), (0.50, 0.48, 0.44)]
#: Benchmark v2: the look of a rock, a boulder, debris or a log when it is not camouflaged.
STONE = [(0.74, 0.62, 0.44), (0.58, 0.33, 0.24), (0.86, 0.84, 0.78), (0.66, 0.56, 0.50), (0.50, 0.52, 0.58)]
RUBBLE = [(0.62, 0.26, 0.18), (0.88, 0.87, 0.83), (0.90, 0.55, 0.12), (0.85, 0.78, 0.25), (0.70, 0.35, 0.28)]
FRESH_WOOD = [(0.80, 0.64, 0.42), (0.72, 0.55, 0.35), (0.86, 0.74, 0.55)]


def _camouflaged(rng, camouflage: float | None, v1_probability: float) -> bool:
    """Whether an object takes road / terrain colours: with ``v1_probability`` (benchmark v1), or
    with ``camouflage`` (v2 test sets set it)."""
    return bool(rng.random() < (v1_probability if camouflage is None else camouflage))


def _texture(rng, shape, colour, v, height, grain=0.35, cell=2):
    """``colour`` with value-noise grain and a top-lit vertical shading, (h, w, 3) float32."""
    noise = value_noise(rng, shape, cell=cell, octaves=2)
    light = F32(0.7) + F32(0.45) * np.clip(v / F32(height), 0, 1)
    return (colour * ((F32(1 - grain / 2) + F32(grain) * noise) * light)[..., None]).astype(F32)


def _blob(rng, u, v, half_w, half_h, roughness):
    """An irregular lump resting on the ground: a half-ellipse with a noisy outline."""
    noise = value_noise(rng, np.broadcast_shapes(u.shape, v.shape), cell=max(2, u.shape[1] // 5), octaves=2)
    r2 = (u / F32(half_w)) ** 2 + ((v - F32(half_h * 0.85)) / F32(half_h)) ** 2
    return (r2 < F32(1 - roughness / 2) + F32(roughness) * noise) & (v >= 0)


# --------------------------------------------------------------------------- anomalies


def rock(rng, px_per_m, big=False, camouflage: float | None = None):
    size = float(rng.uniform(1.0, 2.2)) if big else float(rng.uniform(0.25, 0.7))
    height = size * float(rng.uniform(0.5, 0.9))
    h, w, u, v = sprite_grid(size, height * 1.05, px_per_m, min_px=3)
    mask = _blob(rng, u, v, size / 2, height / 2, 0.5)
    other = P.WALL if camouflage is None else STONE
    colour = jitter(rng, pick(rng, CAMOUFLAGE if _camouflaged(rng, camouflage, 0.7) else other), 0.12)
    rgb = _texture(rng, (h, w), colour, v, height, grain=0.6)
    if big and rng.random() < 0.5:  # moss
        moss = value_noise(rng, (h, w), cell=3) > F32(0.6)
        rgb = np.where(moss[..., None], rgb * np.asarray((0.7, 1.0, 0.6), F32), rgb)
    return Sprite(mask, rgb, IGNORE_INDEX, {"size_m": size})


def boulder(rng, px_per_m, camouflage: float | None = None):
    return rock(rng, px_per_m, big=True, camouflage=camouflage)


def tyre(rng, px_per_m, camouflage: float | None = None):
    radius = float(rng.uniform(0.3, 0.4))
    lying = rng.random() < 0.5
    squash = float(rng.uniform(0.25, 0.4)) if lying else 1.0
    h, w, u, v = sprite_grid(2 * radius, 2 * radius * squash + 0.05, px_per_m, min_px=3)
    r2 = (u / F32(radius)) ** 2 + ((v - F32(radius * squash)) / F32(radius * squash)) ** 2
    mask = (r2 <= F32(1)) & (r2 >= F32(float(rng.uniform(0.25, 0.4))))
    rubber = jitter(rng, (0.09, 0.09, 0.1), 0.3)
    rgb = _texture(rng, (h, w), rubber, v, 2 * radius * squash, grain=0.5, cell=1)
    return Sprite(mask, rgb, IGNORE_INDEX, {"size_m": 2 * radius})


def wood(rng, px_per_m, camouflage: float | None = None):
    """A pallet lying on the road (slats with gaps) or a board leaning upright."""
    pallet = rng.random() < 0.5
    width = float(rng.uniform(0.8, 1.3)) if pallet else float(rng.uniform(0.25, 0.45))
    height = float(rng.uniform(0.15, 0.25)) if pallet else float(rng.uniform(0.5, 1.1))
    c, s = rotation(rng, 0.08 if pallet else 0.2)
    h, w, u, v = sprite_grid(width * 1.3, height * 1.3, px_per_m, min_px=3)
    ur, vr = c * u + s * (v - F32(height / 2)), -s * u + c * (v - F32(height / 2)) + F32(height / 2)
    mask = (np.abs(ur) < F32(width / 2)) & (vr >= 0) & (vr < F32(height))
    if pallet:
        mask &= (np.abs(vr - F32(height / 2)) > F32(height * 0.18)) | (((ur + F32(width)) % F32(0.4)) < F32(0.12))
    colour = jitter(rng, pick(rng, [(0.55, 0.42, 0.28), (0.45, 0.38, 0.30), (0.62, 0.55, 0.42)]), 0.1)
    grain = (F32(0.85) + F32(0.3) * value_noise(rng, (h, w), cell=1))[..., None]
    rgb = _texture(rng, (h, w), colour, v, height, grain=0.3) * grain
    return Sprite(mask, rgb.astype(F32), IGNORE_INDEX, {"size_m": width})


def sack(rng, px_per_m, camouflage: float | None = None):
    size = float(rng.uniform(0.4, 0.8))
    height = size * float(rng.uniform(0.6, 1.0))
    h, w, u, v = sprite_grid(size, height * 1.05, px_per_m, min_px=3)
    waist = F32(1) - F32(0.35) * np.clip(v / F32(height), 0, 1)  # wider at the bottom
    mask = _blob(rng, u / waist, v, size / 2, height / 2, 0.25)
    bin_bag = rng.random() < 0.5
    colour = jitter(rng, (0.08, 0.08, 0.09) if bin_bag else pick(rng, [(0.62, 0.52, 0.36), (0.75, 0.74, 0.70)]), 0.2)
    rgb = _texture(rng, (h, w), colour, v, height, grain=0.4)
    if bin_bag:  # glossy highlights on the plastic
        shine = value_noise(rng, (h, w), cell=2) > F32(0.72)
        rgb = np.where(shine[..., None], rgb + F32(0.25), rgb)
    return Sprite(mask, np.clip(rgb, 0, 1), IGNORE_INDEX, {"size_m": size})


def debris(rng, px_per_m, camouflage: float | None = None):
    """Several flat fragments (concrete, asphalt, brick) scattered over a metre or so."""
    spread = float(rng.uniform(0.6, 1.4))
    height = float(rng.uniform(0.12, 0.3))
    h, w, u, v = sprite_grid(spread, height, px_per_m, min_px=3)
    # v1: every fragment grey (asphalt, paving, concrete); v2: camouflaged or brick / painted rubble
    palette = P.ASPHALT + P.PAVING + P.WALL
    if camouflage is not None and not _camouflaged(rng, camouflage, 1.0):
        palette = RUBBLE
    mask = np.zeros((h, w), bool)
    rgb = np.zeros((h, w, 3), F32)
    for _ in range(int(rng.integers(3, 7))):
        cu, size = F32(rng.uniform(-spread / 2, spread / 2)), F32(rng.uniform(0.12, 0.35))
        tall = F32(rng.uniform(0.4, 1.0) * height)
        c, s = rotation(rng, 0.4)
        du, dv = u - cu, v - tall / F32(2)
        piece = (np.abs(c * du + s * dv) < size / F32(2)) & (np.abs(-s * du + c * dv) < tall / F32(2)) & (v >= 0)
        colour = jitter(rng, pick(rng, palette), 0.12)
        rgb = np.where(piece[..., None], _texture(rng, (h, w), colour, v, height, grain=0.5, cell=1), rgb)
        mask |= piece
    return Sprite(mask, rgb, IGNORE_INDEX, {"size_m": spread})


def log(rng, px_per_m, camouflage: float | None = None):
    length, diameter = float(rng.uniform(0.9, 2.4)), float(rng.uniform(0.2, 0.4))
    c, s = rotation(rng, 0.1)
    h, w, u, v = sprite_grid(length * 1.05, diameter * 1.3, px_per_m, min_px=3)
    ur, vr = c * u + s * (v - F32(diameter / 2)), -s * u + c * (v - F32(diameter / 2))
    ends = np.maximum(np.abs(ur) - F32(length / 2 - diameter / 2), 0)
    mask = (ends * ends + vr * vr <= F32(diameter * diameter / 4)) & (v >= 0)
    fresh = camouflage is not None and not _camouflaged(rng, camouflage, 1.0)  # v2: some freshly cut
    bark = jitter(rng, pick(rng, FRESH_WOOD if fresh else P.BARK), 0.15)
    streaks = value_noise(rng, (h, max(2, w // 6)), cell=1)[:, np.arange(w) * max(2, w // 6) // w]
    rgb = _texture(rng, (h, w), bark, v, diameter, grain=0.3) * (F32(0.7) + F32(0.6) * streaks)[..., None]
    return Sprite(mask, rgb.astype(F32), IGNORE_INDEX, {"size_m": length})


def animal(rng, px_per_m, camouflage: float | None = None):
    """A quadruped seen from the side (dog to cow size), plain or patched fur."""
    body = float(rng.uniform(0.7, 1.9))
    leg = body * float(rng.uniform(0.35, 0.5))
    depth = body * float(rng.uniform(0.35, 0.45))
    facing = 1.0 if rng.random() < 0.5 else -1.0
    h, w, u, v = sprite_grid(body * 1.5, leg + depth * 1.9, px_per_m, min_px=3)
    pix = F32(1.0 / px_per_m)
    torso = (u / F32(body / 2)) ** 2 + ((v - F32(leg + depth / 2)) / F32(depth / 2)) ** 2 <= F32(1)
    leg_half = np.maximum(F32(body * 0.05), pix)
    legs = np.zeros(torso.shape, bool)
    for x in (-0.38, -0.28, 0.28, 0.38):
        legs |= (np.abs(u - F32(x * body)) < leg_half) & (v < F32(leg + depth * 0.3))
    hx, hy = F32(facing * body * 0.62), F32(leg + depth * 1.25)
    head = ((u - hx) / F32(depth * 0.45)) ** 2 + ((v - hy) / F32(depth * 0.32)) ** 2 <= F32(1)
    neck = (np.abs(u - F32(facing * body * 0.48)) < F32(depth * 0.22)) & (v > F32(leg + depth * 0.4)) & (v < hy)
    mask = torso | legs | head | neck
    fur = jitter(rng, pick(rng, [(0.45, 0.32, 0.2), (0.12, 0.1, 0.09), (0.8, 0.78, 0.72), (0.6, 0.5, 0.38)]), 0.12)
    rgb = _texture(rng, mask.shape, fur, v, leg + depth, grain=0.4)
    if rng.random() < 0.35:  # patches
        patch = value_noise(rng, mask.shape, cell=max(2, w // 6)) > F32(0.6)
        rgb = np.where(patch[..., None], F32(1) - rgb * F32(0.8), rgb)
    return Sprite(mask, rgb.astype(F32), IGNORE_INDEX, {"size_m": body})


def barrel(rng, px_per_m, camouflage: float | None = None):
    radius, tall = float(rng.uniform(0.28, 0.32)), float(rng.uniform(0.85, 0.95))
    h, w, u, v = sprite_grid(2 * radius, tall + radius * 0.3, px_per_m, min_px=3)
    top = (u / F32(radius)) ** 2 + ((v - F32(tall)) / F32(radius * 0.25)) ** 2 <= F32(1)
    mask = ((np.abs(u) < F32(radius)) & (v < F32(tall))) | top
    paint = jitter(rng, pick(rng, [(0.15, 0.3, 0.6), (0.6, 0.15, 0.1), (0.2, 0.45, 0.2), (0.45, 0.3, 0.18)]), 0.12)
    rust = value_noise(rng, (h, w), cell=2) > F32(0.65)
    rgb = _texture(rng, (h, w), paint, v, tall, grain=0.3)
    rgb = np.where(rust[..., None], np.asarray((0.45, 0.25, 0.12), F32), rgb)
    bands = (np.abs(v - F32(tall / 3)) < F32(0.03)) | (np.abs(v - F32(2 * tall / 3)) < F32(0.03))
    cylinder = F32(1) - F32(0.45) * (u / F32(radius)) ** 2  # round shading across the drum
    rgb = rgb * np.where(bands, F32(0.6), cylinder)[..., None]
    return Sprite(mask, rgb.astype(F32), IGNORE_INDEX, {"size_m": 2 * radius})


def tarp(rng, px_per_m, camouflage: float | None = None):
    """A crumpled plastic sheet lying on the ground, with folds."""
    width, height = float(rng.uniform(1.0, 2.2)), float(rng.uniform(0.2, 0.6))
    h, w, u, v = sprite_grid(width, height, px_per_m, min_px=3)
    mask = _blob(rng, u, v, width / 2, height / 2, 0.7)
    colour = jitter(rng, pick(rng, [(0.15, 0.3, 0.65), (0.85, 0.45, 0.1), (0.8, 0.8, 0.78), (0.25, 0.4, 0.25)]), 0.1)
    folds = value_noise(rng, (h, max(2, w // 3)), cell=1)[:, np.arange(w) * max(2, w // 3) // w]
    rgb = _texture(rng, (h, w), colour, v, height, grain=0.2) * (F32(0.6) + F32(0.7) * folds)[..., None]
    return Sprite(mask, np.clip(rgb, 0, 1).astype(F32), IGNORE_INDEX, {"size_m": width})


#: Test-set anomaly families: name -> draw(rng, px_per_m).
ANOMALY_FAMILIES = {"rock": rock, "boulder": boulder, "tyre": tyre, "wood": wood, "sack": sack,
                    "debris": debris, "log": log, "animal": animal, "barrel": barrel, "tarp": tarp}

# --------------------------------------------------------------------------- outlier exposure


def _oe(rng, px_per_m, width, height, shape_fn):
    h, w, u, v = sprite_grid(width, height, px_per_m, min_px=4)
    mask, parts = shape_fn(u, v)
    mask = np.broadcast_to(mask, (h, w)).copy()
    main = jitter(rng, pick(rng, OE_COLOURS), 0.08)
    second = jitter(rng, pick(rng, OE_COLOURS), 0.08)
    rgb = np.broadcast_to(main, (h, w, 3)).copy()
    if parts is not None:
        rgb = np.where(np.broadcast_to(parts, (h, w))[..., None], second, rgb)
    pattern = int(rng.integers(4))
    if pattern == 1:  # stripes
        rgb = np.where((((u + v) * F32(8 / width)) % F32(1) < F32(0.4))[..., None], second, rgb)
    elif pattern == 2:  # dots
        cu, cv = (u * F32(6 / width)) % F32(1) - F32(0.5), (v * F32(6 / width)) % F32(1) - F32(0.5)
        rgb = np.where((cu * cu + cv * cv < F32(0.08))[..., None], second, rgb)
    light = F32(0.75) + F32(0.35) * np.clip(v / F32(height), 0, 1) + F32(0.1) * np.clip(u / F32(width), -1, 1)
    return Sprite(mask, (rgb * light[..., None]).clip(0, 1).astype(F32), IGNORE_INDEX, {"size_m": width})


def _ellipse(u, v, cu, cv, a, b):
    return ((u - F32(cu)) / F32(a)) ** 2 + ((v - F32(cv)) / F32(b)) ** 2 <= F32(1)


def _box(u, v, u0, u1, v0, v1):
    return (u >= F32(u0)) & (u < F32(u1)) & (v >= F32(v0)) & (v < F32(v1))


def _star(u, v, r):
    cu, cv = u / F32(r), (v - F32(r)) / F32(r)
    return (np.abs(cu) + np.abs(cv) * F32(1.6) < F32(1)) | (np.abs(cu) * F32(1.6) + np.abs(cv) < F32(1)) | (
        (np.abs(cu + cv) + np.abs(cu - cv) * F32(2.5)) < F32(1.3)) | ((np.abs(cu - cv) + np.abs(cu + cv) * F32(2.5)) < F32(1.3))


OE_SHAPES = {
    "ball": (0.3, 0.3, lambda u, v: (_ellipse(u, v, 0, 0.15, 0.15, 0.15), None)),
    "box": (0.5, 0.45, lambda u, v: (_box(u, v, -0.25, 0.25, 0, 0.35) | ((np.abs(u) < F32(0.25) - (v - F32(0.35)))
                                     & (v >= F32(0.35)) & (v < F32(0.45))), v >= F32(0.35))),
    "cone": (0.4, 0.7, lambda u, v: ((np.abs(u) < F32(0.2) - v * F32(0.25)) & (v < F32(0.7)),
                                     np.abs(v - F32(0.35)) < F32(0.06))),
    "bottle": (0.12, 0.35, lambda u, v: (_box(u, v, -0.06, 0.06, 0, 0.24) | _box(u, v, -0.02, 0.02, 0, 0.35),
                                         _box(u, v, -0.06, 0.06, 0.08, 0.16))),
    "umbrella": (1.0, 0.9, lambda u, v: ((_ellipse(u, v, 0, 0.55, 0.5, 0.35) & (v > F32(0.55)))
                                         | _box(u, v, -0.02, 0.02, 0, 0.6), (u * F32(6)) % F32(1) < F32(0.5))),
    "chair": (0.5, 0.9, lambda u, v: (_box(u, v, -0.25, 0.25, 0.42, 0.5) | _box(u, v, 0.17, 0.25, 0, 0.9)
                                      | _box(u, v, -0.25, -0.17, 0, 0.5), None)),
    "star": (0.5, 0.5, lambda u, v: (_star(u, v, 0.25), None)),
    "cross": (0.4, 0.5, lambda u, v: (_box(u, v, -0.06, 0.06, 0, 0.5) | _box(u, v, -0.2, 0.2, 0.28, 0.4), None)),
    "kite": (0.6, 0.8, lambda u, v: (np.abs(u) * F32(1.33) + np.abs(v - F32(0.45)) * F32(1) < F32(0.4),
                                     (u > 0) == (v > F32(0.45)))),
    "teddy": (0.4, 0.5, lambda u, v: (_ellipse(u, v, 0, 0.15, 0.17, 0.15) | _ellipse(u, v, 0, 0.36, 0.11, 0.1)
                                      | _ellipse(u, v, -0.09, 0.45, 0.04, 0.04) | _ellipse(u, v, 0.09, 0.45, 0.04, 0.04),
                                      _ellipse(u, v, 0, 0.33, 0.04, 0.03))),
    "suitcase": (0.45, 0.65, lambda u, v: (_box(u, v, -0.22, 0.22, 0.03, 0.55) | (_box(u, v, -0.08, 0.08, 0.55, 0.62)
                                           & ~_box(u, v, -0.05, 0.05, 0.55, 0.6)), _box(u, v, -0.22, 0.22, 0.25, 0.3))),
    "heart": (0.5, 0.45, lambda u, v: (_ellipse(u, v, -0.11, 0.3, 0.13, 0.13) | _ellipse(u, v, 0.11, 0.3, 0.13, 0.13)
                                       | ((np.abs(u) < (v - F32(0.02)) * F32(0.95)) & (v < F32(0.32))), None)),
}


def draw_oe(rng, family: str, px_per_m: float) -> Sprite:
    width, height, shape = OE_SHAPES[family]
    return _oe(rng, px_per_m, width, height, shape)


#: Outlier-exposure family names (the ``<family>`` of the cut-out files).
OE_FAMILIES = tuple(OE_SHAPES)
