"""Equirectangular geometry: the one place where the convention lives.

Convention (README, *Geometry convention*; nothing else in the workbench re-derives it):

- An equirectangular image is ``(H, W, C)`` or ``(H, W)`` with ``W == 2 * H``. Pixel indices are
  ``(row v, col u)``; integer indices name pixel *centres*, so a continuous pixel coordinate
  ``(u, v) = (3.0, 5.0)`` is the centre of column 3, row 5 and ``u = -0.5`` is the left edge.
- ``lon = (u + 0.5) / W * 2π - π`` in ``(-π, π)``, ``lat = (v + 0.5) / H * π - π/2`` in
  ``(-π/2, π/2)``; the centre column looks along +z, the top row looks up (−y).
- Camera frame: **x right, y down, z forward** (OpenCV-like). The unit ray of ``(lon, lat)`` is
  ``x = cos(lat) sin(lon)``, ``y = sin(lat)``, ``z = cos(lat) cos(lon)``.
- Depth is **range**: Euclidean distance along the ray, metres, ``float32``. ``0``, negatives and
  non-finite values are invalid.
- Rotating the camera by yaw ``Δ`` (about the camera's vertical, turning right for ``Δ > 0``)
  rolls the panorama's columns by ``-Δ · W / 2π``: what was straight ahead moves left.

All functions are pure numpy (no TensorFlow) and state the shapes they take and return.
"""

from __future__ import annotations

import functools
import math
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

from workbench.geometry.kernels import points_rows

__all__ = [
    "check_equirect",
    "valid_mask",
    "pixel_to_lonlat",
    "lonlat_to_pixel",
    "lonlat_grid",
    "lonlat_to_rays",
    "rays_to_lonlat",
    "unit_rays",
    "ray_planes",
    "map_row_bands",
    "range_to_points",
    "points_to_range",
    "yaw_matrix",
    "roll_yaw",
    "resize_rgb",
    "resize_range",
]


def check_equirect(array: np.ndarray, name: str, channels: int | None = None) -> tuple[int, int]:
    """Check that ``array`` is an equirect image and return ``(H, W)``.

    Args:
        array: the image.
        name: the argument name used in the error message.
        channels: ``None`` for a single-channel ``(H, W)`` map, else the required channel count
            of an ``(H, W, channels)`` image.

    Raises:
        ValueError: naming ``name`` and the shape it got.

    >>> check_equirect(np.zeros((4, 8)), "range_m")
    (4, 8)
    """
    shape = np.shape(array)
    want = "(H, W)" if channels is None else f"(H, W, {channels})"
    ok_rank = len(shape) == 2 if channels is None else (len(shape) == 3 and shape[2] == channels)
    if not ok_rank or shape[0] < 1 or shape[1] != 2 * shape[0]:
        raise ValueError(f"{name} must be {want} with W == 2*H, got {tuple(shape)}")
    return int(shape[0]), int(shape[1])


def valid_mask(range_m: np.ndarray) -> np.ndarray:
    """Valid-depth mask: finite and strictly positive.

    Args:
        range_m: any shape, metres.

    Returns:
        bool array of the same shape.

    >>> valid_mask(np.array([0.0, -1.0, np.nan, np.inf, 2.5])).tolist()
    [False, False, False, False, True]
    """
    r = np.asarray(range_m)
    with np.errstate(invalid="ignore"):
        return np.isfinite(r) & (r > 0)


