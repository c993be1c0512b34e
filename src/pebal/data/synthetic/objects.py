"""Inlier objects (cars, persons, poles, traffic signs and lights, trees) and where they stand.

Each ``make_*`` returns a :class:`~pebal.data.synthetic.canvas.Sprite` for an object seen at
``px_per_m`` pixels per metre (``focal / Z``); shapes are written in metres (``u`` across,
``v`` up) so the same code draws a distant and a near object. Thin parts (poles, legs) are
at least two pixels wide so the classes stay learnable at 128x256.
"""

from __future__ import annotations

import numpy as np

from pebal.data.synthetic import palettes as P
from pebal.data.synthetic.canvas import Camera, Sprite, sprite_grid
from pebal.data.synthetic.noise import F32, inverse_uniform, jitter, pick, value_noise
from pebal.data.synthetic.street import CAR, LIGHT, PERSON, POLE, SIGN, VEGETATION, Street


def _grain(rng, shape, amount: float) -> np.ndarray:
    return F32(1 - amount / 2) + F32(amount) * value_noise(rng, shape, cell=2)


def make_car(rng: np.random.Generator, px_per_m: float, front: bool) -> Sprite:
    width = float(rng.uniform(1.65, 1.95))
    height = float(rng.uniform(1.8, 2.2)) if rng.random() < 0.2 else float(rng.uniform(1.35, 1.6))
    h, w, u, v = sprite_grid(width, height, px_per_m, min_px=3)
    au = np.abs(u)
    half = F32(width / 2)
    waist = F32(height * float(rng.uniform(0.5, 0.62)))
    t = np.clip((v - waist) / F32(height - float(waist)), 0, 1)
    lower = (v >= F32(0.14)) & (v < waist) & (au < half)
    cabin = (v >= waist) & (v < F32(height)) & (au < half * (F32(0.9) - F32(0.2) * t))
    wheels = (v < F32(0.42)) & (au > half - F32(0.4)) & (au < half - F32(0.05))
    mask = lower | cabin | wheels
    paint = jitter(rng, pick(rng, P.CAR), 0.08)
    rgb = np.broadcast_to(paint, (h, w, 3)) * (F32(0.75) + F32(0.3) * v / F32(height))[..., None]
    rgb = rgb * _grain(rng, (h, w), 0.15)[..., None]
    window = cabin & (v > waist + F32(0.08)) & (v < F32(height - 0.07)) & (au < half * (F32(0.8) - F32(0.2) * t))
    rgb = np.where(window[..., None], jitter(rng, pick(rng, P.GLASS), 0.1) * (F32(0.8) + F32(0.5) * t)[..., None], rgb)
    lamps = (v > waist - F32(0.26)) & (v < waist - F32(0.08)) & (au > half - F32(0.32)) & (au < half - F32(0.04))
    lamp_colour = np.asarray((0.95, 0.92, 0.8) if front else (0.75, 0.08, 0.06), F32)
    rgb = np.where(lamps[..., None], lamp_colour, rgb)
    plate = (au < F32(0.24)) & (v > F32(0.3)) & (v < F32(0.43))
    rgb = np.where(plate[..., None], np.asarray(P.SIGN_WHITE, F32), rgb)
    bumper = lower & (v < F32(0.28))
    rgb = np.where(bumper[..., None], rgb * F32(0.55), rgb)
    rgb = np.where((wheels & ~lower)[..., None] | (wheels & (v < F32(0.14)))[..., None], F32(0.07), rgb)
    return Sprite(mask, rgb.astype(F32), CAR, {"width": width})


def make_person(rng: np.random.Generator, px_per_m: float) -> Sprite:
    tall = float(rng.uniform(1.0, 1.3)) if rng.random() < 0.12 else float(rng.uniform(1.55, 1.95))
    h, w, u, v = sprite_grid(0.62, tall, px_per_m, min_px=3)
    pix = F32(1.0 / px_per_m)  # one pixel in metres: thin limbs stay >= 2 px wide
    hip = F32(tall * 0.5)
    head_r = F32(max(0.1, 1.2 * float(pix)))
    head = (u / head_r) ** 2 + ((v - F32(tall) + head_r * F32(1.1)) / (head_r * F32(1.2))) ** 2 <= F32(1)
    shoulder = F32(tall) - head_r * F32(2.2)
    torso_half = np.maximum(F32(0.17) - F32(0.04) * (shoulder - v) / (shoulder - hip), pix)
    torso = (v >= hip - F32(0.05)) & (v < shoulder) & (np.abs(u) < torso_half)
    stance = F32(rng.uniform(0.02, 0.14))
    leg_half = np.maximum(F32(0.07), pix)
    legs = (v < hip) & ((np.abs(u - stance - F32(0.03)) < leg_half) | (np.abs(u + stance + F32(0.03)) < leg_half))
    arms = (v > hip) & (v < shoulder - F32(0.05)) & (np.abs(u) >= torso_half) & (np.abs(u) < torso_half + np.maximum(F32(0.07), pix))
    arms &= rng.random() < 0.7
    mask = head | torso | legs | arms
    shirt = jitter(rng, pick(rng, P.CLOTHES), 0.1)
    rgb = np.where(head[..., None], jitter(rng, pick(rng, P.SKIN), 0.05),
                   np.where(legs[..., None] & ~torso[..., None], jitter(rng, pick(rng, P.TROUSERS), 0.1), shirt))
    rgb = rgb * _grain(rng, (h, w), 0.25)[..., None] * (F32(0.8) + F32(0.25) * v / F32(tall))[..., None]
    return Sprite(mask, rgb.astype(F32), PERSON)


