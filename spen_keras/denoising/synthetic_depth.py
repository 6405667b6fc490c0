"""Procedural depth frames: a room of planes and boxes, as a depth camera
sees it.

Each frame is rendered by a pinhole camera (Kinect-like field of view,
about 58 x 45 degrees, at any resolution) from a random pose: a floor
seen from 0.9-1.6 m high with the camera pitched down 5-25 degrees, a back
wall 3-4 m away turned by up to 25 degrees, a side wall, and 2-4 boxes
(fronto-parallel and slanted faces) 0.8-2.8 m away; the nearest surface
wins. Depths are millimetres, rounded to whole millimetres, 0 beyond 4.5 m
(no reading). The frames differ from the 7-Scenes stairs in content
(piecewise-planar, sharp depth edges) and depth statistics: a source the
shipped presets were not trained on, for trying `spen-keras train
--data-dir` (docs/own_data_denoising.md) and for the repository's
experiments/own_data_finetuning.py.

>>> frame = render_frame(np.random.default_rng(0), (48, 64))
>>> frame.dtype, frame.shape, bool(500 < np.median(frame[frame > 0]) < 4500)
(dtype('uint16'), (48, 64), True)
"""

import os
import pathlib

import numpy as np

from spen_keras.denoising.depth_io import write_depth_png

MAX_DEPTH_MM = 4500
_FOCAL_PER_WIDTH = 0.9  # focal length / image width: ~58 degrees across


def _rays(shape, pitch):
    """Unit-depth camera rays (x right, y down, z forward) of a camera
    pitched down by `pitch` radians, in the room's frame (y down)."""
    height, width = shape
    focal = _FOCAL_PER_WIDTH * width
    v, u = np.mgrid[0:height, 0:width].astype(np.float64)
    x = (u - (width - 1) / 2) / focal
    y = (v - (height - 1) / 2) / focal
    cos, sin = np.cos(pitch), np.sin(pitch)
    # Camera ray (x, y, 1) rotated about the x axis: forward tilts down.
    return x, y * cos + sin, -y * sin + cos


def _plane_depth(rays, normal, offset):
    """Camera z-depth (metres) of the plane normal . X = offset (X in the
    room frame, camera at the origin), inf where the ray misses it."""
    x, y, z = rays
    dot = normal[0] * x + normal[1] * y + normal[2] * z
    with np.errstate(divide="ignore", invalid="ignore"):
        t = offset / dot  # ray parameter: X = t * ray
    return np.where(t > 0, t, np.inf)


def render_frame(rng, shape=(240, 320)):
    """One frame, uint16 millimetres (0: no reading), (H, W)."""
    pitch = np.radians(rng.uniform(5, 25))
    rays = _rays(shape, pitch)
    x, y, z = rays
    # The camera's z-depth of a room point at ray parameter t is t times
    # the ray's component along the optical axis.
    axis = np.array([0.0, np.sin(pitch), np.cos(pitch)])
    along = axis[1] * y + axis[2] * z
    height = rng.uniform(0.9, 1.6)
    t = np.full(shape, np.inf)
    t = np.minimum(t, _plane_depth(rays, (0.0, 1.0, 0.0), height))  # floor
    yaw = np.radians(rng.uniform(-25, 25))
    wall = (np.sin(yaw), 0.0, np.cos(yaw))
    t = np.minimum(t, _plane_depth(rays, wall, rng.uniform(3.0, 4.0)))
    side = rng.choice([-1.0, 1.0])
    t = np.minimum(t, _plane_depth(rays, (side, 0.0, 0.15 * side),
                                   rng.uniform(1.2, 2.2)))
    for _ in range(rng.integers(2, 5)):
        t = np.minimum(t, _box(rays, rng, height))
    depth_m = t * along
    mm = np.rint(depth_m * 1000.0)
    mm = np.where(np.isfinite(mm) & (mm <= MAX_DEPTH_MM) & (mm > 0), mm, 0)
    return mm.astype(np.uint16)


def _box(rays, rng, floor):
    """Ray parameter of one box standing on the floor (its front face,
    fronto-parallel or slanted, and its top), inf elsewhere."""
    x, y, z = rays
    distance = rng.uniform(0.8, 2.8)
    centre = rng.uniform(-0.8, 0.8)
    half = rng.uniform(0.15, 0.45)
    tall = rng.uniform(0.2, 0.9)
    slant = np.radians(rng.uniform(-35, 35))
    normal = (np.sin(slant), 0.0, np.cos(slant))
    offset = normal[0] * centre + normal[2] * distance
    t = _plane_depth(rays, normal, offset)
    with np.errstate(invalid="ignore"):
        px, py = t * x, t * y
        lateral = (px - centre) * np.cos(slant) - (t * z - distance) * \
            np.sin(slant)
        front = (np.abs(lateral) <= half) & (py <= floor) & \
            (py >= floor - tall)
    t_front = np.where(front, t, np.inf)
    # The top: the plane y = floor - tall, over the box's footprint.
    t_top = _plane_depth(rays, (0.0, 1.0, 0.0), floor - tall)
    with np.errstate(invalid="ignore"):
        tx, tz = t_top * x, t_top * z
        inside = (np.abs(tx - centre) <= half) & (tz >= distance) & \
            (tz <= distance + 2 * half)
    return np.minimum(t_front, np.where(inside, t_top, np.inf))


def write_scene_frames(folder, count, shape=(240, 320), seed=0):
    """Writes `count` rendered frames as 16-bit PNGs (millimetres) named
    frame-000.png, frame-001.png, ... into `folder` (created).

    Returns:
        The written paths.
    """
    folder = pathlib.Path(os.fspath(folder))
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for index in range(count):
        path = folder / f"frame-{index:03d}.png"
        write_depth_png(path, render_frame(rng, shape))
        paths.append(path)
    return paths
