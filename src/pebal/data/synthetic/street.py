"""The static street: sky, ground (road, markings, kerbs, sidewalks, terrain), facades,
walls / fences / hedges, and the far background.

World frame: ``X`` metres to the right of the camera, ``Z`` metres ahead, heights ``v`` above
the ground. The road is straight, centred at ``X = road_centre``; facades and walls are
vertical planes ``X = const`` (see :class:`~pebal.data.synthetic.canvas.Camera`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pebal.data.synthetic import palettes as P
from pebal.data.synthetic.canvas import Camera, Canvas, SKY_DEPTH
from pebal.data.synthetic.noise import (
    F32, cell_value, hash_table, jitter, pick, sample_tile, sample_tile_nearest, value_noise)

ROAD, SIDEWALK, BUILDING, WALL, FENCE, POLE, LIGHT, SIGN, VEGETATION, TERRAIN, SKY, PERSON, CAR = (
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13)


@dataclass
class Street:
    road_centre: float
    road_half: float
    kerb: float
    sidewalk: tuple[float, float]  # left, right widths
    strip: tuple[float, float]  # terrain strip between sidewalk and facade / fence
    built: tuple[bool, bool]  # facades on the left / right
    z_far: float
    sun_side: int  # -1 sun from the left, +1 from the right
    shade: float  # brightness of surfaces facing away from the sun
    colours: dict
    tile: np.ndarray  # (64, 64) noise tile for world-space textures
    table: np.ndarray  # (64, 64) per-cell random values

    def edge(self, side: int) -> float:
        """Lateral ``X`` of the outer sidewalk edge on ``side`` (-1 left, +1 right)."""
        k = 0 if side < 0 else 1
        return self.road_centre + side * (self.road_half + self.kerb + self.sidewalk[k])

    def facade_x(self, side: int) -> float:
        k = 0 if side < 0 else 1
        return self.edge(side) + side * self.strip[k]


def sample_camera(rng: np.random.Generator, height: int, width: int) -> Camera:
    return Camera(height=height, width=width, focal=width * float(rng.uniform(0.45, 0.6)),
                  horizon=height * float(rng.uniform(0.36, 0.5)),
                  vanish_x=width * float(rng.uniform(0.42, 0.58)), cam_height=float(rng.uniform(1.3, 1.7)))


def sample_street(rng: np.random.Generator) -> Street:
    road_half = float(rng.uniform(3.2, 7.5))
    sidewalk = tuple(0.0 if rng.random() < 0.12 else float(rng.uniform(1.5, 4.5)) for _ in range(2))
    strip = tuple(0.0 if rng.random() < 0.6 else float(rng.uniform(0.5, 4.0)) for _ in range(2))
    colours = {
        "road": jitter(rng, pick(rng, P.ASPHALT), 0.12),
        "sidewalk": [jitter(rng, pick(rng, P.PAVING), 0.1) for _ in range(2)],
        "kerb": jitter(rng, pick(rng, P.KERB), 0.08),
        "terrain": jitter(rng, pick(rng, P.TERRAIN), 0.12),
        "dirt": jitter(rng, pick(rng, P.DIRT), 0.1),
        "marking": jitter(rng, pick(rng, P.MARKING), 0.05),
    }
    return Street(
        road_centre=float(rng.uniform(-0.55, 0.55)) * road_half, road_half=road_half,
        kerb=float(rng.uniform(0.15, 0.3)), sidewalk=sidewalk, strip=strip,
        built=(bool(rng.random() < 0.7), bool(rng.random() < 0.7)), z_far=float(rng.uniform(45, 140)),
        sun_side=-1 if rng.random() < 0.5 else 1, shade=float(rng.uniform(0.55, 0.85)),
        colours=colours, tile=hash_table(rng), table=hash_table(rng))


def draw_sky(canvas: Canvas, rng: np.random.Generator, overcast: bool) -> np.ndarray:
    """Vertical gradient and value-noise clouds over the whole image; returns the haze colour."""
    cam = canvas.camera
    h, w = canvas.label.shape
    rows = min(h, int(np.floor(cam.horizon + 0.5)) + 1)  # the ground covers everything below
    top = jitter(rng, pick(rng, P.SKY_OVERCAST if overcast else P.SKY_TOP), 0.08)
    low = jitter(rng, pick(rng, P.SKY_HAZE), 0.06)
    t = np.clip((np.arange(rows, dtype=F32) + F32(0.5)) / F32(max(cam.horizon, 1.0)), 0, 1)[:, None, None]
    rgb = top * (F32(1) - t) + low * t
    clouds = value_noise(rng, (rows, w), cell=max(4, w // 6), octaves=3)
    amount = float(rng.uniform(0.35, 0.75))
    alpha = np.clip((clouds - F32(1 - amount)) * F32(2.5), 0, 1)[..., None]
    cloud = jitter(rng, pick(rng, P.CLOUD), 0.08) * (F32(0.8) + F32(0.3) * clouds[..., None])
    canvas.rgb[:rows] = rgb * (F32(1) - alpha) + cloud * alpha
    canvas.label[:] = SKY
    canvas.depth[:] = SKY_DEPTH
    return low


def draw_ground(canvas: Canvas, rng: np.random.Generator, street: Street, lanes: dict) -> None:
    """Road with markings, kerbs, sidewalks (tiles) and terrain on every row below the horizon."""
    cam = canvas.camera
    h, w = canvas.label.shape
    r0 = int(np.floor(cam.horizon + 0.5))
    rows = np.arange(r0, h, dtype=F32)[:, None] + F32(0.5)
    dy = np.maximum(rows - F32(cam.horizon), F32(0.05))
    z = np.minimum(F32(cam.focal * cam.cam_height) / dy, F32(2000))
    x = (np.arange(w, dtype=F32)[None, :] + F32(0.5) - F32(cam.vanish_x)) * z / F32(cam.focal)
    xr = x - F32(street.road_centre)
    a = np.abs(xr)
    left = xr < 0
    sidewalk_w = np.where(left, F32(street.sidewalk[0]), F32(street.sidewalk[1]))
    road_edge = F32(street.road_half)
    kerb_edge = road_edge + F32(street.kerb)
    walk_edge = kerb_edge + sidewalk_w
    is_road, is_kerb = a < road_edge, (a >= road_edge) & (a < kerb_edge)
    is_walk = (a >= kerb_edge) & (a < walk_edge)
    fade = F32(1) / (F32(1) + z / F32(25))  # fine texture fades with distance (it would alias)
    fine = sample_tile_nearest(street.tile, x * F32(14), z * F32(14)) - F32(0.5)
    coarse = sample_tile(street.tile, x * F32(0.45) + F32(17), z * F32(0.45) + F32(5))
    col = street.colours
    road = col["road"] * (F32(0.88) + F32(0.25) * coarse + F32(0.4) * fade * fine)[..., None]
    road = np.where(_markings(x, xr, z, street, lanes)[..., None] & (fine > F32(-0.3))[..., None],
                    col["marking"] * (F32(0.9) + F32(0.2) * coarse[..., None]), road)
    tile_size = F32(lanes["tile"])
    tx, tz = x / tile_size, z / tile_size
    grout = ((tx - np.floor(tx)) < F32(0.07)) | ((tz - np.floor(tz)) < F32(0.07))
    per_tile = cell_value(street.table, np.floor(tx), np.floor(tz))
    walk_col = np.where(left[..., None], col["sidewalk"][0], col["sidewalk"][1])
    walk = walk_col * (F32(0.85) + F32(0.2) * per_tile - F32(0.18) * grout * fade + F32(0.25) * fade * fine)[..., None]
    kerb = col["kerb"] * (F32(0.9) + F32(0.2) * coarse + F32(0.2) * fade * fine)[..., None]
    mix = np.clip((coarse - F32(0.45)) * F32(4), 0, 1)[..., None]
    grain = sample_tile(street.tile, x * F32(3) + F32(31), z * F32(3))
    terrain = (col["terrain"] * (F32(1) - mix) + col["dirt"] * mix) * (
        F32(0.7) + F32(0.35) * grain + F32(0.5) * fade * fine)[..., None]
    rgb = np.where(is_road[..., None], road, np.where(is_kerb[..., None], kerb,
                   np.where(is_walk[..., None], walk, terrain)))
    label = np.where(is_road, ROAD, np.where(is_kerb | is_walk, SIDEWALK, TERRAIN)).astype(np.uint8)
    # Cast shadows of the facades on the side away from the sun, and dappled shade.
    side = -street.sun_side
    if street.built[0 if side < 0 else 1]:
        reach = F32(street.road_half * lanes["shadow_reach"])
        in_shadow = (xr * F32(side)) > (F32(street.road_half) - reach)
        rgb = np.where(in_shadow[..., None], rgb * F32(street.shade), rgb)
    if lanes["dapple"]:
        dapple = sample_tile(street.table, x * F32(0.6), z * F32(0.6) + F32(9)) > F32(0.72)
        rgb = np.where(dapple[..., None], rgb * F32(0.75), rgb)
    canvas.rgb[r0:] = rgb
    canvas.label[r0:] = label
    canvas.depth[r0:] = z


def _markings(x, xr, z, street: Street, lanes: dict) -> np.ndarray:
    half_line = F32(lanes["line_width"] / 2)
    dash = ((z + F32(lanes["phase"])) % F32(lanes["period"])) < F32(lanes["dash"])
    marks = np.zeros(x.shape, bool)
    if lanes["centre"]:
        marks |= (np.abs(xr) < half_line) & (dash | lanes["solid_centre"])
    for k in range(1, lanes["lanes_per_side"]):
        off = F32(k * street.road_half / lanes["lanes_per_side"])
        marks |= (np.abs(np.abs(xr) - off) < half_line) & dash
    if lanes["edge_lines"]:
        marks |= np.abs(np.abs(xr) - F32(street.road_half - 0.35)) < half_line
    if lanes["crossing"] is not None:
        z0 = F32(lanes["crossing"])
        stripes = (xr % F32(1.0)) < F32(0.5)
        marks |= (z >= z0) & (z < z0 + F32(3.0)) & stripes & (np.abs(xr) < F32(street.road_half - 0.3))
    return marks


def sample_lanes(rng: np.random.Generator, street: Street) -> dict:
    return {"line_width": float(rng.uniform(0.12, 0.2)), "phase": float(rng.uniform(0, 12)),
            "period": float(rng.uniform(6, 12)), "dash": float(rng.uniform(2, 4)),
            "centre": bool(rng.random() < 0.75), "solid_centre": bool(rng.random() < 0.2),
            "lanes_per_side": 2 if street.road_half > 5.5 and rng.random() < 0.6 else 1,
            "edge_lines": bool(rng.random() < 0.5),
            "crossing": float(rng.uniform(6, 30)) if rng.random() < 0.15 else None,
            "tile": float(rng.uniform(0.3, 0.7)), "shadow_reach": float(rng.uniform(0, 1.6)),
            "dapple": bool(rng.random() < 0.3)}


def draw_plane(canvas: Canvas, x_lat: float, z0: float, z1: float, height: float, shader) -> None:
    """A vertical rectangle on the plane ``X = x_lat`` from distance ``z0`` to ``z1``, ``height`` m tall.

    ``shader(u, v, mask)`` gets the along-street distance ``u`` (1, m), height ``v`` (n, m)
    and the covered pixels, and returns ``(mask, rgb (n, m, 3), label)``.
    """
    cam = canvas.camera
    h, w = canvas.label.shape
    xa, xb = cam.column(x_lat, z0), cam.column(x_lat, z1)
    c0, c1 = max(0, int(np.floor(min(xa, xb)))), min(w, int(np.ceil(max(xa, xb))) + 1)
    if c0 >= c1:
        return
    cols = np.arange(c0, c1, dtype=F32) + F32(0.5) - F32(cam.vanish_x)
    with np.errstate(divide="ignore"):
        zc = np.where(cols * F32(x_lat) > 0, F32(cam.focal * x_lat) / np.where(cols == 0, F32(1e-6), cols), F32(-1))
    valid = (zc >= F32(z0)) & (zc <= F32(z1))
    if not valid.any():
        return
    zs = np.where(valid, zc, F32(1))
    top = F32(cam.horizon) - F32(cam.focal) * F32(height - cam.cam_height) / zs
    bottom = F32(cam.horizon) + F32(cam.focal * cam.cam_height) / zs
    r0 = max(0, int(np.floor(top[valid].min())))
    r1 = min(h, int(np.ceil(bottom[valid].max())) + 1)
    if r0 >= r1:
        return
    yy = np.arange(r0, r1, dtype=F32)[:, None] + F32(0.5)
    mask = valid[None, :] & (yy >= top[None, :]) & (yy < bottom[None, :])
    v = F32(cam.cam_height) - (yy - F32(cam.horizon)) * zs[None, :] / F32(cam.focal)
    mask, rgb, label = shader(zs[None, :], v, mask)
    block = (slice(r0, r1), slice(c0, c1))
    canvas.rgb[block][mask] = rgb[mask]
    canvas.label[block][mask] = label if np.isscalar(label) else label[mask]
    canvas.depth[block][mask] = np.broadcast_to(zs[None, :], mask.shape)[mask]


def facade_shader(rng: np.random.Generator, street: Street, side: int, sky_colour):
    """Shader of one building: base colour with grain, floors of windows, shop front, cornice."""
    base = jitter(rng, pick(rng, P.FACADE), 0.12)
    glass = jitter(rng, pick(rng, P.GLASS), 0.1)
    floor_h, spacing = float(rng.uniform(2.8, 3.8)), float(rng.uniform(1.6, 3.6))
    win_w, win_h = spacing * float(rng.uniform(0.35, 0.65)), floor_h * float(rng.uniform(0.35, 0.6))
    phase, ground = float(rng.uniform(0, spacing)), floor_h * float(rng.uniform(1.0, 1.4))
    shop = rng.random() < 0.5
    light = F32(1.1 if side == street.sun_side else street.shade)
    table, tile = street.table, street.tile

    def shade(u, v, mask):
        grain = sample_tile(tile, u * F32(1.7), v * F32(1.7) + F32(40))
        rgb = base * (F32(0.8) + F32(0.35) * grain)[..., None]
        fu = (u + F32(phase)) / F32(spacing)
        fv = (v - F32(ground)) / F32(floor_h)
        cell = cell_value(table, np.floor(fu), np.floor(fv))
        in_win = ((fu - np.floor(fu)) < F32(win_w / spacing)) & ((fv - np.floor(fv)) > F32(0.3)) & (
            (fv - np.floor(fv)) < F32(0.3 + win_h / floor_h)) & (fv > 0)
        reflection = glass * (F32(0.6) + F32(0.8) * cell)[..., None] + sky_colour * F32(0.15)
        lit = (cell > F32(0.93))[..., None]
        reflection = np.where(lit, np.asarray(P.LIT_WINDOW, F32), reflection)
        rgb = np.where(in_win[..., None], reflection, rgb)
        if shop:
            in_shop = (v > F32(0.3)) & (v < F32(ground - 0.5)) & (((u * F32(0.3)) % F32(1)) < F32(0.7))
            rgb = np.where(in_shop[..., None], glass * F32(0.8), rgb)
        occlusion = F32(0.8) + F32(0.2) * np.minimum(v / F32(3), F32(1))  # darker near the ground
        return mask, rgb * (light * occlusion)[..., None], BUILDING

    return shade


def barrier_shader(rng: np.random.Generator, street: Street, kind: int, side: int):
    """Wall (solid, block texture), fence (bars and rails with holes) or hedge (noisy top)."""
    palette = {WALL: P.WALL, FENCE: P.FENCE, VEGETATION: P.FOLIAGE}[kind]
    base = jitter(rng, pick(rng, palette), 0.12)
    bar, gap = float(rng.uniform(0.05, 0.15)), float(rng.uniform(0.1, 0.35))
    light = F32(1.05 if side == street.sun_side else street.shade)
    tile, height = street.tile, float(rng.uniform(0.9, 2.2))

    def shade(u, v, mask):
        grain = sample_tile(tile, u * F32(4), v * F32(4) + F32(11))
        if kind == FENCE:
            period = F32(bar + gap)
            keep = ((u % period) < F32(bar)) | (np.abs(v - F32(height * 0.85)) < F32(0.06)) | (v < F32(0.12))
            mask = mask & keep
        if kind == VEGETATION:
            mask = mask & (v < F32(height) * (F32(0.8) + F32(0.3) * grain))
            rgb = base * (F32(0.55) + F32(0.9) * grain)[..., None]
        else:
            rgb = base * (F32(0.8) + F32(0.35) * grain)[..., None]
        return mask, rgb * light, kind

    return shade, height


def draw_far_background(canvas: Canvas, rng: np.random.Generator, street: Street, haze_colour) -> None:
    """A skyline of buildings and tree lines at ``street.z_far``, blended towards ``haze_colour``."""
    cam = canvas.camera
    h, w = canvas.label.shape
    bottom = min(h, int(np.ceil(cam.ground_row(street.z_far))) + 1)
    x = 0
    grain = value_noise(rng, (bottom, w), cell=3)
    while x < w:
        seg = int(rng.integers(max(2, w // 40), max(3, w // 8)))
        kind = VEGETATION if rng.random() < 0.3 else BUILDING
        if rng.random() < 0.12:  # a gap: the road and the sky continue
            x += seg
            continue
        tall = float(rng.uniform(5, 40)) if kind == BUILDING else float(rng.uniform(6, 18))
        top = int(np.floor(cam.horizon - cam.focal * (tall - cam.cam_height) / street.z_far))
        top = max(0, top)
        colour = jitter(rng, pick(rng, P.FACADE if kind == BUILDING else P.FOLIAGE), 0.1)
        haze = F32(rng.uniform(0.25, 0.6))
        block = (slice(top, bottom), slice(x, min(w, x + seg)))
        patch = grain[block]
        mask = np.ones(patch.shape, bool)
        if kind == VEGETATION:
            rows = np.arange(top, bottom, dtype=F32)[:, None]
            mask = rows >= F32(top) + patch * F32(max(2, (bottom - top) // 3))
        rgb = colour * (F32(0.75) + F32(0.5) * patch)[..., None] * (F32(1) - haze) + haze_colour * haze
        canvas.rgb[block][mask] = rgb[mask]
        canvas.label[block][mask] = kind
        canvas.depth[block][mask] = F32(street.z_far)
        x += seg