def pixel_to_lonlat(u, v, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Continuous pixel coordinates to longitude/latitude (radians).

    Args:
        u, v: column and row coordinates (any matching shapes; integers are pixel centres).
        height, width: image size ``H, W``.

    Returns:
        ``(lon, lat)`` arrays of the broadcast shape, float64.

    >>> lon, lat = pixel_to_lonlat(np.array([3.5]), np.array([1.5]), 4, 8)  # image centre
    >>> float(lon[0]), float(lat[0])
    (0.0, 0.0)
    """
    u = np.asarray(u, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    return (u + 0.5) * (2.0 * math.pi / width) - math.pi, (v + 0.5) * (
        math.pi / height
    ) - math.pi / 2


def lonlat_to_pixel(lon, lat, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Longitude/latitude (radians) to continuous pixel coordinates; the inverse of
    :func:`pixel_to_lonlat`. Columns are wrapped into ``[-0.5, W - 0.5)``.

    Returns:
        ``(u, v)`` float64 arrays.
    """
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    u = (lon + math.pi) * (width / (2.0 * math.pi)) - 0.5
    u = np.mod(u + 0.5, width) - 0.5
    v = (lat + math.pi / 2) * (height / math.pi) - 0.5
    return u, v


@functools.lru_cache(maxsize=16)
def _lonlat_grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    lon = pixel_to_lonlat(np.arange(width), 0, height, width)[0]
    lat = pixel_to_lonlat(0, np.arange(height), height, width)[1]
    return lon, lat


def lonlat_grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Longitude of every column and latitude of every row.

    Returns:
        ``lon (W,)`` and ``lat (H,)``, float64, radians (read-only, cached).

    >>> lon, lat = lonlat_grid(2, 4)
    >>> np.round(lon / np.pi, 3).tolist(), np.round(lat / np.pi, 3).tolist()
    ([-0.75, -0.25, 0.25, 0.75], [-0.25, 0.25])
    """
    lon, lat = _lonlat_grid(int(height), int(width))
    for a in (lon, lat):
        a.setflags(write=False)
    return lon, lat


def lonlat_to_rays(lon, lat) -> np.ndarray:
    """Unit rays in the camera frame for longitude/latitude.

    Args:
        lon, lat: radians, broadcastable shapes ``S``.

    Returns:
        ``S + (3,)`` float64 unit vectors ``(x, y, z)``.

    >>> lonlat_to_rays(0.0, 0.0).tolist()  # straight ahead is +z
    [0.0, 0.0, 1.0]
    """
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    c = np.cos(lat)
    return np.stack(np.broadcast_arrays(c * np.sin(lon), np.sin(lat), c * np.cos(lon)), axis=-1)


def rays_to_lonlat(rays: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Directions (not necessarily unit) to longitude/latitude.

    Args:
        rays: ``(..., 3)`` directions in the camera frame.

    Returns:
        ``(lon, lat)`` of shape ``(...)``, radians; zero vectors give NaN.
    """
    rays = np.asarray(rays, dtype=np.float64)
    if rays.shape[-1:] != (3,):
        raise ValueError(f"rays must be (..., 3), got {rays.shape}")
    x, y, z = rays[..., 0], rays[..., 1], rays[..., 2]
    n = np.sqrt(x * x + y * y + z * z)
    with np.errstate(invalid="ignore", divide="ignore"):
        lat = np.arcsin(np.clip(y / n, -1.0, 1.0))
    lon = np.where(n > 0, np.arctan2(x, z), np.nan)
    return lon, lat


@functools.lru_cache(maxsize=16)
def _unit_rays(height: int, width: int) -> np.ndarray:
    lon, lat = _lonlat_grid(height, width)
    rays = lonlat_to_rays(lon[None, :], lat[:, None]).astype(np.float32)
    rays.setflags(write=False)
    return rays


def unit_rays(height: int, width: int) -> np.ndarray:
    """Unit ray of every pixel centre.

    Returns:
        ``(H, W, 3) float32``, camera frame, read-only (cached per size).

    >>> r = unit_rays(4, 8)
    >>> r.shape, r.dtype.name
    ((4, 8, 3), 'float32')
    """
    return _unit_rays(int(height), int(width))


@functools.lru_cache(maxsize=16)
def _ray_planes(height: int, width: int) -> np.ndarray:
    planes = np.ascontiguousarray(np.moveaxis(_unit_rays(height, width), -1, 0))
    planes.setflags(write=False)
    return planes


def ray_planes(height: int, width: int) -> np.ndarray:
    """The unit rays as three contiguous planes (fast per-component arithmetic).

    Returns:
        ``(3, H, W) float32``: ``x``, ``y``, ``z`` of every pixel's ray, read-only (cached).
    """
    return _ray_planes(int(height), int(width))


def map_row_bands(fn, height: int, workers: int = 2, min_rows: int = 64) -> None:
    """Call ``fn(r0, r1)`` on ``workers`` bands of rows covering ``[0, height)``, in threads.

    For numpy kernels that write into a preallocated output (numpy releases the GIL); bands
    smaller than ``min_rows`` are not worth a thread, so small images run inline.
    """
    n = max(1, min(int(workers), height // min_rows))
    bounds = [round(i * height / n) for i in range(n + 1)]
    if n == 1:
        fn(0, height)
        return
    with ThreadPoolExecutor(n) as pool:
        for f in [pool.submit(fn, bounds[i], bounds[i + 1]) for i in range(n)]:
            f.result()


def _check_range(range_m: np.ndarray, name: str = "range_m") -> tuple[int, int]:
    if np.ndim(range_m) == 3 and np.shape(range_m)[2] == 1:
        raise ValueError(
            f"{name} must be (H, W) with W == 2*H, got {tuple(np.shape(range_m))} "
            "(squeeze the channel axis)"
        )
    return check_equirect(range_m, name)


def range_to_points(range_m: np.ndarray, workers: int = 2) -> np.ndarray:
    """Back-project a range map to 3D points in the camera frame.

    Args:
        range_m: ``(H, W)`` float, metres; invalid (0, negative, non-finite) pixels allowed.
        workers: threads over bands of rows.

    Returns:
        ``(H, W, 3) float32`` points ``p = range * ray``; invalid pixels are ``(0, 0, 0)`` (use
        :func:`valid_mask` to select the valid ones).

    >>> p = range_to_points(np.full((2, 4), 2.0, np.float32))
    >>> p.shape, bool(np.allclose(np.linalg.norm(p, axis=-1), 2.0))
    ((2, 4, 3), True)
    """
    h, w = _check_range(range_m)
    r = np.ascontiguousarray(range_m, dtype=np.float32)
    px, py, pz = ray_planes(h, w)
    out = np.empty((h, w, 3), np.float32)
    map_row_bands(lambda a, b: points_rows(r, px, py, pz, out, a, b), h, workers)
    return out


def _range_to_points_numpy(range_m: np.ndarray) -> np.ndarray:
    """The numpy reference of :func:`range_to_points` (the compiled kernel is tested
    against it)."""
    r = np.asarray(range_m, dtype=np.float32)
    r = np.where(valid_mask(r), r, np.float32(0))
    return np.moveaxis(ray_planes(*r.shape) * r, 0, -1).astype(np.float32)


def points_to_range(
    points: np.ndarray,
    height: int,
    width: int,
    values: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Splat 3D points (camera frame) into a panorama with a z-buffer (nearest point wins).

    Args:
        points: ``(N, 3)`` points in the camera frame, metres; non-finite rows are ignored.
        height, width: output size, ``width == 2 * height``.
        values: optional ``(N, C)`` per-point values (e.g. colours) carried to the winning pixel.

    Returns:
        ``range (H, W) float32`` with 0 where no point landed, and ``(H, W, C)`` values (same dtype
        as ``values``, zeros where empty) or ``None``.

    >>> r, _ = points_to_range(np.array([[0.0, 0.0, 2.0], [0.0, 0.0, 3.0]]), 4, 8)
    >>> float(r[1, 3]), float(r[2, 4]), int((r > 0).sum())
    (0.0, 2.0, 1)
    """
    if width != 2 * height:
        raise ValueError(f"output size must have W == 2*H, got ({height}, {width})")
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise ValueError(f"points must be (N, 3), got {pts.shape}")
    if values is not None:
        values = np.asarray(values)
        if values.ndim == 1:
            values = values[:, None]
        if values.shape[0] != pts.shape[0]:
            raise ValueError(
                f"values must have {pts.shape[0]} rows like points, got {values.shape}"
            )
    rng = np.sqrt(np.einsum("ij,ij->i", pts, pts))
    keep = np.isfinite(rng) & (rng > 0)
    pts, rng = pts[keep], rng[keep]
    lon, lat = rays_to_lonlat(pts)
    u, v = lonlat_to_pixel(lon, lat, height, width)
    ui = np.mod(np.floor(u + 0.5).astype(np.int64), width)
    vi = np.clip(np.floor(v + 0.5).astype(np.int64), 0, height - 1)
    pix = vi * width + ui
    order = np.lexsort((rng, pix))  # by pixel, nearest first within a pixel
    pix_sorted = pix[order]
    first = np.ones(pix_sorted.shape, bool)
    first[1:] = pix_sorted[1:] != pix_sorted[:-1]
    win = order[first]
    out = np.zeros(height * width, np.float32)
    out[pix[win]] = rng[win]
    out_vals = None
    if values is not None:
        vals = values[keep]
        out_vals = np.zeros((height * width, vals.shape[1]), vals.dtype)
        out_vals[pix[win]] = vals[win]
        out_vals = out_vals.reshape(height, width, -1)
    return out.reshape(height, width), out_vals


def yaw_matrix(delta_rad: float) -> np.ndarray:
    """Rotation about the camera's vertical (y) axis by ``delta_rad``.

    ``R @ (0, 0, 1) = (sin Δ, 0, cos Δ)``: the new forward axis has heading ``Δ``.

    Returns:
        ``(3, 3) float64``.
    """
    c, s = math.cos(delta_rad), math.sin(delta_rad)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def roll_yaw(image: np.ndarray, delta_rad: float, interpolation: str = "auto") -> np.ndarray:
    """The panorama seen by the same camera turned by yaw ``delta_rad`` (right for ``Δ > 0``).

    Columns shift by ``-Δ · W / 2π`` (wrapping). Whole-pixel shifts are exact rolls. A fractional
    shift interpolates linearly for colour images and takes the nearest column for range maps and
    integer images (never blending valid with invalid depth). The matching pose update is
    ``T_world_from_new = T_world_from_cam @ [yaw_matrix(Δ), 0; 0, 1]``.

    Args:
        image: ``(H, W)`` or ``(H, W, C)`` equirect image, any dtype.
        delta_rad: yaw angle, radians.
        interpolation: ``"auto"`` (linear for float images with channels, nearest otherwise),
            ``"nearest"`` or ``"linear"``.

    Returns:
        An array of the same shape and dtype.

    >>> x = np.tile(np.arange(8.0), (4, 1))
    >>> roll_yaw(x, 2 * np.pi / 8)[0].tolist()
    [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 0.0]
    """
    image = np.asarray(image)
    if image.ndim not in (2, 3) or image.shape[1] != 2 * image.shape[0]:
        raise ValueError(f"image must be (H, W) or (H, W, C) with W == 2*H, got {image.shape}")
    if interpolation not in ("auto", "nearest", "linear"):
        raise ValueError(f"interpolation must be auto, nearest or linear, got {interpolation!r}")
    w = image.shape[1]
    shift = -float(delta_rad) * w / (2.0 * math.pi)
    k = round(shift)
    if abs(shift - k) < 1e-6:
        return np.roll(image, k, axis=1)
    if interpolation == "auto":
        interpolation = "linear" if image.ndim == 3 and image.dtype.kind == "f" else "nearest"
    if interpolation == "nearest":
        return np.roll(image, k, axis=1)
    lo = math.floor(shift)
    frac = shift - lo
    a = np.roll(image, lo, axis=1).astype(np.float64)
    b = np.roll(image, lo + 1, axis=1).astype(np.float64)
    out = (1.0 - frac) * a + frac * b
    if image.dtype.kind in "iu":
        out = np.clip(np.rint(out), np.iinfo(image.dtype).min, np.iinfo(image.dtype).max)
    return out.astype(image.dtype)


def _target_size(height: int, width: int | None) -> tuple[int, int]:
    width = 2 * height if width is None else width
    if height < 1 or width != 2 * height:
        raise ValueError(f"target size must have W == 2*H, got ({height}, {width})")
    return height, width


def resize_rgb(rgb: np.ndarray, height: int, width: int | None = None) -> np.ndarray:
    """Resize a colour panorama keeping 2:1 (area filter when shrinking, linear when growing).

    Args:
        rgb: ``(H, W, C)`` image, ``W == 2*H``.
        height, width: target size (``width`` defaults to ``2 * height``).

    Returns:
        ``(height, width, C)`` of the same dtype.
    """

    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[1] != 2 * rgb.shape[0] or rgb.size == 0:
        raise ValueError(f"rgb must be (H, W, C) with W == 2*H > 0, got {rgb.shape}")
    height, width = _target_size(height, width)
    if rgb.shape[:2] == (height, width):
        return rgb.copy()
    interp = cv2.INTER_AREA if height < rgb.shape[0] else cv2.INTER_LINEAR
    out = cv2.resize(rgb, (width, height), interpolation=interp)
    return out.reshape(height, width, rgb.shape[2])


def resize_range(
    range_m: np.ndarray, height: int, width: int | None = None, mode: str = "nearest"
) -> np.ndarray:
    """Resize a range map keeping 2:1 without blending valid with invalid depth.

    Args:
        range_m: ``(H, W)`` float, metres; invalid pixels (0, <0, non-finite) allowed.
        height, width: target size (``width`` defaults to ``2 * height``).
        mode: ``"nearest"`` picks the source pixel under each target pixel centre (exact, keeps
            depth edges sharp); ``"masked_mean"`` averages only the valid source pixels under each
            target pixel (for downsampling; a target pixel is invalid when fewer than half of
            its source pixels are valid).

    Returns:
        ``(height, width) float32``, invalid pixels as 0.

    >>> r = np.array([[1, 0, 2, 2], [1, 1, 2, 2]], np.float32)
    >>> resize_range(r, 1, mode="masked_mean").tolist()
    [[1.0, 2.0]]
    """
    h, w = _check_range(range_m)
    height, width = _target_size(height, width)
    r = np.asarray(range_m, dtype=np.float32)
    valid = valid_mask(r)
    r = np.where(valid, r, np.float32(0))
    if mode == "nearest":
        rows = np.minimum(((np.arange(height) + 0.5) * (h / height)).astype(np.int64), h - 1)
        cols = np.minimum(((np.arange(width) + 0.5) * (w / width)).astype(np.int64), w - 1)
        return r[rows[:, None], cols[None, :]]
    if mode == "masked_mean":
        if height > h:
            raise ValueError(f"masked_mean only shrinks, got {h} -> {height} rows")
        s = cv2.resize(r, (width, height), interpolation=cv2.INTER_AREA)
        c = cv2.resize(valid.astype(np.float32), (width, height), interpolation=cv2.INTER_AREA)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(c >= 0.5 - 1e-6, s / c, 0.0)
        return out.astype(np.float32)
    raise ValueError(f"mode must be 'nearest' or 'masked_mean', got {mode!r}")