def make_pole(rng: np.random.Generator, px_per_m: float, kind: str) -> Sprite:
    """``kind``: "lamp" (street lamp), "sign" (pole + plate) or "light" (pole + traffic light)."""
    tall = {"lamp": float(rng.uniform(5, 8)), "sign": float(rng.uniform(2.3, 3.2)),
            "light": float(rng.uniform(3.2, 4.5))}[kind]
    width = 1.6 if kind == "lamp" else 0.9
    h, w, u, v = sprite_grid(width, tall, px_per_m, min_px=3)
    pix = F32(1.0 / px_per_m)
    half = np.maximum(F32(rng.uniform(0.06, 0.12)), pix)
    mask = np.abs(u) < half
    mask = np.broadcast_to(mask, (h, w)).copy()
    label = np.full((h, w), POLE, np.uint8)
    metal = jitter(rng, pick(rng, P.METAL), 0.1)
    rgb = np.broadcast_to(metal, (h, w, 3)).copy()
    rgb *= (F32(0.8) + F32(0.3) * (u > 0))[..., None]  # lit and shaded side of the cylinder
    if kind == "lamp":
        arm = (v > F32(tall - 0.25)) & (v < F32(tall)) & (u > 0) & (u < F32(0.75))
        mask |= arm
        rgb = np.where(arm[..., None], metal, rgb)
    elif kind == "sign":
        plate = _sign_plate(rng, u, v, tall)
        mask |= plate[0]
        label[plate[0]] = SIGN
        rgb = np.where(plate[0][..., None], plate[1], rgb)
    else:
        box = (np.abs(u) < F32(0.18)) & (v > F32(tall - 0.95)) & (v < F32(tall))
        mask |= box
        label[box] = LIGHT
        rgb = np.where(box[..., None], F32(0.1), rgb)
        on = int(rng.integers(3))
        for k, colour in enumerate([(0.9, 0.1, 0.1), (0.9, 0.7, 0.1), (0.1, 0.8, 0.3)]):
            centre = F32(tall - 0.17 - 0.3 * k)
            lamp = (u / F32(0.1)) ** 2 + ((v - centre) / F32(0.1)) ** 2 <= F32(1)
            rgb = np.where((lamp & box)[..., None], np.asarray(colour, F32) * F32(1.0 if k == on else 0.3), rgb)
    return Sprite(mask, rgb.astype(F32), label)


def _sign_plate(rng, u, v, tall):
    size = F32(rng.uniform(0.32, 0.45))
    cv = F32(tall) - size
    du, dv = u / size, (v - cv) / size
    shape = int(rng.integers(4))
    if shape == 0:  # round: red ring, white centre
        r2 = du * du + dv * dv
        plate = r2 <= F32(1)
        colour = np.where((r2 > F32(0.5))[..., None], np.asarray(P.SIGN_RED, F32), np.asarray(P.SIGN_WHITE, F32))
    elif shape == 1:  # blue disc
        plate = du * du + dv * dv <= F32(1)
        colour = np.broadcast_to(np.asarray(P.SIGN_BLUE, F32), plate.shape + (3,))
    elif shape == 2:  # triangle pointing up, red border
        plate = (dv > F32(-0.8)) & (np.abs(du) * F32(1.7) < F32(1) - dv)
        inner = (dv > F32(-0.5)) & (np.abs(du) * F32(1.7) < F32(0.6) - dv)
        colour = np.where(inner[..., None], np.asarray(P.SIGN_WHITE, F32), np.asarray(P.SIGN_RED, F32))
    else:  # yellow diamond
        plate = np.abs(du) + np.abs(dv) <= F32(1)
        colour = np.broadcast_to(np.asarray(P.SIGN_YELLOW, F32), plate.shape + (3,))
    return plate, colour


def make_tree(rng: np.random.Generator, px_per_m: float) -> Sprite:
    tall = float(rng.uniform(4, 10))
    crown = float(rng.uniform(1.2, 3.2))
    h, w, u, v = sprite_grid(2 * crown, tall, px_per_m, min_px=3)
    pix = F32(1.0 / px_per_m)
    trunk = (np.abs(u) < np.maximum(F32(rng.uniform(0.1, 0.22)), pix)) & (v < F32(tall * 0.6))
    centre, ry = F32(tall - tall * 0.3), F32(tall * 0.3)
    noise = value_noise(rng, (h, w), cell=max(2, w // 5), octaves=2)
    r2 = (u / F32(crown)) ** 2 + ((v - centre) / ry) ** 2
    canopy = r2 < F32(0.75) + F32(0.6) * noise
    mask = trunk | canopy
    leaf = jitter(rng, pick(rng, P.FOLIAGE), 0.15)
    fine = rng.random((h, w), dtype=F32)
    rgb = np.where(canopy[..., None], leaf * (F32(0.45) + F32(0.6) * noise + F32(0.35) * fine)[..., None],
                   jitter(rng, pick(rng, P.BARK), 0.1))
    return Sprite(mask, rgb.astype(F32), VEGETATION)


def populate(rng: np.random.Generator, cam: Camera, street: Street) -> list[tuple[float, float, str]]:
    """Positions ``(Z, X, kind)`` of the inlier objects of one street (not yet drawn)."""
    items: list[tuple[float, float, str]] = []
    z_min = max(2.5, cam.min_visible_z())
    z_far = street.z_far
    for side in (-1, 1):
        k = 0 if side < 0 else 1
        on_walk = street.road_centre + side * (street.road_half + street.kerb + 0.35)
        if rng.random() < 0.75:  # a row of street lamps
            z = float(rng.uniform(z_min, z_min + 15))
            spacing = float(rng.uniform(12, 28))
            while z < z_far * 0.8:
                items.append((z, on_walk, "lamp"))
                z += spacing
        for _ in range(int(rng.integers(0, 3))):
            kind = "light" if rng.random() < 0.35 else "sign"
            items.append((inverse_uniform(rng, z_min + 1, 45), on_walk + side * float(rng.uniform(0, 0.3)), kind))
        open_side = not street.built[k] or street.strip[k] > 1.5
        if open_side and rng.random() < 0.75:
            x_tree = street.edge(side) + side * float(rng.uniform(0.5, max(0.6, street.strip[k]) + 1.5))
            z = float(rng.uniform(z_min, z_min + 10))
            spacing = float(rng.uniform(6, 16))
            while z < z_far * 0.9:
                items.append((z, x_tree + float(rng.uniform(-0.4, 0.4)), "tree"))
                z += spacing * float(rng.uniform(0.7, 1.3))
        for _ in range(int(rng.integers(0, 5))):
            width = street.sidewalk[k]
            x = street.road_centre + side * (street.road_half + street.kerb + float(rng.uniform(0.3, max(0.4, width - 0.3))))
            items.append((inverse_uniform(rng, z_min + 0.5, 40), x, "person"))
    if rng.random() < 0.25:  # somebody crossing the road
        items.append((inverse_uniform(rng, z_min + 1, 30),
                       street.road_centre + float(rng.uniform(-1, 1)) * street.road_half, "person"))
    lanes = [0.5, -0.5] if street.road_half < 5.5 else [0.25, 0.75, -0.25, -0.75]
    for _ in range(int(rng.integers(0, 6))):
        lane = lanes[int(rng.integers(len(lanes)))]
        x = street.road_centre + lane * street.road_half
        items.append((inverse_uniform(rng, max(z_min, 5.0), 70), x, "car-front" if lane < 0 else "car"))
    for side in (-1, 1):
        if rng.random() < 0.3:  # parked cars along the kerb
            z = float(rng.uniform(z_min + 2, 20))
            for _ in range(int(rng.integers(1, 4))):
                items.append((z, street.road_centre + side * (street.road_half - 1.1), "car"))
                z += float(rng.uniform(5.5, 12))
    return items


def make_object(rng: np.random.Generator, kind: str, px_per_m: float) -> Sprite:
    if kind in ("car", "car-front"):
        return make_car(rng, px_per_m, front=kind == "car-front")
    if kind == "person":
        return make_person(rng, px_per_m)
    if kind == "tree":
        return make_tree(rng, px_per_m)
    return make_pole(rng, px_per_m, kind)
